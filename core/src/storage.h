/*
 * The storage layer: every file of a store is written, read, listed and
 * removed through these functions, and every system call they make goes
 * through the store's tss_io_ops table.
 *
 * Semantics (tests/core/test_storage.c checks each):
 *
 *  - write_new: create-exclusive. Temp file in the same directory
 *    (O_CREAT|O_EXCL|O_NOFOLLOW), full write loop, fsync, checked close,
 *    link() to the final name — which fails with TSS_EEXISTS if the name is
 *    taken, leaving it untouched — unlink the temp, fsync the directory.
 *  - write_atomic: replace. Same, with rename() instead of link().
 *  - read_all: the whole file, up to `maxbytes` (larger is TSS_ECORRUPT).
 *  - list: names in a directory with a prefix, temp files excluded.
 *  - remove: unlink plus directory fsync.
 *
 * Errors: TSS_ENOTFOUND (ENOENT), TSS_EEXISTS, TSS_ENOSPC (ENOSPC, EDQUOT),
 * TSS_EIO (any other errno, named in the message), TSS_EINVAL (bad path),
 * TSS_ENOMEM, TSS_EFAILED (sticky state, below). Every message names the
 * operation and the path relative to the store.
 *
 * A failed fsync puts the handle in a sticky failed state (as SQLite's pager
 * and LMDB do): the kernel may have dropped the dirty pages, so no later
 * write through this handle can be trusted to be durable. Every write call
 * then fails with TSS_EFAILED, its message naming the fsync that failed,
 * until the owner reopens the storage.
 *
 * Paths are relative to the store root, '/'-separated, without "." or ".."
 * components. Every directory component is opened with O_NOFOLLOW, so a
 * symlink planted inside the store is never followed out of it.
 *
 * Thread safety: a handle may be used from several threads at once except
 * for tss_storage_close; the sticky flag is set atomically.
 */
#ifndef TSS_STORAGE_H
#define TSS_STORAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tsstore/error.h"
#include "tsstore/io.h"

/** Prefix of temp files; readers skip them, the writer removes stale ones. */
#define TSS_TMP_PREFIX ".tmp-"

typedef struct tss_storage {
    int rootfd;
    const tss_io_ops *io;
    char *root; /* the store path, for messages only */
    atomic_bool failed;
    /* the first failed fsync's message ("fsync <path>: <strerror>"), set
     * once, so that every refusal after it says what failed */
    _Atomic(char *) failed_msg;
} tss_storage;

/**
 * Opens the storage rooted at directory `dir`, creating it (mode 0750, the
 * umask applies) when `create` is set. `io` NULL means tss_io_default().
 * *out is freed with tss_storage_close.
 */
int tss_storage_open(tss_storage **out, const char *dir, const tss_io_ops *io,
                     int create) TSS_WUR;
void tss_storage_close(tss_storage *st);

/** Creates directory `rel` and its parents inside the store (mode 0750);
 * each directory it creates is made durable (fsync of its parent). */
int tss_storage_mkdirs(tss_storage *st, const char *rel) TSS_WUR;

int tss_storage_write_new(tss_storage *st, const char *rel, const void *buf,
                          size_t n) TSS_WUR;
int tss_storage_write_atomic(tss_storage *st, const char *rel, const void *buf,
                             size_t n) TSS_WUR;

/**
 * Reads file `rel` whole. *out (tss_free) holds *len bytes. Fails with
 * TSS_ECORRUPT if the file is larger than `maxbytes`.
 */
int tss_storage_read_all(tss_storage *st, const char *rel, size_t maxbytes,
                         uint8_t **out, size_t *len) TSS_WUR;

/**
 * Lists entries of directory `reldir` whose names start with `prefix` and,
 * if `suffix` is not NULL, end with it; temp files are skipped unless
 * `prefix` is TSS_TMP_PREFIX (or longer). *names is a
 * tss_free()able array of *count tss_free()able strings (free with
 * tss_storage_names_free), sorted bytewise. A missing directory gives an
 * empty list.
 */
int tss_storage_list(tss_storage *st, const char *reldir, const char *prefix,
                     const char *suffix, char ***names, size_t *count) TSS_WUR;
void tss_storage_names_free(char **names, size_t count);

/**
 * The numbers n > 0 of the files "<prefix><n><suffix>" in `reldir` (the
 * versions or generations of versioned files), n in the decimal a writer
 * formats ("%" PRIu64: no sign, no leading zero), highest first; other
 * names are skipped. *out is tss_free()able, *n entries (NULL and 0 when
 * none). Errors: those of tss_storage_list; TSS_ENOMEM. Thread safety: as
 * tss_storage_list.
 */
int tss_storage_list_numbers(tss_storage *st, const char *reldir,
                             const char *prefix, const char *suffix,
                             uint64_t **out, size_t *n) TSS_WUR;

/** Size and modification time (ns since the epoch) of file `rel`. */
int tss_storage_stat(tss_storage *st, const char *rel, uint64_t *size,
                     int64_t *mtime_ns) TSS_WUR;

/** Etag of content that does not exist (a file to be created). */
#define TSS_ETAG_NONE UINT64_C(0)

/** The etag of file content: XXH3-64 of the bytes, never TSS_ETAG_NONE. */
uint64_t tss_storage_etag(const void *buf, size_t n);

/** read_all plus the content's etag (TSS_ETAG_NONE and TSS_ENOTFOUND when
 * the file does not exist). */
int tss_storage_read_etag(tss_storage *st, const char *rel, size_t maxbytes,
                          uint8_t **out, size_t *len, uint64_t *etag) TSS_WUR;

/**
 * put_if_match: compare-and-swap on an etag. Under an exclusive flock of
 * the file's directory (held by every process's put_if_match on that
 * directory), reads the current content; if its etag is `expect`, replaces
 * it with `buf` (write_atomic; expect TSS_ETAG_NONE: the file must not
 * exist and is created with write_new). Otherwise TSS_ECAS: the caller
 * lost a race, re-reads and retries. Two processes never both win.
 */
int tss_storage_put_if_match(tss_storage *st, const char *rel, uint64_t expect,
                             const void *buf, size_t n) TSS_WUR;

/** Removes file `rel`; TSS_ENOTFOUND if it does not exist. */
int tss_storage_remove(tss_storage *st, const char *rel) TSS_WUR;

/** Renames `from` to `to` (same directory), then fsyncs the directory. */
int tss_storage_rename(tss_storage *st, const char *from,
                       const char *to) TSS_WUR;

/**
 * Moves file `rel` aside, in its directory, to "<rel><suffix>" or, when
 * that name is taken, to "<rel><suffix>.1", ".2", ... (up to .1000): an
 * earlier file moved aside is never replaced (link() then unlink(); a
 * directory, which takes no hard link, is renamed to a name nothing
 * answers to). A symbolic link is moved itself, never followed. The name
 * it got (relative to the store) goes to out[size]. Fsyncs the directory.
 * The caller holds the writer LOCK. TSS_EEXISTS when every name is taken.
 */
int tss_storage_move_aside(tss_storage *st, const char *rel, const char *suffix,
                           char *out, size_t size) TSS_WUR;

/**
 * What `rel` is when it exists but is not a regular file, looked at
 * without following a symbolic link: "a symbolic link", "a directory",
 * "a fifo", "a socket", "a device"; NULL for a regular file, a missing
 * one, or one that cannot be looked at. For a caller whose read failed
 * (tss_storage_read_all refuses such a file with TSS_EIO) to tell a file
 * planted or left in the way from an I/O error. Leaves the thread's
 * error slot as it was.
 */
const char *tss_storage_not_regular(tss_storage *st, const char *rel);

/** Opens `rel` read-only (O_NOFOLLOW) and returns its fd and size. */
int tss_storage_open_read(tss_storage *st, const char *rel, int *fd,
                          uint64_t *size) TSS_WUR;

/** Reads exactly n bytes at `off` of fd (opened by open_read); `rel` is for
 * messages. Short file → TSS_ECORRUPT. */
int tss_storage_pread(tss_storage *st, int fd, const char *rel, void *buf,
                      size_t n, uint64_t off) TSS_WUR;
void tss_storage_close_fd(tss_storage *st, int fd);

/**
 * An append-only file: the head snapshot's log, whose records carry their
 * own checksums. Appends are `pwrite`s at `end`, the bytes appended so
 * far. Not thread safe: one thread appends.
 */
typedef struct tss_appender {
    int fd;       /* -1: closed */
    uint64_t end; /* bytes in the file: where the next append starts */
    /* set by the caller after open: bytes of blocks to reserve ahead of
     * the end when an append passes what is reserved (0: none) */
    uint64_t prealloc;
    uint64_t reserved; /* blocks reserved up to here (UINT64_MAX: never) */
} tss_appender;

/**
 * Opens (creating, mode 0640, O_NOFOLLOW) `rel` for appending after what
 * it holds, and fsyncs its directory so the name lasts. *a is set up
 * (closed on failure); release it with tss_storage_appender_close.
 * Errors: those of open (TSS_ENOTFOUND for a missing directory, TSS_EIO
 * with errno, ...), TSS_EIO for a name that is not a regular file.
 */
int tss_storage_appender_open(tss_storage *st, const char *rel,
                              tss_appender *a) TSS_WUR;

/**
 * Appends n bytes at a->end (short writes and EINTR handled). A failure
 * (TSS_EIO with errno, TSS_ENOSPC) may leave a partial record: the caller
 * must not append after it.
 */
int tss_storage_appender_write(tss_storage *st, tss_appender *a,
                               const char *rel, const void *buf,
                               size_t n) TSS_WUR;

/** Closes the file (no fsync); a->fd becomes -1. No-op when closed. */
void tss_storage_appender_close(tss_storage *st, tss_appender *a);

/** fsync(fd); a failure sets the sticky failed state. */
int tss_storage_sync_fd(tss_storage *st, int fd, const char *rel) TSS_WUR;

/**
 * Takes the writer lock: flock(LOCK_EX|LOCK_NB) on file `rel` (created if
 * missing), then records our pid in it. TSS_ELOCKED names the holder's pid.
 * *fd stays open for as long as the lock is held; release by closing it with
 * tss_storage_close_fd.
 */
int tss_storage_lock(tss_storage *st, const char *rel, int *fd) TSS_WUR;

/** Removes temp files left in `reldir` by a crashed writer; returns count
 * removed (>= 0) or an error code. */
int tss_storage_remove_temps(tss_storage *st, const char *reldir) TSS_WUR;

#endif /* TSS_STORAGE_H */
