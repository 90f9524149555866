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
 *     Decimals -1         # noisy gauges rounded to this many decimals;
 *                         #   -1: full precision
 *     Seed 20240601
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
#include <unistd.h>

#include "shapes.h"

#define PLUGIN "loadgen"

static struct {
    uint64_t series, per_host, rounds, seed, pause_after;
    double interval, step;
    int decimals;
    bool burst;
    char *start_file, *resume_file, *status_file;
} conf = {10000, 100, 0, 20240601, 0, 0, 10, -1, false, NULL, NULL, NULL};

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
}

/* One round: every series once, at time t. */
static void dispatch_round(cdtime_t t, cdtime_t interval, double secs)
{
    value_list_t vl = VALUE_LIST_INIT;
    value_t v;
    lg_value x;

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
            ", \"end_time\": %.6f}\n",
            done_rounds, done_rounds * conf.series, phase_start, phase_seconds,
            end_time);
    fclose(f);
    rename(tmp, conf.status_file);
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
    if (conf.burst && (after_pause || !conf.pause_after)) {
        uint64_t n = conf.rounds > done_rounds ? conf.rounds - done_rounds : 1;
        cdtime_t step = DOUBLE_TO_CDTIME_T(conf.step);

        for (uint64_t k = 0; k < n; k++)
            dispatch_round(start + (k + 1) * step, step, conf.step);
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
        } else if (strcasecmp(c->key, "StatusFile") == 0) {
            rc = get_string(c, &conf.status_file);
        } else {
            ERROR(PLUGIN ": unknown option \"%s\"", c->key);
            rc = -1;
        }
        if (rc)
            return -1;
    }
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
    for (uint64_t i = 0; i < conf.series; i++)
        series_init(&series[i], i);
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
    free(conf.start_file);
    free(conf.resume_file);
    free(conf.status_file);
    conf.start_file = conf.resume_file = conf.status_file = NULL;
    return 0;
}

__attribute__((visibility("default"))) void module_register(void)
{
    plugin_register_complex_config(PLUGIN, lg_config);
    plugin_register_init(PLUGIN, lg_init);
    plugin_register_shutdown(PLUGIN, lg_shutdown);
}
