/*
 * Rollups (format in rollup.h): the writer's pass that replaces old
 * windows by aggregates at a coarser resolution, and drops rollups past
 * their Keep.
 *
 * Per window, all its segments (raw, and rollups of a finer resolution)
 * are turned into partial aggregates — a raw point is an interval of one
 * point — which are folded into the target intervals in time order (for
 * equal times, the later written segment last: last-written wins, as for
 * raw points). The result is written as one rollup segment that
 * supersedes the window's segments, with a coverage sidecar at the rollup
 * resolution, then the old segments are removed: the compaction order, so
 * a crash at any step is invisible.
 */
#define _GNU_SOURCE
#include "rollup.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "compact.h"
#include "delset.h"
#include "series.h"
#include "store_internal.h"
#include "tombstone.h"

bool tss_agg_valid(int kind, int agg)
{
    switch (kind) {
    case TSS_KIND_GAUGE:
        return agg >= TSS_AGG_MIN && agg <= TSS_AGG_VALID;
    case TSS_KIND_DERIVE:
        return agg == TSS_AGG_FIRST || agg == TSS_AGG_LAST ||
               agg == TSS_AGG_COUNT;
    case TSS_KIND_COUNTER:
        return agg == TSS_AGG_FIRST || agg == TSS_AGG_LAST ||
               agg == TSS_AGG_COUNT || agg == TSS_AGG_WRAPS;
    case TSS_KIND_ABSOLUTE:
        return agg == TSS_AGG_SUM || agg == TSS_AGG_COUNT;
    default:
        return false;
    }
}

int tss_agg_kind(int kind, int agg)
{
    return agg == TSS_AGG_COUNT || agg == TSS_AGG_VALID || agg == TSS_AGG_WRAPS
               ? TSS_KIND_COUNTER
               : kind;
}

const char *tss_agg_name(int agg)
{
    static const char *const names[TSS_AGG_END] = {
        "", "min", "max", "sum", "last", "count", "valid", "first", "wraps"};

    return agg >= TSS_AGG_MIN && agg < TSS_AGG_END ? names[agg] : "";
}

int64_t tss_rollup_width(int64_t span, int64_t resolution, uint32_t intervals)
{
    int64_t w = span;
    int64_t want = intervals ? intervals : TSS_ROLLUP_INTERVALS;

    for (int k = 1; k < TSS_ROLLUP_MAX_SPANS && w / resolution < want; k *= 2)
        w *= 2;
    return w;
}

bool tss_window_valid(int64_t span, int64_t start, int64_t end, bool rollup)
{
    int64_t w = end - start;

    if (w <= 0 || start % span != 0)
        return false;
    if (!rollup)
        return w == span;
    for (int64_t m = 1; m <= TSS_ROLLUP_MAX_SPANS; m *= 2)
        if (w == span * m)
            return start % w == 0;
    return false;
}

/* A partial aggregate: one raw point, or one interval of a finer rollup. */
typedef struct partial {
    int64_t t;      /* its time (point) or interval start */
    uint64_t order; /* source order: later written sorts later */
    uint64_t count, valid;
    double min, max, sum; /* gauge */
    uint64_t usum;        /* absolute */
    uint64_t first, last; /* raw bits */
    uint64_t wraps;       /* counter: 32-bit wraps inside (rollup.h) */
    bool raw;             /* one raw point (not a finer rollup's interval) */
    int64_t last_t;       /* latest time `last` may be from: the point's,
                             or the end of the interval */
} partial;

static int cmp_partial(const void *a, const void *b)
{
    const partial *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct pvec {
    partial *v;
    size_t n, cap;
} pvec;

static partial *pv_push(pvec *p)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 256;
        partial *nv = tss_realloc(p->v, nc * sizeof(*nv));

        if (!nv)
            return NULL;
        p->v = nv;
        p->cap = nc;
    }
    memset(&p->v[p->n], 0, sizeof(p->v[0]));
    return &p->v[p->n++];
}

static partial raw_partial(int kind, const tss_point *pt, uint64_t order)
{
    partial p = {
        .t = pt->t, .order = order, .count = 1, .raw = true, .last_t = pt->t};

    p.first = p.last = pt->v.bits;
    if (kind == TSS_KIND_GAUGE) {
        double v = pt->v.gauge;

        p.valid = !isnan(v);
        p.min = p.max = p.sum = v;
    } else if (kind == TSS_KIND_ABSOLUTE) {
        p.usum = pt->v.counter;
    }
    return p;
}

/* Folds b into a (b starts later in time, or was written later). A late
 * raw point inside an interval of a finer rollup sorts after the interval's
 * start but need not be later than its last point: `last` goes to the
 * partial that may end latest (the later written on a tie). */
static void fold(int kind, partial *a, const partial *b)
{
    /* the step from a's last value to b's first, when b comes after all
     * of a (a late point inside a finer rollup's interval does not: where
     * it falls among the interval's points is not known) */
    if (kind == TSS_KIND_COUNTER) {
        a->wraps += b->wraps;
        if (b->t > a->last_t && b->first < a->last && a->last <= UINT32_MAX)
            a->wraps++;
    }
    if (b->last_t >= a->last_t) {
        a->last = b->last;
        a->last_t = b->last_t;
    }
    a->count += b->count;
    if (kind == TSS_KIND_ABSOLUTE)
        a->usum += b->usum;
    if (kind != TSS_KIND_GAUGE || !b->valid)
        return;
    if (!a->valid) {
        a->min = b->min;
        a->max = b->max;
        a->sum = b->sum;
    } else {
        a->min = fmin(a->min, b->min);
        a->max = fmax(a->max, b->max);
        a->sum += b->sum;
    }
    a->valid += b->valid;
}

/* Sources of one series in one window. */
typedef struct src {
    tss_segment *seg;
    tss_tombstones tomb;
    uint64_t order;
} src;

typedef struct sref {
    const uint8_t *key; /* series key (without the aggregate byte) */
    size_t key_len;
    uint32_t src, entry;
    int agg;
} sref;

static int cmp_sref(const void *a, const void *b)
{
    const sref *x = a, *y = b;
    int c = tss_key_cmp(x->key, x->key_len, y->key, y->key_len);

    if (c)
        return c;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->agg - y->agg;
}

/* Aggregate `a`'s value for interval k (at time t), if the rollup has it. */
static const tss_value *agg_at(tss_point *const *aggp, const size_t *an, int a,
                               size_t k, int64_t t)
{
    return k < an[a] && aggp[a][k].t == t ? &aggp[a][k].v : NULL;
}

/* Turns a series' sources into partials (deletes applied to raw points,
 * and to whole intervals of finer rollups). */
static int gather(src *srcs, const sref *r, size_t nr, int kind,
                  const tss_delset *del, pvec *out)
{
    tss_point *pts = NULL, *aggp[TSS_AGG_END] = {0};
    size_t cap = 0, acap[TSS_AGG_END] = {0}, an[TSS_AGG_END] = {0};
    tss_range *ranges = NULL;
    size_t nrg, rcap = 0;
    int rc = 0;

    for (size_t i = 0; i < nr && rc == 0;) {
        const src *s = &srcs[r[i].src];
        size_t j = i;

        nrg = 0;
        if ((rc = tss_delset_ranges(del, &s->tomb, r[i].key, r[i].key_len,
                                    &ranges, &nrg, &rcap)) != 0)
            break;
        if (r[i].agg == 0) { /* raw points */
            size_t n = 0;

            if ((rc = tss_segment_read_points(s->seg, r[i].entry, &pts, &n,
                                              &cap)) != 0)
                break;
            tss_range_filter(pts, &n, ranges, nrg);
            for (size_t k = 0; k < n; k++) {
                partial *p = pv_push(out);

                if (!p) {
                    rc = tss_error_set(TSS_ENOMEM, "out of memory");
                    break;
                }
                *p = raw_partial(kind, &pts[k], s->order);
            }
            i++;
            continue;
        }
        /* a finer rollup: one chunk per aggregate, same intervals */
        memset(an, 0, sizeof(an));
        while (j < nr && r[j].src == r[i].src && r[j].agg) {
            int a = r[j].agg;

            if ((rc = tss_segment_read_points(s->seg, r[j].entry, &aggp[a],
                                              &an[a], &acap[a])) != 0)
                break;
            j++;
        }
        for (size_t k = 0; rc == 0 && k < an[TSS_AGG_COUNT]; k++) {
            partial *p;
            int64_t t = aggp[TSS_AGG_COUNT][k].t;
            bool gone = false;

            /* hidden as readers hide it: its start is in a deleted
             * range (tss_range_filter) */
            for (size_t g = 0; g < nrg && !gone; g++)
                gone = t >= ranges[g].from && t <= ranges[g].to;
            if (gone)
                continue;
            if (!(p = pv_push(out))) {
                rc = tss_error_set(TSS_ENOMEM, "out of memory");
                break;
            }
            p->t = t;
            p->last_t = t + s->seg->resolution - 1;
            p->order = s->order;
            p->count = aggp[TSS_AGG_COUNT][k].v.counter;
            {
                const tss_value *f = agg_at(aggp, an, TSS_AGG_FIRST, k, t);
                const tss_value *l = agg_at(aggp, an, TSS_AGG_LAST, k, t);
                const tss_value *va = agg_at(aggp, an, TSS_AGG_VALID, k, t);
                const tss_value *mi = agg_at(aggp, an, TSS_AGG_MIN, k, t);
                const tss_value *ma = agg_at(aggp, an, TSS_AGG_MAX, k, t);
                const tss_value *su = agg_at(aggp, an, TSS_AGG_SUM, k, t);
                const tss_value *wr = agg_at(aggp, an, TSS_AGG_WRAPS, k, t);

                p->first = f ? f->bits : 0;
                p->last = l ? l->bits : 0;
                if (kind == TSS_KIND_GAUGE) {
                    p->valid = va ? va->counter : 0;
                    p->min = mi ? mi->gauge : NAN;
                    p->max = ma ? ma->gauge : NAN;
                    p->sum = su ? su->gauge : NAN;
                } else if (kind == TSS_KIND_ABSOLUTE && su) {
                    p->usum = su->counter;
                } else if (kind == TSS_KIND_COUNTER && wr) {
                    p->wraps = wr->counter;
                }
            }
        }
        i = j > i ? j : i + 1;
    }
    tss_free(pts);
    for (int a = 0; a < TSS_AGG_END; a++)
        tss_free(aggp[a]);
    tss_free(ranges);
    return rc;
}

static int add_agg(tss_seg_builder *b, const uint8_t *key, size_t key_len,
                   int agg, const tss_point *pts, size_t n)
{
    uint8_t k[TSS_KEY_MAX + 1];

    memcpy(k, key, key_len);
    k[key_len] = (uint8_t)agg;
    return n ? tss_seg_builder_add(b, k, key_len + 1, pts, n) : 0;
}

/* Folds a series' partials into intervals of `res` and adds its chunks. */
static int emit(tss_seg_builder *b, tss_sidecar *sc, const uint8_t *key,
                size_t key_len, int kind, pvec *pv, int64_t res)
{
    tss_point *out[TSS_AGG_END] = {0};
    size_t n = 0;
    bool wrapped = false;
    int rc = 0;

    qsort(pv->v, pv->n, sizeof(*pv->v), cmp_partial);
    /* raw points of one time in several segments (a rewrite, a late copy):
     * the last written wins, as in queries -- folding both would count
     * the replaced value in count, min, max, sum and first */
    {
        size_t k = 0;

        for (size_t i = 0; i < pv->n; i++)
            if (!(pv->v[i].raw && i + 1 < pv->n && pv->v[i + 1].raw &&
                  pv->v[i + 1].t == pv->v[i].t))
                pv->v[k++] = pv->v[i];
        pv->n = k;
    }
    for (int a = 0; a < TSS_AGG_END; a++)
        if (!(out[a] = tss_malloc((pv->n ? pv->n : 1) * sizeof(tss_point)))) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto out;
        }
    for (size_t i = 0; i < pv->n;) {
        int64_t t = pv->v[i].t - ((pv->v[i].t % res) + res) % res;
        partial acc = pv->v[i++];

        while (i < pv->n && pv->v[i].t < t + res)
            fold(kind, &acc, &pv->v[i++]);
        for (int a = TSS_AGG_MIN; a < TSS_AGG_END; a++) {
            if (!tss_agg_valid(kind, a))
                continue;
            out[a][n].t = t;
            switch (a) {
            case TSS_AGG_MIN:
                out[a][n].v.gauge = acc.valid ? acc.min : NAN;
                break;
            case TSS_AGG_MAX:
                out[a][n].v.gauge = acc.valid ? acc.max : NAN;
                break;
            case TSS_AGG_SUM:
                if (kind == TSS_KIND_GAUGE)
                    out[a][n].v.gauge = acc.valid ? acc.sum : NAN;
                else
                    out[a][n].v.counter = acc.usum;
                break;
            case TSS_AGG_LAST:
                out[a][n].v.bits = acc.last;
                break;
            case TSS_AGG_COUNT:
                out[a][n].v.counter = acc.count;
                break;
            case TSS_AGG_VALID:
                out[a][n].v.counter = acc.valid;
                break;
            case TSS_AGG_WRAPS:
                out[a][n].v.counter = acc.wraps;
                wrapped |= acc.wraps != 0;
                break;
            default: /* first */
                out[a][n].v.bits = acc.first;
            }
        }
        n++;
    }
    for (int a = TSS_AGG_MIN; a < TSS_AGG_END && rc == 0; a++)
        if (tss_agg_valid(kind, a) && (a != TSS_AGG_WRAPS || wrapped))
            rc = add_agg(b, key, key_len, a, out[a], n);
    /* coverage at the rollup's resolution: every bucket of an interval */
    if (rc == 0 && n)
        rc = tss_sidecar_add_intervals(sc, key, key_len, out[TSS_AGG_COUNT], n,
                                       res);
out:
    for (int a = 0; a < TSS_AGG_END; a++)
        tss_free(out[a]);
    return rc;
}

/* Rolls up the segments `segs` (sorted by seq; all within [start, end))
 * into one segment of window [start, end) at `res`. */
static int rollup_window(tss_store *s, const tss_seg_name *segs, size_t n,
                         int64_t start, int64_t end, int64_t res,
                         bool *invalidated, tss_rollup_result *res_out)
{
    src *srcs = tss_calloc(n, sizeof(*srcs));
    uint8_t(*sup)[16] = tss_calloc(n, 16);
    sref *refs = NULL;
    size_t nrefs = 0, total = 0;
    tss_seg_builder bld;
    tss_sidecar sc;
    tss_buf img = {0}, cov = {0};
    tss_seg_name name;
    pvec pv = {0};
    char rel[192], cov_rel[128];
    bool building = false;
    int rc = 0;

    memset(&sc, 0, sizeof(sc));
    if (!srcs || !sup) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if ((rc = tss_segment_open(&srcs[i].seg, s->st, rel)) != 0 ||
            (rc = tss_tomb_read(s->st, srcs[i].seg, &srcs[i].tomb)) != 0)
            goto out;
        srcs[i].order = segs[i].seq;
        memcpy(sup[i], segs[i].uuid, 16);
        total += srcs[i].seg->nentries;
        res_out->points_in += srcs[i].seg->points;
    }
    if (!(refs = tss_calloc(total ? total : 1, sizeof(*refs)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        bool superseded = false;

        /* a segment another one of the window supersedes (its removal
         * failed, the writer went on) is in that one already: folding it
         * again would count its points twice. It is still superseded by
         * the new segment and removed with the others. */
        for (size_t j = 0; j < n && !superseded; j++)
            for (size_t k = 0; k < srcs[j].seg->nsupersedes && !superseded; k++)
                superseded =
                    memcmp(srcs[j].seg->supersedes[k], segs[i].uuid, 16) == 0;
        for (size_t e = 0; !superseded && e < srcs[i].seg->nentries; e++) {
            const tss_seg_entry *en = &srcs[i].seg->entries[e];

            refs[nrefs++] = (sref){en->key, en->key_len - (en->agg ? 1 : 0),
                                   (uint32_t)i, (uint32_t)e, en->agg};
        }
    }
    qsort(refs, nrefs, sizeof(*refs), cmp_sref);
    name.start = start;
    name.end = end;
    name.seq = s->next_seq++;
    uuid_generate(name.uuid);
    if ((rc = tss_seg_builder_begin(&bld, &img, &name, s->info.units_per_second,
                                    (const uint8_t(*)[16])sup, n)) != 0)
        goto out;
    bld.resolution = res;
    building = true;
    if ((rc = tss_sidecar_init(&sc, name.uuid, name.start,
                               s->info.bucket_width)) != 0)
        goto out;
    for (size_t i = 0; i < nrefs;) {
        size_t j = i + 1;
        int kind = refs[i].key[refs[i].key_len - 1];

        while (j < nrefs && tss_key_cmp(refs[j].key, refs[j].key_len,
                                        refs[i].key, refs[i].key_len) == 0)
            j++;
        pv.n = 0;
        if ((rc = gather(srcs, &refs[i], j - i, kind, &s->deletes, &pv)) ||
            (pv.n && (rc = emit(&bld, &sc, refs[i].key, refs[i].key_len, kind,
                                &pv, res)) != 0))
            goto out;
        i = j;
    }
    building = false;
    if (bld.nseries == 0) {
        tss_seg_builder_abort(&bld);
        /* every point deleted: the old segments go without a successor,
         * which the table snapshot would not notice (see the Keep below) */
        if (!*invalidated && (rc = tss_store_cov_invalidate(s)) != 0)
            goto out;
        *invalidated = true;
    } else {
        res_out->points_out += bld.points;
        if ((rc = tss_seg_builder_finish(&bld)) != 0 ||
            (rc = tss_sidecar_encode(&sc, &cov)) != 0)
            goto out;
        tss_sidecar_path(cov_rel, sizeof(cov_rel), name.uuid);
        tss_seg_name_format(rel, sizeof(rel), &name);
        if ((rc = tss_storage_write_new(s->st, cov_rel, cov.data, cov.len)) ||
            (rc = tss_storage_write_new(s->st, rel, img.data, img.len)))
            goto out;
        res_out->bytes_written += img.len + cov.len;
    }
    for (size_t i = 0; i < n; i++) {
        tss_segment_close(srcs[i].seg);
        srcs[i].seg = NULL;
        if ((rc = tss_remove_segment(s->st, &segs[i])) != 0)
            goto out; /* superseded: removed at the next start */
    }
    res_out->windows++;
out:
    if (building)
        tss_seg_builder_abort(&bld);
    for (size_t i = 0; srcs && i < n; i++) {
        tss_segment_close(srcs[i].seg);
        tss_tomb_free(&srcs[i].tomb);
    }
    tss_free(srcs);
    tss_free(sup);
    tss_free(refs);
    tss_free(pv.v);
    tss_buf_free(&img);
    tss_buf_free(&cov);
    tss_sidecar_free(&sc);
    return rc;
}

/* The resolution the group is kept at now: the coarsest of its segments. */
static int group_resolution(tss_store *s, const tss_seg_name *segs, size_t n,
                            int64_t *res)
{
    *res = 0;
    for (size_t i = 0; i < n; i++) {
        char rel[192];
        tss_segment *seg;
        int rc;

        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if ((rc = tss_segment_open(&seg, s->st, rel)) != 0)
            return rc;
        if (seg->resolution > *res)
            *res = seg->resolution;
        tss_segment_close(seg);
    }
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* One rollup window of level `l`: [start, start + width). Collects the
 * segments no coarser level took (sorted by start, so they are the run
 * from *i), then removes them past Keep, or rolls them up when they are
 * kept finer than the level or are several (late points, a finer
 * rollup). */
static int level_window(tss_store *s, const tss_rollup_level *l, int64_t now,
                        tss_seg_name *segs, size_t n, bool *taken, size_t i,
                        tss_seg_name *grp, tss_rollup_result *res,
                        bool *changed, bool *invalidated)
{
    int64_t start = floor_div(segs[i].start, l->width) * l->width;
    int64_t end = start + l->width, cur;
    size_t g = 0;
    int rc = 0;

    for (size_t k = i; k < n && segs[k].start < end; k++) {
        if (taken[k])
            continue;
        if (segs[k].end > end)
            return 0; /* a wider window (other levels before): left be */
        grp[g++] = segs[k];
    }
    for (size_t k = i; k < n && segs[k].start < end; k++)
        taken[k] = true;
    if (g == 0)
        return 0;
    if (l->keep && now - end >= l->keep) {
        /* past this level's Keep: the window goes. No new segment
         * supersedes it, so the table snapshot, which would still hold its
         * buckets after a crash, is invalidated first; and no intent
         * record may name its segments (a late batch's seal wrote no
         * base) */
        if ((rc = tss_store_base_owed(s, now)) != 0 ||
            (!*invalidated && (rc = tss_store_cov_invalidate(s)) != 0))
            return rc;
        *invalidated = true;
        for (size_t k = 0; k < g && rc == 0; k++)
            rc = tss_remove_segment(s->st, &grp[k]);
        res->windows_removed++;
        *changed = true;
        return rc;
    }
    if ((rc = group_resolution(s, grp, g, &cur)) != 0)
        return rc;
    if (cur >= l->resolution && g == 1)
        return 0; /* kept at this level (or coarser) already */
    /* the rollup supersedes the window's segments: as above */
    if ((rc = tss_store_base_owed(s, now)) != 0)
        return rc;
    *changed = true;
    return rollup_window(s, grp, g, start, end,
                         cur > l->resolution ? cur : l->resolution, invalidated,
                         res);
}

int tss_store_rollup(tss_store *s, int64_t now, tss_rollup_result *res)
{
    tss_rollup_result local;
    tss_seg_name *segs = NULL, *grp = NULL;
    bool *taken = NULL, changed = false, invalidated = false;
    uint64_t leftovers = 0;
    size_t n = 0;
    int rc;

    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    if (s->nrollups == 0)
        return 0;
    pthread_mutex_lock(&s->seal_mu);
    /* a pass that stopped after writing its segment left the ones it
     * supersedes: folding them in again would count their points twice */
    if ((rc = tss_remove_superseded(s->st, s->log, s->log_ctx, &leftovers)) !=
            0 ||
        (rc = tss_list_segments(s->st, &segs, &n)) != 0)
        goto out;
    changed = leftovers > 0;
    taken = tss_calloc(n ? n : 1, sizeof(*taken));
    grp = tss_calloc(n ? n : 1, sizeof(*grp));
    if (!taken || !grp) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    /* coarsest level first: a window old enough for it is taken whole,
     * finer levels see only what is left */
    for (unsigned li = s->nrollups; li-- > 0 && rc == 0;) {
        const tss_rollup_level *l = &s->rollups[li];

        for (size_t i = 0; i < n && rc == 0; i++) {
            int64_t start = floor_div(segs[i].start, l->width) * l->width;

            if (taken[i] || now - (start + l->width) < l->after)
                continue;
            rc = level_window(s, l, now, segs, n, taken, i, grp, res, &changed,
                              &invalidated);
            /* the seal mutex is ours until every window is done */
            tss_store_snapshot_due(s);
        }
    }
    if (rc)
        tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR, "rollup failed: %s",
                tss_error_last());
    if (changed) {
        rc = tss_store_cov_rebuild_after(s, rc);
        tss_log(s->log, s->log_ctx, TSS_LEVEL_INFO,
                "rollup: %" PRIu32 " window(s) rolled up (%" PRIu64
                " points into %" PRIu64 " aggregates, %" PRIu64
                " bytes), %" PRIu32 " removed past their Keep",
                res->windows, res->points_in, res->points_out,
                res->bytes_written, res->windows_removed);
    }
out:
    tss_free(segs);
    tss_free(grp);
    tss_free(taken);
    pthread_mutex_unlock(&s->seal_mu);
    return rc;
}
