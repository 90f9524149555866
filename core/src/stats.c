/*
 * Store health figures (tsstore/stats.h) and the writer's stats file:
 *
 *   DataDir/writer-stats.json  {"pid":N, "updated":<unix s>,
 *      "points_appended":N, "points_late":N, "write_errors":N,
 *      "points_dropped":N, "segments_written":N}
 *
 * replaced with write_atomic by the writer (at most once per interval,
 * and only when a counter changed), read by anyone.
 */
#define _GNU_SOURCE
#include "tsstore/stats.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "coverage.h"
#include "segment.h"
#include "snapshot.h"
#include "store_internal.h"
#include "tsstore/coverage.h"
#include "wal.h"

#define STATS_FILE "writer-stats.json"

/* Bytes of the files in `dir` ending in `suffix` (NULL: all), and the
 * newest modification time. */
static void du(tss_store *s, const char *dir, const char *suffix,
               uint64_t *bytes, uint64_t *files, int64_t *newest)
{
    char **names;
    size_t n;

    if (tss_storage_list(s->st, dir, "", suffix, &names, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        uint64_t size;
        int64_t mt;

        snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
        if (tss_storage_stat(s->st, rel, &size, &mt) != 0)
            continue; /* a directory, or gone since the listing */
        *bytes += size;
        if (files)
            (*files)++;
        if (newest && mt > *newest)
            *newest = mt;
    }
    tss_storage_names_free(names, n);
    tss_error_clear();
}

/* Point count and resolution from a segment's 128-byte header (checked),
 * counted per resolution. */
static uint64_t header_points(tss_store *s, const char *name,
                              tss_store_stats *o)
{
    char rel[512];
    uint8_t hdr[TSS_SEG_HEADER];
    char err[256];
    const char *why = NULL;
    uint64_t size, points = 0;
    int64_t res = 0;
    unsigned k;
    int fd;

    snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", name);
    if (tss_storage_open_read(s->st, rel, &fd, &size) != 0) {
        /* gone since the listing (a compaction removed it): not damage */
        if (tss_error_last_code() != TSS_ENOTFOUND) {
            tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                    "%s; left out of the figures", tss_error_last());
            o->unreadable++;
        }
        tss_error_clear();
        return 0;
    }
    if (size < sizeof(hdr)) {
        why = "too short for a header";
    } else if (tss_storage_pread(s->st, fd, rel, hdr, sizeof(hdr), 0) != 0) {
        snprintf(err, sizeof(err), "%s", tss_error_last());
        why = err;
    } else if (tss_get_u64(hdr + 120) != tss_checksum(hdr, 120)) {
        why = "header checksum mismatch";
    } else {
        points = tss_get_u64(hdr + 80);
        if (tss_get_u16(hdr + 10) & TSS_SEG_FLAG_ROLLUP)
            res = (int64_t)tss_get_u64(hdr + 104);
    }
    if (why) {
        tss_log(s->log, s->log_ctx, TSS_LEVEL_ERR,
                "segment %s: %s; its points are left out of the figures", rel,
                why);
        tss_error_clear();
        o->unreadable++;
    }
    tss_storage_close_fd(s->st, fd);
    for (k = 0; k < o->nresolutions && o->per_resolution[k].resolution != res;
         k++)
        ;
    if (k == o->nresolutions) {
        if (k == TSS_MAX_ROLLUPS + 1)
            return points; /* more levels than configured: not listed */
        o->per_resolution[k].resolution = res;
        o->nresolutions++;
        /* keep them sorted by resolution */
        while (k > 0 && o->per_resolution[k - 1].resolution > res) {
            o->per_resolution[k] = o->per_resolution[k - 1];
            o->per_resolution[--k].resolution = res;
            o->per_resolution[k].bytes = o->per_resolution[k].points =
                o->per_resolution[k].segments = 0;
        }
    }
    o->per_resolution[k].bytes += size;
    o->per_resolution[k].points += points;
    o->per_resolution[k].segments++;
    return points;
}

static void read_writer_stats(tss_store *s, int64_t now_ns, tss_store_stats *o)
{
    uint8_t *buf;
    size_t len;
    yajl_val root;
    uint64_t size;
    int64_t mt;

    o->writer_stats_age = -1;
    if (tss_storage_stat(s->st, STATS_FILE, &size, &mt) != 0 ||
        tss_storage_read_all(s->st, STATS_FILE, 65536, &buf, &len) != 0) {
        tss_error_clear();
        return;
    }
    if (tss_json_parse(buf, len, STATS_FILE, &root) == 0) {
        static const char *const keys[] = {"points_late", "write_errors",
                                           "points_dropped", "points_appended"};
        uint64_t *dst[] = {&o->late_points, &o->write_errors,
                           &o->points_dropped, &o->points_appended};

        for (int i = 0; i < 4; i++) {
            const char *path[] = {keys[i], NULL};
            yajl_val v = yajl_tree_get(root, path, yajl_t_number);

            if (v && YAJL_IS_INTEGER(v))
                *dst[i] = (uint64_t)YAJL_GET_INTEGER(v);
        }
        o->writer_stats_age = (double)(now_ns - mt) / 1e9;
        tss_json_free(root);
    } else {
        tss_log(s->log, s->log_ctx, TSS_LEVEL_WARNING, "%s", tss_error_last());
        tss_error_clear();
    }
    tss_free(buf);
}

int tss_store_stats_get(tss_store *s, int64_t now, tss_store_stats *o)
{
    int64_t ups = s->info.units_per_second, newest = 0, now_ns;
    tss_coverage *cov = NULL;
    tss_coverage_series cs;
    tss_filter f;
    tss_mut *docs = NULL;
    char **names = NULL;
    size_t n = 0, ndocs = 0, bad;
    uint64_t with_data = 0;
    double pct = 0;
    struct timespec ts;
    int rc;

    memset(o, 0, sizeof(*o));
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    /* bytes per kind */
    du(s, TSS_SEG_DIR, ".seg", &o->bytes_segments, &o->segments, NULL);
    du(s, TSS_SEG_DIR, ".tombstones", &o->bytes_tombstones, NULL, NULL);
    du(s, TSS_COV_SEG_DIR, NULL, &o->bytes_coverage, NULL, NULL);
    du(s, TSS_COV_TABLE_DIR, NULL, &o->bytes_coverage, NULL, NULL);
    du(s, TSS_HEAD_DIR, NULL, &o->bytes_head, NULL, &newest);
    du(s, TSS_WAL_DIR, NULL, &o->bytes_wal, NULL, NULL);
    o->bytes_total = o->bytes_segments + o->bytes_tombstones +
                     o->bytes_coverage + o->bytes_head + o->bytes_wal;
    o->snapshot_age = newest ? (double)(now_ns - newest) / 1e9 : -1;
    /* points: segment headers plus the head */
    if ((rc = tss_storage_list(s->st, TSS_SEG_DIR, "", ".seg", &names, &n)))
        return rc;
    for (size_t i = 0; i < n; i++)
        o->points += header_points(s, names[i], o);
    tss_storage_names_free(names, n);
    {
        tss_snap_view head;

        /* damage is logged by the coverage pass below, which loads the
         * head again: not twice */
        if ((rc = tss_snapshot_load(s->st, &s->info, NULL, NULL, false,
                                    &head)) != 0)
            return rc;
        for (size_t i = 0; i < head.n; i++)
            if (!head.items[i].dropped)
                o->head_points += head.items[i].enc.count + head.items[i].nooo;
        tss_snap_view_free(&head);
    }
    o->points += o->head_points;
    o->bytes_per_point =
        o->points ? (double)o->bytes_total / (double)o->points : 0;
    /* deletes; a document that cannot be read is logged and counted by
     * the coverage query below, which reads them again: not here too */
    if ((rc = tss_mut_list(s->st, NULL, NULL, &docs, &ndocs, &bad)))
        return rc;
    for (size_t i = 0; i < ndocs; i++) {
        if (docs[i].kind != TSS_MUT_DELETE)
            continue;
        o->pending_deletes++;
        if (docs[i].state >= TSS_MS_APPLYING)
            o->tombstoned_points += docs[i].points;
    }
    tss_mut_list_free(docs, ndocs);
    /* series, and coverage over the last hour: each series is judged
     * from its first point (or an hour ago) to now, its last interval not
     * counted against it (the next point is not due yet) */
    memset(&f, 0, sizeof(f));
    if ((rc = tss_coverage_open(&cov, s, &f)) != 0)
        return rc;
    while ((rc = tss_coverage_next(cov, &cs)) == 1) {
        int64_t from = now - 3600 * ups, slack, end, covered = 0;

        o->series++;
        slack = 2 * (cs.interval > s->info.bucket_width ? cs.interval
                                                        : s->info.bucket_width);
        end = cs.to > now - slack ? cs.to : now - slack;
        if (cs.from > from)
            from = cs.from;
        if (end <= from || cs.to <= now - 3600 * ups)
            continue; /* no data in the last hour: not part of the mean */
        for (size_t i = 0; i < cs.nruns; i++) {
            int64_t a = cs.runs[i].from > from ? cs.runs[i].from : from;
            int64_t b = cs.runs[i].to < end ? cs.runs[i].to : end;

            if (cs.runs[i].covered && b > a)
                covered += b - a;
        }
        with_data++;
        pct += 100.0 * (double)covered / (double)(end - from);
    }
    /* the coverage pass read the mutation documents, the sidecars and what
     * they stand for: what it skipped, the figures leave out */
    o->unreadable += tss_coverage_errors(cov);
    tss_coverage_close(cov);
    if (rc < 0)
        return rc;
    o->coverage_1h = with_data ? pct / (double)with_data : -1;
    read_writer_stats(s, now_ns, o);
    return 0;
}

int tss_store_publish_stats(tss_store *s, int64_t now, int64_t min_interval)
{
    tss_writer_stats w;
    const unsigned char *buf;
    size_t len;
    yajl_gen g;
    int rc = 0;

    if (!s->head)
        return tss_error_set(TSS_EINVAL, "store %s is not open for writing",
                             s->path);
    tss_store_writer_stats(s, &w);
    /* a clock earlier than the last publication (it stepped back) does
     * not hold the file back until it has caught up */
    if (s->stats_published &&
        ((now >= s->stats_published_at &&
          now - s->stats_published_at < min_interval) ||
         (w.points_late == s->pub_late && w.write_errors == s->pub_errors &&
          w.points_dropped == s->pub_dropped)))
        return 0;
    g = yajl_gen_alloc(NULL);
    if (!g)
        return tss_error_set(TSS_ENOMEM, "out of memory");
    yajl_gen_map_open(g);
#define KV(k, v)                                                               \
    do {                                                                       \
        yajl_gen_string(g, (const unsigned char *)(k), strlen(k));             \
        yajl_gen_integer(g, (long long)(v));                                   \
    } while (0)
    KV("pid", getpid());
    KV("updated", time(NULL));
    KV("points_appended", w.points_appended);
    KV("points_late", w.points_late);
    KV("write_errors", w.write_errors);
    KV("points_dropped", w.points_dropped);
    KV("segments_written", w.segments_written);
#undef KV
    yajl_gen_map_close(g);
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        /* s->st is replaced (the failed one freed) under the seal mutex
         * by whichever thread snapshots: not under our feet */
        pthread_mutex_lock(&s->seal_mu);
        rc = tss_storage_write_atomic(s->st, STATS_FILE, buf, len);
        pthread_mutex_unlock(&s->seal_mu);
    }
    yajl_gen_free(g);
    if (rc == 0) {
        s->stats_published = true;
        s->stats_published_at = now;
        s->pub_late = w.points_late;
        s->pub_errors = w.write_errors;
        s->pub_dropped = w.points_dropped;
    }
    return rc;
}
