/*
 * tss_verify: walks every file of a store and checks it against its format
 * and its invariants (docs/format.md). See tsstore/verify.h.
 *
 * Order: the table snapshot and the documents are loaded (each document
 * checked against the state diagram); every segment's table is read for
 * its supersede list, and the supersede chains are checked (an entry
 * naming a segment outside the window, a segment naming
 * itself, a cycle); with repair, segments validly superseded are removed
 * (leaves of a chain first, so a failed removal never uncovers one);
 * then every remaining segment is checked in full (chunks, sidecar,
 * tombstones), the table against the sidecars of the visible segments,
 * leftovers, and the head snapshot. Every change a repair makes is
 * reported as a note naming the file.
 */
#define _GNU_SOURCE
#include "tsstore/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include <uuid/uuid.h>

#include "compact.h"
#include "coverage.h"
#include "delset.h"
#include "segment.h"
#include "snapshot.h"
#include "rollup.h"
#include "store_internal.h"

/* One segment file of the listing, with what its table says about the
 * segments it supersedes. */
typedef struct vseg {
    const char *name; /* file name in segments/ */
    tss_seg_name sn;
    bool readable;
    uint8_t (*sup)[16];
    size_t nsup;
    size_t *edges; /* listed segments it validly supersedes */
    size_t nedges;
    bool superseded; /* invisible: a segment holding its window names it */
    bool in_cycle;
    bool removable; /* superseded by a segment outside any cycle */
    bool removed;   /* by the repair */
    size_t by;      /* a segment that supersedes it */
} vseg;

typedef struct vctx {
    tss_store *s;
    bool repair;
    tss_verify_cb cb;
    void *ctx;
    tss_verify_report *r;
    tss_delset *del;
    vseg *segs;
    size_t nsegs;
    const char *loading; /* directory whose files load_log reports on */
} vctx;

/* Words that say what kind of file the path after them is: a finding
 * names the file already, so they go with the path. */
static const char *const FILE_NOUNS[] = {"coverage file", "segment",
                                         "tombstones",    "mutation",
                                         "head snapshot", "head snapshot log"};

/*
 * A message that starts "<what> <file>: " (an error of the file the
 * finding is on) gives the path a second time: "<file>: coverage file
 * <file>: truncated header". The finding says it once: what is left is
 * the rest ("truncated header"), or after an operation, the operation and
 * the rest ("open: Permission denied").
 */
static void drop_path(char *msg, const char *file)
{
    size_t flen = strlen(file);
    char *at = *file ? strstr(msg, file) : NULL;
    size_t plen;

    if (!at || at == msg || at[-1] != ' ' || strncmp(at + flen, ": ", 2) != 0)
        return;
    plen = (size_t)(at - 1 - msg); /* "<what>", without its space */
    if (memchr(msg, ':', plen))
        return; /* the path is not the subject of the message */
    for (size_t i = 0; i < sizeof(FILE_NOUNS) / sizeof(FILE_NOUNS[0]); i++)
        if (strlen(FILE_NOUNS[i]) == plen &&
            strncmp(msg, FILE_NOUNS[i], plen) == 0) {
            memmove(msg, at + flen + 2, strlen(at + flen + 2) + 1);
            return;
        }
    memmove(msg + plen, at + flen, strlen(at + flen) + 1);
}

static void report(vctx *v, int sev, const char *file, const char *fmt, ...)
    TSS_PRINTF(4, 5);
static void report(vctx *v, int sev, const char *file, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    drop_path(msg, file);
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
    tss_tomb_free(&t);
}

/* Documents against the state diagram (wal.h, docs/format.md): a delete
 * is visible only once every target is tombstoned, its head is filtered
 * only once it is visible, and it is compacted only with the head
 * filtered. A document that says otherwise was not written by a writer
 * following the steps (edited, or a bug): readers would still hide its
 * points by the predicate, but a tombstone step it claims done never
 * happened. */
static void check_documents(vctx *v)
{
    for (size_t i = 0; i < v->del->n; i++) {
        const tss_mut *m = &v->del->muts[i];
        char rel[96];

        if (m->kind != TSS_MUT_DELETE)
            continue;
        tss_mut_path(rel, sizeof(rel), m->id);
        for (size_t k = 0; m->state >= TSS_MS_VISIBLE && k < m->ntargets; k++)
            if (!m->targets[k].tombstoned)
                report(v, TSS_VERIFY_PROBLEM, rel,
                       "delete is \"%s\" but its target %s is still "
                       "\"pending\"",
                       tss_mut_state_name(m->state), m->targets[k].segment);
        if (m->state < TSS_MS_VISIBLE && m->head_filtered)
            report(v, TSS_VERIFY_PROBLEM, rel,
                   "delete is \"%s\" but its head is already \"filtered\"",
                   tss_mut_state_name(m->state));
        if (m->state == TSS_MS_COMPACTED && !m->head_filtered)
            report(v, TSS_VERIFY_PROBLEM, rel,
                   "delete is \"compacted\" but its head is still "
                   "\"pending\"");
    }
}

/* A segment that cannot be read still takes part in the table check
 * through its sidecar: the damage is the segment's, not the table's. */
static void expect_sidecar(vctx *v, const vseg *vs, uint64_t covered_seq,
                           tss_covtable *cov)
{
    const tss_store_info *in = &v->s->info;
    const tss_seg_name *sn = &vs->sn;
    tss_sidecar sc;

    if (vs->superseded || sn->seq > covered_seq ||
        tss_sidecar_read_seg(v->s->st, sn, in->bucket_width, NULL, &sc) != 0)
        return;
    if (tss_covtable_add_sidecar(cov, &sc) != 0)
        report(v, TSS_VERIFY_PROBLEM, "", "out of memory checking coverage");
    tss_sidecar_free(&sc);
}

/* One segment: every chunk, then its sidecar. Unions the sidecar into
 * `cov` when its seq is covered by the table snapshot and the segment is
 * visible (the table holds no superseded segment's buckets). */
static void check_segment(vctx *v, const vseg *vs, uint64_t covered_seq,
                          tss_covtable *cov)
{
    const char *name = vs->name;
    tss_store *s = v->s;
    char rel[512], cov_rel[128];
    tss_sidecar built, disk;
    tss_segment *seg;
    int rc;

    snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", name);
    v->r->files++;
    if ((rc = tss_segment_open(&seg, s->st, rel)) != 0) {
        report(v, TSS_VERIFY_PROBLEM, rel, "%s", tss_error_last());
        expect_sidecar(v, vs, covered_seq, cov);
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
        expect_sidecar(v, vs, covered_seq, cov);
        return;
    }
    v->r->points += seg->points;
    tss_sidecar_path(cov_rel, sizeof(cov_rel), seg->name.uuid);
    v->r->files++;
    rc = tss_sidecar_read_seg(s->st, &seg->name, s->info.bucket_width, NULL,
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
        char aside[160] = "";
        bool ok = true;

        /* kept beside it, never over a file an earlier repair kept */
        if (rc != TSS_ENOTFOUND)
            ok = tss_storage_move_aside(s->st, cov_rel, ".corrupt", aside,
                                        sizeof(aside)) == 0;
        ok = ok && tss_sidecar_encode(&built, &img) == 0 &&
             tss_storage_write_new(s->st, cov_rel, img.data, img.len) == 0;
        tss_buf_free(&img);
        if (ok) {
            v->r->repaired++;
            report(v, TSS_VERIFY_NOTE, cov_rel, "rebuilt from segment %s%s%s%s",
                   rel, *aside ? " (the damaged file kept beside it as " : "",
                   aside, *aside ? ")" : "");
        } else {
            report(v, TSS_VERIFY_PROBLEM, cov_rel, "repair failed: %s",
                   tss_error_last());
        }
    }
    if (!vs->superseded && seg->name.seq <= covered_seq &&
        tss_covtable_add_sidecar(cov, &built) != 0)
        report(v, TSS_VERIFY_PROBLEM, "", "out of memory checking coverage");
    tss_sidecar_free(&built);
    check_tombstones(v, seg);
    tss_segment_close(seg);
}

/* The table snapshot must equal the union of the sidecars of the visible
 * segments it covers. After a compaction whose segment it does not cover
 * yet (`stale`), it may still hold buckets of the segments that
 * compaction replaced: readers then rebuild the table from the sidecars
 * (store_cov.c), and the writer saves a new one at its start. */
static void check_table(vctx *v, const tss_covtable *disk,
                        const tss_covtable *expect, bool stale)
{
    char rel[96];
    size_t nd = 0, ne = 0;
    bool same = true;

    snprintf(rel, sizeof(rel), TSS_COV_TABLE_DIR "/%" PRIu64 ".roar",
             tss_covtable_version(disk));
    for (const tss_cov_entry *e = tss_covtable_iter(expect, NULL); e && same;
         e = tss_covtable_iter(expect, e)) {
        const tss_cov_entry *d = tss_covtable_get(disk, e->key, e->key_len);

        ne++;
        same = d && roaring_bitmap_equals(d->bm, e->bm);
    }
    for (const tss_cov_entry *d = tss_covtable_iter(disk, NULL); d && same;
         d = tss_covtable_iter(disk, d))
        nd++;
    if (same && nd == ne)
        return;
    if (stale)
        report(v, TSS_VERIFY_NOTE, rel,
               "predates a compaction it does not cover yet (readers rebuild "
               "the coverage from the sidecars; the writer saves a new table "
               "at its start)");
    else if (!same)
        report(v, TSS_VERIFY_PROBLEM, rel,
               "coverage of a series disagrees with the sidecars of the "
               "segments it covers");
    else
        report(v, TSS_VERIFY_PROBLEM, rel,
               "holds %zu series where its segments hold %zu", nd, ne);
}

/* The pid in a temp file name ".tmp-<name>-<pid>-<n>"; 0 if none. */
static pid_t temp_pid(const char *name)
{
    const char *last = strrchr(name, '-'), *p;
    long pid = 0;

    if (!last || last == name)
        return 0;
    for (p = last - 1; p > name && *p != '-'; p--)
        ;
    if (*p != '-' || p + 1 == last)
        return 0;
    for (const char *d = p + 1; d < last; d++) {
        if (*d < '0' || *d > '9' || pid > 1000000000L)
            return 0;
        pid = pid * 10 + (*d - '0');
    }
    return (pid_t)pid;
}

/* True if process `pid` exists (EPERM: it does, as another user's). */
static bool alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static bool segment_listed(const vctx *v, const uint8_t uuid[16])
{
    for (size_t k = 0; k < v->nsegs; k++)
        if (!v->segs[k].removed && memcmp(v->segs[k].sn.uuid, uuid, 16) == 0)
            return true;
    return false;
}

/*
 * Leftovers in `dir`: with `by_segment`, files "<segment uuid><suffix>"
 * whose segment is not on disk; else every file starting with `prefix`
 * (temp files). With `live` (a directory where processes without the
 * LOCK write: `tsstore delete` creates documents while collectd runs), a
 * temp file whose writer is still running is left alone.
 */
static void remove_strays(vctx *v, const char *dir, const char *prefix,
                          const char *suffix, const char *what, bool by_segment,
                          bool live)
{
    char **names;
    size_t count;

    if (tss_storage_list(v->s->st, dir, prefix, suffix, &names, &count) != 0) {
        tss_error_clear();
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char rel[512];

        if (by_segment) { /* stray only if its segment is missing */
            char u[37];
            uuid_t id;

            if (strlen(names[i]) != 36 + strlen(suffix))
                continue;
            memcpy(u, names[i], 36);
            u[36] = '\0';
            if (uuid_parse(u, id) != 0 || segment_listed(v, id))
                continue;
        }
        snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
        if (live && alive(temp_pid(names[i]))) {
            report(v, TSS_VERIFY_NOTE, rel,
                   "temp file of running process %ld: left alone",
                   (long)temp_pid(names[i]));
        } else if (v->repair && tss_storage_remove(v->s->st, rel) == 0) {
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

/* ---- supersede chains ------------------------------------------------ */

static bool window_within(const tss_seg_name *in, const tss_seg_name *out)
{
    return out->start <= in->start && in->end <= out->end;
}

static void vsegs_free(vseg *segs, size_t n)
{
    for (size_t i = 0; segs && i < n; i++) {
        tss_free(segs[i].sup);
        tss_free(segs[i].edges);
    }
    tss_free(segs);
}

/* Reads every listed segment's supersede list (its table; no chunk). A
 * segment that cannot be read is reported by check_segment later. */
static int read_supersedes(vctx *v)
{
    for (size_t i = 0; i < v->nsegs; i++) {
        vseg *g = &v->segs[i];
        char rel[512];
        tss_segment *seg;
        int rc;

        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", g->name);
        rc = tss_segment_open(&seg, v->s->st, rel);
        if (rc == TSS_ENOMEM)
            return rc;
        if (rc) {
            tss_error_clear();
            continue;
        }
        g->readable = true;
        if (seg->nsupersedes) {
            if (!(g->sup = tss_malloc(seg->nsupersedes * 16)) ||
                !(g->edges = tss_calloc(seg->nsupersedes, sizeof(size_t)))) {
                tss_segment_close(seg);
                return tss_error_set(TSS_ENOMEM, "out of memory");
            }
            memcpy(g->sup, seg->supersedes, seg->nsupersedes * 16);
            g->nsup = seg->nsupersedes;
        }
        tss_segment_close(seg);
    }
    return 0;
}

/* True if `from` reaches `to` along supersede edges (depth-first, each
 * segment once). */
static bool reaches(const vctx *v, size_t from, size_t to, bool *seen)
{
    for (size_t e = 0; e < v->segs[from].nedges; e++) {
        size_t j = v->segs[from].edges[e];

        if (j == to)
            return true;
        if (!seen[j]) {
            seen[j] = true;
            if (reaches(v, j, to, seen))
                return true;
        }
    }
    return false;
}

/*
 * A segment may supersede only segments within its window (a rollup's
 * holds several raw windows), never itself, and never, through others, a
 * segment that supersedes it: readers hide every segment of such a
 * cycle, and the writer's cleanup would remove them all.
 */
static int check_chains(vctx *v)
{
    bool *seen = tss_calloc(v->nsegs ? v->nsegs : 1, sizeof(*seen));

    if (!seen)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    for (size_t i = 0; i < v->nsegs; i++) {
        vseg *g = &v->segs[i];
        char rel[512];

        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", g->name);
        for (size_t k = 0; k < g->nsup; k++) {
            if (memcmp(g->sup[k], g->sn.uuid, 16) == 0) {
                report(v, TSS_VERIFY_PROBLEM, rel,
                       "supersedes itself: readers never show it");
                g->in_cycle = g->superseded = true;
                g->by = i;
                continue;
            }
            for (size_t j = 0; j < v->nsegs; j++) {
                vseg *o = &v->segs[j];

                if (j == i || memcmp(o->sn.uuid, g->sup[k], 16) != 0)
                    continue;
                if (!window_within(&o->sn, &g->sn)) {
                    report(v, TSS_VERIFY_PROBLEM, rel,
                           "supersedes segment %s, which is not within its "
                           "window (readers ignore that entry)",
                           o->name);
                    continue;
                }
                g->edges[g->nedges++] = j;
                if (!o->superseded)
                    o->by = i;
                o->superseded = true;
                break; /* a uuid names one segment */
            }
        }
    }
    for (size_t i = 0; i < v->nsegs; i++) {
        char rel[512];

        if (v->segs[i].in_cycle || v->segs[i].nedges == 0)
            continue;
        memset(seen, 0, v->nsegs * sizeof(*seen));
        if (!reaches(v, i, i, seen))
            continue;
        v->segs[i].in_cycle = true;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", v->segs[i].name);
        report(v, TSS_VERIFY_PROBLEM, rel,
               "supersedes, through the segments it supersedes, itself: "
               "readers show none of that cycle");
    }
    tss_free(seen);
    /* removable: superseded by a segment outside any cycle, and in none */
    for (size_t i = 0; i < v->nsegs; i++)
        for (size_t e = 0; e < v->segs[i].nedges; e++) {
            vseg *o = &v->segs[v->segs[i].edges[e]];

            if (!v->segs[i].in_cycle && !o->in_cycle) {
                o->removable = true;
                o->by = i;
            }
        }
    for (size_t i = 0; i < v->nsegs; i++) {
        char rel[512];

        if (!v->segs[i].superseded || v->segs[i].in_cycle)
            continue;
        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", v->segs[i].name);
        if (!v->repair || !v->segs[i].removable)
            report(v, TSS_VERIFY_NOTE, rel,
                   "superseded by %s (an interrupted compaction or rollup; "
                   "readers skip it, the writer removes it at its start)",
                   v->segs[v->segs[i].by].name);
    }
    return 0;
}

/*
 * Repair: removes the removable superseded segments, each with its
 * sidecar and tombstones, a segment only once every segment it supersedes
 * is gone (a chain's leaves first): were one of them left, removing its
 * superseder would show it again.
 */
static void remove_superseded(vctx *v)
{
    bool progress = true;

    while (progress) {
        progress = false;
        for (size_t i = 0; i < v->nsegs; i++) {
            vseg *g = &v->segs[i];
            bool ready = g->removable && !g->removed;
            char rel[512];

            for (size_t e = 0; e < g->nedges && ready; e++)
                ready = v->segs[g->edges[e]].removed;
            if (!ready)
                continue;
            snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", g->name);
            if (tss_remove_segment(v->s->st, &g->sn) != 0) {
                report(v, TSS_VERIFY_PROBLEM, rel, "repair failed: %s",
                       tss_error_last());
                g->removable = false;
                continue;
            }
            g->removed = progress = true;
            v->r->repaired++;
            report(v, TSS_VERIFY_NOTE, rel,
                   "removed superseded segment, with its coverage sidecar "
                   "and tombstones (superseded by %s)",
                   v->segs[g->by].name);
        }
    }
}

int tss_verify(tss_store *s, unsigned flags, tss_verify_cb cb,
               tss_verify_progress progress, void *ctx, tss_verify_report *out)
{
    static const char *const dirs[] = {
        ".",          TSS_SEG_DIR, TSS_COV_SEG_DIR, TSS_COV_TABLE_DIR,
        TSS_HEAD_DIR, TSS_WAL_DIR};
    tss_verify_report local = {0};
    vctx v;
    tss_delset del;
    tss_covtable *disk = NULL, *expect = NULL;
    tss_snap_view head;
    char **names = NULL;
    size_t count = 0;
    uint64_t covered = 0, done = 0, todo = 0;
    bool stale = false;
    int rc;

    memset(&v, 0, sizeof(v));
    v.s = s;
    v.repair = (flags & TSS_VERIFY_REPAIR) != 0;
    v.cb = cb;
    v.ctx = ctx;
    v.r = out ? out : &local;
    memset(v.r, 0, sizeof(*v.r));
    /* repairs need the LOCK: no writer may be changing what they fix */
    if (v.repair && s->lock_fd < 0)
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
        covered = tss_covtable_covered_seq(disk);
    }
    if (rc || (rc = tss_covtable_new(&expect, s->info.bucket_width)) != 0)
        goto out;
    v.loading = TSS_WAL_DIR;
    if ((rc = tss_delset_load(s->st, load_log, &v, &del)) != 0)
        goto out;
    v.del = &del;
    v.r->files += del.n;
    check_documents(&v);
    if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg", &names,
                               &count)) != 0)
        goto out;
    v.segs = tss_calloc(count ? count : 1, sizeof(*v.segs));
    if (!v.segs) {
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if (tss_seg_name_parse(names[i], &v.segs[v.nsegs].sn) == 0) {
            v.segs[v.nsegs++].name = names[i];
        } else {
            char rel[512];

            tss_error_clear();
            snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
            report(&v, TSS_VERIFY_PROBLEM, rel, "not a segment file name");
        }
    }
    if ((rc = read_supersedes(&v)) != 0 || (rc = check_chains(&v)) != 0)
        goto out;
    if (v.repair)
        remove_superseded(&v);
    /* a visible compaction output the table does not cover yet */
    for (size_t i = 0; i < v.nsegs; i++) {
        stale = stale || (!v.segs[i].superseded && v.segs[i].nsup > 0 &&
                          v.segs[i].sn.seq > covered);
        todo += !v.segs[i].removed;
    }
    for (size_t i = 0; i < v.nsegs; i++) {
        if (v.segs[i].removed)
            continue;
        check_segment(&v, &v.segs[i], covered, expect);
        if (progress)
            progress(ctx, ++done, todo);
    }
    tss_error_clear();
    if (disk)
        check_table(&v, disk, expect, stale);
    remove_strays(&v, TSS_SEG_DIR, "", ".tombstones",
                  "tombstones without a segment", true, false);
    remove_strays(&v, TSS_COV_SEG_DIR, "", ".roar",
                  "coverage sidecar without a segment", true, false);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        remove_strays(&v, dirs[i], TSS_TMP_PREFIX, NULL,
                      "temp file of an unfinished write", false,
                      strcmp(dirs[i], TSS_WAL_DIR) == 0);
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
    vsegs_free(v.segs, v.nsegs);
    tss_storage_names_free(names, count);
    tss_covtable_free(disk);
    tss_covtable_free(expect);
    return rc;
}
