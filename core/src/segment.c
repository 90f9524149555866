/*
 * Segment files: build and read. The byte layout is specified in segment.h.
 */
#include "segment.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "codec_gorilla.h"
#include "series.h"

void tss_seg_name_format(char *out, size_t size, const tss_seg_name *n)
{
    char u[37];

    uuid_unparse_lower(n->uuid, u);
    snprintf(out, size,
             TSS_SEG_DIR "/%" PRId64 "_%" PRId64 "_%" PRIu64 "_%s.seg",
             n->start, n->end, n->seq, u);
}

static bool parse_i64(const char **p, char stop, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(*p, &end, 10);
    if (errno || end == *p || *end != stop)
        return false;
    *out = v;
    *p = end + 1;
    return true;
}

int tss_seg_name_parse(const char *name, tss_seg_name *out)
{
    const char *p = name;
    char u[37], canon[160];
    char *end;
    size_t len = strlen(name);
    unsigned long long seq;

    if (len < 4 + 36 + 6 || strcmp(name + len - 4, ".seg") != 0)
        goto bad;
    if (!parse_i64(&p, '_', &out->start) || !parse_i64(&p, '_', &out->end))
        goto bad;
    if (*p < '0' || *p > '9')
        goto bad;
    errno = 0;
    seq = strtoull(p, &end, 10);
    if (errno || *end != '_')
        goto bad;
    out->seq = seq;
    p = end + 1;
    if (strlen(p) != 36 + 4)
        goto bad;
    memcpy(u, p, 36);
    u[36] = '\0';
    if (uuid_parse(u, out->uuid) != 0 || out->end <= out->start)
        goto bad;
    /* one segment, one name: "+0", " 0", "00" or upper-case hex would name
     * the same segment as the form tss_seg_name_format writes */
    tss_seg_name_format(canon, sizeof(canon), out);
    if (strcmp(canon + sizeof(TSS_SEG_DIR), name) != 0)
        goto bad;
    return 0;
bad:
    return tss_error_set(TSS_EINVAL, "\"%s\" is not a segment name", name);
}

int tss_seg_builder_begin(tss_seg_builder *b, tss_buf *out,
                          const tss_seg_name *name, uint32_t units_per_second,
                          const uint8_t (*supersedes)[16], size_t nsup)
{
    uint8_t hdr[TSS_SEG_HEADER];

    memset(b, 0, sizeof(*b));
    b->out = out;
    b->name = *name;
    b->units_per_second = units_per_second;
    b->base = out->len;
    b->min_t = INT64_MAX;
    b->max_t = INT64_MIN;
    /* reserve the header; filled in by finish once the chunks are known */
    memset(hdr, 0, sizeof(hdr));
    tss_buf_append(out, hdr, sizeof(hdr));
    tss_buf_put_varint(&b->table, nsup);
    for (size_t i = 0; i < nsup; i++)
        tss_buf_append(&b->table, supersedes[i], 16);
    b->sup_len = b->table.len;
    b->block_start = b->table.len;
    if (out->oom || b->table.oom) {
        tss_seg_builder_abort(b); /* callers do not abort a failed begin */
        return tss_error_set(TSS_ENOMEM, "out of memory building a segment");
    }
    return 0;
}

/* Ends the open block: its record goes to the block index. */
static void close_block(tss_seg_builder *b)
{
    tss_buf_put_varint(&b->blocks, b->block_entries);
    tss_buf_put_varint(&b->blocks, b->table.len - b->block_start);
    tss_buf_put_varint(&b->blocks, b->block_chunks);
    if (!b->table.oom)
        tss_buf_put_u64(&b->blocks,
                        tss_checksum(b->table.data + b->block_start,
                                     b->table.len - b->block_start));
    tss_buf_put_varint(&b->blocks, b->first.len);
    tss_buf_append(&b->blocks, b->first.data, b->first.len);
    b->nblocks++;
    b->block_start = b->table.len;
    b->block_entries = 0;
    b->block_chunks = 0;
}

int tss_seg_builder_add(tss_seg_builder *b, const uint8_t *key, size_t key_len,
                        const tss_point *pts, size_t n)
{
    tss_buf *out = b->out;
    size_t before = out->len, shared = 0;
    int64_t lo, hi;
    int rc;

    if (n == 0 || b->nseries == UINT32_MAX ||
        (b->nseries > 0 &&
         tss_key_cmp(b->prev.data, b->prev.len, key, key_len) >= 0))
        return tss_error_set(
            TSS_EINVAL, "segment series %u empty or out of order", b->nseries);
    lo = pts[0].t;
    hi = pts[n - 1].t;
    if (lo < b->name.start || hi >= b->name.end)
        return tss_error_set(TSS_EINVAL, "segment series outside window");
    /* a rollup's key ends in its aggregate: the value kind follows it */
    if ((rc = tss_chunk_encode(
             out,
             b->resolution ? tss_agg_kind(key[key_len - 2], key[key_len - 1])
                           : key[key_len - 1],
             b->name.start, pts, n)) != 0)
        return rc;
    if (b->block_entries > 0 && b->table.len - b->block_start >= TSS_SEG_BLOCK)
        close_block(b);
    if (b->block_entries == 0) { /* a block starts with a whole key */
        b->first.len = 0;
        tss_buf_append(&b->first, key, key_len);
    } else {
        while (shared < b->prev.len && shared < key_len &&
               b->prev.data[shared] == key[shared])
            shared++;
    }
    tss_buf_put_varint(&b->table, shared);
    tss_buf_put_varint(&b->table, key_len - shared);
    tss_buf_append(&b->table, key + shared, key_len - shared);
    tss_buf_put_varint(&b->table, out->len - before);
    tss_buf_put_varint(&b->table, n);
    tss_buf_put_varint(
        &b->table,
        tss_zigzag((int64_t)((uint64_t)lo - (uint64_t)b->name.start)));
    tss_buf_put_varint(&b->table, (uint64_t)hi - (uint64_t)lo);
    if (!out->oom)
        tss_buf_put_u64(&b->table,
                        tss_checksum(out->data + before, out->len - before));
    b->prev.len = 0;
    tss_buf_append(&b->prev, key, key_len);
    if (out->oom || b->table.oom || b->prev.oom || b->first.oom)
        return tss_error_set(TSS_ENOMEM, "out of memory building a segment");
    b->block_entries++;
    b->block_chunks += out->len - before;
    b->points += n;
    b->nseries++;
    if (lo < b->min_t)
        b->min_t = lo;
    if (hi > b->max_t)
        b->max_t = hi;
    return 0;
}

int tss_seg_builder_finish(tss_seg_builder *b)
{
    tss_buf *out = b->out;
    uint8_t *hdr;
    size_t index_at;
    int rc = 0;

    if (b->block_entries > 0)
        close_block(b);
    /* the block index, then the table's checksum over all of it */
    index_at = b->table.len;
    if (!b->table.oom)
        tss_buf_put_u64(&b->table, tss_checksum(b->table.data, b->sup_len));
    tss_buf_put_varint(&b->table, b->nblocks);
    tss_buf_append(&b->table, b->blocks.data, b->blocks.len);
    if (!b->table.oom)
        tss_buf_put_u64(&b->table, tss_checksum(b->table.data + index_at,
                                                b->table.len - index_at));
    if (!b->table.oom)
        tss_buf_put_u64(&b->table, tss_checksum(b->table.data, b->table.len));
    if (b->table.oom || b->blocks.oom) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory building a segment");
        goto out;
    }
    if (b->table.len > TSS_SEG_MAX_TABLE) { /* readers would refuse it */
        rc = tss_error_set(TSS_EINVAL,
                           "segment table of %zu bytes is over the limit",
                           b->table.len);
        goto out;
    }
    hdr = out->data + b->base;
    memcpy(hdr, TSS_SEG_MAGIC, 8);
    tss_put_u16(hdr + 8, TSS_SEG_VERSION);
    tss_put_u16(hdr + 10, b->resolution ? TSS_SEG_FLAG_ROLLUP : 0);
    tss_put_u32(hdr + 12, TSS_SEG_HEADER);
    tss_put_u64(hdr + 104, (uint64_t)b->resolution);
    tss_put_u64(hdr + 16, (uint64_t)b->name.start);
    tss_put_u64(hdr + 24, (uint64_t)b->name.end);
    tss_put_u64(hdr + 32, b->name.seq);
    memcpy(hdr + 40, b->name.uuid, 16);
    tss_put_u32(hdr + 56, b->units_per_second);
    tss_put_u32(hdr + 60, b->nseries);
    tss_put_u64(hdr + 64, out->len - b->base);
    tss_put_u64(hdr + 72, b->table.len);
    tss_put_u64(hdr + 80, b->points);
    tss_put_u64(hdr + 88, (uint64_t)(b->nseries ? b->min_t : 0));
    tss_put_u64(hdr + 96, (uint64_t)(b->nseries ? b->max_t : 0));
    tss_put_u32(hdr + 112, (uint32_t)(b->table.len - 8 - index_at));
    tss_put_u32(hdr + 116, (uint32_t)b->sup_len);
    tss_put_u64(hdr + 120, tss_checksum(hdr, 120));
    tss_buf_append(out, b->table.data, b->table.len);
    if (out->oom)
        rc = tss_error_set(TSS_ENOMEM, "out of memory building a segment");
out:
    tss_seg_builder_abort(b);
    return rc;
}

void tss_seg_builder_abort(tss_seg_builder *b)
{
    tss_buf_free(&b->table);
    tss_buf_free(&b->prev);
    tss_buf_free(&b->blocks);
    tss_buf_free(&b->first);
}

/* Recomputes a version 2 table's block, supersede list and index
 * checksums (tss_segment_reseal). */
static bool reseal_index(const uint8_t *img, uint8_t *tab, uint64_t tab_len)
{
    uint64_t index_len = tss_get_u32(img + 112);
    uint64_t sup_len = tss_get_u32(img + 116);
    uint64_t nblocks, toff = 0;
    uint8_t *idx;
    tss_rd r;

    if (index_len < 17 || sup_len + index_len > tab_len - 8)
        return false;
    idx = tab + tab_len - 8 - index_len;
    tss_put_u64(idx, tss_checksum(tab, (size_t)sup_len));
    tss_rd_init(&r, idx + 8, (size_t)index_len - 16);
    tss_rd_varint(&r, &nblocks);
    for (uint64_t i = 0; i < nblocks && !r.bad; i++) {
        uint64_t count, blen, chunks, sum, klen;
        uint8_t *at;
        const uint8_t *key;

        tss_rd_varint(&r, &count);
        tss_rd_varint(&r, &blen);
        tss_rd_varint(&r, &chunks);
        at = (uint8_t *)r.p;
        tss_rd_u64(&r, &sum);
        tss_rd_varint(&r, &klen);
        tss_rd_bytes(&r, (size_t)klen, &key);
        if (r.bad || blen > tab_len - 8 - index_len - sup_len - toff)
            return false;
        tss_put_u64(at, tss_checksum(tab + sup_len + toff, (size_t)blen));
        toff += blen;
    }
    if (r.bad)
        return false;
    tss_put_u64(idx + index_len - 8, tss_checksum(idx, (size_t)index_len - 8));
    return true;
}

bool tss_segment_reseal(uint8_t *img, size_t len)
{
    uint64_t tab_off, tab_len;
    uint8_t *tab;

    if (len < TSS_SEG_HEADER)
        return false;
    tab_off = tss_get_u64(img + 64);
    tab_len = tss_get_u64(img + 72);
    if (tab_off > len || tab_len > len - tab_off || tab_len < 8)
        return false;
    tab = img + tab_off;
    if (tss_get_u16(img + 8) >= 2 && !reseal_index(img, tab, tab_len))
        return false;
    tss_put_u64(tab + tab_len - 8, tss_checksum(tab, (size_t)tab_len - 8));
    return true;
}
