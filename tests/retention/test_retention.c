/*
 * Retention (tss_store_prune): RetentionTime removes exactly the windows
 * wholly past the horizon -- their segments, coverage sidecars and
 * tombstones -- and nothing newer (a window straddling the horizon stays);
 * RetentionSize leaves the store within its budget, oldest windows first;
 * a prune requested from a second handle is applied by the writer; a power
 * cut at every fsync of a prune pass leaves a store that verifies clean
 * and holds every window whole or not at all.
 *
 * The layout: windows of one hour starting 1..12 hours before RU_NOW
 * ("window k" starts at RU_NOW - k h, so it ended k - 1 hours ago), all
 * sealed; window 8 in two segments (late points); a delete on gauge-b made
 * visible without compaction, so windows 2 and 9 carry tombstones; and the
 * head holds points of the window starting at RU_NOW. Every expected value
 * comes from the test's own model of what it appended.
 */
#define _GNU_SOURCE
#include "ret_util.h"

#include "crash_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWIN 12
#define WIN(k) (RU_NOW - (int64_t)(k)*RU_HOUR)
#define LATE_WIN 8

/* the delete: gauge-b, a quarter hour of windows 2 and 9 */
#define DEL_A_FROM (WIN(2) + 600000)
#define DEL_A_TO (WIN(2) + 1499999)
#define DEL_B_FROM (WIN(9) + 600000)
#define DEL_B_TO (WIN(9) + 1499999)

typedef struct layout {
    tt_model m;
    size_t late_from; /* arrivals of window 8's second segment start here */
} layout;

static bool deleted(unsigned series, int64_t t)
{
    return series == RU_GAUGE_B && ((t >= DEL_A_FROM && t <= DEL_A_TO) ||
                                    (t >= DEL_B_FROM && t <= DEL_B_TO));
}

static void build(const char *dir, layout *L)
{
    tss_store_options o;
    tss_store *s;
    tss_delete_spec spec;
    char id[37];

    memset(L, 0, sizeof(*L));
    ru_options(&o, NULL, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    for (int k = NWIN; k >= 1; k--)
        ru_fill_window(s, &L->m, WIN(k));
    ru_seal(s);
    /* late points for window 8, at times the first segment has not */
    L->late_from = L->m.n;
    for (int64_t t = WIN(LATE_WIN) + 5000; t < WIN(LATE_WIN) + 65000;
         t += RU_STEP)
        ru_put(s, &L->m, RU_GAUGE, t, ru_value(RU_GAUGE, t + 5000));
    ru_seal(s);
    /* tombstones in windows 2 and 9 (compaction is off) */
    for (int i = 0; i < 2; i++) {
        memset(&spec, 0, sizeof(spec));
        spec.series_glob = "h/ru/gauge-b";
        spec.has_from = spec.has_to = 1;
        spec.from = i ? DEL_B_FROM : DEL_A_FROM;
        spec.to = i ? DEL_B_TO : DEL_A_TO;
        if (tss_delete_create(s, &spec, id) != 0)
            fail_msg("delete: %s", tss_error_last());
    }
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    /* the head: the window that has not ended */
    for (int64_t t = RU_NOW; t < RU_NOW + 120000; t += RU_STEP)
        ru_put(s, &L->m, RU_GAUGE, t, ru_value(RU_GAUGE, t));
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
    assert_int_equal(ru_count_suffix(dir, "segments", ".tombstones"), 2);
}

/* Raw rows the store must hold for t in [from, to): the model's points,
 * last arrival winning, without the deleted ones; with `only_late`, only
 * the points of arrivals from late_from on. */
static void expect_raw(const layout *L, int64_t from, int64_t to,
                       bool only_late, ru_rows *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned k = 0; k < RU_NSERIES; k++) {
        tss_point *pts;
        size_t n = tt_model_expect(&L->m, L->m.n, k, &pts);

        for (size_t i = 0; i < n; i++) {
            bool late = false;

            if (pts[i].t < from || pts[i].t >= to || deleted(k, pts[i].t))
                continue;
            for (size_t a = L->late_from; a < L->m.n && !late; a++)
                late = L->m.p[a].series == k && L->m.p[a].t == pts[i].t &&
                       pts[i].t < WIN(LATE_WIN) + RU_SPAN;
            if (!only_late || late)
                ru_rows_push(out, (int)k, 0, 0, pts[i].t, pts[i].v.bits);
        }
        free(pts);
    }
    ru_rows_sort(out);
}

static void assert_store_from(const char *what, tss_store *s, const layout *L,
                              int64_t oldest)
{
    ru_rows got, want;

    ru_query_rows(s, NULL, &got);
    expect_raw(L, oldest, INT64_MAX, false, &want);
    ru_assert_rows(what, &got, &want);
    ru_rows_free(&got);
    ru_rows_free(&want);
}

/* Start of the first bucket a coverage query without a range reports for
 * gauge (the table coverage rebuilt without the removed windows). */
static int64_t coverage_from(tss_store *s)
{
    tss_filter f;
    tss_coverage *c;
    tss_coverage_series cs;
    int64_t from;

    memset(&f, 0, sizeof(f));
    f.series_glob = "h/ru/gauge";
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    from = cs.from;
    assert_int_equal(tss_coverage_errors(c), 0);
    tss_coverage_close(c);
    return from;
}

static void open_with(const char *dir, int64_t retention_s, uint64_t bytes,
                      tt_log *log, tss_store **out)
{
    tss_store_options o;

    ru_options(&o, NULL, log);
    o.retention_seconds = retention_s;
    o.retention_bytes = bytes;
    *out = ru_open(dir, TSS_OPEN_WRITER, &o);
}

/* Every segment file (with sidecar and tombstones) of windows older than
 * `oldest` is gone, every other one still there. */
static void assert_files(const char *dir, const ru_seg *before, size_t nb,
                         int64_t oldest)
{
    for (size_t i = 0; i < nb; i++) {
        char cov[64], tomb[64];
        bool keep = before[i].start >= oldest;

        snprintf(cov, sizeof(cov), "%s.roar", before[i].uuid);
        snprintf(tomb, sizeof(tomb), "%s.tombstones", before[i].uuid);
        if (ru_exists(dir, "segments", before[i].name) != keep ||
            ru_exists(dir, "_coverage/segments", cov) != keep)
            fail_msg("window starting %" PRId64 " h before now: segment %s "
                     "or its sidecar %s",
                     (RU_NOW - before[i].start) / RU_HOUR, before[i].name,
                     keep ? "is gone" : "is still there");
        if (!keep && ru_exists(dir, "segments", tomb))
            fail_msg("tombstones of removed segment %s are still there",
                     before[i].name);
    }
}

/* ---- RetentionTime -------------------------------------------------------
 */

static void test_time_removes_exactly_past_horizon(void **state)
{
    const char *dir = *state;
    layout L;
    tt_log log;
    tss_store *s, *r;
    tss_prune_result res;
    ru_seg *before;
    size_t nb, nafter, want_removed = 0;
    uint64_t want_bytes = 0;
    ru_rows all, kept, got;
    char line[128];

    build(dir, &L);
    nb = ru_list_segments(dir, &before);
    assert_int_equal(nb, NWIN + 1);
    /* horizon now - 6.5 h: windows 8..12 ended 7..11 h ago and go; window
     * 7 (6 h to 7 h ago) straddles the horizon and stays */
    for (size_t i = 0; i < nb; i++)
        if (before[i].end <= RU_NOW - 6 * RU_HOUR - 1800000) {
            want_removed++;
            want_bytes += ru_segment_bytes(dir, &before[i]);
        }
    assert_int_equal(want_removed, 6); /* 5 windows, window 8 in two */
    memset(&log, 0, sizeof(log));
    open_with(dir, 6 * 3600 + 1800, 0, &log, &s);
    ru_query_rows(s, NULL, &all);
    ru_rows_window(&all, WIN(7), INT64_MAX, &kept);
    assert_int_equal(tss_store_prune(s, RU_NOW, &res), 0);
    assert_int_equal(res.segments_removed, want_removed);
    assert_int_equal(res.bytes_removed, want_bytes);
    assert_int_equal(res.oldest_kept, WIN(7));
    assert_int_equal(res.bytes_left, ru_budget_bytes(dir));
    snprintf(line, sizeof(line), "removed %zu segment(s)", want_removed);
    if (tt_log_find(&log, TSS_LEVEL_INFO, line) < 0)
        fail_msg("no INFO line saying \"%s\"", line);
    assert_files(dir, before, nb, WIN(7));
    assert_int_equal(ru_count_suffix(dir, "segments", ".tombstones"), 1);
    nafter = ru_count_suffix(dir, "segments", ".seg");
    assert_int_equal(nafter, nb - want_removed);
    assert_int_equal(ru_count_suffix(dir, "_coverage/segments", ".roar"),
                     nafter);
    /* newer data: exactly what was there, and what was appended */
    ru_query_rows(s, NULL, &got);
    ru_assert_rows("after the prune, against before", &got, &kept);
    ru_rows_free(&got);
    assert_store_from("after the prune", s, &L, WIN(7));
    assert_int_equal(coverage_from(s), WIN(7));
    ru_assert_verify_clean("after the prune", s);
    /* a second pass at the same time has nothing to do */
    assert_int_equal(tss_store_prune(s, RU_NOW, &res), 0);
    assert_int_equal(res.segments_removed, 0);
    assert_int_equal(res.oldest_kept, WIN(7));
    /* a reader sees the same */
    r = ru_open(dir, 0, NULL);
    assert_store_from("reader after the prune", r, &L, WIN(7));
    assert_int_equal(coverage_from(r), WIN(7));
    tss_store_close(r);
    tss_store_close(s);

    /* horizon exactly at a window boundary, now - 6 h: window 7 ended at
     * the horizon and goes, window 6 starts there and stays */
    open_with(dir, 6 * 3600, 0, NULL, &s);
    assert_int_equal(tss_store_prune(s, RU_NOW, &res), 0);
    assert_int_equal(res.segments_removed, 1);
    assert_int_equal(res.oldest_kept, WIN(6));
    assert_files(dir, before, nb, WIN(6));
    assert_store_from("after the second prune", s, &L, WIN(6));
    ru_assert_verify_clean("after the second prune", s);
    tss_store_close(s);
    free(before);
    ru_rows_free(&all);
    ru_rows_free(&kept);
    tt_model_free(&L.m);
}

/* Neither option set: nothing goes, however old; the result still says
 * how much is left (tsstore prune printed "0 bytes left"). */
static void test_no_option_keeps_everything(void **state)
{
    const char *dir = *state;
    char segs[4096];
    layout L;
    tss_store *s;
    tss_prune_result res;
    uint64_t digest;

    build(dir, &L);
    tt_join(segs, sizeof(segs), dir, "segments");
    digest = tt_tree_digest(segs);
    open_with(dir, 0, 0, NULL, &s);
    assert_int_equal(tss_store_prune(s, RU_NOW + 1000 * RU_DAY, &res), 0);
    assert_int_equal(res.segments_removed, 0);
    assert_int_equal(res.bytes_removed, 0);
    assert_true(res.bytes_left > 0);
    assert_int_equal(res.bytes_left, ru_budget_bytes(dir));
    assert_int_equal(res.oldest_kept, WIN(NWIN));
    assert_int_equal(tss_store_prune(s, RU_NOW + 1000 * RU_DAY, NULL), 0);
    tss_store_close(s);
    assert_true(tt_tree_digest(segs) == digest);
    s = ru_open(dir, 0, NULL);
    assert_store_from("no retention", s, &L, INT64_MIN);
    tss_store_close(s);
    tt_model_free(&L.m);
}

/* ---- RetentionSize -------------------------------------------------------
 */

/* Bytes per window (segments with their sidecars and tombstones), by
 * window index 1..NWIN, from the directory. */
static void window_bytes(const char *dir, uint64_t wb[NWIN + 1])
{
    ru_seg *v;
    size_t n = ru_list_segments(dir, &v);

    memset(wb, 0, (NWIN + 1) * sizeof(uint64_t));
    for (size_t i = 0; i < n; i++) {
        int k = (int)((RU_NOW - v[i].start) / RU_HOUR);

        assert_true(k >= 1 && k <= NWIN);
        wb[k] += ru_segment_bytes(dir, &v[i]);
    }
    free(v);
}

/* The oldest window kept when windows go oldest first until the rest fit
 * in `budget` (computed here, from the file sizes). */
static int expected_oldest(const uint64_t wb[NWIN + 1], uint64_t budget)
{
    uint64_t total = 0;
    int k;

    for (k = 1; k <= NWIN; k++)
        total += wb[k];
    for (k = NWIN; k >= 1 && total > budget; k--)
        total -= wb[k];
    return k; /* 0: none left */
}

static void size_case(const char *dir, uint64_t budget, int64_t retention_s,
                      int want_oldest)
{
    layout L;
    uint64_t wb[NWIN + 1];
    tss_store *s;
    tss_prune_result res;
    tss_store_stats st;
    tt_log log;
    ru_seg *after;
    size_t na;
    char what[96];

    build(dir, &L);
    window_bytes(dir, wb);
    if (want_oldest < 0)
        want_oldest = expected_oldest(wb, budget);
    snprintf(what, sizeof(what), "budget %" PRIu64 ", retention %" PRId64 " s",
             budget, retention_s);
    memset(&log, 0, sizeof(log));
    open_with(dir, retention_s, budget, &log, &s);
    assert_int_equal(tss_store_prune(s, RU_NOW, &res), 0);
    /* within the budget, by the directory walk and by the result */
    if (ru_budget_bytes(dir) > budget)
        fail_msg("%s: %" PRIu64 " bytes left", what, ru_budget_bytes(dir));
    assert_int_equal(res.bytes_left, ru_budget_bytes(dir));
    /* oldest first: exactly the windows older than want_oldest went */
    na = ru_list_segments(dir, &after);
    for (size_t i = 0; i < na; i++) {
        int k = (int)((RU_NOW - after[i].start) / RU_HOUR);

        if (k > want_oldest)
            fail_msg("%s: window %d is still there, want %d the oldest", what,
                     k, want_oldest);
    }
    if (want_oldest > 0) {
        assert_true(na > 0);
        assert_int_equal(after[0].start, WIN(want_oldest));
        assert_int_equal(after[na - 1].start, WIN(1)); /* the newest */
        assert_int_equal(res.oldest_kept, WIN(want_oldest));
    } else {
        assert_int_equal(na, 0);
        assert_int_equal(res.oldest_kept, 0);
    }
    assert_true(tt_log_find(&log, TSS_LEVEL_INFO, "retention: removed") >= 0);
    /* the stats agree with the walk */
    assert_int_equal(tss_store_stats_get(s, RU_NOW, &st), 0);
    assert_int_equal(st.segments, na);
    assert_int_equal(st.bytes_segments, ru_sum_suffix(dir, "segments", ".seg"));
    assert_int_equal(st.bytes_tombstones,
                     ru_sum_suffix(dir, "segments", ".tombstones"));
    /* what is left is what was there; the head is untouched */
    assert_store_from(what, s, &L, want_oldest > 0 ? WIN(want_oldest) : WIN(0));
    ru_assert_verify_clean(what, s);
    tss_store_close(s);
    free(after);
    tt_model_free(&L.m);
}

static void test_size_budget_middle(void **state)
{
    const char *dir = *state;
    char probe[4096];
    layout L;
    uint64_t wb[NWIN + 1], budget = 0;

    /* the budget: windows 1-5 and half of window 6 */
    tt_join(probe, sizeof(probe), dir, "probe");
    build(probe, &L);
    window_bytes(probe, wb);
    tt_model_free(&L.m);
    for (int k = 1; k <= 5; k++)
        budget += wb[k];
    budget += wb[6] / 2;
    assert_int_equal(expected_oldest(wb, budget), 5);
    tt_join(probe, sizeof(probe), dir, "store");
    size_case(probe, budget, 0, -1);
}

static void test_size_budget_exact(void **state)
{
    const char *dir = *state;
    char probe[4096];
    layout L;
    uint64_t wb[NWIN + 1], budget = 0;

    /* exactly windows 1-9: window 10 and older go, 9 stays */
    tt_join(probe, sizeof(probe), dir, "probe");
    build(probe, &L);
    window_bytes(probe, wb);
    tt_model_free(&L.m);
    for (int k = 1; k <= 9; k++)
        budget += wb[k];
    tt_join(probe, sizeof(probe), dir, "store");
    size_case(probe, budget, 0, 9);
}

static void test_size_and_time(void **state)
{
    char dir[4096];

    /* a budget that holds everything: only the time goes -- the horizon
     * is 9 h 59 min ago, window 10 straddles it, 11 and 12 go */
    tt_join(dir, sizeof(dir), *state, "a");
    size_case(dir, UINT64_C(1) << 40, 10 * 3600 - 60, 10);
    /* a budget smaller than any window: every segment goes, the head
     * stays */
    tt_join(dir, sizeof(dir), *state, "b");
    size_case(dir, 1, 10 * 3600 - 60, 0);
}

/* ---- a prune requested from a second handle ------------------------------
 */

static void test_prune_request(void **state)
{
    const char *dir = *state;
    layout L;
    tss_store *w, *r;
    tss_apply_result ar;
    char id[37];
    int st = -1;
    size_t nseg;

    build(dir, &L);
    nseg = ru_count_suffix(dir, "segments", ".seg");
    open_with(dir, 6 * 3600 + 1800, 0, NULL, &w);
    r = ru_open(dir, 0, NULL);
    assert_int_equal(tss_prune_request(r, id), 0);
    assert_int_equal(tss_mutation_state(r, id, &st), 0);
    assert_int_equal(st, TSS_MUTATION_INTENT);
    /* nothing happens until the writer applies it */
    assert_int_equal(ru_count_suffix(dir, "segments", ".seg"), nseg);
    assert_store_from("request not applied yet", r, &L, INT64_MIN);
    assert_int_equal(tss_store_apply_mutations(w, RU_NOW, &ar), 0);
    assert_int_equal(ru_count_suffix(dir, "segments", ".seg"), nseg - 6);
    assert_int_equal(tss_mutation_state(r, id, &st), 0);
    assert_int_equal(st, TSS_MUTATION_REMOVED);
    assert_store_from("request applied, reader", r, &L, WIN(7));
    ru_assert_verify_clean("request applied", w);
    tss_store_close(r);
    tss_store_close(w);
    tt_model_free(&L.m);
}

/* ---- a power cut at every fsync of a prune pass --------------------------
 */

/* Window k holds all its rows, or none (window 8, in two segments removed
 * oldest first, may also hold just its late segment's). Returns the number
 * of windows gone. */
static int assert_whole_windows(const char *what, tss_store *s, const layout *L)
{
    ru_rows got, gw, want, late;
    int gone = 0;

    ru_query_rows(s, NULL, &got);
    for (int k = 0; k <= NWIN; k++) {
        int64_t from = WIN(k), to = k ? WIN(k - 1) : INT64_MAX;

        ru_rows_window(&got, from, to, &gw);
        expect_raw(L, from, to, false, &want);
        if (k == LATE_WIN)
            expect_raw(L, from, to, true, &late);
        if (!ru_rows_equal(&gw, &want) && !(k >= 8 && gw.n == 0) &&
            !(k == LATE_WIN && ru_rows_equal(&gw, &late))) {
            char label[160];

            snprintf(label, sizeof(label), "%s: window %d (%s)", what, k,
                     k >= 8 ? "whole or gone" : "untouched");
            ru_assert_rows(label, &gw, &want);
        }
        gone += gw.n == 0;
        ru_rows_free(&gw);
        ru_rows_free(&want);
        if (k == LATE_WIN)
            ru_rows_free(&late);
    }
    ru_rows_free(&got);
    return gone;
}

static void test_prune_crash_every_fsync(void **state)
{
    const char *base = *state;
    char tpl[4096], dir[4096], what[128];
    layout L;
    unsigned long total = 0;
    bool saw_none = false, saw_some = false;

    tt_join(tpl, sizeof(tpl), base, "template");
    tt_join(dir, sizeof(dir), base, "store");
    build(tpl, &L);
    for (unsigned long n = 0; n == 0 || n <= total; n++) {
        tss_store_options o;
        tss_store *s;
        tss_prune_result res;
        int rc;

        tt_copy_tree(tpl, dir);
        co_baseline(dir);
        co_arm(0);
        ru_options(&o, co_ops(), NULL);
        o.retention_seconds = 6 * 3600 + 1800;
        s = ru_open(dir, TSS_OPEN_WRITER, &o);
        co_arm(n);
        rc = tss_store_prune(s, RU_NOW, &res);
        tss_store_close(s);
        snprintf(what, sizeof(what), "prune, power cut at fsync %lu", n);
        if (n == 0) {
            assert_int_equal(rc, 0);
            total = co_fsyncs();
            assert_true(total >= 12);
            tt_rmrf(dir);
            continue;
        }
        assert_true(co_crashed());
        co_power_cut(dir);
        /* a reader before any recovery: whole windows */
        s = ru_open(dir, 0, NULL);
        {
            int gone = assert_whole_windows(what, s, &L);

            saw_none |= gone == 0;
            saw_some |= gone > 0 && gone < 5;
        }
        tss_store_close(s);
        /* the writer's restart: clean, still whole windows */
        ru_options(&o, NULL, NULL);
        s = ru_open(dir, TSS_OPEN_WRITER, &o);
        ru_assert_verify_clean(what, s);
        assert_whole_windows(what, s, &L);
        tss_store_close(s);
        /* its next pass finishes the job */
        open_with(dir, 6 * 3600 + 1800, 0, NULL, &s);
        assert_int_equal(tss_store_prune(s, RU_NOW, &res), 0);
        assert_store_from(what, s, &L, WIN(7));
        ru_assert_verify_clean(what, s);
        tss_store_close(s);
        tt_rmrf(dir);
    }
    /* the cuts fell before the pass removed anything, and in its middle */
    assert_true(saw_none);
    assert_true(saw_some);
    co_free();
    tt_model_free(&L.m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_time_removes_exactly_past_horizon),
        T(test_no_option_keeps_everything),
        T(test_size_budget_middle),
        T(test_size_budget_exact),
        T(test_size_and_time),
        T(test_prune_request),
        T(test_prune_crash_every_fsync),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
