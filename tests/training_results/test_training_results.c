/* The "training" object of results.json. advgnn_report_add_training on
 * history files written here: absent, invalid, left over from an earlier run,
 * and one with a null validation loss and keys of the wrong type. Then a real
 * short cnn_ae run on the shared MVTec AD bottle images, started from Lua.
 * Every per-epoch value in results.json and in the table the script receives
 * must equal the run's train_history.json. A second run in the same folder
 * that loads weights instead of training must report no stale history. */
#include "lua_test_util.h"

#include <float.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include <cjson/cJSON.h>

#include "report/results.h"
#include "util/fsutil.h"

#define BOTTLE_DIR ADVGNN_SHARED_DATA "/mvtec_ad/bottle/train/good"
#define EPOCHS 2

static cJSON *read_json(const char *path)
{
    char *text = NULL;
    size_t size = 0;
    cJSON *json;

    if (advgnn_fs_read_file(test_ctx, path, 1 << 24, &text, &size) != ADVGNN_OK) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(test_ctx));
        return NULL;
    }
    json = cJSON_ParseWithLength(text, size);
    advgnn_free(text);
    return json;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");

    if (!file || fputs(text, file) == EOF || fclose(file) != 0) {
        perror(path);
        exit(1);
    }
}

/* Sets a file's access and modification times `seconds` into the past. */
static void age_file(const char *path, long seconds)
{
    struct utimbuf times;

    times.actime = time(NULL) - seconds;
    times.modtime = times.actime;
    CHECK(utime(path, &times) == 0);
}

/* Runs advgnn_report_add_training on <test_dir>/unit and returns the
 * category object it filled (free with cJSON_Delete). */
static cJSON *add_training(int64_t trained_since, int expected_rc)
{
    char dir[256];
    cJSON *category = cJSON_CreateObject();

    snprintf(dir, sizeof dir, "%s/unit", test_dir);
    CHECK_INT_EQ(advgnn_report_add_training(test_ctx, category, dir, trained_since), expected_rc);
    return category;
}

static void test_history_files(void)
{
    char dir[256], path[320];
    cJSON *category;
    const cJSON *training, *epochs, *first, *second;

    snprintf(dir, sizeof dir, "%s/unit", test_dir);
    snprintf(path, sizeof path, "%s/train_history.json", dir);
    CHECK(mkdir(dir, 0755) == 0);

    /* No file: an encoder that does not train. */
    category = add_training(0, ADVGNN_OK);
    CHECK(cJSON_GetObjectItemCaseSensitive(category, "training") == NULL);
    cJSON_Delete(category);

    /* Not JSON: a warning, no key, and the run goes on. */
    write_text(path, "{\"epochs\": [");
    category = add_training(0, ADVGNN_OK);
    CHECK(cJSON_GetObjectItemCaseSensitive(category, "training") == NULL);
    cJSON_Delete(category);

    /* Two epochs, the first without a validation loss. "lr" of the second is
     * a string and "extra" is unknown, so neither is copied. */
    write_text(path, "{\"epochs\": [{\"epoch\": 1, \"train_loss\": 0.75, \"val_loss\": null, \"seconds\": 2.5,"
                     " \"lr\": 0.001, \"extra\": 7},"
                     " {\"epoch\": 2, \"train_loss\": 0.125, \"val_loss\": 0.25, \"seconds\": 1.5, \"lr\": \"x\"}],"
                     " \"best_epoch\": 2, \"stopped_early\": true, \"steps\": 10}");
    category = add_training((int64_t)time(NULL) - 60, ADVGNN_OK);
    training = cJSON_GetObjectItemCaseSensitive(category, "training");
    epochs = cJSON_GetObjectItemCaseSensitive(training, "epochs");
    CHECK_INT_EQ(cJSON_GetArraySize(epochs), 2);
    first = cJSON_GetArrayItem(epochs, 0);
    second = cJSON_GetArrayItem(epochs, 1);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(first, "val_loss")));
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(first, "train_loss")), 0.75, 0.0);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(first, "seconds")), 2.5, 0.0);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(first, "lr")), 0.001, 0.0);
    CHECK(cJSON_GetObjectItemCaseSensitive(first, "extra") == NULL);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(second, "val_loss")), 0.25, 0.0);
    CHECK(cJSON_GetObjectItemCaseSensitive(second, "lr") == NULL);
    CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(training, "best_epoch")->valueint, 2);
    CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(training, "steps")->valueint, 10);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(training, "stopped_early")));
    cJSON_Delete(category);

    /* The same file written before training started is left over. */
    age_file(path, 120);
    category = add_training((int64_t)time(NULL) - 60, ADVGNN_OK);
    CHECK(cJSON_GetObjectItemCaseSensitive(category, "training") == NULL);
    cJSON_Delete(category);

    /* A folder in place of the file is treated as absent. */
    CHECK(remove(path) == 0);
    CHECK(mkdir(path, 0755) == 0);
    category = add_training(0, ADVGNN_OK);
    CHECK(cJSON_GetObjectItemCaseSensitive(category, "training") == NULL);
    cJSON_Delete(category);
}

/* Writes the script of the real run to `script`. The script trains (or, with
 * `weights` non-empty, loads) cnn_ae into `out` and writes the per-epoch
 * values it received to `values`. */
static void format_run_script(char *script, size_t size, const char *out, const char *values, const char *weights)
{
    snprintf(script, size,
             "local options = {widths = {8, 16}, feature_stages = {1, 2}, epochs = %d,\n"
             "  batch_size = 4, lr = 0.005, seed = 3, threads = 2}\n"
             "if '%s' ~= '' then options.weights = '%s' end\n"
             "local x = advgnn.experiment{name = 'training_results',\n"
             "  dataset = advgnn.dataset('mvtec_ad', {root = '%s/mvtec_ad', category = {'bottle'},\n"
             "    require_masks = false, validation_ratio = 0.25, seed = 0}),\n"
             "  encoder = advgnn.encoder('cnn_ae', options),\n"
             "  scorers = {advgnn.scorer('memory_bank', {coreset_ratio = 0.5})},\n"
             "  image_size = 64, batch_size = 4, heatmaps = 0, seed = 0, output = '%s'}\n"
             "local r = x:run()\n"
             "local training = r.categories.bottle.training\n"
             "local f = assert(io.open('%s', 'w'))\n"
             "if training then\n"
             "  for _, e in ipairs(training.epochs) do\n"
             "    f:write(string.format('%%d %%.17g %%.17g %%.17g %%.17g\\n', e.epoch, e.train_loss, e.val_loss,\n"
             "                          e.seconds, e.lr))\n"
             "  end\n"
             "end\n"
             "f:close()\n",
             EPOCHS, weights, weights, ADVGNN_SHARED_DATA, out, values);
}

/* Compares one per-epoch number of results.json with train_history.json.
 * They may differ in the last bit, because cJSON prints a number with 15
 * digits when that reads back within DBL_EPSILON of it. A relative difference
 * of 4 * DBL_EPSILON is therefore allowed. */
static void check_same_number(const cJSON *result_epoch, const cJSON *history_epoch, const char *key)
{
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(result_epoch, key);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(history_epoch, key);

    CHECK(cJSON_IsNumber(got));
    CHECK(cJSON_IsNumber(want));
    if (cJSON_IsNumber(got) && cJSON_IsNumber(want) &&
        fabs(got->valuedouble - want->valuedouble) > 4 * DBL_EPSILON * fabs(want->valuedouble)) {
        fprintf(stderr, "%s: results.json has %.17g, train_history.json %.17g\n", key, got->valuedouble,
                want->valuedouble);
        CHECK(got->valuedouble == want->valuedouble);
    }
}

/* Checks the values the script wrote ("epoch train val seconds lr" per line)
 * against the history. */
static void check_lua_values(const char *values_path, const cJSON *history_epochs)
{
    FILE *file = fopen(values_path, "r");
    int epoch, lines = 0;
    double number[4];
    static const char *const keys[] = {"train_loss", "val_loss", "seconds", "lr"};

    CHECK(file != NULL);
    if (!file)
        return;
    while (fscanf(file, "%d %lf %lf %lf %lf", &epoch, &number[0], &number[1], &number[2], &number[3]) == 5) {
        const cJSON *item = cJSON_GetArrayItem(history_epochs, lines);

        lines++;
        CHECK_INT_EQ(epoch, lines);
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(number[i], cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(item, keys[i])), 0.0);
    }
    fclose(file);
    CHECK_INT_EQ(lines, EPOCHS);
}

static void test_real_run(void)
{
    char out[256], values[256], results_path[320], history_path[320], weights[320], script[4096];
    cJSON *results, *history;
    const cJSON *training, *result_epochs, *history_epochs;

    snprintf(out, sizeof out, "%s/run", test_dir);
    snprintf(values, sizeof values, "%s/values.txt", test_dir);
    snprintf(results_path, sizeof results_path, "%s/results.json", out);
    snprintf(history_path, sizeof history_path, "%s/encoder/bottle/train_history.json", out);
    snprintf(weights, sizeof weights, "%s/encoder/bottle/weights.safetensors", out);

    /* Training run: results.json repeats train_history.json. */
    format_run_script(script, sizeof script, out, values, "");
    CHECK_INT_EQ(run_script("train.lua", script), ADVGNN_OK);
    if (test_message[0])
        fprintf(stderr, "%s\n", test_message);
    results = read_json(results_path);
    history = read_json(history_path);
    CHECK(results != NULL);
    CHECK(history != NULL);
    training = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(results, "categories"), "bottle"),
        "training");
    result_epochs = cJSON_GetObjectItemCaseSensitive(training, "epochs");
    history_epochs = cJSON_GetObjectItemCaseSensitive(history, "epochs");
    CHECK_INT_EQ(cJSON_GetArraySize(result_epochs), EPOCHS);
    CHECK_INT_EQ(cJSON_GetArraySize(history_epochs), EPOCHS);
    for (int e = 0; e < EPOCHS && e < cJSON_GetArraySize(result_epochs); e++) {
        const cJSON *got = cJSON_GetArrayItem(result_epochs, e), *want = cJSON_GetArrayItem(history_epochs, e);

        check_same_number(got, want, "epoch");
        check_same_number(got, want, "train_loss");
        check_same_number(got, want, "val_loss"); /* 5 validation images, so never null here */
        check_same_number(got, want, "seconds");
        check_same_number(got, want, "lr");
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(got, "seconds")) > 0.0);
    }
    check_same_number(training, history, "best_epoch");
    check_same_number(training, history, "steps");
    CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(training, "stopped_early")));
    check_lua_values(values, history_epochs);
    cJSON_Delete(results);
    cJSON_Delete(history);

    /* A run killed after training but before its category finished leaves
     * a history and no results.json, so the folder can be used again. A run
     * there that loads weights trains nothing, and the history left behind
     * must not appear in its results. */
    CHECK(remove(results_path) == 0);
    age_file(history_path, 120);
    format_run_script(script, sizeof script, out, values, weights);
    CHECK_INT_EQ(run_script("load.lua", script), ADVGNN_OK);
    if (test_message[0])
        fprintf(stderr, "%s\n", test_message);
    results = read_json(results_path);
    CHECK(results != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(
              cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(results, "categories"), "bottle"),
              "training") == NULL);
    cJSON_Delete(results);
}

int main(void)
{
    struct stat st;

    test_setup();
    advgnn_ctx_set_log_level(test_ctx, ADVGNN_LOG_ERROR);
    test_history_files();

    if (stat(BOTTLE_DIR, &st) != 0) {
        printf("SKIP: %s is missing\n", BOTTLE_DIR);
        test_teardown();
        return check_failures ? CHECK_DONE() : 77;
    }
    if (advgnn_registry_discover(test_reg, test_ctx, NULL) != ADVGNN_OK) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(test_ctx));
        return 1;
    }
    test_real_run();

    test_teardown();
    return CHECK_DONE();
}
