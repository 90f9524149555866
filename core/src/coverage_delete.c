/*
 * Coverage queries, what deletes in effect hide, without decoding a chunk
 * (docs/format.md, "Coverage and deletes"): a bucket of a series is
 * cleared when it lies wholly inside a range a delete in effect removes
 * from that series; a bucket a range covers in part keeps its coverage (it
 * may hold points outside the range) until compaction rebuilds the
 * sidecars. A delete document's predicate applies to every source of the
 * series, so its buckets are cleared from the union. A tombstone entry
 * stands for its document's predicate when the document is in the set;
 * one whose document is gone (removed or unreadable) applies to its own
 * segment only: its buckets are cleared unless another visible segment of
 * the window, or the head, still has a point there.
 */
#define _GNU_SOURCE
#include "coverage_query.h"

#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "coverage_internal.h"

#define floor_div tss_cov_floor_div

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* Reads the tombstones of every listed segment that has them. Unreadable
 * ones are logged and counted: the documents' predicates still hide what
 * they deleted. */
int tss_cov_read_tombstones(tss_coverage *c)
{
    tss_store *s = c->s;
    char **tn = c->tnames;
    size_t nt = c->ntnames;
    int rc = 0;

    if (nt == 0)
        goto out;
    if (!(c->tombs = tss_calloc(nt, sizeof(*c->tombs)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->nnames; i++) {
        char want[64], rel[512];
        tss_seg_name sn;
        tss_segment *seg;
        tomb_seg *ts = &c->tombs[c->ntombs];

        if (tss_seg_name_parse(c->names[i], &sn) != 0) {
            tss_error_clear();
            continue;
        }
        uuid_unparse_lower(sn.uuid, want);
        strcat(want, ".tombstones");
        if (!bsearch(want, tn, nt, sizeof(*tn), cmp_name))
            continue;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", c->names[i]);
        rc = tss_segment_open(&seg, s->st, rel);
        if (rc == 0) {
            rc = tss_tomb_read(s->st, seg, &ts->t);
            tss_segment_close(seg);
        }
        if (rc == TSS_ENOMEM)
            goto out;
        if (rc == TSS_ENOTFOUND) { /* went meanwhile: the listing check */
            rc = 0;
            continue;
        }
        if (rc) {
            tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR, "%s", tss_error_last());
            c->stats.errors++;
            rc = 0;
            continue;
        }
        ts->sn = sn;
        if (ts->t.n == 0) {
            tss_tomb_free(&ts->t);
            continue;
        }
        if (++c->ntombs == nt)
            break;
    }
out:
    return rc;
}

/* An entry in effect that no document in the set stands for. */
bool tss_cov_orphan(const tss_coverage *c, const tss_tomb_entry *e)
{
    return tss_delset_find(&c->del, e->mutation) == NULL;
}

/* Window-relative sidecar bucket v of a segment starting at `start`, as a
 * table bitmap value; -1 outside the table's range. */
static int64_t table_value(int64_t start, int64_t w, uint32_t v)
{
    return tss_cov_bucket_value(floor_div(start, w) + (int64_t)v);
}

/* Adds to `bm` the table values of the buckets wholly inside [from, to]
 * that also lie in [lo, hi] (buckets). */
static void add_whole(roaring_bitmap_t *bm, int64_t from, int64_t to, int64_t w,
                      int64_t lo, int64_t hi)
{
    const int64_t top = TSS_COV_BASE_BUCKET + (int64_t)UINT32_MAX;
    tss_range r = {from, to};
    int64_t f, l;

    if (!tss_range_whole_buckets(&r, w, &f, &l))
        return;
    if (lo < TSS_COV_BASE_BUCKET)
        lo = TSS_COV_BASE_BUCKET;
    if (hi > top)
        hi = top;
    if (f < lo)
        f = lo;
    if (l > hi)
        l = hi;
    if (f <= l)
        roaring_bitmap_add_range_closed(bm, (uint32_t)(f - TSS_COV_BASE_BUCKET),
                                        (uint32_t)(l - TSS_COV_BASE_BUCKET));
}

/* The buckets segment ts's orphan entries for `key` clear, in its window. */
static void orphan_buckets(const tss_coverage *c, const tomb_seg *ts,
                           const uint8_t *key, size_t key_len,
                           roaring_bitmap_t *out)
{
    int64_t w = c->s->info.bucket_width;

    for (size_t i = 0; i < ts->t.n; i++) {
        const tss_tomb_entry *e = &ts->t.entries[i];

        if (e->key_len == key_len && memcmp(e->key, key, key_len) == 0 &&
            tss_cov_orphan(c, e))
            add_whole(out, e->from, e->to, w, floor_div(ts->sn.start, w),
                      floor_div(ts->sn.end, w) - 1);
    }
}

/* A segment overlapping a window with orphan tombstones. */
typedef struct near_seg {
    tss_seg_name sn;
    uint8_t (*sup)[16];
    size_t nsup;
    bool readable, visible;
    int sidecar; /* 0 not read yet, 1 read, -1 unreadable */
    tss_sidecar sc;
    const tomb_seg *tomb; /* its tombstones, if any */
} near_seg;

static bool windows_overlap(const tss_seg_name *a, const tss_seg_name *b)
{
    return a->start < b->end && b->start < a->end;
}

static bool window_within(const tss_seg_name *in, const tss_seg_name *out)
{
    return out->start <= in->start && in->end <= out->end;
}

/* Opens the segments overlapping the windows of orphan-bearing tombstoned
 * segments (their tables, for the supersede lists: no chunk) and marks
 * which are visible. */
static int near_segments(tss_coverage *c, near_seg **out, size_t *nout)
{
    near_seg *v;
    size_t n = 0;

    *out = NULL;
    *nout = 0;
    if (!(v = tss_calloc(c->nnames ? c->nnames : 1, sizeof(*v))))
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->nnames; i++) {
        char rel[512];
        tss_seg_name sn;
        tss_segment *seg;
        bool near = false;

        if (tss_seg_name_parse(c->names[i], &sn) != 0) {
            tss_error_clear();
            continue;
        }
        for (size_t k = 0; k < c->ntombs && !near; k++)
            near = c->tombs[k].orphans && windows_overlap(&sn, &c->tombs[k].sn);
        if (!near)
            continue;
        v[n].sn = sn;
        for (size_t k = 0; k < c->ntombs; k++)
            if (memcmp(c->tombs[k].sn.uuid, sn.uuid, 16) == 0)
                v[n].tomb = &c->tombs[k];
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", c->names[i]);
        if (tss_segment_open(&seg, c->s->st, rel) == 0) {
            v[n].readable = true;
            if (seg->nsupersedes &&
                (v[n].sup = tss_malloc(seg->nsupersedes * 16)) != NULL) {
                memcpy(v[n].sup, seg->supersedes, seg->nsupersedes * 16);
                v[n].nsup = seg->nsupersedes;
            }
            tss_segment_close(seg);
        } else {
            tss_error_clear(); /* readers skip it: no coverage of its own */
        }
        n++;
    }
    /* a segment another one whose window holds its own supersedes is
     * invisible (the reader's rule, query.c) */
    for (size_t i = 0; i < n; i++) {
        v[i].visible = v[i].readable;
        for (size_t j = 0; j < n && v[i].visible; j++)
            for (size_t k = 0; k < v[j].nsup && v[i].visible; k++)
                if (window_within(&v[i].sn, &v[j].sn) &&
                    memcmp(v[j].sup[k], v[i].sn.uuid, 16) == 0)
                    v[i].visible = false;
    }
    *out = v;
    *nout = n;
    return 0;
}

static void near_free(near_seg *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tss_free(v[i].sup);
        if (v[i].sidecar == 1)
            tss_sidecar_free(&v[i].sc);
    }
    tss_free(v);
}

/* Adds to `keep` the buckets of `d` where segment o still has a point of
 * the series (its sidecar less its own orphan tombstones). False when its
 * sidecar cannot be read: then nothing is known to be gone. */
static bool still_held(tss_coverage *c, near_seg *o, const uint8_t *key,
                       size_t key_len, const roaring_bitmap_t *d,
                       roaring_bitmap_t *keep)
{
    int64_t w = c->s->info.bucket_width;
    roaring_bitmap_t *held;
    const tss_cov_entry *e = NULL;

    if (o->sidecar == 0) {
        /* checked against the segment and STORE, as every other read */
        int rc = tss_sidecar_read_seg(c->s->st, &o->sn, w, NULL, &o->sc);

        o->sidecar = rc == 0 ? 1 : -1;
        if (rc)
            tss_error_clear();
    }
    if (o->sidecar < 0)
        return false;
    for (size_t i = 0; i < o->sc.n && !e; i++)
        if (o->sc.entries[i].key_len == key_len &&
            memcmp(o->sc.entries[i].key, key, key_len) == 0)
            e = &o->sc.entries[i];
    if (!e)
        return true;
    if (!(held = roaring_bitmap_create()))
        return false;
    {
        roaring_uint32_iterator_t it;

        roaring_init_iterator(e->bm, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            int64_t tv = table_value(o->sn.start, w, it.current_value);

            if (tv >= 0 && roaring_bitmap_contains(d, (uint32_t)tv))
                roaring_bitmap_add(held, (uint32_t)tv);
        }
    }
    if (o->tomb && o->tomb->orphans) {
        roaring_bitmap_t *gone = roaring_bitmap_create();

        if (!gone) {
            roaring_bitmap_free(held);
            return false;
        }
        orphan_buckets(c, o->tomb, key, key_len, gone);
        roaring_bitmap_andnot_inplace(held, gone);
        roaring_bitmap_free(gone);
    }
    roaring_bitmap_or_inplace(keep, held);
    roaring_bitmap_free(held);
    return true;
}

/* One series of one tombstoned segment: clears the buckets its orphan
 * entries empty, unless another source still has a point there. */
static int clear_orphan_key(tss_coverage *c, near_seg *near, size_t nnear,
                            size_t self, const uint8_t *key, size_t key_len)
{
    const tss_cov_entry *e = tss_covtable_get(c->t, key, key_len);
    roaring_bitmap_t *d, *keep, *bm;
    bool known = true;
    int rc = 0;

    if (!e)
        return 0;
    if (!(bm = tss_covtable_bitmap(c->t, e)))
        return tss_error_last_code();
    d = roaring_bitmap_create();
    keep = roaring_bitmap_create();
    if (!d || !keep) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    orphan_buckets(c, near[self].tomb, key, key_len, d);
    for (size_t j = 0; j < nnear && known && !roaring_bitmap_is_empty(d); j++)
        if (j != self && near[j].visible &&
            windows_overlap(&near[j].sn, &near[self].sn))
            known = still_held(c, &near[j], key, key_len, d, keep);
    if (known) {
        const tss_cov_entry *h = tss_covtable_get(c->hcov, key, key_len);

        if (h)
            roaring_bitmap_or_inplace(keep, h->bm);
        roaring_bitmap_andnot_inplace(d, keep);
        roaring_bitmap_andnot_inplace(bm, d);
    }
out:
    roaring_bitmap_free(d);
    roaring_bitmap_free(keep);
    return rc;
}

/* Tombstone entries whose document is gone apply to their own segment. */
int tss_cov_clear_orphans(tss_coverage *c)
{
    near_seg *near;
    size_t nnear;
    int rc;

    if ((rc = near_segments(c, &near, &nnear)) != 0)
        return rc;
    for (size_t i = 0; i < nnear && rc == 0; i++) {
        const tomb_seg *ts = near[i].tomb;

        if (!ts || !ts->orphans || !near[i].visible)
            continue;
        for (size_t k = 0; k < ts->t.n && rc == 0; k++) {
            const tss_tomb_entry *e = &ts->t.entries[k];
            bool seen = false;

            /* each key once */
            for (size_t p = 0; p < k && !seen; p++)
                seen = ts->t.entries[p].key_len == e->key_len &&
                       memcmp(ts->t.entries[p].key, e->key, e->key_len) == 0;
            if (!seen && tss_cov_orphan(c, e))
                rc = clear_orphan_key(c, near, nnear, i, e->key, e->key_len);
        }
    }
    near_free(near, nnear);
    return rc;
}

/* A document's predicate hides the series' points in its range from every
 * source: the buckets wholly inside go from the union. */
int tss_cov_clear_predicates(tss_coverage *c, const tss_cov_entry *e)
{
    roaring_bitmap_t *bm;
    size_t nr = 0;
    int rc;

    if (c->del.active == 0)
        return 0;
    if ((rc = tss_delset_ranges(&c->del, NULL, e->key, e->key_len, &c->ranges,
                                &nr, &c->rcap)) != 0)
        return rc;
    if (nr && !(bm = tss_covtable_bitmap(c->t, e)))
        return tss_error_last_code();
    for (size_t i = 0; i < nr; i++) {
        roaring_bitmap_t *gone = roaring_bitmap_create();

        if (!gone)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        add_whole(gone, c->ranges[i].from, c->ranges[i].to,
                  c->s->info.bucket_width, INT64_MIN, INT64_MAX);
        roaring_bitmap_andnot_inplace(bm, gone);
        roaring_bitmap_free(gone);
    }
    return 0;
}
