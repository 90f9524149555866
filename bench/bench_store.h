/*
 * bench_store: benchmarks of the store-level paths -- coverage queries,
 * head snapshots, deletes and compaction. One program, one subcommand per
 * benchmark (bench_coverage.c, bench_snapshot.c, bench_delete.c); this
 * header holds what they share (bench_store.c). Timing, medians and the
 * synthetic data come from bench_core's own sources (bench.h,
 * bench_data.h), linked in unchanged.
 */
#ifndef TSS_BENCH_STORE_H
#define TSS_BENCH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tsstore/query.h"
#include "tsstore/store.h"

#include "bench.h"
#include "bench_data.h"

/* Options every subcommand takes. */
typedef struct bs_common {
    const char *tmpdir;
    int runs, keep;
    uint64_t seed;
} bs_common;

/* 1700006400 s: the 2 h window after bench_synthetic's base time. */
#define BS_W0 INT64_C(1700006400000)
#define BS_SPAN INT64_C(7200000) /* default window, ms */

extern const char *bs_cmd; /* subcommand, for messages */

void bs_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
/** Dies with the library's message unless rc is 0. */
void bs_check(int rc, const char *what);
void *bs_alloc(size_t n); /* calloc that dies */

/** Parses a common option at argv[*i] (advancing *i); 0 if not one. */
int bs_common_opt(bs_common *c, int argc, char **argv, int *i);
void bs_common_init(bs_common *c);

/** Options with defaults, a quiet log, the given tweaks applied. */
void bs_options(tss_store_options *o);
tss_store *bs_open(const char *dir, unsigned flags, const tss_store_options *o);

char *bs_make_tmp(const bs_common *c, const char *tag);
void bs_drop_tmp(const bs_common *c, char *dir);
void bs_rm_tree(const char *dir);
/** Bytes of regular files under dir/sub (sub may be NULL), and how many. */
uint64_t bs_dir_bytes(const char *dir, const char *sub, uint64_t *files);
/** Copies every regular file of directory src into dst (flat). */
void bs_copy_dir(const char *src, const char *dst);

/** /proc/self/io counters. */
typedef struct bs_io {
    uint64_t write_bytes, cancelled;
} bs_io;
void bs_io_read(bs_io *out);

/** Prints "  name  median (min..max) unit" of v[0..n) scaled by `scale`. */
void bs_print(const char *name, const double *v, int n, double scale,
              const char *unit);
/** Times since the epoch in store units (ms) of the local wall clock. */
int64_t bs_wall_ms(void);

/* ---- data laid out window by window ----------------------------------
 * A bench_synthetic set of npoints at 10 s is replayed once per window:
 * point j of series i in window k is at
 *     W0 + k * span + (t - base) + j * (interval - 10 s)
 * (t its time in the set, base bench_synthetic's), so the set's per-host
 * phase and late points are kept and a window's points stay inside it.
 * Values repeat from window to window; chunks are per window, so that
 * costs nothing in realism of the bytes. */
typedef struct bs_layout {
    const bench_dataset *d;
    int64_t interval; /* ms */
    int64_t w0, span; /* first window, span, ms */
} bs_layout;

static inline int64_t bs_time(const bs_layout *l, size_t i, size_t j, size_t k)
{
    const int64_t base = INT64_C(1700000000000);

    return l->w0 + (int64_t)k * l->span + (l->d->s[i].pts[j].t - base) +
           (int64_t)j * (l->interval - 10000);
}

/** Identifier "host/plugin-pinst/type-tinst" of series i into out. */
void bs_ident(const bench_dataset *d, size_t i, char *out, size_t size);

/** Which points of series i a verification expects: return 0 to skip. */
typedef int (*bs_keep_fn)(void *ctx, size_t i, int64_t t);

/**
 * Reads the whole store through tss_query_open/next/points (the dump path)
 * and compares it bit for bit with the layout's windows [0, nwin) of every
 * series, minus what keep() rejects (keep NULL: all). Dies at the first
 * difference. Returns the wall time in ns, without the comparison;
 * *points gets the points read.
 */
double bs_verify_dump(tss_store *s, const bs_layout *l, size_t nwin,
                      bs_keep_fn keep, void *ctx, uint64_t *points);
/** The same for the series the glob matches (tss_filter.series_glob). */
double bs_verify_glob(tss_store *s, const bs_layout *l, size_t nwin,
                      bs_keep_fn keep, void *ctx, const char *glob,
                      uint64_t *points);

int bench_coverage_main(int argc, char **argv);
int bench_snapshot_main(int argc, char **argv);
int bench_delete_main(int argc, char **argv);

#endif
