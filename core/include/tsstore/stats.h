/*
 * tsstore — store health figures, for `tsstore stats` and the collectd
 * read plugin `tsstore` (both print the same numbers, from this one
 * function).
 *
 * Figures the writer only knows in memory (write errors, late points) come
 * from DataDir/writer-stats.json, which the writer replaces atomically
 * (tss_store_publish_stats), so they are right in any process.
 */
#ifndef TSSTORE_STATS_H
#define TSSTORE_STATS_H

#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tss_store_stats {
    uint64_t series;      /**< series with data (segments and head) */
    uint64_t points;      /**< points in segments and the head */
    uint64_t segments;    /**< segment files */
    uint64_t head_points; /**< points in the head snapshot */
    /** bytes on disk, per kind of file */
    uint64_t bytes_segments, bytes_coverage, bytes_head, bytes_wal,
        bytes_tombstones, bytes_total;
    double bytes_per_point;     /**< bytes_total / points (0 when empty) */
    double snapshot_age;        /**< seconds since the head snapshot was last
                                     written; -1 if there is none */
    uint64_t pending_deletes;   /**< mutation documents not yet removed */
    uint64_t tombstoned_points; /**< points of deletes not yet compacted */
    double coverage_1h;         /**< mean coverage percent over the last hour
                                     of the series with data in it; -1 if none */
    /** from the writer's stats file; writer_stats_age < 0: no file */
    uint64_t late_points, write_errors, points_dropped, points_appended;
    double writer_stats_age; /**< seconds since the writer published */
    /** segment bytes and points per resolution (0: raw points; rollup
     * levels in increasing resolution) */
    struct {
        int64_t resolution; /**< store units */
        uint64_t bytes, points, segments;
    } per_resolution[TSS_MAX_ROLLUPS + 1];
    unsigned nresolutions;
    /** files the figures leave out because they could not be read (a
     * mutation document, a segment or sidecar; each logged): the figures
     * are then incomplete */
    uint64_t unreadable;
} tss_store_stats;

/**
 * Computes the figures for the store, reading directory listings, segment
 * headers, coverage (sidecars, table snapshot, head snapshot), mutation
 * documents and the writer's stats file; never a segment chunk. `now` in
 * store units. Reader or writer handle; no lock. Errors: TSS_EIO,
 * TSS_ENOMEM (unreadable single files are skipped and logged).
 */
int tss_store_stats_get(tss_store *s, int64_t now,
                        tss_store_stats *out) TSS_WUR;

/**
 * Writer: replaces DataDir/writer-stats.json (write_atomic) with the
 * writer's counters if they changed since the last call and at least
 * `min_interval` store units passed. Returns 0 or the I/O error.
 */
int tss_store_publish_stats(tss_store *s, int64_t now,
                            int64_t min_interval) TSS_WUR;

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_STATS_H */
