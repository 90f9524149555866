/*
 * tsstore — deletes and compaction, through the store's write-ahead log
 * of mutation documents (DataDir/wal/mutations/, format and state diagram
 * in docs/format.md).
 *
 * Anyone may create a document; only the process holding the writer LOCK
 * applies it (collectd's write_tsstore on its maintenance thread, or the
 * CLI when no writer runs). A delete becomes visible all at once: before
 * its document reaches "visible" no reader hides any of its points; after,
 * every reader hides all of them. Compaction then rewrites the affected
 * segments without the points, and the document goes away.
 */
#ifndef TSSTORE_MUTATION_H
#define TSSTORE_MUTATION_H

#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/query.h"
#include "tsstore/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** What to delete: series matching the glob (and ds), points in
 * [from, to] (store units, inclusive). Without has_to, `to` is the
 * document's creation time: everything stored so far. */
typedef struct tss_delete_spec {
    const char *series_glob; /**< fnmatch(3) on host/plugin[-pi]/type[-ti] */
    const char *ds;          /**< NULL: every data source */
    int has_from, has_to;
    int64_t from, to;
} tss_delete_spec;

/** Document states, as tss_mutation_state reports them. */
enum {
    TSS_MUTATION_REMOVED = 0, /**< done and gone (file removed) */
    TSS_MUTATION_INTENT = 1,
    TSS_MUTATION_APPLYING = 2,
    TSS_MUTATION_VISIBLE = 3,
    TSS_MUTATION_COMPACTED = 4,
};

/**
 * Creates a delete document in state "intent" (write_new) and returns its
 * id in id_out[37]. Does not apply it. Reader or writer handle. Errors:
 * TSS_EINVAL (empty glob, from > to, glob or ds not UTF-8), TSS_EIO,
 * TSS_ENOSPC.
 */
int tss_delete_create(tss_store *s, const tss_delete_spec *spec,
                      char id_out[37]) TSS_WUR;

/** Creates a compaction request for the writer. id_out[37]. */
int tss_compact_request(tss_store *s, char id_out[37]) TSS_WUR;

/** Creates a request that the writer applies its retention now (as
 * tss_store_prune, with the writer's own RetentionTime/RetentionSize).
 * id_out[37]. */
int tss_prune_request(tss_store *s, char id_out[37]) TSS_WUR;

/** Creates a request that the writer runs its rollup pass now (as
 * tss_store_rollup, with the writer's own rollup levels). id_out[37]. */
int tss_rollup_request(tss_store *s, char id_out[37]) TSS_WUR;

/** State of document `id` (TSS_MUTATION_*); 0 once it was removed. */
int tss_mutation_state(tss_store *s, const char *id, int *state) TSS_WUR;

/**
 * A token that changes whenever a delete may have changed what a query
 * shows: a mutation document created, advanced or removed, or a segment
 * file added or removed (compaction, which also removes the completed
 * document). Seals change it too. A reader that keeps a query open for
 * long (the read plugin's replay) compares tokens and reopens on a change.
 * Reads wal/mutations/ (a listing and each document) and the listing of
 * segments/; no lock; corrupt documents count by their content, silently.
 * Returns 0, or TSS_EIO/TSS_ENOMEM (a listing or document that cannot be
 * read). Thread safety: as any reader call on `s`.
 */
int tss_store_change_token(tss_store *s, uint64_t *out) TSS_WUR;

/** Dry run of a delete: per matching series, where its points are. */
typedef void (*tss_plan_cb)(void *ctx, const tss_series_id *id, int kind,
                            const char *where, uint64_t points);

typedef struct tss_plan_totals {
    uint64_t series, segments, points, head_points;
} tss_plan_totals;

/**
 * Lists what `spec` would delete now: calls cb once per (series, segment
 * file or "head") with the number of points in range, and sums them. Reads
 * only; takes no lock.
 */
int tss_delete_plan(tss_store *s, const tss_delete_spec *spec, tss_plan_cb cb,
                    void *ctx, tss_plan_totals *out) TSS_WUR;

/** What one tss_store_apply_mutations call did. */
typedef struct tss_apply_result {
    uint32_t made_visible; /**< deletes that became visible */
    uint32_t compacted;    /**< windows rewritten */
    uint32_t removed_docs; /**< documents completed and removed */
    uint64_t points_deleted;
    uint64_t bytes_rewritten;
    uint32_t pending; /**< documents still waiting (an error) */
    /** What queued prune requests (tss_prune_request) made the writer's
     * tss_store_prune do; bytes_left and oldest_kept are the last call's. */
    tss_prune_result prune;
    /** What queued rollup requests (tss_rollup_request) made the writer's
     * tss_store_rollup do. */
    tss_rollup_result rollup;
} tss_apply_result;

/**
 * Writer: applies every pending document — deletes up to "visible"
 * (tombstones per affected segment, the head filtered, a new snapshot
 * base), compaction requests, and compaction when the number of segments
 * with tombstones reaches the store's compact_after option — then removes
 * completed documents. Resumes documents interrupted by a crash from their
 * recorded progress; every step is idempotent. Errors are logged; the
 * document stays and is retried on the next call. Shares the seal mutex.
 */
int tss_store_apply_mutations(tss_store *s, int64_t now,
                              tss_apply_result *res) TSS_WUR;

/**
 * Adds what one call did (`r`) to the sum of the calls before it (`sum`):
 * counts and bytes added, `pending` the latest call's. Pure; thread safe
 * for distinct `sum`.
 */
void tss_apply_result_add(tss_apply_result *sum, const tss_apply_result *r);

/**
 * What tss_store_open's own tss_store_apply_mutations call did on writer
 * handle `s` (documents applied, compaction they asked for, documents
 * completed): a writer's open applies the pending documents before it
 * returns, so a caller that reports what its writer session did adds this
 * to the counts of its own calls. Zeros for a reader or a
 * TSS_OPEN_NO_RECOVERY handle. Cannot fail; as thread safe as reading
 * the handle.
 */
void tss_store_open_applied(const tss_store *s, tss_apply_result *out);

/**
 * Closes writer handle `s` as tss_store_close does (releasing the LOCK),
 * then applies the documents created while it held the LOCK that its last
 * tss_store_apply_mutations pass (or its open's) did not list: a `tsstore
 * delete` or a compaction, prune or rollup request whose creator found the
 * LOCK taken and left the document to "the running writer". A command
 * that acts as the writer closes with this instead of tss_store_close, or
 * such a document waits for the next writer to open the store. Race-free
 * because a creator writes its document before it tries the LOCK: it is
 * on disk before the release, so the look after the release finds it.
 *
 * For each round with such documents (a delete not yet visible, any
 * request), opens the store as a writer with `opts` (NULL: defaults),
 * which applies them, and closes it again; stops when none is left, when
 * the LOCK is taken by another process (whose open applies them), or after
 * 3 rounds (logged at WARNING; the documents stay queued). Documents the
 * last pass listed and could not apply are not retried here (that pass
 * logged why). A TSS_OPEN_NO_RECOVERY handle applied nothing; what was
 * waiting at its open does not count (verify --repair changes only what
 * it reports), only documents created while it held the LOCK do -- and
 * the writer open they lead to applies every pending document, as any
 * writer's open does.
 *
 * [in] s: a handle from tss_store_open; freed in every case. A reader
 *      handle (no LOCK) is just closed. NULL: nothing.
 * [in] opts: the options to reopen with; only read, not kept.
 * [out] res: may be NULL; set to what the rounds' opens applied (as
 *      tss_store_open_applied), summed.
 * Returns 0, or an error of the listing of wal/mutations or of a round's
 * tss_store_open but TSS_ELOCKED (TSS_EIO, TSS_ENOSPC, TSS_ECORRUPT,
 * TSS_ENOMEM, ...), with the documents left queued. Thread safety: as
 * tss_store_close -- no other call may use `s` meanwhile.
 */
int tss_store_close_writer(tss_store *s, const tss_store_options *opts,
                           tss_apply_result *res) TSS_WUR;

/** tss_store_compact flags */
enum {
    TSS_COMPACT_MERGE = 1, /**< also merge windows split over several
                                segments (late points, restarts) */
};

/**
 * Writer: rewrites every window that has tombstones in effect (and with
 * TSS_COMPACT_MERGE every window with several segments) into one segment
 * that supersedes the old ones, with its coverage; removes the old files;
 * rebuilds the table coverage. Crash-safe at every step: a superseded
 * segment is invisible as soon as its successor exists. *res (may be
 * NULL) is set to what it did.
 */
int tss_store_compact(tss_store *s, int64_t now, unsigned flags,
                      tss_apply_result *res) TSS_WUR;

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_MUTATION_H */
