/* Concatenation along channels: oneDNN concat forward, and a backward that
 * copies each input's channel range of the output gradient. */
#include <string.h>

#include "nn/nn_internal.h"

/* Input k's gradient is channels [offset_k, offset_k + C_k) of the output
 * gradient, one contiguous block of C_k * H * W values per image. */
static int concat_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    int64_t n = l->output.shape[0], plane = l->output.shape[2] * l->output.shape[3];
    int64_t out_image = l->output.shape[1] * plane;
    size_t elem = advgnn_dtype_size(l->dtype);

    if (!l->input_grad_enabled)
        return ADVGNN_OK;

#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < l->input_count; k++) {
            int64_t offset = 0, block = l->input_shape[k][1] * plane;

            for (int j = 0; j < k; j++)
                offset += l->input_shape[j][1] * plane;
            memcpy((char *)l->input_grad[k].data + (size_t)(i * block) * elem,
                   (const char *)l->grad_output_data + (size_t)(i * out_image + offset) * elem, (size_t)block * elem);
        }
    }
    return ADVGNN_OK;
}

static const nn_layer_ops concat_ops = {NULL, concat_backward, NULL};

static int build_concat(advgnn_layer *l, advgnn_ctx *ctx)
{
    dnnl_memory_desc_t srcs[NN_MAX_INPUTS], dst;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int index, rc = ADVGNN_OK;

    for (int k = 0; k < l->input_count && rc == ADVGNN_OK; k++)
        rc = nn_md_nchw(l, ctx, &srcs[k], l->input_shape[k], l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &dst, l->output.shape, l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_primitive_attr_create(&attr), l, "concat attributes");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), l,
                      "concat attributes");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_concat_primitive_desc_create(&pd, &dst, l->input_count, 1, srcs, attr, l->nn->engine),
                      l, "concat creation");
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, &l->fwd, pd, &index);
    for (int k = 0; k < l->input_count && rc == ADVGNN_OK; k++)
        rc = nn_step_arg(l, ctx, &l->fwd, index, DNNL_ARG_MULTIPLE_SRC + k, &srcs[k], &l->input_data[k]);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->fwd, index, DNNL_ARG_DST, &dst, &l->output.data);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

int advgnn_nn_concat(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype, int count,
                     const int64_t (*input_shapes)[4], advgnn_layer **out)
{
    int64_t out_shape[4];
    advgnn_layer *l;
    int rc;

    *out = NULL;
    if (count < 1 || count > NN_MAX_INPUTS || !input_shapes)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: concat of %d inputs (1 to %d are supported)",
                            name ? name : "(null)", count, NN_MAX_INPUTS);
    memcpy(out_shape, input_shapes[0], sizeof(out_shape));
    out_shape[1] = 0;
    for (int k = 0; k < count; k++) {
        if (input_shapes[k][0] != out_shape[0] || input_shapes[k][2] != out_shape[2] ||
            input_shapes[k][3] != out_shape[3])
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "layer %s: concat input %d is (%lld, %lld, %lld, %lld); N, H and W must equal input 0's",
                                name ? name : "(null)", k, (long long)input_shapes[k][0], (long long)input_shapes[k][1],
                                (long long)input_shapes[k][2], (long long)input_shapes[k][3]);
        out_shape[1] += input_shapes[k][1];
    }

    rc = nn_layer_new(nn, ctx, sizeof(advgnn_layer), &concat_ops, name, dtype, count, input_shapes, &l);
    if (rc == ADVGNN_OK)
        rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, out_shape);
    if (rc == ADVGNN_OK)
        rc = build_concat(l, ctx);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}
