/*
 * bench_core's analysis: where the bytes of a store go (per file region,
 * per chunk stream, per collectd type or synthetic shape), what other
 * timestamp encodings would cost on the same data, and which part of the
 * append path takes the time.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "codec_gorilla.h"
#include "head.h"
#include "series.h"

static group *group_of(result *r, const bench_series *s)
{
    for (size_t i = 0; i < r->ng; i++)
        if (!strcmp(r->g[i].name, s->group) && r->g[i].kind == s->kind)
            return &r->g[i];
    if (r->ng == NGROUPS)
        return &r->g[NGROUPS - 1]; /* lumped into the last */
    r->g[r->ng].name = s->group;
    r->g[r->ng].kind = s->kind;
    return &r->g[r->ng++];
}

/* Bytes per file region and per chunk stream; per-group breakdown. */
void bench_measure_bytes(result *r, const segset *ss)
{
    const bench_dataset *d = r->d;

    memset(&r->sp, 0, sizeof(r->sp));
    r->ng = 0;
    memset(r->g, 0, sizeof(r->g));
    for (size_t i = 0; i < ss->n; i++) {
        const tss_segment *seg = ss->seg[i];

        r->sp.files++;
        r->sp.file_bytes += seg->file_size;
        for (size_t e = 0; e < seg->nentries; e++) {
            const tss_seg_entry *en = &seg->entries[e];
            long k = bench_find(d, en->key, en->key_len);
            uint64_t count, zt0, v0, ts_bits, hdr, tsb;
            uint8_t codec;
            tss_rd rd;
            group *g;

            tss_rd_init(&rd, ss->img[i] + en->offset, (size_t)en->len);
            tss_rd_u8(&rd, &codec);
            tss_rd_varint(&rd, &count);
            tss_rd_varint(&rd, &zt0);
            tss_rd_varint(&rd, &v0);
            tss_rd_varint(&rd, &ts_bits);
            if (rd.bad || k < 0 || (codec & 15) > 2)
                bench_die("%s: chunk %zu unreadable", seg->rel, e);
            hdr = en->len - tss_rd_left(&rd);
            tsb = (ts_bits + 7) / 8;
            r->sp.chunks++;
            r->sp.chunk_bytes += en->len;
            r->sp.chunk_hdr += hdr;
            r->sp.ts_bytes += tsb;
            r->sp.ts_bits += ts_bits;
            r->sp.val_bytes += en->len - hdr - tsb;
            g = group_of(r, &d->s[k]);
            g->series++;
            g->points += count;
            g->hdr += hdr;
            g->ts_bits += ts_bits;
            g->ts_bytes += tsb;
            g->val_bytes += en->len - hdr - tsb;
            g->modes[codec & 15]++;
            g->scaled += (codec >> 4) != 0;
        }
    }
    r->segments = ss->n;
    /* timestamp classes, from the input: 0, 4, 8, 14, 24, 64 bit payloads */
    memset(r->ts_class, 0, sizeof(r->ts_class));
    for (size_t k = 0; k < d->n; k++) {
        const bench_series *s = &d->s[k];

        for (size_t i = 2; i < s->n; i++) {
            int64_t dod = (s->pts[i].t - s->pts[i - 1].t) -
                          (s->pts[i - 1].t - s->pts[i - 2].t);
            uint64_t z = ((uint64_t)dod << 1) ^ (uint64_t)(dod >> 63);
            int c = z == 0           ? 0
                    : z < 16         ? 1
                    : z < 256        ? 2
                    : z < 16384      ? 3
                    : z < (1u << 24) ? 4
                                     : 5;

            r->ts_class[c]++;
        }
    }
}

/* ---- timestamp encodings ------------------------------------------------- */

const char *const bench_scheme_names[NSCHEMES] = {
    "delta-of-delta, classes 0/4/8/14/24/64 (current)",
    "delta-of-delta, classes 0/2/4/8/14/64",
    "delta - D (D: commonest delta), classes 0/4/8/14/24/64",
    "delta - D, classes 0/2/4/8/14/64",
    "offset from a grid of step D, classes 0/2/4/8/14/64",
};

static const unsigned WIDE[5] = {4, 8, 14, 24, 64};
static const unsigned NARROW[5] = {2, 4, 8, 14, 64};

/* Bits for a signed value in the prefix classes: '0' for zero, then
 * '10', '110', '1110', '11110', '11111' + width bits. */
static unsigned cls_bits(int64_t v, const unsigned *w)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

    if (z == 0)
        return 1;
    for (unsigned j = 0; j < 5; j++)
        if (w[j] == 64 || z < (UINT64_C(1) << w[j]))
            return (j < 4 ? j + 2 : 5) + w[j];
    return 69;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The most frequent delta between consecutive points (n >= 2). */
static int64_t common_delta(const tss_point *p, size_t n, int64_t *scratch)
{
    int64_t best = 0;
    size_t run = 0, best_run = 0;

    for (size_t i = 1; i < n; i++)
        scratch[i - 1] = p[i].t - p[i - 1].t;
    qsort(scratch, n - 1, sizeof(int64_t), cmp_i64);
    for (size_t i = 0; i < n - 1; i++) {
        run = i > 0 && scratch[i] == scratch[i - 1] ? run + 1 : 1;
        if (run > best_run) {
            best_run = run;
            best = scratch[i];
        }
    }
    return best;
}

void bench_ts_schemes(result *r)
{
    const bench_dataset *d = r->d;
    double bits[NSCHEMES] = {0};
    int64_t *scratch = NULL;
    size_t cap = 0;

    for (size_t k = 0; k < d->n; k++) {
        const bench_series *s = &d->s[k];
        const tss_point *p = s->pts;
        int64_t D, prev_delta = 0, nominal;

        if (s->n < 2)
            continue;
        if (s->n > cap) {
            cap = s->n;
            scratch = realloc(scratch, cap * sizeof(*scratch));
            if (!scratch)
                bench_die("out of memory");
        }
        D = common_delta(p, s->n, scratch);
        nominal = p[0].t;
        for (int i = 2; i < NSCHEMES; i++)
            bits[i] += 16; /* D in the chunk header */
        for (size_t i = 1; i < s->n; i++) {
            int64_t delta = p[i].t - p[i - 1].t, off;

            bits[0] += cls_bits(delta - prev_delta, WIDE);
            bits[1] += cls_bits(delta - prev_delta, NARROW);
            bits[2] += cls_bits(delta - D, WIDE);
            bits[3] += cls_bits(delta - D, NARROW);
            /* grid: t = nominal + offset; a gap moves the grid */
            nominal += D;
            off = p[i].t - nominal;
            bits[4] += cls_bits(off, NARROW);
            if (off > D / 2 || off < -D / 2)
                nominal = p[i].t;
            prev_delta = delta;
        }
    }
    free(scratch);
    for (int i = 0; i < NSCHEMES; i++)
        r->ts_scheme[i] = bits[i] / (double)d->points;
}

/* ---- the append path, part by part ----------------------------------------
 */

void bench_append_parts(result *r, const appender *a, int run)
{
    const bench_dataset *d = a->d;
    uint64_t *hash = malloc((d->n + 1) * sizeof(*hash)), acc = 0;
    tss_enc *enc = calloc(d->n + 1, sizeof(*enc));
    uint8_t key[TSS_KEY_MAX];
    struct timespec ts;
    tss_head *h;
    int64_t now;
    double t0;

    if (!hash || !enc)
        bench_die("out of memory");
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (int64_t)ts.tv_sec * 1000;
    /* key encoding and hashing, as tss_store_append does it */
    t0 = bench_now_ns();
    for (size_t i = 0; i < a->n; i++) {
        const bench_series *s = &d->s[a->steps[i].series];
        size_t len;

        bench_check(tss_key_encode(key, &len, &s->id, s->kind), "key");
        acc += tss_key_hash(key, len);
    }
    r->key[run] = (bench_now_ns() - t0) / (double)a->n;
    /* the head alone, keys and hashes ready (default shards and span) */
    for (size_t k = 0; k < d->n; k++)
        hash[k] = tss_key_hash(d->s[k].key, d->s[k].key_len);
    bench_check(tss_head_create(&h, 64, INT64_C(7200000)), "head");
    t0 = bench_now_ns();
    for (size_t i = 0; i < a->n; i++) {
        const step *st = &a->steps[i];
        const bench_series *s = &d->s[st->series];

        bench_check(tss_head_append(h, s->key, s->key_len, hash[st->series],
                                    st->p.t, st->p.v, now, 0),
                    "tss_head_append");
    }
    r->head[run] = (bench_now_ns() - t0) / (double)a->n;
    tss_head_free(h);
    /* the encoder alone: one per series, no lookup, no lock */
    for (size_t k = 0; k < d->n; k++)
        tss_enc_init(&enc[k], d->s[k].kind);
    t0 = bench_now_ns();
    for (size_t i = 0; i < a->n; i++)
        bench_check(tss_enc_append(&enc[a->steps[i].series], a->steps[i].p.t,
                                   a->steps[i].p.v),
                    "tss_enc_append");
    r->enc[run] = (bench_now_ns() - t0) / (double)a->n;
    for (size_t k = 0; k < d->n; k++) {
        acc += enc[k].count;
        tss_enc_free(&enc[k]);
    }
    bench_sink += acc;
    free(enc);
    free(hash);
}
