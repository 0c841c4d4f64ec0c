/* The graph decoder of the vig autoencoder. Its upsampling stages mirror the
 * encoder's graph stages: each is a bilinear x2 resize, a 1x1 convolution +
 * BN to the stage width and Grapher + FFN blocks. Convolutional x2 stages
 * follow up to the output size, then a 3x3 convolution to the three image
 * channels. The Grapher + FFN block with its checks is shared with the
 * encoder. */
#ifndef ADVGNN_PLUGINS_VIG_GRAPH_DECODER_H
#define ADVGNN_PLUGINS_VIG_GRAPH_DECODER_H

#include "ae.h"

#define VIG_DECODER_MAX_STAGES 3

/* One graph stage of the decoder. Its grid is twice the previous one. */
typedef struct vig_decoder_stage {
    int width;  /* channels; even, and a multiple of 4 with the relative-position term */
    int blocks; /* Grapher + FFN blocks; 0 leaves the resize and the 1x1 convolution */
    int ratio;  /* average-pooling ratio of the keys; divides the stage grid */
} vig_decoder_stage;

typedef struct vig_decoder_spec {
    vig_decoder_stage stages[VIG_DECODER_MAX_STAGES]; /* coarsest first */
    int stage_count;            /* 1 to VIG_DECODER_MAX_STAGES */
    int k;                      /* neighbours per node of the first block */
    int k_growth;               /* nonzero: k grows linearly to 2k over the blocks, as in isotropic ViG */
    int relative_pos;           /* add the relative-position term to the kNN distance */
    int out_height, out_width;  /* output pixels: the input grid times a power of two */
    int tanh_output;            /* nonzero: tanh after the output convolution; else linear */
} vig_decoder_spec;

/* Adds a Grapher + FFN block named "<name>.grapher" and "<name>.ffn" at node
 * *node (the block's input and output, (N, C, H, W) with C even). It checks
 * that `ratio` divides the grid and that the keys cover k * dilation
 * neighbours, and names `label` (e.g. "block 3") in those errors. */
int vig_graph_block(ae_net *net, advgnn_ctx *ctx, const char *name, const char *label, int k, int dilation,
                    int ratio, int relative_pos, int *node);

/* Adds the decoder after node `from` and returns the reconstruction
 * (N, 3, out_height, out_width) in *node. Layer names start with "decoder.". */
int vig_graph_decoder(ae_net *net, advgnn_ctx *ctx, const vig_decoder_spec *spec, int from, int *node);

#endif
