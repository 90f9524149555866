/*
 * bench_core — append, seal, decode and bytes per point of libtsstore.
 *
 * For each data set (the real collectd csv data, a synthetic one), each of
 * --runs runs builds a fresh store in a temp directory and measures:
 *   append  tss_store_append of every point, time-major (every series'
 *           i-th point, then every series' (i+1)-th: collectd's order);
 *           once on 1 thread, once on --threads threads (series split
 *           round-robin), wall-clock ns per point of the whole set;
 *   seal    tss_store_seal(TSS_SEAL_ALL): encode + write + fsync;
 *   query   tss_query_open/next/points over everything (reads the files,
 *           from the page cache since they were just written);
 *   codec   tss_chunk_decode over every chunk of the segment images
 *           already in memory: the pure decoder;
 *   bytes   segment file sizes, split into header, chunks, table, and the
 *           chunks into chunk headers, timestamp and value streams.
 * Each figure is the median over the runs. Every store is read back and
 * compared with the input bit for bit (query and codec paths); any
 * difference aborts the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsstore/query.h"
#include "tsstore/store.h"

#include "bench.h"
#include "codec_gorilla.h"

volatile uint64_t bench_sink;

void bench_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench_core: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void bench_check(int rc, const char *what)
{
    if (rc != 0)
        bench_die("%s: %s (%s)", what, tss_strerror(rc), tss_error_last());
}

double bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double bench_median(const double *v, int n)
{
    double s[MAX_RUNS];

    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double bench_min(const double *v, int n)
{
    double m = v[0];

    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

double bench_max(const double *v, int n)
{
    double m = v[0];

    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static void log_cb(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "bench_core: tsstore: %s\n", msg);
}

static tss_store *open_store(const char *dir, unsigned flags)
{
    tss_store_options o;
    tss_store *s;

    tss_store_options_init(&o);
    o.log = log_cb;
    bench_check(tss_store_open(&s, dir, flags, &o), dir);
    return s;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "bench_core: remove %s: %s\n", path, strerror(errno));
    return 0;
}

static uint64_t du_sum;

static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        du_sum += (uint64_t)st->st_size;
    return 0;
}

/* Bytes of every regular file under `dir` (segments, coverage sidecars,
 * metadata, head snapshot, LOCK). */
static uint64_t dir_bytes(const char *dir)
{
    du_sum = 0;
    if (nftw(dir, du_one, 16, FTW_PHYS) != 0)
        bench_die("cannot walk %s", dir);
    return du_sum;
}

static char *make_tmp(const opts *o)
{
    char *p;

    if (asprintf(&p, "%s/tss-bench-XXXXXX", o->tmpdir) < 0 || !mkdtemp(p))
        bench_die("mkdtemp in %s: %s", o->tmpdir, strerror(errno));
    return p;
}

static void drop_tmp(const opts *o, char *dir)
{
    if (o->keep)
        fprintf(stderr, "bench_core: kept %s\n", dir);
    else
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* ---- append ------------------------------------------------------------- */

/* Thread `part` of `nparts` takes series part, part+nparts, ...: point 0
 * of each, then point 1, ... (time-major, as collectd delivers them). */
static void plan(appender *a, const bench_dataset *d, int part, int nparts)
{
    size_t maxn = 0, total = 0;

    for (size_t k = (size_t)part; k < d->n; k += (size_t)nparts) {
        maxn = d->s[k].n > maxn ? d->s[k].n : maxn;
        total += d->s[k].n;
    }
    a->d = d;
    a->n = 0;
    if (!(a->steps = malloc((total ? total : 1) * sizeof(step))))
        bench_die("out of memory planning %zu appends", total);
    for (size_t i = 0; i < maxn; i++)
        for (size_t k = (size_t)part; k < d->n; k += (size_t)nparts)
            if (i < d->s[k].n)
                a->steps[a->n++] = (step){(uint32_t)k, d->s[k].pts[i]};
}

static void *append_part(void *arg)
{
    const appender *a = arg;
    const bench_series *ser = a->d->s;

    for (size_t i = 0; i < a->n; i++) {
        const bench_series *s = &ser[a->steps[i].series];

        bench_check(tss_store_append(a->s, &s->id, s->kind, a->steps[i].p.t,
                                     a->steps[i].p.v),
                    "tss_store_append");
    }
    return NULL;
}

/* Appends the whole set as planned in a[0..nthreads) (one thread each);
 * returns ns per point. */
static double append_all(tss_store *s, appender *a, int nthreads)
{
    const bench_dataset *d = a[0].d;
    pthread_t th[64];
    tss_writer_stats ws;
    double t0, t1;

    for (int i = 0; i < nthreads; i++)
        a[i].s = s;
    t0 = bench_now_ns();
    if (nthreads == 1)
        append_part(&a[0]);
    for (int i = 0; nthreads > 1 && i < nthreads; i++)
        if (pthread_create(&th[i], NULL, append_part, &a[i]) != 0)
            bench_die("pthread_create failed");
    for (int i = 0; nthreads > 1 && i < nthreads; i++)
        pthread_join(th[i], NULL);
    t1 = bench_now_ns();
    tss_store_writer_stats(s, &ws);
    if (ws.points_appended != d->points || ws.head_points != d->points)
        bench_die("%s: appended %" PRIu64 " points, head holds %" PRIu64
                  ", expected %" PRIu64,
                  d->name, ws.points_appended, ws.head_points, d->points);
    return (t1 - t0) / (double)d->points;
}

/* Seals everything; returns ns per point. */
static double seal_all(tss_store *s, const bench_dataset *d)
{
    tss_seal_result res;
    double t0, t1;

    t0 = bench_now_ns();
    bench_check(tss_store_seal(s, tss_store_now(s), TSS_SEAL_ALL, &res),
                "tss_store_seal");
    t1 = bench_now_ns();
    if (res.points_written != d->points || res.pending || res.points_dropped)
        bench_die("%s: seal wrote %" PRIu64 " of %" PRIu64
                  " points (%u pending)",
                  d->name, res.points_written, d->points, res.pending);
    return (t1 - t0) / (double)d->points;
}

/* ---- read back ---------------------------------------------------------- */

static int same_id(const tss_series_id *a, const tss_series_id *b)
{
    return !strcmp(a->host, b->host) && !strcmp(a->plugin, b->plugin) &&
           !strcmp(a->plugin_instance, b->plugin_instance) &&
           !strcmp(a->type, b->type) &&
           !strcmp(a->type_instance, b->type_instance) && !strcmp(a->ds, b->ds);
}

static void same_points(const bench_series *s, const tss_point *p, size_t n,
                        const char *path)
{
    char name[1600];

    for (size_t i = 0; i < n; i++) {
        if (p[i].t == s->pts[i].t && p[i].v.bits == s->pts[i].v.bits)
            continue;
        tss_series_id_format(name, sizeof(name), &s->id);
        bench_die("%s: %s %s point %zu differs: read (%" PRId64 ", %016" PRIx64
                  "), appended (%" PRId64 ", %016" PRIx64 ")",
                  path, name, s->id.ds, i, p[i].t, p[i].v.bits, s->pts[i].t,
                  s->pts[i].v.bits);
    }
}

/*
 * Reads every series through the query API. With `verify`, compares each
 * with the input (series in key order, ids, kinds, points bit-exact);
 * without, only touches the points. Returns ns per point.
 */
static double query_all(tss_store *s, const bench_dataset *d, int verify)
{
    tss_filter f;
    tss_query *q;
    tss_series_info info;
    size_t k = 0;
    uint64_t total = 0, acc = 0;
    double t0, t1;
    int rc;

    memset(&f, 0, sizeof(f));
    t0 = bench_now_ns();
    bench_check(tss_query_open(&q, s, &f), "tss_query_open");
    while ((rc = tss_query_next(q, &info)) == 1) {
        const tss_point *p;
        size_t n;

        bench_check(tss_query_points(q, &p, &n), "tss_query_points");
        total += n;
        acc += (uint64_t)p[n - 1].t + p[n - 1].v.bits;
        if (!verify)
            continue;
        if (k >= d->n || !same_id(&info.id, &d->s[k].id) ||
            info.kind != d->s[k].kind || n != d->s[k].n || info.count != n)
            bench_die("query: series %zu (%s/%s/%s) differs from the input", k,
                      info.id.host, info.id.plugin, info.id.type);
        same_points(&d->s[k], p, n, "query");
        k++;
    }
    t1 = bench_now_ns();
    bench_check(rc < 0 ? rc : 0, "tss_query_next");
    if (tss_query_errors(q))
        bench_die("query reported %" PRIu64 " unreadable files or chunks",
                  tss_query_errors(q));
    tss_query_close(q);
    if (total != d->points || (verify && k != d->n))
        bench_die("query read %" PRIu64
                  " points of %zu series, expected %" PRIu64 " of %zu",
                  total, k, d->points, d->n);
    bench_sink += acc;
    return (t1 - t0) / (double)d->points;
}

static void segs_open(segset *ss, const char *store)
{
    char **names, rel[512];
    size_t n;

    memset(ss, 0, sizeof(*ss));
    bench_check(tss_storage_open(&ss->st, store, NULL, 0), store);
    bench_check(tss_storage_list(ss->st, TSS_SEG_DIR, "", ".seg", &names, &n),
                "list segments");
    ss->seg = calloc(n + 1, sizeof(*ss->seg));
    ss->img = calloc(n + 1, sizeof(*ss->img));
    for (size_t i = 0; i < n; i++) {
        size_t len;

        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
        bench_check(tss_segment_open(&ss->seg[i], ss->st, rel), rel);
        bench_check(
            tss_storage_read_all(ss->st, rel, SIZE_MAX, &ss->img[i], &len),
            rel);
        if (len != ss->seg[i]->file_size)
            bench_die("%s changed size while read", rel);
    }
    ss->n = n;
    tss_storage_names_free(names, n);
}

static void segs_close(segset *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        tss_segment_close(ss->seg[i]);
        free(ss->img[i]);
    }
    free(ss->seg);
    free(ss->img);
    tss_storage_close(ss->st);
}

/*
 * Decodes every chunk with tss_chunk_decode. With `verify`, finds each
 * chunk's series in the input and compares the points. Returns ns/point.
 */
static double codec_all(const segset *ss, const bench_dataset *d, int verify)
{
    tss_point *pts = NULL;
    size_t cap = 0;
    uint64_t total = 0, acc = 0;
    double t0, t1;

    t0 = bench_now_ns();
    for (size_t i = 0; i < ss->n; i++) {
        const tss_segment *seg = ss->seg[i];

        for (size_t e = 0; e < seg->nentries; e++) {
            const tss_seg_entry *en = &seg->entries[e];
            size_t n = 0, lo = 0, hi;
            long k;

            bench_check(tss_chunk_decode(
                            ss->img[i] + en->offset, (size_t)en->len, en->kind,
                            seg->name.start, (size_t)en->count, &pts, &n, &cap),
                        "tss_chunk_decode");
            total += n;
            acc += (uint64_t)pts[n - 1].t ^ pts[n - 1].v.bits;
            if (!verify)
                continue;
            k = bench_find(d, en->key, en->key_len);
            if (k < 0 || n != en->count)
                bench_die("codec: chunk %zu of %s has no input series", e,
                          seg->rel);
            hi = d->s[k].n;
            while (lo < hi) { /* first point of the series in this chunk */
                size_t mid = lo + (hi - lo) / 2;

                if (d->s[k].pts[mid].t < pts[0].t)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo + n > d->s[k].n)
                bench_die("codec: %s chunk %zu has points beyond the input",
                          seg->rel, e);
            {
                bench_series view = d->s[k];

                view.pts += lo;
                same_points(&view, pts, n, "codec");
            }
        }
    }
    t1 = bench_now_ns();
    free(pts);
    if (total != d->points)
        bench_die("codec decoded %" PRIu64 " points, expected %" PRIu64, total,
                  d->points);
    bench_sink += acc;
    return (t1 - t0) / (double)d->points;
}

/* ---- one data set ------------------------------------------------------- */

static void run_set(result *r, const bench_dataset *d, const opts *o)
{
    appender one, many[64];

    memset(r, 0, sizeof(*r));
    r->d = d;
    plan(&one, d, 0, 1);
    for (int i = 0; o->threads > 1 && i < o->threads; i++)
        plan(&many[i], d, i, o->threads);
    for (int run = 0; run < o->runs; run++) {
        char *tmp = make_tmp(o), *path;
        tss_writer_stats ws;
        segset ss;
        tss_store *s;

        if (asprintf(&path, "%s/store", tmp) < 0)
            bench_die("out of memory");
        s = open_store(path, TSS_OPEN_CREATE | TSS_OPEN_WRITER);
        r->append1[run] = append_all(s, &one, 1);
        tss_store_writer_stats(s, &ws);
        r->head_bytes = ws.head_bytes;
        r->seal[run] = seal_all(s, d);
        tss_store_close(s);

        s = open_store(path, 0);
        r->query[run] = query_all(s, d, 0);
        query_all(s, d, 1);
        tss_store_close(s);

        segs_open(&ss, path);
        r->codec[run] = codec_all(&ss, d, 0);
        codec_all(&ss, d, 1);
        if (run == 0) {
            bench_measure_bytes(r, &ss);
            r->sp.store_bytes = dir_bytes(path);
        }
        if (o->breakdown)
            bench_append_parts(r, &one, run);
        segs_close(&ss);
        free(path);
        drop_tmp(o, tmp);

        if (o->threads > 1) { /* same again, appending on several threads */
            tmp = make_tmp(o);
            if (asprintf(&path, "%s/store", tmp) < 0)
                bench_die("out of memory");
            s = open_store(path, TSS_OPEN_CREATE | TSS_OPEN_WRITER);
            r->appendn[run] = append_all(s, many, o->threads);
            seal_all(s, d);
            tss_store_close(s);
            s = open_store(path, 0);
            query_all(s, d, 1);
            tss_store_close(s);
            free(path);
            drop_tmp(o, tmp);
        }
        fprintf(stderr, "bench_core: %s run %d/%d done, read back OK\n",
                d->name, run + 1, o->runs);
    }
    if (o->breakdown)
        bench_ts_schemes(r);
    free(one.steps);
    for (int i = 0; o->threads > 1 && i < o->threads; i++)
        free(many[i].steps);
}

/* ---- main --------------------------------------------------------------- */

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: bench_core [--data DIR] [--types FILE] [--no-real] "
            "[--no-synthetic]\n"
            "                  [--series N] [--points N] [--seed N] "
            "[--runs N] [--threads N]\n"
            "                  [--tmpdir DIR] [--json] [--breakdown] "
            "[--keep]\n"
            "  --data DIR    collectd csv tree (the unpacked "
            "collectd-1s-csv.tar.xz)\n"
            "  --types FILE  collectd types.db "
            "(/usr/share/collectd/types.db)\n"
            "  --series/--points  synthetic size (10000 x 1000)\n"
            "  --runs N      runs per figure, median reported (5)\n"
            "  --threads N   also append on N threads (2; 1 = skip)\n"
            "  --tmpdir DIR  where stores are built ($TMPDIR or /tmp)\n"
            "  --json        print JSON instead of the table\n"
            "  --breakdown   time the append path's parts; bits per point by "
            "collectd\n"
            "                type / shape; other timestamp encodings\n"
            "  --keep        keep the stores\n");
    exit(code);
}

int main(int argc, char **argv)
{
    opts o = {NULL,    "/usr/share/collectd/types.db",
              NULL,    1,
              1,       5,
              2,       0,
              0,       0,
              10000,   1000,
              20240601};
    bench_dataset sets[2];
    result *rs;
    size_t nsets = 0;

    o.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            usage(0);
        else if (!strcmp(a, "--no-real"))
            o.real = 0;
        else if (!strcmp(a, "--no-synthetic"))
            o.synthetic = 0;
        else if (!strcmp(a, "--json"))
            o.json = 1;
        else if (!strcmp(a, "--breakdown"))
            o.breakdown = 1;
        else if (!strcmp(a, "--keep"))
            o.keep = 1;
        else if (!v)
            usage(2);
        else if (!strcmp(a, "--data"))
            o.data = v, i++;
        else if (!strcmp(a, "--types"))
            o.types = v, i++;
        else if (!strcmp(a, "--tmpdir"))
            o.tmpdir = v, i++;
        else if (!strcmp(a, "--series"))
            o.series = strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--points"))
            o.points = strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--runs"))
            o.runs = atoi(v), i++;
        else if (!strcmp(a, "--threads"))
            o.threads = atoi(v), i++;
        else
            usage(2);
    }
    if (o.runs < 1 || o.runs > MAX_RUNS || o.threads < 0 || o.threads > 64 ||
        (o.real && !o.data) || o.series == 0 || o.points == 0)
        usage(2);
    if (o.runs < 5)
        fprintf(stderr, "bench_core: warning: fewer than 5 runs\n");
    if (o.real) {
        if (bench_load_collectd(&sets[nsets], o.data, o.types) != 0)
            return 1;
        nsets++;
    }
    if (o.synthetic) {
        if (bench_synthetic(&sets[nsets], o.series, o.points, o.seed) != 0)
            return 1;
        nsets++;
    }
    rs = calloc(nsets ? nsets : 1, sizeof(*rs));
    for (size_t i = 0; i < nsets; i++) {
        fprintf(stderr, "bench_core: %s: %zu series, %" PRIu64 " points\n",
                sets[i].name, sets[i].n, sets[i].points);
        run_set(&rs[i], &sets[i], &o);
    }
    if (o.json)
        bench_print_json(rs, nsets, &o);
    else
        bench_print_text(rs, nsets, &o);
    for (size_t i = 0; i < nsets; i++)
        bench_dataset_free(&sets[i]);
    free(rs);
    return 0;
}
