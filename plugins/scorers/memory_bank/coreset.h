/* Greedy k-center coreset selection for the memory_bank scorer. */
#ifndef ADVGNN_MEMORY_BANK_CORESET_H
#define ADVGNN_MEMORY_BANK_CORESET_H

#include <stddef.h>
#include <stdint.h>

#include <advgnn/context.h>

/* How well a selection covers the rows, as distances in the space the
 * selection measured them in (projected or not). */
typedef struct memory_bank_coverage {
    size_t start;         /* the random start row */
    double greedy_radius; /* max over rows of the distance to the selected rows and the start row */
    double radius;        /* max over rows of the distance to the selected rows only */
    double seconds;       /* wall-clock time of the selection */
} memory_bank_coverage;

/* Seconds between the info lines that report the progress of a selection. */
#define MEMORY_BANK_PROGRESS_SECONDS 10.0

/* Selects `k` of the `count` rows (count x dim, row-major) by greedy
 * k-center: each step picks the row farthest from the rows picked so far.
 * As in anomalib's KCenterGreedy, the first distances are measured to a
 * seeded random start row, which is not itself selected unless picked later.
 * NOTE: rows near the start therefore count as covered although no selected
 * row may be near them, so `radius` can exceed `greedy_radius`.
 *
 * With 0 < projection_dim < dim, distances are measured after a random
 * Gaussian projection to projection_dim dimensions (entries N(0, 1 /
 * projection_dim)), which preserves distances approximately at a fraction of
 * the cost; otherwise in the original space.
 *
 * Writes the picked row indices, in order of selection, to selected[0..k),
 * and the coverage. Requires 1 <= k <= count. Equal seeds give equal
 * selections. */
int memory_bank_coreset(advgnn_ctx *ctx, const float *rows, size_t count, size_t dim, size_t k, int projection_dim,
                        uint64_t seed, size_t *selected, memory_bank_coverage *coverage);

/* Runs memory_bank_coreset and logs "selected of total, elapsed" at info level
 * every `progress_seconds` (memory_bank_coreset uses MEMORY_BANK_PROGRESS_SECONDS). */
int memory_bank_coreset_logged(advgnn_ctx *ctx, const float *rows, size_t count, size_t dim, size_t k,
                               int projection_dim, uint64_t seed, double progress_seconds, size_t *selected,
                               memory_bank_coverage *coverage);

#endif
