/*
 * Helpers shared by the core unit tests (see test_util.h).
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

tss_store *tt_open(const char *dir, unsigned flags, int64_t span_s, tt_log *log,
                   const tss_io_ops *io)
{
    tss_store_options o;
    tss_store *s = NULL;
    int rc;

    tss_store_options_init(&o);
    o.span_seconds = span_s;
    o.bucket_seconds = 10;
    o.io = io;
    if (log) {
        o.log = tt_log_fn;
        o.log_ctx = log;
    }
    rc = tss_store_open(&s, dir, flags, &o);
    if (rc != 0)
        fail_msg("open %s: %d %s", dir, rc, tss_error_last());
    return s;
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

void tt_fault_arm_match(tt_fault *f, const char *op, const char *path,
                        unsigned long nth, int err)
{
    tt_fault_arm(f, nth, err, false);
    f->match_op = op;
    f->match_path = path;
}

static bool path_matches(const char *want, const char *p1, const char *p2)
{
    return !want || (p1 && strstr(p1, want)) || (p2 && strstr(p2, want));
}

/* Counts a call with its path arguments (NULL if none); true if this one
 * is to fail with f->err. */
static bool hit2(const char *op, const char *p1, const char *p2)
{
    tt_fault *f = active;

    if (!f)
        return false;
    if (f->calls < TT_TRACE_MAX)
        f->trace[f->calls] = op;
    f->calls++;
    if (f->match_op || f->match_path) {
        if ((f->match_op && strcmp(op, f->match_op) != 0) ||
            !path_matches(f->match_path, p1, p2) || ++f->matched != f->fail_at)
            return false;
    } else if (f->calls != f->fail_at || f->short_write) {
        return false;
    }
    f->failed_op = op;
    errno = f->err;
    return true;
}

static bool hit(const char *op)
{
    return hit2(op, NULL, NULL);
}

static int f_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return hit2("openat", path, NULL) ? -1 : openat(dirfd, path, flags, mode);
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
static ssize_t f_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (hit("pwrite"))
        return -1;
    if (active && active->short_write && active->calls == active->fail_at &&
        n > 1) {
        active->failed_op = "pwrite";
        n /= 2;
    }
    return pwrite(fd, buf, n, off);
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
    return hit2("renameat", ap, bp) ? -1 : renameat(a, ap, b, bp);
}
static int f_linkat(int a, const char *ap, int b, const char *bp, int flags)
{
    return hit2("linkat", ap, bp) ? -1 : linkat(a, ap, b, bp, flags);
}
static int f_unlinkat(int dirfd, const char *path, int flags)
{
    return hit2("unlinkat", path, NULL) ? -1 : unlinkat(dirfd, path, flags);
}
static int f_mkdirat(int dirfd, const char *path, mode_t mode)
{
    return hit2("mkdirat", path, NULL) ? -1 : mkdirat(dirfd, path, mode);
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
    .pwrite = f_pwrite,
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

/* ---- more files ---------------------------------------------------------
 */

static void copy_file(const char *src, const char *dst)
{
    uint8_t *buf;
    size_t len;

    assert_int_equal(tt_slurp(src, &buf, &len), 0);
    tt_spit(dst, buf, len);
    free(buf);
}

void tt_copy_tree(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *de;

    assert_non_null(d);
    assert_int_equal(mkdir(dst, 0750), 0);
    while ((de = readdir(d)) != NULL) {
        char s[4096], t[4096];
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        tt_join(s, sizeof(s), src, de->d_name);
        tt_join(t, sizeof(t), dst, de->d_name);
        assert_int_equal(lstat(s, &sb), 0);
        if (S_ISDIR(sb.st_mode))
            tt_copy_tree(s, t);
        else if (S_ISREG(sb.st_mode))
            copy_file(s, t);
    }
    closedir(d);
}

void tt_truncate(const char *path, uint64_t len)
{
    assert_int_equal(truncate(path, (off_t)len), 0);
}

uint64_t tt_file_size(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    return (uint64_t)sb.st_size;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of `dir` (without . and ..), malloc()ed. */
static char **sorted_names(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;

    *n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        v = realloc(v, (*n + 1) * sizeof(*v));
        assert_non_null(v);
        v[*n] = strdup(de->d_name);
        assert_non_null(v[*n]);
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static uint64_t digest(uint64_t h, const char *dir, const char *rel)
{
    size_t n;
    char **names = sorted_names(dir, &n);

    for (size_t i = 0; i < n; i++) {
        char path[4096], sub[4096];
        struct stat sb;

        tt_join(path, sizeof(path), dir, names[i]);
        snprintf(sub, sizeof(sub), "%s/%s", rel, names[i]);
        assert_int_equal(lstat(path, &sb), 0);
        h = fnv(h, sub, strlen(sub) + 1);
        h = fnv(h, S_ISDIR(sb.st_mode) ? "d" : "f", 1);
        if (S_ISDIR(sb.st_mode)) {
            h = digest(h, path, sub);
        } else {
            uint8_t *buf;
            size_t len;
            uint64_t l64;

            assert_int_equal(tt_slurp(path, &buf, &len), 0);
            l64 = len;
            h = fnv(h, &l64, sizeof(l64));
            h = fnv(h, buf, len);
            free(buf);
        }
        free(names[i]);
    }
    free(names);
    return h;
}

uint64_t tt_tree_digest(const char *dir)
{
    return digest(UINT64_C(0xcbf29ce484222325), dir, "");
}

void tt_list(const char *dir, const char *prefix, char *out, size_t size)
{
    size_t n, used = 0;
    char **names = sorted_names(dir, &n);

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (strncmp(names[i], prefix, strlen(prefix)) == 0) {
            int w = snprintf(out + used, size - used, "%s%s", used ? "," : "",
                             names[i]);

            assert_true(w >= 0 && (size_t)w < size - used);
            used += (size_t)w;
        }
        free(names[i]);
    }
    free(names);
}

/* ---- stderr ------------------------------------------------------------- */

static int saved_stderr = -1;
static FILE *captured;

void tt_stderr_begin(void)
{
    assert_int_equal(saved_stderr, -1);
    fflush(stderr);
    captured = tmpfile();
    assert_non_null(captured);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(captured), STDERR_FILENO) >= 0);
}

size_t tt_stderr_end(char *out, size_t size)
{
    size_t n;

    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    rewind(captured);
    n = fread(out, 1, size - 1, captured);
    out[n] = '\0';
    fclose(captured);
    captured = NULL;
    return n;
}

/* ---- the model ---------------------------------------------------------- */

void tt_model_add(tt_model *m, unsigned series, int64_t t, uint64_t bits)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->p = realloc(m->p, m->cap * sizeof(*m->p));
        assert_non_null(m->p);
    }
    m->p[m->n].series = series;
    m->p[m->n].t = t;
    m->p[m->n].bits = bits;
    m->n++;
}

void tt_model_free(tt_model *m)
{
    free(m->p);
    memset(m, 0, sizeof(*m));
}

typedef struct arrival {
    tss_point p;
    size_t order;
} arrival;

static int cmp_arrival(const void *a, const void *b)
{
    const arrival *x = a, *y = b;

    if (x->p.t != y->p.t)
        return x->p.t < y->p.t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

size_t tt_model_expect(const tt_model *m, size_t upto, unsigned series,
                       tss_point **out)
{
    arrival *v = malloc((upto ? upto : 1) * sizeof(*v));
    size_t n = 0, k = 0;

    assert_non_null(v);
    for (size_t i = 0; i < upto && i < m->n; i++)
        if (m->p[i].series == series) {
            v[n].p.t = m->p[i].t;
            v[n].p.v.bits = m->p[i].bits;
            v[n].order = i;
            n++;
        }
    qsort(v, n, sizeof(*v), cmp_arrival);
    *out = malloc((n ? n : 1) * sizeof(tss_point));
    assert_non_null(*out);
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || v[i + 1].p.t != v[i].p.t) /* the last arrival */
            (*out)[k++] = v[i].p;
    free(v);
    return k;
}

void tt_assert_points(const char *what, const tss_point *pts, size_t n,
                      const tss_point *want, size_t nwant)
{
    if (n != nwant)
        fail_msg("%s: %zu points, want %zu", what, n, nwant);
    for (size_t i = 0; i < n; i++)
        if (pts[i].t != want[i].t || pts[i].v.bits != want[i].v.bits)
            fail_msg("%s: point %zu is (%" PRId64 ", %#" PRIx64
                     "), want (%" PRId64 ", %#" PRIx64 ")",
                     what, i, pts[i].t, pts[i].v.bits, want[i].t,
                     want[i].v.bits);
}
