/*
 * The STORE metadata file (meta.c): round trip, and every missing,
 * wrong-typed or invalid field reported as corrupt, naming the field.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "meta.h"

#define REL "store-dir/STORE"

/* The fields of a valid document, in the order meta.h lists them. */
static const char *const KEYS[8] = {
    "format",    "format_version",   "uuid", "created",
    "precision", "units_per_second", "span", "bucket_width",
};
static const char *const GOOD[8] = {
    "\"tsstore\"", "1",      "\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\"",
    "1700000000",  "\"ms\"", "1000",
    "7200000",     "10000",
};

/* A document with field `skip` left out and field `repl` set to `val`
 * (-1: none). */
static void doc(char *out, size_t size, int skip, int repl, const char *val)
{
    size_t n = (size_t)snprintf(out, size, "{");

    for (int i = 0; i < 8; i++) {
        if (i == skip)
            continue;
        n += (size_t)snprintf(out + n, size - n, "%s\"%s\": %s",
                              n > 1 ? ", " : "", KEYS[i],
                              i == repl ? val : GOOD[i]);
        assert_true(n < size);
    }
    n += (size_t)snprintf(out + n, size - n, "}");
    assert_true(n < size);
}

static int decode(const char *text, tss_store_info *info)
{
    memset(info, 0, sizeof(*info));
    return tss_meta_decode((const uint8_t *)text, strlen(text), REL, info);
}

static void test_round_trip(void **state)
{
    static const uint32_t ups[] = {1, 1000, 1000000, 1000000000};
    static const char *const names[] = {"s", "ms", "us", "ns"};

    for (size_t i = 0; i < 4; i++) {
        tss_store_info in = {0}, out;
        uint8_t *buf;
        size_t len;

        in.format_version = 1;
        in.units_per_second = ups[i];
        in.span = 7200 * (int64_t)ups[i];
        in.bucket_width = 10 * (int64_t)ups[i];
        in.created = 1700000000 + (int64_t)i;
        snprintf(in.uuid, sizeof(in.uuid),
                 "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f%zu", i);
        assert_string_equal(tss_precision_name(ups[i]), names[i]);
        assert_int_equal(tss_meta_encode(&in, &buf, &len), 0);
        assert_int_equal(tss_meta_decode(buf, len, REL, &out), 0);
        assert_int_equal(out.format_version, 1);
        assert_int_equal(out.units_per_second, ups[i]);
        assert_int_equal(out.span, in.span);
        assert_int_equal(out.bucket_width, in.bucket_width);
        assert_int_equal(out.created, in.created);
        assert_string_equal(out.uuid, in.uuid);
        tss_free(buf);
    }
    assert_null(tss_precision_name(0));
    assert_null(tss_precision_name(10));
    assert_null(tss_precision_name(1000000001));
}

static void test_hand_written_document(void **state)
{
    char text[1024];
    tss_store_info info;

    doc(text, sizeof(text), -1, -1, NULL);
    assert_int_equal(decode(text, &info), 0);
    assert_int_equal(info.units_per_second, 1000);
    assert_int_equal(info.span, 7200000);
    assert_int_equal(info.bucket_width, 10000);
    assert_int_equal(info.created, 1700000000);
    assert_string_equal(info.uuid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");

    /* unknown keys are ignored (forward compatibility) */
    doc(text, sizeof(text), -1, 7, "10000, \"future\": {\"x\": [1, 2]}");
    assert_int_equal(decode(text, &info), 0);
    assert_int_equal(info.bucket_width, 10000);
}

static void test_missing_fields(void **state)
{
    for (int i = 0; i < 8; i++) {
        char text[1024], want[64];
        tss_store_info info;

        doc(text, sizeof(text), i, -1, NULL);
        assert_int_equal(decode(text, &info), TSS_ECORRUPT);
        snprintf(want, sizeof(want), "field \"%s\" is missing", KEYS[i]);
        tt_assert_msg_has(want);
        tt_assert_msg_has(REL);
    }
}

static void test_wrong_types(void **state)
{
    static const char *const as_string[] = {"\"1\"", "\"x\""};
    static const char *const as_other[] = {"1.5", "null", "true", "[1]", "{}"};

    for (int i = 0; i < 8; i++) {
        bool is_str = i == 0 || i == 2 || i == 4;
        char text[1024], want[64];
        tss_store_info info;

        snprintf(want, sizeof(want), "field \"%s\" is missing or not %s",
                 KEYS[i], is_str ? "a string" : "an integer");
        for (size_t k = 0; k < 5; k++) {
            doc(text, sizeof(text), -1, i, as_other[k]);
            assert_int_equal(decode(text, &info), TSS_ECORRUPT);
            tt_assert_msg_has(want);
        }
        doc(text, sizeof(text), -1, i, is_str ? "7" : as_string[0]);
        assert_int_equal(decode(text, &info), TSS_ECORRUPT);
        tt_assert_msg_has(want);
        if (!is_str) {
            doc(text, sizeof(text), -1, i, as_string[1]);
            assert_int_equal(decode(text, &info), TSS_ECORRUPT);
            tt_assert_msg_has(want);
        }
    }
}

static void test_invalid_values(void **state)
{
    static const struct {
        int field;
        const char *val, *msg;
    } cases[] = {
        {0, "\"tsstorf\"", "\"format\" is \"tsstorf\""},
        {0, "\"\"", "\"format\""},
        {1, "2", "format_version 2 is not supported"},
        {1, "0", "format_version 0 is not supported"},
        {1, "-1", "format_version -1 is not supported"},
        {2, "\"nope\"", "\"uuid\" is not a UUID"},
        {2, "\"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0a\"", "\"uuid\""},
        {2, "\"0f1e2d3c4b5a697887a6a5b4c3d2e1f0\"", "\"uuid\""},
        {4, "\"s\"", "\"precision\" \"s\""},
        {4, "\"MS\"", "\"precision\""},
        {5, "7", "\"units_per_second\" 7"},
        {5, "0", "\"units_per_second\" 0"},
        {5, "-1000", "\"units_per_second\""},
        {5, "4294968296", "\"units_per_second\""}, /* 2^32 + 1000 */
        {6, "0", "\"span\" 0"},
        {6, "-7200000", "\"span\" -7200000"},
        {6, "7200001", "\"span\" 7200001"},
        {6, "4611686018427387904", "\"span\""}, /* 2^62 */
        {7, "0", "\"bucket_width\" 0"},
        {7, "-10000", "\"bucket_width\" -10000"},
        {7, "7", "\"bucket_width\" 7"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        tss_store_info info;

        doc(text, sizeof(text), -1, cases[i].field, cases[i].val);
        if (decode(text, &info) != TSS_ECORRUPT)
            fail_msg("%s = %s was accepted", KEYS[cases[i].field],
                     cases[i].val);
        tt_assert_msg_has(cases[i].msg);
        tt_assert_msg_has(REL);
    }
}

static void test_not_an_object(void **state)
{
    /* the last: yajl's message quotes the input, which names the words
     * of its out-of-memory message: corrupt all the same */
    static const char *const texts[] = {
        "",    "{",        "{\"format\": }",
        "nul", "\xff\xfe", "{\"f\":client cancelled parse via callback}"};
    tss_store_info info;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(decode(texts[i], &info), TSS_ECORRUPT);
        tt_assert_msg_has("not valid JSON");
        tt_assert_msg_has(REL);
    }
    assert_int_equal(decode("[1, 2]", &info), TSS_ECORRUPT);
    tt_assert_msg_has("not a JSON object");
    assert_int_equal(decode("\"tsstore\"", &info), TSS_ECORRUPT);
    tt_assert_msg_has("not a JSON object");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hand_written_document),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_not_an_object),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
