/* One source for the ABI test plugins that differ from a well-formed scorer in
 * a single field. tests/plugins/CMakeLists.txt builds it once per case. These
 * definitions select the case:
 *   VARIANT_NAME            plugin name (string literal)
 *   VARIANT_ABI_VERSION     the descriptor's abi_version
 *   VARIANT_FINGERPRINT     the descriptor's type_fingerprint
 *   VARIANT_NO_SCORE        leaves the required slot `score` NULL
 *   VARIANT_NO_FIT_END      leaves the optional slot `fit_end` NULL
 *   VARIANT_BIGGER_TABLE    appends a slot the core does not know (newer minor)
 *   VARIANT_BAD_SCHEMA      declares an enum whose default is not a choice
 *   VARIANT_OLDER_DATASET   a dataset whose table ends before the optional `load`
 *   VARIANT_DESCRIPTOR_SIZE the descriptor's struct_size
 *   VARIANT_TABLE_SIZE      the scorer table's struct_size
 *   VARIANT_RETURNS_NULL    the entry point returns NULL */
#include <stddef.h>

#include "trivial.h"

#ifndef VARIANT_ABI_VERSION
#define VARIANT_ABI_VERSION ADVGNN_ABI_VERSION
#endif
#ifndef VARIANT_FINGERPRINT
#define VARIANT_FINGERPRINT ADVGNN_TYPE_FINGERPRINT
#endif
#ifndef VARIANT_DESCRIPTOR_SIZE
#define VARIANT_DESCRIPTOR_SIZE sizeof(advgnn_plugin_descriptor)
#endif
#ifndef VARIANT_TABLE_SIZE
#define VARIANT_TABLE_SIZE sizeof(advgnn_scorer_functions)
#endif

#ifdef VARIANT_BAD_SCHEMA
static const char *const mode_choices[] = {"fast", "exact", NULL};
static const advgnn_option_spec options[] = {
    {.name = "mode", .type = ADVGNN_OPT_ENUM, .help = "Search mode.", .def.string = "slow", .choices = mode_choices},
    {0},
};
#define VARIANT_OPTIONS options
#else
#define VARIANT_OPTIONS NULL
#endif

#if defined(VARIANT_OLDER_DATASET)

static int dataset_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state)
{
    *state = NULL;
    return ADVGNN_OK;
}

static void dataset_close(void *state)
{
}

static int dataset_list(void *state, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    return ADVGNN_OK;
}

static int dataset_load(void *state, advgnn_ctx *ctx, const advgnn_sample_info *info, advgnn_image *image,
                        advgnn_image *mask)
{
    return ADVGNN_ERR_INTERNAL;
}

/* `load` is set but lies beyond struct_size, as if the plugin had been built
 * before the slot existed: the core must treat it as absent. */
static const advgnn_dataset_functions functions = {
    .struct_size = offsetof(advgnn_dataset_functions, load),
    .open = dataset_open,
    .close = dataset_close,
    .list = dataset_list,
    .load = dataset_load,
};
#define VARIANT_KIND ADVGNN_PLUGIN_DATASET
#define VARIANT_TABLE (&functions)

#elif defined(VARIANT_BIGGER_TABLE)

/* A table from a newer minor version: one more slot at the end. */
typedef struct future_scorer_functions {
    advgnn_scorer_functions base;
    int (*explain)(void *state);
} future_scorer_functions;

static int scorer_explain(void *state)
{
    return ADVGNN_OK;
}

static const future_scorer_functions functions = {
    .base = {.struct_size = sizeof(future_scorer_functions),
             .create = scorer_create,
             .destroy = scorer_destroy,
             .fit_add = scorer_fit_add,
             .fit_end = scorer_fit_end,
             .score = scorer_score},
    .explain = scorer_explain,
};
#define VARIANT_KIND ADVGNN_PLUGIN_SCORER
#define VARIANT_TABLE (&functions)

#else

static const advgnn_scorer_functions functions = {
    .struct_size = VARIANT_TABLE_SIZE,
    .create = scorer_create,
    .destroy = scorer_destroy,
    .fit_add = scorer_fit_add,
#ifndef VARIANT_NO_FIT_END
    .fit_end = scorer_fit_end,
#endif
#ifndef VARIANT_NO_SCORE
    .score = scorer_score,
#endif
};
#define VARIANT_KIND ADVGNN_PLUGIN_SCORER
#define VARIANT_TABLE (&functions)

#endif

static const advgnn_plugin_descriptor descriptor = {
    .abi_version = VARIANT_ABI_VERSION,
    .struct_size = VARIANT_DESCRIPTOR_SIZE,
    .type_fingerprint = VARIANT_FINGERPRINT,
    .kind = VARIANT_KIND,
    .name = VARIANT_NAME,
    .version = "0.0.1",
    .description = "ABI test plugin " VARIANT_NAME ".",
    .options = VARIANT_OPTIONS,
    .functions = VARIANT_TABLE,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
#ifdef VARIANT_RETURNS_NULL
    (void)descriptor;
    return NULL;
#else
    return &descriptor;
#endif
}
