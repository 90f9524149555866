/*
 * Helpers of the delete-path tests (see mut_util.h).
 */
#define _GNU_SOURCE
#include "mut_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsstore/verify.h"

#include "compact.h"
#include "segment.h"
#include "series.h"
#include "storage.h"

const tss_series_id mu_series[MU_NSERIES] = {
    {"h0", "cpu", "0", "gauge", "", "value"},
    {"h1", "cpu", "0", "gauge", "", "value"},
    {"h1", "cpu", "1", "gauge", "", "value"},
    {"h0", "if", "", "if_octets", "eth0", "rx"},
    {"h0", "if", "", "if_octets", "eth0", "tx"},
};

const int mu_kind[MU_NSERIES] = {TSS_KIND_GAUGE, TSS_KIND_GAUGE, TSS_KIND_GAUGE,
                                 TSS_KIND_DERIVE, TSS_KIND_DERIVE};

void mu_options(tss_store_options *o, const tss_io_ops *io,
                uint32_t compact_after)
{
    tss_store_options_init(o);
    o->units_per_second = 1000;
    o->span_seconds = MU_SPAN / 1000;
    o->bucket_seconds = MU_BUCKET / 1000;
    o->grace_seconds = 0;
    o->shards = 4;
    o->compact_after_segments = compact_after;
    o->io = io;
}

tss_store *mu_open(const char *dir, unsigned flags, const tss_store_options *o)
{
    tss_store *s = NULL;
    int rc = tss_store_open(&s, dir, flags, o);

    if (rc != 0)
        fail_msg("open %s: %d %s", dir, rc, tss_error_last());
    return s;
}

void mu_put(tss_store *s, tt_model *m, unsigned series, int64_t t,
            uint64_t bits)
{
    tss_value v;
    int rc;

    v.bits = bits;
    rc = tss_store_append(s, &mu_series[series], mu_kind[series], t, v);
    if (rc != 0)
        fail_msg("append: %d %s", rc, tss_error_last());
    tt_model_add(m, series, t, bits);
}

static uint64_t value_bits(unsigned series, int64_t t, unsigned salt)
{
    tss_value v;
    int64_t i = (t - MU_T0) / MU_STEP;

    if (mu_kind[series] == TSS_KIND_GAUGE)
        v.gauge = (double)series * 1000.0 + (double)i / 8.0 + salt * 0.5;
    else
        v.derive = (int64_t)series * 1000000 + i * 3 + salt;
    return v.bits;
}

void mu_fill(tss_store *s, tt_model *m, int64_t from, int64_t to, unsigned salt)
{
    for (int64_t t = from; t < to; t += MU_STEP)
        for (unsigned k = 0; k < MU_NSERIES; k++)
            mu_put(s, m, k, t, value_bits(k, t, salt));
}

static bool covered(unsigned series, int64_t t, const mu_del *dels,
                    size_t ndels)
{
    for (size_t i = 0; i < ndels; i++)
        if ((dels[i].series_mask >> series & 1) && t >= dels[i].from &&
            t <= dels[i].to)
            return true;
    return false;
}

size_t mu_expect(const tt_model *m, size_t upto, unsigned series,
                 const mu_del *dels, size_t ndels, tss_point **out)
{
    size_t n = tt_model_expect(m, upto, series, out), k = 0;

    for (size_t i = 0; i < n; i++)
        if (!covered(series, (*out)[i].t, dels, ndels))
            (*out)[k++] = (*out)[i];
    return k;
}

size_t mu_deleted_count(const tt_model *m, size_t upto, const mu_del *dels,
                        size_t ndels)
{
    size_t total = 0;

    for (unsigned k = 0; k < MU_NSERIES; k++) {
        tss_point *all, *kept;
        size_t n = tt_model_expect(m, upto, k, &all);

        total += n - mu_expect(m, upto, k, dels, ndels, &kept);
        free(all);
        free(kept);
    }
    return total;
}

int mu_series_index(const tt_series *e)
{
    for (int k = 0; k < MU_NSERIES; k++) {
        const tss_series_id *id = &mu_series[k];

        if (strcmp(e->field[0], id->host) == 0 &&
            strcmp(e->field[1], id->plugin) == 0 &&
            strcmp(e->field[2], id->plugin_instance) == 0 &&
            strcmp(e->field[3], id->type) == 0 &&
            strcmp(e->field[4], id->type_instance) == 0 &&
            strcmp(e->field[5], id->ds) == 0 && e->kind == mu_kind[k])
            return k;
    }
    return -1;
}

static void assert_result(const char *what, tt_series *v, size_t n,
                          uint64_t errors, const tt_model *m, size_t upto,
                          const mu_del *dels, size_t ndels)
{
    bool seen[MU_NSERIES] = {false};
    char label[256];

    if (errors)
        fail_msg("%s: %" PRIu64 " unreadable files or chunks", what, errors);
    for (size_t i = 0; i < n; i++) {
        int k = mu_series_index(&v[i]);
        tss_point *want;
        size_t nwant;

        if (k < 0)
            fail_msg("%s: unexpected series %s/%s", what, v[i].field[0],
                     v[i].field[5]);
        if (seen[k])
            fail_msg("%s: series %d returned twice", what, k);
        seen[k] = true;
        nwant = mu_expect(m, upto, (unsigned)k, dels, ndels, &want);
        snprintf(label, sizeof(label), "%s, series %d", what, k);
        tt_assert_points(label, v[i].pts, v[i].n, want, nwant);
        free(want);
    }
    for (unsigned k = 0; k < MU_NSERIES; k++) {
        tss_point *want;
        size_t nwant = mu_expect(m, upto, k, dels, ndels, &want);

        free(want);
        if (!seen[k] && nwant)
            fail_msg("%s: series %u missing (%zu points expected)", what, k,
                     nwant);
    }
}

void mu_assert_store(const char *what, tss_store *s, const tt_model *m,
                     size_t upto, const mu_del *dels, size_t ndels)
{
    tt_series *v;
    uint64_t errors;
    size_t n = tt_query(s, NULL, &v, &errors);

    assert_result(what, v, n, errors, m, upto, dels, ndels);
    tt_series_free(v, n);
}

void mu_assert_reader(const char *what, const char *dir, const tt_model *m,
                      size_t upto, const mu_del *dels, size_t ndels)
{
    tss_store *r = mu_open(dir, 0, NULL);

    mu_assert_store(what, r, m, upto, dels, ndels);
    tss_store_close(r);
}

size_t mu_segment_points(const char *dir, tss_point *pts[MU_NSERIES],
                         size_t counts[MU_NSERIES])
{
    tss_storage *st;
    tss_seg_name *segs;
    size_t nsegs, cap[MU_NSERIES] = {0};

    for (unsigned k = 0; k < MU_NSERIES; k++) {
        pts[k] = NULL;
        counts[k] = 0;
    }
    assert_int_equal(tss_storage_open(&st, dir, NULL, 0), 0);
    assert_int_equal(tss_list_segments(st, &segs, &nsegs), 0);
    for (size_t i = 0; i < nsegs; i++) {
        char rel[192];
        tss_segment *seg;

        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if (tss_segment_open(&seg, st, rel) != 0)
            fail_msg("segment %s: %s", rel, tss_error_last());
        for (size_t e = 0; e < seg->nentries; e++) {
            uint8_t key[TSS_KEY_MAX];
            size_t len;
            int k = -1;

            for (int j = 0; j < MU_NSERIES && k < 0; j++) {
                assert_int_equal(
                    tss_key_encode(key, &len, &mu_series[j], mu_kind[j]), 0);
                if (len == seg->entries[e].key_len &&
                    memcmp(key, seg->entries[e].key, len) == 0)
                    k = j;
            }
            if (k < 0)
                fail_msg("segment %s: a series the test never wrote", rel);
            if (tss_segment_read_points(seg, e, &pts[k], &counts[k], &cap[k]) !=
                0)
                fail_msg("segment %s: %s", rel, tss_error_last());
        }
        tss_segment_close(seg);
    }
    tss_free(segs);
    tss_storage_close(st);
    return nsegs;
}

void mu_segment_points_free(tss_point *pts[MU_NSERIES])
{
    for (unsigned k = 0; k < MU_NSERIES; k++) {
        tss_free(pts[k]);
        pts[k] = NULL;
    }
}

typedef struct findings {
    char text[4096];
    size_t len;
} findings;

static void on_finding(void *ctx, int sev, const char *file, const char *what)
{
    findings *f = ctx;
    int w;

    if (sev != TSS_VERIFY_PROBLEM || f->len >= sizeof(f->text) - 1)
        return;
    w = snprintf(f->text + f->len, sizeof(f->text) - f->len, "\n  %s: %s", file,
                 what);
    if (w > 0)
        f->len += (size_t)w;
    if (f->len >= sizeof(f->text))
        f->len = sizeof(f->text) - 1;
}

static uint64_t verify(tss_store *s, findings *f)
{
    tss_verify_report r;
    int rc;

    memset(f, 0, sizeof(*f));
    rc = tss_verify(s, 0, on_finding, NULL, f, &r);
    if (rc != 0)
        fail_msg("verify: %d %s", rc, tss_error_last());
    return r.problems;
}

void mu_assert_verify_clean(const char *what, tss_store *s)
{
    findings f;
    uint64_t problems = verify(s, &f);

    if (problems)
        fail_msg("%s: verify found %" PRIu64 " problem(s):%s", what, problems,
                 f.text);
}

uint64_t mu_verify_problems(tss_store *s)
{
    findings f;

    return verify(s, &f);
}

size_t mu_count_suffix(const char *dir, const char *sub, const char *suffix)
{
    char path[4096];
    DIR *d;
    struct dirent *de;
    size_t n = 0, sl = strlen(suffix);

    tt_join(path, sizeof(path), dir, sub);
    if (!(d = opendir(path)))
        return 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

tss_delete_spec mu_spec(const char *glob, const char *ds, int64_t from,
                        int64_t to)
{
    tss_delete_spec spec;

    memset(&spec, 0, sizeof(spec));
    spec.series_glob = glob;
    spec.ds = ds;
    spec.has_from = 1;
    spec.from = from;
    spec.has_to = 1;
    spec.to = to;
    return spec;
}

void mu_delete_create(tss_store *s, const tss_delete_spec *spec,
                      char id_out[37])
{
    int rc = tss_delete_create(s, spec, id_out);

    if (rc != 0)
        fail_msg("delete create: %d %s", rc, tss_error_last());
}

int mu_state(tss_store *s, const char *id)
{
    int state = -1;

    if (tss_mutation_state(s, id, &state) != 0)
        fail_msg("mutation state of %s: %s", id, tss_error_last());
    return state;
}

int mu_which_view(const char *what, tss_store *s, const tt_model *m,
                  const mu_del *del)
{
    tt_series *v;
    uint64_t errors;
    size_t n = tt_query(s, NULL, &v, &errors);
    int seen = -1;

    assert_int_equal(errors, 0);
    for (int with = 0; with <= 1 && seen < 0; with++) {
        bool same = true;

        for (size_t i = 0; i < n && same; i++) {
            int k = mu_series_index(&v[i]);
            tss_point *want;
            size_t nwant;

            assert_true(k >= 0);
            nwant = mu_expect(m, m->n, (unsigned)k, del, (size_t)with, &want);
            same = nwant == v[i].n &&
                   memcmp(want, v[i].pts, nwant * sizeof(tss_point)) == 0;
            free(want);
        }
        if (same && n == MU_NSERIES)
            seen = with;
    }
    tt_series_free(v, n);
    if (seen < 0)
        fail_msg("%s: the reader sees neither the store before the delete "
                 "nor after it",
                 what);
    return seen;
}

size_t mu_segments_hold_deleted(const char *dir, const mu_del *del)
{
    tss_point *pts[MU_NSERIES];
    size_t counts[MU_NSERIES], c = 0;

    mu_segment_points(dir, pts, counts);
    for (unsigned k = 0; k < MU_NSERIES; k++)
        for (size_t i = 0; (del->series_mask >> k & 1) && i < counts[k]; i++)
            c += pts[k][i].t >= del->from && pts[k][i].t <= del->to;
    mu_segment_points_free(pts);
    return c;
}
