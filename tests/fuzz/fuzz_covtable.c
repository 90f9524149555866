/*
 * Fuzz target: the table-level coverage snapshot reader (coverage_table.c:
 * version 2 with its index and blocks, version 1 still read), reached
 * through tss_covtable_load as the writer and verify reach it and through
 * tss_covtable_load_select as coverage queries do (the whole file, and one
 * series by its index); the in-place runs reader (tss_cov_runs) over what
 * it kept; then a save and a load of what it read.
 *
 * Input: the bytes of a _coverage/table/<version>.roar file. The harness
 * names it after the version in its header (so the name check passes) and
 * loads it with the bucket width its header claims; then fixes the frame
 * — magic, format version (1 or 2 as the input says, else 2), header
 * length, base bucket, and every checksum: the file's, and for version 2
 * the header's, the index's, each block's the index points at and the
 * union's — and loads again, so mutated keys, offsets, varints and Roaring
 * bitmaps reach the parsers behind the checksums.
 *
 * Promises checked (FZ_CHECK): what the whole load accepts, the selective
 * loads accept too, with the same series, intervals and bitmaps; the runs
 * tss_cov_runs reads are CRoaring's values, merged; a save loads back
 * equal.
 *
 * Seeds (corpus/covtable): store-* from gen_corpus (version 2, one block
 * each); v1-store-* the same store's files as version 1 wrote them, kept
 * for the version 1 reader; v2-blocks-260, 260 series in three blocks
 * (made with tss_covtable_add_points and tss_covtable_save), for the index
 * and lookups that skip blocks.
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz_common.h"
#include "coverage.h"
#include "series.h"

static const uint8_t MAGIC[8] = {0x89, 'T', 'S', 'T', 'C', 'V', '\r', '\n'};

/* The runs of `bm` (values merged when consecutive) equal tss_cov_runs'. */
static void check_runs(const tss_cov_entry *e, const roaring_bitmap_t *bm)
{
    tss_cov_runs r;
    tss_buf scratch = {0};
    roaring_uint32_iterator_t it;
    uint32_t lo, hi;
    uint64_t elo = 0, ehi = 0;
    bool open = false;

    FZ_CHECK(tss_cov_runs_start(&r, e, &scratch, 0) == 0);
    roaring_init_iterator(bm, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        uint64_t v = it.current_value;

        if (open && v == ehi + 1) {
            ehi = v;
            continue;
        }
        if (open)
            FZ_CHECK(tss_cov_runs_next(&r, &lo, &hi) && lo == elo && hi == ehi);
        elo = ehi = v;
        open = true;
    }
    if (open)
        FZ_CHECK(tss_cov_runs_next(&r, &lo, &hi) && lo == elo && hi == ehi);
    FZ_CHECK(!tss_cov_runs_next(&r, &lo, &hi) && !r.bad);
    tss_buf_free(&scratch);
}

/* With slack, the runs are the exact runs merged across gaps no longer
 * than the slack (a bitset container is dilated word by word for it). */
static void check_slack(const tss_cov_entry *e, uint32_t slack)
{
    tss_cov_runs exact, merged;
    tss_buf s1 = {0}, s2 = {0};
    uint32_t a, b, lo = 0, hi = 0, mlo, mhi;
    bool have = false;

    FZ_CHECK(tss_cov_runs_start(&exact, e, &s1, 0) == 0);
    FZ_CHECK(tss_cov_runs_start(&merged, e, &s2, slack) == 0);
    while (tss_cov_runs_next(&exact, &a, &b)) {
        if (have && (uint64_t)a <= (uint64_t)hi + 1 + slack) {
            hi = b;
            continue;
        }
        if (have)
            FZ_CHECK(tss_cov_runs_next(&merged, &mlo, &mhi) && mlo == lo &&
                     mhi == hi);
        lo = a;
        hi = b;
        have = true;
    }
    if (have)
        FZ_CHECK(tss_cov_runs_next(&merged, &mlo, &mhi) && mlo == lo &&
                 mhi == hi);
    FZ_CHECK(!tss_cov_runs_next(&merged, &mlo, &mhi) && !merged.bad);
    tss_buf_free(&s1);
    tss_buf_free(&s2);
}

/* e (from the whole load) against the same series in a selective load. */
static void same_entry(tss_covtable *sel, const tss_cov_entry *e)
{
    const tss_cov_entry *s = tss_covtable_get(sel, e->key, e->key_len);
    roaring_bitmap_t *bm;

    FZ_CHECK(s && s->interval == e->interval && s->bm == NULL &&
             s->ser != NULL);
    check_runs(s, e->bm);
    /* a slack from the entry's interval, as the judge takes it */
    check_slack(s, (uint32_t)((uint64_t)e->interval % 70));
    check_slack(s, e->interval > 0 ? UINT32_MAX : 5);
    bm = tss_covtable_bitmap(sel, s);
    FZ_CHECK(bm && roaring_bitmap_equals(bm, e->bm));
}

static void selective(const tss_covtable *t, int64_t width)
{
    tss_covtable *all = NULL;
    size_t n = 0, looked = 0;

    FZ_CHECK(tss_covtable_load_select(&all, fz_storage(), width, NULL, fz_log,
                                      NULL) == 0);
    for (const tss_cov_entry *e = tss_covtable_iter(t, NULL); e;
         e = tss_covtable_iter(t, e), n++) {
        uint8_t hi[TSS_KEY_MAX + 1];
        tss_cov_select one = {0};
        tss_covtable *by_key = NULL;
        size_t m = 0;

        same_entry(all, e);
        if (looked++ >= 8)
            continue;
        /* [key, key NUL): that series alone (keys are prefix-free) */
        memcpy(hi, e->key, e->key_len);
        hi[e->key_len] = 0;
        one.lo = e->key;
        one.lo_len = e->key_len;
        one.hi = hi;
        one.hi_len = e->key_len + 1;
        FZ_CHECK(tss_covtable_load_select(&by_key, fz_storage(), width, &one,
                                          fz_log, NULL) == 0);
        same_entry(by_key, e);
        for (const tss_cov_entry *k = tss_covtable_iter(by_key, NULL); k;
             k = tss_covtable_iter(by_key, k))
            m++;
        FZ_CHECK(m == 1);
        FZ_CHECK(tss_covtable_save(by_key, fz_storage()) == TSS_EINVAL);
        tss_covtable_free(by_key);
    }
    for (const tss_cov_entry *e = tss_covtable_iter(all, NULL); e;
         e = tss_covtable_iter(all, e))
        n--;
    FZ_CHECK(n == 0);
    tss_covtable_free(all);
}

static void load(const uint8_t *buf, size_t len)
{
    char rel[96];
    uint64_t version = len >= 24 ? tss_get_u64(buf + 16) : 1;
    int64_t width = len >= 48 ? (int64_t)tss_get_u64(buf + 40) : 10000;
    tss_covtable *t = NULL;

    if (version == 0)
        version = 1;
    if (width <= 0)
        width = 10000;
    fz_clear(TSS_COV_TABLE_DIR);
    snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar", version);
    fz_write(rel, buf, len);
    if (tss_covtable_load(&t, fz_storage(), width, fz_log, NULL) != 0)
        return;
    for (const tss_cov_entry *e = tss_covtable_iter(t, NULL); e;
         e = tss_covtable_iter(t, e)) {
        FZ_CHECK(tss_covtable_get(t, e->key, e->key_len) == e);
        (void)roaring_bitmap_get_cardinality(e->bm);
        check_runs(e, e->bm);
    }
    if (tss_covtable_covered_seq(t) > 0 || tss_covtable_iter(t, NULL))
        selective(t, width); /* not the empty table of an unreadable file */
    if (tss_covtable_version(t) < UINT64_MAX &&
        tss_covtable_save(t, fz_storage()) == 0) {
        tss_covtable *again = NULL;

        FZ_CHECK(tss_covtable_load(&again, fz_storage(), width, fz_log, NULL) ==
                 0);
        FZ_CHECK(tss_covtable_covered_seq(again) ==
                 tss_covtable_covered_seq(t));
        for (const tss_cov_entry *e = tss_covtable_iter(t, NULL); e;
             e = tss_covtable_iter(t, e)) {
            const tss_cov_entry *a =
                tss_covtable_get(again, e->key, e->key_len);

            FZ_CHECK(a && roaring_bitmap_equals(a->bm, e->bm));
        }
        tss_covtable_free(again);
    }
    tss_covtable_free(t);
}

static bool put64(uint8_t *p, uint64_t v)
{
    if (tss_get_u64(p) == v)
        return false;
    tss_put_u64(p, v);
    return true;
}

/*
 * Version 2: the checksums of the sections the header and index point at
 * (when they fit), then the header's. The file's own is fixed after.
 */
static bool fix_v2(uint8_t *b, size_t len)
{
    uint64_t uo = tss_get_u64(b + 56), io = tss_get_u64(b + 64);
    uint64_t il = tss_get_u64(b + 72);
    bool changed = false;

    if (io <= len - 8 && il >= 8 && il == len - 8 - io) {
        tss_rd r;

        tss_rd_init(&r, b + io, (size_t)il - 8);
        while (tss_rd_left(&r) > 0) {
            uint64_t klen, off, blen, count;
            const uint8_t *key;

            if (!tss_rd_varint(&r, &klen) || klen > tss_rd_left(&r) ||
                !tss_rd_bytes(&r, (size_t)klen, &key) ||
                !tss_rd_varint(&r, &off) || !tss_rd_varint(&r, &blen) ||
                !tss_rd_varint(&r, &count))
                break;
            if (blen >= 8 && off <= io && blen <= io - off)
                changed |= put64(b + off + blen - 8,
                                 tss_checksum(b + off, (size_t)blen - 8));
        }
        changed |= put64(b + io + il - 8, tss_checksum(b + io, (size_t)il - 8));
        if (io >= 8 && uo <= io - 8)
            changed |=
                put64(b + io - 8, tss_checksum(b + uo, (size_t)(io - 8 - uo)));
    }
    changed |= put64(b + 88, tss_checksum(b, 88));
    return changed;
}

static bool fix(uint8_t *b, size_t len)
{
    bool changed = false;
    uint16_t v = tss_get_u16(b + 8);

    if (len < 96 + 8 || v == 1)
        return fz_fix_frame(b, len, MAGIC, 64);
    if (memcmp(b, MAGIC, 8) != 0) {
        memcpy(b, MAGIC, 8);
        changed = true;
    }
    if (v != 2 || tss_get_u32(b + 12) != 96) {
        tss_put_u16(b + 8, 2);
        tss_put_u32(b + 12, 96);
        changed = true;
    }
    changed |= fix_v2(b, len);
    return fz_fix_checksum(b, len) || changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fz_dup(data, size);

    load(buf, size);
    if (size >= 64 + 8) {
        bool changed = false;

        if ((int64_t)tss_get_u64(buf + 32) != TSS_COV_BASE_BUCKET) {
            tss_put_u64(buf + 32, (uint64_t)TSS_COV_BASE_BUCKET);
            changed = true;
        }
        if (fix(buf, size) || changed)
            load(buf, size);
    }
    free(buf);
    fz_clear(TSS_COV_TABLE_DIR);
    return 0;
}
