/*
 * Fuzz target: the chunk decoder (codec_gorilla.c tss_chunk_decode,
 * tss_chunk_count), and the encoder on what it decoded.
 *
 * Input: u8 kind (taken modulo 4 into 1..4: callers pass the kind of a
 * validated key), i64 window start (little-endian), then the chunk bytes
 * exactly as a segment holds them. A chunk that decodes must re-encode and
 * decode to the same points, bit for bit (the codec is lossless).
 */
#include <string.h>

#include "fuzz_common.h"
#include "codec_gorilla.h"

#define MAX_POINTS 100000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tss_point *pts = NULL, *again = NULL;
    size_t n = 0, cap = 0, n2 = 0, cap2 = 0;
    tss_buf enc = {0};
    uint64_t count;
    uint8_t *chunk;
    int64_t base;
    int kind;

    if (size < 9)
        return 0;
    kind = ((data[0] - 1) & 3) + 1;
    base = (int64_t)tss_get_u64(data + 1);
    chunk = fz_dup(data + 9, size - 9);
    if (tss_chunk_count(chunk, size - 9, &count) == 0)
        FZ_CHECK(count > 0);
    if (tss_chunk_decode(chunk, size - 9, kind, base, MAX_POINTS, &pts, &n,
                         &cap) != 0)
        goto out;
    FZ_CHECK(n > 0 && n <= MAX_POINTS && n == count);
    for (size_t i = 1; i < n; i++)
        FZ_CHECK(pts[i].t > pts[i - 1].t);
    if (tss_chunk_encode(&enc, kind, base, pts, n) != 0)
        goto out;
    FZ_CHECK(tss_chunk_decode(enc.data, enc.len, kind, base, n, &again, &n2,
                              &cap2) == 0);
    FZ_CHECK(n2 == n);
    for (size_t i = 0; i < n; i++)
        FZ_CHECK(again[i].t == pts[i].t && again[i].v.bits == pts[i].v.bits);
out:
    tss_buf_free(&enc);
    tss_free(again);
    tss_free(pts);
    free(chunk);
    return 0;
}
