/*
 * collectd's types.db: data set names and their data sources' kinds
 * (types.db(5): "name  ds:KIND:min:max, ds:KIND:min:max, ...").
 */
#ifndef TSS_TYPESDB_H
#define TSS_TYPESDB_H

#include <stddef.h>

typedef struct typesdb_ds {
    char name[64];
    int kind; /* TSS_KIND_* */
} typesdb_ds;

typedef struct typesdb_type {
    char name[64];
    typesdb_ds *ds;
    size_t nds;
} typesdb_type;

typedef struct typesdb {
    typesdb_type *types;
    size_t n;
} typesdb;

/** Loads `path`; -1 with a message in err (naming the file and line). */
int typesdb_load(typesdb *db, const char *path, char *err, size_t errlen);

/** The type called `name`, or NULL. */
const typesdb_type *typesdb_find(const typesdb *db, const char *name);

void typesdb_free(typesdb *db);

#endif
