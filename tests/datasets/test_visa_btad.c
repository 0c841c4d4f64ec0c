/* The visa and btad plugins on layouts built here, in each dataset's
 * published layout, from real images of the shared data (JPEG and PNG for
 * VisA, BMP and PNG for BTAD). Bad inputs: a split file missing a column, a
 * missing mask file and a defect image without a mask. */
#include <stdio.h>
#include <unistd.h>

#include "dataset_harness.h"
#include "layout_builder.h"

#define TILE_JPG ADVGNN_SHARED_DATA "/magnetic_tile/MT_Crack/Imgs/exp1_num_249594.jpg"
#define TILE_MASK ADVGNN_SHARED_DATA "/magnetic_tile/MT_Crack/Imgs/exp1_num_249594.png"
#define KOLEKTOR_BMP ADVGNN_SHARED_DATA "/kolektorsdd/kos01/Part0_label.bmp"
#define NUT_PNG ADVGNN_SHARED_DATA "/mvtec_ad/metal_nut/test/color/000.png"
#define NUT_MASK ADVGNN_SHARED_DATA "/mvtec_ad/metal_nut/ground_truth/color/000_mask.png"

static advgnn_ctx *ctx;
static test_dataset visa, btad;

static const char visa_csv[] =
    "object,split,label,image,mask\n"
    "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n"
    "candle,train,normal,candle/Data/Images/Normal/0001.JPG,\n"
    "candle,train,normal,candle/Data/Images/Normal/0002.JPG,\n"
    "candle,train,normal,candle/Data/Images/Normal/0003.JPG,\n"
    "candle,test,normal,candle/Data/Images/Normal/0004.JPG,\n"
    "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n"
    "pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,\r\n"
    "pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.JPG,pcb1/Data/Masks/Anomaly/000.png\r\n";

static void build_visa(const char *dir)
{
    static const char *const images[] = {
        "candle/Data/Images/Normal/0000.JPG", "candle/Data/Images/Normal/0001.JPG",
        "candle/Data/Images/Normal/0002.JPG", "candle/Data/Images/Normal/0003.JPG",
        "candle/Data/Images/Normal/0004.JPG", "candle/Data/Images/Anomaly/000.JPG",
        "pcb1/Data/Images/Normal/0000.JPG",   "pcb1/Data/Images/Anomaly/000.JPG"};

    for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++)
        builder_copy(TILE_JPG, dir, images[i]);
    builder_copy(TILE_MASK, dir, "candle/Data/Masks/Anomaly/000.png");
    builder_copy(TILE_MASK, dir, "pcb1/Data/Masks/Anomaly/000.png");
    builder_write_text(dir, "split_csv/1cls.csv", visa_csv);
}

static void test_visa(const char *dir)
{
    static const char *const pcb1[] = {"pcb1"};
    test_option options[] = {OPT_STRING("root", dir), OPT_NUMBER("validation_ratio", 0.25)};
    test_option only_pcb1[] = {OPT_STRING("root", dir), OPT_STRINGS("category", pcb1, 1)};
    advgnn_sample_store *store = NULL;

    build_visa(dir);
    CHECK_INT_EQ(test_dataset_list(ctx, &visa, options, 2, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 2);
    CHECK_INT_EQ(test_count(store, "candle", ADVGNN_SPLIT_TRAIN, "good"), 3);
    CHECK_INT_EQ(test_count(store, "candle", ADVGNN_SPLIT_VALIDATION, "good"), 1);
    CHECK_INT_EQ(test_count(store, "candle", ADVGNN_SPLIT_TEST, "good"), 1);
    CHECK_INT_EQ(test_count(store, "candle", ADVGNN_SPLIT_TEST, "anomaly"), 1);
    CHECK_INT_EQ(test_count(store, "pcb1", ADVGNN_SPLIT_TRAIN, "good"), 1);
    CHECK_INT_EQ(test_count(store, "pcb1", ADVGNN_SPLIT_TEST, "anomaly"), 1);

    const advgnn_sample *s = test_find(store, "pcb1", ADVGNN_SPLIT_TEST, "pcb1/Data/Images/Anomaly/000.JPG");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT_EQ(s->mask_threshold, 0);
        CHECK_STR_CONTAINS(s->mask_path, "pcb1/Data/Masks/Anomaly/000.png");
        CHECK(access(s->mask_path, R_OK) == 0);
    }
    advgnn_sample_store_free(store);

    CHECK_INT_EQ(test_dataset_list(ctx, &visa, only_pcb1, 2, &store), ADVGNN_OK);
    CHECK_INT_EQ(store ? advgnn_sample_store_category_count(store) : 0, 1);
    advgnn_sample_store_free(store);
}

static void test_visa_bad_inputs(const char *dir)
{
    test_option options[] = {OPT_STRING("root", dir)};
    char path[1024];

    builder_write_text(dir, "split_csv/1cls.csv", "object,split,image,mask\ncandle,train,a.JPG,\n");
    test_expect_failure(ctx, &visa, options, 1, ADVGNN_ERR_FORMAT,
                        "split_csv/1cls.csv' has no column 'label'");

    builder_write_text(dir, "split_csv/1cls.csv", visa_csv);
    snprintf(path, sizeof(path), "%s/candle/Data/Masks/Anomaly/000.png", dir);
    CHECK(remove(path) == 0);
    test_expect_failure(ctx, &visa, options, 1, ADVGNN_ERR_NOT_FOUND,
                        "1cls.csv' line 7: mask '");

    /* A blank line still counts, so the message cites the file's line. */
    char with_blank[sizeof(visa_csv) + 1];
    const char *header_end = strchr(visa_csv, '\n') + 1;
    snprintf(with_blank, sizeof(with_blank), "%.*s\n%s", (int)(header_end - visa_csv), visa_csv, header_end);
    builder_write_text(dir, "split_csv/1cls.csv", with_blank);
    test_expect_failure(ctx, &visa, options, 1, ADVGNN_ERR_NOT_FOUND,
                        "1cls.csv' line 8: mask '");
}

/* Product 01 in BMP with a BMP mask, product 02 in PNG with a PNG mask. */
static void test_btad(const char *dir)
{
    test_option options[] = {OPT_STRING("root", dir), OPT_NUMBER("validation_ratio", 0.5), OPT_INT("seed", 4)};
    advgnn_sample_store *store = NULL;

    builder_copy(KOLEKTOR_BMP, dir, "BTech_Dataset_transformed/01/train/ok/0000.bmp");
    builder_copy(KOLEKTOR_BMP, dir, "BTech_Dataset_transformed/01/train/ok/0001.bmp");
    builder_copy(KOLEKTOR_BMP, dir, "BTech_Dataset_transformed/01/test/ok/0000.bmp");
    builder_copy(KOLEKTOR_BMP, dir, "BTech_Dataset_transformed/01/test/ko/0000.bmp");
    builder_copy(KOLEKTOR_BMP, dir, "BTech_Dataset_transformed/01/ground_truth/ko/0000.bmp");
    builder_copy(NUT_PNG, dir, "BTech_Dataset_transformed/02/train/ok/0000.png");
    builder_copy(NUT_PNG, dir, "BTech_Dataset_transformed/02/train/ok/0001.png");
    builder_copy(NUT_PNG, dir, "BTech_Dataset_transformed/02/test/ko/0000.png");
    builder_copy(NUT_PNG, dir, "BTech_Dataset_transformed/02/test/ko/0001.png");
    builder_copy(NUT_MASK, dir, "BTech_Dataset_transformed/02/ground_truth/ko/0000.png");
    builder_copy(NUT_MASK, dir, "BTech_Dataset_transformed/02/ground_truth/ko/0001.png");
    builder_mkdirs_of(dir, "BTech_Dataset_transformed/02/test/ok/");

    CHECK_INT_EQ(test_dataset_list(ctx, &btad, options, 3, &store), ADVGNN_OK);
    if (!store) {
        fprintf(stderr, "%s\n", advgnn_ctx_error(ctx));
        return;
    }
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 2);
    CHECK_INT_EQ(test_count(store, "01", ADVGNN_SPLIT_TRAIN, "good"), 1);
    CHECK_INT_EQ(test_count(store, "01", ADVGNN_SPLIT_VALIDATION, "good"), 1);
    CHECK_INT_EQ(test_count(store, "01", ADVGNN_SPLIT_TEST, "good"), 1);
    CHECK_INT_EQ(test_count(store, "01", ADVGNN_SPLIT_TEST, "ko"), 1);
    CHECK_INT_EQ(test_count(store, "02", ADVGNN_SPLIT_TEST, "ko"), 2);
    CHECK_INT_EQ(test_count_masks(store, "02", ADVGNN_SPLIT_TEST), 2);
    const advgnn_sample *s = test_find(store, "01", ADVGNN_SPLIT_TEST, "test/ko/0000.bmp");
    CHECK(s != NULL);
    CHECK_STR_CONTAINS(s ? s->mask_path : NULL, "01/ground_truth/ko/0000.bmp");
    advgnn_sample_store_free(store);

    char path[1024];
    snprintf(path, sizeof(path), "%s/BTech_Dataset_transformed/02/ground_truth/ko/0001.png", dir);
    CHECK(remove(path) == 0);
    test_expect_failure(ctx, &btad, options, 3, ADVGNN_ERR_NOT_FOUND, "02/test/ko/0001.png' has no mask");
    snprintf(path, sizeof(path), "%s/BTech_Dataset_transformed/02/train/ok", dir);
    builder_remove(path);
    test_expect_failure(ctx, &btad, options, 3, ADVGNN_ERR_NOT_FOUND, "02/train/ok' (images) not found");
}

int main(void)
{
    char visa_dir[] = "/tmp/advgnn_visa_XXXXXX";
    char btad_dir[] = "/tmp/advgnn_btad_XXXXXX";

    if (!test_have_shared_data()) {
        fprintf(stderr, "skipped: no shared data at %s\n", ADVGNN_SHARED_DATA);
        return 77;
    }
    ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    if (!test_dataset_load(&visa, "visa") || !test_dataset_load(&btad, "btad") || !mkdtemp(visa_dir) ||
        !mkdtemp(btad_dir))
        return 1;

    test_visa(visa_dir);
    test_visa_bad_inputs(visa_dir);
    test_btad(btad_dir);
    builder_remove(visa_dir);
    builder_remove(btad_dir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
