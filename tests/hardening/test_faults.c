/*
 * A fault at every I/O call of every public write path (issue 9, point 3).
 *
 * Paths: append + seal, head snapshot, table coverage save, delete (its
 * document created and applied), compaction (and the completion after
 * it), rollup, prune, the writer's stats file, and the writer's open
 * (recovery of the head snapshot, coverage, documents: a store with a
 * visible delete). Each starts from the
 * layout of hd_util.h, on a writer whose I/O goes through hd_fault_ops.
 *
 * For each path: one run counts its I/O calls (C) and gives the store as
 * it is before the path ran ("before") and after ("after"), as query rows
 * of every resolution. Then for every N in 1..C:
 *
 *   EIO     call N fails with EIO; the writer is closed (its memory is
 *           lost) and reopened with the default ops;
 *   ENOSPC  call N fails with ENOSPC; the writer goes on, as collectd's
 *           rounds do: a snapshot (which reopens storage after a failed
 *           fsync), then the path again, which must succeed and leave
 *           "after"; then it is closed and reopened;
 *   short   (every N that is a write) call N writes half its bytes: the
 *           path must succeed as if nothing happened;
 *   kill    call N and every call after it fail: the process died there
 *           (nothing after N reached the file system); reopened. Run
 *           for every N whose previous call changed the file system (a
 *           write, create, link, rename, unlink, mkdir): a kill at any
 *           other call leaves what a kill at the call before it leaves;
 *   power   (every N that is an fsync, through tests/retention/crash_ops)
 *           the power goes at fsync N: what was not synced is lost.
 *
 * A power cut at a call that is not an fsync leaves the same disk as one
 * at the next fsync (the model's durable state only changes at fsyncs), so
 * "power" at every fsync covers a power cut at every call.
 *
 * After each: when the path returned an error for a failed call, the
 * message (tss_error_last) says "<op> <path>: <strerror>"; before the
 * writer is reopened a reader sees every window either as before or as
 * after (a delete: all windows the same way); after the reopen tss_verify
 * finds no problem and the windows still are; the path run again ends
 * with "after" (a snapshot or delete the fault lost: "before", and only
 * if the path failed), and verify is still clean. Nothing acknowledged is
 * lost: "before" holds only acknowledged points (snapshot synced or
 * sealed), and every window must keep one of its two states.
 *
 * TSS_HD_ONLY=<path name> runs one path, TSS_HD_AT=<N> only call N (not
 * the power cuts); TSS_HD_TRACE=1 prints each run and the calls.
 */
#define _GNU_SOURCE
#include "hd_util.h"

#include "crash_ops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "store_internal.h"
#include "tsstore/stats.h"

enum { M_EIO, M_ENOSPC, M_SHORT, M_KILL, M_POWER, M_N };
static const char *const MODE_NAME[M_N] = {"EIO", "ENOSPC", "short write",
                                           "kill", "power cut"};

typedef struct run_ctx {
    char id[37]; /* the delete's document, once created */
    /* the writer's open as the path: where, how, and what it opened */
    const char *dir;
    const tss_store_options *o;
    tss_store *opened;
} run_ctx;

typedef struct path_case {
    const char *name;
    /* the template: the layout plus what the path needs */
    void (*make)(const char *tpl);
    /* on the writer, before the path (its calls are not failed) */
    void (*setup)(tss_store *s, run_ctx *c);
    /* the path under test */
    int (*run)(tss_store *s, run_ctx *c);
    /* the writer going on after a failure, or reopened: brings the store
     * to "after" if the path's request survived */
    int (*again)(tss_store *s, run_ctx *c);
    /* a delete: all windows change together */
    bool atomic;
    /* the path may be lost entirely by a fault (nothing was acknowledged
     * unless it returned 0) */
    bool losable;
    /* the path is the writer's open (and recovery): there is no writer
     * before it */
    bool opens;
} path_case;

/* ---- the paths ------------------------------------------------------------
 */

static void make_plain(const char *tpl)
{
    hd_build(tpl, NULL);
}

/* the delete visible, not compacted */
static void make_deleted(const char *tpl)
{
    tss_store_options o;
    tss_delete_spec d = hd_delete_spec();
    tss_store *s;
    char id[37];

    hd_build(tpl, NULL);
    hd_options(&o, NULL);
    s = ru_open(tpl, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_delete_create(s, &d, id), 0);
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    tss_store_close(s);
}

static void setup_none(tss_store *s, run_ctx *c)
{
}

static void setup_seal(tss_store *s, run_ctx *c)
{
    /* acknowledged before the seal: the snapshot is synced */
    hd_fill(s, NULL, HD_W_SEAL, HD_W_SEAL + RU_SPAN);
    hd_fill(s, NULL, HD_W_HEAD + 30 * RU_MIN, HD_W_HEAD + 40 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
}

static int run_seal(tss_store *s, run_ctx *c)
{
    return tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL);
}

static void setup_snapshot(tss_store *s, run_ctx *c)
{
    /* new points of an item the snapshot has, and new items */
    hd_fill(s, NULL, HD_W_HEAD + 30 * RU_MIN, HD_W_HEAD + 40 * RU_MIN);
    hd_fill(s, NULL, HD_W_FUT, HD_W_FUT + 10 * RU_MIN);
}

static int run_snapshot(tss_store *s, run_ctx *c)
{
    return tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC);
}

static int run_covsave(tss_store *s, run_ctx *c)
{
    return tss_covtable_save(s->cov, s->st);
}

static int run_delete(tss_store *s, run_ctx *c)
{
    tss_delete_spec d = hd_delete_spec();
    int rc;

    if (!c->id[0] && (rc = tss_delete_create(s, &d, c->id)) != 0) {
        c->id[0] = '\0';
        return rc;
    }
    return tss_store_apply_mutations(s, RU_NOW, NULL);
}

static int again_delete(tss_store *s, run_ctx *c)
{
    return tss_store_apply_mutations(s, RU_NOW, NULL);
}

static int run_compact(tss_store *s, run_ctx *c)
{
    int rc = tss_store_compact(s, RU_NOW, 0, NULL);

    return rc ? rc : tss_store_apply_mutations(s, RU_NOW, NULL);
}

static int run_rollup(tss_store *s, run_ctx *c)
{
    return tss_store_rollup(s, RU_NOW, NULL);
}

static int run_prune(tss_store *s, run_ctx *c)
{
    return tss_store_prune(s, RU_NOW, NULL);
}

static int run_stats(tss_store *s, run_ctx *c)
{
    return tss_store_publish_stats(s, RU_NOW, 0);
}

static int run_open(tss_store *s, run_ctx *c)
{
    return tss_store_open(&c->opened, c->dir, TSS_OPEN_WRITER, c->o);
}

static int again_open(tss_store *s, run_ctx *c)
{
    /* the harness reopens the writer: its recovery is the path again */
    return 0;
}

static const path_case CASES[] = {
    {"seal", make_plain, setup_seal, run_seal, run_seal, false, false, false},
    {"snapshot", make_plain, setup_snapshot, run_snapshot, run_snapshot, false,
     true, false},
    {"covsave", make_plain, setup_none, run_covsave, run_covsave, false, false,
     false},
    {"delete", make_plain, setup_none, run_delete, again_delete, true, true,
     false},
    {"compact", make_deleted, setup_none, run_compact, run_compact, false,
     false, false},
    {"rollup", make_plain, setup_none, run_rollup, run_rollup, false, false,
     false},
    {"prune", make_plain, setup_none, run_prune, run_prune, false, false,
     false},
    {"stats", make_plain, setup_none, run_stats, run_stats, false, false,
     false},
    {"open", make_deleted, setup_none, run_open, again_open, false, false,
     true},
};
#define NCASES (sizeof(CASES) / sizeof(CASES[0]))

/* ---- one path -------------------------------------------------------------
 */

typedef struct expect {
    ru_rows before[HD_NWIN], after[HD_NWIN];
    size_t total_before, total_after;
} expect;

static void split(const ru_rows *all, ru_rows win[HD_NWIN], size_t *total)
{
    size_t seen = 0;

    for (int w = 0; w < HD_NWIN; w++) {
        ru_rows_window(all, hd_window_start(w), hd_window_start(w) + RU_SPAN,
                       &win[w]);
        seen += win[w].n;
    }
    if (seen != all->n)
        fail_msg("%zu rows outside the layout's windows", all->n - seen);
    *total = all->n;
}

static void expect_free(expect *e)
{
    for (int w = 0; w < HD_NWIN; w++) {
        ru_rows_free(&e->before[w]);
        ru_rows_free(&e->after[w]);
    }
}

/*
 * Every window is as before or as after. Returns a bit mask of the windows
 * (that the path changes) found as after; with `atomic` they must be all
 * or none.
 */
static unsigned check_windows(const char *what, const ru_rows *all,
                              const expect *e, bool atomic)
{
    ru_rows win[HD_NWIN];
    size_t total;
    unsigned done = 0, changing = 0;

    split(all, win, &total);
    for (int w = 0; w < HD_NWIN; w++) {
        bool b = ru_rows_equal(&win[w], &e->before[w]);
        bool a = ru_rows_equal(&win[w], &e->after[w]);

        if (!a && !b) {
            char label[256];

            snprintf(label, sizeof(label),
                     "%s: window %d is neither as before nor as after "
                     "(compared with before)",
                     what, w);
            ru_assert_rows(label, &win[w], &e->before[w]);
        }
        if (!ru_rows_equal(&e->before[w], &e->after[w])) {
            changing |= 1u << w;
            if (a)
                done |= 1u << w;
        }
        ru_rows_free(&win[w]);
    }
    if (atomic && done != 0 && done != changing)
        fail_msg("%s: some windows show the delete, others do not (%#x of "
                 "%#x)",
                 what, done, changing);
    return done;
}

static void check_after(const char *what, const ru_rows *all, const expect *e)
{
    ru_rows win[HD_NWIN];
    size_t total;

    split(all, win, &total);
    for (int w = 0; w < HD_NWIN; w++) {
        char label[256];

        snprintf(label, sizeof(label), "%s: window %d", what, w);
        ru_assert_rows(label, &win[w], &e->after[w]);
        ru_rows_free(&win[w]);
    }
}

static void copy_fresh(const char *tpl, const char *dir)
{
    tt_rmrf(dir);
    tt_copy_tree(tpl, dir);
}

typedef struct stats {
    unsigned long runs, failed_rc, tolerated;
} stats;

static bool trace_on(void)
{
    const char *t = getenv("TSS_HD_TRACE");

    return t && *t && strcmp(t, "0") != 0;
}

/*
 * One run of path `c` in `dir` (a fresh copy of `tpl`) with call `n`
 * failing as `mode` says (n == 0: the reference). Fills *e on the
 * reference. Returns the number of calls the path made.
 */
static unsigned long one_run(const path_case *c, const char *tpl,
                             const char *dir, int mode, unsigned long n,
                             expect *e, stats *st, hd_fault *f)
{
    static const int ERR[M_N] = {EIO, ENOSPC, 0, EIO, EIO};
    tss_store_options o;
    run_ctx ctx;
    tss_store *s;
    ru_rows rows;
    char what[256], msg[1024];
    unsigned long calls;
    bool ack;
    int rc;

    snprintf(what, sizeof(what), "%s, %s at call %lu", c->name,
             n ? MODE_NAME[mode] : "no fault", n);
    if (trace_on())
        print_message("%s\n", what);
    memset(&ctx, 0, sizeof(ctx));
    copy_fresh(tpl, dir);
    if (mode == M_POWER) {
        co_baseline(dir);
        co_arm(0);
        hd_options(&o, co_ops());
    } else {
        hd_fault_arm(f, HD_PASS, 0, 0);
        hd_options(&o, hd_fault_ops(f));
    }
    ctx.dir = dir;
    ctx.o = &o;
    s = c->opens ? NULL : ru_open(dir, TSS_OPEN_WRITER, &o);
    if (s)
        c->setup(s, &ctx);
    if (n == 0) {
        ru_rows all;

        hd_reader_rows(dir, &all);
        split(&all, e->before, &e->total_before);
        ru_rows_free(&all);
    }
    tss_error_clear();
    if (mode == M_POWER)
        co_arm(n);
    else
        hd_fault_arm(f,
                     n == 0            ? HD_PASS
                     : mode == M_SHORT ? HD_SHORT
                     : mode == M_KILL  ? HD_KILL
                                       : HD_ONE,
                     n, ERR[mode]);
    f->verbose = getenv("TSS_HD_TRACE") && !strcmp(getenv("TSS_HD_TRACE"), "2");
    rc = c->run(s, &ctx);
    if (c->opens)
        s = ctx.opened;
    f->verbose = false;
    snprintf(msg, sizeof(msg), "%s", tss_error_last());
    calls = mode == M_POWER ? co_fsyncs() : f->calls;
    if (trace_on() && mode != M_POWER)
        print_message("  rc %d \"%s\" (failed: %s %s)\n", rc, msg,
                      f->fired_op ? f->fired_op : "-", f->fired_path);
    st->runs++;
    if (n == 0) {
        ru_rows all;

        if (rc != 0)
            fail_msg("%s: %d %s", what, rc, msg);
        tss_store_close(s);
        hd_reader_rows(dir, &all);
        split(&all, e->after, &e->total_after);
        ru_rows_free(&all);
        return calls;
    }
    ack = rc == 0;
    switch (mode) {
    case M_SHORT:
        /* a short write is no error: the write loop goes on */
        if (!f->fired)
            fail_msg("%s: call %lu is no write (%s)", what, n,
                     n <= HD_TRACE_MAX ? f->trace[n - 1] : "?");
        if (rc != 0)
            fail_msg("%s: failed: %d %s", what, rc, msg);
        break;
    case M_EIO:
    case M_ENOSPC:
        if (!f->fired)
            fail_msg("%s: the path made only %lu calls", what, f->calls);
        if (rc != 0) {
            char label[1024];

            st->failed_rc++;
            snprintf(label, sizeof(label), "%s (%s %s)", what, f->fired_op,
                     f->fired_path);
            hd_assert_names_op_and_path(label, msg, ERR[mode]);
            /* after a failed fsync, writes are refused (TSS_EFAILED)
             * with the fsync's message in theirs */
            if (rc != (mode == M_EIO ? TSS_EIO : TSS_ENOSPC) &&
                !(rc == TSS_EFAILED && strstr(msg, "failed state")))
                fail_msg("%s: code %d (%s) for %s", label, rc, tss_strerror(rc),
                         strerror(ERR[mode]));
        } else {
            st->tolerated++;
            if (trace_on())
                print_message("  tolerated: %s %s\n", f->fired_op,
                              f->fired_path);
        }
        break;
    default:
        break;
    }
    hd_fault_arm(f, mode == M_KILL ? HD_KILL : HD_PASS, 1, EIO);

    /* a reader, before anything is repaired */
    hd_reader_rows(dir, &rows);
    {
        unsigned done = check_windows(what, &rows, e, c->atomic);

        /* what returned 0 is done */
        if (ack && mode != M_KILL && mode != M_POWER)
            check_after(what, &rows, e);
        (void)done;
    }
    ru_rows_free(&rows);

    if (mode == M_ENOSPC && s) {
        /* the writer goes on, space freed: the next round of collectd's
         * write_tsstore (snapshot, seal, mutations), then the path */
        hd_fault_arm(f, HD_PASS, 0, 0);
        if ((rc = tss_store_snapshot(s, RU_NOW, 0)) != 0 ||
            (rc = tss_store_seal(s, RU_NOW, 0, NULL)) != 0 ||
            (rc = tss_store_apply_mutations(s, RU_NOW, NULL)) != 0)
            fail_msg("%s, going on: the next round: %d %s", what, rc,
                     tss_error_last());
        /* a delete whose document never made it is asked for again */
        rc = c->atomic && !ctx.id[0] ? c->run(s, &ctx) : c->again(s, &ctx);
        if (rc != 0)
            fail_msg("%s, going on: %d %s", what, rc, tss_error_last());
        hd_rows(s, &rows);
        check_after(what, &rows, e);
        ru_rows_free(&rows);
        ru_assert_verify_clean(what, s);
        ack = true;
    }
    tss_store_close(s);
    if (mode == M_POWER)
        co_power_cut(dir);
    hd_fault_ops(NULL);

    /* the writer restarted */
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    ru_assert_verify_clean(what, s);
    hd_rows(s, &rows);
    check_windows(what, &rows, e, c->atomic);
    ru_rows_free(&rows);
    if ((rc = c->again(s, &ctx)) != 0)
        fail_msg("%s, after the restart: %d %s", what, rc, tss_error_last());
    hd_rows(s, &rows);
    if (!c->losable || ack || (c->atomic && ctx.id[0]))
        check_after(what, &rows, e);
    else
        check_windows(what, &rows, e, c->atomic);
    ru_rows_free(&rows);
    ru_assert_verify_clean(what, s);
    tss_store_close(s);
    return calls;
}

static bool wanted(const path_case *c)
{
    const char *only = getenv("TSS_HD_ONLY");

    return !only || !*only || strcmp(only, c->name) == 0;
}

static void every_fault(const char *base, const path_case *c)
{
    char tpl[4096], dir[4096];
    hd_fault *f = calloc(1, sizeof(*f));
    unsigned long calls, fsyncs;
    stats st = {0};
    expect e;
    size_t nwrites = 0, nkills = 0;
    static bool kill_at[HD_TRACE_MAX];
    const char *at = getenv("TSS_HD_AT");
    unsigned long only_at = at ? strtoul(at, NULL, 10) : 0;

    if (!wanted(c)) {
        free(f);
        return;
    }
    assert_non_null(f);
    memset(&e, 0, sizeof(e));
    tt_join(tpl, sizeof(tpl), base, "template");
    tt_join(dir, sizeof(dir), base, "store");
    tt_rmrf(tpl);
    c->make(tpl);
    calls = one_run(c, tpl, dir, M_EIO, 0, &e, &st, f);
    assert_true(calls > 0 && calls <= HD_TRACE_MAX);
    {
        /* the calls that are writes and fsyncs, from the reference */
        const char *trace[HD_TRACE_MAX];
        bool changes[HD_TRACE_MAX];

        memcpy(trace, f->trace, calls * sizeof(trace[0]));
        memcpy(changes, f->changes, calls * sizeof(changes[0]));
        nkills = 0;
        for (unsigned long n = 1; n <= calls; n++)
            kill_at[n - 1] = n == 1 || changes[n - 2];
        fsyncs = 0;
        for (unsigned long n = 1; n <= calls; n++) {
            if ((strcmp(trace[n - 1], "write") == 0 ||
                 strcmp(trace[n - 1], "pwrite") == 0) &&
                (!only_at || n == only_at)) {
                one_run(c, tpl, dir, M_SHORT, n, &e, &st, f);
                nwrites++;
            }
            fsyncs += strcmp(trace[n - 1], "fsync") == 0;
        }
    }
    for (unsigned long n = 1; n <= calls; n++) {
        if (only_at && n != only_at)
            continue;
        one_run(c, tpl, dir, M_EIO, n, &e, &st, f);
        one_run(c, tpl, dir, M_ENOSPC, n, &e, &st, f);
        if (kill_at[n - 1]) {
            one_run(c, tpl, dir, M_KILL, n, &e, &st, f);
            nkills++;
        }
    }
    for (unsigned long n = 1; n <= fsyncs && !only_at; n++)
        one_run(c, tpl, dir, M_POWER, n, &e, &st, f);
    co_free();
    print_message("%-8s %4lu calls (%zu writes, %zu kill points, %lu "
                  "fsyncs): %lu runs; %lu failures returned an error naming "
                  "the call, %lu were tolerated\n",
                  c->name, calls, nwrites, nkills, fsyncs, st.runs,
                  st.failed_rc, st.tolerated);
    expect_free(&e);
    tt_rmrf(dir);
    free(f);
}

#define CASE_TEST(i, fn)                                                       \
    static void fn(void **state)                                               \
    {                                                                          \
        every_fault(*state, &CASES[i]);                                        \
    }

CASE_TEST(0, test_seal)
CASE_TEST(1, test_snapshot)
CASE_TEST(2, test_covsave)
CASE_TEST(3, test_delete)
CASE_TEST(4, test_compact)
CASE_TEST(5, test_rollup)
CASE_TEST(6, test_prune)
CASE_TEST(7, test_stats)
CASE_TEST(8, test_open)

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_seal),   T(test_snapshot), T(test_covsave),
        T(test_delete), T(test_compact),  T(test_rollup),
        T(test_prune),  T(test_stats),    T(test_open),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
