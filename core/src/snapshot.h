/*
 * Head snapshots: the writer's in-memory head persisted so that a crash
 * (kill -9 at any instant) loses at most one snapshot interval.
 *
 * Design: a base image plus an append-only log of deltas.
 *
 *   head/base-<gen>.snap   the whole head at one moment (write_new)
 *   head/log-<gen>         records appended since that base
 *
 * A delta record carries, per head item (one series' points of one window)
 * that changed since the previous record, the encoder bits appended since
 * then — the very bits the head holds, coded against the state the encoder
 * had at the previous record, so a point costs in the log what it costs in
 * memory (a few bits) plus ~2 bits of framing per item, and a few bytes
 * per group of 128 ids, so that a reader that wants some series skips the
 * groups that hold none of them. Rewriting the head
 * every interval would write it ~700 times over a 2 h window; the log
 * writes each point once. A new base (gen + 1) is written after the writer
 * seals windows (the head is small then), after recovery, and when a log
 * append failed; the previous generation is removed once the new base is
 * on disk.
 *
 * Recovery: take the highest gen whose base reads back valid; replay its log
 * record by record up to the first bad one. A crash mid-append can only cut
 * the last record short (its frame runs past the end of the file, or the
 * bytes left are no record and no whole record follows them): that torn
 * tail is dropped with a WARNING. Anything else — a whole frame failing its
 * checksum, a record that is malformed, or a whole valid record after a bad
 * one — is corruption: the records before it are kept, the writer renames
 * the log "<name>.corrupt" (never deleted) and logs an ERROR naming it;
 * when log-<gen> is missing, log-<gen>.corrupt is replayed instead (the
 * writer moved it aside and died before its new base was on disk). A base
 * that fails its checksum is renamed "<name>.corrupt", logged, and the
 * next older generation is tried. Readers rename nothing.
 * Sealing writes an intent record "items I go to segment S" before S is
 * written; recovery drops those items if S exists, so points already sealed
 * are never restored twice.
 *
 * Base file:
 *   0   8  magic "\x89TSHBS\r\n"
 *   8   2  format version (1)     10 2 flags (0)     12 4 header length (64)
 *   16  8  generation
 *   24  8  written at (store units, wall clock)
 *   32  8  item count
 *   40 24  reserved, zero
 *   items, each (its id is its position, from 1):
 *     varint key length, key; zz window start; zz first arrival;
 *     varint count; if count > 0:
 *       zz t0, u64 v0, zz last t, u64 last delta, u64 last value,
 *       u64 last value delta, u8 lead, u8 trail,
 *       varint ts bits, ts bytes, varint value bits, value bytes
 *     varint out-of-order count, then per point zz t, u64 value bits
 *   u64 XXH3-64 of every byte before it
 *
 * Log record:
 *   u32 magic "TSL1", u32 body length, u64 XXH3-64 of the body, body
 *   body, type 1 (delta):
 *     u8 1
 *     varint new items; each (ids continue after the highest so far):
 *       varint key length, key, zz window start, zz first arrival,
 *       zz t0, u64 v0
 *     varint dropped ids (items resent whole under a new id), each varint
 *     varint out-of-order points; each varint id, zz t, u64 value bits
 *     varint changed items, varint bit-stream bytes, bit stream:
 *       per changed item in increasing id order: Elias gamma of the id gap
 *       (first gap from 0); count code ('0' = 1 point, else '1' + Elias
 *       gamma of count - 1); then the item's timestamp bits and value bits
 *       for those points (codec_gorilla.h), continuing its encoder
 *   body, type 3 (delta in groups of ids; what the writer writes):
 *     u8 3; new items, dropped ids and out-of-order points as in type 1;
 *     varint groups; each holds changed items of ids g * 128 .. g * 128 +
 *     127 (TSS_SNAP_GROUP_SHIFT), in increasing g:
 *       varint g (the first group: g; then g - previous g - 1),
 *       varint changed items - 1, varint bit-stream bytes, bit stream: as
 *       type 1's, the first id gap from g * 128 - 1, zero bits to the end
 *       of its last byte
 *     so that a reader that wants none of a group's items skips its bytes
 *     (tss_snapshot_load_sel); type 1 is read, never written. The writer
 *     numbers a base's items and a record's new items in key order, so a
 *     host's series have neighbouring ids (tss_snap_rank)
 *   body, type 2 (intent):
 *     u8 2, varint length + segment path, varint n, n varint item ids
 *
 * Durability: records are written (write(2)) every snapshot interval, so a
 * killed process loses at most one interval; the log is fsynced every
 * `sync interval` (and at seals, flush and shutdown), which bounds what a
 * power failure loses. Each fsync makes the log's last page clean, so
 * syncing every record would cost a 4 KiB page write per interval.
 */
#ifndef TSS_SNAPSHOT_H
#define TSS_SNAPSHOT_H

#include "head.h"
#include "internal.h"
#include "storage.h"
#include "tsstore/store.h"

#define TSS_HEAD_DIR "head"

/** One restored item. */
typedef struct tss_snap_item {
    uint8_t *key;
    size_t key_len;
    int64_t start, first_arrival;
    tss_enc enc;
    tss_point *ooo;
    uint32_t nooo, cap_ooo;
    uint32_t id;
    bool dropped;
} tss_snap_item;

/** What a snapshot holds. */
typedef struct tss_snap_view {
    /* the items loaded, in increasing id order: every one of ids 1..last_id
     * in a whole view (items[i].id == i + 1, n == last_id); in a partial
     * one only those of the groups it loads, the others are not stored */
    tss_snap_item *items;
    size_t n, cap;
    uint64_t last_id;   /* the highest id the base and records gave */
    uint64_t gen;       /* 0: no snapshot */
    int64_t written_at; /* store units: base write or last record */
    uint64_t records, bytes;
    /* log-<gen> holds a corrupt record (not a torn tail) and is still
     * under its own name: the writer could not move it aside */
    bool log_kept;
    /* a partial load (tss_snap_sel): groups[g] != 0 if the items of the
     * ids in group g (id >> TSS_SNAP_GROUP_SHIFT) are loaded, g <
     * ngroups; NULL: every item is */
    uint8_t *groups;
    size_t ngroups, groups_cap;
    /* the highest generation of a base on disk when the load listed them,
     * loaded or passed over as corrupt: a reader that finds a newer one
     * since loads again (a base passed over is no reason to) */
    uint64_t newest_seen;
    /* files of the head snapshot passed over as damaged (a corrupt base,
     * a log's records from a corrupt one on), each logged as an ERROR:
     * a reader counts them as unreadable files it skipped */
    unsigned damaged;
    /* tss_snap_by_id's last answer in a partial view, where it looks
     * first: a record's changed items come in increasing id order */
    size_t by_id_hint;
} tss_snap_view;

/** Ids per group of a type 3 delta record: 1 << TSS_SNAP_GROUP_SHIFT. */
#define TSS_SNAP_GROUP_SHIFT 7

/**
 * The series a reader wants from the head: want(ctx, key, len) is true
 * for the series key of each of them (it may be true for more; never
 * false for one of them). A load with a selection is partial: it loads
 * the items of every group of ids (type 3 records) that holds a wanted
 * item, and leaves the others out (not in the view's items). A log with
 * type 1 records (written before groups) is loaded whole.
 */
typedef struct tss_snap_sel {
    bool (*want)(const void *ctx, const uint8_t *key, size_t len);
    const void *ctx;
} tss_snap_sel;

/**
 * Loads the newest valid snapshot (see recovery above) into *out. With
 * `repair` (the writer), a corrupt base or log is renamed aside; without,
 * nothing on disk changes. Corrupt files are logged through `log` as
 * ERRORs naming them, never fatal: a corrupt base gives the next older one
 * (or an empty view), a log is replayed up to its first bad record. A file
 * that cannot be read (an I/O error, no memory) fails the load: it may be
 * whole, and recovering without it would lose what it holds. A rename
 * that fails does not (the writer must go on storing points); it is
 * logged, and out->log_kept set for a log. Errors: TSS_ENOMEM, TSS_EIO.
 */
int tss_snapshot_load(tss_storage *st, const tss_store_info *info,
                      tss_log_fn log, void *log_ctx, bool repair,
                      tss_snap_view *out) TSS_WUR;

/**
 * tss_snapshot_load without repair, of the series `sel` wants (NULL:
 * all): every wanted item is in *out as a full load has it; items of
 * other series may be, or be left out (not in out->items). Reads the
 * base and log whole, but decodes only the groups of ids that hold wanted
 * items: reading one series' head costs its group's share of the decoding
 * (docs/benchmarks.md, "Coverage queries"). A group left out is not
 * decoded, so damage inside it that its record's checksum missed is not
 * seen. Errors and logs as tss_snapshot_load.
 */
int tss_snapshot_load_sel(tss_storage *st, const tss_store_info *info,
                          tss_log_fn log, void *log_ctx,
                          const tss_snap_sel *sel, tss_snap_view *out) TSS_WUR;

void tss_snap_view_free(tss_snap_view *v);

/**
 * A reader's copy of the head snapshot (snapshot_cache.c): the view a load
 * gave, brought up to date at each call by replaying only the log records
 * appended since, while the generation and its log stay the same; a full
 * load otherwise. Free with tss_snap_cache_free (NULL is a no-op).
 */
typedef struct tss_snap_cache tss_snap_cache;

/**
 * Brings *cache (NULL: created here) up to date with the snapshot on disk
 * and points *view at its view: what tss_snapshot_load (without repair)
 * would load now, at least for the series whose keys lie in [lo, hi)
 * (memcmp order; NULL: unbounded). A cache's first load is partial, of
 * those series (tss_snapshot_load_sel); a later call for the same bounds
 * reads on from it, and one for other bounds loads everything, once: a
 * handle that queries different series goes on reading on from there. The view
 * stays owned by the cache, valid until the next call or tss_snap_cache_free;
 * callers may not change it. Errors and logs as tss_snapshot_load (then the
 * cache is empty, and the next call loads in full). Not thread safe: one caller
 * at a time per cache, holding its lock while it uses the view.
 */
int tss_snap_cache_load(tss_snap_cache **cache, tss_storage *st,
                        const tss_store_info *info, tss_log_fn log,
                        void *log_ctx, const uint8_t *lo, size_t lo_len,
                        const uint8_t *hi, size_t hi_len,
                        const tss_snap_view **view) TSS_WUR;

/**
 * The items of the cache's view whose key lies in [lo, hi) (memcmp order;
 * NULL: unbounded), as positions in view->items sorted by key: (*idx)[0]
 * to (*idx)[*n - 1], valid until the next call on the cache. Sorts the
 * items when the view gained some since the last call. TSS_ENOMEM. Same
 * locking as tss_snap_cache_load.
 */
int tss_snap_cache_range(tss_snap_cache *c, const uint8_t *lo, size_t lo_len,
                         const uint8_t *hi, size_t hi_len, const uint32_t **idx,
                         size_t *n) TSS_WUR;

void tss_snap_cache_free(tss_snap_cache *c);

/** The newest base generation on disk (0 if none or the listing fails). */
uint64_t tss_snapshot_newest(tss_storage *st);

/** The writer's side. */
typedef struct tss_snapshot tss_snapshot;

/**
 * Recovers the head from disk (load, then hand every live item to `head`),
 * writes a fresh base and starts its log. `sync_interval` and `now` in
 * store units. `stage_dir` (NULL: none): a directory on a memory file
 * system where records wait between fsyncs (snapshot_stage.c); staged
 * records a killed writer left are appended to their logs first. A fresh base
 * that cannot be written (a full disk) is logged and left to the next
 * tss_snapshot_write; the recovered generation stays on disk until then. Logs
 * the load time and what was recovered.
 */
int tss_snapshot_open(tss_snapshot **out, tss_storage *st,
                      const tss_store_info *info, tss_head *head,
                      int64_t sync_interval, const char *stage_dir, int64_t now,
                      tss_log_fn log, void *log_ctx) TSS_WUR;

/**
 * Whether the next tss_snapshot_write must write a base (a log append or
 * fsync failed, or none was written yet in this generation). Not thread
 * safe: the writer's thread, like tss_snapshot_write.
 */
bool tss_snapshot_needs_base(const tss_snapshot *sn);

/** Writes what changed since the last record (a new base if one is due).
 * `sync` forces an fsync. Returns 0 or the I/O error (the data stays in
 * memory; the next call writes a new base). */
int tss_snapshot_write(tss_snapshot *sn, int64_t now, bool sync) TSS_WUR;

/** Writes a new base (after seals) and drops the previous generation. */
int tss_snapshot_base(tss_snapshot *sn, int64_t now) TSS_WUR;

/** Records that the detached items of batch `b` go to segment `rel`, and
 * fsyncs the log: the record must be durable before the segment is. */
int tss_snapshot_intent(tss_snapshot *sn, const char *rel,
                        const tss_head_batch *b) TSS_WUR;

/** Stats for tss_writer_stats. */
typedef struct tss_snapshot_stats {
    uint64_t gen, records, bytes_written, bases_written;
    int64_t last_write; /* store units; 0 never */
} tss_snapshot_stats;

void tss_snapshot_stats_get(const tss_snapshot *sn, tss_snapshot_stats *out);

/** Swaps the storage handle (after the store reopened a failed one). */
void tss_snapshot_set_storage(tss_snapshot *sn, tss_storage *st);

void tss_snapshot_close(tss_snapshot *sn);

#endif /* TSS_SNAPSHOT_H */
