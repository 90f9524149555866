/*
 * Segments: immutable files holding every series that had points in one
 * window [start, end) of the store.
 *
 * File name: segments/<start>_<end>_<seq>_<uuid>.seg — start and end in store
 * units (signed decimal), seq a decimal write sequence number (later seq wins
 * where segments overlap), uuid the segment's id (lower-case, 36 chars).
 *
 * Byte layout (integers little-endian; "varint" is LEB128):
 *
 *   Header, 128 bytes:
 *     0   8  magic "\x89TSSEG\r\n"
 *     8   2  format version (2; version 1 is read too)
 *     10  2  flags (0)
 *     12  4  header length (128)
 *     16  8  window start, i64 store units
 *     24  8  window end (exclusive)
 *     32  8  seq
 *     40 16  uuid (binary)
 *     56  4  precision, store units per second
 *     60  4  series count
 *     64  8  table offset (== 128 + total chunk bytes)
 *     72  8  table length (including its checksum)
 *     80  8  total point count
 *     88  8  min timestamp
 *     96  8  max timestamp
 *     104 8  rollup resolution (flag TSS_SEG_FLAG_ROLLUP), else zero
 *     112 4  index length (version 2; 0 in version 1)
 *     116 4  supersede list length (version 2; 0 in version 1)
 *     120 8  XXH3-64 of bytes 0..119
 *   Chunks, back to back from offset 128, one per series in table order
 *     (format in codec_gorilla.h).
 *   Table (the series dictionary and index):
 *     varint  supersede count, then that many 16-byte uuids of segments this
 *             one replaces (compaction output; 0 for sealed head windows)
 *     per series, sorted by key bytes (series.h), keys unique, in blocks
 *     of about TSS_SEG_BLOCK bytes (version 1: one block):
 *       varint shared   bytes shared with the previous key (0 for the
 *                       first entry of a block)
 *       varint suffix   length of the rest, then the rest
 *       varint chunk length in bytes (chunk offsets are cumulative)
 *       varint point count
 *       varint zz(min_t - window start), varint (max_t - min_t)
 *       u64    XXH3-64 of the chunk
 *     block index (version 2), "index length" bytes:
 *       u64    XXH3-64 of the supersede list
 *       varint block count
 *       per block: varint entry count (>= 1), varint bytes of its entries,
 *         varint bytes of its chunks, u64 XXH3-64 of its entries,
 *         varint key length and the block's first key
 *       u64    XXH3-64 of the index bytes before it
 *     u64  XXH3-64 of the table bytes before it
 *
 * The block index lets a reader that wants a few series (a key prefix)
 * read the header, the index and the blocks that can hold the prefix,
 * instead of the whole table: after the block index of LevelDB's sorted
 * tables (doc/table_format.md), with a checksum per block so that what is
 * read is checked without reading the rest.
 *
 * Invariants: (1) every timestamp in the file lies in [start, end);
 * (2) chunks exactly fill [128, table offset); (3) within a chunk,
 * timestamps strictly increase; (4) keys strictly increase; (5) header,
 * table and each chunk match their checksums. A reader checks (2), (4), (5)
 * and the counts before trusting a byte; (1) and (3) when it decodes.
 */
#ifndef TSS_SEGMENT_H
#define TSS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "rollup.h"
#include "storage.h"
#include "tsstore/series.h"

#define TSS_SEG_DIR "segments"
#define TSS_SEG_HEADER 128
#define TSS_SEG_MAGIC "\x89TSSEG\r\n" /* 8 bytes, without the NUL */
#define TSS_SEG_VERSION 2
/* Entry bytes after which the builder starts a new block of the table. */
#define TSS_SEG_BLOCK 4096
/* header flags: a rollup segment (rollup.h), its resolution at 104 */
#define TSS_SEG_FLAG_ROLLUP 1
/* Bound for table reads; a table bigger than this is treated as corrupt. */
#define TSS_SEG_MAX_TABLE (UINT64_C(1) << 31)

/** What a segment's name says about it. */
typedef struct tss_seg_name {
    int64_t start, end;
    uint64_t seq;
    uint8_t uuid[16];
} tss_seg_name;

/** Formats "segments/<start>_<end>_<seq>_<uuid>.seg" into out[size]. */
void tss_seg_name_format(char *out, size_t size, const tss_seg_name *n);

/** Parses a bare file name (no directory). TSS_EINVAL if it is not one. */
int tss_seg_name_parse(const char *name, tss_seg_name *out) TSS_WUR;

/**
 * Streaming segment builder: begin, add each series in key order, finish.
 * The image is appended to the caller's buffer; nothing is written to disk.
 */
typedef struct tss_seg_builder {
    int64_t resolution; /* set after begin for a rollup segment */
    tss_buf *out;
    size_t base; /* offset of the header in *out */
    tss_seg_name name;
    uint32_t units_per_second, nseries;
    uint64_t points;
    int64_t min_t, max_t;
    tss_buf table, prev;
    tss_buf blocks; /* the finished blocks' index records */
    tss_buf first;  /* the open block's first key */
    size_t sup_len, block_start;
    uint64_t block_entries, block_chunks;
    uint64_t nblocks;
} tss_seg_builder;

/** Starts an image for window [name->start, name->end) in `out`;
 * `supersedes` lists `nsup` uuids (may be NULL when 0). */
int tss_seg_builder_begin(tss_seg_builder *b, tss_buf *out,
                          const tss_seg_name *name, uint32_t units_per_second,
                          const uint8_t (*supersedes)[16], size_t nsup) TSS_WUR;

/**
 * Adds one series: key bytes (series.h) greater than the previous key, and
 * n >= 1 points with strictly increasing times inside the window.
 * TSS_EINVAL if the input breaks an invariant, TSS_ENOMEM.
 */
int tss_seg_builder_add(tss_seg_builder *b, const uint8_t *key, size_t key_len,
                        const tss_point *pts, size_t n) TSS_WUR;

/** Writes header and table; frees the builder (also on failure). */
int tss_seg_builder_finish(tss_seg_builder *b) TSS_WUR;

/** Frees a builder that will not be finished. */
void tss_seg_builder_abort(tss_seg_builder *b);

/** One entry of an opened segment's table. */
typedef struct tss_seg_entry {
    const uint8_t *key; /* into the segment's key arena */
    size_t key_off, key_len;
    int kind;             /* of the chunk's values */
    int series_kind;      /* of the series (differs for a rollup's count) */
    int agg;              /* rollup: the aggregate (rollup.h); 0 for raw */
    uint64_t offset, len; /* chunk position in the file */
    uint64_t count;
    int64_t min_t, max_t;
    uint64_t checksum;
} tss_seg_entry;

/** An opened segment: header and table checked, chunks read on demand. */
typedef struct tss_segment {
    char *rel; /* path relative to the store */
    tss_seg_name name;
    uint32_t units_per_second;
    int64_t resolution; /* 0: raw points; else a rollup's interval */
    uint64_t points;
    int64_t min_t, max_t;
    uint64_t file_size;
    /* XXH3-64 of (header checksum, block index checksum; version 1: table
     * checksum): identifies the content; tombstones record it */
    uint64_t content_hash;
    tss_seg_entry *entries;
    size_t nentries;
    uint8_t (*supersedes)[16];
    size_t nsupersedes;
    uint8_t *keys; /* arena for entry keys */
    /* opened with key prefixes: entries holds the entries whose keys start
     * with one of them, not every series (tss_segment_open_select) */
    bool partial;
    int fd;
    tss_storage *st;
} tss_segment;

/**
 * Opens segment file `rel`, reads and checks header and table (magic,
 * version, checksums, sizes, key order), and checks that the header agrees
 * with the name. The fd stays open for chunk reads. Returns 0,
 * TSS_ENOTFOUND, TSS_ECORRUPT (message names the file and the fault),
 * TSS_EIO or TSS_ENOMEM. Free with tss_segment_close.
 */
int tss_segment_open(tss_segment **out, tss_storage *st,
                     const char *rel) TSS_WUR;
void tss_segment_close(tss_segment *seg);

/** A key prefix a reader wants: the bytes every wanted key starts with. */
typedef struct tss_seg_prefix {
    const uint8_t *bytes;
    size_t len;
} tss_seg_prefix;

/**
 * Like tss_segment_open, for a reader that wants only the keys starting
 * with one of `n` prefixes (a rollup entry's key counts with its aggregate
 * byte). Of a version 2 segment it reads the header, the block index and
 * the blocks of the table that can hold such keys, and checks the
 * checksums of what it read (not the table's, which spans the rest); the
 * segment is then `partial`: `entries` holds the entries whose keys start
 * with a prefix, in key order, and the counts and ranges of the header are
 * not checked against the table. With n == 0, an empty prefix, or a
 * version 1 segment, it opens the whole table (tss_segment_open).
 * Returns what tss_segment_open returns; the prefixes are not kept.
 * Thread safety: as tss_segment_open (no shared state).
 */
int tss_segment_open_select(tss_segment **out, tss_storage *st, const char *rel,
                            const tss_seg_prefix *pre, size_t n) TSS_WUR;

/**
 * Reads, checks (checksum) and decodes entry `i`'s chunk, appending its
 * points to *pts (*n used, *cap allocated; tss_realloc'ed). Verifies that
 * points lie in the window and match the entry's count and range.
 */
int tss_segment_read_points(tss_segment *seg, size_t i, tss_point **pts,
                            size_t *n, size_t *cap) TSS_WUR;

/** Binary search for a key; returns the entry index or -1 (of a partial
 * segment: among the entries it holds). */
long tss_segment_find(const tss_segment *seg, const uint8_t *key,
                      size_t key_len);

/**
 * Recomputes the checksums of the table of the segment image img[0..len)
 * in place: each block's, the supersede list's and the index's (version 2)
 * and the table's; not the header's nor the chunks'. For tests and fuzzing,
 * which edit a table and want a reader to meet the edit rather than a
 * checksum mismatch. False if the image is too damaged to find them.
 */
bool tss_segment_reseal(uint8_t *img, size_t len);

#endif /* TSS_SEGMENT_H */
