/*
 * Fuzz target: the STORE metadata parser (meta.c tss_meta_decode, JSON
 * through yajl) and the encoder on what it parsed.
 *
 * Input: the bytes of a STORE file. Metadata that parses must satisfy the
 * invariants of docs/format.md and encode and parse back to the same.
 */
#include <string.h>

#include "fuzz_common.h"
#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tss_store_info info, again;
    uint8_t *out = NULL;
    size_t len;

    if (tss_meta_decode(data, size, "STORE", &info) != 0)
        return 0;
    FZ_CHECK(tss_precision_name(info.units_per_second) != NULL);
    FZ_CHECK(info.span > 0 && info.bucket_width > 0 &&
             info.span % info.bucket_width == 0);
    if (tss_meta_encode(&info, &out, &len) == 0) {
        FZ_CHECK(tss_meta_decode(out, len, "again", &again) == 0);
        FZ_CHECK(again.units_per_second == info.units_per_second &&
                 again.span == info.span &&
                 again.bucket_width == info.bucket_width &&
                 again.created == info.created &&
                 strcmp(again.uuid, info.uuid) == 0);
        tss_free(out);
    }
    return 0;
}
