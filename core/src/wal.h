/*
 * Mutation documents: the write-ahead log of deletes and compaction
 * requests, one JSON file per mutation in wal/mutations/<uuid>.json,
 * written and parsed with yajl and updated by compare-and-swap
 * (tss_storage_put_if_match; the etag is the content hash).
 *
 *   {"schema_version":1, "id":"<uuid>", "kind":"delete"|"compact",
 *    "state":"intent"|"applying"|"visible"|"compacted",
 *    "created":<unix s>, "updated":<unix s>,
 *    ("kind":"prune" asks the writer to apply its retention now)
 *    "predicate":{"series":"<glob>"|null, "ds":"<name>"|null,
 *                 "from":<store units>|null, "to":<store units>},
 *    "head":"pending"|"filtered",
 *    "targets":[{"segment":"<file name>", "state":"pending"|"tombstoned"}],
 *    "points":<tombstoned points>, "error":"<last failure>"|null}
 *
 * State diagram (a delete):
 *
 *   intent ──(writer: compute targets)──▶ applying
 *   applying ──(per target: tombstone, CAS)──▶ visible
 *   visible ──(head filtered, snapshot base; "head": "filtered")──▶ visible
 *   visible ──(compaction rewrote every target)──▶ compacted
 *   compacted ──(writer removes the file)──▶ removed
 *
 * A compaction request ("kind":"compact") goes intent ▶ applying ▶
 * compacted ▶ removed. Every step is idempotent: a writer that finds a
 * document not yet visible (after a crash) resumes it from its recorded
 * progress. Readers apply a delete's predicate to every point once the
 * document is visible (or compacted, or when a tombstone names a document
 * that no longer exists), never before: a delete is all or nothing.
 */
#ifndef TSS_WAL_H
#define TSS_WAL_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "storage.h"
#include "tsstore/query.h"

#define TSS_WAL_DIR "wal/mutations"
#define TSS_WAL_SCHEMA 1

enum {
    TSS_MUT_DELETE = 1,
    TSS_MUT_COMPACT = 2,
    TSS_MUT_PRUNE = 3,
    TSS_MUT_ROLLUP = 4,
};

enum {
    TSS_MS_INTENT = 1,
    TSS_MS_APPLYING,
    TSS_MS_VISIBLE,
    TSS_MS_COMPACTED,
};

typedef struct tss_mut_target {
    char *segment; /* file name in segments/ */
    bool tombstoned;
} tss_mut_target;

/** A parsed document. Strings owned; free with tss_mut_free. */
typedef struct tss_mut {
    char id[37];
    uint8_t uuid[16];
    int kind, state;
    int64_t created, updated; /* unix seconds */
    char *series, *ds;        /* NULL: any */
    bool has_from;
    int64_t from, to; /* store units, inclusive */
    bool head_filtered;
    tss_mut_target *targets;
    size_t ntargets;
    uint64_t points;
    char *error;
    uint64_t etag; /* of the file it was read from */
} tss_mut;

const char *tss_mut_state_name(int state);

/** Path "wal/mutations/<id>.json". */
void tss_mut_path(char *out, size_t size, const char *id);

int tss_mut_encode(const tss_mut *m, uint8_t **out, size_t *len) TSS_WUR;

/** Parses and validates a document; `rel` names the file in errors. */
int tss_mut_decode(const uint8_t *buf, size_t len, const char *rel,
                   tss_mut *out) TSS_WUR;

/** Reads wal/mutations/<id>.json with its etag. */
int tss_mut_read(tss_storage *st, const char *id, tss_mut *out) TSS_WUR;

/** Creates a new document (write_new). */
int tss_mut_create(tss_storage *st, tss_mut *m) TSS_WUR;

/** Replaces the document if unchanged since m->etag (TSS_ECAS if not);
 * sets m->etag to the new content's on success. */
int tss_mut_update(tss_storage *st, tss_mut *m) TSS_WUR;

void tss_mut_free(tss_mut *m);

/** All documents, sorted by creation time; corrupt ones are logged and
 * skipped (counted in *bad); a document that cannot be read (TSS_EIO,
 * TSS_ENOMEM, ...) fails the call. Free with tss_mut_list_free. */
int tss_mut_list(tss_storage *st, tss_log_fn log, void *log_ctx, tss_mut **out,
                 size_t *n, size_t *bad) TSS_WUR;
void tss_mut_list_free(tss_mut *v, size_t n);

/** True if the delete's predicate matches a series identifier. */
bool tss_mut_matches_series(const tss_mut *m, const tss_series_id *id);

#endif /* TSS_WAL_H */
