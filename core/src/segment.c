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

static const uint8_t SEG_MAGIC[8] = {0x89, 'T', 'S', 'S', 'E', 'G', '\r', '\n'};

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
    if (out->oom || b->table.oom) {
        tss_seg_builder_abort(b); /* callers do not abort a failed begin */
        return tss_error_set(TSS_ENOMEM, "out of memory building a segment");
    }
    return 0;
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
    while (shared < b->prev.len && shared < key_len &&
           b->prev.data[shared] == key[shared])
        shared++;
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
    if (out->oom || b->table.oom || b->prev.oom)
        return tss_error_set(TSS_ENOMEM, "out of memory building a segment");
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
    int rc = 0;

    tss_buf_put_u64(&b->table, tss_checksum(b->table.data, b->table.len));
    if (b->table.oom) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory building a segment");
        goto out;
    }
    hdr = out->data + b->base;
    memcpy(hdr, SEG_MAGIC, 8);
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
}

void tss_segment_close(tss_segment *seg)
{
    if (!seg)
        return;
    if (seg->fd >= 0)
        tss_storage_close_fd(seg->st, seg->fd);
    tss_free(seg->entries);
    tss_free(seg->supersedes);
    tss_free(seg->keys);
    tss_free(seg->rel);
    tss_free(seg);
}

static int corrupt(const char *rel, const char *what)
{
    return tss_error_set(TSS_ECORRUPT, "segment %s: %s", rel, what);
}

static int parse_table(tss_segment *seg, const uint8_t *tab, size_t len,
                       uint64_t chunks_end)
{
    tss_rd r;
    uint64_t nsup, off = TSS_SEG_HEADER, total = 0;
    tss_buf arena = {0};
    size_t prev_off = 0, prev_len = 0;
    /* a rollup entry's key is a series key and an aggregate byte */
    uint64_t key_max = TSS_KEY_MAX + (seg->resolution ? 1 : 0);
    int rc = 0;

    tss_rd_init(&r, tab, len);
    tss_rd_varint(&r, &nsup);
    if (r.bad || nsup > tss_rd_left(&r) / 16)
        return corrupt(seg->rel, "bad supersede list");
    if (nsup) {
        seg->supersedes = tss_malloc((size_t)nsup * 16);
        if (!seg->supersedes)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < nsup; i++) {
            const uint8_t *u;

            tss_rd_bytes(&r, 16, &u);
            memcpy(seg->supersedes[i], u, 16);
        }
        seg->nsupersedes = (size_t)nsup;
    }
    /* each entry takes at least 14 bytes, which bounds the allocation */
    if (seg->nentries > tss_rd_left(&r) / 14 + 1)
        return corrupt(seg->rel, "series count does not fit the table");
    seg->entries =
        tss_calloc(seg->nentries ? seg->nentries : 1, sizeof(*seg->entries));
    if (!seg->entries)
        return tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
    for (size_t i = 0; i < seg->nentries; i++) {
        tss_seg_entry *e = &seg->entries[i];
        uint64_t shared, slen, clen, cnt, zmin, span;
        const uint8_t *suffix;
        tss_key_view kv;

        tss_rd_varint(&r, &shared);
        tss_rd_varint(&r, &slen);
        if (r.bad || shared > prev_len || slen > key_max ||
            shared + slen > key_max || shared + slen == 0) {
            rc = corrupt(seg->rel, "bad key in the series table");
            goto out;
        }
        tss_rd_bytes(&r, (size_t)slen, &suffix);
        tss_rd_varint(&r, &clen);
        tss_rd_varint(&r, &cnt);
        tss_rd_varint(&r, &zmin);
        tss_rd_varint(&r, &span);
        tss_rd_u64(&r, &e->checksum);
        if (r.bad) {
            rc = corrupt(seg->rel, "series table truncated");
            goto out;
        }
        if (!tss_buf_reserve(&arena, (size_t)(shared + slen))) {
            rc =
                tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
            goto out;
        }
        e->key_off = arena.len;
        e->key_len = (size_t)(shared + slen);
        memmove(arena.data + arena.len, arena.data + prev_off, (size_t)shared);
        memcpy(arena.data + arena.len + shared, suffix, (size_t)slen);
        arena.len += e->key_len;
        e->key = arena.data + e->key_off;
        /* a rollup entry's key is a series key and an aggregate byte */
        if (tss_key_decode(e->key, e->key_len - (seg->resolution ? 1 : 0),
                           &kv) != 0 ||
            (seg->resolution &&
             !tss_agg_valid(kv.kind, e->key[e->key_len - 1]))) {
            rc = corrupt(seg->rel, "malformed series key");
            goto out;
        }
        if (i > 0 && tss_key_cmp(arena.data + prev_off, prev_len, e->key,
                                 e->key_len) >= 0) {
            rc = corrupt(seg->rel, "series keys not in order");
            goto out;
        }
        e->series_kind = kv.kind;
        e->agg = seg->resolution ? e->key[e->key_len - 1] : 0;
        e->kind = e->agg ? tss_agg_kind(kv.kind, e->agg) : kv.kind;
        if (clen == 0 || clen > chunks_end - off || cnt == 0) {
            rc = corrupt(seg->rel, "chunk outside the chunk area");
            goto out;
        }
        e->offset = off;
        e->len = clen;
        off += clen;
        e->count = cnt;
        e->min_t =
            (int64_t)((uint64_t)tss_unzigzag(zmin) + (uint64_t)seg->name.start);
        e->max_t = (int64_t)((uint64_t)e->min_t + span);
        if (e->min_t < seg->name.start || e->max_t >= seg->name.end ||
            e->max_t < e->min_t || cnt - 1 > span) {
            rc = corrupt(seg->rel, "series range outside the window");
            goto out;
        }
        total += cnt;
        prev_off = e->key_off;
        prev_len = e->key_len;
    }
    if (tss_rd_left(&r) != 0)
        rc = corrupt(seg->rel, "trailing bytes after the series table");
    else if (off != chunks_end)
        rc = corrupt(seg->rel, "chunks do not fill the chunk area");
    else if (total != seg->points)
        rc = corrupt(seg->rel, "point count disagrees with the header");
out:
    /* the arena may have moved while growing: point keys at its final home */
    seg->keys = arena.data;
    for (size_t i = 0; i < seg->nentries; i++)
        seg->entries[i].key =
            arena.data ? arena.data + seg->entries[i].key_off : NULL;
    return rc;
}

int tss_segment_open(tss_segment **out, tss_storage *st, const char *rel)
{
    uint8_t hdr[TSS_SEG_HEADER];
    uint8_t *tab = NULL;
    uint64_t tab_off, tab_len;
    tss_segment *seg;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    int rc;

    *out = NULL;
    seg = tss_calloc(1, sizeof(*seg));
    if (!seg || !(seg->rel = tss_strdup(rel))) {
        tss_free(seg);
        return tss_error_set(TSS_ENOMEM, "out of memory opening %s", rel);
    }
    seg->fd = -1;
    seg->st = st;
    if ((rc = tss_seg_name_parse(base, &seg->name)) != 0)
        goto out;
    if ((rc = tss_storage_open_read(st, rel, &seg->fd, &seg->file_size)) != 0)
        goto out;
    if (seg->file_size < TSS_SEG_HEADER + 8) {
        rc = corrupt(rel, "file shorter than a header");
        goto out;
    }
    if ((rc = tss_storage_pread(st, seg->fd, rel, hdr, sizeof(hdr), 0)) != 0)
        goto out;
    if (memcmp(hdr, SEG_MAGIC, 8) != 0) {
        rc = corrupt(rel, "bad magic");
        goto out;
    }
    if (tss_get_u64(hdr + 120) != tss_checksum(hdr, 120)) {
        rc = corrupt(rel, "header checksum mismatch");
        goto out;
    }
    if (tss_get_u16(hdr + 8) != TSS_SEG_VERSION) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "segment %s: format version %u is not supported "
                           "(this build reads %d)",
                           rel, tss_get_u16(hdr + 8), TSS_SEG_VERSION);
        goto out;
    }
    if ((tss_get_u16(hdr + 10) & ~TSS_SEG_FLAG_ROLLUP) != 0) {
        rc = corrupt(rel, "unknown header flags");
        goto out;
    }
    if (tss_get_u16(hdr + 10) & TSS_SEG_FLAG_ROLLUP) {
        seg->resolution = (int64_t)tss_get_u64(hdr + 104);
        if (seg->resolution <= 0) {
            rc = corrupt(rel, "rollup segment without a resolution");
            goto out;
        }
    }
    tab_off = tss_get_u64(hdr + 64);
    tab_len = tss_get_u64(hdr + 72);
    seg->units_per_second = tss_get_u32(hdr + 56);
    seg->nentries = tss_get_u32(hdr + 60);
    seg->points = tss_get_u64(hdr + 80);
    seg->min_t = (int64_t)tss_get_u64(hdr + 88);
    seg->max_t = (int64_t)tss_get_u64(hdr + 96);
    if (tss_get_u32(hdr + 12) != TSS_SEG_HEADER ||
        (int64_t)tss_get_u64(hdr + 16) != seg->name.start ||
        (int64_t)tss_get_u64(hdr + 24) != seg->name.end ||
        tss_get_u64(hdr + 32) != seg->name.seq ||
        memcmp(hdr + 40, seg->name.uuid, 16) != 0) {
        rc = corrupt(rel, "header disagrees with the file name");
        goto out;
    }
    if (tab_off < TSS_SEG_HEADER || tab_len < 9 ||
        tab_len > TSS_SEG_MAX_TABLE || tab_off + tab_len != seg->file_size) {
        rc = corrupt(rel, "table position does not match the file size");
        goto out;
    }
    tab = tss_malloc((size_t)tab_len);
    if (!tab) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory reading %s", rel);
        goto out;
    }
    if ((rc = tss_storage_pread(st, seg->fd, rel, tab, (size_t)tab_len,
                                tab_off)) != 0)
        goto out;
    if (tss_get_u64(tab + tab_len - 8) !=
        tss_checksum(tab, (size_t)tab_len - 8)) {
        rc = corrupt(rel, "series table checksum mismatch");
        goto out;
    }
    {
        /* content hash: both checksums, which transitively cover every
         * chunk (the table holds the chunk checksums) */
        uint8_t both[16];

        memcpy(both, hdr + 120, 8);
        memcpy(both + 8, tab + tab_len - 8, 8);
        seg->content_hash = tss_checksum(both, 16);
    }
    if ((rc = parse_table(seg, tab, (size_t)tab_len - 8, tab_off)) != 0)
        goto out;
    *out = seg;
    seg = NULL;
out:
    tss_free(tab);
    tss_segment_close(seg);
    return rc;
}

int tss_segment_read_points(tss_segment *seg, size_t i, tss_point **pts,
                            size_t *n, size_t *cap)
{
    const tss_seg_entry *e = &seg->entries[i];
    uint8_t *buf;
    size_t before = *n;
    int rc;

    buf = tss_malloc((size_t)e->len);
    if (!buf)
        return tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
    rc = tss_storage_pread(seg->st, seg->fd, seg->rel, buf, (size_t)e->len,
                           e->offset);
    if (rc)
        goto out;
    if (tss_checksum(buf, (size_t)e->len) != e->checksum) {
        rc = corrupt(seg->rel, "chunk checksum mismatch");
        goto out;
    }
    rc = tss_chunk_decode(buf, (size_t)e->len, e->kind, seg->name.start,
                          (size_t)e->count, pts, n, cap);
    if (rc) {
        rc = tss_error_set(rc, "segment %s: %s", seg->rel, tss_error_last());
        goto out;
    }
    if (*n - before != e->count || (*pts)[before].t != e->min_t ||
        (*pts)[*n - 1].t != e->max_t) {
        *n = before;
        rc = corrupt(seg->rel, "chunk disagrees with its table entry");
    }
out:
    tss_free(buf);
    return rc;
}

long tss_segment_find(const tss_segment *seg, const uint8_t *key,
                      size_t key_len)
{
    size_t lo = 0, hi = seg->nentries;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tss_key_cmp(seg->entries[mid].key, seg->entries[mid].key_len,
                            key, key_len);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}
