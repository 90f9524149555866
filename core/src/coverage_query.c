/*
 * Coverage queries: covered ranges and gaps per series, from the table
 * snapshot, the sidecars of segments newer than it and the head snapshot
 * (see tsstore/coverage.h for the gap rule), less what deletes in effect
 * hide (coverage_delete.c).
 *
 * A query loads only the series its filter can match: the table snapshot
 * by its index (the keys a glob's literal start allows), the head's items
 * in that key range; and keeps the table's bitmaps as the file's bytes,
 * walked run by run (tss_cov_runs) rather than bucket by bucket, unless a
 * sidecar, the head or a delete changes one.
 */
#define _GNU_SOURCE
#include "coverage_query.h"

#include <stdio.h>
#include <stdlib.h>

#include "coverage_internal.h"
#include "series.h"
#include "snapshot.h"

static int cmp_entries(const void *a, const void *b)
{
    const tss_cov_entry *x = *(const tss_cov_entry *const *)a;
    const tss_cov_entry *y = *(const tss_cov_entry *const *)b;

    return tss_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

#define floor_div tss_cov_floor_div

/*
 * The head snapshot is read before the segment listing (see query.c) and
 * unioned in after: coverage is segments plus head. It is read through
 * the store handle's cache (snapshot_cache.c), so a handle that queries
 * again replays only the log records appended since; and of the series
 * the query selects only.
 */
static int add_head(tss_coverage *c)
{
    tss_store *s = c->s;
    const tss_snap_view *v;
    const uint32_t *idx = NULL;
    tss_point *pts = NULL;
    size_t cap = 0, nidx = 0;
    int rc;

    if ((rc = tss_covtable_new_part(&c->hcov, s->info.bucket_width)) != 0)
        return rc;
    pthread_mutex_lock(&s->head_mu);
    rc = tss_snap_cache_load(&s->head_cache, s->st, &s->info, s->log,
                             s->log_ctx, c->sel.lo, c->sel.lo_len, c->sel.hi,
                             c->sel.hi_len, &v);
    if (rc == 0) {
        c->head_gen = v->newest_seen;
        c->head_damaged = v->damaged; /* logged when it was read */
        nidx = v->n;
    }
    /* within the glob's key bounds only: the cache keeps them sorted */
    if (rc == 0 && (c->sel.lo || c->sel.hi))
        rc = tss_snap_cache_range(s->head_cache, c->sel.lo, c->sel.lo_len,
                                  c->sel.hi, c->sel.hi_len, &idx, &nidx);
    for (size_t i = 0; rc == 0 && i < nidx; i++) {
        const tss_snap_item *it = &v->items[idx ? idx[i] : i];
        size_t n = 0;

        if (it->dropped || !tss_cov_selected(&c->sel, it->key, it->key_len))
            continue;
        rc = tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, &n, &cap);
        if (rc == 0)
            rc = tss_covtable_add_points(c->hcov, it->key, it->key_len, pts, n);
    }
    pthread_mutex_unlock(&s->head_mu);
    tss_free(pts);
    return rc;
}

/* Drops what a load read, to load again (or to close). */
static void unload(tss_coverage *c)
{
    tss_covtable_free(c->t);
    tss_covtable_free(c->hcov);
    c->t = c->hcov = NULL;
    tss_delset_free(&c->del);
    for (size_t i = 0; i < c->ntombs; i++)
        tss_tomb_free(&c->tombs[i].t);
    tss_free(c->tombs);
    c->tombs = NULL;
    c->ntombs = 0;
    tss_storage_names_free(c->names, c->nnames);
    tss_storage_names_free(c->tnames, c->ntnames);
    c->names = c->tnames = NULL;
    c->nnames = c->ntnames = 0;
    tss_free(c->rolled);
    tss_free(c->rtol);
    c->rolled = NULL;
    c->rtol = NULL;
    c->nrolled = 0;
    memset(&c->stats, 0, sizeof(c->stats));
}

static int cmp_rolled(const void *a, const void *b)
{
    const tss_cov_rolled *x = a, *y = b;

    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return (x->width > y->width) - (x->width < y->width);
}

/* c->rolled from c->names: the rollup windows' bucket ranges, a stretch
 * of windows of one width as one range. TSS_ENOMEM. */
static int find_rolled(tss_coverage *c)
{
    int64_t w = c->s->info.bucket_width;
    size_t n = 0;

    c->rolled = tss_calloc(c->nnames ? c->nnames : 1, sizeof(*c->rolled));
    c->rtol = tss_calloc(c->nnames ? c->nnames : 1, sizeof(*c->rtol));
    if (!c->rolled || !c->rtol)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->nnames; i++) {
        tss_seg_name sn;

        if (tss_seg_name_parse(c->names[i], &sn) != 0) {
            tss_error_clear(); /* the query reports it where it reads it */
            continue;
        }
        if (sn.end - sn.start == c->s->info.span)
            continue; /* raw */
        c->rolled[n].lo = floor_div(sn.start, w);
        c->rolled[n].hi = floor_div(sn.end - 1, w);
        c->rolled[n].width = sn.end - sn.start;
        n++;
    }
    qsort(c->rolled, n, sizeof(*c->rolled), cmp_rolled);
    c->nrolled = 0;
    for (size_t i = 0; i < n; i++) {
        tss_cov_rolled *last = c->nrolled ? &c->rolled[c->nrolled - 1] : NULL;

        if (last && last->width == c->rolled[i].width &&
            c->rolled[i].lo <= last->hi + 1) {
            if (c->rolled[i].hi > last->hi)
                last->hi = c->rolled[i].hi;
            continue;
        }
        c->rolled[c->nrolled++] = c->rolled[i];
    }
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

/*
 * Lists the segments directory once: the segments (c->names) and their
 * tombstone files (c->tnames), each sorted. The tombstones are listed
 * before the head is read now, not after the table; the listing after the
 * load compares both, so a tombstone file that appears meanwhile loads
 * again as a new segment does.
 */
static int list_segments(tss_coverage *c)
{
    char **all = NULL;
    size_t nall = 0, ns = 0, nt = 0;
    int rc;

    if ((rc = tss_storage_list(c->s->st, TSS_SEG_DIR, "", NULL, &all, &nall)) !=
        0)
        return rc;
    c->names = tss_calloc(nall ? nall : 1, sizeof(*c->names));
    c->tnames = tss_calloc(nall ? nall : 1, sizeof(*c->tnames));
    if (!c->names || !c->tnames) {
        tss_storage_names_free(all, nall);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nall; i++) {
        if (ends_with(all[i], ".seg"))
            c->names[ns++] = all[i];
        else if (ends_with(all[i], ".tombstones"))
            c->tnames[nt++] = all[i];
        else
            tss_free(all[i]);
    }
    tss_free(all);
    c->nnames = ns;
    c->ntnames = nt;
    return find_rolled(c);
}

/* True if the segments directory lists what c->names and c->tnames hold
 * (names: tss_storage_list's, sorted). */
static bool same_listing(const tss_coverage *c, char **now, size_t nnow)
{
    size_t ks = 0, kt = 0;

    for (size_t i = 0; i < nnow; i++) {
        if (ends_with(now[i], ".seg")) {
            if (ks == c->nnames || strcmp(now[i], c->names[ks++]) != 0)
                return false;
        } else if (ends_with(now[i], ".tombstones")) {
            if (kt == c->ntnames || strcmp(now[i], c->tnames[kt++]) != 0)
                return false;
        }
    }
    return ks == c->nnames && kt == c->ntnames;
}

/*
 * Loads head, segment coverage, tombstones and documents, in the order
 * queries load them (query.c): the head snapshot first, the documents
 * last, so whatever effect of a delete this load saw, it also sees the
 * document. A delete that completed meanwhile (compaction removed its
 * targets, the head was rewritten) can have left the coverage loaded
 * before it and lost its document: when the segments or tombstone files
 * listed or the head's generation changed during the load, load again.
 */
static int load(tss_coverage *c)
{
    tss_store *s = c->s;
    int rc, attempt = 0;

again:
    if ((rc = list_segments(c)) != 0 || (rc = add_head(c)) != 0 ||
        (rc = tss_cov_collect_select(s, false, false, &c->sel, c->names,
                                     c->nnames, &c->t, &c->stats)) != 0 ||
        (rc = tss_cov_read_tombstones(c)) != 0 ||
        (rc = tss_delset_load(s->st, s->log, s->log_ctx, &c->del)) != 0)
        return rc;
    /* a corrupt document was skipped (and logged): counted like any
     * skipped file (unload resets the count for a new load) */
    c->stats.errors += c->del.bad + c->head_damaged;
    for (size_t i = 0; i < c->ntombs; i++) {
        if ((rc = tss_delset_resolve(s->st, &c->del, &c->tombs[i].t)) != 0)
            return rc;
    }
    if (attempt++ < 16) {
        char **now = NULL;
        size_t nnow = 0;
        bool same;

        if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", NULL, &now,
                                   &nnow)) != 0)
            return rc;
        same = same_listing(c, now, nnow) &&
               tss_snapshot_newest(s->st) <= c->head_gen;
        tss_storage_names_free(now, nnow);
        if (!same) {
            unload(c);
            goto again;
        }
    }
    for (size_t i = 0; i < c->ntombs; i++)
        for (size_t k = 0; k < c->tombs[i].t.n && !c->tombs[i].orphans; k++)
            c->tombs[i].orphans = tss_cov_orphan(c, &c->tombs[i].t.entries[k]);
    if ((rc = tss_covtable_union(c->t, c->hcov)) != 0)
        return rc;
    for (size_t i = 0; i < c->ntombs; i++)
        if (c->tombs[i].orphans)
            return tss_cov_clear_orphans(c);
    return 0;
}

/*
 * The keys a series glob can match: a matching identifier starts with
 * the glob's literal text up to its first '/' or wildcard, and, that text
 * holding no '/', the host field starts with it, so the key does too
 * (series.h: the key starts with the host).
 */
static void glob_bounds(tss_coverage *c)
{
    const char *g = c->f.series_glob;
    size_t k = 0, h;

    while (g && g[k] && !strchr("*?[\\/", g[k]) && k < TSS_FIELD_MAX)
        k++;
    if (k == 0)
        return;
    memcpy(c->lo, g, k);
    memcpy(c->hi, g, k);
    /* above every key that starts with lo: lo's last byte below 0xff
     * raised by one, the bytes after it dropped */
    for (h = k; h > 0 && c->hi[h - 1] == 0xff; h--)
        ;
    c->sel.lo = c->lo;
    c->sel.lo_len = k;
    if (h > 0) {
        c->hi[h - 1]++;
        c->sel.hi = c->hi;
        c->sel.hi_len = h;
    }
}

static bool filter_match(void *ctx, const uint8_t *key, size_t len)
{
    tss_coverage *c = ctx;
    tss_key_view kv;

    return tss_key_decode(key, len, &kv) == 0 &&
           tss_filter_match(&c->f, &kv.id);
}

/* True if the entry holds no bucket. */
static int entry_empty(tss_coverage *c, const tss_cov_entry *e, bool *empty)
{
    tss_cov_runs r;
    uint32_t lo, hi;
    int rc;

    if (e->bm) {
        *empty = roaring_bitmap_is_empty(e->bm);
        return 0;
    }
    if ((rc = tss_cov_runs_start(&r, e, &c->scratch, 0)) != 0)
        return rc;
    *empty = !tss_cov_runs_next(&r, &lo, &hi);
    return 0;
}

static bool sorted(const tss_cov_entry *const *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (tss_key_cmp(v[i - 1]->key, v[i - 1]->key_len, v[i]->key,
                        v[i]->key_len) > 0)
            return false;
    return true;
}

int tss_coverage_open(tss_coverage **out, tss_store *s, const tss_filter *f)
{
    tss_coverage *c;
    size_t cap = 0;
    int rc;

    *out = NULL;
    c = tss_calloc(1, sizeof(*c));
    if (!c)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    c->s = s;
    if (f)
        c->f = *f;
    if ((c->f.series_glob && !(c->glob = tss_strdup(c->f.series_glob))) ||
        (c->f.ds && !(c->ds = tss_strdup(c->f.ds)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto fail;
    }
    c->f.series_glob = c->glob;
    c->f.ds = c->ds;
    if (c->f.has_from && c->f.has_to && c->f.from > c->f.to) {
        rc = tss_error_set(TSS_EINVAL, "the range ends before it starts");
        goto fail;
    }
    glob_bounds(c);
    if (c->f.series_glob || c->f.ds) {
        c->sel.match = filter_match;
        c->sel.ctx = c;
    }
    if ((rc = load(c)) != 0)
        goto fail;
    /* the load kept only what the filter matches */
    for (const tss_cov_entry *e = tss_covtable_iter(c->t, NULL); e;
         e = tss_covtable_iter(c->t, e)) {
        bool empty;

        if ((rc = tss_cov_clear_predicates(c, e)) != 0 ||
            (rc = entry_empty(c, e, &empty)) != 0)
            goto fail;
        /* every point deleted: gone, as after compaction */
        if (empty)
            continue;
        if (c->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            const tss_cov_entry **nv = tss_realloc(c->v, nc * sizeof(*nv));

            if (!nv) {
                rc = tss_error_set(TSS_ENOMEM, "out of memory");
                goto fail;
            }
            c->v = nv;
            cap = nc;
        }
        c->v[c->n++] = e;
    }
    /* a table snapshot's series come in key order; only series it does
     * not hold (newer sidecars, the head) can be out of place */
    if (c->n > 1 && !sorted(c->v, c->n))
        qsort(c->v, c->n, sizeof(*c->v), cmp_entries);
    *out = c;
    return 0;
fail:
    tss_coverage_close(c);
    return rc;
}

void tss_coverage_close(tss_coverage *c)
{
    if (!c)
        return;
    unload(c);
    tss_free(c->ranges);
    tss_free(c->v);
    tss_free(c->runs);
    tss_free(c->dist);
    tss_buf_free(&c->scratch);
    tss_free(c->glob);
    tss_free(c->ds);
    tss_free(c);
}

uint64_t tss_coverage_segments_decoded(const tss_coverage *c)
{
    return c->stats.decoded;
}

uint64_t tss_coverage_errors(const tss_coverage *c)
{
    return c->stats.errors;
}

static int push_run(tss_coverage *c, int64_t from, int64_t to, int covered)
{
    if (from >= to)
        return 0;
    if (c->nruns && c->runs[c->nruns - 1].covered == covered) {
        c->runs[c->nruns - 1].to = to;
        return 0;
    }
    if (c->nruns == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        tss_cov_run *nr = tss_realloc(c->runs, nc * sizeof(*nr));

        if (!nr)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        c->runs = nr;
        c->cap = nc;
    }
    c->runs[c->nruns].from = from;
    c->runs[c->nruns].to = to;
    c->runs[c->nruns].covered = covered;
    c->nruns++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * A cursor over the runs of present buckets of `e` that meet [bf, bt],
 * clipped to it: absolute buckets.
 */
typedef struct bucket_runs {
    tss_cov_runs r;
    int64_t bf, bt;
    uint32_t buf[128][2];
    size_t k, n;
} bucket_runs;

/* `slack`: tss_cov_runs_start's. */
static int bucket_runs_start(tss_coverage *c, bucket_runs *br,
                             const tss_cov_entry *e, int64_t bf, int64_t bt,
                             uint32_t slack)
{
    int rc = tss_cov_runs_start(&br->r, e, &c->scratch, slack);

    if (rc)
        return rc;
    br->bf = bf;
    br->bt = bt;
    br->k = br->n = 0;
    if (bf > TSS_COV_BASE_BUCKET)
        tss_cov_runs_seek(&br->r, bf - TSS_COV_BASE_BUCKET > UINT32_MAX
                                      ? UINT32_MAX
                                      : (uint32_t)(bf - TSS_COV_BASE_BUCKET));
    return 0;
}

static inline bool bucket_runs_next(bucket_runs *br, int64_t *lo, int64_t *hi)
{
    for (;;) {
        if (br->k == br->n) {
            br->n = tss_cov_runs_read(&br->r, br->buf, 128);
            br->k = 0;
            if (br->n == 0)
                return false;
        }
        *lo = (int64_t)br->buf[br->k][0] + TSS_COV_BASE_BUCKET;
        *hi = (int64_t)br->buf[br->k][1] + TSS_COV_BASE_BUCKET;
        br->k++;
        if (*hi < br->bf)
            continue;
        if (*lo > br->bt)
            return false;
        if (*lo < br->bf)
            *lo = br->bf;
        if (*hi > br->bt)
            *hi = br->bt;
        return true;
    }
}

/*
 * The interval of a series no sidecar knows one for (every segment holds
 * at most one of its points: a series written every 60 s in 60 s
 * segments): the median distance between its buckets in [bf, bt], in
 * buckets; 0 with fewer than two buckets. Within a run of buckets every
 * distance is 1; between runs it is the run's start less the last one's
 * end.
 */
static int bucket_spacing(tss_coverage *c, const tss_cov_entry *e, int64_t bf,
                          int64_t bt, int64_t *out)
{
    bucket_runs br;
    int64_t lo, hi, prev = 0;
    uint64_t ones = 0;
    size_t n = 0;
    bool first = true;
    int rc;

    *out = 0;
    if ((rc = bucket_runs_start(c, &br, e, bf, bt, 0)) != 0)
        return rc;
    while (bucket_runs_next(&br, &lo, &hi)) {
        ones += (uint64_t)(hi - lo);
        if (!first) {
            if (n == c->dcap) {
                size_t nc = c->dcap ? c->dcap * 2 : 64;
                int64_t *nd = tss_realloc(c->dist, nc * sizeof(*nd));

                if (!nd)
                    return tss_error_set(TSS_ENOMEM, "out of memory");
                c->dist = nd;
                c->dcap = nc;
            }
            c->dist[n++] = lo - prev;
        }
        first = false;
        prev = hi;
    }
    if (ones + n == 0)
        return 0;
    qsort(c->dist, n, sizeof(*c->dist), cmp_i64);
    /* the sorted distances are `ones` ones, then dist[] (all > 1) */
    {
        uint64_t mid = (ones + n) / 2;

        *out = mid < ones ? 1 : c->dist[mid - ones];
    }
    return 0;
}

/*
 * The tolerance for the empty buckets [a, b]: the series' own (tol), or
 * in a rollup window's range the spacing of its aggregates there (rtol),
 * the largest of those the run touches.
 */
static int64_t tol_at(const tss_coverage *c, int64_t a, int64_t b, int64_t tol)
{
    for (size_t k = 0; k < c->nrolled; k++)
        if (c->rolled[k].lo <= b && c->rolled[k].hi >= a && c->rtol[k] > tol)
            tol = c->rtol[k];
    return tol;
}

/* Buckets of `interval` (store units) a gap must exceed: whole buckets
 * in the interval plus 1% of it, for the jitter of readings either way
 * (collectd's timestamps move by milliseconds, a slow plugin's by more:
 * 10.001 s at 10 s buckets is 1, 60 s is 6, an hour 363, so one missed
 * reading is a gap). With exact spacing the empty buckets between two
 * readings are at most the interval's whole buckets. At least 1. */
static int64_t interval_tol(int64_t interval, int64_t w)
{
    int64_t tol;

    if (interval <= 0)
        return 1;
    tol = (interval + interval / 100) / w;
    return tol < 1 ? 1 : tol;
}

/*
 * Classifies buckets [bf, bt] of one series: runs of empty buckets longer
 * than `tolerance` are gaps, everything else is covered. Walks the runs of
 * present buckets, so a series costs its runs, not its buckets; runs no
 * more than `tol` buckets apart come as one (no gap can lie between them,
 * and the bucket after the merged run is the one after its last present
 * bucket, as it is after the run's own).
 */
static int judge(tss_coverage *c, const tss_cov_entry *e, int64_t bf,
                 int64_t bt, tss_coverage_series *out)
{
    int64_t w = c->s->info.bucket_width, cur = bf, tol, lo, hi;
    bucket_runs br;
    int rc = 0;

    out->interval = e->interval;
    if (out->interval <= 0) {
        int64_t spacing;

        if ((rc = bucket_spacing(c, e, bf, bt, &spacing)) != 0)
            return rc;
        out->interval = spacing * w;
    }
    tol = interval_tol(out->interval, w);
    /* rollup windows: the spacing of the series' aggregates in each
     * (the series' interval is its newest, raw data's) */
    for (size_t k = 0; k < c->nrolled; k++) {
        int64_t rlo = c->rolled[k].lo > bf ? c->rolled[k].lo : bf;
        int64_t rhi = c->rolled[k].hi < bt ? c->rolled[k].hi : bt, sp = 0;

        if (rlo <= rhi && (rc = bucket_spacing(c, e, rlo, rhi, &sp)) != 0)
            return rc;
        c->rtol[k] = sp;
    }
    c->nruns = 0;
    out->gaps = 0;
    out->gap_time = 0;
    if ((rc = bucket_runs_start(c, &br, e, bf, bt,
                                tol > UINT32_MAX ? UINT32_MAX
                                                 : (uint32_t)tol)) != 0)
        return rc;
    while (rc == 0 && bucket_runs_next(&br, &lo, &hi)) {
        if (lo - cur > tol_at(c, cur, lo - 1, tol)) {
            rc = push_run(c, bf * w, cur * w, 1);
            if (rc == 0)
                rc = push_run(c, cur * w, lo * w, 0);
            out->gaps++;
            out->gap_time += (lo - cur) * w;
            bf = lo;
        }
        cur = hi + 1;
    }
    if (rc == 0 && bt + 1 - cur > tol_at(c, cur, bt, tol)) {
        rc = push_run(c, bf * w, cur * w, 1);
        if (rc == 0)
            rc = push_run(c, cur * w, (bt + 1) * w, 0);
        out->gaps++;
        out->gap_time += (bt + 1 - cur) * w;
    } else if (rc == 0) {
        rc = push_run(c, bf * w, (bt + 1) * w, 1);
    }
    return rc;
}

/* The first and last bucket of a non-empty entry. */
static int bucket_bounds(tss_coverage *c, const tss_cov_entry *e,
                         int64_t *first, int64_t *last)
{
    bucket_runs br;
    int64_t lo, hi;
    bool any = false;
    int rc;

    if ((rc = bucket_runs_start(c, &br, e, INT64_MIN, INT64_MAX, UINT32_MAX)) !=
        0)
        return rc;
    while (bucket_runs_next(&br, &lo, &hi)) {
        if (!any)
            *first = lo;
        *last = hi;
        any = true;
    }
    return any ? 0 : 1;
}

int tss_coverage_next(tss_coverage *c, tss_coverage_series *out)
{
    int64_t w = c->s->info.bucket_width;

    while (c->pos < c->n) {
        const tss_cov_entry *e = c->v[c->pos++];
        tss_key_view kv;
        int64_t bf, bt, first = 0, last = 0;
        double span;
        int rc;

        memcpy(c->key, e->key, e->key_len);
        if (tss_key_decode(c->key, e->key_len, &kv) != 0)
            continue;
        if ((!c->f.has_from || !c->f.has_to) &&
            (rc = bucket_bounds(c, e, &first, &last)) != 0) {
            if (rc < 0)
                return rc;
            continue; /* no bucket */
        }
        bf = c->f.has_from ? floor_div(c->f.from, w) : first;
        bt = c->f.has_to ? floor_div(c->f.to, w) : last;
        /* Times stay within +-TSS_TIME_LIMIT, so every bucket edge
         * (bucket * w) fits in int64 even for a filter beyond them. */
        if (bf < floor_div(-TSS_TIME_LIMIT, w))
            bf = floor_div(-TSS_TIME_LIMIT, w);
        if (bt > floor_div(TSS_TIME_LIMIT, w))
            bt = floor_div(TSS_TIME_LIMIT, w);
        if (bt < bf)
            continue;
        if ((rc = judge(c, e, bf, bt, out)) != 0)
            return rc;
        out->id = kv.id;
        out->kind = kv.kind;
        out->from = bf * w;
        out->to = (bt + 1) * w;
        out->runs = c->runs;
        out->nruns = c->nruns;
        /* In double: a range over both ends of the time line (2^63 store
         * units) does not fit an int64 difference. */
        span = (double)out->to - (double)out->from;
        out->percent = 100.0 * (span - (double)out->gap_time) / span;
        return 1;
    }
    return 0;
}
