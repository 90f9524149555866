/*
 * Fuzz target: the collectd plugins' configuration callbacks —
 * write_tsstore's (wt_config, its <Rollup> blocks, the value parsers of
 * conf_util.c behind them) and the read plugin's (tsstore.c ts_config:
 * <Store>, <Replay>, times through cli_time.c, the uniqueness checks).
 *
 * Input: collectd config text, the inside of a <Plugin ...> block (both
 * plugins get the same tree; each rejects what is the other's). It is
 * parsed into an oconfig tree by the fake daemon of the plugin tests
 * (tests/plugin/fake_collectd.c, whose parser refuses what it does not
 * understand: such inputs stop there). Each plugin's module_register
 * registers its complex-config callback with the fake daemon, which the
 * target then calls, as collectd does. Init is never run (no store is
 * opened, no thread started): write_tsstore's state is freed as its init
 * would free an invalid configuration, the read plugin's through its
 * registered callbacks' free functions (collectd's shutdown), so
 * LeakSanitizer sees everything either callback allocated.
 *
 * Properties: a callback that refuses the configuration says why (an
 * ERROR line with the plugin's prefix); write_tsstore marks its state
 * valid exactly when it accepts; the read plugin registers its read
 * callback exactly when it accepts.
 */
#include <string.h>

#include "fuzz_common.h"

#include "fake_collectd.h"
#include "utils/metadata/meta_data.h"

void fuzz_wt_module_register(void); /* plugin_conf_wt.c */
bool fuzz_wt_release(void);
void module_register(void); /* tsstore.c */

/* The daemon functions write_tsstore references beyond those of the read
 * plugin's fake: only its init and write paths call them. */
int plugin_register_write(const char *name, plugin_write_cb callback,
                          user_data_t const *ud)
{
    (void)name;
    (void)callback;
    (void)ud;
    return 0;
}

int plugin_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                         void *arg, char const *name)
{
    (void)thread;
    (void)start_routine;
    (void)arg;
    (void)name;
    return -1;
}

int meta_data_exists(meta_data_t *md, const char *key)
{
    (void)md;
    (void)key;
    return 0;
}

static int configure(void (*reg)(void), oconfig_item_t *ci)
{
    fake_reset();
    reg();
    FZ_CHECK(fake_cd.config_cb != NULL);
    return fake_cd.config_cb(ci);
}

/* TSS_FUZZ_VERBOSE=1: print the plugins' log lines (reproducing). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fake_cd.verbose = getenv("TSS_FUZZ_VERBOSE") != NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fz_strndup(data, size);
    oconfig_item_t *ci = fake_conf_parse(text);
    int rc;

    free(text);
    if (!ci)
        return 0;

    rc = configure(fuzz_wt_module_register, ci);
    FZ_CHECK((rc == 0) == fuzz_wt_release());
    if (rc != 0)
        FZ_CHECK(fake_log_count(LOG_ERR, "write_tsstore plugin: ") > 0);

    rc = configure(module_register, ci);
    FZ_CHECK((rc == 0) == fake_has_read("tsstore"));
    if (rc != 0)
        FZ_CHECK(fake_log_count(LOG_ERR, "tsstore plugin: ") > 0);
    fake_shutdown();

    fake_reset();
    fake_conf_free(ci);
    return 0;
}
