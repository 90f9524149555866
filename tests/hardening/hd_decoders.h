/*
 * The decoders of the allocation-failure tests (test_alloc: the core's
 * seam; test_alloc_libs: the process's malloc, reaching yajl and
 * CRoaring), and the store they read: hd_build's windows, rolled up, a
 * delete made visible, a head of 10 minutes snapshotted -- raw and rollup
 * segments, sidecars, a table coverage snapshot, a head snapshot base and
 * log, tombstones, a mutation document, STORE.
 *
 * Each decoder returns 0 with everything read, TSS_EINVAL when it read
 * less than there is without an error, or the error of the call.
 */
#ifndef TSS_HD_DECODERS_H
#define TSS_HD_DECODERS_H

#include "hd_util.h"

#include "compact.h"
#include "segment.h"
#include "storage.h"

typedef struct hd_dec_fixture {
    char tpl[4096];
    tss_storage *st;
    tss_store_info info;
    char doc_id[37];
    uint8_t *meta_buf;
    size_t meta_len;
    ru_rows all_rows; /* every row, through the writer */
    tss_seg_name *segs;
    size_t nsegs;
} hd_dec_fixture;

extern hd_dec_fixture hd_dec;

/** Builds the store at `tpl` and fills hd_dec (asserts on failure). */
void hd_dec_setup(const char *tpl);
void hd_dec_teardown(void);

int hd_dec_meta(void);       /* tss_meta_decode of STORE (yajl) */
int hd_dec_wal(void);        /* tss_mut_read of the delete (yajl) */
int hd_dec_segments(void);   /* every segment, every chunk */
int hd_dec_sidecars(void);   /* every sidecar (CRoaring) */
int hd_dec_covtable(void);   /* the table coverage (CRoaring) */
int hd_dec_tombstones(void); /* every segment's tombstones */
int hd_dec_snapshot(void);   /* the head snapshot */
/* a reader's query of everything: also TSS_ENOMEM for files counted
 * unreadable (tss_query_errors) */
int hd_dec_query(void);
/* a reader's coverage of every series (CRoaring) */
int hd_dec_coverage(void);

#endif
