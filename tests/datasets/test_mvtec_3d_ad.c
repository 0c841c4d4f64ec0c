/* The mvtec_3d_ad plugin on the real tire files of the shared data, and a
 * defect image without its gt mask. */
#include <stdio.h>
#include <unistd.h>

#include "dataset_harness.h"
#include "layout_builder.h"

#define ROOT ADVGNN_SHARED_DATA "/mvtec_3d_ad"
#define TIRE ROOT "/tire"

static advgnn_ctx *ctx;
static test_dataset ds;

static void test_tire_counts(void)
{
    test_option options[] = {OPT_STRING("root", ROOT)};
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(test_dataset_list(ctx, &ds, options, 1, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 1);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_TRAIN, "good"), 10);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_VALIDATION, "good"), 3);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_TEST, "good"), 3);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_TEST, "cut"), 2);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_TEST, "hole"), 2);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_TEST, "contamination"), 2);
    CHECK_INT_EQ(test_count(store, "tire", ADVGNN_SPLIT_TEST, "combined"), 2);
    CHECK_INT_EQ(test_count_masks(store, "tire", ADVGNN_SPLIT_TEST), 8);

    const advgnn_sample *s = test_find(store, "tire", ADVGNN_SPLIT_TEST, "test/hole/001.png");
    CHECK(s != NULL);
    CHECK_STR_CONTAINS(s ? s->mask_path : NULL, "/tire/test/hole/gt/001.png");
    if (s)
        CHECK(access(s->image_path, R_OK) == 0);
    advgnn_sample_store_free(store);
}

static void test_missing_gt(void)
{
    char dir[] = "/tmp/advgnn_mvtec_3d_ad_XXXXXX";
    test_option options[] = {OPT_STRING("root", dir)};

    CHECK(mkdtemp(dir) != NULL);
    builder_copy(TIRE "/train/good/rgb/000.png", dir, "tire/train/good/rgb/000.png");
    builder_copy(TIRE "/test/cut/rgb/000.png", dir, "tire/test/cut/rgb/000.png");
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_NOT_FOUND, "tire/test/cut/rgb/000.png' has no mask '");

    char path[1024];
    snprintf(path, sizeof(path), "%s/tire/train/good/rgb/000.png", dir);
    CHECK(remove(path) == 0);
    snprintf(path, sizeof(path), "%s/tire/train/good/rgb", dir);
    CHECK(rmdir(path) == 0);
    test_expect_failure(ctx, &ds, options, 1, ADVGNN_ERR_NOT_FOUND, "tire/train/good/rgb' (RGB images) not found");
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
    if (!test_dataset_load(&ds, "mvtec_3d_ad"))
        return 1;

    test_tire_counts();
    test_missing_gt();
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
