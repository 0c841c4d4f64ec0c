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
} advgnn_run_settings;

/* Runs `script` with the `advgnn` module loaded. `args` are the "key=value"
 * words after the script name; the script reads them as advgnn.args.key (a
 * number when the value parses as one, else a string). A Lua error, option
 * error or plugin failure returns ADVGNN_ERR_SCRIPT (or the underlying status)
 * with a message "<script>:<line>: <error>" followed by a traceback. */
int advgnn_lua_run_file(advgnn_ctx *ctx, advgnn_registry *reg, const char *script, int argc,
                        char *const *args, const advgnn_run_settings *settings);

#endif
