/*
 * Applying mutation documents (wal.h): deletes from intent to visible,
 * compaction, completion. Runs in the writer, under the seal mutex, so it
 * never interleaves with a seal or a snapshot.
 *
 * Delete steps, each idempotent and recorded by compare-and-swap:
 *   1. targets: every segment that holds a matching series in range now
 *      (recomputed on every resume: a compaction may have replaced one);
 *   2. per target, tombstone entries for the matching series (CAS on the
 *      tombstone sidecar; an existing entry of this mutation means done);
 *   3. state visible: from here every reader hides the points;
 *   4. the head: matching points dropped in memory, then a new snapshot
 *      base, so no snapshot on disk holds them any more ("head":
 *      "filtered"). Only after 3: a base without them, on disk before the
 *      document says visible, would be half a delete.
 * Compaction later rewrites the targets without the points; a document
 * whose targets are all gone and whose head is filtered is marked
 * compacted and removed.
 */
#define _GNU_SOURCE
#include "tsstore/mutation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uuid/uuid.h>

#include "compact.h"
#include "delset.h"
#include "rollup.h"
#include "series.h"
#include "store_internal.h"

#define CAS_RETRIES 16

static int compact_windows(tss_store *s, unsigned flags, tss_apply_result *res);

/* ---- documents ------------------------------------------------------- */

static int new_doc(tss_store *s, int kind, tss_mut *m)
{
    uuid_t u;
    int rc;

    memset(m, 0, sizeof(*m));
    uuid_generate(u);
    memcpy(m->uuid, u, 16);
    uuid_unparse_lower(u, m->id);
    m->kind = kind;
    m->state = TSS_MS_INTENT;
    m->created = m->updated = (int64_t)time(NULL);
    m->to = tss_store_now(s);
    rc = tss_mut_create(s->st, m);
    return rc;
}

/* True if s is UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
static bool utf8_valid(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;

    while (*p) {
        uint32_t c = *p;
        int n = c < 0x80                 ? 0
                : c >= 0xc2 && c <= 0xdf ? 1
                : (c & 0xf0) == 0xe0     ? 2
                : c >= 0xf0 && c <= 0xf4 ? 3
                                         : -1;

        if (n < 0)
            return false;
        c &= n == 0 ? 0x7f : 0x3f >> n;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
            (n == 3 && (c < 0x10000 || c > 0x10ffff)))
            return false;
        p += n + 1;
    }
    return true;
}

int tss_delete_create(tss_store *s, const tss_delete_spec *spec,
                      char id_out[37])
{
    tss_mut m;
    uuid_t u;
    int rc;

    if (!spec->series_glob || !*spec->series_glob)
        return tss_error_set(TSS_EINVAL, "a delete needs a series pattern");
    /* the document is JSON, which its reader checks: a pattern that is
     * not UTF-8 would make it unreadable, and the delete be lost */
    if (!utf8_valid(spec->series_glob) || (spec->ds && !utf8_valid(spec->ds)))
        return tss_error_set(TSS_EINVAL,
                             "a delete's series pattern and data source "
                             "must be UTF-8 (use '?' for other bytes)");
    if (spec->has_from && spec->has_to && spec->from > spec->to)
        return tss_error_set(TSS_EINVAL, "--from is after --to");
    memset(&m, 0, sizeof(m));
    uuid_generate(u);
    memcpy(m.uuid, u, 16);
    uuid_unparse_lower(u, m.id);
    m.kind = TSS_MUT_DELETE;
    m.state = TSS_MS_INTENT;
    m.created = m.updated = (int64_t)time(NULL);
    m.has_from = spec->has_from != 0;
    m.from = spec->from;
    m.to = spec->has_to ? spec->to : tss_store_now(s);
    if (!(m.series = tss_strdup(spec->series_glob)) ||
        (spec->ds && !(m.ds = tss_strdup(spec->ds))))
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
    else
        rc = tss_mut_create(s->st, &m);
    if (rc == 0)
        memcpy(id_out, m.id, 37);
    tss_mut_free(&m);
    return rc;
}

int tss_rollup_request(tss_store *s, char id_out[37])
{
    tss_mut m;
    int rc = new_doc(s, TSS_MUT_ROLLUP, &m);

    if (rc == 0)
        memcpy(id_out, m.id, 37);
    tss_mut_free(&m);
    return rc;
}

int tss_prune_request(tss_store *s, char id_out[37])
{
    tss_mut m;
    int rc = new_doc(s, TSS_MUT_PRUNE, &m);

    if (rc == 0)
        memcpy(id_out, m.id, 37);
    tss_mut_free(&m);
    return rc;
}

int tss_compact_request(tss_store *s, char id_out[37])
{
    tss_mut m;
    int rc = new_doc(s, TSS_MUT_COMPACT, &m);

    if (rc == 0)
        memcpy(id_out, m.id, 37);
    tss_mut_free(&m);
    return rc;
}

int tss_mutation_state(tss_store *s, const char *id, int *state)
{
    tss_mut m;
    int rc = tss_mut_read(s->st, id, &m);

    if (rc == TSS_ENOTFOUND) {
        *state = TSS_MUTATION_REMOVED;
        tss_error_clear();
        return 0;
    }
    if (rc)
        return rc;
    *state = m.state;
    tss_mut_free(&m);
    return 0;
}

int tss_store_change_token(tss_store *s, uint64_t *out)
{
    tss_mut *docs = NULL;
    char **names = NULL;
    size_t n = 0, bad, nnames = 0, len = 0;
    uint64_t *v = NULL;
    int rc;

    /* no log: a corrupt document is reported by the readers and the
     * writer that act on it, not by every poll */
    if ((rc = tss_mut_list(s->st, NULL, NULL, &docs, &n, &bad)) ||
        (rc = tss_storage_list(s->st, TSS_SEG_DIR, "", NULL, &names, &nnames)))
        goto out;
    if (!(v = tss_calloc(n + nnames + 3, sizeof(*v)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        v[len++] = docs[i].etag;
    v[len++] = n;
    v[len++] = bad;
    /* the listing is sorted: the same set gives the same token */
    for (size_t i = 0; i < nnames; i++)
        v[len++] = tss_storage_etag(names[i], strlen(names[i]));
    v[len++] = nnames;
    *out = tss_storage_etag(v, len * sizeof(*v));
out:
    tss_free(v);
    tss_storage_names_free(names, nnames);
    tss_mut_list_free(docs, n);
    return rc;
}

/* ---- which series and points a delete touches ------------------------- */

static bool key_matches(const tss_mut *m, const uint8_t *key, size_t len)
{
    uint8_t copy[TSS_KEY_MAX];
    tss_key_view kv;

    memcpy(copy, key, len);
    return tss_key_decode(copy, len, &kv) == 0 &&
           tss_mut_matches_series(m, &kv.id);
}

/* A rollup segment's entries are one per aggregate, keyed by the series
 * key plus the aggregate byte: a delete matches, counts and tombstones a
 * series once, by its key, through its count entry (one point per
 * interval; readers hide the intervals that start in the range). */
static size_t series_key_len(const tss_seg_entry *en)
{
    return en->key_len - (en->agg ? 1 : 0);
}

static bool counted_entry(const tss_seg_entry *en)
{
    return en->agg == 0 || en->agg == TSS_AGG_COUNT;
}

static bool overlaps(const tss_mut *m, int64_t lo, int64_t hi)
{
    return hi >= (m->has_from ? m->from : INT64_MIN) && lo <= m->to;
}

/* Points of entry e of seg inside the delete's range. */
static int count_in_range(tss_segment *seg, size_t e, const tss_mut *m,
                          uint64_t *count)
{
    tss_point *pts = NULL;
    size_t n = 0, cap = 0;
    int rc = tss_segment_read_points(seg, e, &pts, &n, &cap);

    *count = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        *count += overlaps(m, pts[i].t, pts[i].t);
    tss_free(pts);
    return rc;
}

static void fill_mut(tss_mut *m, const tss_delete_spec *spec, int64_t now)
{
    memset(m, 0, sizeof(*m));
    m->kind = TSS_MUT_DELETE;
    m->series = (char *)spec->series_glob;
    m->ds = (char *)spec->ds;
    m->has_from = spec->has_from != 0;
    m->from = spec->from;
    m->to = spec->has_to ? spec->to : now;
}

/* The series a plan touches, counted once however many files hold them. */
typedef struct plan_key {
    uint8_t *key;
    size_t len;
} plan_key;

typedef struct plan_keys {
    plan_key *v;
    size_t n, cap;
} plan_keys;

static int plan_key_add(plan_keys *k, const uint8_t *key, size_t len)
{
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 64;
        plan_key *nv = tss_realloc(k->v, nc * sizeof(*nv));

        if (!nv)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        k->v = nv;
        k->cap = nc;
    }
    if (!(k->v[k->n].key = tss_malloc(len)))
        return tss_error_set(TSS_ENOMEM, "out of memory");
    memcpy(k->v[k->n].key, key, len);
    k->v[k->n].len = len;
    k->n++;
    return 0;
}

static int cmp_plan_key(const void *a, const void *b)
{
    const plan_key *x = a, *y = b;

    return tss_key_cmp(x->key, x->len, y->key, y->len);
}

static uint64_t plan_keys_distinct(plan_keys *k)
{
    uint64_t distinct = 0;

    if (k->n > 1)
        qsort(k->v, k->n, sizeof(*k->v), cmp_plan_key);
    for (size_t i = 0; i < k->n; i++)
        distinct += i == 0 || cmp_plan_key(&k->v[i - 1], &k->v[i]) != 0;
    return distinct;
}

static void plan_keys_free(plan_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        tss_free(k->v[i].key);
    tss_free(k->v);
}

int tss_delete_plan(tss_store *s, const tss_delete_spec *spec, tss_plan_cb cb,
                    void *ctx, tss_plan_totals *out)
{
    tss_seg_name *segs = NULL;
    tss_snap_view head;
    plan_keys keys = {0};
    size_t n = 0;
    tss_mut m;
    int rc;

    memset(out, 0, sizeof(*out));
    fill_mut(&m, spec, tss_store_now(s));
    if ((rc = tss_snapshot_load(s->st, &s->info, s->log, s->log_ctx, false,
                                &head)) != 0)
        return rc;
    if ((rc = tss_list_segments(s->st, &segs, &n)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char rel[192];
        tss_segment *seg;
        bool touched = false;

        if (!overlaps(&m, segs[i].start, segs[i].end - 1))
            continue;
        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if (tss_segment_open(&seg, s->st, rel) != 0)
            continue; /* verify reports it */
        for (size_t e = 0; e < seg->nentries; e++) {
            const tss_seg_entry *en = &seg->entries[e];
            uint8_t copy[TSS_KEY_MAX];
            tss_key_view kv;
            uint64_t c;

            memcpy(copy, en->key, series_key_len(en));
            if (!counted_entry(en) ||
                tss_key_decode(copy, series_key_len(en), &kv) != 0 ||
                !tss_mut_matches_series(&m, &kv.id) ||
                !overlaps(&m, en->min_t, en->max_t) ||
                count_in_range(seg, e, &m, &c) != 0 || c == 0)
                continue;
            touched = true;
            out->points += c;
            if (cb)
                cb(ctx, &kv.id, kv.kind, rel, c);
            if ((rc = plan_key_add(&keys, en->key, series_key_len(en))) != 0)
                break;
        }
        out->segments += touched;
        tss_segment_close(seg);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < head.n; i++) {
        const tss_snap_item *it = &head.items[i];
        tss_point *pts = NULL;
        size_t np = 0, cap = 0;
        uint64_t c = 0;
        uint8_t copy[TSS_KEY_MAX];
        tss_key_view kv;

        memcpy(copy, it->key, it->key_len);
        if (it->dropped || tss_key_decode(copy, it->key_len, &kv) != 0 ||
            !tss_mut_matches_series(&m, &kv.id))
            continue;
        if (tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, &np, &cap) ==
            0)
            for (size_t k = 0; k < np; k++)
                c += overlaps(&m, pts[k].t, pts[k].t);
        tss_free(pts);
        if (c && cb)
            cb(ctx, &kv.id, kv.kind, "head", c);
        out->head_points += c;
        if (c && (rc = plan_key_add(&keys, it->key, it->key_len)) != 0)
            goto out;
    }
    out->points += out->head_points;
    out->series = plan_keys_distinct(&keys);
out:
    plan_keys_free(&keys);
    tss_free(segs);
    tss_snap_view_free(&head);
    return rc;
}

/* ---- applying a delete --------------------------------------------------- */

static int save_doc(tss_store *s, tss_mut *m)
{
    m->updated = (int64_t)time(NULL);
    return tss_mut_update(s->st, m);
}

/* Step 1: (re)compute targets; keeps the progress of known ones. */
static int compute_targets(tss_store *s, tss_mut *m)
{
    tss_seg_name *segs;
    tss_mut_target *nt;
    size_t n, k = 0;
    int rc;

    if ((rc = tss_list_segments(s->st, &segs, &n)) != 0)
        return rc;
    nt = tss_calloc(n ? n : 1, sizeof(*nt));
    if (!nt) {
        tss_free(segs);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char rel[192];
        tss_segment *seg;
        bool hit = false;

        if (!overlaps(m, segs[i].start, segs[i].end - 1))
            continue;
        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if ((rc = tss_segment_open(&seg, s->st, rel)) != 0) {
            /* a target left out would get its points back once the
             * document is done: only a corrupt segment (which readers
             * skip whole) is passed over; anything else is retried */
            if (rc != TSS_ECORRUPT && rc != TSS_ENOTFOUND)
                break;
            if (rc == TSS_ECORRUPT)
                tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                        "delete %s: segment unreadable, not tombstoned: %s",
                        m->id, tss_error_last());
            rc = 0;
            continue;
        }
        for (size_t e = 0; e < seg->nentries && !hit; e++) {
            uint64_t c;

            if (!counted_entry(&seg->entries[e]) ||
                !overlaps(m, seg->entries[e].min_t, seg->entries[e].max_t) ||
                !key_matches(m, seg->entries[e].key,
                             series_key_len(&seg->entries[e])))
                continue;
            /* [min_t, max_t] may straddle the range without a point in
             * it; an unreadable chunk stays a target, whose tombstone
             * step reports it */
            hit = count_in_range(seg, e, m, &c) != 0 || c > 0;
        }
        tss_segment_close(seg);
        if (!hit)
            continue;
        if (!(nt[k].segment = tss_strdup(rel + strlen(TSS_SEG_DIR) + 1))) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            break;
        }
        for (size_t j = 0; j < m->ntargets; j++)
            if (strcmp(m->targets[j].segment, nt[k].segment) == 0)
                nt[k].tombstoned = m->targets[j].tombstoned;
        k++;
    }
    tss_free(segs);
    if (rc) {
        for (size_t i = 0; i < k; i++)
            tss_free(nt[i].segment);
        tss_free(nt);
        return rc;
    }
    for (size_t i = 0; i < m->ntargets; i++)
        tss_free(m->targets[i].segment);
    tss_free(m->targets);
    m->targets = nt;
    m->ntargets = k;
    return 0;
}

/* Step 2 for one segment: CAS loop on its tombstone sidecar. */
static int tombstone_segment(tss_store *s, tss_mut *m, const char *name)
{
    char rel[256], trel[128];
    tss_segment *seg;
    int rc;

    snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", name);
    if ((rc = tss_segment_open(&seg, s->st, rel)) != 0)
        return rc == TSS_ENOTFOUND ? 0 : rc; /* compacted away: nothing */
    tss_tomb_path(trel, sizeof(trel), seg->name.uuid);
    for (int attempt = 0; attempt < CAS_RETRIES; attempt++) {
        tss_tombstones t;
        tss_buf img = {0};
        uint64_t points = 0;

        if ((rc = tss_tomb_read(s->st, seg, &t)) != 0)
            break;
        if (tss_tomb_has_mutation(&t, m->uuid)) { /* someone did it */
            tss_tomb_free(&t);
            break;
        }
        for (size_t e = 0; e < seg->nentries && rc == 0; e++) {
            const tss_seg_entry *en = &seg->entries[e];
            uint64_t c;

            if (!counted_entry(en) || !overlaps(m, en->min_t, en->max_t) ||
                !key_matches(m, en->key, series_key_len(en)))
                continue;
            rc = count_in_range(seg, e, m, &c);
            if (rc == 0 && c)
                rc = tss_tomb_push(&t, m->uuid, en->key, series_key_len(en),
                                   m->has_from ? m->from : INT64_MIN, m->to);
            points += c;
        }
        if (rc == 0)
            rc = tss_tomb_encode(&t, &img);
        if (rc == 0)
            rc = tss_storage_put_if_match(s->st, trel, t.etag, img.data,
                                          img.len);
        tss_buf_free(&img);
        tss_tomb_free(&t);
        if (rc == TSS_ECAS)
            continue; /* lost a race: re-read, retry */
        if (rc == 0)
            m->points += points;
        break;
    }
    tss_segment_close(seg);
    return rc;
}

static bool head_match(void *ctx, const uint8_t *key, size_t len)
{
    return key_matches(ctx, key, len);
}

/* The whole delete; returns 0 when it is visible and the head filtered. */
static int apply_delete(tss_store *s, tss_mut *m, int64_t now,
                        tss_apply_result *res)
{
    int rc;

    if (m->state == TSS_MS_INTENT || m->state == TSS_MS_APPLYING) {
        if ((rc = compute_targets(s, m)) != 0)
            return rc;
        m->state = TSS_MS_APPLYING;
        if ((rc = save_doc(s, m)) != 0)
            return rc;
        for (size_t i = 0; i < m->ntargets; i++) {
            if (m->targets[i].tombstoned)
                continue;
            if ((rc = tombstone_segment(s, m, m->targets[i].segment)) != 0)
                return rc;
            m->targets[i].tombstoned = true;
            if ((rc = save_doc(s, m)) != 0)
                return rc;
            /* a delete over a year of segments takes a while, the seal
             * mutex held: head snapshot records go on */
            tss_store_snapshot_due(s);
        }
        m->state = TSS_MS_VISIBLE;
        if ((rc = save_doc(s, m)) != 0)
            return rc;
        res->made_visible++;
        res->points_deleted += m->points;
        tss_log(s->log, s->log_ctx, TSS_LEVEL_INFO,
                "delete %s (%s) is visible: %" PRIu64 " point(s) in %zu "
                "segment(s), and the head's",
                m->id, m->series ? m->series : "*", m->points, m->ntargets);
    }
    /* The head only once the document is visible: from then on readers
     * hide its points by the predicate, whereas a snapshot base without
     * them, written before, would show them gone from the head and still
     * in the segments -- half a delete -- until the document said so. */
    if (m->state == TSS_MS_VISIBLE && !m->head_filtered) {
        uint64_t removed;

        /* the base below would not hold windows queued for sealing */
        if ((rc = tss_store_write_queued(s, now)) != 0)
            return rc;
        if ((rc = tss_head_filter(s->head, head_match, m,
                                  m->has_from ? m->from : INT64_MIN, m->to,
                                  &removed)) != 0)
            return rc;
        /* no snapshot on disk may hold the points any more */
        if ((rc = tss_snapshot_base(s->snap, now)) != 0)
            return rc;
        m->points += removed;
        m->head_filtered = true;
        if ((rc = save_doc(s, m)) != 0)
            return rc;
        res->points_deleted += removed;
    }
    return 0;
}

/* A visible delete whose targets are gone is done. */
static int complete(tss_store *s, tss_mut *m, int64_t now,
                    tss_apply_result *res)
{
    char rel[96];
    uint64_t late = 0;
    int rc;

    if (m->kind == TSS_MUT_DELETE && !m->head_filtered)
        return 0; /* the head step first: done, the predicate goes */
    for (size_t i = 0; m->kind == TSS_MUT_DELETE && i < m->ntargets; i++) {
        char seg[256];
        uint64_t size;
        int fd;

        snprintf(seg, sizeof(seg), TSS_SEG_DIR "/%s", m->targets[i].segment);
        if (tss_storage_open_read(s->st, seg, &fd, &size) == 0) {
            tss_storage_close_fd(s->st, fd);
            return 0; /* still to be compacted */
        }
    }
    /* Points written into the range since the head was filtered were
     * hidden by the predicate while the document was visible (and a seal
     * drops them); before the predicate goes, they go too, so no reader
     * sees them come back. */
    if (m->kind == TSS_MUT_DELETE) {
        if ((rc = tss_store_write_queued(s, now)) != 0)
            return rc;
        if ((rc = tss_head_filter(s->head, head_match, m,
                                  m->has_from ? m->from : INT64_MIN, m->to,
                                  &late)) != 0)
            return rc;
        if (late && (rc = tss_snapshot_base(s->snap, now)) != 0)
            return rc;
        res->points_deleted += late;
    }
    if (m->state != TSS_MS_COMPACTED) {
        m->state = TSS_MS_COMPACTED;
        if ((rc = save_doc(s, m)) != 0)
            return rc;
    }
    tss_mut_path(rel, sizeof(rel), m->id);
    if ((rc = tss_storage_remove(s->st, rel)) != 0 && rc != TSS_ENOTFOUND)
        return rc;
    res->removed_docs++;
    return 0;
}

/* Segments with tombstones in effect, for the auto-compaction trigger. */
static size_t tombstoned_segments(tss_store *s)
{
    char **names;
    size_t n, count = 0;

    if (tss_storage_list(s->st, TSS_SEG_DIR, "", ".tombstones", &names, &n))
        return 0;
    count = n;
    tss_storage_names_free(names, n);
    return count;
}

static int reload_deletes(tss_store *s)
{
    tss_delset d;
    int rc = tss_delset_load(s->st, s->log, s->log_ctx, &d);

    if (rc)
        return rc;
    tss_delset_free(&s->deletes);
    s->deletes = d;
    return 0;
}

int tss_store_apply_mutations(tss_store *s, int64_t now, tss_apply_result *res)
{
    tss_apply_result local;
    tss_mut *docs = NULL;
    size_t n = 0, bad;
    bool compact = false, merge = false, prune = false, rollup = false;
    int rc, last = 0;

    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    pthread_mutex_lock(&s->seal_mu);
    if ((rc = tss_mut_list(s->st, s->log, s->log_ctx, &docs, &n, &bad)))
        goto out;
    /* this pass applies these (or fails on them, and says so): a document
     * created after this listing is left for the next pass, or for
     * tss_store_close_writer's look after the LOCK is released */
    tss_store_note_seen(s, docs, n);
    for (size_t i = 0; i < n; i++) {
        tss_mut *m = &docs[i];

        if (m->kind == TSS_MUT_COMPACT) {
            compact = merge = true;
            continue;
        }
        if (m->kind == TSS_MUT_PRUNE) {
            prune = true;
            continue;
        }
        if (m->kind == TSS_MUT_ROLLUP) {
            rollup = true;
            continue;
        }
        rc = apply_delete(s, m, now, res);
        if (rc) {
            last = rc;
            res->pending++;
            tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                    "delete %s not applied yet (retried): %s", m->id,
                    tss_error_last());
        }
    }
    if ((rc = reload_deletes(s)) != 0)
        goto out;
    if ((s->compact_after && tombstoned_segments(s) >= s->compact_after) ||
        s->cov_stale)
        compact = true;
    pthread_mutex_unlock(&s->seal_mu);
    if (compact &&
        (rc = compact_windows(s, merge ? TSS_COMPACT_MERGE : 0, res)) != 0)
        last = rc;
    if (prune && (rc = tss_store_prune(s, now, &res->prune)) != 0)
        last = rc;
    if (rollup && (rc = tss_store_rollup(s, now, &res->rollup)) != 0)
        last = rc;
    pthread_mutex_lock(&s->seal_mu);
    /* completion: re-read, compaction changed documents' worlds */
    tss_mut_list_free(docs, n);
    docs = NULL;
    n = 0;
    if ((rc = tss_mut_list(s->st, s->log, s->log_ctx, &docs, &n, &bad)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        tss_mut *m = &docs[i];

        if ((m->kind == TSS_MUT_COMPACT && !(compact && last == 0)) ||
            (m->kind == TSS_MUT_PRUNE && !(prune && last == 0)) ||
            (m->kind == TSS_MUT_ROLLUP && !(rollup && last == 0)))
            continue;
        if (m->kind == TSS_MUT_DELETE && m->state < TSS_MS_VISIBLE)
            continue;
        if ((rc = complete(s, m, now, res)) != 0)
            last = rc;
    }
    rc = reload_deletes(s);
out:
    tss_mut_list_free(docs, n);
    pthread_mutex_unlock(&s->seal_mu);
    return rc ? rc : last;
}

void tss_store_open_applied(const tss_store *s, tss_apply_result *out)
{
    *out = s->opened;
}

/* ---- compaction ------------------------------------------------------ */

/* The resolution of a segment (0: raw); -1 if it cannot be read. */
static int64_t seg_resolution(tss_store *s, const tss_seg_name *sn)
{
    char rel[192];
    tss_segment *seg;
    int64_t r;

    tss_seg_name_format(rel, sizeof(rel), sn);
    if (tss_segment_open(&seg, s->st, rel) != 0)
        return -1;
    r = seg->resolution;
    tss_segment_close(seg);
    return r;
}

/* Adds what it did to *res (tss_store_apply_mutations' counts too). */
static int compact_windows(tss_store *s, unsigned flags, tss_apply_result *res)
{
    tss_seg_name *segs = NULL, *grp = NULL;
    bool *done = NULL;
    size_t n = 0;
    uint64_t leftovers;
    bool touched = false, invalidated = false;
    int rc;

    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    pthread_mutex_lock(&s->seal_mu);
    /* it removes segments: no intent record may name them (a late
     * batch's seal wrote none); then what a compaction that failed part
     * way left (also done at open) */
    if ((rc = tss_store_base_owed(s, tss_store_now(s))) != 0 ||
        (rc = tss_remove_superseded(s->st, s->log, s->log_ctx, &leftovers)) !=
            0 ||
        (rc = reload_deletes(s)) != 0 ||
        (rc = tss_list_segments(s->st, &segs, &n)) != 0)
        goto out;
    touched = leftovers > 0;
    done = tss_calloc(n ? n : 1, sizeof(*done));
    grp = tss_calloc(n ? n : 1, sizeof(*grp));
    if (!done || !grp) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t g = 0;
        bool tomb = false;

        if (done[i])
            continue;
        /* one group: the segments of one window (same start and end: a
         * rollup window is wider than the raw ones it starts with) at one
         * resolution (late raw points beside a rollup wait for the next
         * rollup pass, which folds them in) */
        int64_t r0 = INT64_MIN; /* segs[i]'s, read when needed */

        for (size_t k = i; k < n && segs[k].start == segs[i].start; k++) {
            if (done[k] || segs[k].end != segs[i].end)
                continue;
            if (k > i && r0 == INT64_MIN)
                r0 = seg_resolution(s, &segs[i]);
            if (k > i && seg_resolution(s, &segs[k]) != r0)
                continue;
            done[k] = true;
            grp[g++] = segs[k];
        }
        for (size_t k = 0; k < g && !tomb; k++) {
            char trel[128];
            uint64_t size;
            int fd;

            tss_tomb_path(trel, sizeof(trel), grp[k].uuid);
            if (tss_storage_open_read(s->st, trel, &fd, &size) == 0) {
                tss_storage_close_fd(s->st, fd);
                tomb = true;
            }
        }
        tss_error_clear();
        if (tomb || ((flags & TSS_COMPACT_MERGE) && g > 1)) {
            tss_compact_out co;

            touched = true;
            rc = tss_compact_window(s->st, &s->info, grp, g, s->next_seq,
                                    &s->deletes, &co);
            /* spent even when it failed: the segment may be on disk, and
             * two segments of one seq break the coverage's covered_seq */
            s->next_seq++;
            /* every point deleted: the old segments go without a
             * successor, which the table snapshot would not notice after
             * a crash (as retention and a rollup's Keep) */
            if (rc == 0 && !co.wrote && !invalidated &&
                (rc = tss_store_cov_invalidate(s)) == 0)
                invalidated = true;
            for (size_t k = 0; rc == 0 && !co.wrote && k < g; k++)
                rc = tss_remove_segment(s->st, &grp[k]);
            if (rc) {
                tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                        "compaction of window %" PRId64 " failed: %s",
                        segs[i].start, tss_error_last());
                /* ours after a failed removal (else empty) */
                tss_sidecar_free(&co.cov);
                break; /* the coverage still follows what changed */
            }
            res->compacted++;
            res->bytes_rewritten += co.bytes_written;
            tss_log(s->log, s->log_ctx, TSS_LEVEL_INFO,
                    "compacted window %" PRId64 ": %zu segment(s), %" PRIu64
                    " point(s) into %" PRIu64,
                    segs[i].start, g, co.points_before, co.points_after);
            tss_sidecar_free(&co.cov);
            /* the seal mutex is ours until every window is done */
            tss_store_snapshot_due(s);
        }
    }
    /* coverage from scratch (from the sidecars, not the old snapshot):
     * compaction removes buckets, a failed one may have removed some; the
     * new version outranks every old one */
    if (touched)
        s->cov_stale = true;
    if (s->cov_stale)
        rc = tss_store_cov_rebuild_after(s, rc);
out:
    tss_free(segs);
    tss_free(grp);
    tss_free(done);
    pthread_mutex_unlock(&s->seal_mu);
    return rc;
}

int tss_store_compact(tss_store *s, int64_t now, unsigned flags,
                      tss_apply_result *res)
{
    tss_apply_result local;

    (void)now;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    return compact_windows(s, flags, res);
}
