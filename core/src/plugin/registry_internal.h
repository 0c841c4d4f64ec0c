/* The registry's layout, shared by the files of the plugin module. */
#ifndef ADVGNN_PLUGIN_REGISTRY_INTERNAL_H
#define ADVGNN_PLUGIN_REGISTRY_INTERNAL_H

#include "plugin/registry.h"
#include "util/internal.h"

struct advgnn_registry {
    advgnn_plugin **plugins; /* in load order; each owned */
    size_t count;
    size_t plugin_capacity;
    advgnn_plugin_failure **failures; /* files that failed, in order; each owned */
    size_t failure_count;
    size_t failure_capacity;
};

/* Loads one file. With `discovering` set, a broken file or a duplicate name is
 * logged (and a broken file recorded) and the call still succeeds. */
ADVGNN_INTERNAL int advgnn_registry_load_path(advgnn_registry *reg, advgnn_ctx *ctx, const char *path,
                                              int discovering, const advgnn_plugin **out);

#endif
