/* sPRO on small cases whose curves are worked out by hand in the comments,
 * the saturation rule of defects_config.json, rejected input, and every
 * allocation failing in turn. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"

static const double limits[] = {0.01, 0.05, 0.1, 0.3, 0.5, 1.0};
#define LIMIT_COUNT (sizeof(limits) / sizeof(limits[0]))

static advgnn_ctx *ctx;

/* Runs sPRO and checks that it succeeds. */
static void run_spro(const advgnn_spro_image *images, size_t count, double *auc)
{
    int rc = advgnn_metric_spro(ctx, images, count, limits, LIMIT_COUNT, auc);

    if (rc != ADVGNN_OK)
        fprintf(stderr, "sPRO failed: %s\n", advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
}

/* Defect pixels score 1, the others 0: the curve jumps to sPRO 1 at FPR 0. */
static void test_perfect_and_inverted(void)
{
    float map[6] = {1, 1, 0, 0, 0, 0};
    float inverted[6] = {0, 0, 1, 1, 1, 1};
    float good[6] = {0};
    uint8_t defect[6] = {1, 1, 0, 0, 0, 0};
    double saturation = 2.0, auc[LIMIT_COUNT];
    advgnn_spro_image images[2] = {
        {.map = map, .height = 2, .width = 3, .defects = defect, .saturation = &saturation, .defect_count = 1},
        {.map = good, .height = 2, .width = 3},
    };

    run_spro(images, 2, auc);
    for (size_t j = 0; j < LIMIT_COUNT; j++)
        CHECK_NEAR(auc[j], 1.0, 1e-12);

    /* Inverted: (0, 0), (4/10, 0), then (1, 1) after every zero score. The
     * segment from (0.4, 0) to (1, 1) gives 0.5 * 0.6 = 0.3 at limit 1, and
     * at limit 0.5 a triangle of 0.1 * (1/6) / 2 divided by 0.5. */
    images[0].map = inverted;
    run_spro(images, 2, auc);
    CHECK_NEAR(auc[0], 0.0, 1e-12);
    CHECK_NEAR(auc[3], 0.0, 1e-12);
    CHECK_NEAR(auc[4], (0.1 * (1.0 / 6.0) / 2.0) / 0.5, 1e-12);
    CHECK_NEAR(auc[5], 0.3, 1e-12);
}

/* One 4-pixel defect scored 4, 3, 2, 1 and four defect-free pixels scored
 * 3.5, 2.5, 1.5, 0.5. With saturation area 2 the curve is (0, 0), (0, 0.5),
 * (0.25, 0.5), (0.25, 1), ... (1, 1): area 0.25 * 0.5 + 0.75 = 0.875 at limit
 * 1 and 0.5 at limit 0.1. Without saturation (area 4) the overlap climbs by
 * 0.25 per defect pixel: 0.0625 + 0.125 + 0.1875 + 0.25 = 0.625. */
static void test_saturation_steps(void)
{
    float map[8] = {4, 3, 2, 1, 3.5f, 2.5f, 1.5f, 0.5f};
    uint8_t defect[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    double saturation = 2.0, auc[LIMIT_COUNT];
    advgnn_spro_image image = {
        .map = map, .height = 2, .width = 4, .defects = defect, .saturation = &saturation, .defect_count = 1};

    run_spro(&image, 1, auc);
    CHECK_NEAR(auc[2], 0.5, 1e-12);
    CHECK_NEAR(auc[5], 0.875, 1e-12);

    saturation = 4.0;
    run_spro(&image, 1, auc);
    CHECK_NEAR(auc[2], 0.25, 1e-12);
    CHECK_NEAR(auc[5], 0.625, 1e-12);

    /* A fractional area saturates inside the second pixel: 1 / 1.5 after one
     * pixel, so 0.25 * (2/3) + 0.75. */
    saturation = 1.5;
    run_spro(&image, 1, auc);
    CHECK_NEAR(auc[5], 0.25 * (2.0 / 3.0) + 0.75, 1e-12);
}

/* A saturated defect stops adding to the mean while another still grows.
 * Defect A (scores 5, 4, saturation 1) and defect B (scores 2, 1, saturation
 * 2); defect-free pixels score 3 and 0. Curve: (0, 0), (0, 0.5) after 5 and
 * 4, (0.5, 0.5) after 3, (0.5, 0.75), (0.5, 1), (1, 1): area 0.75. */
static void test_saturated_defect_stops(void)
{
    float map[6] = {5, 4, 3, 2, 1, 0};
    uint8_t defects[12] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0};
    double saturation[2] = {1.0, 2.0}, auc[LIMIT_COUNT];
    advgnn_spro_image image = {
        .map = map, .height = 2, .width = 3, .defects = defects, .saturation = saturation, .defect_count = 2};

    run_spro(&image, 1, auc);
    CHECK_NEAR(auc[3], 0.5, 1e-12);
    CHECK_NEAR(auc[5], 0.75, 1e-12);
}

/* Scores 4, 2, 1, 3 on a 1 x 4 image; defect A is pixels 0-1, defect B pixels
 * 1-2, so pixel 3 is the only defect-free pixel and pixel 1 counts for both.
 * Curve: (0, 0), (0, 0.25) after score 4, (1, 0.25) after 3, (1, 0.75) after
 * 2, (1, 1) after 1. Area 0.25 at every limit. Were the overlapping pixel
 * counted once, or the defect pixels as defect-free, the values would differ. */
static void test_overlapping_defects(void)
{
    float map[4] = {4, 2, 1, 3};
    uint8_t defects[8] = {1, 1, 0, 0, 0, 1, 1, 0};
    double saturation[2] = {2.0, 2.0}, auc[LIMIT_COUNT];
    advgnn_spro_image image = {
        .map = map, .height = 1, .width = 4, .defects = defects, .saturation = saturation, .defect_count = 2};
    advgnn_curve curve;

    run_spro(&image, 1, auc);
    for (size_t j = 0; j < LIMIT_COUNT; j++)
        CHECK_NEAR(auc[j], 0.25, 1e-12);

    CHECK_INT_EQ(advgnn_metric_spro_curve(ctx, &image, 1, &curve), ADVGNN_OK);
    CHECK_INT_EQ(curve.count, 5);
    if (curve.count == 5) {
        CHECK_NEAR(curve.x[2], 1.0, 0.0);
        CHECK_NEAR(curve.y[2], 0.25, 1e-15);
        CHECK_NEAR(curve.y[3], 0.75, 1e-15);
    }
    advgnn_curve_release(&curve);
}

static void test_saturation_area_rule(void)
{
    /* Relative: int(threshold * area), truncated. Absolute: min(threshold, area). */
    CHECK_NEAR(advgnn_spro_saturation_area(0.3, 1, 10), 3.0, 0.0);
    CHECK_NEAR(advgnn_spro_saturation_area(0.35, 1, 3), 1.0, 0.0);
    CHECK_NEAR(advgnn_spro_saturation_area(0.5, 1, 1), 0.0, 0.0);
    CHECK_NEAR(advgnn_spro_saturation_area(6300, 0, 100), 100.0, 0.0);
    CHECK_NEAR(advgnn_spro_saturation_area(5, 0, 100), 5.0, 0.0);
}

/* Expects `rc` to be `status` with `text` in the message. */
static void expect_failure(int rc, int status, const char *text)
{
    CHECK_INT_EQ(rc, status);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), text);
    advgnn_ctx_clear_error(ctx);
}

static void test_rejected_input(void)
{
    float map[4] = {1, 2, 3, 4};
    uint8_t defect[4] = {0, 1, 0, 0};
    double saturation = 1.0, auc[LIMIT_COUNT], bad_limit = 1.5;
    advgnn_spro_image image = {
        .map = map, .height = 2, .width = 2, .defects = defect, .saturation = &saturation, .defect_count = 1};

    defect[1] = 2;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc), ADVGNN_ERR_INVALID_ARG,
                   "mask value 2");
    defect[1] = 0;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc), ADVGNN_ERR_INVALID_ARG,
                   "image 0, defect 0 has an empty mask");
    defect[1] = 1;

    saturation = 0.0;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc), ADVGNN_ERR_INVALID_ARG,
                   "saturation area 0");
    saturation = 1.0;

    map[2] = NAN;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc), ADVGNN_ERR_NUMERIC,
                   "row 1, column 0");
    map[2] = 3;

    expect_failure(advgnn_metric_spro(ctx, &image, 1, &bad_limit, 1, auc), ADVGNN_ERR_INVALID_ARG,
                   "limit 1.5");
    bad_limit = 0.0;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, &bad_limit, 1, auc), ADVGNN_ERR_INVALID_ARG,
                   "limit 0");

    /* No defect at all, or no defect-free pixel: the curve has no axis. */
    image.defect_count = 0;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc), ADVGNN_ERR_UNDEFINED,
                   "no annotated defect");
    uint8_t all[4] = {1, 1, 1, 1};
    image.defect_count = 1;
    image.defects = all;
    expect_failure(advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc), ADVGNN_ERR_UNDEFINED,
                   "no defect-free pixel");
}

/* Fails the Nth allocation for N = 1, 2, ... until a call succeeds. */
static void test_allocation_failures(void)
{
    enum { SIDE = 16, PIXELS = SIDE * SIDE };
    static float map[PIXELS];
    static uint8_t defects[2 * PIXELS];
    double saturation[2] = {10.0, 40.0}, auc[LIMIT_COUNT], expected[LIMIT_COUNT];
    advgnn_spro_image image = {
        .map = map, .height = SIDE, .width = SIDE, .defects = defects, .saturation = saturation, .defect_count = 2};
    int failures = 0;

    for (int i = 0; i < PIXELS; i++) {
        map[i] = (float)((i * 37) % 101) / 101.0f;
        defects[i] = i % SIDE < 5 && i / SIDE < 6;
        defects[PIXELS + i] = i % SIDE > 8 && i / SIDE > 7;
    }
    run_spro(&image, 1, expected);

    for (size_t n = 1; n < 100; n++) {
        advgnn_alloc_fail_after(n);
        int rc = advgnn_metric_spro(ctx, &image, 1, limits, LIMIT_COUNT, auc);
        advgnn_alloc_fail_after(0);
        if (rc == ADVGNN_OK) {
            CHECK_NEAR(auc[3], expected[3], 0.0);
            break;
        }
        CHECK_INT_EQ(rc, ADVGNN_ERR_NOMEM);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "out of memory");
        advgnn_ctx_clear_error(ctx);
        failures++;
    }
    CHECK(failures >= 4);

    for (size_t n = 1; n < 100; n++) {
        advgnn_curve curve;

        advgnn_alloc_fail_after(n);
        int rc = advgnn_metric_spro_curve(ctx, &image, 1, &curve);
        advgnn_alloc_fail_after(0);
        advgnn_curve_release(&curve);
        if (rc == ADVGNN_OK)
            break;
        CHECK_INT_EQ(rc, ADVGNN_ERR_NOMEM);
        advgnn_ctx_clear_error(ctx);
    }
}

int main(void)
{
    ctx = advgnn_ctx_new();
    if (!ctx)
        return 1;
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);

    test_perfect_and_inverted();
    test_saturation_steps();
    test_saturated_defect_stops();
    test_overlapping_defects();
    test_saturation_area_rule();
    test_rejected_input();
    test_allocation_failures();
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
