/*
 * Private helpers shared by the core's modules: error recording, the
 * allocator seam, little-endian and varint codecs, checksums, logging.
 * Nothing here is part of the public API.
 */
#ifndef TSS_INTERNAL_H
#define TSS_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tsstore/error.h"

/* ---- errors ---------------------------------------------------------- */

/** Records `code` and a formatted message; returns `code`. */
int tss_error_set(int code, const char *fmt, ...) TSS_PRINTF(2, 3);

/**
 * Maps errno `err` to a TSS_E* code (ENOENT → NOTFOUND, EEXIST → EXISTS,
 * ENOSPC/EDQUOT → NOSPC, anything else → EIO), records "op path: strerror"
 * and returns the code.
 */
int tss_error_set_errno(int err, const char *op, const char *path);

/* ---- allocation seam ------------------------------------------------- */

void *tss_malloc(size_t n);
void *tss_calloc(size_t n, size_t size);
void *tss_realloc(void *p, size_t n);
void tss_free(void *p);
char *tss_strdup(const char *s);

/* ---- JSON documents (yajl) ------------------------------------------- */

struct yajl_val_s;

/*
 * Parses buf[0, len) (not NUL-terminated; parsing stops at a NUL byte) as
 * one JSON document (comments allowed, as yajl_tree_parse allows them)
 * with yajl's parser (json.c). On success *out is the root, a tree of
 * struct yajl_val_s as yajl_tree builds it (yajl_tree_get and the
 * YAJL_IS_* and YAJL_GET_* macros work on it), the caller's to free with
 * tss_json_free -- not yajl_tree_free: its nodes come from tss_malloc.
 * Numbers: YAJL_NUMBER_INT_VALID when the text has no fraction or
 * exponent and its magnitude is at most LLONG_MAX, DOUBLE_VALID when
 * strtod takes it whole without a range error (yajl_tree's rules).
 * Errors (tss_error_last names `what`, e.g. the file): TSS_ECORRUPT not
 * valid JSON (yajl's message quoted), or values nested deeper than 64;
 * TSS_ENOMEM out of memory -- never a crash or a leak inside yajl: it
 * allocates from one region reserved before the parse (json.c gives the
 * bound). Memory: the tree, plus about 4 * len bytes during the call.
 * Thread-safe.
 */
int tss_json_parse(const uint8_t *buf, size_t len, const char *what,
                   struct yajl_val_s **out);

/* Frees a tree of tss_json_parse; NULL is allowed. Thread-safe. */
void tss_json_free(struct yajl_val_s *v);

/* How many of yajl's allocations (all parses of the process) did not fit
 * the region reserved for them and went to libc's malloc: 0 unless the
 * bound in json.c is wrong. For the tests. Thread-safe. */
unsigned long tss_json_past_region(void);

/* ---- little-endian fixed-width -------------------------------------- */

static inline void tss_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void tss_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void tss_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t tss_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t tss_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t tss_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- zig-zag and varints (LEB128, as in protobuf) ------------------- */

static inline uint64_t tss_zigzag(int64_t v)
{
    uint64_t u = (uint64_t)v;

    return (u << 1) ^ (0 - (u >> 63));
}
static inline int64_t tss_unzigzag(uint64_t v)
{
    return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
}

/**
 * Makes room for one more element in a growable array: when `n` ==
 * *cap, reallocates *arr (elements of `size` bytes) to twice *cap, or to
 * `first` when *cap is 0. 0, or TSS_ENOMEM with *arr and *cap unchanged.
 */
int tss_array_room(void **arr, size_t *cap, size_t n, size_t size,
                   size_t first) TSS_WUR;

/** A growable byte buffer. Zero-initialise; free with tss_buf_free. */
typedef struct tss_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool oom; /* sticky: an append failed for lack of memory */
} tss_buf;

bool tss_buf_reserve(tss_buf *b, size_t extra);
void tss_buf_append(tss_buf *b, const void *p, size_t n);
void tss_buf_put_varint(tss_buf *b, uint64_t v);
void tss_buf_put_u8(tss_buf *b, uint8_t v);
void tss_buf_put_u32(tss_buf *b, uint32_t v);
void tss_buf_put_u64(tss_buf *b, uint64_t v);
void tss_buf_free(tss_buf *b);

/**
 * A bounded reader over a byte range. Every getter fails (returns false and
 * sets `bad`) instead of reading past `end`; callers check `bad` once.
 */
typedef struct tss_rd {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
} tss_rd;

static inline void tss_rd_init(tss_rd *r, const void *p, size_t n)
{
    r->p = p;
    r->end = r->p + n;
    r->bad = false;
}
/* LEB128 varint (at most 10 bytes). The one-byte case inline: most of a
 * file's varints are lengths and counts below 128. */
bool tss_rd_varint_long(tss_rd *r, uint64_t *out);
static inline bool tss_rd_varint(tss_rd *r, uint64_t *out)
{
    if (!r->bad && r->p < r->end && *r->p < 0x80) {
        *out = *r->p++;
        return true;
    }
    return tss_rd_varint_long(r, out);
}
bool tss_rd_u8(tss_rd *r, uint8_t *out);
bool tss_rd_u32(tss_rd *r, uint32_t *out);
bool tss_rd_u64(tss_rd *r, uint64_t *out);
bool tss_rd_bytes(tss_rd *r, size_t n, const uint8_t **out);
static inline size_t tss_rd_left(const tss_rd *r)
{
    return (size_t)(r->end - r->p);
}

/* ---- checksums -------------------------------------------------------- */

/** XXH3-64 of `n` bytes (xxHash, https://github.com/Cyan4973/xxHash). */
uint64_t tss_checksum(const void *p, size_t n);

/* ---- logging ---------------------------------------------------------- */

typedef void (*tss_log_fn)(void *ctx, int level, const char *msg);

/** Formats and sends a line to `fn` (no-op when fn is NULL). */
void tss_log(tss_log_fn fn, void *ctx, int level, const char *fmt, ...)
    TSS_PRINTF(4, 5);

#endif /* TSS_INTERNAL_H */
