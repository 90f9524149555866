/*
 * Mutation documents (format and state diagram in wal.h), with yajl.
 */
#define _GNU_SOURCE
#include "wal.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "tsstore/series.h"

#define MAX_DOC (UINT64_C(64) << 20)

static const char *const STATES[] = {NULL, "intent", "applying", "visible",
                                     "compacted"};

const char *tss_mut_state_name(int state)
{
    return state >= TSS_MS_INTENT && state <= TSS_MS_COMPACTED ? STATES[state]
                                                               : "invalid";
}

void tss_mut_path(char *out, size_t size, const char *id)
{
    snprintf(out, size, TSS_WAL_DIR "/%s.json", id);
}

void tss_mut_free(tss_mut *m)
{
    for (size_t i = 0; i < m->ntargets; i++)
        tss_free(m->targets[i].segment);
    tss_free(m->targets);
    tss_free(m->series);
    tss_free(m->ds);
    tss_free(m->error);
    memset(m, 0, sizeof(*m));
}

static void gstr(yajl_gen g, const char *s)
{
    if (s)
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
    else
        yajl_gen_null(g);
}

static void gkey(yajl_gen g, const char *k)
{
    gstr(g, k);
}

int tss_mut_encode(const tss_mut *m, uint8_t **out, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    yajl_gen g = yajl_gen_alloc(NULL);
    int rc = 0;

    *out = NULL;
    if (!g)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_map_open(g);
    gkey(g, "schema_version");
    yajl_gen_integer(g, TSS_WAL_SCHEMA);
    gkey(g, "id");
    gstr(g, m->id);
    gkey(g, "kind");
    gstr(g, m->kind == TSS_MUT_COMPACT  ? "compact"
            : m->kind == TSS_MUT_PRUNE  ? "prune"
            : m->kind == TSS_MUT_ROLLUP ? "rollup"
                                        : "delete");
    gkey(g, "state");
    gstr(g, tss_mut_state_name(m->state));
    gkey(g, "created");
    yajl_gen_integer(g, m->created);
    gkey(g, "updated");
    yajl_gen_integer(g, m->updated);
    gkey(g, "predicate");
    yajl_gen_map_open(g);
    gkey(g, "series");
    gstr(g, m->series);
    gkey(g, "ds");
    gstr(g, m->ds);
    gkey(g, "from");
    if (m->has_from)
        yajl_gen_integer(g, m->from);
    else
        yajl_gen_null(g);
    gkey(g, "to");
    yajl_gen_integer(g, m->to);
    yajl_gen_map_close(g);
    gkey(g, "head");
    gstr(g, m->head_filtered ? "filtered" : "pending");
    gkey(g, "targets");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < m->ntargets; i++) {
        yajl_gen_map_open(g);
        gkey(g, "segment");
        gstr(g, m->targets[i].segment);
        gkey(g, "state");
        gstr(g, m->targets[i].tombstoned ? "tombstoned" : "pending");
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
    gkey(g, "points");
    yajl_gen_integer(g, (long long)m->points);
    gkey(g, "error");
    gstr(g, m->error);
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok) {
        rc = tss_error_set(TSS_EINVAL, "cannot serialise mutation %s", m->id);
        goto out;
    }
    if (!(*out = tss_malloc(n))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*out, buf, n);
    *len = n;
out:
    yajl_gen_free(g);
    return rc;
}

/* The string of a value already known to be a string (YAJL_GET_STRING
 * would hand back NULL for anything else). */
static const char *ystr(yajl_val v)
{
    return v->u.string;
}

static yajl_val field(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};

    return yajl_tree_get(obj, path, yajl_t_any);
}

static int bad(const char *rel, const char *key, const char *what)
{
    return tss_error_set(TSS_ECORRUPT, "mutation %s: \"%s\" %s", rel, key,
                         what);
}

/* Nullable string: null gives NULL. The member itself is required: a
 * delete without its "series" would otherwise match every series. */
static int opt_str(yajl_val obj, const char *key, const char *rel, char **out)
{
    yajl_val v = field(obj, key);

    *out = NULL;
    if (!v)
        return bad(rel, key, "is missing");
    if (YAJL_IS_NULL(v))
        return 0;
    if (!YAJL_IS_STRING(v))
        return bad(rel, key, "is not a string");
    if (!(*out = tss_strdup(ystr(v))))
        return tss_error_set(TSS_ENOMEM, "out of memory");
    return 0;
}

static int req_int(yajl_val obj, const char *key, const char *rel, int64_t *out)
{
    yajl_val v = field(obj, key);

    if (!v || !YAJL_IS_INTEGER(v))
        return bad(rel, key, "is missing or not an integer");
    *out = YAJL_GET_INTEGER(v);
    return 0;
}

static int req_enum(yajl_val obj, const char *key, const char *rel,
                    const char *const *names, int first, int last, int *out)
{
    yajl_val v = field(obj, key);

    if (!v || !YAJL_IS_STRING(v))
        return bad(rel, key, "is missing or not a string");
    for (int i = first; i <= last; i++)
        if (names[i] && strcmp(names[i], ystr(v)) == 0) {
            *out = i;
            return 0;
        }
    return bad(rel, key, "has an unknown value");
}

int tss_mut_decode(const uint8_t *buf, size_t len, const char *rel, tss_mut *m)
{
    static const char *const kinds[] = {NULL, "delete", "compact", "prune",
                                        "rollup"};
    static const char *const heads[] = {"pending", "filtered"};
    char what[320];
    yajl_val root, pred, v, targets;
    int64_t ver;
    int head = 0, rc;

    memset(m, 0, sizeof(*m));
    snprintf(what, sizeof(what), "mutation %s", rel);
    if ((rc = tss_json_parse(buf, len, what, &root)) != 0)
        return rc;
    if (!YAJL_IS_OBJECT(root)) {
        rc = tss_error_set(TSS_ECORRUPT, "mutation %s: not an object", rel);
        goto out;
    }
    if ((rc = req_int(root, "schema_version", rel, &ver)) != 0)
        goto out;
    if (ver != TSS_WAL_SCHEMA) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "mutation %s: schema_version %" PRId64
                           " is not supported (this build reads %d)",
                           rel, ver, TSS_WAL_SCHEMA);
        goto out;
    }
    v = field(root, "id");
    if (!v || !YAJL_IS_STRING(v) || strlen(ystr(v)) != 36 ||
        uuid_parse(ystr(v), m->uuid) != 0) {
        rc = bad(rel, "id", "is not a UUID");
        goto out;
    }
    memcpy(m->id, ystr(v), 37);
    if ((rc = req_enum(root, "kind", rel, kinds, 1, 4, &m->kind)) ||
        (rc = req_enum(root, "state", rel, STATES, TSS_MS_INTENT,
                       TSS_MS_COMPACTED, &m->state)) ||
        (rc = req_int(root, "created", rel, &m->created)) ||
        (rc = req_int(root, "updated", rel, &m->updated)) ||
        (rc = req_enum(root, "head", rel, heads, 0, 1, &head)))
        goto out;
    m->head_filtered = head == 1;
    pred = field(root, "predicate");
    if (!pred || !YAJL_IS_OBJECT(pred)) {
        rc = bad(rel, "predicate", "is missing or not an object");
        goto out;
    }
    if ((rc = opt_str(pred, "series", rel, &m->series)) ||
        (rc = opt_str(pred, "ds", rel, &m->ds)) ||
        (rc = req_int(pred, "to", rel, &m->to)))
        goto out;
    v = field(pred, "from");
    if (!v) {
        rc = bad(rel, "from", "is missing");
        goto out;
    }
    if (!YAJL_IS_NULL(v)) {
        if (!YAJL_IS_INTEGER(v)) {
            rc = bad(rel, "from", "is not an integer");
            goto out;
        }
        m->has_from = true;
        m->from = YAJL_GET_INTEGER(v);
        if (m->from > m->to) {
            rc = bad(rel, "from", "is after \"to\"");
            goto out;
        }
    }
    targets = field(root, "targets");
    if (!targets || !YAJL_IS_ARRAY(targets)) {
        rc = bad(rel, "targets", "is missing or not an array");
        goto out;
    }
    if (targets->u.array.len) {
        m->targets = tss_calloc(targets->u.array.len, sizeof(*m->targets));
        if (!m->targets) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < targets->u.array.len; i++) {
        yajl_val t = targets->u.array.values[i], seg, st;

        seg = YAJL_IS_OBJECT(t) ? field(t, "segment") : NULL;
        st = YAJL_IS_OBJECT(t) ? field(t, "state") : NULL;
        if (!seg || !YAJL_IS_STRING(seg) || !st || !YAJL_IS_STRING(st) ||
            strchr(ystr(seg), '/') ||
            (strcmp(ystr(st), "pending") != 0 &&
             strcmp(ystr(st), "tombstoned") != 0)) {
            rc = bad(rel, "targets", "holds a malformed entry");
            goto out;
        }
        if (!(m->targets[i].segment = tss_strdup(ystr(seg)))) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto out;
        }
        m->targets[i].tombstoned = strcmp(ystr(st), "tombstoned") == 0;
        m->ntargets++;
    }
    v = field(root, "points");
    if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0) {
        rc = bad(rel, "points", "is missing or not a count");
        goto out;
    }
    m->points = (uint64_t)YAJL_GET_INTEGER(v);
    rc = opt_str(root, "error", rel, &m->error);
out:
    tss_json_free(root);
    if (rc)
        tss_mut_free(m);
    return rc;
}

int tss_mut_read(tss_storage *st, const char *id, tss_mut *out)
{
    char rel[96];
    uint8_t *buf;
    size_t len;
    uint64_t etag;
    int rc;

    tss_mut_path(rel, sizeof(rel), id);
    if ((rc = tss_storage_read_etag(st, rel, (size_t)MAX_DOC, &buf, &len,
                                    &etag)) != 0)
        return rc;
    rc = tss_mut_decode(buf, len, rel, out);
    tss_free(buf);
    if (rc == 0)
        out->etag = etag;
    return rc;
}

static int put(tss_storage *st, tss_mut *m, uint64_t expect)
{
    char rel[96];
    uint8_t *buf;
    size_t len;
    int rc;

    if ((rc = tss_storage_mkdirs(st, TSS_WAL_DIR)) != 0)
        return rc;
    if ((rc = tss_mut_encode(m, &buf, &len)) != 0)
        return rc;
    tss_mut_path(rel, sizeof(rel), m->id);
    rc = tss_storage_put_if_match(st, rel, expect, buf, len);
    if (rc == 0)
        m->etag = tss_storage_etag(buf, len);
    tss_free(buf);
    return rc;
}

int tss_mut_create(tss_storage *st, tss_mut *m)
{
    return put(st, m, TSS_ETAG_NONE);
}

int tss_mut_update(tss_storage *st, tss_mut *m)
{
    return put(st, m, m->etag);
}

static int cmp_created(const void *a, const void *b)
{
    const tss_mut *x = a, *y = b;

    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

void tss_mut_list_free(tss_mut *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tss_mut_free(&v[i]);
    tss_free(v);
}

int tss_mut_list(tss_storage *st, tss_log_fn log, void *log_ctx, tss_mut **out,
                 size_t *n, size_t *nbad)
{
    char **names;
    size_t count, k = 0;
    tss_mut *v;
    int rc;

    *out = NULL;
    *n = 0;
    *nbad = 0;
    if ((rc = tss_storage_list(st, TSS_WAL_DIR, "", ".json", &names, &count)) !=
        0)
        return rc;
    v = tss_calloc(count ? count : 1, sizeof(*v));
    if (!v) {
        tss_storage_names_free(names, count);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        char id[64];
        size_t len = strlen(names[i]);

        if (len != 36 + 5)
            continue;
        memcpy(id, names[i], 36);
        id[36] = '\0';
        rc = tss_mut_read(st, id, &v[k]);
        /* only a corrupt document is passed over: one this call could
         * not read (EIO, ...) is pending all the same, and skipping it
         * would apply nothing and say so, or show its deleted points */
        if (rc != 0 && rc != TSS_ENOTFOUND && rc != TSS_ECORRUPT)
            break;
        if (rc == TSS_ENOTFOUND) { /* removed since the listing */
            rc = 0;
            continue;
        }
        if (rc == 0 && strcmp(v[k].id, id) != 0) {
            tss_mut_free(&v[k]);
            rc = tss_error_set(TSS_ECORRUPT,
                               "mutation %s: id disagrees with the file name",
                               names[i]);
        }
        if (rc) {
            tss_log(log, log_ctx, TSS_LEVEL_ERR, "skipping %s",
                    tss_error_last());
            (*nbad)++;
            rc = 0;
            continue;
        }
        k++;
    }
    tss_storage_names_free(names, count);
    if (rc) {
        tss_mut_list_free(v, k);
        return rc;
    }
    qsort(v, k, sizeof(*v), cmp_created);
    *out = v;
    *n = k;
    return 0;
}

bool tss_mut_matches_series(const tss_mut *m, const tss_series_id *id)
{
    char ident[6 * (TSS_FIELD_MAX + 1)];

    if (m->kind != TSS_MUT_DELETE)
        return false;
    if (m->ds && strcmp(m->ds, id->ds) != 0)
        return false;
    if (!m->series)
        return true;
    tss_series_id_format(ident, sizeof(ident), id);
    return fnmatch(m->series, ident, 0) == 0;
}
