/* The state of one experiment run, shared by the files of the experiment
 * module. Private.
 *
 * advgnn_experiment_run (experiment.c) owns the run: it validates the spec,
 * prepares the output folder, lists the dataset and loops over categories.
 * Each category goes through the steps of category.c: load, create the
 * encoder, train, fit the scorers, score, fuse, compute metrics, write
 * outputs. Each step is its own function, so tracking calls can be added
 * between them. */
#ifndef ADVGNN_EXPERIMENT_RUN_INTERNAL_H
#define ADVGNN_EXPERIMENT_RUN_INTERNAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "data/category_data.h"
#include "data/sample_store.h"
#include "experiment/experiment.h"
#include "experiment/fusion.h"
#include "report/progress.h"
#include "report/results.h"
#include "tracking/tracker.h"
#include "util/internal.h"

#define ADVGNN_DEFAULT_BATCH_SIZE 16 /* images per encoder call when the spec says 0 */
#define ADVGNN_FUSED_LABEL "fused"

/* One run, from start to the final results.json. */
typedef struct advgnn_run {
    advgnn_ctx *ctx;
    const advgnn_experiment_spec *spec;
    advgnn_progress progress;
    double start_seconds;
    size_t batch_size;

    /* Scorer labels (borrowed from the spec or the plugins), one per scorer. */
    const char **labels;

    /* The dataset: open from open_dataset until the end of the run, because
     * its load() may be needed for every category. */
    void *dataset_state;
    int dataset_open;
    advgnn_sample_store *store;
    advgnn_sample_loader loader;

    /* Categories to run, as indices into the store, in run order. */
    size_t *category_indices;
    size_t category_count;

    /* Outputs. `results` is the tree written to results.json; `categories`
     * is borrowed from it. scores.csv is rewritten from `csv` after each
     * category. */
    char *results_path;
    char *csv_path;
    cJSON *results;
    cJSON *categories;
    advgnn_text csv;

    /* Tracking of this run (tracking/experiment_tracking.h): journal and
     * MLflow; NULL until opened. */
    advgnn_tracker *tracker;
} advgnn_run;

/* Runs every step for one category and records its results in run->results
 * and run->csv. */
ADVGNN_INTERNAL int advgnn_run_category(advgnn_run *run, size_t category_index);

/* Scores `count` image files with the category's pipeline rebuilt: the
 * dataset's training images refit the scorers, the encoder loads `weights`
 * (NULL for an encoder that does not train), and held-out images give the
 * fusion statistics, as in the run. Writes each image's score (the fused one
 * with two or more scorers) to scores[i], and overlays of all of them to
 * <spec output_dir>/heatmaps/<category>/. Unless `scorer_scores` is NULL,
 * also writes scorer s's score of image i to scorer_scores[s * count + i]. */
ADVGNN_INTERNAL int advgnn_run_category_score(advgnn_run *run, size_t category_index, const char *weights,
                                              const advgnn_sample *samples, size_t count, float *scores,
                                              float *scorer_scores);

/* Returns the number of labels the results carry: the scorers, plus "fused"
 * when there are two or more. */
ADVGNN_INTERNAL size_t advgnn_run_label_count(const advgnn_run *run);

/* Returns the label of column `i`: scorer labels, then "fused". */
ADVGNN_INTERNAL const char *advgnn_run_label(const advgnn_run *run, size_t i);

#endif
