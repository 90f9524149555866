/*
 * Private to the coverage module: what coverage.c (sidecars, framing,
 * reading bitmaps in place) and coverage_table.c (the table-level coverage
 * and its snapshot file) share. The module's interface and the formats
 * are in coverage.h.
 */
#ifndef TSS_COVERAGE_INTERNAL_H
#define TSS_COVERAGE_INTERNAL_H

#include "coverage.h"

/* Header length of a sidecar and of a version 1 table snapshot. */
#define TSS_COV_HEADER_LEN 64

/* TSS_ECORRUPT "coverage file <rel>: <what>". */
int tss_cov_corrupt(const char *rel, const char *what);

int64_t tss_cov_floor_div(int64_t a, int64_t b);

/* Median spacing of sorted points; 0 with fewer than two. */
int64_t tss_cov_median_interval(const tss_point *pts, size_t n);

/* Magic, format version, flags (0) and a header length: the first 16
 * bytes of every coverage file. */
void tss_cov_put_header(tss_buf *out, const uint8_t magic[8], uint16_t version,
                        uint32_t header_len);

/* Run-optimizes `bm` and appends it framed: varint length, portable
 * bytes. TSS_ENOMEM. */
int tss_cov_put_bitmap(tss_buf *out, roaring_bitmap_t *bm) TSS_WUR;

/* Appends `key` prefix-compressed against `prev` (NULL: none). */
void tss_cov_put_key(tss_buf *out, const uint8_t *prev, size_t plen,
                     const uint8_t *key, size_t klen);

/*
 * Reads a prefix-compressed key written by tss_cov_put_key into *key
 * (tss_malloc'd, caller frees): well formed (tss_key_decode) and above
 * `prev`. TSS_ECORRUPT, TSS_ENOMEM.
 */
int tss_cov_get_key(tss_rd *r, const char *rel, const uint8_t *prev,
                    size_t plen, uint8_t **key, size_t *klen) TSS_WUR;

/*
 * Reads a bitmap's frame (varint length, then that many bytes) without
 * parsing it: *p, *len. TSS_ECORRUPT when it overruns the input.
 */
int tss_cov_get_frame(tss_rd *r, const char *rel, const uint8_t **p,
                      size_t *len) TSS_WUR;

/*
 * Parses framed portable bytes with CRoaring after its own size check
 * (roaring_bitmap_portable_deserialize_size, then
 * roaring_bitmap_portable_deserialize_safe); every value must be below
 * `limit`. TSS_ECORRUPT says which check failed; TSS_ENOMEM.
 */
int tss_cov_parse_bitmap(const uint8_t *p, size_t len, const char *rel,
                         uint64_t limit, roaring_bitmap_t **out) TSS_WUR;

/*
 * Checks portable bytes the way tss_cov_runs reads them, without
 * CRoaring: CRoaring's size check, then every container (keys increasing,
 * array values increasing, runs ordered and inside their container,
 * cardinalities as the header says) and nothing after the last.
 * TSS_ECORRUPT.
 */
int tss_cov_check_portable(const uint8_t *p, size_t len,
                           const char *rel) TSS_WUR;

/* ---- coverage_table.c, for the snapshot file (coverage_table_file.c) --- */

/* Adds a series the table does not hold; takes key and bm (NULL when the
 * bitmap stays the bytes ser[ser_len], inside an image the table keeps:
 * tss_covtable_keep), freeing them on failure. TSS_ENOMEM. */
int tss_covtable_adopt(tss_covtable *t, uint8_t *key, size_t key_len,
                       int64_t interval, roaring_bitmap_t *bm,
                       const uint8_t *ser, size_t ser_len) TSS_WUR;

/* Keeps file bytes (tss_malloc'd) that entries point into until the table
 * is freed; frees them on failure. TSS_ENOMEM. */
int tss_covtable_keep(tss_covtable *t, uint8_t *img) TSS_WUR;

/* What the file said: its version and covered seq; `partial`: loaded
 * with a selection (never saved); `rel` names the file in errors. */
void tss_covtable_set_origin(tss_covtable *t, uint64_t version,
                             uint64_t covered_seq, bool partial,
                             const char *rel);

bool tss_covtable_partial(const tss_covtable *t);
size_t tss_covtable_count(const tss_covtable *t);
int64_t tss_covtable_bucket_width(const tss_covtable *t);

/* The union over all series (owned by the table); set_all takes `all`. */
roaring_bitmap_t *tss_covtable_all(tss_covtable *t);
void tss_covtable_set_all(tss_covtable *t, roaring_bitmap_t *all);

/* Records that a save tried `version` (tss_covtable_spent). */
void tss_covtable_set_tried(tss_covtable *t, uint64_t version);

#endif /* TSS_COVERAGE_INTERNAL_H */
