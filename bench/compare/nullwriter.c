/*
 * nullwriter — a collectd write plugin that drops every value: the
 * baseline of the comparison benchmark (bench/compare/run). What collectd
 * spends with it loaded is collectd's own cost of a value (dispatch, value
 * cache, write queue, write thread); a real writer's own cost is what it
 * adds on top.
 */
#include "collectd.h"

#include "plugin.h"

static int nw_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud)
{
    (void)ds;
    (void)vl;
    (void)ud;
    return 0;
}

__attribute__((visibility("default"))) void module_register(void)
{
    plugin_register_write("nullwriter", nw_write, NULL);
}
