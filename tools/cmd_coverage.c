/*
 * tsstore coverage: covered ranges and gaps per series, from coverage
 * sidecars and the table snapshot — no segment chunk is decoded.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli_time.h"
#include "tsstore/coverage.h"
#include "tsstore/error.h"

/* "90 s", "2 h 5 m": a duration in store units, for the text format. */
static char *duration(char *out, size_t size, int64_t d, uint32_t ups)
{
    int64_t s = d / ups;

    if (d % ups != 0)
        return cli_time_epoch(out, size, d, ups);
    if (s % 3600 == 0 && s >= 3600)
        snprintf(out, size, "%" PRId64 " h", s / 3600);
    else if (s % 60 == 0 && s >= 60)
        snprintf(out, size, "%" PRId64 " min", s / 60);
    else
        snprintf(out, size, "%" PRId64 " s", s);
    return out;
}

static void print_run(FILE *out, int fmt, cli_jsonl *j,
                      const tss_coverage_series *cs, const tss_cov_run *r,
                      uint32_t ups)
{
    char a[48], b[48], d[48], pct[32];

    snprintf(pct, sizeof(pct), "%.2f", cs->percent);
    if (fmt == FMT_CSV) {
        cli_csv_id(out, &cs->id, cs->kind);
        fprintf(out, ",%s,%s,%s,%s,%s\n", r->covered ? "covered" : "gap",
                cli_time_epoch(a, sizeof(a), r->from, ups),
                cli_time_epoch(b, sizeof(b), r->to, ups),
                cli_time_epoch(d, sizeof(d), r->to - r->from, ups), pct);
    } else if (fmt == FMT_JSONL) {
        cli_jsonl_begin(j);
        cli_jsonl_id(j, &cs->id, cs->kind);
        cli_jsonl_str(j, "state", r->covered ? "covered" : "gap");
        cli_jsonl_num(j, "from", cli_time_epoch(a, sizeof(a), r->from, ups));
        cli_jsonl_num(j, "to", cli_time_epoch(b, sizeof(b), r->to, ups));
        cli_jsonl_num(j, "seconds",
                      cli_time_epoch(d, sizeof(d), r->to - r->from, ups));
        cli_jsonl_num(j, "coverage_percent", pct);
        cli_jsonl_end(j);
    } else {
        fprintf(out, "    %-8s %s  %s  %s\n", r->covered ? "covered" : "gap",
                cli_time_rfc3339(a, sizeof(a), r->from, ups),
                cli_time_rfc3339(b, sizeof(b), r->to, ups),
                duration(d, sizeof(d), r->to - r->from, ups));
    }
}

int cmd_coverage(const cli_opts *o)
{
    tss_store *s = NULL;
    tss_store_info info;
    tss_coverage *c = NULL;
    tss_coverage_series cs;
    tss_filter f;
    cli_jsonl *j = NULL;
    FILE *out = stdout;
    int fmt = o->format >= 0 ? o->format : FMT_TEXT;
    int rc, ret;

    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    tss_store_info_get(s, &info);
    if ((ret = cli_make_filter(o, &info, &f)) != EXIT_OK)
        goto out;
    if (tss_coverage_open(&c, s, &f) != 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
        goto out;
    }
    if (fmt == FMT_JSONL && !(j = cli_jsonl_new(out))) {
        fputs("tsstore: out of memory\n", stderr);
        ret = EXIT_ERR;
        goto out;
    }
    if (fmt == FMT_CSV)
        fputs("host,plugin,plugin_instance,type,type_instance,ds,kind,state,"
              "from,to,seconds,coverage_percent\n",
              out);
    else if (fmt == FMT_TEXT)
        fprintf(out, "%-50s %-10s %-8s %9s %8s %5s\n", "SERIES", "DS", "KIND",
                "INTERVAL", "COVERAGE", "GAPS");
    while ((rc = tss_coverage_next(c, &cs)) == 1) {
        char iv[48];

        if (o->gaps && cs.gaps == 0)
            continue;
        if (fmt == FMT_TEXT) {
            cli_text_id(out, &cs.id, 50);
            fputc(' ', out);
            cli_text_field(out, cs.id.ds);
            for (int w = (int)strlen(cs.id.ds); w < 10; w++)
                fputc(' ', out);
            fprintf(out, " %-8s %9s %7.2f%% %5" PRIu64 "\n",
                    tss_kind_name(cs.kind),
                    cs.interval ? duration(iv, sizeof(iv), cs.interval,
                                           info.units_per_second)
                                : "?",
                    cs.percent, cs.gaps);
        }
        for (size_t i = 0; i < cs.nruns; i++)
            if (!o->gaps || !cs.runs[i].covered)
                print_run(out, fmt, j, &cs, &cs.runs[i], info.units_per_second);
    }
    if (rc < 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
    } else if (tss_coverage_errors(c) > 0) {
        fprintf(stderr,
                "tsstore: %" PRIu64 " unreadable coverage file(s), "
                "segment(s), head snapshot file(s) or mutation document(s) "
                "were skipped (see above)\n",
                tss_coverage_errors(c));
        ret = EXIT_ERR;
    }
    ret = cli_finish_output(ret);
out:
    cli_jsonl_free(j);
    tss_coverage_close(c);
    tss_store_close(s);
    return ret;
}
