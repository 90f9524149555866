/*
 * Helpers shared by the core unit tests (see test_util.h).
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char *base_dir;

static char *make_tmp(const char *parent, const char *stem)
{
    char path[4096];
    char *p;

    snprintf(path, sizeof(path), "%s/%sXXXXXX", parent, stem);
    p = mkdtemp(path);
    assert_non_null(p);
    p = strdup(path);
    assert_non_null(p);
    return p;
}

int tt_group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");

    base_dir = make_tmp(tmp && *tmp ? tmp : "/tmp", "tss-test-");
    return 0;
}

int tt_group_teardown(void **state)
{
    if (base_dir) {
        tt_rmrf(base_dir);
        free(base_dir);
        base_dir = NULL;
    }
    return 0;
}

int tt_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");

    *state = make_tmp(base_dir      ? base_dir
                      : tmp && *tmp ? tmp
                                    : "/tmp",
                      base_dir ? "t" : "tss-test-");
    return 0;
}

int tt_teardown(void **state)
{
    if (*state) {
        tt_rmrf(*state);
        free(*state);
        *state = NULL;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void tt_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tt_assert_msg_has(const char *needle)
{
    if (!strstr(tss_error_last(), needle))
        fail_msg("error message \"%s\" does not contain \"%s\"",
                 tss_error_last(), needle);
}

void tt_join(char *out, size_t size, const char *dir, const char *rel)
{
    int n = snprintf(out, size, "%s/%s", dir, rel);

    assert_true(n > 0 && (size_t)n < size);
}

int tt_slurp(const char *path, uint8_t **buf, size_t *len)
{
    struct stat sb;
    uint8_t *p;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *buf = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &sb) != 0) {
        int err = errno;

        close(fd);
        return -err;
    }
    p = malloc((size_t)sb.st_size + 1);
    assert_non_null(p);
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);

        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fd);
    *buf = p;
    *len = got;
    return 0;
}

void tt_spit(const char *path, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

    assert_true(fd >= 0);
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        assert_true(w > 0);
        p += w;
        len -= (size_t)w;
    }
    assert_int_equal(close(fd), 0);
}

bool tt_exists(const char *path)
{
    struct stat sb;

    return lstat(path, &sb) == 0;
}

size_t tt_count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

void tt_flip(const char *path, uint64_t off, uint8_t mask)
{
    uint8_t b;
    int fd = open(path, O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= mask;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    assert_int_equal(close(fd), 0);
}

uint64_t tt_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t tt_below(uint64_t *state, uint64_t n)
{
    return tt_rand(state) % n;
}

/* ---- store queries ------------------------------------------------------ */

size_t tt_query(tss_store *s, const tss_filter *f, tt_series **out,
                uint64_t *errors)
{
    tss_query *q;
    tss_series_info info;
    tt_series *v = NULL;
    size_t n = 0;
    int rc;

    assert_int_equal(tss_query_open(&q, s, f), 0);
    while ((rc = tss_query_next(q, &info)) == 1) {
        const char *f6[6] = {
            info.id.host, info.id.plugin,        info.id.plugin_instance,
            info.id.type, info.id.type_instance, info.id.ds};
        const tss_point *pts;
        tt_series *e;

        v = realloc(v, (n + 1) * sizeof(*v));
        assert_non_null(v);
        e = &v[n++];
        memset(e, 0, sizeof(*e));
        for (int i = 0; i < 6; i++) {
            e->field[i] = strdup(f6[i]);
            assert_non_null(e->field[i]);
        }
        e->kind = info.kind;
        e->info = info;
        memset(&e->info.id, 0, sizeof(e->info.id));
        assert_int_equal(tss_query_points(q, &pts, &e->n), 0);
        e->pts = malloc((e->n ? e->n : 1) * sizeof(tss_point));
        assert_non_null(e->pts);
        memcpy(e->pts, pts, e->n * sizeof(tss_point));
    }
    assert_int_equal(rc, 0);
    *errors = tss_query_errors(q);
    tss_query_close(q);
    *out = v;
    return n;
}

void tt_series_free(tt_series *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 6; k++)
            free(v[i].field[k]);
        free(v[i].pts);
    }
    free(v);
}

void tt_log_fn(void *ctx, int level, const char *msg)
{
    tt_log *l = ctx;

    if (l->n < 64) {
        l->level[l->n] = level;
        snprintf(l->msg[l->n], sizeof(l->msg[0]), "%s", msg);
        l->n++;
    }
}

int tt_log_find(const tt_log *l, int level, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->level[i] == level && strstr(l->msg[i], needle))
            return (int)i;
    return -1;
}

/* ---- fault injection ---------------------------------------------------- */

static tt_fault *active;

void tt_fault_arm(tt_fault *f, unsigned long fail_at, int err, bool short_write)
{
    memset(f, 0, sizeof(*f));
    f->fail_at = fail_at;
    f->err = err;
    f->short_write = short_write;
}

/* Counts a call; true if this one is to fail with f->err. */
static bool hit(const char *op)
{
    tt_fault *f = active;

    if (!f)
        return false;
    if (f->calls < TT_TRACE_MAX)
        f->trace[f->calls] = op;
    f->calls++;
    if (f->calls != f->fail_at || f->short_write)
        return false;
    f->failed_op = op;
    errno = f->err;
    return true;
}

static int f_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return hit("openat") ? -1 : openat(dirfd, path, flags, mode);
}
static ssize_t f_read(int fd, void *buf, size_t n)
{
    return hit("read") ? -1 : read(fd, buf, n);
}
static ssize_t f_pread(int fd, void *buf, size_t n, off_t off)
{
    return hit("pread") ? -1 : pread(fd, buf, n, off);
}
static ssize_t f_write(int fd, const void *buf, size_t n)
{
    if (hit("write"))
        return -1;
    if (active && active->short_write && active->calls == active->fail_at &&
        n > 1) {
        active->failed_op = "write";
        n /= 2;
    }
    return write(fd, buf, n);
}
static int f_fsync(int fd)
{
    return hit("fsync") ? -1 : fsync(fd);
}
static int f_close(int fd)
{
    if (hit("close")) {
        close(fd); /* Linux releases the descriptor even when close fails */
        errno = active->err;
        return -1;
    }
    return close(fd);
}
static int f_fstat(int fd, struct stat *st)
{
    return hit("fstat") ? -1 : fstat(fd, st);
}
static int f_renameat(int a, const char *ap, int b, const char *bp)
{
    return hit("renameat") ? -1 : renameat(a, ap, b, bp);
}
static int f_linkat(int a, const char *ap, int b, const char *bp, int flags)
{
    return hit("linkat") ? -1 : linkat(a, ap, b, bp, flags);
}
static int f_unlinkat(int dirfd, const char *path, int flags)
{
    return hit("unlinkat") ? -1 : unlinkat(dirfd, path, flags);
}
static int f_mkdirat(int dirfd, const char *path, mode_t mode)
{
    return hit("mkdirat") ? -1 : mkdirat(dirfd, path, mode);
}
static int f_ftruncate(int fd, off_t len)
{
    return hit("ftruncate") ? -1 : ftruncate(fd, len);
}
static int f_flock(int fd, int op)
{
    return hit("flock") ? -1 : flock(fd, op);
}
static DIR *f_fdopendir(int fd)
{
    return hit("fdopendir") ? NULL : fdopendir(fd);
}
static struct dirent *f_readdir(DIR *d)
{
    return hit("readdir") ? NULL : readdir(d);
}
static int f_closedir(DIR *d)
{
    if (hit("closedir")) {
        closedir(d);
        errno = active->err;
        return -1;
    }
    return closedir(d);
}

static const tss_io_ops fault_ops = {
    .openat = f_openat,
    .read = f_read,
    .pread = f_pread,
    .write = f_write,
    .fsync = f_fsync,
    .close = f_close,
    .fstat = f_fstat,
    .renameat = f_renameat,
    .linkat = f_linkat,
    .unlinkat = f_unlinkat,
    .mkdirat = f_mkdirat,
    .ftruncate = f_ftruncate,
    .flock = f_flock,
    .fdopendir = f_fdopendir,
    .readdir = f_readdir,
    .closedir = f_closedir,
    .ctx = NULL,
};

const tss_io_ops *tt_fault_ops(tt_fault *f)
{
    active = f;
    return &fault_ops;
}
