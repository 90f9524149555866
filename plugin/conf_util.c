/*
 * Option value parsing for the plugins (see conf_util.h).
 */
#include "conf_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tss_conf_duration_ms(const char *s, int64_t *out, char *err, size_t errlen)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = {{"", 1e3},        {"s", 1e3},     {"m", 60e3},
                 {"h", 3600e3},    {"d", 86400e3}, {"w", 604800e3},
                 {"y", 31536000e3}};
    char *end;
    double v;

    errno = 0;
    if (!s || !*s || isspace((unsigned char)*s))
        goto bad;
    v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        goto bad;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        v *= units[i].ms;
        if (v > 9.2e18)
            goto bad;
        *out = (int64_t)llround(v);
        return 0;
    }
bad:
    snprintf(err, errlen,
             "\"%s\" is not a duration (seconds, or a number with s, m, h, "
             "d, w or y, e.g. \"2h\")",
             s ? s : "");
    return -1;
}

int tss_conf_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
    static const char *const mult = "KMGT";
    unsigned long long v;
    const char *p;
    char *end;
    int shift = 0;

    errno = 0;
    if (!s || !isdigit((unsigned char)*s))
        goto bad;
    v = strtoull(s, &end, 10);
    if (errno)
        goto bad;
    p = end;
    if (*p) {
        const char *m = strchr(mult, toupper((unsigned char)*p));

        if (!m)
            goto bad;
        shift = 10 * (int)(m - mult + 1);
        p++;
        if (strcasecmp(p, "") != 0 && strcasecmp(p, "B") != 0 &&
            strcasecmp(p, "iB") != 0)
            goto bad;
    }
    if (shift && v > (UINT64_MAX >> shift))
        goto bad;
    *out = (uint64_t)v << shift;
    return 0;
bad:
    snprintf(err, errlen,
             "\"%s\" is not a size (bytes, or a number with K, M, G or T, "
             "e.g. \"256M\")",
             s ? s : "");
    return -1;
}

uint32_t tss_conf_precision(const char *s)
{
    if (!s)
        return 0;
    if (strcmp(s, "s") == 0)
        return 1;
    if (strcmp(s, "ms") == 0)
        return 1000;
    if (strcmp(s, "us") == 0)
        return 1000000;
    if (strcmp(s, "ns") == 0)
        return 1000000000;
    return 0;
}
