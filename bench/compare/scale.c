/*
 * scale — head memory per active series: appends `--points` points to each
 * of `--series` series through tss_store_append (time-major, as collectd
 * delivers them, one thread), then reports the process' RSS growth per
 * series, the head's own count (tss_writer_stats.head_bytes), and what the
 * points take compressed (the segment bytes after sealing everything).
 *
 *   scale [--series N] [--points P] [--interval SEC] [--seed S]
 *         [--no-seal] [--snapshot] DIR
 *
 * DIR must not exist or be empty; the store is left there. The series have
 * the shapes of shapes.h and identifiers like loadgen's. Prints one JSON
 * line (--snapshot: persist the head after every round, as write_tsstore
 * does every SnapshotInterval, before RSS is read; --no-seal: no segment,
 * segment bytes 0; for heap profilers, whose peak is then the head). The
 * generator's own state (lg_series, 56 bytes per series) is allocated and
 * touched before the baseline RSS is read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shapes.h"
#include "tsstore/error.h"
#include "tsstore/series.h"
#include "tsstore/store.h"

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;

    if (!f || fscanf(f, "%lu %lu", &size, &res) != 2) {
        fprintf(stderr, "scale: cannot read /proc/self/statm\n");
        exit(1);
    }
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    uint64_t n = 0;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        struct stat st;

        if (e->d_name[0] == '.')
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
            n += (uint64_t)st.st_size;
    }
    closedir(d);
    return n;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    uint64_t nseries = 100000, npoints = 6, seed = 20240601;
    int64_t interval_ms = 10000;
    const char *dir = NULL;
    tss_store_options o;
    tss_store *s;
    tss_writer_stats ws;
    tss_seal_result res;
    lg_series *series;
    uint64_t rss0, rss1, seg;
    int64_t t0;
    double t_start, t_append;
    char segdir[4096];
    int seal = 1, snap = 0;

    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--series"))
            nseries = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--points"))
            npoints = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--interval"))
            interval_ms = (int64_t)(strtod(argv[++i], NULL) * 1000 + 0.5);
        else if (i + 1 < argc && !strcmp(argv[i], "--seed"))
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-seal"))
            seal = 0;
        else if (!strcmp(argv[i], "--snapshot"))
            snap = 1;
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: scale [--series N] [--points P] "
                            "[--interval SEC] [--seed S] [--no-seal] "
                            "[--snapshot] DIR\n");
            return 2;
        }
    }
    if (!dir || nseries == 0 || interval_ms <= 0)
        return 2;
    series = calloc(nseries, sizeof(*series));
    if (!series)
        return 1;
    rng = seed;
    for (uint64_t i = 0; i < nseries; i++)
        series_init(&series[i], i);

    tss_store_options_init(&o);
    o.grace_seconds = 300;
    if (tss_store_open(&s, dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o) != 0) {
        fprintf(stderr, "scale: open %s: %s\n", dir, tss_error_last());
        return 1;
    }
    /* all points inside one 2 h window, ending a little before now */
    t0 = tss_store_now(s) - (int64_t)npoints * interval_ms - 60000;
    t0 -= t0 % 7200000;
    rss0 = rss_bytes();
    t_start = now_s();
    for (uint64_t k = 0; k < npoints; k++) {
        for (uint64_t i = 0; i < nseries; i++) {
            lg_series *g = &series[i];
            char host[32], inst[32];
            tss_series_id id;
            tss_value v;
            lg_value x = next_value(g, k, (double)interval_ms / 1000.0, -1);
            int kind;

            snprintf(host, sizeof(host), "lg%05" PRIu64, i / 100);
            snprintf(inst, sizeof(inst), "%" PRIu64, i);
            id.host = host;
            id.plugin = "loadgen";
            id.plugin_instance = SHAPES[g->shape].name;
            id.type = SHAPES[g->shape].type;
            id.type_instance = inst;
            id.ds = "value";
            if (x.kind == SHAPE_GAUGE) {
                kind = TSS_KIND_GAUGE;
                v.gauge = x.g;
            } else if (x.kind == SHAPE_DERIVE) {
                kind = TSS_KIND_DERIVE;
                v.derive = x.d;
            } else {
                kind = TSS_KIND_COUNTER;
                v.counter = x.c;
            }
            if (tss_store_append(s, &id, kind, t0 + (int64_t)k * interval_ms,
                                 v) != 0) {
                fprintf(stderr, "scale: append: %s\n", tss_error_last());
                return 1;
            }
        }
        if (snap && tss_store_snapshot(s, tss_store_now(s), 0) != 0) {
            fprintf(stderr, "scale: snapshot: %s\n", tss_error_last());
            return 1;
        }
    }
    t_append = now_s() - t_start;
    rss1 = rss_bytes();
    tss_store_writer_stats(s, &ws);
    if (seal && tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &res) != 0) {
        fprintf(stderr, "scale: seal: %s\n", tss_error_last());
        return 1;
    }
    snprintf(segdir, sizeof(segdir), "%s/segments", dir);
    seg = dir_bytes(segdir);
    printf("{\"series\": %" PRIu64 ", \"points_per_series\": %" PRIu64
           ", \"rss_growth\": %" PRIu64 ", \"rss_per_series\": %.1f"
           ", \"head_bytes\": %" PRIu64 ", \"head_bytes_per_series\": %.1f"
           ", \"segment_bytes\": %" PRIu64
           ", \"segment_bytes_per_series\": %.1f"
           ", \"append_ns_per_point\": %.1f}\n",
           nseries, npoints, rss1 - rss0, (double)(rss1 - rss0) / nseries,
           ws.head_bytes, (double)ws.head_bytes / nseries, seg,
           (double)seg / nseries, t_append * 1e9 / (double)(nseries * npoints));
    tss_store_close(s);
    free(series);
    return 0;
}
