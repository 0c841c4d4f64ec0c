/* Running Lua experiment scripts. Private to the core and the CLI. */
#ifndef ADVGNN_LUA_RUNNER_H
#define ADVGNN_LUA_RUNNER_H

#include <stddef.h>

#include "advgnn/context.h"
#include "plugin/registry.h"

/* Settings from the command line that apply to every experiment of a script. */
typedef struct advgnn_run_settings {
    const char *output_root;   /* parent of the run folders; NULL = "runs" */
    const char *tracking_uri;  /* --tracking-uri, or NULL */
    int threads;               /* 0 = every core */
    int progress;              /* nonzero: progress bars on a terminal */
    int quiet;                 /* nonzero: no results table on stdout after each run */
    int shard_index;           /* this process runs the sweep points i with i % shard_count == shard_index */
    int shard_count;           /* number of shards; 0 or 1 = run every point */
} advgnn_run_settings;

/* Runs `script` with the `advgnn` module loaded. `args` are the "key=value"
 * words after the script name. The script reads them as advgnn.args.key: a
 * number when the value parses as one, a boolean for "true" and "false", else
 * a string. A word without '=' or a repeated key fails with
 * ADVGNN_ERR_INVALID_ARG before the script starts. A Lua error, option error
 * or plugin failure returns ADVGNN_ERR_SCRIPT (or the underlying status, such
 * as ADVGNN_ERR_OPTION or ADVGNN_ERR_NOT_FOUND) with a message
 * "<script>:<line>: <error>" followed by a traceback. `settings` may be NULL. */
int advgnn_lua_run_file(advgnn_ctx *ctx, advgnn_registry *reg, const char *script, int argc,
                        char *const *args, const advgnn_run_settings *settings);

/* Returns the embedded interpreter's release, e.g. "Lua 5.4.4". Static. */
const char *advgnn_lua_release(void);

#endif
