/*
 * tsstore — coverage: where is data, where is it missing.
 *
 * Coverage is kept as bitmaps of time buckets (bucket = floor(t /
 * bucket_width), the store's setting, 10 s by default) in which a series
 * has at least one point. A coverage query reads the table-level coverage
 * snapshot plus the sidecars of segments newer than it; it decodes no
 * segment chunk unless a sidecar is missing or corrupt (then it rebuilds
 * that one in memory, reports it, and counts it in
 * tss_coverage_segments_decoded).
 *
 * Gaps are judged against each series' own interval (the median spacing of
 * its points): a run of empty buckets is a gap when it is longer than the
 * interval rounded up to whole buckets, so a series written every 60 s is
 * not shown full of holes at a 10 s bucket width, and one bucket of timing
 * jitter is never a gap.
 */
#ifndef TSSTORE_COVERAGE_H
#define TSSTORE_COVERAGE_H

#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/query.h"
#include "tsstore/series.h"
#include "tsstore/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One run of a series' coverage: [from, to) in store units. */
typedef struct tss_cov_run {
    int64_t from, to;
    int covered; /**< 1: data; 0: a gap */
} tss_cov_run;

/** Coverage of one series over the judged range. Valid until the next
 * call on the query. */
typedef struct tss_coverage_series {
    tss_series_id id;
    int kind;
    int64_t interval;        /**< store units; 0 if unknown. Where no
                                  segment holds two of the series' points,
                                  the median distance between its buckets
                                  in the range, in whole buckets */
    int64_t from, to;        /**< the judged range, [from, to), store units */
    const tss_cov_run *runs; /**< alternating covered/gap runs, in order */
    size_t nruns;
    uint64_t gaps;    /**< number of gap runs */
    int64_t gap_time; /**< total length of the gaps, store units */
    double percent;   /**< 100 * (range - gaps) / range */
} tss_coverage_series;

typedef struct tss_coverage tss_coverage;

/**
 * Loads coverage for the series matching `f` (glob, ds). With f->has_from
 * / has_to the judged range is [from, to] (a series with nothing in it is
 * one gap); otherwise each series' own first to last bucket. Only what the
 * filter can match is read: a glob that starts with literal text (the
 * host, or its start) reads those series' part of the table snapshot and
 * of the head. Reader or writer handle; takes no store lock. The handle
 * keeps the head snapshot it read (memory: about the snapshot's size,
 * until tss_store_close) and, at the next query, reads only the log
 * records appended since: the first query on a handle reads the head
 * snapshot whole, later ones what changed. Errors: TSS_EINVAL (the range
 * ends before it starts), TSS_EIO, TSS_ENOMEM (corrupt files are logged,
 * counted in tss_coverage_errors and skipped). Free with
 * tss_coverage_close; a query is used by one thread, and queries on one
 * handle from several threads take turns reading the head.
 */
int tss_coverage_open(tss_coverage **out, tss_store *s,
                      const tss_filter *f) TSS_WUR;

/** Next series in identifier order: 1, 0 at the end, or TSS_ENOMEM. */
int tss_coverage_next(tss_coverage *c, tss_coverage_series *out) TSS_WUR;

/** Segments whose chunks had to be decoded (missing/corrupt sidecars). */
uint64_t tss_coverage_segments_decoded(const tss_coverage *c);

/** Files skipped as unreadable (sidecars, segments, tombstones,
 * mutation documents). */
uint64_t tss_coverage_errors(const tss_coverage *c);

void tss_coverage_close(tss_coverage *c);

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_COVERAGE_H */
