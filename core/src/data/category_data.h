/* Decoding and preprocessing the samples of one category into tensors, the
 * decoded-sample cache of a run. Private.
 *
 * Each file is decoded once per category: the preprocessed images stay in
 * memory while the encoder trains, the scorers fit and the test images are
 * scored, and are freed before the next category. The cost is
 * 12 * H * W bytes per image (3 float channels), e.g. 768 KiB at 256 x 256. */
#ifndef ADVGNN_DATA_CATEGORY_DATA_H
#define ADVGNN_DATA_CATEGORY_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/dataset.h"
#include "advgnn/image.h"
#include "data/sample_store.h"

/* Where the pixels come from and how they are preprocessed. */
typedef struct advgnn_sample_loader {
    const char *dataset_name;          /* for messages */
    const advgnn_dataset_functions *fn; /* fn->load is used when non-NULL */
    void *state;                       /* the dataset plugin's state */
    advgnn_preprocess pp;              /* 3 channels */
    int height;                        /* output of pp */
    int width;
    uint64_t max_pixels;               /* decode limit; 0 = the default */
    int threads;                       /* decoding threads; 0 = the context's (advgnn_ctx_threads) */
    const char *cache_dir;             /* folder of the on-disk sample cache (sample_cache.h); NULL = none */
    int prefetch;                      /* nonzero: advgnn_category_data_load decodes the test split on a
                                          background thread (advgnn_category_data_wait_test) */

    /* Optional: called after each decoded image, e.g. to draw progress. */
    void (*image_done)(void *user);
    void *image_done_user;
} advgnn_sample_loader;

/* The preprocessed samples of one split of a category. */
typedef struct advgnn_split_data {
    advgnn_split split;
    size_t count;
    int height; /* pixels */
    int width;
    float *images;    /* (count, 3, H, W), normalized; 64-byte aligned (advgnn_aligned_free) */
    uint8_t *labels;  /* (count) 0 normal, 1 defective */
    uint8_t *masks;   /* (count, H, W) 0/1, test split only (else NULL); zeros where unknown */
    uint8_t *has_mask; /* (count) 1 when the pixel truth is known, test split only */
    size_t missing_masks; /* defective test images without a mask */
    const advgnn_sample *samples; /* (count) borrowed from the store */
} advgnn_split_data;

/* Decoding of one split on a background thread (split_prefetch.c). */
typedef struct advgnn_split_prefetch advgnn_split_prefetch;

/* The three splits of one category. */
typedef struct advgnn_category_data {
    const char *category; /* borrowed from the store */
    const char *dataset_name; /* borrowed from the loader, for messages */
    advgnn_split_data train;
    advgnn_split_data validation; /* count 0 when the dataset has none */
    advgnn_split_data test;       /* empty while test_prefetch runs */
    advgnn_split_prefetch *test_prefetch; /* non-NULL until advgnn_category_data_wait_test */
    size_t test_count; /* listed test samples, known before they are decoded */
} advgnn_category_data;

/* Loads and preprocesses `count` samples into *out. Pixels come from the
 * plugin's load() when present, else from decoding image_path and mask_path,
 * or from the sample cache when loader->cache_dir is set.
 * A mask whose size differs from its image fails naming both files and sizes.
 * A defective test sample without a mask gets has_mask = 0 and an all-zero
 * mask: pixel metrics leave such images out. Every failure names the sample's
 * file (or name). On failure *out is empty. */
int advgnn_split_data_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split split,
                           const advgnn_sample *samples, size_t count, advgnn_split_data *out);
void advgnn_split_data_release(advgnn_split_data *data);

/* Starts decoding `count` samples on a background thread, so that decoding
 * overlaps what the caller computes meanwhile. The thread decodes with one
 * OpenMP thread, and advgnn_split_prefetch_finish then decodes what is left on
 * every thread. `loader` is copied without its progress callback, and its
 * strings and `samples` must outlive the prefetch. A plugin's load() is never
 * called from the thread. With one, the samples are loaded at finish. */
int advgnn_split_prefetch_start(advgnn_ctx *ctx, const advgnn_sample_loader *loader, advgnn_split split,
                                const advgnn_sample *samples, size_t count, advgnn_split_prefetch **out);

/* Waits for the prefetch, helping with the samples not started yet, joins
 * its thread and frees it. *out then contains the same bytes that
 * advgnn_split_data_load produces, or the call fails with the same message,
 * naming the first failing sample in sample order. Log lines of the thread
 * are written to `ctx` here. */
int advgnn_split_prefetch_finish(advgnn_split_prefetch *prefetch, advgnn_ctx *ctx, advgnn_split_data *out);

/* Stops the prefetch after its current sample, joins its thread and frees
 * it. NULL does nothing. */
void advgnn_split_prefetch_cancel(advgnn_split_prefetch *prefetch);

/* Loads every split of category `category_index` of the store. An empty train
 * or test split fails naming the dataset, category and split; an empty
 * validation split is allowed. With loader->prefetch, the test split is only
 * started in the background, so call advgnn_category_data_wait_test before
 * using out->test. */
int advgnn_category_data_load(advgnn_ctx *ctx, const advgnn_sample_loader *loader,
                              const advgnn_sample_store *store, size_t category_index, advgnn_category_data *out);

/* Completes the test split when it decodes in the background, and does
 * nothing otherwise. Defective test images without masks are counted in a warning.
 * On failure the message names the dataset, category, split and file. */
int advgnn_category_data_wait_test(advgnn_ctx *ctx, advgnn_category_data *data);

/* Cancels a running test prefetch and frees every split. */
void advgnn_category_data_release(advgnn_category_data *data);

/* Returns the preprocessing of a run: ImageNet mean and standard deviation,
 * resize to image_size x image_size, then a centered crop_size square when
 * crop_size > 0. */
advgnn_preprocess advgnn_run_preprocess(int image_size, int crop_size);

#endif
