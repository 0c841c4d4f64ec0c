/* Exact nearest-neighbour search by blocked matrix products on oneDNN, for
 * memory banks of patch features. */
#ifndef ADVGNN_NNSEARCH_H
#define ADVGNN_NNSEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* For each of the `queries` rows of q (queries x dim, row-major) finds the
 * nearest of the `bank_rows` rows of bank (bank_rows x dim) in Euclidean
 * distance. Writes the squared distance (clamped at 0) to min_sqdist[i] and,
 * when argmin is not NULL, the bank row to argmin[i]. Distances are computed as
 * |q|^2 - 2 q.b + |b|^2 in float32 with oneDNN matmul over blocks of rows,
 * so their absolute error grows with the squared norms. Of bank rows at equal
 * float distance the lowest index is returned. Fails with
 * ADVGNN_ERR_INVALID_ARG for NULL arrays, an empty bank or dim 0,
 * ADVGNN_ERR_NUMERIC when a row contains NaN or infinity,
 * ADVGNN_ERR_BACKEND when oneDNN fails, and ADVGNN_ERR_INTERRUPTED once
 * advgnn_interrupted() is set. queries == 0 does nothing. */
int advgnn_nn_search(advgnn_ctx *ctx, const float *q, size_t queries, const float *bank, size_t bank_rows,
                     size_t dim, float *min_sqdist, int64_t *argmin);

#ifdef __cplusplus
}
#endif
#endif
