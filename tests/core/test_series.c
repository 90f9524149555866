/*
 * Series keys (series.c): the canonical byte form, its validation, its
 * order, and the collectd identifier format.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "series.h"

static void test_key_layout(void **state)
{
    static const uint8_t want[] = "h\0p\0pi\0t\0ti\0ds\0\x02";
    tss_series_id id = {"h", "p", "pi", "t", "ti", "ds"};
    uint8_t key[TSS_KEY_MAX];
    size_t len;
    tss_key_view kv;

    assert_int_equal(tss_key_encode(key, &len, &id, TSS_KIND_DERIVE), 0);
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(key, want, len);
    assert_int_equal(tss_key_decode(key, len, &kv), 0);
    assert_string_equal(kv.id.host, "h");
    assert_string_equal(kv.id.plugin, "p");
    assert_string_equal(kv.id.plugin_instance, "pi");
    assert_string_equal(kv.id.type, "t");
    assert_string_equal(kv.id.type_instance, "ti");
    assert_string_equal(kv.id.ds, "ds");
    assert_int_equal(kv.kind, TSS_KIND_DERIVE);

    /* absent instances are empty fields */
    id.plugin_instance = NULL;
    id.type_instance = NULL;
    assert_int_equal(tss_key_encode(key, &len, &id, TSS_KIND_GAUGE), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(key, "h\0p\0\0t\0\0ds\0\x01", 12);
}

static void test_key_field_limits(void **state)
{
    static const char *const names[6] = {
        "host", "plugin", "plugin_instance", "type", "type_instance", "ds"};
    char max[TSS_FIELD_MAX + 1], over[TSS_FIELD_MAX + 2];
    uint8_t key[TSS_KEY_MAX];
    size_t len;

    memset(max, 'm', TSS_FIELD_MAX);
    max[TSS_FIELD_MAX] = '\0';
    memset(over, 'o', TSS_FIELD_MAX + 1);
    over[TSS_FIELD_MAX + 1] = '\0';
    for (int i = 0; i < 6; i++) {
        const char *f[6] = {"h", "p", "", "t", "", "v"};
        char what[64];
        tss_series_id id;
        tss_key_view kv;

        f[i] = max;
        id = (tss_series_id){f[0], f[1], f[2], f[3], f[4], f[5]};
        assert_int_equal(tss_key_encode(key, &len, &id, TSS_KIND_COUNTER), 0);
        assert_int_equal(tss_key_decode(key, len, &kv), 0);
        {
            const char *got[6] = {
                kv.id.host, kv.id.plugin,        kv.id.plugin_instance,
                kv.id.type, kv.id.type_instance, kv.id.ds};

            assert_string_equal(got[i], max);
        }

        f[i] = over;
        id = (tss_series_id){f[0], f[1], f[2], f[3], f[4], f[5]};
        assert_int_equal(tss_key_encode(key, &len, &id, TSS_KIND_COUNTER),
                         TSS_EINVAL);
        snprintf(what, sizeof(what), "series %s is 256 bytes", names[i]);
        tt_assert_msg_has(what);

        /* required fields may not be NULL; the instances may */
        f[i] = NULL;
        id = (tss_series_id){f[0], f[1], f[2], f[3], f[4], f[5]};
        if (i == 2 || i == 4) {
            assert_int_equal(tss_key_encode(key, &len, &id, 1), 0);
        } else {
            assert_int_equal(tss_key_encode(key, &len, &id, 1), TSS_EINVAL);
            snprintf(what, sizeof(what), "series %s is missing", names[i]);
            tt_assert_msg_has(what);
        }
    }
    {
        tss_series_id id = {"h", "p", "", "t", "", "v"};

        assert_int_equal(tss_key_encode(key, &len, &id, 0), TSS_EINVAL);
        assert_int_equal(tss_key_encode(key, &len, &id, 5), TSS_EINVAL);
        assert_int_equal(tss_key_encode(key, &len, &id, -1), TSS_EINVAL);
    }
}

static void test_key_decode_rejects(void **state)
{
    tss_series_id id = {"host", "plugin", "pi", "type", "ti", "value"};
    uint8_t key[TSS_KEY_MAX + 8], bad[TSS_KEY_MAX + 8];
    size_t len;
    tss_key_view kv;

    assert_int_equal(tss_key_encode(key, &len, &id, TSS_KIND_ABSOLUTE), 0);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(tss_key_decode(key, cut, &kv), TSS_ECORRUPT);
    memcpy(bad, key, len);
    bad[len] = 0; /* a trailing byte */
    assert_int_equal(tss_key_decode(bad, len + 1, &kv), TSS_ECORRUPT);
    bad[len - 1] = 0; /* kind 0 */
    assert_int_equal(tss_key_decode(bad, len, &kv), TSS_ECORRUPT);
    bad[len - 1] = 5;
    assert_int_equal(tss_key_decode(bad, len, &kv), TSS_ECORRUPT);
    /* a field of 256 bytes without its NUL */
    memset(bad, 'x', sizeof(bad));
    bad[TSS_FIELD_MAX + 1] = 0;
    assert_int_equal(tss_key_decode(bad, sizeof(bad), &kv), TSS_ECORRUPT);
}

/* memcmp of keys orders by host, plugin, ..., ds, then kind; a field that
 * is a prefix of another sorts first. */
static void test_key_order(void **state)
{
    static const tss_series_id ids[] = {
        {"a", "z", "z", "z", "z", "z"},  {"a b", "a", "", "a", "", "a"},
        {"ab", "a", "", "a", "", "a"},   {"b", "a", "", "a", "", "a"},
        {"b", "a", "", "a", "", "b"},    {"b", "a", "", "b", "", "a"},
        {"b", "a", "x", "a", "", "a"},   {"b", "ab", "", "a", "", "a"},
        {"z", "a", "", "a", "", "a"},    {"\xc3\xa9", "a", "", "a", "", "a"},
        {"\xff", "a", "", "a", "", "a"},
    };
    uint8_t prev[TSS_KEY_MAX], key[TSS_KEY_MAX];
    size_t plen = 0, len;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (int kind = TSS_KIND_GAUGE; kind <= TSS_KIND_ABSOLUTE; kind++) {
            assert_int_equal(tss_key_encode(key, &len, &ids[i], kind), 0);
            if (plen) {
                assert_true(tss_key_cmp(prev, plen, key, len) < 0);
                assert_true(tss_key_cmp(key, len, prev, plen) > 0);
            }
            assert_int_equal(tss_key_cmp(key, len, key, len), 0);
            assert_true(tss_key_hash(key, len) == tss_key_hash(key, len));
            memcpy(prev, key, len);
            plen = len;
        }
    }
    assert_true(
        tss_key_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"abc", 3) < 0);
    assert_true(
        tss_key_cmp((const uint8_t *)"abc", 3, (const uint8_t *)"ab", 2) > 0);
}

static void test_identifier_format(void **state)
{
    tss_series_id full = {"h", "p", "pi", "t", "ti", "ds"};
    tss_series_id bare = {"h", "p", "", "t", NULL, "ds"};
    char buf[64];

    assert_int_equal(tss_series_id_format(buf, sizeof(buf), &full), 11);
    assert_string_equal(buf, "h/p-pi/t-ti");
    assert_int_equal(tss_series_id_format(buf, sizeof(buf), &bare), 5);
    assert_string_equal(buf, "h/p/t");
    /* truncated like snprintf: the needed length, NUL-terminated */
    assert_int_equal(tss_series_id_format(buf, 5, &full), 11);
    assert_string_equal(buf, "h/p-");

    assert_string_equal(tss_kind_name(TSS_KIND_GAUGE), "gauge");
    assert_string_equal(tss_kind_name(TSS_KIND_DERIVE), "derive");
    assert_string_equal(tss_kind_name(TSS_KIND_COUNTER), "counter");
    assert_string_equal(tss_kind_name(TSS_KIND_ABSOLUTE), "absolute");
    assert_null(tss_kind_name(0));
    assert_null(tss_kind_name(5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_layout),
        cmocka_unit_test(test_key_field_limits),
        cmocka_unit_test(test_key_decode_rejects),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_identifier_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
