/* Convolution and transposed convolution on oneDNN: forward, backward-data and
 * backward-weights, with the layouts picked by oneDNN and reorders built once. */
#include <immintrin.h>
#include <string.h>

#include "nn/nn_internal.h"

typedef struct conv_layer {
    advgnn_layer base;
    advgnn_conv2d_desc desc; /* with defaults filled */
    int transposed;
    nn_param *weight; /* conv (C_out, C_in / G, KH, KW); transposed (C_in, C_out / G, KH, KW) */
    nn_param *bias;   /* (C_out) or NULL */
    void *weight_grad_parts; /* matmul backward: (N, C_out, C_in) f32 weight gradient per image, scratch */
    void *columns;           /* matmul transposed forward: (C_out * KH * KW, H * W) f32 of one image, scratch */
    void *image_input;       /* matmul transposed forward: the image the matmul reads */
    void *packed_input;      /* matmul transposed forward on a whole batch: (C_in, N * H * W), scratch; else NULL */
    void *output_sums;       /* matmul transposed forward, bf16: (N, C_out, OH, OW) f32, scratch */

    /* Inference fusion (advgnn_nn_fuse_inference). fwd_infer runs with the
     * batch norm folded into its weights and bias and the activation as its
     * post-op. The (C_out) f32 scale, shift and folded bias and the folded
     * weights (plain layout) live in scratch. fused_ops is a copy of the
     * original ops with the forward replaced. */
    advgnn_layer *fused_norm, *fused_act; /* fused_act may be NULL */
    void *fused_scale, *fused_shift, *fused_bias, *fused_weights;
    nn_layer_ops fused_ops;
    int (*unfused_forward)(advgnn_layer *, advgnn_ctx *, advgnn_nn_mode); /* the forward before fusion; NULL: fwd */
} conv_layer;

static const nn_layer_ops conv_ops = {NULL, NULL, NULL};

static int fill_defaults(advgnn_ctx *ctx, const char *name, const advgnn_conv2d_desc *in, advgnn_conv2d_desc *d,
                         int64_t in_channels, int transposed)
{
    *d = *in;
    d->stride_h = d->stride_h ? d->stride_h : 1;
    d->stride_w = d->stride_w ? d->stride_w : 1;
    d->dilation_h = d->dilation_h ? d->dilation_h : 1;
    d->dilation_w = d->dilation_w ? d->dilation_w : 1;
    d->groups = d->groups ? d->groups : 1;

    if (d->out_channels <= 0 || d->kernel_h <= 0 || d->kernel_w <= 0 || d->stride_h < 0 || d->stride_w < 0 ||
        d->pad_h < 0 || d->pad_w < 0 || d->dilation_h < 0 || d->dilation_w < 0 || d->groups < 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: invalid convolution: out_channels %d, kernel %dx%d, stride %dx%d, pad %dx%d, "
                            "dilation %dx%d, groups %d",
                            name, d->out_channels, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h,
                            d->pad_w, d->dilation_h, d->dilation_w, d->groups);
    if (in_channels % d->groups != 0 || d->out_channels % d->groups != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: groups %d must divide the input channels %lld and output channels %d", name,
                            d->groups, (long long)in_channels, d->out_channels);
    if (!transposed && (d->output_pad_h || d->output_pad_w))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: output padding is for transposed convolutions",
                            name);
    /* PyTorch's rule: output padding must be smaller than the stride or the dilation. */
    if (d->output_pad_h < 0 || d->output_pad_w < 0 ||
        (d->output_pad_h >= d->stride_h && d->output_pad_h >= d->dilation_h) ||
        (d->output_pad_w >= d->stride_w && d->output_pad_w >= d->dilation_w))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: output padding %dx%d must be smaller than the stride or the dilation", name,
                            d->output_pad_h, d->output_pad_w);
    return ADVGNN_OK;
}

static int64_t out_size(int64_t in, int k, int s, int p, int dil, int out_pad, int transposed)
{
    int64_t span = (int64_t)dil * (k - 1) + 1;

    if (transposed)
        return (in - 1) * s - 2 * (int64_t)p + span + out_pad;
    return (in + 2 * (int64_t)p - span) / s + 1;
}

/* The weights as PyTorch stores them, described in oneDNN's dimension order. */
static int user_weights_md(conv_layer *c, advgnn_ctx *ctx, dnnl_memory_desc_t *md, int64_t in_channels)
{
    const advgnn_conv2d_desc *d = &c->desc;
    int64_t g = d->groups, o = d->out_channels, i = in_channels;
    dnnl_format_tag_t tag;
    dnnl_dims_t dims;
    int ndims;

    if (g == 1) {
        ndims = 4;
        dims[0] = o, dims[1] = i, dims[2] = d->kernel_h, dims[3] = d->kernel_w;
        tag = c->transposed ? dnnl_iohw : dnnl_oihw;
    } else {
        ndims = 5;
        dims[0] = g, dims[1] = o / g, dims[2] = i / g, dims[3] = d->kernel_h, dims[4] = d->kernel_w;
        tag = c->transposed ? dnnl_giohw : dnnl_goihw;
    }
    return nn_check(ctx, dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag), &c->base, "weights descriptor");
}

/* Makes `md` a format-any copy of `user` with `type`. */
static int any_md(advgnn_layer *layer, advgnn_ctx *ctx, const dnnl_memory_desc_t *user, dnnl_data_type_t type,
                  dnnl_memory_desc_t *md)
{
    return nn_check(ctx, dnnl_memory_desc_init_by_tag(md, user->ndims, user->dims, type, dnnl_format_tag_any), layer,
                    "memory descriptor");
}

typedef struct conv_mds {
    dnnl_memory_desc_t x, y, w, b;          /* user layouts */
    dnnl_memory_desc_t x_fwd, y_fwd;        /* for the forward: plain, or format any (see plain_forward) */
    dnnl_memory_desc_t x_any, y_any, w_any, dw_any;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_mds;

/* Returns nonzero when the forward should read and write the plain NCHW
 * tensors, for which oneDNN 2.6.3 runs a GEMM per image, instead of
 * reordering them to and from a blocked layout around its JIT 1x1 kernel.
 * That holds for unpadded 1x1 convolutions of stride 1 over at least
 * 28 x 28 pixels. At 8 x 48 x 56 x 56, bench/nn measured 0.30 ms per
 * direction of the two reorders (bf16), against 0.34 ms for the
 * convolution itself. With the GEMM form, the forward of the 1x1
 * convolutions at 28 x 28 and 56 x 56 went from 102-205 to 145-350 GFLOP/s
 * of CPU time on two Zen 4 cores. At 7 x 7 it was slower (8 x 384 x 7 x 7:
 * 147 instead of 187 GFLOP/s in f32), and 14 x 14 was unchanged.
 *
 * Inside the pvig_ti network, every such layer pays both reorders. There
 * f32 gains from the GEMM form at 14 x 14 as well, and grouped layers at
 * every size. On two AVX2 cores, the grouped 1x1 at 14 x 14 went from 0.34
 * to 0.19 ms per image (GELU then runs as a layer of its own), and the
 * FFN's first 1x1 from 0.63 to 0.61. bench_vig's inference went from 42.2
 * to 40.6 ms per image. Ungrouped 1x1 layers at 7 x 7 stayed slower in that
 * form. bf16 keeps the rule measured for it. */
static int plain_forward(const conv_layer *c)
{
    const advgnn_conv2d_desc *d = &c->desc;
    const int64_t *x = c->base.input_shape[0];
    int64_t pixels = x[2] * x[3];

    if (c->transposed || d->kernel_h != 1 || d->kernel_w != 1 || d->stride_h != 1 || d->stride_w != 1 ||
        d->pad_h != 0 || d->pad_w != 0)
        return 0;
    if (c->base.dtype == ADVGNN_DTYPE_BF16)
        return pixels >= 28 * 28;
    return pixels >= 14 * 14 || d->groups > 1;
}

static int init_mds(conv_layer *c, advgnn_ctx *ctx, conv_mds *m)
{
    advgnn_layer *l = &c->base;
    dnnl_data_type_t type = nn_dnnl_dtype(l->dtype);
    int rc;

    rc = nn_md_nchw(l, ctx, &m->x, l->input_shape[0], l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &m->y, l->output.shape, l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = user_weights_md(c, ctx, &m->w, l->input_shape[0][1]);
    if (rc == ADVGNN_OK)
        rc = nn_md_vector(l, ctx, &m->b, c->desc.out_channels);
    if (rc == ADVGNN_OK)
        rc = any_md(l, ctx, &m->x, type, &m->x_any);
    if (rc == ADVGNN_OK)
        rc = any_md(l, ctx, &m->y, type, &m->y_any);
    if (rc == ADVGNN_OK)
        rc = any_md(l, ctx, &m->w, type, &m->w_any);
    if (rc == ADVGNN_OK)
        rc = any_md(l, ctx, &m->w, dnnl_f32, &m->dw_any);

    m->x_fwd = plain_forward(c) ? m->x : m->x_any;
    m->y_fwd = plain_forward(c) ? m->y : m->y_any;

    /* oneDNN counts dilation from 0 (no gap) where PyTorch counts from 1. */
    m->strides[0] = c->desc.stride_h, m->strides[1] = c->desc.stride_w;
    m->dilates[0] = c->desc.dilation_h - 1, m->dilates[1] = c->desc.dilation_w - 1;
    m->pad_l[0] = m->pad_r[0] = c->desc.pad_h;
    m->pad_l[1] = m->pad_r[1] = c->desc.pad_w;
    return rc;
}

/* ---- primitive descriptors --------------------------------------------- */

/* Returns nonzero when oneDNN picked a JIT kernel other than its generic GEMM
 * fallback for `pd`. */
static int is_jit(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;

    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return 0;
    return strncmp(impl, "jit", 3) == 0;
}

/* For some bf16 shapes (grouped 1x1, 3 input channels) oneDNN 2.6.3 picks
 * its GEMM-based backward-weights kernel. bench/nn measured 68 ms of CPU time
 * for the grouped 1x1 at 56 x 56, batch 8, against 3.6 ms for the f32 JIT
 * kernel. For those layers, and for those of slow_bf16_weight_grads, the
 * weight gradients are therefore computed in f32 from f32 copies of the
 * input and the output gradient, which the reorders of nn_connect make. */
static int use_f32_weight_grads(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t pd[3])
{
    advgnn_layer *l = &c->base;
    const dnnl_memory_desc_t *bias = c->bias ? &m->b : NULL;
    dnnl_memory_desc_t x32, y32, w32;
    dnnl_convolution_desc_t cd[2];
    dnnl_deconvolution_desc_t dd[2];
    dnnl_primitive_desc_t hint = NULL, candidate = NULL;
    const void *op[2];
    dnnl_status_t st[2];
    int rc;

    rc = any_md(l, ctx, &m->x, dnnl_f32, &x32);
    if (rc == ADVGNN_OK)
        rc = any_md(l, ctx, &m->y, dnnl_f32, &y32);
    if (rc == ADVGNN_OK)
        rc = any_md(l, ctx, &m->w, dnnl_f32, &w32);
    if (rc != ADVGNN_OK)
        return rc;
    if (c->transposed) {
        st[0] = dnnl_dilated_deconvolution_forward_desc_init(&dd[0], dnnl_forward_training, dnnl_deconvolution_direct,
                                                             &x32, &w32, bias, &y32, m->strides, m->dilates, m->pad_l,
                                                             m->pad_r);
        st[1] = dnnl_dilated_deconvolution_backward_weights_desc_init(&dd[1], dnnl_deconvolution_direct, &x32, &w32,
                                                                      bias, &y32, m->strides, m->dilates, m->pad_l,
                                                                      m->pad_r);
        op[0] = &dd[0], op[1] = &dd[1];
    } else {
        st[0] = dnnl_dilated_convolution_forward_desc_init(&cd[0], dnnl_forward_training, dnnl_convolution_direct,
                                                           &x32, &w32, bias, &y32, m->strides, m->dilates, m->pad_l,
                                                           m->pad_r);
        st[1] = dnnl_dilated_convolution_backward_weights_desc_init(&cd[1], dnnl_convolution_direct, &x32, &w32,
                                                                    bias, &y32, m->strides, m->dilates, m->pad_l,
                                                                    m->pad_r);
        op[0] = &cd[0], op[1] = &cd[1];
    }
    if (st[0] != dnnl_success || st[1] != dnnl_success)
        return ADVGNN_OK;

    /* Failures only mean no better kernel, so the first choice stays. */
    if (nn_pd_create(l, NULL, &hint, op[0], NULL, "f32 convolution forward") == ADVGNN_OK &&
        nn_pd_create(l, NULL, &candidate, op[1], hint, "f32 convolution backward-weights") == ADVGNN_OK &&
        is_jit(candidate)) {
        dnnl_primitive_desc_destroy(pd[2]);
        pd[2] = candidate;
        candidate = NULL;
    }
    if (candidate)
        dnnl_primitive_desc_destroy(candidate);
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    return ADVGNN_OK;
}

/* oneDNN 2.6.3's bf16 transposed-convolution forward (jit_bf16, which runs
 * its backward-data kernel) took 29 ms of CPU time for 8 x 48 x 56 x 56 ->
 * 24 x 112 x 112 with a 4x4 kernel of stride 2 in bench/nn, against 11 ms
 * for the f32 JIT kernel. Where the matmul forward below does not apply
 * (groups, dilation), a bf16 transposed convolution therefore runs its
 * oneDNN forward in f32. The reorders that nn_connect adds widen the input
 * to f32 and round the output to bf16, and the weights are the f32 master
 * copy. Replaces pd[0] only when the f32 kernel is a JIT one. */
static int use_f32_transposed_forward(conv_layer *c, conv_mds *m, dnnl_primitive_desc_t pd[3])
{
    advgnn_layer *l = &c->base;
    const dnnl_memory_desc_t *bias = c->bias ? &m->b : NULL;
    dnnl_memory_desc_t x32, y32, w32;
    dnnl_deconvolution_desc_t desc;
    dnnl_primitive_desc_t candidate = NULL;

    /* Failures only mean no better kernel, so the first choice stays. */
    if (any_md(l, NULL, &m->x, dnnl_f32, &x32) != ADVGNN_OK || any_md(l, NULL, &m->y, dnnl_f32, &y32) != ADVGNN_OK ||
        any_md(l, NULL, &m->w, dnnl_f32, &w32) != ADVGNN_OK)
        return ADVGNN_OK;
    if (dnnl_dilated_deconvolution_forward_desc_init(&desc, dnnl_forward_training, dnnl_deconvolution_direct, &x32,
                                                     &w32, bias, &y32, m->strides, m->dilates, m->pad_l,
                                                     m->pad_r) != dnnl_success)
        return ADVGNN_OK;
    if (nn_pd_create(l, NULL, &candidate, &desc, NULL, "f32 transposed convolution forward") != ADVGNN_OK)
        return ADVGNN_OK;
    if (is_jit(candidate)) {
        dnnl_primitive_desc_destroy(pd[0]);
        pd[0] = candidate;
        candidate = NULL;
    }
    if (candidate)
        dnnl_primitive_desc_destroy(candidate);
    return ADVGNN_OK;
}

/* Returns nonzero for the strided convolutions whose bf16 backward-weights
 * JIT kernel (jit_bf16 in oneDNN 2.6.3) is slower than the f32 one. In
 * bench/nn the 3x3 stride-2 downsamples 48 -> 96, 96 -> 240 and 240 -> 384
 * took 27-35 ms of CPU time for their bf16 backward, against 5.0-5.5 ms with
 * f32 weight gradients. The stem's 24 -> 48 was faster in bf16 (5.5 against
 * 7.4 ms).
 * NOTE: the rule (input channels per group a multiple of 16) separates only
 * these measured shapes, and other strided shapes may fall on either side. */
static int slow_bf16_weight_grads(const conv_layer *c)
{
    int64_t group_channels = c->base.input_shape[0][1] / c->desc.groups;

    return !c->transposed && (c->desc.stride_h > 1 || c->desc.stride_w > 1) && group_channels % 16 == 0;
}

static int create_pds(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t pd[3])
{
    advgnn_layer *l = &c->base;
    const dnnl_memory_desc_t *bias = c->bias ? &m->b : NULL;
    dnnl_convolution_desc_t cd[3];
    dnnl_deconvolution_desc_t dd[3];
    dnnl_status_t st[3];
    const void *op[3];
    int rc;

    if (c->transposed) {
        st[0] = dnnl_dilated_deconvolution_forward_desc_init(&dd[0], dnnl_forward_training, dnnl_deconvolution_direct,
                                                             &m->x_fwd, &m->w_any, bias, &m->y_fwd, m->strides,
                                                             m->dilates, m->pad_l, m->pad_r);
        st[1] = dnnl_dilated_deconvolution_backward_data_desc_init(&dd[1], dnnl_deconvolution_direct, &m->x_any,
                                                                   &m->w_any, &m->y_any, m->strides, m->dilates,
                                                                   m->pad_l, m->pad_r);
        st[2] = dnnl_dilated_deconvolution_backward_weights_desc_init(&dd[2], dnnl_deconvolution_direct, &m->x_any,
                                                                      &m->dw_any, bias, &m->y_any, m->strides,
                                                                      m->dilates, m->pad_l, m->pad_r);
        op[0] = &dd[0], op[1] = &dd[1], op[2] = &dd[2];
    } else {
        st[0] = dnnl_dilated_convolution_forward_desc_init(&cd[0], dnnl_forward_training, dnnl_convolution_direct,
                                                           &m->x_fwd, &m->w_any, bias, &m->y_fwd, m->strides,
                                                           m->dilates, m->pad_l, m->pad_r);
        st[1] = dnnl_dilated_convolution_backward_data_desc_init(&cd[1], dnnl_convolution_direct, &m->x_any,
                                                                 &m->w_any, &m->y_any, m->strides, m->dilates,
                                                                 m->pad_l, m->pad_r);
        st[2] = dnnl_dilated_convolution_backward_weights_desc_init(&cd[2], dnnl_convolution_direct, &m->x_any,
                                                                    &m->dw_any, bias, &m->y_any, m->strides,
                                                                    m->dilates, m->pad_l, m->pad_r);
        op[0] = &cd[0], op[1] = &cd[1], op[2] = &cd[2];
    }
    for (int i = 0; i < 3; i++) {
        rc = nn_check(ctx, st[i], l, "convolution descriptor");
        if (rc != ADVGNN_OK)
            return rc;
    }

    rc = nn_pd_create(l, ctx, &pd[0], op[0], NULL, "convolution forward");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &pd[1], op[1], pd[0], "convolution backward-data");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &pd[2], op[2], pd[0], "convolution backward-weights");
    if (rc == ADVGNN_OK && l->dtype == ADVGNN_DTYPE_BF16 && (!is_jit(pd[2]) || slow_bf16_weight_grads(c)))
        rc = use_f32_weight_grads(c, ctx, m, pd);

    /* After the backward descriptors, which took the bf16 forward as their hint. */
    if (rc == ADVGNN_OK && l->dtype == ADVGNN_DTYPE_BF16 && c->transposed)
        rc = use_f32_transposed_forward(c, m, pd);
    return rc;
}

/* ---- steps ------------------------------------------------------------- */

/* Where the steps of a forward convolution read and write. */
typedef struct conv_slots {
    nn_steps *steps;          /* the list the steps go to */
    advgnn_nn_arena x_arena;  /* arena of the reordered input, when the primitive needs one */
    void **weights;           /* plain (PyTorch-layout) f32 weights */
    void **bias;              /* (C_out) f32 bias, or NULL for none */
    void **output;            /* plain output tensor */
    void ***x_slot;           /* receives the slot the primitive reads its input from */
} conv_slots;

/* Appends the input and weight reorders where the layouts of `pd` differ from
 * the plain ones, the convolution, and the output reorder. */
static int add_conv_steps(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t pd,
                          const conv_slots *slots)
{
    advgnn_layer *l = &c->base;
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    nn_steps post = {0};
    void **w_slot, **y_slot;
    int index, rc;

    rc = nn_connect(l, ctx, slots->steps, &m->x, src, &l->input_data[0], 0, slots->x_arena, slots->x_slot);
    if (rc == ADVGNN_OK)
        rc = nn_connect(l, ctx, slots->steps, &m->w, wei, slots->weights, 0, ADVGNN_NN_ARENA_SCRATCH, &w_slot);
    if (rc == ADVGNN_OK)
        rc = nn_connect(l, ctx, &post, &m->y, dst, slots->output, 1, ADVGNN_NN_ARENA_SCRATCH, &y_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, slots->steps, pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, slots->steps, index, DNNL_ARG_SRC, src, *slots->x_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, slots->steps, index, DNNL_ARG_WEIGHTS, wei, w_slot);
    if (rc == ADVGNN_OK && slots->bias)
        rc = nn_step_arg(l, ctx, slots->steps, index, DNNL_ARG_BIAS, &m->b, slots->bias);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, slots->steps, index, DNNL_ARG_DST, dst, y_slot);
    if (rc == ADVGNN_OK)
        rc = nn_steps_append(ctx, slots->steps, &post);
    advgnn_free(post.items);
    return rc;
}

/* The training forward. The reordered input lives in the activation arena,
 * because backward-weights reuses it. */
static int build_forward(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t pd, void ***x_slot)
{
    conv_slots slots = {&c->base.fwd, ADVGNN_NN_ARENA_ACTIVATIONS, &c->weight->value.data,
                        c->bias ? &c->bias->value.data : NULL, &c->base.output.data, x_slot};

    return add_conv_steps(c, ctx, m, pd, &slots);
}

static int build_backward_data(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t pd)
{
    advgnn_layer *l = &c->base;
    const dnnl_memory_desc_t *dsrc = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0);
    const dnnl_memory_desc_t *wei = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *ddst = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);
    nn_steps post = {0};
    void **dy_slot, **w_slot, **dx_slot;
    int index, rc;

    rc = nn_connect(l, ctx, &l->bwd_data, &m->y, ddst, &l->grad_output_data, 0, ADVGNN_NN_ARENA_SCRATCH, &dy_slot);
    if (rc == ADVGNN_OK)
        rc = nn_connect(l, ctx, &l->bwd_data, &m->w, wei, &c->weight->value.data, 0, ADVGNN_NN_ARENA_SCRATCH,
                        &w_slot);
    if (rc == ADVGNN_OK)
        rc = nn_connect(l, ctx, &post, &m->x, dsrc, &l->input_grad[0].data, 1, ADVGNN_NN_ARENA_SCRATCH, &dx_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, &l->bwd_data, pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_data, index, DNNL_ARG_DIFF_DST, ddst, dy_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_data, index, DNNL_ARG_WEIGHTS, wei, w_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_data, index, DNNL_ARG_DIFF_SRC, dsrc, dx_slot);
    if (rc == ADVGNN_OK)
        rc = nn_steps_append(ctx, &l->bwd_data, &post);
    advgnn_free(post.items);
    return rc;
}

static int build_backward_weights(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t fwd_pd,
                                  dnnl_primitive_desc_t pd, void **fwd_x_slot)
{
    advgnn_layer *l = &c->base;
    const dnnl_memory_desc_t *fwd_src = fwd_pd ? dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_src_md, 0) : NULL;
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dwei = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *ddst = dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0);
    nn_steps post = {0};
    void **x_slot = fwd_x_slot, **dy_slot, **dw_slot;
    int index, rc = ADVGNN_OK;

    if (!fwd_src || !dnnl_memory_desc_equal(fwd_src, src))
        rc = nn_connect(l, ctx, &l->bwd_weights, &m->x, src, &l->input_data[0], 0, ADVGNN_NN_ARENA_SCRATCH, &x_slot);
    if (rc == ADVGNN_OK)
        rc = nn_connect(l, ctx, &l->bwd_weights, &m->y, ddst, &l->grad_output_data, 0, ADVGNN_NN_ARENA_SCRATCH,
                        &dy_slot);
    if (rc == ADVGNN_OK)
        rc = nn_connect(l, ctx, &post, &m->w, dwei, &c->weight->grad.data, 1, ADVGNN_NN_ARENA_SCRATCH, &dw_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, &l->bwd_weights, pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_SRC, src, x_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_DIFF_DST, ddst, dy_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_DIFF_WEIGHTS, dwei, dw_slot);
    if (rc == ADVGNN_OK && c->bias)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_DIFF_BIAS, &m->b, &c->bias->grad.data);
    if (rc == ADVGNN_OK)
        rc = nn_steps_append(ctx, &l->bwd_weights, &post);
    advgnn_free(post.items);
    return rc;
}

/* ---- backward of 1x1 convolutions as matrix products -------------------- */

/* For a 1x1 convolution of stride 1 on NCHW, group g of image n is the
 * matrix X[n, g] (C_in / G, H * W) and Y[n, g] = W_g X[n, g] + b_g, so
 *   dX[n, g] = W_g^T dY[n, g]              (one matmul batched over n and g)
 *   dW_g = sum_n dY[n, g] X[n, g]^T        (a batched matmul, then a sum over n)
 *   db = sum over n and pixels of dY.
 * oneDNN 2.6.3 runs these on its brgemm matmul kernels straight from the
 * plain tensors. Its 1x1 convolution backward needs blocked layouts, and
 * its f32 backward-weights kernel took 12 ms of wall time on a loaded
 * machine for 8 x 48 x 56 x 56, 48 -> 48, against 1.9 ms for the forward.
 * With the matmuls, bench/nn measured the backward of the stage-1 and
 * stage-2 1x1 convolutions at 150-195 GFLOP/s in f32 and 280-350 in bf16
 * (CPU time on two Zen 4 cores), up from 46-138 and 93-206. */

/* Returns the sum of one (H, W) plane, accumulated in double. */
#define BIAS_GRAD_KERNEL(suffix, type, LOAD)                                                                   \
    NN_VECTOR static double plane_sum_##suffix(const type *x, int64_t n)                                      \
    {                                                                                                          \
        double sum = 0;                                                                                        \
        _Pragma("omp simd reduction(+ : sum)") for (int64_t i = 0; i < n; i++) sum += LOAD(x, i);            \
        return sum;                                                                                            \
    }

BIAS_GRAD_KERNEL(f32, float, NN_LOAD_F32)
BIAS_GRAD_KERNEL(bf16, uint16_t, NN_LOAD_BF16)

/* Runs the backward-data matmul when input gradients are enabled, the
 * per-image weight-gradient matmul, then the sums over the images. */
static int matmul_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    conv_layer *c = (conv_layer *)l;
    int64_t images = l->input_shape[0][0], in_c = l->input_shape[0][1];
    int64_t out_c = c->desc.out_channels, plane = l->output.shape[2] * l->output.shape[3];
    int64_t matrix = out_c * (in_c / c->desc.groups);
    const float *parts = c->weight_grad_parts;
    float *weight_grad = c->weight->grad.data;
    float *bias_grad = c->bias ? c->bias->grad.data : NULL;
    const void *dy = l->grad_output_data;
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;
    int rc = ADVGNN_OK;

    if (l->input_grad_enabled)
        rc = nn_steps_run(l, ctx, &l->bwd_data);
    if (rc == ADVGNN_OK)
        rc = nn_steps_run(l, ctx, &l->bwd_weights);
    if (rc != ADVGNN_OK)
        return rc;

#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < matrix; i++) {
        float sum = 0;

        for (int64_t n = 0; n < images; n++)
            sum += parts[n * matrix + i];
        weight_grad[i] = sum;
    }

#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < (bias_grad ? out_c : 0); o++) {
        double sum = 0;

        for (int64_t n = 0; n < images; n++) {
            size_t at = (size_t)((n * out_c + o) * plane);

            sum += bf16 ? plane_sum_bf16((const uint16_t *)dy + at, plane) : plane_sum_f32((const float *)dy + at, plane);
        }
        bias_grad[o] = (float)sum;
    }
    return ADVGNN_OK;
}

static const nn_layer_ops conv_matmul_ops = {NULL, matmul_backward, NULL};

/* Returns nonzero when the backward runs as matrix products: the layers
 * whose forward reads the plain tensors. */
static int use_matmul_backward(const conv_layer *c)
{
    return plain_forward(c);
}

/* Describes a 4-D stack of matrices (images, groups, rows, columns) with
 * explicit strides. */
static int strided_md(advgnn_layer *l, dnnl_memory_desc_t *md, dnnl_data_type_t type, const int64_t dims[4],
                      const int64_t strides[4])
{
    dnnl_dims_t d = {dims[0], dims[1], dims[2], dims[3]}, st = {strides[0], strides[1], strides[2], strides[3]};

    return nn_check(NULL, dnnl_memory_desc_init_by_strides(md, 4, d, type, st), l, "matmul descriptor");
}

/* Creates the matmul src x weights -> dst. *pd stays NULL when oneDNN offers
 * only its reference kernel, which is far slower than the convolution. */
static int matmul_pd(advgnn_layer *l, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *weights,
                     const dnnl_memory_desc_t *dst, dnnl_primitive_desc_t *pd)
{
    dnnl_matmul_desc_t desc;
    const char *impl = NULL;

    *pd = NULL;
    if (dnnl_matmul_desc_init(&desc, src, weights, NULL, dst) != dnnl_success ||
        nn_pd_create(l, NULL, pd, &desc, NULL, "matmul") != ADVGNN_OK)
        return ADVGNN_OK;
    if (dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
        strncmp(impl, "ref", 3) == 0) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
    }
    return ADVGNN_OK;
}

/* Builds the two matmul steps. Returns ADVGNN_OK with *built 0 when oneDNN
 * has no fast matmul for them, so the caller builds the convolution
 * backward instead. */
static int build_matmul_backward(conv_layer *c, advgnn_ctx *ctx, int *built)
{
    advgnn_layer *l = &c->base;
    dnnl_data_type_t type = nn_dnnl_dtype(l->dtype);
    int64_t n = l->input_shape[0][0], in_c = l->input_shape[0][1], g = c->desc.groups;
    int64_t out_c = c->desc.out_channels, p = l->output.shape[2] * l->output.shape[3];
    int64_t cg = in_c / g, og = out_c / g;
    dnnl_memory_desc_t wt_user, wt, dy, dx, xt, parts;
    dnnl_primitive_desc_t data_pd = NULL, weights_pd = NULL;
    void **wt_slot = NULL;
    int index, rc;

    *built = 0;

    /* W_g^T (C_in / G, C_out / G) is the weight (C_out, C_in / G) read with
     * swapped strides, and X[n, g]^T likewise the input. */
    rc = strided_md(l, &wt_user, dnnl_f32, (int64_t[]){1, g, cg, og}, (int64_t[]){out_c * cg, og * cg, 1, cg});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &wt, type, (int64_t[]){1, g, cg, og}, (int64_t[]){out_c * cg, og * cg, 1, cg});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &dy, type, (int64_t[]){n, g, og, p}, (int64_t[]){out_c * p, og * p, p, 1});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &dx, type, (int64_t[]){n, g, cg, p}, (int64_t[]){in_c * p, cg * p, p, 1});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &xt, type, (int64_t[]){n, g, p, cg}, (int64_t[]){in_c * p, cg * p, 1, p});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &parts, dnnl_f32, (int64_t[]){n, g, og, cg}, (int64_t[]){out_c * cg, og * cg, cg, 1});
    if (rc != ADVGNN_OK)
        return ADVGNN_OK;

    matmul_pd(l, &wt, &dy, &dx, &data_pd);
    matmul_pd(l, &dy, &xt, &parts, &weights_pd);
    if (!data_pd || !weights_pd) {
        if (data_pd)
            dnnl_primitive_desc_destroy(data_pd);
        if (weights_pd)
            dnnl_primitive_desc_destroy(weights_pd);
        return ADVGNN_OK;
    }

    /* bf16 layers round the f32 master weights to bf16 on each backward. */
    rc = nn_connect(l, ctx, &l->bwd_data, &wt_user, &wt, &c->weight->value.data, 0, ADVGNN_NN_ARENA_SCRATCH, &wt_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, &l->bwd_data, data_pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_data, index, DNNL_ARG_SRC, &wt, wt_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_data, index, DNNL_ARG_WEIGHTS, &dy, &l->grad_output_data);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_data, index, DNNL_ARG_DST, &dx, &l->input_grad[0].data);

    if (rc == ADVGNN_OK)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, dnnl_memory_desc_get_size(&parts),
                        &c->weight_grad_parts);
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, &l->bwd_weights, weights_pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_SRC, &dy, &l->grad_output_data);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_WEIGHTS, &xt, &l->input_data[0]);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->bwd_weights, index, DNNL_ARG_DST, &parts, &c->weight_grad_parts);

    dnnl_primitive_desc_destroy(data_pd);
    dnnl_primitive_desc_destroy(weights_pd);
    if (rc == ADVGNN_OK) {
        l->ops = &conv_matmul_ops;
        *built = 1;
    }
    return rc;
}

/* ---- transposed convolution forward as a matrix product ---------------- */

/* An ungrouped transposed convolution without dilation is, per image n,
 *   columns[n] = W^T X[n]      ((C_out * KH * KW, C_in) x (C_in, H * W))
 * followed by a scatter-add of each column row into the output (col2im):
 * row (o, ky, kx) adds its value at input pixel (iy, ix) to output pixel
 * (iy * stride - pad + ky, ix * stride - pad + kx) of channel o. oneDNN
 * 2.6.3's own kernels took 11 ms (f32) and 29 ms (bf16) of CPU time for the
 * decoder's 4x4 stride-2 48 -> 24 layer at 56 x 56, batch 8, in bench/nn,
 * and this form 7.1 and 6.0 ms. The backward stays on oneDNN. */

/* Returns the first input index whose output index i * stride - pad + k is
 * at least 0, and through *end the first one at or past `out`. */
static int64_t input_range(int64_t in, int64_t out, int stride, int pad, int k, int64_t *end)
{
    int64_t first = 0, last = in;

    while (first < in && first * stride - pad + k < 0)
        first++;
    while (last > first && (last - 1) * stride - pad + k >= out)
        last--;
    *end = last;
    return first;
}

/* The decoder's transposed convolutions (kernel width 4, stride 2, padding
 * 1, output width twice the input's) add 4 column rows to every output row,
 * each to every other pixel. With c_kx the column row of tap kx, output
 * pixel 2j gets c_1[j] + c_3[j - 1] and pixel 2j + 1 gets c_2[j] + c_0[j + 1].
 * Summing those pairs in vectors and interleaving them writes the output
 * row in order. The generic loop's stride-2 stores, one per tap, took 3.6%
 * of bench_vig's inference time. */
static int pairs_columns(const advgnn_conv2d_desc *d, int64_t in_w, int64_t out_w)
{
    return d->kernel_w == 4 && d->stride_w == 2 && d->pad_w == 1 && out_w == 2 * in_w &&
           __builtin_cpu_supports("avx2");
}

/* Adds the pairs of one output row, out[2j] += c1[j] + c3[j - 1] and
 * out[2j + 1] += c2[j] + c0[j + 1], leaving out the terms outside [0, w). */
__attribute__((target("avx2"))) static void add_pair_row(const float *c0, const float *c1, const float *c2,
                                                         const float *c3, float *out, int64_t w)
{
    int64_t j = 1;

    /* Pixel 0 has no c3 term. The vectors start at j = 1, where c3[j - 1]
     * is in the row, and stop where c0[j + 8] would leave it. */
    out[0] += c1[0];
    out[1] += w > 1 ? c2[0] + c0[1] : c2[0];
    for (; j + 8 < w; j += 8) {
        __m256 even = _mm256_add_ps(_mm256_loadu_ps(c1 + j), _mm256_loadu_ps(c3 + j - 1));
        __m256 odd = _mm256_add_ps(_mm256_loadu_ps(c2 + j), _mm256_loadu_ps(c0 + j + 1));
        __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);

        _mm256_storeu_ps(out + 2 * j,
                         _mm256_add_ps(_mm256_loadu_ps(out + 2 * j), _mm256_permute2f128_ps(lo, hi, 0x20)));
        _mm256_storeu_ps(out + 2 * j + 8,
                         _mm256_add_ps(_mm256_loadu_ps(out + 2 * j + 8), _mm256_permute2f128_ps(lo, hi, 0x31)));
    }
    for (; j < w; j++) {
        out[2 * j] += c1[j] + c3[j - 1];
        out[2 * j + 1] += j + 1 < w ? c2[j] + c0[j + 1] : c2[j];
    }
}

static void col2im_plane_s2k4(const advgnn_conv2d_desc *d, const float *columns, int64_t row_stride, float *y,
                              int64_t o, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w)
{
    for (int ky = 0; ky < d->kernel_h; ky++) {
        int64_t iy_end, iy_first = input_range(in_h, out_h, d->stride_h, d->pad_h, ky, &iy_end);
        const float *c0 = columns + (o * d->kernel_h + ky) * 4 * row_stride;

        for (int64_t iy = iy_first; iy < iy_end; iy++) {
            const float *in = c0 + iy * in_w;

            add_pair_row(in, in + row_stride, in + 2 * row_stride, in + 3 * row_stride,
                         y + (iy * d->stride_h - d->pad_h + ky) * out_w, in_w);
        }
    }
}

/* Adds the column rows of channel o of one image to its output plane.
 * Column row r of the image starts at columns + r * row_stride. */
NN_VECTOR static void col2im_plane(const advgnn_conv2d_desc *d, const float *columns, int64_t row_stride, float *y,
                                   int64_t o, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w)
{
    if (pairs_columns(d, in_w, out_w)) {
        col2im_plane_s2k4(d, columns, row_stride, y, o, in_h, in_w, out_h, out_w);
        return;
    }
    for (int ky = 0; ky < d->kernel_h; ky++) {
        int64_t iy_end, iy_first = input_range(in_h, out_h, d->stride_h, d->pad_h, ky, &iy_end);

        for (int kx = 0; kx < d->kernel_w; kx++) {
            const float *row = columns + ((o * d->kernel_h + ky) * d->kernel_w + kx) * row_stride;
            int64_t ix_end, ix_first = input_range(in_w, out_w, d->stride_w, d->pad_w, kx, &ix_end);
            int64_t stride = d->stride_w, offset = kx - d->pad_w;

            for (int64_t iy = iy_first; iy < iy_end; iy++) {
                float *out_row = y + (iy * d->stride_h - d->pad_h + ky) * out_w + offset;
                const float *in_row = row + iy * in_w;

#pragma omp simd
                for (int64_t ix = ix_first; ix < ix_end; ix++)
                    out_row[ix * stride] += in_row[ix];
            }
        }
    }
}

/* y = y * scale + shift, then max(y, 0) when `relu` (a NaN stays NaN, as
 * in oneDNN's ReLU). */
NN_VECTOR static void affine_plane(float *y, int64_t n, float scale, float shift, int relu)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] * scale + shift;

        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

static int matmul_transposed_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    conv_layer *c = (conv_layer *)l;
    const int64_t *in = l->input_shape[0];
    int64_t images = in[0], out_c = c->desc.out_channels;
    int64_t out_h = l->output.shape[2], out_w = l->output.shape[3], out_plane = out_h * out_w;
    const float *columns = c->columns, *bias = c->bias ? c->bias->value.data : NULL;
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;
    int fused = mode == ADVGNN_NN_MODE_INFERENCE && c->fused_norm, relu = fused && c->fused_act;
    float *sums = bf16 ? c->output_sums : l->output.data;
    const float *scale = c->fused_scale, *shift = c->fused_shift;
    uint16_t *y16 = l->output.data;
    size_t image_bytes = (size_t)(in[1] * in[2] * in[3]) * advgnn_dtype_size(l->dtype);

    /* One image at a time, so that its columns (4.8 MB for the decoder
     * layer above) stay in the cache between the matmul and the scatter,
     * unless the columns of the whole batch are small (see
     * TRANSPOSED_BATCH_BYTES). The whole batch is one matmul over the
     * input packed as (C_in, N * H * W). */
    int64_t plane = in[2] * in[3], per_run = c->packed_input ? images : 1, row_stride = per_run * plane;
    size_t plane_bytes = (size_t)plane * advgnn_dtype_size(l->dtype);

    /* A fused batch norm (and ReLU) applies to each finished plane, which is
     * still in the cache, and the result goes to the last fused layer. */
    if (fused) {
        nn_norm_inference_affine(c->fused_norm, c->fused_scale, c->fused_shift);
        sums = (relu ? c->fused_act : c->fused_norm)->output.data;
        if (relu)
            c->fused_act->trained = 0;
    }
    if (c->packed_input) {
#pragma omp parallel for schedule(static)
        for (int64_t k = 0; k < in[1]; k++)
            for (int64_t n = 0; n < images; n++)
                memcpy((char *)c->packed_input + (size_t)(k * images + n) * plane_bytes,
                       (const char *)l->input_data[0] + (size_t)(n * in[1] + k) * plane_bytes, plane_bytes);
    }
    for (int64_t first = 0; first < images; first += per_run) {
        int rc;

        c->image_input = c->packed_input ? c->packed_input : (char *)l->input_data[0] + (size_t)first * image_bytes;
        rc = nn_steps_run(l, ctx, &l->fwd);
        if (rc != ADVGNN_OK)
            return rc;

#pragma omp parallel for schedule(static)
        for (int64_t job = 0; job < per_run * out_c; job++) {
            int64_t n = first + job / out_c, o = job % out_c;
            float *y = sums + (n * out_c + o) * out_plane;
            float b = bias ? bias[o] : 0.0f;

            for (int64_t i = 0; i < out_plane; i++)
                y[i] = b;
            col2im_plane(&c->desc, columns + (n - first) * plane, row_stride, y, o, in[2], in[3], out_h, out_w);
            if (fused)
                affine_plane(y, out_plane, scale[o], shift[o], relu);
            for (int64_t i = 0; bf16 && i < out_plane; i++)
                y16[(n * out_c + o) * out_plane + i] = nn_bf16_round(y[i]);
        }
    }
    return ADVGNN_OK;
}

static const nn_layer_ops conv_transposed_matmul_ops = {matmul_transposed_forward, NULL, NULL};

/* Largest column buffer of a whole batch for which the transposed
 * convolution runs one matmul over all images instead of one per image. On
 * small maps a matmul per image has few columns (49 at 7 x 7) and runs far
 * below this CPU's peak. On a 2-vCPU Zen 3 the decoder's 384 -> 192 layer
 * from 7 x 7 took 2.1 ms per image with a matmul per image, and its matmul
 * took 0.75 ms per image as one matmul of 392 columns for a batch of 8. With
 * 16 MB the first two pvig_ti decoder layers at 224 x 224 (4.8 and 9.6 MB)
 * run batched. */
#define TRANSPOSED_BATCH_BYTES (16u << 20)

/* Builds the forward matmul of an ungrouped, undilated transposed
 * convolution. *built stays 0 when oneDNN has no fast matmul for it. */
static int build_transposed_matmul_forward(conv_layer *c, advgnn_ctx *ctx, int *built)
{
    advgnn_layer *l = &c->base;
    dnnl_data_type_t type = nn_dnnl_dtype(l->dtype);
    const int64_t *in = l->input_shape[0];
    int64_t in_c = in[1], p = in[2] * in[3];
    int64_t rows = (int64_t)c->desc.out_channels * c->desc.kernel_h * c->desc.kernel_w;
    int64_t batch = (size_t)(in[0] * rows * p) * sizeof(float) <= TRANSPOSED_BATCH_BYTES ? in[0] : 1, bp = batch * p;
    dnnl_memory_desc_t wt_user, wt, x, columns;
    dnnl_primitive_desc_t pd = NULL;
    void **wt_slot = NULL;
    int index, rc;

    *built = 0;
    if (c->desc.groups != 1 || c->desc.dilation_h != 1 || c->desc.dilation_w != 1)
        return ADVGNN_OK;

    /* The weight (C_in, C_out, KH, KW) is the matrix (C_in, rows), read
     * transposed. */
    rc = strided_md(l, &wt_user, dnnl_f32, (int64_t[]){1, 1, rows, in_c}, (int64_t[]){rows * in_c, rows * in_c, 1, rows});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &wt, type, (int64_t[]){1, 1, rows, in_c}, (int64_t[]){rows * in_c, rows * in_c, 1, rows});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &x, type, (int64_t[]){1, 1, in_c, bp}, (int64_t[]){in_c * bp, in_c * bp, bp, 1});
    if (rc == ADVGNN_OK)
        rc = strided_md(l, &columns, dnnl_f32, (int64_t[]){1, 1, rows, bp}, (int64_t[]){rows * bp, rows * bp, bp, 1});
    if (rc != ADVGNN_OK)
        return ADVGNN_OK;
    matmul_pd(l, &wt, &x, &columns, &pd);
    if (!pd)
        return ADVGNN_OK;

    rc = nn_connect(l, ctx, &l->fwd, &wt_user, &wt, &c->weight->value.data, 0, ADVGNN_NN_ARENA_SCRATCH, &wt_slot);
    if (rc == ADVGNN_OK)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, dnnl_memory_desc_get_size(&columns), &c->columns);
    if (rc == ADVGNN_OK && l->dtype == ADVGNN_DTYPE_BF16)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH,
                        (size_t)advgnn_tensor_numel(&l->output) * sizeof(float), &c->output_sums);
    if (rc == ADVGNN_OK && batch > 1)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, (size_t)(in_c * bp) * advgnn_dtype_size(l->dtype),
                        &c->packed_input);
    if (rc == ADVGNN_OK)
        rc = nn_step_add(l, ctx, &l->fwd, pd, &index);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->fwd, index, DNNL_ARG_SRC, &wt, wt_slot);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->fwd, index, DNNL_ARG_WEIGHTS, &x, &c->image_input);
    if (rc == ADVGNN_OK)
        rc = nn_step_arg(l, ctx, &l->fwd, index, DNNL_ARG_DST, &columns, &c->columns);
    dnnl_primitive_desc_destroy(pd);
    if (rc == ADVGNN_OK) {
        l->ops = &conv_transposed_matmul_ops;
        *built = 1;
    }
    return rc;
}

/* ---- 3x3 convolutions with few output channels ------------------------ */

/* Returns nonzero when the forward runs on nn_conv3x3_narrow_f32: f32,
 * ungrouped, undilated 3x3 convolutions of stride 1 and padding 1 with at
 * most NN_NARROW_MAX_OUT output channels, such as an autoencoder's output
 * layer. The backward stays on oneDNN. */
static int narrow_forward_applies(const conv_layer *c)
{
    const advgnn_conv2d_desc *d = &c->desc;

    return !c->transposed && c->base.dtype == ADVGNN_DTYPE_F32 && d->kernel_h == 3 && d->kernel_w == 3 &&
           d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 1 && d->pad_w == 1 && d->dilation_h == 1 &&
           d->dilation_w == 1 && d->groups == 1 && nn_conv3x3_narrow_supported(d->out_channels);
}

static int narrow_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    conv_layer *c = (conv_layer *)l;
    const int64_t *in = l->input_shape[0];

    (void)mode;
    if (nn_conv3x3_narrow_f32(l->input_data[0], in[0], in[1], in[2], in[3], c->weight->value.data,
                              c->bias ? c->bias->value.data : NULL, c->desc.out_channels, l->output.data) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "layer %s: out of memory for the convolution's staging rows",
                            l->name);
    return ADVGNN_OK;
}

static const nn_layer_ops conv_narrow_ops = {narrow_forward, NULL, NULL};

/* ---- creation ---------------------------------------------------------- */

static int conv_create(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                       const int64_t input_shape[4], const advgnn_conv2d_desc *desc, int transposed, advgnn_layer **out)
{
    const int64_t(*shapes)[4] = (const int64_t(*)[4])input_shape;
    dnnl_primitive_desc_t pd[3] = {NULL, NULL, NULL};
    advgnn_layer *l;
    conv_layer *c;
    conv_mds m;
    advgnn_conv2d_desc d;
    int64_t in_c = input_shape[1], wshape[4], out_shape[4];
    void **x_slot = NULL;
    double fan_in;
    int matmul_built = 0, forward_built = 0;
    int rc;

    *out = NULL;
    if (!desc)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: convolution description is missing", name);
    rc = nn_layer_new(nn, ctx, sizeof(conv_layer), &conv_ops, name, dtype, 1, shapes, &l);
    if (rc != ADVGNN_OK)
        return rc;
    c = (conv_layer *)l;
    c->transposed = transposed;
    rc = fill_defaults(ctx, name, desc, &d, in_c, transposed);
    if (rc != ADVGNN_OK)
        return rc;
    c->desc = d;

    out_shape[0] = input_shape[0];
    out_shape[1] = d.out_channels;
    out_shape[2] = out_size(input_shape[2], d.kernel_h, d.stride_h, d.pad_h, d.dilation_h, d.output_pad_h, transposed);
    out_shape[3] = out_size(input_shape[3], d.kernel_w, d.stride_w, d.pad_w, d.dilation_w, d.output_pad_w, transposed);
    if (out_shape[2] < 1 || out_shape[3] < 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: the kernel does not fit the %lldx%lld input (output %lldx%lld)", name,
                            (long long)input_shape[2], (long long)input_shape[3], (long long)out_shape[2],
                            (long long)out_shape[3]);

    /* PyTorch's fan-in: for a transposed convolution it is computed from
     * weight dimension 1, which is C_out / G. */
    wshape[0] = transposed ? in_c : d.out_channels;
    wshape[1] = transposed ? d.out_channels / d.groups : in_c / d.groups;
    wshape[2] = d.kernel_h;
    wshape[3] = d.kernel_w;
    fan_in = (double)wshape[1] * d.kernel_h * d.kernel_w;
    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, out_shape);
    if (rc == ADVGNN_OK)
        rc = nn_param_new(l, ctx, "weight", 4, wshape, 1, NN_INIT_FAN_IN, fan_in, &c->weight);
    if (rc == ADVGNN_OK && d.bias)
        rc = nn_param_new(l, ctx, "bias", 1, &out_shape[1], 1, NN_INIT_FAN_IN, fan_in, &c->bias);
    if (rc == ADVGNN_OK)
        rc = init_mds(c, ctx, &m);
    if (rc == ADVGNN_OK)
        rc = create_pds(c, ctx, &m, pd);
    if (rc == ADVGNN_OK && transposed)
        rc = build_transposed_matmul_forward(c, ctx, &forward_built);
    if (rc == ADVGNN_OK && narrow_forward_applies(c)) {
        l->ops = &conv_narrow_ops;
        forward_built = 1;
    }
    if (rc == ADVGNN_OK && !forward_built)
        rc = build_forward(c, ctx, &m, pd[0], &x_slot);
    if (rc == ADVGNN_OK && use_matmul_backward(c))
        rc = build_matmul_backward(c, ctx, &matmul_built);
    if (rc == ADVGNN_OK && !matmul_built)
        rc = build_backward_data(c, ctx, &m, pd[1]);
    if (rc == ADVGNN_OK && !matmul_built)
        rc = build_backward_weights(c, ctx, &m, forward_built ? NULL : pd[0], pd[2],
                                    forward_built ? &l->input_data[0] : x_slot);
    for (int i = 0; i < 3; i++) {
        if (pd[i])
            dnnl_primitive_desc_destroy(pd[i]);
    }
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}

int advgnn_nn_conv2d(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                     const int64_t input_shape[4], const advgnn_conv2d_desc *desc, advgnn_layer **out)
{
    return conv_create(nn, ctx, name, dtype, input_shape, desc, 0, out);
}

int advgnn_nn_conv_transpose2d(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                               const int64_t input_shape[4], const advgnn_conv2d_desc *desc, advgnn_layer **out)
{
    return conv_create(nn, ctx, name, dtype, input_shape, desc, 1, out);
}

/* ---- inference fusion -------------------------------------------------- */

static int fused_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode);
static int gemm_fused_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode);

static int is_conv(const advgnn_layer *l)
{
    return l->ops == &conv_ops || l->ops == &conv_matmul_ops || l->ops == &conv_transposed_matmul_ops ||
           l->ops == &conv_narrow_ops || l->ops->forward == fused_forward || l->ops->forward == gemm_fused_forward;
}

/* Folds the batch norm, with its current parameters, into the copies of the
 * weights and bias, so that training steps and loaded weights apply without
 * a rebuild:
 *   w'[o] = w[o] * scale[o],  b'[o] = b[o] * scale[o] + shift[o].
 * The fold reads every weight once per forward, which costs far less than
 * the batch norm's pass over the activations that it replaces. Without
 * `weights` only the bias is folded, for gemm_fused_forward, which applies
 * the scale to its output instead. */
static void fold_norm(conv_layer *c, int weights)
{
    int64_t out = c->desc.out_channels;
    int64_t row = advgnn_tensor_numel(&c->weight->value) / out;
    const float *w = c->weight->value.data, *b = c->bias ? c->bias->value.data : NULL;
    float *scale = c->fused_scale, *shift = c->fused_shift, *fw = c->fused_weights, *fb = c->fused_bias;

    nn_norm_inference_affine(c->fused_norm, scale, shift);
    if (c->fused_act)
        c->fused_act->trained = 0;

#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < out; o++) {
        for (int64_t i = 0; weights && i < row; i++)
            fw[o * row + i] = w[o * row + i] * scale[o];
        fb[o] = (b ? b[o] : 0.0f) * scale[o] + shift[o];
    }
}

/* Runs the forward: the unfused one in training, the folded one in inference. */
static int fused_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    conv_layer *c = (conv_layer *)l;

    if (mode != ADVGNN_NN_MODE_INFERENCE)
        return c->unfused_forward ? c->unfused_forward(l, ctx, mode) : nn_steps_run(l, ctx, &l->fwd);
    fold_norm(c, 1);
    return nn_steps_run(l, ctx, &l->fwd_infer);
}

/* Bytes of output (all channels of a run of pixels) that one job of
 * gemm_fused_forward writes. They stay in a core's L2 cache (512 KB on Zen
 * 3) between the GEMM and the pass that applies the batch norm and the
 * activation. */
#define GEMM_TILE_BYTES (256u << 10)

/* The inference forward of a plain 1x1 convolution with its batch norm and
 * activation, if any. oneDNN 2.6.3 runs these layers as a GEMM per image,
 * where its GELU post-op is slow (see advgnn_nn_fuse_inference), so the
 * activation had been a separate pass over memory: 2.5 ms of bench_vig's
 * 39 ms per image. Here each job multiplies the weights with a run of pixels
 * of one image, with oneDNN's sgemm, which runs on the calling thread inside
 * a parallel region. It then applies the batch norm's scale, the folded bias
 * and the activation to that output block while it is in the cache. Per
 * group g:
 *   Y[n, g][:, cols] = act(scale * (W_g X[n, g][:, cols]) + b')
 * Scaling the output instead of the weights spares the copy of all weights
 * that fold_norm writes on every forward. */
static int gemm_fused_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    conv_layer *c = (conv_layer *)l;
    const int64_t *in = l->input_shape[0];
    int64_t images = in[0], in_c = in[1], out_c = c->desc.out_channels, groups = c->desc.groups;
    int64_t cg = in_c / groups, og = out_c / groups, plane = in[2] * in[3];
    int64_t tile = (int64_t)(GEMM_TILE_BYTES / sizeof(float)) / out_c, tiles;
    const float *x = l->input_data[0], *w = c->weight->value.data, *b = c->fused_bias, *scale = c->fused_scale;
    dnnl_alg_kind_t act = dnnl_alg_kind_undef;
    float *y = (c->fused_act ? c->fused_act : c->fused_norm)->output.data;
    int failed = 0;

    if (mode != ADVGNN_NN_MODE_INFERENCE)
        return c->unfused_forward ? c->unfused_forward(l, ctx, mode) : nn_steps_run(l, ctx, &l->fwd);
    fold_norm(c, 0);
    if (c->fused_act)
        nn_activation_algorithm(c->fused_act, &act);

    /* Equal runs of a multiple of 8 pixels, at least 128 wide. Narrower runs
     * repack the weights too often: 960 x 240 at 14 x 14 ran at 139 GFLOP/s
     * in runs of 72 pixels and at 164 in one run of 196, on two Zen 3 cores. */
    if (tile < 128)
        tile = 128;
    tiles = (plane + tile - 1) / tile;
    tile = ((plane + tiles - 1) / tiles + 7) / 8 * 8;
    tiles = (plane + tile - 1) / tile;

#pragma omp parallel for schedule(static) reduction(| : failed)
    for (int64_t job = 0; job < images * tiles; job++) {
        int64_t n = job / tiles, first = job % tiles * tile;
        int64_t width = plane - first < tile ? plane - first : tile;

        for (int64_t k = 0; k < groups; k++)
            failed |= dnnl_sgemm('N', 'N', og, width, cg, 1.0f, w + k * og * cg, cg,
                                 x + (n * in_c + k * cg) * plane + first, plane, 0.0f,
                                 y + (n * out_c + k * og) * plane + first, plane) != dnnl_success;
        for (int64_t o = 0; o < out_c; o++)
            nn_affine_activation_f32(y + (n * out_c + o) * plane + first, width, scale[o], b[o], act);
    }
    if (failed)
        return advgnn_failf(ctx, ADVGNN_ERR_BACKEND, "layer %s: oneDNN's sgemm failed in the inference forward",
                            l->name);
    return ADVGNN_OK;
}

/* Creates the forward-inference descriptor, with a bias, and with the
 * activation's eltwise as a post-op when `act` is given. Returns 0 without a
 * descriptor when oneDNN has no kernel for it. */
static int fused_pd(conv_layer *c, conv_mds *m, const advgnn_layer *act, dnnl_primitive_desc_t *pd)
{
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_alg_kind_t alg;
    dnnl_status_t st;

    *pd = NULL;
    st = dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &m->x_fwd,
                                                    &m->w_any, &m->b, &m->y_fwd, m->strides, m->dilates, m->pad_l,
                                                    m->pad_r);
    if (st == dnnl_success)
        st = dnnl_post_ops_create(&ops);
    if (st == dnnl_success && act && nn_activation_algorithm(act, &alg))
        st = dnnl_post_ops_append_eltwise(ops, 1.0f, alg, 0.0f, 0.0f);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(attr, ops);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(pd, &cd, attr, c->base.nn->engine, NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (st != dnnl_success)
        *pd = NULL;
    return st == dnnl_success;
}

/* Reserves the scale, shift and folded bias of fold_norm, and the folded
 * weights when `weights`. */
static int reserve_fold(conv_layer *c, advgnn_ctx *ctx, int weights)
{
    advgnn_layer *l = &c->base;
    size_t channel_bytes = (size_t)c->desc.out_channels * sizeof(float);
    size_t weight_bytes = (size_t)advgnn_tensor_numel(&c->weight->value) * sizeof(float);
    int rc;

    rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, channel_bytes, &c->fused_scale);
    if (rc == ADVGNN_OK)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, channel_bytes, &c->fused_shift);
    if (rc == ADVGNN_OK)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, channel_bytes, &c->fused_bias);
    if (rc == ADVGNN_OK && weights)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, weight_bytes, &c->fused_weights);
    return rc;
}

/* Builds fwd_infer: the convolution with the folded weights and bias, its
 * output going to `target`'s output. */
static int build_fused(conv_layer *c, advgnn_ctx *ctx, conv_mds *m, dnnl_primitive_desc_t pd, advgnn_layer *target)
{
    void **x_slot;
    conv_slots slots = {&c->base.fwd_infer, ADVGNN_NN_ARENA_SCRATCH, &c->fused_weights, &c->fused_bias,
                        &target->output.data, &x_slot};
    int rc = reserve_fold(c, ctx, 1);

    return rc == ADVGNN_OK ? add_conv_steps(c, ctx, m, pd, &slots) : rc;
}

/* Marks `conv` as fused with `norm` and `act`, its inference forward being
 * `forward`. */
static void set_fused(conv_layer *c, advgnn_layer *norm, advgnn_layer *act,
                      int (*forward)(advgnn_layer *, advgnn_ctx *, advgnn_nn_mode))
{
    c->fused_norm = norm;
    c->fused_act = act;
    c->unfused_forward = c->base.ops->forward;
    c->fused_ops = *c->base.ops;
    c->fused_ops.forward = forward;
    c->base.ops = &c->fused_ops;
}

static int same_shape(const int64_t a[4], const int64_t b[4])
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

int advgnn_nn_fuse_inference(advgnn_layer *conv, advgnn_ctx *ctx, advgnn_layer *norm, advgnn_layer *act,
                             int *fused)
{
    conv_layer *c = (conv_layer *)conv;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_alg_kind_t alg;
    conv_mds m;
    int rc;

    *fused = 0;
    if (!conv || !norm || !is_conv(conv) || !nn_is_batch_norm(norm))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "inference fusion: layer %s must be a convolution and layer %s a batch norm",
                            conv ? conv->name : "(null)", norm ? norm->name : "(null)");
    if (act && !nn_activation_algorithm(act, &alg))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "inference fusion: layer %s is not an activation", act->name);
    if (conv->nn->committed || norm->nn != conv->nn || (act && act->nn != conv->nn))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "inference fusion: layers %s and %s must belong to one network that is not committed yet",
                            conv->name, norm->name);
    if (!same_shape(norm->input_shape[0], conv->output.shape))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "inference fusion: layer %s does not read the output shape of layer %s", norm->name,
                            conv->name);
    if (act && !same_shape(act->input_shape[0], norm->output.shape))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "inference fusion: layer %s does not read the output shape of layer %s", act->name,
                            norm->name);

    /* bf16 is not fused. NOTE: bf16 fusion is untested, because it needs a
     * CPU with AVX-512, which the development machine lacked. */
    if (conv->dtype != ADVGNN_DTYPE_F32 || c->fused_norm)
        return ADVGNN_OK;

    /* A transposed convolution that runs as a matmul and col2im applies the
     * batch norm, and a ReLU, to each output plane after its col2im. Other
     * transposed convolutions run on oneDNN and are not fused. */
    if (c->transposed) {
        size_t channel_bytes = (size_t)c->desc.out_channels * sizeof(float);

        if (conv->ops != &conv_transposed_matmul_ops)
            return ADVGNN_OK;
        if (act && (!nn_activation_algorithm(act, &alg) || alg != dnnl_eltwise_relu))
            act = NULL;
        rc = nn_reserve(conv->nn, ctx, conv, ADVGNN_NN_ARENA_SCRATCH, channel_bytes, &c->fused_scale);
        if (rc == ADVGNN_OK)
            rc = nn_reserve(conv->nn, ctx, conv, ADVGNN_NN_ARENA_SCRATCH, channel_bytes, &c->fused_shift);
        if (rc != ADVGNN_OK)
            return rc;
        c->fused_norm = norm;
        c->fused_act = act;
        *fused = act ? 2 : 1;
        return ADVGNN_OK;
    }

    rc = init_mds(c, ctx, &m);
    if (rc != ADVGNN_OK)
        return rc;
    /* oneDNN 2.6.3 runs an eltwise post-op of a kernel other than JIT (its
     * GEMM convolution) in a slow generic loop: with GELU, the 8 x 48 -> 192
     * 1x1 convolution at 56 x 56 took 33 ms instead of 3.3 ms for the
     * convolution and the separate activation layer. */
    /* A plain 1x1 convolution (where oneDNN runs its GEMM convolution) runs
     * as tiled GEMMs that apply the batch norm and the activation themselves
     * (gemm_fused_forward), unless the activation is one they lack. */
    if (plain_forward(c) && (!act || nn_affine_activation_supported(alg))) {
        rc = reserve_fold(c, ctx, 0);
        if (rc != ADVGNN_OK)
            return rc;
        set_fused(c, norm, act, gemm_fused_forward);
        *fused = act ? 2 : 1;
        return ADVGNN_OK;
    }
    if (act && fused_pd(c, &m, act, &pd) && !is_jit(pd)) {
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
    }
    if (!pd) {
        act = NULL;
        if (!fused_pd(c, &m, NULL, &pd))
            return ADVGNN_OK;
    }
    rc = build_fused(c, ctx, &m, pd, act ? act : norm);
    dnnl_primitive_desc_destroy(pd);
    if (rc != ADVGNN_OK)
        return rc;

    set_fused(c, norm, act, fused_forward);
    *fused = act ? 2 : 1;
    return ADVGNN_OK;
}
