/*
 * The decoders of the allocation-failure tests and their store
 * (hd_decoders.h).
 */
#define _GNU_SOURCE
#include "hd_decoders.h"

#include <stdlib.h>
#include <string.h>

#include "coverage.h"
#include "meta.h"
#include "snapshot.h"
#include "tombstone.h"
#include "tsstore/coverage.h"
#include "wal.h"

hd_dec_fixture hd_dec;

void hd_dec_setup(const char *tpl)
{
    tss_store_options o;
    tss_delete_spec d = hd_delete_spec();
    tss_store *s;
    char path[4096];

    snprintf(hd_dec.tpl, sizeof(hd_dec.tpl), "%s", tpl);
    hd_build(tpl, NULL);
    hd_options(&o, NULL);
    s = ru_open(tpl, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_store_rollup(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_delete_create(s, &d, hd_dec.doc_id), 0);
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    hd_fill(s, NULL, HD_W_HEAD + 30 * RU_MIN, HD_W_HEAD + 40 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_info_get(s, &hd_dec.info);
    hd_rows(s, &hd_dec.all_rows);
    tss_store_close(s);
    assert_int_equal(tss_storage_open(&hd_dec.st, tpl, NULL, 0), 0);
    tt_join(path, sizeof(path), tpl, "STORE");
    assert_int_equal(tt_slurp(path, &hd_dec.meta_buf, &hd_dec.meta_len), 0);
    assert_int_equal(tss_list_segments(hd_dec.st, &hd_dec.segs, &hd_dec.nsegs),
                     0);
    assert_true(hd_dec.nsegs >= 3);
}

void hd_dec_teardown(void)
{
    tss_free(hd_dec.segs);
    free(hd_dec.meta_buf);
    ru_rows_free(&hd_dec.all_rows);
    tss_storage_close(hd_dec.st);
    memset(&hd_dec, 0, sizeof(hd_dec));
}

int hd_dec_meta(void)
{
    tss_store_info in;

    return tss_meta_decode(hd_dec.meta_buf, hd_dec.meta_len, "STORE", &in);
}

int hd_dec_wal(void)
{
    tss_mut m;
    int rc = tss_mut_read(hd_dec.st, hd_dec.doc_id, &m);

    if (rc == 0)
        tss_mut_free(&m);
    return rc;
}

int hd_dec_segments(void)
{
    tss_point *pts = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0; i < hd_dec.nsegs && rc == 0; i++) {
        char rel[192];
        tss_segment *seg;

        tss_seg_name_format(rel, sizeof(rel), &hd_dec.segs[i]);
        if ((rc = tss_segment_open(&seg, hd_dec.st, rel)) != 0)
            break;
        for (size_t e = 0; e < seg->nentries && rc == 0; e++) {
            size_t n = 0;

            rc = tss_segment_read_points(seg, e, &pts, &n, &cap);
        }
        tss_segment_close(seg);
    }
    tss_free(pts);
    return rc;
}

int hd_dec_sidecars(void)
{
    int rc = 0;

    for (size_t i = 0; i < hd_dec.nsegs && rc == 0; i++) {
        tss_sidecar sc;

        rc = tss_sidecar_read(
            hd_dec.st, hd_dec.segs[i].uuid,
            (uint64_t)((hd_dec.segs[i].end - hd_dec.segs[i].start) /
                       hd_dec.info.bucket_width),
            &sc);
        if (rc == 0)
            tss_sidecar_free(&sc);
    }
    return rc;
}

int hd_dec_covtable(void)
{
    tss_covtable *t;
    int rc =
        tss_covtable_load(&t, hd_dec.st, hd_dec.info.bucket_width, NULL, NULL);

    if (rc == 0)
        tss_covtable_free(t);
    return rc;
}

int hd_dec_tombstones(void)
{
    int rc = 0, found = 0;

    for (size_t i = 0; i < hd_dec.nsegs && rc == 0; i++) {
        char rel[192];
        tss_segment *seg;
        tss_tombstones t;

        tss_seg_name_format(rel, sizeof(rel), &hd_dec.segs[i]);
        if ((rc = tss_segment_open(&seg, hd_dec.st, rel)) != 0)
            break;
        rc = tss_tomb_read(hd_dec.st, seg, &t);
        if (rc == 0) {
            found += t.n > 0;
            tss_tomb_free(&t);
        }
        tss_segment_close(seg);
    }
    assert_true(rc != 0 || found >= 2);
    return rc;
}

int hd_dec_snapshot(void)
{
    tss_snap_view v;
    size_t points = 0;
    int rc = tss_snapshot_load(hd_dec.st, &hd_dec.info, NULL, NULL, false, &v);

    if (rc)
        return rc;
    for (size_t i = 0; i < v.n; i++)
        if (!v.items[i].dropped)
            points += v.items[i].enc.count + v.items[i].nooo;
    tss_snap_view_free(&v);
    /* the head holds 40 min of 3 series (the delete took some): an
     * allocation that failed must not make a smaller head look whole */
    return points >= 3 * 30 ? 0 : TSS_EINVAL;
}

/* A reader's query of everything: an error, files counted unreadable, or
 * every row. */
int hd_dec_query(void)
{
    tss_store_options o;
    tss_filter f;
    tss_series_info in;
    tss_query *q;
    tss_store *s;
    size_t rows = 0;
    int rc;

    hd_options(&o, NULL);
    if ((rc = tss_store_open(&s, hd_dec.tpl, 0, &o)) != 0)
        return rc;
    memset(&f, 0, sizeof(f));
    f.resolution = TSS_RES_AUTO;
    if ((rc = tss_query_open(&q, s, &f)) == 0) {
        while ((rc = tss_query_next(q, &in)) == 1) {
            const tss_point *pts;
            size_t n;

            if ((rc = tss_query_points(q, &pts, &n)) != 0)
                break;
            rows += n;
        }
        if (rc == 0 && tss_query_errors(q) > 0)
            rc = TSS_ENOMEM; /* reported as unreadable files */
        else if (rc == 0 && rows != hd_dec.all_rows.n)
            rc = TSS_EINVAL; /* less than there is, and no word of it */
        tss_query_close(q);
    }
    tss_store_close(s);
    return rc;
}

int hd_dec_coverage(void)
{
    tss_store_options o;
    tss_coverage_series cs;
    tss_coverage *c;
    tss_filter f;
    tss_store *s;
    size_t series = 0;
    int rc;

    hd_options(&o, NULL);
    if ((rc = tss_store_open(&s, hd_dec.tpl, 0, &o)) != 0)
        return rc;
    memset(&f, 0, sizeof(f));
    f.has_from = f.has_to = 1;
    f.from = HD_W_OLD;
    f.to = HD_W_HEAD + RU_SPAN - 1;
    if ((rc = tss_coverage_open(&c, s, &f)) == 0) {
        while ((rc = tss_coverage_next(c, &cs)) == 1)
            series++;
        if (rc == 0 && tss_coverage_errors(c) > 0)
            rc = TSS_ENOMEM;
        else if (rc == 0 && series != HD_NSERIES)
            rc = TSS_EINVAL;
        tss_coverage_close(c);
    }
    tss_store_close(s);
    return rc;
}
