/*
 * Reading: pick segments by window, merge series across them.
 *
 * Segments are ordered by (window start, seq). For one series, segments of
 * different windows never overlap in time, so their points concatenate;
 * segments of the same window (late points, flushes) are merged with the
 * later seq winning on equal timestamps.
 */
#define _GNU_SOURCE
#include "tsstore/query.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>

#include "segment.h"
#include "series.h"
#include "delset.h"
#include "snapshot.h"
#include "tombstone.h"
#include "store_internal.h"

/* Segments whose descriptor a query keeps from its open to its close: a
 * segment removed meanwhile (compaction, a rollup, retention replacing or
 * dropping it) stays readable through it. A query over more segments
 * reopens the others by name for their chunks, which can find one gone. */
#define QUERY_OPEN_FDS 256

/* One source of a series' points: a segment entry, or a head item from
 * the snapshot (which is newer than any segment of its window). */
typedef struct ref {
    const uint8_t *key;
    size_t key_len;  /* a rollup's key ends in the aggregate byte */
    size_t skey_len; /* the series key's length */
    int64_t res;     /* 0 raw, else the rollup's resolution */
    int64_t start;
    uint64_t seq;
    uint32_t seg, entry; /* head: seg == HEAD_REF, entry = item index */
} ref;

#define HEAD_REF UINT32_MAX

/* At most this many key prefixes for a series glob; more: read every
 * segment's whole table. */
#define QUERY_MAX_PREFIXES 64
/* Glob text mapped to key prefixes (more is cut: a shorter prefix). */
#define QUERY_PREFIX_TEXT 255

struct tss_query {
    tss_store *s;
    char *glob, *ds;
    tss_filter f;
    tss_segment **segs;
    size_t nsegs;
    tss_snap_view head;
    tss_delset del;        /* deletes in effect */
    tss_tombstones *tombs; /* per segment, parallel to segs */
    bool any_deletes;      /* disables the table-figures fast path */
    tss_range *ranges;
    size_t rcap;
    ref *refs;
    size_t nrefs, pos, cur_begin, cur_end;
    size_t glob_lit; /* bytes of the glob before its first '/' or wildcard */
    /* key prefixes of the series the glob can match (glob_prefixes) */
    tss_seg_prefix pre[QUERY_MAX_PREFIXES];
    uint8_t *pre_bytes;
    size_t npre;
    size_t pre_common; /* bytes every prefix starts with (pre[0]'s) */
    uint8_t key[TSS_KEY_MAX + 1]; /* a rollup's: and an aggregate byte */
    tss_point *pts, *tmp;
    size_t npts, cap, tcap;
    bool decoded;
    uint64_t errors;
};

/* A file or chunk that cannot be read: report it, count it, go on. */
static void report(tss_query *q, const char *what, const char *detail)
{
    q->errors++;
    tss_log(q->s->log, q->s->log_ctx, TSS_LEVEL_ERR, "skipping %s: %s", what,
            detail);
}

static int seg_cmp(const void *a, const void *b)
{
    const tss_segment *x = *(tss_segment *const *)a;
    const tss_segment *y = *(tss_segment *const *)b;

    if (x->name.start != y->name.start)
        return x->name.start < y->name.start ? -1 : 1;
    if (x->name.seq != y->name.seq)
        return x->name.seq < y->name.seq ? -1 : 1;
    return 0;
}

static int ref_cmp(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    int c = tss_key_cmp(x->key, x->key_len, y->key, y->key_len);

    if (c)
        return c;
    if (x->res != y->res)
        return x->res < y->res ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool in_range(const tss_filter *f, int64_t lo, int64_t hi)
{
    return (!f->has_from || hi >= f->from) && (!f->has_to || lo <= f->to);
}

/* A segment another one supersedes is invisible (compaction output, a
 * rollup). A segment supersedes only segments within its window, which
 * for a rollup holds several raw windows (and finer rollups): not only
 * those of its start. Every segment's supersede list counts, so none is
 * closed before all are marked. */
static int drop_superseded(tss_query *q)
{
    bool *gone = tss_calloc(q->nsegs ? q->nsegs : 1, sizeof(*gone));
    size_t k = 0;

    if (!gone)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < q->nsegs; i++)
        for (size_t j = 0; j < q->nsegs && !gone[i]; j++)
            for (size_t u = 0; u < q->segs[j]->nsupersedes && !gone[i]; u++)
                gone[i] = q->segs[j]->name.start <= q->segs[i]->name.start &&
                          q->segs[i]->name.end <= q->segs[j]->name.end &&
                          memcmp(q->segs[j]->supersedes[u],
                                 q->segs[i]->name.uuid, 16) == 0;
    for (size_t i = 0; i < q->nsegs; i++) {
        if (gone[i])
            tss_segment_close(q->segs[i]);
        else
            q->segs[k++] = q->segs[i];
    }
    q->nsegs = k;
    tss_free(gone);
    return 0;
}

/* Keeps the segments of the filter's resolution (superseded ones are
 * dropped first, across resolutions: a rollup replaces raw segments). */
static void keep_resolution(tss_query *q)
{
    size_t k = 0;

    for (size_t i = 0; i < q->nsegs; i++) {
        int64_t r = q->segs[i]->resolution;
        bool keep = q->f.resolution == TSS_RES_AUTO ||
                    r == (q->f.resolution > 0 ? q->f.resolution : 0);

        if (keep)
            q->segs[k++] = q->segs[i];
        else
            tss_segment_close(q->segs[i]);
    }
    q->nsegs = k;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* False if a segment this query opened is gone from a fresh listing: it
 * was replaced (compaction, a rollup) or removed while the query read the
 * tombstones, which went with it -- this query would show its points with
 * the deletes the tombstones held undone. */
static bool all_still_listed(tss_query *q)
{
    char **names;
    size_t n;
    bool all = true;

    if (tss_storage_list(q->s->st, TSS_SEG_DIR, "", ".seg", &names, &n) != 0) {
        tss_error_clear();
        return true; /* cannot tell: as before */
    }
    for (size_t i = 0; i < q->nsegs && all; i++)
        all = bsearch(q->segs[i]->rel + strlen(TSS_SEG_DIR) + 1, names, n,
                      sizeof(*names), cmp_name) != NULL;
    tss_storage_names_free(names, n);
    return all;
}

/* Where a prefix enumeration stands (glob_prefixes). */
typedef struct prefix_gen {
    const char *lit;
    size_t n;
    uint8_t buf[2 * QUERY_PREFIX_TEXT + 8];
    uint8_t *out; /* QUERY_MAX_PREFIXES slots of sizeof(buf) */
    size_t len[QUERY_MAX_PREFIXES];
    size_t count;
    bool overflow;
} prefix_gen;

/* The fields of an identifier host/plugin[-pinst]/type[-tinst], in the
 * order a key holds them (series.h). */
enum { F_HOST, F_PLUGIN, F_PINST, F_TYPE, F_TINST };

static void gen_prefixes(prefix_gen *g, size_t i, int field, size_t blen)
{
    char ch;
    int to = -1, nuls = 1;

    if (g->overflow)
        return;
    if (i == g->n) {
        if (g->count == QUERY_MAX_PREFIXES) {
            g->overflow = true;
            return;
        }
        memcpy(g->out + g->count * sizeof(g->buf), g->buf, blen);
        g->len[g->count++] = blen;
        return;
    }
    ch = g->lit[i];
    /* the character is part of the field ... */
    g->buf[blen] = (uint8_t)ch;
    gen_prefixes(g, i + 1, field, blen + 1);
    /* ... or the separator that ends it (any field may hold either) */
    if (ch == '/' && field == F_HOST)
        to = F_PLUGIN;
    else if (ch == '-' && field == F_PLUGIN)
        to = F_PINST;
    else if (ch == '/' && field == F_PLUGIN)
        to = F_TYPE, nuls = 2; /* no plugin instance */
    else if (ch == '/' && field == F_PINST)
        to = F_TYPE;
    else if (ch == '-' && field == F_TYPE)
        to = F_TINST;
    if (to < 0)
        return;
    memset(g->buf + blen, 0, (size_t)nuls);
    gen_prefixes(g, i + 1, to, blen + (size_t)nuls);
}

/*
 * The key prefixes that every series the glob can match starts with:
 * the glob's text up to its first wildcard, read as the start of an
 * identifier in every way its '/' and '-' can split it into fields (a
 * field may hold either character). Segments are then opened for those
 * prefixes only (tss_segment_open_select). None (whole tables) without a
 * glob, when it starts with a wildcard, or when it splits too many ways.
 */
static int glob_prefixes(tss_query *q)
{
    prefix_gen *g;

    q->npre = 0;
    if (!q->f.series_glob)
        return 0;
    g = tss_calloc(1, sizeof(*g));
    if (!g || !(g->out = tss_malloc(QUERY_MAX_PREFIXES * sizeof(g->buf)))) {
        tss_free(g);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    g->lit = q->f.series_glob;
    g->n = strcspn(g->lit, "*?[\\");
    if (g->n > QUERY_PREFIX_TEXT)
        g->n = QUERY_PREFIX_TEXT;
    if (g->n > 0)
        gen_prefixes(g, 0, F_HOST, 0);
    if (!g->overflow && g->count > 0) {
        for (size_t i = 0; i < g->count; i++)
            q->pre[i] =
                (tss_seg_prefix){g->out + i * sizeof(g->buf), g->len[i]};
        q->npre = g->count;
        q->pre_bytes = g->out;
        g->out = NULL;
        q->pre_common = q->pre[0].len;
        for (size_t i = 1; i < q->npre; i++) {
            size_t k = 0;

            while (k < q->pre_common && k < q->pre[i].len &&
                   q->pre[i].bytes[k] == q->pre[0].bytes[k])
                k++;
            q->pre_common = k;
        }
    }
    tss_free(g->out);
    tss_free(g);
    return 0;
}

static int open_segments(tss_query *q)
{
    char **names = NULL;
    size_t n = 0;
    int rc, attempt = 0;
    bool vanished;

again:
    vanished = false;
    rc = tss_storage_list(q->s->st, TSS_SEG_DIR, "", ".seg", &names, &n);
    if (rc)
        return rc;
    q->segs = tss_calloc(n ? n : 1, sizeof(*q->segs));
    if (!q->segs) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        tss_seg_name sn;
        tss_segment *seg;

        if (tss_seg_name_parse(names[i], &sn) != 0) {
            tss_error_clear();
            continue; /* not ours; verify reports strays */
        }
        if (!in_range(&q->f, sn.start, sn.end - 1))
            continue;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
        rc = tss_segment_open_select(&seg, q->s->st, rel, q->pre, q->npre);
        if (rc == TSS_ENOMEM)
            goto out;
        if (rc == TSS_ENOTFOUND) { /* removed since the listing */
            rc = 0;
            vanished = true;
            continue;
        }
        if (rc) {
            report(q, "unreadable segment", tss_error_last());
            rc = 0;
            continue;
        }
        /* the first QUERY_OPEN_FDS keep their descriptor; chunks of the
         * others are read by reopening: a long store must not hold an fd
         * per segment */
        if (q->nsegs >= QUERY_OPEN_FDS) {
            tss_storage_close_fd(seg->st, seg->fd);
            seg->fd = -1;
        }
        q->segs[q->nsegs++] = seg;
    }
    /* a segment removed since the listing was replaced, maybe, by one the
     * listing is too old to hold (compaction and rollups write the new
     * segment, then remove the old): without either, its window would be
     * missing from this query. List again. */
    if (vanished && attempt++ < 16) {
        for (size_t i = 0; i < q->nsegs; i++)
            tss_segment_close(q->segs[i]);
        tss_free(q->segs);
        q->segs = NULL;
        q->nsegs = 0;
        tss_storage_names_free(names, n);
        names = NULL;
        n = 0;
        tss_error_clear();
        goto again;
    }
    if ((rc = drop_superseded(q)) != 0)
        goto out;
    keep_resolution(q);
    if (q->nsegs > 1)
        qsort(q->segs, q->nsegs, sizeof(*q->segs), seg_cmp);
    q->tombs = tss_calloc(q->nsegs ? q->nsegs : 1, sizeof(*q->tombs));
    if (!q->tombs) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < q->nsegs; i++) {
        rc = tss_tomb_read(q->s->st, q->segs[i], &q->tombs[i]);
        if (rc == TSS_ENOMEM)
            goto out;
        if (rc) /* the documents' predicates still hide what is deleted */
            report(q, "unreadable tombstones", tss_error_last());
        rc = 0;
        if (q->tombs[i].n)
            q->any_deletes = true;
    }
    if (attempt < 16 && !all_still_listed(q)) {
        for (size_t i = 0; i < q->nsegs; i++) {
            tss_tomb_free(&q->tombs[i]);
            tss_segment_close(q->segs[i]);
        }
        tss_free(q->tombs);
        q->tombs = NULL;
        tss_free(q->segs);
        q->segs = NULL;
        q->nsegs = 0;
        q->any_deletes = false;
        tss_storage_names_free(names, n);
        names = NULL;
        n = 0;
        attempt++;
        goto again;
    }
out:
    tss_storage_names_free(names, n);
    return rc;
}

static void item_range(const tss_snap_item *it, int64_t *lo, int64_t *hi)
{
    *lo = it->enc.count ? it->enc.t0 : INT64_MAX;
    *hi = it->enc.count ? it->enc.last_t : INT64_MIN;
    for (uint32_t i = 0; i < it->nooo; i++) {
        if (it->ooo[i].t < *lo)
            *lo = it->ooo[i].t;
        if (it->ooo[i].t > *hi)
            *hi = it->ooo[i].t;
    }
}

/*
 * Whether the series with key `key` (skey_len bytes, without a rollup's
 * aggregate byte) can be in the result: the key must start with the
 * series glob's literal text up to its first '/' or wildcard (a key
 * starts with the host field, series.h), and then the identifier must
 * match the glob and the ds the filter. Checked while the refs are
 * collected, so that a query for one series does not sort every entry of
 * every segment (tss_query_next applies the same filter again).
 */
static bool selected(const tss_query *q, const uint8_t *key, size_t skey_len)
{
    uint8_t copy[TSS_KEY_MAX];
    tss_key_view kv;

    if (!q->f.series_glob && !q->f.ds)
        return true;
    if (q->glob_lit > skey_len ||
        (q->glob_lit && memcmp(key, q->f.series_glob, q->glob_lit) != 0))
        return false;
    if (skey_len > sizeof(copy))
        return true; /* left to tss_query_next, which reports it */
    memcpy(copy, key, skey_len);
    return tss_key_decode(copy, skey_len, &kv) != 0 ||
           tss_filter_match(&q->f, &kv.id);
}

static int collect_refs(tss_query *q)
{
    size_t total = q->head.n;

    q->glob_lit = q->f.series_glob ? strcspn(q->f.series_glob, "*?[\\/") : 0;

    for (size_t i = 0; i < q->nsegs; i++)
        total += q->segs[i]->nentries;
    q->refs = tss_calloc(total ? total : 1, sizeof(*q->refs));
    if (!q->refs)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < q->nsegs; i++) {
        const tss_segment *seg = q->segs[i];

        for (size_t e = 0; e < seg->nentries; e++) {
            const tss_seg_entry *en = &seg->entries[e];

            if (!in_range(&q->f, en->min_t, en->max_t) ||
                !selected(q, en->key, en->key_len - (en->agg ? 1 : 0)))
                continue;
            q->refs[q->nrefs] = (ref){en->key,
                                      en->key_len,
                                      en->key_len - (en->agg ? 1 : 0),
                                      seg->resolution,
                                      seg->name.start,
                                      seg->name.seq,
                                      (uint32_t)i,
                                      (uint32_t)e};
            q->nrefs++;
        }
    }
    for (size_t i = 0; q->f.resolution <= 0 && i < q->head.n; i++) {
        const tss_snap_item *it = &q->head.items[i];
        int64_t lo, hi;

        item_range(it, &lo, &hi);
        if (it->dropped || lo > hi || !in_range(&q->f, lo, hi) ||
            !selected(q, it->key, it->key_len))
            continue;
        q->refs[q->nrefs] =
            (ref){it->key,   it->key_len, it->key_len, 0,
                  it->start, UINT64_MAX,  HEAD_REF,    (uint32_t)i};
        q->nrefs++;
    }
    if (q->nrefs > 1)
        qsort(q->refs, q->nrefs, sizeof(*q->refs), ref_cmp);
    return 0;
}

/* Documents the tombstones name that the listing missed (tss_delset.h). */
static int resolve_tombstones(tss_query *q)
{
    for (size_t i = 0; i < q->nsegs; i++) {
        int rc = q->tombs[i].n
                     ? tss_delset_resolve(q->s->st, &q->del, &q->tombs[i])
                     : 0;

        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Drops what a query loaded, to load it again. */
static void unload(tss_query *q)
{
    for (size_t i = 0; i < q->nsegs; i++)
        tss_segment_close(q->segs[i]);
    for (size_t i = 0; q->tombs && i < q->nsegs; i++)
        tss_tomb_free(&q->tombs[i]);
    tss_free(q->tombs);
    tss_free(q->segs);
    q->tombs = NULL;
    q->segs = NULL;
    q->nsegs = 0;
    tss_snap_view_free(&q->head);
    tss_delset_free(&q->del);
    q->any_deletes = false;
}

/* tss_snap_sel's test: the key starts with one of the query's prefixes. */
static bool key_wanted(const void *ctx, const uint8_t *key, size_t len)
{
    const tss_query *q = ctx;

    /* most keys (other hosts') fail on the bytes all prefixes share */
    if (len < q->pre_common || memcmp(key, q->pre[0].bytes, q->pre_common))
        return false;
    for (size_t i = 0; i < q->npre; i++)
        if (len >= q->pre[i].len &&
            memcmp(key, q->pre[i].bytes, q->pre[i].len) == 0)
            return true;
    return false;
}

int tss_query_open(tss_query **out, tss_store *s, const tss_filter *f)
{
    tss_snap_sel sel;
    tss_query *q;
    int rc, attempt = 0;

    *out = NULL;
    if (f && f->has_from && f->has_to && f->from > f->to)
        return tss_error_set(TSS_EINVAL, "the range ends before it starts");
    q = tss_calloc(1, sizeof(*q));
    if (!q)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    q->s = s;
    if (f)
        q->f = *f;
    if ((q->f.series_glob && !(q->glob = tss_strdup(q->f.series_glob))) ||
        (q->f.ds && !(q->ds = tss_strdup(q->f.ds)))) {
        tss_query_close(q);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    q->f.series_glob = q->glob;
    q->f.ds = q->ds;
    if ((rc = glob_prefixes(q)) != 0) {
        tss_query_close(q);
        return rc;
    }
    /* the head snapshot first, then the listing: a window sealed between
     * the two shows up twice (merged away), never not at all. The delete
     * documents last: a delete's effects on disk (the head filtered,
     * tombstones, compacted segments) all come after its document became
     * visible, so whatever of them this query saw, it also sees the
     * document, whose predicate hides the rest: all of the delete or none */
    /* of the head, the groups of items that hold those series */
    sel = (tss_snap_sel){key_wanted, q};
again:
    if ((rc = tss_snapshot_load_sel(s->st, &s->info, s->log, s->log_ctx,
                                    q->npre ? &sel : NULL, &q->head)) != 0 ||
        (rc = open_segments(q)) != 0 ||
        (rc = tss_delset_load(s->st, s->log, s->log_ctx, &q->del)) != 0 ||
        (rc = resolve_tombstones(q)) != 0) {
        tss_query_close(q);
        return rc;
    }
    /* ... unless the document went meanwhile (the delete completed): then
     * the head must be one written after it was filtered. A new base
     * since the snapshot was read means the head was rewritten (a seal, a
     * delete's filter): load it all again */
    if (attempt++ < 16 && tss_snapshot_newest(s->st) > q->head.newest_seen) {
        unload(q);
        goto again;
    }
    if ((rc = collect_refs(q)) != 0) {
        tss_query_close(q);
        return rc;
    }
    /* a corrupt document was skipped (and logged): its delete may be one
     * this query does not apply, so it counts like any skipped file */
    q->errors += q->del.bad + q->head.damaged;
    if (q->del.active > 0)
        q->any_deletes = true;
    *out = q;
    return 0;
}

void tss_query_close(tss_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nsegs; i++)
        tss_segment_close(q->segs[i]);
    for (size_t i = 0; q->tombs && i < q->nsegs; i++)
        tss_tomb_free(&q->tombs[i]);
    tss_free(q->tombs);
    tss_free(q->segs);
    tss_snap_view_free(&q->head);
    tss_delset_free(&q->del);
    tss_free(q->ranges);
    tss_free(q->refs);
    tss_free(q->pts);
    tss_free(q->tmp);
    tss_free(q->glob);
    tss_free(q->ds);
    tss_free(q->pre_bytes);
    tss_free(q);
}

uint64_t tss_query_errors(const tss_query *q)
{
    return q->errors;
}

size_t tss_query_segments(const tss_query *q)
{
    return q->nsegs;
}

bool tss_filter_match(const tss_filter *f, const tss_series_id *id)
{
    char ident[6 * (TSS_FIELD_MAX + 1)];

    if (f->ds && strcmp(f->ds, id->ds) != 0)
        return false;
    if (!f->series_glob)
        return true;
    tss_series_id_format(ident, sizeof(ident), id);
    return fnmatch(f->series_glob, ident, 0) == 0;
}

/* Makes room for n more points in *pts (*used in use, *cap allocated). */
static int reserve_pts(tss_point **pts, size_t used, size_t *cap, size_t n)
{
    size_t nc = *cap ? *cap : 256;
    tss_point *np;

    if (used + n <= *cap)
        return 0;
    while (nc < used + n)
        nc *= 2;
    np = tss_realloc(*pts, nc * sizeof(*np));
    if (!np)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    *pts = np;
    *cap = nc;
    return 0;
}

/*
 * Reads one entry's points and appends them to *pts (*n in use, *cap
 * allocated), without the points outside the filter's range or hidden by
 * deletes in effect. A segment's chunk is decoded straight into *pts. On
 * failure *n is as it was.
 */
static int read_entry(tss_query *q, const ref *r, tss_point **pts, size_t *n,
                      size_t *cap)
{
    const tss_tombstones *tomb = NULL;
    size_t before = *n, m, nr = 0;
    tss_point *p;
    int rc;

    if (r->seg == HEAD_REF) {
        const tss_snap_item *it = &q->head.items[r->entry];

        m = 0;
        if ((rc = tss_head_points_of(&it->enc, it->ooo, it->nooo, &q->tmp, &m,
                                     &q->tcap)) != 0 ||
            (rc = reserve_pts(pts, *n, cap, m)) != 0)
            return rc;
        memcpy(*pts + *n, q->tmp, m * sizeof(*q->tmp));
        *n += m;
    } else {
        tss_segment *seg = q->segs[r->seg];
        bool reopen = seg->fd < 0;

        tomb = &q->tombs[r->seg];
        if (reopen && (rc = tss_storage_open_read(seg->st, seg->rel, &seg->fd,
                                                  &seg->file_size)) != 0)
            return rc;
        rc = tss_segment_read_points(seg, r->entry, pts, n, cap);
        if (reopen) {
            tss_storage_close_fd(seg->st, seg->fd);
            seg->fd = -1;
        }
        if (rc)
            return rc;
    }
    p = *pts + before;
    m = *n - before;
    if (q->any_deletes) {
        if ((rc = tss_delset_ranges(&q->del, tomb, r->key, r->skey_len,
                                    &q->ranges, &nr, &q->rcap)) != 0) {
            *n = before;
            return rc;
        }
        tss_range_filter(p, &m, q->ranges, nr);
    }
    if (q->f.has_from || q->f.has_to) {
        size_t k = 0;

        for (size_t i = 0; i < m; i++)
            if ((!q->f.has_from || p[i].t >= q->f.from) &&
                (!q->f.has_to || p[i].t <= q->f.to))
                p[k++] = p[i];
        m = k;
    }
    *n = before + m;
    return 0;
}

typedef struct tagged {
    tss_point p;
    size_t order;
} tagged;

static int tagged_cmp(const void *a, const void *b)
{
    const tagged *x = a, *y = b;

    if (x->p.t != y->p.t)
        return x->p.t < y->p.t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Merges the segments [b, e) of one window: later seq wins. */
static int merge_window(tss_query *q, size_t b, size_t e)
{
    tagged *all = NULL;
    size_t nall = 0, cap = 0;
    int rc = 0;

    for (size_t i = b; i < e; i++) {
        size_t n = 0;

        rc = read_entry(q, &q->refs[i], &q->tmp, &n, &q->tcap);
        if (rc == TSS_ENOMEM)
            goto out;
        if (rc) {
            report(q, "unreadable chunk", tss_error_last());
            rc = 0;
            continue;
        }
        if (nall + n > cap) {
            size_t nc = cap ? cap * 2 : 256;
            tagged *na;

            while (nc < nall + n)
                nc *= 2;
            na = tss_realloc(all, nc * sizeof(*na));
            if (!na) {
                rc = tss_error_set(TSS_ENOMEM, "out of memory");
                goto out;
            }
            all = na;
            cap = nc;
        }
        for (size_t k = 0; k < n; k++) {
            all[nall].p = q->tmp[k];
            all[nall].order = nall;
            nall++;
        }
    }
    if (nall > 1)
        qsort(all, nall, sizeof(*all), tagged_cmp);
    if ((rc = reserve_pts(&q->pts, q->npts, &q->cap, nall)) != 0)
        goto out;
    for (size_t k = 0; k < nall; k++) {
        if (k + 1 < nall && all[k + 1].p.t == all[k].p.t)
            continue; /* a later-written point has this timestamp */
        q->pts[q->npts++] = all[k].p;
    }
out:
    tss_free(all);
    return rc;
}

static int decode_current(tss_query *q)
{
    size_t i = q->cur_begin;
    int rc;

    q->npts = 0;
    while (i < q->cur_end) {
        int64_t start = q->refs[i].start;
        size_t j = i + 1;

        while (j < q->cur_end && q->refs[j].start == start)
            j++;
        if (j == i + 1) {
            rc = read_entry(q, &q->refs[i], &q->pts, &q->npts, &q->cap);
            if (rc == TSS_ENOMEM)
                return rc;
            if (rc)
                report(q, "unreadable chunk", tss_error_last());
        } else if ((rc = merge_window(q, i, j)) != 0) {
            return rc;
        }
        i = j;
    }
    q->decoded = true;
    return 0;
}

int tss_query_next(tss_query *q, tss_series_info *out)
{
    while (q->pos < q->nrefs) {
        const ref *r0 = &q->refs[q->pos];
        tss_key_view kv;
        bool exact = !q->any_deletes;
        size_t e = q->pos + 1;

        while (e < q->nrefs && q->refs[e].res == r0->res &&
               tss_key_cmp(q->refs[e].key, q->refs[e].key_len, r0->key,
                           r0->key_len) == 0)
            e++;
        q->cur_begin = q->pos;
        q->cur_end = e;
        q->pos = e;
        memcpy(q->key, r0->key, r0->key_len);
        if (tss_key_decode(q->key, r0->skey_len, &kv) != 0 ||
            !tss_filter_match(&q->f, &kv.id))
            continue;
        q->decoded = false;
        out->id = kv.id;
        out->kind = kv.kind;
        out->resolution = r0->res;
        out->aggregate = r0->key_len > r0->skey_len ? r0->key[r0->skey_len] : 0;
        out->value_kind =
            out->aggregate ? tss_agg_kind(kv.kind, out->aggregate) : kv.kind;
        out->count = 0;
        out->first = INT64_MAX;
        out->last = INT64_MIN;
        /* Fast path: segments only, one per window, every entry wholly in
         * range: the table's figures are exact. */
        for (size_t i = q->cur_begin; i < q->cur_end && exact; i++) {
            const ref *r = &q->refs[i];
            const tss_seg_entry *en;

            if (r->seg == HEAD_REF) {
                exact = false;
                break;
            }
            en = &q->segs[r->seg]->entries[r->entry];
            if ((i + 1 < q->cur_end && q->refs[i + 1].start == r->start) ||
                (q->f.has_from && en->min_t < q->f.from) ||
                (q->f.has_to && en->max_t > q->f.to))
                exact = false;
            out->count += en->count;
            if (en->min_t < out->first)
                out->first = en->min_t;
            if (en->max_t > out->last)
                out->last = en->max_t;
        }
        if (!exact) {
            int rc = decode_current(q);

            if (rc != 0)
                return rc;
            out->count = q->npts;
            out->first = q->npts ? q->pts[0].t : 0;
            out->last = q->npts ? q->pts[q->npts - 1].t : 0;
        }
        if (out->count == 0)
            continue;
        return 1;
    }
    return 0;
}

int tss_query_points(tss_query *q, const tss_point **pts, size_t *n)
{
    int rc;

    if (!q->decoded && (rc = decode_current(q)) != 0)
        return rc;
    *pts = q->pts;
    *n = q->npts;
    return 0;
}

int tss_query_seek(tss_query *q, const tss_series_id *id, int kind,
                   tss_series_info *out)
{
    uint8_t key[TSS_KEY_MAX];
    size_t len, lo = 0, hi = q->nrefs;
    int rc;

    if ((rc = tss_key_encode(key, &len, id, kind)) != 0)
        return rc;
    /* by the series key: a rollup's refs carry an aggregate byte after it
     * (series keys are prefix-free, so the refs' order is the same) */
    while (lo < hi) { /* first ref with a series key >= the one sought */
        size_t mid = lo + (hi - lo) / 2;

        if (tss_key_cmp(q->refs[mid].key, q->refs[mid].skey_len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == q->nrefs ||
        tss_key_cmp(q->refs[lo].key, q->refs[lo].skey_len, key, len) != 0)
        return 0;
    q->pos = lo;
    rc = tss_query_next(q, out);
    if (rc == 1 && tss_key_cmp(q->key, len, key, len) != 0)
        return 0; /* the series had no point in range */
    return rc;
}
