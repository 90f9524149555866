/*
 * bench_core's output: the machine, then per data set a table (or JSON).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef TSS_BENCH_CONFIG
#define TSS_BENCH_CONFIG "unknown"
#endif
#ifdef __OPTIMIZE__
#define OPTIMIZED ""
#else
#define OPTIMIZED " (NOT OPTIMIZED)"
#endif

typedef struct machine {
    char cpu[256], date[64];
    long cores;
    double mem_gib;
    struct utsname u;
} machine;

static void machine_get(machine *m)
{
    char line[512];
    FILE *f;
    time_t now = time(NULL);

    memset(m, 0, sizeof(*m));
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(m->cpu, sizeof(m->cpu), "unknown");
    if ((f = fopen("/proc/meminfo", "r")) != NULL) {
        unsigned long long kb;

        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                m->mem_gib = (double)kb / (1024.0 * 1024.0);
        fclose(f);
    }
    if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
        while (fgets(line, sizeof(line), f)) {
            char *c = strchr(line, ':');

            if (!strncmp(line, "model name", 10) && c) {
                snprintf(m->cpu, sizeof(m->cpu), "%s", c + 2);
                m->cpu[strcspn(m->cpu, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    strftime(m->date, sizeof(m->date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    uname(&m->u);
}

static void row(const char *label, const double *v, int n, const char *aim)
{
    printf("%-30s %9.1f %9.1f..%-9.1f %7s\n", label, bench_median(v, n),
           bench_min(v, n), bench_max(v, n), aim);
}

static double pct(uint64_t a, uint64_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void print_breakdown(const result *r, const opts *o)
{
    const split *sp = &r->sp;
    uint64_t nts = 0;
    double app = bench_median(r->append1, o->runs);
    double key = bench_median(r->key, o->runs);
    double head = bench_median(r->head, o->runs);
    double enc = bench_median(r->enc, o->runs);

    printf("  append path, 1 thread (ns/pt, each part timed alone over the "
           "same plan):\n"
           "    key encode + hash %.1f, head lookup + lock %.1f, encoder "
           "%.1f,\n    rest (store checks, clocks, counters, and the "
           "parts' cache misses on each other) %.1f\n",
           key, head - enc, enc, app - key - head);
    for (int c = 0; c < 6; c++)
        nts += r->ts_class[c];
    printf("  timestamp delta-of-delta classes (bits): 0 (1) %.1f%%, "
           "|dod|<=8 (6) %.1f%%,\n    <=128 (11) %.1f%%, <=8192 (18) "
           "%.1f%%, larger (29, 69) %.1f%%\n",
           pct(r->ts_class[0], nts), pct(r->ts_class[1], nts),
           pct(r->ts_class[2], nts), pct(r->ts_class[3], nts),
           pct(r->ts_class[4] + r->ts_class[5], nts));
    printf("  timestamp bits/pt by encoding (whole series as one chunk):\n");
    for (int i = 0; i < NSCHEMES; i++)
        printf("    %-52s %6.2f\n", bench_scheme_names[i], r->ts_scheme[i]);
    printf("  %-19s %-7s %6s %8s %6s %6s %6s %6s %6s  %s\n", "group", "kind",
           "series", "points", "B/pt", "hdr b", "ts b", "val b", "share",
           "xor/delta/dod (scaled)");
    for (size_t g = 0; g < r->ng; g++) {
        const group *x = &r->g[g];
        double p = (double)x->points;
        uint64_t bytes = x->hdr + x->ts_bytes + x->val_bytes;

        printf("  %-19.19s %-7s %6" PRIu64 " %8" PRIu64
               " %6.3f %6.2f %6.2f %6.2f %5.1f%%  %" PRIu64 "/%" PRIu64
               "/%" PRIu64 " (%" PRIu64 ")\n",
               x->name, tss_kind_name(x->kind), x->series, x->points,
               (double)bytes / p, 8.0 * (double)x->hdr / p,
               (double)x->ts_bits / p, 8.0 * (double)x->val_bytes / p,
               pct(bytes, sp->chunk_bytes), x->modes[0], x->modes[1],
               x->modes[2], x->scaled);
    }
}

void bench_print_text(const result *rs, size_t nr, const opts *o)
{
    machine m;

    machine_get(&m);
    printf("tsstore core benchmark, %s\n", m.date);
    printf("machine: %ld cores (%s), %.1f GiB memory, %s %s; build %s%s\n",
           m.cores, m.cpu, m.mem_gib, m.u.sysname, m.u.release,
           TSS_BENCH_CONFIG, OPTIMIZED);
    printf("figures: median of %d runs (min..max); ns/pt = wall-clock time "
           "of the whole set / points\n",
           o->runs);
    for (size_t i = 0; i < nr; i++) {
        const result *r = &rs[i];
        const bench_dataset *d = r->d;
        const split *sp = &r->sp;
        double pts = (double)d->points;
        uint64_t other = sp->file_bytes - sp->chunk_bytes;

        printf("\n== %s: %zu series, %" PRIu64 " points", d->name, d->n,
               d->points);
        if (d->files)
            printf(", %zu csv files", d->files);
        printf(", %" PRIu64 " segments\n", r->segments);
        printf("%-30s %9s %20s %7s\n", "figure", "median", "min..max", "aim");
        row("append, 1 thread   ns/pt", r->append1, o->runs, "<= 100");
        if (o->threads > 1) {
            char label[64];

            snprintf(label, sizeof(label), "append, %d threads  ns/pt",
                     o->threads);
            row(label, r->appendn, o->runs, "");
        }
        row("seal (encode+write) ns/pt", r->seal, o->runs, "");
        row("query decode       ns/pt", r->query, o->runs, "<= 20");
        row("codec decode       ns/pt", r->codec, o->runs, "<= 20");
        printf("%-30s %9.3f %20s %7s\n", "bytes/point on disk",
               (double)sp->file_bytes / pts, "", "<= 2");
        printf("  chunks %.3f B/pt: chunk headers %.3f, timestamps %.3f, "
               "values %.3f\n",
               (double)sp->chunk_bytes / pts, (double)sp->chunk_hdr / pts,
               (double)sp->ts_bytes / pts, (double)sp->val_bytes / pts);
        printf("  segment headers + tables %.3f B/pt (%" PRIu64
               " B, %.1f B per table entry); head memory %.2f B/pt\n",
               (double)other / pts, other,
               (double)(other - TSS_SEG_HEADER * sp->files) /
                   (double)sp->chunks,
               (double)r->head_bytes / pts);
        printf("  whole store directory %.3f B/pt: segments + %" PRIu64
               " B of other files (coverage sidecars, metadata, head)\n",
               (double)sp->store_bytes / pts, sp->store_bytes - sp->file_bytes);
        if (o->breakdown)
            print_breakdown(r, o);
    }
}

static void json_fig(const char *key, const double *v, int n)
{
    printf("      \"%s\": {\"median\": %.2f, \"min\": %.2f, \"max\": %.2f, "
           "\"runs\": [",
           key, bench_median(v, n), bench_min(v, n), bench_max(v, n));
    for (int i = 0; i < n; i++)
        printf("%s%.2f", i ? ", " : "", v[i]);
    printf("]},\n");
}

void bench_print_json(const result *rs, size_t nr, const opts *o)
{
    machine m;

    machine_get(&m);
    printf("{\n  \"date\": \"%s\",\n  \"machine\": {\"cores\": %ld, "
           "\"cpu\": \"%s\", \"memory_gib\": %.1f, \"kernel\": \"%s\"},\n"
           "  \"build\": \"%s%s\",\n  \"runs\": %d,\n  \"threads\": %d,\n"
           "  \"datasets\": [\n",
           m.date, m.cores, m.cpu, m.mem_gib, m.u.release, TSS_BENCH_CONFIG,
           OPTIMIZED, o->runs, o->threads);
    for (size_t i = 0; i < nr; i++) {
        const result *r = &rs[i];
        const split *sp = &r->sp;
        double pts = (double)r->d->points;

        printf("    {\n      \"name\": \"%s\", \"series\": %zu, \"points\": "
               "%" PRIu64 ", \"segments\": %" PRIu64 ",\n",
               r->d->name, r->d->n, r->d->points, r->segments);
        json_fig("append_1thread_ns_per_point", r->append1, o->runs);
        if (o->threads > 1)
            json_fig("append_nthreads_ns_per_point", r->appendn, o->runs);
        json_fig("seal_ns_per_point", r->seal, o->runs);
        json_fig("query_decode_ns_per_point", r->query, o->runs);
        json_fig("codec_decode_ns_per_point", r->codec, o->runs);
        if (o->breakdown) {
            json_fig("key_encode_hash_ns_per_point", r->key, o->runs);
            json_fig("head_append_ns_per_point", r->head, o->runs);
            json_fig("encoder_append_ns_per_point", r->enc, o->runs);
        }
        printf("      \"bytes\": {\"files\": %" PRIu64 ", \"chunks\": %" PRIu64
               ", \"chunk_headers\": %" PRIu64 ", \"timestamps\": %" PRIu64
               ", \"values\": %" PRIu64 ", \"store_dir\": %" PRIu64
               ", \"per_point\": %.4f, \"chunks_per_point\": %.4f, "
               "\"store_dir_per_point\": %.4f}\n    }%s\n",
               sp->file_bytes, sp->chunk_bytes, sp->chunk_hdr, sp->ts_bytes,
               sp->val_bytes, sp->store_bytes, (double)sp->file_bytes / pts,
               (double)sp->chunk_bytes / pts, (double)sp->store_bytes / pts,
               i + 1 < nr ? "," : "");
    }
    printf("  ]\n}\n");
}
