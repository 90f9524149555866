/*
 * Coverage queries: covered ranges and gaps per series, from the table
 * snapshot and sidecars (see tsstore/coverage.h for the gap rule).
 */
#define _GNU_SOURCE
#include "tsstore/coverage.h"

#include <stdlib.h>

#include "coverage.h"
#include "series.h"
#include "snapshot.h"
#include "store_internal.h"

struct tss_coverage {
    tss_store *s;
    tss_filter f;
    char *glob, *ds;
    tss_covtable *t;
    tss_snap_view head;
    const tss_cov_entry **v;
    size_t n, pos;
    tss_cov_stats stats;
    uint8_t key[TSS_KEY_MAX];
    tss_cov_run *runs;
    size_t nruns, cap;
};

static int cmp_entries(const void *a, const void *b)
{
    const tss_cov_entry *x = *(const tss_cov_entry *const *)a;
    const tss_cov_entry *y = *(const tss_cov_entry *const *)b;

    return tss_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The head snapshot is loaded before the segment listing (see query.c)
 * and unioned in after: coverage is segments plus head. */
static int add_head(tss_coverage *c)
{
    return tss_snapshot_load(c->s->st, &c->s->info, c->s->log, c->s->log_ctx,
                             false, &c->head);
}

static int merge_head(tss_coverage *c)
{
    tss_point *pts = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0; i < c->head.n && rc == 0; i++) {
        const tss_snap_item *it = &c->head.items[i];
        size_t n = 0;

        if (it->dropped)
            continue;
        rc = tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, &n, &cap);
        if (rc == 0)
            rc = tss_covtable_add_points(c->t, it->key, it->key_len, pts, n);
    }
    tss_free(pts);
    tss_snap_view_free(&c->head);
    return rc;
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
    if ((rc = add_head(c)) != 0 ||
        (rc = tss_cov_collect(s, false, false, &c->t, &c->stats)) != 0 ||
        (rc = merge_head(c)) != 0)
        goto fail;
    for (const tss_cov_entry *e = tss_covtable_iter(c->t, NULL); e;
         e = tss_covtable_iter(c->t, e)) {
        tss_key_view kv;

        memcpy(c->key, e->key, e->key_len);
        if (tss_key_decode(c->key, e->key_len, &kv) != 0 ||
            !tss_filter_match(&c->f, &kv.id))
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
    if (c->n > 1)
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
    tss_covtable_free(c->t);
    tss_snap_view_free(&c->head);
    tss_free(c->v);
    tss_free(c->runs);
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
 * The interval of a series no sidecar knows one for (every segment holds
 * at most one of its points: a series written every 60 s in 60 s
 * segments): the median distance between its buckets in [bf, bt], in
 * buckets; 0 with fewer than two buckets. Out of memory, it estimates from
 * the distances gathered so far.
 */
static int64_t bucket_spacing(const tss_cov_entry *e, int64_t bf, int64_t bt)
{
    int64_t vf = tss_cov_bucket_value(bf), prev = 0, m = 0, *d = NULL;
    size_t n = 0, cap = 0;
    roaring_uint32_iterator_t it;
    bool first = true;

    roaring_init_iterator(e->bm, &it);
    if (vf > 0)
        roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)vf);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        int64_t b = (int64_t)it.current_value + TSS_COV_BASE_BUCKET;

        if (b < bf)
            continue;
        if (b > bt)
            break;
        if (!first && n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            int64_t *nd = tss_realloc(d, nc * sizeof(*nd));

            if (!nd)
                break;
            d = nd;
            cap = nc;
        }
        if (!first)
            d[n++] = b - prev;
        first = false;
        prev = b;
    }
    if (n) {
        qsort(d, n, sizeof(*d), cmp_i64);
        m = d[n / 2];
    }
    tss_free(d);
    return m;
}

/*
 * Classifies buckets [bf, bt] of one series: runs of empty buckets longer
 * than `tolerance` are gaps, everything else is covered.
 */
static int judge(tss_coverage *c, const tss_cov_entry *e, int64_t bf,
                 int64_t bt, tss_coverage_series *out)
{
    int64_t w = c->s->info.bucket_width, cur = bf, tol;
    int64_t vf = tss_cov_bucket_value(bf);
    roaring_uint32_iterator_t it;
    int rc = 0;

    out->interval = e->interval;
    if (out->interval <= 0)
        out->interval = bucket_spacing(e, bf, bt) * w;
    tol = out->interval > 0 ? (out->interval + w - 1) / w : 1;
    if (tol < 1)
        tol = 1;
    c->nruns = 0;
    out->gaps = 0;
    out->gap_time = 0;
    roaring_init_iterator(e->bm, &it);
    if (vf > 0)
        roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)vf);
    for (; it.has_value && rc == 0; roaring_advance_uint32_iterator(&it)) {
        int64_t b = (int64_t)it.current_value + TSS_COV_BASE_BUCKET;

        if (b < bf)
            continue;
        if (b > bt)
            break;
        if (b - cur > tol) {
            rc = push_run(c, bf * w, cur * w, 1);
            if (rc == 0)
                rc = push_run(c, cur * w, b * w, 0);
            out->gaps++;
            out->gap_time += (b - cur) * w;
            bf = b;
        }
        cur = b + 1;
    }
    if (rc == 0 && bt + 1 - cur > tol) {
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

int tss_coverage_next(tss_coverage *c, tss_coverage_series *out)
{
    int64_t w = c->s->info.bucket_width;

    while (c->pos < c->n) {
        const tss_cov_entry *e = c->v[c->pos++];
        tss_key_view kv;
        int64_t bf, bt;
        double span;
        int rc;

        memcpy(c->key, e->key, e->key_len);
        if (tss_key_decode(c->key, e->key_len, &kv) != 0)
            continue;
        if (c->f.has_from)
            bf = floor_div(c->f.from, w);
        else if (!roaring_bitmap_is_empty(e->bm))
            bf = (int64_t)roaring_bitmap_minimum(e->bm) + TSS_COV_BASE_BUCKET;
        else
            continue;
        if (c->f.has_to)
            bt = floor_div(c->f.to, w);
        else if (!roaring_bitmap_is_empty(e->bm))
            bt = (int64_t)roaring_bitmap_maximum(e->bm) + TSS_COV_BASE_BUCKET;
        else
            continue;
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
