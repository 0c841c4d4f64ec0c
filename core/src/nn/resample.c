/* Layers that change the spatial size on oneDNN: max and average pooling, and
 * nearest and bilinear resizing. */
#include <string.h>

#include "nn/nn_internal.h"

static const nn_layer_ops plain_ops = {NULL, NULL, NULL};

/* Binds `count` arguments of one new step, all of the same memory descriptor
 * except where `mds` gives one per argument. */
static int add_step(advgnn_layer *l, advgnn_ctx *ctx, nn_steps *steps, dnnl_primitive_desc_t pd, int count,
                    const int *args, const dnnl_memory_desc_t *const *mds, void **const *slots)
{
    int index;
    int rc = nn_step_add(l, ctx, steps, pd, &index);

    for (int i = 0; i < count && rc == ADVGNN_OK; i++)
        rc = nn_step_arg(l, ctx, steps, index, args[i], mds[i], slots[i]);
    return rc;
}

static void destroy_pds(dnnl_primitive_desc_t a, dnnl_primitive_desc_t b)
{
    if (a)
        dnnl_primitive_desc_destroy(a);
    if (b)
        dnnl_primitive_desc_destroy(b);
}

/* ---- pooling ----------------------------------------------------------- */

typedef struct pool_layer {
    advgnn_layer base;
    void *workspace; /* average pooling: oneDNN's workspace, or NULL when it needs none */

    /* Max pooling runs on the engine's own loops. On an AVX2-only 2-vCPU
     * Zen 3, oneDNN 2.6.3 ran it on plain NCHW with its reference kernel
     * (simple_nchw). For 8 x 48 x 56 x 56 with a 3x3 stride-2 window that took
     * 11.2 ms forward and 3.0 ms backward, and these loops take 5.0 and 0.17 ms.
     * NOTE: the forward is scalar. oneDNN's JIT kernel took 0.19 ms on Zen 4.
     * The window, for max pooling and for average pooling's own forward: */
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    void *argmax; /* (N, C, OH, OW) int32: index in the input plane of each maximum */
} pool_layer;

/* Defines the max-pooling kernels of one plane for one storage type. The
 * first maximum in row-major window order wins, and a NaN wins over any
 * number, as in PyTorch. */
#define MAX_POOL_KERNELS(suffix, type, LOAD, STORE)                                                           \
    static void max_plane_##suffix(const pool_layer *p, const type *x, type *y, int32_t *arg, int64_t h,       \
                                   int64_t w, int64_t oh, int64_t ow)                                         \
    {                                                                                                         \
        for (int64_t oy = 0; oy < oh; oy++)                                                                   \
            for (int64_t ox = 0; ox < ow; ox++) {                                                             \
                int64_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;                   \
                int64_t y1 = y0 + p->kernel_h < h ? y0 + p->kernel_h : h;                                     \
                int64_t x1 = x0 + p->kernel_w < w ? x0 + p->kernel_w : w;                                     \
                float best = 0.0f;                                                                            \
                int32_t at = -1;                                                                              \
                                                                                                              \
                for (int64_t iy = y0 > 0 ? y0 : 0; iy < y1; iy++)                                             \
                    for (int64_t ix = x0 > 0 ? x0 : 0; ix < x1; ix++) {                                       \
                        float v = LOAD(x, iy * w + ix);                                                       \
                                                                                                              \
                        if (at < 0 || v > best || (v != v && best == best)) {                                 \
                            best = v;                                                                         \
                            at = (int32_t)(iy * w + ix);                                                      \
                        }                                                                                     \
                    }                                                                                         \
                STORE(y, oy * ow + ox, best);                                                                 \
                arg[oy * ow + ox] = at;                                                                       \
            }                                                                                                 \
    }                                                                                                         \
                                                                                                              \
    static void max_plane_grad_##suffix(const type *dy, type *dx, const int32_t *arg, int64_t plane,          \
                                        int64_t out_plane)                                                    \
    {                                                                                                         \
        for (int64_t i = 0; i < plane; i++)                                                                   \
            STORE(dx, i, 0.0f);                                                                               \
        for (int64_t o = 0; o < out_plane; o++)                                                               \
            STORE(dx, arg[o], LOAD(dx, arg[o]) + LOAD(dy, o));                                                \
    }

MAX_POOL_KERNELS(f32, float, NN_LOAD_F32, NN_STORE_F32)
MAX_POOL_KERNELS(bf16, uint16_t, NN_LOAD_BF16, NN_STORE_BF16)

static int max_pool_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    pool_layer *p = (pool_layer *)l;
    const int64_t *in = l->input_shape[0], *out = l->output.shape;
    int64_t planes = in[0] * in[1], plane = in[2] * in[3], out_plane = out[2] * out[3];
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;

    (void)ctx;
    (void)mode;
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        int32_t *arg = (int32_t *)p->argmax + q * out_plane;

        if (bf16)
            max_plane_bf16(p, (const uint16_t *)l->input_data[0] + q * plane, (uint16_t *)l->output.data + q * out_plane,
                           arg, in[2], in[3], out[2], out[3]);
        else
            max_plane_f32(p, (const float *)l->input_data[0] + q * plane, (float *)l->output.data + q * out_plane,
                          arg, in[2], in[3], out[2], out[3]);
    }
    return ADVGNN_OK;
}

/* Each output gradient goes to the input position of its maximum. One
 * thread owns a plane, so overlapping windows add without races. */
static int max_pool_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    pool_layer *p = (pool_layer *)l;
    const int64_t *in = l->input_shape[0], *out = l->output.shape;
    int64_t planes = in[0] * in[1], plane = in[2] * in[3], out_plane = out[2] * out[3];
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;

    (void)ctx;
    if (!l->input_grad_enabled)
        return ADVGNN_OK;
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < planes; q++) {
        const int32_t *arg = (const int32_t *)p->argmax + q * out_plane;

        if (bf16)
            max_plane_grad_bf16((const uint16_t *)l->grad_output_data + q * out_plane,
                                (uint16_t *)l->input_grad[0].data + q * plane, arg, plane, out_plane);
        else
            max_plane_grad_f32((const float *)l->grad_output_data + q * out_plane,
                               (float *)l->input_grad[0].data + q * plane, arg, plane, out_plane);
    }
    return ADVGNN_OK;
}

static const nn_layer_ops max_pool_ops = {max_pool_forward, max_pool_backward, NULL};

/* Average pooling without padding runs its f32 forward on the engine's own
 * loops too, for the same reason: oneDNN 2.6.3 has only its simple_nchw
 * kernel for plain NCHW. Each output row first sums its kernel_h input rows
 * into `acc` (one vector pass), then adds kernel_w neighbours of that sum.
 * The backward stays on oneDNN. AVG_POOL_MAX_WIDTH bounds `acc`. */
#define AVG_POOL_MAX_WIDTH 4096

NN_VECTOR static void avg_plane_f32(const pool_layer *p, const float *x, float *y, int64_t w, int64_t oh, int64_t ow)
{
    float acc[AVG_POOL_MAX_WIDTH];
    float area = (float)(p->kernel_h * p->kernel_w);

    for (int64_t oy = 0; oy < oh; oy++) {
        const float *top = x + oy * p->stride_h * w;

#pragma omp simd
        for (int64_t ix = 0; ix < w; ix++)
            acc[ix] = top[ix];
        for (int dy = 1; dy < p->kernel_h; dy++) {
#pragma omp simd
            for (int64_t ix = 0; ix < w; ix++)
                acc[ix] += top[dy * w + ix];
        }
        for (int64_t ox = 0; ox < ow; ox++) {
            const float *window = acc + ox * p->stride_w;
            float sum = window[0];

            for (int dx = 1; dx < p->kernel_w; dx++)
                sum += window[dx];
            y[oy * ow + ox] = sum / area;
        }
    }
}

static int avg_pool_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    pool_layer *p = (pool_layer *)l;
    const int64_t *in = l->input_shape[0], *out = l->output.shape;
    int64_t planes = in[0] * in[1], plane = in[2] * in[3], out_plane = out[2] * out[3];

    (void)mode;
    if (l->dtype != ADVGNN_DTYPE_F32 || p->pad_h || p->pad_w || in[3] > AVG_POOL_MAX_WIDTH)
        return nn_steps_run(l, ctx, &l->fwd);
#pragma omp parallel for schedule(static)
    for (int64_t q = 0; q < planes; q++)
        avg_plane_f32(p, (const float *)l->input_data[0] + q * plane, (float *)l->output.data + q * out_plane, in[3],
                      out[2], out[3]);
    return ADVGNN_OK;
}

static const nn_layer_ops avg_pool_ops = {avg_pool_forward, NULL, NULL};

static int check_pool(advgnn_ctx *ctx, const char *name, const advgnn_pool_desc *d, dnnl_alg_kind_t *alg)
{
    if (!d)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: pooling description is missing", name);
    if (d->kind != ADVGNN_POOL_MAX && d->kind != ADVGNN_POOL_AVG)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: invalid pooling kind %d", name, (int)d->kind);
    if (d->kernel_h <= 0 || d->kernel_w <= 0 || d->stride_h < 0 || d->stride_w < 0 || d->pad_h < 0 ||
        d->pad_w < 0 || 2 * d->pad_h > d->kernel_h || 2 * d->pad_w > d->kernel_w)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: invalid pooling kernel %dx%d, stride %dx%d, pad %dx%d (pad at most half the "
                            "kernel)",
                            name, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    *alg = d->kind == ADVGNN_POOL_MAX ? dnnl_pooling_max : dnnl_pooling_avg_include_padding;
    return ADVGNN_OK;
}

static int build_pool(pool_layer *p, advgnn_ctx *ctx, const advgnn_pool_desc *d, dnnl_alg_kind_t alg,
                      int stride_h, int stride_w)
{
    advgnn_layer *l = &p->base;
    dnnl_dims_t strides = {stride_h, stride_w}, kernel = {d->kernel_h, d->kernel_w}, dilation = {0, 0};
    dnnl_dims_t pad = {d->pad_h, d->pad_w};
    dnnl_pooling_v2_desc_t fwd_desc, bwd_desc;
    dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
    dnnl_memory_desc_t src, dst;
    const dnnl_memory_desc_t *ws = NULL;
    int rc;

    rc = nn_md_nchw(l, ctx, &src, l->input_shape[0], l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &dst, l->output.shape, l->dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx,
                      dnnl_pooling_v2_forward_desc_init(&fwd_desc, dnnl_forward_training, alg, &src, &dst, strides,
                                                        kernel, dilation, pad, pad),
                      l, "pooling descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx,
                      dnnl_pooling_v2_backward_desc_init(&bwd_desc, alg, &src, &dst, strides, kernel, dilation, pad, pad),
                      l, "pooling descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &fwd, &fwd_desc, NULL, "pooling forward");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &bwd, &bwd_desc, fwd, "pooling backward");
    if (rc == ADVGNN_OK) {
        ws = dnnl_primitive_desc_query_md(fwd, dnnl_query_workspace_md, 0);
        if (ws && dnnl_memory_desc_get_size(ws) == 0)
            ws = NULL;
    }
    if (rc == ADVGNN_OK && ws)
        rc = nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, dnnl_memory_desc_get_size(ws), &p->workspace);
    if (rc == ADVGNN_OK)
        rc = add_step(l, ctx, &l->fwd, fwd, ws ? 3 : 2, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_WORKSPACE},
                      (const dnnl_memory_desc_t *const[]){&src, &dst, ws},
                      (void **const[]){&l->input_data[0], &l->output.data, &p->workspace});
    if (rc == ADVGNN_OK)
        rc = add_step(l, ctx, &l->bwd_data, bwd, ws ? 3 : 2,
                      (const int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, DNNL_ARG_WORKSPACE},
                      (const dnnl_memory_desc_t *const[]){&dst, &src, ws},
                      (void **const[]){&l->grad_output_data, &l->input_grad[0].data, &p->workspace});
    destroy_pds(fwd, bwd);
    return rc;
}

int advgnn_nn_pool2d(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                     const int64_t input_shape[4], const advgnn_pool_desc *desc, advgnn_layer **out)
{
    int64_t out_shape[4];
    dnnl_alg_kind_t alg = dnnl_pooling_max;
    advgnn_layer *l;
    int stride_h, stride_w, rc;

    *out = NULL;
    rc = check_pool(ctx, name ? name : "(null)", desc, &alg);
    if (rc != ADVGNN_OK)
        return rc;
    stride_h = desc->stride_h ? desc->stride_h : desc->kernel_h;
    stride_w = desc->stride_w ? desc->stride_w : desc->kernel_w;

    /* Floor division, as PyTorch's ceil_mode=False. */
    out_shape[0] = input_shape[0];
    out_shape[1] = input_shape[1];
    out_shape[2] = (input_shape[2] + 2 * desc->pad_h - desc->kernel_h) / stride_h + 1;
    out_shape[3] = (input_shape[3] + 2 * desc->pad_w - desc->kernel_w) / stride_w + 1;
    if (input_shape[2] + 2 * desc->pad_h < desc->kernel_h || input_shape[3] + 2 * desc->pad_w < desc->kernel_w)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: pooling kernel %dx%d exceeds the %lldx%lld input",
                            name, desc->kernel_h, desc->kernel_w, (long long)input_shape[2], (long long)input_shape[3]);

    rc = nn_layer_new(nn, ctx, sizeof(pool_layer), desc->kind == ADVGNN_POOL_MAX ? &max_pool_ops : &avg_pool_ops,
                      name, dtype, 1, (const int64_t(*)[4])input_shape, &l);
    if (rc == ADVGNN_OK)
        rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, out_shape);
    if (rc == ADVGNN_OK) {
        pool_layer *p = (pool_layer *)l;

        p->kernel_h = desc->kernel_h, p->kernel_w = desc->kernel_w;
        p->stride_h = stride_h, p->stride_w = stride_w;
        p->pad_h = desc->pad_h, p->pad_w = desc->pad_w;
    }
    if (rc == ADVGNN_OK && desc->kind == ADVGNN_POOL_MAX) {
        pool_layer *p = (pool_layer *)l;

        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS,
                        (size_t)(out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3]) * sizeof(int32_t),
                        &p->argmax);
    } else if (rc == ADVGNN_OK) {
        rc = build_pool((pool_layer *)l, ctx, desc, alg, stride_h, stride_w);
    }
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}

/* ---- resize ------------------------------------------------------------ */

/* Source pixels and weights of one output row or column of a bilinear
 * resize, as oneDNN computes them (half-pixel centres, PyTorch's
 * align_corners=False): src = (dst + 0.5) * in / out - 0.5, clamped to the
 * input. */
typedef struct bilinear_tap {
    int32_t lo, hi;
    float w_lo, w_hi;
} bilinear_tap;

typedef struct resize_layer {
    advgnn_layer base;
    bilinear_tap *rows, *cols; /* out_h and out_w taps; bilinear only */
    void *grad_sum;            /* bf16: (N, C, H, W) f32 sums of the input gradient, scratch */
} resize_layer;

static void fill_taps(bilinear_tap *taps, int64_t out, int64_t in)
{
    for (int64_t o = 0; o < out; o++) {
        float src = ((float)o + 0.5f) * (float)in / (float)out - 0.5f;
        int64_t lo;

        if (src < 0)
            src = 0;
        lo = (int64_t)src;
        if (lo > in - 1)
            lo = in - 1;
        taps[o].lo = (int32_t)lo;
        taps[o].hi = (int32_t)(lo + 1 < in ? lo + 1 : in - 1);
        taps[o].w_hi = src - (float)lo;
        taps[o].w_lo = 1.0f - taps[o].w_hi;
    }
}

/* Scatters one output-gradient plane to its input plane `dx` (zeroed by
 * the caller). Each output pixel adds to at most four input pixels. */
static void bilinear_plane_backward(const resize_layer *r, const void *dy, int bf16, float *dx, int64_t out_h,
                                    int64_t out_w, int64_t in_w)
{
    for (int64_t oy = 0; oy < out_h; oy++) {
        const bilinear_tap *row = &r->rows[oy];
        float *lo = dx + row->lo * in_w, *hi = dx + row->hi * in_w;

        for (int64_t ox = 0; ox < out_w; ox++) {
            const bilinear_tap *col = &r->cols[ox];
            int64_t at = oy * out_w + ox;
            float g = bf16 ? nn_bf16_load(((const uint16_t *)dy)[at]) : ((const float *)dy)[at];
            float g_lo = g * row->w_lo, g_hi = g * row->w_hi;

            lo[col->lo] += g_lo * col->w_lo;
            lo[col->hi] += g_lo * col->w_hi;
            hi[col->lo] += g_hi * col->w_lo;
            hi[col->hi] += g_hi * col->w_hi;
        }
    }
}

/* oneDNN 2.6.3's linear resampling backward on NCHW took 6.7 ms (f32) and
 * 12 ms (bf16) of CPU time for 8 x 48 x 28 x 28 -> 56 x 56 in bench/nn,
 * 2.8x and 4.7x PyTorch. This scatter runs the planes on parallel threads,
 * which then write disjoint outputs. */
static int bilinear_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    resize_layer *r = (resize_layer *)l;
    const int64_t *in = l->input_shape[0];
    int64_t planes = in[0] * in[1], in_plane = in[2] * in[3];
    int64_t out_h = l->output.shape[2], out_w = l->output.shape[3];
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;
    size_t dy_bytes = (size_t)(out_h * out_w) * advgnn_dtype_size(l->dtype);
    const char *dy = l->grad_output_data;
    float *sums = bf16 ? r->grad_sum : l->input_grad[0].data;
    uint16_t *dx16 = l->input_grad[0].data;

    if (!l->input_grad_enabled)
        return ADVGNN_OK;

#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *dx = sums + p * in_plane;

        memset(dx, 0, (size_t)in_plane * sizeof(float));
        bilinear_plane_backward(r, dy + (size_t)p * dy_bytes, bf16, dx, out_h, out_w, in[3]);
        for (int64_t i = 0; bf16 && i < in_plane; i++)
            dx16[p * in_plane + i] = nn_bf16_round(dx[i]);
    }
    return ADVGNN_OK;
}

static void resize_destroy(advgnn_layer *l)
{
    resize_layer *r = (resize_layer *)l;

    advgnn_free(r->rows);
    advgnn_free(r->cols);
}

static const nn_layer_ops bilinear_ops = {NULL, bilinear_backward, resize_destroy};

/* Prepares the bilinear backward: the taps and, for bf16, the f32 sums. */
static int init_bilinear(resize_layer *r, advgnn_ctx *ctx)
{
    advgnn_layer *l = &r->base;
    const int64_t *in = l->input_shape[0];
    int64_t out_h = l->output.shape[2], out_w = l->output.shape[3];

    r->rows = advgnn_malloc((size_t)out_h * sizeof(*r->rows));
    r->cols = advgnn_malloc((size_t)out_w * sizeof(*r->cols));
    if (!r->rows || !r->cols)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "layer %s: out of memory for the resize coefficients", l->name);
    fill_taps(r->rows, out_h, in[2]);
    fill_taps(r->cols, out_w, in[3]);
    if (l->dtype != ADVGNN_DTYPE_BF16)
        return ADVGNN_OK;
    return nn_reserve(l->nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH,
                      (size_t)(in[0] * in[1] * in[2] * in[3]) * sizeof(float), &r->grad_sum);
}

/* NOTE: oneDNN's nearest rule picks source index round((i + 0.5) * in / out - 0.5).
 * It equals PyTorch's "nearest" for integer upscaling factors only; other
 * factors match PyTorch's "nearest-exact" except at exact ties. */
int advgnn_nn_resize(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                     const int64_t input_shape[4], int out_h, int out_w, advgnn_nn_resize_kind kind,
                     advgnn_layer **out)
{
    int64_t out_shape[4] = {input_shape[0], input_shape[1], out_h, out_w};
    dnnl_resampling_desc_t fwd_desc, bwd_desc;
    dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
    dnnl_memory_desc_t src, dst;
    dnnl_alg_kind_t alg;
    advgnn_layer *l;
    int rc;

    *out = NULL;
    if (kind != ADVGNN_NN_RESIZE_NEAREST && kind != ADVGNN_NN_RESIZE_BILINEAR)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: invalid resize kind %d", name ? name : "(null)",
                            (int)kind);
    if (out_h <= 0 || out_w <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: invalid resize output %dx%d",
                            name ? name : "(null)", out_h, out_w);
    alg = kind == ADVGNN_NN_RESIZE_NEAREST ? dnnl_resampling_nearest : dnnl_resampling_linear;
    rc = nn_layer_new(nn, ctx, sizeof(resize_layer), kind == ADVGNN_NN_RESIZE_BILINEAR ? &bilinear_ops : &plain_ops,
                      name, dtype, 1, (const int64_t(*)[4])input_shape, &l);
    if (rc != ADVGNN_OK)
        return rc;

    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, out_shape);
    if (rc == ADVGNN_OK && kind == ADVGNN_NN_RESIZE_BILINEAR)
        rc = init_bilinear((resize_layer *)l, ctx);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &src, input_shape, dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_md_nchw(l, ctx, &dst, out_shape, dtype, 0);
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_resampling_forward_desc_init(&fwd_desc, dnnl_forward_training, alg, NULL, &src, &dst),
                      l, "resampling descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_check(ctx, dnnl_resampling_backward_desc_init(&bwd_desc, alg, NULL, &src, &dst), l,
                      "resampling descriptor");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &fwd, &fwd_desc, NULL, "resampling forward");
    if (rc == ADVGNN_OK)
        rc = nn_pd_create(l, ctx, &bwd, &bwd_desc, fwd, "resampling backward");
    if (rc == ADVGNN_OK)
        rc = add_step(l, ctx, &l->fwd, fwd, 2, (const int[]){DNNL_ARG_SRC, DNNL_ARG_DST},
                      (const dnnl_memory_desc_t *const[]){&src, &dst},
                      (void **const[]){&l->input_data[0], &l->output.data});
    if (rc == ADVGNN_OK && kind == ADVGNN_NN_RESIZE_NEAREST)
        rc = add_step(l, ctx, &l->bwd_data, bwd, 2, (const int[]){DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC},
                      (const dnnl_memory_desc_t *const[]){&dst, &src},
                      (void **const[]){&l->grad_output_data, &l->input_grad[0].data});
    destroy_pds(fwd, bwd);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}
