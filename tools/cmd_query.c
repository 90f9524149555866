/*
 * tsstore ls, dump and info.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_time.h"
#include "tsstore/error.h"

/* The csv columns that name a series, and a comma, once per series
 * rather than once per row: into out[size], NUL-terminated; "" if they do
 * not fit (the rows then format them each). */
static void csv_id_text(char *out, size_t size, const tss_series_info *si)
{
    FILE *m = fmemopen(out, size, "w");

    out[0] = '\0';
    if (!m)
        return;
    cli_csv_id(m, &si->id, si->kind);
    fputc(',', m);
    if (fflush(m) != 0 || ftell(m) >= (long)size - 1)
        out[0] = '\0';
    fclose(m);
}

/* One dump row; `agg` names the aggregate (rollups only, else NULL);
 * csv_id: the series' csv columns (csv_id_text), or "". */
static void dump_row(FILE *out, int fmt, cli_jsonl *j,
                     const tss_series_info *si, const char *csv_id,
                     const char *res, const char *agg, const char *t,
                     int value_kind, tss_value value)
{
    char v[64];

    cli_value(v, sizeof(v), value_kind, value);
    if (fmt == FMT_JSONL) {
        cli_jsonl_begin(j);
        cli_jsonl_id(j, &si->id, si->kind);
        cli_jsonl_num(j, "time", t);
        cli_jsonl_value(j, "value", value_kind, value);
        if (agg) {
            cli_jsonl_str(j, "resolution", res);
            cli_jsonl_str(j, "aggregate", agg);
        }
        cli_jsonl_end(j);
    } else if (fmt == FMT_CSV) {
        if (*csv_id) {
            fputs(csv_id, out);
        } else {
            cli_csv_id(out, &si->id, si->kind);
            fputc(',', out);
        }
        fputs(t, out);
        fputc(',', out);
        fputs(v, out);
        if (agg)
            fprintf(out, ",%s,%s", res, agg);
        fputc('\n', out);
    } else {
        char ident[1600];

        tss_series_id_format(ident, sizeof(ident), &si->id);
        cli_text_field(out, ident);
        fputc(' ', out);
        cli_text_field(out, si->id.ds);
        fprintf(out, " %s %s", t, v);
        if (agg)
            fprintf(out, " %s %s", res, agg);
        fputc('\n', out);
    }
}

/* A gauge rollup's sum, kept until its valid count comes, to print the
 * mean: a series' aggregates arrive in byte order (min 1, sum 3, valid 6),
 * each at every resolution in turn, so one slot per resolution. */
typedef struct sums {
    tss_point *p;
    size_t n, cap;
    int64_t resolution;
    bool have;
} sums;

static int sums_keep(sums *m, const tss_series_info *si, const tss_point *pts,
                     size_t n)
{
    if (n > m->cap) {
        tss_point *np = realloc(m->p, n * sizeof(*np));

        if (!np)
            return -1;
        m->p = np;
        m->cap = n;
    }
    memcpy(m->p, pts, n * sizeof(*pts));
    m->n = n;
    m->resolution = si->resolution;
    m->have = true;
    return 0;
}

/* Rows of aggregate "mean" = sum / valid (NaN when no value was valid),
 * printed after the valid counts of the same intervals. */
static void dump_means(FILE *out, int fmt, cli_jsonl *j,
                       const tss_series_info *si, const char *csv_id,
                       const char *res, const sums *m, const tss_point *valid,
                       size_t n, int64_t ups)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        char t[48];
        tss_value v;

        while (k < m->n && m->p[k].t < valid[i].t)
            k++;
        if (k == m->n || m->p[k].t != valid[i].t)
            continue;
        v.gauge = valid[i].v.counter
                      ? m->p[k].v.gauge / (double)valid[i].v.counter
                      : NAN;
        cli_time_epoch(t, sizeof(t), valid[i].t, ups);
        dump_row(out, fmt, j, si, csv_id, res, "mean", t, TSS_KIND_GAUGE, v);
    }
}

static int run_query(const cli_opts *o, bool dump);

/* Runs ls or dump over a query. ls without --resolution lists every
 * resolution the store keeps (auto): a series rolled up in part shows
 * one row per resolution, each with its own time range. */
int cmd_query(const cli_opts *opts, bool dump)
{
    cli_opts ls_opts = *opts;
    const cli_opts *o = opts;

    if (!dump && !opts->resolution) {
        ls_opts.resolution = "auto";
        o = &ls_opts;
    }
    return run_query(o, dump);
}

static int run_query(const cli_opts *o, bool dump)
{
    sums sum[TSS_MAX_ROLLUPS + 1] = {{0}};
    /* a series' csv columns: six quoted fields of up to 255 bytes */
    char csv_id[4096];
    tss_store *s = NULL;
    tss_store_info info;
    tss_query *q = NULL;
    tss_series_info si;
    tss_filter f;
    cli_jsonl *j = NULL;
    FILE *out = stdout;
    int fmt = o->format >= 0 ? o->format : (dump ? FMT_CSV : FMT_TEXT);
    /* with --resolution other than raw, rows say which resolution (and
     * which aggregate) they hold */
    bool rollups = o->resolution && strcmp(o->resolution, "raw") != 0;
    int rc, ret;
    uint64_t nseries = 0;

    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    tss_store_info_get(s, &info);
    if ((ret = cli_make_filter(o, &info, &f)) != EXIT_OK)
        goto out;
    if ((rc = tss_query_open(&q, s, &f)) != 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
        goto out;
    }
    if (fmt == FMT_OPENMETRICS) {
        if (!dump) {
            ret = cli_usage_error("%s", "openmetrics is a dump format");
            goto out;
        }
        ret = cli_dump_openmetrics(q, &info);
        if (ret == EXIT_OK && tss_query_errors(q) > 0)
            ret = EXIT_ERR;
        ret = cli_finish_output(ret);
        goto out;
    }
    if (fmt == FMT_JSONL && !(j = cli_jsonl_new(out))) {
        fputs("tsstore: out of memory\n", stderr);
        ret = EXIT_ERR;
        goto out;
    }
    if (fmt == FMT_CSV)
        fprintf(out, "%s%s\n",
                dump ? "host,plugin,plugin_instance,type,type_instance,ds,"
                       "kind,time,value"
                     : "host,plugin,plugin_instance,type,type_instance,ds,"
                       "kind,points,first,last",
                !rollups ? ""
                : dump   ? ",resolution,aggregate"
                         : ",resolution");
    else if (fmt == FMT_TEXT && !dump)
        fprintf(out, "%-50s %-10s %-8s %10s  %-24s  %s\n", "SERIES", "DS",
                "KIND", "POINTS", "FIRST",
                rollups ? "LAST                      RESOLUTION" : "LAST");
    while ((rc = tss_query_next(q, &si)) == 1) {
        char t1[48], t2[48], v[64], res[32];
        const tss_point *pts;
        size_t n;

        nseries++;
        cli_resolution(res, sizeof(res), si.resolution, info.units_per_second);
        /* a rollup's intervals are listed once, by their count */
        if (!dump && si.aggregate && si.aggregate != TSS_AGGREGATE_COUNT)
            continue;
        if (!dump) {
            if (fmt == FMT_CSV) {
                cli_csv_id(out, &si.id, si.kind);
                fprintf(out, ",%" PRIu64 ",%s,%s%s%s\n", si.count,
                        cli_time_epoch(t1, sizeof(t1), si.first,
                                       info.units_per_second),
                        cli_time_epoch(t2, sizeof(t2), si.last,
                                       info.units_per_second),
                        rollups ? "," : "", rollups ? res : "");
            } else if (fmt == FMT_JSONL) {
                cli_jsonl_begin(j);
                cli_jsonl_id(j, &si.id, si.kind);
                snprintf(v, sizeof(v), "%" PRIu64, si.count);
                cli_jsonl_num(j, "points", v);
                cli_jsonl_num(j, "first",
                              cli_time_epoch(t1, sizeof(t1), si.first,
                                             info.units_per_second));
                cli_jsonl_num(j, "last",
                              cli_time_epoch(t2, sizeof(t2), si.last,
                                             info.units_per_second));
                if (rollups)
                    cli_jsonl_str(j, "resolution", res);
                cli_jsonl_end(j);
            } else {
                char ident[1600];
                int w;

                tss_series_id_format(ident, sizeof(ident), &si.id);
                /* pad by hand: escapes change the printed width */
                w = 0;
                cli_text_field(out, ident);
                for (w = (int)strlen(ident); w < 50; w++)
                    fputc(' ', out);
                fputc(' ', out);
                cli_text_field(out, si.id.ds);
                for (w = (int)strlen(si.id.ds); w < 10; w++)
                    fputc(' ', out);
                fprintf(out, " %-8s %10" PRIu64 "  %-24s  %s%s%s\n",
                        tss_kind_name(si.kind), si.count,
                        cli_time_rfc3339(t1, sizeof(t1), si.first,
                                         info.units_per_second),
                        cli_time_rfc3339(t2, sizeof(t2), si.last,
                                         info.units_per_second),
                        rollups ? "  " : "", rollups ? res : "");
            }
            continue;
        }
        if ((rc = tss_query_points(q, &pts, &n)) != 0)
            break;
        csv_id[0] = '\0';
        if (fmt == FMT_CSV && n > 0)
            csv_id_text(csv_id, sizeof(csv_id), &si);
        for (size_t i = 0; i < n; i++) {
            cli_time_epoch(t1, sizeof(t1), pts[i].t, info.units_per_second);
            dump_row(out, fmt, j, &si, csv_id, res,
                     rollups ? cli_aggregate(si.aggregate) : NULL, t1,
                     si.value_kind, pts[i].v);
        }
        if (si.kind != TSS_KIND_GAUGE || !si.aggregate)
            continue;
        {
            sums *m = NULL;

            for (size_t k = 0; k < TSS_MAX_ROLLUPS + 1 && !m; k++)
                if (sum[k].have && sum[k].resolution == si.resolution)
                    m = &sum[k];
            for (size_t k = 0; k < TSS_MAX_ROLLUPS + 1 && !m; k++)
                if (!sum[k].have)
                    m = &sum[k];
            if (!m)
                continue;
            if (si.aggregate == TSS_AGGREGATE_MIN) { /* a series begins */
                m->have = false;
            } else if (si.aggregate == TSS_AGGREGATE_SUM) {
                if (sums_keep(m, &si, pts, n) != 0) {
                    fputs("tsstore: out of memory\n", stderr);
                    ret = EXIT_ERR;
                    break;
                }
            } else if (si.aggregate == TSS_AGGREGATE_VALID && m->have) {
                dump_means(out, fmt, j, &si, csv_id, res, m, pts, n,
                           info.units_per_second);
                m->have = false;
            }
        }
    }
    if (rc < 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
    } else if (tss_query_errors(q) > 0) {
        fprintf(stderr,
                "tsstore: %" PRIu64 " unreadable file(s) or chunk(s) were "
                "skipped (see above); 'tsstore verify %s' checks the store\n",
                tss_query_errors(q), o->dir);
        ret = EXIT_ERR;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "tsstore: writing output: %s\n", strerror(errno));
        ret = EXIT_ERR;
    }
out:
    for (size_t k = 0; k < TSS_MAX_ROLLUPS + 1; k++)
        free(sum[k].p);
    cli_jsonl_free(j);
    tss_query_close(q);
    tss_store_close(s);
    return ret;
}

int cmd_info(const cli_opts *o)
{
    tss_store *s;
    tss_store_info in;
    char t[48];
    int ret;

    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    tss_store_info_get(s, &in);
    printf("path:           %s\n", o->dir);
    printf("uuid:           %s\n", in.uuid);
    printf("format_version: %u\n", in.format_version);
    printf("precision:      %u units per second\n", in.units_per_second);
    printf("segment span:   %" PRId64 " s\n", in.span / in.units_per_second);
    printf("bucket width:   %s s\n",
           cli_time_epoch(t, sizeof(t), in.bucket_width, in.units_per_second));
    printf("created:        %s\n",
           cli_time_rfc3339(t, sizeof(t), in.created, 1));
    tss_store_close(s);
    return EXIT_OK;
}
