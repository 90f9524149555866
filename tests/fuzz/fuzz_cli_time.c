/*
 * Fuzz target: the CLI's time arguments (tools/cli_time.c cli_time_parse)
 * and its formatters.
 *
 * Input: one flags byte — bits 0-1 pick the precision (s, ms, us, ns),
 * bit 2 rounds up (--from) — then the argument text. A time that parses
 * must format (cli_time_epoch) and parse back to itself, exactly.
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz_common.h"
#include "cli_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t ups_of[4] = {1, 1000, 1000000, 1000000000};
    char err[256], out[96], *s;
    uint32_t ups;
    bool up;
    int64_t t, back;

    if (size < 1 || size > 4096)
        return 0;
    ups = ups_of[data[0] & 3];
    up = (data[0] & 4) != 0;
    s = fz_strndup(data + 1, size - 1);
    if (cli_time_parse(s, ups, up, &t, err, sizeof(err)) == 0) {
        FZ_CHECK(t <= INT64_MAX / 2 && t >= INT64_MIN / 2);
        cli_time_epoch(out, sizeof(out), t, ups);
        FZ_CHECK(cli_time_parse(out, ups, up, &back, err, sizeof(err)) == 0);
        if (back != t) {
            fprintf(stderr, "\"%s\" -> %" PRId64 " -> \"%s\" -> %" PRId64 "\n",
                    s, t, out, back);
            FZ_CHECK(back == t);
        }
        cli_time_rfc3339(out, sizeof(out), t, ups);
        if (cli_time_parse(out, ups, up, &back, err, sizeof(err)) == 0)
            FZ_CHECK(back == t);
    }
    free(s);
    return 0;
}
