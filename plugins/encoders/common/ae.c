/* Shared code of the trainable autoencoder encoders; see ae.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <advgnn/image.h>

#include "ae.h"

const char *const ae_optimizer_choices[] = {"adam", "adamw", "sgd", "rmsprop", NULL};
const char *const ae_schedule_choices[] = {"cosine", "constant", "step", "plateau", NULL};
const char *const ae_precision_choices[] = {"f32", "bf16", NULL};

/* ---- building ------------------------------------------------------------- */

int ae_net_new(advgnn_ctx *ctx, const int64_t input_shape[4], ae_net *net)
{
    memset(net, 0, sizeof(*net));
    memcpy(net->input_shape, input_shape, sizeof(net->input_shape));
    net->output = -1;
    net->feature_pool = 1;
    net->dtype = ADVGNN_DTYPE_F32;
    return advgnn_nn_new(ctx, &net->nn);
}

void ae_net_free(ae_net *net)
{
    for (int i = 0; i < net->count; i++) {
        ae_node *n = &net->nodes[i];

        advgnn_free(n->grad);
        advgnn_knn_graph_free(n->knn);
        advgnn_free(n->edges);
        advgnn_free(n->bias);
    }
    advgnn_free(net->nodes);
    advgnn_tensor_release(&net->grad_out);
    advgnn_tensor_release(&net->grad_ssim);
    advgnn_tensor_release(&net->input16);
    advgnn_tensor_release(&net->pred32);
    advgnn_free(net->grad16);
    advgnn_nn_free(net->nn);
    memset(net, 0, sizeof(*net));
}

const int64_t *ae_shape(const ae_net *net, int from)
{
    return from == AE_INPUT ? net->input_shape : net->nodes[from].shape;
}

/* Appends a node for `layer` with up to two inputs. */
static int add_node(ae_net *net, advgnn_ctx *ctx, advgnn_layer *layer, int a, int b, int count, int *node)
{
    ae_node *n;

    if (net->count == net->capacity) {
        int capacity = net->capacity ? 2 * net->capacity : 64;
        ae_node *grown = advgnn_realloc(net->nodes, (size_t)capacity * sizeof(*grown));

        if (!grown)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for %d layers", capacity);
        net->nodes = grown;
        net->capacity = capacity;
    }
    n = &net->nodes[net->count];
    memset(n, 0, sizeof(*n));
    n->layer = layer;
    n->inputs[0] = a;
    n->inputs[1] = b;
    n->input_count = count;
    n->graph_from = -1;
    memcpy(n->shape, advgnn_layer_output(layer)->shape, sizeof(n->shape));
    if (a == AE_INPUT)
        advgnn_layer_set_input_grad(layer, 0);
    *node = net->count++;
    return ADVGNN_OK;
}

int ae_conv(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int out_channels, int kernel, int stride,
            int groups, int *node)
{
    advgnn_conv2d_desc d = {.out_channels = out_channels, .kernel_h = kernel, .kernel_w = kernel,
                            .stride_h = stride, .stride_w = stride, .pad_h = kernel / 2, .pad_w = kernel / 2,
                            .groups = groups, .bias = 1};
    advgnn_layer *layer;
    int rc = advgnn_nn_conv2d(net->nn, ctx, name, net->dtype, ae_shape(net, from), &d, &layer);

    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, from, 0, 1, node);
    if (rc == ADVGNN_OK)
        net->nodes[*node].kind = AE_KIND_CONV;
    return rc;
}

/* A 4x4 transposed convolution of stride 2 and padding 1: exactly twice the size. */
int ae_deconv(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int out_channels, int *node)
{
    advgnn_conv2d_desc d = {.out_channels = out_channels, .kernel_h = 4, .kernel_w = 4, .stride_h = 2,
                            .stride_w = 2, .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_layer *layer;
    int rc = advgnn_nn_conv_transpose2d(net->nn, ctx, name, net->dtype, ae_shape(net, from), &d, &layer);

    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, from, 0, 1, node);
    if (rc == ADVGNN_OK)
        net->nodes[*node].kind = AE_KIND_CONV;
    return rc;
}

int ae_bn(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int *node)
{
    advgnn_layer *layer;
    int rc = advgnn_nn_batch_norm(net->nn, ctx, name, net->dtype, ae_shape(net, from), 1e-5, 0.1, &layer);

    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, from, 0, 1, node);
    if (rc == ADVGNN_OK)
        net->nodes[*node].kind = AE_KIND_BN;
    return rc;
}

int ae_act(ae_net *net, advgnn_ctx *ctx, const char *name, int from, advgnn_activation kind, int *node)
{
    advgnn_layer *layer;
    int rc = advgnn_nn_activation(net->nn, ctx, name, net->dtype, ae_shape(net, from), kind, &layer);

    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, from, 0, 1, node);
    if (rc == ADVGNN_OK)
        net->nodes[*node].kind = AE_KIND_ACT;
    return rc;
}

int ae_avg_pool(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int ratio, int *node)
{
    advgnn_pool_desc d = {.kind = ADVGNN_POOL_AVG, .kernel_h = ratio, .kernel_w = ratio};
    advgnn_layer *layer;
    int rc = advgnn_nn_pool2d(net->nn, ctx, name, net->dtype, ae_shape(net, from), &d, &layer);

    return rc == ADVGNN_OK ? add_node(net, ctx, layer, from, 0, 1, node) : rc;
}

int ae_resize(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int height, int width, int *node)
{
    advgnn_layer *layer;
    int rc = advgnn_nn_resize(net->nn, ctx, name, net->dtype, ae_shape(net, from), height, width,
                              ADVGNN_NN_RESIZE_BILINEAR, &layer);

    return rc == ADVGNN_OK ? add_node(net, ctx, layer, from, 0, 1, node) : rc;
}

/* d(a + b)/da = d(a + b)/db = 1, so ae_backward hands the sum's output
 * gradient to both inputs, and the add layer needs no input gradients. */
int ae_sum(ae_net *net, advgnn_ctx *ctx, const char *name, int a, int b, int *node)
{
    advgnn_layer *layer;
    int rc = advgnn_nn_add(net->nn, ctx, name, net->dtype, ae_shape(net, a), &layer);

    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, a, b, 2, node);
    if (rc == ADVGNN_OK) {
        advgnn_layer_set_input_grad(layer, 0);
        net->nodes[*node].route = AE_ROUTE_PASS;
    }
    return rc;
}

int ae_conv_bn(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int out_channels, int kernel, int stride,
               int groups, advgnn_activation act, int *node)
{
    char full[128];
    int rc;

    snprintf(full, sizeof(full), "%s.conv", name);
    rc = ae_conv(net, ctx, full, from, out_channels, kernel, stride, groups, node);
    snprintf(full, sizeof(full), "%s.bn", name);
    if (rc == ADVGNN_OK)
        rc = ae_bn(net, ctx, full, *node, node);
    snprintf(full, sizeof(full), "%s.act", name);
    if (rc == ADVGNN_OK && act != ADVGNN_ACTIVATION_INVALID)
        rc = ae_act(net, ctx, full, *node, act, node);
    return rc;
}

int ae_pos_embed(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int *node)
{
    /* A copy: add_node may move net->nodes, and ae_shape points into it. */
    const int64_t *at = ae_shape(net, from);
    const int64_t s[4] = {at[0], at[1], at[2], at[3]};
    const int64_t weight_shape[4] = {s[1], s[2] * s[3], 1, 1};
    advgnn_layer *layer;
    int rc = advgnn_nn_broadcast_add(net->nn, ctx, name, net->dtype, s, weight_shape, &layer);

    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, from, 0, 1, node);
    if (rc == ADVGNN_OK) {
        /* dx = dy: ae_backward hands dy on, and the layer computes only dP. */
        advgnn_layer_set_input_grad(layer, 0);
        net->nodes[*node].route = AE_ROUTE_PASS_PARAMS;
        net->pos_grid[0] = (int)s[2];
        net->pos_grid[1] = (int)s[3];
    }
    return rc;
}

int ae_max_relative(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int k, int dilation, int ratio,
                    float *bias, int *node)
{
    /* A copy: add_node (here and in ae_avg_pool) may move net->nodes, and ae_shape points into it. */
    const int64_t *at = ae_shape(net, from);
    const int64_t s[4] = {at[0], at[1], at[2], at[3]};
    advgnn_knn_config kc = {.k = k, .dilation = dilation, .reduce_ratio = ratio, .bias = bias};
    advgnn_knn_graph *knn = NULL;
    advgnn_layer *layer = NULL;
    int keys = from, rc;
    char full[128];

    /* Keys are the average-pooled map, as the graph builder pools them. */
    snprintf(full, sizeof(full), "%s.keys", name);
    rc = ratio > 1 ? ae_avg_pool(net, ctx, full, from, ratio, &keys) : ADVGNN_OK;
    if (rc == ADVGNN_OK)
        rc = advgnn_knn_graph_new(ctx, (int)s[1], (int)s[2], (int)s[3], &kc, &knn);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_max_relative(net->nn, ctx, name, net->dtype, s, ratio > 1 ? ae_shape(net, keys) : NULL,
                                    k, 1, &layer);
    if (rc == ADVGNN_OK)
        rc = add_node(net, ctx, layer, from, keys, ratio > 1 ? 2 : 1, node);
    if (rc != ADVGNN_OK) {
        advgnn_knn_graph_free(knn);
        advgnn_free(bias);
        return rc;
    }
    net->nodes[*node].knn = knn;
    net->nodes[*node].graph_from = from;
    net->nodes[*node].bias = bias;
    net->nodes[*node].edges = advgnn_malloc((size_t)s[0] * s[2] * s[3] * k * sizeof(int32_t));
    if (!net->nodes[*node].edges)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory for the graph edges", name);
    return ADVGNN_OK;
}

/* Counts the gradients that reach each node's output in ae_backward: one per
 * node input that it feeds and that gets a gradient, plus the loss gradient
 * of the network output. */
static void count_grad_sources(ae_net *net)
{
    for (int i = 0; i < net->count; i++) {
        ae_node *n = &net->nodes[i];

        for (int j = 0; j < n->input_count; j++) {
            int reaches = n->route != AE_ROUTE_LAYER || advgnn_layer_input_grad(n->layer, j) != NULL;

            if (n->inputs[j] >= 0 && reaches)
                net->nodes[n->inputs[j]].grad_sources++;
        }
    }
    if (net->output >= 0)
        net->nodes[net->output].grad_sources++;
}

/* Fuses each convolution -> batch norm (-> activation) chain whose inner
 * outputs nothing else reads (no other node, kNN graph, feature or network
 * output) into one engine forward for inference. */
static int fuse_chains(ae_net *net, advgnn_ctx *ctx)
{
    int *readers = advgnn_calloc((size_t)net->count, sizeof(int));
    int rc = ADVGNN_OK;

    if (!readers)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for %d layers", net->count);
    for (int i = 0; i < net->count; i++) {
        for (int j = 0; j < net->nodes[i].input_count; j++)
            if (net->nodes[i].inputs[j] >= 0)
                readers[net->nodes[i].inputs[j]]++;
        if (net->nodes[i].graph_from >= 0)
            readers[net->nodes[i].graph_from]++;
    }
    for (int f = 0; f < net->feature_count; f++)
        readers[net->features[f]]++;
    if (net->output >= 0)
        readers[net->output]++;

    for (int i = 0; i + 1 < net->count && rc == ADVGNN_OK; i++) {
        ae_node *conv = &net->nodes[i], *bn = &net->nodes[i + 1], *act = i + 2 < net->count ? bn + 1 : NULL;
        int fused;

        if (conv->kind != AE_KIND_CONV || bn->kind != AE_KIND_BN || bn->inputs[0] != i || readers[i] != 1)
            continue;
        if (act && (act->kind != AE_KIND_ACT || act->inputs[0] != i + 1 || readers[i + 1] != 1))
            act = NULL;
        rc = advgnn_nn_fuse_inference(conv->layer, ctx, bn->layer, act ? act->layer : NULL, &fused);
        if (rc == ADVGNN_OK && fused >= 1)
            bn->fused = 1;
        if (rc == ADVGNN_OK && fused == 2)
            act->fused = 1;
    }
    advgnn_free(readers);
    return rc;
}

int ae_net_finish(ae_net *net, advgnn_ctx *ctx, uint64_t seed)
{
    size_t largest = 0;
    int rc = net->unfused ? ADVGNN_OK : fuse_chains(net, ctx);

    if (rc == ADVGNN_OK)
        rc = advgnn_nn_commit(net->nn, ctx);

    if (rc == ADVGNN_OK)
        rc = advgnn_nn_init_params(net->nn, ctx, seed);
    if (rc == ADVGNN_OK)
        rc = advgnn_tensor_alloc(ctx, &net->grad_out, ADVGNN_DTYPE_F32, 4, net->input_shape);
    if (rc == ADVGNN_OK)
        rc = advgnn_tensor_alloc(ctx, &net->grad_ssim, ADVGNN_DTYPE_F32, 4, net->input_shape);
    if (rc == ADVGNN_OK && net->dtype == ADVGNN_DTYPE_BF16)
        rc = advgnn_tensor_alloc(ctx, &net->input16, ADVGNN_DTYPE_BF16, 4, net->input_shape);
    if (rc == ADVGNN_OK && net->dtype == ADVGNN_DTYPE_BF16)
        rc = advgnn_tensor_alloc(ctx, &net->pred32, ADVGNN_DTYPE_F32, 4, net->input_shape);
    if (rc == ADVGNN_OK)
        count_grad_sources(net);
    for (int i = 0; i < net->count && rc == ADVGNN_OK; i++) {
        ae_node *n = &net->nodes[i];
        size_t numel = (size_t)(n->shape[0] * n->shape[1] * n->shape[2] * n->shape[3]);

        /* One bf16 buffer serves every backward in turn, so it fits the largest node. */
        if (net->dtype == ADVGNN_DTYPE_BF16 && numel > largest) {
            uint16_t *grown = advgnn_realloc(net->grad16, numel * sizeof(uint16_t));

            if (!grown) {
                rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the bf16 gradient of %s",
                                  advgnn_layer_name(n->layer));
                break;
            }
            net->grad16 = grown;
            largest = numel;
        }
        if (n->grad_sources == 1)
            continue;

        /* Zeroed, because a node that no gradient reaches (none in the
         * bundled networks) runs its backward on zeros. */
        n->grad = advgnn_calloc(numel, sizeof(float));
        if (!n->grad)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for the gradient of %s",
                              advgnn_layer_name(n->layer));
    }
    return rc;
}

/* ---- running -------------------------------------------------------------- */

static const advgnn_tensor *node_input(ae_net *net, ae_node *n, int j)
{
    int from = n->inputs[j];

    if (from == AE_INPUT)
        return net->input;
    return advgnn_layer_output(net->nodes[from].layer);
}

int ae_forward(ae_net *net, advgnn_ctx *ctx, const advgnn_tensor *images, advgnn_nn_mode mode)
{
    int rc = ADVGNN_OK;

    net->input = images;

    /* A bf16 network reads a rounded copy, and the f32 images stay the loss's target. */
    if (net->dtype == ADVGNN_DTYPE_BF16) {
        if (images->dtype != ADVGNN_DTYPE_F32 || advgnn_tensor_numel(images) != advgnn_tensor_numel(&net->input16))
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "autoencoder: a bf16 network takes f32 images of %lld x %lld x %lld x %lld",
                                (long long)net->input_shape[0], (long long)net->input_shape[1],
                                (long long)net->input_shape[2], (long long)net->input_shape[3]);
        advgnn_f32_to_bf16(images->data, net->input16.data, (size_t)advgnn_tensor_numel(images));
        net->input = &net->input16;
    }
    for (int i = 0; i < net->count && rc == ADVGNN_OK; i++) {
        ae_node *n = &net->nodes[i];
        const advgnn_tensor *inputs[2] = {node_input(net, n, 0), n->input_count > 1 ? node_input(net, n, 1) : NULL};

        if (n->fused && mode == ADVGNN_NN_MODE_INFERENCE)
            continue;
        if (n->knn) {
            rc = advgnn_knn_graph_build(n->knn, ctx, advgnn_layer_output(net->nodes[n->graph_from].layer), n->edges);
            if (rc == ADVGNN_OK)
                rc = advgnn_max_relative_set_edges(n->layer, ctx, n->edges);
        }
        if (rc == ADVGNN_OK)
            rc = advgnn_layer_forward(n->layer, ctx, inputs, mode);
    }
    return rc;
}

static size_t node_numel(const ae_node *n)
{
    return (size_t)(n->shape[0] * n->shape[1] * n->shape[2] * n->shape[3]);
}

/* bf16 is the upper half of an f32. */
static float bf16_value(uint16_t v)
{
    uint32_t bits = (uint32_t)v << 16;
    float f;

    memcpy(&f, &bits, sizeof(f));
    return f;
}

void ae_output_f32(const ae_net *net, int node, size_t first, size_t count, float *out)
{
    const advgnn_tensor *y = advgnn_layer_output(net->nodes[node].layer);

    if (y->dtype == ADVGNN_DTYPE_BF16)
        advgnn_bf16_to_f32((const uint16_t *)y->data + first, out, count);
    else
        memcpy(out, (const float *)y->data + first, count * sizeof(float));
}

/* Copies (first) or adds `count` gradient values of one source, f32 or
 * bf16, into an f32 sum. */
static void accumulate(float *sum, const void *source, int bf16, size_t count, int first)
{
    const float *f = source;
    const uint16_t *h = source;

    if (first && bf16) {
#pragma omp parallel for simd schedule(static)
        for (size_t e = 0; e < count; e++)
            sum[e] = bf16_value(h[e]);
    } else if (first) {
#pragma omp parallel for simd schedule(static)
        for (size_t e = 0; e < count; e++)
            sum[e] = f[e];
    } else if (bf16) {
#pragma omp parallel for simd schedule(static)
        for (size_t e = 0; e < count; e++)
            sum[e] += bf16_value(h[e]);
    } else {
#pragma omp parallel for simd schedule(static)
        for (size_t e = 0; e < count; e++)
            sum[e] += f[e];
    }
}

/* Hands one gradient source of node `to` over. A node with one source reads
 * its buffer directly. Several sources are summed in f32 in the order they
 * arrive. */
static void receive_grad(ae_node *to, const void *source, int bf16)
{
    if (to->grad_sources == 1) {
        to->dy = source;
        to->dy_bf16 = bf16;
        return;
    }
    accumulate(to->grad, source, bf16, node_numel(to), to->dy_received == 0);
    to->dy_received++;
}

/* Runs the layer's backward on the node's complete output gradient. */
static int backward_node(ae_net *net, advgnn_ctx *ctx, ae_node *n)
{
    advgnn_tensor dy;

    /* f32 gradients (sums, the loss) reach a bf16 layer rounded once, here. */
    if (net->dtype == ADVGNN_DTYPE_BF16 && !n->dy_bf16) {
        advgnn_f32_to_bf16(n->dy, net->grad16, node_numel(n));
        dy = advgnn_tensor_view(net->grad16, ADVGNN_DTYPE_BF16, 4, n->shape);
    } else {
        dy = advgnn_tensor_view((void *)n->dy, n->dy_bf16 ? ADVGNN_DTYPE_BF16 : ADVGNN_DTYPE_F32, 4, n->shape);
    }
    return advgnn_layer_backward(n->layer, ctx, &dy);
}

int ae_backward(ae_net *net, advgnn_ctx *ctx, const advgnn_tensor *grad)
{
    int rc = ADVGNN_OK;

    for (int i = 0; i < net->count; i++) {
        net->nodes[i].dy = net->nodes[i].grad;
        net->nodes[i].dy_bf16 = 0;
        net->nodes[i].dy_received = 0;
    }
    receive_grad(&net->nodes[net->output], grad->data, 0);

    /* Reverse creation order is a topological order, so a node's gradient is
     * complete once every later node has handed its share over. A source
     * stays valid until its node runs: it is the loss gradient, a sum, or an
     * input gradient of a layer whose backward has run and runs no more. */
    for (int i = net->count - 1; i >= 0 && rc == ADVGNN_OK; i--) {
        ae_node *n = &net->nodes[i];

        /* Only a bug in count_grad_sources leaves a one-source node without its source. */
        if (!n->dy)
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "autoencoder: no gradient reached layer %s",
                                advgnn_layer_name(n->layer));
        if (n->route != AE_ROUTE_PASS)
            rc = backward_node(net, ctx, n);
        for (int j = 0; j < n->input_count && rc == ADVGNN_OK; j++) {
            const advgnn_tensor *dx;

            if (n->inputs[j] < 0)
                continue;
            if (n->route != AE_ROUTE_LAYER) {
                receive_grad(&net->nodes[n->inputs[j]], n->dy, n->dy_bf16);
                continue;
            }
            dx = advgnn_layer_input_grad(n->layer, j);
            if (dx)
                receive_grad(&net->nodes[n->inputs[j]], dx->data, dx->dtype == ADVGNN_DTYPE_BF16);
        }
    }
    return rc;
}

int ae_train_step(void *user, advgnn_ctx *ctx, const advgnn_tensor *images, size_t valid, int training, double *loss)
{
    ae_net *net = user;
    int64_t shape[4] = {(int64_t)valid, net->input_shape[1], net->input_shape[2], net->input_shape[3]};
    size_t numel = (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
    advgnn_tensor pred, target, g_mse, g_ssim;
    double mse = 0.0, dssim = 0.0;
    int rc = ae_forward(net, ctx, images, training ? ADVGNN_NN_MODE_TRAINING : ADVGNN_NN_MODE_INFERENCE);

    if (rc != ADVGNN_OK)
        return rc;

    /* The loss is f32 in both precisions: a bf16 reconstruction is widened
     * first, and ae_backward rounds its f32 gradient for the layers. */
    if (net->dtype == ADVGNN_DTYPE_BF16)
        ae_output_f32(net, net->output, 0, numel, net->pred32.data);
    pred = advgnn_tensor_view(net->dtype == ADVGNN_DTYPE_BF16 ? net->pred32.data
                                                              : advgnn_layer_output(net->nodes[net->output].layer)->data,
                              ADVGNN_DTYPE_F32, 4, shape);
    target = advgnn_tensor_view(images->data, ADVGNN_DTYPE_F32, 4, shape);
    g_mse = advgnn_tensor_view(net->grad_out.data, ADVGNN_DTYPE_F32, 4, shape);
    g_ssim = advgnn_tensor_view(net->grad_ssim.data, ADVGNN_DTYPE_F32, 4, shape);

    /* loss = MSE + lambda * (1 - SSIM); the SSIM loss of the engine is already 1 - SSIM. */
    rc = advgnn_loss_mse(ctx, &pred, &target, training ? &g_mse : NULL, &mse);
    if (rc == ADVGNN_OK && net->ssim_weight > 0)
        rc = advgnn_loss_ssim(ctx, &pred, &target, net->ssim_range, training ? &g_ssim : NULL, &dssim);
    *loss = mse + net->ssim_weight * dssim;
    if (rc != ADVGNN_OK || !training || !isfinite(*loss))
        return rc;
    if (net->ssim_weight > 0) {
        float *g = net->grad_out.data, *s = net->grad_ssim.data, w = (float)net->ssim_weight;

        for (size_t i = 0; i < numel; i++)
            g[i] += w * s[i];
    }
    return ae_backward(net, ctx, &net->grad_out);
}

/* ---- the encoder functions ------------------------------------------------ */

/* Returns "<dir>/<name>" (advgnn_free), or NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = advgnn_malloc(size);

    if (path)
        snprintf(path, size, "%s/%s", dir, name);
    return path;
}

static char *copy_option(const advgnn_options *opts, const char *name)
{
    const char *v = advgnn_options_string(opts, name);

    return v && *v ? advgnn_strdup(v) : NULL;
}

/* True when a path option is given; an empty string means "not given", as
 * for copy_option, so that `weights = ""` is not mistaken for a failed copy. */
static int option_set(const advgnn_options *opts, const char *key)
{
    const char *v = advgnn_options_string(opts, key);

    return v && *v;
}

static int parse_optimizer(const char *name, advgnn_optim_kind *kind)
{
    static const advgnn_optim_kind kinds[] = {ADVGNN_OPTIM_ADAM, ADVGNN_OPTIM_ADAMW, ADVGNN_OPTIM_SGD,
                                              ADVGNN_OPTIM_RMSPROP};

    for (int i = 0; ae_optimizer_choices[i]; i++)
        if (strcmp(name, ae_optimizer_choices[i]) == 0) {
            *kind = kinds[i];
            return 1;
        }
    return 0;
}

/* Fails with an option error when oneDNN has no bf16 kernels on this CPU
 * (see advgnn_nn_bf16_supported). Without the check the user would read a
 * backend error about the first layer instead of the option to change. */
static int check_bf16_support(advgnn_ctx *ctx, const char *label)
{
    if (advgnn_nn_bf16_supported())
        return ADVGNN_OK;
    return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                        "%s: option 'precision' is bf16, but oneDNN has no bf16 kernels on this CPU; it needs "
                        "AVX-512 (AVX512_BF16 or AMX for full speed): set precision to f32",
                        label);
}

int ae_check_options(advgnn_ctx *ctx, const advgnn_options *opts, const char *label)
{
    int64_t pool = advgnn_options_int(opts, "feature_pool");

    /* 'weights' replaces training, so a 'resume' beside it would be ignored. */
    if (option_set(opts, "weights") && option_set(opts, "resume"))
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "%s: options 'weights' and 'resume' are both set, but 'weights' skips training; remove "
                            "'weights' to continue training from %s, or remove 'resume' to use %s without training",
                            label, advgnn_options_string(opts, "resume"), advgnn_options_string(opts, "weights"));
    if (pool % 2 == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "%s: option 'feature_pool' is %lld; it must be odd", label,
                            (long long)pool);
    if (strcmp(advgnn_options_string(opts, "precision"), "bf16") == 0)
        return check_bf16_support(ctx, label);
    return ADVGNN_OK;
}

int ae_encoder_configure(ae_encoder *enc, advgnn_ctx *ctx, const advgnn_options *opts,
                         const advgnn_encoder_config *config, const char *label)
{
    advgnn_train_config *t = &enc->train;
    int64_t seed = advgnn_options_int(opts, "seed");
    const char *schedule = advgnn_options_string(opts, "schedule");
    int rc;

    if (config->image_height < 16 || config->image_width < 16 || config->channels != 3)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "%s: needs 3-channel images of at least 16 x 16, got %d x %d x %d",
                            label, config->channels, config->image_height, config->image_width);
    enc->label = label;
    enc->height = config->image_height;
    enc->width = config->image_width;
    enc->seed = seed >= 0 ? (uint64_t)seed : config->seed;
    enc->threads = (int)advgnn_options_int(opts, "threads");
    enc->work_dir = config->work_dir ? advgnn_strdup(config->work_dir) : NULL;
    enc->resume = copy_option(opts, "resume");
    enc->weights = copy_option(opts, "weights");
    if ((config->work_dir && !enc->work_dir) || (option_set(opts, "resume") && !enc->resume) ||
        (option_set(opts, "weights") && !enc->weights))
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", label);

    rc = ae_check_options(ctx, opts, label);
    if (rc != ADVGNN_OK)
        return rc;

    t->epochs = (int)advgnn_options_int(opts, "epochs");
    t->batch_size = (int)advgnn_options_int(opts, "batch_size");
    t->seed = enc->seed;
    parse_optimizer(advgnn_options_string(opts, "optimizer"), &t->optim.kind);
    t->optim.weight_decay = advgnn_options_number(opts, "weight_decay");
    t->optim.momentum = advgnn_options_number(opts, "momentum");
    t->schedule.lr = advgnn_options_number(opts, "lr");
    t->schedule.kind = strcmp(schedule, "cosine") == 0     ? ADVGNN_LR_COSINE
                       : strcmp(schedule, "step") == 0     ? ADVGNN_LR_STEP
                       : strcmp(schedule, "plateau") == 0  ? ADVGNN_LR_PLATEAU
                                                           : ADVGNN_LR_CONSTANT;
    t->schedule.min_lr = t->schedule.lr * 0.01;
    t->schedule.warmup_steps = (int)advgnn_options_int(opts, "warmup_epochs"); /* in epochs here; train() converts it to steps */
    t->schedule.gamma = 0.5;
    t->schedule.patience = 2;
    t->clip_grad_norm = advgnn_options_number(opts, "clip_grad_norm");
    t->patience = (int)advgnn_options_int(opts, "patience");
    t->checkpoint_every = (int)advgnn_options_int(opts, "checkpoint_every");
    t->resume_from = enc->resume;
    t->progress = 1;
    t->label = label;
    if (enc->threads > 0)
        advgnn_ctx_set_threads(ctx, enc->threads);
    return ADVGNN_OK;
}

/* The engine's load messages contain this phrase when the file is valid but
 * its tensors do not fit the network (core/src/nn/safetensors.c). */
#define AE_OTHER_OPTIONS "with other options"

/* Names the options that most likely differ, judged from the first part of a
 * tensor name that only one of the two networks has. */
static const char *likely_options(const char *tensor)
{
    if (strncmp(tensor, "decoder.", 8) == 0)
        return "'decoder' or 'decoder_blocks'";
    if (strncmp(tensor, "pos_embed.", 10) == 0)
        return "'pos_embed' or the experiment's image_size";
    if (strncmp(tensor, "enc.", 4) == 0 || strncmp(tensor, "dec.", 4) == 0)
        return "'widths'";
    return "'preset', 'variant', 'widths' or 'blocks'";
}

/* Copies the tensor name that follows "tensor " after `path` in `message`. */
static void tensor_from_message(const char *message, const char *path, char *out, size_t size)
{
    const char *p = strstr(message, path);
    size_t n = 0;

    out[0] = '\0';
    p = strstr(p ? p + strlen(path) : message, "tensor ");
    if (!p)
        return;
    p += strlen("tensor ");
    while (p[n] && p[n] != ' ' && n + 1 < size)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Writes into `out` the image size that the file's position embedding was
 * made for, or "" unless the message shows the file's shape and its count of
 * positions is a square (the size of a square image is then known). */
static void describe_pos_embed(const ae_encoder *enc, const char *message, char *out, size_t size)
{
    const char *shape = strstr(message, "pos_embed.weight has shape [");
    long long channels = 0, positions = 0;
    int stride, side;

    out[0] = '\0';
    if (!shape || enc->net.pos_grid[0] <= 0 ||
        sscanf(shape + strlen("pos_embed.weight has shape ["), "%lld,%lld", &channels, &positions) != 2)
        return;
    side = (int)lround(sqrt((double)positions));
    if (positions <= 0 || (long long)side * side != positions)
        return;

    /* The grid is the image divided by the stem's stride in each direction. */
    stride = enc->height / enc->net.pos_grid[0];
    snprintf(out, size,
             "The file was made for image size %d (a %d x %d grid of positions) and this network has image size "
             "%d x %d: set image_size to %d. A checkpoint of the reference Vision GNN models can instead be "
             "converted for this size with scripts/vig_reference.py convert --image-size %dx%d (see docs/vig.md)",
             side * stride, side, side, enc->height, enc->width, side * stride, enc->height, enc->width);
}

/* Turns a load failure of the file given by `option` into an option error
 * when the file is valid but was written for other options. Other failures
 * pass through unchanged. */
static int explain_mismatch(ae_encoder *enc, advgnn_ctx *ctx, const char *option, const char *path, int rc)
{
    char tensor[128], pos_embed[320];
    char *message;

    if (rc != ADVGNN_ERR_FORMAT || !strstr(advgnn_ctx_error(ctx), AE_OTHER_OPTIONS))
        return rc;
    message = advgnn_strdup(advgnn_ctx_error(ctx));
    if (!message)
        return rc;
    tensor_from_message(message, path, tensor, sizeof(tensor));
    describe_pos_embed(enc, message, pos_embed, sizeof(pos_embed));

    /* The context keeps only the first error, so the engine's is cleared
     * before the fuller one replaces it. */
    advgnn_ctx_clear_error(ctx);
    if (pos_embed[0])
        rc = advgnn_failf(ctx, ADVGNN_ERR_OPTION, "%s: option '%s': %s. %s", enc->label, option, message, pos_embed);
    else
        rc = advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                          "%s: option '%s': %s, most likely %s; use the options the file was written with", enc->label,
                          option, message, likely_options(tensor));
    advgnn_free(message);
    return rc;
}

int ae_encoder_load_weights(ae_encoder *enc, advgnn_ctx *ctx, const char *option, const char *path)
{
    return explain_mismatch(enc, ctx, option, path, advgnn_nn_load(enc->net.nn, ctx, path));
}

int ae_encoder_start(ae_encoder *enc, advgnn_ctx *ctx)
{
    if (!enc->weights)
        return ADVGNN_OK;
    return ae_encoder_load_weights(enc, ctx, "weights", enc->weights);
}

void ae_encoder_free(ae_encoder *enc)
{
    if (!enc)
        return;
    ae_net_free(&enc->net);
    advgnn_train_history_free(&enc->history);
    advgnn_free(enc->work_dir);
    advgnn_free(enc->resume);
    advgnn_free(enc->weights);
}

/* The grid of the features: the largest map among the feature nodes. */
static void feature_grid(const ae_net *net, int *channels, int *height, int *width)
{
    *channels = *height = *width = 0;
    for (int f = 0; f < net->feature_count; f++) {
        const int64_t *s = net->nodes[net->features[f]].shape;

        *channels += (int)s[1];
        *height = (int)s[2] > *height ? (int)s[2] : *height;
        *width = (int)s[3] > *width ? (int)s[3] : *width;
    }
}

int ae_encoder_feature_shape(void *state, int *channels, int *height, int *width)
{
    feature_grid(&((ae_encoder *)state)->net, channels, height, width);
    return ADVGNN_OK;
}

/* Zero-padded box average of odd side `side` (count_include_pad) over an
 * h x w plane, in place. It runs as a row pass into `rows` (h * w doubles of
 * scratch) and a column pass back into the plane, both summed in double. */
static void box_average(float *plane, int h, int w, int side, double *rows)
{
    int r = side / 2;
    double area = (double)side * side;

    for (int y = 0; y < h; y++) {
        const float *in = plane + (size_t)y * w;
        double *out = rows + (size_t)y * w;

        for (int x = 0; x < w; x++) {
            double sum = 0.0;

            for (int xx = x - r > 0 ? x - r : 0; xx <= x + r && xx < w; xx++)
                sum += in[xx];
            out[x] = sum;
        }
    }

    for (int y = 0; y < h; y++) {
        int top = y - r > 0 ? y - r : 0, bottom = y + r < h ? y + r : h - 1;
        float *out = plane + (size_t)y * w;

        for (int x = 0; x < w; x++) {
            double sum = 0.0;

            for (int yy = top; yy <= bottom; yy++)
                sum += rows[(size_t)yy * w + x];
            out[x] = (float)(sum / area);
        }
    }
}

/* Writes image `b` of the last forward's feature nodes into `out` (C, gh, gw).
 * The planes are independent, so the threads share them out, each with its
 * own scratch. Fails only when memory runs out. */
static int assemble_features(ae_net *net, advgnn_ctx *ctx, int b, float *out)
{
    int channels, gh, gw, pool = net->feature_pool, failed = 0;

    feature_grid(net, &channels, &gh, &gw);
    for (int f = 0; f < net->feature_count && !failed; f++) {
        const ae_node *n = &net->nodes[net->features[f]];
        int c = (int)n->shape[1], h = (int)n->shape[2], w = (int)n->shape[3], resize = h != gh || w != gw;
        size_t plane = (size_t)h * w, first = (size_t)b * c * plane, grid = (size_t)gh * gw;

#pragma omp parallel reduction(| : failed)
        {
            /* A smaller map is widened to f32 (bf16 networks) into `src` first, then resized. */
            float *src = resize ? advgnn_malloc(plane * sizeof(float)) : NULL;
            double *rows = pool > 1 ? advgnn_malloc(grid * sizeof(double)) : NULL;

            failed = (resize && !src) || (pool > 1 && !rows);
#pragma omp for schedule(static)
            for (int i = 0; i < c; i++) {
                float *dst = out + (size_t)i * grid;

                if (failed)
                    continue;
                if (!resize) {
                    ae_output_f32(net, net->features[f], first + (size_t)i * plane, plane, dst);
                } else {
                    ae_output_f32(net, net->features[f], first + (size_t)i * plane, plane, src);
                    failed = advgnn_map_resize_bilinear(NULL, src, h, w, dst, gh, gw) != ADVGNN_OK;
                }
                if (!failed && pool > 1)
                    box_average(dst, gh, gw, pool, rows);
            }
            advgnn_free(src);
            advgnn_free(rows);
        }
        out += (size_t)c * grid;
    }
    if (failed)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory assembling %d feature planes of %d x %d", channels,
                            gh, gw);
    return ADVGNN_OK;
}

int ae_encoder_encode(void *state, advgnn_ctx *ctx, const advgnn_tensor *images, advgnn_tensor *features,
                      advgnn_tensor *reconstruction)
{
    ae_encoder *enc = state;
    ae_net *net = &enc->net;
    size_t bs = (size_t)net->input_shape[0], n = (size_t)images->shape[0];
    size_t image = (size_t)(net->input_shape[1] * net->input_shape[2] * net->input_shape[3]);
    size_t fsize = (size_t)advgnn_tensor_numel(features) / (n ? n : 1);
    advgnn_tensor chunk;
    int rc;

    if (!advgnn_tensor_is_contiguous(images) || images->shape[1] != 3 || images->shape[2] != enc->height ||
        images->shape[3] != enc->width)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "%s: expected contiguous images of 3 x %d x %d", enc->label,
                            enc->height, enc->width);
    rc = advgnn_tensor_alloc(ctx, &chunk, ADVGNN_DTYPE_F32, 4, net->input_shape);

    /* The network's batch is fixed: run chunks of it, the last one padded
     * with copies of its first image (inference mode keeps images independent). */
    for (size_t first = 0; first < n && rc == ADVGNN_OK; first += bs) {
        size_t valid = n - first < bs ? n - first : bs;

        for (size_t b = 0; b < bs; b++)
            memcpy((float *)chunk.data + b * image, (const float *)images->data + (first + (b < valid ? b : 0)) * image,
                   image * sizeof(float));
        rc = ae_forward(net, ctx, &chunk, ADVGNN_NN_MODE_INFERENCE);
        for (size_t b = 0; b < valid && rc == ADVGNN_OK; b++)
            rc = assemble_features(net, ctx, (int)b, (float *)features->data + (first + b) * fsize);
        if (rc == ADVGNN_OK && reconstruction)
            ae_output_f32(net, net->output, 0, valid * image, (float *)reconstruction->data + first * image);
    }
    advgnn_tensor_release(&chunk);
    return rc;
}

/* Warns when a resumed run trained no epoch because the checkpoint already
 * reached option 'epochs'. It is a warning and not an error because the
 * checkpoint's weights are still a valid model, and resuming a finished run
 * is how a user scores it again without training. Epochs read from a
 * checkpoint have a duration of 0 s, trained ones more. */
static void warn_if_nothing_trained(const ae_encoder *enc, advgnn_ctx *ctx, int epochs)
{
    const advgnn_train_history *h = &enc->history;

    if (h->epochs < epochs)
        return;
    for (int e = 0; e < h->epochs; e++)
        if (h->seconds[e] > 0)
            return;
    advgnn_log(ctx, ADVGNN_LOG_WARN,
               "%s: no epoch was trained: the checkpoint in %s is after epoch %d and option 'epochs' is %d; set "
               "'epochs' above %d to train more, or remove 'resume'",
               enc->label, enc->resume, h->epochs, epochs, h->epochs);
}

int ae_encoder_train(void *state, advgnn_ctx *ctx, const advgnn_image_source *train,
                     const advgnn_image_source *validation)
{
    ae_encoder *enc = state;
    advgnn_train_config t = enc->train;
    size_t steps_per_epoch = train->count >= (size_t)t.batch_size ? train->count / (size_t)t.batch_size : 1;
    char *checkpoints = enc->work_dir ? join_path(enc->work_dir, "checkpoints") : NULL;
    int rc;

    /* Weights given by the user replace training. */
    if (enc->weights) {
        advgnn_log(ctx, ADVGNN_LOG_INFO, "%s: using the weights of %s, no training", enc->label, enc->weights);
        advgnn_free(checkpoints);
        return ADVGNN_OK;
    }
    t.schedule.total_steps = (int)(steps_per_epoch * (size_t)t.epochs);
    t.schedule.warmup_steps = (int)(steps_per_epoch * (size_t)enc->train.schedule.warmup_steps);
    t.schedule.step_size = (int)steps_per_epoch * (t.epochs > 3 ? t.epochs / 3 : 1);
    t.checkpoint_dir = checkpoints;
    advgnn_train_history_free(&enc->history);
    rc = advgnn_train_run(ctx, enc->net.nn, &t, train, validation, 3, enc->height, enc->width, ae_train_step,
                          &enc->net, &enc->history);
    advgnn_free(checkpoints);
    if (enc->resume)
        rc = explain_mismatch(enc, ctx, "resume", enc->resume, rc);
    if (rc == ADVGNN_OK && enc->resume)
        warn_if_nothing_trained(enc, ctx, t.epochs);

    /* The final weights and the per-epoch losses beside the checkpoints. */
    if (rc == ADVGNN_OK && enc->work_dir) {
        char *weights = join_path(enc->work_dir, "weights.safetensors");
        char *history = join_path(enc->work_dir, "train_history.json");

        rc = weights && history ? advgnn_nn_save(enc->net.nn, ctx, weights)
                                : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "%s: out of memory", enc->label);
        if (rc == ADVGNN_OK)
            rc = advgnn_train_history_save(ctx, &enc->history, history);
        advgnn_free(weights);
        advgnn_free(history);
    }
    return rc;
}

int ae_encoder_save(void *state, advgnn_ctx *ctx, const char *path)
{
    return advgnn_nn_save(((ae_encoder *)state)->net.nn, ctx, path);
}

int ae_encoder_load(void *state, advgnn_ctx *ctx, const char *path)
{
    return advgnn_nn_load(((ae_encoder *)state)->net.nn, ctx, path);
}

int ae_encoder_new_net(ae_encoder *enc, advgnn_ctx *ctx, const advgnn_options *opts,
                       const advgnn_encoder_config *config)
{
    int64_t shape[4] = {enc->train.batch_size, 3, config->image_height, config->image_width};
    int rc = ae_net_new(ctx, shape, &enc->net);

    /* ae_encoder_configure has checked that this CPU runs bf16. */
    if (rc == ADVGNN_OK && strcmp(advgnn_options_string(opts, "precision"), "bf16") == 0)
        enc->net.dtype = ADVGNN_DTYPE_BF16;

    enc->net.ssim_weight = advgnn_options_number(opts, "ssim_weight");
    enc->net.ssim_range = advgnn_options_number(opts, "ssim_range");
    enc->net.feature_pool = (int)advgnn_options_int(opts, "feature_pool");
    return rc;
}
