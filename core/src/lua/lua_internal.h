/* Shared pieces of the `advgnn` Lua module. Private to core/src/lua.
 *
 * Every Lua object that owns C memory is a full userdata with __gc, so an error
 * raised with lua_error (a longjmp) between allocation and return leaks nothing.
 * Errors meant for the user go through advgnn_lua_fail, which prefixes the
 * script position of the caller and remembers the advgnn status, so that
 * advgnn_lua_run_file can return the status of the root cause. */
#ifndef ADVGNN_LUA_INTERNAL_H
#define ADVGNN_LUA_INTERNAL_H

#include <cjson/cJSON.h>
#include <lua.h>

#include "advgnn/context.h"
#include "lua/lua_runner.h"
#include "options/options_internal.h"
#include "plugin/registry.h"
#include "util/internal.h"

/* What the module functions need from the runner. Lives on the C stack of
 * advgnn_lua_run_file for the lifetime of the Lua state. */
typedef struct advgnn_lua_env {
    advgnn_ctx *ctx;
    advgnn_registry *reg;
    const advgnn_run_settings *settings; /* never NULL (the runner fills a default) */
    const char *script_path;
    const char *script_stem; /* file name without folder and ".lua": default experiment name */
    int fail_status;         /* status of the last error raised by advgnn_lua_fail */
} advgnn_lua_env;

/* A dataset, encoder or scorer chosen by a script, with its validated options. */
typedef struct advgnn_lua_plugin_obj {
    const advgnn_plugin *plugin; /* borrowed from the registry */
    advgnn_options *options;     /* owned; NULL once the object was closed */
} advgnn_lua_plugin_obj;

#define ADVGNN_LUA_PLUGIN_META "advgnn.plugin"
#define ADVGNN_LUA_EXPERIMENT_META "advgnn.experiment"

/* Stores `env` in the Lua registry; advgnn_lua_env_get returns it. */
ADVGNN_INTERNAL void advgnn_lua_env_set(lua_State *L, advgnn_lua_env *env);
ADVGNN_INTERNAL advgnn_lua_env *advgnn_lua_env_get(lua_State *L);

/* Raises a Lua error "<script>:<line>: <message>" positioned at the script
 * line that called the running C function, and records `status` for the runner.
 * Never returns. */
ADVGNN_INTERNAL int advgnn_lua_fail(lua_State *L, int status, const char *fmt, ...) ADVGNN_PRINTF(3, 4);

/* Returns the status recorded for the error value at `index` when it is the
 * one advgnn_lua_fail raised last, else ADVGNN_ERR_SCRIPT. */
ADVGNN_INTERNAL int advgnn_lua_error_status(lua_State *L, int index);

/* Registers the metatables of plugin objects and the dataset/encoder/scorer
 * constructors into the module table at the top of the stack. */
ADVGNN_INTERNAL void advgnn_lua_open_plugins(lua_State *L);

/* Returns the plugin object at `index`, or NULL when it is something else. */
ADVGNN_INTERNAL advgnn_lua_plugin_obj *advgnn_lua_test_plugin(lua_State *L, int index);

/* Returns `message` past the prefixes that a Lua message about `plugin`
 * repeats: "plugin '<name>': " of the options module, then "<name>: " of the
 * plugin's own checks. The result points into `message`. */
ADVGNN_INTERNAL const char *advgnn_lua_plugin_text(const advgnn_plugin *plugin, const char *message);

/* Registers the experiment metatable and advgnn.experiment into the module
 * table at the top of the stack. */
ADVGNN_INTERNAL void advgnn_lua_open_experiment(lua_State *L);

/* Registers advgnn.sweep and advgnn.shard into the module table at the top of
 * the stack. */
ADVGNN_INTERNAL void advgnn_lua_open_sweep(lua_State *L);

/* advgnn.format_table(rows, columns): pushes the aligned text table. */
ADVGNN_INTERNAL int advgnn_lua_format_table(lua_State *L);

/* Pushes the function that prints a results table to stdout (see
 * lua_results.c). Called once while the module table at `module_index`,
 * which already has format_table, is being filled. */
ADVGNN_INTERNAL void advgnn_lua_push_results_printer(lua_State *L, int module_index);

/* Pushes the JSON tree as Lua values: objects become tables, arrays sequences. */
ADVGNN_INTERNAL void advgnn_lua_push_json(lua_State *L, const cJSON *json);

#endif
