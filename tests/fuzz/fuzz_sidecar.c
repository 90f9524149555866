/*
 * Fuzz target: the coverage sidecar reader (coverage.c tss_sidecar_decode)
 * down to CRoaring (roaring_bitmap_portable_deserialize_size and _safe),
 * and what the reader does with a decoded sidecar: union into the table
 * coverage, re-encode.
 *
 * Input: the bytes of a _coverage/segments/<uuid>.roar file. It is decoded
 * as it is (with a window of 720 buckets, the default 2 h / 10 s); then the
 * harness fixes the outer frame — magic, version, header length and the
 * trailing XXH3-64 — and decodes again with a wider bucket limit (2^17: a
 * day of 1 s buckets and then some; a reader's limit is span / bucket
 * width from STORE), so a
 * mutated key, interval or bitmap byte reaches the parsers behind the
 * checksum instead of being refused by it.
 */
#include <string.h>

#include "fuzz_common.h"
#include "coverage.h"

static const uint8_t MAGIC[8] = {0x89, 'T', 'S', 'C', 'O', 'V', '\r', '\n'};

static void decode(const uint8_t *buf, size_t len, uint64_t max_buckets)
{
    tss_sidecar sc, again;
    tss_covtable *t;
    tss_buf out = {0};

    if (tss_sidecar_decode(buf, len, "fuzz.roar", max_buckets, &sc) != 0)
        return;
    for (size_t i = 0; i < sc.n; i++) {
        FZ_CHECK(sc.entries[i].bm != NULL);
        if (!roaring_bitmap_is_empty(sc.entries[i].bm))
            FZ_CHECK(roaring_bitmap_maximum(sc.entries[i].bm) < max_buckets);
        (void)roaring_bitmap_get_cardinality(sc.entries[i].bm);
    }
    if (tss_covtable_new(&t, sc.bucket_width) == 0) {
        (void)!tss_covtable_add_sidecar(t, &sc);
        for (size_t i = 0; i < sc.n; i++)
            (void)tss_covtable_get(t, sc.entries[i].key, sc.entries[i].key_len);
        tss_covtable_free(t);
    }
    if (tss_sidecar_encode(&sc, &out) == 0) {
        FZ_CHECK(tss_sidecar_decode(out.data, out.len, "again.roar",
                                    max_buckets, &again) == 0);
        FZ_CHECK(again.n == sc.n);
        for (size_t i = 0; i < sc.n; i++)
            FZ_CHECK(
                again.entries[i].key_len == sc.entries[i].key_len &&
                again.entries[i].interval == sc.entries[i].interval &&
                roaring_bitmap_equals(again.entries[i].bm, sc.entries[i].bm));
        tss_sidecar_free(&again);
    }
    tss_buf_free(&out);
    tss_sidecar_free(&sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fz_dup(data, size);

    decode(buf, size, 720);
    if (fz_fix_frame(buf, size, MAGIC, 64))
        decode(buf, size, UINT64_C(1) << 17);
    free(buf);
    return 0;
}
