/* The encoder plugin interface: images in, patch feature maps (and optionally
 * a reconstruction) out. */
#ifndef ADVGNN_ENCODER_H
#define ADVGNN_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/options.h"
#include "advgnn/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the core tells an encoder when it creates one. */
typedef struct advgnn_encoder_config {
    uint32_t struct_size;
    int image_height; /* pixels of the preprocessed input */
    int image_width;
    int channels;     /* 3 */
    uint64_t seed;
    const char *work_dir; /* a folder of the run for weights and checkpoints; borrowed */
} advgnn_encoder_config;

/* A source of preprocessed images, (3, H, W) floats each, for training. */
typedef struct advgnn_image_source {
    size_t count;
    /* Writes images [first, first + n) into out, shape (n, 3, H, W). */
    int (*read)(void *user, advgnn_ctx *ctx, size_t first, size_t n, float *out);
    void *user;
} advgnn_image_source;

/* Capability flags of an encoder. */
#define ADVGNN_ENCODER_RECONSTRUCTS 0x1u /* encode() fills a reconstruction */

typedef struct advgnn_encoder_functions {
    uint32_t struct_size;
    uint32_t flags; /* ADVGNN_ENCODER_* */

    /* Required. Builds the encoder for the configured input size. */
    int (*create)(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config, void **state);

    /* Required. Frees the state. */
    void (*destroy)(void *state);

    /* Required. Returns the shape of one image's feature map: channels and grid. */
    int (*feature_shape)(void *state, int *channels, int *height, int *width);

    /* Required. Encodes a batch. images: (N, 3, H, W) f32. features: (N, C, h, w)
     * f32, allocated by the core. reconstruction: (N, 3, H, W) f32 when the
     * encoder has ADVGNN_ENCODER_RECONSTRUCTS, else NULL. */
    int (*encode)(void *state, advgnn_ctx *ctx, const advgnn_tensor *images, advgnn_tensor *features,
                  advgnn_tensor *reconstruction);

    /* Optional. Trains on normal images; `validation` may have count 0. NULL
     * means the encoder needs no training. */
    int (*train)(void *state, advgnn_ctx *ctx, const advgnn_image_source *train,
                 const advgnn_image_source *validation);

    /* Optional. Saves and loads weights (safetensors). NULL: nothing to save. */
    int (*save)(void *state, advgnn_ctx *ctx, const char *path);
    int (*load)(void *state, advgnn_ctx *ctx, const char *path);

    /* Optional (ABI 1.2). Checks the finished options without building
     * anything, for the rules that the option schema cannot state. With
     * `config` NULL it checks what does not depend on the input; with a
     * config it also checks the input size. Returns ADVGNN_OK, or the error
     * that create() would return, with its message in ctx. A script's
     * advgnn.encoder() calls it without a config and advgnn.experiment{}
     * with one, so a wrong value stops the script at that line, before any
     * experiment runs. create() must still check. */
    int (*check_options)(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config);
} advgnn_encoder_functions;

#ifdef __cplusplus
}
#endif
#endif
