/* The command table and `advgnn help [COMMAND]`. */
#include <string.h>

#include "cli.h"
#include "options/options_internal.h"

static const char run_details[] =
    "Runs a Lua experiment script. The words key=value after SCRIPT reach the\n"
    "script as advgnn.args.key: a boolean for true and false, a number when the\n"
    "value reads as a Lua number and has no leading zero, else a string. So\n"
    "epochs=3 is the integer 3 and category=01 the string \"01\". The table\n"
    "advgnn.raw_args has every value as typed (category=1e3 gives \"1e3\").\n"
    "\n"
    "The script uses the advgnn module (also a global):\n"
    "  advgnn.dataset(name, {options})  choose a plugin; options are checked at once\n"
    "  advgnn.encoder(name, {options})\n"
    "  advgnn.scorer(name, {options})\n"
    "  advgnn.experiment{...}           an experiment; :run() runs it and returns its results\n"
    "  advgnn.sweep(grid, fn)           calls fn(point, index) for each point of a grid\n"
    "                                   such as {k = {1, 3}, seed = {0, 1}}, or for this\n"
    "                                   shard's share of them (see --shard)\n"
    "  advgnn.plugins([kind])           names of the loaded plugins\n"
    "  advgnn.format_table(rows, cols)  an aligned text table; a row is keyed by column\n"
    "                                   ({name = \"a\", auc = 0.9}) or a sequence ({\"a\", 0.9})\n"
    "  advgnn.log(level, fmt, ...)      log at error, warn, info or debug\n"
    "  advgnn.track{uri=, experiment=}  MLflow server and experiment of the runs that\n"
    "                                   follow (default: --tracking-uri, experiment name)\n"
    "  advgnn.args, advgnn.raw_args, advgnn.version, advgnn.shard ({index, count})\n"
    "\n"
    "Fields of advgnn.experiment:\n"
    "  name        names the run folder (default: the script's file name)\n"
    "  dataset     a dataset object (required)\n"
    "  encoder     an encoder object (required)\n"
    "  scorers     a list of scorer objects or {scorer, weight = 1, label = \"...\"}\n"
    "  categories  a category or a list of them (default: every category)\n"
    "  image_size  side of the resized images in pixels (default 256)\n"
    "  crop        side of the center crop in pixels, 0 = none (default 0)\n"
    "  batch_size  images per encoder call (default 8)\n"
    "  seed        seed of every random choice (default 0)\n"
    "  output      the run folder (default: <--output or runs>/<name>-<UTC time>)\n"
    "  heatmaps    heatmap images written per category, -1 = all (default 8)\n"
    "  prefetch    decode test images on a background thread while training (default true)\n"
    "  sample_cache  folder that keeps decoded images between runs (default: none)\n"
    "\n"
    "After each run a results table is printed to stdout unless --quiet is given.\n"
    "Example: advgnn run experiments/quickstart.lua seed=3\n";

static const char plugins_details[] =
    "Without NAME, lists the plugins found by kind, and the files that failed to\n"
    "load. With NAME, prints the plugin's options with their types, defaults,\n"
    "ranges and help.\n"
    "Plugins are searched in the --plugin-path folders, then ADVGNN_PLUGIN_PATH\n"
    "(':'-separated), then the build tree and the install prefix.\n";

static const char sync_details[] =
    "Sends the tracking journal of each RUN_DIR (RUN_DIR/tracking/journal.jsonl)\n"
    "to the MLflow server of --tracking-uri, or of MLFLOW_TRACKING_URI, or else\n"
    "to the server the run was sent to (named in tracking/acks-*.jsonl). Records\n"
    "the server already acknowledged are skipped, so a sync can be repeated, and\n"
    "one interrupted by a crash sends nothing twice. Prints one line per folder;\n"
    "exits with 1 when the server rejected a record (listed in the folder's\n"
    "tracking/acks-*.jsonl) and with the failure's status when it could not be\n"
    "reached. Credentials and TLS settings come from the MLFLOW_TRACKING_*\n"
    "variables, as for MLflow's Python client (docs/tracking.md).\n";

static const char score_details[] =
    "Scores each IMAGE with the pipeline of the finished run in MODEL_DIR and\n"
    "prints one line per image: the image and its score (the fused score with\n"
    "two or more scorers). The dataset, encoder and scorers are created again\n"
    "from the options in MODEL_DIR/results.json. The encoder loads its weights\n"
    "from MODEL_DIR/encoder/CATEGORY/weights.safetensors. The scorers are\n"
    "fitted again on the dataset's training images with the run's seed, so the\n"
    "dataset must still be at the root recorded in results.json, or be named\n"
    "with root=PATH. Images are preprocessed as in the run. The overlays\n"
    "(heatmaps/CATEGORY/<file name>.png), the reconstructions of an encoder\n"
    "that makes them (reconstructions/CATEGORY/<file name>.png) and scores.csv\n"
    "(with two or more scorers also each scorer's score, under its label) go\n"
    "to --output DIR, by default MODEL_DIR/score-<UTC time>. Images with the\n"
    "same file name get overlays with -2, -3... suffixes.\n"
    "  --category NAME   the category to use when the run has several\n"
    "  root=PATH         the dataset's folder or archive, in place of the run's\n"
    "                    root; for data that moved after the run. Write an image\n"
    "                    whose name starts with root= as ./root=...\n";

static const char version_details[] = "Prints the versions of advgnn, its plugin ABI and the embedded Lua.\n";

static const char help_details[] = "Prints the general help, or the help of COMMAND.\n";

const cli_command cli_commands[] = {
    {"run", "SCRIPT [key=value ...]", "run a Lua experiment script", run_details, cli_cmd_run},
    {"plugins", "[NAME]", "list the plugins, or show the options of one", plugins_details, cli_cmd_plugins},
    {"score", "MODEL_DIR IMAGE... [root=PATH]", "score images with a finished run", score_details, cli_cmd_score},
    {"sync", "RUN_DIR...", "send run journals to an MLflow server", sync_details, cli_cmd_sync},
    {"version", "", "print version information", version_details, cli_cmd_version},
    {"help", "[COMMAND]", "show help for a command", help_details, cli_cmd_help},
    {NULL, NULL, NULL, NULL, NULL}};

static const char global_options[] =
    "Options (before or after the command):\n"
    "  --plugin-path DIRS   search these ':'-separated folders for plugins first\n"
    "  --threads N          compute threads; 0 = every core (default 0)\n"
    "  --output DIR         folder that receives the run folders (default: runs;\n"
    "                       score: MODEL_DIR/score-<UTC time>)\n"
    "  --shard I/N          run share I (0-based) of N of every advgnn.sweep; default\n"
    "                       from SLURM_ARRAY_TASK_ID, _MIN and _COUNT when set\n"
    "  --tracking-uri URI   MLflow tracking server for the runs (default:\n"
    "                       MLFLOW_TRACKING_URI); without one, each run folder's\n"
    "                       tracking/ journal is the record (see 'advgnn help sync')\n"
    "  -q, --quiet          log only warnings and errors; print no results table\n"
    "  -v, --verbose        log debug messages too\n"
    "  --no-progress        draw no progress bars\n"
    "  -h, --help           show the help of the command\n"
    "  -V, --version        print version information (as 'advgnn version')\n";

const cli_command *cli_find_command(const char *name)
{
    for (const cli_command *command = cli_commands; command->name; command++) {
        if (strcmp(command->name, name) == 0)
            return command;
    }
    return NULL;
}

int cli_unknown_command(const char *name)
{
    const char *names[sizeof cli_commands / sizeof cli_commands[0]];
    size_t count = 0;
    const char *closest;

    for (const cli_command *command = cli_commands; command->name; command++)
        names[count++] = command->name;
    closest = advgnn_closest_name(name, names, count);
    if (closest)
        return cli_usage_error(NULL, "unknown command '%s'; did you mean '%s'?", name, closest);
    return cli_usage_error(NULL, "unknown command '%s' (commands: run, plugins, score, sync, version, help)", name);
}

void cli_print_help(FILE *out, const cli_command *command)
{
    if (command) {
        fprintf(out, "usage: advgnn %s%s%s [OPTIONS]\n\n%s\n%s", command->name, command->usage[0] ? " " : "",
                command->usage, command->details, global_options);
        return;
    }

    fputs("usage: advgnn [OPTIONS] COMMAND [ARGS]\n\n"
          "Unsupervised industrial anomaly detection experiments, written as Lua scripts.\n\n"
          "Commands:\n",
          out);
    for (const cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fprintf(out, "\n%s\nExit status: 0 success, 1 failure, 2 invalid command line, 130 interrupted.\n"
                 "Run 'advgnn help COMMAND' for the details of a command.\n",
            global_options);
}

int cli_cmd_help(const cli_options *options, int argc, char **argv)
{
    const cli_command *command;

    if (argc > 1)
        return cli_usage_error(cli_find_command("help"), "help takes at most one command name");
    if (argc == 0) {
        cli_print_help(stdout, NULL);
        return CLI_EXIT_OK;
    }

    command = cli_find_command(argv[0]);
    if (!command)
        return cli_unknown_command(argv[0]);
    cli_print_help(stdout, command);
    return CLI_EXIT_OK;
}
