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
 * Replay position file, DataDir/replay/<store>-<replay> (text, replaced
 * atomically by tss_store_client_state_put):
 *
 *     tsstore-replay 2
 *     state idle|running|done
 *     time <last time dispatched, store units>
 *     dispatched <value lists dispatched>
 *     group <hex of the identifier dispatched last, fields NUL-joined>|-
 *     series <hex of Series>
 *     from <store units>|-
 *     to <store units>|-
 *     target <hex of Target>|-      ("-": all writers)
 *
 *  1. The lines from "series" on are the replay's definition. When they
 *     differ from the configuration (Series, From, To or Target edited),
 *     the position is discarded and the replay starts over.
 *  2. "running" replays resume after a restart whatever their Trigger;
 *     "done" ones stay done; "idle" ones (Trigger "flush", never started
 *     or finished and restarted by nothing) wait for a flush.
 *  3. The file is written after each slice that dispatched something, so
 *     a crash replays at most one slice twice, never skips one.
 *
 * Version 1 files ("<done> <time> <dispatched> <hex group>") hold no
 * definition: they are taken as matching, and written as version 2 the
 * next time the position moves.
 *
 * State lives in user_data: the flush callback owns it (collectd destroys
 * flush callbacks last, after the read threads stopped); the two read
 * callbacks share it.
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
/* How often the replay callback runs: each run dispatches Rate x the time
 * elapsed since the last one (at most MAX_BURST_S worth). */
#define REPLAY_TICK_MS 100
#define MAX_BURST_S 1.0
#define PROGRESS_EVERY_S 10 /* progress log lines of a running replay */
#define SERIES_MAX 1024     /* bytes of a Series pattern */
#define MAX_DS 16           /* data sources of a type we replay */

typedef struct pt_list {
    tss_point *pts;
    size_t n;
} pt_list;

/* A group: the identifier host/plugin/pinst/type/tinst as its five
 * fields joined by NUL (the order of the store's keys), plus its length. */
#define GROUP_MAX (5 * 256)

enum { RS_IDLE, RS_RUNNING, RS_DONE };

typedef struct replay {
    char *name, *series, *target; /* target NULL: all writers */
    bool has_from, has_to, on_flush;
    int64_t from, to; /* store units, set when the store is first open */
    char *from_text, *to_text;
    double rate; /* points per second */
    /* runtime */
    int state;            /* RS_* */
    bool broken;          /* From/To do not fit the store: never runs */
    bool loaded;          /* its position is read */
    bool flush_requested; /* by ts_flush; applied in the replay callback */
    double credit;        /* points the rate allows now */
    cdtime_t last_tick, last_progress;
    tss_query *q;
    tss_series_info pending; /* first series of the next group */
    bool have_pending;
    char group[GROUP_MAX];
    size_t group_len;
    char fields[5][256];
    pt_list ds_pts[MAX_DS]; /* the group's points, per data source */
    size_t ds_pos[MAX_DS], nds;
    const data_set_t *ds;
    cdtime_t group_interval; /* the spacing of the group's points */
    int64_t pos_t;           /* last time dispatched in pos_group */
    char pos_group[GROUP_MAX];
    size_t pos_len;
    bool has_pos; /* a restored position not yet passed */
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
    cdtime_t interval;  /* the plugin's read interval */
    pthread_mutex_t mu; /* read, replay and flush callbacks */
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

/* ---- replay: positions --------------------------------------------------- */

static void state_name(char *out, size_t size, const tstore *t, const replay *r)
{
    snprintf(out, size, "%s-%s", t->name, r->name);
    for (char *p = out; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
            *p = '_';
}

static const char *const state_text[] = {"idle", "running", "done"};

/* Appends the hex of buf[len], or "-" when there is nothing. */
static size_t put_hex(char *out, size_t size, const char *buf, size_t len)
{
    size_t n = 0;

    if (!buf || !len)
        return (size_t)snprintf(out, size, "-");
    for (size_t i = 0; i < len && n + 3 <= size; i++)
        n += (size_t)snprintf(out + n, size - n, "%02x", (unsigned char)buf[i]);
    return n;
}

/* Decodes hex (ending at a blank or NUL) into out[size]; returns the
 * length, or -1 if it is not hex or does not fit. "-" is empty. */
static long get_hex(const char *hex, char *out, size_t size)
{
    size_t n = 0;

    if (hex[0] == '-' && (!hex[1] || isspace((unsigned char)hex[1])))
        return 0;
    while (isxdigit((unsigned char)hex[0]) && isxdigit((unsigned char)hex[1])) {
        unsigned v;

        if (n == size || sscanf(hex, "%2x", &v) != 1)
            return -1;
        out[n++] = (char)v;
        hex += 2;
    }
    return *hex && !isspace((unsigned char)*hex) ? -1 : (long)n;
}

/* The definition part of the position file (invariant 1). */
static size_t definition(char *out, size_t size, const replay *r)
{
    const char *target = r->target;
    size_t n;

    n = (size_t)snprintf(out, size, "series ");
    n += put_hex(out + n, size - n, r->series, strlen(r->series));
    n += (size_t)snprintf(out + n, size - n, "\nfrom ");
    n += (size_t)(r->has_from ? snprintf(out + n, size - n, "%" PRId64, r->from)
                              : snprintf(out + n, size - n, "-"));
    n += (size_t)snprintf(out + n, size - n, "\nto ");
    n += (size_t)(r->has_to ? snprintf(out + n, size - n, "%" PRId64, r->to)
                            : snprintf(out + n, size - n, "-"));
    n += (size_t)snprintf(out + n, size - n, "\ntarget ");
    n += put_hex(out + n, size - n, target, target ? strlen(target) : 0);
    n += (size_t)snprintf(out + n, size - n, "\n");
    return n;
}

#define POS_FILE_MAX (256 + 2 * GROUP_MAX + 2 * SERIES_MAX + 2 * 256)

static void save_position(tstore *t, replay *r)
{
    char name[300], buf[POS_FILE_MAX];
    size_t n;

    if (!r->dirty)
        return;
    state_name(name, sizeof(name), t, r);
    n = (size_t)snprintf(buf, sizeof(buf),
                         "tsstore-replay 2\nstate %s\ntime %" PRId64
                         "\ndispatched %" PRIu64 "\ngroup ",
                         state_text[r->state], r->pos_t, r->dispatched);
    n += put_hex(buf + n, sizeof(buf) - n, r->pos_group, r->pos_len);
    buf[n++] = '\n';
    n += definition(buf + n, sizeof(buf) - n, r);
    if (tss_store_client_state_put(t->s, name, buf, n) != 0)
        complain(t, tss_error_last());
    else
        r->dirty = false;
}

static void position_reset(replay *r, int state)
{
    r->state = state;
    r->has_pos = false;
    r->pos_len = 0;
    r->pos_t = 0;
    r->dispatched = 0;
    r->credit = 0;
    r->last_tick = 0;
    r->dirty = true;
}

/* Parses a position file into r; returns 0, or -1 if it is not one. Sets
 * *same_def when its definition matches the configuration. */
static int parse_position(replay *r, char *buf, bool *same_def)
{
    char def[POS_FILE_MAX];
    const char *p;
    long long t;
    unsigned long long disp;
    int done, consumed = 0;
    long glen;

    if (isdigit((unsigned char)buf[0])) { /* version 1 */
        if (sscanf(buf, "%d %lld %llu %n", &done, &t, &disp, &consumed) < 3 ||
            (glen = get_hex(buf + consumed, r->pos_group, GROUP_MAX)) < 0)
            return -1;
        r->state = done ? RS_DONE : RS_RUNNING;
        *same_def = true;
    } else {
        char st[16];

        if (sscanf(buf,
                   "tsstore-replay 2\nstate %15s\ntime %lld\ndispatched "
                   "%llu\ngroup %n",
                   st, &t, &disp, &consumed) != 3 ||
            !consumed ||
            (glen = get_hex(buf + consumed, r->pos_group, GROUP_MAX)) < 0 ||
            !(p = strstr(buf + consumed, "\nseries ")))
            return -1;
        for (r->state = RS_IDLE; r->state <= RS_DONE; r->state++)
            if (strcmp(st, state_text[r->state]) == 0)
                break;
        if (r->state > RS_DONE)
            return -1;
        definition(def, sizeof(def), r);
        *same_def = strcmp(p + 1, def) == 0;
    }
    r->pos_t = t;
    r->dispatched = disp;
    r->pos_len = (size_t)glen;
    r->has_pos = r->pos_len > 0;
    return 0;
}

/* Loads the position of a replay once its store is open and From/To are
 * in store units; without one, a replay starts (Trigger "start") or
 * waits for a flush. Returns 0, or -1 when the file cannot be read now
 * (retried on the next run: starting over could replay twice). */
static int load_position(tstore *t, replay *r)
{
    char name[300], buf[POS_FILE_MAX + 1];
    size_t len;
    bool same_def = true;
    int rc;

    state_name(name, sizeof(name), t, r);
    position_reset(r, r->on_flush ? RS_IDLE : RS_RUNNING);
    r->dirty = false;
    rc = tss_store_client_state_get(t->s, name, buf, sizeof(buf) - 1, &len);
    if (rc == TSS_ENOTFOUND)
        return 0;
    if (rc != 0 && rc != TSS_EINVAL) {
        complain(t, tss_error_last());
        return -1;
    }
    if (rc == 0) {
        buf[len] = '\0';
        if (memchr(buf, '\0', len) == NULL &&
            parse_position(r, buf, &same_def) == 0) {
            if (!same_def) {
                NOTICE(LOG_PREFIX "replay \"%s\" of store \"%s\": Series, "
                                  "From, To or Target changed since its "
                                  "position was recorded (%s, %" PRIu64
                                  " values dispatched): starting over",
                       r->name, t->name, state_text[r->state], r->dispatched);
                position_reset(r, r->on_flush && r->state != RS_RUNNING
                                      ? RS_IDLE
                                      : RS_RUNNING);
                save_position(t, r);
            } else if (r->state != RS_IDLE) {
                INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" %s (%" PRIu64
                                " values so far)",
                     r->name, t->name,
                     r->state == RS_DONE ? "is finished"
                                         : "resumes where it stopped",
                     r->dispatched);
            }
            return 0;
        }
    }
    ERROR(LOG_PREFIX "replay \"%s\" of store \"%s\": replay/%s is not a "
                     "position file: starting over",
          r->name, t->name, name);
    position_reset(r, r->on_flush ? RS_IDLE : RS_RUNNING);
    save_position(t, r);
    return 0;
}

/* ---- replay: dispatching ------------------------------------------------- */

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

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The interval of the replayed values: the median spacing of the group's
 * points (write plugins such as rrdtool and write_prometheus use it), or
 * the plugin's interval when a data source has fewer than two points. */
static cdtime_t group_interval(const replay *r, uint32_t ups, cdtime_t dflt)
{
    const pt_list *l = NULL;
    int64_t *d, med;

    for (size_t k = 0; k < r->nds && !l; k++)
        if (r->ds_pts[k].n >= 2)
            l = &r->ds_pts[k];
    if (!l || !(d = malloc((l->n - 1) * sizeof(*d))))
        return dflt;
    for (size_t i = 1; i < l->n; i++)
        d[i - 1] = l->pts[i].t - l->pts[i - 1].t;
    qsort(d, l->n - 1, sizeof(*d), cmp_i64);
    med = d[(l->n - 1) / 2];
    free(d);
    return med > 0 ? units_to_cdtime(med, ups) : dflt;
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
        if (!ds || ds->ds_num > MAX_DS) {
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
            return TSS_ENOMEM;
        memcpy(r->ds_pts[k].pts, pts, n * sizeof(*pts));
        r->ds_pts[k].n = n;
    }
}

/* Sends one value list where the replay is configured to. Returns 0 or
 * the write plugin's error. */
static int send_values(const replay *r, value_list_t *vl)
{
    meta_data_t *md = meta_data_create();
    int rc;

    /* without the tag write_tsstore would store the values again: no
     * meta data, no dispatch */
    if (!md || meta_data_add_boolean(md, REPLAY_META, true) != 0) {
        meta_data_destroy(md);
        return ENOMEM;
    }
    vl->meta = md;
    if (r->target)
        rc = plugin_write(r->target, r->ds, vl);
    else
        rc = plugin_dispatch_values(vl);
    meta_data_destroy(md);
    vl->meta = NULL;
    return rc;
}

/* Dispatches the current group's value lists while *budget lasts. Only
 * times at which every data source of the type has a value make a value
 * list (collectd cannot dispatch half of one). Returns 0 when the budget
 * is spent or the group done, or the error of a failed write (the value
 * list is not counted as dispatched and is sent again next time). */
static int dispatch_group(tstore *t, replay *r, uint32_t ups, int64_t *budget)
{
    bool resume = r->has_pos && key_cmp(r->group, r->group_len, r->pos_group,
                                        r->pos_len) == 0;

    while (*budget > 0) {
        value_list_t vl = VALUE_LIST_INIT;
        value_t values[MAX_DS];
        size_t before[MAX_DS];
        int64_t tmin = INT64_MAX;
        bool complete = true;
        int rc;

        for (size_t k = 0; k < r->nds; k++)
            if (r->ds_pos[k] < r->ds_pts[k].n &&
                r->ds_pts[k].pts[r->ds_pos[k]].t < tmin)
                tmin = r->ds_pts[k].pts[r->ds_pos[k]].t;
        if (tmin == INT64_MAX)
            return 0; /* the group is done */
        memcpy(before, r->ds_pos, r->nds * sizeof(before[0]));
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
        vl.interval = r->group_interval;
        if ((rc = send_values(r, &vl)) != 0) {
            char msg[300];

            memcpy(r->ds_pos, before, r->nds * sizeof(before[0]));
            snprintf(msg, sizeof(msg),
                     "replay \"%s\": writing to \"%s\" failed (status "
                     "%d); the same values are sent again",
                     r->name, r->target ? r->target : "all", rc);
            complain(t, msg);
            return rc;
        }
        r->pos_t = tmin;
        memcpy(r->pos_group, r->group, r->group_len);
        r->pos_len = r->group_len;
        r->has_pos = false; /* from here the live position is pos_* */
        resume = false;
        r->dispatched++;
        r->dirty = true;
        *budget -= (int64_t)r->nds;
    }
    return 0;
}

static void replay_stop(replay *r)
{
    group_reset(r);
    tss_query_close(r->q);
    r->q = NULL;
    r->have_pending = false;
}

static void replay_start(tstore *t, replay *r)
{
    replay_stop(r);
    position_reset(r, RS_RUNNING);
    save_position(t, r); /* running: a restart resumes it */
    INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" started by a flush", r->name,
         t->name);
}

/* One run of the replay callback: dispatches what the rate allows for the
 * time since the last run (a token bucket of at most MAX_BURST_S). */
static void replay_step(tstore *t, replay *r, cdtime_t now, cdtime_t dflt)
{
    tss_store_info info;
    double elapsed;
    int64_t budget, left;
    int rc;

    if (r->broken)
        return;
    if (r->flush_requested) {
        r->flush_requested = false;
        if (r->state == RS_RUNNING)
            INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" is running: "
                            "flush ignored",
                 r->name, t->name);
        else
            replay_start(t, r);
    }
    if (r->state != RS_RUNNING)
        return;
    elapsed = r->last_tick ? (double)CDTIME_T_TO_US(now - r->last_tick) / 1e6
                           : REPLAY_TICK_MS / 1000.0;
    r->last_tick = now;
    r->credit += r->rate * (elapsed < MAX_BURST_S ? elapsed : MAX_BURST_S);
    if (r->credit > r->rate * MAX_BURST_S)
        r->credit = r->rate * MAX_BURST_S;
    /* the epsilon: 0.1 s x 10/s is 1, not 0.999... */
    left = budget = (int64_t)(r->credit + 1e-6);
    if (budget < 1)
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
        if (!r->last_progress)
            INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" running (%s, up "
                            "to %.0f points/s, to %s)",
                 r->name, t->name, r->series, r->rate,
                 r->target ? r->target : "all writers");
        r->last_progress = now;
        if ((rc = next_group(t, r)) <= 0)
            goto end;
        r->group_interval = group_interval(r, info.units_per_second, dflt);
    }
    while (left > 0) {
        if (dispatch_group(t, r, info.units_per_second, &left) != 0)
            break; /* the write failed: retried on the next run */
        if (left <= 0)
            break;
        if ((rc = next_group(t, r)) <= 0)
            goto end;
        r->group_interval = group_interval(r, info.units_per_second, dflt);
    }
    r->credit -= (double)(budget - left);
    if (now - r->last_progress >= TIME_T_TO_CDTIME_T(PROGRESS_EVERY_S)) {
        r->last_progress = now;
        INFO(LOG_PREFIX "replay \"%s\" of store \"%s\": %" PRIu64
                        " values dispatched so far",
             r->name, t->name, r->dispatched);
    }
    save_position(t, r);
    return;
end:
    r->credit -= (double)(budget - left);
    if (rc < 0) {
        complain(t, tss_error_last());
        replay_stop(r); /* reopened from the saved position next time */
        r->has_pos = r->pos_len > 0;
        save_position(t, r);
        return;
    }
    r->state = RS_DONE;
    r->dirty = true;
    r->credit = 0;
    r->last_tick = 0;
    r->last_progress = 0;
    replay_stop(r);
    save_position(t, r);
    INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" finished: %" PRIu64
                    " values dispatched",
         r->name, t->name, r->dispatched);
}

/* Times need the store's precision: parsed once the store is open. */
static void parse_times(tstore *t)
{
    tss_store_info info;

    tss_store_info_get(t->s, &info);
    for (size_t k = 0; k < t->nreplays; k++) {
        replay *r = &t->replays[k];
        const char *txt[2] = {r->from_text, r->to_text};
        int64_t *val[2] = {&r->from, &r->to};
        bool *has[2] = {&r->has_from, &r->has_to};
        char err[256];

        for (int j = 0; j < 2; j++) {
            if (!txt[j])
                continue;
            if (cli_time_parse(txt[j], info.units_per_second, j == 0, val[j],
                               err, sizeof(err)) != 0) {
                ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: \"%s\": "
                                 "%s; the replay does not run",
                      t->name, r->name, j ? "To" : "From", err);
                r->broken = true;
            }
            *has[j] = true;
        }
    }
}

/* ---- callbacks ----------------------------------------------------------- */

/* Opens the store if it is not; on the first open, puts From/To in the
 * store's units and loads the replay positions (retried until read). */
static int store_ready(tstore *t)
{
    bool fresh = !t->s;

    if (open_store(t) != 0)
        return -1;
    if (fresh)
        parse_times(t);
    for (size_t k = 0; k < t->nreplays; k++)
        if (!t->replays[k].loaded && !t->replays[k].broken &&
            load_position(t, &t->replays[k]) == 0)
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

        if (!t->nreplays || store_ready(t) != 0)
            continue;
        for (size_t k = 0; k < t->nreplays; k++)
            if (t->replays[k].loaded)
                replay_step(t, &t->replays[k], now, c->interval);
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

static void replay_free(replay *r)
{
    replay_stop(r);
    free(r->name);
    free(r->series);
    free(r->target);
    free(r->from_text);
    free(r->to_text);
}

static void store_free(tstore *t)
{
    for (size_t k = 0; k < t->nreplays; k++) {
        if (t->s)
            save_position(t, &t->replays[k]);
        replay_free(&t->replays[k]);
    }
    free(t->replays);
    for (size_t k = 0; k < t->nmiss; k++)
        free(t->miss[k].ident);
    free(t->miss);
    tss_store_close(t->s);
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

            state_name(a, sizeof(a), t, &t->replays[k]);
            for (size_t j = 0; j <= i; j++)
                for (size_t l = 0; l < (j == i ? k : c->stores[j].nreplays);
                     l++) {
                    state_name(b, sizeof(b), &c->stores[j],
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
        return -1;
    }
    INFO(LOG_PREFIX "version %s reading %zu store(s)", TSS_VERSION, c->nstores);
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

__attribute__((visibility("default"))) void module_register(void)
{
    plugin_register_complex_config(PLUGIN, ts_config);
}
