/*
 * Fuzz target: the segment reader (segment.c tss_segment_open,
 * tss_segment_open_select, tss_segment_read_points, tss_segment_find) and
 * what a reader does with a segment whose sidecar is missing
 * (tss_sidecar_from_segment).
 *
 * Input: the bytes of a .seg file. The harness names it after its own
 * header (window, seq, uuid), so the name check passes, writes it into a
 * temp store and opens it, then reads every chunk; then it opens it for
 * key prefixes taken from the entries (a query for a few series reads only
 * the table blocks that can hold them), and checks that such an open finds
 * what the whole table holds under those prefixes, and nothing else. Then
 * it runs the same again with the checksums fixed up — header, every
 * chunk's (patched into the table where the table holds the old value),
 * every table block's, the block index's and the table's — so mutations
 * reach the table and index parsers and the chunk decoder.
 */
#include <string.h>

#include "fuzz_common.h"
#include "coverage.h"
#include "segment.h"

/* Opens the file for prefixes of its first, middle and last keys (and a
 * host-sized prefix of the middle one): every entry of the whole table
 * (`full`) under those prefixes must be found, with the same chunk. */
static void read_selected(const char *rel, const tss_segment *full)
{
    const tss_seg_entry *pick[3] = {&full->entries[0],
                                    &full->entries[full->nentries / 2],
                                    &full->entries[full->nentries - 1]};
    tss_seg_prefix pre[4];
    tss_segment *seg;
    size_t wanted_n = 0;

    for (size_t i = 0; i < 3; i++)
        pre[i] = (tss_seg_prefix){pick[i]->key, pick[i]->key_len};
    pre[3] = (tss_seg_prefix){pick[1]->key, strlen((const char *)pick[1]->key)};
    if (pre[3].len == 0)
        pre[3].len = 1;
    /* it reads a part of what the whole open read and checked */
    FZ_CHECK(tss_segment_open_select(&seg, fz_storage(), rel, pre, 4) == 0);
    FZ_CHECK(seg->content_hash == full->content_hash);
    FZ_CHECK(seg->nsupersedes == full->nsupersedes);
    for (size_t i = 0; i < full->nentries; i++) {
        const tss_seg_entry *e = &full->entries[i];
        bool wanted = false;
        long k;

        for (size_t p = 0; p < 4 && !wanted; p++)
            wanted = e->key_len >= pre[p].len &&
                     memcmp(e->key, pre[p].bytes, pre[p].len) == 0;
        if (!wanted)
            continue;
        wanted_n++;
        k = tss_segment_find(seg, e->key, e->key_len);
        FZ_CHECK(k >= 0);
        FZ_CHECK(seg->entries[k].offset == e->offset &&
                 seg->entries[k].len == e->len &&
                 seg->entries[k].checksum == e->checksum &&
                 seg->entries[k].count == e->count);
    }
    /* a version 1 segment has no index: opened whole */
    FZ_CHECK(seg->nentries == (seg->partial ? wanted_n : full->nentries));
    tss_segment_close(seg);
}

/* Opens the file and decodes everything a reader would. */
static void read_segment(const char *rel)
{
    tss_segment *seg;
    tss_point *pts = NULL;
    size_t n = 0, cap = 0;

    if (tss_segment_open(&seg, fz_storage(), rel) != 0)
        return;
    for (size_t i = 0; i < seg->nentries; i++) {
        const tss_seg_entry *e = &seg->entries[i];

        n = 0;
        if (tss_segment_read_points(seg, i, &pts, &n, &cap) == 0) {
            FZ_CHECK(n == e->count);
            for (size_t k = 0; k < n; k++)
                FZ_CHECK(pts[k].t >= seg->name.start &&
                         pts[k].t < seg->name.end);
        }
        FZ_CHECK(tss_segment_find(seg, e->key, e->key_len) == (long)i);
    }
    {
        tss_sidecar sc;

        if (tss_sidecar_from_segment(seg, 10000, &sc) == 0)
            tss_sidecar_free(&sc);
    }
    if (seg->nentries > 0)
        read_selected(rel, seg);
    tss_free(pts);
    tss_segment_close(seg);
}

/* Sets every checksum to the one of the bytes it covers. Chunk checksums
 * live in the table: an entry whose stored value is found there is
 * patched in place. Returns true if it changed a byte. */
static bool fix_checksums(uint8_t *buf, size_t len, const char *rel)
{
    uint64_t tab_off, sum;
    bool changed = false;
    tss_segment *seg;

    if (len < TSS_SEG_HEADER + 8)
        return false;
    if (memcmp(buf, TSS_SEG_MAGIC, 8) != 0) {
        memcpy(buf, TSS_SEG_MAGIC, 8);
        changed = true;
    }
    sum = tss_checksum(buf, 120);
    if (tss_get_u64(buf + 120) != sum) {
        tss_put_u64(buf + 120, sum);
        changed = true;
    }
    tab_off = tss_get_u64(buf + 64);
    if (tab_off < TSS_SEG_HEADER || tab_off > len - 8)
        return changed;
    /* chunk checksums, found by opening the segment as it now is */
    {
        uint8_t *copy = fz_dup(buf, len);

        if (tss_segment_reseal(buf, len) && memcmp(copy, buf, len) != 0)
            changed = true;
        free(copy);
    }
    fz_write(rel, buf, len);
    if (tss_segment_open(&seg, fz_storage(), rel) == 0) {
        uint8_t *tab = buf + tab_off;
        size_t tlen = len - (size_t)tab_off - 8;

        for (size_t i = 0; i < seg->nentries; i++) {
            const tss_seg_entry *e = &seg->entries[i];
            uint64_t want = tss_checksum(buf + e->offset, (size_t)e->len);
            uint8_t old[8];

            if (want == e->checksum)
                continue;
            tss_put_u64(old, e->checksum);
            for (size_t k = 0; k + 8 <= tlen; k++)
                if (memcmp(tab + k, old, 8) == 0) {
                    tss_put_u64(tab + k, want);
                    changed = true;
                    break;
                }
        }
        tss_segment_close(seg);
        tss_segment_reseal(buf, len);
    }
    return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tss_seg_name name = {0};
    char rel[256];
    uint8_t *buf;

    if (size < 56) {
        /* too short for a header: under any valid name */
        strcpy(rel, "segments/0_7200000_1_00000000-0000-0000-0000-"
                    "000000000000.seg");
    } else {
        name.start = (int64_t)tss_get_u64(data + 16);
        name.end = (int64_t)tss_get_u64(data + 24);
        name.seq = tss_get_u64(data + 32);
        memcpy(name.uuid, data + 40, 16);
        tss_seg_name_format(rel, sizeof(rel), &name);
    }
    fz_write(rel, data, size);
    read_segment(rel);

    buf = fz_dup(data, size);
    if (fix_checksums(buf, size, rel)) {
        fz_write(rel, buf, size);
        read_segment(rel);
    }
    free(buf);
    fz_clear("segments");
    return 0;
}
