/*
 * The files of collectd's csv plugin, parsed (csvfile.h).
 */
#define _GNU_SOURCE
#include "csvfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_time.h"

#define MAX_DS 16 /* values a line may hold */

/*
 * Copies the part of *p up to `stop` (not included) into out (size n) and
 * moves *p past the stop. False when that part is empty, does not fit, or
 * (for stop '\0') when it contains a further '/'.
 */
static bool path_part(const char **p, char *out, size_t n, char stop)
{
    const char *e = stop ? strchr(*p, stop) : *p + strlen(*p);

    if (!e || e == *p || (size_t)(e - *p) >= n ||
        (!stop && memchr(*p, '/', (size_t)(e - *p))))
        return false;
    memcpy(out, *p, (size_t)(e - *p));
    out[e - *p] = '\0';
    *p = stop ? e + 1 : e;
    return true;
}

/* "YYYY-MM-DD" (digits and dashes: the csv plugin's strftime %Y-%m-%d) */
static bool is_date(const char *s)
{
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return false;
    return s[10] == '\0';
}

bool csv_parse_name(const char *rel, csv_name *out)
{
    size_t len;
    char *dash;

    if (!path_part(&rel, out->host, sizeof(out->host), '/') ||
        !path_part(&rel, out->plugin, sizeof(out->plugin), '/') ||
        !path_part(&rel, out->type, sizeof(out->type), '\0') ||
        (len = strlen(out->type)) < 12 || out->type[len - 11] != '-' ||
        !is_date(out->type + len - 10))
        return false;
    out->type[len - 11] = '\0';
    out->plugin_instance = "";
    if ((dash = strchr(out->plugin, '-')) != NULL) {
        *dash = '\0';
        out->plugin_instance = dash + 1;
    }
    out->type_instance = "";
    if ((dash = strchr(out->type, '-')) != NULL) {
        *dash = '\0';
        out->type_instance = dash + 1;
    }
    /* "-inst/..." or "-inst-YYYY-MM-DD": collectd names no plugin or
     * type "" */
    return out->plugin[0] && out->type[0];
}

bool csv_header_matches(const typesdb_type *t, const char *header, char *why,
                        size_t n)
{
    const char *p;
    size_t k = 0;

    if (strncmp(header, "epoch", 5) != 0) {
        snprintf(why, n, "it does not start with \"epoch\"");
        return false;
    }
    p = header + 5;
    while (*p == ',') {
        size_t len = strcspn(++p, ",");

        if (k < t->nds && (len != strlen(t->ds[k].name) ||
                           strncmp(p, t->ds[k].name, len) != 0)) {
            snprintf(why, n, "data source %zu is \"%.*s\", not \"%s\"", k + 1,
                     (int)len, p, t->ds[k].name);
            return false;
        }
        k++;
        p += len;
    }
    if (*p || k != t->nds) {
        snprintf(why, n, "it names %zu data source(s), not %zu", k, t->nds);
        return false;
    }
    return true;
}

static bool parse_value(const char *s, int kind, tss_value *v)
{
    char *end;

    errno = 0;
    switch (kind) {
    case TSS_KIND_GAUGE:
        v->gauge = strtod(s, &end);
        break;
    case TSS_KIND_DERIVE:
        v->derive = strtoll(s, &end, 10);
        break;
    default:
        if (*s == '-')
            return false;
        v->counter = strtoull(s, &end, 10);
    }
    return end != s && *end == '\0' && errno != ERANGE;
}

/* A number that is not an integer ("12.500000", "nan", "1e3"): what the
 * csv plugin writes for a counter with StoreRates true, never without. */
static bool is_rate(const char *s)
{
    const char *d = s + (*s == '-' || *s == '+');
    char *end;

    (void)strtod(s, &end);
    return end != s && *end == '\0' && d[strspn(d, "0123456789")] != '\0';
}

int csv_parse_line(const typesdb_type *t, char *line, uint32_t ups,
                   bool rates_as_gauge, csv_mode *mode, int64_t *ts,
                   tss_value vals[16], int kinds[16], char *why, size_t n)
{
    /* one field more than a line may hold: a line with too many fields is
     * refused, not cut */
    char *field[MAX_DS + 2], *save = NULL, err[128];
    size_t nf = 0, k;

    for (char *tok = strtok_r(line, ",", &save); tok && nf < MAX_DS + 2;
         tok = strtok_r(NULL, ",", &save))
        field[nf++] = tok;
    if (t->nds > MAX_DS || nf != t->nds + 1) {
        snprintf(why, n, "wrong number of fields");
        return CSV_LINE_BAD;
    }
    if (cli_time_parse(field[0], ups, false, ts, err, sizeof(err))) {
        snprintf(why, n, "bad time");
        return CSV_LINE_BAD;
    }
    if (*mode == CSV_UNDECIDED) {
        for (k = 0; k < t->nds; k++)
            if (t->ds[k].kind != TSS_KIND_GAUGE && is_rate(field[k + 1]))
                break;
        if (k < t->nds && !rates_as_gauge) {
            snprintf(why, n,
                     "data source \"%s\" is a %s in types.db but holds "
                     "\"%s\", a rate",
                     t->ds[k].name, tss_kind_name(t->ds[k].kind), field[k + 1]);
            return CSV_RATE_FILE;
        }
        if (k < t->nds)
            *mode = CSV_RATES;
    }
    /* every value parsed before any is returned: a bad line is skipped
     * whole */
    for (k = 0; k < t->nds; k++) {
        kinds[k] = *mode == CSV_RATES ? TSS_KIND_GAUGE : t->ds[k].kind;
        if (!parse_value(field[k + 1], kinds[k], &vals[k])) {
            snprintf(why, n, "data source \"%s\": \"%s\" is not a %s value%s",
                     t->ds[k].name, field[k + 1], tss_kind_name(t->ds[k].kind),
                     is_rate(field[k + 1]) ? " (a rate where the file's "
                                             "earlier lines hold counters)"
                                           : "");
            return CSV_LINE_BAD;
        }
    }
    if (*mode == CSV_UNDECIDED)
        *mode = CSV_COUNTERS;
    return CSV_LINE_OK;
}
