/* Decoding and preprocessing the samples of one category. */
#include <string.h>

#include <omp.h>

#include "advgnn/status.h"
#include "data/category_data.h"

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

/* ---- one sample -------------------------------------------------------- */

/* The file (or, for plugin-made pixels, the name) that messages cite. */
static const char *sample_label(const advgnn_sample *s)
{
    return s->image_path ? s->image_path : s->name;
}

/* Produces the 8-bit image and mask of one sample; *mask stays empty when the
 * sample has none. */
static int read_sample(advgnn_ctx *ctx, const advgnn_sample_loader *loader, const advgnn_sample *s,
                       advgnn_image *image, advgnn_image *mask)
{
    int rc;

    if (loader->fn && loader->fn->load) {
        advgnn_sample_info info;
        advgnn_sample_to_info(s, &info);
        rc = loader->fn->load(loader->state, ctx, &info, image, mask);
        if (rc != ADVGNN_OK && advgnn_ctx_error(ctx)[0] == '\0')
            advgnn_failf(ctx, rc, "dataset '%s' failed to load sample '%s' (%s)", loader->dataset_name, s->name,
                         advgnn_status_name(rc));
        return rc;
    }

    rc = advgnn_image_load_file(ctx, s->image_path, loader->max_pixels, image);
    if (rc != ADVGNN_OK)
        return rc;
    if (s->mask_path)
        rc = advgnn_image_load_file(ctx, s->mask_path, loader->max_pixels, mask);
    return rc;
}

static int check_mask_size(advgnn_ctx *ctx, const advgnn_sample *s, const advgnn_image *image,
                           const advgnn_image *mask)
{
    if (mask->width == image->width && mask->height == image->height)
        return ADVGNN_OK;
    return advgnn_failf(ctx, ADVGNN_ERR_FORMAT,
                        "mask '%s' is %d x %d pixels but its image '%s' is %d x %d; a mask must have the size of "
                        "its image",
                        s->mask_path ? s->mask_path : "(from the dataset plugin)", mask->width, mask->height,
                        sample_label(s), image->width, image->height);
}

/* Decodes, converts to RGB and preprocesses sample `i` of `out`. */
static int load_one(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out, size_t i)
{
    const advgnn_sample *s = &out->samples[i];
    size_t pixels = (size_t)out->height * (size_t)out->width;
    advgnn_image image = {0};
    advgnn_image mask = {0};
    advgnn_image rgb = {0};
    int rc;

    rc = read_sample(ctx, loader, s, &image, &mask);
    if (rc == ADVGNN_OK && mask.data)
        rc = check_mask_size(ctx, s, &image, &mask);

    /* Gray and RGBA inputs become RGB, so every encoder receives 3 channels. */
    const advgnn_image *src = &image;
    if (rc == ADVGNN_OK && image.channels != 3) {
        rc = advgnn_image_convert_channels(ctx, &image, 3, &rgb);
        src = &rgb;
    }
    if (rc == ADVGNN_OK)
        rc = advgnn_image_to_tensor(ctx, src, &loader->pp, out->images + i * 3 * pixels);

    if (rc == ADVGNN_OK && out->masks) {
        out->has_mask[i] = !s->anomalous || mask.data != NULL;
        if (mask.data)
            rc = advgnn_mask_to_binary(ctx, &mask, s->mask_threshold, &loader->pp, out->masks + i * pixels);
    }

    /* Name the sample, and its file unless the message already does. */
    if (rc != ADVGNN_OK && s->image_path && !strstr(advgnn_ctx_error(ctx), s->image_path))
        advgnn_error_prefixf(ctx, "sample '%s' (%s)", s->name, s->image_path);
    else if (rc != ADVGNN_OK)
        advgnn_error_prefixf(ctx, "sample '%s'", s->name);
    advgnn_image_release(&image);
    advgnn_image_release(&mask);
    advgnn_image_release(&rgb);
    return rc;
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

/* Loads sample `i` on the calling thread: the interrupt check, the label,
 * the pixels and the progress callback. */
static int load_sample(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out, size_t i)
{
    if (advgnn_interrupted())
        return advgnn_failf(ctx, ADVGNN_ERR_INTERRUPTED, "interrupted while loading the %s images",
                            advgnn_split_name(out->split));
    out->labels[i] = (uint8_t)out->samples[i].anomalous;
    int rc = load_one(ctx, loader, out, i);
    if (rc == ADVGNN_OK && loader->image_done) {
#pragma omp critical(advgnn_split_data_progress)
        loader->image_done(loader->image_done_user);
    }
    return rc;
}

/* Loads samples 1..count-1 on `threads` OpenMP threads. Each sample writes
 * only its own slices of `out`, so the result does not depend on the thread
 * count. Each failing sample keeps its status and message in its own slot,
 * and the first failure in sample order is reported, as on one thread. */
static int load_parallel(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out, int threads)
{
    size_t count = out->count;
    int *status = advgnn_calloc(count, sizeof(*status));
    char **messages = advgnn_calloc(count, sizeof(*messages));
    advgnn_ctx **thread_ctx = advgnn_calloc((size_t)threads, sizeof(*thread_ctx));
    size_t first_failure = count; /* samples after it are skipped */
    int rc = ADVGNN_OK;

    if (!status || !messages || !thread_ctx)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory loading %zu images", count);

    /* A context per thread, because a context's message buffer is not
     * thread-safe. NOTE: their log lines go to the default sink (stderr). */
    for (int t = 0; rc == ADVGNN_OK && t < threads; t++) {
        thread_ctx[t] = advgnn_ctx_new();
        if (!thread_ctx[t])
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory loading %zu images", count);
        else
            advgnn_ctx_set_log_level(thread_ctx[t], advgnn_ctx_log_level(ctx));
    }

    if (rc == ADVGNN_OK) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (size_t i = 1; i < count; i++) {
            size_t failure;
#pragma omp atomic read
            failure = first_failure;
            if (i > failure)
                continue;
            advgnn_ctx *local = thread_ctx[omp_get_thread_num()];
            status[i] = load_sample(local, loader, out, i);
            if (status[i] != ADVGNN_OK) {
                messages[i] = advgnn_strdup(advgnn_ctx_error(local));
                advgnn_ctx_clear_error(local);
#pragma omp critical(advgnn_split_data_failure)
                {
                    if (i < first_failure) {
#pragma omp atomic write
                        first_failure = i;
                    }
                }
            }
        }
    }

    for (size_t i = 1; rc == ADVGNN_OK && i < count; i++)
        if (status[i] != ADVGNN_OK)
            rc = advgnn_failf(ctx, status[i], "%s", messages[i] ? messages[i] : "out of memory");
    for (size_t i = 0; messages && i < count; i++)
        advgnn_free(messages[i]);
    for (int t = 0; thread_ctx && t < threads; t++)
        advgnn_ctx_free(thread_ctx[t]);
    advgnn_free(thread_ctx);
    advgnn_free(messages);
    advgnn_free(status);
    return rc;
}

int advgnn_split_data_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split split,
                           const advgnn_sample *samples, size_t count, advgnn_split_data *out)
{
    int threads = loader->threads > 0 ? loader->threads : advgnn_ctx_threads(ctx);
    int rc;

    memset(out, 0, sizeof(*out));
    out->split = split;
    out->count = count;
    out->samples = samples;
    out->height = loader->height;
    out->width = loader->width;
    rc = allocate_split(ctx, out);

    /* The first sample loads with the caller's context, so opening and
     * indexing an archive logs through it. Archive entry paths need no
     * prefetch, because advgnn_source_read_path reads a whole folder per
     * pass, under a lock. NOTE: a plugin's load() stays on one thread,
     * because the plugin ABI does not promise that it is thread-safe. */
    if (rc == ADVGNN_OK && count > 0)
        rc = load_sample(ctx, loader, out, 0);
    int parallel = threads > 1 && count > 2 && !(loader->fn && loader->fn->load);
    if (rc == ADVGNN_OK && parallel)
        rc = load_parallel(ctx, loader, out, threads);
    for (size_t i = 1; rc == ADVGNN_OK && !parallel && i < count; i++)
        rc = load_sample(ctx, loader, out, i);
    for (size_t i = 0; rc == ADVGNN_OK && out->masks && i < count; i++)
        out->missing_masks += !out->has_mask[i];

    if (rc != ADVGNN_OK)
        advgnn_split_data_release(out);
    return rc;
}

/* ---- one category ------------------------------------------------------ */

void advgnn_category_data_release(advgnn_category_data *data)
{
    if (!data)
        return;
    advgnn_split_data_release(&data->train);
    advgnn_split_data_release(&data->validation);
    advgnn_split_data_release(&data->test);
    data->category = NULL;
}

static int load_split(advgnn_ctx *ctx, const advgnn_sample_loader *loader, const advgnn_sample_store *store,
                      size_t category_index, advgnn_split split, advgnn_split_data *out)
{
    const char *category = advgnn_sample_store_category(store, category_index);
    const advgnn_sample *samples;
    size_t count;
    int rc;

    advgnn_sample_store_split(store, category_index, split, &samples, &count);
    rc = advgnn_split_data_load(ctx, loader, split, samples, count, out);
    if (rc != ADVGNN_OK)
        advgnn_error_prefixf(ctx, "dataset '%s', category '%s', %s split", loader->dataset_name, category,
                             advgnn_split_name(split));
    return rc;
}

int advgnn_category_data_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                              const advgnn_sample_store *store, size_t category_index, advgnn_category_data *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->category = advgnn_sample_store_category(store, category_index);

    /* Check that train and test exist before decoding anything. */
    const advgnn_sample *unused;
    size_t train_count, test_count;
    advgnn_sample_store_split(store, category_index, ADVGNN_SPLIT_TRAIN, &unused, &train_count);
    advgnn_sample_store_split(store, category_index, ADVGNN_SPLIT_TEST, &unused, &test_count);
    if (train_count == 0 || test_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "dataset '%s', category '%s': the %s split has no images; check the dataset's root "
                            "folder and layout options",
                            loader->dataset_name, out->category, train_count == 0 ? "train" : "test");

    rc = load_split(ctx, loader, store, category_index, ADVGNN_SPLIT_TRAIN, &out->train);
    if (rc == ADVGNN_OK)
        rc = load_split(ctx, loader, store, category_index, ADVGNN_SPLIT_VALIDATION, &out->validation);
    if (rc == ADVGNN_OK)
        rc = load_split(ctx, loader, store, category_index, ADVGNN_SPLIT_TEST, &out->test);
    if (rc != ADVGNN_OK) {
        advgnn_category_data_release(out);
        return rc;
    }

    if (out->test.missing_masks > 0)
        advgnn_log(ctx, ADVGNN_LOG_WARN,
                   "dataset '%s', category '%s': %zu defective test image(s) have no mask; pixel metrics leave them "
                   "out, image metrics include them",
                   loader->dataset_name, out->category, out->test.missing_masks);
    return ADVGNN_OK;
}
