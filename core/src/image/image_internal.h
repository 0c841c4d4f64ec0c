/* Helpers shared by the files of the image module. Private. */
#ifndef ADVGNN_IMAGE_INTERNAL_H
#define ADVGNN_IMAGE_INTERNAL_H

#include <stddef.h>

#include "advgnn/image.h"
#include "util/internal.h"

/* Returns the size in bytes of one sample of `type`, or 0 for an invalid type. */
ADVGNN_INTERNAL size_t advgnn_pixel_size(advgnn_pixel_type type);

/* Returns nonzero when *img has positive sizes, 1 to 4 channels, a valid type
 * and pixels. */
ADVGNN_INTERNAL int advgnn_image_is_valid(const advgnn_image *img);

#endif
