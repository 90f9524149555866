/*
 * Option values of the plugins (plugin/conf_util.c, compiled into this
 * test): durations, byte sizes and precisions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "conf_util.h"

static void duration_is(const char *s, int64_t want_ms)
{
    char err[256] = "";
    int64_t v = -42;

    if (tss_conf_duration_ms(s, &v, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", s, err);
    if (v != want_ms)
        fail_msg("\"%s\" gave %" PRId64 " ms, want %" PRId64, s, v, want_ms);
}

static void test_durations(void **state)
{
    duration_is("300", 300 * 1000);
    duration_is("0", 0);
    duration_is("0.5", 500);
    duration_is("1.25", 1250);
    duration_is("90s", 90 * 1000);
    duration_is("5m", 5 * 60 * 1000);
    duration_is("1.5m", 90 * 1000);
    duration_is("2h", INT64_C(2) * 3600 * 1000);
    duration_is("7d", INT64_C(7) * 86400 * 1000);
    duration_is("2w", INT64_C(14) * 86400 * 1000);
    duration_is("1y", INT64_C(365) * 86400 * 1000);
    duration_is("10y", INT64_C(3650) * 86400 * 1000);
    duration_is("0.001", 1);
}

static void test_duration_rejects(void **state)
{
    static const char *const bad[] = {
        "",    "abc",  "5x",     "5 m", " 5",    "5 ",    "-5",
        "-1m", "5mm",  "m",      "5M",  "5H",    "1e300", "inf",
        "nan", "5min", "2hours", "1,5", "1e17y",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "", want[64];
        int64_t v = 42;

        if (tss_conf_duration_ms(bad[i], &v, err, sizeof(err)) == 0)
            fail_msg("\"%s\" was taken as %" PRId64 " ms", bad[i], v);
        assert_int_equal(v, 42);
        snprintf(want, sizeof(want), "\"%s\" is not a duration", bad[i]);
        assert_non_null(strstr(err, want));
    }
    {
        char err[256] = "";
        int64_t v;

        assert_int_equal(tss_conf_duration_ms(NULL, &v, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "is not a duration"));
    }
}

static void size_is(const char *s, uint64_t want)
{
    char err[256] = "";
    uint64_t v = 42;

    if (tss_conf_size(s, &v, err, sizeof(err)) != 0)
        fail_msg("\"%s\" refused: %s", s, err);
    if (v != want)
        fail_msg("\"%s\" gave %" PRIu64 ", want %" PRIu64, s, v, want);
}

static void test_sizes(void **state)
{
    size_is("0", 0);
    size_is("268435456", 268435456);
    size_is("256M", UINT64_C(256) * 1024 * 1024);
    size_is("10G", UINT64_C(10) * 1024 * 1024 * 1024);
    size_is("1K", 1024);
    size_is("1k", 1024);
    size_is("1KB", 1024);
    size_is("1KiB", 1024);
    size_is("3kib", 3072);
    size_is("2T", UINT64_C(2) << 40);
    size_is("18446744073709551615", UINT64_MAX);
    size_is("16777215T", UINT64_C(16777215) << 40); /* the largest T */
    size_is("17179869183G", UINT64_C(17179869183) << 30);
}

static void test_size_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "M",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1X",
        "1KX",
        "1Ki",
        "1KBB",
        "1K B",
        "1.5G",
        "0x10",
        "18446744073709551616", /* 2^64 */
        "16777216T",            /* 2^64 bytes */
        "17179869184G",         /* 2^64 bytes */
        "99999999999999999999999K",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "", want[64];
        uint64_t v = 42;

        if (tss_conf_size(bad[i], &v, err, sizeof(err)) == 0)
            fail_msg("\"%s\" was taken as %" PRIu64, bad[i], v);
        assert_int_equal(v, 42);
        snprintf(want, sizeof(want), "\"%s\" is not a size", bad[i]);
        assert_non_null(strstr(err, want));
    }
}

static void test_precisions(void **state)
{
    assert_int_equal(tss_conf_precision("s"), 1);
    assert_int_equal(tss_conf_precision("ms"), 1000);
    assert_int_equal(tss_conf_precision("us"), 1000000);
    assert_int_equal(tss_conf_precision("ns"), 1000000000);
    assert_int_equal(tss_conf_precision(NULL), 0);
    assert_int_equal(tss_conf_precision(""), 0);
    assert_int_equal(tss_conf_precision("MS"), 0);
    assert_int_equal(tss_conf_precision("m"), 0);
    assert_int_equal(tss_conf_precision("ms "), 0);
    assert_int_equal(tss_conf_precision("1000"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_duration_rejects),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_size_rejects),
        cmocka_unit_test(test_precisions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
