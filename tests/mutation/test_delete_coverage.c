/*
 * Coverage after deletes, before compaction: once a delete is visible, a
 * coverage query (tsstore coverage, tsstore stats, the read plugin's
 * Missing notifications) no longer shows the deleted range covered,
 * without decoding a chunk. The rule (docs/format.md, "Coverage and
 * deletes"): a bucket is cleared when it lies wholly inside the deleted
 * range; a bucket the range covers in part keeps its coverage until
 * compaction rebuilds the sidecars. Also a whole-series delete (the series
 * goes from coverage and stats at once), and tombstones whose document is
 * gone: they clear their own segment's buckets, not those another segment
 * of the window still holds.
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "tsstore/coverage.h"
#include "tsstore/stats.h"

#include "compact.h"
#include "segment.h"
#include "series.h"
#include "storage.h"
#include "tombstone.h"

#define H1 (1UL << MU_H1_CPU0 | 1UL << MU_H1_CPU1)
#define NOW MU_WIN(20)
/* the head is filled up to here (exclusive): the last bucket's end */
#define END (MU_WIN(5) + 30000)

typedef struct run {
    int64_t from, to;
    int covered;
} run;

/* Windows 0-3 sealed (1 and 2 in two segments each: late points), window
 * 4 and half of 5 in the head, snapshotted. Compaction is off. */
static tss_store *layout(const char *dir, tt_model *m)
{
    tss_store_options o;
    tss_store *s;

    mu_options(&o, NULL, 0);
    s = mu_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o);
    mu_fill(s, m, MU_WIN(0), MU_WIN(4), 0);
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(1) + 20000, MU_WIN(2) + 45000, 1); /* late */
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    mu_fill(s, m, MU_WIN(4), MU_WIN(5) + 30000, 0);
    assert_int_equal(tss_store_snapshot(s, NOW, TSS_SNAP_SYNC), 0);
    return s;
}

static void apply(tss_store *s)
{
    int rc = tss_store_apply_mutations(s, NOW, NULL);

    if (rc)
        fail_msg("apply: %d %s", rc, tss_error_last());
}

/* The coverage of every series `glob` names (at least one) fails the test
 * unless its runs are `want` (range [from, to] when has_range; else its
 * own). */
static void assert_runs(const char *what, tss_store *s, const char *glob,
                        bool has_range, int64_t from, int64_t to,
                        const run *want, size_t nwant)
{
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f;
    size_t nseries = 0;
    int rc;

    memset(&f, 0, sizeof(f));
    f.series_glob = glob;
    f.has_from = f.has_to = has_range;
    f.from = from;
    f.to = to;
    if (tss_coverage_open(&c, s, &f) != 0)
        fail_msg("%s: coverage: %s", what, tss_error_last());
    while ((rc = tss_coverage_next(c, &cs)) == 1) {
        bool same = cs.nruns == nwant;
        char text[2048] = "";
        size_t len = 0;

        nseries++;
        for (size_t i = 0; i < nwant && same; i++)
            same = cs.runs[i].from == want[i].from &&
                   cs.runs[i].to == want[i].to &&
                   cs.runs[i].covered == want[i].covered;
        if (same)
            continue;
        for (size_t i = 0; i < cs.nruns && len < sizeof(text) - 80; i++)
            len += (size_t)snprintf(text + len, sizeof(text) - len,
                                    " [W0%+" PRId64 ", W0%+" PRId64 ")%s",
                                    cs.runs[i].from - MU_WIN(0),
                                    cs.runs[i].to - MU_WIN(0),
                                    cs.runs[i].covered ? "" : " gap");
        fail_msg("%s: %s (%s) has %zu run(s):%s", what, glob, cs.id.ds,
                 cs.nruns, text);
    }
    assert_int_equal(rc, 0);
    assert_true(nseries > 0);
    assert_int_equal(tss_coverage_errors(c), 0);
    if (tss_coverage_segments_decoded(c) != 0)
        fail_msg("%s: %" PRIu64 " segment(s) decoded", what,
                 tss_coverage_segments_decoded(c));
    tss_coverage_close(c);
}

/* Number of series a coverage query over `glob` lists. */
static size_t coverage_series(tss_store *s, const char *glob)
{
    tss_coverage *c;
    tss_coverage_series cs;
    tss_filter f;
    size_t n = 0;
    int rc;

    memset(&f, 0, sizeof(f));
    f.series_glob = glob;
    assert_int_equal(tss_coverage_open(&c, s, &f), 0);
    while ((rc = tss_coverage_next(c, &cs)) == 1)
        n++;
    assert_int_equal(rc, 0);
    tss_coverage_close(c);
    return n;
}

/* The h0 series are untouched: one covered run each. */
static void assert_h0_whole(const char *what, tss_store *s)
{
    const run whole[] = {{MU_WIN(0), END, 1}};

    assert_runs(what, s, "h0/cpu-0/gauge", false, 0, 0, whole, 1);
    assert_runs(what, s, "h0/if/if_octets-eth0", false, 0, 0, whole, 1);
}

/*
 * A range with partial buckets at both ends. Points every 5 s, buckets of
 * 10 s. [W1 + 4 s, W3 + 25 s]: the bucket at W1 keeps its point at W1
 * (only W1 + 5 s goes); the bucket at W3 + 20 s loses both of its points
 * (W3 + 20 s and W3 + 25 s) but the range ends before the bucket does, so
 * until compaction it still counts as covered.
 */
static void test_partial_buckets(void **state)
{
    const int64_t from = MU_WIN(1) + 4000, to = MU_WIN(3) + 25000;
    const mu_del del = {H1, from, to};
    tss_delete_spec spec = mu_spec("h1/*", NULL, from, to);
    const run visible[] = {{MU_WIN(0), MU_WIN(1) + 10000, 1},
                           {MU_WIN(1) + 10000, MU_WIN(3) + 20000, 0},
                           {MU_WIN(3) + 20000, END, 1}};
    const run compacted[] = {{MU_WIN(0), MU_WIN(1) + 10000, 1},
                             {MU_WIN(1) + 10000, MU_WIN(3) + 30000, 0},
                             {MU_WIN(3) + 30000, END, 1}};
    /* judged over [W1, W2): the first bucket, then nothing */
    const run in_w1[] = {{MU_WIN(1), MU_WIN(1) + 10000, 1},
                         {MU_WIN(1) + 10000, MU_WIN(2), 0}};
    const run whole[] = {{MU_WIN(0), END, 1}};
    char dir[4096], id[37];
    tt_model m = {0};
    tss_store *s, *early;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    early = mu_open(dir, 0, NULL); /* a reader opened before the delete */
    assert_runs("before", early, "h1/cpu-0/gauge", false, 0, 0, whole, 1);

    mu_delete_create(s, &spec, id);
    /* a document not yet applied changes nothing */
    assert_runs("intent", early, "h1/cpu-0/gauge", false, 0, 0, whole, 1);
    apply(s);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    assert_true(mu_count_suffix(dir, "segments", ".tombstones") > 0);
    mu_assert_reader("visible", dir, &m, m.n, &del, 1);
    for (unsigned k = 0; k < 2; k++) {
        const char *glob = k ? "h1/cpu-1/gauge" : "h1/cpu-0/gauge";

        assert_runs("visible, writer", s, glob, false, 0, 0, visible, 3);
        assert_runs("visible, early reader", early, glob, false, 0, 0, visible,
                    3);
        assert_runs("visible, [W1, W2)", early, glob, true, MU_WIN(1),
                    MU_WIN(2) - 1, in_w1, 2);
    }
    assert_h0_whole("visible", early);

    /* late points inside the range, in the head: hidden, and not covered */
    mu_put(s, &m, MU_H1_CPU0, MU_WIN(2) + 30000, 0x4045000000000000);
    assert_int_equal(tss_store_snapshot(s, NOW, TSS_SNAP_SYNC), 0);
    assert_runs("late point", early, "h1/cpu-0/gauge", false, 0, 0, visible, 3);

    /* compaction: the emptied partial bucket goes as well */
    assert_int_equal(tss_store_seal(s, NOW, TSS_SEAL_ALL, NULL), 0);
    assert_int_equal(tss_store_compact(s, NOW, 0, NULL), 0);
    apply(s);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
    assert_int_equal(mu_count_suffix(dir, "segments", ".tombstones"), 0);
    assert_runs("compacted", early, "h1/cpu-0/gauge", false, 0, 0, compacted,
                3);
    assert_h0_whole("compacted", early);
    mu_assert_verify_clean("compacted", s);
    tss_store_close(early);
    tss_store_close(s);
    tt_model_free(&m);
}

/* A bucket-aligned range: what coverage shows once the delete is visible
 * is what it shows after compaction. */
static void test_aligned_range_same_as_compacted(void **state)
{
    const int64_t from = MU_WIN(1) + 30000, to = MU_WIN(4) + 29999;
    tss_delete_spec spec = mu_spec("h1/*", NULL, from, to);
    const run hole[] = {
        {MU_WIN(0), from, 1}, {from, to + 1, 0}, {to + 1, END, 1}};
    char dir[4096], id[37];
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    mu_delete_create(s, &spec, id);
    apply(s);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    assert_runs("visible", s, "h1/cpu-1/gauge", false, 0, 0, hole, 3);
    assert_int_equal(tss_store_compact(s, NOW, 0, NULL), 0);
    apply(s);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_REMOVED);
    assert_runs("compacted", s, "h1/cpu-1/gauge", false, 0, 0, hole, 3);
    tss_store_close(s);
    tt_model_free(&m);
}

/* Without a range: the series is gone from coverage and from the stats'
 * series count as soon as the delete is visible, as `ls` shows it. */
static void test_whole_series(void **state)
{
    tss_delete_spec spec;
    tss_store_stats st;
    char dir[4096], id[37];
    tt_model m = {0};
    tss_store *s, *r;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    r = mu_open(dir, 0, NULL);
    assert_int_equal(coverage_series(r, "*"), MU_NSERIES);
    assert_int_equal(tss_store_stats_get(r, NOW, &st), 0);
    assert_int_equal(st.series, MU_NSERIES);
    memset(&spec, 0, sizeof(spec));
    spec.series_glob = "h1/cpu-1/gauge";
    mu_delete_create(s, &spec, id);
    apply(s);
    assert_int_equal(mu_state(s, id), TSS_MUTATION_VISIBLE);
    assert_int_equal(coverage_series(r, "h1/*"), 1);
    assert_int_equal(coverage_series(r, "h1/cpu-1/*"), 0);
    assert_int_equal(coverage_series(r, "*"), MU_NSERIES - 1);
    assert_int_equal(tss_store_stats_get(r, NOW, &st), 0);
    assert_int_equal(st.series, MU_NSERIES - 1);
    assert_h0_whole("whole series", r);
    tss_store_close(r);
    tss_store_close(s);
    tt_model_free(&m);
}

/* Adds a tombstone entry of a mutation that has no document to the
 * segment of window `win` whose seq is the lowest there. */
static void orphan_tombstone(const char *dir, int64_t win, unsigned series,
                             int64_t from, int64_t to)
{
    tss_storage *st;
    tss_seg_name *segs;
    size_t nsegs;
    uint8_t key[TSS_KEY_MAX], mut[16];
    size_t len;
    bool done = false;

    uuid_generate(mut);
    assert_int_equal(
        tss_key_encode(key, &len, &mu_series[series], mu_kind[series]), 0);
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    for (size_t i = 0; i < nsegs && !done; i++) {
        char rel[192], trel[128];
        tss_segment *seg;
        tss_tombstones t;
        tss_buf img = {0};

        if (segs[i].start != win)
            continue;
        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        assert_int_equal(tss_segment_open(&seg, st, rel), 0);
        tss_tomb_path(trel, sizeof(trel), seg->name.uuid);
        assert_int_equal(tss_tomb_read(st, seg, &t), 0);
        assert_int_equal(tss_tomb_push(&t, mut, key, len, from, to), 0);
        assert_int_equal(tss_tomb_encode(&t, &img), 0);
        assert_int_equal(
            tss_storage_put_if_match(st, trel, t.etag, img.data, img.len), 0);
        tss_buf_free(&img);
        tss_tomb_free(&t);
        tss_segment_close(seg);
        done = true;
    }
    assert_true(done);
    tss_free(segs);
    tss_storage_close(st);
}

/*
 * Tombstones whose document no longer exists (removed, or unreadable)
 * are in effect by themselves, for their own segment: in window 0 (one
 * segment) their whole buckets go; in window 1 the first segment's
 * tombstone hides nothing the late segment beside it holds (its points
 * win, and they are there), so those buckets stay covered.
 */
static void test_tombstones_without_document(void **state)
{
    const int64_t f0 = MU_WIN(0) + 20000, t0 = MU_WIN(0) + 39999;
    const int64_t f1 = MU_WIN(1) + 20000, t1 = MU_WIN(1) + 49999;
    const mu_del del = {1UL << MU_H1_CPU0, f0, t0};
    const run want[] = {{MU_WIN(0), f0, 1}, {f0, t0 + 1, 0}, {t0 + 1, END, 1}};
    const run whole[] = {{MU_WIN(0), END, 1}};
    char dir[4096];
    tt_model m = {0};
    tss_store *s;

    tt_join(dir, sizeof(dir), *state, "store");
    s = layout(dir, &m);
    tss_store_close(s);
    orphan_tombstone(dir, MU_WIN(0), MU_H1_CPU0, f0, t0);
    orphan_tombstone(dir, MU_WIN(1), MU_H1_CPU0, f1, t1);
    /* the reader's rule: window 0's points go, window 1's stay */
    mu_assert_reader("orphan tombstones", dir, &m, m.n, &del, 1);
    s = mu_open(dir, 0, NULL);
    assert_runs("orphan tombstones", s, "h1/cpu-0/gauge", false, 0, 0, want, 3);
    assert_runs("other series", s, "h1/cpu-1/gauge", false, 0, 0, whole, 1);
    tss_store_close(s);
    tt_model_free(&m);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tt_setup, tt_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_partial_buckets),
        T(test_aligned_range_same_as_compacted),
        T(test_whole_series),
        T(test_tombstones_without_document),
    };

    return cmocka_run_group_tests(tests, tt_group_setup, tt_group_teardown);
}
