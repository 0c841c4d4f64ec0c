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

double advgnn_fusion_divisor(double std)
{
    return std > 0.0 && isfinite(std) ? std : 1.0;
}

void advgnn_fusion_accumulate(const float *values, size_t count, const advgnn_moments *stats, double weight,
                              float *sum)
{
    double scale = weight / advgnn_fusion_divisor(advgnn_moments_std(stats));
    double mean = stats->mean;

    for (size_t i = 0; i < count; i++)
        sum[i] += (float)((values[i] - mean) * scale);
}
