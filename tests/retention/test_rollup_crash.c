/*
 * A power cut at every fsync of a rollup pass (the durability model of
 * tests/core/test_crash_sim.c, through crash_ops.c), on the layout of
 * rollup_layout.h: pass A (raw windows rolled up to 1 and 5 min, a raw
 * window past Keep removed, a window of two raw segments merged) and pass B
 * (1 min folded into 5 min, late raw points folded in, rolled windows past
 * Keep removed).
 *
 * After each cut: a reader, before any recovery, finds every window either
 * as it was before the pass or as the pass leaves it -- all its points raw
 * or all its aggregates, never both, never neither, never a mix of the two
 * states; the writer restarted finds no problem with tss_verify and the
 * same; its next pass at the same time ends with exactly the store a pass
 * without a cut leaves.
 */
#define _GNU_SOURCE
#include "rollup_layout.h"

#include "crash_ops.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct expect {
    ru_rows before[RL_NWIN], after[RL_NWIN], all_after;
} expect;

static void expect_init(expect *e, const rl_layout *L, int from, int to)
{
    for (int w = 0; w < RL_NWIN; w++) {
        rl_expect_window(L, from, w, &e->before[w]);
        rl_expect_window(L, to, w, &e->after[w]);
    }
    rl_expect(L, to, &e->all_after);
}

static void expect_free(expect *e)
{
    for (int w = 0; w < RL_NWIN; w++) {
        ru_rows_free(&e->before[w]);
        ru_rows_free(&e->after[w]);
    }
    ru_rows_free(&e->all_after);
}

/* Every window is whole in one of the two states. Returns the number of
 * windows the pass changes that are in the state after it. */
static int assert_windows(const char *what, tss_store *s, const expect *e)
{
    ru_rows got, gw;
    size_t seen = 0;
    int done = 0;

    ru_query_rows(s, NULL, &got);
    for (int w = 0; w < RL_NWIN; w++) {
        ru_rows_window(&got, rl_windows[w].start, rl_end(w), &gw);
        seen += gw.n;
        if (!ru_rows_equal(&gw, &e->before[w]) &&
            !ru_rows_equal(&gw, &e->after[w])) {
            char label[256];

            snprintf(label, sizeof(label),
                     "%s: window %s is neither as before the pass nor as "
                     "after it (compared with after)",
                     what, rl_windows[w].name);
            ru_assert_rows(label, &gw, &e->after[w]);
        }
        if (!ru_rows_equal(&e->before[w], &e->after[w]) &&
            ru_rows_equal(&gw, &e->after[w]))
            done++;
        ru_rows_free(&gw);
    }
    if (seen != got.n)
        fail_msg("%s: %zu rows outside the layout's windows", what,
                 got.n - seen);
    ru_rows_free(&got);
    return done;
}

static void assert_final(const char *what, tss_store *s, const char *dir,
                         const expect *e, int to)
{
    ru_rows got;
    ru_seg *v;
    size_t n = ru_list_segments(dir, &v);

    ru_query_rows(s, NULL, &got);
    ru_assert_rows(what, &got, &e->all_after);
    ru_rows_free(&got);
    /* one segment per window left: no leftover of the cut */
    for (int w = 0; w < RL_HEAD; w++) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
            k += v[i].start == rl_windows[w].start;
        if (k != (rl_windows[w].res[to] == RL_GONE ? 0u : 1u))
            fail_msg("%s: window %s has %zu segments", what, rl_windows[w].name,
                     k);
    }
    free(v);
    assert_int_equal(ru_count_suffix(dir, "_coverage/segments", ".roar"),
                     ru_count_suffix(dir, "segments", ".seg"));
    ru_assert_verify_clean(what, s);
}

/* The template at stage `from`, in `tpl`. */
static void make_template(const char *tpl, rl_layout *L, int from)
{
    rl_build(tpl, L);
    if (from == RL_LATE) {
        tss_store_options o;
        tss_store *s;

        rl_options(&o, NULL, NULL);
        s = ru_open(tpl, TSS_OPEN_WRITER, &o);
        assert_int_equal(tss_store_rollup(s, RL_NOW_A, NULL), 0);
        rl_late(s, L);
        tss_store_close(s);
    }
}

static void every_crash_point(const char *base, int from, int to, int64_t now)
{
    char tpl[4096], dir[4096], what[160];
    rl_layout L;
    expect e;
    unsigned long total = 0;
    int changing = 0;
    bool saw_none = false, saw_some = false;

    tt_join(tpl, sizeof(tpl), base, "template");
    tt_join(dir, sizeof(dir), base, "store");
    make_template(tpl, &L, from);
    expect_init(&e, &L, from, to);
    for (int w = 0; w < RL_NWIN; w++)
        changing += !ru_rows_equal(&e.before[w], &e.after[w]);
    assert_true(changing >= 3);
    for (unsigned long n = 0; n == 0 || n <= total; n++) {
        tss_store_options o;
        tss_store *s;
        int rc;

        tt_copy_tree(tpl, dir);
        co_baseline(dir);
        co_arm(0);
        rl_options(&o, co_ops(), NULL);
        s = ru_open(dir, TSS_OPEN_WRITER, &o);
        co_arm(n);
        rc = tss_store_rollup(s, now, NULL);
        snprintf(what, sizeof(what), "pass %s, power cut at fsync %lu of %lu",
                 to == RL_A ? "A" : "B", n, total);
        if (n == 0) {
            /* the pass without a cut: the reference */
            assert_int_equal(rc, 0);
            total = co_fsyncs();
            assert_true(total >= 10);
            assert_final(what, s, dir, &e, to);
            tss_store_close(s);
            tt_rmrf(dir);
            continue;
        }
        /* (a failed save of the table coverage at the end is retried
         * later, not an error of the pass) */
        (void)rc;
        assert_true(co_crashed());
        tss_store_close(s);
        co_power_cut(dir);
        /* a reader, before any recovery */
        s = ru_open(dir, 0, NULL);
        {
            int done = assert_windows(what, s, &e);

            saw_none |= done == 0;
            saw_some |= done > 0 && done < changing;
        }
        tss_store_close(s);
        /* the writer's restart */
        rl_options(&o, NULL, NULL);
        s = ru_open(dir, TSS_OPEN_WRITER, &o);
        ru_assert_verify_clean(what, s);
        assert_windows(what, s, &e);
        /* and its next pass */
        assert_int_equal(tss_store_rollup(s, now, NULL), 0);
        assert_final(what, s, dir, &e, to);
        tss_store_close(s);
        tt_rmrf(dir);
    }
    /* the cuts fell before the pass changed anything, and in its middle */
    assert_true(saw_none);
    assert_true(saw_some);
    co_free();
    expect_free(&e);
    tt_model_free(&L.m);
}

static void test_crash_pass_a(void **state)
{
    every_crash_point(*state, RL_RAW, RL_A, RL_NOW_A);
}

static void test_crash_pass_b(void **state)
{
    every_crash_point(*state, RL_LATE, RL_B, RL_NOW_B);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_crash_pass_a),
        T(test_crash_pass_b),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
