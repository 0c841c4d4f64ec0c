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

/* ---- sPRO (MVTec LOCO AD) ------------------------------------------------------ */

/* One test image for sPRO: its anomaly map and one mask per annotated defect.
 * A good image has defect_count 0 and contributes only false positives. */
typedef struct advgnn_spro_image {
    const float *map;         /* (height, width) anomaly scores */
    int height;               /* pixels */
    int width;
    const uint8_t *defects;   /* (defect_count, height, width) 0/1, one mask per defect; NULL when none */
    const double *saturation; /* (defect_count) saturation areas in pixels, each > 0 */
    size_t defect_count;
} advgnn_spro_image;

/* Returns the saturation area in pixels of a defect of `defect_area` pixels,
 * as MVTec LOCO AD's defects_config.json defines it: int(threshold * area)
 * (truncated) when `relative` is nonzero, else min(threshold, area). */
double advgnn_spro_saturation_area(double threshold, int relative, size_t defect_area);

/* Area under the sPRO curve (saturated per-region overlap) up to each of
 * `limit_count` false-positive-rate limits, divided by the limit, into
 * auc[limit_count]; MVTec LOCO AD reports the limits 0.01, 0.05, 0.1, 0.3
 * and 1.0. A pixel is predicted defective when its score is above the
 * threshold. At threshold t, the sPRO of defect i is min(TP_i(t) / s_i, 1),
 * with TP_i the defect's pixels above t and s_i its saturation area, and the
 * curve's y is the mean over the defects of all images. The FPR counts only
 * pixels that lie in no defect of their image (every pixel of a good image).
 * One curve point follows each group of equal scores, after (0, 0); the
 * curve is cut at each limit with a point interpolated linearly there, and
 * integrated by the trapezoid rule. Fails with ADVGNN_ERR_INVALID_ARG for an
 * empty defect mask, a mask value other than 0 and 1, a saturation area that
 * is not > 0 or a limit outside (0, 1], naming the image and defect; with
 * ADVGNN_ERR_UNDEFINED when there is no defect or no defect-free pixel. */
int advgnn_metric_spro(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count, const double *fpr_limits,
                       size_t limit_count, double *auc);

/* Computes the whole sPRO curve (FPR, mean sPRO), from (0, 0) to FPR 1. */
int advgnn_metric_spro_curve(advgnn_ctx *ctx, const advgnn_spro_image *images, size_t count,
                             advgnn_curve *curve);

#ifdef __cplusplus
}
#endif
#endif
