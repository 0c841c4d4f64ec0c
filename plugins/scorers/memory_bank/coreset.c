/* Greedy k-center coreset selection, the subsampling PatchCore applies to
 * its memory bank. */
/* clock_gettime */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include <advgnn/rng.h>

#include "coreset.h"

/* Distance evaluations per greedy step below which the step runs on one
 * thread. Every step ends in a synchronization of all threads, and on a
 * machine busy with other processes each one can cost a scheduler time
 * slice. In one measurement on 2 Zen 4 cores at a load average of about 15,
 * 4096 picks from 40960 rows of 12 dimensions took 2.4 s on one thread and
 * 23 s on two. */
#define PARALLEL_MIN_WORK ((size_t)1 << 20)

/* Writes rows x projection into out (count x out_dim); projection is
 * dim x out_dim, row-major. */
static void project_rows(const float *rows, size_t count, size_t dim, const float *projection, size_t out_dim,
                         float *out)
{
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        const float *row = rows + i * dim;
        float *dst = out + i * out_dim;

        memset(dst, 0, out_dim * sizeof(float));
        for (size_t c = 0; c < dim; c++) {
            const float *weights = projection + c * out_dim;
            float x = row[c];

            for (size_t j = 0; j < out_dim; j++)
                dst[j] += x * weights[j];
        }
    }
}

/* Folds the squared distances to one new centre into `guide` (which may
 * include the start row) and `cover` (selected rows only). Returns the
 * unselected row with the largest guide distance, the lowest index among
 * equals whatever the thread count. Selected rows carry guide = -1. */
static size_t update_and_pick(const float *points, size_t count, size_t dim, const float *centre, float *guide,
                              float *cover)
{
    size_t best = 0;
    float best_value = -FLT_MAX;

    #pragma omp parallel if (count * dim >= PARALLEL_MIN_WORK)
    {
        size_t local_best = 0;
        float local_value = -FLT_MAX;

        #pragma omp for schedule(static) nowait
        for (size_t i = 0; i < count; i++) {
            const float *point = points + i * dim;
            float d = 0.0f;

            #pragma omp simd reduction(+ : d)
            for (size_t c = 0; c < dim; c++)
                d += (point[c] - centre[c]) * (point[c] - centre[c]);
            if (d < cover[i])
                cover[i] = d;
            if (d < guide[i])
                guide[i] = d;
            if (guide[i] > local_value) {
                local_value = guide[i];
                local_best = i;
            }
        }
        #pragma omp critical
        {
            if (local_value > best_value || (local_value == best_value && local_best < best)) {
                best_value = local_value;
                best = local_best;
            }
        }
    }
    return best;
}

/* Returns a projection matrix (dim x out_dim) of N(0, 1 / out_dim) entries,
 * or NULL when out of memory. */
static float *random_projection(size_t dim, size_t out_dim, uint64_t seed)
{
    float *matrix = advgnn_malloc(dim * out_dim * sizeof(float));
    advgnn_rng rng;
    double scale = 1.0 / sqrt((double)out_dim);

    if (!matrix)
        return NULL;
    advgnn_rng_seed(&rng, seed ^ 0x70c0ffeeull);
    for (size_t i = 0; i < dim * out_dim; i++)
        matrix[i] = (float)(scale * advgnn_rng_normal(&rng));
    return matrix;
}

/* Seconds on a monotonic clock, for progress lines. */
static double monotonic_seconds(void)
{
    struct timespec now;

    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return 0.0;
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

int memory_bank_coreset(advgnn_ctx *ctx, const float *rows, size_t count, size_t dim, size_t k, int projection_dim,
                        uint64_t seed, size_t *selected, memory_bank_coverage *coverage)
{
    return memory_bank_coreset_logged(ctx, rows, count, dim, k, projection_dim, seed,
                                      MEMORY_BANK_PROGRESS_SECONDS, selected, coverage);
}

int memory_bank_coreset_logged(advgnn_ctx *ctx, const float *rows, size_t count, size_t dim, size_t k,
                               int projection_dim, uint64_t seed, double progress_seconds, size_t *selected,
                               memory_bank_coverage *coverage)
{
    double start_time = monotonic_seconds();
    double next_report = start_time + progress_seconds;
    int project = projection_dim > 0 && (size_t)projection_dim < dim;
    size_t space = project ? (size_t)projection_dim : dim;
    float *points = NULL, *guide = NULL, *cover = NULL;
    advgnn_rng rng;
    size_t next;
    float largest = 0.0f, largest_guide = 0.0f;

    if (k < 1 || k > count)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "memory_bank: cannot select %zu of %zu rows", k, count);

    /* The points the distances are measured between. */
    if (project) {
        float *projection = random_projection(dim, space, seed);

        points = advgnn_malloc(count * space * sizeof(float));
        if (projection && points)
            project_rows(rows, count, dim, projection, space, points);
        advgnn_free(projection);
        if (!projection) {
            advgnn_free(points);
            points = NULL;
        }
    }
    guide = advgnn_malloc(count * sizeof(float));
    cover = advgnn_malloc(count * sizeof(float));
    if ((project && !points) || !guide || !cover) {
        advgnn_free(points);
        advgnn_free(guide);
        advgnn_free(cover);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "memory_bank: out of memory for a coreset of %zu rows", count);
    }
    if (!project)
        points = (float *)rows; /* only read; freed only when projected */

    /* Squared distances: `guide` drives the picks and starts from the random
     * row, `cover` counts the selected rows only and gives the radius. */
    for (size_t i = 0; i < count; i++) {
        guide[i] = FLT_MAX;
        cover[i] = FLT_MAX;
    }
    advgnn_rng_seed(&rng, seed);
    coverage->start = (size_t)advgnn_rng_below(&rng, count);
    next = update_and_pick(points, count, space, points + coverage->start * space, guide, cover);
    for (size_t i = 0; i < count; i++)
        cover[i] = FLT_MAX;

    for (size_t s = 0; s < k; s++) {
        /* A large selection runs for minutes: stop when SIGINT or SIGTERM came. */
        if (advgnn_interrupted()) {
            if (project)
                advgnn_free(points);
            advgnn_free(guide);
            advgnn_free(cover);
            return advgnn_failf(ctx, ADVGNN_ERR_INTERRUPTED,
                                "memory_bank: coreset selection interrupted after %zu of %zu rows", s, k);
        }
        selected[s] = next;
        guide[next] = -1.0f;
        next = update_and_pick(points, count, space, points + next * space, guide, cover);

        /* Selection from a large bank can take minutes, so log how far it got. */
        double now = monotonic_seconds();
        if (now >= next_report && s + 1 < k) {
            advgnn_log(ctx, ADVGNN_LOG_INFO, "memory_bank: coreset selection: %zu of %zu rows selected, %.0f s elapsed",
                       s + 1, k, now - start_time);
            next_report = now + progress_seconds;
        }
    }
    /* Selected rows carry guide -1; their true distance is 0. */
    for (size_t i = 0; i < count; i++) {
        largest = cover[i] > largest ? cover[i] : largest;
        largest_guide = guide[i] > largest_guide ? guide[i] : largest_guide;
    }
    coverage->radius = sqrt((double)largest);
    coverage->greedy_radius = sqrt((double)largest_guide);
    coverage->seconds = monotonic_seconds() - start_time;

    if (project)
        advgnn_free(points);
    advgnn_free(guide);
    advgnn_free(cover);
    return ADVGNN_OK;
}
