/* The scorer plugin interface: fitted on normal images, it turns encoder
 * outputs into a per-pixel anomaly map and an image score. */
#ifndef ADVGNN_SCORER_H
#define ADVGNN_SCORER_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/options.h"
#include "advgnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct advgnn_scorer_config {
    uint32_t struct_size;
    int image_height;     /* pixels of the preprocessed input and of the maps */
    int image_width;
    int feature_channels; /* the encoder's feature map */
    int feature_height;
    int feature_width;
    int has_reconstruction; /* nonzero when batches carry a reconstruction */
    uint64_t seed;
} advgnn_scorer_config;

/* One batch of encoder outputs. Tensors are borrowed for the call. */
typedef struct advgnn_score_batch {
    size_t count;
    const advgnn_tensor *images;         /* (N, 3, H, W) normalized input */
    const advgnn_tensor *features;       /* (N, C, h, w) */
    const advgnn_tensor *reconstruction; /* (N, 3, H, W), or NULL */
} advgnn_score_batch;

/* Requirement flags of a scorer. */
#define ADVGNN_SCORER_NEEDS_RECONSTRUCTION 0x1u

typedef struct advgnn_scorer_functions {
    uint32_t struct_size;
    uint32_t flags; /* ADVGNN_SCORER_* */

    /* Required. */
    int (*create)(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config, void **state);

    /* Required. */
    void (*destroy)(void *state);

    /* Required. Adds a batch of normal training images. */
    int (*fit_add)(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch);

    /* Optional. Finishes fitting after the last batch (coreset selection). */
    int (*fit_end)(void *state, advgnn_ctx *ctx);

    /* Required. maps: (N, H, W) floats at the input size; scores: N floats.
     * Larger means more anomalous. */
    int (*score)(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps, float *scores);
} advgnn_scorer_functions;

#ifdef __cplusplus
}
#endif
#endif
