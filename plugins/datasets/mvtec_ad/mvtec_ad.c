/* The MVTec AD dataset (Bergmann et al., CVPR 2019), as published:
 *
 *     <category>/train/good/000.png ...
 *     <category>/test/good/000.png ...
 *     <category>/test/<defect>/000.png ...
 *     <category>/ground_truth/<defect>/000_mask.png ...
 *
 * `root` is the folder or archive that contains the category folders, one
 * category folder itself, or an archive with a single folder around either.
 * A category is a folder with a test/ subfolder. Grayscale categories (grid,
 * screw, zipper) are listed as they are; the core converts every image to
 * three channels. The plugin lists entry paths, and the core decodes them. */
#include <string.h>

#include <advgnn/plugin.h>

#include "layout.h"

#define PLUGIN "mvtec_ad"

static const char *const png_extensions[] = {".png", NULL};

static const advgnn_option_spec mvtec_ad_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive (.tar, .tar.xz, .zip, ...) with the category folders, or one category folder",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "category", .type = ADVGNN_OPT_STRING_LIST,
     .help = "categories to list, e.g. {\"bottle\", \"screw\"}; empty lists every category found"},
    {.name = "require_masks", .type = ADVGNN_OPT_BOOL,
     .help = "a defect image without ground_truth/<defect>/<name>_mask.png is an error; false keeps it without a "
             "mask",
     .def.boolean = 1},
    {.name = "validation_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of train/good held out as the validation split by a seeded shuffle", .def.number = 0.0,
     .min = 0.0, .max = 0.9, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT, .help = "seed of the shuffle behind validation_ratio", .def.integer = 0,
     .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {0}};

typedef struct mvtec_ad_state {
    advgnn_source *src;
    layout_categories categories;
    int require_masks;
    double validation_ratio;
    uint64_t seed;
} mvtec_ad_state;

static void mvtec_ad_close(void *opaque)
{
    mvtec_ad_state *state = opaque;

    if (!state)
        return;
    layout_close_categories(state->src, &state->categories);
    advgnn_free(state);
}

static int mvtec_ad_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    mvtec_ad_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->require_masks = advgnn_options_bool(opts, "require_masks");
    state->validation_ratio = advgnn_options_number(opts, "validation_ratio");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");

    int rc = layout_open_categories(ctx, PLUGIN, opts, "test",
                                    "<category>/train/good, <category>/test/<type>", &state->src,
                                    &state->categories);
    if (rc != ADVGNN_OK) {
        mvtec_ad_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* ---- listing ---------------------------------------------------------------- */

/* Fails for a training folder without PNG images, naming it by its entry
 * path, so a folder inside an archive reads "<archive>!/<folder>". */
static int fail_no_images(advgnn_ctx *ctx, advgnn_source *src, const char *rel)
{
    char *path = advgnn_source_entry_path(src, rel);
    int rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, PLUGIN ": no PNG images in '%s'; add the training images",
                          path ? path : rel);
    advgnn_free(path);
    return rc;
}

/* Lists train/good into the train and validation splits. */
static int list_train(advgnn_ctx *ctx, const mvtec_ad_state *state, advgnn_sample_sink *sink, const char *category,
                      const char *dir, layout_tally *tally)
{
    name_list files;
    char *good = layout_join(dir, "train/good", NULL);
    int rc = good ? layout_list_images(ctx, PLUGIN, state->src, good, png_extensions, "the training images", &files)
                  : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    if (rc != ADVGNN_OK) {
        advgnn_free(good);
        return rc;
    }

    advgnn_split *splits = advgnn_calloc(files.count + 1, sizeof(advgnn_split));
    if (!splits)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    else if (files.count == 0)
        rc = fail_no_images(ctx, state->src, good);
    else
        rc = layout_split_normals(ctx, PLUGIN, good, files.count, 0.0, state->validation_ratio, state->seed, splits);

    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *rel = layout_join(good, files.names[i], NULL);
        char *name = layout_join("train/good", files.names[i], NULL);
        advgnn_sample_info info = {.category = category, .split = splits[i], .defect_type = "good", .name = name,
                                   .mask_threshold = 127};
        rc = rel && name ? layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, NULL)
                         : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        advgnn_free(rel);
        advgnn_free(name);
    }
    advgnn_free(splits);
    advgnn_free(good);
    names_free(&files);
    return rc;
}

/* Returns the mask of test/<type>/<file>: ground_truth/<type>/<stem>_mask.png. */
static char *mask_of(const char *dir, const char *type, const char *file)
{
    char *stem = layout_stem(file);
    char *mask_file = stem ? advgnn_malloc(strlen(stem) + sizeof("_mask.png")) : NULL;
    char *rel = NULL;

    if (mask_file) {
        strcpy(mask_file, stem);
        strcat(mask_file, "_mask.png");
        char *folder = layout_join(dir, "ground_truth", type);
        rel = folder ? layout_join(folder, mask_file, NULL) : NULL;
        advgnn_free(folder);
    }
    advgnn_free(stem);
    advgnn_free(mask_file);
    return rel;
}

/* Lists test/<type>: normal images for "good", defect images with masks otherwise. */
static int list_test_type(advgnn_ctx *ctx, const mvtec_ad_state *state, advgnn_sample_sink *sink,
                          const char *category, const char *dir, const char *type, layout_tally *tally)
{
    name_list files;
    char *folder = layout_join(dir, "test", type);
    int normal = strcmp(type, "good") == 0;
    int rc = folder ? layout_list_images(ctx, PLUGIN, state->src, folder, png_extensions, "test images", &files)
                    : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    if (rc != ADVGNN_OK) {
        advgnn_free(folder);
        return rc;
    }

    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *rel = layout_join(folder, files.names[i], NULL);
        char *name = layout_join("test", type, files.names[i]);
        char *mask = normal ? NULL : mask_of(dir, type, files.names[i]);
        if (!rel || !name || (!normal && !mask)) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        } else {
            int has_mask = mask && advgnn_source_stat(state->src, mask) == ADVGNN_SOURCE_ENTRY_FILE;
            if (!normal && !has_mask && state->require_masks) {
                rc = layout_fail_missing_mask(ctx, PLUGIN, state->src, rel, mask,
                                              "add the mask or set require_masks = false");
            } else {
                advgnn_sample_info info = {.category = category, .split = ADVGNN_SPLIT_TEST, .anomalous = !normal,
                                           .defect_type = type, .name = name, .mask_threshold = 127};
                rc = layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, has_mask ? mask : NULL);
            }
        }
        advgnn_free(rel);
        advgnn_free(name);
        advgnn_free(mask);
    }
    advgnn_free(folder);
    names_free(&files);
    return rc;
}

static int list_category(advgnn_ctx *ctx, const mvtec_ad_state *state, advgnn_sample_sink *sink,
                         const char *category)
{
    char *dir = layout_category_dir(&state->categories, category);
    char *test = dir ? layout_join(dir, "test", NULL) : NULL;
    layout_tally tally = {0};
    name_list types = {0};
    int rc = test ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK)
        rc = list_train(ctx, state, sink, category, dir, &tally);
    if (rc == ADVGNN_OK)
        rc = layout_list(ctx, PLUGIN, state->src, test, ADVGNN_SOURCE_ENTRY_DIR, "the test images", &types);
    for (size_t i = 0; rc == ADVGNN_OK && i < types.count; i++)
        rc = list_test_type(ctx, state, sink, category, dir, types.names[i], &tally);
    rc = layout_finish_category(ctx, PLUGIN, state->src, category, dir ? dir : category, &tally, rc);
    layout_tally_free(&tally);
    names_free(&types);
    advgnn_free(test);
    advgnn_free(dir);
    return rc;
}

static int mvtec_ad_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const mvtec_ad_state *state = opaque;
    int rc = ADVGNN_OK;

    for (size_t i = 0; rc == ADVGNN_OK && i < state->categories.names.count; i++)
        rc = list_category(ctx, state, sink, state->categories.names.names[i]);
    return rc;
}

/* ---- descriptor ------------------------------------------------------------- */

static const advgnn_dataset_functions mvtec_ad_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = mvtec_ad_open,
    .close = mvtec_ad_close,
    .list = mvtec_ad_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor mvtec_ad_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "MVTec AD in its published layout, from the folder or the archive",
    .options = mvtec_ad_options,
    .functions = &mvtec_ad_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &mvtec_ad_descriptor;
}
