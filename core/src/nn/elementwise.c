/* Elementwise layers on oneDNN: activations (eltwise) and the sum of two
 * inputs (binary add). */
#include <string.h>

#include "nn/nn_internal.h"

static const nn_layer_ops plain_ops = {NULL, NULL, NULL};

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
    rc = nn_layer_new(nn, ctx, sizeof(advgnn_layer), &plain_ops, name, dtype, 1, (const int64_t(*)[4])input_shape,
                      &l);
    if (rc != ADVGNN_OK)
        return rc;

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
