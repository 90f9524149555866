/*
 * The power-cut simulator (crash_ops.h), adapted from
 * tests/core/test_crash_sim.c: the same model and ops table; here the
 * crash point counts the fsyncs from co_arm, so that a test can open the
 * store first and cut the power only inside the operation under test.
 */
#define _GNU_SOURCE
#include "crash_ops.h"

#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- the interface ------------------------------------------------------ */

void co_baseline(const char *dir)
{
    model_reset();
    M.root = baseline(dir);
}

void co_arm(unsigned long n)
{
    M.fsyncs = 0;
    M.crash_at = n;
    M.crashed = false;
}

unsigned long co_fsyncs(void)
{
    return M.fsyncs;
}

bool co_crashed(void)
{
    return M.crashed;
}

const tss_io_ops *co_ops(void)
{
    return &crash_ops;
}

void co_power_cut(const char *dir)
{
    power_cut(dir);
}

void co_free(void)
{
    model_reset();
}
