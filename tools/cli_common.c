/*
 * Helpers shared by the CLI's commands (see cli.h).
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "../plugin/conf_util.h"
#include "cli_time.h"
#include "tsstore/error.h"

static void log_stderr(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "tsstore: %s\n", msg);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("tsstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'tsstore --help'.\n", stderr);
    return EXIT_USAGE;
}

int cli_open_store(const char *dir, tss_store **s)
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

int cli_close_writer(tss_store *w, const tss_store_options *o,
                     tss_apply_result *res)
{
    if (tss_store_close_writer(w, o, res) != 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        return EXIT_ERR;
    }
    return EXIT_OK;
}

int cli_make_filter(const cli_opts *o, const tss_store_info *info,
                    tss_filter *f)
{
    char err[256];

    memset(f, 0, sizeof(*f));
    f->series_glob = o->series;
    f->ds = o->ds;
    if (o->from) {
        if (cli_time_parse(o->from, info->units_per_second, true, &f->from, err,
                           sizeof(err)) != 0)
            return cli_usage_error("--from: %s", err);
        f->has_from = 1;
    }
    if (o->to) {
        if (cli_time_parse(o->to, info->units_per_second, false, &f->to, err,
                           sizeof(err)) != 0)
            return cli_usage_error("--to: %s", err);
        f->has_to = 1;
    }
    if (o->resolution && strcmp(o->resolution, "raw") != 0) {
        int64_t ms;

        if (strcmp(o->resolution, "auto") == 0) {
            f->resolution = TSS_RES_AUTO;
        } else if (tss_conf_duration_ms(o->resolution, &ms, err, sizeof(err)) ==
                       0 &&
                   ms > 0) {
            f->resolution = ms * (int64_t)info->units_per_second / 1000;
        } else {
            return cli_usage_error("--resolution: \"%s\" is not raw, auto "
                                   "or a duration (5m, 1h)",
                                   o->resolution);
        }
    }
    if (f->has_from && f->has_to && f->from > f->to)
        return cli_usage_error("%s", "--from is after --to");
    return EXIT_OK;
}

void cli_csv_id(FILE *out, const tss_series_id *id, int kind)
{
    const char *fields[6] = {id->host, id->plugin,        id->plugin_instance,
                             id->type, id->type_instance, id->ds};

    for (int i = 0; i < 6; i++) {
        cli_csv_field(out, fields[i]);
        fputc(',', out);
    }
    fputs(tss_kind_name(kind), out);
}

void cli_jsonl_id(cli_jsonl *j, const tss_series_id *id, int kind)
{
    cli_jsonl_str(j, "host", id->host);
    cli_jsonl_str(j, "plugin", id->plugin);
    cli_jsonl_str(j, "plugin_instance", id->plugin_instance);
    cli_jsonl_str(j, "type", id->type);
    cli_jsonl_str(j, "type_instance", id->type_instance);
    cli_jsonl_str(j, "ds", id->ds);
    cli_jsonl_str(j, "kind", tss_kind_name(kind));
}

void cli_text_id(FILE *out, const tss_series_id *id, int width)
{
    char ident[1600];
    int w;

    tss_series_id_format(ident, sizeof(ident), id);
    /* pad by hand: escapes change the printed width */
    cli_text_field(out, ident);
    for (w = (int)strlen(ident); w < width; w++)
        fputc(' ', out);
}

int cli_finish_output(int ret)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tsstore: writing output: %s\n", strerror(errno));
        return EXIT_ERR;
    }
    return ret;
}

char *cli_resolution(char *out, size_t size, int64_t res, uint32_t ups)
{
    int64_t sec = res / ups;

    if (res <= 0)
        snprintf(out, size, "raw");
    else if (sec % 86400 == 0)
        snprintf(out, size, "%" PRId64 "d", sec / 86400);
    else if (sec % 3600 == 0)
        snprintf(out, size, "%" PRId64 "h", sec / 3600);
    else if (sec % 60 == 0)
        snprintf(out, size, "%" PRId64 "m", sec / 60);
    else
        snprintf(out, size, "%" PRId64 "s", sec);
    return out;
}

const char *cli_aggregate(int agg)
{
    static const char *const names[] = {
        "", "min", "max", "sum", "last", "count", "valid", "first", "wraps"};

    return agg > 0 && agg < (int)(sizeof(names) / sizeof(names[0])) ? names[agg]
                                                                    : "";
}
