/*
 * Parser for collectd's types.db (see typesdb.h).
 */
#define _GNU_SOURCE
#include "typesdb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsstore/series.h"

static int kind_of(const char *s)
{
    if (strcasecmp(s, "GAUGE") == 0)
        return TSS_KIND_GAUGE;
    if (strcasecmp(s, "DERIVE") == 0)
        return TSS_KIND_DERIVE;
    if (strcasecmp(s, "COUNTER") == 0)
        return TSS_KIND_COUNTER;
    if (strcasecmp(s, "ABSOLUTE") == 0)
        return TSS_KIND_ABSOLUTE;
    return 0;
}

static int cmp_type(const void *a, const void *b)
{
    return strcmp(((const typesdb_type *)a)->name,
                  ((const typesdb_type *)b)->name);
}

int typesdb_load(typesdb *db, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, lineno = 0, tcap = 0;
    ssize_t len;
    int rc = 0;

    memset(db, 0, sizeof(*db));
    if (!f) {
        snprintf(err, errlen, "%s: %m", path);
        return -1;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *p = line, *name, *save = NULL, *tok;
        typesdb_type t;

        lineno++;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        name = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
        memset(&t, 0, sizeof(t));
        snprintf(t.name, sizeof(t.name), "%s", name);
        for (tok = strtok_r(p, ", \t\r\n", &save); tok;
             tok = strtok_r(NULL, ", \t\r\n", &save)) {
            char *c1 = strchr(tok, ':'), *c2;
            typesdb_ds *nd;

            if (!c1 || !(c2 = strchr(c1 + 1, ':'))) {
                rc = -1;
                break;
            }
            *c1 = *c2 = '\0';
            nd = realloc(t.ds, (t.nds + 1) * sizeof(*nd));
            if (!nd) {
                rc = -1;
                break;
            }
            t.ds = nd;
            snprintf(nd[t.nds].name, sizeof(nd[t.nds].name), "%s", tok);
            if (!(nd[t.nds].kind = kind_of(c1 + 1))) {
                rc = -1;
                break;
            }
            t.nds++;
        }
        if (rc || t.nds == 0) {
            snprintf(err, errlen, "%s:%zu: not a data set specification", path,
                     lineno);
            free(t.ds);
            rc = -1;
            break;
        }
        if (db->n == tcap) {
            typesdb_type *nt = realloc(
                db->types, (tcap = tcap ? tcap * 2 : 256) * sizeof(*nt));

            if (!nt) {
                free(t.ds);
                rc = -1;
                snprintf(err, errlen, "out of memory");
                break;
            }
            db->types = nt;
        }
        db->types[db->n++] = t;
    }
    free(line);
    fclose(f);
    if (rc) {
        typesdb_free(db);
        return -1;
    }
    if (db->n) /* an empty file: no array, and qsort's must not be NULL */
        qsort(db->types, db->n, sizeof(*db->types), cmp_type);
    return 0;
}

const typesdb_type *typesdb_find(const typesdb *db, const char *name)
{
    typesdb_type key;

    if (!db->n)
        return NULL;
    snprintf(key.name, sizeof(key.name), "%s", name);
    return bsearch(&key, db->types, db->n, sizeof(*db->types), cmp_type);
}

void typesdb_free(typesdb *db)
{
    for (size_t i = 0; i < db->n; i++)
        free(db->types[i].ds);
    free(db->types);
    memset(db, 0, sizeof(*db));
}
