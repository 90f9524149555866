/*
 * Helpers of the retention and rollup tests: a fixed set of series (one of
 * each kind, two counters to wrap at 32 and at 64 bits), a store layout
 * with windows of known ages, an independent computation of the aggregates
 * a rollup must hold, and query results flattened into comparable rows.
 *
 * Store settings: milliseconds, 1 h segment span, 10 s buckets, no grace,
 * no automatic compaction. Windows are named by their start relative to
 * RU_NOW, the "now" every call of the code under test gets.
 */
#ifndef TSS_RET_UTIL_H
#define TSS_RET_UTIL_H

#include "test_util.h"

#include "tsstore/coverage.h"
#include "tsstore/mutation.h"
#include "tsstore/query.h"
#include "tsstore/stats.h"
#include "tsstore/store.h"

#define RU_SPAN INT64_C(3600000)
#define RU_HOUR RU_SPAN
#define RU_DAY INT64_C(86400000)
#define RU_STEP INT64_C(10000)
#define RU_BUCKET INT64_C(10000)
/* 2023-11-15T00:00:00Z: aligned to the span and to the day */
#define RU_NOW INT64_C(1700006400000)
#define RU_MIN INT64_C(60000)
#define RU_5MIN INT64_C(300000)

/* The series, by index. */
enum {
    RU_GAUGE,   /* h/ru/gauge value: NaN, an only-NaN interval, +Inf */
    RU_DERIVE,  /* h/ru/derive value: goes up and down */
    RU_C32,     /* h/ru/counter-32 value: wraps at 2^32 */
    RU_C64,     /* h/ru/counter-64 value: wraps at 2^64 */
    RU_ABS,     /* h/ru/absolute value: sums beyond 2^40 */
    RU_GAUGE_B, /* h/ru/gauge-b value: written in fewer windows */
    RU_NSERIES
};

extern const tss_series_id ru_series[RU_NSERIES];
extern const int ru_kind[RU_NSERIES];

/** Options: ms, 1 h span, 10 s buckets, grace 0, no auto compaction. */
void ru_options(tss_store_options *o, const tss_io_ops *io, tt_log *log);

/** The two rollup levels the rollup tests use: after 1 d at 1 min
 * (kept forever), after 3 d at 5 min (kept 10 d). */
void ru_levels(tss_store_options *o);

/** Opens or fails the test with the error message. */
tss_store *ru_open(const char *dir, unsigned flags, const tss_store_options *o);

/** Appends one point and records it in the model. */
void ru_put(tss_store *s, tt_model *m, unsigned series, int64_t t,
            uint64_t bits);

/** The value the layout writes for `series` at `t`, and whether it
 * writes one at all (the gaps). */
uint64_t ru_value(unsigned series, int64_t t);
bool ru_present(unsigned series, int64_t t);

/** Appends every series' points of the window starting at `start`. */
void ru_fill_window(tss_store *s, tt_model *m, int64_t start);

/** Seals everything (at RU_NOW) or fails. */
void ru_seal(tss_store *s);

/* ---- expected aggregates, computed without the code under test ------- */

/** One interval of a rollup, as the test expects it. */
typedef struct ru_interval {
    int64_t t;
    uint64_t count, valid;
    double min, max, sum; /* gauge (NaN when valid == 0) */
    uint64_t usum;        /* absolute */
    uint64_t first, last; /* raw bits */
    uint64_t wraps;       /* counter: 32-bit wraps inside the interval */
} ru_interval;

/**
 * Aggregates sorted points with unique times into intervals of `res`
 * (aligned to multiples of res). Returns the count; *out malloc()ed.
 */
size_t ru_aggregate(int kind, const tss_point *pts, size_t n, int64_t res,
                    ru_interval **out);

/* ---- rows: query results flattened ----------------------------------- */

/** One value a query returned: a raw point (res 0, agg 0) or an
 * aggregate of an interval. */
typedef struct ru_row {
    int series;
    int64_t res;
    int agg;
    int64_t t;
    uint64_t bits;
} ru_row;

typedef struct ru_rows {
    ru_row *v;
    size_t n, cap;
} ru_rows;

void ru_rows_push(ru_rows *r, int series, int64_t res, int agg, int64_t t,
                  uint64_t bits);
void ru_rows_free(ru_rows *r);
void ru_rows_sort(ru_rows *r);

/** Rows of the aggregates of intervals iv[0..n) of a series of `series`,
 * which are one rollup window's: a COUNTER's wraps rows only if one of
 * them has a wrap (the store writes the wraps chunk only then). */
void ru_rows_add_intervals(ru_rows *r, int series, int64_t res,
                           const ru_interval *iv, size_t n);

/**
 * Runs a query (filter f, NULL: everything at TSS_RES_AUTO) and returns
 * its rows, sorted; fails the test on an unknown series, an unreadable
 * file, a series info that disagrees with its points, or an aggregate
 * the series' kind does not keep.
 */
void ru_query_rows(tss_store *s, const tss_filter *f, ru_rows *out);

/** Rows of r with t in [from, to). */
void ru_rows_window(const ru_rows *r, int64_t from, int64_t to, ru_rows *out);

/** True if a and b hold the same rows (NaN aggregates of gauges compare
 * equal to any NaN; raw values and last/first bit for bit). */
bool ru_rows_equal(const ru_rows *a, const ru_rows *b);

/** Fails with a description of the first difference. */
void ru_assert_rows(const char *what, const ru_rows *got, const ru_rows *want);

/* ---- files ----------------------------------------------------------- */

/** A segment file as its name says (parsed by the test itself). */
typedef struct ru_seg {
    int64_t start, end;
    uint64_t seq;
    char uuid[37];
    char name[160];
} ru_seg;

/** Segment files of the store, sorted by (start, seq); *out malloc()ed. */
size_t ru_list_segments(const char *dir, ru_seg **out);

/** Bytes of a segment with its coverage sidecar and tombstones. */
uint64_t ru_segment_bytes(const char *dir, const ru_seg *sg);

/** Segments, coverage sidecars and tombstones: what RetentionSize
 * bounds, by walking the directories. */
uint64_t ru_budget_bytes(const char *dir);

/** Bytes of the files in dir/sub whose name ends with suffix. */
uint64_t ru_sum_suffix(const char *dir, const char *sub, const char *suffix);

/** Files in dir/sub whose name ends with suffix. */
size_t ru_count_suffix(const char *dir, const char *sub, const char *suffix);

/** True if dir/sub/name exists. */
bool ru_exists(const char *dir, const char *sub, const char *name);

/** tss_verify: fails listing the problems unless there are none. */
void ru_assert_verify_clean(const char *what, tss_store *s);

#endif
