/*
 * Builds the fuzz targets' seed corpora from a real store.
 *
 *   fuzz_gen_corpus OUT_DIR        (OUT_DIR: tests/fuzz/corpus)
 *   fuzz_gen_corpus --store DIR    only build the store, in DIR (new), and
 *                                  keep it (scripts/test-sanitizers runs
 *                                  the CLI over it under valgrind)
 *
 * Makes a store in a temp directory with the public API — gauges with
 * NaN, ±Inf, -0.0 and decimal values, DERIVE at INT64_MIN/MAX, a COUNTER
 * wrapping at UINT64_MAX, ABSOLUTE, late points that make a second segment
 * of a window — snapshots the head (base and delta records), seals
 * (intent records), writes a delete document, applies it (tombstones),
 * compacts (a segment with a supersede list), and copies each kind of file
 * into OUT_DIR/<target>/ along the way, named store-*: the regress-* files
 * there are crash inputs and are left alone. A second store is rolled up
 * (gen_rollup: rollup segments, their sidecars and chunks, rollup and
 * prune request documents). The text targets (times, globs, option values,
 * plugin configurations) get hand-written seeds; the plugin configuration
 * target also the examples of config/.
 *
 * The store's uuids are random, so a second run writes different bytes of
 * the same structure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "meta.h"
#include "segment.h"
#include "series.h"
#include "wal.h"

#include "tsstore/mutation.h"
#include "tsstore/store.h"

#define SPAN_S 600
#define SPAN (SPAN_S * INT64_C(1000))
#define T0 INT64_C(1700000400000) /* aligned to SPAN */

static const char *out_dir;
static char store[512];
static unsigned serial;

static void die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, tss_error_last());
    exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "gen_corpus: cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes OUT_DIR/target/store-<tag>-<serial> (two buffers, concatenated). */
static void emit2(const char *target, const char *tag, const void *a,
                  size_t alen, const void *b, size_t blen)
{
    char path[1024];
    FILE *f;

    if (!out_dir)
        return;
    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/store-%s-%03u", out_dir, target, tag,
             serial++);
    f = fopen(path, "wb");
    if (!f || (alen && fwrite(a, 1, alen, f) != alen) ||
        (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
        fprintf(stderr, "gen_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static void emit(const char *target, const char *tag, const void *a,
                 size_t alen)
{
    emit2(target, tag, a, alen, NULL, 0);
}

static void emit_str(const char *target, const char *tag, const char *s)
{
    emit(target, tag, s, strlen(s));
}

/* Copies every file of store dir `rel` whose name ends in `suffix`. */
static void copy_dir(const char *rel, const char *suffix, const char *target,
                     const char *tag, unsigned max)
{
    char path[1024];
    DIR *d;
    struct dirent *de;
    unsigned n = 0;

    snprintf(path, sizeof(path), "%s/%s", store, rel);
    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d)) != NULL && n < max) {
        size_t nl = strlen(de->d_name), sl = strlen(suffix), len;
        char f[1300];
        uint8_t *buf;

        if (de->d_name[0] == '.' || nl < sl ||
            strcmp(de->d_name + nl - sl, suffix) != 0)
            continue;
        snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
        if ((buf = slurp(f, &len)) != NULL) {
            emit(target, tag, buf, len);
            free(buf);
            n++;
        }
    }
    closedir(d);
}

/* The newest head snapshot generation: u32 base length, base, log. */
static void copy_snapshot(const char *tag)
{
    char path[1024];
    DIR *d;
    struct dirent *de;
    uint64_t gen = 0;
    uint8_t *base, *log, len4[4];
    size_t blen, llen = 0;

    snprintf(path, sizeof(path), "%s/head", store);
    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d)) != NULL) {
        unsigned long long g;
        char end[16];

        if (sscanf(de->d_name, "base-%llu%15s", &g, end) == 2 &&
            strcmp(end, ".snap") == 0 && g > gen)
            gen = g;
    }
    closedir(d);
    if (!gen)
        return;
    snprintf(path, sizeof(path), "%s/head/base-%" PRIu64 ".snap", store, gen);
    if (!(base = slurp(path, &blen)))
        return;
    snprintf(path, sizeof(path), "%s/head/log-%" PRIu64, store, gen);
    log = slurp(path, &llen);
    tss_put_u32(len4, (uint32_t)blen);
    {
        uint8_t *all = malloc(4 + blen + llen);

        memcpy(all, len4, 4);
        memcpy(all + 4, base, blen);
        if (llen)
            memcpy(all + 4 + blen, log, llen);
        emit("snapshot", tag, all, 4 + blen + llen);
        free(all);
    }
    free(base);
    free(log);
}

/* Each series' chunk of every segment (rollup_only: of every rollup
 * segment, tagged rollup-<kind>): u8 kind, i64 window start, chunk. */
static void copy_chunks(unsigned max, bool rollup_only)
{
    tss_storage *st;
    char **names;
    size_t count;
    unsigned n = 0;

    if (tss_storage_open(&st, store, NULL, 0) != 0)
        die("storage");
    if (tss_storage_list(st, TSS_SEG_DIR, "", ".seg", &names, &count) != 0)
        die("list");
    for (size_t i = 0; i < count && n < max; i++) {
        char rel[300];
        tss_segment *seg;

        snprintf(rel, sizeof(rel), TSS_SEG_DIR "/%s", names[i]);
        if (tss_segment_open(&seg, st, rel) != 0)
            die(rel);
        if (rollup_only && seg->resolution == 0) {
            tss_segment_close(seg);
            continue;
        }
        for (size_t k = 0; k < seg->nentries && n < max; k++) {
            const tss_seg_entry *e = &seg->entries[k];
            uint8_t *buf = malloc(9 + e->len);
            char tag[32];

            buf[0] = (uint8_t)e->kind;
            tss_put_u64(buf + 1, (uint64_t)seg->name.start);
            if (tss_storage_pread(st, seg->fd, rel, buf + 9, (size_t)e->len,
                                  e->offset) != 0)
                die("pread");
            snprintf(tag, sizeof(tag), "%s%s", rollup_only ? "rollup-" : "",
                     tss_kind_name(e->kind));
            emit("chunk", tag, buf, 9 + e->len);
            free(buf);
            n++;
        }
        tss_segment_close(seg);
    }
    tss_storage_names_free(names, count);
    tss_storage_close(st);
}

static void copy_store_files(const char *tag)
{
    copy_dir("segments", ".seg", "segment", tag, 3);
    copy_dir("_coverage/segments", ".roar", "sidecar", tag, 3);
    copy_dir("_coverage/table", ".roar", "covtable", tag, 2);
    copy_dir("segments", ".tombstones", "tombstone", tag, 3);
    copy_dir("wal/mutations", ".json", "wal", tag, 3);
    copy_snapshot(tag);
}

static const tss_series_id ids[] = {
    {"web-01", "cpu", "0", "cpu", "idle", "value"},
    {"web-01", "interface", "eth0", "if_octets", "", "rx"},
    {"web-01", "interface", "eth0", "if_octets", "", "tx"},
    {"db/01 ü", "memory", "", "memory", "used", "value"},
    {"db/01 ü", "disk", "sda", "disk_ops", "", "read"},
    {"db/01 ü", "load", "", "load", "", "shortterm"},
};
static const int kinds[] = {TSS_KIND_GAUGE,   TSS_KIND_DERIVE,
                            TSS_KIND_DERIVE,  TSS_KIND_GAUGE,
                            TSS_KIND_COUNTER, TSS_KIND_ABSOLUTE};

static tss_value value_of(unsigned s, unsigned i)
{
    static const double specials[] = {NAN,      INFINITY, -INFINITY, -0.0,
                                      0.061523, 75894784, 1e-300,    1e300};
    tss_value v;

    switch (s) {
    case 0: /* decimal text values, then specials */
        v.gauge = i % 17 == 3 ? specials[(i / 17) % 8] : 90.0 + (i % 7) * 0.25;
        break;
    case 1: /* DERIVE around the extremes */
        v.bits = i % 3 == 0   ? (uint64_t)INT64_MAX - i
                 : i % 3 == 1 ? (uint64_t)INT64_MIN + i
                              : (uint64_t)(int64_t)i * 1000;
        break;
    case 2:
        v.bits = (uint64_t)(int64_t) - (int64_t)i;
        break;
    case 3: /* one NaN payload among integers */
        v.gauge = i == 5 ? -NAN : 75894784.0 + i * 4096;
        break;
    case 4: /* a counter that wraps */
        v.bits = UINT64_MAX - 40 + (uint64_t)i * 7;
        break;
    default:
        v.bits = (uint64_t)i * i;
        break;
    }
    return v;
}

/* Points of every series in [from, to), 10 s apart with jitter. */
static void fill(tss_store *s, int64_t from, int64_t to, unsigned salt)
{
    unsigned i = salt;

    for (int64_t t = from; t < to; t += 10000, i++)
        for (unsigned k = 0; k < 6; k++) {
            int64_t jitter = (int64_t)((i * 7 + k * 3) % 5) - 2;

            if (tss_store_append(s, &ids[k], kinds[k], t + jitter + k,
                                 value_of(k, i)) != 0)
                die("append");
        }
}

static void gen_store(void)
{
    tss_store_options o;
    tss_store *s;
    tss_delete_spec del = {0};
    char id[37];
    int64_t now;

    tss_store_options_init(&o);
    o.span_seconds = SPAN_S;
    o.bucket_seconds = 10;
    o.grace_seconds = 1;
    o.compact_after_segments = 0; /* tombstones stay until we compact */
    o.snapshot_sync_seconds = 0;
    o.log = fz_log;
    if (tss_store_open(&s, store, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o) != 0)
        die("open");
    now = tss_store_now(s);

    /* three windows in the head, snapshotted in steps: base + deltas */
    fill(s, T0, T0 + SPAN / 2, 0);
    if (tss_store_snapshot(s, now, TSS_SNAP_SYNC) != 0)
        die("snapshot");
    fill(s, T0 + SPAN / 2, T0 + SPAN, 60);
    if (tss_store_snapshot(s, now + 1000, TSS_SNAP_SYNC) != 0)
        die("snapshot");
    fill(s, T0 + SPAN, T0 + 3 * SPAN, 120);
    /* out of order and a duplicate timestamp */
    fill(s, T0 + SPAN + 5000, T0 + SPAN + 40000, 7);
    if (tss_store_snapshot(s, now + 2000, TSS_SNAP_SYNC) != 0)
        die("snapshot");
    copy_snapshot("head");

    /* seal the old windows (intent records, segments, coverage); the
     * points of the current window stay in the head */
    fill(s, now - now % SPAN, now - now % SPAN + 30000, 300);
    if (tss_store_seal(s, now + 2000, 0, NULL) != 0)
        die("seal");
    if (tss_store_snapshot(s, now + 3000, TSS_SNAP_SYNC) != 0)
        die("snapshot");
    copy_snapshot("sealed");
    copy_store_files("sealed");
    /* a delta record on the new base */
    fill(s, now - now % SPAN + 30000, now - now % SPAN + 60000, 330);
    if (tss_store_snapshot(s, now + 3500, TSS_SNAP_SYNC) != 0)
        die("snapshot");
    copy_snapshot("sealed-delta");

    /* late points: a second segment of the first window */
    fill(s, T0 + 100000, T0 + 160000, 400);
    if (tss_store_seal(s, now + 2000, 0, NULL) != 0)
        die("seal");
    copy_dir("segments", ".seg", "segment", "late", 6);

    /* a delete: document, tombstones, visible */
    del.series_glob = "web-01/interface-eth0/*";
    del.ds = "rx";
    del.has_from = del.has_to = 1;
    del.from = T0 + 60000;
    del.to = T0 + SPAN + 120000;
    if (tss_delete_create(s, &del, id) != 0)
        die("delete");
    copy_dir("wal/mutations", ".json", "wal", "intent", 3);
    if (tss_store_apply_mutations(s, now + 3000, NULL) != 0)
        die("apply");
    copy_store_files("deleted");

    /* compaction: one segment per window, with a supersede list */
    if (tss_compact_request(s, id) != 0)
        die("compact request");
    copy_dir("wal/mutations", ".json", "wal", "compact", 3);
    if (tss_store_compact(s, now + 4000, TSS_COMPACT_MERGE, NULL) != 0)
        die("compact");
    copy_store_files("compacted");
    copy_chunks(24, false);
    {
        char path[1024];
        uint8_t *buf;
        size_t len;

        snprintf(path, sizeof(path), "%s/STORE", store);
        if ((buf = slurp(path, &len)) != NULL) {
            emit("meta", "store", buf, len);
            free(buf);
        }
    }
    tss_store_close(s);
}

/* Documents in every state and kind the WAL holds, through the encoder. */
static void gen_wal(void)
{
    static const int states[] = {TSS_MS_INTENT, TSS_MS_APPLYING, TSS_MS_VISIBLE,
                                 TSS_MS_COMPACTED};
    tss_mut_target tg[2] = {
        {"1700000400000_1700001000000_1_0b9ab0f2-60a4-4f56-9f3c-"
         "2b3f2f0f8a11.seg",
         true},
        {"1700001000000_1700001600000_2_7c1f4a4e-0f7e-4a55-9d0c-"
         "8f0e3c1f2a3b.seg",
         false}};

    for (unsigned i = 0; i < 4; i++) {
        tss_mut m;
        uint8_t *out;
        size_t len;

        memset(&m, 0, sizeof(m));
        strcpy(m.id, "e72913ce-e11c-4fc8-9ba1-cb442d442eec");
        m.kind = i == 3 ? TSS_MUT_COMPACT : TSS_MUT_DELETE;
        m.state = states[i];
        m.created = 1795277357;
        m.updated = 1795277358 + i;
        m.series = i == 1 ? NULL : (char *)"myhost/cpu-[0-3]/*";
        m.ds = i == 2 ? (char *)"value" : NULL;
        m.has_from = i & 1;
        m.from = i == 1 ? INT64_MIN : -5;
        m.to = i == 2 ? INT64_MAX : 1795277357012;
        m.head_filtered = i >= 2;
        m.targets = tg;
        m.ntargets = i < 2 ? i : 2;
        m.points = i * 720;
        m.error = i == 1 ? (char *)"write segments/x: No space left" : NULL;
        if (tss_mut_encode(&m, &out, &len) != 0)
            die("mut encode");
        emit("wal", "doc", out, len);
        tss_free(out);
    }
}

static void gen_meta(void)
{
    static const struct {
        uint32_t ups;
        int64_t span, bucket;
    } v[] = {{1, 7200, 10},
             {1000000, 86400000000, 1000000},
             {1000000000, 600000000000, 10000000000}};

    for (unsigned i = 0; i < 3; i++) {
        tss_store_info info = {0};
        uint8_t *out;
        size_t len;

        info.format_version = 1;
        info.units_per_second = v[i].ups;
        info.span = v[i].span;
        info.bucket_width = v[i].bucket;
        info.created = 1795276166;
        strcpy(info.uuid, "9c1b6a4e-0f7e-4a55-9d0c-8f0e3c1f2a3b");
        if (tss_meta_encode(&info, &out, &len) != 0)
            die("meta encode");
        emit("meta", "prec", out, len);
        tss_free(out);
    }
}

static void gen_text(void)
{
    static const char *const times[] = {
        "1700000000",
        "1700000000.25",
        "-5.5",
        "+0.000000001",
        ".5",
        "2026-11-21T15:41:00Z",
        "2026-11-21T15:41:00.123+01:00",
        "2026-11-21 15:41:00.123456789-11:30",
        "1969-12-31T23:59:59.999999999Z",
        "0001-01-01T00:00:00.5z",
        "9999-12-31t23:59:59Z",
        "2024-02-29T00:00:00Z",
        "4611686018427387903",
        "-4611686018",
    };
#define G(s)                                                                   \
    {                                                                          \
        s, sizeof(s) - 1                                                       \
    }
    static const struct {
        const char *s;
        size_t n;
    } globs[] = {
        G("*\0web-01\0cpu\0"
          "0\0cpu\0idle\0value\0"),
        G("web-01/cpu-[0-3]/*\0web-01\0cpu\0"
          "2\0cpu\0idle\0value\0value"),
        G("*/interface-eth?/if_octets\0web-01\0interface\0eth0\0if_octets"
          "\0\0rx\0tx"),
        G("[!a-z]*/\\*/[[:digit:]]\0"
          "01\0*\0\0"
          "7\0\0value\0"),
        G("db/01 \xc3\xbc/memory/memory-used\0db/01 \xc3\xbc\0memory\0\0memory"
          "\0used\0value\0"),
    };
#undef G
    static const char *const confs[] = {
        "300",          "0.5",  "90s",       "5m",
        "2h",           "7d",   "1w",        "1y",
        "1e3",          "0x10", "268435456", "256M",
        "10G",          "1TiB", "4kB",       "s",
        "ms",           "us",   "ns",        "18446744073709551615",
        "17179869184T", "nan",  "-1",        "9.2e18",
    };
    char buf[128];

    for (unsigned i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        buf[0] = (char)(i % 8);
        snprintf(buf + 1, sizeof(buf) - 1, "%s", times[i]);
        emit("cli_time", "arg", buf, 1 + strlen(times[i]));
    }
    for (unsigned i = 0; i < sizeof(globs) / sizeof(globs[0]); i++)
        emit("glob", "id", globs[i].s, globs[i].n);
    for (unsigned i = 0; i < sizeof(confs) / sizeof(confs[0]); i++)
        emit_str("conf", "value", confs[i]);
}

/* Copies store file `rel` (if it exists) into OUT_DIR/target/. */
static void copy_file(const char *rel, const char *target, const char *tag)
{
    char path[1024];
    uint8_t *buf;
    size_t len;

    snprintf(path, sizeof(path), "%s/%s", store, rel);
    if ((buf = slurp(path, &len)) != NULL) {
        emit(target, tag, buf, len);
        free(buf);
    }
}

/* Creates a request document with `request` and copies it as it is on
 * disk (one file, before any other request exists beside it). */
static void copy_request(tss_store *s, int (*request)(tss_store *, char *),
                         const char *tag)
{
    char id[37], rel[128];

    if (request(s, id) != 0)
        die(tag);
    snprintf(rel, sizeof(rel), "wal/mutations/%s.json", id);
    copy_file(rel, "wal", tag);
}

/*
 * A store with two rollup levels (1 min after 1 d, 5 min after 3 d, kept
 * 30 d) in windows of 16 intervals (20 min and 80 min, at the 10 min span),
 * rolled up in two passes: the first turns an 80 min stretch into 1 min
 * rollups, the second folds those and late raw points beside them into
 * 5 min rollups and rolls a newer stretch up at 1 min. Its rollup segments
 * (header flag and resolution, per-aggregate chunks), their sidecars
 * (resolution as the interval), the table coverage and chunks of each
 * aggregate go into the corpora, tagged rollup*; so do the documents of a
 * rollup and a prune request and encoded ones in later states.
 */
static void gen_rollup(void)
{
    static const int states[] = {TSS_MS_APPLYING, TSS_MS_COMPACTED};
    const int64_t day = INT64_C(86400000);
    tss_store_options o;
    tss_store *s;
    char keep[512];

    snprintf(keep, sizeof(keep), "%s", store);
    snprintf(store, sizeof(store), "%s/rollup", fz_dir());
    tss_store_options_init(&o);
    o.span_seconds = SPAN_S;
    o.bucket_seconds = 10;
    o.grace_seconds = 1;
    o.compact_after_segments = 0;
    o.snapshot_sync_seconds = 0;
    o.rollups[0] = (tss_rollup_spec){86400, 60, 0};
    o.rollups[1] = (tss_rollup_spec){3 * 86400, 300, 30 * 86400};
    o.nrollups = 2;
    o.rollup_intervals = 16;
    o.log = fz_log;
    if (tss_store_open(&s, store, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o) != 0)
        die("open");

    /* pass 1, a day and 2 h later: 80 min at 1 min */
    fill(s, T0, T0 + 8 * SPAN, 500);
    if (tss_store_seal(s, T0 + day + 2 * 3600000, TSS_SEAL_ALL, NULL) != 0 ||
        tss_store_rollup(s, T0 + day + 2 * 3600000, NULL) != 0)
        die("rollup 1");
    copy_dir("segments", ".seg", "segment", "rollup1", 4);
    copy_dir("_coverage/segments", ".roar", "sidecar", "rollup1", 4);

    /* pass 2, three days and 2 h later: late points beside the 1 min
     * rollups, a newer stretch past the first level */
    fill(s, T0 + 100000, T0 + 300000, 900);
    fill(s, T0 + 2 * day, T0 + 2 * day + 2 * SPAN, 1000);
    if (tss_store_seal(s, T0 + 3 * day + 2 * 3600000, TSS_SEAL_ALL, NULL) !=
            0 ||
        tss_store_rollup(s, T0 + 3 * day + 2 * 3600000, NULL) != 0)
        die("rollup 2");
    copy_dir("segments", ".seg", "segment", "rollup2", 4);
    copy_dir("_coverage/segments", ".roar", "sidecar", "rollup2", 4);
    copy_dir("_coverage/table", ".roar", "covtable", "rollup2", 1);
    copy_chunks(24, true);

    copy_request(s, tss_rollup_request, "rollup-req");
    if (tss_store_apply_mutations(s, T0 + 3 * day + 3 * 3600000, NULL) != 0)
        die("apply rollup request");
    copy_request(s, tss_prune_request, "prune-req");
    tss_store_close(s);
    snprintf(store, sizeof(store), "%s", keep);

    for (unsigned i = 0; i < 2; i++) {
        tss_mut m;
        uint8_t *out;
        size_t len;

        memset(&m, 0, sizeof(m));
        strcpy(m.id, "3f6c2a1e-8b0d-4c57-a1f9-6d2e7b3c9a40");
        m.kind = i == 0 ? TSS_MUT_ROLLUP : TSS_MUT_PRUNE;
        m.state = states[i];
        m.created = 1795277357;
        m.updated = 1795277359;
        m.to = 1795277357000;
        m.error = i == 0 ? (char *)"rollup: write segments/x: EIO" : NULL;
        if (tss_mut_encode(&m, &out, &len) != 0)
            die("mut encode");
        emit("wal", "doc-request", out, len);
        tss_free(out);
    }
}

/*
 * The inside of the <Plugin> block of config/<name>.conf: as shipped, and
 * with every option turned on — a line whose '#' is followed by a
 * non-blank (#Option, #<Rollup>) or by two blanks (an option inside a
 * commented block) loses that '#'; "# text" stays a comment.
 */
static void emit_config_example(const char *name)
{
    char path[1024];
    uint8_t *buf;
    size_t len;
    char *text, *body, *end, *all, *o;

    snprintf(path, sizeof(path), "%s/%s.conf", TSS_CONFIG_DIR, name);
    if (!(buf = slurp(path, &len))) {
        fprintf(stderr, "gen_corpus: cannot read %s\n", path);
        exit(1);
    }
    text = fz_strndup(buf, len);
    free(buf);
    if (!(body = strstr(text, "\n<Plugin ")) || !(body = strchr(body, '>')) ||
        !(end = strstr(body, "\n</Plugin>"))) {
        fprintf(stderr, "gen_corpus: no <Plugin> block in %s\n", path);
        exit(1);
    }
    body++;
    *++end = '\0';
    emit_str("plugin_conf", "example", body);
    o = all = malloc(strlen(body) + 1);
    for (const char *line = body; *line;) {
        const char *nl = strchr(line, '\n'), *p = line;
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);

        while (*p == ' ')
            p++;
        if (*p == '#' && p < line + n - 1 &&
            (p[1] != ' ' || strncmp(p + 1, "  ", 2) == 0)) {
            memcpy(o, line, (size_t)(p - line));
            o += p - line;
            memcpy(o, p + 1, n - (size_t)(p - line) - 1);
            o += n - (size_t)(p - line) - 1;
        } else {
            memcpy(o, line, n);
            o += n;
        }
        line += n;
    }
    *o = '\0';
    emit_str("plugin_conf", "example-all", all);
    free(all);
    free(text);
}

/* Configurations each plugin refuses (or just accepts), one thing each. */
static void gen_plugin_conf(void)
{
    static const char *const bad[] = {
        "DataDir \"\"\n",
        "DataDir \"/x\" \"/y\"\nPrecision \"fs\"\nShards 0\n",
        "SegmentSpan \"1h\"\nBucketWidth \"7s\"\n",
        "SegmentSpan 3600.5\nGrace \"-1s\"\nSnapshotInterval \"0.5s\"\n",
        "Shards 4097\nCompactAfter -1\nMaxPendingBytes \"10Q\"\n"
        "RetentionSize 1 2\nRetentionTime true\n",
        "<Rollup>\n  After \"7d\"\n</Rollup>\n"
        "<Rollup>\n  Resolution \"1.5s\"\n  After 0\n  Keep \"1y\"\n"
        "  Junk 1\n</Rollup>\n",
        "<Rollup>\n After \"1d\"\n Resolution \"1m\"\n</Rollup>\n"
        "<Rollup>\n After \"2d\"\n Resolution \"5m\"\n</Rollup>\n"
        "<Rollup>\n After \"3d\"\n Resolution \"10m\"\n</Rollup>\n"
        "<Rollup>\n After \"4d\"\n Resolution \"20m\"\n</Rollup>\n"
        "<Rollup>\n After \"5d\"\n Resolution \"40m\"\n</Rollup>\n"
        "<Rollup>\n After \"6d\"\n Resolution \"1h\"\n</Rollup>\n"
        "<Rollup>\n After \"7d\"\n Resolution \"2h\"\n</Rollup>\n"
        "<Rollup>\n After \"8d\"\n Resolution \"1d\"\n</Rollup>\n"
        "<Rollup>\n After \"9d\"\n Resolution \"1w\"\n</Rollup>\n",
        "<Store \"a\">\n  DataDir \"/a\"\n  Missing 1.5\n"
        "  <Replay \"r\">\n    From \"2026-13-01T00:00:00Z\"\n    Rate 0\n"
        "    Trigger \"never\"\n    Target \"\"\n  </Replay>\n</Store>\n",
        "<Store \"a\">\n  DataDir \"/a\"\n  <Replay \"r\">\n"
        "    Series \"*\"\n  </Replay>\n</Store>\n"
        "<Store \"a\">\n  DataDir \"/b\"\n  <Replay \"r\">\n"
        "    Series \"h/*\"\n  </Replay>\n</Store>\n",
        "<Store \"\">\n</Store>\n<Store>\n  Missing \"3\"\n</Store>\nFoo 1\n",
        "<Store \"a\">\n  DataDir \"/a\"\n  Missing 3\n"
        "  <Replay \"x\">\n    Series \"h/cpu-[0-3]/*\"\n    From 1700000000\n"
        "    To \"2026-11-21T04:00:00.5+01:00\"\n    Rate 1e9\n"
        "    Target \"all\"\n    Trigger \"flush\"\n  </Replay>\n"
        "</Store>\n<Store \"b\">\n  DataDir \"/b\"\n</Store>\n",
    };

    emit_config_example("write_tsstore");
    emit_config_example("tsstore");
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        emit_str("plugin_conf", "conf", bad[i]);
}

static void clear_generated(void)
{
    static const char *const targets[] = {
        "segment",  "chunk", "sidecar",   "covtable",
        "snapshot", "wal",   "tombstone", "meta",
        "cli_time", "glob",  "conf",      "plugin_conf"};

    for (unsigned i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char path[1024];
        DIR *d;
        struct dirent *de;

        snprintf(path, sizeof(path), "%s/%s", out_dir, targets[i]);
        if (!(d = opendir(path)))
            continue;
        while ((de = readdir(d)) != NULL)
            if (strncmp(de->d_name, "store-", 6) == 0) {
                char f[1300];

                snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
                unlink(f);
            }
        closedir(d);
    }
}

/*
 * A head of 300 series, a base and delta records whose changed items span
 * three groups of ids (type 3 records), one of them with an out-of-order
 * point: the snapshot target's partial loads skip groups.
 */
static void gen_groups(void)
{
    tss_store_options o;
    tss_store *s;
    char keep[512], host[16];
    int64_t now;

    snprintf(keep, sizeof(keep), "%s", store);
    snprintf(store, sizeof(store), "%s/groups", fz_dir());
    tss_store_options_init(&o);
    o.span_seconds = SPAN_S;
    o.snapshot_sync_seconds = 0;
    o.log = fz_log;
    if (tss_store_open(&s, store, TSS_OPEN_CREATE | TSS_OPEN_WRITER, &o) != 0)
        die("open");
    now = tss_store_now(s);
    for (int round = 0; round < 3; round++) {
        for (int h = 0; h < 300; h++) {
            tss_series_id id = {host, "g", "", "gauge", "", "value"};
            tss_value v = {.gauge = h + round * 0.5};

            snprintf(host, sizeof(host), "h%03d", h);
            if ((round == 2 && h % 7) ||
                tss_store_append(s, &id, TSS_KIND_GAUGE,
                                 T0 + 10000 * (round + 1) + h, v) != 0)
                continue;
            if (round == 1 && h == 200)
                (void)!tss_store_append(s, &id, TSS_KIND_GAUGE, T0 + 5000, v);
        }
        if (tss_store_snapshot(s, now + round * 1000, TSS_SNAP_SYNC) != 0)
            die("snapshot");
    }
    copy_snapshot("groups");
    tss_store_close(s);
    snprintf(store, sizeof(store), "%s", keep);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--store") == 0) {
        snprintf(store, sizeof(store), "%s", argv[2]);
        gen_store();
        printf("gen_corpus: store built in %s\n", store);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR | --store DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    clear_generated();
    snprintf(store, sizeof(store), "%s/store", fz_dir());
    gen_store();
    gen_groups();
    gen_wal();
    gen_meta();
    gen_text();
    gen_rollup();
    gen_plugin_conf();
    printf("gen_corpus: %u files written under %s\n", serial, out_dir);
    return 0;
}
