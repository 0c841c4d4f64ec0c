/* Context errors (first error wins, prefixes), the allocation hook, the RNG and
 * atomic file writes. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "util/fsutil.h"
#include "util/internal.h"

static void test_first_error_wins(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();

    CHECK(ctx != NULL);
    CHECK_INT_EQ(advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open '%s'", "a.png"), ADVGNN_ERR_IO);
    CHECK_INT_EQ(advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "later failure"), ADVGNN_ERR_NOMEM);
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), ADVGNN_ERR_IO);
    advgnn_error_prefixf(ctx, "category %s", "bottle");
    CHECK(strcmp(advgnn_ctx_error(ctx), "category bottle: cannot open 'a.png'") == 0);

    /* A plugin's own "name: " prefix is not repeated. */
    advgnn_ctx_clear_error(ctx);
    advgnn_failf(ctx, ADVGNN_ERR_OPTION, "synthetic: option 'kinds' is empty");
    advgnn_error_prefix_plugin(ctx, "dataset", "synthetic");
    CHECK(strcmp(advgnn_ctx_error(ctx), "dataset 'synthetic': option 'kinds' is empty") == 0);
    advgnn_ctx_clear_error(ctx);
    advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open 'x.png'");
    advgnn_error_prefix_plugin(ctx, "dataset", "synthetic");
    CHECK(strcmp(advgnn_ctx_error(ctx), "dataset 'synthetic': cannot open 'x.png'") == 0);

    advgnn_ctx_clear_error(ctx);
    CHECK(strcmp(advgnn_ctx_error(ctx), "") == 0);
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), ADVGNN_OK);
    advgnn_ctx_free(ctx);
}

static void test_alloc_failure_hook(void)
{
    advgnn_alloc_fail_after(2);
    void *a = advgnn_malloc(16);
    void *b = advgnn_malloc(16);
    void *c = advgnn_malloc(16);

    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    CHECK_INT_EQ(advgnn_alloc_fail_after(0), 3);
    advgnn_free(a);
    advgnn_free(c);
}

static void test_rng_reproducible(void)
{
    advgnn_rng r1, r2;
    int counts[10] = {0};

    advgnn_rng_seed(&r1, 42);
    advgnn_rng_seed(&r2, 42);
    for (int i = 0; i < 1000; i++)
        CHECK(advgnn_rng_next(&r1) == advgnn_rng_next(&r2));

    /* Each of ten buckets gets about 1000 of 10000 draws; 5 sigma is about 150. */
    for (int i = 0; i < 10000; i++)
        counts[advgnn_rng_below(&r1, 10)]++;
    for (int i = 0; i < 10; i++)
        CHECK(counts[i] > 850 && counts[i] < 1150);
}

static void test_atomic_write(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    char dir[] = "/tmp/advgnn_test_XXXXXX";
    char *path, *data;
    size_t size;

    CHECK(mkdtemp(dir) != NULL);
    path = advgnn_fs_join(dir, "sub/out.txt");
    CHECK_INT_EQ(advgnn_fs_mkdir_p(ctx, dir), ADVGNN_OK);
    char *sub = advgnn_fs_join(dir, "sub");
    CHECK_INT_EQ(advgnn_fs_mkdir_p(ctx, sub), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, path, "hello", 5), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 100, &data, &size), ADVGNN_OK);
    CHECK_INT_EQ(size, 5);
    CHECK(strcmp(data, "hello") == 0);
    advgnn_free(data);

    CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 2, &data, &size), ADVGNN_ERR_LIMIT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "out.txt");

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, sub, 100, &data, &size), ADVGNN_ERR_IO);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "not a regular file");

    unlink(path);
    rmdir(sub);
    rmdir(dir);
    advgnn_free(path);
    advgnn_free(sub);
    advgnn_ctx_free(ctx);
}

int main(void)
{
    test_first_error_wins();
    test_alloc_failure_hook();
    test_rng_reproducible();
    test_atomic_write();
    return CHECK_DONE();
}
