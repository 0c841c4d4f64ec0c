/* Times advgnn_nn_search on random data.
 *
 * Usage: bench_nnsearch [QUERIES [BANK_ROWS [DIM [REPEATS]]]]
 * (default 50000 50000 384 1). Prints the best wall time of the repeats and
 * the process CPU time of that repeat divided by the thread count. On idle
 * cores the two are close, so the CPU time estimates the cost on a busy
 * machine. Rates count 2 * QUERIES * BANK_ROWS * DIM floating-point
 * operations. Runs on every online core. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "advgnn/context.h"
#include "advgnn/nnsearch.h"
#include "advgnn/rng.h"

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_rows(advgnn_rng *rng, size_t rows, size_t dim)
{
    float *data = advgnn_aligned_alloc(rows * dim * sizeof(float));

    for (size_t i = 0; data && i < rows * dim; i++)
        data[i] = (float)advgnn_rng_uniform(rng);
    return data;
}

int main(int argc, char **argv)
{
    size_t queries = argc > 1 ? strtoull(argv[1], NULL, 10) : 50000;
    size_t bank_rows = argc > 2 ? strtoull(argv[2], NULL, 10) : 50000;
    size_t dim = argc > 3 ? strtoull(argv[3], NULL, 10) : 384;
    int repeats = argc > 4 ? atoi(argv[4]) : 1;
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_rng rng;
    float *q, *bank, *dist;
    int64_t *arg;
    double best = 1e30, best_cpu = 0.0;

    advgnn_rng_seed(&rng, 1);
    q = random_rows(&rng, queries, dim);
    bank = random_rows(&rng, bank_rows, dim);
    dist = advgnn_malloc(queries * sizeof(float));
    arg = advgnn_malloc(queries * sizeof(int64_t));
    if (!ctx || !q || !bank || !dist || !arg) {
        fprintf(stderr, "bench_nnsearch: out of memory\n");
        return 1;
    }

    for (int r = 0; r < repeats; r++) {
        double start = clock_seconds(CLOCK_MONOTONIC), start_cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);

        if (advgnn_nn_search(ctx, q, queries, bank, bank_rows, dim, dist, arg) != ADVGNN_OK) {
            fprintf(stderr, "bench_nnsearch: %s\n", advgnn_ctx_error(ctx));
            return 1;
        }
        double elapsed = clock_seconds(CLOCK_MONOTONIC) - start;
        double cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - start_cpu;

        if (elapsed < best) {
            best = elapsed;
            best_cpu = cpu / advgnn_ctx_threads(ctx);
        }
    }
    printf("nn_search %zu queries x %zu bank rows x %zu dims, %d threads: wall %.3f s (%.1f GFLOP/s), "
           "CPU per thread %.3f s (%.1f GFLOP/s)\n",
           queries, bank_rows, dim, advgnn_ctx_threads(ctx), best, 2.0 * queries * bank_rows * dim / best * 1e-9,
           best_cpu, 2.0 * queries * bank_rows * dim / best_cpu * 1e-9);

    advgnn_aligned_free(q);
    advgnn_aligned_free(bank);
    advgnn_free(dist);
    advgnn_free(arg);
    advgnn_ctx_free(ctx);
    return 0;
}
