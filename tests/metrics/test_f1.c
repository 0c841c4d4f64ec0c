/* F1-max and its threshold on hand-computed cases, the first maximum among
 * equal F1 values, and the one-class fallbacks. */
#include <stdint.h>

#include "advgnn/advgnn.h"
#include "check.h"

static void test_f1_hand_computed(void)
{
    const float scores[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    const uint8_t labels[4] = {0, 0, 1, 1};
    const float doc_scores[5] = {2.3f, 1.6f, 2.6f, 7.9f, 3.3f};
    const uint8_t doc_labels[5] = {0, 0, 0, 1, 1};
    advgnn_ctx *ctx = advgnn_ctx_new();
    double f1 = -1.0, threshold = -1.0;

    /* At t = 0.35: precision 2/3, recall 1. */
    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, labels, 4, &f1, &threshold), ADVGNN_OK);
    CHECK_NEAR(f1, 2.0 * (2.0 / 3.0) / (2.0 / 3.0 + 1.0 + 1e-10), 1e-15);
    CHECK(threshold == 0.35f);

    /* The example of anomalib's F1AdaptiveThreshold documentation. */
    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, doc_scores, doc_labels, 5, &f1, &threshold), ADVGNN_OK);
    CHECK(threshold == 3.3f);
    CHECK_NEAR(f1, 2.0 / (2.0 + 1e-10), 1e-15);
    advgnn_ctx_free(ctx);
}

static void test_f1_first_maximum_ascending(void)
{
    /* Four anomalous samples. F1 = 2 TP / (TP + FP + P) without the epsilon,
     * so t = 9 (TP 1, FP 1) and t = 3 (TP 2, FP 6) both give exactly 1/3 and
     * every other threshold less. The lower threshold wins. */
    const float scores[24] = {10, 9, 8, 7, 6, 5, 4, 3, 2.5f, 2.4f, 2.3f, 2.2f, 2.1f, 2.0f, 1.9f, 1.8f, 1.7f, 1.6f,
                              1.5f, 1.4f, 1.3f, 1.2f, 1.1f, 0.5f};
    uint8_t labels[24] = {0};
    advgnn_ctx *ctx = advgnn_ctx_new();
    double f1 = -1.0, threshold = -1.0;

    labels[1] = labels[7] = labels[14] = labels[23] = 1;
    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, labels, 24, &f1, &threshold), ADVGNN_OK);
    CHECK_NEAR(f1, 0.25 / (0.75 + 1e-10), 1e-15);
    CHECK(threshold == 3.0);
    advgnn_ctx_free(ctx);
}

static void test_f1_one_class_fallbacks(void)
{
    const float scores[4] = {0.3f, -1.5f, 2.25f, 0.0f};
    const uint8_t normal[4] = {0, 0, 0, 0};
    const uint8_t anomalous[4] = {1, 1, 1, 1};
    advgnn_ctx *ctx = advgnn_ctx_new();
    double f1 = -1.0, threshold = -1.0;

    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);
    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, normal, 4, &f1, &threshold), ADVGNN_OK);
    CHECK(f1 == 0.0);
    CHECK(threshold == 2.25);
    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, anomalous, 4, &f1, &threshold), ADVGNN_OK);
    CHECK_NEAR(f1, 2.0 / (2.0 + 1e-10), 1e-15);
    CHECK(threshold == -1.5);

    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, normal, 0, &f1, &threshold), ADVGNN_ERR_UNDEFINED);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "0 scores");
    advgnn_ctx_free(ctx);
}

static void test_f1_rejects_infinity(void)
{
    const float scores[3] = {0.5f, INFINITY, 0.1f};
    const uint8_t labels[3] = {0, 1, 0};
    advgnn_ctx *ctx = advgnn_ctx_new();
    double f1 = -1.0, threshold = -1.0;

    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, labels, 3, &f1, &threshold), ADVGNN_ERR_NUMERIC);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "sample 1 has score inf");
    CHECK(f1 == -1.0);
    advgnn_ctx_free(ctx);
}

int main(void)
{
    test_f1_hand_computed();
    test_f1_first_maximum_ascending();
    test_f1_one_class_fallbacks();
    test_f1_rejects_infinity();
    return CHECK_DONE();
}
