/*
 * Hostile feeds (issue 9, point 4): what collectd hands the writer, and
 * the clock it runs by.
 *
 *  - clock_jumps: the feed's times (and the `now` the writer is called
 *    with, which follows the same wall clock) jump back 3 days, forward 5
 *    days, and back again, with a restart in between: every point is
 *    stored once, in the segment of its own window, late points of a
 *    sealed window in a second segment of that window, verify is clean.
 *  - clock_back_sync: after the clock steps back, the head snapshot's log
 *    is still fsynced every SnapshotSync (counted through the ops table),
 *    not only once the clock has caught up days later.
 *  - clock_back_stats: writer-stats.json is still published after the
 *    clock steps back.
 *  - clock_back_complaints: write errors are still logged (rate-limited)
 *    after the clock steps back.
 *  - time_limits: points at 0, -1, +-TSS_TIME_LIMIT (and at the limit of
 *    every precision) are stored, snapshotted, restored, sealed, rolled up
 *    and read back bit for bit; beyond the limit (and INT64_MIN/MAX)
 *    append says why, naming the timestamp.
 *  - identifiers: every field TSS_FIELD_MAX bytes long (any byte but NUL)
 *    goes through append, snapshot, restart, seal, delete, compaction,
 *    rollup and coverage; one byte more is TSS_EINVAL naming the field.
 */
#define _GNU_SOURCE
#include "hd_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tsstore/coverage.h"
#include "tsstore/stats.h"

/* ---- clock jumps ----------------------------------------------------------
 */

static void put3(tss_store *s, tt_model *m, int64_t from, int64_t to)
{
    hd_fill(s, m, from, to);
}

static void seal_at(tss_store *s, int64_t now)
{
    tss_seal_result r;
    int rc = tss_store_seal(s, now, 0, &r);

    if (rc != 0)
        fail_msg("seal at %" PRId64 ": %d %s", now, rc, tss_error_last());
    assert_int_equal(r.pending, 0);
}

static void test_clock_jumps(void **state)
{
    char dir[4096];
    tss_store_options o;
    tt_model m = {0};
    tss_store *s;
    ru_rows got;
    ru_seg *v;
    int64_t real, T;
    size_t n, want = 0, in_t = 0;

    tt_join(dir, sizeof(dir), *state, "store");
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    real = tss_store_now(s);
    T = real / RU_SPAN * RU_SPAN - 2 * RU_SPAN; /* ended two hours ago */

    /* as it should be: the window is due and sealed */
    put3(s, &m, T, T + 30 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, real, TSS_SNAP_SYNC), 0);
    seal_at(s, tss_store_now(s) + 1000);
    /* back 3 days */
    put3(s, &m, T - 3 * RU_DAY, T - 3 * RU_DAY + 30 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, real - 3 * RU_DAY, TSS_SNAP_SYNC),
                     0);
    seal_at(s, tss_store_now(s) - 3 * RU_DAY);
    /* a restart in the past */
    tss_store_close(s);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    /* forward 5 days: what is due is sealed */
    put3(s, &m, T + 5 * RU_DAY, T + 5 * RU_DAY + 30 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, real + 5 * RU_DAY, TSS_SNAP_SYNC),
                     0);
    seal_at(s, tss_store_now(s) + 5 * RU_DAY);
    /* and back to now: late points of the sealed window T */
    put3(s, &m, T + 30 * RU_MIN, T + 40 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, real, TSS_SNAP_SYNC), 0);
    seal_at(s, tss_store_now(s) + 1000);
    assert_int_equal(tss_store_seal(s, real, TSS_SEAL_ALL, NULL), 0);
    ru_assert_verify_clean("after the clock jumps", s);
    hd_rows(s, &got);
    want = m.n;
    if (got.n != want)
        fail_msg("%zu points stored, %zu appended", got.n, want);
    ru_rows_free(&got);
    tss_store_close(s);
    /* each window in its own segments: T twice (late points) */
    n = ru_list_segments(dir, &v);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].end - v[i].start, RU_SPAN);
        assert_true(v[i].start == T - 3 * RU_DAY || v[i].start == T ||
                    v[i].start == T + 5 * RU_DAY);
        in_t += v[i].start == T;
    }
    assert_int_equal(in_t, 2);
    free(v);
    tt_model_free(&m);
}

/* Snapshots at `now` without TSS_SNAP_SYNC; returns the log fsyncs. */
static unsigned long snap_syncs(tss_store *s, hd_fault *f, int64_t now,
                                int64_t t)
{
    hd_fill(s, NULL, t, t + 1);
    f->sync_hits = 0;
    assert_int_equal(tss_store_snapshot(s, now, 0), 0);
    return f->sync_hits;
}

static void test_clock_back_sync(void **state)
{
    char dir[4096];
    hd_fault *f = calloc(1, sizeof(*f));
    tss_store_options o;
    tss_store *s;
    int64_t r0, back;

    assert_non_null(f);
    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    hd_fault_arm(f, HD_PASS, 0, 0);
    f->sync_watch = "/head/log-";
    hd_options(&o, hd_fault_ops(f));
    o.snapshot_sync_seconds = 60;
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    r0 = tss_store_now(s);
    /* the interval: a record now is not synced, one a minute later is */
    assert_int_equal(snap_syncs(s, f, r0 + 1000, HD_W_HEAD + 40 * RU_MIN), 0);
    assert_int_equal(snap_syncs(s, f, r0 + 61000, HD_W_HEAD + 41 * RU_MIN), 1);
    /* the clock steps back two days: the records are synced as before, not
     * two days later */
    back = r0 + 62000 - 2 * RU_DAY;
    assert_int_equal(snap_syncs(s, f, back, HD_W_HEAD + 42 * RU_MIN), 1);
    assert_int_equal(snap_syncs(s, f, back + 1000, HD_W_HEAD + 43 * RU_MIN), 0);
    assert_int_equal(snap_syncs(s, f, back + 61000, HD_W_HEAD + 44 * RU_MIN),
                     1);
    tss_store_close(s);
    hd_fault_ops(NULL);
    free(f);
}

static void test_clock_back_stats(void **state)
{
    char dir[4096], path[4096];
    tss_store_options o;
    tss_store *s;
    struct stat a, b;
    int64_t r0;

    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    tt_join(path, sizeof(path), dir, "writer-stats.json");
    hd_options(&o, NULL);
    o.grace_seconds = 3600;
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    r0 = tss_store_now(s);
    assert_int_equal(tss_store_publish_stats(s, r0, 60000), 0);
    assert_int_equal(stat(path, &a), 0);
    /* a late point changes the counters; the clock steps back */
    hd_fill(s, NULL, HD_W_OLD + 1, HD_W_OLD + 2);
    assert_int_equal(tss_store_publish_stats(s, r0 - 2 * RU_DAY, 60000), 0);
    assert_int_equal(stat(path, &b), 0);
    if (a.st_ino == b.st_ino)
        fail_msg("writer-stats.json not published after the clock went "
                 "back");
    tss_store_close(s);
}

static int eio_on_segments(void *ctx, const char *op, int dirfd,
                           const char *path, int flags)
{
    const bool *on = ctx;

    return *on && strcmp(op, "openat") == 0 && path && strstr(path, ".tmp-") &&
                   strstr(path, ".seg")
               ? EIO
               : 0;
}

static size_t errors_logged(const tt_log *l)
{
    size_t n = 0;

    for (size_t i = 0; i < l->n; i++)
        n += l->level[i] == TSS_LEVEL_ERR &&
             strstr(l->msg[i], "writing a segment") != NULL;
    return n;
}

static void test_clock_back_complaints(void **state)
{
    char dir[4096];
    hd_fault *f = calloc(1, sizeof(*f));
    tss_store_options o;
    tt_log log = {0};
    tss_store *s;
    bool on = false;
    int64_t r0;

    assert_non_null(f);
    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    hd_fault_arm(f, HD_PASS, 0, 0);
    f->rule = eio_on_segments;
    f->rule_ctx = &on;
    hd_options(&o, hd_fault_ops(f));
    o.log = tt_log_fn;
    o.log_ctx = &log;
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    r0 = tss_store_now(s);
    on = true;
    hd_fill(s, NULL, HD_W_SEAL, HD_W_SEAL + 10 * RU_MIN);
    assert_int_equal(tss_store_seal(s, r0, TSS_SEAL_ALL, NULL), TSS_EIO);
    assert_int_equal(errors_logged(&log), 1);
    /* rate-limited: not again a second later */
    assert_int_equal(tss_store_seal(s, r0 + 1000, 0, NULL), TSS_EIO);
    assert_int_equal(errors_logged(&log), 1);
    /* the clock steps back two days: the failures are still reported */
    assert_int_equal(tss_store_seal(s, r0 + 2000 - 2 * RU_DAY, 0, NULL),
                     TSS_EIO);
    if (errors_logged(&log) != 2)
        fail_msg("a write error after the clock went back was not logged");
    on = false;
    assert_int_equal(tss_store_seal(s, r0 + 3000 - 2 * RU_DAY, 0, NULL), 0);
    tss_store_close(s);
    hd_fault_ops(NULL);
    free(f);
}

/* ---- timestamps at the limits ------------------------------------------- */

static void test_time_limits(void **state)
{
    static const uint32_t ups[] = {1, 1000, 1000000, 1000000000};
    static const int64_t bad[] = {TSS_TIME_LIMIT + 1, -TSS_TIME_LIMIT - 1,
                                  INT64_MAX, INT64_MIN};

    for (size_t u = 0; u < sizeof(ups) / sizeof(ups[0]); u++) {
        const int64_t good[] = {0,
                                -1,
                                1,
                                TSS_TIME_LIMIT,
                                -TSS_TIME_LIMIT,
                                TSS_TIME_LIMIT - 1,
                                -TSS_TIME_LIMIT + 1,
                                (int64_t)ups[u] * 1700000000};
        const size_t ngood = sizeof(good) / sizeof(good[0]);
        char dir[4096], name[32];
        tss_store_options o;
        tss_series_id id = {"h", "lim", "", "gauge", "", "value"};
        tss_store *s;
        tt_series *v;
        uint64_t errors;
        size_t n;
        int rc;

        snprintf(name, sizeof(name), "ups%u", ups[u]);
        tt_join(dir, sizeof(dir), *state, name);
        tss_store_options_init(&o);
        o.units_per_second = ups[u];
        o.grace_seconds = 0;
        o.span_seconds = 3600;
        o.rollups[0] = (tss_rollup_spec){86400, 60, 0};
        o.nrollups = 1;
        s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
        for (size_t i = 0; i < ngood; i++) {
            tss_value x = {.gauge = (double)i};

            rc = tss_store_append(s, &id, TSS_KIND_GAUGE, good[i], x);
            if (rc != 0)
                fail_msg("append at %" PRId64 " (%u/s): %d %s", good[i], ups[u],
                         rc, tss_error_last());
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char t[32];
            tss_value x = {.gauge = 1};

            rc = tss_store_append(s, &id, TSS_KIND_GAUGE, bad[i], x);
            assert_int_equal(rc, TSS_EINVAL);
            snprintf(t, sizeof(t), "%" PRId64, bad[i]);
            tt_assert_msg_has(t);
            tt_assert_msg_has("range");
        }
        /* snapshot, restart (restore), seal */
        assert_int_equal(tss_store_snapshot(s, tss_store_now(s), TSS_SNAP_SYNC),
                         0);
        tss_store_close(s);
        s = ru_open(dir, TSS_OPEN_WRITER, &o);
        n = tt_query(s, NULL, &v, &errors);
        assert_int_equal(errors, 0);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].n, ngood);
        tt_series_free(v, n);
        assert_int_equal(
            tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL), 0);
        n = tt_query(s, NULL, &v, &errors);
        assert_int_equal(errors, 0);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].n, ngood);
        for (size_t i = 0; i < ngood; i++) {
            bool found = false;

            for (size_t k = 0; k < v[0].n && !found; k++)
                found = v[0].pts[k].t == good[i] &&
                        v[0].pts[k].v.gauge == (double)i;
            if (!found)
                fail_msg("%u/s: the point at %" PRId64 " is not back", ups[u],
                         good[i]);
        }
        tt_series_free(v, n);
        ru_assert_verify_clean("timestamps at the limits", s);
        /* a coverage query over everything */
        {
            tss_coverage *c;
            tss_coverage_series cs;
            tss_filter f;

            memset(&f, 0, sizeof(f));
            assert_int_equal(tss_coverage_open(&c, s, &f), 0);
            while ((rc = tss_coverage_next(c, &cs)) == 1)
                ;
            assert_int_equal(rc, 0);
            assert_int_equal(tss_coverage_errors(c), 0);
            tss_coverage_close(c);
        }
        /* rolled up where old enough: the aggregates read back */
        rc = tss_store_rollup(s, tss_store_now(s), NULL);
        if (rc != 0)
            fail_msg("%u/s: rollup: %d %s", ups[u], rc, tss_error_last());
        ru_assert_verify_clean("timestamps at the limits, rolled up", s);
        {
            tss_filter f;

            memset(&f, 0, sizeof(f));
            f.resolution = TSS_RES_AUTO;
            n = tt_query(s, &f, &v, &errors);
            assert_int_equal(errors, 0);
            assert_true(n >= 1);
            tt_series_free(v, n);
        }
        tss_store_close(s);
    }
}

/* ---- identifiers of maximum length ------------------------------------- */

/* n bytes: with `any`, every byte but NUL (not UTF-8); else printable
 * ASCII and UTF-8 sequences */
static void fill_field(char *f, size_t n, int salt, bool any)
{
    for (size_t i = 0; i < n; i++)
        f[i] = any ? (char)(1 + (i * 7 + (size_t)salt * 13) % 254)
                   : (char)(' ' + (i * 7 + (size_t)salt * 13) % 95);
    if (!any)
        for (size_t i = 0; i + 2 <= n; i += 40) /* U+00E9 */
            memcpy(f + i, "\xc3\xa9", 2);
    f[n] = '\0';
    /* no glob magic: the delete's pattern is the identifier itself */
    for (size_t i = 0; i < n; i++)
        if (f[i] == '*' || f[i] == '?' || f[i] == '[' || f[i] == '\\' ||
            f[i] == '/' || f[i] == '-')
            f[i] = 'x';
}

static void test_identifiers(void **state)
{
    static char fld[6][TSS_FIELD_MAX + 2];
    static const char *const names[] = {
        "host", "plugin", "plugin_instance", "type", "type_instance", "ds"};
    char dir[4096], glob[8 * TSS_FIELD_MAX], did[37];
    tss_series_id id;
    tss_store_options o;
    tss_delete_spec d;
    tss_store *s;
    tt_series *v;
    uint64_t errors;
    size_t n;
    int rc;

    for (int i = 0; i < 6; i++)
        fill_field(fld[i], TSS_FIELD_MAX, i, i == 4);
    id = (tss_series_id){fld[0], fld[1], fld[2], fld[3], fld[4], fld[5]};
    tt_join(dir, sizeof(dir), *state, "store");
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    for (int64_t t = HD_W_MID; t < HD_W_MID + RU_SPAN; t += RU_MIN) {
        tss_value x = {.gauge = (double)t};

        assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, t, x), 0);
    }
    for (int64_t t = HD_W_HEAD; t < HD_W_HEAD + 10 * RU_MIN; t += RU_MIN) {
        tss_value x = {.gauge = (double)t};

        assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, t, x), 0);
    }
    /* one byte more, in each field: refused, naming the field */
    for (int i = 0; i < 6; i++) {
        static char longer[TSS_FIELD_MAX + 2];
        tss_series_id bad = id;
        const char **f[6] = {
            &bad.host, &bad.plugin,        &bad.plugin_instance,
            &bad.type, &bad.type_instance, &bad.ds};
        tss_value x = {.gauge = 1};

        fill_field(longer, TSS_FIELD_MAX + 1, 9, false);
        *f[i] = longer;
        rc = tss_store_append(s, &bad, TSS_KIND_GAUGE, HD_W_HEAD, x);
        assert_int_equal(rc, TSS_EINVAL);
        tt_assert_msg_has(names[i]);
        tt_assert_msg_has("256 bytes");
    }
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
    s = ru_open(dir, TSS_OPEN_WRITER, &o); /* the head restored */
    assert_int_equal(tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL), 0);
    n = tt_query(s, NULL, &v, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(n, 1);
    for (int i = 0; i < 6; i++)
        assert_string_equal(v[0].field[i], fld[i]);
    assert_int_equal(v[0].n, 70);
    tt_series_free(v, n);
    /* a delete by the whole identifier: a pattern that is not UTF-8 (the
     * type instance is any bytes) is refused, not written to be lost;
     * with '?' for those bytes it deletes, and is compacted */
    snprintf(glob, sizeof(glob), "%s/%s-%s/%s-%s", fld[0], fld[1], fld[2],
             fld[3], fld[4]);
    memset(&d, 0, sizeof(d));
    d.series_glob = glob;
    d.ds = fld[5];
    d.has_from = d.has_to = 1;
    d.from = HD_W_MID;
    d.to = HD_W_MID + 10 * RU_MIN - 1;
    assert_int_equal(tss_delete_create(s, &d, did), TSS_EINVAL);
    tt_assert_msg_has("UTF-8");
    {
        char *ti = strstr(glob, fld[4]);

        for (size_t i = 0; i < TSS_FIELD_MAX; i++)
            if ((unsigned char)ti[i] >= 0x80)
                ti[i] = '?';
    }
    assert_int_equal(tss_delete_create(s, &d, did), 0);
    rc = tss_store_apply_mutations(s, RU_NOW, NULL);
    if (rc != 0)
        fail_msg("delete: %d %s", rc, tss_error_last());
    assert_int_equal(tss_store_compact(s, RU_NOW, 0, NULL), 0);
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    n = tt_query(s, NULL, &v, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(v[0].n, 60);
    tt_series_free(v, n);
    /* rolled up: aggregate keys are one byte longer than the series' */
    rc = tss_store_rollup(s, RU_NOW, NULL);
    if (rc != 0)
        fail_msg("rollup: %d %s", rc, tss_error_last());
    ru_assert_verify_clean("identifiers of maximum length", s);
    {
        tss_filter f;
        size_t aggs = 0;

        memset(&f, 0, sizeof(f));
        f.resolution = TSS_RES_AUTO;
        n = tt_query(s, &f, &v, &errors);
        assert_int_equal(errors, 0);
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < 6; k++)
                assert_string_equal(v[i].field[k], fld[k]);
            aggs += v[i].info.resolution > 0;
        }
        assert_true(aggs >= 4);
        tt_series_free(v, n);
    }
    {
        tss_coverage *c;
        tss_coverage_series cs;
        tss_filter f;

        memset(&f, 0, sizeof(f));
        f.series_glob = glob;
        assert_int_equal(tss_coverage_open(&c, s, &f), 0);
        assert_int_equal(tss_coverage_next(c, &cs), 1);
        assert_string_equal(cs.id.host, fld[0]);
        assert_int_equal(tss_coverage_next(c, &cs), 0);
        assert_int_equal(tss_coverage_errors(c), 0);
        tss_coverage_close(c);
    }
    tss_store_close(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_clock_jumps),      T(test_clock_back_sync),
        T(test_clock_back_stats), T(test_clock_back_complaints),
        T(test_time_limits),      T(test_identifiers),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
