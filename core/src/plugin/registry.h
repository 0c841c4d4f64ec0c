/* Plugin discovery, loading and lookup. Private to the core and the CLI.
 *
 * Search order: the --plugin-path folders, then ADVGNN_PLUGIN_PATH (':'-separated),
 * then the build tree's plugins folder, then the install prefix's. When two files
 * declare the same plugin name, the one found first wins and a warning names both
 * files. A file that fails to load is logged with its path and stage (open,
 * symbol, version, init) and remembered, so a later lookup of a missing name can
 * list the failures. */
#ifndef ADVGNN_PLUGIN_REGISTRY_H
#define ADVGNN_PLUGIN_REGISTRY_H

#include <stddef.h>
#include <stdio.h>

#include "advgnn/context.h"
#include "advgnn/plugin.h"

/* A loaded plugin. Function tables are copies that the core completed: a slot
 * the plugin's struct_size does not cover is NULL. */
typedef struct advgnn_plugin {
    char *path;                 /* the shared object's file */
    void *handle;               /* dlopen handle */
    uint32_t abi_version;
    advgnn_plugin_kind kind;
    const char *name;           /* borrowed from the plugin's static descriptor */
    const char *version;
    const char *description;
    const advgnn_option_spec *options; /* never NULL: an empty array when the plugin has none */
    union {
        advgnn_encoder_functions encoder;
        advgnn_scorer_functions scorer;
        advgnn_dataset_functions dataset;
    } fn;
} advgnn_plugin;

/* A file that could not be loaded. */
typedef struct advgnn_plugin_failure {
    char *path;
    const char *stage;   /* "open", "symbol", "version" or "init" */
    char *message;
} advgnn_plugin_failure;

typedef struct advgnn_registry advgnn_registry;

/* Creates an empty registry. Free it with advgnn_registry_free, which also
 * unloads every plugin. */
int advgnn_registry_new(advgnn_ctx *ctx, advgnn_registry **out);
void advgnn_registry_free(advgnn_registry *reg);

/* Loads every *.so of the folders in search order (see above). `cli_paths` is
 * the ':'-separated --plugin-path value, or NULL. Files that fail are logged and
 * recorded, not fatal; only a failure of the registry itself returns an error. */
int advgnn_registry_discover(advgnn_registry *reg, advgnn_ctx *ctx, const char *cli_paths);

/* Loads one shared object. On failure returns ADVGNN_ERR_PLUGIN or
 * ADVGNN_ERR_ABI with a message "<path>: <stage>: <reason>" and records it. */
int advgnn_registry_load_file(advgnn_registry *reg, advgnn_ctx *ctx, const char *path,
                              const advgnn_plugin **out);

/* Returns the plugin of that name (and kind, unless ADVGNN_PLUGIN_INVALID), or
 * NULL. Borrowed: valid until the registry is freed. */
const advgnn_plugin *advgnn_registry_find(const advgnn_registry *reg, const char *name, advgnn_plugin_kind kind);

/* Like advgnn_registry_find, but fails with ADVGNN_ERR_NOT_FOUND and a message
 * that lists the plugins of that kind, suggests the closest name, and names
 * files that failed to load. */
int advgnn_registry_require(const advgnn_registry *reg, advgnn_ctx *ctx, const char *name,
                            advgnn_plugin_kind kind, const advgnn_plugin **out);

size_t advgnn_registry_count(const advgnn_registry *reg);
const advgnn_plugin *advgnn_registry_at(const advgnn_registry *reg, size_t index);
size_t advgnn_registry_failure_count(const advgnn_registry *reg);
const advgnn_plugin_failure *advgnn_registry_failure_at(const advgnn_registry *reg, size_t index);

/* Prints the plugin list by kind (no name) or one plugin's options with types,
 * defaults, ranges and help (name given) to `out`, for `advgnn plugins [NAME]`. */
int advgnn_registry_print(const advgnn_registry *reg, advgnn_ctx *ctx, const char *name, FILE *out);

#endif
