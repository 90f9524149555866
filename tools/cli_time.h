/*
 * Time arguments and output for the tsstore CLI.
 *
 * Input: epoch seconds with an optional fraction ("1700000000",
 * "1700000000.25", "-5.5"), or RFC 3339 ("2026-11-21T15:41:00Z",
 * "2026-11-21T15:41:00.123+01:00", a space instead of "T" also accepted).
 * Parsing is exact decimal arithmetic: no float rounding.
 */
#ifndef TSS_CLI_TIME_H
#define TSS_CLI_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Parses `s` into store units (`ups` per second). A fraction finer than
 * the precision rounds up when `round_up` (for --from) and down otherwise
 * (for --to), so an inclusive range never takes a point outside the times
 * given. Returns 0, or -1 with a reason in err[errlen].
 */
int cli_time_parse(const char *s, uint32_t ups, bool round_up, int64_t *out,
                   char *err, size_t errlen);

/** Writes v in decimal to out (at least 20 bytes; no NUL) and returns the
 * number of digits. Thread safe. */
size_t cli_u64_digits(char *out, uint64_t v);

/** Formats t as epoch seconds with as many decimals as the precision has
 * ("1700000000.123" for ms). Returns out. */
char *cli_time_epoch(char *out, size_t size, int64_t t, uint32_t ups);

/** Formats t as RFC 3339 UTC with the precision's decimals. */
char *cli_time_rfc3339(char *out, size_t size, int64_t t, uint32_t ups);

#endif
