/*
 * Compaction of windows and cleanup of superseded segments (compact.c).
 */
#ifndef TSS_COMPACT_H
#define TSS_COMPACT_H

#include "coverage.h"
#include "delset.h"
#include "segment.h"
#include "storage.h"
#include "tsstore/store.h"

/** Segment names on disk, sorted by (window start, seq). *out tss_free. */
int tss_list_segments(tss_storage *st, tss_seg_name **out, size_t *n) TSS_WUR;

/**
 * Removes a segment and what belongs to it: the segment first (from then
 * on it is invisible), then its coverage sidecar, then its tombstones, so
 * a visible segment never lacks its sidecar or tombstones. Missing files
 * are not errors.
 */
int tss_remove_segment(tss_storage *st, const tss_seg_name *sn) TSS_WUR;

/** Removes every segment another segment of its window supersedes, and
 * tombstones whose segment is gone (a compaction interrupted before its
 * cleanup); *removed counts both. */
int tss_remove_superseded(tss_storage *st, tss_log_fn log, void *log_ctx,
                          uint64_t *removed) TSS_WUR;

typedef struct tss_compact_out {
    bool wrote;        /* false: every point was deleted, nothing written */
    tss_seg_name name; /* the new segment, when wrote */
    tss_sidecar cov;   /* its coverage (caller frees) */
    uint64_t bytes_read, bytes_written, points_before, points_after;
} tss_compact_out;

/**
 * Rewrites the window's segments segs[0..n) (all of the window, sorted by
 * seq) into one new segment with `seq`, merged last-written-wins and
 * without the points `del` and their tombstones delete; writes its sidecar
 * first; then removes the old segments with their sidecars and
 * tombstones. On error the old segments stay visible (unless the new one
 * was written, which supersedes them). If every point was deleted
 * (out->wrote false) nothing is written or removed: nothing supersedes
 * the old segments, so the caller invalidates the table coverage
 * (tss_store_cov_invalidate) before it removes them.
 */
int tss_compact_window(tss_storage *st, const tss_store_info *info,
                       const tss_seg_name *segs, size_t n, uint64_t seq,
                       const tss_delset *del, tss_compact_out *out) TSS_WUR;

#endif
