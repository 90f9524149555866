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

/*
 * A series' rollup rows (dump with --resolution other than raw), kept
 * until the series ends and printed in time order: the query gives them
 * per resolution and per aggregate (all of one aggregate's intervals,
 * then the next's), and with auto the raw points (the newest windows)
 * before the rollups (the oldest). Rows of one time come in the order
 * resolution, aggregate, then arrival; a gauge interval's derived "mean"
 * (sum / valid) last.
 */

typedef struct row {
    int64_t t, res;
    int agg, value_kind;
    tss_value v;
    size_t seq;
} row;

typedef struct rows {
    row *r;
    size_t n, cap;
    tss_series_info si; /* the series, its strings in `text` */
    char text[6][256];
    bool on;
} rows;

/* The series' identifier fields, in key order (host .. ds). */
static void id_fields(const tss_series_id *id, const char *f[6])
{
    f[0] = id->host;
    f[1] = id->plugin;
    f[2] = id->plugin_instance;
    f[3] = id->type;
    f[4] = id->type_instance;
    f[5] = id->ds;
}

/* Saves si as the buffer's series (its strings copied: a query's are
 * valid until its next call). */
static void rows_begin(rows *b, const tss_series_info *si)
{
    const char *src[6];

    id_fields(&si->id, src);
    for (int k = 0; k < 6; k++)
        snprintf(b->text[k], sizeof(b->text[k]), "%s", src[k]);
    b->si = *si;
    b->si.id = (tss_series_id){b->text[0], b->text[1], b->text[2],
                               b->text[3], b->text[4], b->text[5]};
    b->n = 0;
    b->on = true;
}

/* Whether si is the buffered series (identifier, data source, kind). */
static bool rows_same(const rows *b, const tss_series_info *si)
{
    const char *x[6];

    if (!b->on || b->si.kind != si->kind)
        return false;
    id_fields(&si->id, x);
    for (int k = 0; k < 6; k++)
        if (strcmp(x[k], b->text[k]) != 0)
            return false;
    return true;
}

static int rows_push(rows *b, int64_t t, int64_t res, int agg, int value_kind,
                     tss_value v)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        row *nr = realloc(b->r, nc * sizeof(*nr));

        if (!nr)
            return -1;
        b->r = nr;
        b->cap = nc;
    }
    b->r[b->n] = (row){t, res, agg, value_kind, v, b->n};
    b->n++;
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->res != y->res)
        return x->res < y->res ? -1 : 1;
    if (x->agg != y->agg)
        return x->agg < y->agg ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Prints the buffered series' rows in time order and empties it; after
 * a gauge interval's rows, its mean when both its sum and its valid count
 * are there (NaN when no value was valid). */
static void rows_flush(rows *b, FILE *out, int fmt, cli_jsonl *j, uint32_t ups)
{
    char csv_id[4096], t[48], res[32];
    bool gauge = b->si.kind == TSS_KIND_GAUGE;
    const row *sum = NULL, *valid = NULL;

    if (!b->on)
        return;
    b->on = false;
    if (b->n == 0)
        return;
    qsort(b->r, b->n, sizeof(*b->r), row_cmp);
    csv_id[0] = '\0';
    if (fmt == FMT_CSV)
        csv_id_text(csv_id, sizeof(csv_id), &b->si);
    for (size_t i = 0; i < b->n; i++) {
        const row *r = &b->r[i], *next = i + 1 < b->n ? r + 1 : NULL;

        cli_time_epoch(t, sizeof(t), r->t, ups);
        cli_resolution(res, sizeof(res), r->res, ups);
        dump_row(out, fmt, j, &b->si, csv_id, res, cli_aggregate(r->agg), t,
                 r->value_kind, r->v);
        if (gauge && r->agg == TSS_AGGREGATE_SUM)
            sum = r;
        else if (gauge && r->agg == TSS_AGGREGATE_VALID)
            valid = r;
        if (next && next->t == r->t && next->res == r->res)
            continue; /* the interval goes on */
        if (sum && valid) {
            tss_value mean;

            mean.gauge = valid->v.counter
                             ? sum->v.gauge / (double)valid->v.counter
                             : NAN;
            dump_row(out, fmt, j, &b->si, csv_id, res, "mean", t,
                     TSS_KIND_GAUGE, mean);
        }
        sum = valid = NULL;
    }
    b->n = 0;
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
    rows buf = {0};
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
        /* an interval's aggregates share its time: as samples of one
         * metric they would be duplicates, which OpenMetrics refuses */
        if (f.resolution != 0) {
            ret = cli_usage_error("%s", "--format openmetrics exports raw "
                                        "points only: leave --resolution "
                                        "out (or give raw)");
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
        if (rollups) {
            if (!rows_same(&buf, &si)) {
                rows_flush(&buf, out, fmt, j, info.units_per_second);
                rows_begin(&buf, &si);
            }
            for (size_t i = 0; i < n && rc == 0; i++)
                if (rows_push(&buf, pts[i].t, si.resolution, si.aggregate,
                              si.value_kind, pts[i].v) != 0)
                    rc = TSS_ENOMEM;
            if (rc != 0) {
                fputs("tsstore: out of memory\n", stderr);
                ret = EXIT_ERR;
                break;
            }
        } else {
            csv_id[0] = '\0';
            if (fmt == FMT_CSV && n > 0)
                csv_id_text(csv_id, sizeof(csv_id), &si);
            for (size_t i = 0; i < n; i++) {
                cli_time_epoch(t1, sizeof(t1), pts[i].t, info.units_per_second);
                dump_row(out, fmt, j, &si, csv_id, res, NULL, t1, si.value_kind,
                         pts[i].v);
            }
        }
    }
    if (rc >= 0 && ret != EXIT_ERR)
        rows_flush(&buf, out, fmt, j, info.units_per_second);
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
    free(buf.r);
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
