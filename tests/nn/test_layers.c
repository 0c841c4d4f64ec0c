/* Batch norm, activations, pooling, resize, add, broadcast add and concat:
 * forward against plain-C references in double, finite-difference
 * gradients, and the bf16 layers against the f32 ones. */
#include "nn_test.h"

typedef void (*reference_fn)(const advgnn_layer *layer, advgnn_tensor *const *inputs, double *out);

typedef enum fill_kind { FILL_UNIFORM, FILL_AWAY_FROM_ZERO, FILL_DISTINCT } fill_kind;

static int64_t at4(const int64_t *shape, int64_t n, int64_t c, int64_t h, int64_t w)
{
    return ((n * shape[1] + c) * shape[2] + h) * shape[3] + w;
}

/* Checks a pair of layers created in `nn` (f32 and its bf16 twin): commit,
 * reference forward, gradients by finite differences, bf16 against f32. */
static void check_pair(advgnn_ctx *ctx, advgnn_nn *nn, advgnn_layer *l32, advgnn_layer *l16, reference_fn reference,
                       fill_kind fill, double eps, double tol, uint64_t seed)
{
    int count;
    advgnn_tensor inputs[8];
    advgnn_tensor *in[8];
    advgnn_rng rng;

    if (!l32 || (!l16 && nn_test_bf16(ctx))) {
        check_failures++;
        return;
    }
    count = advgnn_layer_input_count(l32);
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, seed));
    advgnn_rng_seed(&rng, seed);

    /* Batch norm starts at scale 1 and shift 0, and broadcast add at 0.
     * Other values test more. */
    for (const char *names[] = {"weight", "bias", NULL}, **p = names; *p; p++) {
        const advgnn_nn_param *param = advgnn_layer_param(l32, *p);

        if (param)
            fill_uniform(&rng, param->value->data, advgnn_tensor_numel(param->value), 0.5, 1.5);
    }

    /* Input gradients are enabled, so they give the input shapes. */
    for (int k = 0; k < count; k++) {
        NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &inputs[k], ADVGNN_DTYPE_F32, 4, advgnn_layer_input_grad(l32, k)->shape));
        in[k] = &inputs[k];
        if (fill == FILL_DISTINCT)
            fill_distinct(&rng, inputs[k].data, advgnn_tensor_numel(&inputs[k]));
        else if (fill == FILL_AWAY_FROM_ZERO)
            fill_away_from_zero(&rng, inputs[k].data, advgnn_tensor_numel(&inputs[k]), 0.05);
        else
            fill_uniform(&rng, inputs[k].data, advgnn_tensor_numel(&inputs[k]), -2, 2);
    }

    if (reference) {
        const advgnn_tensor *y = advgnn_layer_output(l32);
        int64_t n = advgnn_tensor_numel(y);
        double *ref = calloc((size_t)n, sizeof(double)), diff = 0;

        NN_CHECK_OK(ctx, advgnn_layer_forward(l32, ctx, (const advgnn_tensor *const *)in, ADVGNN_NN_MODE_TRAINING));
        reference(l32, in, ref);
        for (int64_t i = 0; i < n; i++)
            diff = fmax(diff, fabs(ref[i] - ((const float *)y->data)[i]));
        printf("reference %-30s max diff %.3g\n", advgnn_layer_name(l32), diff);
        CHECK(diff < 1e-5);
        free(ref);
    }
    gradcheck_layer(ctx, l32, in, eps, tol, seed + 1);
    if (l16)
        compare_bf16_layer(ctx, l32, l16, in, 3e-2, seed + 2);
    for (int k = 0; k < count; k++)
        advgnn_tensor_release(&inputs[k]);
}

/* ---- batch norm -------------------------------------------------------- */

static void reference_batch_norm(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const advgnn_tensor *x = inputs[0];
    const float *xd = x->data, *w = advgnn_layer_param(l, "weight")->value->data;
    const float *b = advgnn_layer_param(l, "bias")->value->data;
    int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];

    for (int64_t ch = 0; ch < c; ch++) {
        double mean = 0, var = 0;

        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < hw; j++)
                mean += xd[(i * c + ch) * hw + j];
        mean /= (double)(n * hw);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < hw; j++)
                var += pow(xd[(i * c + ch) * hw + j] - mean, 2);
        var /= (double)(n * hw);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < hw; j++)
                out[(i * c + ch) * hw + j] = (xd[(i * c + ch) * hw + j] - mean) / sqrt(var + 1e-5) * w[ch] + b[ch];
    }
}

static void test_batch_norm(advgnn_ctx *ctx)
{
    int64_t shape[4] = {3, 4, 3, 5};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;
    advgnn_tensor x;
    advgnn_rng rng;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "bn", ADVGNN_DTYPE_F32, shape, 1e-5, 0.1, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "bn_bf16", ADVGNN_DTYPE_BF16, shape, 1e-5, 0.1, &l16));
    check_pair(ctx, nn, l32, l16, reference_batch_norm, FILL_UNIFORM, 1e-3, 1e-2, 11);

    /* Running statistics after one training forward on a fresh network:
     * mean 0.1 * batch mean, variance 0.9 + 0.1 * unbiased batch variance. */
    advgnn_nn_free(nn);
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "bn", ADVGNN_DTYPE_F32, shape, 1e-5, 0.1, &l32));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, 1));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    advgnn_rng_seed(&rng, 3);
    fill_uniform(&rng, x.data, advgnn_tensor_numel(&x), -1, 3);
    NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    {
        const float *xd = x.data, *rm = advgnn_layer_param(l32, "running_mean")->value->data;
        const float *rv = advgnn_layer_param(l32, "running_var")->value->data;
        const float *y;
        int64_t count = 3 * 15;

        for (int ch = 0; ch < 4; ch++) {
            double mean = 0, var = 0;

            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 15; j++)
                    mean += xd[(i * 4 + ch) * 15 + j];
            mean /= (double)count;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 15; j++)
                    var += pow(xd[(i * 4 + ch) * 15 + j] - mean, 2);
            var /= (double)(count - 1);
            CHECK_NEAR(rm[ch], 0.1 * mean, 1e-6);
            CHECK_NEAR(rv[ch], 0.9 + 0.1 * var, 1e-6);
        }

        /* Inference normalizes with the running statistics. */
        NN_CHECK_OK(ctx, advgnn_layer_forward1(l32, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
        y = advgnn_layer_output(l32)->data;
        CHECK_NEAR(y[0], (xd[0] - rm[0]) / sqrt(rv[0] + 1e-5), 1e-5);
        CHECK_NEAR(y[16], (xd[16] - rm[1]) / sqrt(rv[1] + 1e-5), 1e-5);
        CHECK_INT_EQ(advgnn_layer_backward(l32, ctx, &x), ADVGNN_ERR_INVALID_ARG);
        advgnn_ctx_clear_error(ctx);
    }
    advgnn_tensor_release(&x);
    advgnn_nn_free(nn);
}

/* ---- activations ------------------------------------------------------- */

static double activation_value(advgnn_activation kind, double x)
{
    switch (kind) {
    case ADVGNN_ACTIVATION_RELU: return x > 0 ? x : 0;
    case ADVGNN_ACTIVATION_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ADVGNN_ACTIVATION_TANH: return tanh(x);
    default: return 1 / (1 + exp(-x));
    }
}

static advgnn_activation current_activation;

static void reference_activation(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const float *x = inputs[0]->data;

    for (int64_t i = 0; i < advgnn_tensor_numel(inputs[0]); i++)
        out[i] = activation_value(current_activation, x[i]);
}

static void test_activations(advgnn_ctx *ctx)
{
    static const struct {
        advgnn_activation kind;
        const char *name;
    } kinds[] = {{ADVGNN_ACTIVATION_RELU, "relu"},
                 {ADVGNN_ACTIVATION_GELU, "gelu"},
                 {ADVGNN_ACTIVATION_TANH, "tanh"},
                 {ADVGNN_ACTIVATION_SIGMOID, "sigmoid"}};
    int64_t shape[4] = {2, 3, 4, 5};

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        advgnn_nn *nn = NULL;
        advgnn_layer *l32 = NULL, *l16 = NULL;
        char name16[32];

        snprintf(name16, sizeof(name16), "%s_bf16", kinds[i].name);
        current_activation = kinds[i].kind;
        NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
        NN_CHECK_OK(ctx, advgnn_nn_activation(nn, ctx, kinds[i].name, ADVGNN_DTYPE_F32, shape, kinds[i].kind, &l32));
        if (nn_test_bf16(ctx))
            NN_CHECK_OK(ctx, advgnn_nn_activation(nn, ctx, name16, ADVGNN_DTYPE_BF16, shape, kinds[i].kind, &l16));
        check_pair(ctx, nn, l32, l16, reference_activation, FILL_AWAY_FROM_ZERO, 1e-3, 1e-2, 20 + i);
        advgnn_nn_free(nn);
    }
}

/* ---- pooling ----------------------------------------------------------- */

static advgnn_pool_desc current_pool;

static void reference_pool(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const advgnn_pool_desc *d = &current_pool;
    const advgnn_tensor *x = inputs[0], *y = advgnn_layer_output(l);
    const float *xd = x->data;
    int sh = d->stride_h ? d->stride_h : d->kernel_h, sw = d->stride_w ? d->stride_w : d->kernel_w;

    for (int64_t n = 0; n < y->shape[0]; n++)
        for (int64_t c = 0; c < y->shape[1]; c++)
            for (int64_t i = 0; i < y->shape[2]; i++)
                for (int64_t j = 0; j < y->shape[3]; j++) {
                    double best = -INFINITY, sum = 0;

                    for (int kh = 0; kh < d->kernel_h; kh++)
                        for (int kw = 0; kw < d->kernel_w; kw++) {
                            int64_t yy = i * sh - d->pad_h + kh, xx = j * sw - d->pad_w + kw;

                            if (yy < 0 || yy >= x->shape[2] || xx < 0 || xx >= x->shape[3])
                                continue;
                            best = fmax(best, xd[at4(x->shape, n, c, yy, xx)]);
                            sum += xd[at4(x->shape, n, c, yy, xx)];
                        }
                    /* Padded cells count in the average (count_include_pad). */
                    out[at4(y->shape, n, c, i, j)] =
                        d->kind == ADVGNN_POOL_MAX ? best : sum / (d->kernel_h * d->kernel_w);
                }
}

static void test_pooling(advgnn_ctx *ctx)
{
    static const advgnn_pool_desc descs[] = {
        {ADVGNN_POOL_MAX, 2, 2, 0, 0, 0, 0},
        {ADVGNN_POOL_MAX, 3, 3, 2, 2, 1, 1},
        {ADVGNN_POOL_AVG, 2, 2, 0, 0, 0, 0},
        {ADVGNN_POOL_AVG, 3, 3, 1, 1, 1, 1},
        /* Without padding the f32 forward runs the engine's own loops: the
         * keys of a pyramid ViG stage (4 x 4, stride 4) and a window that
         * differs from its stride on each axis. */
        {ADVGNN_POOL_AVG, 4, 4, 4, 4, 0, 0},
        {ADVGNN_POOL_AVG, 2, 3, 1, 2, 0, 0},
    };
    int64_t shape[4] = {2, 3, 6, 7};

    for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
        advgnn_nn *nn = NULL;
        advgnn_layer *l32 = NULL, *l16 = NULL;
        char name[32], name16[48];

        snprintf(name, sizeof(name), "%s_pool%zu", descs[i].kind == ADVGNN_POOL_MAX ? "max" : "avg", i);
        snprintf(name16, sizeof(name16), "%s_bf16", name);
        current_pool = descs[i];
        NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
        NN_CHECK_OK(ctx, advgnn_nn_pool2d(nn, ctx, name, ADVGNN_DTYPE_F32, shape, &descs[i], &l32));
        if (nn_test_bf16(ctx))
            NN_CHECK_OK(ctx, advgnn_nn_pool2d(nn, ctx, name16, ADVGNN_DTYPE_BF16, shape, &descs[i], &l16));
        check_pair(ctx, nn, l32, l16, reference_pool, FILL_DISTINCT, 1e-3, 1e-2, 30 + i);
        advgnn_nn_free(nn);
    }
}

/* ---- resize ------------------------------------------------------------ */

static advgnn_nn_resize_kind current_resize;

/* PyTorch's interpolate: bilinear with half-pixel centres (align_corners=False),
 * source coordinates below 0 clamped to 0; nearest as floor(i * in / out). */
static void reference_resize(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const advgnn_tensor *x = inputs[0], *y = advgnn_layer_output(l);
    const float *xd = x->data;
    int64_t ih = x->shape[2], iw = x->shape[3], oh = y->shape[2], ow = y->shape[3];

    for (int64_t n = 0; n < y->shape[0]; n++)
        for (int64_t c = 0; c < y->shape[1]; c++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double sy = fmax(0.0, (i + 0.5) * ih / oh - 0.5), sx = fmax(0.0, (j + 0.5) * iw / ow - 0.5);
                    int64_t y0 = (int64_t)sy, x0 = (int64_t)sx;
                    int64_t y1 = y0 + 1 < ih ? y0 + 1 : ih - 1, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
                    double fy = sy - y0, fx = sx - x0;

                    if (current_resize == ADVGNN_NN_RESIZE_NEAREST) {
                        out[at4(y->shape, n, c, i, j)] = xd[at4(x->shape, n, c, i * ih / oh, j * iw / ow)];
                        continue;
                    }
                    out[at4(y->shape, n, c, i, j)] =
                        (1 - fy) * ((1 - fx) * xd[at4(x->shape, n, c, y0, x0)] + fx * xd[at4(x->shape, n, c, y0, x1)]) +
                        fy * ((1 - fx) * xd[at4(x->shape, n, c, y1, x0)] + fx * xd[at4(x->shape, n, c, y1, x1)]);
                }
}

static void test_resize(advgnn_ctx *ctx)
{
    static const struct {
        advgnn_nn_resize_kind kind;
        int h, w, out_h, out_w;
    } cases[] = {
        {ADVGNN_NN_RESIZE_BILINEAR, 4, 5, 8, 10},
        {ADVGNN_NN_RESIZE_BILINEAR, 6, 6, 4, 9},
        {ADVGNN_NN_RESIZE_NEAREST, 3, 4, 6, 12},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t shape[4] = {2, 2, cases[i].h, cases[i].w};
        advgnn_nn *nn = NULL;
        advgnn_layer *l32 = NULL, *l16 = NULL;
        char name[32], name16[48];

        snprintf(name, sizeof(name), "resize%zu", i);
        snprintf(name16, sizeof(name16), "%s_bf16", name);
        current_resize = cases[i].kind;
        NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
        NN_CHECK_OK(ctx, advgnn_nn_resize(nn, ctx, name, ADVGNN_DTYPE_F32, shape, cases[i].out_h, cases[i].out_w,
                                          cases[i].kind, &l32));
        if (nn_test_bf16(ctx))
            NN_CHECK_OK(ctx, advgnn_nn_resize(nn, ctx, name16, ADVGNN_DTYPE_BF16, shape, cases[i].out_h,
                                              cases[i].out_w, cases[i].kind, &l16));
        check_pair(ctx, nn, l32, l16, reference_resize, FILL_UNIFORM, 1e-2, 2e-3, 40 + i);
        advgnn_nn_free(nn);
    }
}

/* ---- add and concat ---------------------------------------------------- */

static void reference_add(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const float *a = inputs[0]->data, *b = inputs[1]->data;

    for (int64_t i = 0; i < advgnn_tensor_numel(inputs[0]); i++)
        out[i] = (double)a[i] + b[i];
}

static void reference_concat(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const advgnn_tensor *y = advgnn_layer_output(l);
    int64_t plane = y->shape[2] * y->shape[3];

    for (int64_t n = 0; n < y->shape[0]; n++) {
        int64_t channel = 0;

        for (int k = 0; k < advgnn_layer_input_count(l); k++) {
            const float *x = inputs[k]->data;
            int64_t ck = inputs[k]->shape[1];

            for (int64_t i = 0; i < ck * plane; i++)
                out[(n * y->shape[1] + channel) * plane + i] = x[n * ck * plane + i];
            channel += ck;
        }
    }
}

static void test_add_concat(advgnn_ctx *ctx)
{
    int64_t shape[4] = {2, 3, 4, 4};
    const int64_t shapes[3][4] = {{2, 3, 4, 4}, {2, 1, 4, 4}, {2, 5, 4, 4}};
    const int64_t bad[2][4] = {{2, 3, 4, 4}, {2, 3, 4, 5}};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_add(nn, ctx, "add", ADVGNN_DTYPE_F32, shape, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_add(nn, ctx, "add_bf16", ADVGNN_DTYPE_BF16, shape, &l16));
    check_pair(ctx, nn, l32, l16, reference_add, FILL_UNIFORM, 1e-2, 2e-3, 50);
    advgnn_nn_free(nn);

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_concat(nn, ctx, "concat", ADVGNN_DTYPE_F32, 3, shapes, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_concat(nn, ctx, "concat_bf16", ADVGNN_DTYPE_BF16, 3, shapes, &l16));
    check_pair(ctx, nn, l32, l16, reference_concat, FILL_UNIFORM, 1e-2, 2e-3, 51);
    CHECK_INT_EQ(advgnn_nn_concat(nn, ctx, "late", ADVGNN_DTYPE_F32, 3, shapes, &l32), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "after advgnn_nn_commit");
    advgnn_ctx_clear_error(ctx);
    advgnn_nn_free(nn);

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    CHECK_INT_EQ(advgnn_nn_concat(nn, ctx, "bad", ADVGNN_DTYPE_F32, 2, bad, &l32), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "concat input 1 is (2, 3, 4, 5)");
    advgnn_ctx_clear_error(ctx);
    advgnn_nn_free(nn);
}

/* ---- broadcast add ----------------------------------------------------- */

static void reference_broadcast_add(const advgnn_layer *l, advgnn_tensor *const *inputs, double *out)
{
    const advgnn_tensor *x = inputs[0];
    const float *xd = x->data, *p = advgnn_layer_param(l, "weight")->value->data;
    int64_t per_image = x->shape[1] * x->shape[2] * x->shape[3];

    for (int64_t n = 0; n < x->shape[0]; n++)
        for (int64_t i = 0; i < per_image; i++)
            out[n * per_image + i] = (double)xd[n * per_image + i] + p[i];
}

/* Checks forward, gradients and bf16 for a weight stored as (C, H*W, 1, 1)
 * and as (C, H, W, 1). With `images` > 2 it also checks that dP sums every
 * image. */
static void check_broadcast_add(advgnn_ctx *ctx, int64_t images, const int64_t weight_shape[4], uint64_t seed)
{
    const int64_t shape[4] = {images, 3, 4, 5};
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_broadcast_add(nn, ctx, "pos", ADVGNN_DTYPE_F32, shape, weight_shape, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx,
                    advgnn_nn_broadcast_add(nn, ctx, "pos_bf16", ADVGNN_DTYPE_BF16, shape, weight_shape, &l16));
    check_pair(ctx, nn, l32, l16, reference_broadcast_add, FILL_UNIFORM, 1e-2, 2e-3, seed);
    advgnn_nn_free(nn);
}

static void test_broadcast_add(advgnn_ctx *ctx)
{
    const int64_t shape[4] = {2, 3, 4, 5}, file_shape[4] = {3, 20, 1, 1}, grid_shape[4] = {3, 4, 5, 1};
    const int64_t wrong[4] = {3, 19, 1, 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *l = NULL;
    const advgnn_nn_param *w;

    check_broadcast_add(ctx, 2, file_shape, 60);
    check_broadcast_add(ctx, 5, grid_shape, 61);

    /* The parameter is named "<layer>.weight", keeps the given shape and
     * starts at zero whatever the seed. */
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_broadcast_add(nn, ctx, "pos_embed", ADVGNN_DTYPE_F32, shape, file_shape, &l));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(nn, ctx, 99));
    CHECK_INT_EQ(advgnn_nn_param_count(nn), 1);
    w = advgnn_nn_param_find(nn, "pos_embed.weight");
    CHECK(w != NULL);
    if (w)
        CHECK(w->grad != NULL);
    if (w) {
        CHECK_INT_EQ(w->value->ndim, 4);
        for (int d = 0; d < 4; d++)
            CHECK_INT_EQ(w->value->shape[d], file_shape[d]);
        CHECK(max_abs(w->value->data, advgnn_tensor_numel(w->value)) == 0.0);
    }
    advgnn_nn_free(nn);

    /* A weight with another count of values is rejected before any layer is added. */
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    l = NULL;
    CHECK_INT_EQ(advgnn_nn_broadcast_add(nn, ctx, "bad", ADVGNN_DTYPE_F32, shape, wrong, &l), ADVGNN_ERR_INVALID_ARG);
    CHECK(l == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "layer bad: weight shape (3, 19, 1, 1) must have C*H*W = 60 values");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_nn_param_count(nn), 0);

    /* Without bf16 kernels on this CPU a bf16 layer is rejected like the others. */
    if (!advgnn_nn_bf16_supported()) {
        CHECK_INT_EQ(advgnn_nn_broadcast_add(nn, ctx, "pos_bf16", ADVGNN_DTYPE_BF16, shape, file_shape, &l),
                     ADVGNN_ERR_BACKEND);
        CHECK(l == NULL);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "use f32");
        advgnn_ctx_clear_error(ctx);
    }
    advgnn_nn_free(nn);
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    advgnn_ctx_set_threads(ctx, 2);
    test_batch_norm(ctx);
    test_activations(ctx);
    test_pooling(ctx);
    test_resize(ctx);
    test_add_concat(ctx);
    test_broadcast_add(ctx);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
