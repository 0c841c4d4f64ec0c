/* Loading and unloading one plugin file. Private to the plugin module. */
#ifndef ADVGNN_PLUGIN_LOADER_H
#define ADVGNN_PLUGIN_LOADER_H

#include <stddef.h>

#include "plugin/registry.h"
#include "util/internal.h"

/* Opens the shared object at `path` and checks its descriptor. On success
 * *out is a new plugin (free it with advgnn_plugin_close). On failure returns
 * ADVGNN_ERR_PLUGIN, ADVGNN_ERR_ABI or ADVGNN_ERR_NOMEM, sets *stage to
 * "open", "symbol", "version" or "init" (static strings) and writes the reason
 * into msg, without the path. */
ADVGNN_INTERNAL int advgnn_plugin_open(const char *path, advgnn_plugin **out, const char **stage, char *msg,
                                       size_t size);

/* Unloads the shared object and frees the plugin. NULL does nothing. */
ADVGNN_INTERNAL void advgnn_plugin_close(advgnn_plugin *plugin);

#endif
