/*
 * bench_store snapshot -- head snapshot persistence.
 *
 * Part 1 (--series, --points): N series, each with P points at 10 s in one
 * 2 h window (bench_synthetic's data: P = 360 is the hour a head holds on
 * average), appended time-major with tss_store_snapshot after every round
 * (one delta record per 10 s, as write_tsstore does). Measured:
 *   - each delta record while the head grows (time, bytes);
 *   - recovery: tss_store_open of the writer from the head directory as
 *     the build left it (a base + P records) and from a base alone, each
 *     restored from a copy before every run; with tss_snapshot_load alone
 *     (what a reader pays) for the split;
 *   - a base write at the full head (tss_snapshot_base, what seals,
 *     recovery and deletes call) and a delta record at the full head,
 *     without and with fsync.
 * Checked: after every recovery the head holds N series and every point;
 * at the end the recovered head is sealed and read back bit for bit.
 *
 * Part 2 (--wa-series, --wa-hours): write amplification over a simulated
 * run: one point per series every 10 s of simulated time, a snapshot every
 * 10 s, tss_store_seal every 10 s (windows sealed 300 s after their end),
 * three times: SnapshotSync never, 60 s (the default) and 0 (fsync every
 * snapshot). Bytes per point appended: as files (snapshot_bytes of
 * tss_writer_stats, segments + sidecars, table coverage snapshots) and as
 * the kernel counted (/proc/self/io write_bytes: 4 KiB per page dirtied).
 */
#define _GNU_SOURCE
#include "bench_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "snapshot.h"
#include "store_internal.h"

typedef struct snap_opts {
    bs_common c;
    size_t series, points, wa_series;
    double wa_hours;
    int no_1, no_2;
} snap_opts;

static void append_round(tss_store *s, const bench_dataset *d, size_t j)
{
    for (size_t i = 0; i < d->n; i++)
        bs_check(tss_store_append(s, &d->s[i].id, d->s[i].kind,
                                  d->s[i].pts[j].t, d->s[i].pts[j].v),
                 "tss_store_append");
}

static uint64_t snap_bytes(tss_store *s)
{
    tss_writer_stats ws;

    tss_store_writer_stats(s, &ws);
    return ws.snapshot_bytes;
}

/* The writer's head must hold n series and `points` points. */
static void check_head(tss_store *s, size_t n, uint64_t points,
                       const char *when)
{
    tss_writer_stats ws;

    tss_store_writer_stats(s, &ws);
    if (ws.series != n || ws.head_points != points)
        bs_die("%s: the head holds %" PRIu64 " series, %" PRIu64
               " points; expected %zu, %" PRIu64,
               when, ws.series, ws.head_points, n, points);
}

static void restore_head(const char *dir, const char *copy)
{
    char head[4096];

    snprintf(head, sizeof(head), "%s/head", dir);
    bs_rm_tree(head);
    bs_copy_dir(copy, head);
}

/* Times tss_store_open of the writer (recovery) from the head directory
 * saved in `copy`, and tss_snapshot_load alone. */
static void recover_runs(const snap_opts *o, const char *dir, const char *copy,
                         const tss_store_options *so, uint64_t points,
                         double *t_open, double *t_load)
{
    for (int r = 0; r < o->c.runs; r++) {
        tss_store *s;
        tss_snap_view v;
        double t0;

        restore_head(dir, copy);
        t0 = bench_now_ns();
        s = bs_open(dir, TSS_OPEN_WRITER, so);
        t_open[r] = bench_now_ns() - t0;
        check_head(s, o->series, points, "after recovery");
        tss_store_close(s);
        restore_head(dir, copy);
        s = bs_open(dir, 0, so);
        t0 = bench_now_ns();
        bs_check(tss_snapshot_load(s->st, &s->info, NULL, NULL, false, &v),
                 "tss_snapshot_load");
        t_load[r] = bench_now_ns() - t0;
        tss_snap_view_free(&v);
        tss_store_close(s);
    }
}

static void part_1(const snap_opts *o)
{
    size_t n = o->series, p = o->points, runs = (size_t)o->c.runs;
    size_t extra = 2 * runs;
    bench_dataset d;
    char *dir = bs_make_tmp(&o->c, "snap"), *copy_a, *copy_b, head[4096];
    double *rec_t = bs_alloc(p * sizeof(double)), *rec_b;
    double t_oa[MAX_RUNS], t_la[MAX_RUNS], t_ob[MAX_RUNS], t_lb[MAX_RUNS];
    double t_base[MAX_RUNS], b_base[MAX_RUNS], t_d[MAX_RUNS], b_d[MAX_RUNS];
    double t_ds[MAX_RUNS], b_ds[MAX_RUNS], t0;
    uint64_t pts, bytes_a, bytes_b, files_a, nread;
    tss_store_options so;
    tss_store *s;
    bs_layout l;

    rec_b = bs_alloc(p * sizeof(double));
    if (p + extra > 639)
        bs_die("--points + 2 x --runs must fit one 2 h window (639)");
    if (bench_synthetic(&d, n, p + extra, o->c.seed) != 0)
        bs_die("bench_synthetic failed");
    printf("snapshot, part 1: %zu series x %zu points at 10 s in one window "
           "(+%zu rounds measured at the end)\n",
           n, p, extra);
    bs_options(&so);
    so.snapshot_sync_seconds = INT64_C(1) << 40; /* fsync only when asked */
    s = bs_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &so);
    t0 = bench_now_ns();
    for (size_t j = 0; j < p; j++) {
        uint64_t b0;
        double t1;

        append_round(s, &d, j);
        b0 = snap_bytes(s);
        t1 = bench_now_ns();
        bs_check(tss_store_snapshot(s, tss_store_now(s), 0), "snapshot");
        rec_t[j] = bench_now_ns() - t1;
        rec_b[j] = (double)(snap_bytes(s) - b0);
    }
    printf("  built in %.0f s\n", (bench_now_ns() - t0) / 1e9);
    pts = (uint64_t)n * p;
    check_head(s, n, pts, "after the build");
    tss_store_close(s);
    snprintf(head, sizeof(head), "%s/head", dir);
    copy_a = bs_make_tmp(&o->c, "snap-a");
    bs_copy_dir(head, copy_a);
    bytes_a = bs_dir_bytes(copy_a, NULL, &files_a);
    recover_runs(o, dir, copy_a, &so, pts, t_oa, t_la);
    /* a recovery writes a base of the whole head: then a base alone */
    s = bs_open(dir, TSS_OPEN_WRITER, &so);
    tss_store_close(s);
    copy_b = bs_make_tmp(&o->c, "snap-b");
    bs_copy_dir(head, copy_b);
    bytes_b = bs_dir_bytes(copy_b, NULL, NULL);
    recover_runs(o, dir, copy_b, &so, pts, t_ob, t_lb);
    s = bs_open(dir, TSS_OPEN_WRITER, &so);
    for (size_t r = 0; r < runs; r++) {
        uint64_t b0 = snap_bytes(s);

        t0 = bench_now_ns();
        bs_check(tss_snapshot_base(s->snap, tss_store_now(s)),
                 "tss_snapshot_base");
        t_base[r] = bench_now_ns() - t0;
        b_base[r] = (double)(snap_bytes(s) - b0);
    }
    for (size_t r = 0; r < extra; r++) {
        uint64_t b0;
        double *tt = r < runs ? t_d : t_ds, *bb = r < runs ? b_d : b_ds;

        append_round(s, &d, p + r);
        b0 = snap_bytes(s);
        t0 = bench_now_ns();
        bs_check(tss_store_snapshot(s, tss_store_now(s),
                                    r < runs ? 0 : TSS_SNAP_SYNC),
                 "snapshot");
        tt[r % runs] = bench_now_ns() - t0;
        bb[r % runs] = (double)(snap_bytes(s) - b0);
    }
    pts += (uint64_t)n * extra;
    tss_store_close(s);
    /* the check: recover once more, seal what was recovered, read it all */
    s = bs_open(dir, TSS_OPEN_WRITER, &so);
    check_head(s, n, pts, "after the last recovery");
    bs_check(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL), "seal");
    tss_store_close(s);
    s = bs_open(dir, 0, &so);
    l = (bs_layout){&d, 10000, INT64_C(1700000000000), 0};
    bs_verify_dump(s, &l, 1, NULL, NULL, &nread);
    tss_store_close(s);
    if (nread != pts)
        bs_die("read back %" PRIu64 " points of %" PRIu64, nread, pts);
    printf("  checked: every recovery restored %zu series and all their "
           "points; the last, sealed, reads back bit for bit\n",
           n);
    bs_print("delta record while the head grows: time", rec_t, (int)p, 1e-6,
             "ms");
    bs_print("- bytes", rec_b, (int)p, 1, "B");
    printf("  - first / last record: %.2f / %.2f ms, %.0f / %.0f B\n",
           rec_t[0] / 1e6, rec_t[p - 1] / 1e6, rec_b[0], rec_b[p - 1]);
    bs_print("delta record at the full head, no fsync", t_d, (int)runs, 1e-6,
             "ms");
    bs_print("- bytes", b_d, (int)runs, 1, "B");
    bs_print("delta record at the full head, TSS_SNAP_SYNC", t_ds, (int)runs,
             1e-6, "ms");
    bs_print("base at the full head (tss_snapshot_base)", t_base, (int)runs,
             1e-6, "ms");
    bs_print("- bytes", b_base, (int)runs, 1, "B");
    printf("  head/ after the build: %" PRIu64 " bytes in %" PRIu64
           " files (%.3f B/point); base alone: %" PRIu64 " bytes (%.3f "
           "B/point)\n",
           bytes_a, files_a, (double)bytes_a / (double)((uint64_t)n * p),
           bytes_b, (double)bytes_b / (double)((uint64_t)n * p));
    bs_print("recovery from base + log: tss_store_open", t_oa, (int)runs, 1e-6,
             "ms");
    bs_print("- tss_snapshot_load alone", t_la, (int)runs, 1e-6, "ms");
    bs_print("recovery from a base: tss_store_open", t_ob, (int)runs, 1e-6,
             "ms");
    bs_print("- tss_snapshot_load alone", t_lb, (int)runs, 1e-6, "ms");
    bs_drop_tmp(&o->c, copy_a);
    bs_drop_tmp(&o->c, copy_b);
    bs_drop_tmp(&o->c, dir);
    bench_dataset_free(&d);
    free(rec_t);
    free(rec_b);
}

/* ---- part 2: write amplification ---------------------------------------- */

typedef struct wa_result {
    uint64_t points, snap, seg, table, kernel, cancelled, records, bases;
    double real_s;
} wa_result;

/* Size of the newest table coverage snapshot, 0 if none. */
static uint64_t newest_table(const char *dir)
{
    char path[4096], **names;
    size_t count;
    uint64_t best = 0, size = 0;
    int64_t mtime;
    tss_storage *st;

    bs_check(tss_storage_open(&st, dir, NULL, 0), dir);
    bs_check(
        tss_storage_list(st, TSS_COV_TABLE_DIR, "", ".roar", &names, &count),
        "list");
    for (size_t i = 0; i < count; i++) {
        uint64_t v = strtoull(names[i], NULL, 10);

        if (v > best) {
            best = v;
            snprintf(path, sizeof(path), TSS_COV_TABLE_DIR "/%s", names[i]);
        }
    }
    if (best)
        bs_check(tss_storage_stat(st, path, &size, &mtime), path);
    tss_storage_names_free(names, count);
    tss_storage_close(st);
    return size;
}

static void simulate(const snap_opts *o, const bench_dataset *d, int64_t sync,
                     wa_result *w)
{
    char *dir = bs_make_tmp(&o->c, "wa");
    size_t steps = d->s[0].n;
    int64_t span = BS_SPAN, t0 = (bs_wall_ms() + 3600000) / span * span + span;
    tss_store_options so;
    tss_writer_stats ws;
    tss_seal_result sr;
    tss_store *s;
    bs_io a, b;
    double r0 = bench_now_ns();
    uint64_t nread;
    bs_layout l = {d, 10000, t0, 0};

    memset(w, 0, sizeof(*w));
    bs_options(&so);
    so.snapshot_sync_seconds = sync;
    bs_io_read(&a);
    s = bs_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &so);
    for (size_t j = 0; j < steps; j++) {
        int64_t now = t0 + (int64_t)(j + 1) * 10000;

        for (size_t i = 0; i < d->n; i++)
            bs_check(tss_store_append(s, &d->s[i].id, d->s[i].kind,
                                      bs_time(&l, i, j, 0), d->s[i].pts[j].v),
                     "tss_store_append");
        bs_check(tss_store_snapshot(s, now, 0), "snapshot");
        bs_check(tss_store_seal(s, now, 0, &sr), "seal");
        if (sr.segments_written)
            w->table += newest_table(dir);
    }
    bs_check(tss_store_seal(s, t0 + (int64_t)steps * 10000 + span, TSS_SEAL_ALL,
                            &sr),
             "seal");
    if (sr.segments_written)
        w->table += newest_table(dir);
    tss_store_writer_stats(s, &ws);
    tss_store_close(s);
    bs_io_read(&b);
    w->real_s = (bench_now_ns() - r0) / 1e9;
    w->points = ws.points_appended;
    w->snap = ws.snapshot_bytes;
    w->seg = ws.bytes_written;
    w->records = ws.snapshot_records;
    w->kernel = b.write_bytes - a.write_bytes;
    w->cancelled = b.cancelled - a.cancelled;
    if (ws.points_written != w->points || w->points != d->n * steps)
        bs_die("simulation: %" PRIu64 " points appended, %" PRIu64 " sealed",
               w->points, ws.points_written);
    s = bs_open(dir, 0, &so);
    bs_verify_dump(s, &l, 1, NULL, NULL, &nread);
    tss_store_close(s);
    bs_drop_tmp(&o->c, dir);
}

static void part_2(const snap_opts *o)
{
    static const char *const names[3] = {"never", "60 s", "0 (every)"};
    const int64_t syncs[3] = {INT64_C(1) << 40, 60, 0};
    size_t steps = (size_t)(o->wa_hours * 360 + 0.5);
    bench_dataset d;
    wa_result w[3][MAX_RUNS];

    if (bench_synthetic(&d, o->wa_series, steps, o->c.seed) != 0)
        bs_die("bench_synthetic failed");
    printf("snapshot, part 2: write amplification, %zu series x %.1f h "
           "simulated (a point per series, a snapshot and a seal call every "
           "10 s)\n",
           o->wa_series, o->wa_hours);
    for (int r = 0; r < o->c.runs; r++)
        for (int k = 0; k < 3; k++)
            simulate(o, &d, syncs[k], &w[k][r]);
    printf("  checked: every point sealed and read back bit for bit\n");
    printf("  %-10s %9s %9s %9s %9s %9s %9s %9s %7s\n", "sync", "head/",
           "segments", "table", "files", "kernel", "cancel", "records",
           "real s");
    for (int k = 0; k < 3; k++) {
        double v[8][MAX_RUNS];

        for (int r = 0; r < o->c.runs; r++) {
            const wa_result *x = &w[k][r];
            double p = (double)x->points;

            v[0][r] = (double)x->snap / p;
            v[1][r] = (double)x->seg / p;
            v[2][r] = (double)x->table / p;
            v[3][r] = (double)(x->snap + x->seg + x->table) / p;
            v[4][r] = (double)x->kernel / p;
            v[5][r] = (double)x->cancelled / p;
            v[6][r] = (double)x->records;
            v[7][r] = x->real_s;
        }
        printf("  %-10s", names[k]);
        for (int f = 0; f < 8; f++)
            printf(f < 6    ? " %9.3f"
                   : f == 6 ? " %9.0f"
                            : " %7.1f",
                   bench_median(v[f], o->c.runs));
        printf("\n  %-10s", "  min..max");
        for (int f = 4; f < 6; f++)
            printf(" %4.2f..%4.2f", bench_min(v[f], o->c.runs),
                   bench_max(v[f], o->c.runs));
        printf("\n");
    }
    printf("  (bytes per point appended, medians of %d runs; kernel = "
           "/proc/self/io write_bytes, cancel = cancelled_write_bytes)\n",
           o->c.runs);
    bench_dataset_free(&d);
}

static void usage(int code)
{
    fputs("usage: bench_store snapshot [--series N] [--points N] "
          "[--wa-series N]\n"
          "       [--wa-hours X] [--no-recovery] [--no-wa] [--runs N] "
          "[--seed N]\n"
          "       [--tmpdir DIR] [--keep]\n"
          "Defaults: 100000 series x 360 points; 1000 series x 6 h.\n",
          code ? stderr : stdout);
    exit(code);
}

int bench_snapshot_main(int argc, char **argv)
{
    snap_opts o = {
        .series = 100000, .points = 360, .wa_series = 1000, .wa_hours = 6};

    bs_common_init(&o.c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (bs_common_opt(&o.c, argc, argv, &i))
            continue;
        if (!strcmp(a, "--no-recovery"))
            o.no_1 = 1;
        else if (!strcmp(a, "--no-wa"))
            o.no_2 = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage(0);
        else if (i + 1 >= argc)
            usage(2);
        else if (!strcmp(a, "--series"))
            o.series = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--points"))
            o.points = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--wa-series"))
            o.wa_series = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--wa-hours"))
            o.wa_hours = atof(argv[++i]);
        else
            usage(2);
    }
    if (!o.series || o.points < 2 || !o.wa_series || o.wa_hours <= 0)
        usage(2);
    if (!o.no_1)
        part_1(&o);
    if (!o.no_2)
        part_2(&o);
    return 0;
}
