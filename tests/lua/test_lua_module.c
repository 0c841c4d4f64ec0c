/* The advgnn Lua module without running experiments: script arguments,
 * plugin objects, advgnn.plugins, format_table, logging, require, and failed
 * allocations anywhere in a script. Uses the ABI test plugins test_current (a
 * scorer with one option of each type) and test_older_table (a dataset). */
#include "lua_test_util.h"

#include "advgnn/version.h"

typedef struct captured_log {
    advgnn_log_level level;
    char line[512];
    int count;
} captured_log;

static void capture_log(void *user, advgnn_log_level level, const char *line)
{
    captured_log *log = user;

    log->level = level;
    snprintf(log->line, sizeof log->line, "%s", line);
    log->count++;
}

static void test_arguments(void)
{
    char *args[] = {"n=3", "lr=0.5", "flag=true", "off=false", "name=abc", "empty=", "hex=0x10", "big=1e3", "path=a=b"};
    int rc = run_script_args("args.lua",
                             "local a = advgnn.args\n"
                             "assert(a.n == 3 and math.type(a.n) == 'integer', 'n')\n"
                             "assert(a.lr == 0.5 and math.type(a.lr) == 'float', 'lr')\n"
                             "assert(a.flag == true, 'flag')\n"
                             "assert(a.off == false, 'off')\n"
                             "assert(a.name == 'abc', 'name')\n"
                             "assert(a.empty == '', 'empty')\n"
                             "assert(a.hex == 16, 'hex')\n"
                             "assert(a.big == 1000.0 and math.type(a.big) == 'float', 'big')\n"
                             "assert(a.path == 'a=b', 'path')\n"
                             "assert(a.other == nil, 'other')\n",
                             (int)(sizeof args / sizeof args[0]), args);

    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_STR_CONTAINS(test_message, "");
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
}

static void test_version_and_require(void)
{
    char script[512];
    int rc;

    write_script("sibling.lua", "return {value = 42}\n");
    snprintf(script, sizeof script,
             "local m = require('advgnn')\n"
             "assert(m == advgnn, 'require returns the global module')\n"
             "assert(advgnn.version == '%s', advgnn.version)\n"
             "assert(require('sibling').value == 42, 'a module beside the script')\n",
             ADVGNN_VERSION_STRING);
    rc = run_script("version.lua", script);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
}

static void test_plugin_object(void)
{
    int rc = run_script("object.lua",
                        "local s = advgnn.scorer('test_current', {root = '/data', k = 3, sigma = 2,\n"
                        "  sigmas = {0.5}, tags = {}, verbose = true, metric = 'cosine'})\n"
                        "assert(s.name == 'test_current', 'name')\n"
                        "assert(s.kind == 'scorer', 'kind')\n"
                        "assert(s.version == '1.2.3', 'version')\n"
                        "assert(s.description == 'Scorer built for the current ABI.', 'description')\n"
                        "assert(s.path:match('abi_current%.so$'), 'path')\n"
                        "assert(s.unknown_key == nil, 'unknown key')\n"
                        "local o = s.options\n"
                        "assert(o.k == 3 and math.type(o.k) == 'integer', 'k')\n"
                        "assert(o.sigma == 2.0 and math.type(o.sigma) == 'float', 'sigma')\n"
                        "assert(#o.sigmas == 1 and o.sigmas[1] == 0.5, 'sigmas')\n"
                        "assert(#o.tags == 0, 'an empty table is an empty string list')\n"
                        "assert(o.verbose == true, 'verbose')\n"
                        "assert(o.metric == 'cosine', 'metric')\n"
                        "assert(o.root == '/data', 'root')\n"
                        "local text = tostring(s)\n"
                        "assert(text:find(\"^scorer 'test_current' %(k=3, sigma=2, metric=cosine\"), text)\n"
                        "local d = advgnn.dataset('test_older_table')\n"
                        "assert(d.kind == 'dataset' and next(d.options) == nil, 'dataset without options')\n");

    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
}

static void test_plugin_list(void)
{
    int rc = run_script("plugins.lua",
                        "local all = advgnn.plugins()\n"
                        "assert(#all == 2 and all[1] == 'test_current' and all[2] == 'test_older_table',\n"
                        "       table.concat(all, ','))\n"
                        "local datasets = advgnn.plugins('dataset')\n"
                        "assert(#datasets == 1 and datasets[1] == 'test_older_table', 'datasets')\n"
                        "assert(#advgnn.plugins('encoder') == 0, 'encoders')\n"
                        "local ok, err = pcall(advgnn.plugins, 'decoder')\n"
                        "assert(not ok and err:find(\"invalid kind 'decoder'\"), err)\n");

    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
}

/* The expected text is written out by hand: widths count code points
 * ("caf\xc3\xa9" is four wide), number columns are right-aligned, a column
 * format applies to integers too, missing cells leave no trailing blanks,
 * rows given as sequences fill named columns in order, and NaN or infinite
 * numbers print as "n/a" with or without a format. */
static void test_format_table(void)
{
    int rc = run_script("table.lua",
                        "local rows = {\n"
                        "  {name = 'bottle', auc = 0.98765, n = 12},\n"
                        "  {name = 'screw', auc = 1, n = 3},\n"
                        "  {name = 'caf\xc3\xa9'},\n"
                        "}\n"
                        "local text = advgnn.format_table(rows, {'name', {'auc', title = 'AUROC', format = '%.3f'},\n"
                        "                                        {key = 'n', title = 'count'}})\n"
                        "local expected = 'name    AUROC  count\\n'\n"
                        "  .. '------  -----  -----\\n'\n"
                        "  .. 'bottle  0.988     12\\n'\n"
                        "  .. 'screw   1.000      3\\n'\n"
                        "  .. 'caf\xc3\xa9\\n'\n"
                        "if text ~= expected then error(string.format('got %q', text)) end\n"
                        "local plain = advgnn.format_table({{1.5, 'x'}, {true, 'yy'}}, {1, {2, align = 'right'}})\n"
                        "local expected_plain = '1        2\\n------  --\\n1.5000   x\\ntrue    yy\\n'\n"
                        "if plain ~= expected_plain then error(string.format('got %q', plain)) end\n"
                        "local positional = advgnn.format_table({{'a', 1.23}, {'bb', 2}}, {'name', 'value'})\n"
                        "local expected_positional = 'name   value\\n----  ------\\na     1.2300\\nbb         2\\n'\n"
                        "if positional ~= expected_positional then error(string.format('got %q', positional)) end\n"
                        "local ok, err = pcall(advgnn.format_table, {}, {})\n"
                        "assert(not ok and err:find('columns is empty'), err)\n"
                        "ok, err = pcall(advgnn.format_table, {7}, {'a'})\n"
                        "assert(not ok and err:find('row 1 must be a table'), err)\n"
                        "local undefined = advgnn.format_table({{0/0, -(0/0)}, {1/0, -1/0}, {0.5, 0.25}},\n"
                        "                                      {1, {2, format = '%.3f'}})\n"
                        "local expected_undefined = '     1      2\\n------  -----\\n   n/a    n/a\\n'\n"
                        "  .. '   n/a    n/a\\n0.5000  0.250\\n'\n"
                        "if undefined ~= expected_undefined then error(string.format('got %q', undefined)) end\n");

    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
}

static void test_log_and_warnings(void)
{
    captured_log log = {0};
    int rc;

    advgnn_ctx_set_log_sink(test_ctx, capture_log, &log);
    rc = run_script("log.lua", "advgnn.log('warn', 'value %d of %s', 7, 'x')\n");
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(log.count, 1);
    CHECK_INT_EQ(log.level, ADVGNN_LOG_WARN);
    CHECK_STR_CONTAINS(log.line, "log.lua:1: value 7 of x");

    /* Below the context's level (INFO by default): not delivered. */
    rc = run_script("debug.lua", "advgnn.log('debug', 'hidden')\n");
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(log.count, 1);

    /* Lua warnings are off until warn('@on'), as in the lua program. */
    rc = run_script("warn.lua", "warn('dropped')\nwarn('@on')\nwarn('careful ', 'now')\n");
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(log.count, 2);
    CHECK_STR_CONTAINS(log.line, "Lua warning: careful now");
    advgnn_ctx_set_log_sink(test_ctx, NULL, NULL);
}

/* The grid order is fixed (names sorted, last fastest) so every shard sees
 * the same sequence; shard i of n runs the points with index % n == i. */
static void test_sweep(void)
{
    static const char script[] =
        "local seen = {}\n"
        "local results = advgnn.sweep({b = {'x', 'y', 'z'}, a = {1, 2}}, function(p, i)\n"
        "  seen[#seen + 1] = string.format('%d:%s%s', i, p.a, p.b)\n"
        "  p.a = 99\n"
        "  return i * 10\n"
        "end)\n"
        "local got = table.concat(seen, ' ')\n"
        "assert(got == advgnn.args.expected, got)\n"
        "assert(#results == #seen, 'one result per point run')\n"
        "assert(results[1].result == results[1].index * 10, 'result')\n"
        "assert(results[1].point.a ~= 99, 'fn gets its own copy of the point')\n"
        "assert(advgnn.shard.index == advgnn.args.shard and advgnn.shard.count == advgnn.args.count, 'shard')\n";
    char *all[] = {"expected=1:1x 2:1y 3:1z 4:2x 5:2y 6:2z", "shard=0", "count=1"};
    char *second_of_three[] = {"expected=2:1y 5:2y", "shard=1", "count=3"};
    int rc;

    rc = run_script_args("sweep.lua", script, 3, all);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);

    test_settings.shard_index = 1;
    test_settings.shard_count = 3;
    rc = run_script_args("sweep.lua", script, 3, second_of_three);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);

    test_settings.shard_index = 3;
    rc = run_script("shard.lua", "error('must not run')\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "shard 3/3 does not exist");
    test_settings.shard_index = 0;
    test_settings.shard_count = 0;

    rc = run_script("grid.lua", "advgnn.sweep({k = {}}, print)\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "grid.lua:1: advgnn.sweep: grid.k must be a non-empty list of values");
    rc = run_script("grid.lua", "advgnn.sweep({}, print)\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "the grid is empty");
    rc = run_script("grid.lua", "advgnn.sweep({a = {1, 2}, b = {}}, print)\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(test_message, "grid.b must be");
    rc = run_script("grid.lua", "local r = {}\nfor i = 1, 1001 do r[i] = i end\n"
                                "advgnn.sweep({a = r, b = r}, print)\n");
    CHECK_INT_EQ(rc, ADVGNN_ERR_LIMIT);
    CHECK_STR_CONTAINS(test_message, "more than 1000000 points");
}

/* Fails each allocation of a script in turn. Every run must end with an error
 * status and a message, and (under AddressSanitizer) leak nothing. Lua
 * retries a failed allocation after a full collection, so some failures are
 * absorbed and the run reaches the script's own error instead. */
static void test_allocation_failures(void)
{
    const char *path = write_script("alloc.lua",
                                    "local s = advgnn.scorer('test_current', {root = '/data', k = 3,\n"
                                    "  tags = {'a', 'b'}, sigmas = {1, 2}})\n"
                                    "local d = advgnn.dataset('test_older_table')\n"
                                    "local t = advgnn.format_table({{a = 1.5, b = 'x'}}, {'a', 'b'})\n"
                                    "local text = tostring(s) .. #advgnn.plugins()\n"
                                    "local ok = pcall(advgnn.scorer, 'test_current', {root = 'x', k = 1000})\n"
                                    "error('end of script')\n");
    char *args[] = {"n=1", "name=x"};
    size_t total;
    int failed_runs = 0;
    int rc;

    advgnn_alloc_fail_after(0);
    rc = advgnn_lua_run_file(test_ctx, test_reg, path, 2, args, &test_settings);
    total = advgnn_alloc_fail_after(0);
    CHECK_INT_EQ(rc, ADVGNN_ERR_SCRIPT);
    CHECK(total > 100);

    for (size_t n = 1; n <= total; n++) {
        advgnn_ctx_clear_error(test_ctx);
        advgnn_alloc_fail_after(n);
        rc = advgnn_lua_run_file(test_ctx, test_reg, path, 2, args, &test_settings);
        advgnn_alloc_fail_after(0);

        if (rc == ADVGNN_OK || advgnn_ctx_error(test_ctx)[0] == '\0') {
            fprintf(stderr, "allocation %zu of %zu: status %d, message '%s'\n", n, total, rc,
                    advgnn_ctx_error(test_ctx));
            failed_runs++;
        }
    }
    CHECK_INT_EQ(failed_runs, 0);
    fprintf(stderr, "failed each of %zu allocations in turn\n", total);
}

int main(void)
{
    test_setup();
    load_test_plugin("abi_current.so");
    load_test_plugin("abi_older_table.so");

    test_arguments();
    test_version_and_require();
    test_plugin_object();
    test_plugin_list();
    test_format_table();
    test_log_and_warnings();
    test_sweep();
    test_allocation_failures();

    test_teardown();
    return CHECK_DONE();
}
