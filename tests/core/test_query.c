/*
 * Reading a store end to end through the public API (query.c): hostile
 * identifiers, late points merged across segments of one window (the later
 * written wins), filters, and corrupt segments skipped and counted.
 */
#define _GNU_SOURCE
#include "test_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsstore/query.h"
#include "tsstore/store.h"

#include "store_internal.h" /* tss_filter_match */

#define SPAN 3600000 /* ms: windows of one hour */

static tss_store *open_store(const char *dir, unsigned flags, tt_log *log)
{
    tss_store_options o;
    tss_store *s = NULL;
    int rc;

    tss_store_options_init(&o);
    o.span_seconds = SPAN / 1000;
    if (log) {
        o.log = tt_log_fn;
        o.log_ctx = log;
    }
    rc = tss_store_open(&s, dir, flags, &o);
    if (rc != 0)
        fail_msg("open %s: %d %s", dir, rc, tss_error_last());
    return s;
}

static void writer_dir(char *dir, size_t size, void **state)
{
    tt_join(dir, size, *state, "store");
}

static void put(tss_store *s, const tss_series_id *id, int kind, int64_t t,
                uint64_t bits)
{
    tss_value v;

    v.bits = bits;
    assert_int_equal(tss_store_append(s, id, kind, t, v), 0);
}

static void seal_all(tss_store *s)
{
    tss_seal_result res;

    assert_int_equal(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &res),
                     0);
    assert_int_equal(res.pending, 0);
}

/* Query order: fields bytewise (NUL-terminated, so a prefix first), then
 * kind. */
static int series_order(const tt_series *a, const tt_series *b)
{
    for (int i = 0; i < 6; i++) {
        int c = strcmp(a->field[i], b->field[i]);

        if (c)
            return c;
    }
    return a->kind - b->kind;
}

static const tt_series *find(const tt_series *v, size_t n, const char *host,
                             const char *plugin, const char *ds)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].field[0], host) == 0 &&
            strcmp(v[i].field[1], plugin) == 0 &&
            strcmp(v[i].field[5], ds) == 0)
            return &v[i];
    fail_msg("series %s/%s %s not in the result", host, plugin, ds);
    return NULL;
}

/* ---- hostile identifiers ------------------------------------------------ */

static char f127[128], f255[256], f256[257];

static void fill_fields(void)
{
    memset(f127, 'a', 127);
    memset(f255, 'b', 255);
    memset(f256, 'c', 256);
    f255[0] = '.'; /* ".bbb...": still data, not a hidden file */
}

static void test_hostile_identifiers(void **state)
{
    const tss_series_id ids[] = {
        {"..", "..", "..", "..", "..", ".."},
        {"../../etc", "passwd", "", "x", "", "value"},
        {"/", "/", "/", "/", "/", "/"},
        {"a b", "with space", " ", "t t", " ", "v v"},
        {"quote\"s'", "comma,plugin", "semi;colon", "type", "", "ds"},
        {"new\nline", "tab\tplugin", "", "cr\rtype", "", "value"},
        {"h\xc3\xa9llo-\xe6\x97\xa5\xe6\x9c\xac", "\xc3\xbcn\xc3\xaf", "",
         "\xf0\x9f\x93\x88", "", "\xe2\x82\xac"},
        {".tmp-evil", "segments", "STORE", "LOCK", ".seg", "_"},
        {f127, f127, f127, f127, f127, f127},
        {f255, "p", "", "t", "", f255},
        {"h", f255, f255, f255, f255, "v"},
        {"", "", "", "", "", ""},
    };
    enum { NIDS = sizeof(ids) / sizeof(ids[0]) };
    char dir[4096], path[4096];
    tss_store *s;
    tt_series *got;
    uint64_t errors;
    size_t n;
    DIR *d;
    struct dirent *de;

    fill_fields();
    writer_dir(dir, sizeof(dir), state);
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    for (int i = 0; i < 6; i++) { /* a 256-byte field is refused */
        const char *f[6] = {"h", "p", "", "t", "", "v"};
        tss_series_id id;
        tss_value v = {.counter = 1};

        f[i] = f256;
        id = (tss_series_id){f[0], f[1], f[2], f[3], f[4], f[5]};
        assert_int_equal(tss_store_append(s, &id, TSS_KIND_COUNTER, 0, v),
                         TSS_EINVAL);
    }
    /* each id with two kinds, over two windows */
    for (int i = 0; i < NIDS; i++)
        for (int k = 0; k < 20; k++) {
            put(s, &ids[i], 1 + i % 4, 5 * SPAN - 10000 + k * 1000,
                (uint64_t)(i * 100 + k));
            put(s, &ids[i], 1 + (i + 1) % 4, 5 * SPAN + k, (uint64_t)k);
        }
    seal_all(s);

    n = tt_query(s, NULL, &got, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(n, 2 * NIDS);
    for (size_t i = 1; i < n; i++)
        assert_true(series_order(&got[i - 1], &got[i]) < 0);
    for (int i = 0; i < NIDS; i++) {
        const char *f[6] = {
            ids[i].host, ids[i].plugin,        ids[i].plugin_instance,
            ids[i].type, ids[i].type_instance, ids[i].ds};
        int found = 0;

        for (size_t j = 0; j < n; j++) {
            int k;

            for (k = 0; k < 6 && strcmp(got[j].field[k], f[k]) == 0; k++)
                ;
            if (k < 6)
                continue;
            found++;
            assert_int_equal(got[j].n, 20);
            assert_int_equal(got[j].info.count, 20);
            for (int p = 0; p < 20; p++) {
                if (got[j].kind == 1 + i % 4) {
                    assert_int_equal(got[j].pts[p].t,
                                     5 * SPAN - 10000 + p * 1000);
                    assert_int_equal(got[j].pts[p].v.bits, i * 100 + p);
                } else {
                    assert_int_equal(got[j].kind, 1 + (i + 1) % 4);
                    assert_int_equal(got[j].pts[p].t, 5 * SPAN + p);
                    assert_int_equal(got[j].pts[p].v.bits, p);
                }
            }
            assert_int_equal(got[j].info.first, got[j].pts[0].t);
            assert_int_equal(got[j].info.last, got[j].pts[19].t);
        }
        assert_int_equal(found, 2);
    }
    tt_series_free(got, n);
    tss_store_close(s);

    /* identifiers never reach a file name: nothing beside the store, and
     * only the writer's own names inside segments/ */
    assert_int_equal(tt_count_prefix(*state, ""), 3); /* . .. store */
    tt_join(path, sizeof(path), dir, "segments");
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        assert_int_equal(strspn(de->d_name, "0123456789abcdef-_.seg"),
                         strlen(de->d_name));
    closedir(d);
}

/* ---- late points -------------------------------------------------------- */

static void test_late_points_merge(void **state)
{
    const tss_series_id a = {"late", "p", "", "t", "", "value"};
    const tss_series_id b = {"other", "p", "", "t", "", "value"};
    const int64_t w0 = 7 * SPAN;
    char dir[4096];
    tss_store *s;
    tt_series *got;
    uint64_t errors, want[100];
    size_t n;
    tss_query *q;

    writer_dir(dir, sizeof(dir), state);
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    memset(want, 0, sizeof(want));
    for (int k = 0; k < 100; k += 2) { /* even seconds first */
        put(s, &a, TSS_KIND_DERIVE, w0 + k * 1000, 1000 + (uint64_t)k);
        want[k] = 1000 + (uint64_t)k;
    }
    put(s, &b, TSS_KIND_GAUGE, w0 + 5, 5);
    seal_all(s);
    /* late: the odd seconds, and new values for every fourth second */
    for (int k = 99; k >= 0; k--) {
        if (k % 2 == 0 && k % 4 != 0)
            continue;
        put(s, &a, TSS_KIND_DERIVE, w0 + k * 1000, 2000 + (uint64_t)k);
        want[k] = 2000 + (uint64_t)k;
    }
    seal_all(s);
    /* later still: every eighth second once more */
    for (int k = 0; k < 100; k += 8) {
        put(s, &a, TSS_KIND_DERIVE, w0 + k * 1000, 3000 + (uint64_t)k);
        want[k] = 3000 + (uint64_t)k;
    }
    seal_all(s);

    assert_int_equal(tss_query_open(&q, s, NULL), 0);
    assert_int_equal(tss_query_segments(q), 3);
    tss_query_close(q);
    n = tt_query(s, NULL, &got, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(n, 2);
    assert_string_equal(got[0].field[0], "late");
    assert_int_equal(got[0].n, 100);
    assert_int_equal(got[0].info.count, 100);
    for (int k = 0; k < 100; k++) {
        assert_int_equal(got[0].pts[k].t, w0 + k * 1000);
        assert_int_equal(got[0].pts[k].v.bits, want[k]);
    }
    assert_int_equal(got[1].n, 1);
    assert_int_equal(got[1].pts[0].v.bits, 5);
    tt_series_free(got, n);
    tss_store_close(s);
}

/* ---- filters -------------------------------------------------------------
 */

#define T0 (5 * SPAN - 50000) /* points T0 + k * 1000, k < 100: 2 windows */

static void fill_filter_store(tss_store *s)
{
    static const char *const hosts[] = {"web1", "web2", "db1"};

    for (int h = 0; h < 3; h++) {
        const tss_series_id ids[] = {
            {hosts[h], "cpu", "0", "percent", "user", "value"},
            {hosts[h], "cpu", "1", "percent", "user", "value"},
            {hosts[h], "memory", "", "memory", "used", "value"},
            {hosts[h], "interface", "eth0", "if_octets", "", "rx"},
            {hosts[h], "interface", "eth0", "if_octets", "", "tx"},
        };

        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 100; k++)
                put(s, &ids[i], i == 2 ? TSS_KIND_GAUGE : TSS_KIND_DERIVE,
                    T0 + k * 1000, (uint64_t)(h * 10000 + i * 1000 + k));
    }
}

/* Runs `f` and checks the identifiers (host/plugin[-pi]/type[-ti] ds) in
 * order, and that each series has exactly the points of [lo, hi]. */
static void check_filter(tss_store *s, const tss_filter *f,
                         const char *const *want, size_t nwant, int64_t lo,
                         int64_t hi)
{
    tt_series *got;
    uint64_t errors;
    size_t n = tt_query(s, f, &got, &errors);
    int64_t k0 = (lo - T0 + 999) / 1000, k1 = (hi - T0) / 1000;

    if (k0 < 0)
        k0 = 0;
    if (k1 > 99)
        k1 = 99;
    assert_int_equal(errors, 0);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) {
        char ident[256];
        tss_series_id id = {got[i].field[0], got[i].field[1], got[i].field[2],
                            got[i].field[3], got[i].field[4], got[i].field[5]};
        size_t len = tss_series_id_format(ident, sizeof(ident), &id);

        snprintf(ident + len, sizeof(ident) - len, " %s", id.ds);
        assert_string_equal(ident, want[i]);
        assert_int_equal(got[i].n, k1 - k0 + 1);
        assert_int_equal(got[i].info.count, got[i].n);
        assert_int_equal(got[i].info.first, T0 + k0 * 1000);
        assert_int_equal(got[i].info.last, T0 + k1 * 1000);
        for (size_t p = 0; p < got[i].n; p++)
            assert_int_equal(got[i].pts[p].t, T0 + (k0 + (int64_t)p) * 1000);
    }
    tt_series_free(got, n);
}

static void test_filters(void **state)
{
    static const char *const web[] = {
        "web1/cpu-0/percent-user value",    "web1/cpu-1/percent-user value",
        "web1/interface-eth0/if_octets rx", "web1/interface-eth0/if_octets tx",
        "web1/memory/memory-used value",    "web2/cpu-0/percent-user value",
        "web2/cpu-1/percent-user value",    "web2/interface-eth0/if_octets rx",
        "web2/interface-eth0/if_octets tx", "web2/memory/memory-used value",
    };
    static const char *const cpu0[] = {
        "db1/cpu-0/percent-user value",
        "web1/cpu-0/percent-user value",
        "web2/cpu-0/percent-user value",
    };
    static const char *const rx[] = {
        "db1/interface-eth0/if_octets rx",
        "web1/interface-eth0/if_octets rx",
        "web2/interface-eth0/if_octets rx",
    };
    static const char *const one[] = {"db1/memory/memory-used value"};
    const int64_t all_lo = T0, all_hi = T0 + 99000;
    char dir[4096];
    tss_store *s, *r;
    tss_filter f;
    tss_query *q;

    writer_dir(dir, sizeof(dir), state);
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    fill_filter_store(s);
    seal_all(s);
    tss_store_close(s);
    r = open_store(dir, 0, NULL);

    memset(&f, 0, sizeof(f));
    f.series_glob = "web*"; /* '*' also matches '/' */
    check_filter(r, &f, web, 10, all_lo, all_hi);
    f.series_glob = "*/cpu-0/*";
    check_filter(r, &f, cpu0, 3, all_lo, all_hi);
    f.series_glob = "db1/memory/memory-used";
    check_filter(r, &f, one, 1, all_lo, all_hi);
    f.series_glob = "web";
    check_filter(r, &f, NULL, 0, all_lo, all_hi);
    f.series_glob = "*/interface-eth?/if_octets";
    f.ds = "rx";
    check_filter(r, &f, rx, 3, all_lo, all_hi);
    f.series_glob = NULL;
    check_filter(r, &f, rx, 3, all_lo, all_hi);
    f.ds = "value";
    f.series_glob = "db1/m*";
    check_filter(r, &f, one, 1, all_lo, all_hi);
    f.ds = "nothing";
    check_filter(r, &f, NULL, 0, all_lo, all_hi);

    /* time ranges are inclusive at both ends */
    memset(&f, 0, sizeof(f));
    f.series_glob = "*/cpu-0/*";
    f.has_from = f.has_to = 1;
    f.from = T0 + 10000;
    f.to = T0 + 20000;
    check_filter(r, &f, cpu0, 3, f.from, f.to);
    f.from = T0 + 10001;
    f.to = T0 + 19999;
    check_filter(r, &f, cpu0, 3, f.from, f.to);
    f.from = f.to = T0 + 42000;
    check_filter(r, &f, cpu0, 3, f.from, f.to);
    f.from = 5 * SPAN - 1000; /* across the window boundary */
    f.to = 5 * SPAN + 1000;
    check_filter(r, &f, cpu0, 3, f.from, f.to);
    f.from = T0 + 99000; /* the very last point */
    f.to = INT64_MAX;
    check_filter(r, &f, cpu0, 3, T0 + 99000, T0 + 99000);
    f.from = INT64_MIN; /* the very first */
    f.to = T0;
    check_filter(r, &f, cpu0, 3, T0, T0);
    f.from = T0 + 100000; /* after everything */
    f.to = T0 + 200000;
    check_filter(r, &f, NULL, 0, 0, 0);
    f.from = T0 + 1;
    f.to = T0 + 999; /* between two points */
    check_filter(r, &f, NULL, 0, 0, 0);
    f.has_to = 0;
    f.from = T0 + 95500;
    check_filter(r, &f, cpu0, 3, f.from, all_hi);
    f.has_from = 0;
    f.has_to = 1;
    f.to = T0 + 3000;
    check_filter(r, &f, cpu0, 3, all_lo, f.to);

    f.has_from = 1;
    f.from = T0 + 2;
    f.to = T0 + 1;
    assert_int_equal(tss_query_open(&q, r, &f), TSS_EINVAL);
    assert_null(q);
    tss_store_close(r);
}

/* ---- globs read only the table blocks they need -------------------------
 */

/* Identifiers whose text splits into fields in more than one way: '/' in a
 * host or plugin instance, '-' in a plugin or type, empty fields. */
static const tss_series_id AMBIGUOUS[] = {
    {"x/y", "p", "", "t", "", "value"},  /* x/y/p/t */
    {"x", "y-p", "", "t", "", "value"},  /* x/y-p/t */
    {"x", "y", "p", "t", "", "value"},   /* x/y-p/t */
    {"x", "y", "p/t", "u", "", "value"}, /* x/y-p/t/u */
    {"x", "", "q", "t", "", "value"},    /* x/-q/t */
    {"x", "y", "", "t", "a-b", "value"}, /* x/y/t-a-b */
    {"x", "y", "", "t-a", "b", "value"}, /* x/y/t-a-b */
    {"x", "y", "", "t", "a-b", "other"}, /* x/y/t-a-b, another ds */
    {"x-", "y", "", "t", "", "value"},   /* x-/y/t */
    {"x", "y/t", "", "t", "", "value"},  /* x/y/t/t */
    {"h0100", "cpu", "3", "cpu", "idle", "value"},
    {"x/y", "z", "", "t", "", "value"}, /* x/y/z/t */
};
#define NAMB (sizeof(AMBIGUOUS) / sizeof(AMBIGUOUS[0]))
/* Filler series: groups of 200 (a table block holds about 130 of these
 * entries), one between each two ambiguous series in key order, so that
 * those lie in different blocks and a missing prefix misses one. Each
 * group: its fields, with "%s" for the running name. */
static const char *const FILL[][5] = {
    {"h%s", "cpu", "1", "cpu", "idle"}, /* before x */
    {"x", "m%s", "", "t", ""},          /* x/-q/t < here < x/y/t-a-b */
    {"x", "y", "", "t", "c%s"},         /* < x/y/t-a-b (type t-a) */
    {"x", "y", "", "u%s", ""},          /* < x/y-p/t (pinst p) */
    {"x", "y", "p-%s", "t", ""},        /* < x/y-p/t/u (pinst p/t) */
    {"x", "y", "p%s", "t", ""},         /* < x/y-p/t (plugin y-p) */
    {"x", "y-q%s", "", "t", ""},        /* < x/y/t/t (plugin y/t) */
    {"x", "z%s", "", "t", ""},          /* < x-/y/t */
    {"x.%s", "y", "", "t", ""},         /* < x/y/p/t (host x/y) */
    {"x/y", "q%s", "", "t", ""},        /* < x/y/z/t */
};
#define NGROUP 200
#define NFILL (NGROUP * (int)(sizeof(FILL) / sizeof(FILL[0])))

static void filler_id(tss_series_id *id, char buf[5][32], int i)
{
    const char *const *f = FILL[i / NGROUP];
    const char *v[5];
    char name[8];

    snprintf(name, sizeof(name), "%04d", i % NGROUP);
    for (int k = 0; k < 5; k++) {
        const char *pct = strstr(f[k], "%s");

        if (pct)
            snprintf(buf[k], 32, "%.*s%s%s", (int)(pct - f[k]), f[k], name,
                     pct + 2);
        else
            snprintf(buf[k], 32, "%s", f[k]);
        v[k] = buf[k];
    }
    *id = (tss_series_id){v[0], v[1], v[2], v[3], v[4], "value"};
}

/*
 * A query with a series glob opens each segment for the key prefixes the
 * glob's literal text can stand for, and reads only the table blocks that
 * can hold them: the result must be what matching every series against
 * the glob gives, whatever '/' and '-' the fields hold.
 */
static void test_glob_prefixes(void **state)
{
    static const char *const globs[] = {"x/y/p/t",
                                        "x/y/z/t",
                                        "x/y-p/t",
                                        "x/y-p/t/u",
                                        "x/-q/t",
                                        "x/y/t-a-b",
                                        "x-/y/t",
                                        "x/y/t/t",
                                        "x/y-p*",
                                        "x/y*",
                                        "x/*",
                                        "x*",
                                        "x/y/t-a*",
                                        "x/y/t-a-b*",
                                        "h0100/cpu-3/cpu-idle",
                                        "h0100/cpu-3/*",
                                        "h01*",
                                        "h0005/cpu-1/cpu-idle",
                                        "h0299/cpu-9/cpu-idle",
                                        "h0000/cpu-0/cpu-idle",
                                        "h0000/cpu-0/cpu",
                                        "x/y/t",
                                        "nothing",
                                        "h0150/cpu-[0-4]/cpu-idle",
                                        "?/y/t-a-b",
                                        "h0042/cpu-7/cpu-idle-",
                                        "x/y/t-a-b\\"};
    char dir[4096], buf[5][32];
    tss_store *s;

    writer_dir(dir, sizeof(dir), state);
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    for (int i = 0; i < NFILL; i++) {
        tss_series_id id;

        filler_id(&id, buf, i);
        put(s, &id, TSS_KIND_DERIVE, T0, (uint64_t)i);
    }
    for (size_t i = 0; i < NAMB; i++)
        put(s, &AMBIGUOUS[i], TSS_KIND_GAUGE, T0 + 1000, i);
    seal_all(s);
    tss_store_close(s);
    s = open_store(dir, 0, NULL);

    for (size_t g = 0; g < sizeof(globs) / sizeof(globs[0]); g++) {
        tss_filter f = {.series_glob = globs[g]};
        size_t want = 0, n;
        uint64_t errors;
        tt_series *got;

        for (int i = 0; i < NFILL; i++) {
            tss_series_id id;

            filler_id(&id, buf, i);
            want += tss_filter_match(&f, &id);
        }
        for (size_t i = 0; i < NAMB; i++)
            want += tss_filter_match(&f, &AMBIGUOUS[i]);
        n = tt_query(s, &f, &got, &errors);
        assert_int_equal(errors, 0);
        if (n != want)
            fail_msg("glob \"%s\": %zu series, want %zu", globs[g], n, want);
        for (size_t i = 0; i < n; i++) {
            tss_series_id id = {got[i].field[0], got[i].field[1],
                                got[i].field[2], got[i].field[3],
                                got[i].field[4], got[i].field[5]};

            assert_true(tss_filter_match(&f, &id));
            assert_int_equal(got[i].n, 1);
        }
        tt_series_free(got, n);
    }
    tss_store_close(s);
}

/* ---- corrupt segments ----------------------------------------------------
 */

/* The path of the segment whose window starts at `start`. */
static void segment_path(char *out, size_t size, const char *dir, int64_t start)
{
    char segs[4096], prefix[32];
    struct dirent *de;
    DIR *d;

    tt_join(segs, sizeof(segs), dir, "segments");
    snprintf(prefix, sizeof(prefix), "%" PRId64 "_", start);
    d = opendir(segs);
    assert_non_null(d);
    out[0] = '\0';
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            assert_int_equal(out[0], '\0'); /* only one */
            tt_join(out, size, segs, de->d_name);
        }
    closedir(d);
    assert_true(out[0] != '\0');
}

static void test_corrupt_segment_skipped(void **state)
{
    char dir[4096], bad[4096], junk[4096];
    tss_store *s;
    tt_series *got;
    uint64_t errors;
    size_t n;
    tt_log log = {0};

    writer_dir(dir, sizeof(dir), state);
    s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    fill_filter_store(s); /* windows 4 (k < 50) and 5 (k >= 50) */
    seal_all(s);
    tss_store_close(s);
    segment_path(bad, sizeof(bad), dir, 4 * SPAN);
    /* files that are not segments are not read at all */
    tt_join(junk, sizeof(junk), dir, "segments/junk.seg");
    tt_spit(junk, "junk", 4);
    tt_join(junk, sizeof(junk), dir, "segments/.tmp-x.seg-1-1");
    tt_spit(junk, "junk", 4);

    /* a damaged header: the whole segment is skipped, the other read */
    tt_flip(bad, 20, 0x40);
    s = open_store(dir, 0, &log);
    n = tt_query(s, NULL, &got, &errors);
    assert_int_equal(errors, 1);
    assert_int_equal(n, 15);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].n, 50);
        for (int k = 0; k < 50; k++)
            assert_int_equal(got[i].pts[k].t, T0 + (50 + k) * 1000);
    }
    tt_series_free(got, n);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, strrchr(bad, '/') + 1) >= 0);
    tss_store_close(s);
    tt_flip(bad, 20, 0x40);

    /* a damaged chunk (the first series'): only that one loses window 4 */
    tt_flip(bad, 128 + 2, 0x04);
    s = open_store(dir, 0, NULL);
    n = tt_query(s, NULL, &got, &errors);
    assert_int_equal(errors, 1);
    assert_int_equal(n, 15);
    for (size_t i = 0; i < n; i++) {
        size_t skip = i == 0 ? 50 : 0;

        assert_int_equal(got[i].n, 100 - skip);
        for (size_t k = 0; k < got[i].n; k++)
            assert_int_equal(got[i].pts[k].t, T0 + (int64_t)(k + skip) * 1000);
    }
    assert_string_equal(got[0].field[0], "db1");
    assert_string_equal(got[0].field[1], "cpu");
    assert_string_equal(got[0].field[2], "0");
    tt_series_free(got, n);
    tss_store_close(s);

    /* repaired: every series is whole again */
    tt_flip(bad, 128 + 2, 0x04);
    s = open_store(dir, 0, NULL);
    n = tt_query(s, NULL, &got, &errors);
    assert_int_equal(errors, 0);
    assert_int_equal(find(got, n, "web2", "memory", "value")->n, 100);
    tt_series_free(got, n);
    tss_store_close(s);
}

static void test_empty_store(void **state)
{
    char dir[4096];
    tss_store *s;
    tss_query *q;
    tss_series_info info;

    writer_dir(dir, sizeof(dir), state);
    s = open_store(dir, TSS_OPEN_CREATE, NULL); /* no segments/ yet */
    assert_int_equal(tss_query_open(&q, s, NULL), 0);
    assert_int_equal(tss_query_next(q, &info), 0);
    assert_int_equal(tss_query_errors(q), 0);
    assert_int_equal(tss_query_segments(q), 0);
    tss_query_close(q);
    tss_store_close(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hostile_identifiers),
        T(test_late_points_merge),
        T(test_filters),
        T(test_glob_prefixes),
        T(test_corrupt_segment_skipped),
        T(test_empty_store),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
