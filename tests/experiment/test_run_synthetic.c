/* End to end: a small synthetic experiment through the runner with the
 * bundled synthetic dataset, patch_stats encoder and memory_bank scorer,
 * loaded through the plugin registry. Checks the output files, the metric
 * ranges, detection well above chance, fusion, and that a second identical
 * run gives identical scores. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

typedef struct fixture {
    advgnn_ctx *ctx;
    advgnn_registry *reg;
    const advgnn_plugin *dataset;
    const advgnn_plugin *encoder;
    const advgnn_plugin *scorer;
    char *root; /* temporary folder of this test */
} fixture;

static const char *const dataset_options[] = {
    "kinds", "checker,stripes", "image_size", "128", "train_count", "10", "validation_count", "4",
    "test_normal_count", "6", "test_anomalous_count", "6", "seed", "7", NULL};

/* Runs the experiment with one or two memory_bank scorers into `out`. */
static int run_experiment(fixture *fx, const char *out, int two_scorers, const char *script, cJSON **results)
{
    advgnn_options *dopts = helper_options(fx->ctx, fx->dataset, dataset_options);
    advgnn_options *eopts = helper_options(fx->ctx, fx->encoder, NULL);
    advgnn_options *sopts = helper_options(fx->ctx, fx->scorer, NULL);
    advgnn_plugin_choice scorers[2] = {
        {.plugin = fx->scorer, .options = sopts, .label = "bank", .weight = 1.0},
        {.plugin = fx->scorer, .options = sopts, .label = "bank_half", .weight = 0.5},
    };
    advgnn_experiment_spec spec = {
        .name = "synthetic_test",
        .script_path = script,
        .dataset = {.plugin = fx->dataset, .options = dopts},
        .encoder = {.plugin = fx->encoder, .options = eopts},
        .scorers = scorers,
        .scorer_count = two_scorers ? 2 : 1,
        .image_size = 128,
        .batch_size = 4,
        .seed = 11,
        .output_dir = out,
        .heatmaps = 3,
        .threads = 2,
    };
    int rc = ADVGNN_ERR_INTERNAL;

    if (dopts && eopts && sopts)
        rc = advgnn_experiment_run(fx->ctx, &spec, results);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "run into %s failed: %s\n", out, advgnn_ctx_error(fx->ctx));
    advgnn_options_free(dopts);
    advgnn_options_free(eopts);
    advgnn_options_free(sopts);
    return rc;
}

static void check_metric_range(const cJSON *results, const char *category, const char *label)
{
    static const char *const names[] = {"image_auroc", "pixel_auroc", "aupro", "f1_max"};

    for (size_t m = 0; m < 4; m++) {
        double v = helper_metric(results, category, label, names[m]);
        if (!(v >= 0.0 && v <= 1.0)) {
            fprintf(stderr, "%s %s %s = %g, expected a number in [0, 1]\n", category, label, names[m], v);
            check_failures++;
        }
    }
}

static void check_outputs(const char *out, const cJSON *returned, int two_scorers)
{
    char path[4096];
    const char *categories[] = {"checker", "stripes"};
    const char *label = two_scorers ? "fused" : "bank";

    snprintf(path, sizeof(path), "%s/results.json", out);
    cJSON *results = helper_read_json(path);
    CHECK(results != NULL);
    if (!results)
        return;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(results, "status");
    CHECK(cJSON_IsString(status));
    CHECK(cJSON_IsString(status) && strcmp(status->valuestring, "finished") == 0);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(results, "seed")));
    CHECK_INT_EQ(cJSON_GetObjectItemCaseSensitive(results, "seed")->valuedouble, 11);

    /* The returned tree and the file hold the same content. */
    char *a = cJSON_PrintUnformatted(results);
    char *b = cJSON_PrintUnformatted(returned);
    CHECK(a != NULL);
    CHECK(b != NULL);
    CHECK(a && b && strcmp(a, b) == 0);
    cJSON_free(a);
    cJSON_free(b);

    /* Resolved plugin options are typed values. */
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(results, "plugins");
    const cJSON *dataset = cJSON_GetObjectItemCaseSensitive(plugins, "dataset");
    const cJSON *dopts = cJSON_GetObjectItemCaseSensitive(dataset, "options");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(dopts, "train_count")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(dopts, "kinds")));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(plugins, "scorers")), two_scorers ? 2 : 1);

    for (size_t c = 0; c < 2; c++) {
        check_metric_range(results, categories[c], "bank");
        if (two_scorers)
            check_metric_range(results, categories[c], "fused");

        /* Pasted defects on a regular texture are easy: a working pipeline
         * scores far above chance (0.5). */
        double auroc = helper_metric(results, categories[c], label, "image_auroc");
        if (!(auroc >= 0.8)) {
            fprintf(stderr, "%s: %s image AUROC %g, expected >= 0.8\n", categories[c], label, auroc);
            check_failures++;
        }

        snprintf(path, sizeof(path), "%s/heatmaps/%s", out, categories[c]);
        CHECK_INT_EQ(helper_count_files(path), 3);
    }

    /* A heatmap decodes as an RGB PNG: image and overlay side by side. */
    snprintf(path, sizeof(path), "%s/heatmaps/checker", out);
    char **names = NULL;
    size_t count = 0;
    advgnn_ctx *ctx = advgnn_ctx_new();
    if (advgnn_fs_list_dir(ctx, path, NULL, &names, &count) == ADVGNN_OK && count > 0) {
        char *file = advgnn_fs_join(path, names[0]);
        advgnn_image img = {0};
        CHECK_INT_EQ(advgnn_image_load_file(ctx, file, 0, &img), ADVGNN_OK);
        CHECK_INT_EQ(img.height, 128);
        CHECK(img.width >= 128);
        advgnn_image_release(&img);
        advgnn_free(file);
    }
    advgnn_fs_free_list(names, count);
    advgnn_ctx_free(ctx);

    /* scores.csv: a header and one row per test image (12 per category). */
    snprintf(path, sizeof(path), "%s/scores.csv", out);
    CHECK_INT_EQ(helper_count_lines(path), 1 + 2 * 12);

    /* The fusion statistics come from the validation split. */
    if (two_scorers) {
        const cJSON *cats = cJSON_GetObjectItemCaseSensitive(results, "categories");
        const cJSON *fusion = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cats, "checker"),
                                                               "fusion");
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(fusion, "statistics_split");
        CHECK(cJSON_IsString(split));
    CHECK(cJSON_IsString(split) && strcmp(split->valuestring, "validation") == 0);
    }
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(results, "mean");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(mean, label),
                                                          "image_auroc")));
    cJSON_Delete(results);
}

static char *read_text(const char *folder, const char *file)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    char *path = advgnn_fs_join(folder, file);
    char *text = NULL;
    size_t size = 0;

    if (path && advgnn_fs_read_file(ctx, path, 1u << 24, &text, &size) != ADVGNN_OK)
        text = NULL;
    advgnn_free(path);
    advgnn_ctx_free(ctx);
    return text;
}

static void test_two_identical_runs(fixture *fx)
{
    char *first = advgnn_fs_join(fx->root, "first");
    char *second = advgnn_fs_join(fx->root, "second");
    char *script = advgnn_fs_join(fx->root, "demo.lua");
    cJSON *r1 = NULL, *r2 = NULL;
    FILE *f = fopen(script, "w");

    if (f) {
        fputs("-- a script copied into the output folder\n", f);
        fclose(f);
    }
    CHECK_INT_EQ(run_experiment(fx, first, 0, script, &r1), ADVGNN_OK);
    CHECK_INT_EQ(run_experiment(fx, second, 0, NULL, &r2), ADVGNN_OK);
    if (r1)
        check_outputs(first, r1, 0);

    /* Determinism: identical spec, identical scores, byte for byte. */
    char *csv1 = read_text(first, "scores.csv");
    char *csv2 = read_text(second, "scores.csv");
    CHECK(csv1 != NULL);
    CHECK(csv2 != NULL);
    CHECK(csv1 && csv2 && strcmp(csv1, csv2) == 0);

    char *copy = read_text(first, "demo.lua");
    CHECK_STR_CONTAINS(copy, "copied into the output folder");

    advgnn_free(csv1);
    advgnn_free(csv2);
    advgnn_free(copy);
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    advgnn_free(first);
    advgnn_free(second);
    advgnn_free(script);
}

static void test_fused_run(fixture *fx)
{
    char *out = advgnn_fs_join(fx->root, "fused");
    cJSON *results = NULL;

    CHECK_INT_EQ(run_experiment(fx, out, 1, NULL, &results), ADVGNN_OK);
    if (results)
        check_outputs(out, results, 1);

    /* Two copies of one scorer standardize to the same z-scores, so the
     * fused score ranks images like either copy: equal AUROC. */
    double single = helper_metric(results, "checker", "bank", "image_auroc");
    double fused = helper_metric(results, "checker", "fused", "image_auroc");
    CHECK_NEAR(fused, single, 1e-3);
    cJSON_Delete(results);
    advgnn_free(out);
}

int main(void)
{
    fixture fx = {0};

    fx.ctx = advgnn_ctx_new();
    fx.root = helper_make_temp_dir("advgnn-run-synthetic");
    CHECK(fx.root != NULL);
    CHECK_INT_EQ(advgnn_registry_new(fx.ctx, &fx.reg), ADVGNN_OK);
    fx.dataset = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "synthetic");
    fx.encoder = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "patch_stats");
    fx.scorer = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    CHECK(fx.dataset != NULL);
    CHECK(fx.encoder != NULL);
    CHECK(fx.scorer != NULL);

    if (fx.root && fx.dataset && fx.encoder && fx.scorer) {
        test_two_identical_runs(&fx);
        test_fused_run(&fx);
    }

    helper_remove_tree(fx.root);
    advgnn_free(fx.root);
    advgnn_registry_free(fx.reg);
    advgnn_ctx_free(fx.ctx);
    return CHECK_DONE();
}
