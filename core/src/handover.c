/*
 * Closing a writer without stranding documents (tss_store_close_writer,
 * tsstore/mutation.h).
 *
 * A process that creates a document (`tsstore delete`, a compaction
 * request) writes it first and then tries the LOCK; when the LOCK is
 * taken it leaves the document to "the running writer". A writer that is
 * a command, not collectd, makes its last pass over the documents and
 * then exits: a document created after that pass and before the LOCK is
 * released would wait for whichever writer opens the store next, maybe
 * never. So such a writer looks again once the LOCK is released. The
 * order makes that race-free: a creator that found the LOCK taken wrote
 * its document before, hence before the release, hence before the look.
 *
 * What counts as "not applied": a delete not visible yet, or a request
 * (compact, prune, rollup; removed once done) -- that the handle's last
 * pass did not list. A document the pass listed and left pending failed
 * there (logged, reported by the caller) and is not retried by the look.
 */
#define _GNU_SOURCE
#include "tsstore/mutation.h"

#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* Rounds of open and close after the first close: documents that keep
 * arriving while this process applies them are left to the next writer
 * after that many. */
#define HANDOVER_ROUNDS 3

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

void tss_store_note_seen(tss_store *s, const tss_mut *docs, size_t n)
{
    uint8_t(*v)[16] = n ? tss_malloc(n * sizeof(*v)) : NULL;

    tss_free(s->seen);
    s->seen = v;
    s->nseen = 0;
    if (n && !v) /* nothing counts as seen: the look after the close
                  * applies every pending document (at worst a retry) */
        return;
    for (size_t i = 0; i < n; i++)
        memcpy(v[i], docs[i].uuid, 16);
    s->nseen = n;
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_uuid);
}

static bool needs_writer(const tss_mut *m)
{
    return m->kind != TSS_MUT_DELETE || m->state < TSS_MS_VISIBLE;
}

/* Documents in `dir` that need a writer and are not in seen[0..nseen)
 * (sorted). */
static int count_unseen(const char *dir, const tss_io_ops *io,
                        uint8_t (*seen)[16], size_t nseen, size_t *count)
{
    tss_storage *st;
    tss_mut *docs = NULL;
    size_t n = 0, bad;
    int rc;

    *count = 0;
    if ((rc = tss_storage_open(&st, dir, io, false)) != 0)
        return rc;
    /* no log: a corrupt document is reported by the readers and the
     * writer that act on it */
    rc = tss_mut_list(st, NULL, NULL, &docs, &n, &bad);
    for (size_t i = 0; rc == 0 && i < n; i++)
        *count += needs_writer(&docs[i]) &&
                  !(nseen && bsearch(docs[i].uuid, seen, nseen, sizeof(*seen),
                                     cmp_uuid));
    tss_mut_list_free(docs, n);
    tss_storage_close(st);
    return rc;
}

void tss_apply_result_add(tss_apply_result *sum, const tss_apply_result *r)
{
    sum->made_visible += r->made_visible;
    sum->compacted += r->compacted;
    sum->removed_docs += r->removed_docs;
    sum->points_deleted += r->points_deleted;
    sum->bytes_rewritten += r->bytes_rewritten;
    sum->pending = r->pending;
    sum->prune.segments_removed += r->prune.segments_removed;
    sum->prune.bytes_removed += r->prune.bytes_removed;
    if (r->prune.segments_removed || r->prune.bytes_left) {
        sum->prune.oldest_kept = r->prune.oldest_kept;
        sum->prune.bytes_left = r->prune.bytes_left;
    }
    sum->rollup.windows += r->rollup.windows;
    sum->rollup.windows_removed += r->rollup.windows_removed;
    sum->rollup.points_in += r->rollup.points_in;
    sum->rollup.points_out += r->rollup.points_out;
    sum->rollup.bytes_written += r->rollup.bytes_written;
}

int tss_store_close_writer(tss_store *s, const tss_store_options *opts,
                           tss_apply_result *res)
{
    tss_apply_result local;
    const tss_io_ops *io;
    tss_log_fn log;
    void *log_ctx;
    char *dir;
    int rc = 0;

    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (!s)
        return 0;
    if (s->lock_fd < 0) {
        tss_store_close(s);
        return 0;
    }
    io = s->io;
    log = s->log;
    log_ctx = s->log_ctx;
    if (!(dir = tss_strdup(s->path))) {
        tss_store_close(s);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (unsigned round = 0;; round++) {
        uint8_t(*seen)[16] = s->seen;
        size_t nseen = s->nseen, waiting = 0;

        s->seen = NULL;
        s->nseen = 0;
        tss_store_close(s); /* releases the LOCK */
        s = NULL;
        rc = count_unseen(dir, io, seen, nseen, &waiting);
        tss_free(seen);
        if (rc || waiting == 0)
            break;
        if (round == HANDOVER_ROUNDS) {
            tss_log(log, log_ctx, TSS_LEVEL_WARNING,
                    "%zu document(s) in %s/wal/mutations still wait for a "
                    "writer after %d rounds; the next one to open the store "
                    "applies them",
                    waiting, dir, HANDOVER_ROUNDS);
            break;
        }
        /* (on failure, tss_store_open leaves s NULL) */
        rc = tss_store_open(&s, dir, TSS_OPEN_WRITER, opts);
        if (rc == TSS_ELOCKED) { /* its holder applies them */
            tss_error_clear();
            rc = 0;
            break;
        }
        if (rc)
            break;
        tss_log(log, log_ctx, TSS_LEVEL_INFO,
                "opened %s as the writer again for %zu document(s) queued "
                "while this process held its LOCK",
                dir, waiting);
        tss_apply_result_add(res, &s->opened);
    }
    tss_free(dir);
    return rc;
}
