/* Decoding the samples of a split from a shared queue of positions. */
#include <string.h>

#include <omp.h>

#include "advgnn/status.h"
#include "data/decode_queue.h"

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

/* Loads sample `i` on the calling thread: the interrupt check, the label,
 * the pixels and the progress callback. */
int advgnn_split_data_load_sample(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split_data *out, size_t i)
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

/* ---- the queue ----------------------------------------------------------- */

int advgnn_decode_queue_init(advgnn_ctx *ctx, advgnn_decode_queue *queue, const advgnn_sample_loader *loader,
                             advgnn_split_data *out, const uint8_t *cached)
{
    size_t count = out->count;

    memset(queue, 0, sizeof(*queue));
    queue->loader = loader;
    queue->out = out;
    queue->pending = advgnn_calloc(count ? count : 1, sizeof(*queue->pending));
    queue->status = advgnn_calloc(count ? count : 1, sizeof(*queue->status));
    queue->messages = advgnn_calloc(count ? count : 1, sizeof(*queue->messages));
    if (!queue->pending || !queue->status || !queue->messages) {
        advgnn_decode_queue_release(queue);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory loading %zu images", count);
    }

    /* Labels come from the listing, so cached samples need them too. */
    for (size_t i = 0; i < count; i++) {
        out->labels[i] = (uint8_t)out->samples[i].anomalous;
        if (!cached || !cached[i])
            queue->pending[queue->pending_count++] = i;
    }
    atomic_init(&queue->next, 0);
    atomic_init(&queue->first_failure, queue->pending_count);
    atomic_init(&queue->decoded, 0);
    atomic_init(&queue->stop, 0);
    return ADVGNN_OK;
}

void advgnn_decode_queue_release(advgnn_decode_queue *queue)
{
    for (size_t i = 0; queue->messages && i < queue->pending_count; i++)
        advgnn_free(queue->messages[i]);
    advgnn_free(queue->messages);
    advgnn_free(queue->status);
    advgnn_free(queue->pending);
    queue->messages = NULL;
    queue->status = NULL;
    queue->pending = NULL;
    queue->pending_count = 0;
}

void advgnn_decode_queue_stop(advgnn_decode_queue *queue)
{
    atomic_store(&queue->stop, 1);
}

/* Hands out the next position; returns 0 when there is none to decode. */
static int take_position(advgnn_decode_queue *queue, size_t *position)
{
    if (atomic_load(&queue->stop))
        return 0;
    *position = atomic_fetch_add(&queue->next, 1);
    return *position < queue->pending_count && *position < atomic_load(&queue->first_failure);
}

/* Lowers first_failure to `position` unless a lower one failed already. */
static void record_failure(advgnn_decode_queue *queue, size_t position)
{
    size_t current = atomic_load(&queue->first_failure);

    while (position < current && !atomic_compare_exchange_weak(&queue->first_failure, &current, position)) {
    }
}

static void decode_position(advgnn_decode_queue *queue, advgnn_ctx *local, size_t position)
{
    size_t i = queue->pending[position];
    int rc = advgnn_split_data_load_sample(local, queue->loader, queue->out, i);

    queue->status[position] = rc;
    if (rc == ADVGNN_OK) {
        atomic_fetch_add(&queue->decoded, 1);
        return;
    }

    /* A NULL message (out of memory) is reported as such by the result. */
    queue->messages[position] = advgnn_strdup(advgnn_ctx_error(local));
    advgnn_ctx_clear_error(local);
    record_failure(queue, position);
}

size_t advgnn_decode_queue_work(advgnn_decode_queue *queue, advgnn_ctx *local)
{
    size_t position;
    size_t done = 0;

    while (take_position(queue, &position)) {
        decode_position(queue, local, position);
        done++;
    }
    return done;
}

int advgnn_decode_queue_work_parallel(advgnn_ctx *ctx, advgnn_decode_queue *queue, int threads)
{
    advgnn_ctx **thread_ctx = advgnn_calloc((size_t)threads, sizeof(*thread_ctx));
    int rc = thread_ctx ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");

    /* A context per thread, because a context's message buffer is not
     * thread-safe. NOTE: their log lines go to the default sink (stderr). */
    for (int t = 0; rc == ADVGNN_OK && t < threads; t++) {
        thread_ctx[t] = advgnn_ctx_new();
        if (!thread_ctx[t])
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
        else
            advgnn_ctx_set_log_level(thread_ctx[t], advgnn_ctx_log_level(ctx));
    }

    if (rc == ADVGNN_OK) {
#pragma omp parallel num_threads(threads)
        advgnn_decode_queue_work(queue, thread_ctx[omp_get_thread_num()]);
    }

    for (int t = 0; thread_ctx && t < threads; t++)
        advgnn_ctx_free(thread_ctx[t]);
    advgnn_free(thread_ctx);
    return rc;
}

int advgnn_decode_queue_result(advgnn_ctx *ctx, advgnn_decode_queue *queue)
{
    size_t failure = atomic_load(&queue->first_failure);

    if (failure < queue->pending_count) {
        const char *message = queue->messages[failure];
        return advgnn_failf(ctx, queue->status[failure], "%s", message ? message : "out of memory");
    }
    if (atomic_load(&queue->decoded) != queue->pending_count)
        return advgnn_failf(ctx, ADVGNN_ERR_INTERRUPTED, "interrupted while loading the %s images",
                            advgnn_split_name(queue->out->split));
    return ADVGNN_OK;
}
