/*
 * Helpers of the hardening tests (docs/hardening-faults.md): an I/O ops
 * table whose calls a test can fail one at a time, fail all from one on (a
 * killed process), shorten (a short write) or refuse by a rule (EACCES,
 * EROFS); an allocator that fails the Nth allocation and counts what is
 * live; the store layout every write path of test_faults starts from; the
 * check that an error message names the failed operation and its path;
 * and a recursive listing of a tree (name, type, mode, size, mtime, inode)
 * to prove that a command changed nothing.
 *
 * The tests link tests/retention's helpers (ret_util.h: series of every
 * kind, query rows at every resolution; crash_ops.h: the power-cut model;
 * test_util.h: temp directories, trees, verify).
 */
#ifndef TSS_HD_UTIL_H
#define TSS_HD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ret_util.h"

/* ---- the I/O ops table -------------------------------------------------- */

enum {
    HD_PASS = 0,  /* count only */
    HD_ONE = 1,   /* call fail_at fails with err, the rest work */
    HD_SHORT = 2, /* call fail_at, a write, writes half and returns that */
    HD_KILL = 3,  /* every call from fail_at on fails (EIO): kill -9 there */
};

/** A rule: return an errno to make the call fail, 0 to let it through.
 * `path` is the path argument relative to `dirfd` (NULL and -1 for calls
 * without one; linkat and renameat: the new name), `flags` the open flags
 * (0 for other calls). A rule may act on the file system itself (plant a
 * symlink before the call goes through). */
typedef int (*hd_rule_fn)(void *ctx, const char *op, int dirfd,
                          const char *path, int flags);

typedef struct hd_fault {
    int mode;
    unsigned long fail_at; /* 1-based */
    int err;
    unsigned long calls;
    bool fired;           /* the call fail_at came and was failed */
    const char *fired_op; /* its operation ("write", "fsync", ...) */
    char fired_path[256]; /* its path argument, "" for none */
    hd_rule_fn rule;      /* consulted for every call first; may be NULL */
    void *rule_ctx;
    unsigned long rule_hits;
    /* per call: the operation (index = call number - 1), for the first
     * HD_TRACE_MAX calls */
#define HD_TRACE_MAX 8192
    const char *trace[HD_TRACE_MAX];
    /* per call: it changes what a process sees in the file system (a
     * write, an open that creates, a link, rename, unlink, mkdir,
     * ftruncate); fsync, close and reads do not */
    bool changes[HD_TRACE_MAX];
    /* fsyncs by file: calls to fsync whose descriptor names a file whose
     * path contains sync_watch (NULL: none counted) */
    const char *sync_watch;
    unsigned long sync_hits;
    bool verbose; /* print every call to stderr */
} hd_fault;

/** Makes `f` the active state and returns the table that consults it.
 * One state at a time; the table may be used from one thread only while
 * a state is active (hd_fault_ops(NULL) makes it a plain pass-through that
 * any thread may use). */
const tss_io_ops *hd_fault_ops(hd_fault *f);

/** Resets counters and arms: `mode` at call `fail_at` with `err`. Keeps the
 * rule and sync_watch. */
void hd_fault_arm(hd_fault *f, int mode, unsigned long fail_at, int err);

/* ---- the allocator --------------------------------------------------------
 */

/** Installs (tss_alloc_set) an allocator that counts allocations and
 * fails the `fail_at`th (1-based; 0: none) and, with `sticky`, every one
 * after it. Resets the counters. */
void hd_alloc_arm(unsigned long fail_at, bool sticky);

/** Restores the C library's allocator. */
void hd_alloc_off(void);

/** Allocations (malloc, and realloc of NULL) asked for since the arm. */
unsigned long hd_alloc_calls(void);

/** True once an allocation was failed. */
bool hd_alloc_fired(void);

/** Blocks handed out by the counting allocator and not freed yet
 * (counted across arms, so a leak shows as a difference). */
long hd_alloc_live(void);

/* ---- error messages -------------------------------------------------------
 */

/**
 * Fails the test unless `msg` holds "<op> <path>: <strerror(err)>" with op
 * one of the storage layer's verbs (open, create, write, fsync, ...) and
 * a non-empty path. `what` prefixes the failure.
 */
void hd_assert_names_op_and_path(const char *what, const char *msg, int err);

/* ---- the layout of test_faults ------------------------------------------ */

/*
 * Milliseconds, 1 h windows, 10 s buckets, no grace, compaction only when
 * asked, rollups in one-span windows: one level after 1 d at 5 min, kept
 * forever; retention 5 d. Three series (gauge, derive, counter), a point
 * a minute. Sealed windows HD_W_OLD (6 d ago: past retention, rolled),
 * HD_W_MID (2 d ago: rolled), HD_W_NEW (2 h ago: neither); the head holds
 * HD_W_HEAD's first half hour, snapshotted and synced. RU_NOW is "now".
 */
#define HD_W_OLD (RU_NOW - 6 * RU_DAY)
#define HD_W_MID (RU_NOW - 2 * RU_DAY)
#define HD_W_NEW (RU_NOW - 2 * RU_HOUR)
#define HD_W_SEAL (RU_NOW - RU_HOUR)
#define HD_W_HEAD RU_NOW
#define HD_W_FUT (RU_NOW + RU_HOUR)
#define HD_NSERIES 3
#define HD_STEP RU_MIN

/** The options of the layout, I/O through `io` (NULL: default). */
void hd_options(tss_store_options *o, const tss_io_ops *io);

/** Appends the points of series 0..HD_NSERIES-1 in [from, to) (a point
 * every HD_STEP) to the writer, recording them in `m` (may be NULL). */
void hd_fill(tss_store *s, tt_model *m, int64_t from, int64_t to);

/** Builds the layout in `dir` (which must not exist). */
void hd_build(const char *dir, tt_model *m);

/** The delete of test_faults: the gauge from HD_W_MID + 10 min to
 * HD_W_HEAD + 10 min (two segments and the head). */
tss_delete_spec hd_delete_spec(void);

/** Rows of every window the store holds, as ru_query_rows; the windows
 * are the span-aligned ranges of HD_W_*. */
void hd_rows(tss_store *s, ru_rows *out);

/** Opens a reader on `dir` (default ops) and returns hd_rows. */
void hd_reader_rows(const char *dir, ru_rows *out);

/** Number of span-aligned windows hd_window_rows knows (HD_W_OLD ..
 * HD_W_FUT). */
#define HD_NWIN 7
int64_t hd_window_start(int w);

/* ---- trees ----------------------------------------------------------------
 */

/** One entry of a listing: path (relative), type, mode, size, mtime (ns),
 * inode. */
typedef struct hd_entry {
    char path[512];
    unsigned mode; /* st_mode: type and permissions */
    uint64_t size, ino;
    int64_t mtime_ns;
} hd_entry;

typedef struct hd_tree {
    hd_entry *v;
    size_t n;
} hd_tree;

/** Lists `dir` recursively (lstat: symlinks are entries, not followed),
 * sorted by path; the root itself is the entry "". */
void hd_tree_list(const char *dir, hd_tree *out);
void hd_tree_free(hd_tree *t);

/** Fails the test naming the first difference unless a and b are equal. */
void hd_tree_assert_same(const char *what, const hd_tree *a, const hd_tree *b);

/** Runs argv (argv[0] a path) with stdout and stderr to /dev/null unless
 * `out` is given (then stdout+stderr captured into out[size]); returns the
 * exit status, or -1 if it did not exit. */
int hd_run(char *const argv[], char *out, size_t size);

#endif
