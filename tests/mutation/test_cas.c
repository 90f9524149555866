/*
 * put_if_match (storage_fs.c), the compare-and-swap every document and
 * tombstone update goes through: its semantics (a stale etag loses and
 * leaves the file alone; TSS_ETAG_NONE creates and loses if the file
 * exists), then races: threads and processes doing read-modify-CAS
 * increments of one counter file, threads adding entries to one tombstone
 * sidecar, two threads applying the same tombstone step at once through
 * separate storage handles, and two processes taking every step of real
 * delete documents at once -- state changes of the document (wal.c) and
 * the tombstone updates of its targets -- each having read before either
 * writes. In every race exactly one contender wins each step, the loser
 * re-reads and finds it done: nothing is lost and nothing is applied
 * twice, and the writer then completes the documents.
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

#include "compact.h"
#include "segment.h"
#include "series.h"
#include "storage.h"
#include "tombstone.h"
#include "wal.h"

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

/* ---- two processes stepping the same documents ------------------------ */

#define NDOCS 6
#define NTARGETS 3
/* per document: intent -> applying (targets), per target the tombstone
 * then the target marked, applying -> visible, head filtered, visible ->
 * compacted */
#define NSTEPS (1 + 2 * NTARGETS + 3)

typedef struct doc_race {
    char ids[NDOCS][37];
    char segs[NTARGETS][192]; /* file names in segments/ */
} doc_race;

/* What one process did: per document and step, whether it won the step
 * and how many races it lost on it. */
typedef struct step_result {
    uint8_t won[NDOCS][NSTEPS];
    uint32_t lost[NDOCS][NSTEPS];
} step_result;

/* The series doc i deletes: h1/cpu-0 or h1/cpu-1 in turn. */
static unsigned doc_series(unsigned i)
{
    return i % 2 ? MU_H1_CPU1 : MU_H1_CPU0;
}

/* Both contenders have read; then both write. */
static void meet(int ready, int go)
{
    char c = 'r';

    if (write(ready, &c, 1) != 1 || read(go, &c, 1) != 1)
        _exit(6);
}

/* True if step `k` is done in document m. */
static bool doc_step_done(const tss_mut *m, int k)
{
    if (k == 0)
        return m->state >= TSS_MS_APPLYING;
    if (k <= 2 * NTARGETS)
        return m->state > TSS_MS_APPLYING || m->targets[(k - 1) / 2].tombstoned;
    if (k == NSTEPS - 3)
        return m->state >= TSS_MS_VISIBLE;
    if (k == NSTEPS - 2)
        return m->head_filtered;
    return m->state >= TSS_MS_COMPACTED;
}

static int doc_step_apply(tss_mut *m, int k, const doc_race *d)
{
    if (k == 0) {
        if (!(m->targets = tss_calloc(NTARGETS, sizeof(*m->targets))))
            return TSS_ENOMEM;
        for (size_t i = 0; i < NTARGETS; i++)
            if (!(m->targets[i].segment = tss_strdup(d->segs[i])))
                return TSS_ENOMEM;
        m->ntargets = NTARGETS;
        m->state = TSS_MS_APPLYING;
    } else if (k <= 2 * NTARGETS) {
        m->targets[(k - 1) / 2].tombstoned = true;
    } else if (k == NSTEPS - 3) {
        m->state = TSS_MS_VISIBLE;
    } else if (k == NSTEPS - 2) {
        m->head_filtered = true;
    } else {
        m->state = TSS_MS_COMPACTED;
    }
    return 0;
}

/* A state change of the document, as mutate.c makes it: read with the
 * etag; done already means someone else won; else change it and
 * put_if_match; a lost race re-reads and retries. */
static int doc_step(tss_storage *st, const doc_race *d, unsigned doc, int k,
                    int ready, int go, step_result *res)
{
    for (int attempt = 0;; attempt++) {
        tss_mut m;
        bool done;
        int rc = tss_mut_read(st, d->ids[doc], &m);

        if (rc)
            return rc;
        done = doc_step_done(&m, k);
        if (attempt == 0)
            meet(ready, go);
        if (!done)
            rc = doc_step_apply(&m, k, d);
        if (!done && rc == 0)
            rc = tss_mut_update(st, &m);
        tss_mut_free(&m);
        if (rc == TSS_ECAS) {
            res->lost[doc][k]++;
            continue;
        }
        if (rc == 0 && !done)
            res->won[doc][k] = 1;
        return rc;
    }
}

/* The tombstone step for target t, as mutate.c takes it: entries of the
 * document for its series, unless the sidecar holds them already. */
static int tomb_doc_step(tss_storage *st, const doc_race *d, unsigned doc,
                         int k, int ready, int go, step_result *res)
{
    char rel[256], trel[128];
    tss_segment *seg;
    tss_mut m;
    int rc;

    snprintf(rel, sizeof(rel), "segments/%s", d->segs[(k - 1) / 2]);
    if ((rc = tss_segment_open(&seg, st, rel)) != 0)
        return rc;
    if ((rc = tss_mut_read(st, d->ids[doc], &m)) != 0) {
        tss_segment_close(seg);
        return rc;
    }
    tss_tomb_path(trel, sizeof(trel), seg->name.uuid);
    for (int attempt = 0;; attempt++) {
        tss_tombstones t;
        tss_buf img = {0};
        uint8_t key[TSS_KEY_MAX];
        size_t len;
        bool done;

        if ((rc = tss_tomb_read(st, seg, &t)) != 0)
            break;
        done = tss_tomb_has_mutation(&t, m.uuid);
        if (attempt == 0)
            meet(ready, go);
        if (!done) {
            unsigned k2 = doc_series(doc);

            rc = tss_key_encode(key, &len, &mu_series[k2], mu_kind[k2]);
            if (rc == 0)
                rc = tss_tomb_push(&t, m.uuid, key, len,
                                   m.has_from ? m.from : INT64_MIN, m.to);
            if (rc == 0)
                rc = tss_tomb_encode(&t, &img);
            if (rc == 0)
                rc = tss_storage_put_if_match(st, trel, t.etag, img.data,
                                              img.len);
        }
        tss_buf_free(&img);
        tss_tomb_free(&t);
        if (rc == TSS_ECAS) {
            res->lost[doc][k]++;
            continue;
        }
        if (rc == 0 && !done)
            res->won[doc][k] = 1;
        break;
    }
    tss_mut_free(&m);
    tss_segment_close(seg);
    return rc;
}

/* A contender: every step of every document, in order, meeting the other
 * one between its read and its write at each. */
static void doc_child(const char *dir, const doc_race *d, int ready, int go,
                      int out)
{
    static step_result res;
    tss_storage *st;
    ssize_t n;

    memset(&res, 0, sizeof(res));
    if (tss_storage_open(&st, dir, NULL, 0) != 0)
        _exit(2);
    for (unsigned doc = 0; doc < NDOCS; doc++)
        for (int k = 0; k < NSTEPS; k++) {
            /* odd steps 1, 3, 5: the tombstone; even 2, 4, 6: the target */
            bool tomb = k >= 1 && k <= 2 * NTARGETS && k % 2 == 1;
            int rc = tomb ? tomb_doc_step(st, d, doc, k, ready, go, &res)
                          : doc_step(st, d, doc, k, ready, go, &res);

            if (rc) {
                fprintf(stderr, "contender %d, document %u, step %d: %d %s\n",
                        (int)getpid(), doc, k, rc, tss_error_last());
                _exit(4);
            }
        }
    tss_storage_close(st);
    n = write(out, &res, sizeof(res));
    _exit(n == (ssize_t)sizeof(res) ? 0 : 5);
}

static bool read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);

        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static void test_processes_document_steps(void **state)
{
    const char *base = *state;
    char dir[4096];
    doc_race d;
    mu_del dels[NDOCS];
    tss_store_options o;
    tt_model m = {0};
    tss_store *s;
    tss_seg_name *segs;
    tss_storage *st;
    size_t nsegs;
    int ready[2][2], go[2][2], out[2][2];
    pid_t pid[2];
    static step_result res[2];
    uint64_t lost = 0;

    tt_join(dir, sizeof(dir), base, "store");
    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, &m, MU_WIN(0), MU_WIN(NTARGETS), 0);
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    for (unsigned i = 0; i < NDOCS; i++) {
        char glob[64];
        tss_delete_spec spec;

        snprintf(glob, sizeof(glob), "h1/cpu-%d/gauge", i % 2);
        /* ranges that differ: each document hides its own points */
        spec = mu_spec(glob, NULL, MU_WIN(0) + (int64_t)i * 10000,
                       MU_WIN(NTARGETS - 1) + (int64_t)i * 5000);
        dels[i] = (mu_del){1UL << doc_series(i), spec.from, spec.to};
        mu_delete_create(s, &spec, d.ids[i]);
    }
    tss_store_close(s);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    assert_int_equal(nsegs, NTARGETS);
    for (size_t i = 0; i < nsegs; i++) {
        char rel[192];

        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        snprintf(d.segs[i], sizeof(d.segs[i]), "%s", rel + strlen("segments/"));
    }
    tss_free(segs);

    fflush(NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pipe(ready[i]), 0);
        assert_int_equal(pipe(go[i]), 0);
        assert_int_equal(pipe(out[i]), 0);
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            close(ready[i][0]);
            close(go[i][1]);
            close(out[i][0]);
            doc_child(dir, &d, ready[i][1], go[i][0], out[i][1]);
        }
        close(ready[i][1]);
        close(go[i][0]);
        close(out[i][1]);
    }
    /* the barrier of every step: both have read, then both may write */
    for (int step = 0; step < NDOCS * NSTEPS; step++) {
        char c;

        for (int i = 0; i < 2; i++)
            if (read(ready[i][0], &c, 1) != 1)
                fail_msg("contender %d died at step %d", i, step);
        for (int i = 0; i < 2; i++)
            assert_int_equal(write(go[i][1], "g", 1), 1);
    }
    for (int i = 0; i < 2; i++) {
        int status;

        if (!read_all(out[i][0], &res[i], sizeof(res[i])))
            fail_msg("contender %d sent no result", i);
        close(out[i][0]);
        close(ready[i][0]);
        close(go[i][1]);
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("contender %d failed (status %#x)", i, status);
    }
    /* each step won once; the other lost its race on it at least once
     * (both had read first), re-read and found it done */
    for (unsigned doc = 0; doc < NDOCS; doc++)
        for (int k = 0; k < NSTEPS; k++) {
            int w = res[0].won[doc][k] + res[1].won[doc][k];

            if (w != 1)
                fail_msg("document %u, step %d: %d winners", doc, k, w);
            if (res[res[0].won[doc][k] ? 1 : 0].lost[doc][k] == 0)
                fail_msg("document %u, step %d: the loser never lost a race",
                         doc, k);
            lost += res[0].lost[doc][k] + res[1].lost[doc][k];
        }
    print_message("2 processes, %d documents x %d steps: each won once, "
                  "%" PRIu64 " races lost\n",
                  NDOCS, NSTEPS, lost);

    /* the documents as the last winners left them; every tombstone
     * sidecar holds each document's entry once */
    for (unsigned doc = 0; doc < NDOCS; doc++) {
        tss_mut mm;

        assert_int_equal(tss_mut_read(st, d.ids[doc], &mm), 0);
        assert_int_equal(mm.state, TSS_MS_COMPACTED);
        assert_true(mm.head_filtered);
        assert_int_equal(mm.ntargets, NTARGETS);
        for (size_t t = 0; t < NTARGETS; t++)
            assert_true(mm.targets[t].tombstoned);
        tss_mut_free(&mm);
    }
    for (size_t t = 0; t < NTARGETS; t++) {
        char rel[256];
        tss_segment *seg;
        tss_tombstones tb;

        snprintf(rel, sizeof(rel), "segments/%s", d.segs[t]);
        assert_int_equal(tss_segment_open(&seg, st, rel), 0);
        assert_int_equal(tss_tomb_read(st, seg, &tb), 0);
        assert_int_equal(tb.n, NDOCS);
        for (unsigned doc = 0; doc < NDOCS; doc++) {
            uuid_t u;
            unsigned count = 0;

            assert_int_equal(uuid_parse(d.ids[doc], u), 0);
            for (size_t e = 0; e < tb.n; e++)
                count += memcmp(tb.entries[e].mutation, u, 16) == 0;
            assert_int_equal(count, 1);
        }
        tss_tomb_free(&tb);
        tss_segment_close(seg);
    }
    tss_storage_close(st);

    /* readers hide every document's points; the writer compacts and
     * completes them; the store is what the deletes leave */
    mu_assert_reader("raced", dir, &m, m.n, dels, NDOCS);
    s = mu_open(dir, TSS_OPEN_WRITER, NULL);
    for (unsigned doc = 0; doc < NDOCS; doc++)
        assert_int_equal(mu_state(s, d.ids[doc]), TSS_MUTATION_REMOVED);
    mu_assert_store("completed", s, &m, m.n, dels, NDOCS);
    mu_assert_verify_clean("completed", s);
    tss_store_close(s);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_semantics),           T(test_threads_increment),
        T(test_processes_increment), T(test_threads_append_tombstones),
        T(test_same_step_twice),     T(test_processes_document_steps),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
