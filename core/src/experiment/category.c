/* The steps of one category: load, encoder, training, scorer fitting,
 * scoring, fusion, metrics and outputs. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/metrics.h"
#include "advgnn/status.h"
#include "experiment/reconstructions.h"
#include "experiment/run_internal.h"
#include "experiment/spro_run.h"
#include "report/curves_svg.h"
#include "util/fsutil.h"
#include "util/internal.h"

#define AUPRO_FPR_LIMIT 0.3 /* false-positive rate up to which the PRO curve is integrated */

/* One scorer's state and outputs within a category. */
typedef struct scorer_run {
    const advgnn_plugin_choice *choice;
    const advgnn_scorer_functions *fn;
    const char *label;
    void *state;
    advgnn_fusion_stats stats; /* outputs on held-out normal images */
    float *test_scores;        /* (test count) */
    float *test_maps;          /* (test count, H, W) */
} scorer_run;

typedef struct category_run {
    advgnn_run *run;
    advgnn_ctx *ctx;
    const char *name;
    advgnn_category_data data;
    int loaded; /* nonzero once `data` is complete */
    advgnn_defect_masks *defects; /* (test count) at map size, for sPRO; NULL without load_defect_masks */
    int height; /* pixels of the preprocessed images and of the maps */
    int width;

    const advgnn_encoder_functions *encoder_fn;
    void *encoder;
    char *work_dir;
    int feature_channels;
    int feature_height;
    int feature_width;
    int has_reconstruction;

    /* Encoder outputs of one batch, reused for every batch. */
    advgnn_tensor features;       /* (batch, C, h, w) */
    advgnn_tensor reconstruction; /* (batch, 3, H, W), or empty */
    float *batch_maps;            /* (batch, H, W) scratch for held-out scoring */
    float *batch_scores;          /* (batch) */

    scorer_run *scorers;
    size_t scorer_count;
    const char *fusion_split; /* "validation" or "train"; NULL with one scorer */
    float *fused_scores;      /* (test count), with two or more scorers */
    float *fused_maps;        /* (test count, H, W) */

    double load_seconds;
    double fit_seconds;
    double score_seconds;
    cJSON *json; /* the category's entry of results.json */
} category_run;

/* A function applied to each encoded batch of a split. */
typedef int (*batch_fn)(category_run *cr, const advgnn_split_data *split, size_t first, const advgnn_score_batch *batch);

static size_t map_pixels(const category_run *cr)
{
    return (size_t)cr->height * (size_t)cr->width;
}

/* ---- encoder ------------------------------------------------------------- */

static int create_encoder(category_run *cr)
{
    const advgnn_experiment_spec *spec = cr->run->spec;
    advgnn_encoder_config config;
    char *encoder_root;
    int rc;

    /* Weights and checkpoints go to <output>/encoder/<category>. */
    encoder_root = advgnn_fs_join(spec->output_dir, "encoder");
    cr->work_dir = encoder_root ? advgnn_fs_join(encoder_root, cr->name) : NULL;
    advgnn_free(encoder_root);
    if (!cr->work_dir)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");

    /* Only an encoder that trains or saves weights writes there, so a
     * training-free encoder leaves no empty folder behind. */
    const advgnn_encoder_functions *fn = &spec->encoder.plugin->fn.encoder;
    if (fn->train || fn->save) {
        rc = advgnn_fs_mkdir_p(cr->ctx, cr->work_dir);
        if (rc != ADVGNN_OK)
            return rc;
    }

    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.image_height = cr->height;
    config.image_width = cr->width;
    config.channels = 3;
    config.seed = spec->seed;
    config.work_dir = cr->work_dir;
    cr->encoder_fn = &spec->encoder.plugin->fn.encoder;
    cr->has_reconstruction = (cr->encoder_fn->flags & ADVGNN_ENCODER_RECONSTRUCTS) != 0;
    rc = cr->encoder_fn->create(cr->ctx, spec->encoder.options, &config, &cr->encoder);
    if (rc != ADVGNN_OK) {
        cr->encoder = NULL;
        advgnn_error_prefix_plugin(cr->ctx, "encoder", spec->encoder.plugin->name);
    }
    return rc;
}

/* Reads preprocessed images of a split for the encoder's train(). */
static int read_split_images(void *user, advgnn_ctx *ctx, size_t first, size_t n, float *out)
{
    const advgnn_split_data *split = user;
    size_t floats = 3 * (size_t)split->height * (size_t)split->width;

    if (first > split->count || n > split->count - first)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "encoder asked for images %zu..%zu of %zu %s images", first,
                            first + n, split->count, advgnn_split_name(split->split));
    memcpy(out, split->images + first * floats, n * floats * sizeof(float));
    return ADVGNN_OK;
}

/* Saves trained weights to <work_dir>/weights.safetensors and records the
 * path in the category's results. Encoders without save() keep nothing. */
static int save_encoder(category_run *cr)
{
    char *path;
    int rc;

    if (!cr->encoder_fn->save)
        return ADVGNN_OK;
    path = advgnn_fs_join(cr->work_dir, "weights.safetensors");
    if (!path)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    rc = cr->encoder_fn->save(cr->encoder, cr->ctx, path);
    if (rc != ADVGNN_OK)
        advgnn_error_prefixf(cr->ctx, "saving the weights of encoder '%s'", cr->run->spec->encoder.plugin->name);
    else if (!cJSON_AddStringToObject(cr->json, "encoder_weights", path))
        rc = advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    advgnn_free(path);
    return rc;
}

static int train_encoder(category_run *cr)
{
    advgnn_image_source train = {cr->data.train.count, read_split_images, &cr->data.train};
    advgnn_image_source validation = {cr->data.validation.count, read_split_images, &cr->data.validation};
    int rc;

    if (!cr->encoder_fn->train)
        return ADVGNN_OK;
    /* train() is one call that reports its own progress through the log, so
     * a bar would only be interleaved with its lines. */
    advgnn_log(cr->ctx, ADVGNN_LOG_INFO, "category %s: training encoder '%s' on %zu images (%zu validation)",
               cr->name, cr->run->spec->encoder.plugin->name, cr->data.train.count, cr->data.validation.count);
    time_t started = time(NULL);
    rc = cr->encoder_fn->train(cr->encoder, cr->ctx, &train, &validation);
    if (rc != ADVGNN_OK) {
        advgnn_error_prefixf(cr->ctx, "training encoder '%s'", cr->run->spec->encoder.plugin->name);
        return rc;
    }

    /* Per-epoch losses from the training loop's history file, if any. */
    rc = advgnn_report_add_training(cr->ctx, cr->json, cr->work_dir, (int64_t)started);
    if (rc != ADVGNN_OK)
        return rc;
    return save_encoder(cr);
}

/* Asks the encoder for its feature shape and allocates the batch buffers. */
static int prepare_batches(category_run *cr)
{
    size_t batch = cr->run->batch_size;
    int rc;

    rc = cr->encoder_fn->feature_shape(cr->encoder, &cr->feature_channels, &cr->feature_height,
                                       &cr->feature_width);
    if (rc != ADVGNN_OK)
        return rc;
    if (cr->feature_channels <= 0 || cr->feature_height <= 0 || cr->feature_width <= 0)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_PLUGIN, "encoder '%s' returned an invalid feature shape %d x %d x %d",
                            cr->run->spec->encoder.plugin->name, cr->feature_channels, cr->feature_height,
                            cr->feature_width);

    int64_t feature_shape[4] = {(int64_t)batch, cr->feature_channels, cr->feature_height, cr->feature_width};
    rc = advgnn_tensor_alloc(cr->ctx, &cr->features, ADVGNN_DTYPE_F32, 4, feature_shape);
    if (rc == ADVGNN_OK && cr->has_reconstruction) {
        int64_t image_shape[4] = {(int64_t)batch, 3, cr->height, cr->width};
        rc = advgnn_tensor_alloc(cr->ctx, &cr->reconstruction, ADVGNN_DTYPE_F32, 4, image_shape);
    }
    if (rc != ADVGNN_OK)
        return rc;

    cr->batch_maps = advgnn_malloc(batch * map_pixels(cr) * sizeof(float));
    cr->batch_scores = advgnn_malloc(batch * sizeof(float));
    if (!cr->batch_maps || !cr->batch_scores)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory for batch buffers");
    return ADVGNN_OK;
}

/* Encodes a split batch by batch and hands each batch to `apply`. Polls for
 * interruption between batches. */
static int for_each_batch(category_run *cr, const advgnn_split_data *split, const char *stage, batch_fn apply)
{
    size_t batch = cr->run->batch_size;
    int rc = ADVGNN_OK;

    advgnn_progress_begin(&cr->run->progress, stage, cr->name, split->count);
    for (size_t first = 0; first < split->count; first += batch) {
        size_t n = split->count - first < batch ? split->count - first : batch;
        if (advgnn_interrupted()) {
            rc = advgnn_failf(cr->ctx, ADVGNN_ERR_INTERRUPTED, "interrupted during '%s'", stage);
            break;
        }

        /* Views of the first n images of the batch buffers. */
        int64_t image_shape[4] = {(int64_t)n, 3, cr->height, cr->width};
        int64_t feature_shape[4] = {(int64_t)n, cr->feature_channels, cr->feature_height, cr->feature_width};
        advgnn_tensor images = advgnn_tensor_view(split->images + first * 3 * map_pixels(cr), ADVGNN_DTYPE_F32, 4,
                                                  image_shape);
        advgnn_tensor features = advgnn_tensor_view(cr->features.data, ADVGNN_DTYPE_F32, 4, feature_shape);
        advgnn_tensor reconstruction = advgnn_tensor_view(cr->reconstruction.data, ADVGNN_DTYPE_F32, 4, image_shape);
        advgnn_tensor *recon = cr->has_reconstruction ? &reconstruction : NULL;

        rc = cr->encoder_fn->encode(cr->encoder, cr->ctx, &images, &features, recon);
        if (rc != ADVGNN_OK) {
            advgnn_error_prefixf(cr->ctx, "encoder '%s'", cr->run->spec->encoder.plugin->name);
            break;
        }
        advgnn_score_batch sb = {n, &images, &features, recon};
        rc = apply(cr, split, first, &sb);
        if (rc != ADVGNN_OK)
            break;
        advgnn_progress_update(&cr->run->progress, first + n);
    }
    advgnn_progress_end(&cr->run->progress);
    return rc;
}

/* ---- scorers ------------------------------------------------------------- */

static int create_scorers(category_run *cr)
{
    const advgnn_experiment_spec *spec = cr->run->spec;
    advgnn_scorer_config config;
    size_t test_count = cr->data.test_count; /* the test split may still be decoding */

    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.image_height = cr->height;
    config.image_width = cr->width;
    config.feature_channels = cr->feature_channels;
    config.feature_height = cr->feature_height;
    config.feature_width = cr->feature_width;
    config.has_reconstruction = cr->has_reconstruction;
    config.seed = spec->seed;

    cr->scorer_count = spec->scorer_count;
    cr->scorers = advgnn_calloc(cr->scorer_count, sizeof(*cr->scorers));
    if (!cr->scorers)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    for (size_t s = 0; s < cr->scorer_count; s++) {
        scorer_run *sr = &cr->scorers[s];
        sr->choice = &spec->scorers[s];
        sr->fn = &sr->choice->plugin->fn.scorer;
        sr->label = cr->run->labels[s];
        sr->test_scores = advgnn_calloc(test_count, sizeof(float));
        sr->test_maps = advgnn_calloc(test_count * map_pixels(cr), sizeof(float));
        if (!sr->test_scores || !sr->test_maps)
            return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory for the maps of %zu test images",
                                test_count);
        int rc = sr->fn->create(cr->ctx, sr->choice->options, &config, &sr->state);
        if (rc != ADVGNN_OK) {
            sr->state = NULL;
            advgnn_error_prefixf(cr->ctx, "scorer '%s'", sr->label);
            return rc;
        }
    }
    return ADVGNN_OK;
}

static void destroy_scorers(category_run *cr)
{
    for (size_t s = 0; s < cr->scorer_count && cr->scorers; s++) {
        scorer_run *sr = &cr->scorers[s];
        if (sr->state)
            sr->fn->destroy(sr->state);
        advgnn_free(sr->test_scores);
        advgnn_free(sr->test_maps);
    }
    advgnn_free(cr->scorers);
    cr->scorers = NULL;
}

static int fit_batch(category_run *cr, const advgnn_split_data *split, size_t first, const advgnn_score_batch *batch)
{
    for (size_t s = 0; s < cr->scorer_count; s++) {
        int rc = cr->scorers[s].fn->fit_add(cr->scorers[s].state, cr->ctx, batch);
        if (rc != ADVGNN_OK) {
            advgnn_error_prefixf(cr->ctx, "scorer '%s', fitting", cr->scorers[s].label);
            return rc;
        }
    }
    return ADVGNN_OK;
}

static int fit_scorers(category_run *cr)
{
    double start = advgnn_now_seconds();
    int rc = for_each_batch(cr, &cr->data.train, "fit", fit_batch);

    for (size_t s = 0; rc == ADVGNN_OK && s < cr->scorer_count; s++) {
        scorer_run *sr = &cr->scorers[s];
        if (!sr->fn->fit_end)
            continue;
        rc = sr->fn->fit_end(sr->state, cr->ctx);
        if (rc != ADVGNN_OK)
            advgnn_error_prefixf(cr->ctx, "scorer '%s', finishing the fit", sr->label);
    }
    cr->fit_seconds = advgnn_now_seconds() - start;
    return rc;
}

/* Checks that a scorer wrote finite values. */
static int check_finite(category_run *cr, const scorer_run *sr, const float *maps, const float *scores, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(scores[i]))
            return advgnn_failf(cr->ctx, ADVGNN_ERR_NUMERIC, "scorer '%s' returned a non-finite image score %g",
                                sr->label, (double)scores[i]);
    for (size_t i = 0; i < n * map_pixels(cr); i++)
        if (!isfinite(maps[i]))
            return advgnn_failf(cr->ctx, ADVGNN_ERR_NUMERIC, "scorer '%s' returned a non-finite map value %g",
                                sr->label, (double)maps[i]);
    return ADVGNN_OK;
}

/* Scores held-out normal images into each scorer's fusion statistics. */
static int score_held_out_batch(category_run *cr, const advgnn_split_data *split, size_t first,
                                const advgnn_score_batch *batch)
{
    for (size_t s = 0; s < cr->scorer_count; s++) {
        scorer_run *sr = &cr->scorers[s];
        int rc = sr->fn->score(sr->state, cr->ctx, batch, cr->batch_maps, cr->batch_scores);
        if (rc == ADVGNN_OK)
            rc = check_finite(cr, sr, cr->batch_maps, cr->batch_scores, batch->count);
        if (rc != ADVGNN_OK) {
            advgnn_error_prefixf(cr->ctx, "scorer '%s', scoring %s images", sr->label, advgnn_split_name(split->split));
            return rc;
        }
        advgnn_moments_add(&sr->stats.scores, cr->batch_scores, batch->count);
        advgnn_moments_add(&sr->stats.maps, cr->batch_maps, batch->count * map_pixels(cr));
    }
    return ADVGNN_OK;
}

static int score_test_batch(category_run *cr, const advgnn_split_data *split, size_t first,
                            const advgnn_score_batch *batch)
{
    for (size_t s = 0; s < cr->scorer_count; s++) {
        scorer_run *sr = &cr->scorers[s];
        float *maps = sr->test_maps + first * map_pixels(cr);
        float *scores = sr->test_scores + first;
        int rc = sr->fn->score(sr->state, cr->ctx, batch, maps, scores);
        if (rc == ADVGNN_OK)
            rc = check_finite(cr, sr, maps, scores, batch->count);
        if (rc != ADVGNN_OK) {
            advgnn_error_prefixf(cr->ctx, "scorer '%s', scoring test images", sr->label);
            return rc;
        }
    }
    return ADVGNN_OK;
}

/* Scores the held-out normal images for fusion (two or more scorers only):
 * the validation split when the dataset has one, else the training images. */
static int score_held_out(category_run *cr)
{
    const advgnn_split_data *held_out = &cr->data.validation;

    if (cr->scorer_count < 2)
        return ADVGNN_OK;
    cr->fusion_split = "validation";
    if (held_out->count == 0) {
        /* NOTE: scorers fitted on the training images score them lower than
         * unseen normal images (a memory bank finds each patch itself), so
         * these statistics understate the normal spread. results.json records
         * which split was used. */
        held_out = &cr->data.train;
        cr->fusion_split = "train";
        advgnn_log(cr->ctx, ADVGNN_LOG_WARN,
                   "category %s has no validation images; fusion statistics come from the training images", cr->name);
    }
    return for_each_batch(cr, held_out, cr->fusion_split[0] == 'v' ? "score validation" : "score train",
                          score_held_out_batch);
}

static int score_test(category_run *cr)
{
    double start = advgnn_now_seconds();
    int rc = for_each_batch(cr, &cr->data.test, "score test", score_test_batch);

    cr->score_seconds = advgnn_now_seconds() - start;
    return rc;
}

/* ---- fusion -------------------------------------------------------------- */

/* The advice given when a scorer's held-out spread is too small to divide by. */
#define FLOORED_STD_ADVICE "use more validation images (raise validation_ratio) for a reliable spread"

/* Logs a warning when fusion divides the `what` outputs ("image scores" or
 * "map pixels") of scorer `sr` by more than their held-out standard deviation. */
static void warn_floored_std(const category_run *cr, const scorer_run *sr, const char *what,
                             const advgnn_moments *m)
{
    int floored;
    double divisor = advgnn_fusion_divisor(m, &floored);

    if (!floored)
        return;
    advgnn_log(cr->ctx, ADVGNN_LOG_WARN,
               "category %s: scorer '%s' %s have standard deviation %g (mean %g) on %zu %s images, too small to "
               "standardize by; fusion divides by %g instead, which bounds this scorer's share of the fused "
               "score; " FLOORED_STD_ADVICE,
               cr->name, sr->label, what, advgnn_moments_std(m), m->mean, sr->stats.scores.count, cr->fusion_split,
               divisor);
}

static int fuse(category_run *cr)
{
    size_t n = cr->data.test.count;

    if (cr->scorer_count < 2)
        return ADVGNN_OK;
    cr->fused_scores = advgnn_calloc(n, sizeof(float));
    cr->fused_maps = advgnn_calloc(n * map_pixels(cr), sizeof(float));
    if (!cr->fused_scores || !cr->fused_maps)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory for the fused maps of %zu test images", n);

    for (size_t s = 0; s < cr->scorer_count; s++) {
        scorer_run *sr = &cr->scorers[s];
        warn_floored_std(cr, sr, "image scores", &sr->stats.scores);
        warn_floored_std(cr, sr, "map pixels", &sr->stats.maps);
        advgnn_fusion_accumulate(sr->test_scores, n, &sr->stats.scores, sr->choice->weight, cr->fused_scores);
        advgnn_fusion_accumulate(sr->test_maps, n * map_pixels(cr), &sr->stats.maps, sr->choice->weight,
                                 cr->fused_maps);
    }
    return ADVGNN_OK;
}

/* The scores and maps of results column `i` (scorers, then fused). */
static void column_outputs(const category_run *cr, size_t i, const float **scores, const float **maps)
{
    if (i < cr->scorer_count) {
        *scores = cr->scorers[i].test_scores;
        *maps = cr->scorers[i].test_maps;
    } else {
        *scores = cr->fused_scores;
        *maps = cr->fused_maps;
    }
}

/* ---- metrics ------------------------------------------------------------- */

/* Records one metric: a number, or its reason under "undefined". */
static int record_metric(category_run *cr, int rc, double value, cJSON *metrics, cJSON *undefined, const char *label,
                         const char *metric)
{
    char key[256];

    if (rc == ADVGNN_OK) {
        if (!cJSON_AddNumberToObject(metrics, metric, value))
            return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory recording %s", metric);
        return ADVGNN_OK;
    }
    if (rc != ADVGNN_ERR_UNDEFINED)
        return rc;

    /* The metric's message is the reason; it is not an error of the run. */
    snprintf(key, sizeof(key), "%s.%s", label, metric);
    cJSON *reason = cJSON_AddStringToObject(undefined, key, advgnn_ctx_error(cr->ctx));
    advgnn_ctx_clear_error(cr->ctx);
    if (!reason)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory recording %s", metric);
    return ADVGNN_OK;
}

/* Test maps and masks of the images whose pixel truth is known. Points into
 * the full arrays when every image has it, else into compacted copies. */
typedef struct pixel_set {
    const float *maps;
    const uint8_t *masks;
    size_t images;
    float *owned_maps;
} pixel_set;

static int select_pixels(category_run *cr, const float *maps, pixel_set *out)
{
    const advgnn_split_data *test = &cr->data.test;
    size_t pixels = map_pixels(cr);

    memset(out, 0, sizeof(*out));
    if (test->missing_masks == 0) {
        out->maps = maps;
        out->masks = test->masks;
        out->images = test->count;
        return ADVGNN_OK;
    }

    /* Copy the maps of the images with known truth, in order. Their masks
     * are compacted the same way, once per category, by compact_masks. */
    out->owned_maps = advgnn_malloc((test->count - test->missing_masks) * pixels * sizeof(float) + 1);
    if (!out->owned_maps)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory for pixel metrics");
    for (size_t i = 0; i < test->count; i++)
        if (test->has_mask[i])
            memcpy(out->owned_maps + out->images++ * pixels, maps + i * pixels, pixels * sizeof(float));
    out->maps = out->owned_maps;
    return ADVGNN_OK;
}

/* Masks of the test images with known truth, compacted like select_pixels. */
static uint8_t *compact_masks(const category_run *cr)
{
    const advgnn_split_data *test = &cr->data.test;
    size_t pixels = map_pixels(cr);
    size_t n = 0;
    uint8_t *masks = advgnn_malloc((test->count - test->missing_masks) * pixels + 1);

    if (!masks)
        return NULL;
    for (size_t i = 0; i < test->count; i++)
        if (test->has_mask[i])
            memcpy(masks + n++ * pixels, test->masks + i * pixels, pixels);
    return masks;
}

static size_t defective_count(const advgnn_split_data *test)
{
    size_t defective = 0;

    for (size_t i = 0; i < test->count; i++)
        defective += test->labels[i] != 0;
    return defective;
}

/* Records a pixel metric as undefined because no defective test image has a
 * mask. */
static int record_no_defect_mask(category_run *cr, cJSON *metrics, cJSON *undefined, const char *label,
                                 const char *metric)
{
    int rc = advgnn_failf(cr->ctx, ADVGNN_ERR_UNDEFINED,
                          "none of the %zu defective test images has a mask, so no defect pixel is known",
                          cr->data.test.missing_masks);

    return record_metric(cr, rc, 0.0, metrics, undefined, label, metric);
}

static int column_metrics(category_run *cr, size_t column, const uint8_t *known_masks, cJSON *metrics_json,
                          cJSON *undefined)
{
    const advgnn_split_data *test = &cr->data.test;
    const char *label = advgnn_run_label(cr->run, column);
    const float *scores, *maps;
    double value = 0.0, threshold = 0.0;
    pixel_set px;
    int rc;

    column_outputs(cr, column, &scores, &maps);
    cJSON *metrics = cJSON_AddObjectToObject(metrics_json, label);
    if (!metrics)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");

    /* Image level: one score per test image against its label. */
    rc = advgnn_metric_auroc(cr->ctx, scores, test->labels, test->count, &value);
    rc = record_metric(cr, rc, value, metrics, undefined, label, "image_auroc");
    if (rc == ADVGNN_OK) {
        /* The metric module falls back to anomalib's values for one class;
         * a run reports the metric as undefined instead, like AUROC. */
        size_t defective = 0;
        for (size_t i = 0; i < test->count; i++)
            defective += test->labels[i];
        if (defective == 0 || defective == test->count)
            rc = advgnn_failf(cr->ctx, ADVGNN_ERR_UNDEFINED,
                              "F1-max needs normal and defective test images, but all %zu are %s", test->count,
                              defective ? "defective" : "normal");
        else
            rc = advgnn_metric_f1_max(cr->ctx, scores, test->labels, test->count, &value, &threshold);
        rc = record_metric(cr, rc, value, metrics, undefined, label, "f1_max");
    }
    if (rc == ADVGNN_OK && cJSON_GetObjectItemCaseSensitive(metrics, "f1_max"))
        rc = record_metric(cr, ADVGNN_OK, threshold, metrics, undefined, label, "f1_threshold");
    if (rc != ADVGNN_OK)
        return rc;

    /* Pixel level: every pixel of the test images whose truth is known. */
    rc = select_pixels(cr, maps, &px);
    if (rc != ADVGNN_OK)
        return rc;
    const uint8_t *masks = known_masks ? known_masks : px.masks;
    size_t total = px.images * map_pixels(cr);
    if (px.images == 0 || (test->missing_masks > 0 && test->missing_masks == defective_count(test))) {
        /* Only normal images have known pixels, if any, and their implied
         * masks have no defect pixel. The reason names the missing masks. */
        rc = record_no_defect_mask(cr, metrics, undefined, label, "pixel_auroc");
        if (rc == ADVGNN_OK)
            rc = record_no_defect_mask(cr, metrics, undefined, label, "aupro");
        advgnn_free(px.owned_maps);
        return rc;
    }
    rc = advgnn_metric_auroc(cr->ctx, px.maps, masks, total, &value);
    rc = record_metric(cr, rc, value, metrics, undefined, label, "pixel_auroc");
    if (rc == ADVGNN_OK) {
        rc = advgnn_metric_aupro(cr->ctx, px.maps, masks, px.images, cr->height, cr->width, AUPRO_FPR_LIMIT, &value);
        rc = record_metric(cr, rc, value, metrics, undefined, label, "aupro");
    }
    advgnn_free(px.owned_maps);
    if (rc == ADVGNN_OK && cr->defects)
        rc = advgnn_run_spro_metrics(cr->ctx, test, cr->defects, maps, cr->height, cr->width, label, metrics,
                                     undefined);
    return rc;
}

static int compute_metrics(category_run *cr)
{
    uint8_t *known_masks = NULL;
    int rc = ADVGNN_OK;

    cJSON *metrics = cJSON_AddObjectToObject(cr->json, "metrics");
    cJSON *undefined = cJSON_AddObjectToObject(cr->json, "undefined");
    if (!metrics || !undefined)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (cr->data.test.missing_masks > 0 && !(known_masks = compact_masks(cr)))
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory for pixel metrics");

    for (size_t i = 0; rc == ADVGNN_OK && i < advgnn_run_label_count(cr->run); i++) {
        rc = column_metrics(cr, i, known_masks, metrics, undefined);
        if (rc != ADVGNN_OK)
            advgnn_error_prefixf(cr->ctx, "metrics of '%s'", advgnn_run_label(cr->run, i));
    }
    advgnn_free(known_masks);
    return rc;
}

/* ---- curves -------------------------------------------------------------- */

/* Turns an undefined curve into an empty one, like record_metric does for a
 * metric: the reason is already in results.json. A defined curve gets its
 * area (which the legend shows) and is then thinned. */
static int allow_undefined(category_run *cr, int rc, advgnn_curve *curve, double x_max, double *area)
{
    if (rc == ADVGNN_ERR_UNDEFINED) {
        advgnn_ctx_clear_error(cr->ctx);
        return ADVGNN_OK;
    }
    if (rc == ADVGNN_OK) {
        *area = advgnn_report_curve_area(curve, x_max);
        advgnn_report_thin_curve(curve, x_max);
    }
    return rc;
}

/* Computes one column's ROC and PRO curves, thinned right away so that a
 * pixel-level curve of millions of points is held only once. */
static int column_curves(category_run *cr, size_t column, const uint8_t *known_masks, advgnn_category_curves *out)
{
    const advgnn_split_data *test = &cr->data.test;
    const float *scores, *maps;
    pixel_set px;

    out->label = advgnn_run_label(cr->run, column);
    column_outputs(cr, column, &scores, &maps);
    int rc = advgnn_metric_roc_curve(cr->ctx, scores, test->labels, test->count, &out->roc_image);
    rc = allow_undefined(cr, rc, &out->roc_image, 1.0, &out->areas[0]);
    if (rc == ADVGNN_OK)
        rc = select_pixels(cr, maps, &px);
    if (rc != ADVGNN_OK || px.images == 0)
        return rc;

    const uint8_t *masks = known_masks ? known_masks : px.masks;
    rc = advgnn_metric_roc_curve(cr->ctx, px.maps, masks, px.images * map_pixels(cr), &out->roc_pixel);
    rc = allow_undefined(cr, rc, &out->roc_pixel, 1.0, &out->areas[1]);
    if (rc == ADVGNN_OK) {
        rc = advgnn_metric_pro_curve(cr->ctx, px.maps, masks, px.images, cr->height, cr->width, AUPRO_FPR_LIMIT,
                                     &out->pro);
        rc = allow_undefined(cr, rc, &out->pro, AUPRO_FPR_LIMIT, &out->areas[2]);
    }
    advgnn_free(px.owned_maps);
    return rc;
}

/* Writes curves/<category>/roc_image.svg, roc_pixel.svg and pro.svg.
 * NOTE: the pixel ROC and PRO curves sort every test pixel again after
 * compute_metrics did; sharing one sort with the metrics would halve that. */
static int write_curves(category_run *cr)
{
    size_t count = advgnn_run_label_count(cr->run);
    advgnn_category_curves *curves = advgnn_calloc(count, sizeof(*curves));
    uint8_t *known_masks = NULL;
    int rc = ADVGNN_OK;

    if (!curves || (cr->data.test.missing_masks > 0 && !(known_masks = compact_masks(cr))))
        rc = advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory for the curves");
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++)
        rc = column_curves(cr, i, known_masks, &curves[i]);
    if (rc == ADVGNN_OK)
        rc = advgnn_report_write_category_curves(cr->ctx, cr->run->spec->output_dir, cr->name, curves, count,
                                                 AUPRO_FPR_LIMIT);

    for (size_t i = 0; curves && i < count; i++)
        advgnn_report_category_curves_release(&curves[i]);
    advgnn_free(curves);
    advgnn_free(known_masks);
    return rc;
}

/* ---- outputs ------------------------------------------------------------- */

static int add_counts_and_timings(category_run *cr)
{
    const advgnn_split_data *test = &cr->data.test;
    size_t anomalous = 0;

    for (size_t i = 0; i < test->count; i++)
        anomalous += test->labels[i];

    cJSON *counts = cJSON_AddObjectToObject(cr->json, "counts");
    cJSON *timings = cJSON_AddObjectToObject(cr->json, "timings");
    double scored_per_second = cr->score_seconds > 0.0 ? (double)test->count / cr->score_seconds : 0.0;
    if (!counts || !timings || !cJSON_AddNumberToObject(counts, "train", (double)cr->data.train.count) ||
        !cJSON_AddNumberToObject(counts, "validation", (double)cr->data.validation.count) ||
        !cJSON_AddNumberToObject(counts, "test_normal", (double)(test->count - anomalous)) ||
        !cJSON_AddNumberToObject(counts, "test_anomalous", (double)anomalous) ||
        !cJSON_AddNumberToObject(counts, "test_without_mask", (double)test->missing_masks) ||
        !cJSON_AddNumberToObject(timings, "load_seconds", cr->load_seconds) ||
        !cJSON_AddNumberToObject(timings, "fit_seconds", cr->fit_seconds) ||
        !cJSON_AddNumberToObject(timings, "score_seconds", cr->score_seconds) ||
        !cJSON_AddNumberToObject(timings, "images_per_second", scored_per_second))
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    return ADVGNN_OK;
}

/* Records the standardization that fusion used, per scorer. */
static int add_fusion_json(category_run *cr)
{
    if (cr->scorer_count < 2)
        return ADVGNN_OK;
    cJSON *fusion = cJSON_AddObjectToObject(cr->json, "fusion");
    cJSON *scorers = fusion ? cJSON_AddObjectToObject(fusion, "scorers") : NULL;
    if (!scorers || !cJSON_AddStringToObject(fusion, "statistics_split", cr->fusion_split))
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (strcmp(cr->fusion_split, "train") == 0 &&
        !cJSON_AddStringToObject(fusion, "note",
                                 "no validation images: statistics come from the training images, which the "
                                 "scorers were fitted on"))
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");

    for (size_t s = 0; s < cr->scorer_count; s++) {
        const scorer_run *sr = &cr->scorers[s];
        int score_floored, map_floored;
        double score_divisor = advgnn_fusion_divisor(&sr->stats.scores, &score_floored);
        double map_divisor = advgnn_fusion_divisor(&sr->stats.maps, &map_floored);
        cJSON *entry = cJSON_AddObjectToObject(scorers, sr->label);
        if (!entry || !cJSON_AddNumberToObject(entry, "weight", sr->choice->weight) ||
            !cJSON_AddNumberToObject(entry, "score_mean", sr->stats.scores.mean) ||
            !cJSON_AddNumberToObject(entry, "score_std", advgnn_moments_std(&sr->stats.scores)) ||
            !cJSON_AddNumberToObject(entry, "score_divisor", score_divisor) ||
            !cJSON_AddBoolToObject(entry, "score_std_floored", score_floored) ||
            !cJSON_AddNumberToObject(entry, "map_mean", sr->stats.maps.mean) ||
            !cJSON_AddNumberToObject(entry, "map_std", advgnn_moments_std(&sr->stats.maps)) ||
            !cJSON_AddNumberToObject(entry, "map_divisor", map_divisor) ||
            !cJSON_AddBoolToObject(entry, "map_std_floored", map_floored) ||
            !cJSON_AddNumberToObject(entry, "held_out_images", (double)sr->stats.scores.count))
            return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
        if ((score_floored || map_floored) &&
            !cJSON_AddStringToObject(entry, "warning",
                                     "the held-out standard deviation is too small to standardize by (under "
                                     "0.1% of the outputs' root mean square), so fusion divides by "
                                     "score_divisor or map_divisor instead; " FLOORED_STD_ADVICE))
            return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    }
    return ADVGNN_OK;
}

/* Appends one scores.csv row per test image. */
static int append_score_rows(category_run *cr)
{
    const advgnn_split_data *test = &cr->data.test;
    advgnn_text *csv = &cr->run->csv;
    size_t columns = advgnn_run_label_count(cr->run);

    for (size_t i = 0; i < test->count; i++) {
        const advgnn_sample *s = &test->samples[i];
        advgnn_text_append_csv_field(csv, cr->name);
        advgnn_text_appendf(csv, ",");
        advgnn_text_append_csv_field(csv, s->name);
        advgnn_text_appendf(csv, ",");
        advgnn_text_append_csv_field(csv, s->defect_type);
        advgnn_text_appendf(csv, ",%d", s->anomalous);
        for (size_t c = 0; c < columns; c++) {
            const float *scores, *maps;
            column_outputs(cr, c, &scores, &maps);
            advgnn_text_appendf(csv, ",%.9g", (double)scores[i]);
        }
        advgnn_text_appendf(csv, "\n");
    }
    if (csv->failed)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory formatting scores.csv");
    return ADVGNN_OK;
}

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Computes the color scale of a category's heatmaps from the 1st and 99.9th
 * percentiles of its test map pixels (an evenly spaced sample of at most 2^20
 * of them). One outlier map then does not push every other map to the bottom
 * of the scale. The minimum and maximum serve when the sample cannot be
 * allocated or the two percentiles are equal. */
/* Gives a range in which every map value equals vmin (one uniform image, or
 * all maps the same value) a width, so that the overlay draws them at the
 * low end of the colormap instead of refusing an empty range. */
static void widen_flat_scale(float *vmin, float *vmax)
{
    if (*vmax > *vmin)
        return;
    if (!isfinite(*vmin))
        *vmin = 0.0f;
    *vmax = *vmin + fmaxf(fabsf(*vmin) * 1e-3f, 1e-6f);
}

static void heatmap_scale(category_run *cr, const float *maps, size_t total, float *vmin, float *vmax)
{
    size_t step = total > ((size_t)1 << 20) ? total / ((size_t)1 << 20) + 1 : 1;
    size_t n = (total + step - 1) / step;
    float *sample = advgnn_malloc(n * sizeof(float));

    *vmin = FLT_MAX;
    *vmax = -FLT_MAX;
    for (size_t i = 0; i < total; i++) {
        *vmin = maps[i] < *vmin ? maps[i] : *vmin;
        *vmax = maps[i] > *vmax ? maps[i] : *vmax;
    }
    if (!sample || n < 2) {
        advgnn_free(sample);
        widen_flat_scale(vmin, vmax);
        return;
    }
    for (size_t i = 0; i < n; i++)
        sample[i] = maps[i * step];
    qsort(sample, n, sizeof(float), compare_floats);

    float low = sample[(size_t)(0.01 * (double)(n - 1))];
    float high = sample[(size_t)(0.999 * (double)(n - 1))];
    if (high > low) {
        *vmin = low;
        *vmax = high;
    }
    widen_flat_scale(vmin, vmax);
    advgnn_log(cr->ctx, ADVGNN_LOG_DEBUG, "category %s: heatmap scale %g to %g", cr->name, (double)*vmin,
               (double)*vmax);
    advgnn_free(sample);
}

/* Returns nonzero when `file` is among the first `count` names. */
static int name_taken(char *const *names, size_t count, const char *file)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], file) == 0)
            return 1;
    return 0;
}

/* Returns `file` made unique among `names` with a "-2", "-3"... suffix before
 * ".png" (names that differed only in characters replaced by '_' can meet).
 * Takes ownership of `file`; NULL when out of memory. */
static char *unique_heatmap_name(char *file, char *const *names, size_t count)
{
    size_t length;
    char *candidate;

    if (!file || !name_taken(names, count, file))
        return file;
    length = strlen(file) - 4; /* without ".png" */
    candidate = advgnn_malloc(length + 32);
    for (unsigned k = 2; candidate; k++) {
        snprintf(candidate, length + 32, "%.*s-%u.png", (int)length, file, k);
        if (!name_taken(names, count, candidate))
            break;
    }
    advgnn_free(file);
    return candidate;
}

/* Writes heatmaps/<category>/<name>.png for the chosen test images: the fused
 * map with two or more scorers, else the scorer's map, on one color scale per
 * category (see heatmap_scale). A reconstructing encoder also gets
 * reconstructions/<category>/<name>.png for the same images. */
static int write_heatmaps(category_run *cr)
{
    const advgnn_experiment_spec *spec = cr->run->spec;
    const advgnn_split_data *test = &cr->data.test;
    const advgnn_preprocess *pp = &cr->run->loader.pp;
    size_t pixels = map_pixels(cr);
    const float *scores, *maps;
    int rc = ADVGNN_OK;

    if (spec->heatmaps == 0)
        return ADVGNN_OK;
    column_outputs(cr, advgnn_run_label_count(cr->run) - 1, &scores, &maps);

    float vmin, vmax;
    heatmap_scale(cr, maps, test->count * pixels, &vmin, &vmax);

    size_t *chosen = advgnn_malloc(test->count * sizeof(size_t));
    char **written = advgnn_calloc(test->count ? test->count : 1, sizeof(char *));
    char *root = advgnn_fs_join(spec->output_dir, "heatmaps");
    char *folder = root ? advgnn_fs_join(root, cr->name) : NULL;
    if (!chosen || !written || !folder)
        rc = advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (rc == ADVGNN_OK)
        rc = advgnn_fs_mkdir_p(cr->ctx, folder);

    size_t count = rc == ADVGNN_OK ? advgnn_report_select_heatmaps(test->samples, test->count, spec->heatmaps, chosen)
                                   : 0;
    for (size_t k = 0; rc == ADVGNN_OK && k < count; k++) {
        size_t i = chosen[k];
        char *file = unique_heatmap_name(advgnn_report_heatmap_file_name(test->samples[i].name), written, k);
        char *path = file ? advgnn_fs_join(folder, file) : NULL;
        const uint8_t *mask = test->has_mask[i] && test->labels[i] ? test->masks + i * pixels : NULL;
        written[k] = file;
        if (!path) {
            rc = advgnn_failf(cr->ctx, ADVGNN_ERR_NOMEM, "out of memory");
            advgnn_free(path);
            break;
        }

        /* Sample names keep their folders, so the file may need its own. */
        char *slash = strrchr(path, '/');
        *slash = '\0';
        rc = advgnn_fs_mkdir_p(cr->ctx, path);
        *slash = '/';
        if (rc == ADVGNN_OK)
            rc = advgnn_report_write_heatmap(cr->ctx, path, test->images + i * 3 * pixels, cr->height, cr->width,
                                             pp->mean, pp->std, maps + i * pixels, vmin, vmax, mask);
        advgnn_free(path);
    }
    if (rc == ADVGNN_OK && cr->has_reconstruction)
        rc = advgnn_run_write_reconstructions(cr->ctx, spec->output_dir, cr->name, cr->encoder_fn, cr->encoder, test,
                                              pp, chosen, written, count);
    for (size_t k = 0; written && k < count; k++)
        advgnn_free(written[k]);
    advgnn_free(written);
    advgnn_free(chosen);
    advgnn_free(root);
    advgnn_free(folder);
    return rc;
}

/* ---- the category -------------------------------------------------------- */

/* Advances the "load" progress bar by one image. */
static void count_loaded_image(void *user)
{
    advgnn_progress *progress = user;

    advgnn_progress_update(progress, progress->done + 1);
}

/* Loads the category's images. With `prefetch`, the test split decodes on a
 * background thread until wait_for_test. */
static int load_category(category_run *cr, size_t category_index, int prefetch)
{
    advgnn_run *run = cr->run;
    advgnn_split last = prefetch ? ADVGNN_SPLIT_VALIDATION : ADVGNN_SPLIT_TEST;
    size_t listed = 0;

    run->loader.prefetch = prefetch;
    run->loader.cache_dir = run->spec->sample_cache;
    for (advgnn_split s = ADVGNN_SPLIT_TRAIN; s <= last; s++) {
        const advgnn_sample *unused;
        size_t n;
        advgnn_sample_store_split(run->store, category_index, s, &unused, &n);
        listed += n;
    }
    advgnn_progress_begin(&run->progress, "load", cr->name, listed);
    run->loader.image_done = count_loaded_image;
    run->loader.image_done_user = &run->progress;
    double start = advgnn_now_seconds();
    int rc = advgnn_category_data_load(cr->ctx, &run->loader, run->store, category_index, &cr->data);
    cr->load_seconds = advgnn_now_seconds() - start;
    advgnn_progress_end(&run->progress);
    cr->loaded = rc == ADVGNN_OK;
    return rc;
}

/* Waits for the test split's background decoding and loads the defect
 * masks of its images. The wait counts as loading time. */
static int wait_for_test(category_run *cr)
{
    double start = advgnn_now_seconds();
    int rc = advgnn_category_data_wait_test(cr->ctx, &cr->data);

    cr->load_seconds += advgnn_now_seconds() - start;
    if (rc != ADVGNN_OK) {
        /* The message names the dataset, category and split already. */
        cr->loaded = 0;
        return rc;
    }
    return advgnn_run_defects_load(cr->ctx, &cr->run->loader, &cr->data.test, &cr->defects);
}

/* The steps of a category. The encoder is created first, so its option
 * checks and weights files fail before any image is decoded. With
 * spec->prefetch set, the test split decodes in the background while the
 * encoder trains and the scorers fit on the training images, until
 * wait_for_test. */
static int run_steps(category_run *cr, size_t category_index)
{
    int rc = create_encoder(cr);

    /* advgnn_run_category adds the category to messages only once the
     * images are loaded, so an encoder failure gets it here. */
    if (rc != ADVGNN_OK) {
        advgnn_error_prefixf(cr->ctx, "category %s", cr->name);
        return rc;
    }
    rc = load_category(cr, category_index, cr->run->spec->prefetch);
    if (rc == ADVGNN_OK)
        rc = train_encoder(cr);
    if (rc == ADVGNN_OK)
        rc = prepare_batches(cr);
    if (rc == ADVGNN_OK)
        rc = create_scorers(cr);
    if (rc == ADVGNN_OK)
        rc = fit_scorers(cr);
    if (rc == ADVGNN_OK)
        rc = score_held_out(cr);
    if (rc == ADVGNN_OK)
        rc = wait_for_test(cr);
    if (rc == ADVGNN_OK)
        rc = score_test(cr);
    if (rc == ADVGNN_OK)
        rc = fuse(cr);
    if (rc == ADVGNN_OK)
        rc = compute_metrics(cr);
    if (rc == ADVGNN_OK)
        rc = write_curves(cr);
    if (rc == ADVGNN_OK)
        rc = add_counts_and_timings(cr);
    if (rc == ADVGNN_OK)
        rc = add_fusion_json(cr);
    if (rc == ADVGNN_OK)
        rc = append_score_rows(cr);
    if (rc == ADVGNN_OK)
        rc = write_heatmaps(cr);
    return rc;
}

static void release_category(category_run *cr)
{
    destroy_scorers(cr);
    if (cr->encoder)
        cr->encoder_fn->destroy(cr->encoder);
    advgnn_tensor_release(&cr->features);
    advgnn_tensor_release(&cr->reconstruction);
    advgnn_free(cr->batch_maps);
    advgnn_free(cr->batch_scores);
    advgnn_free(cr->fused_scores);
    advgnn_free(cr->fused_maps);
    advgnn_free(cr->work_dir);
    advgnn_run_defects_free(cr->defects, cr->data.test.count);
    advgnn_category_data_release(&cr->data);
    cJSON_Delete(cr->json);
}

/* Sets up the state of one category; returns 0 when out of memory. */
static int begin_category(category_run *cr, advgnn_run *run, size_t category_index)
{
    memset(cr, 0, sizeof(*cr));
    cr->run = run;
    cr->ctx = run->ctx;
    cr->name = advgnn_sample_store_category(run->store, category_index);
    cr->height = run->loader.height;
    cr->width = run->loader.width;
    cr->json = cJSON_CreateObject();
    return cr->json != NULL;
}

int advgnn_run_category(advgnn_run *run, size_t category_index)
{
    category_run cr;
    size_t csv_length = run->csv.length;
    int rc;

    if (!begin_category(&cr, run, category_index))
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");

    rc = run_steps(&cr, category_index);

    /* Publish the category only when every step succeeded. */
    if (rc == ADVGNN_OK) {
        if (cJSON_AddItemToObject(run->categories, cr.name, cr.json))
            cr.json = NULL;
        else
            rc = advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    }
    if (rc != ADVGNN_OK) {
        /* Drop rows of the failed category, so scores.csv matches results.json. */
        run->csv.length = csv_length;
        if (run->csv.data)
            run->csv.data[csv_length] = '\0';
        /* Loading errors already name the dataset, category and split. */
        if (cr.loaded)
            advgnn_error_prefixf(run->ctx, "category %s", cr.name);
    }
    release_category(&cr);
    return rc;
}

/* ---- scoring new images (advgnn score) ----------------------------------- */

/* Loads the encoder's weights from `weights`, or checks that the encoder
 * needs none. A trained encoder without its weights cannot reproduce the
 * run's features, so that fails. */
static int load_encoder_weights(category_run *cr, const char *weights)
{
    const char *encoder = cr->run->spec->encoder.plugin->name;
    int rc;

    if (!cr->encoder_fn->train)
        return ADVGNN_OK;
    if (!weights || !cr->encoder_fn->load)
        return advgnn_failf(cr->ctx, ADVGNN_ERR_NOT_FOUND,
                            "encoder '%s' was trained, but the run has no saved weights for category %s; rerun the "
                            "experiment to save them",
                            encoder, cr->name);
    rc = cr->encoder_fn->load(cr->encoder, cr->ctx, weights);
    if (rc != ADVGNN_OK)
        advgnn_error_prefixf(cr->ctx, "loading the weights of encoder '%s' from '%s'", encoder, weights);
    return rc;
}

/* Replaces the category's test split with the images to score. They are
 * decoded from their files (no dataset load()) with the run's preprocessing. */
static int load_new_images(category_run *cr, const advgnn_sample *samples, size_t count)
{
    advgnn_sample_loader loader = cr->run->loader;

    loader.fn = NULL;
    loader.state = NULL;
    loader.image_done = NULL;
    loader.cache_dir = NULL; /* new images are scored once */
    advgnn_split_data_release(&cr->data.test);
    cr->data.test_count = count;
    return advgnn_split_data_load(cr->ctx, &loader, ADVGNN_SPLIT_TEST, samples, count, &cr->data.test);
}

/* Removes <output>/encoder/<category> and <output>/encoder when empty:
 * create_encoder makes them for an encoder that trains, but scoring writes
 * nothing there. rmdir leaves a folder that has files. */
static void remove_empty_work_dir(category_run *cr)
{
    char *slash;

    if (!cr->work_dir || rmdir(cr->work_dir) != 0)
        return;
    slash = strrchr(cr->work_dir, '/');
    if (slash) {
        *slash = '\0';
        (void)rmdir(cr->work_dir);
        *slash = '/';
    }
}

int advgnn_run_category_score(advgnn_run *run, size_t category_index, const char *weights,
                              const advgnn_sample *samples, size_t count, float *scores, float *scorer_scores)
{
    category_run cr;
    int rc;

    if (!begin_category(&cr, run, category_index))
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");

    /* The run's steps up to the fitted scorers and fusion statistics, with
     * the saved weights in place of training; then the new images take the
     * place of the test split. */
    rc = load_category(&cr, category_index, 0);
    if (rc == ADVGNN_OK)
        rc = load_new_images(&cr, samples, count);
    if (rc == ADVGNN_OK)
        rc = create_encoder(&cr);
    if (rc == ADVGNN_OK)
        rc = load_encoder_weights(&cr, weights);
    if (rc == ADVGNN_OK)
        rc = prepare_batches(&cr);
    if (rc == ADVGNN_OK)
        rc = create_scorers(&cr);
    if (rc == ADVGNN_OK)
        rc = fit_scorers(&cr);
    if (rc == ADVGNN_OK)
        rc = score_held_out(&cr);
    if (rc == ADVGNN_OK)
        rc = score_test(&cr);
    if (rc == ADVGNN_OK)
        rc = fuse(&cr);
    if (rc == ADVGNN_OK)
        rc = write_heatmaps(&cr);
    if (rc == ADVGNN_OK) {
        const float *column_scores, *column_maps;
        column_outputs(&cr, advgnn_run_label_count(run) - 1, &column_scores, &column_maps);
        memcpy(scores, column_scores, count * sizeof(float));
        for (size_t s = 0; scorer_scores && s < cr.scorer_count; s++)
            memcpy(scorer_scores + s * count, cr.scorers[s].test_scores, count * sizeof(float));
    }
    if (rc != ADVGNN_OK && cr.loaded)
        advgnn_error_prefixf(run->ctx, "category %s", cr.name);
    remove_empty_work_dir(&cr);
    release_category(&cr);
    return rc;
}
