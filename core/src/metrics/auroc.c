/* AUROC and the ROC curve, equal to scikit-learn's roc_auc_score and
 * roc_curve (without drop_intermediate) on the float32 scores.
 *
 * The curve has one point per distinct score, placed after all samples of
 * that score (so a tie group is one diagonal step), plus (0, 0). The area of
 * each trapezoid is dneg * (tp_before + tp_after) / (2 P N) with integer
 * counts, so the sum is kept as an exact integer and divided once. This equals
 * the Mann-Whitney U statistic over P N with ties counted one half. */
#include <string.h>

#include "advgnn/metrics.h"
#include "metrics/sorted_scores.h"

/* Fails with ADVGNN_ERR_UNDEFINED when one class is missing. `metric` names
 * the metric in the message. */
static int require_both_classes(advgnn_ctx *ctx, const advgnn_sorted_scores *sorted, const char *metric)
{
    size_t count = sorted->positives + sorted->negatives;

    if (count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED, "%s is undefined without samples: 0 scores were given", metric);
    if (sorted->positives == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                            "%s is undefined: all %zu samples are normal (label 0), no anomalous sample (label 1)",
                            metric, count);
    if (sorted->negatives == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_UNDEFINED,
                            "%s is undefined: all %zu samples are anomalous (label 1), no normal sample (label 0)",
                            metric, count);
    return ADVGNN_OK;
}

static int check_pointers(advgnn_ctx *ctx, const void *scores, const void *labels, size_t count, const void *out)
{
    if (!out || (count > 0 && (!scores || !labels)))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "scores, labels and the output must not be NULL");
    return ADVGNN_OK;
}

int advgnn_metric_auroc(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count, double *auroc)
{
    advgnn_sorted_scores sorted;
    advgnn_tie_walk walk;
    advgnn_tie_group group;
    uint64_t twice_area = 0; /* sum of dneg * (tp_before + tp_after) = 2 P N * area, exact */
    int rc;

    rc = check_pointers(ctx, scores, labels, count, auroc);
    if (rc != ADVGNN_OK)
        return rc;
    rc = advgnn_sorted_scores_build(ctx, scores, labels, count, &sorted);
    if (rc == ADVGNN_OK)
        rc = require_both_classes(ctx, &sorted, "AUROC");
    if (rc != ADVGNN_OK) {
        advgnn_sorted_scores_release(&sorted);
        return rc;
    }

    /* NOTE: the integer sum is exact while positives * negatives < 2^63,
     * i.e. for up to about 6e9 samples. */
    advgnn_tie_walk_init(&walk, &sorted);
    while (advgnn_tie_walk_next(&walk, &group)) {
        uint64_t tp_before = group.positives_at_least - group.positives;

        twice_area += (uint64_t)group.negatives * (2 * tp_before + group.positives);
    }
    *auroc = (double)twice_area / (2.0 * (double)sorted.positives * (double)sorted.negatives);

    advgnn_sorted_scores_release(&sorted);
    return ADVGNN_OK;
}

/* ---- curves ----------------------------------------------------------------- */

int advgnn_metric_roc_curve(advgnn_ctx *ctx, const float *scores, const uint8_t *labels, size_t count,
                            advgnn_curve *curve)
{
    advgnn_sorted_scores sorted;
    advgnn_tie_walk walk;
    advgnn_tie_group group;
    size_t points = 1; /* (0, 0) */
    int rc;

    rc = check_pointers(ctx, scores, labels, count, curve);
    if (rc != ADVGNN_OK)
        return rc;
    memset(curve, 0, sizeof(*curve));
    rc = advgnn_sorted_scores_build(ctx, scores, labels, count, &sorted);
    if (rc == ADVGNN_OK)
        rc = require_both_classes(ctx, &sorted, "the ROC curve");
    if (rc != ADVGNN_OK) {
        advgnn_sorted_scores_release(&sorted);
        return rc;
    }

    /* Count the distinct scores first, so the arrays are allocated once. */
    advgnn_tie_walk_init(&walk, &sorted);
    while (advgnn_tie_walk_next(&walk, &group))
        points++;
    curve->x = advgnn_malloc(points * sizeof(double));
    curve->y = advgnn_malloc(points * sizeof(double));
    if (!curve->x || !curve->y) {
        advgnn_curve_release(curve);
        advgnn_sorted_scores_release(&sorted);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for a ROC curve of %zu points", points);
    }

    curve->x[0] = 0.0;
    curve->y[0] = 0.0;
    curve->count = 1;
    advgnn_tie_walk_init(&walk, &sorted);
    while (advgnn_tie_walk_next(&walk, &group)) {
        curve->x[curve->count] = (double)group.negatives_at_least / (double)sorted.negatives;
        curve->y[curve->count] = (double)group.positives_at_least / (double)sorted.positives;
        curve->count++;
    }

    advgnn_sorted_scores_release(&sorted);
    return ADVGNN_OK;
}

void advgnn_curve_release(advgnn_curve *curve)
{
    if (!curve)
        return;
    advgnn_free(curve->x);
    advgnn_free(curve->y);
    memset(curve, 0, sizeof(*curve));
}
