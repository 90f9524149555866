/*
 * Power cuts at every fsync of a writer's life (open, snapshot, seal,
 * close), then recovery: the store opens, tss_verify finds no problem, no
 * acknowledged point is missing, none is stored twice, and every point
 * present is one that was appended.
 *
 * The durability model (SQLite's crash tests drop unsynced writes the same
 * way; this one is simpler: all of them are lost, none is torn):
 *
 *  1. A file's content survives as of its last fsync; a file never fsynced
 *     is empty.
 *  2. A directory's entries survive as of its last fsync: names created
 *     since (create, link, rename, mkdir) vanish, names removed since
 *     (unlink, rename) come back, naming the file they named then.
 *  3. A directory never fsynced since it was made survives empty.
 *  4. Everything on disk when a run starts is durable (as after sync(1));
 *     the directory that holds the store is outside the model.
 *
 * A file is an object, found by inode while it is in use; a file or
 * directory created during the run is a new object even when the kernel
 * reuses an inode number. The wrapped fsync records the durable state
 * (reading the file through /proc/self/fd, listing the directory) instead
 * of syncing: a real fsync adds nothing to the model, only time.
 *
 * Crash point N: fsyncs 1..N-1 happen; fsync N fails with EIO and so does
 * every call after it (descriptors are still released), which stops the
 * operation in progress as a power cut would. The test then closes the
 * handle, rewrites the store directory to its durable state and recovers
 * with the default ops. Acknowledged: every point appended before a
 * tss_store_snapshot(TSS_SNAP_SYNC) that returned 0, and the points of the
 * windows a tss_store_seal that returned 0 sealed.
 *
 * TT_CRASH_TRACE=1 in the environment prints every fsync with its file.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"
#include "series.h"
#include "storage.h"
#include "tsstore/verify.h"

/* ---- the model ----------------------------------------------------------- */

typedef struct dent {
    char *name;
    size_t obj;
} dent;

typedef struct mobj {
    bool dir, synced; /* synced: has a durable state (else empty) */
    uint8_t *data;    /* file content at the last fsync */
    size_t len;
    dent *ents; /* directory entries at the last fsync */
    size_t nents;
} mobj;

static struct {
    mobj *o;
    size_t n;
    struct ino_obj {
        dev_t dev;
        ino_t ino;
        size_t obj;
    } * ino;
    size_t nino;
    size_t root;
    unsigned long fsyncs, crash_at;
    bool crashed;
} M;

static void model_reset(void)
{
    for (size_t i = 0; i < M.n; i++) {
        free(M.o[i].data);
        for (size_t k = 0; k < M.o[i].nents; k++)
            free(M.o[i].ents[k].name);
        free(M.o[i].ents);
    }
    free(M.o);
    free(M.ino);
    memset(&M, 0, sizeof(M));
}

static size_t obj_new(bool dir)
{
    M.o = realloc(M.o, (M.n + 1) * sizeof(*M.o));
    assert_non_null(M.o);
    memset(&M.o[M.n], 0, sizeof(M.o[0]));
    M.o[M.n].dir = dir;
    return M.n++;
}

/* From now on the file with this inode is object `obj`. */
static void ino_set(const struct stat *sb, size_t obj)
{
    for (size_t i = 0; i < M.nino; i++)
        if (M.ino[i].dev == sb->st_dev && M.ino[i].ino == sb->st_ino) {
            M.ino[i].obj = obj;
            return;
        }
    M.ino = realloc(M.ino, (M.nino + 1) * sizeof(*M.ino));
    assert_non_null(M.ino);
    M.ino[M.nino++] = (struct ino_obj){sb->st_dev, sb->st_ino, obj};
}

static size_t ino_get(const struct stat *sb)
{
    size_t obj;

    for (size_t i = 0; i < M.nino; i++)
        if (M.ino[i].dev == sb->st_dev && M.ino[i].ino == sb->st_ino)
            return M.ino[i].obj;
    obj = obj_new(S_ISDIR(sb->st_mode));
    ino_set(sb, obj);
    return obj;
}

static void set_entries(size_t obj, DIR *d)
{
    struct dirent *de;
    mobj *o;

    for (size_t k = 0; k < M.o[obj].nents; k++)
        free(M.o[obj].ents[k].name);
    free(M.o[obj].ents);
    M.o[obj].ents = NULL;
    M.o[obj].nents = 0;
    while ((de = readdir(d)) != NULL) {
        struct stat sb;
        size_t child;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        assert_int_equal(
            fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW), 0);
        child = ino_get(&sb); /* may move M.o */
        o = &M.o[obj];
        o->ents = realloc(o->ents, (o->nents + 1) * sizeof(*o->ents));
        assert_non_null(o->ents);
        o->ents[o->nents].name = strdup(de->d_name);
        o->ents[o->nents++].obj = child;
    }
    M.o[obj].synced = true;
}

/* What fsync(fd) makes durable. */
static void record_fsync(int fd)
{
    struct stat sb;
    size_t obj;

    assert_int_equal(fstat(fd, &sb), 0);
    obj = ino_get(&sb);
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = fdopendir(openat(fd, ".", O_RDONLY | O_DIRECTORY));

        assert_non_null(d);
        set_entries(obj, d);
        closedir(d);
    } else {
        char proc[64];

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        free(M.o[obj].data);
        assert_int_equal(tt_slurp(proc, &M.o[obj].data, &M.o[obj].len), 0);
        M.o[obj].synced = true;
    }
}

/* Point 4: everything under `path` is durable now. */
static size_t baseline(const char *path)
{
    struct stat sb;
    size_t obj;

    assert_int_equal(lstat(path, &sb), 0);
    obj = obj_new(S_ISDIR(sb.st_mode));
    ino_set(&sb, obj);
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);

        assert_non_null(d);
        set_entries(obj, d);
        closedir(d);
        for (size_t k = 0; k < M.o[obj].nents; k++) {
            char sub[4096];
            size_t child;

            tt_join(sub, sizeof(sub), path, M.o[obj].ents[k].name);
            child = baseline(sub);
            M.o[obj].ents[k].obj = child;
        }
    } else {
        assert_int_equal(tt_slurp(path, &M.o[obj].data, &M.o[obj].len), 0);
        M.o[obj].synced = true;
    }
    return obj;
}

/* Writes object `obj`'s durable state at `path`. */
static void materialize(size_t obj, const char *path)
{
    const mobj *o = &M.o[obj];

    if (!o->dir) {
        tt_spit(path, o->synced ? (const void *)o->data : "",
                o->synced ? o->len : 0);
        return;
    }
    assert_int_equal(mkdir(path, 0750), 0);
    for (size_t k = 0; o->synced && k < o->nents; k++) {
        char sub[4096];

        tt_join(sub, sizeof(sub), path, o->ents[k].name);
        materialize(o->ents[k].obj, sub);
    }
}

/* The power cut: `dir` becomes what the model says survives. */
static void power_cut(const char *dir)
{
    char tmp[4200];

    snprintf(tmp, sizeof(tmp), "%s.durable", dir);
    materialize(M.root, tmp);
    tt_rmrf(dir);
    assert_int_equal(rename(tmp, dir), 0);
}

/* ---- the ops table --------------------------------------------------------
 */

static bool down(void)
{
    if (!M.crashed)
        return false;
    errno = EIO;
    return true;
}

static int c_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    struct stat sb;
    bool created;
    int fd;

    if (down())
        return -1;
    created = (flags & O_CREAT) &&
              fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) != 0;
    fd = openat(dirfd, path, flags, mode);
    if (fd >= 0 && created && fstat(fd, &sb) == 0)
        ino_set(&sb, obj_new(false));
    return fd;
}
static int c_mkdirat(int dirfd, const char *path, mode_t mode)
{
    struct stat sb;

    if (down() || mkdirat(dirfd, path, mode) != 0)
        return -1;
    if (fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        ino_set(&sb, obj_new(true));
    return 0;
}
static int c_fsync(int fd)
{
    if (down())
        return -1;
    if (getenv("TT_CRASH_TRACE")) {
        char proc[64], target[4096] = "";

        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        (void)!readlink(proc, target, sizeof(target) - 1);
        print_message("fsync %lu: %s\n", M.fsyncs + 1, target);
    }
    if (++M.fsyncs == M.crash_at) {
        M.crashed = true;
        errno = EIO;
        return -1;
    }
    record_fsync(fd);
    return 0;
}
static int c_close(int fd)
{
    int rc = close(fd);

    return down() ? -1 : rc;
}
static int c_closedir(DIR *d)
{
    int rc = closedir(d);

    return down() ? -1 : rc;
}
static ssize_t c_read(int fd, void *buf, size_t n)
{
    return down() ? -1 : read(fd, buf, n);
}
static ssize_t c_pread(int fd, void *buf, size_t n, off_t off)
{
    return down() ? -1 : pread(fd, buf, n, off);
}
static ssize_t c_write(int fd, const void *buf, size_t n)
{
    return down() ? -1 : write(fd, buf, n);
}
static ssize_t c_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return down() ? -1 : pwrite(fd, buf, n, off);
}
static int c_fstat(int fd, struct stat *st)
{
    return down() ? -1 : fstat(fd, st);
}
static int c_renameat(int a, const char *ap, int b, const char *bp)
{
    return down() ? -1 : renameat(a, ap, b, bp);
}
static int c_linkat(int a, const char *ap, int b, const char *bp, int flags)
{
    return down() ? -1 : linkat(a, ap, b, bp, flags);
}
static int c_unlinkat(int dirfd, const char *path, int flags)
{
    return down() ? -1 : unlinkat(dirfd, path, flags);
}
static int c_ftruncate(int fd, off_t len)
{
    return down() ? -1 : ftruncate(fd, len);
}
static int c_flock(int fd, int op)
{
    return down() ? -1 : flock(fd, op);
}
static DIR *c_fdopendir(int fd)
{
    return down() ? NULL : fdopendir(fd);
}
static struct dirent *c_readdir(DIR *d)
{
    return down() ? NULL : readdir(d);
}

static const tss_io_ops crash_ops = {
    .openat = c_openat,
    .read = c_read,
    .pread = c_pread,
    .write = c_write,
    .pwrite = c_pwrite,
    .fsync = c_fsync,
    .close = c_close,
    .fstat = c_fstat,
    .renameat = c_renameat,
    .linkat = c_linkat,
    .unlinkat = c_unlinkat,
    .mkdirat = c_mkdirat,
    .ftruncate = c_ftruncate,
    .flock = c_flock,
    .fdopendir = c_fdopendir,
    .readdir = c_readdir,
    .closedir = c_closedir,
    .ctx = NULL,
};

/* ---- the writer's life ----------------------------------------------------
 */

#define SPAN INT64_C(3600000)
static const char *const HOSTS[] = {"a", "b", "c"};
#define NHOSTS 3

typedef struct run {
    tt_model m;
    bool ack[256];
    int64_t past, future; /* window starts: sealed when due / never due */
    bool opened;          /* the writer's open returned 0 */
} run;

static tss_store *open_store(const char *dir, unsigned flags,
                             const tss_io_ops *io)
{
    tss_store_options o;
    tss_store *s = NULL;

    tss_store_options_init(&o);
    o.span_seconds = SPAN / 1000;
    o.grace_seconds = 0;
    o.io = io;
    return tss_store_open(&s, dir, flags, &o) == 0 ? s : NULL;
}

/* Appends n points per series to the window at `start`, from `off` ms. */
static void append(tss_store *s, run *r, int64_t start, int64_t off, int n)
{
    for (int h = 0; h < NHOSTS; h++)
        for (int i = 0; i < n; i++) {
            tss_series_id id = {HOSTS[h], "crash", "", "type", "", "value"};
            int64_t t = start + off + (int64_t)i * 10000 + h;
            tss_value v;

            v.bits = r->m.n + 1; /* unique: which arrival it was */
            assert_int_equal(tss_store_append(s, &id, 1 + h, t, v), 0);
            tt_model_add(&r->m, (unsigned)h, t, v.bits);
            assert_true(r->m.n <= 256);
        }
}

/* Acknowledges every point so far (window < 0) or those of one window. */
static void ack(run *r, int64_t window)
{
    for (size_t i = 0; i < r->m.n; i++)
        if (window < 0 ||
            (r->m.p[i].t >= window && r->m.p[i].t < window + SPAN))
            r->ack[i] = true;
}

/*
 * open; append; snapshot (sync); append, one point out of order; snapshot
 * (no sync); seal the past window; append, one late point for the sealed
 * window; snapshot (sync); seal everything; append; snapshot (sync); close.
 * Stops at the first failure: the power is off.
 */
static void life(const char *dir, unsigned flags, run *r)
{
    tss_store *s = open_store(dir, flags, &crash_ops);
    int64_t now;

    if (!s)
        return;
    r->opened = true;
    now = tss_store_now(s);
    append(s, r, r->past, 0, 4);
    append(s, r, r->future, 0, 4);
    if (tss_store_snapshot(s, now, TSS_SNAP_SYNC) != 0)
        goto out;
    ack(r, -1);
    append(s, r, r->past, 100000, 3);
    append(s, r, r->future, 100000, 3);
    append(s, r, r->future, 50005, 1);
    if (tss_store_snapshot(s, now, 0) != 0 ||
        tss_store_seal(s, tss_store_now(s), 0, NULL) != 0)
        goto out;
    ack(r, r->past);
    append(s, r, r->past, 200000, 1);
    append(s, r, r->future, 200000, 2);
    if (tss_store_snapshot(s, now, TSS_SNAP_SYNC) != 0)
        goto out;
    ack(r, -1);
    if (tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL) != 0)
        goto out;
    ack(r, -1);
    append(s, r, r->future, 300000, 2);
    if (tss_store_snapshot(s, now, TSS_SNAP_SYNC) != 0)
        goto out;
    ack(r, -1);
out:
    tss_store_close(s);
}

/* ---- recovery --------------------------------------------------------------
 */

typedef struct vlog {
    char text[4096];
    size_t len;
} vlog;

static void on_finding(void *ctx, int sev, const char *file, const char *what)
{
    vlog *l = ctx;

    if (sev == TSS_VERIFY_PROBLEM && l->len < sizeof(l->text) - 1)
        l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len,
                                   "\n  %s: %s", file, what);
}

static void verify_clean(tss_store *s, unsigned long n, const char *when)
{
    vlog l = {{0}, 0};
    tss_verify_report rep;

    assert_int_equal(tss_verify(s, 0, on_finding, NULL, &l, &rep), 0);
    if (rep.problems)
        fail_msg("crash point %lu, %s: %" PRIu64 " problem(s):%s", n, when,
                 rep.problems, l.text);
}

static int host_index(const char *host)
{
    for (int h = 0; h < NHOSTS; h++)
        if (strcmp(host, HOSTS[h]) == 0)
            return h;
    fail_msg("unknown series %s", host);
    return -1;
}

/* The arrival that put (series, t) in the store: -1 if none did. */
static long arrival(const run *r, int h, int64_t t)
{
    for (size_t i = 0; i < r->m.n; i++)
        if (r->m.p[i].series == (unsigned)h && r->m.p[i].t == t)
            return (long)i;
    return -1;
}

/* Every point present was appended, with its value; every acknowledged
 * point is present. */
static void check_points(tss_store *s, const run *r, unsigned long n)
{
    bool seen[256] = {false};
    tt_series *got;
    uint64_t errors;
    size_t ns = tt_query(s, NULL, &got, &errors);

    assert_int_equal(errors, 0);
    for (size_t i = 0; i < ns; i++) {
        int h = host_index(got[i].field[0]);

        for (size_t k = 0; k < got[i].n; k++) {
            long a = arrival(r, h, got[i].pts[k].t);

            if (a < 0 || r->m.p[a].bits != got[i].pts[k].v.bits)
                fail_msg("crash point %lu: %s has (%" PRId64 ", %" PRIu64
                         ") that was never appended",
                         n, HOSTS[h], got[i].pts[k].t, got[i].pts[k].v.bits);
            seen[a] = true;
        }
    }
    tt_series_free(got, ns);
    for (size_t i = 0; i < r->m.n; i++)
        if (r->ack[i] && !seen[i])
            fail_msg("crash point %lu: acknowledged point %zu (%s at %" PRId64
                     ") is missing",
                     n, i, HOSTS[r->m.p[i].series], r->m.p[i].t);
}

static int cmp_pt(const void *a, const void *b)
{
    const tss_point *x = a, *y = b;

    if (x->v.bits != y->v.bits) /* the series */
        return x->v.bits < y->v.bits ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* No (series, t) is in two segments: nothing was restored twice. */
static void check_no_duplicates(const char *dir, unsigned long n)
{
    tss_storage *st;
    char **names;
    size_t count, np = 0, cap = 0;
    tss_point *all = NULL, *pts = NULL;

    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(
        tss_storage_list(st, TSS_SEG_DIR, "", ".seg", &names, &count), 0);
    for (size_t i = 0; i < count; i++) {
        char rel[512];
        tss_segment *seg;

        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
        assert_int_equal(tss_segment_open(&seg, st, rel), 0);
        for (size_t e = 0; e < seg->nentries; e++) {
            size_t k = 0;
            tss_key_view kv;
            uint8_t key[TSS_KEY_MAX];

            memcpy(key, seg->entries[e].key, seg->entries[e].key_len);
            assert_int_equal(tss_key_decode(key, seg->entries[e].key_len, &kv),
                             0);
            assert_int_equal(tss_segment_read_points(seg, e, &pts, &k, &cap),
                             0);
            all = realloc(all, (np + k) * sizeof(*all));
            assert_non_null(all);
            for (size_t j = 0; j < k; j++)
                all[np++] = (tss_point){
                    pts[j].t, {.bits = (uint64_t)host_index(kv.id.host)}};
        }
        tss_segment_close(seg);
    }
    if (np > 1)
        qsort(all, np, sizeof(*all), cmp_pt);
    for (size_t i = 1; i < np; i++)
        if (cmp_pt(&all[i - 1], &all[i]) == 0)
            fail_msg("crash point %lu: %s at %" PRId64 " is stored twice", n,
                     HOSTS[all[i].v.bits], all[i].t);
    free(all);
    free(pts);
    tss_storage_names_free(names, count);
    tss_storage_close(st);
}

static void recover(const char *dir, const run *r, unsigned long n)
{
    /* a store whose creation was cut short is created by the next writer;
     * one that was opened must still be there */
    tss_store *s = open_store(
        dir, r->opened ? TSS_OPEN_WRITER : TSS_OPEN_CREATE | TSS_OPEN_WRITER,
        NULL);

    if (!s)
        fail_msg("crash point %lu: the store does not open: %s", n,
                 tss_error_last());
    verify_clean(s, n, "after recovery");
    check_points(s, r, n);
    assert_int_equal(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL),
                     0);
    verify_clean(s, n, "after sealing everything");
    check_points(s, r, n);
    tss_store_close(s);
    check_no_duplicates(dir, n);
}

/* ---- the runs ----------------------------------------------------------- */

/* Runs the writer's life with a power cut at every fsync in turn. `made`:
 * the store exists before (created by an earlier writer), else the life
 * starts from an empty directory and creates it. */
static void every_crash_point(const char *base, bool made)
{
    char pristine[4096], dir[4096];
    unsigned long total = 0;
    int64_t now;

    tt_join(pristine, sizeof(pristine), base, "pristine");
    if (made) {
        tss_store *s =
            open_store(pristine, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);

        assert_non_null(s);
        now = tss_store_now(s);
        tss_store_close(s);
    } else {
        tss_store *s;

        assert_int_equal(mkdir(pristine, 0750), 0);
        tt_join(dir, sizeof(dir), base, "probe");
        s = open_store(dir, TSS_OPEN_CREATE, NULL);
        assert_non_null(s);
        now = tss_store_now(s);
        tss_store_close(s);
    }
    tt_join(dir, sizeof(dir), base, "store");
    for (unsigned long n = 0; n == 0 || n <= total + 1; n++) {
        run *r = calloc(1, sizeof(*r));

        assert_non_null(r);
        r->past = (now - 2 * 86400000) / SPAN * SPAN;
        r->future = (now + 10 * 86400000) / SPAN * SPAN;
        tt_copy_tree(pristine, dir);
        model_reset();
        M.root = baseline(dir);
        M.crash_at = n; /* 0: the first run only counts the fsyncs */
        life(dir, made ? TSS_OPEN_WRITER : TSS_OPEN_CREATE | TSS_OPEN_WRITER,
             r);
        if (n == 0) {
            total = M.fsyncs;
            assert_true(total > 10);
            /* all went well: everything was acknowledged */
            for (size_t i = 0; i < r->m.n; i++)
                assert_true(r->ack[i]);
        } else {
            /* n == total + 1: the cut comes after the writer closed */
            assert_true(M.crashed == (n <= total));
            power_cut(dir);
            recover(dir, r, n);
        }
        tt_model_free(&r->m);
        free(r);
        tt_rmrf(dir);
    }
    model_reset();
}

static void test_crash_existing_store(void **state)
{
    every_crash_point(*state, true);
}

static void test_crash_new_store(void **state)
{
    every_crash_point(*state, false);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_crash_existing_store),
        T(test_crash_new_store),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
