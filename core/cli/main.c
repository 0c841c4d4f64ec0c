/* advgnn: runs Lua experiment scripts and inspects plugins.
 *
 *   advgnn [OPTIONS] COMMAND [ARGS] [OPTIONS]
 *
 * Global options may stand before or after the command; "--" ends them.
 * Exit status: 0 success, 1 failure, 2 invalid command line, 130 stopped by
 * SIGINT or SIGTERM. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "options/options_internal.h"

/* Upper bound of --threads, to catch typos; 0 means every core. */
#define THREADS_MAX 65536

/* ---- signals ----------------------------------------------------------- */

/* Message of the first SIGINT or SIGTERM, chosen per command before the
 * handlers are installed. */
static const char *first_signal_message = "";

/* The first SIGINT or SIGTERM sets the interrupted flag, which the commands
 * poll between steps, so results files stay complete. The second exits at
 * once with status 130. Only write() and _exit() are used, because they are
 * async-signal-safe. */
static void on_stop_signal(int signal_number)
{
    static volatile sig_atomic_t signals_seen;
    static const char quit_message[] = "advgnn: second interrupt, quitting at once\n";

    (void)signal_number;
    if (signals_seen++ > 0) {
        (void)!write(STDERR_FILENO, quit_message, sizeof quit_message - 1);
        _exit(CLI_EXIT_INTERRUPTED);
    }
    advgnn_set_interrupted(1);
    (void)!write(STDERR_FILENO, first_signal_message, strlen(first_signal_message));
}

static void install_signal_handlers(const cli_command *command)
{
    struct sigaction action;

    if (strcmp(command->name, "run") == 0)
        first_signal_message = "advgnn: stopping after the current step; press Ctrl-C again to quit at once "
                               "(a results.json not yet finished then stays \"running\", and `advgnn sync` "
                               "delivers the tracking journal)\n";
    else
        first_signal_message = "advgnn: stopping; press Ctrl-C again to quit at once\n";

    memset(&action, 0, sizeof action);
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGINT);
    sigaddset(&action.sa_mask, SIGTERM);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

/* ---- options ----------------------------------------------------------- */

static int parse_threads(const char *text, int *threads)
{
    char *end = NULL;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > THREADS_MAX)
        return 0;
    *threads = (int)value;
    return 1;
}

/* Reads "I/N" with 0 <= I < N. */
static int parse_shard(const char *text, int *index, int *count)
{
    char *end = NULL;
    long i;
    long n;

    errno = 0;
    i = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '/')
        return 0;
    text = end + 1;
    n = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < 1 || n > INT_MAX || i < 0 || i >= n)
        return 0;
    *index = (int)i;
    *count = (int)n;
    return 1;
}

/* Options that take a value, as "--name VALUE" or "--name=VALUE". */
static const char **value_slot(cli_options *options, const char *name)
{
    if (strcmp(name, "--plugin-path") == 0)
        return &options->plugin_path;
    if (strcmp(name, "--output") == 0)
        return &options->output_root;
    if (strcmp(name, "--tracking-uri") == 0)
        return &options->tracking_uri;
    if (strcmp(name, "--category") == 0)
        return &options->category;
    return NULL;
}

/* Sets a flag option; returns 0 for an unknown name. */
static int set_flag(cli_options *options, const char *name)
{
    if (strcmp(name, "--quiet") == 0 || strcmp(name, "-q") == 0)
        options->quiet = 1;
    else if (strcmp(name, "--verbose") == 0 || strcmp(name, "-v") == 0)
        options->verbose = 1;
    else if (strcmp(name, "--no-progress") == 0)
        options->no_progress = 1;
    else if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        options->help = 1;
    else if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
        options->version = 1;
    else
        return 0;
    return 1;
}

/* Names of the global options, for the "did you mean" suggestion after a typo. */
static const char *const option_names[] = {
    "--plugin-path", "--output", "--tracking-uri", "--category", "--threads", "--shard", "--quiet",
    "--verbose", "--no-progress", "--help", "--version",
};

static int unknown_option(const char *word, const char *name)
{
    const char *closest = advgnn_closest_name(name, option_names, sizeof option_names / sizeof option_names[0]);

    if (closest)
        return cli_usage_error(NULL, "unknown option '%s'; did you mean '%s'?", word, closest);
    return cli_usage_error(NULL, "unknown option '%s'", word);
}

/* Reads the option at argv[*i] (advancing *i past its value). Returns
 * CLI_EXIT_OK or, after printing the error, CLI_EXIT_USAGE. */
static int parse_option(cli_options *options, int argc, char **argv, int *i)
{
    const char *word = argv[*i];
    const char *equals = strchr(word, '=');
    char name[64];
    const char *value = NULL;
    const char **slot;

    if (equals && (size_t)(equals - word) < sizeof name) {
        memcpy(name, word, (size_t)(equals - word));
        name[equals - word] = '\0';
        value = equals + 1;
    } else {
        snprintf(name, sizeof name, "%s", word);
    }

    if (!value && set_flag(options, name))
        return CLI_EXIT_OK;

    slot = value_slot(options, name);
    if (!slot && strcmp(name, "--threads") != 0 && strcmp(name, "--shard") != 0)
        return unknown_option(word, name);
    if (!value) {
        if (*i + 1 >= argc)
            return cli_usage_error(NULL, "option '%s' needs a value", name);
        value = argv[++*i];
    }

    if (slot)
        *slot = value;
    else if (strcmp(name, "--shard") == 0) {
        if (!parse_shard(value, &options->shard_index, &options->shard_count))
            return cli_usage_error(NULL, "--shard must be I/N with 0 <= I < N (e.g. 0/4), not '%s'", value);
    } else if (!parse_threads(value, &options->threads))
        return cli_usage_error(NULL, "--threads must be an integer from 0 (every core) to %d, not '%s'",
                               THREADS_MAX, value);
    return CLI_EXIT_OK;
}

/* Moves the words that are not options to the front of argv (after argv[0])
 * and returns their count. */
static int parse_command_line(cli_options *options, int argc, char **argv, int *word_count)
{
    int count = 0;
    int only_words = 0;

    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        int rc;

        if (!only_words && strcmp(word, "--") == 0) {
            only_words = 1;
            continue;
        }
        if (only_words || word[0] != '-' || word[1] == '\0') {
            argv[1 + count++] = argv[i];
            continue;
        }
        rc = parse_option(options, argc, argv, &i);
        if (rc != CLI_EXIT_OK)
            return rc;
    }

    if (options->quiet && options->verbose)
        return cli_usage_error(NULL, "--quiet and --verbose cannot be combined");
    *word_count = count;
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    cli_options options;
    const cli_command *command;
    int word_count = 0;
    int rc;

    memset(&options, 0, sizeof options);
    rc = parse_command_line(&options, argc, argv, &word_count);
    if (rc != CLI_EXIT_OK)
        return rc;

    if (word_count == 0) {
        if (options.version && !options.help)
            return cli_cmd_version(&options, 0, argv + 1);
        if (options.help) {
            cli_print_help(stdout, NULL);
            return CLI_EXIT_OK;
        }
        cli_print_help(stderr, NULL);
        return CLI_EXIT_USAGE;
    }

    command = cli_find_command(argv[1]);
    if (!command)
        return cli_unknown_command(argv[1]);
    if (options.help) {
        cli_print_help(stdout, command);
        return CLI_EXIT_OK;
    }

    install_signal_handlers(command);
    return command->run(&options, word_count - 1, argv + 2);
}
