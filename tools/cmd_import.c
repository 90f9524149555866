/*
 * tsstore import DIR --csv CSV_DATADIR: migrates the data of collectd's
 * csv plugin into a store. Layout read:
 *
 *   CSV_DATADIR/<host>/<plugin>[-<plugin_instance>]/<type>[-<type_instance>]-YYYY-MM-DD
 *
 * first line "epoch,<ds>...", then "<epoch seconds>,<value>...". Kinds come
 * from types.db (its standard path, or --types-db); values are mapped to
 * its data sources by position, so a file whose header names other data
 * sources (another types.db, a changed type) is refused, not mislabeled.
 * Bad lines are reported
 * with file and line number and skipped; files that cannot be mapped are
 * reported and skipped. Needs the writer LOCK (collectd must not be writing
 * the same store).
 *
 * With StoreRates true the csv plugin writes DERIVE, COUNTER and ABSOLUTE
 * values as rates per second ("%lf": "12.500000", "nan" first), and its
 * files do not say so. A counter is an integer, so the first data line
 * that holds a non-integer number in such a column marks the file as rates:
 * it is refused (nothing stored from it), or with --rates-as-gauge those
 * columns are stored as gauge series, since a rate is not a counter.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsstore/error.h"
#include "tsstore/mutation.h"
#include "csvfile.h"
#include "typesdb.h"

#define DEFAULT_TYPES_DB "/usr/share/collectd/types.db"
#define SEAL_EVERY 4000000 /* points kept in memory before sealing */
#define MAX_REPORTED 50    /* bad lines printed one by one */

typedef struct import_ctx {
    tss_store *s;
    uint32_t ups;
    const typesdb *db;
    const char *db_path;
    uint64_t points, since_seal, bad_lines, bad_files, files;
    uint64_t rate_files; /* StoreRates output: refused or stored as gauges */
    bool tty, rates_as_gauge;
} import_ctx;

static char **list_files(const char *root, size_t *n)
{
    char **v = NULL;
    size_t cap = 0;
    DIR *d1 = opendir(root);
    struct dirent *h;

    *n = 0;
    if (!d1)
        return NULL;
    while ((h = readdir(d1))) {
        char *p1;
        DIR *d2;
        struct dirent *pl;

        if (h->d_name[0] == '.' || asprintf(&p1, "%s/%s", root, h->d_name) < 0)
            continue;
        if (!(d2 = opendir(p1))) {
            free(p1);
            continue;
        }
        while ((pl = readdir(d2))) {
            char *p2;
            DIR *d3;
            struct dirent *f;

            if (pl->d_name[0] == '.' ||
                asprintf(&p2, "%s/%s", p1, pl->d_name) < 0)
                continue;
            if (!(d3 = opendir(p2))) {
                free(p2);
                continue;
            }
            while ((f = readdir(d3))) {
                char *path;

                if (f->d_name[0] == '.' ||
                    asprintf(&path, "%s/%s", p2, f->d_name) < 0)
                    continue;
                if (*n == cap) {
                    char **nv =
                        realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));

                    if (!nv) {
                        free(path);
                        break;
                    }
                    v = nv;
                }
                v[(*n)++] = path;
            }
            closedir(d3);
            free(p2);
        }
        closedir(d2);
        free(p1);
    }
    closedir(d1);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void bad_line(import_ctx *c, const char *file, size_t line,
                     const char *why)
{
    if (c->bad_lines++ < MAX_REPORTED) {
        if (c->tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "tsstore: %s:%zu: %s; line skipped\n", file, line, why);
    }
}

/* A file not imported: "tsstore: " and the message (which names the file
 * and ends with what was done), over the progress line; counted. */
static void skip_file(import_ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (c->tty)
        fputs("\r\033[K", stderr);
    fputs("tsstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    c->bad_files++;
}

static int import_file(import_ctx *c, const char *root, const char *path)
{
    const char *rel = path + strlen(root) + 1;
    csv_name nm;
    const typesdb_type *t;
    tss_series_id id;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    FILE *f;
    int rc = 0;
    csv_mode mode = CSV_UNDECIDED;

    if (!csv_parse_name(rel, &nm)) {
        skip_file(c,
                  "%s: not a csv plugin file name "
                  "(<host>/<plugin>[-<instance>]/<type>[-<instance>]-"
                  "YYYY-MM-DD); skipped",
                  path);
        return 0;
    }
    if (!(t = typesdb_find(c->db, nm.type))) {
        skip_file(c,
                  "%s: type \"%s\" is not in types.db "
                  "(use --types-db); skipped",
                  path, nm.type);
        return 0;
    }
    if (!(f = fopen(path, "r"))) {
        skip_file(c, "%s: %s; skipped", path, strerror(errno));
        return 0;
    }
    id = (tss_series_id){nm.host, nm.plugin,        nm.plugin_instance,
                         nm.type, nm.type_instance, NULL};
    while ((len = getline(&line, &cap, f)) >= 0) {
        char err[1024];
        tss_value vals[16];
        int kinds[16], got;
        int64_t ts;
        csv_mode was;

        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (lineno == 1 && strncmp(line, "epoch", 5) == 0) {
            if (!csv_header_matches(t, line, err, sizeof(err))) {
                char names[512];
                size_t used = 0;

                names[0] = '\0';
                for (size_t k = 0; k < t->nds && used < sizeof(names); k++)
                    used +=
                        (size_t)snprintf(names + used, sizeof(names) - used,
                                         "%s%s", k ? "," : "", t->ds[k].name);
                skip_file(c,
                          "%s: header \"%s\" does not match type \"%s\" "
                          "(%s) in %s: %s; file skipped (values are mapped "
                          "by position: give the types.db the data was "
                          "written with, --types-db)",
                          path, line, t->name, names, c->db_path, err);
                goto refused;
            }
            continue;
        }
        was = mode;
        got = csv_parse_line(t, line, c->ups, c->rates_as_gauge, &mode, &ts,
                             vals, kinds, err, sizeof(err));
        if (mode == CSV_RATES && was != CSV_RATES)
            c->rate_files++; /* stored as gauges (--rates-as-gauge) */
        switch (got) {
        case CSV_LINE_BAD:
            bad_line(c, path, lineno, err);
            continue;
        case CSV_RATE_FILE:
            skip_file(c,
                      "%s:%zu: %s: the csv plugin wrote this file with "
                      "StoreRates true; file skipped (--rates-as-gauge "
                      "stores its derive, counter and absolute columns as "
                      "gauges)",
                      path, lineno, err);
            c->rate_files++;
            goto refused;
        default:
            break;
        }
        for (size_t k = 0; k < t->nds; k++) {
            id.ds = t->ds[k].name;
            if ((rc = tss_store_append(c->s, &id, kinds[k], ts, vals[k]))) {
                fprintf(stderr, "tsstore: %s:%zu: %s\n", path, lineno,
                        tss_error_last());
                goto out;
            }
            c->points++;
            c->since_seal++;
        }
    }
out:
    c->files++;
refused:
    free(line);
    fclose(f);
    return rc;
}

static void log_quiet(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= TSS_LEVEL_WARNING)
        fprintf(stderr, "tsstore: %s\n", msg);
}

int cmd_import(const cli_opts *o)
{
    tss_store_options opts;
    tss_store_info info;
    import_ctx c = {0};
    typesdb db;
    char err[512], **files;
    size_t nfiles;
    tss_apply_result ar;
    int rc = 0, ret = EXIT_OK;

    if (!o->csv_dir)
        return cli_usage_error("%s", "import needs --csv CSV_DATADIR");
    if (typesdb_load(&db, o->types_db ? o->types_db : DEFAULT_TYPES_DB, err,
                     sizeof(err)) != 0) {
        fprintf(stderr, "tsstore: types.db: %s\n", err);
        return EXIT_ERR;
    }
    errno = 0;
    files = list_files(o->csv_dir, &nfiles);
    if (!files) {
        int why = errno;
        char *up = NULL;
        size_t nup = 0;
        char **guess;

        /* a host directory given for the csv DataDir: its files are one
         * level up from where they are looked for */
        bool host_dir = false;

        if (asprintf(&up, "%s/..", o->csv_dir) >= 0 &&
            (guess = list_files(up, &nup)) != NULL) {
            const char *base = strrchr(o->csv_dir, '/');
            size_t ul = strlen(up);

            base = base ? base + 1 : o->csv_dir;
            for (size_t i = 0; i < nup; i++) {
                host_dir =
                    host_dir ||
                    (strncmp(guess[i], up, ul) == 0 && guess[i][ul] == '/' &&
                     strncmp(guess[i] + ul + 1, base, strlen(base)) == 0 &&
                     guess[i][ul + 1 + strlen(base)] == '/');
                free(guess[i]);
            }
            free(guess);
        }
        if (host_dir) {
            fprintf(stderr,
                    "tsstore: %s: no csv plugin data found; it looks like "
                    "a host directory: give --csv the directory that holds "
                    "it (the csv plugin's DataDir)\n",
                    o->csv_dir);
        } else {
            fprintf(stderr,
                    "tsstore: %s: no csv plugin data found%s%s%s; expected "
                    "HOST/PLUGIN/TYPE-YYYY-MM-DD files under it\n",
                    o->csv_dir, why ? " (" : "", why ? strerror(why) : "",
                    why ? ")" : "");
        }
        free(up);
        typesdb_free(&db);
        return EXIT_ERR;
    }
    qsort(files, nfiles, sizeof(*files), cmp_str);
    tss_store_options_init(&opts);
    opts.log = log_quiet;
    if (tss_store_open(&c.s, o->dir, TSS_OPEN_CREATE | TSS_OPEN_WRITER,
                       &opts) != 0) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
        goto out;
    }
    tss_store_info_get(c.s, &info);
    c.ups = info.units_per_second;
    c.db = &db;
    c.db_path = o->types_db ? o->types_db : DEFAULT_TYPES_DB;
    c.tty = isatty(STDERR_FILENO);
    c.rates_as_gauge = o->rates_as_gauge;
    for (size_t i = 0; i < nfiles && rc == 0; i++) {
        rc = import_file(&c, o->csv_dir, files[i]);
        if (rc == 0 && c.since_seal >= SEAL_EVERY) {
            rc = tss_store_seal(c.s, tss_store_now(c.s), TSS_SEAL_ALL, NULL);
            c.since_seal = 0;
        }
        if (c.tty)
            fprintf(stderr, "\rimporting: %zu/%zu files, %" PRIu64 " points",
                    i + 1, nfiles, c.points);
    }
    if (c.tty)
        fputs("\r\033[K", stderr);
    /* everything into segments, one per window */
    if (rc == 0)
        rc = tss_store_seal(c.s, tss_store_now(c.s), TSS_SEAL_ALL, NULL);
    if (rc == 0)
        rc = tss_store_compact(c.s, tss_store_now(c.s), TSS_COMPACT_MERGE, &ar);
    if (rc) {
        fprintf(stderr, "tsstore: %s\n", tss_error_last());
        ret = EXIT_ERR;
    }
    printf("imported %" PRIu64 " points from %" PRIu64 " file(s)", c.points,
           c.files);
    if (c.rate_files && c.rates_as_gauge)
        printf(" (%" PRIu64 " of StoreRates rates, stored as gauges)",
               c.rate_files);
    if (c.bad_lines || c.bad_files)
        printf("; skipped %" PRIu64 " bad line(s) and %" PRIu64
               " file(s) (see above)",
               c.bad_lines, c.bad_files);
    if (c.rate_files && !c.rates_as_gauge)
        printf(", %" PRIu64 " of them StoreRates output (see "
               "--rates-as-gauge)",
               c.rate_files);
    putchar('\n');
    if (c.bad_lines || c.bad_files)
        ret = EXIT_ERR;
out:
    /* a delete or request another command queued meanwhile, finding the
     * LOCK taken, is applied before this writer is gone */
    if (cli_close_writer(c.s, &opts, NULL) != EXIT_OK)
        ret = EXIT_ERR;
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    typesdb_free(&db);
    return cli_finish_output(ret);
}
