/* F1-max and its threshold, as anomalib's F1AdaptiveThreshold and F1Max
 * compute them from a precision-recall curve equal to scikit-learn's
 * precision_recall_curve.
 *
 * Every distinct score t is a candidate threshold, and a sample is predicted
 * anomalous when its score is >= t. At t, precision = TP / (TP + FP), recall =
 * TP / P and F1 = 2 * precision * recall / (precision + recall + 1e-10). The
 * threshold is the first maximum in ascending order of t, i.e. the lowest
 * threshold that reaches the maximum F1. */
#include "advgnn/metrics.h"
#include "metrics/sorted_scores.h"

/* The additive constant of anomalib's F1 formula; it keeps 0 / 0 at 0. */
#define F1_EPSILON 1e-10

/* Computes F1 in double with the operations in the order of anomalib's
 * `(2 * p * r) / (p + r + 1e-10)`, so NumPy on float64 arrays gets the same
 * bits. anomalib itself evaluates it in float32. */
static double f1_score(size_t true_positives, size_t predicted_positives, size_t positives)
{
    double precision = (double)true_positives / (double)predicted_positives;
    double recall = (double)true_positives / (double)positives;

    return 2.0 * precision * recall / (precision + recall + F1_EPSILON);
}

int advgnn_metric_f1_max(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count, double *f1,
                         double *threshold)
{
    advgnn_sorted_scores sorted;
    advgnn_tie_walk walk;
    advgnn_tie_group group;
    double best_f1 = -1.0, best_threshold = 0.0;
    int rc;

    if (!f1 || !threshold || (count > 0 && (!scores || !labels)))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "scores, labels, f1 and threshold must not be NULL");
    if (count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED, "F1-max is undefined without samples: 0 scores were given");
    rc = advgnn_sorted_scores_build(ctx, scores, labels, count, &sorted);
    if (rc != ADVGNN_OK) {
        advgnn_sorted_scores_release(&sorted);
        return rc;
    }

    /* Without anomalous samples, recall is 0 / 0, so F1 is 0 at every
     * threshold. anomalib 2.6 then returns the maximum score as the threshold,
     * so no sample of this set scores above it.
     * NOTE: this fallback was not checked against the anomalib 2.6 source.
     * The 2.4.0dev F1AdaptiveThreshold only logs a warning and takes the
     * argmax of the all-zero F1 values. */
    if (sorted.positives == 0) {
        advgnn_log(ctx, ADVGNN_LOG_WARN,
                   "F1-max: all %zu samples are normal, so F1 is 0 and the threshold is the maximum score", count);
        *f1 = 0.0;
        *threshold = advgnn_score_from_key(sorted.negative[sorted.negatives - 1]);
        advgnn_sorted_scores_release(&sorted);
        return ADVGNN_OK;
    }

    /* Walking from the highest score down, `>=` keeps the last maximum seen,
     * which is the first one in ascending order. Without normal samples this
     * ends at the lowest score (recall 1, precision 1), which is also
     * anomalib's fallback for that case. */
    advgnn_tie_walk_init(&walk, &sorted);
    while (advgnn_tie_walk_next(&walk, &group)) {
        double value = f1_score(group.positives_at_least, group.positives_at_least + group.negatives_at_least,
                                sorted.positives);

        if (value >= best_f1) {
            best_f1 = value;
            best_threshold = group.score;
        }
    }
    *f1 = best_f1;
    *threshold = best_threshold;

    advgnn_sorted_scores_release(&sorted);
    return ADVGNN_OK;
}
