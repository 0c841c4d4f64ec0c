/* Score fusion by standardization on held-out normal images. */
#include <math.h>

#include "experiment/fusion.h"

void advgnn_moments_add(advgnn_moments *m, const float *values, size_t count)
{
    double chunk_mean = 0.0;
    double chunk_m2 = 0.0;

    if (count == 0)
        return;

    /* Two passes over the chunk: its mean, then its squared deviations. */
    for (size_t i = 0; i < count; i++)
        chunk_mean += values[i];
    chunk_mean /= (double)count;
    for (size_t i = 0; i < count; i++) {
        double d = values[i] - chunk_mean;
        chunk_m2 += d * d;
    }

    /* Merge the chunk into the running moments. */
    double total = (double)m->count + (double)count;
    double delta = chunk_mean - m->mean;
    m->mean += delta * (double)count / total;
    m->m2 += chunk_m2 + delta * delta * (double)m->count * (double)count / total;
    m->count += count;
}

double advgnn_moments_std(const advgnn_moments *m)
{
    if (m->count == 0)
        return 0.0;
    return sqrt(m->m2 / (double)m->count);
}

double advgnn_fusion_divisor(const advgnn_moments *m, int *floored)
{
    double std = advgnn_moments_std(m);
    double scale = hypot(m->mean, std);
    double min_divisor = ADVGNN_FUSION_RELATIVE_STD_FLOOR * scale;
    double divisor = std;

    if (std < min_divisor)
        divisor = min_divisor;
    /* A divisor of 0 means every value was 0, and a non-finite one means
     * overflowed or NaN moments: neither gives a scale. */
    if (!(divisor > 0.0) || !isfinite(divisor))
        divisor = 1.0;
    if (floored)
        *floored = divisor != std;
    return divisor;
}

void advgnn_fusion_accumulate(const float *values, size_t count, const advgnn_moments *stats, double weight,
                              float *sum)
{
    double scale = weight / advgnn_fusion_divisor(stats, NULL);
    double mean = stats->mean;

    for (size_t i = 0; i < count; i++)
        sum[i] += (float)((values[i] - mean) * scale);
}
