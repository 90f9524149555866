/*
 * CLI output formats (see cli_out.h).
 */
#include "cli_out.h"
#include "cli_time.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

int cli_format_parse(const char *s)
{
    if (strcmp(s, "text") == 0)
        return FMT_TEXT;
    if (strcmp(s, "csv") == 0)
        return FMT_CSV;
    if (strcmp(s, "jsonl") == 0)
        return FMT_JSONL;
    if (strcmp(s, "openmetrics") == 0)
        return FMT_OPENMETRICS;
    return -1;
}

void cli_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void cli_text_field(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\x%02x", *p);
            else
                fputc(*p, f);
        }
    }
}

char *cli_value(char *out, size_t size, int kind, tss_value v)
{
    switch (kind) {
    case TSS_KIND_GAUGE:
        if (isnan(v.gauge))
            snprintf(out, size, "%snan", signbit(v.gauge) ? "-" : "");
        else if (isinf(v.gauge))
            snprintf(out, size, "%sinf", v.gauge < 0 ? "-" : "");
        else
            snprintf(out, size, "%.17g", v.gauge);
        break;
    case TSS_KIND_DERIVE:
        if (size < 22) {
            snprintf(out, size, "%" PRId64, v.derive);
        } else if (v.derive < 0) {
            out[0] = '-';
            out[1 + cli_u64_digits(out + 1, 0 - (uint64_t)v.derive)] = '\0';
        } else {
            out[cli_u64_digits(out, (uint64_t)v.derive)] = '\0';
        }
        break;
    default:
        if (size < 21)
            snprintf(out, size, "%" PRIu64, v.counter);
        else
            out[cli_u64_digits(out, v.counter)] = '\0';
        break;
    }
    return out;
}

struct cli_jsonl {
    yajl_gen g;
    FILE *f;
};

cli_jsonl *cli_jsonl_new(FILE *f)
{
    cli_jsonl *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->g = yajl_gen_alloc(NULL);
    if (!j->g) {
        free(j);
        return NULL;
    }
    j->f = f;
    return j;
}

void cli_jsonl_begin(cli_jsonl *j)
{
    yajl_gen_map_open(j->g);
}

static void key(cli_jsonl *j, const char *k)
{
    yajl_gen_string(j->g, (const unsigned char *)k, strlen(k));
}

void cli_jsonl_str(cli_jsonl *j, const char *k, const char *val)
{
    key(j, k);
    yajl_gen_string(j->g, (const unsigned char *)val, strlen(val));
}

void cli_jsonl_num(cli_jsonl *j, const char *k, const char *text)
{
    key(j, k);
    yajl_gen_number(j->g, text, strlen(text));
}

void cli_jsonl_value(cli_jsonl *j, const char *k, int kind, tss_value v)
{
    char buf[64];

    cli_value(buf, sizeof(buf), kind, v);
    if (kind == TSS_KIND_GAUGE && !isfinite(v.gauge))
        cli_jsonl_str(j, k, buf);
    else
        cli_jsonl_num(j, k, buf);
}

int cli_jsonl_end(cli_jsonl *j)
{
    const unsigned char *buf;
    size_t len;
    int rc = 0;

    yajl_gen_map_close(j->g);
    if (yajl_gen_get_buf(j->g, &buf, &len) != yajl_gen_status_ok)
        rc = -1;
    else if (fwrite(buf, 1, len, j->f) != len || fputc('\n', j->f) == EOF)
        rc = -1;
    yajl_gen_clear(j->g);
    yajl_gen_reset(j->g, NULL);
    return rc;
}

void cli_jsonl_free(cli_jsonl *j)
{
    if (!j)
        return;
    yajl_gen_free(j->g);
    free(j);
}
