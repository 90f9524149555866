/*
 * Head snapshots (snapshot.c, snapshot_log.c) through the public API: what a
 * writer snapshotted comes back bit for bit after a crash (the handle closed
 * without sealing), across delta rounds, out-of-order folds and new series;
 * readers see the head merged with segments; torn log tails, corrupt log
 * records and bases, seals interrupted at each step, and stale temp files.
 *
 * Expected contents come from tt_model (test_util.c): every point appended,
 * in arrival order, reduced to one point per timestamp, the last winning.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsstore/coverage.h"
#include "tsstore/io.h"
#include "tsstore/mutation.h"
#include "tsstore/query.h"
#include "tsstore/store.h"
#include "tsstore/verify.h"

#include "codec_gorilla.h"
#include "series.h"
#include "snapshot.h"
#include "store_internal.h"

#define SPAN INT64_C(3600000)           /* ms: one-hour windows */
#define W0 (INT64_C(472222) * SPAN)     /* a window in November 2023 */
#define W(k, ms) (W0 + (k)*SPAN + (ms)) /* time `ms` into window k */

/* The series; hosts are unique, so a host names its series. */
static const struct {
    const char *host, *ds;
    int kind;
} SER[] = {
    {"gauge", "value", TSS_KIND_GAUGE},      /* 0 */
    {"derive", "rx", TSS_KIND_DERIVE},       /* 1 */
    {"counter", "tx", TSS_KIND_COUNTER},     /* 2 */
    {"absolute", "n", TSS_KIND_ABSOLUTE},    /* 3 */
    {"ooo", "value", TSS_KIND_GAUGE},        /* 4: out of order, folded */
    {"late-comer", "value", TSS_KIND_GAUGE}, /* 5: appears in round 2 */
    {"third", "value", TSS_KIND_DERIVE},     /* 6: appears in round 4 */
};
#define NSER (sizeof(SER) / sizeof(SER[0]))

static tss_store *open_store(const char *dir, unsigned flags, tt_log *log,
                             const tss_io_ops *io)
{
    return tt_open(dir, flags, SPAN / 1000, log, io);
}

static void add(tss_store *s, tt_model *m, unsigned ser, int64_t t,
                uint64_t bits)
{
    tss_series_id id = {SER[ser].host, "snap", "", "type", "", SER[ser].ds};
    tss_value v;

    v.bits = bits;
    assert_int_equal(tss_store_append(s, &id, SER[ser].kind, t, v), 0);
    tt_model_add(m, ser, t, bits);
}

static void snap(tss_store *s, unsigned flags)
{
    int rc = tss_store_snapshot(s, tss_store_now(s), flags);

    if (rc != 0)
        fail_msg("snapshot: %d %s", rc, tss_error_last());
}

/* Fails unless a query on `s` returns exactly the model's first `upto`
 * arrivals, having skipped `skipped` unreadable files. */
static void check_skipped(tss_store *s, const tt_model *m, size_t upto,
                          const char *what, uint64_t skipped)
{
    tt_series *got;
    uint64_t errors;
    size_t n = tt_query(s, NULL, &got, &errors), want_series = 0;

    assert_int_equal(errors, skipped);
    for (unsigned k = 0; k < NSER; k++) {
        tss_point *want;
        size_t nwant = tt_model_expect(m, upto, k, &want);
        const tt_series *g = NULL;
        char label[128];

        for (size_t i = 0; i < n && !g; i++)
            if (strcmp(got[i].field[0], SER[k].host) == 0)
                g = &got[i];
        snprintf(label, sizeof(label), "%s, series %s", what, SER[k].host);
        if (nwant == 0 && g)
            fail_msg("%s: present, should not be", label);
        if (nwant) {
            if (!g)
                fail_msg("%s: missing", label);
            assert_int_equal(g->kind, SER[k].kind);
            tt_assert_points(label, g->pts, g->n, want, nwant);
            want_series++;
        }
        free(want);
    }
    assert_int_equal(n, want_series);
    tt_series_free(got, n);
}

/* check_skipped with nothing skipped. */
static void check(tss_store *s, const tt_model *m, size_t upto,
                  const char *what)
{
    check_skipped(s, m, upto, what, 0);
}

static uint64_t dbits(double d)
{
    tss_value v;

    v.gauge = d;
    return v.bits;
}

/* ---- every snapshotted point comes back --------------------------------- */

static void round1(tss_store *s, tt_model *m)
{
    static const uint64_t odd[] = {
        UINT64_C(0x7ff8dead0000beef), /* quiet NaN with a payload */
        UINT64_C(0xfff0000000000001), /* signalling NaN, negative */
        UINT64_C(0x8000000000000000), /* -0.0 */
        UINT64_C(0x7ff0000000000000), /* +Inf */
        UINT64_C(0x0000000000000001), /* smallest subnormal */
    };

    for (int i = 0; i < 20; i++) /* in order, two windows */
        add(s, m, 0, W(0, SPAN - 100000 + i * 10000), dbits(i * 0.25));
    for (int i = 0; i < 5; i++)
        add(s, m, 0, W(1, 300000 + i * 10000), odd[i]);
    add(s, m, 0, W(1, 310000), dbits(NAN));   /* a duplicate timestamp */
    add(s, m, 0, W(0, SPAN - 95000), odd[0]); /* out of order */
    add(s, m, 1, W(0, 1000), (uint64_t)INT64_MIN);
    add(s, m, 1, W(0, 2000), (uint64_t)INT64_MAX);
    add(s, m, 1, W(0, 3000), (uint64_t)(INT64_MIN + 1));
    add(s, m, 1, W(0, 4000), 0);
    add(s, m, 2, W(0, 1000), UINT64_MAX - 1);
    add(s, m, 2, W(0, 2000), UINT64_MAX);
    add(s, m, 2, W(0, 3000), 3);      /* the counter wrapped */
    add(s, m, 3, -TSS_TIME_LIMIT, 7); /* the limits of time */
    add(s, m, 3, TSS_TIME_LIMIT, 8);
}

static void round2(tss_store *s, tt_model *m)
{
    for (int i = 20; i < 40; i++) /* deltas on existing items */
        add(s, m, 0, W(1, 400000 + i * 10000), dbits(i * 0.5 + 1e-300));
    for (int i = 0; i < 10; i++) {
        add(s, m, 1, W(0, 5000 + i * 1000), (uint64_t)(INT64_MAX - i));
        add(s, m, 5, W(2, i * 60000), dbits(-(double)i)); /* new series */
    }
    add(s, m, 1, W(0, 2000), 42);             /* duplicate: replaces */
    add(s, m, 2, W(0, 2500), UINT64_MAX / 3); /* out of order */
    add(s, m, 3, TSS_TIME_LIMIT - 1, 9);      /* before its last */
}

/* Out of order beyond the fold threshold (128): the encoder is rebuilt and
 * the item resent whole. */
static void round3(tss_store *s, tt_model *m, int from, int to)
{
    if (from == 0)
        for (int i = 0; i < 10; i++)
            add(s, m, 4, W(3, 1000000 + i * 1000), dbits(1000.0 + i));
    for (int i = from; i < to; i++) /* backwards in time */
        add(s, m, 4, W(3, 999000 - i * 1000), dbits(i + 0.125));
}

static void round4(tss_store *s, tt_model *m)
{
    round3(s, m, 200, 230);
    for (int i = 0; i < 20; i++) /* after the fold, in order again */
        add(s, m, 4, W(3, 2000000 + i * 1000), dbits(-1.0 * i));
    add(s, m, 4, W(3, 999000 - 3 * 1000), dbits(3.5)); /* replaces */
    for (int i = 0; i < 5; i++)
        add(s, m, 6, W(-2, i * 1000), (uint64_t)i);
}

static void test_snapshot_rounds(void **state)
{
    char dir[4096], copy[5][4096], name[32];
    size_t upto[5];
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int r = 0; r < 5; r++) {
        if (r == 0)
            round1(s, &m);
        else if (r == 1)
            round2(s, &m);
        else if (r == 2)
            round3(s, &m, 0, 100);
        else if (r == 3)
            round3(s, &m, 100, 200); /* folds at the 129th */
        else
            round4(s, &m);
        snap(s, r % 2 ? 0 : TSS_SNAP_SYNC);
        upto[r] = m.n;
        /* what a crash right now would leave on disk */
        snprintf(name, sizeof(name), "round%d", r);
        tt_join(copy[r], sizeof(copy[r]), *state, name);
        tt_copy_tree(dir, copy[r]);
    }
    /* after the last snapshot: lost by the crash */
    add(s, &m, 0, W(1, 3000000), dbits(99.0));
    add(s, &m, 6, W(-2, 9000), 9);
    add(s, &m, 4, W(3, 5000), dbits(5.0));
    tss_store_close(s); /* no seal: the head is lost from memory */

    for (int r = 0; r < 5; r++) {
        char what[64];

        for (int again = 0; again < 2; again++) {
            /* the second time from the base the first recovery wrote */
            s = open_store(copy[r], TSS_OPEN_WRITER, NULL, NULL);
            snprintf(what, sizeof(what), "round %d, recovery %d", r, again);
            check(s, &m, upto[r], what);
            tss_store_close(s);
        }
    }
    s = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(s, &m, upto[4], "after the crash");
    tss_store_close(s);
    tt_model_free(&m);
}

/* ---- readers ------------------------------------------------------------- */

/* Total point count of the segments on disk, from their headers. */
static uint64_t segment_points(const char *dir)
{
    char segs[4096], names[16384];
    uint64_t total = 0;

    tt_join(segs, sizeof(segs), dir, "segments");
    tt_list(segs, "", names, sizeof(names));
    for (char *p = strtok(names, ","); p; p = strtok(NULL, ",")) {
        char path[4096];
        uint8_t *buf;
        size_t len;
        uint64_t n = 0;

        tt_join(path, sizeof(path), segs, p);
        assert_int_equal(tt_slurp(path, &buf, &len), 0);
        assert_true(len >= 128);
        for (int i = 7; i >= 0; i--)
            n = (n << 8) | buf[80 + i];
        total += n;
        free(buf);
    }
    return total;
}

static void test_reader_sees_head(void **state)
{
    char dir[4096];
    tt_model m = {0};
    tss_store *w, *r;
    size_t sealed;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int i = 0; i < 30; i++)
        add(w, &m, 0, W(0, i * 10000), dbits(i));
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    sealed = m.n;
    for (int i = 0; i < 30; i++)
        add(w, &m, 0, W(1, i * 10000), dbits(100 + i));
    add(w, &m, 0, W(0, 5000), dbits(-5.0));  /* late, between two */
    add(w, &m, 0, W(0, 20000), dbits(-2.0)); /* late, replaces one */
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, sealed, "before the snapshot");
    snap(w, 0); /* no fsync needed for readers */
    check(r, &m, m.n, "after the snapshot");
    tss_store_close(r);
    tss_store_close(w);
    tt_model_free(&m);
}

/*
 * A seal whose new snapshot base fails: the segment is on disk and the
 * snapshot log still holds its points, with the intent record naming it.
 * Readers show each point once; a writer restarted from that snapshot does
 * not restore them, so the next seal stores nothing twice.
 */
static void test_seal_then_crash(void **state)
{
    static tt_fault f;
    char dir[4096], head[4096], before[256], after[256];
    tt_model m = {0};
    tss_store *w, *r;
    tss_seal_result res;
    tss_writer_stats ws;
    uint64_t stored;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(head, sizeof(head), dir, "head");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL,
                   tt_fault_ops(&f));
    for (int i = 0; i < 40; i++) {
        add(w, &m, 1, W(0, i * 1000), (uint64_t)i);
        add(w, &m, 2, W(1, i * 1000), (uint64_t)i * 7);
    }
    snap(w, TSS_SNAP_SYNC);
    add(w, &m, 1, W(0, 50000), 50); /* in the head, not yet snapshotted */
    tt_list(head, "", before, sizeof(before));
    tt_fault_arm_match(&f, "linkat", "base-", 1, EIO);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, &res),
                     0);
    assert_string_equal(f.failed_op, "linkat");
    assert_int_equal(res.segments_written, 2);
    assert_int_equal(res.points_written, m.n);
    tt_list(head, "", after, sizeof(after));
    assert_string_equal(after, before); /* still the old base and its log */
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, m.n, "sealed, base failed");
    tss_store_close(r);
    tss_store_close(w); /* crash */
    tt_fault_ops(NULL);

    stored = segment_points(dir);
    assert_int_equal(stored, m.n);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    tss_store_writer_stats(w, &ws);
    assert_int_equal(ws.head_points, 0); /* nothing restored */
    check(w, &m, m.n, "after the restart");
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, &res),
                     0);
    assert_int_equal(res.points_written, 0);
    tss_store_close(w);
    assert_int_equal(segment_points(dir), stored);

    /* a clean seal, then a crash: nothing comes back either */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    for (int i = 0; i < 10; i++)
        add(w, &m, 3, W(2, i * 1000), (uint64_t)i);
    snap(w, TSS_SNAP_SYNC);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    tss_store_close(w);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    tss_store_writer_stats(w, &ws);
    assert_int_equal(ws.head_points, 0);
    check(w, &m, m.n, "after a clean seal");
    tss_store_close(w);
    assert_int_equal(segment_points(dir), m.n);
    tt_model_free(&m);
}

/* The segment write fails after the intent record: the segment does not
 * exist, so recovery restores its points, and they are stored once. */
static void test_seal_fails_then_crash(void **state)
{
    static tt_fault f;
    char dir[4096];
    tt_model m = {0};
    tss_store *w;
    tss_seal_result res;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL,
                   tt_fault_ops(&f));
    for (int i = 0; i < 25; i++)
        add(w, &m, 0, W(0, i * 1000), dbits(i / 3.0));
    snap(w, TSS_SNAP_SYNC);
    tt_fault_arm_match(&f, "linkat", ".seg", 1, EIO);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, &res),
                     TSS_EIO);
    assert_int_equal(res.pending, 1);
    tss_store_close(w); /* crash with the image pending */
    tt_fault_ops(NULL);
    assert_int_equal(segment_points(dir), 0);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "restored");
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, &res),
                     0);
    assert_int_equal(res.points_written, m.n);
    check(w, &m, m.n, "sealed again");
    tss_store_close(w);
    assert_int_equal(segment_points(dir), m.n);
    tt_model_free(&m);
}

/* ---- torn log tails ----------------------------------------------------- */

/* Offsets of the records of a head snapshot log. */
static size_t log_records(const char *path, uint64_t *start, size_t max)
{
    uint8_t *buf;
    size_t len, off = 0, n = 0;

    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    while (off + 16 <= len && n < max) {
        uint32_t blen = (uint32_t)buf[off + 4] | (uint32_t)buf[off + 5] << 8 |
                        (uint32_t)buf[off + 6] << 16 |
                        (uint32_t)buf[off + 7] << 24;

        assert_memory_equal(buf + off, "TSL1", 4);
        start[n++] = off;
        off += 16 + blen;
    }
    assert_int_equal(off, len);
    start[n] = off;
    free(buf);
    return n;
}

/* Opens a writer on a copy of `pristine` whose log is cut to `len` bytes
 * and appended `extra`, and checks it recovers upto arrivals. */
static void recover_cut(const char *pristine, const char *work,
                        const char *log_name, uint64_t len, const void *extra,
                        size_t nextra, const tt_model *m, size_t upto)
{
    char path[4096], what[64];
    tt_log log = {0};
    tss_store *s;

    tt_copy_tree(pristine, work);
    tt_join(path, sizeof(path), work, log_name);
    tt_truncate(path, len);
    if (nextra) {
        FILE *f = fopen(path, "ab");

        assert_non_null(f);
        assert_int_equal(fwrite(extra, 1, nextra, f), nextra);
        assert_int_equal(fclose(f), 0);
    }
    s = open_store(work, TSS_OPEN_WRITER, &log, NULL);
    snprintf(what, sizeof(what), "log cut at %" PRIu64 " + %zu", len, nextra);
    check(s, m, upto, what);
    tss_store_close(s);
    if (tt_log_find(&log, TSS_LEVEL_WARNING, "cut short by a crash") < 0)
        fail_msg("%s: no warning", what);
    /* a torn tail is not corruption: no ERROR, nothing moved aside */
    if (tt_log_find(&log, TSS_LEVEL_ERR, "") >= 0)
        fail_msg("%s: an ERROR for a torn tail", what);
    tt_join(path, sizeof(path), work, "head");
    {
        char names[512];

        tt_list(path, "", names, sizeof(names));
        if (strstr(names, ".corrupt"))
            fail_msg("%s: %s", what, names);
    }
    tt_rmrf(work);
}

/*
 * A store in `dir` whose head log holds three records, one per round, and
 * nothing sealed: upto[r] arrivals are in records 0..r. The log's name
 * relative to the store goes to log_name[64], the records' offsets to
 * start[0..3] (start[3]: the end of the file).
 */
static void three_records(const char *dir, tt_model *m, size_t upto[3],
                          char log_name[64], uint64_t start[8])
{
    char head[4096], path[4096];
    tss_store *s;

    tt_join(head, sizeof(head), dir, "head");
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 4; i++) {
            add(s, m, 0, W(0, r * 10000 + i * 1000), dbits(r + i / 8.0));
            add(s, m, (unsigned)(1 + r), W(1, i), (uint64_t)(r * i));
        }
        snap(s, TSS_SNAP_SYNC);
        upto[r] = m->n;
    }
    tss_store_close(s);
    tt_list(head, "log-", log_name, 64);
    memmove(log_name + 5, log_name, strlen(log_name) + 1);
    memcpy(log_name, "head/", 5);
    tt_join(path, sizeof(path), dir, log_name);
    assert_int_equal(log_records(path, start, 7), 3);
}

static void test_torn_log_tail(void **state)
{
    char dir[4096], work[4096], log_name[64];
    uint64_t start[8];
    size_t upto[3];
    tt_model m = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(work, sizeof(work), *state, "work");
    three_records(dir, &m, upto, log_name, start);

    for (uint64_t cut = start[2] + 1; cut < start[3]; cut++)
        recover_cut(dir, work, log_name, cut, NULL, 0, &m, upto[1]);
    {
        static const uint8_t junk[37] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
        /* a record header that looks right, its body cut short */
        static const uint8_t cut[19] = {'T', 'S', 'L', '1', 5, 0, 0, 0, 1, 2,
                                        3,   4,   5,   6,   7, 8, 1, 0, 0};

        recover_cut(dir, work, log_name, start[3], junk, sizeof(junk), &m,
                    upto[2]);
        recover_cut(dir, work, log_name, start[3], cut, sizeof(cut), &m,
                    upto[2]);
    }
    tt_model_free(&m);
}

/*
 * A window whose segment write failed stays queued, out of the head; a
 * snapshot base written meanwhile (here after a failed log append) would
 * not hold it, and the generation that does would be removed. The base
 * waits until the queue is written: a crash before then recovers the
 * window from the generation that holds it.
 */
/* A store whose window 0 (series 0) is queued for sealing, its segment
 * write failed, and whose series 1 is in the head, snapshotted: *upto is
 * the model's arrivals the snapshot holds. */
static tss_store *queue_window(const char *dir, tt_fault *f, tt_model *m,
                               int64_t *now, size_t *upto)
{
    tss_seal_result res;
    tss_store *w;

    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL,
                   tt_fault_ops(f));
    *now = tss_store_now(w);
    for (int i = 0; i < 25; i++) {
        add(w, m, 0, W(0, i * 1000), dbits(i / 3.0));           /* due */
        add(w, m, 1, *now + 10 * SPAN + i * 1000, (uint64_t)i); /* open */
    }
    snap(w, TSS_SNAP_SYNC);
    *upto = m->n;
    tt_fault_arm_match(f, "linkat", ".seg", 1, EIO);
    /* two hours on: window 0 is due, the open one is not */
    assert_int_equal(tss_store_seal(w, *now + 2 * SPAN, 0, &res), TSS_EIO);
    assert_int_equal(res.pending, 1);
    return w;
}

/* Crashes `w` (closed without a seal) and fails unless the next writer
 * recovers the model's first `upto` arrivals, window 0 with them. */
static void crash_and_check(tss_store *w, const char *dir, const tt_model *m,
                            size_t upto, const char *what)
{
    tss_store_close(w);
    tt_fault_ops(NULL);
    assert_int_equal(segment_points(dir), 0);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, m, upto, what);
    tss_store_close(w);
}

/*
 * A window whose segment write failed stays queued, out of the head; a
 * snapshot base written meanwhile (after a failed log append, or by a
 * delete's head step) would not hold it, and the generation that does
 * would be removed. The base waits until the queue is written: a crash
 * before then recovers the window from the generation that holds it.
 */
/* queue_window, then a point whose log append fails: the snapshot wants a
 * new base. */
static tss_store *queue_then_fail_append(const char *dir, tt_fault *f,
                                         tt_model *m, int64_t *now,
                                         size_t *upto)
{
    tss_store *w = queue_window(dir, f, m, now, upto);

    add(w, m, 1, *now + 10 * SPAN + 30500, 99);
    tt_fault_arm_match(f, "pwrite", NULL, 1, EIO);
    assert_int_not_equal(tss_store_snapshot(w, *now, 0), 0);
    return w;
}

static void test_base_waits_for_queued(void **state)
{
    static tt_fault f;
    char dir[4096];
    tt_model m = {0};
    tss_store *w;
    int64_t now;
    size_t upto;

    tt_join(dir, sizeof(dir), *state, "store");
    w = queue_then_fail_append(dir, &f, &m, &now, &upto);
    /* the base waits while the window cannot be written */
    tt_fault_arm_match(&f, "linkat", ".seg", 1, EIO);
    assert_int_not_equal(tss_store_snapshot(w, now, 0), 0);
    tt_assert_msg_has("queued for sealing");
    crash_and_check(w, dir, &m, upto, "after a failed log append");
    tt_model_free(&m);
}

/* Once the queued window can be written, the snapshot writes it, then the
 * base: nothing waits, nothing is lost. */
static void test_base_writes_queued_first(void **state)
{
    static tt_fault f;
    char dir[4096];
    tt_model m = {0};
    tss_store *w;
    int64_t now;
    size_t upto;

    tt_join(dir, sizeof(dir), *state, "store");
    w = queue_then_fail_append(dir, &f, &m, &now, &upto);
    tt_fault_arm(&f, 0, 0, false);
    snap(w, 0);
    tss_store_close(w);
    tt_fault_ops(NULL);
    assert_int_equal(segment_points(dir), 25); /* window 0, sealed */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "after the queue was written");
    tss_store_close(w);
    tt_model_free(&m);
}

static void test_delete_waits_for_queued(void **state)
{
    static tt_fault f;
    tss_delete_spec del = {.series_glob = "derive/*"};
    tss_apply_result ar;
    char dir[4096], id[37];
    tt_model m = {0};
    tss_store *w;
    int64_t now;
    size_t upto;

    tt_join(dir, sizeof(dir), *state, "store");
    w = queue_window(dir, &f, &m, &now, &upto);
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_delete_create(w, &del, id), 0);
    tt_fault_arm_match(&f, "linkat", ".seg", 1, EIO);
    /* the head step (a new base) waits while the window cannot be
     * written; the delete is retried later */
    assert_int_not_equal(tss_store_apply_mutations(w, now, &ar), 0);
    assert_true(ar.pending > 0);
    crash_and_check(w, dir, &m, upto, "after a delete's head step");
    tt_model_free(&m);
}

/* ---- corrupt log records ------------------------------------------------ */

typedef struct findings {
    char text[2048];
    size_t len;
} findings;

static void on_finding(void *ctx, int sev, const char *file, const char *what)
{
    findings *f = ctx;

    if (sev == TSS_VERIFY_PROBLEM && f->len < sizeof(f->text) - 1)
        f->len += (size_t)snprintf(f->text + f->len, sizeof(f->text) - f->len,
                                   "\n  %s: %s", file, what);
}

static void verify_clean(tss_store *s, const char *what)
{
    findings f = {{0}, 0};
    tss_verify_report rep;

    assert_int_equal(tss_verify(s, 0, on_finding, NULL, &f, &rep), 0);
    if (rep.problems)
        fail_msg("%s: %" PRIu64 " problem(s):%s", what, rep.problems, f.text);
}

/* Renames of head logs fail while this is set (RENAME_FAILS). */
static bool log_renames_fail;

static int renameat_maybe(int a, const char *from, int b, const char *to)
{
    if (log_renames_fail && strstr(from, "log-")) {
        errno = EIO;
        return -1;
    }
    return renameat(a, from, b, to);
}

/* How a case damages the log of a copy of the store. */
enum {
    MID_CHECKSUM,  /* a body byte of record 1 of 3 flipped */
    MID_FRAME,     /* record 1's magic flipped: valid record 2 after it */
    LAST_CHECKSUM, /* a whole last record failing its checksum */
    MOVED_ASIDE,   /* MID_CHECKSUM, then a writer moved it aside and died */
    RENAME_FAILS,  /* MID_CHECKSUM, and renames fail until a seal */
};

/*
 * Opens a reader, then a writer on a copy of `pristine` whose log was
 * damaged as `kind` says. The reader reports the damage and changes
 * nothing; the writer keeps the records before the bad one, keeps the file
 * as <log>.corrupt (never deleted), logs an ERROR naming it, and goes on:
 * verify is clean, new snapshots work.
 */
static void corrupt_log_case(const char *pristine, const char *work,
                             const char *log_name, const uint64_t *start,
                             int kind, const tt_model *all, size_t upto)
{
    static tss_io_ops io;
    char path[4096], aside[4200], rel_aside[80], what[64];
    const char *named = kind == MOVED_ASIDE ? rel_aside : log_name;
    uint8_t *damaged, *kept;
    size_t ndamaged, nkept;
    tt_log log = {0};
    tt_model mm = {0}, *m = &mm;
    uint64_t digest;
    tss_store *s;

    /* the points only the lost records held are gone */
    for (size_t i = 0; i < upto; i++)
        tt_model_add(m, all->p[i].series, all->p[i].t, all->p[i].bits);
    snprintf(what, sizeof(what), "corrupt log, case %d", kind);
    tt_copy_tree(pristine, work);
    tt_join(path, sizeof(path), work, log_name);
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    snprintf(rel_aside, sizeof(rel_aside), "%s.corrupt", log_name);
    if (kind == MID_FRAME)
        tt_flip(path, start[1] + 1, 0x20);
    else if (kind == LAST_CHECKSUM)
        tt_flip(path, start[3] - 1, 0x01);
    else
        tt_flip(path, start[1] + 16 + (start[2] - start[1] - 16) / 2, 0x01);
    assert_int_equal(tt_slurp(path, &damaged, &ndamaged), 0);
    if (kind == MOVED_ASIDE)
        assert_int_equal(rename(path, aside), 0);

    /* a reader: reads up to the damage, reports it, renames nothing */
    digest = tt_tree_digest(work);
    s = open_store(work, 0, &log, NULL);
    check_skipped(s, m, upto, what, 1); /* the records from the damage */
    tss_store_close(s);
    assert_int_equal(tt_tree_digest(work), digest);
    if (tt_log_find(&log, TSS_LEVEL_ERR, named) < 0)
        fail_msg("%s: the reader logged no ERROR naming %s", what, named);

    /* the writer's recovery */
    memset(&log, 0, sizeof(log));
    io = *tss_io_default();
    io.renameat = renameat_maybe;
    log_renames_fail = kind == RENAME_FAILS;
    s = open_store(work, TSS_OPEN_WRITER, &log, &io);
    if (tt_log_find(&log, TSS_LEVEL_ERR, named) < 0 ||
        (kind != RENAME_FAILS &&
         tt_log_find(&log, TSS_LEVEL_ERR, rel_aside) < 0))
        fail_msg("%s: no ERROR naming %s", what, rel_aside);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR,
                            kind == MID_FRAME ? "is not a record"
                                              : "fails its checksum") >= 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_WARNING, "cut short") < 0);
    check(s, m, upto, what);
    verify_clean(s, what);
    if (kind == RENAME_FAILS) {
        /* kept under its name, not removed with its generation; moved
         * aside at the next base (a seal writes one) */
        assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "could not be moved") >=
                    0);
        assert_true(tt_exists(path));
        log_renames_fail = false;
        assert_int_equal(
            tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL), 0);
        if (tt_log_find(&log, TSS_LEVEL_NOTICE, rel_aside) < 0)
            fail_msg("%s: no NOTICE naming %s", what, rel_aside);
    }
    assert_false(tt_exists(path));
    assert_int_equal(tt_slurp(aside, &kept, &nkept), 0);
    assert_int_equal(nkept, ndamaged); /* the very bytes, never rewritten */
    assert_memory_equal(kept, damaged, nkept);
    free(kept);
    free(damaged);

    /* new snapshots work, and the file aside stays */
    for (int i = 0; i < 10; i++)
        add(s, m, 6, W(5, i * 1000), (uint64_t)(i + 1));
    snap(s, TSS_SNAP_SYNC);
    tss_store_close(s);
    s = open_store(work, TSS_OPEN_WRITER, NULL, NULL);
    check(s, m, m->n, "new snapshots after the corrupt log");
    verify_clean(s, what);
    tss_store_close(s);
    assert_true(tt_exists(aside));
    tt_model_free(m);
    tt_rmrf(work);
}

static void test_corrupt_log_record(void **state)
{
    static const int kinds[] = {MID_CHECKSUM, MID_FRAME, LAST_CHECKSUM,
                                MOVED_ASIDE, RENAME_FAILS};
    char dir[4096], work[4096], log_name[64];
    uint64_t start[8];
    size_t upto[3];
    tt_model m = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(work, sizeof(work), *state, "work");
    three_records(dir, &m, upto, log_name, start);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        corrupt_log_case(dir, work, log_name, start, kinds[k], &m,
                         upto[kinds[k] == LAST_CHECKSUM ? 1 : 0]);
    tt_model_free(&m);
}

/*
 * A record whose checksum matches but which is found malformed only at its
 * end (a trailing byte), after its new item and points were read: recovery
 * keeps the records before it, and nothing of it.
 */
static void test_record_rejected_part_way(void **state)
{
    char dir[4096], path[4096], log_name[64];
    uint8_t *buf, *out;
    uint64_t start[8];
    size_t upto[3], len, blen, olen = 0;
    tt_model m = {0};
    tt_log log = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    three_records(dir, &m, upto, log_name, start);
    tt_join(path, sizeof(path), dir, log_name);
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    /* record 2 (a new series, more points of series 0) + one byte */
    blen = (size_t)(start[2] - start[1] - 16);
    out = malloc(len + 1);
    assert_non_null(out);
    memcpy(out, buf, (size_t)start[1]);
    olen = (size_t)start[1];
    tss_put_u32(out + olen, 0x314c5354u); /* "TSL1" */
    tss_put_u32(out + olen + 4, (uint32_t)(blen + 1));
    memcpy(out + olen + 16, buf + start[1] + 16, blen);
    out[olen + 16 + blen] = 0;
    tss_put_u64(out + olen + 8, tss_checksum(out + olen + 16, blen + 1));
    olen += 16 + blen + 1;
    memcpy(out + olen, buf + start[2], len - (size_t)start[2]);
    olen += len - (size_t)start[2];
    tt_spit(path, out, olen);
    free(out);
    free(buf);

    s = open_store(dir, TSS_OPEN_WRITER, &log, NULL);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "is malformed") >= 0);
    check(s, &m, upto[0], "a record rejected at its last byte");
    tss_store_close(s);
    tt_model_free(&m);
}

/* ---- corrupt bases ------------------------------------------------------ */

/* Corrupts the base in `dir`/head and reopens: the base is renamed
 * .corrupt, an ERROR names it, and the store holds what the segments do;
 * then new snapshots work as before. */
/*
 * Opens the writer on `dir` whose base head/<base> (path: its path) is
 * damaged: an ERROR names it and says `why`, and it is moved aside,
 * never deleted. Returns the open store.
 */
static tss_store *open_expect_base_aside(const char *dir, const char *base,
                                         const char *path, const char *why)
{
    char aside[4200], rel[80];
    tt_log log = {0};
    tss_store *s;

    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    snprintf(rel, sizeof(rel), "head/%s", base);
    s = open_store(dir, TSS_OPEN_WRITER, &log, NULL);
    if (tt_log_find(&log, TSS_LEVEL_ERR, rel) < 0)
        fail_msg("no ERROR naming %s", rel);
    if (tt_log_find(&log, TSS_LEVEL_ERR, why) < 0)
        fail_msg("no ERROR saying %s", why);
    /* and what it came to: the writer goes on without those points */
    if (tt_log_find(&log, TSS_LEVEL_ERR, "not restored") < 0)
        fail_msg("no ERROR saying what the damage cost");
    assert_true(tt_exists(aside)); /* never deleted */
    return s;
}

/* The base's log goes aside with it (its records need the base, and a
 * later base would remove it as a stray): kept, never deleted. */
static void corrupt_base_case(const char *dir, tt_model *m, size_t sealed)
{
    char head[4096], base[64], path[4096], aside[4200], log[4200];
    char log_aside[4300];
    unsigned long long gen;
    tss_store *s;
    size_t before;

    tt_join(head, sizeof(head), dir, "head");
    tt_list(head, "base-", base, sizeof(base));
    assert_null(strchr(base, ','));
    assert_int_equal(sscanf(base, "base-%llu.snap", &gen), 1);
    snprintf(log, sizeof(log), "%s/log-%llu", head, gen);
    snprintf(log_aside, sizeof(log_aside), "%s.corrupt", log);
    assert_true(tt_exists(log)); /* the records since the base */
    tt_join(path, sizeof(path), head, base);
    tt_flip(path, tt_file_size(path) / 2, 0x10);
    snprintf(aside, sizeof(aside), "%s.corrupt", path);

    /* a reader first (no writer has moved it aside): the head is loaded
     * once, not again for a newer base that is the corrupt one, and what
     * it skipped counts as an unreadable file, named once */
    {
        tt_log rlog = {0};
        tt_series *got;
        uint64_t errors;
        tss_coverage *c;
        tss_coverage_series cs;
        tss_filter f = {0};
        size_t n, lines = 0;

        s = open_store(dir, 0, &rlog, NULL);
        n = tt_query(s, NULL, &got, &errors);
        tt_series_free(got, n);
        assert_int_equal(errors, 1);
        assert_int_equal(tss_coverage_open(&c, s, &f), 0);
        while (tss_coverage_next(c, &cs) == 1)
            ;
        assert_int_equal(tss_coverage_errors(c), 1);
        tss_coverage_close(c);
        tss_store_close(s);
        for (size_t i = 0; i < rlog.n; i++)
            if (strstr(rlog.msg[i], "checksum mismatch"))
                lines++;
        assert_int_equal(lines, 2); /* one per load: query, coverage */
    }
    s = open_expect_base_aside(dir, base, path, "checksum mismatch");
    assert_true(tt_exists(log_aside));
    assert_false(tt_exists(log));
    check(s, m, sealed, "after the corrupt base");
    /* the points only the lost snapshot held are gone: forget them */
    m->n = sealed;
    before = m->n;
    for (int i = 0; i < 10; i++)
        add(s, m, 6, W(5, i * 1000), (uint64_t)(i + 1));
    snap(s, TSS_SNAP_SYNC);
    tss_store_close(s);
    s = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(s, m, m->n, "new snapshots after the corrupt base");
    tss_store_close(s);
    assert_true(m->n > before);
    assert_true(tt_exists(aside));
    assert_true(tt_exists(log_aside));
}

static void test_corrupt_base(void **state)
{
    char dir[4096];
    tt_model m = {0};
    tss_store *s;

    /* the first generation, nothing sealed */
    tt_join(dir, sizeof(dir), *state, "first");
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int i = 0; i < 20; i++)
        add(s, &m, 0, W(0, i * 1000), dbits(i));
    snap(s, TSS_SNAP_SYNC);
    tss_store_close(s);
    corrupt_base_case(dir, &m, 0);
    tt_model_free(&m);

    /* after seals: the segments' points stay */
    tt_join(dir, sizeof(dir), *state, "sealed");
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int i = 0; i < 20; i++)
        add(s, &m, 1, W(0, i * 1000), (uint64_t)i);
    assert_int_equal(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL),
                     0);
    for (int i = 0; i < 20; i++)
        add(s, &m, 0, W(1, i * 1000), dbits(i));
    snap(s, TSS_SNAP_SYNC);
    tss_store_close(s);
    corrupt_base_case(dir, &m, 20);
    tt_model_free(&m);
}

/*
 * A base whose checksum matches but whose gauge encoder claims an XOR
 * window of no bits (lead + trail > 63): corrupt, moved aside, never
 * handed to the encoder (whose shifts by 64 - lead - trail it would make
 * undefined; found by review, 2026-12-07).
 */
static void test_base_bad_xor_window(void **state)
{
    char dir[4096], head[4096], base[64], path[4096];
    uint8_t *buf;
    tss_buf pat = {0};
    size_t len, at = SIZE_MAX, hits = 0;
    double vals[] = {1.0, 1.5, 3.25};
    uint64_t last;
    tt_model m = {0};
    tss_store *s;
    FILE *f;

    tt_join(dir, sizeof(dir), *state, "xorwin");
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int i = 0; i < 3; i++)
        add(s, &m, 0, W(0, i * 1000), dbits(vals[i]));
    snap(s, TSS_SNAP_SYNC);
    tss_store_close(s);
    /* recovery writes the log's items into a new base */
    s = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    tss_store_close(s);

    /* the encoder's last value (base version 2: its difference from the
     * first, a zig-zag varint), then its last value delta (0 for a gauge),
     * then lead and trail */
    tt_join(head, sizeof(head), dir, "head");
    tt_list(head, "base-", base, sizeof(base));
    tt_join(path, sizeof(path), head, base);
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    last = dbits(3.25) - dbits(1.0);
    tss_buf_put_varint(&pat, tss_zigzag((int64_t)last));
    tss_buf_put_varint(&pat, 0);
    assert_false(pat.oom);
    for (size_t i = 0; i + pat.len + 2 <= len - 8; i++)
        if (memcmp(buf + i, pat.data, pat.len) == 0) {
            at = i + pat.len;
            hits++;
        }
    tss_buf_free(&pat);
    assert_int_equal(hits, 1);
    assert_true(buf[at + 1] != 0xff); /* the series has a window */
    buf[at] = 31;
    buf[at + 1] = 40;
    tss_put_u64(buf + len - 8, tss_checksum(buf, len - 8));
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(buf);

    s = open_expect_base_aside(dir, base, path, "is malformed");
    check(s, &m, 0, "after the base with a bad XOR window");
    tss_store_close(s);
    tt_model_free(&m);
}

/* ---- temp files ---------------------------------------------------------- */

static void test_stale_temps_in_head(void **state)
{
    char dir[4096], head[4096], t1[4096], t2[4096];
    tt_log log = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_close(
        open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL));
    tt_join(head, sizeof(head), dir, "head");
    tt_join(t1, sizeof(t1), head, ".tmp-base-7.snap-123-4");
    tt_join(t2, sizeof(t2), head, ".tmp-base-8.snap-123-5");
    tt_spit(t1, "\x89TSHBS", 6);
    tt_spit(t2, "", 0);
    tss_store_close(open_store(dir, 0, NULL, NULL)); /* readers leave them */
    assert_true(tt_exists(t1) && tt_exists(t2));
    tss_store_close(open_store(dir, TSS_OPEN_WRITER, &log, NULL));
    assert_int_equal(tt_count_prefix(head, ".tmp-"), 0);
    /* said, as for the other directories */
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, "removed 2 temp file(s)") >=
                0);
}

/* ---- partial loads: one series' groups of the log ------------------------ */

/* tss_snap_sel's test: the series of host ctx. */
static bool host_wanted(const void *ctx, const uint8_t *key, size_t len)
{
    tss_key_view kv;

    return tss_key_decode(key, len, &kv) == 0 &&
           strcmp(kv.id.host, (const char *)ctx) == 0;
}

/* Live items of `host` in a whole view. */
static size_t live_wanted(const tss_snap_view *v, const char *host)
{
    size_t n = 0;

    for (size_t i = 0; i < v->n; i++)
        n += !v->items[i].dropped &&
             host_wanted(host, v->items[i].key, v->items[i].key_len);
    return n;
}

static void many_add(tss_store *s, const char *host, int64_t t, double v)
{
    tss_series_id id = {host, "many", "", "gauge", "", "value"};
    tss_value val;

    val.gauge = v;
    assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, t, val), 0);
}

/* The points of item `it`, decoded; *n of them. */
static tss_point *item_points(const tss_snap_item *it, size_t *n)
{
    tss_point *pts = NULL;
    size_t cap = 0;

    *n = 0;
    assert_int_equal(
        tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, n, &cap), 0);
    return pts;
}

/*
 * A load of one host's series decodes only the groups of ids that hold its
 * items, and has them exactly as a whole load does: series created in the
 * base, in later records (new groups), and one rebuilt by an out-of-order
 * fold (dropped, resent under a new id).
 */
static void test_partial_load(void **state)
{
    static const char *const wanted[] = {"p010", "p150", "q100", "p399"};
    char dir[4096], host[16];
    tss_store *w, *r;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int h = 0; h < 400; h++) {
        snprintf(host, sizeof(host), "p%03d", h);
        for (int i = 0; i < 3; i++)
            many_add(w, host, W(0, i * 10000 + h), h + i * 0.5);
    }
    snap(w, 0);
    for (int h = 0; h < 400; h++) {
        snprintf(host, sizeof(host), "p%03d", h);
        for (int i = 3; i < 5; i++)
            many_add(w, host, W(0, i * 10000 + h), h - i * 0.25);
    }
    many_add(w, "p010", W(0, 15000), -1.0); /* out of order */
    snap(w, TSS_SNAP_SYNC);
    for (int h = 0; h < 200; h++) {
        snprintf(host, sizeof(host), "q%03d", h);
        many_add(w, host, W(0, 1000 + h), h * 2.0);
        many_add(w, host, W(0, 2000 + h), h * 3.0);
        if (h % 3 == 0) {
            snprintf(host, sizeof(host), "p%03d", h);
            many_add(w, host, W(0, 60000 + h), 7.0);
        }
    }
    snap(w, 0);
    /* beyond the fold threshold: p150's item is rebuilt under a new id */
    for (int i = 0; i < 140; i++)
        many_add(w, "p150", W(0, 9000 - i * 60), i + 0.125);
    many_add(w, "q100", W(0, 90000), 1.0);
    snap(w, TSS_SNAP_SYNC);

    r = open_store(dir, 0, NULL, NULL);
    for (size_t k = 0; k < sizeof(wanted) / sizeof(wanted[0]); k++) {
        tss_snap_sel sel = {host_wanted, wanted[k]};
        tss_snap_view all, part;
        size_t left_out, seen = 0;

        assert_int_equal(
            tss_snapshot_load(r->st, &r->info, NULL, NULL, false, &all), 0);
        assert_int_equal(
            tss_snapshot_load_sel(r->st, &r->info, NULL, NULL, &sel, &part), 0);
        assert_int_equal(all.n, all.last_id);
        assert_int_equal(part.last_id, all.last_id);
        assert_non_null(part.groups);
        /* what the partial view holds, it holds as the whole one does */
        for (size_t i = 0; i < part.n; i++) {
            const tss_snap_item *p = &part.items[i], *a;
            tss_point *pa, *pp;
            size_t na, np;

            assert_true(p->id >= 1 && p->id <= all.n);
            assert_true(i == 0 || p->id > part.items[i - 1].id);
            a = &all.items[p->id - 1];
            assert_int_equal(p->dropped, a->dropped);
            assert_int_equal(p->key_len, a->key_len);
            assert_memory_equal(p->key, a->key, a->key_len);
            if (a->dropped)
                continue;
            seen += host_wanted(wanted[k], a->key, a->key_len);
            pa = item_points(a, &na);
            pp = item_points(p, &np);
            tt_assert_points(wanted[k], pp, np, pa, na);
            tss_free(pa);
            tss_free(pp);
        }
        left_out = all.n - part.n;
        /* every live item of the host is there, and most others are not */
        assert_int_equal(seen, 1);
        assert_int_equal(live_wanted(&all, wanted[k]), 1);
        assert_true(left_out > all.n / 2);
        tss_snap_view_free(&all);
        tss_snap_view_free(&part);
    }
    tss_store_close(r);
    tss_store_close(w);
}

/* The item of id `id` in view v (items in id order), or NULL. */
static const tss_snap_item *find_id(const tss_snap_view *v, uint32_t id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].id == id)
            return &v->items[i];
    return NULL;
}

/* Fails unless view `got` has host's live items with the points `all` has. */
static void same_host_items(const tss_snap_view *got, const tss_snap_view *all,
                            const char *host)
{
    size_t seen = 0;

    assert_int_equal(got->last_id, all->last_id);
    for (size_t i = 0; i < all->n; i++) {
        const tss_snap_item *a = &all->items[i], *g;
        tss_point *pa, *pg;
        size_t na, ng;

        if (a->dropped || !host_wanted(host, a->key, a->key_len))
            continue;
        g = find_id(got, a->id);
        assert_non_null(g);
        assert_false(g->dropped);
        pa = item_points(a, &na);
        pg = item_points(g, &ng);
        tt_assert_points(host, pg, ng, pa, na);
        tss_free(pa);
        tss_free(pg);
        seen++;
    }
    assert_int_equal(seen, 1);
}

/* Items of ids the view got but does not hold (a partial view's). */
static size_t count_left_out(const tss_snap_view *v)
{
    return (size_t)v->last_id - v->n;
}

/* The cache's view for [lo, hi) (NULL: unbounded) and a whole load into
 * *all, which agree on p010. */
static const tss_snap_view *load_both(tss_snap_cache **c, tss_store *r,
                                      const uint8_t *lo, size_t lo_len,
                                      const uint8_t *hi, size_t hi_len,
                                      tss_snap_view *all)
{
    const tss_snap_view *v;

    assert_int_equal(tss_snap_cache_load(c, r->st, &r->info, NULL, NULL, lo,
                                         lo_len, hi, hi_len, &v),
                     0);
    assert_int_equal(tss_snapshot_load(r->st, &r->info, NULL, NULL, false, all),
                     0);
    same_host_items(v, all, "p010");
    return v;
}

/*
 * A reader's cache: its first load is partial, of the bounds asked for;
 * records appended later are read on (their new groups loaded); other
 * bounds make it whole.
 */
static void test_partial_cache(void **state)
{
    tss_series_id id = {"p010", "many", "", "gauge", "", "value"};
    uint8_t lo[TSS_KEY_MAX + 1], hi[TSS_KEY_MAX + 1];
    size_t lo_len, hi_len, ranged;
    char dir[4096], host[16];
    const tss_snap_view *v;
    const uint32_t *idx;
    tss_snap_cache *c = NULL;
    tss_snap_view all;
    tss_store *w, *r;

    assert_int_equal(tss_key_encode(lo, &lo_len, &id, TSS_KIND_GAUGE), 0);
    memcpy(hi, lo, lo_len); /* keys are prefix-free: key + 0 ends it */
    hi[lo_len] = 0;
    hi_len = lo_len + 1;
    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int h = 0; h < 400; h++) {
        snprintf(host, sizeof(host), "p%03d", h);
        many_add(w, host, W(0, h), h);
        many_add(w, host, W(0, 10000 + h), h + 0.5);
    }
    snap(w, 0);
    r = open_store(dir, 0, NULL, NULL);
    v = load_both(&c, r, lo, lo_len, hi, hi_len, &all);
    assert_true(count_left_out(v) > all.n / 2);
    assert_int_equal(
        tss_snap_cache_range(c, lo, lo_len, hi, hi_len, &idx, &ranged), 0);
    assert_int_equal(ranged, 1);
    assert_int_equal(v->items[idx[0]].key_len, lo_len);
    tss_snap_view_free(&all);

    /* appended: points of old items, new series in new groups */
    for (int h = 0; h < 400; h++) {
        snprintf(host, sizeof(host), "%c%03d", h < 200 ? 'p' : 'r', h);
        many_add(w, host, W(0, 20000 + h), -h);
    }
    snap(w, 0);
    v = load_both(&c, r, lo, lo_len, hi, hi_len, &all);
    assert_true(count_left_out(v) > 200);
    for (size_t i = 0; i < all.n; i++) /* the groups new since: loaded */
        if (all.items[i].id >> TSS_SNAP_GROUP_SHIFT > 400 >>
            TSS_SNAP_GROUP_SHIFT)
            assert_non_null(find_id(v, all.items[i].id));
    tss_snap_view_free(&all);

    /* other bounds: a whole view from now on */
    v = load_both(&c, r, NULL, 0, NULL, 0, &all);
    assert_int_equal(count_left_out(v), 0);
    same_host_items(v, &all, "r300");
    tss_snap_view_free(&all);
    tss_snap_cache_free(c);
    tss_store_close(r);
    tss_store_close(w);
}

/* Fails unless the view's items have ids in key order (then window). */
static void assert_key_order(const tss_snap_view *v, const char *what)
{
    for (size_t i = 1; i < v->n; i++) {
        const tss_snap_item *a = &v->items[i - 1], *b = &v->items[i];
        int d = tss_key_cmp(a->key, a->key_len, b->key, b->key_len);

        if (d > 0 || (d == 0 && a->start >= b->start))
            fail_msg("%s: item %u is not after item %u in key order", what,
                     b->id, a->id);
    }
}

/*
 * The writer numbers the items a record creates, and a base's items, in
 * key order, whatever order the head's hash table holds them in: the
 * series of one host are neighbours, in one group of ids.
 */
static void test_ids_in_key_order(void **state)
{
    char dir[4096], host[16];
    tss_snap_view v;
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int h = 0; h < 300; h++) {
        snprintf(host, sizeof(host), "k%03d", (h * 7) % 300);
        many_add(w, host, W(0, h), h);
        many_add(w, host, W(1, h), h); /* a second window: a second item */
    }
    snap(w, 0);
    assert_int_equal(tss_snapshot_load(w->st, &w->info, NULL, NULL, false, &v),
                     0);
    assert_int_equal(v.n, 600);
    assert_key_order(&v, "one record");
    tss_snap_view_free(&v);
    tss_store_close(w); /* no seal: the next writer's base holds it all */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    assert_int_equal(tss_snapshot_load(w->st, &w->info, NULL, NULL, false, &v),
                     0);
    assert_int_equal(v.n, 600);
    assert_true(v.records == 0); /* a base alone */
    assert_key_order(&v, "a base");
    tss_snap_view_free(&v);
    tss_store_close(w);
}

/* ---- long work holds the seal mutex ---------------------------------------
 */

/*
 * A compaction holds the seal mutex for all its windows, so the writer's
 * tss_store_snapshot waits for its end; with snapshot_interval_ms the
 * store writes records itself between windows. Points appended before a
 * long compaction, never snapshotted by the caller, survive a crash right
 * after it (the handle closed without a snapshot or a seal).
 */
static void test_records_during_compaction(void **state)
{
    char dir[4096];
    tt_model m = {0};
    tss_apply_result ar;
    tss_snap_view v;
    tss_store *w;
    uint64_t before;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    /* two segments in each of 20 old windows: a merge rewrites them all */
    for (int round = 0; round < 2; round++) {
        for (int k = -40; k < -20; k++)
            for (int i = 0; i < 50; i++)
                add(w, &m, 1, W(k, round * 500000 + i * 1000),
                    (uint64_t)(k * 1000 + i));
        assert_int_equal(
            tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL), 0);
    }
    snap(w, TSS_SNAP_SYNC);
    assert_int_equal(tss_snapshot_load(w->st, &w->info, NULL, NULL, false, &v),
                     0);
    before = v.records;
    tss_snap_view_free(&v);
    /* what the plugin's SnapshotInterval would be: 1 ms, so that each
     * window's rewrite (files written and fsynced) outlasts it */
    w->snap_interval = 1;
    for (int i = 0; i < 30; i++) /* the head, never snapshotted by us */
        add(w, &m, 3, W(5, i * 1000), (uint64_t)i);
    assert_int_equal(
        tss_store_compact(w, tss_store_now(w), TSS_COMPACT_MERGE, &ar), 0);
    assert_int_equal(ar.compacted, 20);
    assert_int_equal(tss_snapshot_load(w->st, &w->info, NULL, NULL, false, &v),
                     0);
    assert_true(v.records > before); /* written during the compaction */
    tss_snap_view_free(&v);
    tss_store_close(w); /* a crash: no snapshot, no seal */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "after a crash that followed a compaction");
    tss_store_close(w);
    tt_model_free(&m);
}

/*
 * A gate on linkat (write_new's publishing step, which a compaction
 * takes for every window it rewrites): while `hold` is 1 the first call
 * waits; while it is 2 the first call made after a snapshot ticket was
 * served waits. `parked` says a call is waiting.
 */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold, parked, done;
    tss_store *w;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL};

static int gated_linkat(int od, const char *op, int nd, const char *np, int fl)
{
    pthread_mutex_lock(&gate.mu);
    while (gate.w) { /* NULL: the store is not open yet, or closing */
        uint64_t served;

        pthread_mutex_lock(&gate.w->ask_mu);
        served = gate.w->snap_served;
        pthread_mutex_unlock(&gate.w->ask_mu);
        if (!(gate.hold == 1 || (gate.hold == 2 && served > 0)))
            break;
        gate.parked = 1;
        pthread_cond_broadcast(&gate.cv);
        pthread_cond_wait(&gate.cv, &gate.mu);
    }
    gate.parked = 0;
    pthread_mutex_unlock(&gate.mu);
    return tss_io_default()->linkat(od, op, nd, np, fl);
}

static void gate_set(int hold)
{
    pthread_mutex_lock(&gate.mu);
    gate.hold = hold;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* Waits (a condition, no sleep) until a linkat is parked at the gate or
 * the compaction is over; returns 1 if parked. */
static int gate_wait_parked(void)
{
    int parked;

    pthread_mutex_lock(&gate.mu);
    while (!gate.parked && !gate.done)
        pthread_cond_wait(&gate.cv, &gate.mu);
    parked = gate.parked;
    pthread_mutex_unlock(&gate.mu);
    return parked;
}

static void *compact_main(void *arg)
{
    tss_store *w = arg;
    tss_apply_result ar;
    intptr_t rc =
        tss_store_compact(w, tss_store_now(w), TSS_COMPACT_MERGE, &ar);

    pthread_mutex_lock(&gate.mu);
    gate.done = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    return (void *)(rc ? -1 : (intptr_t)ar.compacted);
}

static void *flush_main(void *arg)
{
    tss_store *w = arg;

    return (void *)(intptr_t)tss_store_snapshot(w, tss_store_now(w),
                                                TSS_SNAP_SYNC);
}

/*
 * A flush (a synced snapshot) asked while a compaction holds the seal
 * mutex is served between two of its windows, not after its end: the
 * compaction is stopped inside its second window when the flush returns,
 * and a reader sees the points appended before the flush.
 */
static void test_flush_during_compaction(void **state)
{
    char dir[4096];
    tss_io_ops io = *tss_io_default();
    tt_model m = {0};
    pthread_t compactor, flusher;
    struct timespec until;
    void *res;
    tss_store *w, *r;
    bool parked;

    tt_join(dir, sizeof(dir), *state, "store");
    io.linkat = gated_linkat;
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, &io);
    pthread_mutex_lock(&gate.mu);
    gate.w = w;
    pthread_mutex_unlock(&gate.mu);
    for (int round = 0; round < 2; round++) { /* two segments a window */
        for (int k = -10; k < -5; k++)
            for (int i = 0; i < 20; i++)
                add(w, &m, 1, W(k, round * 500000 + i * 1000),
                    (uint64_t)(k * 1000 + i));
        assert_int_equal(
            tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL), 0);
    }
    w->snap_interval = 0;        /* no records of its own: only the one asked */
    for (int i = 0; i < 30; i++) /* the head, not snapshotted yet */
        add(w, &m, 3, W(5, i * 1000), (uint64_t)i);

    gate.done = 0;
    gate_set(1);
    assert_int_equal(pthread_create(&compactor, NULL, compact_main, w), 0);
    assert_true(gate_wait_parked()); /* in the first window, mutex held */
    assert_int_equal(pthread_create(&flusher, NULL, flush_main, w), 0);
    /* until the flush has its ticket (it cannot have more); 60 s bound a
     * failure, they are not a synchronisation */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    for (;;) {
        struct timespec now;

        pthread_mutex_lock(&w->ask_mu);
        parked = w->snap_asked == 1;
        pthread_mutex_unlock(&w->ask_mu);
        clock_gettime(CLOCK_REALTIME, &now);
        if (parked || now.tv_sec > until.tv_sec)
            break;
        sched_yield();
    }
    if (!parked) {
        gate_set(0);
        pthread_join(flusher, &res);
        pthread_join(compactor, NULL);
        fail_msg("the flush took no ticket: it waited for the mutex");
    }
    gate_set(2); /* on to the end of the window, then stop again */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    if (pthread_timedjoin_np(flusher, &res, &until) != 0) {
        gate_set(0);
        pthread_join(flusher, &res);
        pthread_join(compactor, NULL);
        fail_msg("the flush waited for the whole compaction");
    }
    assert_int_equal((intptr_t)res, 0);
    /* the compaction goes on to its next window and stops there: it was
     * not over when the flush returned */
    assert_true(gate_wait_parked());
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, m.n, "a reader, the flush served mid-compaction");
    tss_store_close(r);
    gate_set(0);
    assert_int_equal(pthread_join(compactor, &res), 0);
    assert_int_equal((intptr_t)res, 5);
    pthread_mutex_lock(&gate.mu);
    gate.w = NULL;
    pthread_mutex_unlock(&gate.mu);
    tss_store_close(w); /* a crash */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "after a crash that followed the compaction");
    tss_store_close(w);
    tt_model_free(&m);
}

/* 200 points of series 0 in the current window (not due for sealing),
 * snapshotted and synced: a head that a seal leaves alone. */
static void fill_current(tss_store *w, tt_model *m)
{
    int64_t start = tss_store_now(w) / SPAN * SPAN;

    for (int i = 0; i < 200; i++)
        add(w, m, 0, start + i, dbits(i * 0.5));
    snap(w, TSS_SNAP_SYNC);
}

/*
 * A late batch (a point of a window sealed long ago) is sealed into a
 * segment of its own; that does not rewrite the whole head as a new base
 * (a host whose clock lags sends one every Grace): the log goes on, its
 * intent record drops the item at recovery, and a crash restores the head
 * with the late point stored once.
 */
static void test_late_batch_keeps_the_log(void **state)
{
    char dir[4096], head[4096], before[256], after[256];
    tt_model m = {0};
    tss_seal_result res;
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(head, sizeof(head), dir, "head");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    w->grace = 0; /* the late batch is due at once */
    fill_current(w, &m);
    tt_list(head, "", before, sizeof(before));
    add(w, &m, 1, W(-3, 1000), 7); /* late: its window ended in 2023 */
    assert_int_equal(tss_store_seal(w, tss_store_now(w), 0, &res), 0);
    assert_int_equal(res.segments_written, 1);
    assert_int_equal(res.points_written, 1);
    tt_list(head, "", after, sizeof(after));
    assert_string_equal(after, before); /* the same base and log */
    tss_store_close(w);                 /* a crash */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "after a late batch's seal and a crash");
    assert_int_equal(segment_points(dir), 1);
    tss_store_close(w);
    tt_model_free(&m);
}

/*
 * A base removed by hand leaves its log: the records cannot be replayed
 * without it, and they may hold the only copy of points. The writer's
 * next base does not remove it as a stray: it moves it aside (.corrupt)
 * with an ERROR naming it.
 */
static void test_base_removed_log_kept(void **state)
{
    char dir[4096], head[4096], path[4096], aside[4200];
    tt_model m = {0};
    tt_log log = {0};
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(head, sizeof(head), dir, "head");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    for (int i = 0; i < 20; i++)
        add(w, &m, 0, W(0, i * 1000), dbits(i));
    snap(w, TSS_SNAP_SYNC);
    tss_store_close(w);
    tt_join(path, sizeof(path), head, "base-1.snap");
    assert_int_equal(unlink(path), 0);
    tt_join(path, sizeof(path), head, "log-1");
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    assert_true(tt_exists(path));
    w = open_store(dir, TSS_OPEN_WRITER, &log, NULL); /* writes a base */
    assert_false(tt_exists(path));
    assert_true(tt_exists(aside)); /* kept, never removed */
    if (tt_log_find(&log, TSS_LEVEL_ERR, "head/log-1") < 0)
        fail_msg("no ERROR naming head/log-1");
    tss_store_close(w);
    tt_model_free(&m);
}

/* Appends without the model: a point the test expects to go. */
static void add_gone(tss_store *s, unsigned ser, int64_t t, uint64_t bits)
{
    tss_series_id id = {SER[ser].host, "snap", "", "type", "", SER[ser].ds};
    tss_value v;

    v.bits = bits;
    assert_int_equal(tss_store_append(s, &id, SER[ser].kind, t, v), 0);
}

/* A late point of a 2023 window (past a year's retention), recorded in
 * the log, then sealed at once into a segment of its own: a late batch
 * whose seal owes a base. */
static void seal_late_gone(tss_store *w)
{
    tss_seal_result res;

    w->grace = 0;
    add_gone(w, 1, W(-3, 1000), 7);
    snap(w, 0);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), 0, &res), 0);
    assert_int_equal(res.segments_written, 1);
}

/*
 * A late batch's seal writes no base, so its intent record stays in the
 * log; a compaction that then merges its segment away writes the base
 * first, so no intent names a segment that is gone. (Without it, recovery
 * restored the sealed items again, beside a newer item of the same
 * window: "window restored twice", and the writer could not start.)
 */
static void test_late_then_compact(void **state)
{
    char dir[4096];
    tt_model m = {0};
    tss_seal_result res;
    tss_apply_result ar;
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    w->grace = 0;
    fill_current(w, &m);
    for (int k = 0; k < 2; k++) { /* two late batches: two segments */
        add(w, &m, 1, W(-3, 1000 * (k + 1)), (uint64_t)(7 + k));
        snap(w, 0);
        assert_int_equal(tss_store_seal(w, tss_store_now(w), 0, &res), 0);
        assert_int_equal(res.segments_written, 1);
    }
    add(w, &m, 1, W(-3, 3000), 9); /* a new item of the same window */
    snap(w, 0);
    assert_int_equal(
        tss_store_compact(w, tss_store_now(w), TSS_COMPACT_MERGE, &ar), 0);
    assert_int_equal(ar.compacted, 1);
    tss_store_close(w); /* a crash */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    {
        tss_writer_stats ws;

        /* the current window's 200 and the newer item's 1: what was
         * sealed is not restored */
        tss_store_writer_stats(w, &ws);
        assert_int_equal(ws.head_points, 201);
    }
    check(w, &m, m.n, "late batches, a merge, a crash");
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    check(w, &m, m.n, "and sealed: each point once");
    tss_store_close(w);
    tt_model_free(&m);
}

/* The same with retention: the late batch's segment is pruned, another
 * point of that window comes, and a clean shutdown: the writer starts,
 * and the pruned point does not come back. */
static void test_late_then_prune(void **state)
{
    char dir[4096];
    tt_model m = {0};
    tss_seal_result res;
    tss_prune_result pr;
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    w->retention = INT64_C(365) * 86400 * 1000; /* a year, ms */
    fill_current(w, &m);
    seal_late_gone(w);
    assert_int_equal(tss_store_prune(w, tss_store_now(w), &pr), 0);
    assert_int_equal(pr.segments_removed, 1);
    w->grace = 300000;
    add(w, &m, 1, W(-3, 2000), 8); /* the same window, held by grace */
    snap(w, 0);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), 0, &res), 0);
    snap(w, TSS_SNAP_SYNC);
    tss_store_close(w); /* as write_tsstore shuts down */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "a late batch pruned, then a restart");
    tss_store_close(w);
    tt_model_free(&m);
}

/*
 * The base at the writer's open fails (one EIO): the generation on disk
 * still holds the late batch's intent record, so a prune that removes
 * its segment writes the base first (a base is owed), and a crash after
 * it does not bring the pruned point back.
 */
static void test_open_base_fails_then_prune(void **state)
{
    static tt_fault f;
    char dir[4096];
    tt_model m = {0};
    tss_prune_result pr;
    tss_writer_stats ws;
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL,
                   tt_fault_ops(&f));
    fill_current(w, &m);
    seal_late_gone(w);
    tss_store_close(w);                                /* a crash */
    tt_fault_arm_match(&f, "linkat", "base-", 1, EIO); /* the open's base */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, tt_fault_ops(&f));
    assert_string_equal(f.failed_op, "linkat");
    w->retention = INT64_C(365) * 86400 * 1000;
    assert_int_equal(tss_store_prune(w, tss_store_now(w), &pr), 0);
    assert_int_equal(pr.segments_removed, 1);
    tss_store_close(w); /* a crash */
    tt_fault_ops(NULL);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    tss_store_writer_stats(w, &ws);
    assert_int_equal(ws.head_points, 200);
    check(w, &m, m.n, "pruned late point after a failed open base");
    tss_store_close(w);
    tt_model_free(&m);
}

/* A full disk: the owed base cannot be written, and the prune that
 * frees space goes on all the same (a WARNING says what it risks). */
static void test_prune_when_base_fails(void **state)
{
    static tt_fault f;
    char dir[4096];
    tt_model m = {0};
    tss_prune_result pr;
    tt_log log = {0};
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    w = tt_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, SPAN / 1000, &log,
                tt_fault_ops(&f));
    w->retention = INT64_C(365) * 86400 * 1000;
    fill_current(w, &m);
    seal_late_gone(w);
    tt_fault_arm_match(&f, "linkat", "base-", 1, ENOSPC);
    assert_int_equal(tss_store_prune(w, tss_store_now(w), &pr), 0);
    assert_int_equal(pr.segments_removed, 1);
    assert_true(tt_log_find(&log, TSS_LEVEL_WARNING, "pruning all the same") >=
                0);
    tss_store_close(w);
    tt_fault_ops(NULL);
    tt_model_free(&m);
}

/*
 * Two items for one window at recovery (here: an intent whose segment
 * was removed by hand, beside a newer item of that window): the second
 * is merged into the first with a WARNING, the newer value winning at a
 * shared timestamp, and the writer starts.
 */
static void test_restore_merges_twin_items(void **state)
{
    char dir[4096], segdir[4096], names[1024], path[8192];
    tt_model m = {0};
    tss_seal_result res;
    tss_writer_stats ws;
    tt_log log = {0};
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(segdir, sizeof(segdir), dir, "segments");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    w->grace = 0;
    fill_current(w, &m);
    add(w, &m, 1, W(-3, 1000), 7);
    add(w, &m, 1, W(-3, 3000), 70);
    add(w, &m, 1, W(-3, 2000), 71); /* out of order */
    snap(w, 0);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), 0, &res), 0);
    assert_int_equal(res.segments_written, 1);
    w->grace = INT64_C(3600000) * 24 * 365 * 10; /* held from now on */
    add(w, &m, 1, W(-3, 1000), 9); /* the same timestamp: this wins */
    add(w, &m, 1, W(-3, 4000), 10);
    add(w, &m, 1, W(-3, 500), 11); /* out of order */
    snap(w, TSS_SNAP_SYNC);
    tss_store_close(w); /* a crash */
    tt_list(segdir, "", names, sizeof(names));
    assert_null(strchr(names, ','));
    snprintf(path, sizeof(path), "%s/%s", segdir, names);
    assert_int_equal(unlink(path), 0);
    w = open_store(dir, TSS_OPEN_WRITER, &log, NULL);
    if (tt_log_find(&log, TSS_LEVEL_WARNING, "two items") < 0)
        fail_msg("no WARNING about the two items");
    /* restored, not received: the counters since open stay at 0 */
    tss_store_writer_stats(w, &ws);
    assert_int_equal(ws.points_appended, 0);
    assert_int_equal(ws.points_late, 0);
    check(w, &m, m.n, "merged");
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    check(w, &m, m.n, "merged, sealed");
    tss_store_close(w);
    tt_model_free(&m);
}

/* ---- the staged log tail (snapshot_stage.c) -------------------------------
 */

/* A writer that stages its records in `root` (a tmpfs directory), with
 * `sync_s` seconds between syncs (-1: the default). */
static tss_store *open_staged_sync(const char *dir, const char *root,
                                   tt_log *log, int64_t sync_s)
{
    tss_store_options o;
    tss_store *s = NULL;
    int rc;

    tss_store_options_init(&o);
    o.span_seconds = SPAN / 1000;
    o.bucket_seconds = 10;
    o.snapshot_stage_dir = root;
    if (sync_s >= 0)
        o.snapshot_sync_seconds = sync_s;
    if (log) {
        o.log = tt_log_fn;
        o.log_ctx = log;
    }
    rc = tss_store_open(&s, dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    if (rc != 0)
        fail_msg("open %s: %d %s", dir, rc, tss_error_last());
    return s;
}

static tss_store *open_staged(const char *dir, const char *root, tt_log *log)
{
    return open_staged_sync(dir, root, log, -1);
}

/* The one file of `dir` whose name starts with `prefix` (and has no '.'). */
static void only_file(const char *dir, const char *prefix, char *out,
                      size_t size)
{
    char names[4096], *p, *one = NULL;

    tt_list(dir, prefix, names, sizeof(names));
    for (p = strtok(names, ","); p; p = strtok(NULL, ","))
        if (!strchr(p, '.')) {
            if (one)
                fail_msg("%s: two files %s*", dir, prefix);
            one = p;
        }
    if (!one)
        fail_msg("%s: no file %s*", dir, prefix);
    tt_join(out, size, dir, one);
}

/* The rounds a staged writer runs before it is killed, also run on a
 * throwaway store to build the model. */
static void staged_rounds(tss_store *s, tt_model *m)
{
    round1(s, m);
    snap(s, 0);
    round2(s, m);
    snap(s, 0);
}

/*
 * Records staged in tmpfs: the disk log gets none of them until the sync
 * (so a page is not dirtied per record); readers see them; a writer
 * killed (a child process that _exit()s with the store open) leaves them
 * there, and the next writer's start moves them to the disk log, also
 * when the disk got part of them (a flush cut short); a copy of the store
 * neither reads nor takes them; a sync moves them to disk and a clean
 * close removes the stage directory.
 */
static void test_staged_log(void **state)
{
    char root[] = "/dev/shm/tss-test-XXXXXX";
    char dir[4096], copy[4096], sdir[4096], scratch[4096];
    char log_path[4096], stage_path[4096], line[4200], path[4200];
    tss_store_info info;
    tt_model m = {0};
    tss_store *w, *r;
    uint8_t *buf;
    size_t len, upto;
    struct statfs fs;
    struct stat sb;
    pid_t pid;
    int status;

    if (statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC ||
        !mkdtemp(root))
        skip();
    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(scratch, sizeof(scratch), *state, "model");
    w = open_store(scratch, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    staged_rounds(w, &m);
    tss_store_close(w);
    upto = m.n;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* killed with the store open: nothing flushed */
        tt_model m2 = {0};

        staged_rounds(open_staged(dir, root, NULL), &m2);
        _exit(m2.n == upto ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* head/stage names the directory; the records wait there */
    r = open_store(dir, 0, NULL, NULL);
    tss_store_info_get(r, &info);
    assert_int_equal(stat(dir, &sb), 0);
    snprintf(sdir, sizeof(sdir), "%s/tsstore-%s-%" PRIx64 "-%" PRIx64, root,
             info.uuid, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino);
    tt_join(path, sizeof(path), dir, "head/stage");
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    snprintf(line, sizeof(line), "%s\n", sdir);
    assert_int_equal(len, strlen(line));
    assert_memory_equal(buf, line, len);
    free(buf);
    tt_join(path, sizeof(path), dir, "head");
    only_file(path, "log-", log_path, sizeof(log_path));
    only_file(sdir, "log-", stage_path, sizeof(stage_path));
    assert_int_equal(tt_file_size(log_path), 0);
    assert_true(tt_file_size(stage_path) > 40 + 100);
    /* a reader sees them */
    check(r, &m, upto, "staged, a reader");
    tss_store_close(r);

    /* a copy of the store is not the store: it sees only its disk log
     * (none of the records), and its writer leaves the stage alone */
    tt_join(copy, sizeof(copy), *state, "copy");
    tt_copy_tree(dir, copy);
    r = open_store(copy, 0, NULL, NULL);
    check(r, &m, 0, "a copy, a reader");
    tss_store_close(r);
    r = open_store(copy, TSS_OPEN_WRITER, NULL, NULL);
    check(r, &m, 0, "a copy, its writer");
    tss_store_close(r);
    assert_true(tt_exists(stage_path));

    /* the flush cut short: 100 of the staged bytes on disk */
    assert_int_equal(tt_slurp(stage_path, &buf, &len), 0);
    tt_spit(log_path, buf + 40, 100);
    free(buf);
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, upto, "staged, part on disk, a reader");
    tss_store_close(r);

    /* the next writer moves the rest to the disk log, then recovers */
    {
        tt_log log = {0};

        w = open_staged(dir, root, &log);
        if (tt_log_find(&log, TSS_LEVEL_INFO, "staged in") < 0)
            fail_msg("no INFO about the staged records moved");
    }
    assert_false(tt_exists(stage_path));
    check(w, &m, upto, "staged, recovered by the next writer");
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, upto, "recovered, a reader");
    tss_store_close(r);

    /* a sync moves the records to the disk log */
    round3(w, &m, 0, 20);
    snap(w, 0);
    assert_int_equal(tt_count_prefix(sdir, "log-"), 1);
    round3(w, &m, 20, 25);
    snap(w, TSS_SNAP_SYNC);
    assert_false(tt_exists(sdir)); /* nothing waits: no file, no directory */
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, m.n, "synced, a reader");
    tss_store_close(r);
    /* a clean close leaves nothing staged */
    round3(w, &m, 25, 30);
    snap(w, 0);
    tss_store_close(w);
    assert_false(tt_exists(sdir));
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "after a clean close");
    tss_store_close(w);
    tt_join(path, sizeof(path), dir, "head/stage");
    assert_false(tt_exists(path)); /* that writer had no stage */
    assert_int_equal(tt_count_prefix(root, "tsstore-"), 0);
    tt_rmrf(root);
    tt_model_free(&m);
}

/* A round of 150 noisy gauge points (about 9 bytes each in a record) for
 * series 0, in window 5, round k; s NULL: only into the model. */
static void noisy_round(tss_store *s, tt_model *m, int k)
{
    for (int i = 0; i < 150; i++) {
        uint64_t x = (uint64_t)(k * 150 + i + 1) * UINT64_C(0x9E3779B97F4A7C15);
        int64_t t = W(5, k * 150000 + i * 1000);

        if (s)
            add(s, m, 0, t, dbits((double)(x >> 11)));
        else
            tt_model_add(m, 0, t, dbits((double)(x >> 11)));
    }
}

/* Bytes of the stage file in `sdir` past its header; 0 if none. */
static size_t staged_bytes(const char *sdir)
{
    char names[4096], path[4200];
    size_t len;

    if (!tt_exists(sdir))
        return 0;
    tt_list(sdir, "log-", names, sizeof(names));
    if (!names[0] || strchr(names, ','))
        return 0;
    tt_join(path, sizeof(path), sdir, names);
    len = (size_t)tt_file_size(path);
    return len > 40 ? len - 40 : 0;
}

/*
 * A sync (every snapshot here: SnapshotSync 0) writes the staged records
 * to the disk log only up to its last page boundary, so that no page of
 * it is written twice; the rest stays staged, readers see it, a killed
 * writer's successor folds it, and the next sync writes it whatever it
 * has: with no new record, it writes the unfilled page as it is.
 */
static void test_staged_whole_pages(void **state)
{
    char root[] = "/dev/shm/tss-test-XXXXXX";
    char dir[4096], sdir[4096], path[4200], log_path[4200];
    tss_store_info info;
    tt_model m = {0};
    tss_store *w, *r;
    struct statfs fs;
    struct stat sb;
    size_t held = 0;
    uint64_t size = 0;
    pid_t pid;
    int status, k;

    if (statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC ||
        !mkdtemp(root))
        skip();
    tt_join(dir, sizeof(dir), *state, "store");
    w = open_staged_sync(dir, root, NULL, 0);
    tss_store_info_get(w, &info);
    assert_int_equal(stat(dir, &sb), 0);
    snprintf(sdir, sizeof(sdir), "%s/tsstore-%s-%" PRIx64 "-%" PRIx64, root,
             info.uuid, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino);
    tt_join(path, sizeof(path), dir, "head");
    for (k = 0; k < 8; k++) {
        noisy_round(w, &m, k);
        snap(w, 0);
        only_file(path, "log-", log_path, sizeof(log_path));
        /* a write up to a page boundary, or of everything (held bytes are
         * written by the next sync), or none (less than a page waits) */
        if (staged_bytes(sdir)) {
            if (tt_file_size(log_path) != size)
                assert_int_equal(tt_file_size(log_path) % 4096, 0);
            held++;
        }
        size = tt_file_size(log_path);
        r = open_store(dir, 0, NULL, NULL);
        check(r, &m, m.n, "whole pages, a reader");
        tss_store_close(r);
    }
    if (held < 4)
        fail_msg("only %zu of 8 syncs held bytes back", held);
    /* nothing new: the held bytes go as they are */
    assert_true(staged_bytes(sdir) > 0);
    size = tt_file_size(log_path);
    snap(w, 0);
    assert_false(tt_exists(sdir));
    assert_true(tt_file_size(log_path) > size);
    assert_true(tt_file_size(log_path) % 4096 != 0);
    tss_store_close(w);

    /* killed with bytes held back: a reader sees them, the next writer
     * folds them */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tt_model m2 = {0};

        w = open_staged_sync(dir, root, NULL, 0);
        for (k = 8; k < 11; k++) {
            noisy_round(w, &m2, k);
            snap(w, 0);
        }
        _exit(staged_bytes(sdir) > 0 ? 0 : 3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (k = 8; k < 11; k++)
        noisy_round(NULL, &m, k);
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, m.n, "killed with bytes held back, a reader");
    tss_store_close(r);
    w = open_staged_sync(dir, root, NULL, 0);
    assert_int_equal(staged_bytes(sdir), 0);
    check(w, &m, m.n, "killed with bytes held back, the next writer");
    tss_store_close(w);
    r = open_store(dir, 0, NULL, NULL);
    check(r, &m, m.n, "folded, a reader");
    tss_store_close(r);
    tt_model_free(&m);
    tt_rmrf(root);
}

/* A stage directory on a disk file system is not used: a WARNING, and
 * the records go to the log as without one. */
static void test_stage_not_tmpfs(void **state)
{
    char dir[4096], root[4096], path[4096];
    tt_model m = {0};
    tt_log log = {0};
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(root, sizeof(root), *state, "stage");
    assert_int_equal(mkdir(root, 0700), 0);
    w = open_staged(dir, root, &log);
    if (tt_log_find(&log, TSS_LEVEL_WARNING, "not a memory file system") < 0)
        fail_msg("no WARNING about the stage directory");
    round1(w, &m);
    snap(w, 0);
    tt_join(path, sizeof(path), dir, "head/stage");
    assert_false(tt_exists(path));
    assert_int_equal(tt_count_prefix(root, "tsstore-"), 0);
    tss_store_close(w);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    check(w, &m, m.n, "stage refused");
    tss_store_close(w);
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

/* ---- older formats --------------------------------------------------------
 */

/* The store gen_corpus builds the fuzz seeds in (tests/fuzz). */
static const tss_store_info seed_info = {
    .format_version = 1,
    .units_per_second = 1000,
    .span = 600000,
    .bucket_width = 10000,
    .created = 1700000000,
    .uuid = "00000000-0000-0000-0000-000000000000",
};

/* Puts the snapshot fuzz seed `seed` (u32 base length, base, log) into
 * store `dir` as its head and returns its storage. */
static tss_storage *seed_store(const char *dir, const char *seed)
{
    char path[4096], rel[4200];
    uint8_t *buf;
    size_t len;
    uint32_t blen;
    uint64_t gen;
    tss_storage *st;

    snprintf(path, sizeof(path), "%s/snapshot/%s", TSS_CORPUS_DIR, seed);
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    assert_true(len >= 4);
    blen = tss_get_u32(buf);
    assert_true(blen >= 24 && blen <= len - 4);
    gen = tss_get_u64(buf + 4 + 16);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 1), 0);
    assert_int_equal(tss_storage_mkdirs(st, TSS_HEAD_DIR), 0);
    snprintf(rel, sizeof(rel), "%s/" TSS_HEAD_DIR "/base-%" PRIu64 ".snap", dir,
             gen);
    tt_spit(rel, buf + 4, blen);
    snprintf(rel, sizeof(rel), "%s/" TSS_HEAD_DIR "/log-%" PRIu64, dir, gen);
    tt_spit(rel, buf + 4 + blen, len - 4 - blen);
    free(buf);
    return st;
}

static int cmp_item_ptr(const void *pa, const void *pb)
{
    const tss_snap_item *x = *(const tss_snap_item *const *)pa;
    const tss_snap_item *y = *(const tss_snap_item *const *)pb;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int d = memcmp(x->key, y->key, n);

    if (d == 0)
        d = (x->key_len > y->key_len) - (x->key_len < y->key_len);
    return d ? d : (x->start > y->start) - (x->start < y->start);
}

/* The live items of a view, sorted by key and window; *n of them. */
static const tss_snap_item **live_items(const tss_snap_view *v, size_t *n)
{
    const tss_snap_item **out = calloc(v->n + 1, sizeof(*out));

    assert_non_null(out);
    *n = 0;
    for (size_t i = 0; i < v->n; i++)
        if (!v->items[i].dropped)
            out[(*n)++] = &v->items[i];
    qsort(out, *n, sizeof(*out), cmp_item_ptr);
    return out;
}

/* Asserts that two views hold the same live items (in any order), points
 * and all. */
static void assert_same_view(const tss_snap_view *a, const tss_snap_view *b)
{
    tss_point *pa = NULL, *pb = NULL;
    size_t ca = 0, cb = 0, la, lb;
    const tss_snap_item **xa = live_items(a, &la), **xb = live_items(b, &lb);

    assert_int_equal(la, lb);
    assert_true(la > 0);
    for (size_t i = 0; i < la; i++) {
        const tss_snap_item *x = xa[i], *y = xb[i];
        size_t na = 0, nb = 0;

        assert_int_equal(x->key_len, y->key_len);
        assert_memory_equal(x->key, y->key, x->key_len);
        assert_int_equal(x->start, y->start);
        assert_int_equal(
            tss_head_points_of(&x->enc, x->ooo, x->nooo, &pa, &na, &ca), 0);
        assert_int_equal(
            tss_head_points_of(&y->enc, y->ooo, y->nooo, &pb, &nb, &cb), 0);
        assert_int_equal(na, nb);
        assert_true(na > 0);
        assert_memory_equal(pa, pb, na * sizeof(*pa));
    }
    free(xa);
    free(xb);
    tss_free(pa);
    tss_free(pb);
}

/*
 * Heads written by earlier builds read the same: a base of version 1 and
 * a log of type 3 records (keys whole, the encoder state in fixed words;
 * the t3-* seeds, written by 30f6464's gen_corpus) against the same head
 * in the next format (base version 2, type 4 records: the t4-* seeds,
 * written by ed2199b's gen_corpus in the same minute, as the heads it
 * builds depend on the clock). Then the writer recovers from the old
 * files and writes its base in this build's format (version 3): the same
 * again. This build's own seeds (t5-*: base version 3, type 5 records,
 * written by its gen_corpus later) read as the same heads, but for their
 * times: as many records and items.
 */
static void test_older_head_formats(void **state)
{
    static const char *const pairs[][2] = {
        {"t3-store-head-000", "t4-store-head-000"},
        {"t3-store-groups-066", "t4-store-groups-064"},
        {"t3-store-sealed-delta-011", "t4-store-sealed-delta-010"},
    };
    uint64_t records = 0;

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char old_dir[4096], new_dir[4096], name[32];
        tss_storage *old_st, *new_st;
        tss_snap_view vo, vn, vr;
        tss_snapshot *sn;
        tss_head *head;

        snprintf(name, sizeof(name), "old%zu", i);
        tt_join(old_dir, sizeof(old_dir), *state, name);
        snprintf(name, sizeof(name), "new%zu", i);
        tt_join(new_dir, sizeof(new_dir), *state, name);
        old_st = seed_store(old_dir, pairs[i][0]);
        new_st = seed_store(new_dir, pairs[i][1]);
        assert_int_equal(
            tss_snapshot_load(old_st, &seed_info, NULL, NULL, false, &vo), 0);
        assert_int_equal(
            tss_snapshot_load(new_st, &seed_info, NULL, NULL, false, &vn), 0);
        assert_int_equal(vo.records, vn.records);
        records += vo.records;
        assert_same_view(&vo, &vn);

        /* the writer's recovery from the old files writes a new base */
        assert_int_equal(tss_head_create(&head, 4, seed_info.span), 0);
        assert_int_equal(tss_snapshot_open(&sn, old_st, &seed_info, head, 0,
                                           NULL, INT64_C(1800000000000), NULL,
                                           NULL),
                         0);
        tss_snapshot_close(sn);
        tss_head_free(head);
        assert_int_equal(
            tss_snapshot_load(old_st, &seed_info, NULL, NULL, false, &vr), 0);
        assert_true(vr.gen > vo.gen);
        assert_same_view(&vr, &vn);
        tss_snap_view_free(&vo);
        tss_snap_view_free(&vn);
        tss_snap_view_free(&vr);
        tss_storage_close(old_st);
        tss_storage_close(new_st);
    }
    assert_true(records > 0); /* type 3 and type 4 records were read */
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char dir4[4096], dir5[4096], seed5[64];
        tss_storage *st4, *st5;
        tss_snap_view v4, v5;

        snprintf(seed5, sizeof(seed5), "t5-%s", pairs[i][1] + 3);
        tt_join(dir4, sizeof(dir4), *state, "t4");
        tt_join(dir5, sizeof(dir5), *state, "t5");
        tt_rmrf(dir4);
        tt_rmrf(dir5);
        st4 = seed_store(dir4, pairs[i][1]);
        st5 = seed_store(dir5, seed5);
        assert_int_equal(
            tss_snapshot_load(st4, &seed_info, NULL, NULL, false, &v4), 0);
        assert_int_equal(
            tss_snapshot_load(st5, &seed_info, NULL, NULL, false, &v5), 0);
        assert_true(v5.records > 0);
        assert_int_equal(v5.records, v4.records);
        assert_int_equal(v5.n, v4.n);
        assert_true(v5.bytes < v4.bytes); /* the differences are smaller */
        tss_snap_view_free(&v4);
        tss_snap_view_free(&v5);
        tss_storage_close(st4);
        tss_storage_close(st5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_snapshot_rounds),
        T(test_reader_sees_head),
        T(test_seal_then_crash),
        T(test_seal_fails_then_crash),
        T(test_torn_log_tail),
        T(test_corrupt_log_record),
        T(test_corrupt_base),
        T(test_base_bad_xor_window),
        T(test_stale_temps_in_head),
        T(test_partial_load),
        T(test_partial_cache),
        T(test_ids_in_key_order),
        T(test_records_during_compaction),
        T(test_flush_during_compaction),
        T(test_late_batch_keeps_the_log),
        T(test_base_removed_log_kept),
        T(test_late_then_compact),
        T(test_late_then_prune),
        T(test_open_base_fails_then_prune),
        T(test_prune_when_base_fails),
        T(test_restore_merges_twin_items),
        T(test_record_rejected_part_way),
        T(test_base_waits_for_queued),
        T(test_base_writes_queued_first),
        T(test_delete_waits_for_queued),
        T(test_older_head_formats),
        T(test_staged_log),
        T(test_staged_whole_pages),
        T(test_stage_not_tmpfs),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
