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

/* Returns the divisor used for values of standard deviation `std`: `std`
 * itself, or 1 when std is 0 or not finite (constant outputs carry no scale,
 * so they are only shifted by their mean). */
double advgnn_fusion_divisor(double std);

/* Adds weight * (value - mean) / divisor(std) of each of `count` values to
 * `sum`. */
void advgnn_fusion_accumulate(const float *values, size_t count, const advgnn_moments *stats, double weight,
                              float *sum);

#endif
