/* Helpers of the nn and graph tests: random tensors, finite-difference
 * gradient checks and the bf16-against-f32 comparison of a layer. */
#ifndef ADVGNN_TEST_NN_TEST_H
#define ADVGNN_TEST_NN_TEST_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"

#define NN_CHECK_OK(ctx, expr)                                                                            \
    do {                                                                                                  \
        int rc_ = (expr);                                                                                 \
        if (rc_ != ADVGNN_OK) {                                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, advgnn_ctx_error(ctx)); \
            check_failures++;                                                                             \
            advgnn_ctx_clear_error(ctx);                                                                  \
        }                                                                                                 \
    } while (0)

/* Reports whether this CPU runs bf16 layers (advgnn_nn_bf16_supported):
 * 1 if so, else 0. oneDNN 2.6 needs AVX-512 for bf16, so on an AVX2-only
 * machine the tests skip their bf16 halves and check the f32 ones as
 * everywhere. The first call on such a machine prints the skip once and
 * checks the rejection itself: creating a bf16 layer fails with a message
 * that requests f32. */
static inline int nn_test_bf16(advgnn_ctx *ctx)
{
    static int reported;
    advgnn_nn *nn = NULL;
    advgnn_layer *layer = NULL;
    const int64_t shape[4] = {1, 2, 2, 2};

    if (advgnn_nn_bf16_supported())
        return 1;
    if (reported)
        return 0;
    reported = 1;
    printf("SKIP bf16 checks: oneDNN has no bf16 kernels on this CPU (it needs AVX-512)\n");
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    CHECK(advgnn_nn_activation(nn, ctx, "refused_bf16", ADVGNN_DTYPE_BF16, shape, ADVGNN_ACTIVATION_RELU, &layer) ==
          ADVGNN_ERR_BACKEND);
    CHECK(layer == NULL);
    CHECK(strstr(advgnn_ctx_error(ctx), "layer refused_bf16: bf16 needs a CPU with AVX-512") != NULL);
    CHECK(strstr(advgnn_ctx_error(ctx), "use f32") != NULL);
    printf("refusal: %s\n", advgnn_ctx_error(ctx));
    advgnn_ctx_clear_error(ctx);
    advgnn_nn_free(nn);
    return 0;
}

/* Fills `n` floats uniform in [lo, hi). */
static inline void fill_uniform(advgnn_rng *rng, float *x, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * advgnn_rng_uniform(rng));
}

/* Fills values at least `gap` away from zero (for kinks at 0: ReLU). */
static inline void fill_away_from_zero(advgnn_rng *rng, float *x, int64_t n, double gap)
{
    for (int64_t i = 0; i < n; i++) {
        double v = advgnn_rng_uniform(rng) * (1.0 - gap) + gap;

        x[i] = (float)(advgnn_rng_uniform(rng) < 0.5 ? -v : v);
    }
}

/* Fills distinct values spaced at least 1/n apart in a shuffled order, so a
 * max-pooling or max-relative argmax never ties and a small step never flips it. */
static inline void fill_distinct(advgnn_rng *rng, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((double)i / (double)n * 2.0 - 1.0);
    advgnn_rng_shuffle(rng, x, (uint64_t)n, sizeof(float));
}

static inline double max_abs(const float *x, int64_t n)
{
    double m = 0;

    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

static inline double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;

    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* L = sum(y * weights) after a training-mode forward, accumulated in double. */
static inline double weighted_output(advgnn_ctx *ctx, advgnn_layer *layer, const advgnn_tensor *const *inputs,
                              const float *weights)
{
    const advgnn_tensor *y = advgnn_layer_output(layer);
    const float *yd = y->data;
    int64_t n = advgnn_tensor_numel(y);
    double sum = 0;

    NN_CHECK_OK(ctx, advgnn_layer_forward(layer, ctx, inputs, ADVGNN_NN_MODE_TRAINING));
    for (int64_t i = 0; i < n; i++)
        sum += (double)yd[i] * weights[i];
    return sum;
}

/* Central differences of L over the entries of `x` (every entry when it has at
 * most 256, else 256 spread over it) against the analytic gradient `grad`.
 * Prints the maximum difference and counts a failure above `tol` relative
 * to max(1, |gradient|). */
static inline void compare_fd(advgnn_ctx *ctx, advgnn_layer *layer, const advgnn_tensor *const *inputs,
                       const float *weights, float *x, const float *grad, int64_t n, double eps, double tol,
                       const char *label)
{
    int64_t step = n > 256 ? n / 256 : 1;
    double worst = 0, worst_rel = 0;

    for (int64_t i = 0; i < n; i += step) {
        float saved = x[i];
        double lp, lm, numeric, diff;

        x[i] = (float)(saved + eps);
        lp = weighted_output(ctx, layer, inputs, weights);
        x[i] = (float)(saved - eps);
        lm = weighted_output(ctx, layer, inputs, weights);
        x[i] = saved;
        numeric = (lp - lm) / (2 * eps);
        diff = fabs(numeric - grad[i]);
        worst = fmax(worst, diff);
        worst_rel = fmax(worst_rel, diff / fmax(1.0, fabs(numeric)));
        if (diff > tol * fmax(1.0, fabs(numeric))) {
            fprintf(stderr, "  %s[%lld]: numeric %.6g analytic %.6g\n", label, (long long)i, numeric, grad[i]);
            check_failures++;
            return;
        }
    }
    printf("gradcheck %-28s max |numeric - analytic| = %.3g (relative %.3g)\n", label, worst, worst_rel);
}

/* Checks every input gradient and parameter gradient of an f32 layer by
 * finite differences of L = sum(y * w) with random w. */
static inline void gradcheck_layer(advgnn_ctx *ctx, advgnn_layer *layer, advgnn_tensor *const *inputs, double eps,
                            double tol, uint64_t seed)
{
    const advgnn_tensor *y = advgnn_layer_output(layer);
    int64_t ny = advgnn_tensor_numel(y);
    advgnn_tensor w;
    advgnn_rng rng;
    int count = advgnn_layer_input_count(layer);
    const advgnn_tensor *const *in = (const advgnn_tensor *const *)inputs;
    char label[160];

    advgnn_rng_seed(&rng, seed);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &w, ADVGNN_DTYPE_F32, 4, y->shape));
    fill_uniform(&rng, w.data, ny, -1, 1);

    NN_CHECK_OK(ctx, advgnn_layer_forward(layer, ctx, in, ADVGNN_NN_MODE_TRAINING));
    NN_CHECK_OK(ctx, advgnn_layer_backward(layer, ctx, &w));

    for (int k = 0; k < count; k++) {
        const advgnn_tensor *g = advgnn_layer_input_grad(layer, k);
        int64_t n = advgnn_tensor_numel(inputs[k]);
        advgnn_tensor copy;

        if (!g)
            continue;
        NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &copy, ADVGNN_DTYPE_F32, 4, g->shape));
        memcpy(copy.data, g->data, (size_t)n * sizeof(float));
        snprintf(label, sizeof(label), "%s.input%d", advgnn_layer_name(layer), k);
        compare_fd(ctx, layer, in, w.data, inputs[k]->data, copy.data, n, eps, tol, label);
        advgnn_tensor_release(&copy);
    }

    for (const char *names[] = {"weight", "bias", NULL}, **p = names; *p; p++) {
        const advgnn_nn_param *param = advgnn_layer_param(layer, *p);
        advgnn_tensor copy;
        int64_t n;

        if (!param || !param->grad)
            continue;
        n = advgnn_tensor_numel(param->grad);
        NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &copy, ADVGNN_DTYPE_F32, param->grad->ndim, param->grad->shape));
        memcpy(copy.data, param->grad->data, (size_t)n * sizeof(float));
        compare_fd(ctx, layer, in, w.data, param->value->data, copy.data, n, eps, tol, param->name);
        advgnn_tensor_release(&copy);
    }
    advgnn_tensor_release(&w);
}

/* Copies a tensor to a new tensor of another dtype (f32 <-> bf16). */
static inline void convert_tensor(advgnn_ctx *ctx, const advgnn_tensor *src, advgnn_tensor *dst, advgnn_dtype dtype)
{
    int64_t n = advgnn_tensor_numel(src);

    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, dst, dtype, src->ndim, src->shape));
    if (src->dtype == dtype)
        memcpy(dst->data, src->data, (size_t)n * advgnn_dtype_size(dtype));
    else if (dtype == ADVGNN_DTYPE_BF16)
        advgnn_f32_to_bf16(src->data, dst->data, (size_t)n);
    else
        advgnn_bf16_to_f32(src->data, dst->data, (size_t)n);
}

static inline void compare_tensors(advgnn_ctx *ctx, const advgnn_tensor *ref, const advgnn_tensor *got, double tol,
                            const char *label)
{
    advgnn_tensor a, b;
    int64_t n = advgnn_tensor_numel(ref);
    double diff, scale;

    convert_tensor(ctx, ref, &a, ADVGNN_DTYPE_F32);
    convert_tensor(ctx, got, &b, ADVGNN_DTYPE_F32);
    diff = max_abs_diff(a.data, b.data, n);
    scale = fmax(1e-3, max_abs(a.data, n));
    printf("bf16 vs f32 %-28s max diff %.3g (max |value| %.3g)\n", label, diff, scale);
    if (!(diff <= tol * scale)) {
        fprintf(stderr, "  %s: bf16 differs from f32 by %.3g, tolerance %.3g\n", label, diff, tol * scale);
        check_failures++;
    }
    advgnn_tensor_release(&a);
    advgnn_tensor_release(&b);
}

/* Runs an f32 layer and its bf16 twin (same parameters, bf16-rounded inputs
 * and output gradient) and compares output, input gradients and parameter
 * gradients with a relative tolerance `tol`. The f32 layer's inputs are
 * rounded to bf16 in place so that both see the same values. */
static inline void compare_bf16_layer(advgnn_ctx *ctx, advgnn_layer *f32, advgnn_layer *bf16, advgnn_tensor *const *inputs,
                               double tol, uint64_t seed)
{
    int count = advgnn_layer_input_count(f32);
    advgnn_tensor in16[8], dy32, dy16;
    const advgnn_tensor *in32c[8], *in16c[8];
    advgnn_rng rng;
    char label[160];

    for (int k = 0; k < count; k++) {
        convert_tensor(ctx, inputs[k], &in16[k], ADVGNN_DTYPE_BF16);
        advgnn_bf16_to_f32(in16[k].data, inputs[k]->data, (size_t)advgnn_tensor_numel(inputs[k]));
        in32c[k] = inputs[k];
        in16c[k] = &in16[k];
    }
    for (const char *names[] = {"weight", "bias", "running_mean", "running_var", NULL}, **p = names; *p; p++) {
        const advgnn_nn_param *a = advgnn_layer_param(f32, *p), *b = advgnn_layer_param(bf16, *p);

        if (a && b)
            memcpy(b->value->data, a->value->data, (size_t)advgnn_tensor_numel(a->value) * sizeof(float));
    }

    advgnn_rng_seed(&rng, seed);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &dy32, ADVGNN_DTYPE_F32, 4, advgnn_layer_output(f32)->shape));
    fill_uniform(&rng, dy32.data, advgnn_tensor_numel(&dy32), -1, 1);
    convert_tensor(ctx, &dy32, &dy16, ADVGNN_DTYPE_BF16);
    advgnn_bf16_to_f32(dy16.data, dy32.data, (size_t)advgnn_tensor_numel(&dy32));

    NN_CHECK_OK(ctx, advgnn_layer_forward(f32, ctx, in32c, ADVGNN_NN_MODE_TRAINING));
    NN_CHECK_OK(ctx, advgnn_layer_forward(bf16, ctx, in16c, ADVGNN_NN_MODE_TRAINING));
    NN_CHECK_OK(ctx, advgnn_layer_backward(f32, ctx, &dy32));
    NN_CHECK_OK(ctx, advgnn_layer_backward(bf16, ctx, &dy16));

    snprintf(label, sizeof(label), "%s.output", advgnn_layer_name(f32));
    compare_tensors(ctx, advgnn_layer_output(f32), advgnn_layer_output(bf16), tol, label);
    for (int k = 0; k < count; k++) {
        const advgnn_tensor *ga = advgnn_layer_input_grad(f32, k), *gb = advgnn_layer_input_grad(bf16, k);

        snprintf(label, sizeof(label), "%s.input%d.grad", advgnn_layer_name(f32), k);
        if (ga && gb)
            compare_tensors(ctx, ga, gb, tol, label);
    }
    for (const char *names[] = {"weight", "bias", NULL}, **p = names; *p; p++) {
        const advgnn_nn_param *a = advgnn_layer_param(f32, *p), *b = advgnn_layer_param(bf16, *p);

        snprintf(label, sizeof(label), "%s.grad", a ? a->name : "");
        if (a && b && a->grad)
            compare_tensors(ctx, a->grad, b->grad, tol, label);
    }

    for (int k = 0; k < count; k++)
        advgnn_tensor_release(&in16[k]);
    advgnn_tensor_release(&dy32);
    advgnn_tensor_release(&dy16);
}

#endif
