/* Helpers shared by the commands: error reports with hints, and the context
 * and plugin registry every command starts from. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_usage_error(const cli_command *command, const char *fmt, ...)
{
    va_list ap;

    fputs("advgnn: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);

    if (command)
        fprintf(stderr, "hint: run 'advgnn help %s' for the usage of this command\n", command->name);
    else
        fputs("hint: run 'advgnn help' for the commands and options\n", stderr);
    return CLI_EXIT_USAGE;
}

/* Returns nonzero when the message comes from experiment:run() ("experiment
 * 'NAME' failed"). The script's options were checked before, so a failure
 * there is most likely a plugin or the data.
 * NOTE: this matches the text that lua_experiment.c writes, because the
 * status alone does not say where a failure happened. */
static int failed_during_run(const char *message)
{
    const char *start = strstr(message, "experiment '");

    return start && strstr(start, "' failed") != NULL;
}

/* Returns the hint for ADVGNN_ERR_FORMAT. A well-formed file can be rejected
 * too (an unsafe archive entry, weights made for other options), and then
 * "corrupt" would send the user after the wrong fix.
 * NOTE: this matches texts of core/src/source and core/src/nn/safetensors.c,
 * because the status alone does not tell these cases apart. */
static const char *format_hint(const char *message)
{
    if (strstr(message, "a mask must have the size of its image"))
        return "give the mask the size of its image, or check that each mask is paired with the right image";
    if (strstr(message, "archive '") && (strstr(message, "is a link") || strstr(message, "absolute path") ||
                                         strstr(message, "'..', '.' or empty path component")))
        return "the archive is readable, but advgnn reads no link, absolute path or '..' entry, because such "
               "entries can point outside the dataset; extract the archive, check the entry named above, and set "
               "'root' to the extracted folder";
    if (strstr(message, "archive '") && strstr(message, "is truncated or corrupt"))
        return "the archive named above ends early or is damaged; download or copy it again";
    if (strstr(message, "with other options"))
        return "the file is valid but was written for other plugin options; use the options it was made with, or a "
               "file made for these ('advgnn plugins NAME' lists the options)";
    return "the file named above is corrupt or in an unsupported format; replace or remove it";
}

/* Returns the hint for a run that failed on its output folder, or NULL.
 * These failures come from experiment:run() too, but no plugin is at fault.
 * NOTE: this matches texts of core/src/experiment/experiment.c, because the
 * status does not tell these failures apart. */
static const char *output_hint(const char *message)
{
    if (strstr(message, "already contains a run"))
        return "give each run its own output folder (a sweep can put the point's values into 'output'), or remove "
               "the folder named above";
    if (strstr(message, "has no output folder"))
        return "set 'output' of advgnn.experiment to a folder, or leave it out to write to <--output or "
               "runs>/<name>-<UTC time>";
    return NULL;
}

/* Returns the hint for an invalid argument to a function of the advgnn
 * module other than advgnn.experiment, or NULL.
 * NOTE: this matches the "advgnn.<function>:" prefix of the messages of
 * core/src/lua, because they share ADVGNN_ERR_INVALID_ARG with the fields of
 * advgnn.experiment. */
static const char *lua_function_hint(const char *message)
{
    if (strstr(message, "advgnn.sweep:"))
        return "fix the argument named above; 'advgnn help run' describes advgnn.sweep(grid, fn)";
    if (strstr(message, "advgnn.log:"))
        return "fix the argument named above; 'advgnn help run' describes advgnn.log(level, fmt, ...)";
    if (strstr(message, "advgnn.format_table:"))
        return "fix the argument named above; 'advgnn help run' describes advgnn.format_table(rows, cols)";
    return NULL;
}

/* Returns what the user can do about a failure with this status and message. */
static const char *hint_for(int status, const char *message)
{
    static const char plugin_failed[] =
        "a plugin failed on the data, at the step named above; check that plugin's options ('advgnn plugins "
        "NAME') and the input files, and rerun with --verbose to see the steps before it";
    const char *output = output_hint(message);

    if (output)
        return output;
    if (failed_during_run(message)) {
        switch (status) {
        case ADVGNN_ERR_INVALID_ARG:
        case ADVGNN_ERR_PLUGIN:
        case ADVGNN_ERR_NUMERIC:
        case ADVGNN_ERR_UNDEFINED:
        case ADVGNN_ERR_BACKEND:
        case ADVGNN_ERR_INTERNAL:
            return plugin_failed;
        default:
            break;
        }
    }

    switch (status) {
    case ADVGNN_ERR_NOT_FOUND:
        /* NOTE: matches texts of core/src/plugin/print.c and cmd_score.c. A
         * plain "plugin" would also match a dataset path such as
         * experiments/magnetic_tile_plugin.lua in a layout error. */
        if (strstr(message, "plugin named '") || strstr(message, "is of kind") || strstr(message, "--plugin-path"))
            return "run 'advgnn plugins' to list the plugins found, or add their folder with --plugin-path DIR";
        return "check the name or path in the message above";
    case ADVGNN_ERR_OPTION:
        /* NOTE: matches texts of core/src/tracking and of advgnn.track in
         * core/src/lua, which share the status with plugin options. */
        if (strstr(message, "tracking URI") || strstr(message, "advgnn.track") || strstr(message, "MLFLOW_") ||
            strstr(message, "MLflow") || strstr(message, "TLS"))
            return "fix --tracking-uri, MLFLOW_TRACKING_URI or the fields of advgnn.track{...} named above; "
                   "'advgnn help run' describes them";
        return "run 'advgnn plugins NAME' to see the options of plugin NAME with their types, defaults and ranges";
    case ADVGNN_ERR_SCRIPT:
        return "fix the script at the file and line shown above";
    case ADVGNN_ERR_INVALID_ARG:
        if (lua_function_hint(message))
            return lua_function_hint(message);
        return "fix the value named above; 'advgnn help run' lists the fields of advgnn.experiment";
    case ADVGNN_ERR_PLUGIN:
        if (!strstr(message, "failed to load") && !strstr(message, ".so"))
            return plugin_failed;
        return "rebuild the plugin against this advgnn version; 'advgnn plugins' lists the files that failed to load";
    case ADVGNN_ERR_ABI:
        return "rebuild the plugin against this advgnn version; 'advgnn plugins' lists the files that failed to load";
    case ADVGNN_ERR_IO:
        return "check that the file or folder named above exists and that you may read or write it";
    case ADVGNN_ERR_FORMAT:
        return format_hint(message);
    case ADVGNN_ERR_NOMEM:
        return "lower image_size or batch_size in the script, or free memory";
    case ADVGNN_ERR_LIMIT:
        return "the input exceeds a limit named above; shrink the input";
    case ADVGNN_ERR_INTERRUPTED:
        return "the run was stopped by a signal; categories finished before it stay in the output folder, and "
               "a training with a checkpoint continues with the encoder option "
               "resume=<run>/encoder/<category>/checkpoints (named above when one exists)";
    case ADVGNN_ERR_NETWORK:
        return "check --tracking-uri and that the tracking server is reachable";
    case ADVGNN_ERR_NOT_IMPLEMENTED:
        return "this feature does not exist yet; choose another plugin or option";
    default:
        return "rerun with --verbose for more detail";
    }
}

int cli_report_failure_hint(const advgnn_ctx *ctx, int status, const char *hint)
{
    const char *message = advgnn_ctx_error(ctx);

    if (message[0] == '\0')
        message = advgnn_status_name(status);
    if (!hint)
        hint = hint_for(status, message);
    fprintf(stderr, "advgnn: error: %s\n", message);
    if (hint[0] != '\0')
        fprintf(stderr, "hint: %s\n", hint);
    return status == ADVGNN_ERR_INTERRUPTED ? CLI_EXIT_INTERRUPTED : CLI_EXIT_FAILURE;
}

int cli_report_failure(const advgnn_ctx *ctx, int status)
{
    return cli_report_failure_hint(ctx, status, NULL);
}

int cli_new_context(const cli_options *options, advgnn_ctx **out)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    *out = NULL;
    if (!ctx) {
        fputs("advgnn: error: out of memory\n", stderr);
        return CLI_EXIT_FAILURE;
    }
    if (options->verbose)
        advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_DEBUG);
    else if (options->quiet)
        advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    advgnn_ctx_set_threads(ctx, options->threads);
    *out = ctx;
    return CLI_EXIT_OK;
}

int cli_load_plugins(const cli_options *options, advgnn_ctx *ctx, advgnn_registry **out)
{
    advgnn_registry *reg = NULL;
    int rc = advgnn_registry_new(ctx, &reg);

    *out = NULL;
    if (rc == ADVGNN_OK)
        rc = advgnn_registry_discover(reg, ctx, options->plugin_path);
    if (rc != ADVGNN_OK) {
        advgnn_registry_free(reg);
        return rc;
    }
    *out = reg;
    return ADVGNN_OK;
}
