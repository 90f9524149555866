/*
 * Deletes as readers see them (rules in delset.h).
 */
#define _GNU_SOURCE
#include "delset.h"

#include "series.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

static bool is_active(const tss_mut *m)
{
    return m->kind == TSS_MUT_DELETE && m->state >= TSS_MS_VISIBLE;
}

static bool is_literal(const char *glob)
{
    return glob && !strpbrk(glob, "*?[\\");
}

static int cmp_lit(const void *a, const void *b)
{
    const tss_delset_lit *x = a, *y = b;
    int c = strcmp(x->ident, y->ident);

    return c ? c : (x->doc > y->doc) - (x->doc < y->doc);
}

/* (Re)builds the index of the active deletes. */
static int build_index(tss_delset *d)
{
    tss_free(d->lit);
    tss_free(d->wild);
    d->lit = NULL;
    d->wild = NULL;
    d->nlit = d->nwild = 0;
    d->active = 0;
    if (!d->n)
        return 0;
    d->lit = tss_calloc(d->n, sizeof(*d->lit));
    d->wild = tss_calloc(d->n, sizeof(*d->wild));
    if (!d->lit || !d->wild)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < d->n; i++) {
        const tss_mut *m = &d->muts[i];

        if (!is_active(m))
            continue;
        d->active++;
        if (is_literal(m->series))
            d->lit[d->nlit++] = (tss_delset_lit){m->series, i};
        else
            d->wild[d->nwild++] = i;
    }
    if (d->nlit > 1)
        qsort(d->lit, d->nlit, sizeof(*d->lit), cmp_lit);
    return 0;
}

int tss_delset_load(tss_storage *st, tss_log_fn log, void *log_ctx,
                    tss_delset *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = tss_mut_list(st, log, log_ctx, &out->muts, &out->n, &out->bad)) ||
        (rc = build_index(out))) {
        tss_delset_free(out);
        return rc;
    }
    return 0;
}

void tss_delset_free(tss_delset *d)
{
    tss_mut_list_free(d->muts, d->n);
    tss_free(d->lit);
    tss_free(d->wild);
    memset(d, 0, sizeof(*d));
}

const tss_mut *tss_delset_find(const tss_delset *d, const uint8_t mut[16])
{
    for (size_t i = 0; i < d->n; i++)
        if (memcmp(d->muts[i].uuid, mut, 16) == 0)
            return &d->muts[i];
    return NULL;
}

int tss_delset_resolve(tss_storage *st, tss_delset *d, const tss_tombstones *t)
{
    for (size_t i = 0; i < t->n; i++) {
        char id[37];
        tss_mut m, *nv;
        int rc;

        if (tss_delset_find(d, t->entries[i].mutation))
            continue;
        uuid_unparse_lower(t->entries[i].mutation, id);
        rc = tss_mut_read(st, id, &m);
        if (rc == TSS_ENOTFOUND || rc == TSS_ECORRUPT) {
            tss_error_clear(); /* completed and removed (or skipped) */
            continue;
        }
        if (rc)
            return rc;
        if (!(nv = tss_realloc(d->muts, (d->n + 1) * sizeof(*nv)))) {
            tss_mut_free(&m);
            return tss_error_set(TSS_ENOMEM, "out of memory");
        }
        d->muts = nv;
        d->muts[d->n++] = m;
        /* the index points into muts, which moved */
        if ((rc = build_index(d)) != 0)
            return rc;
    }
    return 0;
}

static bool entry_in_effect(const tss_delset *d, const uint8_t mut[16])
{
    for (size_t i = 0; i < d->n; i++)
        if (memcmp(d->muts[i].uuid, mut, 16) == 0)
            return d->muts[i].state >= TSS_MS_VISIBLE;
    return true; /* completed and removed */
}

static int push(tss_range **r, size_t *n, size_t *cap, int64_t from, int64_t to)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        tss_range *nr = tss_realloc(*r, nc * sizeof(*nr));

        if (!nr)
            return tss_error_set(TSS_ENOMEM, "out of memory");
        *r = nr;
        *cap = nc;
    }
    (*r)[*n].from = from;
    (*r)[*n].to = to;
    (*n)++;
    return 0;
}

int tss_delset_ranges(const tss_delset *d, const tss_tombstones *t,
                      const uint8_t *key, size_t key_len, tss_range **r,
                      size_t *n, size_t *cap)
{
    int rc;

    if (d->active) {
        uint8_t copy[TSS_KEY_MAX];
        char ident[6 * (TSS_FIELD_MAX + 1)];
        tss_key_view kv;
        size_t lo = 0, hi = d->nlit;

        memcpy(copy, key, key_len);
        if (tss_key_decode(copy, key_len, &kv) != 0)
            return tss_error_set(TSS_ECORRUPT, "malformed series key");
        tss_series_id_format(ident, sizeof(ident), &kv.id);
        /* the first literal >= ident, then every one equal to it */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (strcmp(d->lit[mid].ident, ident) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < d->nlit && strcmp(d->lit[lo].ident, ident) == 0; lo++) {
            const tss_mut *m = &d->muts[d->lit[lo].doc];

            if (m->ds && strcmp(m->ds, kv.id.ds) != 0)
                continue;
            if ((rc = push(r, n, cap, m->has_from ? m->from : INT64_MIN,
                           m->to)) != 0)
                return rc;
        }
        for (size_t i = 0; i < d->nwild; i++) {
            const tss_mut *m = &d->muts[d->wild[i]];

            if ((m->ds && strcmp(m->ds, kv.id.ds) != 0) ||
                (m->series && fnmatch(m->series, ident, 0) != 0))
                continue;
            if ((rc = push(r, n, cap, m->has_from ? m->from : INT64_MIN,
                           m->to)) != 0)
                return rc;
        }
    }
    for (size_t i = 0; t && i < t->n; i++) {
        const tss_tomb_entry *e = &t->entries[i];

        if (e->key_len != key_len || memcmp(e->key, key, key_len) != 0 ||
            !entry_in_effect(d, e->mutation))
            continue;
        if ((rc = push(r, n, cap, e->from, e->to)) != 0)
            return rc;
    }
    return 0;
}

void tss_range_filter(tss_point *pts, size_t *n, const tss_range *r, size_t nr)
{
    size_t k = 0;

    if (nr == 0)
        return;
    for (size_t i = 0; i < *n; i++) {
        bool gone = false;

        for (size_t j = 0; j < nr && !gone; j++)
            gone = pts[i].t >= r[j].from && pts[i].t <= r[j].to;
        if (!gone)
            pts[k++] = pts[i];
    }
    *n = k;
}

/* floor(a / b) and a - floor(a / b) * b for b > 0, without overflow */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t m = a % b;

    return m < 0 ? m + b : m;
}

bool tss_range_whole_buckets(const tss_range *r, int64_t w, int64_t *first,
                             int64_t *last)
{
    /* without overflow at either end of the time line: the first bucket
     * starting at or after `from`, the last one ending at or before `to` */
    int64_t f, l;

    if (r->from > r->to || w <= 0)
        return false;
    f = floor_div(r->from, w);
    l = floor_div(r->to, w);
    if (floor_mod(r->from, w) != 0)
        f++;
    if (floor_mod(r->to, w) != w - 1)
        l--;
    *first = f;
    *last = l;
    return f <= l;
}
