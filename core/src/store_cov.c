/*
 * Keeping table coverage consistent with the segments on disk: used by the
 * writer when it opens a store (after a crash the table snapshot may lag
 * the segments; a sidecar may be missing) and by coverage queries.
 */
#define _GNU_SOURCE
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid/uuid.h>

#include "segment.h"

typedef struct seg_ref {
    char *name;
    tss_seg_name sn; /* start, end, seq; the uuid once `parsed` */
    bool superseded;
    bool parsed, dead; /* tss_seg_name_parse ran; it refused the name */
} seg_ref;

/*
 * A name's window and seq, the fields tss_seg_name_parse reads first,
 * without its checks of the uuid and of the canonical form: a name it
 * accepts gives the same figures here. A query of a few series reads the
 * table snapshot for the segments up to its covered seq and needs nothing
 * else of them when they are alone in their window; the full parse (a
 * uuid, a name formatted back) of every name in a directory of hundreds
 * cost a query more than its table lookup.
 */
static bool name_fields(const char *name, tss_seg_name *sn)
{
    const char *p = name;
    char *end;
    long long a, b;
    unsigned long long q;

    errno = 0;
    a = strtoll(p, &end, 10);
    if (end == p || *end != '_')
        return false;
    p = end + 1;
    b = strtoll(p, &end, 10);
    if (end == p || *end != '_')
        return false;
    p = end + 1;
    q = strtoull(p, &end, 10);
    if (end == p || *end != '_' || errno || b <= a)
        return false;
    sn->start = a;
    sn->end = b;
    sn->seq = q;
    return true;
}

/* The full parse, once: false (the name is ignored) if it refuses it. */
static bool live(seg_ref *r)
{
    if (!r->parsed) {
        r->parsed = true;
        r->dead = tss_seg_name_parse(r->name, &r->sn) != 0;
        if (r->dead)
            tss_error_clear();
    }
    return !r->dead;
}

static int cmp_seq(const void *a, const void *b)
{
    const seg_ref *x = a, *y = b;

    return x->sn.seq < y->sn.seq ? -1 : x->sn.seq > y->sn.seq;
}

static int cmp_window(const void *a, const void *b)
{
    const seg_ref *x = a, *y = b;

    if (x->sn.start != y->sn.start)
        return x->sn.start < y->sn.start ? -1 : 1;
    return cmp_seq(a, b);
}

/* Marks the segments another segment of their window supersedes (a
 * compaction stopped before its cleanup): readers never see them, so their
 * buckets are no coverage. `segs` sorted by window; only a window with
 * several segments can hold one. */
static void mark_superseded(tss_store *s, seg_ref *segs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        tss_segment *seg;
        size_t b = i, e = i + 1;

        /* a segment supersedes only segments within its window (a
         * rollup's holds several raw windows): those from the first of its
         * start to the last starting before its end */
        while (b > 0 && segs[b - 1].sn.start == segs[i].sn.start)
            b--;
        while (e < n && segs[e].sn.start < segs[i].sn.end)
            e++;
        if (e - b < 2)
            continue;
        for (size_t j = b; j < e; j++)
            (void)live(&segs[j]);
        if (segs[i].dead)
            continue;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", segs[i].name);
        if (tss_segment_open(&seg, s->st, rel) != 0)
            continue; /* reported when its coverage is read */
        for (size_t k = 0; k < seg->nsupersedes; k++)
            for (size_t j = b; j < e; j++)
                if (!segs[j].dead && segs[j].sn.end <= segs[i].sn.end &&
                    memcmp(segs[j].sn.uuid, seg->supersedes[k], 16) == 0)
                    segs[j].superseded = true;
        tss_segment_close(seg);
    }
    tss_error_clear();
}

/*
 * Rebuilds a sidecar from its segment (`why` the sidecar could not be
 * used: TSS_ENOTFOUND, TSS_ECORRUPT, or an I/O error); with `repair`,
 * writes it: a corrupt one (a name that is no regular file included) is
 * first moved aside. One that failed with an I/O error is left as it is:
 * the coverage is taken from the segment, in memory only.
 */
static int rebuild(tss_store *s, const seg_ref *r, bool repair, int why,
                   tss_sidecar *sc)
{
    char rel[512], cov_rel[128], aside[160] = "";
    tss_segment *seg;
    tss_buf img = {0};
    int rc;

    snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", r->name);
    if ((rc = tss_segment_open(&seg, s->st, rel)) != 0)
        return rc;
    rc = tss_sidecar_from_segment(seg, s->info.bucket_width, sc);
    tss_segment_close(seg);
    if (rc || !repair || (why != TSS_ENOTFOUND && why != TSS_ECORRUPT))
        return rc;
    tss_sidecar_path(cov_rel, sizeof(cov_rel), r->sn.uuid);
    /* derived data, but never delete: keep it for inspection, beside any
     * file moved aside before it */
    if (why == TSS_ECORRUPT &&
        tss_storage_move_aside(s->st, cov_rel, ".corrupt", aside,
                               sizeof(aside)) != 0) {
        tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
                "could not move damaged sidecar %s aside (its coverage is "
                "taken from its segment): %s",
                cov_rel, tss_error_last());
        return 0; /* in-memory coverage is still right */
    }
    if (tss_sidecar_encode(sc, &img) == 0 &&
        tss_storage_write_new(s->st, cov_rel, img.data, img.len) == 0)
        tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE,
                "rebuilt coverage sidecar %s from its segment%s%s%s", cov_rel,
                *aside ? " (the damaged file moved to " : "", aside,
                *aside ? ")" : "");
    else
        tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING,
                "could not write rebuilt sidecar %s: %s", cov_rel,
                tss_error_last());
    tss_buf_free(&img);
    return 0;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* True if the sorted sidecar listing holds the sidecar of `uuid`. */
static bool has_sidecar(char **names, size_t count, const uint8_t uuid[16])
{
    char name[48];

    uuid_unparse_lower(uuid, name);
    strcat(name, ".roar");
    return bsearch(name, names, count, sizeof(*names), cmp_name) != NULL;
}

/* Removes sidecars whose segment does not exist (a crash between the
 * sidecar write and the segment write leaves one). */
static void remove_orphans(tss_store *s, const seg_ref *segs, size_t n,
                           char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char u[37], rel[128];
        uuid_t id;
        bool found = false;

        if (strlen(names[i]) != 36 + 5)
            continue;
        memcpy(u, names[i], 36);
        u[36] = '\0';
        if (uuid_parse(u, id) != 0)
            continue;
        for (size_t k = 0; k < n && !found; k++)
            found = memcmp(segs[k].sn.uuid, id, 16) == 0;
        if (found)
            continue;
        snprintf(rel, sizeof(rel), TSS_COV_SEG_DIR "/%s", names[i]);
        if (tss_storage_remove(s->st, rel) == 0)
            tss_log(s->log, s->log_ctx, TSS_LEVEL_NOTICE,
                    "removed coverage sidecar %s: its segment was never "
                    "written",
                    rel);
    }
}

/* True if a segment newer than the table snapshot is a compaction output:
 * the snapshot may then hold buckets of the segments it replaced, removed
 * since (a crash or an error between their removal and the rebuild of the
 * table), which a union can never take out. */
static bool compacted_since(tss_store *s, seg_ref *segs, size_t n,
                            uint64_t covered_seq)
{
    bool found = false;

    for (size_t i = 0; i < n && !found; i++) {
        char rel[512];
        tss_segment *seg;

        if (segs[i].sn.seq <= covered_seq || !live(&segs[i]))
            continue;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", segs[i].name);
        if (tss_segment_open(&seg, s->st, rel) != 0)
            continue; /* reported when its coverage is read */
        found = seg->nsupersedes > 0;
        tss_segment_close(seg);
    }
    tss_error_clear();
    return found;
}

int tss_cov_collect(tss_store *s, bool repair, bool from_scratch,
                    tss_covtable **out, tss_cov_stats *stats)
{
    return tss_cov_collect_select(s, repair, from_scratch, NULL, NULL, 0, out,
                                  stats);
}

int tss_cov_collect_select(tss_store *s, bool repair, bool from_scratch,
                           const tss_cov_select *sel, char **listed,
                           size_t nlisted, tss_covtable **out,
                           tss_cov_stats *stats)
{
    tss_covtable *t = NULL;
    seg_ref *segs = NULL;
    char **names = listed, **cov_names = NULL;
    size_t count = nlisted, n = 0, cov_count = 0;
    int rc;

    *out = NULL;
    memset(stats, 0, sizeof(*stats));
    rc = from_scratch ? TSS_ENOTFOUND
         : sel ? tss_covtable_load_select(&t, s->st, s->info.bucket_width, sel,
                                          s->log, s->log_ctx)
               : tss_covtable_load(&t, s->st, s->info.bucket_width, s->log,
                                   s->log_ctx);
    if (rc == TSS_ENOTFOUND)
        rc = tss_covtable_new(&t, s->info.bucket_width);
    if (rc)
        return rc;
    if (!listed && (rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg",
                                          &names, &count)) != 0)
        goto out;
    segs = tss_calloc(count ? count : 1, sizeof(*segs));
    if (!segs) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        segs[n].name = names[i];
        /* the writer's repairs need every uuid (has_sidecar,
         * remove_orphans): all names parsed in full */
        if (name_fields(names[i], &segs[n].sn) && (!repair || live(&segs[n])))
            n++;
    }
    qsort(segs, n, sizeof(*segs), cmp_window);
    mark_superseded(s, segs, n);
    qsort(segs, n, sizeof(*segs), cmp_seq);
    if (!from_scratch &&
        compacted_since(s, segs, n, tss_covtable_covered_seq(t))) {
        uint64_t version = tss_covtable_version(t);

        tss_covtable_free(t);
        t = NULL;
        if ((rc = tss_covtable_new(&t, s->info.bucket_width)) != 0)
            goto out;
        tss_covtable_set_version(t, version); /* saved as the next one */
    }
    /* the writer also restores sidecars of segments the table covers */
    if (repair && tss_storage_list(s->st, TSS_COV_SEG_DIR, "", ".roar",
                                   &cov_names, &cov_count) != 0)
        repair = false; /* the next start tries again */
    for (size_t i = 0; i < n; i++) {
        tss_sidecar sc;

        if (segs[i].superseded || segs[i].dead)
            continue;
        if (segs[i].sn.seq <= tss_covtable_covered_seq(t)) {
            if (repair && !has_sidecar(cov_names, cov_count, segs[i].sn.uuid)) {
                if (rebuild(s, &segs[i], true, TSS_ENOTFOUND, &sc) == 0)
                    tss_sidecar_free(&sc);
                stats->decoded++;
            }
            continue;
        }
        if (!live(&segs[i]))
            continue;
        rc = tss_sidecar_read_seg(s->st, &segs[i].sn, s->info.bucket_width, sel,
                                  &sc);
        /* a sidecar missing, damaged (corrupt, no regular file, a header
         * that disagrees with its segment) or unreadable (an I/O error):
         * the coverage comes from the segment. Said in the log, but no
         * file is skipped (the answer is whole), and a derived file never
         * fails the writer's open: an unreadable one is left as it is (a
         * retry may read it; verify names it) and the table still holds
         * the segment, from its points */
        if (rc && rc != TSS_ENOMEM) {
            int why = rc;

            if (rc != TSS_ENOTFOUND)
                tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                        "%s (coverage taken from segment %s)", tss_error_last(),
                        segs[i].name);
            rc = rebuild(s, &segs[i], repair, why, &sc);
            stats->decoded++;
            if (rc == 0)
                tss_sidecar_select(&sc, sel);
        }
        /* the writer's table must hold every segment it claims to cover:
         * it fails (and is retried) rather than skip a segment it cannot
         * read (neither its sidecar); only a corrupt segment, which
         * readers skip too, is left out */
        if (rc == TSS_ENOMEM ||
            (repair && rc && rc != TSS_ECORRUPT && rc != TSS_ENOTFOUND))
            goto out;
        if (rc) {
            tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                    "coverage of segment %s skipped: %s", segs[i].name,
                    tss_error_last());
            stats->errors++;
            rc = 0;
            continue;
        }
        rc = tss_covtable_add_sidecar(t, &sc);
        tss_sidecar_free(&sc);
        if (rc)
            goto out;
        tss_covtable_set_covered_seq(t, segs[i].sn.seq);
        stats->unioned++;
        /* the writer's rebuild holds the seal mutex for all of them (a
         * year of sidecars takes seconds): head snapshots go on */
        if (repair && stats->unioned % 64 == 0)
            tss_store_snapshot_due(s);
    }
    if (repair)
        remove_orphans(s, segs, n, cov_names, cov_count);
    *out = t;
    t = NULL;
out:
    tss_free(segs);
    if (!listed)
        tss_storage_names_free(names, count);
    tss_storage_names_free(cov_names, cov_count);
    tss_covtable_free(t);
    return rc;
}

int tss_store_cov_recover(tss_store *s)
{
    tss_cov_stats st;
    int rc;

    if ((rc = tss_cov_collect(s, true, false, &s->cov, &st)) != 0)
        return rc;
    /* no snapshot yet, or one behind the segments (a crash after a
     * segment write): write it now */
    if (st.unioned || tss_covtable_version(s->cov) == 0) {
        s->cov_dirty = true;
        if (tss_covtable_save(s->cov, s->st) == 0)
            s->cov_dirty = false;
    }
    return 0;
}

/* A table snapshot only says "every segment up to covered seq is in me":
 * a removal without a superseding segment (which compacted_since would
 * notice) is invisible to the next load, so the old snapshot must not be
 * the newest while segments go. */
int tss_store_cov_invalidate(tss_store *s)
{
    tss_covtable *empty;
    int rc = tss_covtable_new(&empty, s->info.bucket_width);

    if (rc)
        return rc;
    tss_covtable_set_version(empty, tss_covtable_spent(s->cov));
    rc = tss_covtable_save(empty, s->st);
    /* the rebuild saves above it (above its number also when the save
     * failed: the file may be on disk all the same) */
    tss_covtable_set_version(s->cov, tss_covtable_spent(empty));
    if (rc == 0)
        s->cov_stale = true;
    tss_covtable_free(empty);
    return rc;
}

int tss_store_cov_rebuild_after(tss_store *s, int rc)
{
    char msg[1024];
    int crc;

    snprintf(msg, sizeof(msg), "%s", tss_error_last());
    crc = tss_store_cov_rebuild(s);
    if (rc == 0)
        return crc;
    /* the failure may have left files the rebuild could not clean up (a
     * removed segment's sidecar, after a failed fsync): the next round
     * (tss_store_apply_mutations, or the pass again) rebuilds again */
    s->cov_stale = true;
    return tss_error_set(rc, "%s", msg);
}

int tss_store_cov_rebuild(tss_store *s)
{
    tss_covtable *fresh;
    tss_cov_stats cs;
    int rc = tss_cov_collect(s, true, true, &fresh, &cs);

    if (rc) {
        s->cov_stale = true; /* the table on disk lags the segments */
        return rc;
    }
    /* the new version outranks every old one (and any a failed save
     * may have left) */
    tss_covtable_set_version(fresh, tss_covtable_spent(s->cov));
    tss_covtable_free(s->cov);
    s->cov = fresh;
    s->cov_stale = false;
    s->cov_dirty = true;
    if (tss_covtable_save(s->cov, s->st) == 0)
        s->cov_dirty = false;
    else
        s->cov_stale = true; /* the disk lags: all of it again, later */
    return 0;
}
