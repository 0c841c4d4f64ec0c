/* The graph operations of Vision GNN: the dynamic k-nearest-neighbour graph of
 * one image's feature vectors and the max-relative aggregation over it.
 *
 * Nodes are the H*W positions of a (C, H, W) feature map, in row-major order;
 * keys are the positions of the same map average-pooled by the reduce ratio r
 * ((H/r) * (W/r) keys; r = 1 keeps every node as its own key). */
#ifndef ADVGNN_GRAPH_H
#define ADVGNN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/nn.h"
#include "advgnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct advgnn_knn_config {
    int k;            /* neighbours kept per node, >= 1 */
    int dilation;     /* 0 means 1: keep every d-th of the k*d nearest keys */
    int reduce_ratio; /* 0 means 1: keys are r x r average-pooled features; must divide H and W */
    /* (H*W, keys) f32 added to the squared distances before top-k (ViG's
     * relative-position term), or NULL. Borrowed until advgnn_knn_graph_free. */
    const float *bias;
    /* Nonzero: the normalized features are rounded to bf16 for the distance
     * matmul, which bench/nn measured about 2x faster. Near-ties between
     * neighbours may then order differently than in f32. */
    int bf16_matmul;
} advgnn_knn_config;

typedef struct advgnn_knn_graph advgnn_knn_graph;

/* Creates a graph builder for feature maps of `channels` x `height` x `width`.
 * Its buffers are sized here; building allocates nothing. Free it with
 * advgnn_knn_graph_free. */
int advgnn_knn_graph_new(advgnn_ctx *ctx, int channels, int height, int width, const advgnn_knn_config *config,
                         advgnn_knn_graph **out);

void advgnn_knn_graph_free(advgnn_knn_graph *graph);

/* Returns the number of keys ((H/r) * (W/r)). */
int advgnn_knn_graph_key_count(const advgnn_knn_graph *graph);

/* Builds the graph of every image of `x` ((N, C, H, W), f32 or bf16, contiguous).
 * Features are L2-normalized over channels. Distances are the squared
 * Euclidean distances between normalized nodes and normalized keys (from one
 * matrix product) plus the bias. For each node the k*d nearest keys are
 * sorted nearest first (ties to the lower key index) and every d-th is kept.
 * `edges` is (N, H*W, k) int32 key indices, caller-owned. The graph carries
 * no gradient. */
int advgnn_knn_graph_build(advgnn_knn_graph *graph, advgnn_ctx *ctx, const advgnn_tensor *x, int32_t *edges);

/* Creates a max-relative aggregation layer: out[n, c, i] = max over the k
 * neighbours j of i of (keys[n, c, j] - x[n, c, i]). With `keys_shape` NULL
 * the keys are the input itself and the layer has one input. Otherwise it
 * takes two inputs: x of `input_shape` and keys (N, C, h, w) of `keys_shape`. With
 * `interleave` nonzero the output is (N, 2C, H, W) with channels x_0, mr_0,
 * x_1, mr_1, ... as ViG's MRConv concatenates them; else (N, C, H, W).
 * Backward scatters each output gradient to the argmax neighbour (saved by the
 * forward) and subtracts it from the centre node. */
int advgnn_nn_max_relative(advgnn_nn *nn, advgnn_ctx *ctx, const char *name, advgnn_dtype dtype,
                           const int64_t input_shape[4], const int64_t keys_shape[4], int k, int interleave,
                           advgnn_layer **out);

/* Sets the edges ((N, H*W, k) int32 key indices, from advgnn_knn_graph_build)
 * that the next forward uses. Borrowed: they must stay unchanged until the
 * matching backward returns. Indices are checked in forward. */
int advgnn_max_relative_set_edges(advgnn_layer *layer, advgnn_ctx *ctx, const int32_t *edges);

#ifdef __cplusplus
}
#endif
#endif
