/* The patch_stats encoder against a direct computation: every window's
 * statistics summed pixel by pixel, then the neighbourhood average by loops. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/context.h"
#include "advgnn/plugin.h"
#include "advgnn/rng.h"
#include "check.h"
#include "plugin_harness.h"

static advgnn_ctx *ctx;
static const advgnn_plugin_descriptor *desc;
static const advgnn_encoder_functions *fn;

typedef struct settings {
    int stride, window, gradients, neighbourhood;
} settings;

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static double px(const float *plane, int h, int w, int y, int x)
{
    return plane[clampi(y, 0, h - 1) * w + clampi(x, 0, w - 1)];
}

/* One statistic of one cell, straight from its definition. */
static double direct_statistic(const float *plane, int h, int w, const settings *st, int gy, int gx, int stat)
{
    int y0 = gy * st->stride + st->stride / 2 - st->window / 2, x0 = gx * st->stride + st->stride / 2 - st->window / 2;
    double sum = 0.0, count = 0.0, mean;

    for (int pass = 0; pass < (stat == 1 ? 2 : 1); pass++) {
        mean = count > 0.0 ? sum / count : 0.0;
        sum = 0.0;
        count = 0.0;
        for (int y = y0; y < y0 + st->window; y++) {
            for (int x = x0; x < x0 + st->window; x++) {
                double v;

                if (y < 0 || y >= h || x < 0 || x >= w)
                    continue;
                if (stat == 0) {
                    v = px(plane, h, w, y, x);
                } else if (stat == 1) {
                    v = pass == 0 ? px(plane, h, w, y, x) : pow(px(plane, h, w, y, x) - mean, 2.0);
                } else if (stat == 2) {
                    double gxv = (px(plane, h, w, y, x + 1) - px(plane, h, w, y, x - 1)) / 2.0;
                    double gyv = (px(plane, h, w, y + 1, x) - px(plane, h, w, y - 1, x)) / 2.0;
                    v = hypot(gxv, gyv);
                } else {
                    v = fabs(px(plane, h, w, y, x - 1) + px(plane, h, w, y, x + 1) + px(plane, h, w, y - 1, x) +
                             px(plane, h, w, y + 1, x) - 4.0 * px(plane, h, w, y, x));
                }
                sum += v;
                count += 1.0;
            }
        }
    }
    return stat == 1 ? sqrt(sum / count) : sum / count;
}

/* The expected feature f of cell (gy, gx), neighbourhood average included. */
static double direct_feature(const float *image, int h, int w, const settings *st, int gh, int gw, int f, int gy,
                             int gx)
{
    int stats = st->gradients ? 4 : 2, channel = f / stats, stat = f % stats, r = st->neighbourhood / 2;
    double sum = 0.0;

    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++)
            sum += direct_statistic(image + (size_t)channel * h * w, h, w, st, clampi(gy + dy, 0, gh - 1),
                                    clampi(gx + dx, 0, gw - 1), stat);
    return sum / (st->neighbourhood * st->neighbourhood);
}

static void *create_encoder(const settings *st, int h, int w)
{
    advgnn_options *opts = harness_options(ctx, desc);
    advgnn_encoder_config config = {sizeof(config), h, w, 3, 1, NULL};
    void *state = NULL;
    int rc;

    if (!opts)
        return NULL;
    rc = harness_set_int(opts, ctx, "stride", st->stride);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "window", st->window);
    if (rc == ADVGNN_OK)
        rc = harness_set_bool(opts, ctx, "gradients", st->gradients);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "neighbourhood", st->neighbourhood);
    if (rc == ADVGNN_OK)
        rc = fn->create(ctx, opts, &config, &state);
    advgnn_options_free(opts);
    return rc == ADVGNN_OK ? state : NULL;
}

/* Encodes a batch of two random images of h x w and compares every feature. */
static void run_case(const settings *st, int h, int w)
{
    enum { N = 2 };
    void *state = create_encoder(st, h, w);
    int channels, gh, gw;
    advgnn_rng rng;
    float *pixels;
    advgnn_tensor images, features;
    size_t bad = 0;
    double worst = 0.0;

    CHECK(state != NULL);
    if (!state)
        return;
    CHECK_INT_EQ(fn->feature_shape(state, &channels, &gh, &gw), ADVGNN_OK);
    CHECK_INT_EQ(channels, 3 * (st->gradients ? 4 : 2));
    CHECK_INT_EQ(gh, (h + st->stride - 1) / st->stride);
    CHECK_INT_EQ(gw, (w + st->stride - 1) / st->stride);

    pixels = malloc((size_t)N * 3 * h * w * sizeof(float));
    advgnn_rng_seed(&rng, (uint64_t)(h * 1000 + w));
    for (size_t i = 0; i < (size_t)N * 3 * h * w; i++)
        pixels[i] = (float)(2.0 * advgnn_rng_normal(&rng) + 0.5);
    images = advgnn_tensor_view(pixels, ADVGNN_DTYPE_F32, 4, (int64_t[]){N, 3, h, w});
    CHECK_INT_EQ(advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, (int64_t[]){N, channels, gh, gw}),
                 ADVGNN_OK);
    CHECK_INT_EQ(fn->encode(state, ctx, &images, &features, NULL), ADVGNN_OK);

    for (int n = 0; n < N; n++) {
        for (int f = 0; f < channels; f++) {
            for (int gy = 0; gy < gh; gy++) {
                for (int gx = 0; gx < gw; gx++) {
                    double want = direct_feature(pixels + (size_t)n * 3 * h * w, h, w, st, gh, gw, f, gy, gx);
                    double got = ((float *)features.data)[(((size_t)n * channels + f) * gh + gy) * gw + gx];
                    double diff = fabs(got - want);

                    worst = diff > worst ? diff : worst;
                    bad += !(diff <= 1e-5 * (1.0 + fabs(want)));
                }
            }
        }
    }
    fprintf(stderr, "  %dx%d stride %d window %d gradients %d neighbourhood %d: max |diff| %.3g\n", h, w,
            st->stride, st->window, st->gradients, st->neighbourhood, worst);
    CHECK_INT_EQ(bad, 0);

    advgnn_tensor_release(&features);
    free(pixels);
    fn->destroy(state);
}

static void test_against_direct_computation(void)
{
    static const settings cases[] = {
        {8, 16, 1, 3}, {4, 6, 1, 3}, {4, 5, 0, 1}, {3, 7, 1, 5}, {1, 1, 1, 1}, {5, 40, 1, 3},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i], 21, 19);
        run_case(&cases[i], 32, 32);
    }
}

/* The last warning logged, for the small-image check. */
static char last_warning[512];

static void capture_warning(void *user, advgnn_log_level level, const char *line)
{
    (void)user;
    if (level == ADVGNN_LOG_WARN)
        snprintf(last_warning, sizeof(last_warning), "%s", line);
}

/* An image smaller than the window still encodes, with a warning naming both
 * sizes; an image as large as the window logs none. */
static void test_small_image_warning(void)
{
    settings st = {8, 16, 1, 3};
    void *state;

    advgnn_ctx_set_log_sink(ctx, capture_warning, NULL);
    state = create_encoder(&st, 8, 8);
    CHECK(state != NULL);
    CHECK_STR_CONTAINS(last_warning, "patch_stats: the images (8 x 8 pixels) are smaller than the window (16 pixels)");
    fn->destroy(state);

    last_warning[0] = '\0';
    state = create_encoder(&st, 16, 16);
    CHECK(state != NULL);
    CHECK_INT_EQ(strlen(last_warning), 0);
    fn->destroy(state);
    advgnn_ctx_set_log_sink(ctx, NULL, NULL);
}

static void test_invalid_settings(void)
{
    settings even = {8, 16, 1, 2};
    settings ok = {8, 16, 1, 3};
    void *state;
    advgnn_tensor images, features;
    float pixels[3 * 16 * 16] = {0};

    CHECK(create_encoder(&even, 16, 16) == NULL);
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "neighbourhood");
    advgnn_ctx_clear_error(ctx);

    /* A feature tensor of the wrong grid is rejected. */
    state = create_encoder(&ok, 16, 16);
    CHECK(state != NULL);
    if (!state)
        return;
    images = advgnn_tensor_view(pixels, ADVGNN_DTYPE_F32, 4, (int64_t[]){1, 3, 16, 16});
    CHECK_INT_EQ(advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, (int64_t[]){1, 12, 3, 2}), ADVGNN_OK);
    CHECK_INT_EQ(fn->encode(state, ctx, &images, &features, NULL), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "(1, 12, 2, 2)");
    advgnn_ctx_clear_error(ctx);
    advgnn_tensor_release(&features);
    fn->destroy(state);
}

/* Every allocation of create and encode fails once in turn: each reports
 * ADVGNN_ERR_NOMEM, and the sanitizer build sees no leak. */
static void test_allocation_failures(void)
{
    settings st = {4, 8, 1, 3};
    float pixels[2 * 3 * 16 * 16] = {0};
    advgnn_tensor images = advgnn_tensor_view(pixels, ADVGNN_DTYPE_F32, 4, (int64_t[]){2, 3, 16, 16});
    advgnn_tensor features;
    size_t failures = 0, unexpected = 0, completed = 0;

    CHECK_INT_EQ(advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, (int64_t[]){2, 12, 4, 4}), ADVGNN_OK);
    for (size_t n = 1; n < 100 && !completed; n++) {
        void *state;
        int rc = ADVGNN_OK;
        size_t made;

        advgnn_alloc_fail_after(n);
        state = create_encoder(&st, 16, 16);
        if (!state)
            rc = advgnn_ctx_error_status(ctx);
        if (rc == ADVGNN_OK)
            rc = fn->encode(state, ctx, &images, &features, NULL);
        made = advgnn_alloc_fail_after(0);
        completed = rc == ADVGNN_OK && made < n;
        failures += rc == ADVGNN_ERR_NOMEM;
        unexpected += rc != ADVGNN_ERR_NOMEM && rc != ADVGNN_OK;
        advgnn_ctx_clear_error(ctx);
        if (state)
            fn->destroy(state);
    }
    CHECK(completed);
    CHECK(failures > 0);
    CHECK_INT_EQ(unexpected, 0);
    advgnn_tensor_release(&features);
}

int main(void)
{
    void *handle = NULL;

    ctx = advgnn_ctx_new();
    desc = harness_load("patch_stats", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    CHECK_INT_EQ(desc->kind, ADVGNN_PLUGIN_ENCODER);
    fn = desc->functions;
    CHECK_INT_EQ(fn->flags & ADVGNN_ENCODER_RECONSTRUCTS, 0);

    test_against_direct_computation();
    test_invalid_settings();
    test_small_image_warning();
    test_allocation_failures();

    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
