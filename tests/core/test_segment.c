/*
 * Segments (segment.c): build with tss_seg_builder_*, write with
 * tss_storage_write_new, open and read every series back exactly; lookup;
 * detection of damage to the header, the table and the chunks; names.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "segment.h"
#include "series.h"
#include "storage.h"

#define NSERIES 12

typedef struct series {
    uint8_t key[TSS_KEY_MAX];
    size_t key_len;
    tss_point *pts;
    size_t n;
} series;

typedef struct fixture {
    char root[4096];
    tss_storage *st;
    series s[NSERIES];
    size_t ns;
    tss_seg_name name;
    char rel[160], path[4096];
} fixture;

static int series_cmp(const void *a, const void *b)
{
    const series *x = a, *y = b;

    return tss_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* ns series with 1.. points each, all inside [start, end), sorted by key. */
static void make_series(fixture *fx, size_t ns, int64_t start, int64_t end,
                        uint64_t seed)
{
    for (size_t i = 0; i < ns; i++) {
        series *s = &fx->s[i];
        char host[32];
        tss_series_id id = {host, "cpu", "", "percent", "", "value"};
        int kind = 1 + (int)(i % 4);
        int64_t t;

        snprintf(host, sizeof(host), "host-%02zu", (i * 7) % ns);
        assert_int_equal(tss_key_encode(s->key, &s->key_len, &id, kind), 0);
        s->n = i == 0 ? 1 : 1 + (size_t)tt_below(&seed, 400);
        s->pts = calloc(s->n, sizeof(tss_point));
        assert_non_null(s->pts);
        t = start + (int64_t)tt_below(&seed, 1000);
        for (size_t k = 0; k < s->n; k++) {
            s->pts[k].t = t;
            s->pts[k].v.bits = tt_rand(&seed);
            if (kind == TSS_KIND_GAUGE && k % 3 == 0)
                s->pts[k].v.gauge = (double)(int64_t)tt_below(&seed, 999) / 4;
            t += 1 + (int64_t)tt_below(&seed, (uint64_t)(end - start) / 1000);
        }
        if (i == 1) /* one series reaches the window's last unit */
            s->pts[s->n - 1].t = end - 1;
        assert_true(s->pts[s->n - 1].t < end);
    }
    fx->ns = ns;
    qsort(fx->s, ns, sizeof(series), series_cmp);
}

static void free_series(fixture *fx)
{
    for (size_t i = 0; i < fx->ns; i++)
        free(fx->s[i].pts);
    fx->ns = 0;
}

/* Builds and writes a segment of fx->s for window [start, end). */
static void write_segment(fixture *fx, int64_t start, int64_t end, uint64_t seq,
                          const uint8_t (*sup)[16], size_t nsup)
{
    tss_seg_builder b;
    tss_buf img = {0};

    fx->name.start = start;
    fx->name.end = end;
    fx->name.seq = seq;
    for (int i = 0; i < 16; i++)
        fx->name.uuid[i] = (uint8_t)(seq * 16 + (uint64_t)i);
    assert_int_equal(
        tss_seg_builder_begin(&b, &img, &fx->name, 1000, sup, nsup), 0);
    for (size_t i = 0; i < fx->ns; i++)
        assert_int_equal(tss_seg_builder_add(&b, fx->s[i].key, fx->s[i].key_len,
                                             fx->s[i].pts, fx->s[i].n),
                         0);
    assert_int_equal(tss_seg_builder_finish(&b), 0);
    tss_seg_name_format(fx->rel, sizeof(fx->rel), &fx->name);
    tt_join(fx->path, sizeof(fx->path), fx->root, fx->rel);
    assert_int_equal(tss_storage_write_new(fx->st, fx->rel, img.data, img.len),
                     0);
    tss_buf_free(&img);
}

static void fx_open(fixture *fx, void **state)
{
    memset(fx, 0, sizeof(*fx));
    tt_join(fx->root, sizeof(fx->root), *state, "store");
    assert_int_equal(tss_storage_open(&fx->st, fx->root, NULL, 1), 0);
    assert_int_equal(tss_storage_mkdirs(fx->st, TSS_SEG_DIR), 0);
}

static void fx_close(fixture *fx)
{
    free_series(fx);
    tss_storage_close(fx->st);
}

static void assert_corrupt(fixture *fx, const char *what)
{
    tss_segment *seg = (tss_segment *)fx;

    if (tss_segment_open(&seg, fx->st, fx->rel) != TSS_ECORRUPT)
        fail_msg("%s: not reported as corrupt", what);
    assert_null(seg);
    tt_assert_msg_has(fx->rel);
}

/* Reads every series back through find + read_points. */
static void check_contents(fixture *fx, tss_segment *seg)
{
    uint64_t total = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    tss_point *pts = NULL;
    size_t cap = 0;

    assert_int_equal(seg->nentries, fx->ns);
    for (size_t i = 0; i < fx->ns; i++) {
        const series *s = &fx->s[i];
        long e = tss_segment_find(seg, s->key, s->key_len);
        size_t n = 1; /* read_points appends after what is there */

        assert_int_equal(e, (long)i);
        assert_int_equal(seg->entries[e].kind, s->key[s->key_len - 1]);
        assert_int_equal(seg->entries[e].count, s->n);
        assert_int_equal(seg->entries[e].min_t, s->pts[0].t);
        assert_int_equal(seg->entries[e].max_t, s->pts[s->n - 1].t);
        if (cap < 1) {
            pts = calloc(1, sizeof(*pts));
            cap = 1;
        }
        assert_int_equal(
            tss_segment_read_points(seg, (size_t)e, &pts, &n, &cap), 0);
        assert_int_equal(n, s->n + 1);
        for (size_t k = 0; k < s->n; k++) {
            assert_int_equal(pts[k + 1].t, s->pts[k].t);
            assert_int_equal(pts[k + 1].v.bits, s->pts[k].v.bits);
        }
        total += s->n;
        lo = s->pts[0].t < lo ? s->pts[0].t : lo;
        hi = s->pts[s->n - 1].t > hi ? s->pts[s->n - 1].t : hi;
    }
    assert_int_equal(seg->points, total);
    assert_int_equal(seg->min_t, lo);
    assert_int_equal(seg->max_t, hi);
    tss_free(pts);
}

static void test_write_and_read_back(void **state)
{
    static const int64_t windows[][2] = {
        {0, 7200000},
        {-7200000, 0},
        {-(INT64_C(1) << 62), -(INT64_C(1) << 62) + 7200000},
        {(INT64_C(1) << 62) - 7199999, (INT64_C(1) << 62) + 1},
    };
    fixture fx;

    fx_open(&fx, state);
    for (size_t w = 0; w < 4; w++) {
        tss_segment *seg;

        make_series(&fx, NSERIES, windows[w][0], windows[w][1], 100 + w);
        write_segment(&fx, windows[w][0], windows[w][1], w + 1, NULL, 0);
        assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
        assert_string_equal(seg->rel, fx.rel);
        assert_int_equal(seg->name.start, windows[w][0]);
        assert_int_equal(seg->name.end, windows[w][1]);
        assert_int_equal(seg->name.seq, w + 1);
        assert_memory_equal(seg->name.uuid, fx.name.uuid, 16);
        assert_int_equal(seg->units_per_second, 1000);
        assert_int_equal(seg->nsupersedes, 0);
        check_contents(&fx, seg);
        tss_segment_close(seg);
        free_series(&fx);
    }
    fx_close(&fx);
}

static void test_find_missing_keys(void **state)
{
    tss_series_id id = {"host-00", "cpu", "", "percent", "", "value"};
    uint8_t key[TSS_KEY_MAX];
    size_t len;
    fixture fx;
    tss_segment *seg;

    fx_open(&fx, state);
    make_series(&fx, NSERIES, 0, 7200000, 7);
    write_segment(&fx, 0, 7200000, 1, NULL, 0);
    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);

    /* before the first, after the last, between, a prefix, another kind */
    id.host = "a";
    assert_int_equal(tss_key_encode(key, &len, &id, 1), 0);
    assert_int_equal(tss_segment_find(seg, key, len), -1);
    id.host = "zzz";
    assert_int_equal(tss_key_encode(key, &len, &id, 1), 0);
    assert_int_equal(tss_segment_find(seg, key, len), -1);
    id.host = "host-05x";
    assert_int_equal(tss_key_encode(key, &len, &id, 1), 0);
    assert_int_equal(tss_segment_find(seg, key, len), -1);
    assert_int_equal(tss_segment_find(seg, fx.s[3].key, fx.s[3].key_len - 1),
                     -1);
    memcpy(key, fx.s[3].key, fx.s[3].key_len);
    key[fx.s[3].key_len - 1] = (uint8_t)(key[fx.s[3].key_len - 1] % 4 + 1);
    assert_int_equal(tss_segment_find(seg, key, fx.s[3].key_len), -1);
    tss_segment_close(seg);
    free_series(&fx);

    /* a segment without series */
    write_segment(&fx, 7200000, 14400000, 2, NULL, 0);
    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    assert_int_equal(seg->nentries, 0);
    assert_int_equal(seg->points, 0);
    assert_int_equal(tss_segment_find(seg, key, fx.s[3].key_len), -1);
    tss_segment_close(seg);
    fx_close(&fx);
}

static void test_supersedes_list(void **state)
{
    const uint8_t sup[2][16] = {{1, 2, 3}, {0xff, 0xfe, [15] = 9}};
    fixture fx;
    tss_segment *seg;

    fx_open(&fx, state);
    make_series(&fx, 3, 0, 60000, 9);
    write_segment(&fx, 0, 60000, 5, sup, 2);
    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    assert_int_equal(seg->nsupersedes, 2);
    assert_memory_equal(seg->supersedes, sup, sizeof(sup));
    check_contents(&fx, seg);
    tss_segment_close(seg);
    fx_close(&fx);
}

/* A rejected add leaves the image as it was: the segment still finishes. */
static void test_builder_rejects_bad_series(void **state)
{
    tss_point good[2] = {{10, {.bits = 1}}, {20, {.bits = 2}}};
    tss_point bad_order[2] = {{20, {.bits = 1}}, {10, {.bits = 2}}};
    tss_point before[1] = {{-1, {.bits = 1}}};
    tss_point at_end[1] = {{100, {.bits = 1}}};
    tss_seg_name name = {0, 100, 1, {7}};
    tss_seg_builder b;
    tss_buf img = {0};
    fixture fx;
    tss_segment *seg;

    fx_open(&fx, state);
    make_series(&fx, 3, 0, 7200000, 1); /* for the keys */
    assert_int_equal(tss_seg_builder_begin(&b, &img, &name, 1, NULL, 0), 0);
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[1].key, fx.s[1].key_len, good, 0),
        TSS_EINVAL);
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[1].key, fx.s[1].key_len, good, 2), 0);
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[1].key, fx.s[1].key_len, good, 2),
        TSS_EINVAL); /* duplicate key */
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[0].key, fx.s[0].key_len, good, 2),
        TSS_EINVAL); /* key going back */
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[2].key, fx.s[2].key_len, before, 1),
        TSS_EINVAL);
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[2].key, fx.s[2].key_len, at_end, 1),
        TSS_EINVAL);
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[2].key, fx.s[2].key_len, bad_order, 2),
        TSS_EINVAL);
    assert_int_equal(
        tss_seg_builder_add(&b, fx.s[2].key, fx.s[2].key_len, good + 1, 1), 0);
    assert_int_equal(tss_seg_builder_finish(&b), 0);
    tss_seg_name_format(fx.rel, sizeof(fx.rel), &name);
    assert_int_equal(tss_storage_write_new(fx.st, fx.rel, img.data, img.len),
                     0);
    tss_buf_free(&img);

    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    assert_int_equal(seg->nentries, 2);
    assert_int_equal(seg->points, 3);
    assert_int_equal(tss_segment_find(seg, fx.s[1].key, fx.s[1].key_len), 0);
    assert_int_equal(tss_segment_find(seg, fx.s[2].key, fx.s[2].key_len), 1);
    assert_int_equal(tss_segment_find(seg, fx.s[0].key, fx.s[0].key_len), -1);
    tss_segment_close(seg);
    fx_close(&fx);
}

/* ---- damage --------------------------------------------------------------
 */

static void test_every_header_and_table_byte(void **state)
{
    fixture fx;
    tss_segment *seg;
    uint64_t size, table;
    uint8_t *img;
    size_t len;

    fx_open(&fx, state);
    make_series(&fx, 5, 0, 7200000, 3);
    write_segment(&fx, 0, 7200000, 1, NULL, 0);
    assert_int_equal(tt_slurp(fx.path, &img, &len), 0);
    size = len;
    table = tss_get_u64(img + 64);
    free(img);
    assert_true(table > TSS_SEG_HEADER && table < size);
    for (uint64_t off = 0; off < size; off++) {
        char what[64];

        if (off == TSS_SEG_HEADER)
            off = table; /* chunks are checked on read: next test */
        snprintf(what, sizeof(what), "byte %" PRIu64, off);
        tt_flip(fx.path, off, 0x01);
        assert_corrupt(&fx, what);
        tt_flip(fx.path, off, 0x80);
        assert_corrupt(&fx, what);
        tt_flip(fx.path, off, 0x81);
    }
    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    check_contents(&fx, seg);
    tss_segment_close(seg);
    fx_close(&fx);
}

static void test_every_chunk_byte(void **state)
{
    fixture fx;
    tss_segment *seg;
    tss_point *pts = NULL;
    size_t n, cap = 0;

    fx_open(&fx, state);
    make_series(&fx, 4, -7200000, 0, 5);
    write_segment(&fx, -7200000, 0, 1, NULL, 0);
    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    for (size_t e = 0; e < seg->nentries; e++) {
        const tss_seg_entry *en = &seg->entries[e];

        for (uint64_t off = en->offset; off < en->offset + en->len; off++) {
            tt_flip(fx.path, off, 0x10);
            n = 0;
            assert_int_equal(tss_segment_read_points(seg, e, &pts, &n, &cap),
                             TSS_ECORRUPT);
            assert_int_equal(n, 0);
            tt_assert_msg_has(fx.rel);
            tt_assert_msg_has("chunk");
            /* the other series are still readable */
            n = 0;
            assert_int_equal(tss_segment_read_points(
                                 seg, (e + 1) % seg->nentries, &pts, &n, &cap),
                             0);
            assert_int_equal(n, fx.s[(e + 1) % seg->nentries].n);
            tt_flip(fx.path, off, 0x10);
        }
    }
    tss_segment_close(seg);
    tss_free(pts);
    fx_close(&fx);
}

/* A chunk damaged past its checksum (checksums recomputed) is still caught
 * by the decoder, and the message says which file and what. */
static void test_chunk_decoder_error_names_file(void **state)
{
    fixture fx;
    tss_segment *seg;
    tss_point *pts = NULL;
    size_t n = 0, cap = 0, len;
    uint8_t *img;
    char want[256];

    fx_open(&fx, state);
    make_series(&fx, 1, 0, 7200000, 13);
    write_segment(&fx, 0, 7200000, 1, NULL, 0);
    assert_int_equal(tt_slurp(fx.path, &img, &len), 0);
    /* one series: its chunk starts at the header's end, its checksum is the
     * table entry's last 8 bytes, then come the block index (its length at
     * 112) and the table checksum */
    img[TSS_SEG_HEADER] = 0x0f; /* value mode 15 does not exist */
    tss_put_u64(img + len - 16 - tss_get_u32(img + 112),
                tss_checksum(img + TSS_SEG_HEADER,
                             (size_t)(tss_get_u64(img + 64) - TSS_SEG_HEADER)));
    assert_true(tss_segment_reseal(img, len));
    tt_spit(fx.path, img, len);
    free(img);

    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    assert_int_equal(tss_segment_read_points(seg, 0, &pts, &n, &cap),
                     TSS_ECORRUPT);
    snprintf(want, sizeof(want), "segment %s: chunk codec byte 0x0f invalid",
             fx.rel);
    assert_string_equal(tss_error_last(), want);
    tss_segment_close(seg);
    tss_free(pts);
    fx_close(&fx);
}

static void rewrite_header(const char *path, void (*edit)(uint8_t *hdr))
{
    uint8_t *img;
    size_t len;

    assert_int_equal(tt_slurp(path, &img, &len), 0);
    edit(img);
    tss_put_u64(img + 120, tss_checksum(img, 120));
    tt_spit(path, img, len);
    free(img);
}

static void edit_version(uint8_t *hdr)
{
    tss_put_u16(hdr + 8, TSS_SEG_VERSION + 1);
}

static void edit_magic(uint8_t *hdr)
{
    hdr[1] = 't';
}

static void edit_series_count(uint8_t *hdr)
{
    tss_put_u32(hdr + 60, tss_get_u32(hdr + 60) + 1);
}

static void test_magic_and_version(void **state)
{
    fixture fx;

    fx_open(&fx, state);
    make_series(&fx, 2, 0, 7200000, 17);
    write_segment(&fx, 0, 7200000, 1, NULL, 0);
    rewrite_header(fx.path, edit_version);
    assert_corrupt(&fx, "a later version");
    tt_assert_msg_has("format version 3 is not supported");
    assert_null(strstr(tss_error_last(), "magic"));
    rewrite_header(fx.path, edit_magic);
    assert_corrupt(&fx, "magic");
    tt_assert_msg_has("bad magic");
    assert_null(strstr(tss_error_last(), "version"));
    free_series(&fx);

    /* a header consistent with its checksum but not with the table */
    make_series(&fx, 2, 0, 7200000, 17);
    write_segment(&fx, 0, 7200000, 2, NULL, 0);
    rewrite_header(fx.path, edit_series_count);
    assert_corrupt(&fx, "series count");
    fx_close(&fx);
}

/* Rewrites the table (checksums recomputed) of the segment at `path`:
 * replaces the first `len` bytes equal to `from` by `to`. */
static void rewrite_table(const char *path, const char *from, const char *to,
                          size_t len)
{
    uint8_t *img, *tab, *hit;
    size_t n, tlen;

    assert_int_equal(tt_slurp(path, &img, &n), 0);
    tab = img + tss_get_u64(img + 64);
    tlen = (size_t)tss_get_u64(img + 72);
    hit = memmem(tab, tlen - 8, from, len);
    assert_non_null(hit);
    memcpy(hit, to, len);
    assert_true(tss_segment_reseal(img, n));
    tt_spit(path, img, n);
    free(img);
}

static void edit_points(uint8_t *hdr)
{
    tss_put_u64(hdr + 80, tss_get_u64(hdr + 80) + 1);
}

/* Checksums are not all a reader checks: the table's keys must be valid
 * and strictly increasing, and its counts must add up to the header's. */
static void test_table_consistency(void **state)
{
    static const struct {
        const char *from, *to;
        size_t len;
        const char *msg;
    } edits[] = {
        {"aaaa", "cccc", 4, "series keys not in order"},
        {"aaaa", "bbbb", 4, "series keys not in order"}, /* duplicate */
        {"value\0\x02", "value\0\x09", 7, "malformed series key"},
        {"value\0\x02", "valuex\x02", 7, "malformed series key"},
    };
    const tss_point pts[3] = {
        {10, {.bits = 1}}, {20, {.bits = 2}}, {30, {.bits = 3}}};
    fixture fx;

    fx_open(&fx, state);
    for (size_t i = 0; i <= sizeof(edits) / sizeof(edits[0]); i++) {
        tss_series_id a = {"aaaa", "p", "", "t", "", "value"};
        tss_series_id b = {"bbbb", "p", "", "t", "", "value"};
        tss_seg_builder bld;
        tss_buf img = {0};

        fx.name = (tss_seg_name){0, 100, i + 1, {(uint8_t)i}};
        assert_int_equal(
            tss_key_encode(fx.s[0].key, &fx.s[0].key_len, &a, TSS_KIND_DERIVE),
            0);
        assert_int_equal(
            tss_key_encode(fx.s[1].key, &fx.s[1].key_len, &b, TSS_KIND_DERIVE),
            0);
        assert_int_equal(
            tss_seg_builder_begin(&bld, &img, &fx.name, 1, NULL, 0), 0);
        for (int k = 0; k < 2; k++)
            assert_int_equal(
                tss_seg_builder_add(&bld, fx.s[k].key, fx.s[k].key_len, pts, 3),
                0);
        assert_int_equal(tss_seg_builder_finish(&bld), 0);
        tss_seg_name_format(fx.rel, sizeof(fx.rel), &fx.name);
        tt_join(fx.path, sizeof(fx.path), fx.root, fx.rel);
        assert_int_equal(
            tss_storage_write_new(fx.st, fx.rel, img.data, img.len), 0);
        tss_buf_free(&img);
        if (i == sizeof(edits) / sizeof(edits[0])) {
            rewrite_header(fx.path, edit_points);
            assert_corrupt(&fx, "point total");
            tt_assert_msg_has("point count disagrees");
            break;
        }
        rewrite_table(fx.path, edits[i].from, edits[i].to, edits[i].len);
        assert_corrupt(&fx, edits[i].msg);
        tt_assert_msg_has(edits[i].msg);
    }
    fx_close(&fx);
}

/* A file whose name disagrees with its header is corrupt. */
static void test_name_disagrees_with_header(void **state)
{
    fixture fx;
    tss_seg_name names[4];
    char good[160];

    fx_open(&fx, state);
    make_series(&fx, 2, 0, 7200000, 19);
    write_segment(&fx, 0, 7200000, 3, NULL, 0);
    snprintf(good, sizeof(good), "%s", fx.rel);
    for (int i = 0; i < 4; i++)
        names[i] = fx.name;
    names[0].seq = 4;
    names[1].start = -7200000;
    names[2].end = 7200001;
    names[3].uuid[15] ^= 1;
    for (int i = 0; i < 4; i++) {
        char from[4096], to[4096];

        tss_seg_name_format(fx.rel, sizeof(fx.rel), &names[i]);
        tt_join(from, sizeof(from), fx.root, good);
        tt_join(to, sizeof(to), fx.root, fx.rel);
        assert_int_equal(link(from, to), 0);
        assert_corrupt(&fx, "renamed");
        tt_assert_msg_has("disagrees with the file name");
    }
    fx_close(&fx);
}

static void test_truncated_and_extended_files(void **state)
{
    fixture fx;
    uint8_t *img;
    size_t len;
    const size_t cuts[] = {0, 1, 100, 127, 128, 135, 136};

    fx_open(&fx, state);
    make_series(&fx, 3, 0, 7200000, 23);
    write_segment(&fx, 0, 7200000, 1, NULL, 0);
    assert_int_equal(tt_slurp(fx.path, &img, &len), 0);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        tt_spit(fx.path, img, cuts[i]);
        assert_corrupt(&fx, "truncated");
    }
    for (size_t cut = len - 40; cut < len; cut++) {
        tt_spit(fx.path, img, cut);
        assert_corrupt(&fx, "truncated table");
    }
    img = realloc(img, len + 1);
    assert_non_null(img);
    img[len] = 0;
    tt_spit(fx.path, img, len + 1);
    assert_corrupt(&fx, "extended");
    free(img);
    fx_close(&fx);
}

/* ---- the block index: reading a few series ---------------------------------
 */

#define NMANY 2000 /* series: about 15 blocks of the table */

/* Writes a segment of NMANY series "h0000".."h1999" (two points each) with
 * one superseded uuid; returns its image. short_keys: identifiers of one
 * or two letters past the host (about 146 entries a block instead of 100).
 */
static void write_many_keys(fixture *fx, uint8_t **img, size_t *len,
                            bool short_keys)
{
    static const uint8_t sup[1][16] = {{7, 7, 7}};
    tss_seg_builder b;
    tss_buf out = {0};

    fx->name = (tss_seg_name){0, 7200000, 1, {1, 2, 3}};
    assert_int_equal(tss_seg_builder_begin(&b, &out, &fx->name, 1000, sup, 1),
                     0);
    for (int i = 0; i < NMANY; i++) {
        char host[16];
        tss_series_id id = {host, "cpu", "0", "cpu", "idle", "value"};
        tss_series_id sid = {host, "c", "", "c", "", "v"};
        uint8_t key[TSS_KEY_MAX];
        size_t klen;
        tss_point pts[2] = {{1000 * i, {.derive = i}},
                            {1000 * i + 500, {.derive = -i}}};

        snprintf(host, sizeof(host), "h%04d", i);
        assert_int_equal(tss_key_encode(key, &klen, short_keys ? &sid : &id,
                                        TSS_KIND_DERIVE),
                         0);
        assert_int_equal(tss_seg_builder_add(&b, key, klen, pts, 2), 0);
    }
    assert_int_equal(tss_seg_builder_finish(&b), 0);
    tss_seg_name_format(fx->rel, sizeof(fx->rel), &fx->name);
    tt_join(fx->path, sizeof(fx->path), fx->root, fx->rel);
    assert_int_equal(tss_storage_write_new(fx->st, fx->rel, out.data, out.len),
                     0);
    *img = malloc(out.len);
    assert_non_null(*img);
    memcpy(*img, out.data, out.len);
    *len = out.len;
    tss_buf_free(&out);
}

static void write_many(fixture *fx, uint8_t **img, size_t *len)
{
    write_many_keys(fx, img, len, false);
}

static tss_seg_prefix host_prefix(char *buf, int i)
{
    snprintf(buf, 16, "h%04d", i);
    return (tss_seg_prefix){(const uint8_t *)buf, strlen(buf) + 1};
}

/* An open for prefixes holds every entry of the whole table that starts
 * with one of them, the same entry, and nothing else. */
static void check_selected(fixture *fx, const tss_segment *full,
                           const tss_seg_prefix *pre, size_t npre)
{
    tss_segment *seg;
    tss_point *pts = NULL;
    size_t n, cap = 0, found = 0;

    assert_int_equal(tss_segment_open_select(&seg, fx->st, fx->rel, pre, npre),
                     0);
    assert_true(seg->partial);
    assert_int_equal(seg->content_hash, full->content_hash);
    assert_int_equal(seg->nsupersedes, 1);
    assert_int_equal(seg->supersedes[0][0], 7);
    for (size_t i = 0; i < full->nentries; i++) {
        const tss_seg_entry *e = &full->entries[i];
        bool wanted = false;
        long k;

        for (size_t p = 0; p < npre; p++)
            wanted = wanted || (e->key_len >= pre[p].len &&
                                memcmp(e->key, pre[p].bytes, pre[p].len) == 0);
        if (!wanted)
            continue;
        found++;
        k = tss_segment_find(seg, e->key, e->key_len);
        assert_true(k >= 0);
        assert_int_equal(seg->entries[k].offset, e->offset);
        assert_int_equal(seg->entries[k].checksum, e->checksum);
        n = 0;
        assert_int_equal(
            tss_segment_read_points(seg, (size_t)k, &pts, &n, &cap), 0);
        assert_int_equal(n, 2);
        assert_int_equal(pts[0].t, e->min_t);
    }
    assert_int_equal(found, npre);
    assert_int_equal(seg->nentries, found); /* nothing else */
    free(pts);
    tss_segment_close(seg);
}

static void test_select_reads_blocks(void **state)
{
    fixture fx;
    tss_segment *full;
    uint8_t *img;
    size_t len;
    char b[4][16];

    fx_open(&fx, state);
    write_many(&fx, &img, &len);
    assert_int_equal(tss_get_u16(img + 8), 2);
    assert_true(tss_get_u32(img + 112) > 0);
    assert_int_equal(tss_get_u32(img + 116), 1 + 16);
    assert_int_equal(tss_segment_open(&full, fx.st, fx.rel), 0);
    assert_false(full->partial);
    assert_int_equal(full->nentries, NMANY);
    {
        /* the first, the last, one in the middle; two far apart */
        tss_seg_prefix p0 = host_prefix(b[0], 0);
        tss_seg_prefix p1 = host_prefix(b[1], NMANY - 1);
        tss_seg_prefix p2 = host_prefix(b[2], 1234);
        tss_seg_prefix two[2] = {host_prefix(b[3], 17), p1};

        check_selected(&fx, full, &p0, 1);
        check_selected(&fx, full, &p1, 1);
        check_selected(&fx, full, &p2, 1);
        check_selected(&fx, full, two, 2);
    }
    {
        /* a prefix no key has: no entry, no error */
        tss_seg_prefix none = {(const uint8_t *)"g", 1};
        tss_segment *seg;

        assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &none, 1),
                         0);
        assert_int_equal(tss_segment_find(seg, full->entries[0].key,
                                          full->entries[0].key_len),
                         -1);
        tss_segment_close(seg);
    }
    {
        /* an empty prefix wants everything: the whole table */
        tss_seg_prefix all = {(const uint8_t *)"", 0};
        tss_segment *seg;

        assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &all, 1),
                         0);
        assert_false(seg->partial);
        assert_int_equal(seg->nentries, NMANY);
        tss_segment_close(seg);
    }
    tss_segment_close(full);
    free(img);
    fx_close(&fx);
}

/* Damage to a block an open for prefixes reads is reported (the block's
 * checksum); damage to one it does not read is not its business (a whole
 * open, or verify, reports it); damage to the index always is. */
static void test_select_damage(void **state)
{
    fixture fx;
    tss_segment *seg;
    uint8_t *img;
    size_t len;
    char b[16];
    tss_seg_prefix last;
    uint64_t tab = 0, entries, index, hash;

    fx_open(&fx, state);
    write_many(&fx, &img, &len);
    last = host_prefix(b, NMANY - 1);
    tab = tss_get_u64(img + 64);
    entries = tab + tss_get_u32(img + 116);   /* the first block */
    index = len - 8 - tss_get_u32(img + 112); /* the block index */

    assert_int_equal(tss_segment_open(&seg, fx.st, fx.rel), 0);
    hash = seg->content_hash;
    tss_segment_close(seg);

    tt_flip(fx.path, entries + 20, 0x04); /* the first block */
    assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &last, 1), 0);
    tss_segment_close(seg);
    assert_corrupt(&fx, "first block");
    tt_assert_msg_has("series table checksum mismatch");
    tt_flip(fx.path, entries + 20, 0x04);

    /* the table checksum, which a selective open does not read: the
     * content hash (tombstones match it) does not depend on it */
    tt_flip(fx.path, len - 1, 0x01);
    assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &last, 1), 0);
    assert_int_equal(seg->content_hash, hash);
    tss_segment_close(seg);
    assert_corrupt(&fx, "table checksum");
    tt_flip(fx.path, len - 1, 0x01);

    tt_flip(fx.path, index - 20, 0x04); /* the last block */
    assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &last, 1),
                     TSS_ECORRUPT);
    assert_null(seg);
    tt_assert_msg_has(fx.rel);
    tt_assert_msg_has("table block checksum mismatch");
    tt_flip(fx.path, index - 20, 0x04);

    for (uint64_t off = index; off < len - 8; off += 7) {
        tt_flip(fx.path, off, 0x20);
        assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &last, 1),
                         TSS_ECORRUPT);
        tt_assert_msg_has("table index checksum mismatch");
        tt_flip(fx.path, off, 0x20);
    }
    assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &last, 1), 0);
    tss_segment_close(seg);
    free(img);
    fx_close(&fx);
}

/* Blocks whose keys overlap (block 1 starting below block 0's last key,
 * its index key changed the same way, every checksum right) are corrupt
 * for a selective open too, which reads block 1 alone. */
static void test_select_block_order(void **state)
{
    fixture fx;
    tss_segment *seg;
    uint8_t *img;
    size_t len, n = 0;
    char k[8] = "", b[16];
    tss_seg_prefix pre;

    fx_open(&fx, state);
    write_many_keys(&fx, &img, &len, true);
    /* block 1's first key: after h0000, the first whole "hNNNN" key in
     * the table (keys inside a block share their prefix with the one
     * before, so only blocks' first keys appear whole) */
    for (size_t i = (size_t)tss_get_u64(img + 64) + 8; i + 6 < len && !*k; i++)
        if (img[i] == 'h' && img[i + 5] == 0 && memcmp(img + i, "h0000", 5))
            memcpy(k, img + i, 5);
    /* h01ab -> h00ab (ab > 0: a block holds more than 100 of these keys):
     * the block's later keys, decoded against the changed one, stay in
     * order; its first keys now repeat some of block 0's */
    assert_true(k[2] == '1' && strcmp(k + 3, "00") > 0);
    for (size_t i = 0; i + 6 < len; i++)
        if (memcmp(img + i, k, 5) == 0 && img[i + 5] == 0) {
            img[i + 2]--;
            n++;
        }
    assert_int_equal(n, 2); /* the block's first entry and the index */
    assert_true(tss_segment_reseal(img, len));
    tt_spit(fx.path, img, len);

    assert_corrupt(&fx, "overlapping blocks");
    k[2]--;
    pre = host_prefix(b, atoi(k + 1));
    assert_int_equal(tss_segment_open_select(&seg, fx.st, fx.rel, &pre, 1),
                     TSS_ECORRUPT);
    tt_assert_msg_has("a table block disagrees with its index");
    free(img);
    fx_close(&fx);
}

/* Version 1 files, without the block index, are still read: whole, also
 * by an open for prefixes. */
static void test_version_1_read(void **state)
{
    fixture fx;
    tss_segment *v2, *v1;
    uint8_t *img;
    size_t len, v1_len;
    uint64_t tab, tab_len, index_len;
    char b[16];
    tss_seg_prefix p;

    fx_open(&fx, state);
    write_many(&fx, &img, &len);
    assert_int_equal(tss_segment_open(&v2, fx.st, fx.rel), 0);
    /* drop the index: the supersede list and the entries are version 1's */
    tab = tss_get_u64(img + 64);
    tab_len = tss_get_u64(img + 72);
    index_len = tss_get_u32(img + 112);
    v1_len = len - (size_t)index_len;
    tss_put_u64(img + v1_len - 8,
                tss_checksum(img + tab, (size_t)(tab_len - index_len - 8)));
    tss_put_u16(img + 8, 1);
    tss_put_u64(img + 72, tab_len - index_len);
    tss_put_u64(img + 112, 0);
    tss_put_u64(img + 120, tss_checksum(img, 120));
    tt_spit(fx.path, img, v1_len);

    p = host_prefix(b, 5);
    assert_int_equal(tss_segment_open_select(&v1, fx.st, fx.rel, &p, 1), 0);
    assert_false(v1->partial);
    assert_int_equal(v1->nentries, NMANY);
    for (size_t i = 0; i < NMANY; i++) {
        assert_int_equal(v1->entries[i].key_len, v2->entries[i].key_len);
        assert_memory_equal(v1->entries[i].key, v2->entries[i].key,
                            v1->entries[i].key_len);
        assert_int_equal(v1->entries[i].offset, v2->entries[i].offset);
    }
    tss_segment_close(v1);
    /* a version 1 header with index lengths is not version 1 */
    tss_put_u32(img + 112, 17);
    tss_put_u64(img + 120, tss_checksum(img, 120));
    tt_spit(fx.path, img, v1_len);
    assert_corrupt(&fx, "v1 with an index length");
    tt_assert_msg_has("table parts do not fit");
    tss_segment_close(v2);
    free(img);
    fx_close(&fx);
}

/* ---- names ----------------------------------------------------------------
 */

static void test_name_format_parse(void **state)
{
    static const struct {
        tss_seg_name n;
        const char *s;
    } cases[] = {
        {{0, 7200000, 1, {0}},
         "segments/0_7200000_1_00000000-0000-0000-0000-000000000000.seg"},
        {{-7200000,
          0,
          42,
          {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
           0xbb, 0xcc, 0xdd, 0xee, 0xff}},
         "segments/-7200000_0_42_00112233-4455-6677-8899-aabbccddeeff.seg"},
        {{INT64_MIN,
          INT64_MAX,
          UINT64_MAX,
          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
           0xff, 0xff, 0xff, 0xff, 0xff}},
         "segments/-9223372036854775808_9223372036854775807_"
         "18446744073709551615_ffffffff-ffff-ffff-ffff-ffffffffffff.seg"},
        {{-14400000, -7200000, 0, {0xa0, [15] = 0x0b}},
         "segments/-14400000_-7200000_0_a0000000-0000-0000-0000-00000000000b"
         ".seg"},
    };
    uint64_t seed = 29;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[160];
        tss_seg_name got;

        tss_seg_name_format(buf, sizeof(buf), &cases[i].n);
        assert_string_equal(buf, cases[i].s);
        assert_int_equal(tss_seg_name_parse(buf + strlen("segments/"), &got),
                         0);
        assert_int_equal(got.start, cases[i].n.start);
        assert_int_equal(got.end, cases[i].n.end);
        assert_int_equal(got.seq, cases[i].n.seq);
        assert_memory_equal(got.uuid, cases[i].n.uuid, 16);
    }
    for (int i = 0; i < 2000; i++) {
        tss_seg_name n, got;
        char buf[160];

        n.start = (int64_t)tt_rand(&seed) >> (tt_rand(&seed) % 64);
        n.end = n.start + 1 + (int64_t)tt_below(&seed, 1u << 30);
        if (n.end <= n.start)
            continue;
        n.seq = tt_rand(&seed) >> (tt_rand(&seed) % 64);
        for (int k = 0; k < 16; k++)
            n.uuid[k] = (uint8_t)tt_rand(&seed);
        tss_seg_name_format(buf, sizeof(buf), &n);
        assert_int_equal(tss_seg_name_parse(buf + 9, &got), 0);
        assert_true(got.start == n.start && got.end == n.end &&
                    got.seq == n.seq);
        assert_memory_equal(got.uuid, n.uuid, 16);
    }
}

static void test_bad_names(void **state)
{
#define U "00112233-4455-6677-8899-aabbccddeeff"
    static const char *const bad[] = {
        "",
        ".seg",
        "x.seg",
        "0_7200_1_" U ".sex",
        "0_7200_1_" U,
        "0_7200_1_" U ".seg.tmp",
        "0_7200_" U ".seg",
        "0_7200_1_2_" U ".seg",
        "7200_0_1_" U ".seg",
        "0_0_1_" U ".seg",
        "a_7200_1_" U ".seg",
        "0_b_1_" U ".seg",
        "0_7200_c_" U ".seg",
        "0_7200_-1_" U ".seg",
        "0_7200_+1_" U ".seg",
        "0_7200_ 1_" U ".seg",
        "+0_7200_1_" U ".seg",
        " 0_7200_1_" U ".seg",
        "0_ 7200_1_" U ".seg",
        "-0_7200_1_" U ".seg",
        "00_7200_1_" U ".seg",
        "0_07200_1_" U ".seg",
        "0_7200_01_" U ".seg",
        "0_7200_1_00112233-4455-6677-8899-AABBCCDDEEFF.seg",
        "0__1_" U ".seg",
        "_7200_1_" U ".seg",
        "0_7200_1_" U "x.seg",
        "0_7200_1_00112233-4455-6677-8899-aabbccddeeZZ.seg",
        "0_7200_1_001122334455-6677-8899-aabbccddeeff0.seg",
        "0_7200_1_" U "_.seg",
        "99999999999999999999_7200_1_" U ".seg",
        "0_99999999999999999999_1_" U ".seg",
        "0_7200_99999999999999999999_" U ".seg",
        "0_7200_1_" U ".seg\n",
    };
#undef U
    tss_seg_name n;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tss_seg_name_parse(bad[i], &n) != TSS_EINVAL)
            fail_msg("\"%s\" was taken for a segment name", bad[i]);
        tt_assert_msg_has("is not a segment name");
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_write_and_read_back),
        T(test_find_missing_keys),
        T(test_supersedes_list),
        T(test_builder_rejects_bad_series),
        T(test_every_header_and_table_byte),
        T(test_every_chunk_byte),
        T(test_chunk_decoder_error_names_file),
        T(test_magic_and_version),
        T(test_table_consistency),
        T(test_name_disagrees_with_header),
        T(test_truncated_and_extended_files),
        T(test_select_reads_blocks),
        T(test_select_damage),
        T(test_select_block_order),
        T(test_version_1_read),
        cmocka_unit_test(test_name_format_parse),
        cmocka_unit_test(test_bad_names),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
