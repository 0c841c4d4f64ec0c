/* Heatmap overlays: an anomaly map drawn over its input image. Private. */
#ifndef ADVGNN_IMAGE_OVERLAY_H
#define ADVGNN_IMAGE_OVERLAY_H

#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/image.h"

/* Draws `map` (height x width floats, the image's size) over the 8-bit RGB or
 * gray `image` with a perceptual colormap (values scaled from [vmin, vmax]),
 * blended at `alpha` (0..1), and outlines the defect mask in white when `mask`
 * (height x width, 0/1) is not NULL. The result is an 8-bit RGB image in *out,
 * placed beside the plain input when `side_by_side` is nonzero. */
int advgnn_overlay_heatmap(advgnn_ctx *ctx, const advgnn_image *image, const float *map, float vmin, float vmax,
                           float alpha, const uint8_t *mask, int side_by_side, advgnn_image *out);

#endif
