/*
 * kill -9 of a real process during a delete and during a compaction.
 *
 * A child process opens the writer and (a) applies a delete, (b) compacts
 * the windows a visible delete tombstoned and completes the document.
 * Its I/O goes through an ops table that counts the calls that change the
 * disk (open for writing, write, fsync, rename, link, unlink, mkdir,
 * ftruncate); at call N the child tells the parent and stops before making
 * it, and the parent sends it SIGKILL. N takes every value along the path,
 * so the kill lands between every two changes the operation makes. Then
 * rounds where the parent kills the child at a random moment of the
 * operation, with no handshake at all (possibly inside a system call).
 *
 * After each kill: a reader sees the store readable and the delete all or
 * nothing, as the document's state says (never half); the writer, opened
 * again, resumes the delete by itself (its open applies, compacts and
 * completes), exactly the expected points remain, none of the deleted
 * ones is left in a segment file, and verify finds no problem.
 *
 * The parent waits on pipes only: no sleep orders anything.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define H1 (1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1)
#define NOW MU_WIN(20)
#define RANDOM_ROUNDS 40

/* the delete: from the middle of window 1 into the head's window 3 */
static const mu_del DEL = {H1, MU_WIN(1) + 30000, MU_WIN(3) + 14999};

/* ---- the counting ops table (in the child) -------------------------------
 */

static const tss_io_ops *real;
static unsigned long calls, kill_at;
static bool armed;
static int report_fd = -1;

/* A record the child sends the parent. */
typedef struct msg {
    char what;           /* 'I' id follows, 'A' armed, 'K' about to be
                            killed, 'D' done */
    int rc;              /* 'D': the operation's result */
    unsigned long calls; /* 'K', 'D' */
    char id[37];         /* 'I' */
} msg;

static void send_msg(const msg *m)
{
    if (write(report_fd, m, sizeof(*m)) != (ssize_t)sizeof(*m))
        _exit(90);
}

/* Counts a call that changes the disk; at the chosen one, stops for the
 * parent's SIGKILL before making it. */
static void count(void)
{
    if (!armed)
        return;
    calls++;
    if (calls == kill_at) {
        msg m = {'K', 0, calls, ""};

        send_msg(&m);
        for (;;)
            pause();
    }
}

static int k_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    if (flags & (O_CREAT | O_WRONLY | O_RDWR | O_TRUNC))
        count();
    return real->openat(dirfd, path, flags, mode);
}
static ssize_t k_read(int fd, void *buf, size_t n)
{
    return real->read(fd, buf, n);
}
static ssize_t k_pread(int fd, void *buf, size_t n, off_t off)
{
    return real->pread(fd, buf, n, off);
}
static ssize_t k_write(int fd, const void *buf, size_t n)
{
    count();
    return real->write(fd, buf, n);
}
static ssize_t k_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    count();
    return real->pwrite(fd, buf, n, off);
}
static int k_fsync(int fd)
{
    count();
    return real->fsync(fd);
}
static int k_close(int fd)
{
    return real->close(fd);
}
static int k_fstat(int fd, struct stat *st)
{
    return real->fstat(fd, st);
}
static int k_renameat(int od, const char *op, int nd, const char *np)
{
    count();
    return real->renameat(od, op, nd, np);
}
static int k_linkat(int od, const char *op, int nd, const char *np, int flags)
{
    count();
    return real->linkat(od, op, nd, np, flags);
}
static int k_unlinkat(int dirfd, const char *path, int flags)
{
    count();
    return real->unlinkat(dirfd, path, flags);
}
static int k_mkdirat(int dirfd, const char *path, mode_t mode)
{
    count();
    return real->mkdirat(dirfd, path, mode);
}
static int k_ftruncate(int fd, off_t length)
{
    count();
    return real->ftruncate(fd, length);
}
static int k_flock(int fd, int operation)
{
    return real->flock(fd, operation);
}
static DIR *k_fdopendir(int fd)
{
    return real->fdopendir(fd);
}
static struct dirent *k_readdir(DIR *dir)
{
    return real->readdir(dir);
}
static int k_closedir(DIR *dir)
{
    return real->closedir(dir);
}

static const tss_io_ops kill_ops = {.openat = k_openat,
                                    .read = k_read,
                                    .pread = k_pread,
                                    .write = k_write,
                                    .pwrite = k_pwrite,
                                    .fsync = k_fsync,
                                    .close = k_close,
                                    .fstat = k_fstat,
                                    .renameat = k_renameat,
                                    .linkat = k_linkat,
                                    .unlinkat = k_unlinkat,
                                    .mkdirat = k_mkdirat,
                                    .ftruncate = k_ftruncate,
                                    .flock = k_flock,
                                    .fdopendir = k_fdopendir,
                                    .readdir = k_readdir,
                                    .closedir = k_closedir,
                                    .ctx = NULL};

/* ---- the cases ------------------------------------------------------------
 */

typedef struct kill_case {
    const char *name;
    bool visible_before; /* the template holds the delete visible */
    int (*run)(tss_store *s);
} kill_case;

static int run_apply(tss_store *s)
{
    return tss_store_apply_mutations(s, NOW, NULL);
}

static int run_compact(tss_store *s)
{
    int rc = tss_store_compact(s, NOW, 0, NULL);

    return rc ? rc : tss_store_apply_mutations(s, NOW, NULL);
}

static const kill_case CASES[] = {
    {"apply", false, run_apply},
    {"compact", true, run_compact},
};

/* Windows 0-2 sealed (1 in two segments), window 3 in the head's
 * snapshot; for the compaction, the delete made visible (compaction off,
 * so it stays so). */
static void make_template(const char *tpl, const kill_case *c, tt_model *m,
                          char id[37])
{
    tss_store_options o;
    tss_store *s;

    mu_options(&o, NULL, 0);
    s = mu_open(tpl, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, m, MU_WIN(0), MU_WIN(2), 0);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(1) + 40000, MU_WIN(3), 1);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(3), MU_WIN(3) + 30000, 0);
    assert_int_equal(tss_store_snapshot(s, NOW, TSS_SNAP_SYNC), 0);
    if (c->visible_before) {
        tss_delete_spec spec = mu_spec("h1/*", NULL, DEL.from, DEL.to);

        mu_delete_create(s, &spec, id);
        assert_int_equal(tss_store_apply_mutations(s, NOW, NULL), 0);
        assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    }
    tss_store_close(s);
}

/* The child: open the writer through the counting table, create the
 * delete (case a), then run the operation with call `at` stopping it (0:
 * none). Never returns. */
static void child(const char *dir, const kill_case *c, const char *tpl_id,
                  unsigned long at)
{
    tss_store_options o;
    tss_store *s;
    msg m = {'I', 0, 0, ""};
    int rc;

    real = tss_io_default();
    mu_options(&o, &kill_ops, 0);
    if (tss_store_open(&s, dir, TSS_OPEN_WRITER, &o) != 0)
        _exit(91);
    if (c->visible_before) {
        memcpy(m.id, tpl_id, 37);
    } else {
        tss_delete_spec spec = mu_spec("h1/*", NULL, DEL.from, DEL.to);

        if (tss_delete_create(s, &spec, m.id) != 0)
            _exit(92);
    }
    send_msg(&m);
    calls = 0;
    kill_at = at;
    armed = true;
    m.what = 'A';
    send_msg(&m);
    rc = c->run(s);
    m.what = 'D';
    m.rc = rc;
    m.calls = calls;
    send_msg(&m);
    tss_store_close(s);
    _exit(0);
}

static bool read_msg(int fd, msg *m)
{
    size_t got = 0;

    while (got < sizeof(*m)) {
        ssize_t r = read(fd, (char *)m + got, sizeof(*m) - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* What the kills found. */
typedef struct tally {
    unsigned killed;   /* the child died of the SIGKILL */
    unsigned saw_with; /* ... and a reader then saw the delete */
} tally;

/* One run: the child stopped at call `at` and killed there (at > 0), or
 * killed after `spin` idle loops from the moment it is armed (at == 0,
 * spin > 0), or let finish (both 0). Checks the store after it. Returns
 * the calls the operation made (when it finished). */
static unsigned long one_run(const char *tpl, const char *dir,
                             const kill_case *c, const char *tpl_id,
                             const tt_model *m, unsigned long at, uint64_t spin,
                             tally *t)
{
    char what[128];
    int pfd[2], status, seen, state;
    unsigned long done_calls = 0;
    bool killed = false, finished = false;
    msg rec, id;
    tss_store *r;
    pid_t pid;

    snprintf(what, sizeof(what), "%s, %s %lu", c->name,
             at ? "SIGKILL before changing call" : "SIGKILL after spin",
             at ? at : (unsigned long)spin);
    tt_rmrf(dir);
    tt_copy_tree(tpl, dir);
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        report_fd = pfd[1];
        child(dir, c, tpl_id, at);
    }
    close(pfd[1]);
    if (!read_msg(pfd[0], &id) || id.what != 'I' || !read_msg(pfd[0], &rec) ||
        rec.what != 'A')
        fail_msg("%s: the child failed before the operation", what);
    if (at == 0 && spin > 0) {
        /* a random moment: no handshake, the child runs on meanwhile */
        for (volatile uint64_t i = 0; i < spin; i++)
            ;
        assert_int_equal(kill(pid, SIGKILL), 0);
        killed = true;
    } else if (!read_msg(pfd[0], &rec)) {
        fail_msg("%s: the child died on its own", what);
    } else if (rec.what == 'K') {
        assert_true(rec.calls == at);
        assert_int_equal(kill(pid, SIGKILL), 0);
        killed = true;
    } else {
        assert_true(rec.what == 'D');
        if (rec.rc != 0)
            fail_msg("%s: the operation failed: %d", what, rec.rc);
        finished = true;
        done_calls = rec.calls;
    }
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (killed && WIFSIGNALED(status)) {
        assert_int_equal(WTERMSIG(status), SIGKILL);
        t->killed++;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: child status %#x", what, status);
    if (at && !finished && !killed)
        fail_msg("%s: neither killed nor finished", what);

    /* readable, and the delete all or nothing, as its document says */
    r = mu_open(dir, 0, NULL);
    seen = mu_which_view(what, r, m, &DEL);
    state = mu_state(r, id.id);
    if (seen !=
        (state == TSS_MUTATION_VISIBLE || state == TSS_MUTATION_COMPACTED ||
         state == TSS_MUTATION_REMOVED))
        fail_msg("%s: the reader sees the store %s the delete, whose "
                 "document is in state %d",
                 what, seen ? "after" : "before", state);
    if (c->visible_before && !seen)
        fail_msg("%s: a visible delete came back", what);
    if (killed && WIFSIGNALED(status))
        t->saw_with += (unsigned)seen;
    tss_store_close(r);

    /* the writer resumes it by itself at its open */
    r = mu_open(dir, TSS_OPEN_WRITER, NULL);
    if (mu_state(r, id.id) != TSS_MUTATION_REMOVED)
        fail_msg("%s: the reopened writer left the delete in state %d", what,
                 mu_state(r, id.id));
    mu_assert_store(what, r, m, m->n, &DEL, 1);
    mu_assert_verify_clean(what, r);
    tss_store_close(r);
    mu_assert_reader(what, dir, m, m->n, &DEL, 1);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_int_equal(mu_count_suffix(dir, "wal/mutations", ".json"), 0);
    assert_int_equal(mu_segments_hold_deleted(dir, &DEL), 0);
    return done_calls;
}

static void every_kill(const char *base, const kill_case *c)
{
    char tpl[4096], dir[4096], id[37] = "";
    tt_model m = {0};
    tally every = {0, 0}, rnd = {0, 0}, none = {0, 0};
    unsigned long total;
    uint64_t rng = 0x6b696c6c2d39ULL ^ (uint64_t)getpid();

    tt_join(tpl, sizeof(tpl), base, c->name);
    tt_join(dir, sizeof(dir), base, "run");
    make_template(tpl, c, &m, id);
    total = one_run(tpl, dir, c, id, &m, 0, 0, &none);
    assert_true(total > 10);
    for (unsigned long n = 1; n <= total; n++)
        one_run(tpl, dir, c, id, &m, n, 0, &every);
    assert_int_equal(every.killed, total);
    /* the apply path is killed both before and after it became visible */
    assert_true(every.saw_with > 0 &&
                (c->visible_before || every.saw_with < total));
    for (int i = 0; i < RANDOM_ROUNDS; i++)
        one_run(tpl, dir, c, id, &m, 0, 1 + tt_below(&rng, 2000000), &rnd);
    print_message("%s: killed before each of %lu changing calls (%u saw the "
                  "delete after), and %u of %d times at a random moment "
                  "(%u saw it after); each time resumed and clean\n",
                  c->name, total, every.saw_with, rnd.killed, RANDOM_ROUNDS,
                  rnd.saw_with);
    tt_model_free(&m);
}

static void test_kill_applying(void **state)
{
    every_kill(*state, &CASES[0]);
}

static void test_kill_compacting(void **state)
{
    every_kill(*state, &CASES[1]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_kill_applying),
        T(test_kill_compacting),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
