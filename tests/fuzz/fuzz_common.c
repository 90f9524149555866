/*
 * Helpers shared by the fuzz targets (see fuzz_common.h).
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static tss_storage *storage;

static int rm_one(const char *path, const struct stat *sb, int type,
                  struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void cleanup(void)
{
    if (storage) {
        tss_storage_close(storage);
        storage = NULL;
    }
    if (dir[0]) {
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        dir[0] = '\0';
    }
}

const char *fz_dir(void)
{
    const char *base;
    struct stat sb;

    if (dir[0])
        return dir;
    base = getenv("TMPDIR");
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    else if (!base || !*base)
        base = "/tmp";
    snprintf(dir, sizeof(dir), "%s/tss-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(cleanup);
    return dir;
}

tss_storage *fz_storage(void)
{
    if (!storage && tss_storage_open(&storage, fz_dir(), NULL, 0) != 0) {
        fprintf(stderr, "fuzz: storage: %s\n", tss_error_last());
        abort();
    }
    return storage;
}

static void mkparents(char *path)
{
    for (char *p = path + strlen(fz_dir()) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            perror(path);
            abort();
        }
        *p = '/';
    }
}

void fz_write(const char *rel, const void *buf, size_t len)
{
    char path[1024];
    const uint8_t *p = buf;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", fz_dir(), rel);
    mkparents(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        perror(path);
        abort();
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
}

void fz_clear(const char *rel)
{
    char path[1024];
    DIR *d;
    struct dirent *de;

    snprintf(path, sizeof(path), "%s/%s", fz_dir(), rel);
    d = opendir(path);
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        char f[1300];

        if (de->d_type == DT_DIR)
            continue;
        snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
        unlink(f);
    }
    closedir(d);
}

char *fz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

uint8_t *fz_dup(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);

    if (!p)
        abort();
    if (size)
        memcpy(p, data, size);
    return p;
}

bool fz_fix_checksum(uint8_t *buf, size_t len)
{
    uint64_t sum;

    if (len < 8)
        return false;
    sum = tss_checksum(buf, len - 8);
    if (tss_get_u64(buf + len - 8) == sum)
        return false;
    tss_put_u64(buf + len - 8, sum);
    return true;
}

bool fz_fix_frame(uint8_t *buf, size_t len, const uint8_t magic[8],
                  uint32_t header_len)
{
    bool changed = false;

    if (len < (size_t)header_len + 8)
        return false;
    if (memcmp(buf, magic, 8) != 0) {
        memcpy(buf, magic, 8);
        changed = true;
    }
    if (tss_get_u16(buf + 8) != 1) {
        tss_put_u16(buf + 8, 1);
        changed = true;
    }
    if (tss_get_u32(buf + 12) != header_len) {
        tss_put_u32(buf + 12, header_len);
        changed = true;
    }
    return fz_fix_checksum(buf, len) || changed;
}

void fz_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    (void)level;
    (void)msg;
}
