/*
 * Point compression: Gorilla-style delta-of-delta timestamps and XOR gauges
 * (Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time Series
 * Database", VLDB 2015, §4.1), integer kinds as zig-zag delta or
 * delta-of-delta of the integer itself. All modes are lossless: integer
 * arithmetic wraps modulo 2^64, so INT64_MIN/MAX, UINT64_MAX and counter wraps
 * round-trip; gauges are compared and stored by their bit patterns, so NaN
 * payloads, ±Inf and -0.0 round-trip.
 *
 * Chunk layout (one series' points in one segment; all multi-byte integers
 * are LEB128 varints unless noted):
 *
 *   u8      codec     low nibble: value mode (0 XOR, 1 delta, 2 delta-of-
 *                     delta); high nibble: decimal exponent k (gauges in an
 *                     integer mode store round(v * 10^k) and decode as
 *                     x / 10^k, used only when that is bit-exact for every
 *                     point); 0 for XOR and for integer kinds
 *   varint  count     number of points, >= 1
 *   varint  zz(t0 - base)   first timestamp, relative to the segment start
 *   varint  v0        first value: XOR mode the raw 64 bits; integer modes
 *                     the zig-zag of the (scaled) integer
 *   varint  ts_bits   length in bits of the timestamp stream
 *   bytes   ts stream ceil(ts_bits / 8) bytes
 *   bytes   value stream, up to the end of the chunk
 *
 * Bit streams are MSB-first. Timestamp stream: per point after the first, the
 * zig-zag of dod = (t[i] - t[i-1]) - (t[i-1] - t[i-2]) (first delta taken
 * against 0) in a prefix class: '0' → 0; '10' + 4 bits; '110' + 8 bits;
 * '1110' + 14 bits; '11110' + 24 bits; '11111' + 64 bits. Integer value
 * streams use the same scheme with widths 6, 12, 20, 32, 64. XOR stream:
 * '0' same value; '10' + meaningful bits in the previous window; '11' + 5
 * bits leading zeros + 6 bits length (0 = 64) + meaningful bits.
 */
#ifndef TSS_CODEC_GORILLA_H
#define TSS_CODEC_GORILLA_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "tsstore/series.h"

enum { TSS_VMODE_XOR = 0, TSS_VMODE_DELTA = 1, TSS_VMODE_DOD = 2 };

/** Growable MSB-first bit buffer; zero-initialise. */
typedef struct tss_bits {
    tss_buf buf;
    uint64_t nbits;
} tss_bits;

/** Bit reader over an MSB-first stream of `nbits` bits; pos advances. */
typedef struct tss_bitrd {
    const uint8_t *p;
    uint64_t pos, nbits;
} tss_bitrd;

/** Appends the low `n` (<= 64) bits of v. TSS_ENOMEM. */
int tss_bits_put(tss_bits *w, uint64_t v, unsigned n) TSS_WUR;

/** Reads `n` (<= 64) bits; false at the end of the stream. */
bool tss_bitrd_get(tss_bitrd *r, unsigned n, uint64_t *out);

/** Reads one bit (tss_bitrd_get(r, 1, out), inline: the head log's id
 * gaps and point counts are read a bit at a time); false at the end. */
static inline bool tss_bitrd_bit(tss_bitrd *r, uint64_t *out)
{
    if (r->pos >= r->nbits)
        return false;
    *out = (uint64_t)(r->p[r->pos >> 3] >> (7 - (r->pos & 7))) & 1;
    r->pos++;
    return true;
}

/** Empties a bit buffer for reuse, keeping its memory (and the invariant:
 * zeros past the end). */
void tss_bits_reset(tss_bits *w);

/** Appends bits [from, to) of the stream at src (at least (to + 7) / 8
 * bytes), 56 at a time. TSS_EINVAL if from > to; TSS_ENOMEM (w's bits as
 * they were, w->buf.oom set as bits_put sets it). Not thread safe on one
 * w. */
int tss_bits_copy(tss_bits *w, const uint8_t *src, uint64_t from,
                  uint64_t to) TSS_WUR;

/**
 * Incremental encoder for points appended in strictly increasing time order,
 * with its own growable streams (head snapshot readers, rebuilt head
 * windows; the head itself keeps tss_henc). Zero-initialise, then
 * tss_enc_init. Not thread safe: the owner serialises access.
 */
typedef struct tss_enc {
    tss_bits ts, val;
    int64_t t0, last_t;
    uint64_t last_delta;
    uint64_t v0, last_v, last_vdelta;
    uint32_t count;
    uint8_t kind;
    uint8_t lead, trail; /* XOR window; trail == 0xff: none yet */
} tss_enc;

void tss_enc_init(tss_enc *e, int kind);

/**
 * Appends a point; `t` must be greater than the last appended timestamp
 * (the caller routes anything else to its out-of-order buffer).
 * Returns 0, or TSS_ENOMEM (the encoder is unchanged on failure).
 */
int tss_enc_append(tss_enc *e, int64_t t, tss_value v) TSS_WUR;

/** Bytes of memory held by the encoder's buffers. */
size_t tss_enc_mem(const tss_enc *e);

/**
 * Decodes every point of the encoder, appending to *pts (tss_realloc'ed;
 * *n points, *cap capacity). Returns 0 or TSS_ENOMEM / TSS_ECORRUPT.
 */
int tss_enc_decode(const tss_enc *e, tss_point **pts, size_t *n,
                   size_t *cap) TSS_WUR;

void tss_enc_free(tss_enc *e);

/**
 * The head's encoder: tss_enc's state without its buffers, the streams'
 * ends as 32-bit bit counts. The owner keeps the stream bytes in one
 * buffer `buf`: the timestamp stream in bytes [0, ts_cap), the value
 * stream in [ts_cap, ts_cap + val_cap), and after them at least 7 more
 * bytes that a put may read and write back unchanged. Bytes of a stream's
 * region past its bits are zero. Zero-initialise, then tss_henc_init. Not
 * thread safe: the owner serialises access (the head's shard lock).
 */
typedef struct tss_henc {
    int64_t t0, last_t;
    uint64_t last_delta;
    uint64_t v0, last_v, last_vdelta;
    uint32_t count;
    uint32_t ts_nbits, val_nbits; /* bits in each stream */
    uint32_t ts_cap, val_cap;     /* bytes of each stream's region */
    uint8_t kind;
    uint8_t lead, trail; /* XOR window; trail == 0xff: none yet */
} tss_henc;

/** Largest ts_cap or val_cap: a stream's bit count stays below 2^31. */
#define TSS_HENC_MAX_BYTES (UINT32_C(1) << 28)

void tss_henc_init(tss_henc *e, int kind);

/**
 * Appends a point as tss_enc_append does, to the streams in `buf` (see
 * tss_henc). Returns 0; 1 if a stream's region is too small for the point:
 * need[0] and need[1] get the bytes the timestamp and value streams need
 * (the owner grows the regions, each to at least its need, and calls
 * again); or TSS_ENOMEM (2^32 points). Nothing changes unless it returns 0.
 */
int tss_henc_append(tss_henc *e, uint8_t *buf, int64_t t, tss_value v,
                    uint32_t need[2]) TSS_WUR;

/**
 * Fills *out with a read-only tss_enc over h's state and the streams in
 * buf (no copy), for tss_enc_decode, tss_enc_copy_since and the snapshot
 * writer; valid while buf is. Never append to it or free it.
 */
void tss_henc_view(const tss_henc *h, uint8_t *buf, tss_enc *out);

/**
 * Sets h to e's state and copies e's streams into `buf` laid out with
 * regions of ts_cap and val_cap bytes (the rest zeroed). TSS_EINVAL if a
 * stream does not fit its region or a region is over TSS_HENC_MAX_BYTES.
 */
int tss_henc_load(tss_henc *h, const tss_enc *e, uint32_t ts_cap,
                  uint32_t val_cap, uint8_t *buf) TSS_WUR;

/**
 * For the head snapshot: appends to `w` the encoder's timestamp bits from
 * bit `ts_from` on, then its value bits from `val_from` on — exactly the
 * points appended since those positions, coded against the state the
 * encoder had there. TSS_EINVAL if a position is past the end; TSS_ENOMEM.
 */
int tss_enc_copy_since(const tss_enc *e, uint64_t ts_from, uint64_t val_from,
                       tss_bits *w) TSS_WUR;

/**
 * The inverse: decodes `count` points from `r` (their timestamp codes,
 * then their value codes, as tss_enc_copy_since wrote them) continuing e's
 * current state, checks them, and appends their bits to e as they are
 * (no encoding again: the decoder's state after a point is the encoder's)
 * — which reproduces the original encoder bit for bit when the stream is
 * one an encoder wrote; any other stream that decodes is kept as it is
 * and decodes to the same points. r->pos advances
 * past them on success. e must hold at least one point. TSS_ECORRUPT if
 * the stream ends early or times do not increase; TSS_ENOMEM (also for a
 * 2^32nd point). On an error e and r are unchanged.
 */
int tss_enc_replay(tss_enc *e, tss_bitrd *r, uint32_t count) TSS_WUR;

/**
 * Encodes `n` >= 1 points sorted by strictly increasing time into one
 * chunk appended to `out`, choosing the smallest lossless mode for the kind.
 * `base` (store units) is subtracted from the first timestamp. Returns 0,
 * TSS_EINVAL (n == 0, unsorted input, bad kind) or TSS_ENOMEM.
 */
int tss_chunk_encode(tss_buf *out, int kind, int64_t base, const tss_point *pts,
                     size_t n) TSS_WUR;

/**
 * Decodes a chunk of `len` bytes, appending its points to *pts (tss_realloc'
 * ed array, *n used, *cap allocated). Refuses more than `max_points`
 * points. Never reads outside [p, p+len). Returns 0, TSS_ECORRUPT (with a
 * message naming what is wrong) or TSS_ENOMEM.
 */
int tss_chunk_decode(const uint8_t *p, size_t len, int kind, int64_t base,
                     size_t max_points, tss_point **pts, size_t *n,
                     size_t *cap) TSS_WUR;

/** Reads only the point count of a chunk (cheap); TSS_ECORRUPT if bad. */
int tss_chunk_count(const uint8_t *p, size_t len, uint64_t *count) TSS_WUR;

#endif /* TSS_CODEC_GORILLA_H */
