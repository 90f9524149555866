/*
 * Head snapshots, a reader's copy (tss_snap_cache): the view a load gave,
 * kept and brought up to date by reading only what the writer appended
 * to the log since, instead of the whole snapshot again.
 *
 * Why: loading the head costs ~11 ns a point decoded (40 ms for an hour
 * of 10,000 series at 10 s, whole). A long-lived reader (the read plugin,
 * a process serving coverage queries) pays that once, then per query the
 * records appended meanwhile.
 *
 * Partial views: a cache's first load, when asked for key bounds, decodes
 * only the groups of ids that hold series in them (tss_snapshot_load_sel;
 * a first query of one host's series reads ~1/80 of the points of 10,000
 * series). Reading on, it loads the groups of ids new since whole (a new
 * group's first item does not tell whether later items in it are wanted),
 * so a partial cache that reads on for hours drifts towards a whole one:
 * correct, only the cost grows back. A wanted new item in a group it left
 * out makes it load again, partially; other bounds, whole.
 *
 * When it may read on: the newest generation is still the one it loaded,
 * and log-<gen> is the file it read (its first 16 bytes, a record header
 * with its checksum, are the same) and no shorter. Within a generation the
 * writer only appends whole records to the log (snapshot.h); a new base is
 * a new generation. Anything else — a new generation, a log moved aside,
 * a damaged or unreadable record, a log read from its ".corrupt" name — is
 * a full load, as tss_snapshot_load would do it now. Intents whose segment
 * did not exist yet are checked again at every call: once it does, their
 * items are dropped, as a fresh load would.
 */
#define _GNU_SOURCE
#include "snapshot_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "series.h"

/* Key bounds [lo, hi) (memcmp order; a NULL bound: unbounded). */
typedef struct key_range {
    uint8_t *lo, *hi;
    size_t lo_len, hi_len;
} key_range;

struct tss_snap_cache {
    tss_snap_view v;
    tss_snap_tail tail;
    bool loaded, used;
    /* a partial view (the first load): of the series in `range` */
    bool partial;
    key_range range;
    tss_snap_sel sel;
    /* the positions of the view's items, sorted by key, for
     * tss_snap_cache_range; built when asked, of the first `nsorted`
     * items (new ones come last), `norder` of them */
    uint32_t *order;
    size_t norder, nsorted;
};

static bool in_range(const void *ctx, const uint8_t *key, size_t len)
{
    const key_range *r = ctx;

    return (!r->lo || tss_key_cmp(key, len, r->lo, r->lo_len) >= 0) &&
           (!r->hi || tss_key_cmp(key, len, r->hi, r->hi_len) < 0);
}

static bool same_bound(const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen)
{
    return (!a && !b) || (a && b && alen == blen && memcmp(a, b, alen) == 0);
}

static void range_free(key_range *r)
{
    tss_free(r->lo);
    tss_free(r->hi);
    memset(r, 0, sizeof(*r));
}

static int range_set(key_range *r, const uint8_t *lo, size_t lo_len,
                     const uint8_t *hi, size_t hi_len)
{
    range_free(r);
    if ((lo && !(r->lo = tss_malloc(lo_len ? lo_len : 1))) ||
        (hi && !(r->hi = tss_malloc(hi_len ? hi_len : 1)))) {
        range_free(r);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    if (lo)
        memcpy(r->lo, lo, lo_len);
    if (hi)
        memcpy(r->hi, hi, hi_len);
    r->lo_len = lo_len;
    r->hi_len = hi_len;
    return 0;
}

void tss_snap_cache_free(tss_snap_cache *c)
{
    if (!c)
        return;
    tss_snap_view_free(&c->v);
    tss_snap_tail_free(&c->tail);
    range_free(&c->range);
    tss_free(c->order);
    tss_free(c);
}

static void cache_drop(tss_snap_cache *c)
{
    tss_snap_view_free(&c->v);
    tss_snap_tail_free(&c->tail);
    c->norder = c->nsorted = 0;
    c->loaded = false;
}

static int cmp_items(const void *a, const void *b, void *ctx)
{
    const tss_snap_item *items = ctx;
    const tss_snap_item *x = &items[*(const uint32_t *)a];
    const tss_snap_item *y = &items[*(const uint32_t *)b];
    int d = tss_key_cmp(x->key, x->key_len, y->key, y->key_len);

    /* a series' items (one per window) in their order */
    return d ? d : (x->id > y->id) - (x->id < y->id);
}

/* The first position in order[0, n) whose key is >= key. */
static size_t lower_bound(const tss_snap_cache *c, const uint8_t *key,
                          size_t len)
{
    size_t lo = 0, hi = c->norder;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const tss_snap_item *it = &c->v.items[c->order[mid]];

        if (tss_key_cmp(it->key, it->key_len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int tss_snap_cache_range(tss_snap_cache *c, const uint8_t *lo, size_t lo_len,
                         const uint8_t *hi, size_t hi_len, const uint32_t **idx,
                         size_t *n)
{
    size_t a, b;

    if (c->nsorted != c->v.n) {
        uint32_t *no =
            tss_realloc(c->order, (c->v.n ? c->v.n : 1) * sizeof(*no));

        if (!no)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        c->order = no;
        c->norder = 0;
        for (size_t i = 0; i < c->v.n; i++)
            c->order[c->norder++] = (uint32_t)i;
        qsort_r(c->order, c->norder, sizeof(*c->order), cmp_items, c->v.items);
        c->nsorted = c->v.n;
    }
    a = lo ? lower_bound(c, lo, lo_len) : 0;
    b = hi ? lower_bound(c, hi, hi_len) : c->norder;
    *n = b > a ? b - a : 0;
    *idx = *n ? c->order + a : NULL;
    return 0;
}

/* Drops the items of pending intents whose segment now exists. */
static void check_pending(tss_snap_cache *c, tss_storage *st)
{
    size_t k = 0;

    for (size_t i = 0; i < c->tail.npending; i++) {
        tss_snap_intent *in = &c->tail.pending[i];

        if (tss_snap_file_exists(st, in->rel)) {
            tss_snap_drop_intent(&c->v, in);
            tss_free(in->rel);
            tss_free(in->ids);
            continue;
        }
        c->tail.pending[k++] = *in;
    }
    c->tail.npending = k;
}

/*
 * Replays the records appended to log-<gen> since the last call: 0 (also
 * when there are none), 1 when the cache cannot read on (a full load is
 * due), or an error (TSS_ENOMEM, TSS_EIO) that leaves the view unusable.
 */
static int read_on(tss_snap_cache *c, tss_storage *st,
                   const tss_store_info *info, tss_log_fn log, void *log_ctx)
{
    char rel[96];
    uint8_t head[16], *buf = NULL;
    uint64_t newest = tss_snapshot_newest(st);
    tss_snap_intent *ins = NULL;
    size_t nin = 0, len, bad_off = 0, done = 0;
    const char *why = NULL;
    int rc;

    if (!c->tail.extendable || newest == 0 || newest != c->v.newest_seen)
        return 1;
    snprintf(rel, sizeof(rel), TSS_HEAD_DIR "/log-%" PRIu64, c->v.gen);
    /* with its staged records (snapshot_stage.c) */
    rc =
        tss_snap_log_read(st, c->v.gen, rel, c->tail.log_off, &buf, &len, head);
    if (rc == TSS_ENOTFOUND && c->tail.log_off == 0) {
        tss_error_clear(); /* no record yet */
        return 0;
    }
    if (rc && rc != TSS_ENOMEM) {
        /* shorter than what it read (not the file it read), gone, or
         * longer than a load reads: a full load sorts it out */
        tss_error_clear();
        rc = 1;
    }
    if (rc)
        goto out;
    if (c->tail.log_off >= sizeof(head) &&
        memcmp(head, c->tail.log_head, sizeof(head)) != 0) {
        rc = 1; /* another file under the same name */
        goto out;
    }
    if (len == 0)
        goto out;
    rc = tss_snap_log_replay(buf, len, rel, info->span,
                             c->partial ? &c->sel : NULL, log, log_ctx, &c->v,
                             &ins, &nin, &bad_off, &why, &done);
    if (rc == TSS_SNAP_NEED_FULL)
        goto out; /* a partial view that lacks what a record needs */
    if (rc == 0 && why) {
        rc = 1; /* damage: a full load reports it as a load does */
        goto out;
    }
    if (rc)
        goto out;
    /* the first record arrived now (a record is 16 bytes at least):
     * remember how the file starts */
    if (c->tail.log_off == 0 && done >= sizeof(head))
        memcpy(c->tail.log_head, buf, sizeof(head));
    c->tail.log_off += done;
    c->v.bytes += done;
    for (size_t i = 0; i < nin; i++) {
        tss_snap_intent *np =
            tss_realloc(c->tail.pending, (c->tail.npending + 1) * sizeof(*np));

        if (!np) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto out;
        }
        c->tail.pending = np;
        c->tail.pending[c->tail.npending++] = ins[i];
        memset(&ins[i], 0, sizeof(ins[i]));
    }
out:
    if (rc == TSS_ECORRUPT) { /* a short read: the file changed under us */
        tss_error_clear();
        rc = 1;
    }
    tss_snap_intents_free(ins, nin);
    tss_free(buf);
    return rc;
}

int tss_snap_cache_load(tss_snap_cache **cache, tss_storage *st,
                        const tss_store_info *info, tss_log_fn log,
                        void *log_ctx, const uint8_t *lo, size_t lo_len,
                        const uint8_t *hi, size_t hi_len,
                        const tss_snap_view **view)
{
    tss_snap_cache *c = *cache;
    int rc = 1;

    *view = NULL;
    if (!c) {
        if (!(c = tss_calloc(1, sizeof(*c))))
            return tss_error_set(TSS_ENOMEM, "out of memory");
        c->sel = (tss_snap_sel){in_range, &c->range};
        *cache = c;
    }
    /* a partial view serves the bounds it was loaded for; other bounds
     * make it whole, for good: a handle that asks for different series
     * would otherwise load again at every call */
    if (!c->used && (lo || hi)) {
        if ((rc = range_set(&c->range, lo, lo_len, hi, hi_len)) != 0)
            return rc;
        c->partial = true;
        rc = 1;
    } else if (c->partial &&
               !(same_bound(lo, lo_len, c->range.lo, c->range.lo_len) &&
                 same_bound(hi, hi_len, c->range.hi, c->range.hi_len))) {
        cache_drop(c);
        c->partial = false;
    }
    c->used = true;
    if (c->loaded)
        rc = read_on(c, st, info, log, log_ctx);
    if (rc == 1) {
        cache_drop(c);
        rc = tss_snap_load_tail(st, info, log, log_ctx, false,
                                c->partial ? &c->sel : NULL, &c->v, &c->tail);
    }
    if (rc) {
        cache_drop(c);
        return rc;
    }
    c->loaded = true;
    check_pending(c, st);
    *view = &c->v;
    return 0;
}
