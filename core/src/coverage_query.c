/*
 * Coverage queries: covered ranges and gaps per series, from the table
 * snapshot and sidecars (see tsstore/coverage.h for the gap rule), less
 * what deletes in effect hide.
 *
 * Deletes, without decoding a chunk (docs/format.md, "Coverage and
 * deletes"): a bucket of a series is cleared when it lies wholly inside a
 * range a delete in effect removes from that series; a bucket a range
 * covers in part keeps its coverage (it may hold points outside the range)
 * until compaction rebuilds the sidecars. A delete document's predicate
 * applies to every source of the series, so its buckets are cleared from
 * the union. A tombstone entry stands for its document's predicate when
 * the document is in the set; one whose document is gone (removed or
 * unreadable) applies to its own segment only: its buckets are cleared
 * unless another visible segment of the window, or the head, still has a
 * point there.
 */
#define _GNU_SOURCE
#include "tsstore/coverage.h"

#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "coverage.h"
#include "delset.h"
#include "series.h"
#include "snapshot.h"
#include "store_internal.h"
#include "tombstone.h"

/* A segment with tombstones, read while the coverage loads. */
typedef struct tomb_seg {
    tss_seg_name sn;
    tss_tombstones t;
    bool orphans; /* holds entries in effect that no document stands for */
} tomb_seg;

struct tss_coverage {
    tss_store *s;
    tss_filter f;
    char *glob, *ds;
    tss_covtable *t;
    tss_snap_view head;
    tss_covtable *hcov; /* the head's alone, when orphan tombstones need it */
    tss_delset del;
    tomb_seg *tombs;
    size_t ntombs;
    char **names; /* the segment listing the coverage was loaded against */
    size_t nnames;
    tss_range *ranges;
    size_t rcap;
    const tss_cov_entry **v;
    size_t n, pos;
    tss_cov_stats stats;
    uint8_t key[TSS_KEY_MAX];
    tss_cov_run *runs;
    size_t nruns, cap;
};

static int cmp_entries(const void *a, const void *b)
{
    const tss_cov_entry *x = *(const tss_cov_entry *const *)a;
    const tss_cov_entry *y = *(const tss_cov_entry *const *)b;

    return tss_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The head snapshot is loaded before the segment listing (see query.c)
 * and unioned in after: coverage is segments plus head. */
static int add_head(tss_coverage *c)
{
    return tss_snapshot_load(c->s->st, &c->s->info, c->s->log, c->s->log_ctx,
                             false, &c->head);
}

static int merge_head(tss_coverage *c)
{
    tss_point *pts = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0; i < c->head.n && rc == 0; i++) {
        const tss_snap_item *it = &c->head.items[i];
        size_t n = 0;

        if (it->dropped)
            continue;
        rc = tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, &n, &cap);
        if (rc == 0)
            rc = tss_covtable_add_points(c->t, it->key, it->key_len, pts, n);
        if (rc == 0 && c->hcov)
            rc = tss_covtable_add_points(c->hcov, it->key, it->key_len, pts, n);
    }
    tss_free(pts);
    tss_snap_view_free(&c->head);
    return rc;
}

/* Drops what a load read, to load again (or to close). */
static void unload(tss_coverage *c)
{
    tss_covtable_free(c->t);
    tss_covtable_free(c->hcov);
    c->t = c->hcov = NULL;
    tss_snap_view_free(&c->head);
    tss_delset_free(&c->del);
    for (size_t i = 0; i < c->ntombs; i++)
        tss_tomb_free(&c->tombs[i].t);
    tss_free(c->tombs);
    c->tombs = NULL;
    c->ntombs = 0;
    tss_storage_names_free(c->names, c->nnames);
    c->names = NULL;
    c->nnames = 0;
    memset(&c->stats, 0, sizeof(c->stats));
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* Reads the tombstones of every listed segment that has them. Unreadable
 * ones are logged and counted: the documents' predicates still hide what
 * they deleted. */
static int read_tombstones(tss_coverage *c)
{
    tss_store *s = c->s;
    char **tn = NULL;
    size_t nt = 0;
    int rc;

    if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".tombstones", &tn,
                               &nt)) != 0 ||
        nt == 0)
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
    tss_storage_names_free(tn, nt);
    return rc;
}
/* An entry in effect that no document in the set stands for. */
static bool orphan(const tss_coverage *c, const tss_tomb_entry *e)
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
            orphan(c, e))
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
        int rc =
            tss_sidecar_read(c->s->st, o->sn.uuid,
                             (uint64_t)((o->sn.end - o->sn.start) / w), &o->sc);

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
    roaring_bitmap_t *d, *keep;
    bool known = true;
    int rc = 0;

    if (!e)
        return 0;
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
    if (known && c->hcov) {
        const tss_cov_entry *h = tss_covtable_get(c->hcov, key, key_len);

        if (h)
            roaring_bitmap_or_inplace(keep, h->bm);
    }
    if (known) {
        roaring_bitmap_andnot_inplace(d, keep);
        roaring_bitmap_andnot_inplace(e->bm, d);
    }
out:
    roaring_bitmap_free(d);
    roaring_bitmap_free(keep);
    return rc;
}

/* Tombstone entries whose document is gone apply to their own segment. */
static int clear_orphans(tss_coverage *c)
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
            if (!seen && orphan(c, e))
                rc = clear_orphan_key(c, near, nnear, i, e->key, e->key_len);
        }
    }
    near_free(near, nnear);
    return rc;
}

/* A document's predicate hides the series' points in its range from every
 * source: the buckets wholly inside go from the union. */
static int clear_predicates(tss_coverage *c, const tss_cov_entry *e)
{
    size_t nr = 0;
    int rc;

    if (c->del.active == 0)
        return 0;
    if ((rc = tss_delset_ranges(&c->del, NULL, e->key, e->key_len, &c->ranges,
                                &nr, &c->rcap)) != 0)
        return rc;
    for (size_t i = 0; i < nr; i++) {
        roaring_bitmap_t *gone = roaring_bitmap_create();

        if (!gone)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        add_whole(gone, c->ranges[i].from, c->ranges[i].to,
                  c->s->info.bucket_width, INT64_MIN, INT64_MAX);
        roaring_bitmap_andnot_inplace(e->bm, gone);
        roaring_bitmap_free(gone);
    }
    return 0;
}

static bool same_listing(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

/*
 * Loads head, segment coverage, tombstones and documents, in the order
 * queries load them (query.c): the head snapshot first, the documents
 * last, so whatever effect of a delete this load saw, it also sees the
 * document. A delete that completed meanwhile (compaction removed its
 * targets, the head was rewritten) can have left the coverage loaded
 * before it and lost its document: when the segments listed or the
 * head's generation changed during the load, load again.
 */
static int load(tss_coverage *c)
{
    tss_store *s = c->s;
    int rc, attempt = 0;

again:
    if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg", &c->names,
                               &c->nnames)) != 0 ||
        (rc = add_head(c)) != 0 ||
        (rc = tss_cov_collect(s, false, false, &c->t, &c->stats)) != 0 ||
        (rc = read_tombstones(c)) != 0 ||
        (rc = tss_delset_load(s->st, s->log, s->log_ctx, &c->del)) != 0)
        return rc;
    for (size_t i = 0; i < c->ntombs; i++) {
        if ((rc = tss_delset_resolve(s->st, &c->del, &c->tombs[i].t)) != 0)
            return rc;
    }
    if (attempt++ < 16) {
        char **now = NULL;
        size_t nnow = 0;
        bool same;

        if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg", &now,
                                   &nnow)) != 0)
            return rc;
        same = same_listing(c->names, c->nnames, now, nnow) &&
               tss_snapshot_newest(s->st) <= c->head.gen;
        tss_storage_names_free(now, nnow);
        if (!same) {
            unload(c);
            goto again;
        }
    }
    for (size_t i = 0; i < c->ntombs; i++)
        for (size_t k = 0; k < c->tombs[i].t.n && !c->tombs[i].orphans; k++)
            c->tombs[i].orphans = orphan(c, &c->tombs[i].t.entries[k]);
    for (size_t i = 0; i < c->ntombs && !c->hcov; i++)
        if (c->tombs[i].orphans &&
            (rc = tss_covtable_new(&c->hcov, s->info.bucket_width)) != 0)
            return rc;
    if ((rc = merge_head(c)) != 0)
        return rc;
    return c->hcov ? clear_orphans(c) : 0;
}

int tss_coverage_open(tss_coverage **out, tss_store *s, const tss_filter *f)
{
    tss_coverage *c;
    size_t cap = 0;
    int rc;

    *out = NULL;
    c = tss_calloc(1, sizeof(*c));
    if (!c)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    c->s = s;
    if (f)
        c->f = *f;
    if ((c->f.series_glob && !(c->glob = tss_strdup(c->f.series_glob))) ||
        (c->f.ds && !(c->ds = tss_strdup(c->f.ds)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto fail;
    }
    c->f.series_glob = c->glob;
    c->f.ds = c->ds;
    if (c->f.has_from && c->f.has_to && c->f.from > c->f.to) {
        rc = tss_error_set(TSS_EINVAL, "the range ends before it starts");
        goto fail;
    }
    if ((rc = load(c)) != 0)
        goto fail;
    for (const tss_cov_entry *e = tss_covtable_iter(c->t, NULL); e;
         e = tss_covtable_iter(c->t, e)) {
        tss_key_view kv;

        memcpy(c->key, e->key, e->key_len);
        if (tss_key_decode(c->key, e->key_len, &kv) != 0 ||
            !tss_filter_match(&c->f, &kv.id))
            continue;
        if ((rc = clear_predicates(c, e)) != 0)
            goto fail;
        /* every point deleted: gone, as after compaction */
        if (roaring_bitmap_is_empty(e->bm))
            continue;
        if (c->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            const tss_cov_entry **nv = tss_realloc(c->v, nc * sizeof(*nv));

            if (!nv) {
                rc = tss_error_set(TSS_ENOMEM, "out of memory");
                goto fail;
            }
            c->v = nv;
            cap = nc;
        }
        c->v[c->n++] = e;
    }
    if (c->n > 1)
        qsort(c->v, c->n, sizeof(*c->v), cmp_entries);
    *out = c;
    return 0;
fail:
    tss_coverage_close(c);
    return rc;
}

void tss_coverage_close(tss_coverage *c)
{
    if (!c)
        return;
    unload(c);
    tss_free(c->ranges);
    tss_free(c->v);
    tss_free(c->runs);
    tss_free(c->glob);
    tss_free(c->ds);
    tss_free(c);
}

uint64_t tss_coverage_segments_decoded(const tss_coverage *c)
{
    return c->stats.decoded;
}

uint64_t tss_coverage_errors(const tss_coverage *c)
{
    return c->stats.errors;
}

static int push_run(tss_coverage *c, int64_t from, int64_t to, int covered)
{
    if (from >= to)
        return 0;
    if (c->nruns && c->runs[c->nruns - 1].covered == covered) {
        c->runs[c->nruns - 1].to = to;
        return 0;
    }
    if (c->nruns == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        tss_cov_run *nr = tss_realloc(c->runs, nc * sizeof(*nr));

        if (!nr)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        c->runs = nr;
        c->cap = nc;
    }
    c->runs[c->nruns].from = from;
    c->runs[c->nruns].to = to;
    c->runs[c->nruns].covered = covered;
    c->nruns++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * The interval of a series no sidecar knows one for (every segment holds
 * at most one of its points: a series written every 60 s in 60 s
 * segments): the median distance between its buckets in [bf, bt], in
 * buckets; 0 with fewer than two buckets. Out of memory, it estimates from
 * the distances gathered so far.
 */
static int64_t bucket_spacing(const tss_cov_entry *e, int64_t bf, int64_t bt)
{
    int64_t vf = tss_cov_bucket_value(bf), prev = 0, m = 0, *d = NULL;
    size_t n = 0, cap = 0;
    roaring_uint32_iterator_t it;
    bool first = true;

    roaring_init_iterator(e->bm, &it);
    if (vf > 0)
        roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)vf);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        int64_t b = (int64_t)it.current_value + TSS_COV_BASE_BUCKET;

        if (b < bf)
            continue;
        if (b > bt)
            break;
        if (!first && n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            int64_t *nd = tss_realloc(d, nc * sizeof(*nd));

            if (!nd)
                break;
            d = nd;
            cap = nc;
        }
        if (!first)
            d[n++] = b - prev;
        first = false;
        prev = b;
    }
    if (n) {
        qsort(d, n, sizeof(*d), cmp_i64);
        m = d[n / 2];
    }
    tss_free(d);
    return m;
}

/*
 * Classifies buckets [bf, bt] of one series: runs of empty buckets longer
 * than `tolerance` are gaps, everything else is covered.
 */
static int judge(tss_coverage *c, const tss_cov_entry *e, int64_t bf,
                 int64_t bt, tss_coverage_series *out)
{
    int64_t w = c->s->info.bucket_width, cur = bf, tol;
    int64_t vf = tss_cov_bucket_value(bf);
    roaring_uint32_iterator_t it;
    int rc = 0;

    out->interval = e->interval;
    if (out->interval <= 0)
        out->interval = bucket_spacing(e, bf, bt) * w;
    tol = out->interval > 0 ? (out->interval + w - 1) / w : 1;
    if (tol < 1)
        tol = 1;
    c->nruns = 0;
    out->gaps = 0;
    out->gap_time = 0;
    roaring_init_iterator(e->bm, &it);
    if (vf > 0)
        roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)vf);
    for (; it.has_value && rc == 0; roaring_advance_uint32_iterator(&it)) {
        int64_t b = (int64_t)it.current_value + TSS_COV_BASE_BUCKET;

        if (b < bf)
            continue;
        if (b > bt)
            break;
        if (b - cur > tol) {
            rc = push_run(c, bf * w, cur * w, 1);
            if (rc == 0)
                rc = push_run(c, cur * w, b * w, 0);
            out->gaps++;
            out->gap_time += (b - cur) * w;
            bf = b;
        }
        cur = b + 1;
    }
    if (rc == 0 && bt + 1 - cur > tol) {
        rc = push_run(c, bf * w, cur * w, 1);
        if (rc == 0)
            rc = push_run(c, cur * w, (bt + 1) * w, 0);
        out->gaps++;
        out->gap_time += (bt + 1 - cur) * w;
    } else if (rc == 0) {
        rc = push_run(c, bf * w, (bt + 1) * w, 1);
    }
    return rc;
}

int tss_coverage_next(tss_coverage *c, tss_coverage_series *out)
{
    int64_t w = c->s->info.bucket_width;

    while (c->pos < c->n) {
        const tss_cov_entry *e = c->v[c->pos++];
        tss_key_view kv;
        int64_t bf, bt;
        double span;
        int rc;

        memcpy(c->key, e->key, e->key_len);
        if (tss_key_decode(c->key, e->key_len, &kv) != 0)
            continue;
        if (c->f.has_from)
            bf = floor_div(c->f.from, w);
        else if (!roaring_bitmap_is_empty(e->bm))
            bf = (int64_t)roaring_bitmap_minimum(e->bm) + TSS_COV_BASE_BUCKET;
        else
            continue;
        if (c->f.has_to)
            bt = floor_div(c->f.to, w);
        else if (!roaring_bitmap_is_empty(e->bm))
            bt = (int64_t)roaring_bitmap_maximum(e->bm) + TSS_COV_BASE_BUCKET;
        else
            continue;
        /* Times stay within +-TSS_TIME_LIMIT, so every bucket edge
         * (bucket * w) fits in int64 even for a filter beyond them. */
        if (bf < floor_div(-TSS_TIME_LIMIT, w))
            bf = floor_div(-TSS_TIME_LIMIT, w);
        if (bt > floor_div(TSS_TIME_LIMIT, w))
            bt = floor_div(TSS_TIME_LIMIT, w);
        if (bt < bf)
            continue;
        if ((rc = judge(c, e, bf, bt, out)) != 0)
            return rc;
        out->id = kv.id;
        out->kind = kv.kind;
        out->from = bf * w;
        out->to = (bt + 1) * w;
        out->runs = c->runs;
        out->nruns = c->nruns;
        /* In double: a range over both ends of the time line (2^63 store
         * units) does not fit an int64 difference. */
        span = (double)out->to - (double)out->from;
        out->percent = 100.0 * (span - (double)out->gap_time) / span;
        return 1;
    }
    return 0;
}
