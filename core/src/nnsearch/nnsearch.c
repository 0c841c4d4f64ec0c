/* Exact nearest-neighbour search: squared Euclidean distances from blocks of
 * queries to blocks of bank rows, computed as |q|^2 - 2 q.b + |b|^2 with the
 * dot products from a oneDNN matmul, then a per-row minimum.
 *
 * Blocking: a block of QUERY_BLOCK queries is multiplied with one bank block
 * of BANK_BLOCK rows at a time, so the dot-product block (1 MiB of floats)
 * stays in the L2 cache while the minimum is taken. The running minimum of
 * each query carries over from one bank block to the next. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "advgnn/nnsearch.h"
#include "util/internal.h"

/* Rows of queries and of the bank per matmul. With bench/nnsearch on 2 Zen 4
 * cores (4096 x 16384 x 384), every pair of 128..512 query rows and 512..4096
 * bank rows ran at 156-178 GFLOP/s, within the noise of a shared machine. */
#define QUERY_BLOCK 256
#define BANK_BLOCK 1024

/* ---- the shared CPU engine ------------------------------------------------ */

/* One engine serves every call; it is created once and lives until the
 * process exits (oneDNN engines are thread-safe). */
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_status_t engine_status;

static void create_engine(void)
{
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
}

static int check_dnnl(advgnn_ctx *ctx, dnnl_status_t status, const char *call, const char *object)
{
    if (status == dnnl_success)
        return ADVGNN_OK;
    return advgnn_failf(ctx, ADVGNN_ERR_BACKEND, "nn_search: oneDNN %s failed for the %s: %s", call, object,
                        dnnl_status2str(status));
}

/* ---- one matmul shape ---------------------------------------------------- */

/* A matmul of `rows` queries (rows x dim, row-major) by `cols` bank rows read
 * in place as the transposed operand (dim x cols with strides 1 and dim),
 * writing rows x cols dot products into the search's dot buffer. The blocks
 * at the end of the queries and of the bank have other shapes, so a search
 * needs up to four of these. */
typedef struct block_matmul {
    dnnl_dim_t rows, cols; /* 0 while not created */
    dnnl_primitive_t primitive;
    dnnl_memory_t src, weights, dst;
} block_matmul;

static void block_matmul_free(block_matmul *mm)
{
    /* The destroy functions accept NULL. */
    dnnl_primitive_destroy(mm->primitive);
    dnnl_memory_destroy(mm->src);
    dnnl_memory_destroy(mm->weights);
    dnnl_memory_destroy(mm->dst);
    memset(mm, 0, sizeof(*mm));
}

static int block_matmul_create(advgnn_ctx *ctx, block_matmul *mm, dnnl_dim_t rows, dnnl_dim_t cols,
                               dnnl_dim_t dim, float *dots)
{
    dnnl_dims_t src_dims = {rows, dim}, src_strides = {dim, 1};
    dnnl_dims_t wei_dims = {dim, cols}, wei_strides = {1, dim};
    dnnl_dims_t dst_dims = {rows, cols}, dst_strides = {cols, 1};
    dnnl_memory_desc_t src_md, wei_md, dst_md;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    int rc;

    rc = check_dnnl(ctx, dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, dnnl_f32, src_strides),
                    "dnnl_memory_desc_init_by_strides", "query block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_memory_desc_init_by_strides(&wei_md, 2, wei_dims, dnnl_f32, wei_strides),
                        "dnnl_memory_desc_init_by_strides", "bank block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_strides),
                        "dnnl_memory_desc_init_by_strides", "dot-product block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_matmul_desc_init(&desc, &src_md, &wei_md, NULL, &dst_md), "dnnl_matmul_desc_init",
                        "matmul");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL),
                        "dnnl_primitive_desc_create", "matmul");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_primitive_create(&mm->primitive, pd), "dnnl_primitive_create", "matmul");
    dnnl_primitive_desc_destroy(pd);

    /* The memory objects start without data; each run points them at its blocks. */
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_memory_create(&mm->src, &src_md, engine, DNNL_MEMORY_NONE), "dnnl_memory_create",
                        "query block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_memory_create(&mm->weights, &wei_md, engine, DNNL_MEMORY_NONE),
                        "dnnl_memory_create", "bank block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_memory_create(&mm->dst, &dst_md, engine, dots), "dnnl_memory_create",
                        "dot-product block");
    if (rc != ADVGNN_OK) {
        block_matmul_free(mm);
        return rc;
    }
    mm->rows = rows;
    mm->cols = cols;
    return ADVGNN_OK;
}

/* Runs the matmul on one query block and one bank block. oneDNN only reads
 * the source and weights, so casting away const is safe. */
static int block_matmul_run(advgnn_ctx *ctx, block_matmul *mm, dnnl_stream_t stream, const float *queries,
                            const float *bank)
{
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, mm->src}, {DNNL_ARG_WEIGHTS, mm->weights}, {DNNL_ARG_DST, mm->dst}};
    int rc;

    rc = check_dnnl(ctx, dnnl_memory_set_data_handle(mm->src, (void *)queries), "dnnl_memory_set_data_handle",
                    "query block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_memory_set_data_handle(mm->weights, (void *)bank), "dnnl_memory_set_data_handle",
                        "bank block");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_primitive_execute(mm->primitive, stream, 3, args), "dnnl_primitive_execute",
                        "matmul");
    if (rc == ADVGNN_OK)
        rc = check_dnnl(ctx, dnnl_stream_wait(stream), "dnnl_stream_wait", "matmul");
    return rc;
}

/* ---- the search ---------------------------------------------------------- */

typedef struct search {
    const float *bank;
    size_t bank_rows, dim;
    float *bank_norms;       /* (bank_rows) |b|^2 */
    float *dots;             /* (QUERY_BLOCK, BANK_BLOCK) q.b of the current blocks */
    float best[QUERY_BLOCK]; /* running min over j of |b_j|^2 - 2 q.b_j */
    int64_t best_row[QUERY_BLOCK];
    block_matmul shapes[4];  /* [2 * last query block + last bank block] */
    dnnl_stream_t stream;
} search;

/* Writes |row|^2 of each row, summed in double so long rows lose no accuracy. */
static void row_norms(const float *rows, size_t count, size_t dim, float *out)
{
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        const float *row = rows + i * dim;
        double sum = 0.0;

        for (size_t k = 0; k < dim; k++)
            sum += (double)row[k] * row[k];
        out[i] = (float)sum;
    }
}

/* Returns the matmul for a block shape, creating it on first use. */
static int shape_for(search *s, advgnn_ctx *ctx, size_t rows, size_t cols, block_matmul **out)
{
    block_matmul *mm = &s->shapes[2 * (rows != QUERY_BLOCK) + (cols != BANK_BLOCK)];

    if (mm->rows == 0) {
        int rc = block_matmul_create(ctx, mm, (dnnl_dim_t)rows, (dnnl_dim_t)cols, (dnnl_dim_t)s->dim, s->dots);

        if (rc != ADVGNN_OK)
            return rc;
    }
    *out = mm;
    return ADVGNN_OK;
}

/* Folds one dot-product block (rows x cols, bank rows from `first`) into
 * the running minima. A vectorizable pass finds each row's minimum. Only a
 * row whose minimum improves is scanned again for its first position, so of
 * rows whose float distances are equal the lowest index wins. */
static void fold_block(search *s, size_t rows, size_t cols, size_t first)
{
    const float *norms = s->bank_norms + first;

    #pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *dot = s->dots + r * cols;
        float block_min = FLT_MAX;

        #pragma omp simd reduction(min : block_min)
        for (size_t c = 0; c < cols; c++) {
            float d = norms[c] - 2.0f * dot[c];

            block_min = d < block_min ? d : block_min;
        }
        if (!(block_min < s->best[r]))
            continue;
        for (size_t c = 0; c < cols; c++) {
            if (norms[c] - 2.0f * dot[c] == block_min) {
                s->best[r] = block_min;
                s->best_row[r] = (int64_t)(first + c);
                break;
            }
        }
    }
}

/* Searches one block of queries against the whole bank. */
static int search_query_block(search *s, advgnn_ctx *ctx, const float *queries, size_t rows, float *min_sqdist,
                              int64_t *argmin)
{
    float query_norms[QUERY_BLOCK];
    int rc;

    for (size_t r = 0; r < rows; r++) {
        s->best[r] = INFINITY;
        s->best_row[r] = -1;
    }
    for (size_t first = 0; first < s->bank_rows; first += BANK_BLOCK) {
        size_t cols = s->bank_rows - first < BANK_BLOCK ? s->bank_rows - first : BANK_BLOCK;
        block_matmul *mm;

        rc = shape_for(s, ctx, rows, cols, &mm);
        if (rc == ADVGNN_OK)
            rc = block_matmul_run(ctx, mm, s->stream, queries, s->bank + first * s->dim);
        if (rc != ADVGNN_OK)
            return rc;
        fold_block(s, rows, cols, first);
    }

    /* Adding |q|^2 last does not change the argmin; rounding can make the
     * difference of nearly equal rows negative, hence the clamp. */
    row_norms(queries, rows, s->dim, query_norms);
    for (size_t r = 0; r < rows; r++) {
        float d = query_norms[r] + s->best[r];

        if (s->best_row[r] < 0 || !isfinite(d))
            return advgnn_failf(ctx, ADVGNN_ERR_NUMERIC,
                                "nn_search: the distance of a query row is not finite; the queries or the bank "
                                "contain NaN or infinity, or values too large for float32 squares");
        min_sqdist[r] = d > 0.0f ? d : 0.0f;
        if (argmin)
            argmin[r] = s->best_row[r];
    }
    return ADVGNN_OK;
}

static void search_free(search *s)
{
    for (int i = 0; i < 4; i++)
        block_matmul_free(&s->shapes[i]);
    dnnl_stream_destroy(s->stream);
    advgnn_aligned_free(s->dots);
    advgnn_free(s->bank_norms);
    advgnn_free(s);
}

static int search_new(advgnn_ctx *ctx, const float *bank, size_t bank_rows, size_t dim, search **out)
{
    search *s = advgnn_calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (!s)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "nn_search: out of memory");
    s->bank = bank;
    s->bank_rows = bank_rows;
    s->dim = dim;
    s->bank_norms = advgnn_malloc(bank_rows * sizeof(float));
    s->dots = advgnn_aligned_alloc((size_t)QUERY_BLOCK * BANK_BLOCK * sizeof(float));
    if (!s->bank_norms || !s->dots) {
        search_free(s);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "nn_search: out of memory for the norms of %zu bank rows",
                            bank_rows);
    }

    /* A stream per call: streams are not shared between threads. */
    rc = check_dnnl(ctx, dnnl_stream_create(&s->stream, engine, dnnl_stream_default_flags), "dnnl_stream_create",
                    "CPU stream");
    if (rc != ADVGNN_OK) {
        search_free(s);
        return rc;
    }
    row_norms(bank, bank_rows, dim, s->bank_norms);

    /* A bank row with NaN or infinity would never compare as nearest and
     * silently drop out of the search. */
    for (size_t i = 0; i < bank_rows; i++) {
        if (!isfinite(s->bank_norms[i])) {
            search_free(s);
            return advgnn_failf(ctx, ADVGNN_ERR_NUMERIC,
                                "nn_search: bank row %zu contains NaN or infinity, or values too large for float32 "
                                "squares",
                                i);
        }
    }
    *out = s;
    return ADVGNN_OK;
}

int advgnn_nn_search(advgnn_ctx *ctx, const float *q, size_t queries, const float *bank, size_t bank_rows,
                     size_t dim, float *min_sqdist, int64_t *argmin)
{
    search *s;
    int rc;

    if (queries == 0)
        return ADVGNN_OK;
    if (!q || !bank || !min_sqdist)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "nn_search: the query, bank and output arrays must not be NULL");
    if (bank_rows == 0 || dim == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "nn_search: invalid sizes: %zu bank rows of dimension %zu; the bank needs at least one "
                            "row and the dimension must be positive",
                            bank_rows, dim);
    if (bank_rows > (size_t)INT64_MAX / dim || queries > (size_t)INT64_MAX / dim)
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "nn_search: %zu x %zu elements exceed the addressable size",
                            bank_rows > queries ? bank_rows : queries, dim);

    pthread_once(&engine_once, create_engine);
    rc = check_dnnl(ctx, engine_status, "dnnl_engine_create", "CPU engine");
    if (rc != ADVGNN_OK)
        return rc;

    rc = search_new(ctx, bank, bank_rows, dim, &s);
    if (rc != ADVGNN_OK)
        return rc;
    for (size_t first = 0; first < queries && rc == ADVGNN_OK; first += QUERY_BLOCK) {
        size_t rows = queries - first < QUERY_BLOCK ? queries - first : QUERY_BLOCK;

        if (advgnn_interrupted()) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_INTERRUPTED, "nn_search: interrupted after %zu of %zu queries", first,
                              queries);
            break;
        }
        rc = search_query_block(s, ctx, q + first * dim, rows, min_sqdist + first, argmin ? argmin + first : NULL);
        if (rc != ADVGNN_OK)
            advgnn_error_prefixf(ctx, "queries %zu..%zu", first, first + rows - 1);
    }
    search_free(s);
    return rc;
}
