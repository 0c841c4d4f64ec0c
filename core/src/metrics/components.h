/* Connected-component labeling of binary masks, for the per-region overlap of
 * AUPRO. Private to the metrics module. */
#ifndef ADVGNN_METRICS_COMPONENTS_H
#define ADVGNN_METRICS_COMPONENTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/internal.h"

/* Labels the 8-connected components of mask (height, width), where nonzero
 * pixels are foreground. Writes 0 for background and 1..count for the
 * components, numbered in raster order of their first pixel, to labels, and
 * returns count. queue is scratch memory of height * width entries. */
ADVGNN_INTERNAL uint32_t advgnn_label_components(const uint8_t *mask, int height, int width, uint32_t *labels,
                                                 uint32_t *queue);

#endif
