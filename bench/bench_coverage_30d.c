/*
 * bench_store coverage, part A: the 30-day store (see bench_coverage.c for
 * the whole benchmark).
 *
 * 30 days x 8,640 buckets x 10,000 series is 2.6 G points, too many to
 * append. So:
 *   1. the segments are real but sparse: tss_store_append of one point
 *      per series and window, tss_store_seal per window (360 segments);
 *   2. their sidecars and the table snapshot are then replaced by dense
 *      ones built through the core's coverage API (tss_sidecar_init and
 *      entries, tss_sidecar_encode; the table with tss_covtable_add_sidecar
 *      of every sidecar, as the writer does at each seal, then
 *      tss_covtable_save) from each series' coverage plan;
 *   3. the last --head-minutes are real points in the writer's head,
 *      persisted with tss_store_snapshot after each 10 s bucket (a log
 *      record each, as the writer's SnapshotInterval 10 s leaves them).
 * The coverage query reads no segment chunk, so what it reads is what a
 * store holding every point would give it. Every answer is checked
 * against the plan.
 */
#define _GNU_SOURCE
#include "bench_coverage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "series.h"
#include "snapshot.h"
#include "store_internal.h"

typedef struct bytes_split {
    uint64_t entries[2], bitmap[2]; /* per stride class: 10 s, 60 s */
} bytes_split;

/* Sidecar entry of series i for window k, from its plan (cursors advance). */
static int window_entry(plan *p, int64_t k, tss_cov_entry *e)
{
    int64_t wlo = k * WB, whi = wlo + WB;
    uint64_t card;

    e->bm = roaring_bitmap_create();
    while (p->rc < p->nruns && p->runs[p->rc].hi <= wlo)
        p->rc++;
    for (size_t r = p->rc; r < p->nruns && p->runs[r].lo < whi; r++) {
        int64_t lo = p->runs[r].lo > wlo ? p->runs[r].lo : wlo;
        int64_t hi = p->runs[r].hi < whi ? p->runs[r].hi : whi;

        if (p->stride == 1) {
            roaring_bitmap_add_range(e->bm, (uint64_t)(lo - wlo),
                                     (uint64_t)(hi - wlo));
            continue;
        }
        for (int64_t b = lo + ((p->off - lo) % 6 + 6) % 6; b < hi; b += 6)
            roaring_bitmap_add(e->bm, (uint32_t)(b - wlo));
    }
    for (; p->hc < p->nholes && p->holes[p->hc] < whi; p->hc++)
        if (p->holes[p->hc] >= wlo)
            roaring_bitmap_remove(e->bm, (uint32_t)(p->holes[p->hc] - wlo));
    card = roaring_bitmap_get_cardinality(e->bm);
    e->interval = card >= 2 ? p->stride * BW : 0;
    roaring_bitmap_run_optimize(e->bm);
    return card > 0;
}

/* Step 2: dense sidecars for every segment and the table snapshot. */
static void write_dense(const char *dir, const bench_dataset *d, plan *pl,
                        size_t nwin, bytes_split *bs, uint64_t *sidecar_bytes)
{
    tss_storage *st;
    tss_covtable *old, *t;
    tss_seg_name *segs;
    size_t nsegs;
    uint64_t maxseq = 0;

    bs_check(tss_storage_open(&st, dir, NULL, 0), "tss_storage_open");
    bs_check(tss_covtable_load(&old, st, BW, NULL, NULL), "tss_covtable_load");
    bs_check(tss_covtable_new(&t, BW), "tss_covtable_new");
    tss_covtable_set_version(t, tss_covtable_version(old));
    tss_covtable_free(old);
    bs_check(tss_list_segments(st, &segs, &nsegs), "tss_list_segments");
    if (nsegs != nwin)
        bs_die("%zu segments, expected %zu", nsegs, nwin);
    memset(bs, 0, sizeof(*bs));
    *sidecar_bytes = 0;
    for (size_t k = 0; k < nsegs; k++) {
        tss_sidecar sc;
        tss_buf img = {0};
        char rel[128];

        if (segs[k].start != BS_W0 + (int64_t)k * BS_SPAN)
            bs_die("segment %zu starts at %" PRId64, k, segs[k].start);
        bs_check(tss_sidecar_init(&sc, segs[k].uuid, segs[k].start, BW),
                 "tss_sidecar_init");
        sc.entries = bs_alloc(d->n * sizeof(*sc.entries));
        sc.cap = d->n;
        for (size_t i = 0; i < d->n; i++) {
            tss_cov_entry *e = &sc.entries[sc.n];
            int cls = pl[i].stride > 1;

            if (!window_entry(&pl[i], (int64_t)k, e)) {
                roaring_bitmap_free(e->bm);
                continue;
            }
            if (!(e->key = tss_malloc(d->s[i].key_len)))
                bs_die("out of memory");
            memcpy(e->key, d->s[i].key, d->s[i].key_len);
            e->key_len = d->s[i].key_len;
            bs->entries[cls]++;
            bs->bitmap[cls] += roaring_bitmap_portable_size_in_bytes(e->bm);
            sc.n++;
        }
        bs_check(tss_sidecar_encode(&sc, &img), "tss_sidecar_encode");
        tss_sidecar_path(rel, sizeof(rel), segs[k].uuid);
        bs_check(tss_storage_remove(st, rel), rel);
        bs_check(tss_storage_write_new(st, rel, img.data, img.len), rel);
        *sidecar_bytes += img.len;
        tss_buf_free(&img);
        bs_check(tss_covtable_add_sidecar(t, &sc), "tss_covtable_add_sidecar");
        maxseq = segs[k].seq > maxseq ? segs[k].seq : maxseq;
        tss_sidecar_free(&sc);
    }
    tss_covtable_set_covered_seq(t, maxseq);
    bs_check(tss_covtable_save(t, st), "tss_covtable_save");
    tss_covtable_free(t);
    free(segs);
    tss_storage_close(st);
}

static tss_value value_at(int kind, int64_t b)
{
    tss_value v;

    if (kind == TSS_KIND_GAUGE)
        v.gauge = (double)(b % 1000) * 0.5;
    else
        v.bits = (uint64_t)b * 3;
    return v;
}

typedef struct a_times {
    double one[MAX_RUNS], open[MAX_RUNS], next[MAX_RUNS], cold[MAX_RUNS];
    double head[MAX_RUNS], table[MAX_RUNS], lookup[MAX_RUNS];
    double all[MAX_RUNS], all_open[MAX_RUNS], all_next[MAX_RUNS];
    double all_cold[MAX_RUNS];
} a_times;

/* Builds the 30-day store in dir (see the top of the file). */
static void build_a(const cov_opts *o, const char *dir, const bench_dataset *d,
                    plan *pl, int64_t nb, bytes_split *bs, uint64_t *sc_bytes,
                    uint64_t *head_pts)
{
    size_t nwin = (size_t)o->days * 12, n = d->n;
    double t0 = bench_now_ns(), t1, t2;
    tss_seal_result sr;
    tss_store *s;

    /* 1. sparse segments through the writer */
    s = bs_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    for (size_t k = 0; k < nwin; k++) {
        for (size_t i = 0; i < n; i++)
            bs_check(tss_store_append(s, &d->s[i].id, d->s[i].kind,
                                      BS_W0 + (int64_t)k * BS_SPAN + 1000,
                                      value_at(d->s[i].kind, (int64_t)k)),
                     "append");
        bs_check(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &sr),
                 "seal");
    }
    tss_store_close(s);
    /* 2. dense coverage through the coverage API */
    t1 = bench_now_ns();
    write_dense(dir, d, pl, nwin, bs, sc_bytes);
    t2 = bench_now_ns();
    /* 3. the head: the last minutes as real points, snapshotted as the
     * writer does, a log record per bucket (SnapshotInterval 10 s) */
    s = bs_open(dir, TSS_OPEN_WRITER, NULL);
    *head_pts = 0;
    for (int64_t b = (int64_t)nwin * WB; b < nb; b++) {
        for (size_t i = 0; i < n; i++)
            if (cov_plan_has(&pl[i], b)) {
                bs_check(tss_store_append(s, &d->s[i].id, d->s[i].kind,
                                          BS_W0 + b * BW + 1000 +
                                              (int64_t)(i * 7919 % 8000),
                                          value_at(d->s[i].kind, b)),
                         "append");
                (*head_pts)++;
            }
        bs_check(tss_store_snapshot(s, tss_store_now(s),
                                    b + 1 == nb ? TSS_SNAP_SYNC : 0),
                 "snapshot");
    }
    tss_store_close(s);
    printf("  built in %.0f s (segments) + %.0f s (coverage) + %.0f s "
           "(head)\n",
           (t1 - t0) / 1e9, (t2 - t1) / 1e9, (bench_now_ns() - t2) / 1e9);
}

/* Series i's coverage through tss_coverage_open/next on `s`, checked
 * against its plan; *open_ns and *next_ns get the two calls' times. */
static void one_query(tss_store *s, const bench_dataset *d, plan *pl,
                      int64_t nb, size_t i, double *open_ns, double *next_ns)
{
    char glob[1600];
    tss_filter f = {0};
    tss_coverage *c;
    tss_coverage_series cs;
    gaps x = {0};
    double t0, t1;

    bs_ident(d, i, glob, sizeof(glob));
    f.series_glob = glob;
    f.has_from = f.has_to = 1;
    f.from = BS_W0;
    f.to = BS_W0 + nb * BW - 1;
    t0 = bench_now_ns();
    bs_check(tss_coverage_open(&c, s, &f), "tss_coverage_open");
    t1 = bench_now_ns();
    if (tss_coverage_next(c, &cs) != 1)
        bs_die("no coverage for %s", glob);
    *next_ns = bench_now_ns() - t1;
    *open_ns = t1 - t0;
    cov_plan_gaps(&pl[i], nb, &x);
    cov_same_gaps(&cs, &x, glob);
    if (tss_coverage_next(c, &cs) != 0 || tss_coverage_segments_decoded(c))
        bs_die("coverage of %s: more than one series, or decoded", glob);
    tss_coverage_close(c);
    free(x.g);
}

/*
 * One series: on the handle `s` that has queried before (it reads on in
 * the head snapshot's log: nothing was appended, so nothing to read), and
 * on a handle of its own (its first query: the head snapshot's groups of
 * ids that hold the series); the head snapshot's and the table's loads
 * alone, for scale.
 */
static void one_series(tss_store *s, const char *dir, const bench_dataset *d,
                       plan *pl, int64_t nb, a_times *at, size_t r)
{
    size_t i = (r * 7919 + 13) % d->n;
    uint8_t hi[TSS_KEY_MAX + 1];
    tss_cov_select sel = {0};
    tss_snap_view hv;
    tss_covtable *t;
    tss_store *fresh;
    double t0, o, n;

    one_query(s, d, pl, nb, i, &at->open[r], &at->next[r]);
    at->one[r] = at->open[r] + at->next[r];
    fresh = bs_open(dir, 0, NULL);
    one_query(fresh, d, pl, nb, i, &o, &n);
    at->cold[r] = o + n;
    tss_store_close(fresh);
    t0 = bench_now_ns();
    bs_check(tss_snapshot_load(s->st, &s->info, NULL, NULL, false, &hv),
             "tss_snapshot_load");
    at->head[r] = bench_now_ns() - t0;
    tss_snap_view_free(&hv);
    t0 = bench_now_ns();
    bs_check(tss_covtable_load(&t, s->st, BW, NULL, NULL), "tss_covtable_load");
    at->table[r] = bench_now_ns() - t0;
    tss_covtable_free(t);
    memcpy(hi, d->s[i].key, d->s[i].key_len);
    hi[d->s[i].key_len] = 0;
    sel.lo = d->s[i].key;
    sel.lo_len = d->s[i].key_len;
    sel.hi = hi;
    sel.hi_len = d->s[i].key_len + 1;
    t0 = bench_now_ns();
    bs_check(tss_covtable_load_select(&t, s->st, BW, &sel, NULL, NULL),
             "tss_covtable_load_select");
    at->lookup[r] = bench_now_ns() - t0;
    if (!tss_covtable_iter(t, NULL))
        bs_die("the table has no entry for series %zu", i);
    tss_covtable_free(t);
}

/* The whole store's report through the API on `s`, every series checked
 * against its plan (the checks not timed); returns open + next in ns. */
static double all_query(tss_store *s, const bench_dataset *d, plan *pl,
                        int64_t nb, double *open_ns)
{
    tss_filter f = {0};
    tss_coverage *c;
    tss_coverage_series cs;
    gaps x = {0};
    char name[1600];
    double t0, t1, check = 0;
    size_t i = 0;
    int rc;

    f.has_from = f.has_to = 1;
    f.from = BS_W0;
    f.to = BS_W0 + nb * BW - 1;
    t0 = bench_now_ns();
    bs_check(tss_coverage_open(&c, s, &f), "tss_coverage_open");
    t1 = bench_now_ns();
    while ((rc = tss_coverage_next(c, &cs)) == 1) {
        double c0 = bench_now_ns();

        if (i >= d->n)
            bs_die("coverage: more series than appended");
        bs_ident(d, i, name, sizeof(name));
        cov_plan_gaps(&pl[i], nb, &x);
        cov_same_gaps(&cs, &x, name);
        i++;
        check += bench_now_ns() - c0;
    }
    bs_check(rc < 0 ? rc : 0, "tss_coverage_next");
    if (i != d->n)
        bs_die("coverage: %zu series, expected %zu", i, d->n);
    *open_ns = t1 - t0;
    t1 = bench_now_ns() - t0 - check;
    tss_coverage_close(c);
    free(x.g);
    return t1;
}

static void all_series(tss_store *s, const char *dir, const bench_dataset *d,
                       plan *pl, int64_t nb, a_times *at, size_t r)
{
    tss_store *fresh = bs_open(dir, 0, NULL);
    double o;

    at->all[r] = all_query(s, d, pl, nb, &at->all_open[r]);
    at->all_next[r] = at->all[r] - at->all_open[r];
    at->all_cold[r] = all_query(fresh, d, pl, nb, &o);
    tss_store_close(fresh);
}

void cov_part_a(const cov_opts *o)
{
    bench_dataset d;
    size_t nwin = (size_t)o->days * 12, n = o->series;
    int runs = o->c.runs;
    int64_t head_b = o->head_min * 6, nb = (int64_t)nwin * WB + head_b;
    char *dir = bs_make_tmp(&o->c, "cov30");
    plan *pl = bs_alloc(n * sizeof(*pl));
    bytes_split bs;
    uint64_t sc_bytes, tbl_bytes, head_bytes, head_pts, tbl_files;
    a_times *at = bs_alloc(sizeof(*at));
    tss_store *s;

    if (head_b >= WB)
        bs_die("--head-minutes must be below 120");
    if (bench_synthetic(&d, n, 0, o->c.seed) != 0)
        bs_die("bench_synthetic failed");
    for (size_t i = 0; i < n; i++)
        cov_make_plan(&pl[i], i, nb, o->c.seed);
    printf("coverage, part A: %zu series, %d days (%zu sealed windows) + "
           "%d min in the head\n",
           n, o->days, nwin, o->head_min);
    build_a(o, dir, &d, pl, nb, &bs, &sc_bytes, &head_pts);
    tbl_bytes = bs_dir_bytes(dir, TSS_COV_TABLE_DIR, &tbl_files);
    head_bytes = bs_dir_bytes(dir, "head", NULL);
    s = bs_open(dir, 0, NULL);
    {
        double wo, wn;

        /* the handle's first query loads its series' groups of the head;
         * a query of another series then loads the head whole, and the
         * handle reads on from there */
        one_query(s, &d, pl, nb, 0, &wo, &wn);
        one_query(s, &d, pl, nb, d.n - 1, &wo, &wn); /* another host */
    }
    for (int r = 0; r < runs; r++)
        one_series(s, dir, &d, pl, nb, at, (size_t)r);
    for (int r = 0; r < runs; r++)
        all_series(s, dir, &d, pl, nb, at, (size_t)r);
    tss_store_close(s);
    printf("  checked: every series' gaps as planned, through the API\n");
    bs_print("one series: tss_coverage_open + next (handle that queried "
             "before)",
             at->one, runs, 1e-6, "ms");
    bs_print("- tss_coverage_open", at->open, runs, 1e-6, "ms");
    bs_print("- tss_coverage_next (judge)", at->next, runs, 1e-6, "ms");
    bs_print("one series: first query of a handle (its groups of the head)",
             at->cold, runs, 1e-6, "ms");
    bs_print("- for scale: head snapshot load (tss_snapshot_load alone)",
             at->head, runs, 1e-6, "ms");
    bs_print("- for scale: table snapshot, whole (tss_covtable_load)",
             at->table, runs, 1e-6, "ms");
    bs_print("- table snapshot, one series by its index "
             "(tss_covtable_load_select)",
             at->lookup, runs, 1e-6, "ms");
    bs_print("all series: tss_coverage_open + next all (handle that queried "
             "before)",
             at->all, runs, 1e-6, "ms");
    bs_print("- tss_coverage_open", at->all_open, runs, 1e-6, "ms");
    bs_print("- tss_coverage_next, all series", at->all_next, runs, 1e-6, "ms");
    bs_print("all series: first query of a handle", at->all_cold, runs, 1e-6,
             "ms");
    printf("  sidecars: %" PRIu64 " bytes in %zu files, %.1f bytes per series "
           "and segment\n",
           sc_bytes, nwin,
           (double)sc_bytes / (double)(bs.entries[0] + bs.entries[1]));
    for (int k = 0; k < 2; k++)
        if (bs.entries[k])
            printf("  - %s series: %" PRIu64 " entries, bitmap %.1f bytes\n",
                   k ? "60 s" : "10 s", bs.entries[k],
                   (double)bs.bitmap[k] / (double)bs.entries[k]);
    printf("  table snapshots: %" PRIu64 " bytes in %" PRIu64
           " files (the newest and its sparse predecessor); head snapshot "
           "%" PRIu64 " bytes, %" PRIu64 " points\n",
           tbl_bytes, tbl_files, head_bytes, head_pts);
    cov_plans_free(pl, n);
    free(at);
    bench_dataset_free(&d);
    bs_drop_tmp(&o->c, dir);
}
