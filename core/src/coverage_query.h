/*
 * Private to coverage queries: what coverage_query.c (the load, the
 * judge) and coverage_delete.c (what deletes in effect hide) share.
 */
#ifndef TSS_COVERAGE_QUERY_H
#define TSS_COVERAGE_QUERY_H

#include "tsstore/coverage.h"

#include "coverage.h"
#include "delset.h"
#include "series.h"
#include "store_internal.h"
#include "tombstone.h"

/* A segment with tombstones, read while the coverage loads. */
typedef struct tomb_seg {
    tss_seg_name sn;
    tss_tombstones t;
    bool orphans; /* holds entries in effect that no document stands for */
} tomb_seg;

typedef struct tss_cov_rolled {
    int64_t lo, hi, width; /* buckets [lo, hi]; window width, store units */
} tss_cov_rolled;

struct tss_coverage {
    tss_store *s;
    tss_filter f;
    char *glob, *ds;
    /* the series the filter can match: only those are loaded */
    tss_cov_select sel;
    uint8_t lo[TSS_KEY_MAX], hi[TSS_KEY_MAX];
    tss_covtable *t;
    /* the head's coverage of the selected series, read before the
     * segments, unioned into t after them; orphan tombstones ask it
     * whether the head still holds a point */
    tss_covtable *hcov;
    uint64_t head_gen;
    unsigned head_damaged; /* head snapshot files the load passed over */
    tss_delset del;
    tomb_seg *tombs;
    size_t ntombs;
    char **names; /* the segment listing the coverage was loaded against */
    size_t nnames;
    char **tnames; /* and the tombstone files it held */
    size_t ntnames;
    tss_range *ranges;
    size_t rcap;
    const tss_cov_entry **v;
    size_t n, pos;
    tss_cov_stats stats;
    uint8_t key[TSS_KEY_MAX];
    tss_cov_run *runs;
    size_t nruns, cap;
    tss_buf scratch; /* a changed bitmap, serialized to walk its runs */
    int64_t *dist;   /* bucket_spacing's distances */
    size_t dcap;
    /* the bucket ranges of rollup windows (wider than the span) in the
     * listing, sorted, one per window width and stretch: judged with the
     * spacing of a series' aggregates there, not its raw interval; and a
     * judge's tolerance per range (rtol[i], for the series at hand) */
    tss_cov_rolled *rolled;
    size_t nrolled;
    int64_t *rtol;
};

/* ---- coverage_delete.c -------------------------------------------------- */

/* Reads the tombstones of the listed segments that have them (c->tnames):
 * into c->tombs. Unreadable ones are logged and counted. TSS_ENOMEM. */
int tss_cov_read_tombstones(tss_coverage *c) TSS_WUR;

/* True if no document in c->del stands for tombstone entry `e` (an entry
 * in effect: its document is gone). */
bool tss_cov_orphan(const tss_coverage *c, const tss_tomb_entry *e);

/* Clears what orphan tombstone entries hide from c->t (the head is in it,
 * and in c->hcov). TSS_ENOMEM. */
int tss_cov_clear_orphans(tss_coverage *c) TSS_WUR;

/* Clears from entry `e` of c->t the buckets the documents' predicates
 * hide whole. TSS_ENOMEM, TSS_ECORRUPT. */
int tss_cov_clear_predicates(tss_coverage *c, const tss_cov_entry *e) TSS_WUR;

#endif /* TSS_COVERAGE_QUERY_H */
