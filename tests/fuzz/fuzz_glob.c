/*
 * Fuzz target: glob matching of series, as `tsstore ls/dump --series`,
 * coverage queries (query.c tss_filter_match) and delete predicates
 * (wal.c tss_mut_matches_series) do it: fnmatch(3) of the pattern on the
 * identifier host/plugin[-pinst]/type[-tinst], plus the data source.
 *
 * Input: NUL-separated fields: pattern, host, plugin, plugin instance,
 * type, type instance, ds, filter ds (missing fields are empty; an empty
 * filter ds means any). Fields are cut at TSS_FIELD_MAX bytes, the limit
 * of a stored key; the pattern at 4 KiB.
 */
#include <string.h>

#include "fuzz_common.h"
#include "series.h"
#include "store_internal.h"
#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[8] = {0}, *all = fz_strndup(data, size), *p = all;
    tss_series_id id;
    tss_filter flt = {0};
    tss_mut m;
    bool a, b;

    for (int i = 0; i < 8; i++) {
        f[i] = p;
        if (p < all + size) {
            p += strlen(p);
            if (p < all + size)
                p++;
        }
        if (strlen(f[i]) > (i ? TSS_FIELD_MAX : 4096))
            f[i][i ? TSS_FIELD_MAX : 4096] = '\0';
    }
    id = (tss_series_id){f[1], f[2], f[3], f[4], f[5], f[6]};
    flt.series_glob = f[0];
    flt.ds = *f[7] ? f[7] : NULL;
    a = tss_filter_match(&flt, &id);
    memset(&m, 0, sizeof(m));
    m.kind = TSS_MUT_DELETE;
    m.series = f[0];
    m.ds = *f[7] ? f[7] : NULL;
    b = tss_mut_matches_series(&m, &id);
    /* one glob, one meaning, whichever path evaluates it */
    FZ_CHECK(a == b);
    free(all);
    return 0;
}
