/*
 * bench_store delete -- the WAL-based delete path: delete + compaction of
 * one series, and reading a store that carries tombstones.
 *
 * The store (--series, --days, --interval): bench_synthetic's series, its
 * 2 h of points replayed into every window at --interval (default 60 s:
 * 10,000 series x 7 days at 10 s would be 605 M points), appended
 * time-major and sealed window by window; compact_after_segments = 0, so
 * tombstones stay until tss_store_compact.
 *
 * Measured, each run on another series:
 *   1. the full dump (tss_query over everything) of the clean store;
 *   2. deleting all of one series: tss_delete_create,
 *      tss_store_apply_mutations (tombstones, "visible"), tss_store_compact
 *      (bytes rewritten, and what the kernel counted), and the apply that
 *      completes the document;
 *   3. the same for one hour of one series (one window);
 *   4. 1,000 deletes (--tombstones) of one hour each of 1,000 other series,
 *      made visible, not compacted: the full dump with them against the
 *      dump without; then their compaction.
 * Checked: after every step the whole store is read back and compared bit
 * for bit with what was appended minus what was deleted.
 */
#define _GNU_SOURCE
#include "bench_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsstore/mutation.h"

typedef struct del_opts {
    bs_common c;
    size_t series, tombs;
    int days, interval, tomb_runs;
} del_opts;

/* What is deleted: per series, inclusive ranges. */
typedef struct deleted {
    size_t n;
    struct drange {
        int64_t from, to;
    } * r[2]; /* at most: one hour, or everything */
    uint8_t *count;
} deleted;

static int keep_undeleted(void *ctx, size_t i, int64_t t)
{
    const deleted *del = ctx;

    for (int k = 0; k < del->count[i]; k++)
        if (t >= del->r[k][i].from && t <= del->r[k][i].to)
            return 0;
    return 1;
}

static void mark(deleted *del, size_t i, int64_t from, int64_t to)
{
    int k = del->count[i]++;

    if (k >= 2)
        bs_die("series %zu deleted more than twice", i);
    del->r[k][i] = (struct drange){from, to};
}

/* Points of series i that [from, to] deletes now. */
static uint64_t in_range(const bs_layout *l, size_t nwin, const deleted *del,
                         size_t i, int64_t from, int64_t to)
{
    uint64_t c = 0;

    for (size_t k = 0; k < nwin; k++)
        for (size_t j = 0; j < l->d->s[i].n; j++) {
            int64_t t = bs_time(l, i, j, k);

            c += t >= from && t <= to && keep_undeleted((void *)del, i, t);
        }
    return c;
}

static tss_store *open_writer(const char *dir, int create)
{
    tss_store_options o;

    bs_options(&o);
    o.compact_after_segments = 0;
    return bs_open(dir, (create ? TSS_OPEN_CREATE : 0) | TSS_OPEN_WRITER, &o);
}

static double verify(tss_store *r, const bs_layout *l, size_t nwin,
                     deleted *del, uint64_t expect)
{
    uint64_t n;
    double t = bs_verify_dump(r, l, nwin, keep_undeleted, del, &n);

    if (n != expect)
        bs_die("dump: %" PRIu64 " points, expected %" PRIu64, n, expect);
    return t;
}

/* The deleted series alone: its points in range are gone, the rest not. */
static void verify_one(tss_store *r, const bs_layout *l, size_t nwin,
                       deleted *del, size_t i)
{
    char glob[1600];
    uint64_t n;

    bs_ident(l->d, i, glob, sizeof(glob));
    bs_verify_glob(r, l, nwin, keep_undeleted, del, glob, &n);
    if (n != in_range(l, nwin, del, i, INT64_MIN, INT64_MAX))
        bs_die("%s: %" PRIu64 " points left, not as expected", glob, n);
}

typedef struct one_del {
    double create[MAX_RUNS], visible[MAX_RUNS], compact[MAX_RUNS];
    double done[MAX_RUNS], total[MAX_RUNS], bytes[MAX_RUNS], kernel[MAX_RUNS];
    double windows[MAX_RUNS];
} one_del;

/* Deletes [from, to] of series i (has_to 0: everything) and compacts;
 * fills run r of *m; returns the points deleted. */
static uint64_t delete_one(tss_store *s, const bs_layout *l, size_t nwin,
                           deleted *del, size_t i, int has_to, int64_t from,
                           int64_t to, one_del *m, int r)
{
    char glob[1600], id[37];
    tss_delete_spec spec = {0};
    tss_apply_result res;
    uint64_t expect;
    bs_io a, b;
    double t0;
    int state;

    bs_ident(l->d, i, glob, sizeof(glob));
    spec.series_glob = glob;
    spec.has_from = spec.has_to = has_to;
    spec.from = from;
    spec.to = to;
    if (!has_to) {
        from = INT64_MIN;
        to = INT64_MAX;
    }
    expect = in_range(l, nwin, del, i, from, to);
    t0 = bench_now_ns();
    bs_check(tss_delete_create(s, &spec, id), "tss_delete_create");
    m->create[r] = bench_now_ns() - t0;
    t0 = bench_now_ns();
    bs_check(tss_store_apply_mutations(s, tss_store_now(s), &res), "apply");
    m->visible[r] = bench_now_ns() - t0;
    if (res.made_visible != 1 || res.points_deleted != expect)
        bs_die("delete of %s: %u visible, %" PRIu64
               " points; expected 1, %" PRIu64,
               glob, res.made_visible, res.points_deleted, expect);
    bs_io_read(&a);
    t0 = bench_now_ns();
    bs_check(tss_store_compact(s, tss_store_now(s), 0, &res), "compact");
    m->compact[r] = bench_now_ns() - t0;
    bs_io_read(&b);
    m->bytes[r] = (double)res.bytes_rewritten;
    m->kernel[r] = (double)(b.write_bytes - a.write_bytes);
    m->windows[r] = res.compacted;
    t0 = bench_now_ns();
    bs_check(tss_store_apply_mutations(s, tss_store_now(s), &res), "apply");
    m->done[r] = bench_now_ns() - t0;
    m->total[r] = m->create[r] + m->visible[r] + m->compact[r] + m->done[r];
    bs_check(tss_mutation_state(s, id, &state), "tss_mutation_state");
    if (res.removed_docs != 1 || state != TSS_MUTATION_REMOVED)
        bs_die("delete of %s: not completed (state %d)", glob, state);
    mark(del, i, from, to);
    return expect;
}

static void print_one(const char *what, one_del *m, int runs, uint64_t store)
{
    char label[128];

    printf("  %s:\n", what);
    snprintf(label, sizeof(label), "total (create + visible + compact + done)");
    bs_print(label, m->total, runs, 1e-6, "ms");
    bs_print("- tss_delete_create", m->create, runs, 1e-6, "ms");
    bs_print("- tss_store_apply_mutations: tombstones, visible", m->visible,
             runs, 1e-6, "ms");
    bs_print("- tss_store_compact", m->compact, runs, 1e-6, "ms");
    bs_print("- tss_store_apply_mutations: completed", m->done, runs, 1e-6,
             "ms");
    bs_print("windows rewritten", m->windows, runs, 1, "");
    bs_print("bytes rewritten (segments + sidecars)", m->bytes, runs, 1e-6,
             "MB");
    for (int r = 0; r < runs; r++)
        m->bytes[r] = 100.0 * m->bytes[r] / (double)store;
    bs_print("- of the store's segments + sidecars", m->bytes, runs, 1, "%");
    bs_print("kernel write_bytes during the compaction", m->kernel, runs, 1e-6,
             "MB");
}

/* Segment + sidecar bytes: what a full rewrite would write. */
static uint64_t store_bytes(const char *dir)
{
    return bs_dir_bytes(dir, "segments", NULL) +
           bs_dir_bytes(dir, "_coverage/segments", NULL);
}

static void run(const del_opts *o)
{
    size_t n = o->series, nwin = (size_t)o->days * 12, used = 0;
    size_t npts = (size_t)(7200 / o->interval);
    int runs = o->c.runs;
    char *dir = bs_make_tmp(&o->c, "del");
    uint8_t *taken = bs_alloc(n);
    deleted del = {0};
    bench_dataset d;
    bs_layout l;
    tss_store *s, *rd;
    one_del *all = bs_alloc(sizeof(*all)), *hour = bs_alloc(sizeof(*hour));
    double t_clean[MAX_RUNS], t_none[MAX_RUNS], t_tomb[MAX_RUNS], t0;
    double t_create, t_visible, t_compact, t_done;
    uint64_t total, clean, sb, tomb_bytes, tomb_files, expect = 0;
    tss_apply_result res, cres;
    bs_io io0, io1;

    if (7200 % o->interval || (size_t)runs * 2 + o->tombs > n)
        bs_die("--interval must divide 7200; --series must exceed "
               "2 x --runs + --tombstones");
    if (bench_synthetic(&d, n, npts, o->c.seed) != 0)
        bs_die("bench_synthetic failed");
    l = (bs_layout){&d, o->interval * INT64_C(1000), BS_W0, BS_SPAN};
    del.r[0] = bs_alloc(n * sizeof(struct drange));
    del.r[1] = bs_alloc(n * sizeof(struct drange));
    del.count = bs_alloc(n);
    total = clean = (uint64_t)n * npts * nwin;
    printf("delete: %zu series x %d days at %d s = %" PRIu64 " points, %zu "
           "windows\n",
           n, o->days, o->interval, total, nwin);
    bs_io_read(&io0);
    t0 = bench_now_ns();
    s = open_writer(dir, 1);
    for (size_t k = 0; k < nwin; k++) {
        for (size_t j = 0; j < npts; j++)
            for (size_t i = 0; i < n; i++)
                bs_check(tss_store_append(s, &d.s[i].id, d.s[i].kind,
                                          bs_time(&l, i, j, k),
                                          d.s[i].pts[j].v),
                         "tss_store_append");
        bs_check(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL),
                 "seal");
    }
    bs_io_read(&io1);
    sb = store_bytes(dir);
    printf("  built in %.0f s; segments + sidecars %.1f MB; table coverage "
           "snapshot %.1f MB; kernel write_bytes %.1f MB\n",
           (bench_now_ns() - t0) / 1e9, (double)sb / 1e6,
           (double)bs_dir_bytes(dir, "_coverage/table", NULL) / 1e6,
           (double)(io1.write_bytes - io0.write_bytes) / 1e6);
    rd = bs_open(dir, 0, NULL);
    for (int r = 0; r < runs; r++)
        t_clean[r] = verify(rd, &l, nwin, &del, total);
    /* 2. one whole series, 3. one hour of one series: each run another */
    for (int r = 0; r < runs; r++) {
        size_t i = ((size_t)r * 7919 + 101) % n;

        while (taken[i])
            i = (i + 1) % n;
        taken[i] = 1;
        total -= delete_one(s, &l, nwin, &del, i, 0, 0, 0, all, r);
        verify_one(rd, &l, nwin, &del, i);
    }
    verify(rd, &l, nwin, &del, total);
    for (int r = 0; r < runs; r++) {
        size_t i = ((size_t)r * 7919 + 4099) % n, k = nwin / 2 + (size_t)r;
        int64_t from = BS_W0 + (int64_t)(k % nwin) * BS_SPAN + 1800000;

        while (taken[i])
            i = (i + 1) % n;
        taken[i] = 1;
        total -=
            delete_one(s, &l, nwin, &del, i, 1, from, from + 3599999, hour, r);
        verify_one(rd, &l, nwin, &del, i);
    }
    /* 4. tombstones of o->tombs deletes, not compacted */
    for (int r = 0; r < runs; r++)
        t_none[r] = verify(rd, &l, nwin, &del, total);
    t0 = bench_now_ns();
    for (size_t q = 0; q < o->tombs; q++) {
        size_t i = (q * 10 + 7) % n, k = q % nwin;
        int64_t from =
            BS_W0 + (int64_t)k * BS_SPAN + (int64_t)(q * 37 % 60) * 120000;
        char glob[1600], id[37];
        tss_delete_spec spec = {0};

        while (taken[i])
            i = (i + 1) % n;
        taken[i] = 1;
        used++;
        bs_ident(&d, i, glob, sizeof(glob));
        spec.series_glob = glob;
        spec.has_from = spec.has_to = 1;
        spec.from = from;
        spec.to = from + 3599999;
        expect += in_range(&l, nwin, &del, i, spec.from, spec.to);
        mark(&del, i, spec.from, spec.to);
        bs_check(tss_delete_create(s, &spec, id), "tss_delete_create");
    }
    t_create = bench_now_ns() - t0;
    t0 = bench_now_ns();
    bs_check(tss_store_apply_mutations(s, tss_store_now(s), &res), "apply");
    t_visible = bench_now_ns() - t0;
    if (res.made_visible != used || res.points_deleted != expect ||
        res.compacted)
        bs_die("%u of %zu deletes visible, %" PRIu64 " of %" PRIu64
               " points, %u windows compacted",
               res.made_visible, used, res.points_deleted, expect,
               res.compacted);
    total -= expect;
    tomb_bytes = 0;
    {
        char **names;
        size_t cnt;
        tss_storage *st;

        bs_check(tss_storage_open(&st, dir, NULL, 0), dir);
        bs_check(
            tss_storage_list(st, "segments", "", ".tombstones", &names, &cnt),
            "list");
        tomb_files = cnt;
        for (size_t k = 0; k < cnt; k++) {
            char rel[512];
            uint64_t sz;
            int64_t mt;

            snprintf(rel, sizeof(rel), "segments/%s", names[k]);
            bs_check(tss_storage_stat(st, rel, &sz, &mt), rel);
            tomb_bytes += sz;
        }
        tss_storage_names_free(names, cnt);
        tss_storage_close(st);
    }
    for (int r = 0; r < o->tomb_runs; r++)
        t_tomb[r] = verify(rd, &l, nwin, &del, total);
    t0 = bench_now_ns();
    bs_check(tss_store_compact(s, tss_store_now(s), 0, &cres), "compact");
    t_compact = bench_now_ns() - t0;
    t0 = bench_now_ns();
    bs_check(tss_store_apply_mutations(s, tss_store_now(s), &res), "apply");
    t_done = bench_now_ns() - t0;
    if (res.removed_docs != used)
        bs_die("%u of %zu deletes completed", res.removed_docs, used);
    verify(rd, &l, nwin, &del, total);
    tss_store_close(rd);
    tss_store_close(s);
    printf("  checked: after every step the dump equals what was appended "
           "minus what was deleted, bit for bit\n");
    bs_print("full dump, clean store", t_clean, runs, 1e-6, "ms");
    for (int r = 0; r < runs; r++)
        t_clean[r] /= (double)clean;
    bs_print("- per point", t_clean, runs, 1, "ns");
    print_one("delete one whole series", all, runs, sb);
    print_one("delete one hour of one series", hour, runs, sb);
    printf("  %zu deletes of one hour each (%" PRIu64 " points), %" PRIu64
           " tombstone files, %" PRIu64 " bytes:\n",
           used, expect, tomb_files, tomb_bytes);
    printf("  - created in %.0f ms, made visible in %.0f ms (one "
           "tss_store_apply_mutations)\n",
           t_create / 1e6, t_visible / 1e6);
    bs_print("full dump, no tombstones", t_none, runs, 1e-6, "ms");
    bs_print("full dump, with the tombstones", t_tomb, o->tomb_runs, 1e-6,
             "ms");
    for (int r = 0; r < o->tomb_runs; r++)
        t_tomb[r] /= bench_median(t_none, runs);
    bs_print("- ratio to the median without", t_tomb, o->tomb_runs, 1, "x");
    printf("  - then compacted in %.0f ms (%u windows, %.1f MB), completed "
           "in %.0f ms\n",
           t_compact / 1e6, cres.compacted, (double)cres.bytes_rewritten / 1e6,
           t_done / 1e6);
    free(del.r[0]);
    free(del.r[1]);
    free(del.count);
    free(taken);
    free(all);
    free(hour);
    bench_dataset_free(&d);
    bs_drop_tmp(&o->c, dir);
}

static void usage(int code)
{
    fputs("usage: bench_store delete [--series N] [--days N] [--interval S]\n"
          "       [--tombstones N] [--tomb-runs N] [--runs N] [--seed N]\n"
          "       [--tmpdir DIR] [--keep]\n"
          "Defaults: 10000 series x 7 days at 60 s, 1000 tombstones; the\n"
          "dumps under them --tomb-runs times (default: --runs).\n",
          code ? stderr : stdout);
    exit(code);
}

int bench_delete_main(int argc, char **argv)
{
    del_opts o = {.series = 10000, .tombs = 1000, .days = 7, .interval = 60};

    bs_common_init(&o.c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (bs_common_opt(&o.c, argc, argv, &i))
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage(0);
        else if (i + 1 >= argc)
            usage(2);
        else if (!strcmp(a, "--series"))
            o.series = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--days"))
            o.days = atoi(argv[++i]);
        else if (!strcmp(a, "--interval"))
            o.interval = atoi(argv[++i]);
        else if (!strcmp(a, "--tombstones"))
            o.tombs = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--tomb-runs"))
            o.tomb_runs = atoi(argv[++i]);
        else
            usage(2);
    }
    if (!o.tomb_runs)
        o.tomb_runs = o.c.runs;
    if (!o.series || o.days < 1 || o.interval < 1 || o.interval > 7200 ||
        o.tomb_runs < 1 || o.tomb_runs > MAX_RUNS)
        usage(2);
    run(&o);
    return 0;
}
