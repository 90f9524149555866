/*
 * Fuzz target: the head snapshot — base image (snapshot.c parse_base) and
 * delta log (snapshot_log.c tss_snap_log_replay: delta and intent records,
 * Elias gamma codes, the encoder replay) — reached through tss_snapshot_load as
 * a reader reaches it, then through tss_snapshot_open as the writer recovers
 * from it: restore into a head, write a new base, append a point to every
 * restored series, write a log record, load again.
 *
 * Input: u32 base length (little-endian), the base file, then the log
 * file. The harness names them after the generation in the base's header.
 * After the run as given, it fixes the base's frame and checksum and every
 * log record's checksum, and runs again, so mutations reach the parsers.
 *
 * Properties: no decoding runs out of memory (the inputs are small: that
 * would be an allocation for a count the file merely claims); a partial
 * load (tss_snapshot_load_sel, about half the series) that replays as
 * many records has every wanted item as the whole load has it; when every
 * restored item decodes and no two are one series' same window (those the
 * writer merges), the base the writer wrote from the restored head holds
 * as many points as the reader saw.
 */
#include <inttypes.h>
#include <string.h>

#include "fuzz_common.h"
#include "head.h"
#include "series.h"
#include "snapshot.h"

static const uint8_t MAGIC[8] = {0x89, 'T', 'S', 'H', 'B', 'S', '\r', '\n'};
#define LOG_MAGIC 0x314c5354u /* "TSL1" */
#define SPAN 600000           /* the span of the store gen_corpus builds */
#define NOW INT64_C(1800000000000)

static const tss_store_info info = {
    .format_version = 1,
    .units_per_second = 1000,
    .span = SPAN,
    .bucket_width = 10000,
    .created = 1700000000,
    .uuid = "00000000-0000-0000-0000-000000000000",
};

/* Points of the view's live items; -1 if one does not decode. */
static int64_t view_points(tss_snap_view *v, bool append_check)
{
    tss_point *pts = NULL;
    size_t n, cap = 0;
    int64_t total = 0;
    int rc;

    for (size_t i = 0; i < v->n; i++) {
        tss_snap_item *it = &v->items[i];

        if (it->dropped)
            continue;
        rc = tss_head_points_of(&it->enc, it->ooo, it->nooo, &pts, &n, &cap);
        /* inputs are small: running out of memory means the decoder
         * allocated for a count the file merely claims */
        FZ_CHECK(rc != TSS_ENOMEM);
        if (rc != 0) {
            total = -1;
            continue;
        }
        for (size_t k = 1; k < n; k++)
            FZ_CHECK(pts[k].t > pts[k - 1].t);
        if (total >= 0)
            total += (int64_t)n;
        /* what the writer does next with a restored encoder: append */
        if (append_check && it->enc.count > 0 &&
            it->enc.last_t < TSS_TIME_LIMIT) {
            tss_value v1 = {.bits = it->enc.last_v ^ 1};

            if (tss_enc_append(&it->enc, it->enc.last_t + 1, v1) == 0) {
                size_t m = 0;

                (void)!tss_enc_decode(&it->enc, &pts, &m, &cap);
            }
        }
    }
    tss_free(pts);
    return total;
}

/* The selection of the partial load: about half the series. */
static bool odd_key(const void *ctx, const uint8_t *key, size_t len)
{
    (void)ctx;
    return tss_key_hash(key, len) & 1;
}

/*
 * A partial load against the whole view `v`: when it replayed as many
 * records of the same generation (it reads over what it skips unchecked,
 * so damage there can let it read on further), it has every wanted live
 * item with the same points (a record rejected part way leaves nothing in
 * either view).
 */
static void check_partial(const tss_snap_view *v)
{
    tss_snap_sel sel = {odd_key, NULL};
    tss_point *a = NULL, *b = NULL;
    size_t ca = 0, cb = 0;
    tss_snap_view p;

    if (tss_snapshot_load_sel(fz_storage(), &info, fz_log, NULL, &sel, &p) != 0)
        return;
    if (p.records == v->records && p.gen == v->gen) {
        size_t j = 0; /* both views' items are in id order */

        FZ_CHECK(p.last_id == v->last_id && p.n <= v->n);
        for (size_t i = 0; i < p.n; i++)
            FZ_CHECK(i == 0 || p.items[i].id > p.items[i - 1].id);
        for (size_t i = 0; i < v->n; i++) {
            const tss_snap_item *x = &v->items[i], *y;
            size_t na = 0, nb = 0;
            int ra, rb;

            while (j < p.n && p.items[j].id < x->id)
                j++;
            if (x->dropped || !odd_key(NULL, x->key, x->key_len))
                continue;
            FZ_CHECK(j < p.n && p.items[j].id == x->id);
            y = &p.items[j];
            FZ_CHECK(!y->dropped);
            ra = tss_head_points_of(&x->enc, x->ooo, x->nooo, &a, &na, &ca);
            rb = tss_head_points_of(&y->enc, y->ooo, y->nooo, &b, &nb, &cb);
            FZ_CHECK(ra == rb);
            FZ_CHECK(
                ra != 0 ||
                (na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0)));
        }
    }
    tss_free(a);
    tss_free(b);
    tss_snap_view_free(&p);
}

/* Whether two live items of `v` are one series' same window: the writer
 * merges them at recovery (a WARNING), so its view counts their points
 * once where the reader's view counts both. */
static bool has_twins(const tss_snap_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        for (size_t j = i + 1; j < v->n && !v->items[i].dropped; j++)
            if (!v->items[j].dropped &&
                v->items[i].start == v->items[j].start &&
                v->items[i].key_len == v->items[j].key_len &&
                memcmp(v->items[i].key, v->items[j].key, v->items[i].key_len) ==
                    0)
                return true;
    return false;
}

static void run(const uint8_t *base, size_t blen, const uint8_t *log,
                size_t llen)
{
    uint64_t gen = blen >= 24 ? tss_get_u64(base + 16) : 1;
    char rel[96];
    tss_snap_view v;
    int64_t seen = -1;
    tss_head *head = NULL;
    tss_snapshot *sn = NULL;

    if (gen == 0 || gen == UINT64_MAX)
        gen = 1;
    fz_clear(TSS_HEAD_DIR);
    snprintf(rel, sizeof(rel), TSS_HEAD_DIR "/base-%" PRIu64 ".snap", gen);
    fz_write(rel, base, blen);
    snprintf(rel, sizeof(rel), TSS_HEAD_DIR "/log-%" PRIu64, gen);
    fz_write(rel, log, llen);

    /* the reader */
    if (tss_snapshot_load(fz_storage(), &info, fz_log, NULL, false, &v) == 0) {
        seen = view_points(&v, false);
        if (has_twins(&v))
            seen = -1; /* the writer merges them: fewer points */
        check_partial(&v);
        (void)view_points(&v, true);
        tss_snap_view_free(&v);
    }

    /* the writer: recover, write a new base, append, write a record */
    if (tss_head_create(&head, 4, SPAN) != 0)
        return;
    if (tss_snapshot_open(&sn, fz_storage(), &info, head, 0, NULL, NOW, fz_log,
                          NULL) == 0) {
        tss_head_winfo *w = NULL;
        size_t nw = 0;

        if (tss_snapshot_load(fz_storage(), &info, fz_log, NULL, false, &v) ==
            0) {
            int64_t again = view_points(&v, false);

            if (seen >= 0)
                FZ_CHECK(again == seen);
            /* one more point for every restored series */
            for (size_t i = 0; i < v.n; i++) {
                tss_snap_item *it = &v.items[i];
                tss_value x = {.gauge = 1.5};

                if (it->enc.count && it->enc.last_t < it->start + SPAN - 1 &&
                    it->enc.last_t >= it->start)
                    (void)!tss_head_append(head, it->key, it->key_len,
                                           tss_key_hash(it->key, it->key_len),
                                           it->enc.last_t + 1, x, NOW, 300000);
            }
            tss_snap_view_free(&v);
        }
        if (tss_head_windows(head, &w, &nw) == 0)
            tss_free(w);
        if (tss_snapshot_write(sn, NOW + 10000, false) == 0 &&
            tss_snapshot_load(fz_storage(), &info, fz_log, NULL, false, &v) ==
                0) {
            (void)view_points(&v, false);
            tss_snap_view_free(&v);
        }
        tss_snapshot_close(sn);
    }
    tss_head_free(head);
}

/* Fixes the base's frame and each log record's checksum, in place. */
static bool fix(uint8_t *base, size_t blen, uint8_t *log, size_t llen)
{
    bool changed = fz_fix_frame(base, blen, MAGIC, 64);
    size_t off = 0;

    while (llen - off >= 16) {
        uint32_t body = tss_get_u32(log + off + 4);
        uint64_t sum;

        if (tss_get_u32(log + off) != LOG_MAGIC || body > llen - off - 16)
            break;
        sum = tss_checksum(log + off + 16, body);
        if (tss_get_u64(log + off + 8) != sum) {
            tss_put_u64(log + off + 8, sum);
            changed = true;
        }
        off += 16 + body;
    }
    return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t blen = 0;
    uint8_t *base, *log;

    if (size >= 4) {
        blen = tss_get_u32(data);
        if (blen > size - 4)
            blen = size - 4;
        data += 4;
        size -= 4;
    }
    base = fz_dup(data, blen);
    log = fz_dup(data + blen, size - blen);
    run(base, blen, log, size - blen);
    if (fix(base, blen, log, size - blen))
        run(base, blen, log, size - blen);
    free(base);
    free(log);
    fz_clear(TSS_HEAD_DIR);
    return 0;
}
