/* Shared declarations of the advgnn command-line program. */
#ifndef ADVGNN_CLI_H
#define ADVGNN_CLI_H

#include <stdio.h>

#include "advgnn/context.h"
#include "plugin/registry.h"

/* Exit statuses. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1     /* the command ran and failed */
#define CLI_EXIT_USAGE 2       /* the command line is invalid */
#define CLI_EXIT_INTERRUPTED 130 /* SIGINT or SIGTERM stopped a run (128 + SIGINT, as shells report) */

/* Global options, accepted before or after the command. */
typedef struct cli_options {
    const char *plugin_path;  /* --plugin-path: ':'-separated folders, searched first; or NULL */
    const char *output_root;  /* --output: parent of the run folders; or NULL */
    const char *tracking_uri; /* --tracking-uri, or NULL */
    const char *category;     /* --category: the category `score` uses; or NULL */
    int threads;              /* --threads; 0 = every core */
    int shard_index;          /* --shard I/N: I, 0-based */
    int shard_count;          /* --shard I/N: N; 0 = not given */
    int quiet;                /* --quiet: warnings and errors only, no results table */
    int verbose;              /* --verbose: debug messages too */
    int no_progress;          /* --no-progress */
    int help;                 /* --help: show the command's help instead of running it */
    int version;              /* --version or -V: the same as the command `version` */
} cli_options;

/* A command: argv contains the words after the command name, options removed. */
typedef int (*cli_command_fn)(const cli_options *options, int argc, char **argv);

typedef struct cli_command {
    const char *name;
    const char *usage;   /* arguments after the name, e.g. "SCRIPT [key=value ...]" */
    const char *summary; /* one line for the command list */
    const char *details; /* text after the usage line in `advgnn help NAME` */
    cli_command_fn run;
} cli_command;

/* The commands, ended by an entry whose name is NULL. */
extern const cli_command cli_commands[];

const cli_command *cli_find_command(const char *name);

/* Prints "unknown command NAME" with the closest command suggested, and
 * returns CLI_EXIT_USAGE. */
int cli_unknown_command(const char *name);

/* Prints the general help (command == NULL) or the help of one command. */
void cli_print_help(FILE *out, const cli_command *command);

/* Prints "advgnn: error: <message>" and a hint naming the help to read, and
 * returns CLI_EXIT_USAGE. `command` may be NULL. */
int cli_usage_error(const cli_command *command, const char *fmt, ...) ADVGNN_PRINTF(2, 3);

/* Prints the context's error as "advgnn: error: ..." followed by a "hint:"
 * line chosen from the status, and returns the exit status for it. */
int cli_report_failure(const advgnn_ctx *ctx, int status);

/* Prints the failure like cli_report_failure, with a hint chosen by the
 * command, because the command can name the cause better than the status.
 * NULL chooses the hint from the status, and "" prints no hint. */
int cli_report_failure_hint(const advgnn_ctx *ctx, int status, const char *hint);

/* Creates a context with the log level and thread count of the options. */
int cli_new_context(const cli_options *options, advgnn_ctx **out);

/* Creates a registry and loads the plugins of the search path. */
int cli_load_plugins(const cli_options *options, advgnn_ctx *ctx, advgnn_registry **out);

int cli_cmd_run(const cli_options *options, int argc, char **argv);
int cli_cmd_plugins(const cli_options *options, int argc, char **argv);
int cli_cmd_version(const cli_options *options, int argc, char **argv);
int cli_cmd_sync(const cli_options *options, int argc, char **argv);
int cli_cmd_score(const cli_options *options, int argc, char **argv);
int cli_cmd_help(const cli_options *options, int argc, char **argv);

#endif
