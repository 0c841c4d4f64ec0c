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

static advgnn_moments moments_of(const float *values, size_t count)
{
    advgnn_moments m = {0};

    advgnn_moments_add(&m, values, count);
    return m;
}

static void test_divisor(void)
{
    const float spread[] = {1, 3};
    const float zeros[] = {0, 0, 0};
    advgnn_moments m = moments_of(spread, 2);
    advgnn_moments overflowed = {.count = 2, .mean = INFINITY, .m2 = 0};
    advgnn_moments not_a_number = {.count = 2, .mean = NAN, .m2 = NAN};
    advgnn_moments empty = {0};
    int floored = -1;

    /* mean 2, std 1: far above the floor, so the std itself. */
    CHECK_NEAR(advgnn_fusion_divisor(&m, &floored), 1.0, 0.0);
    CHECK_INT_EQ(floored, 0);
    CHECK_NEAR(advgnn_fusion_divisor(&m, NULL), 1.0, 0.0);

    /* No scale at all: divisor 1, reported as floored. */
    m = moments_of(zeros, 3);
    CHECK_NEAR(advgnn_fusion_divisor(&m, &floored), 1.0, 0.0);
    CHECK_INT_EQ(floored, 1);
    CHECK_NEAR(advgnn_fusion_divisor(&empty, &floored), 1.0, 0.0);
    CHECK_INT_EQ(floored, 1);
    CHECK_NEAR(advgnn_fusion_divisor(&overflowed, &floored), 1.0, 0.0);
    CHECK_INT_EQ(floored, 1);
    CHECK_NEAR(advgnn_fusion_divisor(&not_a_number, &floored), 1.0, 0.0);
    CHECK_INT_EQ(floored, 1);
}

static void test_divisor_floor(void)
{
    /* Constant scores 10: std 0, scale 10, so the divisor is 1e-3 * 10. */
    const float constant[] = {10, 10, 10, 10};
    /* Mean 1000, std 0.1: under 1e-3 * hypot(1000, 0.1) = 1.000000005. */
    const float tight[] = {999.9f, 1000.1f};
    /* Mean 0, std 1e-6: the scale is the std itself, so no floor applies
     * however small the values are. */
    const float centered[] = {-1e-6f, 1e-6f};
    int floored = -1;

    advgnn_moments m = moments_of(constant, 4);
    CHECK_NEAR(advgnn_fusion_divisor(&m, &floored), 1e-2, 1e-12);
    CHECK_INT_EQ(floored, 1);

    m = moments_of(tight, 2);
    CHECK_NEAR(advgnn_fusion_divisor(&m, &floored), 1e-3 * hypot(m.mean, advgnn_moments_std(&m)), 1e-12);
    CHECK_INT_EQ(floored, 1);

    m = moments_of(centered, 2);
    CHECK_NEAR(advgnn_fusion_divisor(&m, &floored), 1e-6, 1e-12);
    CHECK_INT_EQ(floored, 0);
}

static void test_near_constant_scorer_bounded(void)
{
    /* The case that made fusion blow up: a reconstruction scorer at about
     * 6.608 on all 4 validation images (std about 1.2e-4) and 3.1 on an
     * out-of-distribution image. Dividing by the measured std gives about
     * -29000 standard units; the floor 1e-3 * 6.608 bounds it near -530. */
    const float held_out[] = {6.60795f, 6.60810f, 6.60785f, 6.60810f};
    const float test[] = {3.1f};
    advgnn_moments m = moments_of(held_out, 4);
    float fused[1] = {0};
    int floored = -1;

    CHECK(advgnn_moments_std(&m) < 2e-4);
    double divisor = advgnn_fusion_divisor(&m, &floored);
    CHECK_INT_EQ(floored, 1);
    CHECK_NEAR(divisor, 1e-3 * 6.608, 1e-6);

    advgnn_fusion_accumulate(test, 1, &m, 1.0, fused);
    CHECK_NEAR(fused[0], (3.1 - m.mean) / divisor, 1e-2);
    CHECK(fused[0] > -600.0f);
    CHECK(fused[0] < -500.0f);
}

static void test_weighted_sum(void)
{
    /* Scorer A: held-out scores {1, 3}: mean 2, std 1; weight 1.
     * Test scores {2, 4} -> z = {0, 2}.
     * Scorer B: held-out scores {10, 10}: mean 10, std 0 -> divisor
     * 1e-3 * 10 = 0.01; weight 0.5.
     * Test scores {10.02, 9.98} -> 0.5 * {2, -2} = {1, -1}.
     * Fused: {1, 1}. */
    const float held_a[] = {1, 3};
    const float held_b[] = {10, 10};
    const float test_a[] = {2, 4};
    const float test_b[] = {10.02f, 9.98f};
    advgnn_moments a = moments_of(held_a, 2);
    advgnn_moments b = moments_of(held_b, 2);
    float fused[2] = {0, 0};

    advgnn_fusion_accumulate(test_a, 2, &a, 1.0, fused);
    CHECK_NEAR(fused[0], 0.0, 1e-6);
    CHECK_NEAR(fused[1], 2.0, 1e-6);
    advgnn_fusion_accumulate(test_b, 2, &b, 0.5, fused);
    CHECK_NEAR(fused[0], 1.0, 1e-3);
    CHECK_NEAR(fused[1], 1.0, 1e-3);
}

int main(void)
{
    test_moments_hand_values();
    test_moments_large_offset();
    test_divisor();
    test_divisor_floor();
    test_near_constant_scorer_bounded();
    test_weighted_sum();
    return CHECK_DONE();
}
