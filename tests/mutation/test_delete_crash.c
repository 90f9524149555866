/*
 * A failure at every I/O call of a delete and of a compaction. For every
 * N, the Nth call through the store's tss_io_ops table fails (EIO, then
 * ENOSPC) while (a) tss_store_apply_mutations applies a delete, (b)
 * tss_store_compact and the completion after it rewrite its windows.
 * Then, before the writer is reopened, a reader sees the delete all or
 * nothing (never some of its points), consistently with the document's
 * state; after the writer is closed and reopened with the default ops
 * (it resumes documents at open), the delete completes, exactly the
 * expected points remain and verify finds no problem. Also a "crash"
 * between compaction's new segment and the removal of the old ones: the
 * supersede rule hides the old ones, the next writer removes them.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "segment.h"
#include "series.h"
#include "storage.h"

#define H1 (1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1)
#define NOW MU_WIN(20)

/* the delete: from the middle of window 1 into the head's window 3 */
static const mu_del DEL = {H1, MU_WIN(1) + 30000, MU_WIN(3) + 14999};

/* Windows 0-2 sealed (1 in two segments), window 3 in the head and its
 * snapshot. The writer is closed: its head lives in the snapshot. */
static void layout(const char *dir, tt_model *m)
{
    tss_store_options o;
    tss_store *s;

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, m, MU_WIN(0), MU_WIN(2), 0);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(1) + 40000, MU_WIN(3), 1);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(3), MU_WIN(3) + 30000, 0);
    assert_int_equal(tss_store_snapshot(s, NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
}

static void create_delete(tss_store *s, char id[37])
{
    tss_delete_spec spec = mu_spec("h1/*", NULL, DEL.from, DEL.to);

    mu_delete_create(s, &spec, id);
}

/* The writer reopened with the default ops and options finishes the
 * delete: exactly the expected points, none on disk, a clean store. */
static void assert_completes(const char *what, const char *dir, const char *id,
                             const tt_model *m)
{
    tss_store *s = mu_open(dir, TSS_OPEN_WRITER, NULL);

    assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
    mu_assert_store(what, s, m, m->n, &DEL, 1);
    mu_assert_verify_clean(what, s);
    tss_store_close(s);
    mu_assert_reader(what, dir, m, m->n, &DEL, 1);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_int_equal(mu_count_suffix(dir, "wal/mutations", ".json"), 0);
    assert_int_equal(mu_segments_hold_deleted(dir, &DEL), 0);
}

static void fresh_copy(const char *from, const char *to)
{
    tt_rmrf(to);
    tt_copy_tree(from, to);
}

/* Steps of one case: prepare (ops not failing), then the operation under
 * test, with call counting from its first call. */
typedef struct crash_case {
    const char *name;
    /* (b) starts from a store where the delete is already visible */
    bool visible_before;
    int (*run)(tss_store *s);
} crash_case;

static int run_apply(tss_store *s)
{
    return tss_store_apply_mutations(s, NOW, NULL);
}

static int run_compact(tss_store *s)
{
    int rc = tss_store_compact(s, NOW, 0, NULL);

    /* the completion after it: the document says compacted, goes */
    return rc ? rc : tss_store_apply_mutations(s, NOW, NULL);
}

static const crash_case CASES[] = {
    {"apply", false, run_apply},
    {"compact", true, run_compact},
};

/* The template: the layout, and for (b) the delete visible (compaction
 * off, so it stays so). */
static void make_template(const char *tpl, const crash_case *c, tt_model *m,
                          char id[37])
{
    tss_store_options o;
    tss_store *s;

    layout(tpl, m);
    if (!c->visible_before)
        return;
    mu_options(&o, NULL, 0);
    s = mu_open(tpl, TSS_OPEN_WRITER, &o);
    create_delete(s, id);
    assert_int_equal(tss_store_apply_mutations(s, NOW, NULL), 0);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    tss_store_close(s);
}

/* One run with call `fail_at` failing (0: none). Returns the number of
 * calls the operation made. */
static unsigned long one_run(const char *tpl, const char *dir,
                             const crash_case *c, const char *tpl_id,
                             const tt_model *m, unsigned long fail_at, int err,
                             bool keep_running)
{
    tss_store_options o;
    tt_fault f;
    tss_store *s, *r;
    char id[37], what[128];
    unsigned long calls;
    int rc, seen, state;

    snprintf(what, sizeof(what), "%s, call %lu fails with %s%s", c->name,
             fail_at, strerror(err), keep_running ? ", writer goes on" : "");
    fresh_copy(tpl, dir);
    tt_fault_arm(&f, 0, 0, false);
    mu_options(&o, tt_fault_ops(&f), 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    if (c->visible_before)
        memcpy(id, tpl_id, 37);
    else
        create_delete(s, id);
    tt_fault_arm(&f, fail_at, err, false);
    rc = c->run(s);
    calls = f.calls;
    if (fail_at && f.failed_op)
        assert_true(fail_at <= calls);
    tt_fault_arm(&f, 0, 0, false);
    if (fail_at == 0 && rc != 0)
        fail_msg("%s: %d %s", what, rc, tss_error_last());

    /* before anything is repaired: all or nothing, as the document says */
    r = mu_open(dir, 0, NULL);
    seen = mu_which_view(what, r, m, &DEL);
    state = mu_state(r, id);
    if (seen !=
        (state == TSS_MUTATION_VISIBLE || state == TSS_MUTATION_COMPACTED ||
         state == TSS_MUTATION_REMOVED))
        fail_msg("%s: the reader sees the store %s the delete, whose "
                 "document is in state %d",
                 what, seen ? "after" : "before", state);
    if (c->visible_before && !seen)
        fail_msg("%s: a visible delete came back", what);
    tss_store_close(r);
    if (mu_which_view(what, s, m, &DEL) != seen)
        fail_msg("%s: writer and reader disagree", what);
    if (keep_running) {
        /* the writer goes on, as collectd's rounds do: the snapshot
         * reopens its storage after a failed fsync, the next rounds finish
         * the delete */
        if ((rc = tss_store_snapshot(s, NOW, 0)) != 0)
            fail_msg("%s, snapshot: %d %s", what, rc, tss_error_last());
        if ((rc = tss_store_apply_mutations(s, NOW, NULL)) != 0 ||
            (rc = tss_store_compact(s, NOW, 0, NULL)) != 0 ||
            (rc = tss_store_apply_mutations(s, NOW, NULL)) != 0 ||
            (rc = tss_store_seal(s, NOW, 0, NULL)) != 0)
            fail_msg("%s, writer going on: %d %s", what, rc, tss_error_last());
        assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
        mu_assert_store(what, s, m, m->n, &DEL, 1);
        mu_assert_verify_clean(what, s);
    }
    tss_store_close(s); /* the crash: the head is gone, its snapshot not */

    assert_completes(what, dir, id, m);
    return calls;
}

static void every_call(const char *base, const crash_case *c)
{
    static const int errs[] = {EIO, ENOSPC};
    char tpl[4096], dir[4096], id[37] = "";
    tt_model m = {0};
    unsigned long calls;

    tt_join(tpl, sizeof(tpl), base, c->name);
    tt_join(dir, sizeof(dir), base, "run");
    make_template(tpl, c, &m, id);
    calls = one_run(tpl, dir, c, id, &m, 0, 0, false);
    assert_true(calls > 20);
    for (size_t e = 0; e < sizeof(errs) / sizeof(errs[0]); e++)
        for (unsigned long n = 1; n <= calls; n++) {
            one_run(tpl, dir, c, id, &m, n, errs[e], false);
            /* the writer going on takes the same paths for either */
            if (errs[e] == EIO)
                one_run(tpl, dir, c, id, &m, n, errs[e], true);
        }
    print_message("%s: failed each of %lu calls with EIO (then reopened the "
                  "writer or let it go on) and ENOSPC (reopened)\n",
                  c->name, calls);
    tt_fault_ops(NULL);
    tt_model_free(&m);
}

static void test_crash_applying(void **state)
{
    every_call(*state, &CASES[0]);
}

static void test_crash_compacting(void **state)
{
    every_call(*state, &CASES[1]);
}

/* Compaction wrote the new segment of window 1, then could not remove the
 * first old one: both old ones are on disk, superseded. */
static void test_crash_before_old_segments_go(void **state)
{
    char dir[4096], path[4096], id[37], old[2][192];
    tss_store_options o;
    tt_model m = {0};
    tt_fault f;
    tss_store *s, *r;
    tss_query *q;
    tss_seg_name *segs;
    tss_storage *st;
    tt_log log = {0};
    size_t nsegs, nold = 0;

    tt_join(dir, sizeof(dir), *state, "store");
    layout(dir, &m);
    tt_fault_arm(&f, 0, 0, false);
    mu_options(&o, tt_fault_ops(&f), 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    create_delete(s, id);
    assert_int_equal(tss_store_apply_mutations(s, NOW, NULL), 0);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    assert_int_equal(nsegs, 4); /* windows 0, 1 (twice), 2 */
    for (size_t i = 0; i < nsegs; i++)
        if (segs[i].start == MU_WIN(1)) {
            char rel[192];

            tss_seg_name_format(rel, sizeof(rel), &segs[i]);
            snprintf(old[nold++], sizeof(old[0]), "%s",
                     rel + strlen("segments/"));
        }
    tss_free(segs);
    assert_int_equal(nold, 2);

    tt_fault_arm_match(&f, "unlinkat", old[0], 1, EIO);
    assert_int_not_equal(tss_store_compact(s, NOW, 0, NULL), 0);
    assert_string_equal(f.failed_op, "unlinkat");
    tt_fault_arm(&f, 0, 0, false);
    for (size_t i = 0; i < 2; i++) {
        tt_join(path, sizeof(path), dir, "segments/");
        strcat(path, old[i]);
        assert_true(tt_exists(path));
    }
    /* window 1: two old segments and the new one that supersedes them */
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    assert_int_equal(nsegs, 5);
    tss_free(segs);

    /* each point once, none deleted; the old segments are not read */
    r = mu_open(dir, 0, NULL);
    assert_int_equal(mu_which_view("superseded on disk", r, &m, &DEL), 1);
    assert_int_equal(tss_query_open(&q, r, NULL), 0);
    assert_int_equal(tss_query_segments(q), 3);
    tss_query_close(q);
    tss_store_close(r);
    tss_store_close(s);

    /* the next writer removes them at its start, then finishes */
    tss_store_options_init(&o);
    o.log = tt_log_fn;
    o.log_ctx = &log;
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    assert_true(
        tt_log_find(&log, TSS_LEVEL_NOTICE, "removed superseded segment") >= 0);
    for (size_t i = 0; i < 2; i++) {
        tt_join(path, sizeof(path), dir, "segments/");
        strcat(path, old[i]);
        assert_false(tt_exists(path));
    }
    tss_store_close(s);
    assert_completes("superseded", dir, id, &m);
    tss_storage_close(st);
    tt_fault_ops(NULL);
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_crash_applying),
        T(test_crash_compacting),
        T(test_crash_before_old_segments_go),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
