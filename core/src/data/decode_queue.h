/* A queue of the samples of one split that still need decoding. Private.
 *
 * Any number of threads take positions from the queue in ascending order
 * and decode them into the split's buffers: the OpenMP threads of a
 * foreground load, the background thread of a prefetch, or both. Each sample
 * writes only its own slices of the split, so the result does not depend on
 * which thread decoded it. A failed sample keeps its status and message in
 * its own slot, and threads take no position after the lowest failed one.
 * Every position below it was handed out before it, so the failure reported
 * is always the first one in sample order, as on one thread. */
#ifndef ADVGNN_DATA_DECODE_QUEUE_H
#define ADVGNN_DATA_DECODE_QUEUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "data/category_data.h"
#include "util/internal.h"

typedef struct advgnn_decode_queue {
    const advgnn_sample_loader *loader; /* borrowed */
    advgnn_split_data *out;             /* borrowed; allocated */
    size_t *pending;                    /* (pending_count) sample indices, ascending */
    size_t pending_count;
    atomic_size_t next;          /* next position of `pending` to hand out */
    atomic_size_t first_failure; /* lowest failed position; pending_count when none */
    atomic_size_t decoded;       /* positions decoded without error */
    atomic_int stop;             /* nonzero: hand out nothing more */
    int *status;                 /* (pending_count) */
    char **messages;             /* (pending_count) message of each failed position */
} advgnn_decode_queue;

/* Fills the queue with the samples of `out` whose cached[i] is 0 (cached may
 * be NULL: every sample) and sets their labels. */
ADVGNN_INTERNAL int advgnn_decode_queue_init(advgnn_ctx *ctx, advgnn_decode_queue *queue,
                                             const advgnn_sample_loader *loader, advgnn_split_data *out,
                                             const uint8_t *cached);
ADVGNN_INTERNAL void advgnn_decode_queue_release(advgnn_decode_queue *queue);

/* Decodes positions on the calling thread until the queue is empty or
 * stopped. `local` is a context used by this thread alone. Returns the
 * number of positions it decoded. */
ADVGNN_INTERNAL size_t advgnn_decode_queue_work(advgnn_decode_queue *queue, advgnn_ctx *local);

/* Decodes the remaining positions on `threads` OpenMP threads, each with its
 * own context. Fails only when out of memory. */
ADVGNN_INTERNAL int advgnn_decode_queue_work_parallel(advgnn_ctx *ctx, advgnn_decode_queue *queue, int threads);

/* Makes every worker stop after its current sample. */
ADVGNN_INTERNAL void advgnn_decode_queue_stop(advgnn_decode_queue *queue);

/* ---- the steps of a split load, shared with split_prefetch.c ------------ */

/* Sets up *out for `count` samples and allocates its buffers. */
ADVGNN_INTERNAL int advgnn_split_data_prepare(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                                              advgnn_split split, const advgnn_sample *samples, size_t count,
                                              advgnn_split_data *out);

/* Copies cached samples into `out` when the loader has a cache folder.
 * *cached gets a new array (advgnn_free; NULL without a cache) with 1 for
 * each sample copied; *rebuild is set when the file must be rewritten. */
ADVGNN_INTERNAL int advgnn_split_data_read_cache(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                                                 advgnn_split_data *out, uint8_t **cached, int *rebuild);

/* Loads sample `i` on the calling thread: the interrupt check, the label,
 * the pixels and the progress callback. */
ADVGNN_INTERNAL int advgnn_split_data_load_sample(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                                                  advgnn_split_data *out, size_t i);

/* Counts the missing masks of a decoded split and, with `rebuild`, writes
 * its cache file. */
ADVGNN_INTERNAL void advgnn_split_data_complete(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                                                advgnn_split_data *out, int rebuild);

/* Reports the outcome once no thread works on the queue any more: the first
 * failure in sample order with its message, or an interruption when the
 * queue was stopped before it was empty. */
ADVGNN_INTERNAL int advgnn_decode_queue_result(advgnn_ctx *ctx, advgnn_decode_queue *queue);

#endif
