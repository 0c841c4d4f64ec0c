/* Score fusion: each scorer's image scores and maps are standardized with the
 * mean and standard deviation of its outputs on held-out normal images, then
 * summed with the scorers' weights. Private.
 *
 * Standardizing puts scorers of different units (a kNN distance, a squared
 * reconstruction error) on one scale, so the weights compare like with like. */
#ifndef ADVGNN_EXPERIMENT_FUSION_H
#define ADVGNN_EXPERIMENT_FUSION_H

#include <stddef.h>

/* Running count, mean and sum of squared deviations (M2) of a stream of
 * values, merged chunk by chunk (Chan et al.'s parallel update), so a large
 * stream of map pixels keeps full double precision. */
typedef struct advgnn_moments {
    size_t count;
    double mean;
    double m2;
} advgnn_moments;

/* Adds `count` values to the moments. */
void advgnn_moments_add(advgnn_moments *m, const float *values, size_t count);

/* Returns the population standard deviation (divided by count), 0 when empty. */
double advgnn_moments_std(const advgnn_moments *m);

/* The standardization of one scorer, from its held-out normal outputs. */
typedef struct advgnn_fusion_stats {
    advgnn_moments scores; /* image scores */
    advgnn_moments maps;   /* every pixel of every map */
} advgnn_fusion_stats;

/* Lower bound of the fusion divisor, as a fraction of the scale of a
 * scorer's held-out outputs (their root mean square, sqrt(mean^2 + std^2)).
 *
 * A scorer whose outputs barely move on the held-out normal images has a
 * standard deviation near zero: a saturated reconstruction error, or a spread
 * measured on very few images. Dividing by it turns any small change on a
 * test image into thousands of standard units that swamp the other scorers.
 * The floor is relative, so standardization stays invariant
 * to each scorer's unit: it caps the result at 1 / 1e-3 = 1000 standard units
 * for a test output that differs from the mean by the whole scale. Scorers
 * with a usable spread lie far above it: on MVTec AD bottle at 64 x 64
 * pixels, memory-bank image scores have a standard deviation of 2.6 to 9 % of
 * their mean. */
#define ADVGNN_FUSION_RELATIVE_STD_FLOOR 1e-3

/* Returns the divisor that standardizes outputs with moments `m`: their
 * standard deviation, raised to ADVGNN_FUSION_RELATIVE_STD_FLOOR times their
 * scale when it is smaller. Outputs with no scale at all (every held-out
 * value 0, no values, or non-finite moments) get the divisor 1, so they are
 * only shifted by their mean. Sets *floored (when not NULL) to 1 when the
 * divisor is not the measured standard deviation, else to 0. */
double advgnn_fusion_divisor(const advgnn_moments *m, int *floored);

/* Adds weight * (value - mean) / advgnn_fusion_divisor(stats) of each of
 * `count` values to `sum`. */
void advgnn_fusion_accumulate(const float *values, size_t count, const advgnn_moments *stats, double weight,
                              float *sum);

#endif
