/*
 * Fuzz target: the table-level coverage snapshot reader (coverage.c
 * table_decode, reached through tss_covtable_load as every reader and the
 * writer reach it), then a save and a load of what it read.
 *
 * Input: the bytes of a _coverage/table/<version>.roar file. The harness
 * names it after the version in its header (so the name check passes) and
 * loads it with the bucket width its header claims; then fixes the frame
 * (magic, version, header length, base bucket, checksum) and loads again.
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz_common.h"
#include "coverage.h"

static const uint8_t MAGIC[8] = {0x89, 'T', 'S', 'T', 'C', 'V', '\r', '\n'};

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
    }
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
        if (fz_fix_frame(buf, size, MAGIC, 64) || changed)
            load(buf, size);
    }
    free(buf);
    fz_clear(TSS_COV_TABLE_DIR);
    return 0;
}
