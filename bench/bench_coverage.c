/*
 * bench_store coverage -- coverage (gap) queries from the sidecars and
 * the table snapshot, against finding the same gaps by decoding every
 * point (the dump path).
 *
 * Part A, the 30-day store (--days, --series; bench_coverage_30d.c):
 * segments, sidecars and the table snapshot of 30 days of 10,000 series
 * built from per-series coverage plans, the last hour as real points in
 * the head; the query of one series and of all of them, every answer
 * checked against the plan.
 *
 * Part B, the decode comparison (--decode-days): a store of real points,
 * bench_synthetic's series at 10 s with gaps cut by the same kind of plan;
 * the gap report through tss_coverage_* against tss_query_* + computing
 * the gaps from the points, and both must agree series by series.
 *
 * Part A times a query of one series both on a handle that has queried
 * before (it keeps the head snapshot and reads on in its log) and as the
 * first query of a handle (the groups of the head snapshot's log that
 * hold the series: tss_snapshot_load_sel).
 */
#define _GNU_SOURCE
#include "bench_coverage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "series.h"
#include "snapshot.h"
#include "store_internal.h"

static uint64_t mix(uint64_t *st)
{
    uint64_t z = (*st += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int64_t urand(uint64_t *st, int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(mix(st) % (uint64_t)(hi - lo + 1));
}

static int cmp_brun(const void *a, const void *b)
{
    const brun *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Realistic coverage over [0, nb) buckets for series i (host = i / 100):
 *   - every host is down twice (reboot, collectd restart): 5 min..1 h,
 *     all its series at once;
 *   - 10% of series miss 3 stretches of 1..10 min (a plugin's read
 *     failing);
 *   - 1% start late (within the first 20 days), 1% stop early (in the
 *     last 10 days);
 *   - 2% are written every 60 s (stride 6 at 10 s buckets);
 *   - 5% of the 10 s series lose one bucket now and then (~1 in 500: a
 *     late point lands in the next bucket); never a gap.
 */
void cov_make_plan(plan *p, size_t i, int64_t nb, uint64_t seed)
{
    uint64_t hs = seed * 31 + i / 100 + 1, ss = seed * 131 + i * 7 + 3;
    brun g[16];
    size_t ng = 0, cap = 16;
    int64_t day = 8640, pos = 0;

    memset(p, 0, sizeof(*p));
    for (int k = 0; k < 2; k++) {
        int64_t at = urand(&hs, 0, nb - 1);

        g[ng++] = (brun){at, at + urand(&hs, 30, 360)};
    }
    if (mix(&ss) % 100 < 10)
        for (int k = 0; k < 3; k++) {
            int64_t at = urand(&ss, 0, nb - 1);

            g[ng++] = (brun){at, at + urand(&ss, 6, 60)};
        }
    if (mix(&ss) % 100 == 0 && nb > 20 * day)
        g[ng++] = (brun){0, urand(&ss, 1, 20 * day)};
    if (mix(&ss) % 100 == 0 && nb > 10 * day)
        g[ng++] = (brun){urand(&ss, nb - 10 * day, nb - 1), nb};
    p->stride = mix(&ss) % 50 == 0 ? 6 : 1;
    p->off = (int)(i % 6);
    qsort(g, ng, sizeof(g[0]), cmp_brun);
    p->runs = bs_alloc((ng + 1) * sizeof(*p->runs));
    for (size_t k = 0; k < ng; k++) { /* runs: the complement of the gaps */
        if (g[k].lo > pos)
            p->runs[p->nruns++] = (brun){pos, g[k].lo};
        if (g[k].hi > pos)
            pos = g[k].hi;
    }
    if (pos < nb)
        p->runs[p->nruns++] = (brun){pos, nb};
    if (p->stride == 1 && mix(&ss) % 100 < 5) {
        p->holes = bs_alloc(cap * sizeof(*p->holes));
        for (size_t r = 0; r < p->nruns; r++)
            for (int64_t h = p->runs[r].lo + 2 + urand(&ss, 0, 999);
                 h <= p->runs[r].hi - 3; h += 2 + urand(&ss, 0, 999)) {
                if (p->nholes == cap)
                    p->holes = realloc(p->holes, (cap *= 2) * sizeof(int64_t));
                if (!p->holes)
                    bs_die("out of memory");
                p->holes[p->nholes++] = h;
            }
    }
    (void)cap;
}

int cov_plan_has(const plan *p, int64_t b)
{
    size_t lo = 0, hi = p->nruns;

    if (p->stride > 1 && ((b - p->off) % p->stride + p->stride) % p->stride)
        return 0;
    while (lo < hi) { /* first run with hi > b */
        size_t mid = (lo + hi) / 2;

        if (p->runs[mid].hi <= b)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->nruns || p->runs[lo].lo > b)
        return 0;
    lo = 0;
    hi = p->nholes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (p->holes[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    return !(lo < p->nholes && p->holes[lo] == b);
}

void cov_plans_free(plan *pl, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(pl[i].runs);
        free(pl[i].holes);
    }
    free(pl);
}

/* ---- the gap rule (tsstore/coverage.h), written again ------------------- */

static void gaps_start(gaps *x, int64_t bf, int64_t bt, int64_t tol)
{
    x->bf = bf;
    x->bt = bt;
    x->tol = tol < 1 ? 1 : tol;
    x->cur = bf;
    x->n = 0;
}

static void gaps_push(gaps *x, int64_t from, int64_t to)
{
    if (x->n + 2 > x->cap) {
        x->cap = x->cap ? x->cap * 2 : 64;
        if (!(x->g = realloc(x->g, x->cap * sizeof(int64_t))))
            bs_die("out of memory");
    }
    x->g[x->n++] = from;
    x->g[x->n++] = to;
}

/* Present buckets first..last (inside [bf, bt]), no two further apart
 * than the tolerance. */
static void gaps_present(gaps *x, int64_t first, int64_t last)
{
    if (first - x->cur > x->tol)
        gaps_push(x, x->cur, first);
    x->cur = last + 1;
}

static void gaps_end(gaps *x)
{
    if (x->bt + 1 - x->cur > x->tol)
        gaps_push(x, x->cur, x->bt + 1);
}

/* What the plan says the gaps of [0, nb) are; B0 = W0's bucket. */
void cov_plan_gaps(const plan *p, int64_t nb, gaps *x)
{
    const int64_t b0 = BS_W0 / BW;
    size_t h = 0;

    gaps_start(x, b0, b0 + nb - 1, p->stride);
    for (size_t r = 0; r < p->nruns && p->runs[r].lo < nb; r++) {
        int64_t lo = p->runs[r].lo;
        int64_t hi = p->runs[r].hi < nb ? p->runs[r].hi : nb;

        if (p->stride > 1) {
            lo += ((p->off - lo) % 6 + 6) % 6;
            hi = hi - 1 - ((hi - 1 - p->off) % 6 + 6) % 6 + 1;
            if (lo >= hi)
                continue;
        }
        for (; h < p->nholes && p->holes[h] < hi; h++) { /* split at holes */
            gaps_present(x, b0 + lo, b0 + p->holes[h] - 1);
            lo = p->holes[h] + 1;
        }
        gaps_present(x, b0 + lo, b0 + hi - 1);
    }
    gaps_end(x);
}

/* Dies unless the query's answer for series `name` is exactly `x`. */
void cov_same_gaps(const tss_coverage_series *cs, const gaps *x,
                   const char *name)
{
    int64_t gap_time = 0, at = x->bf * BW;
    size_t k = 0;

    if (cs->from != x->bf * BW || cs->to != (x->bt + 1) * BW)
        bs_die("coverage of %s: range [%" PRId64 ", %" PRId64 ") is wrong",
               name, cs->from, cs->to);
    for (size_t r = 0; r < cs->nruns; r++) {
        const tss_cov_run *run = &cs->runs[r];

        if (run->from != at || run->to <= run->from ||
            (r && run->covered == cs->runs[r - 1].covered))
            bs_die("coverage of %s: run %zu [%" PRId64 ", %" PRId64
                   ") does not follow on",
                   name, r, run->from, run->to);
        at = run->to;
        if (run->covered)
            continue;
        if (k >= x->n || run->from != x->g[k] * BW ||
            run->to != x->g[k + 1] * BW)
            bs_die("coverage of %s: gap [%" PRId64 ", %" PRId64
                   ") where %s was expected",
                   name, run->from, run->to, k < x->n ? "another gap" : "none");
        gap_time += run->to - run->from;
        k += 2;
    }
    if (k != x->n || at != cs->to || cs->gaps != x->n / 2 ||
        cs->gap_time != gap_time)
        bs_die("coverage of %s: %" PRIu64 " gaps reported, %zu expected", name,
               cs->gaps, x->n / 2);
}

/* ---- part B: against decoding every point -------------------------------- */

static int keep_planned(void *ctx, size_t i, int64_t t)
{
    const plan *pl = ctx;

    return cov_plan_has(&pl[i], (t - BS_W0) / BW);
}

static uint64_t fnv(uint64_t h, int64_t v)
{
    for (int k = 0; k < 8; k++)
        h = (h ^ (uint8_t)((uint64_t)v >> (8 * k))) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t hash_cov(const tss_coverage_series *cs)
{
    uint64_t h = fnv(UINT64_C(0xcbf29ce484222325), cs->interval);

    for (size_t r = 0; r < cs->nruns; r++)
        if (!cs->runs[r].covered)
            h = fnv(fnv(h, cs->runs[r].from / BW), cs->runs[r].to / BW);
    return h;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static uint64_t hash_gaps(int64_t interval, const gaps *x)
{
    uint64_t h = fnv(UINT64_C(0xcbf29ce484222325), interval);

    for (size_t k = 0; k < x->n; k += 2)
        h = fnv(fnv(h, x->g[k]), x->g[k + 1]);
    return h;
}

/* The gaps of one series from its points, by the rule of coverage.h with
 * the interval the sidecars would hold: the median spacing in the last
 * window with two points or more. Returns a hash as hash_cov's. */
static uint64_t hash_points(const tss_point *p, size_t n, int64_t bf,
                            int64_t bt, gaps *x, int64_t *diff)
{
    int64_t interval = 0, prev = INT64_MIN;

    for (size_t e = n; e > 0 && !interval;) {
        size_t b = e - 1;
        int64_t w = (p[e - 1].t - BS_W0) / BS_SPAN;

        while (b > 0 && (p[b - 1].t - BS_W0) / BS_SPAN == w)
            b--;
        if (e - b >= 2) {
            for (size_t k = b + 1; k < e; k++)
                diff[k - b - 1] = p[k].t - p[k - 1].t;
            qsort(diff, e - b - 1, sizeof(*diff), cmp_i64);
            interval = diff[(e - b - 1) / 2];
        }
        e = b;
    }
    if (!interval)
        bs_die("a series with no window of two points: not modelled");
    gaps_start(x, bf, bt, (interval + BW - 1) / BW);
    for (size_t k = 0; k < n; k++) {
        int64_t b = p[k].t / BW;

        if (b != prev)
            gaps_present(x, b, b);
        prev = b;
    }
    gaps_end(x);
    return hash_gaps(interval, x);
}

/* Gap report of every series (one NULL) or of one, hashed per series into
 * h[]: mode 0 through tss_coverage_*, 1 the dump path (tss_query_* and the
 * gaps from the points). Returns ns. */
static double report(tss_store *s, int mode, const bench_series *one,
                     int64_t nb, uint64_t *h, size_t n, size_t *found)
{
    tss_filter f = {0};
    gaps x = {0};
    int64_t *diff = bs_alloc(WB * sizeof(int64_t)), bf = BS_W0 / BW;
    char glob[1600];
    double t0;
    int rc = 0;

    if (one)
        tss_series_id_format(glob, sizeof(glob), &one->id);
    f.series_glob = one ? glob : NULL;
    f.has_from = f.has_to = 1;
    f.from = BS_W0;
    f.to = BS_W0 + nb * BW - 1;
    *found = 0;
    t0 = bench_now_ns();
    if (mode == 0) {
        tss_coverage *c;
        tss_coverage_series cs;

        bs_check(tss_coverage_open(&c, s, &f), "tss_coverage_open");
        while ((rc = tss_coverage_next(c, &cs)) == 1 && *found < n)
            h[(*found)++] = hash_cov(&cs);
        tss_coverage_close(c);
    } else if (mode == 1) {
        tss_query *q;
        tss_series_info info;

        bs_check(tss_query_open(&q, s, &f), "tss_query_open");
        while ((rc = tss_query_next(q, &info)) == 1 && *found < n) {
            const tss_point *p;
            size_t np;

            bs_check(tss_query_points(q, &p, &np), "tss_query_points");
            h[(*found)++] = hash_points(p, np, bf, bf + nb - 1, &x, diff);
        }
        tss_query_close(q);
    }
    t0 = bench_now_ns() - t0;
    bs_check(rc < 0 ? rc : 0, mode ? "tss_query_next" : "tss_coverage_next");
    free(x.g);
    free(diff);
    return t0;
}

static void part_b(const cov_opts *o)
{
    static const char *const what[2] = {"coverage API", "decoding (dump)"};
    bench_dataset d;
    size_t n = o->series, nwin = (size_t)(o->decode_days * 12 + 0.5);
    size_t entries = 0, nf;
    int runs = o->c.runs;
    int64_t nb = (int64_t)nwin * WB;
    char *dir = bs_make_tmp(&o->c, "covdec"), name[1600];
    plan *pl = bs_alloc(n * sizeof(*pl));
    uint8_t *had = bs_alloc(n);
    uint64_t *h[2], pts = 0, read;
    double(*t)[2][MAX_RUNS] = bs_alloc(2 * sizeof(*t)), ratio[MAX_RUNS];
    double t_dump, t0;
    bs_layout l;
    tss_store *s;
    tss_seal_result sr;

    if (bench_synthetic(&d, n, (size_t)WB, o->c.seed) != 0)
        bs_die("bench_synthetic failed");
    l = (bs_layout){&d, 10000, BS_W0, BS_SPAN};
    for (size_t i = 0; i < n; i++)
        cov_make_plan(&pl[i], i, nb, o->c.seed + 1);
    for (int m = 0; m < 2; m++)
        h[m] = bs_alloc(n * sizeof(uint64_t));
    printf("coverage, part B: %zu series x %zu windows (%.2f days) at 10 s, "
           "real points\n",
           n, nwin, o->decode_days);
    t0 = bench_now_ns();
    s = bs_open(dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER, NULL);
    for (size_t k = 0; k < nwin; k++) {
        memset(had, 0, n);
        for (size_t j = 0; j < (size_t)WB; j++)
            for (size_t i = 0; i < n; i++) {
                int64_t tt = bs_time(&l, i, j, k);

                if (!keep_planned(pl, i, tt))
                    continue;
                bs_check(tss_store_append(s, &d.s[i].id, d.s[i].kind, tt,
                                          d.s[i].pts[j].v),
                         "append");
                pts++;
                entries += !had[i];
                had[i] = 1;
            }
        bs_check(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &sr),
                 "seal");
    }
    tss_store_close(s);
    printf("  built in %.0f s: %" PRIu64 " points\n",
           (bench_now_ns() - t0) / 1e9, pts);
    s = bs_open(dir, 0, NULL);
    t_dump = bs_verify_dump(s, &l, nwin, keep_planned, pl, &read);
    if (read != pts)
        bs_die("dump read %" PRIu64 " points, appended %" PRIu64, read, pts);
    for (int r = 0; r < runs; r++) {
        const bench_series *one = &d.s[((size_t)r * 7919 + 13) % n];

        for (int m = 0; m < 2; m++) {
            t[m][0][r] = report(s, m, NULL, nb, h[m], n, &nf);
            if (nf != n)
                bs_die("%s: %zu series, expected %zu", what[m], nf, n);
        }
        for (size_t k = 0; k < n; k++)
            if (h[0][k] != h[1][k]) {
                bs_ident(&d, k, name, sizeof(name));
                bs_die("%s: coverage and decoding find different gaps", name);
            }
        for (int m = 0; m < 2; m++)
            t[m][1][r] = report(s, m, one, nb, h[m], 1, &nf);
        if (h[0][0] != h[1][0])
            bs_die("%s: coverage and decoding find different gaps",
                   one->id.host);
    }
    tss_store_close(s);
    printf("  checked: the dump equals the appended points; coverage and "
           "decoding agree on every series' gaps and interval\n");
    printf("  dump alone (query, no gaps): %.0f ms, %.1f ns/point\n",
           t_dump / 1e6, t_dump / (double)pts);
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 2; m++) {
            char label[128];

            snprintf(label, sizeof(label), "%s, %s", w ? "one series" : "all",
                     what[m]);
            bs_print(label, t[m][w], runs, 1e-6, "ms");
            if (m == 1 && w == 0) {
                for (int r = 0; r < runs; r++)
                    ratio[r] = t[1][0][r] / (double)pts;
                bs_print("- decoding per point", ratio, runs, 1, "ns");
            }
            if (m == 1)
                continue;
            for (int r = 0; r < runs; r++)
                ratio[r] = t[1][w][r] / t[m][w][r];
            bs_print("- decoding / this (per run)", ratio, runs, 1, "x");
        }
    printf("  sidecars (as the writer built them): %.1f bytes per series and "
           "segment\n",
           (double)bs_dir_bytes(dir, TSS_COV_SEG_DIR, NULL) / (double)entries);
    for (int m = 0; m < 2; m++)
        free(h[m]);
    cov_plans_free(pl, n);
    free(had);
    free(t);
    bench_dataset_free(&d);
    bs_drop_tmp(&o->c, dir);
}

static void usage(int code)
{
    fputs("usage: bench_store coverage [--series N] [--days N] "
          "[--head-minutes N]\n"
          "       [--decode-days X] [--no-30day] [--no-decode] [--runs N]\n"
          "       [--seed N] [--tmpdir DIR] [--keep]\n"
          "Defaults: 10000 series, 30 days, 60 head minutes, 1 decode day.\n",
          code ? stderr : stdout);
    exit(code);
}

int bench_coverage_main(int argc, char **argv)
{
    cov_opts o = {
        .series = 10000, .days = 30, .head_min = 60, .decode_days = 1};

    bs_common_init(&o.c);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (bs_common_opt(&o.c, argc, argv, &i))
            continue;
        if (!strcmp(a, "--no-30day"))
            o.no_a = 1;
        else if (!strcmp(a, "--no-decode"))
            o.no_b = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            usage(0);
        else if (i + 1 >= argc)
            usage(2);
        else if (!strcmp(a, "--series"))
            o.series = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--days"))
            o.days = atoi(argv[++i]);
        else if (!strcmp(a, "--head-minutes"))
            o.head_min = atoi(argv[++i]);
        else if (!strcmp(a, "--decode-days"))
            o.decode_days = atof(argv[++i]);
        else
            usage(2);
    }
    if (o.series < 1 || o.days < 1 || o.head_min < 0 || o.decode_days <= 0)
        usage(2);
    if (!o.no_a)
        cov_part_a(&o);
    if (!o.no_b)
        part_b(&o);
    return 0;
}
