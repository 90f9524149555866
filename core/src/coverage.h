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
 * Table snapshot: _coverage/table/<version>.roar (version decimal), format
 * version 2 (docs/format.md, "Table-level coverage"): the entries in
 * blocks, each with its own checksum, and an index of the blocks' first
 * keys, so that a reader that wants a few series reads the header, the
 * index and their blocks, not the file.
 *
 *   0   8  magic "\x89TSTCV\r\n"
 *   8   2  format version (2)
 *   10  2  flags (0)
 *   12  4  header length (96)
 *   16  8  version (equals the file name's)
 *   24  8  covered seq: every segment with seq <= this is included
 *   32  8  base bucket: bitmap value v means bucket base + v (-2^31)
 *   40  8  bucket width (store units)
 *   48  4  series count
 *   52  4  block count
 *   56  8  union offset: where the union section starts
 *   64  8  index offset: where the index section starts
 *   72  8  index length, its checksum included
 *   80  8  reserved, zero
 *   88  8  XXH3-64 of bytes 0..87
 *   96     blocks, one after the other up to the union offset; a block:
 *            per series, sorted by key: key (shared/suffix; shared is 0
 *            for a block's first key), varint interval, varint length,
 *            bitmap
 *            u64 XXH3-64 of the block's bytes before it
 *          union section: varint length, bitmap (union over all series),
 *            u64 XXH3-64 of the section's bytes before it
 *          index section: per block, varint first key length, first key,
 *            varint block offset, varint block length (its checksum
 *            included), varint series count; u64 XXH3-64 of the
 *            section's bytes before it
 *   end-8  u64 XXH3-64 of every byte before it
 *
 * Format version 1 (read, no longer written): the header above up to the
 * series count, header length 64, bytes 52..63 zero; then varint length +
 * bitmap of the union, then every series as in a block (keys prefix-
 * compressed against the previous one throughout), then the checksum.
 *
 * Reading either file, the length, magic, version and checksum (of the
 * file, or of the header, index and each block read) are checked before
 * any byte reaches CRoaring; each bitmap's frame is checked against
 * roaring_bitmap_portable_deserialize_size before
 * roaring_bitmap_portable_deserialize_safe parses it, and the result is
 * range-checked (a sidecar's buckets lie inside the window). A sidecar's
 * bitmaps are walked container by container first (tss_cov_check_portable:
 * CRoaring accepts array values out of order), and its header is checked
 * against its segment and STORE (tss_sidecar_read_seg). A table
 * loaded for a query (tss_covtable_load_select) keeps its bitmaps as the
 * file's bytes, checked container by container (tss_cov_runs reads them
 * in place), and hands them to CRoaring only when one must change.
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
#define TSS_COV_VERSION 1       /* sidecars */
#define TSS_COV_TABLE_VERSION 2 /* table snapshots written; 1 is read too */
#define TSS_COV_BASE_BUCKET (-(INT64_C(1) << 31))
#define TSS_COV_MAX_FILE (UINT64_C(1) << 31)

/**
 * One series' coverage: key, interval, bitmap (owned). In a table loaded
 * with tss_covtable_load_select, `bm` is NULL until tss_covtable_bitmap
 * parses `ser` (ser_len portable bytes inside the table's copy of the
 * file); everywhere else `ser` is NULL and `bm` set.
 */
typedef struct tss_cov_entry {
    uint8_t *key;
    size_t key_len;
    int64_t interval;
    roaring_bitmap_t *bm;
    const uint8_t *ser;
    size_t ser_len;
} tss_cov_entry;

/**
 * Which series a load keeps: keys in [lo, hi) (memcmp order; lo NULL: no
 * lower bound, hi NULL: no upper bound) for which `match` (NULL: all)
 * says yes. The bounds let a load skip what cannot match (the blocks of a
 * table snapshot outside them); `match` is the exact test. Everything it
 * points to must outlive the load.
 */
typedef struct tss_cov_select {
    const uint8_t *lo, *hi;
    size_t lo_len, hi_len;
    bool (*match)(void *ctx, const uint8_t *key, size_t key_len);
    void *ctx;
} tss_cov_select;

/** True if `sel` (NULL: everything) keeps series `key`. */
bool tss_cov_selected(const tss_cov_select *sel, const uint8_t *key,
                      size_t key_len);

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
 * TSS_ECORRUPT (also for a name that is no regular file: a symbolic link,
 * a directory, a fifo), TSS_EIO; every message carries the path. The
 * header's window and bucket width are not checked: tss_sidecar_read_seg.
 */
int tss_sidecar_read(tss_storage *st, const uint8_t uuid[16],
                     uint64_t max_buckets, tss_sidecar *out) TSS_WUR;

/**
 * Reads the sidecar of segment `sn` for the store's `bucket_width`,
 * keeping the series `sel` selects (NULL: all; the others' bitmaps are
 * framed and checksummed, never parsed), the segment's window bounding
 * the buckets, and checks its header against the segment and STORE: uuid,
 * window start (the segment name's) and bucket width; a sidecar that disagrees
 * is TSS_ECORRUPT naming the file and the field. A name that is no regular file
 * (a symbolic link, a directory, a fifo) is TSS_ECORRUPT too (damage, rebuilt
 * like a corrupt file), an I/O error TSS_EIO.
 */
int tss_sidecar_read_seg(tss_storage *st, const tss_seg_name *sn,
                         int64_t bucket_width, const tss_cov_select *sel,
                         tss_sidecar *out) TSS_WUR;

/** Frees the entries of `sc` that `sel` does not select. */
void tss_sidecar_select(tss_sidecar *sc, const tss_cov_select *sel);

/** Builds a sidecar from an opened segment's points (decodes it). */
int tss_sidecar_from_segment(tss_segment *seg, int64_t bucket_width,
                             tss_sidecar *out) TSS_WUR;

void tss_sidecar_free(tss_sidecar *sc);

/* ---- table-level coverage (in memory, and its snapshot file) ---------- */

/* coverage_table.c. A table is used by one thread at a time. */
typedef struct tss_covtable tss_covtable;

int tss_covtable_new(tss_covtable **out, int64_t bucket_width) TSS_WUR;

/** A table for a query's own use: it keeps no union over all series and
 * cannot be saved (TSS_EINVAL), like one tss_covtable_load_select gives. */
int tss_covtable_new_part(tss_covtable **out, int64_t bucket_width) TSS_WUR;
void tss_covtable_free(tss_covtable *t);

/** Unions a sidecar into the table (window-relative buckets made absolute). */
int tss_covtable_add_sidecar(tss_covtable *t, const tss_sidecar *sc) TSS_WUR;

/** Unions points of one series (absolute times) into the table. */
int tss_covtable_add_points(tss_covtable *t, const uint8_t *key, size_t key_len,
                            const tss_point *pts, size_t n) TSS_WUR;

/**
 * Unions every series of `from` into `t` (their bitmaps parsed if still
 * bytes); a series of `t` without an interval takes `from`'s.
 * TSS_ENOMEM, TSS_ECORRUPT (CRoaring rejected a series' bytes).
 */
int tss_covtable_union(tss_covtable *t, tss_covtable *from) TSS_WUR;

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
 * tss_covtable_load for a query: keeps only the series `sel` selects, and
 * from a version 2 snapshot reads only the header, the index and the
 * blocks that can hold them (checking each one's checksum; the file's own
 * is not read). Bitmaps stay unparsed (tss_cov_entry); the union over all
 * series is not loaded. Such a table cannot be saved (TSS_EINVAL). Same
 * fallbacks and errors as tss_covtable_load. `sel` NULL selects all.
 */
int tss_covtable_load_select(tss_covtable **out, tss_storage *st,
                             int64_t bucket_width, const tss_cov_select *sel,
                             tss_log_fn log, void *log_ctx) TSS_WUR;

/**
 * Writes the table as version (current + 1) with write_new, then removes
 * versions older than the new one's predecessor. On failure the previous
 * snapshot stays the valid one (and tss_covtable_version the same), but the
 * number is spent: the file may have reached the disk, so the next save
 * takes the one after it (tss_covtable_spent).
 */
int tss_covtable_save(tss_covtable *t, tss_storage *st) TSS_WUR;

/** Size in bytes of the file the table was last saved as by
 * tss_covtable_save (0 before its first save). */
uint64_t tss_covtable_saved_bytes(const tss_covtable *t);
void tss_covtable_set_saved_bytes(tss_covtable *t, uint64_t bytes);

/**
 * The bitmap of entry `e` of `t`, parsed by CRoaring on first use when
 * the table was loaded with tss_covtable_load_select (the entry's `bm` is
 * set then too). Owned by the table; the caller may change it. NULL with
 * TSS_ENOMEM or TSS_ECORRUPT (CRoaring rejected the bytes) set.
 */
roaring_bitmap_t *tss_covtable_bitmap(tss_covtable *t, const tss_cov_entry *e);

/** Looks up a series; NULL if absent. The entry stays owned by the table. */
const tss_cov_entry *tss_covtable_get(const tss_covtable *t, const uint8_t *key,
                                      size_t key_len);

/** Iterates entries in no particular order: pass NULL to start. */
const tss_cov_entry *tss_covtable_iter(const tss_covtable *t,
                                       const tss_cov_entry *prev);

/** Bitmap value of absolute bucket b, or -1 when out of range. */
int64_t tss_cov_bucket_value(int64_t bucket);

/* ---- reading a bitmap's runs in place (coverage.c) --------------------- */

/**
 * A cursor over the runs of consecutive values of a bitmap, read from its
 * portable bytes (no CRoaring, no allocation): a bitmap kept as
 * bytes is O(its runs) to walk, where CRoaring's iterator is O(its values)
 * (a series that reports every 10 s has 259,200 buckets in 30 days and a
 * handful of runs).
 */
typedef struct tss_cov_runs {
    const uint8_t *p, *end;
    const uint8_t *desc, *runflags; /* container headers; runflags NULL:
                                       no run containers */
    const uint8_t *data;            /* the current container's data */
    uint32_t n, i;                  /* containers, current (n: done) */
    uint32_t k, kn;                 /* position in it: value, run, bit */
    int type;                       /* 0 array, 1 bitset, 2 runs */
    uint32_t base;                  /* key << 16 */
    bool have, bad;
    uint32_t lo, hi;    /* the run being merged */
    uint32_t slack;     /* runs this few values apart are one */
    bool dilated;       /* dil holds the open bitset container, dilated */
    uint64_t dil[1024]; /* by the slack (coverage.c, dilate) */
} tss_cov_runs;

/**
 * Starts a cursor over `e`'s bitmap: in place when it is still the bytes
 * of its snapshot (which the load checked), else over `scratch`, into
 * which the bitmap is serialized (the caller frees it with tss_buf_free;
 * reuse it across calls). The cursor is valid while `e` and `scratch`
 * are unchanged. Runs at most `slack` missing values apart are returned
 * as one (0: exact runs): a gap rule that ignores short absences walks a
 * series written every 60 s in 10 s buckets as one run, not one per
 * bucket. TSS_ENOMEM.
 */
int tss_cov_runs_start(tss_cov_runs *r, const tss_cov_entry *e,
                       tss_buf *scratch, uint32_t slack) TSS_WUR;

/**
 * Skips to the containers that can hold values >= v (the runs before it
 * may still be returned: the caller clips them).
 */
void tss_cov_runs_seek(tss_cov_runs *r, uint32_t v);

/**
 * The next maximal run [*lo, *hi] of consecutive values (less the slack),
 * in increasing order: true, or false at the end (and on bytes that are not a
 * valid portable bitmap, which sets r->bad; the load's check makes that
 * impossible for a table's bytes).
 */
bool tss_cov_runs_next(tss_cov_runs *r, uint32_t *lo, uint32_t *hi);

/**
 * tss_cov_runs_next for up to `max` runs at once, into out[k][0] (first
 * value) and out[k][1] (last): how many, 0 at the end.
 */
size_t tss_cov_runs_read(tss_cov_runs *r, uint32_t (*out)[2], size_t max);

#endif /* TSS_COVERAGE_H */
