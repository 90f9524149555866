/*
 * tsstore — verification of a whole store.
 *
 * Checks every file: STORE; each segment's header, table and every chunk
 * (checksums, decoding, ranges); supersede chains (a segment supersedes
 * only segments within its window, never itself, never in a cycle); each
 * segment's coverage sidecar (present, valid, and equal to the coverage
 * rebuilt from the segment's points) and tombstones; sidecars and
 * tombstones without a segment; the table coverage snapshot (valid, and
 * equal to the union of the sidecars of the visible segments it claims to
 * cover); the delete documents (readable, and in a state their progress
 * allows: visible only with every target tombstoned, the head filtered
 * only once visible); the head snapshot (base and log records).
 * Reports one problem per call of the callback, naming the file. Never
 * modifies the store unless TSS_VERIFY_REPAIR is given, and then only with
 * safe actions, each reported as a note naming the file: rebuild a missing
 * or corrupt sidecar from its segment (the corrupt one is renamed aside),
 * remove temp files (not, in wal/mutations, those of a running process),
 * sidecars and tombstones whose segment does not exist, and superseded
 * segments (never one a cycle touches).
 */
#ifndef TSSTORE_VERIFY_H
#define TSSTORE_VERIFY_H

#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/store.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TSS_VERIFY_REPAIR = 1, /**< apply the safe repairs (needs the LOCK) */
};

/** Severity of a finding: problems make verification fail, notes don't. */
enum {
    TSS_VERIFY_PROBLEM = 1, /**< damage or inconsistency */
    TSS_VERIFY_NOTE = 2,    /**< expected leftovers, e.g. a torn log tail
                                 after a crash, or a repair done */
};

typedef struct tss_verify_report {
    uint64_t files;    /**< files checked */
    uint64_t segments; /**< segments checked */
    uint64_t points;   /**< points decoded from segments */
    uint64_t problems; /**< findings of severity TSS_VERIFY_PROBLEM */
    uint64_t repaired; /**< repairs done */
} tss_verify_report;

/** Called per finding; `file` is relative to the store (or "" for none). */
typedef void (*tss_verify_cb)(void *ctx, int severity, const char *file,
                              const char *what);

/** Called now and then with work done and total (segments), for progress
 * bars; may be NULL. */
typedef void (*tss_verify_progress)(void *ctx, uint64_t done, uint64_t total);

/**
 * Verifies the store `s` (reader handle; for TSS_VERIFY_REPAIR a handle
 * holding the LOCK, best opened TSS_OPEN_WRITER | TSS_OPEN_NO_RECOVERY so
 * that the open itself changes nothing; else repair is TSS_EINVAL). Returns 0
 * when the walk completed (findings are in *out and were reported through
 * `cb`), or TSS_EIO / TSS_ENOMEM when it could not. Not thread safe with other
 * calls on the same handle.
 */
int tss_verify(tss_store *s, unsigned flags, tss_verify_cb cb,
               tss_verify_progress progress, void *ctx,
               tss_verify_report *out) TSS_WUR;

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_VERIFY_H */
