/* Dense tensor views and owned tensors. */
#include <string.h>

#include "advgnn/status.h"
#include "advgnn/tensor.h"

size_t advgnn_dtype_size(advgnn_dtype dtype)
{
    switch (dtype) {
    case ADVGNN_DTYPE_F32: return 4;
    case ADVGNN_DTYPE_BF16: return 2;
    case ADVGNN_DTYPE_U8: return 1;
    default: return 0;
    }
}

int64_t advgnn_tensor_numel(const advgnn_tensor *t)
{
    int64_t n = 1;

    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static void set_contiguous_strides(advgnn_tensor *t)
{
    int64_t stride = 1;

    for (int i = t->ndim - 1; i >= 0; i--) {
        t->strides[i] = stride;
        stride *= t->shape[i];
    }
}

advgnn_tensor advgnn_tensor_view(void *data, advgnn_dtype dtype, int ndim, const int64_t *shape)
{
    advgnn_tensor t;

    memset(&t, 0, sizeof(t));
    t.dtype = dtype;
    t.ndim = ndim;
    for (int i = 0; i < ndim && i < ADVGNN_TENSOR_MAX_DIMS; i++)
        t.shape[i] = shape[i];
    set_contiguous_strides(&t);
    t.data = data;
    return t;
}

int advgnn_tensor_alloc(advgnn_ctx *ctx, advgnn_tensor *t, advgnn_dtype dtype, int ndim, const int64_t *shape)
{
    size_t elem = advgnn_dtype_size(dtype);
    size_t bytes;
    int64_t numel = 1;

    memset(t, 0, sizeof(*t));
    if (elem == 0 || ndim < 0 || ndim > ADVGNN_TENSOR_MAX_DIMS)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid tensor: dtype %d, %d dimensions", (int)dtype,
                            ndim);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && numel > INT64_MAX / shape[i]))
            return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "invalid tensor dimension %d: %lld", i,
                                (long long)shape[i]);
        numel *= shape[i];
    }
    if ((uint64_t)numel > SIZE_MAX / elem)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "tensor of %lld elements is too large", (long long)numel);

    bytes = (size_t)numel * elem;
    *t = advgnn_tensor_view(NULL, dtype, ndim, shape);
    t->data = advgnn_aligned_alloc(bytes);
    if (!t->data) {
        memset(t, 0, sizeof(*t));
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory allocating a tensor of %zu bytes", bytes);
    }
    memset(t->data, 0, bytes);
    t->owner = t->data;
    return ADVGNN_OK;
}

void advgnn_tensor_release(advgnn_tensor *t)
{
    if (!t)
        return;
    if (t->owner)
        advgnn_aligned_free(t->owner);
    memset(t, 0, sizeof(*t));
}

int advgnn_tensor_is_contiguous(const advgnn_tensor *t)
{
    int64_t stride = 1;

    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != stride)
            return 0;
        stride *= t->shape[i];
    }
    return 1;
}
