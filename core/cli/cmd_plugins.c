/* `advgnn plugins [NAME]`. */
#include "cli.h"

int cli_cmd_plugins(const cli_options *options, int argc, char **argv)
{
    advgnn_ctx *ctx = NULL;
    advgnn_registry *reg = NULL;
    int rc;

    if (argc > 1)
        return cli_usage_error(cli_find_command("plugins"), "plugins takes at most one plugin name");
    rc = cli_new_context(options, &ctx);
    if (rc != CLI_EXIT_OK)
        return rc;

    rc = cli_load_plugins(options, ctx, &reg);
    if (rc == ADVGNN_OK)
        rc = advgnn_registry_print(reg, ctx, argc == 1 ? argv[0] : NULL, stdout);
    if (fflush(stdout) != 0 && rc == ADVGNN_OK)
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write the plugin list to stdout");

    if (rc != ADVGNN_OK)
        rc = cli_report_failure(ctx, rc);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return rc;
}
