/*
 * put_if_match (storage_fs.c), the compare-and-swap every document and
 * tombstone update goes through: its semantics (a stale etag loses and
 * leaves the file alone; TSS_ETAG_NONE creates and loses if the file
 * exists), then races: threads and processes doing read-modify-CAS
 * increments of one counter file, threads adding entries to one tombstone
 * sidecar, and two threads applying the same tombstone step at once
 * through separate storage handles. In every race exactly one contender
 * wins each step: nothing is lost and nothing is applied twice.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "segment.h"
#include "series.h"
#include "storage.h"
#include "tombstone.h"

#define COUNTER "cas/counter"

static tss_storage *open_storage(const char *dir)
{
    tss_storage *st;

    if (tss_storage_open(&st, dir, NULL, 1) != 0)
        fail_msg("storage %s: %s", dir, tss_error_last());
    return st;
}

static void assert_content(const char *dir, const char *rel, const char *want)
{
    char path[4096];
    uint8_t *buf;
    size_t len;

    tt_join(path, sizeof(path), dir, rel);
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    if (len != strlen(want) || memcmp(buf, want, len) != 0)
        fail_msg("%s holds \"%.*s\", want \"%s\"", rel, (int)len, buf, want);
    free(buf);
}

static uint64_t etag_of(const char *s)
{
    return tss_storage_etag(s, strlen(s));
}

static void test_semantics(void **state)
{
    const char *dir = *state;
    tss_storage *st = open_storage(dir);
    char path[4096];
    uint8_t *buf;
    size_t len;
    uint64_t etag;

    assert_int_equal(tss_storage_mkdirs(st, "cas"), 0);
    /* etags are content hashes and never "does not exist" */
    assert_true(tss_storage_etag("", 0) != TSS_ETAG_NONE);
    assert_true(etag_of("a") != etag_of("b"));

    /* TSS_ETAG_NONE creates ... */
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, TSS_ETAG_NONE, "a", 1), 0);
    assert_content(dir, COUNTER, "a");
    assert_int_equal(tss_storage_read_etag(st, COUNTER, 64, &buf, &len, &etag),
                     0);
    assert_true(etag == etag_of("a"));
    tss_free(buf);
    /* ... and loses when the file exists, leaving it alone */
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, TSS_ETAG_NONE, "b", 1), TSS_ECAS);
    tt_assert_msg_has(COUNTER);
    assert_content(dir, COUNTER, "a");

    /* a stale etag loses */
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, etag_of("x"), "c", 1), TSS_ECAS);
    assert_content(dir, COUNTER, "a");
    /* the current one wins, once */
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, etag_of("a"), "cc", 2), 0);
    assert_content(dir, COUNTER, "cc");
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, etag_of("a"), "d", 1), TSS_ECAS);
    assert_content(dir, COUNTER, "cc");
    /* an empty file is a file */
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, etag_of("cc"), "", 0), 0);
    assert_content(dir, COUNTER, "");
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, TSS_ETAG_NONE, "e", 1), TSS_ECAS);
    assert_int_equal(
        tss_storage_put_if_match(st, COUNTER, tss_storage_etag("", 0), "f", 1),
        0);
    assert_content(dir, COUNTER, "f");

    /* expecting content of a file that does not exist loses; nothing is
     * created */
    assert_int_equal(
        tss_storage_put_if_match(st, "cas/missing", etag_of("f"), "g", 1),
        TSS_ECAS);
    tt_join(path, sizeof(path), dir, "cas/missing");
    assert_false(tt_exists(path));
    /* losers and winners leave no temp files */
    tt_join(path, sizeof(path), dir, "cas");
    assert_int_equal(tt_count_prefix(path, ".tmp-"), 0);
    tss_storage_close(st);
}

/* ---- counter races ---------------------------------------------------- */

typedef struct worker {
    tss_storage *st;
    pthread_barrier_t *start;
    unsigned k;    /* steps to win */
    uint32_t *won; /* the values this worker wrote */
    unsigned nwon;
    uint64_t lost; /* CAS failures */
    int rc;        /* first unexpected error */
    char err[256];
} worker;

/* One read-modify-CAS increment, retried until it wins. */
static int increment(worker *w)
{
    for (;;) {
        char text[32];
        uint8_t *buf = NULL;
        size_t len = 0;
        uint64_t etag, v = 0;
        int rc = tss_storage_read_etag(w->st, COUNTER, 31, &buf, &len, &etag);

        if (rc == TSS_ENOTFOUND) {
            etag = TSS_ETAG_NONE;
        } else if (rc) {
            return rc;
        } else {
            memcpy(text, buf, len);
            text[len] = '\0';
            v = strtoull(text, NULL, 10);
            tss_free(buf);
        }
        snprintf(text, sizeof(text), "%" PRIu64 "\n", v + 1);
        rc = tss_storage_put_if_match(w->st, COUNTER, etag, text, strlen(text));
        if (rc == TSS_ECAS) {
            w->lost++;
            continue;
        }
        if (rc == 0)
            w->won[w->nwon++] = (uint32_t)(v + 1);
        return rc;
    }
}

static void run_increments(worker *w)
{
    for (unsigned i = 0; i < w->k && w->rc == 0; i++)
        if ((w->rc = increment(w)) != 0)
            snprintf(w->err, sizeof(w->err), "%s", tss_error_last());
}

static void *increment_thread(void *arg)
{
    worker *w = arg;

    pthread_barrier_wait(w->start);
    run_increments(w);
    return NULL;
}

/* Every value 1..total was written by exactly one winner. */
static void assert_each_step_once(uint32_t *const *won, const unsigned *nwon,
                                  size_t nworkers, unsigned total)
{
    unsigned char *seen = calloc(total + 1, 1);
    unsigned sum = 0;

    assert_non_null(seen);
    for (size_t i = 0; i < nworkers; i++) {
        sum += nwon[i];
        for (unsigned j = 0; j < nwon[i]; j++) {
            uint32_t v = won[i][j];

            if (v < 1 || v > total)
                fail_msg("worker %zu wrote %u, outside 1..%u", i, v, total);
            if (seen[v]++)
                fail_msg("value %u was written by two winners", v);
            if (j > 0 && won[i][j - 1] >= v)
                fail_msg("worker %zu went backwards: %u then %u", i,
                         won[i][j - 1], v);
        }
    }
    assert_int_equal(sum, total);
    free(seen);
}

#define NTHREADS 8
#define KTHREAD 150

static void test_threads_increment(void **state)
{
    const char *dir = *state;
    pthread_t th[NTHREADS];
    pthread_barrier_t start;
    worker w[NTHREADS];
    tss_storage *shared = open_storage(dir);
    uint32_t *won[NTHREADS];
    unsigned nwon[NTHREADS];
    uint64_t lost = 0;
    char want[32];

    assert_int_equal(tss_storage_mkdirs(shared, "cas"), 0);
    assert_int_equal(pthread_barrier_init(&start, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        /* half share one handle, half have their own */
        w[i].st = i % 2 ? open_storage(dir) : shared;
        w[i].start = &start;
        w[i].k = KTHREAD;
        w[i].won = calloc(KTHREAD, sizeof(uint32_t));
        assert_non_null(w[i].won);
        assert_int_equal(pthread_create(&th[i], NULL, increment_thread, &w[i]),
                         0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (w[i].rc)
            fail_msg("thread %d: %d %s", i, w[i].rc, w[i].err);
        won[i] = w[i].won;
        nwon[i] = w[i].nwon;
    }
    snprintf(want, sizeof(want), "%u\n", NTHREADS * KTHREAD);
    assert_content(dir, COUNTER, want);
    assert_each_step_once(won, nwon, NTHREADS, NTHREADS * KTHREAD);
    for (int i = 0; i < NTHREADS; i++)
        lost += w[i].lost;
    print_message("%d threads: %u increments, %" PRIu64 " lost races\n",
                  NTHREADS, NTHREADS * KTHREAD, lost);
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].st != shared)
            tss_storage_close(w[i].st);
        free(w[i].won);
    }
    pthread_barrier_destroy(&start);
    tss_storage_close(shared);
}

#define NPROCS 2
#define KPROC 250

/* A child: increments and reports what it won through the pipe. */
static void child(const char *dir, int fd, int go)
{
    worker w;
    uint32_t won[KPROC];
    char c;
    ssize_t n;

    memset(&w, 0, sizeof(w));
    if (tss_storage_open(&w.st, dir, NULL, 0) != 0)
        _exit(2);
    w.k = KPROC;
    w.won = won;
    if (read(go, &c, 1) != 1) /* start together */
        _exit(3);
    run_increments(&w);
    if (w.rc) {
        fprintf(stderr, "child %d: %d %s\n", (int)getpid(), w.rc, w.err);
        _exit(4);
    }
    n = write(fd, won, w.nwon * sizeof(uint32_t));
    _exit(n == (ssize_t)(w.nwon * sizeof(uint32_t)) ? 0 : 5);
}

static void test_processes_increment(void **state)
{
    const char *dir = *state;
    tss_storage *st = open_storage(dir);
    int out[NPROCS][2], go[2];
    pid_t pid[NPROCS];
    uint32_t *won[NPROCS];
    unsigned nwon[NPROCS];
    char want[32];

    assert_int_equal(tss_storage_mkdirs(st, "cas"), 0);
    tss_storage_close(st);
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < NPROCS; i++) {
        assert_int_equal(pipe(out[i]), 0);
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            close(out[i][0]);
            close(go[1]);
            child(dir, out[i][1], go[0]);
        }
        close(out[i][1]);
    }
    close(go[0]);
    assert_int_equal(write(go[1], "gg", NPROCS), NPROCS);
    close(go[1]);
    for (int i = 0; i < NPROCS; i++) {
        size_t got = 0;
        ssize_t r;
        int status;

        won[i] = calloc(KPROC, sizeof(uint32_t));
        assert_non_null(won[i]);
        while ((r = read(out[i][0], (char *)won[i] + got,
                         KPROC * sizeof(uint32_t) - got)) > 0)
            got += (size_t)r;
        close(out[i][0]);
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("child %d failed (status %#x)", i, status);
        assert_int_equal(got % sizeof(uint32_t), 0);
        nwon[i] = (unsigned)(got / sizeof(uint32_t));
        assert_int_equal(nwon[i], KPROC);
    }
    snprintf(want, sizeof(want), "%u\n", NPROCS * KPROC);
    assert_content(dir, COUNTER, want);
    assert_each_step_once(won, nwon, NPROCS, NPROCS * KPROC);
    for (int i = 0; i < NPROCS; i++)
        free(won[i]);
}

/* ---- tombstone races -------------------------------------------------- */

/* A store with one segment holding every test series; returns its path
 * relative to the store in rel[192]. */
static void one_segment(const char *dir, char rel[192])
{
    tss_store_options o;
    tt_model m = {0};
    tss_store *s;
    char path[4096], names[512];

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, &m, MU_WIN(0), MU_WIN(1), 0);
    assert_int_equal(tss_store_seal(s, MU_WIN(5), TSS_SEAL_ALL, NULL), 0);
    tss_store_close(s);
    tt_model_free(&m);
    tt_join(path, sizeof(path), dir, "segments");
    tt_list(path, "", names, sizeof(names));
    assert_non_null(strstr(names, ".seg"));
    assert_null(strchr(names, ','));
    assert_true(strlen(names) < 192 - strlen("segments/"));
    snprintf(rel, 192, "segments/%.182s", names);
}

typedef struct tomb_worker {
    const char *dir, *rel;
    pthread_barrier_t *start, *mid;
    unsigned rounds;
    uint8_t (*muts)[16]; /* the mutation of each round */
    unsigned nkeys;      /* entries per mutation: series 0..nkeys-1 */
    uint64_t lost;
    int rc;
    char err[256];
} tomb_worker;

/*
 * The delete's tombstone step, as mutate.c takes it: read the sidecar; if
 * it already holds entries of this mutation, someone did the step; else
 * add them and put_if_match on the etag read, retrying a lost race. With
 * `mid`, every contender has read before any of them puts (first attempt).
 */
static int tomb_step(tss_storage *st, tss_segment *seg, const uint8_t mut[16],
                     unsigned nkeys, pthread_barrier_t *mid, uint64_t *lost)
{
    char trel[128];

    tss_tomb_path(trel, sizeof(trel), seg->name.uuid);
    for (int attempt = 0;; attempt++) {
        tss_tombstones t;
        tss_buf img = {0};
        int rc = tss_tomb_read(st, seg, &t);
        bool done = rc == 0 && tss_tomb_has_mutation(&t, mut);

        for (unsigned k = 0; k < nkeys && rc == 0 && !done; k++) {
            uint8_t key[TSS_KEY_MAX];
            size_t len;

            rc = tss_key_encode(key, &len, &mu_series[k], mu_kind[k]);
            if (rc == 0)
                rc = tss_tomb_push(&t, mut, key, len, MU_WIN(0) + k,
                                   MU_WIN(1) - 1);
        }
        if (rc == 0 && !done)
            rc = tss_tomb_encode(&t, &img);
        if (attempt == 0 && mid)
            pthread_barrier_wait(mid);
        if (rc == 0 && !done)
            rc = tss_storage_put_if_match(st, trel, t.etag, img.data, img.len);
        tss_buf_free(&img);
        tss_tomb_free(&t);
        if (rc != TSS_ECAS)
            return rc;
        (*lost)++;
    }
}

static void *tomb_thread(void *arg)
{
    tomb_worker *w = arg;
    tss_storage *st = NULL;
    tss_segment *seg = NULL;

    /* a separate handle per contender, as separate processes have */
    if ((w->rc = tss_storage_open(&st, w->dir, NULL, 0)) == 0)
        w->rc = tss_segment_open(&seg, st, w->rel);
    if (w->rc)
        snprintf(w->err, sizeof(w->err), "%s", tss_error_last());
    for (unsigned r = 0; r < w->rounds; r++) {
        int rc;

        pthread_barrier_wait(w->start);
        if (w->rc) { /* still meet the others half way */
            if (w->mid)
                pthread_barrier_wait(w->mid);
            continue;
        }
        rc = tomb_step(st, seg, w->muts[r], w->nkeys, w->mid, &w->lost);
        if (rc) {
            w->rc = rc;
            snprintf(w->err, sizeof(w->err), "%s", tss_error_last());
        }
    }
    tss_segment_close(seg);
    tss_storage_close(st);
    return NULL;
}

/* Runs `n` contenders for `rounds` rounds. Unless `same`, contender i adds
 * mutation muts[i * rounds + r] in round r; with `same`, all take the same
 * step, muts[r], having all read the sidecar before any puts. Returns the
 * races lost. */
static uint64_t race_tombstones(const char *dir, const char *rel, int n,
                                unsigned rounds, uint8_t (*muts)[16], bool same,
                                unsigned nkeys)
{
    pthread_t th[NTHREADS];
    tomb_worker w[NTHREADS];
    pthread_barrier_t start, mid;
    uint64_t lost = 0;

    assert_true(n <= NTHREADS);
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
    assert_int_equal(pthread_barrier_init(&mid, NULL, (unsigned)n), 0);
    for (int i = 0; i < n; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].dir = dir;
        w[i].rel = rel;
        w[i].start = &start;
        w[i].mid = same ? &mid : NULL;
        w[i].rounds = rounds;
        w[i].muts = same ? muts : muts + (size_t)i * rounds;
        w[i].nkeys = nkeys;
        assert_int_equal(pthread_create(&th[i], NULL, tomb_thread, &w[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (w[i].rc)
            fail_msg("contender %d: %d %s", i, w[i].rc, w[i].err);
        lost += w[i].lost;
    }
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&mid);
    return lost;
}

/* The sidecar as it is now: entries per mutation of muts[0..nmuts). */
static void assert_entries(const char *dir, const char *rel,
                           uint8_t (*muts)[16], size_t nmuts, unsigned nkeys)
{
    tss_storage *st = open_storage(dir);
    tss_segment *seg;
    tss_tombstones t;

    assert_int_equal(tss_segment_open(&seg, st, rel), 0);
    if (tss_tomb_read(st, seg, &t) != 0)
        fail_msg("tombstones: %s", tss_error_last());
    assert_true(t.etag != TSS_ETAG_NONE);
    assert_int_equal(t.n, nmuts * nkeys);
    for (size_t i = 0; i < nmuts; i++) {
        unsigned count = 0, keys = 0;

        for (size_t e = 0; e < t.n; e++) {
            if (memcmp(t.entries[e].mutation, muts[i], 16) != 0)
                continue;
            for (unsigned k = 0; k < nkeys; k++) {
                uint8_t key[TSS_KEY_MAX];
                size_t len;

                assert_int_equal(
                    tss_key_encode(key, &len, &mu_series[k], mu_kind[k]), 0);
                if (len == t.entries[e].key_len &&
                    memcmp(key, t.entries[e].key, len) == 0 &&
                    t.entries[e].from == MU_WIN(0) + k &&
                    t.entries[e].to == MU_WIN(1) - 1)
                    keys |= 1u << k;
            }
            count++;
        }
        if (count != nkeys || keys != (1u << nkeys) - 1)
            fail_msg("mutation %zu: %u entries (keys %#x), want each of %u "
                     "once",
                     i, count, keys, nkeys);
    }
    tss_tomb_free(&t);
    tss_segment_close(seg);
    tss_storage_close(st);
}

#define TROUNDS 40

static void test_threads_append_tombstones(void **state)
{
    const char *dir = *state;
    char rel[192];
    uint8_t(*muts)[16] = calloc(NTHREADS * TROUNDS, 16);

    assert_non_null(muts);
    one_segment(dir, rel);
    for (size_t i = 0; i < NTHREADS * TROUNDS; i++)
        uuid_generate(muts[i]);
    /* every contender adds its own mutations: all of them arrive */
    (void)race_tombstones(dir, rel, NTHREADS, TROUNDS, muts, false, 2);
    assert_entries(dir, rel, muts, NTHREADS * TROUNDS, 2);
    free(muts);
}

static void test_same_step_twice(void **state)
{
    const char *dir = *state;
    char rel[192];
    uint8_t muts[TROUNDS][16];

    one_segment(dir, rel);
    for (size_t i = 0; i < TROUNDS; i++)
        uuid_generate(muts[i]);
    /* two contenders take the same step each round, both from the same
     * read: one wins, the other loses the race, reads again and finds the
     * step done; its entries are there exactly once */
    assert_int_equal(race_tombstones(dir, rel, 2, TROUNDS, muts, true, 3),
                     TROUNDS);
    assert_entries(dir, rel, muts, TROUNDS, 3);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_semantics),           T(test_threads_increment),
        T(test_processes_increment), T(test_threads_append_tombstones),
        T(test_same_step_twice),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
