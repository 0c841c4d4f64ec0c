/* Reader of the .agf fixtures that scripts/make_image_goldens.py writes:
 * "AGF1", int32 dtype (1 = uint8, 2 = float32), int32 height, width,
 * channels, then the samples in HWC order, all little-endian. */
#ifndef ADVGNN_TEST_IMAGE_GOLDEN_H
#define ADVGNN_TEST_IMAGE_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/image.h"

#define GOLDEN_DIR ADVGNN_SOURCE_DIR "/tests/image/golden"

/* Loads GOLDEN_DIR/<name>.agf into *img (released by the caller). Returns 0
 * on success; prints the reason and returns -1 otherwise. */
static int golden_load(const char *name, advgnn_image *img)
{
    char path[1024];
    int32_t header[4];
    char magic[4];

    memset(img, 0, sizeof(*img));
    snprintf(path, sizeof(path), "%s/%s.agf", GOLDEN_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture '%s'; run scripts/make_image_goldens.py\n", path);
        return -1;
    }
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "AGF1", 4) != 0 || fread(header, 4, 4, f) != 4 ||
        (header[0] != 1 && header[0] != 2) || header[1] <= 0 || header[2] <= 0 || header[3] <= 0) {
        fprintf(stderr, "fixture '%s' has an invalid header\n", path);
        fclose(f);
        return -1;
    }

    img->height = header[1];
    img->width = header[2];
    img->channels = header[3];
    img->type = header[0] == 1 ? ADVGNN_PIXEL_U8 : ADVGNN_PIXEL_F32;
    size_t count = (size_t)img->height * (size_t)img->width * (size_t)img->channels;
    size_t sample = header[0] == 1 ? 1 : 4;
    img->data = advgnn_malloc(count * sample);
    if (!img->data || fread(img->data, sample, count, f) != count) {
        fprintf(stderr, "fixture '%s' is truncated\n", path);
        advgnn_image_release(img);
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

#endif
