/* The mvtec_ad plugin on the real MVTec AD files in the shared data: bottle
 * (no masks published there) and metal_nut (one defect image with its mask,
 * no train/good), plus a layout built here that lacks a mask. */
#include <stdio.h>
#include <unistd.h>

#include "dataset_harness.h"
#include "layout_builder.h"

#define ROOT ADVGNN_SHARED_DATA "/mvtec_ad"

static advgnn_ctx *ctx;
static test_dataset ds;

static void test_bottle_counts(void)
{
    static const char *const bottle[] = {"bottle"};
    test_option options[] = {OPT_STRING("root", ROOT), OPT_STRINGS("category", bottle, 1),
                             OPT_BOOL("require_masks", 0)};
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(test_dataset_list(ctx, &ds, options, 3, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 1);
    CHECK_INT_EQ(test_count(store, "bottle", ADVGNN_SPLIT_TRAIN, "good"), 20);
    CHECK_INT_EQ(test_count(store, "bottle", ADVGNN_SPLIT_VALIDATION, NULL), 0);
    CHECK_INT_EQ(test_count(store, "bottle", ADVGNN_SPLIT_TEST, "good"), 4);
    CHECK_INT_EQ(test_count(store, "bottle", ADVGNN_SPLIT_TEST, "broken_large"), 2);
    CHECK_INT_EQ(test_count(store, "bottle", ADVGNN_SPLIT_TEST, "broken_small"), 2);
    CHECK_INT_EQ(test_count(store, "bottle", ADVGNN_SPLIT_TEST, "contamination"), 2);
    CHECK_INT_EQ(test_count_masks(store, "bottle", ADVGNN_SPLIT_TEST), 0);

    const advgnn_sample *s = test_find(store, "bottle", ADVGNN_SPLIT_TEST, "test/broken_large/001.png");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT_EQ(s->anomalous, 1);
        CHECK_STR_CONTAINS(s->image_path, "/mvtec_ad/bottle/test/broken_large/001.png");
        CHECK(access(s->image_path, R_OK) == 0);
    }
    advgnn_sample_store_free(store);
}

/* Without require_masks = false, the first bottle defect image fails. */
static void test_bottle_requires_masks(void)
{
    static const char *const bottle[] = {"bottle"};
    test_option options[] = {OPT_STRING("root", ROOT), OPT_STRINGS("category", bottle, 1)};

    test_expect_failure(ctx, &ds, options, 2, ADVGNN_ERR_NOT_FOUND,
                        "bottle/test/broken_large/000.png' has no mask '");
    test_expect_failure(ctx, &ds, options, 2, ADVGNN_ERR_NOT_FOUND,
                        "bottle/ground_truth/broken_large/000_mask.png");
}

/* metal_nut here has one test image and no train folder. */
static void test_metal_nut_without_train(void)
{
    static const char *const metal_nut[] = {"metal_nut"};
    static const char *const unknown[] = {"carpet"};
    test_option options[] = {OPT_STRING("root", ROOT), OPT_STRINGS("category", metal_nut, 1)};
    test_option all[] = {OPT_STRING("root", ROOT), OPT_BOOL("require_masks", 0)};
    test_option missing[] = {OPT_STRING("root", ROOT), OPT_STRINGS("category", unknown, 1)};

    test_expect_failure(ctx, &ds, options, 2, ADVGNN_ERR_NOT_FOUND, "metal_nut/train/good' (the training images)");
    test_expect_failure(ctx, &ds, all, 2, ADVGNN_ERR_NOT_FOUND, "category metal_nut");
    test_expect_failure(ctx, &ds, missing, 2, ADVGNN_ERR_NOT_FOUND,
                        "category 'carpet' not found; the dataset has: bottle, metal_nut");
}

/* The metal_nut defect image with its real mask, in a layout with a train
 * folder built from it; a second defect image lacks its mask. */
static void test_built_layout(void)
{
    char dir[] = "/tmp/advgnn_mvtec_ad_XXXXXX";
    test_option options[] = {OPT_STRING("root", dir), OPT_NUMBER("validation_ratio", 0.5), OPT_INT("seed", 3)};
    advgnn_sample_store *store = NULL;

    CHECK(mkdtemp(dir) != NULL);
    builder_copy(ROOT "/metal_nut/test/color/000.png", dir, "metal_nut/train/good/000.png");
    builder_copy(ROOT "/metal_nut/test/color/000.png", dir, "metal_nut/train/good/001.png");
    builder_copy(ROOT "/metal_nut/test/color/000.png", dir, "metal_nut/test/color/000.png");
    builder_copy(ROOT "/metal_nut/ground_truth/color/000_mask.png", dir,
                 "metal_nut/ground_truth/color/000_mask.png");

    CHECK_INT_EQ(test_dataset_list(ctx, &ds, options, 3, &store), ADVGNN_OK);
    if (store) {
        CHECK_INT_EQ(test_count(store, "metal_nut", ADVGNN_SPLIT_TRAIN, "good"), 1);
        CHECK_INT_EQ(test_count(store, "metal_nut", ADVGNN_SPLIT_VALIDATION, "good"), 1);
        CHECK_INT_EQ(test_count(store, "metal_nut", ADVGNN_SPLIT_TEST, "color"), 1);
        CHECK_INT_EQ(test_count_masks(store, "metal_nut", ADVGNN_SPLIT_TEST), 1);
        const advgnn_sample *s = test_find(store, "metal_nut", ADVGNN_SPLIT_TEST, "test/color/000.png");
        CHECK(s != NULL);
    CHECK_STR_CONTAINS(s ? s->mask_path : NULL, "ground_truth/color/000_mask.png");
    }
    advgnn_sample_store_free(store);

    /* The root may also be the category folder itself. */
    char category_root[512];
    snprintf(category_root, sizeof(category_root), "%s/metal_nut", dir);
    test_option single[] = {OPT_STRING("root", category_root)};
    CHECK_INT_EQ(test_dataset_list(ctx, &ds, single, 1, &store), ADVGNN_OK);
    if (store)
        CHECK_INT_EQ(test_count(store, "metal_nut", ADVGNN_SPLIT_TRAIN, "good"), 2);
    advgnn_sample_store_free(store);

    builder_copy(ROOT "/metal_nut/test/color/000.png", dir, "metal_nut/test/color/001.png");
    test_expect_failure(ctx, &ds, options, 3, ADVGNN_ERR_NOT_FOUND, "metal_nut/test/color/001.png' has no mask");
    builder_remove(dir);
}

int main(void)
{
    if (!test_have_shared_data()) {
        fprintf(stderr, "skipped: no shared data at %s\n", ADVGNN_SHARED_DATA);
        return 77;
    }
    ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    if (!test_dataset_load(&ds, "mvtec_ad"))
        return 1;

    test_bottle_counts();
    test_bottle_requires_masks();
    test_metal_nut_without_train();
    test_built_layout();
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
