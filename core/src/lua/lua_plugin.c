/* advgnn.dataset, advgnn.encoder and advgnn.scorer: plugin objects whose
 * options are validated when the script creates them. */
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua/lua_internal.h"

/* ---- Lua values to option values ---------------------------------------- */

/* Chooses how to read a Lua list. A list option decides by its declared type,
 * which also makes an empty table valid for either kind. Any other option
 * decides by the first element, and the options module reports the mismatch. */
static advgnn_value_kind list_kind(const advgnn_option_spec *spec, int first_type)
{
    if (spec && spec->type == ADVGNN_OPT_NUMBER_LIST)
        return ADVGNN_VALUE_NUMBER_LIST;
    if (spec && spec->type == ADVGNN_OPT_STRING_LIST)
        return ADVGNN_VALUE_STRING_LIST;
    return first_type == LUA_TSTRING ? ADVGNN_VALUE_STRING_LIST : ADVGNN_VALUE_NUMBER_LIST;
}

/* Checks that the table at `index` is a sequence 1..n without other keys and
 * returns n, or -1. */
static lua_Integer sequence_length(lua_State *L, int index)
{
    lua_Integer length = (lua_Integer)lua_rawlen(L, index);
    lua_Integer keys = 0;

    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_Integer key;
        int is_integer;

        lua_pop(L, 1);
        key = lua_tointegerx(L, -1, &is_integer);
        if (lua_type(L, -1) != LUA_TNUMBER || !is_integer || key < 1 || key > length) {
            lua_pop(L, 1);
            return -1;
        }
        keys++;
    }
    return keys == length ? length : -1;
}

/* Fills a list value from the sequence at `index`. The element array lives in
 * a userdata pushed on the stack, so the collector frees it. The strings stay
 * referenced by the table, which the caller keeps on the stack. Returns NULL on
 * success, else a description of what is wrong. */
static const char *to_list_value(lua_State *L, int index, const advgnn_option_spec *spec, advgnn_value *value)
{
    lua_Integer length = sequence_length(L, index);
    int first_type;

    if (length < 0)
        return "a table that is not a list (a sequence 1..n)";
    if ((uint64_t)length > SIZE_MAX / sizeof(double))
        return "a list that is too long";

    lua_rawgeti(L, index, 1);
    first_type = lua_type(L, -1);
    lua_pop(L, 1);
    value->count = (size_t)length;
    value->kind = list_kind(spec, first_type);

    if (value->kind == ADVGNN_VALUE_NUMBER_LIST) {
        double *numbers = lua_newuserdatauv(L, value->count ? value->count * sizeof *numbers : 1, 0);

        for (lua_Integer i = 1; i <= length; i++) {
            int type = lua_rawgeti(L, index, i);

            numbers[i - 1] = lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (type != LUA_TNUMBER)
                return lua_pushfstring(L, "a list whose element %I is a %s", (LUAI_UACINT)i, lua_typename(L, type));
        }
        value->numbers = numbers;
    } else {
        const char **strings = lua_newuserdatauv(L, value->count ? value->count * sizeof *strings : 1, 0);

        for (lua_Integer i = 1; i <= length; i++) {
            int type = lua_rawgeti(L, index, i);

            strings[i - 1] = lua_tostring(L, -1);
            lua_pop(L, 1);
            if (type != LUA_TSTRING)
                return lua_pushfstring(L, "a list whose element %I is a %s", (LUAI_UACINT)i, lua_typename(L, type));
        }
        value->strings = strings;
    }
    return NULL;
}

/* Converts the Lua value at `index` into an option value. May push one
 * userdata (list storage) that must stay on the stack while `value` is used.
 * Returns NULL on success, else a description of the unsupported value. */
static const char *to_option_value(lua_State *L, int index, const advgnn_option_spec *spec, advgnn_value *value)
{
    memset(value, 0, sizeof *value);
    switch (lua_type(L, index)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, index)) {
            value->kind = ADVGNN_VALUE_INTEGER;
            value->integer = (int64_t)lua_tointeger(L, index);
        } else {
            value->kind = ADVGNN_VALUE_NUMBER;
            value->number = (double)lua_tonumber(L, index);
        }
        return NULL;
    case LUA_TBOOLEAN:
        value->kind = ADVGNN_VALUE_BOOLEAN;
        value->boolean = lua_toboolean(L, index);
        return NULL;
    case LUA_TSTRING:
        value->kind = ADVGNN_VALUE_STRING;
        value->string = lua_tostring(L, index);
        return NULL;
    case LUA_TTABLE:
        return to_list_value(L, index, spec, value);
    default:
        return lua_pushfstring(L, "a %s", luaL_typename(L, index));
    }
}

/* ---- plugin objects ------------------------------------------------------ */

advgnn_lua_plugin_obj *advgnn_lua_test_plugin(lua_State *L, int index)
{
    return luaL_testudata(L, index, ADVGNN_LUA_PLUGIN_META);
}

static advgnn_lua_plugin_obj *check_open_plugin(lua_State *L, int index)
{
    advgnn_lua_plugin_obj *obj = luaL_checkudata(L, index, ADVGNN_LUA_PLUGIN_META);

    if (!obj->options)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "%s '%s' was already closed",
                        advgnn_plugin_kind_name(obj->plugin->kind), obj->plugin->name);
    return obj;
}

/* Raises the error stored in the context, prefixed with the plugin. */
static int fail_with_context(lua_State *L, int status, const advgnn_plugin *plugin)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    char message[ADVGNN_ERROR_MAX];

    /* Copy and clear first: the first error in a context wins, and a script
     * may catch this one with pcall and go on. */
    snprintf(message, sizeof message, "%s", advgnn_ctx_error(env->ctx));
    advgnn_ctx_clear_error(env->ctx);
    return advgnn_lua_fail(L, status, "%s '%s': %s", advgnn_plugin_kind_name(plugin->kind), plugin->name,
                           advgnn_lua_plugin_text(plugin, message));
}

const char *advgnn_lua_plugin_text(const advgnn_plugin *plugin, const char *message)
{
    size_t length = strlen(plugin->name);

    /* The Lua message names the plugin's kind, which is more useful to a script author than "plugin". */
    if (strncmp(message, "plugin '", 8) == 0 && strncmp(message + 8, plugin->name, length) == 0 &&
        strncmp(message + 8 + length, "': ", 3) == 0)
        message += 8 + length + 3;
    if (strncmp(message, plugin->name, length) == 0 && strncmp(message + length, ": ", 2) == 0)
        message += length + 2;
    return message;
}

/* Returns a note for a number given where the option takes text, else "".
 * Such a number often comes from a key=value argument, which advgnn.args
 * converts (category=1e3), while advgnn.raw_args keeps the text. */
static const char *number_for_string_note(const advgnn_option_spec *spec, const char *unsupported)
{
    if ((spec->type == ADVGNN_OPT_STRING || spec->type == ADVGNN_OPT_STRING_LIST) && strstr(unsupported, "number"))
        return "; a key=value argument that reads as a number reaches the script as one in advgnn.args, while "
               "advgnn.raw_args keeps its text";
    return "";
}

/* Validates every entry of the options table at `index` into obj->options. */
static void set_options(lua_State *L, advgnn_lua_plugin_obj *obj, int index)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    const char *kind = advgnn_plugin_kind_name(obj->plugin->kind);

    lua_pushnil(L);
    while (lua_next(L, index)) {
        int top = lua_gettop(L);
        const char *name;
        const advgnn_option_spec *spec;
        const char *unsupported;
        advgnn_value value;
        int rc;

        if (lua_type(L, -2) != LUA_TSTRING)
            advgnn_lua_fail(L, ADVGNN_ERR_OPTION,
                            "%s '%s': options are given as name = value, but the table has a %s key",
                            kind, obj->plugin->name, luaL_typename(L, -2));
        name = lua_tostring(L, -2);
        spec = advgnn_options_find_spec(obj->options, name);

        unsupported = to_option_value(L, top, spec, &value);
        if (unsupported && !spec) {
            /* An unknown name is the more useful error: report it with the
             * core's wording by passing a placeholder value. */
            value.kind = ADVGNN_VALUE_BOOLEAN;
            unsupported = NULL;
        }
        if (unsupported)
            advgnn_lua_fail(L, ADVGNN_ERR_OPTION, "%s '%s': option '%s' must be %s %s, not %s%s", kind,
                            obj->plugin->name, name, spec->type == ADVGNN_OPT_INT ? "an" : "a",
                            advgnn_option_type_name(spec->type), unsupported,
                            number_for_string_note(spec, unsupported));

        rc = advgnn_options_set(obj->options, env->ctx, name, &value);
        if (rc != ADVGNN_OK)
            fail_with_context(L, rc, obj->plugin);
        lua_settop(L, top - 1);
    }
}

/* ---- dataset roots ------------------------------------------------------- */

/* Fails unless the dataset's `root` option names an existing folder or file.
 * A stat() like advgnn_source_open's suffices, so an archive is not opened
 * here. Checking here and not in advgnn.experiment stops a wrong path at its
 * script line even when the script runs other experiments first, so a script
 * that prepares its data must do so before it calls advgnn.dataset.
 * NOTE: option schemas have no marker for paths, so only a string option
 * named `root` is checked, the name every bundled dataset plugin gives its
 * folder or archive. Their other path options are relative to the root and
 * may lie inside an archive, so the plugin checks them when the run opens
 * the dataset. */
static void check_dataset_root(lua_State *L, const advgnn_lua_plugin_obj *obj)
{
    const advgnn_option_spec *spec = advgnn_options_find_spec(obj->options, "root");
    const char *name = obj->plugin->name;
    const char *root;
    struct stat st;
    int error;
    int missing;
    char cwd[PATH_MAX];
    char where[PATH_MAX + 32];

    if (!spec || spec->type != ADVGNN_OPT_STRING)
        return;
    root = advgnn_options_string(obj->options, "root");
    if (!root)
        return;
    if (root[0] == '\0')
        advgnn_lua_fail(L, ADVGNN_ERR_OPTION,
                        "dataset '%s': option 'root' is empty; set it to the dataset folder or archive", name);

    if (stat(root, &st) == 0) {
        if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
            return;
        advgnn_lua_fail(L, ADVGNN_ERR_OPTION,
                        "dataset '%s': option 'root' names '%s', which is neither a folder nor a file; set 'root' "
                        "to the dataset folder or archive",
                        name, root);
    }

    /* A relative root is resolved against the working folder, which need not
     * be the script's folder, so the message names it. */
    error = errno;
    missing = error == ENOENT || error == ENOTDIR;
    where[0] = '\0';
    if (root[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(where, sizeof where, " in the working folder '%s'", cwd);
    advgnn_lua_fail(L, missing ? ADVGNN_ERR_NOT_FOUND : ADVGNN_ERR_IO,
                    "dataset '%s': option 'root': '%s' %s%s (%s); set 'root' to the dataset folder or archive%s", name,
                    root, missing ? "not found" : "cannot be accessed", where, strerror(error),
                    missing ? ", or create it before advgnn.dataset is called" : "");
}

/* Creates a plugin object of `kind` from (name, options) at stack slots 1, 2. */
static int new_plugin_object(lua_State *L, advgnn_plugin_kind kind)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    const char *name = luaL_checkstring(L, 1);
    const advgnn_plugin *plugin = NULL;
    advgnn_lua_plugin_obj *obj;
    int rc;

    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);

    rc = advgnn_registry_require(env->reg, env->ctx, name, kind, &plugin);
    if (rc != ADVGNN_OK) {
        char message[ADVGNN_ERROR_MAX];

        snprintf(message, sizeof message, "%s", advgnn_ctx_error(env->ctx));
        advgnn_ctx_clear_error(env->ctx);
        return advgnn_lua_fail(L, rc, "%s", message);
    }

    /* The userdata owns the option set from here on: its __gc frees it even
     * when a later step raises an error. */
    obj = lua_newuserdatauv(L, sizeof *obj, 0);
    obj->plugin = plugin;
    obj->options = NULL;
    luaL_setmetatable(L, ADVGNN_LUA_PLUGIN_META);

    rc = advgnn_options_new(env->ctx, plugin->name, plugin->options, &obj->options);
    if (rc != ADVGNN_OK)
        return fail_with_context(L, rc, plugin);
    if (lua_istable(L, 2))
        set_options(L, obj, 2);
    rc = advgnn_options_finish(obj->options, env->ctx);
    if (rc != ADVGNN_OK)
        return fail_with_context(L, rc, plugin);
    if (kind == ADVGNN_PLUGIN_ENCODER && plugin->fn.encoder.check_options) {
        rc = plugin->fn.encoder.check_options(env->ctx, obj->options, NULL);
        if (rc != ADVGNN_OK)
            return fail_with_context(L, rc, plugin);
    }
    if (kind == ADVGNN_PLUGIN_DATASET)
        check_dataset_root(L, obj);
    return 1;
}

static int l_dataset(lua_State *L)
{
    return new_plugin_object(L, ADVGNN_PLUGIN_DATASET);
}

static int l_encoder(lua_State *L)
{
    return new_plugin_object(L, ADVGNN_PLUGIN_ENCODER);
}

static int l_scorer(lua_State *L)
{
    return new_plugin_object(L, ADVGNN_PLUGIN_SCORER);
}

/* ---- metamethods -------------------------------------------------------- */

/* __gc and __close: frees the option set once. */
static int plugin_release(lua_State *L)
{
    advgnn_lua_plugin_obj *obj = luaL_checkudata(L, 1, ADVGNN_LUA_PLUGIN_META);

    advgnn_options_free(obj->options);
    obj->options = NULL;
    return 0;
}

/* Pushes the value of the i-th option as the Lua value a script would write. */
static void push_option_value(lua_State *L, const advgnn_options *options, size_t i)
{
    const advgnn_option_spec *spec = advgnn_options_spec_at(options, i);

    switch (spec->type) {
    case ADVGNN_OPT_INT:
        lua_pushinteger(L, (lua_Integer)advgnn_options_int(options, spec->name));
        break;
    case ADVGNN_OPT_NUMBER:
        lua_pushnumber(L, advgnn_options_number(options, spec->name));
        break;
    case ADVGNN_OPT_BOOL:
        lua_pushboolean(L, advgnn_options_bool(options, spec->name));
        break;
    case ADVGNN_OPT_STRING:
    case ADVGNN_OPT_ENUM:
        lua_pushstring(L, advgnn_options_string(options, spec->name));
        break;
    case ADVGNN_OPT_NUMBER_LIST: {
        advgnn_number_list list = advgnn_options_numbers(options, spec->name);

        lua_createtable(L, (int)list.count, 0);
        for (size_t k = 0; k < list.count; k++) {
            lua_pushnumber(L, list.values[k]);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        break;
    }
    case ADVGNN_OPT_STRING_LIST: {
        advgnn_string_list list = advgnn_options_strings(options, spec->name);

        lua_createtable(L, (int)list.count, 0);
        for (size_t k = 0; k < list.count; k++) {
            lua_pushstring(L, list.values[k]);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        break;
    }
    default:
        lua_pushnil(L);
        break;
    }
}

/* __index: name, kind, version, description, path and options (a fresh
 * table of every option with defaults filled). */
static int plugin_index(lua_State *L)
{
    advgnn_lua_plugin_obj *obj = luaL_checkudata(L, 1, ADVGNN_LUA_PLUGIN_META);
    const char *key = luaL_checkstring(L, 2);
    const advgnn_plugin *plugin = obj->plugin;

    if (strcmp(key, "name") == 0)
        lua_pushstring(L, plugin->name);
    else if (strcmp(key, "kind") == 0)
        lua_pushstring(L, advgnn_plugin_kind_name(plugin->kind));
    else if (strcmp(key, "version") == 0)
        lua_pushstring(L, plugin->version);
    else if (strcmp(key, "description") == 0)
        lua_pushstring(L, plugin->description);
    else if (strcmp(key, "path") == 0)
        lua_pushstring(L, plugin->path);
    else if (strcmp(key, "options") == 0) {
        size_t count;

        check_open_plugin(L, 1);
        count = advgnn_options_count(obj->options);
        lua_createtable(L, 0, (int)count);
        for (size_t i = 0; i < count; i++) {
            push_option_value(L, obj->options, i);
            lua_setfield(L, -2, advgnn_options_spec_at(obj->options, i)->name);
        }
    } else
        lua_pushnil(L);
    return 1;
}

/* __tostring: "encoder 'patch_stats' (stride=4, ...)". */
static int plugin_tostring(lua_State *L)
{
    advgnn_lua_plugin_obj *obj = luaL_checkudata(L, 1, ADVGNN_LUA_PLUGIN_META);
    luaL_Buffer buffer;
    size_t count;

    luaL_buffinit(L, &buffer);
    lua_pushfstring(L, "%s '%s'", advgnn_plugin_kind_name(obj->plugin->kind), obj->plugin->name);
    luaL_addvalue(&buffer);
    if (!obj->options) {
        luaL_addstring(&buffer, " (closed)");
        luaL_pushresult(&buffer);
        return 1;
    }

    count = advgnn_options_count(obj->options);
    luaL_addstring(&buffer, " (");
    for (size_t i = 0; i < count; i++) {
        size_t length = advgnn_options_format_value(obj->options, i, NULL, 0);
        char *text;

        if (i > 0)
            luaL_addstring(&buffer, ", ");
        luaL_addstring(&buffer, advgnn_options_spec_at(obj->options, i)->name);
        luaL_addchar(&buffer, '=');
        text = luaL_prepbuffsize(&buffer, length + 1);
        advgnn_options_format_value(obj->options, i, text, length + 1);
        luaL_addsize(&buffer, length);
    }
    luaL_addchar(&buffer, ')');
    luaL_pushresult(&buffer);
    return 1;
}

void advgnn_lua_open_plugins(lua_State *L)
{
    static const luaL_Reg metamethods[] = {
        {"__gc", plugin_release},       {"__close", plugin_release}, {"__index", plugin_index},
        {"__tostring", plugin_tostring}, {NULL, NULL}};
    static const luaL_Reg constructors[] = {
        {"dataset", l_dataset}, {"encoder", l_encoder}, {"scorer", l_scorer}, {NULL, NULL}};

    luaL_newmetatable(L, ADVGNN_LUA_PLUGIN_META);
    luaL_setfuncs(L, metamethods, 0);
    lua_pop(L, 1);
    luaL_setfuncs(L, constructors, 0);
}
