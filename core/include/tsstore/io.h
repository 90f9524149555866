/*
 * tsstore — the I/O operations table.
 *
 * Every file-system call libtsstore makes goes through one tss_io_ops table,
 * so that a test can replace it and make the Nth call fail (EIO, ENOSPC, a
 * short write) or drop every write not yet fsynced (a simulated crash). The
 * entries have exactly the semantics of the POSIX calls they are named after
 * (return value and errno included); paths are relative to `dirfd`.
 */
#ifndef TSSTORE_IO_H
#define TSSTORE_IO_H

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** File-system operations used by the core. All entries but fallocate are
 * required. */
typedef struct tss_io_ops {
    int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
    ssize_t (*read)(int fd, void *buf, size_t n);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    ssize_t (*write)(int fd, const void *buf, size_t n);
    /** The head snapshot's log is appended with it, at the offset the
     * writer tracks. */
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    int (*fsync)(int fd);
    int (*close)(int fd);
    int (*fstat)(int fd, struct stat *st);
    int (*renameat)(int olddirfd, const char *oldpath, int newdirfd,
                    const char *newpath);
    int (*linkat)(int olddirfd, const char *oldpath, int newdirfd,
                  const char *newpath, int flags);
    int (*unlinkat)(int dirfd, const char *path, int flags);
    int (*mkdirat)(int dirfd, const char *path, mode_t mode);
    int (*ftruncate)(int fd, off_t length);
    int (*flock)(int fd, int operation);
    /* Directory listing: fdopendir takes ownership of fd. */
    DIR *(*fdopendir)(int fd);
    struct dirent *(*readdir)(DIR *dir);
    int (*closedir)(DIR *dir);
    /** Opaque pointer for wrappers (fault injection); unused by the core. */
    void *ctx;
    /** fallocate(2); may be NULL (then nothing is preallocated). The head
     * snapshot's log reserves its blocks ahead of its appends with it
     * (FALLOC_FL_KEEP_SIZE), so an append does not allocate blocks: the
     * block bitmaps and group descriptors it would dirty are charged to
     * the process as whole pages. */
    int (*fallocate)(int fd, int mode, off_t off, off_t len);
} tss_io_ops;

/**
 * Returns the default table, which calls the C library directly. The table
 * is static and immutable; callers that want to wrap it copy it first.
 * Thread safe.
 */
const tss_io_ops *tss_io_default(void);

/** Allocation functions used by the core (malloc, realloc, free). */
typedef struct tss_alloc_ops {
    void *(*malloc)(size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
} tss_alloc_ops;

/**
 * Replaces the core's allocator (for tests that fail the Nth allocation);
 * NULL restores the C library's. Not thread safe: call it while no other
 * thread uses libtsstore. Memory must be freed by the allocator that made
 * it, so switch only between whole operations.
 */
void tss_alloc_set(const tss_alloc_ops *ops);

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_IO_H */
