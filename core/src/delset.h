/*
 * Deletes as readers see them: the mutation documents of a store and the
 * rule for when a delete takes effect (wal.h): a delete document's
 * predicate applies to every point once the document is visible or
 * compacted; a tombstone entry applies once its document is visible or
 * compacted, or when its document no longer exists (it was completed and
 * removed). Used by queries, sealing and compaction alike, so all three
 * hide exactly the same points.
 */
#ifndef TSS_DELSET_H
#define TSS_DELSET_H

#include "internal.h"
#include "tombstone.h"
#include "wal.h"

typedef struct tss_range {
    int64_t from, to; /* inclusive */
} tss_range;

/* An active delete whose series glob is a literal identifier (no `*`, `?`,
 * `[` or `\\`): found by binary search instead of fnmatch(3). */
typedef struct tss_delset_lit {
    const char *ident; /* the document's glob */
    size_t doc;        /* index in muts */
} tss_delset_lit;

typedef struct tss_delset {
    tss_mut *muts;
    size_t n;
    size_t active; /* visible or compacted deletes */
    /* documents the listing skipped as unreadable (corrupt), each logged
     * naming its file: a reader counts them with its other skipped files */
    size_t bad;
    /* index of the active deletes, rebuilt by load and resolve: literal
     * globs sorted by identifier, and the others (globs, or any series) */
    tss_delset_lit *lit;
    size_t nlit;
    size_t *wild;
    size_t nwild;
} tss_delset;

/** Loads every document (corrupt ones are logged and skipped, counted
 * in out->bad). */
int tss_delset_load(tss_storage *st, tss_log_fn log, void *log_ctx,
                    tss_delset *out) TSS_WUR;
void tss_delset_free(tss_delset *d);

/**
 * Readers: makes sure every document tombstones `t` name is in the set if
 * it exists. A tombstone whose document is not in a listing counts as
 * completed, but a listing can miss a document being replaced (its update
 * renames over it) while a reader lists: reads each such document by its
 * name, and adds it when it is there.
 */
int tss_delset_resolve(tss_storage *st, tss_delset *d,
                       const tss_tombstones *t) TSS_WUR;

/**
 * Ranges deleted from the series with key `key`: from active documents
 * whose predicate matches, and from tombstone entries `t` (may be NULL) for
 * that key that are in effect. Appends to *r (tss_realloc'ed; *n, *cap).
 * Cost: one identifier format, a binary search among the literal
 * predicates and fnmatch(3) of the others -- not one fnmatch per document
 * (1,000 deletes of single series would otherwise cost a query 1,000
 * fnmatch calls per series and segment).
 */
int tss_delset_ranges(const tss_delset *d, const tss_tombstones *t,
                      const uint8_t *key, size_t key_len, tss_range **r,
                      size_t *n, size_t *cap) TSS_WUR;

/** Removes from pts[0..*n) every point inside one of the ranges. */
void tss_range_filter(tss_point *pts, size_t *n, const tss_range *r, size_t nr);

/**
 * The document `mut` names if the set holds it, else NULL. A tombstone
 * entry whose document is not in the set (removed, or unreadable) is in
 * effect by itself; one whose document is there stands for that
 * document's predicate, which covers the same series and range.
 */
const tss_mut *tss_delset_find(const tss_delset *d, const uint8_t mut[16]);

/**
 * Coverage without decoding: the buckets of width `w` (bucket b spans
 * [b * w, (b + 1) * w)) that lie wholly inside range `r`, as [*first,
 * *last]; false when there is none. Only those are known to have lost
 * every point: a bucket the range covers in part may hold points outside
 * it, and keeps its coverage until compaction rebuilds the sidecar.
 */
bool tss_range_whole_buckets(const tss_range *r, int64_t w, int64_t *first,
                             int64_t *last);

#endif
