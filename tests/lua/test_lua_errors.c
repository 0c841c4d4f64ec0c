/* Errors of Lua scripts: each must name the script line, the plugin and the
 * option, and return the status of the root cause. Uses the ABI test plugins
 * test_current (a scorer with one option of each type, `root` required) and
 * test_older_table (a dataset). */
#include "lua_test_util.h"

/* A valid test_current call, for scripts that need a scorer object. */
#define SCORER_OK "advgnn.scorer('test_current', {root = '/data'})"

static void test_syntax_error(void)
{
    int rc = run_script("syntax.lua", "local x = 1\nlocal y = = 2\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_SCRIPT);
    CHECK_STR_CONTAINS(test_message, "syntax.lua:2:");
    CHECK_STR_CONTAINS(test_message, "near '='");
}

static void test_runtime_error_traceback(void)
{
    int rc = run_script("runtime.lua",
                        "local function inner(t)\n"
                        "  return t.missing.field\n"
                        "end\n"
                        "local function outer() return inner({}) + 1 end\n"
                        "outer()\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_SCRIPT);
    CHECK(strncmp(test_message, test_dir, strlen(test_dir)) == 0);
    CHECK_STR_CONTAINS(test_message, "runtime.lua:2: attempt to index a nil value");
    CHECK_STR_CONTAINS(test_message, "stack traceback:");
    CHECK_STR_CONTAINS(test_message, "runtime.lua:2: in upvalue 'inner'");
    CHECK_STR_CONTAINS(test_message, "runtime.lua:5: in main chunk");
}

static void test_error_object_not_string(void)
{
    int rc = run_script("object.lua", "local x = 1\nerror({code = 3})\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_SCRIPT);
    CHECK_STR_CONTAINS(test_message, "object.lua:2: error object is a table (not a string)");
    CHECK_STR_CONTAINS(test_message, "stack traceback:");

    /* Raised inside a function: the position is the function's line. */
    rc = run_script("nested.lua", "local function fail()\n  error(true)\nend\nfail()\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_SCRIPT);
    CHECK_STR_CONTAINS(test_message, "nested.lua:2: error object is a boolean (not a string)");
    CHECK_STR_CONTAINS(test_message, "nested.lua:4: in main chunk");

    rc = run_script("tostring.lua", "error(setmetatable({}, {__tostring = function() return 'custom failure' end}))\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_SCRIPT);
    CHECK_STR_CONTAINS(test_message, "custom failure");
}

static void test_missing_script(void)
{
    char path[128];
    int rc;

    snprintf(path, sizeof path, "%s/absent.lua", test_dir);
    advgnn_ctx_clear_error(test_ctx);
    rc = advgnn_lua_run_file(test_ctx, test_reg, path, 0, NULL, &test_settings);
    CHECK_INT_EQ(rc, ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(test_ctx), "absent.lua");

    /* A folder is named as one, with what to give instead. */
    advgnn_ctx_clear_error(test_ctx);
    rc = advgnn_lua_run_file(test_ctx, test_reg, test_dir, 0, NULL, &test_settings);
    CHECK_INT_EQ(rc, ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(test_ctx), "is a folder; give the path of a .lua file");
}

static void test_unknown_plugin(void)
{
    int rc = run_script("unknown.lua", "local a = 1\nlocal s = advgnn.scorer('test_curent', {root = 'x'})\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(test_message, "unknown.lua:2: ");
    CHECK_STR_CONTAINS(test_message, "'test_curent'");
    CHECK_STR_CONTAINS(test_message, "did you mean 'test_current'?");
}

static void test_plugin_of_wrong_kind(void)
{
    int rc = run_script("kind.lua", "advgnn.encoder('test_current')\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(test_message, "kind.lua:1: ");
    CHECK_STR_CONTAINS(test_message, "test_current");
    CHECK_STR_CONTAINS(test_message, "scorer");
}

static void test_option_typo(void)
{
    int rc = run_script("typo.lua",
                        "-- a comment line\n"
                        "\n"
                        "local s = advgnn.scorer('test_current', {root = 'x', metirc = 'l2'})\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "typo.lua:3: scorer 'test_current': unknown option 'metirc'; did you mean 'metric'?");
}

static void test_option_wrong_type(void)
{
    int rc = run_script("type.lua", "advgnn.scorer('test_current', {root = 'x', k = 'three'})\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "type.lua:1: scorer 'test_current': option 'k'");
    CHECK_STR_CONTAINS(test_message, "integer");

    /* Values with no option type at all are rejected by the Lua layer. */
    rc = run_script("function.lua", "advgnn.scorer('test_current', {root = 'x', k = print})\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "function.lua:1: scorer 'test_current': option 'k' must be an integer, not a function");

    rc = run_script("mixed.lua", "advgnn.scorer('test_current', {root = 'x', tags = {'a', 2}})\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "mixed.lua:1: scorer 'test_current': option 'tags'");
    CHECK_STR_CONTAINS(test_message, "element 2 is a number");

    rc = run_script("sparse.lua", "advgnn.scorer('test_current', {root = 'x', sigmas = {1, 2, [5] = 3}})\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "option 'sigmas'");
    CHECK_STR_CONTAINS(test_message, "not a list");

    rc = run_script("positional.lua", "advgnn.scorer('test_current', {'x'})\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "positional.lua:1: scorer 'test_current': options are given as name = value");

    /* A fraction for an integer option is a type error, an integral float is fine. */
    rc = run_script("fraction.lua", "advgnn.scorer('test_current', {root = 'x', k = 2.5})\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "option 'k'");
    rc = run_script("integral.lua", "assert(advgnn.scorer('test_current', {root = 'x', k = 2.0}).options.k == 2)\n");
    CHECK_INT_EQ(rc, ADVGNN_OK);
}

static void test_option_out_of_range(void)
{
    int rc = run_script("range.lua", "local s =\n  advgnn.scorer('test_current', {root = 'x', k = 100})\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "range.lua:2: scorer 'test_current': option 'k'");
    CHECK_STR_CONTAINS(test_message, "64");
    CHECK_STR_CONTAINS(test_message, "100");

    rc = run_script("enum.lua", "advgnn.scorer('test_current', {root = 'x', metric = 'manhattan'})\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "option 'metric'");
    CHECK_STR_CONTAINS(test_message, "cosine");
}

static void test_option_required(void)
{
    int rc = run_script("required.lua", "advgnn.scorer('test_current', {k = 2})\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(test_message, "required.lua:1: scorer 'test_current': option 'root'");
    CHECK_STR_CONTAINS(test_message, "required");
}

/* A script may catch an option error with pcall and go on; the context must
 * not keep the caught error. */
static void test_caught_error_is_forgotten(void)
{
    int rc = run_script("caught.lua",
                        "local ok, err = pcall(advgnn.scorer, 'test_current', {root = 'x', k = 0})\n"
                        "assert(not ok and err:find(\"option 'k'\"), err)\n"
                        "local s = " SCORER_OK "\n"
                        "assert(s.options.k == 1)\n");

    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_STR_CONTAINS(test_message, "");
    CHECK_INT_EQ(advgnn_ctx_error_status(test_ctx), ADVGNN_OK);
}

static void test_unknown_experiment_field(void)
{
    int rc = run_script("field.lua", "local e = advgnn.experiment{\n  nmae = 'x',\n}\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "field.lua:1: experiment: unknown field 'nmae'; did you mean 'name'?");

    rc = run_script("nosuggest.lua", "advgnn.experiment{zzzzzzzz = 1}\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "unknown field 'zzzzzzzz' (valid fields: name, dataset, encoder, scorers");
}

static void test_experiment_field_errors(void)
{
    static const struct {
        const char *fields;
        const char *expected;
    } cases[] = {
        {"", "field 'dataset' is missing"},
        {"dataset = 'test_older_table'", "field 'dataset' must be a dataset object; create it with advgnn.dataset(\"test_older_table\""},
        {"dataset = s", "field 'dataset' must be a dataset object, not scorer 'test_current'"},
        {"dataset = d, encoder = 3", "field 'encoder' must be an encoder object (from advgnn.encoder), not a number"},
        {"name = 'a/b', dataset = d", "name 'a/b' is invalid"},
        {"name = 42", "field 'name' must be a string, not a number"},
    };
    char script[1024];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;

        snprintf(script, sizeof script,
                 "local d = advgnn.dataset('test_older_table')\n"
                 "local s = " SCORER_OK "\n"
                 "advgnn.experiment{%s}\n",
                 cases[i].fields);
        rc = run_script("fields.lua", script);
        CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(test_message, "fields.lua:3: experiment: ");
        CHECK_STR_CONTAINS(test_message, cases[i].expected);
    }
}

static void test_closed_object(void)
{
    int rc = run_script("closed.lua",
                        "local kept\n"
                        "do\n"
                        "  local s <close> = " SCORER_OK "\n"
                        "  kept = s\n"
                        "end\n"
                        "assert(tostring(kept) == \"scorer 'test_current' (closed)\")\n"
                        "local o = kept.options\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "closed.lua:7: scorer 'test_current' was already closed");
}

static void test_invalid_arguments(void)
{
    char *no_equals[] = {"epochs"};
    char *empty_key[] = {"=3"};
    char *twice[] = {"n=1", "m=2", "n=3"};
    int rc;

    rc = run_script_args("args.lua", "error('must not run')\n", 1, no_equals);
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "'epochs' is not of the form key=value");

    rc = run_script_args("args.lua", "error('must not run')\n", 1, empty_key);
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);

    rc = run_script_args("args.lua", "error('must not run')\n", 3, twice);
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "'n' is given twice");
}

static void test_log_level_invalid(void)
{
    int rc = run_script("log.lua", "advgnn.log('loud', 'x')\n");

    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "log.lua:1: advgnn.log: invalid level 'loud'");
}

static void test_interrupted_loop(void)
{
    int rc;

    advgnn_set_interrupted(1);
    rc = run_script("loop.lua", "while true do end\n");
    advgnn_set_interrupted(0);
    CHECK_INT_EQ(rc, ADVGNN_ERR_INTERRUPTED);
    CHECK_STR_CONTAINS(test_message, "interrupted");
}

int main(void)
{
    test_setup();
    load_test_plugin("abi_current.so");
    load_test_plugin("abi_older_table.so");

    test_syntax_error();
    test_runtime_error_traceback();
    test_error_object_not_string();
    test_missing_script();
    test_unknown_plugin();
    test_plugin_of_wrong_kind();
    test_option_typo();
    test_option_wrong_type();
    test_option_out_of_range();
    test_option_required();
    test_caught_error_is_forgotten();
    test_unknown_experiment_field();
    test_experiment_field_errors();
    test_closed_object();
    test_invalid_arguments();
    test_log_level_invalid();
    test_interrupted_loop();

    test_teardown();
    return CHECK_DONE();
}
