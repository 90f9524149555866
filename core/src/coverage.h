/*
 * Coverage: which time buckets of each series hold at least one point,
 * as CRoaring bitmaps (Chambi, Lemire et al., "Better bitmap performance
 * with Roaring bitmaps", 2016), serialized in Roaring's portable format
 * (https://github.com/RoaringBitmap/RoaringFormatSpec) so Java, Go, Rust and
 * Python Roaring libraries can read them.
 *
 * bucket(t) = floor(t / bucket_width), bucket_width from STORE.
 *
 * Per-segment sidecar: _coverage/segments/<segment uuid>.roar
 *
 *   0   8  magic "\x89TSCOV\r\n"
 *   8   2  format version (1)
 *   10  2  flags (0)
 *   12  4  header length (64)
 *   16 16  segment uuid
 *   32  8  window start (store units)
 *   40  8  bucket width (store units)
 *   48  4  series count
 *   52 12  reserved, zero
 *   per series, in the segment's key order:
 *     varint shared, varint suffix length, suffix   (series key, prefix-
 *                                                     compressed as in the
 *                                                     segment table)
 *     varint interval   median spacing of the series' points in the
 *                       segment, store units (0: fewer than two points)
 *     varint length     of the bitmap that follows
 *     bytes  bitmap     portable Roaring; values are buckets relative to
 *                       the window: bucket(t) - bucket(window start)
 *   u64 XXH3-64 of every byte before it
 *
 * Table snapshot: _coverage/table/<version>.roar (version decimal)
 *
 *   0   8  magic "\x89TSTCV\r\n"
 *   8   2  format version (1)
 *   10  2  flags (0)
 *   12  4  header length (64)
 *   16  8  version (equals the file name's)
 *   24  8  covered seq: every segment with seq <= this is included
 *   32  8  base bucket: bitmap value v means bucket base + v (-2^31)
 *   40  8  bucket width (store units)
 *   48  4  series count
 *   52 12  reserved, zero
 *   varint length, bitmap: union over all series
 *   per series, sorted by key: key (shared/suffix), varint interval,
 *     varint length, bitmap
 *   u64 XXH3-64 of every byte before it
 *
 * Reading either file, the length, magic, version and checksum are checked
 * before any byte reaches CRoaring; each bitmap's frame is checked against
 * roaring_bitmap_portable_deserialize_size before
 * roaring_bitmap_portable_deserialize_safe parses it, and the result is
 * range-checked (a sidecar's buckets lie inside the window).
 */
#ifndef TSS_COVERAGE_H
#define TSS_COVERAGE_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "internal.h"
#include "segment.h"
#include "storage.h"

#define TSS_COV_DIR "_coverage"
#define TSS_COV_SEG_DIR "_coverage/segments"
#define TSS_COV_TABLE_DIR "_coverage/table"
#define TSS_COV_VERSION 1
#define TSS_COV_BASE_BUCKET (-(INT64_C(1) << 31))
#define TSS_COV_MAX_FILE (UINT64_C(1) << 31)

/** One series' coverage: key, interval, bitmap (owned). */
typedef struct tss_cov_entry {
    uint8_t *key;
    size_t key_len;
    int64_t interval;
    roaring_bitmap_t *bm;
} tss_cov_entry;

/** A decoded or built sidecar. */
typedef struct tss_sidecar {
    uint8_t uuid[16];
    int64_t window_start, bucket_width;
    tss_cov_entry *entries;
    size_t n, cap;
} tss_sidecar;

/** Path of a segment's sidecar: "_coverage/segments/<uuid>.roar". */
void tss_sidecar_path(char *out, size_t size, const uint8_t uuid[16]);

/** Starts an empty sidecar for a segment. Free with tss_sidecar_free. */
int tss_sidecar_init(tss_sidecar *sc, const uint8_t uuid[16],
                     int64_t window_start, int64_t bucket_width) TSS_WUR;

/**
 * Adds one series (keys in increasing order) from its points (sorted,
 * inside the window). Computes the bucket bitmap and the interval.
 */
int tss_sidecar_add(tss_sidecar *sc, const uint8_t *key, size_t key_len,
                    const tss_point *pts, size_t n) TSS_WUR;

/**
 * Adds one series of a rollup segment: `starts` are its intervals' starts
 * (n of them), each covering `resolution` store units; every bucket of an
 * interval is covered, and the series' interval is the resolution.
 */
int tss_sidecar_add_intervals(tss_sidecar *sc, const uint8_t *key,
                              size_t key_len, const tss_point *starts, size_t n,
                              int64_t resolution) TSS_WUR;

/** Serializes into out. TSS_ENOMEM. */
int tss_sidecar_encode(const tss_sidecar *sc, tss_buf *out) TSS_WUR;

/**
 * Parses sidecar bytes; `rel` names the file in errors; every bucket must
 * be below `max_buckets` (span / bucket width). TSS_ECORRUPT says
 * which check failed (length, magic, version, checksum, frame, rejected by
 * CRoaring, bucket out of window).
 */
int tss_sidecar_decode(const uint8_t *buf, size_t len, const char *rel,
                       uint64_t max_buckets, tss_sidecar *out) TSS_WUR;

/**
 * Reads the sidecar of the segment with `uuid`. TSS_ENOTFOUND if missing,
 * TSS_ECORRUPT, TSS_EIO; every message carries the path.
 */
int tss_sidecar_read(tss_storage *st, const uint8_t uuid[16],
                     uint64_t max_buckets, tss_sidecar *out) TSS_WUR;

/** Builds a sidecar from an opened segment's points (decodes it). */
int tss_sidecar_from_segment(tss_segment *seg, int64_t bucket_width,
                             tss_sidecar *out) TSS_WUR;

void tss_sidecar_free(tss_sidecar *sc);

/* ---- table-level coverage (in memory, and its snapshot file) ---------- */

typedef struct tss_covtable tss_covtable;

int tss_covtable_new(tss_covtable **out, int64_t bucket_width) TSS_WUR;
void tss_covtable_free(tss_covtable *t);

/** Unions a sidecar into the table (window-relative buckets made absolute). */
int tss_covtable_add_sidecar(tss_covtable *t, const tss_sidecar *sc) TSS_WUR;

/** Unions points of one series (absolute times) into the table. */
int tss_covtable_add_points(tss_covtable *t, const uint8_t *key, size_t key_len,
                            const tss_point *pts, size_t n) TSS_WUR;

/** The highest segment seq included / the snapshot version. */
uint64_t tss_covtable_covered_seq(const tss_covtable *t);
void tss_covtable_set_covered_seq(tss_covtable *t, uint64_t seq);
uint64_t tss_covtable_version(const tss_covtable *t);
/** Sets the version the next save builds on (it saves version + 1). */
void tss_covtable_set_version(tss_covtable *t, uint64_t version);
/** The highest version a save of `t` wrote or tried to write: a table
 * that replaces `t` is numbered from it. */
uint64_t tss_covtable_spent(const tss_covtable *t);

/**
 * Loads the highest table snapshot version that reads back valid (older
 * ones are tried when the newest is corrupt, each failure logged through
 * `log`). TSS_ENOTFOUND when there is none; when none reads back, an empty
 * table (covered seq 0) numbered as the newest on disk, so the caller
 * rebuilds it from the sidecars and saves above the unreadable ones.
 */
int tss_covtable_load(tss_covtable **out, tss_storage *st, int64_t bucket_width,
                      tss_log_fn log, void *log_ctx) TSS_WUR;

/**
 * Writes the table as version (current + 1) with write_new, then removes
 * versions older than the new one's predecessor. On failure the previous
 * snapshot stays the valid one (and tss_covtable_version the same), but the
 * number is spent: the file may have reached the disk, so the next save
 * takes the one after it (tss_covtable_spent).
 */
int tss_covtable_save(tss_covtable *t, tss_storage *st) TSS_WUR;

/** Looks up a series; NULL if absent. The entry stays owned by the table. */
const tss_cov_entry *tss_covtable_get(const tss_covtable *t, const uint8_t *key,
                                      size_t key_len);

/** Iterates entries in no particular order: pass NULL to start. */
const tss_cov_entry *tss_covtable_iter(const tss_covtable *t,
                                       const tss_cov_entry *prev);

/** Bitmap value of absolute bucket b, or -1 when out of range. */
int64_t tss_cov_bucket_value(int64_t bucket);

#endif /* TSS_COVERAGE_H */
