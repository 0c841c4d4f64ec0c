/* memory_bank: PatchCore-style scoring.
 *
 * Fitting collects every patch feature of the normal training images as one
 * row of the bank and optionally keeps a greedy k-center coreset of it.
 * Scoring takes each test patch's Euclidean distance to its nearest bank row,
 * upsamples the patch map bilinearly to the image size, smooths it with a
 * Gaussian, and reports the map's maximum as the image score. */
#include <math.h>
#include <string.h>

#include <advgnn/image.h>
#include <advgnn/nnsearch.h>
#include <advgnn/plugin.h>

#include "coreset.h"

static const advgnn_option_spec memory_bank_options[] = {
    {.name = "coreset_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the training patches kept by greedy k-center selection (1 keeps all)", .def.number = 0.1,
     .min = 1e-6, .max = 1.0, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "projection_dim", .type = ADVGNN_OPT_INT,
     .help = "dimensions of the random projection used to measure distances during coreset selection "
             "(0 = the features themselves)",
     .def.integer = 128, .min = 0, .max = 65536, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "sigma", .type = ADVGNN_OPT_NUMBER,
     .help = "standard deviation of the Gaussian that smooths the anomaly map, in pixels (0 = no smoothing)",
     .def.number = 4.0, .min = 0.0, .max = 64.0, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    /* TODO: k > 1 (mean of the k nearest distances, and PatchCore's
     * re-weighting of the image score) needs a k-nearest search. */
    {.name = "num_neighbors", .type = ADVGNN_OPT_INT,
     .help = "nearest bank rows averaged into a patch score; only 1 is supported", .def.integer = 1, .min = 1,
     .max = 1, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {0}};

typedef struct memory_bank {
    int image_height, image_width;               /* pixels of the maps */
    int channels, grid_height, grid_width;       /* the encoder's feature map */
    double coreset_ratio;
    int projection_dim;
    double sigma;                                /* pixels */
    uint64_t seed;
    float *rows;                                 /* (row_count, channels) bank rows */
    size_t row_count, row_capacity;
    int fitted;                                  /* fit_end ran: no more rows, coreset applied */
} memory_bank;

static int memory_bank_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config,
                              void **out)
{
    memory_bank *mb;

    *out = NULL;
    if (config->feature_channels < 1 || config->feature_height < 1 || config->feature_width < 1 ||
        config->image_height < 1 || config->image_width < 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "memory_bank: invalid shapes: features (%d, %d, %d), image %d x %d",
                            config->feature_channels, config->feature_height, config->feature_width,
                            config->image_height, config->image_width);
    mb = advgnn_calloc(1, sizeof(*mb));
    if (!mb)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "memory_bank: out of memory");

    mb->image_height = config->image_height;
    mb->image_width = config->image_width;
    mb->channels = config->feature_channels;
    mb->grid_height = config->feature_height;
    mb->grid_width = config->feature_width;
    mb->coreset_ratio = advgnn_options_number(opts, "coreset_ratio");
    mb->projection_dim = (int)advgnn_options_int(opts, "projection_dim");
    mb->sigma = advgnn_options_number(opts, "sigma");
    mb->seed = config->seed;
    *out = mb;
    return ADVGNN_OK;
}

static void memory_bank_destroy(void *state)
{
    memory_bank *mb = state;

    if (!mb)
        return;
    advgnn_free(mb->rows);
    advgnn_free(mb);
}

/* ---- features as rows ---------------------------------------------------- */

static int check_features(const memory_bank *mb, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    const advgnn_tensor *t = batch->features;

    if (!t || t->dtype != ADVGNN_DTYPE_F32 || t->ndim != 4 || t->shape[0] != (int64_t)batch->count ||
        t->shape[1] != mb->channels || t->shape[2] != mb->grid_height || t->shape[3] != mb->grid_width || !t->data)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "memory_bank: the features must be float32 of shape (%zu, %d, %d, %d)", batch->count,
                            mb->channels, mb->grid_height, mb->grid_width);
    return ADVGNN_OK;
}

/* Writes the patch features of a batch as rows: row (n * h + y) * w + x is
 * features[n, :, y, x]. The tensor may be strided. */
static void features_to_rows(const memory_bank *mb, const advgnn_tensor *t, size_t count, float *rows)
{
    const float *data = t->data;
    size_t cells = (size_t)mb->grid_height * mb->grid_width;

    #pragma omp parallel for schedule(static)
    for (size_t n = 0; n < count; n++) {
        for (int y = 0; y < mb->grid_height; y++) {
            for (int x = 0; x < mb->grid_width; x++) {
                float *row = rows + ((n * cells) + (size_t)y * mb->grid_width + x) * mb->channels;
                const float *src = data + (int64_t)n * t->strides[0] + y * t->strides[2] + x * t->strides[3];

                for (int c = 0; c < mb->channels; c++)
                    row[c] = src[c * t->strides[1]];
            }
        }
    }
}

static int memory_bank_fit_add(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    memory_bank *mb = state;
    size_t added = batch->count * (size_t)mb->grid_height * mb->grid_width;
    int rc;

    if (mb->fitted)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "memory_bank: fit_add was called after fit_end");
    rc = check_features(mb, ctx, batch);
    if (rc != ADVGNN_OK)
        return rc;

    /* The bank grows by doubling, so adding batches costs amortized O(rows). */
    if (mb->row_count + added > mb->row_capacity) {
        size_t capacity = mb->row_capacity ? mb->row_capacity : 4096;
        float *grown;

        while (capacity < mb->row_count + added)
            capacity *= 2;
        grown = advgnn_realloc(mb->rows, capacity * (size_t)mb->channels * sizeof(float));
        if (!grown)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "memory_bank: out of memory growing the bank to %zu rows of %d",
                                capacity, mb->channels);
        mb->rows = grown;
        mb->row_capacity = capacity;
    }
    features_to_rows(mb, batch->features, batch->count, mb->rows + mb->row_count * (size_t)mb->channels);
    mb->row_count += added;
    return ADVGNN_OK;
}

/* ---- coreset ------------------------------------------------------------- */

/* Replaces the bank by the rows that greedy k-center selection keeps. */
static int apply_coreset(memory_bank *mb, advgnn_ctx *ctx)
{
    size_t keep = (size_t)floor(mb->coreset_ratio * (double)mb->row_count);
    size_t dim = (size_t)mb->channels;
    size_t *selected;
    float *kept;
    memory_bank_coverage coverage;
    int rc;

    keep = keep < 1 ? 1 : keep;
    if (keep >= mb->row_count)
        return ADVGNN_OK;
    selected = advgnn_malloc(keep * sizeof(size_t));
    kept = advgnn_malloc(keep * dim * sizeof(float));
    if (!selected || !kept) {
        advgnn_free(selected);
        advgnn_free(kept);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "memory_bank: out of memory for a coreset of %zu rows", keep);
    }

    rc = memory_bank_coreset(ctx, mb->rows, mb->row_count, dim, keep, mb->projection_dim, mb->seed, selected,
                             &coverage);
    if (rc == ADVGNN_OK) {
        for (size_t i = 0; i < keep; i++)
            memcpy(kept + i * dim, mb->rows + selected[i] * dim, dim * sizeof(float));
        advgnn_log(ctx, ADVGNN_LOG_INFO,
                   "memory_bank: coreset keeps %zu of %zu patch features, covering radius %.6g (%.6g with the "
                   "start row)%s; selection took %.1f s",
                   keep, mb->row_count, coverage.radius, coverage.greedy_radius,
                   mb->projection_dim > 0 && mb->projection_dim < mb->channels ? ", in the projected space" : "",
                   coverage.seconds);
        advgnn_free(mb->rows);
        mb->rows = kept;
        mb->row_count = keep;
        mb->row_capacity = keep;
        kept = NULL;
    }
    advgnn_free(selected);
    advgnn_free(kept);
    return rc;
}

static int memory_bank_fit_end(void *state, advgnn_ctx *ctx)
{
    memory_bank *mb = state;
    int rc;

    if (mb->fitted)
        return ADVGNN_OK;
    if (mb->row_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "memory_bank: no training features were added; fit on at least one normal image");
    rc = apply_coreset(mb, ctx);
    if (rc == ADVGNN_OK)
        mb->fitted = 1;
    return rc;
}

/* ---- scoring ------------------------------------------------------------- */

/* Turns one image's patch distances into its map and score. The image score
 * is the maximum of the smoothed map, so it follows the map that users see
 * and that pixel metrics rate. PatchCore's reference code takes the maximum
 * of the unsmoothed patch distances instead, which reacts more to a single
 * outlying patch. */
static int finish_map(const memory_bank *mb, advgnn_ctx *ctx, const float *patch, float *map, float *score)
{
    size_t pixels = (size_t)mb->image_height * mb->image_width;
    float largest;
    int rc;

    rc = advgnn_map_resize_bilinear(ctx, patch, mb->grid_height, mb->grid_width, map, mb->image_height,
                                    mb->image_width);
    if (rc == ADVGNN_OK && mb->sigma > 0.0)
        rc = advgnn_map_gaussian_blur(ctx, map, mb->image_height, mb->image_width, mb->sigma);
    if (rc != ADVGNN_OK)
        return rc;
    largest = map[0];
    for (size_t i = 1; i < pixels; i++)
        largest = map[i] > largest ? map[i] : largest;
    *score = largest;
    return ADVGNN_OK;
}

static int memory_bank_score(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps,
                             float *scores)
{
    memory_bank *mb = state;
    size_t cells = (size_t)mb->grid_height * mb->grid_width;
    size_t queries = batch->count * cells;
    float *rows, *distances;
    int rc;

    /* A caller that skipped fit_end gets it here, coreset included. */
    rc = check_features(mb, ctx, batch);
    if (rc == ADVGNN_OK && !mb->fitted)
        rc = memory_bank_fit_end(mb, ctx);
    if (rc != ADVGNN_OK || batch->count == 0)
        return rc;

    rows = advgnn_malloc(queries * (size_t)mb->channels * sizeof(float));
    distances = advgnn_malloc(queries * sizeof(float));
    if (!rows || !distances) {
        advgnn_free(rows);
        advgnn_free(distances);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "memory_bank: out of memory for %zu query patches", queries);
    }
    features_to_rows(mb, batch->features, batch->count, rows);
    rc = advgnn_nn_search(ctx, rows, queries, mb->rows, mb->row_count, (size_t)mb->channels, distances, NULL);

    /* advgnn_nn_search returns squared distances, clamped at 0. */
    for (size_t i = 0; rc == ADVGNN_OK && i < queries; i++)
        distances[i] = sqrtf(distances[i]);
    for (size_t n = 0; rc == ADVGNN_OK && n < batch->count; n++)
        rc = finish_map(mb, ctx, distances + n * cells, maps + n * (size_t)mb->image_height * mb->image_width,
                        &scores[n]);

    advgnn_free(rows);
    advgnn_free(distances);
    return rc;
}

/* ---- descriptor ---------------------------------------------------------- */

static const advgnn_scorer_functions memory_bank_functions = {
    .struct_size = sizeof(advgnn_scorer_functions),
    .flags = 0,
    .create = memory_bank_create,
    .destroy = memory_bank_destroy,
    .fit_add = memory_bank_fit_add,
    .fit_end = memory_bank_fit_end,
    .score = memory_bank_score,
};

static const advgnn_plugin_descriptor memory_bank_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_SCORER,
    .name = "memory_bank",
    .version = "1.0.0",
    .description = "PatchCore-style nearest-neighbour distance of each patch to a bank of normal patches",
    .options = memory_bank_options,
    .functions = &memory_bank_functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &memory_bank_descriptor;
}
