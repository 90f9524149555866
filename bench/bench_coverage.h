/*
 * bench_store coverage: what its two files share (bench_coverage.c: the
 * coverage plans, the gap rule, part B and main; bench_coverage_30d.c:
 * part A, the 30-day store).
 */
#ifndef TSS_BENCH_COVERAGE_H
#define TSS_BENCH_COVERAGE_H

#include <roaring/roaring.h>

#include "bench_store.h"
#include "coverage.h"
#include "tsstore/coverage.h"

#define BW INT64_C(10000)            /* bucket width, ms (the default) */
#define WB ((int64_t)(BS_SPAN / BW)) /* buckets per window: 720 */

typedef struct cov_opts {
    bs_common c;
    size_t series;
    int days, head_min;
    double decode_days;
    int no_a, no_b;
} cov_opts;

/* The coverage plan of one series, in buckets relative to W0. Present:
 * inside runs[], not in holes[], and for stride 6 (a 60 s series) only b
 * with (b - off) % 6 == 0. */
typedef struct brun {
    int64_t lo, hi; /* [lo, hi) */
} brun;

typedef struct plan {
    int stride, off;
    brun *runs;
    size_t nruns;
    int64_t *holes;
    size_t nholes;
    size_t rc, hc; /* cursors while walking windows in order */
} plan;

/** Fills p with series i's coverage over [0, nb) buckets (see the .c). */
void cov_make_plan(plan *p, size_t i, int64_t nb, uint64_t seed);
int cov_plan_has(const plan *p, int64_t b);
void cov_plans_free(plan *pl, size_t n);

/* Gaps by the rule of tsstore/coverage.h, written again. */
typedef struct gaps {
    int64_t bf, bt, tol, cur; /* absolute buckets */
    int64_t *g;               /* [from, to) pairs, buckets */
    size_t n, cap;
} gaps;

/** The gaps the plan gives over [0, nb) (nb may cut the plan short). */
void cov_plan_gaps(const plan *p, int64_t nb, gaps *x);
/** Dies unless the query's answer for series `name` is exactly x. */
void cov_same_gaps(const tss_coverage_series *cs, const gaps *x,
                   const char *name);

void cov_part_a(const cov_opts *o);

#endif
