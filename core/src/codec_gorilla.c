/*
 * Point compression; the format is specified in codec_gorilla.h.
 */
#include "codec_gorilla.h"

#include <math.h>

/* ---- bit writer -----------------------------------------------------------
 */

/*
 * Invariant of a tss_bits buffer: every byte from buf.len to buf.cap is
 * zero. A put then ORs its bits into one big-endian 64-bit word at the
 * current byte, whatever its alignment, instead of looping bit by bit.
 */
static bool bits_grow(tss_bits *w, size_t need)
{
    size_t old = w->buf.cap;

    if (need <= old)
        return true;
    if (!tss_buf_reserve(&w->buf, need - w->buf.len))
        return false;
    memset(w->buf.data + old, 0, w->buf.cap - old);
    return true;
}

/* Unaligned big-endian 64-bit access: one load or store and a byte swap
 * (memcpy of a constant 8 bytes compiles to a single move). */
static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static int bits_put(tss_bits *w, uint64_t v, unsigned n)
{
    size_t byte;
    unsigned off;
    uint8_t *p;

    if (n == 0)
        return 0;
    if (n > 56) { /* the word must hold the field plus its bit offset */
        int rc = bits_put(w, v >> 32, n - 32);

        if (rc)
            return rc;
        n = 32;
    }
    byte = (size_t)(w->nbits >> 3);
    if (byte + 8 > w->buf.cap && !bits_grow(w, byte + 8))
        return TSS_ENOMEM;
    off = (unsigned)(w->nbits & 7);
    v &= (UINT64_C(1) << n) - 1;
    p = w->buf.data + byte;
    store_be64(p, load_be64(p) | (v << (64 - off - n)));
    w->nbits += n;
    w->buf.len = (size_t)((w->nbits + 7) >> 3);
    return 0;
}

void tss_bits_reset(tss_bits *w)
{
    if (w->buf.len)
        memset(w->buf.data, 0, w->buf.len);
    w->buf.len = 0;
    w->nbits = 0;
}

/* ---- bit reader -----------------------------------------------------------
 */

/*
 * The decoders' reader: a tss_bitrd and `peek`, the first bit position
 * from which a big-endian 64-bit load at the position's byte would leave
 * the stream's ceil(nbits / 8) bytes (0 if there are fewer than 8).
 */
typedef struct bitrd {
    const uint8_t *p;
    uint64_t pos, nbits, peek;
} bitrd;

static inline bitrd br_init(const uint8_t *p, uint64_t pos, uint64_t nbits)
{
    uint64_t bytes = (nbits + 7) >> 3;
    bitrd r = {p, pos, nbits, bytes >= 8 ? (bytes - 7) * 8 : 0};

    return r;
}

static inline bool br_get(bitrd *r, unsigned n, uint64_t *out)
{
    uint64_t v = 0;

    if (n > r->nbits - r->pos)
        return false;
    /* fast path: one unaligned big-endian load covers the field */
    if (n <= 56 && r->pos < r->peek) {
        uint64_t w = load_be64(r->p + (r->pos >> 3));

        if (n == 0) {
            *out = 0;
            return true;
        }
        w <<= (r->pos & 7);
        *out = w >> (64 - n);
        r->pos += n;
        return true;
    }
    while (n > 0) {
        unsigned off = (unsigned)(r->pos & 7);
        unsigned room = 8 - off, take = n < room ? n : room;
        uint8_t byte = r->p[r->pos >> 3];

        v = (v << take) | ((byte >> (room - take)) & ((1u << take) - 1));
        r->pos += take;
        n -= take;
    }
    *out = v;
    return true;
}

/* True if a big-endian 64-bit load at the reader's byte stays inside the
 * stream's bytes: br_peek then holds at least 57 bits from pos on (bits
 * past nbits are not to be used). */
static inline bool br_can_peek(const bitrd *r)
{
    return r->pos < r->peek;
}

static inline uint64_t br_peek(const bitrd *r)
{
    return load_be64(r->p + (r->pos >> 3)) << (r->pos & 7);
}

static inline bool br_bit(bitrd *r, unsigned *bit)
{
    if (r->pos >= r->nbits)
        return false;
    *bit = (r->p[r->pos >> 3] >> (7 - (r->pos & 7))) & 1;
    r->pos++;
    return true;
}

int tss_bits_put(tss_bits *w, uint64_t v, unsigned n)
{
    if (n > 32) {
        int rc = bits_put(w, v >> 32, n - 32);

        if (rc != 0)
            return rc;
        n = 32;
    }
    return bits_put(w, v, n);
}

/* Reads n <= 64 bits. */
static inline bool br_get64(bitrd *r, unsigned n, uint64_t *out)
{
    uint64_t hi, lo;

    if (n <= 56)
        return br_get(r, n, out);
    if (!br_get(r, n - 32, &hi) || !br_get(r, 32, &lo))
        return false;
    *out = (hi << 32) | lo;
    return true;
}

bool tss_bitrd_get(tss_bitrd *r, unsigned n, uint64_t *out)
{
    bitrd b = br_init(r->p, r->pos, r->nbits);
    bool ok = br_get64(&b, n, out);

    r->pos = b.pos;
    return ok;
}

/* Room for `add` more bits in w (bits_put needs 8 bytes at the end). */
static bool bits_room(tss_bits *w, uint64_t add)
{
    return bits_grow(w, (size_t)((w->nbits + add) >> 3) + 8);
}

/* Appends bits [from, to) of src to w; `peek` is the reader's for the
 * whole of src (br_init over src's length: past `to` there may be more
 * bytes to load words from, so that a short copy is not read bit by bit). */
static int bits_copy(tss_bits *w, const uint8_t *src, uint64_t from,
                     uint64_t to, uint64_t peek)
{
    bitrd r = {src, from, to, peek};
    uint64_t nbits = w->nbits;
    uint8_t *d;

    /* room once, then 56 bits a move: one load and one store each, no
     * checks */
    if (!bits_room(w, to - from))
        return tss_error_set(TSS_ENOMEM, "out of memory copying bits");
    d = w->buf.data;
    while (r.pos < to) {
        unsigned n = to - r.pos > 56 ? 56 : (unsigned)(to - r.pos);
        unsigned off = (unsigned)(nbits & 7);
        uint8_t *p = d + (nbits >> 3);
        uint64_t v;

        if (!br_get(&r, n, &v)) /* cannot fail: n <= to - pos */
            return tss_error_set(TSS_EINVAL, "bit copy out of range");
        /* off + n <= 63; the bits past the end are zeros (the invariant) */
        store_be64(p, load_be64(p) | (v << (64 - off - n)));
        nbits += n;
    }
    w->nbits = nbits;
    w->buf.len = (size_t)((nbits + 7) >> 3);
    return 0;
}

int tss_bits_copy(tss_bits *w, const uint8_t *src, uint64_t from, uint64_t to)
{
    if (from > to)
        return tss_error_set(TSS_EINVAL, "bit copy out of range");
    return bits_copy(w, src, from, to, br_init(src, from, to).peek);
}

/* ---- prefix classes for zig-zag integers ------------------------------ */

typedef struct vclass {
    uint8_t width[6]; /* width[0] is the zero class */
} vclass;

static const vclass TS_CLASSES = {{0, 4, 8, 14, 24, 64}};
static const vclass INT_CLASSES = {{0, 6, 12, 20, 32, 64}};

static int put_class(tss_bits *w, const vclass *c, uint64_t z)
{
    int rc;

    if (z == 0)
        return bits_put(w, 0, 1);
    for (unsigned i = 1; i < 6; i++) {
        unsigned wd = c->width[i];

        if (wd == 64 || z < (UINT64_C(1) << wd)) {
            /* i ones, then a terminating zero except for the last class */
            uint64_t prefix = ((UINT64_C(1) << i) - 1) << (i < 5 ? 1 : 0);
            unsigned plen = i < 5 ? i + 1 : 5;

            if ((rc = bits_put(w, prefix, plen)) != 0)
                return rc;
            if (wd == 64) {
                if ((rc = bits_put(w, z >> 32, 32)) != 0)
                    return rc;
                return bits_put(w, z, 32);
            }
            return bits_put(w, z, wd);
        }
    }
    return TSS_EINVAL; /* unreachable: the last class takes any value */
}

/* get_class, one bit at a time: near the end of a stream, and for the
 * 64-bit class. */
static bool get_class_slow(bitrd *r, const vclass *c, uint64_t *z)
{
    unsigned i = 0, bit;
    uint64_t hi, lo;

    while (i < 5) {
        if (!br_bit(r, &bit))
            return false;
        if (!bit)
            break;
        i++;
    }
    if (i == 0) {
        *z = 0;
        return true;
    }
    if (c->width[i] == 64) {
        if (!br_get(r, 32, &hi) || !br_get(r, 32, &lo))
            return false;
        *z = (hi << 32) | lo;
        return true;
    }
    return br_get(r, c->width[i], z);
}

static inline bool get_class(bitrd *r, const vclass *c, uint64_t *z)
{
    if (br_can_peek(r)) {
        uint64_t w = br_peek(r);
        /* the prefix: up to 5 ones, then a zero below 5 */
        unsigned i = (unsigned)__builtin_clzll(~w | UINT64_C(1) << 58);
        unsigned plen = i < 5 ? i + 1 : 5, wd = c->width[i];

        if (i == 0) {
            if (r->pos >= r->nbits)
                return false;
            r->pos++;
            *z = 0;
            return true;
        }
        if (wd <= 32) { /* prefix and value in the word: one read */
            if (plen + wd > r->nbits - r->pos)
                return false;
            *z = (w << plen) >> (64 - wd);
            r->pos += plen + wd;
            return true;
        }
    }
    return get_class_slow(r, c, z);
}

/* ---- XOR (Gorilla §4.1.2) --------------------------------------------- */

typedef struct xorstate {
    uint64_t prev;
    uint8_t lead, trail; /* trail == 0xff: no window yet */
} xorstate;

static int xor_put(tss_bits *w, xorstate *s, uint64_t v)
{
    uint64_t x = v ^ s->prev;
    unsigned lead, trail, mlen;
    int rc;

    s->prev = v;
    if (x == 0)
        return bits_put(w, 0, 1);
    lead = (unsigned)__builtin_clzll(x);
    trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31)
        lead = 31;
    if (s->trail != 0xff && lead >= s->lead && trail >= s->trail) {
        mlen = 64 - s->lead - s->trail;
        if ((rc = bits_put(w, 2, 2)) != 0)
            return rc;
        return bits_put(w, x >> s->trail, mlen);
    }
    mlen = 64 - lead - trail;
    s->lead = (uint8_t)lead;
    s->trail = (uint8_t)trail;
    /* '11' + 5 bits lead + 6 bits length (64 → 0) */
    if ((rc = bits_put(
             w, (UINT64_C(3) << 11) | ((uint64_t)lead << 6) | (mlen & 63),
             13)) != 0)
        return rc;
    return bits_put(w, x >> trail, mlen);
}

/* xor_get, field by field: near the end of a stream. */
static bool xor_get_slow(bitrd *r, xorstate *s, uint64_t *v)
{
    unsigned bit;
    uint64_t hdr, m;

    if (!br_bit(r, &bit))
        return false;
    if (bit) {
        if (!br_bit(r, &bit))
            return false;
        if (bit) {
            unsigned mlen;

            if (!br_get(r, 11, &hdr))
                return false;
            s->lead = (uint8_t)(hdr >> 6);
            mlen = (unsigned)(hdr & 63);
            if (mlen == 0)
                mlen = 64;
            if (s->lead + mlen > 64)
                return false;
            s->trail = (uint8_t)(64 - s->lead - mlen);
        } else if (s->trail == 0xff) {
            return false; /* window reuse before any window */
        }
        unsigned mlen = 64u - s->lead - s->trail;

        if (mlen > 56) {
            uint64_t hi, lo;

            if (!br_get(r, mlen - 32, &hi) || !br_get(r, 32, &lo))
                return false;
            m = (hi << 32) | lo;
        } else if (!br_get(r, mlen, &m)) {
            return false;
        }
        s->prev ^= m << s->trail;
    }
    *v = s->prev;
    return true;
}

static inline bool xor_get(bitrd *r, xorstate *s, uint64_t *v)
{
    uint64_t w, left, m;
    unsigned hlen, mlen;

    if (!br_can_peek(r))
        return xor_get_slow(r, s, v);
    w = br_peek(r);
    left = r->nbits - r->pos;
    if (!(w >> 63)) { /* '0': the same value */
        if (left < 1)
            return false;
        r->pos++;
        *v = s->prev;
        return true;
    }
    if (!(w >> 62 & 1)) { /* '10': the previous window */
        if (s->trail == 0xff)
            return false; /* window reuse before any window */
        hlen = 2;
    } else { /* '11' + 5 bits lead + 6 bits length (0 = 64) */
        unsigned hdr = (unsigned)(w >> 51) & 0x7ff;

        mlen = hdr & 63 ? hdr & 63 : 64;
        s->lead = (uint8_t)(hdr >> 6);
        if (s->lead + mlen > 64)
            return false;
        s->trail = (uint8_t)(64 - s->lead - mlen);
        hlen = 13;
    }
    mlen = 64u - s->lead - s->trail;
    if (hlen + mlen > left)
        return false;
    if (hlen + mlen <= 57) { /* header and bits in the word */
        m = (w << hlen) >> (64 - mlen);
        r->pos += hlen + mlen;
    } else {
        r->pos += hlen;
        if (!br_get64(r, mlen, &m))
            return false;
    }
    s->prev ^= m << s->trail;
    *v = s->prev;
    return true;
}

/* ---- gauges as scaled decimals ----------------------------------------- */

static const double P10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static bool same_bits(double a, double b)
{
    uint64_t x, y;

    memcpy(&x, &a, 8);
    memcpy(&y, &b, 8);
    return x == y;
}

/* True if v == x / 10^k bit-exactly for an integer x with |x| < 2^53. */
static bool scaled_int(double v, unsigned k, int64_t *x)
{
    double s;

    if (!isfinite(v))
        return false;
    s = v * P10[k];
    if (!(fabs(s) < 9007199254740992.0))
        return false;
    *x = llround(s);
    return same_bits((double)*x / P10[k], v);
}

static double unscale(int64_t x, unsigned k)
{
    return k == 0 ? (double)x : (double)x / P10[k];
}

/* Smallest k for which every gauge is a scaled integer; -1 if none. */
static int find_scale(const tss_point *pts, size_t n)
{
    for (unsigned k = 0; k < 16; k++) {
        size_t i;
        int64_t x;

        for (i = 0; i < n; i++)
            if (!scaled_int(pts[i].v.gauge, k, &x))
                break;
        if (i == n)
            return (int)k;
        /* a value that is not even finite or is huge never scales */
        if (!isfinite(pts[i].v.gauge) || fabs(pts[i].v.gauge) >= 9.0e15)
            return -1;
    }
    return -1;
}

/* ---- integer streams -------------------------------------------------- */

typedef struct intstate {
    uint64_t prev, prev_delta;
} intstate;

static int int_put(tss_bits *w, intstate *s, uint64_t v, unsigned mode)
{
    uint64_t delta = v - s->prev;
    uint64_t d = mode == TSS_VMODE_DOD ? delta - s->prev_delta : delta;

    s->prev = v;
    s->prev_delta = delta;
    return put_class(w, &INT_CLASSES, tss_zigzag((int64_t)d));
}

static inline bool int_get(bitrd *r, intstate *s, uint64_t *v, unsigned mode)
{
    uint64_t z, delta;

    if (!get_class(r, &INT_CLASSES, &z))
        return false;
    delta = (uint64_t)tss_unzigzag(z);
    if (mode == TSS_VMODE_DOD)
        delta += s->prev_delta;
    s->prev_delta = delta;
    s->prev += delta;
    *v = s->prev;
    return true;
}

typedef struct tsstate {
    uint64_t prev, prev_delta;
} tsstate;

static int ts_put(tss_bits *w, tsstate *s, int64_t t)
{
    uint64_t delta = (uint64_t)t - s->prev;
    uint64_t dod = delta - s->prev_delta;

    s->prev = (uint64_t)t;
    s->prev_delta = delta;
    return put_class(w, &TS_CLASSES, tss_zigzag((int64_t)dod));
}

static inline bool ts_get(bitrd *r, tsstate *s, int64_t *t)
{
    uint64_t z;

    if (!get_class(r, &TS_CLASSES, &z))
        return false;
    s->prev_delta += (uint64_t)tss_unzigzag(z);
    s->prev += s->prev_delta;
    *t = (int64_t)s->prev;
    return true;
}

/* ---- head encoder ----------------------------------------------------- */

void tss_enc_init(tss_enc *e, int kind)
{
    memset(e, 0, sizeof(*e));
    e->kind = (uint8_t)kind;
    e->trail = 0xff;
}

/*
 * The encoders' puts. A point takes at most TS_MAX_BITS timestamp bits and
 * VAL_MAX_BITS value bits, in at most two puts per stream, each of which
 * ORs one big-endian 8-byte word in at the byte of the stream's end. The
 * bits a put adds must fall on zeroed bytes; the word's other bytes are
 * written back unchanged, so they need only be there. tss_enc keeps
 * ENC_ROOM bytes of zeroed room past a stream's end, which holds any
 * point; tss_henc checks a point's bits against its regions when they
 * might not hold the largest point.
 */
#define ENC_ROOM 24
#define TS_MAX_BITS 69  /* '11111' + 64 bits */
#define VAL_MAX_BITS 77 /* '11' + 11 bits of XOR header + 64 bits */

/* A stream being written, in registers: its bytes and its end. */
typedef struct bitw {
    uint8_t *p;
    uint64_t nbits;
} bitw;

/* Appends the n bits of v (1 <= n <= 56, v < 2^n); room is assured. */
static inline void put_room(bitw *w, uint64_t v, unsigned n)
{
    uint8_t *p = w->p + (w->nbits >> 3);
    unsigned off = (unsigned)(w->nbits & 7);

    store_be64(p, load_be64(p) | (v << (64 - off - n)));
    w->nbits += n;
}

/* put_class with the class widths w1 < w2 < w3 < w4 <= 32 (and 64) as
 * constants: one put for the prefix and the value together. */
static inline void put_class_room(bitw *w, uint64_t z, unsigned w1, unsigned w2,
                                  unsigned w3, unsigned w4)
{
    if (z == 0)
        put_room(w, 0, 1);
    else if (z >> w1 == 0)
        put_room(w, UINT64_C(2) << w1 | z, w1 + 2);
    else if (z >> w2 == 0)
        put_room(w, UINT64_C(6) << w2 | z, w2 + 3);
    else if (z >> w3 == 0)
        put_room(w, UINT64_C(14) << w3 | z, w3 + 4);
    else if (z >> w4 == 0)
        put_room(w, UINT64_C(30) << w4 | z, w4 + 5);
    else {
        put_room(w, UINT64_C(31) << 32 | z >> 32, 37);
        put_room(w, z & 0xffffffffu, 32);
    }
}

/* The bits put_class_room takes for z. */
static inline unsigned class_bits(uint64_t z, unsigned w1, unsigned w2,
                                  unsigned w3, unsigned w4)
{
    if (z == 0)
        return 1;
    if (z >> w1 == 0)
        return w1 + 2;
    if (z >> w2 == 0)
        return w2 + 3;
    if (z >> w3 == 0)
        return w3 + 4;
    if (z >> w4 == 0)
        return w4 + 5;
    return 69;
}

/* Puts m, the low `mlen` (1..64) bits, after the `hlen`-bit header hdr. */
static inline void put_header_bits(bitw *w, uint64_t hdr, unsigned hlen,
                                   uint64_t m, unsigned mlen)
{
    if (hlen + mlen <= 56) {
        put_room(w, hdr << mlen | m, hlen + mlen);
    } else {
        put_room(w, hdr << (mlen - 32) | m >> 32, hlen + mlen - 32);
        put_room(w, m & 0xffffffffu, 32);
    }
}

/* xor_put, bit for bit, for an encoder's state: the previous value `prev`
 * and the XOR window in *wlead, *wtrail. */
static inline void xor_put_room(bitw *w, uint8_t *wlead, uint8_t *wtrail,
                                uint64_t prev, uint64_t v)
{
    uint64_t x = v ^ prev;
    unsigned lead, trail, mlen;

    if (x == 0) {
        put_room(w, 0, 1);
        return;
    }
    lead = (unsigned)__builtin_clzll(x);
    trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31)
        lead = 31;
    if (*wtrail != 0xff && lead >= *wlead && trail >= *wtrail) {
        mlen = 64u - *wlead - *wtrail;
        put_header_bits(w, 2, 2, x >> *wtrail, mlen);
        return;
    }
    mlen = 64 - lead - trail;
    *wlead = (uint8_t)lead;
    *wtrail = (uint8_t)trail;
    /* '11' + 5 bits lead + 6 bits length (64 → 0) */
    put_header_bits(w,
                    (UINT64_C(3) << 11) | ((uint64_t)lead << 6) | (mlen & 63),
                    13, x >> trail, mlen);
}

/* The bits xor_put_room takes for v. */
static inline unsigned xor_bits(uint8_t wlead, uint8_t wtrail, uint64_t prev,
                                uint64_t v)
{
    uint64_t x = v ^ prev;
    unsigned lead, trail;

    if (x == 0)
        return 1;
    lead = (unsigned)__builtin_clzll(x);
    trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31)
        lead = 31;
    if (wtrail != 0xff && lead >= wlead && trail >= wtrail)
        return 2 + 64u - wlead - wtrail;
    return 13 + 64 - lead - trail;
}

/*
 * Puts a point after the first: the delta-of-delta `dod` of its time, and
 * its value v after the previous value `prev` (XOR for gauges, with the
 * window in *lead, *trail; delta-of-delta after *vdelta for the rest).
 */
static inline void put_point(bitw *ts, bitw *val, int kind, uint64_t dod,
                             uint64_t v, uint64_t prev, uint64_t *vdelta,
                             uint8_t *lead, uint8_t *trail)
{
    put_class_room(ts, tss_zigzag((int64_t)dod), 4, 8, 14, 24);
    if (kind == TSS_KIND_GAUGE) {
        xor_put_room(val, lead, trail, prev, v);
    } else {
        uint64_t d = v - prev;

        put_class_room(val, tss_zigzag((int64_t)(d - *vdelta)), 6, 12, 20, 32);
        *vdelta = d;
    }
}

int tss_enc_append(tss_enc *e, int64_t t, tss_value v)
{
    uint64_t delta;
    bitw ts, val;

    if (e->count == 0) {
        e->t0 = e->last_t = t;
        e->v0 = e->last_v = v.bits;
        e->count = 1;
        return 0;
    }
    if (e->count == UINT32_MAX)
        return tss_error_set(TSS_ENOMEM, "series chunk has 2^32 points");
    /* Room for the largest point up front, so that nothing below can fail
     * half-way through a point. */
    if ((e->ts.buf.cap - e->ts.buf.len < ENC_ROOM &&
         !bits_grow(&e->ts, e->ts.buf.len + ENC_ROOM)) ||
        (e->val.buf.cap - e->val.buf.len < ENC_ROOM &&
         !bits_grow(&e->val, e->val.buf.len + ENC_ROOM))) {
        e->ts.buf.oom = e->val.buf.oom = false; /* retry next time */
        return tss_error_set(TSS_ENOMEM, "out of memory appending a point");
    }
    ts = (bitw){e->ts.buf.data, e->ts.nbits};
    val = (bitw){e->val.buf.data, e->val.nbits};
    delta = (uint64_t)t - (uint64_t)e->last_t;
    put_point(&ts, &val, e->kind, delta - e->last_delta, v.bits, e->last_v,
              &e->last_vdelta, &e->lead, &e->trail);
    e->ts.nbits = ts.nbits;
    e->ts.buf.len = (size_t)((ts.nbits + 7) >> 3);
    e->val.nbits = val.nbits;
    e->val.buf.len = (size_t)((val.nbits + 7) >> 3);
    e->last_delta = delta;
    e->last_t = t;
    e->last_v = v.bits;
    e->count++;
    return 0;
}

/* ---- the head's compact encoder ---------------------------------------- */

void tss_henc_init(tss_henc *e, int kind)
{
    memset(e, 0, sizeof(*e));
    e->kind = (uint8_t)kind;
    e->trail = 0xff;
}

/* Out of tss_henc_append's way: the bits of the value v in the value
 * stream. */
static __attribute__((noinline)) uint32_t henc_val_bits(const tss_henc *e,
                                                        uint64_t v)
{
    if (e->kind == TSS_KIND_GAUGE)
        return xor_bits(e->lead, e->trail, e->last_v, v);
    return class_bits(tss_zigzag((int64_t)(v - e->last_v - e->last_vdelta)), 6,
                      12, 20, 32);
}

int tss_henc_append(tss_henc *e, uint8_t *buf, int64_t t, tss_value v,
                    uint32_t need[2])
{
    uint64_t delta, dod;
    uint32_t tb, vb;
    bitw ts, val;

    if (e->count == 0) {
        e->t0 = e->last_t = t;
        e->v0 = e->last_v = v.bits;
        e->count = 1;
        return 0;
    }
    if (e->count == UINT32_MAX)
        return tss_error_set(TSS_ENOMEM, "series chunk has 2^32 points");
    delta = (uint64_t)t - (uint64_t)e->last_t;
    dod = delta - e->last_delta;
    /* the point's bits against the regions: the timestamp's exactly (a
     * steady interval takes one), the value's as the largest value code
     * unless that is short (caps are at most TSS_HENC_MAX_BYTES: no sum
     * here overflows) */
    tb = e->ts_nbits + class_bits(tss_zigzag((int64_t)dod), 4, 8, 14, 24);
    vb = e->val_nbits + VAL_MAX_BITS;
    if (vb > e->val_cap * 8)
        vb = e->val_nbits + henc_val_bits(e, v.bits);
    if (tb > e->ts_cap * 8 || vb > e->val_cap * 8) {
        need[0] = (tb + 7) / 8;
        need[1] = (vb + 7) / 8;
        return 1;
    }
    ts = (bitw){buf, e->ts_nbits};
    val = (bitw){buf + e->ts_cap, e->val_nbits};
    put_point(&ts, &val, e->kind, dod, v.bits, e->last_v, &e->last_vdelta,
              &e->lead, &e->trail);
    e->ts_nbits = (uint32_t)ts.nbits;
    e->val_nbits = (uint32_t)val.nbits;
    e->last_delta = delta;
    e->last_t = t;
    e->last_v = v.bits;
    e->count++;
    return 0;
}

void tss_henc_view(const tss_henc *h, uint8_t *buf, tss_enc *out)
{
    memset(out, 0, sizeof(*out));
    out->ts.buf.data = buf;
    out->ts.buf.len = (h->ts_nbits + 7) / 8;
    out->ts.buf.cap = h->ts_cap;
    out->ts.nbits = h->ts_nbits;
    out->val.buf.data = buf + h->ts_cap;
    out->val.buf.len = (h->val_nbits + 7) / 8;
    out->val.buf.cap = h->val_cap;
    out->val.nbits = h->val_nbits;
    out->t0 = h->t0;
    out->last_t = h->last_t;
    out->last_delta = h->last_delta;
    out->v0 = h->v0;
    out->last_v = h->last_v;
    out->last_vdelta = h->last_vdelta;
    out->count = h->count;
    out->kind = h->kind;
    out->lead = h->lead;
    out->trail = h->trail;
}

int tss_henc_load(tss_henc *h, const tss_enc *e, uint32_t ts_cap,
                  uint32_t val_cap, uint8_t *buf)
{
    size_t ts_len = (size_t)((e->ts.nbits + 7) / 8);
    size_t val_len = (size_t)((e->val.nbits + 7) / 8);

    if (ts_len > ts_cap || val_len > val_cap || ts_cap > TSS_HENC_MAX_BYTES ||
        val_cap > TSS_HENC_MAX_BYTES)
        return tss_error_set(TSS_EINVAL,
                             "encoder streams of %zu and %zu "
                             "bytes do not fit the head",
                             ts_len, val_len);
    h->t0 = e->t0;
    h->last_t = e->last_t;
    h->last_delta = e->last_delta;
    h->v0 = e->v0;
    h->last_v = e->last_v;
    h->last_vdelta = e->last_vdelta;
    h->count = e->count;
    h->ts_nbits = (uint32_t)e->ts.nbits;
    h->val_nbits = (uint32_t)e->val.nbits;
    h->ts_cap = ts_cap;
    h->val_cap = val_cap;
    h->kind = e->kind;
    h->lead = e->lead;
    h->trail = e->trail;
    /* bytes past a stream's bits are zero, in its last byte too */
    memset(buf, 0, (size_t)ts_cap + val_cap);
    if (ts_len) {
        memcpy(buf, e->ts.buf.data, ts_len);
        if (e->ts.nbits & 7)
            buf[ts_len - 1] &= (uint8_t)(0xff << (8 - (e->ts.nbits & 7)));
    }
    if (val_len) {
        memcpy(buf + ts_cap, e->val.buf.data, val_len);
        if (e->val.nbits & 7)
            buf[ts_cap + val_len - 1] &=
                (uint8_t)(0xff << (8 - (e->val.nbits & 7)));
    }
    return 0;
}

size_t tss_enc_mem(const tss_enc *e)
{
    return e->ts.buf.cap + e->val.buf.cap;
}

void tss_enc_free(tss_enc *e)
{
    tss_buf_free(&e->ts.buf);
    tss_buf_free(&e->val.buf);
    e->count = 0;
}

static int grow_points(tss_point **pts, size_t *cap, size_t need)
{
    size_t ncap;
    tss_point *np;

    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    if (ncap > SIZE_MAX / sizeof(tss_point))
        return tss_error_set(TSS_ENOMEM, "too many points");
    np = tss_realloc(*pts, ncap * sizeof(tss_point));
    if (!np)
        return tss_error_set(TSS_ENOMEM, "out of memory decoding points");
    *pts = np;
    *cap = ncap;
    return 0;
}

/* What decode_streams found: */
enum { DECODED = 0, STREAM_CORRUPT = 1, NOT_INCREASING = 2 };

/*
 * The loop of decode_streams for one value mode (`scaled`: gauges in an
 * integer mode, as x / 10^k), inlined once per mode so that the loop has
 * no per-point mode tests. Times are checked to increase on the way, and
 * reported only if both streams decode.
 */
static inline __attribute__((always_inline)) int
decode_loop(bitrd *tr, bitrd *vr, unsigned mode, bool scaled, unsigned k,
            int64_t t0, uint64_t v0, size_t count, tss_point *out)
{
    tsstate ts = {(uint64_t)t0, 0};
    xorstate xs = {v0, 0, 0xff};
    intstate is = {v0, 0};
    int64_t prev = t0;
    bool increasing = true;

    out[0].t = t0;
    if (scaled)
        out[0].v.gauge = unscale((int64_t)v0, k);
    else
        out[0].v.bits = v0;
    for (size_t i = 1; i < count; i++) {
        uint64_t v;

        if (!ts_get(tr, &ts, &out[i].t))
            return STREAM_CORRUPT;
        increasing &= out[i].t > prev;
        prev = out[i].t;
        if (mode == TSS_VMODE_XOR) {
            if (!xor_get(vr, &xs, &v))
                return STREAM_CORRUPT;
            out[i].v.bits = v;
        } else {
            if (!int_get(vr, &is, &v, mode))
                return STREAM_CORRUPT;
            if (scaled)
                out[i].v.gauge = unscale((int64_t)v, k);
            else
                out[i].v.bits = v;
        }
    }
    return increasing ? DECODED : NOT_INCREASING;
}

/*
 * Decodes count-1 points after (t0, v0) from the two streams into out[1..
 * count) (out[0] is the first point). The caller has reserved room for
 * count points. Returns DECODED, STREAM_CORRUPT or NOT_INCREASING.
 */
static int decode_streams(bitrd *tr, bitrd *vr, int kind, unsigned mode,
                          unsigned k, int64_t t0, uint64_t v0, size_t count,
                          tss_point *out)
{
    bool scaled = kind == TSS_KIND_GAUGE;

    if (mode == TSS_VMODE_XOR)
        return decode_loop(tr, vr, TSS_VMODE_XOR, false, 0, t0, v0, count, out);
    if (mode == TSS_VMODE_DELTA)
        return scaled ? decode_loop(tr, vr, TSS_VMODE_DELTA, true, k, t0, v0,
                                    count, out)
                      : decode_loop(tr, vr, TSS_VMODE_DELTA, false, 0, t0, v0,
                                    count, out);
    return scaled
               ? decode_loop(tr, vr, TSS_VMODE_DOD, true, k, t0, v0, count, out)
               : decode_loop(tr, vr, TSS_VMODE_DOD, false, 0, t0, v0, count,
                             out);
}

int tss_enc_decode(const tss_enc *e, tss_point **pts, size_t *n, size_t *cap)
{
    bitrd tr = br_init(e->ts.buf.data, 0, e->ts.nbits);
    bitrd vr = br_init(e->val.buf.data, 0, e->val.nbits);
    unsigned mode = e->kind == TSS_KIND_GAUGE ? TSS_VMODE_XOR : TSS_VMODE_DOD;
    int rc;

    if (e->count == 0)
        return 0;
    if ((rc = grow_points(pts, cap, *n + e->count)) != 0)
        return rc;
    switch (decode_streams(&tr, &vr, e->kind, mode, 0, e->t0, e->v0, e->count,
                           *pts + *n)) {
    case STREAM_CORRUPT:
        return tss_error_set(TSS_ECORRUPT, "head encoder stream is corrupt");
    case NOT_INCREASING:
        /* as for chunks: an encoder restored from a snapshot base is data
         * from disk, and readers and the seal rely on increasing times */
        return tss_error_set(TSS_ECORRUPT,
                             "head encoder timestamps not increasing");
    default:
        break;
    }
    *n += e->count;
    return 0;
}

int tss_enc_copy_since(const tss_enc *e, uint64_t ts_from, uint64_t val_from,
                       tss_bits *w)
{
    int rc;

    if (ts_from > e->ts.nbits || val_from > e->val.nbits)
        return tss_error_set(TSS_EINVAL, "snapshot cursor beyond the stream");
    if ((rc = tss_bits_copy(w, e->ts.buf.data, ts_from, e->ts.nbits)) != 0)
        return rc;
    return tss_bits_copy(w, e->val.buf.data, val_from, e->val.nbits);
}

int tss_enc_replay(tss_enc *e, tss_bitrd *br, uint32_t count)
{
    bitrd rd = br_init(br->p, br->pos, br->nbits), *r = &rd;
    tsstate ts = {(uint64_t)e->last_t, e->last_delta};
    xorstate xs = {e->last_v, e->lead, e->trail};
    intstate is = {e->last_v, e->last_vdelta};
    uint64_t p0 = rd.pos, p1, v = e->last_v;
    int64_t t = e->last_t;

    if (e->count == 0 || count == 0)
        return tss_error_set(TSS_ECORRUPT, "replay without a first point");
    if (count > r->nbits - r->pos)
        return tss_error_set(TSS_ECORRUPT, "replay count exceeds the stream");
    if (count > UINT32_MAX - e->count)
        return tss_error_set(TSS_ENOMEM, "series chunk has 2^32 points");
    /* Decoded only to find where the points end and the state after the
     * last one, and to check them: the stream's bits are the encoder's
     * own (tss_enc_copy_since), and tss_enc_append's state after a point
     * is the decoder's, so the bits are copied, not encoded again. */
    for (uint32_t i = 0; i < count; i++) {
        int64_t prev = t;

        if (!ts_get(r, &ts, &t) || t <= prev)
            return tss_error_set(TSS_ECORRUPT, "replayed timestamps corrupt");
    }
    p1 = rd.pos;
    for (uint32_t i = 0; i < count; i++) {
        bool ok = e->kind == TSS_KIND_GAUGE
                      ? xor_get(r, &xs, &v)
                      : int_get(r, &is, &v, TSS_VMODE_DOD);

        if (!ok)
            return tss_error_set(TSS_ECORRUPT, "replayed values corrupt");
    }
    /* room first, so that the copies cannot fail half-way */
    if (!bits_room(&e->ts, p1 - p0) || !bits_room(&e->val, rd.pos - p1)) {
        e->ts.buf.oom = e->val.buf.oom = false;
        return tss_error_set(TSS_ENOMEM, "out of memory replaying points");
    }
    if (bits_copy(&e->ts, br->p, p0, p1, rd.peek) != 0 ||
        bits_copy(&e->val, br->p, p1, rd.pos, rd.peek) != 0)
        return tss_error_last_code(); /* cannot happen: room and range */
    e->last_t = t;
    e->last_delta = ts.prev_delta;
    e->last_v = v;
    if (e->kind == TSS_KIND_GAUGE) {
        e->lead = xs.lead;
        e->trail = xs.trail;
    } else {
        e->last_vdelta = is.prev_delta;
    }
    e->count += count;
    br->pos = rd.pos;
    return 0;
}

/* ---- chunks ---------------------------------------------------------------
 */

/* Encodes the value stream of pts[1..n) in `mode` with scale k. */
static int encode_values(tss_bits *w, int kind, unsigned mode, unsigned k,
                         const tss_point *pts, size_t n, uint64_t *v0)
{
    xorstate xs = {0, 0, 0xff};
    intstate is = {0, 0};
    int rc;

    for (size_t i = 0; i < n; i++) {
        uint64_t v = pts[i].v.bits;

        if (kind == TSS_KIND_GAUGE && mode != TSS_VMODE_XOR) {
            int64_t x = 0;

            (void)scaled_int(pts[i].v.gauge, k, &x);
            v = (uint64_t)x;
        }
        if (i == 0) {
            *v0 = v;
            xs.prev = is.prev = v;
            continue;
        }
        rc = mode == TSS_VMODE_XOR ? xor_put(w, &xs, v)
                                   : int_put(w, &is, v, mode);
        if (rc)
            return rc;
    }
    return 0;
}

int tss_chunk_encode(tss_buf *out, int kind, int64_t base, const tss_point *pts,
                     size_t n)
{
    tss_bits ts = {0}, best = {0}, cand = {0};
    tsstate tst;
    unsigned best_mode = 0, best_k = 0;
    uint64_t best_v0 = 0, v0;
    int rc = 0, scale = 0;
    unsigned modes[3];
    size_t nmodes = 0;

    if (n == 0 || kind < TSS_KIND_GAUGE || kind > TSS_KIND_ABSOLUTE)
        return tss_error_set(TSS_EINVAL, "chunk of %zu points, kind %d", n,
                             kind);
    tst.prev = (uint64_t)pts[0].t;
    tst.prev_delta = 0;
    for (size_t i = 1; i < n; i++) {
        if (pts[i].t <= pts[i - 1].t) {
            rc = tss_error_set(TSS_EINVAL, "chunk points not sorted");
            goto out;
        }
        if ((rc = ts_put(&ts, &tst, pts[i].t)) != 0)
            goto out;
    }
    if (kind == TSS_KIND_GAUGE) {
        modes[nmodes++] = TSS_VMODE_XOR;
        scale = find_scale(pts, n);
        if (scale >= 0) {
            modes[nmodes++] = TSS_VMODE_DELTA;
            modes[nmodes++] = TSS_VMODE_DOD;
        }
    } else {
        modes[nmodes++] = TSS_VMODE_DOD;
        modes[nmodes++] = TSS_VMODE_DELTA;
    }
    for (size_t m = 0; m < nmodes; m++) {
        unsigned k = modes[m] == TSS_VMODE_XOR ? 0 : (unsigned)scale;

        tss_bits_reset(&cand);
        if ((rc = encode_values(&cand, kind, modes[m], k, pts, n, &v0)) != 0)
            goto out;
        if (m == 0 || cand.nbits < best.nbits) {
            tss_bits t = best;

            best = cand;
            cand = t;
            best_mode = modes[m];
            best_k = k;
            best_v0 = v0;
        }
    }
    tss_buf_put_u8(out, (uint8_t)(best_mode | (best_k << 4)));
    tss_buf_put_varint(out, n);
    tss_buf_put_varint(
        out, tss_zigzag((int64_t)((uint64_t)pts[0].t - (uint64_t)base)));
    tss_buf_put_varint(out, best_mode == TSS_VMODE_XOR
                                ? best_v0
                                : tss_zigzag((int64_t)best_v0));
    tss_buf_put_varint(out, ts.nbits);
    tss_buf_append(out, ts.buf.data, (size_t)((ts.nbits + 7) / 8));
    tss_buf_append(out, best.buf.data, (size_t)((best.nbits + 7) / 8));
    if (out->oom)
        rc = tss_error_set(TSS_ENOMEM, "out of memory encoding a chunk");
out:
    tss_buf_free(&ts.buf);
    tss_buf_free(&best.buf);
    tss_buf_free(&cand.buf);
    return rc;
}

typedef struct chunk_hdr {
    unsigned mode, k;
    uint64_t count, v0, ts_bits;
    int64_t t0;
    const uint8_t *ts, *val;
    size_t ts_len, val_len;
} chunk_hdr;

static int parse_hdr(const uint8_t *p, size_t len, int kind, int64_t base,
                     chunk_hdr *h)
{
    tss_rd r;
    uint8_t codec;
    uint64_t zt0, v0;

    tss_rd_init(&r, p, len);
    tss_rd_u8(&r, &codec);
    tss_rd_varint(&r, &h->count);
    tss_rd_varint(&r, &zt0);
    tss_rd_varint(&r, &v0);
    tss_rd_varint(&r, &h->ts_bits);
    if (r.bad)
        return tss_error_set(TSS_ECORRUPT, "chunk header truncated");
    h->mode = codec & 15;
    h->k = codec >> 4;
    if (h->mode > TSS_VMODE_DOD ||
        (h->mode == TSS_VMODE_XOR && (kind != TSS_KIND_GAUGE || h->k)) ||
        (kind != TSS_KIND_GAUGE && h->k))
        return tss_error_set(TSS_ECORRUPT, "chunk codec byte 0x%02x invalid",
                             codec);
    if (h->count == 0)
        return tss_error_set(TSS_ECORRUPT, "chunk has no points");
    h->t0 = (int64_t)((uint64_t)tss_unzigzag(zt0) + (uint64_t)base);
    h->v0 = h->mode == TSS_VMODE_XOR ? v0 : (uint64_t)tss_unzigzag(v0);
    if (h->ts_bits > (uint64_t)tss_rd_left(&r) * 8)
        return tss_error_set(TSS_ECORRUPT, "chunk timestamp stream overruns");
    /* every point after the first costs at least one bit per stream */
    if (h->count - 1 > h->ts_bits)
        return tss_error_set(
            TSS_ECORRUPT, "chunk claims %llu points in %llu bits",
            (unsigned long long)h->count, (unsigned long long)h->ts_bits);
    h->ts = r.p;
    h->ts_len = (size_t)((h->ts_bits + 7) / 8);
    h->val = r.p + h->ts_len;
    h->val_len = tss_rd_left(&r) - h->ts_len;
    return 0;
}

int tss_chunk_count(const uint8_t *p, size_t len, uint64_t *count)
{
    tss_rd r;
    uint8_t codec;

    tss_rd_init(&r, p, len);
    tss_rd_u8(&r, &codec);
    tss_rd_varint(&r, count);
    if (r.bad || *count == 0)
        return tss_error_set(TSS_ECORRUPT, "chunk header truncated");
    return 0;
}

int tss_chunk_decode(const uint8_t *p, size_t len, int kind, int64_t base,
                     size_t max_points, tss_point **pts, size_t *n, size_t *cap)
{
    chunk_hdr h;
    bitrd tr, vr;
    int rc;

    if ((rc = parse_hdr(p, len, kind, base, &h)) != 0)
        return rc;
    if (h.count > max_points)
        return tss_error_set(TSS_ECORRUPT,
                             "chunk claims %llu points, more than %zu",
                             (unsigned long long)h.count, max_points);
    if ((rc = grow_points(pts, cap, *n + (size_t)h.count)) != 0)
        return rc;
    tr = br_init(h.ts, 0, h.ts_bits);
    vr = br_init(h.val, 0, (uint64_t)h.val_len * 8);
    switch (decode_streams(&tr, &vr, kind, h.mode, h.k, h.t0, h.v0,
                           (size_t)h.count, *pts + *n)) {
    case STREAM_CORRUPT:
        return tss_error_set(TSS_ECORRUPT, "chunk bit stream is corrupt");
    case NOT_INCREASING:
        /* decoded data is trusted later */
        return tss_error_set(TSS_ECORRUPT, "chunk timestamps not increasing");
    default:
        break;
    }
    *n += (size_t)h.count;
    return 0;
}
