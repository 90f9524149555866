/*
 * write_tsstore — collectd write plugin storing every value in a tsstore
 * store (see ../shared/DESIGN.md and docs/format.md).
 *
 * Threads:
 *  - collectd's write threads call wt_write: it appends to the core's
 *    sharded head (memory only; shard locks, never I/O).
 *  - our maintenance thread wakes every second, seals due windows into
 *    segments, retries failed writes, applies deletes and compaction
 *    requests, rolls up and prunes.
 *  - our snapshot thread writes a head snapshot record every
 *    SnapshotInterval. The core serializes it with the maintenance
 *    thread's work on its seal mutex, which a compaction, rollup or
 *    delete holds for its whole run: meanwhile the core writes the
 *    records itself between windows (snapshot_interval_ms), so a crash
 *    still loses no more than SnapshotInterval; and when our snapshot
 *    call (a FLUSH's synced one among them) waits for the mutex, the run
 *    writes it, synced, before its next window: a FLUSH waits for one
 *    window's rewrite, not for the run (FLUSH_WAIT_S bounds it).
 *  - wt_flush (unixsock FLUSH, FlushInterval, shutdown) asks the
 *    snapshot thread for a synced head snapshot (windows not due stay
 *    in the head: they are sealed when their time comes) and waits for
 *    it; it fails when that snapshot could not be written.
 *
 * State lives in user_data (freed by collectd after the final flush at
 * shutdown). collectd's init callback takes no user_data, so the state the
 * config callback builds is handed to init through one file-scope pointer;
 * nothing else is global.
 */
#define _GNU_SOURCE
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "conf_util.h"
#include "log_limit.h"
#include "tsstore/error.h"
#include "tsstore/mutation.h"
#include "tsstore/stats.h"
#include "tsstore/store.h"
#include "tsstore/version.h"

#define PLUGIN "write_tsstore"
#define LOG_PREFIX PLUGIN " plugin: "
/* Values our own read plugin replays carry this meta key: skip them. */
#define REPLAY_META "tsstore:replayed"
#define FLUSH_WAIT_S 120
#define COMPLAIN_EVERY_S 60

typedef struct wt_conf {
    char *data_dir;
    char *stage_dir; /* NULL or "": records go straight to the disk */
    uint32_t units_per_second;
    int64_t span_ms, bucket_ms, grace_ms, snapshot_ms, snapshot_sync_ms;
    unsigned shards;
    uint64_t max_pending;
    int compact_after;
    int64_t retention_ms; /* 0: keep everything */
    tss_rollup_spec rollups[TSS_MAX_ROLLUPS];
    unsigned nrollups;
    uint64_t retention_bytes; /* 0: no limit */
    bool valid;
} wt_conf;

/* Rate limit for errors on the write path: one line per interval with the
 * count suppressed meanwhile. */
typedef struct wt_complain {
    pthread_mutex_t mu;
    time_t last;
    uint64_t suppressed;
} wt_complain;

typedef struct wt_state {
    wt_conf conf;
    tss_store *store;
    uint32_t ups;
    pthread_t thread, snap_thread;
    bool thread_running, snap_running;
    pthread_mutex_t mu;
    pthread_cond_t wake, snap_wake, done;
    bool stop;
    uint64_t flush_req, flush_done;
    int flush_rc; /* the snapshot of the round that set flush_done */
    wt_complain complain;
    tss_log_limit core_log; /* the core's log lines (wt_log) */
} wt_state;

static wt_state *configured; /* config → init hand-over only */

/* The core's log callback (ctx: the wt_state), from whichever thread
 * does the work. A damaged file is reported each time it is read: each
 * text is logged once per COMPLAIN_EVERY_S, with the count held back. */
static void wt_log(void *ctx, int level, const char *msg)
{
    wt_state *st = ctx;
    uint64_t held;
    char note[80];

    if (tss_log_limit_pass(&st->core_log, level, msg, time(NULL), &held))
        plugin_log(level, LOG_PREFIX "%s%s", msg,
                   tss_log_limit_note(note, sizeof(note), held));
}

static void complain(wt_complain *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void complain(wt_complain *c, const char *fmt, ...)
{
    char msg[512];
    uint64_t skipped;
    time_t now = time(NULL);
    va_list ap;

    pthread_mutex_lock(&c->mu);
    if (c->last && now - c->last < COMPLAIN_EVERY_S) {
        c->suppressed++;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    skipped = c->suppressed;
    c->suppressed = 0;
    c->last = now;
    pthread_mutex_unlock(&c->mu);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (skipped)
        ERROR(LOG_PREFIX "%s (%" PRIu64 " similar errors suppressed in the "
                         "last %d s)",
              msg, skipped, COMPLAIN_EVERY_S);
    else
        ERROR(LOG_PREFIX "%s", msg);
}

/* ---- configuration ----------------------------------------------------- */

static int get_text(const oconfig_item_t *ci, char *buf, size_t size)
{
    if (ci->values_num != 1)
        return -1;
    if (ci->values[0].type == OCONFIG_TYPE_STRING)
        snprintf(buf, size, "%s", ci->values[0].value.string);
    else if (ci->values[0].type == OCONFIG_TYPE_NUMBER)
        snprintf(buf, size, "%.17g", ci->values[0].value.number);
    else
        return -1;
    return 0;
}

static int conf_duration(const oconfig_item_t *ci, int64_t *ms, int64_t min_ms)
{
    char text[128], err[256];

    if (get_text(ci, text, sizeof(text)) != 0) {
        ERROR(LOG_PREFIX "option \"%s\" needs one value (e.g. \"2h\")",
              ci->key);
        return -1;
    }
    if (tss_conf_duration_ms(text, ms, err, sizeof(err)) != 0) {
        ERROR(LOG_PREFIX "option \"%s\": %s", ci->key, err);
        return -1;
    }
    if (*ms < min_ms) {
        /* in the units the option is written in: ms is not one */
        ERROR(LOG_PREFIX "option \"%s\": \"%s\" is below the minimum of "
                         "%g s",
              ci->key, text, (double)min_ms / 1000);
        return -1;
    }
    return 0;
}

static int conf_whole_seconds(const oconfig_item_t *ci, int64_t ms)
{
    if (ms % 1000 != 0) {
        ERROR(LOG_PREFIX "option \"%s\" must be a whole number of seconds",
              ci->key);
        return -1;
    }
    return 0;
}

/* A number in [min, max], truncated to an int. Not cf_util_get_int: it
 * converts the number with a plain cast, undefined behaviour for one out
 * of int's range (CompactAfter 1e10), so the range is checked first. */
static int conf_int(const oconfig_item_t *ci, int min, int max, int *out)
{
    double d;

    if (cf_util_get_double(ci, &d) != 0 || !(d >= min && d <= max))
        return -1;
    *out = (int)d;
    return 0;
}

/* <Rollup> After 7d  Resolution 5m  Keep 1y </Rollup> */
static int conf_rollup(const oconfig_item_t *ci, wt_conf *c)
{
    int64_t after = -1, res = -1, keep = 0;
    tss_rollup_spec *r;

    if (c->nrollups == TSS_MAX_ROLLUPS) {
        ERROR(LOG_PREFIX "more than %d <Rollup> blocks", TSS_MAX_ROLLUPS);
        return 1;
    }
    for (int i = 0; i < ci->children_num; i++) {
        const oconfig_item_t *o = ci->children + i;
        int64_t *dst = strcasecmp(o->key, "After") == 0        ? &after
                       : strcasecmp(o->key, "Resolution") == 0 ? &res
                       : strcasecmp(o->key, "Keep") == 0       ? &keep
                                                               : NULL;

        if (!dst) {
            ERROR(LOG_PREFIX "<Rollup>: unknown option \"%s\" (After, "
                             "Resolution, Keep)",
                  o->key);
            return 1;
        }
        if (conf_duration(o, dst, dst == &res ? 1000 : 0) ||
            conf_whole_seconds(o, *dst))
            return 1;
    }
    if (after < 0 || res <= 0) {
        ERROR(LOG_PREFIX "<Rollup> needs \"After\" and \"Resolution\"");
        return 1;
    }
    r = &c->rollups[c->nrollups++];
    r->after_seconds = after / 1000;
    r->resolution_seconds = res / 1000;
    r->keep_seconds = keep / 1000;
    return 0;
}

static int wt_config(oconfig_item_t *ci)
{
    wt_state *st;
    wt_conf *c;
    int bad = 0;

    if (configured) {
        ERROR(LOG_PREFIX "only one <Plugin %s> block is supported", PLUGIN);
        return -1;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        ERROR(LOG_PREFIX "out of memory");
        return -1;
    }
    pthread_mutex_init(&st->mu, NULL);
    {
        /* its timed waits by the monotonic clock: a wall clock stepped
         * back would stretch a one-second wait to however far it went */
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&st->wake, &ca);
        pthread_cond_init(&st->snap_wake, &ca);
        pthread_cond_init(&st->done, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_mutex_init(&st->complain.mu, NULL);
    tss_log_limit_init(&st->core_log, COMPLAIN_EVERY_S);
    c = &st->conf;
    c->data_dir = strdup("tsstore");
    c->stage_dir = strdup("/dev/shm");
    c->units_per_second = 1000;
    c->span_ms = 7200 * 1000;
    c->bucket_ms = 10 * 1000;
    c->grace_ms = 300 * 1000;
    c->snapshot_ms = 10 * 1000;
    c->snapshot_sync_ms = 60 * 1000;
    c->shards = 64;
    c->max_pending = UINT64_C(256) << 20;
    c->compact_after = 1;
    for (int i = 0; i < ci->children_num; i++) {
        oconfig_item_t *child = ci->children + i;
        char text[128], err[256];

        if (strcasecmp("DataDir", child->key) == 0) {
            free(c->data_dir);
            c->data_dir = NULL;
            if (cf_util_get_string(child, &c->data_dir) != 0 || !c->data_dir ||
                !*c->data_dir) {
                ERROR(LOG_PREFIX "option \"DataDir\" needs a directory");
                bad = 1;
            }
        } else if (strcasecmp("Precision", child->key) == 0) {
            if (get_text(child, text, sizeof(text)) != 0 ||
                !(c->units_per_second = tss_conf_precision(text))) {
                ERROR(LOG_PREFIX "option \"Precision\" must be \"s\", "
                                 "\"ms\", \"us\" or \"ns\"");
                bad = 1;
            }
        } else if (strcasecmp("SegmentSpan", child->key) == 0) {
            bad |= conf_duration(child, &c->span_ms, 1000) ||
                   conf_whole_seconds(child, c->span_ms);
        } else if (strcasecmp("BucketWidth", child->key) == 0) {
            bad |= conf_duration(child, &c->bucket_ms, 1000) ||
                   conf_whole_seconds(child, c->bucket_ms);
        } else if (strcasecmp("Grace", child->key) == 0) {
            bad |= conf_duration(child, &c->grace_ms, 0) ||
                   conf_whole_seconds(child, c->grace_ms);
        } else if (strcasecmp("SnapshotInterval", child->key) == 0) {
            bad |= conf_duration(child, &c->snapshot_ms, 1000) ||
                   conf_whole_seconds(child, c->snapshot_ms);
        } else if (strcasecmp("SnapshotStage", child->key) == 0) {
            free(c->stage_dir);
            c->stage_dir = NULL;
            if (cf_util_get_string(child, &c->stage_dir) != 0 ||
                !c->stage_dir || (*c->stage_dir && *c->stage_dir != '/')) {
                ERROR(LOG_PREFIX "option \"SnapshotStage\" needs an absolute "
                                 "directory on a memory file system (tmpfs), "
                                 "or \"\" for none");
                bad = 1;
            }
        } else if (strcasecmp("SnapshotSync", child->key) == 0) {
            bad |= conf_duration(child, &c->snapshot_sync_ms, 0) ||
                   conf_whole_seconds(child, c->snapshot_sync_ms);
        } else if (strcasecmp("Shards", child->key) == 0) {
            int n = 0;

            if (conf_int(child, 1, 4096, &n) != 0) {
                ERROR(LOG_PREFIX "option \"Shards\" must be 1 to 4096");
                bad = 1;
            } else {
                c->shards = (unsigned)n;
            }
        } else if (strcasecmp("Rollup", child->key) == 0) {
            bad |= conf_rollup(child, c);
        } else if (strcasecmp("RetentionTime", child->key) == 0) {
            bad |= conf_duration(child, &c->retention_ms, 0) ||
                   conf_whole_seconds(child, c->retention_ms);
        } else if (strcasecmp("RetentionSize", child->key) == 0) {
            if (get_text(child, text, sizeof(text)) != 0 ||
                tss_conf_size(text, &c->retention_bytes, err, sizeof(err))) {
                ERROR(LOG_PREFIX "option \"RetentionSize\": %s",
                      child->values_num == 1 ? err : "needs one value");
                bad = 1;
            }
        } else if (strcasecmp("CompactAfter", child->key) == 0) {
            if (conf_int(child, 0, INT_MAX, &c->compact_after) != 0) {
                ERROR(LOG_PREFIX "option \"CompactAfter\" must be a number "
                                 "of segments (0 = never automatically)");
                bad = 1;
            }
        } else if (strcasecmp("MaxPendingBytes", child->key) == 0) {
            if (get_text(child, text, sizeof(text)) != 0 ||
                tss_conf_size(text, &c->max_pending, err, sizeof(err)) != 0) {
                ERROR(LOG_PREFIX "option \"MaxPendingBytes\": %s",
                      child->values_num == 1 ? err : "needs one value");
                bad = 1;
            }
        } else {
            ERROR(LOG_PREFIX "unknown option \"%s\"", child->key);
            bad = 1;
        }
    }
    if (!bad && c->span_ms % c->bucket_ms != 0) {
        ERROR(LOG_PREFIX "\"SegmentSpan\" must be a multiple of "
                         "\"BucketWidth\"");
        bad = 1;
    }
    c->valid = !bad;
    configured = st;
    return bad ? -1 : 0;
}

/* ---- time --------------------------------------------------------------- */

/*
 * cdtime_t (2^-30 s) to store units, rounded to nearest with ties to even.
 * For s, ms and us the time is first rounded to a double, as collectd's
 * CDTIME_T_TO_DOUBLE does for every other writer (csv prints that double
 * with %.3f): a double holds today's times to ~2.4e-7 s, finer than a
 * microsecond, and rounding the same value the same way makes our times
 * agree with theirs to the digit. For ns the cdtime is used exactly.
 */
static int to_units(cdtime_t t, uint32_t ups, int64_t *out)
{
    uint64_t sec, frac, scaled, q, r, half = UINT64_C(1) << 29;

    if (ups <= 1000000 && t < (UINT64_C(1) << 63))
        t = (cdtime_t)(double)t;
    sec = t >> 30;
    frac = t & ((UINT64_C(1) << 30) - 1);
    scaled = frac * ups; /* < 2^30 * 10^9 < 2^60 */
    q = scaled >> 30;
    r = scaled & ((UINT64_C(1) << 30) - 1);

    if (r > half || (r == half && (q & 1)))
        q++;
    if (sec > (uint64_t)(TSS_TIME_LIMIT / ups) - 1)
        return -1;
    *out = (int64_t)(sec * ups + q);
    return 0;
}

/* ---- maintenance thread ----------------------------------------------- */

/* Milliseconds of the monotonic clock: the maintenance schedule. The wall
 * clock (tss_store_now) is what the store runs by, but one that steps back
 * would hold every due snapshot, rollup and prune until it caught up. */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Every second: seal the windows that are due, apply what `tsstore
 * delete/compact` queued, and once a minute roll up and prune. A round
 * may take long (a compaction rewrites windows); snapshots do not wait
 * for it (wt_snap_main).
 */
static void *wt_main(void *arg)
{
    wt_state *st = arg;
    int64_t next_prune = 0;

    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        struct timespec until;
        int64_t now, mono;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&st->wake, &st->mu, &until);
        if (st->stop)
            break;
        pthread_mutex_unlock(&st->mu);
        now = tss_store_now(st->store);
        mono = mono_ms();
        /* errors are logged by the core, rate-limited; data stays queued
         * in memory and is retried on the next round */
        (void)!tss_store_seal(st->store, now, 0, NULL);
        /* deletes and compaction requests from `tsstore delete/compact` */
        (void)!tss_store_apply_mutations(st->store, now, NULL);
        /* retention and rollups, once a minute: whole segments */
        if (mono >= next_prune) {
            (void)!tss_store_rollup(st->store, now, NULL);
            (void)!tss_store_prune(st->store, now, NULL);
            next_prune = mono + 60 * 1000;
        }
        /* counters only we know, for the read plugin and tsstore stats */
        (void)!tss_store_publish_stats(st->store, now, 60 * (int64_t)st->ups);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/*
 * Every SnapshotInterval, and whenever a flush asks: persist the head (a
 * flush also fsyncs it), so that `tsstore` sees everything received and a
 * crash loses nothing before it.
 */
static void *wt_snap_main(void *arg)
{
    wt_state *st = arg;
    int64_t next_snap = mono_ms() + st->conf.snapshot_ms;

    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        uint64_t want;
        bool flush;
        int snap_rc;

        if (st->flush_req == st->flush_done && next_snap > mono_ms()) {
            /* the conditions wait on CLOCK_MONOTONIC, as mono_ms reads */
            struct timespec until = {(time_t)(next_snap / 1000),
                                     (long)(next_snap % 1000) * 1000000};

            pthread_cond_timedwait(&st->snap_wake, &st->mu, &until);
            continue; /* woken early, or on time: look again */
        }
        want = st->flush_req;
        flush = want != st->flush_done;
        pthread_mutex_unlock(&st->mu);
        snap_rc = tss_store_snapshot(st->store, tss_store_now(st->store),
                                     flush ? TSS_SNAP_SYNC : 0);
        next_snap = mono_ms() + st->conf.snapshot_ms;
        pthread_mutex_lock(&st->mu);
        if (flush) {
            st->flush_done = want;
            st->flush_rc = snap_rc;
            pthread_cond_broadcast(&st->done);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ---- callbacks ---------------------------------------------------------- */

static int wt_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud)
{
    wt_state *st = ud->data;
    tss_series_id id;
    int64_t t;
    int status = 0;

    if (vl->meta && meta_data_exists(vl->meta, REPLAY_META))
        return 0;
    if (to_units(vl->time, st->ups, &t) != 0) {
        complain(&st->complain,
                 "%s/%s: time %.3f is outside the storable "
                 "range; value dropped",
                 vl->host, vl->plugin, CDTIME_T_TO_DOUBLE(vl->time));
        return -1;
    }
    id.host = vl->host;
    id.plugin = vl->plugin;
    id.plugin_instance = vl->plugin_instance;
    id.type = vl->type;
    id.type_instance = vl->type_instance;
    for (size_t i = 0; i < ds->ds_num; i++) {
        tss_value v;
        int kind, rc;

        switch (ds->ds[i].type) {
        case DS_TYPE_GAUGE:
            kind = TSS_KIND_GAUGE;
            v.gauge = vl->values[i].gauge;
            break;
        case DS_TYPE_DERIVE:
            kind = TSS_KIND_DERIVE;
            v.derive = vl->values[i].derive;
            break;
        case DS_TYPE_COUNTER:
            kind = TSS_KIND_COUNTER;
            v.counter = vl->values[i].counter;
            break;
        case DS_TYPE_ABSOLUTE:
            kind = TSS_KIND_ABSOLUTE;
            v.counter = vl->values[i].absolute;
            break;
        default:
            complain(&st->complain, "%s: unknown data source type %d", ds->type,
                     ds->ds[i].type);
            status = -1;
            continue;
        }
        id.ds = ds->ds[i].name;
        rc = tss_store_append(st->store, &id, kind, t, v);
        if (rc) {
            complain(&st->complain, "storing %s/%s/%s: %s", vl->host,
                     vl->plugin, ds->ds[i].name, tss_error_last());
            status = -1;
        }
    }
    return status;
}

/*
 * Persists everything received so far (a synced head snapshot; identifier
 * and timeout are not used: the snapshot covers every series, so a FLUSH
 * of one identifier flushes all). Waits for the maintenance thread, so
 * `tsstore` sees the data when FLUSH returns; -1 (and an ERROR: collectd
 * 5.12's plugin_flush ignores what a callback returns) when the snapshot
 * could not be written.
 */
static int wt_flush(cdtime_t timeout, const char *identifier, user_data_t *ud)
{
    wt_state *st = ud->data;
    struct timespec until;
    uint64_t mine;
    int rc = 0;
    bool failed;

    (void)timeout;
    (void)identifier;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += FLUSH_WAIT_S;
    pthread_mutex_lock(&st->mu);
    if (!st->snap_running || st->stop) {
        pthread_mutex_unlock(&st->mu);
        return 0;
    }
    mine = ++st->flush_req;
    pthread_cond_signal(&st->snap_wake);
    while (st->flush_done < mine && !st->stop && rc == 0)
        rc = pthread_cond_timedwait(&st->done, &st->mu, &until);
    /* the snapshot of a later round covers this one's data too: its
     * result is as good (a failure is reported, to be safe) */
    failed = st->flush_done >= mine && st->flush_rc != 0;
    pthread_mutex_unlock(&st->mu);
    if (rc) {
        /* a compaction or rollup window that takes this long, or a disk
         * that does not answer; collectd 5.12 ignores what we return, so
         * the ERROR is what says it */
        ERROR(LOG_PREFIX "flush: no synced head snapshot after %d s (a "
                         "compaction or rollup window, or the disk, is "
                         "that slow); not waiting: what was received is "
                         "written when it is done",
              FLUSH_WAIT_S);
        return -1;
    }
    if (failed) {
        /* the core logged why (rate-limited); the data stays in memory
         * and is written when the disk takes it */
        complain(&st->complain,
                 "flush: the head snapshot could not be written, so what "
                 "was received is not yet readable or safe from a crash");
        return -1;
    }
    return 0;
}

static void wt_free(void *arg)
{
    wt_state *st = arg;
    tss_seal_result res;

    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_broadcast(&st->wake);
    pthread_cond_broadcast(&st->snap_wake);
    pthread_cond_broadcast(&st->done);
    pthread_mutex_unlock(&st->mu);
    if (st->thread_running) {
        pthread_join(st->thread, NULL);
        st->thread_running = false;
    }
    if (st->snap_running) {
        pthread_join(st->snap_thread, NULL);
        st->snap_running = false;
    }
    if (st->store) {
        tss_writer_stats ws;

        int64_t now = tss_store_now(st->store);

        /* shutdown: seal what is due, persist the rest of the head (it is
         * recovered at the next start, so no window is cut short) */
        if (tss_store_seal(st->store, now, 0, &res) != 0)
            ERROR(LOG_PREFIX "at shutdown %" PRIu64 " bytes of sealed "
                             "windows could not be written: %s",
                  res.pending_bytes, tss_error_last());
        (void)!tss_store_publish_stats(st->store, now, 0);
        if (tss_store_snapshot(st->store, now, TSS_SNAP_SYNC) != 0)
            ERROR(LOG_PREFIX "at shutdown the head snapshot could not be "
                             "written: %s",
                  tss_error_last());
        tss_store_writer_stats(st->store, &ws);
        INFO(LOG_PREFIX "shut down: %" PRIu64 " points received since "
                        "start, %" PRIu64 " sealed in %" PRIu64
                        " segment(s), %" PRIu64 " kept in the head snapshot",
             ws.points_appended, ws.points_written, ws.segments_written,
             ws.head_points);
        tss_store_close(st->store);
    }
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->wake);
    pthread_cond_destroy(&st->snap_wake);
    pthread_cond_destroy(&st->done);
    pthread_mutex_destroy(&st->complain.mu);
    tss_log_limit_destroy(&st->core_log);
    free(st->conf.data_dir);
    free(st->conf.stage_dir);
    free(st);
}

static int wt_init(void)
{
    wt_state *st = configured;
    tss_store_options o;
    tss_store_info info;
    user_data_t ud = {0};
    int rc;

    configured = NULL;
    if (!st) { /* LoadPlugin without a <Plugin> block: defaults */
        oconfig_item_t empty = {.key = (char *)PLUGIN};

        if (wt_config(&empty) != 0)
            return -1;
        st = configured;
        configured = NULL;
    }
    if (!st->conf.valid) {
        ERROR(LOG_PREFIX "not started: fix the configuration errors above");
        wt_free(st);
        return -1;
    }
    tss_store_options_init(&o);
    o.units_per_second = st->conf.units_per_second;
    o.span_seconds = st->conf.span_ms / 1000;
    o.bucket_seconds = st->conf.bucket_ms / 1000;
    o.grace_seconds = st->conf.grace_ms / 1000;
    o.shards = st->conf.shards;
    o.max_pending_bytes = st->conf.max_pending;
    o.snapshot_sync_seconds = st->conf.snapshot_sync_ms / 1000;
    o.snapshot_stage_dir = st->conf.stage_dir;
    /* records also between the windows of a long compaction or rollup */
    o.snapshot_interval_ms = st->conf.snapshot_ms;
    o.compact_after_segments = (uint32_t)st->conf.compact_after;
    o.retention_seconds = st->conf.retention_ms / 1000;
    o.retention_bytes = st->conf.retention_bytes;
    memcpy(o.rollups, st->conf.rollups, sizeof(o.rollups));
    o.nrollups = st->conf.nrollups;
    o.log = wt_log;
    o.log_ctx = st;
    rc = tss_store_open(&st->store, st->conf.data_dir,
                        TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    if (rc) {
        ERROR(LOG_PREFIX "cannot open DataDir \"%s\": %s", st->conf.data_dir,
              tss_error_last());
        st->store = NULL;
        wt_free(st);
        return -1;
    }
    tss_store_info_get(st->store, &info);
    st->ups = info.units_per_second;
    if (plugin_thread_create(&st->thread, wt_main, st, PLUGIN) != 0) {
        ERROR(LOG_PREFIX "cannot start the maintenance thread");
        wt_free(st);
        return -1;
    }
    st->thread_running = true;
    if (plugin_thread_create(&st->snap_thread, wt_snap_main, st,
                             "tsstore_snap") != 0) {
        ERROR(LOG_PREFIX "cannot start the snapshot thread");
        wt_free(st);
        return -1;
    }
    st->snap_running = true;
    INFO(LOG_PREFIX "version %s storing in %s (precision %u/s, segment span "
                    "%" PRId64 " s, grace %" PRId64 " s, snapshot every "
                    "%" PRId64 " s)",
         TSS_VERSION, st->conf.data_dir, info.units_per_second,
         info.span / info.units_per_second, st->conf.grace_ms / 1000,
         st->conf.snapshot_ms / 1000);
    ud.data = st;
    ud.free_func = NULL;
    plugin_register_flush(PLUGIN, wt_flush, &ud);
    ud.free_func = wt_free;
    plugin_register_write(PLUGIN, wt_write, &ud);
    return 0;
}

__attribute__((visibility("default"))) void module_register(void)
{
    plugin_register_complex_config(PLUGIN, wt_config);
    plugin_register_init(PLUGIN, wt_init);
}
