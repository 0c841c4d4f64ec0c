/* Opens a bundled dataset plugin through its descriptor, lists its samples
 * into the core's sample store and counts them, for the tests of the
 * benchmark dataset plugins. */
#ifndef ADVGNN_TEST_DATASET_HARNESS_H
#define ADVGNN_TEST_DATASET_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "data/sample_store.h"
#include "plugin_harness.h"

/* One option value; `kind` picks the member. */
typedef struct test_option {
    const char *name;
    advgnn_value_kind kind;
    const char *string;
    double number;
    const char *const *strings;
    size_t count;
} test_option;

#define OPT_STRING(n, v) {.name = (n), .kind = ADVGNN_VALUE_STRING, .string = (v)}
#define OPT_NUMBER(n, v) {.name = (n), .kind = ADVGNN_VALUE_NUMBER, .number = (v)}
#define OPT_INT(n, v) {.name = (n), .kind = ADVGNN_VALUE_INTEGER, .number = (v)}
#define OPT_BOOL(n, v) {.name = (n), .kind = ADVGNN_VALUE_BOOLEAN, .number = (v)}
#define OPT_STRINGS(n, v, c) {.name = (n), .kind = ADVGNN_VALUE_STRING_LIST, .strings = (v), .count = (c)}

/* A loaded dataset plugin. */
typedef struct test_dataset {
    void *handle;
    const advgnn_plugin_descriptor *desc;
    const advgnn_dataset_functions *fn;
} test_dataset;

static inline int test_dataset_load(test_dataset *ds, const char *name)
{
    ds->desc = harness_load(name, &ds->handle);
    ds->fn = ds->desc ? ds->desc->functions : NULL;
    return ds->desc != NULL;
}

/* Builds the option set, opens the dataset and lists it into a finished
 * store. Returns the status; on success *store contains the samples. The error
 * message stays in ctx. */
static inline int test_dataset_list(advgnn_ctx *ctx, const test_dataset *ds, const test_option *options,
                                    size_t count, advgnn_sample_store **store)
{
    advgnn_options *opts = harness_options(ctx, ds->desc);
    void *state = NULL;
    int rc = opts ? ADVGNN_OK : ADVGNN_ERR_OPTION;

    *store = NULL;
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        const test_option *o = &options[i];
        advgnn_value value = {.kind = o->kind, .string = o->string, .strings = o->strings, .count = o->count,
                              .number = o->number, .integer = (int64_t)o->number, .boolean = o->number != 0.0};
        rc = advgnn_options_set(opts, ctx, o->name, &value);
    }
    if (rc == ADVGNN_OK)
        rc = advgnn_options_finish(opts, ctx);
    if (rc == ADVGNN_OK)
        rc = ds->fn->open(ctx, opts, &state);
    if (rc == ADVGNN_OK)
        rc = advgnn_sample_store_new(ctx, ds->desc->name, ds->fn->load == NULL, store);
    if (rc == ADVGNN_OK)
        rc = ds->fn->list(state, ctx, *store);
    if (rc == ADVGNN_OK)
        rc = advgnn_sample_store_finish(*store, ctx);
    if (state)
        ds->fn->close(state);
    advgnn_options_free(opts);
    if (rc != ADVGNN_OK) {
        advgnn_sample_store_free(*store);
        *store = NULL;
    }
    return rc;
}

/* Counts the samples of a category and split; `type` NULL counts every type. */
static inline size_t test_count(const advgnn_sample_store *store, const char *category, advgnn_split split,
                                const char *type)
{
    long index = advgnn_sample_store_find_category(store, category);
    const advgnn_sample *samples;
    size_t count, matched = 0;

    if (index < 0)
        return 0;
    advgnn_sample_store_split(store, (size_t)index, split, &samples, &count);
    for (size_t i = 0; i < count; i++)
        matched += !type || strcmp(samples[i].defect_type, type) == 0;
    return matched;
}

/* Returns the sample named `name`, or NULL. */
static inline const advgnn_sample *test_find(const advgnn_sample_store *store, const char *category,
                                             advgnn_split split, const char *name)
{
    long index = advgnn_sample_store_find_category(store, category);
    const advgnn_sample *samples;
    size_t count;

    if (index < 0)
        return NULL;
    advgnn_sample_store_split(store, (size_t)index, split, &samples, &count);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(samples[i].name, name) == 0)
            return &samples[i];
    }
    return NULL;
}

/* Counts the samples of a split with a mask path. */
static inline size_t test_count_masks(const advgnn_sample_store *store, const char *category, advgnn_split split)
{
    long index = advgnn_sample_store_find_category(store, category);
    const advgnn_sample *samples;
    size_t count, masks = 0;

    if (index < 0)
        return 0;
    advgnn_sample_store_split(store, (size_t)index, split, &samples, &count);
    for (size_t i = 0; i < count; i++)
        masks += samples[i].mask_path != NULL;
    return masks;
}

/* Expects listing to fail with `status` and `text` in the message. */
static inline void test_expect_failure(advgnn_ctx *ctx, const test_dataset *ds, const test_option *options,
                                       size_t count, int status, const char *text)
{
    advgnn_sample_store *store = NULL;
    int rc = test_dataset_list(ctx, ds, options, count, &store);

    CHECK_INT_EQ(rc, status);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), text);
    advgnn_ctx_clear_error(ctx);
    advgnn_sample_store_free(store);
}

/* Returns nonzero when the shared sample data is present; tests skip otherwise. */
static inline int test_have_shared_data(void)
{
    struct stat st;
    return stat(ADVGNN_SHARED_DATA, &st) == 0;
}

#endif
