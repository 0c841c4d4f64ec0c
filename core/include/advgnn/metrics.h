/* Evaluation metrics of anomaly detection, matching the reference definitions:
 * scikit-learn's roc_auc_score for AUROC, anomalib (2.3 and later) for the exact
 * AUPRO and for F1-max. Scores are compared as float32 values (ties are decided
 * there) and accumulated in double.
 *
 * A metric that is undefined for its input (one class only, no defect region)
 * returns ADVGNN_ERR_UNDEFINED with a message saying why; no number is written. */
#ifndef ADVGNN_METRICS_H
#define ADVGNN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Area under the ROC curve; labels are 0 (normal) or 1 (anomalous). Ties
 * count one half. Every metric rejects a NaN or infinite score with
 * ADVGNN_ERR_NUMERIC and a label or mask value other than 0 and 1 with
 * ADVGNN_ERR_INVALID_ARG, naming its index. */
int advgnn_metric_auroc(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count, double *auroc);

/* Maximum F1 over all thresholds t (positive when score >= t), and the
 * threshold where it is first reached in ascending order. One class only
 * is not an error here. Like anomalib 2.6, without anomalous samples F1 is 0
 * and the threshold is the maximum score, and without normal samples the
 * threshold is the minimum score (F1 = 2 / (2 + 1e-10)). No sample at all
 * returns ADVGNN_ERR_UNDEFINED. */
int advgnn_metric_f1_max(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count, double *f1,
                         double *threshold);

/* Area under the per-region overlap curve up to false-positive rate
 * `fpr_limit` (0.3 by convention), divided by the limit. maps: (N, H, W) scores;
 * masks: (N, H, W) 0/1. Regions are the 8-connected components of each mask.
 * fpr_limit must be in (0, 1]. Returns ADVGNN_ERR_UNDEFINED when no mask has a
 * defect pixel or when every pixel is a defect pixel. */
int advgnn_metric_aupro(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                        int width, double fpr_limit, double *aupro);

/* A curve of (x, y) points, e.g. ROC (FPR, TPR). Free with advgnn_curve_release. */
typedef struct advgnn_curve {
    double *x;
    double *y;
    size_t count;
} advgnn_curve;

/* Computes the ROC curve points (one per distinct score, plus (0, 0)). */
int advgnn_metric_roc_curve(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count,
                            advgnn_curve *curve);

/* Computes the PRO curve (FPR, mean region overlap) up to `fpr_limit`. */
int advgnn_metric_pro_curve(advgnn_ctx *ctx, const float *maps, const uint8_t *masks, size_t images, int height,
                            int width, double fpr_limit, advgnn_curve *curve);

void advgnn_curve_release(advgnn_curve *curve);

#ifdef __cplusplus
}
#endif
#endif
