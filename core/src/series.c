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

int tss_key_encode(uint8_t *out, size_t *len, const tss_series_id *id, int kind)
{
    static const char *const names[6] = {
        "host", "plugin", "plugin_instance", "type", "type_instance", "ds"};
    const char *f[6] = {id->host, id->plugin,        id->plugin_instance,
                        id->type, id->type_instance, id->ds};
    size_t pos = 0;

    if (!tss_kind_name(kind))
        return tss_error_set(TSS_EINVAL, "invalid kind %d", kind);
    for (int i = 0; i < 6; i++) {
        const char *s = f[i] ? f[i] : "";
        size_t n;

        if (!f[i] && (i == 0 || i == 1 || i == 3 || i == 5))
            return tss_error_set(TSS_EINVAL, "series %s is missing", names[i]);
        n = strlen(s);
        if (n > TSS_FIELD_MAX)
            return tss_error_set(TSS_EINVAL,
                                 "series %s is %zu bytes, more than %d",
                                 names[i], n, TSS_FIELD_MAX);
        /* memmove, not memcpy: this is the hottest copy of the write path,
         * and GCC inlines a length-bounded memcpy as a string instruction
         * that is slow to start on many CPUs; memmove stays a call into
         * the C library's vectorised copy */
        memmove(out + pos, s, n + 1);
        pos += n + 1;
    }
    out[pos++] = (uint8_t)kind;
    *len = pos;
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

uint64_t tss_key_hash(const uint8_t *key, size_t len)
{
    return tss_checksum(key, len);
}
