/*
 * Readers racing the writer (issue 9, point 4): reader threads query the
 * whole store (every resolution) over and over while the writer seals,
 * rewrites the head snapshot, compacts, applies a delete and rolls up.
 * No query may see a point missing or doubled: each window must be, in
 * every query, exactly as it is in one of the store's states -- before
 * the delete, after it, after the rollup -- never going back to an
 * earlier one, and the delete is seen in all its windows or in none.
 *
 * The writer (the test's main thread):
 *   1. rounds of: the points of three sealed windows appended again (the
 *      same times and values: the store's content does not change), a
 *      seal (a second segment per window, a new snapshot base), and a
 *      compaction that merges each window's two segments into one;
 *   2. a delete made visible, then compacted;
 *   3. a rollup of the windows older than a day.
 * After each step it waits until every reader has finished a query begun
 * after the step (a condition variable, no sleeping), so the readers run
 * through every step. One reader keeps its handle, the other opens one
 * per query.
 */
#define _GNU_SOURCE
#include "hd_util.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NWIN 5
#define NSTATE 3
#define NREADERS 2
#define ROUNDS 12

static int64_t win[NWIN]; /* window starts; the last is the head's */

/* A digest per window of what a query returned. */
typedef struct view {
    uint64_t d[NWIN];
    size_t n[NWIN];
    size_t rows, segs;
} view;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* Queries everything through `s` into *v; 0, or an error with why[]. */
static int query_view(tss_store *s, view *v, char *why, size_t size)
{
    tss_filter f;
    tss_query *q;
    tss_series_info in;
    int rc;

    memset(v, 0, sizeof(*v));
    for (int w = 0; w < NWIN; w++)
        v->d[w] = UINT64_C(0xcbf29ce484222325);
    memset(&f, 0, sizeof(f));
    f.resolution = TSS_RES_AUTO;
    if ((rc = tss_query_open(&q, s, &f)) != 0) {
        snprintf(why, size, "query: %s", tss_error_last());
        return rc;
    }
    v->segs = tss_query_segments(q);
    while ((rc = tss_query_next(q, &in)) == 1) {
        const tss_point *pts;
        size_t n;
        uint64_t tag = (uint64_t)in.resolution * 16 + (uint64_t)in.aggregate;

        if ((rc = tss_query_points(q, &pts, &n)) != 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int w = 0;

            while (w < NWIN &&
                   !(pts[i].t >= win[w] && pts[i].t < win[w] + RU_SPAN))
                w++;
            if (w == NWIN) {
                snprintf(why, size, "a point at %" PRId64 " in no window",
                         pts[i].t);
                tss_query_close(q);
                return TSS_EINVAL;
            }
            v->d[w] = fnv(v->d[w], in.id.type, strlen(in.id.type) + 1);
            v->d[w] = fnv(v->d[w], &tag, sizeof(tag));
            v->d[w] = fnv(v->d[w], &pts[i], sizeof(pts[i]));
            v->n[w]++;
            v->rows++;
        }
    }
    if (rc == 0 && tss_query_errors(q) != 0) {
        snprintf(why, size, "%" PRIu64 " file(s) unreadable",
                 tss_query_errors(q));
        rc = TSS_EIO;
    } else if (rc != 0) {
        snprintf(why, size, "next: %s", tss_error_last());
    }
    tss_query_close(q);
    return rc;
}

/* ---- the readers ----------------------------------------------------------
 */

typedef struct shared {
    const char *dir;
    view states[NSTATE];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long step;           /* the writer's step */
    unsigned long done[NREADERS]; /* the step each reader's last query began
                                     in */
    atomic_bool stop;
    /* the first failure, for the main thread */
    char failure[1024];
    unsigned long queries[NREADERS];
} shared;

typedef struct reader {
    shared *sh;
    int idx;
} reader;

static void fail_once(shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_once(shared *sh, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&sh->mu);
    if (!sh->failure[0]) {
        va_start(ap, fmt);
        vsnprintf(sh->failure, sizeof(sh->failure), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&sh->mu);
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    shared *sh = r->sh;
    tss_store_options o;
    tss_store *s = NULL;
    int low[NWIN] = {0}; /* per window, the earliest state still allowed */
    tt_log *log = calloc(1, sizeof(*log));

    hd_options(&o, NULL);
    o.log = tt_log_fn;
    o.log_ctx = log;
    while (!atomic_load(&sh->stop)) {
        unsigned long step;
        char why[512] = "";
        view v;
        int rc, st[NWIN];

        pthread_mutex_lock(&sh->mu);
        step = sh->step;
        pthread_mutex_unlock(&sh->mu);
        if (!s && (rc = tss_store_open(&s, sh->dir, 0, &o)) != 0) {
            fail_once(sh, "reader %d: open: %s", r->idx, tss_error_last());
            break;
        }
        rc = query_view(s, &v, why, sizeof(why));
        if (r->idx == 1) { /* a fresh handle per query */
            tss_store_close(s);
            s = NULL;
        }
        if (rc != 0) {
            fail_once(sh, "reader %d, step %lu: %s (%s)", r->idx, step, why,
                      log->n ? log->msg[log->n - 1] : "nothing logged");
            break;
        }
        /* each window in a state, never an earlier one than before */
        for (int w = 0; w < NWIN; w++) {
            st[w] = -1;
            for (int k = low[w]; k < NSTATE && st[w] < 0; k++)
                if (v.d[w] == sh->states[k].d[w])
                    st[w] = k;
            if (st[w] < 0) {
                fail_once(sh,
                          "reader %d, step %lu: window %d is in none of "
                          "the store's states from %d on (%zu rows; the "
                          "states have %zu, %zu, %zu; %zu segments)",
                          r->idx, step, w, low[w], v.n[w], sh->states[0].n[w],
                          sh->states[1].n[w], sh->states[2].n[w], v.segs);
                goto out;
            }
            low[w] = st[w];
        }
        /* the delete: all its windows or none */
        {
            int with = -1;

            for (int w = 0; w < NWIN; w++) {
                bool differs = sh->states[0].d[w] != sh->states[1].d[w];
                int has = st[w] >= 1;

                if (!differs)
                    continue;
                if (with >= 0 && has != with) {
                    fail_once(sh,
                              "reader %d, step %lu: the delete in some "
                              "windows, not in others",
                              r->idx, step);
                    goto out;
                }
                with = has;
            }
        }
        pthread_mutex_lock(&sh->mu);
        sh->done[r->idx] = step;
        sh->queries[r->idx]++;
        pthread_cond_broadcast(&sh->cv);
        pthread_mutex_unlock(&sh->mu);
    }
out:
    tss_store_close(s);
    free(log);
    pthread_mutex_lock(&sh->mu);
    sh->done[r->idx] = ULONG_MAX; /* never waited for again */
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

/* The writer's step is over: the next one begins once every reader has
 * queried during this one. */
static void next_step(shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    for (int i = 0; i < NREADERS; i++)
        while (sh->done[i] < sh->step)
            pthread_cond_wait(&sh->cv, &sh->mu);
    sh->step++;
    pthread_mutex_unlock(&sh->mu);
}

/* ---- the writer -----------------------------------------------------------
 */

static void round_merge(tss_store *s, shared *sh)
{
    int64_t now;

    for (int w = 0; w < 3; w++)
        hd_fill(s, NULL, win[w], win[w] + RU_SPAN);
    /* the wall clock: a window is due once its first point (stamped with
     * it) is older than the grace, here 0 */
    now = tss_store_now(s) + 1000;
    assert_int_equal(tss_store_seal(s, now, 0, NULL), 0);
    if (sh)
        next_step(sh);
    assert_int_equal(tss_store_compact(s, now, TSS_COMPACT_MERGE, NULL), 0);
    if (sh)
        next_step(sh);
}

static void the_delete(tss_store *s, shared *sh)
{
    int64_t now = tss_store_now(s);
    tss_delete_spec d;
    char id[37];

    memset(&d, 0, sizeof(d));
    d.series_glob = "h/ru/gauge";
    d.has_from = d.has_to = 1;
    d.from = win[1] + 10 * RU_MIN;
    d.to = win[4] + 10 * RU_MIN;
    assert_int_equal(tss_delete_create(s, &d, id), 0);
    assert_int_equal(tss_store_apply_mutations(s, now, NULL), 0);
    if (sh)
        next_step(sh);
    assert_int_equal(tss_store_compact(s, now, 0, NULL), 0);
    assert_int_equal(tss_store_apply_mutations(s, now, NULL), 0);
    if (sh)
        next_step(sh);
}

static void reader_view(const char *dir, view *v)
{
    tss_store_options o;
    tss_store *s;
    char why[512];
    int rc;

    hd_options(&o, NULL);
    s = ru_open(dir, 0, &o);
    rc = query_view(s, v, why, sizeof(why));
    if (rc != 0)
        fail_msg("%s", why);
    tss_store_close(s);
}

static void test_readers_race_the_writer(void **state)
{
    char tpl[4096], dir[4096];
    tss_store_options o;
    shared *sh = calloc(1, sizeof(*sh));
    reader rd[NREADERS];
    pthread_t th[NREADERS];
    tss_store *s;
    int64_t now;

    assert_non_null(sh);
    tt_join(tpl, sizeof(tpl), *state, "template");
    tt_join(dir, sizeof(dir), *state, "store");
    hd_options(&o, NULL);
    o.grace_seconds = 0;
    s = ru_open(tpl, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    now = tss_store_now(s);
    {
        int64_t day = now / RU_SPAN * RU_SPAN;

        win[0] = day - 3 * RU_DAY;
        win[1] = day - 2 * RU_DAY;
        win[2] = day - RU_DAY - 2 * RU_SPAN;
        win[3] = day - 2 * RU_SPAN;
        win[4] = day + 10 * RU_SPAN; /* the head's: not due for hours */
    }
    for (int w = 0; w < 4; w++)
        hd_fill(s, NULL, win[w], win[w] + RU_SPAN);
    assert_int_equal(tss_store_seal(s, now, TSS_SEAL_ALL, NULL), 0);
    hd_fill(s, NULL, win[4], win[4] + 30 * RU_MIN);
    assert_int_equal(tss_store_snapshot(s, now, TSS_SNAP_SYNC), 0);
    tss_store_close(s);

    /* the states, from a run alone */
    tt_copy_tree(tpl, dir);
    reader_view(dir, &sh->states[0]);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    round_merge(s, NULL);
    the_delete(s, NULL);
    tss_store_close(s);
    reader_view(dir, &sh->states[1]);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_store_rollup(s, tss_store_now(s), NULL), 0);
    tss_store_close(s);
    reader_view(dir, &sh->states[2]);
    assert_true(sh->states[0].rows > sh->states[1].rows);
    assert_true(sh->states[1].rows != sh->states[2].rows);
    tt_rmrf(dir);

    /* the race */
    tt_copy_tree(tpl, dir);
    sh->dir = dir;
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    sh->step = 1;
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    for (int i = 0; i < NREADERS; i++) {
        rd[i] = (reader){sh, i};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }
    next_step(sh);
    for (int r = 0; r < ROUNDS && !sh->failure[0]; r++)
        round_merge(s, sh);
    if (!sh->failure[0])
        the_delete(s, sh);
    if (!sh->failure[0]) {
        assert_int_equal(tss_store_rollup(s, tss_store_now(s), NULL), 0);
        next_step(sh);
    }
    atomic_store(&sh->stop, true);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(th[i], NULL);
    tss_store_close(s);
    if (sh->failure[0])
        fail_msg("%s", sh->failure);
    print_message("readers: %lu and %lu queries over %lu writer steps\n",
                  sh->queries[0], sh->queries[1], sh->step);
    for (int i = 0; i < NREADERS; i++)
        assert_true(sh->queries[i] >= sh->step - 1);
    pthread_mutex_destroy(&sh->mu);
    pthread_cond_destroy(&sh->cv);
    free(sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_readers_race_the_writer, tt_setup,
                                        tt_teardown),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
