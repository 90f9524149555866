/*
 * A store: open/create, the writer's append path, and sealing the head into
 * segments.
 *
 * Sealing (tss_store_seal, one caller at a time):
 *   1. retry segment images whose write failed earlier, oldest first;
 *   2. pick the due windows from the head's window summary;
 *   3. detach them from the head (shard locks held only to unlink);
 *   4. per window: decode + merge each series, encode its chunk into a
 *      segment image, write it with write_new under a fresh name;
 *   5. an image that fails to write is kept (bounded) and retried in 1.
 * No shard lock is held while 4 and 5 do I/O.
 */
#define _GNU_SOURCE
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <uuid/uuid.h>

#include "compact.h"
#include "meta.h"
#include "tsstore/mutation.h"
#include "segment.h"
#include "series.h"

#define DEFAULT_UPS 1000
#define DEFAULT_SPAN_S 7200
#define DEFAULT_BUCKET_S 10
#define DEFAULT_GRACE_S 300
#define DEFAULT_SHARDS 64
#define DEFAULT_MAX_PENDING (UINT64_C(256) << 20)
#define MAX_STORE_META 65536
#define COMPLAIN_MAX_S 86400
#define DEFAULT_SNAP_SYNC_S 60
/* the table coverage is saved again once the sidecars sealed since add up
 * to 1/TABLE_LAG_DIV of its size (save_coverage) */
#define TABLE_LAG_DIV 4
/* ... and to this many bytes at least: a small store's table (a fresh one's
 * first, above all) would be written at nearly every seal, one more copy of
 * the sidecars' facts each time; readers union this much more at most */
#define TABLE_LAG_MIN (UINT64_C(64) << 10)

static void pending_free(tss_pending *p);

void tss_store_options_init(tss_store_options *o)
{
    memset(o, 0, sizeof(*o));
    o->grace_seconds = DEFAULT_GRACE_S;
    o->shards = DEFAULT_SHARDS;
    o->max_pending_bytes = DEFAULT_MAX_PENDING;
    o->snapshot_sync_seconds = DEFAULT_SNAP_SYNC_S;
    o->compact_after_segments = 1;
}

int64_t tss_store_now(const tss_store *s)
{
    struct timespec ts;
    int64_t ups = s->info.units_per_second;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * ups + (int64_t)ts.tv_nsec / (1000000000 / ups);
}

void tss_store_info_get(const tss_store *s, tss_store_info *out)
{
    *out = s->info;
}

/* Creates STORE for a new store; EEXISTS means another process won. */
static int create_meta(tss_store *s, const tss_store_options *o)
{
    tss_store_info *in = &s->info;
    uint8_t *buf = NULL;
    size_t len;
    uuid_t u;
    int rc;

    in->format_version = TSS_FORMAT_VERSION;
    in->units_per_second =
        o->units_per_second ? o->units_per_second : DEFAULT_UPS;
    in->span = (o->span_seconds ? o->span_seconds : DEFAULT_SPAN_S) *
               (int64_t)in->units_per_second;
    in->bucket_width =
        (o->bucket_seconds ? o->bucket_seconds : DEFAULT_BUCKET_S) *
        (int64_t)in->units_per_second;
    in->created = (int64_t)time(NULL);
    uuid_generate(u);
    uuid_unparse_lower(u, in->uuid);
    if ((rc = tss_meta_encode(in, &buf, &len)) != 0)
        return rc;
    rc = tss_storage_write_new(s->st, TSS_META_FILE, buf, len);
    tss_free(buf);
    return rc;
}

static int read_meta(tss_store *s)
{
    uint8_t *buf;
    size_t len;
    int rc;

    rc = tss_storage_read_all(s->st, TSS_META_FILE, MAX_STORE_META, &buf, &len);
    if (rc == TSS_ENOTFOUND)
        return tss_error_set(rc, "%s is not a tsstore store (no %s file)",
                             s->path, TSS_META_FILE);
    if (rc)
        return rc;
    rc = tss_meta_decode(buf, len, TSS_META_FILE, &s->info);
    tss_free(buf);
    if (rc)
        return tss_error_set(rc, "store %s: %s", s->path, tss_error_last());
    return 0;
}

static int check_options(const tss_store_options *o)
{
    if (o->units_per_second && !tss_precision_name(o->units_per_second))
        return tss_error_set(TSS_EINVAL,
                             "precision %u units per second is not one of "
                             "s, ms, us, ns",
                             o->units_per_second);
    if (o->span_seconds < 0 || o->span_seconds > (INT64_C(1) << 31))
        return tss_error_set(TSS_EINVAL, "span %" PRId64 " s out of range",
                             o->span_seconds);
    if (o->bucket_seconds < 0 || o->bucket_seconds > (INT64_C(1) << 31))
        return tss_error_set(TSS_EINVAL,
                             "bucket width %" PRId64 " s out of range",
                             o->bucket_seconds);
    if ((o->span_seconds ? o->span_seconds : DEFAULT_SPAN_S) %
            (o->bucket_seconds ? o->bucket_seconds : DEFAULT_BUCKET_S) !=
        0)
        return tss_error_set(TSS_EINVAL,
                             "span must be a multiple of the bucket width");
    if (o->retention_seconds < 0 || o->retention_seconds > (INT64_C(1) << 40))
        return tss_error_set(TSS_EINVAL, "retention %" PRId64 " s out of range",
                             o->retention_seconds);
    if (o->grace_seconds < 0 || o->grace_seconds > (INT64_C(1) << 31))
        return tss_error_set(TSS_EINVAL, "grace %" PRId64 " s out of range",
                             o->grace_seconds);
    return 0;
}

/* Says so when configured settings differ from the store's own. */
static void note_differences(tss_store *s, const tss_store_options *o)
{
    const tss_store_info *in = &s->info;
    int64_t ups = in->units_per_second;

    if (o->units_per_second && o->units_per_second != in->units_per_second)
        tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE,
                "store %s was created with precision %s; using it instead "
                "of the configured %s",
                s->path, tss_precision_name(in->units_per_second),
                tss_precision_name(o->units_per_second));
    if (o->span_seconds && o->span_seconds * ups != in->span)
        tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE,
                "store %s was created with a segment span of %" PRId64
                " s; using it instead of the configured %" PRId64 " s",
                s->path, in->span / ups, o->span_seconds);
    if (o->bucket_seconds && o->bucket_seconds * ups != in->bucket_width)
        tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE,
                "store %s was created with a bucket width of %" PRId64
                " s; using it instead of the configured %" PRId64 " s",
                s->path, in->bucket_width / ups, o->bucket_seconds);
}

static int max_seq(tss_store *s, uint64_t *out)
{
    char **names;
    size_t n;
    int rc;

    *out = 0;
    if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg", &names, &n)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        tss_seg_name sn;

        if (tss_seg_name_parse(names[i], &sn) == 0 && sn.seq > *out)
            *out = sn.seq;
    }
    tss_storage_names_free(names, n);
    tss_error_clear();
    return 0;
}

/* Rollup levels, checked against the store's span and bucket width. */
static int set_rollups(tss_store *s, const tss_store_options *o)
{
    int64_t ups = s->info.units_per_second;

    if (o->nrollups > TSS_MAX_ROLLUPS)
        return tss_error_set(TSS_EINVAL, "more than %d rollup levels",
                             TSS_MAX_ROLLUPS);
    for (unsigned i = 0; i < o->nrollups; i++) {
        const tss_rollup_spec *r = &o->rollups[i];
        tss_rollup_level *l = &s->rollups[i];

        if (r->resolution_seconds <= 0 || r->after_seconds < 0 ||
            r->keep_seconds < 0 || r->resolution_seconds > (INT64_C(1) << 31) ||
            r->after_seconds > (INT64_C(1) << 40) ||
            r->keep_seconds > (INT64_C(1) << 40))
            return tss_error_set(TSS_EINVAL,
                                 "rollup %u: After, Resolution "
                                 "and Keep must be positive durations",
                                 i + 1);
        l->after = r->after_seconds * ups;
        l->resolution = r->resolution_seconds * ups;
        l->keep = r->keep_seconds * ups;
        if (s->info.span % l->resolution != 0 ||
            l->resolution % s->info.bucket_width != 0)
            return tss_error_set(
                TSS_EINVAL,
                "rollup %u: Resolution %" PRId64 " s must divide the segment "
                "span (%" PRId64 " s) and be a multiple of the bucket width "
                "(%" PRId64 " s)",
                i + 1, r->resolution_seconds, s->info.span / ups,
                s->info.bucket_width / ups);
        if (i > 0 && (l->after <= s->rollups[i - 1].after ||
                      l->resolution <= s->rollups[i - 1].resolution))
            return tss_error_set(TSS_EINVAL,
                                 "rollup %u: levels must grow in "
                                 "After and Resolution",
                                 i + 1);
        /* a coarser level folds whole intervals of the finer one */
        if (i > 0 && l->resolution % s->rollups[i - 1].resolution != 0)
            return tss_error_set(TSS_EINVAL,
                                 "rollup %u: Resolution %" PRId64
                                 " s is not a multiple of the previous "
                                 "level's (%" PRId64 " s)",
                                 i + 1, r->resolution_seconds,
                                 s->rollups[i - 1].resolution / ups);
        l->width =
            tss_rollup_width(s->info.span, l->resolution, o->rollup_intervals);
        if (l->keep && l->keep < l->after)
            return tss_error_set(TSS_EINVAL,
                                 "rollup %u: Keep is shorter "
                                 "than After",
                                 i + 1);
    }
    /* a finer level's Keep must not end before the next level takes its
     * windows: a window of the next level's width is taken After that
     * width has ended, and the finer windows in it would be gone */
    for (unsigned i = 0; i + 1 < o->nrollups; i++) {
        const tss_rollup_level *l = &s->rollups[i], *up = &s->rollups[i + 1];

        if (l->keep && l->keep < up->after + up->width)
            return tss_error_set(
                TSS_EINVAL,
                "rollup %u: Keep %" PRId64 " s drops windows before rollup "
                "%u takes them (it rolls up windows of %" PRId64 " s once "
                "they ended After %" PRId64 " s): make Keep at least %" PRId64
                " s, or leave it out",
                i + 1, l->keep / ups, i + 2, up->width / ups, up->after / ups,
                (up->after + up->width) / ups);
    }
    s->nrollups = o->nrollups;
    return 0;
}

int tss_store_open(tss_store **out, const char *dir, unsigned flags,
                   const tss_store_options *opts)
{
    tss_store_options defaults;
    tss_store *s;
    int rc;

    *out = NULL;
    if (!opts) {
        tss_store_options_init(&defaults);
        opts = &defaults;
    }
    if ((rc = check_options(opts)) != 0)
        return rc;
    s = tss_calloc(1, sizeof(*s));
    if (!s || !(s->path = tss_strdup(dir))) {
        tss_free(s);
        return tss_error_set(TSS_ENOMEM, "out of memory opening %s", dir);
    }
    s->lock_fd = -1;
    s->flags = flags;
    s->log = opts->log;
    s->log_ctx = opts->log_ctx;
    s->io = opts->io ? opts->io : tss_io_default();
    pthread_mutex_init(&s->seal_mu, NULL);
    pthread_mutex_init(&s->head_mu, NULL);
    pthread_mutex_init(&s->ask_mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->ask_cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    rc = tss_storage_open(&s->st, dir, s->io, flags & TSS_OPEN_CREATE);
    if (rc == TSS_ENOTFOUND)
        rc = tss_error_set(rc, "store directory %s does not exist", dir);
    if (rc)
        goto fail;
    if (flags & TSS_OPEN_WRITER) {
        /* lock first, so two writers never race on creation either */
        if ((rc = tss_storage_lock(s->st, "LOCK", &s->lock_fd)) != 0)
            goto fail;
    }
    rc = read_meta(s);
    if (rc == TSS_ENOTFOUND && (flags & TSS_OPEN_CREATE)) {
        rc = create_meta(s, opts);
        if (rc == TSS_EEXISTS) /* a concurrent creator won: use theirs */
            rc = read_meta(s);
        else if (rc == 0)
            tss_log(s->log, s->log_ctx, TSS_LEVEL_INFO,
                    "created store %s (precision %s, span %" PRId64
                    " s, uuid %s)",
                    dir, tss_precision_name(s->info.units_per_second),
                    s->info.span / s->info.units_per_second, s->info.uuid);
    } else if (rc == 0) {
        note_differences(s, opts);
    }
    if (rc)
        goto fail;
    s->info.path = s->path;
    /* TSS_OPEN_NO_RECOVERY: the LOCK only, nothing on disk changes */
    if ((flags & TSS_OPEN_WRITER) && !(flags & TSS_OPEN_NO_RECOVERY)) {
        static const char *const dirs[] = {".", TSS_SEG_DIR, TSS_COV_SEG_DIR,
                                           TSS_COV_TABLE_DIR};

        if ((rc = tss_storage_mkdirs(s->st, TSS_SEG_DIR)) != 0 ||
            (rc = tss_storage_mkdirs(s->st, TSS_COV_SEG_DIR)) != 0 ||
            (rc = tss_storage_mkdirs(s->st, TSS_COV_TABLE_DIR)) != 0)
            goto fail;
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            int removed = tss_storage_remove_temps(s->st, dirs[i]);

            if (removed > 0)
                tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE,
                        "removed %d temp file(s) a crashed writer left in "
                        "%s/%s",
                        removed, dir, dirs[i]);
        }
        {
            uint64_t superseded;

            /* finish a compaction a crash interrupted */
            if ((rc = tss_remove_superseded(s->st, s->log, s->log_ctx,
                                            &superseded)) != 0)
                goto fail;
        }
        if ((rc = tss_delset_load(s->st, s->log, s->log_ctx, &s->deletes)))
            goto fail;
        s->compact_after = opts->compact_after_segments;
        s->retention =
            opts->retention_seconds * (int64_t)s->info.units_per_second;
        s->retention_bytes = opts->retention_bytes;
        if ((rc = set_rollups(s, opts)) != 0)
            goto fail;
        if ((rc = max_seq(s, &s->next_seq)) != 0)
            goto fail;
        s->next_seq++;
        if ((rc = tss_store_cov_recover(s)) != 0)
            goto fail;
        s->grace = opts->grace_seconds * (int64_t)s->info.units_per_second;
        s->max_pending = opts->max_pending_bytes;
        if ((rc = tss_head_create(&s->head,
                                  opts->shards ? opts->shards : DEFAULT_SHARDS,
                                  s->info.span)) != 0)
            goto fail;
        if ((rc = tss_snapshot_open(&s->snap, s->st, &s->info, s->head,
                                    opts->snapshot_sync_seconds *
                                        s->info.units_per_second,
                                    opts->snapshot_stage_dir, tss_store_now(s),
                                    s->log, s->log_ctx)) != 0)
            goto fail;
        if (opts->snapshot_interval_ms > 0) {
            s->snap_interval = opts->snapshot_interval_ms *
                               (int64_t)s->info.units_per_second / 1000;
            if (s->snap_interval < 1)
                s->snap_interval = 1;
        }
        s->snap_last = tss_store_now(s);
        /* resume deletes a crash interrupted (and apply new ones);
         * failures are logged and retried by the next call; what it did
         * is kept for tss_store_open_applied */
        *out = s;
        (void)!tss_store_apply_mutations(s, tss_store_now(s), &s->opened);
        return 0;
    }
    if (flags & TSS_OPEN_WRITER) {
        tss_mut *docs = NULL;
        size_t ndocs = 0, bad;

        /* the LOCK only (verify --repair, a command's lock check): the
         * documents already waiting are left as they are, and only those
         * queued while it holds the LOCK are applied at
         * tss_store_close_writer (a failed listing: all of them are) */
        if (tss_mut_list(s->st, NULL, NULL, &docs, &ndocs, &bad) == 0)
            tss_store_note_seen(s, docs, ndocs);
        tss_mut_list_free(docs, ndocs);
        tss_error_clear();
    }
    *out = s;
    return 0;
fail:
    tss_store_close(s);
    return rc;
}

void tss_store_close(tss_store *s)
{
    if (!s)
        return;
    /* the table coverage is not saved here: it lags by less than
     * save_coverage's bound, which readers make up from the newer
     * sidecars, and the next writer's start saves what lags
     * (tss_store_cov_recover) */
    tss_head_free(s->head);
    while (s->pending) {
        tss_pending *p = s->pending;

        s->pending = p->next;
        pending_free(p);
    }
    tss_covtable_free(s->cov);
    tss_snapshot_close(s->snap);
    tss_delset_free(&s->deletes);
    tss_free(s->seen);
    if (s->lock_fd >= 0)
        tss_storage_close_fd(s->st, s->lock_fd);
    tss_storage_close(s->st);
    tss_snap_cache_free(s->head_cache);
    pthread_mutex_destroy(&s->head_mu);
    pthread_mutex_destroy(&s->seal_mu);
    pthread_cond_destroy(&s->ask_cv);
    pthread_mutex_destroy(&s->ask_mu);
    tss_free(s->path);
    tss_free(s);
}

/* ---- append ---------------------------------------------------------------
 */

int tss_store_append(tss_store *s, const tss_series_id *id, int kind, int64_t t,
                     tss_value v)
{
    uint8_t key[TSS_KEY_MAX];
    size_t len;
    struct timespec ts;
    int rc;

    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    if (t < -TSS_TIME_LIMIT || t > TSS_TIME_LIMIT)
        return tss_error_set(
            TSS_EINVAL, "timestamp %" PRId64 " is outside the storable range",
            t);
    if ((rc = tss_key_encode(key, &len, id, kind)) != 0)
        return rc;
    /* a coarse clock, whole seconds: it only stamps a window's first
     * arrival and tells late points, both judged in seconds or more */
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return tss_head_append(s->head, key, len, tss_key_hash(key, len), t, v,
                           (int64_t)ts.tv_sec * s->info.units_per_second,
                           s->grace);
}

/* ---- seal --------------------------------------------------------------- */

/* The writes complain reports on; which kind failed decides which
 * success complain_done waits for. */
enum write_op { W_ENCODE, W_SIDECAR, W_SEGMENT, W_SNAPSHOT };
static const char *const write_op_what[] = {
    "encoding a segment", "writing a coverage sidecar", "writing a segment",
    "writing the head snapshot"};

/* Rate-limited error report, like collectd's c_complain: the first failure
 * is logged, then at doubling intervals up to a day until writes work. */
static void complain(tss_store *s, int64_t now, enum write_op op, int rc)
{
    int64_t ups = s->info.units_per_second;

    atomic_fetch_add(&s->n_errors, 1);
    s->complain_snapshot = op == W_SNAPSHOT;
    /* the next report is never further away than one step: if it is, the
     * clock stepped back, and waiting for it would hide errors for days */
    if (now < s->complain_next && s->complain_next - now <= s->complain_step)
        return;
    s->complain_step = s->complain_step ? s->complain_step * 2 : 10 * ups;
    if (s->complain_step > COMPLAIN_MAX_S * ups)
        s->complain_step = COMPLAIN_MAX_S * ups;
    s->complain_next = now + s->complain_step;
    tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
            "%s failed (%s): %s; data is kept in memory (%" PRIu64
            " bytes pending) and retried; next report in %" PRId64 " s",
            write_op_what[op], tss_strerror(rc), tss_error_last(),
            s->pending_bytes, s->complain_step / ups);
}

/* Writes of the kind that failed (head snapshot or segments) work again:
 * said once, and the rate limit starts over. */
static void complain_done(tss_store *s, bool snapshot)
{
    if (s->complain_step == 0 || s->complain_snapshot != snapshot)
        return;
    s->complain_step = 0;
    s->complain_next = 0;
    tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE, "%s to %s succeed again",
            snapshot ? "head snapshot writes" : "segment writes", s->path);
}

/* A fsync failure leaves the storage refusing writes: reopen it. */
static void reopen_if_failed(tss_store *s)
{
    tss_storage *fresh;

    if (!atomic_load(&s->st->failed))
        return;
    if (tss_storage_open(&fresh, s->path, s->io, 0) != 0)
        return;
    if (s->snap)
        tss_snapshot_set_storage(s->snap, fresh);
    tss_storage_close(s->st);
    s->st = fresh;
    tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
            "reopened %s after an fsync failure; unsynced segments are "
            "written again",
            s->path);
}

/* Writes one image; on success also handles EEXISTS from a retry whose
 * first attempt did reach the disk. */
static int write_image(tss_store *s, const char *rel, const uint8_t *img,
                       size_t len)
{
    int rc = tss_storage_write_new(s->st, rel, img, len);

    if (rc == TSS_EEXISTS) {
        uint8_t *cur;
        size_t clen;

        if (tss_storage_read_all(s->st, rel, len, &cur, &clen) == 0) {
            bool same = clen == len && memcmp(cur, img, len) == 0;

            tss_free(cur);
            if (same)
                return 0;
        }
        /* the sidecar is written first with the same call */
        return tss_error_set(
            TSS_EEXISTS, "%s %s exists with other content",
            strncmp(rel, TSS_COV_SEG_DIR "/", sizeof(TSS_COV_SEG_DIR)) == 0
                ? "coverage sidecar"
                : "segment",
            rel);
    }
    return rc;
}

static void pending_free(tss_pending *p)
{
    tss_head_batch_free(&p->batch);
    tss_free(p->img);
    tss_buf_free(&p->cov_img);
    tss_sidecar_free(&p->cov);
    tss_free(p);
}

/* Queues a detached window; enforces the memory bound, oldest first. */
static void enqueue(tss_store *s, tss_pending *p)
{
    tss_pending **tail = &s->pending;

    while (*tail)
        tail = &(*tail)->next;
    p->next = NULL;
    *tail = p;
    s->pending_bytes += p->bytes;
    while (s->pending_bytes > s->max_pending && s->pending &&
           s->pending->next) {
        tss_pending *old = s->pending;

        s->pending = old->next;
        s->pending_bytes -= old->bytes;
        atomic_fetch_add(&s->n_dropped, old->points);
        tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                "dropped unwritten window %" PRId64 " (%" PRIu64
                " points): pending data exceeds the %" PRIu64
                " byte bound (MaxPendingBytes) while writes keep failing",
                old->batch.start, old->points, s->max_pending);
        pending_free(old);
    }
}

/* Encodes a queued window into its segment image. */
static int build_image(tss_store *s, tss_pending *p)
{
    tss_seg_builder bld;
    tss_seg_name name;
    tss_buf img = {0};
    tss_point *pts = NULL;
    tss_range *ranges = NULL;
    size_t n, cap = 0, nr, rcap = 0;
    uint64_t points = 0;
    int rc;

    name.start = p->batch.start;
    name.end = p->batch.start + s->info.span;
    name.seq = s->next_seq;
    uuid_generate(name.uuid);
    if ((rc = tss_sidecar_init(&p->cov, name.uuid, name.start,
                               s->info.bucket_width)) != 0)
        return rc;
    if ((rc = tss_seg_builder_begin(&bld, &img, &name, s->info.units_per_second,
                                    NULL, 0)) != 0)
        goto fail;
    for (const tss_head_item *it = p->batch.items; it;
         it = tss_head_item_next(it)) {
        size_t klen;
        const uint8_t *key = tss_head_item_key(it, &klen);

        if ((rc = tss_head_item_points(it, &pts, &n, &cap)) != 0) {
            tss_seg_builder_abort(&bld);
            goto fail;
        }
        /* visible deletes: a point deleted never reaches a segment */
        if (s->deletes.active) {
            nr = 0;
            if ((rc = tss_delset_ranges(&s->deletes, NULL, key, klen, &ranges,
                                        &nr, &rcap)) != 0) {
                tss_seg_builder_abort(&bld);
                goto fail;
            }
            tss_range_filter(pts, &n, ranges, nr);
        }
        if (n == 0)
            continue;
        if ((rc = tss_seg_builder_add(&bld, key, klen, pts, n)) != 0 ||
            (rc = tss_sidecar_add(&p->cov, key, klen, pts, n)) != 0) {
            tss_seg_builder_abort(&bld);
            goto fail;
        }
        points += n;
    }
    if ((rc = tss_seg_builder_finish(&bld)) != 0 ||
        (rc = tss_sidecar_encode(&p->cov, &p->cov_img)) != 0)
        goto fail;
    tss_seg_name_format(p->rel, sizeof(p->rel), &name);
    tss_sidecar_path(p->cov_rel, sizeof(p->cov_rel), name.uuid);
    p->seq = name.seq;
    /* Tell the head snapshot these items go to this segment, so recovery
     * after a crash does not restore points the segment already holds. On
     * failure recovery may restore them twice; readers merge duplicates. */
    if (s->snap && tss_snapshot_intent(s->snap, p->rel, &p->batch) != 0)
        tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
                "head snapshot intent for %s not written: %s", p->rel,
                tss_error_last());
    s->next_seq++;
    p->img = img.data;
    p->len = img.len;
    p->points = points;
    /* the images replace the raw window in memory */
    s->pending_bytes = s->pending_bytes - p->bytes + p->len + p->cov_img.len;
    p->bytes = p->len + p->cov_img.len;
    tss_head_batch_free(&p->batch);
    tss_free(pts);
    tss_free(ranges);
    return 0;
fail:
    tss_free(pts);
    tss_free(ranges);
    tss_buf_free(&img);
    tss_buf_free(&p->cov_img);
    tss_sidecar_free(&p->cov);
    return rc;
}

/*
 * Writes the table coverage snapshot when it changed. Not at every seal:
 * the table holds the whole history and is written whole, so it is written
 * again only once the sidecars sealed since its last save add up to a
 * quarter of its size and to TABLE_LAG_MIN; not at close either (the
 * next writer's start saves what lags: a restart costs one save, as one
 * at close did, and a writer that stops for good none).
 * Readers union the table with the sidecars of segments newer than its
 * covered seq, so a lagging table costs them at most that much more to
 * read, and the table's writes stay within 4x the sidecars' bytes instead
 * of one whole table per seal. A failure is only logged: sidecars hold the same
 * facts and the next seal retries.
 */
static void save_coverage(tss_store *s)
{
    uint64_t saved = tss_covtable_saved_bytes(s->cov);

    if (!s->cov_dirty)
        return;
    if (s->cov_unsaved_ver == tss_covtable_version(s->cov) &&
        (s->cov_unsaved < TABLE_LAG_MIN ||
         s->cov_unsaved * TABLE_LAG_DIV < saved))
        return;
    if (tss_covtable_save(s->cov, s->st) == 0) {
        s->cov_dirty = false;
        s->cov_unsaved = 0;
        s->cov_unsaved_ver = tss_covtable_version(s->cov);
        return;
    }
    tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
            "table coverage snapshot not written (retried at the next "
            "seal): %s",
            tss_error_last());
}

/* Whether the windows sealed since the last base are worth a new one: a
 * base rewrites the whole head, so it follows the seal of a window the
 * size of a quarter of what the head keeps or more (the window that
 * ended, at the usual seal), not a late batch of a few points (a host
 * whose clock lags sends one every Grace); the log drops those items by
 * their intent records, and the next usual seal restarts it. */
static bool base_worth_it(tss_store *s)
{
    tss_head_stats hs;

    tss_head_stats_get(s->head, &hs);
    return s->sealed_points >= hs.points / 4;
}

/* Builds and writes queued windows in order; stops at the first failure,
 * which keeps the rest queued for the next call. */
static int drain(tss_store *s, int64_t now, tss_seal_result *res)
{
    while (s->pending) {
        tss_pending *p = s->pending;
        int rc;

        if (!p->img && (rc = build_image(s, p)) != 0) {
            complain(s, now, W_ENCODE, rc);
            return rc;
        }
        reopen_if_failed(s);
        /* coverage first: a visible segment always has its sidecar */
        if ((rc = write_image(s, p->cov_rel, p->cov_img.data,
                              p->cov_img.len)) != 0) {
            complain(s, now, W_SIDECAR, rc);
            return rc;
        }
        if ((rc = write_image(s, p->rel, p->img, p->len)) != 0) {
            complain(s, now, W_SEGMENT, rc);
            return rc;
        }
        s->pending = p->next;
        s->pending_bytes -= p->bytes;
        res->segments_written++;
        res->points_written += p->points;
        atomic_fetch_add(&s->n_written, p->points);
        atomic_fetch_add(&s->n_segments, 1);
        atomic_fetch_add(&s->n_bytes, p->len + p->cov_img.len);
        if (tss_covtable_add_sidecar(s->cov, &p->cov) == 0)
            tss_covtable_set_covered_seq(s->cov, p->seq);
        else
            tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
                    "table coverage not updated for %s: %s", p->rel,
                    tss_error_last());
        if (s->cov_unsaved_ver != tss_covtable_version(s->cov)) {
            /* saved elsewhere since (recovery, compaction): count anew */
            s->cov_unsaved = 0;
            s->cov_unsaved_ver = tss_covtable_version(s->cov);
        }
        s->cov_unsaved += p->cov_img.len;
        s->cov_dirty = true;
        s->sealed_points += p->points;
        pending_free(p);
    }
    complain_done(s, false);
    save_coverage(s);
    /* the sealed items left the head: restart the snapshot from a small
     * base (only with nothing queued, which the base would not hold) */
    if (s->snap && s->sealed_points && base_worth_it(s)) {
        if (tss_snapshot_base(s->snap, now) == 0)
            s->sealed_points = 0;
        else
            complain(s, now, W_SNAPSHOT, tss_error_last_code());
    }
    return 0;
}

/* Whether w is a late batch: points that came after the window was
 * sealed (its own first batch arrives before its end plus Grace). */
static bool is_late(const tss_store *s, const tss_head_winfo *w)
{
    return w->first_arrival >= w->start + s->info.span + s->grace;
}

static tss_late_win *late_find(tss_store *s, int64_t start)
{
    for (size_t i = 0; i < TSS_LATE_WINDOWS; i++)
        if (s->late[i].sealed && s->late[i].start == start)
            return &s->late[i];
    return NULL;
}

/*
 * How long after its first arrival a window waits to be sealed: Grace;
 * for a late batch of a window that has had late batches sealed already,
 * Grace doubled for each of them, up to SegmentSpan. A host whose clock is
 * behind feeds an old window for as long as the window is wide: it then
 * makes about log2(span / grace) segments of it instead of one every
 * Grace.
 */
static int64_t late_hold(tss_store *s, const tss_head_winfo *w)
{
    const tss_late_win *l = is_late(s, w) ? late_find(s, w->start) : NULL;
    int64_t hold = s->grace;

    for (uint32_t k = 0; l && k < l->sealed && hold > 0 && hold < s->info.span;
         k++)
        hold *= 2; /* Grace 0: no batching, none to lengthen */
    if (hold > s->info.span)
        hold = s->info.span;
    return hold < s->grace ? s->grace : hold; /* a grace longer than the span */
}

/* w is being sealed: a late batch is counted (the first one of a window
 * takes a free entry, or the oldest window's, the least likely to get
 * more). */
static void late_sealed(tss_store *s, const tss_head_winfo *w)
{
    tss_late_win *l;

    if (!is_late(s, w))
        return;
    if ((l = late_find(s, w->start))) {
        if (l->sealed < UINT32_MAX)
            l->sealed++;
        return;
    }
    l = &s->late[0];
    for (size_t i = 0; i < TSS_LATE_WINDOWS; i++) {
        if (!s->late[i].sealed) {
            l = &s->late[i];
            break;
        }
        if (s->late[i].start < l->start)
            l = &s->late[i];
    }
    l->start = w->start;
    l->sealed = 1;
}

int tss_store_seal(tss_store *s, int64_t now, unsigned flags,
                   tss_seal_result *res)
{
    tss_seal_result local;
    tss_head_winfo *wins = NULL;
    tss_head_batch *batches = NULL;
    tss_pending **slots = NULL;
    int64_t *due = NULL;
    size_t nwins = 0, ndue = 0, nb = 0;
    int rc;

    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    pthread_mutex_lock(&s->seal_mu);
    if ((rc = tss_head_windows(s->head, &wins, &nwins)) != 0)
        goto out;
    for (size_t i = 0; i < nwins; i++) {
        bool ended = wins[i].start + s->info.span + s->grace <= now;
        bool settled = wins[i].first_arrival + late_hold(s, &wins[i]) <= now;

        if ((flags & TSS_SEAL_ALL) || (ended && settled)) {
            late_sealed(s, &wins[i]);
            wins[ndue++] = wins[i];
        }
    }
    /* allocate everything before detaching, so detached data always has a
     * home in the queue */
    due = tss_calloc(ndue ? ndue : 1, sizeof(*due));
    batches = tss_calloc(ndue ? ndue : 1, sizeof(*batches));
    slots = tss_calloc(ndue ? ndue : 1, sizeof(*slots));
    for (size_t i = 0; slots && i < ndue; i++)
        if (!(slots[i] = tss_calloc(1, sizeof(tss_pending))))
            ndue = i;
    if (!due || !batches || !slots) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory sealing");
        goto out;
    }
    for (size_t i = 0; i < ndue; i++)
        due[i] = wins[i].start;
    tss_head_detach(s->head, due, ndue, batches, &nb);
    for (size_t i = 0; i < nb; i++) {
        tss_pending *p = slots[i];

        slots[i] = NULL;
        p->batch = batches[i];
        p->points = batches[i].points;
        /* estimate until encoded: about 2 bytes per point */
        p->bytes = batches[i].points * 2 + 64;
        enqueue(s, p);
    }
    rc = drain(s, now, res);
out:
    for (size_t i = 0; slots && i < ndue; i++)
        tss_free(slots[i]);
    for (tss_pending *p = s->pending; p; p = p->next)
        res->pending++;
    res->pending_bytes = s->pending_bytes;
    res->points_dropped = atomic_load(&s->n_dropped);
    res->last_error = rc;
    pthread_mutex_unlock(&s->seal_mu);
    tss_free(wins);
    tss_free(due);
    tss_free(batches);
    tss_free(slots);
    return rc;
}

int tss_store_write_queued(tss_store *s, int64_t now)
{
    tss_seal_result res;
    size_t n = 0;
    int rc;

    if (!s->pending)
        return 0;
    for (const tss_pending *p = s->pending; p; p = p->next)
        n++;
    memset(&res, 0, sizeof(res));
    if ((rc = drain(s, now, &res)) == 0)
        return 0;
    return tss_error_set(rc,
                         "head snapshot: a new base waits until the %zu "
                         "window(s) queued for sealing are written (the "
                         "snapshot on disk holds them, a new base would "
                         "not): %s",
                         n, tss_error_last());
}

/* tss_store_snapshot's work, the seal mutex held. */
static int snapshot_locked(tss_store *s, int64_t now, unsigned flags)
{
    int rc;

    reopen_if_failed(s);
    /* a base would not hold windows queued for sealing: those first */
    rc = tss_snapshot_needs_base(s->snap) ? tss_store_write_queued(s, now) : 0;
    if (rc == 0)
        rc = tss_snapshot_write(s->snap, now, flags & TSS_SNAP_SYNC);
    if (rc)
        complain(s, now, W_SNAPSHOT, rc);
    else
        complain_done(s, true);
    s->snap_last = now;
    return rc;
}

/* Marks the tickets up to `upto` served by a record whose result is rc
 * (the seal mutex held, the record written after they were taken). */
static void serve_tickets(tss_store *s, uint64_t upto, int rc)
{
    pthread_mutex_lock(&s->ask_mu);
    if (upto > s->snap_served) {
        s->snap_served = upto;
        s->snap_served_rc = rc;
        pthread_cond_broadcast(&s->ask_cv);
    }
    pthread_mutex_unlock(&s->ask_mu);
}

/*
 * Locks the seal mutex, or, while long work holds it, takes a ticket
 * (*mine) and waits until either the work serves it between two windows
 * (tss_store_snapshot_due; *served, its result returned) or the mutex
 * comes free (returns 0, the mutex locked). No ticket (*mine 0) when the
 * mutex was free at once.
 */
static int wait_mutex_or_record(tss_store *s, uint64_t *mine, bool *served)
{
    int rc = 0;

    *mine = 0;
    *served = false;
    if (pthread_mutex_trylock(&s->seal_mu) == 0)
        return 0;
    pthread_mutex_lock(&s->ask_mu);
    *mine = ++s->snap_asked;
    while (pthread_mutex_trylock(&s->seal_mu) != 0) {
        struct timespec until;

        if (s->snap_served >= *mine) {
            *served = true;
            if ((rc = s->snap_served_rc) != 0)
                tss_error_set(rc, "head snapshot record written during a "
                                  "compaction or rollup failed (logged)");
            break;
        }
        /* woken when a ticket is served; the mutex's release has no
         * signal of its own: looked at again every 20 ms */
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 20 * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->ask_cv, &s->ask_mu, &until);
    }
    pthread_mutex_unlock(&s->ask_mu);
    return rc;
}

int tss_store_snapshot(tss_store *s, int64_t now, unsigned flags)
{
    uint64_t mine, asked, served_upto;
    bool served;
    int rc;

    if (!s->snap)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    rc = wait_mutex_or_record(s, &mine, &served);
    if (served)
        return rc;
    pthread_mutex_lock(&s->ask_mu);
    asked = s->snap_asked;
    served_upto = s->snap_served;
    pthread_mutex_unlock(&s->ask_mu);
    rc = snapshot_locked(s, now, flags);
    /* a synced record answers every ticket taken before it; an unsynced
     * one only ours, and only when no one else's waits (who may want a
     * sync), so that no ticket is left for the next long work to serve */
    if (flags & TSS_SNAP_SYNC)
        serve_tickets(s, asked, rc);
    else if (mine && served_upto + 1 == mine)
        serve_tickets(s, mine, rc);
    pthread_mutex_unlock(&s->seal_mu);
    return rc;
}

int tss_store_base_owed(tss_store *s, int64_t now)
{
    int rc;

    /* owed after a late batch's seal, or after a base that failed (at
     * open, after recovery: the old generation and its intents stay) */
    if (!s->snap || (!s->sealed_points && !tss_snapshot_needs_base(s->snap)))
        return 0;
    if ((rc = tss_store_write_queued(s, now)) != 0 ||
        (rc = tss_snapshot_base(s->snap, now)) != 0)
        return tss_error_set(rc,
                             "head snapshot base before removing segments "
                             "(the log's intent records name them): %s",
                             tss_error_last());
    s->sealed_points = 0;
    return 0;
}

void tss_store_snapshot_due(tss_store *s)
{
    uint64_t asked, served;
    int64_t now;
    int rc;

    /* a base (after a failed append) would first write the windows
     * queued for sealing, and a failed storage would be reopened: not in
     * the middle of long work that lists segments and holds the storage;
     * tss_store_snapshot does both once it is over (a waiting caller
     * then gets the mutex) */
    if (!s->snap || tss_snapshot_needs_base(s->snap) ||
        atomic_load(&s->st->failed))
        return;
    pthread_mutex_lock(&s->ask_mu);
    asked = s->snap_asked;
    served = s->snap_served;
    pthread_mutex_unlock(&s->ask_mu);
    now = tss_store_now(s);
    /* a clock stepped back: the interval counts from now */
    if (asked == served &&
        (s->snap_interval <= 0 ||
         (now - s->snap_last < s->snap_interval && now >= s->snap_last)))
        return;
    /* synced when a caller waits: a flush wants it on disk */
    rc = tss_snapshot_write(s->snap, now, asked != served);
    if (rc)
        complain(s, now, W_SNAPSHOT, rc); /* the next record retries */
    s->snap_last = now;
    serve_tickets(s, asked, rc);
}

void tss_store_writer_stats(tss_store *s, tss_writer_stats *out)
{
    tss_head_stats hs = {0};

    memset(out, 0, sizeof(*out));
    if (s->head)
        tss_head_stats_get(s->head, &hs);
    out->series = hs.series;
    out->head_points = hs.points;
    out->head_bytes = hs.bytes;
    out->points_appended = hs.appended;
    out->points_late = hs.late;
    out->points_written = atomic_load(&s->n_written);
    out->segments_written = atomic_load(&s->n_segments);
    out->bytes_written = atomic_load(&s->n_bytes);
    out->write_errors = atomic_load(&s->n_errors);
    out->points_dropped = atomic_load(&s->n_dropped);
    pthread_mutex_lock(&s->seal_mu);
    out->pending_bytes = s->pending_bytes;
    if (s->snap) {
        tss_snapshot_stats ss;

        tss_snapshot_stats_get(s->snap, &ss);
        out->snapshot_gen = ss.gen;
        out->snapshot_bytes = ss.bytes_written;
        out->snapshot_records = ss.records;
        out->last_snapshot = ss.last_write;
    }
    pthread_mutex_unlock(&s->seal_mu);
}

/* ---- client state ---------------------------------------------------- */

#define CLIENT_DIR "replay"

static int client_path(char *out, size_t size, const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 128 || name[0] == '.' ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789._-") != n)
        return tss_error_set(TSS_EINVAL,
                             "client state name \"%s\" is not "
                             "[A-Za-z0-9._-]{1,128}",
                             name);
    snprintf(out, size, CLIENT_DIR "/%s", name);
    return 0;
}

int tss_store_client_state_put(tss_store *s, const char *name, const void *buf,
                               size_t len)
{
    char rel[160];
    int rc;

    if ((rc = client_path(rel, sizeof(rel), name)) != 0 ||
        (rc = tss_storage_mkdirs(s->st, CLIENT_DIR)) != 0)
        return rc;
    return tss_storage_write_atomic(s->st, rel, buf, len);
}

int tss_store_client_state_get(tss_store *s, const char *name, void *buf,
                               size_t size, size_t *len)
{
    uint8_t *data;
    char rel[160];
    int rc;

    if ((rc = client_path(rel, sizeof(rel), name)) != 0 ||
        (rc = tss_storage_read_all(s->st, rel, size, &data, len)) != 0)
        return rc == TSS_ECORRUPT
                   ? tss_error_set(TSS_EINVAL, "%s is larger than %zu bytes",
                                   rel, size)
                   : rc;
    memcpy(buf, data, *len);
    tss_free(data);
    return 0;
}
