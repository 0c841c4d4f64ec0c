/* Dense tensors passed between the core and plugins. */
#ifndef ADVGNN_TENSOR_H
#define ADVGNN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum advgnn_dtype {
    ADVGNN_DTYPE_INVALID = 0,
    ADVGNN_DTYPE_F32 = 1,
    ADVGNN_DTYPE_BF16 = 2,
    ADVGNN_DTYPE_U8 = 3
} advgnn_dtype;

#define ADVGNN_TENSOR_MAX_DIMS 6

/* A strided view of numeric data. Shapes of image batches are (N, C, H, W).
 * `owner` is non-NULL when the tensor owns its block (freed by
 * advgnn_tensor_release); a view borrows data that its caller frees. */
typedef struct advgnn_tensor {
    advgnn_dtype dtype;
    int ndim;
    int64_t shape[ADVGNN_TENSOR_MAX_DIMS];
    int64_t strides[ADVGNN_TENSOR_MAX_DIMS]; /* in elements, not bytes */
    void *data;
    void *owner;
} advgnn_tensor;

/* Returns the size in bytes of one element, or 0 for an invalid dtype. */
size_t advgnn_dtype_size(advgnn_dtype dtype);

/* Returns the number of elements (product of the shape; 1 for ndim 0). */
int64_t advgnn_tensor_numel(const advgnn_tensor *t);

/* Allocates a contiguous, zero-filled, 64-byte aligned tensor that owns its data.
 * On failure *t is left empty (data NULL) and the error names the shape. */
int advgnn_tensor_alloc(advgnn_ctx *ctx, advgnn_tensor *t, advgnn_dtype dtype, int ndim, const int64_t *shape);

/* Describes borrowed contiguous data as a tensor view; never fails. */
advgnn_tensor advgnn_tensor_view(void *data, advgnn_dtype dtype, int ndim, const int64_t *shape);

/* Frees owned data and resets *t to empty. Safe on an empty tensor or a view
 * (a view is only reset). */
void advgnn_tensor_release(advgnn_tensor *t);

/* Returns nonzero when the strides are those of a row-major contiguous layout. */
int advgnn_tensor_is_contiguous(const advgnn_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
