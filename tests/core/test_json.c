/*
 * Unit tests of core/src/json.c: tss_json_parse builds the tree yajl's
 * own tree parser (yajl_tree_parse) builds, from yajl's parser and an
 * allocation region of its own; nesting deeper than 64, where it must
 * differ, gives its own error; a failed allocation is hardening_alloc's
 * `json` case. Trees hold strings NUL-terminated, as yajl_tree's do, so a
 * "\u0000" inside one ends it in both: same_tree compares what the tree
 * can hold.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "internal.h"
#include "test_util.h"
#include "tsstore/error.h"

/* 1 when a and b are the same tree: types, strings, number texts, flags
 * and the values the flags say are valid, keys in order. */
static int same_tree(yajl_val a, yajl_val b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case yajl_t_string:
        return strcmp(a->u.string, b->u.string) == 0;
    case yajl_t_number:
        if (strcmp(a->u.number.r, b->u.number.r) != 0 ||
            a->u.number.flags != b->u.number.flags)
            return 0;
        if ((a->u.number.flags & YAJL_NUMBER_INT_VALID) &&
            a->u.number.i != b->u.number.i)
            return 0;
        return !(a->u.number.flags & YAJL_NUMBER_DOUBLE_VALID) ||
               memcmp(&a->u.number.d, &b->u.number.d, sizeof(double)) == 0;
    case yajl_t_object:
        if (a->u.object.len != b->u.object.len)
            return 0;
        for (size_t i = 0; i < a->u.object.len; i++)
            if (strcmp(a->u.object.keys[i], b->u.object.keys[i]) != 0 ||
                !same_tree(a->u.object.values[i], b->u.object.values[i]))
                return 0;
        return 1;
    case yajl_t_array:
        if (a->u.array.len != b->u.array.len)
            return 0;
        for (size_t i = 0; i < a->u.array.len; i++)
            if (!same_tree(a->u.array.values[i], b->u.array.values[i]))
                return 0;
        return 1;
    default:
        return 1;
    }
}

/* Parses text both ways: both accept it with the same tree, or both
 * refuse it (ours as TSS_ECORRUPT naming `what`). Returns 1 if accepted. */
static int both_ways(const char *text, size_t len)
{
    char err[256], *copy = malloc(len + 1);
    yajl_val theirs, ours = NULL;
    int rc;

    assert_non_null(copy);
    memcpy(copy, text, len);
    copy[len] = '\0';
    theirs = yajl_tree_parse(copy, err, sizeof(err));
    free(copy);
    rc = tss_json_parse((const uint8_t *)text, len, "doc.json", &ours);
    if (!theirs) {
        if (rc != TSS_ECORRUPT)
            fail_msg("yajl refused <%.*s>, tss_json_parse gave %d", (int)len,
                     text, rc);
        assert_null(ours);
        assert_non_null(strstr(tss_error_last(), "doc.json: not valid JSON"));
        return 0;
    }
    if (rc != 0)
        fail_msg("yajl took <%.*s>, tss_json_parse gave %d: %s", (int)len, text,
                 rc, tss_error_last());
    if (!same_tree(theirs, ours))
        fail_msg("the trees of <%.*s> differ", (int)len, text);
    yajl_tree_free(theirs);
    tss_json_free(ours);
    return 1;
}

static void test_same_as_yajl_tree(void **state)
{
    static const char *docs[] = {
        "{}",
        "[]",
        "  {\"a\": 1, \"b\": [true, false, null], \"c\": {\"d\": \"e\"}}  ",
        "{\"k\": \"esc \\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00\"}",
        "{\"dup\": 1, \"dup\": 2}",
        "[0, -0, 1, -1, 9223372036854775807, -9223372036854775807]",
        "[9223372036854775808, -9223372036854775808, 1e400, -1e400]",
        "[1.5, -2.25e-3, 1E2, 0.1, 123456789012345678901234567890]",
        "[4.9e-324, 2.2250738585072014e-308, 1e-400]",
        "\"top\"",
        "42",
        "null",
        "/* comment */ {\"a\": /* inside */ 1} // end\n",
        "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]",
        /* the document hardening_alloc fails each allocation of */
        "{\"a\": [1, -2.5, \"x\\ty\", true, null, {\"k\": [[], {}]}], "
        "\"b\": {\"c\": \"\\u00e9\", \"d\": 12345678901234567890}, "
        "\"e\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]} // trailing comment",
        "{\"a\": [1, 2, {\"b\": [3, 4, {\"c\": []}]}]}",
        /* refused */
        "",
        "   ",
        "{",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "[1, 2",
        "[01]",
        "{} {}",
        "\"unterminated",
        "{\"bad escape\": \"\\x\"}",
        "[1.]",
        "tru",
        "nul",
    };
    int taken = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        taken += both_ways(docs[i], strlen(docs[i]));
    assert_int_equal(taken, 16);
}

/* Objects and arrays of many members grow their arrays: the same trees. */
static void test_long_containers(void **state)
{
    size_t cap = 1 << 20, n = 0;
    char *doc = malloc(cap);

    (void)state;
    assert_non_null(doc);
    n += (size_t)sprintf(doc + n, "{\"arr\": [");
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(doc + n, "%s%d", i ? ", " : "", i * 7 - 3);
    n += (size_t)sprintf(doc + n, "]");
    for (int i = 0; i < 3000; i++)
        n += (size_t)sprintf(doc + n, ", \"key%d\": \"%0*d\"", i, i % 300, i);
    n += (size_t)sprintf(doc + n, "}");
    assert_true(n < cap);
    assert_int_equal(both_ways(doc, n), 1);
    free(doc);
}

/* A string of every length up to past yajl's 2048-byte buffer, with an
 * escape so that it goes through yajl's decode buffer; and a number as
 * the last token (yajl's lexer buffers it until the end). */
static void test_buffers(void **state)
{
    size_t cap = 300000;
    char *doc = malloc(cap);

    (void)state;
    assert_non_null(doc);
    for (size_t len = 0; len < 70000; len = len * 3 + 1) {
        size_t n = 0;

        n += (size_t)sprintf(doc, "[\"\\n");
        memset(doc + n, 'x', len);
        n += len;
        n += (size_t)sprintf(doc + n, "\"]");
        assert_int_equal(both_ways(doc, n), 1);
        memset(doc, '7', len + 1);
        assert_int_equal(both_ways(doc, len + 1), 1);
    }
    free(doc);
}

/* Parsing stops at a NUL byte, as yajl_tree_parse's C string does. */
static void test_stops_at_nul(void **state)
{
    static const char doc[] = "{\"a\": 1}\0garbage";
    yajl_val v = NULL;
    const char *path[] = {"a", NULL};

    (void)state;
    assert_int_equal(
        tss_json_parse((const uint8_t *)doc, sizeof(doc) - 1, "nul.json", &v),
        0);
    assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(v, path, yajl_t_number)),
                     1);
    tss_json_free(v);
}

/* 64 levels are taken; 65 are refused with their own message, where
 * yajl_tree_parse would take them. */
static void test_depth(void **state)
{
    char doc[300];
    yajl_val v = NULL;

    (void)state;
    for (int depth = 63; depth <= 66; depth++) {
        memset(doc, '[', (size_t)depth);
        memset(doc + depth, ']', (size_t)depth);
        doc[2 * depth] = '\0';
        if (depth <= 64) {
            assert_int_equal(both_ways(doc, strlen(doc)), 1);
            continue;
        }
        assert_int_equal(
            tss_json_parse((const uint8_t *)doc, strlen(doc), "deep.json", &v),
            TSS_ECORRUPT);
        assert_null(v);
        assert_non_null(strstr(tss_error_last(),
                               "deep.json: not valid JSON: nested deeper "
                               "than 64"));
    }
}

/* Integers as yajl_tree has them: INT_VALID up to LLONG_MAX in magnitude
 * (so not -2^63), DOUBLE_VALID when strtod takes the text. */
static void test_numbers(void **state)
{
    static const struct {
        const char *text;
        unsigned flags;
        long long i;
    } cases[] = {
        {"9223372036854775807", 3, LLONG_MAX},
        {"-9223372036854775807", 3, -LLONG_MAX},
        {"-9223372036854775808", 2, 0},
        {"18446744073709551615", 2, 0},
        {"1e3", 2, 0},
        {"1e999", 0, 0},
        {"-0", 3, 0},
    };
    (void)state;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        yajl_val v = NULL;

        assert_int_equal(tss_json_parse((const uint8_t *)cases[k].text,
                                        strlen(cases[k].text), "n", &v),
                         0);
        assert_true(YAJL_IS_NUMBER(v));
        assert_int_equal(v->u.number.flags, cases[k].flags);
        if (cases[k].flags & YAJL_NUMBER_INT_VALID)
            assert_true(YAJL_GET_INTEGER(v) == cases[k].i);
        tss_json_free(v);
        both_ways(cases[k].text, strlen(cases[k].text));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_yajl_tree),
        cmocka_unit_test(test_long_containers),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_stops_at_nul),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_numbers),
    };

    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    /* every allocation of yajl in every parse above fitted its region */
    if (tss_json_past_region() != 0) {
        fprintf(stderr, "yajl went past its region %lu times\n",
                tss_json_past_region());
        failed++;
    }
    return failed;
}
