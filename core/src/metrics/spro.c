/* sPRO, the saturated per-region overlap of MVTec LOCO AD, computed exactly at
 * every distinct score instead of at sampled thresholds.
 *
 * Each annotated defect of an image is one channel with its own mask and
 * saturation area s. Pixels are visited from the highest score down. A pixel
 * that lies in no defect of its image adds 1 / n_free to the false-positive
 * rate. A pixel of defect i raises that defect's true-positive count TP_i,
 * and the curve's y, the mean over all C defects of min(TP_i / s_i, 1),
 * grows by (min(TP_i, s_i) - min(TP_i - 1, s_i)) / (s_i * C). A pixel in two
 * overlapping defects counts for both. One curve point follows each group of
 * equal scores, after (0, 0), so a threshold t predicts the pixels with
 * score > t, as the MVTec LOCO AD evaluation code does. */
#include <math.h>
#include <string.h>

#include "advgnn/metrics.h"
#include "metrics/curve_points.h"
#include "metrics/sorted_scores.h"

/* Defect-free pixels and (pixel, defect) pairs of all images, sorted. */
typedef struct spro_pixels {
    uint32_t *background; /* (background_count,) score keys of defect-free pixels, ascending */
    uint64_t *defect;     /* (defect_count,) score key << 32 | defect index, ascending by key */
    double *saturation;   /* (defects,) saturation area of each defect, pixels */
    size_t background_count;
    size_t defect_count;
    size_t defects;
} spro_pixels;

static void spro_pixels_release(spro_pixels *pixels)
{
    advgnn_free(pixels->background);
    advgnn_free(pixels->defect);
    advgnn_free(pixels->saturation);
    memset(pixels, 0, sizeof(*pixels));
}

double advgnn_spro_saturation_area(double threshold, int relative, size_t defect_area)
{
    double area = (double)defect_area;

    if (relative)
        return trunc(threshold * area);
    return threshold < area ? threshold : area;
}

/* ---- input checks ------------------------------------------------------------ */

/* Checks one defect mask (0/1, not empty) and its saturation area, and
 * returns its pixel count in *area. */
static int check_defect(advgnn_ctx *ctx, const advgnn_spro_image *image, size_t index, size_t defect,
                        size_t *area)
{
    size_t pixels = (size_t)image->height * (size_t)image->width, count = 0;
    const uint8_t *mask = image->defects + defect * pixels;
    double saturation = image->saturation[defect];

    for (size_t p = 0; p < pixels; p++) {
        if (mask[p] > 1)
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "sPRO: image %zu, defect %zu, pixel (row %zu, column %zu) has mask value %u; "
                                "defect masks must be 0 (normal) or 1 (defect)",
                                index, defect, p / (size_t)image->width, p % (size_t)image->width,
                                (unsigned)mask[p]);
        count += mask[p];
    }
    if (count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "sPRO: image %zu, defect %zu has an empty mask; every listed defect needs at least one "
                            "pixel", index, defect);
    if (!(saturation > 0.0) || !isfinite(saturation))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "sPRO: image %zu, defect %zu (%zu pixels) has saturation area %g; it must be a finite "
                            "number of pixels > 0, so check the defect's saturation_threshold",
                            index, defect, count, saturation);
    *area = count;
    return ADVGNN_OK;
}

/* Checks one image and adds its defect pixels (with repeats where defects
 * overlap) to *defect_count and its number of defects to *defects. */
static int check_image(advgnn_ctx *ctx, const advgnn_spro_image *image, size_t index, size_t *defect_count,
                       size_t *defects)
{
    size_t pixels;

    if (!image->map || image->height <= 0 || image->width <= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "sPRO: image %zu has no map or an invalid size %d x %d", index, image->width,
                            image->height);
    pixels = (size_t)image->height * (size_t)image->width;
    if (image->defect_count > 0 && (!image->defects || !image->saturation))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "sPRO: image %zu lists %zu defects but no defect masks or saturation areas", index,
                            image->defect_count);
    if (pixels > UINT32_MAX)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "sPRO: image %zu of %d x %d pixels is too large", index,
                            image->width, image->height);

    for (size_t p = 0; p < pixels; p++) {
        if (!isfinite(image->map[p]))
            return advgnn_failf(ctx, ADVGNN_ERR_NUMERIC,
                                "sPRO: image %zu, pixel (row %zu, column %zu) has score %g; anomaly maps must be "
                                "finite, so check the scorer output",
                                index, p / (size_t)image->width, p % (size_t)image->width, (double)image->map[p]);
    }
    for (size_t d = 0; d < image->defect_count; d++) {
        size_t area = 0;
        int rc = check_defect(ctx, image, index, d, &area);

        if (rc != ADVGNN_OK)
            return rc;
        *defect_count += area;
    }
    *defects += image->defect_count;
    return ADVGNN_OK;
}

/* Checks every image, counts the pixels and fails with ADVGNN_ERR_UNDEFINED
 * when no defect or no defect-free pixel exists. */
static int check_input(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count, size_t *defect_count,
                       size_t *defects)
{
    if (!images || count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "sPRO: no images were given");

    *defect_count = 0;
    *defects = 0;
    for (size_t i = 0; i < count; i++) {
        int rc = check_image(ctx, &images[i], i, defect_count, defects);

        if (rc != ADVGNN_OK)
            return rc;
    }
    if (*defects == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                            "sPRO is undefined: the %zu images have no annotated defect, so there is no overlap to "
                            "measure", count);
    if (*defects > UINT32_MAX)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "sPRO: %zu defects are too many", *defects);
    return ADVGNN_OK;
}

/* ---- collecting and sorting the pixels --------------------------------------- */

/* Writes the keys of one image's pixels: each defect's pixels tagged with the
 * defect's global index, and the pixels that lie in no defect. */
static void split_image(const advgnn_spro_image *image, size_t first_defect, spro_pixels *pixels, size_t *b,
                        size_t *d)
{
    size_t n = (size_t)image->height * (size_t)image->width;

    for (size_t defect = 0; defect < image->defect_count; defect++) {
        const uint8_t *mask = image->defects + defect * n;
        uint64_t tag = (uint64_t)(first_defect + defect);

        pixels->saturation[first_defect + defect] = image->saturation[defect];
        for (size_t p = 0; p < n; p++) {
            if (mask[p])
                pixels->defect[(*d)++] = (uint64_t)advgnn_score_key(image->map[p]) << 32 | tag;
        }
    }
    for (size_t p = 0; p < n; p++) {
        int in_defect = 0;

        for (size_t defect = 0; defect < image->defect_count && !in_defect; defect++)
            in_defect = image->defects[defect * n + p] != 0;
        if (!in_defect)
            pixels->background[(*b)++] = advgnn_score_key(image->map[p]);
    }
}

/* Counts the defect-free pixels of all images. */
static size_t count_background(const advgnn_spro_image *images, size_t count)
{
    size_t background = 0;

    for (size_t i = 0; i < count; i++) {
        size_t n = (size_t)images[i].height * (size_t)images[i].width;

        for (size_t p = 0; p < n; p++) {
            int in_defect = 0;

            for (size_t defect = 0; defect < images[i].defect_count && !in_defect; defect++)
                in_defect = images[i].defects[defect * n + p] != 0;
            background += !in_defect;
        }
    }
    return background;
}

/* Builds *pixels from validated input. Memory beyond the input: 4 bytes per
 * defect-free pixel and 8 per (pixel, defect) pair, twice while sorting. */
static int collect_pixels(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count, size_t defect_count,
                          size_t defects, spro_pixels *pixels)
{
    size_t b = 0, d = 0, first_defect = 0;
    uint64_t *scratch = NULL;

    memset(pixels, 0, sizeof(*pixels));
    pixels->background_count = count_background(images, count);
    if (pixels->background_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                            "sPRO is undefined: every pixel of the %zu images lies in a defect, so the "
                            "false-positive rate has no defect-free pixel", count);
    pixels->defect_count = defect_count;
    pixels->defects = defects;
    pixels->background = advgnn_malloc(pixels->background_count * sizeof(uint32_t));
    pixels->defect = advgnn_malloc(defect_count * sizeof(uint64_t));
    pixels->saturation = advgnn_malloc(defects * sizeof(double));

    /* One scratch array serves both sorts: it needs the larger byte size. */
    size_t scratch_items = defect_count > (pixels->background_count + 1) / 2 ? defect_count
                                                                              : (pixels->background_count + 1) / 2;
    scratch = advgnn_malloc(scratch_items * sizeof(uint64_t));
    if (!pixels->background || !pixels->defect || !pixels->saturation || !scratch) {
        advgnn_free(scratch);
        spro_pixels_release(pixels);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "sPRO: out of memory for the pixels of %zu images", count);
    }

    for (size_t i = 0; i < count; i++) {
        split_image(&images[i], first_defect, pixels, &b, &d);
        first_defect += images[i].defect_count;
    }
    ADVGNN_ASSERT(b == pixels->background_count && d == defect_count);
    advgnn_radix_sort_u32(pixels->background, (uint32_t *)scratch, pixels->background_count);
    advgnn_radix_sort_u64_high(pixels->defect, scratch, defect_count);
    advgnn_free(scratch);
    return ADVGNN_OK;
}

/* ---- the curve --------------------------------------------------------------- */

/* Receives one curve point; returns ADVGNN_OK or a failure status that stops
 * the walk. */
typedef int (*spro_point_fn)(void *user, double fpr, double spro);

/* Adds value to a Neumaier-compensated sum, so many small steps keep full
 * double precision. */
static void add_compensated(double *sum, double *compensation, double value)
{
    double t = *sum + value;

    if (fabs(*sum) >= fabs(value))
        *compensation += (*sum - t) + value;
    else
        *compensation += (value - t) + *sum;
    *sum = t;
}

/* Walks the tie groups from the highest score down and emits (0, 0) and one
 * point per group, ending at FPR 1. `hits` is scratch for the true-positive
 * count of every defect. */
static int walk_spro_curve(const spro_pixels *pixels, uint32_t *hits, spro_point_fn emit, void *user)
{
    size_t background_end = pixels->background_count, defect_end = pixels->defect_count, false_positives = 0;
    double spro = 0.0, compensation = 0.0, defects = (double)pixels->defects;
    int rc = emit(user, 0.0, 0.0);

    memset(hits, 0, pixels->defects * sizeof(uint32_t));
    while (rc == ADVGNN_OK && (background_end > 0 || defect_end > 0)) {
        uint32_t background_key = background_end ? pixels->background[background_end - 1] : 0;
        uint32_t defect_key = defect_end ? (uint32_t)(pixels->defect[defect_end - 1] >> 32) : 0;
        uint32_t key;

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

        /* A defect's overlap stops growing once TP reaches its saturation area;
         * a fractional area saturates partway through one pixel. */
        while (defect_end > 0 && (uint32_t)(pixels->defect[defect_end - 1] >> 32) == key) {
            size_t defect = (size_t)(pixels->defect[--defect_end] & 0xffffffffu);
            double saturation = pixels->saturation[defect];
            double before = (double)hits[defect]++;
            double gain = fmin(before + 1.0, saturation) - fmin(before, saturation);

            if (gain > 0.0)
                add_compensated(&spro, &compensation, gain / (saturation * defects));
        }

        /* Rounding may push the sum a few ulps over 1, so it is clamped. */
        rc = emit(user, (double)false_positives / (double)pixels->background_count,
                  fmin(spro + compensation, 1.0));
    }
    return rc;
}

/* Integrates the curve by the trapezoid rule up to several FPR limits at once,
 * cutting it at each limit with a linearly interpolated point. */
typedef struct limited_areas {
    const double *limits;
    double *areas;  /* (count,) area up to each limit, not yet divided by it */
    int *closed;    /* (count,) 1 once the curve passed the limit */
    size_t count;
    double last_x;
    double last_y;
} limited_areas;

static int add_limited_trapezoids(void *user, double fpr, double spro)
{
    limited_areas *sum = user;

    for (size_t j = 0; j < sum->count; j++) {
        double limit = sum->limits[j];

        if (sum->closed[j])
            continue;
        if (fpr <= limit) {
            sum->areas[j] += (fpr - sum->last_x) * (spro + sum->last_y) / 2.0;
            continue;
        }

        /* The segment crosses the limit: integrate up to the point on the limit. */
        double y = sum->last_y + (spro - sum->last_y) * (limit - sum->last_x) / (fpr - sum->last_x);
        sum->areas[j] += (limit - sum->last_x) * (y + sum->last_y) / 2.0;
        sum->closed[j] = 1;
    }
    sum->last_x = fpr;
    sum->last_y = spro;
    return ADVGNN_OK;
}

/* ---- public functions ---------------------------------------------------------- */

/* Checks the input, sorts the pixels and walks the curve into `emit`. */
static int run_spro(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count, spro_point_fn emit,
                    void *user)
{
    size_t defect_count = 0, defects = 0;
    spro_pixels pixels;
    uint32_t *hits;
    int rc;

    rc = check_input(ctx, images, count, &defect_count, &defects);
    if (rc == ADVGNN_OK)
        rc = collect_pixels(ctx, images, count, defect_count, defects, &pixels);
    if (rc != ADVGNN_OK)
        return rc;

    hits = advgnn_malloc(defects * sizeof(uint32_t));
    if (!hits) {
        spro_pixels_release(&pixels);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "sPRO: out of memory for %zu defects", defects);
    }
    rc = walk_spro_curve(&pixels, hits, emit, user);
    advgnn_free(hits);
    spro_pixels_release(&pixels);
    return rc;
}

int advgnn_metric_spro(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count, const double *fpr_limits,
                       size_t limit_count, double *auc)
{
    limited_areas sum = {fpr_limits, NULL, NULL, limit_count, 0.0, 0.0};
    int rc;

    if (!auc || !fpr_limits || limit_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "sPRO: the limits and the output must not be empty");
    for (size_t j = 0; j < limit_count; j++) {
        if (!(fpr_limits[j] > 0.0 && fpr_limits[j] <= 1.0))
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                                "sPRO: invalid false-positive-rate limit %g (limit %zu); use values in (0, 1], "
                                "e.g. 0.05", fpr_limits[j], j);
    }

    sum.areas = advgnn_calloc(limit_count, sizeof(double));
    sum.closed = advgnn_calloc(limit_count, sizeof(int));
    if (!sum.areas || !sum.closed) {
        advgnn_free(sum.areas);
        advgnn_free(sum.closed);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "sPRO: out of memory for %zu limits", limit_count);
    }

    /* add_limited_trapezoids never fails, so a failure comes from the input checks or an allocation. */
    rc = run_spro(ctx, images, count, add_limited_trapezoids, &sum);
    for (size_t j = 0; rc == ADVGNN_OK && j < limit_count; j++)
        auc[j] = sum.areas[j] / fpr_limits[j];
    advgnn_free(sum.areas);
    advgnn_free(sum.closed);
    return rc;
}

int advgnn_metric_spro_curve(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count,
                             advgnn_curve *curve)
{
    advgnn_point_list list = {curve, 0};
    int rc;

    if (!curve)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "sPRO curve: the output must not be NULL");
    memset(curve, 0, sizeof(*curve));

    rc = run_spro(ctx, images, count, advgnn_point_list_append, &list);
    if (rc == ADVGNN_ERR_NOMEM)
        advgnn_failf(ctx, rc, "sPRO curve: out of memory after %zu points", curve->count);
    if (rc != ADVGNN_OK)
        advgnn_curve_release(curve);
    return rc;
}
