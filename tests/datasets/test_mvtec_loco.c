/* The mvtec_loco plugin on the real juice_bottle files of the shared data,
 * and on layouts built here from them: two masks per defect image, a
 * defects_config.json with a wrong type, a missing train/good, a defect image
 * without masks. */
#include <stdio.h>
#include <unistd.h>

#include "dataset_harness.h"
#include "layout_builder.h"

#define ROOT ADVGNN_SHARED_DATA "/mvtec_loco"
#define BOTTLE ROOT "/juice_bottle"

static advgnn_ctx *ctx;
static test_dataset ds;

/* Counts the nonzero pixels of a mask file, decoded by the core. */
static size_t mask_area(const char *path)
{
    advgnn_image mask = {0};
    size_t area = 0;

    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 0, &mask), ADVGNN_OK);
    for (size_t p = 0; mask.data && p < (size_t)mask.width * mask.height; p++)
        area += ((uint8_t *)mask.data)[p * (size_t)mask.channels] != 0;
    advgnn_image_release(&mask);
    return area;
}

/* Counts the nonzero pixels of an 8-bit image's first channel. */
static size_t nonzero(const advgnn_image *img)
{
    size_t count = 0;

    for (size_t p = 0; img->data && p < (size_t)img->width * img->height; p++)
        count += ((uint8_t *)img->data)[p * (size_t)img->channels] != 0;
    return count;
}

static void to_info(const advgnn_sample *s, advgnn_sample_info *info)
{
    advgnn_sample_to_info(s, info);
}

/* Opens the dataset again to call load() and load_defect_masks(). */
static void *open_state(const test_option *options, size_t count)
{
    advgnn_options *opts = harness_options(ctx, ds.desc);
    void *state = NULL;
    int rc = ADVGNN_OK;

    for (size_t i = 0; opts && rc == ADVGNN_OK && i < count; i++) {
        advgnn_value value = {.kind = options[i].kind, .string = options[i].string, .strings = options[i].strings,
                              .count = options[i].count, .boolean = options[i].number != 0.0};
        rc = advgnn_options_set(opts, ctx, options[i].name, &value);
    }
    if (opts && rc == ADVGNN_OK)
        rc = ds.fn->open(ctx, opts, &state);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "open failed: %s\n", advgnn_ctx_error(ctx));
    advgnn_options_free(opts);
    return state;
}

static void test_juice_bottle(void)
{
    test_option options[] = {OPT_STRING("root", ROOT)};
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(test_dataset_list(ctx, &ds, options, 1, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 1);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_TRAIN, "good"), 8);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_VALIDATION, "good"), 2);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_TEST, NULL), 4);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_TEST, "logical_anomalies"), 4);
    CHECK_INT_EQ(test_count_masks(store, "juice_bottle", ADVGNN_SPLIT_TEST), 4);

    const advgnn_sample *s = test_find(store, "juice_bottle", ADVGNN_SPLIT_TEST, "test/logical_anomalies/002.png");
    void *state = open_state(options, 1);
    CHECK(s != NULL);
    CHECK(state != NULL);
    if (s && state) {
        advgnn_sample_info info;
        advgnn_image image = {0}, mask = {0};
        advgnn_defect_masks defects;
        size_t area = mask_area(BOTTLE "/ground_truth/logical_anomalies/002/000.png");

        to_info(s, &info);
        CHECK_STR_CONTAINS(s->mask_path, "ground_truth/logical_anomalies/002/000.png");
        CHECK_INT_EQ(ds.fn->load(state, ctx, &info, &image, &mask), ADVGNN_OK);
        CHECK_INT_EQ(image.width, 800);
        CHECK_INT_EQ(image.height, 1600);
        CHECK_INT_EQ(image.channels, 3);
        CHECK_INT_EQ(mask.width, 800);
        CHECK_INT_EQ(mask.channels, 1);
        CHECK(area > 0);
        CHECK_INT_EQ(nonzero(&mask), area);

        /* The sample's masks carry 255, missing_top_label, saturated at 70400 pixels. */
        CHECK_INT_EQ(ds.fn->load_defect_masks(state, ctx, &info, &defects), ADVGNN_OK);
        CHECK_INT_EQ(defects.count, 1);
        CHECK_INT_EQ(defects.width, 800);
        CHECK_INT_EQ(defects.height, 1600);
        if (defects.count == 1)
            CHECK_NEAR(defects.saturation[0], area < 70400 ? (double)area : 70400.0, 0.0);
        size_t marked = 0;
        for (size_t p = 0; defects.masks && p < 800 * 1600; p++)
            marked += defects.masks[p];
        CHECK_INT_EQ(marked, area);

        /* The masks feed sPRO: a map that scores exactly the defect pixels
         * high reaches sPRO 1 at FPR 0, so the area is 1 at every limit. */
        float *map = calloc(800 * 1600, sizeof(float));
        for (size_t p = 0; map && defects.masks && p < 800 * 1600; p++)
            map[p] = defects.masks[p];
        advgnn_spro_image spro_image = {.map = map, .height = 1600, .width = 800, .defects = defects.masks,
                                        .saturation = defects.saturation, .defect_count = defects.count};
        double limits[2] = {0.05, 1.0}, auc[2] = {0.0, 0.0};
        CHECK_INT_EQ(advgnn_metric_spro(ctx, &spro_image, 1, limits, 2, auc), ADVGNN_OK);
        CHECK_NEAR(auc[0], 1.0, 1e-12);
        CHECK_NEAR(auc[1], 1.0, 1e-12);
        free(map);
        advgnn_defect_masks_release(&defects);
        advgnn_image_release(&image);
        advgnn_image_release(&mask);
    }
    if (state)
        ds.fn->close(state);
    advgnn_sample_store_free(store);
}

/* Writes a copy of a real mask whose defect pixels carry `value`. */
static void write_mask_with_value(const char *dir, const char *rel, int value)
{
    advgnn_image mask = {0};
    char path[1024];

    CHECK_INT_EQ(advgnn_image_load_file(ctx, BOTTLE "/ground_truth/logical_anomalies/001/000.png", 0, &mask),
                 ADVGNN_OK);
    for (size_t p = 0; mask.data && p < (size_t)mask.width * mask.height * mask.channels; p++)
        ((uint8_t *)mask.data)[p] = ((uint8_t *)mask.data)[p] ? (uint8_t)value : 0;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    builder_mkdirs(path);
    CHECK_INT_EQ(advgnn_image_save_png(ctx, path, &mask), ADVGNN_OK);
    advgnn_image_release(&mask);
}

/* A structural anomaly with two masks: 255 (an absolute threshold of 70400
 * pixels) and 252 (damaged_label, relative 1.0 of its area). */
static void test_two_masks(const char *dir)
{
    test_option options[] = {OPT_STRING("root", dir)};
    advgnn_sample_store *store = NULL;

    builder_copy(BOTTLE "/train/good/000.png", dir, "juice_bottle/train/good/000.png");
    builder_copy(BOTTLE "/train/good/001.png", dir, "juice_bottle/test/good/000.png");
    builder_copy(BOTTLE "/test/logical_anomalies/000.png", dir, "juice_bottle/test/structural_anomalies/000.png");
    builder_copy(BOTTLE "/ground_truth/logical_anomalies/000/000.png", dir,
                 "juice_bottle/ground_truth/structural_anomalies/000/000.png");
    write_mask_with_value(dir, "juice_bottle/ground_truth/structural_anomalies/000/001.png", 252);
    builder_copy(BOTTLE "/defects_config.json", dir, "juice_bottle/defects_config.json");

    CHECK_INT_EQ(test_dataset_list(ctx, &ds, options, 1, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_TRAIN, "good"), 1);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_VALIDATION, NULL), 0);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_TEST, "good"), 1);
    CHECK_INT_EQ(test_count(store, "juice_bottle", ADVGNN_SPLIT_TEST, "structural_anomalies"), 1);

    const advgnn_sample *s = test_find(store, "juice_bottle", ADVGNN_SPLIT_TEST, "test/structural_anomalies/000.png");
    const advgnn_sample *good = test_find(store, "juice_bottle", ADVGNN_SPLIT_TEST, "test/good/000.png");
    void *state = open_state(options, 1);
    if (s && good && state) {
        advgnn_sample_info info;
        advgnn_image image = {0}, mask = {0};
        advgnn_defect_masks defects;
        size_t first = mask_area(BOTTLE "/ground_truth/logical_anomalies/000/000.png");
        size_t second = mask_area(BOTTLE "/ground_truth/logical_anomalies/001/000.png");

        to_info(s, &info);
        CHECK_INT_EQ(ds.fn->load(state, ctx, &info, &image, &mask), ADVGNN_OK);
        CHECK(nonzero(&mask) >= (first > second ? first : second));
        CHECK(nonzero(&mask) <= first + second);

        CHECK_INT_EQ(ds.fn->load_defect_masks(state, ctx, &info, &defects), ADVGNN_OK);
        CHECK_INT_EQ(defects.count, 2);
        if (defects.count == 2) {
            CHECK_NEAR(defects.saturation[0], first < 70400 ? (double)first : 70400.0, 0.0);
            CHECK_NEAR(defects.saturation[1], (double)second, 0.0);
        }
        advgnn_defect_masks_release(&defects);
        advgnn_image_release(&image);
        advgnn_image_release(&mask);

        /* A normal sample has no defect masks and no mask. */
        to_info(good, &info);
        CHECK_INT_EQ(ds.fn->load_defect_masks(state, ctx, &info, &defects), ADVGNN_OK);
        CHECK_INT_EQ(defects.count, 0);
        CHECK_INT_EQ(ds.fn->load(state, ctx, &info, &image, &mask), ADVGNN_OK);
        CHECK(mask.data == NULL);
        advgnn_image_release(&image);
    }
    if (state)
        ds.fn->close(state);
    advgnn_sample_store_free(store);
}

static void test_bad_layouts(const char *dir)
{
    test_option options[] = {OPT_STRING("root", dir)};
    char path[1024];

    /* A mask with a pixel value that defects_config.json does not list. */
    write_mask_with_value(dir, "juice_bottle/ground_truth/structural_anomalies/000/001.png", 7);
    void *state = open_state(options, 1);
    advgnn_sample_info info = {.category = "juice_bottle", .split = ADVGNN_SPLIT_TEST, .anomalous = 1,
                               .defect_type = "structural_anomalies", .name = "test/structural_anomalies/000.png"};
    advgnn_defect_masks defects;
    CHECK(state != NULL);
    if (state) {
        CHECK_INT_EQ(ds.fn->load_defect_masks(state, ctx, &info, &defects), ADVGNN_ERR_FORMAT);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "has pixel value 7, which defects_config.json does not list");
        advgnn_ctx_clear_error(ctx);
        ds.fn->close(state);
    }

    /* A wrong type in defects_config.json. */
    builder_write_text(dir, "juice_bottle/defects_config.json",
                       "[{\"defect_name\": \"a\", \"pixel_value\": 255, \"saturation_threshold\": 10, "
                       "\"relative_saturation\": false},\n {\"defect_name\": \"b\", \"pixel_value\": 254, "
                       "\"saturation_threshold\": \"32700\", \"relative_saturation\": false}]");
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_FORMAT,
                        "juice_bottle/defects_config.json': entry 1: field 'saturation_threshold' is missing or "
                        "not a number > 0");
    builder_write_text(dir, "juice_bottle/defects_config.json",
                       "[{\"defect_name\": \"a\", \"pixel_value\": 255, \"saturation_threshold\": 10, "
                       "\"relative_saturation\": \"no\"}]");
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_FORMAT, "entry 0: field 'relative_saturation'");

    /* Trailing garbage after the list, and a file cut short, fail naming
     * where the parser stopped. */
    builder_write_text(dir, "juice_bottle/defects_config.json",
                       "[{\"defect_name\": \"a\", \"pixel_value\": 255, \"saturation_threshold\": 10, "
                       "\"relative_saturation\": false}]\n}{");
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_FORMAT,
                        "defects_config.json' is not valid JSON: error at line 2, column 1");
    builder_write_text(dir, "juice_bottle/defects_config.json", "[{\"defect_name\": \"a\",\n \"pixel_");
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_FORMAT,
                        "defects_config.json' is not valid JSON: error at line 2");
    builder_copy(BOTTLE "/defects_config.json", dir, "juice_bottle/defects_config.json");

    /* A defect image whose mask folder is missing. */
    builder_copy(BOTTLE "/test/logical_anomalies/001.png", dir, "juice_bottle/test/structural_anomalies/001.png");
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_NOT_FOUND,
                        "test/structural_anomalies/001.png' has no masks in '");
    test_option lenient[] = {OPT_STRING("root", dir), OPT_BOOL("require_masks", 0)};
    advgnn_sample_store *store = NULL;
    CHECK_INT_EQ(test_dataset_list(ctx, &ds, lenient, 2, &store), ADVGNN_OK);
    CHECK_INT_EQ(store ? test_count_masks(store, "juice_bottle", ADVGNN_SPLIT_TEST) : 0, 1);
    advgnn_sample_store_free(store);

    /* No train/good. */
    snprintf(path, sizeof(path), "%s/juice_bottle/train/good/000.png", dir);
    CHECK(remove(path) == 0);
    snprintf(path, sizeof(path), "%s/juice_bottle/train/good", dir);
    CHECK(rmdir(path) == 0);
    test_expect_failure(ctx, &ds, lenient, 2, ADVGNN_ERR_NOT_FOUND, "juice_bottle/train/good' (images) not found");
}

int main(void)
{
    char dir[] = "/tmp/advgnn_mvtec_loco_XXXXXX";

    if (!test_have_shared_data()) {
        fprintf(stderr, "skipped: no shared data at %s\n", ADVGNN_SHARED_DATA);
        return 77;
    }
    ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    if (!test_dataset_load(&ds, "mvtec_loco") || !mkdtemp(dir))
        return 1;

    test_juice_bottle();
    test_two_masks(dir);
    test_bad_layouts(dir);
    builder_remove(dir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
