/*
 * Series identifiers and their canonical key bytes (format in series.h).
 */
#define _GNU_SOURCE
#include "series.h"
#include "internal.h"

#include <stdio.h>

const char *tss_kind_name(int kind)
{
    switch (kind) {
    case TSS_KIND_GAUGE:
        return "gauge";
    case TSS_KIND_DERIVE:
        return "derive";
    case TSS_KIND_COUNTER:
        return "counter";
    case TSS_KIND_ABSOLUTE:
        return "absolute";
    default:
        return NULL;
    }
}

size_t tss_series_id_format(char *out, size_t size, const tss_series_id *id)
{
    const char *pi = id->plugin_instance ? id->plugin_instance : "";
    const char *ti = id->type_instance ? id->type_instance : "";
    int n = snprintf(out, size, "%s/%s%s%s/%s%s%s", id->host, id->plugin,
                     *pi ? "-" : "", pi, id->type, *ti ? "-" : "", ti);

    return n < 0 ? 0 : (size_t)n;
}

/* ---- hashing ------------------------------------------------------------
 *
 * Word at a time over each field, then the kind byte, then an avalanche
 * (MurmurHash3's fmix64): the shard takes the high half, the shard's table
 * the low bits. A field is hashed with its length, so the field split of a
 * key is part of its hash. Fields are short (collectd's are rarely over 16
 * bytes), so loads never run past a field: a short field is read with two
 * overlapping loads, like XXH3 does. Equal keys always hash alike; a
 * collision only costs a key comparison.
 */

static inline uint64_t load64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t hash_step(uint64_t h, uint64_t w)
{
    h = (h ^ w) * UINT64_C(0x9fb21c651e98df25);
    return (h << 31) | (h >> 33);
}

static inline uint64_t hash_field(uint64_t h, const uint8_t *p, size_t n)
{
    uint64_t v;

    if (n >= 8) {
        size_t i;

        for (i = 0; i + 8 < n; i += 8)
            h = hash_step(h, load64(p + i));
        return hash_step(hash_step(h, load64(p + n - 8)), n);
    }
    /* n < 8: the bytes and the length, without collisions */
    if (n >= 4)
        v = load32(p) | (uint64_t)load32(p + n - 4) << (8 * (n - 4));
    else if (n > 0)
        v = p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    else
        v = 0;
    return hash_step(h, v | (uint64_t)n << 56);
}

static inline uint64_t hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

#define HASH_SEED UINT64_C(0x243f6a8885a308d3)

uint64_t tss_key_hash(const uint8_t *key, size_t len)
{
    uint64_t h = HASH_SEED;
    size_t pos = 0;

    /* as tss_key_fields_init: six NUL-terminated fields, then the rest
     * (a valid key's kind byte) as one more */
    for (int i = 0; i < 6 && pos < len; i++) {
        const uint8_t *nul = memchr(key + pos, 0, len - pos);

        if (!nul)
            break;
        h = hash_field(h, key + pos, (size_t)(nul - key) - pos);
        pos = (size_t)(nul - key) + 1;
    }
    return hash_final(hash_field(h, key + pos, len - pos));
}

/* ---- keys from identifier fields ----------------------------------------
 */

int tss_key_fields_init(tss_key_fields *out, const tss_series_id *id,
                        int kind)
{
    static const char *const names[6] = {
        "host", "plugin", "plugin_instance", "type", "type_instance", "ds"};
    const char *f[6] = {id->host, id->plugin,        id->plugin_instance,
                        id->type, id->type_instance, id->ds};
    uint64_t h = HASH_SEED;
    size_t len = 1;
    uint8_t kb = (uint8_t)kind;

    if (kind < TSS_KIND_GAUGE || kind > TSS_KIND_ABSOLUTE)
        return tss_error_set(TSS_EINVAL, "invalid kind %d", kind);
    for (int i = 0; i < 6; i++) {
        const char *s = f[i];
        size_t n;

        if (!s) {
            if (i == 0 || i == 1 || i == 3 || i == 5)
                return tss_error_set(TSS_EINVAL, "series %s is missing",
                                     names[i]);
            s = "";
        }
        n = strlen(s);
        if (n > TSS_FIELD_MAX)
            return tss_error_set(TSS_EINVAL,
                                 "series %s is %zu bytes, more than %d",
                                 names[i], n, TSS_FIELD_MAX);
        out->f[i] = s;
        out->n[i] = n;
        len += n + 1;
        h = hash_field(h, (const uint8_t *)s, n);
    }
    out->len = len;
    out->hash = hash_final(hash_field(h, &kb, 1));
    out->kind = kind;
    return 0;
}

int tss_key_fields_of_key(tss_key_fields *out, const uint8_t *key, size_t len)
{
    tss_key_view kv;
    int rc;

    if ((rc = tss_key_decode(key, len, &kv)) != 0)
        return rc;
    return tss_key_fields_init(out, &kv.id, kv.kind);
}

void tss_key_fields_encode(uint8_t *out, const tss_key_fields *kf)
{
    size_t pos = 0;

    for (int i = 0; i < 6; i++) {
        /* memmove, not memcpy: GCC inlines a length-bounded memcpy as a
         * string instruction that is slow to start on many CPUs; memmove
         * stays a call into the C library's vectorised copy */
        memmove(out + pos, kf->f[i], kf->n[i] + 1);
        pos += kf->n[i] + 1;
    }
    out[pos] = (uint8_t)kf->kind;
}

/* a[0..n) == b[0..n) for n >= 1, with loads inside both ranges */
static inline bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (load64(a + i) != load64(b + i))
                return false;
        return load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4)
        return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

bool tss_key_fields_equal(const tss_key_fields *kf, const uint8_t *key,
                          size_t len)
{
    size_t pos = 0;

    if (len != kf->len)
        return false;
    /* each field with its terminating NUL, which the caller's string has
     * too: a field of the key that is longer or shorter differs there */
    for (int i = 0; i < 6; i++) {
        if (!bytes_equal(key + pos, (const uint8_t *)kf->f[i], kf->n[i] + 1))
            return false;
        pos += kf->n[i] + 1;
    }
    return key[pos] == (uint8_t)kf->kind;
}

int tss_key_encode(uint8_t *out, size_t *len, const tss_series_id *id, int kind)
{
    tss_key_fields kf;
    int rc;

    if ((rc = tss_key_fields_init(&kf, id, kind)) != 0)
        return rc;
    tss_key_fields_encode(out, &kf);
    *len = kf.len;
    return 0;
}

int tss_key_decode(const uint8_t *key, size_t len, tss_key_view *out)
{
    const char **f[6] = {
        &out->id.host, &out->id.plugin,        &out->id.plugin_instance,
        &out->id.type, &out->id.type_instance, &out->id.ds};
    size_t pos = 0;

    for (int i = 0; i < 6; i++) {
        const uint8_t *nul;
        size_t maxn = len - pos;

        if (pos >= len)
            return tss_error_set(TSS_ECORRUPT, "series key truncated");
        if (maxn > TSS_FIELD_MAX + 1)
            maxn = TSS_FIELD_MAX + 1;
        nul = memchr(key + pos, 0, maxn);
        if (!nul)
            return tss_error_set(TSS_ECORRUPT,
                                 "series key field %d unterminated", i);
        *f[i] = (const char *)key + pos;
        pos = (size_t)(nul - key) + 1;
    }
    if (pos + 1 != len || !tss_kind_name(key[pos]))
        return tss_error_set(TSS_ECORRUPT, "series key has a bad kind/tail");
    out->kind = key[pos];
    return 0;
}

int tss_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}
