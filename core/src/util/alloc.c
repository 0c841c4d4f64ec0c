/* The one allocation hook of the library. Tests use advgnn_alloc_fail_after to
 * make the Nth allocation fail and check that every error path unwinds. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/context.h"

static atomic_size_t alloc_count;    /* allocations since the last advgnn_alloc_fail_after */
static atomic_size_t alloc_fail_at;  /* 0: never fail; else the count that fails */

static int should_fail(void)
{
    size_t n = atomic_fetch_add(&alloc_count, 1) + 1;
    size_t at = atomic_load(&alloc_fail_at);
    return at != 0 && n == at;
}

size_t advgnn_alloc_fail_after(size_t n)
{
    size_t made = atomic_exchange(&alloc_count, 0);
    atomic_store(&alloc_fail_at, n);
    return made;
}

void *advgnn_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *advgnn_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void *advgnn_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void advgnn_free(void *ptr)
{
    free(ptr);
}

char *advgnn_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = advgnn_malloc(len);

    if (copy)
        memcpy(copy, s, len);
    return copy;
}

void *advgnn_aligned_alloc(size_t size)
{
    void *ptr = NULL;

    if (should_fail())
        return NULL;
    if (posix_memalign(&ptr, 64, size ? size : 64) != 0)
        return NULL;
    return ptr;
}

void advgnn_aligned_free(void *ptr)
{
    free(ptr);
}
