/* Dynamic k-nearest-neighbour graph of Vision GNN: L2-normalized nodes and
 * keys, one oneDNN matmul per block of rows for the distances, an OpenMP
 * top-k per row, then dilation. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include <omp.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "advgnn/graph.h"
#include "advgnn/nn.h"
#include "util/internal.h"

/* Bytes of the score block of one matmul: block_rows = this / (4 * keys),
 * at least KNN_MIN_BLOCK_ROWS and at most the node count. One block holds a
 * whole pyramid ViG stage at 224 x 224 (3136 x 196 scores, 2.4 MB), so an
 * image costs one matmul and one parallel top-k region. Each parallel region
 * wakes the threads, through futexes with passive OpenMP waits. On a 2-vCPU
 * Zen 3, blocks of 256 rows made a stage-1 layer 0.6 ms slower per image
 * than one block. A fixed large block would waste most of the matmul on
 * padding rows for a 196-node map. */
#define KNN_BLOCK_BYTES (4u << 20)
#define KNN_MIN_BLOCK_ROWS 64
#define KNN_MAX_KD 1024 /* k * dilation; bounds the per-row candidate list */
#define KNN_VECTOR_KD 32 /* the largest k * dilation of the vector top-k (see select_row_avx2) */

/* Bytes of the score block of one sgemm in the image-parallel build (see
 * build_by_image): within a core's L2 cache (512 KB on Zen 3), where the
 * top-k reads the scores right after. Blocks keep at least
 * KNN_MIN_BLOCK_ROWS rows, so that 3136 keys do not shrink them to 20-row
 * products. */
#define KNN_WORKER_BLOCK_BYTES (256u << 10)

/* The rows and scores of one thread in the image-parallel build. */
typedef struct knn_worker {
    float *node_rows; /* (nodes, C) */
    float *key_rows;  /* (keys, C), or node_rows when keys_are_nodes */
    float *key_term;  /* (keys) */
    float *scores;    /* (worker_rows, keys) */
} knn_worker;

struct advgnn_knn_graph {
    int channels, height, width;
    int nodes, keys;          /* H*W and (H/r)*(W/r) */
    int key_h, key_w;
    int k, dilation, ratio, kd;
    const float *bias;        /* (nodes, keys) or NULL, borrowed */

    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_t matmul;
    dnnl_memory_t src_mem, weights_mem, bias_mem, dst_mem, scratch_mem;

    int block_rows;           /* rows of the distance matrix per matmul */
    int padded_nodes;         /* nodes rounded up to a whole number of blocks */
    int bf16;                 /* the matmul reads bf16 copies of the rows */
    /* Top-k kernels, chosen at creation for this CPU (see select_row). */
    void (*rank_pass)(float *scores, const float *key_term, const float *bias_row, int keys, int blocks,
                      float *maxima);
    unsigned (*at_least)(const float *scores, int first, float t);
    void (*select)(const struct advgnn_knn_graph *g, float *scores, const float *key_term, const float *bias_row,
                   int32_t *edges);
    int keys_are_nodes;       /* reduce ratio 1: key rows alias the node rows */
    float *node_rows;         /* (padded_nodes, C) normalized nodes; padding rows stay 0 */
    float *key_rows;          /* (keys, C) normalized keys; the node rows when keys_are_nodes */
    uint16_t *node_rows16;    /* bf16 copies when `bf16`, else NULL */
    uint16_t *key_rows16;
    float *key_term;          /* (1, keys): -|y_j|^2 / 2 */
    float *scores;            /* (block, keys): x_i . y_j - |y_j|^2 / 2 */
    void *scratchpad;
    knn_worker *workers;      /* per thread, created by the first image-parallel build; or NULL */
    int worker_count, worker_rows;
};

static void rank_pass_portable(float *scores, const float *key_term, const float *bias_row, int keys, int blocks,
                               float *maxima);
static void rank_pass_avx2(float *scores, const float *key_term, const float *bias_row, int keys, int blocks,
                           float *maxima);
static unsigned at_least_portable(const float *scores, int first, float t);
static unsigned at_least_avx2(const float *scores, int first, float t);
static void select_row(const advgnn_knn_graph *g, float *scores, const float *key_term, const float *bias_row,
                       int32_t *edges);
static void select_row_avx2(const advgnn_knn_graph *g, float *scores, const float *key_term, const float *bias_row,
                            int32_t *edges);

static int dnnl_fail(advgnn_ctx *ctx, dnnl_status_t st, const char *what)
{
    if (st == dnnl_success)
        return ADVGNN_OK;
    return advgnn_failf(ctx, ADVGNN_ERR_BACKEND, "kNN graph: oneDNN failed in %s: %s", what, dnnl_status2str(st));
}

static void free_workers(advgnn_knn_graph *g)
{
    for (int t = 0; g->workers && t < g->worker_count; t++) {
        knn_worker *w = &g->workers[t];

        advgnn_aligned_free(w->node_rows);
        if (!g->keys_are_nodes)
            advgnn_aligned_free(w->key_rows);
        advgnn_aligned_free(w->key_term);
        advgnn_aligned_free(w->scores);
    }
    advgnn_free(g->workers);
    g->workers = NULL;
    g->worker_count = 0;
}

void advgnn_knn_graph_free(advgnn_knn_graph *g)
{
    if (!g)
        return;
    dnnl_memory_t mems[] = {g->src_mem, g->weights_mem, g->bias_mem, g->dst_mem, g->scratch_mem};

    for (size_t i = 0; i < ADVGNN_ARRAY_LEN(mems); i++) {
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    }
    if (g->matmul)
        dnnl_primitive_destroy(g->matmul);
    if (g->stream)
        dnnl_stream_destroy(g->stream);
    if (g->engine)
        dnnl_engine_destroy(g->engine);
    advgnn_aligned_free(g->node_rows);
    advgnn_aligned_free(g->node_rows16);
    if (!g->keys_are_nodes) {
        advgnn_aligned_free(g->key_rows);
        advgnn_aligned_free(g->key_rows16);
    }
    advgnn_aligned_free(g->key_term);
    advgnn_aligned_free(g->scores);
    advgnn_aligned_free(g->scratchpad);
    free_workers(g);
    advgnn_free(g);
}

int advgnn_knn_graph_key_count(const advgnn_knn_graph *g)
{
    return g->keys;
}

/* ---- creation ---------------------------------------------------------- */

/* Builds the matmul scores(block, keys) = rows(block, C) x keys^T(C, keys) + key_term,
 * reading the key rows transposed through strides, without a copy. */
static int create_matmul(advgnn_knn_graph *g, advgnn_ctx *ctx)
{
    dnnl_dims_t src_dims = {g->block_rows, g->channels}, wei_dims = {g->channels, g->keys};
    dnnl_dims_t wei_strides = {1, g->channels}, bias_dims = {1, g->keys}, dst_dims = {g->block_rows, g->keys};
    dnnl_data_type_t type = g->bf16 ? dnnl_bf16 : dnnl_f32;
    void *nodes = g->bf16 ? (void *)g->node_rows16 : (void *)g->node_rows;
    void *keys = g->bf16 ? (void *)g->key_rows16 : (void *)g->key_rows;
    dnnl_memory_desc_t src, wei, bias, dst;
    const dnnl_memory_desc_t *scratch;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    int rc;

    st = dnnl_memory_desc_init_by_tag(&src, 2, src_dims, type, dnnl_ab);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_strides(&wei, 2, wei_dims, type, wei_strides);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&bias, 2, bias_dims, dnnl_f32, dnnl_ab);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&dst, 2, dst_dims, dnnl_f32, dnnl_ab);
    if (st == dnnl_success)
        st = dnnl_matmul_desc_init(&desc, &src, &wei, &bias, &dst);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &desc, attr, g->engine, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&g->matmul, pd);
    rc = dnnl_fail(ctx, st, "matmul creation");

    if (rc == ADVGNN_OK) {
        size_t bytes;

        scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        bytes = dnnl_memory_desc_get_size(scratch);
        g->scratchpad = advgnn_aligned_alloc(bytes ? bytes : 64);
        if (!g->scratchpad)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "kNN graph: out of memory for a %zu-byte scratchpad", bytes);
        if (rc == ADVGNN_OK)
            rc = dnnl_fail(ctx, dnnl_memory_create(&g->scratch_mem, scratch, g->engine, g->scratchpad),
                           "memory creation");
    }
    if (rc == ADVGNN_OK)
        rc = dnnl_fail(ctx, dnnl_memory_create(&g->src_mem, &src, g->engine, nodes), "memory creation");
    if (rc == ADVGNN_OK)
        rc = dnnl_fail(ctx, dnnl_memory_create(&g->weights_mem, &wei, g->engine, keys), "memory creation");
    if (rc == ADVGNN_OK)
        rc = dnnl_fail(ctx, dnnl_memory_create(&g->bias_mem, &bias, g->engine, g->key_term), "memory creation");
    if (rc == ADVGNN_OK)
        rc = dnnl_fail(ctx, dnnl_memory_create(&g->dst_mem, &dst, g->engine, g->scores), "memory creation");
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static int check_config(advgnn_ctx *ctx, int channels, int height, int width, const advgnn_knn_config *config)
{
    int ratio, dilation;

    if (!config)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "kNN graph: configuration is missing");
    ratio = config->reduce_ratio ? config->reduce_ratio : 1;
    dilation = config->dilation ? config->dilation : 1;
    if (channels <= 0 || height <= 0 || width <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "kNN graph: invalid feature map %d x %d x %d", channels,
                            height, width);
    if (config->k < 1 || dilation < 1 || ratio < 1 || (int64_t)config->k * dilation > KNN_MAX_KD)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "kNN graph: invalid k %d, dilation %d or reduce ratio %d (k * dilation at most %d)",
                            config->k, dilation, ratio, KNN_MAX_KD);
    if (height % ratio != 0 || width % ratio != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "kNN graph: reduce ratio %d must divide the %d x %d map",
                            ratio, height, width);
    if ((int64_t)config->k * dilation > (int64_t)(height / ratio) * (width / ratio))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "kNN graph: k * dilation = %d exceeds the %d keys",
                            config->k * dilation, (height / ratio) * (width / ratio));
    return ADVGNN_OK;
}

int advgnn_knn_graph_new(advgnn_ctx *ctx, int channels, int height, int width, const advgnn_knn_config *config,
                         advgnn_knn_graph **out)
{
    advgnn_knn_graph *g;
    int rc;

    *out = NULL;
    rc = check_config(ctx, channels, height, width, config);
    if (rc != ADVGNN_OK)
        return rc;
    if (config->bf16_matmul && !advgnn_nn_bf16_supported())
        return advgnn_failf(ctx, ADVGNN_ERR_BACKEND,
                            "kNN graph: bf16_matmul needs a CPU with AVX-512, because oneDNN has no bf16 matmul "
                            "below it, and this CPU or ONEDNN_MAX_CPU_ISA offers less; set bf16_matmul to 0");
    g = advgnn_calloc(1, sizeof(*g));
    if (!g)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "kNN graph: out of memory");

    g->channels = channels;
    g->height = height;
    g->width = width;
    g->k = config->k;
    g->dilation = config->dilation ? config->dilation : 1;
    g->ratio = config->reduce_ratio ? config->reduce_ratio : 1;
    g->kd = g->k * g->dilation;
    g->bias = config->bias;
    g->nodes = height * width;
    g->key_h = height / g->ratio;
    g->key_w = width / g->ratio;
    g->keys = g->key_h * g->key_w;
    g->block_rows = (int)(KNN_BLOCK_BYTES / (sizeof(float) * (size_t)g->keys));
    if (g->block_rows < KNN_MIN_BLOCK_ROWS)
        g->block_rows = KNN_MIN_BLOCK_ROWS;
    if (g->block_rows > g->nodes)
        g->block_rows = g->nodes;
    g->padded_nodes = (g->nodes + g->block_rows - 1) / g->block_rows * g->block_rows;

    g->node_rows = advgnn_aligned_alloc((size_t)g->padded_nodes * channels * sizeof(float));
    g->keys_are_nodes = g->ratio == 1;
    g->key_rows = g->keys_are_nodes ? g->node_rows : advgnn_aligned_alloc((size_t)g->keys * channels * sizeof(float));
    g->key_term = advgnn_aligned_alloc((size_t)g->keys * sizeof(float));
    g->scores = advgnn_aligned_alloc((size_t)g->block_rows * g->keys * sizeof(float));
    g->bf16 = config->bf16_matmul != 0;
    g->rank_pass = __builtin_cpu_supports("avx2") ? rank_pass_avx2 : rank_pass_portable;
    g->at_least = __builtin_cpu_supports("avx2") ? at_least_avx2 : at_least_portable;
    g->select = __builtin_cpu_supports("avx2") && g->kd <= KNN_VECTOR_KD ? select_row_avx2 : select_row;
    if (g->bf16) {
        g->node_rows16 = advgnn_aligned_alloc((size_t)g->padded_nodes * channels * sizeof(uint16_t));
        g->key_rows16 = g->keys_are_nodes ? g->node_rows16
                                          : advgnn_aligned_alloc((size_t)g->keys * channels * sizeof(uint16_t));
    }
    if (!g->node_rows || !g->key_rows || !g->key_term || !g->scores ||
        (g->bf16 && (!g->node_rows16 || !g->key_rows16))) {
        int nodes = g->nodes, keys = g->keys;

        advgnn_knn_graph_free(g);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "kNN graph: out of memory for %d nodes and %d keys", nodes, keys);
    }
    memset(g->node_rows, 0, (size_t)g->padded_nodes * channels * sizeof(float));
    if (g->bf16)
        memset(g->node_rows16, 0, (size_t)g->padded_nodes * channels * sizeof(uint16_t));

    rc = dnnl_fail(ctx, dnnl_engine_create(&g->engine, dnnl_cpu, 0), "engine creation");
    if (rc == ADVGNN_OK)
        rc = dnnl_fail(ctx, dnnl_stream_create(&g->stream, g->engine, dnnl_stream_default_flags), "stream creation");
    if (rc == ADVGNN_OK)
        rc = create_matmul(g, ctx);
    if (rc != ADVGNN_OK) {
        advgnn_knn_graph_free(g);
        return rc;
    }
    *out = g;
    return ADVGNN_OK;
}

/* ---- features ---------------------------------------------------------- */

static float load(const void *data, advgnn_dtype dtype, int64_t i)
{
    if (dtype == ADVGNN_DTYPE_BF16) {
        uint32_t bits = (uint32_t)((const uint16_t *)data)[i] << 16;
        float v;

        memcpy(&v, &bits, sizeof(v));
        return v;
    }
    return ((const float *)data)[i];
}

/* Returns the squared norm of a row, summed in double in four interleaved
 * partial sums. A single running sum was one chain of dependent additions,
 * which took most of the time of building the node rows. */
static double squared_norm(const float *row, int channels)
{
    double part[4] = {0, 0, 0, 0};
    int c = 0;

    for (; c + 4 <= channels; c += 4)
        for (int lane = 0; lane < 4; lane++)
            part[lane] += (double)row[c + lane] * row[c + lane];
    for (; c < channels; c++)
        part[0] += (double)row[c] * row[c];
    return (part[0] + part[1]) + (part[2] + part[3]);
}

/* Divides a row by max(|row|, 1e-12), as PyTorch's F.normalize. */
static void normalize_row(float *row, int channels)
{
    double sum = squared_norm(row, channels);
    float scale;

    scale = (float)(1.0 / fmax(sqrt(sum), 1e-12));
    for (int c = 0; c < channels; c++)
        row[c] *= scale;
}

/* Transposes one image (C, H, W) into normalized node rows and pooled,
 * normalized key rows, and computes the key term -|y_j|^2 / 2, into the
 * given buffers (key_rows is node_rows when keys_are_nodes). The bf16
 * copies are made when g->bf16, into g's buffers. `parallel` shares the
 * loops among the threads, and the image-parallel build calls this with 0
 * on one thread per image. */
static void prepare_image(const advgnn_knn_graph *g, const void *image, advgnn_dtype dtype, float *node_rows,
                          float *key_rows, float *key_term, int parallel)
{
    int64_t plane = g->nodes;
    int r = g->ratio;

#pragma omp parallel for schedule(static) if (parallel)
    for (int i = 0; i < g->nodes; i++) {
        float *row = node_rows + (size_t)i * g->channels;

        for (int c = 0; c < g->channels; c++)
            row[c] = load(image, dtype, c * plane + i);
        normalize_row(row, g->channels);
        if (g->bf16)
            advgnn_f32_to_bf16(row, g->node_rows16 + (size_t)i * g->channels, (size_t)g->channels);
    }

    /* Without pooling the keys are the node rows; only their norm term is new. */
    if (g->keys_are_nodes) {
#pragma omp parallel for schedule(static) if (parallel)
        for (int j = 0; j < g->keys; j++) {
            const void *row = g->bf16 ? (const void *)(g->node_rows16 + (size_t)j * g->channels)
                                      : (const void *)(node_rows + (size_t)j * g->channels);
            double norm = 0;

            if (!g->bf16) {
                norm = squared_norm(row, g->channels);
            } else {
                for (int c = 0; c < g->channels; c++) {
                    float v = load(row, ADVGNN_DTYPE_BF16, c);

                    norm += (double)v * v;
                }
            }
            key_term[j] = (float)(-0.5 * norm);
        }
        return;
    }

#pragma omp parallel for schedule(static) if (parallel)
    for (int j = 0; j < g->keys; j++) {
        float *row = key_rows + (size_t)j * g->channels;
        int ky = j / g->key_w, kx = j % g->key_w;
        double norm = 0;

        for (int c = 0; c < g->channels; c++) {
            double sum = 0;

            for (int dy = 0; dy < r; dy++)
                for (int dx = 0; dx < r; dx++)
                    sum += load(image, dtype, c * plane + (int64_t)(ky * r + dy) * g->width + kx * r + dx);
            row[c] = (float)(sum / (r * r));
        }
        normalize_row(row, g->channels);

        /* The norm term matches the values the matmul reads. */
        if (g->bf16) {
            advgnn_f32_to_bf16(row, g->key_rows16 + (size_t)j * g->channels, (size_t)g->channels);
            advgnn_bf16_to_f32(g->key_rows16 + (size_t)j * g->channels, row, (size_t)g->channels);
        }
        norm = squared_norm(row, g->channels);
        key_term[j] = (float)(-0.5 * norm);
    }
}

/* ---- top-k ------------------------------------------------------------- */

/* The top-k works on ranking scores: dist = |x|^2 - 2 * score + bias, so
 * ranking by score - bias / 2 orders keys as the distance does. 0.5f * bias
 * is exact, so the vector code rounds exactly as the scalar code.
 *
 * A row runs in two passes. The first turns the matmul's scores into ranking
 * scores in place (adding the key term first where the product lacks it)
 * and takes, for each block of 64 keys (up to KNN_MAX_SETS / 8
 * blocks), the maximum of each
 * of the 8 interleaved sets of 8 keys (one vertical vector max per block).
 * These maxima are keys of disjoint sets, so at least kd keys score at least
 * the kd-th largest maximum, T, and no key below T can be among the kd best.
 * The second pass inserts only the keys >= T into the sorted list, in
 * increasing key order, so the result and its ties equal those of one
 * insertion scan over every key. The bound rejects most of a row's keys with
 * one compare per 8; the insertions that a single scan made whenever a
 * better key came along were most of the time before this. */
#define KNN_SET_BLOCK 64
#define KNN_MAX_SETS 1024

static void rank_pass_portable(float *scores, const float *key_term, const float *bias_row, int keys, int blocks,
                               float *maxima)
{
    for (int j = 0; key_term && j < keys; j++)
        scores[j] += key_term[j];
    for (int j = 0; bias_row && j < keys; j++)
        scores[j] -= 0.5f * bias_row[j];
    for (int b = 0; b < blocks; b++) {
        const float *block = scores + (size_t)b * KNN_SET_BLOCK;

        for (int lane = 0; lane < 8; lane++) {
            float m = block[lane];

            for (int v = 1; v < KNN_SET_BLOCK / 8; v++)
                m = block[8 * v + lane] > m ? block[8 * v + lane] : m;
            maxima[8 * b + lane] = m;
        }
    }
}

__attribute__((target("avx2"))) static void rank_pass_avx2(float *scores, const float *key_term,
                                                           const float *bias_row, int keys, int blocks, float *maxima)
{
    __m256 half = _mm256_set1_ps(0.5f);

    if (key_term) {
        int j = 0;

        for (; j + 8 <= keys; j += 8)
            _mm256_storeu_ps(scores + j, _mm256_add_ps(_mm256_loadu_ps(scores + j), _mm256_loadu_ps(key_term + j)));
        for (; j < keys; j++)
            scores[j] += key_term[j];
    }
    if (bias_row) {
        int j = 0;

        for (; j + 8 <= keys; j += 8)
            _mm256_storeu_ps(scores + j, _mm256_sub_ps(_mm256_loadu_ps(scores + j),
                                                       _mm256_mul_ps(half, _mm256_loadu_ps(bias_row + j))));
        for (; j < keys; j++)
            scores[j] -= 0.5f * bias_row[j];
    }
    for (int b = 0; b < blocks; b++) {
        const float *block = scores + (size_t)b * KNN_SET_BLOCK;
        __m256 m = _mm256_loadu_ps(block);

        /* A NaN loses to the maximum so far; a row of NaNs falls back below. */
        for (int v = 1; v < KNN_SET_BLOCK / 8; v++)
            m = _mm256_max_ps(_mm256_loadu_ps(block + 8 * v), m);
        _mm256_storeu_ps(maxima + 8 * b, m);
    }
}

/* Returns a bit mask of the 8 keys from `first` whose score is >= t. */
static unsigned at_least_portable(const float *scores, int first, float t)
{
    unsigned mask = 0;

    for (int lane = 0; lane < 8; lane++)
        mask |= (unsigned)(scores[first + lane] >= t) << lane;
    return mask;
}

__attribute__((target("avx2"))) static unsigned at_least_avx2(const float *scores, int first, float t)
{
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(scores + first), _mm256_set1_ps(t), _CMP_GE_OQ));
}

/* Inserts key j with score s into the list sorted best first. A later key
 * with an equal score never displaces an earlier one, so ties go to the
 * lower key index. */
static void insert(float *best, int32_t *index, int *filled, int kd, float s, int32_t j)
{
    int pos = *filled < kd ? (*filled)++ : kd - 1;

    while (pos > 0 && s > best[pos - 1]) {
        best[pos] = best[pos - 1];
        index[pos] = index[pos - 1];
        pos--;
    }
    best[pos] = s;
    index[pos] = j;
}

static void consider(float *best, int32_t *index, int *filled, int kd, float s, int32_t j)
{

    if (*filled < kd || s > best[kd - 1])
        insert(best, index, filled, kd, s, j);
}

/* Writes every dilation-th of the kd best ranking scores of a row to
 * `edges`, from one insertion scan over every key (the reference order of
 * the top-k, NaNs included). */
static void plain_scan(const advgnn_knn_graph *g, const float *scores, int32_t *edges)
{
    float best[KNN_MAX_KD];
    int32_t index[KNN_MAX_KD];
    int filled = 0;

    for (int j = 0; j < g->keys; j++)
        consider(best, index, &filled, g->kd, scores[j], j);
    for (int i = 0; i < g->k; i++)
        edges[i] = index[i * g->dilation];
}

/* Keeps the kd best (largest) ranking scores of one row, sorted best first,
 * and writes every dilation-th of them to `edges`. `scores` is the row of the
 * distance product and is overwritten with the ranking scores. key_term is
 * the key term -|y_j|^2 / 2 when the product did not add it, else NULL. */
static void select_row(const advgnn_knn_graph *g, float *scores, const float *key_term, const float *bias_row,
                       int32_t *edges)
{
    float best[KNN_MAX_KD], maxima[KNN_MAX_SETS];
    int32_t index[KNN_MAX_KD];
    int blocks = g->keys / KNN_SET_BLOCK < KNN_MAX_SETS / 8 ? g->keys / KNN_SET_BLOCK : KNN_MAX_SETS / 8;
    int filled = 0, kd = g->kd, sets = 8 * blocks, groups = g->keys / 8;
    float t = -INFINITY;

    g->rank_pass(scores, key_term, bias_row, g->keys, blocks, maxima);

    /* T is the kd-th largest set maximum (the list below reuses `best`). */
    if (sets >= kd) {
        for (int q = 0; q < sets; q++)
            consider(best, index, &filled, kd, maxima[q], q);
        t = best[kd - 1];
        filled = 0;
    }

    if (t > -INFINITY) {
        for (int q = 0; q < groups; q++)
            for (unsigned mask = g->at_least(scores, 8 * q, t); mask; mask &= mask - 1) {
                int j = 8 * q + __builtin_ctz(mask);

                consider(best, index, &filled, kd, scores[j], j);
            }
        for (int j = 8 * groups; j < g->keys; j++)
            if (scores[j] >= t)
                consider(best, index, &filled, kd, scores[j], j);
    }

    /* Without a bound (fewer sets than kd) or when NaNs left the list short,
     * one plain scan over every key. */
    if (filled < kd) {
        plain_scan(g, scores, edges);
        return;
    }
    for (int i = 0; i < g->k; i++)
        edges[i] = index[i * g->dilation];
}

/* The AVX2 select_row keeps the sorted list of up to KNN_VECTOR_KD entries
 * in 32-byte vectors, and inserts with compares and blends instead of a
 * shifting loop. In the scalar insertion, the loop's exit branch was
 * mispredicted about once per insertion, and a row at stage 1 of pvig_ti
 * (196 keys, kd = 9) made about 34 of them (bench/nn knn, random input). */

/* Inserts s (with key j when `index` is not NULL) into the list `best` of
 * `regs` vectors sorted best first. Lane i takes its left neighbour where s
 * beats that neighbour (the entries behind s move back one place), s where
 * s beats only lane i, and keeps its value elsewhere. As in insert(), an
 * equal score stays ahead of s. The list must hold no NaN. */
__attribute__((target("avx2"))) static inline void vector_insert(float *best, int32_t *index, int regs, float s,
                                                                 int32_t j)
{
    const __m256i rotate = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    __m256 sv = _mm256_set1_ps(s), carry = _mm256_set1_ps(INFINITY);
    __m256i jv = _mm256_set1_epi32(j), carry_index = _mm256_setzero_si256();

    for (int r = 0; r < regs; r++) {
        __m256 b = _mm256_load_ps(best + 8 * r);
        __m256 rotated = _mm256_permutevar8x32_ps(b, rotate);
        __m256 left = _mm256_blend_ps(rotated, carry, 0x01);
        __m256 beats = _mm256_cmp_ps(sv, b, _CMP_GT_OQ), beats_left = _mm256_cmp_ps(sv, left, _CMP_GT_OQ);

        _mm256_store_ps(best + 8 * r, _mm256_blendv_ps(_mm256_blendv_ps(b, sv, beats), left, beats_left));
        carry = rotated;
        if (index) {
            __m256 id = _mm256_castsi256_ps(_mm256_load_si256((const __m256i *)(index + 8 * r)));
            __m256 id_rotated = _mm256_permutevar8x32_ps(id, rotate);
            __m256 id_left = _mm256_blend_ps(id_rotated, _mm256_castsi256_ps(carry_index), 0x01);
            __m256 merged = _mm256_blendv_ps(_mm256_blendv_ps(id, _mm256_castsi256_ps(jv), beats), id_left, beats_left);

            _mm256_store_si256((__m256i *)(index + 8 * r), _mm256_castps_si256(merged));
            carry_index = _mm256_castps_si256(id_rotated);
        }
    }
}

/* Selects as select_row does, with vector insertions, for kd up to
 * KNN_VECTOR_KD. The list only takes scores greater than its kd-th entry,
 * which starts at -inf, so no NaN enters it. The result equals
 * select_row's whenever the row has at least kd scores above -inf that are
 * not NaN. Other rows take select_row's plain scan. Entries behind the
 * kd-th are never read. */
__attribute__((target("avx2"))) static void select_row_avx2(const advgnn_knn_graph *g, float *scores,
                                                            const float *key_term, const float *bias_row,
                                                            int32_t *edges)
{
    _Alignas(32) float best[KNN_VECTOR_KD];
    _Alignas(32) int32_t index[KNN_VECTOR_KD];
    float maxima[KNN_MAX_SETS];
    int blocks = g->keys / KNN_SET_BLOCK < KNN_MAX_SETS / 8 ? g->keys / KNN_SET_BLOCK : KNN_MAX_SETS / 8;
    int kd = g->kd, regs = (kd + 7) / 8, sets = 8 * blocks, groups = g->keys / 8, filled = 0;
    float t = -INFINITY;

    rank_pass_avx2(scores, key_term, bias_row, g->keys, blocks, maxima);

    /* T, the kd-th largest set maximum, from a list of values alone. */
    if (sets >= kd) {
        for (int i = 0; i < KNN_VECTOR_KD; i++)
            best[i] = -INFINITY;
        for (int q = 0; q < sets; q++)
            if (maxima[q] > best[kd - 1]) {
                vector_insert(best, NULL, regs, maxima[q], 0);
                filled++;
            }
        t = filled >= kd ? best[kd - 1] : -INFINITY;
    }

    for (int i = 0; i < KNN_VECTOR_KD; i++) {
        best[i] = -INFINITY;
        index[i] = 0;
    }
    filled = 0;
    if (t > -INFINITY) {
        for (int q = 0; q < groups; q++)
            for (unsigned mask = at_least_avx2(scores, 8 * q, t); mask; mask &= mask - 1) {
                int j = 8 * q + __builtin_ctz(mask);

                if (scores[j] > best[kd - 1]) {
                    vector_insert(best, index, regs, scores[j], j);
                    filled++;
                }
            }
        for (int j = 8 * groups; j < g->keys; j++)
            if (scores[j] >= t && scores[j] > best[kd - 1]) {
                vector_insert(best, index, regs, scores[j], j);
                filled++;
            }
    } else {
        for (int j = 0; j < g->keys; j++)
            if (scores[j] > best[kd - 1]) {
                vector_insert(best, index, regs, scores[j], j);
                filled++;
            }
    }

    /* Rows short of kd usable scores take select_row's plain scan. */
    if (filled < kd) {
        plain_scan(g, scores, edges);
        return;
    }
    for (int i = 0; i < g->k; i++)
        edges[i] = index[i * g->dilation];
}

static int run_block(advgnn_knn_graph *g, advgnn_ctx *ctx, int first)
{
    dnnl_exec_arg_t args[5] = {
        {DNNL_ARG_SRC, g->src_mem},   {DNNL_ARG_WEIGHTS, g->weights_mem}, {DNNL_ARG_BIAS, g->bias_mem},
        {DNNL_ARG_DST, g->dst_mem},   {DNNL_ARG_SCRATCHPAD, g->scratch_mem}};
    dnnl_status_t st;

    if (g->bf16)
        st = dnnl_memory_set_data_handle(g->src_mem, g->node_rows16 + (size_t)first * g->channels);
    else
        st = dnnl_memory_set_data_handle(g->src_mem, g->node_rows + (size_t)first * g->channels);
    if (st == dnnl_success)
        st = dnnl_primitive_execute(g->matmul, g->stream, 5, args);
    if (st == dnnl_success)
        st = dnnl_stream_wait(g->stream);
    return dnnl_fail(ctx, st, "matmul execution");
}

/* Creates the buffers of `count` threads for build_by_image, unless they
 * exist already. */
static int ensure_workers(advgnn_knn_graph *g, advgnn_ctx *ctx, int count)
{
    size_t c = (size_t)g->channels;
    int ok = 1;

    if (g->workers && g->worker_count == count)
        return ADVGNN_OK;
    free_workers(g);
    g->worker_rows = (int)(KNN_WORKER_BLOCK_BYTES / (sizeof(float) * (size_t)g->keys));
    if (g->worker_rows < KNN_MIN_BLOCK_ROWS)
        g->worker_rows = KNN_MIN_BLOCK_ROWS;
    if (g->worker_rows > g->nodes)
        g->worker_rows = g->nodes;
    g->workers = advgnn_calloc((size_t)count, sizeof(*g->workers));
    if (!g->workers)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "kNN graph: out of memory for %d threads' buffers", count);
    g->worker_count = count;
    for (int t = 0; t < count && ok; t++) {
        knn_worker *w = &g->workers[t];

        w->node_rows = advgnn_aligned_alloc((size_t)g->nodes * c * sizeof(float));
        w->key_rows = g->keys_are_nodes ? w->node_rows : advgnn_aligned_alloc((size_t)g->keys * c * sizeof(float));
        w->key_term = advgnn_aligned_alloc((size_t)g->keys * sizeof(float));
        w->scores = advgnn_aligned_alloc((size_t)g->worker_rows * g->keys * sizeof(float));
        ok = w->node_rows && w->key_rows && w->key_term && w->scores;
    }
    if (!ok) {
        free_workers(g);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "kNN graph: out of memory for %d threads' buffers of %d nodes",
                            count, g->nodes);
    }
    return ADVGNN_OK;
}

/* Builds the graphs in f32 when there are at least as many images as
 * threads. Each thread takes whole images and runs their rows, distance
 * products (oneDNN's sgemm, on the calling thread) and top-k in blocks that
 * stay in its cache.
 * The build by blocks of the whole batch entered four parallel regions per
 * image, and with passive OpenMP waits each one woke the threads through
 * futexes: about 0.8 ms per image of pvig_ti's 12 graphs on two cores. The
 * top-k's first pass adds the key term to each dot product, as the matmul's
 * bias does after its sum. */
static int build_by_image(advgnn_knn_graph *g, advgnn_ctx *ctx, const advgnn_tensor *x, int32_t *edges)
{
    int64_t images = x->shape[0], keys = g->keys, c = g->channels;
    size_t image_bytes = (size_t)(c * g->nodes) * advgnn_dtype_size(x->dtype);
    int failed = 0;
    int rc = ensure_workers(g, ctx, omp_get_max_threads());

    if (rc != ADVGNN_OK)
        return rc;

#pragma omp parallel reduction(| : failed)
    {
        knn_worker *w = &g->workers[omp_get_thread_num()];

#pragma omp for schedule(static)
        for (int64_t n = 0; n < images; n++) {
            int32_t *image_edges = edges + (size_t)n * g->nodes * g->k;

            prepare_image(g, (const char *)x->data + (size_t)n * image_bytes, x->dtype, w->node_rows, w->key_rows,
                          w->key_term, 0);
            for (int first = 0; first < g->nodes; first += g->worker_rows) {
                int rows = g->nodes - first < g->worker_rows ? g->nodes - first : g->worker_rows;

                failed |= dnnl_sgemm('N', 'T', rows, keys, c, 1.0f, w->node_rows + (size_t)first * c, c,
                                     w->key_rows, c, 0.0f, w->scores, keys) != dnnl_success;
                for (int i = 0; i < rows; i++) {
                    const float *bias_row = g->bias ? g->bias + (size_t)(first + i) * keys : NULL;

                    g->select(g, w->scores + (size_t)i * keys, w->key_term, bias_row,
                              image_edges + (size_t)(first + i) * g->k);
                }
            }
        }
    }
    if (failed)
        return advgnn_failf(ctx, ADVGNN_ERR_BACKEND, "kNN graph: oneDNN's sgemm failed for the distances");
    return ADVGNN_OK;
}

int advgnn_knn_graph_build(advgnn_knn_graph *g, advgnn_ctx *ctx, const advgnn_tensor *x, int32_t *edges)
{
    size_t elem;

    if (!x || !x->data || !edges || x->ndim != 4 || !advgnn_tensor_is_contiguous(x) ||
        (x->dtype != ADVGNN_DTYPE_F32 && x->dtype != ADVGNN_DTYPE_BF16) || x->shape[1] != g->channels ||
        x->shape[2] != g->height || x->shape[3] != g->width || x->shape[0] < 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "kNN graph: input must be a contiguous f32 or bf16 tensor (N, %d, %d, %d) and edges non-NULL",
                            g->channels, g->height, g->width);
    elem = advgnn_dtype_size(x->dtype);
    if (!g->bf16 && x->shape[0] >= omp_get_max_threads())
        return build_by_image(g, ctx, x, edges);

    for (int64_t n = 0; n < x->shape[0]; n++) {
        const char *image = (const char *)x->data + (size_t)(n * g->channels * g->nodes) * elem;
        int32_t *image_edges = edges + (size_t)n * g->nodes * g->k;

        prepare_image(g, image, x->dtype, g->node_rows, g->key_rows, g->key_term, 1);
        for (int first = 0; first < g->nodes; first += g->block_rows) {
            int rows = g->nodes - first < g->block_rows ? g->nodes - first : g->block_rows;
            int rc = run_block(g, ctx, first);

            if (rc != ADVGNN_OK)
                return rc;
#pragma omp parallel for schedule(static)
            for (int i = 0; i < rows; i++) {
                const float *bias_row = g->bias ? g->bias + (size_t)(first + i) * g->keys : NULL;

                g->select(g, g->scores + (size_t)i * g->keys, NULL, bias_row, image_edges + (size_t)(first + i) * g->k);
            }
        }
    }
    return ADVGNN_OK;
}
