/*
 * Point compression (codec_gorilla.c): every data set goes through both the
 * chunk codec (tss_chunk_encode/decode) and the head's incremental encoder
 * (tss_enc_append/decode) and must come back bit-exact. Then the decoder is
 * fed truncated, bit-flipped, crafted and random chunks placed right before
 * an inaccessible page, so a read past the end crashes the test.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <float.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec_gorilla.h"

#define NPTS(a) (sizeof(a) / sizeof((a)[0]))

static tss_point pt(int64_t t, uint64_t bits)
{
    tss_point p;

    p.t = t;
    p.v.bits = bits;
    return p;
}

static uint64_t dbits(double d)
{
    uint64_t b;

    memcpy(&b, &d, 8);
    return b;
}

static void assert_points(const tss_point *got, const tss_point *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i].t != want[i].t || got[i].v.bits != want[i].v.bits)
            fail_msg("point %zu: got (%" PRId64 ", %016" PRIx64
                     "), want (%" PRId64 ", %016" PRIx64 ")",
                     i, got[i].t, got[i].v.bits, want[i].t, want[i].v.bits);
}

/* Encodes pts as one chunk; the caller frees buf. */
static void encode(tss_buf *buf, int kind, int64_t base, const tss_point *pts,
                   size_t n)
{
    memset(buf, 0, sizeof(*buf));
    assert_int_equal(tss_chunk_encode(buf, kind, base, pts, n), 0);
}

static void check_chunk(int kind, int64_t base, const tss_point *pts, size_t n)
{
    tss_buf buf;
    tss_point *out = NULL;
    size_t on = 0, cap = 0;
    uint64_t count;

    encode(&buf, kind, base, pts, n);
    assert_int_equal(tss_chunk_count(buf.data, buf.len, &count), 0);
    assert_int_equal(count, n);
    assert_int_equal(
        tss_chunk_decode(buf.data, buf.len, kind, base, n, &out, &on, &cap), 0);
    assert_int_equal(on, n);
    assert_points(out, pts, n);
    /* max_points is a hard bound; a refused chunk leaves *n alone */
    assert_int_equal(
        tss_chunk_decode(buf.data, buf.len, kind, base, n - 1, &out, &on, &cap),
        TSS_ECORRUPT);
    assert_int_equal(on, n);
    /* decoding appends */
    assert_int_equal(
        tss_chunk_decode(buf.data, buf.len, kind, base, n, &out, &on, &cap), 0);
    assert_int_equal(on, 2 * n);
    assert_points(out + n, pts, n);
    tss_free(out);
    tss_buf_free(&buf);
}

/* Two encoders say the same: state and every bit of both streams. */
static void assert_same_enc(const tss_enc *a, const tss_enc *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->t0, b->t0);
    assert_int_equal(a->last_t, b->last_t);
    assert_int_equal(a->last_delta, b->last_delta);
    assert_int_equal(a->v0, b->v0);
    assert_int_equal(a->last_v, b->last_v);
    assert_int_equal(a->last_vdelta, b->last_vdelta);
    assert_int_equal(a->lead, b->lead);
    assert_int_equal(a->trail, b->trail);
    assert_int_equal(a->ts.nbits, b->ts.nbits);
    assert_int_equal(a->val.nbits, b->val.nbits);
    assert_memory_equal(a->ts.buf.data, b->ts.buf.data, a->ts.buf.len);
    assert_memory_equal(a->val.buf.data, b->val.buf.data, a->val.buf.len);
}

/*
 * The head snapshot's way (snapshot.h): the bits appended after point k,
 * taken with tss_enc_copy_since, replayed into an encoder of the first k
 * points give the encoder of all n, bit for bit; cut short by one bit
 * they are corrupt, and the encoder and reader are left as they were.
 */
static void check_replay(int kind, const tss_point *pts, size_t n, size_t k)
{
    tss_enc whole, part;
    tss_bits w = {0};
    tss_bitrd r;
    uint64_t ts_from, val_from;

    tss_enc_init(&whole, kind);
    tss_enc_init(&part, kind);
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(tss_enc_append(&whole, pts[i].t, pts[i].v), 0);
        assert_int_equal(tss_enc_append(&part, pts[i].t, pts[i].v), 0);
    }
    ts_from = whole.ts.nbits;
    val_from = whole.val.nbits;
    for (size_t i = k; i < n; i++)
        assert_int_equal(tss_enc_append(&whole, pts[i].t, pts[i].v), 0);
    assert_int_equal(tss_enc_copy_since(&whole, ts_from, val_from, &w), 0);

    r = (tss_bitrd){w.buf.data, 0, w.nbits - 1};
    if (w.nbits > 0) {
        assert_int_equal(tss_enc_replay(&part, &r, (uint32_t)(n - k)),
                         TSS_ECORRUPT);
        assert_int_equal(r.pos, 0);
        assert_int_equal(part.count, k);
        assert_int_equal(part.ts.nbits, ts_from);
        assert_int_equal(part.val.nbits, val_from);
    }
    r = (tss_bitrd){w.buf.data, 0, w.nbits};
    assert_int_equal(tss_enc_replay(&part, &r, (uint32_t)(n - k)), 0);
    assert_int_equal(r.pos, w.nbits);
    assert_same_enc(&part, &whole);
    /* and it goes on from there like the original */
    assert_int_equal(
        tss_enc_append(&whole, pts[n - 1].t + 7, pt(0, pts[0].v.bits).v), 0);
    assert_int_equal(
        tss_enc_append(&part, pts[n - 1].t + 7, pt(0, pts[0].v.bits).v), 0);
    assert_same_enc(&part, &whole);
    tss_buf_free(&w.buf);
    tss_enc_free(&whole);
    tss_enc_free(&part);
}

static void check_enc(int kind, const tss_point *pts, size_t n)
{
    tss_enc e;
    tss_point *out = NULL;
    size_t on = 0, cap = 0;

    tss_enc_init(&e, kind);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tss_enc_append(&e, pts[i].t, pts[i].v), 0);
    assert_int_equal(tss_enc_decode(&e, &out, &on, &cap), 0);
    assert_int_equal(on, n);
    assert_points(out, pts, n);
    assert_int_equal(tss_enc_decode(&e, &out, &on, &cap), 0);
    assert_int_equal(on, 2 * n);
    assert_points(out + n, pts, n);
    tss_free(out);
    tss_enc_free(&e);
    if (n >= 2) {
        check_replay(kind, pts, n, 1);
        check_replay(kind, pts, n, n / 3 ? n / 3 : 1);
        check_replay(kind, pts, n, n - 1);
    }
}

/* Both codecs, and the chunk codec against several segment bases. */
static void check_roundtrip(int kind, const tss_point *pts, size_t n)
{
    const int64_t bases[] = {
        0, pts[0].t, pts[0].t - 1000003, pts[n - 1].t, INT64_MIN, INT64_MAX};

    for (size_t b = 0; b < NPTS(bases); b++)
        check_chunk(kind, bases[b], pts, n);
    check_enc(kind, pts, n);
}

/* Each point alone, then all together. */
static void check_each_and_all(int kind, const tss_point *pts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_roundtrip(kind, &pts[i], 1);
    check_roundtrip(kind, pts, n);
}

static const uint64_t SPECIAL_GAUGES[] = {
    UINT64_C(0x7ff8000000000000), /* quiet NaN */
    UINT64_C(0xfff8000000000000), /* negative quiet NaN */
    UINT64_C(0x7ff8deadbeef1234), /* quiet NaN with payload */
    UINT64_C(0xfffc0000000000ff), /* negative NaN with payload */
    UINT64_C(0x7ff0000000000001), /* signalling NaN, smallest payload */
    UINT64_C(0x7ff4000000000000), /* signalling NaN */
    UINT64_C(0xfff0000000000001), /* negative signalling NaN */
    UINT64_C(0x7fffffffffffffff), /* NaN, all payload bits */
    UINT64_C(0xffffffffffffffff), /* negative NaN, all bits */
    UINT64_C(0x7ff0000000000000), /* +Inf */
    UINT64_C(0xfff0000000000000), /* -Inf */
    UINT64_C(0x8000000000000000), /* -0.0 */
    UINT64_C(0x0000000000000000), /* +0.0 */
    UINT64_C(0x0010000000000000), /* DBL_MIN */
    UINT64_C(0x7fefffffffffffff), /* DBL_MAX */
    UINT64_C(0xffefffffffffffff), /* -DBL_MAX */
    UINT64_C(0x0000000000000001), /* smallest denormal */
    UINT64_C(0x000fffffffffffff), /* largest denormal */
    UINT64_C(0x8000000000000001), /* negative denormal */
    UINT64_C(0x3ff0000000000000), /* 1.0 */
};

static void test_gauge_special_values(void **state)
{
    enum { N = NPTS(SPECIAL_GAUGES) };
    tss_point pts[N], mix[400];
    uint64_t seed = 11;

    /* the table's patterns are what the names say */
    assert_true(SPECIAL_GAUGES[13] == dbits(DBL_MIN));
    assert_true(SPECIAL_GAUGES[14] == dbits(DBL_MAX));
    assert_true(SPECIAL_GAUGES[15] == dbits(-DBL_MAX));
    assert_true(SPECIAL_GAUGES[19] == dbits(1.0));
    for (size_t i = 0; i < N; i++)
        pts[i] = pt((int64_t)i * 1000 - 5000, SPECIAL_GAUGES[i]);
    check_each_and_all(TSS_KIND_GAUGE, pts, N);

    /* random picks, repeats included, mixed with ordinary numbers */
    for (size_t i = 0; i < NPTS(mix); i++) {
        uint64_t r = tt_rand(&seed);

        mix[i] = pt((int64_t)i * 10,
                    r % 3 ? SPECIAL_GAUGES[r % N] : dbits((double)(r >> 40)));
    }
    check_roundtrip(TSS_KIND_GAUGE, mix, NPTS(mix));
}

static void test_integer_extremes(void **state)
{
    const uint64_t derive[] = {
        0,
        (uint64_t)INT64_MIN,
        (uint64_t)INT64_MAX,
        (uint64_t)INT64_C(-1),
        1,
        (uint64_t)INT64_MIN,
        (uint64_t)(INT64_MIN + 1),
        (uint64_t)(INT64_MAX - 1),
        (uint64_t)INT64_MAX,
        0,
        (uint64_t)INT64_MAX,
        (uint64_t)INT64_MIN,
    };
    const uint64_t counter[] = {
        0,          1, UINT64_MAX - 2, UINT64_MAX - 1, UINT64_MAX, 0, 1, 2,
        UINT64_MAX, 0, UINT64_MAX,     UINT64_MAX,     0,          0,
    };
    tss_point pts[NPTS(counter)], wrap[300];

    for (size_t i = 0; i < NPTS(derive); i++)
        pts[i] = pt((int64_t)i * 60000, derive[i]);
    check_each_and_all(TSS_KIND_DERIVE, pts, NPTS(derive));
    for (size_t i = 0; i < NPTS(counter); i++)
        pts[i] = pt(1700000000000 + (int64_t)i * 10000, counter[i]);
    check_each_and_all(TSS_KIND_COUNTER, pts, NPTS(counter));
    check_each_and_all(TSS_KIND_ABSOLUTE, pts, NPTS(counter));

    /* a steady counter that wraps past UINT64_MAX half way */
    for (size_t i = 0; i < NPTS(wrap); i++)
        wrap[i] = pt((int64_t)i * 10000, UINT64_MAX - 1000 + 7 * i);
    assert_true(wrap[0].v.counter > wrap[NPTS(wrap) - 1].v.counter);
    check_roundtrip(TSS_KIND_COUNTER, wrap, NPTS(wrap));
    check_roundtrip(TSS_KIND_ABSOLUTE, wrap, NPTS(wrap));
}

static void check_times_all_kinds(const int64_t *ts, size_t n, uint64_t seed)
{
    tss_point *pts = calloc(n, sizeof(*pts));

    assert_non_null(pts);
    for (int kind = TSS_KIND_GAUGE; kind <= TSS_KIND_ABSOLUTE; kind++) {
        for (size_t i = 0; i < n; i++)
            pts[i] = pt(ts[i], tt_rand(&seed));
        check_roundtrip(kind, pts, n);
    }
    free(pts);
}

static void test_timestamps(void **state)
{
    const int64_t lim = INT64_C(1) << 62;
    const int64_t gaps[] = {0,
                            1,
                            2,
                            INT64_C(1) << 40,
                            (INT64_C(1) << 40) + 1,
                            INT64_C(1) << 50,
                            (INT64_C(1) << 61) + 12345,
                            lim};
    const int64_t negative[] = {-INT64_C(1000000000000000),
                                -INT64_C(999999999999990),
                                -7200000,
                                -7199999,
                                -1000,
                                -1,
                                0,
                                1};
    const int64_t extremes[] = {-lim, -lim + 1,   -lim + 1000, -1,
                                0,    lim - 1000, lim - 1,     lim};
    const int64_t edges[] = {-lim, lim}; /* one delta of 2^63 */
    int64_t jitter[3000];
    uint64_t seed = 21;

    for (size_t i = 0; i < NPTS(jitter); i++)
        jitter[i] = 1700000000000 + (int64_t)i * 10000 +
                    (int64_t)tt_below(&seed, 101) - 50;
    check_times_all_kinds(jitter, NPTS(jitter), 1);
    check_times_all_kinds(gaps, NPTS(gaps), 2);
    check_times_all_kinds(negative, NPTS(negative), 3);
    check_times_all_kinds(extremes, NPTS(extremes), 4);
    check_times_all_kinds(edges, NPTS(edges), 5);
}

/* Irregular timestamps: mostly 10 s apart with jitter, now and then a gap
 * of hours or a burst of 1 ms steps. */
static void walk_times(tss_point *pts, size_t n, uint64_t *seed)
{
    int64_t t = -86400000;

    for (size_t i = 0; i < n; i++) {
        uint64_t r = tt_below(seed, 100);

        t += r < 2    ? (int64_t)tt_below(seed, 36000000) + 1
             : r < 10 ? 1
                      : 10000 + (int64_t)tt_below(seed, 201) - 100;
        pts[i].t = t;
    }
}

static void test_random_walks(void **state)
{
    enum { N = 5000 };
    tss_point *pts = calloc(N, sizeof(*pts));
    uint64_t seed = 31;
    double g = 100.0;
    int64_t x = 0, d = 0;
    uint64_t c = UINT64_MAX - 100000;

    assert_non_null(pts);
    walk_times(pts, N, &seed);
    for (size_t i = 0; i < N; i++) { /* arbitrary doubles */
        g += ((double)tt_below(&seed, 2000001) - 1000000.0) / 3.0e5;
        pts[i].v.gauge = g;
    }
    check_roundtrip(TSS_KIND_GAUGE, pts, N);

    for (size_t i = 0; i < N; i++) { /* two-decimal gauges */
        x += (int64_t)tt_below(&seed, 201) - 100;
        pts[i].v.gauge = (double)x / 100.0;
    }
    check_roundtrip(TSS_KIND_GAUGE, pts, N);

    for (size_t i = 0; i < N; i++) { /* integral gauges */
        x += (int64_t)tt_below(&seed, 2001) - 1000;
        pts[i].v.gauge = (double)x;
    }
    check_roundtrip(TSS_KIND_GAUGE, pts, N);

    for (size_t i = 0; i < N; i++) { /* small steps, now and then huge */
        uint64_t r = tt_rand(&seed);

        /* wrapping, as the codec's arithmetic does */
        d = (int64_t)((uint64_t)d + (r % 50 ? (uint64_t)(r % 2001) - 1000 : r));
        pts[i].v.derive = d;
    }
    check_roundtrip(TSS_KIND_DERIVE, pts, N);

    for (size_t i = 0; i < N; i++) { /* increasing, wraps once */
        c += tt_below(&seed, 1000);
        pts[i].v.counter = c;
    }
    check_roundtrip(TSS_KIND_COUNTER, pts, N);
    check_roundtrip(TSS_KIND_ABSOLUTE, pts, N);
    free(pts);
}

/*
 * Decimal gauges with few digits are stored as scaled integers: the codec
 * byte says an integer mode (delta or delta-of-delta) and the decimal
 * exponent k. Each case is built as x / 10^k, so k is known.
 */
static void check_scaled(const tss_point *pts, size_t n, int want_k)
{
    tss_buf buf;

    encode(&buf, TSS_KIND_GAUGE, 0, pts, n);
    if (want_k < 0) {
        assert_int_equal(buf.data[0], TSS_VMODE_XOR);
    } else {
        assert_int_equal(buf.data[0] >> 4, want_k);
        assert_true((buf.data[0] & 15) == TSS_VMODE_DELTA ||
                    (buf.data[0] & 15) == TSS_VMODE_DOD);
    }
    tss_buf_free(&buf);
    check_roundtrip(TSS_KIND_GAUGE, pts, n);
}

static void test_scaled_decimal_gauges(void **state)
{
    enum { N = 200 };
    tss_point pts[N];

    for (size_t i = 0; i < N; i++) /* 0.061523, 0.061540, ... */
        pts[i] = pt((int64_t)i * 1000, dbits((61523 + 17.0 * i) / 1e6));
    assert_true(pts[0].v.gauge == 0.061523);
    check_scaled(pts, N, 6);

    for (size_t i = 0; i < N; i++) /* 12.5, 13, 13.5, ... */
        pts[i].v.gauge = (125 + 5.0 * i) / 10.0;
    assert_true(pts[0].v.gauge == 12.5);
    check_scaled(pts, N, 1);

    for (size_t i = 0; i < N; i++) /* 12.5 and 0.061523 together: k = 6 */
        pts[i].v.gauge = i % 2 ? 12.5 : 0.061523;
    check_scaled(pts, N, 6);

    for (size_t i = 0; i < N; i++) /* integral, negative ones too */
        pts[i].v.gauge = (double)(3 * (int64_t)i - (int64_t)i % 7 * 11 - 300);
    check_scaled(pts, N, 0);

    for (size_t i = 0; i < N; i++) /* fifteen decimals: the largest k */
        pts[i].v.gauge = (123456789012345.0 + (double)i * 1000) / 1e15;
    check_scaled(pts, N, 15);

    /* not representable as a scaled integer: XOR */
    for (size_t i = 0; i < N; i++) /* sixteen decimals */
        pts[i].v.gauge = (1234567890123457.0 + (double)i * 10) / 1e16;
    check_scaled(pts, N, -1);
    for (size_t i = 0; i < N; i++) /* -0.0 among integers */
        pts[i].v.bits = i == N / 2 ? dbits(-0.0) : dbits((double)i);
    check_scaled(pts, N, -1);
    for (size_t i = 0; i < N; i++) /* NaN among decimals */
        pts[i].v.bits = i == 7 ? UINT64_C(0x7ff8000000000001)
                               : dbits((125 + 5.0 * i) / 10.0);
    check_scaled(pts, N, -1);
    for (size_t i = 0; i < N; i++) /* integers beyond 2^53 */
        pts[i].v.gauge = 1e16 + 2.0 * (double)i;
    check_scaled(pts, N, -1);
    for (size_t i = 0; i < N; i++) /* 0.1 + 0.2 needs 17 digits */
        pts[i].v.gauge = i % 2 ? 0.1 + 0.2 : 0.5;
    check_scaled(pts, N, -1);
}

static void test_encode_rejects_bad_input(void **state)
{
    tss_point pts[3] = {pt(1, 0), pt(2, 0), pt(2, 0)};
    tss_buf buf = {0};

    assert_int_equal(tss_chunk_encode(&buf, TSS_KIND_GAUGE, 0, pts, 0),
                     TSS_EINVAL);
    assert_int_equal(tss_chunk_encode(&buf, TSS_KIND_GAUGE, 0, pts, 3),
                     TSS_EINVAL); /* duplicate time */
    pts[2].t = 0;
    assert_int_equal(tss_chunk_encode(&buf, TSS_KIND_DERIVE, 0, pts, 3),
                     TSS_EINVAL); /* going back */
    assert_int_equal(tss_chunk_encode(&buf, 0, 0, pts, 1), TSS_EINVAL);
    assert_int_equal(tss_chunk_encode(&buf, 5, 0, pts, 1), TSS_EINVAL);
    tss_buf_free(&buf);
}

/* ---- decoder robustness ------------------------------------------------- */

/* Bytes placed so that the first byte after them is an inaccessible page. */
typedef struct guarded {
    uint8_t *map, *data;
    size_t maplen;
} guarded;

static void guard(guarded *g, const uint8_t *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = len / page + 2;

    g->maplen = pages * page;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g->map != MAP_FAILED);
    assert_int_equal(mprotect(g->map + (pages - 1) * page, page, PROT_NONE), 0);
    g->data = g->map + (pages - 1) * page - len;
    if (len)
        memcpy(g->data, p, len);
}

static void unguard(guarded *g)
{
    munmap(g->map, g->maplen);
}

/* Decodes untrusted bytes: either TSS_ECORRUPT with nothing added, or
 * success with at most max_points points in strictly increasing time. */
static int decode_untrusted(const uint8_t *p, size_t len, int kind,
                            size_t max_points)
{
    guarded g;
    tss_point *out = NULL;
    size_t n = 1, cap = 0;
    uint64_t count;
    int rc;

    guard(&g, p, len);
    rc = tss_chunk_count(g.data, len, &count);
    assert_true(rc == 0 || rc == TSS_ECORRUPT);
    rc = tss_chunk_decode(g.data, len, kind, 0, max_points, &out, &n, &cap);
    unguard(&g);
    if (rc == 0) {
        assert_true(n > 1 && n - 1 <= max_points);
        for (size_t i = 2; i < n; i++)
            assert_true(out[i].t > out[i - 1].t);
    } else {
        assert_int_equal(rc, TSS_ECORRUPT);
        assert_int_equal(n, 1);
    }
    tss_free(out);
    return rc;
}

/* One sample chunk per value mode. */
static void sample_chunk(tss_buf *buf, int which, int *kind, size_t *n)
{
    enum { N = 300 };
    tss_point pts[N];
    uint64_t seed = 41 + (uint64_t)which;

    walk_times(pts, N, &seed);
    for (size_t i = 0; i < N; i++) {
        uint64_t r = tt_rand(&seed);

        switch (which) {
        case 0: /* XOR */
            pts[i].v.gauge = (double)(r >> 11) / 7.0;
            break;
        case 1: /* scaled decimal */
            pts[i].v.gauge = (double)(int64_t)(r % 100000) / 1000.0;
            break;
        case 2:
            pts[i].v.derive = (int64_t)r >> (r % 64);
            break;
        default:
            pts[i].v.counter = r % 1000 + i * 1000;
            break;
        }
    }
    *kind = which < 2    ? TSS_KIND_GAUGE
            : which == 2 ? TSS_KIND_DERIVE
                         : TSS_KIND_COUNTER;
    *n = N;
    encode(buf, *kind, 0, pts, N);
}

static void test_truncated_chunks(void **state)
{
    for (int which = 0; which < 4; which++) {
        tss_buf buf;
        int kind;
        size_t n;

        sample_chunk(&buf, which, &kind, &n);
        assert_int_equal(decode_untrusted(buf.data, buf.len, kind, n), 0);
        for (size_t len = 0; len < buf.len; len++)
            assert_int_equal(decode_untrusted(buf.data, len, kind, n),
                             TSS_ECORRUPT);
        tss_buf_free(&buf);
    }
}

static void test_flipped_bytes(void **state)
{
    static const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};

    for (int which = 0; which < 4; which++) {
        tss_buf buf;
        int kind;
        size_t n, corrupt = 0;

        sample_chunk(&buf, which, &kind, &n);
        for (size_t i = 0; i < buf.len; i++) {
            for (size_t m = 0; m < NPTS(masks); m++) {
                buf.data[i] ^= masks[m];
                /* a bound well above the count, to reach the streams */
                if (decode_untrusted(buf.data, buf.len, kind, 1u << 20))
                    corrupt++;
                buf.data[i] ^= masks[m];
            }
        }
        /* header damage at least is always detected */
        assert_true(corrupt > 0);
        tss_buf_free(&buf);
    }
}

static void test_random_garbage(void **state)
{
    uint64_t seed = 51;
    uint8_t junk[96];

    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)tt_below(&seed, sizeof(junk) + 1);

        for (size_t k = 0; k < len; k++)
            junk[k] = (uint8_t)tt_rand(&seed);
        if (len && i % 2) /* a plausible codec byte */
            junk[0] = (uint8_t)tt_below(&seed, 3);
        (void)decode_untrusted(junk, len, 1 + (int)tt_below(&seed, 4),
                               1u << 16);
    }
}

static void test_crafted_chunks(void **state)
{
    /* codec, count, zz(t0), v0, ts_bits, streams... */
    static const uint8_t zero_points[] = {0x02, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t bad_mode[] = {0x03, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t k_on_integer[] = {0x12, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t k_on_xor[] = {0x10, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t one_xor[] = {0x00, 0x01, 0x00, 0x00, 0x00};
    /* 2^62 points claimed in 8 bits of timestamps */
    static const uint8_t huge_count[] = {0x02, 0x80, 0x80, 0x80, 0x80,
                                         0x80, 0x80, 0x80, 0x80, 0x40,
                                         0x00, 0x00, 0x08, 0x00, 0x00};
    /* a varint longer than 64 bits */
    static const uint8_t long_varint[] = {0x02, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff,
                                          0x7f, 0x00, 0x00, 0x00};
    /* two points whose delta-of-delta repeats the first time */
    static const uint8_t repeat_time[] = {0x02, 0x02, 0x00, 0x00,
                                          0x01, 0x00, 0x00};
    /* the same with the second point one unit later: valid */
    static const uint8_t two_points[] = {0x02, 0x02, 0x00, 0x00,
                                         0x06, 0x88, 0x00};
    tss_point *out = NULL;
    size_t n = 0, cap = 0;

    assert_int_equal(
        decode_untrusted(zero_points, sizeof(zero_points), TSS_KIND_DERIVE, 10),
        TSS_ECORRUPT);
    assert_int_equal(
        decode_untrusted(bad_mode, sizeof(bad_mode), TSS_KIND_GAUGE, 10),
        TSS_ECORRUPT);
    assert_int_equal(decode_untrusted(k_on_integer, sizeof(k_on_integer),
                                      TSS_KIND_COUNTER, 10),
                     TSS_ECORRUPT);
    assert_int_equal(
        decode_untrusted(k_on_xor, sizeof(k_on_xor), TSS_KIND_GAUGE, 10),
        TSS_ECORRUPT);
    /* an XOR chunk is only for gauges */
    assert_int_equal(
        decode_untrusted(one_xor, sizeof(one_xor), TSS_KIND_GAUGE, 10), 0);
    assert_int_equal(
        decode_untrusted(one_xor, sizeof(one_xor), TSS_KIND_DERIVE, 10),
        TSS_ECORRUPT);
    assert_int_equal(decode_untrusted(huge_count, sizeof(huge_count),
                                      TSS_KIND_DERIVE, SIZE_MAX),
                     TSS_ECORRUPT);
    assert_int_equal(decode_untrusted(long_varint, sizeof(long_varint),
                                      TSS_KIND_DERIVE, SIZE_MAX),
                     TSS_ECORRUPT);
    assert_int_equal(
        decode_untrusted(repeat_time, sizeof(repeat_time), TSS_KIND_DERIVE, 10),
        TSS_ECORRUPT);

    /* ts stream "10" + 4 bits zz(1) = 0x88: t1 = 1; value stream '0' */
    assert_int_equal(tss_chunk_decode(two_points, sizeof(two_points),
                                      TSS_KIND_DERIVE, 100, 2, &out, &n, &cap),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].t, 100);
    assert_int_equal(out[1].t, 101);
    assert_int_equal(out[0].v.derive, 0);
    assert_int_equal(out[1].v.derive, 0);
    tss_free(out);
}

/* Reference LEB128 decoder, a byte at a time: 1..10 bytes, or 0 (bad). */
static size_t ref_varint(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n && i < 10; i++) {
        if (i == 9 && p[i] > 1)
            return 0;
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

/*
 * The file reader's varints (util.c: the one-byte case inline, the others
 * out of line) agree with a byte-at-a-time decoder: every length, with any
 * bytes after the varint, at the end of the range, cut short, overlong.
 */
static void test_varints(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15u;

    (void)state;
    for (int k = 0; k < 20000; k++) {
        uint8_t buf[32];
        uint64_t v, got = 0;
        unsigned bits = (unsigned)(k % 65);
        size_t len, tail = (size_t)(k / 65) % 12;
        tss_buf b = {0};
        tss_rd r;

        seed = seed * 6364136223846793005u + 1442695040888963407u;
        v = bits == 64 ? seed : seed & ((UINT64_C(1) << bits) - 1);
        tss_buf_put_varint(&b, v);
        assert_true(b.len >= 1 && b.len <= 10);
        len = b.len;
        memcpy(buf, b.data, len);
        tss_buf_free(&b);
        for (size_t i = 0; i < tail; i++) /* what follows: any byte */
            buf[len + i] = (uint8_t)(seed >> (8 * (i % 8)));
        tss_rd_init(&r, buf, len + tail);
        assert_true(tss_rd_varint(&r, &got));
        assert_true(got == v);
        assert_ptr_equal(r.p, buf + len);
        /* cut short by the end of the range */
        tss_rd_init(&r, buf, len - 1);
        assert_false(len > 1 && tss_rd_varint(&r, &got));
    }
    /* arbitrary bytes: the same verdict, value and length as the reference */
    for (int k = 0; k < 200000; k++) {
        uint8_t buf[16];
        uint64_t got = 0, want = 0;
        size_t n, rn;
        tss_rd r;
        bool ok;

        for (size_t i = 0; i < sizeof(buf); i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            /* mostly continuation bytes, so that long ones come up */
            buf[i] = (uint8_t)(seed >> 56) | ((seed & 7) ? 0x80 : 0);
        }
        n = (size_t)(k % 17);
        rn = ref_varint(buf, n, &want);
        tss_rd_init(&r, buf, n);
        ok = tss_rd_varint(&r, &got);
        assert_int_equal(ok, rn != 0);
        assert_int_equal(r.bad, rn == 0);
        if (ok) {
            assert_true(got == want);
            assert_ptr_equal(r.p, buf + rn);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gauge_special_values),
        cmocka_unit_test(test_integer_extremes),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_random_walks),
        cmocka_unit_test(test_scaled_decimal_gauges),
        cmocka_unit_test(test_encode_rejects_bad_input),
        cmocka_unit_test(test_truncated_chunks),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_crafted_chunks),
        cmocka_unit_test(test_varints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
