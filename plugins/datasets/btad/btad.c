/* The BTAD dataset (beanTech Anomaly Detection; Mishra et al., ISIE 2021),
 * as in btad.zip (BTech_Dataset_transformed/):
 *
 *     <NN>/train/ok/<name>.bmp|png
 *     <NN>/test/ok/<name>.bmp|png, <NN>/test/ko/<name>.bmp|png
 *     <NN>/ground_truth/ko/<name>.png|bmp
 *
 * Products 01 and 03 are BMP, 02 is PNG. A category is a folder with a
 * test/ subfolder. validation_ratio holds out part of train/ok by a seeded
 * shuffle. The core decodes the entry paths. */
#include <string.h>

#include <advgnn/plugin.h>

#include "layout.h"

#define PLUGIN "btad"

static const char *const image_extensions[] = {".bmp", ".png", NULL};
static const char *const mask_extensions[] = {".png", ".bmp"};

static const advgnn_option_spec btad_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive (btad.zip) with the product folders 01, 02, 03, or one product folder",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "category", .type = ADVGNN_OPT_STRING_LIST,
     .help = "products to list, e.g. {\"01\"}; empty lists every product found"},
    {.name = "require_masks", .type = ADVGNN_OPT_BOOL,
     .help = "a test/ko image without ground_truth/ko/<name>.png or .bmp is an error; false keeps it without a mask",
     .def.boolean = 1},
    {.name = "validation_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of train/ok held out as the validation split by a seeded shuffle", .def.number = 0.0,
     .min = 0.0, .max = 0.9, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT, .help = "seed of the shuffle behind validation_ratio", .def.integer = 0,
     .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {0}};

typedef struct btad_state {
    advgnn_source *src;
    layout_categories categories;
    int require_masks;
    double validation_ratio;
    uint64_t seed;
} btad_state;

static void btad_close(void *opaque)
{
    btad_state *state = opaque;

    if (!state)
        return;
    layout_close_categories(state->src, &state->categories);
    advgnn_free(state);
}

static int btad_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    btad_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->require_masks = advgnn_options_bool(opts, "require_masks");
    state->validation_ratio = advgnn_options_number(opts, "validation_ratio");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");

    int rc = layout_open_categories(ctx, PLUGIN, opts, "test",
                                    "<NN>/train/ok, <NN>/test/{ok,ko}", &state->src,
                                    &state->categories);
    if (rc != ADVGNN_OK) {
        btad_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* Returns ground_truth/ko/<stem>.png or .bmp when present, else the .png path.
 * *found is nonzero when the returned file exists. */
static char *mask_of(advgnn_source *src, const char *dir, const char *file, int *found)
{
    char *stem = layout_stem(file);
    char *folder = stem ? layout_join(dir, "ground_truth", "ko") : NULL;
    char *first = NULL;

    *found = 0;
    for (size_t i = 0; folder && i < 2 && !*found; i++) {
        char *name = advgnn_malloc(strlen(stem) + 5);
        char *rel = NULL;
        if (name) {
            strcpy(name, stem);
            strcat(name, mask_extensions[i]);
            rel = layout_join(folder, name, NULL);
        }
        advgnn_free(name);
        if (rel && advgnn_source_stat(src, rel) == ADVGNN_SOURCE_ENTRY_FILE) {
            advgnn_free(first);
            first = rel;
            *found = 1;
        } else if (!first) {
            first = rel;
        } else {
            advgnn_free(rel);
        }
    }
    advgnn_free(folder);
    advgnn_free(stem);
    return first;
}

/* Lists <sub> (train/ok, test/ok or test/ko) of one product. */
static int list_folder(advgnn_ctx *ctx, const btad_state *state, advgnn_sample_sink *sink, const char *category,
                       const char *dir, const char *sub, int defective, int training, layout_tally *tally)
{
    char *folder = layout_join(dir, sub, NULL);
    name_list files = {0};
    advgnn_split *splits = NULL;
    int rc = folder ? layout_list_images(ctx, PLUGIN, state->src, folder, image_extensions, "images", &files)
                    : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK && training) {
        splits = advgnn_calloc(files.count + 1, sizeof(advgnn_split));
        rc = splits ? layout_split_normals(ctx, PLUGIN, folder, files.count, 0.0, state->validation_ratio,
                                           state->seed, splits)
                    : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    }
    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        int has_mask = 0;
        char *rel = layout_join(folder, files.names[i], NULL);
        char *name = layout_join(sub, files.names[i], NULL);
        char *mask = defective ? mask_of(state->src, dir, files.names[i], &has_mask) : NULL;
        if (!rel || !name || (defective && !mask)) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        } else if (defective && !has_mask && state->require_masks) {
            rc = layout_fail_missing_mask(ctx, PLUGIN, state->src, rel, mask,
                                          "add the mask (.png or .bmp) or set require_masks = false");
        } else {
            advgnn_sample_info info = {.category = category,
                                       .split = training ? splits[i] : ADVGNN_SPLIT_TEST,
                                       .anomalous = defective, .defect_type = defective ? "ko" : "good",
                                       .name = name, .mask_threshold = 127};
            rc = layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, has_mask ? mask : NULL);
        }
        advgnn_free(rel);
        advgnn_free(name);
        advgnn_free(mask);
    }
    advgnn_free(splits);
    names_free(&files);
    advgnn_free(folder);
    return rc;
}

static int list_category(advgnn_ctx *ctx, const btad_state *state, advgnn_sample_sink *sink, const char *category)
{
    char *dir = layout_category_dir(&state->categories, category);
    layout_tally tally = {0};
    int rc = dir ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK)
        rc = list_folder(ctx, state, sink, category, dir, "train/ok", 0, 1, &tally);
    if (rc == ADVGNN_OK)
        rc = list_folder(ctx, state, sink, category, dir, "test/ok", 0, 0, &tally);
    if (rc == ADVGNN_OK)
        rc = list_folder(ctx, state, sink, category, dir, "test/ko", 1, 0, &tally);
    rc = layout_finish_category(ctx, PLUGIN, state->src, category, dir ? dir : category, &tally, rc);
    layout_tally_free(&tally);
    advgnn_free(dir);
    return rc;
}

static int btad_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const btad_state *state = opaque;
    int rc = ADVGNN_OK;

    for (size_t i = 0; rc == ADVGNN_OK && i < state->categories.names.count; i++)
        rc = list_category(ctx, state, sink, state->categories.names.names[i]);
    return rc;
}

static const advgnn_dataset_functions btad_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = btad_open,
    .close = btad_close,
    .list = btad_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor btad_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "BTAD products 01-03 (BMP and PNG), from the folder or btad.zip",
    .options = btad_options,
    .functions = &btad_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &btad_descriptor;
}
