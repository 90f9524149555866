/*
 * tsstore verify --repair changes only what it reports, and checks the
 * supersede chains.
 *
 * test_repair_reports_every_change: a store a crash left with everything
 * a writer's open would change -- a pending delete, tombstones waiting for
 * compaction, superseded segments of an interrupted compaction, temp
 * files, a missing sidecar, a sidecar without a segment -- is repaired by
 * `tsstore verify --repair` (the CLI, when the test gets its path; else
 * the same calls through the API). Every file that changed is named by a
 * note line, the count printed is the number of repairs, the pending
 * delete and the tombstones are untouched, a temp file of a running
 * process in wal/mutations is left alone; a second run repairs nothing;
 * the writer then finishes the delete by itself and the store is clean.
 *
 * test_supersede_chains: crafted segments whose supersede lists name a
 * segment of another window, themselves, or each other (a cycle) are
 * problems; a valid chain is notes, and --repair removes it leaves first,
 * never a segment of the cycle, and readers see the same before and after.
 *
 * test_document_states: a delete document whose state its progress does
 * not allow (visible with a target still pending, the head filtered before
 * visible, compacted with the head pending) is a problem naming the file.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "tsstore/verify.h"

#include "compact.h"
#include "coverage.h"
#include "segment.h"
#include "series.h"
#include "storage.h"
#include "wal.h"

#define H1 (1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1)
#define NOW MU_WIN(20)

static const char *cli; /* the tsstore binary, or NULL */

/* ---- the files of a store, to tell what changed ------------------------ */

typedef struct tfile {
    char path[512];
    uint64_t hash;
} tfile;

typedef struct tree {
    tfile *v;
    size_t n, cap;
} tree;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Every regular file under dir/rel, but LOCK (whose pid changes). */
static void walk(const char *dir, const char *rel, tree *t)
{
    char path[4096];
    DIR *d;
    struct dirent *de;

    if (*rel)
        tt_join(path, sizeof(path), dir, rel);
    else
        snprintf(path, sizeof(path), "%s", dir);
    assert_non_null(d = opendir(path));
    while ((de = readdir(d)) != NULL) {
        char sub[512], full[4096];
        struct stat sb;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            (!*rel && strcmp(de->d_name, "LOCK") == 0))
            continue;
        snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        tt_join(full, sizeof(full), dir, sub);
        assert_int_equal(lstat(full, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            walk(dir, sub, t);
            continue;
        }
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 64;
            assert_non_null(t->v = realloc(t->v, t->cap * sizeof(*t->v)));
        }
        {
            uint8_t *buf;
            size_t len;

            assert_int_equal(tt_slurp(full, &buf, &len), 0);
            snprintf(t->v[t->n].path, sizeof(t->v[t->n].path), "%s", sub);
            t->v[t->n].hash = fnv(buf, len) ^ len;
            free(buf);
        }
        t->n++;
    }
    closedir(d);
}

static const tfile *tree_find(const tree *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].path, path) == 0)
            return &t->v[i];
    return NULL;
}

/* Paths added, removed or changed between a and b, as "p1\np2\n...". */
static size_t tree_diff(const tree *a, const tree *b, char *out, size_t size)
{
    size_t n = 0, len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < a->n; i++) {
        const tfile *o = tree_find(b, a->v[i].path);

        if (!o || o->hash != a->v[i].hash) {
            len +=
                (size_t)snprintf(out + len, size - len, "%s\n", a->v[i].path);
            n++;
        }
    }
    for (size_t i = 0; i < b->n; i++)
        if (!tree_find(a, b->v[i].path)) {
            len +=
                (size_t)snprintf(out + len, size - len, "%s\n", b->v[i].path);
            n++;
        }
    assert_true(len < size);
    return n;
}

/* ---- running verify ---------------------------------------------------- */

/* Runs argv, its stdout and stderr into out[size]; returns the exit
 * status. */
static int run(char *const argv[], char *out, size_t size)
{
    int pfd[2], status;
    size_t used = 0;
    pid_t pid;

    assert_int_equal(pipe(pfd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
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

typedef struct lines {
    char text[16384];
    size_t len;
} lines;

static void collect(void *ctx, int sev, const char *file, const char *what)
{
    lines *l = ctx;

    l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len,
                               "%s: %s%s%s\n",
                               sev == TSS_VERIFY_PROBLEM ? "PROBLEM" : "note",
                               file, *file ? ": " : "", what);
    assert_true(l->len < sizeof(l->text));
}

/* verify --repair on `dir`, by the CLI when there is one, else as it runs
 * it: the LOCK without the writer's recovery. Findings as the CLI prints
 * them into out; returns the number of repairs. */
static uint64_t repair(const char *dir, char *out, size_t size)
{
    if (cli) {
        char *const argv[] = {(char *)cli, "verify", "--repair", (char *)dir,
                              NULL};
        const char *sum;
        uint64_t n;

        (void)run(argv, out, size);
        sum = strstr(out, "problem(s), ");
        if (!sum || sscanf(sum, "problem(s), %" SCNu64 " repair(s)", &n) != 1)
            fail_msg("tsstore verify --repair printed: %s", out);
        return n;
    } else {
        tss_verify_report r;
        tss_store *s =
            mu_open(dir, TSS_OPEN_WRITER | TSS_OPEN_NO_RECOVERY, NULL);
        lines l = {.len = 0};

        assert_int_equal(
            tss_verify(s, TSS_VERIFY_REPAIR, collect, NULL, &l, &r), 0);
        tss_store_close(s);
        assert_true(l.len < size);
        memcpy(out, l.text, l.len + 1);
        return r.repaired;
    }
}

/* Counts the note lines that report a change. */
static size_t repair_lines(const char *out)
{
    size_t n = 0;

    for (const char *p = out; (p = strstr(p, "note: ")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[1024];

        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        n += strstr(line, ": removed ") || strstr(line, ": rebuilt from ");
    }
    return n;
}

/* True if a note line of out names `path`, or names the segment a
 * sidecar or tombstones of `path` belong to (a removed segment goes with
 * them). */
static bool noted(const char *out, const char *path)
{
    char want[1024];
    const char *u = strrchr(path, '/');

    snprintf(want, sizeof(want), "note: %.900s: ", path);
    if (strstr(out, want))
        return true;
    u = u ? u + 1 : path;
    if (strlen(u) >= 36 && (strstr(path, ".tombstones") ||
                            strncmp(path, "_coverage/segments/", 19) == 0)) {
        char uuid[37], seg[128];

        memcpy(uuid, u, 36);
        uuid[36] = '\0';
        snprintf(seg, sizeof(seg), "_%s.seg: removed superseded", uuid);
        return strstr(out, seg) != NULL;
    }
    return false;
}

/* ---- the crashed store --------------------------------------------------- */

static const mu_del DEL = {H1, MU_WIN(1) + 30000, MU_WIN(2) + 14999};

/* Windows 0-2 sealed (1 in two segments), window 3 in the head. */
static void layout(const char *dir, tt_model *m)
{
    tss_store_options o;
    tss_store *s;

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, m, MU_WIN(0), MU_WIN(3), 0);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(1) + 40000, MU_WIN(2), 1);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(3), MU_WIN(3) + 30000, 0);
    assert_int_equal(tss_store_snapshot(s, NOW, TSS_SNAP_SYNC), 0);
    tss_store_close(s);
}

/* A pid that no process has: a child that exited and was reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void spit_rel(const char *dir, const char *rel, const char *text)
{
    char path[4096];

    tt_join(path, sizeof(path), dir, rel);
    tt_spit(path, text, strlen(text));
}

static void test_repair_reports_every_change(void **state)
{
    char dir[4096], path[4096], rel[512], id1[37], id2[37], diff[8192];
    char out[16384], old_seg[2][192], live_tmp[256], *orphan_src = NULL;
    tss_delete_spec spec = mu_spec("h1/*", NULL, DEL.from, DEL.to);
    tss_delete_spec spec2 =
        mu_spec("h0/cpu-0/*", NULL, MU_WIN(0), MU_WIN(0) + 9999);
    const mu_del both[] = {DEL,
                           {1UL << MU_H0_CPU, MU_WIN(0), MU_WIN(0) + 9999}};
    tss_store_options o;
    tt_model m = {0};
    tt_fault f;
    tss_store *s;
    tss_seg_name *segs;
    tss_storage *st;
    tree before = {0}, after = {0};
    size_t nsegs, nold = 0, nchanged, nrep;
    uint64_t repaired;
    pid_t dead = dead_pid();
    uuid_t stray;
    char stray_id[37];

    tt_join(dir, sizeof(dir), *state, "store");
    layout(dir, &m);

    /* a delete made visible, then a compaction that stopped after writing
     * window 1's new segment: its two old ones are still on disk,
     * superseded, and window 2 still carries tombstones */
    tt_fault_arm(&f, 0, 0, false);
    mu_options(&o, tt_fault_ops(&f), 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    mu_delete_create(s, &spec, id1);
    assert_int_equal(tss_store_apply_mutations(s, NOW, NULL), 0);
    assert_int_equal(mu_state(s, id1), TSS_MUTATION_VISIBLE);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    for (size_t i = 0; i < nsegs; i++)
        if (segs[i].start == MU_WIN(1)) {
            tss_seg_name_format(rel, sizeof(rel), &segs[i]);
            snprintf(old_seg[nold++], sizeof(old_seg[0]), "%.180s", rel);
        }
    tss_free(segs);
    assert_int_equal(nold, 2);
    tt_fault_arm_match(&f, "unlinkat", old_seg[0] + strlen("segments/"), 1,
                       EIO);
    assert_int_not_equal(tss_store_compact(s, NOW, 0, NULL), 0);
    tt_fault_arm(&f, 0, 0, false);
    tss_store_close(s);
    tt_fault_ops(NULL);
    assert_true(mu_count_suffix(dir, "segments", ".tombstones") > 0);

    /* a delete nobody applied yet: `tsstore delete` with no writer
     * running writes it, a writer's open would apply it */
    s = mu_open(dir, 0, NULL);
    mu_delete_create(s, &spec2, id2);
    assert_int_equal(mu_state(s, id2), TSS_MUTATION_INTENT);
    tss_store_close(s);

    /* temp files: of dead writers, and of a `tsstore delete` running now */
    snprintf(rel, sizeof(rel), "segments/.tmp-x.seg-%ld-1", (long)dead);
    spit_rel(dir, rel, "partial");
    snprintf(rel, sizeof(rel), "wal/mutations/.tmp-y.json-%ld-2", (long)dead);
    spit_rel(dir, rel, "{");
    snprintf(live_tmp, sizeof(live_tmp), "wal/mutations/.tmp-z.json-%ld-3",
             (long)getpid());
    spit_rel(dir, live_tmp, "{");
    /* a sidecar lost, and one without a segment */
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    assert_true(nsegs >= 4);
    tss_sidecar_path(rel, sizeof(rel), segs[0].uuid); /* window 0 */
    tss_free(segs);
    tt_join(path, sizeof(path), dir, rel);
    {
        uint8_t *buf;
        size_t len;

        assert_int_equal(tt_slurp(path, &buf, &len), 0);
        orphan_src = (char *)buf;
        assert_int_equal(unlink(path), 0);
        uuid_generate(stray);
        uuid_unparse_lower(stray, stray_id);
        snprintf(rel, sizeof(rel), "_coverage/segments/%s.roar", stray_id);
        tt_join(path, sizeof(path), dir, rel);
        tt_spit(path, buf, len);
    }
    free(orphan_src);
    tss_storage_close(st);

    walk(dir, "", &before);
    repaired = repair(dir, out, sizeof(out));
    walk(dir, "", &after);
    nchanged = tree_diff(&before, &after, diff, sizeof(diff));
    nrep = repair_lines(out);
    print_message("verify --repair%s: %" PRIu64 " repair(s), %zu file(s) "
                  "changed\n",
                  cli ? " (CLI)" : " (API)", repaired, nchanged);
    /* two superseded segments (each with sidecar and tombstones), two dead
     * temp files, a rebuilt sidecar, an orphan sidecar */
    assert_int_equal(repaired, 6);
    assert_int_equal(nrep, repaired);
    assert_int_equal(nchanged, 10);
    for (char *p = diff, *eol; (eol = strchr(p, '\n')) != NULL; p = eol + 1) {
        *eol = '\0';
        if (!noted(out, p))
            fail_msg("%s changed, and no note says so:\n%s", p, out);
    }
    assert_true(strstr(out, live_tmp) && strstr(out, "left alone"));
    tt_join(path, sizeof(path), dir, live_tmp);
    assert_true(tt_exists(path));
    /* what the writer's open does is left to it */
    s = mu_open(dir, 0, NULL);
    assert_int_equal(mu_state(s, id1), TSS_MUTATION_VISIBLE);
    assert_int_equal(mu_state(s, id2), TSS_MUTATION_INTENT);
    tss_store_close(s);
    assert_true(mu_count_suffix(dir, "segments", ".tombstones") > 0);
    mu_assert_reader("repaired", dir, &m, m.n, &DEL, 1);

    /* nothing more to repair */
    free(before.v);
    before = after;
    memset(&after, 0, sizeof(after));
    assert_int_equal(repair(dir, out, sizeof(out)), 0);
    assert_int_equal(repair_lines(out), 0);
    assert_null(strstr(out, "PROBLEM"));
    walk(dir, "", &after);
    assert_int_equal(tree_diff(&before, &after, diff, sizeof(diff)), 0);

    /* the writer resumes both deletes by itself */
    s = mu_open(dir, TSS_OPEN_WRITER, NULL);
    assert_int_equal(mu_state(s, id1), TSS_MUTATION_REMOVED);
    assert_int_equal(mu_state(s, id2), TSS_MUTATION_REMOVED);
    mu_assert_store("resumed", s, &m, m.n, both, 2);
    mu_assert_verify_clean("resumed", s);
    tss_store_close(s);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    free(before.v);
    free(after.v);
    tt_model_free(&m);
}

/* ---- supersede chains ------------------------------------------------- */

/* Writes a segment of window `win` with seq `seq` holding series
 * MU_H0_CPU's points of the window, superseding `sup` (n of them), with
 * its sidecar. Returns its name in *out. */
static void craft(const char *dir, int64_t win, uint64_t seq,
                  const uint8_t (*sup)[16], size_t nsup, const uint8_t uuid[16],
                  tss_seg_name *out)
{
    tss_storage *st;
    tss_seg_builder b;
    tss_buf img = {0}, cimg = {0};
    tss_sidecar sc;
    tss_point pts[MU_SPAN / MU_STEP];
    uint8_t key[TSS_KEY_MAX];
    size_t len, n = 0;
    char rel[192], crel[128];

    for (int64_t t = win; t < win + MU_SPAN; t += MU_STEP, n++) {
        pts[n].t = t;
        pts[n].v.gauge = (double)t;
    }
    assert_int_equal(
        tss_key_encode(key, &len, &mu_series[MU_H0_CPU], mu_kind[MU_H0_CPU]),
        0);
    memset(out, 0, sizeof(*out));
    out->start = win;
    out->end = win + MU_SPAN;
    out->seq = seq;
    memcpy(out->uuid, uuid, 16);
    assert_int_equal(tss_seg_builder_begin(&b, &img, out, 1000, sup, nsup), 0);
    assert_int_equal(tss_seg_builder_add(&b, key, len, pts, n), 0);
    assert_int_equal(tss_seg_builder_finish(&b), 0);
    assert_int_equal(tss_sidecar_init(&sc, uuid, win, MU_BUCKET), 0);
    assert_int_equal(tss_sidecar_add(&sc, key, len, pts, n), 0);
    assert_int_equal(tss_sidecar_encode(&sc, &cimg), 0);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    tss_sidecar_path(crel, sizeof(crel), uuid);
    assert_int_equal(tss_storage_write_new(st, crel, cimg.data, cimg.len), 0);
    tss_seg_name_format(rel, sizeof(rel), out);
    assert_int_equal(tss_storage_write_new(st, rel, img.data, img.len), 0);
    tss_storage_close(st);
    tss_sidecar_free(&sc);
    tss_buf_free(&img);
    tss_buf_free(&cimg);
}

static bool seg_exists(const char *dir, const tss_seg_name *sn)
{
    char rel[192], path[4096];

    tss_seg_name_format(rel, sizeof(rel), sn);
    tt_join(path, sizeof(path), dir, rel);
    return tt_exists(path);
}

/* A digest of everything a query returns. */
static uint64_t view(tss_store *s)
{
    tt_series *v;
    uint64_t errors, h = 0;
    size_t n = tt_query(s, NULL, &v, &errors);

    assert_int_equal(errors, 0);
    for (size_t i = 0; i < n; i++)
        h = h * 31 + fnv((const uint8_t *)v[i].pts, v[i].n * sizeof(tss_point));
    tt_series_free(v, n);
    return h;
}

static void findings(const char *dir, unsigned flags, lines *l,
                     tss_verify_report *r)
{
    tss_store *s =
        mu_open(dir, flags ? TSS_OPEN_WRITER | TSS_OPEN_NO_RECOVERY : 0, NULL);

    memset(l, 0, sizeof(*l));
    assert_int_equal(tss_verify(s, flags, collect, NULL, l, r), 0);
    tss_store_close(s);
}

/* Fails unless a line "<sev>: <segment>: ..." holds `what`. */
static void expect_line(const lines *l, const char *sev, const tss_seg_name *sn,
                        const char *what)
{
    char rel[192], want[512];

    tss_seg_name_format(rel, sizeof(rel), sn);
    snprintf(want, sizeof(want), "%s: %s: ", sev, rel);
    for (const char *p = l->text; (p = strstr(p, want)) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        char line[1024];

        snprintf(line, sizeof(line), "%.*s",
                 (int)(eol ? (size_t)(eol - p) : strlen(p)), p);
        if (strstr(line, what))
            return;
    }
    fail_msg("no \"%s...%s\" in:\n%s", want, what, l->text);
}

static void test_supersede_chains(void **state)
{
    char dir[4096];
    tss_store_options o;
    tt_model m = {0};
    tss_store *s;
    tss_seg_name *segs, a0, x, y, z, self, b, c;
    tss_storage *st;
    size_t nsegs;
    uint8_t ux[16], uy[16], uz[16], us[16], ub[16], uc[16];
    uint8_t sup[1][16];
    lines l;
    tss_verify_report r;
    uint64_t seen;

    tt_join(dir, sizeof(dir), *state, "store");
    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, &m, MU_WIN(0), MU_WIN(3), 0);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    tss_store_close(s);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    assert_int_equal(nsegs, 3);
    a0 = segs[0];
    tss_free(segs);
    tss_storage_close(st);
    uuid_generate(ux);
    uuid_generate(uy);
    uuid_generate(uz);
    uuid_generate(us);
    uuid_generate(ub);
    uuid_generate(uc);

    /* window 1 naming window 0's segment */
    memcpy(sup[0], a0.uuid, 16);
    craft(dir, MU_WIN(1), 100, (const uint8_t(*)[16])sup, 1, ux, &x);
    /* window 2: a cycle */
    memcpy(sup[0], uz, 16);
    craft(dir, MU_WIN(2), 101, (const uint8_t(*)[16])sup, 1, uy, &y);
    memcpy(sup[0], uy, 16);
    craft(dir, MU_WIN(2), 102, (const uint8_t(*)[16])sup, 1, uz, &z);
    /* window 1: itself */
    memcpy(sup[0], us, 16);
    craft(dir, MU_WIN(1), 103, (const uint8_t(*)[16])sup, 1, us, &self);
    /* window 0: a valid chain c > b > a0 */
    memcpy(sup[0], a0.uuid, 16);
    craft(dir, MU_WIN(0), 104, (const uint8_t(*)[16])sup, 1, ub, &b);
    memcpy(sup[0], ub, 16);
    craft(dir, MU_WIN(0), 105, (const uint8_t(*)[16])sup, 1, uc, &c);

    s = mu_open(dir, 0, NULL);
    seen = view(s);
    tss_store_close(s);

    findings(dir, 0, &l, &r);
    expect_line(&l, "PROBLEM", &x, "which is not within its window");
    expect_line(&l, "PROBLEM", &y, "readers show none of that cycle");
    expect_line(&l, "PROBLEM", &z, "readers show none of that cycle");
    expect_line(&l, "PROBLEM", &self, "supersedes itself");
    expect_line(&l, "note", &a0, "superseded by");
    expect_line(&l, "note", &b, "superseded by");
    assert_int_equal(r.problems, 4);

    findings(dir, TSS_VERIFY_REPAIR, &l, &r);
    assert_int_equal(r.repaired, 2);
    expect_line(&l, "note", &a0, "removed superseded segment");
    expect_line(&l, "note", &b, "removed superseded segment");
    /* leaves first: a0 before b, whose removal would uncover it */
    {
        char ra[192], rb[192], want[256];
        const char *pa, *pb;

        tss_seg_name_format(ra, sizeof(ra), &a0);
        tss_seg_name_format(rb, sizeof(rb), &b);
        snprintf(want, sizeof(want), "note: %s: removed superseded", ra);
        pa = strstr(l.text, want);
        snprintf(want, sizeof(want), "note: %s: removed superseded", rb);
        pb = strstr(l.text, want);
        assert_true(pa && pb && pa < pb);
    }
    assert_false(seg_exists(dir, &a0));
    assert_false(seg_exists(dir, &b));
    assert_true(seg_exists(dir, &c));
    assert_true(seg_exists(dir, &x));
    assert_true(seg_exists(dir, &y) && seg_exists(dir, &z));
    assert_true(seg_exists(dir, &self));
    s = mu_open(dir, 0, NULL);
    assert_true(view(s) == seen);
    tss_store_close(s);

    /* the cycle and the self-reference stay problems; x names a segment
     * no longer on disk */
    findings(dir, 0, &l, &r);
    assert_int_equal(r.problems, 3);
    /* the writer's cleanup of interrupted compactions at open does not
     * remove a segment that names itself */
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    tss_store_close(s);
    assert_true(seg_exists(dir, &self));
    assert_true(seg_exists(dir, &c));
    tt_model_free(&m);
}

/* ---- documents against the state diagram -------------------------------- */

/* Rewrites document `id` through `edit` (put_if_match, as a writer would),
 * then verifies: one problem, on the document's file, saying `what`. */
static void expect_document_problem(const char *dir, const char *id,
                                    void (*edit)(tss_mut *), const char *what)
{
    char want[256];
    tss_storage *st;
    tss_verify_report r;
    tss_mut doc, orig;
    lines l;

    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_mut_read(st, id, &orig), 0);
    assert_int_equal(tss_mut_read(st, id, &doc), 0);
    edit(&doc);
    assert_int_equal(tss_mut_update(st, &doc), 0);
    findings(dir, 0, &l, &r);
    snprintf(want, sizeof(want), "PROBLEM: wal/mutations/%s.json: ", id);
    if (r.problems != 1 || !strstr(l.text, want) || !strstr(l.text, what))
        fail_msg("want one \"%s...%s\", got %" PRIu64 ":\n%s", want, what,
                 r.problems, l.text);
    /* back as it was: clean again */
    orig.etag = doc.etag;
    assert_int_equal(tss_mut_update(st, &orig), 0);
    findings(dir, 0, &l, &r);
    if (r.problems)
        fail_msg("restored: %s", l.text);
    tss_mut_free(&doc);
    tss_mut_free(&orig);
    tss_storage_close(st);
}

static void target_pending(tss_mut *m)
{
    assert_true(m->ntargets > 0);
    m->targets[m->ntargets - 1].tombstoned = false;
}

static void applying_head_filtered(tss_mut *m)
{
    m->state = TSS_MS_APPLYING;
}

static void compacted_head_pending(tss_mut *m)
{
    m->state = TSS_MS_COMPACTED;
    m->head_filtered = false;
}

static void test_document_states(void **state)
{
    char dir[4096], id[37];
    tss_delete_spec spec = mu_spec("h1/*", NULL, DEL.from, DEL.to);
    tss_store_options o;
    tss_verify_report r;
    tt_model m = {0};
    tss_store *s;
    lines l;

    tt_join(dir, sizeof(dir), *state, "store");
    layout(dir, &m);
    /* visible, tombstones in place and the head filtered; no compaction */
    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    mu_delete_create(s, &spec, id);
    assert_int_equal(tss_store_apply_mutations(s, NOW, NULL), 0);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    tss_store_close(s);
    findings(dir, 0, &l, &r);
    if (r.problems)
        fail_msg("visible delete: %s", l.text);

    expect_document_problem(dir, id, target_pending, "is still \"pending\"");
    expect_document_problem(dir, id, applying_head_filtered,
                            "already \"filtered\"");
    expect_document_problem(dir, id, compacted_head_pending,
                            "head is still \"pending\"");
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(test_repair_reports_every_change),
        T(test_supersede_chains),
        T(test_document_states),
    };

    cli = argc > 1 ? argv[1] : NULL;
    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
