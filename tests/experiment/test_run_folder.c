/* The runner with the bundled folder dataset on folders written at test
 * time: a mask whose size differs from its image fails naming both files and
 * sizes, and a dataset folder without images fails naming the dataset. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define SIZE 48 /* pixels of the test images */

typedef struct fixture {
    advgnn_ctx *ctx;
    advgnn_registry *reg;
    const advgnn_plugin *dataset;
    const advgnn_plugin *encoder;
    const advgnn_plugin *scorer;
    char *root;
} fixture;

static int run(fixture *fx, const char *dataset_root, const char *out)
{
    const char *pairs[] = {"root", dataset_root, "mask_suffix", "_mask", "test_normal_ratio", "0.25", NULL};
    advgnn_options *dopts = helper_options(fx->ctx, fx->dataset, pairs);
    advgnn_options *eopts = helper_options(fx->ctx, fx->encoder, NULL);
    advgnn_options *sopts = helper_options(fx->ctx, fx->scorer, NULL);
    advgnn_plugin_choice scorer = {.plugin = fx->scorer, .options = sopts, .weight = 1.0};
    advgnn_experiment_spec spec = {
        .name = "folder",
        .dataset = {.plugin = fx->dataset, .options = dopts},
        .encoder = {.plugin = fx->encoder, .options = eopts},
        .scorers = &scorer,
        .scorer_count = 1,
        .image_size = SIZE,
        .batch_size = 4,
        .output_dir = out,
        .threads = 1,
    };
    cJSON *results = NULL;
    int rc = ADVGNN_ERR_INTERNAL;

    advgnn_ctx_clear_error(fx->ctx);
    if (dopts && eopts && sopts)
        rc = advgnn_experiment_run(fx->ctx, &spec, &results);
    cJSON_Delete(results);
    advgnn_options_free(dopts);
    advgnn_options_free(eopts);
    advgnn_options_free(sopts);
    return rc;
}

static void test_mask_size_mismatch(fixture *fx)
{
    char path[4096];
    char *data = advgnn_fs_join(fx->root, "tiles");
    char *out = advgnn_fs_join(fx->root, "tiles-out");

    /* good/ with 8 normal images; defect/crack_0.png with a half-size mask. */
    snprintf(path, sizeof(path), "%s/good", data);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(fx->ctx, path), ADVGNN_OK);
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof(path), "%s/good/%03d.png", data, i);
        CHECK_INT_EQ(helper_write_png(fx->ctx, path, SIZE, SIZE, 1, 0, 0, 0), ADVGNN_OK);
    }
    snprintf(path, sizeof(path), "%s/defect", data);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(fx->ctx, path), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/defect/crack_0.png", data);
    CHECK_INT_EQ(helper_write_png(fx->ctx, path, SIZE, SIZE, 1, 10, 10, 8), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/defect/crack_0_mask.png", data);
    CHECK_INT_EQ(helper_write_mask(fx->ctx, path, SIZE / 2, SIZE / 2, 5, 5, 4), ADVGNN_OK);

    CHECK_INT_EQ(run(fx, data, out), ADVGNN_ERR_FORMAT);
    const char *message = advgnn_ctx_error(fx->ctx);
    CHECK_STR_CONTAINS(message, "defect/crack_0_mask.png' is 24 x 24");
    CHECK_STR_CONTAINS(message, "defect/crack_0.png' is 48 x 48");
    CHECK_STR_CONTAINS(message, "category 'tiles', test split");

    /* The failure is recorded in results.json too. */
    snprintf(path, sizeof(path), "%s/results.json", out);
    cJSON *results = helper_read_json(path);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(results, "status");
    CHECK(cJSON_IsString(status));
    CHECK(cJSON_IsString(status) && strcmp(status->valuestring, "failed") == 0);
    cJSON_Delete(results);
    advgnn_free(data);
    advgnn_free(out);
}

static void test_empty_folder(fixture *fx)
{
    char path[4096];
    char *data = advgnn_fs_join(fx->root, "empty");
    char *out = advgnn_fs_join(fx->root, "empty-out");

    snprintf(path, sizeof(path), "%s/good", data);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(fx->ctx, path), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/defect", data);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(fx->ctx, path), ADVGNN_OK);

    int rc = run(fx, data, out);
    CHECK(rc != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "folder");
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), data);
    advgnn_free(data);
    advgnn_free(out);
}

int main(void)
{
    fixture fx = {0};

    fx.ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(fx.ctx, ADVGNN_LOG_WARN);
    fx.root = helper_make_temp_dir("advgnn-run-folder");
    CHECK(fx.root != NULL);
    CHECK_INT_EQ(advgnn_registry_new(fx.ctx, &fx.reg), ADVGNN_OK);
    fx.dataset = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "folder");
    fx.encoder = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "patch_stats");
    fx.scorer = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    CHECK(fx.dataset != NULL);
    CHECK(fx.encoder != NULL);
    CHECK(fx.scorer != NULL);

    if (fx.root && fx.dataset && fx.encoder && fx.scorer) {
        test_mask_size_mismatch(&fx);
        test_empty_folder(&fx);
    }

    helper_remove_tree(fx.root);
    advgnn_free(fx.root);
    advgnn_registry_free(fx.reg);
    advgnn_ctx_free(fx.ctx);
    return CHECK_DONE();
}
