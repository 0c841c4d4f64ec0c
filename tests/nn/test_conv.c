/* Convolution and transposed convolution: the forward (oneDNN's, or the
 * engine's own kernels) against a plain-C reference in double,
 * finite-difference gradients, bf16 against f32. */
#include "nn_test.h"

typedef struct conv_case {
    int n, c, h, w;
    advgnn_conv2d_desc d;
    int transposed;
    int forward_only; /* too large for finite differences: the reference forward only */
} conv_case;

/* Reads the description with PyTorch's defaults for the zero fields. */
static void conv_defaults(const conv_case *cc, int *g, int *s_h, int *s_w, int *d_h, int *d_w)
{
    const advgnn_conv2d_desc *d = &cc->d;

    *g = d->groups ? d->groups : 1;
    *s_h = d->stride_h ? d->stride_h : 1;
    *s_w = d->stride_w ? d->stride_w : 1;
    *d_h = d->dilation_h ? d->dilation_h : 1;
    *d_w = d->dilation_w ? d->dilation_w : 1;
}

/* PyTorch's Conv2d in double: y[n, o, i, j] = b[o] + sum w[o, ci, kh, kw] * x[n, g*cg + ci, i*s - p + kh*d, ...]. */
static void reference_conv(const conv_case *cc, const float *x, const float *w, const float *b, int64_t oh,
                           int64_t ow, double *y)
{
    const advgnn_conv2d_desc *d = &cc->d;
    int g, s_h, s_w, d_h, d_w;
    int cg, og;

    conv_defaults(cc, &g, &s_h, &s_w, &d_h, &d_w);
    cg = cc->c / g;
    og = d->out_channels / g;

    for (int n = 0; n < cc->n; n++)
        for (int o = 0; o < d->out_channels; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double sum = b ? b[o] : 0.0;
                    int grp = o / og;

                    for (int ci = 0; ci < cg; ci++)
                        for (int kh = 0; kh < d->kernel_h; kh++)
                            for (int kw = 0; kw < d->kernel_w; kw++) {
                                int64_t yy = i * s_h - d->pad_h + kh * d_h, xx = j * s_w - d->pad_w + kw * d_w;

                                if (yy < 0 || yy >= cc->h || xx < 0 || xx >= cc->w)
                                    continue;
                                sum += (double)w[((o * cg + ci) * d->kernel_h + kh) * d->kernel_w + kw] *
                                       x[((n * cc->c + grp * cg + ci) * cc->h + yy) * cc->w + xx];
                            }
                    y[((n * d->out_channels + o) * oh + i) * ow + j] = sum;
                }
}

/* PyTorch's ConvTranspose2d in double, as a scatter of every input pixel
 * through the kernel: weight (C_in, C_out / G, KH, KW). */
static void reference_conv_transpose(const conv_case *cc, const float *x, const float *w, const float *b, int64_t oh,
                                     int64_t ow, double *y)
{
    const advgnn_conv2d_desc *d = &cc->d;
    int g, s_h, s_w, d_h, d_w;
    int cg, og;

    conv_defaults(cc, &g, &s_h, &s_w, &d_h, &d_w);
    cg = cc->c / g;
    og = d->out_channels / g;

    for (int n = 0; n < cc->n; n++)
        for (int o = 0; o < d->out_channels; o++)
            for (int64_t i = 0; i < oh * ow; i++)
                y[(n * d->out_channels + o) * oh * ow + i] = b ? b[o] : 0.0;
    for (int n = 0; n < cc->n; n++)
        for (int ci = 0; ci < cc->c; ci++)
            for (int i = 0; i < cc->h; i++)
                for (int j = 0; j < cc->w; j++) {
                    double v = x[((n * cc->c + ci) * cc->h + i) * cc->w + j];
                    int grp = ci / cg;

                    for (int o = 0; o < og; o++)
                        for (int kh = 0; kh < d->kernel_h; kh++)
                            for (int kw = 0; kw < d->kernel_w; kw++) {
                                int64_t yy = (int64_t)i * s_h - d->pad_h + kh * d_h;
                                int64_t xx = (int64_t)j * s_w - d->pad_w + kw * d_w;

                                if (yy < 0 || yy >= oh || xx < 0 || xx >= ow)
                                    continue;
                                y[((n * d->out_channels + grp * og + o) * oh + yy) * ow + xx] +=
                                    v * w[((ci * og + o) * d->kernel_h + kh) * d->kernel_w + kw];
                            }
                }
}

static void run_case(advgnn_ctx *ctx, const conv_case *cc, int index)
{
    int64_t shape[4] = {cc->n, cc->c, cc->h, cc->w};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;
    advgnn_tensor x;
    advgnn_rng rng;
    char name[32], name16[48];
    int rc;

    snprintf(name, sizeof(name), "%s%d", cc->transposed ? "deconv" : "conv", index);
    snprintf(name16, sizeof(name16), "%s_bf16", name);
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    if (cc->transposed) {
        rc = advgnn_nn_conv_transpose2d(nn, ctx, name, ADVGNN_DTYPE_F32, shape, &cc->d, &l32);
        if (rc == ADVGNN_OK && nn_test_bf16(ctx))
            rc = advgnn_nn_conv_transpose2d(nn, ctx, name16, ADVGNN_DTYPE_BF16, shape, &cc->d, &l16);
    } else {
        rc = advgnn_nn_conv2d(nn, ctx, name, ADVGNN_DTYPE_F32, shape, &cc->d, &l32);
        if (rc == ADVGNN_OK && nn_test_bf16(ctx))
            rc = advgnn_nn_conv2d(nn, ctx, name16, ADVGNN_DTYPE_BF16, shape, &cc->d, &l16);
    }
    NN_CHECK_OK(ctx, rc);
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, 42 + (uint64_t)index));
    if (!l32 || (!l16 && nn_test_bf16(ctx)) || check_failures) {
        advgnn_nn_free(nn);
        return;
    }

    advgnn_rng_seed(&rng, 7 + (uint64_t)index);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    fill_uniform(&rng, x.data, advgnn_tensor_numel(&x), -1, 1);

    /* Forward against the reference. */
    {
        const advgnn_tensor *y = advgnn_layer_output(l32);
        const advgnn_nn_param *w = advgnn_layer_param(l32, "weight"), *b = advgnn_layer_param(l32, "bias");
        int64_t ny = advgnn_tensor_numel(y);
        double *ref = calloc((size_t)ny, sizeof(double)), diff = 0;

        NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
        if (cc->transposed)
            reference_conv_transpose(cc, x.data, w->value->data, b ? b->value->data : NULL, y->shape[2], y->shape[3],
                                     ref);
        else
            reference_conv(cc, x.data, w->value->data, b ? b->value->data : NULL, y->shape[2], y->shape[3], ref);
        for (int64_t i = 0; i < ny; i++)
            diff = fmax(diff, fabs(ref[i] - ((const float *)y->data)[i]));
        printf("reference %-30s output (%lld, %lld, %lld, %lld) max diff %.3g\n", name, (long long)y->shape[0],
               (long long)y->shape[1], (long long)y->shape[2], (long long)y->shape[3], diff);
        CHECK(diff < 1e-4);
        free(ref);
    }

    if (cc->forward_only) {
        advgnn_tensor_release(&x);
        advgnn_nn_free(nn);
        return;
    }
    gradcheck_layer(ctx, l32, (advgnn_tensor *const[]){&x}, 1e-2, 2e-3, 100 + (uint64_t)index);
    if (l16)
        compare_bf16_layer(ctx, l32, l16, (advgnn_tensor *const[]){&x}, 3e-2, 200 + (uint64_t)index);

    advgnn_tensor_release(&x);
    advgnn_nn_free(nn);
}

static void check_errors(advgnn_ctx *ctx)
{
    int64_t shape[4] = {1, 6, 5, 5};
    advgnn_conv2d_desc bad_groups = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .groups = 4};
    advgnn_conv2d_desc too_big = {.out_channels = 4, .kernel_h = 7, .kernel_w = 7};
    advgnn_conv2d_desc ok = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *l = NULL;
    advgnn_tensor x;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    CHECK_INT_EQ(advgnn_nn_conv2d(nn, ctx, "g", ADVGNN_DTYPE_F32, shape, &bad_groups, &l), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "groups 4 must divide");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_nn_conv2d(nn, ctx, "k", ADVGNN_DTYPE_F32, shape, &too_big, &l), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "does not fit");
    advgnn_ctx_clear_error(ctx);
    advgnn_nn_free(nn);

    /* A wrong input shape at forward time is rejected with the expected shape. */
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "c", ADVGNN_DTYPE_F32, shape, &ok, &l));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, (int64_t[]){1, 5, 5, 5}));
    CHECK_INT_EQ(advgnn_layer_forward1(l, ctx, &x, ADVGNN_NN_MODE_TRAINING), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "shape (1, 6, 5, 5)");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_layer_backward(l, ctx, &x), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "preceding forward in training mode");
    advgnn_ctx_clear_error(ctx);
    advgnn_tensor_release(&x);
    advgnn_nn_free(nn);
}

int main(void)
{
    static const conv_case cases[] = {
        {2, 3, 7, 6, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1}, 0, 0},
        {1, 4, 9, 9, {.out_channels = 6, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}, 0, 0},
        {2, 4, 8, 8, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2, .bias = 1}, 0, 0},
        {1, 8, 5, 5, {.out_channels = 8, .kernel_h = 1, .kernel_w = 1, .groups = 4, .bias = 1}, 0, 0},
        {1, 4, 6, 5, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .groups = 4, .bias = 1}, 0, 0},
        {2, 16, 4, 4, {.out_channels = 32, .kernel_h = 1, .kernel_w = 1, .bias = 1}, 0, 0},
        {1, 6, 4, 5, {.out_channels = 4, .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .bias = 1}, 1, 0},
        /* 21 columns: the paired scatter-add of 4-wide stride-2 kernels runs
         * two 8-wide steps and a tail of 4. */
        {1, 3, 5, 21, {.out_channels = 2, .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .bias = 1}, 1, 0},
        {2, 4, 3, 3, {.out_channels = 2, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .output_pad_h = 1, .output_pad_w = 1, .bias = 1}, 1, 0},
        {1, 4, 4, 4, {.out_channels = 6, .kernel_h = 3, .kernel_w = 3, .pad_h = 2, .pad_w = 2, .dilation_h = 2, .dilation_w = 2, .groups = 2}, 1, 0},
        /* Grouped 1x1 over at least 28 x 28 pixels: the forward on the plain
         * tensors and the backward as matrix products batched over groups. */
        {2, 16, 30, 30, {.out_channels = 24, .kernel_h = 1, .kernel_w = 1, .groups = 4, .bias = 1}, 0, 0},
        {1, 8, 28, 28, {.out_channels = 8, .kernel_h = 1, .kernel_w = 1, .groups = 2}, 0, 0},
        /* 3x3 convolutions with at most 4 output channels run on the
         * engine's own kernel, which works in steps of 24 pixels. The rows
         * here are narrower than a step, one vector past it (17, 32, 33),
         * or wide with a partial last vector (53). */
        {1, 5, 9, 17, {.out_channels = 1, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1}, 0, 0},
        {2, 3, 4, 32, {.out_channels = 2, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1}, 0, 0},
        {2, 3, 5, 33, {.out_channels = 2, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1}, 0, 0},
        {1, 2, 3, 8, {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1}, 0, 0},
        {2, 16, 40, 53, {.out_channels = 3, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1}, 0, 1},
        /* Columns of 2 x 256 x 16384 floats (33 MB): one matmul per image
         * instead of one for the batch. */
        {2, 4, 128, 128, {.out_channels = 16, .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .bias = 1}, 1, 1},
    };
    advgnn_ctx *ctx = advgnn_ctx_new();

    advgnn_ctx_set_threads(ctx, 2);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(ctx, &cases[i], (int)i);
    check_errors(ctx);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
