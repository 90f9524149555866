/*
 * tsstore dump --format openmetrics: OpenMetrics text
 * (https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md)
 * that `promtool tsdb create-blocks-from openmetrics` reads.
 *
 * Mapping from collectd identifiers (docs/openmetrics.md):
 *   metric family  collectd_<plugin>_<type>[_<ds>]  (ds "value" left out),
 *                  characters outside [a-zA-Z0-9_:] replaced by '_';
 *   type           COUNTER → counter (samples named <family>_total),
 *                  GAUGE → gauge, DERIVE and ABSOLUTE → unknown;
 *   labels         host="<host>", plugin_instance="<pi>" and
 *                  type_instance="<ti>" when not empty;
 *   timestamp      seconds with the store's precision.
 * Families are written whole (OpenMetrics forbids interleaving them), so
 * series are visited in family order, not identifier order.
 *
 * The mapping is not injective (plugin "a" type "b_counter" and plugin
 * "a_b" type "counter" both give collectd_a_b_counter, and a counter family
 * F owns the sample names F_total and F_created). Each family is owned by
 * one (plugin, type, ds, kind): owners are visited in byte order, and one
 * whose names are taken by an earlier owner gets the first free of
 * <family>_2, <family>_3, ... with a warning naming both series.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_time.h"
#include "tsstore/error.h"

/* an allocation failure is reported (names_oom), not fatal */
#define HASH_NONFATAL_OOM 1
static bool names_oom;
#define uthash_nonfatal_oom(obj) (names_oom = true)
#include <uthash.h>

typedef struct om_series {
    char *family, *labels;
    char *f[6]; /* host plugin pinst type tinst ds */
    int kind;
} om_series;

static void sanitize(char *s)
{
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
            *p = '_';
}

static void label(char **out, size_t *len, const char *name, const char *v,
                  bool *first)
{
    size_t need = strlen(name) + 2 * strlen(v) + 8;
    char *p;

    *out = realloc(*out, *len + need);
    if (!*out)
        return;
    p = *out + *len;
    p += sprintf(p, "%s%s=\"", *first ? "" : ",", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            *p++ = '\\';
        if (*v == '\n') {
            *p++ = '\\';
            *p++ = 'n';
            continue;
        }
        *p++ = *v;
    }
    *p++ = '"';
    *p = '\0';
    *len = (size_t)(p - *out);
    *first = false;
}

/* (plugin, type, ds, kind): the source of one family; then labels */
static int cmp_owner(const void *a, const void *b)
{
    const om_series *x = a, *y = b;
    int c = strcmp(x->f[1], y->f[1]);

    if (!c)
        c = strcmp(x->f[3], y->f[3]);
    if (!c)
        c = strcmp(x->f[5], y->f[5]);
    if (!c)
        c = (x->kind > y->kind) - (x->kind < y->kind);
    return c ? c : strcmp(x->labels, y->labels);
}

static bool same_owner(const om_series *x, const om_series *y)
{
    return x->kind == y->kind && strcmp(x->f[1], y->f[1]) == 0 &&
           strcmp(x->f[3], y->f[3]) == 0 && strcmp(x->f[5], y->f[5]) == 0;
}

/* A name taken by a family, and the index in the series array of its
 * owner's first series; a uthash by name. */
typedef struct name_entry {
    char *name;
    size_t owner;
    UT_hash_handle hh;
} name_entry;

static name_entry *name_find(name_entry *set, const char *name)
{
    name_entry *e;

    HASH_FIND_STR(set, name, e);
    return e;
}

/* The names a family of `kind` called `family` writes (OpenMetrics: a
 * counter's samples are <family>_total, its created time <family>_created). */
static int family_names(char *out[3], const char *family, int kind)
{
    int n = 1;

    out[0] = strdup(family);
    out[1] = out[2] = NULL;
    if (kind == TSS_KIND_COUNTER) {
        n = 3;
        if (asprintf(&out[1], "%s_total", family) < 0)
            out[1] = NULL;
        if (asprintf(&out[2], "%s_created", family) < 0)
            out[2] = NULL;
    }
    for (int i = 0; i < n; i++)
        if (!out[i]) {
            for (int k = 0; k < n; k++)
                free(out[k]);
            return -1;
        }
    return n;
}

/*
 * Gives each owner of v (sorted by cmp_owner) a family name no earlier
 * owner's names collide with, warning on stderr when it is not the mapped
 * one. -1 when out of memory.
 */
static int unique_families(om_series *v, size_t n)
{
    name_entry *set = NULL, *e, *tmp;
    char *family = NULL, *names[3];
    int nn = 0, ret = -1;

    for (size_t i = 0, end; i < n; i = end) {
        size_t clash = 0;
        int k;

        for (end = i + 1; end < n && same_owner(&v[i], &v[end]); end++)
            ;
        free(family);
        if (!(family = strdup(v[i].family)))
            goto out;
        for (unsigned suffix = 2;; suffix++) {
            if ((nn = family_names(names, family, v[i].kind)) < 0)
                goto out;
            for (k = 0, e = NULL; k < nn && !e; k++)
                e = name_find(set, names[k]);
            if (!e)
                break;
            clash = e->owner;
            for (k = 0; k < nn; k++)
                free(names[k]);
            free(family);
            if (asprintf(&family, "%s_%u", v[i].family, suffix) < 0) {
                family = NULL;
                goto out;
            }
        }
        for (k = 0; k < nn; k++) {
            if (!(e = calloc(1, sizeof(*e)))) {
                while (k < nn)
                    free(names[k++]);
                goto out;
            }
            e->name = names[k];
            e->owner = i;
            names_oom = false;
            HASH_ADD_KEYPTR(hh, set, e->name, strlen(e->name), e);
            if (names_oom) {
                free(e);
                while (k < nn)
                    free(names[k++]);
                goto out;
            }
        }
        if (strcmp(family, v[i].family) == 0)
            continue;
        fprintf(stderr,
                "tsstore: openmetrics: plugin \"%s\" type \"%s\" data "
                "source \"%s\" (%s) maps to %s, which plugin \"%s\" type "
                "\"%s\" data source \"%s\" (%s) already uses; written as "
                "%s\n",
                v[i].f[1], v[i].f[3], v[i].f[5], tss_kind_name(v[i].kind),
                v[i].family, v[clash].f[1], v[clash].f[3], v[clash].f[5],
                tss_kind_name(v[clash].kind), family);
        for (size_t j = i; j < end; j++) {
            char *dup = strdup(family);

            if (!dup)
                goto out;
            free(v[j].family);
            v[j].family = dup;
        }
    }
    ret = 0;
out:
    free(family);
    HASH_ITER(hh, set, e, tmp)
    {
        HASH_DEL(set, e);
        free(e->name);
        free(e);
    }
    return ret;
}

static int cmp_series(const void *a, const void *b)
{
    const om_series *x = a, *y = b;
    int c = strcmp(x->family, y->family);

    return c ? c : strcmp(x->labels, y->labels);
}

static const char *om_type(int kind)
{
    return kind == TSS_KIND_GAUGE     ? "gauge"
           : kind == TSS_KIND_COUNTER ? "counter"
                                      : "unknown";
}

static void om_value(FILE *out, int kind, tss_value v)
{
    char buf[64];

    if (kind == TSS_KIND_GAUGE && isnan(v.gauge))
        fputs("NaN", out);
    else if (kind == TSS_KIND_GAUGE && isinf(v.gauge))
        fputs(v.gauge > 0 ? "+Inf" : "-Inf", out);
    else
        fputs(cli_value(buf, sizeof(buf), kind, v), out);
}

int cli_dump_openmetrics(tss_query *q, const tss_store_info *info)
{
    om_series *v = NULL;
    size_t n = 0, cap = 0;
    tss_series_info si;
    const char *prev = NULL;
    int rc, ret = EXIT_OK;

    while ((rc = tss_query_next(q, &si)) == 1) {
        const char *f[6] = {
            si.id.host, si.id.plugin,        si.id.plugin_instance,
            si.id.type, si.id.type_instance, si.id.ds};
        om_series *s;
        size_t len = 0;
        bool first = true;

        if (n == cap) {
            om_series *nv =
                realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));

            if (!nv)
                goto oom;
            v = nv;
        }
        s = &v[n];
        memset(s, 0, sizeof(*s));
        s->kind = si.kind;
        for (int i = 0; i < 6; i++)
            if (!(s->f[i] = strdup(f[i])))
                goto oom;
        if (asprintf(&s->family, "collectd_%s_%s%s%s", si.id.plugin, si.id.type,
                     strcmp(si.id.ds, "value") ? "_" : "",
                     strcmp(si.id.ds, "value") ? si.id.ds : "") < 0)
            goto oom;
        sanitize(s->family);
        s->labels = strdup("");
        label(&s->labels, &len, "host", si.id.host, &first);
        if (*si.id.plugin_instance)
            label(&s->labels, &len, "plugin_instance", si.id.plugin_instance,
                  &first);
        if (*si.id.type_instance)
            label(&s->labels, &len, "type_instance", si.id.type_instance,
                  &first);
        if (!s->labels)
            goto oom;
        n++;
    }
    if (rc < 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
        goto out;
    }
    qsort(v, n, sizeof(*v), cmp_owner);
    if (unique_families(v, n) != 0)
        goto oom;
    qsort(v, n, sizeof(*v), cmp_series);
    for (size_t i = 0; i < n; i++) {
        tss_series_id id = {v[i].f[0], v[i].f[1], v[i].f[2],
                            v[i].f[3], v[i].f[4], v[i].f[5]};
        const tss_point *pts;
        size_t np;

        if (!prev || strcmp(prev, v[i].family) != 0)
            printf("# TYPE %s %s\n", v[i].family, om_type(v[i].kind));
        prev = v[i].family;
        if (tss_query_seek(q, &id, v[i].kind, &si) != 1 ||
            tss_query_points(q, &pts, &np) != 0)
            continue;
        for (size_t k = 0; k < np; k++) {
            char t[48];

            printf("%s%s{%s} ", v[i].family,
                   v[i].kind == TSS_KIND_COUNTER ? "_total" : "", v[i].labels);
            om_value(stdout, v[i].kind, pts[k].v);
            printf(" %s\n", cli_time_epoch(t, sizeof(t), pts[k].t,
                                           info->units_per_second));
        }
    }
    puts("# EOF");
    goto out;
oom:
    fputs("tsstore: out of memory\n", stderr);
    ret = EXIT_ERR;
out:
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 6; k++)
            free(v[i].f[k]);
        free(v[i].family);
        free(v[i].labels);
    }
    free(v);
    return ret;
}
