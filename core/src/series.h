/*
 * Series keys: the canonical byte form of a series identifier and kind.
 *
 *   key = host NUL plugin NUL plugin_instance NUL type NUL type_instance NUL
 *         ds NUL kind(u8)
 *
 * Fields are arbitrary bytes except NUL, at most TSS_FIELD_MAX each. Because
 * every field ends in NUL (smaller than any other byte), memcmp() of two keys
 * orders series by host, then plugin, ... then ds, then kind: the order of
 * `tsstore ls`. Keys are hashed with XXH3 for the head's shards.
 */
#ifndef TSS_SERIES_KEY_H
#define TSS_SERIES_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "tsstore/series.h"

#define TSS_KEY_MAX (6 * (TSS_FIELD_MAX + 1) + 1)

/** A decoded key: views into the key bytes (NUL-terminated in place). */
typedef struct tss_key_view {
    tss_series_id id;
    int kind;
} tss_key_view;

/**
 * Encodes `id` and `kind` into out[TSS_KEY_MAX]; *len gets the length.
 * TSS_EINVAL names the field that is NULL or too long, or a bad kind.
 */
int tss_key_encode(uint8_t *out, size_t *len, const tss_series_id *id,
                   int kind) TSS_WUR;

/**
 * Validates key bytes (6 NUL-terminated fields of <= TSS_FIELD_MAX bytes and
 * a valid kind byte, nothing else) and points `out` into them.
 * TSS_ECORRUPT if malformed.
 */
int tss_key_decode(const uint8_t *key, size_t len, tss_key_view *out) TSS_WUR;

/** memcmp order of two keys (shorter prefix first). */
int tss_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

uint64_t tss_key_hash(const uint8_t *key, size_t len);

#endif
