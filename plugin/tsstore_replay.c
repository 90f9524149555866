/*
 * tsstore read plugin: replay. Each <Replay> runs a query on its store and
 * dispatches the points, one identifier (a group: every data source of it)
 * at a time, into collectd's pipeline with their original times, tagged so
 * write_tsstore does not store them twice; the "tsstore/replay" callback
 * calls ts_replay_step every REPLAY_TICK_MS with what the Rate allows for
 * the time since its last run. Its position is kept in a file, so a
 * restart resumes it.
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
 */
#define _GNU_SOURCE
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "../tools/cli_time.h"
#include "tsstore/error.h"
#include "tsstore/mutation.h"
#include "tsstore/query.h"
#include "tsstore/store.h"
#include "tsstore_internal.h"

#define REPLAY_META "tsstore:replayed" /* write_tsstore skips these */
#define PROGRESS_EVERY_S 10 /* progress log lines of a running replay */
#define RETRY_MAX_S 300     /* the longest wait after failed writes */
#define MUT_CHECK_S 1       /* how often a running replay looks for deletes */

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

/* ---- replay: positions --------------------------------------------------- */

void ts_state_name(char *out, size_t size, const tstore *t, const replay *r)
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

size_t ts_format_position(char *out, size_t size, const replay *r)
{
    size_t n;

    n = (size_t)snprintf(out, size,
                         "tsstore-replay 2\nstate %s\ntime %" PRId64
                         "\ndispatched %" PRIu64 "\ngroup ",
                         state_text[r->state], r->pos_t, r->dispatched);
    n += put_hex(out + n, size - n, r->pos_group, r->pos_len);
    out[n++] = '\n';
    return n + definition(out + n, size - n, r);
}

void ts_save_position(tstore *t, replay *r)
{
    char name[300], buf[POS_FILE_MAX];
    size_t n;

    if (!r->dirty)
        return;
    ts_state_name(name, sizeof(name), t, r);
    n = ts_format_position(buf, sizeof(buf), r);
    if (tss_store_client_state_put(t->s, name, buf, n) != 0)
        ts_complain(t, tss_error_last());
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

int ts_parse_position(replay *r, const char *buf, bool *same_def)
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
int ts_load_position(tstore *t, replay *r)
{
    char name[300], buf[POS_FILE_MAX + 1];
    size_t len;
    bool same_def = true;
    int rc;

    ts_state_name(name, sizeof(name), t, r);
    position_reset(r, r->on_flush ? RS_IDLE : RS_RUNNING);
    r->dirty = false;
    rc = tss_store_client_state_get(t->s, name, buf, sizeof(buf) - 1, &len);
    if (rc == TSS_ENOTFOUND)
        return 0;
    if (rc != 0 && rc != TSS_EINVAL) {
        ts_complain(t, tss_error_last());
        return -1;
    }
    if (rc == 0) {
        buf[len] = '\0';
        if (memchr(buf, '\0', len) == NULL &&
            ts_parse_position(r, buf, &same_def) == 0) {
            if (!same_def) {
                NOTICE(LOG_PREFIX "replay \"%s\" of store \"%s\": Series, "
                                  "From, To or Target changed since its "
                                  "position was recorded (%s, %" PRIu64
                                  " values dispatched): starting over",
                       r->name, t->name, state_text[r->state], r->dispatched);
                position_reset(r, r->on_flush && r->state != RS_RUNNING
                                      ? RS_IDLE
                                      : RS_RUNNING);
                ts_save_position(t, r);
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
    ts_save_position(t, r);
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
            ts_complain(t, "replay: a stored type is not in this collectd's "
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

/* A failed write, rate-limited. collectd's plugin_write answers ENOENT
 * when no write callback is registered under Target: the usual cause is
 * a plugin name where the callback's name is needed (write_graphite
 * registers "write_graphite/<Node>", write_http "write_http/<Node>"). */
static void write_failed(tstore *t, const replay *r, int rc)
{
    char msg[768];

    snprintf(msg, sizeof(msg),
             "writing to \"%s\" failed (status %d%s); the same values are "
             "sent again after a while",
             r->target ? r->target : "all", rc,
             r->target && rc == ENOENT
                 ? ": no write callback registered under that name? Target "
                   "is the name a writer registers, e.g. "
                   "\"write_graphite/<Node>\", \"write_http/<Node>\", "
                   "\"csv\""
                 : "");
    ts_complain_replay(t, r, msg);
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
            memcpy(r->ds_pos, before, r->nds * sizeof(before[0]));
            write_failed(t, r, rc);
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
    ts_save_position(t, r); /* running: a restart resumes it */
    INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" started by a flush", r->name,
         t->name);
}

/* One run of the replay callback: dispatches what the rate allows for the
 * time since the last run (a token bucket of at most MAX_BURST_S). */
void ts_replay_step(tstore *t, replay *r, cdtime_t now, cdtime_t dflt)
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
    if (r->retry_at && now < r->retry_at)
        return; /* a failed write waits (the rate's credit does not grow) */
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
    if (r->q && now - r->mut_checked >= TIME_T_TO_CDTIME_T(MUT_CHECK_S)) {
        uint64_t token;

        /* A query sees the deletes visible when it opened; a delete
         * that became visible since must not be replayed: reopen at the
         * position (the group's buffered points are read again). */
        r->mut_checked = now;
        if (tss_store_change_token(t->s, &token) == 0 &&
            token != r->mut_token) {
            DEBUG(LOG_PREFIX "replay \"%s\" of store \"%s\": the store's "
                             "deletes changed; reopened at its position",
                  r->name, t->name);
            replay_stop(r);
            r->has_pos = r->pos_len > 0;
        }
    }
    if (!r->q) {
        tss_filter f = {0};

        f.series_glob = r->series;
        f.has_from = r->has_from;
        f.from = r->from;
        f.has_to = r->has_to;
        f.to = r->to;
        /* the token before the open: a document changed in between
         * makes the next check reopen once more, never miss a delete */
        if (tss_store_change_token(t->s, &r->mut_token) != 0) {
            ts_complain(t, tss_error_last());
            return;
        }
        r->mut_checked = now;
        if (tss_query_open(&r->q, t->s, &f) != 0) {
            ts_complain(t, tss_error_last());
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
        if (dispatch_group(t, r, info.units_per_second, &left) != 0) {
            /* the write failed: tried again after a read interval, twice
             * as long each time it fails again, up to RETRY_MAX_S */
            unsigned shift = r->failures < 16 ? r->failures : 16;
            cdtime_t base = dflt ? dflt : TIME_T_TO_CDTIME_T(10);
            cdtime_t wait = base << shift;

            if (wait > TIME_T_TO_CDTIME_T(RETRY_MAX_S) || wait < base)
                wait = TIME_T_TO_CDTIME_T(RETRY_MAX_S);
            r->failures++;
            r->retry_at = now + wait;
            r->last_tick = 0;
            break;
        }
        r->failures = 0;
        r->retry_at = 0;
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
    ts_save_position(t, r);
    return;
end:
    r->credit -= (double)(budget - left);
    if (rc < 0) {
        ts_complain(t, tss_error_last());
        replay_stop(r); /* reopened from the saved position next time */
        r->has_pos = r->pos_len > 0;
        ts_save_position(t, r);
        return;
    }
    r->state = RS_DONE;
    r->dirty = true;
    r->credit = 0;
    r->last_tick = 0;
    r->last_progress = 0;
    replay_stop(r);
    ts_save_position(t, r);
    INFO(LOG_PREFIX "replay \"%s\" of store \"%s\" finished: %" PRIu64
                    " values dispatched",
         r->name, t->name, r->dispatched);
}

/* Times need the store's precision: parsed once the store is open. */
void ts_parse_times(tstore *t)
{
    tss_store_info info;

    tss_store_info_get(t->s, &info);
    for (size_t k = 0; k < t->nreplays; k++) {
        replay *r = &t->replays[k];
        const char *txt[2] = {r->from_text, r->to_text};
        int64_t *val[2] = {&r->from, &r->to};
        bool *has[2] = {&r->has_from, &r->has_to};
        char err[256];

        r->broken = false; /* a store opened again may have another
                              precision */

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
        /* the configuration refused From after To; a difference finer
         * than the store's precision shows only now (never a query that
         * fails every run) */
        if (!r->broken && r->has_from && r->has_to && r->from > r->to) {
            ERROR(LOG_PREFIX "<Store \"%s\"> <Replay \"%s\">: \"From\" is "
                             "after \"To\" at the store's precision (%s, "
                             "%s); the replay does not run",
                  t->name, r->name, r->from_text, r->to_text);
            r->broken = true;
        }
    }
}

void ts_replay_detach(replay *r)
{
    replay_stop(r);
    r->loaded = false;
    r->dirty = false;
}

void ts_replay_free(replay *r)
{
    replay_stop(r);
    free(r->name);
    free(r->series);
    free(r->target);
    free(r->from_text);
    free(r->to_text);
}
