/*
 * Series keys: the canonical byte form of a series identifier and kind.
 *
 *   key = host NUL plugin NUL plugin_instance NUL type NUL type_instance NUL
 *         ds NUL kind(u8)
 *
 * Fields are arbitrary bytes except NUL, at most TSS_FIELD_MAX each. Because
 * every field ends in NUL (smaller than any other byte), memcmp() of two keys
 * orders series by host, then plugin, ... then ds, then kind: the order of
 * `tsstore ls`.
 *
 * The head hashes keys field by field (tss_key_hash), so that the append
 * path can hash and compare an identifier's strings where they are
 * (tss_key_fields) and build the key only for a new series. The hash is
 * not stored anywhere: it may change between versions.
 */
#ifndef TSS_SERIES_KEY_H
#define TSS_SERIES_KEY_H

#include <stdbool.h>
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

/**
 * Hash of key bytes for the head's shards and tables. Defined for any
 * bytes; for a valid key it equals tss_key_fields' hash of the same series.
 */
uint64_t tss_key_hash(const uint8_t *key, size_t len);

/**
 * A series identifier measured, checked and hashed in place: what the head
 * needs to find a series without building its key. It points into the
 * caller's strings, which must outlive it.
 */
typedef struct tss_key_fields {
    const char *f[6]; /* host ... ds; "" for an absent instance */
    size_t n[6];      /* their lengths, each <= TSS_FIELD_MAX */
    size_t len;       /* length of the key they encode */
    uint64_t hash;    /* tss_key_hash of that key */
    int kind;
} tss_key_fields;

/**
 * Fills `out` from `id` and `kind`. Same checks and errors as
 * tss_key_encode: TSS_EINVAL names the field that is NULL or too long, or
 * a bad kind.
 */
int tss_key_fields_init(tss_key_fields *out, const tss_series_id *id,
                        int kind) TSS_WUR;

/**
 * Fills `out` from valid key bytes (strings point into `key`, whose fields
 * are NUL-terminated in place). TSS_ECORRUPT if malformed.
 */
int tss_key_fields_of_key(tss_key_fields *out, const uint8_t *key,
                          size_t len) TSS_WUR;

/** Writes the key of `kf` (kf->len bytes) to out[TSS_KEY_MAX]. */
void tss_key_fields_encode(uint8_t *out, const tss_key_fields *kf);

/** True if key bytes `key` (`len` bytes) are the key of `kf`. */
bool tss_key_fields_equal(const tss_key_fields *kf, const uint8_t *key,
                          size_t len);

#endif
