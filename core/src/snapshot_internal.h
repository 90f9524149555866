/*
 * Private to the head snapshot module: what snapshot.c (the view, bases,
 * load, the writer's life) and snapshot_log.c (the delta log) share. The
 * module's interface and the on-disk format are in snapshot.h.
 */
#ifndef TSS_SNAPSHOT_INTERNAL_H
#define TSS_SNAPSHOT_INTERNAL_H

#include "series.h"
#include "snapshot.h"

/* The largest base or log a load reads. */
#define TSS_SNAP_MAX_FILE (UINT64_C(1) << 36)

struct tss_snapshot {
    tss_storage *st;
    const tss_store_info *info;
    tss_head *head;
    tss_log_fn log;
    void *log_ctx;
    uint64_t gen;
    /* the highest generation a base was written under, even if the write
     * failed: a write_new that failed after its link() leaves the file,
     * and the retry must not take its name */
    uint64_t tried;
    /* a corrupt log recovery could not move aside: never removed, and
     * moved aside at the next base (0: none) */
    uint64_t keep_log;
    /* the newest generation whose records the head holds (loaded at open,
     * or written since): a log of a generation up to it is superseded by
     * the next base; a log of a newer one without its base is not ours
     * (its base was removed by hand): moved aside, never removed */
    uint64_t safe_gen;
    tss_appender logw; /* log-<gen>, while open (logw.fd >= 0) */
    char log_rel[96];
    uint32_t next_id;
    bool need_base, unsynced;
    int64_t sync_interval, last_sync;
    tss_snapshot_stats stats;
    /* the staged log tail (snapshot_stage.c); stage NULL: records go
     * straight to log-<gen> */
    tss_storage *stage;
    char *stage_path;       /* the stage directory, for head/stage */
    const char *stage_leaf; /* its last component, in stage_path */
    tss_appender stagew;    /* stage_rel, while open */
    char stage_rel[96];     /* <leaf>/log-<gen>, in the storage rooted at
                               the stage directory's parent; "" none */
    tss_buf pending;        /* staged records the disk log lacks */
    size_t held;            /* of them, the bytes a sync held back (the
                               log's unfilled last page): the next sync
                               writes them whatever else it has */
    bool stage_failed;      /* staging stops once the disk has them */
    uint64_t stage_id[2];   /* the store directory's device and inode */
};

/* An intent record read back: the items (ids) that went to segment `rel`. */
typedef struct tss_snap_intent {
    char *rel;
    uint32_t *ids;
    size_t n;
} tss_snap_intent;

static inline int tss_snap_get_i64(tss_rd *r, int64_t *out)
{
    uint64_t z;

    if (!tss_rd_varint(r, &z))
        return -1;
    *out = tss_unzigzag(z);
    return 0;
}

static inline void tss_snap_put_i64(tss_buf *b, int64_t v)
{
    tss_buf_put_varint(b, tss_zigzag(v));
}

/* ---- snapshot.c: the view and its items (base parse and log replay) ---- */

/* Appends a zeroed item to the view; NULL when out of memory. */
tss_snap_item *tss_snap_view_push(tss_snap_view *v);

/* Appends an out-of-order point to an item. 0 or TSS_ENOMEM. */
int tss_snap_ooo_push(tss_snap_item *it, int64_t t, uint64_t bits);

/*
 * The previous key of a list of front-coded keys (base versions 2 and 3,
 * delta record types 4 and 5): each key is written as varint shared (its first
 * bytes in common with the previous key of the list), varint suffix length,
 * suffix. The items of a list are in key order, so neighbours share the host
 * and plugin. Zero it at the start of each list.
 */
typedef struct tss_snap_prevkey {
    uint8_t buf[TSS_KEY_MAX];
    size_t len;
    /* base version 3, delta record type 5: an item's window start, first
     * arrival and first time (a new item's t0; a base item's, when it has
     * points) are written as zigzag varint differences from the list's
     * previous ones (0 before the first), which the list's items mostly
     * share to within seconds */
    bool delta;
    int64_t start, arrival, t0;
} tss_snap_prevkey;

/* A list's prevkey, zeroed; `delta`: its fields as differences. */
static inline void tss_snap_prevkey_init(tss_snap_prevkey *pk, bool delta)
{
    pk->len = 0;
    pk->delta = delta;
    pk->start = pk->arrival = pk->t0 = 0;
}

/* a + d, wrapping (the writer's difference wraps too) */
static inline int64_t tss_snap_undiff(int64_t a, int64_t d)
{
    return (int64_t)((uint64_t)a + (uint64_t)d);
}

static inline int64_t tss_snap_diff(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a - (uint64_t)b);
}

/* Reads an item header into `it`: 0, -1 malformed, -2 out of memory.
 * With `pk`, the key is front-coded against pk (which it becomes); else it
 * is whole (varint length, bytes). Without `keep`, sets *key to the key's
 * bytes (in the reader's buffer, or in pk: valid until the next item),
 * allocating nothing. With span 0, does not check the key and the window
 * start (an item read over; tss_snap_item_check checks one later). */
int tss_snap_get_item_head(tss_rd *r, tss_snap_item *it, int64_t span,
                           bool keep, const uint8_t **key,
                           tss_snap_prevkey *pk);

/* Checks an item's key (it->key_len bytes) and window start against the
 * span, and sets up its encoder for the key's kind: 0, or -1 malformed. */
int tss_snap_item_check(tss_snap_item *it, const uint8_t *key, int64_t span);

/* Whether the items of `id`'s group are loaded (see tss_snap_view). */
static inline bool tss_snap_group_loaded(const tss_snap_view *v, uint64_t id)
{
    uint64_t g = id >> TSS_SNAP_GROUP_SHIFT;

    return !v->groups || (g < v->ngroups && v->groups[g]);
}

/* Marks `id`'s group loaded, growing v->groups. 0 or TSS_ENOMEM. */
int tss_snap_group_mark(tss_snap_view *v, uint64_t id, bool loaded);

/* The item of id `id`, or NULL: an id the view never got, or one a
 * partial view left out (it stores the items of its groups only). Moves
 * the view's by_id_hint: one thread per view, as for any change to it. */
tss_snap_item *tss_snap_by_id(tss_snap_view *v, uint64_t id);

/* ---- snapshot.c: the writer -------------------------------------------- */

/* Writes the header an item has in a base and in a delta's new items;
 * returns the offset of the key's bytes in b. */
size_t tss_snap_put_item_head(tss_buf *b, const tss_head_view *v);

/*
 * Items a base or delta record gives ids to, serialized in the order the
 * head visits them (its hash order): item i of them is bytes [off, off +
 * len) of a buffer, its key at key_off. The writer numbers them in key
 * order instead (then window start), so that the series of one host, one
 * plugin or one glob's literal start have neighbouring ids, in few groups
 * (TSS_SNAP_GROUP_SHIFT): what a partial load decodes.
 */
typedef struct tss_snap_slot {
    size_t off, len, key_off, key_len;
    int64_t start;
} tss_snap_slot;

/* A growable array of slots. */
typedef struct tss_snap_slots {
    tss_snap_slot *v;
    size_t n, cap;
} tss_snap_slots;

/* Appends a slot. 0 or TSS_ENOMEM. */
int tss_snap_slot_push(tss_snap_slots *s, const tss_snap_slot *x);

/*
 * The key order of the items staged with ids first + 1 .. first + s->n
 * (slot i has id first + 1 + i): *rank (tss_malloc'ed, the caller frees
 * it) gets each slot's position (its id becomes first + 1 + rank[i]: in the
 * file as written, and in the head's cursors at tss_snapshot_commit). 0 or
 * TSS_ENOMEM.
 */
int tss_snap_rank(const uint8_t *buf, const tss_snap_slots *s, uint32_t **rank);

/* What a list of items staged by tss_snap_put_item_head holds after each
 * head: a delta record's new items (t0, v0) or a base's items (count,
 * then t0 if count > 0, ...). */
enum tss_snap_list { TSS_SNAP_LIST_NEW, TSS_SNAP_LIST_BASE };

/* Appends the slots' bytes of buf to out in rank order (rank NULL: in
 * slot order), each key front-coded against the one before and the
 * window start, first arrival and t0 as differences (tss_snap_prevkey,
 * with delta). */
void tss_snap_put_ranked(tss_buf *out, const uint8_t *buf,
                         const tss_snap_slots *s, const uint32_t *rank,
                         enum tss_snap_list list);

/* Makes the cursors staged by a base or delta current (`ok`), or forgets
 * them; the staged ids first + 1 .. first + n get their key order ids
 * (rank: tss_snap_rank; NULL: as staged). */
void tss_snapshot_commit(tss_snapshot *sn, bool ok, uint32_t first, uint32_t n,
                         const uint32_t *rank);

/* ---- snapshot_stage.c: the staged log tail ---------------------------- */

/* The file in head/ naming the stage directory (one line, absolute). */
#define TSS_SNAP_STAGE_REF TSS_HEAD_DIR "/stage"

/*
 * Reads bytes [from, end) of generation gen's logical log: log-<gen> on
 * disk (lrel), then the staged records past its end. *out (malloc'd,
 * NULL when empty) and *outlen; head (if not NULL) gets the log's first
 * 16 bytes (zeros when shorter).
 * Errors: TSS_ENOTFOUND when neither exists, TSS_ECORRUPT when the log
 * is larger than a load reads or shorter than `from`, TSS_ENOMEM,
 * TSS_EIO. A stage that cannot be read is left out (the disk log alone).
 */
int tss_snap_log_read(tss_storage *st, uint64_t gen, const char *lrel,
                      uint64_t from, uint8_t **out, size_t *outlen,
                      uint8_t head[16]) TSS_WUR;

/* Writer, before recovery: appends to each log-<gen> the staged records
 * it lacks (and syncs it), then removes the stage files. 0 or the I/O
 * error of the disk log. */
int tss_snap_stage_fold(tss_storage *st, tss_log_fn log, void *log_ctx) TSS_WUR;
/* Writer: stages records in `dir`/tsstore-<uuid> (NULL or "": none, and
 * head/stage is removed). A directory it cannot use is a WARNING and no
 * staging; always 0. */
int tss_snap_stage_start(tss_snapshot *sn, const char *dir);
/* Appends record rec[n] to the stage (and to what waits for the disk);
 * moves what waits to the disk log once 64 KiB do. 0 or the disk log's
 * I/O error (need_base set). */
int tss_snap_stage_append(tss_snapshot *sn, const uint8_t *rec,
                          size_t n) TSS_WUR;
/* Writes what waits to the disk log and restarts the stage file. */
int tss_snap_stage_flush(tss_snapshot *sn) TSS_WUR;
/* The same for a sync (SnapshotSync, or 64 KiB waiting): only up to the
 * last page boundary of the disk log it reaches, unless that would hold
 * back bytes a sync held back before; the rest stays staged (see the
 * definition). 0 or the disk log's I/O error (need_base set). */
int tss_snap_stage_flush_pages(tss_snapshot *sn) TSS_WUR;
/* A new base is on disk: the old generation's stage file goes. */
void tss_snap_stage_switch(tss_snapshot *sn);
/* Closes the stage; `flushed`: the disk log has every record (the stage
 * file and directory are removed). */
void tss_snap_stage_close(tss_snapshot *sn, bool flushed);

/* ---- snapshot_log.c: replay of a log at recovery ----------------------- */

/* tss_snap_log_replay's answer for a partial view that a record needs
 * items of which the view left out: load again, whole or with a scan. */
#define TSS_SNAP_NEED_FULL 1

/* Replays the records of log `rel` (buf[len]) into the view, collecting
 * its intents (the caller frees them); see the definition. */
int tss_snap_log_replay(const uint8_t *buf, size_t len, const char *rel,
                        int64_t span, const tss_snap_sel *sel, tss_log_fn log,
                        void *log_ctx, tss_snap_view *v,
                        tss_snap_intent **intents, size_t *nint,
                        size_t *bad_off, const char **bad_why, size_t *done);

/* Marks in v->groups the groups of the ids of the log's new items (from
 * first_id on) that `sel` wants, and grows it to cover the others, up to
 * the first record that is not a whole frame or is malformed (the replay
 * stops there too; checksums are the replay's). 1: done; 0: the log holds
 * a type 1 delta record, whose items a partial load cannot skip (load
 * whole); -1: out of memory. */
int tss_snap_log_scan(const uint8_t *buf, size_t len, const tss_snap_sel *sel,
                      uint64_t first_id, tss_snap_view *v);

void tss_snap_intents_free(tss_snap_intent *in, size_t n);

/* ---- snapshot.c: the load, and what it leaves for a reader's cache ------ */

/* Where a load's replay of log-<gen> stopped, for snapshot_cache.c to read
 * on from there. */
typedef struct tss_snap_tail {
    uint64_t log_off;         /* bytes replayed: whole records */
    uint8_t log_head[16];     /* the log's first 16 bytes, when log_off >= 16:
                                 a log recreated under the same name differs */
    bool extendable;          /* read under its own name and undamaged (or
                                 not there yet): records appended later are
                                 the ones after log_off */
    tss_snap_intent *pending; /* intents whose segment did not exist */
    size_t npending;
} tss_snap_tail;

/* tss_snapshot_load, filling *tail (NULL: not wanted). */
int tss_snap_load_tail(tss_storage *st, const tss_store_info *info,
                       tss_log_fn log, void *log_ctx, bool repair,
                       const tss_snap_sel *sel, tss_snap_view *out,
                       tss_snap_tail *tail) TSS_WUR;

void tss_snap_tail_free(tss_snap_tail *t);

/* True if file `rel` exists (an intent's segment, a base). */
bool tss_snap_file_exists(tss_storage *st, const char *rel);

/* Marks dropped the items of intent `in` (its segment exists). */
void tss_snap_drop_intent(tss_snap_view *v, const tss_snap_intent *in);

/* Reports a log damaged at `off` and, with `aside`, moves it there; see
 * the definition. */
void tss_snap_log_damaged(tss_storage *st, tss_log_fn log, void *log_ctx,
                          tss_snap_view *v, const char *rel, const char *aside,
                          size_t off, size_t len, const char *why);

#endif /* TSS_SNAPSHOT_INTERNAL_H */
