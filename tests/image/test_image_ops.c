/* Channel conversion, cropping, nearest and area resizing, preprocessing into
 * tensors, mask binarization, map resize and smoothing invariants, and heatmap
 * overlays, on small images whose results can be worked out by hand. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "image/overlay.h"

static uint8_t *pixels(const advgnn_image *img)
{
    return (uint8_t *)img->data;
}

static void test_convert_channels(advgnn_ctx *ctx)
{
    advgnn_image rgba, gray, rgb, back;

    CHECK_INT_EQ(advgnn_image_alloc(ctx, &rgba, 3, 1, 4, ADVGNN_PIXEL_U8), ADVGNN_OK);
    static const uint8_t src[12] = {255, 0, 0, 9, 0, 255, 0, 9, 10, 20, 30, 9};
    memcpy(rgba.data, src, sizeof(src));

    /* Rec. 601: 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.299*10 + 0.587*20 + 0.114*30 = 18.1 */
    CHECK_INT_EQ(advgnn_image_convert_channels(ctx, &rgba, 1, &gray), ADVGNN_OK);
    CHECK_INT_EQ(gray.channels, 1);
    CHECK_INT_EQ(pixels(&gray)[0], 76);
    CHECK_INT_EQ(pixels(&gray)[1], 150);
    CHECK_INT_EQ(pixels(&gray)[2], 18);

    CHECK_INT_EQ(advgnn_image_convert_channels(ctx, &rgba, 3, &rgb), ADVGNN_OK);
    CHECK(memcmp(pixels(&rgb), (const uint8_t[]){255, 0, 0, 0, 255, 0, 10, 20, 30}, 9) == 0);

    CHECK_INT_EQ(advgnn_image_convert_channels(ctx, &gray, 3, &back), ADVGNN_OK);
    CHECK(memcmp(pixels(&back), (const uint8_t[]){76, 76, 76, 150, 150, 150, 18, 18, 18}, 9) == 0);

    CHECK_INT_EQ(advgnn_image_convert_channels(ctx, &rgba, 2, &back), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "expected 1 or 3");
    advgnn_ctx_clear_error(ctx);
    advgnn_image_release(&rgba);
    advgnn_image_release(&gray);
    advgnn_image_release(&rgb);
    advgnn_image_release(&back);
}

static void test_crop_center(advgnn_ctx *ctx)
{
    advgnn_image img, crop;

    /* 5 x 4 gray, value = 10 * y + x; a 3 x 2 crop starts at (1, 1). */
    CHECK_INT_EQ(advgnn_image_alloc(ctx, &img, 5, 4, 1, ADVGNN_PIXEL_U8), ADVGNN_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 5; x++)
            pixels(&img)[y * 5 + x] = (uint8_t)(10 * y + x);
    CHECK_INT_EQ(advgnn_image_crop_center(ctx, &img, 3, 2, &crop), ADVGNN_OK);
    CHECK(memcmp(pixels(&crop), (const uint8_t[]){11, 12, 13, 21, 22, 23}, 6) == 0);
    advgnn_image_release(&crop);

    /* Odd margins round down: a 4 x 3 crop of 5 x 4 starts at (0, 0). */
    CHECK_INT_EQ(advgnn_image_crop_center(ctx, &img, 4, 3, &crop), ADVGNN_OK);
    CHECK_INT_EQ(pixels(&crop)[0], 0);
    CHECK_INT_EQ(pixels(&crop)[11], 23);
    advgnn_image_release(&crop);

    CHECK_INT_EQ(advgnn_image_crop_center(ctx, &img, 6, 2, &crop), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "does not fit");
    advgnn_ctx_clear_error(ctx);
    advgnn_image_release(&img);
}

static void test_resize_nearest_and_area(advgnn_ctx *ctx)
{
    advgnn_image img, out;

    /* 4 x 4 -> 2 x 2 nearest samples source centres (1, 1), (3, 1), (1, 3), (3, 3). */
    CHECK_INT_EQ(advgnn_image_alloc(ctx, &img, 4, 4, 1, ADVGNN_PIXEL_U8), ADVGNN_OK);
    for (int i = 0; i < 16; i++)
        pixels(&img)[i] = (uint8_t)i;
    CHECK_INT_EQ(advgnn_image_resize(ctx, &img, 2, 2, ADVGNN_RESIZE_NEAREST, &out), ADVGNN_OK);
    CHECK(memcmp(pixels(&out), (const uint8_t[]){5, 7, 13, 15}, 4) == 0);
    advgnn_image_release(&out);

    /* Area 4 x 4 -> 2 x 2 averages 2 x 2 blocks: (0+1+4+5)/4 = 2.5 -> 3. */
    CHECK_INT_EQ(advgnn_image_resize(ctx, &img, 2, 2, ADVGNN_RESIZE_AREA, &out), ADVGNN_OK);
    CHECK(memcmp(pixels(&out), (const uint8_t[]){3, 5, 11, 13}, 4) == 0);
    advgnn_image_release(&out);

    /* Enlarging with nearest copies values: 4 -> 8 duplicates each pixel. */
    CHECK_INT_EQ(advgnn_image_resize(ctx, &img, 8, 8, ADVGNN_RESIZE_NEAREST, &out), ADVGNN_OK);
    CHECK_INT_EQ(pixels(&out)[0], 0);
    CHECK_INT_EQ(pixels(&out)[1], 0);
    CHECK_INT_EQ(pixels(&out)[2], 1);
    CHECK_INT_EQ(pixels(&out)[8 * 8 - 1], 15);
    advgnn_image_release(&out);

    CHECK_INT_EQ(advgnn_image_resize(ctx, &img, 0, 2, ADVGNN_RESIZE_NEAREST, &out), ADVGNN_ERR_INVALID_ARG);
    CHECK_INT_EQ(advgnn_image_resize(ctx, &img, 2, 2, ADVGNN_RESIZE_INVALID, &out), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    advgnn_image_release(&img);
}

static void test_preprocess_to_tensor(advgnn_ctx *ctx)
{
    advgnn_preprocess pp = advgnn_preprocess_default(8);
    advgnn_image img;
    float out[3 * 8 * 8];
    int h, w;

    CHECK_INT_EQ(pp.resize_height, 8);
    CHECK_INT_EQ(pp.channels, 3);
    CHECK_NEAR(pp.mean[1], 0.456, 1e-7);
    CHECK_NEAR(pp.std[2], 0.225, 1e-7);
    advgnn_preprocess_output_size(&pp, 100, 50, &h, &w);
    CHECK_INT_EQ(h, 8);
    CHECK_INT_EQ(w, 8);
    pp.crop_height = 6;
    pp.crop_width = 4;
    advgnn_preprocess_output_size(&pp, 100, 50, &h, &w);
    CHECK_INT_EQ(h, 6);
    CHECK_INT_EQ(w, 4);
    pp.crop_height = pp.crop_width = 0;

    /* A uniform RGB image stays uniform through the resize; each plane contains
     * (x / 255 - mean) / std of its channel. */
    CHECK_INT_EQ(advgnn_image_alloc(ctx, &img, 13, 11, 3, ADVGNN_PIXEL_U8), ADVGNN_OK);
    for (int i = 0; i < 13 * 11; i++) {
        pixels(&img)[3 * i] = 255;
        pixels(&img)[3 * i + 1] = 0;
        pixels(&img)[3 * i + 2] = 128;
    }
    CHECK_INT_EQ(advgnn_image_to_tensor(ctx, &img, &pp, out), ADVGNN_OK);
    CHECK_NEAR(out[0], (1.0 - 0.485) / 0.229, 1e-5);
    CHECK_NEAR(out[63], (1.0 - 0.485) / 0.229, 1e-5);
    CHECK_NEAR(out[64], (0.0 - 0.456) / 0.224, 1e-5);
    CHECK_NEAR(out[128 + 17], (128.0 / 255.0 - 0.406) / 0.225, 1e-5);

    /* Gray input for a 3-channel model is replicated; a 1-channel model of
     * an RGB image reads luma. */
    pp.channels = 1;
    pp.mean[0] = 0.5f;
    pp.std[0] = 0.25f;
    CHECK_INT_EQ(advgnn_image_to_tensor(ctx, &img, &pp, out), ADVGNN_OK);
    double luma = (0.299 * 255 + 0.114 * 128) / 255.0;
    CHECK_NEAR(out[5], (round(luma * 255.0) / 255.0 - 0.5) / 0.25, 1e-5);

    /* A crop larger than the resized image is an error naming both sizes. */
    pp.crop_height = pp.crop_width = 9;
    CHECK_INT_EQ(advgnn_image_to_tensor(ctx, &img, &pp, out), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "center crop of 9 x 9 is larger than the 8 x 8 image");
    advgnn_ctx_clear_error(ctx);
    advgnn_image_release(&img);
}

static void test_mask_to_binary(advgnn_ctx *ctx)
{
    advgnn_preprocess pp = advgnn_preprocess_default(4);
    advgnn_image mask;
    uint8_t out[16];

    /* 8 x 8 mask: left half 100 (below 127), right half an anti-aliased ramp
     * 127 / 128 / 200 / 255 by column. Nearest 8 -> 4 samples columns 1, 3, 5, 7. */
    CHECK_INT_EQ(advgnn_image_alloc(ctx, &mask, 8, 8, 1, ADVGNN_PIXEL_U8), ADVGNN_OK);
    static const uint8_t row[8] = {100, 100, 100, 100, 127, 128, 200, 255};
    for (int y = 0; y < 8; y++)
        memcpy(pixels(&mask) + 8 * y, row, 8);
    CHECK_INT_EQ(advgnn_mask_to_binary(ctx, &mask, 127, &pp, out), ADVGNN_OK);
    for (int y = 0; y < 4; y++) {
        CHECK_INT_EQ(out[4 * y + 0], 0);
        CHECK_INT_EQ(out[4 * y + 1], 0);
        CHECK_INT_EQ(out[4 * y + 2], 1);
        CHECK_INT_EQ(out[4 * y + 3], 1);
    }

    /* Threshold 254 keeps only 255; crop 2 x 2 keeps columns 1 and 2. */
    pp.crop_height = pp.crop_width = 2;
    CHECK_INT_EQ(advgnn_mask_to_binary(ctx, &mask, 254, &pp, out), ADVGNN_OK);
    CHECK(memcmp(out, (const uint8_t[]){0, 0, 0, 0}, 4) == 0);
    CHECK_INT_EQ(advgnn_mask_to_binary(ctx, &mask, 255, &pp, out), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    advgnn_image_release(&mask);

    /* An RGBA mask ignores alpha: opaque black is not a defect. Masks need
     * no normalization, so a zeroed preprocessing with 1 channel is enough. */
    memset(&pp, 0, sizeof(pp));
    pp.channels = 1;
    CHECK_INT_EQ(advgnn_image_alloc(ctx, &mask, 2, 2, 4, ADVGNN_PIXEL_U8), ADVGNN_OK);
    for (int i = 0; i < 4; i++)
        pixels(&mask)[4 * i + 3] = 255;
    pixels(&mask)[4 * 3 + 1] = 255; /* green in the last pixel */
    CHECK_INT_EQ(advgnn_mask_to_binary(ctx, &mask, 127, &pp, out), ADVGNN_OK);
    CHECK(memcmp(out, (const uint8_t[]){0, 0, 0, 1}, 4) == 0);
    advgnn_image_release(&mask);
}

static void test_map_invariants(advgnn_ctx *ctx)
{
    float map[6 * 5], big[12 * 10];

    /* A constant map stays constant through smoothing and resizing. */
    for (int i = 0; i < 30; i++)
        map[i] = 2.5f;
    CHECK_INT_EQ(advgnn_map_gaussian_blur(ctx, map, 6, 5, 3.0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_map_resize_bilinear(ctx, map, 6, 5, big, 12, 10), ADVGNN_OK);
    for (int i = 0; i < 120; i++)
        CHECK_NEAR(big[i], 2.5, 1e-6);

    /* sigma <= 0 leaves the map unchanged; a single spike spreads but keeps
     * its sum (reflect mode loses no mass). */
    for (int i = 0; i < 30; i++)
        map[i] = 0.0f;
    map[2 * 5 + 2] = 1.0f;
    CHECK_INT_EQ(advgnn_map_gaussian_blur(ctx, map, 6, 5, 0.0), ADVGNN_OK);
    CHECK(map[12] == 1.0f);
    CHECK_INT_EQ(advgnn_map_gaussian_blur(ctx, map, 6, 5, 1.0), ADVGNN_OK);
    double sum = 0.0;
    for (int i = 0; i < 30; i++)
        sum += map[i];
    CHECK_NEAR(sum, 1.0, 1e-5);
    CHECK(map[12] < 1.0f);
    CHECK(map[12] > map[13]);
    CHECK(map[13] > map[14]);

    /* Same size: a copy. Half-pixel centres: 2 -> 4 gives 0, 0.25, 0.75, 1. */
    float line[2] = {0.0f, 1.0f}, wide[4];
    CHECK_INT_EQ(advgnn_map_resize_bilinear(ctx, line, 1, 2, wide, 1, 4), ADVGNN_OK);
    CHECK_NEAR(wide[0], 0.0, 1e-7);
    CHECK_NEAR(wide[1], 0.25, 1e-7);
    CHECK_NEAR(wide[2], 0.75, 1e-7);
    CHECK_NEAR(wide[3], 1.0, 1e-7);
    CHECK_INT_EQ(advgnn_map_resize_bilinear(ctx, line, 0, 2, wide, 1, 4), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
}

static void test_overlay(advgnn_ctx *ctx)
{
    advgnn_image gray, out;
    float map[4 * 4];
    uint8_t mask[4 * 4] = {0};

    CHECK_INT_EQ(advgnn_image_alloc(ctx, &gray, 4, 4, 1, ADVGNN_PIXEL_U8), ADVGNN_OK);
    for (int i = 0; i < 16; i++) {
        pixels(&gray)[i] = (uint8_t)(i * 10);
        map[i] = (const float[]){0.1f, 0.5f, 0.75f, 0.95f}[i % 4]; /* by column */
    }

    /* alpha 0: the plain image in RGB. */
    CHECK_INT_EQ(advgnn_overlay_heatmap(ctx, &gray, map, 0.0f, 1.0f, 0.0f, NULL, 0, &out), ADVGNN_OK);
    CHECK_INT_EQ(out.channels, 3);
    CHECK_INT_EQ(out.width, 4);
    for (int i = 0; i < 16; i++)
        CHECK_INT_EQ(pixels(&out)[3 * i + 1], i * 10);
    advgnn_image_release(&out);

    /* alpha 1: pure Turbo. Low values are blue, the middle green, the top
     * dark red. */
    CHECK_INT_EQ(advgnn_overlay_heatmap(ctx, &gray, map, 0.0f, 1.0f, 1.0f, NULL, 0, &out), ADVGNN_OK);
    const uint8_t *low = pixels(&out), *mid = pixels(&out) + 3 * 1, *high = pixels(&out) + 3 * 3;
    CHECK(low[2] > low[0]);
    CHECK(low[2] > low[1]);
    CHECK(mid[1] > 200);
    CHECK(mid[1] > mid[0]);
    CHECK(mid[1] > mid[2]);
    CHECK(high[0] > high[1]);
    CHECK(high[0] > high[2]);
    CHECK(high[0] < 200);
    advgnn_image_release(&out);

    /* Every pixel of a 2 x 2 defect in a 4 x 4 mask touches background, so
     * all four are white. Side by side doubles the width, and the left half
     * is the plain image. */
    mask[5] = mask[6] = mask[9] = mask[10] = 1;
    CHECK_INT_EQ(advgnn_overlay_heatmap(ctx, &gray, map, 0.0f, 1.0f, 0.5f, mask, 1, &out), ADVGNN_OK);
    CHECK_INT_EQ(out.width, 8);
    for (int y = 0; y < 4; y++) {
        for (int x = 0; x < 4; x++) {
            const uint8_t *left = pixels(&out) + 3 * (y * 8 + x);
            const uint8_t *right = pixels(&out) + 3 * (y * 8 + 4 + x);
            CHECK_INT_EQ(left[0], (y * 4 + x) * 10);
            int white = right[0] == 255 && right[1] == 255 && right[2] == 255;
            CHECK_INT_EQ(white, mask[y * 4 + x]);
        }
    }
    advgnn_image_release(&out);

    CHECK_INT_EQ(advgnn_overlay_heatmap(ctx, &gray, map, 1.0f, 1.0f, 0.5f, NULL, 0, &out), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "vmax must exceed vmin");
    advgnn_ctx_clear_error(ctx);
    advgnn_image_release(&gray);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    CHECK(ctx != NULL);

    test_convert_channels(ctx);
    test_crop_center(ctx);
    test_resize_nearest_and_area(ctx);
    test_preprocess_to_tensor(ctx);
    test_mask_to_binary(ctx);
    test_map_invariants(ctx);
    test_overlay(ctx);
    if (check_failures)
        fprintf(stderr, "last error: %s\n", advgnn_ctx_error(ctx));

    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
