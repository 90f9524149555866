/*
 * Allocation failure in every decoder (issue 9, point 3): the Nth
 * allocation of the core (tss_malloc, tss_calloc, tss_realloc: the
 * tss_alloc_set seam of tsstore/io.h) fails, for every N the decoder
 * makes, on real files of a store (hd_build, rolled up, a delete visible:
 * raw and rollup segments, sidecars, a table coverage snapshot, a head
 * snapshot base and log, tombstones, a mutation document, STORE).
 *
 * Decoders: STORE (tss_meta_decode), a mutation document (tss_mut_read),
 * every segment (tss_segment_open and every chunk), every sidecar
 * (tss_sidecar_read), the table coverage (tss_covtable_load), every
 * tombstone file (tss_tomb_read), the head snapshot (tss_snapshot_load),
 * a JSON document with every kind of value (tss_json_parse, whose
 * failure must name the document);
 * and, end to end, a reader's query of everything, a coverage query, and
 * the writer's recovery at open (every file, with repair).
 *
 * Each must return an error (TSS_ENOMEM) -- a query may instead count the
 * file as unreadable (tss_query_errors), or get over an allocation that
 * only served a check and return everything -- never succeed with less
 * data than there is, never crash, and free everything it allocated (the
 * counting allocator's live blocks come back to where they were; run
 * under valgrind or ASan for the memory of yajl and CRoaring, which do
 * not allocate through the seam). The writer's recovery must leave the
 * store as it was: the next writer opens it, verify is clean, every point
 * is there.
 *
 * TSS_HD_STRIDE=k fails only every kth allocation (and the first 20): for
 * runs under valgrind, which take 30 times as long.
 */
#define _GNU_SOURCE
#include "hd_decoders.h"

#include "internal.h" /* tss_json_parse */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char work[4096];

static int group_setup(void **state)
{
    char tpl[4096];

    tt_group_setup(state);
    /* counted from the start: blocks freed later were counted when made */
    hd_alloc_arm(0, false);
    tt_setup(state);
    tt_join(tpl, sizeof(tpl), *state, "template");
    tt_join(work, sizeof(work), *state, "work");
    hd_dec_setup(tpl);
    return 0;
}

static int group_teardown(void **state)
{
    hd_dec_teardown();
    hd_alloc_off();
    tt_teardown(state);
    return tt_group_teardown(state);
}

/* tss_json_parse of a document with every kind of value (escapes,
 * numbers, nesting, a comment); TSS_EIO when its out-of-memory message
 * does not name the document. */
static int dec_json(void)
{
    static const char doc[] =
        "{\"a\": [1, -2.5, \"x\\ty\", true, null, {\"k\": [[], {}]}], "
        "\"b\": {\"c\": \"\\u00e9\", \"d\": 12345678901234567890}, "
        "\"e\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]} // trailing comment";
    struct yajl_val_s *v = NULL;
    int rc =
        tss_json_parse((const uint8_t *)doc, sizeof(doc) - 1, "f.json", &v);

    tss_json_free(v);
    if (rc == TSS_ENOMEM && !strstr(tss_error_last(), "f.json: out of memory"))
        return TSS_EIO;
    return rc;
}

/* The writer's recovery of a copy of the store, then a seal of it all. */
static int dec_writer(void)
{
    tss_store_options o;
    tss_store *s;
    int rc;

    hd_options(&o, NULL);
    if ((rc = tss_store_open(&s, work, TSS_OPEN_WRITER, &o)) != 0)
        return rc;
    rc = tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL);
    tss_store_close(s);
    return rc;
}

/* After dec_writer with a failure: the store is whole. */
static void writer_after(const char *what)
{
    tss_store_options o;
    tss_store *s;
    ru_rows got;

    hd_options(&o, NULL);
    s = ru_open(work, TSS_OPEN_WRITER, &o);
    ru_assert_verify_clean(what, s);
    hd_rows(s, &got);
    ru_assert_rows(what, &got, &hd_dec.all_rows);
    ru_rows_free(&got);
    tss_store_close(s);
}

static void fresh_work(void)
{
    tt_rmrf(work);
    tt_copy_tree(hd_dec.tpl, work);
}

/* ---- the runs -------------------------------------------------------------
 */

typedef struct decoder {
    const char *name;
    int (*run)(void);
    bool writer; /* needs a fresh copy, checked after */
    /* a whole reader: it may also get over a failed allocation (a
     * listing made only to check for a race) and return all the data,
     * which its run checks */
    bool may_succeed;
} decoder;

static void every_allocation(const decoder *d)
{
    unsigned long total, failed = 0, ran = 0;
    long live;
    const char *stride_env = getenv("TSS_HD_STRIDE");
    unsigned long stride = stride_env ? strtoul(stride_env, NULL, 10) : 1;
    int rc;

    if (d->writer)
        fresh_work();
    live = hd_alloc_live();
    hd_alloc_arm(0, false);
    rc = d->run();
    total = hd_alloc_calls();
    if (rc != 0)
        fail_msg("%s: %d %s", d->name, rc, tss_error_last());
    if (hd_alloc_live() != live)
        fail_msg("%s: %ld blocks not freed", d->name, hd_alloc_live() - live);
    assert_true(total > 0);
    for (unsigned long n = 1; n <= total; n++) {
        char what[128];
        bool fired;

        if (stride > 1 && n > 20 && n % stride != 0)
            continue;
        snprintf(what, sizeof(what), "%s, allocation %lu of %lu fails", d->name,
                 n, total);
        if (d->writer)
            fresh_work();
        live = hd_alloc_live();
        tss_error_clear();
        hd_alloc_arm(n, false);
        rc = d->run();
        fired = hd_alloc_fired();
        hd_alloc_arm(0, false);
        ran++;
        if (hd_alloc_live() != live)
            fail_msg("%s: %ld blocks not freed (rc %d %s)", what,
                     hd_alloc_live() - live, rc, tss_error_last());
        if (!fired)
            fail_msg("%s: the allocation was not made", what);
        if (rc == TSS_EINVAL)
            fail_msg("%s: returned less data than there is, without an "
                     "error",
                     what);
        if (rc == 0 && !d->writer && !d->may_succeed)
            fail_msg("%s: succeeded", what);
        if (rc != 0 && rc != TSS_ENOMEM)
            fail_msg("%s: %d (%s) instead of out of memory: %s", what, rc,
                     tss_strerror(rc), tss_error_last());
        failed += rc != 0;
        if (d->writer)
            writer_after(what);
    }
    print_message("%-10s %5lu allocations, %lu of them failed in turn, %lu "
                  "errors returned\n",
                  d->name, total, ran, failed);
}

static const decoder DECODERS[] = {
    {"meta", hd_dec_meta, false, false},
    {"wal", hd_dec_wal, false, false},
    {"segment", hd_dec_segments, false, false},
    {"sidecar", hd_dec_sidecars, false, false},
    {"covtable", hd_dec_covtable, false, false},
    {"tombstone", hd_dec_tombstones, false, false},
    {"snapshot", hd_dec_snapshot, false, false},
    {"query", hd_dec_query, false, true},
    {"coverage", hd_dec_coverage, false, true},
    {"writer", dec_writer, true, true},
    {"json", dec_json, false, false},
};

#define DEC_TEST(i, fn)                                                        \
    static void fn(void **state)                                               \
    {                                                                          \
        every_allocation(&DECODERS[i]);                                        \
    }

DEC_TEST(0, test_meta)
DEC_TEST(1, test_wal)
DEC_TEST(2, test_segment)
DEC_TEST(3, test_sidecar)
DEC_TEST(4, test_covtable)
DEC_TEST(5, test_tombstone)
DEC_TEST(6, test_snapshot)
DEC_TEST(7, test_query)
DEC_TEST(8, test_coverage)
DEC_TEST(9, test_writer_recovery)
DEC_TEST(10, test_json)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta),     cmocka_unit_test(test_wal),
        cmocka_unit_test(test_segment),  cmocka_unit_test(test_sidecar),
        cmocka_unit_test(test_covtable), cmocka_unit_test(test_tombstone),
        cmocka_unit_test(test_snapshot), cmocka_unit_test(test_query),
        cmocka_unit_test(test_coverage), cmocka_unit_test(test_writer_recovery),
        cmocka_unit_test(test_json),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
