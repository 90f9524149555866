/*
 * tsstore — series, kinds, points.
 *
 * A series is one collectd data source: the identifier
 * host/plugin[-plugin_instance]/type[-type_instance] plus the data source
 * name. Its kind comes from collectd's data set. Identifier fields are data,
 * never paths: any byte except NUL may occur, up to TSS_FIELD_MAX bytes.
 */
#ifndef TSSTORE_SERIES_H
#define TSSTORE_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "tsstore/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest identifier field in bytes (collectd allows 127). */
#define TSS_FIELD_MAX 255

/** Value kinds; integer kinds are stored losslessly as integers. */
typedef enum tss_kind {
    TSS_KIND_GAUGE = 1,    /**< IEEE double, NaN/Inf/-0.0 bit-exact */
    TSS_KIND_DERIVE = 2,   /**< int64 */
    TSS_KIND_COUNTER = 3,  /**< uint64 (wraps) */
    TSS_KIND_ABSOLUTE = 4, /**< uint64 */
} tss_kind;

/** Returns "gauge", "derive", "counter", "absolute", or NULL if invalid. */
const char *tss_kind_name(int kind);

/** One value; which member is valid depends on the series' kind. */
typedef union tss_value {
    double gauge;
    int64_t derive;
    uint64_t counter; /**< also ABSOLUTE */
    uint64_t bits;    /**< raw 64 bits, as stored */
} tss_value;

/** One point: timestamp in store precision units since the epoch. */
typedef struct tss_point {
    int64_t t;
    tss_value v;
} tss_point;

/**
 * A series identifier as borrowed NUL-terminated strings. Empty strings mean
 * "absent" for plugin_instance and type_instance. The struct never owns its
 * strings.
 */
typedef struct tss_series_id {
    const char *host;
    const char *plugin;
    const char *plugin_instance;
    const char *type;
    const char *type_instance;
    const char *ds;
} tss_series_id;

/**
 * Formats the collectd identifier host/plugin[-pinst]/type[-tinst] (without
 * the data source name) into `out` of `size` bytes, NUL-terminated.
 * Returns the length it needs (excluding NUL), like snprintf; the output is
 * truncated if that is >= size. Never fails. Thread safe.
 */
size_t tss_series_id_format(char *out, size_t size, const tss_series_id *id);

#ifdef __cplusplus
}
#endif
#endif /* TSSTORE_SERIES_H */
