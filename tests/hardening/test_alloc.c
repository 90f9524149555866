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
 * tombstone file (tss_tomb_read), the head snapshot (tss_snapshot_load);
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
#include "hd_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "coverage.h"
#include "meta.h"
#include "segment.h"
#include "snapshot.h"
#include "storage.h"
#include "tombstone.h"
#include "tsstore/coverage.h"
#include "wal.h"

static char tpl[4096], work[4096];
static tss_storage *st;
static tss_store_info info;
static char doc_id[37];
static uint8_t *meta_buf;
static size_t meta_len;
static ru_rows all_rows;
static tss_seg_name *segs;
static size_t nsegs;

static int group_setup(void **state)
{
    tss_store_options o;
    tss_delete_spec d = hd_delete_spec();
    tss_store *s;
    char path[4096];

    tt_group_setup(state);
    /* counted from the start: blocks freed later were counted when made */
    hd_alloc_arm(0, false);
    tt_setup(state);
    tt_join(tpl, sizeof(tpl), *state, "template");
    tt_join(work, sizeof(work), *state, "work");
    hd_build(tpl, NULL);
    hd_options(&o, NULL);
    s = ru_open(tpl, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_store_rollup(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_delete_create(s, &d, doc_id), 0);
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    hd_fill(s, NULL, HD_W_HEAD + 30 * RU_MIN, HD_W_HEAD + 40 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_info_get(s, &info);
    hd_rows(s, &all_rows);
    tss_store_close(s);
    assert_int_equal(tss_storage_open(&st, tpl, NULL, 0), 0);
    tt_join(path, sizeof(path), tpl, "STORE");
    assert_int_equal(tt_slurp(path, &meta_buf, &meta_len), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    assert_true(nsegs >= 3);
    return 0;
}

static int group_teardown(void **state)
{
    tss_free(segs);
    free(meta_buf);
    ru_rows_free(&all_rows);
    tss_storage_close(st);
    hd_alloc_off();
    tt_teardown(state);
    return tt_group_teardown(state);
}

/* ---- the decoders ---------------------------------------------------------
 */

static int dec_meta(void)
{
    tss_store_info in;

    return tss_meta_decode(meta_buf, meta_len, "STORE", &in);
}

static int dec_wal(void)
{
    tss_mut m;
    int rc = tss_mut_read(st, doc_id, &m);

    if (rc == 0)
        tss_mut_free(&m);
    return rc;
}

static int dec_segments(void)
{
    tss_point *pts = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0; i < nsegs && rc == 0; i++) {
        char rel[192];
        tss_segment *seg;

        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if ((rc = tss_segment_open(&seg, st, rel)) != 0)
            break;
        for (size_t e = 0; e < seg->nentries && rc == 0; e++) {
            size_t n = 0;

            rc = tss_segment_read_points(seg, e, &pts, &n, &cap);
        }
        tss_segment_close(seg);
    }
    tss_free(pts);
    return rc;
}

static int dec_sidecars(void)
{
    int rc = 0;

    for (size_t i = 0; i < nsegs && rc == 0; i++) {
        tss_sidecar sc;

        rc = tss_sidecar_read(
            st, segs[i].uuid,
            (uint64_t)((segs[i].end - segs[i].start) / info.bucket_width), &sc);
        if (rc == 0)
            tss_sidecar_free(&sc);
    }
    return rc;
}

static int dec_covtable(void)
{
    tss_covtable *t;
    int rc = tss_covtable_load(&t, st, info.bucket_width, NULL, NULL);

    if (rc == 0)
        tss_covtable_free(t);
    return rc;
}

static int dec_tombstones(void)
{
    int rc = 0, found = 0;

    for (size_t i = 0; i < nsegs && rc == 0; i++) {
        char rel[192];
        tss_segment *seg;
        tss_tombstones t;

        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if ((rc = tss_segment_open(&seg, st, rel)) != 0)
            break;
        rc = tss_tomb_read(st, seg, &t);
        if (rc == 0) {
            found += t.n > 0;
            tss_tomb_free(&t);
        }
        tss_segment_close(seg);
    }
    assert_true(rc != 0 || found >= 2);
    return rc;
}

static int dec_snapshot(void)
{
    tss_snap_view v;
    size_t points = 0;
    int rc = tss_snapshot_load(st, &info, NULL, NULL, false, &v);

    if (rc)
        return rc;
    for (size_t i = 0; i < v.n; i++)
        if (!v.items[i].dropped)
            points += v.items[i].enc.count + v.items[i].nooo;
    tss_snap_view_free(&v);
    /* the head holds 40 min of 3 series (the delete took some): an
     * allocation that failed must not make a smaller head look whole */
    return points >= 3 * 30 ? 0 : TSS_EINVAL;
}

/* A reader's query of everything: an error, files counted unreadable, or
 * every row. */
static int dec_query(void)
{
    tss_store_options o;
    tss_filter f;
    tss_series_info in;
    tss_query *q;
    tss_store *s;
    size_t rows = 0;
    int rc;

    hd_options(&o, NULL);
    if ((rc = tss_store_open(&s, tpl, 0, &o)) != 0)
        return rc;
    memset(&f, 0, sizeof(f));
    f.resolution = TSS_RES_AUTO;
    if ((rc = tss_query_open(&q, s, &f)) == 0) {
        while ((rc = tss_query_next(q, &in)) == 1) {
            const tss_point *pts;
            size_t n;

            if ((rc = tss_query_points(q, &pts, &n)) != 0)
                break;
            rows += n;
        }
        if (rc == 0 && tss_query_errors(q) > 0)
            rc = TSS_ENOMEM; /* reported as unreadable files */
        else if (rc == 0 && rows != all_rows.n)
            rc = TSS_EINVAL; /* less than there is, and no word of it */
        tss_query_close(q);
    }
    tss_store_close(s);
    return rc;
}

static int dec_coverage(void)
{
    tss_store_options o;
    tss_coverage_series cs;
    tss_coverage *c;
    tss_filter f;
    tss_store *s;
    size_t series = 0;
    int rc;

    hd_options(&o, NULL);
    if ((rc = tss_store_open(&s, tpl, 0, &o)) != 0)
        return rc;
    memset(&f, 0, sizeof(f));
    f.has_from = f.has_to = 1;
    f.from = HD_W_OLD;
    f.to = HD_W_HEAD + RU_SPAN - 1;
    if ((rc = tss_coverage_open(&c, s, &f)) == 0) {
        while ((rc = tss_coverage_next(c, &cs)) == 1)
            series++;
        if (rc == 0 && tss_coverage_errors(c) > 0)
            rc = TSS_ENOMEM;
        else if (rc == 0 && series != HD_NSERIES)
            rc = TSS_EINVAL;
        tss_coverage_close(c);
    }
    tss_store_close(s);
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
    ru_assert_rows(what, &got, &all_rows);
    ru_rows_free(&got);
    tss_store_close(s);
}

static void fresh_work(void)
{
    tt_rmrf(work);
    tt_copy_tree(tpl, work);
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
    {"meta", dec_meta, false, false},
    {"wal", dec_wal, false, false},
    {"segment", dec_segments, false, false},
    {"sidecar", dec_sidecars, false, false},
    {"covtable", dec_covtable, false, false},
    {"tombstone", dec_tombstones, false, false},
    {"snapshot", dec_snapshot, false, false},
    {"query", dec_query, false, true},
    {"coverage", dec_coverage, false, true},
    {"writer", dec_writer, true, true},
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta),     cmocka_unit_test(test_wal),
        cmocka_unit_test(test_segment),  cmocka_unit_test(test_sidecar),
        cmocka_unit_test(test_covtable), cmocka_unit_test(test_tombstone),
        cmocka_unit_test(test_snapshot), cmocka_unit_test(test_query),
        cmocka_unit_test(test_coverage), cmocka_unit_test(test_writer_recovery),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
