/*
 * Fuzz target: the WAL mutation document parser (wal.c tss_mut_decode,
 * JSON through yajl's tree parser), the encoder on what it parsed, and
 * the predicate's glob on a series identifier (tss_mut_matches_series).
 *
 * Input: the bytes of a wal/mutations/<uuid>.json document. A document
 * that parses must encode and parse back to the same fields.
 */
#include <string.h>

#include "fuzz_common.h"
#include "wal.h"

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tss_series_id id = {"myhost", "cpu",  "0",
                                     "cpu",    "idle", "value"};
    tss_mut m, again;
    uint8_t *out = NULL;
    size_t len;

    if (tss_mut_decode(data, size, "fuzz.json", &m) != 0)
        return 0;
    (void)tss_mut_matches_series(&m, &id);
    if (tss_mut_encode(&m, &out, &len) == 0) {
        FZ_CHECK(tss_mut_decode(out, len, "again.json", &again) == 0);
        FZ_CHECK(strcmp(again.id, m.id) == 0 && again.kind == m.kind &&
                 again.state == m.state && again.created == m.created &&
                 again.updated == m.updated &&
                 same_str(again.series, m.series) && same_str(again.ds, m.ds) &&
                 again.has_from == m.has_from &&
                 (!m.has_from || again.from == m.from) && again.to == m.to &&
                 again.head_filtered == m.head_filtered &&
                 again.ntargets == m.ntargets && again.points == m.points &&
                 same_str(again.error, m.error));
        for (size_t i = 0; i < m.ntargets; i++)
            FZ_CHECK(strcmp(again.targets[i].segment, m.targets[i].segment) ==
                         0 &&
                     again.targets[i].tombstoned == m.targets[i].tombstoned);
        tss_mut_free(&again);
        tss_free(out);
    }
    tss_mut_free(&m);
    return 0;
}
