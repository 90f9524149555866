/*
 * STORE metadata, written and parsed with yajl (format in meta.h).
 */
#include "meta.h"
#include "internal.h"

#include <stdio.h>

#include <uuid/uuid.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

const char *tss_precision_name(uint32_t ups)
{
    switch (ups) {
    case 1:
        return "s";
    case 1000:
        return "ms";
    case 1000000:
        return "us";
    case 1000000000:
        return "ns";
    default:
        return NULL;
    }
}

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_int(yajl_gen g, const char *key, long long v)
{
    gen_str(g, key);
    yajl_gen_integer(g, v);
}

int tss_meta_encode(const tss_store_info *info, uint8_t **out, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    yajl_gen g;
    int rc = 0;

    *out = NULL;
    g = yajl_gen_alloc(NULL);
    if (!g)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_map_open(g);
    gen_str(g, "format");
    gen_str(g, "tsstore");
    gen_int(g, "format_version", info->format_version);
    gen_str(g, "uuid");
    gen_str(g, info->uuid);
    gen_int(g, "created", info->created);
    gen_str(g, "precision");
    gen_str(g, tss_precision_name(info->units_per_second));
    gen_int(g, "units_per_second", info->units_per_second);
    gen_int(g, "span", info->span);
    gen_int(g, "bucket_width", info->bucket_width);
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok) {
        rc = tss_error_set(TSS_EINVAL, "cannot serialise store metadata");
        goto out;
    }
    *out = tss_malloc(n);
    if (!*out) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*out, buf, n);
    *len = n;
out:
    yajl_gen_free(g);
    return rc;
}

static int field_int(yajl_val root, const char *key, const char *rel,
                     long long *out)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);

    if (!v || !YAJL_IS_INTEGER(v))
        return tss_error_set(TSS_ECORRUPT,
                             "%s: field \"%s\" is missing or not an integer",
                             rel, key);
    *out = YAJL_GET_INTEGER(v);
    return 0;
}

static int field_str(yajl_val root, const char *key, const char *rel,
                     const char **out)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);

    if (!v)
        return tss_error_set(TSS_ECORRUPT,
                             "%s: field \"%s\" is missing or not a string", rel,
                             key);
    *out = YAJL_GET_STRING(v);
    return 0;
}

int tss_meta_decode(const uint8_t *buf, size_t len, const char *rel,
                    tss_store_info *out)
{
    const char *fmt = NULL, *uuid = NULL, *prec = NULL;
    long long ver = 0, ups = 0, span = 0, bucket = 0, created = 0;
    uuid_t u;
    yajl_val root;
    int rc;

    if ((rc = tss_json_parse(buf, len, rel, &root)) != 0)
        return rc;
    if (!YAJL_IS_OBJECT(root)) {
        rc = tss_error_set(TSS_ECORRUPT, "%s: not a JSON object", rel);
        goto out;
    }
    if ((rc = field_str(root, "format", rel, &fmt)) ||
        (rc = field_int(root, "format_version", rel, &ver)) ||
        (rc = field_str(root, "uuid", rel, &uuid)) ||
        (rc = field_int(root, "created", rel, &created)) ||
        (rc = field_str(root, "precision", rel, &prec)) ||
        (rc = field_int(root, "units_per_second", rel, &ups)) ||
        (rc = field_int(root, "span", rel, &span)) ||
        (rc = field_int(root, "bucket_width", rel, &bucket)))
        goto out;
    if (strcmp(fmt, "tsstore") != 0) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "%s: \"format\" is \"%s\", not "
                           "\"tsstore\"",
                           rel, fmt);
        goto out;
    }
    if (ver != TSS_FORMAT_VERSION) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "%s: format_version %lld is not supported (this "
                           "build reads %d)",
                           rel, ver, TSS_FORMAT_VERSION);
        goto out;
    }
    if (ups <= 0 || ups > 1000000000 || !tss_precision_name((uint32_t)ups) ||
        strcmp(prec, tss_precision_name((uint32_t)ups)) != 0) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "%s: \"precision\" \"%s\" and \"units_per_second\" "
                           "%lld disagree or are invalid",
                           rel, prec, ups);
        goto out;
    }
    if (span <= 0 || bucket <= 0 || span % bucket != 0 ||
        span > TSS_TIME_LIMIT / 4) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "%s: \"span\" %lld / \"bucket_width\" %lld invalid",
                           rel, span, bucket);
        goto out;
    }
    if (strlen(uuid) != 36 || uuid_parse(uuid, u) != 0) {
        rc = tss_error_set(TSS_ECORRUPT, "%s: \"uuid\" is not a UUID", rel);
        goto out;
    }
    out->format_version = (uint32_t)ver;
    out->units_per_second = (uint32_t)ups;
    out->span = span;
    out->bucket_width = bucket;
    out->created = created;
    memcpy(out->uuid, uuid, 37);
out:
    tss_json_free(root);
    return rc;
}
