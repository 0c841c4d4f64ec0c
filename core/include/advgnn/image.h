/* Images: decoding with maintained codecs, resizing, cropping, normalization,
 * and the 2-D float maps (anomaly maps) that scorers produce. */
#ifndef ADVGNN_IMAGE_H
#define ADVGNN_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum advgnn_pixel_type {
    ADVGNN_PIXEL_INVALID = 0,
    ADVGNN_PIXEL_U8 = 1,
    ADVGNN_PIXEL_U16 = 2,
    ADVGNN_PIXEL_F32 = 3
} advgnn_pixel_type;

/* An image with interleaved channels (HWC), rows packed without padding.
 * The image owns `data`; release it with advgnn_image_release. An empty image
 * has data == NULL and zero sizes. */
typedef struct advgnn_image {
    int width;    /* pixels */
    int height;   /* pixels */
    int channels; /* 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) */
    advgnn_pixel_type type;
    void *data;
} advgnn_image;

/* Default limit on decoded pixels (width * height) that guards against
 * decompression bombs: 2^28, about 16384 x 16384. */
#define ADVGNN_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)1 << 28)

/* Allocates a zero-filled image. On failure *img is left empty. */
int advgnn_image_alloc(advgnn_ctx *ctx, advgnn_image *img, int width, int height, int channels,
                       advgnn_pixel_type type);

/* Frees the pixels and resets *img to empty. Safe on an empty image. */
void advgnn_image_release(advgnn_image *img);

/* Decodes a PNG, JPEG or BMP file, chosen by its signature (not its name), to
 * 8-bit pixels with the file's own channel count (1, 2, 3 or 4); palette
 * images become RGB(A), 16-bit samples are scaled to 8 bits. Images of more
 * than `max_pixels` pixels (0 = the default) are rejected with
 * ADVGNN_ERR_LIMIT. A missing file fails with ADVGNN_ERR_NOT_FOUND, an
 * unreadable one with ADVGNN_ERR_IO, a truncated or corrupt one with
 * ADVGNN_ERR_FORMAT, each with a message naming `path`. */
int advgnn_image_load_file(advgnn_ctx *ctx, const char *path, uint64_t max_pixels, advgnn_image *out);

/* Like advgnn_image_load_file for an encoded buffer; `name` is used in messages. */
int advgnn_image_decode(advgnn_ctx *ctx, const void *data, size_t size, const char *name,
                        uint64_t max_pixels, advgnn_image *out);

/* Writes an 8-bit image (1, 2, 3 or 4 channels) as PNG. The file is written to
 * a temporary name in the same folder and renamed, so a reader never sees a
 * half-written file. */
int advgnn_image_save_png(advgnn_ctx *ctx, const char *path, const advgnn_image *img);

/* Converts an 8-bit image to `channels` channels (1 or 3): gray is replicated
 * to RGB, RGB becomes gray with Rec. 601 luma weights, alpha is dropped. */
int advgnn_image_convert_channels(advgnn_ctx *ctx, const advgnn_image *in, int channels, advgnn_image *out);

typedef enum advgnn_resize_filter {
    ADVGNN_RESIZE_INVALID = 0,
    ADVGNN_RESIZE_NEAREST = 1,  /* for masks: values are copied, never mixed */
    ADVGNN_RESIZE_BILINEAR = 2, /* antialiased: a triangle filter widened by the scale when shrinking */
    ADVGNN_RESIZE_AREA = 3      /* box filter over the covered source area */
} advgnn_resize_filter;

/* Resizes an 8-bit or float image to width x height. */
int advgnn_image_resize(advgnn_ctx *ctx, const advgnn_image *in, int width, int height,
                        advgnn_resize_filter filter, advgnn_image *out);

/* Crops the centered width x height window (offsets rounded down), which must
 * fit inside the image. */
int advgnn_image_crop_center(advgnn_ctx *ctx, const advgnn_image *in, int width, int height, advgnn_image *out);

/* How raw images become the network's input. */
typedef struct advgnn_preprocess {
    int resize_height; /* resize to this size first (0 = keep) */
    int resize_width;
    int crop_height;   /* then center-crop (0 = no crop) */
    int crop_width;
    int channels;      /* 1 or 3 */
    float mean[3];     /* per channel, on the 0..1 scale */
    float std[3];
} advgnn_preprocess;

/* Returns the ImageNet normalization at `size` x `size` without crop. */
advgnn_preprocess advgnn_preprocess_default(int size);

/* Returns the final height and width that the preprocessing produces for an
 * input of the given size. */
void advgnn_preprocess_output_size(const advgnn_preprocess *pp, int in_height, int in_width, int *height,
                                   int *width);

/* Resizes (antialiased bilinear), crops and normalizes an 8-bit image into
 * planar floats `out` of shape (channels, H, W): (x / 255 - mean) / std. */
int advgnn_image_to_tensor(advgnn_ctx *ctx, const advgnn_image *img, const advgnn_preprocess *pp, float *out);

/* Binarizes a mask (a pixel is defective when any color channel is > threshold
 * on the 0..255 scale; alpha is ignored), then resizes it with
 * nearest-neighbour sampling and crops it like the image, into `out` (H * W
 * bytes, 0 or 1). */
int advgnn_mask_to_binary(advgnn_ctx *ctx, const advgnn_image *mask, int threshold, const advgnn_preprocess *pp,
                          uint8_t *out);

/* ---- float maps (anomaly maps), row-major height x width ------------------ */

/* Bilinear resize with half-pixel centres (PyTorch's align_corners=False). */
int advgnn_map_resize_bilinear(advgnn_ctx *ctx, const float *in, int in_height, int in_width, float *out,
                               int out_height, int out_width);

/* Gaussian smoothing in place, separable, radius = round(4 * sigma), borders
 * mirrored with the edge pixel repeated (scipy.ndimage mode "reflect").
 * sigma <= 0 leaves the map unchanged. */
int advgnn_map_gaussian_blur(advgnn_ctx *ctx, float *map, int height, int width, double sigma);

#ifdef __cplusplus
}
#endif
#endif
