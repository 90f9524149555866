/*
 * Coverage (coverage.c, coverage_query.c, store_cov.c): sidecar and table
 * snapshot round trips, every way a sidecar can be unreadable, write_new
 * never replacing one, the table's crash and fallback rules, gap reports
 * through the public API, and the writer's repairs at open.
 *
 * Expected buckets, intervals, runs and percentages are worked out by hand
 * from the points each test writes (see the comments at each table).
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "coverage.h"
#include "coverage_internal.h"
#include "series.h"
#include "storage.h"
#include "tsstore/coverage.h"

#define BW 10000     /* ms: 10 s buckets */
#define SPAN 7200000 /* ms: the default span, for sidecars made by hand */

static const uint8_t UUID1[16] = {0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
                                  0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4,
                                  0xc3, 0xd2, 0xe1, 0xf0};

/* A series key for host/cov/type ds. */
static size_t key_of(uint8_t *key, const char *host, const char *ds, int kind)
{
    tss_series_id id = {host, "cov", "", "type", "", ds};
    size_t len;

    assert_int_equal(tss_key_encode(key, &len, &id, kind), 0);
    return len;
}

static tss_storage *open_storage(const char *dir, const tss_io_ops *io)
{
    tss_storage *st;

    assert_int_equal(tss_storage_open(&st, dir, io, 1), 0);
    assert_int_equal(tss_storage_mkdirs(st, TSS_COV_SEG_DIR), 0);
    assert_int_equal(tss_storage_mkdirs(st, TSS_COV_TABLE_DIR), 0);
    return st;
}

/* Fails unless bm holds exactly want[0..n) (values, sorted). */
static void assert_bitmap(const roaring_bitmap_t *bm, const uint32_t *want,
                          size_t n)
{
    assert_int_equal(roaring_bitmap_get_cardinality(bm), n);
    for (size_t i = 0; i < n; i++)
        if (!roaring_bitmap_contains(bm, want[i]))
            fail_msg("bucket %u missing", want[i]);
}

/* ---- round trips -------------------------------------------------------- */

/* Window 10 of the default span; three series, keys in order. */
#define WS ((int64_t)10 * SPAN)

/* Three series in key order: times (ms into the window), the buckets and
 * median spacing that follow from them. */
static const struct sample {
    const char *host, *ds;
    int kind;
    size_t n, nb;
    int64_t t[6], interval;
    uint32_t b[6];
} SAMPLE[3] = {
    /* spacings 10, 10, 30, 10, 20.5 s: the median is 10 s; 80.5 s is in
     * bucket 8 */
    {"a",
     "value",
     TSS_KIND_GAUGE,
     6,
     6,
     {0, 10000, 20000, 50000, 60000, 80500},
     10000,
     {0, 1, 2, 5, 6, 8}},
    /* one point, in the last bucket of the window: interval 0 */
    {"b", "rx", TSS_KIND_DERIVE, 1, 1, {SPAN - 1}, 0, {719}},
    /* spacings 1 ms and 2 h - 7 ms: the upper median of two */
    {"b", "tx", TSS_KIND_DERIVE, 3, 2, {5, 6, SPAN - 1}, SPAN - 7, {0, 719}},
};

static void sample_sidecar(tss_sidecar *sc)
{
    assert_int_equal(tss_sidecar_init(sc, UUID1, WS, BW), 0);
    for (int k = 0; k < 3; k++) {
        tss_point pts[6];
        uint8_t key[TSS_KEY_MAX];
        size_t klen = key_of(key, SAMPLE[k].host, SAMPLE[k].ds, SAMPLE[k].kind);

        for (size_t i = 0; i < SAMPLE[k].n; i++)
            pts[i] = (tss_point){WS + SAMPLE[k].t[i], {.bits = i}};
        assert_int_equal(tss_sidecar_add(sc, key, klen, pts, SAMPLE[k].n), 0);
    }
}

static void check_sample(const tss_sidecar *sc)
{
    assert_memory_equal(sc->uuid, UUID1, 16);
    assert_int_equal(sc->window_start, WS);
    assert_int_equal(sc->bucket_width, BW);
    assert_int_equal(sc->n, 3);
    for (int k = 0; k < 3; k++) {
        uint8_t key[TSS_KEY_MAX];
        size_t klen = key_of(key, SAMPLE[k].host, SAMPLE[k].ds, SAMPLE[k].kind);

        assert_int_equal(sc->entries[k].key_len, klen);
        assert_memory_equal(sc->entries[k].key, key, klen);
        assert_int_equal(sc->entries[k].interval, SAMPLE[k].interval);
        assert_bitmap(sc->entries[k].bm, SAMPLE[k].b, SAMPLE[k].nb);
    }
}

static void encode(const tss_sidecar *sc, tss_buf *img)
{
    memset(img, 0, sizeof(*img));
    assert_int_equal(tss_sidecar_encode(sc, img), 0);
}

/* A sidecar of window `ws` with one series of points t[0..n). */
static void one_series(int64_t ws, const int64_t *t, size_t n, tss_buf *img)
{
    tss_sidecar sc;
    tss_point p[4];
    uint8_t key[TSS_KEY_MAX];
    size_t klen = key_of(key, "one", "v", TSS_KIND_COUNTER);

    for (size_t i = 0; i < n; i++)
        p[i] = (tss_point){t[i], {0}};
    assert_int_equal(tss_sidecar_init(&sc, UUID1, ws, BW), 0);
    assert_int_equal(tss_sidecar_add(&sc, key, klen, p, n), 0);
    encode(&sc, img);
    tss_sidecar_free(&sc);
}

static void test_sidecar_round_trip(void **state)
{
    tss_sidecar sc, back;
    tss_buf img;

    sample_sidecar(&sc);
    check_sample(&sc);
    encode(&sc, &img);
    assert_int_equal(
        tss_sidecar_decode(img.data, img.len, "x.roar", SPAN / BW, &back), 0);
    check_sample(&back);
    tss_sidecar_free(&back);
    tss_buf_free(&img);
    tss_sidecar_free(&sc);

    /* before 1970 the buckets still count from the window start */
    one_series(-SPAN, (const int64_t[]){-SPAN, -SPAN + 25000}, 2, &img);
    assert_int_equal(
        tss_sidecar_decode(img.data, img.len, "x.roar", SPAN / BW, &back), 0);
    assert_int_equal(back.window_start, -SPAN);
    assert_int_equal(back.entries[0].interval, 25000);
    assert_bitmap(back.entries[0].bm, (const uint32_t[]){0, 2}, 2);
    tss_sidecar_free(&back);
    tss_buf_free(&img);
}

#define V(bucket) ((uint32_t)((bucket) - (-(INT64_C(1) << 31))))

static void test_table_round_trip(void **state)
{
    tss_storage *st = open_storage(*state, NULL);
    tss_covtable *t, *back;
    tss_sidecar sc, sc2;
    uint8_t key[TSS_KEY_MAX];
    size_t klen;
    /* window 10's sidecar again, and series "a" in window 11 at 0 s and
     * 30 s: absolute buckets are window start / 10 s + relative bucket */
    const int64_t b10 = WS / BW, b11 = (WS + SPAN) / BW;
    tss_point p2[2] = {{WS + SPAN, {0}}, {WS + SPAN + 30000, {0}}};
    tss_point head[3] = {{-5000, {0}}, {0, {0}}, {5000, {0}}};

    sample_sidecar(&sc);
    assert_int_equal(tss_sidecar_init(&sc2, UUID1, WS + SPAN, BW), 0);
    klen = key_of(key, "a", "value", TSS_KIND_GAUGE);
    assert_int_equal(tss_sidecar_add(&sc2, key, klen, p2, 2), 0);
    assert_int_equal(tss_covtable_new(&t, BW), 0);
    assert_int_equal(tss_covtable_add_sidecar(t, &sc), 0);
    assert_int_equal(tss_covtable_add_sidecar(t, &sc2), 0);
    /* head points of a new series around 1970: buckets -1 and 0 */
    klen = key_of(key, "c", "value", TSS_KIND_GAUGE);
    assert_int_equal(tss_covtable_add_points(t, key, klen, head, 3), 0);
    tss_covtable_set_covered_seq(t, 42);
    tss_covtable_set_covered_seq(t, 7); /* never goes back */
    assert_int_equal(tss_covtable_save(t, st), 0);
    assert_int_equal(tss_covtable_version(t), 1);
    assert_int_equal(tss_covtable_load(&back, st, BW, NULL, NULL), 0);
    assert_int_equal(tss_covtable_version(back), 1);
    assert_int_equal(tss_covtable_covered_seq(back), 42);
    {
        /* bitmap values: the bucket minus the base bucket, -2^31 */
        const uint32_t a_b[] = {V(b10),     V(b10 + 1), V(b10 + 2), V(b10 + 5),
                                V(b10 + 6), V(b10 + 8), V(b11),     V(b11 + 3)},
                       c_b[] = {V(-1), V(0)};
        const tss_cov_entry *e;
        size_t n = 0;

        klen = key_of(key, "a", "value", TSS_KIND_GAUGE);
        e = tss_covtable_get(back, key, klen);
        assert_non_null(e);
        assert_bitmap(e->bm, a_b, 8);
        assert_int_equal(e->interval, 30000); /* the newer sidecar's */
        klen = key_of(key, "b", "tx", TSS_KIND_DERIVE);
        assert_int_equal(tss_covtable_get(back, key, klen)->interval, SPAN - 7);
        klen = key_of(key, "c", "value", TSS_KIND_GAUGE);
        e = tss_covtable_get(back, key, klen);
        assert_bitmap(e->bm, c_b, 2);
        assert_int_equal(e->interval, 5000);
        for (e = tss_covtable_iter(back, NULL); e;
             e = tss_covtable_iter(back, e))
            n++;
        assert_int_equal(n, 4);
    }
    tss_covtable_free(back);
    tss_covtable_free(t);
    tss_sidecar_free(&sc);
    tss_sidecar_free(&sc2);
    tss_storage_close(st);
}

/* ---- unreadable sidecars ------------------------------------------------ */

static void put_file(const char *dir, const char *rel, const void *p, size_t n)
{
    char path[4096];

    tt_join(path, sizeof(path), dir, rel);
    tt_spit(path, p, n);
}

/* Reads UUID1's sidecar; returns the code, the message in msg. */
static int read_sidecar(tss_storage *st, char *msg, size_t size)
{
    tss_sidecar sc;
    int rc = tss_sidecar_read(st, UUID1, SPAN / BW, &sc);

    snprintf(msg, size, "%s", tss_error_last());
    if (rc == 0)
        tss_sidecar_free(&sc);
    return rc;
}

static void test_sidecar_unreadable(void **state)
{
    char rel[128], msgs[5][512];
    tss_storage *st = open_storage(*state, NULL);
    tss_sidecar sc;
    tss_buf img;
    uint8_t *bad;
    static const char *const want[5] = {
        "empty file", "truncated header", "bad magic",
        "format version 2 is not supported", "checksum mismatch"};

    tss_sidecar_path(rel, sizeof(rel), UUID1);
    assert_int_equal(read_sidecar(st, msgs[0], sizeof(msgs[0])), TSS_ENOTFOUND);
    tt_assert_msg_has(rel);

    sample_sidecar(&sc);
    encode(&sc, &img);
    bad = malloc(img.len);
    assert_non_null(bad);
    for (int k = 0; k < 5; k++) {
        size_t len = img.len;

        memcpy(bad, img.data, img.len);
        if (k == 0)
            len = 0;
        else if (k == 1)
            len = 40; /* cut inside the 64-byte header */
        else if (k == 2)
            bad[1] ^= 0x20;
        else if (k == 3)
            bad[8] = 2; /* checked before the checksum */
        else
            bad[img.len / 2] ^= 0x01;
        put_file(*state, rel, bad, len);
        assert_int_equal(read_sidecar(st, msgs[k], sizeof(msgs[k])),
                         TSS_ECORRUPT);
        if (!strstr(msgs[k], want[k]) || !strstr(msgs[k], rel))
            fail_msg("case %d: \"%s\" lacks \"%s\" or the path", k, msgs[k],
                     want[k]);
        for (int j = 0; j < k; j++)
            assert_string_not_equal(msgs[j], msgs[k]);
    }
    /* the good one reads back */
    put_file(*state, rel, img.data, img.len);
    assert_int_equal(read_sidecar(st, msgs[0], sizeof(msgs[0])), 0);
    /* a sidecar of another segment under this one's name */
    tss_buf_free(&img);
    sc.uuid[15] ^= 1;
    encode(&sc, &img);
    put_file(*state, rel, img.data, img.len);
    assert_int_equal(read_sidecar(st, msgs[0], sizeof(msgs[0])), TSS_ECORRUPT);
    tt_assert_msg_has("belongs to another segment");
    free(bad);
    tss_buf_free(&img);
    tss_sidecar_free(&sc);
    tss_storage_close(st);
}

/* Every call of a sidecar read that fails with EIO gives TSS_EIO naming the
 * file (a failed close of a read-only descriptor loses nothing). */
static void test_sidecar_io_errors(void **state)
{
    static tt_fault f;
    const tss_io_ops *io = tt_fault_ops(&f);
    tss_storage *st;
    tss_sidecar sc;
    tss_buf img;
    char rel[128], msg[512];
    unsigned long total, failed = 0;

    tss_sidecar_path(rel, sizeof(rel), UUID1);
    tt_fault_arm(&f, 0, 0, false);
    st = open_storage(*state, io);
    sample_sidecar(&sc);
    encode(&sc, &img);
    put_file(*state, rel, img.data, img.len);
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(read_sidecar(st, msg, sizeof(msg)), 0);
    total = f.calls;
    for (unsigned long n = 1; n <= total; n++) {
        int rc;

        tt_fault_arm(&f, n, EIO, false);
        rc = read_sidecar(st, msg, sizeof(msg));
        if (rc == 0) {
            assert_string_equal(f.failed_op, "close");
            continue;
        }
        if (rc != TSS_EIO || !strstr(msg, rel))
            fail_msg("call %lu (%s): %d \"%s\"", n, f.failed_op, rc, msg);
        failed++;
    }
    assert_true(failed >= 3); /* open, stat, read at least */
    tt_fault_arm(&f, 0, 0, false);
    tss_storage_close(st);
    tt_fault_ops(NULL);
    tss_buf_free(&img);
    tss_sidecar_free(&sc);
}

/*
 * A sidecar whose frame and checksum are right around bitmap bytes CRoaring
 * refuses: the library says so itself, and CRoaring prints nothing.
 */
static size_t craft(uint8_t *out, const uint8_t *bm, size_t bmlen,
                    size_t framelen)
{
    uint8_t key[TSS_KEY_MAX];
    size_t klen = key_of(key, "a", "value", TSS_KIND_GAUGE), n = 0;
    static const uint8_t magic[8] = {0x89, 'T', 'S', 'C', 'O', 'V', '\r', '\n'};

    memset(out, 0, 64);
    memcpy(out, magic, 8);
    out[8] = 1;   /* version */
    out[12] = 64; /* header length */
    memcpy(out + 16, UUID1, 16);
    tss_put_u64(out + 32, (uint64_t)WS);
    tss_put_u64(out + 40, BW);
    out[48] = 1; /* one series */
    n = 64;
    out[n++] = 0;             /* shared */
    out[n++] = (uint8_t)klen; /* suffix length (< 128) */
    memcpy(out + n, key, klen);
    n += klen;
    out[n++] = 0x10;              /* interval 16 ms */
    out[n++] = (uint8_t)framelen; /* bitmap length (< 128) */
    memcpy(out + n, bm, bmlen);
    n += bmlen;
    tss_put_u64(out + n, XXH3_64bits(out, n));
    return n + 8;
}

static void test_sidecar_bitmap_rejected(void **state)
{
    roaring_bitmap_t *good = roaring_bitmap_of(3, 1, 2, 700);
    uint8_t ok[64], garbage[64], img[512];
    size_t oklen = roaring_bitmap_portable_size_in_bytes(good), len;
    tss_sidecar sc;
    char err[256];

    assert_true(oklen < 40);
    roaring_bitmap_portable_serialize(good, (char *)ok);
    /* the crafting itself is right: the good bitmap reads back */
    len = craft(img, ok, oklen, oklen);
    assert_int_equal(tss_sidecar_decode(img, len, "c.roar", SPAN / BW, &sc), 0);
    assert_int_equal(roaring_bitmap_get_cardinality(sc.entries[0].bm), 3);
    tss_sidecar_free(&sc);

    for (int k = 0; k < 4; k++) {
        size_t glen = oklen, frame = oklen, printed;
        int rc;

        memcpy(garbage, ok, oklen);
        if (k == 0) { /* no Roaring cookie at all */
            for (size_t i = 0; i < 24; i++)
                garbage[i] = (uint8_t)(0xa5 ^ (i * 37));
            glen = frame = 24;
        } else if (k == 1) { /* cookie, then a container count of 5000 */
            garbage[0] = 0x3a, garbage[1] = 0x30, garbage[2] = 0,
            garbage[3] = 0;
            garbage[4] = 0x88, garbage[5] = 0x13, garbage[6] = 0,
            garbage[7] = 0;
            glen = frame = 12;
        } else if (k == 2) { /* content cut short of what it declares */
            glen = frame = oklen - 2;
        } else { /* 3 bytes more in the frame than the bitmap uses */
            memset(garbage + oklen, 0xee, 3);
            glen = frame = oklen + 3;
        }
        len = craft(img, garbage, glen, frame);
        tt_stderr_begin(); /* no assertion before tt_stderr_end */
        rc = tss_sidecar_decode(img, len, "c.roar", SPAN / BW, &sc);
        printed = tt_stderr_end(err, sizeof(err));
        if (rc != TSS_ECORRUPT)
            fail_msg("case %d: %d", k, rc);
        if (printed)
            fail_msg("case %d: CRoaring printed \"%s\"", k, err);
        tt_assert_msg_has("c.roar");
        tt_assert_msg_has("rejected by CRoaring");
    }
    /*
     * Bytes whose size CRoaring agrees with and which
     * roaring_bitmap_portable_deserialize_safe parses, but that are no
     * valid bitmap: the walk of the containers refuses them before
     * CRoaring sees them, naming the file and the series. The good bitmap
     * is one array container: cookie, count, key and cardinality - 1, an
     * offset, then the values 1, 2, 700 (u16 each, from byte 16).
     */
    assert_int_equal(oklen, 22);
    assert_int_equal(tss_get_u16(ok + 18), 2);
    for (int k = 0; k < 2; k++) {
        static const char *const want[2] = {"bitmap values out of order",
                                            "bitmap containers out of order"};
        size_t glen = oklen;

        memcpy(garbage, ok, oklen);
        if (k == 0) { /* 1, 8192, 700: its maximum (the last value) passes
                         the range check; 8192 lies far outside the window */
            tss_put_u16(garbage + 18, 8192);
        } else { /* {1, 70000}: two array containers, keys 0 and 1, here
                    in the wrong order (bytes 8 and 12) */
            roaring_bitmap_t *two = roaring_bitmap_of(2, 1, 70000);

            glen = roaring_bitmap_portable_size_in_bytes(two);
            assert_int_equal(glen, 28);
            roaring_bitmap_portable_serialize(two, (char *)garbage);
            roaring_bitmap_free(two);
            assert_int_equal(garbage[8], 0);
            assert_int_equal(garbage[12], 1);
            garbage[8] = 1, garbage[12] = 0;
        }
        len = craft(img, garbage, glen, glen);
        assert_int_equal(tss_sidecar_decode(img, len, "c.roar", SPAN / BW, &sc),
                         TSS_ECORRUPT);
        tt_assert_msg_has("coverage file c.roar: series a/cov/type ds value: ");
        tt_assert_msg_has(want[k]);
    }
    roaring_bitmap_free(good);
}

/* Buckets must lie inside the window: span / bucket width of them. */
static void test_sidecar_bucket_out_of_window(void **state)
{
    tss_sidecar back;
    tss_buf img;

    /* bucket 719, the last of the window */
    one_series(WS, (const int64_t[]){WS + SPAN - 1}, 1, &img);
    assert_int_equal(
        tss_sidecar_decode(img.data, img.len, "w.roar", SPAN / BW, &back), 0);
    tss_sidecar_free(&back);
    tss_buf_free(&img);
    /* bucket 720 belongs to the next window */
    one_series(WS, (const int64_t[]){WS + SPAN}, 1, &img);
    assert_int_equal(
        tss_sidecar_decode(img.data, img.len, "w.roar", SPAN / BW, &back),
        TSS_ECORRUPT);
    tt_assert_msg_has("w.roar");
    tt_assert_msg_has("bucket outside its range");
    tss_buf_free(&img);
}

/* write_new never replaces a sidecar that is already there. */
static void test_sidecar_never_overwritten(void **state)
{
    tss_storage *st = open_storage(*state, NULL);
    tss_sidecar sc;
    tss_buf a, b;
    char rel[128], path[4096], dir[4096];
    uint8_t *disk;
    size_t len;

    sample_sidecar(&sc);
    encode(&sc, &a);
    sc.entries[0].interval = 99;
    encode(&sc, &b);
    assert_true(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
    tss_sidecar_path(rel, sizeof(rel), UUID1);
    assert_int_equal(tss_storage_write_new(st, rel, a.data, a.len), 0);
    assert_int_equal(tss_storage_write_new(st, rel, b.data, b.len),
                     TSS_EEXISTS);
    tt_assert_msg_has(rel);
    tt_join(path, sizeof(path), *state, rel);
    assert_int_equal(tt_slurp(path, &disk, &len), 0);
    assert_int_equal(len, a.len);
    assert_memory_equal(disk, a.data, len);
    free(disk);
    tt_join(dir, sizeof(dir), *state, TSS_COV_SEG_DIR);
    assert_int_equal(tt_count_prefix(dir, ".tmp-"), 0);
    tss_buf_free(&a);
    tss_buf_free(&b);
    tss_sidecar_free(&sc);
    tss_storage_close(st);
}

/* ---- the table snapshot's versions -------------------------------------- */

/* Adds a bucket, covers `seq` and saves: the save's code. */
static int save_version(tss_covtable *t, tss_storage *st, uint64_t seq)
{
    uint8_t key[TSS_KEY_MAX];
    size_t klen = key_of(key, "t", "v", TSS_KIND_GAUGE);
    tss_point p = {(int64_t)seq * BW, {0}};

    assert_int_equal(tss_covtable_add_points(t, key, klen, &p, 1), 0);
    tss_covtable_set_covered_seq(t, seq);
    return tss_covtable_save(t, st);
}

static void test_table_crash_and_fallback(void **state)
{
    static tt_fault f;
    char dir[4096], names[256], path[4096];
    tss_storage *st, *fst;
    tss_covtable *t, *back;
    tt_log log = {0};

    tt_join(dir, sizeof(dir), *state, TSS_COV_TABLE_DIR);
    st = open_storage(*state, NULL);
    assert_int_equal(tss_covtable_new(&t, BW), 0);
    assert_int_equal(save_version(t, st, 1), 0);
    assert_int_equal(save_version(t, st, 2), 0);

    /* a crash between the temp file and its link: the link fails */
    fst = open_storage(*state, tt_fault_ops(&f));
    tt_fault_arm_match(&f, "linkat", "3.roar", 1, EIO);
    assert_int_equal(save_version(t, fst, 3), TSS_EIO);
    assert_string_equal(f.failed_op, "linkat");
    assert_int_equal(tss_covtable_version(t), 2);
    tss_storage_close(fst);
    tt_fault_ops(NULL);
    tt_list(dir, "", names, sizeof(names));
    assert_string_equal(names, "1.roar,2.roar");
    /* or it died before it could remove its temp file */
    tt_join(path, sizeof(path), dir, ".tmp-3.roar-1-1");
    tt_spit(path, "\x89TSTCV", 6);
    assert_int_equal(tss_covtable_load(&back, st, BW, NULL, NULL), 0);
    assert_int_equal(tss_covtable_version(back), 2);
    assert_int_equal(tss_covtable_covered_seq(back), 2);
    tss_covtable_free(back);
    unlink(path);

    /* the newest is corrupt: the previous one is loaded, and it is said */
    tt_join(path, sizeof(path), dir, "2.roar");
    tt_flip(path, 70, 0x40);
    assert_int_equal(tss_covtable_load(&back, st, BW, tt_log_fn, &log), 0);
    assert_int_equal(tss_covtable_covered_seq(back), 1);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "_coverage/table/2.roar") >=
                0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "checksum mismatch") >= 0);
    /* the next save goes above the corrupt one, never onto it */
    assert_int_equal(tss_covtable_version(back), 2);
    tss_covtable_set_covered_seq(back, 3);
    assert_int_equal(tss_covtable_save(back, st), 0);
    tt_list(dir, "", names, sizeof(names));
    assert_string_equal(names, "2.roar,3.roar");
    tss_covtable_free(back);

    /* both bad: an empty table numbered above them, to rebuild */
    tt_join(path, sizeof(path), dir, "3.roar");
    tt_truncate(path, 10);
    log.n = 0;
    assert_int_equal(tss_covtable_load(&back, st, BW, tt_log_fn, &log), 0);
    assert_int_equal(tss_covtable_version(back), 3);
    assert_int_equal(tss_covtable_covered_seq(back), 0);
    assert_null(tss_covtable_iter(back, NULL));
    assert_int_equal(log.n, 2);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "3.roar: truncated") >= 0);

    /* garbage collection keeps the newest two */
    for (uint64_t s = 4; s <= 8; s++)
        assert_int_equal(save_version(back, st, s), 0);
    tt_list(dir, "", names, sizeof(names));
    assert_string_equal(names, "7.roar,8.roar");
    tss_covtable_free(back);
    tss_covtable_free(t);
    tss_storage_close(st);
}

/* ---- gap reports through the public API --------------------------------- */

/*
 * A store of 60 s segments and 10 s buckets, T0 on a segment boundary:
 *
 *  "fast" every 10 s for k = 0..35 (t = T0 + 10 s * k) but k 0-2, 10-14
 *         and 33-35: holes at the start, the middle (across the segment
 *         boundary at k = 12) and the end of [T0, T0 + 360 s);
 *  "slow" every 60 s for k = 0..9 but k 3 and 4: one 180 s hole between
 *         T0 + 120 s and T0 + 300 s; one point per segment.
 */
#define T0 INT64_C(1700000040000)
#define S(sec) ((int64_t)(sec)*1000)

static tss_store *open_store(const char *dir, unsigned flags, tt_log *log,
                             const tss_io_ops *io)
{
    return tt_open(dir, flags, 60, log, io);
}

static void put(tss_store *s, const char *host, int64_t t)
{
    tss_series_id id = {host, "cov", "", "type", "", "value"};
    tss_value v = {.gauge = 1.0};

    assert_int_equal(tss_store_append(s, &id, TSS_KIND_GAUGE, t, v), 0);
}

static void build_gap_store(const char *dir)
{
    tss_store *s =
        open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);

    for (int k = 0; k < 36; k++)
        if (!(k <= 2 || (k >= 10 && k <= 14) || k >= 33))
            put(s, "fast", T0 + S(10 * k));
    for (int k = 0; k < 10; k++)
        if (k != 3 && k != 4)
            put(s, "slow", T0 + S(60 * k));
    assert_int_equal(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, NULL),
                     0);
    tss_store_close(s);
    /* the table lags the sidecars of one seal (a close does not save it);
     * the next writer's start saves it */
    tss_store_close(open_store(dir, TSS_OPEN_WRITER, NULL, NULL));
}

typedef struct want_run {
    int64_t from, to; /* seconds after T0 */
    int covered;
} want_run;

/* Runs coverage for `host` over [T0 + from_s, T0 + to_s) (no range when
 * to_s <= from_s) and compares with want; returns the segments decoded. */
static uint64_t check_cov(tss_store *s, const char *host, int64_t from_s,
                          int64_t to_s, int64_t interval, const want_run *want,
                          size_t nwant)
{
    tss_filter f = {0};
    char glob[64];
    tss_coverage *c;
    tss_coverage_series cs;
    int64_t range, gap = 0;
    uint64_t gaps = 0, decoded;

    snprintf(glob, sizeof(glob), "%s/*", host);
    f.series_glob = glob;
    if (to_s > from_s) {
        f.has_from = f.has_to = 1;
        f.from = T0 + S(from_s);
        f.to = T0 + S(to_s) - 1; /* inclusive */
    }
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    assert_string_equal(cs.id.host, host);
    assert_int_equal(cs.kind, TSS_KIND_GAUGE);
    assert_int_equal(cs.interval, interval);
    assert_int_equal(cs.from, T0 + S(want[0].from));
    assert_int_equal(cs.to, T0 + S(want[nwant - 1].to));
    if (cs.nruns != nwant)
        fail_msg("%s: %zu runs, want %zu", host, cs.nruns, nwant);
    for (size_t i = 0; i < nwant; i++) {
        if (cs.runs[i].from != T0 + S(want[i].from) ||
            cs.runs[i].to != T0 + S(want[i].to) ||
            cs.runs[i].covered != want[i].covered)
            fail_msg("%s run %zu: [%" PRId64 ", %" PRId64 ") %d, want [%" PRId64
                     ", %" PRId64 ") %d (s after T0)",
                     host, i, (cs.runs[i].from - T0) / 1000,
                     (cs.runs[i].to - T0) / 1000, cs.runs[i].covered,
                     want[i].from, want[i].to, want[i].covered);
        if (!want[i].covered) {
            gaps++;
            gap += S(want[i].to - want[i].from);
        }
    }
    assert_int_equal(cs.gaps, gaps);
    assert_int_equal(cs.gap_time, gap);
    range = S(want[nwant - 1].to - want[0].from);
    assert_true(cs.percent == 100.0 * (double)(range - gap) / (double)range);
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    assert_int_equal(tss_coverage_errors(c), 0);
    decoded = tss_coverage_segments_decoded(c);
    tss_coverage_close(c);
    return decoded;
}

/* fast, judged over [T0, T0 + 360 s): its interval is 10 s, so any run of
 * two or more empty buckets is a gap */
static const want_run FAST_RANGE[] = {
    {0, 30, 0}, {30, 100, 1}, {100, 150, 0}, {150, 330, 1}, {330, 360, 0}};
/* fast, judged over its own first to last bucket (3..32) */
static const want_run FAST_OWN[] = {{30, 100, 1}, {100, 150, 0}, {150, 330, 1}};
/* slow over [T0, T0 + 600 s): interval 60 s, so five empty buckets between
 * points are no gap, the seventeen (130..300 s) between T0 + 120 s and
 * T0 + 300 s are, and the five after the last point (550..600 s) are not */
static const want_run SLOW_RANGE[] = {
    {0, 130, 1}, {130, 300, 0}, {300, 600, 1}};
static const want_run SLOW_OWN[] = {{0, 130, 1}, {130, 300, 0}, {300, 550, 1}};

static void check_all(tss_store *r, uint64_t want_decoded)
{
    uint64_t d = 0;

    d += check_cov(r, "fast", 0, 360, 10000, FAST_RANGE, 5);
    d += check_cov(r, "fast", 0, 0, 10000, FAST_OWN, 3);
    d += check_cov(r, "slow", 0, 600, 60000, SLOW_RANGE, 3);
    d += check_cov(r, "slow", 0, 0, 60000, SLOW_OWN, 3);
    assert_int_equal(d, want_decoded * 4);
}

/* Exact runs, no segment chunk decoded (not one .seg file is even opened);
 * head data counts once it is snapshotted, before any seal. */
static void test_gap_reports(void **state)
{
    static const want_run grown[] = {{30, 100, 1},
                                     {100, 150, 0},
                                     {150, 330, 1},
                                     {330, 360, 0},
                                     {360, 420, 1}};
    static tt_fault f;
    char dir[4096];
    tss_store *w, *r;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    r = open_store(dir, 0, NULL, tt_fault_ops(&f));
    tt_fault_arm_match(&f, "openat", ".seg", ULONG_MAX, 0);
    check_all(r, 0);
    assert_int_equal(f.matched, 0);
    tss_store_close(r);
    tt_fault_ops(NULL);

    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    for (int k = 36; k < 42; k++)
        put(w, "fast", T0 + S(10 * k));
    r = open_store(dir, 0, NULL, NULL);
    check_cov(r, "fast", 0, 0, 10000, FAST_OWN, 3); /* not yet */
    assert_int_equal(tss_store_snapshot(w, tss_store_now(w), 0), 0);
    check_cov(r, "fast", 0, 0, 10000, grown, 5);
    check_cov(r, "slow", 0, 600, 60000, SLOW_RANGE, 3); /* untouched */
    tss_store_close(r);
    tss_store_close(w);
}

/* A missing sidecar: the table covers it, or (table gone too) the reader
 * rebuilds it in memory from its segment, writing nothing. */
static void test_gap_reports_missing_sidecar(void **state)
{
    char dir[4096], segdir[4096], tabdir[4096], names[4096], victim[4096];
    tss_store *r;
    uint64_t before;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    tt_join(segdir, sizeof(segdir), dir, TSS_COV_SEG_DIR);
    tt_join(tabdir, sizeof(tabdir), dir, TSS_COV_TABLE_DIR);
    tt_list(segdir, "", names, sizeof(names));
    assert_int_equal(strlen(names), 10 * 41 + 9); /* ten segments */
    names[41] = '\0';
    tt_join(victim, sizeof(victim), segdir, names);
    assert_int_equal(unlink(victim), 0);

    r = open_store(dir, 0, NULL, NULL);
    check_all(r, 0); /* the table snapshot covers every segment */
    tss_store_close(r);

    tt_list(tabdir, "", names, sizeof(names));
    for (char *p = strtok(names, ","); p; p = strtok(NULL, ",")) {
        char path[4096];

        tt_join(path, sizeof(path), tabdir, p);
        assert_int_equal(unlink(path), 0);
    }
    before = tt_tree_digest(dir);
    r = open_store(dir, 0, NULL, NULL);
    check_all(r, 1);
    tss_store_close(r);
    assert_true(tt_tree_digest(dir) == before);
    assert_false(tt_exists(victim));
}

/* Removes every table snapshot: readers and the writer's open then read
 * the sidecar of every segment. */
static void drop_tables(const char *dir)
{
    char tabdir[4096], names[4096], *save = NULL;

    tt_join(tabdir, sizeof(tabdir), dir, TSS_COV_TABLE_DIR);
    tt_list(tabdir, "", names, sizeof(names));
    for (char *p = strtok_r(names, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        char path[4096];

        tt_join(path, sizeof(path), tabdir, p);
        assert_int_equal(unlink(path), 0);
    }
}

/* Segment `i` (in name order: window order) of the gap store: its name,
 * and its sidecar's path (absolute) and name relative to the store. */
static void nth_sidecar(const char *dir, int i, tss_seg_name *sn, char *path,
                        size_t psize, char *rel, size_t rsize)
{
    char segdir[4096], names[8192], *p, *save = NULL;

    tt_join(segdir, sizeof(segdir), dir, "segments");
    tt_list(segdir, "", names, sizeof(names));
    for (p = strtok_r(names, ",", &save); p && i > 0;
         p = strtok_r(NULL, ",", &save))
        i--;
    assert_non_null(p);
    assert_int_equal(tss_seg_name_parse(p, sn), 0);
    tss_sidecar_path(rel, rsize, sn->uuid);
    tt_join(path, psize, dir, rel);
}

/* A corrupt sidecar a reader rebuilt in memory from its segment is said in
 * the log (an ERROR naming it), but no file was skipped: the answer is
 * whole, and nothing on disk changes. */
static void test_gap_reports_corrupt_sidecar(void **state)
{
    char dir[4096], path[4096], rel[128];
    tss_seg_name sn;
    tt_log log = {0};
    tss_store *r;
    uint64_t before;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    drop_tables(dir);
    nth_sidecar(dir, 1, &sn, path, sizeof(path), rel, sizeof(rel));
    tt_flip(path, 70, 0x01);
    before = tt_tree_digest(dir);
    r = open_store(dir, 0, &log, NULL);
    check_all(r, 1); /* tss_coverage_errors 0 */
    tss_store_close(r);
    assert_true(tt_tree_digest(dir) == before);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, rel) >= 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "checksum mismatch") >= 0);
}

/*
 * A sidecar name that is no regular file (a symlink planted there, a
 * directory, a fifo) is a damaged sidecar, not an I/O error: the read
 * says what it is (TSS_ECORRUPT), a reader takes the coverage from the
 * segment (the whole answer, nothing written), and the writer opens,
 * moves the thing aside (a symlink itself, not what it points to) and
 * writes the sidecar again.
 */
static void test_sidecar_not_regular(void **state)
{
    static const char *const what[3] = {"a symbolic link", "a directory",
                                        "a fifo"};

    for (int k = 0; k < 3; k++) {
        char dir[4096], path[4096], rel[128], out[4200], aside[4200];
        char name[32];
        tss_seg_name sn;
        tss_storage *st;
        tss_sidecar sc;
        tt_log log = {0};
        tss_store *r;
        uint8_t *orig, *now;
        size_t olen, nlen;
        uint64_t before = 0;
        struct stat sb;

        snprintf(name, sizeof(name), "store%d", k);
        tt_join(dir, sizeof(dir), *state, name);
        build_gap_store(dir);
        drop_tables(dir);
        nth_sidecar(dir, 1, &sn, path, sizeof(path), rel, sizeof(rel));
        assert_int_equal(tt_slurp(path, &orig, &olen), 0);
        snprintf(out, sizeof(out), "%s.outside", dir);
        if (k == 0) {
            assert_int_equal(rename(path, out), 0);
            assert_int_equal(symlink(out, path), 0);
        } else {
            assert_int_equal(unlink(path), 0);
            if (k == 1)
                assert_int_equal(mkdir(path, 0750), 0);
            else
                assert_int_equal(mkfifo(path, 0640), 0);
        }

        assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
        assert_int_equal(tss_sidecar_read_seg(st, &sn, BW, NULL, &sc),
                         TSS_ECORRUPT);
        tt_assert_msg_has(rel);
        tt_assert_msg_has(what[k]);
        tss_storage_close(st);

        if (k != 2) /* a fifo is not read for a digest */
            before = tt_tree_digest(dir);
        r = open_store(dir, 0, &log, NULL);
        check_all(r, 1);
        tss_store_close(r);
        if (k != 2)
            assert_true(tt_tree_digest(dir) == before);
        assert_true(tt_log_find(&log, TSS_LEVEL_ERR, what[k]) >= 0);

        log.n = 0;
        tss_store_close(open_store(dir, TSS_OPEN_WRITER, &log, NULL));
        assert_int_equal(lstat(path, &sb), 0);
        assert_true(S_ISREG(sb.st_mode));
        assert_int_equal(tt_slurp(path, &now, &nlen), 0);
        assert_int_equal(nlen, olen);
        assert_memory_equal(now, orig, olen);
        free(now);
        snprintf(aside, sizeof(aside), "%s.corrupt", path);
        assert_int_equal(lstat(aside, &sb), 0);
        assert_true(k == 0   ? S_ISLNK(sb.st_mode)
                    : k == 1 ? S_ISDIR(sb.st_mode)
                             : S_ISFIFO(sb.st_mode));
        if (k == 0) { /* what it pointed to: untouched */
            assert_int_equal(tt_slurp(out, &now, &nlen), 0);
            assert_int_equal(nlen, olen);
            assert_memory_equal(now, orig, olen);
            free(now);
        }
        snprintf(aside, sizeof(aside), "%s.corrupt", rel);
        assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, aside) >= 0);
        free(orig);
        r = open_store(dir, 0, NULL, NULL);
        check_all(r, 0); /* the table it saved covers every segment */
        tss_store_close(r);
    }
}

/*
 * A sidecar that fails with an I/O error: a reader and the writer take its
 * coverage from its segment and log an ERROR naming the file; the writer
 * opens all the same (a derived file never stops it) and leaves the file
 * as it is, and the table it saves covers the segment, from its points.
 */
static void test_sidecar_io_error(void **state)
{
    static tt_fault f;
    char dir[4096], path[4096], rel[128], aside[4200];
    const char *base;
    tss_seg_name sn;
    tt_log log = {0};
    tss_store *s;
    uint8_t *orig, *now;
    size_t olen, nlen;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    drop_tables(dir);
    nth_sidecar(dir, 1, &sn, path, sizeof(path), rel, sizeof(rel));
    base = strrchr(rel, '/') + 1;
    assert_int_equal(tt_slurp(path, &orig, &olen), 0);

    s = open_store(dir, 0, &log, tt_fault_ops(&f));
    tt_fault_arm_match(&f, "openat", base, 1, EIO);
    assert_int_equal(check_cov(s, "slow", 0, 600, 60000, SLOW_RANGE, 3), 1);
    assert_true(f.matched >= 1);
    tt_fault_arm(&f, 0, 0, false);
    tss_store_close(s);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, rel) >= 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "Input/output error") >= 0);

    log.n = 0;
    tt_fault_arm_match(&f, "openat", base, 1, EIO);
    s = open_store(dir, TSS_OPEN_WRITER, &log, tt_fault_ops(&f));
    assert_true(f.matched >= 1);
    tt_fault_arm(&f, 0, 0, false);
    tss_store_close(s);
    tt_fault_ops(NULL);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, rel) >= 0);
    assert_int_equal(tt_slurp(path, &now, &nlen), 0);
    assert_int_equal(nlen, olen);
    assert_memory_equal(now, orig, olen);
    free(now);
    free(orig);
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    assert_false(tt_exists(aside));
    s = open_store(dir, 0, NULL, NULL);
    check_all(s, 0);
    tss_store_close(s);
}

/*
 * A sidecar's header must agree with its segment and STORE: a bucket
 * width other than STORE's or a window start other than the segment
 * name's (checksum right either way) is a corrupt sidecar naming the file
 * and the field. Readers answer from the segment, the writer opens and
 * rebuilds it, moving each bad one aside under a name of its own (an
 * earlier one is never replaced).
 */
static void test_sidecar_header_vs_segment(void **state)
{
    char dir[4096], path[4096], rel[128], want[4400], aside[4200];
    tss_seg_name sn;
    uint8_t *orig, *img;
    size_t olen, len;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    nth_sidecar(dir, 1, &sn, path, sizeof(path), rel, sizeof(rel));
    assert_int_equal(tt_slurp(path, &orig, &olen), 0);
    for (int k = 0; k < 2; k++) {
        tt_log log = {0};
        tss_storage *st;
        tss_sidecar sc;
        tss_store *r;

        drop_tables(dir);
        assert_int_equal(tt_slurp(path, &img, &len), 0);
        if (k == 0) {
            tss_put_u64(img + 40, BW + 1);
            snprintf(want, sizeof(want),
                     "coverage file %s: bucket width %d differs from "
                     "STORE's %d",
                     rel, BW + 1, BW);
        } else {
            tss_put_u64(img + 32, (uint64_t)(sn.start - S(60)));
            snprintf(want, sizeof(want),
                     "coverage file %s: window start %" PRId64
                     " differs from its segment's %" PRId64,
                     rel, sn.start - S(60), sn.start);
        }
        tss_put_u64(img + len - 8, XXH3_64bits(img, len - 8));
        tt_spit(path, img, len);
        free(img);

        assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
        assert_int_equal(tss_sidecar_read_seg(st, &sn, BW, NULL, &sc),
                         TSS_ECORRUPT);
        tt_assert_msg_has(want);
        tss_storage_close(st);
        r = open_store(dir, 0, &log, NULL);
        check_all(r, 1);
        tss_store_close(r);
        assert_true(tt_log_find(&log, TSS_LEVEL_ERR, want) >= 0);

        log.n = 0;
        tss_store_close(open_store(dir, TSS_OPEN_WRITER, &log, NULL));
        assert_int_equal(tt_slurp(path, &img, &len), 0);
        assert_int_equal(len, olen);
        assert_memory_equal(img, orig, olen);
        free(img);
        if (k == 0)
            snprintf(aside, sizeof(aside), "%s.corrupt", rel);
        else
            snprintf(aside, sizeof(aside), "%s.corrupt.%d", rel, k);
        snprintf(want, sizeof(want), "moved to %s)", aside);
        assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, want) >= 0);
    }
    /* both bad ones kept: .corrupt the first, .corrupt.1 the second */
    snprintf(aside, sizeof(aside), "%s.corrupt", path);
    assert_int_equal(tt_slurp(aside, &img, &len), 0);
    assert_int_equal(tss_get_u64(img + 40), BW + 1);
    free(img);
    snprintf(aside, sizeof(aside), "%s.corrupt.1", path);
    assert_int_equal(tt_slurp(aside, &img, &len), 0);
    assert_int_equal(tss_get_u64(img + 32), (uint64_t)(sn.start - S(60)));
    free(img);
    free(orig);
}

/* A seal that finds a sidecar already there with other content says it
 * is the sidecar, not the segment, that is in the way. */
static void test_seal_sidecar_in_the_way(void **state)
{
    static tt_fault f;
    char dir[4096];
    tt_log log = {0};
    tss_store *w;

    tt_join(dir, sizeof(dir), *state, "store");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &log,
                   tt_fault_ops(&f));
    put(w, "fast", T0);
    /* the link to the sidecar's name finds one there (and then none when
     * the writer reads it to compare: other content) */
    tt_fault_arm_match(&f, "linkat", ".roar", 1, EEXIST);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     TSS_EEXISTS);
    assert_true(f.matched >= 1);
    tt_fault_arm(&f, 0, 0, false);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR,
                            "coverage sidecar " TSS_COV_SEG_DIR "/") >= 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "exists with other content") >=
                0);
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    tss_store_close(w);
    tt_fault_ops(NULL);
}

/* ---- the writer's repairs at open --------------------------------------- */

/* A deleted sidecar is rebuilt byte for byte (the encoding is canonical)
 * and one whose segment never reached the disk is removed; readers leave
 * both as they are. */
static void test_writer_repairs_sidecars(void **state)
{
    static const char orphan[] = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.roar";
    char dir[4096], segdir[4096], names[4096], victim[4096], path[4096];
    uint8_t *orig, *now;
    size_t olen, nlen;
    tt_log log = {0};
    tss_store *r;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    tt_join(segdir, sizeof(segdir), dir, TSS_COV_SEG_DIR);
    tt_list(segdir, "", names, sizeof(names));
    names[41] = '\0';
    tt_join(victim, sizeof(victim), segdir, names);
    assert_int_equal(tt_slurp(victim, &orig, &olen), 0);
    assert_int_equal(unlink(victim), 0);
    tt_join(path, sizeof(path), segdir, orphan);
    tt_spit(path, orig, olen);
    r = open_store(dir, 0, NULL, NULL);
    check_all(r, 0);
    tss_store_close(r);
    assert_false(tt_exists(victim));
    assert_true(tt_exists(path));

    tss_store_close(open_store(dir, TSS_OPEN_WRITER, &log, NULL));
    if (!tt_exists(victim))
        fail_msg("the writer did not rebuild %s", victim);
    assert_int_equal(tt_slurp(victim, &now, &nlen), 0);
    assert_int_equal(nlen, olen);
    assert_memory_equal(now, orig, olen);
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, names) >= 0);
    assert_false(tt_exists(path));
    assert_true(tt_log_find(&log, TSS_LEVEL_NOTICE, orphan) >= 0);
    assert_int_equal(tt_count_prefix(segdir, ""), 2 + 10);
    free(orig);
    free(now);
}

static void test_writer_catches_up_table(void **state)
{
    char dir[4096], tabdir[4096], names[256];
    tss_store *w;
    tss_storage *st;
    tss_covtable *t;
    uint8_t key[TSS_KEY_MAX];
    size_t klen;
    const tss_cov_entry *e;
    uint32_t want[10];
    size_t n = 0;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(tabdir, sizeof(tabdir), dir, TSS_COV_TABLE_DIR);
    build_gap_store(dir); /* segments seq 1..10; table versions 1 and 2 */
    /* a later seal: seq 11; its sidecar is less than the table's lag
     * bound, so neither the seal nor the close saves version 3, as if the
     * writer had died before it did: the next start does */
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    put(w, "slow", T0 + S(600));
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    tss_store_close(w);
    tt_list(tabdir, "", names, sizeof(names));
    assert_string_equal(names, "1.roar,2.roar");
    tss_store_close(open_store(dir, TSS_OPEN_WRITER, NULL, NULL));
    tt_list(tabdir, "", names, sizeof(names));
    assert_string_equal(names, "2.roar,3.roar");

    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
    assert_int_equal(tss_covtable_version(t), 3);
    assert_int_equal(tss_covtable_covered_seq(t), 11);
    klen = key_of(key, "slow", "value", TSS_KIND_GAUGE);
    e = tss_covtable_get(t, key, klen);
    assert_non_null(e);
    for (int k = 0; k <= 10; k++)
        if (k != 3 && k != 4)
            want[n++] = V((T0 + S(60 * k)) / BW);
    assert_bitmap(e->bm, want, n);
    tss_covtable_free(t);
    tss_storage_close(st);
}

/* Every table version unreadable: the writer still starts, and rebuilds
 * the table from the sidecars above the bad versions. */
static void test_writer_with_no_readable_table(void **state)
{
    char dir[4096], tabdir[4096], names[256], path[4096];
    tss_store *r;
    tt_log log = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tt_join(tabdir, sizeof(tabdir), dir, TSS_COV_TABLE_DIR);
    build_gap_store(dir);
    tt_list(tabdir, "", names, sizeof(names));
    assert_string_equal(names, "1.roar,2.roar");
    tt_join(path, sizeof(path), tabdir, "1.roar");
    tt_flip(path, 20, 0xff);
    tt_join(path, sizeof(path), tabdir, "2.roar");
    tt_flip(path, 20, 0xff);
    r = open_store(dir, 0, NULL, NULL); /* readers rebuild in memory */
    check_all(r, 0);
    tss_store_close(r);
    tss_store_close(open_store(dir, TSS_OPEN_WRITER, &log, NULL));
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "2.roar") >= 0);
    tt_list(tabdir, "", names, sizeof(names));
    assert_string_equal(names, "2.roar,3.roar");
    r = open_store(dir, 0, NULL, NULL);
    check_all(r, 0);
    tss_store_close(r);
}

/* ---- the table snapshot's index, version 1 files -------------------------
 *
 * 300 series "h000".."h299" (keys in that order): series i covers buckets
 * B + 3i .. B + 3i + 10 (a run container), every 7th series also the
 * isolated buckets B + 100 + 9k, k < 50 (an array), and series 150 the
 * buckets of [B2, B2 + 65536) but every 5th (a bitset: too dense for an
 * array, too broken for runs), B2 a container boundary.
 */
#define IDX_N 300
#define IDX_B INT64_C(170000000)
#define IDX_B2 ((INT64_C(1) << 16) * 2700) /* value a multiple of 2^16 */

static void idx_key(uint8_t *key, size_t *len, int i)
{
    char host[8];

    snprintf(host, sizeof(host), "h%03d", i);
    *len = key_of(key, host, "value", TSS_KIND_GAUGE);
}

static roaring_bitmap_t *idx_bitmap(int i)
{
    roaring_bitmap_t *bm = roaring_bitmap_create();

    roaring_bitmap_add_range_closed(bm, V(IDX_B + 3 * i),
                                    V(IDX_B + 3 * i + 10));
    if (i % 7 == 0)
        for (int k = 0; k < 50; k++)
            roaring_bitmap_add(bm, V(IDX_B + 100 + 9 * k));
    if (i == 150)
        for (int64_t b = 0; b < 65536; b++)
            if (b % 5)
                roaring_bitmap_add(bm, V(IDX_B2 + b));
    return bm;
}

/* Saves the 300 series as table version 1 (covered seq 9). */
static void idx_table(tss_storage *st)
{
    tss_covtable *t;

    assert_int_equal(tss_covtable_new(&t, BW), 0);
    for (int i = 0; i < IDX_N; i++) {
        tss_sidecar sc;
        uint8_t key[TSS_KEY_MAX];
        size_t klen;

        /* a sidecar at window 0 (bucket 0) puts relative = absolute */
        assert_int_equal(tss_sidecar_init(&sc, UUID1, 0, BW), 0);
        idx_key(key, &klen, i);
        assert_int_equal(tss_sidecar_add(&sc, key, klen, NULL, 0), 0);
        roaring_bitmap_free(sc.entries[0].bm);
        sc.entries[0].bm = roaring_bitmap_create();
        {
            roaring_bitmap_t *bm = idx_bitmap(i);
            roaring_uint32_iterator_t it;

            /* relative values: the bucket itself (window start 0) */
            roaring_init_iterator(bm, &it);
            for (; it.has_value; roaring_advance_uint32_iterator(&it))
                roaring_bitmap_add(sc.entries[0].bm,
                                   (uint32_t)((int64_t)it.current_value +
                                              TSS_COV_BASE_BUCKET));
            roaring_bitmap_free(bm);
        }
        sc.entries[0].interval = BW * (1 + i % 3);
        assert_int_equal(tss_covtable_add_sidecar(t, &sc), 0);
        tss_sidecar_free(&sc);
    }
    tss_covtable_set_covered_seq(t, 9);
    assert_int_equal(tss_covtable_save(t, st), 0);
    tss_covtable_free(t);
}

/* Loads [h<from>, h<to>) by key bounds; checks every series it holds. */
static size_t idx_lookup(tss_storage *st, int from, int to, tt_log *log)
{
    uint8_t lo[TSS_KEY_MAX], hi[TSS_KEY_MAX];
    tss_cov_select sel = {0};
    tss_covtable *t;
    tss_buf scratch = {0};
    size_t n = 0;

    idx_key(lo, &sel.lo_len, from);
    idx_key(hi, &sel.hi_len, to);
    sel.lo = lo;
    sel.hi = to < IDX_N ? hi : NULL;
    assert_int_equal(
        tss_covtable_load_select(&t, st, BW, &sel, log ? tt_log_fn : NULL, log),
        0);
    assert_int_equal(tss_covtable_save(t, st), TSS_EINVAL);
    for (const tss_cov_entry *e = tss_covtable_iter(t, NULL); e;
         e = tss_covtable_iter(t, e), n++) {
        int i = atoi((const char *)e->key + 1);
        roaring_bitmap_t *want = idx_bitmap(i), *got;
        roaring_uint32_iterator_t it;
        tss_cov_runs r;
        uint32_t a, b;

        assert_true(i >= from && i < to);
        assert_int_equal(e->interval, BW * (1 + i % 3));
        /* the runs, read in place from the file's bytes */
        assert_null(e->bm);
        assert_int_equal(tss_cov_runs_start(&r, e, &scratch, 0), 0);
        roaring_init_iterator(want, &it);
        while (tss_cov_runs_next(&r, &a, &b))
            for (uint64_t v = a; v <= b; v++) {
                assert_true(it.has_value);
                assert_int_equal(it.current_value, v);
                roaring_advance_uint32_iterator(&it);
            }
        assert_false(it.has_value);
        assert_false(r.bad);
        got = tss_covtable_bitmap(t, e);
        assert_non_null(got);
        assert_true(roaring_bitmap_equals(got, want));
        roaring_bitmap_free(want);
    }
    tss_buf_free(&scratch);
    tss_covtable_free(t);
    return n;
}

/* Format version 2: blocks, an index, lookups that read only what they
 * need and check what they read. */
static void test_table_index_lookup(void **state)
{
    char path[4096];
    tss_storage *st = open_storage(*state, NULL);
    tss_covtable *t;
    uint8_t *img;
    size_t len;
    uint32_t nblocks;
    uint64_t index_off;
    tt_log log = {0};

    idx_table(st);
    tt_join(path, sizeof(path), *state, TSS_COV_TABLE_DIR "/1.roar");
    assert_int_equal(tt_slurp(path, &img, &len), 0);
    assert_int_equal(tss_get_u16(img + 8), 2);
    assert_int_equal(tss_get_u32(img + 12), 96);
    assert_int_equal(tss_get_u32(img + 48), IDX_N);
    nblocks = tss_get_u32(img + 52);
    assert_true(nblocks >= 3); /* 128 series or 16 KB a block */
    index_off = tss_get_u64(img + 64);
    assert_int_equal(tss_get_u64(img + 72), len - 8 - index_off);

    /* the whole file, eagerly; one series, a range, everything */
    assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
    assert_int_equal(tss_covtable_covered_seq(t), 9);
    for (int i = 0; i < IDX_N; i++) {
        uint8_t key[TSS_KEY_MAX];
        size_t klen;
        roaring_bitmap_t *want = idx_bitmap(i);
        const tss_cov_entry *e;

        idx_key(key, &klen, i);
        e = tss_covtable_get(t, key, klen);
        assert_non_null(e);
        assert_true(roaring_bitmap_equals(e->bm, want));
        roaring_bitmap_free(want);
    }
    tss_covtable_free(t);
    assert_int_equal(idx_lookup(st, 0, 1, NULL), 1);
    assert_int_equal(idx_lookup(st, 150, 151, NULL), 1);
    assert_int_equal(idx_lookup(st, 299, IDX_N, NULL), 1);
    assert_int_equal(idx_lookup(st, 100, 200, NULL), 100);
    assert_int_equal(idx_lookup(st, 0, IDX_N, NULL), IDX_N);

    /* a byte of the last block flipped: the file fails its checksum, so a
     * whole load gives the empty table to rebuild; a lookup in the first
     * block never reads the last one; one in it fails on its checksum */
    tt_flip(path, tss_get_u64(img + 56) - 20, 0x10);
    assert_int_equal(tss_covtable_load(&t, st, BW, tt_log_fn, &log), 0);
    assert_null(tss_covtable_iter(t, NULL));
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "1.roar: checksum") >= 0);
    tss_covtable_free(t);
    assert_int_equal(idx_lookup(st, 0, 1, NULL), 1);
    log.n = 0;
    assert_int_equal(idx_lookup(st, 299, IDX_N, &log), 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "block checksum") >= 0);
    tt_flip(path, tss_get_u64(img + 56) - 20, 0x10);
    /* the index, the header */
    tt_flip(path, index_off + 2, 0x01);
    log.n = 0;
    assert_int_equal(idx_lookup(st, 0, 1, &log), 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "index checksum") >= 0);
    tt_flip(path, index_off + 2, 0x01);
    tt_flip(path, 50, 0x01);
    log.n = 0;
    assert_int_equal(idx_lookup(st, 0, 1, &log), 0);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "header checksum") >= 0);
    tt_flip(path, 50, 0x01);
    assert_int_equal(idx_lookup(st, 0, IDX_N, NULL), IDX_N);
    free(img);
    tss_storage_close(st);
}

/* A version 1 table, as earlier builds wrote it, is read (whole, and by a
 * lookup, which reads it whole); the next save writes version 2. */
static void test_table_version_1(void **state)
{
    char path[4096], names[256];
    tss_storage *st = open_storage(*state, NULL);
    tss_covtable *t;
    tss_buf img = {0};
    uint8_t h[48], prev[TSS_KEY_MAX];
    size_t plen = 0;
    roaring_bitmap_t *all = roaring_bitmap_create();

    for (int i = 0; i < IDX_N; i++) {
        roaring_bitmap_t *bm = idx_bitmap(i);

        roaring_bitmap_or_inplace(all, bm);
        roaring_bitmap_free(bm);
    }
    /* header: magic, version 1, flags, length 64, version 7, covered seq
     * 9, base bucket, width, count, zeros */
    tss_buf_append(&img, "\x89TSTCV\r\n\x01\x00\x00\x00\x40\x00\x00\x00", 16);
    memset(h, 0, sizeof(h));
    tss_put_u64(h, 7);
    tss_put_u64(h + 8, 9);
    tss_put_u64(h + 16, (uint64_t)TSS_COV_BASE_BUCKET);
    tss_put_u64(h + 24, BW);
    tss_put_u32(h + 32, IDX_N);
    tss_buf_append(&img, h, sizeof(h));
    for (int i = -1; i < IDX_N; i++) {
        roaring_bitmap_t *bm = i < 0 ? all : idx_bitmap(i);
        size_t n;

        if (i >= 0) { /* key prefix-compressed against the previous */
            uint8_t key[TSS_KEY_MAX];
            size_t klen, shared = 0;

            idx_key(key, &klen, i);
            while (shared < plen && shared < klen &&
                   prev[shared] == key[shared])
                shared++;
            tss_buf_put_varint(&img, shared);
            tss_buf_put_varint(&img, klen - shared);
            tss_buf_append(&img, key + shared, klen - shared);
            memcpy(prev, key, klen);
            plen = klen;
            tss_buf_put_varint(&img, (uint64_t)(BW * (1 + i % 3)));
        }
        roaring_bitmap_run_optimize(bm);
        n = roaring_bitmap_portable_size_in_bytes(bm);
        tss_buf_put_varint(&img, n);
        assert_true(tss_buf_reserve(&img, n));
        img.len +=
            roaring_bitmap_portable_serialize(bm, (char *)img.data + img.len);
        roaring_bitmap_free(bm);
    }
    tss_buf_put_u64(&img, tss_checksum(img.data, img.len));
    tt_join(path, sizeof(path), *state, TSS_COV_TABLE_DIR "/7.roar");
    tt_spit(path, img.data, img.len);

    assert_int_equal(idx_lookup(st, 150, 151, NULL), 1);
    assert_int_equal(idx_lookup(st, 0, IDX_N, NULL), IDX_N);
    assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
    assert_int_equal(tss_covtable_version(t), 7);
    assert_int_equal(tss_covtable_covered_seq(t), 9);
    assert_int_equal(tss_covtable_save(t, st), 0);
    tss_covtable_free(t);
    tt_list(*state, "", names, sizeof(names));
    tt_join(path, sizeof(path), *state, TSS_COV_TABLE_DIR);
    tt_list(path, "", names, sizeof(names));
    assert_string_equal(names, "7.roar,8.roar");
    tt_join(path, sizeof(path), *state, TSS_COV_TABLE_DIR "/8.roar");
    tss_buf_free(&img);
    assert_int_equal(tt_slurp(path, &img.data, &img.len), 0);
    assert_int_equal(tss_get_u16(img.data + 8), 2);
    assert_int_equal(idx_lookup(st, 0, IDX_N, NULL), IDX_N);
    free(img.data);
    tss_storage_close(st);
}

/* ---- reading runs in place ---------------------------------------------- */

/* The runs of portable bytes p[len] with `slack`, as "lo-hi,..." (values
 * less `base`). */
static void runs_of(const uint8_t *p, size_t len, uint32_t slack, uint32_t seek,
                    uint32_t base, char *out, size_t size)
{
    tss_cov_entry e = {.ser = p, .ser_len = len};
    tss_cov_runs r;
    uint32_t a, b;
    size_t at = 0;

    out[0] = '\0';
    assert_int_equal(tss_cov_runs_start(&r, &e, NULL, slack), 0);
    tss_cov_runs_seek(&r, seek);
    while (tss_cov_runs_next(&r, &a, &b))
        at += (size_t)snprintf(out + at, size - at, "%s%u-%u", at ? "," : "",
                               a - base, b - base);
    assert_false(r.bad);
}

static size_t serialize(roaring_bitmap_t *bm, uint8_t *out, bool runs)
{
    if (runs)
        roaring_bitmap_run_optimize(bm);
    return roaring_bitmap_portable_serialize(bm, (char *)out);
}

static void test_runs_in_place(void **state)
{
    static uint8_t buf[1 << 17];
    const uint32_t base = 5u << 16;
    roaring_bitmap_t *bm = roaring_bitmap_create();
    char got[1024];
    size_t n;

    (void)state;
    /* array container: 1, 2, 3, 10, then every 6th from 100 to 130; a
     * run container: [65530, 65545] across two containers, one run */
    for (uint32_t v = 1; v <= 3; v++)
        roaring_bitmap_add(bm, base + v);
    roaring_bitmap_add(bm, base + 10);
    for (uint32_t v = 100; v <= 130; v += 6)
        roaring_bitmap_add(bm, base + v);
    n = serialize(bm, buf, false);
    assert_int_equal(tss_cov_check_portable(buf, n, "t"), 0);
    runs_of(buf, n, 0, 0, base, got, sizeof(got));
    assert_string_equal(got, "1-3,10-10,100-100,106-106,112-112,118-118,"
                             "124-124,130-130");
    runs_of(buf, n, 5, 0, base, got, sizeof(got));
    assert_string_equal(got, "1-3,10-10,100-130");
    runs_of(buf, n, 6, 0, base, got, sizeof(got));
    assert_string_equal(got, "1-10,100-130");
    runs_of(buf, n, 89, 0, base, got, sizeof(got));
    assert_string_equal(got, "1-130");
    roaring_bitmap_add_range_closed(bm, base + 65530, base + 65545);
    n = serialize(bm, buf, true);
    assert_int_equal(tss_cov_check_portable(buf, n, "t"), 0);
    runs_of(buf, n, 0, 0, base, got, sizeof(got));
    assert_string_equal(got, "1-3,10-10,100-100,106-106,112-112,118-118,"
                             "124-124,130-130,65530-65545");
    /* seek: the containers below the value are skipped */
    runs_of(buf, n, 0, base + 65536, base, got, sizeof(got));
    assert_string_equal(got, "65536-65545");
    /* a bitset: all of container 7 but every 1000th value */
    roaring_bitmap_free(bm);
    bm = roaring_bitmap_create();
    for (uint32_t v = 0; v < 65536; v++)
        if (v % 1000)
            roaring_bitmap_add(bm, (7u << 16) + v);
    n = serialize(bm, buf, false);
    assert_int_equal(tss_cov_check_portable(buf, n, "t"), 0);
    runs_of(buf, n, 0, 0, 7u << 16, got, sizeof(got));
    assert_int_equal(strncmp(got, "1-999,1001-1999,", 16), 0);
    assert_non_null(strstr(got, ",65001-65535"));
    runs_of(buf, n, 1, 0, 7u << 16, got, sizeof(got));
    assert_string_equal(got, "1-65535");
    /* the empty bitmap */
    roaring_bitmap_clear(bm);
    n = serialize(bm, buf, false);
    assert_int_equal(tss_cov_check_portable(buf, n, "t"), 0);
    runs_of(buf, n, 0, 0, 0, got, sizeof(got));
    assert_string_equal(got, "");
    roaring_bitmap_free(bm);
}

/* The runs with slack, as merging the exact runs would give them. */
static void check_slack(const uint8_t *p, size_t len, uint32_t slack)
{
    tss_cov_entry e = {.ser = p, .ser_len = len};
    tss_cov_runs exact, merged;
    uint32_t a, b, lo = 0, hi = 0, mlo, mhi;
    bool have = false;

    assert_int_equal(tss_cov_runs_start(&exact, &e, NULL, 0), 0);
    assert_int_equal(tss_cov_runs_start(&merged, &e, NULL, slack), 0);
    while (tss_cov_runs_next(&exact, &a, &b)) {
        if (have && (uint64_t)a <= (uint64_t)hi + 1 + slack) {
            hi = b;
            continue;
        }
        if (have) {
            assert_true(tss_cov_runs_next(&merged, &mlo, &mhi));
            if (mlo != lo || mhi != hi)
                fail_msg("slack %u: run %u-%u, want %u-%u", slack, mlo, mhi, lo,
                         hi);
        }
        lo = a;
        hi = b;
        have = true;
    }
    if (have) {
        assert_true(tss_cov_runs_next(&merged, &mlo, &mhi));
        if (mlo != lo || mhi != hi)
            fail_msg("slack %u: run %u-%u, want %u-%u", slack, mlo, mhi, lo,
                     hi);
    }
    assert_false(tss_cov_runs_next(&merged, &mlo, &mhi));
    assert_false(merged.bad);
}

/* Slack over bitsets (dilated word by word), arrays and runs, across
 * containers: random gaps of 0..80 values, 200,000 values in all. */
static void test_runs_slack(void **state)
{
    static const uint32_t slacks[] = {
        1,  2,   3,    5,     6,     7,     31,       63,        64,
        65, 100, 1000, 65534, 65535, 65536, 1u << 20, UINT32_MAX};
    static uint8_t buf[1 << 20];
    uint64_t rng = 42;

    (void)state;
    for (int round = 0; round < 6; round++) {
        roaring_bitmap_t *bm = roaring_bitmap_create();
        uint32_t v = (uint32_t)tt_below(&rng, 70000);
        size_t n;

        while (v < 200000) {
            uint32_t len = 1 + (uint32_t)tt_below(&rng, round < 3 ? 3 : 40);

            roaring_bitmap_add_range_closed(bm, v, v + len - 1);
            v += len + (uint32_t)tt_below(&rng, round % 2 ? 9 : 81);
        }
        n = serialize(bm, buf, round >= 4);
        assert_int_equal(tss_cov_check_portable(buf, n, "t"), 0);
        for (size_t k = 0; k < sizeof(slacks) / sizeof(slacks[0]); k++)
            check_slack(buf, n, slacks[k]);
        roaring_bitmap_free(bm);
    }
}

/* Bytes CRoaring would parse but that are no valid bitmap are refused. */
static void test_runs_check_refuses(void **state)
{
    /* cookie 12346, one container: key 0, cardinality 3 (2 + 1), its
     * offset (16), then the values */
    uint8_t b[22] = {0x3a, 0x30, 0, 0, 1, 0, 0, 0, 0, 0, 2,
                     0,    16,   0, 0, 0, 5, 0, 7, 0, 9, 0};

    (void)state;
    assert_int_equal(tss_cov_check_portable(b, sizeof(b), "t"), 0);
    b[18] = 4; /* 5, 4, 9: out of order */
    assert_int_equal(tss_cov_check_portable(b, sizeof(b), "t"), TSS_ECORRUPT);
    tt_assert_msg_has("out of order");
    b[18] = 7;
    assert_int_equal(tss_cov_check_portable(b, sizeof(b) - 2, "t"),
                     TSS_ECORRUPT);
    b[4] = 2; /* two containers claimed */
    assert_int_equal(tss_cov_check_portable(b, sizeof(b), "t"), TSS_ECORRUPT);
}

/* The table's union of all series is walked container by container too
 * before CRoaring parses it: an array out of order under valid checksums
 * is corrupt, said, and the table is not used. */
static void test_table_union_checked(void **state)
{
    char path[4096];
    tss_storage *st = open_storage(*state, NULL);
    tss_covtable *t, *back;
    uint8_t key[TSS_KEY_MAX], *buf;
    size_t klen = key_of(key, "u", "value", TSS_KIND_GAUGE), len;
    tss_point p[3] = {{WS, {0}}, {WS + 2 * BW, {0}}, {WS + 4 * BW, {0}}};
    uint64_t uoff, ioff;
    tt_log log = {0};
    FILE *f;

    assert_int_equal(tss_covtable_new(&t, BW), 0);
    assert_int_equal(tss_covtable_add_points(t, key, klen, p, 3), 0);
    assert_int_equal(tss_covtable_save(t, st), 0);
    tss_covtable_free(t);
    tt_join(path, sizeof(path), *state, TSS_COV_TABLE_DIR "/1.roar");
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    uoff = tss_get_u64(buf + 56);
    ioff = tss_get_u64(buf + 64);
    /* the union: varint length (22), then cookie, count, key and
     * cardinality, offset, three 16-bit values: swap the first two */
    assert_int_equal(buf[uoff], 22);
    {
        uint8_t *v = buf + uoff + 1 + 16, t0 = v[0], t1 = v[1];

        v[0] = v[2];
        v[1] = v[3];
        v[2] = t0;
        v[3] = t1;
    }
    tss_put_u64(buf + ioff - 8,
                tss_checksum(buf + uoff, (size_t)(ioff - 8 - uoff)));
    tss_put_u64(buf + len - 8, tss_checksum(buf, len - 8));
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    assert_int_equal(tss_covtable_load(&back, st, BW, tt_log_fn, &log), 0);
    assert_null(tss_covtable_get(back, key, klen)); /* not used */
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "out of order") >= 0);
    tss_covtable_free(back);
    tss_storage_close(st);
}

/* ---- a reader's copy of the head ---------------------------------------- */

/* Every series' coverage through `s` as text: host, range, runs. */
static void cov_text(tss_store *s, char *out, size_t size)
{
    tss_filter f = {0};
    tss_coverage *c;
    tss_coverage_series cs;
    size_t at = 0;
    int rc;

    out[0] = '\0';
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    while ((rc = tss_coverage_next(c, &cs)) == 1) {
        at += (size_t)snprintf(out + at, size - at, "%s:", cs.id.host);
        for (size_t i = 0; i < cs.nruns; i++)
            at += (size_t)snprintf(
                out + at, size - at, "%c%" PRId64 "-%" PRId64,
                cs.runs[i].covered ? '+' : '-', (cs.runs[i].from - T0) / 1000,
                (cs.runs[i].to - T0) / 1000);
        at += (size_t)snprintf(out + at, size - at, ";");
    }
    assert_int_equal(rc, 0);
    tss_coverage_close(c);
}

/* The same as a fresh reader sees. */
static void same_as_fresh(tss_store *r, const char *dir, const char *want)
{
    static char a[8192], b[8192];
    tss_store *fresh = open_store(dir, 0, NULL, NULL);

    cov_text(r, a, sizeof(a));
    cov_text(fresh, b, sizeof(b));
    tss_store_close(fresh);
    assert_string_equal(a, b);
    if (want)
        assert_string_equal(a, want);
}

/* A reader that queries again reads on in the head snapshot's log, and
 * loads it whole when the writer started a new generation (after a seal)
 * or the log is no longer the file it read; it always answers as a fresh
 * reader would. */
static void test_head_cache(void **state)
{
    char dir[4096], head[4096], path[4096], names[256];
    tss_store *w, *r;
    tt_log log = {0};
    uint64_t size;

    tt_join(dir, sizeof(dir), *state, "store");
    build_gap_store(dir);
    w = open_store(dir, TSS_OPEN_WRITER, NULL, NULL);
    r = open_store(dir, 0, &log, NULL);
    same_as_fresh(r, dir, NULL);
    /* records appended: read on */
    for (int k = 36; k < 42; k++)
        put(w, "fast", T0 + S(10 * k));
    put(w, "new", T0 + S(400));
    put(w, "new", T0 + S(410));
    assert_int_equal(tss_store_snapshot(w, tss_store_now(w), 0), 0);
    same_as_fresh(r, dir, NULL);
    for (int k = 45; k < 48; k++)
        put(w, "fast", T0 + S(10 * k));
    put(w, "new", T0 + S(450));
    assert_int_equal(tss_store_snapshot(w, tss_store_now(w), 0), 0);
    same_as_fresh(r, dir,
                  "fast:+30-100-100-150+150-330-330-360+360-420-420-450+450-"
                  "480;"
                  "new:+400-420-420-450+450-460;"
                  "slow:+0-130-130-300+300-550;");
    /* a seal: the points go to a segment, the head to a new base */
    assert_int_equal(tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL),
                     0);
    same_as_fresh(r, dir, NULL);
    put(w, "new", T0 + S(470));
    assert_int_equal(tss_store_snapshot(w, tss_store_now(w), 0), 0);
    same_as_fresh(r, dir, NULL);
    /* the log replaced by another file under its name: a full load */
    tt_join(head, sizeof(head), dir, "head");
    tt_list(head, "log-", names, sizeof(names));
    tt_join(path, sizeof(path), head, names);
    size = tt_file_size(path);
    assert_true(size > 16);
    tt_flip(path, 9, 0x01); /* the first record's checksum */
    same_as_fresh(r, dir, NULL);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, "fails its checksum") >= 0);
    tt_flip(path, 9, 0x01);
    same_as_fresh(r, dir, NULL);
    tss_store_close(r);
    tss_store_close(w);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

/* The writer does not rewrite the whole table coverage at every seal: only
 * once the sidecars sealed since its last save add up to a quarter of it,
 * and at close. Readers meanwhile union the table with the newer sidecars
 * and see every bucket. */
static void test_table_saved_lazily(void **state)
{
    char dir[4096];
    tss_store *w;
    tss_storage *st;
    tss_covtable *t;
    uint64_t first = 0, last = 0;
    const int hist = 100, nwin = hist + 40, nseries = 200;
    bool lagged = false;

    tt_join(dir, sizeof(dir), *state, "lazy");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    for (int k = 0; k < nwin; k++) {
        /* a point every 20 s: every other 10 s bucket, no runs */
        for (int i = 0; i < nseries; i++) {
            char host[16];

            snprintf(host, sizeof(host), "h%d", i);
            for (int j = 0; j < 3; j++)
                put(w, host, T0 + S(60 * k + 20 * j));
        }
        if (k + 1 < hist)
            continue; /* the history: sealed at once, one table save */
        assert_int_equal(
            tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL), 0);
        assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
        last = tss_covtable_version(t);
        if (k + 1 == hist)
            first = last;
        /* the table on disk lags the segments: a reader unions the newer
         * sidecars and sees every bucket */
        if (tss_covtable_covered_seq(t) < (uint64_t)k + 1 && !lagged) {
            tss_coverage *c;
            tss_coverage_series cs;
            tss_filter f;

            lagged = true;
            memset(&f, 0, sizeof(f));
            f.series_glob = "h7/*";
            assert_int_equal(tss_coverage_open(&c, w, &f), 0);
            assert_int_equal(tss_coverage_next(c, &cs), 1);
            assert_int_equal(cs.gaps, 0);
            assert_int_equal(cs.from, T0 - T0 % BW);
            assert_int_equal(cs.to, T0 + S(60 * k + 40) + BW);
            assert_int_equal(tss_coverage_next(c, &cs), 0);
            tss_coverage_close(c);
        }
        tss_covtable_free(t);
    }
    assert_true(lagged);
    /* 40 seals of one window each: a save every few seals, not each */
    if (last - first > 40 / 3)
        fail_msg("40 seals wrote %" PRIu64 " table versions", last - first);
    /* close leaves it lagging (the last sidecars wait); the next
     * writer's start makes it current */
    tss_store_close(w);
    assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
    assert_true(tss_covtable_covered_seq(t) < (uint64_t)nwin);
    tss_covtable_free(t);
    tss_store_close(open_store(dir, TSS_OPEN_WRITER, NULL, NULL));
    assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
    assert_int_equal(tss_covtable_covered_seq(t), (uint64_t)nwin);
    tss_covtable_free(t);
    tss_storage_close(st);
}

/* The version and covered seq of the table snapshot on disk. */
static void table_on_disk(tss_storage *st, uint64_t *version, uint64_t *seq)
{
    tss_covtable *t;

    assert_int_equal(tss_covtable_load(&t, st, BW, NULL, NULL), 0);
    *version = tss_covtable_version(t);
    *seq = tss_covtable_covered_seq(t);
    tss_covtable_free(t);
}

/* A small store's table is not written at each seal: its first sidecars
 * are fewer bytes than TABLE_LAG_MIN (64 KiB), and a reader unions them;
 * nor at close: the next writer's start writes it. */
static void test_table_waits_for_64k(void **state)
{
    char dir[4096];
    tss_store *w;
    tss_storage *st;
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f;
    uint64_t v0, seq0;

    tt_join(dir, sizeof(dir), *state, "small");
    w = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL, NULL);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    table_on_disk(st, &v0, &seq0);
    assert_int_equal(seq0, 0);
    for (int k = 0; k < 3; k++) {
        uint64_t v, seq;

        for (int i = 0; i < 20; i++) {
            char host[16];

            snprintf(host, sizeof(host), "h%d", i);
            put(w, host, T0 + S(7200 * k));
            put(w, host, T0 + S(7200 * k + 10));
        }
        assert_int_equal(
            tss_store_seal(w, tss_store_now(w), TSS_SEAL_ALL, NULL), 0);
        table_on_disk(st, &v, &seq);
        assert_int_equal(v, v0);
        assert_int_equal(seq, 0);
    }
    memset(&f, 0, sizeof(f));
    f.series_glob = "h7/*";
    assert_int_equal(tss_coverage_open(&c, w, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    assert_int_equal(cs.from, T0 - T0 % BW);
    assert_int_equal(cs.to, T0 + S(7200 * 2 + 10) + BW);
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    tss_coverage_close(c);
    tss_store_close(w);
    {
        uint64_t v, seq;

        table_on_disk(st, &v, &seq);
        assert_int_equal(v, v0);
        assert_int_equal(seq, 0);
        tss_store_close(open_store(dir, TSS_OPEN_WRITER, NULL, NULL));
        table_on_disk(st, &v, &seq);
        assert_true(v > v0);
        assert_int_equal(seq, 3);
    }
    tss_storage_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sidecar_round_trip),
        T(test_table_round_trip),
        T(test_sidecar_unreadable),
        T(test_sidecar_io_errors),
        T(test_sidecar_bitmap_rejected),
        T(test_sidecar_bucket_out_of_window),
        T(test_sidecar_never_overwritten),
        T(test_table_crash_and_fallback),
        T(test_gap_reports),
        T(test_gap_reports_missing_sidecar),
        T(test_gap_reports_corrupt_sidecar),
        T(test_sidecar_not_regular),
        T(test_sidecar_io_error),
        T(test_sidecar_header_vs_segment),
        T(test_seal_sidecar_in_the_way),
        T(test_writer_repairs_sidecars),
        T(test_writer_catches_up_table),
        T(test_writer_with_no_readable_table),
        T(test_table_index_lookup),
        T(test_table_version_1),
        T(test_runs_in_place),
        T(test_runs_slack),
        T(test_runs_check_refuses),
        T(test_table_union_checked),
        T(test_head_cache),
        T(test_table_saved_lazily),
        T(test_table_waits_for_64k),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
