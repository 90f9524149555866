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
 *   DERIVE    first, last, count   (raw values: the increase over an
 *             interval is last - first, between intervals next first -
 *             last)
 *   COUNTER   first, last, count, and wraps where it is not 0   (as DERIVE,
 *             modulo 2^64, plus wraps * 2^32 inside an interval: wraps
 *             counts the steps inside it where the counter went down from
 *             a value that fits in 32 bits, which collectd takes for a
 *             32-bit wrap (its counter_diff); a wrap of a 64-bit counter
 *             vanishes modulo 2^64. So the increase stays exact however
 *             often the counter wraps within an interval, as long as it
 *             wraps at most once between two raw values, as collectd's own
 *             rates assume. A wraps chunk is written only for a series
 *             whose window has an interval with a wrap inside; none means
 *             0 in every interval.)
 *   ABSOLUTE  sum, count
 *
 * count and valid are unsigned integers (COUNTER coding); the others have
 * the series' kind (sum of an ABSOLUTE is an ABSOLUTE).
 *
 * A rollup segment supersedes the segments of its window it summarises
 * (the compaction rule), so every window is kept at exactly one
 * resolution.
 *
 * Its window is wider than a raw segment's (tss_rollup_width): a chunk of
 * a few intervals would cost more in table entry and chunk header than in
 * data, so a rollup window holds TSS_ROLLUP_INTERVALS intervals, in
 * SegmentSpan * 2^k, aligned to its width; windows of coarser levels nest.
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
    TSS_AGG_WRAPS = 8,
};

/** One past the highest aggregate number. */
#define TSS_AGG_END 9

/** True if `agg` is an aggregate kept for series of `kind`. */
bool tss_agg_valid(int kind, int agg);

/** Kind of the values of aggregate `agg` of a series of `kind`. */
int tss_agg_kind(int kind, int agg);

/** "min", "max", "sum", "last", "count", "valid", "first", "wraps". */
const char *tss_agg_name(int agg);

/** Intervals a rollup window aims to hold (the last level may hold fewer:
 * see TSS_ROLLUP_MAX_SPANS). */
#define TSS_ROLLUP_INTERVALS 256
/** The widest rollup window, in segment spans (2^7: 256 h at 2 h). */
#define TSS_ROLLUP_MAX_SPANS 128

/**
 * Width of the segments of a rollup at `resolution`, in store units: the
 * smallest span * 2^k (k >= 0) that holds `intervals` intervals (0:
 * TSS_ROLLUP_INTERVALS), at most span * TSS_ROLLUP_MAX_SPANS. Windows start at
 * multiples of it, so each holds whole raw windows and whole windows of any
 * finer rollup. `span` and `resolution` > 0 (store units); pure, thread-safe.
 */
int64_t tss_rollup_width(int64_t span, int64_t resolution, uint32_t intervals);

/** True if [start, end) is a valid window for a segment of a store of
 * `span`: one aligned span (raw), or for a rollup (`rollup` true) span *
 * 2^k (k <= 7) aligned to its width. Pure, thread-safe. */
bool tss_window_valid(int64_t span, int64_t start, int64_t end, bool rollup);

#endif /* TSS_ROLLUP_H */
