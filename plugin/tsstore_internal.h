/*
 * Private to the tsstore read plugin: the state that tsstore.c
 * (configuration, callbacks, health, missing data) and tsstore_replay.c
 * (replay) share, and the functions each calls in the other. Hidden like
 * everything but module_register (-fvisibility=hidden).
 */
#ifndef TSS_PLUGIN_TSSTORE_INTERNAL_H
#define TSS_PLUGIN_TSSTORE_INTERNAL_H

#include "collectd.h"

#include "plugin.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "log_limit.h"
#include "tsstore/query.h"
#include "tsstore/store.h"

/* uthash reports an allocation failure instead of exiting: collectd must
 * not exit (the flag is tsstore.c's, the only user of the macros) */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (miss_oom = true)
#include <uthash.h>

#define PLUGIN "tsstore"
#define LOG_PREFIX PLUGIN " plugin: "
/* How often the replay callback runs: each run dispatches Rate x the time
 * elapsed since the last one (at most MAX_BURST_S worth). */
#define REPLAY_TICK_MS 100
#define MAX_BURST_S 1.0
#define SERIES_MAX 1024 /* bytes of a Series pattern */
#define MAX_DS 16       /* data sources of a type we replay */

typedef struct pt_list {
    tss_point *pts;
    size_t n;
} pt_list;

/* A group: the identifier host/plugin/pinst/type/tinst as its five
 * fields joined by NUL (the order of the store's keys), plus its length. */
#define GROUP_MAX (5 * 256)

enum { RS_IDLE, RS_RUNNING, RS_DONE };

typedef struct replay {
    char *name, *series, *target; /* target NULL: all writers */
    bool has_from, has_to, on_flush;
    int64_t from, to; /* store units, set when the store is first open */
    char *from_text, *to_text;
    double rate; /* points per second */
    /* runtime */
    int state;            /* RS_* */
    bool broken;          /* From/To do not fit the store: never runs */
    bool loaded;          /* its position is read */
    bool flush_requested; /* by ts_flush; applied in the replay callback */
    double credit;        /* points the rate allows now */
    cdtime_t last_tick, last_progress;
    tss_query *q;
    uint64_t mut_token;      /* tss_store_change_token when q was opened */
    cdtime_t mut_checked;    /* when the token was last compared */
    tss_series_info pending; /* first series of the next group */
    bool have_pending;
    char group[GROUP_MAX];
    size_t group_len;
    char fields[5][256];
    pt_list ds_pts[MAX_DS]; /* the group's points, per data source */
    size_t ds_pos[MAX_DS], nds;
    const data_set_t *ds;
    cdtime_t group_interval; /* the spacing of the group's points */
    int64_t pos_t;           /* last time dispatched in pos_group */
    char pos_group[GROUP_MAX];
    size_t pos_len;
    bool has_pos; /* a restored position not yet passed */
    uint64_t dispatched;
    bool dirty;
    /* a failed write is tried again at retry_at, after one read interval,
     * doubled with each failure in a row up to RETRY_MAX_S: not at every
     * 100 ms tick (the target logs its own error each time) */
    cdtime_t retry_at;
    unsigned failures;
} replay;

/* What `Missing` knows of a series: quiet when first seen silent (it
 * raises nothing until it has reported), reporting, or warned (a warning
 * went out; the next okay clears it). */
enum miss_phase { MISS_QUIET, MISS_REPORTING, MISS_WARNED };

typedef struct miss_state {
    char *ident; /* host/plugin[-pinst]/type[-tinst]; the hash key */
    enum miss_phase phase;
    UT_hash_handle hh;
} miss_state;

typedef struct tstore {
    char *name, *data_dir;
    int missing; /* intervals; 0: off */
    replay *replays;
    size_t nreplays;
    tss_store *s;
    miss_state *miss; /* uthash by ident */
    /* DataDir's identity (device, inode, birth time) when the handle was
     * opened: compared every interval, so a store replaced or removed at
     * run time is noticed and read again from its path */
    uint64_t dir_id[3];
    time_t last_moved;      /* the last "replaced" warning (rate limit) */
    tss_log_limit core_log; /* the core's log lines (ts_log) */
    time_t last_complaint;
    char last_what[1024]; /* the error last reported (ts_complain) */
    int complaint_changes;
} tstore;

/* tsstore.c: a store's error, rate-limited (logged every few minutes). */
void ts_complain(tstore *t, const char *what);

/* tsstore.c: an error of replay r, logged as `<Store "s"> <Replay "r">:
 * what`, rate-limited with the store's errors. */
void ts_complain_replay(tstore *t, const replay *r, const char *what);

/* tsstore_replay.c: the name of r's position file in replay/,
 * "<store>-<replay>" with characters other than alphanumerics, '.' and '-'
 * made '_'. */
void ts_state_name(char *out, size_t size, const tstore *t, const replay *r);

/* The longest position file (ts_format_position). */
#define POS_FILE_MAX (256 + 2 * GROUP_MAX + 2 * SERIES_MAX + 2 * 256)

/* r's position file (its format: tsstore_replay.c) into out[size], size
 * at least POS_FILE_MAX; returns its length. */
size_t ts_format_position(char *out, size_t size, const replay *r);

/* Parses the text of a position file (NUL-terminated) into r's
 * state, pos_t, dispatched, pos_group/pos_len and has_pos; returns 0, or
 * -1 when it is not one (r's position fields then unspecified). Sets
 * *same_def when its definition matches r's configuration (Series, From,
 * To, Target). */
int ts_parse_position(replay *r, const char *buf, bool *same_def);

/* Writes r's position if it moved (errors: ts_complain). */
void ts_save_position(tstore *t, replay *r);

/* Reads r's position, once t is open; -1: retry on the next run. */
int ts_load_position(tstore *t, replay *r);

/* Puts the From/To of t's replays in the store's units (once it is open). */
void ts_parse_times(tstore *t);

/* One run of the replay callback for r (at `now`; `dflt`: the interval of
 * groups with too few points to tell theirs). */
void ts_replay_step(tstore *t, replay *r, cdtime_t now, cdtime_t dflt);

/* Stops r and forgets its position, to be read again from the store
 * (which was replaced) the next time the store is open. */
void ts_replay_detach(replay *r);

/* Stops r and frees what it holds (not r itself). */
void ts_replay_free(replay *r);

#endif /* TSS_PLUGIN_TSSTORE_INTERNAL_H */
