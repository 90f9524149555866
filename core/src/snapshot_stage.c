/*
 * The staged tail of the head snapshot log (docs/format.md, "Staged log
 * tail"): with a stage directory on a memory file system (tmpfs), the
 * writer appends each record there, where a killed process does not lose
 * it and the disk is not written, and moves the records to log-<gen> in
 * one write at each fsync (every SnapshotSync) or once 64 KiB wait: up to
 * the last whole page they fill, the rest at the next (flush_pages).
 *
 * Why: the kernel charges a small append to a file on disk a whole page
 * each time it dirties a page its flusher has cleaned, so a log appended
 * a record of 1-2 KB every 10 s caused 2-3 times its bytes in disk
 * writes (docs/benchmarks.md, "Bytes written per stored point"). Staged,
 * the log gets one write per fsync. What a crash can lose: `kill -9`,
 * nothing before the last record when the writer starts again before a
 * reboot (tmpfs outlives the process, not the host); a power cut, what
 * was not fsynced (up to SnapshotSync, and the unfilled page the sync
 * before held back).
 *
 * The logical log of a generation is log-<gen> on disk followed by the
 * staged records past its end. A stage file starts with the length of
 * the disk log it continues, so a reader that reads the stage file
 * first, then the disk log, always gets a whole prefix of the logical
 * log, whatever the writer did in between (it only appends to either,
 * replaces a stage file only by one that starts where the disk log now
 * ends, and removes one only after the disk has its records).
 */
#define _GNU_SOURCE
#include "snapshot_internal.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_MAGIC "\x89TSSTG\r\n"
#define STAGE_HDR 40
/* staged bytes moved to the disk log without waiting for the fsync; a
 * record this large goes there at once (it fills pages of its own) */
#define STAGE_MAX (64 * 1024)
/* a stage file a reader accepts: what waits, and the record after it */
#define STAGE_MAX_FILE (2 * STAGE_MAX + STAGE_HDR)

/* Which store directory a stage belongs to: its device and inode. A copy
 * of the store (a backup, `cp -a`) shares its uuid and head/stage, not
 * these: it neither reads nor folds the original's stage, and its own
 * writer stages in a directory of its own. 0 or the fstat error. */
static int store_id(tss_storage *st, uint64_t id[2])
{
    struct stat sb;

    if (st->io->fstat(st->rootfd, &sb) != 0)
        return tss_error_set_errno(errno, "fstat", ".");
    id[0] = (uint64_t)sb.st_dev;
    id[1] = (uint64_t)sb.st_ino;
    return 0;
}

/* A stage file's name in the storage rooted at the stage directory's
 * parent: `leaf`/log-<gen>. */
static void stage_name(char *out, size_t size, const char *leaf, uint64_t gen)
{
    snprintf(out, size, "%s/log-%" PRIu64, leaf, gen);
}

/* Opens the storage rooted at the parent of stage directory `path`;
 * *leaf points into path at the directory's own name. */
static int stage_open(const tss_io_ops *io, const char *path, tss_storage **out,
                      const char **leaf)
{
    const char *slash = strrchr(path, '/');
    char parent[4096];
    size_t n = slash ? (size_t)(slash - path) : 0;

    *out = NULL;
    if (!slash || !slash[1] || n >= sizeof(parent))
        return tss_error_set(TSS_EINVAL, "bad stage directory \"%s\"", path);
    memcpy(parent, path, n);
    parent[n ? n : 1] = '\0';
    if (n == 0)
        parent[0] = '/';
    *leaf = slash + 1;
    return tss_storage_open(out, parent, io, 0);
}

/* The stage directory head/stage names (malloc'd, no newline), or NULL
 * (none, or unreadable: the error is cleared). */
static char *stage_ref(tss_storage *st)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char *path = NULL;

    if (tss_storage_read_all(st, TSS_SNAP_STAGE_REF, 4096, &buf, &len) != 0) {
        tss_error_clear();
        return NULL;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\0'))
        len--;
    if (len && buf[0] == '/' && !memchr(buf, '\0', len) &&
        (path = tss_malloc(len + 1))) {
        memcpy(path, buf, len);
        path[len] = '\0';
    }
    tss_free(buf);
    return path;
}

/* Parses a stage file buf[len] of the store `id`: the disk log length it
 * continues (*off) and its records (*rec, *nrec). 1: so; 0: not a stage
 * file; -1: another store's (a copy's original, see store_id). */
static int stage_parse(const uint8_t *buf, size_t len, const uint64_t id[2],
                       uint64_t *off, const uint8_t **rec, size_t *nrec)
{
    if (len < STAGE_HDR || memcmp(buf, STAGE_MAGIC, 8) != 0 ||
        tss_get_u64(buf + 32) != tss_checksum(buf, 32) ||
        tss_get_u64(buf + 8) > TSS_SNAP_MAX_FILE)
        return 0;
    if (tss_get_u64(buf + 16) != id[0] || tss_get_u64(buf + 24) != id[1])
        return -1;
    *off = tss_get_u64(buf + 8);
    *rec = buf + STAGE_HDR;
    *nrec = len - STAGE_HDR;
    return 1;
}

/* Reads the stage file of `gen` (*buf NULL: none). Errors are cleared:
 * a stage a reader cannot read leaves it the disk log alone. */
static void stage_read(tss_storage *st, uint64_t gen, uint8_t **buf,
                       size_t *len)
{
    tss_storage *sst = NULL;
    char *path = stage_ref(st);
    const char *leaf;

    *buf = NULL;
    *len = 0;
    if (!path)
        return;
    if (stage_open(st->io, path, &sst, &leaf) == 0) {
        char rel[300];

        stage_name(rel, sizeof(rel), leaf, gen);
        (void)!tss_storage_read_all(sst, rel, STAGE_MAX_FILE, buf, len);
    }
    tss_storage_close(sst);
    tss_free(path);
    tss_error_clear();
}

int tss_snap_log_read(tss_storage *st, uint64_t gen, const char *lrel,
                      uint64_t from, uint8_t **out, size_t *outlen,
                      uint8_t head[16])
{
    uint8_t *sbuf, *buf = NULL;
    const uint8_t *srec = NULL;
    size_t slen, nrec = 0, len = 0;
    uint64_t off = 0, size = 0, end, id[2];
    bool staged;
    int fd = -1, rc;

    *out = NULL;
    *outlen = 0;
    /* the stage first: the disk log read after it has at least the
     * length the stage continues */
    stage_read(st, gen, &sbuf, &slen);
    staged = sbuf && store_id(st, id) == 0 &&
             stage_parse(sbuf, slen, id, &off, &srec, &nrec) == 1;
    tss_error_clear();
    rc = tss_storage_open_read(st, lrel, &fd, &size);
    if (rc == TSS_ENOTFOUND && staged && off == 0) {
        tss_error_clear(); /* every record so far is staged */
        rc = 0;
        fd = -1;
        size = 0;
    }
    if (rc)
        goto out;
    if (size > TSS_SNAP_MAX_FILE) {
        rc = tss_error_set(TSS_ECORRUPT,
                           "read %s: %" PRIu64
                           " bytes is more than the %" PRIu64 " allowed",
                           lrel, size, (uint64_t)TSS_SNAP_MAX_FILE);
        goto out;
    }
    /* staged records past the disk's end extend it; a stage that starts
     * past the end is not this file's (the log was replaced) */
    end = size;
    if (staged && off <= size && off + nrec > size)
        end = off + nrec;
    if (end > TSS_SNAP_MAX_FILE)
        end = size;
    if (from > end) {
        rc = tss_error_set(TSS_ECORRUPT, "read %s: shorter than before", lrel);
        goto out;
    }
    len = (size_t)(end - from);
    if (len && !(buf = tss_malloc(len))) {
        rc = tss_error_set(TSS_ENOMEM, "read %s: out of memory", lrel);
        goto out;
    }
    if (from < size && (rc = tss_storage_pread(st, fd, lrel, buf,
                                               (size_t)(size - from), from)))
        goto out;
    if (end > size) {
        uint64_t at = from > size ? from : size;

        memcpy(buf + (at - from), srec + (at - off), (size_t)(end - at));
    }
    if (head) {
        memset(head, 0, 16);
        if (end >= 16 && from == 0) {
            memcpy(head, buf, 16);
        } else if (end >= 16) {
            uint64_t on_disk = size < 16 ? size : 16;

            if (on_disk &&
                (rc = tss_storage_pread(st, fd, lrel, head, on_disk, 0)))
                goto out;
            if (on_disk < 16)
                memcpy(head + on_disk, srec + (on_disk - off),
                       (size_t)(16 - on_disk));
        }
    }
    *out = buf;
    *outlen = len;
    buf = NULL;
out:
    if (fd >= 0)
        tss_storage_close_fd(st, fd);
    tss_free(buf);
    tss_free(sbuf);
    return rc;
}

/* ---- the writer ---------------------------------------------------- */

/* Moves stage file `srel` aside (".corrupt") with an ERROR saying why. */
static void fold_aside(tss_storage *sst, const char *path, const char *srel,
                       const char *why, tss_log_fn log, void *log_ctx)
{
    char aside[320];
    const char *name = strrchr(srel, '/') + 1;

    if (tss_storage_move_aside(sst, srel, ".corrupt", aside, sizeof(aside)) ==
        0)
        tss_log(log, log_ctx, TSS_LEVEL_ERR,
                "head snapshot stage %s/%s %s: not replayed; kept as %s", path,
                name, why, strrchr(aside, '/') + 1);
    else
        tss_log(log, log_ctx, TSS_LEVEL_ERR,
                "head snapshot stage %s/%s %s: not replayed, and not moved "
                "aside: %s",
                path, name, why, tss_error_last());
    tss_error_clear();
}

/* Folds one stage file (srel, of generation gen) into head/log-<gen>. 0,
 * or the disk log's I/O error. */
static int fold_one(tss_storage *st, tss_storage *sst, const char *path,
                    const char *srel, unsigned long long gen,
                    const uint64_t id[2], tss_log_fn log, void *log_ctx)
{
    char lrel[96], brel[96], why[320];
    uint8_t *buf = NULL;
    const uint8_t *rec;
    size_t len, nrec;
    uint64_t off, size = 0;
    tss_appender a = {.fd = -1};
    int64_t mtime;
    int rc, kind;

    snprintf(lrel, sizeof(lrel), TSS_HEAD_DIR "/log-%llu", gen);
    snprintf(brel, sizeof(brel), TSS_HEAD_DIR "/base-%llu.snap", gen);
    if (tss_storage_read_all(sst, srel, STAGE_MAX_FILE, &buf, &len) != 0) {
        snprintf(why, sizeof(why), "cannot be read (%s)", tss_error_last());
        fold_aside(sst, path, srel, why, log, log_ctx);
        return 0;
    }
    kind = stage_parse(buf, len, id, &off, &rec, &nrec);
    if (kind < 0) { /* another store's: not ours to touch */
        tss_free(buf);
        return 0;
    }
    if (kind == 0) {
        fold_aside(sst, path, srel, "is not a stage file", log, log_ctx);
        tss_free(buf);
        return 0;
    }
    if (!tss_snap_file_exists(st, brel)) {
        /* superseded: a newer base holds its points, and the writer
         * stopped before it removed this */
        (void)!tss_storage_remove(sst, srel);
        tss_free(buf);
        tss_error_clear();
        return 0;
    }
    rc = tss_storage_stat(st, lrel, &size, &mtime);
    if (rc == TSS_ENOTFOUND)
        rc = 0; /* size stays 0 */
    if (rc == 0 && off > size) {
        snprintf(why, sizeof(why),
                 "continues %s at byte %" PRIu64 ", past its end (%" PRIu64
                 " bytes)",
                 lrel, off, size);
        fold_aside(sst, path, srel, why, log, log_ctx);
        tss_free(buf);
        return 0;
    }
    if (rc == 0 && off + nrec > size) {
        /* the records the disk log lacks, appended and synced before
         * recovery reads it (a torn last record stays torn: recovery
         * drops it with a WARNING, as at the end of any log) */
        rc = tss_storage_appender_open(st, lrel, &a);
        if (rc == 0 && a.end != size)
            rc = tss_error_set(TSS_EIO, "%s changed while being read", lrel);
        if (rc == 0)
            rc = tss_storage_appender_write(st, &a, lrel, rec + (size - off),
                                            (size_t)(off + nrec - size));
        if (rc == 0)
            rc = tss_storage_sync_fd(st, a.fd, lrel);
        tss_storage_appender_close(st, &a);
        if (rc == 0)
            tss_log(log, log_ctx, TSS_LEVEL_INFO,
                    "head snapshot: %" PRIu64
                    " bytes of records staged in %s/%s moved to %s",
                    off + nrec - size, path, strrchr(srel, '/') + 1, lrel);
    }
    if (rc == 0)
        (void)!tss_storage_remove(sst, srel);
    tss_free(buf);
    return rc;
}

int tss_snap_stage_fold(tss_storage *st, tss_log_fn log, void *log_ctx)
{
    tss_storage *sst = NULL;
    char *path = stage_ref(st), **names = NULL;
    const char *leaf = NULL;
    size_t count = 0;
    uint64_t id[2];
    int rc = 0;

    if (!path)
        return 0;
    if ((rc = store_id(st, id)) != 0)
        goto out;
    if (stage_open(st->io, path, &sst, &leaf) != 0 ||
        tss_storage_list(sst, leaf, "log-", NULL, &names, &count) != 0) {
        tss_error_clear(); /* gone (a reboot): nothing waits */
        goto out;
    }
    for (size_t i = 0; i < count && rc == 0; i++) {
        char srel[300], *end;
        unsigned long long gen;

        errno = 0;
        gen = strtoull(names[i] + 4, &end, 10);
        if (errno || *end || end == names[i] + 4)
            continue;
        snprintf(srel, sizeof(srel), "%s/%s", leaf, names[i]);
        rc = fold_one(st, sst, path, srel, gen, id, log, log_ctx);
    }
    /* temp files of a stage file's start a kill cut short */
    if (rc == 0)
        (void)!tss_storage_remove_temps(sst, leaf);
out:
    tss_storage_names_free(names, count);
    tss_storage_close(sst);
    tss_free(path);
    tss_error_clear();
    return rc;
}

int tss_snap_stage_start(tss_snapshot *sn, const char *dir)
{
    char path[4096];
    uint8_t *cur = NULL;
    size_t len = 0;
    struct statfs fs;
    int r;

    if (!dir || !*dir) {
        (void)!tss_storage_remove(sn->st, TSS_SNAP_STAGE_REF);
        tss_error_clear();
        return 0;
    }
    if (dir[0] != '/' || store_id(sn->st, sn->stage_id) != 0 ||
        (size_t)snprintf(
            path, sizeof(path), "%s/tsstore-%s-%" PRIx64 "-%" PRIx64, dir,
            sn->info->uuid, sn->stage_id[0], sn->stage_id[1]) >= sizeof(path)) {
        tss_log(sn->log, sn->log_ctx, TSS_LEVEL_WARNING,
                "head snapshot stage directory \"%s\" is not usable (not an "
                "absolute path, or too long): records go straight to the log",
                dir);
        goto off;
    }
    /* on a disk it would write each record twice */
    r = statfs(dir, &fs);
    if (r != 0 || (fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC)) {
        tss_log(sn->log, sn->log_ctx, TSS_LEVEL_WARNING,
                "head snapshot stage directory \"%s\": %s; records go "
                "straight to the log",
                dir, r != 0 ? strerror(errno) : "not a memory file system");
        goto off;
    }
    sn->stage_path = tss_strdup(path);
    if (!sn->stage_path ||
        stage_open(sn->st->io, sn->stage_path, &sn->stage, &sn->stage_leaf) !=
            0 ||
        tss_storage_mkdirs(sn->stage, sn->stage_leaf) != 0) {
        tss_log(sn->log, sn->log_ctx, TSS_LEVEL_WARNING,
                "head snapshot stage directory not usable (records go "
                "straight to the log): %s",
                sn->stage_path ? tss_error_last() : "out of memory");
        tss_storage_close(sn->stage);
        sn->stage = NULL;
        goto off;
    }
    /* readers find it from head/stage */
    if (tss_storage_read_all(sn->st, TSS_SNAP_STAGE_REF, 4096, &cur, &len) !=
            0 ||
        len != strlen(path) + 1 || memcmp(cur, path, len - 1) != 0) {
        char line[4100];
        int n = snprintf(line, sizeof(line), "%s\n", path);

        if (tss_storage_write_atomic(sn->st, TSS_SNAP_STAGE_REF, line,
                                     (size_t)n) != 0) {
            tss_log(sn->log, sn->log_ctx, TSS_LEVEL_WARNING,
                    "head snapshot stage not started (records go straight "
                    "to the log): %s",
                    tss_error_last());
            tss_storage_close(sn->stage);
            sn->stage = NULL;
        }
    }
    tss_free(cur);
    /* made again at the first record */
    if (sn->stage)
        (void)sn->stage->io->unlinkat(sn->stage->rootfd, sn->stage_leaf,
                                      AT_REMOVEDIR);
    tss_error_clear();
    return 0;
off:
    (void)!tss_storage_remove(sn->st, TSS_SNAP_STAGE_REF);
    tss_error_clear();
    return 0;
}

static void stage_failed(tss_snapshot *sn, const char *what)
{
    tss_log(sn->log, sn->log_ctx, TSS_LEVEL_WARNING,
            "head snapshot stage %s: %s; records go straight to the log "
            "from now on",
            what, tss_error_last());
    tss_error_clear();
    sn->stage_failed = true;
}

/* Starts the stage file of the current generation, continuing the disk
 * log at its end (sn->logw open), in a directory made for it, holding
 * rest[n] (the bytes past that end that wait; n may be 0). It replaces the
 * previous stage file atomically: a reader finds either. */
static int stage_reset(tss_snapshot *sn, const uint8_t *rest, size_t n)
{
    tss_buf img = {0};
    int rc;

    tss_storage_appender_close(sn->stage, &sn->stagew);
    stage_name(sn->stage_rel, sizeof(sn->stage_rel), sn->stage_leaf, sn->gen);
    tss_buf_append(&img, STAGE_MAGIC, 8);
    tss_buf_put_u64(&img, sn->logw.end);
    tss_buf_put_u64(&img, sn->stage_id[0]);
    tss_buf_put_u64(&img, sn->stage_id[1]);
    if (!img.oom)
        tss_buf_put_u64(&img, tss_checksum(img.data, 32));
    tss_buf_append(&img, rest, n);
    if (img.oom)
        rc = tss_error_set(TSS_ENOMEM, "out of memory");
    else if ((rc = tss_storage_mkdirs(sn->stage, sn->stage_leaf)) == 0 &&
             (rc = tss_storage_write_atomic(sn->stage, sn->stage_rel, img.data,
                                            img.len)) == 0)
        rc = tss_storage_appender_open(sn->stage, sn->stage_rel, &sn->stagew);
    tss_buf_free(&img);
    return rc;
}

/* The disk log has every staged record (or a base holds their points):
 * the stage file goes, and its directory while empty (the next record
 * makes them again). A reader that read the file before finds its
 * records on disk. */
static void stage_clear(tss_snapshot *sn)
{
    tss_storage_appender_close(sn->stage, &sn->stagew);
    if (sn->stage_rel[0])
        (void)!tss_storage_remove(sn->stage, sn->stage_rel);
    sn->stage_rel[0] = '\0';
    (void)sn->stage->io->unlinkat(sn->stage->rootfd, sn->stage_leaf,
                                  AT_REMOVEDIR);
    tss_error_clear();
}

/* After records reached the disk log. */
static void stage_restart(tss_snapshot *sn)
{
    if (!sn->stage)
        return;
    stage_clear(sn);
    if (sn->stage_failed) {
        tss_storage_close(sn->stage);
        sn->stage = NULL;
    }
}

/* Appends buf[n] to the disk log; a failure may leave part of it there:
 * need_base (the stage file, if any, keeps the whole records, for the
 * next writer's start to complete the log with). */
static int disk_append(tss_snapshot *sn, const void *buf, size_t n)
{
    int rc = tss_storage_appender_write(sn->st, &sn->logw, sn->log_rel, buf, n);

    if (rc)
        sn->need_base = true;
    return rc;
}

/* Writes what waits to the disk log (the stage file stays); nothing is
 * held back after it. */
static int pending_to_disk(tss_snapshot *sn)
{
    int rc = 0;

    if (sn->pending.len)
        rc = disk_append(sn, sn->pending.data, sn->pending.len);
    sn->pending.len = 0;
    sn->held = 0;
    return rc;
}

int tss_snap_stage_flush(tss_snapshot *sn)
{
    int rc;

    if (sn->pending.len == 0)
        return 0;
    if ((rc = pending_to_disk(sn)) == 0)
        stage_restart(sn);
    return rc;
}

/*
 * Why whole pages: the disk log's last page, if a write leaves it unfilled,
 * is written back by the sync and dirtied again by the next write, and the
 * kernel charges the disk a whole page each time (docs/benchmarks.md, "Whole
 * pages"). So a sync writes the records only up to the last page boundary
 * they reach and leaves the rest staged, where a killed writer does not
 * lose it; the next sync writes those bytes first. Only bytes a sync held
 * back before are never held back again: with less than a page a sync
 * interval (a small store), they go as they are. A power cut so loses what
 * came after the last sync and, at most, the records of one unfilled page
 * from the sync before it.
 */
int tss_snap_stage_flush_pages(tss_snapshot *sn)
{
    const uint64_t page = 4096;
    uint64_t end = sn->logw.end, cut;
    size_t rest;
    int rc;

    if (sn->pending.len == 0 || sn->logw.fd < 0)
        return tss_snap_stage_flush(sn);
    cut = (end + sn->pending.len) / page * page;
    cut = cut > end ? cut - end : 0;
    if ((sn->held && cut <= sn->held) || cut == sn->pending.len)
        return tss_snap_stage_flush(sn);
    rest = sn->pending.len - (size_t)cut;
    if (cut == 0) { /* not a page yet: all of it waits, staged as it is */
        sn->held = rest;
        return 0;
    }
    if ((rc = disk_append(sn, sn->pending.data, (size_t)cut)) != 0)
        return rc; /* the stage file keeps every record */
    memmove(sn->pending.data, sn->pending.data + cut, rest);
    sn->pending.len = rest;
    sn->held = rest;
    /* the stage file now continues the disk log where it ends */
    if (stage_reset(sn, sn->pending.data, rest) != 0) {
        stage_failed(sn, "not restarted");
        return tss_snap_stage_flush(sn);
    }
    return 0;
}

int tss_snap_stage_append(tss_snapshot *sn, const uint8_t *rec, size_t n)
{
    int rc;

    if (n < STAGE_MAX && !sn->stage_failed) {
        if (sn->stagew.fd < 0 && stage_reset(sn, NULL, 0) != 0)
            stage_failed(sn, "not started");
        else if (tss_storage_appender_write(sn->stage, &sn->stagew,
                                            sn->stage_rel, rec, n) != 0)
            stage_failed(sn, "not written");
    }
    if (n < STAGE_MAX && !sn->stage_failed) {
        tss_buf_append(&sn->pending, rec, n);
        if (!sn->pending.oom)
            return sn->pending.len < STAGE_MAX ? 0
                                               : tss_snap_stage_flush_pages(sn);
        sn->pending.oom = false; /* what came before it is whole */
    }
    /* straight to the disk log, after what waits: a record of 64 KiB or
     * more fills pages of its own; or staging failed, or memory did. The
     * stage file keeps what it holds until the disk has it all */
    if ((rc = pending_to_disk(sn)) != 0 || (rc = disk_append(sn, rec, n)) != 0)
        return rc;
    stage_restart(sn);
    return 0;
}

void tss_snap_stage_switch(tss_snapshot *sn)
{
    sn->pending.len = 0; /* the new base holds their points */
    sn->held = 0;
    if (sn->stage)
        stage_clear(sn);
}

void tss_snap_stage_close(tss_snapshot *sn, bool flushed)
{
    if (sn->stage) {
        /* everything staged is on disk: the stage goes; else it stays
         * for the next writer's start to fold */
        if (flushed)
            stage_clear(sn);
        tss_storage_appender_close(sn->stage, &sn->stagew);
        tss_storage_close(sn->stage);
        sn->stage = NULL;
        sn->stage_leaf = NULL;
    }
    tss_free(sn->stage_path);
    sn->stage_path = NULL;
    tss_buf_free(&sn->pending);
}
