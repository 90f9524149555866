/*
 * Rate limit for log lines the plugins pass on from libtsstore (its log
 * callback): the same text at the same level is logged once per window,
 * and the number held back meanwhile is added to its next line. The core
 * reports a damaged file on every read of it (a corrupt head snapshot:
 * once per query, dozens per interval); this keeps that to one line
 * every few minutes while a new message still shows at once. Pure C, no
 * collectd header, so a unit test calls it directly.
 */
#ifndef TSS_PLUGIN_LOG_LIMIT_H
#define TSS_PLUGIN_LOG_LIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Distinct messages remembered; beyond, the least recently logged one is
 * forgotten (and may be logged again before its window ends). */
#define TSS_LOG_LIMIT_SLOTS 32

typedef struct tss_log_limit_slot {
    uint64_t hash; /* of level and text; 0: free */
    time_t last;   /* when it was last logged */
    uint64_t suppressed;
} tss_log_limit_slot;

typedef struct tss_log_limit {
    pthread_mutex_t mu;
    int window_s;
    tss_log_limit_slot slots[TSS_LOG_LIMIT_SLOTS];
} tss_log_limit;

/** Sets up `l` with a window of `window_s` seconds; free with
 * tss_log_limit_destroy. */
void tss_log_limit_init(tss_log_limit *l, int window_s);

void tss_log_limit_destroy(tss_log_limit *l);

/**
 * Whether the line (`level`, `msg`) is to be logged at `now`: yes for the
 * first of its level and text in a window, no (and counted) for the rest.
 * On yes, *suppressed is the number of identical lines held back since it
 * was last logged. Thread safe.
 */
bool tss_log_limit_pass(tss_log_limit *l, int level, const char *msg,
                        time_t now, uint64_t *suppressed);

/**
 * What a passed line says of the ones held back before it: "" when
 * `suppressed` is 0, else " (N identical lines not logged since the last
 * one)", written into out[size] (64 bytes are enough). Returns out.
 */
const char *tss_log_limit_note(char *out, size_t size, uint64_t suppressed);

#endif
