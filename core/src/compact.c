/*
 * Compaction: rewrite one window's segments into one, without deleted
 * points, superseding the old ones.
 *
 * Crash safety comes from the supersede rule, not a manifest: the new
 * segment lists the uuids it replaces, and a segment named in another
 * segment's supersede list is invisible to every reader as soon as that
 * segment exists. Order: new sidecar, new segment (from here the old ones
 * are invisible), then remove the old segments, their sidecars and
 * tombstones (cleanup: a crash before it is finished at the writer's next
 * start), then rebuild the table coverage. Seq order is preserved: all
 * segments of the window are merged (later seq wins) into one with a new,
 * higher seq.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "compact.h"
#include "delset.h"
#include "rollup.h"
#include "series.h"

static int cmp_win_seq(const void *a, const void *b)
{
    const tss_seg_name *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int tss_list_segments(tss_storage *st, tss_seg_name **out, size_t *n)
{
    char **names;
    size_t count;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = tss_storage_list(st, TSS_SEG_DIR, "", ".seg", &names, &count)))
        return rc;
    *out = tss_calloc(count ? count : 1, sizeof(**out));
    if (!*out) {
        tss_storage_names_free(names, count);
        return tss_error_set(TSS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        if (tss_seg_name_parse(names[i], &(*out)[*n]) == 0)
            (*n)++;
    tss_storage_names_free(names, count);
    tss_error_clear();
    qsort(*out, *n, sizeof(**out), cmp_win_seq);
    return 0;
}

int tss_remove_segment(tss_storage *st, const tss_seg_name *sn)
{
    char rel[192];
    int rc;

    tss_seg_name_format(rel, sizeof(rel), sn);
    rc = tss_storage_remove(st, rel);
    if (rc && rc != TSS_ENOTFOUND)
        return rc;
    tss_sidecar_path(rel, sizeof(rel), sn->uuid);
    rc = tss_storage_remove(st, rel);
    if (rc && rc != TSS_ENOTFOUND)
        return rc;
    tss_tomb_path(rel, sizeof(rel), sn->uuid);
    rc = tss_storage_remove(st, rel);
    return rc == TSS_ENOTFOUND ? 0 : rc;
}

/* Tombstones whose segment is gone: compaction removes a segment before
 * its tombstones, so a crash in between leaves them behind. Only the
 * writer adds tombstones, and only beside a segment that exists. */
static uint64_t remove_orphaned_tombstones(tss_storage *st, tss_log_fn log,
                                           void *log_ctx)
{
    static const char suffix[] = ".tombstones";
    tss_seg_name *v;
    char **names;
    size_t n, count;
    uint64_t removed = 0;

    if (tss_list_segments(st, &v, &n) != 0)
        return 0;
    if (tss_storage_list(st, TSS_SEG_DIR, "", suffix, &names, &count) != 0) {
        tss_free(v);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        char u[37], rel[192];
        uuid_t id;
        bool found = false;

        if (strlen(names[i]) != 36 + strlen(suffix))
            continue;
        memcpy(u, names[i], 36);
        u[36] = '\0';
        if (uuid_parse(u, id) != 0)
            continue;
        for (size_t k = 0; k < n && !found; k++)
            found = memcmp(v[k].uuid, id, 16) == 0;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
        if (!found && tss_storage_remove(st, rel) == 0) {
            removed++;
            tss_log(log, log_ctx, TSS_LEVEL_NOTICE,
                    "removed %s: its segment is gone (a compaction was "
                    "interrupted)",
                    rel);
        }
    }
    tss_storage_names_free(names, count);
    tss_free(v);
    tss_error_clear();
    return removed;
}

int tss_remove_superseded(tss_storage *st, tss_log_fn log, void *log_ctx,
                          uint64_t *removed)
{
    tss_seg_name *v;
    size_t n;
    int rc;

    *removed = 0;
    if ((rc = tss_list_segments(st, &v, &n)) != 0)
        return rc;
    /* a segment supersedes only segments within its window (a rollup's
     * window holds several raw windows), so only a segment whose window
     * holds another one's start can supersede anything */
    for (size_t i = 0; i < n; i++) {
        char rel[192];
        tss_segment *seg;

        if (!((i > 0 && v[i - 1].start == v[i].start) ||
              (i + 1 < n && v[i + 1].start < v[i].end)))
            continue;
        tss_seg_name_format(rel, sizeof(rel), &v[i]);
        if (tss_segment_open(&seg, st, rel) != 0)
            continue;
        for (size_t k = 0; k < seg->nsupersedes; k++)
            for (size_t j = 0; j < n; j++) {
                /* never the segment itself: a (hostile or damaged) file
                 * that names its own uuid must not remove itself */
                if (j == i || v[j].start < v[i].start || v[j].end > v[i].end ||
                    memcmp(v[j].uuid, seg->supersedes[k], 16) != 0)
                    continue;
                tss_seg_name_format(rel, sizeof(rel), &v[j]);
                if (tss_remove_segment(st, &v[j]) == 0) {
                    (*removed)++;
                    tss_log(log, log_ctx, TSS_LEVEL_NOTICE,
                            "removed superseded segment %s (a compaction "
                            "was interrupted)",
                            rel);
                }
            }
        tss_segment_close(seg);
    }
    tss_free(v);
    *removed += remove_orphaned_tombstones(st, log, log_ctx);
    return 0;
}

/* Segments of one window, opened, with their tombstones. */
typedef struct win_src {
    tss_segment *seg;
    tss_tombstones tomb;
} win_src;

typedef struct kref {
    const uint8_t *key;
    size_t key_len;  /* with a rollup's aggregate byte */
    size_t skey_len; /* the series key's */
    uint32_t src, entry;
    int agg;
} kref;

static int cmp_kref(const void *a, const void *b)
{
    const kref *x = a, *y = b;
    int c = tss_key_cmp(x->key, x->key_len, y->key, y->key_len);

    if (c)
        return c;
    return x->src < y->src ? -1 : x->src > y->src;
}

typedef struct tagged {
    tss_point p;
    size_t order;
} tagged;

static int cmp_tagged(const void *a, const void *b)
{
    const tagged *x = a, *y = b;

    if (x->p.t != y->p.t)
        return x->p.t < y->p.t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Merges one key's entries (in seq order) with last-written-wins and
 * removes deleted points; the result goes to out (n points). */
static int merge_key(win_src *src, const kref *r, size_t nr,
                     const tss_delset *del, tss_point **out, size_t *n,
                     size_t *cap)
{
    tss_point *tmp = NULL;
    tagged *all = NULL;
    size_t tcap = 0, nall = 0, acap = 0;
    tss_range *ranges = NULL;
    size_t nrg = 0, rcap = 0;
    int rc = 0;

    *n = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t m = 0;

        if ((rc = tss_segment_read_points(src[r[i].src].seg, r[i].entry, &tmp,
                                          &m, &tcap)) != 0)
            goto out;
        if ((rc = tss_delset_ranges(del, &src[r[i].src].tomb, r[i].key,
                                    r[i].skey_len, &ranges, &nrg, &rcap)))
            goto out;
        if (nall + m > acap) {
            size_t nc = acap ? acap * 2 : 256;
            tagged *na;

            while (nc < nall + m)
                nc *= 2;
            if (!(na = tss_realloc(all, nc * sizeof(*na)))) {
                rc = tss_error_set(TSS_ENOMEM, "out of memory");
                goto out;
            }
            all = na;
            acap = nc;
        }
        for (size_t k = 0; k < m; k++) {
            all[nall].p = tmp[k];
            all[nall].order = nall;
            nall++;
        }
    }
    if (nall > 1)
        qsort(all, nall, sizeof(*all), cmp_tagged);
    if (nall > *cap) {
        tss_point *np = tss_realloc(*out, nall * sizeof(*np));

        if (!np) {
            rc = tss_error_set(TSS_ENOMEM, "out of memory");
            goto out;
        }
        *out = np;
        *cap = nall;
    }
    for (size_t k = 0; k < nall; k++)
        if (k + 1 == nall || all[k + 1].p.t != all[k].p.t)
            (*out)[(*n)++] = all[k].p;
    tss_range_filter(*out, n, ranges, nrg);
out:
    tss_free(tmp);
    tss_free(all);
    tss_free(ranges);
    return rc;
}

int tss_compact_window(tss_storage *st, const tss_store_info *info,
                       const tss_seg_name *segs, size_t nsegs, uint64_t seq,
                       const tss_delset *del, tss_compact_out *out)
{
    win_src *src = tss_calloc(nsegs, sizeof(*src));
    uint8_t(*sup)[16] = tss_calloc(nsegs, 16);
    kref *refs = NULL;
    size_t nrefs = 0, total = 0, cap = 0;
    tss_point *pts = NULL;
    tss_seg_builder bld;
    tss_buf img = {0}, cov = {0};
    tss_seg_name name;
    char rel[192], cov_rel[128];
    bool building = false;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!src || !sup) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nsegs; i++) {
        tss_seg_name_format(rel, sizeof(rel), &segs[i]);
        if ((rc = tss_segment_open(&src[i].seg, st, rel)) != 0 ||
            (rc = tss_tomb_read(st, src[i].seg, &src[i].tomb)) != 0)
            goto out;
        memcpy(sup[i], segs[i].uuid, 16);
        total += src[i].seg->nentries;
        out->bytes_read += src[i].seg->file_size;
        out->points_before += src[i].seg->points;
    }
    if (!(refs = tss_calloc(total ? total : 1, sizeof(*refs)))) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    /* a window's segments are merged only at one resolution (the caller
     * groups them; a rollup pass folds raw into rollups) */
    for (size_t i = 1; i < nsegs; i++)
        if (src[i].seg->resolution != src[0].seg->resolution ||
            segs[i].start != segs[0].start || segs[i].end != segs[0].end) {
            rc =
                tss_error_set(TSS_EINVAL, "compaction of segments of different "
                                          "windows or resolutions");
            goto out;
        }
    for (size_t i = 0; i < nsegs; i++)
        for (size_t e = 0; e < src[i].seg->nentries; e++) {
            const tss_seg_entry *en = &src[i].seg->entries[e];

            refs[nrefs++] = (kref){
                en->key,     en->key_len, en->key_len - (en->agg ? 1 : 0),
                (uint32_t)i, (uint32_t)e, en->agg};
        }
    qsort(refs, nrefs, sizeof(*refs), cmp_kref);
    name.start = segs[0].start;
    name.end = segs[0].end;
    name.seq = seq;
    uuid_generate(name.uuid);
    if ((rc = tss_seg_builder_begin(&bld, &img, &name, info->units_per_second,
                                    (const uint8_t(*)[16])sup, nsegs)) != 0)
        goto out;
    bld.resolution = src[0].seg->resolution;
    building = true;
    if ((rc = tss_sidecar_init(&out->cov, name.uuid, name.start,
                               info->bucket_width)) != 0)
        goto out;
    for (size_t i = 0; i < nrefs;) {
        size_t j = i + 1, n;

        while (j < nrefs && tss_key_cmp(refs[j].key, refs[j].key_len,
                                        refs[i].key, refs[i].key_len) == 0)
            j++;
        if ((rc = merge_key(src, &refs[i], j - i, del, &pts, &n, &cap)) != 0)
            goto out;
        if (n && (rc = tss_seg_builder_add(&bld, refs[i].key, refs[i].key_len,
                                           pts, n)) != 0)
            goto out;
        /* coverage: a rollup's intervals, from its count chunk */
        if (n && !refs[i].agg)
            rc = tss_sidecar_add(&out->cov, refs[i].key, refs[i].key_len, pts,
                                 n);
        else if (n && refs[i].agg == TSS_AGG_COUNT)
            rc = tss_sidecar_add_intervals(&out->cov, refs[i].key,
                                           refs[i].skey_len, pts, n,
                                           bld.resolution);
        if (rc)
            goto out;
        out->points_after += n;
        i = j;
    }
    building = false;
    if (bld.nseries == 0) {
        /* every point deleted: no successor hides the old segments, so
         * the caller removes them once the table coverage no longer
         * claims them (tss_compact_window's contract) */
        tss_seg_builder_abort(&bld);
        goto out;
    } else {
        if ((rc = tss_seg_builder_finish(&bld)) != 0 ||
            (rc = tss_sidecar_encode(&out->cov, &cov)) != 0)
            goto out;
        /* coverage first, then the segment: from here the old are gone */
        tss_sidecar_path(cov_rel, sizeof(cov_rel), name.uuid);
        tss_seg_name_format(rel, sizeof(rel), &name);
        if ((rc = tss_storage_write_new(st, cov_rel, cov.data, cov.len)) ||
            (rc = tss_storage_write_new(st, rel, img.data, img.len)))
            goto out;
        out->wrote = true;
        out->name = name;
        out->bytes_written = img.len + cov.len;
    }
    for (size_t i = 0; i < nsegs; i++) {
        tss_segment_close(src[i].seg);
        src[i].seg = NULL;
        if ((rc = tss_remove_segment(st, &segs[i])) != 0)
            goto out; /* finished at the next start */
    }
out:
    if (building)
        tss_seg_builder_abort(&bld);
    for (size_t i = 0; src && i < nsegs; i++) {
        tss_segment_close(src[i].seg);
        tss_tomb_free(&src[i].tomb);
    }
    tss_free(src);
    tss_free(sup);
    tss_free(refs);
    tss_free(pts);
    tss_buf_free(&img);
    tss_buf_free(&cov);
    if (rc)
        tss_sidecar_free(&out->cov);
    return rc;
}
