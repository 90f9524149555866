/*
 * The interval a coverage query judges a series by is that of its newest
 * data: a further segment of an old window (points that came after its
 * seal, spaced anyhow) does not replace it, whichever order the sidecars
 * are unioned in (the writer's table, or a reader's rebuild from the
 * sidecars when there is no table). It was taken from the sidecar added
 * last: two late points 100 s apart made a 10 s series' 60 s hole vanish.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "tsstore/coverage.h"
#include "tsstore/store.h"

#define SPAN INT64_C(7200000)       /* ms: two-hour windows */
#define W0 (INT64_C(236111) * SPAN) /* a window in November 2023 */

static void add(tss_store *s, int64_t t, double v)
{
    tss_series_id id = {"h", "test", "", "gauge", "a", "value"};
    tss_value val;

    val.gauge = v;
    assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, t, val), 0);
}

/* The gaps a fresh reader finds for the one series: *n, the first's
 * bounds in *from and *to (store units). */
static void gaps(const char *dir, uint64_t *n, int64_t *from, int64_t *to,
                 int64_t *interval)
{
    tss_store *r = tt_open(dir, 0, SPAN / 1000, NULL, NULL);
    tss_filter f = {0};
    tss_coverage *c;
    tss_coverage_series cs;

    assert_int_equal(tss_coverage_open(&c, r, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    *n = cs.gaps;
    *interval = cs.interval;
    for (size_t i = 0; i < cs.nruns; i++)
        if (!cs.runs[i].covered) {
            *from = cs.runs[i].from;
            *to = cs.runs[i].to;
            break;
        }
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    assert_int_equal(tss_coverage_errors(c), 0);
    tss_coverage_close(c);
    tss_store_close(r);
}

static void test_late_segment_keeps_interval(void **state)
{
    char dir[4096], table[4096];
    tss_store *w;
    uint64_t n;
    int64_t from = 0, to = 0, interval = 0;

    tt_join(dir, sizeof(dir), *state, "store");
    w = tt_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, SPAN / 1000, NULL,
                NULL);
    /* every 10 s over the window, but for 5 readings at its middle */
    for (int64_t t = W0 + 500; t < W0 + SPAN; t += 10000)
        if (t < W0 + 3610000 || t > W0 + 3650000)
            add(w, t, 1.0);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    tss_store_close(w);
    gaps(dir, &n, &from, &to, &interval);
    assert_int_equal(n, 1);
    assert_int_equal(interval, 10000);
    assert_true(from <= W0 + 3610000 && to >= W0 + 3650000);

    /* two late points, 100 s apart, sealed into a second segment */
    w = tt_open(dir, TSS_OPEN_WRITER, SPAN / 1000, NULL, NULL);
    add(w, W0 + 1800250, 2.0);
    add(w, W0 + 1900250, 3.0);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    tss_store_close(w); /* saves the table with both sidecars */
    gaps(dir, &n, &from, &to, &interval);
    assert_int_equal(n, 1);
    assert_int_equal(interval, 10000);
    assert_true(from <= W0 + 3610000 && to >= W0 + 3650000);

    /* no table: a reader unions the sidecars in seq order itself */
    tt_join(table, sizeof(table), dir, "_coverage/table");
    tt_rmrf(table);
    gaps(dir, &n, &from, &to, &interval);
    assert_int_equal(n, 1);
    assert_int_equal(interval, 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_late_segment_keeps_interval,
                                        tt_setup, tt_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
