/*
 * The head (head.c): merge rules (last arrival wins), windows, detach, the
 * out-of-order fold, and appends from five threads at once.
 *
 * Expected results come from a reference model written here: replay the
 * arrivals in order into a list, overwriting an equal timestamp, then sort.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"
#include "series.h"

static tss_point pt(int64_t t, uint64_t v)
{
    tss_point p;

    p.t = t;
    p.v.bits = v;
    return p;
}

static void assert_points(const tss_point *got, size_t ngot,
                          const tss_point *want, size_t nwant)
{
    if (ngot != nwant)
        fail_msg("got %zu points, want %zu", ngot, nwant);
    for (size_t i = 0; i < ngot; i++)
        if (got[i].t != want[i].t || got[i].v.bits != want[i].v.bits)
            fail_msg("point %zu: got (%" PRId64 ", %" PRIu64 "), want (%" PRId64
                     ", %" PRIu64 ")",
                     i, got[i].t, got[i].v.bits, want[i].t, want[i].v.bits);
}

/* ---- reference model ---------------------------------------------------- */

typedef struct model {
    tss_point *p;
    size_t n, cap;
    /* each timestamp's index in p: times are lo + i * step */
    int64_t base, step;
    long *slot;
    size_t nslot;
} model;

static void model_init(model *m, int64_t lo, int64_t hi, int64_t step)
{
    memset(m, 0, sizeof(*m));
    m->base = lo;
    m->step = step;
    m->nslot = (size_t)((hi - lo) / step + 1);
    m->slot = malloc(m->nslot * sizeof(long));
    assert_non_null(m->slot);
    for (size_t i = 0; i < m->nslot; i++)
        m->slot[i] = -1;
}

/* One arrival: a new timestamp is added, a known one overwritten. */
static void model_put(model *m, int64_t t, uint64_t v)
{
    size_t i = (size_t)((t - m->base) / m->step);
    long *s = &m->slot[i];

    assert_true(t >= m->base && (t - m->base) % m->step == 0 && i < m->nslot);
    if (*s >= 0) {
        m->p[*s].v.bits = v;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->p = realloc(m->p, m->cap * sizeof(tss_point));
        assert_non_null(m->p);
    }
    *s = (long)m->n;
    m->p[m->n++] = pt(t, v);
}

static int by_time(const void *a, const void *b)
{
    const tss_point *x = a, *y = b;

    return x->t < y->t ? -1 : x->t > y->t;
}

/* The expected points, sorted (slots are invalid afterwards). */
static const tss_point *model_sorted(model *m)
{
    qsort(m->p, m->n, sizeof(tss_point), by_time);
    return m->p;
}

static void model_free(model *m)
{
    free(m->p);
    free(m->slot);
}

/* ---- tss_head_merge ----------------------------------------------------- */

static void test_merge_rules(void **state)
{
    const tss_point enc[] = {pt(1, 10), pt(3, 30), pt(5, 50)};
    tss_point ooo[] = {pt(3, 31), pt(2, 20), pt(3, 32),
                       pt(6, 60), pt(2, 21), pt(0, 1)};
    const tss_point want[] = {pt(0, 1),  pt(1, 10), pt(2, 21),
                              pt(3, 32), pt(5, 50), pt(6, 60)};
    tss_point dup[] = {pt(7, 1), pt(7, 2), pt(7, 3)};
    tss_point out[16];

    assert_points(out, tss_head_merge(enc, 3, ooo, 6, out), want, 6);
    assert_points(out, tss_head_merge(enc, 3, NULL, 0, out), enc, 3);
    assert_points(out, tss_head_merge(NULL, 0, dup, 3, out), &dup[2], 1);
    dup[0] = pt(1, 99); /* an out-of-order duplicate of encoded points */
    dup[1] = pt(5, 98);
    dup[2] = pt(1, 97);
    {
        const tss_point w2[] = {pt(1, 97), pt(3, 30), pt(5, 98)};

        assert_points(out, tss_head_merge(enc, 3, dup, 3, out), w2, 3);
    }
}

static void test_merge_random(void **state)
{
    uint64_t seed = 5;
    tss_point enc[64], ooo[64], out[128];

    for (int round = 0; round < 2000; round++) {
        size_t ne = 0, no = (size_t)tt_below(&seed, 64);
        uint64_t v = 1;
        model m;

        model_init(&m, 0, 99, 1);
        for (int64_t t = 0; t < 100 && ne < 64; t++)
            if (tt_below(&seed, 3) == 0) {
                enc[ne] = pt(t, v++);
                model_put(&m, t, enc[ne].v.bits);
                ne++;
            }
        for (size_t i = 0; i < no; i++) {
            ooo[i] = pt((int64_t)tt_below(&seed, 12) * 8, v++);
            model_put(&m, ooo[i].t, ooo[i].v.bits);
        }
        assert_points(out, tss_head_merge(enc, ne, ooo, no, out),
                      model_sorted(&m), m.n);
        model_free(&m);
    }
}

static void test_window_start(void **state)
{
    const int64_t lim = INT64_C(1) << 62, span = 7200000;
    const int64_t ts[] = {0,         1,   span - 1, span,    -1,      -span,
                          -span - 1, lim, -lim,     lim - 1, -lim + 1};
    tss_head *h;

    assert_int_equal(tss_head_create(&h, 1, 0), TSS_EINVAL);
    assert_int_equal(tss_head_create(&h, 3, 100), 0);
    assert_int_equal(tss_head_window(h, 0), 0);
    assert_int_equal(tss_head_window(h, 99), 0);
    assert_int_equal(tss_head_window(h, 100), 100);
    assert_int_equal(tss_head_window(h, -1), -100);
    assert_int_equal(tss_head_window(h, -100), -100);
    assert_int_equal(tss_head_window(h, -101), -200);
    tss_head_free(h);

    assert_int_equal(tss_head_create(&h, 64, span), 0);
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        int64_t w = tss_head_window(h, ts[i]);

        /* the window start is a multiple of span with t in [w, w+span) */
        assert_int_equal(w % span, 0);
        assert_true(w <= ts[i] && ts[i] - w < span);
    }
    tss_head_free(h);
}

/* ---- append and detach -------------------------------------------------- */

static void make_key(uint8_t *key, size_t *len, const char *host,
                     const char *ds, int kind)
{
    tss_series_id id = {host, "plug", "", "type", "", ds};

    assert_int_equal(tss_key_encode(key, len, &id, kind), 0);
}

static void append(tss_head *h, const uint8_t *key, size_t len, int64_t t,
                   uint64_t v, int64_t now)
{
    tss_value val;

    val.bits = v;
    assert_int_equal(
        tss_head_append(h, key, len, tss_key_hash(key, len), t, val, now, 0),
        0);
}

/* Detaches every window; returns the batches (caller frees). */
static tss_head_batch *detach_all(tss_head *h, size_t *nb)
{
    tss_head_winfo *w;
    size_t nw;
    int64_t *starts;
    tss_head_batch *b;

    assert_int_equal(tss_head_windows(h, &w, &nw), 0);
    starts = calloc(nw + 1, sizeof(*starts));
    b = calloc(nw + 1, sizeof(*b));
    assert_true(starts && b);
    for (size_t i = 0; i < nw; i++)
        starts[i] = w[i].start;
    tss_head_detach(h, starts, nw, b, nb);
    assert_int_equal(*nb, nw);
    for (size_t i = 1; i < *nb; i++)
        assert_true(b[i - 1].start < b[i].start);
    tss_free(w);
    free(starts);
    return b;
}

static void assert_head_empty(tss_head *h)
{
    tss_head_stats st;
    tss_head_winfo *w;
    size_t nw;

    tss_head_stats_get(h, &st);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.points, 0);
    assert_int_equal(st.out_of_order, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(tss_head_windows(h, &w, &nw), 0);
    assert_int_equal(nw, 0);
    tss_free(w);
}

static void test_append_and_detach(void **state)
{
    uint8_t ka[TSS_KEY_MAX], kb[TSS_KEY_MAX];
    size_t la, lb, nb, n, cap = 0;
    tss_head *h;
    tss_head_winfo *w;
    tss_head_batch *b;
    tss_point *pts = NULL;
    size_t nw;
    model ma[3], mb, mbneg;
    int64_t starts[2] = {100, -100};
    tss_head_batch two[2];
    tss_head_stats st;

    make_key(ka, &la, "a", "value", TSS_KIND_DERIVE);
    make_key(kb, &lb, "b", "value", TSS_KIND_GAUGE);
    assert_int_equal(tss_head_create(&h, 2, 100), 0);
    for (int i = 0; i < 3; i++)
        model_init(&ma[i], -100 + 100 * i, -1 + 100 * i, 1);
    model_init(&mb, 0, 99, 1);
    model_init(&mbneg, -100, -1, 1);

    /* series a over windows -100, 0, 100: in order, back, duplicates */
    {
        const int64_t ts[] = {5, 7, 9, 6, 7, 150, -3, 9, 0, 199, -100, 5, 120};

        for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
            int wi = ts[i] < 0 ? 0 : ts[i] < 100 ? 1 : 2;

            append(h, ka, la, ts[i], 1000 + i, 50 - (int64_t)i);
            model_put(&ma[wi], ts[i], 1000 + i);
        }
    }
    for (int64_t t = 99; t >= 0; t -= 3) { /* series b, backwards */
        append(h, kb, lb, t, (uint64_t)t * 2, 60);
        model_put(&mb, t, (uint64_t)t * 2);
    }
    /* b in window -100 arrives before a did there: a stamp of 10 */
    append(h, kb, lb, -50, 7, 10);
    append(h, kb, lb, -60, 8, 70);
    model_put(&mbneg, -50, 7);
    model_put(&mbneg, -60, 8);
    tss_head_stats_get(h, &st);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.points, 13 + 34 + 2);

    assert_int_equal(tss_head_windows(h, &w, &nw), 0);
    assert_int_equal(nw, 3);
    for (size_t i = 0; i < nw; i++) {
        /* the earliest stamp of each window's series: a's windows got
         * 50 - the index of their first point, b's 60 and 10 */
        switch (w[i].start) {
        case -100:
            assert_int_equal(w[i].first_arrival, 10);
            assert_int_equal(w[i].points, 4);
            break;
        case 0:
            assert_int_equal(w[i].first_arrival, 50);
            assert_int_equal(w[i].points, 8 + 34);
            break;
        case 100:
            assert_int_equal(w[i].first_arrival, 50 - 5);
            assert_int_equal(w[i].points, 3);
            break;
        default:
            fail_msg("unexpected window %" PRId64, w[i].start);
        }
    }
    tss_free(w);

    /* detach two windows, given out of order; the third stays */
    tss_head_detach(h, starts, 2, two, &nb);
    assert_int_equal(nb, 2);
    assert_int_equal(two[0].start, -100);
    assert_int_equal(two[1].start, 100);
    for (size_t i = 0; i < 2; i++) {
        const tss_head_item *it = two[i].items;
        const uint8_t *key = tss_head_item_key(it, &n);
        model *m = &ma[i == 0 ? 0 : 2];

        assert_int_equal(two[i].n, i == 0 ? 2 : 1);
        assert_int_equal(n, la);
        assert_memory_equal(key, ka, la);
        assert_int_equal(tss_head_item_points(it, &pts, &n, &cap), 0);
        assert_points(pts, n, model_sorted(m), m->n);
        it = tss_head_item_next(it);
        if (i == 0) { /* then b */
            key = tss_head_item_key(it, &n);
            assert_int_equal(n, lb);
            assert_memory_equal(key, kb, lb);
            assert_int_equal(tss_head_item_points(it, &pts, &n, &cap), 0);
            assert_points(pts, n, model_sorted(&mbneg), mbneg.n);
            it = tss_head_item_next(it);
        }
        assert_null(it);
        tss_head_batch_free(&two[i]);
    }
    assert_int_equal(tss_head_windows(h, &w, &nw), 0);
    assert_int_equal(nw, 1);
    assert_int_equal(w[0].start, 0);
    tss_free(w);
    tss_head_detach(h, starts, 1, two, &nb); /* nothing left there */
    assert_int_equal(nb, 0);

    b = detach_all(h, &nb);
    assert_int_equal(nb, 1);
    assert_int_equal(b[0].n, 2);
    {
        const tss_head_item *it = b[0].items;
        const uint8_t *key = tss_head_item_key(it, &n);

        /* items in key order: "a" before "b" */
        assert_memory_equal(key, ka, la);
        assert_int_equal(tss_head_item_points(it, &pts, &n, &cap), 0);
        assert_points(pts, n, model_sorted(&ma[1]), ma[1].n);
        it = tss_head_item_next(it);
        key = tss_head_item_key(it, &n);
        assert_memory_equal(key, kb, lb);
        assert_int_equal(tss_head_item_points(it, &pts, &n, &cap), 0);
        assert_points(pts, n, model_sorted(&mb), mb.n);
    }
    tss_head_batch_free(&b[0]);
    free(b);
    assert_head_empty(h);
    tss_head_free(h);
    tss_free(pts);
    for (int i = 0; i < 3; i++)
        model_free(&ma[i]);
    model_free(&mb);
    model_free(&mbneg);
}

/* Far more out-of-order points than the fold threshold (128), duplicates
 * with differing values among them. */
static void test_out_of_order_beyond_fold(void **state)
{
    uint8_t key[TSS_KEY_MAX];
    size_t len, nb, n, cap = 0;
    tss_head *h;
    tss_head_batch *b;
    tss_point *pts = NULL;
    uint64_t seed = 77, v = 1;
    model m;

    make_key(key, &len, "h", "value", TSS_KIND_COUNTER);
    assert_int_equal(tss_head_create(&h, 1, 100000), 0);
    model_init(&m, 0, 99999, 1);
    append(h, key, len, 50000, v, 0);
    model_put(&m, 50000, v++);
    for (int64_t t = 49999; t >= 49000; t--) { /* 1000 backwards */
        append(h, key, len, t, v, 0);
        model_put(&m, t, v++);
        if (t % 7 == 0) { /* a re-send with another value */
            int64_t d = t + (int64_t)tt_below(&seed, 50);

            append(h, key, len, d, v, 0);
            model_put(&m, d, v++);
        }
    }
    for (int i = 0; i < 3000; i++) { /* anywhere, forwards and back */
        int64_t t = 48000 + (int64_t)tt_below(&seed, 4000);

        append(h, key, len, t, v, 0);
        model_put(&m, t, v++);
    }
    b = detach_all(h, &nb);
    assert_int_equal(nb, 1);
    assert_int_equal(tss_head_item_points(b[0].items, &pts, &n, &cap), 0);
    assert_points(pts, n, model_sorted(&m), m.n);
    tss_head_batch_free(&b[0]);
    free(b);
    assert_head_empty(h);
    tss_head_free(h);
    tss_free(pts);
    model_free(&m);
}

/* ---- five threads ------------------------------------------------------- */

#define NTHREADS 5
#define NSHARED 24
#define NTIMES 600
#define TIME0 (-200000) /* times TIME0 + k * 1000: windows of 250000 */

typedef struct worker {
    tss_head *h;
    pthread_barrier_t *go;
    int id;
    uint8_t keys[NSHARED + 1][TSS_KEY_MAX];
    size_t lens[NSHARED + 1];
    /* this thread's own series: its arrivals, in order */
    tss_point solo[3 * NTIMES];
    size_t nsolo;
} worker;

/* The value of shared series s at time index k, whoever writes it. */
static uint64_t shared_value(int s, int k)
{
    uint64_t x = (uint64_t)s * 1000003 + (uint64_t)k;

    return tt_rand(&x);
}

/* Does thread `id` write time index k of the shared series? (Most are
 * written by three or four threads: duplicates with equal values.) */
static bool writes(int id, int k)
{
    return (k + id) % 5 != 0 && (k * 7 + id) % 11 != 3;
}

static void *work(void *arg)
{
    worker *w = arg;
    uint64_t seed = 1000 + (uint64_t)w->id;
    int order[NTIMES];

    for (int k = 0; k < NTIMES; k++)
        order[k] = k;
    for (int k = NTIMES - 1; k > 0; k--) { /* each thread its own order */
        int j = (int)tt_below(&seed, (uint64_t)k + 1), tmp = order[k];

        order[k] = order[j];
        order[j] = tmp;
    }
    pthread_barrier_wait(w->go);
    for (int i = 0; i < NTIMES; i++) {
        int k = order[i];

        for (int s = 0; s < NSHARED; s++) {
            tss_value v;

            if (!writes(w->id, k))
                continue;
            v.bits = shared_value(s, k);
            for (int rep = 0; rep < 1 + (k % 4 == 0); rep++)
                if (tss_head_append(w->h, w->keys[s], w->lens[s],
                                    tss_key_hash(w->keys[s], w->lens[s]),
                                    TIME0 + k * 1000, v, 0, 0) != 0)
                    return "append failed";
        }
        if (i < (int)w->nsolo) {
            const tss_point *p = &w->solo[i * 3];

            for (int r = 0; r < 3; r++)
                if (tss_head_append(
                        w->h, w->keys[NSHARED], w->lens[NSHARED],
                        tss_key_hash(w->keys[NSHARED], w->lens[NSHARED]),
                        p[r].t, p[r].v, 0, 0) != 0)
                    return "append failed";
        }
    }
    return NULL;
}

static void test_five_threads(void **state)
{
    static worker ws[NTHREADS];
    pthread_t th[NTHREADS];
    pthread_barrier_t go;
    model shared[NSHARED], solo[NTHREADS];
    tss_head *h;
    tss_head_batch *b;
    size_t nb, seen = 0;
    tss_point *all[NSHARED + NTHREADS] = {0}, *pts = NULL;
    size_t nall[NSHARED + NTHREADS] = {0}, cap = 0;
    const int64_t tmax = TIME0 + NTIMES * 1000;

    assert_int_equal(tss_head_create(&h, 4, 250000), 0);
    assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
    for (int s = 0; s < NSHARED; s++) {
        model_init(&shared[s], TIME0, tmax, 1000);
        for (int k = 0; k < NTIMES; k++)
            for (int id = 0; id < NTHREADS; id++)
                if (writes(id, k)) {
                    model_put(&shared[s], TIME0 + k * 1000, shared_value(s, k));
                    break;
                }
    }
    for (int id = 0; id < NTHREADS; id++) {
        worker *w = &ws[id];
        uint64_t seed = 2000 + (uint64_t)id, v = 1;

        w->h = h;
        w->go = &go;
        w->id = id;
        for (int s = 0; s <= NSHARED; s++) {
            char host[32];

            snprintf(host, sizeof(host), s < NSHARED ? "shared-%d" : "solo-%d",
                     s < NSHARED ? s : id);
            make_key(w->keys[s], &w->lens[s], host, s % 2 ? "rx" : "tx",
                     1 + s % 4);
        }
        /* the solo series: random times, often repeated with new values */
        model_init(&solo[id], TIME0, tmax, 250);
        w->nsolo = NTIMES;
        for (size_t i = 0; i < 3 * NTIMES; i++) {
            int64_t t = TIME0 + (int64_t)tt_below(&seed, 4 * NTIMES) * 250;

            w->solo[i] = pt(t, v);
            model_put(&solo[id], t, v++);
        }
    }
    for (int id = 0; id < NTHREADS; id++)
        assert_int_equal(pthread_create(&th[id], NULL, work, &ws[id]), 0);
    for (int id = 0; id < NTHREADS; id++) {
        void *ret;

        assert_int_equal(pthread_join(th[id], &ret), 0);
        assert_null(ret);
    }
    pthread_barrier_destroy(&go);

    /* windows in time order, so each series' points concatenate sorted */
    b = detach_all(h, &nb);
    for (size_t i = 0; i < nb; i++) {
        for (const tss_head_item *it = b[i].items; it;
             it = tss_head_item_next(it)) {
            size_t len, n;
            const uint8_t *key = tss_head_item_key(it, &len);
            tss_key_view kv;
            int idx;

            assert_int_equal(tss_key_decode(key, len, &kv), 0);
            if (sscanf(kv.id.host, "shared-%d", &idx) == 1)
                assert_true(idx >= 0 && idx < NSHARED);
            else if (sscanf(kv.id.host, "solo-%d", &idx) == 1)
                idx += NSHARED;
            else
                fail_msg("unknown series %s", kv.id.host);
            assert_int_equal(tss_head_item_points(it, &pts, &n, &cap), 0);
            all[idx] = realloc(all[idx], (nall[idx] + n) * sizeof(tss_point));
            assert_non_null(all[idx]);
            memcpy(all[idx] + nall[idx], pts, n * sizeof(tss_point));
            nall[idx] += n;
            seen++;
        }
        tss_head_batch_free(&b[i]);
    }
    free(b);
    assert_head_empty(h);
    for (int s = 0; s < NSHARED; s++) {
        assert_points(all[s], nall[s], model_sorted(&shared[s]), shared[s].n);
        model_free(&shared[s]);
    }
    for (int id = 0; id < NTHREADS; id++) {
        assert_points(all[NSHARED + id], nall[NSHARED + id],
                      model_sorted(&solo[id]), solo[id].n);
        model_free(&solo[id]);
    }
    for (int i = 0; i < NSHARED + NTHREADS; i++)
        free(all[i]);
    assert_true(seen >= NSHARED + NTHREADS);
    tss_free(pts);
    tss_head_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_rules),
        cmocka_unit_test(test_merge_random),
        cmocka_unit_test(test_window_start),
        cmocka_unit_test(test_append_and_detach),
        cmocka_unit_test(test_out_of_order_beyond_fold),
        cmocka_unit_test(test_five_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
