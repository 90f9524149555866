/*
 * The sharded in-memory head; see head.h.
 */
#include "head.h"

#include <pthread.h>

#include "codec_gorilla.h"
#include "series.h"

/* Out-of-order points beyond this are folded into the encoder. */
#define OOO_FOLD 128

/* A window's out-of-order points, in arrival order. */
typedef struct ooo_buf {
    uint32_t n, cap;
    tss_point p[];
} ooo_buf;

/*
 * One series window, in one allocation: the fields below, then in data[]
 * the series key (key_len bytes), the timestamp stream (enc.ts_cap bytes),
 * the value stream (enc.val_cap bytes) and STREAM_PAD bytes (the
 * encoder's word puts may read and write back up to 7 bytes past the
 * value stream, tss_henc). The key comes first so that an append's lookup
 * finds it at a fixed place, read together with the fields instead of
 * after them (the streams' sizes placed it). An item moves when its
 * streams grow, so only its list link (the table slot or the newer
 * window's `next`) may point to it.
 */
struct tss_head_item {
    int64_t start;
    tss_henc enc;
    struct tss_head_item *next; /* the older window; once detached, the
                                   next item of its batch */
    ooo_buf *ooo;               /* NULL: none yet */
    int64_t first_arrival;
    tss_snapcur cur; /* snapshot bookkeeping, owned by snapshot.c */
    uint16_t key_len;
    uint8_t data[];
};

#define STREAM_PAD 7

/* Room to start a window's streams with: a timestamp stream of points at a
 * steady interval takes a bit each after the first delta, a value stream
 * from 1 to 77 bits. */
#define TS_START 8
#define VAL_START 8

_Static_assert(TSS_KEY_MAX <= UINT16_MAX, "key_len is 16 bits");

static size_t item_size(size_t key_len, uint32_t ts_cap, uint32_t val_cap)
{
    return offsetof(tss_head_item, data) + key_len + (size_t)ts_cap + val_cap +
           STREAM_PAD;
}

/* Bytes the allocator would waste past `size`: glibc's malloc hands out
 * chunks of a multiple of 16 bytes with 8 of header. A stream region takes
 * them. */
static uint32_t chunk_slack(size_t size)
{
    return (uint32_t)((16 - (size + 8) % 16) % 16);
}

static const uint8_t *item_key(const tss_head_item *w)
{
    return w->data;
}

/* The streams (tss_henc's buffer): after the key. Writable through a
 * const item only for tss_henc_view, which reads. */
static uint8_t *item_streams(const tss_head_item *w)
{
    return (uint8_t *)(uintptr_t)w->data + w->key_len;
}

static uint32_t item_nooo(const tss_head_item *w)
{
    return w->ooo ? w->ooo->n : 0;
}

static const tss_point *item_ooo(const tss_head_item *w)
{
    return w->ooo ? w->ooo->p : NULL;
}

/* A new, empty window of the series `key`; NULL if out of memory. */
static tss_head_item *item_new(const uint8_t *key, size_t key_len,
                               int64_t start, int64_t now)
{
    uint32_t ts_cap = TS_START, val_cap = VAL_START;
    size_t size = item_size(key_len, ts_cap, val_cap);
    tss_head_item *w;

    val_cap += chunk_slack(size);
    size = item_size(key_len, ts_cap, val_cap);
    w = tss_malloc(size);
    if (!w)
        return NULL;
    memset(w, 0, size);
    w->start = start;
    w->first_arrival = now;
    tss_henc_init(&w->enc, key[key_len - 1]);
    w->enc.ts_cap = ts_cap;
    w->enc.val_cap = val_cap;
    w->key_len = (uint16_t)key_len;
    memcpy(w->data, key, key_len);
    return w;
}

static void item_free(tss_head_item *w)
{
    tss_free(w->ooo);
    tss_free(w);
}

/* cap grown to at least `need`, doubled at least (quadrupled while small:
 * fewer copies of windows that have barely started), so that a window's
 * stream is copied a bounded number of times per byte. */
static uint32_t grow_cap(uint32_t cap, uint32_t need)
{
    uint32_t n = cap < 64 ? cap * 4 : cap * 2;

    if (need <= cap)
        return cap;
    return n > need ? n : need;
}

/* Grows the stream regions of *ref to at least need[0] and need[1] bytes,
 * in a new allocation (each byte is copied once); *ref is updated.
 * TSS_ENOMEM leaves the item as it was. */
static int item_grow(tss_head_item **ref, const uint32_t need[2])
{
    tss_head_item *w = *ref, *nw;
    uint32_t ots = w->enc.ts_cap, oval = w->enc.val_cap;
    uint32_t ts = grow_cap(ots, need[0]), val = grow_cap(oval, need[1]);
    size_t size;
    uint8_t *d;

    size = item_size(w->key_len, ts, val);
    if (val > oval)
        val += chunk_slack(size);
    else
        ts += chunk_slack(size);
    if (ts > TSS_HENC_MAX_BYTES || val > TSS_HENC_MAX_BYTES)
        return tss_error_set(TSS_ENOMEM, "series window over %u bytes",
                             (unsigned)TSS_HENC_MAX_BYTES);
    size = item_size(w->key_len, ts, val);
    if (!(nw = tss_malloc(size)))
        return tss_error_set(TSS_ENOMEM, "out of memory appending a point");
    d = nw->data + w->key_len;
    /* the fields, the key and the timestamp stream */
    memcpy(nw, w, offsetof(tss_head_item, data) + w->key_len + ots);
    memset(d + ots, 0, ts - ots);
    memcpy(d + ts, item_streams(w) + ots, oval);
    memset(d + ts + oval, 0, val - oval + STREAM_PAD);
    nw->enc.ts_cap = ts;
    nw->enc.val_cap = val;
    tss_free(w);
    *ref = nw;
    return 0;
}

/* Grows the streams of *ref to need[] (from tss_henc_append) and appends
 * the point it had no room for; *ref is updated. */
static __attribute__((noinline)) int grow_append(tss_head_item **ref, int64_t t,
                                                 tss_value v, uint32_t need[2])
{
    int rc;

    if ((rc = item_grow(ref, need)) != 0)
        return rc;
    rc = tss_henc_append(&(*ref)->enc, item_streams(*ref), t, v, need);
    return rc > 0 ? tss_error_set(TSS_ENOMEM, "head stream did not grow") : rc;
}

/* Replaces the encoder of *ref with `fresh` (which stays the caller's),
 * in a new allocation sized to it; *ref is updated. TSS_ENOMEM leaves the
 * item as it was. */
static int item_install(tss_head_item **ref, const tss_enc *fresh)
{
    tss_head_item *w = *ref, *nw;
    uint64_t ts = (fresh->ts.nbits + 7) / 8, val = (fresh->val.nbits + 7) / 8;
    size_t size;
    int rc;

    if (ts > TSS_HENC_MAX_BYTES || val > TSS_HENC_MAX_BYTES)
        return tss_error_set(TSS_ENOMEM, "series window over %u bytes",
                             (unsigned)TSS_HENC_MAX_BYTES);
    size = item_size(w->key_len, (uint32_t)ts, (uint32_t)val);
    val += chunk_slack(size); /* tss_henc_load checks the bound again */
    size = item_size(w->key_len, (uint32_t)ts, (uint32_t)val);
    if (!(nw = tss_malloc(size)))
        return tss_error_set(TSS_ENOMEM, "out of memory rebuilding a window");
    memcpy(nw, w, offsetof(tss_head_item, data) + w->key_len); /* + key */
    if ((rc = tss_henc_load(&nw->enc, fresh, (uint32_t)ts, (uint32_t)val,
                            item_streams(nw))) != 0) {
        tss_free(nw);
        return rc;
    }
    memset(item_streams(nw) + ts + val, 0, STREAM_PAD);
    tss_free(w);
    *ref = nw;
    return 0;
}

/*
 * A shard's series table: open addressing, linear probing. A series is
 * its newest window; the older ones hang from its `next`, each item with
 * its own copy of the key. A slot holds the newest window's address with 3
 * bits of the key's hash in its low bits (items are 8-byte aligned), so
 * that a probe looks at one in eight of the other series it passes; 0 is
 * an empty slot. A removed series leaves a tombstone (TOMB: an item no key
 * matches), so a walk over the slots may remove as it goes; tombstones go
 * when the table is rebuilt, before it would be 3/4 full. The rebuild
 * hashes the keys again.
 */
typedef uintptr_t slot;

static tss_head_item tomb_item = {.key_len = UINT16_MAX};

#define TAG_MASK ((uintptr_t)7)
#define TOMB ((uintptr_t)&tomb_item)
#define TABLE_MIN 16

_Static_assert(_Alignof(tss_head_item) >= 8, "slots tag 3 low bits");

/* Bits of the hash that neither the slot index (low bits) nor the shard
 * (bits 32..43) uses. */
static inline uintptr_t hash_tag(uint64_t hash)
{
    return (uintptr_t)(hash >> 61);
}

/* The item of a live slot. */
static inline tss_head_item *slot_item(slot e)
{
    return (tss_head_item *)(e & ~TAG_MASK);
}

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

/* The newest window of the series in slot i, or NULL for an empty or
 * removed slot. */
static tss_head_item *tab_at(const head_shard *sh, size_t i)
{
    slot e = sh->tab[i];

    return e == TOMB ? NULL : slot_item(e);
}

static inline slot *tab_find(const head_shard *sh, const uint8_t *key,
                             size_t len, uint64_t hash)
{
    size_t mask = (size_t)sh->cap - 1, i;
    uintptr_t tag = hash_tag(hash);
    slot *e;

    if (!sh->cap)
        return NULL;
    for (i = (size_t)hash & mask; *(e = &sh->tab[i]); i = (i + 1) & mask) {
        /* the item if the tag matches (a tombstone's key never does) */
        const tss_head_item *w = (const tss_head_item *)(*e ^ tag);

        if (((uintptr_t)w & TAG_MASK) == 0 && w->key_len == len &&
            memcmp(item_key(w), key, len) == 0)
            return e;
    }
    return NULL;
}

/* Puts w, whose series is absent from the table, in the first free slot of
 * its probe. */
static slot *tab_put(slot *tab, size_t cap, uint64_t hash, tss_head_item *w,
                     uint32_t *dead)
{
    size_t mask = cap - 1, i = (size_t)hash & mask;

    while (tab[i] && tab[i] != TOMB)
        i = (i + 1) & mask;
    if (tab[i] == TOMB)
        (*dead)--;
    tab[i] = (uintptr_t)w | hash_tag(hash);
    return &tab[i];
}

/* Adds the series of w (absent), rebuilding the table first if it would
 * be 3/4 full; returns its slot. NULL (out of memory) leaves the table as
 * it was. */
static slot *tab_add(head_shard *sh, uint64_t hash, tss_head_item *w)
{
    slot *e;

    if ((sh->series + sh->dead + 1) * 4 > (uint64_t)sh->cap * 3) {
        size_t cap = TABLE_MIN;
        uint32_t dead = 0;
        slot *tab;

        while (cap < (sh->series + 1) * 2)
            cap *= 2;
        if (cap > UINT32_MAX || !(tab = tss_calloc(cap, sizeof(*tab))))
            return NULL;
        for (size_t i = 0; i < sh->cap; i++) {
            tss_head_item *o = tab_at(sh, i);

            if (o)
                tab_put(tab, cap, tss_key_hash(item_key(o), o->key_len), o,
                        &dead);
        }
        tss_free(sh->tab);
        sh->tab = tab;
        sh->cap = (uint32_t)cap;
        sh->dead = 0;
    }
    e = tab_put(sh->tab, sh->cap, hash, w, &sh->dead);
    sh->series++;
    return e;
}

/* Removes the series in slot i (its windows are gone). */
static void tab_remove(head_shard *sh, size_t i)
{
    sh->tab[i] = TOMB;
    sh->dead++;
    sh->series--;
    if (sh->series == 0) { /* nothing left to probe past: start clean */
        memset(sh->tab, 0, (size_t)sh->cap * sizeof(*sh->tab));
        sh->dead = 0;
    }
}

/* Stores `first`, the series' newest window after a change to its list,
 * in slot i (keeping the tag); removes the series if it has none left. */
static void tab_set(head_shard *sh, size_t i, tss_head_item *first)
{
    if (!first)
        tab_remove(sh, i);
    else
        sh->tab[i] = (uintptr_t)first | (sh->tab[i] & TAG_MASK);
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

void tss_head_free(tss_head *h)
{
    if (!h)
        return;
    for (unsigned i = 0; i <= h->mask; i++) {
        head_shard *sh = &h->shards[i];

        for (size_t j = 0; j < sh->cap; j++) {
            tss_head_item *w = tab_at(sh, j);

            while (w) {
                tss_head_item *next = w->next;

                item_free(w);
                w = next;
            }
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
    tss_enc e;

    /* the view only reads the streams */
    tss_henc_view(&w->enc, item_streams(w), &e);
    return tss_head_points_of(&e, item_ooo(w), item_nooo(w), pts, n, cap);
}

/* Folds the out-of-order buffer of *ref into a fresh encoder; *ref is
 * updated. On failure nothing changes (the caller keeps appending to the
 * buffer). */
static __attribute__((noinline)) int fold_ooo(tss_head_item **ref, int kind)
{
    tss_point *pts = NULL;
    size_t n = 0, cap = 0;
    tss_enc fresh;
    int rc;

    tss_enc_init(&fresh, kind);
    if ((rc = item_points(*ref, &pts, &n, &cap)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = tss_enc_append(&fresh, pts[i].t, pts[i].v)) != 0)
            goto out;
    if ((rc = item_install(ref, &fresh)) != 0)
        goto out;
    (*ref)->ooo->n = 0;
    (*ref)->cur.reset = true; /* the snapshot must resend this item whole */
out:
    tss_enc_free(&fresh);
    tss_free(pts);
    return rc;
}

/* ---- append ---------------------------------------------------------------
 */

static __attribute__((noinline)) int ooo_push(tss_head_item *w, int64_t t,
                                              tss_value v)
{
    ooo_buf *o = w->ooo;

    if (!o || o->n == o->cap) {
        uint32_t ncap = o ? o->cap * 2 : 8;
        ooo_buf *no;

        if (o && o->cap > UINT32_MAX / 2 / sizeof(tss_point))
            return tss_error_set(TSS_ENOMEM, "out of memory (out-of-order)");
        no = tss_realloc(o, sizeof(*o) + ncap * sizeof(tss_point));
        if (!no)
            return tss_error_set(TSS_ENOMEM, "out of memory (out-of-order)");
        if (!o)
            no->n = 0;
        no->cap = ncap;
        w->ooo = o = no;
    }
    o->p[o->n].t = t;
    o->p[o->n].v = v;
    o->n++;
    return 0;
}

/* The link to the series' item for window `start` (the series' newest
 * window is *pw), created if missing; NULL if out of memory. Windows are
 * kept newest first: appends almost always hit the first. */
static __attribute__((noinline)) tss_head_item **
find_window(tss_head_item **pw, int64_t start, const uint8_t *key,
            size_t key_len, int64_t now)
{
    tss_head_item *w, *nw;

    for (; (w = *pw) != NULL && w->start > start; pw = &w->next)
        ;
    if (w && w->start == start)
        return pw;
    nw = item_new(key, key_len, start, now);
    if (!nw)
        return NULL;
    nw->next = w;
    *pw = nw;
    return pw;
}

/* tss_head_append and tss_head_readd: `received` counts the point as
 * appended (and perhaps late), as a point from the writer's caller. */
static int head_add(tss_head *h, const uint8_t *key, size_t key_len,
                    uint64_t hash, int64_t t, tss_value v, int64_t now,
                    int64_t grace, bool received)
{
    head_shard *sh = &h->shards[(hash >> 32) & h->mask];
    int kind = key[key_len - 1];
    tss_head_item **ref, *w, *first;
    slot *e;
    int rc = 0;

    pthread_mutex_lock(&sh->mu);
    e = tab_find(sh, key, key_len, hash);
    if (!e) {
        w = item_new(key, key_len, tss_head_window(h, t), now);
        if (!w || !(e = tab_add(sh, hash, w))) {
            tss_free(w);
            rc = tss_error_set(TSS_ENOMEM, "out of memory adding a series");
            goto out;
        }
    }
    /* almost every point falls in the series' newest window: no division
     * (t >= start, so the unsigned difference is exact) */
    first = slot_item(*e);
    ref = &first;
    w = first;
    if (t < w->start || (uint64_t)t - (uint64_t)w->start >= (uint64_t)h->span) {
        ref = find_window(ref, tss_head_window(h, t), key, key_len, now);
        if (!ref) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory adding a window");
            goto out;
        }
        *e = (uintptr_t)first | (*e & TAG_MASK); /* may be newer */
        w = *ref;
    }
    if (w->enc.count == 0 || t > w->enc.last_t) {
        uint32_t need[2];

        rc = tss_henc_append(&w->enc, item_streams(w), t, v, need);
        if (rc > 0) {
            rc = grow_append(ref, t, v, need);
            *e = (uintptr_t)first | (*e & TAG_MASK); /* may have moved */
            w = *ref;
        }
    } else {
        uint32_t nooo = item_nooo(w);

        if (nooo >= OOO_FOLD) {
            uint64_t held = w->enc.count + nooo;

            /* on failure the buffer just grows; on success the duplicates
             * merged away are no longer held, nor is anything out of order */
            if (fold_ooo(ref, kind) == 0) {
                sh->points -= held - (*ref)->enc.count;
                sh->ooo -= nooo;
                *e = (uintptr_t)first | (*e & TAG_MASK); /* moved */
            }
        }
        w = *ref;
        if ((rc = ooo_push(w, t, v)) == 0)
            sh->ooo++;
    }
    if (rc == 0) {
        sh->points++;
        sh->appended += received;
        sh->late += received && w->start + h->span + grace <= now;
    }
out:
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

int tss_head_append(tss_head *h, const uint8_t *key, size_t key_len,
                    uint64_t hash, int64_t t, tss_value v, int64_t now,
                    int64_t grace)
{
    return head_add(h, key, key_len, hash, t, v, now, grace, true);
}

int tss_head_readd(tss_head *h, const uint8_t *key, size_t key_len,
                   uint64_t hash, int64_t t, tss_value v, int64_t first_arrival)
{
    return head_add(h, key, key_len, hash, t, v, first_arrival, 0, false);
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
            for (tss_head_item *w = tab_at(sh, j); w; w = w->next) {
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
                v[k].points += w->enc.count + item_nooo(w);
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
        for (size_t j = 0; j < sh->cap; j++)
            for (tss_head_item *w = tab_at(sh, j); w; w = w->next) {
                out->bytes +=
                    item_size(w->key_len, w->enc.ts_cap, w->enc.val_cap);
                if (w->ooo)
                    out->bytes +=
                        sizeof(ooo_buf) + w->ooo->cap * sizeof(tss_point);
            }
        pthread_mutex_unlock(&sh->mu);
    }
}

/* ---- detach -----------------------------------------------------------------
 */

static int item_cmp(const tss_head_item *a, const tss_head_item *b)
{
    return tss_key_cmp(item_key(a), a->key_len, item_key(b), b->key_len);
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
            tss_head_item *first = tab_at(sh, j), **pw = &first, *w;

            while ((w = *pw) != NULL) {
                uint64_t held = w->enc.count + item_nooo(w);
                size_t k;

                for (k = 0; k < nstarts && starts[k] != w->start; k++)
                    ;
                if (k == nstarts) {
                    pw = &w->next;
                    continue;
                }
                *pw = w->next;
                sh->points -= held;
                sh->ooo -= item_nooo(w);
                w->next = out[k].items;
                out[k].items = w;
                out[k].n++;
                out[k].points += held;
            }
            if (first != tab_at(sh, j))
                tab_set(sh, j, first);
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
    return item_key(it);
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
            for (tss_head_item *w = tab_at(sh, j); w && rc == 0; w = w->next) {
                tss_enc e;
                tss_head_view v = {item_key(w),      w->key_len, w->start,
                                   w->first_arrival, &e,         item_ooo(w),
                                   item_nooo(w),     &w->cur};

                tss_henc_view(&w->enc, item_streams(w), &e);
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
    uint64_t ts = (enc->ts.nbits + 7) / 8, val = (enc->val.nbits + 7) / 8;
    tss_head_item *w = NULL;
    ooo_buf *o = NULL;
    size_t size;
    slot *e;
    int rc = 0;

    if (key_len > TSS_KEY_MAX || ts > TSS_HENC_MAX_BYTES ||
        val > TSS_HENC_MAX_BYTES)
        return tss_error_set(TSS_EINVAL, "window too large to restore");
    size = item_size(key_len, (uint32_t)ts, (uint32_t)val);
    val += chunk_slack(size);
    size = item_size(key_len, (uint32_t)ts, (uint32_t)val);
    w = tss_malloc(size);
    if (w && nooo &&
        (o = tss_malloc(sizeof(*o) + (size_t)nooo * sizeof(tss_point))))
        o->n = o->cap = nooo;
    if (!w || (nooo && !o)) {
        tss_free(w);
        return tss_error_set(TSS_ENOMEM, "out of memory restoring the head");
    }
    memset(w, 0, offsetof(tss_head_item, data));
    w->key_len = (uint16_t)key_len;
    memcpy(w->data, key, key_len);
    if ((rc = tss_henc_load(&w->enc, enc, (uint32_t)ts, (uint32_t)val,
                            item_streams(w))) != 0) {
        tss_free(o);
        tss_free(w);
        return rc;
    }
    if (o)
        memcpy(o->p, ooo, (size_t)nooo * sizeof(tss_point));
    w->start = start;
    w->first_arrival = first_arrival;
    w->ooo = o;
    memset(item_streams(w) + ts + val, 0, STREAM_PAD);

    pthread_mutex_lock(&sh->mu);
    e = tab_find(sh, key, key_len, hash);
    if (!e) {
        if (!tab_add(sh, hash, w))
            rc = tss_error_set(TSS_ENOMEM, "out of memory restoring the head");
    } else {
        tss_head_item *first = slot_item(*e), **pw;

        for (pw = &first; *pw && (*pw)->start > start; pw = &(*pw)->next)
            ;
        if (*pw && (*pw)->start == start) {
            rc = tss_error_set(TSS_EEXISTS, "window restored twice");
        } else {
            w->next = *pw;
            *pw = w;
            *e = (uintptr_t)first | (*e & TAG_MASK);
        }
    }
    if (rc == 0) {
        sh->points += w->enc.count + nooo;
        sh->ooo += nooo;
    }
    pthread_mutex_unlock(&sh->mu);
    if (rc) {
        item_free(w);
        return rc;
    }
    tss_enc_free(enc);
    memset(enc, 0, sizeof(*enc));
    tss_free(ooo);
    return 0;
}

uint32_t tss_head_item_snap_id(const tss_head_item *it)
{
    return it->cur.id;
}

/* ---- deletes ------------------------------------------------------------ */

/* Rebuilds the item *ref without the points in [from, to]; *ref is
 * updated. Returns the number removed, or a negative error; *empty when
 * nothing is left. */
static int64_t filter_item(tss_head_item **ref, int kind, int64_t from,
                           int64_t to, bool *empty)
{
    tss_point *pts = NULL;
    size_t n = 0, cap = 0, kept = 0;
    tss_enc fresh;
    int rc;

    *empty = false;
    tss_enc_init(&fresh, kind);
    if ((rc = item_points(*ref, &pts, &n, &cap)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (pts[i].t >= from && pts[i].t <= to)
            continue;
        if ((rc = tss_enc_append(&fresh, pts[i].t, pts[i].v)) != 0)
            goto out;
        kept++;
    }
    if (kept == n)
        goto out;
    if ((rc = item_install(ref, &fresh)) != 0)
        goto out;
    if ((*ref)->ooo)
        (*ref)->ooo->n = 0;
    (*ref)->cur.reset = true;
    *empty = kept == 0;
out:
    tss_enc_free(&fresh);
    tss_free(pts);
    return rc ? rc : (int64_t)(n - kept);
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
            tss_head_item *first = tab_at(sh, j), **pw = &first, *w;

            if (!first || !match(ctx, item_key(first), first->key_len))
                continue;
            while ((w = *pw) != NULL && rc == 0) {
                uint64_t held = w->enc.count + item_nooo(w);
                uint32_t nooo = item_nooo(w);
                bool empty;
                int64_t k;

                /* only windows that can hold a point of the range */
                if (w->start > to || w->start + h->span <= from) {
                    pw = &w->next;
                    continue;
                }
                k = filter_item(pw, w->enc.kind, from, to, &empty);
                if (k < 0) {
                    rc = (int)k;
                    break;
                }
                w = *pw;
                if (k > 0) {
                    *removed += (uint64_t)k;
                    sh->points -= held - (w->enc.count + item_nooo(w));
                    sh->ooo -= nooo - item_nooo(w);
                }
                if (empty) {
                    *pw = w->next;
                    item_free(w);
                } else {
                    pw = &w->next;
                }
            }
            if (first != tab_at(sh, j))
                tab_set(sh, j, first);
        }
        pthread_mutex_unlock(&sh->mu);
    }
    return rc;
}
