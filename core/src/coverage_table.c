/*
 * The table-level coverage in memory: per series the union of its
 * segments' sidecars (and whatever a caller adds: head points), a hash by
 * key. Its snapshot file is coverage_table_file.c's.
 */
#define _GNU_SOURCE
#include "coverage_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "series.h"

#define uthash_malloc(sz) tss_malloc(sz)
#define uthash_free(ptr, sz) tss_free(ptr)
#define HASH_NONFATAL_OOM 1
static _Thread_local int cov_oom;
#define uthash_nonfatal_oom(obj) (cov_oom = 1)
#include <uthash.h>

#define VALUE_LIMIT ((uint64_t)UINT32_MAX + 1)
#define floor_div tss_cov_floor_div

typedef struct cov_node {
    tss_cov_entry e;
    UT_hash_handle hh;
} cov_node;

struct tss_covtable {
    cov_node *map;
    roaring_bitmap_t *all;
    int64_t bucket_width;
    uint64_t version, covered_seq;
    /* the highest version a save tried, even if it failed: a write_new
     * that failed after its link() (the directory's fsync) leaves the
     * file, and a retry under that name would fail for ever */
    uint64_t tried;
    /* bytes of the last file this table was saved as (0: unknown) */
    uint64_t saved_bytes;
    /* loaded with a selection: not the whole table, never saved */
    bool partial;
    char rel[96];   /* the file a partial table's bytes come from */
    uint8_t **imgs; /* file bytes that unparsed entries (ser) point into */
    size_t nimgs;
};

int tss_covtable_new(tss_covtable **out, int64_t bucket_width)
{
    tss_covtable *t = tss_calloc(1, sizeof(*t));

    *out = NULL;
    if (!t || !(t->all = roaring_bitmap_create())) {
        tss_free(t);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    t->bucket_width = bucket_width;
    *out = t;
    return 0;
}

int tss_covtable_new_part(tss_covtable **out, int64_t bucket_width)
{
    int rc = tss_covtable_new(out, bucket_width);

    if (rc == 0)
        (*out)->partial = true;
    return rc;
}

static void node_free(cov_node *n)
{
    tss_free(n->e.key);
    if (n->e.bm)
        roaring_bitmap_free(n->e.bm);
    tss_free(n);
}

void tss_covtable_free(tss_covtable *t)
{
    cov_node *n, *tmp;

    if (!t)
        return;
    for (n = t->map; n; n = tmp) {
        tmp = n->hh.next;
        HASH_DELETE(hh, t->map, n);
        node_free(n);
    }
    roaring_bitmap_free(t->all);
    for (size_t i = 0; i < t->nimgs; i++)
        tss_free(t->imgs[i]);
    tss_free(t->imgs);
    tss_free(t);
}

int tss_covtable_keep(tss_covtable *t, uint8_t *img)
{
    uint8_t **ni = tss_realloc(t->imgs, (t->nimgs + 1) * sizeof(*ni));

    if (!ni) {
        tss_free(img);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    t->imgs = ni;
    t->imgs[t->nimgs++] = img;
    return 0;
}

/* Parses an entry kept as bytes. */
static int materialize(tss_covtable *t, cov_node *n)
{
    if (n->e.bm)
        return 0;
    return tss_cov_parse_bitmap(n->e.ser, n->e.ser_len, t->rel, VALUE_LIMIT,
                                &n->e.bm);
}

roaring_bitmap_t *tss_covtable_bitmap(tss_covtable *t, const tss_cov_entry *e)
{
    cov_node *n = (cov_node *)(uintptr_t)e; /* e is the first member */

    return materialize(t, n) == 0 ? n->e.bm : NULL;
}

/* Adds node n (key and bitmap set) to the map; frees it on failure. */
static int insert(tss_covtable *t, cov_node *n)
{
    cov_oom = 0;
    HASH_ADD_KEYPTR(hh, t->map, n->e.key, n->e.key_len, n);
    if (cov_oom) {
        node_free(n);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    return 0;
}

/* The node of `key`, created empty if absent, its bitmap parsed. */
static int table_entry(tss_covtable *t, const uint8_t *key, size_t len,
                       cov_node **out)
{
    cov_node *n = NULL;

    HASH_FIND(hh, t->map, key, len, n);
    if (n) {
        *out = n;
        return materialize(t, n);
    }
    n = tss_calloc(1, sizeof(*n));
    if (!n || !(n->e.key = tss_malloc(len)) ||
        !(n->e.bm = roaring_bitmap_create())) {
        if (n)
            tss_free(n->e.key);
        tss_free(n);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    memcpy(n->e.key, key, len);
    n->e.key_len = len;
    *out = n;
    return insert(t, n);
}

/* Adds absolute buckets [lo, hi] to a series' bitmap and to `all` (NULL:
 * a partial table keeps none), the part that has a bitmap value. */
static void add_bucket_run(roaring_bitmap_t *bm, roaring_bitmap_t *all,
                           int64_t lo, int64_t hi)
{
    int64_t vlo = lo - TSS_COV_BASE_BUCKET, vhi = hi - TSS_COV_BASE_BUCKET;

    if (vlo < 0)
        vlo = 0;
    if (vhi > (int64_t)UINT32_MAX)
        vhi = UINT32_MAX;
    if (vlo > vhi)
        return;
    roaring_bitmap_add_range_closed(bm, (uint32_t)vlo, (uint32_t)vhi);
    if (all)
        roaring_bitmap_add_range_closed(all, (uint32_t)vlo, (uint32_t)vhi);
}

int tss_covtable_add_sidecar(tss_covtable *t, const tss_sidecar *sc)
{
    int64_t base = floor_div(sc->window_start, sc->bucket_width);
    roaring_bitmap_t *all = t->partial ? NULL : t->all;

    if (sc->bucket_width != t->bucket_width)
        return tss_error_set(TSS_EINVAL, "sidecar bucket width differs");
    for (size_t i = 0; i < sc->n; i++) {
        const tss_cov_entry *e = &sc->entries[i];
        cov_node *n;
        roaring_uint32_iterator_t it;
        uint32_t buf[256], got;
        int64_t run_lo = 0, run_hi = 0, newest = INT64_MIN;
        bool in_run = false;
        int rc;

        if ((rc = table_entry(t, e->key, e->key_len, &n)) != 0)
            return rc;
        if (!roaring_bitmap_is_empty(n->e.bm))
            newest =
                (int64_t)roaring_bitmap_maximum(n->e.bm) + TSS_COV_BASE_BUCKET;
        /* by runs of consecutive buckets (a series that reports steadily
         * is one run per window): one range insert each, not one insert
         * per bucket, which made a rebuild of a year of sidecars take
         * minutes */
        roaring_init_iterator(e->bm, &it);
        while ((got = roaring_read_uint32_iterator(&it, buf, 256)) > 0)
            for (uint32_t k = 0; k < got; k++) {
                int64_t b = base + (int64_t)buf[k];

                if (in_run && b == run_hi + 1) {
                    run_hi = b;
                    continue;
                }
                if (in_run)
                    add_bucket_run(n->e.bm, all, run_lo, run_hi);
                run_lo = run_hi = b;
                in_run = true;
            }
        if (in_run)
            add_bucket_run(n->e.bm, all, run_lo, run_hi);
        /* The series' interval is its newest data's: that of a sidecar
         * that reaches at least as far as what the table held. A late
         * batch of an old window (two points, spaced anyhow) or a rollup
         * of old windows (spaced by its resolution) does not replace it;
         * on a tie (a sidecar reaching the same last bucket) the first
         * one added stays: sidecars are added in seq order. */
        if (e->interval > 0 &&
            (n->e.interval == 0 || (in_run && run_hi > newest)))
            n->e.interval = e->interval;
    }
    return 0;
}

int tss_covtable_add_points(tss_covtable *t, const uint8_t *key, size_t key_len,
                            const tss_point *pts, size_t n)
{
    roaring_bitmap_t *all = t->partial ? NULL : t->all;
    int64_t lo = 0, hi = -1;
    cov_node *node;
    int rc;

    if ((rc = table_entry(t, key, key_len, &node)) != 0)
        return rc;
    /* by runs of buckets, as add_sidecar: points come sorted, a series
     * that reports steadily makes one run */
    for (size_t i = 0; i < n; i++) {
        int64_t b = floor_div(pts[i].t, t->bucket_width);

        if (hi >= lo && b >= lo && b <= hi + 1) {
            if (b > hi)
                hi = b;
            continue;
        }
        if (hi >= lo)
            add_bucket_run(node->e.bm, all, lo, hi);
        lo = hi = b;
    }
    if (hi >= lo)
        add_bucket_run(node->e.bm, all, lo, hi);
    if (n >= 2 && node->e.interval == 0)
        node->e.interval = tss_cov_median_interval(pts, n);
    return 0;
}

int tss_covtable_union(tss_covtable *t, tss_covtable *from)
{
    roaring_bitmap_t *all = t->partial ? NULL : t->all;

    for (cov_node *f = from->map; f; f = f->hh.next) {
        cov_node *n;
        int rc;

        if ((rc = materialize(from, f)) != 0 ||
            (rc = table_entry(t, f->e.key, f->e.key_len, &n)) != 0)
            return rc;
        roaring_bitmap_or_inplace(n->e.bm, f->e.bm);
        if (all)
            roaring_bitmap_or_inplace(all, f->e.bm);
        if (n->e.interval == 0)
            n->e.interval = f->e.interval;
    }
    return 0;
}

uint64_t tss_covtable_covered_seq(const tss_covtable *t)
{
    return t->covered_seq;
}

void tss_covtable_set_covered_seq(tss_covtable *t, uint64_t seq)
{
    if (seq > t->covered_seq)
        t->covered_seq = seq;
}

uint64_t tss_covtable_version(const tss_covtable *t)
{
    return t->version;
}

void tss_covtable_set_version(tss_covtable *t, uint64_t version)
{
    t->version = version;
}

uint64_t tss_covtable_spent(const tss_covtable *t)
{
    return t->tried > t->version ? t->tried : t->version;
}

const tss_cov_entry *tss_covtable_get(const tss_covtable *t, const uint8_t *key,
                                      size_t key_len)
{
    cov_node *n = NULL;

    HASH_FIND(hh, t->map, key, key_len, n);
    return n ? &n->e : NULL;
}

const tss_cov_entry *tss_covtable_iter(const tss_covtable *t,
                                       const tss_cov_entry *prev)
{
    const cov_node *n;

    if (!prev)
        return t->map ? &t->map->e : NULL;
    n = (const cov_node *)prev; /* e is the first member */
    n = n->hh.next;
    return n ? &n->e : NULL;
}

/* ---- for the snapshot file (coverage_table_file.c) ---------------------- */

int tss_covtable_adopt(tss_covtable *t, uint8_t *key, size_t key_len,
                       int64_t interval, roaring_bitmap_t *bm,
                       const uint8_t *ser, size_t ser_len)
{
    cov_node *n = tss_calloc(1, sizeof(*n));

    if (!n) {
        tss_free(key);
        if (bm)
            roaring_bitmap_free(bm);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    n->e.key = key;
    n->e.key_len = key_len;
    n->e.interval = interval;
    n->e.bm = bm;
    n->e.ser = ser;
    n->e.ser_len = ser_len;
    return insert(t, n);
}

void tss_covtable_set_origin(tss_covtable *t, uint64_t version,
                             uint64_t covered_seq, bool partial,
                             const char *rel)
{
    t->version = version;
    t->covered_seq = covered_seq;
    t->partial = partial;
    snprintf(t->rel, sizeof(t->rel), "%s", rel);
}

bool tss_covtable_partial(const tss_covtable *t)
{
    return t->partial;
}

size_t tss_covtable_count(const tss_covtable *t)
{
    return HASH_COUNT(t->map);
}

roaring_bitmap_t *tss_covtable_all(tss_covtable *t)
{
    return t->all;
}

void tss_covtable_set_all(tss_covtable *t, roaring_bitmap_t *all)
{
    roaring_bitmap_free(t->all);
    t->all = all;
}

void tss_covtable_set_saved_bytes(tss_covtable *t, uint64_t bytes)
{
    t->saved_bytes = bytes;
}

uint64_t tss_covtable_saved_bytes(const tss_covtable *t)
{
    return t->saved_bytes;
}

void tss_covtable_set_tried(tss_covtable *t, uint64_t version)
{
    t->tried = version;
}

int64_t tss_covtable_bucket_width(const tss_covtable *t)
{
    return t->bucket_width;
}
