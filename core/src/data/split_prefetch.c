/* Decoding one split on a background thread.
 *
 * The thread reads the sample cache, then takes samples from a decode queue
 * one at a time. finish() takes the rest of the queue on every OpenMP thread
 * of the caller, so a prefetch is never slower than a foreground load by
 * more than the sample the thread is decoding. The split's buffers are
 * allocated up front, so memory is the same as without prefetch.
 *
 * The thread runs under SCHED_IDLE: it decodes only on cores that nothing
 * else wants, so it never preempts the OpenMP team of the computation it
 * overlaps (a preempted team member makes the others spin at barriers).
 * What it has not decoded when the caller needs the split, finish()
 * decodes at normal priority.
 *
 * NOTE: the runner prefetches only the test split. The training images are
 * decoded on every thread before training starts, because training reads
 * them from its first step. */
#define _GNU_SOURCE /* SCHED_IDLE */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <omp.h>

#include "advgnn/status.h"
#include "data/category_data.h"
#include "data/decode_queue.h"

/* Log lines of the thread kept for the caller's context, at most this many. */
#define PREFETCH_LOG_LINES 32

typedef struct prefetch_log_line {
    advgnn_log_level level;
    char *text;
} prefetch_log_line;

struct advgnn_split_prefetch {
    advgnn_sample_loader loader; /* copy without the progress callback */
    advgnn_split_data data;
    advgnn_decode_queue queue;
    uint8_t *cached;  /* (count) 1 for samples copied from the cache, or NULL */
    int rebuild;      /* rewrite the cache file at finish */
    int threads;      /* OpenMP threads of finish() */
    advgnn_ctx *thread_ctx; /* used by the thread alone until it is joined */

    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t queue_ready_cond;
    int queue_ready; /* set by the thread once the queue is filled (or failed) */
    int setup_status; /* the thread's status from reading the cache and filling the queue */
    size_t background_decoded; /* samples the thread decoded; read after the join */

    prefetch_log_line lines[PREFETCH_LOG_LINES];
    size_t line_count;
    size_t lines_dropped;
};

/* ---- log lines of the thread --------------------------------------------- */

/* Keeps a log line of the thread's context; the caller's sink gets it at
 * finish, because a sink need not be thread-safe. */
static void keep_log_line(void *user, advgnn_log_level level, const char *line)
{
    advgnn_split_prefetch *p = user;

    if (p->line_count == PREFETCH_LOG_LINES) {
        p->lines_dropped++;
        return;
    }
    p->lines[p->line_count].level = level;
    p->lines[p->line_count].text = advgnn_strdup(line);
    if (p->lines[p->line_count].text)
        p->line_count++;
    else
        p->lines_dropped++;
}

static void replay_log_lines(advgnn_split_prefetch *p, advgnn_ctx *ctx)
{
    for (size_t i = 0; i < p->line_count; i++) {
        advgnn_log(ctx, p->lines[i].level, "%s", p->lines[i].text);
        advgnn_free(p->lines[i].text);
    }
    if (p->lines_dropped > 0)
        advgnn_log(ctx, ADVGNN_LOG_WARN, "%zu more log line(s) of the %s prefetch were dropped", p->lines_dropped,
                   advgnn_split_name(p->data.split));
    p->line_count = 0;
    p->lines_dropped = 0;
}

/* ---- the thread ---------------------------------------------------------- */

static void publish_setup(advgnn_split_prefetch *p, int status)
{
    pthread_mutex_lock(&p->lock);
    p->setup_status = status;
    p->queue_ready = 1;
    pthread_cond_signal(&p->queue_ready_cond);
    pthread_mutex_unlock(&p->lock);
}

static void *prefetch_main(void *arg)
{
    advgnn_split_prefetch *p = arg;

    /* One core for the background decoding: the resize would otherwise
     * start a full OpenMP team beside the computation it should overlap. */
    omp_set_num_threads(1);
    struct sched_param param = {.sched_priority = 0};
    int err = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param);
    if (err != 0)
        advgnn_log(p->thread_ctx, ADVGNN_LOG_DEBUG,
                   "cannot lower the priority of the %s prefetch thread (%s); it decodes at normal priority",
                   advgnn_split_name(p->data.split), strerror(err));

    int rc = advgnn_split_data_read_cache(p->thread_ctx, &p->loader, &p->data, &p->cached, &p->rebuild);
    if (rc == ADVGNN_OK)
        rc = advgnn_decode_queue_init(p->thread_ctx, &p->queue, &p->loader, &p->data, p->cached);
    publish_setup(p, rc);
    if (rc == ADVGNN_OK)
        p->background_decoded = advgnn_decode_queue_work(&p->queue, p->thread_ctx);
    return NULL;
}

/* ---- start, finish, cancel ----------------------------------------------- */

static void free_prefetch(advgnn_split_prefetch *p)
{
    advgnn_decode_queue_release(&p->queue);
    advgnn_split_data_release(&p->data);
    advgnn_free(p->cached);
    for (size_t i = 0; i < p->line_count; i++)
        advgnn_free(p->lines[i].text);
    advgnn_ctx_free(p->thread_ctx);
    pthread_cond_destroy(&p->queue_ready_cond);
    pthread_mutex_destroy(&p->lock);
    advgnn_free(p);
}

/* Joins the thread after its setup and current sample. */
static void join_thread(advgnn_split_prefetch *p)
{
    if (!p->thread_started)
        return;
    pthread_join(p->thread, NULL);
    p->thread_started = 0;
}

static int start_thread(advgnn_ctx *ctx, advgnn_split_prefetch *p)
{
    p->thread_ctx = advgnn_ctx_new();
    if (!p->thread_ctx)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    advgnn_ctx_set_log_level(p->thread_ctx, advgnn_ctx_log_level(ctx));
    advgnn_ctx_set_log_sink(p->thread_ctx, keep_log_line, p);

    int err = pthread_create(&p->thread, NULL, prefetch_main, p);
    if (err != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "cannot start a thread to decode the %s images: %s",
                            advgnn_split_name(p->data.split), strerror(err));
    p->thread_started = 1;
    return ADVGNN_OK;
}

int advgnn_split_prefetch_start(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split split,
                                const advgnn_sample *samples, size_t count, advgnn_split_prefetch **out)
{
    advgnn_split_prefetch *p = advgnn_calloc(1, sizeof(*p));
    int rc;

    *out = NULL;
    if (!p)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->queue_ready_cond, NULL);
    p->loader = *loader;
    p->loader.image_done = NULL;
    p->loader.image_done_user = NULL;
    p->threads = loader->threads > 0 ? loader->threads : advgnn_ctx_threads(ctx);

    /* Allocation failures show here, on the caller's thread. */
    rc = advgnn_split_data_prepare(ctx, loader, split, samples, count, &p->data);
    if (rc == ADVGNN_OK && !(loader->fn && loader->fn->load))
        rc = start_thread(ctx, p);
    if (rc != ADVGNN_OK) {
        free_prefetch(p);
        return rc;
    }
    *out = p;
    return ADVGNN_OK;
}

/* Waits until the thread has filled the queue; returns its setup status. */
static int wait_for_queue(advgnn_split_prefetch *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->queue_ready)
        pthread_cond_wait(&p->queue_ready_cond, &p->lock);
    int status = p->setup_status;
    pthread_mutex_unlock(&p->lock);
    return status;
}

int advgnn_split_prefetch_finish(advgnn_split_prefetch *p, advgnn_ctx *ctx, advgnn_split_data *out)
{
    int rc;

    memset(out, 0, sizeof(*out));

    /* Without a thread (the plugin's load() makes the pixels) everything
     * loads here. */
    if (!p->thread_started) {
        advgnn_sample_loader loader = p->loader;
        advgnn_split split = p->data.split;
        const advgnn_sample *samples = p->data.samples;
        size_t count = p->data.count;
        free_prefetch(p);
        return advgnn_split_data_load(ctx, &loader, split, samples, count, out);
    }

    /* Help with the samples the thread has not taken yet, on every thread. */
    rc = wait_for_queue(p);
    if (rc == ADVGNN_OK)
        rc = advgnn_decode_queue_work_parallel(ctx, &p->queue, p->threads);
    if (rc != ADVGNN_OK)
        advgnn_decode_queue_stop(&p->queue);
    join_thread(p);

    /* After the join the thread's context and lines belong to this thread. */
    replay_log_lines(p, ctx);
    if (p->setup_status != ADVGNN_OK)
        rc = advgnn_failf(ctx, p->setup_status, "%s", advgnn_ctx_error(p->thread_ctx));
    if (rc == ADVGNN_OK)
        rc = advgnn_decode_queue_result(ctx, &p->queue);
    if (rc == ADVGNN_OK) {
        advgnn_log(ctx, ADVGNN_LOG_INFO, "%s split: %zu of %zu images decoded in the background, %zu from the cache",
                   advgnn_split_name(p->data.split), p->background_decoded, p->data.count,
                   p->data.count - p->queue.pending_count);
        advgnn_split_data_complete(ctx, &p->loader, &p->data, p->rebuild);
        *out = p->data;
        memset(&p->data, 0, sizeof(p->data));
    }
    free_prefetch(p);
    return rc;
}

void advgnn_split_prefetch_cancel(advgnn_split_prefetch *p)
{
    if (!p)
        return;
    if (p->thread_started) {
        wait_for_queue(p);
        advgnn_decode_queue_stop(&p->queue);
        join_thread(p);
    }
    free_prefetch(p);
}
