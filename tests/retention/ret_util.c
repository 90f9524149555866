/*
 * Helpers of the retention and rollup tests (see ret_util.h).
 */
#define _GNU_SOURCE
#include "ret_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tsstore/verify.h"

const tss_series_id ru_series[RU_NSERIES] = {
    {"h", "ru", "", "gauge", "", "value"},
    {"h", "ru", "", "derive", "", "value"},
    {"h", "ru", "", "counter", "32", "value"},
    {"h", "ru", "", "counter", "64", "value"},
    {"h", "ru", "", "absolute", "", "value"},
    {"h", "ru", "", "gauge", "b", "value"},
};

const int ru_kind[RU_NSERIES] = {TSS_KIND_GAUGE,    TSS_KIND_DERIVE,
                                 TSS_KIND_COUNTER,  TSS_KIND_COUNTER,
                                 TSS_KIND_ABSOLUTE, TSS_KIND_GAUGE};

void ru_options(tss_store_options *o, const tss_io_ops *io, tt_log *log)
{
    tss_store_options_init(o);
    o->units_per_second = 1000;
    o->span_seconds = RU_SPAN / 1000;
    o->bucket_seconds = RU_BUCKET / 1000;
    o->grace_seconds = 0;
    o->shards = 4;
    o->compact_after_segments = 0;
    /* rollups in one-span windows, as the layouts place them (wide
     * windows: test_rollup_wide.c) */
    o->rollup_intervals = 1;
    o->io = io;
    if (log) {
        o->log = tt_log_fn;
        o->log_ctx = log;
    }
}

void ru_levels(tss_store_options *o)
{
    o->rollups[0] = (tss_rollup_spec){86400, 60, 0};
    o->rollups[1] = (tss_rollup_spec){3 * 86400, 300, 10 * 86400};
    o->nrollups = 2;
}

tss_store *ru_open(const char *dir, unsigned flags, const tss_store_options *o)
{
    tss_store *s = NULL;
    int rc = tss_store_open(&s, dir, flags, o);

    if (rc != 0)
        fail_msg("open %s: %d %s", dir, rc, tss_error_last());
    return s;
}

void ru_put(tss_store *s, tt_model *m, unsigned series, int64_t t,
            uint64_t bits)
{
    tss_value v;
    int rc;

    v.bits = bits;
    rc = tss_store_append(s, &ru_series[series], ru_kind[series], t, v);
    if (rc != 0)
        fail_msg("append: %d %s", rc, tss_error_last());
    tt_model_add(m, series, t, bits);
}

/* offset of t in its window */
static int64_t off(int64_t t)
{
    return ((t % RU_SPAN) + RU_SPAN) % RU_SPAN;
}

bool ru_present(unsigned series, int64_t t)
{
    int64_t o = off(t);

    /* inside one minute: 4 points of interval 5 (5:00-6:00) */
    if (o >= 310000 && o < 350000)
        return false;
    /* three whole minutes, 25:00-28:00 */
    if (o >= 1500000 && o < 1680000)
        return false;
    /* two whole 5-minute intervals, 40:00-50:00 */
    if (o >= 2400000 && o < 3000000)
        return false;
    if (series == RU_GAUGE_B) {
        /* one whole minute (15:00), then two (20:00-22:00) */
        if (o >= 900000 && o < 960000)
            return false;
        if (o >= 1200000 && o < 1320000)
            return false;
    }
    return true;
}

uint64_t ru_value(unsigned series, int64_t t)
{
    int64_t o = off(t);
    uint64_t i = (uint64_t)(t / RU_STEP);
    tss_value v;

    switch (series) {
    case RU_GAUGE:
        if (o == 1230000)
            v.gauge = INFINITY;
        else if (o / RU_MIN == 7 || (o >= 600000 && o < 900000) || i % 11 == 3)
            v.bits = i % 2 ? UINT64_C(0x7ff80000000000a5)
                           : UINT64_C(0xfff8000000000001);
        else
            v.gauge = (double)(i % 37) * 0.25 - 3.0;
        break;
    case RU_GAUGE_B:
        v.gauge = (double)(i % 13) * 0.5 + 100.0;
        break;
    case RU_DERIVE:
        v.derive = (int64_t)i * 7 - (int64_t)(i % 5) * 40 - 1000000;
        break;
    case RU_C32:
        /* 1.9e9 a step: a wrap every 2 or 3 steps, several in every
         * interval (but at most one between two points, as collectd's
         * rates assume) */
        v.counter = (uint32_t)(UINT32_C(4000000000) +
                               (uint32_t)i * UINT32_C(1900000000));
        break;
    case RU_C64:
        /* every step adds 2^58 + 1: one wrap per 64 steps */
        v.counter = i * ((UINT64_C(1) << 58) + 1);
        break;
    default: /* RU_ABS */
        v.counter = (i % 7) * 1000 + (i % 3 == 0 ? UINT64_C(1) << 40 : 0);
    }
    return v.bits;
}

void ru_fill_window(tss_store *s, tt_model *m, int64_t start)
{
    for (int64_t t = start; t < start + RU_SPAN; t += RU_STEP)
        for (unsigned k = 0; k < RU_NSERIES; k++)
            if (ru_present(k, t))
                ru_put(s, m, k, t, ru_value(k, t));
}

void ru_seal(tss_store *s)
{
    int rc = tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL);

    if (rc != 0)
        fail_msg("seal: %d %s", rc, tss_error_last());
}

/* ---- expected aggregates ---------------------------------------------- */

size_t ru_aggregate(int kind, const tss_point *pts, size_t n, int64_t res,
                    ru_interval **out)
{
    ru_interval *v = calloc(n ? n : 1, sizeof(*v));
    size_t k = 0;

    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        int64_t t = pts[i].t - (((pts[i].t % res) + res) % res);
        ru_interval *iv;

        if (i > 0)
            assert_true(pts[i].t > pts[i - 1].t);
        if (k == 0 || v[k - 1].t != t) {
            iv = &v[k++];
            iv->t = t;
            iv->first = pts[i].v.bits;
            iv->min = iv->max = iv->sum = NAN;
        } else if (kind == TSS_KIND_COUNTER &&
                   pts[i].v.counter < v[k - 1].last &&
                   v[k - 1].last <= UINT32_MAX) {
            v[k - 1].wraps++; /* collectd's counter_diff: a 32-bit wrap */
        }
        iv = &v[k - 1];
        iv->count++;
        iv->last = pts[i].v.bits;
        if (kind == TSS_KIND_ABSOLUTE)
            iv->usum += pts[i].v.counter;
        if (kind == TSS_KIND_GAUGE && !isnan(pts[i].v.gauge)) {
            double x = pts[i].v.gauge;

            if (iv->valid == 0) {
                iv->min = iv->max = iv->sum = x;
            } else {
                iv->min = x < iv->min ? x : iv->min;
                iv->max = x > iv->max ? x : iv->max;
                iv->sum += x;
            }
            iv->valid++;
        }
    }
    *out = v;
    return k;
}

/* ---- rows ---------------------------------------------------------------- */

void ru_rows_push(ru_rows *r, int series, int64_t res, int agg, int64_t t,
                  uint64_t bits)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->v = realloc(r->v, r->cap * sizeof(*r->v));
        assert_non_null(r->v);
    }
    r->v[r->n++] = (ru_row){series, res, agg, t, bits};
}

void ru_rows_free(ru_rows *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static int cmp_row(const void *a, const void *b)
{
    const ru_row *x = a, *y = b;

    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->res != y->res)
        return x->res < y->res ? -1 : 1;
    if (x->agg != y->agg)
        return x->agg < y->agg ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

void ru_rows_sort(ru_rows *r)
{
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), cmp_row);
}

/* The aggregates the design keeps per kind (docs/format.md, Rollups). */
static bool kept(int kind, int agg)
{
    switch (kind) {
    case TSS_KIND_GAUGE:
        return agg >= TSS_AGGREGATE_MIN && agg <= TSS_AGGREGATE_VALID;
    case TSS_KIND_DERIVE:
        return agg == TSS_AGGREGATE_FIRST || agg == TSS_AGGREGATE_LAST ||
               agg == TSS_AGGREGATE_COUNT;
    case TSS_KIND_COUNTER:
        return agg == TSS_AGGREGATE_FIRST || agg == TSS_AGGREGATE_LAST ||
               agg == TSS_AGGREGATE_COUNT || agg == TSS_AGGREGATE_WRAPS;
    default:
        return agg == TSS_AGGREGATE_SUM || agg == TSS_AGGREGATE_COUNT;
    }
}

void ru_rows_add_intervals(ru_rows *r, int series, int64_t res,
                           const ru_interval *iv, size_t n)
{
    int kind = ru_kind[series];
    bool wrapped = false;

    for (size_t i = 0; i < n; i++)
        wrapped |= iv[i].wraps != 0;
    for (size_t i = 0; i < n; i++)
        for (int a = TSS_AGGREGATE_MIN; a <= TSS_AGGREGATE_WRAPS; a++) {
            tss_value v;

            if (!kept(kind, a) || (a == TSS_AGGREGATE_WRAPS && !wrapped))
                continue;
            switch (a) {
            case TSS_AGGREGATE_MIN:
                v.gauge = iv[i].min;
                break;
            case TSS_AGGREGATE_MAX:
                v.gauge = iv[i].max;
                break;
            case TSS_AGGREGATE_SUM:
                if (kind == TSS_KIND_GAUGE)
                    v.gauge = iv[i].sum;
                else
                    v.counter = iv[i].usum;
                break;
            case TSS_AGGREGATE_LAST:
                v.bits = iv[i].last;
                break;
            case TSS_AGGREGATE_COUNT:
                v.counter = iv[i].count;
                break;
            case TSS_AGGREGATE_VALID:
                v.counter = iv[i].valid;
                break;
            case TSS_AGGREGATE_WRAPS:
                v.counter = iv[i].wraps;
                break;
            default:
                v.bits = iv[i].first;
            }
            ru_rows_push(r, series, res, a, iv[i].t, v.bits);
        }
}

static int series_index(const tt_series *e)
{
    for (int k = 0; k < RU_NSERIES; k++) {
        const tss_series_id *id = &ru_series[k];

        if (strcmp(e->field[0], id->host) == 0 &&
            strcmp(e->field[1], id->plugin) == 0 &&
            strcmp(e->field[2], id->plugin_instance) == 0 &&
            strcmp(e->field[3], id->type) == 0 &&
            strcmp(e->field[4], id->type_instance) == 0 &&
            strcmp(e->field[5], id->ds) == 0 && e->kind == ru_kind[k])
            return k;
    }
    return -1;
}

void ru_query_rows(tss_store *s, const tss_filter *f, ru_rows *out)
{
    tss_filter all;
    tt_series *v;
    uint64_t errors;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (!f) {
        memset(&all, 0, sizeof(all));
        all.resolution = TSS_RES_AUTO;
        f = &all;
    }
    n = tt_query(s, f, &v, &errors);
    if (errors)
        fail_msg("query: %" PRIu64 " unreadable files or chunks", errors);
    for (size_t i = 0; i < n; i++) {
        const tt_series *e = &v[i];
        const tss_series_info *in = &e->info;
        int k = series_index(e);

        if (k < 0)
            fail_msg("query: a series the test never wrote: %s/%s/%s",
                     e->field[0], e->field[3], e->field[4]);
        if (in->resolution == 0) {
            if (in->aggregate != 0 || in->value_kind != ru_kind[k])
                fail_msg("series %d: raw points with aggregate %d, value "
                         "kind %d",
                         k, in->aggregate, in->value_kind);
        } else {
            int want_vk = in->aggregate == TSS_AGGREGATE_COUNT ||
                                  in->aggregate == TSS_AGGREGATE_VALID ||
                                  in->aggregate == TSS_AGGREGATE_WRAPS
                              ? TSS_KIND_COUNTER
                              : ru_kind[k];

            if (in->resolution < 0 || !kept(ru_kind[k], in->aggregate))
                fail_msg("series %d: aggregate %d at resolution %" PRId64
                         " is not one its kind keeps",
                         k, in->aggregate, in->resolution);
            if (in->value_kind != want_vk)
                fail_msg("series %d: aggregate %d has value kind %d, want %d",
                         k, in->aggregate, in->value_kind, want_vk);
        }
        if (in->count != e->n || e->n == 0 || in->first != e->pts[0].t ||
            in->last != e->pts[e->n - 1].t)
            fail_msg("series %d (res %" PRId64 ", agg %d): info says %" PRIu64
                     " points %" PRId64 "..%" PRId64 ", points are %zu",
                     k, in->resolution, in->aggregate, in->count, in->first,
                     in->last, e->n);
        for (size_t p = 0; p < e->n; p++) {
            if (p > 0 && e->pts[p].t <= e->pts[p - 1].t)
                fail_msg("series %d (res %" PRId64 ", agg %d): times not "
                         "increasing at %zu",
                         k, in->resolution, in->aggregate, p);
            ru_rows_push(out, k, in->resolution, in->aggregate, e->pts[p].t,
                         e->pts[p].v.bits);
        }
    }
    tt_series_free(v, n);
    ru_rows_sort(out);
}

void ru_rows_window(const ru_rows *r, int64_t from, int64_t to, ru_rows *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].t >= from && r->v[i].t < to)
            ru_rows_push(out, r->v[i].series, r->v[i].res, r->v[i].agg,
                         r->v[i].t, r->v[i].bits);
}

static bool same_value(const ru_row *a, const ru_row *b)
{
    tss_value x, y;

    if (a->bits == b->bits)
        return true;
    x.bits = a->bits;
    y.bits = b->bits;
    /* the NaN a gauge's min, max or sum is when the interval holds no
     * valid value: any NaN */
    return a->res && ru_kind[a->series] == TSS_KIND_GAUGE &&
           (a->agg == TSS_AGGREGATE_MIN || a->agg == TSS_AGGREGATE_MAX ||
            a->agg == TSS_AGGREGATE_SUM) &&
           isnan(x.gauge) && isnan(y.gauge);
}

static long first_difference(const ru_rows *a, const ru_rows *b)
{
    size_t n = a->n < b->n ? a->n : b->n;

    for (size_t i = 0; i < n; i++)
        if (cmp_row(&a->v[i], &b->v[i]) != 0 || !same_value(&a->v[i], &b->v[i]))
            return (long)i;
    return a->n == b->n ? -1 : (long)n;
}

bool ru_rows_equal(const ru_rows *a, const ru_rows *b)
{
    return first_difference(a, b) < 0;
}

static const char *agg_name(int agg)
{
    static const char *const names[] = {"raw",  "min",   "max",   "sum",
                                        "last", "count", "valid", "first"};

    return agg >= 0 && agg <= 7 ? names[agg] : "?";
}

static void describe(char *out, size_t size, const ru_rows *r, long i)
{
    if (i < 0 || (size_t)i >= r->n) {
        snprintf(out, size, "(nothing)");
        return;
    }
    snprintf(out, size,
             "series %d res %" PRId64 " %s t=%" PRId64
             " (window offset %" PRId64 " s) value %#" PRIx64,
             r->v[i].series, r->v[i].res, agg_name(r->v[i].agg), r->v[i].t,
             off(r->v[i].t) / 1000, r->v[i].bits);
}

void ru_assert_rows(const char *what, const ru_rows *got, const ru_rows *want)
{
    long i = first_difference(got, want);
    char g[256], w[256];

    if (i < 0)
        return;
    describe(g, sizeof(g), got, i);
    describe(w, sizeof(w), want, i);
    fail_msg("%s: %zu rows, want %zu; row %ld is %s, want %s", what, got->n,
             want->n, i, g, w);
}

/* ---- files ---------------------------------------------------------------
 */

static int cmp_seg(const void *a, const void *b)
{
    const ru_seg *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t ru_list_segments(const char *dir, ru_seg **out)
{
    char path[4096];
    DIR *d;
    struct dirent *de;
    ru_seg *v = NULL;
    size_t n = 0;

    tt_join(path, sizeof(path), dir, "segments");
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        ru_seg sg;
        char tail[8] = "";
        size_t l = strlen(de->d_name);

        if (l < 4 || strcmp(de->d_name + l - 4, ".seg") != 0)
            continue;
        memset(&sg, 0, sizeof(sg));
        if (sscanf(de->d_name,
                   "%" SCNd64 "_%" SCNd64 "_%" SCNu64 "_%36[0-9a-f-]%7s",
                   &sg.start, &sg.end, &sg.seq, sg.uuid, tail) != 5 ||
            strcmp(tail, ".seg") != 0)
            fail_msg("segment file name %s does not parse", de->d_name);
        snprintf(sg.name, sizeof(sg.name), "%s", de->d_name);
        v = realloc(v, (n + 1) * sizeof(*v));
        assert_non_null(v);
        v[n++] = sg;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_seg);
    *out = v;
    return n;
}

static uint64_t size_of(const char *dir, const char *sub, const char *name)
{
    char path[4096], rel[512];
    struct stat sb;

    snprintf(rel, sizeof(rel), "%s/%s", sub, name);
    tt_join(path, sizeof(path), dir, rel);
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

uint64_t ru_segment_bytes(const char *dir, const ru_seg *sg)
{
    char cov[64], tomb[64];

    snprintf(cov, sizeof(cov), "%s.roar", sg->uuid);
    snprintf(tomb, sizeof(tomb), "%s.tombstones", sg->uuid);
    return size_of(dir, "segments", sg->name) +
           size_of(dir, "_coverage/segments", cov) +
           size_of(dir, "segments", tomb);
}

uint64_t ru_sum_suffix(const char *dir, const char *sub, const char *suffix)
{
    char path[4096];
    DIR *d;
    struct dirent *de;
    uint64_t total = 0;
    size_t sl = strlen(suffix);

    tt_join(path, sizeof(path), dir, sub);
    if (!(d = opendir(path)))
        return 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            total += size_of(dir, sub, de->d_name);
    }
    closedir(d);
    return total;
}

uint64_t ru_budget_bytes(const char *dir)
{
    return ru_sum_suffix(dir, "segments", ".seg") +
           ru_sum_suffix(dir, "segments", ".tombstones") +
           ru_sum_suffix(dir, "_coverage/segments", ".roar");
}

size_t ru_count_suffix(const char *dir, const char *sub, const char *suffix)
{
    char path[4096];
    DIR *d;
    struct dirent *de;
    size_t n = 0, sl = strlen(suffix);

    tt_join(path, sizeof(path), dir, sub);
    if (!(d = opendir(path)))
        return 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

bool ru_exists(const char *dir, const char *sub, const char *name)
{
    char path[4096], rel[512];

    snprintf(rel, sizeof(rel), "%s/%s", sub, name);
    tt_join(path, sizeof(path), dir, rel);
    return tt_exists(path);
}

typedef struct findings {
    char text[4096];
    size_t len;
} findings;

static void on_finding(void *ctx, int sev, const char *file, const char *what)
{
    findings *f = ctx;
    int w;

    if (sev != TSS_VERIFY_PROBLEM || f->len >= sizeof(f->text) - 1)
        return;
    w = snprintf(f->text + f->len, sizeof(f->text) - f->len, "\n  %s: %s", file,
                 what);
    if (w > 0)
        f->len += (size_t)w;
    if (f->len >= sizeof(f->text))
        f->len = sizeof(f->text) - 1;
}

void ru_assert_verify_clean(const char *what, tss_store *s)
{
    tss_verify_report r;
    findings f;
    int rc;

    memset(&f, 0, sizeof(f));
    rc = tss_verify(s, 0, on_finding, NULL, &f, &r);
    if (rc != 0)
        fail_msg("%s: verify: %d %s", what, rc, tss_error_last());
    if (r.problems)
        fail_msg("%s: verify found %" PRIu64 " problem(s):%s", what, r.problems,
                 f.text);
}
