/*
 * Helpers shared by the core unit tests: a fresh temp directory per test,
 * small file utilities, a seeded PRNG, and the fault-injecting tss_io_ops
 * table (fail the Nth call with an errno, or make it a short write).
 *
 * Temp directories: the group setup makes one directory with mkdtemp under
 * $TMPDIR (or /tmp); each test's setup makes its own fresh directory inside
 * it, and the teardowns remove them. If a failing test skips its teardown,
 * the group teardown still removes everything.
 */
#ifndef TSS_TEST_UTIL_H
#define TSS_TEST_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsstore/error.h"
#include "tsstore/io.h"
#include "tsstore/query.h"
#include "tsstore/store.h"

/* ---- temp directories ---------------------------------------------------
 */

/** Group setup/teardown: the per-run base directory. */
int tt_group_setup(void **state);
int tt_group_teardown(void **state);

/** Test setup/teardown: *state is a fresh directory path (char *). */
int tt_setup(void **state);
int tt_teardown(void **state);

/** Removes a directory tree (symlinks are removed, never followed). */
void tt_rmrf(const char *path);

/** Fails the test unless tss_error_last() contains `needle`. */
void tt_assert_msg_has(const char *needle);

/* ---- files -------------------------------------------------------------- */

/** out = dir "/" rel; fails the test if it does not fit. */
void tt_join(char *out, size_t size, const char *dir, const char *rel);

/** Reads a whole file with plain POSIX calls. Returns 0 or -errno. */
int tt_slurp(const char *path, uint8_t **buf, size_t *len);

/** Creates or replaces a file with plain POSIX calls; fails the test on
 * error. */
void tt_spit(const char *path, const void *buf, size_t len);

/** True if `path` exists (lstat). */
bool tt_exists(const char *path);

/** Number of entries of `dir` whose names start with `prefix`. */
size_t tt_count_prefix(const char *dir, const char *prefix);

/** XORs the byte at `off` of file `path` with `mask`. */
void tt_flip(const char *path, uint64_t off, uint8_t mask);

/* ---- PRNG (splitmix64; deterministic per seed) ------------------------- */

uint64_t tt_rand(uint64_t *state);

/** Uniform in [0, n) for n > 0. */
uint64_t tt_below(uint64_t *state, uint64_t n);

/* ---- store queries ------------------------------------------------------ */

/** One series of a query result, copied out of the query. */
typedef struct tt_series {
    char *field[6]; /* host, plugin, plugin_instance, type, type_instance,
                       ds */
    int kind;
    tss_series_info info; /* id pointers not valid */
    tss_point *pts;
    size_t n;
} tt_series;

/**
 * Runs a query on `s` with filter `f` (NULL: everything) and copies every
 * series and its points, in query order; fails the test on an error.
 * *errors gets tss_query_errors. Free with tt_series_free.
 */
size_t tt_query(tss_store *s, const tss_filter *f, tt_series **out,
                uint64_t *errors);
void tt_series_free(tt_series *v, size_t n);

/** Log sink for tss_store_options.log: keeps every line. */
typedef struct tt_log {
    int level[64];
    char msg[64][1024];
    size_t n;
} tt_log;

void tt_log_fn(void *ctx, int level, const char *msg);

/** Index of the first line at `level` containing `needle`, or -1. */
int tt_log_find(const tt_log *l, int level, const char *needle);

/**
 * Opens the store in `dir` with windows of `span_s` seconds, 10 s buckets,
 * `log` (may be NULL) as the log sink and `io` (NULL: default) as the ops;
 * fails the test if it does not open.
 */
tss_store *tt_open(const char *dir, unsigned flags, int64_t span_s, tt_log *log,
                   const tss_io_ops *io);

/* ---- fault injection ---------------------------------------------------- */

#define TT_TRACE_MAX 512

/**
 * State of the fault-injecting ops table. Every call through the table
 * counts; when `calls` reaches `fail_at` (1-based; 0 = never) that call
 * fails with errno `err` without doing anything (close and closedir do
 * release the descriptor, as the kernel does), or, if `short_write` is set
 * and the call is a write, writes only half of its bytes and succeeds.
 * `trace` names each call's operation.
 */
typedef struct tt_fault {
    unsigned long calls;
    unsigned long fail_at;
    int err;
    bool short_write;
    const char *failed_op; /* the operation that was made to fail */
    const char *trace[TT_TRACE_MAX];
    /* set by tt_fault_arm_match: fail_at then counts only the calls of
     * operation `match_op` (NULL: any) whose path argument contains
     * `match_path` (NULL: any path; calls without a path never match a
     * path). Paths are as the core passes them, relative to a directory
     * descriptor: usually the last component ("base-2.snap"). */
    const char *match_op, *match_path;
    unsigned long matched;
} tt_fault;

/**
 * Makes `f` the active fault state (one at a time, single-threaded use) and
 * returns the table that consults it. Reset `f` with tt_fault_arm.
 */
const tss_io_ops *tt_fault_ops(tt_fault *f);

/** Resets the counters: the next call is call 1; fail call `fail_at`. */
void tt_fault_arm(tt_fault *f, unsigned long fail_at, int err,
                  bool short_write);

/**
 * Resets the counters and fails the `nth` (1-based) call of operation `op`
 * (e.g. "linkat"; NULL: any) whose path (either path, for linkat and
 * renameat) contains `path` (NULL: any) with errno `err`.
 */
void tt_fault_arm_match(tt_fault *f, const char *op, const char *path,
                        unsigned long nth, int err);

/* ---- more files ---------------------------------------------------------
 */

/** Copies the tree at `src` (directories and regular files) to `dst`,
 * which must not exist. */
void tt_copy_tree(const char *src, const char *dst);

/** Truncates file `path` to `len` bytes. */
void tt_truncate(const char *path, uint64_t len);

/** Size of file `path` in bytes; fails the test if it does not exist. */
uint64_t tt_file_size(const char *path);

/**
 * A digest (FNV-1a 64) of the tree at `dir`: every entry's relative path,
 * type, size and content, in sorted order. Equal digests mean nothing was
 * created, removed, renamed or written.
 */
uint64_t tt_tree_digest(const char *dir);

/** Names in `dir` (not "." or "..") starting with `prefix`, sorted, as one
 * string "a,b,c" in out[size]; fails the test if it does not fit. */
void tt_list(const char *dir, const char *prefix, char *out, size_t size);

/* ---- stderr ------------------------------------------------------------- */

/** Sends the process' stderr to a temp file until tt_stderr_end. */
void tt_stderr_begin(void);

/** Restores stderr; copies what was written meanwhile into out[size]
 * (NUL-terminated) and returns its length. */
size_t tt_stderr_end(char *out, size_t size);

/* ---- an independent model of what a store must hold --------------------- */

/** Points in arrival order; series are small integers chosen by the test. */
typedef struct tt_model {
    struct tt_mpoint {
        unsigned series;
        int64_t t;
        uint64_t bits;
    } * p;
    size_t n, cap;
} tt_model;

void tt_model_add(tt_model *m, unsigned series, int64_t t, uint64_t bits);
void tt_model_free(tt_model *m);

/**
 * What series `series` holds after the first `upto` arrivals: sorted by
 * time, one point per timestamp, the last arrival winning. *out is
 * malloc()ed (free it); returns the count.
 */
size_t tt_model_expect(const tt_model *m, size_t upto, unsigned series,
                       tss_point **out);

/** Fails the test unless pts[0..n) equals want[0..nwant) bit for bit. */
void tt_assert_points(const char *what, const tss_point *pts, size_t n,
                      const tss_point *want, size_t nwant);

#endif
