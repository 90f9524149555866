/*
 * Output formats of the tsstore CLI: text (aligned, escaped), csv (RFC 4180
 * quoting) and jsonl (one JSON object per line, written with yajl).
 */
#ifndef TSS_CLI_OUT_H
#define TSS_CLI_OUT_H

#include <stdio.h>

#include "tsstore/series.h"

enum cli_format { FMT_TEXT, FMT_CSV, FMT_JSONL, FMT_OPENMETRICS };

/** Parses "text", "csv", "jsonl" or "openmetrics"; -1 if none of them. */
int cli_format_parse(const char *s);

/** Writes s as one RFC 4180 field: quoted when it holds , " CR or LF. */
void cli_csv_field(FILE *f, const char *s);

/** Writes s with C escapes for bytes that would break a text line. */
void cli_text_field(FILE *f, const char *s);

/**
 * Formats a value: gauges with %.17g (round-trips every double; nan, inf,
 * -inf spelled so), integer kinds exactly. Returns out.
 */
char *cli_value(char *out, size_t size, int kind, tss_value v);

/** One JSON object per line. Keys and values are added in pairs. */
typedef struct cli_jsonl cli_jsonl;

cli_jsonl *cli_jsonl_new(FILE *f);
void cli_jsonl_begin(cli_jsonl *j);
void cli_jsonl_str(cli_jsonl *j, const char *key, const char *val);
/** A number given as its exact decimal text (JSON number syntax). */
void cli_jsonl_num(cli_jsonl *j, const char *key, const char *text);
/** A value: numbers as numbers; nan, inf, -inf as strings (JSON has no
 * literal for them). */
void cli_jsonl_value(cli_jsonl *j, const char *key, int kind, tss_value v);
/** Ends the object and writes it with a newline. Returns 0 or -1. */
int cli_jsonl_end(cli_jsonl *j);
void cli_jsonl_free(cli_jsonl *j);

#endif
