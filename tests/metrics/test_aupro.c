/* AUPRO and the PRO curve on hand-computed cases, the 8-connected labeling of
 * masks, and the inputs where AUPRO is undefined or invalid. */
#include <stdint.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "metrics/components.h"

/* Labels a mask given as rows of '#' (defect) and '.' and returns the count. */
static uint32_t count_components(const char *const rows[], int height, int width, uint32_t *labels)
{
    uint8_t mask[64];
    uint32_t queue[64];

    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            mask[y * width + x] = rows[y][x] == '#';
    return advgnn_label_components(mask, height, width, labels, queue);
}

static void test_components_eight_connected(void)
{
    const char *const diagonal[] = {"#...", ".#..", "..#.", "...#"};
    const char *const anti_diagonal_and_dot[] = {"...#", "..#.", ".#..", "#..#"};
    const char *const u_shape[] = {"#..#", "#..#", "#..#", "####"};
    const char *const ring[] = {"####", "#..#", "#..#", "####"};
    const char *const checkerboard[] = {"#.#.", ".#.#", "#.#.", ".#.#"};
    const char *const gap[] = {"#.#.", "#.#.", "#.#.", "#.#."};
    const char *const empty[] = {"....", "....", "....", "...."};
    uint32_t labels[64];

    CHECK_INT_EQ(count_components(diagonal, 4, 4, labels), 1);
    CHECK_INT_EQ(count_components(anti_diagonal_and_dot, 4, 4, labels), 2);
    CHECK_INT_EQ(labels[3], 1);  /* first pixel in raster order */
    CHECK_INT_EQ(labels[15], 2);
    CHECK_INT_EQ(labels[12], 1);

    /* The two arms of the U meet only in the last row. */
    CHECK_INT_EQ(count_components(u_shape, 4, 4, labels), 1);
    CHECK_INT_EQ(labels[3], 1);
    CHECK_INT_EQ(count_components(ring, 4, 4, labels), 1);
    CHECK_INT_EQ(labels[5], 0);
    CHECK_INT_EQ(count_components(checkerboard, 4, 4, labels), 1);
    CHECK_INT_EQ(count_components(gap, 4, 4, labels), 2);
    CHECK_INT_EQ(count_components(empty, 4, 4, labels), 0);
}

static void test_aupro_hand_computed(void)
{
    /* One image of 1x4: a region of two pixels and two background pixels.
     * From the highest score down the points are (0, 0.5) (0.9, region),
     * (0.5, 0.5) (0.5, background), (0.5, 1) (0.2, region), (1, 1). */
    const float map[4] = {0.9f, 0.2f, 0.5f, 0.1f};
    const uint8_t mask[4] = {1, 1, 0, 0};
    const double x[3] = {0.0, 0.0, 0.3};
    const double y[3] = {0.0, 0.5, 0.5};
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_curve curve;
    double aupro = -1.0;

    /* Up to FPR 1 the area is 0.5 * 0.5 + 0.5 * 1. */
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, map, mask, 1, 1, 4, 1.0, &aupro), ADVGNN_OK);
    CHECK_NEAR(aupro, 0.75, 1e-15);

    /* Up to 0.3 the end point is interpolated between (0, 0.5) and (0.5, 0.5). */
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, map, mask, 1, 1, 4, 0.3, &aupro), ADVGNN_OK);
    CHECK_NEAR(aupro, 0.5, 1e-15);
    CHECK_INT_EQ(advgnn_metric_pro_curve(ctx, map, mask, 1, 1, 4, 0.3, &curve), ADVGNN_OK);
    CHECK_INT_EQ(curve.count, 3);
    for (size_t i = 0; i < 3 && i < curve.count; i++) {
        CHECK_NEAR(curve.x[i], x[i], 1e-15);
        CHECK_NEAR(curve.y[i], y[i], 1e-15);
    }
    advgnn_curve_release(&curve);
    advgnn_ctx_free(ctx);
}

static void test_aupro_regions_weigh_equally(void)
{
    /* Two images of 2x2. Image 0: region A of 3 pixels (0.6, 0.6, 0.15) and
     * background 0.1. Image 1: background 0.2, 0.1, 0.1 and region B of one
     * pixel (0.9), so n_bg = 4 and each region weighs 1/2. From the highest
     * score down: (0, 1/2), (0, 1/2 + 2/6), (1/4, 5/6), (1/4, 1), then FPR 1,
     * cut at 0.3 with PRO 1. Area: 1/4 * 5/6 + 0.05 * 1 = 31/120. */
    const float maps[8] = {0.6f, 0.6f, 0.15f, 0.1f, 0.2f, 0.1f, 0.1f, 0.9f};
    const uint8_t masks[8] = {1, 1, 1, 0, 0, 0, 0, 1};
    advgnn_ctx *ctx = advgnn_ctx_new();
    double aupro = -1.0;

    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, masks, 2, 2, 2, 0.3, &aupro), ADVGNN_OK);
    CHECK_NEAR(aupro, 31.0 / 120.0 / 0.3, 1e-15);
    advgnn_ctx_free(ctx);
}

static void test_aupro_undefined_and_invalid(void)
{
    float maps[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    const uint8_t none[8] = {0};
    const uint8_t all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const uint8_t some[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    const uint8_t bad_mask[8] = {0, 1, 0, 0, 0, 0, 255, 0};
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_curve curve;
    double aupro = -1.0;

    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, none, 2, 2, 2, 0.3, &aupro), ADVGNN_ERR_UNDEFINED);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "the 2 masks contain no defect pixel");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, all, 2, 2, 2, 0.3, &aupro), ADVGNN_ERR_UNDEFINED);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "no background pixel");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_pro_curve(ctx, maps, none, 2, 2, 2, 0.3, &curve), ADVGNN_ERR_UNDEFINED);
    CHECK(curve.x == NULL);
    CHECK_INT_EQ(curve.count, 0);
    advgnn_ctx_clear_error(ctx);
    CHECK(aupro == -1.0);

    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, bad_mask, 2, 2, 2, 0.3, &aupro), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "image 1, pixel (row 1, column 0) has mask value 255");
    advgnn_ctx_clear_error(ctx);
    maps[6] = NAN;
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, some, 2, 2, 2, 0.3, &aupro), ADVGNN_ERR_NUMERIC);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "image 1, pixel (row 1, column 0) has score nan");
    advgnn_ctx_clear_error(ctx);
    maps[6] = 0.7f;

    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, some, 2, 2, 2, 0.0, &aupro), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "invalid false-positive-rate limit 0");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, some, 2, 2, 2, 1.5, &aupro), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, some, 2, 2, 2, NAN, &aupro), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, some, 2, 0, 4, 0.3, &aupro), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "invalid shape (2, 0, 4)");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_aupro(ctx, maps, some, 0, 2, 2, 0.3, &aupro), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    CHECK(aupro == -1.0);
    advgnn_ctx_free(ctx);
}

int main(void)
{
    test_components_eight_connected();
    test_aupro_hand_computed();
    test_aupro_regions_weigh_equally();
    test_aupro_undefined_and_invalid();
    return CHECK_DONE();
}
