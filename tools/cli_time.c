/*
 * Time parsing and formatting for the CLI (see cli_time.h).
 */
#define _GNU_SOURCE
#include "cli_time.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int digits_of(uint32_t ups)
{
    int d = 0;

    while (ups >= 10) {
        ups /= 10;
        d++;
    }
    return d;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Combines whole seconds and a fraction given as decimal digits. */
static int combine(int64_t sec, bool neg, const char *frac, size_t nfrac,
                   uint32_t ups, bool up, int64_t *out)
{
    int d = digits_of(ups) & 15;
    int64_t sub = 0;
    bool rest = false;
    __int128 v;

    for (int i = 0; i < d; i++)
        sub = sub * 10 + ((size_t)i < nfrac ? frac[i] - '0' : 0);
    for (size_t i = (size_t)d; i < nfrac; i++)
        if (frac[i] != '0')
            rest = true;
    v = (__int128)sec * ups + sub;
    if (neg) {
        v = -v;
        if (rest && !up)
            v -= 1;
    } else if (rest && up) {
        v += 1;
    }
    if (v > INT64_MAX / 2 || v < INT64_MIN / 2)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_epoch(const char *s, uint32_t ups, bool up, int64_t *out)
{
    const char *p = s, *frac = NULL;
    bool neg = false;
    size_t nfrac = 0;
    int64_t sec = 0;

    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (!isdigit((unsigned char)*p) &&
        !(*p == '.' && isdigit((unsigned char)p[1])))
        return -1;
    while (isdigit((unsigned char)*p)) {
        if (sec > (INT64_MAX - 9) / 10)
            return -1;
        sec = sec * 10 + (*p++ - '0');
    }
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        nfrac = (size_t)(p - frac);
    }
    if (*p)
        return -1;
    return combine(sec, neg, frac, nfrac, ups, up, out);
}

static int parse_rfc3339(const char *s, uint32_t ups, bool up, int64_t *out)
{
    struct tm tm;
    const char *p, *frac = NULL;
    size_t nfrac = 0;
    int64_t sec, off = 0;
    char buf[64];

    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    if (strlen(buf) > 10 && (buf[10] == ' ' || buf[10] == 't'))
        buf[10] = 'T';
    memset(&tm, 0, sizeof(tm));
    /* the fixed layout YYYY-MM-DDTHH:MM:SS, digit by digit */
    for (int i = 0; i < 19; i++) {
        static const char layout[] = "dddd-dd-ddTdd:dd:dd";

        if (layout[i] == 'd' ? !isdigit((unsigned char)buf[i])
                             : buf[i] != layout[i])
            return -1;
    }
    p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p != buf + 19)
        return -1;
    {
        /* reject dates that do not exist (2026-02-30 is not March 2) */
        struct tm check = tm;
        time_t tt = timegm(&check);
        struct tm back;

        if (!gmtime_r(&tt, &back) || back.tm_year != tm.tm_year ||
            back.tm_mon != tm.tm_mon || back.tm_mday != tm.tm_mday ||
            back.tm_hour != tm.tm_hour || back.tm_min != tm.tm_min ||
            back.tm_sec != tm.tm_sec)
            return -1;
    }
    if (*p == '.') {
        frac = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        nfrac = (size_t)(p - frac);
        if (nfrac == 0)
            return -1;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, n = 0;

        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 ||
            hh > 23 || mm > 59)
            return -1;
        off = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
        p += 1 + n;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    sec = (int64_t)timegm(&tm) - off;
    if (sec < 0 && nfrac) {
        /* a fraction always counts forward from the whole second; in
         * 128 bits, with combine's range: year 1 in ns is below INT64_MIN */
        int64_t v;
        __int128 w;

        if (combine(0, false, frac, nfrac, ups, up, &v) != 0)
            return -1;
        w = (__int128)sec * ups + v;
        if (w > INT64_MAX / 2 || w < INT64_MIN / 2)
            return -1;
        *out = (int64_t)w;
        return 0;
    }
    return combine(sec, false, frac, nfrac, ups, up, out);
}

int cli_time_parse(const char *s, uint32_t ups, bool round_up, int64_t *out,
                   char *err, size_t errlen)
{
    if (parse_epoch(s, ups, round_up, out) == 0 ||
        parse_rfc3339(s, ups, round_up, out) == 0)
        return 0;
    snprintf(err, errlen,
             "\"%s\" is not a time: use epoch seconds (1700000000.5) or "
             "RFC 3339 (2023-11-14T22:13:20Z)",
             s);
    return -1;
}

/* Whether ups is 10^d: the fraction then has exactly d digits. */
static bool is_pow10(uint32_t ups, int d)
{
    uint64_t p = 1;

    for (int i = 0; i < d; i++)
        p *= 10;
    return p == ups;
}

size_t cli_u64_digits(char *out, uint64_t v)
{
    char rev[20];
    size_t n = 0;

    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

char *cli_time_epoch(char *out, size_t size, int64_t t, uint32_t ups)
{
    int d = digits_of(ups) & 15;
    int64_t sec = floor_div(t, ups);
    /* unsigned: no overflow near the int64 limits */
    int64_t sub = (int64_t)((uint64_t)t - (uint64_t)sec * ups);

    if (d > 0 && sec >= 0 && size >= 20 + 1 + 15 + 1 && is_pow10(ups, d)) {
        /* the usual case, a row of every dump: without snprintf */
        size_t n = cli_u64_digits(out, (uint64_t)sec);

        out[n++] = '.';
        for (int i = d - 1; i >= 0; i--, sub /= 10)
            out[n + (size_t)i] = (char)('0' + sub % 10);
        out[n + (size_t)d] = '\0';
    } else if (d == 0) {
        snprintf(out, size, "%" PRId64, t);
    } else if (sec < 0 && sub != 0) {
        /* -1.500 is sec -2 + 0.5: print the magnitude */
        int64_t mag_sec = -(sec + 1), mag_sub = (int64_t)ups - sub;

        snprintf(out, size, "-%" PRId64 ".%0*" PRId64, mag_sec, d, mag_sub);
    } else {
        snprintf(out, size, "%" PRId64 ".%0*" PRId64, sec, d, sub);
    }
    return out;
}

char *cli_time_rfc3339(char *out, size_t size, int64_t t, uint32_t ups)
{
    int d = digits_of(ups) & 15;
    int64_t sec = floor_div(t, ups);
    /* unsigned: no overflow near the int64 limits */
    int64_t sub = (int64_t)((uint64_t)t - (uint64_t)sec * ups);
    time_t tt = (time_t)sec;
    struct tm tm;
    char base[40];

    if (!gmtime_r(&tt, &tm)) {
        cli_time_epoch(out, size, t, ups);
        return out;
    }
    /* RFC 3339 wants four-digit years, which %Y does not pad */
    snprintf(base, sizeof(base), "%04d-%02d-%02dT%02d:%02d:%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    if (d == 0)
        snprintf(out, size, "%sZ", base);
    else
        snprintf(out, size, "%s.%0*" PRId64 "Z", base, d, sub);
    return out;
}
