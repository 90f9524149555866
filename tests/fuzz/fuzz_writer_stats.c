/*
 * Fuzz target: writer-stats.json, the figures write_tsstore publishes in
 * its store for readers (core/src/stats.c, read by tss_store_stats_get and
 * `tsstore stats`): JSON through yajl (tss_json_parse), four counters
 * picked out of it.
 *
 * Input: the file's bytes, written into an empty store created once.
 *
 * Properties: the stats call succeeds whatever the file holds (the file is
 * the writer's, advisory: a bad one is logged and skipped, never an
 * error); the file is taken (writer_stats_age >= 0) exactly when yajl's
 * own tree parser (yajl_tree_parse, the oracle: the core builds its tree
 * itself, json.c) takes it, it nests at most 64 deep (the core's limit)
 * and it is within the reader's 64 KB; then each counter is the
 * file's integer of that name, or 0 without one; else every counter is 0
 * and a WARNING names the file as not valid JSON.
 */
#include <string.h>

#include <yajl/yajl_tree.h>

#include "fuzz_common.h"
#include "tsstore/stats.h"
#include "tsstore/store.h"

static tss_store *store;
static unsigned warnings;

static void count_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    /* the file named, and blamed: not "out of memory" */
    if (level == TSS_LEVEL_WARNING && strstr(msg, "writer-stats.json") &&
        strstr(msg, "not valid JSON"))
        warnings++;
}

static void open_store(void)
{
    tss_store_options o;
    char dir[4096];

    if (store)
        return;
    snprintf(dir, sizeof(dir), "%s/store", fz_dir());
    tss_store_options_init(&o);
    o.log = count_log;
    FZ_CHECK(tss_store_open(&store, dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER,
                            &o) == 0);
    tss_store_close(store);
    FZ_CHECK(tss_store_open(&store, dir, 0, &o) == 0);
}

/* How deep v nests: 0 for a scalar. */
static int depth(yajl_val v)
{
    size_t n = YAJL_IS_OBJECT(v)  ? v->u.object.len
               : YAJL_IS_ARRAY(v) ? v->u.array.len
                                  : 0;
    yajl_val *kids = YAJL_IS_OBJECT(v)  ? v->u.object.values
                     : YAJL_IS_ARRAY(v) ? v->u.array.values
                                        : NULL;
    int d = 0;

    if (!kids && !YAJL_IS_OBJECT(v) && !YAJL_IS_ARRAY(v))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int k = depth(kids[i]);

        d = k > d ? k : d;
    }
    return d + 1;
}

static uint64_t expected(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);

    return v && YAJL_IS_INTEGER(v) ? (uint64_t)YAJL_GET_INTEGER(v) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tss_store_stats st;
    char *text, err[64];
    yajl_val root = NULL;

    if (size > 70000)
        return 0;
    open_store();
    fz_write("store/writer-stats.json", data, size);
    warnings = 0;
    FZ_CHECK(tss_store_stats_get(store, 0, &st) == 0);
    text = fz_strndup(data, size);
    if (size <= 65536)
        root = yajl_tree_parse(text, err, sizeof(err));
    free(text);
    if (root && depth(root) > 64) {
        yajl_tree_free(root); /* refused by the core, not by yajl */
        root = NULL;
    }
    if (root) {
        FZ_CHECK(st.writer_stats_age >= 0 && warnings == 0);
        FZ_CHECK(st.late_points == expected(root, "points_late") &&
                 st.write_errors == expected(root, "write_errors") &&
                 st.points_dropped == expected(root, "points_dropped") &&
                 st.points_appended == expected(root, "points_appended"));
        yajl_tree_free(root);
    } else {
        FZ_CHECK(st.writer_stats_age < 0);
        FZ_CHECK(st.late_points == 0 && st.write_errors == 0 &&
                 st.points_dropped == 0 && st.points_appended == 0);
        FZ_CHECK(size > 65536 || warnings == 1);
    }
    return 0;
}
