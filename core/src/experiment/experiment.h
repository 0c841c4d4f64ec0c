/* Running one experiment: dataset -> encoder -> scorers -> metrics -> outputs.
 * Private to the core; the Lua module builds the spec and calls the runner. */
#ifndef ADVGNN_EXPERIMENT_H
#define ADVGNN_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "advgnn/context.h"
#include "options/options_internal.h"
#include "plugin/registry.h"

/* A plugin chosen by the script, with its validated options. */
typedef struct advgnn_plugin_choice {
    const advgnn_plugin *plugin;
    const advgnn_options *options; /* borrowed, complete (defaults filled) */
    const char *label;   /* name used in results and metric keys; NULL = plugin name */
    double weight;       /* scorers: fusion weight (default 1) */
} advgnn_plugin_choice;

/* Everything one run needs. Strings and choices are borrowed for the call. */
typedef struct advgnn_experiment_spec {
    const char *name;            /* used in the output folder name and results */
    const char *script_path;     /* the Lua script, copied into the output folder; may be NULL */
    advgnn_plugin_choice dataset;
    advgnn_plugin_choice encoder;
    const advgnn_plugin_choice *scorers;
    size_t scorer_count;
    const char *const *categories; /* run only these; NULL = every category the dataset lists */
    size_t category_count;
    int image_size;              /* resize to image_size x image_size */
    int crop_size;               /* then center-crop; 0 = none */
    int batch_size;              /* images per encoder call */
    uint64_t seed;
    const char *output_dir;      /* the run's folder; created if missing */
    int heatmaps;                /* overlay PNGs written per category (0 = none, -1 = all) */
    int threads;                 /* 0 = every core */
    int progress;                /* nonzero: draw progress bars (only on a terminal) */
    int prefetch;                /* nonzero: decode each category's test images on a background thread
                                    while the encoder trains and the scorers fit */
    const char *sample_cache;    /* folder of the on-disk cache of decoded samples; NULL = no cache */

    /* Tracking (core/src/tracking/experiment_tracking.h). The runner always
     * journals the run in <output_dir>/tracking/ and sends it to MLflow when
     * a tracking URI is known. */
    const char *tracking_uri;        /* MLflow server; NULL: MLFLOW_TRACKING_URI, else the journal only */
    const char *tracking_experiment; /* MLflow experiment name; NULL = name */
} advgnn_experiment_spec;

/* Runs the experiment and returns its results as a JSON tree (*results, free
 * with cJSON_Delete), the same content as the results.json it writes:
 *
 *   { "experiment", "advgnn_version", "status", "seed", "output_dir", "seconds",
 *     "batch_size", "image": {"size", "crop", "height", "width"},
 *     "plugins": {"dataset": {name, version, options}, "encoder": {...},
 *                 "scorers": [{name, label, weight, version, options}]},
 *     "categories": { "<category>": {
 *         "counts": {"train", "validation", "test_normal", "test_anomalous",
 *                    "test_without_mask"},
 *         "timings": {"load_seconds", "fit_seconds", "score_seconds",
 *                     "images_per_second"},
 *         "metrics": { "<scorer label>" | "fused": {"image_auroc", "pixel_auroc",
 *                      "aupro", "f1_max", "f1_threshold",
 *                      "spro_logical_<limit>", "spro_structural_<limit>",
 *                      "spro_mean_<limit>"} },
 *         "undefined": { "<label>.<metric>": "<reason>" },
 *         "training": {"epochs": [{"epoch", "train_loss", "val_loss", "seconds",
 *                      "lr"}], "best_epoch", "stopped_early", "steps"},
 *         "fusion": {"statistics_split", "note", "scorers": {...}} } },
 *     "mean": { "<label>": {...metric means over categories...} } }
 *
 * The sPRO keys appear only when the dataset has load_defect_masks, for the
 * limits 0.01, 0.05, 0.1, 0.3 and 1.0 (spro_run.h).
 * "training" appears only when the encoder wrote a training history
 * (advgnn_report_add_training). "fused" and "fusion" appear with two or
 * more scorers only. A metric that is undefined appears under "undefined"
 * with its reason, never as a number.
 * Files are written atomically, so a failure mid-run leaves every file either
 * complete or absent. results.json is rewritten after each category with
 * "status": "running", and at the end with "finished"; after a failure it
 * keeps the finished categories and gets "status": "failed" ("killed" when a
 * signal stopped the run) and "error". On
 * failure the return value is the status, the context has the message, and
 * *results is NULL. docs/results.md describes the outputs in full. */
int advgnn_experiment_run(advgnn_ctx *ctx, const advgnn_experiment_spec *spec, cJSON **results);

/* Scores image files with a finished run's pipeline (`advgnn score`): the
 * spec is the run's, rebuilt from its results.json, except that output_dir
 * is the folder for the overlays (heatmaps/<category>/<name>.png for every
 * image). The scorers are fitted again on the dataset's training images,
 * which must still be present; with the run's seed and options this gives
 * the run's scorers. `category` NULL picks the dataset's only category.
 * `weights` is the encoder's saved weights, NULL for an encoder that does not
 * train. Writes count scores to `scores` (the fused ones with two or more
 * scorers). Unless they are NULL, also writes scorer s's score of image i to
 * scorer_scores[s * count + i] and its label (as in results.json) to
 * scorer_labels[s], a copy the caller frees with advgnn_free; both hold
 * spec->scorer_count entries. */
int advgnn_experiment_score(advgnn_ctx *ctx, const advgnn_experiment_spec *spec, const char *category,
                            const char *weights, const char *const *image_paths, size_t count, float *scores,
                            float *scorer_scores, char **scorer_labels);

#endif
