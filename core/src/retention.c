/*
 * Retention: the store stays within its time and size budget by removing
 * whole segments, oldest window first (tsstore/store.h, tss_store_prune).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>

#include "compact.h"
#include "store_internal.h"
#include "tombstone.h"

typedef struct seg_size {
    tss_seg_name name;
    uint64_t bytes; /* segment + sidecar + tombstones */
} seg_size;

static uint64_t file_bytes(tss_store *s, const char *rel)
{
    uint64_t size = 0;
    int64_t mt;

    if (tss_storage_stat(s->st, rel, &size, &mt) != 0)
        size = 0;
    return size;
}

int tss_store_prune(tss_store *s, int64_t now, tss_prune_result *res)
{
    tss_prune_result local;
    int64_t ups = s->info.units_per_second;
    int64_t horizon = INT64_MIN;
    tss_seg_name *names = NULL;
    seg_size *v = NULL;
    size_t n = 0, first = 0;
    uint64_t total = 0, by_time = 0, by_size = 0;
    int rc = 0;

    if (!res) {
        /* nothing to remove, and no one asks what is left */
        if (s->head && !s->retention && !s->retention_bytes)
            return 0;
        res = &local;
    }
    memset(res, 0, sizeof(*res));
    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    if (s->retention)
        horizon = now - s->retention;
    pthread_mutex_lock(&s->seal_mu);
    if ((rc = tss_list_segments(s->st, &names, &n)) != 0)
        goto out;
    v = tss_calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char rel[192];

        v[i].name = names[i];
        tss_seg_name_format(rel, sizeof(rel), &names[i]);
        v[i].bytes = file_bytes(s, rel);
        tss_sidecar_path(rel, sizeof(rel), names[i].uuid);
        v[i].bytes += file_bytes(s, rel);
        tss_tomb_path(rel, sizeof(rel), names[i].uuid);
        v[i].bytes += file_bytes(s, rel);
        total += v[i].bytes;
    }
    tss_error_clear();
    /* oldest window first (the list is sorted by window start); a window
     * goes whole: first what goes ([0, cut)), then remove it */
    {
        uint64_t left = total;
        size_t cut = 0;

        while (cut < n) {
            size_t j = cut + 1;
            uint64_t wbytes = v[cut].bytes;

            while (j < n && v[j].name.start == v[cut].name.start)
                wbytes += v[j++].bytes;
            if (!(v[cut].name.end <= horizon) &&
                !(s->retention_bytes && left > s->retention_bytes))
                break;
            left -= wbytes;
            cut = j;
        }
        /* the base a late batch's seal left owed: on a full disk it
         * cannot be written, and freeing space comes first; a crash
         * before the next base may then bring back these windows' late
         * points from the head log, to be pruned again */
        if (cut > 0 && tss_store_base_owed(s, now) != 0) {
            tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
                    "retention: %s; pruning all the same", tss_error_last());
            tss_error_clear();
        }
        /* the table snapshot must not outlive the segments it lists: a
         * crash after a removal would leave it (and the writer restarted
         * after it) showing their buckets */
        if (cut > 0 && (rc = tss_store_cov_invalidate(s)) != 0)
            goto out;
        while (first < cut) {
            bool old = v[first].name.end <= horizon;

            if ((rc = tss_remove_segment(s->st, &v[first].name)) != 0)
                goto done;
            res->segments_removed++;
            res->bytes_removed += v[first].bytes;
            total -= v[first].bytes;
            tss_store_snapshot_due(s); /* a removal is a window here */
            if (old)
                by_time++;
            else
                by_size++;
            first++;
        }
    }
done:
    res->bytes_left = total;
    res->oldest_kept = first < n ? v[first].name.start : 0;
    /* set by the invalidation: rebuilt even when no removal succeeded */
    if (s->cov_stale)
        rc = tss_store_cov_rebuild_after(s, rc);
    if (res->segments_removed) {
        tss_log(s->log, s->log_ctx, TSS_LEVEL_INFO,
                "retention: removed %" PRIu32 " segment(s), %" PRIu64
                " bytes (%" PRIu64 " older than %" PRId64 " s, %" PRIu64
                " to stay within %" PRIu64 " bytes); %" PRIu64
                " bytes left, oldest window now starts at %" PRId64,
                res->segments_removed, res->bytes_removed, by_time,
                s->retention / ups, by_size, s->retention_bytes,
                res->bytes_left, res->oldest_kept / ups);
    }
out:
    tss_free(names);
    tss_free(v);
    pthread_mutex_unlock(&s->seal_mu);
    return rc;
}
