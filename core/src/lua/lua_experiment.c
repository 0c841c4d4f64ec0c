/* advgnn.experiment{...} and experiment:run(). */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "experiment/experiment.h"
#include "lua/lua_internal.h"
#include "tracking/sync.h"
#include "util/fsutil.h"

/* Limits of the numeric fields. They catch typos (an extra zero) early, not
 * hardware limits: a run that does not fit in memory fails in the runner. */
#define IMAGE_SIZE_MIN 8
#define IMAGE_SIZE_MAX 16384
#define BATCH_SIZE_MAX 65536
#define NAME_LENGTH_MAX 128

/* Tries of "<name>-<time>-<n>" before giving up on a unique output folder. */
#define OUTPUT_SUFFIX_MAX 1000

/* Maximum length of an output folder path, terminator included. */
#define OUTPUT_PATH_MAX 4096

/* The scalar fields of an experiment. Strings, plugin objects and lists live
 * in the userdata's user value (a table), so the collector manages them. */
typedef struct lua_experiment {
    int image_size;
    int crop_size;
    int batch_size;
    int heatmaps;
    int prefetch; /* decode test images in the background (default on) */
    uint64_t seed;
} lua_experiment;

/* The fields advgnn.experiment accepts, as option specs so that the core's
 * closest-name search can suggest a field for a typo. */
static const advgnn_option_spec experiment_fields[] = {
    {.name = "name", .type = ADVGNN_OPT_STRING},      {.name = "dataset", .type = ADVGNN_OPT_STRING},
    {.name = "encoder", .type = ADVGNN_OPT_STRING},   {.name = "scorers", .type = ADVGNN_OPT_STRING},
    {.name = "categories", .type = ADVGNN_OPT_STRING}, {.name = "image_size", .type = ADVGNN_OPT_INT},
    {.name = "crop", .type = ADVGNN_OPT_INT},         {.name = "batch_size", .type = ADVGNN_OPT_INT},
    {.name = "seed", .type = ADVGNN_OPT_INT},         {.name = "output", .type = ADVGNN_OPT_STRING},
    {.name = "heatmaps", .type = ADVGNN_OPT_INT},     {.name = "prefetch", .type = ADVGNN_OPT_BOOL},
    {.name = "sample_cache", .type = ADVGNN_OPT_STRING}, {.name = NULL}};

/* The fields of a {scorer, weight = ..., label = ...} entry besides [1]. */
static const advgnn_option_spec scorer_entry_fields[] = {
    {.name = "weight", .type = ADVGNN_OPT_NUMBER}, {.name = "label", .type = ADVGNN_OPT_STRING}, {.name = NULL}};

/* ---- field checks -------------------------------------------------------- */

static int is_field(const advgnn_option_spec *fields, const char *name)
{
    for (const advgnn_option_spec *field = fields; field->name; field++) {
        if (strcmp(field->name, name) == 0)
            return 1;
    }
    return 0;
}

/* Pushes "a, b, c": the names of the fields. */
static void push_field_list(lua_State *L, const advgnn_option_spec *fields)
{
    luaL_Buffer buffer;

    luaL_buffinit(L, &buffer);
    for (const advgnn_option_spec *field = fields; field->name; field++) {
        if (field != fields)
            luaL_addstring(&buffer, ", ");
        luaL_addstring(&buffer, field->name);
    }
    luaL_pushresult(&buffer);
}

/* Raises an error for the first key of the table at `index` that is not a
 * declared field, suggesting the closest one. Integer key 1 is allowed when
 * `allow_first` is set ({scorer, weight = 2}). */
static void check_field_names(lua_State *L, int index, const advgnn_option_spec *fields, const char *what,
                              int allow_first)
{
    lua_pushnil(L);
    while (lua_next(L, index)) {
        const char *name;
        const char *closest;

        lua_pop(L, 1);
        if (allow_first && lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) == 1)
            continue;
        if (lua_type(L, -1) != LUA_TSTRING)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "%s: fields are given as name = value, but the table has a %s key",
                            what, luaL_typename(L, -1));

        name = lua_tostring(L, -1);
        if (is_field(fields, name))
            continue;
        closest = advgnn_options_closest_name(fields, name);
        if (closest)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "%s: unknown field '%s'; did you mean '%s'?", what, name, closest);
        push_field_list(L, fields);
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "%s: unknown field '%s' (valid fields: %s)", what, name,
                        lua_tostring(L, -1));
    }
}

/* Reads an optional integer field; a float with an integral value counts. */
static lua_Integer integer_field(lua_State *L, int table, const char *name, lua_Integer fallback,
                                 lua_Integer min, lua_Integer max)
{
    lua_Integer value = fallback;
    int type = lua_getfield(L, table, name);

    if (type != LUA_TNIL) {
        int is_integer = 0;

        if (type == LUA_TNUMBER)
            value = lua_tointegerx(L, -1, &is_integer);
        if (!is_integer)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field '%s' must be an integer, not %s %s", name,
                            type == LUA_TNUMBER ? "the fraction" : "a",
                            type == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        if (value < min || value > max)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                            "experiment: field '%s' is %lld, outside the valid range [%lld, %lld]", name,
                            (long long)value, (long long)min, (long long)max);
    }
    lua_pop(L, 1);
    return value;
}

/* Pushes an optional string field, or nil. */
static const char *string_field(lua_State *L, int table, const char *name)
{
    int type = lua_getfield(L, table, name);

    if (type != LUA_TNIL && type != LUA_TSTRING)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field '%s' must be a string, not a %s", name,
                        luaL_typename(L, -1));
    return lua_tostring(L, -1);
}

/* Checks that a name contains only letters, digits, '.', '_' and '-', so it is
 * safe as a folder name and as a metric key. */
static int is_safe_name(const char *name)
{
    size_t length = strlen(name);

    if (length == 0 || length > NAME_LENGTH_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (const char *p = name; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '_' || *p == '-';

        if (!ok)
            return 0;
    }
    return 1;
}

/* Returns the indefinite article for a plugin kind ("an encoder"). */
static const char *article(const char *word)
{
    return strchr("aeiou", word[0]) ? "an" : "a";
}

/* Checks that the value at `index` is an open plugin object of `kind`. */
static advgnn_lua_plugin_obj *check_plugin_value(lua_State *L, int index, advgnn_plugin_kind kind, const char *field)
{
    advgnn_lua_plugin_obj *obj;
    const char *kind_name = advgnn_plugin_kind_name(kind);

    index = lua_absindex(L, index);
    obj = advgnn_lua_test_plugin(L, index);

    if (!obj && lua_type(L, index) == LUA_TSTRING)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                        "experiment: %s must be %s %s object; create it with advgnn.%s(\"%s\", {...})", field,
                        article(kind_name), kind_name, kind_name, lua_tostring(L, index));
    if (!obj)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: %s must be %s %s object (from advgnn.%s), not a %s",
                        field, article(kind_name), kind_name, kind_name, luaL_typename(L, index));
    if (obj->plugin->kind != kind)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: %s must be %s %s object, not %s '%s'", field,
                        article(kind_name), kind_name, advgnn_plugin_kind_name(obj->plugin->kind), obj->plugin->name);
    if (!obj->options)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: %s %s '%s' was already closed", field, kind_name,
                        obj->plugin->name);
    return obj;
}

/* ---- scorers and categories -------------------------------------------- */

/* Reads scorers[i] (on top of the stack) and appends {object, weight, label}
 * to the normalized list at `list`. */
static void read_scorer_entry(lua_State *L, int list, lua_Integer i)
{
    int entry = lua_gettop(L);
    char field[48];
    double weight = 1.0;
    advgnn_lua_plugin_obj *obj;

    snprintf(field, sizeof field, "scorers[%lld]", (long long)i);
    lua_createtable(L, 0, 3);

    if (lua_istable(L, entry)) {
        check_field_names(L, entry, scorer_entry_fields, field, 1);
        lua_rawgeti(L, entry, 1);
        obj = check_plugin_value(L, -1, ADVGNN_PLUGIN_SCORER, field);
        lua_setfield(L, -2, "object");

        if (lua_getfield(L, entry, "weight") != LUA_TNIL) {
            if (lua_type(L, -1) != LUA_TNUMBER)
                advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: %s.weight must be a number, not a %s", field,
                                luaL_typename(L, -1));
            weight = lua_tonumber(L, -1);
            if (!isfinite(weight) || weight <= 0.0)
                advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                                "experiment: %s.weight is %g; it must be a finite number greater than 0", field,
                                weight);
        }
        lua_pop(L, 1);

        if (lua_getfield(L, entry, "label") == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushstring(L, obj->plugin->name);
        } else if (lua_type(L, -1) != LUA_TSTRING) {
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: %s.label must be a string, not a %s", field,
                            luaL_typename(L, -1));
        }
    } else {
        obj = check_plugin_value(L, entry, ADVGNN_PLUGIN_SCORER, field);
        lua_pushvalue(L, entry);
        lua_setfield(L, -2, "object");
        lua_pushstring(L, obj->plugin->name);
    }

    /* Labels name metric keys ("<label>.image_auroc"); "fused" is the
     * runner's own label. */
    if (!is_safe_name(lua_tostring(L, -1)) || strcmp(lua_tostring(L, -1), "fused") == 0)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                        "experiment: %s.label '%s' is invalid: use letters, digits, '.', '_' or '-', and not "
                        "\"fused\"",
                        field, lua_tostring(L, -1));
    for (lua_Integer k = 1; k < i; k++) {
        lua_rawgeti(L, list, k);
        lua_getfield(L, -1, "label");
        if (lua_rawequal(L, -1, -3))
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                            "experiment: %s has the label '%s' of scorers[%lld]; give one of them another label, "
                            "e.g. {scorer, label = \"%s_2\"}",
                            field, lua_tostring(L, -1), (long long)k, lua_tostring(L, -1));
        lua_pop(L, 2);
    }
    lua_setfield(L, -2, "label");
    lua_pushnumber(L, weight);
    lua_setfield(L, -2, "weight");
    lua_rawseti(L, list, i);
    lua_settop(L, entry);
}

/* Reads the scorers field of the table at `table` into a normalized list
 * stored as fields.scorers of the table at `fields`. */
static void read_scorers(lua_State *L, int table, int fields)
{
    lua_Integer count;

    if (lua_getfield(L, table, "scorers") == LUA_TNIL)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                        "experiment: field 'scorers' is missing; give a list such as {advgnn.scorer(\"memory_bank\")}");
    if (advgnn_lua_test_plugin(L, -1)) {
        /* One scorer object without braces: read as a list of one. */
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    }
    if (!lua_istable(L, -1))
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field 'scorers' must be a list, not a %s",
                        luaL_typename(L, -1));
    count = (lua_Integer)lua_rawlen(L, -1);
    if (count == 0)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field 'scorers' is an empty list; give at least one scorer");

    lua_createtable(L, (int)count, 0);
    for (lua_Integer i = 1; i <= count; i++) {
        lua_rawgeti(L, -2, i);
        read_scorer_entry(L, lua_gettop(L) - 1, i);
        lua_pop(L, 1);
    }
    lua_setfield(L, fields, "scorers");
    lua_pop(L, 1);
}

/* Reads categories: nil (every category), one string or a list of strings. */
static void read_categories(lua_State *L, int table, int fields)
{
    int type = lua_getfield(L, table, "categories");

    if (type == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (type == LUA_TTABLE) {
        lua_Integer count = (lua_Integer)lua_rawlen(L, -1);

        if (count == 0)
            advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                            "experiment: field 'categories' is an empty list; leave it out to run every category");
        for (lua_Integer i = 1; i <= count; i++) {
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
                advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: categories[%lld] must be a string, not a %s",
                                (long long)i, luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    } else if (type != LUA_TNIL) {
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                        "experiment: field 'categories' must be a string or a list of strings, not a %s",
                        luaL_typename(L, -1));
    }
    lua_setfield(L, fields, "categories");
}

/* ---- advgnn.experiment ------------------------------------------------ */

/* Lets the encoder check its options against the input size (the crop, or
 * image_size), so that an unusable size stops the script at this line
 * instead of when experiment:run() creates the encoder. */
static void check_encoder_size(lua_State *L, const char *name, const lua_experiment *experiment,
                               const advgnn_lua_plugin_obj *encoder)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    int side = experiment->crop_size ? experiment->crop_size : experiment->image_size;
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = side, .image_width = side,
                                    .channels = 3, .seed = experiment->seed};
    char message[ADVGNN_ERROR_MAX];
    int rc;

    if (!encoder->plugin->fn.encoder.check_options)
        return;
    rc = encoder->plugin->fn.encoder.check_options(env->ctx, encoder->options, &config);
    if (rc == ADVGNN_OK)
        return;
    snprintf(message, sizeof message, "%s", advgnn_ctx_error(env->ctx));
    advgnn_ctx_clear_error(env->ctx);
    advgnn_lua_fail(L, rc, "experiment '%s': encoder '%s': %s", name, encoder->plugin->name,
                    advgnn_lua_plugin_text(encoder->plugin, message));
}

static int l_experiment(lua_State *L)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    lua_experiment *experiment;
    const advgnn_lua_plugin_obj *encoder;
    const char *name;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    check_field_names(L, 1, experiment_fields, "experiment", 0);

    experiment = lua_newuserdatauv(L, sizeof *experiment, 1);
    memset(experiment, 0, sizeof *experiment);
    luaL_setmetatable(L, ADVGNN_LUA_EXPERIMENT_META);
    lua_newtable(L); /* slot 3: the fields table, the user value */

    name = string_field(L, 1, "name");
    if (!name)
        name = env->script_stem;
    if (!is_safe_name(name))
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG,
                        "experiment: name '%s' is invalid: use 1 to %d letters, digits, '.', '_' or '-', because it "
                        "becomes a folder name",
                        name, NAME_LENGTH_MAX);
    lua_pushstring(L, name);
    lua_setfield(L, 3, "name");
    lua_pop(L, 1);

    if (lua_getfield(L, 1, "dataset") == LUA_TNIL)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field 'dataset' is missing");
    check_plugin_value(L, -1, ADVGNN_PLUGIN_DATASET, "field 'dataset'");
    lua_setfield(L, 3, "dataset");
    if (lua_getfield(L, 1, "encoder") == LUA_TNIL)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field 'encoder' is missing");
    encoder = check_plugin_value(L, -1, ADVGNN_PLUGIN_ENCODER, "field 'encoder'");
    lua_setfield(L, 3, "encoder");
    read_scorers(L, 1, 3);
    read_categories(L, 1, 3);

    string_field(L, 1, "output");
    lua_setfield(L, 3, "output");
    string_field(L, 1, "sample_cache");
    lua_setfield(L, 3, "sample_cache");

    int prefetch_type = lua_getfield(L, 1, "prefetch");
    if (prefetch_type != LUA_TNIL && prefetch_type != LUA_TBOOLEAN)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field 'prefetch' must be true or false, not a %s",
                        luaL_typename(L, -1));
    experiment->prefetch = prefetch_type == LUA_TNIL || lua_toboolean(L, -1);
    lua_pop(L, 1);

    experiment->image_size = (int)integer_field(L, 1, "image_size", 256, IMAGE_SIZE_MIN, IMAGE_SIZE_MAX);
    experiment->crop_size = (int)integer_field(L, 1, "crop", 0, 0, experiment->image_size);
    if (experiment->crop_size != 0 && experiment->crop_size < IMAGE_SIZE_MIN)
        advgnn_lua_fail(L, ADVGNN_ERR_INVALID_ARG, "experiment: field 'crop' is %d; use 0 (no crop) or %d to image_size",
                        experiment->crop_size, IMAGE_SIZE_MIN);
    experiment->batch_size = (int)integer_field(L, 1, "batch_size", 8, 1, BATCH_SIZE_MAX);
    experiment->seed = (uint64_t)integer_field(L, 1, "seed", 0, 0, LUA_MAXINTEGER);
    experiment->heatmaps = (int)integer_field(L, 1, "heatmaps", 8, -1, INT32_MAX);
    check_encoder_size(L, name, experiment, encoder);

    lua_setiuservalue(L, 2, 1);
    return 1;
}

/* ---- experiment:run() --------------------------------------------------- */

/* Creates "<root>/<name>-<UTC time>" (or with "-2", "-3", ... when it exists)
 * and pushes its path. mkdir fails on an existing folder, so two runs never
 * share one. */
static void push_new_output_folder(lua_State *L, const char *name)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    const char *root = env->settings->output_root ? env->settings->output_root : "runs";
    char stamp[32];
    char path[OUTPUT_PATH_MAX];
    time_t now = time(NULL);
    struct tm utc;

    if (advgnn_fs_mkdir_p(env->ctx, root) != ADVGNN_OK) {
        char message[ADVGNN_ERROR_MAX];

        snprintf(message, sizeof message, "%s", advgnn_ctx_error(env->ctx));
        advgnn_ctx_clear_error(env->ctx);
        advgnn_lua_fail(L, ADVGNN_ERR_IO, "experiment '%s': %s", name, message);
    }
    if (!gmtime_r(&now, &utc) || strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc) == 0)
        advgnn_lua_fail(L, ADVGNN_ERR_INTERNAL, "experiment '%s': cannot format the current time", name);

    for (int attempt = 1; attempt <= OUTPUT_SUFFIX_MAX; attempt++) {
        int length = attempt == 1 ? snprintf(path, sizeof path, "%s/%s-%s", root, name, stamp)
                                  : snprintf(path, sizeof path, "%s/%s-%s-%d", root, name, stamp, attempt);

        if (length < 0 || (size_t)length >= sizeof path)
            advgnn_lua_fail(L, ADVGNN_ERR_LIMIT, "experiment '%s': output path under '%s' is too long", name, root);
        if (mkdir(path, 0755) == 0) {
            lua_pushstring(L, path);
            return;
        }
        if (errno != EEXIST)
            advgnn_lua_fail(L, ADVGNN_ERR_IO, "experiment '%s': cannot create the output folder '%s': %s", name, path,
                            strerror(errno));
    }
    advgnn_lua_fail(L, ADVGNN_ERR_IO, "experiment '%s': %d folders named '%s/%s-%s*' exist already", name,
                    OUTPUT_SUFFIX_MAX, root, name, stamp);
}

/* Owns a results tree until it is converted: __gc deletes it when a Lua
 * error interrupts the conversion. */
typedef struct json_box {
    cJSON *json;
} json_box;

static int json_box_gc(lua_State *L)
{
    json_box *box = lua_touserdata(L, 1);

    cJSON_Delete(box->json);
    box->json = NULL;
    return 0;
}

static json_box *push_json_box(lua_State *L)
{
    json_box *box = lua_newuserdatauv(L, sizeof *box, 0);

    box->json = NULL;
    if (luaL_newmetatable(L, "advgnn.json_box")) {
        lua_pushcfunction(L, json_box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return box;
}

/* Fills a plugin choice from the plugin object at `index`, which must still
 * be open. The object stays referenced by the fields table during the run. */
static void fill_choice(lua_State *L, int index, advgnn_plugin_kind kind, const char *field,
                        advgnn_plugin_choice *choice)
{
    advgnn_lua_plugin_obj *obj = check_plugin_value(L, index, kind, field);

    choice->plugin = obj->plugin;
    choice->options = obj->options;
    choice->label = NULL;
    choice->weight = 1.0;
}

/* Fills spec->scorers and spec->categories with arrays kept in userdata on the
 * stack (two values pushed). */
static void fill_lists(lua_State *L, int fields, advgnn_experiment_spec *spec)
{
    advgnn_plugin_choice *scorers;
    const char **categories = NULL;
    size_t count;

    lua_getfield(L, fields, "scorers");
    count = (size_t)lua_rawlen(L, -1);
    scorers = lua_newuserdatauv(L, count * sizeof *scorers, 0);
    lua_insert(L, -2);
    for (size_t i = 0; i < count; i++) {
        char field[48];

        snprintf(field, sizeof field, "scorers[%zu]", i + 1);
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        lua_getfield(L, -1, "object");
        fill_choice(L, -1, ADVGNN_PLUGIN_SCORER, field, &scorers[i]);
        lua_pop(L, 1);
        lua_getfield(L, -1, "label");
        scorers[i].label = lua_tostring(L, -1); /* kept alive by the fields table */
        lua_getfield(L, -2, "weight");
        scorers[i].weight = lua_tonumber(L, -1);
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    spec->scorers = scorers;
    spec->scorer_count = count;

    count = 0;
    if (lua_getfield(L, fields, "categories") == LUA_TTABLE) {
        count = (size_t)lua_rawlen(L, -1);
        categories = lua_newuserdatauv(L, count * sizeof *categories, 0);
        for (size_t i = 0; i < count; i++) {
            lua_rawgeti(L, -2, (lua_Integer)i + 1);
            categories[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
    }
    spec->categories = categories;
    spec->category_count = count;
}

/* ---- advgnn.track ------------------------------------------------------- */

/* Registry field holding the table of the last advgnn.track call. */
#define TRACK_REGISTRY_KEY "advgnn.track"

/* advgnn.track{uri = "http://host:5000", experiment = "name"}: the MLflow
 * server and experiment of the experiments run after it. Both fields are
 * optional; without a uri, --tracking-uri and then MLFLOW_TRACKING_URI apply.
 * The journal in each run folder is written either way. */
static int l_track(lua_State *L)
{
    advgnn_ctx *ctx = advgnn_lua_env_get(L)->ctx;
    const char *uri;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;

        if (!key)
            return advgnn_lua_fail(L, ADVGNN_ERR_OPTION,
                                   "advgnn.track: takes named fields, as in advgnn.track{uri = \"http://HOST:PORT\", "
                                   "experiment = \"NAME\"}, not a %s key",
                                   luaL_typename(L, -2));
        if (strcmp(key, "uri") != 0 && strcmp(key, "experiment") != 0)
            return advgnn_lua_fail(L, ADVGNN_ERR_OPTION, "advgnn.track: unknown field '%s' (fields: uri, experiment)",
                                   key);
        if (lua_type(L, -1) != LUA_TSTRING)
            return advgnn_lua_fail(L, ADVGNN_ERR_OPTION, "advgnn.track: field '%s' must be a string, not a %s", key,
                                   luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_getfield(L, 1, "uri");
    uri = lua_tostring(L, -1);
    if (uri && advgnn_tracking_check_uri(ctx, uri) != ADVGNN_OK)
        return advgnn_lua_fail(L, ADVGNN_ERR_OPTION, "advgnn.track: %s", advgnn_ctx_error(ctx));
    lua_pop(L, 1);

    /* A copy, so that later changes to the caller's table have no effect. */
    lua_newtable(L);
    lua_getfield(L, 1, "uri");
    lua_setfield(L, -2, "uri");
    lua_getfield(L, 1, "experiment");
    lua_setfield(L, -2, "experiment");
    lua_setfield(L, LUA_REGISTRYINDEX, TRACK_REGISTRY_KEY);
    return 0;
}

/* Fills the tracking fields of `spec`: advgnn.track{} first, then
 * --tracking-uri (the runner falls back to MLFLOW_TRACKING_URI). Pushes the
 * advgnn.track table, whose strings the spec borrows. */
static void push_tracking(lua_State *L, const advgnn_lua_env *env, advgnn_experiment_spec *spec)
{
    spec->tracking_uri = env->settings->tracking_uri;
    if (lua_getfield(L, LUA_REGISTRYINDEX, TRACK_REGISTRY_KEY) != LUA_TTABLE)
        return;
    if (lua_getfield(L, -1, "uri") == LUA_TSTRING)
        spec->tracking_uri = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "experiment") == LUA_TSTRING)
        spec->tracking_experiment = lua_tostring(L, -1);
    lua_pop(L, 1);
}

/* The results.json of an output folder: whether it exists and when it was
 * last changed, so a failed run can tell whether it wrote one. */
typedef struct results_file_state {
    int exists;
    struct timespec modified;
} results_file_state;

static results_file_state results_file(const char *output_dir)
{
    results_file_state state = {0};
    char *path = advgnn_fs_join(output_dir, "results.json");
    struct stat st;

    if (path && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        state.exists = 1;
        state.modified = st.st_mtim;
    }
    advgnn_free(path);
    return state;
}

/* Raises the error of a failed run. The message points at the results only
 * when this run wrote results.json (`before` is its state before the run);
 * an output folder that could not be created (a regular file of that name,
 * no permission) is named as such. */
static int fail_run(lua_State *L, int rc, const advgnn_experiment_spec *spec, results_file_state before)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    char message[ADVGNN_ERROR_MAX];
    results_file_state after;
    int has_results;

    snprintf(message, sizeof message, "%s", advgnn_ctx_error(env->ctx));
    advgnn_ctx_clear_error(env->ctx);
    if (!advgnn_fs_is_dir(spec->output_dir))
        return advgnn_lua_fail(L, rc, "experiment '%s' failed: the output folder '%s' could not be created: %s",
                               spec->name, spec->output_dir, message);

    after = results_file(spec->output_dir);
    has_results = after.exists && (!before.exists || after.modified.tv_sec != before.modified.tv_sec ||
                                   after.modified.tv_nsec != before.modified.tv_nsec);
    if (has_results)
        return advgnn_lua_fail(L, rc, "experiment '%s' failed (results so far are in %s): %s", spec->name,
                               spec->output_dir, message);
    return advgnn_lua_fail(L, rc, "experiment '%s' failed: %s", spec->name, message);
}

static int experiment_run(lua_State *L)
{
    advgnn_lua_env *env = advgnn_lua_env_get(L);
    lua_experiment *experiment = luaL_checkudata(L, 1, ADVGNN_LUA_EXPERIMENT_META);
    advgnn_experiment_spec spec;
    json_box *box;
    int rc;

    lua_settop(L, 1);
    lua_getiuservalue(L, 1, 1); /* slot 2: fields */
    memset(&spec, 0, sizeof spec);
    lua_getfield(L, 2, "name");
    spec.name = lua_tostring(L, -1);
    lua_pop(L, 1);
    spec.script_path = env->script_path;
    lua_getfield(L, 2, "dataset");
    fill_choice(L, -1, ADVGNN_PLUGIN_DATASET, "field 'dataset'", &spec.dataset);
    lua_getfield(L, 2, "encoder");
    fill_choice(L, -1, ADVGNN_PLUGIN_ENCODER, "field 'encoder'", &spec.encoder);
    lua_pop(L, 2);
    fill_lists(L, 2, &spec); /* pushes the list storage */

    if (lua_getfield(L, 2, "output") == LUA_TNIL) {
        lua_pop(L, 1);
        push_new_output_folder(L, spec.name);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 2, "last_output");
    spec.output_dir = lua_tostring(L, -1);

    spec.image_size = experiment->image_size;
    spec.crop_size = experiment->crop_size;
    spec.batch_size = experiment->batch_size;
    spec.seed = experiment->seed;
    spec.heatmaps = experiment->heatmaps;
    spec.prefetch = experiment->prefetch;
    lua_getfield(L, 2, "sample_cache"); /* a string of the user value table, alive during the run */
    spec.sample_cache = lua_tostring(L, -1);
    lua_pop(L, 1);
    spec.threads = env->settings->threads;
    spec.progress = env->settings->progress;
    push_tracking(L, env, &spec); /* keeps the strings alive on the stack */

    box = push_json_box(L);
    advgnn_log(env->ctx, ADVGNN_LOG_INFO, "experiment '%s': writing to %s", spec.name, spec.output_dir);
    results_file_state before = results_file(spec.output_dir);
    rc = advgnn_experiment_run(env->ctx, &spec, &box->json);
    if (rc != ADVGNN_OK)
        return fail_run(L, rc, &spec, before);
    if (!box->json)
        return advgnn_lua_fail(L, ADVGNN_ERR_INTERNAL, "experiment '%s': the runner returned no results", spec.name);

    advgnn_lua_push_json(L, box->json);
    cJSON_Delete(box->json);
    box->json = NULL;

    if (!env->settings->quiet) {
        lua_pushvalue(L, lua_upvalueindex(1)); /* the results printer */
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
    }
    return 1;
}

/* ---- metamethods -------------------------------------------------------- */

/* __index: run, and the fields name, output (the folder of the last run, or
 * the configured one), image_size, crop, batch_size, seed, heatmaps. */
static int experiment_index(lua_State *L)
{
    lua_experiment *experiment = luaL_checkudata(L, 1, ADVGNN_LUA_EXPERIMENT_META);
    const char *key = luaL_checkstring(L, 2);

    if (strcmp(key, "run") == 0) {
        lua_pushvalue(L, lua_upvalueindex(1));
        return 1;
    }

    lua_getiuservalue(L, 1, 1);
    if (strcmp(key, "name") == 0)
        lua_getfield(L, -1, "name");
    else if (strcmp(key, "output") == 0) {
        if (lua_getfield(L, -1, "last_output") == LUA_TNIL) {
            lua_pop(L, 1);
            lua_getfield(L, -1, "output");
        }
    } else if (strcmp(key, "image_size") == 0)
        lua_pushinteger(L, experiment->image_size);
    else if (strcmp(key, "crop") == 0)
        lua_pushinteger(L, experiment->crop_size);
    else if (strcmp(key, "batch_size") == 0)
        lua_pushinteger(L, experiment->batch_size);
    else if (strcmp(key, "seed") == 0)
        lua_pushinteger(L, (lua_Integer)experiment->seed);
    else if (strcmp(key, "heatmaps") == 0)
        lua_pushinteger(L, experiment->heatmaps);
    else
        lua_pushnil(L);
    return 1;
}

static int experiment_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, ADVGNN_LUA_EXPERIMENT_META);
    lua_getiuservalue(L, 1, 1);
    lua_getfield(L, -1, "name");
    lua_pushfstring(L, "experiment '%s'", lua_tostring(L, -1));
    return 1;
}

void advgnn_lua_open_experiment(lua_State *L)
{
    int module = lua_gettop(L);

    luaL_newmetatable(L, ADVGNN_LUA_EXPERIMENT_META);
    advgnn_lua_push_results_printer(L, module);
    lua_pushcclosure(L, experiment_run, 1);
    lua_pushcclosure(L, experiment_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, experiment_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    lua_pushcfunction(L, l_experiment);
    lua_setfield(L, module, "experiment");
    lua_pushcfunction(L, l_track);
    lua_setfield(L, module, "track");
}
