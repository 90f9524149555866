/*
 * The head: in-memory, compressed points of windows not yet sealed.
 *
 * Sharded by series-key hash, one mutex per shard, so collectd's write
 * threads append concurrently. Per series, per window, points that arrive
 * in increasing time order go into an incremental encoder (codec_gorilla);
 * anything else (out of order, duplicate timestamps) goes to a small
 * out-of-order buffer. Reading a window merges the two: for equal
 * timestamps the point that arrived last wins. Every out-of-order point
 * arrived after every encoded point with the same timestamp (the encoder
 * only takes times beyond its last one), so "last wins" is: the latest
 * out-of-order entry, else the encoded one.
 *
 * No function here does I/O, so no shard lock is ever held across I/O.
 */
#ifndef TSS_HEAD_H
#define TSS_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec_gorilla.h"
#include "internal.h"
#include "tsstore/series.h"

typedef struct tss_head tss_head;

/** Creates a head with `nshards` shards (rounded up to a power of two) for
 * windows of `span` store units. */
int tss_head_create(tss_head **out, unsigned nshards, int64_t span) TSS_WUR;
void tss_head_free(tss_head *h);

/** Start of the window holding t: floor(t / span) * span. */
int64_t tss_head_window(const tss_head *h, int64_t t);

/**
 * Appends one point. `key` is a valid series key (series.h), `hash` its
 * tss_key_hash. `now` (store units, wall clock) stamps a window's first
 * arrival for late-batch timing; the point counts as late when its window
 * ended at least `grace` before `now`. Thread safe. TSS_ENOMEM on failure (the
 * head is unchanged).
 */
int tss_head_append(tss_head *h, const uint8_t *key, size_t key_len,
                    uint64_t hash, int64_t t, tss_value v, int64_t now,
                    int64_t grace) TSS_WUR;

/**
 * Adds one point the head held before (recovery merging a snapshot's
 * second item for a window into the first): as tss_head_append, but the
 * point is not counted as appended nor as late (tss_head_stats), and a
 * window it creates is stamped `first_arrival`. Thread safe. TSS_ENOMEM
 * on failure (the head is unchanged).
 */
int tss_head_readd(tss_head *h, const uint8_t *key, size_t key_len,
                   uint64_t hash, int64_t t, tss_value v,
                   int64_t first_arrival) TSS_WUR;

/** Per-window summary of what the head holds. */
typedef struct tss_head_winfo {
    int64_t start;
    int64_t first_arrival; /* earliest arrival stamp among its series */
    uint64_t points;       /* including out-of-order duplicates */
} tss_head_winfo;

/** Lists the windows present (unsorted). *out is tss_free()d by the caller. */
int tss_head_windows(tss_head *h, tss_head_winfo **out, size_t *n) TSS_WUR;

/** One detached series window (opaque; owned by its batch). */
typedef struct tss_head_item tss_head_item;

/** All detached series windows of one window start, sorted by key. */
typedef struct tss_head_batch {
    int64_t start;
    tss_head_item *items; /* linked list, walk with tss_head_item_next */
    size_t n;
    uint64_t points;
} tss_head_batch;

/**
 * Detaches every series window whose start is in starts[0..nstarts) from
 * the head and returns them as batches in out[] (caller-allocated, room for
 * nstarts; *nout filled), sorted by start, items sorted by key. Shard locks
 * are held only to unlink; no point is decoded under a lock, and nothing is
 * allocated (an item holds its series key). Free each batch with
 * tss_head_batch_free. Thread safe.
 */
void tss_head_detach(tss_head *h, const int64_t *starts, size_t nstarts,
                     tss_head_batch *out, size_t *nout);

const tss_head_item *tss_head_item_next(const tss_head_item *it);
const uint8_t *tss_head_item_key(const tss_head_item *it, size_t *len);

/**
 * Decodes an item's points merged (sorted, unique times, last arrival wins)
 * into *pts (tss_realloc'ed; *n set, *cap capacity). TSS_ENOMEM or
 * TSS_ECORRUPT (encoder damage; cannot happen without a bug).
 */
int tss_head_item_points(const tss_head_item *it, tss_point **pts, size_t *n,
                         size_t *cap) TSS_WUR;

void tss_head_batch_free(tss_head_batch *b);

/* ---- snapshot support (snapshot.c) ------------------------------------ */

/**
 * Per-item snapshot bookkeeping. head.c zeroes it for new items and sets
 * `reset` when it rebuilds an item's encoder; snapshot.c owns the rest.
 */
typedef struct tss_snapcur {
    uint32_t id;    /* item id in the current snapshot generation, 0: none */
    uint32_t count; /* encoder points already in the snapshot */
    /* encoder stream positions at that point (a head stream is shorter
     * than 2^31 bits: TSS_HENC_MAX_BYTES) */
    uint32_t ts_bits, val_bits;
    uint32_t nooo; /* out-of-order points already in the snapshot */
    /* a snapshot being written: committed only once it is on disk */
    uint32_t pend_id, pend_count, pend_nooo;
    uint32_t pend_ts_bits, pend_val_bits;
    bool reset; /* encoder rebuilt since: resend the item whole */
    bool pend;
    bool pend_reset; /* `reset` was consumed by the pending snapshot */
} tss_snapcur;

/** What a visitor sees of one item, with its shard's lock held. */
typedef struct tss_head_view {
    const uint8_t *key;
    size_t key_len;
    int64_t start, first_arrival;
    const tss_enc *enc; /* a view of the item's encoder (tss_henc_view) */
    const tss_point *ooo;
    uint32_t nooo;
    tss_snapcur *cur;
} tss_head_view;

/**
 * Calls fn for every item, shard by shard, holding that shard's lock: fn
 * must only copy memory (no I/O, no blocking). Stops at and returns the
 * first nonzero result of fn.
 */
int tss_head_visit(tss_head *h, int (*fn)(void *ctx, tss_head_view *v),
                   void *ctx) TSS_WUR;

/**
 * Inserts a recovered item. On success the head has copied and freed
 * enc's buffers (enc is zeroed) and `ooo` (tss_malloc'ed, nooo points); on
 * failure both stay the caller's. TSS_EINVAL if the series already has
 * that window or a stream is too long for the head (TSS_HENC_MAX_BYTES);
 * TSS_ENOMEM.
 */
int tss_head_restore(tss_head *h, const uint8_t *key, size_t key_len,
                     int64_t start, int64_t first_arrival, tss_enc *enc,
                     tss_point *ooo, uint32_t nooo) TSS_WUR;

/** A detached item's snapshot id (0 if it never reached a snapshot). */
uint32_t tss_head_item_snap_id(const tss_head_item *it);

/**
 * Merges an encoder's points with out-of-order points (last arrival wins)
 * into *pts (tss_realloc'ed; *n set, *cap capacity). For readers of a head
 * snapshot. TSS_ENOMEM, TSS_ECORRUPT.
 */
int tss_head_points_of(const tss_enc *enc, const tss_point *ooo, uint32_t nooo,
                       tss_point **pts, size_t *n, size_t *cap) TSS_WUR;

/**
 * Deletes from the head the points in [from, to] (store units, inclusive)
 * of every series whose key `match` accepts (called with the shard lock
 * held: no I/O). Rebuilt items are marked for a whole resend in the
 * snapshot; callers write a new snapshot base afterwards. *removed counts
 * the points dropped. TSS_ENOMEM leaves the head consistent (items done so
 * far are filtered, the rest untouched).
 */
int tss_head_filter(tss_head *h,
                    bool (*match)(void *ctx, const uint8_t *key, size_t len),
                    void *ctx, int64_t from, int64_t to,
                    uint64_t *removed) TSS_WUR;

/** Figures for stats: series, points and bytes currently in the head. */
typedef struct tss_head_stats {
    uint64_t series, points, bytes, out_of_order;
    uint64_t appended, late; /* since the head was created */
} tss_head_stats;

void tss_head_stats_get(tss_head *h, tss_head_stats *out);

/**
 * Merges encoded points enc[0..ne) (sorted, unique) with out-of-order points
 * ooo[0..no) (arrival order) into out (room for ne + no points), last
 * arrival winning; returns the merged count. Exposed for tests.
 */
size_t tss_head_merge(const tss_point *enc, size_t ne, tss_point *ooo,
                      size_t no, tss_point *out);

#endif /* TSS_HEAD_H */
