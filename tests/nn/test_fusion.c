/* Inference fusion of convolution -> batch norm (-> activation) through
 * advgnn_nn_fuse_inference:
 *   - the fused inference output matches the layers run one by one, for the
 *     GEMM 1x1 path, the blocked 3x3 stride-2 path, a grouped 1x1, a small
 *     map, a convolution without bias, each activation, and the transposed
 *     convolutions that run as a matmul (per image and for the whole batch);
 *   - after the batch norm's parameters change, the next inference forward
 *     folds the new values;
 *   - training forwards of the fused network equal the unfused ones bit for
 *     bit, and a backward after a fused inference forward is rejected;
 *   - the GELU that the tiled-GEMM path of plain 1x1 convolutions applies
 *     itself is within 3e-7 * max(1, |x|) of the exact erf form (computed
 *     in double) over [-12, 12], keeps NaN and +inf, and covers the pixels
 *     left over after the 8-wide vectors;
 *   - wrong layers, a committed network and mismatched shapes are errors
 *     that name the layers; a dilated transposed convolution, which runs on
 *     oneDNN's kernels, is left unfused. */
#include "nn_test.h"

/* Inference of the fused result against the layers one by one: f32 rounding
 * of the folded weights, a few ulp over the channel sums. */
#define FUSION_TOLERANCE 1e-5

typedef struct fusion_case {
    const char *label;
    int64_t input[4];
    advgnn_conv2d_desc desc;
    advgnn_activation act; /* INVALID = none */
    int transposed;
    int want;              /* layers that must fuse */
} fusion_case;

/* One network of conv -> bn (-> act), fused or not. */
typedef struct chain {
    advgnn_nn *nn;
    advgnn_layer *conv, *bn, *act;
    int fused;
} chain;

static int build_chain(advgnn_ctx *ctx, const fusion_case *fc, int fuse, chain *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    rc = advgnn_nn_new(ctx, &c->nn);
    if (rc == ADVGNN_OK && fc->transposed)
        rc = advgnn_nn_conv_transpose2d(c->nn, ctx, "conv", ADVGNN_DTYPE_F32, fc->input, &fc->desc, &c->conv);
    else if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv2d(c->nn, ctx, "conv", ADVGNN_DTYPE_F32, fc->input, &fc->desc, &c->conv);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_batch_norm(c->nn, ctx, "bn", ADVGNN_DTYPE_F32, advgnn_layer_output(c->conv)->shape, 1e-5, 0.1,
                                  &c->bn);
    if (rc == ADVGNN_OK && fc->act != ADVGNN_ACTIVATION_INVALID)
        rc = advgnn_nn_activation(c->nn, ctx, "act", ADVGNN_DTYPE_F32, advgnn_layer_output(c->bn)->shape, fc->act,
                                  &c->act);
    if (rc == ADVGNN_OK && fuse)
        rc = advgnn_nn_fuse_inference(c->conv, ctx, c->bn, c->act, &c->fused);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_commit(c->nn, ctx);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_init_params(c->nn, ctx, 11);
    return rc;
}

/* Gives the batch norm of both chains the same non-trivial scale, shift and
 * running statistics. */
static void set_norm(advgnn_rng *rng, chain *a, chain *b)
{
    static const char *const names[] = {"weight", "bias", "running_mean", "running_var"};
    static const double lo[] = {0.5, -0.5, -0.3, 0.5}, hi[] = {1.5, 0.5, 0.3, 2.0};

    for (int i = 0; i < 4; i++) {
        const advgnn_nn_param *pa = advgnn_layer_param(a->bn, names[i]), *pb = advgnn_layer_param(b->bn, names[i]);
        int64_t n = advgnn_tensor_numel(pa->value);

        fill_uniform(rng, pa->value->data, n, lo[i], hi[i]);
        memcpy(pb->value->data, pa->value->data, (size_t)n * sizeof(float));
    }
}

static advgnn_layer *last(const chain *c)
{
    return c->act ? c->act : c->bn;
}

/* Runs the chain layer by layer in `mode`; a fused chain in inference runs
 * only its convolution and the unfused layers after it. */
static int run_chain(chain *c, advgnn_ctx *ctx, const advgnn_tensor *x, advgnn_nn_mode mode)
{
    int skip = mode == ADVGNN_NN_MODE_INFERENCE ? c->fused : 0;
    int rc = advgnn_layer_forward1(c->conv, ctx, x, mode);

    if (rc == ADVGNN_OK && skip < 1)
        rc = advgnn_layer_forward1(c->bn, ctx, advgnn_layer_output(c->conv), mode);
    if (rc == ADVGNN_OK && c->act && skip < 2)
        rc = advgnn_layer_forward1(c->act, ctx, advgnn_layer_output(c->bn), mode);
    return rc;
}

static double max_relative(const advgnn_tensor *a, const advgnn_tensor *b)
{
    const float *x = a->data, *y = b->data;
    double worst = 0;

    for (int64_t i = 0; i < advgnn_tensor_numel(a); i++) {
        double d = fabs((double)x[i] - y[i]) / fmax(1.0, fabs((double)y[i]));

        worst = fmax(worst, d);
    }
    return worst;
}

static void check_case(advgnn_ctx *ctx, const fusion_case *fc)
{
    chain plain, fused;
    advgnn_tensor x;
    advgnn_rng rng;
    double err;

    advgnn_rng_seed(&rng, 3);
    NN_CHECK_OK(ctx, build_chain(ctx, fc, 0, &plain));
    NN_CHECK_OK(ctx, build_chain(ctx, fc, 1, &fused));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, fc->input));
    if (!plain.conv || !fused.conv || !x.data) {
        check_failures++;
        goto done;
    }

    /* An f32 convolution with a batch norm always fuses at least the norm;
     * whether the activation joins depends on the kernel oneDNN picks. */
    CHECK(fused.fused >= 1);
    CHECK(fused.fused >= fc->want);
    CHECK(fused.fused <= (fc->act != ADVGNN_ACTIVATION_INVALID ? 2 : 1));
    set_norm(&rng, &plain, &fused);
    for (const char *names[] = {"weight", "bias", NULL}, **p = names; *p; p++) {
        const advgnn_nn_param *pa = advgnn_layer_param(plain.conv, *p), *pb = advgnn_layer_param(fused.conv, *p);

        if (pa && pb)
            memcpy(pb->value->data, pa->value->data, (size_t)advgnn_tensor_numel(pa->value) * sizeof(float));
    }
    fill_uniform(&rng, x.data, advgnn_tensor_numel(&x), -1, 1);

    NN_CHECK_OK(ctx, run_chain(&plain, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
    NN_CHECK_OK(ctx, run_chain(&fused, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
    err = max_relative(advgnn_layer_output(last(&fused)), advgnn_layer_output(last(&plain)));
    printf("%-28s fused %d layer(s), inference max relative diff %.3g\n", fc->label, fused.fused, err);
    CHECK(err <= FUSION_TOLERANCE);

    /* The batch norm is not run in a fused inference, so its backward must
     * be rejected as after any inference forward. */
    CHECK(advgnn_layer_backward(fused.bn, ctx, advgnn_layer_output(fused.bn)) == ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);

    /* New batch-norm values reach the next fused forward. */
    set_norm(&rng, &plain, &fused);
    NN_CHECK_OK(ctx, run_chain(&plain, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
    NN_CHECK_OK(ctx, run_chain(&fused, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
    err = max_relative(advgnn_layer_output(last(&fused)), advgnn_layer_output(last(&plain)));
    printf("%-28s after new statistics, max relative diff %.3g\n", fc->label, err);
    CHECK(err <= FUSION_TOLERANCE);

    /* Training forwards do not fuse: bit for bit the same. */
    NN_CHECK_OK(ctx, run_chain(&plain, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    NN_CHECK_OK(ctx, run_chain(&fused, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    CHECK(memcmp(advgnn_layer_output(last(&fused))->data, advgnn_layer_output(last(&plain))->data,
                 (size_t)advgnn_tensor_numel(advgnn_layer_output(last(&plain))) * sizeof(float)) == 0);

done:
    advgnn_tensor_release(&x);
    advgnn_nn_free(plain.nn);
    advgnn_nn_free(fused.nn);
}

/* Bound of the GELU of the fused 1x1 GEMM path against the exact erf form:
 * Abramowitz and Stegun's erfc error (1.5e-7, halved by GELU's factor 1/2)
 * plus the f32 rounding of the few operations around it. */
#define GELU_TOLERANCE 3e-7

/* A 1-channel 1x1 convolution of weight 1 and bias 0 and a batch norm that
 * passes its input on unchanged (scale 1, shift 0 up to f32 rounding), so
 * that the fused output is GELU of the input. 41 x 41 pixels leave one pixel
 * after the last full 8-wide vector. Its input is -12, so its GELU (about 0)
 * shows whether the masked last vector was written. */
static void check_gelu_accuracy(advgnn_ctx *ctx)
{
    const int64_t side = 41, pixels = side * side;
    fusion_case fc = {"gelu accuracy", {1, 1, side, side}, {.out_channels = 1, .kernel_h = 1, .kernel_w = 1, .bias = 1},
                      ADVGNN_ACTIVATION_GELU, 0, 2};
    advgnn_tensor x;
    chain c;
    double worst = 0;

    NN_CHECK_OK(ctx, build_chain(ctx, &fc, 1, &c));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, fc.input));
    if (!c.conv || !x.data) {
        check_failures++;
        goto done;
    }
    CHECK_INT_EQ(c.fused, 2);
    ((float *)advgnn_layer_param(c.conv, "weight")->value->data)[0] = 1.0f;
    ((float *)advgnn_layer_param(c.conv, "bias")->value->data)[0] = 0.0f;
    ((float *)advgnn_layer_param(c.bn, "weight")->value->data)[0] = 1.0f;
    ((float *)advgnn_layer_param(c.bn, "bias")->value->data)[0] = 0.0f;
    ((float *)advgnn_layer_param(c.bn, "running_mean")->value->data)[0] = 0.0f;
    ((float *)advgnn_layer_param(c.bn, "running_var")->value->data)[0] = 1.0f - 1e-5f;

    float *in = x.data;
    for (int64_t i = 0; i < pixels; i++)
        in[i] = (float)(12.0 - 24.0 * (double)(i - 3) / (double)(pixels - 4));
    in[0] = NAN;
    in[1] = INFINITY;
    in[2] = -0.0f;
    NN_CHECK_OK(ctx, run_chain(&c, ctx, &x, ADVGNN_NN_MODE_INFERENCE));

    const float *y = advgnn_layer_output(c.act)->data;
    for (int64_t i = 3; i < pixels; i++) {
        double v = in[i], want = 0.5 * v * erfc(-v / sqrt(2.0));

        worst = fmax(worst, fabs(y[i] - want) / fmax(1.0, fabs(v)));
    }
    printf("%-28s max error %.3g against the exact erf form in [-12, 12]\n", fc.label, worst);
    CHECK(worst <= GELU_TOLERANCE);
    CHECK(isnan(y[0]));
    CHECK(isinf(y[1]));
    CHECK(y[1] > 0);
    CHECK(y[2] == 0.0f);

done:
    advgnn_tensor_release(&x);
    advgnn_nn_free(c.nn);
}

static void check_errors(advgnn_ctx *ctx)
{
    const int64_t shape[4] = {1, 4, 8, 8}, other[4] = {1, 6, 8, 8};
    advgnn_conv2d_desc d = {.out_channels = 4, .kernel_h = 1, .kernel_w = 1, .bias = 1};
    advgnn_conv2d_desc up = {.out_channels = 4, .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2,
                             .pad_h = 1, .pad_w = 1, .dilation_h = 2, .dilation_w = 2, .bias = 1};
    advgnn_layer *conv = NULL, *bn = NULL, *act = NULL, *bn6 = NULL, *deconv = NULL, *bn_up = NULL;
    advgnn_nn *nn = NULL;
    int fused = -1;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "enc.conv", ADVGNN_DTYPE_F32, shape, &d, &conv));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "enc.bn", ADVGNN_DTYPE_F32, shape, 1e-5, 0.1, &bn));
    NN_CHECK_OK(ctx, advgnn_nn_activation(nn, ctx, "enc.act", ADVGNN_DTYPE_F32, shape, ADVGNN_ACTIVATION_RELU, &act));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "enc.bn6", ADVGNN_DTYPE_F32, other, 1e-5, 0.1, &bn6));
    NN_CHECK_OK(ctx, advgnn_nn_conv_transpose2d(nn, ctx, "dec.up", ADVGNN_DTYPE_F32, shape, &up, &deconv));
    if (!conv || !bn || !act || !bn6 || !deconv) {
        check_failures++;
        advgnn_nn_free(nn);
        return;
    }
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "dec.bn", ADVGNN_DTYPE_F32, advgnn_layer_output(deconv)->shape,
                                          1e-5, 0.1, &bn_up));

    /* A batch norm where the convolution belongs. */
    CHECK_INT_EQ(advgnn_nn_fuse_inference(bn, ctx, bn, NULL, &fused), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "layer enc.bn must be a convolution");
    CHECK_INT_EQ(fused, 0);
    advgnn_ctx_clear_error(ctx);

    /* An activation where the batch norm belongs. */
    CHECK_INT_EQ(advgnn_nn_fuse_inference(conv, ctx, act, NULL, &fused), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "layer enc.act a batch norm");
    advgnn_ctx_clear_error(ctx);

    /* A batch norm where the activation belongs. */
    CHECK_INT_EQ(advgnn_nn_fuse_inference(conv, ctx, bn, bn, &fused), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "layer enc.bn is not an activation");
    advgnn_ctx_clear_error(ctx);

    /* Channels that do not chain. */
    CHECK_INT_EQ(advgnn_nn_fuse_inference(conv, ctx, bn6, NULL, &fused), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "layer enc.bn6 does not read the output shape of layer enc.conv");
    advgnn_ctx_clear_error(ctx);

    /* A dilated transposed convolution runs on oneDNN's kernels and stays unfused. */
    if (bn_up) {
        CHECK_INT_EQ(advgnn_nn_fuse_inference(deconv, ctx, bn_up, NULL, &fused), ADVGNN_OK);
        CHECK_INT_EQ(fused, 0);
    }

    /* After commit the arenas are laid out, so fusion is rejected. */
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    CHECK_INT_EQ(advgnn_nn_fuse_inference(conv, ctx, bn, act, &fused), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "not committed yet");
    CHECK_INT_EQ(fused, 0);
    advgnn_ctx_clear_error(ctx);
    advgnn_nn_free(nn);
}

/* A 4x4 stride-2 transposed convolution with padding 1, as in the decoder. */
#define UP4(out, with_bias)                                                                                    \
    {                                                                                                          \
        .out_channels = (out), .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2, .pad_h = 1,         \
        .pad_w = 1, .bias = (with_bias)                                                                        \
    }

int main(void)
{
    static const fusion_case cases[] = {
        {"1x1 56x56 gelu", {2, 16, 56, 56}, {.out_channels = 24, .kernel_h = 1, .kernel_w = 1, .bias = 1},
         ADVGNN_ACTIVATION_GELU, 0, 2},
        {"1x1 28x28 relu", {2, 16, 28, 28}, {.out_channels = 40, .kernel_h = 1, .kernel_w = 1, .bias = 1},
         ADVGNN_ACTIVATION_RELU, 0, 2},
        {"1x1 56x56 no activation", {2, 24, 56, 56}, {.out_channels = 16, .kernel_h = 1, .kernel_w = 1, .bias = 1},
         ADVGNN_ACTIVATION_INVALID, 0, 0},
        {"3x3 stride 2 relu", {2, 8, 16, 16},
         {.out_channels = 16, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
          .bias = 1},
         ADVGNN_ACTIVATION_RELU, 0, 0},
        {"grouped 1x1 30x30 gelu", {2, 32, 30, 30},
         {.out_channels = 32, .kernel_h = 1, .kernel_w = 1, .groups = 4, .bias = 1}, ADVGNN_ACTIVATION_GELU, 0, 2},
        {"grouped 1x1 14x14 gelu", {2, 32, 14, 14},
         {.out_channels = 32, .kernel_h = 1, .kernel_w = 1, .groups = 4, .bias = 1}, ADVGNN_ACTIVATION_GELU, 0, 2},
        {"3x3 3 outputs relu", {2, 8, 20, 21},
         {.out_channels = 3, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1}, ADVGNN_ACTIVATION_RELU,
         0, 1},
        {"3x3 7x7 no bias tanh", {1, 16, 7, 7},
         {.out_channels = 8, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1}, ADVGNN_ACTIVATION_TANH, 0, 0},
        {"1x1 7x7 sigmoid", {3, 12, 7, 7}, {.out_channels = 20, .kernel_h = 1, .kernel_w = 1, .bias = 1},
         ADVGNN_ACTIVATION_SIGMOID, 0, 0},
        /* The decoder's 4x4 stride-2 layers: one matmul per image (columns
         * of 16 MB or more per batch), and one for the whole batch. A ReLU
         * fuses, another activation leaves only the batch norm fused. */
        {"transposed per image relu", {2, 16, 80, 80}, UP4(24, 1), ADVGNN_ACTIVATION_RELU, 1, 2},
        {"transposed batched relu", {3, 32, 7, 7}, UP4(16, 1), ADVGNN_ACTIVATION_RELU, 1, 2},
        {"transposed no bias", {2, 8, 9, 9}, UP4(8, 0), ADVGNN_ACTIVATION_INVALID, 1, 1},
        {"transposed tanh", {2, 8, 9, 9}, UP4(4, 1), ADVGNN_ACTIVATION_TANH, 1, 1},
    };
    advgnn_ctx *ctx = advgnn_ctx_new();

    advgnn_ctx_set_threads(ctx, 2);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_case(ctx, &cases[i]);
    check_gelu_accuracy(ctx);
    check_errors(ctx);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
