/*
 * loadgen — a collectd read plugin that generates load for the comparison
 * benchmark (bench/compare/run): it dispatches `Series` value lists of one
 * value each, every interval, with the shapes of real collectd series.
 *
 *   LoadPlugin loadgen
 *   <Plugin loadgen>
 *     Series 10000        # value lists (= values) per round
 *     SeriesPerHost 100   # series i belongs to host "lg<i / SeriesPerHost>"
 *     Interval 1          # seconds between rounds (default: collectd's)
 *     Rounds 0            # stop after this many rounds; 0: never stop
 *     StartFile "/path"   # dispatch nothing until this file exists
 *     PauseAfter 0        # after this many rounds (the warm-up), wait
 *     ResumeFile "/path"  #   until this file exists
 *     Burst false         # true: dispatch the rounds after the pause (all
 *                         #   rounds without one) at once, back to back,
 *                         #   times Step apart from now + Step on
 *     Step 10             # Burst: seconds between two rounds' times
 *     TimeStep 0          # > 0: round k is timed first round + k * TimeStep
 *                         #   (not the wall clock), so that rounds paced at
 *                         #   a short Interval still reach the writers as
 *                         #   series reporting every TimeStep seconds
 *     QueueFile "/path"   # count the values of ours that the writer has
 *                         #   written (a write callback registered at init,
 *                         #   after the writer's: called once the writer's
 *                         #   returned) and
 *                         #   append "<wall time> <dispatched> <taken>
 *                         #   <collectd's queue_length>" to this file before
 *                         #   each round (at most every 50 ms): dispatched
 *                         #   - taken is our part of collectd's write queue
 *                         #   (plus the few values being written);
 *                         #   the last column is the last
 *                         #   collectd/write_queue/queue_length value seen
 *                         #   (CollectInternalStats true), -1 before any
 *     Decimals -1         # noisy gauges rounded to this many decimals;
 *                         #   -1: full precision
 *     Seed 20240601
 *     ReplayDir "/path"   # replay a collectd csv plugin tree instead of
 *                         #   generating series (see below)
 *     Copies 1            # ReplayDir: replicas, hosts "<host>-<copy>"
 *     StatusFile "/path"  # written after the last round (JSON): rounds,
 *                         #   values, when the rounds after the pause began
 *                         #   (epoch seconds), seconds spent dispatching
 *                         #   them, when the last round ended
 *   </Plugin>
 *
 * After every round it dispatches the gauge loadgen/loadgen/gauge-marker
 * with the number of rounds dispatched so far: the value cache shows it
 * (unixsock GETVAL) once a write thread has taken it, i.e. once the values
 * queued before it have been handed to the writers (with one write thread;
 * with several, all but the last few).
 *
 * ReplayDir: every csv file under the tree (<host>/<plugin>[-<pinst>]/
 * <type>[-<tinst>]-YYYY-MM-DD, as the csv plugin writes them; one day
 * each, no joining) becomes one value list with the type's data sources
 * (types.db); round k dispatches each file's k-th line (wrapping around),
 * `Copies` times. Times are the round's time plus the line's own jitter
 * (its offset from a 1 s grid through the file's first time: collectd's
 * read loop jitter on the real data), so the real values and timing
 * shapes reach the writer at any interval.
 *
 * Shapes: shapes.h (the mix of bench/bench_data.c's synthetic set). Types
 * (types.db): gauge, derive, counter; one data source "value". 5% of the
 * values are 1..3 ms late, as collectd's read loop is on real data.
 */
#define _GNU_SOURCE
#include "collectd.h"

#include "plugin.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>

#include "shapes.h"

#define PLUGIN "loadgen"

static struct {
    uint64_t series, per_host, rounds, seed, pause_after;
    double interval, step;
    int decimals;
    bool burst;
    char *start_file, *resume_file, *status_file, *replay_dir;
    uint64_t copies;
    double time_step;
    char *queue_file;
} conf = {10000, 100,  0,    20240601, 0,    0, 10, -1,
          false, NULL, NULL, NULL,     NULL, 1, 0,  NULL};

/* QueueFile: values (and markers) we dispatched, and those the write
 * threads took; collectd's own queue_length (internal stats) */
static uint64_t q_dispatched, q_taken;
static double q_internal = -1, q_last_line;
static FILE *q_file;
static cdtime_t time_first;

/* ReplayDir: one csv file */
typedef struct rp_file {
    char host[DATA_MAX_NAME_LEN], plugin[DATA_MAX_NAME_LEN],
        plugin_instance[DATA_MAX_NAME_LEN], type[DATA_MAX_NAME_LEN],
        type_instance[DATA_MAX_NAME_LEN];
    size_t nds, nrows;
    value_t *values; /* nrows * nds */
    int64_t *jitter; /* ms, per row */
} rp_file;

static rp_file *rp;
static size_t nrp, values_per_round;

static lg_series *series;
static uint64_t done_rounds;
static bool finished;
/* the phase after the pause (or the whole run): wall clock */
static double phase_start, phase_seconds, end_time;

static void marker(cdtime_t t, cdtime_t interval)
{
    value_list_t vl = VALUE_LIST_INIT;
    value_t v = {.gauge = (gauge_t)done_rounds};

    vl.values = &v;
    vl.values_len = 1;
    vl.time = t;
    vl.interval = interval;
    snprintf(vl.host, sizeof(vl.host), "loadgen");
    snprintf(vl.plugin, sizeof(vl.plugin), PLUGIN);
    snprintf(vl.type, sizeof(vl.type), "gauge");
    snprintf(vl.type_instance, sizeof(vl.type_instance), "marker");
    plugin_dispatch_values(&vl);
    __atomic_add_fetch(&q_dispatched, 1, __ATOMIC_RELAXED);
}

static void replay_round(cdtime_t t, cdtime_t interval)
{
    value_list_t vl = VALUE_LIST_INIT;

    vl.interval = interval;
    for (uint64_t c = 0; c < conf.copies; c++)
        for (size_t i = 0; i < nrp; i++) {
            rp_file *f = &rp[i];
            size_t k = done_rounds % f->nrows;
            int64_t j = f->jitter[k];

            vl.values = f->values + k * f->nds;
            vl.values_len = f->nds;
            vl.time = j >= 0 ? t + MS_TO_CDTIME_T(j) : t - MS_TO_CDTIME_T(-j);
            snprintf(vl.host, sizeof(vl.host), "%.100s-%" PRIu64, f->host, c);
            memcpy(vl.plugin, f->plugin, sizeof(vl.plugin));
            memcpy(vl.plugin_instance, f->plugin_instance,
                   sizeof(vl.plugin_instance));
            memcpy(vl.type, f->type, sizeof(vl.type));
            memcpy(vl.type_instance, f->type_instance,
                   sizeof(vl.type_instance));
            plugin_dispatch_values(&vl);
            __atomic_add_fetch(&q_dispatched, 1, __ATOMIC_RELAXED);
        }
    done_rounds++;
    marker(t, interval);
}

/* One round: every series once, at time t. */
static void dispatch_round(cdtime_t t, cdtime_t interval, double secs)
{
    value_list_t vl = VALUE_LIST_INIT;
    value_t v;
    lg_value x;

    if (rp) {
        replay_round(t, interval);
        return;
    }
    vl.values = &v;
    vl.values_len = 1;
    vl.interval = interval;
    snprintf(vl.plugin, sizeof(vl.plugin), PLUGIN);
    for (uint64_t i = 0; i < conf.series; i++) {
        lg_series *s = &series[i];

        x = next_value(s, done_rounds, secs, conf.decimals);
        if (x.kind == SHAPE_GAUGE)
            v.gauge = x.g;
        else if (x.kind == SHAPE_DERIVE)
            v.derive = x.d;
        else
            v.counter = x.c;
        vl.time = t;
        if (unif() < 0.05)
            vl.time += MS_TO_CDTIME_T(1 + rnd() % 3);
        snprintf(vl.host, sizeof(vl.host), "lg%05" PRIu64, i / conf.per_host);
        snprintf(vl.plugin_instance, sizeof(vl.plugin_instance), "%s",
                 SHAPES[s->shape].name);
        snprintf(vl.type, sizeof(vl.type), "%s", SHAPES[s->shape].type);
        snprintf(vl.type_instance, sizeof(vl.type_instance), "%" PRIu64, i);
        plugin_dispatch_values(&vl);
        __atomic_add_fetch(&q_dispatched, 1, __ATOMIC_RELAXED);
    }
    done_rounds++;
    marker(t, interval);
}

static void write_status(void)
{
    FILE *f;
    char tmp[4096];

    if (!conf.status_file)
        return;
    snprintf(tmp, sizeof(tmp), "%s.tmp", conf.status_file);
    if (!(f = fopen(tmp, "w"))) {
        ERROR(PLUGIN ": cannot write %s", tmp);
        return;
    }
    fprintf(f,
            "{\"rounds\": %" PRIu64 ", \"values\": %" PRIu64
            ", \"phase_start\": %.6f, \"phase_seconds\": %.6f"
            ", \"end_time\": %.6f, \"dispatched\": %" PRIu64
            ", \"taken\": %" PRIu64 "}\n",
            done_rounds, done_rounds * values_per_round, phase_start,
            phase_seconds, end_time,
            __atomic_load_n(&q_dispatched, __ATOMIC_RELAXED),
            __atomic_load_n(&q_taken, __ATOMIC_RELAXED));
    fclose(f);
    rename(tmp, conf.status_file);
}

/* QueueFile: one line before a round, at most every 50 ms */
static void queue_line(cdtime_t now)
{
    double t = CDTIME_T_TO_DOUBLE(now), internal;

    if (!q_file || t - q_last_line < 0.05)
        return;
    q_last_line = t;
    __atomic_load(&q_internal, &internal, __ATOMIC_RELAXED);
    fprintf(q_file, "%.6f %" PRIu64 " %" PRIu64 " %.0f\n", t,
            __atomic_load_n(&q_dispatched, __ATOMIC_RELAXED),
            __atomic_load_n(&q_taken, __ATOMIC_RELAXED), internal);
    fflush(q_file);
}

/* QueueFile: a write callback, registered before the writer's (LoadPlugin
 * order): sees every value list when a write thread takes it */
static int lg_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud)
{
    (void)ds;
    (void)ud;
    if (strcmp(vl->plugin, PLUGIN) == 0) {
        __atomic_add_fetch(&q_taken, 1, __ATOMIC_RELAXED);
    } else if (strcmp(vl->plugin, "collectd") == 0 &&
               strcmp(vl->plugin_instance, "write_queue") == 0 &&
               strcmp(vl->type, "queue_length") == 0 && vl->values_len == 1) {
        double g = vl->values[0].gauge;
        __atomic_store(&q_internal, &g, __ATOMIC_RELAXED);
    }
    return 0;
}

static int lg_read(user_data_t *ud)
{
    cdtime_t start, interval;
    bool after_pause = conf.pause_after && done_rounds >= conf.pause_after;

    (void)ud;
    if (finished)
        return 0;
    if (conf.start_file && access(conf.start_file, F_OK) != 0)
        return 0;
    if (conf.pause_after && done_rounds == conf.pause_after &&
        conf.resume_file && access(conf.resume_file, F_OK) != 0)
        return 0;
    start = cdtime();
    if (done_rounds == conf.pause_after)
        phase_start = CDTIME_T_TO_DOUBLE(start);
    if (done_rounds == 0)
        time_first = start;
    queue_line(start);
    if (conf.burst && (after_pause || !conf.pause_after)) {
        uint64_t n = conf.rounds > done_rounds ? conf.rounds - done_rounds : 1;
        cdtime_t step = DOUBLE_TO_CDTIME_T(conf.step);

        for (uint64_t k = 0; k < n; k++)
            dispatch_round(start + (k + 1) * step, step, conf.step);
    } else if (conf.time_step > 0) {
        interval = DOUBLE_TO_CDTIME_T(conf.time_step);
        dispatch_round(time_first + done_rounds * interval, interval,
                       conf.time_step);
    } else {
        interval = conf.interval > 0 ? DOUBLE_TO_CDTIME_T(conf.interval)
                                     : plugin_get_interval();
        dispatch_round(start, interval, CDTIME_T_TO_DOUBLE(interval));
    }
    end_time = CDTIME_T_TO_DOUBLE(cdtime());
    if (done_rounds > conf.pause_after)
        phase_seconds += end_time - CDTIME_T_TO_DOUBLE(start);
    if (conf.rounds && done_rounds >= conf.rounds) {
        finished = true;
        queue_line(cdtime());
        write_status();
    }
    return 0;
}

static int get_number(oconfig_item_t *c, double *out)
{
    if (c->values_num != 1 || c->values[0].type != OCONFIG_TYPE_NUMBER) {
        ERROR(PLUGIN ": option \"%s\" needs one number", c->key);
        return -1;
    }
    *out = c->values[0].value.number;
    return 0;
}

static int get_string(oconfig_item_t *c, char **out)
{
    if (c->values_num != 1 || c->values[0].type != OCONFIG_TYPE_STRING) {
        ERROR(PLUGIN ": option \"%s\" needs one string", c->key);
        return -1;
    }
    free(*out);
    *out = strdup(c->values[0].value.string);
    return *out ? 0 : -1;
}

static int lg_config(oconfig_item_t *ci)
{
    for (int i = 0; i < ci->children_num; i++) {
        oconfig_item_t *c = ci->children + i;
        double d = 0;
        int rc = 0;

        if (strcasecmp(c->key, "Series") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.series = (uint64_t)d;
        } else if (strcasecmp(c->key, "SeriesPerHost") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.per_host = d >= 1 ? (uint64_t)d : 1;
        } else if (strcasecmp(c->key, "Interval") == 0) {
            rc = get_number(c, &conf.interval);
        } else if (strcasecmp(c->key, "Rounds") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.rounds = (uint64_t)d;
        } else if (strcasecmp(c->key, "PauseAfter") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.pause_after = (uint64_t)d;
        } else if (strcasecmp(c->key, "ResumeFile") == 0) {
            rc = get_string(c, &conf.resume_file);
        } else if (strcasecmp(c->key, "Step") == 0) {
            rc = get_number(c, &conf.step);
        } else if (strcasecmp(c->key, "Decimals") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.decimals = (int)d;
        } else if (strcasecmp(c->key, "Seed") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.seed = (uint64_t)d;
        } else if (strcasecmp(c->key, "Burst") == 0) {
            if (c->values_num != 1 ||
                c->values[0].type != OCONFIG_TYPE_BOOLEAN) {
                ERROR(PLUGIN ": option \"Burst\" needs true or false");
                rc = -1;
            } else {
                conf.burst = c->values[0].value.boolean;
            }
        } else if (strcasecmp(c->key, "StartFile") == 0) {
            rc = get_string(c, &conf.start_file);
        } else if (strcasecmp(c->key, "ReplayDir") == 0) {
            rc = get_string(c, &conf.replay_dir);
        } else if (strcasecmp(c->key, "Copies") == 0) {
            if (!(rc = get_number(c, &d)))
                conf.copies = d >= 1 ? (uint64_t)d : 1;
        } else if (strcasecmp(c->key, "StatusFile") == 0) {
            rc = get_string(c, &conf.status_file);
        } else if (strcasecmp(c->key, "TimeStep") == 0) {
            rc = get_number(c, &conf.time_step);
        } else if (strcasecmp(c->key, "QueueFile") == 0) {
            rc = get_string(c, &conf.queue_file);
        } else {
            ERROR(PLUGIN ": unknown option \"%s\"", c->key);
            rc = -1;
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* "1795274074.604" -> ms */
static int64_t parse_ms(const char *s)
{
    char *end;
    int64_t ms = strtoll(s, &end, 10) * 1000, mul = 100;

    if (*end == '.')
        for (end++; *end >= '0' && *end <= '9' && mul; end++, mul /= 10)
            ms += (*end - '0') * mul;
    return ms;
}

static int load_file(const char *path, const char *host, const char *pdir,
                     const char *fname)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *tinst;
    size_t cap = 0, n = strlen(fname);
    const data_set_t *ds;
    rp_file *r;
    int64_t t0 = 0;

    if (!f)
        return -1;
    if (n < 12 || fname[n - 11] != '-') {
        fclose(f);
        return 0;
    }
    rp = realloc(rp, (nrp + 1) * sizeof(*rp));
    if (!rp) {
        fclose(f);
        return -1;
    }
    r = &rp[nrp];
    memset(r, 0, sizeof(*r));
    snprintf(r->host, sizeof(r->host), "%.127s", host);
    snprintf(r->plugin, sizeof(r->plugin), "%.127s", pdir);
    if (strchr(r->plugin, '-')) {
        snprintf(r->plugin_instance, sizeof(r->plugin_instance), "%s",
                 strchr(r->plugin, '-') + 1);
        *strchr(r->plugin, '-') = '\0';
    }
    snprintf(r->type, sizeof(r->type), "%.*s", (int)(n - 11), fname);
    if ((tinst = strchr(r->type, '-'))) {
        snprintf(r->type_instance, sizeof(r->type_instance), "%s", tinst + 1);
        *tinst = '\0';
    }
    if (!(ds = plugin_get_ds(r->type))) {
        WARNING(PLUGIN ": %s: type %s not in types.db; skipped", path, r->type);
        fclose(f);
        return 0;
    }
    r->nds = ds->ds_num;
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL, *tok = strtok_r(line, ",\r\n", &save);
        size_t k = 0;

        if (!tok || strcmp(tok, "epoch") == 0)
            continue;
        r->values =
            realloc(r->values, (r->nrows + 1) * r->nds * sizeof(value_t));
        r->jitter = realloc(r->jitter, (r->nrows + 1) * sizeof(int64_t));
        if (!r->values || !r->jitter)
            break;
        if (r->nrows == 0)
            t0 = parse_ms(tok);
        r->jitter[r->nrows] = parse_ms(tok) - t0 - (int64_t)r->nrows * 1000;
        if (r->jitter[r->nrows] > 400 || r->jitter[r->nrows] < -400)
            r->jitter[r->nrows] = 0; /* a skipped second: no jitter */
        for (; k < r->nds && (tok = strtok_r(NULL, ",\r\n", &save)); k++) {
            value_t *v = &r->values[r->nrows * r->nds + k];

            if (ds->ds[k].type == DS_TYPE_GAUGE)
                v->gauge = strtod(tok, NULL);
            else if (ds->ds[k].type == DS_TYPE_DERIVE)
                v->derive = strtoll(tok, NULL, 10);
            else if (ds->ds[k].type == DS_TYPE_COUNTER)
                v->counter = strtoull(tok, NULL, 10);
            else
                v->absolute = strtoull(tok, NULL, 10);
        }
        if (k == r->nds)
            r->nrows++;
    }
    free(line);
    fclose(f);
    if (r->nrows > 0) {
        nrp++;
        values_per_round += r->nds;
    } else {
        free(r->values);
        free(r->jitter);
    }
    return 0;
}

/* <dir>/<host>/<plugin dir>/<file>: three levels, names sorted by readdir
 * order (the replay order does not matter). */
static int load_replay(const char *dir)
{
    DIR *d1 = opendir(dir);
    struct dirent *h;

    if (!d1) {
        ERROR(PLUGIN ": ReplayDir %s: %s", dir, strerror(errno));
        return -1;
    }
    while ((h = readdir(d1))) {
        char p1[4096];
        DIR *d2;
        struct dirent *pd;

        if (h->d_name[0] == '.')
            continue;
        snprintf(p1, sizeof(p1), "%s/%s", dir, h->d_name);
        if (!(d2 = opendir(p1)))
            continue;
        while ((pd = readdir(d2))) {
            char p2[4096 + 256];
            DIR *d3;
            struct dirent *fe;

            if (pd->d_name[0] == '.')
                continue;
            snprintf(p2, sizeof(p2), "%s/%s", p1, pd->d_name);
            if (!(d3 = opendir(p2)))
                continue;
            while ((fe = readdir(d3))) {
                char p3[4096 + 512];

                if (fe->d_name[0] == '.')
                    continue;
                snprintf(p3, sizeof(p3), "%s/%s", p2, fe->d_name);
                if (load_file(p3, h->d_name, pd->d_name, fe->d_name) != 0) {
                    ERROR(PLUGIN ": cannot read %s", p3);
                    closedir(d3);
                    closedir(d2);
                    closedir(d1);
                    return -1;
                }
            }
            closedir(d3);
        }
        closedir(d2);
    }
    closedir(d1);
    if (nrp == 0) {
        ERROR(PLUGIN ": ReplayDir %s: no csv files", dir);
        return -1;
    }
    values_per_round *= conf.copies;
    INFO(PLUGIN ": replaying %zu files (%zu values per round)", nrp,
         values_per_round);
    return 0;
}

static int lg_init(void)
{
    series = calloc(conf.series ? conf.series : 1, sizeof(*series));
    if (!series) {
        ERROR(PLUGIN ": out of memory for %" PRIu64 " series", conf.series);
        return -1;
    }
    rng = conf.seed;
    values_per_round = conf.series;
    if (conf.replay_dir) {
        values_per_round = 0;
        if (load_replay(conf.replay_dir) != 0)
            return -1;
    } else {
        for (uint64_t i = 0; i < conf.series; i++)
            series_init(&series[i], i);
    }
    if (conf.queue_file) {
        if (!(q_file = fopen(conf.queue_file, "w"))) {
            ERROR(PLUGIN ": cannot write %s: %s", conf.queue_file,
                  strerror(errno));
            return -1;
        }
        /* registered at init, after the writer's callback (registered
         * when its module loaded): a value counts as taken once the
         * writer has written it */
        plugin_register_write(PLUGIN, lg_write, NULL);
    }
    plugin_register_complex_read(
        NULL, PLUGIN, lg_read,
        conf.interval > 0 ? DOUBLE_TO_CDTIME_T(conf.interval) : 0, NULL);
    INFO(PLUGIN ": %" PRIu64 " series, %" PRIu64 " rounds%s", conf.series,
         conf.rounds, conf.burst ? " (burst)" : "");
    return 0;
}

static int lg_shutdown(void)
{
    free(series);
    series = NULL;
    for (size_t i = 0; i < nrp; i++) {
        free(rp[i].values);
        free(rp[i].jitter);
    }
    free(rp);
    rp = NULL;
    nrp = 0;
    free(conf.replay_dir);
    conf.replay_dir = NULL;
    free(conf.start_file);
    free(conf.resume_file);
    free(conf.status_file);
    conf.start_file = conf.resume_file = conf.status_file = NULL;
    if (q_file)
        fclose(q_file);
    q_file = NULL;
    free(conf.queue_file);
    conf.queue_file = NULL;
    return 0;
}

__attribute__((visibility("default"))) void module_register(void)
{
    plugin_register_complex_config(PLUGIN, lg_config);
    plugin_register_init(PLUGIN, lg_init);
    plugin_register_shutdown(PLUGIN, lg_shutdown);
}
