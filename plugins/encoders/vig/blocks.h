/* The blocks of Vision GNN on the shared layer graph: Grapher, FFN and the
 * relative-position term of pyramid stages. */
#ifndef ADVGNN_PLUGINS_VIG_BLOCKS_H
#define ADVGNN_PLUGINS_VIG_BLOCKS_H

#include "ae.h"

/* Grapher: fc1 (1x1 conv + BN), max-relative aggregation over the dynamic
 * dilated kNN graph with interleaved channels (2C), grouped (4) 1x1 conv +
 * BN + GELU, fc2 (1x1 conv 2C -> C + BN), plus the input. `bias` is an owned
 * (H*W, keys) array or NULL. C must be even. */
int vig_grapher(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int k, int dilation, int ratio,
                float *bias, int *node);

/* FFN: 1x1 conv to 4C + BN, GELU, 1x1 conv to C + BN, plus the input. */
int vig_ffn(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int *node);

/* Returns the relative-position term of a (channels, height, width) stage
 * whose keys are ratio x ratio averages, as Vision GNN computes it: with P the
 * 2-D sine-cosine embedding of the nodes (row-major), each row of
 * -2 P P^T / channels resampled bicubically (PyTorch's F.interpolate,
 * align_corners=False) from H*W to (H/ratio)*(W/ratio) entries. Returns an
 * owned (H*W, keys) array (advgnn_free), or NULL when out of memory. channels
 * must be a multiple of 4. */
float *vig_relative_bias(int channels, int height, int width, int ratio);

#endif
