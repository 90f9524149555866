/*
 * Deletes end to end through the public API: a delete whose range spans
 * several sealed windows (one split over two segments) and the unsealed
 * head (with its snapshot on disk). Once visible, every reader hides
 * exactly the deleted points; points written afterwards keep flowing;
 * late points inside the range are hidden and never sealed; compaction
 * removes the points from the segment files, the tombstones and the
 * document go, verify is clean and coverage shows the hole. Also --ds,
 * a delete without a range, and a range between two points.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsstore/coverage.h"

#include "compact.h"
#include "segment.h"
#include "series.h"
#include "storage.h"

#define H1 (1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1)

/* Names of the segment files now, as one string "a,b,c". */
static void list_segments(const char *dir, char *out, size_t size)
{
    char path[4096];

    tt_join(path, sizeof(path), dir, "segments");
    tt_list(path, "", out, size);
}

/*
 * Points of `series` in [from, to] held by segment files whose name is
 * not in `skip` (a list from list_segments; NULL: none skipped), read
 * directly from the files.
 */
static size_t segments_hold(const char *dir, const char *skip, unsigned series,
                            int64_t from, int64_t to)
{
    uint8_t key[TSS_KEY_MAX];
    tss_storage *st;
    tss_seg_name *segs;
    size_t nsegs, len, count = 0;

    assert_int_equal(
        tss_key_encode(key, &len, &mu_series[series], mu_kind[series]), 0);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    for (size_t i = 0; i < nsegs; i++) {
        char rel[192];
        tss_segment *seg;
        tss_point *pts = NULL;
        size_t n = 0, cap = 0;
        long e;

        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if (skip && strstr(skip, rel + strlen("segments/")))
            continue;
        assert_int_equal(tss_segment_open(&seg, st, rel), 0);
        e = tss_segment_find(seg, key, len);
        if (e >= 0)
            assert_int_equal(
                tss_segment_read_points(seg, (size_t)e, &pts, &n, &cap), 0);
        for (size_t k = 0; k < n; k++)
            count += pts[k].t >= from && pts[k].t <= to;
        tss_free(pts);
        tss_segment_close(seg);
    }
    tss_free(segs);
    tss_storage_close(st);
    return count;
}

/* After compaction: every window in one segment, so the segment files,
 * read in order, hold exactly what the model says, bit for bit. */
static void assert_segments_exact(const char *what, const char *dir,
                                  const tt_model *m, size_t upto,
                                  const mu_del *dels, size_t ndels)
{
    tss_point *pts[MU_NSERIES];
    size_t counts[MU_NSERIES];
    char label[128];

    mu_segment_points(dir, pts, counts);
    for (unsigned k = 0; k < MU_NSERIES; k++) {
        tss_point *want;
        size_t nwant = mu_expect(m, upto, k, dels, ndels, &want);

        snprintf(label, sizeof(label), "%s: segment files, series %u", what, k);
        tt_assert_points(label, pts[k], counts[k], want, nwant);
        free(want);
    }
    mu_segment_points_free(pts);
}

/* A filtered query returns the model's points inside the filter. */
static void assert_filtered(tss_store *s, unsigned series, int64_t from,
                            int64_t to, const tt_model *m, const mu_del *dels,
                            size_t ndels)
{
    char glob[256];
    tss_filter f;
    tt_series *v;
    tss_point *want;
    uint64_t errors;
    size_t n, nwant, k = 0;

    tss_series_id_format(glob, sizeof(glob), &mu_series[series]);
    memset(&f, 0, sizeof(f));
    f.series_glob = glob;
    f.ds = mu_series[series].ds;
    f.has_from = f.has_to = 1;
    f.from = from;
    f.to = to;
    nwant = mu_expect(m, m->n, series, dels, ndels, &want);
    for (size_t i = 0; i < nwant; i++)
        if (want[i].t >= from && want[i].t <= to)
            want[k++] = want[i];
    n = tt_query(s, &f, &v, &errors);
    assert_int_equal(errors, 0);
    if (k == 0) {
        assert_int_equal(n, 0);
    } else {
        assert_int_equal(n, 1);
        assert_true(v[0].info.count == k);
        tt_assert_points("filtered query", v[0].pts, v[0].n, want, k);
    }
    tt_series_free(v, n);
    free(want);
}

static void apply(tss_store *s, uint32_t made_visible, uint32_t removed)
{
    tss_apply_result res;
    int rc = tss_store_apply_mutations(s, MU_WIN(20), &res);

    if (rc)
        fail_msg("apply: %d %s", rc, tss_error_last());
    assert_int_equal(res.pending, 0);
    assert_int_equal(res.made_visible, made_visible);
    assert_int_equal(res.removed_docs, removed);
}

static void compact(tss_store *s, unsigned flags, uint32_t windows)
{
    tss_apply_result res;
    int rc;

    memset(&res, 0xa5, sizeof(res)); /* an out parameter: filled */
    rc = tss_store_compact(s, MU_WIN(20), flags, &res);

    if (rc)
        fail_msg("compact: %d %s", rc, tss_error_last());
    assert_int_equal(res.compacted, windows);
}

/* Windows 0-3 sealed (1 and 2 in two segments each), window 4 and half of
 * 5 in the head, snapshotted. */
static tss_store *layout(const char *dir, tt_model *m)
{
    tss_store_options o;
    tss_store *s;

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, m, MU_WIN(0), MU_WIN(4), 0);
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(1) + 20000, MU_WIN(2) + 45000, 1); /* late */
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(4), MU_WIN(5) + 30000, 0);
    assert_int_equal(tss_store_snapshot(s, MU_WIN(20), TSS_SNAP_SYNC), 0);
    return s;
}

static void test_delete_spans_head_and_segments(void **state)
{
    /* whole buckets: [from, to] is [W1 + 30 s, W4 + 30 s) */
    const int64_t from = MU_WIN(1) + 30000, to = MU_WIN(4) + 29999;
    const mu_del del = {H1, from, to};
    tss_delete_spec spec = mu_spec("h1/*", NULL, from, to);
    char dir[4096], before[8192], id[37];
    tss_store *s, *early;
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f;
    tt_model m = {0};
    size_t nlate;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    early = mu_open(dir, 0, NULL); /* a reader opened before the delete */
    mu_assert_store("before", early, &m, m.n, NULL, 0);

    mu_delete_create(s, &spec, id);
    apply(s, 1, 0);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    mu_assert_store("visible, writer", s, &m, m.n, &del, 1);
    mu_assert_store("visible, reader opened before", early, &m, m.n, &del, 1);
    mu_assert_reader("visible, new reader", dir, &m, m.n, &del, 1);
    for (unsigned k = 0; k < MU_NSERIES; k++) {
        assert_filtered(early, k, from - 10000, to + 10000, &m, &del, 1);
        assert_filtered(early, k, from, to, &m, &del, 1);
    }
    /* the deleted points are still in the files, under tombstones */
    assert_true(segments_hold(dir, NULL, MU_H1_CPU0, from, to) > 0);
    assert_true(mu_count_suffix(dir, "segments", ".tombstones") > 0);
    mu_assert_verify_clean("visible", s);

    /* writes go on after the range ... */
    mu_fill(s, &m, MU_WIN(5) + 30000, MU_WIN(6) + 30000, 2);
    nlate = m.n;
    /* ... and late points inside it (new timestamps and rewrites, in a
     * sealed window and in the head's) stay hidden */
    mu_put(s, &m, MU_H1_CPU0, MU_WIN(2) + 2500, 0x4045000000000000);
    mu_put(s, &m, MU_H1_CPU1, MU_WIN(3) + 5000, 0x4046000000000000);
    mu_put(s, &m, MU_H1_CPU0, MU_WIN(4) + 7500, 0x4047000000000000);
    assert_true(m.n == nlate + 3);
    assert_int_equal(tss_store_snapshot(s, MU_WIN(20), TSS_SNAP_SYNC), 0);
    mu_assert_store("after more writes", s, &m, m.n, &del, 1);
    mu_assert_reader("after more writes", dir, &m, m.n, &del, 1);

    /* sealing drops the late points: no new segment holds them */
    list_segments(dir, before, sizeof(before));
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    assert_int_equal(segments_hold(dir, before, MU_H1_CPU0, from, to), 0);
    assert_int_equal(segments_hold(dir, before, MU_H1_CPU1, from, to), 0);
    assert_true(segments_hold(dir, before, MU_H1_CPU0, to + 1, MU_WIN(7)) > 0);
    mu_assert_reader("sealed", dir, &m, m.n, &del, 1);
    mu_assert_verify_clean("sealed", s);

    /* a late point inside the range that is still in the head when the
     * document completes: hidden while it is visible, and gone with the
     * completion (never shown again once the predicate is removed) */
    mu_put(s, &m, MU_H1_CPU1, MU_WIN(4) + 12500, 0x4048000000000000);
    assert_int_equal(tss_store_snapshot(s, MU_WIN(20), TSS_SNAP_SYNC), 0);
    mu_assert_reader("a late point in the head", dir, &m, m.n, &del, 1);

    /* compaction, then the document completes */
    compact(s, 0, 3); /* windows 1, 2 and 3 carry tombstones */
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    apply(s, 0, 1);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_int_equal(mu_count_suffix(dir, "wal/mutations", ".json"), 0);
    for (unsigned k = 0; k < MU_NSERIES; k++)
        if (k == MU_H1_CPU0 || k == MU_H1_CPU1)
            assert_int_equal(segments_hold(dir, NULL, k, from, to), 0);
        else
            assert_true(segments_hold(dir, NULL, k, from, to) > 0);
    assert_segments_exact("compacted", dir, &m, m.n, &del, 1);
    mu_assert_store("compacted", early, &m, m.n, &del, 1);
    mu_assert_reader("compacted", dir, &m, m.n, &del, 1);
    mu_assert_verify_clean("compacted", s);

    /* coverage: the hole, exactly the deleted buckets */
    memset(&f, 0, sizeof(f));
    f.series_glob = "h1/cpu-0/gauge";
    assert_int_equal(tss_coverage_open(&c, early, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    assert_string_equal(cs.id.host, "h1");
    assert_int_equal(cs.interval, MU_STEP);
    assert_int_equal(cs.gaps, 1);
    assert_int_equal(cs.nruns, 3);
    assert_true(cs.runs[0].covered && cs.runs[0].from == MU_WIN(0) &&
                cs.runs[0].to == from);
    assert_true(!cs.runs[1].covered && cs.runs[1].from == from &&
                cs.runs[1].to == to + 1);
    assert_true(cs.runs[2].covered && cs.runs[2].from == to + 1 &&
                cs.runs[2].to == MU_WIN(6) + 30000);
    assert_true(cs.gap_time == to + 1 - from);
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    assert_int_equal(tss_coverage_errors(c), 0);
    tss_coverage_close(c);
    /* the others have none */
    f.series_glob = "h0/*";
    assert_int_equal(tss_coverage_open(&c, early, &f), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tss_coverage_next(c, &cs), 1);
        assert_int_equal(cs.gaps, 0);
        assert_true(cs.runs[0].from == MU_WIN(0) &&
                    cs.runs[0].to == MU_WIN(6) + 30000);
    }
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    tss_coverage_close(c);

    tss_store_close(early);
    tss_store_close(s);
    tt_model_free(&m);
}

/* --ds: only that data source of the matching series goes. */
static void test_delete_one_data_source(void **state)
{
    const int64_t from = MU_WIN(0), to = MU_WIN(5);
    const mu_del del = {1UL << MU_H0_IF_RX, from, to};
    tss_delete_spec spec = mu_spec("h0/*", "rx", from, to);
    char dir[4096], id[37];
    tss_plan_totals tot;
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    assert_int_equal(tss_delete_plan(s, &spec, NULL, NULL, &tot), 0);
    assert_true(tot.series == 1);
    mu_delete_create(s, &spec, id);
    apply(s, 1, 0);
    mu_assert_reader("visible", dir, &m, m.n, &del, 1);
    compact(s, 0, 4);
    apply(s, 0, 1);
    assert_int_equal(
        segments_hold(dir, NULL, MU_H0_IF_RX, INT64_MIN, INT64_MAX), 0);
    /* the head still holds tx (and nothing of rx): seal it to compare the
     * files with the model */
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    assert_segments_exact("after --ds", dir, &m, m.n, &del, 1);
    mu_assert_reader("after --ds", dir, &m, m.n, &del, 1);
    mu_assert_verify_clean("after --ds", s);
    tss_store_close(s);
    tt_model_free(&m);
}

/* Without --from and --to: everything of the series stored so far. */
static void test_delete_without_range(void **state)
{
    const mu_del del = {1UL << MU_H1_CPU1, INT64_MIN, INT64_MAX};
    tss_delete_spec spec;
    char dir[4096], id[37];
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f;
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    memset(&spec, 0, sizeof(spec));
    spec.series_glob = "h1/cpu-1/gauge";
    mu_delete_create(s, &spec, id);
    apply(s, 1, 0);
    mu_assert_reader("visible", dir, &m, m.n, &del, 1);
    compact(s, 0, 4);
    apply(s, 0, 1);
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    assert_segments_exact("all of a series", dir, &m, m.n, &del, 1);
    mu_assert_reader("all of a series", dir, &m, m.n, &del, 1);
    memset(&f, 0, sizeof(f));
    f.series_glob = "h1/*";
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    assert_int_equal(tss_coverage_next(c, &cs), 1);
    assert_string_equal(cs.id.plugin_instance, "0");
    assert_int_equal(tss_coverage_next(c, &cs), 0);
    tss_coverage_close(c);
    mu_assert_verify_clean("all of a series", s);
    tss_store_close(s);
    tt_model_free(&m);
}

/* A range that falls between two points of a segment deletes nothing and
 * leaves a consistent store. */
static void test_delete_between_points(void **state)
{
    const int64_t from = MU_WIN(1) + 1000, to = MU_WIN(1) + 4000;
    tss_delete_spec spec = mu_spec("h1/*", NULL, from, to);
    char dir[4096], id[37];
    tss_plan_totals tot;
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    assert_int_equal(tss_delete_plan(s, &spec, NULL, NULL, &tot), 0);
    assert_true(tot.points == 0 && tot.series == 0 && tot.segments == 0);
    mu_delete_create(s, &spec, id);
    /* no segment holds a point of it: nothing to tombstone or compact, it
     * is done at once */
    apply(s, 1, 1);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_int_equal(tss_store_compact(s, MU_WIN(20), 0, NULL), 0);
    mu_assert_reader("done", dir, &m, m.n, NULL, 0);
    mu_assert_verify_clean("done", s);
    tss_store_close(s);
    tt_model_free(&m);
}

/* Late points of a visible delete's range survive a restart of the writer
 * hidden, and are never sealed. */
static void test_late_points_across_restart(void **state)
{
    const int64_t from = MU_WIN(1), to = MU_WIN(3) - 1;
    const mu_del del = {H1, from, to};
    tss_delete_spec spec = mu_spec("h1/*", NULL, from, to);
    tss_store_options o;
    char dir[4096], before[8192], id[37];
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    mu_delete_create(s, &spec, id);
    apply(s, 1, 0);
    for (int64_t t = from + 2500; t <= to; t += MU_STEP) {
        mu_put(s, &m, MU_H1_CPU0, t, (uint64_t)t);
        mu_put(s, &m, MU_H1_CPU1, t - 2500, (uint64_t)t); /* rewrites */
    }
    assert_int_equal(tss_store_snapshot(s, MU_WIN(20), TSS_SNAP_SYNC), 0);
    tss_store_close(s);
    mu_assert_reader("restart", dir, &m, m.n, &del, 1);

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    mu_assert_store("reopened", s, &m, m.n, &del, 1);
    list_segments(dir, before, sizeof(before));
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    assert_int_equal(segments_hold(dir, before, MU_H1_CPU0, from, to), 0);
    assert_int_equal(segments_hold(dir, before, MU_H1_CPU1, from, to), 0);
    mu_assert_reader("sealed", dir, &m, m.n, &del, 1);
    mu_assert_verify_clean("sealed", s);
    compact(s, TSS_COMPACT_MERGE, 2); /* windows 1 and 2 */
    apply(s, 0, 1);
    assert_segments_exact("merged", dir, &m, m.n, &del, 1);
    mu_assert_verify_clean("merged", s);
    tss_store_close(s);
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

/* Many deletes at once, literal identifiers and patterns mixed (readers
 * find literal ones by binary search, the others by fnmatch): each hides
 * exactly its series, data source and range. */
static void test_many_predicates(void **state)
{
    struct {
        const char *glob, *ds;
        unsigned long mask;
        int64_t from, to;
    } d[] = {
        /* literal, twice the same series with two ranges */
        {"h1/cpu-0/gauge", NULL, 1UL << MU_H1_CPU0, MU_WIN(0),
         MU_WIN(0) + 9999},
        {"h1/cpu-0/gauge", NULL, 1UL << MU_H1_CPU0, MU_WIN(1),
         MU_WIN(1) + 4999},
        /* literal with a data source */
        {"h0/if/if_octets-eth0", "tx", 1UL << MU_H0_IF_TX, MU_WIN(0),
         MU_WIN(2)},
        /* a pattern, and one that is literal but for an escape */
        {"h0/cpu-*", NULL, 1UL << MU_H0_CPU, MU_WIN(1) + 30000,
         MU_WIN(1) + 39999},
        {"h1/cpu\\-1/gauge", NULL, 1UL << MU_H1_CPU1, MU_WIN(2),
         MU_WIN(2) + 19999},
        /* literal that matches nothing, and a pattern that matches nothing */
        {"h9/cpu-0/gauge", NULL, 0, MU_WIN(0), MU_WIN(3)},
        {"h9/*", NULL, 0, MU_WIN(0), MU_WIN(3)},
    };
    const size_t nd = sizeof(d) / sizeof(d[0]);
    mu_del dels[sizeof(d) / sizeof(d[0])];
    char dir[4096], id[37];
    tss_store_options o;
    tss_store *s;
    tt_model m = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    mu_options(&o, NULL, 0);
    o.compact_after_segments = 0; /* visible through documents, tombstones */
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, &m, MU_WIN(0), MU_WIN(3), 0);
    assert_int_equal(tss_store_seal(s, MU_WIN(20), TSS_SEAL_ALL, NULL), 0);
    for (size_t i = 0; i < nd; i++) {
        tss_delete_spec spec = mu_spec(d[i].glob, d[i].ds, d[i].from, d[i].to);

        mu_delete_create(s, &spec, id);
        dels[i] = (mu_del){d[i].mask, d[i].from, d[i].to};
    }
    /* the two that match nothing have no target: done at once */
    apply(s, (uint32_t)nd, 2);
    mu_assert_store("visible, writer", s, &m, m.n, dels, nd);
    mu_assert_reader("visible, reader", dir, &m, m.n, dels, nd);
    compact(s, 0, 3);
    apply(s, 0, (uint32_t)nd - 2);
    mu_assert_reader("compacted", dir, &m, m.n, dels, nd);
    mu_assert_verify_clean("compacted", s);
    tss_store_close(s);
    tt_model_free(&m);
}

/* A writer's open applies pending documents before it returns, compaction
 * requests included; tss_store_open_applied says what that did, so a
 * command that reports its writer session (tsstore compact) counts it. */
static void test_open_counts_what_it_applied(void **state)
{
    char dir[4096], id[37], cid[37];
    tss_delete_spec spec = mu_spec("h1/*", NULL, MU_WIN(1), MU_WIN(1) + 29999);
    tss_store_options o;
    tss_apply_result res;
    tss_store *s, *r;
    tt_model m = {0};

    tt_join(dir, sizeof(dir), *state, "store");
    tss_store_close(layout(dir, &m));
    r = mu_open(dir, 0, NULL);
    tss_store_open_applied(r, &res);
    assert_int_equal(res.made_visible + res.compacted + res.removed_docs, 0);
    /* queued while a writer held the LOCK, which never applied them */
    mu_delete_create(r, &spec, id);
    assert_int_equal(tss_compact_request(r, cid), 0);

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_WRITER, &o);
    memset(&res, 0xa5, sizeof(res));
    tss_store_open_applied(s, &res);
    assert_int_equal(res.made_visible, 1);
    assert_true(res.compacted >= 1);
    assert_true(res.bytes_rewritten > 0);
    assert_int_equal(res.removed_docs, 2);
    assert_int_equal(res.pending, 0);
    assert_int_equal(mu_state(r, id), TSS_MUTATION_REMOVED);
    assert_int_equal(mu_state(r, cid), TSS_MUTATION_REMOVED);
    /* nothing left for the calls after the open */
    apply(s, 0, 0);
    compact(s, TSS_COMPACT_MERGE, 0);
    tss_store_close(s);
    tss_store_close(r);
    tt_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_delete_spans_head_and_segments), T(test_delete_one_data_source),
        T(test_delete_without_range),           T(test_delete_between_points),
        T(test_late_points_across_restart),     T(test_many_predicates),
        T(test_open_counts_what_it_applied),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
