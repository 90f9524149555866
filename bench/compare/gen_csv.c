/*
 * gen_csv — writes a synthetic collectd csv plugin tree (the input of
 * `tsstore import --csv`), with the series shapes of shapes.h:
 *
 *   gen_csv [--series N] [--points P] [--interval SEC] [--start EPOCH]
 *           [--per-host H] [--decimals D] [--seed S] OUTDIR
 *
 * Series i is OUTDIR/lg<i/H>/loadgen-<shape>/<type>-<i>-YYYY-MM-DD (one
 * file per UTC day), header "epoch,value", then one line per point as the
 * csv plugin prints it: time with 3 decimals, gauges with "%lf" (6
 * decimals), derives and counters as integers. Times are START + k *
 * INTERVAL plus a per-host phase (milliseconds below the interval); 5% of
 * the points are 1..3 ms late; sparse-gauge series report one hour in
 * four only. Prints the number of series and points.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shapes.h"

static void mkdirs(const char *path)
{
    char buf[4096];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_csv: mkdir %s: %s\n", buf, strerror(errno));
        exit(1);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: gen_csv [--series N] [--points P] "
                    "[--interval SEC] [--start EPOCH] [--per-host H] "
                    "[--decimals D] [--seed S] OUTDIR\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t nseries = 10000, npoints = 8640, per_host = 100, seed = 20240601;
    int64_t interval_ms = 10000, start = 1700006400; /* 2023-11-15 00:00Z */
    int decimals = -1;
    const char *out = NULL;
    lg_series *series;
    uint64_t total = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (i + 1 < argc && a[0] == '-') {
            const char *v = argv[++i];

            if (!strcmp(a, "--series"))
                nseries = strtoull(v, NULL, 10);
            else if (!strcmp(a, "--points"))
                npoints = strtoull(v, NULL, 10);
            else if (!strcmp(a, "--interval"))
                interval_ms = (int64_t)(strtod(v, NULL) * 1000 + 0.5);
            else if (!strcmp(a, "--start"))
                start = strtoll(v, NULL, 10);
            else if (!strcmp(a, "--per-host"))
                per_host = strtoull(v, NULL, 10);
            else if (!strcmp(a, "--decimals"))
                decimals = atoi(v);
            else if (!strcmp(a, "--seed"))
                seed = strtoull(v, NULL, 10);
            else
                usage();
        } else if (a[0] != '-' && !out) {
            out = a;
        } else {
            usage();
        }
    }
    if (!out || interval_ms <= 0 || per_host == 0)
        usage();
    series = calloc(nseries ? nseries : 1, sizeof(*series));
    if (!series)
        return 1;
    rng = seed;
    for (uint64_t i = 0; i < nseries; i++)
        series_init(&series[i], i);
    for (uint64_t i = 0; i < nseries; i++) {
        lg_series *s = &series[i];
        char dir[4096], path[4200], day[16] = "";
        int64_t phase =
            (int64_t)((i / per_host) * 7919 % (uint64_t)interval_ms);
        FILE *f = NULL;
        static char iobuf[1 << 16];
        /* sparse-gauge series are sparse in time too: they report one
         * hour in four (a plugin that comes and goes), each series its
         * own hours */
        int sparse = strcmp(SHAPES[s->shape].name, "sparse-gauge") == 0;

        snprintf(dir, sizeof(dir), "%s/lg%05" PRIu64 "/loadgen-%s", out,
                 i / per_host, SHAPES[s->shape].name);
        mkdirs(dir);
        for (uint64_t k = 0; k < npoints; k++) {
            int64_t t = start * 1000 + phase + (int64_t)k * interval_ms;
            time_t sec;
            struct tm tm;
            char d[16];
            lg_value v;

            if (unif() < 0.05)
                t += 1 + (int64_t)(rnd() % 3);
            v = next_value(s, k, (double)interval_ms / 1000.0, decimals);
            if (sparse &&
                ((uint64_t)(k * (uint64_t)interval_ms / 3600000) + i) % 4 != 0)
                continue;
            sec = (time_t)(t / 1000);
            gmtime_r(&sec, &tm);
            strftime(d, sizeof(d), "%Y-%m-%d", &tm);
            if (strcmp(d, day) != 0) {
                if (f)
                    fclose(f);
                memcpy(day, d, sizeof(day));
                snprintf(path, sizeof(path), "%s/%s-%" PRIu64 "-%s", dir,
                         SHAPES[s->shape].type, i, day);
                if (!(f = fopen(path, "w"))) {
                    fprintf(stderr, "gen_csv: %s: %s\n", path, strerror(errno));
                    return 1;
                }
                setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
                fputs("epoch,value\n", f);
            }
            fprintf(f, "%" PRId64 ".%03d,", t / 1000, (int)(t % 1000));
            if (v.kind == SHAPE_GAUGE)
                fprintf(f, "%lf\n", v.g);
            else if (v.kind == SHAPE_DERIVE)
                fprintf(f, "%" PRId64 "\n", v.d);
            else
                fprintf(f, "%" PRIu64 "\n", v.c);
            total++;
        }
        if (f && fclose(f) != 0) {
            fprintf(stderr, "gen_csv: writing %s failed\n", path);
            return 1;
        }
    }
    printf("%" PRIu64 " series, %" PRIu64 " points\n", nseries, total);
    free(series);
    return 0;
}
