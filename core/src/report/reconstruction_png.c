/* The reconstruction image of a run: the input beside what a reconstructing
 * encoder made of it. */
#include <math.h>
#include <stdint.h>

#include "advgnn/image.h"
#include "advgnn/status.h"
#include "report/results.h"

/* Maps one normalized value back to an 8-bit level: v * std + mean is in
 * [0, 1] for pixels of the original range; anything outside is clamped. */
static uint8_t to_level(float value, float mean, float std)
{
    float level = (value * std + mean) * 255.0f;

    if (!(level > 0.0f)) /* also catches NaN */
        return 0;
    if (level > 255.0f)
        return 255;
    return (uint8_t)lrintf(level);
}

int advgnn_report_write_reconstruction(advgnn_ctx *ctx, const char *path, const float *input,
                                       const float *reconstruction, int height, int width, const float mean[3],
                                       const float std[3])
{
    size_t pixels = (size_t)height * (size_t)width;
    advgnn_image image = {0};
    int rc;

    /* One RGB image twice as wide: the input on the left, the
     * reconstruction on the right. */
    rc = advgnn_image_alloc(ctx, &image, 2 * width, height, 3, ADVGNN_PIXEL_U8);
    if (rc != ADVGNN_OK)
        return rc;
    uint8_t *rgb = image.data;
    for (size_t y = 0; y < (size_t)height; y++) {
        uint8_t *row = rgb + y * 2 * (size_t)width * 3;
        for (size_t x = 0; x < (size_t)width; x++) {
            size_t at = y * (size_t)width + x;
            for (size_t c = 0; c < 3; c++) {
                row[x * 3 + c] = to_level(input[c * pixels + at], mean[c], std[c]);
                row[((size_t)width + x) * 3 + c] = to_level(reconstruction[c * pixels + at], mean[c], std[c]);
            }
        }
    }
    rc = advgnn_image_save_png(ctx, path, &image);
    advgnn_image_release(&image);
    return rc;
}
