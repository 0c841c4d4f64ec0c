/* `advgnn run SCRIPT [key=value ...]`. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lua/lua_runner.h"
#include "tracking/sync.h"

/* Reads an environment variable as a non-negative integer; 0 when it is
 * unset, -1 when it is set but invalid. */
static int read_env_integer(const char *name, long *value)
{
    const char *text = getenv(name);
    char *end = NULL;

    if (!text)
        return 0;
    errno = 0;
    *value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || *value < 0 || *value > INT_MAX)
        return -1;
    return 1;
}

/* Fills the shard from --shard, else from a Slurm job array, where task IDs
 * run from SLURM_ARRAY_TASK_MIN (often 0 or 1) over SLURM_ARRAY_TASK_COUNT
 * tasks. Returns CLI_EXIT_OK or a usage error.
 * NOTE: Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX but no job size, so
 * it is not read here; such a job passes --shard "$(JOB_COMPLETION_INDEX)/N". */
static int choose_shard(const cli_options *options, advgnn_run_settings *settings)
{
    long id = 0;
    long count = 0;
    long min = 0;
    int have_id;
    int have_count;
    int have_min;

    if (options->shard_count > 0) {
        settings->shard_index = options->shard_index;
        settings->shard_count = options->shard_count;
        return CLI_EXIT_OK;
    }

    have_id = read_env_integer("SLURM_ARRAY_TASK_ID", &id);
    have_count = read_env_integer("SLURM_ARRAY_TASK_COUNT", &count);
    have_min = read_env_integer("SLURM_ARRAY_TASK_MIN", &min);
    if (have_id == 0 || have_count == 0)
        return CLI_EXIT_OK;
    if (have_id < 0 || have_count < 0 || have_min < 0 || count < 1 || id < min || id - min >= count)
        return cli_usage_error(cli_find_command("run"),
                               "SLURM_ARRAY_TASK_ID, _MIN and _COUNT do not describe a task of the array "
                               "(ID %s, MIN %s, COUNT %s); pass --shard I/N instead",
                               getenv("SLURM_ARRAY_TASK_ID"), have_min ? getenv("SLURM_ARRAY_TASK_MIN") : "unset",
                               getenv("SLURM_ARRAY_TASK_COUNT"));
    settings->shard_index = (int)(id - min);
    settings->shard_count = (int)count;
    return CLI_EXIT_OK;
}

/* Checks the tracking URI of --tracking-uri or MLFLOW_TRACKING_URI, so that
 * one that cannot work fails before any run folder exists. */
static int check_tracking_uri(const cli_options *options, advgnn_ctx *ctx)
{
    const char *uri = options->tracking_uri ? options->tracking_uri : getenv("MLFLOW_TRACKING_URI");
    int rc;

    if (!uri || !*uri)
        return ADVGNN_OK;
    rc = advgnn_tracking_check_uri(ctx, uri);
    if (rc != ADVGNN_OK && !options->tracking_uri)
        advgnn_error_prefixf(ctx, "MLFLOW_TRACKING_URI");
    return rc;
}

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
        size_t key_length;

        if (!equals || equals == argv[i])
            return cli_usage_error(self, "script argument '%s' is not of the form key=value", argv[i]);
        key_length = (size_t)(equals - argv[i]);
        for (int j = 1; j < i; j++) {
            if (strncmp(argv[j], argv[i], key_length) == 0 && argv[j][key_length] == '=')
                return cli_usage_error(self, "script argument '%.*s' is given twice ('%s' and '%s')",
                                       (int)key_length, argv[i], argv[j], argv[i]);
        }
    }

    memset(&settings, 0, sizeof settings);
    settings.output_root = options->output_root;
    settings.tracking_uri = options->tracking_uri;
    settings.threads = options->threads;
    settings.progress = isatty(STDERR_FILENO) && !options->no_progress;
    settings.quiet = options->quiet;
    rc = choose_shard(options, &settings);
    if (rc != CLI_EXIT_OK)
        return rc;

    rc = cli_new_context(options, &ctx);
    if (rc != CLI_EXIT_OK)
        return rc;

    rc = check_tracking_uri(options, ctx);
    if (rc == ADVGNN_OK)
        rc = cli_load_plugins(options, ctx, &reg);
    if (rc == ADVGNN_OK)
        rc = advgnn_lua_run_file(ctx, reg, argv[0], argc - 1, argv + 1, &settings);

    /* A signal after the script's last check, such as one that ends the wait
     * for tracking delivery, still makes the exit status 130. */
    if (rc == ADVGNN_OK && advgnn_interrupted())
        rc = CLI_EXIT_INTERRUPTED;
    else if (rc != ADVGNN_OK)
        rc = cli_report_failure(ctx, rc);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return rc;
}
