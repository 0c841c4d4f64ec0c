/* Tracking of one experiment run, called by the runner (core/src/experiment).
 * Private to the core.
 *
 * The run becomes one parent MLflow run (key "experiment") and each category
 * a nested run (key "category/<name>"). The parent gets every resolved
 * plugin option as a dotted param, the seed, image size, thread count and
 * advgnn version, the mean metrics, and the files of the output folder. Each
 * nested run gets its counts, timings, metrics per scorer and fused, and its
 * heatmaps. Tracking problems after the open are logged as warnings and
 * never fail the experiment. */
#ifndef ADVGNN_TRACKING_EXPERIMENT_TRACKING_H
#define ADVGNN_TRACKING_EXPERIMENT_TRACKING_H

#include <cjson/cJSON.h>

#include "data/sample_store.h"
#include "experiment/experiment.h"
#include "tracking/tracker.h"

/* Opens the tracker on spec->output_dir, starts the parent run and logs its
 * params. `results` is the results tree as created (with "plugins").
 * Fails only on invalid tracking settings or when the journal cannot be
 * written; *out is NULL then. */
int advgnn_experiment_tracking_open(advgnn_ctx *ctx, const advgnn_experiment_spec *spec, const cJSON *results,
                                    advgnn_tracker **out);

/* Starts the nested run of category `name` before it runs, and routes the
 * values that training reports with advgnn_log_metric (a loss per step) to
 * it. Does nothing when `tracker` is NULL. */
void advgnn_experiment_tracking_category_begin(advgnn_tracker *tracker, advgnn_ctx *ctx, const char *name);

/* Logs the category that just finished. `category` is its entry in the
 * results' "categories" object, and its `string` is the category name.
 * `store` with `category_index` lists the category's samples, whose image and
 * mask paths make the digest of its dataset input. Does nothing when
 * `tracker` is NULL. */
void advgnn_experiment_tracking_category(advgnn_tracker *tracker, advgnn_ctx *ctx,
                                         const advgnn_experiment_spec *spec, const cJSON *category,
                                         const advgnn_sample_store *store, size_t category_index);

/* Logs the mean metrics and the output files, ends the parent run with the
 * experiment's status (`status` ADVGNN_OK: FINISHED; interrupted: KILLED;
 * else FAILED with the context's error message) and closes the tracker,
 * waiting up to ADVGNN_EXPERIMENT_TRACKING_WAIT_MS for delivery. Does nothing
 * when `tracker` is NULL. */
#define ADVGNN_EXPERIMENT_TRACKING_WAIT_MS 30000
void advgnn_experiment_tracking_close(advgnn_tracker *tracker, advgnn_ctx *ctx, const advgnn_experiment_spec *spec,
                                      const cJSON *results, int status);

#endif
