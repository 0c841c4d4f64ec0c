/* From a decoded image to the network input: channel conversion, resize,
 * center crop and normalization; and the same geometry for defect masks. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "advgnn/image.h"
#include "image/image_internal.h"

advgnn_preprocess advgnn_preprocess_default(int size)
{
    /* Mean and standard deviation of the ImageNet training set on the 0..1
     * scale, as torchvision's pretrained models expect them. */
    advgnn_preprocess pp = {
        .resize_height = size,
        .resize_width = size,
        .crop_height = 0,
        .crop_width = 0,
        .channels = 3,
        .mean = {0.485f, 0.456f, 0.406f},
        .std = {0.229f, 0.224f, 0.225f},
    };
    return pp;
}

void advgnn_preprocess_output_size(const advgnn_preprocess *pp, int in_height, int in_width, int *height,
                                   int *width)
{
    int h = pp->resize_height > 0 ? pp->resize_height : in_height;
    int w = pp->resize_width > 0 ? pp->resize_width : in_width;

    if (pp->crop_height > 0)
        h = pp->crop_height;
    if (pp->crop_width > 0)
        w = pp->crop_width;
    *height = h;
    *width = w;
}

static int check_preprocess(advgnn_ctx *ctx, const advgnn_preprocess *pp, int in_height, int in_width)
{
    if (pp->channels != 1 && pp->channels != 3)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid preprocessing: %d channels, expected 1 or 3",
                            pp->channels);
    if (pp->resize_height < 0 || pp->resize_width < 0 || pp->crop_height < 0 || pp->crop_width < 0 ||
        (pp->resize_height > 0) != (pp->resize_width > 0))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "invalid preprocessing sizes: resize %d x %d, crop %d x %d (set both sides or neither)",
                            pp->resize_width, pp->resize_height, pp->crop_width, pp->crop_height);

    int h = pp->resize_height > 0 ? pp->resize_height : in_height;
    int w = pp->resize_width > 0 ? pp->resize_width : in_width;
    if (pp->crop_height > h || pp->crop_width > w)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "center crop of %d x %d is larger than the %d x %d image after resizing; lower the "
                            "crop size or raise the resize size",
                            pp->crop_width, pp->crop_height, w, h);
    return ADVGNN_OK;
}

/* Checks the normalization, which only images use (masks are binarized). */
static int check_normalization(advgnn_ctx *ctx, const advgnn_preprocess *pp)
{
    for (int c = 0; c < pp->channels; c++) {
        if (!(pp->std[c] > 0.0f) || !isfinite(pp->mean[c]))
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "invalid preprocessing: channel %d has mean %g and std %g; std must be > 0", c,
                                (double)pp->mean[c], (double)pp->std[c]);
    }
    return ADVGNN_OK;
}

/* Applies the resize (with `filter`) and the center crop of `pp` to `img`,
 * replacing it. */
static int resize_and_crop(advgnn_ctx *ctx, advgnn_image *img, const advgnn_preprocess *pp,
                           advgnn_resize_filter filter)
{
    int rc = ADVGNN_OK;

    if (pp->resize_height > 0 && (pp->resize_height != img->height || pp->resize_width != img->width)) {
        advgnn_image resized;
        rc = advgnn_image_resize(ctx, img, pp->resize_width, pp->resize_height, filter, &resized);
        if (rc != ADVGNN_OK)
            return rc;
        advgnn_image_release(img);
        *img = resized;
    }

    int crop_h = pp->crop_height > 0 ? pp->crop_height : img->height;
    int crop_w = pp->crop_width > 0 ? pp->crop_width : img->width;
    if (crop_h != img->height || crop_w != img->width) {
        advgnn_image cropped;
        rc = advgnn_image_crop_center(ctx, img, crop_w, crop_h, &cropped);
        if (rc != ADVGNN_OK)
            return rc;
        advgnn_image_release(img);
        *img = cropped;
    }
    return ADVGNN_OK;
}

int advgnn_image_to_tensor(advgnn_ctx *ctx, const advgnn_image *img, const advgnn_preprocess *pp, float *out)
{
    if (!advgnn_image_is_valid(img) || img->type != ADVGNN_PIXEL_U8 || !pp || !out)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "image_to_tensor needs a non-empty 8-bit image, preprocessing and an output buffer");
    int rc = check_preprocess(ctx, pp, img->height, img->width);
    if (rc == ADVGNN_OK)
        rc = check_normalization(ctx, pp);
    if (rc != ADVGNN_OK)
        return rc;

    /* Convert channels first so the resize touches only the channels kept. The
     * resize works on 8-bit samples, as torchvision's Resize on PIL images
     * followed by ToTensor does. */
    advgnn_image work = {0};
    rc = advgnn_image_convert_channels(ctx, img, pp->channels, &work);
    if (rc == ADVGNN_OK)
        rc = resize_and_crop(ctx, &work, pp, ADVGNN_RESIZE_BILINEAR);
    if (rc != ADVGNN_OK) {
        advgnn_image_release(&work);
        return rc;
    }

    size_t plane = (size_t)work.width * (size_t)work.height;
    const uint8_t *src = work.data;
    for (int c = 0; c < pp->channels; c++) {
        float scale = 1.0f / (255.0f * pp->std[c]);
        float shift = pp->mean[c] / pp->std[c];
        float *dst = out + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++)
            dst[i] = (float)src[i * (size_t)pp->channels + (size_t)c] * scale - shift;
    }
    advgnn_image_release(&work);
    return ADVGNN_OK;
}

int advgnn_mask_to_binary(advgnn_ctx *ctx, const advgnn_image *mask, int threshold, const advgnn_preprocess *pp,
                          uint8_t *out)
{
    if (!advgnn_image_is_valid(mask) || mask->type != ADVGNN_PIXEL_U8 || !pp || !out)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "mask_to_binary needs a non-empty 8-bit mask, preprocessing and an output buffer");
    if (threshold < 0 || threshold > 254)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid mask threshold %d: expected 0..254", threshold);
    int rc = check_preprocess(ctx, pp, mask->height, mask->width);
    if (rc != ADVGNN_OK)
        return rc;

    /* Binarize at full resolution, so an anti-aliased edge never produces a
     * value that the nearest resize would copy and a later threshold would
     * read differently. */
    advgnn_image binary;
    rc = advgnn_image_alloc(ctx, &binary, mask->width, mask->height, 1, ADVGNN_PIXEL_U8);
    if (rc != ADVGNN_OK)
        return rc;
    const uint8_t *src = mask->data;
    uint8_t *dst = binary.data;
    size_t count = (size_t)mask->width * (size_t)mask->height;
    int color_channels = mask->channels == 2 || mask->channels == 4 ? mask->channels - 1 : mask->channels;
    for (size_t i = 0; i < count; i++) {
        uint8_t defective = 0;
        for (int c = 0; c < color_channels; c++)
            defective |= src[i * (size_t)mask->channels + (size_t)c] > threshold;
        dst[i] = defective;
    }

    rc = resize_and_crop(ctx, &binary, pp, ADVGNN_RESIZE_NEAREST);
    if (rc == ADVGNN_OK)
        memcpy(out, binary.data, (size_t)binary.width * (size_t)binary.height);
    advgnn_image_release(&binary);
    return rc;
}
