/*
 * Coverage sidecars, the framing every coverage file shares, and reading
 * a bitmap's runs in place from its portable bytes (formats in
 * coverage.h; the table-level coverage is in coverage_table.c).
 */
#define _GNU_SOURCE
#include "coverage_internal.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "series.h"

static const uint8_t SIDECAR_MAGIC[8] = {0x89, 'T', 'S',  'C',
                                         'O',  'V', '\r', '\n'};
#define HEADER_LEN TSS_COV_HEADER_LEN

int64_t tss_cov_floor_div(int64_t a, int64_t b)
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

#define floor_div tss_cov_floor_div

int64_t tss_cov_median_interval(const tss_point *pts, size_t n)
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

void tss_cov_put_header(tss_buf *out, const uint8_t magic[8], uint16_t version,
                        uint32_t header_len)
{
    uint8_t h[16];

    memcpy(h, magic, 8);
    tss_put_u16(h + 8, version);
    tss_put_u16(h + 10, 0);
    tss_put_u32(h + 12, header_len);
    tss_buf_append(out, h, 16);
}

int tss_cov_put_bitmap(tss_buf *out, roaring_bitmap_t *bm)
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

void tss_cov_put_key(tss_buf *out, const uint8_t *prev, size_t plen,
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

int tss_cov_corrupt(const char *rel, const char *what)
{
    return tss_error_set(TSS_ECORRUPT, "coverage file %s: %s", rel, what);
}

#define corrupt tss_cov_corrupt

/*
 * Checks a sidecar's outer frame: size, magic, version, checksum. On
 * success body and blen give the part after the 64-byte header, before
 * the checksum.
 */
static int check_frame(const uint8_t *buf, size_t len, const char *rel,
                       const uint8_t **body, size_t *blen)
{
    if (len < HEADER_LEN + 8)
        return corrupt(rel, len == 0 ? "empty file" : "truncated header");
    if (memcmp(buf, SIDECAR_MAGIC, 8) != 0)
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

int tss_cov_get_frame(tss_rd *r, const char *rel, const uint8_t **p,
                      size_t *len)
{
    uint64_t n;

    if (!tss_rd_varint(r, &n) || n > tss_rd_left(r) ||
        !tss_rd_bytes(r, (size_t)n, p))
        return corrupt(rel, "bitmap frame overruns the file");
    *len = (size_t)n;
    return 0;
}

/* CRoaring's own size check, before it parses anything. */
static int check_size(const uint8_t *p, size_t len, const char *rel)
{
    size_t sz = roaring_bitmap_portable_deserialize_size((const char *)p, len);

    if (sz == 0 || sz != len)
        return corrupt(rel, "bitmap frame length disagrees with its content "
                            "(rejected by CRoaring)");
    return 0;
}

int tss_cov_parse_bitmap(const uint8_t *p, size_t len, const char *rel,
                         uint64_t limit, roaring_bitmap_t **out)
{
    roaring_bitmap_t *bm;
    int rc;

    *out = NULL;
    if ((rc = check_size(p, len, rel)) != 0)
        return rc;
    bm = roaring_bitmap_portable_deserialize_safe((const char *)p, len);
    if (!bm) {
        /* CRoaring answers NULL both for bytes it rejects and when it
         * cannot allocate: bytes our own reading of the format accepts
         * were refused for memory, not blamed on the file */
        tss_error_clear();
        if (tss_cov_check_portable(p, len, rel) == 0)
            return tss_error_set(TSS_ENOMEM,
                                 "coverage file %s: out of "
                                 "memory reading a bitmap",
                                 rel);
        return corrupt(rel, "bitmap rejected by CRoaring");
    }
    if (!roaring_bitmap_is_empty(bm) && roaring_bitmap_maximum(bm) >= limit) {
        roaring_bitmap_free(bm);
        return corrupt(rel, "bitmap holds a bucket outside its range");
    }
    *out = bm;
    return 0;
}

int tss_cov_get_key(tss_rd *r, const char *rel, const uint8_t *prev,
                    size_t plen, uint8_t **key, size_t *klen)
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
    e->interval = tss_cov_median_interval(pts, n);
    sc->n++;
    return 0;
}

int tss_sidecar_encode(const tss_sidecar *sc, tss_buf *out)
{
    size_t start = out->len;
    uint8_t h[HEADER_LEN - 16];

    tss_cov_put_header(out, SIDECAR_MAGIC, TSS_COV_VERSION, HEADER_LEN);
    memset(h, 0, sizeof(h));
    memcpy(h, sc->uuid, 16);
    tss_put_u64(h + 16, (uint64_t)sc->window_start);
    tss_put_u64(h + 24, (uint64_t)sc->bucket_width);
    tss_put_u32(h + 32, (uint32_t)sc->n);
    tss_buf_append(out, h, sizeof(h));
    for (size_t i = 0; i < sc->n; i++) {
        const tss_cov_entry *e = &sc->entries[i];
        int rc;

        tss_cov_put_key(out, i ? sc->entries[i - 1].key : NULL,
                        i ? sc->entries[i - 1].key_len : 0, e->key, e->key_len);
        tss_buf_put_varint(out, (uint64_t)e->interval);
        if ((rc = tss_cov_put_bitmap(out, e->bm)) != 0)
            return rc;
    }
    if (out->oom)
        return tss_error_set(TSS_ENOMEM, "out of memory writing coverage");
    tss_buf_put_u64(out, tss_checksum(out->data + start, out->len - start));
    return out->oom ? tss_error_set(TSS_ENOMEM, "out of memory") : 0;
}

bool tss_cov_selected(const tss_cov_select *sel, const uint8_t *key,
                      size_t key_len)
{
    if (!sel)
        return true;
    if (sel->lo && tss_key_cmp(key, key_len, sel->lo, sel->lo_len) < 0)
        return false;
    if (sel->hi && tss_key_cmp(key, key_len, sel->hi, sel->hi_len) >= 0)
        return false;
    return !sel->match || sel->match(sel->ctx, key, key_len);
}

/* TSS_ECORRUPT from checking series `key`'s bitmap, said again naming
 * the series: "coverage file <rel>: series <ident> ds <ds>: <what>".
 * Other codes pass unchanged. */
static int name_series(int rc, const char *rel, const uint8_t *key, size_t klen)
{
    char prefix[256], ident[6 * (TSS_FIELD_MAX + 1)], what[512];
    uint8_t copy[TSS_KEY_MAX];
    const char *msg = tss_error_last();
    size_t plen;
    tss_key_view kv;

    if (rc != TSS_ECORRUPT || klen > sizeof(copy))
        return rc;
    plen = (size_t)snprintf(prefix, sizeof(prefix), "coverage file %s: ", rel);
    if (strncmp(msg, prefix, plen) == 0)
        msg += plen;
    snprintf(what, sizeof(what), "%s", msg);
    memcpy(copy, key, klen);
    if (tss_key_decode(copy, klen, &kv) != 0) /* decoded when it was read */
        return tss_cov_corrupt(rel, what);
    tss_series_id_format(ident, sizeof(ident), &kv.id);
    return tss_error_set(TSS_ECORRUPT, "coverage file %s: series %s ds %s: %s",
                         rel, ident, kv.id.ds, what);
}

/* What a segment's sidecar must say of itself. */
typedef struct sidecar_want {
    const uint8_t *uuid;
    int64_t window_start, bucket_width;
} sidecar_want;

/* The header against what the segment and STORE say (want NULL: not
 * checked; a zero bucket width: the uuid only): a sidecar that disagrees
 * would put its buckets elsewhere. */
static int check_header(const uint8_t *buf, const char *rel,
                        const sidecar_want *want)
{
    int64_t ws = (int64_t)tss_get_u64(buf + 32);
    int64_t bw = (int64_t)tss_get_u64(buf + 40);

    if (!want)
        return 0;
    if (memcmp(buf + 16, want->uuid, 16) != 0)
        return corrupt(rel, "sidecar belongs to another segment");
    if (!want->bucket_width)
        return 0;
    if (bw != want->bucket_width)
        return tss_error_set(TSS_ECORRUPT,
                             "coverage file %s: bucket width %" PRId64
                             " differs from STORE's %" PRId64,
                             rel, bw, want->bucket_width);
    if (ws != want->window_start)
        return tss_error_set(TSS_ECORRUPT,
                             "coverage file %s: window start %" PRId64
                             " differs from its segment's %" PRId64,
                             rel, ws, want->window_start);
    return 0;
}

/* tss_sidecar_decode keeping what `sel` selects (NULL: all), the header
 * checked against `want` (NULL: not). */
static int sidecar_decode(const uint8_t *buf, size_t len, const char *rel,
                          uint64_t max_buckets, const tss_cov_select *sel,
                          const sidecar_want *want, tss_sidecar *out)
{
    const uint8_t *body = NULL;
    size_t blen = 0, plen = 0;
    uint32_t count;
    uint8_t *prev = NULL, *loose = NULL; /* loose: prev, owned by no entry */
    tss_rd r;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_frame(buf, len, rel, &body, &blen)) != 0)
        return rc;
    memcpy(out->uuid, buf + 16, 16);
    out->window_start = (int64_t)tss_get_u64(buf + 32);
    out->bucket_width = (int64_t)tss_get_u64(buf + 40);
    count = tss_get_u32(buf + 48);
    if (out->bucket_width <= 0)
        return corrupt(rel, "bad bucket width");
    if ((rc = check_header(buf, rel, want)) != 0)
        return rc;
    if (count > blen / 3)
        return corrupt(rel, "series count does not fit the file");
    tss_rd_init(&r, body, blen);
    for (uint32_t i = 0; i < count; i++) {
        tss_cov_entry *e;
        uint8_t *key;
        size_t klen, flen;
        uint64_t interval;
        const uint8_t *frame;

        if ((rc = tss_cov_get_key(&r, rel, prev, plen, &key, &klen)) != 0)
            goto fail;
        tss_free(loose);
        loose = key; /* until an entry owns it */
        prev = key;
        plen = klen;
        if (!tss_rd_varint(&r, &interval) || interval > INT64_MAX) {
            rc = corrupt(rel, "bad interval");
            goto fail;
        }
        if ((rc = tss_cov_get_frame(&r, rel, &frame, &flen)) != 0)
            goto fail;
        if (!tss_cov_selected(sel, key, klen))
            continue; /* checksummed, never parsed */
        if (!(e = sidecar_push(out))) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto fail;
        }
        e->key = key;
        e->key_len = klen;
        loose = NULL;
        out->n++; /* owned from here: freed on failure */
        e->interval = (int64_t)interval;
        /* container by container before CRoaring parses it: bytes it
         * accepts need not be a valid bitmap (array values out of order
         * pass, and its maximum, the last value, then passes the range
         * check) */
        if ((rc = tss_cov_check_portable(frame, flen, rel)) != 0 ||
            (rc = tss_cov_parse_bitmap(frame, flen, rel, max_buckets,
                                       &e->bm)) != 0) {
            rc = name_series(rc, rel, key, klen);
            goto fail;
        }
    }
    if (tss_rd_left(&r) != 0) {
        rc = corrupt(rel, "trailing bytes");
        goto fail;
    }
    tss_free(loose);
    return 0;
fail:
    tss_free(loose);
    tss_sidecar_free(out);
    return rc;
}

int tss_sidecar_decode(const uint8_t *buf, size_t len, const char *rel,
                       uint64_t max_buckets, tss_sidecar *out)
{
    return sidecar_decode(buf, len, rel, max_buckets, NULL, NULL, out);
}

/* Reads the sidecar of want->uuid, its header checked against `want`
 * (the uuid only with a zero bucket width, as tss_sidecar_read does). */
static int sidecar_read(tss_storage *st, const sidecar_want *want,
                        uint64_t max_buckets, const tss_cov_select *sel,
                        tss_sidecar *out)
{
    char rel[128];
    uint8_t *buf;
    size_t len;
    int rc;

    tss_sidecar_path(rel, sizeof(rel), want->uuid);
    memset(out, 0, sizeof(*out));
    rc = tss_storage_read_all(st, rel, TSS_COV_MAX_FILE, &buf, &len);
    if (rc == TSS_EIO) {
        /* a name that is no regular file (a symbolic link planted there,
         * a directory) is a damaged sidecar, to be rebuilt and moved
         * aside like a corrupt one, not an I/O error */
        const char *what = tss_storage_not_regular(st, rel);

        if (what)
            rc = tss_error_set(TSS_ECORRUPT,
                               "coverage file %s: %s, not a regular file", rel,
                               what);
    }
    if (rc)
        return rc;
    rc = sidecar_decode(buf, len, rel, max_buckets, sel, want, out);
    tss_free(buf);
    return rc;
}

int tss_sidecar_read_seg(tss_storage *st, const tss_seg_name *sn,
                         int64_t bucket_width, const tss_cov_select *sel,
                         tss_sidecar *out)
{
    sidecar_want want = {sn->uuid, sn->start, bucket_width};

    memset(out, 0, sizeof(*out));
    if (bucket_width <= 0 || sn->end <= sn->start)
        return tss_error_set(TSS_EINVAL, "bad window or bucket width");
    /* the segment's window bounds its buckets (a rollup's is wider) */
    return sidecar_read(
        st, &want, (uint64_t)((sn->end - sn->start) / bucket_width), sel, out);
}

int tss_sidecar_read(tss_storage *st, const uint8_t uuid[16],
                     uint64_t max_buckets, tss_sidecar *out)
{
    sidecar_want want = {uuid, 0, 0};

    return sidecar_read(st, &want, max_buckets, NULL, out);
}

void tss_sidecar_select(tss_sidecar *sc, const tss_cov_select *sel)
{
    size_t k = 0;

    for (size_t i = 0; i < sc->n; i++) {
        tss_cov_entry *e = &sc->entries[i];

        if (tss_cov_selected(sel, e->key, e->key_len)) {
            sc->entries[k++] = *e;
            continue;
        }
        tss_free(e->key);
        if (e->bm)
            roaring_bitmap_free(e->bm);
    }
    sc->n = k;
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

/* ---- a bitmap's runs, read in place ------------------------------------
 *
 * Roaring's portable format (https://github.com/RoaringBitmap/
 * RoaringFormatSpec): a cookie (12346, then a u32 container count; or
 * 12347 + (count - 1) << 16, then a bit per container telling run
 * containers), per container u16 key and u16 cardinality - 1, an offset
 * header (u32 per container: not read, as CRoaring does not), then the
 * containers: runs (u16 count, then u16 start and u16 length - 1 each),
 * arrays (cardinality <= 4096: sorted u16 values) or bitsets (1024 u64).
 */

#define COOKIE_NO_RUNS 12346
#define COOKIE_RUNS 12347
#define NO_OFFSET_THRESHOLD 4
#define ARRAY_MAX 4096
#define BITSET_BYTES 8192

/* Reads the headers: 0, or -1 when they do not fit or make no sense. */
static int runs_head(tss_cov_runs *r, const uint8_t *p, size_t len)
{
    uint32_t cookie, n;
    size_t pos;

    /* all but dil (8 KB, written before it is read: dilate) */
    memset(r, 0, offsetof(tss_cov_runs, dil));
    r->p = p;
    r->end = p + len;
    if (len < 4)
        return -1;
    cookie = tss_get_u32(p);
    if ((cookie & 0xFFFF) == COOKIE_RUNS) {
        n = (cookie >> 16) + 1;
        r->runflags = p + 4;
        pos = 4 + (n + 7) / 8;
    } else if (cookie == COOKIE_NO_RUNS && len >= 8) {
        n = tss_get_u32(p + 4);
        pos = 8;
    } else {
        return -1;
    }
    if (n > 65536 || pos > len || len - pos < 4 * (size_t)n)
        return -1;
    r->desc = p + pos;
    pos += 4 * (size_t)n;
    if (!r->runflags || n >= NO_OFFSET_THRESHOLD) {
        if (len - pos < 4 * (size_t)n)
            return -1;
        pos += 4 * (size_t)n;
    }
    r->data = p + pos;
    r->n = n;
    r->i = 0;
    r->type = -1; /* no container open */
    return 0;
}

/* d |= d shifted up by t bits (toward higher values), in place. */
static void shift_or(uint64_t *d, uint32_t t)
{
    size_t wt = t / 64;
    unsigned bt = t % 64;

    for (size_t k = 1024; k-- > wt;) {
        uint64_t v = d[k - wt] << bt;

        if (bt && k > wt)
            v |= d[k - wt - 1] >> (64 - bt);
        d[k] |= v;
    }
}

/*
 * A bitset container with slack: r->dil gets its bits dilated by the slack
 * (bit x set when a value lies in [x - slack, x]), so that a run of r->dil
 * is one merged run, found in two word scans instead of one per run of
 * values (a series written every 60 s in 10 s buckets has ~11,000 runs in
 * a container, none of them apart by more than its tolerance). Shifts by
 * 1, 2, 4, ... dilate by [0, 1], [0, 3], [0, 7], ...; one more shift by
 * what is left (no more than the dilation so far, plus one) ends at
 * exactly [0, slack]. At 65535 or more every bit after the first is set.
 */
static void dilate(tss_cov_runs *r)
{
    uint64_t *d = r->dil;
    uint32_t s = r->slack, c = 0;

    if (s > 65535)
        s = 65535;
    for (size_t k = 0; k < 1024; k++)
        d[k] = tss_get_u64(r->data + 8 * k);
    for (uint32_t t = 1; c + t <= s; t <<= 1) {
        shift_or(d, t);
        c += t;
    }
    if (s > c)
        shift_or(d, s - c);
}

/* Opens container r->i at r->data: false when its bytes do not fit. */
static bool runs_open(tss_cov_runs *r)
{
    size_t left = (size_t)(r->end - r->data);
    uint32_t card = (uint32_t)tss_get_u16(r->desc + 4 * r->i + 2) + 1;

    r->base = (uint32_t)tss_get_u16(r->desc + 4 * r->i) << 16;
    r->k = 0;
    if (r->runflags && (r->runflags[r->i / 8] >> (r->i % 8)) & 1) {
        if (left < 2)
            return false;
        r->kn = tss_get_u16(r->data);
        if (left - 2 < 4 * (size_t)r->kn)
            return false;
        r->data += 2;
        r->type = 2;
    } else if (card <= ARRAY_MAX) {
        if (left < 2 * (size_t)card)
            return false;
        r->kn = card;
        r->type = 0;
    } else {
        if (left < BITSET_BYTES)
            return false;
        r->kn = 65536;
        r->type = 1;
        r->dilated = false; /* when first read: seek skips it unread */
    }
    return true;
}

/* Moves past the open container. */
static void runs_close(tss_cov_runs *r)
{
    r->data += r->type == 2   ? 4 * (size_t)r->kn
               : r->type == 0 ? 2 * (size_t)r->kn
                              : BITSET_BYTES;
    r->type = -1;
    r->i++;
}

/* Bitset: the first bit >= pos that is `set` (1) or clear (0), or 65536;
 * words little-endian bytes (the file's) or, with dil, native words. */
static uint32_t bit_find(const uint8_t *words, const uint64_t *dil,
                         uint32_t pos, int set)
{
    while (pos < 65536) {
        uint64_t w = dil ? dil[pos / 64] : tss_get_u64(words + 8 * (pos / 64));

        if (!set)
            w = ~w;
        w &= ~UINT64_C(0) << (pos % 64);
        if (w)
            return (pos & ~UINT32_C(63)) + (uint32_t)__builtin_ctzll(w);
        pos = (pos & ~UINT32_C(63)) + 64;
    }
    return 65536;
}

/* The next run of the open container, not merged across: 1, 0 when the
 * container is done, -1 on bytes that are no valid container. */
static int runs_raw(tss_cov_runs *r, uint32_t *lo, uint32_t *hi)
{
    uint32_t a, b;

    if (r->k >= r->kn)
        return 0;
    switch (r->type) {
    case 0: {
        /* values increase (checked at load): the next one continues the
         * run when at most `slack` values are missing before it */
        uint64_t reach;

        a = b = tss_get_u16(r->data + 2 * (size_t)r->k++);
        reach = (uint64_t)b + 1 + r->slack;
        while (r->k < r->kn) {
            uint32_t v = tss_get_u16(r->data + 2 * (size_t)r->k);

            if (v > reach)
                break;
            b = v;
            reach = (uint64_t)b + 1 + r->slack;
            r->k++;
        }
        break;
    }
    case 2:
        a = tss_get_u16(r->data + 4 * (size_t)r->k);
        b = a + tss_get_u16(r->data + 4 * (size_t)r->k + 2);
        r->k++;
        if (b > 65535)
            return -1;
        break;
    default:
        if (r->slack && !r->dilated) {
            dilate(r);
            r->dilated = true;
        }
        a = bit_find(r->data, r->slack ? r->dil : NULL, r->k, 1);
        if (a == 65536) {
            r->k = r->kn;
            return 0;
        }
        b = bit_find(r->data, r->slack ? r->dil : NULL, a, 0) - 1;
        r->k = b + 1;
        /* a dilated run ends `slack` past its last value, or at the
         * container's end: then the last value is found by looking back */
        if (r->slack && (b == 65535 || b - a < r->slack)) {
            while (!(r->data[b / 8] >> (b % 8) & 1))
                b--;
        } else if (r->slack) {
            b -= r->slack;
        }
        break;
    }
    *lo = r->base | a;
    *hi = r->base | b;
    return 1;
}

int tss_cov_runs_start(tss_cov_runs *r, const tss_cov_entry *e,
                       tss_buf *scratch, uint32_t slack)
{
    const uint8_t *p = e->ser;
    size_t len = e->ser_len;

    if (e->bm) {
        len = roaring_bitmap_portable_size_in_bytes(e->bm);
        scratch->len = 0;
        if (!tss_buf_reserve(scratch, len))
            return tss_error_set(TSS_ENOMEM, "out of memory");
        scratch->len =
            roaring_bitmap_portable_serialize(e->bm, (char *)scratch->data);
        p = scratch->data;
        len = scratch->len;
    }
    if (runs_head(r, p, len) != 0)
        r->bad = true;
    r->slack = slack;
    return 0;
}

void tss_cov_runs_seek(tss_cov_runs *r, uint32_t v)
{
    while (!r->bad && r->i < r->n &&
           tss_get_u16(r->desc + 4 * r->i) < v >> 16) {
        if (r->type < 0 && !runs_open(r)) {
            r->bad = true;
            return;
        }
        runs_close(r);
    }
}

size_t tss_cov_runs_read(tss_cov_runs *r, uint32_t (*out)[2], size_t max)
{
    size_t n = 0;

    while (n < max && !r->bad && r->i < r->n) {
        uint32_t a, b;
        int got;

        if (r->type < 0 && !runs_open(r)) {
            r->bad = true;
            break;
        }
        if ((got = runs_raw(r, &a, &b)) < 0) {
            r->bad = true;
            break;
        }
        if (got == 0) {
            runs_close(r);
            continue;
        }
        if (r->have && a <= (uint64_t)r->hi + 1 + r->slack) {
            if (b > r->hi)
                r->hi = b;
            continue;
        }
        if (r->have) {
            out[n][0] = r->lo;
            out[n][1] = r->hi;
            n++;
        }
        r->have = true;
        r->lo = a;
        r->hi = b;
    }
    /* at the end (or at bad bytes: what came before them is returned) */
    if (n < max && r->have && (r->bad || r->i >= r->n)) {
        out[n][0] = r->lo;
        out[n][1] = r->hi;
        n++;
        r->have = false;
    }
    return n;
}

bool tss_cov_runs_next(tss_cov_runs *r, uint32_t *lo, uint32_t *hi)
{
    uint32_t run[1][2];

    if (tss_cov_runs_read(r, run, 1) == 0)
        return false;
    *lo = run[0][0];
    *hi = run[0][1];
    return true;
}

int tss_cov_check_portable(const uint8_t *p, size_t len, const char *rel)
{
    tss_cov_runs r;
    int rc;

    if ((rc = check_size(p, len, rel)) != 0)
        return rc;
    if (runs_head(&r, p, len) != 0)
        return corrupt(rel, "bitmap headers do not fit");
    for (; r.i < r.n;) {
        uint32_t card = (uint32_t)tss_get_u16(r.desc + 4 * r.i + 2) + 1;
        uint32_t seen = 0, a, b;
        int64_t last = -1;
        int got;

        if (r.i > 0 && tss_get_u16(r.desc + 4 * r.i) <=
                           tss_get_u16(r.desc + 4 * (r.i - 1)))
            return corrupt(rel, "bitmap containers out of order");
        if (!runs_open(&r))
            return corrupt(rel, "bitmap container overruns its frame");
        if (r.type == 0) { /* card values, strictly increasing */
            for (uint32_t k = 0; k < r.kn; k++) {
                uint32_t v = tss_get_u16(r.data + 2 * (size_t)k);

                if ((int64_t)v <= last)
                    return corrupt(rel, "bitmap values out of order");
                last = v;
            }
        } else if (r.type == 1) { /* card bits set */
            for (size_t k = 0; k < BITSET_BYTES; k += 8)
                seen += (uint32_t)__builtin_popcountll(tss_get_u64(r.data + k));
            if (seen != card)
                return corrupt(rel, "bitmap container cardinality "
                                    "disagrees with its values");
        } else { /* runs ordered, apart, inside the container, card
                    values in all */
            while ((got = runs_raw(&r, &a, &b)) == 1) {
                if ((int64_t)(a & 0xFFFF) <= last)
                    return corrupt(rel, "bitmap runs out of order");
                last = b & 0xFFFF;
                seen += (b - a) + 1;
            }
            if (got < 0)
                return corrupt(rel, "bitmap run beyond its container");
            if (seen != card)
                return corrupt(rel, "bitmap container cardinality "
                                    "disagrees with its values");
        }
        runs_close(&r);
    }
    if (r.data != r.end)
        return corrupt(rel, "bytes after the bitmap's last container");
    return 0;
}
