/* Batch normalization over (N, C, H, W) in NCHW, with running statistics
 * kept as PyTorch does. */
#include <math.h>
#include <string.h>

#include "nn/nn_internal.h"

typedef struct norm_layer {
    advgnn_layer base;
    double momentum;
    double epsilon;
    nn_param *weight, *bias, *running_mean, *running_var; /* (C) each */
    void *batch_mean, *batch_var; /* (C) f32 statistics of the last training forward; biased variance */
} norm_layer;

/* The kernels below work on one (H, W) plane of one image and channel at a
 * time. Such a plane is contiguous in NCHW, so each loop streams memory with
 * unit stride. Threads split the channels, so no two threads write one value and
 * the per-channel sums need no atomics. A channel's planes (8 x 56 x 56 f32
 * values = 100 KB in pyramid ViG's first stage) fit in L2 between its passes.
 *
 * oneDNN 2.6.3 has no JIT batch normalization for the plain NCHW layout
 * (it picks "ncsp_bnorm:any"), and in bf16 that path was 12x slower than
 * PyTorch in bench/torch. The sums are kept in double: in f32 the bias
 * gradient of a 32 x 32 plane drifted by 1e-4 relative to PyTorch's. */

/* Defines the per-plane kernels for one storage type: LOAD(p, i) reads
 * element i as float, STORE(p, i, v) writes it. */
#define NORM_KERNELS(suffix, type, LOAD, STORE)                                                               \
    NN_VECTOR static double plane_sum_##suffix(const type *x, int64_t n)                                       \
    {                                                                                                         \
        double sum = 0;                                                                                       \
        _Pragma("omp simd reduction(+ : sum)") for (int64_t i = 0; i < n; i++) sum += LOAD(x, i);             \
        return sum;                                                                                           \
    }                                                                                                         \
                                                                                                              \
    NN_VECTOR static double plane_squared_deviation_##suffix(const type *x, int64_t n, double mean)            \
    {                                                                                                         \
        double sum = 0;                                                                                       \
        _Pragma("omp simd reduction(+ : sum)") for (int64_t i = 0; i < n; i++)                                \
        {                                                                                                     \
            double d = (double)LOAD(x, i) - mean;                                                             \
            sum += d * d;                                                                                     \
        }                                                                                                     \
        return sum;                                                                                           \
    }                                                                                                         \
                                                                                                              \
    /* y = (x - mean) * scale + shift. Subtracting the mean first keeps the                                \
     * precision when |mean| is large against the standard deviation. */                                      \
    NN_VECTOR static void plane_affine_##suffix(const type *x, type *y, int64_t n, float mean, float scale,     \
                                               float shift)                                                   \
    {                                                                                                         \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) STORE(y, i, (LOAD(x, i) - mean) * scale + shift); \
    }                                                                                                         \
                                                                                                              \
    /* Adds sum(dy) and sum(dy * (x - mean)) of the plane to the two sums. */                                 \
    NN_VECTOR static void plane_grad_sums_##suffix(const type *x, const type *dy, int64_t n, double mean,     \
                                                  double *sum_dy, double *sum_dy_dx)                          \
    {                                                                                                         \
        double s0 = 0, s1 = 0;                                                                                \
        _Pragma("omp simd reduction(+ : s0, s1)") for (int64_t i = 0; i < n; i++)                             \
        {                                                                                                     \
            double g = LOAD(dy, i);                                                                           \
            s0 += g;                                                                                          \
            s1 += g * ((double)LOAD(x, i) - mean);                                                            \
        }                                                                                                     \
        *sum_dy += s0;                                                                                        \
        *sum_dy_dx += s1;                                                                                     \
    }                                                                                                         \
                                                                                                              \
    /* dx = dy * a + (x - mean) * b + c */                                                                   \
    NN_VECTOR static void plane_grad_input_##suffix(const type *x, const type *dy, type *dx, int64_t n,       \
                                                   float mean, float a, float b, float c)                     \
    {                                                                                                         \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                                   \
            STORE(dx, i, LOAD(dy, i) * a + (LOAD(x, i) - mean) * b + c);                                      \
    }

NORM_KERNELS(f32, float, NN_LOAD_F32, NN_STORE_F32)
NORM_KERNELS(bf16, uint16_t, NN_LOAD_BF16, NN_STORE_BF16)

/* The geometry of one call: planes of `plane` values, channel c of image i
 * at offset (i * channels + c) * plane. */
typedef struct norm_shape {
    int64_t images, channels, plane;
    int bf16;
} norm_shape;

static norm_shape shape_of(const advgnn_layer *l)
{
    const int64_t *s = l->input_shape[0];

    return (norm_shape){s[0], s[1], s[2] * s[3], l->dtype == ADVGNN_DTYPE_BF16};
}

static size_t plane_offset(const norm_shape *s, int64_t image, int64_t channel)
{
    return (size_t)((image * s->channels + channel) * s->plane);
}

/* Mean and biased variance of channel c, in two passes over its planes. */
static void channel_statistics(const norm_shape *s, const void *x, int64_t c, float *mean_out, float *var_out)
{
    double count = (double)s->images * (double)s->plane;
    double sum = 0, squares = 0, mean;

    for (int64_t i = 0; i < s->images; i++) {
        size_t at = plane_offset(s, i, c);

        sum += s->bf16 ? plane_sum_bf16((const uint16_t *)x + at, s->plane)
                       : plane_sum_f32((const float *)x + at, s->plane);
    }
    mean = sum / count;

    for (int64_t i = 0; i < s->images; i++) {
        size_t at = plane_offset(s, i, c);

        squares += s->bf16 ? plane_squared_deviation_bf16((const uint16_t *)x + at, s->plane, mean)
                           : plane_squared_deviation_f32((const float *)x + at, s->plane, mean);
    }
    *mean_out = (float)mean;
    *var_out = (float)(squares / count);
}

/* y = (x - mean) / sqrt(var + epsilon) * weight + bias for channel c. */
static void channel_normalize(const norm_shape *s, const void *x, void *y, int64_t c, float mean, float var,
                              double epsilon, float weight, float bias)
{
    float scale = (float)(weight / sqrt((double)var + epsilon));

    for (int64_t i = 0; i < s->images; i++) {
        size_t at = plane_offset(s, i, c);

        if (s->bf16)
            plane_affine_bf16((const uint16_t *)x + at, (uint16_t *)y + at, s->plane, mean, scale, bias);
        else
            plane_affine_f32((const float *)x + at, (float *)y + at, s->plane, mean, scale, bias);
    }
}

/* Normalizes with the batch statistics (training) or the running ones
 * (inference), then in training folds the batch statistics into the running
 * ones with the unbiased variance, as PyTorch's BatchNorm2d does. */
static int norm_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    norm_layer *b = (norm_layer *)l;
    norm_shape s = shape_of(l);
    int training = mode == ADVGNN_NN_MODE_TRAINING;
    double count = (double)s.images * (double)s.plane;
    double unbias = count > 1 ? count / (count - 1) : 1.0;
    const float *weight = b->weight->value.data, *bias = b->bias->value.data;
    float *rm = b->running_mean->value.data, *rv = b->running_var->value.data;
    float *batch_mean = b->batch_mean, *batch_var = b->batch_var;
    const void *x = l->input_data[0];
    void *y = l->output.data;

#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < s.channels; c++) {
        float mean = rm[c], var = rv[c];

        if (training) {
            channel_statistics(&s, x, c, &mean, &var);
            batch_mean[c] = mean;
            batch_var[c] = var;
        }
        channel_normalize(&s, x, y, c, mean, var, b->epsilon, weight[c], bias[c]);
    }

    for (int64_t c = 0; training && c < s.channels; c++) {
        rm[c] = (float)((1.0 - b->momentum) * rm[c] + b->momentum * batch_mean[c]);
        rv[c] = (float)((1.0 - b->momentum) * rv[c] + b->momentum * batch_var[c] * unbias);
    }
    return ADVGNN_OK;
}

/* With xhat = (x - mean) * inv_std over the M values of a channel:
 *   d bias = sum(dy), d weight = sum(dy * xhat),
 *   dx = weight * inv_std * (dy - d bias / M - xhat * d weight / M),
 * which is expanded to dx = dy * a + (x - mean) * b + c so that one pass
 * computes it. */
static int norm_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    norm_layer *b = (norm_layer *)l;
    norm_shape s = shape_of(l);
    double count = (double)s.images * (double)s.plane;
    const float *weight = b->weight->value.data, *batch_mean = b->batch_mean, *batch_var = b->batch_var;
    float *weight_grad = b->weight->grad.data, *bias_grad = b->bias->grad.data;
    const void *x = l->input_data[0], *dy = l->grad_output_data;
    void *dx = l->input_grad_enabled ? l->input_grad[0].data : NULL;

#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < s.channels; c++) {
        float mean = batch_mean[c];
        double inv_std = 1.0 / sqrt((double)batch_var[c] + b->epsilon);
        double sum_dy = 0, sum_dy_dx = 0, a, k;

        for (int64_t i = 0; i < s.images; i++) {
            size_t at = plane_offset(&s, i, c);

            if (s.bf16)
                plane_grad_sums_bf16((const uint16_t *)x + at, (const uint16_t *)dy + at, s.plane, mean, &sum_dy,
                                     &sum_dy_dx);
            else
                plane_grad_sums_f32((const float *)x + at, (const float *)dy + at, s.plane, mean, &sum_dy,
                                    &sum_dy_dx);
        }
        bias_grad[c] = (float)sum_dy;
        weight_grad[c] = (float)(sum_dy_dx * inv_std);
        if (!dx)
            continue;

        /* a = weight * inv_std, and xhat * d weight / M = (x - mean) * k
         * with k = inv_std^2 * sum_dy_dx / M. */
        a = weight[c] * inv_std;
        k = inv_std * inv_std * sum_dy_dx / count;
        for (int64_t i = 0; i < s.images; i++) {
            size_t at = plane_offset(&s, i, c);
            float fa = (float)a, fb = (float)(-a * k), fc = (float)(-a * sum_dy / count);

            if (s.bf16)
                plane_grad_input_bf16((const uint16_t *)x + at, (const uint16_t *)dy + at, (uint16_t *)dx + at,
                                      s.plane, mean, fa, fb, fc);
            else
                plane_grad_input_f32((const float *)x + at, (const float *)dy + at, (float *)dx + at, s.plane, mean,
                                     fa, fb, fc);
        }
    }
    return ADVGNN_OK;
}

static const nn_layer_ops norm_ops = {norm_forward, norm_backward, NULL};

int nn_is_batch_norm(const advgnn_layer *layer)
{
    return layer->ops == &norm_ops;
}

int nn_norm_inference_affine(advgnn_layer *layer, float *scale, float *shift)
{
    norm_layer *b = (norm_layer *)layer;
    const float *weight, *bias, *rm, *rv;

    if (layer->ops != &norm_ops)
        return 0;
    weight = b->weight->value.data;
    bias = b->bias->value.data;
    rm = b->running_mean->value.data;
    rv = b->running_var->value.data;
    for (int64_t c = 0; c < layer->input_shape[0][1]; c++) {
        /* The same scale as channel_normalize, so only the order of the
         * subtraction differs from the unfused layer. */
        scale[c] = (float)(weight[c] / sqrt((double)rv[c] + b->epsilon));
        shift[c] = bias[c] - rm[c] * scale[c];
    }

    /* The layer did not run: a backward must see an inference forward. */
    layer->trained = 0;
    return 1;
}

int advgnn_nn_batch_norm(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                         const int64_t input_shape[4], double epsilon, double momentum, advgnn_layer **out)
{
    advgnn_layer *l;
    norm_layer *b;
    int64_t c = input_shape[1];
    size_t stat_bytes = (size_t)c * sizeof(float);
    int rc;

    *out = NULL;
    if (!(epsilon > 0) || !(momentum >= 0 && momentum <= 1))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: batch-norm epsilon %g must be > 0 and momentum %g within [0, 1]",
                            name ? name : "(null)", epsilon, momentum);
    rc = nn_layer_new(nn, ctx, sizeof(norm_layer), &norm_ops, name, dtype, 1, (const int64_t(*)[4])input_shape, &l);
    if (rc != ADVGNN_OK)
        return rc;
    b = (norm_layer *)l;
    b->momentum = momentum;
    b->epsilon = epsilon;

    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, input_shape);
    if (rc == ADVGNN_OK)
        rc = nn_param_new(l, ctx, "weight", 1, &c, 1, NN_INIT_ONE, 0, &b->weight);
    if (rc == ADVGNN_OK)
        rc = nn_param_new(l, ctx, "bias", 1, &c, 1, NN_INIT_ZERO, 0, &b->bias);
    if (rc == ADVGNN_OK)
        rc = nn_param_new(l, ctx, "running_mean", 1, &c, 0, NN_INIT_ZERO, 0, &b->running_mean);
    if (rc == ADVGNN_OK)
        rc = nn_param_new(l, ctx, "running_var", 1, &c, 0, NN_INIT_ONE, 0, &b->running_var);
    if (rc == ADVGNN_OK)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, stat_bytes, &b->batch_mean);
    if (rc == ADVGNN_OK)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, stat_bytes, &b->batch_var);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}
