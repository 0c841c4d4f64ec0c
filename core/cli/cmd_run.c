/* `advgnn run SCRIPT [key=value ...]`. */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lua/lua_runner.h"

int cli_cmd_run(const cli_options *options, int argc, char **argv)
{
    const cli_command *self = cli_find_command("run");
    advgnn_run_settings settings;
    advgnn_ctx *ctx = NULL;
    advgnn_registry *reg = NULL;
    int rc;

    /* Check the command line before loading anything. */
    if (argc < 1)
        return cli_usage_error(self, "run needs a script: advgnn run SCRIPT [key=value ...]");
    for (int i = 1; i < argc; i++) {
        const char *equals = strchr(argv[i], '=');

        if (!equals || equals == argv[i])
            return cli_usage_error(self, "script argument '%s' is not of the form key=value", argv[i]);
    }

    memset(&settings, 0, sizeof settings);
    settings.output_root = options->output_root;
    settings.tracking_uri = options->tracking_uri;
    settings.threads = options->threads;
    settings.progress = isatty(STDERR_FILENO) && !options->no_progress;
    settings.quiet = options->quiet;

    rc = cli_new_context(options, &ctx);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cli_load_plugins(options, ctx, &reg);
    if (rc == ADVGNN_OK)
        rc = advgnn_lua_run_file(ctx, reg, argv[0], argc - 1, argv + 1, &settings);

    if (rc != ADVGNN_OK)
        rc = cli_report_failure(ctx, rc);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return rc;
}
