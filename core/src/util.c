/*
 * Small shared helpers: the allocation seam, growable buffers, bounded
 * readers, varints (LEB128), checksums (XXH3) and log formatting.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <xxhash.h>

#include "tsstore/io.h"

static void *libc_malloc(size_t n)
{
    return malloc(n);
}
static void *libc_realloc(void *p, size_t n)
{
    return realloc(p, n);
}
static void libc_free(void *p)
{
    free(p);
}

static const tss_alloc_ops libc_alloc = {libc_malloc, libc_realloc, libc_free};
static const tss_alloc_ops *alloc_ops = &libc_alloc;

void tss_alloc_set(const tss_alloc_ops *ops)
{
    alloc_ops = ops ? ops : &libc_alloc;
}

void *tss_malloc(size_t n)
{
    return alloc_ops->malloc(n ? n : 1);
}

void *tss_calloc(size_t n, size_t size)
{
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    p = tss_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *tss_realloc(void *p, size_t n)
{
    return alloc_ops->realloc(p, n ? n : 1);
}

void tss_free(void *p)
{
    if (p)
        alloc_ops->free(p);
}

char *tss_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = tss_malloc(n);

    if (d)
        memcpy(d, s, n);
    return d;
}

bool tss_buf_reserve(tss_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (b->oom)
        return false;
    if (extra > SIZE_MAX - b->len) {
        b->oom = true;
        return false;
    }
    need = b->len + extra;
    if (need <= b->cap)
        return true;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = tss_realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void tss_buf_append(tss_buf *b, const void *p, size_t n)
{
    if (n == 0 || !tss_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void tss_buf_put_varint(tss_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    tss_buf_append(b, tmp, n);
}

void tss_buf_put_u8(tss_buf *b, uint8_t v)
{
    tss_buf_append(b, &v, 1);
}

void tss_buf_put_u32(tss_buf *b, uint32_t v)
{
    uint8_t tmp[4];

    tss_put_u32(tmp, v);
    tss_buf_append(b, tmp, 4);
}

void tss_buf_put_u64(tss_buf *b, uint64_t v)
{
    uint8_t tmp[8];

    tss_put_u64(tmp, v);
    tss_buf_append(b, tmp, 8);
}

void tss_buf_free(tss_buf *b)
{
    tss_free(b->data);
    memset(b, 0, sizeof(*b));
}

int tss_array_room(void **arr, size_t *cap, size_t n, size_t size, size_t first)
{
    size_t nc;
    void *na;

    if (n < *cap)
        return 0;
    nc = *cap ? *cap * 2 : first;
    if (nc < *cap || nc > SIZE_MAX / size ||
        !(na = tss_realloc(*arr, nc * size)))
        return tss_error_set(TSS_ENOMEM, "out of memory");
    *arr = na;
    *cap = nc;
    return 0;
}

/* The low 7 bits of each of w's 8 bytes (little-endian), packed into 56
 * bits: what LEB128 says they are, without the continuation bits. */
static inline uint64_t pack7(uint64_t w)
{
    w = (w & UINT64_C(0x007f007f007f007f)) |
        ((w & UINT64_C(0x7f007f007f007f00)) >> 1);
    w = (w & UINT64_C(0x00003fff00003fff)) |
        ((w & UINT64_C(0x3fff00003fff0000)) >> 2);
    return (w & UINT64_C(0x000000000fffffff)) |
           ((w & UINT64_C(0x0fffffff00000000)) >> 4);
}

bool tss_rd_varint_long(tss_rd *r, uint64_t *out)
{
    uint64_t v = 0;

    if (r->bad) {
        *out = 0;
        return false;
    }
    /* ten bytes at hand: the first eight read as one word (the head
     * snapshot's times take nine bytes); the same verdicts as the loop */
    if (r->end - r->p >= 10) {
        uint64_t w, stops;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&w, r->p, sizeof(w)); /* one load */
#else
        w = tss_get_u64(r->p);
#endif
        stops = ~w & UINT64_C(0x8080808080808080);
        if (stops) {
            unsigned n = (unsigned)__builtin_ctzll(stops) / 8 + 1;

            if (n < 8)
                w &= (UINT64_C(1) << (8 * n)) - 1;
            *out = pack7(w);
            r->p += n;
            return true;
        }
        v = pack7(w);
        if (!(r->p[8] & 0x80)) {
            *out = v | (uint64_t)r->p[8] << 56;
            r->p += 9;
            return true;
        }
        if (r->p[9] <= 1) { /* the 10th: the top bit of a 64-bit value */
            *out =
                v | (uint64_t)(r->p[8] & 0x7f) << 56 | (uint64_t)r->p[9] << 63;
            r->p += 10;
            return true;
        }
        r->bad = true;
        *out = 0;
        return false;
    }
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t c;

        if (r->p >= r->end)
            break;
        c = *r->p++;
        /* the 10th byte may only carry the top bit of a 64-bit value */
        if (shift == 63 && c > 1)
            break;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return true;
        }
    }
    r->bad = true;
    *out = 0;
    return false;
}

bool tss_rd_u8(tss_rd *r, uint8_t *out)
{
    if (r->bad || r->p >= r->end) {
        r->bad = true;
        *out = 0;
        return false;
    }
    *out = *r->p++;
    return true;
}

bool tss_rd_u32(tss_rd *r, uint32_t *out)
{
    if (r->bad || tss_rd_left(r) < 4) {
        r->bad = true;
        *out = 0;
        return false;
    }
    *out = tss_get_u32(r->p);
    r->p += 4;
    return true;
}

bool tss_rd_u64(tss_rd *r, uint64_t *out)
{
    if (r->bad || tss_rd_left(r) < 8) {
        r->bad = true;
        *out = 0;
        return false;
    }
    *out = tss_get_u64(r->p);
    r->p += 8;
    return true;
}

bool tss_rd_bytes(tss_rd *r, size_t n, const uint8_t **out)
{
    if (r->bad || tss_rd_left(r) < n) {
        r->bad = true;
        *out = NULL;
        return false;
    }
    *out = r->p;
    r->p += n;
    return true;
}

uint64_t tss_checksum(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

void tss_log(tss_log_fn fn, void *ctx, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!fn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fn(ctx, level, msg);
}
