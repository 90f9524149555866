/*
 * Segment files: open and read (the byte layout is in segment.h and
 * docs/format.md, "Segments"). A whole open checks every byte of the
 * table; an open for key prefixes reads and checks the block index and the
 * blocks that can hold the prefixes.
 */
#include "segment.h"

#include "series.h"
#include "codec_gorilla.h"

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

/* One block of a version 2 table, as its index describes it. */
typedef struct seg_block {
    uint64_t count, len, chunks, checksum;
    uint64_t first;     /* ordinal of its first entry */
    uint64_t table_off; /* of its entries, from the first entry's */
    uint64_t chunk_off; /* of its first chunk, in the file */
    const uint8_t *key; /* its first key, in the index bytes */
    size_t key_len;
} seg_block;

/* Where parsing entries stands: the key arena, the previous key (for the
 * order check across blocks), the next chunk's offset, the points. */
typedef struct entry_cursor {
    tss_buf arena;
    size_t prev_off, prev_len;
    bool have_prev;
    uint64_t off, total;
} entry_cursor;

static int parse_supersedes(tss_segment *seg, tss_rd *r)
{
    uint64_t nsup;

    tss_rd_varint(r, &nsup);
    if (r->bad || nsup > tss_rd_left(r) / 16)
        return corrupt(seg->rel, "bad supersede list");
    if (nsup) {
        seg->supersedes = tss_malloc((size_t)nsup * 16);
        if (!seg->supersedes)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        for (uint64_t i = 0; i < nsup; i++) {
            const uint8_t *u;

            tss_rd_bytes(r, 16, &u);
            memcpy(seg->supersedes[i], u, 16);
        }
        seg->nsupersedes = (size_t)nsup;
    }
    return 0;
}

/*
 * Parses `count` entries from p[0..len) (exactly) into out[0..count): one
 * block, whose first key is whole (shared 0), keys into c->arena. Chunks
 * follow from c->off and must end by `chunks_end`.
 */
static int parse_entries(tss_segment *seg, entry_cursor *c, const uint8_t *p,
                         size_t len, tss_seg_entry *out, uint64_t count,
                         uint64_t chunks_end)
{
    tss_rd r;
    size_t base_off = 0, base_len = 0; /* the block's previous key */
    /* a rollup entry's key is a series key and an aggregate byte */
    uint64_t key_max = TSS_KEY_MAX + (seg->resolution ? 1 : 0);

    tss_rd_init(&r, p, len);
    for (uint64_t i = 0; i < count; i++) {
        tss_seg_entry *e = &out[i];
        uint64_t shared, slen, clen, cnt, zmin, span;
        const uint8_t *suffix;
        tss_key_view kv;

        tss_rd_varint(&r, &shared);
        tss_rd_varint(&r, &slen);
        if (r.bad || shared > base_len || slen > key_max ||
            shared + slen > key_max || shared + slen == 0)
            return corrupt(seg->rel, "bad key in the series table");
        tss_rd_bytes(&r, (size_t)slen, &suffix);
        tss_rd_varint(&r, &clen);
        tss_rd_varint(&r, &cnt);
        tss_rd_varint(&r, &zmin);
        tss_rd_varint(&r, &span);
        tss_rd_u64(&r, &e->checksum);
        if (r.bad)
            return corrupt(seg->rel, "series table truncated");
        if (!tss_buf_reserve(&c->arena, (size_t)(shared + slen)))
            return tss_error_set(TSS_ENOMEM, "out of memory reading %s",
                                 seg->rel);
        e->key_off = c->arena.len;
        e->key_len = (size_t)(shared + slen);
        memmove(c->arena.data + c->arena.len, c->arena.data + base_off,
                (size_t)shared);
        memcpy(c->arena.data + c->arena.len + shared, suffix, (size_t)slen);
        c->arena.len += e->key_len;
        e->key = c->arena.data + e->key_off;
        if (tss_key_decode(e->key, e->key_len - (seg->resolution ? 1 : 0),
                           &kv) != 0 ||
            (seg->resolution &&
             !tss_agg_valid(kv.kind, e->key[e->key_len - 1])))
            return corrupt(seg->rel, "malformed series key");
        if (c->have_prev && tss_key_cmp(c->arena.data + c->prev_off,
                                        c->prev_len, e->key, e->key_len) >= 0)
            return corrupt(seg->rel, "series keys not in order");
        e->series_kind = kv.kind;
        e->agg = seg->resolution ? e->key[e->key_len - 1] : 0;
        e->kind = e->agg ? tss_agg_kind(kv.kind, e->agg) : kv.kind;
        if (clen == 0 || c->off > chunks_end || clen > chunks_end - c->off ||
            cnt == 0)
            return corrupt(seg->rel, "chunk outside the chunk area");
        e->offset = c->off;
        e->len = clen;
        c->off += clen;
        e->count = cnt;
        e->min_t =
            (int64_t)((uint64_t)tss_unzigzag(zmin) + (uint64_t)seg->name.start);
        e->max_t = (int64_t)((uint64_t)e->min_t + span);
        if (e->min_t < seg->name.start || e->max_t >= seg->name.end ||
            e->max_t < e->min_t || cnt - 1 > span)
            return corrupt(seg->rel, "series range outside the window");
        c->total += cnt;
        c->prev_off = base_off = e->key_off;
        c->prev_len = base_len = e->key_len;
        c->have_prev = true;
    }
    if (tss_rd_left(&r) != 0)
        return corrupt(seg->rel, "a block of the series table does not end "
                                 "where its entries do");
    return 0;
}

/*
 * Parses and checks a version 2 block index (idx[0..len), its checksum
 * checked by the caller): the blocks must hold `nentries` entries in
 * exactly `entries_len` bytes and the chunks exactly `chunks_len` bytes,
 * with increasing first keys. *sup_sum gets the supersede list's checksum.
 */
static int parse_index(tss_segment *seg, const uint8_t *idx, size_t len,
                       uint64_t entries_len, uint64_t chunks_len,
                       uint64_t *sup_sum, seg_block **out, size_t *nout)
{
    tss_rd r;
    uint64_t nblocks, first = 0, toff = 0, coff = TSS_SEG_HEADER;
    uint64_t key_max = TSS_KEY_MAX + (seg->resolution ? 1 : 0);
    seg_block *bl;

    *out = NULL;
    *nout = 0;
    tss_rd_init(&r, idx, len);
    tss_rd_u64(&r, sup_sum);
    tss_rd_varint(&r, &nblocks);
    /* a block record takes at least 13 bytes, which bounds the allocation */
    if (r.bad || nblocks > seg->nentries || nblocks > tss_rd_left(&r) / 13 ||
        (nblocks == 0) != (seg->nentries == 0))
        return corrupt(seg->rel, "bad block count in the table index");
    bl = tss_calloc(nblocks ? (size_t)nblocks : 1, sizeof(*bl));
    if (!bl)
        return tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
    for (uint64_t i = 0; i < nblocks; i++) {
        seg_block *b = &bl[i];
        uint64_t klen;

        tss_rd_varint(&r, &b->count);
        tss_rd_varint(&r, &b->len);
        tss_rd_varint(&r, &b->chunks);
        tss_rd_u64(&r, &b->checksum);
        tss_rd_varint(&r, &klen);
        if (r.bad || klen == 0 || klen > key_max || b->count == 0 ||
            b->count > seg->nentries - first || b->len > entries_len - toff ||
            b->chunks > chunks_len - (coff - TSS_SEG_HEADER) ||
            b->len < 14 * b->count || b->chunks < b->count) {
            tss_free(bl);
            return corrupt(seg->rel, "bad block in the table index");
        }
        tss_rd_bytes(&r, (size_t)klen, &b->key);
        b->key_len = (size_t)klen;
        if (r.bad || (i > 0 && tss_key_cmp(bl[i - 1].key, bl[i - 1].key_len,
                                           b->key, b->key_len) >= 0)) {
            tss_free(bl);
            return corrupt(seg->rel, "bad block key in the table index");
        }
        b->first = first;
        b->table_off = toff;
        b->chunk_off = coff;
        first += b->count;
        toff += b->len;
        coff += b->chunks;
    }
    if (tss_rd_left(&r) != 0 || first != seg->nentries || toff != entries_len ||
        coff - TSS_SEG_HEADER != chunks_len) {
        tss_free(bl);
        return corrupt(seg->rel, "the table index does not cover the table");
    }
    *out = bl;
    *nout = (size_t)nblocks;
    return 0;
}

/* Parses the entries of block b, read into p[0..b->len), into
 * out[0..b->count); checks its checksum, its first key, and that its last
 * key is below the next block's first (`next`, NULL for the last block):
 * with the index's increasing first keys, the blocks' keys are then in
 * order even when only some blocks are read. */
static int parse_block(tss_segment *seg, entry_cursor *c, const seg_block *b,
                       const seg_block *next, const uint8_t *p,
                       tss_seg_entry *out)
{
    const tss_seg_entry *last = &out[b->count - 1];
    int rc;

    if (tss_checksum(p, (size_t)b->len) != b->checksum)
        return corrupt(seg->rel, "table block checksum mismatch");
    c->off = b->chunk_off;
    if ((rc = parse_entries(seg, c, p, (size_t)b->len, out, b->count,
                            b->chunk_off + b->chunks)) != 0)
        return rc;
    if (c->off != b->chunk_off + b->chunks ||
        tss_key_cmp(c->arena.data + out[0].key_off, out[0].key_len, b->key,
                    b->key_len) != 0 ||
        (next && tss_key_cmp(c->arena.data + last->key_off, last->key_len,
                             next->key, next->key_len) >= 0))
        return corrupt(seg->rel, "a table block disagrees with its index");
    return 0;
}

/* Points the entries' keys at the arena's final home (it may have moved
 * while growing) and hands it to the segment. */
static void keep_arena(tss_segment *seg, entry_cursor *c)
{
    seg->keys = c->arena.data;
    for (size_t i = 0; seg->entries && i < seg->nentries; i++)
        seg->entries[i].key =
            c->arena.data ? c->arena.data + seg->entries[i].key_off : NULL;
}

/* Reads the whole table (tab[0..len), without its checksum). */
static int parse_table(tss_segment *seg, const uint8_t *tab, size_t len,
                       uint64_t chunks_end, int version, uint64_t sup_len,
                       uint64_t index_len)
{
    tss_rd r;
    entry_cursor c = {.off = TSS_SEG_HEADER};
    seg_block *bl = NULL;
    size_t nbl = 0;
    uint64_t entries_len, sup_sum;
    int rc;

    tss_rd_init(&r, tab, version >= 2 ? (size_t)sup_len : len);
    if ((rc = parse_supersedes(seg, &r)) != 0)
        return rc;
    if (version >= 2 && tss_rd_left(&r) != 0)
        return corrupt(seg->rel, "supersede list length disagrees with the "
                                 "header");
    sup_len = (uint64_t)(r.p - tab);
    entries_len = len - sup_len - (version >= 2 ? index_len : 0);
    /* each entry takes at least 14 bytes, which bounds the allocation */
    if (seg->nentries > entries_len / 14 + 1)
        return corrupt(seg->rel, "series count does not fit the table");
    seg->entries =
        tss_calloc(seg->nentries ? seg->nentries : 1, sizeof(*seg->entries));
    if (!seg->entries)
        return tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
    if (version < 2) {
        rc = parse_entries(seg, &c, tab + sup_len, (size_t)entries_len,
                           seg->entries, seg->nentries, chunks_end);
        goto done;
    }
    {
        const uint8_t *idx = tab + len - index_len;

        if (tss_get_u64(idx + index_len - 8) !=
            tss_checksum(idx, (size_t)index_len - 8))
            return corrupt(seg->rel, "table index checksum mismatch");
        if ((rc = parse_index(seg, idx, (size_t)index_len - 8, entries_len,
                              chunks_end - TSS_SEG_HEADER, &sup_sum, &bl,
                              &nbl)) != 0)
            return rc;
        if (sup_sum != tss_checksum(tab, (size_t)sup_len)) {
            rc = corrupt(seg->rel, "supersede list checksum mismatch");
            goto done;
        }
    }
    for (size_t i = 0; i < nbl && rc == 0; i++)
        rc = parse_block(seg, &c, &bl[i], i + 1 < nbl ? &bl[i + 1] : NULL,
                         tab + sup_len + bl[i].table_off,
                         seg->entries + bl[i].first);
done:
    if (rc == 0 && c.off != chunks_end)
        rc = corrupt(seg->rel, "chunks do not fill the chunk area");
    else if (rc == 0 && c.total != seg->points)
        rc = corrupt(seg->rel, "point count disagrees with the header");
    keep_arena(seg, &c);
    tss_free(bl);
    return rc;
}

/* Marks the blocks of bl[0..n) that can hold a key starting with prefix
 * p: the last block whose first key is <= p, and the blocks after it whose
 * first keys start with p (they are > p, and no other block before them
 * can start with p: first keys strictly increase). */
static void mark_blocks(const seg_block *bl, size_t n, const tss_seg_prefix *p,
                        bool *want)
{
    size_t lo = 0, hi = n; /* the first block whose first key is > p */

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (tss_key_cmp(bl[mid].key, bl[mid].key_len, p->bytes, p->len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0)
        want[lo - 1] = true;
    for (; lo < n && bl[lo].key_len >= p->len &&
           memcmp(bl[lo].key, p->bytes, p->len) == 0;
         lo++)
        want[lo] = true;
}

/* Appends entry e (its key at `key`) to the segment's entries if the key
 * starts with one of the prefixes; its key goes to kept's arena. */
static int keep_wanted(tss_segment *seg, entry_cursor *kept, size_t *cap,
                       const tss_seg_entry *e, const uint8_t *key,
                       const tss_seg_prefix *pre, size_t npre)
{
    bool wanted = false;
    tss_seg_entry *ne;

    for (size_t i = 0; i < npre && !wanted; i++)
        wanted = e->key_len >= pre[i].len &&
                 memcmp(key, pre[i].bytes, pre[i].len) == 0;
    if (!wanted)
        return 0;
    if (seg->nentries == *cap) {
        size_t nc = *cap ? 2 * *cap : 8;

        if (!(ne = tss_realloc(seg->entries, nc * sizeof(*ne))))
            return tss_error_set(TSS_ENOMEM, "out of memory reading %s",
                                 seg->rel);
        seg->entries = ne;
        *cap = nc;
    }
    ne = &seg->entries[seg->nentries];
    *ne = *e;
    ne->key_off = kept->arena.len;
    tss_buf_append(&kept->arena, key, e->key_len);
    if (kept->arena.oom)
        return tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
    seg->nentries++;
    return 0;
}

/* Reads what a selection needs of a version 2 table at tab_off: the block
 * index and supersede list, then the wanted blocks. *index_sum gets the
 * index's checksum, checked. */
static int read_selected(tss_segment *seg, uint64_t tab_off, uint64_t tab_len,
                         uint64_t sup_len, uint64_t index_len,
                         const tss_seg_prefix *pre, size_t npre,
                         uint64_t *index_sum)
{
    uint8_t *tail = NULL, *buf = NULL;
    seg_block *bl = NULL;
    bool *want = NULL;
    tss_seg_entry *scratch = NULL;
    size_t nbl = 0, most = 0, cap = 0;
    uint64_t entries_len = tab_len - 8 - sup_len - index_len, sup_sum;
    entry_cursor c = {0}, kept = {0};
    tss_rd r;
    int rc;

    /* the index, its checksum and the table's: the file's last bytes */
    if (!(tail = tss_malloc((size_t)index_len + 8))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
        goto out;
    }
    if ((rc = tss_storage_pread(seg->st, seg->fd, seg->rel, tail,
                                (size_t)index_len + 8,
                                tab_off + tab_len - 8 - index_len)) != 0)
        goto out;
    *index_sum = tss_get_u64(tail + index_len - 8);
    if (tss_get_u64(tail + index_len - 8) !=
        tss_checksum(tail, (size_t)index_len - 8)) {
        rc = corrupt(seg->rel, "table index checksum mismatch");
        goto out;
    }
    if ((rc = parse_index(seg, tail, (size_t)index_len - 8, entries_len,
                          tab_off - TSS_SEG_HEADER, &sup_sum, &bl, &nbl)) != 0)
        goto out;
    if (!(buf = tss_malloc((size_t)sup_len)) ||
        !(want = tss_calloc(nbl ? nbl : 1, sizeof(*want)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
        goto out;
    }
    if ((rc = tss_storage_pread(seg->st, seg->fd, seg->rel, buf,
                                (size_t)sup_len, tab_off)) != 0)
        goto out;
    if (tss_checksum(buf, (size_t)sup_len) != sup_sum) {
        rc = corrupt(seg->rel, "supersede list checksum mismatch");
        goto out;
    }
    tss_rd_init(&r, buf, (size_t)sup_len);
    if ((rc = parse_supersedes(seg, &r)) != 0)
        goto out;
    if (tss_rd_left(&r) != 0) {
        rc = corrupt(seg->rel, "supersede list length disagrees with the "
                               "header");
        goto out;
    }
    for (size_t k = 0; k < npre; k++)
        mark_blocks(bl, nbl, &pre[k], want);
    for (size_t i = 0; i < nbl; i++)
        if (want[i] && bl[i].count > most)
            most = (size_t)bl[i].count;
    seg->partial = true;
    seg->nentries = 0;
    if (!(scratch = tss_calloc(most ? most : 1, sizeof(*scratch)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
        goto out;
    }
    /* each run of wanted blocks in one read, each block parsed into the
     * scratch entries, the wanted ones kept */
    for (size_t i = 0, j; i < nbl && rc == 0; i = j) {
        uint64_t run = 0;
        uint8_t *p;

        if (!want[i]) {
            j = i + 1;
            continue;
        }
        for (j = i; j < nbl && want[j]; j++)
            run += bl[j].len;
        if (!(p = tss_realloc(buf, (size_t)run))) {
            rc =
                tss_error_set(TSS_ENOMEM, "out of memory reading %s", seg->rel);
            break;
        }
        buf = p;
        rc = tss_storage_pread(seg->st, seg->fd, seg->rel, buf, (size_t)run,
                               tab_off + sup_len + bl[i].table_off);
        for (size_t k = i; k < j && rc == 0; k++) {
            c.arena.len = 0; /* order: within the block, and its last key
                              * against the next block's first */
            c.have_prev = false;
            rc =
                parse_block(seg, &c, &bl[k], k + 1 < nbl ? &bl[k + 1] : NULL,
                            buf + (bl[k].table_off - bl[i].table_off), scratch);
            for (uint64_t e = 0; e < bl[k].count && rc == 0; e++)
                rc = keep_wanted(seg, &kept, &cap, &scratch[e],
                                 c.arena.data + scratch[e].key_off, pre, npre);
        }
    }
out:
    keep_arena(seg, &kept);
    tss_buf_free(&c.arena);
    tss_free(scratch);
    tss_free(want);
    tss_free(buf);
    tss_free(bl);
    tss_free(tail);
    return rc;
}

static int open_segment(tss_segment **out, tss_storage *st, const char *rel,
                        const tss_seg_prefix *pre, size_t npre)
{
    uint8_t hdr[TSS_SEG_HEADER];
    uint8_t *tab = NULL;
    uint64_t tab_off, tab_len, sup_len, index_len, table_sum;
    uint64_t content_sum = 0; /* the checksum that names the content */
    tss_segment *seg;
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    int rc, version;

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
    if (memcmp(hdr, TSS_SEG_MAGIC, 8) != 0) {
        rc = corrupt(rel, "bad magic");
        goto out;
    }
    if (tss_get_u64(hdr + 120) != tss_checksum(hdr, 120)) {
        rc = corrupt(rel, "header checksum mismatch");
        goto out;
    }
    version = tss_get_u16(hdr + 8);
    if (version < 1 || version > TSS_SEG_VERSION) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "segment %s: format version %d is not supported "
                           "(this build reads 1 to %d)",
                           rel, version, TSS_SEG_VERSION);
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
    index_len = tss_get_u32(hdr + 112);
    sup_len = tss_get_u32(hdr + 116);
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
    /* version 2: the supersede list, the entries (>= 0 bytes) and the
     * index (>= 17 bytes) fill the table; version 1 has neither length */
    if (version >= 2
            ? sup_len < 1 || index_len < 17 || sup_len + index_len > tab_len - 8
            : sup_len != 0 || index_len != 0) {
        rc = corrupt(rel, "table parts do not fit the table");
        goto out;
    }
    if (version >= 2 && npre > 0) {
        bool all = false;

        for (size_t i = 0; i < npre; i++)
            all = all || pre[i].len == 0;
        if (!all) {
            if ((rc = read_selected(seg, tab_off, tab_len, sup_len, index_len,
                                    pre, npre, &content_sum)) != 0)
                goto out;
            goto hash;
        }
    }
    tab = tss_malloc((size_t)tab_len);
    if (!tab) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory reading %s", rel);
        goto out;
    }
    if ((rc = tss_storage_pread(st, seg->fd, rel, tab, (size_t)tab_len,
                                tab_off)) != 0)
        goto out;
    table_sum = tss_get_u64(tab + tab_len - 8);
    if (table_sum != tss_checksum(tab, (size_t)tab_len - 8)) {
        rc = corrupt(rel, "series table checksum mismatch");
        goto out;
    }
    if ((rc = parse_table(seg, tab, (size_t)tab_len - 8, tab_off, version,
                          sup_len, index_len)) != 0)
        goto out;
    content_sum = version >= 2 ? tss_get_u64(tab + tab_len - 16) : table_sum;
hash : {
    /* content hash: the header's checksum and (version 2) the block
     * index's, which covers the supersede list's and every block's, so
     * every chunk checksum: a selective read checks it as a whole one does;
     * (version 1) the table's */
    uint8_t both[16];

    memcpy(both, hdr + 120, 8);
    tss_put_u64(both + 8, content_sum);
    seg->content_hash = tss_checksum(both, 16);
}
    *out = seg;
    seg = NULL;
out:
    tss_free(tab);
    tss_segment_close(seg);
    return rc;
}

int tss_segment_open(tss_segment **out, tss_storage *st, const char *rel)
{
    return open_segment(out, st, rel, NULL, 0);
}

int tss_segment_open_select(tss_segment **out, tss_storage *st, const char *rel,
                            const tss_seg_prefix *pre, size_t n)
{
    return open_segment(out, st, rel, pre, n);
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
