/* `advgnn sync RUN_DIR...`: sends the tracking journals of run folders to an
 * MLflow server (core/src/tracking/sync.h). */
#include <stdio.h>

#include "cli.h"
#include "tracking/sync.h"

int cli_cmd_sync(const cli_options *options, int argc, char **argv)
{
    advgnn_ctx *ctx = NULL;
    int worst = CLI_EXIT_OK;
    int rc;

    if (argc < 1)
        return cli_usage_error(cli_find_command("sync"), "sync needs at least one run folder");
    rc = cli_new_context(options, &ctx);
    if (rc != CLI_EXIT_OK)
        return rc;

    /* Each folder on its own: one that fails does not stop the others. */
    for (int i = 0; i < argc; i++) {
        advgnn_sync_summary summary;

        advgnn_ctx_clear_error(ctx);
        rc = advgnn_tracking_sync(ctx, argv[i], options->tracking_uri, &summary);
        printf("%s: %zu records, %zu sent, %zu rejected, %zu pending\n", argv[i], summary.records, summary.sent,
               summary.failed, summary.pending);
        if (rc != ADVGNN_OK)
            worst = cli_report_failure(ctx, rc);
        else if (summary.failed > 0 && worst == CLI_EXIT_OK)
            worst = CLI_EXIT_FAILURE;
    }
    fflush(stdout);
    advgnn_ctx_free(ctx);
    return worst;
}
