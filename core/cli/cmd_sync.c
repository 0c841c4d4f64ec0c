/* `advgnn sync RUN_DIR...`: sends the tracking journals of run folders to an
 * MLflow server (core/src/tracking/sync.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tracking/sync.h"

/* Returns the hint for a failed sync, or NULL for the generic one. The
 * generic hints are about scripts and plugins, but a sync fails on the
 * folder, the URI or the server. `message` is the error printed above. */
static const char *sync_hint(int status, const char *message)
{
    switch (status) {
    case ADVGNN_ERR_NOT_FOUND:
        return "pass the folder that 'advgnn run' wrote (it holds tracking/journal.jsonl)";
    case ADVGNN_ERR_OPTION:
        if (strstr(message, "MLFLOW_") && !strstr(message, "MLFLOW_TRACKING_URI"))
            return "fix the MLFLOW_* variable named above, then run the same sync again";
        return "pass --tracking-uri http://HOST:PORT or set MLFLOW_TRACKING_URI to a running MLflow server";
    case ADVGNN_ERR_NETWORK:
        return "start the MLflow server (or check --tracking-uri), then run the same sync again: records already "
               "delivered are not sent twice";
    case ADVGNN_ERR_INTERRUPTED:
        return "";
    default:
        return NULL;
    }
}

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
        /* A folder rejected before delivery (no journal, no URI) has no counts to print. */
        if (rc == ADVGNN_OK || summary.records > 0)
            printf("%s: %zu records, %zu sent, %zu rejected, %zu pending\n", argv[i], summary.records,
                   summary.sent, summary.failed, summary.pending);
        fflush(stdout);
        if (rc != ADVGNN_OK)
            worst = cli_report_failure_hint(ctx, rc, sync_hint(rc, advgnn_ctx_error(ctx)));
        else if (summary.failed > 0 && worst == CLI_EXIT_OK)
            worst = CLI_EXIT_FAILURE;

        /* SIGINT or SIGTERM stops the folders that follow as well. */
        if (advgnn_interrupted()) {
            if (rc == ADVGNN_OK && i + 1 < argc)
                fprintf(stderr, "advgnn: sync stopped by a signal before %s; run the same sync again to send "
                                "the remaining folders\n",
                        argv[i + 1]);
            worst = CLI_EXIT_INTERRUPTED;
            break;
        }
    }
    fflush(stdout);
    advgnn_ctx_free(ctx);
    return worst;
}
