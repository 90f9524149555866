/*
 * The tss_store handle, shared by store.c (open, write, seal) and query.c
 * (read). Private.
 */
#ifndef TSS_STORE_INTERNAL_H
#define TSS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "head.h"
#include "internal.h"
#include "storage.h"
#include "tsstore/store.h"

/*
 * A detached window on its way to disk: first the raw batch, then (once
 * encoded) its segment image. It stays queued, oldest first, until the
 * write succeeds.
 */
typedef struct tss_pending {
    tss_head_batch batch; /* until encoded */
    char rel[160];        /* set when encoded */
    uint8_t *img;
    size_t len;
    uint64_t points;
    uint64_t bytes; /* memory accounted against max_pending */
    struct tss_pending *next;
} tss_pending;

struct tss_store {
    tss_storage *st;
    char *path;
    tss_store_info info;
    unsigned flags;
    int lock_fd;
    tss_log_fn log;
    void *log_ctx;
    const tss_io_ops *io;

    /* writer only */
    tss_head *head;
    int64_t grace;
    uint64_t max_pending;
    pthread_mutex_t seal_mu; /* serialises seal calls; guards below */
    uint64_t next_seq;
    tss_pending *pending; /* oldest first */
    uint64_t pending_bytes;
    int64_t complain_next, complain_step; /* rate limit for write errors */
    atomic_uint_fast64_t n_appended, n_late, n_written, n_segments, n_bytes,
        n_errors, n_dropped;
};

#endif
