/*
 * A fake collectd daemon for the read plugin's unit tests: the daemon
 * functions plugin/tsstore*.c call (plugin_register_*, plugin_dispatch_*,
 * plugin_write, plugin_log, cf_util_get_*, meta_data_*, plugin_get_ds,
 * plugin_get_interval, cdtime, sstrncpy, sstrerror), implemented here so the
 * plugin links into a test program, and recording what the plugin registers,
 * dispatches, writes, notifies and logs.
 *
 * Clocks: cdtime() returns fake_cd.now when it is set (replay rate tests
 * step it); the wall clock of the whole program (CLOCK_REALTIME, which
 * the store's tss_store_now reads) is moved by fake_cd.wall_offset_ns, so
 * a test can let a series fall silent without waiting.
 *
 * Single-threaded use only.
 */
#ifndef TSS_FAKE_COLLECTD_H
#define TSS_FAKE_COLLECTD_H

#include "collectd.h"

#include "plugin.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_MAX_VALUES 16

/** One value list the plugin handed to collectd. */
typedef struct fake_value {
    char host[DATA_MAX_NAME_LEN], plugin[DATA_MAX_NAME_LEN],
        plugin_instance[DATA_MAX_NAME_LEN], type[DATA_MAX_NAME_LEN],
        type_instance[DATA_MAX_NAME_LEN];
    cdtime_t time, interval;
    value_t values[FAKE_MAX_VALUES];
    size_t values_len;
    bool replayed;   /**< meta data "tsstore:replayed" is true */
    char target[64]; /**< plugin_write's plugin; "" for dispatch_values */
} fake_value;

typedef struct fake_notification {
    int severity;
    char host[DATA_MAX_NAME_LEN], plugin[DATA_MAX_NAME_LEN],
        plugin_instance[DATA_MAX_NAME_LEN], type[DATA_MAX_NAME_LEN],
        type_instance[DATA_MAX_NAME_LEN];
    char message[NOTIF_MAX_MSG_LEN];
} fake_notification;

typedef struct fake_log_line {
    int level;
    char msg[1024];
} fake_log_line;

typedef struct fake_read {
    char name[64];
    plugin_read_cb cb;
    cdtime_t interval;
    user_data_t ud;
} fake_read;

typedef struct fake_collectd {
    /* registrations */
    int (*config_cb)(oconfig_item_t *);
    plugin_init_cb init_cb;
    fake_read reads[4];
    size_t nreads;
    plugin_flush_cb flush_cb;
    user_data_t flush_ud;
    /* records (grown as needed; freed by fake_reset) */
    fake_value *values;
    size_t nvalues, capvalues;
    fake_notification *notes;
    size_t nnotes, capnotes;
    fake_log_line *log;
    size_t nlog, caplog;
    /* knobs */
    cdtime_t now;           /**< cdtime(); 0: the real clock */
    cdtime_t interval;      /**< plugin_get_interval() */
    int64_t wall_offset_ns; /**< added to CLOCK_REALTIME */
    int write_fail;         /**< plugin_write fails this many more times */
    bool verbose;           /**< also print log lines to stderr */
    /** Write callbacks registered, comma-separated ("csv,write_graphite/g");
     * plugin_write to another name fails with ENOENT, as collectd's does.
     * NULL: every name is one. */
    const char *writers;
} fake_collectd;

extern fake_collectd fake_cd;

/** Forgets records and registrations (not the clocks). */
void fake_reset(void);

/** Parses a collectd.conf fragment (the inside of <Plugin tsstore>) into
 * an item tree; fails the test on a syntax error. Free with fake_conf_free.
 * Values: "strings" (\" and \\ escapes), numbers, true/false. */
oconfig_item_t *fake_conf(const char *text);

/** fake_conf that returns NULL on a syntax error (or blocks nested more
 * than 16 deep) instead of failing: for the fuzz target. */
oconfig_item_t *fake_conf_parse(const char *text);
void fake_conf_free(oconfig_item_t *ci);

/** module_register(), then the config callback with `text`; returns what
 * the callback returned. */
int fake_configure(const char *text);

/** collectd's init: module_register() first if fake_configure did not
 * run it (no <Plugin tsstore> block), then the init callback; returns what
 * it returned. */
int fake_init(void);

/** Runs the read callback named `name` ("tsstore", "tsstore/replay");
 * fails the test if it is not registered or does not return 0. */
void fake_run_read(const char *name);

/** True if a read callback named `name` is registered. */
bool fake_has_read(const char *name);

/** Calls the flush callback (collectdctl flush plugin=tsstore). */
void fake_flush(void);

/** collectd's shutdown: frees the flush callback's user data. */
void fake_shutdown(void);

/** Number of log lines at `level` (-1: any) containing `needle`. */
size_t fake_log_count(int level, const char *needle);

/** Fails the test, printing the log, unless a line at `level` (-1: any)
 * contains `needle`. */
void fake_assert_log(int level, const char *needle);

/** Fails the test, printing the line, if one at `level` (-1: any) contains
 * `needle`. */
void fake_assert_no_log(int level, const char *needle);

/** Store units (ms) to cdtime_t, rounded as collectd's MS_TO_CDTIME_T. */
cdtime_t fake_ms_to_cdtime(int64_t ms);

#endif
