/* Float maps (anomaly maps): bilinear resize and Gaussian smoothing. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "advgnn/image.h"
#include "image/image_internal.h"

/* Below this many output values a loop runs on one thread. */
#define PARALLEL_MIN_VALUES 65536

/* Source coordinate of output index i with half-pixel centres
 * (align_corners=False): src = (i + 0.5) * in / out - 0.5, clamped at 0 as
 * torch.nn.functional.interpolate and cv2.resize INTER_LINEAR do. */
static void linear_source(int i, double scale, int in_size, int *i0, int *i1, float *frac)
{
    double src = (i + 0.5) * scale - 0.5;

    if (src < 0.0)
        src = 0.0;
    int lo = (int)src;
    if (lo > in_size - 1)
        lo = in_size - 1;
    *i0 = lo;
    *i1 = lo < in_size - 1 ? lo + 1 : lo;
    *frac = (float)(src - lo);
    if (*i1 == lo)
        *frac = 0.0f;
}

int advgnn_map_resize_bilinear(advgnn_ctx *ctx, const float *in, int in_height, int in_width, float *out,
                               int out_height, int out_width)
{
    if (!in || !out || in_height <= 0 || in_width <= 0 || out_height <= 0 || out_width <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid map resize from %d x %d to %d x %d", in_width,
                            in_height, out_width, out_height);

    int *x0 = advgnn_malloc(sizeof(int) * (size_t)out_width * 2);
    float *fx = advgnn_malloc(sizeof(float) * (size_t)out_width);
    if (!x0 || !fx) {
        advgnn_free(x0);
        advgnn_free(fx);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory resizing a map to %d x %d", out_width,
                            out_height);
    }
    int *x1 = x0 + out_width;
    double scale_x = (double)in_width / out_width;
    double scale_y = (double)in_height / out_height;
    for (int x = 0; x < out_width; x++)
        linear_source(x, scale_x, in_width, &x0[x], &x1[x], &fx[x]);

    int parallel = (size_t)out_height * (size_t)out_width > PARALLEL_MIN_VALUES;
#pragma omp parallel for schedule(static) if (parallel)
    for (int y = 0; y < out_height; y++) {
        int y0, y1;
        float fy;
        linear_source(y, scale_y, in_height, &y0, &y1, &fy);
        const float *top = in + (size_t)y0 * (size_t)in_width;
        const float *bottom = in + (size_t)y1 * (size_t)in_width;
        float *dst = out + (size_t)y * (size_t)out_width;
        for (int x = 0; x < out_width; x++) {
            float t = top[x0[x]] + fx[x] * (top[x1[x]] - top[x0[x]]);
            float b = bottom[x0[x]] + fx[x] * (bottom[x1[x]] - bottom[x0[x]]);
            dst[x] = t + fy * (b - t);
        }
    }

    advgnn_free(x0);
    advgnn_free(fx);
    return ADVGNN_OK;
}

/* Maps an index outside [0, n) back inside by mirroring with the edge pixel
 * repeated (d c b a | a b c d | d c b a), as often as needed, so a kernel
 * wider than the map still reads valid pixels. The pattern repeats every 2n. */
static int reflect_index(int i, int n)
{
    int period = 2 * n;
    int j = i % period;

    if (j < 0)
        j += period;
    return j < n ? j : period - 1 - j;
}

/* Smooths `count` lines of `length` values each, in place. Line k starts at
 * data + k * line_step and its values are `step` apart. */
static int blur_lines(advgnn_ctx *ctx, float *data, int length, size_t step, int count, size_t line_step,
                      const double *kernel, int radius)
{
    size_t padded = (size_t)length + 2 * (size_t)radius;
    int parallel = (size_t)length * (size_t)count * (size_t)(2 * radius + 1) > PARALLEL_MIN_VALUES * 8;
    int failed = 0;

#pragma omp parallel if (parallel)
    {
        /* Each thread copies a line with its mirrored borders, then convolves. */
        double *line = advgnn_malloc(sizeof(double) * padded);
        if (!line) {
#pragma omp atomic write
            failed = 1;
        }

#pragma omp for schedule(static)
        for (int k = 0; k < count; k++) {
            if (!line)
                continue;
            float *values = data + (size_t)k * line_step;
            for (int i = -radius; i < length + radius; i++)
                line[i + radius] = values[(size_t)reflect_index(i, length) * step];
            for (int i = 0; i < length; i++) {
                double sum = 0.0;
                for (int t = -radius; t <= radius; t++)
                    sum += kernel[t + radius] * line[i + radius + t];
                values[(size_t)i * step] = (float)sum;
            }
        }
        advgnn_free(line);
    }

    if (failed)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory smoothing a map");
    return ADVGNN_OK;
}

int advgnn_map_gaussian_blur(advgnn_ctx *ctx, float *map, int height, int width, double sigma)
{
    if (!map || height <= 0 || width <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid map of %d x %d for Gaussian smoothing", width,
                            height);
    if (!(sigma > 0.0))
        return ADVGNN_OK;
    if (sigma > 1e4)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "Gaussian sigma %g is too large (max 10000 pixels)",
                            sigma);

    /* scipy.ndimage.gaussian_filter with truncate = 4: radius int(4 sigma +
     * 0.5), weights exp(-x^2 / (2 sigma^2)) normalized to sum 1. */
    int radius = (int)(4.0 * sigma + 0.5);
    double *kernel = advgnn_malloc(sizeof(double) * (size_t)(2 * radius + 1));
    if (!kernel)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for a Gaussian kernel of radius %d", radius);
    double sum = 0.0;
    for (int t = -radius; t <= radius; t++) {
        kernel[t + radius] = exp(-0.5 * (double)t * t / (sigma * sigma));
        sum += kernel[t + radius];
    }
    for (int t = 0; t <= 2 * radius; t++)
        kernel[t] /= sum;

    /* Axis 0 (columns) first, then axis 1 (rows), the order scipy uses; the
     * intermediate is stored as float like scipy's float32 output. */
    int rc = blur_lines(ctx, map, height, (size_t)width, width, 1, kernel, radius);
    if (rc == ADVGNN_OK)
        rc = blur_lines(ctx, map, width, 1, height, (size_t)width, kernel, radius);
    advgnn_free(kernel);
    return rc;
}
