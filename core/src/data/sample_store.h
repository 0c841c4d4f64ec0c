/* The samples a dataset plugin lists, grouped by category and split. Private.
 *
 * The store is the advgnn_sample_sink that the plugin's list() fills: every
 * string is copied, a duplicate name within a category and split is rejected.
 * advgnn_sample_store_finish then sorts the samples by category, split and
 * name (byte order), so every later pass over them is in a stable order that
 * does not depend on the order of the plugin's listing. */
#ifndef ADVGNN_DATA_SAMPLE_STORE_H
#define ADVGNN_DATA_SAMPLE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "advgnn/context.h"
#include "advgnn/dataset.h"

/* The category of samples listed with a NULL or empty category. */
#define ADVGNN_DEFAULT_CATEGORY "default"

/* One stored sample: owned copies of the plugin's strings. */
typedef struct advgnn_sample {
    char *category;
    advgnn_split split;
    int anomalous;      /* 0 normal, 1 defective */
    char *defect_type;  /* "good" for normal samples */
    char *name;         /* unique within category and split */
    char *image_path;   /* NULL when the plugin's load() makes the pixels */
    char *mask_path;    /* NULL when no mask was published */
    int mask_threshold; /* a mask pixel > this (0..255) is defective */
    uint64_t key;       /* the plugin's handle for load() */
} advgnn_sample;

typedef struct advgnn_sample_sink advgnn_sample_store;

/* Creates an empty store for the dataset `dataset_name` (used in messages).
 * With `paths_required` nonzero, a sample without image_path is rejected,
 * because the core must decode it (the plugin has no load()). The store keeps
 * `ctx` to report errors of advgnn_sample_sink_add, so the context must
 * outlive it. Free it with advgnn_sample_store_free. */
int advgnn_sample_store_new(advgnn_ctx *ctx, const char *dataset_name, int paths_required,
                            advgnn_sample_store **out);
void advgnn_sample_store_free(advgnn_sample_store *store);

/* Sorts the samples and builds the category index. Adding fails afterwards. */
int advgnn_sample_store_finish(advgnn_sample_store *store, advgnn_ctx *ctx);

/* Returns the number of samples of all categories and splits. */
size_t advgnn_sample_store_count(const advgnn_sample_store *store);

/* Returns the number of categories, and the name of the i-th in byte order
 * (borrowed, valid while the store lives). Only after finish. */
size_t advgnn_sample_store_category_count(const advgnn_sample_store *store);
const char *advgnn_sample_store_category(const advgnn_sample_store *store, size_t index);

/* Returns the index of the category `name`, or -1 when the dataset has none. */
long advgnn_sample_store_find_category(const advgnn_sample_store *store, const char *name);

/* Returns the samples of one category and split, sorted by name: *samples
 * points to *count consecutive entries (borrowed; NULL when none). */
void advgnn_sample_store_split(const advgnn_sample_store *store, size_t category, advgnn_split split,
                               const advgnn_sample **samples, size_t *count);

/* Fills `info` with borrowed pointers to the sample's strings, to hand the
 * sample back to the plugin's load(). */
void advgnn_sample_to_info(const advgnn_sample *sample, advgnn_sample_info *info);

#endif
