/*
 * The store metadata file, STORE: a JSON object written once (write_new)
 * when the store is created and never changed.
 *
 *   {"format":"tsstore","format_version":1,"uuid":"<36 chars>",
 *    "created":<unix seconds>,"precision":"ms","units_per_second":1000,
 *    "span":<store units>,"bucket_width":<store units>}
 *
 * Invariants: format is "tsstore"; format_version is one this build reads
 * (1); units_per_second is 1, 1000, 10^6 or 10^9 and "precision" names it
 * (s, ms, us, ns); span and bucket_width are positive, span a multiple of
 * bucket_width; uuid parses. Unknown keys are ignored (forward
 * compatibility); a missing or wrong-typed key is TSS_ECORRUPT naming it.
 * STORE carries no checksum: it is made visible only complete (write_new),
 * never rewritten, and every field is validated on read.
 */
#ifndef TSS_META_H
#define TSS_META_H

#include "storage.h"
#include "tsstore/store.h"

#define TSS_META_FILE "STORE"
#define TSS_FORMAT_VERSION 1

/** Name of a precision ("s", "ms", "us", "ns"), NULL if not one of them. */
const char *tss_precision_name(uint32_t units_per_second);

/** Serialises info into *out (tss_free), *len bytes. */
int tss_meta_encode(const tss_store_info *info, uint8_t **out,
                    size_t *len) TSS_WUR;

/** Parses and validates STORE bytes; `rel` names the file in errors. */
int tss_meta_decode(const uint8_t *buf, size_t len, const char *rel,
                    tss_store_info *out) TSS_WUR;

#endif
