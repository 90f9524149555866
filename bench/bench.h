/*
 * bench_core's shared types: options, the append plan, opened segments,
 * and the figures of one data set. bench_core.c measures, bench_analysis.c
 * takes the bytes and the append path apart, bench_report.c prints.
 */
#ifndef TSS_BENCH_H
#define TSS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "tsstore/store.h"

#include "bench_data.h"
#include "segment.h"
#include "storage.h"

#define MAX_RUNS 101
#define NGROUPS 64
#define NSCHEMES 5 /* timestamp encodings compared by the breakdown */

typedef struct opts {
    const char *data, *types, *tmpdir;
    int real, synthetic, runs, threads, json, breakdown, keep;
    size_t series, points;
    uint64_t seed;
} opts;

/* One append: which series, which point. Built before the clock starts,
 * so that the timed loop reads its input sequentially. */
typedef struct step {
    uint32_t series;
    tss_point p;
} step;

typedef struct appender {
    tss_store *s;
    const bench_dataset *d;
    step *steps;
    size_t n;
} appender;

/* A store's segments, opened, with their images in memory. */
typedef struct segset {
    tss_storage *st;
    tss_segment **seg;
    uint8_t **img;
    size_t n;
} segset;

/* Where the bytes of a store's segments go. */
typedef struct split {
    uint64_t files, file_bytes, chunk_bytes, chunks;
    uint64_t chunk_hdr, ts_bytes, val_bytes, ts_bits;
    uint64_t store_bytes; /* every file in the store directory */
} split;

/* Per-group (collectd type, synthetic shape) figures for the breakdown. */
typedef struct group {
    const char *name;
    int kind;
    uint64_t series, points, hdr, ts_bits, ts_bytes, val_bytes;
    uint64_t modes[3], scaled; /* chunks per value mode; gauges scaled */
} group;

typedef struct result {
    const bench_dataset *d;
    double append1[MAX_RUNS], appendn[MAX_RUNS], seal[MAX_RUNS];
    double query[MAX_RUNS], codec[MAX_RUNS]; /* ns per point */
    /* breakdown: key encode + hash, head append, encoder append alone */
    double key[MAX_RUNS], head[MAX_RUNS], enc[MAX_RUNS];
    uint64_t head_bytes, segments;
    split sp;
    group g[NGROUPS];
    size_t ng;
    uint64_t ts_class[6];       /* timestamp delta-of-delta classes */
    double ts_scheme[NSCHEMES]; /* timestamp bits per point, per scheme */
} result;

extern volatile uint64_t bench_sink; /* keeps timed loops from vanishing */
extern const char *const bench_scheme_names[NSCHEMES];

void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
/** Dies with the library's message unless rc is 0. */
void bench_check(int rc, const char *what);
double bench_now_ns(void);
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

/** Fills r->sp, r->g and r->ts_class from the segments of one store. */
void bench_measure_bytes(result *r, const segset *ss);
/** Timestamp bits per point under other encodings (r->ts_scheme). */
void bench_ts_schemes(result *r);
/** Times key encoding, the head and the encoder alone over the plan of a
 * single-threaded append; fills r->key/head/enc[run]. */
void bench_append_parts(result *r, const appender *a, int run);

void bench_print_text(const result *rs, size_t nr, const opts *o);
void bench_print_json(const result *rs, size_t nr, const opts *o);

#endif
