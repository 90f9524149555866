/*
 * Coverage sidecars and the table-level coverage snapshot (formats in
 * coverage.h).
 */
#define _GNU_SOURCE
#include "coverage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "series.h"

#define uthash_malloc(sz) tss_malloc(sz)
#define uthash_free(ptr, sz) tss_free(ptr)
#define HASH_NONFATAL_OOM 1
static _Thread_local int cov_oom;
#define uthash_nonfatal_oom(obj) (cov_oom = 1)
#include <uthash.h>

static const uint8_t SIDECAR_MAGIC[8] = {0x89, 'T', 'S',  'C',
                                         'O',  'V', '\r', '\n'};
static const uint8_t TABLE_MAGIC[8] = {0x89, 'T', 'S',  'T',
                                       'C',  'V', '\r', '\n'};
#define HEADER_LEN 64

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t tss_cov_bucket_value(int64_t bucket)
{
    int64_t v = bucket - TSS_COV_BASE_BUCKET;

    return (v < 0 || v > (int64_t)UINT32_MAX) ? -1 : v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Median spacing of sorted points; 0 with fewer than two. */
static int64_t median_interval(const tss_point *pts, size_t n)
{
    int64_t *d, m;

    if (n < 2)
        return 0;
    d = tss_malloc((n - 1) * sizeof(*d));
    if (!d) /* an estimate is enough: fall back to the mean */
        return (pts[n - 1].t - pts[0].t) / (int64_t)(n - 1);
    for (size_t i = 1; i < n; i++)
        d[i - 1] = pts[i].t - pts[i - 1].t;
    qsort(d, n - 1, sizeof(*d), cmp_i64);
    m = d[(n - 1) / 2];
    tss_free(d);
    return m;
}

/* ---- framing helpers ------------------------------------------------ */

static void put_header(tss_buf *out, const uint8_t magic[8])
{
    uint8_t h[16];

    memcpy(h, magic, 8);
    tss_put_u16(h + 8, TSS_COV_VERSION);
    tss_put_u16(h + 10, 0);
    tss_put_u32(h + 12, HEADER_LEN);
    tss_buf_append(out, h, 16);
}

static int put_bitmap(tss_buf *out, roaring_bitmap_t *bm)
{
    size_t n;

    roaring_bitmap_run_optimize(bm);
    n = roaring_bitmap_portable_size_in_bytes(bm);
    tss_buf_put_varint(out, n);
    if (!tss_buf_reserve(out, n))
        return tss_error_set(TSS_ENOMEM, "out of memory writing coverage");
    out->len +=
        roaring_bitmap_portable_serialize(bm, (char *)out->data + out->len);
    return 0;
}

static void put_key(tss_buf *out, const uint8_t *prev, size_t plen,
                    const uint8_t *key, size_t klen)
{
    size_t shared = 0;

    while (prev && shared < plen && shared < klen &&
           prev[shared] == key[shared])
        shared++;
    tss_buf_put_varint(out, shared);
    tss_buf_put_varint(out, klen - shared);
    tss_buf_append(out, key + shared, klen - shared);
}

static int corrupt(const char *rel, const char *what)
{
    return tss_error_set(TSS_ECORRUPT, "coverage file %s: %s", rel, what);
}

/*
 * Checks the outer frame: size, magic, version, checksum. On success
 * body and blen give the part after the 64-byte header, before the checksum.
 */
static int check_frame(const uint8_t *buf, size_t len, const uint8_t magic[8],
                       const char *rel, const uint8_t **body, size_t *blen)
{
    if (len < HEADER_LEN + 8)
        return corrupt(rel, len == 0 ? "empty file" : "truncated header");
    if (memcmp(buf, magic, 8) != 0)
        return corrupt(rel, "bad magic");
    if (tss_get_u16(buf + 8) != TSS_COV_VERSION)
        return tss_error_set(TSS_ECORRUPT,
                             "coverage file %s: format version %u is not "
                             "supported (this build reads %d)",
                             rel, tss_get_u16(buf + 8), TSS_COV_VERSION);
    if (tss_get_u32(buf + 12) != HEADER_LEN)
        return corrupt(rel, "bad header length");
    if (tss_get_u64(buf + len - 8) != tss_checksum(buf, len - 8))
        return corrupt(rel, "checksum mismatch");
    *body = buf + HEADER_LEN;
    *blen = len - 8 - HEADER_LEN;
    return 0;
}

/* Reads one length-framed portable bitmap; values must be < limit. */
static int get_bitmap(tss_rd *r, const char *rel, uint64_t limit,
                      roaring_bitmap_t **out)
{
    uint64_t len;
    const uint8_t *p;
    size_t sz;
    roaring_bitmap_t *bm;

    *out = NULL;
    if (!tss_rd_varint(r, &len) || len > tss_rd_left(r) ||
        !tss_rd_bytes(r, (size_t)len, &p))
        return corrupt(rel, "bitmap frame overruns the file");
    /* CRoaring's own size check before it parses anything */
    sz = roaring_bitmap_portable_deserialize_size((const char *)p, (size_t)len);
    if (sz == 0 || sz != len)
        return corrupt(rel, "bitmap frame length disagrees with its content "
                            "(rejected by CRoaring)");
    bm = roaring_bitmap_portable_deserialize_safe((const char *)p, (size_t)len);
    if (!bm)
        return corrupt(rel, "bitmap rejected by CRoaring");
    if (!roaring_bitmap_is_empty(bm) && roaring_bitmap_maximum(bm) >= limit) {
        roaring_bitmap_free(bm);
        return corrupt(rel, "bitmap holds a bucket outside its range");
    }
    *out = bm;
    return 0;
}

/* Reads a prefix-compressed key into arena-owned memory. */
static int get_key(tss_rd *r, const char *rel, const uint8_t *prev, size_t plen,
                   uint8_t **key, size_t *klen)
{
    uint64_t shared, slen;
    const uint8_t *suffix;
    tss_key_view kv;
    uint8_t *k;

    tss_rd_varint(r, &shared);
    tss_rd_varint(r, &slen);
    if (r->bad || shared > plen || slen > TSS_KEY_MAX ||
        shared + slen > TSS_KEY_MAX || !tss_rd_bytes(r, (size_t)slen, &suffix))
        return corrupt(rel, "bad series key");
    k = tss_malloc((size_t)(shared + slen));
    if (!k)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    if (shared) /* shared <= plen, which is 0 when there is no prev */
        memcpy(k, prev, (size_t)shared);
    memcpy(k + shared, suffix, (size_t)slen);
    if (tss_key_decode(k, (size_t)(shared + slen), &kv) != 0 ||
        (prev && tss_key_cmp(prev, plen, k, (size_t)(shared + slen)) >= 0)) {
        tss_free(k);
        return corrupt(rel, "series keys malformed or out of order");
    }
    *key = k;
    *klen = (size_t)(shared + slen);
    return 0;
}

/* ---- sidecars --------------------------------------------------------- */

void tss_sidecar_path(char *out, size_t size, const uint8_t uuid[16])
{
    char u[37];

    uuid_unparse_lower(uuid, u);
    snprintf(out, size, TSS_COV_SEG_DIR "/%s.roar", u);
}

int tss_sidecar_init(tss_sidecar *sc, const uint8_t uuid[16],
                     int64_t window_start, int64_t bucket_width)
{
    memset(sc, 0, sizeof(*sc));
    if (bucket_width <= 0)
        return tss_error_set(TSS_EINVAL, "bucket width must be positive");
    memcpy(sc->uuid, uuid, 16);
    sc->window_start = window_start;
    sc->bucket_width = bucket_width;
    return 0;
}

void tss_sidecar_free(tss_sidecar *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        tss_free(sc->entries[i].key);
        /* NULL when decoding stopped at this entry's bitmap; CRoaring
         * before 0.3 dereferences a NULL bitmap */
        if (sc->entries[i].bm)
            roaring_bitmap_free(sc->entries[i].bm);
    }
    tss_free(sc->entries);
    memset(sc, 0, sizeof(*sc));
}

static tss_cov_entry *sidecar_push(tss_sidecar *sc)
{
    if (sc->n == sc->cap) {
        size_t nc = sc->cap ? sc->cap * 2 : 64;
        tss_cov_entry *ne = tss_realloc(sc->entries, nc * sizeof(*ne));

        if (!ne)
            return NULL;
        sc->entries = ne;
        sc->cap = nc;
    }
    memset(&sc->entries[sc->n], 0, sizeof(sc->entries[0]));
    return &sc->entries[sc->n];
}

int tss_sidecar_add(tss_sidecar *sc, const uint8_t *key, size_t key_len,
                    const tss_point *pts, size_t n)
{
    tss_cov_entry *e = sidecar_push(sc);
    int64_t last = -1;

    if (!e || !(e->key = tss_malloc(key_len)) ||
        !(e->bm = roaring_bitmap_create())) {
        if (e)
            tss_free(e->key);
        return tss_error_set(TSS_ENOMEM, "out of memory building coverage");
    }
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    for (size_t i = 0; i < n; i++) {
        int64_t b = floor_div(pts[i].t - sc->window_start, sc->bucket_width);

        if (b != last && b >= 0 && b <= (int64_t)UINT32_MAX)
            roaring_bitmap_add(e->bm, (uint32_t)b);
        last = b;
    }
    e->interval = median_interval(pts, n);
    sc->n++;
    return 0;
}

int tss_sidecar_encode(const tss_sidecar *sc, tss_buf *out)
{
    size_t start = out->len;
    uint8_t h[HEADER_LEN - 16];

    put_header(out, SIDECAR_MAGIC);
    memset(h, 0, sizeof(h));
    memcpy(h, sc->uuid, 16);
    tss_put_u64(h + 16, (uint64_t)sc->window_start);
    tss_put_u64(h + 24, (uint64_t)sc->bucket_width);
    tss_put_u32(h + 32, (uint32_t)sc->n);
    tss_buf_append(out, h, sizeof(h));
    for (size_t i = 0; i < sc->n; i++) {
        const tss_cov_entry *e = &sc->entries[i];
        int rc;

        put_key(out, i ? sc->entries[i - 1].key : NULL,
                i ? sc->entries[i - 1].key_len : 0, e->key, e->key_len);
        tss_buf_put_varint(out, (uint64_t)e->interval);
        if ((rc = put_bitmap(out, e->bm)) != 0)
            return rc;
    }
    if (out->oom)
        return tss_error_set(TSS_ENOMEM, "out of memory writing coverage");
    tss_buf_put_u64(out, tss_checksum(out->data + start, out->len - start));
    return out->oom ? tss_error_set(TSS_ENOMEM, "out of memory") : 0;
}

int tss_sidecar_decode(const uint8_t *buf, size_t len, const char *rel,
                       uint64_t max_buckets, tss_sidecar *out)
{
    const uint8_t *body;
    size_t blen;
    uint32_t count;
    uint64_t limit;
    tss_rd r;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_frame(buf, len, SIDECAR_MAGIC, rel, &body, &blen)) != 0)
        return rc;
    memcpy(out->uuid, buf + 16, 16);
    out->window_start = (int64_t)tss_get_u64(buf + 32);
    out->bucket_width = (int64_t)tss_get_u64(buf + 40);
    count = tss_get_u32(buf + 48);
    if (out->bucket_width <= 0)
        return corrupt(rel, "bad bucket width");
    limit = max_buckets;
    if (count > blen / 3)
        return corrupt(rel, "series count does not fit the file");
    tss_rd_init(&r, body, blen);
    for (uint32_t i = 0; i < count; i++) {
        tss_cov_entry *e = sidecar_push(out);
        uint64_t interval;

        if (!e) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto fail;
        }
        rc = get_key(&r, rel, i ? out->entries[i - 1].key : NULL,
                     i ? out->entries[i - 1].key_len : 0, &e->key, &e->key_len);
        if (rc)
            goto fail;
        out->n++; /* owned from here: freed on failure */
        if (!tss_rd_varint(&r, &interval) || interval > INT64_MAX) {
            rc = corrupt(rel, "bad interval");
            goto fail;
        }
        e->interval = (int64_t)interval;
        if ((rc = get_bitmap(&r, rel, limit, &e->bm)) != 0)
            goto fail;
    }
    if (tss_rd_left(&r) != 0) {
        rc = corrupt(rel, "trailing bytes");
        goto fail;
    }
    return 0;
fail:
    tss_sidecar_free(out);
    return rc;
}

int tss_sidecar_read(tss_storage *st, const uint8_t uuid[16],
                     uint64_t max_buckets, tss_sidecar *out)
{
    char rel[128];
    uint8_t *buf;
    size_t len;
    int rc;

    tss_sidecar_path(rel, sizeof(rel), uuid);
    memset(out, 0, sizeof(*out));
    if ((rc = tss_storage_read_all(st, rel, TSS_COV_MAX_FILE, &buf, &len)))
        return rc;
    rc = tss_sidecar_decode(buf, len, rel, max_buckets, out);
    tss_free(buf);
    if (rc == 0 && memcmp(out->uuid, uuid, 16) != 0) {
        tss_sidecar_free(out);
        rc = corrupt(rel, "sidecar belongs to another segment");
    }
    return rc;
}

int tss_sidecar_from_segment(tss_segment *seg, int64_t bucket_width,
                             tss_sidecar *out)
{
    tss_point *pts = NULL;
    size_t cap = 0;
    int rc;

    if ((rc = tss_sidecar_init(out, seg->name.uuid, seg->name.start,
                               bucket_width)) != 0)
        return rc;
    for (size_t i = 0; i < seg->nentries; i++) {
        const tss_seg_entry *e = &seg->entries[i];
        size_t n = 0;

        if (seg->resolution && e->agg != TSS_AGG_COUNT)
            continue; /* a rollup: its count chunk tells the intervals */
        if ((rc = tss_segment_read_points(seg, i, &pts, &n, &cap)) != 0)
            break;
        if (seg->resolution) {
            rc = tss_sidecar_add_intervals(out, e->key, e->key_len - 1, pts, n,
                                           seg->resolution);
        } else {
            rc = tss_sidecar_add(out, e->key, e->key_len, pts, n);
        }
        if (rc)
            break;
    }
    if (rc)
        tss_sidecar_free(out);
    tss_free(pts);
    return rc;
}

int tss_sidecar_add_intervals(tss_sidecar *sc, const uint8_t *key,
                              size_t key_len, const tss_point *starts, size_t n,
                              int64_t resolution)
{
    tss_cov_entry *e;
    int rc;

    /* one point per bucket of each interval: the interval is covered */
    if ((rc = tss_sidecar_add(sc, key, key_len, NULL, 0)) != 0)
        return rc;
    e = &sc->entries[sc->n - 1];
    for (size_t i = 0; i < n; i++) {
        int64_t lo =
            floor_div(starts[i].t - sc->window_start, sc->bucket_width);
        int64_t hi = floor_div(starts[i].t + resolution - 1 - sc->window_start,
                               sc->bucket_width);

        if (lo >= 0 && hi <= (int64_t)UINT32_MAX && hi >= lo)
            roaring_bitmap_add_range_closed(e->bm, (uint32_t)lo, (uint32_t)hi);
    }
    e->interval = resolution;
    return 0;
}

/* ---- the table ---------------------------------------------------------- */

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

void tss_covtable_free(tss_covtable *t)
{
    cov_node *n, *tmp;

    if (!t)
        return;
    for (n = t->map; n; n = tmp) {
        tmp = n->hh.next;
        HASH_DELETE(hh, t->map, n);
        tss_free(n->e.key);
        roaring_bitmap_free(n->e.bm);
        tss_free(n);
    }
    roaring_bitmap_free(t->all);
    tss_free(t);
}

static cov_node *table_entry(tss_covtable *t, const uint8_t *key, size_t len)
{
    cov_node *n = NULL;

    HASH_FIND(hh, t->map, key, len, n);
    if (n)
        return n;
    n = tss_calloc(1, sizeof(*n));
    if (!n || !(n->e.key = tss_malloc(len)) ||
        !(n->e.bm = roaring_bitmap_create())) {
        if (n)
            tss_free(n->e.key);
        tss_free(n);
        return NULL;
    }
    memcpy(n->e.key, key, len);
    n->e.key_len = len;
    cov_oom = 0;
    HASH_ADD_KEYPTR(hh, t->map, n->e.key, n->e.key_len, n);
    if (cov_oom) {
        roaring_bitmap_free(n->e.bm);
        tss_free(n->e.key);
        tss_free(n);
        return NULL;
    }
    return n;
}

/* Adds absolute buckets [lo, hi] to a series' bitmap and to `all`, the
 * part that has a bitmap value. */
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
    roaring_bitmap_add_range_closed(all, (uint32_t)vlo, (uint32_t)vhi);
}

int tss_covtable_add_sidecar(tss_covtable *t, const tss_sidecar *sc)
{
    int64_t base = floor_div(sc->window_start, sc->bucket_width);

    if (sc->bucket_width != t->bucket_width)
        return tss_error_set(TSS_EINVAL, "sidecar bucket width differs");
    for (size_t i = 0; i < sc->n; i++) {
        const tss_cov_entry *e = &sc->entries[i];
        cov_node *n = table_entry(t, e->key, e->key_len);
        roaring_uint32_iterator_t it;
        uint32_t buf[256], got;
        int64_t run_lo = 0, run_hi = 0;
        bool in_run = false;

        if (!n)
            return tss_error_set(TSS_ENOMEM, "out of memory");
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
                    add_bucket_run(n->e.bm, t->all, run_lo, run_hi);
                run_lo = run_hi = b;
                in_run = true;
            }
        if (in_run)
            add_bucket_run(n->e.bm, t->all, run_lo, run_hi);
        if (e->interval > 0)
            n->e.interval = e->interval;
    }
    return 0;
}

int tss_covtable_add_points(tss_covtable *t, const uint8_t *key, size_t key_len,
                            const tss_point *pts, size_t n)
{
    cov_node *node = table_entry(t, key, key_len);

    if (!node)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int64_t v = tss_cov_bucket_value(floor_div(pts[i].t, t->bucket_width));

        if (v >= 0) {
            roaring_bitmap_add(node->e.bm, (uint32_t)v);
            roaring_bitmap_add(t->all, (uint32_t)v);
        }
    }
    if (n >= 2 && node->e.interval == 0)
        node->e.interval = median_interval(pts, n);
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

static int cmp_nodes(const void *a, const void *b)
{
    const cov_node *x = *(const cov_node *const *)a;
    const cov_node *y = *(const cov_node *const *)b;

    return tss_key_cmp(x->e.key, x->e.key_len, y->e.key, y->e.key_len);
}

static int table_encode(tss_covtable *t, uint64_t version, tss_buf *out)
{
    size_t count = HASH_COUNT(t->map), i = 0;
    cov_node **v, *n, *tmp;
    uint8_t h[HEADER_LEN - 16];
    int rc = 0;

    v = tss_calloc(count ? count : 1, sizeof(*v));
    if (!v)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (n = t->map; n; n = tmp) {
        tmp = n->hh.next;
        v[i++] = n;
    }
    qsort(v, count, sizeof(*v), cmp_nodes);
    put_header(out, TABLE_MAGIC);
    memset(h, 0, sizeof(h));
    tss_put_u64(h, version);
    tss_put_u64(h + 8, t->covered_seq);
    tss_put_u64(h + 16, (uint64_t)TSS_COV_BASE_BUCKET);
    tss_put_u64(h + 24, (uint64_t)t->bucket_width);
    tss_put_u32(h + 32, (uint32_t)count);
    tss_buf_append(out, h, sizeof(h));
    if ((rc = put_bitmap(out, t->all)) != 0)
        goto out;
    for (i = 0; i < count; i++) {
        put_key(out, i ? v[i - 1]->e.key : NULL, i ? v[i - 1]->e.key_len : 0,
                v[i]->e.key, v[i]->e.key_len);
        tss_buf_put_varint(out, (uint64_t)v[i]->e.interval);
        if ((rc = put_bitmap(out, v[i]->e.bm)) != 0)
            goto out;
    }
    tss_buf_put_u64(out, tss_checksum(out->data, out->len));
    if (out->oom)
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
out:
    tss_free(v);
    return rc;
}

static int table_decode(const uint8_t *buf, size_t len, const char *rel,
                        int64_t bucket_width, tss_covtable **out)
{
    const uint8_t *body;
    size_t blen;
    uint32_t count;
    const uint8_t *prev = NULL;
    size_t plen = 0;
    tss_covtable *t = NULL;
    roaring_bitmap_t *all = NULL;
    tss_rd r;
    int rc;

    *out = NULL;
    if ((rc = check_frame(buf, len, TABLE_MAGIC, rel, &body, &blen)) != 0)
        return rc;
    if ((int64_t)tss_get_u64(buf + 32) != TSS_COV_BASE_BUCKET ||
        (int64_t)tss_get_u64(buf + 40) != bucket_width)
        return corrupt(rel, "base bucket or bucket width differs from STORE");
    count = tss_get_u32(buf + 48);
    if (count > blen / 3)
        return corrupt(rel, "series count does not fit the file");
    if ((rc = tss_covtable_new(&t, bucket_width)) != 0)
        return rc;
    t->version = tss_get_u64(buf + 16);
    t->covered_seq = tss_get_u64(buf + 24);
    tss_rd_init(&r, body, blen);
    if ((rc = get_bitmap(&r, rel, (uint64_t)UINT32_MAX + 1, &all)) != 0)
        goto fail;
    roaring_bitmap_free(t->all);
    t->all = all;
    for (uint32_t i = 0; i < count; i++) {
        cov_node *n = tss_calloc(1, sizeof(*n));
        uint64_t interval;

        if (!n) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto fail;
        }
        if ((rc = get_key(&r, rel, prev, plen, &n->e.key, &n->e.key_len))) {
            tss_free(n);
            goto fail;
        }
        if (!tss_rd_varint(&r, &interval) || interval > INT64_MAX ||
            (rc = get_bitmap(&r, rel, (uint64_t)UINT32_MAX + 1, &n->e.bm))) {
            if (!rc)
                rc = corrupt(rel, "bad interval");
            tss_free(n->e.key);
            tss_free(n);
            goto fail;
        }
        n->e.interval = (int64_t)interval;
        cov_oom = 0;
        HASH_ADD_KEYPTR(hh, t->map, n->e.key, n->e.key_len, n);
        if (cov_oom) {
            roaring_bitmap_free(n->e.bm);
            tss_free(n->e.key);
            tss_free(n);
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto fail;
        }
        prev = n->e.key;
        plen = n->e.key_len;
    }
    if (tss_rd_left(&r) != 0) {
        rc = corrupt(rel, "trailing bytes");
        goto fail;
    }
    *out = t;
    return 0;
fail:
    tss_covtable_free(t);
    return rc;
}

/* Versions on disk, sorted descending. */
static int list_versions(tss_storage *st, uint64_t **out, size_t *n)
{
    char **names;
    size_t count, k = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = tss_storage_list(st, TSS_COV_TABLE_DIR, "", ".roar", &names,
                               &count)) != 0)
        return rc;
    *out = tss_calloc(count ? count : 1, sizeof(**out));
    if (!*out) {
        tss_storage_names_free(names, count);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(names[i], &end, 10);
        if (!errno && end != names[i] && strcmp(end, ".roar") == 0 &&
            names[i][0] != '0')
            (*out)[k++] = v;
    }
    tss_storage_names_free(names, count);
    /* descending */
    for (size_t a = 1; a < k; a++)
        for (size_t b = a; b > 0 && (*out)[b - 1] < (*out)[b]; b--) {
            uint64_t x = (*out)[b];

            (*out)[b] = (*out)[b - 1];
            (*out)[b - 1] = x;
        }
    *n = k;
    return 0;
}

int tss_covtable_load(tss_covtable **out, tss_storage *st, int64_t bucket_width,
                      tss_log_fn log, void *log_ctx)
{
    uint64_t *vers;
    size_t n;
    int rc;

    *out = NULL;
    if ((rc = list_versions(st, &vers, &n)) != 0)
        return rc;
    rc = tss_error_set(TSS_ENOTFOUND, "no table coverage snapshot");
    for (size_t i = 0; i < n; i++) {
        char rel[96];
        uint8_t *buf;
        size_t len;

        snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar",
                 vers[i]);
        rc = tss_storage_read_all(st, rel, TSS_COV_MAX_FILE, &buf, &len);
        if (rc == 0) {
            rc = table_decode(buf, len, rel, bucket_width, out);
            tss_free(buf);
        }
        if (rc == 0 && (*out)->version != vers[i]) {
            tss_covtable_free(*out);
            *out = NULL;
            rc = corrupt(rel, "version disagrees with the file name");
        }
        if (rc == 0) {
            /* the next save must not collide with a newer, corrupt file */
            (*out)->version = vers[0];
            break;
        }
        if (rc == TSS_ENOMEM)
            break;
        tss_log(log, log_ctx, TSS_LEVEL_ERR, "skipping %s", tss_error_last());
    }
    if (rc != 0 && rc != TSS_ENOMEM && n > 0) {
        /* none reads back: the table is derived data, so start empty
         * (the caller unions every sidecar), numbered above the bad ones */
        rc = tss_covtable_new(out, bucket_width);
        if (rc == 0)
            (*out)->version = vers[0];
    }
    tss_free(vers);
    return rc;
}

int tss_covtable_save(tss_covtable *t, tss_storage *st)
{
    tss_buf img = {0};
    uint64_t version = tss_covtable_spent(t) + 1, *vers;
    char rel[96];
    size_t n;
    int rc;

    if ((rc = tss_storage_mkdirs(st, TSS_COV_TABLE_DIR)) != 0)
        return rc;
    if ((rc = table_encode(t, version, &img)) != 0)
        goto out;
    snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar", version);
    t->tried = version;
    if ((rc = tss_storage_write_new(st, rel, img.data, img.len)) != 0)
        goto out;
    t->version = version;
    /* keep the new version and its predecessor; older ones are garbage */
    if (list_versions(st, &vers, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (vers[i] + 1 >= version)
                continue;
            snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar",
                     vers[i]);
            (void)!tss_storage_remove(st, rel);
        }
        tss_free(vers);
    }
    tss_error_clear();
out:
    tss_buf_free(&img);
    return rc;
}
