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
 *      persisted with tss_store_snapshot, as in a live store.
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
    double one[MAX_RUNS], open[MAX_RUNS], next[MAX_RUNS], head[MAX_RUNS];
    double table[MAX_RUNS], idx[MAX_RUNS], pread[MAX_RUNS], all[MAX_RUNS];
    double all_open[MAX_RUNS];
    double all_next[MAX_RUNS], fast[MAX_RUNS];
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
    /* 3. the head: the last minutes as real points, snapshotted */
    s = bs_open(dir, TSS_OPEN_WRITER, NULL);
    *head_pts = 0;
    for (int64_t b = (int64_t)nwin * WB; b < nb; b++)
        for (size_t i = 0; i < n; i++)
            if (cov_plan_has(&pl[i], b)) {
                bs_check(tss_store_append(s, &d->s[i].id, d->s[i].kind,
                                          BS_W0 + b * BW + 1000 +
                                              (int64_t)(i * 7919 % 8000),
                                          value_at(d->s[i].kind, b)),
                         "append");
                (*head_pts)++;
            }
    bs_check(tss_store_snapshot(s, tss_store_now(s), TSS_SNAP_SYNC),
             "snapshot");
    tss_store_close(s);
    printf("  built in %.0f s (segments) + %.0f s (coverage) + %.0f s "
           "(head)\n",
           (t1 - t0) / 1e9, (t2 - t1) / 1e9, (bench_now_ns() - t2) / 1e9);
}

/* One series through the API, the parts of its open alone, and the
 * proposed lookup; every answer checked against the plan. */
static void one_series(tss_store *s, const bench_dataset *d, plan *pl,
                       int64_t nb, int64_t nfile, a_times *at, size_t r)
{
    size_t i = (r * 7919 + 13) % d->n;
    char glob[1600];
    tss_filter f = {0};
    tss_coverage *c;
    tss_coverage_series cs;
    tss_snap_view hv;
    tss_covtable *t;
    roaring_bitmap_t *bm;
    gaps x = {0}, y = {0};
    cov_loc loc;
    int64_t iv;
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
    at->next[r] = bench_now_ns() - t1;
    at->open[r] = t1 - t0;
    at->one[r] = at->open[r] + at->next[r];
    cov_plan_gaps(&pl[i], nb, &x);
    cov_same_gaps(&cs, &x, glob);
    if (tss_coverage_next(c, &cs) != 0 || tss_coverage_segments_decoded(c))
        bs_die("coverage of %s: more than one series, or decoded", glob);
    tss_coverage_close(c);
    t0 = bench_now_ns();
    bs_check(tss_snapshot_load(s->st, &s->info, NULL, NULL, false, &hv),
             "tss_snapshot_load");
    at->head[r] = bench_now_ns() - t0;
    tss_snap_view_free(&hv);
    t0 = bench_now_ns();
    bs_check(tss_covtable_load(&t, s->st, BW, NULL, NULL), "tss_covtable_load");
    at->table[r] = bench_now_ns() - t0;
    tss_covtable_free(t);
    /* proposed: the sealed part by key, then the judge (no head) */
    cov_plan_gaps(&pl[i], nfile, &x);
    t0 = bench_now_ns();
    bm = cov_table_lookup(s->st, d->s[i].key, d->s[i].key_len, &loc);
    iv = (loc.interval + BW - 1) / BW;
    cov_judge_fast(bm, BS_W0 / BW, BS_W0 / BW + nfile - 1, iv, &y);
    at->idx[r] = bench_now_ns() - t0;
    roaring_bitmap_free(bm);
    cov_same_gap_list(&y, &x, glob);
    /* and with an index of entry offsets: that entry alone */
    t0 = bench_now_ns();
    bm = cov_table_pread(s->st, &loc);
    cov_judge_fast(bm, BS_W0 / BW, BS_W0 / BW + nfile - 1, iv, &y);
    at->pread[r] = bench_now_ns() - t0;
    roaring_bitmap_free(bm);
    cov_same_gap_list(&y, &x, glob);
    free(x.g);
    free(y.g);
}

/* The whole store's report through the API, then the proposed judge over
 * the same table; both checked against the plan. */
static void all_series(tss_store *s, const bench_dataset *d, plan *pl,
                       int64_t nb, a_times *at, size_t r)
{
    tss_filter f = {0};
    tss_coverage *c;
    tss_coverage_series cs;
    tss_covtable *t;
    const tss_cov_entry **v = bs_alloc(d->n * sizeof(*v));
    gaps x = {0}, y = {0};
    char name[1600];
    double t0, t1, check = 0;
    size_t i = 0, m = 0;
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
    at->all_next[r] = bench_now_ns() - t1 - check;
    at->all_open[r] = t1 - t0;
    at->all[r] = at->all_open[r] + at->all_next[r];
    bs_check(rc < 0 ? rc : 0, "tss_coverage_next");
    if (i != d->n)
        bs_die("coverage: %zu series, expected %zu", i, d->n);
    tss_coverage_close(c);
    t = cov_open_table(s);
    for (const tss_cov_entry *e = tss_covtable_iter(t, NULL); e && m < d->n;
         e = tss_covtable_iter(t, e))
        v[m++] = e;
    qsort(v, m, sizeof(*v), cov_cmp_entry);
    at->fast[r] = 0;
    for (i = 0; i < m; i++) {
        t0 = bench_now_ns();
        cov_judge_fast(v[i]->bm, BS_W0 / BW, BS_W0 / BW + nb - 1,
                       (v[i]->interval + BW - 1) / BW, &y);
        at->fast[r] += bench_now_ns() - t0;
        bs_ident(d, i, name, sizeof(name));
        cov_plan_gaps(&pl[i], nb, &x);
        cov_same_gap_list(&y, &x, name);
    }
    tss_covtable_free(t);
    free(v);
    free(x.g);
    free(y.g);
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
    for (int r = 0; r < runs; r++)
        one_series(s, &d, pl, nb, (int64_t)nwin * WB, at, (size_t)r);
    for (int r = 0; r < runs; r++)
        all_series(s, &d, pl, nb, at, (size_t)r);
    tss_store_close(s);
    printf("  checked: every series' gaps as planned, through the API and "
           "the prototypes\n");
    bs_print("one series: tss_coverage_open + next", at->one, runs, 1e-6, "ms");
    bs_print("- tss_coverage_open", at->open, runs, 1e-6, "ms");
    bs_print("-- head snapshot load (tss_snapshot_load alone)", at->head, runs,
             1e-6, "ms");
    bs_print("-- table snapshot load (tss_covtable_load alone)", at->table,
             runs, 1e-6, "ms");
    bs_print("- tss_coverage_next (judge)", at->next, runs, 1e-6, "ms");
    bs_print("one series, proposed: table by key + cov_judge_fast", at->idx,
             runs, 1e-6, "ms");
    bs_print("one series, proposed: entry by index + cov_judge_fast", at->pread,
             runs, 1e-6, "ms");
    bs_print("all series: tss_coverage_open + next all", at->all, runs, 1e-6,
             "ms");
    bs_print("- tss_coverage_open", at->all_open, runs, 1e-6, "ms");
    bs_print("- tss_coverage_next, all series", at->all_next, runs, 1e-6, "ms");
    bs_print("- proposed cov_judge_fast, all series", at->fast, runs, 1e-6,
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
