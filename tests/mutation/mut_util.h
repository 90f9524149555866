/*
 * Helpers of the delete-path tests: a fixed set of series, a store layout
 * with sealed windows and an unsealed head, an independent model of what
 * a store must hold after deletes, and direct reads of segment files.
 *
 * Store settings: milliseconds, 60 s segment span, 10 s buckets, no
 * grace. Windows start at MU_T0 + k * MU_SPAN; points are MU_STEP apart.
 */
#ifndef TSS_MUT_UTIL_H
#define TSS_MUT_UTIL_H

#include "test_util.h"

#include "tsstore/mutation.h"
#include "tsstore/query.h"
#include "tsstore/store.h"

#define MU_SPAN INT64_C(60000)
#define MU_STEP INT64_C(5000)
#define MU_BUCKET INT64_C(10000)
/* aligned to the span (and so to the buckets) */
#define MU_T0 INT64_C(1699999980000)
#define MU_WIN(k) (MU_T0 + (int64_t)(k)*MU_SPAN)

/* The series the tests write, by index. */
enum {
    MU_H0_CPU,   /* h0/cpu-0/gauge value (gauge) */
    MU_H1_CPU0,  /* h1/cpu-0/gauge value (gauge) */
    MU_H1_CPU1,  /* h1/cpu-1/gauge value (gauge) */
    MU_H0_IF_RX, /* h0/if/if_octets-eth0 rx (derive) */
    MU_H0_IF_TX, /* h0/if/if_octets-eth0 tx (derive) */
    MU_NSERIES
};

extern const tss_series_id mu_series[MU_NSERIES];
extern const int mu_kind[MU_NSERIES];

/** Options: ms, 60 s span, 10 s buckets, grace 0, compaction after
 * `compact_after` tombstoned segments, I/O through `io` (NULL: default). */
void mu_options(tss_store_options *o, const tss_io_ops *io,
                uint32_t compact_after);

/** Opens or fails the test with the error message. */
tss_store *mu_open(const char *dir, unsigned flags, const tss_store_options *o);

/** Appends one point to the writer and records it in the model. */
void mu_put(tss_store *s, tt_model *m, unsigned series, int64_t t,
            uint64_t bits);

/** Appends points every MU_STEP in [from, to) to every series; values
 * derived from (series, t, salt) so a rewrite differs. */
void mu_fill(tss_store *s, tt_model *m, int64_t from, int64_t to,
             unsigned salt);

/** A deleted range of some series, for the model. */
typedef struct mu_del {
    unsigned long series_mask; /* bit i: series i */
    int64_t from, to;          /* inclusive */
} mu_del;

/**
 * What series `series` must hold: the model's points after `upto`
 * arrivals (last arrival wins), without those the deletes cover. *out is
 * malloc()ed; returns the count.
 */
size_t mu_expect(const tt_model *m, size_t upto, unsigned series,
                 const mu_del *dels, size_t ndels, tss_point **out);

/** Points of `series` in the model that deletes cover (after `upto`). */
size_t mu_deleted_count(const tt_model *m, size_t upto, const mu_del *dels,
                        size_t ndels);

/** Index of the series a query returned, or -1. */
int mu_series_index(const tt_series *e);

/**
 * Queries the whole store through `s` and fails the test unless every
 * series holds exactly mu_expect(...) bit for bit (a series with nothing
 * left must be absent).
 */
void mu_assert_store(const char *what, tss_store *s, const tt_model *m,
                     size_t upto, const mu_del *dels, size_t ndels);

/** The same through a fresh reader handle on `dir`. */
void mu_assert_reader(const char *what, const char *dir, const tt_model *m,
                      size_t upto, const mu_del *dels, size_t ndels);

/**
 * Reads every segment file of the store directly (tss_segment_open and
 * read_points, no query, no delete applied) and returns, per series
 * index, the points found, concatenated over segments (*counts[i] points
 * in pts[i], malloc()ed). Fails on a series not in mu_series. Returns the
 * number of segment files.
 */
size_t mu_segment_points(const char *dir, tss_point *pts[MU_NSERIES],
                         size_t counts[MU_NSERIES]);
void mu_segment_points_free(tss_point *pts[MU_NSERIES]);

/** tss_verify; fails the test listing the findings unless 0 problems. */
void mu_assert_verify_clean(const char *what, tss_store *s);

/** Number of problems tss_verify reports (notes ignored). */
uint64_t mu_verify_problems(tss_store *s);

/** Files in `dir`/`sub` whose name ends with `suffix`. */
size_t mu_count_suffix(const char *dir, const char *sub, const char *suffix);

/** A delete spec; pass NULL ds for every data source. */
tss_delete_spec mu_spec(const char *glob, const char *ds, int64_t from,
                        int64_t to);

/** Creates a delete document or fails the test; id_out[37]. */
void mu_delete_create(tss_store *s, const tss_delete_spec *spec,
                      char id_out[37]);

/** tss_mutation_state or fail. */
int mu_state(tss_store *s, const char *id);

/**
 * Does the query through `s` show the store without (0) or with (1) the
 * delete `del`? Fails the test on anything else: a half delete, a lost or
 * doubled point.
 */
int mu_which_view(const char *what, tss_store *s, const tt_model *m,
                  const mu_del *del);

/** Points `del` covers that the segment files still hold. */
size_t mu_segments_hold_deleted(const char *dir, const mu_del *del);

#endif
