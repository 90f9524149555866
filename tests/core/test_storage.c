/*
 * Storage layer (storage_fs.c): create-new and atomic-replace writes, reads,
 * listing, removal, path validation, symlinks, the writer lock, and fault
 * injection through the tss_io_ops table at every call of a write.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "storage.h"

typedef struct fixture {
    const char *dir; /* the test's temp dir */
    char root[4096]; /* the store root inside it */
    tss_storage *st;
} fixture;

static void fx_open(fixture *fx, void **state, const tss_io_ops *io)
{
    fx->dir = *state;
    tt_join(fx->root, sizeof(fx->root), fx->dir, "store");
    assert_int_equal(tss_storage_open(&fx->st, fx->root, io, 1), 0);
}

/* Asserts that file `rel` of the store holds exactly buf[0..len). */
static void assert_file(const fixture *fx, const char *rel, const void *buf,
                        size_t len)
{
    char path[4096];
    uint8_t *got;
    size_t glen;

    tt_join(path, sizeof(path), fx->root, rel);
    assert_int_equal(tt_slurp(path, &got, &glen), 0);
    assert_int_equal(glen, len);
    assert_memory_equal(got, buf, len);
    free(got);
}

static void assert_absent(const fixture *fx, const char *rel)
{
    char path[4096];

    tt_join(path, sizeof(path), fx->root, rel);
    assert_false(tt_exists(path));
}

static void fill(uint8_t *buf, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)tt_rand(&seed);
}

static void test_write_new_is_exclusive(void **state)
{
    fixture fx;
    uint8_t a[1000], b[10];

    fill(a, sizeof(a), 1);
    fill(b, sizeof(b), 2);
    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_write_new(fx.st, "a.dat", a, sizeof(a)), 0);
    assert_file(&fx, "a.dat", a, sizeof(a));

    assert_int_equal(tss_storage_write_new(fx.st, "a.dat", b, sizeof(b)),
                     TSS_EEXISTS);
    assert_int_equal(tss_error_last_code(), TSS_EEXISTS);
    tt_assert_msg_has("a.dat");
    assert_file(&fx, "a.dat", a, sizeof(a));
    assert_int_equal(tt_count_prefix(fx.root, TSS_TMP_PREFIX), 0);

    /* nested directories, and an empty file */
    assert_int_equal(tss_storage_mkdirs(fx.st, "x/y/z"), 0);
    assert_int_equal(tss_storage_mkdirs(fx.st, "x/y/z"), 0);
    assert_int_equal(tss_storage_write_new(fx.st, "x/y/z/e", "", 0), 0);
    assert_file(&fx, "x/y/z/e", "", 0);
    tss_storage_close(fx.st);
}

static void test_write_atomic_replaces(void **state)
{
    fixture fx;
    uint8_t a[5000], b[7];

    fill(a, sizeof(a), 3);
    fill(b, sizeof(b), 4);
    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_write_atomic(fx.st, "m", a, sizeof(a)), 0);
    assert_file(&fx, "m", a, sizeof(a));
    assert_int_equal(tss_storage_write_atomic(fx.st, "m", b, sizeof(b)), 0);
    assert_file(&fx, "m", b, sizeof(b));
    assert_int_equal(tt_count_prefix(fx.root, TSS_TMP_PREFIX), 0);
    tss_storage_close(fx.st);
}

static void test_read_all(void **state)
{
    fixture fx;
    /* not NULL and not 0, to see that a failed read resets them */
    uint8_t data[100], *out = (uint8_t *)&fx;
    size_t len = 99;
    char path[4096];

    fill(data, sizeof(data), 5);
    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_read_all(fx.st, "nope", 1 << 20, &out, &len),
                     TSS_ENOTFOUND);
    assert_null(out);
    assert_int_equal(len, 0);
    tt_assert_msg_has("nope");

    tt_join(path, sizeof(path), fx.root, "f");
    tt_spit(path, data, sizeof(data));
    assert_int_equal(tss_storage_read_all(fx.st, "f", 100, &out, &len), 0);
    assert_int_equal(len, 100);
    assert_memory_equal(out, data, 100);
    tss_free(out);

    /* one byte over the bound is corrupt, and nothing is returned */
    assert_int_equal(tss_storage_read_all(fx.st, "f", 99, &out, &len),
                     TSS_ECORRUPT);
    assert_null(out);
    tt_assert_msg_has("f");

    tt_spit(path, "", 0);
    assert_int_equal(tss_storage_read_all(fx.st, "f", 0, &out, &len), 0);
    assert_int_equal(len, 0);
    tss_free(out);

    /* a directory is not a file */
    assert_int_equal(tss_storage_mkdirs(fx.st, "d"), 0);
    assert_int_equal(tss_storage_read_all(fx.st, "d", 100, &out, &len),
                     TSS_EIO);
    tss_storage_close(fx.st);
}

static void test_list(void **state)
{
    static const char *const files[] = {
        "seg-b.seg",      "seg-a.seg", "seg-c.dat", "other.seg",
        ".tmp-seg-d.seg", ".hidden",   "seg-",      "g",
    };
    static const char *const want_seg[] = {"seg-a.seg", "seg-b.seg"};
    static const char *const want_pre[] = {"seg-", "seg-a.seg", "seg-b.seg",
                                           "seg-c.dat"};
    static const char *const want_all[] = {".hidden",  "g",         "other.seg",
                                           "seg-",     "seg-a.seg", "seg-b.seg",
                                           "seg-c.dat"};
    struct {
        const char *prefix, *suffix;
        const char *const *want;
        size_t n;
    } cases[] = {
        {"seg-", ".seg", want_seg, 2},
        {"seg-", NULL, want_pre, 4},
        {"", NULL, want_all, 7},
    };
    fixture fx;
    char **names;
    size_t n;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_mkdirs(fx.st, "d"), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char rel[64];

        snprintf(rel, sizeof(rel), "d/%s", files[i]);
        assert_int_equal(tss_storage_write_new(fx.st, rel, "x", 1), 0);
    }
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        assert_int_equal(tss_storage_list(fx.st, "d", cases[c].prefix,
                                          cases[c].suffix, &names, &n),
                         0);
        assert_int_equal(n, cases[c].n);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(names[i], cases[c].want[i]);
        tss_storage_names_free(names, n);
    }
    /* a missing directory is an empty list */
    assert_int_equal(tss_storage_list(fx.st, "missing", "", NULL, &names, &n),
                     0);
    assert_int_equal(n, 0);
    tss_storage_names_free(names, n);
    tss_storage_close(fx.st);
}

static void test_remove_and_rename(void **state)
{
    fixture fx;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_remove(fx.st, "gone"), TSS_ENOTFOUND);
    tt_assert_msg_has("gone");
    assert_int_equal(tss_storage_write_new(fx.st, "f", "abc", 3), 0);
    assert_int_equal(tss_storage_remove(fx.st, "f"), 0);
    assert_absent(&fx, "f");

    assert_int_equal(tss_storage_mkdirs(fx.st, "d"), 0);
    assert_int_equal(tss_storage_write_new(fx.st, "d/a", "abc", 3), 0);
    assert_int_equal(tss_storage_rename(fx.st, "d/a", "d/b"), 0);
    assert_absent(&fx, "d/a");
    assert_file(&fx, "d/b", "abc", 3);
    assert_int_equal(tss_storage_rename(fx.st, "d/b", "c"), TSS_EINVAL);
    assert_int_equal(tss_storage_rename(fx.st, "d/a", "d/c"), TSS_ENOTFOUND);
    assert_file(&fx, "d/b", "abc", 3);
    tss_storage_close(fx.st);
}

static void test_invalid_paths(void **state)
{
    static const char *const bad[] = {
        "../x", "..",  "d/../x", "d/..",  "/x",   "/etc/passwd",
        "",     "./x", ".",      "d/./x", "d//x", "d/",
    };
    fixture fx;
    char outside[4096];
    uint8_t *out;
    size_t len;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_mkdirs(fx.st, "d"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char **names;
        size_t n;
        int rc[6] = {
            tss_storage_write_new(fx.st, bad[i], "1", 1),
            tss_storage_write_atomic(fx.st, bad[i], "1", 1),
            tss_storage_read_all(fx.st, bad[i], 10, &out, &len),
            tss_storage_remove(fx.st, bad[i]),
            tss_storage_mkdirs(fx.st, bad[i]),
            tss_storage_list(fx.st, bad[i], "", NULL, &names, &n),
        };

        for (int k = 0; k < 6; k++)
            if (rc[k] != TSS_EINVAL)
                fail_msg("operation %d on \"%s\" gave %d, not TSS_EINVAL", k,
                         bad[i], rc[k]);
    }
    /* nothing appeared beside the store */
    tt_join(outside, sizeof(outside), fx.dir, "x");
    assert_false(tt_exists(outside));
    tss_storage_close(fx.st);
}

/*
 * A symlink planted inside the store, pointing out of it, is never
 * followed: neither as a directory component nor as the final name.
 */
/* move_aside never replaces a name: the first free of "<name><suffix>",
 * "<name><suffix>.1", ... for a file, a directory (no hard link: renamed
 * once nothing answers to the name, not over an empty directory) and a
 * symbolic link (moved itself, not followed); tss_storage_not_regular
 * says what each odd one is. */
static void test_move_aside(void **state)
{
    fixture fx;
    char out[256], path[4096], secret[4096];
    struct stat sb;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_mkdirs(fx.st, "d"), 0);
    assert_int_equal(
        tss_storage_move_aside(fx.st, "d/gone", ".x", out, sizeof(out)),
        TSS_ENOTFOUND);
    assert_int_equal(tss_storage_write_new(fx.st, "d/a", "one", 3), 0);
    assert_null(tss_storage_not_regular(fx.st, "d/a"));
    assert_null(tss_storage_not_regular(fx.st, "d/gone"));
    assert_int_equal(
        tss_storage_move_aside(fx.st, "d/a", ".x", out, sizeof(out)), 0);
    assert_string_equal(out, "d/a.x");
    assert_int_equal(tss_storage_write_new(fx.st, "d/a", "two", 3), 0);
    assert_int_equal(
        tss_storage_move_aside(fx.st, "d/a", ".x", out, sizeof(out)), 0);
    assert_string_equal(out, "d/a.x.1");
    assert_absent(&fx, "d/a");
    assert_file(&fx, "d/a.x", "one", 3);
    assert_file(&fx, "d/a.x.1", "two", 3);

    /* directories: "b.x" an empty one, which rename() would replace */
    tt_join(path, sizeof(path), fx.root, "d/b");
    assert_int_equal(mkdir(path, 0750), 0);
    tt_join(path, sizeof(path), fx.root, "d/b/inside");
    tt_spit(path, "in", 2);
    tt_join(path, sizeof(path), fx.root, "d/b.x");
    assert_int_equal(mkdir(path, 0750), 0);
    assert_string_equal(tss_storage_not_regular(fx.st, "d/b"), "a directory");
    assert_int_equal(
        tss_storage_move_aside(fx.st, "d/b", ".x", out, sizeof(out)), 0);
    assert_string_equal(out, "d/b.x.1");
    assert_file(&fx, "d/b.x.1/inside", "in", 2);
    assert_int_equal(tt_count_prefix(path, ""), 2); /* b.x: . .. */

    /* a symlink out of the store: moved itself */
    tt_join(secret, sizeof(secret), fx.dir, "secret");
    tt_spit(secret, "secret", 6);
    tt_join(path, sizeof(path), fx.root, "d/c");
    assert_int_equal(symlink(secret, path), 0);
    assert_int_equal(tss_storage_write_new(fx.st, "d/c.x", "kept", 4), 0);
    assert_string_equal(tss_storage_not_regular(fx.st, "d/c"),
                        "a symbolic link");
    assert_int_equal(
        tss_storage_move_aside(fx.st, "d/c", ".x", out, sizeof(out)), 0);
    assert_string_equal(out, "d/c.x.1");
    tt_join(path, sizeof(path), fx.root, "d/c.x.1");
    assert_int_equal(lstat(path, &sb), 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_file(&fx, "d/c.x", "kept", 4);
    assert_absent(&fx, "d/c");

    /* a fifo is refused by a read without blocking it */
    tt_join(path, sizeof(path), fx.root, "d/f");
    assert_int_equal(mkfifo(path, 0640), 0);
    {
        uint8_t *buf;
        size_t len;

        assert_int_equal(tss_storage_read_all(fx.st, "d/f", 100, &buf, &len),
                         TSS_EIO);
        assert_string_equal(tss_storage_not_regular(fx.st, "d/f"), "a fifo");
        /* the read's message is still the thread's error */
        tt_assert_msg_has("not a regular file");
    }
    tss_storage_close(fx.st);
}

static void test_symlinks_not_followed(void **state)
{
    fixture fx;
    char out_dir[4096], secret[4096], path[4096];
    uint8_t *buf, *got;
    size_t len, glen;
    char **names;
    size_t n;

    fx_open(&fx, state, NULL);
    tt_join(out_dir, sizeof(out_dir), fx.dir, "outside");
    assert_int_equal(mkdir(out_dir, 0750), 0);
    tt_join(path, sizeof(path), out_dir, "sub");
    assert_int_equal(mkdir(path, 0750), 0);
    tt_join(path, sizeof(path), out_dir, "sub/f");
    tt_spit(path, "f", 1);
    tt_join(secret, sizeof(secret), out_dir, "secret");
    tt_spit(secret, "secret", 6);

    tt_join(path, sizeof(path), fx.root, "lnk");
    assert_int_equal(symlink(out_dir, path), 0);
    tt_join(path, sizeof(path), fx.root, "lnkfile");
    assert_int_equal(symlink(secret, path), 0);
    assert_int_equal(tss_storage_mkdirs(fx.st, "real"), 0);
    tt_join(path, sizeof(path), fx.root, "real/lnk");
    assert_int_equal(symlink(out_dir, path), 0);

    assert_true(tss_storage_read_all(fx.st, "lnk/secret", 100, &buf, &len) < 0);
    assert_true(
        tss_storage_read_all(fx.st, "real/lnk/secret", 100, &buf, &len) < 0);
    assert_true(tss_storage_read_all(fx.st, "lnkfile", 100, &buf, &len) < 0);
    assert_true(tss_storage_write_new(fx.st, "lnk/new", "x", 1) < 0);
    assert_true(tss_storage_write_atomic(fx.st, "lnk/secret", "x", 1) < 0);
    assert_true(tss_storage_write_atomic(fx.st, "real/lnk/secret", "x", 1) < 0);
    assert_true(tss_storage_remove(fx.st, "lnk/secret") < 0);
    assert_true(tss_storage_mkdirs(fx.st, "lnk/made") < 0);
    for (size_t i = 0; i < 3; i++) {
        static const char *const dirs[] = {"lnk", "lnk/sub", "real/lnk"};
        int rc = tss_storage_list(fx.st, dirs[i], "", NULL, &names, &n);

        assert_true(rc < 0 || n == 0);
        if (rc == 0)
            tss_storage_names_free(names, n);
    }

    /* the outside tree is exactly as it was */
    assert_int_equal(tt_slurp(secret, &got, &glen), 0);
    assert_int_equal(glen, 6);
    assert_memory_equal(got, "secret", 6);
    free(got);
    tt_join(path, sizeof(path), out_dir, "new");
    assert_false(tt_exists(path));
    tt_join(path, sizeof(path), out_dir, "made");
    assert_false(tt_exists(path));
    assert_int_equal(tt_count_prefix(out_dir, ""), 4); /* . .. sub secret */
    tss_storage_close(fx.st);
}

static void test_lock(void **state)
{
    fixture fx;
    char pid[32], path[4096];
    int fd, fd2;
    uint8_t *got;
    size_t len;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_lock(fx.st, "LOCK", &fd), 0);
    assert_true(fd >= 0);
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    tt_join(path, sizeof(path), fx.root, "LOCK");
    assert_int_equal(tt_slurp(path, &got, &len), 0);
    assert_int_equal(len, strlen(pid));
    assert_memory_equal(got, pid, len);
    free(got);

    /* flock is per open file: a second open of LOCK conflicts */
    assert_int_equal(tss_storage_lock(fx.st, "LOCK", &fd2), TSS_ELOCKED);
    assert_int_equal(fd2, -1);
    snprintf(pid, sizeof(pid), "locked by pid %ld", (long)getpid());
    tt_assert_msg_has(pid);

    tss_storage_close_fd(fx.st, fd);
    assert_int_equal(tss_storage_lock(fx.st, "LOCK", &fd2), 0);
    tss_storage_close_fd(fx.st, fd2);
    tss_storage_close(fx.st);
}

static void test_remove_temps(void **state)
{
    fixture fx;
    char path[4096];

    fx_open(&fx, state, NULL);
    tt_join(path, sizeof(path), fx.root, TSS_TMP_PREFIX "a");
    tt_spit(path, "1", 1);
    tt_join(path, sizeof(path), fx.root, TSS_TMP_PREFIX "b.seg-1-2");
    tt_spit(path, "1", 1);
    tt_join(path, sizeof(path), fx.root, "keep");
    tt_spit(path, "1", 1);
    assert_int_equal(tss_storage_remove_temps(fx.st, "."), 2);
    assert_int_equal(tt_count_prefix(fx.root, TSS_TMP_PREFIX), 0);
    assert_true(tt_exists(path));
    assert_int_equal(tss_storage_remove_temps(fx.st, "missing"), 0);
    tss_storage_close(fx.st);
}

static void test_pread_past_end_is_corrupt(void **state)
{
    fixture fx;
    uint8_t buf[16];
    uint64_t size;
    int fd;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_write_new(fx.st, "f", "0123456789", 10), 0);
    assert_int_equal(tss_storage_open_read(fx.st, "f", &fd, &size), 0);
    assert_int_equal(size, 10);
    assert_int_equal(tss_storage_pread(fx.st, fd, "f", buf, 4, 6), 0);
    assert_memory_equal(buf, "6789", 4);
    assert_int_equal(tss_storage_pread(fx.st, fd, "f", buf, 5, 6),
                     TSS_ECORRUPT);
    tt_assert_msg_has("f");
    tss_storage_close_fd(fx.st, fd);
    tss_storage_close(fx.st);
}

/* ---- fault injection ---------------------------------------------------- */

static int do_write(tss_storage *st, bool atomic, const char *rel,
                    const void *buf, size_t n)
{
    return atomic ? tss_storage_write_atomic(st, rel, buf, n)
                  : tss_storage_write_new(st, rel, buf, n);
}

/* Position (1-based) of the first call to `op` in the trace, 0 if none. */
static unsigned long trace_find(const tt_fault *f, const char *op)
{
    for (unsigned long i = 0; i < f->calls && i < TT_TRACE_MAX; i++)
        if (strcmp(f->trace[i], op) == 0)
            return i + 1;
    return 0;
}

/*
 * For every call N of a successful write of `rel`, a run whose call N
 * fails with `err`: checks the code, the message, what is visible under
 * the final name, temp files, and the sticky state.
 */
static void fault_every_call(const char *dir, bool atomic, const char *rel,
                             int err)
{
    static tt_fault f;
    const tss_io_ops *io = tt_fault_ops(&f);
    int want = err == ENOSPC ? TSS_ENOSPC : TSS_EIO;
    uint8_t old[300], neu[4096];
    unsigned long total = 0, commit = 0, data_close = 0;
    char parent[64];
    fixture fx;

    fill(old, sizeof(old), 7);
    fill(neu, sizeof(neu), 8);
    snprintf(parent, sizeof(parent), "%s", rel);
    if (strrchr(parent, '/'))
        *strrchr(parent, '/') = '\0';
    else
        snprintf(parent, sizeof(parent), ".");

    for (unsigned long n = 0;; n++) {
        char sub[64], tmpdir[4096];
        const char *op;
        int rc;

        snprintf(sub, sizeof(sub), "%s-%d-%lu", atomic ? "a" : "n", err, n);
        tt_fault_arm(&f, 0, 0, false);
        fx.dir = dir;
        tt_join(fx.root, sizeof(fx.root), dir, sub);
        assert_int_equal(tss_storage_open(&fx.st, fx.root, io, 1), 0);
        if (strcmp(parent, ".") != 0)
            assert_int_equal(tss_storage_mkdirs(fx.st, parent), 0);
        if (atomic)
            assert_int_equal(do_write(fx.st, true, rel, old, sizeof(old)), 0);

        tt_fault_arm(&f, n, err, false);
        rc = do_write(fx.st, atomic, rel, neu, sizeof(neu));
        op = f.failed_op;
        if (n == 0) { /* the healthy run: learn its calls */
            assert_int_equal(rc, 0);
            total = f.calls;
            commit = trace_find(&f, atomic ? "renameat" : "linkat");
            assert_true(commit > 0 && total <= TT_TRACE_MAX);
            /* the temp file is closed right after its fsync */
            data_close = trace_find(&f, "fsync") + 1;
            assert_string_equal(f.trace[data_close - 1], "close");
            assert_file(&fx, rel, neu, sizeof(neu));
            tss_storage_close(fx.st);
            continue;
        }
        assert_non_null(op);
        tt_fault_arm(&f, 0, 0, false);
        if (rc == 0) {
            /* only closing a directory, or removing the temp name once
             * the final name is in place, may fail without failing the
             * write */
            bool dir_close = strcmp(op, "close") == 0 && n != data_close;
            bool tmp_unlink = strcmp(op, "unlinkat") == 0 && n > commit;

            if (!dir_close && !tmp_unlink)
                fail_msg("%s: call %lu (%s) failed, yet the write succeeded",
                         rel, n, op);
            assert_file(&fx, rel, neu, sizeof(neu));
        } else {
            if (rc != want)
                fail_msg("call %lu (%s) failed with errno %d: got %d, want "
                         "%d (%s)",
                         n, op, err, rc, want, tss_error_last());
            tt_assert_msg_has(rel);
            if (n <= commit) {
                if (atomic)
                    assert_file(&fx, rel, old, sizeof(old));
                else
                    assert_absent(&fx, rel);
            } else { /* the name was already in place, complete */
                assert_file(&fx, rel, neu, sizeof(neu));
            }
        }
        tt_join(tmpdir, sizeof(tmpdir), fx.root, parent);
        if (strcmp(op, "unlinkat") != 0)
            assert_int_equal(tt_count_prefix(tmpdir, TSS_TMP_PREFIX), 0);

        /* a failed fsync is sticky; any other failure is not */
        if (strcmp(op, "fsync") == 0) {
            assert_int_equal(do_write(fx.st, true, rel, old, sizeof(old)),
                             TSS_EFAILED);
            assert_int_equal(tss_storage_remove(fx.st, rel), TSS_EFAILED);
        } else {
            assert_int_equal(do_write(fx.st, true, rel, old, sizeof(old)), 0);
            assert_file(&fx, rel, old, sizeof(old));
        }
        tss_storage_close(fx.st);
        if (n == total)
            break;
    }
    tt_fault_ops(NULL);
}

static void test_fault_write_new(void **state)
{
    fault_every_call(*state, false, "f.dat", EIO);
    fault_every_call(*state, false, "f.dat", ENOSPC);
    fault_every_call(*state, false, "d/e/f.dat", EIO);
    fault_every_call(*state, false, "d/e/f.dat", ENOSPC);
}

static void test_fault_write_atomic(void **state)
{
    fault_every_call(*state, true, "f.dat", EIO);
    fault_every_call(*state, true, "f.dat", ENOSPC);
    fault_every_call(*state, true, "d/f.dat", EIO);
    fault_every_call(*state, true, "d/f.dat", ENOSPC);
}

/* Short writes and EINTR are not failures: the write loop goes on. */
static void test_short_write_and_eintr(void **state)
{
    static tt_fault f;
    const tss_io_ops *io = tt_fault_ops(&f);
    uint8_t neu[10000];
    fixture fx;
    unsigned long w;

    fill(neu, sizeof(neu), 9);
    fx_open(&fx, state, io);
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_storage_write_new(fx.st, "probe", neu, 1), 0);
    w = trace_find(&f, "write");
    assert_true(w > 0);

    for (int atomic = 0; atomic < 2; atomic++) {
        char rel[16];

        snprintf(rel, sizeof(rel), "s%d", atomic);
        tt_fault_arm(&f, w, 0, true);
        assert_int_equal(do_write(fx.st, atomic, rel, neu, sizeof(neu)), 0);
        assert_string_equal(f.failed_op, "write");
        assert_file(&fx, rel, neu, sizeof(neu));

        snprintf(rel, sizeof(rel), "i%d", atomic);
        tt_fault_arm(&f, w, EINTR, false);
        assert_int_equal(do_write(fx.st, atomic, rel, neu, sizeof(neu)), 0);
        assert_string_equal(f.failed_op, "write");
        assert_file(&fx, rel, neu, sizeof(neu));
    }
    assert_int_equal(tt_count_prefix(fx.root, TSS_TMP_PREFIX), 0);
    tss_storage_close(fx.st);
    tt_fault_ops(NULL);
}

/* A failed fsync puts the handle in the failed state until it is reopened;
 * reads still work. */
static void test_fsync_failure_is_sticky(void **state)
{
    static tt_fault f;
    const tss_io_ops *io = tt_fault_ops(&f);
    fixture fx;
    uint8_t *out;
    size_t len;
    unsigned long at;

    fx_open(&fx, state, io);
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_storage_write_new(fx.st, "a", "a", 1), 0);
    at = trace_find(&f, "fsync");
    assert_true(at > 0);

    tt_fault_arm(&f, at, EIO, false);
    assert_int_equal(tss_storage_write_new(fx.st, "b", "b", 1), TSS_EIO);
    tt_assert_msg_has("fsync b");
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_storage_write_new(fx.st, "c", "c", 1), TSS_EFAILED);
    tt_assert_msg_has("failed state");
    assert_int_equal(tss_storage_write_atomic(fx.st, "a", "z", 1), TSS_EFAILED);
    assert_int_equal(tss_storage_remove(fx.st, "a"), TSS_EFAILED);
    assert_int_equal(tss_storage_rename(fx.st, "a", "d"), TSS_EFAILED);
    assert_absent(&fx, "b");
    assert_absent(&fx, "c");
    assert_int_equal(tss_storage_read_all(fx.st, "a", 10, &out, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(out[0], 'a');
    tss_free(out);
    tss_storage_close(fx.st);

    assert_int_equal(tss_storage_open(&fx.st, fx.root, io, 0), 0);
    assert_int_equal(tss_storage_write_new(fx.st, "c", "c", 1), 0);
    assert_file(&fx, "c", "c", 1);
    tss_storage_close(fx.st);
    tt_fault_ops(NULL);
}

/* ---- the appender (the head snapshot's log) -------------------------------
 */

/* Sizes that start and end inside, at and across 4096-byte pages. */
static const size_t append_sizes[] = {1,    15,   496,  512,   513, 1000,
                                      3000, 4096, 4097, 20000, 7,   511};

static void append_all(fixture *fx, const char *rel, tss_appender *a,
                       uint8_t *want, size_t *len)
{
    for (size_t i = 0; i < sizeof(append_sizes) / sizeof(append_sizes[0]);
         i++) {
        size_t n = append_sizes[i];

        fill(want + *len, n, 100 + i);
        assert_int_equal(
            tss_storage_appender_write(fx->st, a, rel, want + *len, n), 0);
        *len += n;
        assert_int_equal(a->end, *len);
        assert_file(fx, rel, want, *len);
    }
}

/* Appends land at the end of what is there, byte for byte. */
static void test_appender(void **state)
{
    static uint8_t want[40000];
    char path[4096];
    tss_appender a;
    fixture fx;
    size_t len = 0;

    fx_open(&fx, state, NULL);
    assert_int_equal(tss_storage_appender_open(fx.st, "log", &a), 0);
    assert_int_equal(a.end, 0);
    append_all(&fx, "log", &a, want, &len);
    tss_storage_appender_close(fx.st, &a);
    assert_int_equal(a.fd, -1);
    tss_storage_appender_close(fx.st, &a); /* closed twice: a no-op */

    /* a file that is not empty is appended to after what it holds */
    assert_int_equal(tss_storage_write_new(fx.st, "old", "abc", 3), 0);
    memcpy(want, "abc", 3);
    len = 3;
    assert_int_equal(tss_storage_appender_open(fx.st, "old", &a), 0);
    assert_int_equal(a.end, 3);
    append_all(&fx, "old", &a, want, &len);
    tss_storage_appender_close(fx.st, &a);

    /* a symlink is not followed */
    tt_join(path, sizeof(path), fx.root, "link");
    assert_int_equal(symlink("/etc/hostname", path), 0);
    assert_int_not_equal(tss_storage_appender_open(fx.st, "link", &a), 0);
    assert_int_equal(a.fd, -1);
    tss_storage_close(fx.st);
}

/* A failed append is an error naming the file; EIO and ENOSPC keep their
 * codes. */
static void test_appender_failure(void **state)
{
    static tt_fault f;
    const tss_io_ops *io = tt_fault_ops(&f);
    tss_appender a;
    fixture fx;

    fx_open(&fx, state, io);
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_storage_appender_open(fx.st, "log", &a), 0);
    tt_fault_arm_match(&f, "pwrite", NULL, 1, ENOSPC);
    assert_int_equal(tss_storage_appender_write(fx.st, &a, "log", "x", 1),
                     TSS_ENOSPC);
    tt_assert_msg_has("write log");
    tt_fault_arm_match(&f, "pwrite", NULL, 1, EIO);
    assert_int_equal(tss_storage_appender_write(fx.st, &a, "log", "x", 1),
                     TSS_EIO);
    tt_assert_msg_has("write log");
    assert_int_equal(a.end, 0);
    tss_storage_appender_close(fx.st, &a);
    tss_storage_close(fx.st);
    tt_fault_ops(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_write_new_is_exclusive),
        T(test_write_atomic_replaces),
        T(test_read_all),
        T(test_list),
        T(test_remove_and_rename),
        T(test_invalid_paths),
        T(test_symlinks_not_followed),
        T(test_move_aside),
        T(test_lock),
        T(test_remove_temps),
        T(test_pread_past_end_is_corrupt),
        T(test_fault_write_new),
        T(test_fault_write_atomic),
        T(test_short_write_and_eintr),
        T(test_fsync_failure_is_sticky),
        T(test_appender),
        T(test_appender_failure),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
