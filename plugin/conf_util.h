/*
 * Parsing of option values for the tsstore collectd plugins. Pure C, no
 * collectd header, so the unit tests and fuzzers call it directly.
 */
#ifndef TSS_CONF_UTIL_H
#define TSS_CONF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parses a duration: a number of seconds ("300", "0.5") or a number with a
 * unit suffix s, m, h, d, w or y (365 d): "90s", "5m", "2h", "7d". Fills
 * *out with whole milliseconds. Returns 0, or -1 with a reason in err.
 */
int tss_conf_duration_ms(const char *s, int64_t *out, char *err, size_t errlen);

/**
 * Parses a byte size: a number, optionally with K, M, G or T (powers of
 * 1024, an optional trailing "B" or "iB"): "268435456", "256M", "10G".
 * Returns 0, or -1 with a reason in err.
 */
int tss_conf_size(const char *s, uint64_t *out, char *err, size_t errlen);

/** Parses "s", "ms", "us" or "ns" into units per second; 0 if none. */
uint32_t tss_conf_precision(const char *s);

#endif
