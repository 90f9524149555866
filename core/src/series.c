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

static inline uint64_t load64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static inline void store64(void *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline uint32_t load32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static inline void store32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/*
 * Copies n >= 1 bytes with fixed-size moves that stay inside both ranges
 * (the last word or half word overlaps the one before). This is the
 * hottest copy of the write path: a memcpy call per field costs more than
 * the copy, and a length-bounded memcpy that GCC inlines becomes a string
 * instruction that is slow to start on many CPUs.
 */
static inline void copy_field(uint8_t *dst, const char *src, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            store64(dst + i, load64(src + i));
        store64(dst + n - 8, load64(src + n - 8));
    } else if (n >= 4) {
        store32(dst, load32(src));
        store32(dst + n - 4, load32(src + n - 4));
    } else {
        dst[0] = (uint8_t)src[0];
        dst[n / 2] = (uint8_t)src[n / 2];
        dst[n - 1] = (uint8_t)src[n - 1];
    }
}

/* tss_key_encode's error, out of its fast path: the kind, then each field
 * in order, missing or too long. */
static int key_error(const tss_series_id *id, int kind)
{
    static const char *const names[6] = {
        "host", "plugin", "plugin_instance", "type", "type_instance", "ds"};
    const char *f[6] = {id->host, id->plugin,        id->plugin_instance,
                        id->type, id->type_instance, id->ds};

    if (!tss_kind_name(kind))
        return tss_error_set(TSS_EINVAL, "invalid kind %d", kind);
    for (int i = 0; i < 6; i++) {
        size_t n;

        if (!f[i] && (i == 0 || i == 1 || i == 3 || i == 5))
            return tss_error_set(TSS_EINVAL, "series %s is missing", names[i]);
        n = f[i] ? strlen(f[i]) : 0;
        if (n > TSS_FIELD_MAX)
            return tss_error_set(TSS_EINVAL,
                                 "series %s is %zu bytes, more than %d",
                                 names[i], n, TSS_FIELD_MAX);
    }
    return tss_error_set(TSS_EINVAL, "invalid series identifier");
}

int tss_key_encode(uint8_t *out, size_t *len, const tss_series_id *id, int kind)
{
    const char *pi = id->plugin_instance ? id->plugin_instance : "";
    const char *ti = id->type_instance ? id->type_instance : "";
    size_t n0, n1, n2, n3, n4, n5;
    uint8_t *p = out;

    if (kind < TSS_KIND_GAUGE || kind > TSS_KIND_ABSOLUTE || !id->host ||
        !id->plugin || !id->type || !id->ds)
        return key_error(id, kind);
    n0 = strlen(id->host);
    n1 = strlen(id->plugin);
    n2 = strlen(pi);
    n3 = strlen(id->type);
    n4 = strlen(ti);
    n5 = strlen(id->ds);
    /* one test for all six: TSS_FIELD_MAX is all ones, so a longer field
     * sets a higher bit of the OR */
    _Static_assert((TSS_FIELD_MAX & (TSS_FIELD_MAX + 1)) == 0,
                   "TSS_FIELD_MAX is 2^k - 1");
    if ((n0 | n1 | n2 | n3 | n4 | n5) > TSS_FIELD_MAX)
        return key_error(id, kind);
    /* each field with its NUL */
    copy_field(p, id->host, n0 + 1);
    p += n0 + 1;
    copy_field(p, id->plugin, n1 + 1);
    p += n1 + 1;
    copy_field(p, pi, n2 + 1);
    p += n2 + 1;
    copy_field(p, id->type, n3 + 1);
    p += n3 + 1;
    copy_field(p, ti, n4 + 1);
    p += n4 + 1;
    copy_field(p, id->ds, n5 + 1);
    p += n5 + 1;
    *p++ = (uint8_t)kind;
    *len = (size_t)(p - out);
    return 0;
}

int tss_key_decode(const uint8_t *key, size_t len, tss_key_view *out)
{
    const char **f[6] = {
        &out->id.host, &out->id.plugin,        &out->id.plugin_instance,
        &out->id.type, &out->id.type_instance, &out->id.ds};
    size_t pos = 0, p = 0;
    int i = 0;

    /* one pass over the bytes (fields are short: a memchr per field cost
     * more in its calls than in its scanning) */
    while (i < 6) {
        if (pos >= len)
            return tss_error_set(TSS_ECORRUPT, "series key truncated");
        if (p == len || p - pos > TSS_FIELD_MAX)
            return tss_error_set(TSS_ECORRUPT,
                                 "series key field %d unterminated", i);
        if (key[p] == 0) {
            *f[i++] = (const char *)key + pos;
            pos = p + 1;
        }
        p++;
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

uint64_t tss_key_hash(const uint8_t *key, size_t len)
{
    return tss_checksum(key, len);
}
