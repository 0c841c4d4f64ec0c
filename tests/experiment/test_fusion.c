/* Fusion statistics and standardization against hand-computed values. */
#include <math.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "experiment/fusion.h"

static void test_moments_hand_values(void)
{
    const float values[] = {1, 2, 3, 4};
    advgnn_moments whole = {0};
    advgnn_moments halves = {0};
    advgnn_moments uneven = {0};

    /* mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5; 5 / 4 = 1.25. */
    advgnn_moments_add(&whole, values, 4);
    CHECK_INT_EQ(whole.count, 4);
    CHECK_NEAR(whole.mean, 2.5, 1e-15);
    CHECK_NEAR(whole.m2, 5.0, 1e-12);
    CHECK_NEAR(advgnn_moments_std(&whole), sqrt(1.25), 1e-15);

    /* The same values in chunks give the same moments. */
    advgnn_moments_add(&halves, values, 2);
    advgnn_moments_add(&halves, values + 2, 2);
    CHECK_NEAR(halves.mean, 2.5, 1e-15);
    CHECK_NEAR(halves.m2, 5.0, 1e-12);
    advgnn_moments_add(&uneven, values, 1);
    advgnn_moments_add(&uneven, values + 1, 0);
    advgnn_moments_add(&uneven, values + 1, 3);
    CHECK_NEAR(uneven.mean, 2.5, 1e-15);
    CHECK_NEAR(uneven.m2, 5.0, 1e-12);

    advgnn_moments empty = {0};
    CHECK_NEAR(advgnn_moments_std(&empty), 0.0, 0.0);
}

static void test_moments_large_offset(void)
{
    /* 1e6 + {0, 1, 2, 3} in float is exact; the deviations from the mean must
     * survive the offset: std = sqrt(1.25) as above. */
    const float values[] = {1e6f, 1e6f + 1, 1e6f + 2, 1e6f + 3};
    advgnn_moments m = {0};

    for (int i = 0; i < 4; i++)
        advgnn_moments_add(&m, values + i, 1);
    CHECK_NEAR(m.mean, 1e6 + 1.5, 1e-9);
    CHECK_NEAR(advgnn_moments_std(&m), sqrt(1.25), 1e-9);
}

static void test_divisor(void)
{
    CHECK_NEAR(advgnn_fusion_divisor(2.0), 2.0, 0.0);
    CHECK_NEAR(advgnn_fusion_divisor(0.0), 1.0, 0.0);
    CHECK_NEAR(advgnn_fusion_divisor(NAN), 1.0, 0.0);
    CHECK_NEAR(advgnn_fusion_divisor(INFINITY), 1.0, 0.0);
}

static void test_weighted_sum(void)
{
    /* Scorer A: held-out scores {1, 3}: mean 2, std 1; weight 1.
     * Test scores {2, 4} -> z = {0, 2}.
     * Scorer B: held-out scores {10, 10}: mean 10, std 0 -> divisor 1; weight 0.5.
     * Test scores {12, 8} -> 0.5 * {2, -2} = {1, -1}.
     * Fused: {1, 1}. */
    const float held_a[] = {1, 3};
    const float held_b[] = {10, 10};
    const float test_a[] = {2, 4};
    const float test_b[] = {12, 8};
    advgnn_moments a = {0}, b = {0};
    float fused[2] = {0, 0};

    advgnn_moments_add(&a, held_a, 2);
    advgnn_moments_add(&b, held_b, 2);
    advgnn_fusion_accumulate(test_a, 2, &a, 1.0, fused);
    CHECK_NEAR(fused[0], 0.0, 1e-6);
    CHECK_NEAR(fused[1], 2.0, 1e-6);
    advgnn_fusion_accumulate(test_b, 2, &b, 0.5, fused);
    CHECK_NEAR(fused[0], 1.0, 1e-6);
    CHECK_NEAR(fused[1], 1.0, 1e-6);
}

int main(void)
{
    test_moments_hand_values();
    test_moments_large_offset();
    test_divisor();
    test_weighted_sum();
    return CHECK_DONE();
}
