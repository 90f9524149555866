/*
 * The files of collectd's csv plugin, parsed (tsstore import): a file's
 * name relative to the plugin's DataDir, its header line, its data lines.
 * No I/O: the caller reads the lines. Shared by cmd_import.c and the
 * csv_import fuzz target.
 *
 *   <host>/<plugin>[-<plugin_instance>]/<type>[-<type_instance>]-YYYY-MM-DD
 *   epoch,<ds>,...
 *   <epoch seconds>,<value>,...
 */
#ifndef TSS_CSVFILE_H
#define TSS_CSVFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsstore/series.h"
#include "typesdb.h"

/** A csv file's identifier, split from its name. Fields are NUL-terminated
 * and never empty except the instances ("" when absent). */
typedef struct csv_name {
    char host[256], plugin[256], type[256];
    const char *plugin_instance, *type_instance; /* into plugin, type */
} csv_name;

/**
 * Splits `rel` (a path relative to the csv DataDir) into its identifier.
 * Splits at the slashes only: a field may hold spaces, quotes or anything
 * but '/'. The plugin instance starts after the first '-' of the plugin
 * directory, the type instance after the first '-' of the file name
 * without its "-YYYY-MM-DD". False when rel does not have that shape
 * (three non-empty parts, a part longer than 255 bytes, a name of fewer
 * than 12 bytes, no "-YYYY-MM-DD" at its end, an empty plugin or type
 * name). An instance after a '-' may be empty ("type-": no instance).
 * Thread-safe.
 */
bool csv_parse_name(const char *rel, csv_name *out);

/**
 * Whether the header line "epoch,<ds>,..." names t's data sources, in
 * order. False, with what differs in why[n], when a name or the count
 * differs. Thread-safe.
 */
bool csv_header_matches(const typesdb_type *t, const char *header, char *why,
                        size_t n);

/** What a file's counters turned out to hold (see csv_parse_line). */
typedef enum csv_mode {
    CSV_UNDECIDED, /* no data line parsed yet */
    CSV_COUNTERS,  /* derive, counter, absolute columns hold integers */
    CSV_RATES,     /* they hold rates (StoreRates true): stored as gauges */
} csv_mode;

/** csv_parse_line's results. */
enum {
    CSV_LINE_OK = 0,   /* *ts, vals[] and kinds[] set */
    CSV_LINE_BAD = 1,  /* skip the line; why[] says what is wrong */
    CSV_RATE_FILE = 2, /* refuse the file: rates, not --rates-as-gauge */
};

/**
 * Parses one data line (no line end; modified: split at its commas) of a
 * file of type t (1 to 16 data sources). The time is epoch seconds with an
 * optional fraction, returned in store units (`ups` per second: 1, 1000,
 * 10^6, 10^9). Values follow types.db's kinds, except that the file's
 * first data line decides, and *mode records, whether its derive, counter
 * and absolute columns hold rates (a non-integer number: the csv plugin's
 * StoreRates output): then with `rates_as_gauge` every column of the file
 * is a gauge, without it the file is refused. kinds[k] is the kind stored
 * for data source k. A line is parsed whole before anything is returned.
 * Returns a CSV_* value; why[n] explains BAD and RATE_FILE. Thread-safe.
 */
int csv_parse_line(const typesdb_type *t, char *line, uint32_t ups,
                   bool rates_as_gauge, csv_mode *mode, int64_t *ts,
                   tss_value vals[16], int kinds[16], char *why, size_t n);

#endif
