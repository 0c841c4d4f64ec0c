/* AUROC and the ROC curve on hand-computed cases, against a brute-force
 * Mann-Whitney count over all pairs, and on inputs where AUROC is undefined. */
#include <stdint.h>

#include "advgnn/advgnn.h"
#include "check.h"

/* Fraction of (anomalous, normal) pairs ranked correctly, ties one half:
 * the definition of AUROC as a probability, computed in O(n^2). */
static double pairwise_auroc(const float *scores, const uint8_t *labels, size_t count)
{
    double wins = 0.0, pairs = 0.0;

    for (size_t i = 0; i < count; i++) {
        if (!labels[i])
            continue;
        for (size_t j = 0; j < count; j++) {
            if (labels[j])
                continue;
            pairs += 1.0;
            if (scores[i] > scores[j])
                wins += 1.0;
            else if (scores[i] == scores[j])
                wins += 0.5;
        }
    }
    return wins / pairs;
}

static void test_auroc_small_cases(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    const float scores[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    const uint8_t labels[4] = {0, 0, 1, 1};
    const float tied[2] = {0.5f, 0.5f};
    const float signed_zeros[2] = {-0.0f, 0.0f};
    const uint8_t one_each[2] = {1, 0};
    double auroc = -1.0;

    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, labels, 4, &auroc), ADVGNN_OK);
    CHECK_NEAR(auroc, 0.75, 1e-15);
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, tied, one_each, 2, &auroc), ADVGNN_OK);
    CHECK_NEAR(auroc, 0.5, 1e-15);

    /* -0.0 equals 0.0 as a float, so the two samples tie. */
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, signed_zeros, one_each, 2, &auroc), ADVGNN_OK);
    CHECK_NEAR(auroc, 0.5, 1e-15);
    advgnn_ctx_free(ctx);
}

static void test_auroc_matches_pairwise_count(void)
{
    enum { COUNT = 3000 };
    static float scores[COUNT];
    static uint8_t labels[COUNT];
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_rng rng;
    double auroc = -1.0;

    /* Scores rounded to 1/64 give many ties, including negative values. */
    advgnn_rng_seed(&rng, 7);
    for (size_t i = 0; i < COUNT; i++) {
        labels[i] = advgnn_rng_below(&rng, 4) == 0;
        scores[i] = (float)((double)advgnn_rng_below(&rng, 256) / 64.0 - 1.5 + 0.5 * labels[i]);
    }
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, labels, COUNT, &auroc), ADVGNN_OK);
    CHECK_NEAR(auroc, pairwise_auroc(scores, labels, COUNT), 1e-12);
    advgnn_ctx_free(ctx);
}

static void test_roc_curve_points(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    const float scores[5] = {0.9f, 0.5f, 0.5f, 0.2f, 0.1f};
    const uint8_t labels[5] = {1, 1, 0, 0, 1};
    const double fpr[5] = {0.0, 0.0, 0.5, 1.0, 1.0};
    const double tpr[5] = {0.0, 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 1.0};
    advgnn_curve curve;

    CHECK_INT_EQ(advgnn_metric_roc_curve(ctx, scores, labels, 5, &curve), ADVGNN_OK);
    CHECK_INT_EQ(curve.count, 5);
    for (size_t i = 0; i < 5 && i < curve.count; i++) {
        CHECK_NEAR(curve.x[i], fpr[i], 1e-15);
        CHECK_NEAR(curve.y[i], tpr[i], 1e-15);
    }
    advgnn_curve_release(&curve);
    CHECK(curve.x == NULL);
    CHECK_INT_EQ(curve.count, 0);
    advgnn_curve_release(NULL);
    advgnn_ctx_free(ctx);
}

static void test_auroc_undefined_and_invalid(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    const float scores[3] = {0.1f, 0.2f, 0.3f};
    const uint8_t normal[3] = {0, 0, 0};
    const uint8_t anomalous[3] = {1, 1, 1};
    const uint8_t bad_label[3] = {0, 2, 1};
    float with_nan[3] = {0.1f, 0.2f, 0.3f};
    double auroc = -1.0;

    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, normal, 3, &auroc), ADVGNN_ERR_UNDEFINED);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "all 3 samples are normal");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, anomalous, 3, &auroc), ADVGNN_ERR_UNDEFINED);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "all 3 samples are anomalous");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, normal, 0, &auroc), ADVGNN_ERR_UNDEFINED);
    advgnn_ctx_clear_error(ctx);
    CHECK(auroc == -1.0);

    with_nan[1] = NAN;
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, with_nan, bad_label, 3, &auroc), ADVGNN_ERR_NUMERIC);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "sample 1 has score nan");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, bad_label, 3, &auroc), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "sample 1 has label 2");
    advgnn_ctx_free(ctx);
}

int main(void)
{
    test_auroc_small_cases();
    test_auroc_matches_pairwise_count();
    test_roc_curve_points();
    test_auroc_undefined_and_invalid();
    return CHECK_DONE();
}
