/*
 * Head snapshots: base image + append-only delta log. Format, recovery and
 * durability rules are in snapshot.h.
 *
 * This file: the restored view and its item decoding (shared with the log
 * replay), base images (write, parse), recovery (tss_snapshot_load: the
 * newest valid base, then its log) and the writer's life (open, close). The
 * delta log — its records, their append and replay, torn tail against
 * corruption — is in snapshot_log.c; what the two share is declared in
 * snapshot_internal.h.
 */
#define _GNU_SOURCE
#include "snapshot_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "codec_gorilla.h"
#include "series.h"

static const uint8_t BASE_MAGIC[8] = {0x89, 'T', 'S',  'H',
                                      'B',  'S', '\r', '\n'};
#define HEADER_LEN 64
/* 2: keys front-coded, the encoder state as varint differences; 3: the
 * items' window start, first arrival and t0 as differences from the
 * previous item's (tss_snap_prevkey); 1 and 2 are read */
#define BASE_VERSION 3
#define MAX_SNAP_FILE TSS_SNAP_MAX_FILE

/* ---- the view (restored items) ------------------------------------------- */

void tss_snap_view_free(tss_snap_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        tss_free(v->items[i].key);
        tss_enc_free(&v->items[i].enc);
        tss_free(v->items[i].ooo);
    }
    tss_free(v->items);
    tss_free(v->groups);
    memset(v, 0, sizeof(*v));
}

tss_snap_item *tss_snap_view_push(tss_snap_view *v)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 256;
        tss_snap_item *ni = tss_realloc(v->items, nc * sizeof(*ni));

        if (!ni)
            return NULL;
        v->items = ni;
        v->cap = nc;
    }
    memset(&v->items[v->n], 0, sizeof(v->items[0]));
    return &v->items[v->n++];
}

int tss_snap_ooo_push(tss_snap_item *it, int64_t t, uint64_t bits)
{
    if (it->nooo == it->cap_ooo) {
        uint32_t nc = it->cap_ooo ? it->cap_ooo * 2 : 8;
        tss_point *np = tss_realloc(it->ooo, nc * sizeof(*np));

        if (!np)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        it->ooo = np;
        it->cap_ooo = nc;
    }
    it->ooo[it->nooo].t = t;
    it->ooo[it->nooo].v.bits = bits;
    it->nooo++;
    return 0;
}

int tss_snap_item_check(tss_snap_item *it, const uint8_t *key, int64_t span)
{
    tss_key_view kv;

    if (tss_key_decode(key, it->key_len, &kv) != 0 || it->start % span != 0)
        return -1;
    tss_enc_init(&it->enc, kv.kind);
    return 0;
}

/* Reads key, window start and first arrival of an item header. */
int tss_snap_get_item_head(tss_rd *r, tss_snap_item *it, int64_t span,
                           bool keep, const uint8_t **key, tss_snap_prevkey *pk)
{
    uint64_t klen;
    const uint8_t *k;

    if (pk) {
        uint64_t shared, slen;
        const uint8_t *suffix;

        if (!tss_rd_varint(r, &shared) || shared > pk->len ||
            !tss_rd_varint(r, &slen) || slen > TSS_KEY_MAX - shared ||
            !tss_rd_bytes(r, (size_t)slen, &suffix))
            return -1;
        memcpy(pk->buf + shared, suffix, (size_t)slen);
        pk->len = (size_t)(shared + slen);
        k = pk->buf;
        klen = pk->len;
    } else if (!tss_rd_varint(r, &klen) || klen > TSS_KEY_MAX ||
               !tss_rd_bytes(r, (size_t)klen, &k)) {
        return -1;
    }
    if (tss_snap_get_i64(r, &it->start) ||
        tss_snap_get_i64(r, &it->first_arrival))
        return -1;
    if (pk && pk->delta) {
        it->start = pk->start = tss_snap_undiff(pk->start, it->start);
        it->first_arrival = pk->arrival =
            tss_snap_undiff(pk->arrival, it->first_arrival);
    }
    it->key_len = (size_t)klen;
    if (!keep)
        *key = k;
    if (span == 0)
        return 0;
    if (tss_snap_item_check(it, k, span) != 0)
        return -1;
    if (!keep)
        return 0;
    it->key = tss_malloc((size_t)klen);
    if (!it->key)
        return -2;
    memcpy(it->key, k, (size_t)klen);
    return 0;
}

int tss_snap_group_mark(tss_snap_view *v, uint64_t id, bool loaded)
{
    size_t g = (size_t)(id >> TSS_SNAP_GROUP_SHIFT);

    if (g >= v->groups_cap) {
        size_t nc = v->groups_cap ? v->groups_cap : 64;
        uint8_t *ng;

        while (nc <= g)
            nc *= 2;
        if (!(ng = tss_realloc(v->groups, nc)))
            return tss_error_set(TSS_ENOMEM, "out of memory");
        memset(ng + v->groups_cap, 0, nc - v->groups_cap);
        v->groups = ng;
        v->groups_cap = nc;
    }
    if (g >= v->ngroups)
        v->ngroups = g + 1;
    v->groups[g] |= loaded;
    return 0;
}

/* Reads a stream into b (NULL: checks and skips it); *bits: its length. */
static int get_stream(tss_rd *r, tss_bits *b, uint64_t *bits)
{
    uint64_t nbits;
    const uint8_t *p;
    size_t n;

    if (!tss_rd_varint(r, &nbits) || nbits > (uint64_t)tss_rd_left(r) * 8)
        return -1;
    n = (size_t)((nbits + 7) / 8);
    if (!tss_rd_bytes(r, n, &p))
        return -1;
    *bits = nbits;
    if (!b)
        return 0;
    b->nbits = nbits;
    if (n) {
        tss_buf_append(&b->buf, p, n);
        if (b->buf.oom)
            return -2;
        /* the bit writer's invariant: nothing but zeros past the end, also
         * in the last byte's unused bits */
        memset(b->buf.data + b->buf.len, 0, b->buf.cap - b->buf.len);
        if (nbits & 7)
            b->buf.data[n - 1] &= (uint8_t)(0xff << (8 - (nbits & 7)));
    }
    return 0;
}

/*
 * One base item into `it` (keep: with its key and points; else read over
 * without its key's check, *key set to its key's bytes). 0, -1 malformed, -2
 * out of memory.
 */
static int get_base_item(tss_rd *r, tss_snap_item *it, int64_t span, bool keep,
                         const uint8_t **key, tss_snap_prevkey *pk)
{
    uint64_t count, nooo;
    int rc;

    if ((rc = tss_snap_get_item_head(r, it, span, keep, key, pk)) != 0)
        return rc;
    if (!tss_rd_varint(r, &count) || count > UINT32_MAX)
        return -1;
    if (count > 0) {
        tss_enc *e = &it->enc;
        uint8_t lead = 0, trail = 0;
        uint64_t ts_bits, val_bits;

        e->count = (uint32_t)count;
        if (pk) { /* version 2: the state as differences, in varints */
            int64_t dt, dd, dv, dvd;

            if (tss_snap_get_i64(r, &e->t0) || !tss_rd_u64(r, &e->v0) ||
                tss_snap_get_i64(r, &dt) || tss_snap_get_i64(r, &dd) ||
                tss_snap_get_i64(r, &dv) || tss_snap_get_i64(r, &dvd))
                return -1;
            if (pk->delta) /* version 3 */
                e->t0 = pk->t0 = tss_snap_undiff(pk->t0, e->t0);
            e->last_t = tss_snap_undiff(e->t0, dt);
            e->last_delta = (uint64_t)dd;
            e->last_v = e->v0 + (uint64_t)dv;
            e->last_vdelta = (uint64_t)dvd;
        } else if (tss_snap_get_i64(r, &e->t0) || !tss_rd_u64(r, &e->v0) ||
                   tss_snap_get_i64(r, &e->last_t) ||
                   !tss_rd_u64(r, &e->last_delta) ||
                   !tss_rd_u64(r, &e->last_v) ||
                   !tss_rd_u64(r, &e->last_vdelta)) {
            return -1;
        }
        if (!tss_rd_u8(r, &lead) || !tss_rd_u8(r, &trail))
            return -1;
        /* an XOR window (trail 0xff: none yet) leaves at least one bit
         * between its zeros, as xor_put makes it: the decoder and the
         * encoder shift by 64 - lead - trail */
        if (trail != 0xff && (lead > 31 || lead + trail > 63))
            return -1;
        e->lead = lead;
        e->trail = trail;
        if ((rc = get_stream(r, keep ? &e->ts : NULL, &ts_bits)) != 0 ||
            (rc = get_stream(r, keep ? &e->val : NULL, &val_bits)) != 0)
            return rc;
        /* every point after the first costs at least one bit of each
         * stream: a larger count is corrupt, and readers would allocate
         * for it before the streams ran out */
        if (count - 1 > ts_bits || count - 1 > val_bits)
            return -1;
    }
    if (!tss_rd_varint(r, &nooo) || nooo > tss_rd_left(r))
        return -1;
    for (uint64_t k = 0; k < nooo; k++) {
        int64_t t;
        uint64_t bits;

        if (tss_snap_get_i64(r, &t) || !tss_rd_u64(r, &bits))
            return -1;
        if (keep && tss_snap_ooo_push(it, t, bits) != 0)
            return -2;
    }
    return 0;
}

/* Checks a base's header (and with `sum` its checksum): *nitems, and *r
 * over its items. 0, or TSS_ECORRUPT naming the file. */
static int base_header(const uint8_t *buf, size_t len, const char *rel,
                       bool sum, uint64_t *nitems, tss_rd *r, unsigned *version)
{
    if (len < HEADER_LEN + 8)
        return tss_error_set(TSS_ECORRUPT, "head snapshot %s: truncated", rel);
    if (memcmp(buf, BASE_MAGIC, 8) != 0)
        return tss_error_set(TSS_ECORRUPT, "head snapshot %s: bad magic", rel);
    if (sum && tss_get_u64(buf + len - 8) != tss_checksum(buf, len - 8))
        return tss_error_set(TSS_ECORRUPT,
                             "head snapshot %s: checksum mismatch", rel);
    *version = tss_get_u16(buf + 8);
    if (*version < 1 || *version > BASE_VERSION ||
        tss_get_u32(buf + 12) != HEADER_LEN)
        return tss_error_set(TSS_ECORRUPT,
                             "head snapshot %s: unsupported version %u", rel,
                             *version);
    *nitems = tss_get_u64(buf + 32);
    if (*nitems > len / 4)
        return tss_error_set(TSS_ECORRUPT, "head snapshot %s: bad item count",
                             rel);
    tss_rd_init(r, buf + HEADER_LEN, len - HEADER_LEN - 8);
    return 0;
}

/*
 * Marks in v->groups the groups of the base's items that `sel` wants, and
 * grows it to cover every id; *nitems: the base's items. Reads the keys
 * only; a malformed base ends the scan quietly (the parse that follows
 * reports it). 0 or TSS_ENOMEM.
 */
static int scan_base(const uint8_t *buf, size_t len, const tss_snap_sel *sel,
                     tss_snap_view *v, uint64_t *nitems)
{
    tss_snap_prevkey pk;
    unsigned version;
    tss_rd r;

    if (base_header(buf, len, "", false, nitems, &r, &version) != 0) {
        tss_error_clear();
        *nitems = 0;
        return 0;
    }
    tss_snap_prevkey_init(&pk, version >= 3);
    for (uint64_t i = 0; i < *nitems; i++) {
        tss_snap_item tmp;
        const uint8_t *key;

        memset(&tmp, 0, sizeof(tmp));
        if (get_base_item(&r, &tmp, 0, false, &key,
                          version >= 2 ? &pk : NULL) != 0)
            return 0;
        if (tss_snap_group_mark(v, i + 1,
                                sel->want(sel->ctx, key, tmp.key_len)))
            return TSS_ENOMEM;
    }
    return 0;
}

/*
 * Parses a base image into the view: the items of the groups the view
 * loads (all when v->groups is NULL); the others are read over, not
 * stored.
 */
static int parse_base(const uint8_t *buf, size_t len, const char *rel,
                      int64_t span, tss_snap_view *v)
{
    tss_snap_prevkey pk;
    uint64_t nitems;
    unsigned version;
    tss_rd r;
    int rc;

    if ((rc = base_header(buf, len, rel, true, &nitems, &r, &version)) != 0)
        return rc;
    tss_snap_prevkey_init(&pk, version >= 3);
    v->gen = tss_get_u64(buf + 16);
    v->written_at = (int64_t)tss_get_u64(buf + 24);
    for (uint64_t i = 0; i < nitems; i++) {
        uint32_t id = (uint32_t)(i + 1);
        tss_snap_item tmp, *it;
        const uint8_t *key;
        bool keep = tss_snap_group_loaded(v, id);

        if (keep) {
            if (!(it = tss_snap_view_push(v)))
                return tss_error_set(TSS_ENOMEM, "out of memory");
        } else {
            memset(&tmp, 0, sizeof(tmp));
            it = &tmp;
        }
        it->id = id;
        v->last_id = id;
        /* an item left out is read over, not checked */
        rc = get_base_item(&r, it, keep ? span : 0, keep, &key,
                           version >= 2 ? &pk : NULL);
        if (rc == -2)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        if (rc)
            return tss_error_set(
                TSS_ECORRUPT, "head snapshot %s: item %" PRIu64 " is malformed",
                rel, i + 1);
    }
    if (tss_rd_left(&r) != 0)
        return tss_error_set(TSS_ECORRUPT, "head snapshot %s: trailing bytes",
                             rel);
    return 0;
}

/* id → item, for replay: NULL when the view does not hold it (an id it
 * never got, or one of a group a partial view left out). */
tss_snap_item *tss_snap_by_id(tss_snap_view *v, uint64_t id)
{
    size_t lo = 0, hi = v->n;

    if (id == 0 || id > v->last_id)
        return NULL;
    if (v->n == v->last_id) /* whole: dense */
        return v->items[id - 1].id == id ? &v->items[id - 1] : NULL;
    /* partial: the items are in id order, and replay asks for the ids of
     * a record's changed items in increasing order, mostly neighbours */
    for (size_t k = v->by_id_hint; k < v->n && k < v->by_id_hint + 2; k++)
        if (v->items[k].id >= id) {
            if (v->items[k].id != id)
                break;
            v->by_id_hint = k;
            return &v->items[k];
        }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->n && v->items[lo].id == id) {
        v->by_id_hint = lo;
        return &v->items[lo];
    }
    return NULL;
}

/* Generations of base snapshots on disk, highest first. */
static int list_gens(tss_storage *st, uint64_t **out, size_t *n)
{
    return tss_storage_list_numbers(st, TSS_HEAD_DIR, "base-", ".snap", out, n);
}

uint64_t tss_snapshot_newest(tss_storage *st)
{
    uint64_t *gens, newest = 0;
    size_t n;

    if (list_gens(st, &gens, &n) != 0) {
        tss_error_clear();
        return 0;
    }
    if (n > 0)
        newest = gens[0]; /* descending */
    tss_free(gens);
    return newest;
}

static void base_name(char *out, size_t size, uint64_t gen)
{
    snprintf(out, size, TSS_HEAD_DIR "/base-%" PRIu64 ".snap", gen);
}

static void log_name(char *out, size_t size, uint64_t gen)
{
    snprintf(out, size, TSS_HEAD_DIR "/log-%" PRIu64, gen);
}

bool tss_snap_file_exists(tss_storage *st, const char *rel)
{
    uint64_t size;
    int fd;

    if (tss_storage_open_read(st, rel, &fd, &size) != 0)
        return false;
    tss_storage_close_fd(st, fd);
    return true;
}

void tss_snap_intents_free(tss_snap_intent *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tss_free(in[i].rel);
        tss_free(in[i].ids);
    }
    tss_free(in);
}

void tss_snap_tail_free(tss_snap_tail *t)
{
    tss_snap_intents_free(t->pending, t->npending);
    memset(t, 0, sizeof(*t));
}

void tss_snap_drop_intent(tss_snap_view *v, const tss_snap_intent *in)
{
    for (size_t k = 0; k < in->n; k++) {
        tss_snap_item *it = tss_snap_by_id(v, in->ids[k]);

        if (it)
            it->dropped = true;
    }
}

int tss_snapshot_load(tss_storage *st, const tss_store_info *info,
                      tss_log_fn log, void *log_ctx, bool repair,
                      tss_snap_view *out)
{
    return tss_snap_load_tail(st, info, log, log_ctx, repair, NULL, out, NULL);
}

int tss_snapshot_load_sel(tss_storage *st, const tss_store_info *info,
                          tss_log_fn log, void *log_ctx,
                          const tss_snap_sel *sel, tss_snap_view *out)
{
    return tss_snap_load_tail(st, info, log, log_ctx, false, sel, out, NULL);
}

/* Reads log-<gen> (lrel) with its staged records, or its ".corrupt" name
 * when it is not there. */
static int read_log(tss_storage *st, uint64_t gen, const char *lrel,
                    const char *laside, uint8_t **buf, size_t *len,
                    bool *from_aside)
{
    int rc = tss_snap_log_read(st, gen, lrel, 0, buf, len, NULL);

    *from_aside = false;
    if (rc == TSS_ENOTFOUND) {
        /* a writer moved the log aside, then died before its new base
         * was on disk: the records before the damage are only there */
        rc = tss_storage_read_all(st, laside, (size_t)MAX_SNAP_FILE, buf, len);
        *from_aside = rc == 0;
    }
    return rc;
}

/*
 * Which groups of ids a partial load of base buf[len] and log lbuf[llen]
 * (NULL: none) loads: out->groups, or none (NULL: all) when the log has
 * records whose items cannot be skipped. 0 or TSS_ENOMEM.
 */
static int scan_groups(const uint8_t *buf, size_t len, const uint8_t *lbuf,
                       size_t llen, const tss_snap_sel *sel, tss_snap_view *out)
{
    uint64_t nitems;
    int rc = scan_base(buf, len, sel, out, &nitems);

    if (rc == 0 && lbuf) {
        rc = tss_snap_log_scan(lbuf, llen, sel, nitems + 1, out);
        if (rc < 0)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        if (rc == 0) {
            tss_free(out->groups);
            out->groups = NULL;
            out->ngroups = out->groups_cap = 0;
        }
        rc = 0;
    }
    return rc;
}

/*
 * Loads base buf[blen] and the whole records of log lbuf[upto] into *out
 * and *ins, replacing what they held: the view of a log whose record at
 * `upto` is damaged, without what that record added before its bad byte.
 * 0, TSS_SNAP_NEED_FULL, or an error (then *out and *ins are as they were).
 */
static int reload_before(const uint8_t *buf, size_t blen, const uint8_t *lbuf,
                         size_t upto, const char *rel, const char *lrel,
                         int64_t span, const tss_snap_sel *sel, tss_log_fn log,
                         void *log_ctx, tss_snap_view *out,
                         tss_snap_intent **ins, size_t *nin)
{
    tss_snap_view v;
    tss_snap_intent *in2 = NULL;
    size_t n2 = 0, bad_off = 0, done = 0;
    const char *why = NULL;
    int rc = 0;

    memset(&v, 0, sizeof(v));
    if (sel)
        rc = scan_groups(buf, blen, lbuf, upto, sel, &v);
    if (rc == 0)
        rc = parse_base(buf, blen, rel, span, &v);
    if (rc == 0)
        rc = tss_snap_log_replay(lbuf, upto, lrel, span, sel, log, log_ctx, &v,
                                 &in2, &n2, &bad_off, &why, &done);
    if (rc == 0 && why) /* the records before a bad one are whole */
        rc = tss_error_set(TSS_ECORRUPT,
                           "head snapshot log %s: records "
                           "before offset %zu changed",
                           lrel, upto);
    if (rc != 0 && rc != TSS_SNAP_NEED_FULL) {
        tss_snap_view_free(&v);
        tss_snap_intents_free(in2, n2);
        return rc;
    }
    tss_snap_view_free(out);
    tss_snap_intents_free(*ins, *nin);
    *out = v;
    *ins = in2;
    *nin = n2;
    return rc;
}

int tss_snap_load_tail(tss_storage *st, const tss_store_info *info,
                       tss_log_fn log, void *log_ctx, bool repair,
                       const tss_snap_sel *sel, tss_snap_view *out,
                       tss_snap_tail *tail)
{
    uint64_t *gens, newest;
    size_t ngens;
    unsigned damaged;
    int rc, attempt = 0;
    bool vanished, need_full;

again:
    memset(out, 0, sizeof(*out));
    if (tail) {
        tss_snap_tail_free(tail);
        tail->extendable = true; /* no log yet: any is read from 0 */
    }
    vanished = need_full = false;
    if ((rc = list_gens(st, &gens, &ngens)) != 0)
        return rc;
    newest = ngens ? gens[0] : 0; /* descending */
    damaged = 0;
    for (size_t g = 0; g < ngens; g++) {
        char rel[96], lrel[96], laside[128];
        uint8_t *buf = NULL, *lbuf = NULL;
        size_t len, blen = 0, llen = 0;
        tss_snap_intent *ins = NULL;
        size_t nin = 0;
        bool from_aside = false;
        int lrc = TSS_ENOTFOUND;

        base_name(rel, sizeof(rel), gens[g]);
        log_name(lrel, sizeof(lrel), gens[g]);
        snprintf(laside, sizeof(laside), "%s.corrupt", lrel);
        rc = tss_storage_read_all(st, rel, (size_t)MAX_SNAP_FILE, &buf, &len);
        if (rc == 0) {
            blen = len;
            lrc =
                read_log(st, gens[g], lrel, laside, &lbuf, &llen, &from_aside);
            /* a partial load: which groups of ids it decodes */
            if (sel && (lrc == 0 || lrc == TSS_ENOTFOUND))
                rc = scan_groups(buf, len, lrc == 0 ? lbuf : NULL, llen, sel,
                                 out);
            if (rc == 0)
                rc = parse_base(buf, len, rel, info->span, out);
        }
        if (rc == 0 && out->gen != gens[g])
            rc = tss_error_set(TSS_ECORRUPT,
                               "head snapshot %s: generation disagrees "
                               "with its name",
                               rel);
        if (rc) {
            tss_free(lbuf);
            tss_free(buf);
        }
        /* only a corrupt (or vanished) base is passed over: one that
         * could not be read may be whole, and the writer would move it
         * aside and start without the points it holds */
        if (rc && rc != TSS_ECORRUPT && rc != TSS_ENOTFOUND)
            break;
        /* a reader racing the writer: the base was replaced by a newer
         * one since the listing (and an older one is gone too, or
         * older than what the segments hold): list again */
        if (rc == TSS_ENOTFOUND && !repair && attempt < 16) {
            vanished = true;
            break;
        }
        if (rc) {
            char aside[128];

            snprintf(aside, sizeof(aside), "%s.corrupt", rel);
            tss_log(log, log_ctx, TSS_LEVEL_ERR, "%s%s", tss_error_last(),
                    repair ? "; moved aside (.corrupt), trying an older one"
                           : "");
            /* its log too: without the base its records cannot be
             * replayed, and the next base would remove it as a stray
             * (its points are only there: kept, never deleted) */
            if (repair && tss_storage_rename(st, rel, aside) == 0 &&
                tss_storage_rename(st, lrel, laside) == 0)
                tss_log(log, log_ctx, TSS_LEVEL_ERR,
                        "head snapshot log %s moved aside as %s with its "
                        "base",
                        lrel, laside);
            tss_error_clear();
            tss_snap_view_free(out);
            damaged++;
            rc = 0;
            continue;
        }
        out->bytes = blen;
        rc = lrc;
        if (rc == TSS_ENOTFOUND && !repair && attempt < 16 &&
            !tss_snap_file_exists(st, rel)) {
            /* no log because the generation was replaced meanwhile (its
             * base is gone too): the records are in the newer one */
            vanished = true;
        } else if (rc == TSS_ENOTFOUND) {
            rc = 0;
        } else if (rc == 0) {
            size_t bad_off = 0, done = 0;
            const char *why;

            rc = tss_snap_log_replay(lbuf, llen, from_aside ? laside : lrel,
                                     info->span, sel, log, log_ctx, out, &ins,
                                     &nin, &bad_off, &why, &done);
            out->bytes += llen;
            if (tail) {
                tail->log_off = done;
                if (llen >= sizeof(tail->log_head))
                    memcpy(tail->log_head, lbuf, sizeof(tail->log_head));
                tail->extendable = !from_aside && !why;
            }
            /* a record rejected part way may have added items or points
             * before its bad byte: load again, the records before it
             * alone (damage is rare; the reports below are the first
             * pass's) */
            if (rc == 0 && why) {
                rc = reload_before(buf, blen, lbuf, bad_off, rel,
                                   from_aside ? laside : lrel, info->span, sel,
                                   log, log_ctx, out, &ins, &nin);
                out->bytes = blen + llen;
            }
            if (rc == TSS_SNAP_NEED_FULL) {
                /* the scan missed an item the log needs: load whole */
                need_full = true;
                rc = 0;
            } else if (rc == 0 && why) {
                tss_snap_log_damaged(
                    st, log, log_ctx, out, from_aside ? laside : lrel,
                    repair && !from_aside ? laside : NULL, bad_off, llen, why);
            }
        }
        tss_free(lbuf);
        tss_free(buf);
        /* a log that could not be read fails the load too: recovering
         * the base alone, the writer would then remove the log */
        /* items whose segment was written are already stored; the others
         * a cache checks again later */
        for (size_t i = 0; rc == 0 && !need_full && i < nin; i++) {
            if (tss_snap_file_exists(st, ins[i].rel)) {
                tss_snap_drop_intent(out, &ins[i]);
            } else if (tail) {
                tss_snap_intent *np = tss_realloc(
                    tail->pending, (tail->npending + 1) * sizeof(*np));

                if (!np) {
                    rc = tss_error_set(TSS_ENOMEM, "out of memory");
                    break;
                }
                tail->pending = np;
                tail->pending[tail->npending++] = ins[i];
                memset(&ins[i], 0, sizeof(ins[i]));
            }
        }
        tss_snap_intents_free(ins, nin);
        break;
    }
    tss_free(gens);
    if (vanished || (need_full && sel)) {
        tss_snap_view_free(out);
        tss_error_clear();
        if (need_full)
            sel = NULL;
        else
            attempt++;
        goto again;
    }
    if (rc == 0 && need_full)
        rc = tss_error_set(TSS_ECORRUPT, "head snapshot: a whole load "
                                         "lacks an item its log needs");
    out->newest_seen = newest;
    out->damaged += damaged; /* a damaged log: counted on replay */
    if (rc) {
        tss_snap_view_free(out);
        if (tail)
            tss_snap_tail_free(tail);
    }
    return rc;
}

/* ---- the writer ---------------------------------------------------------- */

size_t tss_snap_put_item_head(tss_buf *b, const tss_head_view *v)
{
    size_t key_off;

    tss_buf_put_varint(b, v->key_len);
    key_off = b->len;
    tss_buf_append(b, v->key, v->key_len);
    tss_snap_put_i64(b, v->start);
    tss_snap_put_i64(b, v->first_arrival);
    return key_off;
}

int tss_snap_slot_push(tss_snap_slots *s, const tss_snap_slot *x)
{
    void *v = s->v;

    if (tss_array_room(&v, &s->cap, s->n, sizeof(*s->v), 256) != 0)
        return TSS_ENOMEM;
    s->v = v;
    s->v[s->n++] = *x;
    return 0;
}

typedef struct slot_sort {
    const uint8_t *buf;
    const tss_snap_slot *slots;
} slot_sort;

static int cmp_slots(const void *a, const void *b, void *ctx)
{
    const slot_sort *c = ctx;
    const tss_snap_slot *x = &c->slots[*(const uint32_t *)a];
    const tss_snap_slot *y = &c->slots[*(const uint32_t *)b];
    int d = tss_key_cmp(c->buf + x->key_off, x->key_len, c->buf + y->key_off,
                        y->key_len);

    return d ? d : (x->start > y->start) - (x->start < y->start);
}

int tss_snap_rank(const uint8_t *buf, const tss_snap_slots *s, uint32_t **rank)
{
    uint32_t *order = tss_malloc((s->n ? s->n : 1) * sizeof(*order));
    uint32_t *rk = tss_malloc((s->n ? s->n : 1) * sizeof(*rk));
    slot_sort ctx = {buf, s->v};

    *rank = NULL;
    if (!order || !rk) {
        tss_free(order);
        tss_free(rk);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->n; i++)
        order[i] = (uint32_t)i;
    if (s->n > 1)
        qsort_r(order, s->n, sizeof(*order), cmp_slots, &ctx);
    for (size_t i = 0; i < s->n; i++)
        rk[order[i]] = (uint32_t)i;
    tss_free(order);
    *rank = rk;
    return 0;
}

/* A field staged by tss_snap_put_item_head or after it, put as the
 * difference from *prev (which it becomes). The staged bytes are ours:
 * well formed. */
static void put_diff(tss_buf *out, tss_rd *r, int64_t *prev)
{
    int64_t x = 0;

    (void)tss_snap_get_i64(r, &x);
    tss_snap_put_i64(out, tss_snap_diff(x, *prev));
    *prev = x;
}

void tss_snap_put_ranked(tss_buf *out, const uint8_t *buf,
                         const tss_snap_slots *s, const uint32_t *rank,
                         enum tss_snap_list list)
{
    uint32_t *order = tss_malloc((s->n ? s->n : 1) * sizeof(*order));
    const uint8_t *prev = NULL;
    size_t plen = 0;
    tss_snap_prevkey d; /* only its differences' fields */

    if (!order) {
        out->oom = true;
        return;
    }
    tss_snap_prevkey_init(&d, true);
    for (size_t i = 0; i < s->n; i++)
        order[rank ? rank[i] : i] = (uint32_t)i;
    for (size_t i = 0; i < s->n; i++) {
        const tss_snap_slot *x = &s->v[order[i]];
        const uint8_t *key = buf + x->key_off;
        size_t shared = 0, rest = x->key_off + x->key_len;
        uint64_t count = 1;
        tss_rd r;

        while (shared < plen && shared < x->key_len &&
               prev[shared] == key[shared])
            shared++;
        tss_buf_put_varint(out, shared);
        tss_buf_put_varint(out, x->key_len - shared);
        tss_buf_append(out, key + shared, x->key_len - shared);
        tss_rd_init(&r, buf + rest, x->off + x->len - rest);
        put_diff(out, &r, &d.start);
        put_diff(out, &r, &d.arrival);
        if (list == TSS_SNAP_LIST_BASE) {
            (void)tss_rd_varint(&r, &count);
            tss_buf_put_varint(out, count);
        }
        if (count)
            put_diff(out, &r, &d.t0);
        tss_buf_append(out, r.p, tss_rd_left(&r));
        prev = key;
        plen = x->key_len;
    }
    tss_free(order);
}

/* Base pass 1: serialize every item (in the head's order, a slot each)
 * and stage its cursor. */
typedef struct base_ctx {
    tss_buf *out;
    tss_snap_slots slots;
    uint32_t n;
} base_ctx;

static int base_visit(void *arg, tss_head_view *v)
{
    base_ctx *c = arg;
    const tss_enc *e = v->enc;
    tss_buf *b = c->out;
    tss_snap_slot slot = {
        .off = b->len, .key_len = v->key_len, .start = v->start};

    slot.key_off = tss_snap_put_item_head(b, v);
    tss_buf_put_varint(b, e->count);
    if (e->count) {
        tss_snap_put_i64(b, e->t0);
        tss_buf_put_u64(b, e->v0);
        /* version 2: what changes little as differences, in varints */
        tss_snap_put_i64(b, tss_snap_diff(e->last_t, e->t0));
        tss_snap_put_i64(b, (int64_t)e->last_delta);
        tss_snap_put_i64(b, (int64_t)(e->last_v - e->v0));
        tss_snap_put_i64(b, (int64_t)e->last_vdelta);
        tss_buf_put_u8(b, e->lead);
        tss_buf_put_u8(b, e->trail);
        tss_buf_put_varint(b, e->ts.nbits);
        tss_buf_append(b, e->ts.buf.data, (size_t)((e->ts.nbits + 7) / 8));
        tss_buf_put_varint(b, e->val.nbits);
        tss_buf_append(b, e->val.buf.data, (size_t)((e->val.nbits + 7) / 8));
    }
    tss_buf_put_varint(b, v->nooo);
    for (uint32_t i = 0; i < v->nooo; i++) {
        tss_snap_put_i64(b, v->ooo[i].t);
        tss_buf_put_u64(b, v->ooo[i].v.bits);
    }
    if (b->oom)
        return tss_error_set(TSS_ENOMEM, "out of memory writing a snapshot");
    slot.len = b->len - slot.off;
    if (tss_snap_slot_push(&c->slots, &slot) != 0)
        return TSS_ENOMEM;
    v->cur->pend = true;
    v->cur->pend_reset = v->cur->reset;
    v->cur->reset = false;
    v->cur->pend_id = ++c->n;
    v->cur->pend_count = e->count;
    v->cur->pend_ts_bits = (uint32_t)e->ts.nbits;
    v->cur->pend_val_bits = (uint32_t)e->val.nbits;
    v->cur->pend_nooo = v->nooo;
    return 0;
}

typedef struct commit_ctx {
    bool ok;
    uint32_t first, n;
    const uint32_t *rank;
} commit_ctx;

/* Pass 2: make staged cursors current (their new items' ids in key order,
 * as written), or forget them. */
static int commit_visit(void *arg, tss_head_view *v)
{
    const commit_ctx *k = arg;
    tss_snapcur *c = v->cur;

    if (!c->pend)
        return 0;
    c->pend = false;
    if (!k->ok) {
        if (c->pend_reset)
            c->reset = true;
        return 0;
    }
    if (k->rank && c->pend_id > k->first && c->pend_id - k->first <= k->n)
        c->pend_id = k->first + 1 + k->rank[c->pend_id - k->first - 1];
    c->id = c->pend_id;
    c->count = c->pend_count;
    c->ts_bits = c->pend_ts_bits;
    c->val_bits = c->pend_val_bits;
    c->nooo = c->pend_nooo;
    return 0;
}

void tss_snapshot_commit(tss_snapshot *sn, bool ok, uint32_t first, uint32_t n,
                         const uint32_t *rank)
{
    commit_ctx k = {ok, first, n, rank};

    /* visited items keep their cursor when they move, and are not removed
     * between the staging visit and this one (only this thread seals) */
    (void)!tss_head_visit(sn->head, commit_visit, &k);
}

static void remove_gen(tss_snapshot *sn, uint64_t gen)
{
    char rel[96];

    base_name(rel, sizeof(rel), gen);
    (void)!tss_storage_remove(sn->st, rel);
    log_name(rel, sizeof(rel), gen);
    if (gen != sn->keep_log)
        (void)!tss_storage_remove(sn->st, rel);
}

/* Removes log files of generations other than `keep` up to `safe` (their
 * records are in the head, so in the base just written); a newer one
 * other than `keep` is moved aside, with an ERROR. */
static void remove_stray_logs(tss_snapshot *sn, uint64_t keep, uint64_t safe)
{
    char **names;
    size_t count;

    if (tss_storage_list(sn->st, TSS_HEAD_DIR, "log-", NULL, &names, &count) !=
        0)
        return;
    for (size_t i = 0; i < count; i++) {
        char *end, rel[300];
        unsigned long long g;

        errno = 0;
        g = strtoull(names[i] + 4, &end, 10);
        if (errno || *end || end == names[i] + 4 || g == keep ||
            g == sn->keep_log)
            continue;
        snprintf(rel, sizeof(rel), TSS_HEAD_DIR "/%s", names[i]);
        if (g > safe) {
            /* records no base of ours holds: the points may be only
             * there (its base was removed by hand) */
            char aside[320];

            if (tss_storage_move_aside(sn->st, rel, ".corrupt", aside,
                                       sizeof(aside)) == 0)
                tss_log(sn->log, sn->log_ctx, TSS_LEVEL_ERR,
                        "head snapshot log %s has no base (removed?): its "
                        "records cannot be replayed; kept as %s",
                        rel, aside);
            else
                tss_log(sn->log, sn->log_ctx, TSS_LEVEL_ERR,
                        "head snapshot log %s has no base (removed?) and "
                        "could not be moved aside: %s",
                        rel, tss_error_last());
            continue;
        }
        (void)!tss_storage_remove(sn->st, rel);
    }
    tss_storage_names_free(names, count);
}

int tss_snapshot_base(tss_snapshot *sn, int64_t now)
{
    tss_buf img = {0}, items = {0};
    base_ctx c = {&items, {0}, 0};
    uint32_t *rank = NULL;
    uint8_t hdr[HEADER_LEN];
    char rel[96];
    uint64_t gen = (sn->tried > sn->gen ? sn->tried : sn->gen) + 1;
    uint64_t old = sn->gen, safe = sn->safe_gen, *gens;
    size_t ngens;
    int rc;

    sn->tried = gen;
    /* staged records to the old log first (no fsync): a reader that read
     * the old base before this one is on disk still finds them when the
     * stage goes */
    if (!sn->need_base)
        (void)!tss_snap_stage_flush(sn);
    memset(hdr, 0, sizeof(hdr));
    tss_buf_append(&img, hdr, sizeof(hdr));
    if (img.oom) { /* the header is written into below */
        rc = tss_error_set(TSS_ENOMEM, "out of memory writing a snapshot");
        goto fail;
    }
    if ((rc = tss_head_visit(sn->head, base_visit, &c)) != 0 ||
        (rc = tss_snap_rank(items.data, &c.slots, &rank)) != 0)
        goto fail;
    /* the items in id order: keys in order */
    tss_snap_put_ranked(&img, items.data, &c.slots, rank, TSS_SNAP_LIST_BASE);
    tss_buf_free(&items);
    if (img.oom) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory writing a snapshot");
        goto fail;
    }
    memcpy(img.data, BASE_MAGIC, 8);
    tss_put_u16(img.data + 8, BASE_VERSION);
    tss_put_u32(img.data + 12, HEADER_LEN);
    tss_put_u64(img.data + 16, gen);
    tss_put_u64(img.data + 24, (uint64_t)now);
    tss_put_u64(img.data + 32, c.n);
    tss_buf_put_u64(&img, tss_checksum(img.data, img.len));
    if (img.oom) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory writing a snapshot");
        goto fail;
    }
    base_name(rel, sizeof(rel), gen);
    if ((rc = tss_storage_write_new(sn->st, rel, img.data, img.len)) != 0)
        goto fail;
    /* the new base is durable: switch to its log */
    tss_storage_appender_close(sn->st, &sn->logw);
    tss_snap_stage_switch(sn);
    sn->gen = gen;
    sn->next_id = c.n;
    sn->need_base = false;
    sn->unsynced = false;
    sn->stats.gen = gen;
    sn->stats.bases_written++;
    sn->stats.bytes_written += img.len;
    sn->stats.last_write = now;
    log_name(sn->log_rel, sizeof(sn->log_rel), gen);
    tss_snapshot_commit(sn, true, 0, (uint32_t)c.slots.n, rank);
    tss_buf_free(&img);
    tss_free(c.slots.v);
    tss_free(rank);
    if (sn->keep_log) {
        char lrel[96], aside[128];

        log_name(lrel, sizeof(lrel), sn->keep_log);
        snprintf(aside, sizeof(aside), "%s.corrupt", lrel);
        if (tss_storage_rename(sn->st, lrel, aside) == 0) {
            tss_log(sn->log, sn->log_ctx, TSS_LEVEL_NOTICE,
                    "head snapshot log %s moved aside as %s", lrel, aside);
            sn->keep_log = 0;
        }
    }
    /* everything older is superseded (older ones only exist after a
     * failed removal, or a log whose base was found corrupt) */
    if (old && old <= safe)
        remove_gen(sn, old);
    if (list_gens(sn->st, &gens, &ngens) == 0) {
        for (size_t i = 0; i < ngens; i++)
            if (gens[i] < gen)
                remove_gen(sn, gens[i]);
        tss_free(gens);
    }
    remove_stray_logs(sn, gen, safe);
    sn->safe_gen = gen;
    tss_error_clear();
    return 0;
fail:
    tss_snapshot_commit(sn, false, 0, 0, NULL);
    sn->need_base = true;
    tss_buf_free(&img);
    tss_buf_free(&items);
    tss_free(c.slots.v);
    tss_free(rank);
    return rc;
}

/*
 * The highest generation a file in head/ is named for: bases, logs, and
 * bases moved aside as .corrupt. A new base must not take the number of a
 * leftover log (whose base was corrupt): recovery would replay that log's
 * records on top of the new base. 0 if none (or the listing fails).
 */
static uint64_t newest_gen_on_disk(tss_storage *st)
{
    char **names;
    size_t count;
    uint64_t newest = 0;

    if (tss_storage_list(st, TSS_HEAD_DIR, "", NULL, &names, &count) != 0)
        return 0;
    for (size_t i = 0; i < count; i++) {
        const char *p = strncmp(names[i], "base-", 5) == 0  ? names[i] + 5
                        : strncmp(names[i], "log-", 4) == 0 ? names[i] + 4
                                                            : NULL;
        unsigned long long g;

        if (!p)
            continue;
        errno = 0;
        g = strtoull(p, NULL, 10);
        if (!errno && g > newest)
            newest = g;
    }
    tss_storage_names_free(names, count);
    return newest;
}

/*
 * A second item for a window the head already holds (a snapshot left
 * two: an intent whose segment went, a writer's bug): its points are
 * appended to the one restored, as out-of-order points, last arrival
 * winning, so that nothing is lost and the writer starts. A WARNING.
 * They were received before: not counted as appended again.
 */
static int restore_again(tss_head *head, const tss_snap_item *it,
                         tss_log_fn log, void *log_ctx)
{
    uint64_t hash = tss_key_hash(it->key, it->key_len);
    tss_point *pts = NULL;
    size_t n = 0, cap = 0;
    int rc;

    tss_error_clear();
    rc = tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, &n, &cap);
    for (size_t k = 0; rc == 0 && k < n; k++)
        rc = tss_head_readd(head, it->key, it->key_len, hash, pts[k].t,
                            pts[k].v, it->first_arrival);
    tss_free(pts);
    if (rc == 0)
        tss_log(log, log_ctx, TSS_LEVEL_WARNING,
                "head snapshot: two items for one window of a series "
                "(window start %" PRId64 "); their %zu points merged",
                it->start, n);
    return rc;
}

int tss_snapshot_open(tss_snapshot **out, tss_storage *st,
                      const tss_store_info *info, tss_head *head,
                      int64_t sync_interval, const char *stage_dir, int64_t now,
                      tss_log_fn log, void *log_ctx)
{
    struct timespec t0, t1;
    tss_snap_view v;
    tss_snapshot *sn;
    uint64_t items = 0, points = 0, newest;
    int rc;

    *out = NULL;
    if ((rc = tss_storage_mkdirs(st, TSS_HEAD_DIR)) != 0)
        return rc;
    sn = tss_calloc(1, sizeof(*sn));
    if (!sn)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    sn->st = st;
    sn->info = info;
    sn->head = head;
    sn->log = log;
    sn->log_ctx = log_ctx;
    sn->logw.fd = -1;
    sn->sync_interval = sync_interval;
    sn->stagew.fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* records a killed writer staged go to their logs first */
    if ((rc = tss_snap_stage_fold(st, log, log_ctx)) != 0 ||
        (rc = tss_snapshot_load(st, info, log, log_ctx, true, &v)) != 0)
        goto fail;
    if (v.log_kept)
        sn->keep_log = v.gen;
    /* the next base must be newer than anything on disk */
    newest = newest_gen_on_disk(st);
    sn->gen = newest > v.gen ? newest : v.gen;
    sn->safe_gen = v.gen;
    for (size_t i = 0; i < v.n && rc == 0; i++) {
        tss_snap_item *it = &v.items[i];

        if (it->dropped || (it->enc.count == 0 && it->nooo == 0))
            continue;
        items++;
        points += it->enc.count + it->nooo;
        rc = tss_head_restore(head, it->key, it->key_len, it->start,
                              it->first_arrival, &it->enc, it->ooo, it->nooo);
        if (rc == 0) { /* the head took them */
            it->ooo = NULL;
            it->nooo = 0;
        } else if (rc == TSS_EEXISTS) { /* copied: the view frees them */
            rc = restore_again(head, it, log, log_ctx);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* what the ERRORs above (a corrupt base or log) came to */
    if (rc == 0 && v.damaged && !v.gen)
        tss_log(log, log_ctx, TSS_LEVEL_ERR,
                "head snapshot: no valid base to recover from; starting "
                "with an empty head (the points only the damaged files "
                "held are not restored; the segments are intact)");
    else if (rc == 0 && v.damaged)
        tss_log(log, log_ctx, TSS_LEVEL_ERR,
                "head snapshot: recovered generation %" PRIu64
                " up to the damage reported above; the points only the "
                "damaged files held are not restored",
                v.gen);
    if (rc == 0 && v.gen)
        tss_log(log, log_ctx, TSS_LEVEL_INFO,
                "recovered the head from snapshot generation %" PRIu64
                " (%" PRIu64 " records, %" PRIu64 " bytes): %" PRIu64
                " series windows, %" PRIu64 " points, in %.3f s",
                v.gen, v.records, v.bytes, items, points,
                (double)(t1.tv_sec - t0.tv_sec) +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    tss_snap_view_free(&v);
    if (rc)
        goto fail;
    {
        int removed = tss_storage_remove_temps(st, TSS_HEAD_DIR);

        if (removed > 0) /* as store.c says for the other directories */
            tss_log(log, log_ctx, TSS_LEVEL_NOTICE,
                    "removed %d temp file(s) a crashed writer left in "
                    "%s",
                    removed, TSS_HEAD_DIR);
    }
    /* start clean: a fresh base of what was recovered, a fresh log. When
     * it cannot be written (a full disk, a failing one) the writer opens
     * all the same: what was recovered stays in the generation on disk,
     * which is only removed once a new base is, and the next snapshot
     * writes that base (need_base) */
    if ((rc = tss_snapshot_base(sn, now)) != 0) {
        if (rc == TSS_ENOMEM)
            goto fail;
        tss_log(log, log_ctx, TSS_LEVEL_WARNING,
                "head snapshot base not written at open (retried at the "
                "next snapshot): %s",
                tss_error_last());
    }
    (void)tss_snap_stage_start(sn, stage_dir);
    sn->last_sync = now;
    *out = sn;
    return 0;
fail:
    tss_snapshot_close(sn);
    return rc;
}

void tss_snapshot_stats_get(const tss_snapshot *sn, tss_snapshot_stats *out)
{
    *out = sn->stats;
}

void tss_snapshot_set_storage(tss_snapshot *sn, tss_storage *st)
{
    tss_storage_appender_close(sn->st, &sn->logw);
    sn->st = st;
    sn->need_base = true; /* unsynced log records may be lost */
}

void tss_snapshot_close(tss_snapshot *sn)
{
    if (!sn)
        return;
    bool flushed = sn->pending.len == 0 && !sn->need_base;

    /* after a failed append (need_base) the stage keeps the records the
     * disk log lacks: the next writer's start completes the log from it */
    if (sn->logw.fd >= 0 && !sn->need_base)
        flushed = tss_snap_stage_flush(sn) == 0 &&
                  tss_storage_sync_fd(sn->st, sn->logw.fd, sn->log_rel) == 0;
    else if (sn->logw.fd >= 0)
        (void)!tss_storage_sync_fd(sn->st, sn->logw.fd, sn->log_rel);
    tss_storage_appender_close(sn->st, &sn->logw);
    tss_snap_stage_close(sn, flushed);
    tss_free(sn);
}
