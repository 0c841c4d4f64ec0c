/* End to end with a trained encoder: the cnn_ae encoder (train(), save(),
 * reconstruction) with the memory_bank and reconstruction scorers on a small
 * synthetic category. Checks that the weights are saved and named in
 * results.json, that the reconstruction reaches its scorer, and that every
 * fused score in scores.csv equals the weighted sum of the standardized
 * scorer scores, recomputed here from the statistics in results.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

static const char *const dataset_options[] = {
    "kinds", "checker", "image_size", "64", "train_count", "16", "validation_count", "4",
    "test_normal_count", "6", "test_anomalous_count", "6", "seed", "1", NULL};
static const char *const encoder_options[] = {"widths", "8,16", "feature_stages", "1,2", "epochs", "2", NULL};

/* Returns fusion.scorers.<label>.<key> of the category, or NAN. */
static double fusion_value(const cJSON *results, const char *label, const char *key)
{
    const cJSON *categories = cJSON_GetObjectItemCaseSensitive(results, "categories");
    const cJSON *category = cJSON_GetObjectItemCaseSensitive(categories, "checker");
    const cJSON *fusion = cJSON_GetObjectItemCaseSensitive(category, "fusion");
    const cJSON *scorers = cJSON_GetObjectItemCaseSensitive(fusion, "scorers");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(scorers, label), key);

    return cJSON_IsNumber(value) ? value->valuedouble : NAN;
}

/* Recomputes the fused column of every scores.csv row. Rows are
 * "checker,<name>,<defect>,<label>,<memory_bank>,<reconstruction>,<fused>";
 * names of synthetic samples contain no comma. */
static void check_fused_scores(const char *out, const cJSON *results)
{
    double bank_mean = fusion_value(results, "memory_bank", "score_mean");
    double bank_std = fusion_value(results, "memory_bank", "score_std");
    double recon_mean = fusion_value(results, "recon", "score_mean");
    double recon_std = fusion_value(results, "recon", "score_std");
    char path[4096], line[1024];
    int rows = 0;

    CHECK(bank_std > 0.0);
    CHECK(recon_std > 0.0);
    snprintf(path, sizeof(path), "%s/scores.csv", out);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fgets(line, sizeof(line), f) != NULL);
    CHECK_STR_CONTAINS(line, "category,name,defect_type,label,memory_bank,recon,fused");
    while (fgets(line, sizeof(line), f)) {
        char *fields[7];
        char *save = NULL;
        int n = 0;
        for (char *tok = strtok_r(line, ",\n", &save); tok && n < 7; tok = strtok_r(NULL, ",\n", &save))
            fields[n++] = tok;
        CHECK_INT_EQ(n, 7);
        if (n != 7)
            continue;
        double bank = strtod(fields[4], NULL);
        double recon = strtod(fields[5], NULL);
        double fused = strtod(fields[6], NULL);
        double expected = (bank - bank_mean) / bank_std + 0.5 * (recon - recon_mean) / recon_std;
        CHECK_NEAR(fused, expected, 1e-4 * (1.0 + fabs(expected)));
        rows++;
    }
    fclose(f);
    CHECK_INT_EQ(rows, 12);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_registry *reg = NULL;
    char *root = helper_make_temp_dir("advgnn-run-autoencoder");
    char *out = root ? advgnn_fs_join(root, "run") : NULL;
    cJSON *results = NULL;

    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    CHECK(out != NULL);
    CHECK_INT_EQ(advgnn_registry_new(ctx, &reg), ADVGNN_OK);
    const advgnn_plugin *dataset = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "synthetic");
    const advgnn_plugin *encoder = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "cnn_ae");
    const advgnn_plugin *bank = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    const advgnn_plugin *recon = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "reconstruction");
    CHECK(dataset != NULL);
    CHECK(encoder != NULL);
    CHECK(bank != NULL);
    CHECK(recon != NULL);

    if (out && dataset && encoder && bank && recon) {
        advgnn_options *dopts = helper_options(ctx, dataset, dataset_options);
        advgnn_options *eopts = helper_options(ctx, encoder, encoder_options);
        advgnn_options *bopts = helper_options(ctx, bank, NULL);
        advgnn_options *ropts = helper_options(ctx, recon, NULL);
        advgnn_plugin_choice scorers[2] = {
            {.plugin = bank, .options = bopts, .weight = 1.0},
            {.plugin = recon, .options = ropts, .label = "recon", .weight = 0.5},
        };
        advgnn_experiment_spec spec = {
            .name = "autoencoder",
            .dataset = {.plugin = dataset, .options = dopts},
            .encoder = {.plugin = encoder, .options = eopts},
            .scorers = scorers,
            .scorer_count = 2,
            .image_size = 64,
            .batch_size = 4,
            .seed = 3,
            .output_dir = out,
            .heatmaps = 2,
            .threads = 2,
        };
        CHECK(dopts != NULL);
        CHECK(eopts != NULL);
        CHECK(bopts != NULL);
        CHECK(ropts != NULL);
        if (dopts && eopts && bopts && ropts) {
            int rc = advgnn_experiment_run(ctx, &spec, &results);
            if (rc != ADVGNN_OK)
                fprintf(stderr, "run failed: %s\n", advgnn_ctx_error(ctx));
            CHECK_INT_EQ(rc, ADVGNN_OK);
        }
        advgnn_options_free(dopts);
        advgnn_options_free(eopts);
        advgnn_options_free(bopts);
        advgnn_options_free(ropts);
    }

    if (results) {
        const cJSON *categories = cJSON_GetObjectItemCaseSensitive(results, "categories");
        const cJSON *checker = cJSON_GetObjectItemCaseSensitive(categories, "checker");
        const cJSON *weights = cJSON_GetObjectItemCaseSensitive(checker, "encoder_weights");
        CHECK(cJSON_IsString(weights));
        CHECK(cJSON_IsString(weights) && advgnn_fs_is_file(weights->valuestring));

        const cJSON *fusion = cJSON_GetObjectItemCaseSensitive(checker, "fusion");
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(fusion, "statistics_split");
        CHECK(cJSON_IsString(split));
        CHECK(cJSON_IsString(split) && strcmp(split->valuestring, "validation") == 0);

        /* The reconstruction scorer ran on real reconstructions: its metrics
         * are numbers. */
        double recon_auroc = helper_metric(results, "checker", "recon", "image_auroc");
        CHECK(recon_auroc >= 0.0);
        CHECK(recon_auroc <= 1.0);
        double fused_auroc = helper_metric(results, "checker", "fused", "image_auroc");
        CHECK(fused_auroc >= 0.0);
        CHECK(fused_auroc <= 1.0);

        check_fused_scores(out, results);
    }

    cJSON_Delete(results);
    helper_remove_tree(root);
    advgnn_free(out);
    advgnn_free(root);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
