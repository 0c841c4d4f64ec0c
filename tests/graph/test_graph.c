/* kNN graph against a brute-force reference in double, on 2 threads and on
 * 1 (which picks the image-parallel build), and the max-relative
 * aggregation: reference forward, finite-difference gradients, bf16. */
#include <stdlib.h>

#include "nn_test.h"

/* one_hot: every node's feature is one of the C unit vectors or zero, so
 * each distance is exactly 0, 1 or 2 and most picks are ties, which must go
 * to the lower key index exactly. */
typedef struct knn_case {
    int n, c, h, w, k, dilation, ratio, with_bias, bf16, one_hot;
} knn_case;

/* Normalized features of one image: rows (count, C) in double. */
static void normalized_rows(const float *image, int c, int h, int w, int ratio, double *rows)
{
    int kh = h / ratio, kw = w / ratio;

    for (int j = 0; j < kh * kw; j++) {
        double norm = 0;

        for (int ch = 0; ch < c; ch++) {
            double sum = 0;

            for (int dy = 0; dy < ratio; dy++)
                for (int dx = 0; dx < ratio; dx++)
                    sum += image[(ch * h + (j / kw) * ratio + dy) * w + (j % kw) * ratio + dx];
            rows[j * c + ch] = sum / (ratio * ratio);
            norm += rows[j * c + ch] * rows[j * c + ch];
        }
        norm = fmax(sqrt(norm), 1e-12);
        for (int ch = 0; ch < c; ch++)
            rows[j * c + ch] /= norm;
    }
}

typedef struct ranked {
    double dist;
    int index;
} ranked;

static int compare_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;

    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->index - y->index;
}

static void check_knn_case(advgnn_ctx *ctx, const knn_case *kc, uint64_t seed)
{
    int nodes = kc->h * kc->w, keys = (kc->h / kc->ratio) * (kc->w / kc->ratio);
    int64_t shape[4] = {kc->n, kc->c, kc->h, kc->w};
    advgnn_knn_config config = {kc->k, kc->dilation, kc->ratio, NULL, kc->bf16};
    /* bf16 rounding of unit vectors moves a squared distance by up to about 1e-2. */
    double tolerance = kc->bf16 ? 2e-2 : 1e-5;
    advgnn_knn_graph *graph = NULL;
    float *bias = NULL;
    int32_t *edges = calloc((size_t)kc->n * nodes * kc->k, sizeof(int32_t));
    double *x = malloc(sizeof(double) * nodes * kc->c), *y = malloc(sizeof(double) * keys * kc->c);
    ranked *row = malloc(sizeof(ranked) * keys);
    advgnn_tensor t;
    advgnn_rng rng;
    double worst = 0;
    int mismatches = 0;

    advgnn_rng_seed(&rng, seed);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &t, ADVGNN_DTYPE_F32, 4, shape));
    fill_uniform(&rng, t.data, advgnn_tensor_numel(&t), -1, 1);
    if (kc->one_hot) {
        float *v = t.data;

        for (int n = 0; n < kc->n; n++)
            for (int i = 0; i < nodes; i++) {
                /* hot == c: an all-zero feature, which stays zero after
                 * normalization, so its key term -|y|^2 / 2 is 0, not -1/2. */
                int hot = (int)advgnn_rng_below(&rng, (uint64_t)kc->c + 1);

                for (int ch = 0; ch < kc->c; ch++)
                    v[((size_t)n * kc->c + ch) * nodes + i] = ch == hot ? 1.0f : 0.0f;
            }
    }
    if (kc->with_bias) {
        bias = malloc(sizeof(float) * nodes * keys);
        fill_uniform(&rng, bias, (int64_t)nodes * keys, 0, 0.5);
        config.bias = bias;
    }
    NN_CHECK_OK(ctx, advgnn_knn_graph_new(ctx, kc->c, kc->h, kc->w, &config, &graph));
    if (!graph)
        goto done;
    CHECK_INT_EQ(advgnn_knn_graph_key_count(graph), keys);
    NN_CHECK_OK(ctx, advgnn_knn_graph_build(graph, ctx, &t, edges));

    for (int n = 0; n < kc->n; n++) {
        const float *image = (const float *)t.data + (size_t)n * kc->c * nodes;

        normalized_rows(image, kc->c, kc->h, kc->w, 1, x);
        normalized_rows(image, kc->c, kc->h, kc->w, kc->ratio, y);
        for (int i = 0; i < nodes; i++) {
            for (int j = 0; j < keys; j++) {
                double d = 0;

                for (int ch = 0; ch < kc->c; ch++)
                    d += pow(x[i * kc->c + ch] - y[j * kc->c + ch], 2);
                row[j].dist = d + (bias ? bias[i * keys + j] : 0.0);
                row[j].index = j;
            }
            qsort(row, (size_t)keys, sizeof(ranked), compare_ranked);

            /* Equal picks, or picks whose reference distances agree within
             * the tolerance (rounding may order near-ties differently). */
            for (int m = 0; m < kc->k; m++) {
                int got = edges[((size_t)n * nodes + i) * kc->k + m], want = row[m * kc->dilation].index;
                double got_dist = -1;

                for (int j = 0; j < keys; j++) {
                    if (row[j].index == got)
                        got_dist = row[j].dist;
                }
                worst = fmax(worst, fabs(got_dist - row[m * kc->dilation].dist));
                if (got != want && (kc->one_hot || fabs(got_dist - row[m * kc->dilation].dist) > tolerance))
                    mismatches++;
            }
        }
    }
    printf("knn n=%d c=%d %dx%d k=%d d=%d r=%d bias=%d bf16=%d one-hot=%d: %d mismatches, max distance diff %.3g\n",
           kc->n, kc->c, kc->h, kc->w, kc->k, kc->dilation, kc->ratio, kc->with_bias, kc->bf16, kc->one_hot, mismatches,
           worst);
    CHECK_INT_EQ(mismatches, 0);

    /* Without bias or pooling each node is its own nearest key (distance 0),
     * unless ties with equal features give that place to a lower index. */
    if (!kc->with_bias && kc->ratio == 1 && !kc->bf16 && !kc->one_hot) {
        int self = 0;

        for (int i = 0; i < nodes; i++)
            self += edges[(size_t)i * kc->k] == i;
        CHECK_INT_EQ(self, nodes);
    }
done:
    advgnn_knn_graph_free(graph);
    advgnn_tensor_release(&t);
    free(bias);
    free(edges);
    free(x);
    free(y);
    free(row);
}

static void test_knn(advgnn_ctx *ctx)
{
    static const knn_case cases[] = {
        {2, 8, 6, 5, 4, 1, 1, 0, 0, 0},   {1, 16, 7, 7, 3, 2, 1, 1, 0, 0}, {2, 8, 8, 4, 2, 2, 2, 0, 0, 0},
        {1, 12, 6, 6, 3, 1, 3, 1, 0, 0},  {1, 5, 20, 20, 9, 2, 1, 0, 0, 0}, /* 400 nodes: two row blocks */
        {1, 48, 20, 20, 9, 1, 1, 0, 0, 0}, /* 400 keys: the 16-key skip of the top-k */
        {1, 16, 7, 7, 3, 2, 1, 1, 1, 0},  {2, 48, 20, 20, 9, 2, 2, 0, 1, 0},
        /* Exact ties, 196 keys: the bound of 24 set maxima (kd 9), a full
         * scan (kd 27 > 24 sets), kd 32 (the vector list's size) and kd 36
         * (above it, the scalar list). */
        {2, 4, 14, 14, 9, 1, 1, 0, 0, 1}, {1, 4, 14, 14, 9, 3, 1, 0, 0, 1},
        {1, 3, 14, 14, 8, 4, 1, 0, 0, 1}, {1, 4, 14, 14, 9, 4, 1, 0, 0, 1},
    };
    advgnn_knn_config bad = {30, 1, 1, NULL, 0};
    advgnn_knn_graph *graph = NULL;

    /* On 2 threads, a single image runs by blocks of rows shared by the
     * threads, and two images run one per thread. On 1 thread, every f32
     * case runs one image per thread. Both builds thus see every case. */
    for (int threads = 2; threads >= 1; threads--) {
        advgnn_ctx_set_threads(ctx, threads);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            if (!cases[i].bf16 || nn_test_bf16(ctx))
                check_knn_case(ctx, &cases[i], 60 + i);
    }
    advgnn_ctx_set_threads(ctx, 2);

    /* Without bf16 in oneDNN the bf16 distances are refused, with what to do. */
    if (!nn_test_bf16(ctx)) {
        advgnn_knn_config low = {3, 1, 1, NULL, 1};

        CHECK_INT_EQ(advgnn_knn_graph_new(ctx, 4, 5, 5, &low, &graph), ADVGNN_ERR_BACKEND);
        CHECK(graph == NULL);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "set bf16_matmul to 0");
        advgnn_ctx_clear_error(ctx);
    }

    CHECK_INT_EQ(advgnn_knn_graph_new(ctx, 4, 5, 5, &bad, &graph), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "exceeds the 25 keys");
    advgnn_ctx_clear_error(ctx);
    bad.k = 2;
    bad.reduce_ratio = 2;
    CHECK_INT_EQ(advgnn_knn_graph_new(ctx, 4, 5, 5, &bad, &graph), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "must divide");
    advgnn_ctx_clear_error(ctx);
}

/* ---- max-relative ------------------------------------------------------ */

static void reference_max_relative(const advgnn_layer *l, advgnn_tensor *const *inputs, const int32_t *edges, int k,
                                   int interleave, double *out)
{
    const advgnn_tensor *x = inputs[0], *keys = advgnn_layer_input_count(l) > 1 ? inputs[1] : inputs[0];
    int64_t n = x->shape[0], c = x->shape[1], nodes = x->shape[2] * x->shape[3];
    int64_t key_count = keys->shape[2] * keys->shape[3];
    const float *xd = x->data, *kd = keys->data;

    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < nodes; i++) {
                double best = -INFINITY, xi = xd[(b * c + ch) * nodes + i];

                for (int j = 0; j < k; j++)
                    best = fmax(best, kd[(b * c + ch) * key_count + edges[(b * nodes + i) * k + j]]);
                if (interleave) {
                    out[((b * c + ch) * 2) * nodes + i] = xi;
                    out[((b * c + ch) * 2 + 1) * nodes + i] = best - xi;
                } else {
                    out[(b * c + ch) * nodes + i] = best - xi;
                }
            }
}

/* The f32 inference forward keeps no argmax, reads the keys with AVX2 where
 * the CPU has it (gathers, or rows of keys transposed to node-major order),
 * and runs the 20 % 8 nodes left in a scalar tail. It must give the training
 * forward's bits, also for keys that are NaN, equal or zeros of both signs. */
static void check_inference_bits(advgnn_ctx *ctx, advgnn_layer *l, advgnn_tensor **in, int separate_keys)
{
    const advgnn_tensor *y = advgnn_layer_output(l);
    size_t bytes = (size_t)advgnn_tensor_numel(y) * sizeof(float);
    advgnn_tensor *key_tensor = in[separate_keys ? 1 : 0];
    size_t key_bytes = (size_t)advgnn_tensor_numel(key_tensor) * sizeof(float);
    float *training = malloc(bytes), *keys = key_tensor->data, *saved = malloc(key_bytes);

    memcpy(saved, keys, key_bytes);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            keys[0] = NAN;
            keys[1] = -0.0f;
            keys[2] = 0.0f;
            keys[3] = keys[4];
            keys[7] = -INFINITY;
        }
        NN_CHECK_OK(ctx, advgnn_layer_forward(l, ctx, (const advgnn_tensor *const *)in, ADVGNN_NN_MODE_TRAINING));
        memcpy(training, y->data, bytes);
        NN_CHECK_OK(ctx, advgnn_layer_forward(l, ctx, (const advgnn_tensor *const *)in, ADVGNN_NN_MODE_INFERENCE));
        printf("%s inference forward %s the training forward's bits\n", advgnn_layer_name(l),
               memcmp(training, y->data, bytes) == 0 ? "equals" : "differs from");
        CHECK(memcmp(training, y->data, bytes) == 0);
    }
    memcpy(keys, saved, key_bytes);
    free(saved);
    free(training);
}

static void check_max_relative(advgnn_ctx *ctx, int channels, int separate_keys, int interleave, uint64_t seed)
{
    int64_t shape[4] = {2, channels, 4, 5}, keys_shape[4] = {2, channels, 2, 3};
    int64_t key_count = separate_keys ? 6 : 20, nodes = 20;
    int k = 4;
    int32_t *edges = malloc(sizeof(int32_t) * 2 * nodes * k);
    advgnn_nn *nn = NULL;
    advgnn_layer *l32 = NULL, *l16 = NULL;
    advgnn_tensor inputs[2], *in[2] = {&inputs[0], &inputs[1]};
    advgnn_rng rng;
    char name[32];

    advgnn_rng_seed(&rng, seed);
    for (int64_t i = 0; i < 2 * nodes * k; i++)
        edges[i] = (int32_t)advgnn_rng_below(&rng, (uint64_t)key_count);
    snprintf(name, sizeof(name), "mr_c%d_keys%d_il%d", channels, separate_keys, interleave);

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_max_relative(nn, ctx, name, ADVGNN_DTYPE_F32, shape, separate_keys ? keys_shape : NULL,
                                            k, interleave, &l32));
    if (nn_test_bf16(ctx))
        NN_CHECK_OK(ctx, advgnn_nn_max_relative(nn, ctx, "mr_bf16", ADVGNN_DTYPE_BF16, shape,
                                                separate_keys ? keys_shape : NULL, k, interleave, &l16));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    if (!l32 || (!l16 && nn_test_bf16(ctx)))
        goto done;
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &inputs[0], ADVGNN_DTYPE_F32, 4, shape));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &inputs[1], ADVGNN_DTYPE_F32, 4, keys_shape));
    fill_distinct(&rng, inputs[0].data, advgnn_tensor_numel(&inputs[0]));
    fill_distinct(&rng, inputs[1].data, advgnn_tensor_numel(&inputs[1]));

    CHECK_INT_EQ(advgnn_layer_forward(l32, ctx, (const advgnn_tensor *const *)in, ADVGNN_NN_MODE_TRAINING),
                 ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "no edges");
    advgnn_ctx_clear_error(ctx);
    NN_CHECK_OK(ctx, advgnn_max_relative_set_edges(l32, ctx, edges));
    if (l16)
        NN_CHECK_OK(ctx, advgnn_max_relative_set_edges(l16, ctx, edges));

    {
        const advgnn_tensor *y = advgnn_layer_output(l32);
        int64_t n = advgnn_tensor_numel(y);
        double *ref = calloc((size_t)n, sizeof(double)), diff = 0;

        NN_CHECK_OK(ctx, advgnn_layer_forward(l32, ctx, (const advgnn_tensor *const *)in, ADVGNN_NN_MODE_TRAINING));
        reference_max_relative(l32, in, edges, k, interleave, ref);
        for (int64_t i = 0; i < n; i++)
            diff = fmax(diff, fabs(ref[i] - ((const float *)y->data)[i]));
        printf("reference %-30s max diff %.3g\n", name, diff);
        CHECK(diff < 1e-6);
        free(ref);
    }
    check_inference_bits(ctx, l32, in, separate_keys);
    gradcheck_layer(ctx, l32, in, 1e-3, 1e-2, seed + 1);
    if (l16)
        compare_bf16_layer(ctx, l32, l16, in, 3e-2, seed + 2);

    /* An edge outside the keys is rejected. */
    edges[5] = (int32_t)key_count;
    CHECK_INT_EQ(advgnn_layer_forward(l32, ctx, (const advgnn_tensor *const *)in, ADVGNN_NN_MODE_TRAINING),
                 ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "outside [0,");
    advgnn_ctx_clear_error(ctx);
    advgnn_tensor_release(&inputs[0]);
    advgnn_tensor_release(&inputs[1]);
done:
    advgnn_nn_free(nn);
    free(edges);
}

int main(void)
{
    /* 3 channels run the f32 inference by gathers, 16 on keys transposed
     * to one row per key (channels a multiple of 8). */
    static const int channel_counts[] = {3, 16};
    advgnn_ctx *ctx = advgnn_ctx_new();

    advgnn_ctx_set_threads(ctx, 2);
    test_knn(ctx);
    for (size_t i = 0; i < sizeof(channel_counts) / sizeof(channel_counts[0]); i++) {
        check_max_relative(ctx, channel_counts[i], 0, 0, 70);
        check_max_relative(ctx, channel_counts[i], 0, 1, 71);
        check_max_relative(ctx, channel_counts[i], 1, 0, 72);
        check_max_relative(ctx, channel_counts[i], 1, 1, 73);
    }
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
