/*
 * The sharded in-memory head; see head.h.
 */
#include "head.h"

#include <pthread.h>

#include "codec_gorilla.h"
#include "series.h"

/* Out-of-order points beyond this are folded into the encoder. */
#define OOO_FOLD 128

/* The append path touches the first fields: keep them together. */
struct tss_head_item {
    int64_t start;
    tss_enc enc;
    tss_point *ooo;
    uint32_t nooo, cap_ooo;
    int64_t first_arrival;
    struct tss_head_item *next;
    tss_snapcur cur; /* snapshot bookkeeping, owned by snapshot.c */
    /* set once detached: the item owns a copy of its series key */
    uint8_t *key;
    size_t key_len;
};

/* One series: its windows and its key, in one allocation. */
typedef struct head_series {
    tss_head_item *wins; /* newest first */
    size_t key_len;
    uint8_t key[];
} head_series;

/*
 * A shard's series table: open addressing, linear probing, the full hash
 * beside each pointer, so a lookup is one slot and one compare of the key
 * in place. A removed series leaves a tombstone, so
 * a walk over the slots may remove as it goes; tombstones go when the
 * table is rebuilt, before it would be 3/4 full.
 */
typedef struct slot {
    uint64_t hash;
    head_series *s; /* NULL: empty; &tombstone: removed */
} slot;

static head_series tombstone;

#define TABLE_MIN 16

/* One lock and its table; cache-line aligned so that write threads on
 * different shards do not share a line (false sharing). */
typedef struct head_shard {
    _Alignas(64) pthread_mutex_t mu;
    slot *tab;
    uint32_t cap, dead; /* slots (a power of two, or 0), tombstones */
    uint64_t series, points, ooo;
    uint64_t appended, late; /* counters, under mu */
} head_shard;

struct tss_head {
    head_shard *shards;
    void *shards_mem; /* the allocation shards is aligned within */
    unsigned mask;
    int64_t span;
};

/* ---- series tables -------------------------------------------------------
 */

static inline head_series *tab_find(const head_shard *sh, const uint8_t *key,
                                    size_t len, uint64_t hash)
{
    size_t mask = (size_t)sh->cap - 1, i;
    const slot *e;

    if (!sh->cap)
        return NULL;
    for (i = (size_t)hash & mask; (e = &sh->tab[i])->s; i = (i + 1) & mask)
        if (e->hash == hash && e->s != &tombstone && e->s->key_len == len &&
            memcmp(e->s->key, key, len) == 0)
            return e->s;
    return NULL;
}

/* Puts s, absent from the table, in the first free slot of its probe. */
static void tab_put(slot *tab, size_t cap, uint64_t hash, head_series *s,
                    uint32_t *dead)
{
    size_t mask = cap - 1, i = (size_t)hash & mask;

    while (tab[i].s && tab[i].s != &tombstone)
        i = (i + 1) & mask;
    if (tab[i].s == &tombstone)
        (*dead)--;
    tab[i].hash = hash;
    tab[i].s = s;
}

/* Adds s (absent), rebuilding the table first if it would be 3/4 full.
 * TSS_ENOMEM leaves the table as it was. */
static int tab_add(head_shard *sh, uint64_t hash, head_series *s)
{
    if ((sh->series + sh->dead + 1) * 4 > (uint64_t)sh->cap * 3) {
        size_t cap = TABLE_MIN;
        uint32_t dead = 0;
        slot *tab;

        while (cap < (sh->series + 1) * 2)
            cap *= 2;
        if (cap > UINT32_MAX || !(tab = tss_calloc(cap, sizeof(*tab))))
            return TSS_ENOMEM;
        for (size_t i = 0; i < sh->cap; i++)
            if (sh->tab[i].s && sh->tab[i].s != &tombstone)
                tab_put(tab, cap, sh->tab[i].hash, sh->tab[i].s, &dead);
        tss_free(sh->tab);
        sh->tab = tab;
        sh->cap = (uint32_t)cap;
        sh->dead = 0;
    }
    tab_put(sh->tab, sh->cap, hash, s, &sh->dead);
    sh->series++;
    return 0;
}

/* Removes and frees the series in slot i (its windows are gone). */
static void tab_remove(head_shard *sh, size_t i)
{
    tss_free(sh->tab[i].s);
    sh->tab[i].s = &tombstone;
    sh->dead++;
    sh->series--;
    if (sh->series == 0) { /* nothing left to probe past: start clean */
        memset(sh->tab, 0, (size_t)sh->cap * sizeof(*sh->tab));
        sh->dead = 0;
    }
}

/* The series in slot i, or NULL for an empty or removed slot. */
static head_series *tab_at(const head_shard *sh, size_t i)
{
    head_series *s = sh->tab[i].s;

    return s == &tombstone ? NULL : s;
}

/* Adds the series of a key, absent from the table; NULL if out of
 * memory. */
static head_series *add_series(head_shard *sh, const uint8_t *key, size_t len,
                               uint64_t hash)
{
    head_series *s = tss_malloc(sizeof(*s) + len);

    if (!s)
        return NULL;
    s->wins = NULL;
    s->key_len = len;
    memcpy(s->key, key, len);
    if (tab_add(sh, hash, s) != 0) {
        tss_free(s);
        return NULL;
    }
    return s;
}

int tss_head_create(tss_head **out, unsigned nshards, int64_t span)
{
    tss_head *h;
    unsigned n = 1;

    *out = NULL;
    if (span <= 0)
        return tss_error_set(TSS_EINVAL, "span must be positive");
    while (n < nshards && n < 4096)
        n <<= 1;
    h = tss_calloc(1, sizeof(*h));
    if (!h || !(h->shards_mem = tss_calloc(n + 1, sizeof(*h->shards)))) {
        tss_free(h);
        return tss_error_set(TSS_ENOMEM, "out of memory creating the head");
    }
    h->shards =
        (head_shard *)(((uintptr_t)h->shards_mem + 63) & ~(uintptr_t)63);
    for (unsigned i = 0; i < n; i++)
        pthread_mutex_init(&h->shards[i].mu, NULL);
    h->mask = n - 1;
    h->span = span;
    *out = h;
    return 0;
}

static void item_free(tss_head_item *w)
{
    tss_enc_free(&w->enc);
    tss_free(w->ooo);
    tss_free(w->key);
    tss_free(w);
}

void tss_head_free(tss_head *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i <= h->mask; i++) {
        head_shard *sh = &h->shards[i];

        for (size_t j = 0; j < sh->cap; j++) {
            head_series *s = tab_at(sh, j);

            while (s && s->wins) {
                tss_head_item *w = s->wins;

                s->wins = w->next;
                item_free(w);
            }
            tss_free(s);
        }
        tss_free(sh->tab);
        pthread_mutex_destroy(&sh->mu);
    }
    tss_free(h->shards_mem);
    tss_free(h);
}

int64_t tss_head_window(const tss_head *h, int64_t t)
{
    int64_t r = t % h->span;

    return t - (r < 0 ? r + h->span : r);
}

/* ---- merging --------------------------------------------------------------
 */

size_t tss_head_merge(const tss_point *enc, size_t ne, tss_point *ooo,
                      size_t no, tss_point *out)
{
    size_t i = 0, j = 0, n = 0, u = 0;

    /* stable insertion sort by time (no is small: at most OOO_FOLD) */
    for (size_t a = 1; a < no; a++) {
        tss_point p = ooo[a];
        size_t b = a;

        while (b > 0 && ooo[b - 1].t > p.t) {
            ooo[b] = ooo[b - 1];
            b--;
        }
        ooo[b] = p;
    }
    /* keep the last arrival of each timestamp */
    for (size_t a = 0; a < no; a++) {
        if (a + 1 < no && ooo[a + 1].t == ooo[a].t)
            continue;
        ooo[u++] = ooo[a];
    }
    while (i < ne || j < u) {
        if (j == u || (i < ne && enc[i].t < ooo[j].t)) {
            out[n++] = enc[i++];
        } else {
            if (i < ne && enc[i].t == ooo[j].t)
                i++; /* the out-of-order point arrived later: it wins */
            out[n++] = ooo[j++];
        }
    }
    return n;
}

int tss_head_points_of(const tss_enc *enc, const tss_point *ooo_in,
                       uint32_t nooo, tss_point **pts, size_t *n, size_t *cap)
{
    tss_point *tmp = NULL, *ooo = NULL;
    size_t ne = 0, tcap = 0, need;
    int rc;

    *n = 0;
    if ((rc = tss_enc_decode(enc, &tmp, &ne, &tcap)) != 0)
        goto out;
    need = ne + nooo;
    if (need > *cap) {
        tss_point *np = tss_realloc(*pts, need * sizeof(tss_point));

        if (!np) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory merging points");
            goto out;
        }
        *pts = np;
        *cap = need;
    }
    if (nooo) {
        ooo = tss_malloc(nooo * sizeof(tss_point));
        if (!ooo) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory merging points");
            goto out;
        }
        memcpy(ooo, ooo_in, nooo * sizeof(tss_point));
    }
    *n = tss_head_merge(tmp, ne, ooo, nooo, *pts);
out:
    tss_free(tmp);
    tss_free(ooo);
    return rc;
}

static int item_points(const tss_head_item *w, tss_point **pts, size_t *n,
                       size_t *cap)
{
    return tss_head_points_of(&w->enc, w->ooo, w->nooo, pts, n, cap);
}

/* Folds the out-of-order buffer into a fresh encoder. On failure nothing
 * changes (the caller keeps appending to the buffer). */
static int fold_ooo(tss_head_item *w, int kind)
{
    tss_point *pts = NULL;
    size_t n = 0, cap = 0;
    tss_enc fresh;
    int rc;

    if ((rc = item_points(w, &pts, &n, &cap)) != 0)
        goto out;
    tss_enc_init(&fresh, kind);
    for (size_t i = 0; i < n; i++)
        if ((rc = tss_enc_append(&fresh, pts[i].t, pts[i].v)) != 0) {
            tss_enc_free(&fresh);
            goto out;
        }
    tss_enc_free(&w->enc);
    w->enc = fresh;
    w->nooo = 0;
    w->cur.reset = true; /* the snapshot must resend this item whole */
out:
    tss_free(pts);
    return rc;
}

/* ---- append ---------------------------------------------------------------
 */

static int ooo_push(tss_head_item *w, int64_t t, tss_value v)
{
    if (w->nooo == w->cap_ooo) {
        uint32_t ncap = w->cap_ooo ? w->cap_ooo * 2 : 8;
        tss_point *np = tss_realloc(w->ooo, ncap * sizeof(tss_point));

        if (!np)
            return tss_error_set(TSS_ENOMEM, "out of memory (out-of-order)");
        w->ooo = np;
        w->cap_ooo = ncap;
    }
    w->ooo[w->nooo].t = t;
    w->ooo[w->nooo].v = v;
    w->nooo++;
    return 0;
}

/* The series' item for window `start`, created if missing; NULL if out of
 * memory. Windows are kept newest first: appends almost always hit the
 * first. */
static tss_head_item *find_window(head_series *s, int64_t start, int kind,
                                  int64_t now)
{
    tss_head_item **pw, *w, *nw;

    for (pw = &s->wins; (w = *pw) != NULL && w->start > start; pw = &w->next)
        ;
    if (w && w->start == start)
        return w;
    nw = tss_calloc(1, sizeof(*nw));
    if (!nw)
        return NULL;
    nw->start = start;
    nw->first_arrival = now;
    tss_enc_init(&nw->enc, kind);
    nw->next = w;
    *pw = nw;
    return nw;
}

int tss_head_append(tss_head *h, const uint8_t *key, size_t key_len,
                    uint64_t hash, int64_t t, tss_value v, int64_t now,
                    int64_t grace)
{
    head_shard *sh = &h->shards[(hash >> 32) & h->mask];
    int kind = key[key_len - 1];
    head_series *s;
    tss_head_item *w;
    int rc = 0;

    pthread_mutex_lock(&sh->mu);
    s = tab_find(sh, key, key_len, hash);
    if (!s && !(s = add_series(sh, key, key_len, hash))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory adding a series");
        goto out;
    }
    /* almost every point falls in the series' newest window: no division
     * (t >= start, so the unsigned difference is exact) */
    w = s->wins;
    if (!w || t < w->start ||
        (uint64_t)t - (uint64_t)w->start >= (uint64_t)h->span) {
        w = find_window(s, tss_head_window(h, t), kind, now);
        if (!w) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory adding a window");
            goto out;
        }
    }
    if (w->enc.count == 0 || t > w->enc.last_t) {
        rc = tss_enc_append(&w->enc, t, v);
    } else {
        if (w->nooo >= OOO_FOLD) {
            uint64_t held = w->enc.count + w->nooo, nooo = w->nooo;

            /* on failure the buffer just grows; on success the duplicates
             * merged away are no longer held, nor is anything out of order */
            if (fold_ooo(w, kind) == 0) {
                sh->points -= held - w->enc.count;
                sh->ooo -= nooo;
            }
        }
        if ((rc = ooo_push(w, t, v)) == 0)
            sh->ooo++;
    }
    if (rc == 0) {
        sh->points++;
        sh->appended++;
        sh->late += w->start + h->span + grace <= now;
    }
out:
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* ---- inspection -----------------------------------------------------------
 */

int tss_head_windows(tss_head *h, tss_head_winfo **out, size_t *nout)
{
    tss_head_winfo *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    *nout = 0;
    for (unsigned i = 0; i <= h->mask && rc == 0; i++) {
        head_shard *sh = &h->shards[i];

        pthread_mutex_lock(&sh->mu);
        for (size_t j = 0; j < sh->cap; j++) {
            head_series *s = tab_at(sh, j);

            for (tss_head_item *w = s ? s->wins : NULL; w; w = w->next) {
                size_t k;

                for (k = 0; k < n && v[k].start != w->start; k++)
                    ;
                if (k == n) {
                    if (n == cap) {
                        size_t nc = cap ? cap * 2 : 8;
                        tss_head_winfo *nv = tss_realloc(v, nc * sizeof(*v));

                        if (!nv) {
                            rc = tss_error_set(TSS_ENOMEM, "out of memory");
                            break;
                        }
                        v = nv;
                        cap = nc;
                    }
                    v[n].start = w->start;
                    v[n].first_arrival = w->first_arrival;
                    v[n].points = 0;
                    n++;
                }
                if (w->first_arrival < v[k].first_arrival)
                    v[k].first_arrival = w->first_arrival;
                v[k].points += w->enc.count + w->nooo;
            }
            if (rc)
                break;
        }
        pthread_mutex_unlock(&sh->mu);
    }
    if (rc) {
        tss_free(v);
        return rc;
    }
    *out = v;
    *nout = n;
    return 0;
}

void tss_head_stats_get(tss_head *h, tss_head_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i <= h->mask; i++) {
        head_shard *sh = &h->shards[i];

        pthread_mutex_lock(&sh->mu);
        out->series += sh->series;
        out->points += sh->points;
        out->out_of_order += sh->ooo;
        out->appended += sh->appended;
        out->late += sh->late;
        if (sh->series)
            out->bytes += (uint64_t)sh->cap * sizeof(slot);
        for (size_t j = 0; j < sh->cap; j++) {
            head_series *s = tab_at(sh, j);

            if (!s)
                continue;
            out->bytes += sizeof(*s) + s->key_len;
            for (tss_head_item *w = s->wins; w; w = w->next)
                out->bytes += sizeof(*w) + tss_enc_mem(&w->enc) +
                              w->cap_ooo * sizeof(tss_point);
        }
        pthread_mutex_unlock(&sh->mu);
    }
}

/* ---- detach -----------------------------------------------------------------
 */

static int item_cmp(const tss_head_item *a, const tss_head_item *b)
{
    return tss_key_cmp(a->key, a->key_len, b->key, b->key_len);
}

/* Merge sort of a singly linked list by key (no allocation). */
static tss_head_item *sort_items(tss_head_item *list)
{
    tss_head_item *a = NULL, *b = NULL, **tail, *head = NULL;
    bool left = true;

    if (!list || !list->next)
        return list;
    while (list) {
        tss_head_item *next = list->next;

        if (left) {
            list->next = a;
            a = list;
        } else {
            list->next = b;
            b = list;
        }
        left = !left;
        list = next;
    }
    a = sort_items(a);
    b = sort_items(b);
    tail = &head;
    while (a && b) {
        if (item_cmp(a, b) <= 0) {
            *tail = a;
            a = a->next;
        } else {
            *tail = b;
            b = b->next;
        }
        tail = &(*tail)->next;
    }
    *tail = a ? a : b;
    return head;
}

void tss_head_detach(tss_head *h, const int64_t *starts, size_t nstarts,
                     tss_head_batch *out, size_t *nout)
{
    *nout = 0;
    for (size_t k = 0; k < nstarts; k++) {
        out[k].start = starts[k];
        out[k].items = NULL;
        out[k].n = 0;
        out[k].points = 0;
    }
    for (unsigned i = 0; i <= h->mask; i++) {
        head_shard *sh = &h->shards[i];

        pthread_mutex_lock(&sh->mu);
        for (size_t j = 0; j < sh->cap; j++) {
            head_series *s = tab_at(sh, j);
            tss_head_item **pw, *w;

            if (!s)
                continue;
            pw = &s->wins;

            while ((w = *pw) != NULL) {
                size_t k;

                for (k = 0; k < nstarts && starts[k] != w->start; k++)
                    ;
                if (k == nstarts) {
                    pw = &w->next;
                    continue;
                }
                w->key = tss_malloc(s->key_len);
                if (!w->key) { /* stays in the head for the next pass */
                    pw = &w->next;
                    continue;
                }
                memcpy(w->key, s->key, s->key_len);
                w->key_len = s->key_len;
                *pw = w->next;
                sh->points -= w->enc.count + w->nooo;
                sh->ooo -= w->nooo;
                w->next = out[k].items;
                out[k].items = w;
                out[k].n++;
                out[k].points += w->enc.count + w->nooo;
            }
            if (!s->wins)
                tab_remove(sh, j);
        }
        pthread_mutex_unlock(&sh->mu);
    }
    /* sort by start (insertion: a handful of windows), items by key */
    for (size_t a = 1; a < nstarts; a++) {
        tss_head_batch b = out[a];
        size_t j = a;

        while (j > 0 && out[j - 1].start > b.start) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = b;
    }
    for (size_t k = 0; k < nstarts; k++) {
        if (!out[k].n)
            continue;
        out[*nout] = out[k];
        out[*nout].items = sort_items(out[*nout].items);
        (*nout)++;
    }
}

const tss_head_item *tss_head_item_next(const tss_head_item *it)
{
    return it->next;
}

const uint8_t *tss_head_item_key(const tss_head_item *it, size_t *len)
{
    *len = it->key_len;
    return it->key;
}

int tss_head_item_points(const tss_head_item *it, tss_point **pts, size_t *n,
                         size_t *cap)
{
    return item_points(it, pts, n, cap);
}

void tss_head_batch_free(tss_head_batch *b)
{
    while (b->items) {
        tss_head_item *w = b->items;

        b->items = w->next;
        item_free(w);
    }
    b->n = 0;
}

/* ---- snapshot support ------------------------------------------------- */

int tss_head_visit(tss_head *h, int (*fn)(void *ctx, tss_head_view *v),
                   void *ctx)
{
    int rc = 0;

    for (unsigned i = 0; i <= h->mask && rc == 0; i++) {
        head_shard *sh = &h->shards[i];

        pthread_mutex_lock(&sh->mu);
        for (size_t j = 0; j < sh->cap && rc == 0; j++) {
            head_series *s = tab_at(sh, j);

            for (tss_head_item *w = s ? s->wins : NULL; w && rc == 0;
                 w = w->next) {
                tss_head_view v = {s->key,           s->key_len, w->start,
                                   w->first_arrival, &w->enc,    w->ooo,
                                   w->nooo,          &w->cur};

                rc = fn(ctx, &v);
            }
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return rc;
}

int tss_head_restore(tss_head *h, const uint8_t *key, size_t key_len,
                     int64_t start, int64_t first_arrival, tss_enc *enc,
                     tss_point *ooo, uint32_t nooo)
{
    uint64_t hash = tss_key_hash(key, key_len);
    head_shard *sh = &h->shards[(hash >> 32) & h->mask];
    head_series *s;
    tss_head_item *w, **pw;
    int rc = 0;

    w = tss_calloc(1, sizeof(*w));
    if (!w)
        return tss_error_set(TSS_ENOMEM, "out of memory restoring the head");
    pthread_mutex_lock(&sh->mu);
    s = tab_find(sh, key, key_len, hash);
    if (!s && !(s = add_series(sh, key, key_len, hash))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory restoring the head");
        goto out;
    }
    for (pw = &s->wins; *pw && (*pw)->start > start; pw = &(*pw)->next)
        ;
    if (*pw && (*pw)->start == start) {
        rc = tss_error_set(TSS_EINVAL, "window restored twice");
        goto out;
    }
    w->start = start;
    w->first_arrival = first_arrival;
    w->enc = *enc;
    w->ooo = ooo;
    w->nooo = w->cap_ooo = nooo;
    w->next = *pw;
    *pw = w;
    sh->points += w->enc.count + nooo;
    sh->ooo += nooo;
    memset(enc, 0, sizeof(*enc));
    w = NULL;
out:
    pthread_mutex_unlock(&sh->mu);
    tss_free(w);
    return rc;
}

uint32_t tss_head_item_snap_id(const tss_head_item *it)
{
    return it->cur.id;
}

/* ---- deletes ------------------------------------------------------------ */

/* Rebuilds one item without the points in [from, to]. Returns the number
 * removed, or a negative error; *empty when nothing is left. */
static int64_t filter_item(tss_head_item *w, int kind, int64_t from, int64_t to,
                           bool *empty)
{
    tss_point *pts = NULL;
    size_t n = 0, cap = 0, kept = 0;
    tss_enc fresh;
    int rc;

    *empty = false;
    if ((rc = item_points(w, &pts, &n, &cap)) != 0)
        return rc;
    tss_enc_init(&fresh, kind);
    for (size_t i = 0; i < n; i++) {
        if (pts[i].t >= from && pts[i].t <= to)
            continue;
        if ((rc = tss_enc_append(&fresh, pts[i].t, pts[i].v)) != 0) {
            tss_enc_free(&fresh);
            tss_free(pts);
            return rc;
        }
        kept++;
    }
    tss_free(pts);
    if (kept == n) {
        tss_enc_free(&fresh);
        return 0;
    }
    tss_enc_free(&w->enc);
    w->enc = fresh;
    w->nooo = 0;
    w->cur.reset = true;
    *empty = kept == 0;
    return (int64_t)(n - kept);
}

int tss_head_filter(tss_head *h,
                    bool (*match)(void *ctx, const uint8_t *key, size_t len),
                    void *ctx, int64_t from, int64_t to, uint64_t *removed)
{
    int rc = 0;

    *removed = 0;
    for (unsigned i = 0; i <= h->mask && rc == 0; i++) {
        head_shard *sh = &h->shards[i];

        pthread_mutex_lock(&sh->mu);
        for (size_t j = 0; j < sh->cap && rc == 0; j++) {
            head_series *s = tab_at(sh, j);
            tss_head_item **pw, *w;

            if (!s || !match(ctx, s->key, s->key_len))
                continue;
            pw = &s->wins;
            while ((w = *pw) != NULL && rc == 0) {
                uint64_t held = w->enc.count + w->nooo, nooo = w->nooo;
                bool empty;
                int64_t k;

                /* only windows that can hold a point of the range */
                if (w->start > to || w->start + h->span <= from) {
                    pw = &w->next;
                    continue;
                }
                k = filter_item(w, s->key[s->key_len - 1], from, to, &empty);
                if (k < 0) {
                    rc = (int)k;
                    break;
                }
                if (k > 0) {
                    *removed += (uint64_t)k;
                    sh->points -= held - (w->enc.count + w->nooo);
                    sh->ooo -= nooo - w->nooo;
                }
                if (empty) {
                    *pw = w->next;
                    item_free(w);
                } else {
                    pw = &w->next;
                }
            }
            if (!s->wins)
                tab_remove(sh, j);
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return rc;
}
