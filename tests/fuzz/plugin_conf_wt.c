/*
 * write_tsstore.c compiled into fuzz_plugin_conf, with two changes made
 * from outside: its module_register is renamed (the read plugin's,
 * tsstore.c, is linked into the same program), and its file-scope state
 * is reachable, so the target can free what the config callback built.
 * The plugin keeps that state in `configured` until its init callback,
 * which opens the store and starts a thread: the target never runs it.
 */
#define module_register fuzz_wt_module_register
#include "write_tsstore.c"

bool fuzz_wt_release(void);

/* Frees the state the config callback left for init (as init does when
 * the configuration is invalid); returns whether it was marked valid. */
bool fuzz_wt_release(void)
{
    wt_state *st = configured;
    bool valid = st && st->conf.valid;

    configured = NULL;
    wt_free(st);
    return valid;
}
