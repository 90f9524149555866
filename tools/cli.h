/*
 * Shared pieces of the tsstore CLI's commands.
 */
#ifndef TSS_CLI_H
#define TSS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "cli_out.h"
#include "tsstore/mutation.h"
#include "tsstore/query.h"
#include "tsstore/store.h"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

/** Parsed command line. */
typedef struct cli_opts {
    const char *dir;
    const char *series, *ds, *from, *to;
    int format; /* -1: the command's default */
    bool gaps;
    bool repair;
    bool wait, dry_run;
    double timeout;                    /* seconds, for --wait */
    const char *csv_dir, *types_db;    /* import */
    bool rates_as_gauge;               /* import */
    const char *older_than, *max_size; /* prune */
    const char *resolution;            /* raw, auto or a duration */
    const char *levels[16];            /* rollup --level */
    size_t nlevels;
} cli_opts;

/** Prints "tsstore: <message>" and the --help hint; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) TSS_PRINTF(1, 2);

/** Opens DIR read-only; prints the error and returns EXIT_ERR on failure. */
int cli_open_store(const char *dir, tss_store **s);

/**
 * Closes a writer handle `w` (NULL: nothing) with tss_store_close_writer:
 * documents another command queued while this one held the LOCK are
 * applied before it returns. `o`: the options `w` was opened with; *res
 * (may be NULL) gets what that applied. Returns EXIT_OK, or EXIT_ERR with
 * the error printed.
 */
int cli_close_writer(tss_store *w, const tss_store_options *o,
                     tss_apply_result *res);

/** Builds the filter from --series/--ds/--from/--to (EXIT_USAGE if bad). */
int cli_make_filter(const cli_opts *o, const tss_store_info *info,
                    tss_filter *f);

/** Writes the identifier columns host..ds,kind as csv (no newline). */
void cli_csv_id(FILE *out, const tss_series_id *id, int kind);

/** Adds the identifier fields and kind to a jsonl object. */
void cli_jsonl_id(cli_jsonl *j, const tss_series_id *id, int kind);

/** Writes the identifier (escaped) padded to `width` columns. */
void cli_text_id(FILE *out, const tss_series_id *id, int width);

/** "raw", or a rollup resolution as a duration ("5m", "1h"). */
char *cli_resolution(char *out, size_t size, int64_t res, uint32_t ups);

/** Name of a rollup aggregate ("min", ... "first"); "" for raw. */
const char *cli_aggregate(int agg);

/** Flushes stdout; EXIT_ERR (with a message) if writing failed. */
int cli_finish_output(int ret);

int cmd_query(const cli_opts *o, bool dump);
/** dump --format openmetrics over an open query (cmd_openmetrics.c). */
int cli_dump_openmetrics(tss_query *q, const tss_store_info *info);
int cmd_info(const cli_opts *o);
int cmd_coverage(const cli_opts *o);
int cmd_verify(const cli_opts *o);
int cmd_delete(const cli_opts *o);
int cmd_compact(const cli_opts *o);
int cmd_stats(const cli_opts *o);
int cmd_import(const cli_opts *o);
int cmd_prune(const cli_opts *o);
int cmd_rollup(const cli_opts *o);

#endif
