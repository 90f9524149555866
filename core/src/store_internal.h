/*
 * The tss_store handle, shared by store.c (open, write, seal) and query.c
 * (read). Private.
 */
#ifndef TSS_STORE_INTERNAL_H
#define TSS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "coverage.h"
#include "delset.h"
#include "head.h"
#include "snapshot.h"
#include "internal.h"
#include "storage.h"
#include "tsstore/mutation.h"
#include "tsstore/query.h"
#include "tsstore/store.h"

/*
 * A detached window on its way to disk: first the raw batch, then (once
 * encoded) its segment image. It stays queued, oldest first, until the
 * write succeeds.
 */

/* Late windows whose repeated late batches are tracked (tss_store_seal). */
#define TSS_LATE_WINDOWS 64

/* A window sealed late (a host whose clock is behind): how many of its
 * late batches were sealed, so the next waits longer. sealed 0: free. */
typedef struct tss_late_win {
    int64_t start;
    uint32_t sealed;
} tss_late_win;

typedef struct tss_pending {
    tss_head_batch batch; /* until encoded */
    char rel[160];        /* set when encoded */
    uint8_t *img;
    size_t len;
    uint64_t seq;
    char cov_rel[128]; /* the segment's coverage sidecar, written first */
    tss_buf cov_img;
    tss_sidecar cov;
    uint64_t points;
    uint64_t bytes; /* memory accounted against max_pending */
    struct tss_pending *next;
} tss_pending;

/* A rollup level in store units, levels sorted by `after`. */
typedef struct tss_rollup_level {
    int64_t after, resolution, keep;
    int64_t width; /* window of its segments: tss_rollup_width */
} tss_rollup_level;

struct tss_store {
    tss_storage *st;
    char *path;
    tss_store_info info;
    unsigned flags;
    int lock_fd;
    tss_log_fn log;
    void *log_ctx;
    const tss_io_ops *io;

    /* writer only */
    tss_head *head;
    int64_t grace;
    tss_late_win late[TSS_LATE_WINDOWS]; /* see late_hold (store.c) */
    uint64_t max_pending;
    pthread_mutex_t seal_mu; /* serialises seal calls; guards below */
    uint64_t next_seq;
    tss_pending *pending; /* oldest first */
    uint64_t pending_bytes;
    int64_t complain_next, complain_step; /* rate limit for write errors */
    bool complain_snapshot; /* the failing writes: head snapshot, else
                             * segments (which recovery to report) */
    tss_covtable *cov;      /* table coverage, kept current */
    tss_snapshot *snap;     /* head persistence */
    tss_delset deletes;     /* mutation documents; visible deletes filter
                               what is sealed */
    uint32_t compact_after; /* tombstoned segments that trigger compaction */
    /* what the apply pass of tss_store_open did (tss_store_open_applied) */
    tss_apply_result opened;
    /* uuids of the documents the last apply pass listed, sorted (under
     * seal_mu; handover.c) */
    uint8_t (*seen)[16];
    size_t nseen;
    tss_rollup_level rollups[TSS_MAX_ROLLUPS];
    unsigned nrollups;
    int64_t retention;        /* store units; 0: keep */
    uint64_t retention_bytes; /* 0: no limit */
    bool stats_published;     /* writer-stats.json: last published values */
    int64_t stats_published_at;
    uint64_t pub_late, pub_errors, pub_dropped;
    /* points sealed since the last base (not 0: a base is due, written
     * after the seal if base_worth_it, else before segments go) */
    uint64_t sealed_points;
    /* tss_store_snapshot_due: its interval (store units; 0 off) and the
     * last record's time (store units, tss_store_now) */
    int64_t snap_interval, snap_last;
    /* tss_store_snapshot callers that found the seal mutex held by long
     * work take a ticket (snap_asked); tss_store_snapshot_due serves every
     * ticket taken so far between two windows of the work, with one
     * synced record (snap_served, its result snap_served_rc), so that a
     * flush waits for a window, not for the whole work. Under ask_mu;
     * ask_cv (CLOCK_MONOTONIC) says a ticket was served. */
    pthread_mutex_t ask_mu;
    pthread_cond_t ask_cv;
    uint64_t snap_asked, snap_served;
    int snap_served_rc;
    bool cov_dirty; /* the table on disk lags s->cov: save */
    /* sidecar bytes added to s->cov since it was saved as version
     * cov_unsaved_ver (see save_coverage in store.c) */
    uint64_t cov_unsaved, cov_unsaved_ver;
    bool cov_stale; /* compaction changed segments, the table is
                       not rebuilt yet: retry */
    /* any handle: the head snapshot as coverage queries last read it,
     * under head_mu (snapshot_cache.c) */
    pthread_mutex_t head_mu;
    tss_snap_cache *head_cache;
    /* appended and late points are counted in the head's shards, under
     * the locks the appends take anyway */
    atomic_uint_fast64_t n_written, n_segments, n_bytes, n_errors, n_dropped;
};

/*
 * Brings table coverage up to date with the segments on disk: loads the
 * newest valid table snapshot (or starts empty; always with
 * `from_scratch`), then unions the sidecar of every segment with a seq
 * above the snapshot's. A sidecar that is missing
 * or corrupt is rebuilt from its segment (counted in *decoded); with
 * `repair` the rebuilt sidecar is written (a corrupt one is first renamed
 * aside with a ".corrupt" suffix) and sidecars without a segment are
 * removed. Corrupt segments are logged and skipped. *out is the table.
 */
typedef struct tss_cov_stats {
    uint64_t unioned; /* sidecars added on top of the snapshot */
    uint64_t decoded; /* segments decoded to rebuild a sidecar */
    uint64_t errors;  /* files skipped as unreadable */
} tss_cov_stats;

int tss_cov_collect(tss_store *s, bool repair, bool from_scratch,
                    tss_covtable **out, tss_cov_stats *st) TSS_WUR;

/* tss_cov_collect for a query: only the series `sel` selects (NULL: all),
 * the table loaded with tss_covtable_load_select (its bitmaps unparsed
 * until needed; it cannot be saved). `listed` (NULL: it lists them) are
 * the segment names (*.seg, sorted) the caller listed, still the
 * caller's. */
int tss_cov_collect_select(tss_store *s, bool repair, bool from_scratch,
                           const tss_cov_select *sel, char **listed,
                           size_t nlisted, tss_covtable **out,
                           tss_cov_stats *st) TSS_WUR;

/* True if a decoded series key passes the filter's glob and ds. */
bool tss_filter_match(const tss_filter *f, const tss_series_id *id);

/* Writer: rebuilds the table coverage from the sidecars (not from the old
 * snapshot: segments were removed, buckets must go) and saves it as a new
 * version. Caller holds seal_mu. */
int tss_store_cov_rebuild(tss_store *s) TSS_WUR;

/* The rebuild at the end of a pass (compaction, rollup, prune) that may
 * have failed with `rc`: returns rc, with its message still the thread's
 * error (the rebuild's own work clears and sets it), or when rc is 0 the
 * rebuild's code. After a failed pass, or a rebuild whose save failed,
 * the table stays stale (cov_stale): the next round rebuilds it again,
 * removing what the failure left (sidecars without a segment). */
int tss_store_cov_rebuild_after(tss_store *s, int rc) TSS_WUR;

/* Writer, before it removes segments no new segment supersedes (retention,
 * a rollup's Keep): saves an empty table with covered seq 0 as the next
 * version, so that until tss_store_cov_rebuild saves one without them,
 * readers and a writer restarted after a crash union the sidecars of the
 * segments still there instead of trusting a table that holds the buckets
 * of removed ones. Caller holds seal_mu. */
int tss_store_cov_invalidate(tss_store *s) TSS_WUR;

/* Writer, before a head snapshot base: writes the windows queued for
 * sealing (their segment write failed before), detached from the head, so
 * a new base would not hold them and writing it would remove the
 * generation that does. 0 when none is left queued; else the write's
 * error code, its message saying the base waits. Caller holds seal_mu. */
int tss_store_write_queued(tss_store *s, int64_t now) TSS_WUR;

/* The seal mutex held, before long work removes segments (compaction,
 * prune, rollup): writes the snapshot base a seal did not (a late batch:
 * base_worth_it), so that no intent record in the log names a segment
 * that is gone (recovery would restore its items a second time). 0 when
 * none was owed or it was written; else its error (the caller leaves the
 * segments for the next round). */
int tss_store_base_owed(tss_store *s, int64_t now) TSS_WUR;

/* The seal mutex held, between windows of long work (compaction, rollup,
 * prune, a table coverage rebuild): writes a head snapshot record if
 * snapshot_interval_ms has passed since the last one, or a synced one if
 * a tss_store_snapshot caller is waiting for the mutex (it then returns
 * that record's result). Failures are logged (rate-limited) and left to
 * the next record. */
void tss_store_snapshot_due(tss_store *s);

/* Writer open: tss_cov_collect with repair into s->cov; saves the table
 * if it moved. */
int tss_store_cov_recover(tss_store *s) TSS_WUR;

/* Records docs[0..n), listed by an apply pass, as the documents this
 * handle has seen (tss_store_close_writer looks for others). Under
 * seal_mu. Cannot fail: without memory, nothing counts as seen. */
void tss_store_note_seen(tss_store *s, const tss_mut *docs, size_t n);

#endif
