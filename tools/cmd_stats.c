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
        printf("{\"series\":%" PRIu64 ",\"points\":%" PRIu64
               ",\"segments\":%" PRIu64 ",\"head_points\":%" PRIu64
               ",\"bytes_segments\":%" PRIu64 ",\"bytes_coverage\":%" PRIu64
               ",\"bytes_head\":%" PRIu64 ",\"bytes_wal\":%" PRIu64
               ",\"bytes_tombstones\":%" PRIu64 ",\"bytes_total\":%" PRIu64
               ",\"bytes_per_point\":%.6f,\"snapshot_age_seconds\":%.3f"
               ",\"pending_deletes\":%" PRIu64 ",\"tombstoned_points\":%" PRIu64
               ",\"coverage_percent_1h\":%.4f,\"late_points\":%" PRIu64
               ",\"write_errors\":%" PRIu64 ",\"points_dropped\":%" PRIu64
               ",\"writer_stats_age_seconds\":%.3f}\n",
               st.series, st.points, st.segments, st.head_points,
               st.bytes_segments, st.bytes_coverage, st.bytes_head,
               st.bytes_wal, st.bytes_tombstones, st.bytes_total,
               st.bytes_per_point, st.snapshot_age, st.pending_deletes,
               st.tombstoned_points, st.coverage_1h, st.late_points,
               st.write_errors, st.points_dropped, st.writer_stats_age);
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
    return cli_finish_output(EXIT_OK);
}
