/* End to end with a trained encoder: the cnn_ae encoder (train(), save(),
 * reconstruction) with the memory_bank and reconstruction scorers on a small
 * synthetic category. Checks that the weights are saved and named in
 * results.json, that the reconstruction reaches its scorer, and that every
 * fused score in scores.csv equals the weighted sum of the standardized
 * scorer scores, recomputed here from the statistics in results.json. Also
 * checks that each heatmap has a reconstruction image of the same name. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"
#include "advgnn/image.h"

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

    /* Both spreads are far above the fusion floor, so the divisors are the
     * standard deviations themselves and no scorer is marked. */
    CHECK_NEAR(fusion_value(results, "memory_bank", "score_divisor"), bank_std, 0.0);
    CHECK_NEAR(fusion_value(results, "recon", "score_divisor"), recon_std, 0.0);
    CHECK_NEAR(fusion_value(results, "recon", "held_out_images"), 4.0, 0.0);
    for (int s = 0; s < 2; s++) {
        const char *label = s == 0 ? "memory_bank" : "recon";
        const cJSON *categories = cJSON_GetObjectItemCaseSensitive(results, "categories");
        const cJSON *fusion = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(categories, "checker"), "fusion");
        const cJSON *entry = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fusion, "scorers"),
                                                              label);
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(entry, "score_std_floored")));
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(entry, "map_std_floored")));
        CHECK(cJSON_GetObjectItemCaseSensitive(entry, "warning") == NULL);
    }
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

/* Compares one reconstruction PNG with the heatmap of the same name: 128 x 64
 * RGB (the 64 x 64 input beside its reconstruction). Its left half must equal
 * the heatmap's left half, because both draw the same input there. Its right
 * half must differ from the input somewhere, because two epochs of training
 * do not reproduce the input exactly. */
static void check_reconstruction(advgnn_ctx *ctx, const char *path, const char *heat_path)
{
    advgnn_image recon = {0}, heat = {0};

    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, ADVGNN_IMAGE_DEFAULT_MAX_PIXELS, &recon), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, heat_path, ADVGNN_IMAGE_DEFAULT_MAX_PIXELS, &heat), ADVGNN_OK);
    CHECK_INT_EQ(recon.width, 128);
    CHECK_INT_EQ(recon.height, 64);
    CHECK_INT_EQ(recon.channels, 3);
    if (recon.data && heat.data && recon.width == 128 && heat.width == 128 && recon.channels == 3 &&
        heat.channels == 3 && recon.height == 64 && heat.height == 64) {
        const uint8_t *r = recon.data, *h = heat.data;
        int left_equal = 1, right_differs = 0;
        for (size_t y = 0; y < 64; y++)
            for (size_t x = 0; x < 64 * 3; x++) {
                size_t row = y * 128 * 3;
                left_equal &= r[row + x] == h[row + x];
                right_differs |= r[row + 64 * 3 + x] != r[row + x];
            }
        CHECK(left_equal);
        CHECK(right_differs);
    }
    advgnn_image_release(&recon);
    advgnn_image_release(&heat);
}

/* Walks reconstructions/checker/ (sample names keep their folders) and
 * checks each file against heatmaps/checker/ at the same relative path;
 * returns the number of files. */
static long check_reconstruction_tree(advgnn_ctx *ctx, const char *folder, const char *heat_folder)
{
    DIR *dir = opendir(folder);
    long files = 0;

    CHECK(dir != NULL);
    if (!dir)
        return 0;
    for (struct dirent *e = readdir(dir); e; e = readdir(dir)) {
        char path[2048], heat_path[2048];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%.255s", folder, e->d_name);
        snprintf(heat_path, sizeof(heat_path), "%s/%.255s", heat_folder, e->d_name);
        if (advgnn_fs_is_dir(path)) {
            files += check_reconstruction_tree(ctx, path, heat_path);
        } else {
            check_reconstruction(ctx, path, heat_path);
            files++;
        }
    }
    closedir(dir);
    return files;
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
        char folder[1024], heat_folder[1024];
        snprintf(folder, sizeof(folder), "%s/reconstructions/checker", out);
        snprintf(heat_folder, sizeof(heat_folder), "%s/heatmaps/checker", out);
        CHECK_INT_EQ(check_reconstruction_tree(ctx, folder, heat_folder), 2);
    }

    cJSON_Delete(results);
    helper_remove_tree(root);
    advgnn_free(out);
    advgnn_free(root);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
