/*
 * Fuzz target: collectd's types.db as `tsstore import --types-db` reads it
 * (tools/typesdb.c typesdb_load). The input is the file's bytes, given to
 * the loader through a memfd (it reads a path). A file that loads holds
 * types with at least one data source each, of a known kind, sorted by
 * name, and each found again by typesdb_find.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "tsstore/series.h"
#include "typesdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512];
    typesdb db;
    int fd;

    if (size > 65536)
        return 0;
    fd = memfd_create("typesdb", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    err[0] = '\0';
    if (typesdb_load(&db, path, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < db.n; i++) {
            const typesdb_type *t = &db.types[i];

            FZ_CHECK(memchr(t->name, '\0', sizeof(t->name)) != NULL);
            FZ_CHECK(t->nds >= 1);
            FZ_CHECK(i == 0 || strcmp(db.types[i - 1].name, t->name) <= 0);
            for (size_t k = 0; k < t->nds; k++)
                FZ_CHECK(t->ds[k].kind >= TSS_KIND_GAUGE &&
                         t->ds[k].kind <= TSS_KIND_ABSOLUTE);
            FZ_CHECK(typesdb_find(&db, t->name) != NULL);
        }
        typesdb_free(&db);
    } else {
        FZ_CHECK(err[0] != '\0');
        FZ_CHECK(db.n == 0 && db.types == NULL);
    }
    close(fd);
    return 0;
}
