/*
 * Head snapshots, the delta log (log-<gen>): record framing, the delta and
 * intent records the writer appends between bases (tss_snapshot_write,
 * tss_snapshot_intent) and their replay at recovery, which tells a tail
 * torn by a crash (dropped with a WARNING) from corruption (an ERROR, the
 * file moved aside). Format and recovery rules are in snapshot.h; bases
 * and the load that calls the replay are in snapshot.c.
 */
#define _GNU_SOURCE
#include "snapshot_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec_gorilla.h"

#define LOG_MAGIC 0x314c5354u /* "TSL1" little-endian */
#define REC_DELTA 1
#define REC_INTENT 2
#define REC_DELTA_GROUPED 3
/* type 3 with the new items' keys front-coded (tss_snap_prevkey) */
#define REC_DELTA_FRONT 4
/* type 4 with the new items' start, first arrival and t0 as differences */
#define REC_DELTA_DIFF 5
/* blocks the log reserves ahead of its appends (tss_appender.prealloc) */
#define LOG_PREALLOC (256 * 1024)

/* ---- Elias gamma codes (Elias, IEEE Trans. Inf. Theory 21(2), 1975) -- */

static int gamma_put(tss_bits *w, uint64_t x)
{
    unsigned n = 63 - (unsigned)__builtin_clzll(x); /* x >= 1 */
    int rc;

    if ((rc = tss_bits_put(w, 0, n)) != 0)
        return rc;
    return tss_bits_put(w, x, n + 1);
}

static bool gamma_get(tss_bitrd *r, uint64_t *x)
{
    unsigned n = 0;
    uint64_t bit, rest;

    for (;;) {
        if (!tss_bitrd_bit(r, &bit))
            return false;
        if (bit)
            break;
        if (++n > 63)
            return false;
    }
    if (n == 0) { /* '1': 1, the usual id gap */
        *x = 1;
        return true;
    }
    if (!tss_bitrd_get(r, n, &rest))
        return false;
    *x = (UINT64_C(1) << n) | rest;
    return true;
}

/* ---- replay ------------------------------------------------------------ */

/*
 * Whether a new item of id `id` (key) is loaded into a view: always into a
 * whole view; into a partial one if its group is, or the group is new
 * since the load (a reader's cache reading on loads those whole). -3: the
 * view left its group out but `sel` wants it (load again).
 */
static int new_item_loaded(tss_snap_view *v, const tss_snap_sel *sel,
                           uint64_t id, const uint8_t *key, size_t klen)
{
    uint64_t g = id >> TSS_SNAP_GROUP_SHIFT;

    if (!v->groups)
        return 1;
    if (g >= v->ngroups)
        return tss_snap_group_mark(v, id, true) == 0 ? 1 : -2;
    if (v->groups[g])
        return 1;
    return sel && sel->want(sel->ctx, key, klen) ? -3 : 0;
}

/* A delta record's new item: its header, read over without checks
 * (tss_snap_item_check checks one that is kept), t0 and v0. 0 or -1. */
static int get_new_item(tss_rd *r, tss_snap_item *it, const uint8_t **key,
                        int64_t *t0, uint64_t *v0, tss_snap_prevkey *pk)
{
    if (tss_snap_get_item_head(r, it, 0, false, key, pk) != 0 ||
        tss_snap_get_i64(r, t0) || !tss_rd_u64(r, v0))
        return -1;
    if (pk && pk->delta)
        *t0 = pk->t0 = tss_snap_undiff(pk->t0, *t0);
    return 0;
}

/* The new items of a delta record. */
static int replay_new(tss_rd *r, int64_t span, const tss_snap_sel *sel,
                      tss_snap_view *v, uint8_t type)
{
    tss_snap_prevkey pk;
    bool front = type == REC_DELTA_FRONT || type == REC_DELTA_DIFF;
    uint64_t nnew;

    tss_snap_prevkey_init(&pk, type == REC_DELTA_DIFF);
    if (!tss_rd_varint(r, &nnew) || nnew > tss_rd_left(r))
        return -1;
    for (uint64_t i = 0; i < nnew; i++) {
        tss_snap_item tmp, *it;
        const uint8_t *key;
        tss_value first;
        int64_t t0;
        uint64_t v0;
        int rc;

        memset(&tmp, 0, sizeof(tmp));
        if (get_new_item(r, &tmp, &key, &t0, &v0, front ? &pk : NULL) != 0)
            return -1;
        rc = new_item_loaded(v, sel, v->last_id + 1, key, tmp.key_len);
        if (rc < 0)
            return rc;
        v->last_id++;
        if (!rc)
            continue; /* left out: read over, not checked, not stored */
        if (tss_snap_item_check(&tmp, key, span) != 0)
            return -1;
        if (!(it = tss_snap_view_push(v)))
            return -2;
        *it = tmp;
        it->id = (uint32_t)v->last_id;
        if (!(it->key = tss_malloc(tmp.key_len)))
            return -2;
        memcpy(it->key, key, tmp.key_len);
        first.bits = v0;
        if (tss_enc_append(&it->enc, t0, first) != 0)
            return -2;
    }
    return 0;
}

/* Replays one item's points from a changed-items bit stream. */
static int replay_item(tss_snap_view *v, tss_bitrd *br, uint64_t id)
{
    uint64_t count = 1, flag;
    tss_snap_item *it;

    if (!tss_bitrd_bit(br, &flag))
        return -1;
    if (flag && !gamma_get(br, &count))
        return -1;
    count += flag ? 1 : 0;
    if (id == 0 || id > v->last_id || count > UINT32_MAX)
        return -1;
    if (!(it = tss_snap_by_id(v, id)))
        return -3; /* of a group the view left out */
    if (tss_enc_replay(&it->enc, br, (uint32_t)count) != 0)
        return tss_error_last_code() == TSS_ENOMEM ? -2 : -1;
    return 0;
}

/* Type 1's changed items: one bit stream for all of them. */
static int replay_stream(tss_rd *r, tss_snap_view *v)
{
    uint64_t nchanged, nbytes, id = 0;
    const uint8_t *bits;
    tss_bitrd br;

    if (!tss_rd_varint(r, &nchanged) || !tss_rd_varint(r, &nbytes) ||
        !tss_rd_bytes(r, (size_t)nbytes, &bits))
        return -1;
    br = (tss_bitrd){bits, 0, nbytes * 8};
    for (uint64_t i = 0; i < nchanged; i++) {
        uint64_t gap;
        int rc;

        if (!gamma_get(&br, &gap))
            return -1;
        id += gap;
        if ((rc = replay_item(v, &br, id)) != 0)
            return rc;
    }
    return 0;
}

/* Type 3's changed items: a bit stream per group of ids, skipped whole
 * when the view left the group out. */
static int replay_groups(tss_rd *r, tss_snap_view *v)
{
    uint64_t ngroups, g = 0;

    if (!tss_rd_varint(r, &ngroups) || ngroups > tss_rd_left(r))
        return -1;
    for (uint64_t i = 0; i < ngroups; i++) {
        uint64_t gap, n, nbytes, prev, pad;
        const uint8_t *bits;
        tss_bitrd br;

        if (!tss_rd_varint(r, &gap) || !tss_rd_varint(r, &n) ||
            !tss_rd_varint(r, &nbytes) ||
            !tss_rd_bytes(r, (size_t)nbytes, &bits) ||
            n >= (UINT64_C(1) << TSS_SNAP_GROUP_SHIFT) || gap > UINT32_MAX)
            return -1;
        n++; /* stored as items - 1 */
        g = i ? g + 1 + gap : gap;
        if (g > (UINT32_MAX >> TSS_SNAP_GROUP_SHIFT))
            return -1;
        if (!tss_snap_group_loaded(v, g << TSS_SNAP_GROUP_SHIFT))
            continue;
        br = (tss_bitrd){bits, 0, nbytes * 8};
        prev = (g << TSS_SNAP_GROUP_SHIFT) - 1; /* wraps for group 0 */
        for (uint64_t k = 0; k < n; k++) {
            uint64_t id;
            int rc;

            if (!gamma_get(&br, &gap))
                return -1;
            id = prev + gap;
            if (id >> TSS_SNAP_GROUP_SHIFT != g)
                return -1;
            if ((rc = replay_item(v, &br, id)) != 0)
                return rc;
            prev = id;
        }
        /* the group's bits end in zeros to its last byte */
        if (br.nbits - br.pos >= 8 ||
            (br.pos < br.nbits &&
             (!tss_bitrd_get(&br, (unsigned)(br.nbits - br.pos), &pad) ||
              pad != 0)))
            return -1;
    }
    return 0;
}

/* A delta record (type 1, 3, 4 or 5) into the view: 0, -1 malformed, -2 out
 * of memory, -3 a partial view lacks items it needs. */
static int replay_delta(tss_rd *r, int64_t span, const tss_snap_sel *sel,
                        tss_snap_view *v, uint8_t type)
{
    uint64_t ndrop, nooo;
    int rc;

    if ((rc = replay_new(r, span, sel, v, type)) != 0)
        return rc;
    if (!tss_rd_varint(r, &ndrop) || ndrop > tss_rd_left(r))
        return -1;
    for (uint64_t i = 0; i < ndrop; i++) {
        uint64_t d;
        tss_snap_item *it;

        if (!tss_rd_varint(r, &d) || d == 0 || d > v->last_id)
            return -1;
        if ((it = tss_snap_by_id(v, d)) != NULL) /* NULL: left out */
            it->dropped = true;
    }
    if (!tss_rd_varint(r, &nooo) || nooo > tss_rd_left(r))
        return -1;
    for (uint64_t i = 0; i < nooo; i++) {
        uint64_t oid, pv;
        int64_t t;
        tss_snap_item *it;

        if (!tss_rd_varint(r, &oid) || tss_snap_get_i64(r, &t) ||
            !tss_rd_u64(r, &pv) || oid == 0 || oid > v->last_id)
            return -1;
        it = tss_snap_by_id(v, oid); /* NULL: left out */
        if (it && tss_snap_ooo_push(it, t, pv) != 0)
            return -2;
    }
    rc = type != REC_DELTA ? replay_groups(r, v) : replay_stream(r, v);
    if (rc)
        return rc;
    return tss_rd_left(r) == 0 ? 0 : -1;
}

int tss_snap_log_scan(const uint8_t *buf, size_t len, const tss_snap_sel *sel,
                      uint64_t first_id, tss_snap_view *v)
{
    uint64_t id = first_id;
    tss_snap_prevkey pk;

    for (size_t off = 0; len - off >= 16;) {
        uint32_t blen = tss_get_u32(buf + off + 4);
        uint64_t nnew;
        uint8_t type;
        tss_rd r;

        if (tss_get_u32(buf + off) != LOG_MAGIC || blen > len - off - 16)
            break;
        tss_rd_init(&r, buf + off + 16, blen);
        off += 16 + (size_t)blen;
        if (!tss_rd_u8(&r, &type))
            break;
        if (type == REC_DELTA)
            return 0;
        if (type == REC_INTENT)
            continue;
        if ((type != REC_DELTA_GROUPED && type != REC_DELTA_FRONT &&
             type != REC_DELTA_DIFF) ||
            !tss_rd_varint(&r, &nnew) || nnew > tss_rd_left(&r))
            break;
        tss_snap_prevkey_init(&pk, type == REC_DELTA_DIFF);
        for (uint64_t i = 0; i < nnew; i++, id++) {
            tss_snap_item tmp; /* get_new_item sets only what it reads */
            const uint8_t *key;
            int64_t t0;
            uint64_t v0;

            if (get_new_item(&r, &tmp, &key, &t0, &v0,
                             type != REC_DELTA_GROUPED ? &pk : NULL) != 0)
                return 1; /* the replay stops here too */
            if (tss_snap_group_mark(v, id,
                                    sel->want(sel->ctx, key, tmp.key_len)))
                return -1;
        }
    }
    return 1;
}

static int replay_intent(tss_rd *r, tss_snap_intent *in)
{
    uint64_t plen, n;
    const uint8_t *p;

    if (!tss_rd_varint(r, &plen) || plen == 0 || plen > 4096 ||
        !tss_rd_bytes(r, (size_t)plen, &p) || !tss_rd_varint(r, &n) ||
        n > tss_rd_left(r))
        return -1;
    in->rel = tss_malloc((size_t)plen + 1);
    in->ids = tss_calloc(n ? (size_t)n : 1, sizeof(*in->ids));
    if (!in->rel || !in->ids)
        return -2;
    memcpy(in->rel, p, (size_t)plen);
    in->rel[plen] = '\0';
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id;

        if (!tss_rd_varint(r, &id) || id > UINT32_MAX)
            return -1;
        in->ids[in->n++] = (uint32_t)id;
    }
    return tss_rd_left(r) == 0 ? 0 : -1;
}

/*
 * Whether a whole record with a matching checksum starts anywhere in
 * buf[from, len). A crash mid-append only ever cuts the last record short,
 * so such a record after a bad one means the bad one is damage, not a tail
 * torn by a crash.
 */
static bool record_follows(const uint8_t *buf, size_t len, size_t from)
{
    for (size_t p = from; p < len && len - p >= 16; p++) {
        uint32_t blen;

        if (tss_get_u32(buf + p) != LOG_MAGIC)
            continue;
        blen = tss_get_u32(buf + p + 4);
        if (blen <= len - p - 16 &&
            tss_get_u64(buf + p + 8) == tss_checksum(buf + p + 16, blen))
            return true;
    }
    return false;
}

/*
 * Replays log records into the view until the end or a bad record. A torn
 * tail is logged here (a WARNING); corruption is left to the caller, which
 * may move the file aside first: *bad_why says what is wrong with the
 * record at *bad_off (NULL: none is). *done is where the records replayed
 * end (a reader that reads on from there later: snapshot_cache.c).
 * TSS_SNAP_NEED_FULL: a partial view (v->groups) lacks items a record
 * needs, or `sel` wants a new item of a group the view left out; the view
 * is then to be dropped.
 */
int tss_snap_log_replay(const uint8_t *buf, size_t len, const char *rel,
                        int64_t span, const tss_snap_sel *sel, tss_log_fn log,
                        void *log_ctx, tss_snap_view *v,
                        tss_snap_intent **intents, size_t *nint,
                        size_t *bad_off, const char **bad_why, size_t *done)
{
    size_t off = 0;

    *bad_why = NULL;
    *done = 0;
    while (off < len) {
        uint32_t blen = 0;
        tss_rd r;
        uint8_t type;
        int rc;
        bool whole = false;

        if (len - off >= 16 && tss_get_u32(buf + off) == LOG_MAGIC) {
            blen = tss_get_u32(buf + off + 4);
            whole = blen <= len - off - 16;
        }
        if (!whole && !record_follows(buf, len, off + 1)) {
            tss_log(log, log_ctx, TSS_LEVEL_WARNING,
                    "head snapshot log %s: ignoring %zu bytes from offset "
                    "%zu (a record cut short by a crash, or one a running "
                    "writer is appending)",
                    rel, len - off, off);
            return 0;
        }
        *bad_off = off;
        if (!whole) {
            *bad_why = "is not a record, and a whole record follows it";
            return 0;
        }
        if (tss_get_u64(buf + off + 8) != tss_checksum(buf + off + 16, blen)) {
            *bad_why = "fails its checksum";
            return 0;
        }
        tss_rd_init(&r, buf + off + 16, blen);
        if (!tss_rd_u8(&r, &type))
            type = 0;
        if (type == REC_DELTA || type == REC_DELTA_GROUPED ||
            type == REC_DELTA_FRONT || type == REC_DELTA_DIFF) {
            rc = replay_delta(&r, span, sel, v, type);
        } else if (type == REC_INTENT) {
            tss_snap_intent *ni =
                tss_realloc(*intents, (*nint + 1) * sizeof(*ni));

            if (!ni)
                return tss_error_set(TSS_ENOMEM, "out of memory");
            *intents = ni;
            memset(&ni[*nint], 0, sizeof(*ni));
            rc = replay_intent(&r, &ni[*nint]);
            if (rc == 0) {
                (*nint)++;
            } else {
                /* a malformed intent says nothing: its path may be unset */
                tss_free(ni[*nint].rel);
                tss_free(ni[*nint].ids);
            }
        } else {
            rc = -1;
        }
        if (rc == -2)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        if (rc == -3)
            return TSS_SNAP_NEED_FULL; /* *done: the records replayed */
        if (rc) {
            *bad_why = "is malformed";
            return 0;
        }
        v->records++;
        off += 16 + blen;
        *done = off;
    }
    return 0;
}

/*
 * A log whose record at `off` is damaged (`why`): the records before it
 * are in the view. With `aside` (the writer), the file is renamed to it
 * (never deleted: it is evidence, and may hold more than a later look can
 * tell); if that fails it stays, and the view says so. Logs one ERROR
 * naming the file either way.
 */
void tss_snap_log_damaged(tss_storage *st, tss_log_fn log, void *log_ctx,
                          tss_snap_view *v, const char *rel, const char *aside,
                          size_t off, size_t len, const char *why)
{
    char fate[512] = "";

    if (aside) {
        if (tss_storage_rename(st, rel, aside) == 0) {
            snprintf(fate, sizeof(fate), "; the file is kept as %s", aside);
        } else {
            snprintf(fate, sizeof(fate),
                     "; it could not be moved aside (%s) and is kept as it is",
                     tss_error_last());
            tss_error_clear();
            v->log_kept = true;
        }
    }
    v->damaged++;
    tss_log(log, log_ctx, TSS_LEVEL_ERR,
            "head snapshot log %s: the record at offset %zu %s; kept the "
            "%" PRIu64 " records before it, ignored %zu bytes%s",
            rel, off, why, v->records, len - off, fate);
}

/* ---- the writer's records ------------------------------------------------ */

/* Delta pass 1 context. */
typedef struct changed {
    uint32_t id, count;
    uint64_t from, nbits; /* range in the scratch stream */
} changed;

/* An out-of-order point of a delta record. */
typedef struct ooo_pt {
    uint32_t id;
    int64_t t;
    uint64_t bits;
} ooo_pt;

typedef struct delta_ctx {
    tss_snapshot *sn;
    tss_buf news, drops;
    tss_snap_slots slots; /* the new items in news, in the head's order */
    uint64_t ndrop;
    ooo_pt *ooo;
    size_t nooo, cap_ooo;
    tss_bits scratch;
    changed *ch;
    size_t nch, cap;
    uint32_t next_id;
} delta_ctx;

static int delta_visit(void *arg, tss_head_view *v)
{
    delta_ctx *c = arg;
    tss_snapcur *cur = v->cur;
    const tss_enc *e = v->enc;
    bool fresh = cur->id == 0 || cur->reset;
    uint32_t from_count = fresh ? 1 : cur->count;
    uint64_t ts_from = fresh ? 0 : cur->ts_bits;
    uint64_t val_from = fresh ? 0 : cur->val_bits;
    uint32_t ooo_from = fresh ? 0 : cur->nooo;
    uint32_t id;

    if (e->count == 0)
        return 0;
    if (!fresh && e->count == cur->count && v->nooo == cur->nooo)
        return 0; /* unchanged */
    if (fresh) {
        if (cur->reset && cur->id) {
            tss_buf_put_varint(&c->drops, cur->id);
            c->ndrop++;
        }
        tss_snap_slot slot = {
            .off = c->news.len, .key_len = v->key_len, .start = v->start};

        /* numbered in key order once all are known (tss_snap_rank) */
        id = ++c->next_id;
        slot.key_off = tss_snap_put_item_head(&c->news, v);
        tss_snap_put_i64(&c->news, e->t0);
        tss_buf_put_u64(&c->news, e->v0);
        slot.len = c->news.len - slot.off;
        if (tss_snap_slot_push(&c->slots, &slot) != 0)
            return TSS_ENOMEM;
    } else {
        id = cur->id;
    }
    for (uint32_t i = ooo_from; i < v->nooo; i++) {
        void *arr = c->ooo;

        if (tss_array_room(&arr, &c->cap_ooo, c->nooo, sizeof(*c->ooo), 64))
            return TSS_ENOMEM;
        c->ooo = arr;
        c->ooo[c->nooo++] = (ooo_pt){id, v->ooo[i].t, v->ooo[i].v.bits};
    }
    if (e->count > from_count) {
        uint64_t before = c->scratch.nbits;
        void *arr = c->ch;
        int rc;

        if (tss_array_room(&arr, &c->cap, c->nch, sizeof(*c->ch), 256))
            return TSS_ENOMEM;
        c->ch = arr;
        if ((rc = tss_enc_copy_since(e, ts_from, val_from, &c->scratch)) != 0)
            return rc;
        c->ch[c->nch++] = (changed){id, e->count - from_count, before,
                                    c->scratch.nbits - before};
    }
    if (c->news.oom || c->drops.oom)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    cur->pend = true;
    cur->pend_reset = cur->reset;
    cur->reset = false;
    cur->pend_id = id;
    cur->pend_count = e->count;
    cur->pend_ts_bits = (uint32_t)e->ts.nbits;
    cur->pend_val_bits = (uint32_t)e->val.nbits;
    cur->pend_nooo = v->nooo;
    return 0;
}

static int cmp_changed(const void *a, const void *b)
{
    const changed *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Puts the changed items in id order. Ids are dense (1..max_id) and each
 * item changes once per record, so they are placed by id in one pass
 * (a comparison sort of the head's hash order cost 40% of a record's time
 * for 20,000 series). 0 or TSS_ENOMEM.
 */
static int sort_changed(changed *ch, size_t n, uint32_t max_id)
{
    uint32_t *at;
    changed *tmp;
    size_t k = 0;

    if (n < 2)
        return 0;
    at = tss_calloc((size_t)max_id + 1, sizeof(*at));
    tmp = tss_malloc(n * sizeof(*tmp));
    if (!at || !tmp) {
        tss_free(at);
        tss_free(tmp);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    memcpy(tmp, ch, n * sizeof(*ch));
    for (size_t i = 0; i < n; i++) {
        uint32_t id = tmp[i].id;

        if (id == 0 || id > max_id || at[id]) { /* not dense: sort */
            qsort(ch, n, sizeof(*ch), cmp_changed);
            k = n;
            break;
        }
        at[id] = (uint32_t)i + 1;
    }
    for (uint32_t id = 1; id <= max_id && k < n; id++)
        if (at[id])
            ch[k++] = tmp[at[id] - 1];
    tss_free(at);
    tss_free(tmp);
    return 0;
}

/* Appends `body` framed as a record to rec. */
static void put_record(tss_buf *rec, const uint8_t *body, size_t len)
{
    uint8_t hdr[16];

    tss_put_u32(hdr, LOG_MAGIC);
    tss_put_u32(hdr + 4, (uint32_t)len);
    tss_put_u64(hdr + 8, tss_checksum(body, len));
    tss_buf_append(rec, hdr, 16);
    tss_buf_append(rec, body, len);
}

/* Frames `body` as a record and appends it to the log. */
static int append_record(tss_snapshot *sn, const tss_buf *body)
{
    tss_buf rec = {0};
    int rc;

    if (sn->logw.fd < 0) {
        if ((rc = tss_storage_appender_open(sn->st, sn->log_rel, &sn->logw)) !=
            0)
            return rc;
        sn->logw.prealloc = LOG_PREALLOC;
    }
    put_record(&rec, body->data, body->len);
    if (rec.oom || body->len > UINT32_MAX)
        rc = tss_error_set(TSS_ENOMEM, "snapshot record too large");
    else if (sn->stage)
        rc = tss_snap_stage_append(sn, rec.data, rec.len);
    else
        rc = tss_storage_appender_write(sn->st, &sn->logw, sn->log_rel,
                                        rec.data, rec.len);
    if (rc == 0) {
        sn->stats.records++;
        sn->stats.bytes_written += rec.len;
        sn->unsynced = true;
    } else {
        /* a partial record may be on disk: never append after it */
        sn->need_base = true;
    }
    tss_buf_free(&rec);
    return rc;
}

static int maybe_sync(tss_snapshot *sn, int64_t now, bool force)
{
    int rc;

    if (!sn->unsynced || sn->logw.fd < 0)
        return 0;
    /* a clock that stepped back (now < last_sync) makes it due too: else
     * nothing would be synced until it caught up, days later maybe */
    if (!force && now >= sn->last_sync &&
        now - sn->last_sync < sn->sync_interval)
        return 0;
    /* a forced sync (flush, shutdown) writes every record */
    if ((rc = force ? tss_snap_stage_flush(sn)
                    : tss_snap_stage_flush_pages(sn)) != 0)
        return rc;
    if ((rc = tss_storage_sync_fd(sn->st, sn->logw.fd, sn->log_rel)) != 0) {
        sn->need_base = true;
        return rc;
    }
    /* bytes held back staged are synced at the next one */
    sn->unsynced = sn->pending.len > 0;
    sn->last_sync = now;
    return 0;
}

/*
 * The changed items' bits of a delta record (type 3), c->ch sorted by id:
 * one byte-aligned bit stream per group of ids (TSS_SNAP_GROUP of them,
 * by id >> TSS_SNAP_GROUP_SHIFT) that has changed items, each framed by
 * its group number, item count and byte length, so a reader that wants
 * none of a group's items skips its bytes (docs/format.md, "Head
 * snapshot"). `out` is scratch.
 */
static int put_groups(tss_buf *body, const delta_ctx *c, tss_bits *out)
{
    size_t ngroups = 0;
    uint64_t prev_group = 0;
    int rc = 0;

    for (size_t i = 0; i < c->nch; i++)
        if (i == 0 || c->ch[i].id >> TSS_SNAP_GROUP_SHIFT !=
                          c->ch[i - 1].id >> TSS_SNAP_GROUP_SHIFT)
            ngroups++;
    tss_buf_put_varint(body, ngroups);
    for (size_t i = 0, end; i < c->nch && rc == 0; i = end) {
        uint64_t group = c->ch[i].id >> TSS_SNAP_GROUP_SHIFT;
        uint64_t prev = (group << TSS_SNAP_GROUP_SHIFT) - 1; /* wraps at 0 */

        for (end = i;
             end < c->nch && c->ch[end].id >> TSS_SNAP_GROUP_SHIFT == group;
             end++)
            ;
        tss_bits_reset(out);
        for (size_t k = i; k < end && rc == 0; k++) {
            const changed *ch = &c->ch[k];

            rc = gamma_put(out, ch->id - prev);
            if (rc == 0)
                rc = tss_bits_put(out, ch->count > 1, 1);
            if (rc == 0 && ch->count > 1)
                rc = gamma_put(out, ch->count - 1);
            if (rc == 0)
                rc = tss_bits_copy(out, c->scratch.buf.data, ch->from,
                                   ch->from + ch->nbits);
            prev = ch->id;
        }
        tss_buf_put_varint(body, group - (i ? prev_group + 1 : 0));
        tss_buf_put_varint(body, end - i - 1);
        tss_buf_put_varint(body, out->buf.len);
        tss_buf_append(body, out->buf.data, out->buf.len);
        prev_group = group;
    }
    return rc;
}

bool tss_snapshot_needs_base(const tss_snapshot *sn)
{
    return sn->need_base;
}

int tss_snapshot_write(tss_snapshot *sn, int64_t now, bool sync)
{
    delta_ctx c;
    tss_buf body = {0};
    tss_bits out = {0};
    uint32_t *rank = NULL;
    int rc;

    if (sn->need_base)
        return tss_snapshot_base(sn, now);
    memset(&c, 0, sizeof(c));
    c.sn = sn;
    c.next_id = sn->next_id;
    rc = tss_head_visit(sn->head, delta_visit, &c);
    /* the new items' ids in key order: the changed items' and the
     * out-of-order points' ids follow */
    if (rc == 0 && c.slots.n > 1 &&
        (rc = tss_snap_rank(c.news.data, &c.slots, &rank)) == 0) {
        uint32_t first = sn->next_id, n = (uint32_t)c.slots.n;

        for (size_t i = 0; i < c.nch; i++)
            if (c.ch[i].id > first && c.ch[i].id - first <= n)
                c.ch[i].id = first + 1 + rank[c.ch[i].id - first - 1];
        for (size_t i = 0; i < c.nooo; i++)
            if (c.ooo[i].id > first && c.ooo[i].id - first <= n)
                c.ooo[i].id = first + 1 + rank[c.ooo[i].id - first - 1];
    }
    if (rc == 0 && (c.slots.n || c.ndrop || c.nooo || c.nch)) {
        rc = sort_changed(c.ch, c.nch, c.next_id);
        tss_buf_put_u8(&body, REC_DELTA_DIFF);
        tss_buf_put_varint(&body, c.slots.n);
        tss_snap_put_ranked(&body, c.news.data, &c.slots, rank,
                            TSS_SNAP_LIST_NEW);
        tss_buf_put_varint(&body, c.ndrop);
        tss_buf_append(&body, c.drops.data, c.drops.len);
        tss_buf_put_varint(&body, c.nooo);
        for (size_t i = 0; i < c.nooo; i++) {
            tss_buf_put_varint(&body, c.ooo[i].id);
            tss_snap_put_i64(&body, c.ooo[i].t);
            tss_buf_put_u64(&body, c.ooo[i].bits);
        }
        if (rc == 0)
            rc = put_groups(&body, &c, &out);
        if (rc == 0 && body.oom)
            rc = tss_error_set(TSS_ENOMEM, "out of memory writing a snapshot");
        if (rc == 0)
            rc = append_record(sn, &body);
    }
    tss_snapshot_commit(sn, rc == 0, sn->next_id, (uint32_t)c.slots.n, rank);
    if (rc == 0) {
        sn->next_id = c.next_id;
        sn->stats.last_write = now;
        rc = maybe_sync(sn, now, sync);
    } else {
        sn->need_base = true;
    }
    tss_buf_free(&c.news);
    tss_buf_free(&c.drops);
    tss_free(c.slots.v);
    tss_free(c.ooo);
    tss_free(rank);
    tss_buf_free(&c.scratch.buf);
    tss_free(c.ch);
    tss_buf_free(&body);
    tss_buf_free(&out.buf);
    return rc;
}

int tss_snapshot_intent(tss_snapshot *sn, const char *rel,
                        const tss_head_batch *b)
{
    tss_buf body = {0};
    uint64_t n = 0;
    int rc;

    if (sn->need_base)
        return 0; /* the next base leaves these items out anyway */
    for (const tss_head_item *it = b->items; it; it = tss_head_item_next(it))
        n += tss_head_item_snap_id(it) != 0;
    if (n == 0)
        return 0;
    tss_buf_put_u8(&body, REC_INTENT);
    tss_buf_put_varint(&body, strlen(rel));
    tss_buf_append(&body, rel, strlen(rel));
    tss_buf_put_varint(&body, n);
    for (const tss_head_item *it = b->items; it; it = tss_head_item_next(it))
        if (tss_head_item_snap_id(it))
            tss_buf_put_varint(&body, tss_head_item_snap_id(it));
    rc = body.oom ? tss_error_set(TSS_ENOMEM, "out of memory")
                  : append_record(sn, &body);
    if (rc == 0)
        rc = tss_snap_stage_flush(sn); /* on disk, to be synced */
    /* durable before the segment is: a power cut that keeps the segment
     * and loses the intent would restore the items a second time */
    if (rc == 0 &&
        (rc = tss_storage_sync_fd(sn->st, sn->logw.fd, sn->log_rel)) != 0)
        sn->need_base = true;
    else if (rc == 0)
        sn->unsynced = false;
    tss_buf_free(&body);
    return rc;
}
