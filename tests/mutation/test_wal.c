/*
 * The delete WAL (wal.c, mutate.c): mutation documents round-trip through
 * tss_mut_encode/decode, every field is validated (missing or mistyped:
 * TSS_ECORRUPT naming the field), and a delete walks intent → applying →
 * visible → compacted → removed through tss_store_apply_mutations, checked
 * on disk at each state (stopped there by failing one I/O call), the head
 * filtered only once the document is visible. Also tss_mutation_state, the
 * counts of tss_delete_plan, and readers counting a document they could not
 * read among their skipped files.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "tsstore/coverage.h"

#include "segment.h"
#include "wal.h"

/* ---- round trip -------------------------------------------------------- */

static void assert_same_doc(const tss_mut *a, const tss_mut *b)
{
    assert_string_equal(a->id, b->id);
    assert_memory_equal(a->uuid, b->uuid, 16);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->created, b->created);
    assert_int_equal(a->updated, b->updated);
    if (a->series)
        assert_string_equal(a->series, b->series);
    else
        assert_null(b->series);
    if (a->ds)
        assert_string_equal(a->ds, b->ds);
    else
        assert_null(b->ds);
    assert_int_equal(a->has_from, b->has_from);
    if (a->has_from)
        assert_true(a->from == b->from);
    assert_true(a->to == b->to);
    assert_int_equal(a->head_filtered, b->head_filtered);
    assert_int_equal(a->ntargets, b->ntargets);
    for (size_t i = 0; i < a->ntargets; i++) {
        assert_string_equal(a->targets[i].segment, b->targets[i].segment);
        assert_int_equal(a->targets[i].tombstoned, b->targets[i].tombstoned);
    }
    assert_true(a->points == b->points);
    if (a->error)
        assert_string_equal(a->error, b->error);
    else
        assert_null(b->error);
}

static void roundtrip(const tss_mut *m)
{
    uint8_t *buf, *again;
    size_t len, len2;
    tss_mut d;

    assert_int_equal(tss_mut_encode(m, &buf, &len), 0);
    assert_int_equal(tss_mut_decode(buf, len, "wal/mutations/x.json", &d), 0);
    assert_same_doc(m, &d);
    /* encoding is a function of the fields: the etag of a rewrite of an
     * unchanged document is the same */
    assert_int_equal(tss_mut_encode(&d, &again, &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, again, len);
    tss_free(again);
    tss_free(buf);
    tss_mut_free(&d);
}

static void test_roundtrip(void **state)
{
    static char seg_a[] =
        "1699999980000_1700000040000_7_0b0e6f0c-4a43-4d5e-9a4c-5d8a3c7e9f10"
        ".seg";
    static char seg_b[] =
        "1700000040000_1700000100000_9_a1b2c3d4-0000-4000-8000-00000000000f"
        ".seg";
    tss_mut_target targets[2] = {{seg_a, true}, {seg_b, false}};
    static char series[] = "h\"1\\/*", ds[] = "rx",
                err[] = "disk full: \xc3\xa9";
    tss_mut m;

    (void)state;
    memset(&m, 0, sizeof(m));
    strcpy(m.id, "e72913ce-e11c-4fc8-9ba1-cb442d442eec");
    assert_int_equal(uuid_parse(m.id, m.uuid), 0);
    m.kind = TSS_MUT_DELETE;
    m.created = 1795277357;
    m.updated = 1795277400;
    m.series = series;
    m.ds = ds;
    m.has_from = true;
    m.from = -TSS_TIME_LIMIT;
    m.to = TSS_TIME_LIMIT;
    m.head_filtered = true;
    m.targets = targets;
    m.ntargets = 2;
    m.points = UINT64_C(1) << 40;
    m.error = err;
    for (int st = TSS_MS_INTENT; st <= TSS_MS_COMPACTED; st++) {
        m.state = st;
        roundtrip(&m);
    }
    /* the nullable fields as null, no targets */
    m.ds = NULL;
    m.has_from = false;
    m.error = NULL;
    m.head_filtered = false;
    m.ntargets = 0;
    m.targets = NULL;
    m.points = 0;
    m.to = 0;
    roundtrip(&m);
    /* a compaction request: no predicate */
    m.kind = TSS_MUT_COMPACT;
    m.series = NULL;
    m.to = 1795277357012;
    roundtrip(&m);
}

/* ---- validation ------------------------------------------------------- */

typedef struct kv {
    const char *key, *val;
} kv;

#define DOC_ID "e72913ce-e11c-4fc8-9ba1-cb442d442eec"
#define SEG_NAME                                                               \
    "1795276800000_1795284000000_7_0b0e6f0c-4a43-4d5e-9a4c-5d8a3c7e9f10.seg"

static const kv TOP[] = {
    {"schema_version", "1"},
    {"id", "\"" DOC_ID "\""},
    {"kind", "\"delete\""},
    {"state", "\"applying\""},
    {"created", "1795277357"},
    {"updated", "1795277358"},
    {"predicate", NULL}, /* PRED */
    {"head", "\"pending\""},
    {"targets", "[{\"segment\": \"" SEG_NAME "\", \"state\": \"tombstoned\"}, "
                "{\"segment\": \"b.seg\", \"state\": \"pending\"}]"},
    {"points", "720"},
    {"error", "null"},
};

static const kv PRED[] = {
    {"series", "\"myhost/cpu-0/*\""},
    {"ds", "null"},
    {"from", "null"},
    {"to", "1795277357012"},
};

static void append(char *out, size_t size, const char *s)
{
    size_t used = strlen(out);

    assert_true(used + strlen(s) < size);
    strcat(out + used, s);
}

static void members(char *out, size_t size, const kv *v, size_t n,
                    const char *key, const char *val)
{
    bool first = true;

    append(out, size, "{");
    for (size_t i = 0; i < n; i++) {
        const char *x = v[i].val;

        if (key && strcmp(key, v[i].key) == 0) {
            if (!val)
                continue; /* omitted */
            x = val;
        }
        if (!first)
            append(out, size, ", ");
        first = false;
        append(out, size, "\"");
        append(out, size, v[i].key);
        append(out, size, "\": ");
        if (x)
            append(out, size, x);
        else
            members(out, size, PRED, sizeof(PRED) / sizeof(PRED[0]), key, val);
    }
    append(out, size, "}");
}

/* The reference document with member `key` replaced by `val` (NULL:
 * without the member; key NULL: unchanged). */
static void make_doc(char *out, size_t size, const char *key, const char *val)
{
    out[0] = '\0';
    members(out, size, TOP, sizeof(TOP) / sizeof(TOP[0]), key, val);
}

static int decode_text(const char *text, tss_mut *m)
{
    return tss_mut_decode((const uint8_t *)text, strlen(text),
                          "wal/mutations/" DOC_ID ".json", m);
}

static void test_decode_reference(void **state)
{
    char doc[2048];
    tss_mut m;

    (void)state;
    make_doc(doc, sizeof(doc), NULL, NULL);
    assert_int_equal(decode_text(doc, &m), 0);
    assert_string_equal(m.id, DOC_ID);
    assert_int_equal(m.uuid[0], 0xe7);
    assert_int_equal(m.uuid[15], 0xec);
    assert_int_equal(m.kind, TSS_MUT_DELETE);
    assert_int_equal(m.state, TSS_MS_APPLYING);
    assert_int_equal(m.created, 1795277357);
    assert_int_equal(m.updated, 1795277358);
    assert_string_equal(m.series, "myhost/cpu-0/*");
    assert_null(m.ds);
    assert_false(m.has_from);
    assert_true(m.to == INT64_C(1795277357012));
    assert_false(m.head_filtered);
    assert_int_equal(m.ntargets, 2);
    assert_string_equal(m.targets[0].segment, SEG_NAME);
    assert_true(m.targets[0].tombstoned);
    assert_string_equal(m.targets[1].segment, "b.seg");
    assert_false(m.targets[1].tombstoned);
    assert_true(m.points == 720);
    assert_null(m.error);
    tss_mut_free(&m);

    /* the nullable members with values */
    make_doc(doc, sizeof(doc), "from", "-5");
    assert_int_equal(decode_text(doc, &m), 0);
    assert_true(m.has_from);
    assert_true(m.from == -5);
    tss_mut_free(&m);
    make_doc(doc, sizeof(doc), "ds", "\"rx\"");
    assert_int_equal(decode_text(doc, &m), 0);
    assert_string_equal(m.ds, "rx");
    tss_mut_free(&m);
    make_doc(doc, sizeof(doc), "error", "\"disk full\"");
    assert_int_equal(decode_text(doc, &m), 0);
    assert_string_equal(m.error, "disk full");
    tss_mut_free(&m);
    make_doc(doc, sizeof(doc), "state", "\"compacted\"");
    assert_int_equal(decode_text(doc, &m), 0);
    assert_int_equal(m.state, TSS_MS_COMPACTED);
    tss_mut_free(&m);
    make_doc(doc, sizeof(doc), "kind", "\"compact\"");
    assert_int_equal(decode_text(doc, &m), 0);
    assert_int_equal(m.kind, TSS_MUT_COMPACT);
    tss_mut_free(&m);
}

/* Each case: the member, its replacement (NULL: removed), and the text
 * the error must contain. */
static const struct bad_case {
    const char *key, *val, *needle;
} BAD[] = {
    {"schema_version", NULL, "\"schema_version\""},
    {"schema_version", "\"1\"", "\"schema_version\""},
    {"schema_version", "1.0", "\"schema_version\""},
    {"schema_version", "2", "schema_version 2 is not supported"},
    {"schema_version", "0", "schema_version 0 is not supported"},
    {"id", NULL, "\"id\""},
    {"id", "42", "\"id\""},
    {"id", "\"not-a-uuid\"", "\"id\""},
    {"id", "\"" DOC_ID "0\"", "\"id\""},
    {"kind", NULL, "\"kind\""},
    {"kind", "1", "\"kind\""},
    {"kind", "\"erase\"", "\"kind\""},
    {"state", NULL, "\"state\""},
    {"state", "3", "\"state\""},
    {"state", "\"done\"", "\"state\""},
    {"created", NULL, "\"created\""},
    {"created", "\"1795277357\"", "\"created\""},
    {"created", "1.5", "\"created\""},
    {"updated", NULL, "\"updated\""},
    {"updated", "null", "\"updated\""},
    {"predicate", NULL, "\"predicate\""},
    {"predicate", "[]", "\"predicate\""},
    {"predicate", "\"h1/*\"", "\"predicate\""},
    {"series", NULL, "\"series\""},
    {"series", "5", "\"series\""},
    {"series", "[\"a\"]", "\"series\""},
    {"ds", NULL, "\"ds\""},
    {"ds", "true", "\"ds\""},
    {"from", NULL, "\"from\""},
    {"from", "\"0\"", "\"from\""},
    {"from", "1795277357013", "\"from\""}, /* after "to" */
    {"to", NULL, "\"to\""},
    {"to", "null", "\"to\""},
    {"to", "\"1795277357012\"", "\"to\""},
    {"head", NULL, "\"head\""},
    {"head", "true", "\"head\""},
    {"head", "\"done\"", "\"head\""},
    {"targets", NULL, "\"targets\""},
    {"targets", "{}", "\"targets\""},
    {"targets", "[1]", "\"targets\""},
    {"targets", "[{\"segment\": 1, \"state\": \"pending\"}]", "\"targets\""},
    {"targets", "[{\"segment\": \"a.seg\"}]", "\"targets\""},
    {"targets", "[{\"state\": \"pending\"}]", "\"targets\""},
    {"targets", "[{\"segment\": \"../a.seg\", \"state\": \"pending\"}]",
     "\"targets\""},
    {"targets", "[{\"segment\": \"a.seg\", \"state\": \"done\"}]",
     "\"targets\""},
    {"targets", "[{\"segment\": \"a.seg\", \"state\": 1}]", "\"targets\""},
    {"points", NULL, "\"points\""},
    {"points", "\"720\"", "\"points\""},
    {"points", "-1", "\"points\""},
    {"error", NULL, "\"error\""},
    {"error", "5", "\"error\""},
};

static void test_decode_rejects_each_field(void **state)
{
    char doc[2048];
    tss_mut m;

    (void)state;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        int rc;

        make_doc(doc, sizeof(doc), BAD[i].key, BAD[i].val);
        rc = decode_text(doc, &m);
        if (rc != TSS_ECORRUPT)
            fail_msg("%s = %s: got %d, want TSS_ECORRUPT: %s", BAD[i].key,
                     BAD[i].val ? BAD[i].val : "(missing)", rc, doc);
        if (!strstr(tss_error_last(), BAD[i].needle) ||
            !strstr(tss_error_last(), DOC_ID ".json"))
            fail_msg("%s = %s: message \"%s\" lacks \"%s\" or the file",
                     BAD[i].key, BAD[i].val ? BAD[i].val : "(missing)",
                     tss_error_last(), BAD[i].needle);
        /* nothing leaks, nothing half-filled */
        assert_null(m.series);
        assert_null(m.targets);
    }
}

static void test_decode_rejects_structure(void **state)
{
    static const char *const texts[] = {
        "", "{", "[]", "\"doc\"", "42", "null", "{\"schema_version\": 1,",
    };
    char doc[2048];
    tss_mut m;

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(decode_text(texts[i], &m), TSS_ECORRUPT);
        tt_assert_msg_has(DOC_ID ".json");
    }
    /* cut anywhere: never accepted as something else */
    make_doc(doc, sizeof(doc), NULL, NULL);
    for (size_t cut = 0; cut < strlen(doc) - 1; cut++) {
        int rc = tss_mut_decode((const uint8_t *)doc, cut, "x.json", &m);

        if (rc != TSS_ECORRUPT)
            fail_msg("document cut at %zu of %zu: got %d", cut, strlen(doc),
                     rc);
    }
}

/* ---- the state machine ------------------------------------------------ */

/* The document as it is on disk now. */
static void read_doc(const char *dir, const char *id, tss_mut *m)
{
    tss_storage *st;

    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    if (tss_mut_read(st, id, m) != 0)
        fail_msg("read %s: %s", id, tss_error_last());
    tss_storage_close(st);
}

/* Segment file names of window start `w`, sorted. */
static size_t window_segments(const char *dir, int64_t w, char names[][160],
                              size_t max)
{
    char path[4096], list[8192], *save = NULL;
    size_t n = 0;

    tt_join(path, sizeof(path), dir, "segments");
    tt_list(path, "", list, sizeof(list));
    for (char *p = strtok_r(list, ",", &save); p;
         p = strtok_r(NULL, ",", &save)) {
        tss_seg_name sn;

        if (tss_seg_name_parse(p, &sn) != 0 || sn.start != w)
            continue;
        assert_true(n < max);
        snprintf(names[n++], 160, "%s", p);
    }
    tss_error_clear();
    return n;
}

typedef struct plan_rec {
    char series[64], where[192];
    uint64_t points;
} plan_rec;

typedef struct plan_log {
    plan_rec r[32];
    size_t n;
} plan_log;

static void on_plan(void *ctx, const tss_series_id *id, int kind,
                    const char *where, uint64_t points)
{
    plan_log *l = ctx;

    assert_true(l->n < 32);
    assert_int_equal(kind, TSS_KIND_GAUGE);
    tss_series_id_format(l->r[l->n].series, sizeof(l->r[0].series), id);
    snprintf(l->r[l->n].where, sizeof(l->r[0].where), "%s", where);
    l->r[l->n].points = points;
    l->n++;
}

/* Points of series `k` among arrivals [a0, a1) of the model with t in
 * [from, to] and in [lo, hi): what one segment file (or the head) holds of
 * a delete's range. */
static uint64_t arrivals_in(const tt_model *m, size_t a0, size_t a1, unsigned k,
                            int64_t lo, int64_t hi, int64_t from, int64_t to)
{
    uint64_t c = 0;

    for (size_t i = a0; i < a1; i++)
        c += m->p[i].series == k && m->p[i].t >= lo && m->p[i].t < hi &&
             m->p[i].t >= from && m->p[i].t <= to;
    return c;
}

static const plan_rec *find_rec(const plan_log *l, const char *series,
                                const char *where)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->r[i].series, series) == 0 && strstr(l->r[i].where, where))
            return &l->r[i];
    return NULL;
}

static void test_state_machine(void **state)
{
    const int64_t from = MU_WIN(1) + 30000, to = MU_WIN(3) + 12000;
    const mu_del del = {1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1, from, to};
    static const char *const h1[] = {"h1/cpu-0/gauge", "h1/cpu-1/gauge"};
    char dir[4096], doc_path[4096], wins[3][4][160], id[37];
    tss_store_options o;
    tss_delete_spec spec = mu_spec("h1/*", NULL, from, to);
    tss_apply_result res;
    tss_plan_totals tot;
    plan_log plan = {0};
    tt_model m = {0};
    tt_fault f;
    tss_store *s;
    tss_mut d;
    uint8_t *before, *after;
    size_t nbefore, nafter;
    uint64_t deleted, want_points = 0, want_head = 0;
    size_t n1, n2;

    tt_join(dir, sizeof(dir), *state, "store");
    tt_fault_arm(&f, 0, 0, false);
    mu_options(&o, tt_fault_ops(&f), 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    /* windows 0-2 sealed (window 1 in two segments), 3 in the head */
    mu_fill(s, &m, MU_WIN(0), MU_WIN(2), 0);
    assert_int_equal(tss_store_seal(s, MU_WIN(9), TSS_SEAL_ALL, NULL), 0);
    n1 = m.n;
    mu_fill(s, &m, MU_WIN(1) + 40000, MU_WIN(3), 1); /* rewrites, late */
    assert_int_equal(tss_store_seal(s, MU_WIN(9), TSS_SEAL_ALL, NULL), 0);
    n2 = m.n;
    mu_fill(s, &m, MU_WIN(3), MU_WIN(3) + 30000, 0);
    assert_int_equal(tss_store_snapshot(s, MU_WIN(9), TSS_SNAP_SYNC), 0);
    assert_int_equal(window_segments(dir, MU_WIN(0), wins[0], 4), 1);
    assert_int_equal(window_segments(dir, MU_WIN(1), wins[1], 4), 2);
    assert_int_equal(window_segments(dir, MU_WIN(2), wins[2], 4), 1);
    deleted = mu_deleted_count(&m, m.n, &del, 1);
    assert_true(deleted > 0);

    /* the dry run, counted independently from the model: per series, what
     * each file (and the head) holds of the range */
    assert_int_equal(tss_delete_plan(s, &spec, on_plan, &plan, &tot), 0);
    for (unsigned k = MU_H1_CPU0; k <= MU_H1_CPU1; k++) {
        const char *name = h1[k - MU_H1_CPU0];
        const struct {
            const char *where;
            uint64_t points;
        } want[4] = {
            {wins[1][0],
             arrivals_in(&m, 0, n1, k, MU_WIN(1), MU_WIN(2), from, to)},
            {wins[1][1],
             arrivals_in(&m, n1, n2, k, MU_WIN(1), MU_WIN(2), from, to)},
            {wins[2][0],
             arrivals_in(&m, n1, n2, k, MU_WIN(2), MU_WIN(3), from, to)},
            {"head",
             arrivals_in(&m, n2, m.n, k, MU_WIN(3), MU_WIN(4), from, to)},
        };

        for (size_t i = 0; i < 4; i++) {
            const plan_rec *r = find_rec(&plan, name, want[i].where);

            if (!r)
                fail_msg("plan: no line for %s in %s", name, want[i].where);
            assert_true(want[i].points > 0);
            assert_true(r->points == want[i].points);
            want_points += want[i].points;
        }
        want_head += want[3].points;
    }
    assert_int_equal(plan.n, 2 * 4); /* nothing of window 0, nor of h0 */
    assert_true(tot.series == 2);
    assert_true(tot.segments == 3);
    assert_true(tot.head_points == want_head);
    assert_true(tot.points == want_points);
    mu_assert_store("plan changed nothing", s, &m, m.n, NULL, 0);

    /* intent */
    mu_delete_create(s, &spec, id);
    tt_join(doc_path, sizeof(doc_path), dir, "wal/mutations/");
    assert_true(strlen(doc_path) + 42 < sizeof(doc_path));
    strcat(doc_path, id);
    strcat(doc_path, ".json");
    assert_true(tt_exists(doc_path));
    read_doc(dir, id, &d);
    assert_int_equal(d.kind, TSS_MUT_DELETE);
    assert_int_equal(d.state, TSS_MS_INTENT);
    assert_string_equal(d.series, "h1/*");
    assert_null(d.ds);
    assert_true(d.has_from && d.from == from && d.to == to);
    assert_int_equal(d.ntargets, 0);
    assert_false(d.head_filtered);
    tss_mut_free(&d);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_INTENT);
    mu_assert_reader("intent", dir, &m, m.n, NULL, 0);

    /* applying, one target tombstoned: stopped at the second tombstone */
    tt_fault_arm_match(&f, "linkat", ".tombstones", 2, EIO);
    assert_int_not_equal(tss_store_apply_mutations(s, MU_WIN(9), &res), 0);
    assert_int_equal(res.pending, 1);
    assert_int_equal(res.made_visible, 0);
    read_doc(dir, id, &d);
    assert_int_equal(d.state, TSS_MS_APPLYING);
    assert_int_equal(d.ntargets, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(d.targets[i].segment,
                            i < 2 ? wins[1][i] : wins[2][0]);
        assert_int_equal(d.targets[i].tombstoned, i == 0);
    }
    assert_false(d.head_filtered);
    tss_mut_free(&d);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 1);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_APPLYING);
    /* no half delete: a tombstone of an applying delete hides nothing */
    mu_assert_reader("applying", dir, &m, m.n, NULL, 0);
    mu_assert_store("applying, writer", s, &m, m.n, NULL, 0);

    /* visible, the head not filtered yet: stopped at the snapshot base.
     * The snapshot on disk still holds the head's points; the predicate
     * hides them, with the segments' */
    tt_fault_arm_match(&f, "linkat", "base-", 1, EIO);
    assert_int_not_equal(tss_store_apply_mutations(s, MU_WIN(9), &res), 0);
    assert_int_equal(res.made_visible, 1);
    assert_int_equal(res.pending, 1);
    read_doc(dir, id, &d);
    assert_int_equal(d.state, TSS_MS_VISIBLE);
    assert_false(d.head_filtered);
    for (size_t i = 0; i < 3; i++)
        assert_true(d.targets[i].tombstoned);
    tss_mut_free(&d);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    mu_assert_reader("visible, head pending", dir, &m, m.n, &del, 1);
    mu_assert_store("visible, head pending, writer", s, &m, m.n, &del, 1);

    /* visible, the head filtered */
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_store_apply_mutations(s, MU_WIN(9), &res), 0);
    assert_int_equal(res.made_visible, 0);
    assert_int_equal(res.pending, 0);
    assert_int_equal(res.removed_docs, 0);
    read_doc(dir, id, &d);
    assert_int_equal(d.state, TSS_MS_VISIBLE);
    assert_true(d.head_filtered);
    assert_int_equal(d.ntargets, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(d.targets[i].tombstoned);
    /* the segments' points; the head's when its filter was counted (the
     * failed attempt above dropped them, uncounted) */
    assert_true(d.points >= tot.points - tot.head_points &&
                d.points <= tot.points);
    tss_mut_free(&d);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 3);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    mu_assert_reader("visible", dir, &m, m.n, &del, 1);
    mu_assert_store("visible, writer", s, &m, m.n, &del, 1);
    mu_assert_verify_clean("visible", s);

    /* without compaction it stays visible; applying again changes nothing */
    assert_int_equal(tt_slurp(doc_path, &before, &nbefore), 0);
    assert_int_equal(tss_store_apply_mutations(s, MU_WIN(9), &res), 0);
    assert_int_equal(res.made_visible + res.compacted + res.removed_docs, 0);
    assert_int_equal(tt_slurp(doc_path, &after, &nafter), 0);
    assert_int_equal(nbefore, nafter);
    assert_memory_equal(before, after, nafter);
    free(before);
    free(after);

    /* compaction rewrites the targets; the document says so next round,
     * stopped before it is removed */
    assert_int_equal(tss_store_compact(s, MU_WIN(9), 0, &res), 0);
    assert_int_equal(res.compacted, 2);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    tt_fault_arm_match(&f, "unlinkat", id, 1, EIO);
    assert_int_not_equal(tss_store_apply_mutations(s, MU_WIN(9), &res), 0);
    assert_int_equal(res.removed_docs, 0);
    read_doc(dir, id, &d);
    assert_int_equal(d.state, TSS_MS_COMPACTED);
    tss_mut_free(&d);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_COMPACTED);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    mu_assert_reader("compacted", dir, &m, m.n, &del, 1);

    /* removed */
    tt_fault_arm(&f, 0, 0, false);
    assert_int_equal(tss_store_apply_mutations(s, MU_WIN(9), &res), 0);
    assert_int_equal(res.removed_docs, 1);
    assert_false(tt_exists(doc_path));
    assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
    mu_assert_reader("removed", dir, &m, m.n, &del, 1);
    mu_assert_verify_clean("removed", s);
    tss_store_close(s);
    tt_fault_ops(NULL);
    tt_model_free(&m);
}

static void test_state_of_unknown_and_corrupt(void **state)
{
    char dir[4096], path[4096], id[37];
    tss_delete_spec spec = mu_spec("h1/*", NULL, 0, 10);
    tss_store *s, *r;
    int st = -1;

    tt_join(dir, sizeof(dir), *state, "store");
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    r = mu_open(dir, 0, NULL);
    assert_int_equal(tss_mutation_state(s, DOC_ID, &st), 0);
    assert_int_equal(st, TSS_MUTATION_REMOVED);

    /* creation checks its arguments; a reader may create documents */
    spec.series_glob = "";
    assert_int_equal(tss_delete_create(r, &spec, id), TSS_EINVAL);
    spec.series_glob = "h1/*";
    spec.from = 11;
    assert_int_equal(tss_delete_create(r, &spec, id), TSS_EINVAL);
    spec.from = 0;
    mu_delete_create(r, &spec, id);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_INTENT);
    /* only a writer applies */
    assert_int_equal(tss_store_apply_mutations(r, 0, NULL), TSS_EINVAL);

    /* a document that does not parse is an error, not "removed" */
    tt_join(path, sizeof(path), dir, "wal/mutations/" DOC_ID ".json");
    tt_spit(path, "{\"schema_version\": 1}", 21);
    assert_int_equal(tss_mutation_state(r, DOC_ID, &st), TSS_ECORRUPT);
    tt_assert_msg_has(DOC_ID);
    tss_store_close(r);
    tss_store_close(s);
}

/* A document cut short (a disk that lost its end, a copy interrupted) is
 * skipped by readers, but counted with their other skipped files, so the
 * CLI exits 1 (the README's "an unreadable file was skipped"), and the log
 * line names the file. */
static void test_readers_count_unreadable_document(void **state)
{
    char dir[4096], path[4096], id[37], want[128];
    tss_delete_spec spec = mu_spec("h1/*", NULL, MU_WIN(0), MU_WIN(0) + 9999);
    tss_store_options o;
    tss_coverage *c;
    tss_coverage_series cs;
    tt_series *v;
    tt_log log = {0};
    tt_model m = {0};
    tss_store *s, *r;
    uint64_t errors = 0;
    uint8_t *buf;
    size_t len, n;

    tt_join(dir, sizeof(dir), *state, "store");
    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, &m, MU_WIN(0), MU_WIN(1), 0);
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    tss_store_close(s);
    tt_model_free(&m);
    r = tt_open(dir, 0, 60, &log, NULL);
    mu_delete_create(r, &spec, id);
    /* readable: nothing skipped */
    n = tt_query(r, NULL, &v, &errors);
    tt_series_free(v, n);
    assert_int_equal(errors, 0);

    snprintf(want, sizeof(want), "wal/mutations/%s.json", id);
    tt_join(path, sizeof(path), dir, want);
    assert_int_equal(tt_slurp(path, &buf, &len), 0);
    tt_spit(path, buf, len / 2);
    free(buf);
    n = tt_query(r, NULL, &v, &errors);
    tt_series_free(v, n);
    assert_true(n > 0); /* the rest is read */
    assert_int_equal(errors, 1);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, want) >= 0);

    log.n = 0;
    assert_int_equal(tss_coverage_open(&c, r, NULL), 0);
    n = 0;
    while (tss_coverage_next(c, &cs) == 1)
        n++;
    assert_true(n > 0);
    assert_int_equal(tss_coverage_errors(c), 1);
    tss_coverage_close(c);
    assert_true(tt_log_find(&log, TSS_LEVEL_ERR, want) >= 0);
    tss_store_close(r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_decode_reference),
        cmocka_unit_test(test_decode_rejects_each_field),
        cmocka_unit_test(test_decode_rejects_structure),
        T(test_state_machine),
        T(test_state_of_unknown_and_corrupt),
        T(test_readers_count_unreadable_document),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
