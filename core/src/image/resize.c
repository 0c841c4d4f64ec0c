/* Separable resampling of 8-bit and float images: nearest neighbour, an
 * antialiased triangle filter (bilinear) and a box filter over the covered area.
 *
 * Each output coordinate gets a short list of source taps and weights, and the
 * two axes are resampled in two passes. 8-bit images are rounded to 8 bits
 * between the passes, as Pillow does, so results match Pillow to within one
 * level (tests/image compares against Pillow 13.0 fixtures).
 *
 * NOTE: alpha is resampled like any other channel. Pillow premultiplies RGBA
 * and LA first, so results differ where alpha is below 255. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "advgnn/image.h"
#include "image/image_internal.h"

/* Below this many output samples a pass runs on one thread, because starting
 * the OpenMP team costs more than the work. */
#define PARALLEL_MIN_SAMPLES 65536

/* Taps of one axis: output index i reads source indices start[i] ..
 * start[i] + count[i] - 1 with weights[i * max_taps + k]. */
typedef struct taps {
    int *start;
    int *count;
    float *weights; /* out_size * max_taps, normalized to sum 1 per output */
    int max_taps;
} taps;

static void taps_free(taps *t)
{
    advgnn_free(t->start);
    advgnn_free(t->count);
    advgnn_free(t->weights);
    memset(t, 0, sizeof(*t));
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* The triangle filter of Pillow's BILINEAR: support 1 in source pixels,
 * widened by the scale factor when shrinking so every source pixel
 * contributes (antialiasing). Output pixel centres sit at (i + 0.5) * scale. */
static int bilinear_taps(int in_size, int i, double scale, double *w, int max_taps, int *start)
{
    double filter_scale = scale > 1.0 ? scale : 1.0;
    double support = filter_scale;
    double center = (i + 0.5) * scale;
    int first = (int)(center - support + 0.5);
    int last = (int)(center + support + 0.5);

    if (first < 0)
        first = 0;
    if (last > in_size)
        last = in_size;
    int n = last - first;
    if (n > max_taps)
        n = max_taps;
    for (int k = 0; k < n; k++)
        w[k] = triangle((first + k - center + 0.5) / filter_scale);
    *start = first;
    return n;
}

/* The box filter: output pixel i covers the source interval
 * [i * scale, (i + 1) * scale), and each source pixel weighs by its overlap. */
static int area_taps(int in_size, int i, double scale, double *w, int max_taps, int *start)
{
    double lo = i * scale;
    double hi = (i + 1) * scale;
    int first = (int)floor(lo);
    int last = (int)ceil(hi);

    if (last > in_size)
        last = in_size;
    if (first >= last)
        first = last - 1;
    int n = last - first;
    if (n > max_taps)
        n = max_taps;
    for (int k = 0; k < n; k++) {
        double a = first + k > lo ? first + k : lo;
        double b = first + k + 1 < hi ? first + k + 1 : hi;
        w[k] = b > a ? b - a : 0.0;
    }
    *start = first;
    return n;
}

static int nearest_taps(int in_size, int i, double scale, double *w, int max_taps, int *start)
{
    int src = (int)floor((i + 0.5) * scale);

    if (src > in_size - 1)
        src = in_size - 1;
    w[0] = 1.0;
    *start = src;
    return 1;
}

/* Computes the taps of one axis. */
static int taps_build(advgnn_ctx *ctx, taps *t, int in_size, int out_size, advgnn_resize_filter filter)
{
    double scale = (double)in_size / out_size;
    double filter_scale = scale > 1.0 ? scale : 1.0;

    memset(t, 0, sizeof(*t));
    switch (filter) {
    case ADVGNN_RESIZE_NEAREST:
        t->max_taps = 1;
        break;
    case ADVGNN_RESIZE_BILINEAR:
        t->max_taps = (int)ceil(filter_scale) * 2 + 1;
        break;
    default:
        t->max_taps = (int)ceil(scale) + 2;
        break;
    }

    t->start = advgnn_malloc(sizeof(int) * (size_t)out_size);
    t->count = advgnn_malloc(sizeof(int) * (size_t)out_size);
    t->weights = advgnn_calloc((size_t)out_size * (size_t)t->max_taps, sizeof(float));
    double *w = advgnn_malloc(sizeof(double) * (size_t)t->max_taps);
    if (!t->start || !t->count || !t->weights || !w) {
        advgnn_free(w);
        taps_free(t);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory computing resize weights for %d -> %d pixels",
                            in_size, out_size);
    }

    for (int i = 0; i < out_size; i++) {
        int first = 0, n;
        if (filter == ADVGNN_RESIZE_NEAREST)
            n = nearest_taps(in_size, i, scale, w, t->max_taps, &first);
        else if (filter == ADVGNN_RESIZE_BILINEAR)
            n = bilinear_taps(in_size, i, scale, w, t->max_taps, &first);
        else
            n = area_taps(in_size, i, scale, w, t->max_taps, &first);

        double sum = 0.0;
        for (int k = 0; k < n; k++)
            sum += w[k];
        t->start[i] = first;
        t->count[i] = n;
        for (int k = 0; k < n; k++)
            t->weights[(size_t)i * t->max_taps + k] = (float)(sum > 0.0 ? w[k] / sum : 0.0);
    }
    advgnn_free(w);
    return ADVGNN_OK;
}

static uint8_t round_u8(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)(v + 0.5f);
}

/* Horizontal pass: every row of `in` from in->width to out_width pixels. */
static void pass_horizontal(const advgnn_image *in, void *dst, int out_width, const taps *t)
{
    int channels = in->channels;
    int rows = in->height;
    int is_u8 = in->type == ADVGNN_PIXEL_U8;
    size_t in_stride = (size_t)in->width * (size_t)channels;
    size_t out_stride = (size_t)out_width * (size_t)channels;
    int parallel = (size_t)rows * out_stride > PARALLEL_MIN_SAMPLES;

#pragma omp parallel for schedule(static) if (parallel)
    for (int y = 0; y < rows; y++) {
        for (int x = 0; x < out_width; x++) {
            const float *w = t->weights + (size_t)x * t->max_taps;
            size_t src0 = (size_t)t->start[x] * (size_t)channels;
            for (int c = 0; c < channels; c++) {
                float sum = 0.0f;
                if (is_u8) {
                    const uint8_t *src = (const uint8_t *)in->data + (size_t)y * in_stride + src0 + (size_t)c;
                    for (int k = 0; k < t->count[x]; k++)
                        sum += w[k] * src[(size_t)k * (size_t)channels];
                    ((uint8_t *)dst)[(size_t)y * out_stride + (size_t)x * channels + c] = round_u8(sum);
                } else {
                    const float *src = (const float *)in->data + (size_t)y * in_stride + src0 + (size_t)c;
                    for (int k = 0; k < t->count[x]; k++)
                        sum += w[k] * src[(size_t)k * (size_t)channels];
                    ((float *)dst)[(size_t)y * out_stride + (size_t)x * channels + c] = sum;
                }
            }
        }
    }
}

/* Vertical pass over whole rows of `row_samples` samples. */
static void pass_vertical(const void *src, advgnn_pixel_type type, size_t row_samples, void *dst, int out_height,
                          const taps *t)
{
    int is_u8 = type == ADVGNN_PIXEL_U8;
    int parallel = (size_t)out_height * row_samples > PARALLEL_MIN_SAMPLES;

#pragma omp parallel for schedule(static) if (parallel)
    for (int y = 0; y < out_height; y++) {
        const float *w = t->weights + (size_t)y * t->max_taps;
        size_t first = (size_t)t->start[y];
        for (size_t i = 0; i < row_samples; i++) {
            float sum = 0.0f;
            if (is_u8) {
                const uint8_t *s = (const uint8_t *)src + first * row_samples + i;
                for (int k = 0; k < t->count[y]; k++)
                    sum += w[k] * s[(size_t)k * row_samples];
                ((uint8_t *)dst)[(size_t)y * row_samples + i] = round_u8(sum);
            } else {
                const float *s = (const float *)src + first * row_samples + i;
                for (int k = 0; k < t->count[y]; k++)
                    sum += w[k] * s[(size_t)k * row_samples];
                ((float *)dst)[(size_t)y * row_samples + i] = sum;
            }
        }
    }
}

int advgnn_image_resize(advgnn_ctx *ctx, const advgnn_image *in, int width, int height,
                        advgnn_resize_filter filter, advgnn_image *out)
{
    if (!advgnn_image_is_valid(in) || (in->type != ADVGNN_PIXEL_U8 && in->type != ADVGNN_PIXEL_F32))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "resize needs a non-empty 8-bit or float image");
    if (width <= 0 || height <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid resize target %d x %d", width, height);
    if (filter != ADVGNN_RESIZE_NEAREST && filter != ADVGNN_RESIZE_BILINEAR && filter != ADVGNN_RESIZE_AREA)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid resize filter %d", (int)filter);

    /* The horizontal pass normally runs first. When the width grows and the
     * height shrinks, the vertical pass runs first, which keeps the
     * intermediate image small. Pillow 13.0 output matches this order in the
     * tests/image/golden fixtures and differs in rounding under the other. */
    int both = width != in->width && height != in->height;
    int vertical_first = both && width > in->width && height < in->height;
    advgnn_image tmp = {0}, result = {0};
    taps tx = {0}, ty = {0};
    int rc = advgnn_image_alloc(ctx, &result, width, height, in->channels, in->type);
    if (rc == ADVGNN_OK && width != in->width)
        rc = taps_build(ctx, &tx, in->width, width, filter);
    if (rc == ADVGNN_OK && height != in->height)
        rc = taps_build(ctx, &ty, in->height, height, filter);
    if (rc == ADVGNN_OK && both)
        rc = advgnn_image_alloc(ctx, &tmp, vertical_first ? in->width : width, vertical_first ? height : in->height,
                                in->channels, in->type);
    if (rc != ADVGNN_OK) {
        taps_free(&tx);
        taps_free(&ty);
        advgnn_image_release(&result);
        return rc;
    }

    size_t row_samples = (size_t)width * (size_t)in->channels;
    if (width == in->width && height == in->height) {
        memcpy(result.data, in->data, row_samples * (size_t)height * advgnn_pixel_size(in->type));
    } else if (height == in->height) {
        pass_horizontal(in, result.data, width, &tx);
    } else if (width == in->width) {
        pass_vertical(in->data, in->type, row_samples, result.data, height, &ty);
    } else if (vertical_first) {
        pass_vertical(in->data, in->type, (size_t)in->width * (size_t)in->channels, tmp.data, height, &ty);
        pass_horizontal(&tmp, result.data, width, &tx);
    } else {
        pass_horizontal(in, tmp.data, width, &tx);
        pass_vertical(tmp.data, in->type, row_samples, result.data, height, &ty);
    }

    taps_free(&tx);
    taps_free(&ty);
    advgnn_image_release(&tmp);
    *out = result;
    return ADVGNN_OK;
}
