/*
 * bench_store -- store-level benchmarks of libtsstore, one subcommand each:
 *
 *   bench_store coverage   coverage queries against decoding every point
 *   bench_store snapshot   head snapshot writes, recovery, write
 *                          amplification
 *   bench_store delete     delete + compaction, reads under tombstones
 *
 * Each prints its figures as medians of --runs runs with min..max, and
 * checks what it measures as it goes (every point read back, every gap);
 * any difference aborts. See docs/benchmarks.md for the figures and
 * bench/run-store for how to run it. This file: main and what the
 * subcommands share.
 */
#define _GNU_SOURCE
#include "bench_store.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *bs_cmd = "bench_store";

void bs_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_store %s: ", bs_cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void bs_check(int rc, const char *what)
{
    if (rc != 0)
        bs_die("%s: %s (%s)", what, tss_strerror(rc), tss_error_last());
}

void *bs_alloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);

    if (!p)
        bs_die("out of memory (%zu bytes)", n);
    return p;
}

void bs_common_init(bs_common *c)
{
    const char *t = getenv("TMPDIR");

    c->tmpdir = t && *t ? t : "/tmp";
    c->runs = 7;
    c->keep = 0;
    c->seed = 20240601;
}

int bs_common_opt(bs_common *c, int argc, char **argv, int *i)
{
    const char *a = argv[*i];

    if (!strcmp(a, "--keep")) {
        c->keep = 1;
        return 1;
    }
    if (*i + 1 >= argc)
        return 0;
    if (!strcmp(a, "--tmpdir"))
        c->tmpdir = argv[++*i];
    else if (!strcmp(a, "--runs"))
        c->runs = atoi(argv[++*i]);
    else if (!strcmp(a, "--seed"))
        c->seed = strtoull(argv[++*i], NULL, 10);
    else
        return 0;
    if (c->runs < 1 || c->runs > MAX_RUNS)
        bs_die("--runs must be 1..%d", MAX_RUNS);
    return 1;
}

static void log_cb(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "bench_store %s: tsstore: %s\n", bs_cmd, msg);
}

void bs_options(tss_store_options *o)
{
    tss_store_options_init(o);
    o->log = log_cb;
}

tss_store *bs_open(const char *dir, unsigned flags, const tss_store_options *o)
{
    tss_store_options def;
    tss_store *s;

    if (!o) {
        bs_options(&def);
        o = &def;
    }
    bs_check(tss_store_open(&s, dir, flags, o), dir);
    return s;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "bench_store: remove %s: %s\n", path, strerror(errno));
    return 0;
}

void bs_rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *bs_make_tmp(const bs_common *c, const char *tag)
{
    char *p;

    if (asprintf(&p, "%s/tss-bench-%s-XXXXXX", c->tmpdir, tag) < 0 ||
        !mkdtemp(p))
        bs_die("mkdtemp in %s: %s", c->tmpdir, strerror(errno));
    return p;
}

void bs_drop_tmp(const bs_common *c, char *dir)
{
    if (c->keep)
        fprintf(stderr, "bench_store %s: kept %s\n", bs_cmd, dir);
    else
        bs_rm_tree(dir);
    free(dir);
}

static uint64_t du_sum, du_files;

static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F) {
        du_sum += (uint64_t)st->st_size;
        du_files++;
    }
    return 0;
}

uint64_t bs_dir_bytes(const char *dir, const char *sub, uint64_t *files)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
    du_sum = du_files = 0;
    if (access(path, F_OK) == 0 && nftw(path, du_one, 16, FTW_PHYS) != 0)
        bs_die("cannot walk %s", path);
    if (files)
        *files = du_files;
    return du_sum;
}

static void copy_file(const char *from, const char *to)
{
    static char buf[1 << 20];
    int in = open(from, O_RDONLY), out;
    ssize_t n;

    if (in < 0)
        bs_die("open %s: %s", from, strerror(errno));
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (out < 0)
        bs_die("create %s: %s", to, strerror(errno));
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            bs_die("write %s: %s", to, strerror(errno));
    if (n < 0)
        bs_die("read %s: %s", from, strerror(errno));
    close(in);
    close(out);
}

static const char *copy_dst;
static size_t copy_srclen;

static int copy_one(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    char to[4096];

    (void)st;
    if (flag != FTW_F || ftw->level != 1)
        return 0;
    snprintf(to, sizeof(to), "%s%s", copy_dst, path + copy_srclen);
    copy_file(path, to);
    return 0;
}

void bs_copy_dir(const char *src, const char *dst)
{
    copy_dst = dst;
    copy_srclen = strlen(src);
    if (mkdir(dst, 0750) != 0 && errno != EEXIST)
        bs_die("mkdir %s: %s", dst, strerror(errno));
    if (nftw(src, copy_one, 16, FTW_PHYS) != 0)
        bs_die("cannot copy %s", src);
}

void bs_io_read(bs_io *out)
{
    char line[256];
    FILE *f = fopen("/proc/self/io", "r");

    memset(out, 0, sizeof(*out));
    if (!f)
        bs_die("/proc/self/io: %s", strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;

        if (sscanf(line, "write_bytes: %llu", &v) == 1)
            out->write_bytes = v;
        else if (sscanf(line, "cancelled_write_bytes: %llu", &v) == 1)
            out->cancelled = v;
    }
    fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

void bs_print(const char *name, const double *v, int n, double scale,
              const char *unit)
{
    double med;

    if (n <= MAX_RUNS) { /* bench_core's, for the runs of one figure */
        med = bench_median(v, n);
    } else { /* a distribution (one figure per record, ...) */
        double *c = bs_alloc((size_t)n * sizeof(double));

        memcpy(c, v, (size_t)n * sizeof(double));
        qsort(c, (size_t)n, sizeof(double), cmp_double);
        med = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
        free(c);
    }
    printf("  %-52s %12.4g (%.4g..%.4g) %s\n", name, med * scale,
           bench_min(v, n) * scale, bench_max(v, n) * scale, unit);
}

int64_t bs_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bs_ident(const bench_dataset *d, size_t i, char *out, size_t size)
{
    tss_series_id_format(out, size, &d->s[i].id);
}

/* ---- reading a whole store back ------------------------------------------ */

static int same_id(const tss_series_id *a, const tss_series_id *b)
{
    return !strcmp(a->host, b->host) && !strcmp(a->plugin, b->plugin) &&
           !strcmp(a->plugin_instance, b->plugin_instance) &&
           !strcmp(a->type, b->type) &&
           !strcmp(a->type_instance, b->type_instance) && !strcmp(a->ds, b->ds);
}

/* Compares the points read for series i with the layout's; 1 if it holds
 * no expected point at all (the store must not list it then). */
static void compare_series(const bs_layout *l, size_t nwin, size_t i,
                           bs_keep_fn keep, void *ctx, const tss_point *p,
                           size_t n)
{
    const bench_series *s = &l->d->s[i];
    size_t got = 0;
    char name[1600];

    for (size_t k = 0; k < nwin; k++)
        for (size_t j = 0; j < s->n; j++) {
            int64_t t = bs_time(l, i, j, k);

            if (keep && !keep(ctx, i, t))
                continue;
            if (got < n && p[got].t == t && p[got].v.bits == s->pts[j].v.bits) {
                got++;
                continue;
            }
            bs_ident(l->d, i, name, sizeof(name));
            if (got >= n)
                bs_die("dump: %s lacks the point at %" PRId64
                       " (window %zu, point %zu)",
                       name, t, k, j);
            bs_die("dump: %s point %zu is (%" PRId64 ", %016" PRIx64
                   "), expected (%" PRId64 ", %016" PRIx64 ")",
                   name, got, p[got].t, p[got].v.bits, t, s->pts[j].v.bits);
        }
    if (got != n) {
        bs_ident(l->d, i, name, sizeof(name));
        bs_die("dump: %s holds %zu points, expected %zu", name, n, got);
    }
}

static int expects_any(const bs_layout *l, size_t nwin, size_t i,
                       bs_keep_fn keep, void *ctx, const char *glob)
{
    char name[1600];

    bs_ident(l->d, i, name, sizeof(name));
    if (glob && fnmatch(glob, name, 0) != 0)
        return 0;
    for (size_t k = 0; k < nwin; k++)
        for (size_t j = 0; j < l->d->s[i].n; j++)
            if (!keep || keep(ctx, i, bs_time(l, i, j, k)))
                return 1;
    return 0;
}

double bs_verify_dump(tss_store *s, const bs_layout *l, size_t nwin,
                      bs_keep_fn keep, void *ctx, uint64_t *points)
{
    return bs_verify_glob(s, l, nwin, keep, ctx, NULL, points);
}

double bs_verify_glob(tss_store *s, const bs_layout *l, size_t nwin,
                      bs_keep_fn keep, void *ctx, const char *glob,
                      uint64_t *points)
{
    const bench_dataset *d = l->d;
    tss_filter f;
    tss_query *q;
    tss_series_info info;
    size_t i = 0;
    uint64_t total = 0;
    double t0, t1, checking = 0;
    int rc;

    memset(&f, 0, sizeof(f));
    f.series_glob = glob;
    t0 = bench_now_ns();
    bs_check(tss_query_open(&q, s, &f), "tss_query_open");
    while ((rc = tss_query_next(q, &info)) == 1) {
        const tss_point *p;
        size_t n;
        double c0;

        bs_check(tss_query_points(q, &p, &n), "tss_query_points");
        total += n;
        /* the comparison is not the read: its time is taken out */
        c0 = bench_now_ns();
        while (i < d->n && !same_id(&info.id, &d->s[i].id)) {
            if (expects_any(l, nwin, i, keep, ctx, f.series_glob))
                bs_die("dump: series %zu (%s/%s) is missing, next read is "
                       "%s/%s/%s",
                       i, d->s[i].id.host, d->s[i].id.plugin_instance,
                       info.id.host, info.id.plugin, info.id.type);
            i++;
        }
        if (i == d->n || info.kind != d->s[i].kind || info.count != n)
            bs_die("dump: unexpected series %s/%s-%s/%s-%s %s", info.id.host,
                   info.id.plugin, info.id.plugin_instance, info.id.type,
                   info.id.type_instance, info.id.ds);
        compare_series(l, nwin, i, keep, ctx, p, n);
        i++;
        checking += bench_now_ns() - c0;
    }
    t1 = bench_now_ns();
    bs_check(rc < 0 ? rc : 0, "tss_query_next");
    for (; i < d->n; i++)
        if (expects_any(l, nwin, i, keep, ctx, f.series_glob))
            bs_die("dump: series %zu (%s/%s) is missing at the end", i,
                   d->s[i].id.host, d->s[i].id.plugin_instance);
    if (tss_query_errors(q))
        bs_die("dump: %" PRIu64 " unreadable files or chunks",
               tss_query_errors(q));
    tss_query_close(q);
    if (points)
        *points = total;
    return t1 - t0 - checking;
}

/* ---- main ------------------------------------------------------------------
 */

static void usage(int code)
{
    fputs("usage: bench_store coverage|snapshot|delete [OPTIONS]\n"
          "       bench_store SUBCOMMAND --help\n"
          "Common options: --runs N (default 7), --seed N, --tmpdir DIR,\n"
          "--keep (keep the stores).\n",
          code ? stderr : stdout);
    exit(code);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage(2);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress, when piped to a file */
    bs_cmd = argv[1];
    if (!strcmp(argv[1], "coverage"))
        return bench_coverage_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "snapshot"))
        return bench_snapshot_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "delete"))
        return bench_delete_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
        usage(0);
    usage(2);
}
