/*
 * tss_verify: walks every file of a store and checks it against its format
 * and its invariants (docs/format.md). See tsstore/verify.h.
 */
#define _GNU_SOURCE
#include "tsstore/verify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "coverage.h"
#include "delset.h"
#include "segment.h"
#include "snapshot.h"
#include "rollup.h"
#include "store_internal.h"

typedef struct vctx {
    tss_store *s;
    bool repair;
    tss_verify_cb cb;
    void *ctx;
    tss_verify_report *r;
    tss_delset *del;
    const tss_seg_name *segs;
    size_t nsegs;
    const char *loading; /* directory whose files load_log reports on */
} vctx;

static void report(vctx *v, int sev, const char *file, const char *fmt, ...)
    TSS_PRINTF(4, 5);
static void report(vctx *v, int sev, const char *file, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sev == TSS_VERIFY_PROBLEM)
        v->r->problems++;
    if (v->cb)
        v->cb(v->ctx, sev, file, msg);
}

/* Compares a sidecar with the one rebuilt from its segment. */
static bool same_sidecar(const tss_sidecar *a, const tss_sidecar *b)
{
    if (a->n != b->n || a->window_start != b->window_start ||
        a->bucket_width != b->bucket_width)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const tss_cov_entry *x = &a->entries[i], *y = &b->entries[i];

        if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) ||
            x->interval != y->interval || !roaring_bitmap_equals(x->bm, y->bm))
            return false;
    }
    return true;
}

/* Tombstones: valid, paired with this segment's content, and every
 * visible delete that targets the segment has its entries in them. */
static void check_tombstones(vctx *v, const tss_segment *seg)
{
    char trel[128];
    tss_tombstones t;
    const char *base = strrchr(seg->rel, '/') + 1;

    tss_tomb_path(trel, sizeof(trel), seg->name.uuid);
    if (tss_tomb_read(v->s->st, seg, &t) != 0) {
        report(v, TSS_VERIFY_PROBLEM, trel, "%s", tss_error_last());
        return;
    }
    if (t.etag != TSS_ETAG_NONE)
        v->r->files++;
    for (size_t i = 0; i < v->del->n; i++) {
        const tss_mut *m = &v->del->muts[i];

        if (m->kind != TSS_MUT_DELETE || m->state < TSS_MS_VISIBLE)
            continue;
        for (size_t k = 0; k < m->ntargets; k++)
            if (strcmp(m->targets[k].segment, base) == 0 &&
                !tss_tomb_has_mutation(&t, m->uuid))
                report(v, TSS_VERIFY_PROBLEM, seg->rel,
                       "visible delete %s has no tombstone here", m->id);
    }
    for (size_t k = 0; k < seg->nsupersedes; k++)
        for (size_t j = 0; j < v->nsegs; j++)
            if (memcmp(v->segs[j].uuid, seg->supersedes[k], 16) == 0)
                report(v, TSS_VERIFY_NOTE, seg->rel,
                       "supersedes a segment still on disk (an interrupted "
                       "compaction; the writer removes it at its start)");
    tss_tomb_free(&t);
}

/* A segment that cannot be read still takes part in the table check
 * through its sidecar: the damage is the segment's, not the table's. */
static void expect_sidecar(vctx *v, const char *name, uint64_t covered_seq,
                           tss_covtable *cov)
{
    const tss_store_info *in = &v->s->info;
    tss_seg_name sn;
    tss_sidecar sc;

    if (tss_seg_name_parse(name, &sn) != 0 || sn.seq > covered_seq ||
        tss_sidecar_read(v->s->st, sn.uuid,
                         (uint64_t)((sn.end - sn.start) / in->bucket_width),
                         &sc) != 0)
        return;
    if (tss_covtable_add_sidecar(cov, &sc) != 0)
        report(v, TSS_VERIFY_PROBLEM, "", "out of memory checking coverage");
    tss_sidecar_free(&sc);
}

/* One segment: every chunk, then its sidecar. Unions the sidecar into
 * `cov` when its seq is covered by the table snapshot. */
static void check_segment(vctx *v, const char *name, uint64_t covered_seq,
                          tss_covtable *cov)
{
    tss_store *s = v->s;
    char rel[512], cov_rel[128];
    tss_sidecar built, disk;
    tss_segment *seg;
    int rc;

    snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", name);
    v->r->files++;
    if ((rc = tss_segment_open(&seg, s->st, rel)) != 0) {
        report(v, TSS_VERIFY_PROBLEM, rel, "%s", tss_error_last());
        expect_sidecar(v, name, covered_seq, cov);
        return;
    }
    v->r->segments++;
    if (seg->units_per_second != s->info.units_per_second)
        report(v, TSS_VERIFY_PROBLEM, rel,
               "precision %u differs from the store's %u",
               seg->units_per_second, s->info.units_per_second);
    if (!tss_window_valid(s->info.span, seg->name.start, seg->name.end,
                          seg->resolution > 0))
        report(v, TSS_VERIFY_PROBLEM, rel,
               seg->resolution > 0
                   ? "window is not an aligned span * 2^k (k <= 7) of the "
                     "store"
                   : "window is not one aligned span of the store");
    /* every chunk decodes, via the sidecar rebuild */
    rc = tss_sidecar_from_segment(seg, s->info.bucket_width, &built);
    if (rc) {
        report(v, TSS_VERIFY_PROBLEM, rel, "%s", tss_error_last());
        tss_segment_close(seg);
        expect_sidecar(v, name, covered_seq, cov);
        return;
    }
    v->r->points += seg->points;
    tss_sidecar_path(cov_rel, sizeof(cov_rel), seg->name.uuid);
    v->r->files++;
    rc = tss_sidecar_read(
        s->st, seg->name.uuid,
        (uint64_t)((seg->name.end - seg->name.start) / s->info.bucket_width),
        &disk);
    if (rc == 0 && !same_sidecar(&disk, &built)) {
        report(v, TSS_VERIFY_PROBLEM, cov_rel,
               "coverage disagrees with the points of segment %s", rel);
        tss_sidecar_free(&disk);
        rc = TSS_ECORRUPT;
    } else if (rc == TSS_ENOTFOUND) {
        report(v, TSS_VERIFY_PROBLEM, cov_rel,
               "coverage sidecar of segment %s is missing", rel);
    } else if (rc) {
        report(v, TSS_VERIFY_PROBLEM, cov_rel, "%s", tss_error_last());
    } else {
        tss_sidecar_free(&disk);
    }
    if (rc && v->repair) {
        tss_buf img = {0};
        bool ok = true;

        if (rc != TSS_ENOTFOUND) {
            char aside[160];

            snprintf(aside, sizeof(aside), "%s.corrupt", cov_rel);
            ok = tss_storage_rename(s->st, cov_rel, aside) == 0;
        }
        ok = ok && tss_sidecar_encode(&built, &img) == 0 &&
             tss_storage_write_new(s->st, cov_rel, img.data, img.len) == 0;
        tss_buf_free(&img);
        if (ok) {
            v->r->repaired++;
            report(v, TSS_VERIFY_NOTE, cov_rel, "rebuilt from segment %s", rel);
        } else {
            report(v, TSS_VERIFY_PROBLEM, cov_rel, "repair failed: %s",
                   tss_error_last());
        }
    }
    if (seg->name.seq <= covered_seq &&
        tss_covtable_add_sidecar(cov, &built) != 0)
        report(v, TSS_VERIFY_PROBLEM, "", "out of memory checking coverage");
    tss_sidecar_free(&built);
    check_tombstones(v, seg);
    tss_segment_close(seg);
}

/* The table snapshot must equal the union of the sidecars it covers. */
static void check_table(vctx *v, const tss_covtable *disk,
                        const tss_covtable *expect)
{
    char rel[96];
    size_t nd = 0, ne = 0;

    snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar",
             tss_covtable_version(disk));
    for (const tss_cov_entry *e = tss_covtable_iter(expect, NULL); e;
         e = tss_covtable_iter(expect, e)) {
        const tss_cov_entry *d = tss_covtable_get(disk, e->key, e->key_len);

        ne++;
        if (!d || !roaring_bitmap_equals(d->bm, e->bm)) {
            report(v, TSS_VERIFY_PROBLEM, rel,
                   "coverage of a series disagrees with the sidecars of the "
                   "segments it covers");
            return;
        }
    }
    for (const tss_cov_entry *d = tss_covtable_iter(disk, NULL); d;
         d = tss_covtable_iter(disk, d))
        nd++;
    if (nd != ne)
        report(v, TSS_VERIFY_PROBLEM, rel,
               "holds %zu series where its segments hold %zu", nd, ne);
}

static void remove_strays(vctx *v, const char *dir, const char *prefix,
                          const char *suffix, const char *what,
                          const tss_seg_name *segs, size_t nsegs)
{
    char **names;
    size_t count;

    if (tss_storage_list(v->s->st, dir, prefix, suffix, &names, &count) != 0)
        return;
    for (size_t i = 0; i < count; i++) {
        char rel[512];
        bool stray = true;

        if (segs) { /* a sidecar: stray only if its segment is missing */
            char u[37];
            uuid_t id;

            if (strlen(names[i]) != 36 + strlen(suffix))
                continue;
            memcpy(u, names[i], 36);
            u[36] = '\0';
            if (uuid_parse(u, id) != 0)
                continue;
            for (size_t k = 0; k < nsegs && stray; k++)
                stray = memcmp(segs[k].uuid, id, 16) != 0;
        }
        if (!stray)
            continue;
        snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
        if (v->repair && tss_storage_remove(v->s->st, rel) == 0) {
            v->r->repaired++;
            report(v, TSS_VERIFY_NOTE, rel, "removed %s", what);
        } else {
            /* a leftover a crash may leave (the sidecar is written before
             * its segment, a segment removed before its sidecars), which
             * the writer removes at its next start: not damage */
            report(v, TSS_VERIFY_NOTE, rel, "%s", what);
        }
    }
    tss_storage_names_free(names, count);
}

/* Log lines of the loaders (table snapshot, mutations, head snapshot)
 * become findings on the directory being loaded; the line names the file. */
static void load_log(void *ctx, int level, const char *msg)
{
    vctx *v = ctx;

    report(v, level <= TSS_LEVEL_ERR ? TSS_VERIFY_PROBLEM : TSS_VERIFY_NOTE,
           v->loading, "%s", msg);
}

int tss_verify(tss_store *s, unsigned flags, tss_verify_cb cb,
               tss_verify_progress progress, void *ctx, tss_verify_report *out)
{
    static const char *const dirs[] = {
        ".",          TSS_SEG_DIR, TSS_COV_SEG_DIR, TSS_COV_TABLE_DIR,
        TSS_HEAD_DIR, TSS_WAL_DIR};
    tss_verify_report local;
    vctx v = {s,
              (flags & TSS_VERIFY_REPAIR) != 0,
              cb,
              ctx,
              out ? out : &local,
              NULL,
              NULL,
              0,
              TSS_HEAD_DIR};
    tss_delset del;
    tss_covtable *disk = NULL, *expect = NULL;
    tss_seg_name *segs = NULL;
    tss_snap_view head;
    char **names = NULL;
    size_t count = 0, nsegs = 0;
    int rc;

    memset(v.r, 0, sizeof(*v.r));
    if (v.repair && !s->head)
        return tss_error_set(TSS_EINVAL, "repair needs the writer lock");
    v.r->files++; /* STORE was checked when the store was opened */
    v.loading = TSS_COV_TABLE_DIR;
    rc = tss_covtable_load(&disk, s->st, s->info.bucket_width, load_log, &v);
    if (rc == TSS_ENOTFOUND) {
        report(&v, TSS_VERIFY_NOTE, TSS_COV_TABLE_DIR,
               "no table coverage snapshot (the writer writes one)");
        rc = 0;
    } else if (rc == 0) {
        v.r->files++;
    }
    if (rc || (rc = tss_covtable_new(&expect, s->info.bucket_width)) != 0)
        goto out;
    v.loading = TSS_WAL_DIR;
    if ((rc = tss_delset_load(s->st, load_log, &v, &del)) != 0)
        goto out;
    v.del = &del;
    v.r->files += del.n;
    if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg", &names,
                               &count)) != 0)
        goto out;
    segs = tss_calloc(count ? count : 1, sizeof(*segs));
    if (!segs) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        if (tss_seg_name_parse(names[i], &segs[nsegs]) == 0)
            nsegs++;
    v.segs = segs;
    v.nsegs = nsegs;
    nsegs = 0;
    for (size_t i = 0; i < count; i++) {
        if (tss_seg_name_parse(names[i], &segs[nsegs]) == 0) {
            check_segment(&v, names[i],
                          disk ? tss_covtable_covered_seq(disk) : 0, expect);
            nsegs++;
        } else {
            char rel[512];

            snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
            report(&v, TSS_VERIFY_PROBLEM, rel, "not a segment file name");
        }
        if (progress)
            progress(ctx, i + 1, count);
    }
    tss_error_clear();
    if (disk)
        check_table(&v, disk, expect);
    remove_strays(&v, TSS_SEG_DIR, "", ".tombstones",
                  "tombstones without a segment", segs, nsegs);
    remove_strays(&v, TSS_COV_SEG_DIR, "", ".roar",
                  "coverage sidecar without a segment", segs, nsegs);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        remove_strays(&v, dirs[i], TSS_TMP_PREFIX, NULL,
                      "temp file of an unfinished write", NULL, 0);
    /* the head snapshot: base and log, as recovery would read them */
    v.loading = TSS_HEAD_DIR;
    if ((rc = tss_snapshot_load(s->st, &s->info, load_log, &v, false, &head)) !=
        0)
        goto out;
    if (head.gen)
        v.r->files += 2;
    tss_snap_view_free(&head);
out:
    if (v.del)
        tss_delset_free(&del);
    tss_storage_names_free(names, count);
    tss_free(segs);
    tss_covtable_free(disk);
    tss_covtable_free(expect);
    return rc;
}
