/*
 * Unit tests of the read plugin (plugin/tsstore.c, tsstore_replay.c)
 * against a fake collectd (fake_collectd.c): health values, replay (exact
 * times, values and identifiers, the rate, the range, the meta data tag,
 * resuming, Trigger "flush", a changed definition, failed writes), missing-data
 * notifications, configuration errors, and the version line at init. Stores
 * are written with the core API in a fresh temp directory per test.
 */
#define _GNU_SOURCE
#include "fake_collectd.h"

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "tsstore/mutation.h"
#include "tsstore/stats.h"
#include "tsstore/store.h"
#include "tsstore/version.h"

#define T0 INT64_C(1700000000000) /* ms: the replayed data starts here */
#define NPTS 50                   /* points per series, 1 s apart */
#define FROM_I 10                 /* Replay From: T0 + 10 s */
#define TO_I 39                   /* Replay To: T0 + 39 s, inclusive */
#define TICK_MS 100               /* the plugin's replay callback interval */

/* ---- per-test state ------------------------------------------------------ */

typedef struct env {
    char *dir;
    char store[600];
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    void *dir = NULL;

    assert_non_null(e);
    tt_setup(&dir);
    e->dir = dir;
    tt_join(e->store, sizeof(e->store), e->dir, "store");
    memset(&fake_cd, 0, sizeof(fake_cd));
    fake_reset();
    fake_cd.verbose = getenv("TSS_TEST_VERBOSE") != NULL;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    void *dir = e->dir;

    fake_shutdown();
    fake_reset();
    memset(&fake_cd, 0, sizeof(fake_cd));
    tt_teardown(&dir);
    free(e);
    return 0;
}

/* ---- stores -------------------------------------------------------------- */

static tss_store *writer_open(const char *dir)
{
    tss_store_options o;
    tss_store *s = NULL;

    tss_store_options_init(&o);
    o.units_per_second = 1000;
    o.span_seconds = 3600;
    o.bucket_seconds = 1;
    if (tss_store_open(&s, dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o) != 0)
        fail_msg("open %s: %s", dir, tss_error_last());
    return s;
}

static void put(tss_store *s, const char *ident, const char *ds, int kind,
                int64_t t, tss_value v)
{
    char buf[5][64];
    tss_series_id id;

    /* "host/plugin/plugin_instance/type/type_instance" */
    assert_int_equal(sscanf(ident, "%63[^/]/%63[^/]/%63[^/]/%63[^/]/%63s",
                            buf[0], buf[1], buf[2], buf[3], buf[4]),
                     5);
    for (int i = 0; i < 5; i++)
        if (strcmp(buf[i], "-") == 0)
            buf[i][0] = '\0';
    id = (tss_series_id){buf[0], buf[1], buf[2], buf[3], buf[4], ds};
    if (tss_store_append(s, &id, kind, t, v) != 0)
        fail_msg("append: %s", tss_error_last());
}

static void seal_all(tss_store *s)
{
    tss_seal_result res;

    if (tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &res) != 0)
        fail_msg("seal: %s", tss_error_last());
}

static void snapshot(tss_store *s)
{
    if (tss_store_snapshot(s, tss_store_now(s), 0) != 0)
        fail_msg("snapshot: %s", tss_error_last());
}

/* The replayed data: four identifiers under host "h" (1, 2 and 3 data
 * sources, every kind), NPTS points each, plus a point of if_octets' rx
 * alone (no value list: tx has none then) and a series of another host. */
static double gauge_of(int i)
{
    static const double special[] = {-0.0, 1e308, 5e-324, -273.15};

    return i % 9 == 4 ? special[(i / 9) % 4] : i * 0.25 - 3;
}

static void write_replay_data(const char *dir)
{
    tss_store *s = writer_open(dir);

    for (int i = 0; i < NPTS; i++) {
        int64_t t = T0 + i * 1000;

        put(s, "h/p/1/gauge/a", "value", TSS_KIND_GAUGE, t,
            (tss_value){.gauge = gauge_of(i)});
        put(s, "h/p/1/if_octets/-", "rx", TSS_KIND_DERIVE, t,
            (tss_value){.derive = (int64_t)i * 1000 - 7});
        put(s, "h/p/1/if_octets/-", "tx", TSS_KIND_DERIVE, t,
            (tss_value){.derive = INT64_MAX - i});
        put(s, "h/q/-/counter/-", "value", TSS_KIND_COUNTER, t,
            (tss_value){.counter = UINT64_MAX - (uint64_t)i});
        put(s, "h/q/-/load/-", "shortterm", TSS_KIND_GAUGE, t,
            (tss_value){.gauge = i / 100.0});
        put(s, "h/q/-/load/-", "midterm", TSS_KIND_GAUGE, t,
            (tss_value){.gauge = i / 10.0});
        put(s, "h/q/-/load/-", "longterm", TSS_KIND_GAUGE, t,
            (tss_value){.gauge = (double)i});
        put(s, "other/p/-/gauge/-", "value", TSS_KIND_GAUGE, t,
            (tss_value){.gauge = 1});
    }
    put(s, "h/p/1/if_octets/-", "rx", TSS_KIND_DERIVE, T0 + 20500,
        (tss_value){.derive = 5});
    seal_all(s);
    tss_store_close(s);
}

/* ---- what a replay must dispatch ----------------------------------------- */

typedef struct want_vl {
    const char *host, *plugin, *pinst, *type, *tinst;
    int64_t t;
    size_t n;
    value_t v[3];
} want_vl;

/* Every value list of [FROM_I, TO_I], in the plugin's order: identifiers
 * in the store's key order, times ascending. */
static size_t expected(want_vl *w)
{
    size_t n = 0;

    for (int i = FROM_I; i <= TO_I; i++)
        w[n++] = (want_vl){"h", "p",           "1", "gauge",
                           "a", T0 + i * 1000, 1,   {{.gauge = gauge_of(i)}}};
    for (int i = FROM_I; i <= TO_I; i++)
        w[n++] = (want_vl){
            "h",
            "p",
            "1",
            "if_octets",
            "",
            T0 + i * 1000,
            2,
            {{.derive = (int64_t)i * 1000 - 7}, {.derive = INT64_MAX - i}}};
    for (int i = FROM_I; i <= TO_I; i++)
        w[n++] = (want_vl){
            "h", "q",           "", "counter",
            "",  T0 + i * 1000, 1,  {{.counter = UINT64_MAX - (uint64_t)i}}};
    for (int i = FROM_I; i <= TO_I; i++)
        w[n++] = (want_vl){
            "h",
            "q",
            "",
            "load",
            "",
            T0 + i * 1000,
            3,
            {{.gauge = i / 100.0}, {.gauge = i / 10.0}, {.gauge = (double)i}}};
    return n;
}

#define NWANT (4 * (TO_I - FROM_I + 1))

static bool is_replayed(const fake_value *v)
{
    return strcmp(v->plugin, "tsstore") != 0;
}

/* The replayed value lists recorded since index `from`, in order. */
static size_t replayed(size_t from, const fake_value **out, size_t max)
{
    size_t n = 0;

    for (size_t i = from; i < fake_cd.nvalues; i++)
        if (is_replayed(&fake_cd.values[i])) {
            assert_true(n < max);
            out[n++] = &fake_cd.values[i];
        }
    return n;
}

/* Fails unless got[0..n) is exactly want[w0..w0+n): identifiers, times
 * (cdtime_t of the stored ms), values bit for bit, the replay tag, the
 * interval (1 s: the points' spacing) and the target. */
static void assert_replay(const fake_value **got, size_t n, size_t w0,
                          const char *target)
{
    want_vl w[NWANT];
    size_t nw = expected(w);

    assert_true(w0 + n <= nw);
    for (size_t i = 0; i < n; i++) {
        const fake_value *g = got[i];
        const want_vl *x = &w[w0 + i];

        if (strcmp(g->host, x->host) || strcmp(g->plugin, x->plugin) ||
            strcmp(g->plugin_instance, x->pinst) || strcmp(g->type, x->type) ||
            strcmp(g->type_instance, x->tinst) ||
            g->time != fake_ms_to_cdtime(x->t) || g->values_len != x->n ||
            memcmp(g->values, x->v, x->n * sizeof(value_t)) != 0)
            fail_msg("replayed value %zu: %s/%s-%s/%s-%s at %" PRIu64
                     " (%zu values), want %s/%s-%s/%s-%s at %" PRIu64,
                     w0 + i, g->host, g->plugin, g->plugin_instance, g->type,
                     g->type_instance, (uint64_t)g->time, g->values_len,
                     x->host, x->plugin, x->pinst, x->type, x->tinst,
                     (uint64_t)fake_ms_to_cdtime(x->t));
        assert_true(g->replayed);
        assert_int_equal(g->interval, TIME_T_TO_CDTIME_T(1));
        assert_string_equal(g->target, target);
    }
}

/* Runs the replay callback `n` times, the clock TICK_MS apart. */
static void ticks(int n)
{
    for (int i = 0; i < n; i++) {
        fake_cd.now += MS_TO_CDTIME_T(TICK_MS);
        fake_run_read("tsstore/replay");
    }
}

static size_t count_replayed(void)
{
    size_t n = 0;

    for (size_t i = 0; i < fake_cd.nvalues; i++)
        n += is_replayed(&fake_cd.values[i]);
    return n;
}

static void restart(const char *conf)
{
    fake_shutdown();
    assert_int_equal(fake_configure(conf), 0);
}

static char *replay_conf(const env *e, const char *extra)
{
    static char buf[4096];

    snprintf(buf, sizeof(buf),
             "<Store \"main\">\n"
             "  DataDir \"%s\"\n"
             "  <Replay \"backfill\">\n"
             "    Series \"h/*\"\n"
             "    From \"%" PRId64 "\"\n"
             "    To \"%" PRId64 "\"\n"
             "%s"
             "  </Replay>\n"
             "</Store>\n",
             e->store, (T0 + FROM_I * 1000) / 1000, (T0 + TO_I * 1000) / 1000,
             extra);
    return buf;
}

static void read_position(const env *e, char *out, size_t size)
{
    char path[700];
    uint8_t *buf;
    size_t len;

    tt_join(path, sizeof(path), e->store, "replay/main-backfill");
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    assert_true(len < size);
    memcpy(out, buf, len);
    out[len] = '\0';
    free(buf);
}

/* ---- replay -------------------------------------------------------------- */

/* The whole range in one run: exact points, in order, tagged, then done
 * (stops at To, dispatches nothing more, position says so). */
static void test_replay_exact(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    char pos[4096];
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(replay_conf(e, "    Rate 1000000\n")), 0);
    assert_true(fake_has_read("tsstore"));
    assert_true(fake_has_read("tsstore/replay"));
    assert_int_equal(fake_cd.reads[1].interval, MS_TO_CDTIME_T(TICK_MS));
    ticks(1);
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, NWANT);
    assert_replay(got, n, 0, "");
    fake_assert_log(LOG_INFO, "replay \"backfill\" of store \"main\" "
                              "finished: 120 values dispatched");
    ticks(20);
    fake_run_read("tsstore");
    assert_int_equal(count_replayed(), NWANT);
    read_position(e, pos, sizeof(pos));
    assert_non_null(strstr(pos, "state done\n"));
    assert_non_null(strstr(pos, "dispatched 120\n"));
}

/* Target "csv": plugin_write to that plugin only, with the same values. */
static void test_replay_target(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(replay_conf(e, "    Rate 1000000\n"
                                                   "    Target \"csv\"\n")),
                     0);
    ticks(2);
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, NWANT);
    assert_replay(got, n, 0, "csv");
}

/* Rate points per second, spread over the replay callback's runs: each
 * run sends what the time since the previous one allows; a stalled
 * callback gets at most one second's worth. */
static void test_replay_rate(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    /* 100 points/s: 10 per 100 ms run; the gauge group first (1 point per
     * value list) */
    assert_int_equal(fake_configure(replay_conf(e, "    Rate 100\n")), 0);
    for (int i = 1; i <= 3; i++) {
        ticks(1);
        assert_int_equal(count_replayed(), 10 * (size_t)i);
    }
    /* a 5 s stall: one second's worth, not five */
    fake_cd.now += TIME_T_TO_CDTIME_T(5);
    fake_run_read("tsstore/replay");
    /* 100 points more: 30 lists of if_octets (2 points each), 30 of
     * counter, and 4 of load (3 points each: 2 over, paid back by the next
     * runs: 8 points make 3 lists, 1 over; then 9 make 3) */
    assert_int_equal(count_replayed(), 30 + 30 + 30 + 4);
    ticks(1);
    assert_int_equal(count_replayed(), 30 + 30 + 30 + 4 + 3);
    ticks(1);
    assert_int_equal(count_replayed(), 30 + 30 + 30 + 4 + 3 + 3);
    n = replayed(0, got, 2 * NWANT);
    assert_replay(got, n, 0, "");
}

/* A fractional rate comes out right over time: 15 points/s is 1.5 per
 * run, so 15 in ten runs. */
static void test_replay_rate_fraction(void **state)
{
    env *e = *state;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(replay_conf(e, "    Rate 15\n")), 0);
    ticks(10);
    assert_int_equal(count_replayed(), 15);
    ticks(10);
    assert_int_equal(count_replayed(), 30);
}

/* Stopped (shut down) in the middle of a group twice, the replay resumes
 * each time from the recorded position: every value exactly once. */
static void test_replay_resume(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    char *conf = replay_conf(e, "    Rate 100\n");
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    ticks(2); /* 20 gauge lists */
    restart(conf);
    ticks(5); /* the other 10 gauge lists, then 20 of if_octets: 50 */
    fake_assert_log(LOG_INFO, "resumes where it stopped (20 values so far)");
    restart(conf);
    ticks(100);
    fake_assert_log(LOG_INFO, "resumes where it stopped (50 values so far)");
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, NWANT);
    assert_replay(got, n, 0, "");
    fake_assert_log(LOG_INFO, "finished: 120 values dispatched");
    /* finished stays finished */
    restart(conf);
    ticks(20);
    fake_assert_log(LOG_INFO, "is finished (120 values so far)");
    assert_int_equal(count_replayed(), NWANT);
}

/* A delete that becomes visible while a replay runs: none of its points is
 * dispatched after that, including those of the group being replayed
 * (already read into memory), and the rest arrives exactly once. With
 * `compact` the writer also compacts at once (the default CompactAfter 1:
 * the document is gone, the segments rewritten); without, the delete stays
 * visible through its document and tombstones. */
static void delete_midway(env *e, bool compact)
{
    const fake_value *got[2 * NWANT];
    want_vl w[NWANT];
    size_t n, before, k = 0;
    tss_delete_spec spec = {0};
    tss_apply_result ar;
    char id[37];
    tss_store *s;
    int st = 0;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(replay_conf(e, "    Rate 100\n")), 0);
    ticks(2); /* 20 of the gauge group's 30 lists */
    before = count_replayed();
    assert_int_equal(before, 20);
    /* delete the gauge group's last 5 points and the whole counter */
    {
        tss_store_options o;

        tss_store_options_init(&o);
        o.compact_after_segments = compact ? 1 : 0;
        assert_int_equal(tss_store_open(&s, e->store, TSS_OPEN_WRITER, &o), 0);
    }
    spec.series_glob = "h/p-1/gauge-a";
    spec.has_from = spec.has_to = 1;
    spec.from = T0 + (TO_I - 4) * 1000;
    spec.to = T0 + TO_I * 1000;
    assert_int_equal(tss_delete_create(s, &spec, id), 0);
    spec = (tss_delete_spec){.series_glob = "h/q/counter"};
    assert_int_equal(tss_delete_create(s, &spec, id), 0);
    assert_int_equal(tss_store_apply_mutations(s, tss_store_now(s), &ar), 0);
    assert_int_equal(tss_mutation_state(s, id, &st), 0);
    assert_int_equal(st, compact ? TSS_MUTATION_REMOVED : TSS_MUTATION_VISIBLE);
    tss_store_close(s);
    /* the plugin learns of it within a second, before it sends more */
    fake_cd.now += TIME_T_TO_CDTIME_T(1);
    fake_run_read("tsstore/replay");
    ticks(100);
    n = replayed(0, got, 2 * NWANT);
    /* what must have come: every list but the deleted ones */
    expected(w);
    for (size_t i = 0; i < NWANT; i++) {
        bool gone = (i >= TO_I - FROM_I - 4 && i <= TO_I - FROM_I) ||
                    strcmp(w[i].type, "counter") == 0;

        if (gone)
            continue;
        assert_true(k < n);
        assert_replay(&got[k], 1, i, "");
        k++;
    }
    assert_int_equal(k, n);
    fake_assert_log(LOG_INFO, "finished: 85 values dispatched");
}

static void test_replay_delete_visible(void **state)
{
    delete_midway(*state, false);
}

static void test_replay_delete_compacted(void **state)
{
    delete_midway(*state, true);
}

/* Trigger "flush": nothing until a flush; a restart in the middle resumes
 * without one; once done it stays done until the next flush, which starts
 * over from the beginning. */
static void test_replay_flush_trigger(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    char *conf = replay_conf(e, "    Rate 100\n    Trigger \"flush\"\n");
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    ticks(5);
    fake_run_read("tsstore");
    assert_int_equal(count_replayed(), 0);
    fake_flush();
    ticks(2);
    assert_int_equal(count_replayed(), 20);
    fake_flush(); /* while it runs: ignored */
    ticks(1);
    fake_assert_log(LOG_INFO, "is running: flush ignored");
    assert_int_equal(count_replayed(), 30);
    restart(conf);
    ticks(100);
    fake_assert_log(LOG_INFO, "resumes where it stopped (30 values so far)");
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, NWANT);
    assert_replay(got, n, 0, "");
    restart(conf);
    ticks(10);
    assert_int_equal(count_replayed(), NWANT);
    fake_flush();
    ticks(100);
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, 2 * NWANT);
    assert_replay(got + NWANT, NWANT, 0, "");
}

/* A flush before the store was first read does not get lost under the
 * position loaded later. */
static void test_replay_flush_before_open(void **state)
{
    env *e = *state;
    char *conf = replay_conf(e, "    Rate 1000000\n    Trigger \"flush\"\n");

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    ticks(3);
    restart(conf);
    fake_flush();
    ticks(3);
    assert_int_equal(count_replayed(), NWANT);
}

/* A finished replay whose Series, From, To or Target changed starts over
 * (and says so); one that did not change stays finished. */
static void test_replay_definition_change(void **state)
{
    env *e = *state;
    const fake_value *got[4 * NWANT];
    char conf[4096];
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    snprintf(conf, sizeof(conf), "%s", replay_conf(e, "    Rate 1000000\n"));
    assert_int_equal(fake_configure(conf), 0);
    ticks(2);
    assert_int_equal(count_replayed(), NWANT);
    restart(conf);
    ticks(2);
    assert_int_equal(count_replayed(), NWANT);
    fake_assert_no_log(-1, "starting over");

    /* From written differently but the same instant: no change */
    snprintf(conf, sizeof(conf), "%s",
             replay_conf(e, "    Rate 1000000\n    From \"2023-11-14T22:13:30."
                            "000Z\"\n"));
    restart(conf);
    ticks(2);
    assert_int_equal(count_replayed(), NWANT);
    fake_assert_no_log(-1, "starting over");

    /* the same range to another writer: replayed again */
    snprintf(conf, sizeof(conf), "%s",
             replay_conf(e, "    Rate 1000000\n    Target \"csv\"\n"));
    restart(conf);
    ticks(2);
    fake_assert_log(LOG_NOTICE, "Series, From, To or Target changed");
    n = replayed(0, got, 4 * NWANT);
    assert_int_equal(n, 2 * NWANT);
    assert_replay(got + NWANT, NWANT, 0, "csv");

    /* a later To: everything again, up to the new To (points 10..44) */
    snprintf(conf, sizeof(conf), "%s",
             replay_conf(e, "    Rate 1000000\n    Target \"csv\"\n"
                            "    To \"1700000044\"\n"));
    restart(conf);
    ticks(2);
    n = replayed(0, got, 4 * NWANT);
    assert_int_equal(n, 2 * NWANT + 4 * 35);
}

/* A version 1 position file (no definition) is honoured as it stands. */
static void test_replay_position_v1(void **state)
{
    env *e = *state;
    char path[700], *conf = replay_conf(e, "    Rate 1000000\n");
    const char *v1 = "1 0 120 \n";

    write_replay_data(e->store);
    tt_join(path, sizeof(path), e->store, "replay");
    assert_int_equal(mkdir(path, 0750), 0);
    tt_join(path, sizeof(path), e->store, "replay/main-backfill");
    tt_spit(path, v1, strlen(v1));
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    ticks(3);
    assert_int_equal(count_replayed(), 0);
    fake_assert_log(LOG_INFO, "is finished (120 values so far)");
}

/* Ticks until plugin_write was tried again (write_fail went down, or a
 * value went out), at most `max`; returns the ticks it took. */
static int ticks_until_try(int max)
{
    int left = fake_cd.write_fail;
    size_t sent = count_replayed();

    for (int i = 1; i <= max; i++) {
        ticks(1);
        if (fake_cd.write_fail != left || count_replayed() != sent)
            return i;
    }
    return max + 1;
}

/* A write plugin that fails: the values are not counted as sent; the
 * replay waits and sends them again, so nothing is lost or doubled. It
 * waits one read interval (10 s here) after a failure, twice as long after
 * each further one: not a try at every 100 ms tick, each of which the
 * target would log. */
static void test_replay_write_fails(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(replay_conf(e, "    Rate 1000000\n"
                                                   "    Target \"csv\"\n")),
                     0);
    fake_run_read("tsstore"); /* the interval: 10 s */
    fake_cd.write_fail = 3;
    ticks(1);
    assert_int_equal(fake_cd.write_fail, 2);
    assert_int_equal(count_replayed(), 0);
    fake_assert_log(LOG_ERR, "<Store \"main\"> <Replay \"backfill\">: "
                             "writing to \"csv\" failed (status 28); the "
                             "same values are sent again");
    /* not the hint of an unknown name: csv's own failure */
    fake_assert_no_log(-1, "no write callback registered");
    /* 10 s, then 20 s, then 40 s between the tries (100 ms ticks, which
     * cdtime_t's 2^-30 s units round down: one more may be needed) */
    assert_in_range(ticks_until_try(1000), 100, 101);
    assert_int_equal(fake_cd.write_fail, 1);
    assert_in_range(ticks_until_try(1000), 200, 201);
    assert_int_equal(fake_cd.write_fail, 0);
    assert_int_equal(count_replayed(), 0);
    assert_in_range(ticks_until_try(1000), 400, 401);
    ticks(2);
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, NWANT);
    assert_replay(got, n, 0, "csv");
}

/* Target "write_graphite" when collectd's write_graphite registered
 * "write_graphite/<Node>": plugin_write finds no such callback (ENOENT)
 * on every try. One ERROR in the rate limit's minutes, naming the block
 * and the registered-name rule; nothing is lost: with the registered
 * name the same range goes out whole. */
static void test_replay_target_unregistered(void **state)
{
    env *e = *state;
    const fake_value *got[2 * NWANT];
    size_t n;

    write_replay_data(e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(
        fake_configure(replay_conf(e, "    Rate 1000000\n"
                                      "    Target \"write_graphite\"\n")),
        0);
    fake_cd.writers = "csv,write_graphite/g";
    ticks(50);
    assert_int_equal(count_replayed(), 0);
    assert_int_equal(fake_log_count(LOG_ERR, "writing to"), 1);
    fake_assert_log(LOG_ERR,
                    "<Store \"main\"> <Replay \"backfill\">: writing to "
                    "\"write_graphite\" failed (status 2: no write callback "
                    "registered under that name? Target is the name a "
                    "writer registers, e.g. \"write_graphite/<Node>\"");

    restart(replay_conf(e, "    Rate 1000000\n"
                           "    Target \"write_graphite/g\"\n"));
    ticks(2);
    n = replayed(0, got, 2 * NWANT);
    assert_int_equal(n, NWANT);
    assert_replay(got, n, 0, "write_graphite/g");
}

/* ---- health -------------------------------------------------------------- */

static const fake_value *health_value(const char *type, const char *ti)
{
    const fake_value *found = NULL;

    for (size_t i = 0; i < fake_cd.nvalues; i++) {
        const fake_value *v = &fake_cd.values[i];

        if (strcmp(v->plugin, "tsstore") == 0 && strcmp(v->type, type) == 0 &&
            strcmp(v->type_instance, ti) == 0) {
            assert_null(found); /* once per read */
            found = v;
        }
    }
    if (!found)
        fail_msg("no health value %s-%s", type, ti);
    assert_string_equal(found->plugin_instance, "main");
    assert_string_equal(found->host, ""); /* collectd's Hostname */
    assert_false(found->replayed);
    assert_int_equal(found->values_len, 1);
    return found;
}

static void assert_gauge(const char *type, const char *ti, double want)
{
    double got = health_value(type, ti)->values[0].gauge;

    if (got != want)
        fail_msg("%s-%s = %.17g, want %.17g", type, ti, got, want);
}

/* Every figure of tss_store_stats_get (what `tsstore stats` prints), as
 * the types.db type the man page names. */
static void test_health(void **state)
{
    env *e = *state;
    tss_store_stats st;
    tss_store_options o;
    tss_store *w, *r;
    char conf[1024];
    int64_t now_s;

    w = writer_open(e->store);
    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i < 100; i++)
        put(w, "h/p/-/gauge/-", "value", TSS_KIND_GAUGE,
            (now_s - 7200 - 100 + i) * 1000, (tss_value){.gauge = i});
    seal_all(w);
    for (int i = 0; i < 20; i++)
        put(w, "h/p/-/gauge/-", "value", TSS_KIND_GAUGE,
            (now_s - 20 + i) * 1000, (tss_value){.gauge = i});
    snapshot(w);
    assert_int_equal(tss_store_publish_stats(w, tss_store_now(w), 0), 0);

    snprintf(conf, sizeof(conf), "<Store \"main\">\nDataDir \"%s\"\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    assert_false(fake_has_read("tsstore/replay")); /* no <Replay> */
    fake_run_read("tsstore");
    assert_int_equal(fake_cd.nvalues, 18);
    tss_store_options_init(&o);
    assert_int_equal(tss_store_open(&r, e->store, 0, &o), 0);
    assert_int_equal(tss_store_stats_get(r, tss_store_now(r), &st), 0);
    tss_store_close(r);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.points, 120);
    assert_gauge("count", "series", (double)st.series);
    assert_gauge("count", "points", (double)st.points);
    assert_gauge("count", "segments", (double)st.segments);
    assert_gauge("count", "head_points", (double)st.head_points);
    assert_gauge("bytes", "segments", (double)st.bytes_segments);
    assert_gauge("bytes", "coverage", (double)st.bytes_coverage);
    assert_gauge("bytes", "head", (double)st.bytes_head);
    assert_gauge("bytes", "wal", (double)st.bytes_wal);
    assert_gauge("bytes", "tombstones", (double)st.bytes_tombstones);
    assert_gauge("bytes", "total", (double)st.bytes_total);
    assert_gauge("gauge", "bytes_per_point", st.bytes_per_point);
    assert_gauge("pending_operations", "deletes", (double)st.pending_deletes);
    assert_gauge("count", "tombstoned_points", (double)st.tombstoned_points);
    /* these two move with the clock between the two readings */
    assert_true(fabs(health_value("duration", "snapshot_age")->values[0].gauge -
                     st.snapshot_age) < 2);
    assert_true(fabs(health_value("percent", "coverage_1h")->values[0].gauge -
                     st.coverage_1h) < 1);
    assert_int_equal(
        health_value("total_values", "late_points")->values[0].derive,
        (int64_t)st.late_points);
    assert_int_equal(health_value("errors", "write")->values[0].derive,
                     (int64_t)st.write_errors);
    assert_int_equal(
        health_value("total_values", "dropped_points")->values[0].derive,
        (int64_t)st.points_dropped);
    tss_store_close(w);
}

/* A store that does not exist is reported once (rate-limited), retried
 * every interval; when it appears damaged, that new error is reported at
 * once (and once); it is read once it is whole. */
static void test_health_store_missing(void **state)
{
    env *e = *state;
    char conf[1024], path[1100];
    FILE *f;

    snprintf(conf, sizeof(conf), "<Store \"main\">\nDataDir \"%s\"\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(fake_log_count(LOG_ERR, "store \"main\""), 1);
    assert_int_equal(fake_cd.nvalues, 0);

    assert_int_equal(mkdir(e->store, 0750), 0);
    snprintf(path, sizeof(path), "%s/STORE", e->store);
    assert_non_null(f = fopen(path, "w"));
    fputs("not a store\n", f);
    assert_int_equal(fclose(f), 0);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(fake_log_count(LOG_ERR, "store \"main\""), 2);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(e->store), 0);
    tss_store_close(writer_open(e->store));
    fake_run_read("tsstore");
    fake_assert_log(LOG_NOTICE, "store \"main\" is readable again");
    assert_true(fake_cd.nvalues >= 15);
}

/* A store of `n` gauge points (one series, a second apart, ending now),
 * sealed, at `dir`. */
static void write_points(const char *dir, int n)
{
    tss_store *w = writer_open(dir);
    int64_t now_s = tss_store_now(w) / 1000;

    for (int i = 0; i < n; i++)
        put(w, "h/p/-/gauge/-", "value", TSS_KIND_GAUGE,
            (now_s - 7200 - n + i) * 1000, (tss_value){.gauge = i});
    seal_all(w);
    tss_store_close(w);
}

/* count-points of the last health read */
static double last_points(void)
{
    for (size_t i = fake_cd.nvalues; i-- > 0;) {
        const fake_value *v = &fake_cd.values[i];

        if (strcmp(v->type, "count") == 0 &&
            strcmp(v->type_instance, "points") == 0)
            return v->values[0].gauge;
    }
    fail_msg("no count-points");
    return -1;
}

/* A store replaced while the plugin reads it (restored from a copy:
 * mv store store.old; cp -a store.old store; rm -rf store.old) is noticed
 * at the next interval, reported once, and read from its path: not the
 * removed files' empty figures. The replay reads its position from the
 * new store (the copy's: the range is not sent twice). */
static void test_store_replaced(void **state)
{
    env *e = *state;
    char old[700], conf[4096];

    write_replay_data(e->store);
    snprintf(conf, sizeof(conf), "%s", replay_conf(e, "    Rate 1000000\n"));
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    fake_run_read("tsstore");
    ticks(2);
    assert_int_equal(count_replayed(), NWANT);
    assert_int_equal(last_points(), 8 * NPTS + 1);

    snprintf(old, sizeof(old), "%s.old", e->store);
    assert_int_equal(rename(e->store, old), 0);
    tt_copy_tree(old, e->store);
    tt_rmrf(old);
    fake_run_read("tsstore");
    fake_assert_log(LOG_WARNING, "store \"main\" (");
    fake_assert_log(LOG_WARNING, "DataDir was replaced by another directory");
    assert_int_equal(last_points(), 8 * NPTS + 1);
    ticks(5);
    fake_run_read("tsstore");
    assert_int_equal(last_points(), 8 * NPTS + 1);
    assert_int_equal(count_replayed(), NWANT);
    assert_int_equal(fake_log_count(LOG_WARNING, "DataDir"), 1);
    fake_assert_no_log(LOG_ERR, "store \"main\"");

    /* another store in its place: its own figures */
    tt_rmrf(e->store);
    write_points(e->store, 7);
    fake_run_read("tsstore");
    assert_int_equal(last_points(), 7);
}

/* The same while a replay runs, before the next read notices: the replay
 * callback checks too, so the replay goes on from its position in the new
 * store (the copy has it) and sends every value once, with no error about
 * the removed directory. */
static void test_store_replaced_mid_replay(void **state)
{
    env *e = *state;
    char old[700], conf[4096];
    size_t before;

    write_replay_data(e->store);
    snprintf(conf, sizeof(conf), "%s", replay_conf(e, "    Rate 40\n"));
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    fake_run_read("tsstore");
    ticks(10);
    before = count_replayed();
    assert_true(before > 0 && before < NWANT);
    snprintf(old, sizeof(old), "%s.old", e->store);
    assert_int_equal(rename(e->store, old), 0);
    tt_copy_tree(old, e->store);
    tt_rmrf(old);
    ticks(200); /* no read in between */
    assert_int_equal(count_replayed(), NWANT);
    fake_assert_log(LOG_WARNING, "DataDir was replaced by another directory");
    fake_assert_no_log(LOG_ERR, "store \"main\"");
}

/* A store removed while read: reported, its figures no longer sent, the
 * missing store reported once however many intervals pass, and read when
 * it is back. */
static void test_store_removed(void **state)
{
    env *e = *state;
    char conf[1024];
    size_t before;

    write_points(e->store, 5);
    snprintf(conf, sizeof(conf), "<Store \"main\">\nDataDir \"%s\"\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    fake_run_read("tsstore");
    assert_int_equal(last_points(), 5);

    tt_rmrf(e->store);
    before = fake_cd.nvalues;
    for (int i = 0; i < 5; i++)
        fake_run_read("tsstore");
    assert_int_equal(fake_cd.nvalues, before);
    fake_assert_log(LOG_WARNING, "DataDir is gone since the store was opened");
    assert_int_equal(fake_log_count(LOG_WARNING, "DataDir"), 1);
    assert_int_equal(fake_log_count(LOG_ERR, "store \"main\""), 1);

    write_points(e->store, 9);
    fake_run_read("tsstore");
    fake_assert_log(LOG_NOTICE, "store \"main\" is readable again");
    assert_int_equal(last_points(), 9);
}

/* A corrupt head snapshot, which the core reports each time it reads the
 * head (every stats, coverage and query call: dozens per interval), is
 * logged once, naming the store, however many intervals pass; another
 * message of the core still shows. */
static void test_core_log_limited(void **state)
{
    env *e = *state;
    char conf[1024], head[700], names[256], path[1100];
    tss_store *w;
    int64_t now_s;

    w = writer_open(e->store);
    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i < 20; i++)
        put(w, "h/p/-/gauge/-", "value", TSS_KIND_GAUGE,
            (now_s - 20 + i) * 1000, (tss_value){.gauge = i});
    snapshot(w);
    tss_store_close(w);
    tt_join(head, sizeof(head), e->store, "head");
    tt_list(head, "base-", names, sizeof(names));
    assert_null(strchr(names, ','));
    snprintf(path, sizeof(path), "%s/%s", head, names);
    tt_truncate(path, tt_file_size(path) / 2);

    snprintf(conf, sizeof(conf),
             "<Store \"main\">\nDataDir \"%s\"\nMissing 3\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    for (int i = 0; i < 10; i++)
        fake_run_read("tsstore");
    assert_true(fake_cd.nvalues >= 10 * 15);
    assert_int_equal(fake_log_count(-1, "truncated"), 1);
    fake_assert_log(LOG_ERR, "tsstore plugin: store \"main\": head snapshot");
}

/* A segment whose header is damaged: its points are missing from the
 * figures, and the plugin says so -- the segment named by the core's line,
 * the count by the plugin's -- once, not at every interval; the other
 * figures still go out. */
static void test_health_corrupt_segment(void **state)
{
    env *e = *state;
    char conf[1024], segdir[700], names[256], path[1000];
    uint8_t *buf;
    size_t len;

    write_points(e->store, 5);
    tt_join(segdir, sizeof(segdir), e->store, "segments");
    tt_list(segdir, "", names, sizeof(names));
    assert_null(strchr(names, ','));
    snprintf(path, sizeof(path), "%s/%s", segdir, names);
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    assert_true(len > 64);
    memset(buf + 16, 0xa5, 32); /* inside the checksummed header */
    tt_spit(path, buf, len);
    free(buf);

    snprintf(conf, sizeof(conf), "<Store \"main\">\nDataDir \"%s\"\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    for (int i = 0; i < 5; i++)
        fake_run_read("tsstore");
    assert_true(fake_cd.nvalues >= 5 * 15);
    assert_int_equal(last_points(), 0);
    assert_int_equal(
        fake_log_count(LOG_ERR, "unreadable file(s) left out of the health"),
        1);
    fake_assert_log(LOG_ERR, names);
}

/* ---- missing data -------------------------------------------------------- */

static size_t notes_of(int severity, const char *tinst)
{
    size_t n = 0;

    for (size_t i = 0; i < fake_cd.nnotes; i++)
        n += fake_cd.notes[i].severity == severity &&
             strcmp(fake_cd.notes[i].type_instance, tinst) == 0;
    return n;
}

/* Snapshots writer w's store, reads it with Missing 3 (no note: every
 * series reports), then 10 s later twice: two notes, for the tests to
 * look at. w stays open. */
static void missing_after_10s(const env *e, tss_store *w)
{
    char conf[1024];

    snapshot(w);
    snprintf(conf, sizeof(conf),
             "<Store \"main\">\nDataDir \"%s\"\nMissing 3\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    fake_run_read("tsstore");
    assert_int_equal(fake_cd.nnotes, 0);

    fake_cd.wall_offset_ns = INT64_C(10000000000);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(fake_cd.nnotes, 2);
}

/* Two series reporting every second, a third silent for an hour. When the
 * clock moves 10 s on (Missing 3: 3 s), the two raise one warning each,
 * not repeated; one of them reports again: one okay. The silent one raises
 * nothing while silent (it was not reporting when first seen) nor when it
 * starts (no warning went out, so no okay: a restarted collectd would
 * send one per series its stop silenced), and warns when it stops again. */
static void test_missing(void **state)
{
    env *e = *state;
    const fake_notification *n;
    tss_store *w;
    int64_t now_s;

    w = writer_open(e->store);
    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i <= 30; i++) {
        put(w, "h/p/-/gauge/a", "value", TSS_KIND_GAUGE,
            (now_s - 30 + i) * 1000, (tss_value){.gauge = i});
        put(w, "h/p/-/gauge/b", "value", TSS_KIND_GAUGE,
            (now_s - 30 + i) * 1000, (tss_value){.gauge = i});
        put(w, "h/p/-/gauge/c", "value", TSS_KIND_GAUGE,
            (now_s - 3600 + i) * 1000, (tss_value){.gauge = i});
    }
    missing_after_10s(e, w);
    assert_int_equal(notes_of(NOTIF_WARNING, "a"), 1);
    assert_int_equal(notes_of(NOTIF_WARNING, "b"), 1);
    n = &fake_cd.notes[0];
    assert_string_equal(n->host, "h");
    assert_string_equal(n->plugin, "p");
    assert_string_equal(n->plugin_instance, "");
    assert_string_equal(n->type, "gauge");
    assert_non_null(strstr(n->message, "series h/p/gauge-a (data source "
                                       "value) has had no value since"));

    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i < 3; i++)
        put(w, "h/p/-/gauge/a", "value", TSS_KIND_GAUGE, (now_s - 2 + i) * 1000,
            (tss_value){.gauge = i});
    snapshot(w);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(fake_cd.nnotes, 3);
    assert_int_equal(notes_of(NOTIF_OKAY, "a"), 1);
    assert_non_null(strstr(fake_cd.notes[2].message, "reports again"));
    assert_int_equal(notes_of(NOTIF_WARNING, "c"), 0);

    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i < 3; i++)
        put(w, "h/p/-/gauge/c", "value", TSS_KIND_GAUGE, (now_s - 2 + i) * 1000,
            (tss_value){.gauge = i});
    snapshot(w);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(notes_of(NOTIF_OKAY, "c"), 0);
    assert_int_equal(notes_of(NOTIF_WARNING, "c"), 0);
    assert_int_equal(fake_cd.nnotes, 3);

    fake_cd.wall_offset_ns += INT64_C(10000000000);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(notes_of(NOTIF_WARNING, "c"), 1);
    assert_int_equal(notes_of(NOTIF_OKAY, "c"), 0);
    tss_store_close(w);
}

/* Series of several data sources (if_octets rx/tx, load's three) that
 * stop: one warning per identifier, naming its data sources, and one
 * okay when it reports again; collectd's notification has no data source
 * field, so one per data source would be identical copies. The data
 * sources are named in the store's order (by name). */
static void test_missing_data_sources(void **state)
{
    env *e = *state;
    const char *const load_ds[3] = {"shortterm", "midterm", "longterm"};
    tss_store *w;
    int64_t now_s;

    w = writer_open(e->store);
    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i <= 30; i++) {
        int64_t t = (now_s - 30 + i) * 1000;

        put(w, "h/interface/eth0/if_octets/-", "rx", TSS_KIND_DERIVE, t,
            (tss_value){.derive = i});
        put(w, "h/interface/eth0/if_octets/-", "tx", TSS_KIND_DERIVE, t,
            (tss_value){.derive = i});
        for (int k = 0; k < 3; k++)
            put(w, "h/load/-/load/-", load_ds[k], TSS_KIND_GAUGE, t,
                (tss_value){.gauge = i});
    }
    missing_after_10s(e, w);
    assert_int_equal(fake_cd.notes[0].severity, NOTIF_WARNING);
    assert_string_equal(fake_cd.notes[0].plugin, "interface");
    assert_string_equal(fake_cd.notes[0].plugin_instance, "eth0");
    assert_string_equal(fake_cd.notes[0].type, "if_octets");
    assert_non_null(strstr(fake_cd.notes[0].message,
                           "series h/interface-eth0/if_octets (data sources "
                           "rx, tx) has had no value since"));
    assert_int_equal(fake_cd.notes[1].severity, NOTIF_WARNING);
    assert_string_equal(fake_cd.notes[1].type, "load");
    assert_non_null(strstr(fake_cd.notes[1].message,
                           "(data sources longterm, midterm, shortterm)"));

    now_s = tss_store_now(w) / 1000;
    for (int i = 0; i < 3; i++) {
        put(w, "h/interface/eth0/if_octets/-", "rx", TSS_KIND_DERIVE,
            (now_s - 2 + i) * 1000, (tss_value){.derive = i});
        put(w, "h/interface/eth0/if_octets/-", "tx", TSS_KIND_DERIVE,
            (now_s - 2 + i) * 1000, (tss_value){.derive = i});
    }
    snapshot(w);
    fake_run_read("tsstore");
    fake_run_read("tsstore");
    assert_int_equal(fake_cd.nnotes, 3);
    assert_int_equal(fake_cd.notes[2].severity, NOTIF_OKAY);
    assert_string_equal(fake_cd.notes[2].type, "if_octets");
    assert_non_null(strstr(fake_cd.notes[2].message,
                           "series h/interface-eth0/if_octets (data sources "
                           "rx, tx) reports again"));
    tss_store_close(w);
}

/* ---- configuration ------------------------------------------------------- */

typedef struct bad_case {
    const char *conf;
    const char *want[3];   /* in the ERROR lines */
    const char *unwant[2]; /* in no line */
} bad_case;

static void test_bad_config(void **state)
{
    static const bad_case cases[] = {
        {"<Store \"x\">\n DataDir 3\n</Store>",
         {"<Store \"x\">: \"DataDir\" needs one string argument"},
         {"is required", "cf_util"}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Series 5\n"
         " </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"Series\" needs one string"},
         {"is required", "cf_util"}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Series \"*\"\n"
         "  Target true\n </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"Target\" needs one string"},
         {"cf_util"}},
        {"<Store \"x\">\n DataDir \"/d\"\n Missing \"3\"\n</Store>",
         {"<Store \"x\">: \"Missing\" needs a whole number"},
         {"cf_util"}},
        {"<Store \"x\">\n DataDir \"/d\"\n Missing 1.5\n</Store>",
         {"<Store \"x\">: \"Missing\""},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n Missing -1\n</Store>",
         {"<Store \"x\">: \"Missing\""},
         {NULL}},
        /* From/To syntax is reported along with the other errors */
        {"<Store \"x\">\n <Replay \"y\">\n  Series \"*\"\n  From "
         "\"yesterday\"\n  To \"2026-13-01T00:00:00Z\"\n </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"From\"",
          "<Store \"x\"> <Replay \"y\">: \"To\"",
          "<Store \"x\">: \"DataDir\" is required"},
         {NULL}},
        {"<Store \"x\">\n DataDir 1\n <Replay \"y\">\n  Series \"*\"\n  To "
         "\"noon\"\n </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"To\"", "\"DataDir\" needs one"},
         {NULL}},
        {"<Store \"a\">\n DataDir \"/d1\"\n</Store>\n<Store \"a\">\n DataDir "
         "\"/d2\"\n</Store>",
         {"<Store \"a\"> is given twice"},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Series \"*\"\n"
         " </Replay>\n <Replay \"y\">\n  Series \"h/*\"\n </Replay>\n"
         "</Store>",
         {"<Store \"x\"> <Replay \"y\">: its position file replay/x-y"},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Series \"*\"\n"
         "  Rate 0\n </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"Rate\""},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Series \"*\"\n"
         "  Rate \"fast\"\n </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"Rate\""},
         {"cf_util"}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Series \"*\"\n"
         "  Trigger \"sometimes\"\n </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: \"Trigger\" is \"start\" or "
          "\"flush\""},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay \"y\">\n  Seris \"*\"\n"
         " </Replay>\n</Store>",
         {"<Store \"x\"> <Replay \"y\">: unknown option \"Seris\"",
          "<Store \"x\"> <Replay \"y\">: \"Series\" is required"},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n Interval 3\n</Store>",
         {"<Store \"x\">: unknown option \"Interval\""},
         {NULL}},
        {"<Store 7>\n DataDir \"/d\"\n</Store>",
         {"<Store> needs a name in double quotes"},
         {NULL}},
        {"<Store \"x\">\n DataDir \"/d\"\n <Replay>\n  Series \"*\"\n"
         " </Replay>\n</Store>",
         {"<Store \"x\"> <Replay> needs a name"},
         {NULL}},
        {"DataDir \"/d\"",
         {"unknown option \"DataDir\" (expected <Store"},
         {NULL}},
        {"", {"no <Store> block"}, {NULL}},
        /* a range that ends before it starts, in either syntax */
        {"<Store \"a\">\n DataDir \"/d\"\n <Replay \"r\">\n  Series \"*\"\n"
         "  From \"2026-11-21T04:00:00Z\"\n  To \"2026-11-20T22:00:00Z\"\n"
         " </Replay>\n</Store>",
         {"<Store \"a\"> <Replay \"r\">: \"From\" is after \"To\""},
         {NULL}},
        {"<Store \"a\">\n DataDir \"/d\"\n <Replay \"r\">\n  Series \"*\"\n"
         "  To 1700000000\n  From \"2023-11-14T22:13:20.001Z\"\n"
         " </Replay>\n</Store>",
         {"<Store \"a\"> <Replay \"r\">: \"From\" is after \"To\""},
         {NULL}},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bad_case *c = &cases[i];

        fake_reset();
        if (fake_configure(c->conf) != -1)
            fail_msg("case %zu was accepted:\n%s", i, c->conf);
        assert_int_equal(fake_cd.nreads, 0);
        assert_null(fake_cd.flush_cb);
        for (int k = 0; k < 3 && c->want[k]; k++)
            fake_assert_log(LOG_ERR, c->want[k]);
        for (int k = 0; k < 2 && c->unwant[k]; k++)
            fake_assert_no_log(-1, c->unwant[k]);
        fake_assert_log(LOG_ERR, "not started");
    }
}

/* Init says which version loaded, at INFO, whatever was configured: the
 * packages' snippet loads the plugin without a <Plugin tsstore> block, so
 * collectd never calls the config callback (nothing said which version
 * was loaded). */
static void test_version_at_init(void **state)
{
    env *e = *state;
    char conf[1024];

    /* LoadPlugin only: no config callback, nothing registered to read */
    assert_int_equal(fake_init(), 0);
    fake_assert_log(LOG_INFO, "tsstore plugin: version " TSS_VERSION
                              ": no <Store> configured, nothing is read");
    assert_int_equal(fake_cd.nreads, 0);
    assert_int_equal(fake_cd.nlog, 1);

    fake_reset();
    snprintf(conf, sizeof(conf),
             "<Store \"a\">\n DataDir \"%s\"\n</Store>\n"
             "<Store \"b\">\n DataDir \"%s\"\n</Store>\n",
             e->store, e->dir);
    assert_int_equal(fake_configure(conf), 0);
    assert_int_equal(fake_log_count(-1, "version"), 0);
    assert_int_equal(fake_init(), 0);
    fake_assert_log(LOG_INFO, "tsstore plugin: version " TSS_VERSION
                              " reading 2 store(s)");
    fake_assert_no_log(-1, "no <Store>");
    fake_shutdown();

    /* a refused configuration (it says why at ERROR): not started */
    fake_reset();
    assert_int_equal(fake_configure(""), -1);
    assert_int_equal(fake_init(), 0);
    fake_assert_log(LOG_INFO,
                    "tsstore plugin: version " TSS_VERSION ": not started");
    fake_assert_no_log(LOG_INFO, "reading");
}

/* A store whose precision cannot hold a From is reported when it opens;
 * the replay does not run (and a flush does not start it either). */
static void test_replay_time_out_of_range(void **state)
{
    env *e = *state;
    char conf[2048];
    tss_store_options o;
    tss_store *s = NULL;

    tss_store_options_init(&o);
    o.units_per_second = 1000000000;
    assert_int_equal(
        tss_store_open(&s, e->store, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o), 0);
    tss_store_close(s);
    snprintf(conf, sizeof(conf),
             "<Store \"main\">\n DataDir \"%s\"\n <Replay \"r\">\n"
             "  Series \"*\"\n  From \"9300000000\"\n  Trigger \"flush\"\n"
             " </Replay>\n</Store>\n",
             e->store);
    assert_int_equal(fake_configure(conf), 0);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    ticks(1);
    fake_assert_log(LOG_ERR, "<Store \"main\"> <Replay \"r\">: \"From\"");
    fake_flush();
    ticks(2);
    fake_assert_no_log(-1, "started by a flush");
}

/* From equal to To is one instant, accepted; From after To by less than
 * a millisecond passes the configuration check (made in ms) and is
 * refused, once, when the store's precision (ms) shows it: the replay
 * does not run, and no query fails every run. */
static void test_replay_from_after_to(void **state)
{
    env *e = *state;
    char conf[2048];

    write_replay_data(e->store);
    snprintf(conf, sizeof(conf),
             "<Store \"main\">\n DataDir \"%s\"\n"
             " <Replay \"one\">\n  Series \"h/p-1/gauge-a\"\n"
             "  From 1700000010\n  To \"2023-11-14T22:13:30Z\"\n"
             "  Rate 1000000\n </Replay>\n"
             " <Replay \"none\">\n  Series \"*\"\n"
             "  From \"1700000010.0004\"\n  To \"1700000010.0003\"\n"
             " </Replay>\n</Store>\n",
             e->store);
    fake_cd.now = TIME_T_TO_CDTIME_T(1000);
    assert_int_equal(fake_configure(conf), 0);
    ticks(20);
    fake_run_read("tsstore");
    assert_int_equal(count_replayed(), 1);
    assert_int_equal(fake_log_count(LOG_ERR, "<Store \"main\"> <Replay "
                                             "\"none\">: \"From\" is after "
                                             "\"To\" at the store's "
                                             "precision"),
                     1);
    fake_assert_no_log(-1, "ends before it starts");
    fake_flush();
    ticks(2);
    assert_int_equal(fake_log_count(LOG_ERR, "\"From\" is after"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_rate_fraction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_delete_visible, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_delete_compacted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_flush_trigger, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_flush_before_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_definition_change, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_position_v1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_write_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_target_unregistered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_time_out_of_range, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replay_from_after_to, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_store_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_replaced_mid_replay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_core_log_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_corrupt_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_data_sources, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_at_init, setup, teardown),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
