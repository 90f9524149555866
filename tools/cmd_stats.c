/*
 * tsstore stats: the store's health figures — the same numbers the
 * collectd read plugin `tsstore` dispatches.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

#include "tsstore/error.h"
#include "tsstore/stats.h"

static void put_u64(cli_jsonl *j, const char *key, uint64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    cli_jsonl_num(j, key, buf);
}

/* A figure (-1: unknown) with `decimals` decimals. */
static void put_dbl(cli_jsonl *j, const char *key, int decimals, double v)
{
    char buf[64];

    snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    cli_jsonl_num(j, key, buf);
}

int cmd_stats(const cli_opts *o)
{
    tss_store_stats st;
    tss_store_info info;
    tss_store *s;
    int ret;

    if ((ret = cli_open_store(o->dir, &s)) != EXIT_OK)
        return ret;
    if (tss_store_stats_get(s, tss_store_now(s), &st) != 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        tss_store_close(s);
        return EXIT_ERR;
    }
    tss_store_info_get(s, &info);
    tss_store_close(s);
    if (o->format == FMT_JSONL) {
        cli_jsonl *j = cli_jsonl_new(stdout);

        if (!j) {
            fputs("tsstore: out of memory\n", stderr);
            return EXIT_ERR;
        }
        cli_jsonl_begin(j);
        put_u64(j, "series", st.series);
        put_u64(j, "points", st.points);
        put_u64(j, "segments", st.segments);
        put_u64(j, "head_points", st.head_points);
        put_u64(j, "bytes_segments", st.bytes_segments);
        put_u64(j, "bytes_coverage", st.bytes_coverage);
        put_u64(j, "bytes_head", st.bytes_head);
        put_u64(j, "bytes_wal", st.bytes_wal);
        put_u64(j, "bytes_tombstones", st.bytes_tombstones);
        put_u64(j, "bytes_total", st.bytes_total);
        put_dbl(j, "bytes_per_point", 6, st.bytes_per_point);
        put_dbl(j, "snapshot_age_seconds", 3, st.snapshot_age);
        put_u64(j, "pending_deletes", st.pending_deletes);
        put_u64(j, "tombstoned_points", st.tombstoned_points);
        put_dbl(j, "coverage_percent_1h", 4, st.coverage_1h);
        put_u64(j, "late_points", st.late_points);
        put_u64(j, "write_errors", st.write_errors);
        put_u64(j, "points_dropped", st.points_dropped);
        put_u64(j, "unreadable_files", st.unreadable);
        put_dbl(j, "writer_stats_age_seconds", 3, st.writer_stats_age);
        /* per resolution: segments_raw, bytes_raw, points_raw,
         * segments_5m, ... */
        for (unsigned k = 0; k < st.nresolutions; k++) {
            char res[32], name[64];

            cli_resolution(res, sizeof(res), st.per_resolution[k].resolution,
                           info.units_per_second);
            snprintf(name, sizeof(name), "segments_%s", res);
            put_u64(j, name, st.per_resolution[k].segments);
            snprintf(name, sizeof(name), "bytes_%s", res);
            put_u64(j, name, st.per_resolution[k].bytes);
            snprintf(name, sizeof(name), "points_%s", res);
            put_u64(j, name, st.per_resolution[k].points);
        }
        ret = cli_jsonl_end(j) == 0 ? EXIT_OK : EXIT_ERR;
        cli_jsonl_free(j);
        if (ret != EXIT_OK)
            return ret;
    } else if (o->format == FMT_CSV) {
        return cli_usage_error("%s", "stats prints text or jsonl");
    } else {
        printf("series              %" PRIu64 "\n", st.series);
        printf("points              %" PRIu64 " (%" PRIu64 " in the head)\n",
               st.points, st.head_points);
        printf("segments            %" PRIu64 "\n", st.segments);
        for (unsigned k = 0; k < st.nresolutions; k++) {
            char res[32];

            printf("  %-17s %" PRIu64 " bytes, %" PRIu64 " points, %" PRIu64
                   " segment(s)\n",
                   cli_resolution(res, sizeof(res),
                                  st.per_resolution[k].resolution,
                                  info.units_per_second),
                   st.per_resolution[k].bytes, st.per_resolution[k].points,
                   st.per_resolution[k].segments);
        }
        printf("bytes on disk       %" PRIu64 " (segments %" PRIu64
               ", coverage %" PRIu64 ", head %" PRIu64 ", wal %" PRIu64
               ", tombstones %" PRIu64 ")\n",
               st.bytes_total, st.bytes_segments, st.bytes_coverage,
               st.bytes_head, st.bytes_wal, st.bytes_tombstones);
        printf("bytes per point     %.3f\n", st.bytes_per_point);
        if (st.snapshot_age >= 0)
            printf("snapshot age        %.1f s\n", st.snapshot_age);
        else
            printf("snapshot age        (no head snapshot)\n");
        printf("pending deletes     %" PRIu64 " (%" PRIu64
               " points tombstoned)\n",
               st.pending_deletes, st.tombstoned_points);
        if (st.coverage_1h >= 0)
            printf("coverage, last hour %.2f %%\n", st.coverage_1h);
        else
            printf("coverage, last hour (no data in the last hour)\n");
        if (st.writer_stats_age >= 0)
            printf("writer              %" PRIu64 " late points, %" PRIu64
                   " write errors, %" PRIu64 " points dropped "
                   "(published %.0f s ago)\n",
                   st.late_points, st.write_errors, st.points_dropped,
                   st.writer_stats_age);
        else
            printf("writer              (no writer-stats.json yet)\n");
    }
    /* as the other readers: a figure that left a file out is no answer */
    if (st.unreadable) {
        fprintf(stderr,
                "tsstore: %" PRIu64 " unreadable file(s) were skipped "
                "(named above); the figures leave them out\n",
                st.unreadable);
        return cli_finish_output(EXIT_ERR);
    }
    return cli_finish_output(EXIT_OK);
}
