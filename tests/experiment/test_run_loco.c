/* sPRO in experiment runs, on an MVTec LOCO AD layout built at test time
 * from the real juice_bottle files, which have no good test images. The
 * layout has six train/good images for training, two more copied into
 * test/good, and the four real logical anomalies with their masks.
 *
 * Checks: the per-defect masks at map size keep each defect's area scaled
 * by the resize (within nearest-neighbour rounding) and get saturation
 * areas scaled by the area ratio, computed here from the mask files and
 * defects_config.json; a run records spro_logical_<limit> for the five
 * limits as numbers in [0, 1], and spro_structural_* and spro_mean_* under
 * "undefined" with a reason, because the layout has no structural
 * anomalies. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../datasets/layout_builder.h"
#include "check.h"
#include "data/sample_store.h"
#include "experiment/experiment.h"
#include "experiment/spro_run.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define BOTTLE ADVGNN_SHARED_DATA "/mvtec_loco/juice_bottle"
#define SIZE 64 /* pixels of the preprocessed images */

static const char *const limits[] = {"0.01", "0.05", "0.1", "0.3", "1.0"};

typedef struct fixture {
    advgnn_ctx *ctx;
    advgnn_registry *reg;
    const advgnn_plugin *dataset;
    const advgnn_plugin *encoder;
    const advgnn_plugin *scorer;
    char *root; /* holds juice_bottle/ */
} fixture;

static void build_layout(const char *root)
{
    char src[4096], rel[512];

    for (int i = 0; i < 8; i++) {
        snprintf(src, sizeof(src), BOTTLE "/train/good/%03d.png", i);
        snprintf(rel, sizeof(rel), i < 6 ? "juice_bottle/train/good/%03d.png" : "juice_bottle/test/good/%03d.png",
                 i < 6 ? i : i - 6);
        builder_copy(src, root, rel);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(src, sizeof(src), BOTTLE "/test/logical_anomalies/%03d.png", i);
        snprintf(rel, sizeof(rel), "juice_bottle/test/logical_anomalies/%03d.png", i);
        builder_copy(src, root, rel);
        snprintf(src, sizeof(src), BOTTLE "/ground_truth/logical_anomalies/%03d/000.png", i);
        snprintf(rel, sizeof(rel), "juice_bottle/ground_truth/logical_anomalies/%03d/000.png", i);
        builder_copy(src, root, rel);
    }
    builder_copy(BOTTLE "/defects_config.json", root, "juice_bottle/defects_config.json");
}

/* The saturation area at full resolution of the one defect in mask file
 * `path`, from its pixel value's entry in defects_config.json; *area gets
 * the defect's pixels. */
static double reference_saturation(fixture *fx, const cJSON *config, const char *path, size_t *area)
{
    advgnn_image mask = {0};
    int value = 0;

    *area = 0;
    CHECK_INT_EQ(advgnn_image_load_file(fx->ctx, path, 0, &mask), ADVGNN_OK);
    for (size_t p = 0; mask.data && p < (size_t)mask.width * mask.height; p++) {
        int v = ((uint8_t *)mask.data)[p * (size_t)mask.channels];
        *area += v != 0;
        value = v > value ? v : value;
    }
    advgnn_image_release(&mask);

    const cJSON *entry;
    cJSON_ArrayForEach(entry, config)
    {
        if (cJSON_GetObjectItem(entry, "pixel_value")->valuedouble != value)
            continue;
        double threshold = cJSON_GetObjectItem(entry, "saturation_threshold")->valuedouble;
        if (cJSON_IsTrue(cJSON_GetObjectItem(entry, "relative_saturation")))
            return floor(threshold * (double)*area);
        return threshold < (double)*area ? threshold : (double)*area;
    }
    CHECK(!"pixel value not in defects_config.json");
    return 0.0;
}

/* advgnn_run_defects_load on the layout, with a 64 x 32 resize. */
static void test_defects_at_map_size(fixture *fx)
{
    char *bottle = advgnn_fs_join(fx->root, "juice_bottle");
    char *config_path = advgnn_fs_join(bottle, "defects_config.json");
    char path[4096];
    const char *pairs[] = {"root", fx->root, NULL};
    advgnn_options *opts = helper_options(fx->ctx, fx->dataset, pairs);
    const advgnn_dataset_functions *fn = &fx->dataset->fn.dataset;
    advgnn_sample_store *store = NULL;
    void *state = NULL;

    CHECK(fn->load_defect_masks != NULL);
    CHECK_INT_EQ(fn->open(fx->ctx, opts, &state), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_new(fx->ctx, "mvtec_loco", 1, &store), ADVGNN_OK);
    CHECK_INT_EQ(fn->list(state, fx->ctx, store), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_finish(store, fx->ctx), ADVGNN_OK);

    advgnn_split_data test = {.split = ADVGNN_SPLIT_TEST};
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &test.samples, &test.count);
    CHECK_INT_EQ((int)test.count, 6);
    advgnn_sample_loader loader = {.dataset_name = "mvtec_loco", .fn = fn, .state = state,
                                   .pp = advgnn_run_preprocess(SIZE, 0), .height = 32, .width = SIZE};
    loader.pp.resize_height = 32;
    advgnn_defect_masks *defects = NULL;
    CHECK_INT_EQ(advgnn_run_defects_load(fx->ctx, &loader, &test, &defects), ADVGNN_OK);

    char *text = NULL;
    size_t text_size = 0;
    CHECK_INT_EQ(advgnn_fs_read_file(fx->ctx, config_path, 1 << 20, &text, &text_size), ADVGNN_OK);
    cJSON *config = text ? cJSON_Parse(text) : NULL;
    CHECK(config != NULL);

    size_t defective = 0;
    for (size_t i = 0; defects && config && i < test.count; i++) {
        const advgnn_sample *s = &test.samples[i];
        if (!s->anomalous) {
            CHECK_INT_EQ((int)defects[i].count, 0);
            continue;
        }
        defective++;
        CHECK_INT_EQ((int)defects[i].count, 1);
        CHECK_INT_EQ(defects[i].width, SIZE);
        CHECK_INT_EQ(defects[i].height, 32);

        /* name is "logical_anomalies/000.png"; its mask folder is 000/. */
        snprintf(path, sizeof(path), "%s/ground_truth/logical_anomalies/%.3s/000.png", bottle,
                 strrchr(s->name, '/') + 1);
        size_t full_area = 0;
        double full_saturation = reference_saturation(fx, config, path, &full_area);
        double ratio = (double)SIZE * 32.0 / (800.0 * 1600.0);
        CHECK_NEAR(defects[i].saturation[0], full_saturation * ratio, 1e-9 * full_saturation);

        size_t area = 0;
        for (size_t p = 0; p < (size_t)SIZE * 32; p++)
            area += defects[i].masks[p];
        CHECK_NEAR((double)area, (double)full_area * ratio, 0.15 * (double)full_area * ratio + 4.0);
    }
    CHECK_INT_EQ((int)defective, 4);

    cJSON_Delete(config);
    advgnn_free(text);
    advgnn_run_defects_free(defects, test.count);
    advgnn_sample_store_free(store);
    if (state)
        fn->close(state);
    advgnn_options_free(opts);
    advgnn_free(config_path);
    advgnn_free(bottle);
}

static void test_run_records_spro(fixture *fx)
{
    char *out = advgnn_fs_join(fx->root, "out");
    const char *pairs[] = {"root", fx->root, NULL};
    advgnn_options *dopts = helper_options(fx->ctx, fx->dataset, pairs);
    advgnn_options *eopts = helper_options(fx->ctx, fx->encoder, NULL);
    advgnn_options *sopts = helper_options(fx->ctx, fx->scorer, NULL);
    advgnn_plugin_choice scorer = {.plugin = fx->scorer, .options = sopts, .weight = 1.0};
    advgnn_experiment_spec spec = {
        .name = "loco",
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
    char key[128];

    advgnn_ctx_clear_error(fx->ctx);
    int rc = advgnn_experiment_run(fx->ctx, &spec, &results);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "run failed: %s\n", advgnn_ctx_error(fx->ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);

    const cJSON *category = cJSON_GetObjectItem(cJSON_GetObjectItem(results, "categories"), "juice_bottle");
    const cJSON *undefined = cJSON_GetObjectItem(category, "undefined");
    CHECK(undefined != NULL);
    for (size_t l = 0; results && l < sizeof(limits) / sizeof(limits[0]); l++) {
        snprintf(key, sizeof(key), "spro_logical_%s", limits[l]);
        double value = helper_metric(results, "juice_bottle", "memory_bank", key);
        CHECK(value >= 0.0);
        CHECK(value <= 1.0);

        /* With one category the mean over categories is that category's value. */
        const cJSON *mean = cJSON_GetObjectItem(cJSON_GetObjectItem(results, "mean"), "memory_bank");
        const cJSON *mean_value = cJSON_GetObjectItem(mean, key);
        CHECK(cJSON_IsNumber(mean_value));
        if (cJSON_IsNumber(mean_value))
            CHECK_NEAR(mean_value->valuedouble, value, 1e-12);

        snprintf(key, sizeof(key), "memory_bank.spro_structural_%s", limits[l]);
        const cJSON *reason = cJSON_GetObjectItem(undefined, key);
        CHECK(cJSON_IsString(reason));
        if (cJSON_IsString(reason))
            CHECK_STR_CONTAINS(reason->valuestring, "structural_anomalies");
        snprintf(key, sizeof(key), "memory_bank.spro_mean_%s", limits[l]);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(undefined, key)));
        snprintf(key, sizeof(key), "spro_mean_%s", limits[l]);
        CHECK(isnan(helper_metric(results, "juice_bottle", "memory_bank", key)));
    }

    cJSON_Delete(results);
    advgnn_options_free(dopts);
    advgnn_options_free(eopts);
    advgnn_options_free(sopts);
    advgnn_free(out);
}

int main(void)
{
    fixture fx = {0};

    fx.ctx = advgnn_ctx_new();
    fx.root = helper_make_temp_dir("advgnn-loco-spro");
    CHECK(fx.ctx != NULL);
    CHECK(fx.root != NULL);
    if (!fx.ctx || !fx.root)
        return CHECK_DONE();
    build_layout(fx.root);
    CHECK_INT_EQ(advgnn_registry_new(fx.ctx, &fx.reg), ADVGNN_OK);
    fx.dataset = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "mvtec_loco");
    fx.encoder = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "patch_stats");
    fx.scorer = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    CHECK(fx.dataset != NULL);
    CHECK(fx.encoder != NULL);
    CHECK(fx.scorer != NULL);
    if (fx.dataset && fx.encoder && fx.scorer) {
        test_defects_at_map_size(&fx);
        test_run_records_spro(&fx);
    }

    helper_remove_tree(fx.root);
    advgnn_free(fx.root);
    advgnn_registry_free(fx.reg);
    advgnn_ctx_free(fx.ctx);
    return CHECK_DONE();
}
