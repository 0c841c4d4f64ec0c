/* `advgnn version`. */
#include "advgnn/version.h"
#include "cli.h"
#include "lua/lua_runner.h"

int cli_cmd_version(const cli_options *options, int argc, char **argv)
{
    if (argc > 0)
        return cli_usage_error(cli_find_command("version"), "version takes no arguments");

    printf("advgnn %s\n", advgnn_version_string());
    printf("plugin ABI %u.%u\n", ADVGNN_ABI_MAJOR, ADVGNN_ABI_MINOR);
    printf("%s\n", advgnn_lua_release());
    return CLI_EXIT_OK;
}
