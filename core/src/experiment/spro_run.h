/* sPRO (MVTec LOCO AD) in experiment runs: per-defect masks of the test
 * images at the size of the anomaly maps, and the sPRO metrics per defect
 * family. Private. */
#ifndef ADVGNN_EXPERIMENT_SPRO_RUN_H
#define ADVGNN_EXPERIMENT_SPRO_RUN_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "advgnn/dataset.h"
#include "data/category_data.h"
#include "util/internal.h"

/* Fetches the per-defect masks of every test image through the dataset's
 * load_defect_masks and brings them to the map size of `loader->pp`. Each
 * mask gets the nearest-neighbour resize and the crop of the ordinary masks
 * (advgnn_mask_to_binary). Each saturation area is multiplied by the
 * resize's area ratio (map pixels per image pixel before the crop), so a
 * defect saturates at the same fraction of its area as at full resolution.
 * *out gets `test->count` entries (free with advgnn_run_defects_free), or
 * NULL when the dataset has no load_defect_masks. Exported (not
 * ADVGNN_INTERNAL) for the tests, like the sample store. */
int advgnn_run_defects_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                            const advgnn_split_data *test, advgnn_defect_masks **out);

void advgnn_run_defects_free(advgnn_defect_masks *defects, size_t count);

/* Adds to `metrics` the sPRO of one results column for the FPR limits 0.01,
 * 0.05, 0.1, 0.3 and 1.0. "spro_logical_<limit>" covers the test images of
 * defect type logical_anomalies and "spro_structural_<limit>" those of
 * structural_anomalies, each with every good test image.
 * "spro_mean_<limit>" is the mean of the two. A subset without images puts
 * "<label>.<key>": "<reason>" into `undefined` instead. `maps` is
 * (test count, height, width). */
ADVGNN_INTERNAL int advgnn_run_spro_metrics(advgnn_ctx *ctx, const advgnn_split_data *test,
                                            const advgnn_defect_masks *defects, const float *maps, int height,
                                            int width, const char *label, cJSON *metrics, cJSON *undefined);

#endif
