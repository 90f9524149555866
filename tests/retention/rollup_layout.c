/*
 * The rollup tests' store and its expected contents (rollup_layout.h).
 */
#define _GNU_SOURCE
#include "rollup_layout.h"

#include <stdlib.h>
#include <string.h>

#define H RU_HOUR
#define D RU_DAY
#define M1 RU_MIN
#define M5 RU_5MIN
#define G RL_GONE

const rl_window rl_windows[RL_NWIN] = {
    {"R1", RU_NOW - 2 * H, {0, 0, 0, 0}},
    {"R2", RU_NOW - D, {0, 0, 0, 0}},
    {"M3", RU_NOW - D - H, {0, 0, 0, M1}},
    {"M4", RU_NOW - 2 * D - H, {0, M1, M1, M1}},
    {"F5", RU_NOW - 4 * D - H, {0, M5, M5, M5}},
    {"F6", RU_NOW - 3 * D - H, {0, M1, M1, M5}},
    {"K10", RU_NOW - 10 * D, {0, M5, M5, M5}},
    {"G7", RU_NOW - 10 * D - H, {0, M5, M5, G}},
    {"G8", RU_NOW - 11 * D, {0, M5, M5, G}},
    {"G9", RU_NOW - 12 * D, {0, G, G, G}},
    {"head", RU_NOW, {0, 0, 0, 0}},
};

int64_t rl_end(int w)
{
    return w == RL_HEAD ? INT64_MAX : rl_windows[w].start + RU_SPAN;
}

void rl_options(tss_store_options *o, const tss_io_ops *io, tt_log *log)
{
    ru_options(o, io, log);
    ru_levels(o);
}

void rl_build(const char *dir, rl_layout *L)
{
    tss_store_options o;
    tss_store *s;
    int64_t m4 = rl_windows[RL_M4].start;

    memset(L, 0, sizeof(*L));
    rl_options(&o, NULL, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    for (int w = 0; w < RL_HEAD; w++)
        ru_fill_window(s, &L->m, rl_windows[w].start);
    ru_seal(s);
    /* M4's second segment: the first 30 s of every series rewritten with
     * other values, and two times the first segment has not */
    for (unsigned k = 0; k < RU_NSERIES; k++) {
        for (int64_t t = m4; t < m4 + 30000; t += RU_STEP)
            ru_put(s, &L->m, k, t, ru_value(k, t + 7 * D + 10000));
        ru_put(s, &L->m, k, m4 + 5000, ru_value(k, m4 + 5000 + D));
        ru_put(s, &L->m, k, m4 + 15000, ru_value(k, m4 + 15000 + D));
    }
    ru_seal(s);
    /* the head */
    for (int64_t t = RU_NOW; t < RU_NOW + 120000; t += RU_STEP)
        for (unsigned k = 0; k < RU_NSERIES; k++)
            ru_put(s, &L->m, k, t, ru_value(k, t));
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
    L->n_raw = L->m.n;
    L->n_late = L->m.n;
}

void rl_late(tss_store *s, rl_layout *L)
{
    static const unsigned series[] = {RU_GAUGE, RU_DERIVE, RU_C32, RU_ABS};
    int64_t m4 = rl_windows[RL_M4].start;

    assert_int_equal(L->m.n, L->n_raw);
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        /* inside an interval with points, and in one without */
        ru_put(s, &L->m, series[i], m4 + 305000,
               ru_value(series[i], m4 + 305000));
        ru_put(s, &L->m, series[i], m4 + 1510000,
               ru_value(series[i], m4 + 1510000));
    }
    /* the windows are due by their end but not by the (real) time of
     * their first arrival: seal all, the head's too, then give the head
     * new points */
    ru_seal(s);
    for (int64_t t = RU_NOW + 120000; t < RU_NOW + 240000; t += RU_STEP)
        for (unsigned k = 0; k < RU_NSERIES; k++)
            ru_put(s, &L->m, k, t, ru_value(k, t));
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    L->n_late = L->m.n;
}

typedef struct arrival {
    tss_point p;
    size_t order;
} arrival;

static int cmp_arrival(const void *a, const void *b)
{
    const arrival *x = a, *y = b;

    if (x->p.t != y->p.t)
        return x->p.t < y->p.t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

size_t rl_points(const tt_model *m, size_t lo, size_t hi, unsigned series,
                 int64_t from, int64_t to, tss_point **out)
{
    arrival *v = malloc((hi > lo ? hi - lo : 1) * sizeof(*v));
    size_t n = 0, k = 0;

    assert_non_null(v);
    for (size_t i = lo; i < hi && i < m->n; i++)
        if (m->p[i].series == series && m->p[i].t >= from && m->p[i].t < to) {
            v[n].p.t = m->p[i].t;
            v[n].p.v.bits = m->p[i].bits;
            v[n].order = i;
            n++;
        }
    qsort(v, n, sizeof(*v), cmp_arrival);
    *out = malloc((n ? n : 1) * sizeof(tss_point));
    assert_non_null(*out);
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || v[i + 1].p.t != v[i].p.t)
            (*out)[k++] = v[i].p;
    free(v);
    return k;
}

void rl_expect_window(const rl_layout *L, int stage, int w, ru_rows *out)
{
    int64_t res = rl_windows[w].res[stage];
    int64_t from = rl_windows[w].start, to = rl_end(w);
    /* the arrivals the window's aggregates summarise, and all so far */
    size_t rolled = stage == RL_B ? L->n_late : L->n_raw;
    size_t upto = stage == RL_RAW || stage == RL_A ? L->n_raw : L->n_late;

    memset(out, 0, sizeof(*out));
    if (res == RL_GONE)
        return;
    for (unsigned k = 0; k < RU_NSERIES; k++) {
        tss_point *pts;
        size_t n;

        if (res > 0) {
            ru_interval *iv;
            size_t niv;

            n = rl_points(&L->m, 0, rolled, k, from, to, &pts);
            niv = ru_aggregate(ru_kind[k], pts, n, res, &iv);
            ru_rows_add_intervals(out, (int)k, res, iv, niv);
            free(iv);
            free(pts);
            /* raw points that arrived after the pass rolled the window */
            n = rl_points(&L->m, rolled, upto, k, from, to, &pts);
        } else {
            n = rl_points(&L->m, 0, upto, k, from, to, &pts);
        }
        for (size_t i = 0; i < n; i++)
            ru_rows_push(out, (int)k, 0, 0, pts[i].t, pts[i].v.bits);
        free(pts);
    }
    ru_rows_sort(out);
}

void rl_expect(const rl_layout *L, int stage, ru_rows *out)
{
    memset(out, 0, sizeof(*out));
    for (int w = 0; w < RL_NWIN; w++) {
        ru_rows r;

        rl_expect_window(L, stage, w, &r);
        for (size_t i = 0; i < r.n; i++)
            ru_rows_push(out, r.v[i].series, r.v[i].res, r.v[i].agg, r.v[i].t,
                         r.v[i].bits);
        ru_rows_free(&r);
    }
    ru_rows_sort(out);
}
