/*
 * Tombstone sidecars: segments/<segment uuid>.tombstones lists, for one
 * segment, the (series, time range) pairs deleted from it and by which
 * mutation. Updated by compare-and-swap (put_if_match on the content
 * hash), so two processes adding tombstones never lose one another's.
 *
 *   0   8  magic "\x89TSTMB\r\n"
 *   8   2  format version (1)     10 2 flags (0)     12 4 header length (64)
 *   16 16  segment uuid
 *   32  8  content hash of the segment it applies to (segment.h:
 *          XXH3-64 of its header and table checksums)
 *   40  4  entry count
 *   44 20  reserved, zero
 *   per entry: 16-byte mutation uuid, varint key length, key,
 *              zz(from), zz(to)   (store units, inclusive)
 *   u64 XXH3-64 of every byte before it
 *
 * A reader checks magic, version, checksum and that the content hash
 * matches the segment it opened; a tombstone for other content is
 * reported, never applied. An entry takes effect once its mutation is
 * visible (wal.h).
 */
#ifndef TSS_TOMBSTONE_H
#define TSS_TOMBSTONE_H

#include "internal.h"
#include "segment.h"
#include "storage.h"

typedef struct tss_tomb_entry {
    uint8_t mutation[16];
    uint8_t *key;
    size_t key_len;
    int64_t from, to;
} tss_tomb_entry;

typedef struct tss_tombstones {
    uint8_t seg_uuid[16];
    uint64_t seg_hash;
    tss_tomb_entry *entries;
    size_t n, cap;
    uint64_t etag; /* of the file read; TSS_ETAG_NONE when there was none */
} tss_tombstones;

/** "segments/<uuid>.tombstones" */
void tss_tomb_path(char *out, size_t size, const uint8_t uuid[16]);

/**
 * Reads the tombstones of `seg`. A missing file gives an empty set
 * (etag TSS_ETAG_NONE) and 0. TSS_ECORRUPT (bad frame, checksum, or a
 * content hash that is not seg's), TSS_EIO, TSS_ENOMEM; messages carry the
 * path.
 */
int tss_tomb_read(tss_storage *st, const tss_segment *seg,
                  tss_tombstones *out) TSS_WUR;

/** Parses bytes; `rel` names the file. */
int tss_tomb_decode(const uint8_t *buf, size_t len, const char *rel,
                    tss_tombstones *out) TSS_WUR;
int tss_tomb_encode(const tss_tombstones *t, tss_buf *out) TSS_WUR;

/** Appends an entry (copies the key). */
int tss_tomb_push(tss_tombstones *t, const uint8_t mutation[16],
                  const uint8_t *key, size_t key_len, int64_t from,
                  int64_t to) TSS_WUR;

/** True if the set already holds entries of `mutation`. */
bool tss_tomb_has_mutation(const tss_tombstones *t, const uint8_t mutation[16]);

void tss_tomb_free(tss_tombstones *t);

#endif /* TSS_TOMBSTONE_H */
