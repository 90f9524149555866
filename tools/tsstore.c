/*
 * tsstore — the command-line tool for tsstore stores.
 *
 *   tsstore ls   [options] DIR    series, kind, point count, first/last time
 *   tsstore dump [options] DIR    points
 *   tsstore info DIR              the store's settings
 *
 * Exit codes: 0 success, 1 error (including files skipped as unreadable),
 * 2 usage error. Reads take no lock and never modify the store.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_out.h"
#include "cli_time.h"
#include "tsstore/error.h"
#include "tsstore/query.h"
#include "tsstore/store.h"
#include "tsstore/version.h"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

typedef struct cli_opts {
    const char *dir;
    const char *series, *ds, *from, *to;
    int format; /* -1: the command's default */
} cli_opts;

static const char USAGE[] =
    "Usage: tsstore COMMAND [OPTIONS] DIR\n"
    "\n"
    "Look at a tsstore store (the DataDir of collectd's write_tsstore).\n"
    "\n"
    "Commands:\n"
    "  ls     list series: kind, point count, first and last time\n"
    "  dump   print points\n"
    "  info   print the store's settings (precision, span, uuid)\n"
    "\n"
    "Options (ls, dump):\n"
    "  -s, --series GLOB   only series whose identifier\n"
    "                      host/plugin[-plugin_instance]/type[-type_instance]\n"
    "                      matches the shell pattern GLOB ('*' matches '/')\n"
    "  -d, --ds NAME       only the data source NAME (value, rx, tx, ...)\n"
    "  -f, --from T        from time T, inclusive\n"
    "  -t, --to T          to time T, inclusive\n"
    "                      T: epoch seconds (1700000000.25) or RFC 3339\n"
    "                      (2023-11-14T22:13:20Z, ...+01:00)\n"
    "  -F, --format FMT    text (ls default), csv (dump default) or jsonl\n"
    "\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "Times are printed as epoch seconds in the store's precision, gauges\n"
    "with 17 significant digits (they round-trip), integers exactly.\n"
    "Exit status: 0 ok, 1 error, 2 usage. See tsstore(1).\n";

static void log_stderr(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "tsstore: %s\n", msg);
}

static int usage_error(const char *fmt, ...) TSS_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("tsstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'tsstore --help'.\n", stderr);
    return EXIT_USAGE;
}

static int open_store(const char *dir, tss_store **s)
{
    tss_store_options o;
    int rc;

    tss_store_options_init(&o);
    o.log = log_stderr;
    rc = tss_store_open(s, dir, 0, &o);
    if (rc) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        return EXIT_ERR;
    }
    return EXIT_OK;
}

static int make_filter(const cli_opts *o, const tss_store_info *info,
                       tss_filter *f)
{
    char err[256];

    memset(f, 0, sizeof(*f));
    f->series_glob = o->series;
    f->ds = o->ds;
    if (o->from) {
        if (cli_time_parse(o->from, info->units_per_second, true, &f->from, err,
                           sizeof(err)) != 0)
            return usage_error("--from: %s", err);
        f->has_from = 1;
    }
    if (o->to) {
        if (cli_time_parse(o->to, info->units_per_second, false, &f->to, err,
                           sizeof(err)) != 0)
            return usage_error("--to: %s", err);
        f->has_to = 1;
    }
    if (f->has_from && f->has_to && f->from > f->to)
        return usage_error("%s", "--from is after --to");
    return EXIT_OK;
}

static void csv_id(FILE *out, const tss_series_info *si)
{
    const char *fields[6] = {
        si->id.host, si->id.plugin,        si->id.plugin_instance,
        si->id.type, si->id.type_instance, si->id.ds};

    for (int i = 0; i < 6; i++) {
        cli_csv_field(out, fields[i]);
        fputc(',', out);
    }
    fputs(tss_kind_name(si->kind), out);
}

static void jsonl_id(cli_jsonl *j, const tss_series_info *si)
{
    cli_jsonl_str(j, "host", si->id.host);
    cli_jsonl_str(j, "plugin", si->id.plugin);
    cli_jsonl_str(j, "plugin_instance", si->id.plugin_instance);
    cli_jsonl_str(j, "type", si->id.type);
    cli_jsonl_str(j, "type_instance", si->id.type_instance);
    cli_jsonl_str(j, "ds", si->id.ds);
    cli_jsonl_str(j, "kind", tss_kind_name(si->kind));
}

/* Runs ls or dump over a query. */
static int run_query(const cli_opts *o, bool dump)
{
    tss_store *s = NULL;
    tss_store_info info;
    tss_query *q = NULL;
    tss_series_info si;
    tss_filter f;
    cli_jsonl *j = NULL;
    FILE *out = stdout;
    int fmt = o->format >= 0 ? o->format : (dump ? FMT_CSV : FMT_TEXT);
    int rc, ret;
    uint64_t nseries = 0;

    if ((ret = open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    tss_store_info_get(s, &info);
    if ((ret = make_filter(o, &info, &f)) != EXIT_OK)
        goto out;
    if ((rc = tss_query_open(&q, s, &f)) != 0) {
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
        fputs(dump ? "host,plugin,plugin_instance,type,type_instance,ds,"
                     "kind,time,value\n"
                   : "host,plugin,plugin_instance,type,type_instance,ds,"
                     "kind,points,first,last\n",
              out);
    else if (fmt == FMT_TEXT && !dump)
        fprintf(out, "%-50s %-10s %-8s %10s  %-24s  %s\n", "SERIES", "DS",
                "KIND", "POINTS", "FIRST", "LAST");
    while ((rc = tss_query_next(q, &si)) == 1) {
        char t1[48], t2[48], v[64];
        const tss_point *pts;
        size_t n;

        nseries++;
        if (!dump) {
            if (fmt == FMT_CSV) {
                csv_id(out, &si);
                fprintf(out, ",%" PRIu64 ",%s,%s\n", si.count,
                        cli_time_epoch(t1, sizeof(t1), si.first,
                                       info.units_per_second),
                        cli_time_epoch(t2, sizeof(t2), si.last,
                                       info.units_per_second));
            } else if (fmt == FMT_JSONL) {
                cli_jsonl_begin(j);
                jsonl_id(j, &si);
                snprintf(v, sizeof(v), "%" PRIu64, si.count);
                cli_jsonl_num(j, "points", v);
                cli_jsonl_num(j, "first",
                              cli_time_epoch(t1, sizeof(t1), si.first,
                                             info.units_per_second));
                cli_jsonl_num(j, "last",
                              cli_time_epoch(t2, sizeof(t2), si.last,
                                             info.units_per_second));
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
                fprintf(out, " %-8s %10" PRIu64 "  %-24s  %s\n",
                        tss_kind_name(si.kind), si.count,
                        cli_time_rfc3339(t1, sizeof(t1), si.first,
                                         info.units_per_second),
                        cli_time_rfc3339(t2, sizeof(t2), si.last,
                                         info.units_per_second));
            }
            continue;
        }
        if ((rc = tss_query_points(q, &pts, &n)) != 0)
            break;
        for (size_t i = 0; i < n; i++) {
            cli_time_epoch(t1, sizeof(t1), pts[i].t, info.units_per_second);
            cli_value(v, sizeof(v), si.kind, pts[i].v);
            if (fmt == FMT_JSONL) {
                cli_jsonl_begin(j);
                jsonl_id(j, &si);
                cli_jsonl_num(j, "time", t1);
                cli_jsonl_value(j, "value", si.kind, pts[i].v);
                cli_jsonl_end(j);
            } else if (fmt == FMT_CSV) {
                csv_id(out, &si);
                fprintf(out, ",%s,%s\n", t1, v);
            } else {
                char ident[1600];

                tss_series_id_format(ident, sizeof(ident), &si.id);
                cli_text_field(out, ident);
                fputc(' ', out);
                cli_text_field(out, si.id.ds);
                fprintf(out, " %s %s\n", t1, v);
            }
        }
    }
    if (rc < 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
    } else if (tss_query_errors(q) > 0) {
        fprintf(stderr,
                "tsstore: %" PRIu64 " unreadable file(s) or chunk(s) were "
                "skipped (see above); run 'tsstore verify' when available\n",
                tss_query_errors(q));
        ret = EXIT_ERR;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "tsstore: writing output: %s\n", strerror(errno));
        ret = EXIT_ERR;
    }
out:
    cli_jsonl_free(j);
    tss_query_close(q);
    tss_store_close(s);
    return ret;
}

static int run_info(const cli_opts *o)
{
    tss_store *s;
    tss_store_info in;
    char t[48];
    int ret;

    if ((ret = open_store(o->dir, &s)) != EXIT_OK)
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

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"series", required_argument, NULL, 's'},
        {"ds", required_argument, NULL, 'd'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    cli_opts o = {.format = -1};
    const char *cmd = NULL;
    int c;

    /* global options before the command */
    if (argc > 1 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
         strcmp(argv[1], "help") == 0)) {
        fputs(USAGE, stdout);
        return EXIT_OK;
    }
    if (argc > 1 &&
        (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("tsstore %s\n", TSS_VERSION);
        return EXIT_OK;
    }
    if (argc < 2)
        return usage_error("%s", "missing command (ls, dump, info)");
    cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "s:d:f:t:F:hV", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 's':
            o.series = optarg;
            break;
        case 'd':
            o.ds = optarg;
            break;
        case 'f':
            o.from = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 'F':
            o.format = cli_format_parse(optarg);
            if (o.format < 0)
                return usage_error("--format: \"%s\" is not text, csv or "
                                   "jsonl",
                                   optarg);
            break;
        case 'h':
            fputs(USAGE, stdout);
            return EXIT_OK;
        case 'V':
            printf("tsstore %s\n", TSS_VERSION);
            return EXIT_OK;
        default:
            return usage_error("%s", "invalid option");
        }
    }
    if (strcmp(cmd, "ls") != 0 && strcmp(cmd, "dump") != 0 &&
        strcmp(cmd, "info") != 0)
        return usage_error("unknown command \"%s\" (ls, dump, info)", cmd);
    if (optind != argc - 1)
        return usage_error("%s", optind >= argc ? "missing store directory"
                                                : "more than one directory");
    o.dir = argv[optind];
    if (strcmp(cmd, "info") == 0)
        return run_info(&o);
    return run_query(&o, strcmp(cmd, "dump") == 0);
}
