/* Every allocation of building a network, its optimizer and a kNN graph is
 * made to fail in turn: each failure returns ADVGNN_ERR_NOMEM with a message,
 * and everything unwinds without leaks (checked under AddressSanitizer). */
#include "nn_test.h"

/* Builds and frees a network with one layer of each kind, an optimizer and
 * a kNN graph. Returns the first failing status, or ADVGNN_OK. Two layers are
 * bf16 where the CPU runs bf16 (nn_test_bf16), f32 elsewhere. */
static int build_everything(advgnn_ctx *ctx, advgnn_dtype low)
{
    int64_t shape[4] = {2, 4, 6, 6}, keys[4] = {2, 4, 3, 3}, pair[2][4] = {{2, 4, 6, 6}, {2, 4, 6, 6}};
    advgnn_conv2d_desc conv = {.out_channels = 4, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_pool_desc pool = {ADVGNN_POOL_MAX, 2, 2, 0, 0, 0, 0};
    advgnn_optim_config adam = {.kind = ADVGNN_OPTIM_ADAM};
    advgnn_knn_config knn = {3, 1, 2, NULL, 0};
    advgnn_nn *nn = NULL;
    advgnn_optim *opt = NULL;
    advgnn_knn_graph *graph = NULL;
    advgnn_layer *l;
    int rc;

    rc = advgnn_nn_new(ctx, &nn);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv2d(nn, ctx, "conv", ADVGNN_DTYPE_F32, shape, &conv, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv_transpose2d(nn, ctx, "deconv", low, shape, &conv, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_batch_norm(nn, ctx, "bn", ADVGNN_DTYPE_F32, shape, 1e-5, 0.1, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_activation(nn, ctx, "gelu", ADVGNN_DTYPE_F32, shape, ADVGNN_ACTIVATION_GELU, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_pool2d(nn, ctx, "pool", ADVGNN_DTYPE_F32, shape, &pool, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_resize(nn, ctx, "resize", ADVGNN_DTYPE_F32, shape, 12, 12, ADVGNN_NN_RESIZE_BILINEAR, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_add(nn, ctx, "add", ADVGNN_DTYPE_F32, shape, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_concat(nn, ctx, "concat", ADVGNN_DTYPE_F32, 2, pair, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_max_relative(nn, ctx, "mr", low, shape, keys, 3, 1, &l);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_commit(nn, ctx);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_init_params(nn, ctx, 1);
    if (rc == ADVGNN_OK)
        rc = advgnn_optim_new(ctx, nn, &adam, &opt);
    if (rc == ADVGNN_OK)
        rc = advgnn_knn_graph_new(ctx, 4, 6, 6, &knn, &graph);
    advgnn_knn_graph_free(graph);
    advgnn_optim_free(opt);
    advgnn_nn_free(nn);
    return rc;
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_dtype low = nn_test_bf16(ctx) ? ADVGNN_DTYPE_BF16 : ADVGNN_DTYPE_F32;
    size_t needed;
    int failures_seen = 0;

    advgnn_ctx_set_threads(ctx, 1);
    advgnn_alloc_fail_after(0);
    NN_CHECK_OK(ctx, build_everything(ctx, low));
    needed = advgnn_alloc_fail_after(0);
    printf("building everything makes %zu allocations\n", needed);
    CHECK(needed > 10);

    for (size_t n = 1; n <= needed; n++) {
        int rc;

        advgnn_alloc_fail_after(n);
        rc = build_everything(ctx, low);
        advgnn_alloc_fail_after(0);
        if (rc != ADVGNN_ERR_NOMEM) {
            fprintf(stderr, "allocation %zu failed: status %d (%s), expected out of memory\n", n, rc,
                    advgnn_ctx_error(ctx));
            check_failures++;
        } else if (advgnn_ctx_error(ctx)[0] == '\0') {
            fprintf(stderr, "allocation %zu failed without a message\n", n);
            check_failures++;
        }
        failures_seen += rc == ADVGNN_ERR_NOMEM;
        advgnn_ctx_clear_error(ctx);
    }
    CHECK_INT_EQ(failures_seen, (long long)needed);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
