/*
 * The rate limit of the core's log lines (plugin/log_limit.c, compiled
 * into this test): once per window per level and text, the count held
 * back added to the next line, new texts at once, and a full table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "log_limit.h"

#define W 300

/* One line at `now`: returns whether it passed; *held its count. */
static bool pass(tss_log_limit *l, int level, const char *msg, time_t now,
                 uint64_t *held)
{
    uint64_t h = 12345;
    bool ok = tss_log_limit_pass(l, level, msg, now, &h);

    if (!ok)
        assert_int_equal(h, 0);
    if (held)
        *held = h;
    return ok;
}

/* 35 identical lines an interval (a corrupt head snapshot read by each
 * query) for an hour: one line per window, each after the first telling
 * how many were held back. */
static void test_same_text(void **state)
{
    tss_log_limit l;
    uint64_t held, total_held = 0;
    int logged = 0;

    (void)state;
    tss_log_limit_init(&l, W);
    for (time_t t = 1000; t < 1000 + 3600; t += 10)
        for (int i = 0; i < 35; i++)
            if (pass(&l, 3, "head snapshot head/base-20.snap: truncated", t,
                     &held)) {
                logged++;
                total_held += held;
                if (logged == 1)
                    assert_int_equal(held, 0);
                else
                    assert_int_equal(held, 35 * (W / 10) - 1);
            }
    assert_int_equal(logged, 3600 / W);
    assert_int_equal(total_held, (uint64_t)(logged - 1) * (35 * (W / 10) - 1));
    tss_log_limit_destroy(&l);
}

/* Another text, or the same text at another level, is logged at once. */
static void test_new_text(void **state)
{
    tss_log_limit l;

    (void)state;
    tss_log_limit_init(&l, W);
    assert_true(pass(&l, 3, "a", 100, NULL));
    assert_false(pass(&l, 3, "a", 101, NULL));
    assert_true(pass(&l, 3, "b", 101, NULL));
    assert_true(pass(&l, 4, "a", 101, NULL));
    assert_false(pass(&l, 4, "a", 102, NULL));
    assert_false(pass(&l, 3, "b", 100 + W, NULL));
    assert_true(pass(&l, 3, "a", 100 + W, NULL));
    /* a clock stepped back does not silence it for longer */
    assert_true(pass(&l, 3, "a", 50, NULL));
    tss_log_limit_destroy(&l);
}

/* More texts than slots: the least recently logged is forgotten (logged
 * again early); the others stay limited. */
static void test_full_table(void **state)
{
    tss_log_limit l;
    char msg[32];

    (void)state;
    tss_log_limit_init(&l, W);
    for (int i = 0; i < TSS_LOG_LIMIT_SLOTS; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        assert_true(pass(&l, 3, msg, 100 + i, NULL));
    }
    assert_true(pass(&l, 3, "one more", 200, NULL)); /* evicts m0 */
    assert_true(pass(&l, 3, "m0", 201, NULL));       /* evicts m1 */
    for (int i = 2; i < TSS_LOG_LIMIT_SLOTS; i++) {
        snprintf(msg, sizeof(msg), "m%d", i);
        assert_false(pass(&l, 3, msg, 202, NULL));
    }
    assert_false(pass(&l, 3, "one more", 202, NULL));
    assert_false(pass(&l, 3, "m0", 202, NULL));
    tss_log_limit_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text),
        cmocka_unit_test(test_new_text),
        cmocka_unit_test(test_full_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
