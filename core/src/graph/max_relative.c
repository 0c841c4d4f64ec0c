/* Max-relative aggregation (ViG's MRConv before its 1x1 convolution):
 * out[n, c, i] = max_j keys[n, c, edge(i, j)] - x[n, c, i], threaded over
 * (image, channel) planes so that every plane is written by one thread. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "advgnn/graph.h"
#include "nn/nn_internal.h"

typedef struct maxrel_layer {
    advgnn_layer base;
    int k, interleave, separate_keys;
    int64_t nodes, keys;          /* per image */
    const int32_t *edges;         /* (N, nodes, k), borrowed */
    int32_t *argmax;              /* (N, C, nodes): key index of the maximum, saved for backward */
    int32_t *edges_by_rank;       /* f32 inference: (N, k, nodes), the edges transposed, scratch */
    float *keys_by_node;          /* f32 inference, channels a multiple of 8: (N, keys, C), scratch; else NULL */
    float *x_grad32, *keys_grad32; /* bf16 layers: f32 accumulators, (N, C, nodes) and (N, C, keys) */
} maxrel_layer;

static void plane_max_portable(const float *x, const float *keys, const int32_t *by_rank, int64_t nodes, int k,
                               float *out_x, float *out_rel, int64_t first);
static void plane_max_avx2(const float *x, const float *keys, const int32_t *by_rank, int64_t nodes, int k,
                           float *out_x, float *out_rel);

static float load(const void *data, advgnn_dtype dtype, int64_t i)
{
    if (dtype == ADVGNN_DTYPE_BF16)
        return nn_bf16_load(((const uint16_t *)data)[i]);
    return ((const float *)data)[i];
}

/* Inline rounding: a call to advgnn_f32_to_bf16 per value made the bf16
 * forward take twice the f32 time in bench/nn. */
static void store(void *data, advgnn_dtype dtype, int64_t i, float v)
{
    if (dtype == ADVGNN_DTYPE_BF16)
        ((uint16_t *)data)[i] = nn_bf16_round(v);
    else
        ((float *)data)[i] = v;
}

static int check_edges(maxrel_layer *m, advgnn_ctx *ctx)
{
    int64_t count = m->base.input_shape[0][0] * m->nodes * m->k;

    if (!m->edges)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: no edges; call advgnn_max_relative_set_edges before forward", m->base.name);
    for (int64_t i = 0; i < count; i++) {
        if (m->edges[i] < 0 || m->edges[i] >= m->keys)
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s: edge %lld has key index %d outside [0, %lld)",
                                m->base.name, (long long)i, (int)m->edges[i], (long long)m->keys);
    }
    return ADVGNN_OK;
}

/* ---- f32 inference: no argmax, neighbours gathered 8 nodes at a time ---- */

/* One plane from node `first` on: out_rel[i] = max_j keys[by_rank[j * nodes + i]]
 * - x[i], and out_x[i] = x[i] unless out_x is NULL. The maximum starts at -inf and takes
 * a value only when it is greater, as the training loop's does, so both give
 * the same bits, NaNs and signed zeros included. */
static void plane_max_portable(const float *x, const float *keys, const int32_t *by_rank, int64_t nodes, int k,
                               float *out_x, float *out_rel, int64_t first)
{
    for (int64_t i = first; i < nodes; i++) {
        float best = -INFINITY;

        for (int j = 0; j < k; j++) {
            float v = keys[by_rank[(int64_t)j * nodes + i]];

            best = v > best ? v : best;
        }
        if (out_x)
            out_x[i] = x[i];
        out_rel[i] = best - x[i];
    }
}

/* _mm256_max_ps(v, best) is v > best ? v : best lane by lane, as above. */
__attribute__((target("avx2"))) static void plane_max_avx2(const float *x, const float *keys, const int32_t *by_rank,
                                                           int64_t nodes, int k, float *out_x, float *out_rel)
{
    int64_t i = 0;

    for (; i + 8 <= nodes; i += 8) {
        __m256 best = _mm256_set1_ps(-INFINITY), xi = _mm256_loadu_ps(x + i);

        for (int j = 0; j < k; j++) {
            __m256i e = _mm256_loadu_si256((const __m256i *)(by_rank + (int64_t)j * nodes + i));

            best = _mm256_max_ps(_mm256_i32gather_ps(keys, e, 4), best);
        }
        if (out_x)
            _mm256_storeu_ps(out_x + i, xi);
        _mm256_storeu_ps(out_rel + i, _mm256_sub_ps(best, xi));
    }
    plane_max_portable(x, keys, by_rank, nodes, k, out_x, out_rel, i);
}

/* ---- f32 inference on node-major keys ---------------------------------- */

/* With the channels a multiple of 8, the keys are first transposed to one
 * row of C values per key. A node's maximum over its k neighbours is then k
 * row loads per 8 channels, instead of one gather per neighbour and channel
 * for 8 nodes. The gathers, even from a plane in L1, made the aggregation
 * 4.4% of bench_vig's inference time. Blocks of 8 nodes by 8 channels are
 * transposed back in registers, so the output planes are written 8 nodes at
 * a time. The maxima take values as the training loop's do (see
 * plane_max_portable), so the bits are the same. */

/* Returns node i's maximum over its neighbours of channel c (scalar). */
static float node_max(const float *keys_by_node, const int32_t *edges, int64_t channels, int k, int64_t i, int64_t c)
{
    float best = -INFINITY;

    for (int j = 0; j < k; j++) {
        float v = keys_by_node[edges[i * k + j] * channels + c];

        best = v > best ? v : best;
    }
    return best;
}

/* Transposes the 8 x 8 block r (row q: 8 channels of node q) in place, so
 * that row q contains channel q of the 8 nodes. */
__attribute__((target("avx2"))) static inline void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];

    for (int q = 0; q < 8; q += 2) {
        t[q] = _mm256_unpacklo_ps(r[q], r[q + 1]);
        t[q + 1] = _mm256_unpackhi_ps(r[q], r[q + 1]);
    }
    for (int q = 0; q < 8; q += 4) {
        u[q] = _mm256_shuffle_ps(t[q], t[q + 2], 0x44);
        u[q + 1] = _mm256_shuffle_ps(t[q], t[q + 2], 0xee);
        u[q + 2] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0x44);
        u[q + 3] = _mm256_shuffle_ps(t[q + 1], t[q + 3], 0xee);
    }
    for (int q = 0; q < 4; q++) {
        r[q] = _mm256_permute2f128_ps(u[q], u[q + 4], 0x20);
        r[q + 4] = _mm256_permute2f128_ps(u[q], u[q + 4], 0x31);
    }
}

/* Computes nodes first .. first + 7 of one image, all channels. out_x is the
 * interleaved copy of x (plane stride 2 * nodes) or NULL, and out_rel's
 * planes are out_stride apart. */
__attribute__((target("avx2"))) static void node_block_avx2(const float *keys_by_node, const int32_t *edges,
                                                            const float *x, int64_t nodes, int64_t channels, int k,
                                                            int64_t first, float *out_x, float *out_rel,
                                                            int64_t out_stride)
{
    for (int64_t c0 = 0; c0 < channels; c0 += 8) {
        __m256 r[8];

        for (int q = 0; q < 8; q++) {
            const int32_t *e = edges + (first + q) * k;
            __m256 best = _mm256_set1_ps(-INFINITY);

            for (int j = 0; j < k; j++)
                best = _mm256_max_ps(_mm256_loadu_ps(keys_by_node + e[j] * channels + c0), best);
            r[q] = best;
        }
        transpose8(r);
        for (int q = 0; q < 8; q++) {
            int64_t c = c0 + q;
            __m256 xi = _mm256_loadu_ps(x + c * nodes + first);

            if (out_x)
                _mm256_storeu_ps(out_x + c * out_stride + first, xi);
            _mm256_storeu_ps(out_rel + c * out_stride + first, _mm256_sub_ps(r[q], xi));
        }
    }
}

static void node_major_forward(maxrel_layer *m, int64_t batch, int64_t channels, const float *x, const float *keys)
{
    const int k = m->k;
    const int64_t nodes = m->nodes, key_count = m->keys, blocks = (nodes + 7) / 8;
    const int64_t out_stride = m->interleave ? 2 * nodes : nodes;
    float *by_node = m->keys_by_node, *out = m->base.output.data;

#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < batch; n++)
        for (int64_t e = 0; e < key_count; e++)
            for (int64_t c = 0; c < channels; c++)
                by_node[(n * key_count + e) * channels + c] = keys[(n * channels + c) * key_count + e];

#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < batch; n++) {
        for (int64_t b = 0; b < blocks; b++) {
            const float *image_keys = by_node + n * key_count * channels, *image_x = x + n * channels * nodes;
            const int32_t *image_edges = m->edges + n * nodes * k;
            float *image_out = out + n * channels * out_stride;
            float *out_x = m->interleave ? image_out : NULL, *out_rel = m->interleave ? image_out + nodes : image_out;
            int64_t first = 8 * b;

            if (first + 8 <= nodes) {
                node_block_avx2(image_keys, image_edges, image_x, nodes, channels, k, first, out_x, out_rel,
                                out_stride);
                continue;
            }
            for (int64_t c = 0; c < channels; c++) {
                for (int64_t i = first; i < nodes; i++) {
                    float xi = image_x[c * nodes + i];

                    if (out_x)
                        out_x[c * out_stride + i] = xi;
                    out_rel[c * out_stride + i] = node_max(image_keys, image_edges, channels, k, i, c) - xi;
                }
            }
        }
    }
}

static void inference_forward(maxrel_layer *m, int64_t batch, int64_t channels, const float *x, const float *keys)
{
    const int k = m->k;
    const int64_t nodes = m->nodes, key_count = m->keys, out_channels = m->interleave ? 2 : 1;
    const int32_t *edges = m->edges;
    int32_t *by_rank = m->edges_by_rank;
    float *out = m->base.output.data;
    int avx2 = __builtin_cpu_supports("avx2");

    if (avx2 && m->keys_by_node) {
        node_major_forward(m, batch, channels, x, keys);
        return;
    }

    /* Every channel of an image reads the same edges: transpose them once,
     * so that the j-th neighbours of 8 consecutive nodes are one vector. */
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < batch; n++)
        for (int64_t i = 0; i < nodes; i++)
            for (int j = 0; j < k; j++)
                by_rank[(n * k + j) * nodes + i] = edges[(n * nodes + i) * k + j];

#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < batch; n++) {
        for (int64_t c = 0; c < channels; c++) {
            const float *x_plane = x + (n * channels + c) * nodes;
            const float *key_plane = keys + (n * channels + c) * key_count;
            const int32_t *image_edges = by_rank + n * k * nodes;
            float *out_plane = out + (n * channels + c) * out_channels * nodes;
            float *out_x = m->interleave ? out_plane : NULL, *out_rel = m->interleave ? out_plane + nodes : out_plane;

            if (avx2)
                plane_max_avx2(x_plane, key_plane, image_edges, nodes, k, out_x, out_rel);
            else
                plane_max_portable(x_plane, key_plane, image_edges, nodes, k, out_x, out_rel, 0);
        }
    }
}

static int maxrel_forward(advgnn_layer *l, advgnn_ctx *ctx, advgnn_nn_mode mode)
{
    maxrel_layer *m = (maxrel_layer *)l;
    int64_t batch = l->input_shape[0][0], channels = l->input_shape[0][1];
    const void *x = l->input_data[0], *keys = m->separate_keys ? l->input_data[1] : l->input_data[0];
    advgnn_dtype dtype = l->dtype;
    int rc = check_edges(m, ctx);

    if (rc != ADVGNN_OK)
        return rc;

    if (mode == ADVGNN_NN_MODE_INFERENCE && dtype == ADVGNN_DTYPE_F32) {
        inference_forward(m, batch, channels, x, keys);
        return ADVGNN_OK;
    }

    /* Plain locals: stores through argmax (int32_t) could alias the fields of m. */
    const int k = m->k, interleave = m->interleave;
    const int64_t nodes = m->nodes, key_count = m->keys, out_channels = interleave ? 2 : 1;
    const int32_t *all_edges = m->edges;
    int32_t *argmax = m->argmax;
    void *out = l->output.data;

#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < batch; n++) {
        for (int64_t c = 0; c < channels; c++) {
            int64_t x_plane = (n * channels + c) * nodes, key_plane = (n * channels + c) * key_count;
            int64_t out_plane = (n * channels + c) * out_channels * nodes;
            const int32_t *edges = all_edges + n * nodes * k;

            for (int64_t i = 0; i < nodes; i++) {
                float best = -INFINITY, xi = load(x, dtype, x_plane + i);
                int32_t arg = edges[i * k];

                /* The first maximum wins, so equal keys pick the earliest edge. */
                for (int j = 0; j < k; j++) {
                    int32_t e = edges[i * k + j];
                    float v = load(keys, dtype, key_plane + e);

                    if (v > best) {
                        best = v;
                        arg = e;
                    }
                }
                argmax[x_plane + i] = arg;
                if (interleave) {
                    store(out, dtype, out_plane + i, xi);
                    store(out, dtype, out_plane + nodes + i, best - xi);
                } else {
                    store(out, dtype, out_plane + i, best - xi);
                }
            }
        }
    }
    return ADVGNN_OK;
}

/* d out_i / d x_i = -1 and d out_i / d keys_argmax = +1; with interleaving the
 * copied channel adds its gradient to x as well. Keys equal to x (one input)
 * receive both terms in the same buffer, which is safe because one thread
 * owns each (image, channel) plane. */
static int maxrel_backward(advgnn_layer *l, advgnn_ctx *ctx)
{
    maxrel_layer *m = (maxrel_layer *)l;
    int64_t batch = l->input_shape[0][0], channels = l->input_shape[0][1];
    int bf16 = l->dtype == ADVGNN_DTYPE_BF16;
    float *dx = bf16 ? m->x_grad32 : l->input_grad[0].data;
    float *dkeys = dx;
    const void *dy = l->grad_output_data;

    if (!l->input_grad_enabled)
        return ADVGNN_OK;
    if (m->separate_keys)
        dkeys = bf16 ? m->keys_grad32 : l->input_grad[1].data;

#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < batch; n++) {
        for (int64_t c = 0; c < channels; c++) {
            int64_t x_plane = (n * channels + c) * m->nodes, key_plane = (n * channels + c) * m->keys;
            int64_t out_plane = (n * channels * (m->interleave ? 2 : 1) + c * (m->interleave ? 2 : 1)) * m->nodes;
            int64_t rel_plane = m->interleave ? out_plane + m->nodes : out_plane;

            memset(dx + x_plane, 0, (size_t)m->nodes * sizeof(float));
            if (m->separate_keys)
                memset(dkeys + key_plane, 0, (size_t)m->keys * sizeof(float));
            for (int64_t i = 0; i < m->nodes; i++) {
                float g = load(dy, l->dtype, rel_plane + i);

                dx[x_plane + i] -= g;
                dkeys[key_plane + m->argmax[x_plane + i]] += g;
                if (m->interleave)
                    dx[x_plane + i] += load(dy, l->dtype, out_plane + i);
            }
        }
    }

    if (bf16) {
        advgnn_f32_to_bf16(m->x_grad32, l->input_grad[0].data, (size_t)(batch * channels * m->nodes));
        if (m->separate_keys)
            advgnn_f32_to_bf16(m->keys_grad32, l->input_grad[1].data, (size_t)(batch * channels * m->keys));
    }
    return ADVGNN_OK;
}

static const nn_layer_ops maxrel_ops = {maxrel_forward, maxrel_backward, NULL};

int advgnn_max_relative_set_edges(advgnn_layer *layer, advgnn_ctx *ctx, const int32_t *edges)
{
    if (!layer || layer->ops != &maxrel_ops)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "layer %s is not a max-relative layer",
                            layer ? layer->name : "(null)");
    ((maxrel_layer *)layer)->edges = edges;
    return ADVGNN_OK;
}

int advgnn_nn_max_relative(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                           const int64_t input_shape[4], const int64_t keys_shape[4], int k, int interleave,
                           advgnn_layer **out)
{
    int64_t shapes[2][4], out_shape[4];
    int64_t batch = input_shape[0], channels = input_shape[1];
    advgnn_layer *l;
    maxrel_layer *m;
    int inputs = keys_shape ? 2 : 1;
    int rc;

    *out = NULL;
    memcpy(shapes[0], input_shape, sizeof(shapes[0]));
    memcpy(shapes[1], keys_shape ? keys_shape : input_shape, sizeof(shapes[1]));
    if (k < 1 || shapes[1][0] != batch || shapes[1][1] != channels)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "layer %s: max-relative needs k >= 1 (got %d) and keys with the input's N and C",
                            name ? name : "(null)", k);
    rc = nn_layer_new(nn, ctx, sizeof(maxrel_layer), &maxrel_ops, name, dtype, inputs,
                      (const int64_t(*)[4])shapes, &l);
    if (rc != ADVGNN_OK)
        return rc;
    m = (maxrel_layer *)l;
    m->k = k;
    m->interleave = interleave != 0;
    m->separate_keys = keys_shape != NULL;
    m->nodes = input_shape[2] * input_shape[3];
    m->keys = shapes[1][2] * shapes[1][3];

    memcpy(out_shape, input_shape, sizeof(out_shape));
    out_shape[1] = interleave ? 2 * channels : channels;
    rc = nn_reserve_tensor(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, &l->output, dtype, 4, out_shape);
    if (rc == ADVGNN_OK)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_ACTIVATIONS, (size_t)(batch * channels * m->nodes) * sizeof(int32_t),
                        (void **)&m->argmax);
    if (rc == ADVGNN_OK && dtype == ADVGNN_DTYPE_F32)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, (size_t)(batch * k * m->nodes) * sizeof(int32_t),
                        (void **)&m->edges_by_rank);
    if (rc == ADVGNN_OK && dtype == ADVGNN_DTYPE_F32 && channels % 8 == 0)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, (size_t)(batch * channels * m->keys) * sizeof(float),
                        (void **)&m->keys_by_node);
    if (rc == ADVGNN_OK && dtype == ADVGNN_DTYPE_BF16)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, (size_t)(batch * channels * m->nodes) * sizeof(float),
                        (void **)&m->x_grad32);
    if (rc == ADVGNN_OK && dtype == ADVGNN_DTYPE_BF16 && keys_shape)
        rc = nn_reserve(nn, ctx, l, ADVGNN_NN_ARENA_SCRATCH, (size_t)(batch * channels * m->keys) * sizeof(float),
                        (void **)&m->keys_grad32);
    if (rc == ADVGNN_OK)
        *out = l;
    return rc;
}
