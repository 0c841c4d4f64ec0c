/* The runner creates the encoder before it decodes a category's images, so
 * an encoder option that cannot work fails before the first image is read.
 * The check: vig's small preset at image size 64 with k = 9 (its coarsest
 * grid gives 4 keys) on a category whose first training image is not a valid
 * PNG. The run must fail with vig's option error, not the decoder's. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define SIZE 64 /* pixels of the test images and the run's image_size */

/* Writes a manifest of one category "tile": a file that is not a PNG, then
 * five valid training images and two test images. Returns the manifest's
 * path (advgnn_free) or NULL. */
static char *write_dataset(advgnn_ctx *ctx, const char *root)
{
    char *manifest = advgnn_fs_join(root, "manifest.tsv"), image[4200];
    FILE *list = manifest ? fopen(manifest, "w") : NULL, *broken;

    if (!list) {
        advgnn_free(manifest);
        return NULL;
    }
    snprintf(image, sizeof(image), "%s/broken.png", root);
    broken = fopen(image, "w");
    CHECK(broken != NULL);
    if (broken) {
        fputs("this is not a PNG file", broken);
        fclose(broken);
    }
    fprintf(list, "tile\ttrain\t0\tgood\tbroken.png\t%s\t-\n", image);
    for (int i = 0; i < 5; i++) {
        snprintf(image, sizeof(image), "%s/train_%d.png", root, i);
        CHECK_INT_EQ(helper_write_png(ctx, image, SIZE, SIZE, 3, 0, 0, 0), ADVGNN_OK);
        fprintf(list, "tile\ttrain\t0\tgood\ttrain_%d.png\t%s\t-\n", i, image);
    }
    snprintf(image, sizeof(image), "%s/good.png", root);
    CHECK_INT_EQ(helper_write_png(ctx, image, SIZE, SIZE, 3, 0, 0, 0), ADVGNN_OK);
    fprintf(list, "tile\ttest\t0\tgood\tgood.png\t%s\t-\n", image);
    snprintf(image, sizeof(image), "%s/bad.png", root);
    CHECK_INT_EQ(helper_write_png(ctx, image, SIZE, SIZE, 3, 16, 16, 12), ADVGNN_OK);
    fprintf(list, "tile\ttest\t1\tsquare\tbad.png\t%s\t-\n", image);
    fclose(list);
    return manifest;
}

int main(void)
{
    static const char *const encoder_pairs[] = {"preset", "small", "k", "9", NULL};
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_registry *reg = NULL;
    char *root = helper_make_temp_dir("advgnn-encoder-first"), *manifest = NULL, *out = NULL;
    const advgnn_plugin *dataset = NULL, *vig = NULL, *scorer = NULL;

    CHECK(ctx != NULL);
    CHECK(root != NULL);
    if (!ctx || !root)
        return CHECK_DONE();
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    CHECK_INT_EQ(advgnn_registry_new(ctx, &reg), ADVGNN_OK);
    dataset = helper_load_plugin(reg, ctx, ADVGNN_TEST_MANIFEST_DIR, "test_manifest");
    vig = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "vig");
    scorer = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    manifest = write_dataset(ctx, root);
    out = advgnn_fs_join(root, "out");
    CHECK(dataset != NULL);
    CHECK(vig != NULL);
    CHECK(scorer != NULL);
    CHECK(manifest != NULL);

    if (dataset && vig && scorer && manifest && out) {
        const char *dataset_pairs[] = {"manifest", manifest, NULL};
        advgnn_options *dataset_opts = helper_options(ctx, dataset, dataset_pairs);
        advgnn_options *encoder_opts = helper_options(ctx, vig, encoder_pairs);
        advgnn_options *scorer_opts = helper_options(ctx, scorer, NULL);
        advgnn_plugin_choice choice = {.plugin = scorer, .options = scorer_opts, .weight = 1.0};
        advgnn_experiment_spec spec = {
            .name = "encoder_first",
            .dataset = {.plugin = dataset, .options = dataset_opts},
            .encoder = {.plugin = vig, .options = encoder_opts},
            .scorers = &choice,
            .scorer_count = 1,
            .image_size = SIZE,
            .batch_size = 2,
            .seed = 1,
            .output_dir = out,
            .heatmaps = -1,
            .threads = 1,
        };
        cJSON *results = NULL;

        CHECK(dataset_opts != NULL);
        CHECK(encoder_opts != NULL);
        CHECK(scorer_opts != NULL);
        if (dataset_opts && encoder_opts && scorer_opts) {
            const char *message;

            CHECK_INT_EQ(advgnn_experiment_run(ctx, &spec, &results), ADVGNN_ERR_OPTION);
            message = advgnn_ctx_error(ctx);
            CHECK_STR_CONTAINS(message, "category tile");
            CHECK_STR_CONTAINS(message, "image size 64 x 64 is too small: stage 4 gives 4 keys per image");
            CHECK_STR_CONTAINS(message, "set image_size to at least 96, or lower 'k'");
            CHECK(strstr(message, "broken.png") == NULL);
            CHECK(results == NULL);
        }
        cJSON_Delete(results);
        advgnn_options_free(dataset_opts);
        advgnn_options_free(encoder_opts);
        advgnn_options_free(scorer_opts);
    }

    helper_remove_tree(root);
    advgnn_free(out);
    advgnn_free(manifest);
    advgnn_free(root);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
