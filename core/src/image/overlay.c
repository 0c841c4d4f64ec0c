/* Heatmap overlays: an anomaly map in the Turbo colormap, blended over its
 * image, with the defect mask outlined. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "image/image_internal.h"
#include "image/overlay.h"

/* Turbo (Anton Mikhailov, Google, 2019) evaluated with the published
 * 6th-degree polynomial fit by Ruofei Du (Google, Apache-2.0; "Polynomial
 * approximation in GLSL for the Turbo colormap"), for t in [0, 1]. */
static void turbo_rgb(float t, uint8_t rgb[3])
{
    static const double coeff[3][6] = {
        {0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943},
        {0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604},
        {0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973},
    };

    for (int c = 0; c < 3; c++) {
        /* Horner's rule over the coefficients of t^0 .. t^5. */
        double v = coeff[c][5];
        for (int k = 4; k >= 0; k--)
            v = v * t + coeff[c][k];
        if (v < 0.0)
            v = 0.0;
        if (v > 1.0)
            v = 1.0;
        rgb[c] = (uint8_t)(v * 255.0 + 0.5);
    }
}

/* Returns nonzero when mask pixel (x, y) is defective and touches a
 * non-defective 4-neighbour or the image border. */
static int on_outline(const uint8_t *mask, int width, int height, int x, int y)
{
    const uint8_t *row = mask + (size_t)y * (size_t)width;

    if (!row[x])
        return 0;
    if (x == 0 || y == 0 || x == width - 1 || y == height - 1)
        return 1;
    return !row[x - 1] || !row[x + 1] || !row[x - (ptrdiff_t)width] || !row[x + (ptrdiff_t)width];
}

int advgnn_overlay_heatmap(advgnn_ctx *ctx, const advgnn_image *image, const float *map, float vmin, float vmax,
                           float alpha, const uint8_t *mask, int side_by_side, advgnn_image *out)
{
    if (!advgnn_image_is_valid(image) || image->type != ADVGNN_PIXEL_U8 || !map)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "heatmap overlay needs a non-empty 8-bit image and a map");
    if (!(vmax > vmin) || !isfinite(vmin) || !isfinite(vmax))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid heatmap range [%g, %g]: vmax must exceed vmin",
                            (double)vmin, (double)vmax);
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid heatmap alpha %g: expected 0..1", (double)alpha);

    advgnn_image rgb;
    int rc = advgnn_image_convert_channels(ctx, image, 3, &rgb);
    if (rc != ADVGNN_OK)
        return rc;
    int width = image->width;
    int height = image->height;
    int offset = side_by_side ? width : 0;
    advgnn_image result;
    rc = advgnn_image_alloc(ctx, &result, side_by_side ? 2 * width : width, height, 3, ADVGNN_PIXEL_U8);
    if (rc != ADVGNN_OK) {
        advgnn_image_release(&rgb);
        return rc;
    }

    const uint8_t *src = rgb.data;
    uint8_t *dst = result.data;
    size_t out_stride = (size_t)result.width * 3;
    float range = vmax - vmin;
    for (int y = 0; y < height; y++) {
        const uint8_t *in_row = src + (size_t)y * (size_t)width * 3;
        uint8_t *out_row = dst + (size_t)y * out_stride;
        if (side_by_side)
            memcpy(out_row, in_row, (size_t)width * 3);
        for (int x = 0; x < width; x++) {
            uint8_t *q = out_row + (size_t)(offset + x) * 3;
            float t = (map[(size_t)y * (size_t)width + (size_t)x] - vmin) / range;
            if (!(t > 0.0f))
                t = 0.0f; /* also NaN */
            if (t > 1.0f)
                t = 1.0f;
            uint8_t color[3];
            turbo_rgb(t, color);
            for (int c = 0; c < 3; c++)
                q[c] = (uint8_t)((1.0f - alpha) * in_row[(size_t)x * 3 + c] + alpha * color[c] + 0.5f);
            if (mask && on_outline(mask, width, height, x, y))
                q[0] = q[1] = q[2] = 255;
        }
    }

    advgnn_image_release(&rgb);
    *out = result;
    return ADVGNN_OK;
}
