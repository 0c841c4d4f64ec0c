/* AUPRO (area under the per-region overlap curve) as anomalib 2.3 and later
 * compute it exactly, without threshold sampling.
 *
 * Regions are the 8-connected components of each image's mask, numbered
 * across all images, R in total. Pixels are visited from the highest score
 * down. A background pixel adds 1 / n_bg to the false-positive rate (n_bg
 * background pixels over all images), and a pixel of region r adds
 * 1 / (|r| * R) to the PRO, the mean over regions of the fraction of the region
 * at or above the threshold. One curve point follows each group of equal
 * scores, after (0, 0). The curve is cut at the FPR limit, with a point
 * interpolated linearly on the limit, and its trapezoid area is divided by
 * the limit. In the limit of all thresholds this equals the MVTec AD
 * definition (overlap = fraction of a region's pixels above the threshold,
 * FPR from the defect-free pixels, area up to 0.3 divided by 0.3). */
#include <math.h>
#include <string.h>

#include "advgnn/metrics.h"
#include "metrics/components.h"
#include "metrics/curve_points.h"
#include "metrics/sorted_scores.h"

/* Pixels of all images, split into background and defect pixels, sorted. */
typedef struct pro_pixels {
    uint32_t *background; /* (background_count,) score keys, ascending */
    uint64_t *defect;     /* (defect_count,) score key << 32 | region index, ascending by key */
    double *weights;      /* (regions,) PRO step of one pixel of the region: 1 / (|r| * R) */
    size_t background_count;
    size_t defect_count;
    size_t regions;
} pro_pixels;

static void pro_pixels_release(pro_pixels *pixels)
{
    advgnn_free(pixels->background);
    advgnn_free(pixels->defect);
    advgnn_free(pixels->weights);
    memset(pixels, 0, sizeof(*pixels));
}

/* ---- input checks ------------------------------------------------------------ */

/* Checks shapes, the limit, finite scores and 0/1 masks, and counts the
 * defect pixels. Failures name the image and the pixel (row, column). */
static int check_input(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                       int width, double fpr_limit, size_t *defect_pixels)
{
    size_t image_pixels, defects = 0;

    if (!maps || !masks)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "AUPRO: maps and masks must not be NULL");
    if (images == 0 || height <= 0 || width <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "AUPRO: invalid shape (%zu, %d, %d); it needs at least one "
                            "image of at least 1x1 pixels", images, height, width);
    if (!(fpr_limit > 0.0 && fpr_limit <= 1.0))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "AUPRO: invalid false-positive-rate limit %g; use a value in (0, 1], usually 0.3",
                            fpr_limit);

    /* Pixel indices within an image and region numbers are 32-bit. */
    image_pixels = (size_t)height * (size_t)width;
    if (image_pixels > UINT32_MAX || images > SIZE_MAX / 16 / image_pixels)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "AUPRO: %zu images of %dx%d pixels are too many", images, width,
                            height);

    for (size_t i = 0; i < images * image_pixels; i++) {
        size_t image = i / image_pixels, row = i % image_pixels / (size_t)width, column = i % (size_t)width;

        if (!isfinite(maps[i]))
            return advgnn_failf(ctx, ADVGNN_ERR_NUMERIC,
                                "AUPRO: image %zu, pixel (row %zu, column %zu) has score %g; anomaly maps must be "
                                "finite, so check the scorer output", image, row, column, (double)maps[i]);
        if (masks[i] > 1)
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "AUPRO: image %zu, pixel (row %zu, column %zu) has mask value %u; masks must be 0 "
                                "(normal) or 1 (defect)", image, row, column, (unsigned)masks[i]);
        defects += masks[i];
    }
    *defect_pixels = defects;
    return ADVGNN_OK;
}

/* Fails with ADVGNN_ERR_UNDEFINED when no region or no background exists. */
static int require_regions_and_background(advgnn_ctx *ctx, size_t images, size_t pixels, size_t defect_pixels)
{
    if (defect_pixels == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                            "AUPRO is undefined: the %zu masks contain no defect pixel, so there is no region to "
                            "overlap", images);
    if (defect_pixels == pixels)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                            "AUPRO is undefined: all %zu pixels of the %zu masks are defect pixels, so the "
                            "false-positive rate has no background pixel", pixels, images);
    return ADVGNN_OK;
}

/* ---- regions and sorting ------------------------------------------------------- */

/* Grows *sizes to hold `needed` zeroed counts. */
static int reserve_region_sizes(size_t **sizes, size_t *capacity, size_t used, size_t needed)
{
    size_t grown = *capacity ? *capacity : 64;
    size_t *bigger;

    if (needed <= *capacity)
        return ADVGNN_OK;
    while (grown < needed)
        grown *= 2;
    bigger = advgnn_realloc(*sizes, grown * sizeof(size_t));
    if (!bigger)
        return ADVGNN_ERR_NOMEM;
    memset(bigger + used, 0, (grown - used) * sizeof(size_t));
    *sizes = bigger;
    *capacity = grown;
    return ADVGNN_OK;
}

/* Labels the regions of every mask and fills the key arrays of *pixels
 * (already allocated) and the region sizes. */
static int split_pixels(const float *maps, const uint8_t *masks, size_t images, int height, int width,
                        pro_pixels *pixels, size_t **sizes, uint32_t *labels, uint32_t *queue)
{
    size_t image_pixels = (size_t)height * (size_t)width, capacity = 0, b = 0, d = 0;

    for (size_t image = 0; image < images; image++) {
        const float *map = maps + image * image_pixels;
        uint32_t found = advgnn_label_components(masks + image * image_pixels, height, width, labels, queue);
        size_t first = pixels->regions;

        if (reserve_region_sizes(sizes, &capacity, first, first + found) != ADVGNN_OK)
            return ADVGNN_ERR_NOMEM;
        for (size_t p = 0; p < image_pixels; p++) {
            uint64_t key = advgnn_score_key(map[p]);

            if (labels[p]) {
                size_t region = first + labels[p] - 1;

                (*sizes)[region]++;
                pixels->defect[d++] = key << 32 | (uint64_t)region;
            } else {
                pixels->background[b++] = (uint32_t)key;
            }
        }
        pixels->regions += found;
    }
    return ADVGNN_OK;
}

/* Builds *pixels from validated input with at least one region and one
 * background pixel. Memory beyond the input: 8 bytes per background pixel,
 * 16 per defect pixel, 8 per pixel of one image. */
static int collect_pixels(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                          int width, size_t defect_pixels, pro_pixels *pixels)
{
    size_t image_pixels = (size_t)height * (size_t)width;
    size_t *sizes = NULL;
    uint32_t *labels, *queue;
    uint64_t *scratch = NULL;
    int rc = ADVGNN_ERR_NOMEM;

    memset(pixels, 0, sizeof(*pixels));
    pixels->defect_count = defect_pixels;
    pixels->background_count = images * image_pixels - defect_pixels;
    pixels->background = advgnn_malloc(pixels->background_count * sizeof(uint32_t));
    pixels->defect = advgnn_malloc(pixels->defect_count * sizeof(uint64_t));
    labels = advgnn_malloc(image_pixels * sizeof(uint32_t));
    queue = advgnn_malloc(image_pixels * sizeof(uint32_t));
    if (!pixels->background || !pixels->defect || !labels || !queue)
        goto done;
    if (split_pixels(maps, masks, images, height, width, pixels, &sizes, labels, queue) != ADVGNN_OK)
        goto done;

    /* Each region weighs 1 / R in the mean, spread over its |r| pixels. */
    pixels->weights = advgnn_malloc(pixels->regions * sizeof(double));
    if (!pixels->weights)
        goto done;
    for (size_t r = 0; r < pixels->regions; r++)
        pixels->weights[r] = 1.0 / ((double)sizes[r] * (double)pixels->regions);

    /* One scratch array serves both sorts: it needs the larger byte size. */
    size_t scratch_items = pixels->defect_count > (pixels->background_count + 1) / 2
                               ? pixels->defect_count
                               : (pixels->background_count + 1) / 2;
    scratch = advgnn_malloc(scratch_items * sizeof(uint64_t));
    if (!scratch)
        goto done;
    advgnn_radix_sort_u32(pixels->background, (uint32_t *)scratch, pixels->background_count);
    advgnn_radix_sort_u64_high(pixels->defect, scratch, pixels->defect_count);
    rc = ADVGNN_OK;

done:
    advgnn_free(scratch);
    advgnn_free(sizes);
    advgnn_free(labels);
    advgnn_free(queue);
    if (rc != ADVGNN_OK) {
        pro_pixels_release(pixels);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "AUPRO: out of memory for the pixels of %zu images of %dx%d",
                            images, width, height);
    }
    return ADVGNN_OK;
}

/* ---- the curve -------------------------------------------------------------------- */

/* Receives one curve point; returns ADVGNN_OK or a failure status that stops
 * the walk. */
typedef int (*pro_point_fn)(void *user, double fpr, double pro);

/* Adds value to a Neumaier-compensated sum, so millions of tiny PRO steps
 * keep full double precision. */
static void add_compensated(double *sum, double *compensation, double value)
{
    double t = *sum + value;

    if (fabs(*sum) >= fabs(value))
        *compensation += (*sum - t) + value;
    else
        *compensation += (value - t) + *sum;
    *sum = t;
}

/* Walks the tie groups from the highest score down and emits (0, 0), one
 * point per group while FPR <= fpr_limit, and the point interpolated on the
 * limit when the curve crosses it between two points. */
static int walk_pro_curve(const pro_pixels *pixels, double fpr_limit, pro_point_fn emit, void *user)
{
    size_t background_end = pixels->background_count, defect_end = pixels->defect_count, false_positives = 0;
    double pro = 0.0, compensation = 0.0, previous_fpr = 0.0, previous_pro = 0.0;
    int rc = emit(user, 0.0, 0.0);

    while (rc == ADVGNN_OK && (background_end > 0 || defect_end > 0)) {
        uint32_t background_key = background_end ? pixels->background[background_end - 1] : 0;
        uint32_t defect_key = defect_end ? (uint32_t)(pixels->defect[defect_end - 1] >> 32) : 0;
        uint32_t key;
        double fpr, overlap;

        /* The next group's key is the larger of the two highest unvisited keys. */
        if (background_end == 0)
            key = defect_key;
        else if (defect_end == 0)
            key = background_key;
        else
            key = background_key > defect_key ? background_key : defect_key;
        while (background_end > 0 && pixels->background[background_end - 1] == key) {
            background_end--;
            false_positives++;
        }
        while (defect_end > 0 && (uint32_t)(pixels->defect[defect_end - 1] >> 32) == key) {
            defect_end--;
            add_compensated(&pro, &compensation, pixels->weights[pixels->defect[defect_end] & 0xffffffffu]);
        }

        /* Rounding may push the sum a few ulps over 1, so it is clamped. */
        fpr = (double)false_positives / (double)pixels->background_count;
        overlap = fmin(pro + compensation, 1.0);
        if (fpr > fpr_limit) {
            if (previous_fpr < fpr_limit)
                rc = emit(user, fpr_limit,
                          previous_pro + (overlap - previous_pro) * (fpr_limit - previous_fpr) / (fpr - previous_fpr));
            break;
        }
        rc = emit(user, fpr, overlap);
        previous_fpr = fpr;
        previous_pro = overlap;
    }
    return rc;
}

/* Integrates the curve by the trapezoid rule while it is walked. */
typedef struct trapezoid_sum {
    double area;
    double last_x;
    double last_y;
} trapezoid_sum;

static int add_trapezoid(void *user, double fpr, double pro)
{
    trapezoid_sum *sum = user;

    sum->area += (fpr - sum->last_x) * (pro + sum->last_y) / 2.0;
    sum->last_x = fpr;
    sum->last_y = pro;
    return ADVGNN_OK;
}

/* ---- public functions ------------------------------------------------------------------ */

/* Checks the input and builds the sorted pixels shared by both functions. */
static int prepare_pixels(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                          int width, double fpr_limit, pro_pixels *pixels)
{
    size_t defect_pixels = 0;
    int rc;

    memset(pixels, 0, sizeof(*pixels));
    rc = check_input(ctx, maps, masks, images, height, width, fpr_limit, &defect_pixels);
    if (rc == ADVGNN_OK)
        rc = require_regions_and_background(ctx, images, images * (size_t)height * (size_t)width, defect_pixels);
    if (rc == ADVGNN_OK)
        rc = collect_pixels(ctx, maps, masks, images, height, width, defect_pixels, pixels);
    return rc;
}

int advgnn_metric_aupro(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                        int width, double fpr_limit, double *aupro)
{
    trapezoid_sum sum = {0.0, 0.0, 0.0};
    pro_pixels pixels;
    int rc;

    if (!aupro)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "AUPRO: the output must not be NULL");
    rc = prepare_pixels(ctx, maps, masks, images, height, width, fpr_limit, &pixels);
    if (rc != ADVGNN_OK)
        return rc;

    /* add_trapezoid never fails, so the walk does not either. */
    rc = walk_pro_curve(&pixels, fpr_limit, add_trapezoid, &sum);
    pro_pixels_release(&pixels);
    ADVGNN_ASSERT(rc == ADVGNN_OK);
    *aupro = sum.area / fpr_limit;
    return ADVGNN_OK;
}

int advgnn_metric_pro_curve(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                            int width, double fpr_limit, advgnn_curve *curve)
{
    advgnn_point_list list = {curve, 0};
    pro_pixels pixels;
    int rc;

    if (!curve)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "PRO curve: the output must not be NULL");
    memset(curve, 0, sizeof(*curve));
    rc = prepare_pixels(ctx, maps, masks, images, height, width, fpr_limit, &pixels);
    if (rc != ADVGNN_OK)
        return rc;

    rc = walk_pro_curve(&pixels, fpr_limit, advgnn_point_list_append, &list);
    pro_pixels_release(&pixels);
    if (rc != ADVGNN_OK) {
        size_t points = curve->count;

        advgnn_curve_release(curve);
        return advgnn_failf(ctx, rc, "PRO curve: out of memory after %zu points", points);
    }
    return ADVGNN_OK;
}
