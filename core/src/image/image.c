/* Image storage, channel conversion and cropping. */
#include <stdint.h>
#include <string.h>

#include "advgnn/image.h"
#include "image/image_internal.h"

size_t advgnn_pixel_size(advgnn_pixel_type type)
{
    switch (type) {
    case ADVGNN_PIXEL_U8:
        return 1;
    case ADVGNN_PIXEL_U16:
        return 2;
    case ADVGNN_PIXEL_F32:
        return 4;
    default:
        return 0;
    }
}

int advgnn_image_is_valid(const advgnn_image *img)
{
    return img && img->data && img->width > 0 && img->height > 0 && img->channels >= 1 && img->channels <= 4 &&
           advgnn_pixel_size(img->type) > 0;
}

int advgnn_image_alloc(advgnn_ctx *ctx, advgnn_image *img, int width, int height, int channels,
                       advgnn_pixel_type type)
{
    size_t sample = advgnn_pixel_size(type);

    memset(img, 0, sizeof(*img));
    if (width <= 0 || height <= 0 || channels < 1 || channels > 4 || sample == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "invalid image shape %d x %d with %d channel(s) and pixel type %d", width, height,
                            channels, (int)type);

    /* width and height are below 2^31 and channels * sample <= 16, so the
     * product only overflows size_t on 32-bit hosts; check it anyway. */
    size_t pixels = (size_t)width * (size_t)height;
    if (pixels > SIZE_MAX / ((size_t)channels * sample))
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "image of %d x %d pixels is too large for this machine", width,
                            height);

    size_t bytes = pixels * (size_t)channels * sample;
    void *data = advgnn_calloc(bytes, 1);
    if (!data)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory allocating a %d x %d x %d image (%zu bytes)",
                            width, height, channels, bytes);

    img->width = width;
    img->height = height;
    img->channels = channels;
    img->type = type;
    img->data = data;
    return ADVGNN_OK;
}

void advgnn_image_release(advgnn_image *img)
{
    if (!img)
        return;
    advgnn_free(img->data);
    memset(img, 0, sizeof(*img));
}

/* Rec. 601 luma in 16-bit fixed point (0.299, 0.587, 0.114 scaled by 65536,
 * summing to 65536), rounded to nearest. */
static uint8_t luma601(const uint8_t *rgb)
{
    uint32_t y = 19595u * rgb[0] + 38470u * rgb[1] + 7471u * rgb[2] + 32768u;
    return (uint8_t)(y >> 16);
}

int advgnn_image_convert_channels(advgnn_ctx *ctx, const advgnn_image *in, int channels, advgnn_image *out)
{
    if (!advgnn_image_is_valid(in) || in->type != ADVGNN_PIXEL_U8)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "channel conversion needs a non-empty 8-bit image");
    if (channels != 1 && channels != 3)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cannot convert to %d channels: expected 1 or 3",
                            channels);

    advgnn_image result;
    int rc = advgnn_image_alloc(ctx, &result, in->width, in->height, channels, ADVGNN_PIXEL_U8);
    if (rc != ADVGNN_OK)
        return rc;

    const uint8_t *src = in->data;
    uint8_t *dst = result.data;
    size_t count = (size_t)in->width * (size_t)in->height;
    int cin = in->channels;
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = src + i * (size_t)cin;
        uint8_t *q = dst + i * (size_t)channels;
        if (channels == 1) {
            /* Gray and gray + alpha keep their gray sample; RGB(A) becomes luma. */
            q[0] = cin >= 3 ? luma601(p) : p[0];
        } else if (cin >= 3) {
            q[0] = p[0];
            q[1] = p[1];
            q[2] = p[2];
        } else {
            q[0] = q[1] = q[2] = p[0];
        }
    }

    *out = result;
    return ADVGNN_OK;
}

int advgnn_image_crop_center(advgnn_ctx *ctx, const advgnn_image *in, int width, int height, advgnn_image *out)
{
    if (!advgnn_image_is_valid(in))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "cannot crop an empty image");
    if (width <= 0 || height <= 0 || width > in->width || height > in->height)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "center crop of %d x %d does not fit inside the %d x %d image", width, height,
                            in->width, in->height);

    advgnn_image result;
    int rc = advgnn_image_alloc(ctx, &result, width, height, in->channels, in->type);
    if (rc != ADVGNN_OK)
        return rc;

    size_t pixel = (size_t)in->channels * advgnn_pixel_size(in->type);
    size_t in_stride = (size_t)in->width * pixel;
    size_t out_stride = (size_t)width * pixel;
    int top = (in->height - height) / 2;
    int left = (in->width - width) / 2;
    const uint8_t *src = (const uint8_t *)in->data + (size_t)top * in_stride + (size_t)left * pixel;
    uint8_t *dst = result.data;
    for (int y = 0; y < height; y++)
        memcpy(dst + (size_t)y * out_stride, src + (size_t)y * in_stride, out_stride);

    *out = result;
    return ADVGNN_OK;
}
