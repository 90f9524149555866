/*
 * A store end to end through the public API (store.c): open, create and
 * reopen, the writer lock, append validation, sealing due windows, and
 * sealing while the file system fails at every call a seal makes.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsstore/query.h"
#include "tsstore/store.h"

static tss_store *open_store(const char *dir, unsigned flags,
                             const tss_store_options *o)
{
    tss_store *s = NULL;
    int rc = tss_store_open(&s, dir, flags, o);

    if (rc != 0)
        fail_msg("open %s: %d %s", dir, rc, tss_error_last());
    return s;
}

static void put(tss_store *s, const char *host, const char *ds, int kind,
                int64_t t, uint64_t bits)
{
    tss_series_id id = {host, "plugin", "", "type", "", ds};
    tss_value v;

    v.bits = bits;
    assert_int_equal(tss_store_append(s, &id, kind, t, v), 0);
}

static void test_open_missing_and_create(void **state)
{
    char dir[4096], empty[4096];
    tss_store *s;
    tss_store_options o;
    tss_store_info info;
    time_t before, after;

    tt_join(dir, sizeof(dir), *state, "store");
    assert_int_equal(tss_store_open(&s, dir, 0, NULL), TSS_ENOTFOUND);
    assert_null(s);
    tt_assert_msg_has(dir);
    assert_int_equal(tss_store_open(&s, dir, TSS_OPEN_WRITER, NULL),
                     TSS_ENOTFOUND);

    /* a directory without STORE is not a store */
    tt_join(empty, sizeof(empty), *state, "empty");
    assert_int_equal(mkdir(empty, 0750), 0);
    assert_int_equal(tss_store_open(&s, empty, 0, NULL), TSS_ENOTFOUND);
    tt_assert_msg_has("not a tsstore store");

    tss_store_options_init(&o);
    o.units_per_second = 1;
    o.span_seconds = 600;
    o.bucket_seconds = 60;
    before = time(NULL);
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    after = time(NULL);
    tss_store_info_get(s, &info);
    assert_int_equal(info.format_version, 1);
    assert_int_equal(info.units_per_second, 1);
    assert_int_equal(info.span, 600);
    assert_int_equal(info.bucket_width, 60);
    assert_true(info.created >= before && info.created <= after);
    assert_int_equal(strlen(info.uuid), 36);
    assert_string_equal(info.path, dir);
    tss_store_close(s);
}

/* Reopening with other settings keeps the recorded ones, and says so. */
static void test_reopen_uses_stored_options(void **state)
{
    char dir[4096], uuid[37];
    tss_store *s;
    tss_store_options o;
    tss_store_info info;
    tt_log log = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_options_init(&o);
    o.units_per_second = 1000000;
    o.span_seconds = 3600;
    o.bucket_seconds = 30;
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    tss_store_info_get(s, &info);
    memcpy(uuid, info.uuid, sizeof(uuid));
    tss_store_close(s);

    o.units_per_second = 1000;
    o.span_seconds = 7200;
    o.bucket_seconds = 10;
    o.log = tt_log_fn;
    o.log_ctx = &log;
    for (unsigned flags = 0; flags <= (TSS_OPEN_CREATE | TSS_OPEN_WRITER);
         flags++) {
        s = open_store(dir, flags, &o);
        tss_store_info_get(s, &info);
        assert_int_equal(info.units_per_second, 1000000);
        assert_int_equal(info.span, INT64_C(3600000000));
        assert_int_equal(info.bucket_width, 30000000);
        assert_string_equal(info.uuid, uuid);
        tss_store_close(s);
    }
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, "precision us") >= 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, "span of 3600 s") >= 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, "bucket width of 30 s") >=
                0);
}

static void test_bad_options(void **state)
{
    char dir[4096];
    tss_store *s;
    tss_store_options o;

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_options_init(&o);
    o.units_per_second = 100;
    assert_int_equal(tss_store_open(&s, dir, TSS_OPEN_CREATE, &o), TSS_EINVAL);
    tss_store_options_init(&o);
    o.span_seconds = 7205; /* not a multiple of the 10 s buckets */
    assert_int_equal(tss_store_open(&s, dir, TSS_OPEN_CREATE, &o), TSS_EINVAL);
    tss_store_options_init(&o);
    o.span_seconds = -1;
    assert_int_equal(tss_store_open(&s, dir, TSS_OPEN_CREATE, &o), TSS_EINVAL);
    tss_store_options_init(&o);
    o.grace_seconds = -1;
    assert_int_equal(tss_store_open(&s, dir, TSS_OPEN_CREATE, &o), TSS_EINVAL);
    assert_false(tt_exists(dir)); /* refused before touching the disk */
}

static void test_corrupt_store_file(void **state)
{
    static const char *const docs[][2] = {
        {"{\"format\": \"tsstore\"}", "field \"format_version\" is missing"},
        {"{\"format\":\"tsstore\",\"format_version\":2,\"uuid\":"
         "\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\",\"created\":1,"
         "\"precision\":\"ms\",\"units_per_second\":1000,\"span\":7200000,"
         "\"bucket_width\":10000}",
         "format_version 2 is not supported"},
        {"{\"format\":\"tsstore\",\"format_version\":1,\"uuid\":"
         "\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\",\"created\":1,"
         "\"precision\":\"ms\",\"units_per_second\":1000,"
         "\"bucket_width\":10000}",
         "field \"span\" is missing"},
        {"not json", "not valid JSON"},
    };
    char dir[4096], meta[4096];
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(meta, sizeof(meta), dir, "STORE");
    tss_store_close(open_store(dir, TSS_OPEN_CREATE, NULL));
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        tt_spit(meta, docs[i][0], strlen(docs[i][0]));
        for (unsigned flags = 0; flags < 4; flags++) {
            assert_int_equal(tss_store_open(&s, dir, flags, NULL),
                             TSS_ECORRUPT);
            tt_assert_msg_has(docs[i][1]);
            tt_assert_msg_has("STORE");
        }
    }
}

static void test_second_writer_is_locked(void **state)
{
    char dir[4096], want[64];
    tss_store *w, *w2, *r;
    tss_value v = {.counter = 1};
    tss_series_id id = {"h", "p", "", "t", "", "v"};
    tss_seal_result res;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    assert_int_equal(tss_store_open(&w2, dir, TSS_OPEN_WRITER, NULL),
                     TSS_ELOCKED);
    assert_null(w2);
    snprintf(want, sizeof(want), "locked by pid %ld", (long)getpid());
    tt_assert_msg_has(want);
    assert_int_equal(
        tss_store_open(&w2, dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL),
        TSS_ELOCKED);

    /* readers need no lock; they cannot write */
    r = open_store(dir, 0, NULL);
    assert_int_equal(tss_store_append(r, &id, TSS_KIND_COUNTER, 0, v),
                     TSS_EINVAL);
    assert_int_equal(tss_store_seal(r, 0, TSS_SEAL_ALL, &res), TSS_EINVAL);
    tss_store_close(r);

    tss_store_close(w);
    w2 = open_store(dir, TSS_OPEN_WRITER, NULL);
    tss_store_close(w2);
}

static void test_append_validation(void **state)
{
    char dir[4096], f255[256], f256[257];
    tss_store *s;
    tss_value v = {.gauge = 1.5};
    tt_series *got;
    uint64_t errors;
    size_t n;

    memset(f255, 'x', 255);
    f255[255] = '\0';
    memset(f256, 'y', 256);
    f256[256] = '\0';
    tt_join(dir, sizeof(dir), *state, "store");
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    for (int i = 0; i < 6; i++) {
        const char *f[6] = {"h", "p", "", "t", "", "v"};
        tss_series_id id;

        f[i] = f256;
        id = (tss_series_id){f[0], f[1], f[2], f[3], f[4], f[5]};
        assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, 0, v),
                         TSS_EINVAL);
        f[i] = f255;
        id = (tss_series_id){f[0], f[1], f[2], f[3], f[4], f[5]};
        assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, i, v), 0);
    }
    {
        tss_series_id id = {"h", "p", "", "t", "", "v"};

        assert_int_equal(tss_store_append(s, &id, 0, 0, v), TSS_EINVAL);
        assert_int_equal(tss_store_append(s, &id, 5, 0, v), TSS_EINVAL);
        assert_int_equal(
            tss_store_append(s, &id, TSS_KIND_GAUGE, TSS_TIME_LIMIT + 1, v),
            TSS_EINVAL);
        assert_int_equal(
            tss_store_append(s, &id, TSS_KIND_GAUGE, -TSS_TIME_LIMIT - 1, v),
            TSS_EINVAL);
        assert_int_equal(
            tss_store_append(s, &id, TSS_KIND_GAUGE, TSS_TIME_LIMIT, v), 0);
        assert_int_equal(
            tss_store_append(s, &id, TSS_KIND_GAUGE, -TSS_TIME_LIMIT, v), 0);
    }
    assert_int_equal(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL),
                     0);
    n = tt_query(s, NULL, &got, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(n, 7); /* six with a 255-byte field, and "h" */
    for (size_t i = 0; i < n; i++) {
        size_t k, longest = 0;

        for (k = 0; k < 6; k++)
            if (strlen(got[i].field[k]) > longest)
                longest = strlen(got[i].field[k]);
        if (longest == 255) {
            assert_int_equal(got[i].n, 1);
            continue;
        }
        /* the series at the limits of time */
        assert_string_equal(got[i].field[0], "h");
        assert_int_equal(got[i].n, 2);
        assert_int_equal(got[i].pts[0].t, -TSS_TIME_LIMIT);
        assert_int_equal(got[i].pts[1].t, TSS_TIME_LIMIT);
        assert_true(got[i].pts[0].v.gauge == 1.5);
        assert_true(got[i].pts[1].v.gauge == 1.5);
    }
    tt_series_free(got, n);
    tss_store_close(s);
}

/* Without TSS_SEAL_ALL only windows that ended `grace` ago are sealed. */
static void test_seal_due_windows(void **state)
{
    char dir[4096];
    tss_store *s;
    tss_store_options o;
    tss_seal_result res;
    tss_writer_stats ws;
    int64_t now, future;

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_options_init(&o);
    o.grace_seconds = 0;
    o.span_seconds = 3600;
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    now = tss_store_now(s);
    future = now + INT64_C(10) * 86400 * 1000;
    for (int i = 0; i < 10; i++) {
        put(s, "past", "v", TSS_KIND_DERIVE, 1000000000000 + i * 1000, 1);
        put(s, "future", "v", TSS_KIND_DERIVE, future + i * 1000, 2);
    }
    assert_int_equal(tss_store_seal(s, now + 1000, 0, &res), 0);
    assert_int_equal(res.segments_written, 1);
    assert_int_equal(res.points_written, 10);
    assert_int_equal(res.pending, 0);
    tss_store_writer_stats(s, &ws);
    assert_int_equal(ws.head_points, 10);
    assert_int_equal(ws.series, 1);
    assert_int_equal(ws.points_appended, 20);

    assert_int_equal(tss_store_seal(s, now + 1000, 0, &res), 0);
    assert_int_equal(res.segments_written, 0);
    assert_int_equal(tss_store_seal(s, now + 1000, TSS_SEAL_ALL, &res), 0);
    assert_int_equal(res.segments_written, 1);
    assert_int_equal(res.points_written, 10);
    tss_store_writer_stats(s, &ws);
    assert_int_equal(ws.head_points, 0);
    assert_int_equal(ws.series, 0);
    assert_int_equal(ws.points_written, 20);
    assert_int_equal(ws.segments_written, 2);
    assert_true(ws.bytes_written > 0);
    assert_int_equal(ws.write_errors, 0);
    tss_store_close(s);
}

/* Sealed at `now`: how many segments that wrote. */
static uint64_t seal_at(tss_store *s, int64_t now)
{
    tss_seal_result res;

    assert_int_equal(tss_store_seal(s, now, 0, &res), 0);
    return res.segments_written;
}

/* A window long sealed that keeps getting late points (a host whose clock
 * is behind): its first late batch is sealed Grace after it arrived, each
 * later one waits twice as long as the one before, up to SegmentSpan --
 * 10 s, 20 s, 40 s, then 60 s (the span) -- so the window gets a handful
 * of segments, not one every Grace. A late batch of another window starts
 * at Grace again. Arrival stamps are whole seconds of the coarse real
 * clock, which can read a tick behind tss_store_now's t0: a stamp lies in
 * (t0 - 2 s, t0], so "not yet" is checked at t0 - 2 s + hold and "due" at
 * t0 + 1 s + hold. */
static void test_late_batches_wait_longer(void **state)
{
    static const int64_t hold_s[] = {10, 20, 40, 60, 60};
    char dir[4096];
    tss_store *s;
    tss_store_options o;
    int64_t old = 1000000000000; /* 2001: long sealed */

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_options_init(&o);
    o.grace_seconds = 10;
    o.span_seconds = 60;
    o.bucket_seconds = 10;
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    for (size_t i = 0; i < sizeof(hold_s) / sizeof(hold_s[0]); i++) {
        int64_t t0 = tss_store_now(s), hold = hold_s[i] * 1000;

        put(s, "skewed", "v", TSS_KIND_GAUGE, old + (int64_t)i * 1000, i);
        assert_int_equal(seal_at(s, t0 - 2000 + hold), 0);
        assert_int_equal(seal_at(s, t0 + 1000 + hold), 1);
    }
    /* another old window: its first late batch waits Grace only */
    {
        int64_t t0 = tss_store_now(s);

        put(s, "skewed", "v", TSS_KIND_GAUGE, old + 3600 * 1000, 1);
        assert_int_equal(seal_at(s, t0 + 1000 + 10 * 1000), 1);
    }
    tss_store_close(s);
}

static void test_stale_temps_removed(void **state)
{
    char dir[4096], path[4096];
    tss_store_options o;
    tt_log log = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_close(open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL));
    tt_join(path, sizeof(path), dir, "segments/.tmp-x.seg-1-1");
    tt_spit(path, "x", 1);
    tt_join(path, sizeof(path), dir, ".tmp-STORE-1-2");
    tt_spit(path, "x", 1);
    tss_store_options_init(&o);
    o.log = tt_log_fn;
    o.log_ctx = &log;
    tss_store_close(open_store(dir, 0, &o)); /* readers leave them */
    assert_true(tt_exists(path));
    tss_store_close(open_store(dir, TSS_OPEN_WRITER, &o));
    assert_false(tt_exists(path));
    tt_join(path, sizeof(path), dir, "segments");
    assert_int_equal(tt_count_prefix(path, ".tmp-"), 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, "temp file") >= 0);
}

/* ---- sealing while writes fail ------------------------------------------ */

#define NHOSTS 3
#define NPTS 50

/* Points in two windows of 3600 s for NHOSTS series. */
static void append_batch(tss_store *s)
{
    for (int h = 0; h < NHOSTS; h++) {
        char host[16];

        snprintf(host, sizeof(host), "host%d", h);
        for (int i = 0; i < NPTS; i++)
            put(s, host, "value", 1 + h % 4,
                INT64_C(3600000) * 10 - 25000 + i * 1000,
                (uint64_t)(h * 1000 + i));
    }
}

static void check_batch(const char *dir)
{
    tss_store *r = open_store(dir, 0, NULL);
    tt_series *got;
    uint64_t errors;
    size_t n = tt_query(r, NULL, &got, &errors);
    char segs[4096];

    assert_int_equal(errors, 0);
    assert_int_equal(n, NHOSTS);
    for (int h = 0; h < NHOSTS; h++) {
        assert_int_equal(got[h].n, NPTS);
        for (int i = 0; i < NPTS; i++) {
            assert_int_equal(got[h].pts[i].t,
                             INT64_C(3600000) * 10 - 25000 + i * 1000);
            assert_int_equal(got[h].pts[i].v.bits, h * 1000 + i);
        }
    }
    tt_series_free(got, n);
    tss_store_close(r);
    /* one segment per window, no temp files left */
    tt_join(segs, sizeof(segs), dir, "segments");
    assert_int_equal(tt_count_prefix(segs, "32400000_"), 1);
    assert_int_equal(tt_count_prefix(segs, "36000000_"), 1);
    assert_int_equal(tt_count_prefix(segs, ".tmp-"), 0);
}

static void seal_every_call_fails(const char *base, int err)
{
    static tt_fault f;
    const tss_io_ops *io = tt_fault_ops(&f);
    int want = err == ENOSPC ? TSS_ENOSPC : TSS_EIO;
    unsigned long total = 0;

    for (unsigned long n = 0; n == 0 || n <= total; n++) {
        char dir[4096], sub[32];
        tss_store_options o;
        tss_seal_result res, res2;
        tss_writer_stats ws;
        tss_store *s;
        int rc;

        snprintf(sub, sizeof(sub), "s-%d-%lu", err, n);
        tt_join(dir, sizeof(dir), base, sub);
        tss_store_options_init(&o);
        o.io = io;
        o.span_seconds = 3600;
        tt_fault_arm(&f, 0, 0, false);
        s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
        append_batch(s);

        tt_fault_arm(&f, n, err, false);
        rc = tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &res);
        if (n == 0) { /* the healthy run: learn its calls */
            assert_int_equal(rc, 0);
            total = f.calls;
        } else if (rc != 0) {
            if (rc != want)
                fail_msg("call %lu (%s) failed with errno %d: seal gave %d "
                         "(%s)",
                         n, f.failed_op, err, rc, tss_error_last());
            assert_int_equal(res.last_error, rc);
            assert_true(res.pending > 0);
            assert_true(res.pending_bytes > 0);
            assert_int_equal(res.points_dropped, 0);
            tss_store_writer_stats(s, &ws);
            assert_true(ws.write_errors > 0);
        }
        tt_fault_arm(&f, 0, 0, false);
        assert_int_equal(
            tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &res2), 0);
        assert_int_equal(res2.pending, 0);
        assert_int_equal(res2.pending_bytes, 0);
        assert_int_equal(res.points_written + res2.points_written,
                         NHOSTS * NPTS);
        tss_store_close(s);
        check_batch(dir);
        tt_rmrf(dir);
    }
    assert_true(total > 10);
    tt_fault_ops(NULL);
}

static void test_seal_with_failing_writes(void **state)
{
    seal_every_call_fails(*state, EIO);
    seal_every_call_fails(*state, ENOSPC);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_missing_and_create),
        T(test_reopen_uses_stored_options),
        T(test_bad_options),
        T(test_corrupt_store_file),
        T(test_second_writer_is_locked),
        T(test_append_validation),
        T(test_seal_due_windows),
        T(test_late_batches_wait_longer),
        T(test_stale_temps_removed),
        T(test_seal_with_failing_writes),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
