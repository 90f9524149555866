/*
 * Tombstone sidecars (format in tombstone.h).
 */
#define _GNU_SOURCE
#include "tombstone.h"

#include <stdio.h>

#include <uuid/uuid.h>

#include "series.h"

static const uint8_t TOMB_MAGIC[8] = {0x89, 'T', 'S',  'T',
                                      'M',  'B', '\r', '\n'};
#define HEADER_LEN 64
#define MAX_TOMB (UINT64_C(1) << 30)

void tss_tomb_path(char *out, size_t size, const uint8_t uuid[16])
{
    char u[37];

    uuid_unparse_lower(uuid, u);
    snprintf(out, size, TSS_SEG_DIR "/%s.tombstones", u);
}

void tss_tomb_free(tss_tombstones *t)
{
    for (size_t i = 0; i < t->n; i++)
        tss_free(t->entries[i].key);
    tss_free(t->entries);
    memset(t, 0, sizeof(*t));
}

int tss_tomb_push(tss_tombstones *t, const uint8_t mutation[16],
                  const uint8_t *key, size_t key_len, int64_t from, int64_t to)
{
    tss_tomb_entry *e;

    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        tss_tomb_entry *ne = tss_realloc(t->entries, nc * sizeof(*ne));

        if (!ne)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        t->entries = ne;
        t->cap = nc;
    }
    e = &t->entries[t->n];
    if (!(e->key = tss_malloc(key_len)))
        return tss_error_set(TSS_ENOMEM, "out of memory");
    memcpy(e->mutation, mutation, 16);
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->from = from;
    e->to = to;
    t->n++;
    return 0;
}

bool tss_tomb_has_mutation(const tss_tombstones *t, const uint8_t mutation[16])
{
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->entries[i].mutation, mutation, 16) == 0)
            return true;
    return false;
}

int tss_tomb_encode(const tss_tombstones *t, tss_buf *out)
{
    uint8_t h[HEADER_LEN];
    size_t start = out->len;

    memset(h, 0, sizeof(h));
    memcpy(h, TOMB_MAGIC, 8);
    tss_put_u16(h + 8, 1);
    tss_put_u32(h + 12, HEADER_LEN);
    memcpy(h + 16, t->seg_uuid, 16);
    tss_put_u64(h + 32, t->seg_hash);
    tss_put_u32(h + 40, (uint32_t)t->n);
    tss_buf_append(out, h, sizeof(h));
    for (size_t i = 0; i < t->n; i++) {
        const tss_tomb_entry *e = &t->entries[i];

        tss_buf_append(out, e->mutation, 16);
        tss_buf_put_varint(out, e->key_len);
        tss_buf_append(out, e->key, e->key_len);
        tss_buf_put_varint(out, tss_zigzag(e->from));
        tss_buf_put_varint(out, tss_zigzag(e->to));
    }
    if (!out->oom)
        tss_buf_put_u64(out, tss_checksum(out->data + start, out->len - start));
    return out->oom ? tss_error_set(TSS_ENOMEM, "out of memory") : 0;
}

static int corrupt(const char *rel, const char *what)
{
    return tss_error_set(TSS_ECORRUPT, "tombstones %s: %s", rel, what);
}

int tss_tomb_decode(const uint8_t *buf, size_t len, const char *rel,
                    tss_tombstones *out)
{
    uint32_t count;
    tss_rd r;

    memset(out, 0, sizeof(*out));
    if (len < HEADER_LEN + 8)
        return corrupt(rel, "truncated");
    if (memcmp(buf, TOMB_MAGIC, 8) != 0)
        return corrupt(rel, "bad magic");
    if (tss_get_u64(buf + len - 8) != tss_checksum(buf, len - 8))
        return corrupt(rel, "checksum mismatch");
    if (tss_get_u16(buf + 8) != 1 || tss_get_u32(buf + 12) != HEADER_LEN)
        return corrupt(rel, "unsupported format version");
    memcpy(out->seg_uuid, buf + 16, 16);
    out->seg_hash = tss_get_u64(buf + 32);
    count = tss_get_u32(buf + 40);
    if (count > len / 18)
        return corrupt(rel, "entry count does not fit the file");
    tss_rd_init(&r, buf + HEADER_LEN, len - HEADER_LEN - 8);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *mut, *key;
        uint64_t klen, zf, zt;
        tss_key_view kv;
        int rc;

        tss_rd_bytes(&r, 16, &mut);
        tss_rd_varint(&r, &klen);
        if (r.bad || klen > TSS_KEY_MAX || !tss_rd_bytes(&r, klen, &key) ||
            !tss_rd_varint(&r, &zf) || !tss_rd_varint(&r, &zt) ||
            tss_key_decode(key, (size_t)klen, &kv) != 0) {
            tss_tomb_free(out);
            return corrupt(rel, "malformed entry");
        }
        if ((rc = tss_tomb_push(out, mut, key, (size_t)klen, tss_unzigzag(zf),
                                tss_unzigzag(zt))) != 0) {
            tss_tomb_free(out);
            return rc;
        }
    }
    if (tss_rd_left(&r) != 0) {
        tss_tomb_free(out);
        return corrupt(rel, "trailing bytes");
    }
    return 0;
}

int tss_tomb_read(tss_storage *st, const tss_segment *seg, tss_tombstones *out)
{
    char rel[128];
    uint8_t *buf;
    size_t len;
    uint64_t etag;
    int rc;

    memset(out, 0, sizeof(*out));
    tss_tomb_path(rel, sizeof(rel), seg->name.uuid);
    rc = tss_storage_read_etag(st, rel, (size_t)MAX_TOMB, &buf, &len, &etag);
    if (rc == TSS_ENOTFOUND) {
        memcpy(out->seg_uuid, seg->name.uuid, 16);
        out->seg_hash = seg->content_hash;
        out->etag = TSS_ETAG_NONE;
        tss_error_clear();
        return 0;
    }
    if (rc)
        return rc;
    rc = tss_tomb_decode(buf, len, rel, out);
    tss_free(buf);
    if (rc)
        return rc;
    out->etag = etag;
    if (memcmp(out->seg_uuid, seg->name.uuid, 16) != 0 ||
        out->seg_hash != seg->content_hash) {
        tss_tomb_free(out);
        return corrupt(rel, "recorded for other segment content than "
                            "the segment beside it");
    }
    return 0;
}
