/*
 * tsstore — collectd read plugin for tsstore stores.
 *
 *  - health: every interval, per <Store>, the store's figures (the same
 *    as `tsstore stats`) as ordinary collectd values, plugin "tsstore",
 *    plugin instance the store's name;
 *  - replay: <Replay> blocks dispatch stored points with their original
 *    times and identifiers into collectd's pipeline, tagged so
 *    write_tsstore does not store them twice. A second read callback,
 *    "tsstore/replay", runs every REPLAY_TICK and dispatches what the rate
 *    allows for the time elapsed since its last run (a token bucket), so a
 *    replay reaches the write queue in small slices, not one burst per
 *    interval;
 *  - missing data: with `Missing N`, a series that has had no point for N
 *    of its own intervals raises one warning notification, and one okay
 *    notification when it comes back (judged from coverage).
 *
 * Stores are opened read-only and lock-free: this plugin never takes the
 * writer LOCK and works in the same collectd as write_tsstore or another.
 * The only files it writes are its replay positions.
 *
 * Replay (positions, rate slices, dispatch) is in tsstore_replay.c, with
 * the format of its position files; what the two files share is in
 * tsstore_internal.h. This file: configuration, registration and the
 * callbacks, health values and missing-data notifications.
 *
 * State lives in user_data: the flush callback owns it (collectd destroys
 * flush callbacks last, after the read threads stopped); the two read
 * callbacks share it.
 */
#define _GNU_SOURCE
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "../tools/cli_time.h"
#include "tsstore/coverage.h"
#include "tsstore/error.h"
#include "tsstore/stats.h"
#include "tsstore/store.h"
#include "tsstore/version.h"
#include "tsstore_internal.h"

#define COMPLAIN_EVERY_S 300
#define COMPLAIN_CHANGES 3

typedef struct ctx {
    tstore *stores;
    size_t nstores;
    cdtime_t interval;  /* the plugin's read interval */
    pthread_mutex_t mu; /* read, replay and flush callbacks */
} ctx;

/* For the version line at init, which collectd calls whether or not it
 * called ts_config (no <Plugin tsstore> block: the packages' snippet) and
 * which gets no user data: stores started, or -1 after a refused
 * configuration. */
static ssize_t started_stores;

/* The core's log callback (arg: the tstore). The core reports a damaged
 * file each time it reads it, dozens of times per interval for a corrupt
 * head snapshot: each text is logged once per COMPLAIN_EVERY_S. */
static void ts_log(void *arg, int level, const char *msg)
{
    tstore *t = arg;
    uint64_t held;
    char note[80];

    if (tss_log_limit_pass(&t->core_log, level, msg, time(NULL), &held))
        plugin_log(level, LOG_PREFIX "store \"%s\": %s%s", t->name, msg,
                   tss_log_limit_note(note, sizeof(note), held));
}

/* Rate-limited per store: a missing or broken store is retried every
 * interval but reported every few minutes; a new error (the store
 * appeared but is damaged) is reported at once, up to COMPLAIN_CHANGES
 * times within those minutes (errors that alternate stay quiet). `line`
 * is the whole message after the prefix. */
static void complain_line(tstore *t, const char *line)
{
    time_t now = time(NULL);
    bool changed = strncmp(line, t->last_what, sizeof(t->last_what) - 1) != 0;
    bool recent =
        t->last_complaint && now - t->last_complaint < COMPLAIN_EVERY_S;

    if (recent && (!changed || t->complaint_changes >= COMPLAIN_CHANGES))
        return;
    t->complaint_changes = recent ? t->complaint_changes + 1 : 0;
    t->last_complaint = now;
    sstrncpy(t->last_what, line, sizeof(t->last_what));
    ERROR(LOG_PREFIX "%s", line);
}

void ts_complain(tstore *t, const char *what)
{
    char line[1024];

    snprintf(line, sizeof(line),
             "store \"%s\" (%s): %s; retrying every interval", t->name,
             t->data_dir, what);
    complain_line(t, line);
}

void ts_complain_replay(tstore *t, const replay *r, const char *what)
{
    char line[1024];

    snprintf(line, sizeof(line), "<Store \"%s\"> <Replay \"%s\">: %s", t->name,
             r->name, what);
    complain_line(t, line);
}

/* A directory's identity: device, inode and, where the file system keeps
 * one, birth time (a directory made again may get the inode number of a
 * removed one). Returns 0, or -1 with errno. */
static int dir_identity(const char *path, uint64_t id[3])
{
    struct statx sx;
    struct stat st;

    if (statx(AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &sx) == 0) {
        id[0] = (uint64_t)sx.stx_dev_major << 32 | sx.stx_dev_minor;
        id[1] = sx.stx_ino;
        id[2] = sx.stx_mask & STATX_BTIME
                    ? (uint64_t)sx.stx_btime.tv_sec * 1000000000u +
                          sx.stx_btime.tv_nsec
                    : 0;
        return 0;
    }
    if (errno != ENOSYS && errno != EPERM) /* statx not there (seccomp) */
        return -1;
    if (stat(path, &st) != 0)
        return -1;
    id[0] = (uint64_t)major(st.st_dev) << 32 | minor(st.st_dev);
    id[1] = st.st_ino;
    id[2] = 0;
    return 0;
}

static int open_store(tstore *t)
{
    tss_store_options o;
    int rc;

    if (t->s)
        return 0;
    /* before the open: a replacement in between makes the next check
     * reopen once more, never keep the old store */
    if (dir_identity(t->data_dir, t->dir_id) != 0)
        memset(t->dir_id, 0, sizeof(t->dir_id));
    tss_store_options_init(&o);
    o.log = ts_log;
    o.log_ctx = t;
    rc = tss_store_open(&t->s, t->data_dir, 0, &o);
    if (rc) {
        t->s = NULL;
        ts_complain(t, tss_error_last());
        return rc;
    }
    if (t->last_complaint)
        NOTICE(LOG_PREFIX "store \"%s\" is readable again", t->name);
    t->last_complaint = 0;
    t->last_what[0] = '\0';
    return 0;
}

/* ---- health -------------------------------------------------------------- */

static void submit(const tstore *t, const char *type, const char *ti, value_t v)
{
    value_list_t vl = VALUE_LIST_INIT;

    vl.values = &v;
    vl.values_len = 1;
    sstrncpy(vl.plugin, PLUGIN, sizeof(vl.plugin));
    sstrncpy(vl.plugin_instance, t->name, sizeof(vl.plugin_instance));
    sstrncpy(vl.type, type, sizeof(vl.type));
    sstrncpy(vl.type_instance, ti, sizeof(vl.type_instance));
    plugin_dispatch_values(&vl);
}

static void submit_gauge(const tstore *t, const char *type, const char *ti,
                         double g)
{
    submit(t, type, ti, (value_t){.gauge = g});
}

static void health(tstore *t)
{
    tss_store_stats st;

    if (tss_store_stats_get(t->s, tss_store_now(t->s), &st) != 0) {
        ts_complain(t, tss_error_last());
        return;
    }
    if (st.unreadable) {
        char what[160];

        /* the files are named by the store's own (rate-limited) lines */
        snprintf(what, sizeof(what),
                 "%" PRIu64 " unreadable file(s) left out of the health "
                 "figures (named above; tsstore verify checks them)",
                 st.unreadable);
        ts_complain(t, what);
    }
    submit_gauge(t, "count", "series", (double)st.series);
    submit_gauge(t, "count", "points", (double)st.points);
    submit_gauge(t, "count", "segments", (double)st.segments);
    submit_gauge(t, "count", "head_points", (double)st.head_points);
    submit_gauge(t, "bytes", "segments", (double)st.bytes_segments);
    submit_gauge(t, "bytes", "coverage", (double)st.bytes_coverage);
    submit_gauge(t, "bytes", "head", (double)st.bytes_head);
    submit_gauge(t, "bytes", "wal", (double)st.bytes_wal);
    submit_gauge(t, "bytes", "tombstones", (double)st.bytes_tombstones);
    submit_gauge(t, "bytes", "total", (double)st.bytes_total);
    submit_gauge(t, "gauge", "bytes_per_point", st.bytes_per_point);
    submit_gauge(t, "duration", "snapshot_age",
                 st.snapshot_age >= 0 ? st.snapshot_age : NAN);
    submit_gauge(t, "pending_operations", "deletes",
                 (double)st.pending_deletes);
    submit_gauge(t, "count", "tombstoned_points", (double)st.tombstoned_points);
    submit_gauge(t, "percent", "coverage_1h",
                 st.coverage_1h >= 0 ? st.coverage_1h : NAN);
    if (st.writer_stats_age >= 0) {
        submit(t, "total_values", "late_points",
               (value_t){.derive = (derive_t)st.late_points});
        submit(t, "errors", "write",
               (value_t){.derive = (derive_t)st.write_errors});
        submit(t, "total_values", "dropped_points",
               (value_t){.derive = (derive_t)st.points_dropped});
    }
}

/* ---- missing data -------------------------------------------------------- */

static _Thread_local bool miss_oom;

/* The series' state, created in phase `first` if new; NULL: out of memory. */
static miss_state *miss_find(tstore *t, const char *ident,
                             enum miss_phase first)
{
    miss_state *m;

    HASH_FIND_STR(t->miss, ident, m);
    if (m)
        return m;
    if (!(m = calloc(1, sizeof(*m))) || !(m->ident = strdup(ident))) {
        free(m);
        return NULL;
    }
    m->phase = first;
    miss_oom = false;
    HASH_ADD_KEYPTR(hh, t->miss, m->ident, strlen(m->ident), m);
    if (miss_oom) {
        free(m->ident);
        free(m);
        return NULL;
    }
    return m;
}

/* One identifier as check_missing sees it: every data source of it (the
 * coverage gives them one after another, in identifier order). */
typedef struct miss_group {
    char fields[5][DATA_MAX_NAME_LEN]; /* host, plugin, pinst, type, tinst */
    char ds[512];                      /* its data sources, ", "-joined */
    size_t nds;
    int64_t last; /* the latest end of any data source's coverage */
    int64_t step; /* the longest interval (at least a bucket) */
} miss_group;

static bool group_is(const miss_group *g, const tss_series_id *id)
{
    const char *f[5] = {id->host, id->plugin, id->plugin_instance, id->type,
                        id->type_instance};

    for (int i = 0; i < 5; i++)
        if (strncmp(g->fields[i], f[i], sizeof(g->fields[i]) - 1) != 0)
            return false;
    return true;
}

static void group_start(miss_group *g, const tss_series_id *id)
{
    const char *f[5] = {id->host, id->plugin, id->plugin_instance, id->type,
                        id->type_instance};

    for (int i = 0; i < 5; i++)
        sstrncpy(g->fields[i], f[i], sizeof(g->fields[i]));
    g->ds[0] = '\0';
    g->nds = 0;
    g->last = INT64_MIN;
    g->step = 0;
}

static void group_add(miss_group *g, const tss_coverage_series *cs,
                      int64_t bucket)
{
    size_t used = strlen(g->ds);
    int64_t step = cs->interval > bucket ? cs->interval : bucket;

    if (used + 1 < sizeof(g->ds))
        snprintf(g->ds + used, sizeof(g->ds) - used, "%s%s", g->nds ? ", " : "",
                 cs->id.ds);
    g->nds++;
    if (cs->to > g->last)
        g->last = cs->to;
    if (step > g->step)
        g->step = step;
}

static void notify(const miss_group *g, int severity, const char *msg)
{
    notification_t n = {.severity = severity, .time = cdtime()};

    sstrncpy(n.message, msg, sizeof(n.message));
    sstrncpy(n.host, g->fields[0], sizeof(n.host));
    sstrncpy(n.plugin, g->fields[1], sizeof(n.plugin));
    sstrncpy(n.plugin_instance, g->fields[2], sizeof(n.plugin_instance));
    sstrncpy(n.type, g->fields[3], sizeof(n.type));
    sstrncpy(n.type_instance, g->fields[4], sizeof(n.type_instance));
    plugin_dispatch_notification(&n);
}

/* Judges one identifier: a notification carries the identifier, not a
 * data source, so an identifier (if_octets: rx and tx) sends one warning
 * when none of its data sources has had a point for `Missing` of its
 * intervals, and one okay when it reports again. */
static void group_judge(tstore *t, const miss_group *g, int64_t now,
                        uint32_t ups)
{
    tss_series_id id = {g->fields[0], g->fields[1], g->fields[2],
                        g->fields[3], g->fields[4], ""};
    char ident[1600], when[48], msg[NOTIF_MAX_MSG_LEN];
    bool missing = now - g->last > (int64_t)t->missing * g->step;
    const char *sources = g->nds > 1 ? "data sources" : "data source";
    size_t len = tss_series_id_format(ident, sizeof(ident), &id);
    int ilen = len < sizeof(ident) ? (int)len : (int)sizeof(ident) - 1;
    int dlen = (int)strlen(g->ds);
    miss_state *m;

    /* a series already silent when first seen raises nothing: it was not
     * "reporting" as far as we know, and neither is an okay due when it
     * starts (collectd's restart must not send one for every series the
     * stop silenced) */
    if (!(m = miss_find(t, ident, missing ? MISS_QUIET : MISS_REPORTING)))
        return;
    if (missing && m->phase == MISS_REPORTING) {
        snprintf(msg, sizeof(msg),
                 "tsstore store \"%s\": series %.*s (%s %.*s) has had no "
                 "value since %s (%d intervals)",
                 t->name, ilen, ident, sources, dlen, g->ds,
                 cli_time_rfc3339(when, sizeof(when), g->last, ups),
                 t->missing);
        notify(g, NOTIF_WARNING, msg);
        m->phase = MISS_WARNED;
    } else if (!missing && m->phase == MISS_WARNED) {
        snprintf(msg, sizeof(msg),
                 "tsstore store \"%s\": series %.*s (%s %.*s) reports again",
                 t->name, ilen, ident, sources, dlen, g->ds);
        notify(g, NOTIF_OKAY, msg);
        m->phase = MISS_REPORTING;
    } else if (!missing) {
        m->phase = MISS_REPORTING; /* a quiet one that started */
    }
}

static void check_missing(tstore *t)
{
    tss_store_info info;
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f = {0};
    miss_group g;
    bool have = false;
    int64_t now;

    tss_store_info_get(t->s, &info);
    now = tss_store_now(t->s);
    if (tss_coverage_open(&c, t->s, &f) != 0) {
        ts_complain(t, tss_error_last());
        return;
    }
    while (tss_coverage_next(c, &cs) == 1) {
        if (have && !group_is(&g, &cs.id)) {
            group_judge(t, &g, now, info.units_per_second);
            have = false;
        }
        if (!have) {
            group_start(&g, &cs.id);
            have = true;
        }
        group_add(&g, &cs, info.bucket_width);
    }
    if (have)
        group_judge(t, &g, now, info.units_per_second);
    tss_coverage_close(c);
}

/* ---- callbacks ----------------------------------------------------------- */

/* Closes t's handle when DataDir is no longer the directory it opened (the
 * store was replaced, e.g. restored from a copy, or removed): the handle
 * would go on reading the old, maybe deleted, files and report an empty
 * store. The store at DataDir is opened again by store_ready (a missing
 * one is reported and retried as at start), and the replays read their
 * positions from it. Reported at most every few minutes. */
static void check_replaced(tstore *t)
{
    uint64_t id[3];
    int err = 0;
    time_t now;

    if (!t->s)
        return;
    if (dir_identity(t->data_dir, id) != 0)
        err = errno ? errno : EIO;
    else if (memcmp(id, t->dir_id, sizeof(id)) == 0)
        return;
    now = time(NULL);
    if (!t->last_moved || now - t->last_moved >= COMPLAIN_EVERY_S) {
        if (err)
            WARNING(LOG_PREFIX "store \"%s\" (%s): DataDir is gone since the "
                               "store was opened (%s); closed, read again "
                               "once it is back",
                    t->name, t->data_dir, STRERROR(err));
        else
            WARNING(LOG_PREFIX "store \"%s\" (%s): DataDir was replaced by "
                               "another directory since the store was "
                               "opened; reading the new one",
                    t->name, t->data_dir);
        t->last_moved = now;
    }
    for (size_t k = 0; k < t->nreplays; k++)
        ts_replay_detach(&t->replays[k]);
    tss_store_close(t->s);
    t->s = NULL;
}

/* Opens the store if it is not; on the first open, puts From/To in the
 * store's units and loads the replay positions (retried until read). */
static int store_ready(tstore *t)
{
    bool fresh = !t->s;

    if (open_store(t) != 0)
        return -1;
    if (fresh)
        ts_parse_times(t);
    for (size_t k = 0; k < t->nreplays; k++)
        if (!t->replays[k].loaded && !t->replays[k].broken &&
            ts_load_position(t, &t->replays[k]) == 0)
            t->replays[k].loaded = true;
    return 0;
}

static int ts_read(user_data_t *ud)
{
    ctx *c = ud->data;

    pthread_mutex_lock(&c->mu);
    c->interval = plugin_get_interval();
    for (size_t i = 0; i < c->nstores; i++) {
        tstore *t = &c->stores[i];

        check_replaced(t);
        if (store_ready(t) != 0)
            continue;
        health(t);
        if (t->missing)
            check_missing(t);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static int ts_replay(user_data_t *ud)
{
    ctx *c = ud->data;
    cdtime_t now = cdtime();

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nstores; i++) {
        tstore *t = &c->stores[i];

        if (!t->nreplays)
            continue;
        /* here too, not only at the read: a replay running on a replaced
         * store would write its position into the old directory and send
         * again from the new one what it sent (a statx per 100 ms) */
        check_replaced(t);
        if (store_ready(t) != 0)
            continue;
        for (size_t k = 0; k < t->nreplays; k++)
            if (t->replays[k].loaded)
                ts_replay_step(t, &t->replays[k], now, c->interval);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* A flush of this plugin (collectdctl flush plugin=tsstore, or a flush of
 * every plugin) starts every Trigger "flush" replay that is not running
 * from its beginning; the replay callback applies it once the replay's
 * position is loaded, so an earlier position cannot overwrite it. */
static int ts_flush(cdtime_t timeout, const char *identifier, user_data_t *ud)
{
    ctx *c = ud->data;

    (void)timeout;
    (void)identifier;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nstores; i++)
        for (size_t k = 0; k < c->stores[i].nreplays; k++) {
            replay *r = &c->stores[i].replays[k];

            if (r->on_flush && !r->broken)
                r->flush_requested = true;
        }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void store_free(tstore *t)
{
    miss_state *m, *tmp;

    for (size_t k = 0; k < t->nreplays; k++) {
        if (t->s)
            ts_save_position(t, &t->replays[k]);
        ts_replay_free(&t->replays[k]);
    }
    free(t->replays);
    HASH_ITER(hh, t->miss, m, tmp)
    {
        HASH_DEL(t->miss, m);
        free(m->ident);
        free(m);
    }
    tss_store_close(t->s);
    if (t->core_log.window_s) /* set up (ts_config) */
        tss_log_limit_destroy(&t->core_log);
    free(t->name);
    free(t->data_dir);
}

static void ctx_free(void *arg)
{
    ctx *c = arg;

    if (!c)
        return;
    for (size_t i = 0; i < c->nstores; i++)
        store_free(&c->stores[i]);
    free(c->stores);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- configuration ------------------------------------------------------ */

/* Errors name the block: `<Store "x">` or `<Store "x"> <Replay "y">`. */

static int conf_string(const oconfig_item_t *ci, const char *block, char **out)
{
    char *s;

    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
        ERROR(LOG_PREFIX "%s: \"%s\" needs one string argument in double "
                         "quotes",
              block, ci->key);
        return -1;
    }
    if (!(s = strdup(ci->values[0].value.string))) {
        ERROR(LOG_PREFIX "%s: \"%s\": out of memory", block, ci->key);
        return -1;
    }
    free(*out);
    *out = s;
    return 0;
}

static int conf_number(const oconfig_item_t *ci, double *out)
{
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER)
        return -1;
    *out = ci->values[0].value.number;
    return 0;
}

/* From/To: a string, or a bare number of epoch seconds. The syntax is
 * checked here (at ms precision), the store's precision applied when it
 * is open (parse_times). */
static int conf_time(const oconfig_item_t *ci, const char *block, char **out)
{
    char buf[128], err[256];
    int64_t v;

    if (ci->values_num == 1 && ci->values[0].type == OCONFIG_TYPE_NUMBER) {
        snprintf(buf, sizeof(buf), "%.17g", ci->values[0].value.number);
    } else if (ci->values_num == 1 &&
               ci->values[0].type == OCONFIG_TYPE_STRING) {
        snprintf(buf, sizeof(buf), "%s", ci->values[0].value.string);
    } else {
        ERROR(LOG_PREFIX "%s: \"%s\" needs one time: epoch seconds or RFC "
                         "3339 such as \"2026-11-21T15:00:00Z\"",
              block, ci->key);
        return -1;
    }
    if (cli_time_parse(buf, 1000, true, &v, err, sizeof(err)) != 0) {
        ERROR(LOG_PREFIX "%s: \"%s\": %s", block, ci->key, err);
        return -1;
    }
    free(*out);
    return (*out = strdup(buf)) ? 0 : -1;
}

static int conf_replay_option(const oconfig_item_t *c, const char *block,
                              replay *r)
{
    if (strcasecmp(c->key, "Series") == 0) {
        if (conf_string(c, block, &r->series) != 0)
            return -1;
        if (strlen(r->series) > SERIES_MAX) {
            ERROR(LOG_PREFIX "%s: \"Series\" is longer than %d bytes", block,
                  SERIES_MAX);
            return -1;
        }
        return 0;
    }
    if (strcasecmp(c->key, "From") == 0)
        return conf_time(c, block, &r->from_text);
    if (strcasecmp(c->key, "To") == 0)
        return conf_time(c, block, &r->to_text);
    if (strcasecmp(c->key, "Target") == 0) {
        if (conf_string(c, block, &r->target) != 0)
            return -1;
        if (!*r->target) {
            ERROR(LOG_PREFIX "%s: \"Target\" is a write plugin's name or "
                             "\"all\"",
                  block);
            return -1;
        }
        if (strcasecmp(r->target, "all") == 0) {
            free(r->target);
            r->target = NULL;
        }
        return 0;
    }
    if (strcasecmp(c->key, "Rate") == 0) {
        if (conf_number(c, &r->rate) != 0 || !(r->rate > 0) || r->rate > 1e9) {
            ERROR(LOG_PREFIX "%s: \"Rate\" needs a number of points per "
                             "second, above 0 (e.g. Rate 1000)",
                  block);
            return -1;
        }
        return 0;
    }
    if (strcasecmp(c->key, "Trigger") == 0) {
        const char *v =
            c->values_num == 1 && c->values[0].type == OCONFIG_TYPE_STRING
                ? c->values[0].value.string
                : "";

        if (strcasecmp(v, "start") != 0 && strcasecmp(v, "flush") != 0) {
            ERROR(LOG_PREFIX "%s: \"Trigger\" is \"start\" or \"flush\"",
                  block);
            return -1;
        }
        r->on_flush = strcasecmp(v, "flush") == 0;
        return 0;
    }
    ERROR(LOG_PREFIX "%s: unknown option \"%s\" (Series, From, To, Rate, "
                     "Target, Trigger)",
          block, c->key);
    return -1;
}

/* A block's name: one non-empty string. */
static int conf_name(const oconfig_item_t *ci, const char *outer, char **out)
{
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING ||
        !*ci->values[0].value.string) {
        ERROR(LOG_PREFIX "%s%s<%s> needs a name in double quotes: <%s "
                         "\"%s\">",
              outer ? outer : "", outer ? " " : "", ci->key, ci->key,
              outer ? "backfill" : "main");
        return -1;
    }
    return (*out = strdup(ci->values[0].value.string)) ? 0 : -1;
}

static int conf_replay(const oconfig_item_t *ci, const char *store, replay *r)
{
    char outer[DATA_MAX_NAME_LEN + 16], block[2 * DATA_MAX_NAME_LEN + 32];
    bool series_seen = false;
    int bad = 0;

    memset(r, 0, sizeof(*r));
    r->rate = 1000;
    snprintf(outer, sizeof(outer), "<Store \"%s\">", store);
    if (conf_name(ci, outer, &r->name) != 0)
        return -1;
    snprintf(block, sizeof(block), "%s <Replay \"%s\">", outer, r->name);
    for (int i = 0; i < ci->children_num; i++) {
        series_seen |= strcasecmp(ci->children[i].key, "Series") == 0;
        bad |= conf_replay_option(ci->children + i, block, r) != 0;
    }
    if (!series_seen) {
        ERROR(LOG_PREFIX "%s: \"Series\" is required (a pattern such as "
                         "\"myhost/*\")",
              block);
        bad = 1;
    }
    if (!bad && r->from_text && r->to_text) {
        char err[256];
        int64_t from, to;

        /* in ms, From down and To up: refused only when From is after To
         * at any precision (a difference finer than the store's is found
         * when it is open: ts_parse_times) */
        if (cli_time_parse(r->from_text, 1000, false, &from, err,
                           sizeof(err)) == 0 &&
            cli_time_parse(r->to_text, 1000, true, &to, err, sizeof(err)) ==
                0 &&
            from > to) {
            ERROR(LOG_PREFIX "%s: \"From\" is after \"To\" (\"%s\" > "
                             "\"%s\"): nothing to replay",
                  block, r->from_text, r->to_text);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

static int conf_store(const oconfig_item_t *ci, tstore *t)
{
    char block[DATA_MAX_NAME_LEN + 16];
    bool data_dir_seen = false;
    int bad = 0;

    memset(t, 0, sizeof(*t));
    if (conf_name(ci, NULL, &t->name) != 0)
        return -1;
    snprintf(block, sizeof(block), "<Store \"%s\">", t->name);
    for (int i = 0; i < ci->children_num; i++) {
        const oconfig_item_t *c = ci->children + i;

        if (strcasecmp(c->key, "DataDir") == 0) {
            data_dir_seen = true;
            bad |= conf_string(c, block, &t->data_dir) != 0;
        } else if (strcasecmp(c->key, "Missing") == 0) {
            double v = -1;

            if (conf_number(c, &v) != 0 || !(v >= 0) || v > 1e6 ||
                v != floor(v)) {
                ERROR(LOG_PREFIX "%s: \"Missing\" needs a whole number of "
                                 "intervals (0: off), e.g. Missing 3",
                      block);
                bad = 1;
            } else {
                t->missing = (int)v;
            }
        } else if (strcasecmp(c->key, "Replay") == 0) {
            replay *nr = realloc(t->replays, (t->nreplays + 1) * sizeof(*nr));

            if (!nr)
                return -1;
            t->replays = nr;
            if (conf_replay(c, t->name, &t->replays[t->nreplays]) != 0)
                bad = 1;
            t->nreplays++;
        } else {
            ERROR(LOG_PREFIX "%s: unknown option \"%s\" (DataDir, Missing, "
                             "<Replay>)",
                  block, c->key);
            bad = 1;
        }
    }
    if (!data_dir_seen) {
        ERROR(LOG_PREFIX "%s: \"DataDir\" is required (the store's "
                         "directory)",
              block);
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* Store names must differ (they are the health values' plugin instance),
 * and so must the position files of the replays. */
static int conf_unique(const ctx *c)
{
    int bad = 0;

    for (size_t i = 0; i < c->nstores; i++) {
        const tstore *t = &c->stores[i];

        for (size_t j = 0; j < i; j++)
            if (strcmp(t->name, c->stores[j].name) == 0) {
                ERROR(LOG_PREFIX "<Store \"%s\"> is given twice: each "
                                 "<Store> needs its own name",
                      t->name);
                bad = 1;
                break;
            }
        for (size_t k = 0; k < t->nreplays; k++) {
            char a[300], b[300];

            ts_state_name(a, sizeof(a), t, &t->replays[k]);
            for (size_t j = 0; j <= i; j++)
                for (size_t l = 0; l < (j == i ? k : c->stores[j].nreplays);
                     l++) {
                    ts_state_name(b, sizeof(b), &c->stores[j],
                                  &c->stores[j].replays[l]);
                    if (strcmp(a, b) == 0) {
                        ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: "
                                         "its position file replay/%s is "
                                         "also <Store \"%s\"> <Replay "
                                         "\"%s\">'s: rename one",
                              t->name, t->replays[k].name, a, c->stores[j].name,
                              c->stores[j].replays[l].name);
                        bad = 1;
                    }
                }
        }
    }
    return bad ? -1 : 0;
}

static int ts_config(oconfig_item_t *ci)
{
    ctx *c = calloc(1, sizeof(*c));
    user_data_t ud = {0};
    size_t nreplays = 0;
    int bad = 0;

    if (!c)
        return -1;
    pthread_mutex_init(&c->mu, NULL);
    c->interval = plugin_get_interval();
    for (int i = 0; i < ci->children_num; i++) {
        const oconfig_item_t *child = ci->children + i;
        tstore *ns;

        if (strcasecmp(child->key, "Store") != 0) {
            ERROR(LOG_PREFIX "unknown option \"%s\" (expected <Store "
                             "\"name\">)",
                  child->key);
            bad = 1;
            continue;
        }
        ns = realloc(c->stores, (c->nstores + 1) * sizeof(*ns));
        if (!ns) {
            bad = 1;
            break;
        }
        c->stores = ns;
        if (conf_store(child, &c->stores[c->nstores]) != 0)
            bad = 1;
        nreplays += c->stores[c->nstores].nreplays;
        c->nstores++;
    }
    if (!bad && c->nstores == 0) {
        ERROR(LOG_PREFIX "no <Store> block: nothing to read");
        bad = 1;
    }
    if (bad || conf_unique(c) != 0) {
        ERROR(LOG_PREFIX "not started: fix the configuration errors above");
        ctx_free(c);
        started_stores = -1;
        return -1;
    }
    if (started_stores >= 0)
        started_stores += (ssize_t)c->nstores;
    /* here, not in conf_store: the stores array no longer moves */
    for (size_t i = 0; i < c->nstores; i++)
        tss_log_limit_init(&c->stores[i].core_log, COMPLAIN_EVERY_S);
    ud.data = c;
    ud.free_func = NULL;
    plugin_register_complex_read(NULL, PLUGIN, ts_read, 0, &ud);
    if (nreplays)
        plugin_register_complex_read(NULL, PLUGIN "/replay", ts_replay,
                                     MS_TO_CDTIME_T(REPLAY_TICK_MS), &ud);
    ud.free_func = ctx_free; /* flush callbacks are destroyed last */
    plugin_register_flush(PLUGIN, ts_flush, &ud);
    return 0;
}

/* Which version loaded, whatever was configured. */
static int ts_init(void)
{
    if (started_stores > 0)
        INFO(LOG_PREFIX "version %s reading %zd store(s)", TSS_VERSION,
             started_stores);
    else if (started_stores == 0)
        INFO(LOG_PREFIX "version %s: no <Store> configured, nothing is read",
             TSS_VERSION);
    else
        INFO(LOG_PREFIX "version %s: not started, the configuration has "
                        "errors",
             TSS_VERSION);
    return 0;
}

__attribute__((visibility("default"))) void module_register(void)
{
    started_stores = 0;
    plugin_register_complex_config(PLUGIN, ts_config);
    plugin_register_init(PLUGIN, ts_init);
}
