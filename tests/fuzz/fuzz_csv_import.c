/*
 * Fuzz target: what `tsstore import --csv` reads from collectd's csv
 * plugin files (tools/csvfile.c): the file's name, its header line and its
 * data lines, for a type from a small types.db (gauge, derive, counter,
 * absolute, two, three and sixteen data sources -- as many as a line
 * may hold -- and one of 17, more).
 *
 * Input: byte 0 picks the type, byte 1 the flags (bit 0: --rates-as-gauge;
 * bits 1-2: the store's precision, s/ms/us/ns); then text whose first line
 * is the file's name relative to the csv DataDir and whose other lines are
 * the file, as import reads them (line ends stripped).
 *
 * Properties: a name that parses is rebuilt exactly from its parts; a
 * header that matches is "epoch" and the type's data source names; a data
 * line parses to a result import knows, its mode and kinds agree with the
 * file's mode; printed back (time exactly, gauges with %.17g, integers in
 * full) it parses to the same time and values, bit for bit (NaN: any
 * NaN). A refused file (rates) is refused on its first data line only.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

#include "csvfile.h"
#include "typesdb.h"

static const char TYPES_DB[] =
    "gauge value:GAUGE:U:U\n"
    "derive value:DERIVE:0:U\n"
    "counter value:COUNTER:U:U\n"
    "absolute value:ABSOLUTE:0:U\n"
    "if_octets rx:DERIVE:0:U, tx:DERIVE:0:U\n"
    "load shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, "
    "longterm:GAUGE:0:5000\n"
    "mixed g:GAUGE:U:U, d:DERIVE:U:U, c:COUNTER:U:U, a:ABSOLUTE:U:U\n"
    "sixteen a:GAUGE:U:U, b:GAUGE:U:U, c:GAUGE:U:U, d:GAUGE:U:U, "
    "e:GAUGE:U:U, f:GAUGE:U:U, g:GAUGE:U:U, h:GAUGE:U:U, i:GAUGE:U:U, "
    "j:GAUGE:U:U, k:GAUGE:U:U, l:GAUGE:U:U, m:GAUGE:U:U, n:GAUGE:U:U, "
    "o:GAUGE:U:U, p:GAUGE:U:U\n"
    "wide a:GAUGE:U:U, b:GAUGE:U:U, c:GAUGE:U:U, d:GAUGE:U:U, e:GAUGE:U:U, "
    "f:GAUGE:U:U, g:GAUGE:U:U, h:GAUGE:U:U, i:GAUGE:U:U, j:GAUGE:U:U, "
    "k:GAUGE:U:U, l:GAUGE:U:U, m:GAUGE:U:U, n:GAUGE:U:U, o:GAUGE:U:U, "
    "p:GAUGE:U:U, q:GAUGE:U:U\n";

static typesdb db;

static void load_types(void)
{
    char path[64], err[256];
    int fd;

    if (db.n)
        return;
    fd = memfd_create("types.db", MFD_CLOEXEC);
    FZ_CHECK(fd >= 0);
    FZ_CHECK(write(fd, TYPES_DB, sizeof(TYPES_DB) - 1) ==
             (ssize_t)(sizeof(TYPES_DB) - 1));
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    FZ_CHECK(typesdb_load(&db, path, err, sizeof(err)) == 0);
    close(fd);
}

static void check_name(const char *rel)
{
    csv_name nm;
    char back[1100];
    size_t len = strlen(rel);

    if (!csv_parse_name(rel, &nm))
        return;
    FZ_CHECK(nm.host[0] && nm.plugin[0] && nm.type[0]);
    FZ_CHECK(len >= 11);
    /* an empty instance may have had its '-' ("plugin-/"): try both */
    for (int v = 0; v < 4; v++) {
        snprintf(back, sizeof(back), "%s/%s%s%s/%s%s%s%s", nm.host, nm.plugin,
                 *nm.plugin_instance || (v & 1) ? "-" : "", nm.plugin_instance,
                 nm.type, *nm.type_instance || (v & 2) ? "-" : "",
                 nm.type_instance, rel + len - 11);
        if (strcmp(back, rel) == 0)
            break;
        FZ_CHECK(v < 3);
    }
    FZ_CHECK(!strchr(nm.plugin, '-') && !strchr(nm.type, '-'));
}

static void check_header(const typesdb_type *t, const char *line)
{
    char why[256], back[2048];
    size_t n;

    why[0] = '\0';
    if (!csv_header_matches(t, line, why, sizeof(why))) {
        FZ_CHECK(why[0] != '\0');
        return;
    }
    n = (size_t)snprintf(back, sizeof(back), "epoch");
    for (size_t k = 0; k < t->nds; k++)
        n += (size_t)snprintf(back + n, sizeof(back) - n, ",%s", t->ds[k].name);
    FZ_CHECK(strcmp(back, line) == 0);
}

/* Fields as strtok_r sees them: runs between commas, empty ones not
 * counted. */
static size_t count_fields(const char *line)
{
    size_t n = 0;

    for (const char *p = line; *p;) {
        size_t len = strcspn(p, ",");

        n += len > 0;
        p += len + (p[len] == ',');
    }
    return n;
}

static bool same_value(int kind, tss_value a, tss_value b)
{
    if (kind == TSS_KIND_GAUGE && isnan(a.gauge))
        return isnan(b.gauge);
    return a.bits == b.bits;
}

/* Prints a parsed line back as the csv plugin would have written it. */
static void print_line(char *out, size_t size, int64_t ts, uint32_t ups,
                       const typesdb_type *t, const tss_value *vals,
                       const int *kinds)
{
    int digits = ups == 1 ? 0 : ups == 1000 ? 3 : ups == 1000000 ? 6 : 9;
    uint64_t mag = ts < 0 ? 0 - (uint64_t)ts : (uint64_t)ts;
    size_t n;

    if (digits)
        n = (size_t)snprintf(out, size, "%s%" PRIu64 ".%0*" PRIu64,
                             ts < 0 ? "-" : "", mag / ups, digits, mag % ups);
    else
        n = (size_t)snprintf(out, size, "%s%" PRIu64, ts < 0 ? "-" : "", mag);
    for (size_t k = 0; k < t->nds && n < size; k++) {
        if (kinds[k] == TSS_KIND_GAUGE)
            n += (size_t)snprintf(out + n, size - n, ",%.17g", vals[k].gauge);
        else if (kinds[k] == TSS_KIND_DERIVE)
            n += (size_t)snprintf(out + n, size - n, ",%" PRId64,
                                  vals[k].derive);
        else
            n += (size_t)snprintf(out + n, size - n, ",%" PRIu64,
                                  vals[k].counter);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t UPS[] = {1, 1000, 1000000, 1000000000};
    const typesdb_type *t;
    bool rates_as_gauge;
    uint32_t ups;
    csv_mode mode = CSV_UNDECIDED;
    char *text, *p, *nl;
    size_t lineno = 0;

    if (size < 2 || size > 65536)
        return 0;
    load_types();
    t = &db.types[data[0] % db.n];
    rates_as_gauge = data[1] & 1;
    ups = UPS[(data[1] >> 1) & 3];
    text = fz_strndup(data + 2, size - 2);
    for (p = text; p; p = nl) {
        char why[256], back[4096];
        tss_value vals[16], again[16];
        int kinds[16], kinds2[16], rc;
        int64_t ts, ts2;
        csv_mode was = mode, m2;
        size_t len, nfields;

        if ((nl = strchr(p, '\n')) != NULL)
            *nl++ = '\0';
        len = strlen(p);
        while (len > 0 && p[len - 1] == '\r')
            p[--len] = '\0';
        if (lineno++ == 0) {
            check_name(p);
            continue;
        }
        if (lineno == 2 && strncmp(p, "epoch", 5) == 0) {
            check_header(t, p);
            continue;
        }
        why[0] = '\0';
        nfields = count_fields(p);
        rc = csv_parse_line(t, p, ups, rates_as_gauge, &mode, &ts, vals, kinds,
                            why, sizeof(why));
        FZ_CHECK(rc == CSV_LINE_OK || rc == CSV_LINE_BAD ||
                 rc == CSV_RATE_FILE);
        if (rc == CSV_RATE_FILE) {
            FZ_CHECK(!rates_as_gauge && was == CSV_UNDECIDED &&
                     mode == CSV_UNDECIDED && why[0]);
            break; /* import refuses the file here */
        }
        FZ_CHECK(was == CSV_UNDECIDED || mode == was);
        if (rc == CSV_LINE_BAD) {
            FZ_CHECK(why[0] != '\0');
            continue;
        }
        FZ_CHECK(mode != CSV_UNDECIDED && t->nds <= 16);
        FZ_CHECK(nfields == t->nds + 1); /* none cut off */
        for (size_t k = 0; k < t->nds; k++)
            FZ_CHECK(kinds[k] ==
                     (mode == CSV_RATES ? TSS_KIND_GAUGE : t->ds[k].kind));
        print_line(back, sizeof(back), ts, ups, t, vals, kinds);
        m2 = mode;
        rc = csv_parse_line(t, back, ups, rates_as_gauge, &m2, &ts2, again,
                            kinds2, why, sizeof(why));
        if (rc != CSV_LINE_OK)
            fprintf(stderr, "printed back: %s (%s)\n", back, why);
        FZ_CHECK(rc == CSV_LINE_OK && m2 == mode && ts2 == ts);
        for (size_t k = 0; k < t->nds; k++)
            FZ_CHECK(kinds2[k] == kinds[k] &&
                     same_value(kinds[k], vals[k], again[k]));
    }
    free(text);
    return 0;
}
