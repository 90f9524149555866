/*
 * Data sets for bench_core: the real collectd csv files, and a synthetic
 * set with the shapes of real collectd series.
 */
#define _GNU_SOURCE
#include "bench_data.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "series.h" /* private: tss_key_encode, tss_key_cmp */

#define MAX_DS 16

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return q;
}

static bench_series *new_series(bench_dataset *d)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->s = xrealloc(d->s, d->cap * sizeof(*d->s));
    }
    memset(&d->s[d->n], 0, sizeof(d->s[0]));
    return &d->s[d->n++];
}

/* Copies the six identifier fields into one allocation owned by `s`. */
static void set_id(bench_series *s, const char *host, const char *plugin,
                   const char *pinst, const char *type, const char *tinst,
                   const char *ds)
{
    const char *f[6] = {host, plugin, pinst, type, tinst, ds};
    const char **dst[6] = {
        &s->id.host, &s->id.plugin,        &s->id.plugin_instance,
        &s->id.type, &s->id.type_instance, &s->id.ds};
    size_t len = 0, pos = 0;

    for (int i = 0; i < 6; i++)
        len += strlen(f[i]) + 1;
    s->strs = xrealloc(NULL, len);
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(f[i]) + 1;

        memcpy(s->strs + pos, f[i], n);
        *dst[i] = s->strs + pos;
        pos += n;
    }
}

static void push(bench_series *s, int64_t t, tss_value v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->pts = xrealloc(s->pts, s->cap * sizeof(tss_point));
    }
    s->pts[s->n].t = t;
    s->pts[s->n].v = v;
    s->n++;
}

static int key_cmp(const void *a, const void *b)
{
    const bench_series *x = a, *y = b;
    int c = tss_key_cmp(x->key, x->key_len, y->key, y->key_len);

    if (c)
        return c;
    /* same series from several daily files: earliest first */
    return x->pts[0].t < y->pts[0].t ? -1 : x->pts[0].t > y->pts[0].t;
}

/* Computes keys, sorts by key, joins one series' daily files, and checks
 * that every series' times strictly increase. */
static int finish(bench_dataset *d)
{
    uint8_t key[TSS_KEY_MAX];
    size_t out = 0;

    for (size_t i = 0; i < d->n; i++) {
        bench_series *s = &d->s[i];

        if (tss_key_encode(key, &s->key_len, &s->id, s->kind) != 0) {
            fprintf(stderr, "bench: bad series identifier: %s\n",
                    tss_error_last());
            return -1;
        }
        s->key = xrealloc(NULL, s->key_len);
        memcpy(s->key, key, s->key_len);
    }
    qsort(d->s, d->n, sizeof(*d->s), key_cmp);
    d->points = 0;
    for (size_t i = 0; i < d->n; i++) {
        bench_series *s = &d->s[i], *o = out ? &d->s[out - 1] : NULL;

        if (o && tss_key_cmp(o->key, o->key_len, s->key, s->key_len) == 0) {
            for (size_t k = 0; k < s->n; k++)
                push(o, s->pts[k].t, s->pts[k].v);
            free(s->pts);
            free(s->strs);
            free(s->key);
            continue;
        }
        d->s[out++] = *s;
    }
    d->n = out;
    for (size_t i = 0; i < d->n; i++) {
        bench_series *s = &d->s[i];

        for (size_t k = 1; k < s->n; k++)
            if (s->pts[k].t <= s->pts[k - 1].t) {
                fprintf(stderr,
                        "bench: %s/%s/%s: timestamps not increasing at "
                        "point %zu\n",
                        s->id.host, s->id.plugin, s->id.type, k);
                return -1;
            }
        d->points += s->n;
    }
    return 0;
}

long bench_find(const bench_dataset *d, const uint8_t *key, size_t len)
{
    size_t lo = 0, hi = d->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tss_key_cmp(d->s[mid].key, d->s[mid].key_len, key, len);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void bench_dataset_free(bench_dataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->s[i].strs);
        free(d->s[i].key);
        free(d->s[i].pts);
    }
    free(d->s);
    memset(d, 0, sizeof(*d));
}

/* ---- types.db ----------------------------------------------------------- */

typedef struct dstype {
    char name[64];
    int nds;
    char ds[MAX_DS][64];
    int kind[MAX_DS];
} dstype;

static dstype *types;
static size_t ntypes;

static int kind_of(const char *s)
{
    static const char *const names[] = {"GAUGE", "DERIVE", "COUNTER",
                                        "ABSOLUTE"};

    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i + 1; /* TSS_KIND_GAUGE .. TSS_KIND_ABSOLUTE */
    return 0;
}

/* Lines "name ds:KIND:min:max, ds:KIND:min:max ..." ('#' comments). */
static int load_types(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t lcap = 0;

    if (!f) {
        fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &lcap, f) > 0) {
        char *p = line, *save = NULL, *tok;
        dstype t;

        memset(&t, 0, sizeof(t));
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        tok = strtok_r(p, " \t", &save);
        if (!tok || strlen(tok) >= sizeof(t.name))
            continue;
        strcpy(t.name, tok);
        while ((tok = strtok_r(NULL, ", \t\r\n", &save)) != NULL &&
               t.nds < MAX_DS) {
            char *c1 = strchr(tok, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : 0;

            if (!c1 || !c2 || (size_t)(c1 - tok) >= sizeof(t.ds[0]))
                break;
            *c1 = *c2 = '\0';
            strcpy(t.ds[t.nds], tok);
            if (!(t.kind[t.nds] = kind_of(c1 + 1)))
                break;
            t.nds++;
        }
        if (t.nds == 0)
            continue;
        types = xrealloc(types, (ntypes + 1) * sizeof(*types));
        types[ntypes++] = t;
    }
    free(line);
    fclose(f);
    if (ntypes == 0) {
        fprintf(stderr, "bench: %s: no types\n", path);
        return -1;
    }
    return 0;
}

static const dstype *find_type(const char *name)
{
    for (size_t i = 0; i < ntypes; i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

/* ---- csv files ------------------------------------------------------------
 */

static char **paths;
static size_t npaths;

/* True if `name` ends in -YYYY-MM-DD. */
static int has_date(const char *name)
{
    static const char pat[] = "-dddd-dd-dd";
    size_t n = strlen(name), m = sizeof(pat) - 1;

    if (n <= m)
        return 0;
    for (size_t i = 0; i < m; i++) {
        char c = name[n - m + i];

        if (pat[i] == 'd' ? !isdigit((unsigned char)c) : c != pat[i])
            return 0;
    }
    return 1;
}

static int collect(const char *path, const struct stat *st, int flag,
                   struct FTW *ftw)
{
    (void)st;
    if (flag == FTW_F && ftw->level >= 3 && has_date(path + ftw->base)) {
        paths = xrealloc(paths, (npaths + 1) * sizeof(*paths));
        paths[npaths++] = strdup(path);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "1795274075.600" → 1795274075600; exact, no floating point. */
static int parse_ms(const char *s, int64_t *out)
{
    char *end;
    long long sec;
    int64_t ms = 0, mul = 100;

    errno = 0;
    sec = strtoll(s, &end, 10);
    if (errno || end == s || sec < 0)
        return -1;
    if (*end == '.')
        for (end++; isdigit((unsigned char)*end); end++, mul /= 10) {
            if (mul == 0 && *end != '0')
                return -1; /* finer than a millisecond */
            ms += (*end - '0') * mul;
        }
    if (*end)
        return -1;
    *out = (int64_t)sec * 1000 + ms;
    return 0;
}

static int parse_value(const char *s, int kind, tss_value *v)
{
    char *end;

    errno = 0;
    if (kind == TSS_KIND_GAUGE)
        v->gauge = strtod(s, &end);
    else if (kind == TSS_KIND_DERIVE)
        v->derive = strtoll(s, &end, 10);
    else
        v->counter = strtoull(s, &end, 10);
    return errno || end == s || *end ? -1 : 0;
}

/* One csv file: `.../<host>/<plugin dir>/<type dir>-YYYY-MM-DD`. */
static int load_file(bench_dataset *d, const char *path)
{
    char buf[4096], *host, *pdir, *tdir, *line = NULL;
    const dstype *t;
    size_t lcap = 0, first = d->n, lineno = 1;
    int nds = 0, rc = -1;
    char *ds[MAX_DS];
    FILE *f;

    /* the last three path components; nftw gave at least three */
    snprintf(buf, sizeof(buf), "%s", path);
    tdir = strrchr(buf, '/');
    *tdir++ = '\0';
    pdir = strrchr(buf, '/');
    *pdir++ = '\0';
    host = strrchr(buf, '/');
    host = host ? host + 1 : buf;
    tdir[strlen(tdir) - 11] = '\0'; /* the -YYYY-MM-DD suffix */
    {
        char *pi = strchr(pdir, '-'), *ti = strchr(tdir, '-');

        if (pi)
            *pi++ = '\0';
        if (ti)
            *ti++ = '\0';
        if (!(t = find_type(tdir))) {
            fprintf(stderr, "bench: %s: type %s is not in types.db\n", path,
                    tdir);
            return -1;
        }
        if (!(f = fopen(path, "r"))) {
            fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
            return -1;
        }
        if (getline(&line, &lcap, f) <= 0 || strncmp(line, "epoch,", 6)) {
            fprintf(stderr, "bench: %s: no 'epoch,' header\n", path);
            goto out;
        }
        line[strcspn(line, "\r\n")] = '\0';
        for (char *save = NULL, *tok = strtok_r(line + 6, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if (nds == MAX_DS || nds >= t->nds ||
                strcmp(tok, t->ds[nds]) != 0) {
                fprintf(stderr,
                        "bench: %s: data source %s does not match "
                        "types.db\n",
                        path, tok);
                goto out;
            }
            ds[nds++] = strdup(tok);
        }
        if (nds != t->nds) {
            fprintf(stderr, "bench: %s: %d data sources, types.db has %d\n",
                    path, nds, t->nds);
            goto out;
        }
        for (int i = 0; i < nds; i++) {
            bench_series *s = new_series(d);

            set_id(s, host, pdir, pi ? pi : "", tdir, ti ? ti : "", ds[i]);
            s->kind = t->kind[i];
        }
    }
    while (getline(&line, &lcap, f) > 0) {
        char *save = NULL, *tok;
        int64_t ms;

        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!(tok = strtok_r(line, ",", &save)) || parse_ms(tok, &ms)) {
            fprintf(stderr, "bench: %s:%zu: bad timestamp\n", path, lineno);
            goto out;
        }
        for (int i = 0; i < nds; i++) {
            bench_series *s = &d->s[first + (size_t)i];
            tss_value v;

            tok = strtok_r(NULL, ",", &save);
            if (!tok || parse_value(tok, s->kind, &v)) {
                fprintf(stderr, "bench: %s:%zu: bad value\n", path, lineno);
                goto out;
            }
            push(s, ms, v);
        }
    }
    /* a file with a header only gives no points: drop its series */
    for (size_t i = first; i < d->n; i++)
        if (d->s[i].n == 0) {
            d->n = first;
            break;
        }
    for (size_t i = first; i < d->n; i++)
        d->s[i].group = d->s[i].id.type;
    rc = 0;
out:
    for (int i = 0; i < nds; i++)
        free(ds[i]);
    free(line);
    fclose(f);
    return rc;
}

int bench_load_collectd(bench_dataset *d, const char *dir, const char *typesdb)
{
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->name = "collectd-1s";
    if (load_types(typesdb) != 0)
        return -1;
    if (nftw(dir, collect, 16, FTW_PHYS) != 0) {
        fprintf(stderr, "bench: cannot walk %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (npaths == 0) {
        fprintf(stderr, "bench: no collectd csv files under %s\n", dir);
        return -1;
    }
    qsort(paths, npaths, sizeof(*paths), cmp_str);
    for (size_t i = 0; i < npaths && rc == 0; i++)
        rc = load_file(d, paths[i]);
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    free(types);
    d->files = npaths;
    paths = NULL;
    npaths = 0;
    types = NULL;
    ntypes = 0;
    return rc ? rc : finish(d);
}

/* ---- synthetic ------------------------------------------------------------
 */

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double unif(void) /* [0, 1) */
{
    return (double)(rnd() >> 11) * 0x1.0p-53;
}

static double gauss(void) /* Box-Muller */
{
    double u = unif(), v = unif();

    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/*
 * Shapes, by series index modulo 20 (so the mix is exact):
 *   const-gauge    15%  gauge that never changes (df totals, limits)
 *   flat-derive    15%  derive that never moves (error/drop counters)
 *   rate-derive    25%  derive at a steady rate, log-uniform in
 *                       [0.1, 1e6] per second, ±10% noise per interval
 *   wrap-counter    5%  32-bit counter at 1e4..1e7 per second, wrapping
 *   noisy-gauge    20%  full-precision double: level + daily-ish sine +
 *                       gaussian noise (load, temperatures, ratios)
 *   integral-gauge 10%  bytes in 4 KiB pages, random walk (memory)
 *   sparse-gauge   10%  small integer that changes with p = 0.05
 *                       (processes, users, connections)
 * Timestamps: 10 s interval from a per-host phase (ms); 5% of points are
 * 1..3 ms late, as collectd's read loop is on the real data.
 */
static const struct {
    const char *name;
    int kind;
    int weight;
} SHAPES[] = {
    {"const-gauge", TSS_KIND_GAUGE, 3},  {"flat-derive", TSS_KIND_DERIVE, 3},
    {"rate-derive", TSS_KIND_DERIVE, 5}, {"wrap-counter", TSS_KIND_COUNTER, 1},
    {"noisy-gauge", TSS_KIND_GAUGE, 4},  {"integral-gauge", TSS_KIND_GAUGE, 2},
    {"sparse-gauge", TSS_KIND_GAUGE, 2},
};

static void gen_series(bench_series *s, int shape, size_t npoints, int64_t t0)
{
    double rate = pow(10.0, -1.0 + 7.0 * unif()), g = 0;
    double level = 100.0 * unif(), amp = level * 0.2 * unif();
    double period = 600.0 + 3000.0 * unif();
    uint64_t u = rnd() & 0xffffffff;
    int64_t x = (int64_t)(rnd() % 1000000);

    if (shape == 0)
        g = (rnd() & 1) ? (double)(rnd() % (UINT64_C(1) << 40)) : level;
    if (shape == 3)
        rate = pow(10.0, 4.0 + 3.0 * unif());
    if (shape == 5)
        x = (int64_t)(rnd() % 1000000) * 4096;
    if (shape == 6)
        x = (int64_t)(rnd() % 300);
    for (size_t i = 0; i < npoints; i++) {
        int64_t t = t0 + (int64_t)i * 10000;
        tss_value v;

        if (unif() < 0.05)
            t += 1 + (int64_t)(rnd() % 3);
        switch (shape) {
        case 0:
            v.gauge = g;
            break;
        case 1:
            v.derive = x;
            break;
        case 2:
            x += llround(rate * 10.0 * (1.0 + 0.1 * gauss()));
            v.derive = x;
            break;
        case 3:
            u = (u + (uint64_t)llround(rate * 10.0 * (1.0 + 0.1 * gauss()))) &
                0xffffffff;
            v.counter = u;
            break;
        case 4:
            v.gauge = level + amp * sin(2.0 * M_PI * (double)i / period) +
                      0.05 * level * gauss();
            break;
        case 5:
            x += 4096 * llround(50.0 * gauss());
            if (x < 0)
                x = 0;
            v.gauge = (double)x;
            break;
        default:
            if (unif() < 0.05)
                x += (int64_t)(rnd() % 7) - 3;
            if (x < 0)
                x = 0;
            v.gauge = (double)x;
            break;
        }
        push(s, t, v);
    }
}

int bench_synthetic(bench_dataset *d, size_t nseries, size_t npoints,
                    uint64_t seed)
{
    /* 1700000000 s: 2023-11-14, a round epoch inside a 2 h window */
    const int64_t base = INT64_C(1700000000000);
    int64_t phase = 0;

    memset(d, 0, sizeof(*d));
    d->name = "synthetic";
    rng_state = seed;
    for (size_t i = 0; i < nseries; i++) {
        int slot = (int)(i % 20), shape = 0;
        char host[32], inst[32];
        bench_series *s;

        while (slot >= SHAPES[shape].weight)
            slot -= SHAPES[shape++].weight;
        if (i % 100 == 0)
            phase = (int64_t)(rnd() % 10000);
        snprintf(host, sizeof(host), "host%04zu", i / 100);
        snprintf(inst, sizeof(inst), "%zu", i % 100);
        s = new_series(d);
        set_id(s, host, "synth", SHAPES[shape].name, "value", inst, "value");
        s->kind = SHAPES[shape].kind;
        s->group = SHAPES[shape].name;
        gen_series(s, shape, npoints, base + phase);
    }
    return finish(d);
}
