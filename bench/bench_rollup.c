/*
 * bench_rollup — what rollups save on disk, and what a rollup pass costs.
 *
 * A year of 10,000 series at 10 s is 31.5e9 points: too many to build.
 * So the bytes are measured per series-day at each resolution on a sample
 * and extrapolated linearly, and a smaller year-long store checks the
 * extrapolation. For each data set —
 *   synthetic        the seven shapes of bench_data.c (same mix and
 *                    parameters), generated as a stream at a 10 s interval;
 *   collectd-replay  the real collectd series of --data, every 10th point
 *                    of the 1 s data (real 10 s deltas, real timestamp
 *                    jitter), replayed back and forth for days (gauges
 *                    repeat their values, DERIVE/COUNTER their increments)
 * — it builds a store of --windows 2 h windows of raw points (default 128:
 * 256 h, exactly one 1 h rollup window, eight 5 min ones), sealed window by
 * window as the writer does (the last window also snapshotted every 10 s,
 * as the plugin does, to measure the head snapshot at its largest), then:
 *   bytes  measures every file by kind: segments per resolution (headers,
 *          table, chunk headers, timestamps, values, per aggregate),
 *          coverage sidecars, table coverage, head snapshot; after the raw
 *          build, after a rollup pass once every 5 min rollup window is 7 d
 *          old, and after one once the 1 h window is 90 d old;
 *   time   copies the raw store --runs times and on each copy times those
 *          two passes and a third with nothing left to do (the files are in
 *          the page cache; each pass fsyncs what it writes).
 * Every rolled-up store is checked: the sum of the count aggregates equals
 * the raw points. Then, unless --year-series 0, it builds a store of that
 * many synthetic series over 365 days with the same rollup levels and a
 * pass every --year-pass-days days (the plugin runs one every minute; the
 * files come out the same), compares its files with the model, and times
 * the table coverage rebuild, the next pass with work (the next 5 min
 * window reaching 7 d) and a pass with nothing to do.
 *
 * Rollup levels: the example of config/write_tsstore.conf and
 * collectd-tsstore(5): 5 min after 7 d (Keep 1y), 1 h after 90 d (Keep 5y).
 * Rollup segments span 32 h at 5 min and 256 h at 1 h (docs/format.md), and
 * data is rolled up once the whole rollup window it falls in is older than
 * After. So a store one year old holds on average 7 d + 16 h raw, then
 * 5 min up to 90 d + 128 h, then 1 h: 7.67, 87.67 and 269.67 days.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tsstore/store.h"

#include "bench_data.h"
#include "coverage.h"
#include "internal.h"
#include "rollup.h"
#include "segment.h"
#include "storage.h"
#include "store_internal.h" /* tss_store_cov_rebuild */

#define SPAN_MS INT64_C(7200000)
#define STEP_MS INT64_C(10000)
#define DAY_MS INT64_C(86400000)
#define PER_WIN (SPAN_MS / STEP_MS)    /* 720 points per series and window */
#define WIN_PER_DAY (DAY_MS / SPAN_MS) /* 12 */
/* 2023-11-19 00:00 UTC: a day start, and a multiple of the rollup windows
 * (32 h at 5 min, 256 h at 1 h) */
#define T0 INT64_C(1700352000000)
#define GRACE_MS INT64_C(300000)
#define MAX_RUNS 51
#define NLEV 3 /* raw, 5 min, 1 h */
#define YEAR_DAYS 365

static const int64_t LEVEL_RES[NLEV] = {0, 300000, 3600000};
static const char *const LEVEL_NAME[NLEV] = {"raw", "5 min", "1 h"};
/* a store one year old: [0, 7) d raw, [7, 90) at 5 min, [90, 365) at 1 h */
/* width of a level's segments: 2 h, 32 h, 256 h (docs/format.md) */
static const int64_t LEVEL_WIDTH[NLEV] = {SPAN_MS, 16 * SPAN_MS, 128 * SPAN_MS};
/* days a year-old store keeps at each level, on average over where its
 * end falls in the rollup windows */
static const double LEVEL_DAYS[NLEV] = {7 + 16 / 24.0,
                                        90 + 128 / 24.0 - (7 + 16 / 24.0),
                                        YEAR_DAYS - (90 + 128 / 24.0)};
static const char *const AGG_NAME[8] = {"points", "min",   "max",   "sum",
                                        "last",   "count", "valid", "first"};

typedef struct opts {
    const char *data, *types, *tmpdir, *year_tmpdir;
    size_t series, year_series, target_series;
    int windows, runs, keep, synthetic, real, year_every;
    uint64_t seed;
    double rrd_bytes_per_ds, rrd_same_bytes_per_ds, prom_bps;
} opts;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_rollup: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void check(int rc, const char *what)
{
    if (rc != 0)
        die("%s: %s (%s)", what, tss_strerror(rc), tss_error_last());
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

typedef struct stat3 {
    double med, min, max;
} stat3;

static stat3 summarise(const double *v, int n)
{
    double s[MAX_RUNS];
    stat3 r;

    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    r.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    r.min = s[0];
    r.max = s[n - 1];
    return r;
}

static void progress(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void progress(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_rollup: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- data: generators --------------------------------------------------- */

/* One series, generated point by point (point i at about T0 + i * 10 s). */
typedef struct gen {
    tss_series_id id;
    char *strs;
    int kind;
    const char *group;
    int64_t phase; /* ms after the 10 s grid; phase + jitter < 10 s */
    /* synthetic */
    int shape;
    double rate, level, amp, period, g;
    uint64_t u;
    int64_t x;
    /* replay: samples of a real series, timestamp offsets from its grid */
    tss_point *smp;
    int64_t *off;
    size_t m;
    uint64_t acc;
} gen;

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64, as bench_data.c */
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double unif(void)
{
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

static double gauss(void)
{
    double u = unif(), v = unif();

    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static void set_id(gen *g, const char *const f[6])
{
    const char **dst[6] = {
        &g->id.host, &g->id.plugin,        &g->id.plugin_instance,
        &g->id.type, &g->id.type_instance, &g->id.ds};
    size_t len = 0, pos = 0;

    for (int i = 0; i < 6; i++)
        len += strlen(f[i]) + 1;
    g->strs = xmalloc(len);
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(f[i]) + 1;

        memcpy(g->strs + pos, f[i], n);
        *dst[i] = g->strs + pos;
        pos += n;
    }
}

/* The shapes and mix of bench_data.c's synthetic set (by index modulo 20):
 * const-gauge 15%, flat-derive 15%, rate-derive 25%, wrap-counter 5%,
 * noisy-gauge 20%, integral-gauge 10%, sparse-gauge 10%; 5% of points 1-3
 * ms late. Generated time-major, so the random draws interleave
 * differently: the same distributions, not the same numbers. */
static const struct {
    const char *name;
    int kind, weight;
} SHAPES[] = {
    {"const-gauge", TSS_KIND_GAUGE, 3},  {"flat-derive", TSS_KIND_DERIVE, 3},
    {"rate-derive", TSS_KIND_DERIVE, 5}, {"wrap-counter", TSS_KIND_COUNTER, 1},
    {"noisy-gauge", TSS_KIND_GAUGE, 4},  {"integral-gauge", TSS_KIND_GAUGE, 2},
    {"sparse-gauge", TSS_KIND_GAUGE, 2},
};

static gen *synthetic(size_t n, uint64_t seed)
{
    gen *gs = calloc(n ? n : 1, sizeof(*gs));
    int64_t phase = 0;

    if (!gs)
        die("out of memory");
    rng_state = seed;
    for (size_t i = 0; i < n; i++) {
        gen *g = &gs[i];
        int slot = (int)(i % 20), shape = 0;
        char host[32], inst[32];

        while (slot >= SHAPES[shape].weight)
            slot -= SHAPES[shape++].weight;
        if (i % 100 == 0)
            phase = (int64_t)(rnd() % 9990);
        snprintf(host, sizeof(host), "host%04zu", i / 100);
        snprintf(inst, sizeof(inst), "%zu", i % 100);
        set_id(g, (const char *const[6]){host, "synth", SHAPES[shape].name,
                                         "value", inst, "value"});
        g->kind = SHAPES[shape].kind;
        g->group = SHAPES[shape].name;
        g->shape = shape;
        g->phase = phase;
        g->rate = pow(10.0, -1.0 + 7.0 * unif());
        g->level = 100.0 * unif();
        g->amp = g->level * 0.2 * unif();
        g->period = 600.0 + 3000.0 * unif();
        g->u = rnd() & 0xffffffff;
        g->x = (int64_t)(rnd() % 1000000);
        if (shape == 0)
            g->g =
                (rnd() & 1) ? (double)(rnd() % (UINT64_C(1) << 40)) : g->level;
        if (shape == 3)
            g->rate = pow(10.0, 4.0 + 3.0 * unif());
        if (shape == 5)
            g->x = (int64_t)(rnd() % 1000000) * 4096;
        if (shape == 6)
            g->x = (int64_t)(rnd() % 300);
    }
    return gs;
}

static void synthetic_point(gen *g, int64_t i, tss_point *p)
{
    p->t = T0 + g->phase + i * STEP_MS;
    if (unif() < 0.05)
        p->t += 1 + (int64_t)(rnd() % 3);
    switch (g->shape) {
    case 0:
        p->v.gauge = g->g;
        break;
    case 1:
        p->v.derive = g->x;
        break;
    case 2:
        g->x += llround(g->rate * 10.0 * (1.0 + 0.1 * gauss()));
        p->v.derive = g->x;
        break;
    case 3:
        g->u =
            (g->u + (uint64_t)llround(g->rate * 10.0 * (1.0 + 0.1 * gauss()))) &
            0xffffffff;
        p->v.counter = g->u;
        break;
    case 4:
        p->v.gauge = g->level +
                     g->amp * sin(2.0 * M_PI * (double)i / g->period) +
                     0.05 * g->level * gauss();
        break;
    case 5:
        g->x += 4096 * llround(50.0 * gauss());
        if (g->x < 0)
            g->x = 0;
        p->v.gauge = (double)g->x;
        break;
    default:
        if (unif() < 0.05)
            g->x += (int64_t)(rnd() % 7) - 3;
        if (g->x < 0)
            g->x = 0;
        p->v.gauge = (double)g->x;
        break;
    }
}

/* Back and forth over 0..m-1: 0 1 .. m-1 m-2 .. 1 0 1 .. */
static size_t pingpong(int64_t i, size_t m)
{
    uint64_t period, r;

    if (m <= 1)
        return 0;
    period = 2 * ((uint64_t)m - 1);
    r = (uint64_t)i % period;
    return r < m ? (size_t)r : (size_t)(period - r);
}

/* The real series, each sampled every 10th point (10 s apart). */
static gen *replay(const bench_dataset *d, size_t *nout)
{
    gen *gs = calloc(d->n ? d->n : 1, sizeof(*gs));
    size_t clamped = 0;

    if (!gs)
        die("out of memory");
    for (size_t i = 0; i < d->n; i++) {
        const bench_series *s = &d->s[i];
        gen *g = &gs[i];
        int64_t lo = 0, hi = 0;

        set_id(g, (const char *const[6]){s->id.host, s->id.plugin,
                                         s->id.plugin_instance, s->id.type,
                                         s->id.type_instance, s->id.ds});
        g->kind = s->kind;
        g->group = s->group;
        g->m = (s->n + 9) / 10;
        g->smp = xmalloc(g->m * sizeof(tss_point));
        g->off = xmalloc(g->m * sizeof(int64_t));
        for (size_t k = 0; k < g->m; k++) {
            int64_t o;

            g->smp[k] = s->pts[10 * k];
            o = g->smp[k].t - g->smp[0].t - (int64_t)k * STEP_MS;
            if (o < -2000 || o > 2000) { /* a gap in the real data */
                o = o < 0 ? -2000 : 2000;
                clamped++;
            }
            g->off[k] = o;
            lo = o < lo ? o : lo;
            hi = o > hi ? o : hi;
        }
        g->phase = ((g->smp[0].t % STEP_MS) + STEP_MS) % STEP_MS;
        if (g->phase + lo < 0)
            g->phase = -lo;
        if (g->phase + hi >= STEP_MS)
            g->phase = STEP_MS - 1 - hi;
    }
    if (clamped)
        progress("collectd-replay: %zu sample offsets clamped to +-2 s",
                 clamped);
    *nout = d->n;
    return gs;
}

static void replay_point(gen *g, int64_t i, tss_point *p)
{
    size_t k = pingpong(i, g->m);

    p->t = T0 + g->phase + i * STEP_MS + g->off[k];
    if (g->kind == TSS_KIND_DERIVE || g->kind == TSS_KIND_COUNTER) {
        if (i == 0) {
            g->acc = g->smp[0].v.bits;
        } else if (g->m > 1) {
            size_t j = pingpong(i - 1, g->m - 1);

            g->acc += g->smp[j + 1].v.bits - g->smp[j].v.bits;
        }
        p->v.bits = g->acc;
    } else {
        p->v = g->smp[k].v;
    }
}

/* Point i of a series; called with i = 0, 1, 2, ... in turn. */
static void gen_point(gen *g, int64_t i, tss_point *p)
{
    if (g->smp)
        replay_point(g, i, p);
    else
        synthetic_point(g, i, p);
}

static void gens_free(gen *gs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(gs[i].strs);
        free(gs[i].smp);
        free(gs[i].off);
    }
    free(gs);
}

/* ---- stores and files ----------------------------------------------------
 */

static void log_cb(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "bench_rollup: tsstore: %s\n", msg);
}

/* The store as write_tsstore makes it by default, with the rollup levels of
 * the configuration example. */
static tss_store *open_store(const char *dir, unsigned flags)
{
    tss_store_options o;
    tss_store *s;

    tss_store_options_init(&o);
    o.log = log_cb;
    o.nrollups = 2;
    o.rollups[0] = (tss_rollup_spec){7 * 86400, 300, 365 * 86400};
    o.rollups[1] = (tss_rollup_spec){90 * 86400, 3600, 5 * 365 * 86400};
    check(tss_store_open(&s, dir, flags, &o), dir);
    return s;
}

static char *make_tmp_in(const char *tmpdir, const char *what)
{
    char *p;

    if (asprintf(&p, "%s/tss-rbench-%s-XXXXXX", tmpdir, what) < 0 ||
        !mkdtemp(p))
        die("mkdtemp in %s: %s", tmpdir, strerror(errno));
    return p;
}

static char *make_tmp(const opts *o, const char *what)
{
    return make_tmp_in(o->tmpdir, what);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "bench_rollup: remove %s: %s\n", path, strerror(errno));
    return 0;
}

static void drop_tmp(const opts *o, char *dir)
{
    if (o->keep)
        progress("kept %s", dir);
    else
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* A copy of store `from` in a new temp dir (cp -a: sizes and names kept). */
static char *copy_store(const opts *o, const char *from)
{
    char *to = make_tmp(o, "copy"), *cmd;

    if (asprintf(&cmd, "cp -a '%s/.' '%s/'", from, to) < 0)
        die("out of memory");
    if (system(cmd) != 0)
        die("%s failed", cmd);
    free(cmd);
    return to;
}

/* Bytes of the files of a store, by kind. */
typedef struct usage {
    uint64_t seg, tomb, side, table, head, wal, other, total, alloc;
} usage;

static usage du_acc;
static size_t du_root;

static bool starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool ends(const char *s, const char *p)
{
    size_t n = strlen(s), m = strlen(p);

    return n >= m && strcmp(s + n - m, p) == 0;
}

static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    const char *rel = path + du_root;
    uint64_t n = (uint64_t)st->st_size;

    (void)ftw;
    if (flag != FTW_F)
        return 0;
    while (*rel == '/')
        rel++;
    du_acc.total += n;
    du_acc.alloc += (uint64_t)st->st_blocks * 512;
    if (starts(rel, "segments/") && ends(rel, ".seg"))
        du_acc.seg += n;
    else if (starts(rel, "segments/") && ends(rel, ".tombstones"))
        du_acc.tomb += n;
    else if (starts(rel, "_coverage/segments/"))
        du_acc.side += n;
    else if (starts(rel, "_coverage/table/"))
        du_acc.table += n;
    else if (starts(rel, "head/"))
        du_acc.head += n;
    else if (starts(rel, "wal/"))
        du_acc.wal += n;
    else
        du_acc.other += n;
    return 0;
}

static usage dir_usage(const char *dir)
{
    memset(&du_acc, 0, sizeof(du_acc));
    du_root = strlen(dir);
    if (nftw(dir, du_one, 16, FTW_PHYS) != 0)
        die("cannot walk %s", dir);
    return du_acc;
}

/* Where the bytes of one resolution's segments go. */
typedef struct aggst {
    uint64_t chunks, points, bytes, hdr, ts, val, modes[3];
} aggst;

typedef struct levst {
    uint64_t files, bytes, fixed, table, entries, points, count_sum;
    int64_t width, covered; /* window width; time of data it holds */
    uint64_t side_files, side_bytes, side_fixed;
    aggst agg[8]; /* by aggregate; [0]: raw points */
} levst;

static size_t varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Opens every segment of the store and adds it to its resolution's
 * figures; reads every count chunk (to check nothing was lost). */
static void analyse(const char *dir, int64_t from, int64_t to, levst lv[NLEV])
{
    tss_storage *st;
    char **names;
    size_t nn;
    tss_point *pts = NULL;
    size_t cap = 0;

    memset(lv, 0, NLEV * sizeof(*lv));
    check(tss_storage_open(&st, dir, NULL, 0), dir);
    check(tss_storage_list(st, TSS_SEG_DIR, "", ".seg", &names, &nn),
          "list segments");
    for (size_t f = 0; f < nn; f++) {
        char rel[256], side[128], path[4096];
        tss_segment *seg;
        uint8_t *img;
        size_t len, fixed;
        uint64_t chunk_bytes = 0;
        struct stat sb;
        levst *L = NULL;

        snprintf(rel, sizeof(rel), "%s/%s", TSS_SEG_DIR, names[f]);
        check(tss_segment_open(&seg, st, rel), rel);
        for (int l = 0; l < NLEV; l++)
            if (seg->resolution == LEVEL_RES[l])
                L = &lv[l];
        if (!L)
            die("%s: unexpected resolution %" PRId64, rel, seg->resolution);
        check(tss_storage_read_all(st, rel, SIZE_MAX, &img, &len), rel);
        fixed = TSS_SEG_HEADER + 8 + varint_len(seg->nsupersedes) +
                16 * seg->nsupersedes;
        L->files++;
        L->width = seg->name.end - seg->name.start;
        L->covered += (seg->name.end < to ? seg->name.end : to) -
                      (seg->name.start > from ? seg->name.start : from);
        L->bytes += seg->file_size;
        L->fixed += fixed;
        L->entries += seg->nentries;
        L->points += seg->points;
        for (size_t e = 0; e < seg->nentries; e++) {
            const tss_seg_entry *en = &seg->entries[e];
            aggst *a = &L->agg[en->agg & 7];
            uint64_t count, zt0, v0, ts_bits, hdr, tsb;
            uint8_t codec;
            tss_rd rd;

            tss_rd_init(&rd, img + en->offset, (size_t)en->len);
            tss_rd_u8(&rd, &codec);
            tss_rd_varint(&rd, &count);
            tss_rd_varint(&rd, &zt0);
            tss_rd_varint(&rd, &v0);
            tss_rd_varint(&rd, &ts_bits);
            if (rd.bad || (codec & 15) > 2)
                die("%s: chunk %zu unreadable", rel, e);
            hdr = en->len - tss_rd_left(&rd);
            tsb = (ts_bits + 7) / 8;
            a->chunks++;
            a->points += en->count;
            a->bytes += en->len;
            a->hdr += hdr;
            a->ts += tsb;
            a->val += en->len - hdr - tsb;
            a->modes[codec & 15]++;
            chunk_bytes += en->len;
            if (en->agg == 0) {
                L->count_sum += en->count;
            } else if (en->agg == TSS_AGG_COUNT) {
                size_t n = 0;

                check(tss_segment_read_points(seg, e, &pts, &n, &cap), rel);
                for (size_t k = 0; k < n; k++)
                    L->count_sum += pts[k].v.counter;
            }
        }
        L->table += seg->file_size - TSS_SEG_HEADER - chunk_bytes -
                    (fixed - TSS_SEG_HEADER);
        tss_sidecar_path(side, sizeof(side), seg->name.uuid);
        snprintf(path, sizeof(path), "%s/%s", dir, side);
        if (stat(path, &sb) != 0)
            die("%s: %s", path, strerror(errno));
        L->side_files++;
        L->side_bytes += (uint64_t)sb.st_size;
        L->side_fixed += 64 + 8;
        tss_free(img);
        tss_segment_close(seg);
    }
    tss_storage_names_free(names, nn);
    tss_storage_close(st);
    tss_free(pts);
}

/* Segments and sidecars of a level, less their fixed per-file bytes, per
 * series and day; and the fixed bytes per window. */
static double per_series_day(const levst *L, size_t series, double days)
{
    return (double)(L->bytes + L->side_bytes - L->fixed - L->side_fixed) /
           ((double)series * days);
}

static double fixed_per_window(const levst *L)
{
    return L->files ? (double)(L->fixed + L->side_fixed) / (double)L->files : 0;
}

/* Bytes the model gives for `series` series and `days` days of a level. */
static double model(const levst *L, size_t nsample, double sample_days,
                    size_t series, double days)
{
    double win_days = (double)(L->width ? L->width : SPAN_MS) / (double)DAY_MS;

    return per_series_day(L, nsample, sample_days) * (double)series * days +
           fixed_per_window(L) * days / win_days;
}

/* ---- building ------------------------------------------------------------
 */

/* Appends windows [w0, w1) of every series, time-major (collectd's order),
 * sealing each window once complete. With `live`, the last window is also
 * snapshotted every 10 s of data time, as the plugin does, and the largest
 * head/ seen is returned in *head_peak. Returns the points appended. */
static uint64_t append_windows(tss_store *s, const char *dir, gen *g, size_t n,
                               int64_t w0, int64_t w1, bool live,
                               uint64_t *head_peak)
{
    uint64_t pts = 0;
    char *head;

    if (asprintf(&head, "%s/head", dir) < 0)
        die("out of memory");
    for (int64_t w = w0; w < w1; w++) {
        bool snap = live && w == w1 - 1;
        tss_seal_result res;

        for (int64_t i = w * PER_WIN; i < (w + 1) * PER_WIN; i++) {
            for (size_t k = 0; k < n; k++) {
                tss_point p;

                gen_point(&g[k], i, &p);
                check(tss_store_append(s, &g[k].id, g[k].kind, p.t, p.v),
                      "tss_store_append");
            }
            if (snap) {
                usage u;

                check(tss_store_snapshot(s, T0 + (i + 1) * STEP_MS, 0),
                      "tss_store_snapshot");
                u = dir_usage(head);
                *head_peak = u.total > *head_peak ? u.total : *head_peak;
            }
        }
        check(tss_store_seal(s, T0 + (w + 1) * SPAN_MS + GRACE_MS, TSS_SEAL_ALL,
                             &res),
              "tss_store_seal");
        if (res.points_written != (uint64_t)n * PER_WIN)
            die("window %" PRId64 ": sealed %" PRIu64 " points, expected %zu",
                w, res.points_written, n * (size_t)PER_WIN);
        pts += res.points_written;
    }
    free(head);
    return pts;
}

/* A pass's wall-clock and CPU time: the machine is shared, and the CPU
 * time of this (single-threaded) process is the steadier figure. */
typedef struct ptime {
    double wall, cpu;
} ptime;

static void rollup_pass(tss_store *s, int64_t now, tss_rollup_result *res,
                        ptime *t)
{
    double w0 = now_s(), c0 = cpu_s();

    check(tss_store_rollup(s, now, res), "tss_store_rollup");
    t->cpu = cpu_s() - c0;
    t->wall = now_s() - w0;
}

/* ---- the sample: bytes per series-day and pass times -------------------- */

typedef struct setres {
    const char *name;
    size_t n;
    double days;
    uint64_t points;
    double build_s;
    levst lv[NLEV];
    usage u[NLEV];        /* the store after the raw build, pass 1, pass 2 */
    uint64_t head_peak;   /* head/ at the end of the last window */
    ptime t[3][MAX_RUNS]; /* pass to 5 min, to 1 h, nothing to do */
    uint64_t in1, out1, in2, out2, written1, written2;
} setres;

static void run_set(const opts *o, setres *r, const char *name, gen *g,
                    size_t n)
{
    int64_t wins = o->windows;
    int64_t end = T0 + wins * SPAN_MS;
    /* each pass when every rollup window holding data is due */
    int64_t now1 =
        (end + LEVEL_WIDTH[1] - 1) / LEVEL_WIDTH[1] * LEVEL_WIDTH[1] +
        7 * DAY_MS;
    int64_t now2 =
        (end + LEVEL_WIDTH[2] - 1) / LEVEL_WIDTH[2] * LEVEL_WIDTH[2] +
        90 * DAY_MS;
    char *raw = make_tmp(o, "raw");
    tss_store *s;
    double t0;

    memset(r, 0, sizeof(*r));
    r->name = name;
    r->n = n;
    r->days = (double)wins / WIN_PER_DAY;
    progress("%s: %zu series x %.2f days at 10 s: building the raw store in "
             "%s",
             name, n, r->days, raw);
    s = open_store(raw, TSS_OPEN_CREATE | TSS_OPEN_WRITER);
    t0 = now_s();
    r->points = append_windows(s, raw, g, n, 0, wins, true, &r->head_peak);
    r->build_s = now_s() - t0;
    tss_store_close(s);
    {
        levst lv[NLEV];

        analyse(raw, T0, end, lv);
        r->lv[0] = lv[0];
        r->u[0] = dir_usage(raw);
        if (lv[0].count_sum != r->points || lv[0].files != (uint64_t)wins)
            die("%s: raw store holds %" PRIu64 " points in %" PRIu64
                " segments, expected %" PRIu64 " in %" PRId64,
                name, lv[0].count_sum, lv[0].files, r->points, wins);
    }
    for (int run = 0; run < o->runs; run++) {
        char *cp = copy_store(o, raw);
        tss_rollup_result res;

        progress("%s: rollup run %d/%d", name, run + 1, o->runs);
        s = open_store(cp, TSS_OPEN_WRITER);
        rollup_pass(s, now1, &res, &r->t[0][run]);
        if (res.windows < 1 || res.points_in != r->points)
            die("%s: pass to 5 min rolled %" PRIu32 " windows, %" PRIu64
                " points",
                name, res.windows, res.points_in);
        r->in1 = res.points_in;
        r->out1 = res.points_out;
        r->written1 = res.bytes_written;
        if (run == 0) {
            levst lv[NLEV];

            analyse(cp, T0, end, lv);
            r->lv[1] = lv[1];
            r->u[1] = dir_usage(cp);
            if (lv[1].count_sum != r->points || lv[0].files || lv[2].files)
                die("%s: after the pass to 5 min, counts add up to %" PRIu64
                    ", expected %" PRIu64,
                    name, lv[1].count_sum, r->points);
        }
        rollup_pass(s, now2, &res, &r->t[1][run]);
        if (res.windows < 1)
            die("%s: pass to 1 h rolled %" PRIu32 " windows", name,
                res.windows);
        r->in2 = res.points_in;
        r->out2 = res.points_out;
        r->written2 = res.bytes_written;
        if (run == 0) {
            levst lv[NLEV];

            analyse(cp, T0, end, lv);
            r->lv[2] = lv[2];
            r->u[2] = dir_usage(cp);
            if (lv[2].count_sum != r->points || lv[0].files || lv[1].files)
                die("%s: after the pass to 1 h, counts add up to %" PRIu64
                    ", expected %" PRIu64,
                    name, lv[2].count_sum, r->points);
        }
        rollup_pass(s, now2, &res, &r->t[2][run]);
        if (res.windows || res.windows_removed)
            die("%s: a third pass still did something", name);
        tss_store_close(s);
        drop_tmp(o, cp);
    }
    drop_tmp(o, raw);
}

/* ---- the year ------------------------------------------------------------
 */

#define MAX_PASSES 400

typedef struct yearres {
    size_t n;
    int every;
    uint64_t points;
    double build_s;
    levst lv[NLEV];
    usage u;
    int npass;
    int pass_day[MAX_PASSES];
    uint32_t pass_windows[MAX_PASSES];
    ptime pass[MAX_PASSES];
    ptime steady, rebuild[MAX_RUNS], noop[MAX_RUNS];
    tss_rollup_result steady_res;
    int nrep;
} yearres;

/* A year of `n` synthetic series, a rollup pass every `every` days (less
 * than 83, so that every window is kept at 5 min before 1 h, as with the
 * plugin's pass every minute) and at the end. */
static void run_year(const opts *o, yearres *y)
{
    size_t n = o->year_series;
    gen *g = synthetic(n, o->seed + 1);
    char *dir = make_tmp_in(o->year_tmpdir, "year");
    int64_t end = T0 + YEAR_DAYS * DAY_MS;
    tss_store *s = open_store(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER);
    tss_rollup_result res;
    double t0 = now_s();

    memset(y, 0, sizeof(*y));
    y->n = n;
    y->every = o->year_every;
    progress("year: %zu synthetic series x 365 days in %s", n, dir);
    for (int d = 0; d < YEAR_DAYS; d++) {
        y->points +=
            append_windows(s, dir, g, n, (int64_t)d * WIN_PER_DAY,
                           (int64_t)(d + 1) * WIN_PER_DAY, false, NULL);
        if ((d + 1) % y->every && d + 1 != YEAR_DAYS)
            continue;
        rollup_pass(s, T0 + (d + 1) * DAY_MS, &res, &y->pass[y->npass]);
        y->pass_day[y->npass] = d + 1;
        y->pass_windows[y->npass++] = res.windows;
        progress("year: day %d, pass: %" PRIu32 " windows, %.2f s CPU", d + 1,
                 res.windows, y->pass[y->npass - 1].cpu);
    }
    y->build_s = now_s() - t0;
    analyse(dir, T0, end, y->lv);
    y->u = dir_usage(dir);
    if (y->lv[0].covered + y->lv[1].covered + y->lv[2].covered !=
            YEAR_DAYS * DAY_MS ||
        y->lv[0].count_sum + y->lv[1].count_sum + y->lv[2].count_sum !=
            y->points)
        die("year: the store does not hold the year's %" PRIu64 " points",
            y->points);
    /* the table coverage rebuild that ends every pass that changed
     * something, alone */
    y->nrep = o->runs;
    for (int i = 0; i < y->nrep; i++) {
        double w0 = now_s(), c0 = cpu_s();

        check(tss_store_cov_rebuild(s), "tss_store_cov_rebuild");
        y->rebuild[i].cpu = cpu_s() - c0;
        y->rebuild[i].wall = now_s() - w0;
    }
    /* steady state: the next pass with work, when the next 32 h window
     * reaches 7 d; the data goes on until then */
    {
        int64_t w5 = LEVEL_WIDTH[1];
        int64_t due = ((end - 7 * DAY_MS) / w5 + 1) * w5 + 7 * DAY_MS;
        int64_t w_end = (due - T0 + SPAN_MS - 1) / SPAN_MS;

        append_windows(s, dir, g, n, (int64_t)YEAR_DAYS * WIN_PER_DAY, w_end,
                       false, NULL);
        rollup_pass(s, due, &y->steady_res, &y->steady);
        if (y->steady_res.windows < 1)
            die("year: the steady-state pass rolled nothing");
        end = due;
    }
    for (int i = 0; i < y->nrep; i++) {
        rollup_pass(s, end, &res, &y->noop[i]);
        if (res.windows)
            die("year: a pass with nothing to do rolled up");
    }
    tss_store_close(s);
    drop_tmp(o, dir);
    gens_free(g, n);
}

/* ---- report --------------------------------------------------------------
 */

static double gb(double bytes)
{
    return bytes / 1e9;
}

static void loadavg(char *out, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");

    snprintf(out, size, "?");
    if (f) {
        double a, b, c;

        if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
            snprintf(out, size, "%.1f %.1f %.1f", a, b, c);
        fclose(f);
    }
}

static void print_bytes(const setres *rs, size_t nr)
{
    printf("\n### Bytes per series-day, measured\n\n");
    printf("Segments and their coverage sidecars, less the fixed bytes of "
           "each file (headers, checksums, supersede lists), which are "
           "given per window.\n\n| figure |");
    for (size_t i = 0; i < nr; i++)
        printf(" %s |", rs[i].name);
    printf("\n|---|");
    for (size_t i = 0; i < nr; i++)
        printf("---|");
    printf("\n| series x days | ");
    for (size_t i = 0; i < nr; i++)
        printf(" %zu x %.2f (%.1fM points) |", rs[i].n, rs[i].days,
               (double)rs[i].points / 1e6);
    for (int l = 0; l < NLEV; l++) {
        printf("\n| **%s**: bytes per series-day |", LEVEL_NAME[l]);
        for (size_t i = 0; i < nr; i++)
            printf(" **%.0f** |",
                   per_series_day(&rs[i].lv[l], rs[i].n, rs[i].days));
        printf("\n| – segments, per series-day |");
        for (size_t i = 0; i < nr; i++) {
            const levst *L = &rs[i].lv[l];

            printf(" %.0f |", (double)(L->bytes - L->fixed) /
                                  ((double)rs[i].n * rs[i].days));
        }
        printf("\n| – coverage sidecars, per series-day |");
        for (size_t i = 0; i < nr; i++) {
            const levst *L = &rs[i].lv[l];

            printf(" %.0f |", (double)(L->side_bytes - L->side_fixed) /
                                  ((double)rs[i].n * rs[i].days));
        }
        printf("\n| – bytes per raw point |");
        for (size_t i = 0; i < nr; i++)
            printf(" %.3f |",
                   per_series_day(&rs[i].lv[l], rs[i].n, rs[i].days) /
                       (double)(PER_WIN * WIN_PER_DAY));
        if (l > 0) {
            printf("\n| – bytes per interval (all its aggregates) |");
            for (size_t i = 0; i < nr; i++)
                printf(" %.1f |",
                       per_series_day(&rs[i].lv[l], rs[i].n, rs[i].days) /
                           (double)(DAY_MS / LEVEL_RES[l]));
            printf("\n| – vs raw |");
            for (size_t i = 0; i < nr; i++)
                printf(" %.3f (1/%.1f) |",
                       per_series_day(&rs[i].lv[l], rs[i].n, rs[i].days) /
                           per_series_day(&rs[i].lv[0], rs[i].n, rs[i].days),
                       per_series_day(&rs[i].lv[0], rs[i].n, rs[i].days) /
                           per_series_day(&rs[i].lv[l], rs[i].n, rs[i].days));
        }
        printf("\n| – fixed bytes per window (segment + sidecar) |");
        for (size_t i = 0; i < nr; i++)
            printf(" %.0f |", fixed_per_window(&rs[i].lv[l]));
    }
    printf("\n| table coverage (2 versions), raw store, bytes per series |");
    for (size_t i = 0; i < nr; i++)
        printf(" %.0f |", (double)rs[i].u[0].table / (double)rs[i].n);
    printf("\n| head snapshot at the end of a window, bytes per series |");
    for (size_t i = 0; i < nr; i++)
        printf(" %.0f |", (double)rs[i].head_peak / (double)rs[i].n);
    printf("\n\n");
}

static void print_split(const setres *rs, size_t nr)
{
    printf("### Where the bytes of a segment go, per series-day\n\n");
    printf("Per aggregate (raw: the points): chunks, bytes per chunk, and "
           "per series-day the chunk headers, timestamp streams and value "
           "streams; modes are chunks in XOR/delta/delta-of-delta. The "
           "table row is the segment table's entries (key suffix, varints, "
           "8-byte chunk checksum).\n\n");
    for (size_t i = 0; i < nr; i++)
        for (int l = 0; l < NLEV; l++) {
            const levst *L = &rs[i].lv[l];
            double sd = (double)rs[i].n * rs[i].days;

            printf("%s, %s: %" PRIu64 " entries, %.1f bytes per table "
                   "entry\n\n",
                   rs[i].name, LEVEL_NAME[l], L->entries,
                   (double)L->table / (double)L->entries);
            printf("| aggregate | points/chunk | bytes/chunk | chunk hdr | "
                   "timestamps | values | total/series-day | modes |\n"
                   "|---|---|---|---|---|---|---|---|\n");
            printf("| table entries | | | | | | %.1f | |\n",
                   (double)L->table / sd);
            for (int a = 0; a < 8; a++) {
                const aggst *A = &L->agg[a];

                if (!A->chunks)
                    continue;
                printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | "
                       "%" PRIu64 "/%" PRIu64 "/%" PRIu64 " |\n",
                       AGG_NAME[a], (double)A->points / (double)A->chunks,
                       (double)A->bytes / (double)A->chunks,
                       (double)A->hdr / sd, (double)A->ts / sd,
                       (double)A->val / sd, (double)A->bytes / sd, A->modes[0],
                       A->modes[1], A->modes[2]);
            }
            printf("\n");
        }
}

static void print_year_table(const opts *o, const setres *rs, size_t nr,
                             const yearres *y)
{
    double T = (double)o->target_series;
    double raw_points = T * YEAR_DAYS * (double)(PER_WIN * WIN_PER_DAY);

    printf("### %zu series x 1 year at 10 s (%.2fe9 points), extrapolated\n\n",
           o->target_series, raw_points / 1e9);
    printf("Model: per level, bytes per series-day x series x days + fixed "
           "bytes per window x windows. Table coverage per series at one "
           "year: %s. Head: the measured snapshot at the end of a window, "
           "per series.\n\n",
           y ? "measured on the year-long store" : "raw store, linear in days");
    printf("| store (decimal GB) |");
    for (size_t i = 0; i < nr; i++)
        printf(" %s |", rs[i].name);
    printf("\n|---|");
    for (size_t i = 0; i < nr; i++)
        printf("---|");
    for (int with = 0; with < 2; with++) {
        double tot[8] = {0}, part[8][NLEV], cov[8], head[8];

        for (size_t i = 0; i < nr; i++) {
            const setres *r = &rs[i];

            for (int l = 0; l < NLEV; l++)
                part[i][l] = with     ? model(&r->lv[l], r->n, r->days,
                                              o->target_series, LEVEL_DAYS[l])
                             : l == 0 ? model(&r->lv[0], r->n, r->days,
                                              o->target_series, YEAR_DAYS)
                                      : 0;
            cov[i] = y ? (double)y->u.table / (double)y->n * T
                       : (double)r->u[0].table / (double)r->n /
                             (double)r->days * YEAR_DAYS * T;
            head[i] = (double)r->head_peak / (double)r->n * T;
            tot[i] = part[i][0] + part[i][1] + part[i][2] + cov[i] + head[i];
        }
        printf("\n| **%s** |",
               with ? "with the default rollups (on average 7.67 d raw, "
                      "87.67 d at 5 min, 269.67 d at 1 h)"
                    : "raw only, 365 d");
        for (size_t i = 0; i < nr; i++)
            printf(" **%.2f** |", gb(tot[i]));
        for (int l = 0; l < NLEV && with; l++) {
            printf("\n| – %.2f d %s |", LEVEL_DAYS[l], LEVEL_NAME[l]);
            for (size_t i = 0; i < nr; i++)
                printf(" %.2f |", gb(part[i][l]));
        }
        printf("\n| – table coverage + head snapshot |");
        for (size_t i = 0; i < nr; i++)
            printf(" %.3f + %.3f |", gb(cov[i]), gb(head[i]));
    }
    if (o->rrd_bytes_per_ds > 0) {
        printf("\n| rrdtool, collectd's default RRAs (%.0f bytes per data "
               "source) |",
               o->rrd_bytes_per_ds);
        for (size_t i = 0; i < nr; i++)
            printf(" %.2f |", gb(o->rrd_bytes_per_ds * T));
    }
    if (o->rrd_same_bytes_per_ds > 0) {
        printf(
            "\n| rrdtool with tsstore's resolutions and spans (10 s for 7 d, "
            "5 min for 90 d, 1 h for 1 y; AVERAGE, MIN, MAX: %.0f bytes "
            "per data source) |",
            o->rrd_same_bytes_per_ds);
        for (size_t i = 0; i < nr; i++)
            printf(" %.2f |", gb(o->rrd_same_bytes_per_ds * T));
    }
    if (o->prom_bps > 0) {
        printf("\n| Prometheus TSDB, no downsampling, at %.2f bytes/sample "
               "(estimate) |",
               o->prom_bps);
        for (size_t i = 0; i < nr; i++)
            printf(" %.1f |", gb(o->prom_bps * raw_points));
    }
    printf("\n\n");
}

static void print_times(const opts *o, const setres *rs, size_t nr)
{
    printf("### Rollup pass time (median of %d, min..max)\n\n", o->runs);
    printf("| set | pass | points in | aggregates out | CPU s | wall s | "
           "CPU ns per raw point | CPU s per million raw points |\n"
           "|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < nr; i++) {
        const setres *r = &rs[i];
        const char *name[3] = {"raw to 5 min", "5 min to 1 h", "nothing to do"};
        uint64_t in[3] = {r->in1, r->in2, 0}, out[3] = {r->out1, r->out2, 0};

        for (int p = 0; p < 3; p++) {
            double c[MAX_RUNS], w[MAX_RUNS];
            stat3 sc, sw;
            double per = 1e9 / (double)r->points;

            for (int k = 0; k < o->runs; k++) {
                c[k] = r->t[p][k].cpu;
                w[k] = r->t[p][k].wall;
            }
            sc = summarise(c, o->runs);
            sw = summarise(w, o->runs);
            printf("| %s | %s | %.2fM | %.2fM | %.3f (%.3f..%.3f) | %.3f "
                   "(%.3f..%.3f) | %.0f (%.0f..%.0f) | %.3f |\n",
                   r->name, name[p], (double)in[p] / 1e6, (double)out[p] / 1e6,
                   sc.med, sc.min, sc.max, sw.med, sw.min, sw.max, sc.med * per,
                   sc.min * per, sc.max * per, sc.med * per * 1e6 / 1e9);
        }
    }
    printf("\nPer raw point: the pass's time / the raw points the store "
           "held (for 5 min to 1 h, the raw points its input stands for). "
           "Each pass writes and fsyncs a segment and a sidecar per window, "
           "then rebuilds the table coverage from every sidecar.\n\n");
}

static void print_year(const opts *o, const setres *syn, const yearres *y)
{
    double act[NLEV], mod[NLEV], ta = 0, tm = 0, c[MAX_RUNS], w[MAX_RUNS];
    uint64_t tables = 0, fixed = 0, windows = y->lv[1].files + y->lv[2].files;
    uint64_t entries = y->lv[1].entries + y->lv[2].entries;
    double per_entry, per_open;
    stat3 rb, rbw, nop, nopw;
    double scale = (double)o->target_series / (double)y->n;

    printf("### Year-long store: %zu synthetic series, 365 days, in %s\n\n",
           y->n, o->year_tmpdir);
    printf("Built in %.0f s (%.1fM points), with a rollup pass every %d days "
           "and at the end. Its files at one year against the model from "
           "the %s sample (%zu series x %.2f days), for the days each "
           "level holds here:\n\n",
           y->build_s, (double)y->points / 1e6, y->every, syn->name, syn->n,
           syn->days);
    printf("| level | days | windows | bytes on disk | model | actual / model "
           "|\n|---|---|---|---|---|---|\n");
    for (int l = 0; l < NLEV; l++) {
        double days = (double)y->lv[l].covered / (double)DAY_MS;

        act[l] = (double)(y->lv[l].bytes + y->lv[l].side_bytes);
        mod[l] = model(&syn->lv[l], syn->n, syn->days, y->n, days);
        ta += act[l];
        tm += mod[l];
        printf("| %s | %.2f | %" PRIu64 " | %.0f | %.0f | %.3f |\n",
               LEVEL_NAME[l], days, y->lv[l].files, act[l], mod[l],
               act[l] / mod[l]);
        if (l > 0) {
            tables += y->lv[l].table;
            fixed += y->lv[l].fixed;
        }
    }
    printf("| segments + sidecars | 365 | | %.0f | %.0f | %.3f |\n", ta, tm,
           ta / tm);
    printf("| table coverage (2 versions) | | | %" PRIu64
           " (%.0f per series) | | |\n",
           y->u.table, (double)y->u.table / (double)y->n);
    printf("| head, STORE, LOCK, other | | | %" PRIu64 " | | |\n",
           y->u.head + y->u.other + y->u.wal + y->u.tomb);
    printf("| whole directory | | | %" PRIu64 " (%" PRIu64
           " allocated) | | |\n\n",
           y->u.total, y->u.alloc);
    printf("Passes while it was built:\n\n| day | windows rolled up | CPU s "
           "| wall s |\n|---|---|---|---|\n");
    for (int i = 0; i < y->npass; i++)
        printf("| %d | %" PRIu32 " | %.2f | %.2f |\n", y->pass_day[i],
               y->pass_windows[i], y->pass[i].cpu, y->pass[i].wall);
    for (int i = 0; i < y->nrep; i++) {
        c[i] = y->rebuild[i].cpu;
        w[i] = y->rebuild[i].wall;
    }
    rb = summarise(c, y->nrep);
    rbw = summarise(w, y->nrep);
    for (int i = 0; i < y->nrep; i++) {
        c[i] = y->noop[i].cpu;
        w[i] = y->noop[i].wall;
    }
    nop = summarise(c, y->nrep);
    nopw = summarise(w, y->nrep);
    /* a pass with nothing to do opens every rolled-up segment and parses
     * its table: cost per table entry from the sample's (few large
     * segments), per segment open from the year's (many small ones) */
    for (int i = 0; i < o->runs; i++)
        c[i] = syn->t[2][i].cpu;
    per_entry = summarise(c, o->runs).med /
                (double)(syn->lv[2].entries ? syn->lv[2].entries : 1);
    per_open = (nop.med - per_entry * (double)entries) / (double)windows;
    if (per_open < 0)
        per_open = 0;
    printf("\nAt one year (median of %d, min..max):\n\n"
           "| | CPU s | wall s | at %zu series (CPU, linear in series) "
           "|\n|---|---|---|---|\n",
           y->nrep, o->target_series);
    printf("| steady-state pass: the next 32 h window reaches 7 d (%" PRIu32
           " window(s), %" PRIu64 " points in) | %.3f | %.3f | %.0f s |\n",
           y->steady_res.windows, y->steady_res.points_in, y->steady.cpu,
           y->steady.wall, y->steady.cpu * scale);
    printf("| – of which the table coverage rebuild alone | %.3f "
           "(%.3f..%.3f) | %.3f | %.0f s |\n",
           rb.med, rb.min, rb.max, rbw.med, rb.med * scale);
    printf("| pass with nothing to do (reads %" PRIu64
           " rolled-up segment tables, %.1f MB) | %.3f (%.3f..%.3f) | %.3f | "
           "%.0f s: %.2f GB of tables, %.0fM entries |\n\n",
           windows, (double)(tables + fixed) / 1e6, nop.med, nop.min, nop.max,
           nopw.med,
           per_open * (double)windows + per_entry * (double)entries * scale,
           ((double)tables * scale + (double)fixed) / 1e9,
           (double)entries * scale / 1e6);
    printf("The last column: the rebuild and the steady-state pass scale "
           "with the series' buckets; a pass with nothing to do costs %.0f ns "
           "per table entry (the %s sample's such pass) and %.1f us per "
           "segment opened (the rest of the year's).\n\n",
           per_entry * 1e9, syn->name, per_open * 1e6);
}

/* ---- main ----------------------------------------------------------------
 */

static void usage_exit(int rc)
{
    fputs("usage: bench_rollup [--data DIR] [--types FILE] [--series N] "
          "[--windows N]\n"
          "         [--runs N] [--year-series N] [--target-series N] "
          "[--seed N]\n"
          "         [--rrd-bytes-per-ds N] [--prom-bytes-per-sample X]\n"
          "         [--no-synthetic] [--no-real] [--tmpdir DIR] [--keep]\n"
          "  --data DIR     real collectd csv data (unpacked); none: "
          "synthetic only\n"
          "  --series N     synthetic series (default 200)\n"
          "  --windows N    2 h windows of raw points per sample (default 128: "
          "256 h,\n"
          "                 one whole 1 h rollup window)\n"
          "  --runs N       timed rollup runs (default 3)\n"
          "  --year-series N  series of the year-long store (default 20; "
          "0: skip)\n"
          "  --year-pass-days N  a rollup pass every N days there (default "
          "60, at most 83)\n"
          "  --target-series N  extrapolate to N series (default 10000)\n"
          "  --tmpdir DIR   where the samples are built (default $TMPDIR or "
          "/tmp)\n"
          "  --year-tmpdir DIR  where the year is built (default /dev/shm: "
          "its\n"
          "                 ~22,000 fsyncs would make it disk-bound)\n",
          rc ? stderr : stdout);
    exit(rc);
}

int main(int argc, char **argv)
{
    opts o = {.types = "/usr/share/collectd/types.db",
              .series = 200,
              .year_series = 20,
              .year_every = 60,
              .target_series = 10000,
              .windows = 128,
              .runs = 3,
              .synthetic = 1,
              .real = 1,
              .seed = 20240601,
              .prom_bps = 2.05};
    setres rs[2];
    yearres y;
    size_t nr = 0;
    char la0[128], la1[128];
    time_t wall = time(NULL);
    char date[64];
    double t0 = now_s();

    o.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    {
        struct stat sb;

        o.year_tmpdir = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode)
                            ? "/dev/shm"
                            : o.tmpdir;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--no-synthetic"))
            o.synthetic = 0;
        else if (!strcmp(a, "--no-real"))
            o.real = 0;
        else if (!strcmp(a, "--keep"))
            o.keep = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage_exit(0);
        else if (!v)
            usage_exit(2);
        else if (!strcmp(a, "--data"))
            o.data = v, i++;
        else if (!strcmp(a, "--types"))
            o.types = v, i++;
        else if (!strcmp(a, "--tmpdir"))
            o.tmpdir = v, i++;
        else if (!strcmp(a, "--year-tmpdir"))
            o.year_tmpdir = v, i++;
        else if (!strcmp(a, "--series"))
            o.series = strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--windows"))
            o.windows = atoi(v), i++;
        else if (!strcmp(a, "--runs"))
            o.runs = atoi(v), i++;
        else if (!strcmp(a, "--year-series"))
            o.year_series = strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--year-pass-days"))
            o.year_every = atoi(v), i++;
        else if (!strcmp(a, "--target-series"))
            o.target_series = strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--rrd-bytes-per-ds"))
            o.rrd_bytes_per_ds = strtod(v, NULL), i++;
        else if (!strcmp(a, "--rrd-same-bytes-per-ds"))
            o.rrd_same_bytes_per_ds = strtod(v, NULL), i++;
        else if (!strcmp(a, "--prom-bytes-per-sample"))
            o.prom_bps = strtod(v, NULL), i++;
        else
            usage_exit(2);
    }
    if (o.runs < 1 || o.runs > MAX_RUNS || o.windows < 1 || o.series < 1 ||
        o.target_series < 1 || o.year_every < 1 || o.year_every > 83)
        usage_exit(2);
    if (!o.data)
        o.real = 0;
    if (!o.synthetic && !o.real)
        die("no data set: give --data DIR or drop --no-synthetic");
    loadavg(la0, sizeof(la0));

    if (o.real) {
        bench_dataset d;
        size_t n;
        gen *g;

        if (bench_load_collectd(&d, o.data, o.types) != 0)
            die("cannot load %s", o.data);
        g = replay(&d, &n);
        run_set(&o, &rs[nr++], "collectd-replay", g, n);
        gens_free(g, n);
        bench_dataset_free(&d);
    }
    if (o.synthetic) {
        gen *g = synthetic(o.series, o.seed);

        run_set(&o, &rs[nr++], "synthetic", g, o.series);
        gens_free(g, o.series);
    }
    if (o.year_series)
        run_year(&o, &y);
    loadavg(la1, sizeof(la1));

    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&wall));
    printf("## bench_rollup: %s, %ld cores, load average %s at the start, "
           "%s at the end; %.0f s\n",
           date, sysconf(_SC_NPROCESSORS_ONLN), la0, la1, now_s() - t0);
    printf("\nStores: millisecond precision, 2 h segments, 10 s buckets; "
           "rollups 5 min after 7 d, 1 h after 90 d. Raw build rates: ");
    for (size_t i = 0; i < nr; i++)
        printf("%s%s %.0f ns/point (append + seal)", i ? ", " : "", rs[i].name,
               rs[i].build_s * 1e9 / (double)rs[i].points);
    printf(".\n");
    print_bytes(rs, nr);
    print_year_table(&o, rs, nr, o.year_series ? &y : NULL);
    print_times(&o, rs, nr);
    if (o.year_series)
        print_year(&o, o.synthetic ? &rs[nr - 1] : &rs[0], &y);
    print_split(rs, nr);
    return 0;
}
