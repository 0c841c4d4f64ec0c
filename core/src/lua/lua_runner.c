/* Running one Lua experiment script: the Lua state, its allocator, the
 * error plumbing shared by the module, and the protected calls. */
#include "lua/lua_runner.h"

#include <ctype.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_internal.h"
#include "util/fsutil.h"

/* Addresses used as unique keys in the Lua registry. */
static const char env_key;
static const char last_error_key;

/* Lua checks the count hook every this many VM instructions, so a script
 * stuck in a loop still stops soon after SIGINT. */
#define INTERRUPT_CHECK_INSTRUCTIONS 10000

/* Maximum length of a warning assembled from pieces (Lua's warn("a", "b")).
 * Longer text is cut. */
#define WARNING_MAX 1024

/* ---- environment and errors -------------------------------------------- */

void advgnn_lua_env_set(lua_State *L, advgnn_lua_env *env)
{
    lua_pushlightuserdata(L, env);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &env_key);
}

advgnn_lua_env *advgnn_lua_env_get(lua_State *L)
{
    advgnn_lua_env *env;

    lua_rawgetp(L, LUA_REGISTRYINDEX, &env_key);
    env = lua_touserdata(L, -1);
    lua_pop(L, 1);
    ADVGNN_ASSERT(env != NULL);
    return env;
}

int advgnn_lua_fail(lua_State *L, int status, const char *fmt, ...)
{
    /* Formatted on the C stack: nothing to free when lua_error jumps away. */
    char message[ADVGNN_ERROR_MAX + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);

    luaL_where(L, 1);
    lua_pushstring(L, message);
    lua_concat(L, 2);

    /* Remember which error value carries `status`; the runner compares the
     * value that ends the script with this one. */
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &last_error_key);
    advgnn_lua_env_get(L)->fail_status = status;
    return lua_error(L);
}

int advgnn_lua_error_status(lua_State *L, int index)
{
    int status = ADVGNN_ERR_SCRIPT;

    index = lua_absindex(L, index);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &last_error_key);
    if (!lua_isnil(L, -1) && lua_rawequal(L, index, -1))
        status = advgnn_lua_env_get(L)->fail_status;
    lua_pop(L, 1);
    return status;
}

/* ---- state setup -------------------------------------------------------- */

/* Routes every allocation of the interpreter through advgnn_realloc, so tests
 * can make the Nth allocation fail and check that the script fails cleanly. */
static void *lua_allocator(void *user, void *ptr, size_t old_size, size_t new_size)
{
    if (new_size == 0) {
        advgnn_free(ptr);
        return NULL;
    }
    return advgnn_realloc(ptr, new_size);
}

typedef struct warning_state {
    advgnn_ctx *ctx;
    int enabled; /* toggled by warn("@on") and warn("@off"); off at start, as in lua.c */
    size_t length;
    char text[WARNING_MAX];
} warning_state;

/* Assembles the pieces of one warn() call and logs it as a warning. */
static void log_lua_warning(void *user, const char *piece, int to_continue)
{
    warning_state *state = user;
    size_t room = sizeof state->text - 1 - state->length;
    size_t piece_length = strlen(piece);

    if (state->length == 0 && !to_continue && piece[0] == '@') {
        if (strcmp(piece, "@on") == 0)
            state->enabled = 1;
        else if (strcmp(piece, "@off") == 0)
            state->enabled = 0;
        return;
    }

    if (piece_length > room)
        piece_length = room;
    memcpy(state->text + state->length, piece, piece_length);
    state->length += piece_length;
    state->text[state->length] = '\0';
    if (to_continue)
        return;

    if (state->enabled)
        advgnn_log(state->ctx, ADVGNN_LOG_WARN, "Lua warning: %s", state->text);
    state->length = 0;
}

/* Stops a running script once SIGINT or SIGTERM arrived. */
static void interrupt_hook(lua_State *L, lua_Debug *debug)
{
    if (advgnn_interrupted())
        advgnn_lua_fail(L, ADVGNN_ERR_INTERRUPTED, "interrupted by a signal");
}

/* Prepends the script's folder to package.path, so a script can require the
 * modules that sit beside it. */
static void add_script_folder_to_path(lua_State *L, const char *script)
{
    const char *slash = strrchr(script, '/');

    lua_getglobal(L, "package");
    if (slash)
        lua_pushlstring(L, script, (size_t)(slash - script) + 1);
    else
        lua_pushliteral(L, "./");
    lua_pushliteral(L, "?.lua;");
    lua_getfield(L, -3, "path");
    lua_concat(L, 3);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

/* ---- script arguments -------------------------------------------------- */

/* Returns nonzero when `text` starts, after an optional sign, with a 0
 * followed by a digit ("01", "-007"). Such text names things (BTAD's
 * categories "01" to "03") more often than it means a number, and the
 * conversion would drop its zeros. */
static int has_leading_zero(const char *text)
{
    if (text[0] == '-' || text[0] == '+')
        text++;
    return text[0] == '0' && isdigit((unsigned char)text[1]);
}

/* Pushes the value of one "key=value" word: a boolean for "true"/"false", an
 * integer or float when the text parses as a Lua number without a leading
 * zero, else the string. */
static void push_argument_value(lua_State *L, const char *text)
{
    if (strcmp(text, "true") == 0)
        lua_pushboolean(L, 1);
    else if (strcmp(text, "false") == 0)
        lua_pushboolean(L, 0);
    else if (text[0] == '\0' || has_leading_zero(text) || lua_stringtonumber(L, text) == 0)
        lua_pushstring(L, text);
}

/* Checks the "key=value" words before any Lua code runs. */
static int check_arguments(advgnn_ctx *ctx, int argc, char *const *args)
{
    for (int i = 0; i < argc; i++) {
        const char *equals = strchr(args[i], '=');

        if (!equals || equals == args[i])
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "script argument '%s' is not of the form key=value", args[i]);

        for (int j = 0; j < i; j++) {
            size_t key_length = (size_t)(equals - args[i]);

            if (strncmp(args[j], args[i], key_length) == 0 && args[j][key_length] == '=')
                return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                    "script argument '%.*s' is given twice ('%s' and '%s')",
                                    (int)key_length, args[i], args[j], args[i]);
        }
    }
    return ADVGNN_OK;
}

/* Pushes advgnn.args built from the checked "key=value" words, with each
 * value converted as push_argument_value does, or as its text when `raw`. */
static void push_arguments(lua_State *L, int argc, char *const *args, int raw)
{
    lua_createtable(L, 0, argc);
    for (int i = 0; i < argc; i++) {
        const char *equals = strchr(args[i], '=');

        lua_pushlstring(L, args[i], (size_t)(equals - args[i]));
        if (raw)
            lua_pushstring(L, equals + 1);
        else
            push_argument_value(L, equals + 1);
        lua_rawset(L, -3);
    }
}

/* ---- the advgnn module -------------------------------------------------- */

static int log_level_from_name(const char *name, advgnn_log_level *level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};

    for (size_t i = 0; i < ADVGNN_ARRAY_LEN(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            *level = (advgnn_log_level)i;
            return 1;
        }
    }
    return 0;
}

/* Raises the error that string.format gave inside advgnn.log as an error of
 * advgnn.log at the script line. string.format numbers its arguments from
 * the format string, which is argument 2 of advgnn.log, so its "bad argument
 * #2" is advgnn.log's #3. The error object is on top of the stack. */
static int raise_log_format_error(lua_State *L, int lua_status)
{
    const char *message = lua_tostring(L, -1);
    char function[32];
    int position = 0;
    int consumed = 0;

    /* Out of memory, an error object that is not a string, and an advgnn
     * error with its own status pass on unchanged. SIGINT, for example, stops
     * a __tostring metamethod that string.format called with such a status. */
    if (lua_status == LUA_ERRMEM || lua_type(L, -1) != LUA_TSTRING ||
        advgnn_lua_error_status(L, -1) != ADVGNN_ERR_SCRIPT)
        return lua_error(L);
    if (sscanf(message, "bad argument #%d to '%31[^']' (%n", &position, function, &consumed) == 2 &&
        consumed > 0 && (strcmp(function, "format") == 0 || strcmp(function, "string.format") == 0))
        return advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.log: bad argument #%d (%s", position + 1,
                               message + consumed);
    return advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "advgnn.log: %s", message);
}

/* advgnn.log(level, fmt, ...): formats with string.format and logs the line
 * with the script position in front. */
static int l_log(lua_State *L)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    const char *level_name = luaL_checkstring(L, 1);
    advgnn_log_level level;
    int argument_count = lua_gettop(L);
    int lua_status;

    luaL_checkstring(L, 2);
    if (!log_level_from_name(level_name, &level))
        return advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                               "advgnn.log: invalid level '%s' (expected error, warn, info or debug)",
                               level_name);
    if (level > advgnn_ctx_log_level(env->ctx))
        return 0;

    lua_pushvalue(L, lua_upvalueindex(1));
    for (int i = 2; i <= argument_count; i++)
        lua_pushvalue(L, i);
    lua_status = lua_pcall(L, argument_count - 1, 1, 0);
    if (lua_status != LUA_OK)
        return raise_log_format_error(L, lua_status);

    luaL_where(L, 1);
    advgnn_log(env->ctx, level, "%s%s", lua_tostring(L, -1), lua_tostring(L, -2));
    return 0;
}

static int plugin_name_less(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* advgnn.plugins([kind]): a sorted list of the names of loaded plugins. */
static int l_plugins(lua_State *L)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    const char *kind_name = luaL_optstring(L, 1, NULL);
    advgnn_plugin_kind kind = ADVGNN_PLUGIN_INVALID;
    size_t count = advgnn_registry_count(env->reg);
    const char **names;
    size_t found = 0;

    if (kind_name) {
        for (int k = ADVGNN_PLUGIN_ENCODER; k <= ADVGNN_PLUGIN_DATASET; k++) {
            if (strcmp(kind_name, advgnn_plugin_kind_name((advgnn_plugin_kind)k)) == 0)
                kind = (advgnn_plugin_kind)k;
        }
        if (kind == ADVGNN_PLUGIN_INVALID)
            return advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                                   "advgnn.plugins: invalid kind '%s' (expected dataset, encoder or scorer)",
                                   kind_name);
    }

    /* The name array is a userdata, so the collector frees it on any error. */
    names = lua_newuserdatauv(L, (count ? count : 1) * sizeof *names, 0);
    for (size_t i = 0; i < count; i++) {
        const advgnn_plugin *plugin = advgnn_registry_at(env->reg, i);

        if (kind == ADVGNN_PLUGIN_INVALID || plugin->kind == kind)
            names[found++] = plugin->name;
    }
    qsort(names, found, sizeof *names, plugin_name_less);

    lua_createtable(L, (int)found, 0);
    for (size_t i = 0; i < found; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* Builds the module table and leaves it on the stack. */
static void push_module(lua_State *L, int argc, char *const *args)
{
    lua_newtable(L);

    lua_pushstring(L, advgnn_version_string());
    lua_setfield(L, -2, "version");

    push_arguments(L, argc, args, 0);
    lua_setfield(L, -2, "args");
    push_arguments(L, argc, args, 1);
    lua_setfield(L, -2, "raw_args");

    /* string.format as it is before the script runs, so a script that
     * replaces it does not change advgnn.log or advgnn.format_table. */
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_log, 1);
    lua_setfield(L, -3, "log");
    lua_pushcclosure(L, advgnn_lua_format_table, 1);
    lua_setfield(L, -2, "format_table");

    lua_pushcfunction(L, l_plugins);
    lua_setfield(L, -2, "plugins");

    advgnn_lua_open_plugins(L);
    advgnn_lua_open_experiment(L);
    advgnn_lua_open_sweep(L);
}

/* What the protected setup needs; passed as a light userdata. */
typedef struct setup_request {
    advgnn_lua_env *env;
    int argc;
    char *const *args;
} setup_request;

/* Opens the standard libraries and the advgnn module inside lua_pcall, because
 * both allocate and a failed allocation raises an error. */
static int setup_state(lua_State *L)
{
    setup_request *request = lua_touserdata(L, 1);

    advgnn_lua_env_set(L, request->env);
    luaL_openlibs(L);
    add_script_folder_to_path(L, request->env->script_path);

    /* The module is both a global and package.loaded.advgnn, so
     * `local advgnn = require("advgnn")` works too. */
    push_module(L, request->argc, request->args);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "advgnn");
    lua_pop(L, 1);
    lua_setglobal(L, "advgnn");
    return 0;
}

/* ---- running ------------------------------------------------------------ */

/* Pushes the message for an error object at `index` that is not a string,
 * such as error({code = 1}): its type, at the position of the innermost Lua
 * function on the stack ("script.lua:3: "), which is what error() would have
 * prefixed to a string. Called from the message handler, so level 0 is the
 * handler itself. */
static const char *push_object_message(lua_State *L, int index)
{
    const char *type = luaL_typename(L, index);
    lua_Debug ar;

    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
            return lua_pushfstring(L, "%s:%d: error object is a %s (not a string)", ar.short_src, ar.currentline,
                                   type);
    }
    return lua_pushfstring(L, "error object is a %s (not a string)", type);
}

/* Message handler of the script call: records the status of the error and
 * appends a traceback. Runs at the point of the error, before unwinding. */
static int message_handler(lua_State *L)
{
    const char *message = lua_tostring(L, 1);
    advgnn_lua_env *env = advgnn_lua_env_get(L);

    env->fail_status = advgnn_lua_error_status(L, 1);
    if (!message) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            message = lua_tostring(L, -1);
        else
            message = push_object_message(L, 1);
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

/* Turns the result of a failed lua_pcall into the context's error. */
static int report_lua_failure(lua_State *L, advgnn_ctx *ctx, int lua_status, int script_status)
{
    const char *message = lua_tostring(L, -1);
    int status = script_status;

    if (lua_status == LUA_ERRMEM)
        status = ADVGNN_ERR_NOMEM;
    else if (lua_status == LUA_ERRERR)
        status = ADVGNN_ERR_SCRIPT;

    /* The module copied earlier errors into Lua messages; the Lua message is
     * the one that names the script line, so it replaces them. */
    advgnn_ctx_clear_error(ctx);
    return advgnn_failf(ctx, status, "%s", message ? message : "unknown Lua error");
}

/* Returns a copy of the file name of `path` without its folder and ".lua". */
static char *script_stem(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t length = strlen(name);
    char *stem;

    if (length > 4 && strcmp(name + length - 4, ".lua") == 0)
        length -= 4;
    stem = advgnn_malloc(length + 1);
    if (stem) {
        memcpy(stem, name, length);
        stem[length] = '\0';
    }
    return stem;
}

/* Loads and calls the script in a state that setup_state prepared. */
static int run_script(lua_State *L, advgnn_lua_env *env)
{
    int lua_status;

    lua_pushcfunction(L, message_handler);
    lua_status = luaL_loadfilex(L, env->script_path, "t");
    if (lua_status == LUA_ERRFILE)
        return advgnn_failf(env->ctx, ADVGNN_ERR_IO, "%s", lua_tostring(L, -1));
    if (lua_status != LUA_OK)
        return report_lua_failure(L, env->ctx, lua_status, ADVGNN_ERR_SCRIPT);

    env->fail_status = ADVGNN_ERR_SCRIPT;
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, INTERRUPT_CHECK_INSTRUCTIONS);
    lua_status = lua_pcall(L, 0, 0, -2);
    if (lua_status != LUA_OK)
        return report_lua_failure(L, env->ctx, lua_status, env->fail_status);
    return ADVGNN_OK;
}

int advgnn_lua_run_file(advgnn_ctx *ctx, advgnn_registry *reg, const char *script, int argc,
                        char *const *args, const advgnn_run_settings *settings)
{
    static const advgnn_run_settings default_settings = {0};
    advgnn_lua_env env = {.ctx = ctx, .reg = reg, .script_path = script};
    warning_state warnings = {.ctx = ctx};
    setup_request request = {.env = &env, .argc = argc, .args = args};
    char *stem = NULL;
    lua_State *L = NULL;
    int rc;

    if (!ctx || !reg || !script || argc < 0 || (argc > 0 && !args))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "advgnn_lua_run_file: invalid arguments");
    if (advgnn_fs_is_dir(script))
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "script '%s' is a folder; give the path of a .lua file, such as "
                            "experiments/quickstart.lua",
                            script);
    if (!advgnn_fs_is_file(script))
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "script '%s' not found (or not a regular file)",
                            script);
    rc = check_arguments(ctx, argc, args);
    if (rc != ADVGNN_OK)
        return rc;

    env.settings = settings ? settings : &default_settings;
    if (env.settings->shard_count > 1 &&
        (env.settings->shard_index < 0 || env.settings->shard_index >= env.settings->shard_count))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "shard %d/%d does not exist: the index must be 0 to %d",
                            env.settings->shard_index, env.settings->shard_count, env.settings->shard_count - 1);
    stem = script_stem(script);
    L = lua_newstate(lua_allocator, NULL);
    if (!stem || !L) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory while starting the Lua interpreter");
        goto done;
    }
    env.script_stem = stem;
    lua_setwarnf(L, log_lua_warning, &warnings);

    lua_pushcfunction(L, setup_state);
    lua_pushlightuserdata(L, &request);
    rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK) {
        rc = report_lua_failure(L, ctx, rc, ADVGNN_ERR_SCRIPT);
        goto done;
    }

    rc = run_script(L, &env);

done:
    /* lua_close runs the __gc of every object left, which frees their options. */
    if (L)
        lua_close(L);
    advgnn_free(stem);
    return rc;
}

const char *advgnn_lua_release(void)
{
    return LUA_RELEASE;
}
