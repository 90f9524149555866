/*
 * The fake collectd daemon of fake_collectd.h.
 */
#define _GNU_SOURCE
#include "fake_collectd.h"

#include "utils/common/common.h"
#include "utils/metadata/meta_data.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

fake_collectd fake_cd;

void module_register(void); /* the plugin's */

/* ---- clocks ---------------------------------------------------------- */

typedef int (*clock_fn)(clockid_t, struct timespec *);

/* Every CLOCK_REALTIME reading of the program, the store's included,
 * moved by wall_offset_ns; the monotonic clocks are left alone. */
int clock_gettime(clockid_t id, struct timespec *ts)
{
    static clock_fn real;
    int64_t t;
    int rc;

    if (!real)
        real = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
    rc = real(id, ts);
    if (rc != 0 || !fake_cd.wall_offset_ns ||
        (id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE))
        return rc;
    t = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + fake_cd.wall_offset_ns;
    ts->tv_sec = (time_t)(t / 1000000000);
    ts->tv_nsec = (long)(t % 1000000000);
    return 0;
}

cdtime_t cdtime(void)
{
    struct timespec ts;

    if (fake_cd.now)
        return fake_cd.now;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((cdtime_t)ts.tv_sec << 30) +
           (((cdtime_t)ts.tv_nsec << 30) + 500000000) / 1000000000;
}

cdtime_t fake_ms_to_cdtime(int64_t ms)
{
    return MS_TO_CDTIME_T(ms);
}

/* ---- records ---------------------------------------------------------- */

static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    void *na;

    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 256;
    na = realloc(arr, *cap * elem);
    assert_non_null(na);
    return na;
}

void fake_reset(void)
{
    free(fake_cd.values);
    free(fake_cd.notes);
    free(fake_cd.log);
    fake_cd.values = NULL;
    fake_cd.notes = NULL;
    fake_cd.log = NULL;
    fake_cd.nvalues = fake_cd.capvalues = 0;
    fake_cd.nnotes = fake_cd.capnotes = 0;
    fake_cd.nlog = fake_cd.caplog = 0;
    fake_cd.config_cb = NULL;
    fake_cd.init_cb = NULL;
    fake_cd.nreads = 0;
    fake_cd.flush_cb = NULL;
    memset(&fake_cd.flush_ud, 0, sizeof(fake_cd.flush_ud));
    fake_cd.write_fail = 0;
    fake_cd.writers = NULL;
    if (!fake_cd.interval)
        fake_cd.interval = TIME_T_TO_CDTIME_T(10);
}

void plugin_log(int level, const char *format, ...)
{
    fake_log_line *l;
    va_list ap;

    fake_cd.log =
        grow(fake_cd.log, &fake_cd.caplog, fake_cd.nlog, sizeof(*fake_cd.log));
    l = &fake_cd.log[fake_cd.nlog++];
    l->level = level;
    va_start(ap, format);
    vsnprintf(l->msg, sizeof(l->msg), format, ap);
    va_end(ap);
    if (fake_cd.verbose)
        fprintf(stderr, "[log %d] %s\n", level, l->msg);
}

size_t fake_log_count(int level, const char *needle)
{
    size_t n = 0;

    for (size_t i = 0; i < fake_cd.nlog; i++)
        if ((level < 0 || fake_cd.log[i].level == level) &&
            strstr(fake_cd.log[i].msg, needle))
            n++;
    return n;
}

static void print_log(void)
{
    for (size_t i = 0; i < fake_cd.nlog; i++)
        print_message("  [log %d] %s\n", fake_cd.log[i].level,
                      fake_cd.log[i].msg);
}

void fake_assert_log(int level, const char *needle)
{
    if (fake_log_count(level, needle) == 0) {
        print_log();
        fail_msg("no log line (level %d) containing \"%s\"", level, needle);
    }
}

void fake_assert_no_log(int level, const char *needle)
{
    for (size_t i = 0; i < fake_cd.nlog; i++)
        if ((level < 0 || fake_cd.log[i].level == level) &&
            strstr(fake_cd.log[i].msg, needle))
            fail_msg("unexpected log line: %s", fake_cd.log[i].msg);
}

/* ---- types.db ----------------------------------------------------------- */

static data_source_t ds_value_gauge[] = {{"value", DS_TYPE_GAUGE, NAN, NAN}};
static data_source_t ds_value_derive[] = {{"value", DS_TYPE_DERIVE, 0, NAN}};
static data_source_t ds_value_counter[] = {{"value", DS_TYPE_COUNTER, 0, NAN}};
static data_source_t ds_value_absolute[] = {
    {"value", DS_TYPE_ABSOLUTE, 0, NAN}};
static data_source_t ds_if_octets[] = {{"rx", DS_TYPE_DERIVE, 0, NAN},
                                       {"tx", DS_TYPE_DERIVE, 0, NAN}};
static data_source_t ds_load[] = {{"shortterm", DS_TYPE_GAUGE, 0, 5000},
                                  {"midterm", DS_TYPE_GAUGE, 0, 5000},
                                  {"longterm", DS_TYPE_GAUGE, 0, 5000}};

static data_set_t types_db[] = {
    {"gauge", 1, ds_value_gauge},
    {"count", 1, ds_value_gauge},
    {"bytes", 1, ds_value_gauge},
    {"duration", 1, ds_value_gauge},
    {"percent", 1, ds_value_gauge},
    {"pending_operations", 1, ds_value_gauge},
    {"derive", 1, ds_value_derive},
    {"total_values", 1, ds_value_derive},
    {"errors", 1, ds_value_derive},
    {"counter", 1, ds_value_counter},
    {"absolute", 1, ds_value_absolute},
    {"if_octets", 2, ds_if_octets},
    {"load", 3, ds_load},
};

const data_set_t *plugin_get_ds(const char *name)
{
    for (size_t i = 0; i < sizeof(types_db) / sizeof(types_db[0]); i++)
        if (strcmp(types_db[i].type, name) == 0)
            return &types_db[i];
    return NULL;
}

cdtime_t plugin_get_interval(void)
{
    return fake_cd.interval;
}

/* ---- meta data: only what the plugin uses ------------------------------- */

struct meta_data_s {
    char key[64];
    bool value, set;
};

meta_data_t *meta_data_create(void)
{
    return calloc(1, sizeof(meta_data_t));
}

void meta_data_destroy(meta_data_t *md)
{
    free(md);
}

int meta_data_add_boolean(meta_data_t *md, const char *key, bool value)
{
    if (!md || strlen(key) >= sizeof(md->key))
        return -1;
    strcpy(md->key, key);
    md->value = value;
    md->set = true;
    return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

static int record(const char *target, const value_list_t *vl)
{
    const data_set_t *ds = plugin_get_ds(vl->type);
    fake_value *v;

    assert_non_null(ds);
    assert_int_equal(vl->values_len, ds->ds_num);
    assert_true(vl->values_len <= FAKE_MAX_VALUES);
    fake_cd.values = grow(fake_cd.values, &fake_cd.capvalues, fake_cd.nvalues,
                          sizeof(*fake_cd.values));
    v = &fake_cd.values[fake_cd.nvalues++];
    memset(v, 0, sizeof(*v));
    snprintf(v->host, sizeof(v->host), "%s", vl->host);
    snprintf(v->plugin, sizeof(v->plugin), "%s", vl->plugin);
    snprintf(v->plugin_instance, sizeof(v->plugin_instance), "%s",
             vl->plugin_instance);
    snprintf(v->type, sizeof(v->type), "%s", vl->type);
    snprintf(v->type_instance, sizeof(v->type_instance), "%s",
             vl->type_instance);
    v->time = vl->time;
    v->interval = vl->interval;
    memcpy(v->values, vl->values, vl->values_len * sizeof(value_t));
    v->values_len = vl->values_len;
    v->replayed = vl->meta && vl->meta->set &&
                  strcmp(vl->meta->key, "tsstore:replayed") == 0 &&
                  vl->meta->value;
    snprintf(v->target, sizeof(v->target), "%s", target);
    return 0;
}

int plugin_dispatch_values(value_list_t const *vl)
{
    return record("", vl);
}

/* collectd 5.12 looks the name up among the write callbacks' names
 * (case-insensitive): the plugin's name for csv or rrdtool, but
 * "write_graphite/<Node>" for write_graphite. */
static bool is_writer(const char *name)
{
    size_t n = strlen(name);

    if (!fake_cd.writers)
        return true;
    for (const char *p = fake_cd.writers; *p;) {
        size_t len = strcspn(p, ",");

        if (len == n && strncasecmp(p, name, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

int plugin_write(const char *plugin, const data_set_t *ds,
                 const value_list_t *vl)
{
    assert_non_null(plugin); /* the plugin passes NULL never: dispatch */
    assert_ptr_equal(ds, plugin_get_ds(vl->type));
    if (!is_writer(plugin))
        return ENOENT;
    if (fake_cd.write_fail > 0) {
        fake_cd.write_fail--;
        return ENOSPC;
    }
    return record(plugin, vl);
}

int plugin_dispatch_notification(const notification_t *n)
{
    fake_notification *f;

    fake_cd.notes = grow(fake_cd.notes, &fake_cd.capnotes, fake_cd.nnotes,
                         sizeof(*fake_cd.notes));
    f = &fake_cd.notes[fake_cd.nnotes++];
    f->severity = n->severity;
    snprintf(f->host, sizeof(f->host), "%s", n->host);
    snprintf(f->plugin, sizeof(f->plugin), "%s", n->plugin);
    snprintf(f->plugin_instance, sizeof(f->plugin_instance), "%s",
             n->plugin_instance);
    snprintf(f->type, sizeof(f->type), "%s", n->type);
    snprintf(f->type_instance, sizeof(f->type_instance), "%s",
             n->type_instance);
    snprintf(f->message, sizeof(f->message), "%s", n->message);
    return 0;
}

/* ---- registration ------------------------------------------------------- */

int plugin_register_complex_config(const char *type,
                                   int (*callback)(oconfig_item_t *))
{
    /* write_tsstore's: the config fuzz target drives both plugins */
    assert_true(strcmp(type, "tsstore") == 0 ||
                strcmp(type, "write_tsstore") == 0);
    fake_cd.config_cb = callback;
    return 0;
}

int plugin_register_init(const char *name, plugin_init_cb callback)
{
    assert_true(strcmp(name, "tsstore") == 0 ||
                strcmp(name, "write_tsstore") == 0);
    fake_cd.init_cb = callback;
    return 0;
}

int plugin_register_complex_read(const char *group, const char *name,
                                 plugin_read_cb callback, cdtime_t interval,
                                 user_data_t const *ud)
{
    fake_read *r;

    (void)group;
    assert_true(fake_cd.nreads < sizeof(fake_cd.reads) / sizeof(*r));
    for (size_t i = 0; i < fake_cd.nreads; i++)
        assert_string_not_equal(fake_cd.reads[i].name, name);
    r = &fake_cd.reads[fake_cd.nreads++];
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->cb = callback;
    r->interval = interval;
    r->ud = *ud;
    return 0;
}

int plugin_register_flush(const char *name, plugin_flush_cb callback,
                          user_data_t const *ud)
{
    assert_string_equal(name, "tsstore");
    fake_cd.flush_cb = callback;
    fake_cd.flush_ud = *ud;
    return 0;
}

/* ---- configuration helpers (collectd's own messages) ----------------- */

int cf_util_get_string(const oconfig_item_t *ci, char **ret_string)
{
    char *s;

    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
        plugin_log(LOG_ERR,
                   "cf_util_get_string: The %s option requires "
                   "exactly one string argument.",
                   ci->key);
        return -1;
    }
    if (!(s = strdup(ci->values[0].value.string)))
        return -1;
    free(*ret_string);
    *ret_string = s;
    return 0;
}

int cf_util_get_int(const oconfig_item_t *ci, int *ret_value)
{
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
        plugin_log(LOG_ERR,
                   "cf_util_get_int: The %s option requires "
                   "exactly one numeric argument.",
                   ci->key);
        return -1;
    }
    *ret_value = (int)ci->values[0].value.number;
    return 0;
}

int cf_util_get_double(const oconfig_item_t *ci, double *ret_value)
{
    if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER) {
        plugin_log(LOG_ERR,
                   "cf_util_get_double: The %s option requires "
                   "exactly one numeric argument.",
                   ci->key);
        return -1;
    }
    *ret_value = ci->values[0].value.number;
    return 0;
}

char *sstrerror(int errnum, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s", strerror(errnum));
    return buf;
}

char *sstrncpy(char *dest, const char *src, size_t n)
{
    strncpy(dest, src, n);
    dest[n - 1] = '\0';
    return dest;
}

/* ---- config text -------------------------------------------------------- */

/* Deeper blocks are refused: collectd's own configs nest three deep, and
 * the fuzz target (tests/fuzz/fuzz_plugin_conf.c) must not recurse
 * without bound. */
#define CONF_MAX_DEPTH 16

static int add_value(oconfig_item_t *it, oconfig_value_t v)
{
    oconfig_value_t *nv =
        realloc(it->values, (size_t)(it->values_num + 1) * sizeof(v));

    if (!nv)
        return -1;
    it->values = nv;
    it->values[it->values_num++] = v;
    return 0;
}

/* Parses the arguments after a key, up to the end of the line or '>';
 * NULL on a syntax error. */
static const char *conf_values(oconfig_item_t *it, const char *p)
{
    for (;;) {
        oconfig_value_t v = {0};

        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '\n' || *p == '>' || *p == '#')
            return p;
        if (*p == '"') {
            char *buf = malloc(strlen(p));
            size_t n = 0;

            if (!buf)
                return NULL;
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                buf[n++] = *p;
            }
            if (*p != '"') {
                free(buf);
                return NULL;
            }
            p++;
            buf[n] = '\0';
            v.type = OCONFIG_TYPE_STRING;
            v.value.string = buf;
        } else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
            v.type = OCONFIG_TYPE_BOOLEAN;
            v.value.boolean = *p == 't';
            p += *p == 't' ? 4 : 5;
        } else {
            char *end;

            v.type = OCONFIG_TYPE_NUMBER;
            v.value.number = strtod(p, &end);
            if (end == p)
                return NULL;
            p = end;
        }
        if (add_value(it, v) != 0) {
            if (v.type == OCONFIG_TYPE_STRING)
                free(v.value.string);
            return NULL;
        }
    }
}

static oconfig_item_t *add_child(oconfig_item_t *parent, const char **pp)
{
    const char *p = *pp;
    oconfig_item_t *it, *nc;
    size_t n = 0;

    while (isalnum((unsigned char)p[n]) || p[n] == '_')
        n++;
    if (!n)
        return NULL;
    nc = realloc(parent->children,
                 (size_t)(parent->children_num + 1) * sizeof(*nc));
    if (!nc)
        return NULL;
    parent->children = nc;
    it = &parent->children[parent->children_num++];
    /* parent stays NULL: the array moves as siblings are added, and the
     * plugin never looks up */
    memset(it, 0, sizeof(*it));
    if (!(it->key = strndup(p, n)) || !(*pp = conf_values(it, p + n)))
        return NULL;
    return it;
}

/* Children of one block until its closing tag (or the end at depth 0);
 * NULL on a syntax error. */
static const char *parse_block(oconfig_item_t *block, const char *p, int depth)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (!*p)
            return depth == 0 ? p : NULL;
        if (p[0] == '<' && p[1] == '/') {
            if (depth == 0 || !(p = strchr(p, '>')))
                return NULL;
            return p + 1;
        }
        if (*p == '<') {
            size_t i;

            p++;
            if (depth + 1 > CONF_MAX_DEPTH || !add_child(block, &p) ||
                *p != '>')
                return NULL;
            i = (size_t)block->children_num - 1;
            if (!(p = parse_block(&block->children[i], p + 1, depth + 1)))
                return NULL;
            continue;
        }
        if (!add_child(block, &p))
            return NULL;
    }
}

oconfig_item_t *fake_conf_parse(const char *text)
{
    oconfig_item_t *root = calloc(1, sizeof(*root));
    oconfig_value_t v = {.type = OCONFIG_TYPE_STRING};

    if (!root)
        return NULL;
    root->key = strdup("Plugin");
    v.value.string = strdup("tsstore");
    if (!root->key || !v.value.string || add_value(root, v) != 0) {
        free(v.value.string);
        fake_conf_free(root);
        return NULL;
    }
    if (!parse_block(root, text, 0)) {
        fake_conf_free(root);
        return NULL;
    }
    return root;
}

oconfig_item_t *fake_conf(const char *text)
{
    oconfig_item_t *root = fake_conf_parse(text);

    if (!root)
        fail_msg("config: syntax error in \"%.40s\"", text);
    return root;
}

static void conf_free_inner(oconfig_item_t *ci)
{
    for (int i = 0; i < ci->values_num; i++)
        if (ci->values[i].type == OCONFIG_TYPE_STRING)
            free(ci->values[i].value.string);
    free(ci->values);
    for (int i = 0; i < ci->children_num; i++)
        conf_free_inner(&ci->children[i]);
    free(ci->children);
    free(ci->key);
}

void fake_conf_free(oconfig_item_t *ci)
{
    if (!ci)
        return;
    conf_free_inner(ci);
    free(ci);
}

int fake_configure(const char *text)
{
    oconfig_item_t *ci = fake_conf(text);
    int rc;

    module_register();
    assert_non_null(fake_cd.config_cb);
    rc = fake_cd.config_cb(ci);
    fake_conf_free(ci);
    return rc;
}

/* ---- driving the plugin ------------------------------------------------- */

int fake_init(void)
{
    if (!fake_cd.config_cb)
        module_register();
    assert_non_null(fake_cd.init_cb);
    return fake_cd.init_cb();
}

bool fake_has_read(const char *name)
{
    for (size_t i = 0; i < fake_cd.nreads; i++)
        if (strcmp(fake_cd.reads[i].name, name) == 0)
            return true;
    return false;
}

void fake_run_read(const char *name)
{
    for (size_t i = 0; i < fake_cd.nreads; i++)
        if (strcmp(fake_cd.reads[i].name, name) == 0) {
            assert_int_equal(fake_cd.reads[i].cb(&fake_cd.reads[i].ud), 0);
            return;
        }
    fail_msg("no read callback named %s", name);
}

void fake_flush(void)
{
    assert_non_null(fake_cd.flush_cb);
    assert_int_equal(fake_cd.flush_cb(0, NULL, &fake_cd.flush_ud), 0);
}

void fake_shutdown(void)
{
    if (fake_cd.flush_ud.free_func)
        fake_cd.flush_ud.free_func(fake_cd.flush_ud.data);
    for (size_t i = 0; i < fake_cd.nreads; i++)
        if (fake_cd.reads[i].ud.free_func)
            fake_cd.reads[i].ud.free_func(fake_cd.reads[i].ud.data);
    memset(&fake_cd.flush_ud, 0, sizeof(fake_cd.flush_ud));
    fake_cd.nreads = 0;
    fake_cd.flush_cb = NULL;
}
