/*
 * Helpers of the hardening tests (see hd_util.h).
 */
#define _GNU_SOURCE
#include "hd_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the I/O ops table -------------------------------------------------- */

static hd_fault *active;

void hd_fault_arm(hd_fault *f, int mode, unsigned long fail_at, int err)
{
    f->mode = mode;
    f->fail_at = fail_at;
    f->err = err;
    f->calls = 0;
    f->fired = false;
    f->fired_op = NULL;
    f->fired_path[0] = '\0';
    f->rule_hits = 0;
    f->sync_hits = 0;
}

static void fd_path(int fd, char *out, size_t size)
{
    char proc[64];
    ssize_t n;

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    n = readlink(proc, out, size - 1);
    out[n > 0 ? n : 0] = '\0';
}

/*
 * Counts a call; returns the errno it is to fail with, or 0. `fd` (>= 0)
 * names the file for calls without a path.
 */
static int hit(const char *op, int dirfd, const char *path, int fd, int flags)
{
    hd_fault *f = active;
    int err;

    if (!f)
        return 0;
    if (f->calls < HD_TRACE_MAX) {
        f->trace[f->calls] = op;
        f->changes[f->calls] =
            strcmp(op, "write") == 0 || strcmp(op, "pwrite") == 0 ||
            strcmp(op, "renameat") == 0 || strcmp(op, "linkat") == 0 ||
            strcmp(op, "unlinkat") == 0 || strcmp(op, "mkdirat") == 0 ||
            strcmp(op, "ftruncate") == 0 ||
            (strcmp(op, "openat") == 0 && (flags & (O_CREAT | O_TRUNC)));
    }
    f->calls++;
    if (f->verbose) {
        char p[512] = "";

        if (fd >= 0 && !path)
            fd_path(fd, p, sizeof(p));
        fprintf(stderr, "    call %lu: %s %s\n", f->calls, op, path ? path : p);
    }
    if (f->rule && (err = f->rule(f->rule_ctx, op, dirfd, path, flags)) != 0) {
        f->rule_hits++;
        return err;
    }
    if (f->mode == HD_PASS || f->mode == HD_SHORT)
        return 0;
    if (f->calls < f->fail_at || (f->mode == HD_ONE && f->calls > f->fail_at))
        return 0;
    if (f->calls == f->fail_at) {
        f->fired = true;
        f->fired_op = op;
        if (path)
            snprintf(f->fired_path, sizeof(f->fired_path), "%s", path);
        else if (fd >= 0)
            fd_path(fd, f->fired_path, sizeof(f->fired_path));
    }
    return f->mode == HD_KILL ? EIO : f->err;
}

#define FAIL(e) (errno = (e), -1)

static int h_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    int e = hit("openat", dirfd, path, -1, flags);

    return e ? FAIL(e) : openat(dirfd, path, flags, mode);
}
static ssize_t h_read(int fd, void *buf, size_t n)
{
    int e = hit("read", -1, NULL, fd, 0);

    return e ? FAIL(e) : read(fd, buf, n);
}
static ssize_t h_pread(int fd, void *buf, size_t n, off_t off)
{
    int e = hit("pread", -1, NULL, fd, 0);

    return e ? FAIL(e) : pread(fd, buf, n, off);
}
/* The length a write of n bytes gets: half of it when this call is the
 * short write armed. */
static size_t short_len(const char *op, int fd, size_t n)
{
    if (active && active->mode == HD_SHORT &&
        active->calls == active->fail_at && n > 1) {
        active->fired = true;
        active->fired_op = op;
        fd_path(fd, active->fired_path, sizeof(active->fired_path));
        return n / 2;
    }
    return n;
}
static ssize_t h_write(int fd, const void *buf, size_t n)
{
    int e = hit("write", -1, NULL, fd, 0);

    return e ? FAIL(e) : write(fd, buf, short_len("write", fd, n));
}
static ssize_t h_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int e = hit("pwrite", -1, NULL, fd, 0);

    return e ? FAIL(e) : pwrite(fd, buf, short_len("pwrite", fd, n), off);
}
static int h_fsync(int fd)
{
    int e = hit("fsync", -1, NULL, fd, 0);

    if (e)
        return FAIL(e);
    if (active && active->sync_watch) {
        char p[512];

        fd_path(fd, p, sizeof(p));
        if (strstr(p, active->sync_watch))
            active->sync_hits++;
    }
    return fsync(fd);
}
static int h_close(int fd)
{
    int e = hit("close", -1, NULL, fd, 0);

    if (e) {
        close(fd); /* Linux releases the descriptor even when close fails */
        return FAIL(e);
    }
    return close(fd);
}
static int h_fstat(int fd, struct stat *st)
{
    int e = hit("fstat", -1, NULL, fd, 0);

    return e ? FAIL(e) : fstat(fd, st);
}
static int h_renameat(int a, const char *ap, int b, const char *bp)
{
    int e = hit("renameat", b, bp, -1, 0);

    return e ? FAIL(e) : renameat(a, ap, b, bp);
}
static int h_linkat(int a, const char *ap, int b, const char *bp, int flags)
{
    int e = hit("linkat", b, bp, -1, 0);

    return e ? FAIL(e) : linkat(a, ap, b, bp, flags);
}
static int h_unlinkat(int dirfd, const char *path, int flags)
{
    int e = hit("unlinkat", dirfd, path, -1, 0);

    return e ? FAIL(e) : unlinkat(dirfd, path, flags);
}
static int h_mkdirat(int dirfd, const char *path, mode_t mode)
{
    int e = hit("mkdirat", dirfd, path, -1, 0);

    return e ? FAIL(e) : mkdirat(dirfd, path, mode);
}
static int h_ftruncate(int fd, off_t len)
{
    int e = hit("ftruncate", -1, NULL, fd, 0);

    return e ? FAIL(e) : ftruncate(fd, len);
}
static int h_flock(int fd, int op)
{
    int e = hit("flock", -1, NULL, fd, 0);

    return e ? FAIL(e) : flock(fd, op);
}
static DIR *h_fdopendir(int fd)
{
    int e = hit("fdopendir", -1, NULL, fd, 0);

    if (e) {
        errno = e;
        return NULL;
    }
    return fdopendir(fd);
}
static struct dirent *h_readdir(DIR *d)
{
    int e = hit("readdir", -1, NULL, dirfd(d), 0);

    if (e) {
        errno = e;
        return NULL;
    }
    return readdir(d);
}
static int h_closedir(DIR *d)
{
    int e = hit("closedir", -1, NULL, -1, 0);

    if (e) {
        closedir(d);
        return FAIL(e);
    }
    return closedir(d);
}

static const tss_io_ops hd_ops = {
    .openat = h_openat,
    .read = h_read,
    .pread = h_pread,
    .write = h_write,
    .pwrite = h_pwrite,
    .fsync = h_fsync,
    .close = h_close,
    .fstat = h_fstat,
    .renameat = h_renameat,
    .linkat = h_linkat,
    .unlinkat = h_unlinkat,
    .mkdirat = h_mkdirat,
    .ftruncate = h_ftruncate,
    .flock = h_flock,
    .fdopendir = h_fdopendir,
    .readdir = h_readdir,
    .closedir = h_closedir,
    .ctx = NULL,
};

const tss_io_ops *hd_fault_ops(hd_fault *f)
{
    active = f;
    return &hd_ops;
}

/* ---- the allocator --------------------------------------------------------
 */

static atomic_ulong a_calls, a_fail_at;
static atomic_bool a_sticky, a_fired;
static atomic_long a_live;

static bool a_fail(void)
{
    unsigned long n = atomic_fetch_add(&a_calls, 1) + 1;
    unsigned long at = atomic_load(&a_fail_at);

    if (at == 0 || n < at || (n > at && !atomic_load(&a_sticky)))
        return false;
    atomic_store(&a_fired, true);
    return true;
}

static void *a_malloc(size_t n)
{
    void *p;

    if (a_fail())
        return NULL;
    if ((p = malloc(n)) != NULL)
        atomic_fetch_add(&a_live, 1);
    return p;
}

static void *a_realloc(void *p, size_t n)
{
    void *q;

    if (!p)
        return a_malloc(n);
    if (a_fail())
        return NULL;
    q = realloc(p, n);
    return q;
}

static void a_free(void *p)
{
    if (p)
        atomic_fetch_sub(&a_live, 1);
    free(p);
}

static const tss_alloc_ops counting = {a_malloc, a_realloc, a_free};

void hd_alloc_arm(unsigned long fail_at, bool sticky)
{
    atomic_store(&a_calls, 0);
    atomic_store(&a_fail_at, fail_at);
    atomic_store(&a_sticky, sticky);
    atomic_store(&a_fired, false);
    tss_alloc_set(&counting);
}

void hd_alloc_off(void)
{
    tss_alloc_set(NULL);
}

unsigned long hd_alloc_calls(void)
{
    return atomic_load(&a_calls);
}

bool hd_alloc_fired(void)
{
    return atomic_load(&a_fired);
}

long hd_alloc_live(void)
{
    return atomic_load(&a_live);
}

/* ---- error messages -------------------------------------------------------
 */

void hd_assert_names_op_and_path(const char *what, const char *msg, int err)
{
    static const char *const verbs[] = {
        "open",   "create", "write", "fsync", "close",   "rename",  "link",
        "remove", "mkdir",  "read",  "stat",  "opendir", "readdir", "flock",
    };
    char tail[256];
    const char *p, *path, *verb;
    size_t vlen;

    snprintf(tail, sizeof(tail), ": %s", strerror(err));
    p = strstr(msg, tail);
    if (!p)
        fail_msg("%s: the message \"%s\" does not say \"%s\"", what, msg,
                 strerror(err));
    /* "... <verb> <path>: <strerror>" */
    path = p;
    while (path > msg && path[-1] != ' ')
        path--;
    if (path == p || path == msg)
        fail_msg("%s: no path before the error in \"%s\"", what, msg);
    verb = path - 1;
    while (verb > msg && verb[-1] != ' ')
        verb--;
    while (*verb == '(' || *verb == '"')
        verb++;
    vlen = path - 1 > verb ? (size_t)(path - 1 - verb) : 0;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strlen(verbs[i]) == vlen && strncmp(verb, verbs[i], vlen) == 0)
            return;
    fail_msg("%s: no operation before the path in \"%s\"", what, msg);
}

/* ---- the layout -----------------------------------------------------------
 */

void hd_options(tss_store_options *o, const tss_io_ops *io)
{
    ru_options(o, io, NULL);
    o->rollups[0] = (tss_rollup_spec){86400, 300, 0};
    o->nrollups = 1;
    o->retention_seconds = 5 * 86400;
    o->snapshot_sync_seconds = 0;
}

void hd_fill(tss_store *s, tt_model *m, int64_t from, int64_t to)
{
    tt_model scratch = {0};

    for (int64_t t = from; t < to; t += HD_STEP)
        for (unsigned k = 0; k < HD_NSERIES; k++)
            ru_put(s, m ? m : &scratch, k, t, ru_value(k, t));
    tt_model_free(&scratch);
}

void hd_build(const char *dir, tt_model *m)
{
    tss_store_options o;
    tss_store *s;

    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    hd_fill(s, m, HD_W_OLD, HD_W_OLD + RU_SPAN);
    hd_fill(s, m, HD_W_MID, HD_W_MID + RU_SPAN);
    hd_fill(s, m, HD_W_NEW, HD_W_NEW + RU_SPAN);
    ru_seal(s);
    hd_fill(s, m, HD_W_HEAD, HD_W_HEAD + 30 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
}

tss_delete_spec hd_delete_spec(void)
{
    tss_delete_spec d;

    memset(&d, 0, sizeof(d));
    d.series_glob = "h/ru/gauge";
    d.has_from = d.has_to = 1;
    d.from = HD_W_MID + 10 * RU_MIN;
    d.to = HD_W_HEAD + 10 * RU_MIN;
    return d;
}

void hd_rows(tss_store *s, ru_rows *out)
{
    ru_query_rows(s, NULL, out);
}

void hd_reader_rows(const char *dir, ru_rows *out)
{
    tss_store_options o;
    tss_store *s;

    hd_options(&o, NULL);
    s = ru_open(dir, 0, &o);
    hd_rows(s, out);
    tss_store_close(s);
}

int64_t hd_window_start(int w)
{
    static const int64_t starts[HD_NWIN] = {
        HD_W_OLD,  HD_W_MID, HD_W_NEW,           HD_W_SEAL,
        HD_W_HEAD, HD_W_FUT, HD_W_FUT + RU_SPAN,
    };

    return starts[w];
}

/* ---- trees ----------------------------------------------------------------
 */

static hd_tree *walking;
static size_t walk_root_len;

static int walk_one(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    hd_entry *e;

    walking->v = realloc(walking->v, (walking->n + 1) * sizeof(hd_entry));
    assert_non_null(walking->v);
    e = &walking->v[walking->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->path, sizeof(e->path), "%s",
             strlen(path) > walk_root_len ? path + walk_root_len + 1 : "");
    e->mode = sb->st_mode;
    e->size = (uint64_t)sb->st_size;
    e->ino = (uint64_t)sb->st_ino;
    e->mtime_ns =
        (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const hd_entry *)a)->path, ((const hd_entry *)b)->path);
}

void hd_tree_list(const char *dir, hd_tree *out)
{
    memset(out, 0, sizeof(*out));
    walking = out;
    walk_root_len = strlen(dir);
    assert_int_equal(nftw(dir, walk_one, 16, FTW_PHYS), 0);
    walking = NULL;
    qsort(out->v, out->n, sizeof(hd_entry), cmp_entry);
}

void hd_tree_free(hd_tree *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}

void hd_tree_assert_same(const char *what, const hd_tree *a, const hd_tree *b)
{
    size_t i = 0, k = 0;

    while (i < a->n || k < b->n) {
        int c = i == a->n   ? 1
                : k == b->n ? -1
                            : strcmp(a->v[i].path, b->v[k].path);

        if (c < 0)
            fail_msg("%s: \"%s\" went away", what, a->v[i].path);
        if (c > 0)
            fail_msg("%s: \"%s\" appeared", what, b->v[k].path);
        if (a->v[i].mode != b->v[k].mode || a->v[i].size != b->v[k].size ||
            a->v[i].ino != b->v[k].ino || a->v[i].mtime_ns != b->v[k].mtime_ns)
            fail_msg("%s: \"%s\" changed: mode %o size %" PRIu64
                     " inode %" PRIu64 " mtime %" PRId64 " -> mode %o size "
                     "%" PRIu64 " inode %" PRIu64 " mtime %" PRId64,
                     what, a->v[i].path, a->v[i].mode, a->v[i].size,
                     a->v[i].ino, a->v[i].mtime_ns, b->v[k].mode, b->v[k].size,
                     b->v[k].ino, b->v[k].mtime_ns);
        i++;
        k++;
    }
}

int hd_run(char *const argv[], char *out, size_t size)
{
    int pfd[2] = {-1, -1}, status;
    size_t used = 0;
    pid_t pid;

    if (out)
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = out ? pfd[1] : open("/dev/null", O_WRONLY);

        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    if (out) {
        close(pfd[1]);
        for (;;) {
            char buf[4096];
            ssize_t r = read(pfd[0], buf, sizeof(buf));
            size_t take;

            if (r <= 0)
                break;
            take = (size_t)r < size - 1 - used ? (size_t)r : size - 1 - used;
            memcpy(out + used, buf, take);
            used += take;
        }
        out[used] = '\0';
        close(pfd[0]);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
