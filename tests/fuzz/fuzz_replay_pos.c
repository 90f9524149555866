/*
 * Fuzz target: the read plugin's replay position file,
 * DataDir/replay/<store>-<replay> (plugin/tsstore_replay.c,
 * ts_parse_position: version 1 "<done> <time> <dispatched> <hex group>" and
 * version 2 with its definition lines), built against the fake daemon of
 * the plugin tests.
 *
 * Input: a flags byte picks the replay's configuration (From, To, Target
 * set or not, so that the definition compared differs), then the file's
 * text.
 *
 * Properties: a file that parses gives a known state and a group that
 * fits; it is written back (ts_format_position) and parses again to the
 * same position, with its definition now matching; a version 2 file
 * matches the configuration exactly when its definition lines are the
 * configuration's as written back, a version 1 file always.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz_common.h"

#include "tsstore_internal.h"

static void configure(replay *r, uint8_t flags)
{
    memset(r, 0, sizeof(*r));
    r->name = "r1";
    r->series = (flags & 8) ? "host*/cpu-*/cpu-*" : "*";
    r->target = (flags & 4) ? "wt-a" : NULL;
    r->has_from = flags & 1;
    r->from = (flags & 1) ? 1700000000000 : 0;
    r->has_to = flags & 2;
    r->to = (flags & 2) ? -5 : 0;
}

static void same_position(const replay *a, const replay *b)
{
    FZ_CHECK(a->state == b->state && a->pos_t == b->pos_t &&
             a->dispatched == b->dispatched && a->pos_len == b->pos_len &&
             a->has_pos == b->has_pos &&
             memcmp(a->pos_group, b->pos_group, a->pos_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[POS_FILE_MAX + 1], back[POS_FILE_MAX + 1];
    replay r, r2;
    bool same = false, same2 = false;
    size_t n;

    /* ts_load_position reads at most POS_FILE_MAX bytes, without a NUL */
    if (size < 1 || size - 1 > POS_FILE_MAX || memchr(data + 1, 0, size - 1))
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    configure(&r, data[0]);
    if (ts_parse_position(&r, buf, &same) != 0)
        return 0;
    FZ_CHECK(r.state >= RS_IDLE && r.state <= RS_DONE);
    FZ_CHECK(r.pos_len <= GROUP_MAX && r.has_pos == (r.pos_len > 0));

    n = ts_format_position(back, sizeof(back) - 1, &r);
    FZ_CHECK(n < sizeof(back));
    back[n] = '\0';
    configure(&r2, data[0]);
    FZ_CHECK(ts_parse_position(&r2, back, &same2) == 0);
    FZ_CHECK(same2);
    same_position(&r, &r2);
    /* a version 2 file matches exactly when its definition lines are the
     * configuration's as written (ts_format_position); version 1 files
     * have none and always match */
    if (isdigit((unsigned char)buf[0]))
        FZ_CHECK(same);
    else
        FZ_CHECK(same == (strcmp(strstr(back, "\nseries ") + 1,
                                 strstr(buf, "\nseries ") + 1) == 0));
    return 0;
}
