/*
 * Rate limit of the core's log lines (see log_limit.h).
 */
#include "log_limit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void tss_log_limit_init(tss_log_limit *l, int window_s)
{
    memset(l->slots, 0, sizeof(l->slots));
    l->window_s = window_s;
    pthread_mutex_init(&l->mu, NULL);
}

void tss_log_limit_destroy(tss_log_limit *l)
{
    pthread_mutex_destroy(&l->mu);
}

/* FNV-1a of the level and the text; never 0 (a free slot). */
static uint64_t line_hash(int level, const char *msg)
{
    uint64_t h = UINT64_C(14695981039346656037);

    h = (h ^ (uint8_t)level) * UINT64_C(1099511628211);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return h ? h : 1;
}

bool tss_log_limit_pass(tss_log_limit *l, int level, const char *msg,
                        time_t now, uint64_t *suppressed)
{
    uint64_t h = line_hash(level, msg);
    tss_log_limit_slot *s = NULL, *oldest = &l->slots[0];
    bool pass = true;

    *suppressed = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < TSS_LOG_LIMIT_SLOTS && !s; i++) {
        if (l->slots[i].hash == h)
            s = &l->slots[i];
        else if (!l->slots[i].hash ||
                 (oldest->hash && l->slots[i].last < oldest->last))
            oldest = &l->slots[i];
    }
    if (s && now >= s->last && now - s->last < l->window_s) {
        s->suppressed++;
        pass = false;
    } else if (s) {
        *suppressed = s->suppressed;
        s->suppressed = 0;
        s->last = now;
    } else {
        *oldest = (tss_log_limit_slot){.hash = h, .last = now};
    }
    pthread_mutex_unlock(&l->mu);
    return pass;
}

const char *tss_log_limit_note(char *out, size_t size, uint64_t suppressed)
{
    if (suppressed)
        snprintf(out, size,
                 " (%" PRIu64 " identical lines not logged since the last "
                 "one)",
                 suppressed);
    else if (size)
        out[0] = '\0';
    return out;
}
