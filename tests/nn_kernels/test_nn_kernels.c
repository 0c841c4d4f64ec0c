/* The engine's own kernels and layout choices at the sizes where they take
 * over. These are 1x1 convolutions over at least 28 x 28 pixels (plain
 * forward, matmul backward), strided bf16 convolutions with f32 weight
 * gradients, and batch norm on planes whose size is not a multiple of the
 * vector width.
 * Each is checked against a plain-C reference in double, by finite
 * differences, and in bf16 against f32. */
#include "nn_test.h"

/* y[n, o, p] = b[o] + sum_i w[o, i] * x[n, g * cg + i, p] for a 1x1
 * convolution with `groups` groups, in double. */
static void reference_conv1x1(const int64_t *shape, int out_channels, int groups, const float *x, const float *w,
                              const float *b, double *y)
{
    int64_t plane = shape[2] * shape[3];
    int cg = (int)shape[1] / groups, og = out_channels / groups;

    for (int64_t n = 0; n < shape[0]; n++)
        for (int o = 0; o < out_channels; o++) {
            int g = o / og;

            for (int64_t p = 0; p < plane; p++) {
                double sum = b[o];

                for (int i = 0; i < cg; i++)
                    sum += (double)w[o * cg + i] * x[(n * shape[1] + g * cg + i) * plane + p];
                y[(n * out_channels + o) * plane + p] = sum;
            }
        }
}

static void check_conv1x1(advgnn_ctx *ctx, int groups, uint64_t seed)
{
    int64_t shape[4] = {2, 8, 28, 30};
    advgnn_conv2d_desc d = {.out_channels = 12, .kernel_h = 1, .kernel_w = 1, .groups = groups, .bias = 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;
    advgnn_tensor x;
    advgnn_rng rng;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, groups > 1 ? "grouped" : "conv", ADVGNN_DTYPE_F32, shape, &d, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, groups > 1 ? "grouped_bf16" : "conv_bf16", ADVGNN_DTYPE_BF16,
                                          shape, &d, &l16));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, seed));
    if (!l32 || (!l16 && nn_test_bf16(ctx)) || check_failures) {
        advgnn_nn_free(nn);
        return;
    }
    advgnn_rng_seed(&rng, seed);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    fill_uniform(&rng, x.data, advgnn_tensor_numel(&x), -1, 1);

    {
        const advgnn_tensor *y = advgnn_layer_output(l32);
        int64_t ny = advgnn_tensor_numel(y);
        double *ref = calloc((size_t)ny, sizeof(double)), diff = 0;

        CHECK(ref != NULL);
        NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_TRAINING));
        reference_conv1x1(shape, d.out_channels, groups, x.data, advgnn_layer_param(l32, "weight")->value->data,
                          advgnn_layer_param(l32, "bias")->value->data, ref);
        for (int64_t i = 0; ref && i < ny; i++)
            diff = fmax(diff, fabs(ref[i] - ((const float *)y->data)[i]));
        printf("reference %-30s max diff %.3g\n", advgnn_layer_name(l32), diff);
        CHECK(diff < 1e-5);
        free(ref);
    }
    gradcheck_layer(ctx, l32, (advgnn_tensor *const[]){&x}, 1e-2, 2e-3, seed + 1);
    if (l16)
        compare_bf16_layer(ctx, l32, l16, (advgnn_tensor *const[]){&x}, 3e-2, seed + 2);
    advgnn_tensor_release(&x);
    advgnn_nn_free(nn);
}

/* y[n, o, i, j] = b[o] + sum w[o, c, kh, kw] * x[n, c, i * stride - pad + kh, j * stride - pad + kw]
 * for an ungrouped convolution, in double. */
static void reference_conv(const int64_t *shape, const advgnn_conv2d_desc *d, int64_t oh, int64_t ow, const float *x,
                           const float *w, const float *b, double *y)
{
    for (int64_t n = 0; n < shape[0]; n++)
        for (int o = 0; o < d->out_channels; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double sum = b[o];

                    for (int c = 0; c < shape[1]; c++)
                        for (int kh = 0; kh < d->kernel_h; kh++)
                            for (int kw = 0; kw < d->kernel_w; kw++) {
                                int64_t yy = i * d->stride_h - d->pad_h + kh, xx = j * d->stride_w - d->pad_w + kw;

                                if (yy < 0 || yy >= shape[2] || xx < 0 || xx >= shape[3])
                                    continue;
                                sum += (double)w[((o * shape[1] + c) * d->kernel_h + kh) * d->kernel_w + kw] *
                                       x[((n * shape[1] + c) * shape[2] + yy) * shape[3] + xx];
                            }
                    y[((n * d->out_channels + o) * oh + i) * ow + j] = sum;
                }
}

/* A 3x3 stride-2 convolution with 16 input channels: its bf16 layer computes
 * the weight gradients in f32. */
static void check_strided_conv(advgnn_ctx *ctx)
{
    int64_t shape[4] = {2, 16, 9, 11};
    advgnn_conv2d_desc d = {.out_channels = 8, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                            .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;
    advgnn_tensor x;
    advgnn_rng rng;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "strided", ADVGNN_DTYPE_F32, shape, &d, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "strided_bf16", ADVGNN_DTYPE_BF16, shape, &d, &l16));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, 31));
    if (!l32 || (!l16 && nn_test_bf16(ctx)) || check_failures) {
        advgnn_nn_free(nn);
        return;
    }
    advgnn_rng_seed(&rng, 31);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    fill_uniform(&rng, x.data, advgnn_tensor_numel(&x), -1, 1);

    {
        const advgnn_tensor *y = advgnn_layer_output(l32);
        int64_t ny = advgnn_tensor_numel(y);
        double *ref = calloc((size_t)ny, sizeof(double)), diff = 0;

        CHECK(ref != NULL);
        CHECK_INT_EQ(y->shape[2], 5);
        CHECK_INT_EQ(y->shape[3], 6);
        NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_TRAINING));
        if (ref)
            reference_conv(shape, &d, y->shape[2], y->shape[3], x.data,
                           advgnn_layer_param(l32, "weight")->value->data,
                           advgnn_layer_param(l32, "bias")->value->data, ref);
        for (int64_t i = 0; ref && i < ny; i++)
            diff = fmax(diff, fabs(ref[i] - ((const float *)y->data)[i]));
        printf("reference %-30s max diff %.3g\n", advgnn_layer_name(l32), diff);
        CHECK(diff < 1e-5);
        free(ref);
    }
    gradcheck_layer(ctx, l32, (advgnn_tensor *const[]){&x}, 1e-2, 2e-3, 32);
    if (l16)
        compare_bf16_layer(ctx, l32, l16, (advgnn_tensor *const[]){&x}, 3e-2, 33);
    advgnn_tensor_release(&x);
    advgnn_nn_free(nn);
}

/* Batch norm over the batch statistics, in double. */
static void reference_batch_norm(const int64_t *shape, const float *x, const float *w, const float *b, double *y)
{
    int64_t n = shape[0], c = shape[1], plane = shape[2] * shape[3];

    for (int64_t ch = 0; ch < c; ch++) {
        double mean = 0, var = 0;

        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < plane; p++)
                mean += x[(i * c + ch) * plane + p];
        mean /= (double)(n * plane);
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < plane; p++)
                var += pow(x[(i * c + ch) * plane + p] - mean, 2);
        var /= (double)(n * plane);
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < plane; p++) {
                int64_t at = (i * c + ch) * plane + p;

                y[at] = (x[at] - mean) / sqrt(var + 1e-5) * w[ch] + b[ch];
            }
    }
}

/* 17 x 19 = 323 values per plane: the vector loops end in a partial vector.
 * The input values are offset by 20, so sums that lose precision show. */
static void check_batch_norm(advgnn_ctx *ctx)
{
    int64_t shape[4] = {3, 5, 17, 19};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL, *no_dx = NULL;
    advgnn_tensor x, dy;
    advgnn_rng rng;
    int64_t nx;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "bn", ADVGNN_DTYPE_F32, shape, 1e-5, 0.1, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "bn_bf16", ADVGNN_DTYPE_BF16, shape, 1e-5, 0.1, &l16));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "bn_no_dx", ADVGNN_DTYPE_F32, shape, 1e-5, 0.1, &no_dx));
    if (no_dx)
        advgnn_layer_set_input_grad(no_dx, 0);
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, 5));
    if (!l32 || (!l16 && nn_test_bf16(ctx)) || !no_dx || check_failures) {
        advgnn_nn_free(nn);
        return;
    }
    advgnn_rng_seed(&rng, 5);
    for (const char *names[] = {"weight", "bias", NULL}, **p = names; *p; p++) {
        fill_uniform(&rng, advgnn_layer_param(l32, *p)->value->data, shape[1], 0.5, 1.5);
        memcpy(advgnn_layer_param(no_dx, *p)->value->data, advgnn_layer_param(l32, *p)->value->data,
               (size_t)shape[1] * sizeof(float));
    }
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &dy, ADVGNN_DTYPE_F32, 4, shape));
    nx = advgnn_tensor_numel(&x);
    fill_uniform(&rng, x.data, nx, 19, 21);
    fill_uniform(&rng, dy.data, nx, -1, 1);

    {
        const advgnn_tensor *y = advgnn_layer_output(l32);
        double *ref = calloc((size_t)nx, sizeof(double)), diff = 0;

        CHECK(ref != NULL);
        NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_TRAINING));
        reference_batch_norm(shape, x.data, advgnn_layer_param(l32, "weight")->value->data,
                             advgnn_layer_param(l32, "bias")->value->data, ref);
        for (int64_t i = 0; ref && i < nx; i++)
            diff = fmax(diff, fabs(ref[i] - ((const float *)y->data)[i]));
        printf("reference bn (offset 20)             max diff %.3g\n", diff);
        CHECK(diff < 1e-4);
        free(ref);
    }

    /* Without an input gradient the parameter gradients stay the same. */
    NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    NN_CHECK_OK(ctx, advgnn_layer_backward(l32, ctx, &dy));
    NN_CHECK_OK(ctx, advgnn_layer_forward1(no_dx, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    NN_CHECK_OK(ctx, advgnn_layer_backward(no_dx, ctx, &dy));
    CHECK(advgnn_layer_input_grad(no_dx, 0) == NULL);
    for (const char *names[] = {"weight", "bias", NULL}, **p = names; *p; p++) {
        const advgnn_tensor *a = advgnn_layer_param(l32, *p)->grad, *b = advgnn_layer_param(no_dx, *p)->grad;

        CHECK(memcmp(a->data, b->data, (size_t)shape[1] * sizeof(float)) == 0);
    }

    gradcheck_layer(ctx, l32, (advgnn_tensor *const[]){&x}, 1e-2, 2e-3, 6);
    if (l16)
        compare_bf16_layer(ctx, l32, l16, (advgnn_tensor *const[]){&x}, 3e-2, 7);
    advgnn_tensor_release(&x);
    advgnn_tensor_release(&dy);
    advgnn_nn_free(nn);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    advgnn_ctx_set_threads(ctx, 2);
    check_conv1x1(ctx, 1, 11);
    check_conv1x1(ctx, 2, 21);
    check_strided_conv(ctx);
    check_batch_norm(ctx);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
