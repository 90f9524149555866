/*
 * tss_store_close_writer (handover.c): a command acting as the writer
 * leaves no document stranded when it lets the LOCK go.
 *
 * test_applies_what_was_queued_meanwhile: after the writer's last pass, a
 * delete and a compaction request are created by a process that finds the
 * LOCK taken (as `tsstore delete` does: the document first, then the
 * LOCK). Closing the writer with tss_store_close_writer applies both
 * before it returns -- the delete visible, the request carried out and
 * removed -- and says so in its counts; tss_store_close alone would leave
 * them "intent" with nobody to apply them.
 *
 * test_failed_document_not_retried: a document the last pass listed and
 * failed on (an injected EIO) is not retried by the close: the failure was
 * reported, and the next writer retries it.
 *
 * test_lock_taken_after_release: when another process takes the LOCK
 * between the release and the look, the close leaves the documents to it
 * (returns 0 without applying them).
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define H1 (1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1)
#define NOW MU_WIN(20)

static const mu_del DEL = {H1, MU_WIN(1), MU_WIN(1) + 29999};

/* Windows 0-2 sealed, window 1 in two segments (a compaction merges it). */
static void layout(const char *dir, tt_model *m)
{
    tss_store_options o;
    tss_store *s;

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, m, MU_WIN(0), MU_WIN(3), 0);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(1) + 40000, MU_WIN(2), 1);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    tss_store_close(s);
}

/* What a creator that finds the LOCK taken does: the document, then the
 * LOCK, which it does not get. */
static void queue_delete(const char *dir, tss_store *r, char id[37])
{
    tss_delete_spec spec = mu_spec("h1/*", NULL, DEL.from, DEL.to);
    tss_store *w = NULL;

    mu_delete_create(r, &spec, id);
    assert_int_equal(tss_store_open(&w, dir, TSS_OPEN_WRITER, NULL),
                     TSS_ELOCKED);
    assert_null(w);
}

static void test_applies_what_was_queued_meanwhile(void **state)
{
    char dir[4096], id[37], cid[37];
    tss_store_options o;
    tss_apply_result res;
    tt_model m = {0};
    tss_store *s, *r;

    tt_join(dir, sizeof(dir), *state, "store");
    layout(dir, &m);
    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    r = mu_open(dir, 0, NULL);
    /* the writer's last pass: nothing to do */
    assert_int_equal(tss_store_apply_mutations(s, NOW, &res), 0);
    assert_int_equal(res.made_visible + res.removed_docs, 0);

    queue_delete(dir, r, id);
    assert_int_equal(tss_compact_request(r, cid), 0);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_INTENT);

    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(tss_store_close_writer(s, &o, &res), 0);
    /* applied by the time the close returns; the request compacted the
     * targets, so the delete completed as well */
    assert_int_equal(mu_state(r, id), TSS_MUTATION_REMOVED);
    assert_int_equal(mu_state(r, cid), TSS_MUTATION_REMOVED);
    assert_int_equal(res.made_visible, 1);
    assert_true(res.compacted >= 1);
    assert_int_equal(res.removed_docs, 2);
    assert_int_equal(res.pending, 0);
    mu_assert_reader("handed over", dir, &m, m.n, &DEL, 1);
    assert_int_equal(mu_segments_hold_deleted(dir, &DEL), 0);

    /* the LOCK is free again, and nothing is left: a plain close */
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(tss_store_close_writer(s, &o, &res), 0);
    assert_int_equal(res.made_visible + res.compacted + res.removed_docs, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, NULL);
    tss_store_close(s);

    /* a reader handle and NULL are just closed */
    assert_int_equal(tss_store_close_writer(r, &o, NULL), 0);
    assert_int_equal(tss_store_close_writer(NULL, &o, NULL), 0);
    tt_model_free(&m);
}

static void test_failed_document_not_retried(void **state)
{
    char dir[4096], id[37];
    tss_store_options o, plain;
    tss_apply_result res;
    tt_fault f = {0};
    tt_model m = {0};
    tss_store *s, *r;

    tt_join(dir, sizeof(dir), *state, "store");
    layout(dir, &m);
    tt_fault_arm(&f, 0, 0, false);
    mu_options(&o, tt_fault_ops(&f), 0);
    mu_options(&plain, NULL, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    r = mu_open(dir, 0, NULL);
    queue_delete(dir, r, id);
    /* the pass lists it and fails on its first tombstone */
    tt_fault_arm_match(&f, "linkat", ".tombstones", 1, EIO);
    assert_int_not_equal(tss_store_apply_mutations(s, NOW, &res), 0);
    assert_int_equal(res.pending, 1);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_APPLYING);
    tt_fault_arm(&f, 0, 0, false);

    /* a reopen with `plain` would apply it: it must not happen */
    assert_int_equal(tss_store_close_writer(s, &plain, &res), 0);
    assert_int_equal(res.made_visible, 0);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_APPLYING);
    tt_fault_ops(NULL);

    /* the next writer does */
    s = mu_open(dir, TSS_OPEN_WRITER, &plain);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_VISIBLE);
    tss_store_close(s);
    tss_store_close(r);
    tt_model_free(&m);
}

/* ---- another process takes the LOCK right after the release ---------- */

static char grab_lock_path[4096];
static struct stat grab_lock_st; /* the LOCK file */
static int grab_writer_fd = -1;  /* the writer's locked descriptor */
static int grab_fd = -1;         /* ours, once we took the LOCK */
static bool grab_armed;

static bool is_lock_file(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && st.st_dev == grab_lock_st.st_dev &&
           st.st_ino == grab_lock_st.st_ino;
}

static int grab_flock(int fd, int op)
{
    int rc = flock(fd, op);

    if (rc == 0 && (op & LOCK_EX) && is_lock_file(fd))
        grab_writer_fd = fd;
    return rc;
}

/* The writer's LOCK descriptor closed: the LOCK is free, and before the
 * writer looks for documents, "collectd starts" and takes it. */
static int grab_close(int fd)
{
    int rc = close(fd);

    if (fd == grab_writer_fd) {
        grab_writer_fd = -1;
        if (grab_armed) {
            grab_armed = false;
            grab_fd = open(grab_lock_path, O_RDWR | O_CLOEXEC);
            assert_true(grab_fd >= 0);
            assert_int_equal(flock(grab_fd, LOCK_EX | LOCK_NB), 0);
        }
    }
    return rc;
}

static void test_lock_taken_after_release(void **state)
{
    char dir[4096], id[37];
    tss_io_ops ops = *tss_io_default();
    tss_store_options o, plain;
    tss_apply_result res;
    tt_model m = {0};
    tss_store *s, *r;

    tt_join(dir, sizeof(dir), *state, "store");
    layout(dir, &m);
    tt_join(grab_lock_path, sizeof(grab_lock_path), dir, "LOCK");
    assert_int_equal(stat(grab_lock_path, &grab_lock_st), 0);
    ops.flock = grab_flock;
    ops.close = grab_close;
    mu_options(&o, &ops, 0);
    mu_options(&plain, NULL, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    assert_true(grab_writer_fd >= 0);
    r = mu_open(dir, 0, NULL);
    queue_delete(dir, r, id);

    grab_armed = true;
    memset(&res, 0xa5, sizeof(res));
    assert_int_equal(tss_store_close_writer(s, &plain, &res), 0);
    assert_false(grab_armed);
    /* left to the LOCK's new holder */
    assert_int_equal(res.made_visible + res.compacted + res.removed_docs, 0);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_INTENT);

    /* which, as any writer, applies it when it opens */
    assert_int_equal(close(grab_fd), 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &plain);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_VISIBLE);
    tss_store_close(s);
    tss_store_close(r);
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_applies_what_was_queued_meanwhile),
        T(test_failed_document_not_retried),
        T(test_lock_taken_after_release),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
