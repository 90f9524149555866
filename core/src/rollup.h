/*
 * Rollups: data older than a configured age kept as aggregates per interval
 * instead of raw points, in rollup segments (segment.h with the ROLLUP
 * header flag and the resolution at offset 104).
 *
 * A rollup segment holds, per series, one chunk per aggregate; the entry's
 * key is the series key followed by one aggregate byte, so the entries of a
 * series sort together, aggregates in byte order. Each point of such a
 * chunk is (interval start, aggregate over [start, start + resolution)).
 * The aggregates depend on the series' kind, so that rates and means stay
 * exact over any span of whole intervals:
 *
 *   GAUGE     min, max, sum, last, count, valid   (mean = sum / valid; NaN
 *             values count in count but not in min, max, sum or valid;
 *             an interval of only NaN has min = max = sum = NaN)
 *   DERIVE,
 *   COUNTER   first, last, count   (raw values: rates over whole intervals
 *             are last - first and, between intervals, next first - last,
 *             counter wraps included)
 *   ABSOLUTE  sum, count
 *
 * count and valid are unsigned integers (COUNTER coding); the others have
 * the series' kind (sum of an ABSOLUTE is an ABSOLUTE).
 *
 * A rollup segment supersedes the segments of its window it summarises
 * (the compaction rule), so every window is kept at exactly one
 * resolution.
 */
#ifndef TSS_ROLLUP_H
#define TSS_ROLLUP_H

#include <stdbool.h>
#include <stdint.h>

enum {
    TSS_AGG_MIN = 1,
    TSS_AGG_MAX = 2,
    TSS_AGG_SUM = 3,
    TSS_AGG_LAST = 4,
    TSS_AGG_COUNT = 5,
    TSS_AGG_VALID = 6,
    TSS_AGG_FIRST = 7,
};

/** True if `agg` is an aggregate kept for series of `kind`. */
bool tss_agg_valid(int kind, int agg);

/** Kind of the values of aggregate `agg` of a series of `kind`. */
int tss_agg_kind(int kind, int agg);

/** "min", "max", "sum", "last", "count", "valid", "first". */
const char *tss_agg_name(int agg);

#endif /* TSS_ROLLUP_H */
