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
 */
#define _GNU_SOURCE
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_time.h"
#include "tsstore/error.h"

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
