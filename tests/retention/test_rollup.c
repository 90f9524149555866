/*
 * Rollups (tss_store_rollup), on the layout of rollup_layout.h: two passes
 * over two levels (1 min after 1 d, 5 min after 3 d kept 10 d). After each
 * pass the store holds exactly the aggregates the test computes from what
 * it appended -- gauges with NaN, an only-NaN interval and +Inf; DERIVE;
 * COUNTERs wrapping at 32 and 64 bits; ABSOLUTE sums beyond 2^40; gaps;
 * an overwritten time; late points folded in at the next pass; a 1 min
 * rollup folded into 5 min -- and windows past Keep are gone. A query at
 * TSS_RES_AUTO (and `tsstore dump -R auto`) serves every window at exactly
 * one resolution with the boundary in the right place; coverage of rolled
 * up windows is judged at the rollup's resolution; a rollup requested from
 * a second handle is applied by the writer.
 *
 * argv[1], when given, is the tsstore CLI for the dump check.
 */
#define _GNU_SOURCE
#include "rollup_layout.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *cli;

static void assert_stage(const char *what, tss_store *s, const rl_layout *L,
                         int stage)
{
    ru_rows got, want;

    ru_query_rows(s, NULL, &got);
    rl_expect(L, stage, &want);
    ru_assert_rows(what, &got, &want);
    ru_rows_free(&got);
    ru_rows_free(&want);
}

/* Aggregate rows of the windows whose resolution at `stage` is `res`. */
static size_t aggregate_rows(const rl_layout *L, int stage, int from_stage)
{
    size_t n = 0;

    for (int w = 0; w < RL_NWIN; w++) {
        ru_rows r;

        /* windows the pass rolled: kept finer (or with late points) */
        if (rl_windows[w].res[stage] <= 0 ||
            (rl_windows[w].res[stage] == rl_windows[w].res[from_stage] &&
             !(w == RL_M4 && stage == RL_B)))
            continue;
        rl_expect_window(L, stage, w, &r);
        n += r.n;
        ru_rows_free(&r);
    }
    return n;
}

/* Segments per window start, from the file names. */
static size_t segments_of(const char *dir, int w)
{
    ru_seg *v;
    size_t n = ru_list_segments(dir, &v), k = 0;

    for (size_t i = 0; i < n; i++)
        k += v[i].start == rl_windows[w].start;
    free(v);
    return k;
}

static tss_store *open_writer(const char *dir, tt_log *log)
{
    tss_store_options o;

    rl_options(&o, NULL, log);
    return ru_open(dir, TSS_OPEN_WRITER, &o);
}

/* The layout through both passes; *s stays open. */
static void run_passes(const char *dir, rl_layout *L, tss_store **out)
{
    tss_store *s;
    tss_rollup_result rr;
    tt_log log;
    char segs[4096];
    uint64_t digest;

    rl_build(dir, L);
    memset(&log, 0, sizeof(log));
    s = open_writer(dir, &log);
    assert_stage("built", s, L, RL_RAW);
    assert_int_equal(segments_of(dir, RL_M4), 2);

    assert_int_equal(tss_store_rollup(s, RL_NOW_A, &rr), 0);
    assert_int_equal(rr.windows, 6);         /* M4 F5 F6 K10 G7 G8 */
    assert_int_equal(rr.windows_removed, 1); /* G9 */
    assert_int_equal(rr.points_out, aggregate_rows(L, RL_A, RL_RAW));
    assert_true(rr.bytes_written > 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_INFO, "rollup: 6 window(s)") >= 0);
    assert_stage("after pass A", s, L, RL_A);
    ru_assert_verify_clean("after pass A", s);
    for (int w = 0; w < RL_HEAD; w++)
        assert_int_equal(segments_of(dir, w),
                         rl_windows[w].res[RL_A] == RL_GONE ? 0 : 1);

    rl_late(s, L);
    assert_stage("late points", s, L, RL_LATE);
    assert_int_equal(segments_of(dir, RL_M4), 2);

    assert_int_equal(tss_store_rollup(s, RL_NOW_B, &rr), 0);
    assert_int_equal(rr.windows, 3);         /* M3 M4 F6 */
    assert_int_equal(rr.windows_removed, 2); /* G7 G8 */
    assert_int_equal(rr.points_out, aggregate_rows(L, RL_B, RL_LATE));
    assert_stage("after pass B", s, L, RL_B);
    ru_assert_verify_clean("after pass B", s);
    for (int w = 0; w < RL_HEAD; w++)
        assert_int_equal(segments_of(dir, w),
                         rl_windows[w].res[RL_B] == RL_GONE ? 0 : 1);
    assert_int_equal(ru_count_suffix(dir, "_coverage/segments", ".roar"),
                     ru_count_suffix(dir, "segments", ".seg"));

    /* the same pass again: nothing to do, nothing touched */
    tt_join(segs, sizeof(segs), dir, "segments");
    digest = tt_tree_digest(segs);
    assert_int_equal(tss_store_rollup(s, RL_NOW_B, &rr), 0);
    assert_int_equal(rr.windows, 0);
    assert_int_equal(rr.windows_removed, 0);
    assert_true(tt_tree_digest(segs) == digest);
    *out = s;
}

static void test_rollup_passes(void **state)
{
    const char *dir = *state;
    rl_layout L;
    tss_store *s, *r;

    run_passes(dir, &L, &s);
    tss_store_close(s);
    /* a reader, and a writer restarted, see the same */
    r = ru_open(dir, 0, NULL);
    assert_stage("reader after pass B", r, &L, RL_B);
    tss_store_close(r);
    s = open_writer(dir, NULL);
    assert_stage("writer reopened", s, &L, RL_B);
    ru_assert_verify_clean("writer reopened", s);
    tss_store_close(s);
    tt_model_free(&L.m);
}

/* ---- the aggregates, checked by hand ------------------------------------- */

static const ru_row *find(const ru_rows *r, int series, int64_t res, int agg,
                          int64_t t)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].series == series && r->v[i].res == res &&
            r->v[i].agg == agg && r->v[i].t == t)
            return &r->v[i];
    return NULL;
}

static uint64_t get_u(const ru_rows *r, int series, int64_t res, int agg,
                      int64_t t)
{
    const ru_row *x = find(r, series, res, agg, t);

    if (!x)
        fail_msg("no aggregate %d of series %d at window offset %" PRId64
                 " s (res %" PRId64 ")",
                 agg, series, (t % RU_SPAN) / 1000, res);
    return x->bits;
}

static double get_d(const ru_rows *r, int series, int64_t res, int agg,
                    int64_t t)
{
    tss_value v;

    v.bits = get_u(r, series, res, agg, t);
    return v.gauge;
}

/* The increase of a counter over window w, from its aggregates: within
 * each interval last - first + wraps * 2^32 (modulo 2^64), between
 * intervals next first - last modulo 2^bits (one wrap at most between two
 * values). *wraps counts the intervals with a wrap, *multi those with
 * several. */
static uint64_t increase_from_aggregates(const ru_rows *r, int series,
                                         int64_t res, int64_t from, int64_t to,
                                         uint64_t mask, int *wraps, int *multi)
{
    uint64_t total = 0, prev_last = 0;
    bool have_prev = false;

    for (int64_t t = from; t < to; t += res) {
        const ru_row *f = find(r, series, res, TSS_AGGREGATE_FIRST, t);
        const ru_row *l = find(r, series, res, TSS_AGGREGATE_LAST, t);
        const ru_row *w = find(r, series, res, TSS_AGGREGATE_WRAPS, t);
        uint64_t nw = w ? w->bits : 0;

        if (!f) {
            assert_null(l);
            assert_null(w);
            continue;
        }
        assert_non_null(l);
        if (nw || l->bits < f->bits)
            (*wraps)++;
        *multi += nw >= 2;
        if (have_prev)
            total += (f->bits - prev_last) & mask;
        total += l->bits - f->bits + (nw << 32);
        prev_last = l->bits;
        have_prev = true;
    }
    return total;
}

/* The same from the raw points the test wrote. */
static uint64_t increase_from_points(const rl_layout *L, int series,
                                     int64_t from, int64_t to, uint64_t mask)
{
    tss_point *pts;
    size_t n = rl_points(&L->m, 0, L->m.n, (unsigned)series, from, to, &pts);
    uint64_t total = 0;

    for (size_t i = 1; i < n; i++)
        total += (pts[i].v.counter - pts[i - 1].v.counter) & mask;
    free(pts);
    return total;
}

static void test_rollup_semantics(void **state)
{
    const char *dir = *state;
    rl_layout L;
    tss_store *s;
    ru_rows r;
    int64_t m4 = rl_windows[RL_M4].start, f6 = rl_windows[RL_F6].start;
    tss_value v;

    run_passes(dir, &L, &s);
    ru_query_rows(s, NULL, &r);

    /* gauge, 1 min, interval 7 of M4: six NaN -- counted, not valid;
     * min, max, sum NaN; last the last raw NaN, bit for bit */
    assert_int_equal(
        get_u(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_COUNT, m4 + 7 * RU_MIN), 6);
    assert_int_equal(
        get_u(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_VALID, m4 + 7 * RU_MIN), 0);
    assert_true(
        isnan(get_d(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_MIN, m4 + 7 * RU_MIN)));
    assert_true(
        isnan(get_d(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_MAX, m4 + 7 * RU_MIN)));
    assert_true(
        isnan(get_d(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_SUM, m4 + 7 * RU_MIN)));
    assert_int_equal(
        get_u(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_LAST, m4 + 7 * RU_MIN),
        ru_value(RU_GAUGE, m4 + 7 * RU_MIN + 50000));
    /* a whole 5 min interval of NaN (F6, interval 2) */
    assert_int_equal(
        get_u(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_COUNT, f6 + 2 * RU_5MIN),
        30);
    assert_int_equal(
        get_u(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_VALID, f6 + 2 * RU_5MIN), 0);
    assert_true(isnan(
        get_d(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_MAX, f6 + 2 * RU_5MIN)));

    /* +Inf at 20:30: max and sum are +Inf */
    assert_true(isinf(
        get_d(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_MAX, m4 + 20 * RU_MIN)));
    assert_true(isinf(
        get_d(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_SUM, f6 + 4 * RU_5MIN)));

    /* mean = sum / valid of the 5 min interval 0 of F6, by hand */
    {
        double sum = 0;
        uint64_t valid = 0, count = 0;

        for (int64_t t = f6; t < f6 + RU_5MIN; t += RU_STEP) {
            if (!ru_present(RU_GAUGE, t))
                continue;
            v.bits = ru_value(RU_GAUGE, t);
            count++;
            if (!isnan(v.gauge)) {
                sum += v.gauge;
                valid++;
            }
        }
        assert_true(valid > 0 && valid < count);
        assert_int_equal(get_u(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_COUNT, f6),
                         count);
        assert_int_equal(get_u(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_VALID, f6),
                         valid);
        assert_true(get_d(&r, RU_GAUGE, RU_5MIN, TSS_AGGREGATE_SUM, f6) /
                        (double)valid ==
                    sum / (double)valid);
    }

    /* gaps: no interval without points, for any aggregate; 25:00-28:00
     * and 40:00-50:00 of M4 are empty but for the late point at 25:10 */
    for (int k = 0; k < RU_NSERIES; k++)
        for (int a = TSS_AGGREGATE_MIN; a <= TSS_AGGREGATE_FIRST; a++) {
            bool late =
                k == RU_GAUGE || k == RU_DERIVE || k == RU_C32 || k == RU_ABS;

            assert_true((find(&r, k, RU_MIN, a, m4 + 25 * RU_MIN) != NULL) ==
                        (late && find(&r, k, RU_MIN, a, m4) != NULL));
            assert_null(find(&r, k, RU_MIN, a, m4 + 26 * RU_MIN));
            assert_null(find(&r, k, RU_MIN, a, m4 + 27 * RU_MIN));
            for (int64_t i = 40; i < 50; i++)
                assert_null(find(&r, k, RU_MIN, a, m4 + i * RU_MIN));
            assert_null(find(&r, k, RU_5MIN, a, f6 + 8 * RU_5MIN));
            assert_null(find(&r, k, RU_5MIN, a, f6 + 9 * RU_5MIN));
        }
    /* four points missing inside 5:00-6:00: two left (three with the
     * late point at 5:05) */
    assert_int_equal(
        get_u(&r, RU_GAUGE_B, RU_MIN, TSS_AGGREGATE_COUNT, m4 + 5 * RU_MIN), 2);
    assert_int_equal(
        get_u(&r, RU_GAUGE, RU_MIN, TSS_AGGREGATE_COUNT, m4 + 5 * RU_MIN), 3);

    /* the overwritten first 30 s of M4: six times of the first segment,
     * three rewritten, two new -- 8 points, the rewritten value first */
    for (int k = 0; k < RU_NSERIES; k++)
        assert_int_equal(get_u(&r, k, RU_MIN, TSS_AGGREGATE_COUNT, m4), 8);
    assert_int_equal(get_u(&r, RU_C32, RU_MIN, TSS_AGGREGATE_FIRST, m4),
                     ru_value(RU_C32, m4 + 7 * RU_DAY + 10000));
    assert_int_equal(get_u(&r, RU_C32, RU_MIN, TSS_AGGREGATE_LAST, m4),
                     ru_value(RU_C32, m4 + 50000));

    /* counters: the increase over whole windows from the aggregates equals
     * the one from the raw points, wraps included */
    {
        static const struct {
            int series;
            uint64_t mask;
        } c[] = {{RU_C32, UINT32_MAX}, {RU_C64, UINT64_MAX}};

        for (size_t i = 0; i < 2; i++) {
            int wraps = 0, multi = 0;

            /* M4 from its first minute, which holds rewritten values */
            assert_int_equal(increase_from_aggregates(
                                 &r, c[i].series, RU_MIN, m4, m4 + RU_SPAN,
                                 c[i].mask, &wraps, &multi),
                             increase_from_points(&L, c[i].series, m4,
                                                  m4 + RU_SPAN, c[i].mask));
            assert_int_equal(increase_from_aggregates(
                                 &r, c[i].series, RU_5MIN, f6, f6 + RU_SPAN,
                                 c[i].mask, &wraps, &multi),
                             increase_from_points(&L, c[i].series, f6,
                                                  f6 + RU_SPAN, c[i].mask));
            /* the data wraps inside intervals, the 32-bit counter
             * several times in one, so this tested wraps */
            assert_true(wraps >= 2);
            assert_true(c[i].mask != UINT32_MAX || multi >= 2);
        }
    }

    /* absolute: the sum of a 5 min interval, by hand, beyond 2^40 */
    {
        uint64_t sum = 0, count = 0;

        for (int64_t t = f6; t < f6 + RU_5MIN; t += RU_STEP) {
            sum += ru_value(RU_ABS, t);
            count++;
        }
        assert_true(sum > UINT64_C(1) << 42);
        assert_int_equal(get_u(&r, RU_ABS, RU_5MIN, TSS_AGGREGATE_SUM, f6),
                         sum);
        assert_int_equal(get_u(&r, RU_ABS, RU_5MIN, TSS_AGGREGATE_COUNT, f6),
                         count);
    }
    ru_rows_free(&r);
    tss_store_close(s);
    tt_model_free(&L.m);
}

/* ---- stitching: every window at exactly one resolution ------------------ */

static int window_of(int64_t t)
{
    for (int w = 0; w < RL_NWIN; w++)
        if (t >= rl_windows[w].start && t < rl_end(w))
            return w;
    return -1;
}

static void assert_one_resolution(const char *what, const ru_rows *r, int stage)
{
    /* per series and window: the resolutions seen */
    int64_t seen[RU_NSERIES][RL_NWIN];
    bool any[RU_NSERIES][RL_NWIN];

    memset(any, 0, sizeof(any));
    for (size_t i = 0; i < r->n; i++) {
        const ru_row *x = &r->v[i];
        int w = window_of(x->t);

        if (w < 0)
            fail_msg("%s: a row at %" PRId64 " is in no window", what, x->t);
        if (any[x->series][w] && seen[x->series][w] != x->res)
            fail_msg("%s: window %s of series %d at resolutions %" PRId64
                     " and %" PRId64,
                     what, rl_windows[w].name, x->series, seen[x->series][w],
                     x->res);
        if (x->res != rl_windows[w].res[stage])
            fail_msg("%s: window %s of series %d at resolution %" PRId64
                     ", want %" PRId64,
                     what, rl_windows[w].name, x->series, x->res,
                     rl_windows[w].res[stage]);
        any[x->series][w] = true;
        seen[x->series][w] = x->res;
    }
    /* and no window that must be there is missing */
    for (int k = 0; k < RU_NSERIES; k++)
        for (int w = 0; w < RL_NWIN; w++)
            if (!any[k][w] && rl_windows[w].res[stage] != RL_GONE)
                fail_msg("%s: window %s of series %d is served at no "
                         "resolution",
                         what, rl_windows[w].name, k);
}

/* `tsstore dump -R auto`: the same rows, each window at one resolution,
 * each series in time order (the query gives raw windows, the newest,
 * before the rollups, and a rollup's aggregates one after another). */
static void check_cli_dump(const char *dir, const ru_rows *want)
{
    static const char *const res_names[] = {"raw", "1m", "5m"};
    char cmd[8192], line[1024], series[1024] = "", prev[1024] = "";
    FILE *p;
    size_t rows = 0, per_res[3] = {0}, want_res[3] = {0};
    size_t means = 0, want_means = 0;
    int64_t prev_t = INT64_MIN;

    if (!cli) {
        print_message("no CLI given: tsstore dump not checked\n");
        return;
    }
    snprintf(cmd, sizeof(cmd), "'%s' dump -R auto '%s'", cli, dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p)); /* the header */
    assert_non_null(strstr(line, ",time,value,resolution,aggregate"));
    while (fgets(line, sizeof(line), p)) {
        char *f[16], *rest = line, *tok;
        int nf = 0, ri = -1, w;
        long long sec;
        int ms;
        int64_t t;

        line[strcspn(line, "\n")] = '\0';
        /* host,plugin,plugin_instance,type,type_instance,ds,kind,time,
         * value,resolution,aggregate (empty fields kept) */
        while ((tok = strsep(&rest, ",")) != NULL && nf < 16)
            f[nf++] = tok;
        assert_int_equal(nf, 11);
        for (int i = 0; i < 3; i++)
            if (strcmp(f[9], res_names[i]) == 0)
                ri = i;
        assert_true(ri >= 0);
        assert_int_equal(sscanf(f[7], "%lld.%3d", &sec, &ms), 2);
        assert_true((ri == 0) == (f[10][0] == '\0'));
        t = (int64_t)sec * 1000 + ms;
        snprintf(series, sizeof(series), "%s,%s,%s,%s,%s,%s,%s", f[0], f[1],
                 f[2], f[3], f[4], f[5], f[6]);
        if (strcmp(series, prev) == 0 && t < prev_t)
            fail_msg("%s: time %s after %lld.%03lld", series, f[7],
                     (long long)(prev_t / 1000), (long long)(prev_t % 1000));
        memcpy(prev, series, sizeof(prev));
        prev_t = t;
        if (strcmp(f[10], "mean") == 0) { /* derived: one per valid row */
            means++;
            continue;
        }
        w = window_of(t);
        assert_true(w >= 0);
        assert_int_equal(rl_windows[w].res[RL_B], ri == 0   ? 0
                                                  : ri == 1 ? RU_MIN
                                                            : RU_5MIN);
        per_res[ri]++;
        rows++;
    }
    assert_int_equal(pclose(p), 0);
    for (size_t i = 0; i < want->n; i++) {
        want_res[want->v[i].res == 0 ? 0 : want->v[i].res == RU_MIN ? 1 : 2]++;
        want_means += want->v[i].agg == TSS_AGGREGATE_VALID;
    }
    assert_int_equal(rows, want->n);
    assert_int_equal(means, want_means);
    for (int i = 0; i < 3; i++)
        assert_int_equal(per_res[i], want_res[i]);
}

static void test_auto_stitches(void **state)
{
    const char *dir = *state;
    rl_layout L;
    tss_store *s;
    ru_rows got, want, part;
    tss_filter f;
    int64_t r2 = rl_windows[RL_R2].start, m3 = rl_windows[RL_M3].start;
    static const int64_t res[] = {0, RU_MIN, RU_5MIN};

    run_passes(dir, &L, &s);
    ru_query_rows(s, NULL, &got);
    rl_expect(&L, RL_B, &want);
    assert_one_resolution("auto", &got, RL_B);
    ru_assert_rows("auto", &got, &want);
    ru_rows_free(&got);

    /* across the boundary raw | 1 min (M3 ends where R2 starts): the
     * aggregates of M3's intervals up to R2, raw points from R2 on */
    memset(&f, 0, sizeof(f));
    f.resolution = TSS_RES_AUTO;
    f.has_from = f.has_to = 1;
    f.from = m3 + RU_SPAN / 2;
    f.to = r2 + RU_SPAN / 2 - 1;
    ru_query_rows(s, &f, &got);
    ru_rows_window(&want, f.from, f.to + 1, &part);
    ru_assert_rows("auto across the boundary", &got, &part);
    {
        int64_t last_agg = INT64_MIN, first_raw = INT64_MAX;

        for (size_t i = 0; i < got.n; i++) {
            if (got.v[i].series != RU_GAUGE)
                continue;
            if (got.v[i].res) {
                assert_int_equal(got.v[i].res, RU_MIN);
                if (got.v[i].t > last_agg)
                    last_agg = got.v[i].t;
            } else if (got.v[i].t < first_raw) {
                first_raw = got.v[i].t;
            }
        }
        /* no overlap, no gap: the last interval ends where raw begins */
        assert_int_equal(last_agg + RU_MIN, r2);
        assert_int_equal(first_raw, r2);
    }
    ru_rows_free(&got);
    ru_rows_free(&part);

    /* one resolution at a time: exactly that resolution's rows */
    for (size_t i = 0; i < 3; i++) {
        memset(&f, 0, sizeof(f));
        f.resolution = res[i];
        ru_query_rows(s, &f, &got);
        memset(&part, 0, sizeof(part));
        for (size_t k = 0; k < want.n; k++)
            if (want.v[k].res == res[i])
                ru_rows_push(&part, want.v[k].series, want.v[k].res,
                             want.v[k].agg, want.v[k].t, want.v[k].bits);
        ru_assert_rows("one resolution", &got, &part);
        ru_rows_free(&got);
        ru_rows_free(&part);
    }
    tss_store_close(s);
    check_cli_dump(dir, &want);
    ru_rows_free(&want);
    tt_model_free(&L.m);
}

/* ---- coverage at the rollup's resolution --------------------------------- */

typedef struct run_want {
    int64_t from, to; /* window offsets */
    int covered;
} run_want;

static void assert_coverage(const char *what, tss_store *s, const char *glob,
                            int64_t start, int64_t interval,
                            const run_want *want, size_t nwant)
{
    tss_filter f;
    tss_coverage *c;
    tss_coverage_series cs;

    memset(&f, 0, sizeof(f));
    f.series_glob = glob;
    f.has_from = f.has_to = 1;
    f.from = start;
    f.to = start + RU_SPAN - 1;
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    if (cs.interval != interval)
        fail_msg("%s: interval %" PRId64 ", want %" PRId64, what, cs.interval,
                 interval);
    if (cs.nruns != nwant)
        fail_msg("%s: %zu runs, want %zu", what, cs.nruns, nwant);
    for (size_t i = 0; i < nwant; i++)
        if (cs.runs[i].from != start + want[i].from ||
            cs.runs[i].to != start + want[i].to ||
            cs.runs[i].covered != want[i].covered)
            fail_msg("%s: run %zu is [%" PRId64 " s, %" PRId64
                     " s) %s, want [%" PRId64 " s, %" PRId64 " s) %s",
                     what, i, (cs.runs[i].from - start) / 1000,
                     (cs.runs[i].to - start) / 1000,
                     cs.runs[i].covered ? "covered" : "gap",
                     want[i].from / 1000, want[i].to / 1000,
                     want[i].covered ? "covered" : "gap");
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    tss_coverage_close(c);
}

static void test_rollup_coverage(void **state)
{
    const char *dir = *state;
    tss_store_options o;
    tss_store *s;
    tt_model m = {0};
    /* gauge-b only in M (1 min), gauge only in F (5 min) */
    int64_t wm = RU_NOW - 2 * RU_DAY - RU_HOUR;
    int64_t wf = RU_NOW - 4 * RU_DAY - RU_HOUR;
    /* raw, every 10 s: the 4 points missing at 5:10-5:50 are a gap */
    static const run_want raw_m[] = {
        {0, 310000, 1},        {310000, 350000, 0},   {350000, 900000, 1},
        {900000, 960000, 0},   {960000, 1200000, 1},  {1200000, 1320000, 0},
        {1320000, 1500000, 1}, {1500000, 1680000, 0}, {1680000, 2400000, 1},
        {2400000, 3000000, 0}, {3000000, 3600000, 1},
    };
    /* 1 min: every interval with a point is covered whole; one empty
     * interval (15:00) is no gap at a 1 min interval, two (20:00-22:00)
     * are */
    static const run_want min_m[] = {
        {0, 1200000, 1},       {1200000, 1320000, 0}, {1320000, 1500000, 1},
        {1500000, 1680000, 0}, {1680000, 2400000, 1}, {2400000, 3000000, 0},
        {3000000, 3600000, 1},
    };
    /* 5 min: 25:00-28:00 lies in an interval with points; 40:00-50:00 is
     * two whole intervals */
    static const run_want min5_f[] = {
        {0, 2400000, 1},
        {2400000, 3000000, 0},
        {3000000, 3600000, 1},
    };

    rl_options(&o, NULL, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    for (int64_t t = 0; t < RU_SPAN; t += RU_STEP) {
        if (ru_present(RU_GAUGE_B, wm + t))
            ru_put(s, &m, RU_GAUGE_B, wm + t, ru_value(RU_GAUGE_B, wm + t));
        if (ru_present(RU_GAUGE, wf + t))
            ru_put(s, &m, RU_GAUGE, wf + t, ru_value(RU_GAUGE, wf + t));
    }
    ru_seal(s);
    assert_coverage("raw", s, "h/ru/gauge-b", wm, RU_STEP, raw_m,
                    sizeof(raw_m) / sizeof(raw_m[0]));
    assert_int_equal(tss_store_rollup(s, RU_NOW, NULL), 0);
    assert_coverage("1 min rollup", s, "h/ru/gauge-b", wm, RU_MIN, min_m,
                    sizeof(min_m) / sizeof(min_m[0]));
    assert_coverage("5 min rollup", s, "h/ru/gauge", wf, RU_5MIN, min5_f,
                    sizeof(min5_f) / sizeof(min5_f[0]));
    ru_assert_verify_clean("coverage", s);
    tss_store_close(s);
    /* a reader computes the same from the sidecars */
    s = ru_open(dir, 0, NULL);
    assert_coverage("1 min rollup, reader", s, "h/ru/gauge-b", wm, RU_MIN,
                    min_m, sizeof(min_m) / sizeof(min_m[0]));
    tss_store_close(s);
    tt_model_free(&m);
}

/* ---- a rollup requested from a second handle ----------------------------- */

static void test_rollup_request(void **state)
{
    const char *dir = *state;
    rl_layout L;
    tss_store *w, *r;
    char id[37];
    int st = -1;

    rl_build(dir, &L);
    w = open_writer(dir, NULL);
    r = ru_open(dir, 0, NULL);
    assert_int_equal(tss_rollup_request(r, id), 0);
    assert_int_equal(tss_mutation_state(r, id, &st), 0);
    assert_int_equal(st, TSS_MUTATION_INTENT);
    assert_stage("requested, not applied", r, &L, RL_RAW);
    assert_int_equal(tss_store_apply_mutations(w, RL_NOW_A, NULL), 0);
    assert_int_equal(tss_mutation_state(r, id, &st), 0);
    assert_int_equal(st, TSS_MUTATION_REMOVED);
    assert_stage("request applied, reader", r, &L, RL_A);
    ru_assert_verify_clean("request applied", w);
    tss_store_close(r);
    tss_store_close(w);
    tt_model_free(&L.m);
}

/* ---- level validation --------------------------------------------------- */

/* Levels the writer refuses, each with an error that names the level and
 * the option; a finer level's Keep that ends before the next level takes
 * its windows (After plus the next level's window: 32 h for 5 min
 * intervals in 1 h spans) among them. */
static void test_level_validation(void **state)
{
    static const struct {
        tss_rollup_spec l[2];
        unsigned n;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {{{86400, 60, 0}, {3 * 86400, 300, 10 * 86400}}, 2, NULL},
        {{{86400, 60, 3600}}, 1, "rollup 1: Keep is shorter than After"},
        {{{86400, 70, 0}}, 1, "rollup 1: Resolution 70 s must divide"},
        {{{86400, 300, 0}, {3 * 86400, 60, 0}},
         2,
         "rollup 2: levels must grow"},
        {{{86400, 60, 0}, {3 * 86400, 90, 0}},
         2,
         "rollup 2: Resolution 90 s is not a multiple of the previous"},
        {{{86400, 60, 2 * 86400}, {3 * 86400, 300, 0}},
         2,
         "rollup 1: Keep 172800 s drops windows before rollup 2 takes them "
         "(it rolls up windows of 115200 s once they ended After 259200 s): "
         "make Keep at least 374400 s"},
        {{{86400, 60, 374400 - 1}, {3 * 86400, 300, 0}},
         2,
         "make Keep at least 374400 s"},
        {{{86400, 60, 374400}, {3 * 86400, 300, 0}}, 2, NULL},
    };
    const char *dir = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tss_store_options o;
        tss_store *s = NULL;
        int rc;

        ru_options(&o, NULL, NULL);
        /* windows of at least 256 intervals: for 5 min, 1 h spans doubled
         * five times, 32 h (115,200 s) */
        o.rollup_intervals = 256;
        memcpy(o.rollups, cases[i].l, sizeof(cases[i].l));
        o.nrollups = cases[i].n;
        rc = tss_store_open(&s, dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
        if (!cases[i].want) {
            if (rc != 0)
                fail_msg("case %zu: %s", i, tss_error_last());
            tss_store_close(s);
            continue;
        }
        assert_int_equal(rc, TSS_EINVAL);
        if (!strstr(tss_error_last(), cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, tss_error_last(),
                     cases[i].want);
    }
}

/* ---- usage errors change nothing ----------------------------------------- */

static char tree_buf[65536];
static size_t tree_len;

static int tree_one(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)flag;
    if (strcmp(path + ftw->base, "LOCK") == 0) /* the prober's pid */
        return 0;
    tree_len +=
        (size_t)snprintf(tree_buf + tree_len, sizeof(tree_buf) - tree_len,
                         "%s %lld %lld.%09ld\n", path, (long long)st->st_size,
                         (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    assert_true(tree_len < sizeof(tree_buf));
    return 0;
}

/* Every file's name, size and mtime but LOCK's, one per line; the
 * caller frees it. */
static char *tree_state(const char *dir)
{
    tree_len = 0;
    tree_buf[0] = '\0';
    assert_int_equal(nftw(dir, tree_one, 16, FTW_PHYS), 0);
    return strdup(tree_buf);
}

/* `tsstore prune DIR` and `tsstore rollup DIR` without options, no writer
 * running: usage errors (exit 2) that leave every file as it was (a
 * writer's open would have written a new head base). */
static void test_usage_changes_nothing(void **state)
{
    static const char *const cmds[] = {"prune", "rollup"};
    const char *dir = *state;
    char cmd[8192];
    rl_layout L;

    if (!cli) {
        print_message("no CLI given: not checked\n");
        return;
    }
    rl_build(dir, &L);
    for (size_t i = 0; i < 2; i++) {
        char *before = tree_state(dir), *after;
        int st;

        snprintf(cmd, sizeof(cmd), "'%s' %s '%s' 2>/dev/null", cli, cmds[i],
                 dir);
        st = system(cmd);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 2);
        after = tree_state(dir);
        if (strcmp(before, after) != 0)
            fail_msg("tsstore %s changed the store:\n%s---\n%s", cmds[i],
                     before, after);
        free(before);
        free(after);
    }
    tt_model_free(&L.m);
}

/* ---- a pass after one whose cleanup failed -------------------------------
 */

/* The removal of G8's raw segment fails after its rollup was written (the
 * rollup supersedes it, so readers do not see it); the writer goes on, and
 * its next pass must not fold the leftover in a second time. */
static void test_rollup_after_failed_cleanup(void **state)
{
    const char *dir = *state;
    rl_layout L;
    tss_store_options o;
    tss_store *s;
    tt_fault f;
    ru_seg *v;
    size_t n;
    char g8[160] = "";
    ru_rows got, want;

    rl_build(dir, &L);
    n = ru_list_segments(dir, &v);
    for (size_t i = 0; i < n; i++)
        if (v[i].start == rl_windows[RL_G8].start)
            snprintf(g8, sizeof(g8), "%s", v[i].name);
    free(v);
    assert_true(g8[0] != '\0');
    tt_fault_arm(&f, 0, 0, false);
    rl_options(&o, tt_fault_ops(&f), NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    tt_fault_arm_match(&f, "unlinkat", g8, 1, EIO);
    assert_int_equal(tss_store_rollup(s, RL_NOW_A, NULL), TSS_EIO);
    assert_non_null(f.failed_op);
    tt_fault_arm(&f, 0, 0, false);
    assert_true(ru_exists(dir, "segments", g8));
    /* G9 went, G8 is rolled up (its leftover hidden), the pass stopped
     * there: the rest is raw */
    ru_query_rows(s, NULL, &got);
    for (int w = 0; w < RL_NWIN; w++) {
        ru_rows gw;

        ru_rows_window(&got, rl_windows[w].start, rl_end(w), &gw);
        rl_expect_window(&L, w == RL_G9 || w == RL_G8 ? RL_A : RL_RAW, w,
                         &want);
        ru_assert_rows(rl_windows[w].name, &gw, &want);
        ru_rows_free(&gw);
        ru_rows_free(&want);
    }
    ru_rows_free(&got);
    /* the writer's next pass */
    assert_int_equal(tss_store_rollup(s, RL_NOW_A, NULL), 0);
    assert_false(ru_exists(dir, "segments", g8));
    assert_stage("the next pass", s, &L, RL_A);
    ru_assert_verify_clean("the next pass", s);
    tss_store_close(s);
    tt_model_free(&L.m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(test_rollup_passes),    T(test_rollup_semantics),
        T(test_auto_stitches),    T(test_rollup_coverage),
        T(test_rollup_request),   T(test_rollup_after_failed_cleanup),
        T(test_level_validation), T(test_usage_changes_nothing),
    };

    cli = argc > 1 ? argv[1] : NULL;
    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
