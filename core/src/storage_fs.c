/*
 * The storage layer on a POSIX file system. See storage.h for the contract.
 *
 * Durability idiom (Redis rdbSave, libgit2 filebuf, SQLite): temp name in the
 * same directory → write loop handling short writes and EINTR → fsync →
 * checked close → link()/rename() → fsync of the directory. A failure at any
 * step removes the temp file, so no partial file is ever visible under a
 * final name.
 */
#define _GNU_SOURCE
#include "storage.h"
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#define FILE_MODE 0640
#define DIR_MODE 0750

static atomic_uint tmp_counter;

/* ---- default ops: the C library --------------------------------------- */

static int d_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return openat(dirfd, path, flags, mode);
}
static ssize_t d_read(int fd, void *buf, size_t n)
{
    return read(fd, buf, n);
}
static ssize_t d_pread(int fd, void *buf, size_t n, off_t off)
{
    return pread(fd, buf, n, off);
}
static ssize_t d_write(int fd, const void *buf, size_t n)
{
    return write(fd, buf, n);
}
static ssize_t d_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}
static int d_fsync(int fd)
{
    return fsync(fd);
}
static int d_close(int fd)
{
    return close(fd);
}
static int d_fstat(int fd, struct stat *st)
{
    return fstat(fd, st);
}
static int d_renameat(int a, const char *ap, int b, const char *bp)
{
    return renameat(a, ap, b, bp);
}
static int d_linkat(int a, const char *ap, int b, const char *bp, int flags)
{
    return linkat(a, ap, b, bp, flags);
}
static int d_unlinkat(int dirfd, const char *path, int flags)
{
    return unlinkat(dirfd, path, flags);
}
static int d_mkdirat(int dirfd, const char *path, mode_t mode)
{
    return mkdirat(dirfd, path, mode);
}
static int d_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}
static int d_flock(int fd, int op)
{
    return flock(fd, op);
}
static DIR *d_fdopendir(int fd)
{
    return fdopendir(fd);
}
static struct dirent *d_readdir(DIR *d)
{
    return readdir(d);
}
static int d_closedir(DIR *d)
{
    return closedir(d);
}
static int d_fallocate(int fd, int mode, off_t off, off_t len)
{
    return fallocate(fd, mode, off, len);
}

static const tss_io_ops default_ops = {
    .openat = d_openat,
    .read = d_read,
    .pread = d_pread,
    .write = d_write,
    .pwrite = d_pwrite,
    .fsync = d_fsync,
    .close = d_close,
    .fstat = d_fstat,
    .renameat = d_renameat,
    .linkat = d_linkat,
    .unlinkat = d_unlinkat,
    .mkdirat = d_mkdirat,
    .ftruncate = d_ftruncate,
    .flock = d_flock,
    .fdopendir = d_fdopendir,
    .readdir = d_readdir,
    .closedir = d_closedir,
    .ctx = NULL,
    .fallocate = d_fallocate,
};

const tss_io_ops *tss_io_default(void)
{
    return &default_ops;
}

/* ---- helpers ------------------------------------------------------------ */

static bool valid_rel(const char *rel)
{
    const char *p = rel;

    if (!rel || !*rel || *rel == '/')
        return false;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);

        if (n == 0 || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

static int fail_if_sticky(tss_storage *st, const char *rel)
{
    if (atomic_load(&st->failed)) {
        const char *why = atomic_load(&st->failed_msg);

        return tss_error_set(TSS_EFAILED,
                             "write %s: storage of %s is in the failed state "
                             "after an fsync error (%s); reopen it",
                             rel, st->root, why ? why : "?");
    }
    return 0;
}

/* fsync failed: the page cache may have dropped our data; refuse writes. */
static int fsync_failed(tss_storage *st, int err, const char *rel)
{
    int rc = tss_error_set_errno(err, "fsync", rel);
    char *msg = tss_strdup(tss_error_last()), *none = NULL;

    /* the first failure is the one to report */
    if (msg && !atomic_compare_exchange_strong(&st->failed_msg, &none, msg))
        tss_free(msg);
    atomic_store(&st->failed, true);
    return rc;
}

/* An open (with O_NOFOLLOW) failed: ELOOP means a symlink was planted
 * where the store has a file, ENOTDIR (O_DIRECTORY) one where it has a
 * directory, which is said so (the errno's own text, "Too many levels of
 * symbolic links", misleads). */
static int open_failed(int err, const char *rel, bool dir)
{
    if (err == ELOOP || (dir && err == ENOTDIR))
        return tss_error_set(TSS_EIO,
                             "open %s: not a %s (a symbolic link is not "
                             "followed out of the store)",
                             rel, dir ? "directory" : "regular file");
    return tss_error_set_errno(err, "open", rel);
}

/*
 * Opens the directory holding `rel`'s last component, walking components
 * with O_NOFOLLOW. *base points into rel at the last component.
 */
static int open_parent(tss_storage *st, const char *rel, int *dfd,
                       const char **base)
{
    const char *slash = strrchr(rel, '/');
    char comp[256];
    const char *p = rel;
    int fd;

    if (!valid_rel(rel))
        return tss_error_set(TSS_EINVAL, "invalid store path \"%s\"", rel);
    *base = slash ? slash + 1 : rel;
    fd = st->io->openat(st->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        return tss_error_set_errno(errno, "open", rel);
    while (slash && p < slash) {
        const char *e = strchr(p, '/');
        size_t n = (size_t)(e - p);

        if (n >= sizeof(comp)) {
            st->io->close(fd);
            return tss_error_set(TSS_EINVAL, "path component too long in %s",
                                 rel);
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        int next = st->io->openat(
            fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (next < 0) {
            int err = errno;

            st->io->close(fd);
            return open_failed(err, rel, true);
        }
        st->io->close(fd);
        fd = next;
        p = e + 1;
    }
    *dfd = fd;
    return 0;
}

/* Writes n bytes, short writes and EINTR handled: with `off`, pwrite at
 * *off (moved past them), else write. */
static int write_all_at(tss_storage *st, int fd, const void *buf, size_t n,
                        const char *rel, uint64_t *off)
{
    const uint8_t *p = buf;

    while (n > 0) {
        ssize_t w = off ? st->io->pwrite(fd, p, n, (off_t)*off)
                        : st->io->write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return tss_error_set_errno(errno, "write", rel);
        }
        if (w == 0)
            return tss_error_set(TSS_EIO, "write %s: no progress", rel);
        p += w;
        n -= (size_t)w;
        if (off)
            *off += (uint64_t)w;
    }
    return 0;
}

static int write_all(tss_storage *st, int fd, const void *buf, size_t n,
                     const char *rel)
{
    return write_all_at(st, fd, buf, n, rel, NULL);
}

static void tmp_name(char *out, size_t size, const char *base)
{
    snprintf(out, size, TSS_TMP_PREFIX "%.200s-%ld-%u", base, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1));
}

/* ---- public ------------------------------------------------------------- */

int tss_storage_open(tss_storage **out, const char *dir, const tss_io_ops *io,
                     int create)
{
    tss_storage *st;
    int rc;

    *out = NULL;
    if (!dir || !*dir)
        return tss_error_set(TSS_EINVAL, "empty store directory");
    if (!io)
        io = tss_io_default();
    st = tss_calloc(1, sizeof(*st));
    if (!st || !(st->root = tss_strdup(dir))) {
        tss_free(st);
        return tss_error_set(TSS_ENOMEM, "out of memory opening %s", dir);
    }
    st->io = io;
    atomic_init(&st->failed, false);
    atomic_init(&st->failed_msg, NULL);
    if (create && io->mkdirat(AT_FDCWD, dir, DIR_MODE) != 0 &&
        errno != EEXIST) {
        rc = tss_error_set_errno(errno, "mkdir", dir);
        goto fail;
    }
    st->rootfd =
        io->openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (st->rootfd < 0) {
        rc = tss_error_set_errno(errno, "open", dir);
        goto fail;
    }
    *out = st;
    return 0;
fail:
    tss_free(st->root);
    tss_free(st);
    return rc;
}

void tss_storage_close(tss_storage *st)
{
    if (!st)
        return;
    if (st->rootfd >= 0)
        st->io->close(st->rootfd);
    tss_free(atomic_load(&st->failed_msg));
    tss_free(st->root);
    tss_free(st);
}

int tss_storage_mkdirs(tss_storage *st, const char *rel)
{
    char path[512];
    size_t n = strlen(rel);

    if (!valid_rel(rel) || n >= sizeof(path))
        return tss_error_set(TSS_EINVAL, "invalid store path \"%s\"", rel);
    memcpy(path, rel, n + 1);
    for (size_t i = 0; i <= n; i++) {
        const char *base;
        int dfd, rc;

        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        /* through open_parent, so a symlinked component is not followed */
        if ((rc = open_parent(st, path, &dfd, &base)) != 0)
            return rc;
        if (st->io->mkdirat(dfd, base, DIR_MODE) == 0) {
            /* the new name must outlast a power cut like a file's */
            if (st->io->fsync(dfd) != 0)
                rc = fsync_failed(st, errno, path);
        } else if (errno != EEXIST) {
            rc = tss_error_set_errno(errno, "mkdir", path);
        }
        st->io->close(dfd);
        if (rc)
            return rc;
        if (i < n)
            path[i] = '/';
    }
    return 0;
}

static int write_file(tss_storage *st, const char *rel, const void *buf,
                      size_t n, bool replace)
{
    char tmp[300];
    const char *base;
    int dfd = -1, fd = -1, rc;
    bool tmp_exists = false;

    if ((rc = fail_if_sticky(st, rel)) != 0)
        return rc;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    tmp_name(tmp, sizeof(tmp), base);
    fd = st->io->openat(dfd, tmp,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        FILE_MODE);
    if (fd < 0) {
        rc = tss_error_set_errno(errno, "create", rel);
        goto out;
    }
    tmp_exists = true;
    if ((rc = write_all(st, fd, buf, n, rel)) != 0)
        goto out;
    if (st->io->fsync(fd) != 0) {
        rc = fsync_failed(st, errno, rel);
        goto out;
    }
    rc = st->io->close(fd);
    fd = -1;
    if (rc != 0) {
        rc = tss_error_set_errno(errno, "close", rel);
        goto out;
    }
    if (replace) {
        if (st->io->renameat(dfd, tmp, dfd, base) != 0) {
            rc = tss_error_set_errno(errno, "rename", rel);
            goto out;
        }
        tmp_exists = false;
    } else {
        if (st->io->linkat(dfd, tmp, dfd, base, 0) != 0) {
            int err = errno;

            if (err == EEXIST)
                rc = tss_error_set(TSS_EEXISTS, "create %s: already exists",
                                   rel);
            else
                rc = tss_error_set_errno(err, "link", rel);
            goto out;
        }
        /* The final name is in place; dropping the temp name is cleanup. */
        if (st->io->unlinkat(dfd, tmp, 0) == 0)
            tmp_exists = false;
    }
    if (st->io->fsync(dfd) != 0) {
        rc = fsync_failed(st, errno, rel);
        goto out;
    }
out:
    if (fd >= 0)
        st->io->close(fd);
    if (tmp_exists)
        (void)st->io->unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        st->io->close(dfd);
    return rc;
}

int tss_storage_write_new(tss_storage *st, const char *rel, const void *buf,
                          size_t n)
{
    return write_file(st, rel, buf, n, false);
}

int tss_storage_write_atomic(tss_storage *st, const char *rel, const void *buf,
                             size_t n)
{
    return write_file(st, rel, buf, n, true);
}

int tss_storage_open_read(tss_storage *st, const char *rel, int *fdout,
                          uint64_t *size)
{
    const char *base;
    struct stat sb;
    int dfd, fd, rc;

    *fdout = -1;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    /* O_NONBLOCK: a fifo planted under the name must not block the open
     * (the fstat below refuses it); on a regular file it changes nothing */
    fd = st->io->openat(dfd, base,
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    rc = fd < 0 ? open_failed(errno, rel, false) : 0;
    st->io->close(dfd);
    if (rc)
        return rc;
    if (st->io->fstat(fd, &sb) != 0) {
        rc = tss_error_set_errno(errno, "stat", rel);
        st->io->close(fd);
        return rc;
    }
    if (!S_ISREG(sb.st_mode)) {
        st->io->close(fd);
        return tss_error_set(TSS_EIO, "open %s: not a regular file", rel);
    }
    *fdout = fd;
    *size = (uint64_t)sb.st_size;
    return 0;
}

int tss_storage_pread(tss_storage *st, int fd, const char *rel, void *buf,
                      size_t n, uint64_t off)
{
    uint8_t *p = buf;

    while (n > 0) {
        ssize_t r = st->io->pread(fd, p, n, (off_t)off);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return tss_error_set_errno(errno, "read", rel);
        }
        if (r == 0)
            return tss_error_set(TSS_ECORRUPT, "read %s: file is truncated",
                                 rel);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int tss_storage_stat(tss_storage *st, const char *rel, uint64_t *size,
                     int64_t *mtime_ns)
{
    struct stat sb;
    int fd, rc;

    if ((rc = tss_storage_open_read(st, rel, &fd, size)) != 0)
        return rc;
    if (st->io->fstat(fd, &sb) != 0)
        rc = tss_error_set_errno(errno, "stat", rel);
    else
        *mtime_ns =
            (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    st->io->close(fd);
    return rc;
}

uint64_t tss_storage_etag(const void *buf, size_t n)
{
    return tss_checksum(buf, n) | 1; /* never TSS_ETAG_NONE */
}

int tss_storage_read_etag(tss_storage *st, const char *rel, size_t maxbytes,
                          uint8_t **out, size_t *len, uint64_t *etag)
{
    int rc = tss_storage_read_all(st, rel, maxbytes, out, len);

    *etag = rc == 0 ? tss_storage_etag(*out, *len) : TSS_ETAG_NONE;
    return rc;
}

int tss_storage_put_if_match(tss_storage *st, const char *rel, uint64_t expect,
                             const void *buf, size_t n)
{
    const char *base;
    uint8_t *cur = NULL;
    size_t clen;
    uint64_t etag;
    int dfd, rc;

    if ((rc = fail_if_sticky(st, rel)) != 0)
        return rc;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    /* the directory's lock, not the file's: the file is replaced by
     * rename, so a lock on it would guard an inode nobody reads again */
    while (st->io->flock(dfd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            rc = tss_error_set_errno(errno, "flock", rel);
            st->io->close(dfd);
            return rc;
        }
    }
    rc = tss_storage_read_etag(st, rel, SIZE_MAX, &cur, &clen, &etag);
    if (rc == TSS_ENOTFOUND)
        rc = 0;
    if (rc == 0 && etag != expect)
        rc = tss_error_set(TSS_ECAS,
                           "update of %s lost a race: it changed since it was "
                           "read (etag %016llx, expected %016llx)",
                           rel, (unsigned long long)etag,
                           (unsigned long long)expect);
    if (rc == 0)
        rc = write_file(st, rel, buf, n, expect != TSS_ETAG_NONE);
    tss_free(cur);
    (void)st->io->flock(dfd, LOCK_UN);
    st->io->close(dfd);
    return rc;
}

/* ---- the appender ------------------------------------------------------- */

int tss_storage_appender_open(tss_storage *st, const char *rel, tss_appender *a)
{
    const char *base;
    struct stat sb;
    int dfd, fd, rc;

    a->fd = -1;
    a->end = 0;
    a->reserved = 0;
    if ((rc = fail_if_sticky(st, rel)) != 0)
        return rc;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    fd = st->io->openat(dfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                        FILE_MODE);
    if (fd < 0) {
        rc = open_failed(errno, rel, false);
    } else if (st->io->fstat(fd, &sb) != 0) {
        rc = tss_error_set_errno(errno, "stat", rel);
    } else if (!S_ISREG(sb.st_mode)) {
        rc = tss_error_set(TSS_EIO, "open %s: not a regular file", rel);
    } else if (st->io->fsync(dfd) != 0) { /* the new name must last too */
        rc = fsync_failed(st, errno, rel);
    }
    st->io->close(dfd);
    if (rc) {
        if (fd >= 0)
            st->io->close(fd);
        return rc;
    }
    a->fd = fd;
    a->end = (uint64_t)sb.st_size;
    return 0;
}

int tss_storage_appender_write(tss_storage *st, tss_appender *a,
                               const char *rel, const void *buf, size_t n)
{
    int rc = fail_if_sticky(st, rel);

    if (rc)
        return rc;
    if (a->prealloc && st->io->fallocate && a->end + n > a->reserved &&
        a->reserved != UINT64_MAX) {
        uint64_t len = a->prealloc > n ? a->prealloc : n;

        /* blocks past the end, the size unchanged: a failure (a file
         * system without it, a full disk) only means appends allocate */
        if (st->io->fallocate(a->fd, FALLOC_FL_KEEP_SIZE, (off_t)a->end,
                              (off_t)len) == 0)
            a->reserved = a->end + len;
        else
            a->reserved = errno == EOPNOTSUPP ? UINT64_MAX : a->end;
    }
    return write_all_at(st, a->fd, buf, n, rel, &a->end);
}

void tss_storage_appender_close(tss_storage *st, tss_appender *a)
{
    if (a->fd >= 0)
        st->io->close(a->fd);
    a->fd = -1;
}

int tss_storage_sync_fd(tss_storage *st, int fd, const char *rel)
{
    if (st->io->fsync(fd) != 0)
        return fsync_failed(st, errno, rel);
    return 0;
}

void tss_storage_close_fd(tss_storage *st, int fd)
{
    if (fd >= 0)
        st->io->close(fd);
}

int tss_storage_read_all(tss_storage *st, const char *rel, size_t maxbytes,
                         uint8_t **out, size_t *len)
{
    uint64_t size;
    uint8_t *buf = NULL;
    int fd, rc;

    *out = NULL;
    *len = 0;
    if ((rc = tss_storage_open_read(st, rel, &fd, &size)) != 0)
        return rc;
    if (size > maxbytes) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "read %s: %llu bytes is more than the %zu allowed",
                           rel, (unsigned long long)size, maxbytes);
        goto out;
    }
    buf = tss_malloc((size_t)size);
    if (!buf) {
        rc = tss_error_set(TSS_ENOMEM, "read %s: out of memory", rel);
        goto out;
    }
    if ((rc = tss_storage_pread(st, fd, rel, buf, (size_t)size, 0)) != 0)
        goto out;
    *out = buf;
    *len = (size_t)size;
    buf = NULL;
out:
    tss_free(buf);
    st->io->close(fd);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void tss_storage_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        tss_free(names[i]);
    tss_free(names);
}

int tss_storage_list_numbers(tss_storage *st, const char *reldir,
                             const char *prefix, const char *suffix,
                             uint64_t **out, size_t *n)
{
    char **names;
    size_t count, k = 0, plen = strlen(prefix);
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = tss_storage_list(st, reldir, prefix, suffix, &names, &count)) !=
        0)
        return rc;
    if (count && !(*out = tss_calloc(count, sizeof(**out)))) {
        tss_storage_names_free(names, count);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        const char *num = names[i] + plen;
        char *end;
        unsigned long long v;

        if (*num < '1' || *num > '9') /* no sign, no leading zero, not 0 */
            continue;
        errno = 0;
        v = strtoull(num, &end, 10);
        if (!errno && strcmp(end, suffix) == 0)
            (*out)[k++] = v;
    }
    tss_storage_names_free(names, count);
    for (size_t a = 1; a < k; a++) /* descending */
        for (size_t b = a; b > 0 && (*out)[b - 1] < (*out)[b]; b--) {
            uint64_t x = (*out)[b];

            (*out)[b] = (*out)[b - 1];
            (*out)[b - 1] = x;
        }
    *n = k;
    return 0;
}

int tss_storage_list(tss_storage *st, const char *reldir, const char *prefix,
                     const char *suffix, char ***names, size_t *count)
{
    char **v = NULL;
    size_t n = 0, cap = 0, plen = strlen(prefix);
    size_t slen = suffix ? strlen(suffix) : 0;
    bool want_tmp;
    struct dirent *de;
    const char *base;
    DIR *d;
    int dfd, fd, err, rc;

    *names = NULL;
    *count = 0;
    /* O_NOFOLLOW on the full path guards only its last component */
    if ((rc = open_parent(st, reldir, &dfd, &base)) != 0) {
        if (rc != TSS_ENOTFOUND)
            return rc;
        tss_error_clear();
        return 0;
    }
    fd = st->io->openat(dfd, base,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    err = errno;
    st->io->close(dfd);
    if (fd < 0) {
        if (err == ENOENT)
            return 0;
        return open_failed(err, reldir, true);
    }
    d = st->io->fdopendir(fd);
    if (!d) {
        rc = tss_error_set_errno(errno, "opendir", reldir);
        st->io->close(fd);
        return rc;
    }
    /* temp files are invisible, unless asked for by their prefix */
    want_tmp = strncmp(prefix, TSS_TMP_PREFIX, strlen(TSS_TMP_PREFIX)) == 0;
    errno = 0;
    while ((de = st->io->readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (!want_tmp &&
             strncmp(de->d_name, TSS_TMP_PREFIX, strlen(TSS_TMP_PREFIX)) == 0))
            continue;
        if (strncmp(de->d_name, prefix, plen) != 0)
            continue;
        if (slen && (len < slen || strcmp(de->d_name + len - slen, suffix)))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nv = tss_realloc(v, ncap * sizeof(*v));

            if (!nv) {
                rc =
                    tss_error_set(TSS_ENOMEM, "list %s: out of memory", reldir);
                goto out;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[n] = tss_strdup(de->d_name))) {
            rc = tss_error_set(TSS_ENOMEM, "list %s: out of memory", reldir);
            goto out;
        }
        n++;
        errno = 0;
    }
    if (errno != 0)
        rc = tss_error_set_errno(errno, "readdir", reldir);
out:
    st->io->closedir(d);
    if (rc) {
        tss_storage_names_free(v, n);
        return rc;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_names);
    *names = v;
    *count = n;
    return 0;
}

int tss_storage_remove(tss_storage *st, const char *rel)
{
    const char *base;
    int dfd, rc;

    if ((rc = fail_if_sticky(st, rel)) != 0)
        return rc;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    if (st->io->unlinkat(dfd, base, 0) != 0)
        rc = tss_error_set_errno(errno, "remove", rel);
    else if (st->io->fsync(dfd) != 0)
        rc = fsync_failed(st, errno, rel);
    st->io->close(dfd);
    return rc;
}

int tss_storage_rename(tss_storage *st, const char *from, const char *to)
{
    const char *fbase, *tbase;
    int dfd, rc;

    if ((rc = fail_if_sticky(st, from)) != 0)
        return rc;
    if ((rc = open_parent(st, from, &dfd, &fbase)) != 0)
        return rc;
    tbase = strrchr(to, '/') ? strrchr(to, '/') + 1 : to;
    if ((size_t)(fbase - from) != (size_t)(tbase - to) ||
        strncmp(from, to, (size_t)(fbase - from)) != 0 || !valid_rel(to))
        rc = tss_error_set(TSS_EINVAL, "rename %s to %s: not one directory",
                           from, to);
    else if (st->io->renameat(dfd, fbase, dfd, tbase) != 0)
        rc = tss_error_set_errno(errno, "rename", from);
    else if (st->io->fsync(dfd) != 0)
        rc = fsync_failed(st, errno, to);
    st->io->close(dfd);
    return rc;
}

/* What a file of mode `m` is, when not a regular file. */
static const char *odd_kind(mode_t m)
{
    if (S_ISREG(m))
        return NULL;
    if (S_ISLNK(m))
        return "a symbolic link";
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a fifo";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    return "not a regular file";
}

const char *tss_storage_not_regular(tss_storage *st, const char *rel)
{
    char saved[1024];
    int code = tss_error_last_code();
    const char *base, *what = NULL;
    int dfd;

    snprintf(saved, sizeof(saved), "%s", tss_error_last());
    if (open_parent(st, rel, &dfd, &base) == 0) {
        /* O_PATH | O_NOFOLLOW: the name itself, a symbolic link included,
         * neither followed nor opened for reading (a fifo) */
        int fd = st->io->openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);

        if (fd >= 0) {
            struct stat sb;

            if (st->io->fstat(fd, &sb) == 0)
                what = odd_kind(sb.st_mode);
            st->io->close(fd);
        }
        st->io->close(dfd);
    }
    if (code)
        tss_error_set(code, "%s", saved);
    else
        tss_error_clear();
    return what;
}

/* Longest suffix ".<n>" tss_storage_move_aside tries. */
#define ASIDE_MAX 1000

int tss_storage_move_aside(tss_storage *st, const char *rel, const char *suffix,
                           char *out, size_t size)
{
    const char *base;
    int dfd, rc;

    if (size)
        out[0] = '\0';
    if ((rc = fail_if_sticky(st, rel)) != 0)
        return rc;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    rc = 1; /* every name taken */
    for (unsigned k = 0; k <= ASIDE_MAX; k++) {
        char name[512];
        int fd, n;

        n = k ? snprintf(name, sizeof(name), "%s%s.%u", base, suffix, k)
              : snprintf(name, sizeof(name), "%s%s", base, suffix);
        if (n < 0 || (size_t)n >= sizeof(name) || !valid_rel(name)) {
            rc = tss_error_set(TSS_EINVAL, "move %s aside: bad name", rel);
            break;
        }
        /* link() never replaces a name (EEXIST), and links a symbolic
         * link itself, not what it points to */
        if (st->io->linkat(dfd, base, dfd, name, 0) == 0) {
            if (st->io->unlinkat(dfd, base, 0) != 0)
                rc = tss_error_set_errno(errno, "remove", rel);
            else
                rc = 0;
        } else if (errno == EEXIST) {
            continue;
        } else if (errno != EPERM) {
            rc = tss_error_set_errno(errno, "link", rel);
        } else {
            /* a directory (no hard link to one) or a file system without
             * hard links: rename, once nothing answers to the name (the
             * caller holds the LOCK: no one else names files aside) */
            fd = st->io->openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
            if (fd >= 0) {
                st->io->close(fd);
                continue;
            }
            if (errno != ENOENT)
                rc = tss_error_set_errno(errno, "open", name);
            else if (st->io->renameat(dfd, base, dfd, name) != 0)
                rc = tss_error_set_errno(errno, "rename", rel);
            else
                rc = 0;
        }
        if (rc == 0) {
            snprintf(out, size, "%.*s%s", (int)(base - rel), rel, name);
            if (st->io->fsync(dfd) != 0)
                rc = fsync_failed(st, errno, out);
        }
        break;
    }
    st->io->close(dfd);
    if (rc == 1)
        rc = tss_error_set(TSS_EEXISTS,
                           "move %s aside: %s%s and the %d numbered names "
                           "after it are all taken",
                           rel, rel, suffix, ASIDE_MAX);
    return rc;
}

int tss_storage_lock(tss_storage *st, const char *rel, int *fdout)
{
    char pidbuf[32];
    const char *base;
    int dfd, fd, rc, len;

    *fdout = -1;
    if ((rc = open_parent(st, rel, &dfd, &base)) != 0)
        return rc;
    fd = st->io->openat(dfd, base, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                        FILE_MODE);
    st->io->close(dfd);
    if (fd < 0)
        return open_failed(errno, rel, false);
    if (st->io->flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ssize_t r;

        if (err != EWOULDBLOCK) {
            st->io->close(fd);
            return tss_error_set_errno(err, "flock", rel);
        }
        r = st->io->pread(fd, pidbuf, sizeof(pidbuf) - 1, 0);
        pidbuf[r > 0 ? r : 0] = '\0';
        pidbuf[strcspn(pidbuf, "\n")] = '\0';
        st->io->close(fd);
        return tss_error_set(TSS_ELOCKED,
                             "store %s is locked by pid %s (another writer "
                             "is running)",
                             st->root, pidbuf[0] ? pidbuf : "?");
    }
    /* Record the holder for the next one's message; the flock is the lock,
     * the pid is only information, so a failure here is not fatal. */
    len = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
    if (st->io->ftruncate(fd, 0) == 0)
        (void)!st->io->write(fd, pidbuf, (size_t)len);
    *fdout = fd;
    return 0;
}

int tss_storage_remove_temps(tss_storage *st, const char *reldir)
{
    struct dirent *de;
    int fd, removed = 0;
    DIR *d;

    fd = st->io->openat(st->rootfd, reldir,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return errno == ENOENT ? 0 : open_failed(errno, reldir, true);
    d = st->io->fdopendir(fd);
    if (!d) {
        int rc = tss_error_set_errno(errno, "opendir", reldir);

        st->io->close(fd);
        return rc;
    }
    while ((de = st->io->readdir(d)) != NULL) {
        if (strncmp(de->d_name, TSS_TMP_PREFIX, strlen(TSS_TMP_PREFIX)) != 0)
            continue;
        if (st->io->unlinkat(dirfd(d), de->d_name, 0) == 0)
            removed++;
    }
    st->io->closedir(d);
    return removed;
}
