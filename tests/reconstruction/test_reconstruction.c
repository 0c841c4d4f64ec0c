/* The reconstruction scorer against a direct computation: per-pixel squared
 * error and 1 - SSIM from 2-D Gaussian windows summed in double precision,
 * averaged over channels, smoothed, and reduced to max, mean and top-k mean. */
#include <math.h>
#include <stdlib.h>

#include "advgnn/rng.h"
#include "check.h"
#include "plugin_harness.h"

#define H 24
#define W 20
#define C 3
#define N 2

static advgnn_ctx *ctx;

/* scipy.ndimage "reflect": the edge pixel is repeated (d c b a | a b c d | d c b a). */
static int reflect(int i, int n)
{
    while (i < 0 || i >= n)
        i = i < 0 ? -i - 1 : 2 * n - i - 1;
    return i;
}

/* Direct 2-D Gaussian filter with radius round(4 sigma) and normalized weights. */
static void blur2d(const double *in, double *out, double sigma)
{
    int radius = (int)(4.0 * sigma + 0.5);
    double weights[129], total = 0.0;

    for (int d = -radius; d <= radius; d++)
        total += weights[d + radius] = exp(-0.5 * d * d / (sigma * sigma));
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double sum = 0.0;

            for (int dy = -radius; dy <= radius; dy++)
                for (int dx = -radius; dx <= radius; dx++)
                    sum += weights[dy + radius] * weights[dx + radius] / (total * total) *
                           in[reflect(y + dy, H) * W + reflect(x + dx, W)];
            out[y * W + x] = sum;
        }
}

/* The expected map of one image, before the final smoothing when sigma is 0. */
static void expected_map(const float *x, const float *r, double l2w, double ssimw, double range, double sigma,
                         double *map)
{
    double c1 = pow(0.01 * range, 2), c2 = pow(0.03 * range, 2);
    double planes[5][H * W], blurred[5][H * W];

    for (int i = 0; i < H * W; i++)
        map[i] = 0.0;
    for (int c = 0; c < C; c++) {
        const float *xc = x + c * H * W, *rc = r + c * H * W;

        for (int i = 0; i < H * W; i++) {
            planes[0][i] = xc[i];
            planes[1][i] = rc[i];
            planes[2][i] = (double)xc[i] * xc[i];
            planes[3][i] = (double)rc[i] * rc[i];
            planes[4][i] = (double)xc[i] * rc[i];
        }
        for (int p = 0; p < 5; p++)
            blur2d(planes[p], blurred[p], 1.5);
        for (int i = 0; i < H * W; i++) {
            double mx = blurred[0][i], mr = blurred[1][i];
            double vx = blurred[2][i] - mx * mx, vr = blurred[3][i] - mr * mr, cov = blurred[4][i] - mx * mr;
            double ssim = (2 * mx * mr + c1) * (2 * cov + c2) / ((mx * mx + mr * mr + c1) * (vx + vr + c2));
            double d = (double)xc[i] - rc[i];

            map[i] += (l2w * d * d + ssimw * (1.0 - ssim)) / C;
        }
    }
    if (sigma > 0) {
        double smooth[H * W];

        blur2d(map, smooth, sigma);
        for (int i = 0; i < H * W; i++)
            map[i] = smooth[i];
    }
}

static int compare_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x < y) - (x > y);
}

static void check_case(const advgnn_plugin_descriptor *desc, const float *x, const float *r, double l2w,
                       double ssimw, double sigma)
{
    static const char *const modes[] = {"max", "mean", "top_k_mean"};
    const advgnn_scorer_functions *fn = desc->functions;
    advgnn_scorer_config config = {.struct_size = sizeof(config), .image_height = H, .image_width = W,
                                   .feature_channels = 1, .feature_height = 1, .feature_width = 1,
                                   .has_reconstruction = 1};
    int64_t shape[4] = {N, C, H, W};
    advgnn_tensor images = advgnn_tensor_view((void *)x, ADVGNN_DTYPE_F32, 4, shape);
    advgnn_tensor recon = advgnn_tensor_view((void *)r, ADVGNN_DTYPE_F32, 4, shape);
    advgnn_score_batch batch = {.count = N, .images = &images, .reconstruction = &recon};

    for (int m = 0; m < 3; m++) {
        advgnn_options *opts = harness_options(ctx, desc);
        advgnn_value mode = {.kind = ADVGNN_VALUE_STRING, .string = modes[m]};
        float maps[N * H * W], scores[N];
        void *state = NULL;
        double worst = 0.0;

        CHECK_INT_EQ(harness_set_number(opts, ctx, "l2_weight", l2w), ADVGNN_OK);
        CHECK_INT_EQ(harness_set_number(opts, ctx, "ssim_weight", ssimw), ADVGNN_OK);
        CHECK_INT_EQ(harness_set_number(opts, ctx, "sigma", sigma), ADVGNN_OK);
        CHECK_INT_EQ(harness_set_number(opts, ctx, "top_k_ratio", 0.05), ADVGNN_OK);
        CHECK_INT_EQ(advgnn_options_set(opts, ctx, "image_score", &mode), ADVGNN_OK);
        CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), ADVGNN_OK);
        CHECK_INT_EQ(fn->fit_add(state, ctx, &batch), ADVGNN_OK);
        CHECK_INT_EQ(fn->score(state, ctx, &batch, maps, scores), ADVGNN_OK);

        for (int b = 0; b < N; b++) {
            double map[H * W], sorted[H * W], expected = 0.0;
            int k = (int)ceil(0.05 * (double)(H * W)); /* the top 5% of the pixels */

            expected_map(x + b * C * H * W, r + b * C * H * W, l2w, ssimw, 4.0, sigma, map);
            for (int i = 0; i < H * W; i++) {
                double diff = fabs(map[i] - maps[b * H * W + i]) / (fabs(map[i]) + 1e-3);

                worst = diff > worst ? diff : worst;
            }
            memcpy(sorted, map, sizeof(sorted));
            qsort(sorted, H * W, sizeof(double), compare_desc);
            if (m == 0)
                expected = sorted[0];
            for (int i = 0; m == 1 && i < H * W; i++)
                expected += map[i] / (H * W);
            for (int i = 0; m == 2 && i < k; i++)
                expected += sorted[i] / k;
            CHECK_NEAR(scores[b], expected, 1e-4 * fabs(expected) + 1e-6);
        }
        printf("%s, l2 %.1f, ssim %.1f, sigma %.1f: largest relative map difference %.2e\n", modes[m], l2w, ssimw,
               sigma, worst);
        CHECK(worst < 1e-4);
        fn->destroy(state);
        advgnn_options_free(opts);
    }
}

int main(void)
{
    float x[N * C * H * W], r[N * C * H * W];
    const advgnn_plugin_descriptor *desc;
    advgnn_rng rng;
    void *handle = NULL;

    ctx = advgnn_ctx_new();
    desc = harness_load("reconstruction", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();

    /* Smooth images; the reconstruction misses a square defect in image 1 and
     * adds mild noise everywhere. */
    advgnn_rng_seed(&rng, 4);
    for (int b = 0; b < N; b++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    size_t i = (((size_t)b * C + c) * H + y) * W + xx;

                    x[i] = (float)(sin(0.3 * y + c) * cos(0.2 * xx) + 0.1 * advgnn_rng_normal(&rng));
                    r[i] = x[i] + (float)(0.05 * advgnn_rng_normal(&rng));
                    if (b == 1 && y >= 8 && y < 14 && xx >= 6 && xx < 12)
                        x[i] += 1.5f;
                }

    check_case(desc, x, r, 1.0, 0.0, 0.0);
    check_case(desc, x, r, 0.0, 1.0, 0.0);
    check_case(desc, x, r, 0.5, 2.0, 2.0);

    /* The image with the defect scores higher under the defaults. */
    {
        const advgnn_scorer_functions *fn = desc->functions;
        advgnn_scorer_config config = {.struct_size = sizeof(config), .image_height = H, .image_width = W,
                                       .has_reconstruction = 1};
        int64_t shape[4] = {N, C, H, W};
        advgnn_tensor images = advgnn_tensor_view(x, ADVGNN_DTYPE_F32, 4, shape);
        advgnn_tensor recon = advgnn_tensor_view(r, ADVGNN_DTYPE_F32, 4, shape);
        advgnn_score_batch batch = {.count = N, .images = &images, .reconstruction = &recon};
        advgnn_options *opts = harness_options(ctx, desc);
        float maps[N * H * W], scores[N];
        void *state = NULL;

        CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), ADVGNN_OK);
        CHECK_INT_EQ(fn->score(state, ctx, &batch, maps, scores), ADVGNN_OK);
        CHECK(scores[1] > 2.0 * scores[0]);
        CHECK(maps[H * W + 11 * W + 9] > maps[H * W + 2 * W + 2]);
        fn->destroy(state);

        /* Without a reconstruction the scorer refuses to start. */
        config.has_reconstruction = 0;
        CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "no reconstruction");
        advgnn_ctx_clear_error(ctx);
        advgnn_options_free(opts);
    }
    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
