/*
 * tsstore — reading a store: which series it holds, and their points.
 *
 * A query picks segments by window from the directory listing, merges
 * overlapping segments (for the same series and timestamp, the segment
 * written last wins), and yields series in identifier order with their
 * points in time order. It takes no lock: segments are immutable and appear
 * atomically, so a query runs safely while a writer works.
 *
 * A corrupt or unreadable file is reported through the store's log callback
 * (level ERR, naming the file), counted (tss_query_errors), and skipped; the
 * query goes on with the rest.
 */
#ifndef TSSTORE_QUERY_H
#define TSSTORE_QUERY_H

#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/series.h"
#include "tsstore/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What to read. Zero-initialise, then set what you need. */
typedef struct tss_filter {
    /** fnmatch(3) pattern (no flags: '*' also matches '/') on the
     * identifier host/plugin[-plugin_instance]/type[-type_instance];
     * NULL matches every series. */
    const char *series_glob;
    /** Exact data source name; NULL matches all. */
    const char *ds;
    /** Inclusive time range in store units; has_from/has_to enable them. */
    int64_t from, to;
    int has_from, has_to;
    /** Which data: 0 raw points (and the head); a resolution in store
     * units: that rollup level's aggregates; TSS_RES_AUTO: everything,
     * each window at the one resolution it is kept at. */
    int64_t resolution;
} tss_filter;

/** tss_filter.resolution: every resolution. */
#define TSS_RES_AUTO (-1)

/** Aggregates of rollup points (docs/format.md, "Rollups"). */
enum {
    TSS_AGGREGATE_MIN = 1,
    TSS_AGGREGATE_MAX = 2,
    TSS_AGGREGATE_SUM = 3,
    TSS_AGGREGATE_LAST = 4,
    TSS_AGGREGATE_COUNT = 5,
    TSS_AGGREGATE_VALID = 6, /**< gauge values that are not NaN */
    TSS_AGGREGATE_FIRST = 7,
    /** COUNTER: the 32-bit wraps inside the interval (the increase over
     * it is last - first + wraps * 2^32, modulo 2^64); only in windows
     * where some interval has one, 0 where absent */
    TSS_AGGREGATE_WRAPS = 8,
};

typedef struct tss_query tss_query;

/** One series of a query result. Strings valid until the next call. */
typedef struct tss_series_info {
    tss_series_id id;
    int kind;
    int64_t resolution;  /**< 0: raw points; else a rollup's interval */
    int aggregate;       /**< rollups: TSS_AGGREGATE_*; 0 for raw */
    int value_kind;      /**< kind of the points' values (count and valid
                              are unsigned integers) */
    uint64_t count;      /**< points within the filter's range */
    int64_t first, last; /**< store units; 0 when count is 0 */
} tss_series_info;

/**
 * Starts a query on an open store (reader or writer handle). Lists and
 * opens the segments whose window meets the range. Errors: TSS_EINVAL (bad
 * filter), TSS_EIO (cannot list), TSS_ENOMEM. Corrupt segments are skipped,
 * not errors. Free with tss_query_close. A query is used by one thread.
 */
int tss_query_open(tss_query **out, tss_store *s, const tss_filter *f) TSS_WUR;

/**
 * Advances to the next matching series with at least one point in range
 * and fills *out. Returns 1 (a series), 0 (no more) or a negative error
 * (TSS_ENOMEM).
 */
int tss_query_next(tss_query *q, tss_series_info *out) TSS_WUR;

/**
 * Points of the current series within the range, sorted by time, unique
 * timestamps. *pts stays valid until the next tss_query_next or close.
 * Returns 0 or TSS_ENOMEM.
 */
int tss_query_points(tss_query *q, const tss_point **pts, size_t *n) TSS_WUR;

/**
 * Positions the query at one series (identifier and kind) and fills *out
 * as tss_query_next would; tss_query_points then gives its points, and
 * tss_query_next goes on with the series after it. For readers that need
 * another order than the identifier's (OpenMetrics groups by metric
 * name). Returns 1, 0 if the query holds no such series with a point in
 * range, or a negative error (TSS_EINVAL: identifier too long).
 */
int tss_query_seek(tss_query *q, const tss_series_id *id, int kind,
                   tss_series_info *out) TSS_WUR;

/** Number of files or chunks skipped because they were unreadable
 * (segments, tombstones, chunks, mutation documents). */
uint64_t tss_query_errors(const tss_query *q);

/** Number of segment files the query read. */
size_t tss_query_segments(const tss_query *q);

void tss_query_close(tss_query *q);

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_QUERY_H */
