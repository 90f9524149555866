/*
 * File modes and read-only commands (issue 9, point 5).
 *
 *  - modes: a store made and worked by the writer (segments, sidecars,
 *    table coverage, head snapshot, a delete's document and tombstones,
 *    compaction, a rollup, retention, the stats file, a client's state,
 *    a sidecar repaired) and one made by `tsstore import`, under umask
 *    077, 022 and 000: every directory is 0750 and every file 0640, less
 *    what the umask takes -- never readable by others, whatever the umask.
 *  - cli_reads_nothing_changes: ls, dump (csv, jsonl, openmetrics, every
 *    resolution), coverage (and --gaps), stats, verify, info and delete
 *    --dry-run on a store with rollups, tombstones, a pending delete, a
 *    stale temp file, a torn snapshot log and a corrupt sidecar: no file
 *    or directory is created, removed, renamed, written, or changes mode
 *    (a recursive listing of names, types, modes, sizes, inodes and
 *    mtimes, before and after each command).
 *
 * argv[1]: the tsstore CLI.
 */
#define _GNU_SOURCE
#include "hd_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsstore/stats.h"
#include "tsstore/verify.h"

static const char *cli;

/* Every entry of `dir`: directories `dmode`, files `fmode`. */
static void assert_modes(const char *what, const char *dir, unsigned dmode,
                         unsigned fmode)
{
    hd_tree t;
    size_t files = 0, dirs = 0;

    hd_tree_list(dir, &t);
    for (size_t i = 0; i < t.n; i++) {
        unsigned perm = t.v[i].mode & 07777;

        if (S_ISDIR(t.v[i].mode)) {
            dirs++;
            if (perm != dmode)
                fail_msg("%s: directory \"%s\" has mode %04o, want %04o", what,
                         t.v[i].path, perm, dmode);
        } else if (S_ISREG(t.v[i].mode)) {
            files++;
            if (perm != fmode)
                fail_msg("%s: file \"%s\" has mode %04o, want %04o", what,
                         t.v[i].path, perm, fmode);
        } else {
            fail_msg("%s: \"%s\" is neither a file nor a directory", what,
                     t.v[i].path);
        }
    }
    assert_true(dirs >= 5 && files >= 5);
    hd_tree_free(&t);
}

/* A writer's whole repertoire on a new store in `dir`. */
static void work_a_store(const char *dir)
{
    tss_store_options o;
    tss_delete_spec d = hd_delete_spec();
    tss_store *s;
    char id[37], path[4200];
    ru_seg *v;
    size_t n;

    hd_build(dir, NULL);
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_delete_create(s, &d, id), 0);
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_store_rollup(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_store_compact(s, RU_NOW, TSS_COMPACT_MERGE, NULL), 0);
    assert_int_equal(tss_store_prune(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_store_publish_stats(s, RU_NOW, 0), 0);
    assert_int_equal(tss_store_client_state_put(s, "replay-a", "pos", 3), 0);
    hd_fill(s, NULL, HD_W_SEAL, HD_W_SEAL + RU_SPAN);
    assert_int_equal(tss_store_seal(s, RU_NOW, TSS_SEAL_ALL, NULL), 0);
    tss_store_close(s);
    /* a sidecar lost, and repaired (rewritten) by verify */
    n = ru_list_segments(dir, &v);
    assert_true(n >= 1);
    {
        char u[37];

        memcpy(u, v[0].name + strlen(v[0].name) - 40, 36);
        u[36] = '\0';
        snprintf(path, sizeof(path), "%.4000s/_coverage/segments/%s.roar", dir,
                 u);
    }
    free(v);
    assert_int_equal(unlink(path), 0);
    /* the writer's open rebuilds it */
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    assert_true(tt_exists(path));
    {
        tss_verify_report rep;

        assert_int_equal(
            tss_verify(s, TSS_VERIFY_REPAIR, NULL, NULL, NULL, &rep), 0);
        assert_int_equal(rep.problems, 0);
    }
    tss_store_close(s);
}

/* One csv plugin file and its type, for `tsstore import`. */
static void make_csv(const char *base, char *csv, char *types, size_t size)
{
    char p[4096];

    tt_join(csv, size, base, "csv");
    tt_join(types, size, base, "types.db");
    tt_spit(types, "gauge value:GAUGE:U:U\n", 22);
    assert_int_equal(mkdir(csv, 0755), 0);
    tt_join(p, sizeof(p), csv, "h");
    assert_int_equal(mkdir(p, 0755), 0);
    strcat(p, "/p");
    assert_int_equal(mkdir(p, 0755), 0);
    strcat(p, "/gauge-2023-11-15");
    tt_spit(p, "epoch,value\n1700000000,1\n1700000010,2\n", 38);
}

static void test_modes(void **state)
{
    static const mode_t masks[] = {077, 022, 0};
    char csv[4096], types[4096];

    make_csv(*state, csv, types, sizeof(csv));
    for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        char dir[4096], name[32], what[64];
        mode_t old = umask(masks[i]);

        snprintf(name, sizeof(name), "store-%03o", masks[i]);
        tt_join(dir, sizeof(dir), *state, name);
        work_a_store(dir);
        snprintf(what, sizeof(what), "umask %03o", masks[i]);
        assert_modes(what, dir, 0750 & ~masks[i], 0640 & ~masks[i]);
        if (cli) {
            char *const argv[] = {(char *)cli,  "import", "--csv", csv,
                                  "--types-db", types,    dir,     NULL};
            char out[8192];
            int rc;

            snprintf(name, sizeof(name), "import-%03o", masks[i]);
            tt_join(dir, sizeof(dir), *state, name);
            rc = hd_run(argv, out, sizeof(out));
            if (rc != 0)
                fail_msg("tsstore import: %d %s", rc, out);
            snprintf(what, sizeof(what), "tsstore import, umask %03o",
                     masks[i]);
            assert_modes(what, dir, 0750 & ~masks[i], 0640 & ~masks[i]);
        }
        umask(old);
    }
}

/* ---- the CLI changes nothing when it only reads ------------------------ */

static void test_cli_reads_nothing_changes(void **state)
{
    char dir[4096], path[4200], seg[64], id[37];
    char *argvs[][12] = {
        {"ls", NULL},
        {"ls", "--resolution", "auto", NULL},
        {"ls", "--series", "h/ru/*", "--format", "jsonl", NULL},
        {"dump", NULL},
        {"dump", "--format", "jsonl", NULL},
        {"dump", "--format", "openmetrics", NULL},
        {"dump", "--resolution", "auto", "--from", "1699000000", NULL},
        {"dump", "--resolution", "5m", NULL},
        {"coverage", NULL},
        {"coverage", "--gaps", "--format", "jsonl", NULL},
        {"stats", NULL},
        {"verify", NULL},
        {"info", NULL},
        {"delete", "--dry-run", "--series", "h/ru/gauge", NULL},
    };
    tss_store_options o;
    tss_delete_spec d = hd_delete_spec();
    hd_tree before, after;
    tss_store *s;
    ru_seg *v;
    size_t n;

    if (!cli) {
        print_message("no CLI given: skipped\n");
        return;
    }
    tt_join(dir, sizeof(dir), *state, "store");
    hd_build(dir, NULL);
    hd_options(&o, NULL);
    s = ru_open(dir, TSS_OPEN_WRITER, &o);
    assert_int_equal(tss_store_rollup(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_delete_create(s, &d, id), 0);
    assert_int_equal(tss_store_apply_mutations(s, RU_NOW, NULL), 0);
    assert_int_equal(tss_store_publish_stats(s, RU_NOW, 0), 0);
    tss_store_close(s);
    /* a delete still to apply (its document in "intent"), written by a
     * reader handle */
    s = ru_open(dir, 0, &o);
    d.series_glob = "h/ru/derive";
    assert_int_equal(tss_delete_create(s, &d, id), 0);
    tss_store_close(s);
    /* a crashed writer's leftovers: a temp file, a torn log record */
    tt_join(path, sizeof(path), dir, "segments/.tmp-x.seg-1-1");
    tt_spit(path, "partial", 7);
    {
        char names[512], *comma;

        /* the current generation's log, its first record cut short */
        tt_join(path, sizeof(path), dir, "head");
        tt_list(path, "base-", names, sizeof(names));
        comma = strchr(names, ',');
        if (comma)
            *comma = '\0';
        assert_true(strlen(names) > 10);
        names[strlen(names) - 5] = '\0'; /* ".snap" */
        tt_join(path, sizeof(path), dir, "head/log-");
        strcat(path, names + 5);
        {
            FILE *f = fopen(path, "ab");

            assert_non_null(f);
            fputs("TSL1torn", f);
            fclose(f);
        }
    }
    /* and a sidecar gone bad */
    n = ru_list_segments(dir, &v);
    assert_true(n >= 2);
    memcpy(seg, v[1].name + strlen(v[1].name) - 40, 36);
    seg[36] = '\0';
    free(v);
    snprintf(path, sizeof(path), "%.4000s/_coverage/segments/%s.roar", dir,
             seg);
    tt_flip(path, 70, 0x10);

    for (size_t i = 0; i < sizeof(argvs) / sizeof(argvs[0]); i++) {
        char *argv[16];
        size_t k = 0;
        char out[1 << 16], what[256];
        int rc;

        argv[k++] = (char *)cli;
        for (size_t j = 0; argvs[i][j]; j++)
            argv[k++] = argvs[i][j];
        argv[k++] = dir;
        argv[k] = NULL;
        snprintf(what, sizeof(what), "tsstore %s%s%s", argvs[i][0],
                 argvs[i][1] ? " " : "", argvs[i][1] ? argvs[i][1] : "");
        hd_tree_list(dir, &before);
        rc = hd_run(argv, out, sizeof(out));
        /* 0, or 1 for what it found wrong (verify: the bad sidecar) */
        if (rc != 0 && rc != 1)
            fail_msg("%s: exit %d: %.400s", what, rc, out);
        if (strcmp(argvs[i][0], "verify") == 0 && rc != 1)
            fail_msg("%s: the bad sidecar was not found", what);
        hd_tree_list(dir, &after);
        hd_tree_assert_same(what, &before, &after);
        hd_tree_free(&before);
        hd_tree_free(&after);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        T(test_modes),
        T(test_cli_reads_nothing_changes),
    };

    cli = argc > 1 ? argv[1] : NULL;
    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
