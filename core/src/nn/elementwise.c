/* Elementwise layers: activations (oneDNN eltwise), the sum of two inputs
 * (oneDNN binary add) and the sum of an input and a learned tensor (own
 * kernels). */
#include <string.h>

#include "nn/nn_internal.h"

/* An activation layer; its own ops object identifies it (nn_activation_algorithm). */
typedef struct activation_layer {
    advgnn_layer base;
    dnnl_alg_kind_t algorithm;
} activation_layer;

static const nn_layer_ops activation_ops = {NULL, NULL, NULL};

static int activation_algorithm(advgnn_activation kind, dnnl_alg_kind_t *alg)
{
    switch (kind) {
    case ADVGNN_ACTIVATION_RELU: *alg = dnnl_eltwise_relu; return 1;
    case ADVGNN_ACTIVATION_GELU: *alg = dnnl_eltwise_gelu_erf; return 1;
    case ADVGNN_ACTIVATION_TANH: *alg = dnnl_eltwise_tanh; return 1;
    case ADVGNN_ACTIVATION_SIGMOID: *alg = dnnl_eltwise_logistic; return 1;
    default: return 0;
    }
}

/* Adds a step for `pd` whose arguments are bound to `slots` in order. */
static int add_step(advgnn_layer *l, advgnn_ctx *ctx, nn_steps *steps, dnnl_primitive_desc_t pd, int count,
                    const int *args, const dnnl_memory_desc_t *md, void **const *slots)
{
    int index;
    int rc = nn_step_add(l, ctx, steps, pd, &index);

    for (int i = 0; i < count && rc == ADVGNN_OK; i++)
        rc = nn_step_arg(l, ctx, steps, index, args[i], md, slots[i]);
    return rc;
}

int advgnn_nn_activation(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                         const int64_t input_shape[4], advgnn_activation kind, advgnn_layer **out)
{
    dnnl_eltwise_desc_t fwd_desc, bwd_desc;
    dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
    dnnl_memory_desc_t md;
    dnnl_alg_kind_t alg;
    advgnn_layer *l;
    int rc;

    *out = NULL;
    if (!activation_algorithm(kind, &alg))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: invalid activation %d", name ? name : "(null)",
                            (int)kind);
    rc = nn_layer_new(nn, ctx, sizeof(activation_layer), &activation_ops, name, dtype, 1,
                      (const int64_t(*)[4])input_shape, &l);
    if (rc != ADVGNN_OK)
        return rc;
    ((activation_layer *)l)->algorithm = alg;

    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, input_shape);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &md, input_shape, dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_eltwise_forward_desc_init(&fwd_desc, dnnl_forward_training, alg, &md, 0.f, 0.f), l,
                      "eltwise descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_eltwise_backward_desc_init(&bwd_desc, alg, &md, &md, 0.f, 0.f), l,
                      "eltwise descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &fwd, &fwd_desc, NULL, "eltwise forward");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &bwd, &bwd_desc, fwd, "eltwise backward");
    if (rc == ADVGNN_OK)
        rc = add_step(l, ctx, &l->fwd, fwd, 2, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DST}, &md,
                      (void **const[]){&l->input_data[0], &l->output.data});
    /* The backward reads the input, so the forward's input must stay valid. */
    if (rc == ADVGNN_OK)
        rc = add_step(l, ctx, &l->bwd_data, bwd, 3, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                      &md, (void **const[]){&l->input_data[0], &l->grad_output_data, &l->input_grad[0].data});
    if (fwd)
        dnnl_primitive_desc_destroy(fwd);
    if (bwd)
        dnnl_primitive_desc_destroy(bwd);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}

int nn_activation_algorithm(const advgnn_layer *layer, dnnl_alg_kind_t *algorithm)
{
    if (layer->ops != &activation_ops)
        return 0;
    *algorithm = ((const activation_layer *)layer)->algorithm;
    return 1;
}

/* ---- add --------------------------------------------------------------- */

/* d(a + b)/da = d(a + b)/db = 1: both input gradients are copies of the output gradient. */
static int add_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    size_t bytes = (size_t)advgnn_tensor_numel(&l->output) * advgnn_dtype_size(l->dtype);

    if (!l->input_grad_enabled)
        return ADVGNN_OK;
    memcpy(l->input_grad[0].data, l->grad_output_data, bytes);
    memcpy(l->input_grad[1].data, l->grad_output_data, bytes);
    return ADVGNN_OK;
}

static const nn_layer_ops add_ops = {NULL, add_backward, NULL};

int advgnn_nn_add(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                  const int64_t input_shape[4], advgnn_layer **out)
{
    const int64_t shapes[2][4] = {{input_shape[0], input_shape[1], input_shape[2], input_shape[3]},
                                  {input_shape[0], input_shape[1], input_shape[2], input_shape[3]}};
    dnnl_binary_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t md;
    advgnn_layer *l;
    int rc;

    *out = NULL;
    rc = nn_layer_new(nn, ctx, sizeof(advgnn_layer), &add_ops, name, dtype, 2, shapes, &l);
    if (rc != ADVGNN_OK)
        return rc;

    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, input_shape);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &md, input_shape, dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_binary_desc_init(&desc, dnnl_binary_add, &md, &md, &md), l, "binary descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &pd, &desc, NULL, "binary add");
    if (rc == ADVGNN_OK)
        rc = add_step(l, ctx, &l->fwd, pd, 3, (const int[]){DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST}, &md,
                      (void **const[]){&l->input_data[0], &l->input_data[1], &l->output.data});
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}

/* ---- broadcast add ----------------------------------------------------- */

/* oneDNN's binary add could broadcast P in the forward, but the backward,
 * dP = sum over the batch of dy, would need a oneDNN reduction as well. Plain
 * loops do both directions and read each value once. */
typedef struct broadcast_add_layer {
    advgnn_layer base;
    nn_param *weight; /* P: C*H*W values, in the shape the caller chose */
} broadcast_add_layer;

/* Defines the kernels for one storage type: LOAD(p, i) reads element i as
 * float, STORE(p, i, v) writes it. */
#define BROADCAST_ADD_KERNELS(suffix, type, LOAD, STORE)                                                      \
    NN_VECTOR static void row_add_##suffix(const type *x, const float *p, type *y, int64_t n)                  \
    {                                                                                                         \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) STORE(y, i, LOAD(x, i) + p[i]);                   \
    }                                                                                                         \
                                                                                                              \
    /* sum[i] = dy[i] for the first image, then sum[i] += dy[i] for each later one. */                       \
    NN_VECTOR static void row_accumulate_##suffix(const type *dy, float *sum, int64_t n, int first)            \
    {                                                                                                         \
        if (first) {                                                                                          \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) sum[i] = LOAD(dy, i);                         \
        } else {                                                                                              \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) sum[i] += LOAD(dy, i);                        \
        }                                                                                                     \
    }

BROADCAST_ADD_KERNELS(f32, float, NN_LOAD_F32, NN_STORE_F32)
BROADCAST_ADD_KERNELS(bf16, uint16_t, NN_LOAD_BF16, NN_STORE_BF16)

/* Threads split the (image, channel) planes, and plane r adds P's plane r % C. */
static int broadcast_add_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    const int64_t *s = l->input_shape[0];
    int64_t planes = s[0] * s[1], plane = s[2] * s[3];
    const float *p = ((broadcast_add_layer *)l)->weight->value.data;
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;
    const void *x = l->input_data[0];
    void *y = l->output.data;

#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < planes; r++) {
        size_t at = (size_t)(r * plane);
        const float *pr = p + (r % s[1]) * plane;

        if (bf16)
            row_add_bf16((const uint16_t *)x + at, pr, (uint16_t *)y + at, plane);
        else
            row_add_f32((const float *)x + at, pr, (float *)y + at, plane);
    }
    return ADVGNN_OK;
}

/* dx = dy, and dP = dy[0] + dy[1] + ... + dy[N-1] in f32, in that order.
 * Threads split the channels, so each writes its own part of dP. */
static int broadcast_add_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    const int64_t *s = l->input_shape[0];
    int64_t images = s[0], channels = s[1], plane = s[2] * s[3];
    float *dp = ((broadcast_add_layer *)l)->weight->grad.data;
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;
    const void *dy = l->grad_output_data;

#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < channels; c++) {
        for (int64_t n = 0; n < images; n++) {
            size_t at = (size_t)((n * channels + c) * plane);

            if (bf16)
                row_accumulate_bf16((const uint16_t *)dy + at, dp + c * plane, plane, n == 0);
            else
                row_accumulate_f32((const float *)dy + at, dp + c * plane, plane, n == 0);
        }
    }
    if (l->input_grad_enabled)
        memcpy(l->input_grad[0].data, dy, (size_t)advgnn_tensor_numel(&l->output) * advgnn_dtype_size(l->dtype));
    return ADVGNN_OK;
}

static const nn_layer_ops broadcast_add_ops = {broadcast_add_forward, broadcast_add_backward, NULL};

/* Returns the product of `count` positive dimensions, or -1 when one is not
 * positive or the product exceeds INT64_MAX. */
static int64_t checked_product(const int64_t *dims, int count)
{
    int64_t product = 1;

    for (int d = 0; d < count; d++) {
        if (dims[d] <= 0 || product > INT64_MAX / dims[d])
            return -1;
        product *= dims[d];
    }
    return product;
}

int advgnn_nn_broadcast_add(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                            const int64_t input_shape[4], const int64_t weight_shape[4], advgnn_layer **out)
{
    int64_t per_image = checked_product(input_shape + 1, 3), count = checked_product(weight_shape, 4);
    broadcast_add_layer *b;
    advgnn_layer *l;
    int rc;

    /* A non-positive input dimension is left to nn_layer_new, which names it. */
    *out = NULL;
    if (per_image < 0 && input_shape[1] > 0 && input_shape[2] > 0 && input_shape[3] > 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: an image of (%lld, %lld, %lld) has too many values",
                            name ? name : "(null)", (long long)input_shape[1], (long long)input_shape[2],
                            (long long)input_shape[3]);
    if (per_image > 0 && count != per_image)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: weight shape (%lld, %lld, %lld, %lld) must have C*H*W = %lld values for "
                            "inputs of shape (%lld, %lld, %lld, %lld)",
                            name ? name : "(null)", (long long)weight_shape[0], (long long)weight_shape[1],
                            (long long)weight_shape[2], (long long)weight_shape[3], (long long)per_image,
                            (long long)input_shape[0], (long long)input_shape[1], (long long)input_shape[2],
                            (long long)input_shape[3]);
    rc = nn_layer_new(nn, ctx, sizeof(broadcast_add_layer), &broadcast_add_ops, name, dtype, 1,
                      (const int64_t(*)[4])input_shape, &l);
    if (rc != ADVGNN_OK)
        return rc;
    b = (broadcast_add_layer *)l;

    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, input_shape);
    if (rc == ADVGNN_OK)
        rc = nn_param_new(l, ctx, "weight", 4, weight_shape, 1, NN_INIT_ZERO, 0, &b->weight);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}
