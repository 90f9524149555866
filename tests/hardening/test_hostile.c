/*
 * Hostile stores (issue 9, point 4): symlinks planted in a store, files we
 * may not read, a read-only DataDir, a full disk, a second writer.
 *
 *  - symlink_segment: a segment replaced by a symlink to a copy outside
 *    the store: readers never read it (the file counts as unreadable and
 *    the log names it), verify names it, the writer's passes never touch
 *    what it points to, and prune removes the link, not its target.
 *  - symlink_temps: symlinks with temp names, stale (removed at the
 *    writer's open, not followed) and planted the instant before the
 *    writer creates a file there (through the ops table: every create
 *    runs into one): the create fails (O_EXCL, O_NOFOLLOW), nothing is
 *    created or written outside; once they stop, everything is written.
 *  - symlink_names: LOCK, STORE, and the directories segments/ and head/
 *    as symlinks out of the store: a clear error, the outside untouched.
 *  - unreadable: a segment we may not read (EACCES through the ops table;
 *    and for real: as root, a child that drops to nobody, or chmod when
 *    not root), through the core and through `tsstore dump`: the rest is
 *    read, the file is named, the exit status says so; a store directory
 *    we may not read: a clear error at open.
 *  - readonly: a DataDir on a read-only file system (EROFS through the
 *    ops table; and for real when a private mount namespace is allowed: a
 *    read-only bind mount): the writer's open says "Read-only file
 *    system" with the path, readers read everything.
 *  - full_disk: ENOSPC on every write for a while (the ops table; and for
 *    real, a 256 KiB tmpfs in a private mount namespace when allowed):
 *    errors say "No space left on device" with the path, the writer keeps
 *    the data, and once there is room again writes it all.
 *  - second_writer: a second process that opens the store as a writer
 *    gets TSS_ELOCKED naming the holder's pid; so do `tsstore verify
 *    --repair` and `tsstore import` (exit status 1, "locked" on stderr).
 *
 * argv[1]: the tsstore CLI.
 */
#define _GNU_SOURCE
#include "hd_util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsstore/verify.h"

static const char *cli;

/* ---- helpers --------------------------------------------------------------
 */

/* Rows and errors of a reader's query; log lines in *log. */
static uint64_t reader_query(const char *dir, const tss_io_ops *io, tt_log *log,
                             size_t *nrows)
{
    tss_store_options o;
    tss_store *s = NULL;
    tt_series *v;
    uint64_t errors;
    size_t n;
    tss_filter f;
    int rc;

    hd_options(&o, io);
    o.log = tt_log_fn;
    o.log_ctx = log;
    rc = tss_store_open(&s, dir, 0, &o);
    if (rc != 0)
        fail_msg("reader open: %d %s", rc, tss_error_last());
    memset(&f, 0, sizeof(f));
    f.resolution = TSS_RES_AUTO;
    n = tt_query(s, &f, &v, &errors);
    *nrows = 0;
    for (size_t i = 0; i < n; i++)
        *nrows += v[i].n;
    tt_series_free(v, n);
    tss_store_close(s);
    return errors;
}

typedef struct finding_log {
    char files[16][256];
    size_t n;
} finding_log;

static void on_problem(void *ctx, int sev, const char *file, const char *what)
{
    finding_log *l = ctx;

    if (sev == TSS_VERIFY_PROBLEM && l->n < 16)
        snprintf(l->files[l->n++], sizeof(l->files[0]), "%s: %s", file, what);
}

static bool findings_have(const finding_log *l, const char *needle)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->files[i], needle))
            return true;
    return false;
}

static void log_must_have(const tt_log *l, const char *a, const char *b)
{
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->msg[i], a) && (!b || strstr(l->msg[i], b)))
            return;
    fail_msg("no log line with \"%s\"%s%s (%zu lines%s%s)", a, b ? " and " : "",
             b ? b : "", l->n, l->n ? ", first: " : "", l->n ? l->msg[0] : "");
}

static void make_outside(const char *base, char *out, size_t size)
{
    tt_join(out, size, base, "outside");
    assert_int_equal(mkdir(out, 0755), 0);
}

static void abs_join(char *out, size_t size, const char *dir, const char *rel)
{
    char cwd[4096];

    if (dir[0] == '/') {
        tt_join(out, size, dir, rel);
        return;
    }
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_true((size_t)snprintf(out, size, "%s/%s/%s", cwd, dir, rel) < size);
}

/* Runs fn in a child process; returns its exit status (77: skipped). */
static int in_child(int (*fn)(void *), void *arg)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        fflush(stdout);
        _exit(fn(arg));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* A private mount namespace for this process (once): what the tests
 * mount is seen by nobody else and goes with the process. False if not
 * allowed (not root, or in a container without CAP_SYS_ADMIN). */
static bool private_mounts(void)
{
    static int done = -1;

    if (done < 0)
        done = unshare(CLONE_NEWNS) == 0 &&
               mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
    return done == 1;
}

/* Runs argv[0] as nobody (when root) with stdout and stderr in out[size];
 * returns its exit status. */
static int run_as_nobody(char *const argv[], char *out, size_t size)
{
    int pfd[2], status;
    size_t used = 0;
    pid_t pid;

    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
                               setuid(65534) != 0))
            _exit(126);
        dup2(pfd[1], STDOUT_FILENO);
        dup2(pfd[1], STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t r = read(pfd[0], out + used, size - 1 - used);

        if (r <= 0)
            break;
        used += (size_t)r;
    }
    out[used] = '\0';
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define CHILD_CHECK(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            return 1;                                                          \
        }                                                                      \
    } while (0)

/* ---- symlinks -------------------------------------------------------------
 */

static void test_symlink_segment(void **state)
{
    char dir[4096], out[4096], target[4096], link[4096], rel[256];
    hd_tree before, after;
    tss_store_options o;
    finding_log fl = {0};
    tss_verify_report rep;
    tt_log log = {0};
    tss_store *s;
    ru_seg *v;
    size_t n, rows, all_rows;

    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    reader_query(dir, NULL, &log, &all_rows);
    make_outside(*state, out, sizeof(out));
    n = ru_list_segments(dir, &v);
    assert_true(n >= 3);
    assert_int_equal(v[0].start, HD_W_OLD);
    /* a copy that would decode fine, were it followed */
    snprintf(rel, sizeof(rel), "segments/%s", v[0].name);
    tt_join(link, sizeof(link), dir, rel);
    abs_join(target, sizeof(target), out, "copy.seg");
    {
        uint8_t *buf;
        size_t len;

        assert_int_equal(tt_slurp(link, &buf, &len), 0);
        tt_spit(target, buf, len);
        free(buf);
    }
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink(target, link), 0);
    hd_tree_list(out, &before);

    /* readers: the link is not read, and said to be unreadable */
    memset(&log, 0, sizeof(log));
    assert_int_equal(reader_query(dir, NULL, &log, &rows), 1);
    assert_int_equal(rows, all_rows - 60 * HD_NSERIES);
    log_must_have(&log, v[0].name, "symbolic link is not followed");
    hd_options(&o, NULL);
    s = ru_open(dir, 0, &o);
    assert_int_equal(tss_verify(s, 0, on_problem, NULL, &fl, &rep), 0);
    if (!findings_have(&fl, v[0].name))
        fail_msg("verify does not name the linked segment (%zu problems)",
                 fl.n);
    tss_store_close(s);

    /* the writer's passes: open, seal, rollup, compaction, prune */
    memset(&log, 0, sizeof(log));
    o.log = tt_log_fn;
    o.log_ctx = &log;
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL), 0);
    (void)!tss_store_rollup(s, RU_NOW, NULL);
    (void)!tss_store_compact(s, RU_NOW, TSS_COMPACT_MERGE, NULL);
    assert_int_equal(tss_store_prune(s, RU_NOW, NULL), 0);
    tss_store_close(s);
    /* prune removed the link (the window is past retention) */
    assert_false(tt_exists(link));
    hd_tree_list(out, &after);
    hd_tree_assert_same("outside the store", &before, &after);
    hd_tree_free(&before);
    hd_tree_free(&after);
    free(v);
}

typedef struct planter {
    char target_dir[4096];
    unsigned planted;
    bool on;
} planter;

/* Every create runs into a symlink planted there the instant before. */
static int plant_rule(void *ctx, const char *op, int dirfd, const char *path,
                      int flags)
{
    planter *p = ctx;
    char target[4200];
    struct stat sb;

    if (!p->on || strcmp(op, "openat") != 0 || !(flags & O_CREAT) ||
        fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    snprintf(target, sizeof(target), "%s/planted-%u", p->target_dir,
             p->planted);
    if (symlinkat(target, dirfd, path) == 0)
        p->planted++;
    return 0;
}

static void test_symlink_temps(void **state)
{
    static const char *const dirs[] = {"segments", "head", "_coverage/segments",
                                       "_coverage/table", "."};
    char dir[4096], out[4096], victim[4096], path[8400];
    hd_fault *f = calloc(1, sizeof(*f));
    planter pl = {0};
    tss_store_options o;
    tss_delete_spec d = hd_delete_spec();
    hd_tree before, after;
    tss_store *s;
    ru_rows want, got;
    char id[37];
    int rc;

    assert_non_null(f);
    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    make_outside(*state, out, sizeof(out));
    abs_join(victim, sizeof(victim), out, "victim");
    tt_spit(victim, "victim", 6);
    abs_join(pl.target_dir, sizeof(pl.target_dir), out, "");
    pl.target_dir[strlen(pl.target_dir) - 1] = '\0';
    /* stale temp names, as a crashed writer would leave real ones */
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char name[8400], t2[8400];

        snprintf(name, sizeof(name), "%s/%s/.tmp-x-1-%zu", dir, dirs[i], i);
        assert_int_equal(symlink(victim, name), 0);
        snprintf(name, sizeof(name), "%s/%s/.tmp-y-1-%zu", dir, dirs[i], i);
        snprintf(t2, sizeof(t2), "%s/stale-%zu", pl.target_dir, i);
        assert_int_equal(symlink(t2, name), 0);
    }
    hd_tree_list(out, &before);
    hd_options(&o, hd_fault_ops(f));
    hd_fault_arm(f, HD_PASS, 0, 0);
    f->rule = plant_rule;
    f->rule_ctx = &pl;
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, dirs[i]);
        assert_int_equal(tt_count_prefix(path, ".tmp-"), 0);
    }

    /* every create finds a symlink in its place */
    pl.on = true;
    hd_fill(s, NULL, HD_W_SEAL, HD_W_SEAL + RU_SPAN);
    rc = tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC);
    assert_int_not_equal(rc, 0);
    rc = tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL);
    assert_int_not_equal(rc, 0);
    tt_assert_msg_has("segments/");
    rc = tss_delete_create(s, &d, id);
    assert_int_not_equal(rc, 0);
    tt_assert_msg_has("wal/mutations/");
    assert_int_not_equal(tss_store_client_state_put(s, "replay-x", "x", 1), 0);
    assert_true(pl.planted >= 4);
    pl.on = false;
    hd_tree_list(out, &after);
    hd_tree_assert_same("outside the store, while creates ran into links",
                        &before, &after);
    hd_tree_free(&after);

    /* the links stop: everything is written */
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    rc = tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL);
    if (rc != 0)
        fail_msg("seal after: %d %s", rc, tss_error_last());
    hd_rows(s, &want);
    tss_store_close(s);
    hd_fault_ops(NULL);
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    ru_assert_verify_clean("after the planted links", s);
    hd_rows(s, &got);
    ru_assert_rows("after the planted links", &got, &want);
    assert_true(want.n >= 4 * 60 * HD_NSERIES);
    tss_store_close(s);
    hd_tree_list(out, &after);
    hd_tree_assert_same("outside the store", &before, &after);
    hd_tree_free(&before);
    hd_tree_free(&after);
    ru_rows_free(&want);
    ru_rows_free(&got);
    free(f);
}

/* Replaces dir/name with a symlink to a copy of it (a file or a tree) in
 * `out`. */
static void link_out(const char *dir, const char *name, const char *out)
{
    char in[4096], copy[4096];
    struct stat sb;

    tt_join(in, sizeof(in), dir, name);
    abs_join(copy, sizeof(copy), out, name);
    assert_int_equal(lstat(in, &sb), 0);
    if (S_ISDIR(sb.st_mode)) {
        tt_copy_tree(in, copy);
        tt_rmrf(in);
    } else {
        uint8_t *buf;
        size_t len;

        assert_int_equal(tt_slurp(in, &buf, &len), 0);
        tt_spit(copy, buf, len);
        free(buf);
        assert_int_equal(unlink(in), 0);
    }
    assert_int_equal(symlink(copy, in), 0);
}

static void test_symlink_names(void **state)
{
    static const char *const names[] = {"LOCK", "STORE", "segments", "head"};
    char tpl[4096], dir[4096], out[4096];
    tss_store_options o;
    hd_tree before, after;

    tt_join(tpl, sizeof(tpl), *state, "template");
    hd_build(tpl, NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        tss_store *s = NULL;
        tt_log log = {0};
        int rc;

        tt_join(dir, sizeof(dir), *state, names[i]);
        tt_copy_tree(tpl, dir);
        {
            char sub[64];

            snprintf(sub, sizeof(sub), "out-%s", names[i]);
            tt_join(out, sizeof(out), *state, sub);
            assert_int_equal(mkdir(out, 0755), 0);
        }
        if (strcmp(names[i], "LOCK") == 0) {
            char lock[4096];

            tt_join(lock, sizeof(lock), dir, "LOCK");
            tt_spit(lock, "", 0);
        }
        link_out(dir, names[i], out);
        hd_tree_list(out, &before);
        hd_options(&o, NULL);
        o.log = tt_log_fn;
        o.log_ctx = &log;
        rc = tss_store_open(&s, dir, TSS_OPEN_WRITER, &o);
        if (rc == 0) {
            /* opened: then it must not have used the link (a fresh head/
             * beside it is no option: the name is taken) */
            tss_store_close(s);
            fail_msg("%s as a symlink: the writer opened", names[i]);
        }
        if (!strstr(tss_error_last(), names[i]) ||
            !strstr(tss_error_last(), "symbolic link is not followed"))
            fail_msg("%s as a symlink: the error \"%s\" does not name it "
                     "and say why",
                     names[i], tss_error_last());
        /* readers: STORE and segments/ are needed, head/ and LOCK not */
        rc = tss_store_open(&s, dir, 0, &o);
        if (strcmp(names[i], "STORE") == 0) {
            assert_int_not_equal(rc, 0);
            tt_assert_msg_has("STORE");
        } else {
            tss_query *q;
            int qrc;

            assert_int_equal(rc, 0);
            qrc = tss_query_open(&q, s, NULL);
            if (qrc == 0)
                tss_query_close(q);
            if (strcmp(names[i], "LOCK") == 0)
                assert_int_equal(qrc, 0);
            else if (qrc == 0)
                fail_msg("%s as a symlink: a query opened", names[i]);
            else
                tt_assert_msg_has(names[i]);
            tss_store_close(s);
        }
        hd_tree_list(out, &after);
        hd_tree_assert_same(names[i], &before, &after);
        hd_tree_free(&before);
        hd_tree_free(&after);
    }
}

/* ---- permissions ----------------------------------------------------------
 */

typedef struct deny {
    const char *name;
    int err;
} deny;

static int deny_rule(void *ctx, const char *op, int dirfd, const char *path,
                     int flags)
{
    const deny *d = ctx;

    if (strcmp(op, "openat") == 0 && path && strstr(path, d->name))
        return d->err;
    return 0;
}

typedef struct perm_case {
    const char *dir, *seg;
    size_t all_rows;
} perm_case;

/* In a child that may not read one segment (nor, on the second call, the
 * store). */
static int unreadable_child(void *arg)
{
    const perm_case *pc = arg;
    tss_store_options o;
    tss_store *s = NULL;
    tss_query *q;
    tt_log log = {0};
    uint64_t errors;
    size_t rows = 0;
    tss_series_info in;
    int rc;

    if (geteuid() == 0) {
        CHILD_CHECK(setgroups(0, NULL) == 0 && setgid(65534) == 0 &&
                        setuid(65534) == 0,
                    "dropping to nobody: %s", strerror(errno));
    }
    hd_options(&o, NULL);
    o.log = tt_log_fn;
    o.log_ctx = &log;
    rc = tss_store_open(&s, pc->dir, 0, &o);
    CHILD_CHECK(rc == 0, "open: %s", tss_error_last());
    rc = tss_query_open(&q, s, NULL);
    CHILD_CHECK(rc == 0, "query: %s", tss_error_last());
    while ((rc = tss_query_next(q, &in)) == 1)
        rows += in.count;
    errors = tss_query_errors(q);
    tss_query_close(q);
    tss_store_close(s);
    CHILD_CHECK(rc == 0 && errors == 1, "rc %d, %" PRIu64 " errors", rc,
                errors);
    CHILD_CHECK(rows == pc->all_rows - 60 * HD_NSERIES, "%zu rows of %zu", rows,
                pc->all_rows);
    for (size_t i = 0; i < log.n; i++)
        if (strstr(log.msg[i], pc->seg) && strstr(log.msg[i], strerror(EACCES)))
            return 0;
    CHILD_CHECK(false, "no log line names %s with \"%s\"", pc->seg,
                strerror(EACCES));
}

static int unreadable_dir_child(void *arg)
{
    const perm_case *pc = arg;
    tss_store *s = NULL;
    int rc;

    if (geteuid() == 0)
        CHILD_CHECK(setgroups(0, NULL) == 0 && setgid(65534) == 0 &&
                        setuid(65534) == 0,
                    "dropping to nobody: %s", strerror(errno));
    rc = tss_store_open(&s, pc->dir, 0, NULL);
    CHILD_CHECK(rc != 0, "the store opened");
    CHILD_CHECK(strstr(tss_error_last(), pc->dir) &&
                    strstr(tss_error_last(), strerror(EACCES)),
                "the error \"%s\" does not name the store and EACCES",
                tss_error_last());
    return 0;
}

static void chown_tree(const char *dir, uid_t uid, gid_t gid)
{
    hd_tree t;

    hd_tree_list(dir, &t);
    for (size_t i = 0; i < t.n; i++) {
        char p[4096];

        if (t.v[i].path[0])
            tt_join(p, sizeof(p), dir, t.v[i].path);
        else
            snprintf(p, sizeof(p), "%s", dir);
        assert_int_equal(lchown(p, uid, gid), 0);
    }
    hd_tree_free(&t);
}

static void test_unreadable(void **state)
{
    char dir[4096], seg[4096];
    hd_fault *f = calloc(1, sizeof(*f));
    deny dn = {NULL, EACCES};
    tss_store_options o;
    finding_log fl = {0};
    tss_verify_report rep;
    perm_case pc;
    tt_log log = {0};
    tss_store *s;
    ru_seg *v;
    size_t n, rows, all_rows;

    assert_non_null(f);
    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    reader_query(dir, NULL, &log, &all_rows);
    n = ru_list_segments(dir, &v);
    assert_true(n >= 3);

    /* EACCES through the ops table */
    dn.name = v[1].name;
    hd_fault_arm(f, HD_PASS, 0, 0);
    f->rule = deny_rule;
    f->rule_ctx = &dn;
    memset(&log, 0, sizeof(log));
    assert_int_equal(reader_query(dir, hd_fault_ops(f), &log, &rows), 1);
    assert_int_equal(rows, all_rows - 60 * HD_NSERIES);
    log_must_have(&log, v[1].name, strerror(EACCES));
    hd_options(&o, hd_fault_ops(f));
    s = ru_open(dir, 0, &o);
    assert_int_equal(tss_verify(s, 0, on_problem, NULL, &fl, &rep), 0);
    if (!findings_have(&fl, v[1].name) || !findings_have(&fl, strerror(EACCES)))
        fail_msg("verify does not name the unreadable segment");
    tss_store_close(s);
    hd_fault_ops(NULL);

    /* for real: a process that may not read the file */
    tt_join(seg, sizeof(seg), dir, "segments/");
    strcat(seg, v[1].name);
    pc = (perm_case){dir, v[1].name, all_rows};
    if (geteuid() == 0) {
        char base[4096], *slash;

        /* the store belongs to nobody, but one segment nobody may read;
         * the test's own temp directories (mkdtemp: 0700) let nobody
         * through */
        chown_tree(dir, 65534, 65534);
        snprintf(base, sizeof(base), "%s", (const char *)*state);
        assert_int_equal(chmod(base, 0755), 0);
        slash = strrchr(base, '/');
        assert_non_null(slash);
        *slash = '\0';
        assert_int_equal(chmod(base, 0755), 0);
    }
    assert_int_equal(chmod(seg, 0), 0);
    if (geteuid() == 0 || access(seg, R_OK) != 0) {
        assert_int_equal(in_child(unreadable_child, &pc), 0);
        if (cli) {
            char *const argv[] = {(char *)cli, "dump", dir, NULL};
            char out[65536];

            assert_int_equal(run_as_nobody(argv, out, sizeof(out)), 1);
            if (!strstr(out, v[1].name) || !strstr(out, strerror(EACCES)))
                fail_msg("tsstore dump as nobody does not name %s: %.300s",
                         v[1].name, out);
        }
        assert_int_equal(chmod(dir, 0), 0);
        assert_int_equal(in_child(unreadable_dir_child, &pc), 0);
        assert_int_equal(chmod(dir, 0750), 0);
    } else {
        print_message("chmod 0 did not take the read permission: the real "
                      "EACCES case is skipped\n");
    }
    assert_int_equal(chmod(seg, 0640), 0);
    free(v);
    free(f);
}

/* ---- a read-only DataDir --------------------------------------------------
 */

static int erofs_rule(void *ctx, const char *op, int dirfd, const char *path,
                      int flags)
{
    if (strcmp(op, "mkdirat") == 0 || strcmp(op, "unlinkat") == 0 ||
        strcmp(op, "renameat") == 0 || strcmp(op, "linkat") == 0 ||
        strcmp(op, "ftruncate") == 0 ||
        (strcmp(op, "openat") == 0 &&
         (flags & (O_CREAT | O_WRONLY | O_RDWR | O_TRUNC))))
        return EROFS;
    return 0;
}

/* A read-only bind mount of the store, in the private namespace. */
static void readonly_mount(const char *dir, size_t all_rows)
{
    tss_store *s = NULL;
    tt_log log = {0};
    size_t rows;
    int rc;

    if (!private_mounts() || mount(dir, dir, NULL, MS_BIND, NULL) != 0) {
        print_message("no private mount namespace: the read-only bind "
                      "mount case is skipped\n");
        return;
    }
    rc = mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
    if (rc != 0) {
        umount2(dir, MNT_DETACH);
        print_message("no read-only remount: that case is skipped\n");
        return;
    }
    rc = tss_store_open(&s, dir, TSS_OPEN_WRITER, NULL);
    if (rc == 0) {
        tss_store_close(s);
        umount2(dir, MNT_DETACH);
        fail_msg("the writer opened a store on a read-only mount");
    }
    hd_assert_names_op_and_path("writer on a read-only mount", tss_error_last(),
                                EROFS);
    tt_assert_msg_has("LOCK");
    assert_int_equal(reader_query(dir, NULL, &log, &rows), 0);
    assert_int_equal(rows, all_rows);
    assert_int_equal(umount2(dir, 0), 0);
}

static void test_readonly(void **state)
{
    char dir[4096], fresh[4096];
    hd_fault *f = calloc(1, sizeof(*f));
    tss_store_options o;
    tss_store *s = NULL;
    hd_tree before, after;
    tt_log log = {0};
    size_t rows, all_rows;
    int rc;

    assert_non_null(f);
    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    reader_query(dir, NULL, &log, &all_rows);
    hd_tree_list(dir, &before);
    hd_fault_arm(f, HD_PASS, 0, 0);
    f->rule = erofs_rule;
    hd_options(&o, hd_fault_ops(f));
    rc = tss_store_open(&s, dir, TSS_OPEN_WRITER, &o);
    assert_int_not_equal(rc, 0);
    hd_assert_names_op_and_path("writer on a read-only store", tss_error_last(),
                                EROFS);
    tt_assert_msg_has("LOCK");
    /* and a new store there */
    tt_join(fresh, sizeof(fresh), *state, "new");
    rc = tss_store_open(&s, fresh, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    assert_int_not_equal(rc, 0);
    hd_assert_names_op_and_path("a new store on a read-only file system",
                                tss_error_last(), EROFS);
    /* readers read it all */
    assert_int_equal(reader_query(dir, hd_fault_ops(f), &log, &rows), 0);
    assert_int_equal(rows, all_rows);
    hd_fault_ops(NULL);
    hd_tree_list(dir, &after);
    hd_tree_assert_same("the read-only store", &before, &after);
    hd_tree_free(&before);
    hd_tree_free(&after);

    readonly_mount(dir, all_rows);
    free(f);
}

/* ---- a full disk ----------------------------------------------------------
 */

static int enospc_rule(void *ctx, const char *op, int dirfd, const char *path,
                       int flags)
{
    const bool *on = ctx;

    if (!*on)
        return 0;
    if (strcmp(op, "write") == 0 || strcmp(op, "pwrite") == 0 ||
        strcmp(op, "mkdirat") == 0 || strcmp(op, "linkat") == 0 ||
        strcmp(op, "renameat") == 0 ||
        (strcmp(op, "openat") == 0 && (flags & O_CREAT)))
        return ENOSPC;
    return 0;
}

/* The writer on a full disk, then with room again; `full` switches the
 * disk (NULL: the test's own file system is full for real, freed by
 * `room`). */
static int full_disk_scenario(const char *dir, const tss_io_ops *io, bool *full,
                              void (*room)(void *), void *arg)
{
    tss_store_options o;
    tss_seal_result res;
    tss_store *s;
    tt_model m = {0};
    ru_rows got;
    size_t want;
    int rc;

    hd_options(&o, io);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    hd_fill(s, &m, HD_W_OLD, HD_W_OLD + RU_SPAN);
    hd_fill(s, &m, HD_W_NEW, HD_W_NEW + RU_SPAN);
    if (full)
        *full = true;
    rc = tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC);
    if (rc != TSS_ENOSPC)
        fail_msg("snapshot on a full disk: %d %s", rc, tss_error_last());
    hd_assert_names_op_and_path("snapshot on a full disk", tss_error_last(),
                                ENOSPC);
    rc = tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, &res);
    if (rc != TSS_ENOSPC)
        fail_msg("seal on a full disk: %d %s", rc, tss_error_last());
    hd_assert_names_op_and_path("seal on a full disk", tss_error_last(),
                                ENOSPC);
    assert_true(res.pending >= 1);
    /* more arrives meanwhile */
    hd_fill(s, &m, HD_W_HEAD, HD_W_HEAD + 10 * RU_MIN);
    assert_int_equal(tss_store_seal(s, RU_NOW, 0, &res), TSS_ENOSPC);
    if (full)
        *full = false;
    if (room)
        room(arg);
    rc = tss_store_seal(s, RU_NOW, 0, &res);
    if (rc != 0 || res.pending != 0)
        fail_msg("seal with room again: %d %s (%u pending)", rc,
                 tss_error_last(), res.pending);
    assert_int_equal(tss_store_snapshot(s, RU_NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
    /* all of it, after a restart */
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    ru_assert_verify_clean("after the full disk", s);
    hd_rows(s, &got);
    want = m.n;
    tt_model_free(&m);
    tss_store_close(s);
    if (got.n != want)
        fail_msg("after the full disk: %zu points, want %zu", got.n, want);
    ru_rows_free(&got);
    return 0;
}

static void free_filler(void *arg)
{
    assert_int_equal(unlink(arg), 0);
}

/* A 256 KiB tmpfs, in the private namespace, filled up. */
static void full_tmpfs(const char *mnt)
{
    char dir[4200], filler[4200];
    tss_store_options o;
    tss_store *s;
    int fd;

    if (!private_mounts() ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=256k,mode=0755") != 0) {
        print_message("no private mount namespace: the real full tmpfs "
                      "case is skipped\n");
        return;
    }
    /* a store with its directories (the table needs a little room to be
     * saved empty), then fill the rest */
    snprintf(dir, sizeof(dir), "%s/store", mnt);
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    tss_store_close(s);
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    for (;;) {
        static const char block[4096];

        if (write(fd, block, sizeof(block)) <= 0)
            break;
    }
    close(fd);
    full_disk_scenario(dir, NULL, NULL, free_filler, filler);
    assert_int_equal(umount2(mnt, 0), 0);
}

static void test_full_disk(void **state)
{
    char dir[4096];
    hd_fault *f = calloc(1, sizeof(*f));
    char mnt[4096];
    bool full = false;

    assert_non_null(f);
    tt_join(dir, sizeof(dir), *state, "store");
    hd_fault_arm(f, HD_PASS, 0, 0);
    f->rule = enospc_rule;
    f->rule_ctx = &full;
    full_disk_scenario(dir, hd_fault_ops(f), &full, NULL, NULL);
    hd_fault_ops(NULL);

    tt_join(mnt, sizeof(mnt), *state, "mnt");
    assert_int_equal(mkdir(mnt, 0755), 0);
    full_tmpfs(mnt);
    free(f);
}

/* ---- a second writer ------------------------------------------------------
 */

typedef struct writer_case {
    const char *dir;
    pid_t holder;
} writer_case;

static int second_writer_child(void *arg)
{
    const writer_case *wc = arg;
    char pid[32];
    tss_store *s = NULL;
    int rc = tss_store_open(&s, wc->dir, TSS_OPEN_WRITER, NULL);

    CHILD_CHECK(rc == TSS_ELOCKED, "second writer: %d %s", rc,
                tss_error_last());
    snprintf(pid, sizeof(pid), "pid %ld", (long)wc->holder);
    CHILD_CHECK(strstr(tss_error_last(), "locked") &&
                    strstr(tss_error_last(), pid),
                "\"%s\" does not say locked by %s", tss_error_last(), pid);
    /* a reader is welcome */
    rc = tss_store_open(&s, wc->dir, 0, NULL);
    CHILD_CHECK(rc == 0, "reader: %s", tss_error_last());
    tss_store_close(s);
    return 0;
}

static void test_second_writer(void **state)
{
    char dir[4096], csv[4096];
    tss_store_options o;
    tss_store *s;
    writer_case wc;

    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    wc = (writer_case){dir, getpid()};
    assert_int_equal(in_child(second_writer_child, &wc), 0);
    if (cli) {
        char out[8192];
        char *const verify[] = {(char *)cli, "verify", "--repair", dir, NULL};
        char types[4096], file[4096];
        char *const import[] = {(char *)cli,  "import", "--csv", csv,
                                "--types-db", types,    dir,     NULL};

        /* one csv plugin file, and its type */
        tt_join(csv, sizeof(csv), *state, "csv");
        tt_join(types, sizeof(types), *state, "types.db");
        tt_spit(types, "gauge value:GAUGE:U:U\n", 22);
        tt_join(file, sizeof(file), csv, "h");
        assert_int_equal(mkdir(csv, 0755), 0);
        assert_int_equal(mkdir(file, 0755), 0);
        strcat(file, "/p");
        assert_int_equal(mkdir(file, 0755), 0);
        strcat(file, "/gauge-2023-11-15");
        tt_spit(file, "epoch,value\n1700000000,1\n", 26);
        assert_int_equal(hd_run(verify, out, sizeof(out)), 1);
        if (!strstr(out, "locked"))
            fail_msg("tsstore verify --repair: \"%s\"", out);
        assert_int_equal(hd_run(import, out, sizeof(out)), 1);
        if (!strstr(out, "locked"))
            fail_msg("tsstore import: \"%s\"", out);
    }
    tss_store_close(s);
    /* released: the next one opens */
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    tss_store_close(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(test_symlink_segment), T(test_symlink_temps), T(test_symlink_names),
        T(test_unreadable),      T(test_readonly),      T(test_full_disk),
        T(test_second_writer),
    };

    cli = argc > 1 ? argv[1] : NULL;
    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
