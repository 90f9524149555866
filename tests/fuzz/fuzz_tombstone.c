/*
 * Fuzz target: the tombstone sidecar reader (tombstone.c tss_tomb_decode)
 * and the encoder on what it read.
 *
 * Input: the bytes of a segments/<uuid>.tombstones file. Decoded as given,
 * then with the frame (magic, version, header length) and the trailing
 * XXH3-64 fixed, so mutations reach the entry parser. A set that decodes
 * must encode and decode to the same entries.
 */
#include <string.h>

#include "fuzz_common.h"
#include "tombstone.h"

static const uint8_t MAGIC[8] = {0x89, 'T', 'S', 'T', 'M', 'B', '\r', '\n'};

static void decode(const uint8_t *buf, size_t len)
{
    tss_tombstones t, again;
    tss_buf out = {0};

    if (tss_tomb_decode(buf, len, "fuzz.tombstones", &t) != 0)
        return;
    for (size_t i = 0; i < t.n; i++)
        FZ_CHECK(tss_tomb_has_mutation(&t, t.entries[i].mutation));
    if (tss_tomb_encode(&t, &out) == 0) {
        FZ_CHECK(tss_tomb_decode(out.data, out.len, "again", &again) == 0);
        FZ_CHECK(again.n == t.n && again.seg_hash == t.seg_hash &&
                 memcmp(again.seg_uuid, t.seg_uuid, 16) == 0);
        for (size_t i = 0; i < t.n; i++) {
            const tss_tomb_entry *a = &again.entries[i], *b = &t.entries[i];

            FZ_CHECK(a->key_len == b->key_len &&
                     memcmp(a->key, b->key, a->key_len) == 0 &&
                     a->from == b->from && a->to == b->to &&
                     memcmp(a->mutation, b->mutation, 16) == 0);
        }
        tss_tomb_free(&again);
    }
    tss_buf_free(&out);
    tss_tomb_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = fz_dup(data, size);

    decode(buf, size);
    if (fz_fix_frame(buf, size, MAGIC, 64))
        decode(buf, size);
    free(buf);
    return 0;
}
