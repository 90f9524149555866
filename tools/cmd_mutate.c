/*
 * tsstore delete and tsstore compact. Both write a mutation document; the
 * process holding the store's writer LOCK applies it. That is collectd's
 * write_tsstore when it runs (it picks documents up every second), or
 * this command itself when nobody holds the LOCK.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cli_time.h"
#include "tsstore/error.h"
#include "tsstore/mutation.h"
#include "../plugin/conf_util.h"

static const char *const STATE_NAMES[] = {"removed (done)", "intent",
                                          "applying", "visible", "compacted"};

static void log_stderr(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "tsstore: %s\n", msg);
}

static void plan_line(void *ctx, const tss_series_id *id, int kind,
                      const char *where, uint64_t points)
{
    (void)ctx;
    cli_text_id(stdout, id, 0);
    fputc(' ', stdout);
    cli_text_field(stdout, id->ds);
    printf(" %s %s %" PRIu64 "\n", tss_kind_name(kind), where, points);
}

/* Applies pending documents as the writer, if nobody else is one; *res
 * sums what the calls did. Returns EXIT_OK when applied, -1 when a writer
 * runs, EXIT_ERR. */
static int apply_as_writer(const char *dir, bool compact, tss_apply_result *res)
{
    tss_store_options o, reopen;
    tss_apply_result step;
    tss_store *w;
    int rc, ret;

    memset(res, 0, sizeof(*res));
    tss_store_options_init(&o);
    o.log = log_stderr;
    /* what others queue meanwhile, finding the LOCK taken, is applied at
     * the close as their own command would (compaction policy included:
     * a delete queued during a compact was left tombstoned) */
    reopen = o;
    /* for compact, the automatic compaction of tombstoned segments is
     * left to the explicit call below (a compaction request found at
     * open is carried out there, and counted through
     * tss_store_open_applied) */
    if (compact)
        o.compact_after_segments = 0;
    rc = tss_store_open(&w, dir, TSS_OPEN_WRITER, &o);
    if (rc == TSS_ELOCKED)
        return -1;
    if (rc) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        return EXIT_ERR;
    }
    /* the open applied pending documents already: count that too */
    tss_store_open_applied(w, &step);
    tss_apply_result_add(res, &step);
    rc = tss_store_apply_mutations(w, tss_store_now(w), &step);
    tss_apply_result_add(res, &step);
    if (rc == 0 && compact) {
        rc = tss_store_compact(w, tss_store_now(w), TSS_COMPACT_MERGE, &step);
        tss_apply_result_add(res, &step);
    }
    if (rc == 0) { /* documents the compaction completed */
        rc = tss_store_apply_mutations(w, tss_store_now(w), &step);
        tss_apply_result_add(res, &step);
    }
    if (rc)
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
    ret = cli_close_writer(w, &reopen, &step);
    tss_apply_result_add(res, &step);
    return rc ? EXIT_ERR : ret;
}

/* Polls until the document reaches `want` (or is removed). */
static int wait_for(tss_store *s, const char *id, int want, double timeout)
{
    struct timespec start, now, nap = {0, 100 * 1000 * 1000};
    int state = -1;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (tss_mutation_state(s, id, &state) != 0) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
            return EXIT_ERR;
        }
        if (state == TSS_MUTATION_REMOVED || state >= want)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) +
                (double)(now.tv_nsec - start.tv_nsec) / 1e9 >
            timeout) {
            fprintf(stderr,
                    "tsstore: %s is still \"%s\" after %.0f s: the writer "
                    "(collectd with write_tsstore) holds the store's LOCK "
                    "but has not applied it; it stays queued and is "
                    "applied when the writer gets to it\n",
                    id, STATE_NAMES[state], timeout);
            return EXIT_ERR;
        }
        nanosleep(&nap, NULL);
    }
    printf("%s: %s\n", id, STATE_NAMES[state]);
    return EXIT_OK;
}

int cmd_delete(const cli_opts *o)
{
    tss_store *s = NULL;
    tss_store_info info;
    tss_delete_spec spec;
    tss_filter f;
    tss_apply_result res;
    char id[37];
    int ret;

    if (!o->series)
        return cli_usage_error("%s", "delete needs --series GLOB (use '*' "
                                     "for everything)");
    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    tss_store_info_get(s, &info);
    if ((ret = cli_make_filter(o, &info, &f)) != EXIT_OK)
        goto out;
    memset(&spec, 0, sizeof(spec));
    spec.series_glob = o->series;
    spec.ds = o->ds;
    spec.has_from = f.has_from;
    spec.from = f.from;
    spec.has_to = f.has_to;
    spec.to = f.to;
    {
        struct timespec wall;

        /* a delete hides the points stored when it is applied: an open
         * end, or one still ahead, does not reach points stored later */
        clock_gettime(CLOCK_REALTIME, &wall);
        if (!f.has_to ||
            f.to / (int64_t)info.units_per_second >= (int64_t)wall.tv_sec)
            fprintf(stderr,
                    "tsstore: note: the delete covers the points stored "
                    "until it is applied; points collectd stores later %s "
                    "are kept\n",
                    f.has_to ? "before --to" : "(no --to given)");
    }
    if (o->dry_run) {
        tss_plan_totals t;

        printf("# series ds kind where points\n");
        if (tss_delete_plan(s, &spec, plan_line, NULL, &t) != 0) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
            ret = EXIT_ERR;
            goto out;
        }
        printf("# would delete %" PRIu64 " point(s): %" PRIu64 " in %" PRIu64
               " segment(s), %" PRIu64 " in the head\n",
               t.points, t.points - t.head_points, t.segments, t.head_points);
        ret = cli_finish_output(EXIT_OK);
        goto out;
    }
    if (tss_delete_create(s, &spec, id) != 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
        goto out;
    }
    printf("%s: delete created (wal/mutations/%s.json)\n", id, id);
    memset(&res, 0, sizeof(res));
    ret = apply_as_writer(o->dir, false, &res);
    if (ret == EXIT_OK) {
        int state = -1;

        /* opening as the writer already applies pending documents, so
         * report the document's outcome rather than this call's counts */
        if (tss_mutation_state(s, id, &state) == 0)
            printf("%s: applied here (no writer was running): %s\n", id,
                   STATE_NAMES[state]);
    } else if (ret < 0) {
        printf("%s: queued; the running writer applies it\n", id);
        ret = o->wait ? wait_for(s, id, TSS_MUTATION_VISIBLE, o->timeout)
                      : EXIT_OK;
    }
    ret = cli_finish_output(ret);
out:
    tss_store_close(s);
    return ret;
}

int cmd_compact(const cli_opts *o)
{
    tss_apply_result res;
    tss_store *s = NULL;
    char id[37];
    int ret;

    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    memset(&res, 0, sizeof(res));
    ret = apply_as_writer(o->dir, true, &res);
    if (ret == EXIT_OK) {
        printf("compacted %u window(s), %" PRIu64 " byte(s) written; %u "
               "document(s) completed\n",
               res.compacted, res.bytes_rewritten, res.removed_docs);
    } else if (ret < 0) {
        if (tss_compact_request(s, id) != 0) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
            ret = EXIT_ERR;
        } else {
            printf("%s: compaction requested from the running writer\n", id);
            ret = o->wait ? wait_for(s, id, TSS_MUTATION_COMPACTED, o->timeout)
                          : EXIT_OK;
        }
    }
    tss_store_close(s);
    return cli_finish_output(ret);
}

int cmd_prune(const cli_opts *o)
{
    tss_store_options opts;
    tss_prune_result pr;
    tss_apply_result opened;
    tss_store *s = NULL, *w;
    char id[37], err[256];
    int64_t ms = 0;
    uint64_t bytes = 0;
    int rc, ret;

    /* 0 means what RetentionTime 0 and RetentionSize 0 mean to the
     * writer, no limit: as an option here it would prune nothing */
    if (o->older_than) {
        if (tss_conf_duration_ms(o->older_than, &ms, err, sizeof(err)) != 0)
            return cli_usage_error("--older-than: %s", err);
        if (ms == 0)
            return cli_usage_error("%s", "--older-than: 0 keeps everything "
                                         "(as RetentionTime 0): give a "
                                         "duration such as 90d");
        if (ms % 1000 != 0)
            return cli_usage_error("--older-than: \"%s\" is not a whole "
                                   "number of seconds",
                                   o->older_than);
    }
    if (o->max_size) {
        if (tss_conf_size(o->max_size, &bytes, err, sizeof(err)) != 0)
            return cli_usage_error("--max-size: %s", err);
        if (bytes == 0)
            return cli_usage_error("%s", "--max-size: 0 sets no limit (as "
                                         "RetentionSize 0): give a size "
                                         "such as 10G");
    }
    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    tss_store_options_init(&opts);
    opts.log = log_stderr;
    opts.retention_seconds = ms / 1000;
    opts.retention_bytes = bytes;
    /* without options only a running writer can be asked: probe its LOCK
     * without a writer's recovery, which would change the store */
    rc = tss_store_open(
        &w, o->dir,
        TSS_OPEN_WRITER |
            (o->older_than || o->max_size ? 0 : TSS_OPEN_NO_RECOVERY),
        &opts);
    if (rc == TSS_ELOCKED) {
        /* the running writer applies its own RetentionTime/RetentionSize */
        if (o->older_than || o->max_size)
            fprintf(stderr, "tsstore: note: collectd writes this store; it "
                            "prunes with its own RetentionTime and "
                            "RetentionSize, not --older-than/--max-size\n");
        if (tss_prune_request(s, id) != 0) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
            ret = EXIT_ERR;
        } else {
            printf("%s: prune requested from the running writer\n", id);
            ret = o->wait ? wait_for(s, id, TSS_MUTATION_COMPACTED, o->timeout)
                          : EXIT_OK;
        }
    } else if (rc) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
    } else {
        if (!o->older_than && !o->max_size) {
            /* a probe, but it held the LOCK: hand over what others
             * queued meanwhile */
            (void)cli_close_writer(w, &opts, NULL);
            tss_store_close(s);
            return cli_usage_error("%s", "no writer runs: say what to prune "
                                         "with --older-than DURATION and/or "
                                         "--max-size SIZE");
        }
        /* a prune request queued while the LOCK was held was carried out
         * by the open, with these options: its work is this command's */
        tss_store_open_applied(w, &opened);
        rc = tss_store_prune(w, tss_store_now(w), &pr);
        if (rc) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
        } else {
            tss_apply_result mine = {.prune = pr};

            tss_apply_result_add(&opened, &mine);
            pr = opened.prune;
            printf("removed %u segment(s), %" PRIu64 " bytes; %" PRIu64
                   " bytes left\n",
                   pr.segments_removed, pr.bytes_removed, pr.bytes_left);
        }
        ret = cli_close_writer(w, &opts, NULL);
        if (rc)
            ret = EXIT_ERR;
    }
    tss_store_close(s);
    return cli_finish_output(ret);
}

/* "AFTER:RESOLUTION[:KEEP]", e.g. "7d:5m:1y": two or three fields, none
 * empty, each a whole number of seconds (as <Rollup>'s options). */
static int parse_level(const char *s, tss_rollup_spec *r, char *err,
                       size_t errlen)
{
    static const char *const names[] = {"AFTER", "RESOLUTION", "KEEP"};
    int64_t ms[3] = {0, 0, 0};
    const char *p = s;
    int n = 0;

    for (;;) {
        size_t len = strcspn(p, ":");
        char field[128];

        if (n == 3 || len == 0 || len >= sizeof(field))
            goto bad;
        memcpy(field, p, len);
        field[len] = '\0';
        if (tss_conf_duration_ms(field, &ms[n], err, errlen) != 0)
            return -1;
        if (ms[n] % 1000 != 0) {
            snprintf(err, errlen,
                     "\"%s\": %s \"%s\" is not a whole number of seconds", s,
                     names[n], field);
            return -1;
        }
        n++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (n < 2)
        goto bad;
    if (ms[1] == 0) {
        snprintf(err, errlen, "\"%s\": RESOLUTION must be above 0", s);
        return -1;
    }
    r->after_seconds = ms[0] / 1000;
    r->resolution_seconds = ms[1] / 1000;
    r->keep_seconds = ms[2] / 1000;
    return 0;
bad:
    snprintf(err, errlen, "\"%s\" is not AFTER:RESOLUTION[:KEEP]", s);
    return -1;
}

/* The writer's check of the levels against each other and the store
 * ("rollup N: ...", TSS_EINVAL) is about the value of the Nth --level: a
 * usage error naming it. -1 for any other error. */
static int level_usage_error(const cli_opts *o, int rc, const char *msg)
{
    unsigned n = 0;
    int off = 0;

    if (rc != TSS_EINVAL || sscanf(msg, "rollup %u: %n", &n, &off) != 1 ||
        off == 0 || n < 1 || n > o->nlevels)
        return -1;
    return cli_usage_error("--level: \"%s\": %s", o->levels[n - 1], msg + off);
}

int cmd_rollup(const cli_opts *o)
{
    tss_store_options opts;
    tss_rollup_result rr;
    tss_apply_result opened;
    tss_store *s = NULL, *w;
    char id[37], err[256];
    int rc, ret;

    tss_store_options_init(&opts);
    for (size_t i = 0; i < o->nlevels; i++) {
        if (i == TSS_MAX_ROLLUPS)
            return cli_usage_error("at most %d --level", TSS_MAX_ROLLUPS);
        if (parse_level(o->levels[i], &opts.rollups[i], err, sizeof(err)))
            return cli_usage_error("--level: %s", err);
        opts.nrollups++;
    }
    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    opts.log = log_stderr;
    /* as in cmd_prune: without levels, a probe of the LOCK only */
    rc = tss_store_open(
        &w, o->dir, TSS_OPEN_WRITER | (o->nlevels ? 0 : TSS_OPEN_NO_RECOVERY),
        &opts);
    if (rc == TSS_ELOCKED) {
        if (o->nlevels)
            fprintf(stderr, "tsstore: note: collectd writes this store; it "
                            "rolls up with its own <Rollup> levels, not "
                            "--level\n");
        if (tss_rollup_request(s, id) != 0) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
            ret = EXIT_ERR;
        } else {
            printf("%s: rollup requested from the running writer\n", id);
            ret = o->wait ? wait_for(s, id, TSS_MUTATION_COMPACTED, o->timeout)
                          : EXIT_OK;
        }
    } else if (rc) {
        ret = level_usage_error(o, rc, tss_error_last());
        if (ret < 0) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
            ret = EXIT_ERR;
        }
    } else if (!o->nlevels) {
        (void)cli_close_writer(w, &opts, NULL); /* as in cmd_prune */
        tss_store_close(s);
        return cli_usage_error("%s", "no writer runs: give the levels with "
                                     "--level AFTER:RESOLUTION[:KEEP], e.g. "
                                     "--level 7d:5m:1y");
    } else {
        /* a rollup request queued while the LOCK was held was carried out
         * by the open, with these levels: its work is this command's */
        tss_store_open_applied(w, &opened);
        rc = tss_store_rollup(w, tss_store_now(w), &rr);
        if (rc) {
            fprintf(stderr, "tsstore: %s\n", tss_error_last());
        } else {
            tss_apply_result mine = {.rollup = rr};

            tss_apply_result_add(&opened, &mine);
            rr = opened.rollup;
            printf("rolled up %u window(s): %" PRIu64 " points into %" PRIu64
                   " aggregates (%" PRIu64 " bytes); %u window(s) removed "
                   "past their keep\n",
                   rr.windows, rr.points_in, rr.points_out, rr.bytes_written,
                   rr.windows_removed);
        }
        ret = cli_close_writer(w, &opts, NULL);
        if (rc)
            ret = EXIT_ERR;
    }
    tss_store_close(s);
    return cli_finish_output(ret);
}
