/*
 * tss_verify (verify.c): a healthy store has no problems; each kind of
 * damage is one problem naming its file; TSS_VERIFY_REPAIR on a writer
 * handle applies the safe repairs so a second run is clean; without the
 * flag (or on a reader, where it is refused) nothing on disk changes.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coverage.h"
#include "series.h"
#include "storage.h"
#include "tsstore/verify.h"

#define SPAN INT64_C(3600000)
#define W0 (INT64_C(472222) * SPAN)
#define ORPHAN "_coverage/segments/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.roar"

/* ---- findings ----------------------------------------------------------- */

typedef struct finding {
    int sev;
    char file[256], what[1024];
} finding;

typedef struct findings {
    finding f[32];
    size_t n;
    uint64_t progress_done, progress_total, progress_calls;
} findings;

static void on_finding(void *ctx, int sev, const char *file, const char *what)
{
    findings *fs = ctx;

    if (fs->n < 32) {
        fs->f[fs->n].sev = sev;
        snprintf(fs->f[fs->n].file, sizeof(fs->f[0].file), "%s", file);
        snprintf(fs->f[fs->n].what, sizeof(fs->f[0].what), "%s", what);
        fs->n++;
    }
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    findings *fs = ctx;

    fs->progress_done = done;
    fs->progress_total = total;
    fs->progress_calls++;
}

static void dump(const findings *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        print_message("  %s %s: %s\n",
                      fs->f[i].sev == TSS_VERIFY_PROBLEM ? "PROBLEM" : "note",
                      fs->f[i].file, fs->f[i].what);
}

/* Number of findings of severity `sev` whose file is `file` (exactly) and
 * whose text contains `what`. */
static size_t count(const findings *fs, int sev, const char *file,
                    const char *what)
{
    size_t n = 0;

    for (size_t i = 0; i < fs->n; i++)
        if (fs->f[i].sev == sev && strcmp(fs->f[i].file, file) == 0 &&
            strstr(fs->f[i].what, what))
            n++;
    return n;
}

static void expect(const findings *fs, int sev, const char *file,
                   const char *what)
{
    if (count(fs, sev, file, what) != 1) {
        dump(fs);
        fail_msg("want one %s for %s saying \"%s\"",
                 sev == TSS_VERIFY_PROBLEM ? "problem" : "note", file, what);
    }
}

/* ---- a store to damage -------------------------------------------------- */

static tss_store *open_store(const char *dir, unsigned flags)
{
    return tt_open(dir, flags, SPAN / 1000, NULL, NULL);
}

/* Three series over three sealed windows (seq 1..3), and head points in a
 * fourth, snapshotted. */
static void build(const char *dir)
{
    tss_store *s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER);
    static const char *const hosts[] = {"a", "b", "c"};

    for (int w = 0; w < 4; w++) {
        for (int h = 0; h < 3; h++)
            for (int i = 0; i < 30; i++) {
                tss_series_id id = {hosts[h], "cpu",  "0",
                                    "cpu",    "user", "value"};
                tss_value v = {.derive = w * 1000 + h * 100 + i};

                assert_int_equal(tss_store_append(s, &id, TSS_KIND_DERIVE,
                                                  W0 + w * SPAN + i * 10000, v),
                                 0);
            }
        if (w < 3)
            assert_int_equal(
                tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL), 0);
    }
    assert_int_equal(tss_store_snapshot(s, tss_store_now(s), TSS_SNAP_SYNC), 0);
    tss_store_close(s);
    /* the table coverage lags the three sidecars (a close does not save
     * it): the next writer's start saves it, as version 2 */
    tss_store_close(open_store(dir, TSS_OPEN_WRITER));
}

static int verify(tss_store *s, unsigned flags, findings *fs,
                  tss_verify_report *r)
{
    memset(fs, 0, sizeof(*fs));
    return tss_verify(s, flags, on_finding, on_progress, fs, r);
}

/* Verifies `dir` with a reader; fails if that changed anything on disk. */
static void verify_dir(const char *dir, findings *fs, tss_verify_report *r)
{
    uint64_t before = tt_tree_digest(dir);
    tss_store *s = open_store(dir, 0);

    assert_int_equal(verify(s, 0, fs, r), 0);
    tss_store_close(s);
    if (tt_tree_digest(dir) != before)
        fail_msg("verify modified %s", dir);
}

/* Name (relative to the store) of the `i`th file of `reldir` ending in
 * `suffix`, in sorted order. */
static void nth_file(const char *dir, const char *reldir, const char *suffix,
                     int i, char *out, size_t size)
{
    char path[4096], names[8192], *p, *save = NULL;

    tt_join(path, sizeof(path), dir, reldir);
    tt_list(path, "", names, sizeof(names));
    for (p = strtok_r(names, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(p), k = strlen(suffix);

        if (n >= k && strcmp(p + n - k, suffix) == 0 && i-- == 0) {
            snprintf(out, size, "%s/%s", reldir, p);
            return;
        }
    }
    fail_msg("no file %d ending in %s in %s", i, suffix, reldir);
}

/* The sidecar path of segment `seg` (a path under segments/). */
static void sidecar_of(const char *seg, char *out, size_t size)
{
    const char *name = strrchr(seg, '/') + 1;
    tss_seg_name sn;

    assert_int_equal(tss_seg_name_parse(name, &sn), 0);
    tss_sidecar_path(out, size, sn.uuid);
}

/* ---- healthy ------------------------------------------------------------- */

static void test_healthy(void **state)
{
    char dir[4096];
    findings fs;
    tss_verify_report r;
    tss_store *w;
    uint64_t before;

    tt_join(dir, sizeof(dir), *state, "store");
    build(dir);
    verify_dir(dir, &fs, &r);
    if (r.problems != 0 || fs.n != 0) {
        dump(&fs);
        fail_msg("%" PRIu64 " problems on a healthy store", r.problems);
    }
    assert_int_equal(r.segments, 3);
    assert_int_equal(r.points, 3 * 3 * 30);
    /* STORE, the table, three segments and their sidecars, base and log */
    assert_int_equal(r.files, 1 + 1 + 3 * 2 + 2);
    assert_int_equal(fs.progress_done, 3);
    assert_int_equal(fs.progress_total, 3);

    /* a writer handle without the flag changes nothing either */
    w = open_store(dir, TSS_OPEN_WRITER);
    before = tt_tree_digest(dir);
    assert_int_equal(verify(w, 0, &fs, &r), 0);
    assert_int_equal(r.problems, 0);
    assert_true(tt_tree_digest(dir) == before);
    tss_store_close(w);
}

/* ---- one kind of damage at a time ---------------------------------------- */

enum {
    FLIP_CHUNK,
    MISSING_SIDECAR,
    WRONG_SIDECAR,
    CORRUPT_SIDECAR,
    WRONG_TABLE,
    CORRUPT_TABLE,
    CORRUPT_BASE,
    ORPHAN_SIDECAR,
    TEMP_FILE,
    LINK_SIDECAR,
    WIDTH_SIDECAR,
    WINDOW_SIDECAR,
    NDAMAGE
};

/* Sets the u64 at `off` of file `path` and makes its checksum (the last 8
 * bytes, XXH3-64 of the rest) right again: damage only a reader that
 * checks the field itself can see. */
static void set_u64_fixed(const char *path, size_t off, uint64_t v)
{
    uint8_t *img;
    size_t len;

    assert_int_equal(tt_slurp(path, &img, &len), 0);
    assert_true(len >= off + 8 + 8);
    tss_put_u64(img + off, v);
    tss_put_u64(img + len - 8, tss_checksum(img, len - 8));
    tt_spit(path, img, len);
    free(img);
}

/* A valid sidecar for segment `seg` that holds other points. */
static void wrong_sidecar(const char *dir, const char *seg, const char *cov)
{
    tss_seg_name sn;
    tss_sidecar sc;
    tss_buf img = {0};
    tss_series_id id = {"a", "cpu", "0", "cpu", "user", "value"};
    uint8_t key[TSS_KEY_MAX];
    size_t klen;
    tss_point p = {0, {0}};
    char path[4096];

    assert_int_equal(tss_seg_name_parse(strrchr(seg, '/') + 1, &sn), 0);
    assert_int_equal(tss_key_encode(key, &klen, &id, TSS_KIND_DERIVE), 0);
    p.t = sn.start + 5000;
    assert_int_equal(tss_sidecar_init(&sc, sn.uuid, sn.start, 10000), 0);
    assert_int_equal(tss_sidecar_add(&sc, key, klen, &p, 1), 0);
    assert_int_equal(tss_sidecar_encode(&sc, &img), 0);
    tt_join(path, sizeof(path), dir, cov);
    tt_spit(path, img.data, img.len);
    tss_buf_free(&img);
    tss_sidecar_free(&sc);
}

/* A new table version with a bucket no sidecar has. */
static void wrong_table(const char *dir, char *rel, size_t size)
{
    tss_storage *st;
    tss_covtable *t;
    tss_series_id id = {"b", "cpu", "0", "cpu", "user", "value"};
    uint8_t key[TSS_KEY_MAX];
    size_t klen;
    tss_point p = {W0 + 5, {0}};

    assert_int_equal(tss_key_encode(key, &klen, &id, TSS_KIND_DERIVE), 0);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_covtable_load(&t, st, 10000, NULL, NULL), 0);
    p.t = W0 + SPAN - 1; /* a bucket of window 0 without a point */
    assert_int_equal(tss_covtable_add_points(t, key, klen, &p, 1), 0);
    assert_int_equal(tss_covtable_save(t, st), 0);
    snprintf(rel, size, "_coverage/table/%" PRIu64 ".roar",
             tss_covtable_version(t));
    tss_covtable_free(t);
    tss_storage_close(st);
}

static void damage(const char *dir, int kind, char *file, size_t size)
{
    char seg[512], cov[512], path[4096];
    uint8_t *img;
    size_t len;

    nth_file(dir, "segments", ".seg", 1, seg, sizeof(seg));
    sidecar_of(seg, cov, sizeof(cov));
    snprintf(file, size, "%s", kind == FLIP_CHUNK ? seg : cov);
    switch (kind) {
    case FLIP_CHUNK:
        tt_join(path, sizeof(path), dir, seg);
        tt_flip(path, 128 + 5, 0x04);
        break;
    case MISSING_SIDECAR:
        tt_join(path, sizeof(path), dir, cov);
        assert_int_equal(unlink(path), 0);
        break;
    case WRONG_SIDECAR:
        wrong_sidecar(dir, seg, cov);
        break;
    case CORRUPT_SIDECAR:
        tt_join(path, sizeof(path), dir, cov);
        tt_flip(path, 70, 0x01);
        break;
    case WRONG_TABLE:
        wrong_table(dir, file, size);
        break;
    case CORRUPT_TABLE:
        nth_file(dir, "_coverage/table", ".roar", 1, file, size);
        tt_join(path, sizeof(path), dir, file);
        tt_flip(path, 80, 0x01);
        break;
    case CORRUPT_BASE:
        nth_file(dir, "head", ".snap", 0, file, size);
        tt_join(path, sizeof(path), dir, file);
        tt_flip(path, tt_file_size(path) / 2, 0x01);
        break;
    case ORPHAN_SIDECAR:
        tt_join(path, sizeof(path), dir, cov);
        assert_int_equal(tt_slurp(path, &img, &len), 0);
        tt_join(path, sizeof(path), dir, ORPHAN);
        tt_spit(path, img, len);
        free(img);
        snprintf(file, size, "%s", ORPHAN);
        break;
    case TEMP_FILE:
        snprintf(file, size, "segments/.tmp-x.seg-1-1");
        tt_join(path, sizeof(path), dir, file);
        tt_spit(path, "half a segment", 14);
        break;
    case LINK_SIDECAR: { /* a symlink to a good copy outside the store */
        char out[4200];

        tt_join(path, sizeof(path), dir, cov);
        snprintf(out, sizeof(out), "%s.outside", dir);
        assert_int_equal(rename(path, out), 0);
        assert_int_equal(symlink(out, path), 0);
        break;
    }
    case WIDTH_SIDECAR: /* bucket width 10 s + 1 ms, checksum right */
        tt_join(path, sizeof(path), dir, cov);
        set_u64_fixed(path, 40, 10001);
        break;
    case WINDOW_SIDECAR: /* window start an hour early, checksum right */
        tt_join(path, sizeof(path), dir, cov);
        set_u64_fixed(path, 32, (uint64_t)W0);
        break;
    }
}

static void test_each_damage(void **state)
{
    /* what the finding says, per kind */
    static const char *const says[NDAMAGE] = {
        [FLIP_CHUNK] = "checksum",
        [MISSING_SIDECAR] = "is missing",
        [WRONG_SIDECAR] = "disagrees with the points of segment",
        [CORRUPT_SIDECAR] = "checksum mismatch",
        [WRONG_TABLE] = "disagrees with the sidecars",
        [CORRUPT_TABLE] = "checksum mismatch",
        [CORRUPT_BASE] = "checksum mismatch",
        [ORPHAN_SIDECAR] = "coverage sidecar without a segment",
        [TEMP_FILE] = "temp file of an unfinished write",
        [LINK_SIDECAR] = "a symbolic link, not a regular file",
        [WIDTH_SIDECAR] = "bucket width 10001 differs from STORE's 10000",
        [WINDOW_SIDECAR] = "window start 1699999200000 differs from its "
                           "segment's 1700002800000",
    };
    char pristine[4096], dir[4096], file[512];
    findings fs;
    tss_verify_report r;

    tt_join(pristine, sizeof(pristine), *state, "pristine");
    build(pristine);
    for (int k = 0; k < NDAMAGE; k++) {
        char name[32];

        snprintf(name, sizeof(name), "damage%d", k);
        tt_join(dir, sizeof(dir), *state, name);
        tt_copy_tree(pristine, dir);
        damage(dir, k, file, sizeof(file));
        verify_dir(dir, &fs, &r);
        if (k == TEMP_FILE || k == ORPHAN_SIDECAR) {
            /* leftovers of a crash, not damage */
            expect(&fs, TSS_VERIFY_NOTE, file, says[k]);
            assert_int_equal(r.problems, 0);
        } else if (k == CORRUPT_TABLE || k == CORRUPT_BASE) {
            /* found while loading: the file is named in the text */
            char dirname[512];

            snprintf(dirname, sizeof(dirname), "%s", file);
            *strrchr(dirname, '/') = '\0';
            expect(&fs, TSS_VERIFY_PROBLEM, dirname, file);
            expect(&fs, TSS_VERIFY_PROBLEM, dirname, says[k]);
            assert_int_equal(r.problems, 1);
        } else {
            expect(&fs, TSS_VERIFY_PROBLEM, file, says[k]);
            assert_int_equal(r.problems, 1);
            /* the finding names the file once: not again in its text */
            if (count(&fs, TSS_VERIFY_PROBLEM, file, file) != 0) {
                dump(&fs);
                fail_msg("damage %d: the path is repeated", k);
            }
        }
        tt_rmrf(dir);
    }
}

/* ---- repair -------------------------------------------------------------- */

static void test_repair(void **state)
{
    char dir[4096], seg0[512], seg1[512], cov0[512], cov1[512], path[4096];
    char tmp[4096], aside[4200];
    uint8_t *orig0, *orig1, *now;
    size_t len0, len1, len;
    findings fs;
    tss_verify_report r;
    tss_store *s;
    uint64_t before;

    tt_join(dir, sizeof(dir), *state, "store");
    build(dir);
    nth_file(dir, "segments", ".seg", 0, seg0, sizeof(seg0));
    nth_file(dir, "segments", ".seg", 2, seg1, sizeof(seg1));
    sidecar_of(seg0, cov0, sizeof(cov0));
    sidecar_of(seg1, cov1, sizeof(cov1));
    tt_join(path, sizeof(path), dir, cov0);
    assert_int_equal(tt_slurp(path, &orig0, &len0), 0);
    tt_join(path, sizeof(path), dir, cov1);
    assert_int_equal(tt_slurp(path, &orig1, &len1), 0);

    /* a reader may not repair, and does not touch a file trying */
    s = open_store(dir, 0);
    before = tt_tree_digest(dir);
    assert_int_equal(verify(s, TSS_VERIFY_REPAIR, &fs, &r), TSS_EINVAL);
    assert_true(tt_tree_digest(dir) == before);
    tss_store_close(s);

    /* damage under a running writer (its open repairs what it sees) */
    s = open_store(dir, TSS_OPEN_WRITER);
    tt_join(path, sizeof(path), dir, cov0);
    assert_int_equal(unlink(path), 0); /* missing */
    tt_join(path, sizeof(path), dir, cov1);
    tt_flip(path, 70, 0x01); /* corrupt */
    tt_join(path, sizeof(path), dir, ORPHAN);
    tt_spit(path, orig1, len1);
    tt_join(tmp, sizeof(tmp), dir, "_coverage/table/.tmp-9.roar-1-1");
    tt_spit(tmp, "x", 1);
    assert_int_equal(verify(s, TSS_VERIFY_REPAIR, &fs, &r), 0);
    assert_int_equal(r.repaired, 4);
    assert_int_equal(r.problems, 2); /* the missing and the corrupt one */
    expect(&fs, TSS_VERIFY_NOTE, cov0, "rebuilt from segment");
    expect(&fs, TSS_VERIFY_NOTE, cov1, "rebuilt from segment");
    expect(&fs, TSS_VERIFY_NOTE, ORPHAN, "removed");
    expect(&fs, TSS_VERIFY_NOTE, "_coverage/table/.tmp-9.roar-1-1", "removed");
    tss_store_close(s);

    /* rebuilt byte for byte; the corrupt one kept aside; the rest gone */
    tt_join(path, sizeof(path), dir, cov0);
    assert_int_equal(tt_slurp(path, &now, &len), 0);
    assert_int_equal(len, len0);
    assert_memory_equal(now, orig0, len);
    free(now);
    tt_join(path, sizeof(path), dir, cov1);
    assert_int_equal(tt_slurp(path, &now, &len), 0);
    assert_int_equal(len, len1);
    assert_memory_equal(now, orig1, len);
    free(now);
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    assert_true(tt_exists(aside));
    tt_join(path, sizeof(path), dir, ORPHAN);
    assert_false(tt_exists(path));
    assert_false(tt_exists(tmp));

    verify_dir(dir, &fs, &r);
    if (r.problems != 0 || fs.n != 0) {
        dump(&fs);
        fail_msg("%" PRIu64 " problems after the repair", r.problems);
    }
    free(orig0);
    free(orig1);
}

/* A repair never moves a damaged sidecar over one an earlier repair kept:
 * each gets a name of its own (".corrupt", ".corrupt.1", ...), which the
 * note says; a symbolic link is moved itself, what it points to is left
 * alone. */
static void test_repair_keeps_every_copy(void **state)
{
    static const char *const bad[3] = {"first damage", "second damage", NULL};
    char dir[4096], seg[512], cov[512], path[4096], out[4200], want[4400];
    findings fs;
    tss_verify_report r;
    tss_store *s;
    uint8_t *img;
    size_t len;

    tt_join(dir, sizeof(dir), *state, "store");
    build(dir);
    nth_file(dir, "segments", ".seg", 1, seg, sizeof(seg));
    sidecar_of(seg, cov, sizeof(cov));
    tt_join(path, sizeof(path), dir, cov);
    snprintf(out, sizeof(out), "%s.outside", dir);
    for (int k = 0; k < 3; k++) {
        if (bad[k]) {
            tt_spit(path, bad[k], strlen(bad[k]));
        } else { /* a symlink to a file outside the store */
            tt_spit(out, "outside", 7);
            assert_int_equal(unlink(path), 0);
            assert_int_equal(symlink(out, path), 0);
        }
        s = open_store(dir, TSS_OPEN_WRITER | TSS_OPEN_NO_RECOVERY);
        assert_int_equal(verify(s, TSS_VERIFY_REPAIR, &fs, &r), 0);
        tss_store_close(s);
        assert_int_equal(r.repaired, 1);
        if (k == 0)
            snprintf(want, sizeof(want), "kept beside it as %s.corrupt)", cov);
        else
            snprintf(want, sizeof(want), "kept beside it as %s.corrupt.%d)",
                     cov, k);
        expect(&fs, TSS_VERIFY_NOTE, cov, want);
    }
    /* every copy as it was */
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            snprintf(want, sizeof(want), "%s.corrupt", path);
        else
            snprintf(want, sizeof(want), "%s.corrupt.%d", path, k);
        assert_int_equal(tt_slurp(want, &img, &len), 0);
        assert_int_equal(len, strlen(bad[k]));
        assert_memory_equal(img, bad[k], len);
        free(img);
    }
    snprintf(want, sizeof(want), "%s.corrupt.2", path);
    {
        char target[4200];
        ssize_t n = readlink(want, target, sizeof(target) - 1);

        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, out);
    }
    assert_int_equal(tt_slurp(out, &img, &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(img, "outside", 7);
    free(img);
    verify_dir(dir, &fs, &r);
    if (r.problems != 0) {
        dump(&fs);
        fail_msg("%" PRIu64 " problems after the repairs", r.problems);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_healthy),
        T(test_each_damage),
        T(test_repair),
        T(test_repair_keeps_every_copy),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
