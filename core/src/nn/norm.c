/* Batch normalization on oneDNN, with running statistics kept as PyTorch does. */
#include <string.h>

#include "nn/nn_internal.h"

typedef struct norm_layer {
    advgnn_layer base;
    double momentum;
    nn_param *weight, *bias, *running_mean, *running_var; /* (C) each */
    void *batch_mean, *batch_var;  /* (C) f32 statistics of the last training forward */
    void *spare_input_grad;        /* (N, C, H, W) scratch: oneDNN always computes the input gradient */
} norm_layer;

/* Runs the forward, then folds the batch statistics into the running ones
 * with the unbiased variance (PyTorch's BatchNorm2d). */
static int norm_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    norm_layer *b = (norm_layer *)l;
    int64_t c = l->input_shape[0][1];
    double count = (double)l->input_shape[0][0] * l->input_shape[0][2] * l->input_shape[0][3];
    double unbias = count > 1 ? count / (count - 1) : 1.0;
    float *rm, *rv;
    const float *bm, *bv;
    int rc;

    if (mode == ADVGNN_NN_MODE_INFERENCE)
        return nn_steps_run(l, ctx, &l->fwd_infer);
    rc = nn_steps_run(l, ctx, &l->fwd);
    if (rc != ADVGNN_OK)
        return rc;

    rm = b->running_mean->value.data;
    rv = b->running_var->value.data;
    bm = b->batch_mean;
    bv = b->batch_var;
    for (int64_t i = 0; i < c; i++) {
        rm[i] = (float)((1.0 - b->momentum) * rm[i] + b->momentum * bm[i]);
        rv[i] = (float)((1.0 - b->momentum) * rv[i] + b->momentum * bv[i] * unbias);
    }
    return ADVGNN_OK;
}

static int norm_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    norm_layer *b = (norm_layer *)l;
    int rc;

    /* The primitive writes the input gradient in any case; without a consumer
     * it goes to a scratch buffer. */
    if (l->input_grad_enabled)
        return nn_steps_run(l, ctx, &l->bwd_data);
    l->input_grad[0].data = b->spare_input_grad;
    rc = nn_steps_run(l, ctx, &l->bwd_data);
    l->input_grad[0].data = NULL;
    return rc;
}

static const nn_layer_ops norm_ops = {norm_forward, norm_backward, NULL};

static int add_args(advgnn_layer *l, advgnn_ctx *ctx, nn_steps *steps, int index, const int *args,
                    const dnnl_memory_desc_t *const *mds, void **const *slots, int count)
{
    int rc = ADVGNN_OK;

    for (int i = 0; i < count && rc == ADVGNN_OK; i++)
        rc = nn_step_arg(l, ctx, steps, index, args[i], mds[i], slots[i]);
    return rc;
}

static int build_steps(norm_layer *b, advgnn_ctx *ctx, double epsilon)
{
    advgnn_layer *l = &b->base;
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    dnnl_batch_normalization_desc_t train_desc, infer_desc, bwd_desc;
    dnnl_primitive_desc_t train = NULL, infer = NULL, bwd = NULL;
    dnnl_memory_desc_t data, vec;
    int index, rc;

    rc = nn_md_nchw(l, ctx, &data, l->input_shape[0], l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_md_vector(l, ctx, &vec, l->input_shape[0][1]);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx,
                      dnnl_batch_normalization_forward_desc_init(&train_desc, dnnl_forward_training, &data,
                                                                 (float)epsilon, flags),
                      l, "batch-norm descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx,
                      dnnl_batch_normalization_forward_desc_init(&infer_desc, dnnl_forward_inference, &data,
                                                                 (float)epsilon, flags | dnnl_use_global_stats),
                      l, "batch-norm descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx,
                      dnnl_batch_normalization_backward_desc_init(&bwd_desc, dnnl_backward, &data, &data,
                                                                  (float)epsilon, flags),
                      l, "batch-norm descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &train, &train_desc, NULL, "batch-norm forward");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &infer, &infer_desc, NULL, "batch-norm inference");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &bwd, &bwd_desc, train, "batch-norm backward");

    if (rc == ADVGNN_OK) {
        const int args[] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN,
                            DNNL_ARG_VARIANCE};
        const dnnl_memory_desc_t *mds[] = {&data, &data, &vec, &vec, &vec, &vec};
        void **slots[] = {&l->input_data[0], &l->output.data, &b->weight->value.data, &b->bias->value.data,
                          &b->batch_mean, &b->batch_var};

        rc = nn_step_add(l, ctx, &l->fwd, train, &index);
        if (rc == ADVGNN_OK)
            rc = add_args(l, ctx, &l->fwd, index, args, mds, slots, 6);
    }
    if (rc == ADVGNN_OK) {
        const int args[] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN,
                            DNNL_ARG_VARIANCE};
        const dnnl_memory_desc_t *mds[] = {&data, &data, &vec, &vec, &vec, &vec};
        void **slots[] = {&l->input_data[0], &l->output.data, &b->weight->value.data, &b->bias->value.data,
                          &b->running_mean->value.data, &b->running_var->value.data};

        rc = nn_step_add(l, ctx, &l->fwd_infer, infer, &index);
        if (rc == ADVGNN_OK)
            rc = add_args(l, ctx, &l->fwd_infer, index, args, mds, slots, 6);
    }
    if (rc == ADVGNN_OK) {
        /* oneDNN 2.6 rejects the backward without the shift, though it does not read it. */
        const int args[] = {DNNL_ARG_SRC,       DNNL_ARG_MEAN,  DNNL_ARG_VARIANCE, DNNL_ARG_DIFF_DST,
                            DNNL_ARG_SCALE,     DNNL_ARG_SHIFT, DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_SCALE,
                            DNNL_ARG_DIFF_SHIFT};
        const dnnl_memory_desc_t *mds[] = {&data, &vec, &vec, &data, &vec, &vec, &data, &vec, &vec};
        void **slots[] = {&l->input_data[0],     &b->batch_mean,         &b->batch_var,
                          &l->grad_output_data,  &b->weight->value.data, &b->bias->value.data,
                          &l->input_grad[0].data, &b->weight->grad.data, &b->bias->grad.data};

        rc = nn_step_add(l, ctx, &l->bwd_data, bwd, &index);
        if (rc == ADVGNN_OK)
            rc = add_args(l, ctx, &l->bwd_data, index, args, mds, slots, 9);
    }
    if (train)
        dnnl_primitive_desc_destroy(train);
    if (infer)
        dnnl_primitive_desc_destroy(infer);
    if (bwd)
        dnnl_primitive_desc_destroy(bwd);
    return rc;
}

int advgnn_nn_batch_norm(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                         const int64_t input_shape[4], double epsilon, double momentum, advgnn_layer **out)
{
    advgnn_layer *l;
    norm_layer *b;
    int64_t c = input_shape[1];
    size_t stat_bytes = (size_t)c * sizeof(float);
    size_t data_bytes;
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
    data_bytes = (size_t)(input_shape[0] * c * input_shape[2] * input_shape[3]) * advgnn_dtype_size(dtype);

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
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, data_bytes, &b->spare_input_grad);
    if (rc == ADVGNN_OK)
        rc = build_steps(b, ctx, epsilon);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}
