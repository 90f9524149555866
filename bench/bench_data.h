/*
 * Data sets for the core benchmark: the real collectd csv data and a
 * synthetic, seeded data set generated in-process. Every series holds its
 * points sorted by strictly increasing time, as they are expected to read
 * back from the store.
 */
#ifndef TSS_BENCH_DATA_H
#define TSS_BENCH_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "tsstore/series.h"

typedef struct bench_series {
    tss_series_id id; /* strings point into `strs` */
    char *strs;
    int kind;
    const char *group; /* for breakdowns: collectd type or synthetic shape */
    uint8_t *key;      /* canonical key (series.h); the sort order */
    size_t key_len;
    tss_point *pts;
    size_t n, cap;
} bench_series;

typedef struct bench_dataset {
    const char *name;
    bench_series *s;
    size_t n, cap;
    uint64_t points;
    size_t files; /* csv files read (real data only) */
} bench_dataset;

/**
 * Loads every `<host>/<plugin>[-pinst]/<type>[-tinst]-YYYY-MM-DD` csv file
 * under `dir` (any depth), kinds from `typesdb`. Returns 0, or -1 after
 * printing what is wrong to stderr.
 */
int bench_load_collectd(bench_dataset *d, const char *dir, const char *typesdb);

/** Generates `nseries` × `npoints` points at a 10 s interval; see the .c
 * file for the shapes. Deterministic for a given seed. */
int bench_synthetic(bench_dataset *d, size_t nseries, size_t npoints,
                    uint64_t seed);

/** Index of the series with key bytes `key`, or -1. The set is sorted. */
long bench_find(const bench_dataset *d, const uint8_t *key, size_t len);

void bench_dataset_free(bench_dataset *d);

#endif
