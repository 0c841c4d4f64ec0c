/* Experiments run from Lua with the bundled synthetic dataset, patch_stats
 * encoder and memory_bank scorer. The results table a script receives must
 * equal the results.json the runner wrote. Default output folders must be
 * unique, the printed table must list every category and label, and a failed
 * run must raise an error at the line of :run(). */
#include "lua_test_util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>

#include "util/fsutil.h"

/* A small run: one texture, 64-pixel images, a few images per split. */
#define EXPERIMENT_SETUP                                                                          \
    "local d = advgnn.dataset('synthetic', {kinds = {'checker'}, image_size = 64, train_count = 6,\n" \
    "  test_normal_count = 4, test_anomalous_count = 4, seed = 7})\n"                             \
    "local e = advgnn.encoder('patch_stats')\n"                                                   \
    "local s = advgnn.scorer('memory_bank')\n"

static cJSON *read_json(const char *path)
{
    char *text = NULL;
    size_t size = 0;
    cJSON *json;

    if (advgnn_fs_read_file(test_ctx, path, 1 << 24, &text, &size) != ADVGNN_OK) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(test_ctx));
        return NULL;
    }
    json = cJSON_Parse(text);
    advgnn_free(text);
    return json;
}

/* Reads "<number>\n<text>" that the script wrote with %.17g. */
static int read_number_and_text(const char *path, double *number, char *text, size_t size)
{
    FILE *file = fopen(path, "r");
    int ok;

    if (!file)
        return 0;
    ok = fscanf(file, "%lf\n", number) == 1 && fgets(text, (int)size, file) != NULL;
    fclose(file);
    text[strcspn(text, "\n")] = '\0';
    return ok;
}

static void test_results_match_json(void)
{
    char script[4096];
    char values_path[256];
    char results_path[512];
    char output_dir[512];
    double auroc_from_lua = -1;
    cJSON *json;
    int rc;

    snprintf(values_path, sizeof values_path, "%s/values.txt", test_dir);
    snprintf(script, sizeof script,
             EXPERIMENT_SETUP
             "local x = advgnn.experiment{name = 'lua_results', dataset = d, encoder = e,\n"
             "  scorers = {{s, label = 'bank'}, {s, weight = 0.5, label = 'half'}},\n"
             "  categories = 'checker', image_size = 64, batch_size = 4, heatmaps = 1, seed = 3,\n"
             "  output = '%s/run1'}\n"
             "assert(x.name == 'lua_results' and x.image_size == 64 and x.crop == 0, 'fields')\n"
             "local r = x:run()\n"
             "assert(x.output == r.output_dir, 'output')\n"
             "local m = r.categories.checker.metrics\n"
             "for _, label in ipairs({'bank', 'half', 'fused'}) do\n"
             "  local v = m[label].image_auroc\n"
             "  assert(type(v) == 'number' and v >= 0 and v <= 1, label)\n"
             "end\n"
             "assert(r.plugins.scorers[2].label == 'half' and r.plugins.scorers[2].weight == 0.5, 'scorers')\n"
             "assert(r.categories.checker.counts.train == 6, 'counts')\n"
             "local f = assert(io.open('%s', 'w'))\n"
             "f:write(string.format('%%.17g\\n%%s\\n', m.bank.image_auroc, r.output_dir))\n"
             "f:close()\n",
             test_dir, values_path);
    rc = run_script("results.lua", script);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK) {
        fprintf(stderr, "%s\n", test_message);
        return;
    }

    CHECK(read_number_and_text(values_path, &auroc_from_lua, output_dir, sizeof output_dir));
    snprintf(results_path, sizeof results_path, "%s/run1/results.json", test_dir);
    json = read_json(results_path);
    CHECK(json != NULL);
    if (json) {
        const cJSON *value = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(json, "categories"), "checker"), "metrics"), "bank"),
                                                 "image_auroc");
        const cJSON *dir = cJSON_GetObjectItem(json, "output_dir");

        CHECK(cJSON_IsNumber(value));
        if (cJSON_IsNumber(value))
            CHECK(value->valuedouble == auroc_from_lua);
        CHECK(cJSON_IsString(dir));
        if (cJSON_IsString(dir))
            CHECK(strcmp(dir->valuestring, output_dir) == 0);
        cJSON_Delete(json);
    }
}

/* Runs a script with quiet off and stdout sent to a file; returns the text. */
static int run_printing(const char *name, const char *text, char *printed, size_t size)
{
    char path[256];
    int saved = dup(STDOUT_FILENO);
    int file;
    ssize_t length;
    int rc;

    snprintf(path, sizeof path, "%s/stdout.txt", test_dir);
    file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || file < 0) {
        perror(path);
        exit(1);
    }
    fflush(stdout);
    dup2(file, STDOUT_FILENO);

    test_settings.quiet = 0;
    rc = run_script(name, text);
    test_settings.quiet = 1;

    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    length = pread(file, printed, size - 1, 0);
    printed[length > 0 ? length : 0] = '\0';
    close(file);
    return rc;
}

static void test_default_output_and_table(void)
{
    char root[128];
    char printed[8192];
    char script[4096];
    int rc;

    snprintf(root, sizeof root, "%s/runs", test_dir);
    test_settings.output_root = root;
    snprintf(script, sizeof script,
             EXPERIMENT_SETUP
             "local x = advgnn.experiment{name = 'defaults', dataset = d, encoder = e, scorers = s,\n"
             "  image_size = 64, heatmaps = 0}\n"
             "assert(x.output == nil, 'no output before the first run')\n"
             "local first = x:run().output_dir\n"
             "local second = x:run().output_dir\n"
             "assert(first ~= second, 'a second run gets its own folder')\n"
             "local root = ('%s'):gsub('%%p', '%%%%%%0')\n"
             "local pattern = '^' .. root .. '/defaults%%-%%d%%d%%d%%d%%d%%d%%d%%d%%-%%d%%d%%d%%d%%d%%d'\n"
             "assert(first:find(pattern .. '$'), first)\n"
             "assert(second:find(pattern), second)\n"
             "assert(x.output == second, 'output is the last folder')\n",
             root);
    rc = run_printing("defaults.lua", script, printed, sizeof printed);
    test_settings.output_root = NULL;

    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
    CHECK_STR_CONTAINS(printed, "experiment 'defaults': results in ");
    CHECK_STR_CONTAINS(printed, "category  scorer");
    CHECK_STR_CONTAINS(printed, "image AUROC  pixel AUROC");
    CHECK_STR_CONTAINS(printed, "AUPRO  F1-max\n");
    CHECK_STR_CONTAINS(printed, "\nchecker   memory_bank");
    CHECK_STR_CONTAINS(printed, "\nmean      memory_bank");
}

/* Without anomalous test images, AUROC and AUPRO are undefined: the table
 * shows n/a and lists the runner's reason once per metric. */
static void test_undefined_metrics_listed(void)
{
    char printed[8192];
    char script[2048];
    int rc;

    snprintf(script, sizeof script,
             "local d = advgnn.dataset('synthetic', {kinds = {'checker'}, image_size = 64, train_count = 6,\n"
             "  test_normal_count = 4, test_anomalous_count = 0})\n"
             "local x = advgnn.experiment{name = 'normal_only', dataset = d, encoder = advgnn.encoder('patch_stats'),\n"
             "  scorers = {advgnn.scorer('memory_bank')}, image_size = 64, heatmaps = 0, output = '%s/normal_only'}\n"
             "local r = x:run()\n"
             "assert(r.categories.checker.metrics.memory_bank.image_auroc == nil, 'undefined is not a number')\n"
             "assert(type(r.categories.checker.undefined['memory_bank.image_auroc']) == 'string', 'reason')\n"
             "assert(r.categories.checker.metrics.memory_bank.f1_max == nil, 'F1 with one class is undefined')\n"
             "assert(r.categories.checker.undefined['memory_bank.f1_max']:find('all %%d+ are normal'), 'F1 reason')\n",
             test_dir);
    rc = run_printing("normal_only.lua", script, printed, sizeof printed);

    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "%s\n", test_message);
    CHECK_STR_CONTAINS(printed, "\nchecker   memory_bank          n/a");
    CHECK_STR_CONTAINS(printed, "\nn/a (undefined metrics):\n");
    CHECK_STR_CONTAINS(printed, "\n  image AUROC (checker; memory_bank): ");
    CHECK_STR_CONTAINS(printed, "\n  AUPRO (checker; memory_bank): ");
}

static void test_failed_run_names_line(void)
{
    char script[2048];
    int rc;

    snprintf(script, sizeof script,
             EXPERIMENT_SETUP
             "local x = advgnn.experiment{name = 'failing', dataset = d, encoder = e, scorers = {s},\n"
             "  categories = {'no_such_category'}, image_size = 64,\n"
             "  output = '%s/failing'}\n"
             "local ok, err = pcall(x.run, advgnn.experiment{name = 'failing', dataset = d, encoder = e, scorers = {s}, categories = {'no_such_category'}, image_size = 64, output = '%s/failing-first'})\n"
             "assert(not ok and err:find('no_such_category'), err)\n"
             "x:run()\n",
             test_dir, test_dir);
    rc = run_script("failed.lua", script);

    CHECK(rc != ADVGNN_OK);
    CHECK(rc != ADVGNN_ERR_SCRIPT);
    CHECK_STR_CONTAINS(test_message, "failed.lua:10: experiment 'failing' failed (results so far are in ");
    CHECK_STR_CONTAINS(test_message, "no_such_category");
}

int main(void)
{
    test_setup();
    if (advgnn_registry_discover(test_reg, test_ctx, NULL) != ADVGNN_OK) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(test_ctx));
        return 1;
    }

    test_results_match_json();
    test_default_output_and_table();
    test_undefined_metrics_listed();
    test_failed_run_names_line();

    test_teardown();
    return CHECK_DONE();
}
