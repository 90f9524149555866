/*
 * Rollups in wide windows: the default rollup_intervals (0, 256 intervals
 * per rollup segment), where a rollup window is SegmentSpan * 2^k aligned
 * to its width -- with the 1 h span and the levels of ru_levels (1 min
 * after 1 d, 5 min after 3 d kept 10 d): 8 h windows at 1 min (480
 * intervals; 4 h would hold 240), 32 h at 5 min (384; 16 h: 192).
 *
 * What the store must hold is computed by a model of its own (below): the
 * points appended, and per window what a pass makes of them by the rules
 * of docs/format.md ("Rollups"): the coarsest level whose window is wholly
 * older than its After takes the window; past Keep it goes; else what it
 * holds is folded into intervals of the level's resolution. A rollup
 * keeps no times inside an interval, so a late raw point folded into a
 * rolled interval is never its first, and is its last only if its time
 * is the interval's last instant (end - 1), where the later written wins:
 * the last_t rule of fold() in rollup.c (the sentence of docs/format.md
 * that says it "counts as its last" predates that rule). The query results
 * are also checked against the raw points alone: every point in exactly
 * one returned interval, the interval's count the number of points in it,
 * no two rows overlapping, one resolution per hour.
 *
 * Tests:
 *  - test_wide_passes: several days of every kind (NaN, +Inf, wraps at
 *    32 and 64 bits, gaps), two passes (a third in test_wide_delete):
 *    window widths and alignment, raw until the whole window is older
 *    than After, aggregates, Keep, verify; late raw points into rolled
 *    1 min and 5 min windows folded at the next pass, and into a 1 min
 *    window folded into 5 min with them;
 *  - test_wide_delete: deletes on rolled-up data (5 min and 1 min
 *    windows), compacted; a delete a rollup pass folds away uncompacted;
 *  - test_wide_seek: tss_query_seek on a series kept only as rollups;
 *  - test_wide_crash_roll, test_wide_crash_fold: a power cut at every
 *    fsync of a pass rolling raw windows into wide windows, and of one
 *    folding a wide 1 min window into a 5 min one;
 *  - test_wide_crash_compact_empty: a power cut at every fsync of the
 *    compaction of windows (raw, and 1 min) whose every point was deleted.
 */
#define _GNU_SOURCE
#include "ret_util.h"

#include "crash_ops.h"
#include "rollup.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H RU_HOUR
#define D RU_DAY
#define N RU_NOW /* aligned to 32 h (1700006400000 / 3600000 = 32 * 14757) */
#define SEC INT64_C(1000)

/* ---- the model ------------------------------------------------------------
 */

/* The levels as the model sees them (ru_levels) with their window widths,
 * worked out by hand in the header comment. */
typedef struct level {
    int64_t after, res, keep, width;
} level;

static const level LV[2] = {
    {RU_DAY, RU_MIN, 0, 8 * RU_HOUR},
    {3 * RU_DAY, RU_5MIN, 10 * RU_DAY, 32 * RU_HOUR},
};

/* What the store keeps of a series: a raw point (res 0) or an interval. */
typedef struct piece {
    int64_t res;
    int order;      /* write order: later written, higher */
    int64_t last_t; /* latest time its last value may be from */
    ru_interval a;  /* a.t: the point's time or the interval's start */
} piece;

typedef struct pvec {
    piece *v;
    size_t n, cap;
} pvec;

typedef struct model {
    pvec s[RU_NSERIES];
    tss_point *all[RU_NSERIES]; /* every point appended */
    size_t nall[RU_NSERIES], capall[RU_NSERIES];
    int order;
    int64_t gone_before; /* windows before it went past Keep */
} model;

static int64_t floor_to(int64_t t, int64_t w)
{
    return t - (((t % w) + w) % w);
}

static void pv_push(pvec *p, const piece *x)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4096;
        p->v = realloc(p->v, p->cap * sizeof(*p->v));
        assert_non_null(p->v);
    }
    p->v[p->n++] = *x;
}

static void m_init(model *m)
{
    memset(m, 0, sizeof(*m));
    m->gone_before = INT64_MIN;
}

static void m_free(model *m)
{
    for (int k = 0; k < RU_NSERIES; k++) {
        free(m->s[k].v);
        free(m->all[k]);
    }
    memset(m, 0, sizeof(*m));
}

static void m_point(model *m, int k, int64_t t, uint64_t bits)
{
    piece p;
    tss_value v;

    memset(&p, 0, sizeof(p));
    v.bits = bits;
    p.order = m->order;
    p.last_t = t;
    p.a.t = t;
    p.a.count = 1;
    p.a.first = p.a.last = bits;
    p.a.min = p.a.max = p.a.sum = NAN;
    if (ru_kind[k] == TSS_KIND_GAUGE && !isnan(v.gauge)) {
        p.a.valid = 1;
        p.a.min = p.a.max = p.a.sum = v.gauge;
    }
    if (ru_kind[k] == TSS_KIND_ABSOLUTE)
        p.a.usum = v.counter;
    pv_push(&m->s[k], &p);
    if (m->nall[k] == m->capall[k]) {
        m->capall[k] = m->capall[k] ? m->capall[k] * 2 : 4096;
        m->all[k] = realloc(m->all[k], m->capall[k] * sizeof(tss_point));
        assert_non_null(m->all[k]);
    }
    m->all[k][m->nall[k]].t = t;
    m->all[k][m->nall[k]++].v.bits = bits;
}

static void put(tss_store *s, model *m, int k, int64_t t, uint64_t bits)
{
    tss_value v;
    int rc;

    v.bits = bits;
    rc = tss_store_append(s, &ru_series[k], ru_kind[k], t, v);
    if (rc != 0)
        fail_msg("append: %d %s", rc, tss_error_last());
    m_point(m, k, t, bits);
}

/* Every series of `which` (a bit per series) at every 10 s of [from, to)
 * the layout has a point at. */
static void fill(tss_store *s, model *m, unsigned which, int64_t from,
                 int64_t to)
{
    for (int64_t t = from; t < to; t += RU_STEP)
        for (int k = 0; k < RU_NSERIES; k++)
            if ((which >> k & 1) && ru_present((unsigned)k, t))
                put(s, m, k, t, ru_value((unsigned)k, t));
}

#define ALL_BUT_B ((1u << RU_NSERIES) - 1 - (1u << RU_GAUGE_B))

static int cmp_piece(const void *a, const void *b)
{
    const piece *x = a, *y = b;

    if (x->a.t != y->a.t)
        return x->a.t < y->a.t ? -1 : 1;
    return x->order - y->order;
}

/* Folds pieces v[0..n) (sorted by time, then write order) into intervals
 * of `res`: counts and sums added, min and max over the valid values;
 * first from the first piece; last from the piece whose last value may be
 * the latest, the later one on a tie; a counter's wraps added, plus one
 * where a piece that starts after all of the one before begins below its
 * last value while that fits in 32 bits. */
static void fold_into(int kind, const piece *v, size_t n, int64_t res,
                      int order, pvec *out)
{
    for (size_t i = 0; i < n;) {
        int64_t t0 = floor_to(v[i].a.t, res);
        piece acc = v[i++];

        while (i < n && v[i].a.t < t0 + res) {
            const piece *b = &v[i++];

            if (kind == TSS_KIND_COUNTER) {
                acc.a.wraps += b->a.wraps;
                if (b->a.t > acc.last_t && b->a.first < acc.a.last &&
                    acc.a.last <= UINT32_MAX)
                    acc.a.wraps++;
            }
            if (b->last_t >= acc.last_t) {
                acc.a.last = b->a.last;
                acc.last_t = b->last_t;
            }
            acc.a.count += b->a.count;
            acc.a.usum += b->a.usum;
            if (!b->a.valid)
                continue;
            if (!acc.a.valid) {
                acc.a.min = b->a.min;
                acc.a.max = b->a.max;
                acc.a.sum = b->a.sum;
            } else {
                acc.a.min = b->a.min < acc.a.min ? b->a.min : acc.a.min;
                acc.a.max = b->a.max > acc.a.max ? b->a.max : acc.a.max;
                acc.a.sum += b->a.sum;
            }
            acc.a.valid += b->a.valid;
        }
        acc.res = res;
        acc.order = order;
        acc.a.t = t0;
        acc.last_t = t0 + res - 1;
        pv_push(out, &acc);
    }
}

/* The level that takes time t at `now`: the coarsest whose window holding
 * t is wholly older than its After; -1: none (raw). */
static int level_at(int64_t t, int64_t now, int64_t *ws)
{
    for (int l = 1; l >= 0; l--) {
        *ws = floor_to(t, LV[l].width);
        if (now - (*ws + LV[l].width) >= LV[l].after)
            return l;
    }
    return -1;
}

/* A rollup pass at `now`, as the model sees it. */
static void m_pass(model *m, int64_t now)
{
    int order = ++m->order;

    for (int k = 0; k < RU_NSERIES; k++) {
        pvec *p = &m->s[k], out = {0};

        if (p->n > 1)
            qsort(p->v, p->n, sizeof(*p->v), cmp_piece);
        for (size_t i = 0; i < p->n;) {
            int64_t ws, res;
            int l = level_at(p->v[i].a.t, now, &ws);
            size_t j = i + 1;
            bool same = true;

            if (l < 0) {
                pv_push(&out, &p->v[i++]);
                continue;
            }
            while (j < p->n && p->v[j].a.t < ws + LV[l].width)
                j++;
            if (LV[l].keep && now - (ws + LV[l].width) >= LV[l].keep) {
                if (ws + LV[l].width > m->gone_before)
                    m->gone_before = ws + LV[l].width;
                i = j;
                continue;
            }
            res = LV[l].res;
            for (size_t q = i; q < j; q++)
                res = p->v[q].res > res ? p->v[q].res : res;
            for (size_t q = i; q < j; q++)
                same = same && p->v[q].res == res &&
                       p->v[q].order == p->v[i].order;
            if (same)
                for (size_t q = i; q < j; q++)
                    pv_push(&out, &p->v[q]);
            else
                fold_into(ru_kind[k], &p->v[i], j - i, res, order, &out);
            i = j;
        }
        free(p->v);
        *p = out;
    }
    m->order++;
}

/* A delete of series k over [from, to]: raw points in it, and intervals
 * that start in it. Returns how many pieces it hid. */
static uint64_t m_delete(model *m, int k, int64_t from, int64_t to)
{
    pvec *p = &m->s[k];
    size_t w = 0;
    uint64_t hidden = 0;

    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i].a.t >= from && p->v[i].a.t <= to) {
            hidden++;
            continue;
        }
        p->v[w++] = p->v[i];
    }
    p->n = w;
    return hidden;
}

/* The rollup window width of resolution res. */
static int64_t width_of(int64_t res)
{
    for (int l = 0; l < 2; l++)
        if (LV[l].res == res)
            return LV[l].width;
    fail_msg("no level at resolution %" PRId64, res);
    return 0;
}

static void m_rows(const model *m, ru_rows *out)
{
    ru_interval *iv = NULL;
    size_t cap = 0;

    memset(out, 0, sizeof(*out));
    for (int k = 0; k < RU_NSERIES; k++)
        for (size_t i = 0; i < m->s[k].n;) {
            const piece *x = &m->s[k].v[i];
            int64_t w;
            size_t n = 0;

            if (x->res == 0) {
                ru_rows_push(out, k, 0, 0, x->a.t, x->a.first);
                i++;
                continue;
            }
            /* the intervals of one rollup window together: its wraps
             * rows are there if one of them wrapped */
            w = floor_to(x->a.t, width_of(x->res));
            for (; i < m->s[k].n && m->s[k].v[i].res == x->res &&
                   floor_to(m->s[k].v[i].a.t, width_of(x->res)) == w;
                 i++) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 256;
                    iv = realloc(iv, cap * sizeof(*iv));
                    assert_non_null(iv);
                }
                iv[n++] = m->s[k].v[i].a;
            }
            ru_rows_add_intervals(out, k, x->res, iv, n);
        }
    free(iv);
    ru_rows_sort(out);
}

/* ---- checks ---------------------------------------------------------------
 */

static void assert_model(const char *what, tss_store *s, const model *m)
{
    ru_rows got, want;

    ru_query_rows(s, NULL, &got);
    m_rows(m, &want);
    ru_assert_rows(what, &got, &want);
    ru_rows_free(&got);
    ru_rows_free(&want);
}

typedef struct span {
    int64_t t, end, res;
    uint64_t count, seen;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;

    return x->t < y->t ? -1 : x->t > y->t;
}

static int cmp_point(const void *a, const void *b)
{
    const tss_point *x = a, *y = b;

    return x->t < y->t ? -1 : x->t > y->t;
}

/* Against the raw points alone (no deletes; late points folded): for every
 * series, the raw points and rollup intervals served at TSS_RES_AUTO
 * never overlap, each hour is at one resolution, every point appended
 * (but those past Keep) lies in exactly one of them and each interval's
 * count is the number of points in it. */
static void assert_stitched(const char *what, tss_store *s, const model *m)
{
    ru_rows got;

    ru_query_rows(s, NULL, &got);
    for (int k = 0; k < RU_NSERIES; k++) {
        span *sp = calloc(got.n + 1, sizeof(*sp));
        tss_point *pts = malloc((m->nall[k] + 1) * sizeof(*pts));
        size_t n = 0, j = 0;

        assert_non_null(sp);
        assert_non_null(pts);
        for (size_t i = 0; i < got.n; i++) {
            const ru_row *r = &got.v[i];

            if (r->series != k ||
                (r->res != 0 && r->agg != TSS_AGGREGATE_COUNT))
                continue;
            sp[n].t = r->t;
            sp[n].res = r->res;
            sp[n].end = r->t + (r->res ? r->res : 1);
            sp[n++].count = r->res ? r->bits : 1;
        }
        qsort(sp, n, sizeof(*sp), cmp_span);
        for (size_t i = 1; i < n; i++) {
            if (sp[i].t < sp[i - 1].end)
                fail_msg("%s: series %d: [%" PRId64 ", %" PRId64
                         ") at resolution %" PRId64 " overlaps [%" PRId64
                         ", %" PRId64 ") at %" PRId64,
                         what, k, sp[i].t, sp[i].end, sp[i].res, sp[i - 1].t,
                         sp[i - 1].end, sp[i - 1].res);
            if (floor_to(sp[i].t, H) == floor_to(sp[i - 1].t, H) &&
                sp[i].res != sp[i - 1].res)
                fail_msg("%s: series %d: hour %" PRId64
                         " h before N at resolutions %" PRId64 " and %" PRId64,
                         what, k, (N - floor_to(sp[i].t, H)) / H, sp[i - 1].res,
                         sp[i].res);
        }
        memcpy(pts, m->all[k], m->nall[k] * sizeof(*pts));
        qsort(pts, m->nall[k], sizeof(*pts), cmp_point);
        for (size_t i = 0; i < m->nall[k]; i++) {
            if (pts[i].t < m->gone_before)
                continue;
            while (j < n && sp[j].end <= pts[i].t)
                j++;
            if (j == n || sp[j].t > pts[i].t)
                fail_msg("%s: series %d: the point at %" PRId64 " (%" PRId64
                         " s before N) is served at no "
                         "resolution",
                         what, k, pts[i].t, (N - pts[i].t) / SEC);
            sp[j].seen++;
        }
        for (size_t i = 0; i < n; i++)
            if (sp[i].seen != sp[i].count)
                fail_msg("%s: series %d: [%" PRId64 ", %" PRId64
                         ") at resolution %" PRId64 " counts %" PRIu64
                         " points, %" PRIu64 " were written there",
                         what, k, sp[i].t, sp[i].end, sp[i].res, sp[i].count,
                         sp[i].seen);
        free(sp);
        free(pts);
    }
    ru_rows_free(&got);
}

/* Header flags and resolution of a segment file, read by the test. */
static void seg_header(const char *dir, const ru_seg *sg, unsigned *flags,
                       int64_t *res)
{
    char rel[256], path[4096];
    uint8_t h[128];
    uint64_t r = 0;
    FILE *f;

    snprintf(rel, sizeof(rel), "segments/%s", sg->name);
    tt_join(path, sizeof(path), dir, rel);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(h, 1, sizeof(h), f), sizeof(h));
    fclose(f);
    *flags = (unsigned)h[10] | (unsigned)h[11] << 8;
    for (int i = 7; i >= 0; i--)
        r = r << 8 | h[104 + i];
    *res = (int64_t)r;
}

static const level *level_of(int64_t res)
{
    for (int l = 0; l < 2; l++)
        if (LV[l].res == res)
            return &LV[l];
    return NULL;
}

/* After a pass at `now`: windows do not overlap; a rollup segment spans
 * exactly its level's width (tss_rollup_width too), aligned to it, wholly
 * older than its After, not past Keep, not due at a coarser level; a raw
 * segment is one aligned span whose 1 min window is not yet wholly older
 * than After. Returns the number of segments. */
static size_t assert_layout(const char *what, const char *dir, int64_t now)
{
    ru_seg *v;
    size_t n = ru_list_segments(dir, &v);

    for (size_t i = 0; i < n; i++) {
        unsigned flags;
        int64_t res, w = v[i].end - v[i].start, ws;
        const level *l = NULL;

        seg_header(dir, &v[i], &flags, &res);
        if (i > 0 && v[i].start < v[i - 1].end)
            fail_msg("%s: %s overlaps %s", what, v[i].name, v[i - 1].name);
        if (!(flags & 1)) {
            if (flags != 0 || res != 0 || w != RU_SPAN ||
                v[i].start % RU_SPAN != 0)
                fail_msg("%s: raw segment %s: flags %u, resolution %" PRId64
                         ", not one aligned span",
                         what, v[i].name, flags, res);
            ws = floor_to(v[i].start, LV[0].width);
            if (now - (ws + LV[0].width) >= LV[0].after)
                fail_msg("%s: %s is raw although its 1 min window is older "
                         "than After",
                         what, v[i].name);
            continue;
        }
        l = level_of(res);
        if (flags != 1 || !l)
            fail_msg("%s: rollup segment %s: flags %u, resolution %" PRId64,
                     what, v[i].name, flags, res);
        if (w != l->width || w != tss_rollup_width(RU_SPAN, res, 0) ||
            v[i].start % w != 0)
            fail_msg("%s: rollup segment %s at %" PRId64 " is %" PRId64
                     " h wide, want %" PRId64 " h, aligned",
                     what, v[i].name, res, w / H, l->width / H);
        if (now - v[i].end < l->after)
            fail_msg("%s: %s was rolled up before all of its window was "
                     "older than After",
                     what, v[i].name);
        if (l->keep && now - v[i].end >= l->keep)
            fail_msg("%s: %s is past Keep", what, v[i].name);
        for (const level *c = l + 1; c < LV + 2; c++) {
            ws = floor_to(v[i].start, c->width);
            if (now - (ws + c->width) >= c->after)
                fail_msg("%s: %s is due at a coarser level", what, v[i].name);
        }
    }
    free(v);
    return n;
}

/* Segments starting at `start`: how many, and the last one's header. */
static size_t segments_at(const char *dir, int64_t start, unsigned *flags,
                          int64_t *res, int64_t *end)
{
    ru_seg *v;
    size_t n = ru_list_segments(dir, &v), k = 0;

    for (size_t i = 0; i < n; i++)
        if (v[i].start == start) {
            k++;
            if (flags)
                seg_header(dir, &v[i], flags, res);
            if (end)
                *end = v[i].end;
        }
    free(v);
    return k;
}

/* rows are sorted by series, resolution, aggregate, time (ru_rows_sort) */
static int cmp_row_key(const void *key, const void *elem)
{
    const ru_row *x = key, *y = elem;

    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->res != y->res)
        return x->res < y->res ? -1 : 1;
    if (x->agg != y->agg)
        return x->agg < y->agg ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static const ru_row *find(const ru_rows *r, int series, int64_t res, int agg,
                          int64_t t)
{
    ru_row key = {series, res, agg, t, 0};

    return r->n ? bsearch(&key, r->v, r->n, sizeof(*r->v), cmp_row_key) : NULL;
}

static uint64_t get_u(const ru_rows *r, int series, int64_t res, int agg,
                      int64_t t)
{
    const ru_row *x = find(r, series, res, agg, t);

    if (!x)
        fail_msg("no aggregate %d of series %d at %" PRId64 " (%" PRId64
                 " s before N, res %" PRId64 ")",
                 agg, series, t, (N - t) / SEC, res);
    return x->bits;
}

static void wide_options(tss_store_options *o, const tss_io_ops *io,
                         tt_log *log)
{
    ru_options(o, io, log);
    ru_levels(o);
    o->rollup_intervals = 0; /* the default: wide windows */
}

static tss_store *open_writer(const char *dir, unsigned flags,
                              const tss_io_ops *io)
{
    tss_store_options o;

    wide_options(&o, io, NULL);
    return ru_open(dir, flags | TSS_OPEN_WRITER, &o);
}

static void rollup(tss_store *s, model *m, int64_t now, tss_rollup_result *rr)
{
    int rc = tss_store_rollup(s, now, rr);

    if (rc != 0)
        fail_msg("rollup at %" PRId64 " h from N: %d %s", (now - N) / H, rc,
                 tss_error_last());
    m_pass(m, now);
}

/* ---- passes over several days ---------------------------------------------
 *
 * Hours relative to N. Data: every series but gauge-b over [-292, -44),
 * gauge-b over [-292, -200) only; after pass 1 the late points and
 * [-44, -4).
 *
 *   pass 1 at -44: 5 min: [-288, -128) in five 32 h windows (raw); gone:
 *                  [-320, -288) (raw, past Keep); 1 min: [-128, -72) in
 *                  seven 8 h windows. [-72, -64) stays raw: its older
 *                  hours are more than 1 d old, not the whole window.
 *   pass 2 at 0:   5 min: [-128, -96) (four 1 min windows folded, one of
 *                  them with a late point), [-192, -160) (late points);
 *                  gone: [-288, -256); 1 min: [-88, -80) (late points),
 *                  [-72, -24) raw (one hour with a late point).
 *   pass 3 at +8:  (test_wide_delete) 5 min: [-96, -64) folded from
 *                  1 min; 1 min: [-24, -16).
 */
#define P1 (N - 44 * H)
#define P2 N
#define P3 (N + 8 * H)

/* late points, appended after pass 1 (hour starts) */
#define HA (N - 88 * H)  /* 1 min since pass 1 */
#define HB (N - 190 * H) /* 5 min since pass 1 */
#define HC (N - 127 * H) /* 1 min at pass 1, 5 min at pass 2 */
#define HD (N - 60 * H)  /* raw at pass 1, 1 min at pass 2 */

static const int64_t late_t[] = {
    HA + 355000,  /* 5:55: in [5:00, 6:00) after its last point (5:50) */
    HA + 119999,  /* 1:59.999: may be as late as the interval's end */
    HA + 1580000, /* 26:20, then 26:10: an interval with no point */
    HA + 1570000,
    HB + 1510000, /* 25:10, before the first point of [25:00, 30:00) */
    HB + 899999,  /* 14:59.999: the end of the 5 min [10:00, 15:00) */
    HB + 725000,  /* 12:05: inside */
    HC + 475000,  /* 7:55: folded with 1 min intervals into 5 min */
    HD + 355000,  /* 5:55 of a raw window: rolled with its time */
};
static const int late_series[] = {RU_GAUGE, RU_DERIVE, RU_C32, RU_ABS};

static uint64_t late_value(int k, int64_t t)
{
    return ru_value((unsigned)k, t + 7 * D);
}

static void append_late(tss_store *s, model *m)
{
    for (size_t i = 0; i < sizeof(late_t) / sizeof(late_t[0]); i++)
        for (size_t j = 0; j < sizeof(late_series) / sizeof(late_series[0]);
             j++)
            put(s, m, late_series[j], late_t[i],
                late_value(late_series[j], late_t[i]));
}

/* Points of the layout of series k in [from, to). */
static uint64_t present(int k, int64_t from, int64_t to)
{
    uint64_t c = 0;

    for (int64_t t = from; t < to; t += RU_STEP)
        c += ru_present((unsigned)k, t);
    return c;
}

/* The late points' intervals, by hand from the rule: count, first and
 * last of a counter and the sum of an absolute. */
static void assert_late_folded(tss_store *s)
{
    ru_rows r;
    const int64_t M1 = RU_MIN, M5 = RU_5MIN;

    ru_query_rows(s, NULL, &r);
    /* [5:00, 6:00) of HA had 5:00 and 5:50: the late 5:55 counts, but the
     * interval's last stays the one of 5:50 (it may be as late as 5:59) */
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_COUNT, HA + 300000),
                     3);
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_FIRST, HA + 300000),
                     ru_value(RU_C32, HA + 300000));
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_LAST, HA + 300000),
                     ru_value(RU_C32, HA + 350000));
    assert_int_equal(get_u(&r, RU_ABS, M1, TSS_AGGREGATE_SUM, HA + 300000),
                     ru_value(RU_ABS, HA + 300000) +
                         ru_value(RU_ABS, HA + 350000) +
                         late_value(RU_ABS, HA + 355000));
    /* 1:59.999 ties with the interval's end: the later written wins */
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_COUNT, HA + 60000), 7);
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_LAST, HA + 60000),
                     late_value(RU_C32, HA + 119999));
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_FIRST, HA + 60000),
                     ru_value(RU_C32, HA + 60000));
    /* an interval of late points only: first and last by their times */
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_COUNT, HA + 1560000),
                     2);
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_FIRST, HA + 1560000),
                     late_value(RU_C32, HA + 1570000));
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_LAST, HA + 1560000),
                     late_value(RU_C32, HA + 1580000));
    /* 5 min [25:00, 30:00) of HB: points from 28:00; the late 25:10 is
     * counted but is not its first */
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_COUNT, HB + 1500000),
                     present(RU_C32, HB + 1500000, HB + 1800000) + 1);
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_FIRST, HB + 1500000),
                     ru_value(RU_C32, HB + 1680000));
    /* [10:00, 15:00): 12:05 inside, 14:59.999 its last */
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_COUNT, HB + 600000),
                     present(RU_C32, HB + 600000, HB + 900000) + 2);
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_LAST, HB + 600000),
                     late_value(RU_C32, HB + 899999));
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_FIRST, HB + 600000),
                     ru_value(RU_C32, HB + 600000));
    /* 7:55 folded with the 1 min intervals of [5:00, 10:00) of HC */
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_COUNT, HC + 300000),
                     present(RU_C32, HC + 300000, HC + 600000) + 1);
    assert_int_equal(get_u(&r, RU_C32, M5, TSS_AGGREGATE_LAST, HC + 300000),
                     ru_value(RU_C32, HC + 590000));
    /* a late point of a window still raw: rolled up with its time */
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_LAST, HD + 300000),
                     late_value(RU_C32, HD + 355000));
    assert_int_equal(get_u(&r, RU_C32, M1, TSS_AGGREGATE_COUNT, HD + 300000),
                     3);
    ru_rows_free(&r);
}

/* The increase of a counter over [from, to) from its aggregates at `res`
 * (within an interval last - first + wraps * 2^32, between intervals next
 * first - last modulo 2^32) equals the one from the points; the data
 * wraps in it, several times within intervals. */
static void assert_increase(const ru_rows *r, const model *m, int64_t res,
                            int64_t from, int64_t to)
{
    uint64_t agg = 0, raw = 0, prev = 0;
    bool have = false;
    int wraps = 0, multi = 0;
    tss_point *pts = malloc(m->nall[RU_C32] * sizeof(*pts));
    size_t n = 0;

    assert_non_null(pts);
    for (int64_t t = from; t < to; t += res) {
        const ru_row *f = find(r, RU_C32, res, TSS_AGGREGATE_FIRST, t);
        const ru_row *l = find(r, RU_C32, res, TSS_AGGREGATE_LAST, t);
        const ru_row *w = find(r, RU_C32, res, TSS_AGGREGATE_WRAPS, t);
        uint64_t nw = w ? w->bits : 0;

        if (!f)
            continue;
        assert_non_null(l);
        wraps += nw > 0;
        multi += nw > 1;
        if (have)
            agg += (uint32_t)(f->bits - prev);
        agg += l->bits - f->bits + (nw << 32);
        prev = l->bits;
        have = true;
    }
    for (size_t i = 0; i < m->nall[RU_C32]; i++)
        if (m->all[RU_C32][i].t >= from && m->all[RU_C32][i].t < to)
            pts[n++] = m->all[RU_C32][i];
    qsort(pts, n, sizeof(*pts), cmp_point);
    for (size_t i = 1; i < n; i++)
        raw += (uint32_t)(pts[i].v.counter - pts[i - 1].v.counter);
    free(pts);
    assert_true(wraps >= 1 && multi >= 1);
    assert_int_equal(agg, raw);
}

/* The store through passes 1 and 2; *out stays open. */
static void run_passes(const char *dir, model *m, tss_store **out)
{
    tss_store *s;
    tss_rollup_result rr;
    unsigned flags;
    int64_t res, end;
    char segs[4096];
    uint64_t digest;

    m_init(m);
    s = open_writer(dir, TSS_OPEN_CREATE, NULL);
    fill(s, m, ALL_BUT_B, N - 292 * H, P1);
    fill(s, m, 1u << RU_GAUGE_B, N - 292 * H, N - 200 * H);
    ru_seal(s);

    rollup(s, m, P1, &rr);
    assert_int_equal(rr.windows, 5 + 7);
    assert_int_equal(rr.windows_removed, 1);
    assert_model("pass 1", s, m);
    assert_stitched("pass 1", s, m);
    /* 5 + 7 rollups, the raw hours [-72, -44) */
    assert_int_equal(assert_layout("pass 1", dir, P1), 5 + 7 + 28);
    ru_assert_verify_clean("pass 1", s);
    /* the 1 min window [-80, -72) is exactly 1 d old: rolled; the raw
     * hour -72 is 27 h old but its window [-72, -64) is not: raw */
    assert_int_equal(segments_at(dir, N - 80 * H, &flags, &res, &end), 1);
    assert_true(flags == 1 && res == RU_MIN && end == N - 72 * H);
    assert_int_equal(segments_at(dir, N - 72 * H, &flags, &res, &end), 1);
    assert_true(flags == 0 && res == 0 && end == N - 71 * H);
    /* [-160, -128) is exactly 3 d old: 5 min from raw; nothing past Keep
     * is left */
    assert_int_equal(segments_at(dir, N - 160 * H, &flags, &res, &end), 1);
    assert_true(flags == 1 && res == RU_5MIN && end == N - 128 * H);
    assert_int_equal(segments_at(dir, N - 320 * H, NULL, NULL, NULL), 0);
    assert_true(m->gone_before == N - 288 * H);

    append_late(s, m);
    fill(s, m, ALL_BUT_B, P1, N - 4 * H);
    ru_seal(s);
    /* the late points beside the rollups, raw until the next pass */
    assert_model("late points", s, m);
    {
        ru_rows r;

        ru_query_rows(s, NULL, &r);
        assert_non_null(find(&r, RU_C32, 0, 0, HA + 355000));
        assert_non_null(
            find(&r, RU_C32, RU_MIN, TSS_AGGREGATE_COUNT, HA + 300000));
        ru_rows_free(&r);
    }

    rollup(s, m, P2, &rr);
    assert_int_equal(rr.windows, 2 + 7);
    assert_int_equal(rr.windows_removed, 1);
    assert_model("pass 2", s, m);
    assert_stitched("pass 2", s, m);
    assert_layout("pass 2", dir, P2);
    ru_assert_verify_clean("pass 2", s);
    assert_late_folded(s);
    /* [-128, -96): four 1 min windows and a late point, now one 5 min */
    assert_int_equal(segments_at(dir, N - 128 * H, &flags, &res, &end), 1);
    assert_true(flags == 1 && res == RU_5MIN && end == N - 96 * H);
    assert_int_equal(segments_at(dir, N - 288 * H, NULL, NULL, NULL), 0);
    {
        ru_rows r;

        ru_query_rows(s, NULL, &r);
        /* (windows without late points: a late value breaks the
         * counter's sequence) */
        assert_increase(&r, m, RU_5MIN, N - 160 * H, N - 128 * H);
        assert_increase(&r, m, RU_MIN, N - 56 * H, N - 24 * H);
        ru_rows_free(&r);
    }
    assert_int_equal(ru_count_suffix(dir, "_coverage/segments", ".roar"),
                     ru_count_suffix(dir, "segments", ".seg"));

    /* the same pass again: nothing to do, nothing touched */
    tt_join(segs, sizeof(segs), dir, "segments");
    digest = tt_tree_digest(segs);
    assert_int_equal(tss_store_rollup(s, P2, &rr), 0);
    assert_int_equal(rr.windows, 0);
    assert_int_equal(rr.windows_removed, 0);
    assert_true(tt_tree_digest(segs) == digest);
    *out = s;
}

static void test_wide_passes(void **state)
{
    const char *dir = *state;
    model m;
    tss_store *s;

    run_passes(dir, &m, &s);
    tss_store_close(s);
    /* a reader, and the writer reopened, see the same */
    s = ru_open(dir, 0, NULL);
    assert_model("reader", s, &m);
    tss_store_close(s);
    s = open_writer(dir, 0, NULL);
    assert_model("writer reopened", s, &m);
    ru_assert_verify_clean("writer reopened", s);
    tss_store_close(s);
    m_free(&m);
}

/* ---- deletes on rolled-up data --------------------------------------------
 */

static void delete_now(tss_store *s, const char *glob, int64_t from, int64_t to,
                       int64_t now)
{
    tss_delete_spec spec;
    tss_apply_result ar;
    char id[37];
    int st = -1;

    memset(&spec, 0, sizeof(spec));
    spec.series_glob = glob;
    spec.has_from = spec.has_to = 1;
    spec.from = from;
    spec.to = to;
    assert_int_equal(tss_delete_create(s, &spec, id), 0);
    assert_int_equal(tss_store_apply_mutations(s, now, &ar), 0);
    assert_int_equal(ar.made_visible, 1);
    assert_int_equal(tss_mutation_state(s, id, &st), 0);
    assert_int_equal(st, TSS_MUTATION_VISIBLE);
}

static void test_wide_delete(void **state)
{
    const char *dir = *state;
    model m;
    tss_store *s;
    tss_delete_spec spec;
    tss_plan_totals tot;
    tss_apply_result ar;
    tss_rollup_result rr;
    unsigned flags;
    int64_t res, end;
    ru_rows r;
    /* derive: from 42:30 of hour -97 (5 min window [-128, -96): its
     * intervals 45:00, 50:00, 55:00) to 0:30 of hour -95 (1 min window
     * [-96, -88): all of hour -96 and the interval 0:00 of -95) */
    int64_t from1 = N - 97 * H + 2550000, to1 = N - 95 * H + 30000;
    /* counter-32: 10:00 to 19:59.999 of hour -78 (1 min [-80, -72)) */
    int64_t from2 = N - 78 * H + 600000, to2 = N - 78 * H + 1199999;
    uint64_t hidden;

    run_passes(dir, &m, &s);

    /* the plan counts a rolled-up series by its intervals */
    memset(&spec, 0, sizeof(spec));
    spec.series_glob = "h/ru/derive";
    spec.has_from = spec.has_to = 1;
    spec.from = from1;
    spec.to = to1;
    assert_int_equal(tss_delete_plan(s, &spec, NULL, NULL, &tot), 0);
    /* 50:00 and 55:00 of hour -97 (45:00 is in the gap 40:00-50:00), the
     * 47 minutes with points of hour -96, 0:00 of hour -95 */
    hidden = m_delete(&m, RU_DERIVE, from1, to1);
    assert_int_equal(hidden, 2 + 47 + 1);
    assert_int_equal(tot.points, hidden);
    assert_int_equal(tot.segments, 2);
    assert_int_equal(tot.series, 1);

    delete_now(s, "h/ru/derive", from1, to1, P2);
    assert_model("delete on rollups, visible", s, &m);
    assert_int_equal(ru_count_suffix(dir, "segments", ".tombstones"), 2);
    ru_assert_verify_clean("delete on rollups, visible", s);

    /* compaction rewrites both windows: still rollups, same resolution */
    assert_int_equal(tss_store_compact(s, P2, 0, &ar), 0);
    assert_int_equal(ar.compacted, 2);
    assert_int_equal(tss_store_apply_mutations(s, P2, &ar), 0);
    assert_int_equal(ar.removed_docs, 1);
    assert_int_equal(ru_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_int_equal(ru_count_suffix(dir, "wal/mutations", ".json"), 0);
    assert_int_equal(segments_at(dir, N - 128 * H, &flags, &res, &end), 1);
    assert_true(flags == 1 && res == RU_5MIN && end == N - 96 * H);
    assert_int_equal(segments_at(dir, N - 96 * H, &flags, &res, &end), 1);
    assert_true(flags == 1 && res == RU_MIN && end == N - 88 * H);
    assert_model("delete on rollups, compacted", s, &m);
    assert_layout("delete on rollups, compacted", dir, P2);
    ru_assert_verify_clean("delete on rollups, compacted", s);
    assert_int_equal(ru_count_suffix(dir, "_coverage/segments", ".roar"),
                     ru_count_suffix(dir, "segments", ".seg"));

    /* a second delete, left uncompacted for the pass to fold away */
    hidden = m_delete(&m, RU_C32, from2, to2);
    assert_int_equal(hidden, 10);
    delete_now(s, "h/ru/counter-32", from2, to2, P2);
    assert_model("second delete, visible", s, &m);

    /* pass 3 folds [-96, -64) into 5 min: neither delete comes back */
    rollup(s, &m, P3, &rr);
    assert_int_equal(rr.windows, 2);
    assert_int_equal(tss_store_apply_mutations(s, P3, &ar), 0);
    assert_int_equal(ar.removed_docs, 1);
    assert_int_equal(ru_count_suffix(dir, "wal/mutations", ".json"), 0);
    assert_int_equal(ru_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_model("pass 3", s, &m);
    assert_layout("pass 3", dir, P3);
    ru_assert_verify_clean("pass 3", s);
    ru_query_rows(s, NULL, &r);
    for (size_t i = 0; i < r.n; i++) {
        if (r.v[i].series == RU_DERIVE && r.v[i].t >= from1 &&
            r.v[i].t < N - 95 * H)
            fail_msg("derive at %" PRId64 " s before N: deleted, back",
                     (N - r.v[i].t) / SEC);
        if (r.v[i].series == RU_C32 && r.v[i].t >= from2 && r.v[i].t <= to2)
            fail_msg("counter-32 at %" PRId64 " s before N: deleted, back",
                     (N - r.v[i].t) / SEC);
    }
    /* [0:00, 5:00) of hour -95 at 5 min: the minutes 1 to 4 only */
    assert_int_equal(
        get_u(&r, RU_DERIVE, RU_5MIN, TSS_AGGREGATE_COUNT, N - 95 * H),
        present(RU_DERIVE, N - 95 * H + RU_MIN, N - 95 * H + RU_5MIN));
    assert_int_equal(
        get_u(&r, RU_DERIVE, RU_5MIN, TSS_AGGREGATE_FIRST, N - 95 * H),
        ru_value(RU_DERIVE, N - 95 * H + RU_MIN));
    /* [10:00, 15:00) and [15:00, 20:00) of hour -78: gone whole */
    assert_null(
        find(&r, RU_C32, RU_5MIN, TSS_AGGREGATE_COUNT, N - 78 * H + 600000));
    assert_null(
        find(&r, RU_C32, RU_5MIN, TSS_AGGREGATE_COUNT, N - 78 * H + 900000));
    assert_non_null(
        find(&r, RU_C32, RU_5MIN, TSS_AGGREGATE_COUNT, N - 78 * H + 1200000));
    ru_rows_free(&r);
    tss_store_close(s);
    m_free(&m);
}

/* ---- tss_query_seek ---------------------------------------------------------
 */

typedef struct entry {
    int series;
    int64_t res;
    int agg;
    uint64_t count;
} entry;

static int series_of(const tss_series_info *si)
{
    for (int k = 0; k < RU_NSERIES; k++)
        if (strcmp(si->id.type, ru_series[k].type) == 0 &&
            strcmp(si->id.type_instance, ru_series[k].type_instance) == 0 &&
            si->kind == ru_kind[k])
            return k;
    return -1;
}

/* Seeks every series on a fresh query at `resolution` and compares the
 * series it lands on, its points and the one after it with a full scan. */
static void assert_seek(tss_store *s, int64_t resolution, int only_rollups)
{
    tss_filter f;
    tss_query *q;
    tss_series_info si;
    entry full[256];
    size_t n = 0;
    int rc;

    memset(&f, 0, sizeof(f));
    f.resolution = resolution;
    assert_int_equal(tss_query_open(&q, s, &f), 0);
    while ((rc = tss_query_next(q, &si)) == 1) {
        assert_true(n < 256);
        full[n++] =
            (entry){series_of(&si), si.resolution, si.aggregate, si.count};
    }
    assert_int_equal(rc, 0);
    tss_query_close(q);
    for (int k = 0; k < RU_NSERIES; k++) {
        size_t first = n;
        bool rolled_only = true;

        for (size_t i = 0; i < n; i++)
            if (full[i].series == k) {
                first = i < first ? i : first;
                rolled_only = rolled_only && full[i].res > 0;
            }
        assert_int_equal(tss_query_open(&q, s, &f), 0);
        rc = tss_query_seek(q, &ru_series[k], ru_kind[k], &si);
        if (first == n) {
            assert_int_equal(rc, 0);
            tss_query_close(q);
            continue;
        }
        if (k == only_rollups)
            assert_true(rolled_only);
        if (rc != 1)
            fail_msg("seek of series %d (%s rollups only) at resolution "
                     "%" PRId64 ": %d, want the series",
                     k, rolled_only ? "as" : "not", resolution, rc);
        assert_int_equal(series_of(&si), k);
        assert_int_equal(si.resolution, full[first].res);
        assert_int_equal(si.aggregate, full[first].agg);
        assert_int_equal(si.count, full[first].count);
        {
            const tss_point *pts;
            size_t np;

            assert_int_equal(tss_query_points(q, &pts, &np), 0);
            assert_int_equal(np, full[first].count);
        }
        rc = tss_query_next(q, &si);
        if (first + 1 == n) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, 1);
            assert_int_equal(series_of(&si), full[first + 1].series);
            assert_int_equal(si.resolution, full[first + 1].res);
            assert_int_equal(si.aggregate, full[first + 1].agg);
        }
        tss_query_close(q);
    }
}

static void test_wide_seek(void **state)
{
    const char *dir = *state;
    model m;
    tss_store *s;
    tss_rollup_result rr;
    static const tss_series_id nobody = {"h", "ru", "", "gauge", "z", "value"};
    tss_query *q;
    tss_series_info si;

    m_init(&m);
    s = open_writer(dir, TSS_OPEN_CREATE, NULL);
    /* gauge-b only in [-160, -158): 5 min at N; gauge there and raw at
     * -3; counter-32 in [-100, -99): 5 min */
    fill(s, &m, 1u << RU_GAUGE_B | 1u << RU_GAUGE, N - 160 * H, N - 158 * H);
    fill(s, &m, 1u << RU_GAUGE, N - 3 * H, N - 2 * H);
    fill(s, &m, 1u << RU_C32, N - 100 * H, N - 99 * H);
    ru_seal(s);
    rollup(s, &m, N, &rr);
    assert_int_equal(rr.windows, 2);
    assert_model("seek store", s, &m);
    assert_seek(s, TSS_RES_AUTO, RU_GAUGE_B);
    assert_seek(s, RU_5MIN, RU_GAUGE_B);
    assert_seek(s, 0, -1);
    assert_int_equal(tss_query_open(&q, s, NULL), 0);
    assert_int_equal(tss_query_seek(q, &nobody, TSS_KIND_GAUGE, &si), 0);
    tss_query_close(q);
    tss_store_close(s);
    m_free(&m);
}

/* ---- a power cut at every fsync ---------------------------------------------
 */

typedef struct cut_case {
    const char *name;
    int64_t now;
    int (*op)(tss_store *s, int64_t now);
    ru_rows before, after; /* the whole store */
    int64_t win[4];        /* windows [win[i], win[i] + width) that change */
    size_t nwin;
    int64_t width;
    /* checks of the final store beyond its rows */
    void (*final)(const char *what, tss_store *s, const char *dir);
} cut_case;

static int op_rollup(tss_store *s, int64_t now)
{
    return tss_store_rollup(s, now, NULL);
}

static int op_compact(tss_store *s, int64_t now)
{
    int rc = tss_store_compact(s, now, 0, NULL);

    return rc ? rc : tss_store_apply_mutations(s, now, NULL);
}

/* Each window is whole as before the operation or as after it; and
 * outside them the store is as before (= after). Returns the windows in
 * the state after. */
static size_t assert_before_or_after(const char *what, tss_store *s,
                                     const cut_case *c)
{
    ru_rows got, rest, want_rest;
    size_t done = 0;

    ru_query_rows(s, NULL, &got);
    memset(&rest, 0, sizeof(rest));
    memset(&want_rest, 0, sizeof(want_rest));
    for (size_t i = 0; i < c->nwin; i++) {
        ru_rows g, b, a;

        ru_rows_window(&got, c->win[i], c->win[i] + c->width, &g);
        ru_rows_window(&c->before, c->win[i], c->win[i] + c->width, &b);
        ru_rows_window(&c->after, c->win[i], c->win[i] + c->width, &a);
        if (!ru_rows_equal(&g, &b) && !ru_rows_equal(&g, &a)) {
            char label[256];

            snprintf(label, sizeof(label),
                     "%s: window %zu is neither as before nor as after "
                     "(compared with after)",
                     what, i);
            ru_assert_rows(label, &g, &a);
        }
        done += ru_rows_equal(&g, &a) && !ru_rows_equal(&b, &a);
        ru_rows_free(&g);
        ru_rows_free(&b);
        ru_rows_free(&a);
    }
    for (size_t i = 0; i < got.n; i++) {
        bool in = false;

        for (size_t w = 0; w < c->nwin; w++)
            in = in ||
                 (got.v[i].t >= c->win[w] && got.v[i].t < c->win[w] + c->width);
        if (!in)
            ru_rows_push(&rest, got.v[i].series, got.v[i].res, got.v[i].agg,
                         got.v[i].t, got.v[i].bits);
    }
    for (size_t i = 0; i < c->after.n; i++) {
        bool in = false;

        for (size_t w = 0; w < c->nwin; w++)
            in = in || (c->after.v[i].t >= c->win[w] &&
                        c->after.v[i].t < c->win[w] + c->width);
        if (!in)
            ru_rows_push(&want_rest, c->after.v[i].series, c->after.v[i].res,
                         c->after.v[i].agg, c->after.v[i].t,
                         c->after.v[i].bits);
    }
    ru_assert_rows(what, &rest, &want_rest);
    ru_rows_free(&rest);
    ru_rows_free(&want_rest);
    ru_rows_free(&got);
    return done;
}

static void assert_final(const char *what, tss_store *s, const char *dir,
                         const cut_case *c)
{
    ru_rows got;

    ru_query_rows(s, NULL, &got);
    ru_assert_rows(what, &got, &c->after);
    ru_rows_free(&got);
    assert_int_equal(ru_count_suffix(dir, "_coverage/segments", ".roar"),
                     ru_count_suffix(dir, "segments", ".seg"));
    c->final(what, s, dir);
    ru_assert_verify_clean(what, s);
}

static void every_cut(const char *base, const char *tpl, const cut_case *c)
{
    char dir[4096], what[192];
    unsigned long total = 0;
    bool saw_mid = false;
    size_t changing = 0;

    tt_join(dir, sizeof(dir), base, "store");
    for (size_t i = 0; i < c->nwin; i++) {
        ru_rows b, a;

        ru_rows_window(&c->before, c->win[i], c->win[i] + c->width, &b);
        ru_rows_window(&c->after, c->win[i], c->win[i] + c->width, &a);
        changing += !ru_rows_equal(&b, &a);
        ru_rows_free(&b);
        ru_rows_free(&a);
    }
    for (unsigned long n = 0; n == 0 || n <= total; n++) {
        tss_store *s;
        int rc;

        tt_copy_tree(tpl, dir);
        co_baseline(dir);
        co_arm(0);
        s = open_writer(dir, 0, co_ops());
        co_arm(n);
        rc = c->op(s, c->now);
        snprintf(what, sizeof(what), "%s, power cut at fsync %lu of %lu",
                 c->name, n, total);
        if (n == 0) {
            /* without a cut: the reference */
            assert_int_equal(rc, 0);
            total = co_fsyncs();
            assert_true(total >= 5);
            assert_final(what, s, dir, c);
            tss_store_close(s);
            tt_rmrf(dir);
            continue;
        }
        (void)rc;
        assert_true(co_crashed());
        tss_store_close(s);
        co_power_cut(dir);
        /* a reader, before any recovery */
        s = ru_open(dir, 0, NULL);
        {
            size_t done = assert_before_or_after(what, s, c);

            saw_mid = saw_mid || (done > 0 && done < changing);
        }
        tss_store_close(s);
        /* the writer restarted, and its next run of the operation */
        s = open_writer(dir, 0, NULL);
        ru_assert_verify_clean(what, s);
        assert_before_or_after(what, s, c);
        assert_int_equal(c->op(s, c->now), 0);
        assert_final(what, s, dir, c);
        tss_store_close(s);
        tt_rmrf(dir);
    }
    /* some cuts fell between the windows of one pass */
    if (changing > 1)
        assert_true(saw_mid);
    co_free();
}

/* Pass A: two 8 h windows of raw hours rolled to 1 min (the second
 * exactly 1 d old), the hour after them left raw. */
#define CA (N - 64 * H)
#define CA_NOW (CA + 16 * H + D)

static void final_roll(const char *what, tss_store *s, const char *dir)
{
    unsigned flags;
    int64_t res, end;

    (void)s;
    for (int w = 0; w < 2; w++) {
        if (segments_at(dir, CA + w * 8 * H, &flags, &res, &end) != 1 ||
            flags != 1 || res != RU_MIN || end != CA + (w + 1) * 8 * H)
            fail_msg("%s: window %d is not one 8 h rollup segment", what, w);
        for (int h = 1; h < 8; h++)
            assert_int_equal(
                segments_at(dir, CA + (w * 8 + h) * H, NULL, NULL, NULL), 0);
    }
    assert_int_equal(segments_at(dir, CA + 16 * H, &flags, &res, &end), 1);
    assert_true(flags == 0 && end == CA + 17 * H);
    assert_int_equal(assert_layout(what, dir, CA_NOW), 3);
}

static void test_wide_crash_roll(void **state)
{
    const char *base = *state;
    char tpl[4096];
    model m;
    tss_store *s;
    cut_case c = {.name = "pass rolling raw windows into wide ones",
                  .now = CA_NOW,
                  .op = op_rollup,
                  .win = {CA, CA + 8 * H, CA + 16 * H},
                  .nwin = 3,
                  .width = 8 * H,
                  .final = final_roll};

    tt_join(tpl, sizeof(tpl), base, "template");
    m_init(&m);
    s = open_writer(tpl, TSS_OPEN_CREATE, NULL);
    fill(s, &m, 1u << RU_GAUGE | 1u << RU_C32 | 1u << RU_ABS, CA, CA + 17 * H);
    ru_seal(s);
    tss_store_close(s);
    m_rows(&m, &c.before);
    m_pass(&m, CA_NOW);
    m_rows(&m, &c.after);
    every_cut(base, tpl, &c);
    ru_rows_free(&c.before);
    ru_rows_free(&c.after);
    m_free(&m);
}

/* Pass B: the four 1 min windows of a 32 h window (and a late raw point
 * beside them) folded into one 5 min segment, exactly 3 d old. */
#define CB (N - 160 * H)
#define CB_NOW (CB + 32 * H + 3 * D)

static void final_fold(const char *what, tss_store *s, const char *dir)
{
    unsigned flags;
    int64_t res, end;

    (void)s;
    if (segments_at(dir, CB, &flags, &res, &end) != 1 || flags != 1 ||
        res != RU_5MIN || end != CB + 32 * H)
        fail_msg("%s: the window is not one 32 h 5 min segment", what);
    assert_int_equal(assert_layout(what, dir, CB_NOW), 1);
}

static void test_wide_crash_fold(void **state)
{
    const char *base = *state;
    char tpl[4096];
    model m;
    tss_store *s;
    tss_rollup_result rr;
    cut_case c = {.name = "pass folding 1 min into 5 min",
                  .now = CB_NOW,
                  .op = op_rollup,
                  .win = {CB},
                  .nwin = 1,
                  .width = 32 * H,
                  .final = final_fold};

    tt_join(tpl, sizeof(tpl), base, "template");
    m_init(&m);
    s = open_writer(tpl, TSS_OPEN_CREATE, NULL);
    fill(s, &m, 1u << RU_GAUGE | 1u << RU_C32, CB, CB + 32 * H);
    ru_seal(s);
    rollup(s, &m, CB + 32 * H + D, &rr);
    assert_int_equal(rr.windows, 4);
    put(s, &m, RU_C32, CB + 9 * H + 355000,
        late_value(RU_C32, CB + 9 * H + 355000));
    ru_seal(s);
    assert_model("fold template", s, &m);
    tss_store_close(s);
    m_rows(&m, &c.before);
    m_pass(&m, CB_NOW);
    m_rows(&m, &c.after);
    every_cut(base, tpl, &c);
    ru_rows_free(&c.before);
    ru_rows_free(&c.after);
    m_free(&m);
}

/* Compaction of windows whose every point was deleted: gauge alone in the
 * 1 min window [-64, -56) and in the raw hour -3; counter-32 in the 1 min
 * window [-56, -48) and the raw hour -2 stays. */
static bool has_coverage(tss_store *s, const char *glob)
{
    tss_filter f;
    tss_coverage *c;
    tss_coverage_series cs;
    int rc;

    memset(&f, 0, sizeof(f));
    f.series_glob = glob;
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    rc = tss_coverage_next(c, &cs);
    assert_true(rc == 0 || rc == 1);
    tss_coverage_close(c);
    return rc == 1;
}

static void final_empty(const char *what, tss_store *s, const char *dir)
{
    unsigned flags;
    int64_t res, end;

    assert_int_equal(segments_at(dir, N - 64 * H, NULL, NULL, NULL), 0);
    assert_int_equal(segments_at(dir, N - 3 * H, NULL, NULL, NULL), 0);
    assert_int_equal(segments_at(dir, N - 56 * H, &flags, &res, &end), 1);
    assert_true(flags == 1 && res == RU_MIN);
    assert_int_equal(segments_at(dir, N - 2 * H, &flags, &res, &end), 1);
    assert_true(flags == 0);
    assert_int_equal(ru_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_int_equal(ru_count_suffix(dir, "wal/mutations", ".json"), 0);
    if (has_coverage(s, "h/ru/gauge"))
        fail_msg("%s: coverage still shows the deleted series", what);
    assert_true(has_coverage(s, "h/ru/counter-32"));
}

static void test_wide_crash_compact_empty(void **state)
{
    const char *base = *state;
    char tpl[4096];
    model m;
    tss_store *s;
    tss_rollup_result rr;
    cut_case c = {.name = "compaction of windows with every point deleted",
                  .now = N,
                  .op = op_compact,
                  .win = {N - 64 * H, N - 8 * H},
                  .nwin = 2,
                  .width = 8 * H,
                  .final = final_empty};

    tt_join(tpl, sizeof(tpl), base, "template");
    m_init(&m);
    s = open_writer(tpl, TSS_OPEN_CREATE, NULL);
    fill(s, &m, 1u << RU_GAUGE, N - 64 * H, N - 62 * H);
    fill(s, &m, 1u << RU_C32, N - 56 * H, N - 55 * H);
    fill(s, &m, 1u << RU_GAUGE, N - 3 * H, N - 2 * H);
    fill(s, &m, 1u << RU_C32, N - 2 * H, N - H);
    ru_seal(s);
    rollup(s, &m, N, &rr);
    assert_int_equal(rr.windows, 2);
    m_delete(&m, RU_GAUGE, N - 100 * H, N);
    delete_now(s, "h/ru/gauge", N - 100 * H, N, N);
    assert_int_equal(ru_count_suffix(tpl, "segments", ".tombstones"), 2);
    assert_model("empty template", s, &m);
    ru_assert_verify_clean("empty template", s);
    tss_store_close(s);
    m_rows(&m, &c.before);
    m_rows(&m, &c.after);
    every_cut(base, tpl, &c);
    ru_rows_free(&c.before);
    ru_rows_free(&c.after);
    m_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_wide_passes),     T(test_wide_delete),
        T(test_wide_seek),       T(test_wide_crash_roll),
        T(test_wide_crash_fold), T(test_wide_crash_compact_empty),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
