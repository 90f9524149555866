/*
 * tsstore — collectd read plugin for tsstore stores.
 *
 *  - health: every interval, per <Store>, the store's figures (the same
 *    as `tsstore stats`) as ordinary collectd values, plugin "tsstore",
 *    plugin instance the store's name;
 *  - replay: <Replay> blocks dispatch stored points with their original
 *    times and identifiers into collectd's pipeline, at a bounded rate,
 *    tagged so write_tsstore does not store them twice; the position is
 *    kept in the store (DataDir/replay/), so a restart resumes;
 *  - missing data: with `Missing N`, a series that has had no point for N
 *    of its own intervals raises one warning notification, and one okay
 *    notification when it comes back (judged from coverage).
 *
 * Stores are opened read-only and lock-free: this plugin never takes the
 * writer LOCK and works in the same collectd as write_tsstore or another.
 * The only files it writes are its replay positions.
 *
 * State lives in user_data: the flush callback owns it (collectd destroys
 * flush callbacks last, after the read threads stopped); the read callback
 * shares it.
 */
#define _GNU_SOURCE
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "../tools/cli_time.h"
#include "tsstore/coverage.h"
#include "tsstore/error.h"
#include "tsstore/query.h"
#include "tsstore/stats.h"
#include "tsstore/store.h"
#include "tsstore/version.h"

#define PLUGIN "tsstore"
#define LOG_PREFIX PLUGIN " plugin: "
#define REPLAY_META "tsstore:replayed" /* write_tsstore skips these */
#define COMPLAIN_EVERY_S 300

typedef struct pt_list {
    tss_point *pts;
    size_t n;
} pt_list;

/* A group: the identifier host/plugin/pinst/type/tinst as its five
 * fields joined by NUL (the order of the store's keys), plus its length. */
#define GROUP_MAX (5 * 256)

typedef struct replay {
    char *name, *series, *target;
    bool has_from, has_to, on_flush;
    int64_t from, to; /* store units, set when the store is first open */
    char *from_text, *to_text;
    double rate; /* points per second */
    /* runtime */
    bool active, done;
    tss_query *q;
    tss_series_info pending; /* first series of the next group */
    bool have_pending;
    char group[GROUP_MAX];
    size_t group_len;
    char fields[5][256];
    pt_list ds_pts[16]; /* the group's points, per data source */
    size_t ds_pos[16], nds;
    const data_set_t *ds;
    int64_t pos_t; /* last time dispatched in pos_group */
    char pos_group[GROUP_MAX];
    size_t pos_len;
    bool has_pos;
    uint64_t dispatched;
    bool dirty;
} replay;

typedef struct miss_state {
    char *ident; /* identifier + "\n" + ds */
    bool missing, known;
} miss_state;

typedef struct tstore {
    char *name, *data_dir;
    int missing; /* intervals; 0: off */
    replay *replays;
    size_t nreplays;
    tss_store *s;
    miss_state *miss;
    size_t nmiss, capmiss;
    time_t last_complaint;
} tstore;

typedef struct ctx {
    tstore *stores;
    size_t nstores;
    pthread_mutex_t mu; /* read and flush callbacks */
} ctx;

static void ts_log(void *c, int level, const char *msg)
{
    (void)c;
    plugin_log(level, LOG_PREFIX "%s", msg);
}

/* Rate-limited per store: a missing or broken store is retried every
 * interval but reported every few minutes. */
static void complain(tstore *t, const char *what)
{
    time_t now = time(NULL);

    if (t->last_complaint && now - t->last_complaint < COMPLAIN_EVERY_S)
        return;
    t->last_complaint = now;
    ERROR(LOG_PREFIX "store \"%s\" (%s): %s; retrying every interval", t->name,
          t->data_dir, what);
}

static int open_store(tstore *t)
{
    tss_store_options o;
    int rc;

    if (t->s)
        return 0;
    tss_store_options_init(&o);
    o.log = ts_log;
    rc = tss_store_open(&t->s, t->data_dir, 0, &o);
    if (rc) {
        t->s = NULL;
        complain(t, tss_error_last());
        return rc;
    }
    if (t->last_complaint)
        NOTICE(LOG_PREFIX "store \"%s\" is readable again", t->name);
    t->last_complaint = 0;
    return 0;
}

/* ---- time ---------------------------------------------------------------- */

static cdtime_t units_to_cdtime(int64_t t, uint32_t ups)
{
    int64_t sec = t / ups, rem = t % ups;

    if (rem < 0) {
        rem += ups;
        sec--;
    }
    if (sec < 0)
        return 0;
    return ((cdtime_t)sec << 30) +
           (cdtime_t)((((uint64_t)rem << 30) + ups / 2) / ups);
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
        complain(t, tss_error_last());
        return;
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

static miss_state *miss_find(tstore *t, const char *ident)
{
    for (size_t i = 0; i < t->nmiss; i++)
        if (strcmp(t->miss[i].ident, ident) == 0)
            return &t->miss[i];
    if (t->nmiss == t->capmiss) {
        size_t nc = t->capmiss ? t->capmiss * 2 : 64;
        miss_state *nm = realloc(t->miss, nc * sizeof(*nm));

        if (!nm)
            return NULL;
        t->miss = nm;
        t->capmiss = nc;
    }
    t->miss[t->nmiss].ident = strdup(ident);
    if (!t->miss[t->nmiss].ident)
        return NULL;
    t->miss[t->nmiss].missing = false;
    t->miss[t->nmiss].known = false;
    return &t->miss[t->nmiss++];
}

static void notify(const tss_coverage_series *cs, int severity, const char *msg)
{
    notification_t n = {.severity = severity, .time = cdtime()};

    sstrncpy(n.message, msg, sizeof(n.message));
    sstrncpy(n.host, cs->id.host, sizeof(n.host));
    sstrncpy(n.plugin, cs->id.plugin, sizeof(n.plugin));
    sstrncpy(n.plugin_instance, cs->id.plugin_instance,
             sizeof(n.plugin_instance));
    sstrncpy(n.type, cs->id.type, sizeof(n.type));
    sstrncpy(n.type_instance, cs->id.type_instance, sizeof(n.type_instance));
    plugin_dispatch_notification(&n);
}

static void check_missing(tstore *t)
{
    tss_store_info info;
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f = {0};
    int64_t now;

    tss_store_info_get(t->s, &info);
    now = tss_store_now(t->s);
    if (tss_coverage_open(&c, t->s, &f) != 0) {
        complain(t, tss_error_last());
        return;
    }
    while (tss_coverage_next(c, &cs) == 1) {
        char ident[1600], when[48], msg[NOTIF_MAX_MSG_LEN];
        int64_t step =
            cs.interval > info.bucket_width ? cs.interval : info.bucket_width;
        bool missing = now - cs.to > (int64_t)t->missing * step;
        miss_state *m;
        size_t len;

        len = tss_series_id_format(ident, sizeof(ident), &cs.id);
        snprintf(ident + len, sizeof(ident) - len, "\n%s", cs.id.ds);
        if (!(m = miss_find(t, ident)))
            continue;
        /* a series already silent when we first look raises nothing: it
         * was not "reporting" as far as we know */
        if (m->known && missing && !m->missing) {
            snprintf(msg, sizeof(msg),
                     "tsstore store \"%s\": series %.*s (data source %s) has "
                     "had no value since %s (%d intervals)",
                     t->name, (int)len, ident, cs.id.ds,
                     cli_time_rfc3339(when, sizeof(when), cs.to,
                                      info.units_per_second),
                     t->missing);
            notify(&cs, NOTIF_WARNING, msg);
        } else if (m->known && !missing && m->missing) {
            snprintf(msg, sizeof(msg),
                     "tsstore store \"%s\": series %.*s (data source %s) "
                     "reports again",
                     t->name, (int)len, ident, cs.id.ds);
            notify(&cs, NOTIF_OKAY, msg);
        }
        m->known = true;
        m->missing = missing;
    }
    tss_coverage_close(c);
}

/* ---- replay -------------------------------------------------------------- */

static void state_name(char *out, size_t size, const tstore *t, const replay *r)
{
    snprintf(out, size, "%s-%s", t->name, r->name);
    for (char *p = out; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            *p = '_';
}

/* Position file: "done pos_t dispatched <hex of the group>\n". */
static void save_position(tstore *t, replay *r)
{
    char name[300], buf[64 + 2 * GROUP_MAX];
    int n;

    if (!r->dirty)
        return;
    state_name(name, sizeof(name), t, r);
    n = snprintf(buf, sizeof(buf), "%d %" PRId64 " %" PRIu64 " ", r->done,
                 r->pos_t, r->dispatched);
    for (size_t i = 0; i < r->pos_len; i++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%02x",
                      (unsigned char)r->pos_group[i]);
    buf[n++] = '\n';
    if (tss_store_client_state_put(t->s, name, buf, (size_t)n) != 0)
        complain(t, tss_error_last());
    else
        r->dirty = false;
}

static void load_position(tstore *t, replay *r)
{
    char name[300], buf[64 + 2 * GROUP_MAX + 2];
    size_t len;
    int done = 0, consumed = 0;
    unsigned long long disp = 0;
    long long pos = 0;
    const char *hex;

    state_name(name, sizeof(name), t, r);
    if (tss_store_client_state_get(t->s, name, buf, sizeof(buf) - 1, &len))
        return;
    buf[len] = '\0';
    if (sscanf(buf, "%d %lld %llu %n", &done, &pos, &disp, &consumed) < 3)
        return;
    hex = buf + consumed;
    r->pos_len = 0;
    while (isxdigit((unsigned char)hex[0]) && isxdigit((unsigned char)hex[1]) &&
           r->pos_len < GROUP_MAX) {
        unsigned v;

        sscanf(hex, "%2x", &v);
        r->pos_group[r->pos_len++] = (char)v;
        hex += 2;
    }
    r->done = done != 0;
    r->pos_t = pos;
    r->dispatched = disp;
    r->has_pos = r->pos_len > 0;
    if (r->has_pos || r->done)
        INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" resumes %s (%llu "
                        "values so far)",
             r->name, t->name, r->done ? "finished" : "where it stopped", disp);
}

static size_t group_key(const tss_series_id *id, char *out)
{
    const char *f[5] = {id->host, id->plugin, id->plugin_instance, id->type,
                        id->type_instance};
    size_t n = 0;

    for (int i = 0; i < 5; i++) {
        size_t l = strlen(f[i]);

        memcpy(out + n, f[i], l + 1);
        n += l + 1;
    }
    return n;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    return c ? c : (al > bl) - (al < bl);
}

static void group_reset(replay *r)
{
    for (size_t i = 0; i < r->nds; i++) {
        free(r->ds_pts[i].pts);
        r->ds_pts[i].pts = NULL;
        r->ds_pts[i].n = 0;
        r->ds_pos[i] = 0;
    }
    r->nds = 0;
    r->ds = NULL;
    r->group_len = 0;
}

static int kind_of(int ds_type)
{
    switch (ds_type) {
    case DS_TYPE_GAUGE:
        return TSS_KIND_GAUGE;
    case DS_TYPE_DERIVE:
        return TSS_KIND_DERIVE;
    case DS_TYPE_COUNTER:
        return TSS_KIND_COUNTER;
    default:
        return TSS_KIND_ABSOLUTE;
    }
}

/* Loads the next group: every data source of one identifier. Returns 1,
 * 0 at the end, or a negative error. */
static int next_group(tstore *t, replay *r)
{
    tss_series_info si;
    int rc;

    group_reset(r);
    for (;;) {
        char key[GROUP_MAX];
        const tss_point *pts;
        const data_set_t *ds;
        size_t n, klen, k;

        if (r->have_pending) {
            si = r->pending;
            r->have_pending = false;
        } else if ((rc = tss_query_next(r->q, &si)) != 1) {
            return rc == 0 && r->group_len ? 1 : rc;
        }
        klen = group_key(&si.id, key);
        if (r->group_len && key_cmp(key, klen, r->group, r->group_len) != 0) {
            r->pending = si; /* its strings stay valid: no query call yet */
            r->have_pending = true;
            return 1;
        }
        if (r->has_pos && key_cmp(key, klen, r->pos_group, r->pos_len) < 0)
            continue; /* before the restored position */
        ds = plugin_get_ds(si.id.type);
        if (!ds || ds->ds_num > 16) {
            complain(t, "replay: a stored type is not in this collectd's "
                        "types.db; its values are skipped");
            continue;
        }
        if (!r->group_len) {
            memcpy(r->group, key, klen);
            r->group_len = klen;
            snprintf(r->fields[0], 256, "%s", si.id.host);
            snprintf(r->fields[1], 256, "%s", si.id.plugin);
            snprintf(r->fields[2], 256, "%s", si.id.plugin_instance);
            snprintf(r->fields[3], 256, "%s", si.id.type);
            snprintf(r->fields[4], 256, "%s", si.id.type_instance);
            r->ds = ds;
            r->nds = ds->ds_num;
        }
        for (k = 0; k < ds->ds_num; k++)
            if (strcmp(ds->ds[k].name, si.id.ds) == 0 &&
                kind_of(ds->ds[k].type) == si.kind)
                break;
        if (k == ds->ds_num)
            continue; /* not a data source of this type (or of its kind) */
        if ((rc = tss_query_points(r->q, &pts, &n)) != 0)
            return rc;
        free(r->ds_pts[k].pts);
        r->ds_pts[k].pts = malloc(n * sizeof(*pts) + 1);
        if (!r->ds_pts[k].pts)
            return -1;
        memcpy(r->ds_pts[k].pts, pts, n * sizeof(*pts));
        r->ds_pts[k].n = n;
    }
}

/* Dispatches the current group's value lists while *budget lasts. Only
 * times at which every data source of the type has a value make a value
 * list (collectd cannot dispatch half of one). */
static void dispatch_group(replay *r, uint32_t ups, int64_t *budget)
{
    bool resume = r->has_pos && key_cmp(r->group, r->group_len, r->pos_group,
                                        r->pos_len) == 0;

    while (*budget > 0) {
        value_list_t vl = VALUE_LIST_INIT;
        value_t values[16];
        int64_t tmin = INT64_MAX;
        bool complete = true;
        meta_data_t *md;

        for (size_t k = 0; k < r->nds; k++)
            if (r->ds_pos[k] < r->ds_pts[k].n &&
                r->ds_pts[k].pts[r->ds_pos[k]].t < tmin)
                tmin = r->ds_pts[k].pts[r->ds_pos[k]].t;
        if (tmin == INT64_MAX)
            return; /* the group is done */
        for (size_t k = 0; k < r->nds; k++) {
            const tss_point *p = r->ds_pos[k] < r->ds_pts[k].n
                                     ? &r->ds_pts[k].pts[r->ds_pos[k]]
                                     : NULL;

            if (!p || p->t != tmin) {
                complete = false;
                continue;
            }
            r->ds_pos[k]++;
            switch (r->ds->ds[k].type) {
            case DS_TYPE_GAUGE:
                values[k].gauge = p->v.gauge;
                break;
            case DS_TYPE_DERIVE:
                values[k].derive = p->v.derive;
                break;
            case DS_TYPE_COUNTER:
                values[k].counter = p->v.counter;
                break;
            default:
                values[k].absolute = p->v.counter;
            }
        }
        if (!complete || (resume && tmin <= r->pos_t))
            continue;
        sstrncpy(vl.host, r->fields[0], sizeof(vl.host));
        sstrncpy(vl.plugin, r->fields[1], sizeof(vl.plugin));
        sstrncpy(vl.plugin_instance, r->fields[2], sizeof(vl.plugin_instance));
        sstrncpy(vl.type, r->fields[3], sizeof(vl.type));
        sstrncpy(vl.type_instance, r->fields[4], sizeof(vl.type_instance));
        vl.values = values;
        vl.values_len = r->nds;
        vl.time = units_to_cdtime(tmin, ups);
        md = meta_data_create();
        if (md)
            meta_data_add_boolean(md, REPLAY_META, true);
        vl.meta = md;
        if (r->target && strcasecmp(r->target, "all") != 0)
            plugin_write(r->target, r->ds, &vl);
        else
            plugin_dispatch_values(&vl);
        meta_data_destroy(md);
        r->pos_t = tmin;
        memcpy(r->pos_group, r->group, r->group_len);
        r->pos_len = r->group_len;
        r->has_pos = false; /* from here the live position is pos_* */
        resume = false;
        r->dispatched++;
        r->dirty = true;
        *budget -= (int64_t)r->nds;
    }
}

static void replay_stop(replay *r)
{
    group_reset(r);
    tss_query_close(r->q);
    r->q = NULL;
    r->have_pending = false;
}

/* One read interval of a replay: up to rate * interval points. */
static void replay_step(tstore *t, replay *r, double interval_s)
{
    tss_store_info info;
    int64_t budget = (int64_t)ceil(r->rate * interval_s);
    int rc;

    if (r->done || !r->active)
        return;
    tss_store_info_get(t->s, &info);
    if (!r->q) {
        tss_filter f = {0};

        f.series_glob = r->series;
        f.has_from = r->has_from;
        f.from = r->from;
        f.has_to = r->has_to;
        f.to = r->to;
        if (tss_query_open(&r->q, t->s, &f) != 0) {
            complain(t, tss_error_last());
            return;
        }
        INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" running (%s, up to "
                        "%.0f points/s, to %s)",
             r->name, t->name, r->series, r->rate,
             r->target ? r->target : "all writers");
        if ((rc = next_group(t, r)) <= 0)
            goto end;
    }
    while (budget > 0) {
        dispatch_group(r, info.units_per_second, &budget);
        if (budget <= 0)
            break;
        if ((rc = next_group(t, r)) <= 0)
            goto end;
    }
    INFO(LOG_PREFIX "replay \"%s\": %" PRIu64 " values dispatched so far",
         r->name, r->dispatched);
    save_position(t, r);
    return;
end:
    if (rc < 0) {
        complain(t, tss_error_last());
        replay_stop(r); /* reopened from the saved position next time */
        r->has_pos = r->pos_len > 0;
        save_position(t, r);
        return;
    }
    r->done = true;
    r->active = false;
    r->dirty = true;
    replay_stop(r);
    save_position(t, r);
    INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" finished: %" PRIu64
                    " values dispatched",
         r->name, t->name, r->dispatched);
}

/* Times need the store's precision: parsed once the store is open. */
static int parse_times(tstore *t)
{
    tss_store_info info;

    tss_store_info_get(t->s, &info);
    for (size_t k = 0; k < t->nreplays; k++) {
        replay *r = &t->replays[k];
        char err[256];

        if (r->from_text) {
            if (cli_time_parse(r->from_text, info.units_per_second, true,
                               &r->from, err, sizeof(err)) != 0) {
                ERROR(LOG_PREFIX "<Replay \"%s\">: \"From\": %s", r->name, err);
                return -1;
            }
            r->has_from = true;
        }
        if (r->to_text) {
            if (cli_time_parse(r->to_text, info.units_per_second, false, &r->to,
                               err, sizeof(err)) != 0) {
                ERROR(LOG_PREFIX "<Replay \"%s\">: \"To\": %s", r->name, err);
                return -1;
            }
            r->has_to = true;
        }
        load_position(t, r);
    }
    return 0;
}

/* ---- callbacks ----------------------------------------------------------- */

static int ts_read(user_data_t *ud)
{
    ctx *c = ud->data;
    double interval_s = CDTIME_T_TO_DOUBLE(plugin_get_interval());

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nstores; i++) {
        tstore *t = &c->stores[i];
        bool fresh = !t->s;

        if (open_store(t) != 0)
            continue;
        if (fresh && parse_times(t) != 0) {
            for (size_t k = 0; k < t->nreplays; k++)
                t->replays[k].active = false;
        }
        health(t);
        if (t->missing)
            check_missing(t);
        for (size_t k = 0; k < t->nreplays; k++)
            replay_step(t, &t->replays[k], interval_s);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* A flush of this plugin (collectdctl flush plugin=tsstore) starts every
 * Trigger "flush" replay from its beginning. */
static int ts_flush(cdtime_t timeout, const char *identifier, user_data_t *ud)
{
    ctx *c = ud->data;

    (void)timeout;
    (void)identifier;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nstores; i++)
        for (size_t k = 0; k < c->stores[i].nreplays; k++) {
            replay *r = &c->stores[i].replays[k];

            if (!r->on_flush || r->active)
                continue;
            replay_stop(r);
            r->active = true;
            r->done = false;
            r->has_pos = false;
            r->pos_len = 0;
            r->dispatched = 0;
            INFO(LOG_PREFIX "replay \"%s\" started by a flush", r->name);
        }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void ctx_free(void *arg)
{
    ctx *c = arg;

    if (!c)
        return;
    for (size_t i = 0; i < c->nstores; i++) {
        tstore *t = &c->stores[i];

        for (size_t k = 0; k < t->nreplays; k++) {
            replay *r = &t->replays[k];

            if (t->s)
                save_position(t, r);
            replay_stop(r);
            free(r->name);
            free(r->series);
            free(r->target);
            free(r->from_text);
            free(r->to_text);
        }
        free(t->replays);
        for (size_t k = 0; k < t->nmiss; k++)
            free(t->miss[k].ident);
        free(t->miss);
        tss_store_close(t->s);
        free(t->name);
        free(t->data_dir);
    }
    free(c->stores);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- configuration ------------------------------------------------------ */

static int text_value(const oconfig_item_t *ci, char **out)
{
    char buf[128];

    if (ci->values_num != 1)
        return -1;
    if (ci->values[0].type == OCONFIG_TYPE_STRING)
        *out = strdup(ci->values[0].value.string);
    else if (ci->values[0].type == OCONFIG_TYPE_NUMBER) {
        snprintf(buf, sizeof(buf), "%.17g", ci->values[0].value.number);
        *out = strdup(buf);
    } else
        return -1;
    return *out ? 0 : -1;
}

static int conf_replay(const oconfig_item_t *ci, const char *store, replay *r)
{
    int bad = 0;

    memset(r, 0, sizeof(*r));
    r->rate = 1000;
    if (cf_util_get_string(ci, &r->name) != 0) {
        ERROR(LOG_PREFIX "<Store \"%s\">: <Replay> needs a name: "
                         "<Replay \"backfill\">",
              store);
        return -1;
    }
    for (int i = 0; i < ci->children_num; i++) {
        const oconfig_item_t *c = ci->children + i;

        if (strcasecmp(c->key, "Series") == 0)
            bad |= cf_util_get_string(c, &r->series) != 0;
        else if (strcasecmp(c->key, "From") == 0)
            bad |= text_value(c, &r->from_text) != 0;
        else if (strcasecmp(c->key, "To") == 0)
            bad |= text_value(c, &r->to_text) != 0;
        else if (strcasecmp(c->key, "Target") == 0)
            bad |= cf_util_get_string(c, &r->target) != 0;
        else if (strcasecmp(c->key, "Rate") == 0) {
            if (cf_util_get_double(c, &r->rate) != 0 || !(r->rate > 0)) {
                ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: \"Rate\" "
                                 "must be a positive number of points per "
                                 "second",
                      store, r->name);
                bad = 1;
            }
        } else if (strcasecmp(c->key, "Trigger") == 0) {
            char *trig = NULL;

            if (cf_util_get_string(c, &trig) != 0 ||
                (strcasecmp(trig, "start") != 0 &&
                 strcasecmp(trig, "flush") != 0)) {
                ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: "
                                 "\"Trigger\" is \"start\" or \"flush\"",
                      store, r->name);
                bad = 1;
            } else {
                r->on_flush = strcasecmp(trig, "flush") == 0;
            }
            free(trig);
        } else {
            ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: unknown option "
                             "\"%s\"",
                  store, r->name, c->key);
            bad = 1;
        }
    }
    if (!r->series) {
        ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: \"Series\" is "
                         "required (a pattern such as \"myhost/*\")",
              store, r->name);
        bad = 1;
    }
    r->active = !r->on_flush;
    return bad ? -1 : 0;
}

static int conf_store(const oconfig_item_t *ci, tstore *t)
{
    int bad = 0;

    memset(t, 0, sizeof(*t));
    if (cf_util_get_string(ci, &t->name) != 0 || !*t->name) {
        ERROR(LOG_PREFIX "<Store> needs a name: <Store \"main\">");
        return -1;
    }
    for (int i = 0; i < ci->children_num; i++) {
        const oconfig_item_t *c = ci->children + i;

        if (strcasecmp(c->key, "DataDir") == 0) {
            bad |= cf_util_get_string(c, &t->data_dir) != 0;
        } else if (strcasecmp(c->key, "Missing") == 0) {
            if (cf_util_get_int(c, &t->missing) != 0 || t->missing < 0) {
                ERROR(LOG_PREFIX "<Store \"%s\">: \"Missing\" is a number of "
                                 "intervals (0: off)",
                      t->name);
                bad = 1;
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
            ERROR(LOG_PREFIX "<Store \"%s\">: unknown option \"%s\"", t->name,
                  c->key);
            bad = 1;
        }
    }
    if (!t->data_dir) {
        ERROR(LOG_PREFIX "<Store \"%s\">: \"DataDir\" is required", t->name);
        bad = 1;
    }
    return bad ? -1 : 0;
}

static int ts_config(oconfig_item_t *ci)
{
    ctx *c = calloc(1, sizeof(*c));
    user_data_t ud = {0};
    int bad = 0;

    if (!c)
        return -1;
    pthread_mutex_init(&c->mu, NULL);
    for (int i = 0; i < ci->children_num; i++) {
        const oconfig_item_t *child = ci->children + i;
        tstore *ns;

        if (strcasecmp(child->key, "Store") != 0) {
            ERROR(LOG_PREFIX "unknown option \"%s\" (expected <Store>)",
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
        c->nstores++;
    }
    if (bad || c->nstores == 0) {
        if (!bad)
            ERROR(LOG_PREFIX "no <Store> block: nothing to read");
        ctx_free(c);
        return -1;
    }
    /* stores open at the first read (after collectd moved to its
     * BaseDir); check the time syntax now, the precision is applied then */
    for (size_t i = 0; i < c->nstores; i++)
        for (size_t k = 0; k < c->stores[i].nreplays; k++) {
            replay *r = &c->stores[i].replays[k];
            const char *txt[2] = {r->from_text, r->to_text};
            char err[256];
            int64_t v;

            for (int j = 0; j < 2; j++)
                if (txt[j] && cli_time_parse(txt[j], 1000, true, &v, err,
                                             sizeof(err)) != 0) {
                    ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: "
                                     "\"%s\": %s",
                          c->stores[i].name, r->name, j ? "To" : "From", err);
                    bad = 1;
                }
        }
    if (bad) {
        ctx_free(c);
        return -1;
    }
    INFO(LOG_PREFIX "version %s reading %zu store(s)", TSS_VERSION, c->nstores);
    ud.data = c;
    ud.free_func = NULL;
    plugin_register_complex_read(NULL, PLUGIN, ts_read, 0, &ud);
    ud.free_func = ctx_free; /* flush callbacks are destroyed last */
    plugin_register_flush(PLUGIN, ts_flush, &ud);
    return 0;
}

__attribute__((visibility("default"))) void module_register(void)
{
    plugin_register_complex_config(PLUGIN, ts_config);
}
