/*
 * The table-level coverage snapshot, _coverage/table/<version>.roar
 * (format in coverage.h and docs/format.md, "Table-level coverage"):
 * writing it, reading it whole, and reading a few series through its
 * index; the table in memory is coverage_table.c's.
 *
 * The snapshot is written in blocks with an index of their first keys so
 * that a coverage query of a few series reads the header, the index and
 * the blocks that can hold them: for 10,000 series over 30 days the file
 * is 8.5 MB, the index 13 KB, a block 34 KB on average (16 KiB of series,
 * then the one that passes it). Each of the three carries its own
 * checksum, so what is read is checked without reading the rest.
 */
#define _GNU_SOURCE
#include "coverage_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "series.h"

static const uint8_t TABLE_MAGIC[8] = {0x89, 'T', 'S',  'T',
                                       'C',  'V', '\r', '\n'};
#define V1_HEADER_LEN TSS_COV_HEADER_LEN
#define V2_HEADER_LEN 96
/* a block closes at whichever comes first */
#define BLOCK_MAX_SERIES 128
#define BLOCK_MAX_BYTES 16384
#define VALUE_LIMIT ((uint64_t)UINT32_MAX + 1)

#define corrupt tss_cov_corrupt

/* ---- the snapshot file: writing --------------------------------------- */

static int cmp_entries(const void *a, const void *b)
{
    const tss_cov_entry *x = *(const tss_cov_entry *const *)a;
    const tss_cov_entry *y = *(const tss_cov_entry *const *)b;

    return tss_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Appends the checksum of out[from, len). */
static void seal_section(tss_buf *out, size_t from)
{
    tss_buf_put_u64(out, tss_checksum(out->data + from, out->len - from));
}

/* Format version 2 (coverage.h). */
static int table_encode(tss_covtable *t, int64_t bucket_width, uint64_t version,
                        tss_buf *out)
{
    size_t count = tss_covtable_count(t), i = 0, start, in_block = 0;
    const tss_cov_entry **v;
    uint8_t h[V2_HEADER_LEN];
    uint64_t union_off, index_off;
    uint32_t nblocks = 0;
    tss_buf index = {0};
    int rc = 0;

    v = tss_calloc(count ? count : 1, sizeof(*v));
    if (!v)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (const tss_cov_entry *e = tss_covtable_iter(t, NULL); e && i < count;
         e = tss_covtable_iter(t, e))
        v[i++] = e;
    qsort(v, count, sizeof(*v), cmp_entries);
    memset(h, 0, sizeof(h));
    tss_buf_append(out, h, sizeof(h)); /* filled in at the end */
    start = out->len;
    for (i = 0; i < count; i++) {
        const tss_cov_entry *e = v[i];

        if (in_block == 0) {
            start = out->len;
            tss_buf_put_varint(&index, e->key_len);
            tss_buf_append(&index, e->key, e->key_len);
        }
        tss_cov_put_key(out, in_block ? v[i - 1]->key : NULL,
                        in_block ? v[i - 1]->key_len : 0, e->key, e->key_len);
        tss_buf_put_varint(out, (uint64_t)e->interval);
        if ((rc = tss_cov_put_bitmap(out, e->bm)) != 0)
            goto out;
        in_block++;
        if (in_block == BLOCK_MAX_SERIES ||
            out->len - start >= BLOCK_MAX_BYTES || i + 1 == count) {
            seal_section(out, start);
            tss_buf_put_varint(&index, start);
            tss_buf_put_varint(&index, out->len - start);
            tss_buf_put_varint(&index, in_block);
            nblocks++;
            in_block = 0;
        }
    }
    union_off = out->len;
    if ((rc = tss_cov_put_bitmap(out, tss_covtable_all(t))) != 0)
        goto out;
    seal_section(out, union_off);
    index_off = out->len;
    tss_buf_append(out, index.data, index.len);
    seal_section(out, index_off);
    if (out->oom || index.oom) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(h, TABLE_MAGIC, 8);
    tss_put_u16(h + 8, TSS_COV_TABLE_VERSION);
    tss_put_u32(h + 12, V2_HEADER_LEN);
    tss_put_u64(h + 16, version);
    tss_put_u64(h + 24, tss_covtable_covered_seq(t));
    tss_put_u64(h + 32, (uint64_t)TSS_COV_BASE_BUCKET);
    tss_put_u64(h + 40, (uint64_t)bucket_width);
    tss_put_u32(h + 48, (uint32_t)count);
    tss_put_u32(h + 52, nblocks);
    tss_put_u64(h + 56, union_off);
    tss_put_u64(h + 64, index_off);
    tss_put_u64(h + 72, out->len - index_off);
    tss_put_u64(h + 88, tss_checksum(h, 88));
    memcpy(out->data, h, sizeof(h));
    tss_buf_put_u64(out, tss_checksum(out->data, out->len));
    if (out->oom)
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
out:
    tss_buf_free(&index);
    tss_free(v);
    return rc;
}

/* ---- the snapshot file: reading ----------------------------------------- */

/* What a version 2 header and index say. */
typedef struct v2_block {
    const uint8_t *first; /* first key, in the index bytes */
    size_t first_len;
    uint64_t off, len;
    uint32_t count;
} v2_block;

typedef struct v2_info {
    uint64_t version, covered_seq, union_off, index_off, index_len;
    uint32_t count, nblocks;
    v2_block *blocks;
} v2_info;

static int version_error(const char *rel, unsigned version)
{
    return tss_error_set(TSS_ECORRUPT,
                         "coverage file %s: format version %u is not "
                         "supported (this build reads 1 and %d)",
                         rel, version, TSS_COV_TABLE_VERSION);
}

/* The base bucket and bucket width every version records at 32..47. */
static int check_width(const uint8_t *h, const char *rel, int64_t bucket_width)
{
    if ((int64_t)tss_get_u64(h + 32) != TSS_COV_BASE_BUCKET ||
        (int64_t)tss_get_u64(h + 40) != bucket_width)
        return corrupt(rel, "base bucket or bucket width differs from STORE");
    return 0;
}

/* Checks a version 2 header (h: its 96 bytes) of a file of `size` bytes. */
static int v2_header(const uint8_t *h, uint64_t size, const char *rel,
                     int64_t bucket_width, v2_info *in)
{
    int rc;

    memset(in, 0, sizeof(*in));
    if (tss_get_u32(h + 12) != V2_HEADER_LEN)
        return corrupt(rel, "bad header length");
    if (size < V2_HEADER_LEN + 8)
        return corrupt(rel, "truncated header");
    if (tss_get_u64(h + 88) != tss_checksum(h, 88))
        return corrupt(rel, "header checksum mismatch");
    if ((rc = check_width(h, rel, bucket_width)) != 0)
        return rc;
    in->version = tss_get_u64(h + 16);
    in->covered_seq = tss_get_u64(h + 24);
    in->count = tss_get_u32(h + 48);
    in->nblocks = tss_get_u32(h + 52);
    in->union_off = tss_get_u64(h + 56);
    in->index_off = tss_get_u64(h + 64);
    in->index_len = tss_get_u64(h + 72);
    /* blocks, union, index, checksum: in that order, back to back */
    if (in->union_off < V2_HEADER_LEN || in->index_off < in->union_off + 8 ||
        in->index_off > size - 8 || in->index_len < 8 ||
        in->index_len != size - 8 - in->index_off)
        return corrupt(rel, "sections do not fit the file");
    /* a series takes 3 bytes at least, a block one series */
    if (in->count > (in->union_off - V2_HEADER_LEN) / 3 ||
        in->nblocks > in->count || (in->count > 0 && in->nblocks == 0))
        return corrupt(rel, "series or block count does not fit the file");
    return 0;
}

/* Checks and reads the index (idx: index_len bytes) into in->blocks
 * (tss_free). */
static int v2_index(const uint8_t *idx, const char *rel, v2_info *in)
{
    uint64_t next = V2_HEADER_LEN, total = 0;
    size_t len = (size_t)in->index_len - 8;
    tss_rd r;

    if (tss_get_u64(idx + len) != tss_checksum(idx, len))
        return corrupt(rel, "index checksum mismatch");
    if (in->nblocks > len / 4) /* a block's entry takes 4 bytes at least */
        return corrupt(rel, "block count does not fit the index");
    in->blocks = tss_calloc(in->nblocks ? in->nblocks : 1, sizeof(*in->blocks));
    if (!in->blocks)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    tss_rd_init(&r, idx, len);
    for (uint32_t b = 0; b < in->nblocks; b++) {
        v2_block *k = &in->blocks[b];
        uint64_t klen, count;
        tss_key_view kv;

        if (!tss_rd_varint(&r, &klen) || klen > TSS_KEY_MAX ||
            !tss_rd_bytes(&r, (size_t)klen, &k->first) ||
            !tss_rd_varint(&r, &k->off) || !tss_rd_varint(&r, &k->len) ||
            !tss_rd_varint(&r, &count))
            return corrupt(rel, "index entry overruns the index");
        k->first_len = (size_t)klen;
        k->count = (uint32_t)count;
        if (tss_key_decode(k->first, k->first_len, &kv) != 0 ||
            (b > 0 &&
             tss_key_cmp(in->blocks[b - 1].first, in->blocks[b - 1].first_len,
                         k->first, k->first_len) >= 0))
            return corrupt(rel, "index keys malformed or out of order");
        if (k->off != next || k->len < 8 || k->len > in->union_off - next ||
            count == 0 || count > k->len / 3)
            return corrupt(rel, "index block does not fit the file");
        next += k->len;
        total += count;
    }
    if (tss_rd_left(&r) != 0 || next != in->union_off || total != in->count)
        return corrupt(rel, "index disagrees with the header");
    return 0;
}

/* Entries go into t parsed (eager) or as bytes (lazy: the caller keeps the
 * bytes for as long as t). */
typedef struct reader {
    tss_covtable *t;
    const char *rel;
    const tss_cov_select *sel;
    bool lazy;
    uint8_t *prev; /* the last key read, owned here or by a node */
    size_t plen;
    bool prev_loose;
} reader;

static void reader_done(reader *rd)
{
    if (rd->prev_loose)
        tss_free(rd->prev);
    rd->prev = NULL;
    rd->plen = 0;
    rd->prev_loose = false;
}

/* Reads one entry at r: key (against `prev`, NULL at a block's start),
 * interval, bitmap; keeps it if selected. */
static int read_entry(reader *rd, tss_rd *r, bool block_start)
{
    uint8_t *key;
    size_t klen, flen;
    uint64_t interval;
    const uint8_t *frame;
    roaring_bitmap_t *bm = NULL;
    int rc;

    rc = tss_cov_get_key(r, rd->rel, block_start ? NULL : rd->prev,
                         block_start ? 0 : rd->plen, &key, &klen);
    if (rc == 0 && block_start && rd->prev &&
        tss_key_cmp(rd->prev, rd->plen, key, klen) >= 0) {
        tss_free(key);
        rc = corrupt(rd->rel, "series keys malformed or out of order");
    }
    if (rc)
        return rc;
    reader_done(rd);
    rd->prev = key;
    rd->plen = klen;
    rd->prev_loose = true;
    if (!tss_rd_varint(r, &interval) || interval > INT64_MAX)
        return corrupt(rd->rel, "bad interval");
    if ((rc = tss_cov_get_frame(r, rd->rel, &frame, &flen)) != 0)
        return rc;
    if (!tss_cov_selected(rd->sel, key, klen))
        return 0; /* checksummed, never parsed */
    /* the check tss_cov_runs relies on, eager or not: a file loads the
     * same way whole and by lookup */
    if ((rc = tss_cov_check_portable(frame, flen, rd->rel)) != 0)
        return rc;
    if (!rd->lazy && (rc = tss_cov_parse_bitmap(frame, flen, rd->rel,
                                                VALUE_LIMIT, &bm)) != 0)
        return rc;
    rd->prev_loose = false; /* the table owns it now (frees it on failure) */
    return tss_covtable_adopt(rd->t, key, klen, (int64_t)interval, bm,
                              rd->lazy ? frame : NULL, rd->lazy ? flen : 0);
}

/* One version 2 block (its bytes, its checksum last) as the index says. */
static int read_block(reader *rd, const uint8_t *p, const v2_block *b)
{
    size_t len = (size_t)b->len - 8;
    tss_rd r;

    if (tss_get_u64(p + len) != tss_checksum(p, len))
        return corrupt(rd->rel, "block checksum mismatch");
    tss_rd_init(&r, p, len);
    for (uint32_t i = 0; i < b->count; i++) {
        int rc = read_entry(rd, &r, i == 0);

        if (rc)
            return rc;
        if (i == 0 && (rd->plen != b->first_len ||
                       memcmp(rd->prev, b->first, b->first_len) != 0))
            return corrupt(rd->rel, "block's first key disagrees with the "
                                    "index");
    }
    if (tss_rd_left(&r) != 0)
        return corrupt(rd->rel, "trailing bytes in a block");
    return 0;
}

/* A new table for a file's header fields; partial with a selection. */
static int start_table(tss_covtable **out, int64_t bucket_width,
                       uint64_t version, uint64_t covered_seq,
                       const tss_cov_select *sel, const char *rel)
{
    int rc = tss_covtable_new(out, bucket_width);

    if (rc == 0)
        tss_covtable_set_origin(*out, version, covered_seq, sel != NULL, rel);
    return rc;
}

/* A version 1 file, whole (frame checked): eager without a selection,
 * else lazy (the caller keeps buf). */
static int v1_decode(const uint8_t *buf, size_t len, const char *rel,
                     int64_t bucket_width, const tss_cov_select *sel,
                     tss_covtable **out)
{
    const uint8_t *body = buf + V1_HEADER_LEN, *frame;
    size_t blen = len - V1_HEADER_LEN - 8, flen;
    uint32_t count = tss_get_u32(buf + 48);
    reader rd = {0};
    tss_rd r;
    int rc;

    if (tss_get_u32(buf + 12) != V1_HEADER_LEN)
        return corrupt(rel, "bad header length");
    if ((rc = check_width(buf, rel, bucket_width)) != 0)
        return rc;
    if (count > blen / 3)
        return corrupt(rel, "series count does not fit the file");
    if ((rc = start_table(out, bucket_width, tss_get_u64(buf + 16),
                          tss_get_u64(buf + 24), sel, rel)) != 0)
        return rc;
    rd = (reader){*out, rel, sel, sel != NULL, NULL, 0, false};
    tss_rd_init(&r, body, blen);
    if ((rc = tss_cov_get_frame(&r, rel, &frame, &flen)) == 0 && !sel) {
        roaring_bitmap_t *all;

        if ((rc = tss_cov_parse_bitmap(frame, flen, rel, VALUE_LIMIT, &all)) ==
            0) {
            tss_covtable_set_all(*out, all);
        }
    }
    for (uint32_t i = 0; i < count && rc == 0; i++)
        rc = read_entry(&rd, &r, false);
    if (rc == 0 && tss_rd_left(&r) != 0)
        rc = corrupt(rel, "trailing bytes");
    reader_done(&rd);
    return rc;
}

/* A version 2 file, whole (file checksum checked): every section checked
 * as a lookup checks it, so that both accept the same files. */
static int v2_decode(const uint8_t *buf, size_t len, const char *rel,
                     int64_t bucket_width, const tss_cov_select *sel,
                     tss_covtable **out)
{
    v2_info in;
    reader rd = {0};
    const uint8_t *frame;
    size_t flen;
    tss_rd r;
    int rc;

    if ((rc = v2_header(buf, len, rel, bucket_width, &in)) != 0 ||
        (rc = v2_index(buf + in.index_off, rel, &in)) != 0 ||
        (rc = start_table(out, bucket_width, in.version, in.covered_seq, sel,
                          rel)) != 0)
        goto out;
    rd = (reader){*out, rel, sel, sel != NULL, NULL, 0, false};
    for (uint32_t b = 0; b < in.nblocks && rc == 0; b++)
        rc = read_block(&rd, buf + in.blocks[b].off, &in.blocks[b]);
    if (rc)
        goto out;
    tss_rd_init(&r, buf + in.union_off, (size_t)(in.index_off - in.union_off));
    if (tss_get_u64(buf + in.index_off - 8) !=
        tss_checksum(buf + in.union_off,
                     (size_t)(in.index_off - in.union_off - 8))) {
        rc = corrupt(rel, "union checksum mismatch");
        goto out;
    }
    if ((rc = tss_cov_get_frame(&r, rel, &frame, &flen)) != 0)
        goto out;
    if (tss_rd_left(&r) != 8) {
        rc = corrupt(rel, "trailing bytes after the union");
        goto out;
    }
    if (!sel) {
        roaring_bitmap_t *all;

        /* walked first, as each series' bitmap: CRoaring accepts some
         * malformed containers (read_block) */
        if ((rc = tss_cov_check_portable(frame, flen, rel)) != 0 ||
            (rc = tss_cov_parse_bitmap(frame, flen, rel, VALUE_LIMIT, &all)) !=
                0)
            goto out;
        tss_covtable_set_all(*out, all);
    }
out:
    reader_done(&rd);
    tss_free(in.blocks);
    return rc;
}

/* A whole file: checks length, magic, version and checksum, then decodes.
 * Takes buf: with a selection the table keeps it, else it is freed. */
static int table_decode(uint8_t *buf, size_t len, const char *rel,
                        int64_t bucket_width, const tss_cov_select *sel,
                        tss_covtable **out)
{
    unsigned version;
    int rc;

    *out = NULL;
    if (len < V1_HEADER_LEN + 8)
        rc = corrupt(rel, len == 0 ? "empty file" : "truncated header");
    else if (memcmp(buf, TABLE_MAGIC, 8) != 0)
        rc = corrupt(rel, "bad magic");
    else if ((version = tss_get_u16(buf + 8)) != 1 &&
             version != TSS_COV_TABLE_VERSION)
        rc = version_error(rel, version);
    else if (tss_get_u64(buf + len - 8) != tss_checksum(buf, len - 8))
        rc = corrupt(rel, "checksum mismatch");
    else if (version == 1)
        rc = v1_decode(buf, len, rel, bucket_width, sel, out);
    else
        rc = v2_decode(buf, len, rel, bucket_width, sel, out);
    if (rc) {
        tss_covtable_free(*out);
        *out = NULL;
    }
    if (rc || !sel)
        tss_free(buf);
    else
        rc = tss_covtable_keep(*out, buf);
    return rc;
}

/* Reads file `rel` whole and decodes it. */
static int load_whole(tss_storage *st, const char *rel, int64_t bucket_width,
                      const tss_cov_select *sel, tss_covtable **out)
{
    uint8_t *buf;
    size_t len;
    int rc;

    *out = NULL;
    if ((rc = tss_storage_read_all(st, rel, TSS_COV_MAX_FILE, &buf, &len)))
        return rc;
    rc = table_decode(buf, len, rel, bucket_width, sel, out);
    if (rc && *out) {
        tss_covtable_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The blocks that can hold keys in [sel->lo, sel->hi): [*from, *to). */
static void blocks_between(const v2_info *in, const tss_cov_select *sel,
                           uint32_t *from, uint32_t *to)
{
    uint32_t a = 0, b = in->nblocks;

    /* block k holds [first k, first k+1): skip those whose successor
     * starts at or below lo, and those starting at or above hi */
    while (sel->lo && a + 1 < b &&
           tss_key_cmp(in->blocks[a + 1].first, in->blocks[a + 1].first_len,
                       sel->lo, sel->lo_len) <= 0)
        a++;
    while (sel->hi && b > a &&
           tss_key_cmp(in->blocks[b - 1].first, in->blocks[b - 1].first_len,
                       sel->hi, sel->hi_len) >= 0)
        b--;
    *from = a;
    *to = b;
}

/*
 * A version 2 file through its index: header, index, then only the blocks
 * that can hold the selected keys, each checked against its checksum (the
 * file's own checksum needs the whole file, and is not read). A version 1
 * file is read whole.
 */
static int load_lookup(tss_storage *st, const char *rel, int64_t bucket_width,
                       const tss_cov_select *sel, tss_covtable **out)
{
    uint8_t h[V2_HEADER_LEN], *idx = NULL, *blk = NULL;
    uint64_t size, off = 0;
    uint32_t from = 0, to = 0;
    v2_info in = {0};
    reader rd = {0};
    int fd = -1, rc;

    *out = NULL;
    if ((rc = tss_storage_open_read(st, rel, &fd, &size)) != 0)
        return rc;
    if (size < V2_HEADER_LEN + 8 ||
        (rc = tss_storage_pread(st, fd, rel, h, sizeof(h), 0)) != 0 ||
        memcmp(h, TABLE_MAGIC, 8) != 0 ||
        tss_get_u16(h + 8) != TSS_COV_TABLE_VERSION) {
        /* not version 2 (or too short): the whole file tells what it is */
        tss_storage_close_fd(st, fd);
        if (rc)
            return rc;
        return load_whole(st, rel, bucket_width, sel, out);
    }
    if ((rc = v2_header(h, size, rel, bucket_width, &in)) != 0)
        goto out;
    if (!(idx = tss_malloc((size_t)in.index_len))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tss_storage_pread(st, fd, rel, idx, (size_t)in.index_len,
                                in.index_off)) != 0 ||
        (rc = v2_index(idx, rel, &in)) != 0 ||
        (rc = start_table(out, bucket_width, in.version, in.covered_seq, sel,
                          rel)) != 0)
        goto out;
    blocks_between(&in, sel, &from, &to);
    if (from == to)
        goto out;
    off = in.blocks[from].off;
    if (!(blk = tss_malloc(
              (size_t)(in.blocks[to - 1].off + in.blocks[to - 1].len - off)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tss_storage_pread(
             st, fd, rel, blk,
             (size_t)(in.blocks[to - 1].off + in.blocks[to - 1].len - off),
             off)) != 0)
        goto out;
    rd = (reader){*out, rel, sel, true, NULL, 0, false};
    for (uint32_t b = from; b < to && rc == 0; b++)
        rc = read_block(&rd, blk + (in.blocks[b].off - off), &in.blocks[b]);
    /* the last key read sorts below the next block's first */
    if (rc == 0 && to < in.nblocks &&
        tss_key_cmp(rd.prev, rd.plen, in.blocks[to].first,
                    in.blocks[to].first_len) >= 0)
        rc = corrupt(rel, "series keys malformed or out of order");
    if (rc == 0) {
        rc = tss_covtable_keep(*out, blk);
        blk = NULL;
    }
out:
    reader_done(&rd);
    tss_storage_close_fd(st, fd);
    tss_free(in.blocks);
    tss_free(idx);
    tss_free(blk);
    if (rc) {
        tss_covtable_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Versions on disk, highest first. */
static int list_versions(tss_storage *st, uint64_t **out, size_t *n)
{
    return tss_storage_list_numbers(st, TSS_COV_TABLE_DIR, "", ".roar", out, n);
}

static int load_versions(tss_covtable **out, tss_storage *st,
                         int64_t bucket_width, const tss_cov_select *sel,
                         tss_log_fn log, void *log_ctx)
{
    uint64_t *vers;
    size_t n;
    int rc;

    *out = NULL;
    if ((rc = list_versions(st, &vers, &n)) != 0)
        return rc;
    rc = tss_error_set(TSS_ENOTFOUND, "no table coverage snapshot");
    for (size_t i = 0; i < n; i++) {
        char rel[96];

        snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar",
                 vers[i]);
        rc = sel && (sel->lo || sel->hi)
                 ? load_lookup(st, rel, bucket_width, sel, out)
                 : load_whole(st, rel, bucket_width, sel, out);
        if (rc == 0 && tss_covtable_version(*out) != vers[i]) {
            tss_covtable_free(*out);
            *out = NULL;
            rc = corrupt(rel, "version disagrees with the file name");
        }
        if (rc == 0) {
            /* the next save must not collide with a newer, corrupt file */
            tss_covtable_set_version(*out, vers[0]);
            break;
        }
        if (rc == TSS_ENOMEM)
            break;
        tss_log(log, log_ctx, TSS_LEVEL_ERR, "skipping %s", tss_error_last());
    }
    if (rc != 0 && rc != TSS_ENOMEM && n > 0) {
        /* none reads back: the table is derived data, so start empty
         * (the caller unions every sidecar), numbered above the bad ones */
        rc = start_table(out, bucket_width, vers[0], 0, sel, "");
    }
    tss_free(vers);
    return rc;
}

int tss_covtable_load(tss_covtable **out, tss_storage *st, int64_t bucket_width,
                      tss_log_fn log, void *log_ctx)
{
    return load_versions(out, st, bucket_width, NULL, log, log_ctx);
}

int tss_covtable_load_select(tss_covtable **out, tss_storage *st,
                             int64_t bucket_width, const tss_cov_select *sel,
                             tss_log_fn log, void *log_ctx)
{
    static const tss_cov_select all = {0};

    return load_versions(out, st, bucket_width, sel ? sel : &all, log, log_ctx);
}

int tss_covtable_save(tss_covtable *t, tss_storage *st)
{
    tss_buf img = {0};
    uint64_t version = tss_covtable_spent(t) + 1, *vers;
    char rel[96];
    size_t n;
    int rc;

    if (tss_covtable_partial(t))
        return tss_error_set(TSS_EINVAL, "a table loaded for a query holds "
                                         "part of the coverage: not saved");
    if ((rc = tss_storage_mkdirs(st, TSS_COV_TABLE_DIR)) != 0)
        return rc;
    if ((rc = table_encode(t, tss_covtable_bucket_width(t), version, &img)) !=
        0)
        goto out;
    snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar", version);
    tss_covtable_set_tried(t, version);
    if ((rc = tss_storage_write_new(st, rel, img.data, img.len)) != 0)
        goto out;
    tss_covtable_set_version(t, version);
    tss_covtable_set_saved_bytes(t, img.len);
    /* keep the new version and its predecessor; older ones are garbage */
    if (list_versions(st, &vers, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (vers[i] + 1 >= version)
                continue;
            snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar",
                     vers[i]);
            (void)!tss_storage_remove(st, rel);
        }
        tss_free(vers);
    }
    tss_error_clear();
out:
    tss_buf_free(&img);
    return rc;
}
