/* Decoding a split on several threads: the preprocessed images, labels,
 * masks and mask flags are byte-identical to one thread, and with two
 * broken files the error names the first of them in sample order, as on
 * one thread. The files are PNGs written at test time. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "data/category_data.h"
#include "data/sample_store.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define SIZE 40    /* pixels of the written images */
#define SAMPLES 13 /* test samples: normal, defective with mask, defective without */

/* Adds the test samples of category "tiles": every third one defective, and
 * of those every second one with a mask. Samples listed in `broken` get a
 * file that is not an image. */
static void write_samples(advgnn_ctx *ctx, const char *root, advgnn_sample_store *store, const int *broken,
                          size_t broken_count)
{
    char image[4096], mask[4096], name[64];

    for (int i = 0; i < SAMPLES; i++) {
        int anomalous = i % 3 == 1;
        int has_mask = anomalous && i % 2 == 0;
        snprintf(name, sizeof(name), "%03d.png", i);
        snprintf(image, sizeof(image), "%s/%s", root, name);
        snprintf(mask, sizeof(mask), "%s/%03d_mask.png", root, i);
        CHECK_INT_EQ(helper_write_png(ctx, image, SIZE, SIZE + i, 3, i, 2 * i % SIZE, anomalous ? 6 + i : 0),
                     ADVGNN_OK);
        if (has_mask)
            CHECK_INT_EQ(helper_write_mask(ctx, mask, SIZE, SIZE + i, i, 2 * i % SIZE, 6 + i), ADVGNN_OK);
        for (size_t b = 0; b < broken_count; b++) {
            if (broken[b] != i)
                continue;
            FILE *f = fopen(image, "wb");
            CHECK(f != NULL);
            if (f) {
                fputs("not an image", f);
                fclose(f);
            }
        }
        advgnn_sample_info info = {.category = "tiles", .split = ADVGNN_SPLIT_TEST, .anomalous = anomalous,
                                   .defect_type = anomalous ? "spot" : "good", .name = name, .image_path = image,
                                   .mask_path = has_mask ? mask : NULL, .mask_threshold = 127};
        CHECK_INT_EQ(advgnn_sample_sink_add(store, &info), ADVGNN_OK);
    }
    CHECK_INT_EQ(advgnn_sample_store_finish(store, ctx), ADVGNN_OK);
}

static int load(advgnn_ctx *ctx, const advgnn_sample_store *store, int threads, advgnn_split_data *out)
{
    advgnn_sample_loader loader = {.dataset_name = "tiles", .pp = advgnn_run_preprocess(32, 28), .threads = threads};
    const advgnn_sample *samples;
    size_t count;

    advgnn_preprocess_output_size(&loader.pp, 32, 32, &loader.height, &loader.width);
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
    advgnn_ctx_clear_error(ctx);
    return advgnn_split_data_load(ctx, &loader, ADVGNN_SPLIT_TEST, samples, count, out);
}

static void test_threads_match_one_thread(advgnn_ctx *ctx, const char *root)
{
    advgnn_sample_store *store = NULL;
    advgnn_split_data one, many;

    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "tiles", 1, &store), ADVGNN_OK);
    write_samples(ctx, root, store, NULL, 0);
    CHECK_INT_EQ(load(ctx, store, 1, &one), ADVGNN_OK);
    for (int threads = 2; threads <= 3; threads++) {
        CHECK_INT_EQ(load(ctx, store, threads, &many), ADVGNN_OK);
        size_t pixels = (size_t)one.height * (size_t)one.width;
        CHECK_INT_EQ((int)many.count, SAMPLES);
        CHECK_INT_EQ((int)many.missing_masks, (int)one.missing_masks);
        CHECK(memcmp(one.images, many.images, SAMPLES * 3 * pixels * sizeof(float)) == 0);
        CHECK(memcmp(one.labels, many.labels, SAMPLES) == 0);
        CHECK(memcmp(one.masks, many.masks, SAMPLES * pixels) == 0);
        CHECK(memcmp(one.has_mask, many.has_mask, SAMPLES) == 0);
        advgnn_split_data_release(&many);
    }

    /* The fixture has defective samples with and without masks. */
    CHECK_INT_EQ((int)one.missing_masks, 2);
    advgnn_split_data_release(&one);
    advgnn_sample_store_free(store);
}

static void test_first_error_in_sample_order(advgnn_ctx *ctx, const char *root)
{
    static const int broken[] = {11, 4};
    advgnn_sample_store *store = NULL;
    advgnn_split_data data;
    char one_thread[1024];

    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "tiles", 1, &store), ADVGNN_OK);
    write_samples(ctx, root, store, broken, 2);
    CHECK(load(ctx, store, 1, &data) != ADVGNN_OK);
    snprintf(one_thread, sizeof(one_thread), "%s", advgnn_ctx_error(ctx));
    CHECK_STR_CONTAINS(one_thread, "004.png");

    CHECK(load(ctx, store, 2, &data) != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), one_thread);
    CHECK(data.images == NULL);
    advgnn_sample_store_free(store);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    char *root = helper_make_temp_dir("advgnn-split-threads");
    char *second = root ? advgnn_fs_join(root, "broken") : NULL;

    CHECK(ctx != NULL);
    CHECK(second != NULL);
    if (ctx && second && advgnn_fs_mkdir_p(ctx, second) == ADVGNN_OK) {
        test_threads_match_one_thread(ctx, root);
        test_first_error_in_sample_order(ctx, second);
    }

    if (root)
        helper_remove_tree(root);
    advgnn_free(second);
    advgnn_free(root);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
