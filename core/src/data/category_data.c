/* Decoding and preprocessing the samples of one category. */
#include <string.h>

#include "advgnn/status.h"
#include "data/category_data.h"
#include "data/decode_queue.h"
#include "data/sample_cache.h"

advgnn_preprocess advgnn_run_preprocess(int image_size, int crop_size)
{
    advgnn_preprocess pp = advgnn_preprocess_default(image_size);

    pp.channels = 3;
    if (crop_size > 0) {
        pp.crop_height = crop_size;
        pp.crop_width = crop_size;
    }
    return pp;
}

/* ---- one split --------------------------------------------------------- */

void advgnn_split_data_release(advgnn_split_data *data)
{
    if (!data)
        return;
    advgnn_aligned_free(data->images);
    advgnn_free(data->labels);
    advgnn_free(data->masks);
    advgnn_free(data->has_mask);
    memset(data, 0, sizeof(*data));
}

static int allocate_split(advgnn_ctx *ctx, advgnn_split_data *out)
{
    size_t pixels = (size_t)out->height * (size_t)out->width;
    size_t n = out->count ? out->count : 1;

    if (pixels == 0 || n > SIZE_MAX / (3 * sizeof(float) * pixels))
        return advgnn_failf(ctx, ADVGNN_ERR_LIMIT, "%zu images of %d x %d pixels do not fit in memory", out->count,
                            out->height, out->width);
    out->images = advgnn_aligned_alloc(n * 3 * pixels * sizeof(float));
    out->labels = advgnn_calloc(n, 1);
    if (out->split == ADVGNN_SPLIT_TEST) {
        out->masks = advgnn_calloc(n, pixels);
        out->has_mask = advgnn_calloc(n, 1);
    }
    if (!out->images || !out->labels || (out->split == ADVGNN_SPLIT_TEST && (!out->masks || !out->has_mask)))
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory for %zu preprocessed images of %d x %d pixels",
                            out->count, out->height, out->width);
    return ADVGNN_OK;
}

int advgnn_split_data_prepare(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split split,
                              const advgnn_sample *samples, size_t count, advgnn_split_data *out)
{
    memset(out, 0, sizeof(*out));
    out->split = split;
    out->count = count;
    out->samples = samples;
    out->height = loader->height;
    out->width = loader->width;
    int rc = allocate_split(ctx, out);
    if (rc != ADVGNN_OK)
        advgnn_split_data_release(out);
    return rc;
}

int advgnn_split_data_read_cache(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out,
                                 uint8_t **cached, int *rebuild)
{
    *cached = NULL;
    *rebuild = 0;
    if (!advgnn_sample_cache_enabled(loader) || out->count == 0)
        return ADVGNN_OK;
    *cached = advgnn_calloc(out->count ? out->count : 1, 1);
    if (!*cached)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    int rc = advgnn_sample_cache_read(ctx, loader, out, *cached, rebuild);

    /* Cached samples count as loaded for the progress bar. */
    for (size_t i = 0; rc == ADVGNN_OK && loader->image_done && i < out->count; i++)
        if ((*cached)[i])
            loader->image_done(loader->image_done_user);
    return rc;
}

void advgnn_split_data_complete(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out,
                                int rebuild)
{
    for (size_t i = 0; out->masks && i < out->count; i++)
        out->missing_masks += !out->has_mask[i];
    if (rebuild)
        advgnn_sample_cache_write(ctx, loader, out);
}

/* Decodes the queue on the caller's thread and `threads` OpenMP threads. */
static int decode_foreground(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_decode_queue *queue,
                             int threads)
{
    /* The first sample loads with the caller's context, so opening and
     * indexing an archive logs through it. Archive entry paths need no
     * prefetch, because advgnn_source_read_path reads a whole folder per
     * pass, under a lock. NOTE: a plugin's load() stays on one thread,
     * because the plugin ABI does not promise that it is thread-safe. */
    int parallel = threads > 1 && queue->pending_count > 2 && !(loader->fn && loader->fn->load);
    size_t first = atomic_load(&queue->next);

    if (first < queue->pending_count && atomic_compare_exchange_strong(&queue->next, &first, first + 1)) {
        size_t i = queue->pending[first];
        int rc = advgnn_split_data_load_sample(ctx, loader, queue->out, i);
        if (rc != ADVGNN_OK) {
            /* Later samples are skipped, as the first failure stops a load. */
            advgnn_decode_queue_stop(queue);
            return rc;
        }
        atomic_fetch_add(&queue->decoded, 1);
    }
    if (parallel)
        return advgnn_decode_queue_work_parallel(ctx, queue, threads);
    advgnn_decode_queue_work(queue, ctx);
    return ADVGNN_OK;
}

int advgnn_split_data_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split split,
                           const advgnn_sample *samples, size_t count, advgnn_split_data *out)
{
    int threads = loader->threads > 0 ? loader->threads : advgnn_ctx_threads(ctx);
    advgnn_decode_queue queue = {0};
    uint8_t *cached = NULL;
    int rebuild = 0;
    int rc;

    rc = advgnn_split_data_prepare(ctx, loader, split, samples, count, out);
    if (rc == ADVGNN_OK)
        rc = advgnn_split_data_read_cache(ctx, loader, out, &cached, &rebuild);
    if (rc == ADVGNN_OK)
        rc = advgnn_decode_queue_init(ctx, &queue, loader, out, cached);
    if (rc == ADVGNN_OK)
        rc = decode_foreground(ctx, loader, &queue, threads);
    if (rc == ADVGNN_OK)
        rc = advgnn_decode_queue_result(ctx, &queue);
    if (rc == ADVGNN_OK)
        advgnn_split_data_complete(ctx, loader, out, rebuild);

    advgnn_decode_queue_release(&queue);
    advgnn_free(cached);
    if (rc != ADVGNN_OK)
        advgnn_split_data_release(out);
    return rc;
}

/* ---- one category ------------------------------------------------------ */

void advgnn_category_data_release(advgnn_category_data *data)
{
    if (!data)
        return;
    advgnn_split_prefetch_cancel(data->test_prefetch);
    data->test_prefetch = NULL;
    advgnn_split_data_release(&data->train);
    advgnn_split_data_release(&data->validation);
    advgnn_split_data_release(&data->test);
    data->category = NULL;
}

static void prefix_split_error(advgnn_ctx *ctx, const char *dataset_name, const char *category, advgnn_split split)
{
    advgnn_error_prefixf(ctx, "dataset '%s', category '%s', %s split", dataset_name, category,
                         advgnn_split_name(split));
}

static int load_split(advgnn_ctx *ctx, const advgnn_sample_loader *loader, const advgnn_sample_store *store,
                      size_t category_index, advgnn_split split, advgnn_split_data *out)
{
    const advgnn_sample *samples;
    size_t count;
    int rc;

    advgnn_sample_store_split(store, category_index, split, &samples, &count);
    rc = advgnn_split_data_load(ctx, loader, split, samples, count, out);
    if (rc != ADVGNN_OK)
        prefix_split_error(ctx, loader->dataset_name, advgnn_sample_store_category(store, category_index), split);
    return rc;
}

/* Starts the background decoding of the test split. */
static int start_test(advgnn_ctx *ctx, const advgnn_sample_loader *loader, const advgnn_sample_store *store,
                      size_t category_index, advgnn_category_data *out)
{
    const advgnn_sample *samples;
    size_t count;

    advgnn_sample_store_split(store, category_index, ADVGNN_SPLIT_TEST, &samples, &count);
    int rc = advgnn_split_prefetch_start(ctx, loader, ADVGNN_SPLIT_TEST, samples, count, &out->test_prefetch);
    if (rc != ADVGNN_OK)
        prefix_split_error(ctx, loader->dataset_name, out->category, ADVGNN_SPLIT_TEST);
    return rc;
}

static void warn_missing_masks(advgnn_ctx *ctx, const advgnn_category_data *data)
{
    if (data->test.missing_masks > 0)
        advgnn_log(ctx, ADVGNN_LOG_WARN,
                   "dataset '%s', category '%s': %zu defective test image(s) have no mask; pixel metrics leave them "
                   "out, image metrics include them",
                   data->dataset_name, data->category, data->test.missing_masks);
}

int advgnn_category_data_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                              const advgnn_sample_store *store, size_t category_index, advgnn_category_data *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->category = advgnn_sample_store_category(store, category_index);
    out->dataset_name = loader->dataset_name;

    /* Check that train and test exist before decoding anything. */
    const advgnn_sample *unused;
    size_t train_count;
    advgnn_sample_store_split(store, category_index, ADVGNN_SPLIT_TRAIN, &unused, &train_count);
    advgnn_sample_store_split(store, category_index, ADVGNN_SPLIT_TEST, &unused, &out->test_count);
    if (train_count == 0 || out->test_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "dataset '%s', category '%s': the %s split has no images; check the dataset's root "
                            "folder and layout options",
                            loader->dataset_name, out->category, train_count == 0 ? "train" : "test");

    /* The test split starts after the others, so its background thread does
     * not compete with their decoding on every core. */
    rc = load_split(ctx, loader, store, category_index, ADVGNN_SPLIT_TRAIN, &out->train);
    if (rc == ADVGNN_OK)
        rc = load_split(ctx, loader, store, category_index, ADVGNN_SPLIT_VALIDATION, &out->validation);
    if (rc == ADVGNN_OK && loader->prefetch)
        rc = start_test(ctx, loader, store, category_index, out);
    else if (rc == ADVGNN_OK)
        rc = load_split(ctx, loader, store, category_index, ADVGNN_SPLIT_TEST, &out->test);
    if (rc != ADVGNN_OK) {
        advgnn_category_data_release(out);
        return rc;
    }

    if (!out->test_prefetch)
        warn_missing_masks(ctx, out);
    return ADVGNN_OK;
}

int advgnn_category_data_wait_test(advgnn_ctx *ctx, advgnn_category_data *data)
{
    advgnn_split_prefetch *prefetch = data->test_prefetch;

    if (!prefetch)
        return ADVGNN_OK;
    data->test_prefetch = NULL;
    int rc = advgnn_split_prefetch_finish(prefetch, ctx, &data->test);
    if (rc != ADVGNN_OK) {
        prefix_split_error(ctx, data->dataset_name, data->category, ADVGNN_SPLIT_TEST);
        return rc;
    }
    warn_missing_masks(ctx, data);
    return ADVGNN_OK;
}
