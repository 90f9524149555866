/*
 * tsstore — a store (one DataDir): open, create, write, seal.
 *
 * One process writes a store at a time (flock on DataDir/LOCK); any number
 * of processes read it without a lock, because segments are immutable and
 * every replacement is an atomic rename.
 *
 * Time: every timestamp and duration in this API is in the store's
 * precision ("store units"): units_per_second of them make a second
 * (1000 by default: milliseconds since the Unix epoch).
 */
#ifndef TSSTORE_STORE_H
#define TSSTORE_STORE_H

#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/io.h"
#include "tsstore/series.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Timestamps must lie in [-TSS_TIME_LIMIT, TSS_TIME_LIMIT] store units. */
#define TSS_TIME_LIMIT (INT64_C(1) << 62)

typedef struct tss_store tss_store;

/** tss_store_open flags. */
enum {
    TSS_OPEN_CREATE = 1, /**< create DataDir and its metadata if missing */
    TSS_OPEN_WRITER = 2, /**< take the writer LOCK; allows append/seal */
    /** With TSS_OPEN_WRITER: take the LOCK but change nothing at open (no
     * temp-file cleanup, no recovery of coverage, head or deletes, no
     * compaction); the handle cannot append or seal. For tss_verify's
     * repairs, which then report every change they make. */
    TSS_OPEN_NO_RECOVERY = 4,
};

/** Most rollup levels a writer takes. */
#define TSS_MAX_ROLLUPS 8

/** One rollup level: windows older than `after` seconds are kept as
 * aggregates per `resolution` seconds, for `keep` seconds of age (0:
 * forever). See tss_store_rollup. */
typedef struct tss_rollup_spec {
    int64_t after_seconds, resolution_seconds, keep_seconds;
} tss_rollup_spec;

/**
 * Options. Initialise with tss_store_options_init, then set fields. Store
 * settings (precision, span, bucket width) apply when a store is created;
 * opening an existing store uses its recorded settings and, where a set
 * field differs, says so through the log callback (NOTICE).
 */
typedef struct tss_store_options {
    /** Store units per second: 1, 1000, 1000000 or 1000000000; 0 = default
     * (1000). */
    uint32_t units_per_second;
    /** Segment window span, in seconds; 0 = default (7200). */
    int64_t span_seconds;
    /** Coverage bucket width in seconds; 0 = default (10). */
    int64_t bucket_seconds;
    /** Writer: seconds after a window's end (and after the first late point
     * of an already sealed window) before it is sealed. Default 300. */
    int64_t grace_seconds;
    /** Writer: number of head shards (locks); default 64. */
    unsigned shards;
    /** Writer: bytes of sealed-but-unwritten segment images kept in memory
     * while writes fail (disk full, EIO), retried every seal call; beyond
     * it the oldest is dropped with an ERROR. Default 256 MiB. */
    uint64_t max_pending_bytes;
    /** Writer: seconds between fsyncs of the head snapshot log; 0 syncs
     * every snapshot. A killed process loses nothing snapshotted either
     * way (the data is in the page cache); this bounds what a power
     * failure can lose: with a stage directory (below), a sync writes up
     * to the log's last whole 4 KiB page and the rest at the next sync,
     * so a record is on disk within two intervals. Default 60. */
    int64_t snapshot_sync_seconds;
    /** Writer: a directory on a memory file system (tmpfs, e.g.
     * "/dev/shm") where head snapshot records wait between fsyncs, in a
     * subdirectory `tsstore-<store uuid>-<dev>-<ino>` (the store
     * directory's; created, mode 0750, while records wait): a killed
     * process loses none of them, and the disk log gets one write of
     * whole pages per fsync instead of one per record, which the page
     * cache charges a page each time (docs/format.md, "Staged log
     * tail"). Records a killed
     * writer staged are moved to the disk log at the next open. A
     * directory that cannot be used is a WARNING, and records go straight
     * to the disk. NULL or "" (the default): none. Not copied: must
     * outlive tss_store_open only. */
    const char *snapshot_stage_dir;
    /** Writer: milliseconds between head snapshot records the store
     * writes on its own while its long work holds the seal mutex
     * (compaction, rollup, prune, a table coverage rebuild: between
     * windows), so that tss_store_snapshot, which waits for that mutex,
     * is not held off for the whole run and a killed process loses no
     * more than this; the writer's SnapshotInterval. 0: none (only
     * tss_store_snapshot writes records). */
    int64_t snapshot_interval_ms;
    /** Writer: compact automatically once this many segments carry
     * tombstones of visible deletes; 0 never (tsstore compact by hand).
     * Default 1: deleted points leave the disk at the next round. */
    uint32_t compact_after_segments;
    /** Writer: segments whose window ended at least this many seconds
     * ago (end + retention <= now) are removed (tss_store_prune); 0 keeps
     * everything. */
    int64_t retention_seconds;
    /** Writer: bytes the store's segments, sidecars and tombstones may
     * take; beyond it the oldest windows are removed; 0: no limit. */
    uint64_t retention_bytes;
    /** Writer: rollup levels, in increasing `after` and resolution; each
     * resolution divides the segment span and is a multiple of the bucket
     * width. None: keep raw points. */
    tss_rollup_spec rollups[TSS_MAX_ROLLUPS];
    unsigned nrollups;
    /** Writer: intervals a rollup segment's window aims to hold (its window
     * is the smallest span * 2^k, k <= 7, that holds them); 0: 256. 1
     * keeps rollups in windows of one span (tests use it to place windows
     * by hand). Keep it the same for a store: a rollup of a wider window
     * than the current levels make is left as it is. */
    uint32_t rollup_intervals;
    /** File-system operations; NULL = tss_io_default(). */
    const tss_io_ops *io;
    /** Log sink (may be NULL); called from the thread doing the work. */
    void (*log)(void *ctx, int level, const char *msg);
    void *log_ctx;
} tss_store_options;

/** Fills `o` with the defaults (zeros, grace 300 s, 64 shards, ...). */
void tss_store_options_init(tss_store_options *o);

/** A store's recorded settings. */
typedef struct tss_store_info {
    uint32_t format_version;
    uint32_t units_per_second;
    int64_t span;         /**< store units */
    int64_t bucket_width; /**< store units */
    int64_t created;      /**< seconds since the epoch */
    char uuid[37];
    const char *path;
} tss_store_info;

/**
 * Opens the store in directory `dir`. Without TSS_OPEN_CREATE a missing
 * store is TSS_ENOTFOUND; with it, the directory and metadata (STORE) are
 * created. With TSS_OPEN_WRITER the LOCK is taken (TSS_ELOCKED names the
 * holder's pid), stale temp files are removed, the head is set up and
 * pending mutation documents are applied (tss_store_apply_mutations; what
 * that did: tss_store_open_applied, in tsstore/mutation.h). Errors:
 * TSS_ENOTFOUND, TSS_ECORRUPT (STORE unreadable: message names the field),
 * TSS_EINVAL (bad options), TSS_ELOCKED, TSS_EIO, TSS_ENOSPC, TSS_ENOMEM. *out
 * is freed with tss_store_close. Thread safe (per call).
 */
int tss_store_open(tss_store **out, const char *dir, unsigned flags,
                   const tss_store_options *opts) TSS_WUR;

/**
 * Closes the store and releases the LOCK. A writer's unsealed head is
 * discarded: call tss_store_seal(..., TSS_SEAL_ALL, ...) first. Not thread
 * safe with any other call on the same handle. NULL is a no-op.
 */
void tss_store_close(tss_store *s);

/** Copies the store's settings into *out. Thread safe. */
void tss_store_info_get(const tss_store *s, tss_store_info *out);

/** Wall-clock time now, in store units. Thread safe. */
int64_t tss_store_now(const tss_store *s);

/**
 * Appends one point to the writer's head (memory only, no I/O). Safe to
 * call from many threads at once. `t` in store units. Errors: TSS_EINVAL
 * (not a writer, bad kind, identifier field too long, t out of range),
 * TSS_ENOMEM. The identifier strings are copied.
 */
int tss_store_append(tss_store *s, const tss_series_id *id, int kind, int64_t t,
                     tss_value v) TSS_WUR;

/** tss_store_seal flags. */
enum {
    TSS_SEAL_ALL = 1, /**< seal every window now, open ones included */
};

/** What one tss_store_seal call did. */
typedef struct tss_seal_result {
    uint32_t segments_written;
    uint64_t points_written;
    uint32_t pending; /**< segment images still waiting to be
                           written after failures */
    uint64_t pending_bytes;
    uint64_t points_dropped; /**< dropped to honour max_pending_bytes */
    int last_error;          /**< 0, or the code of the last failure */
} tss_seal_result;

/**
 * Seals due windows into segments: every window that ended at least
 * `grace` before `now` (store units) and whose first point arrived at least
 * `grace` before `now`; with TSS_SEAL_ALL every window. Segment images that
 * fail to write are kept in memory (bounded by max_pending_bytes) and
 * retried first on the next call. Returns 0 when everything due was
 * written, else the last error (TSS_EIO, TSS_ENOSPC, TSS_ENOMEM, ...);
 * data is never dropped for an error, only to honour the memory bound.
 * Failures are logged, rate-limited. Call from one thread at a time (an
 * internal mutex serialises callers); appends may run concurrently.
 */
int tss_store_seal(tss_store *s, int64_t now, unsigned flags,
                   tss_seal_result *res) TSS_WUR;

/** tss_store_snapshot flags. */
enum {
    TSS_SNAP_SYNC = 1, /**< fsync the snapshot log before returning */
};

/**
 * Persists the writer's head: appends what changed since the last call to
 * the head snapshot log in DataDir/head/ (or writes a new base image when
 * one is due). Once it returns 0, readers (tss_query_*, tsstore dump) see
 * every point appended before the call, and a crash of the process at any
 * later instant loses none of them. `now` in store units. Errors: TSS_EIO,
 * TSS_ENOSPC, TSS_ENOMEM — the head stays in memory and the next call
 * writes a complete new base. Failures are logged, rate-limited. Call from
 * one thread (shares the seal mutex). While long work holds that mutex (a
 * compaction, rollup, prune or delete, which run window by window), the
 * call does not wait for its end: the work writes a synced record before
 * its next window and the call returns that record's result (TSS_EIO,
 * TSS_ENOSPC, TSS_ENOMEM as above; the next call retries), so it usually
 * waits for one window's rewrite. It waits for the mutex as before while
 * the work is in its first steps (listing the segments, a base it owes
 * before removing any), and for the rest of the run when a new base is
 * due (a record failed) or the storage failed: those are written once
 * the run is over. The mutex is looked at every 20 ms while the call
 * waits.
 */
int tss_store_snapshot(tss_store *s, int64_t now, unsigned flags) TSS_WUR;

/**
 * Small state files of clients of a store — the read plugin's replay
 * positions — kept in DataDir/replay/<name>, replaced with write_atomic.
 * The writer never touches them; any handle may write them (no LOCK).
 * `name`: 1 to 128 of [A-Za-z0-9._-], not starting with '.'.
 * Errors: TSS_EINVAL (name), TSS_EIO, TSS_ENOSPC.
 */
int tss_store_client_state_put(tss_store *s, const char *name, const void *buf,
                               size_t len) TSS_WUR;

/**
 * Reads a client state file into buf[size]; *len gets its length.
 * TSS_ENOTFOUND if there is none, TSS_EINVAL if it is larger than size.
 */
int tss_store_client_state_get(tss_store *s, const char *name, void *buf,
                               size_t size, size_t *len) TSS_WUR;

/** What one tss_store_prune call did. */
typedef struct tss_prune_result {
    uint32_t segments_removed;
    uint64_t bytes_removed;
    int64_t oldest_kept; /**< start of the oldest window left, store units
                              (0 when none is left) */
    uint64_t bytes_left; /**< segments + sidecars + tombstones after */
} tss_prune_result;

/**
 * Writer: removes whole segments, oldest window first — every segment
 * whose window ended at least retention_seconds before `now`, then more
 * until the store holds at most retention_bytes (segments, sidecars and
 * tombstones; the head snapshot cannot be pruned). Each segment goes before
 * its sidecar and tombstones, so a visible segment never lacks them; the
 * table coverage is rebuilt. An INFO line says what went and why. No
 * retention option set: removes nothing (with `res`, still fills in
 * bytes_left and oldest_kept). Errors: TSS_EIO (what was removed stays
 * removed). Shares the seal mutex.
 */
int tss_store_prune(tss_store *s, int64_t now, tss_prune_result *res) TSS_WUR;

/** What one tss_store_rollup call did. */
typedef struct tss_rollup_result {
    uint32_t windows;         /**< windows rolled up */
    uint32_t windows_removed; /**< windows past their level's keep */
    uint64_t points_in;       /**< points and aggregates read */
    uint64_t points_out;      /**< aggregates written */
    uint64_t bytes_written;
} tss_rollup_result;

/**
 * Writer: for every window whose age (time since its end) reached a
 * rollup level's `after`, replaces its segments by one rollup segment of
 * aggregates per the level's resolution (gauges: min, max, sum, last,
 * count, valid; DERIVE/COUNTER: first, last, count; ABSOLUTE: sum, count —
 * docs/format.md), written by the compaction rule (it supersedes them, a
 * crash at any step is invisible); removes windows older than their
 * level's keep; rebuilds coverage. Logs an INFO line when it did something.
 * Errors: TSS_EIO, TSS_ENOSPC, TSS_ENOMEM. Shares the seal mutex.
 */
int tss_store_rollup(tss_store *s, int64_t now, tss_rollup_result *res) TSS_WUR;

/** Writer counters, since open. */
typedef struct tss_writer_stats {
    uint64_t series;      /**< series in the head */
    uint64_t head_points; /**< points in the head */
    uint64_t head_bytes;  /**< memory the head holds */
    uint64_t points_appended;
    uint64_t points_late;    /**< appended for an already due window */
    uint64_t points_written; /**< sealed into segments */
    uint64_t segments_written;
    uint64_t bytes_written;
    uint64_t write_errors;
    uint64_t pending_bytes;
    uint64_t points_dropped;
    uint64_t snapshot_gen;     /**< current head snapshot generation */
    uint64_t snapshot_bytes;   /**< written to head/ since open */
    uint64_t snapshot_records; /**< log records written since open */
    int64_t last_snapshot;     /**< store units; 0 if none yet */
} tss_writer_stats;

/** Fills *out. Thread safe. */
void tss_store_writer_stats(tss_store *s, tss_writer_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_STORE_H */
