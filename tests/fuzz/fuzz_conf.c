/*
 * Fuzz target: the plugins' option values (plugin/conf_util.c): durations
 * (SnapshotInterval, Grace, ...), byte sizes (MaxPendingBytes) and
 * precisions.
 *
 * Input: the option's text. Each parser runs on it; what parses must be
 * in range (a duration is whole, non-negative milliseconds; a size does
 * not wrap).
 */
#include <string.h>

#include "fuzz_common.h"
#include "conf_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512], *s;
    int64_t ms;
    uint64_t bytes;
    uint32_t ups;

    if (size > 4096)
        return 0;
    s = fz_strndup(data, size);
    if (tss_conf_duration_ms(s, &ms, err, sizeof(err)) == 0)
        FZ_CHECK(ms >= 0);
    else
        FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (tss_conf_size(s, &bytes, err, sizeof(err)) == 0)
        FZ_CHECK(s[0] >= '0' && s[0] <= '9');
    ups = tss_conf_precision(s);
    FZ_CHECK(ups == 0 || ups == 1 || ups == 1000 || ups == 1000000 ||
             ups == 1000000000);
    free(s);
    return 0;
}
