/*
 * The CLI's time arguments and output (tools/cli_time.c, compiled into this
 * test): epoch seconds and RFC 3339 in, --from rounding up and --to rounding
 * down, and epoch/RFC 3339 formatting at every precision.
 *
 * Expected epochs of calendar dates come from days_from_civil() below
 * (H. Hinnant's algorithm), checked against well-known instants.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli_time.h"

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t utc(int64_t y, int mo, int d, int h, int mi, int s)
{
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static void test_calendar_helper(void **state)
{
    assert_int_equal(utc(1970, 1, 1, 0, 0, 0), 0);
    assert_int_equal(utc(2023, 11, 14, 22, 13, 20), 1700000000);
    assert_int_equal(utc(2000, 3, 1, 0, 0, 0), 951868800);
    assert_int_equal(utc(1900, 1, 1, 0, 0, 0), INT64_C(-2208988800));
    assert_int_equal(utc(1969, 12, 31, 23, 59, 59), -1);
}

static int64_t parse_ok(const char *s, uint32_t ups, bool up)
{
    char err[256] = "";
    int64_t v = INT64_MIN;

    if (cli_time_parse(s, ups, up, &v, err, sizeof(err)) != 0)
        fail_msg("\"%s\" (ups %u) refused: %s", s, ups, err);
    return v;
}

/* Same result for --from and --to: nothing to round. */
static void both(const char *s, uint32_t ups, int64_t want)
{
    assert_int_equal(parse_ok(s, ups, true), want);
    assert_int_equal(parse_ok(s, ups, false), want);
}

/* --from rounds up, --to rounds down. */
static void rounds(const char *s, uint32_t ups, int64_t up, int64_t down)
{
    assert_int_equal(parse_ok(s, ups, true), up);
    assert_int_equal(parse_ok(s, ups, false), down);
}

static void test_parse_epoch(void **state)
{
    both("1700000000", 1000, INT64_C(1700000000000));
    both("1700000000", 1, 1700000000);
    both("1700000000", 1000000000, INT64_C(1700000000000000000));
    both("1700000000.25", 1000, INT64_C(1700000000250));
    rounds("1700000000.25", 1, 1700000001, 1700000000);
    both("-5.5", 1000, -5500);
    rounds("-5.5", 1, -5, -6);
    rounds("0.0001", 1000, 1, 0);
    rounds("-0.0001", 1000, 0, -1);
    both("1.123456789", 1000000000, 1123456789);
    rounds("1.123456789", 1000000, 1123457, 1123456);
    rounds("-1.123456789", 1000000, -1123456, -1123457);
    both("1.5000000000000", 1000, 1500);
    both("+7", 1, 7);
    both(".5", 1000, 500);
    both("-.5", 1000, -500);
    both("0", 1, 0);
    both("-0", 1000, 0);
    both("-1", 1000000000, -1000000000);
}

static void test_parse_rfc3339(void **state)
{
    const int64_t e = utc(2026, 11, 21, 15, 41, 0);

    both("2026-11-21T15:41:00Z", 1000, e * 1000);
    both("2026-11-21T15:41:00Z", 1, e);
    both("2026-11-21T15:41:00.123+01:00", 1000, (e - 3600) * 1000 + 123);
    both("2026-11-21 15:41:00z", 1000, e * 1000);
    both("2026-11-21t15:41:00Z", 1, e);
    both("2026-11-21T15:41:00-05:30", 1, e + 5 * 3600 + 30 * 60);
    both("2026-11-21T15:41:00+00:00", 1, e);
    both("2023-11-14T22:13:20Z", 1, 1700000000);
    both("2024-02-29T12:00:00Z", 1, utc(2024, 2, 29, 12, 0, 0));
    both("1900-01-01T00:00:00Z", 1, INT64_C(-2208988800));
    both("2026-11-21T15:41:00.5Z", 1000000000, e * 1000000000 + 500000000);
    rounds("1969-12-31T23:59:59.5Z", 1000, -500, -500);
    rounds("1969-12-31T23:59:59.5Z", 1, 0, -1);
    rounds("2026-11-21T15:41:00.0001Z", 1000, e * 1000 + 1, e * 1000);
    rounds("2026-11-21T15:41:00.999999999Z", 1000, (e + 1) * 1000,
           e * 1000 + 999);
    rounds("2026-11-21T15:41:00.5-01:00", 1, e + 3600 + 1, e + 3600);
}

static void test_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "abc",
        "12abc",
        "1.2.3",
        "--5",
        "+-5",
        "1e9",
        " 5",
        "5 ",
        ".",
        "-",
        "5.x",
        "0x10",
        "99999999999999999999",
        "2026-11-21T15:41:00",
        "2026-11-21T15:41:00+1:00",
        "2026-11-21T15:41:00+01:0",
        "2026-11-21T15:41:00+0100",
        "2026-11-21T15:41:00+24:00",
        "2026-11-21T15:41:00+01:60",
        "2026-13-01T00:00:00Z",
        "2026-11-21T25:00:00Z",
        "2026-11-21T15:61:00Z",
        "2026-11-21T15:41:00.Z",
        "2026-11-21T15:41:00Zjunk",
        "2026-11-21T15:41:00Z ",
        "2026-11-21",
        "2026-11-21T",
        "2026-11-21X15:41:00Z",
    };
    static const uint32_t ups[] = {1, 1000, 1000000, 1000000000};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t u = 0; u < 4; u++) {
            for (int up = 0; up < 2; up++) {
                char err[256] = "", want[64];
                int64_t v = 42;

                if (cli_time_parse(bad[i], ups[u], up, &v, err, sizeof(err)) ==
                    0)
                    fail_msg("\"%s\" was taken as %" PRId64, bad[i], v);
                snprintf(want, sizeof(want), "\"%s\" is not a time", bad[i]);
                assert_non_null(strstr(err, want));
            }
        }
    }
    /* in range as seconds, not as nanoseconds */
    {
        char err[256];
        int64_t v;

        assert_int_equal(
            cli_time_parse("10000000000", 1, false, &v, err, sizeof(err)), 0);
        assert_int_equal(cli_time_parse("10000000000", 1000000000, false, &v,
                                        err, sizeof(err)),
                         -1);
    }
}

static void rejected(const char *s)
{
    static const uint32_t ups[] = {1, 1000, 1000000, 1000000000};

    for (size_t u = 0; u < 4; u++)
        for (int up = 0; up < 2; up++) {
            char err[256] = "";
            int64_t v = 42;

            if (cli_time_parse(s, ups[u], up, &v, err, sizeof(err)) == 0)
                fail_msg("\"%s\" was taken as %" PRId64, s, v);
            assert_non_null(strstr(err, "is not a time"));
            assert_int_equal(v, 42); /* untouched */
        }
}

/* The fixed layout YYYY-MM-DDTHH:MM:SS: dates that do not exist, short
 * years, single digits and surrounding space are refused, never guessed. */
static void test_parse_strict_layout(void **state)
{
    static const char *const bad[] = {
        "2026-02-30T00:00:00Z", /* not March 2 */
        "2026-02-29T00:00:00Z", /* 2026 is no leap year */
        "1900-02-29T00:00:00Z", /* nor is 1900 */
        "2026-04-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-00-21T00:00:00Z",
        "2026-11-21T23:59:60Z", /* no leap seconds */
        "2026-11-21T24:00:00Z",
        "26-11-21T15:41:00Z", /* two-digit years */
        "26-11-21T15:41:00+01:00",
        "926-11-21T15:41:00Z",
        "02026-11-21T15:41:00Z",
        " 2026-11-21T15:41:00Z", /* leading and trailing space */
        "  2026-11-21T15:41:00Z",
        "\t2026-11-21T15:41:00Z",
        "2026-11-21T15:41:00Z\n",
        "2026-11-21T15:41:00.5Z ",
        "2026-11-21T15:41:00+01:00 ",
        "2026-1-21T15:41:00Z", /* single-digit fields */
        "2026-11-2T15:41:00Z",
        "2026-11-21T5:41:00Z",
        "2026-11-21T15:4:00Z",
        "2026-11-21T15:41:0Z",
        "2026-1-2T3:4:5Z",
        "2026-11-21T15:41Z", /* no seconds */
        "2026-11-21  15:41:00Z",
        "+2026-11-21T15:41:00Z",
        "2026-+1-21T15:41:00Z",
        "2026-11-21T15:41:+0Z",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        rejected(bad[i]);
    /* the days that do exist around them */
    both("2024-02-29T00:00:00Z", 1, utc(2024, 2, 29, 0, 0, 0));
    both("2000-02-29T00:00:00Z", 1, utc(2000, 2, 29, 0, 0, 0));
    both("2026-02-28T23:59:59Z", 1, utc(2026, 2, 28, 23, 59, 59));
    both("2026-04-30T00:00:00Z", 1, utc(2026, 4, 30, 0, 0, 0));
    both("2026-12-31T23:59:59Z", 1, utc(2026, 12, 31, 23, 59, 59));
}

/* Years before 1000 keep four digits (RFC 3339), and read back. */
static void test_four_digit_years(void **state)
{
    static const struct {
        int64_t y;
        int mo, d, h, mi, s;
        const char *want;
    } cases[] = {
        {999, 12, 31, 23, 59, 59, "0999-12-31T23:59:59Z"},
        {1, 1, 1, 0, 0, 0, "0001-01-01T00:00:00Z"},
        {42, 7, 4, 12, 30, 5, "0042-07-04T12:30:05Z"},
        {100, 3, 1, 0, 0, 0, "0100-03-01T00:00:00Z"},
        {1000, 1, 1, 0, 0, 0, "1000-01-01T00:00:00Z"},
    };
    char buf[64], want[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t t = utc(cases[i].y, cases[i].mo, cases[i].d, cases[i].h,
                        cases[i].mi, cases[i].s);

        assert_string_equal(cli_time_rfc3339(buf, sizeof(buf), t, 1),
                            cases[i].want);
        both(cases[i].want, 1, t);
        /* with a fraction, at millisecond precision */
        snprintf(want, sizeof(want), "%.19s.250Z", cases[i].want);
        assert_string_equal(
            cli_time_rfc3339(buf, sizeof(buf), t * 1000 + 250, 1000), want);
        both(want, 1000, t * 1000 + 250);
    }
    /* the day before year 1000 begins, at second precision */
    assert_string_equal(
        cli_time_rfc3339(buf, sizeof(buf), utc(1000, 1, 1, 0, 0, 0) - 1, 1),
        "0999-12-31T23:59:59Z");
}

static void test_format_epoch(void **state)
{
    static const struct {
        int64_t t;
        uint32_t ups;
        const char *want;
    } cases[] = {
        {INT64_C(1700000000123), 1000, "1700000000.123"},
        {5, 1, "5"},
        {-5, 1, "-5"},
        {0, 1, "0"},
        {0, 1000, "0.000"},
        {-1500, 1000, "-1.500"},
        {-500, 1000, "-0.500"},
        {-1000, 1000, "-1.000"},
        {-1001, 1000, "-1.001"},
        {-999, 1000, "-0.999"},
        {999, 1000, "0.999"},
        {1, 1000000, "0.000001"},
        {-1500000, 1000000, "-1.500000"},
        {-1, 1000000000, "-0.000000001"},
        {INT64_C(1234567890123456789), 1000000000, "1234567890.123456789"},
        /* the limits of storable time, +-2^62 */
        {-INT64_C(4611686018427387904), 1000, "-4611686018427387.904"},
        {INT64_C(4611686018427387904), 1000, "4611686018427387.904"},
        {INT64_MIN, 1, "-9223372036854775808"},
    };
    char buf[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(
            cli_time_epoch(buf, sizeof(buf), cases[i].t, cases[i].ups),
            cases[i].want);
}

static void test_format_rfc3339(void **state)
{
    char buf[64];

    assert_string_equal(cli_time_rfc3339(buf, sizeof(buf), 0, 1000),
                        "1970-01-01T00:00:00.000Z");
    assert_string_equal(cli_time_rfc3339(buf, sizeof(buf), -1, 1),
                        "1969-12-31T23:59:59Z");
    assert_string_equal(cli_time_rfc3339(buf, sizeof(buf), -500, 1000),
                        "1969-12-31T23:59:59.500Z");
    assert_string_equal(
        cli_time_rfc3339(buf, sizeof(buf), INT64_C(1700000000123), 1000),
        "2023-11-14T22:13:20.123Z");
    assert_string_equal(cli_time_rfc3339(buf, sizeof(buf),
                                         INT64_C(1700000000000000001),
                                         1000000000),
                        "2023-11-14T22:13:20.000000001Z");
}

/* What is printed parses back to the same time, at every precision. */
static void test_round_trips(void **state)
{
    static const uint32_t ups[] = {1, 1000, 1000000, 1000000000};
    uint64_t x = 99;

    for (int i = 0; i < 4000; i++) {
        uint32_t u = ups[i % 4];
        /* 1900..9999 for RFC 3339 (four-digit years); +-4e9 s for ns, whose
         * range ends in 2116 */
        int64_t lo = u == 1000000000 ? INT64_C(-4000000000)
                                     : INT64_C(-2208988800),
                hi = u == 1000000000 ? INT64_C(4000000000)
                                     : INT64_C(253402300799);
        int64_t t;
        char buf[64];

        x = x * 6364136223846793005u + 1442695040888963407u;
        t = (lo + (int64_t)((x >> 1) % (uint64_t)(hi - lo))) * (int64_t)u +
            (int64_t)((x >> 7) % u);
        cli_time_epoch(buf, sizeof(buf), t, u);
        assert_int_equal(parse_ok(buf, u, true), t);
        assert_int_equal(parse_ok(buf, u, false), t);
        cli_time_rfc3339(buf, sizeof(buf), t, u);
        assert_int_equal(parse_ok(buf, u, true), t);
        assert_int_equal(parse_ok(buf, u, false), t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_helper),
        cmocka_unit_test(test_parse_epoch),
        cmocka_unit_test(test_parse_rfc3339),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_strict_layout),
        cmocka_unit_test(test_four_digit_years),
        cmocka_unit_test(test_format_epoch),
        cmocka_unit_test(test_format_rfc3339),
        cmocka_unit_test(test_round_trips),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
