/* The MVTec 3D-AD dataset (Bergmann et al., VISAPP 2022), RGB images only:
 *
 *     <category>/train/good/rgb/000.png ...
 *     <category>/validation/good/rgb/000.png ...     (the validation split)
 *     <category>/test/<type>/rgb/000.png, <category>/test/<type>/gt/000.png
 *
 * The xyz point clouds beside rgb/ are not read. Normal test images are
 * listed without a mask (their published gt/ masks are empty). The core
 * decodes the entry paths. */
#include <string.h>

#include <advgnn/plugin.h>

#include "layout.h"

#define PLUGIN "mvtec_3d_ad"

static const char *const png_extensions[] = {".png", NULL};

static const advgnn_option_spec mvtec_3d_ad_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive (.tar, .tar.xz, .zip, ...) with the category folders, or one category folder",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "category", .type = ADVGNN_OPT_STRING_LIST,
     .help = "categories to list, e.g. {\"tire\"}; empty lists every category found"},
    {.name = "require_masks", .type = ADVGNN_OPT_BOOL,
     .help = "a defect image without test/<type>/gt/<name>.png is an error; false keeps it without a mask",
     .def.boolean = 1},
    {0}};

typedef struct mvtec_3d_ad_state {
    advgnn_source *src;
    layout_categories categories;
    int require_masks;
} mvtec_3d_ad_state;

static void mvtec_3d_ad_close(void *opaque)
{
    mvtec_3d_ad_state *state = opaque;

    if (!state)
        return;
    layout_close_categories(state->src, &state->categories);
    advgnn_free(state);
}

static int mvtec_3d_ad_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    mvtec_3d_ad_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->require_masks = advgnn_options_bool(opts, "require_masks");

    int rc = layout_open_categories(ctx, PLUGIN, opts, "test",
                                    "<category>/train/good/rgb, <category>/test/<type>/rgb and gt",
                                    &state->src, &state->categories);
    if (rc != ADVGNN_OK) {
        mvtec_3d_ad_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* Lists <split_dir>/<type>/rgb, with gt/ masks for defect images. */
static int list_folder(advgnn_ctx *ctx, const mvtec_3d_ad_state *state, advgnn_sample_sink *sink,
                       const char *category, const char *dir, advgnn_split split, const char *split_dir,
                       const char *type, layout_tally *tally)
{
    char *type_dir = layout_join(dir, split_dir, type);
    char *rgb = type_dir ? layout_join(type_dir, "rgb", NULL) : NULL;
    int normal = strcmp(type, "good") == 0;
    name_list files = {0};
    int rc = rgb ? layout_list_images(ctx, PLUGIN, state->src, rgb, png_extensions, "RGB images", &files)
                 : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *rel = layout_join(rgb, files.names[i], NULL);
        char *name = layout_join(split_dir, type, files.names[i]);
        char *mask = normal ? NULL : layout_join(type_dir, "gt", files.names[i]);
        if (!rel || !name || (!normal && !mask)) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        } else {
            int has_mask = mask && advgnn_source_stat(state->src, mask) == ADVGNN_SOURCE_ENTRY_FILE;
            if (!normal && !has_mask && state->require_masks) {
                rc = layout_fail_missing_mask(ctx, PLUGIN, state->src, rel, mask,
                                              "add the mask or set require_masks = false");
            } else {
                advgnn_sample_info info = {.category = category, .split = split, .anomalous = !normal,
                                           .defect_type = type, .name = name, .mask_threshold = 127};
                rc = layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, has_mask ? mask : NULL);
            }
        }
        advgnn_free(rel);
        advgnn_free(name);
        advgnn_free(mask);
    }
    names_free(&files);
    advgnn_free(rgb);
    advgnn_free(type_dir);
    return rc;
}

static int list_category(advgnn_ctx *ctx, const mvtec_3d_ad_state *state, advgnn_sample_sink *sink,
                         const char *category)
{
    char *dir = layout_category_dir(&state->categories, category);
    char *test = dir ? layout_join(dir, "test", NULL) : NULL;
    char *validation = dir ? layout_join(dir, "validation", NULL) : NULL;
    layout_tally tally = {0};
    name_list types = {0};
    int rc = test && validation ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK)
        rc = list_folder(ctx, state, sink, category, dir, ADVGNN_SPLIT_TRAIN, "train", "good", &tally);
    if (rc == ADVGNN_OK && advgnn_source_stat(state->src, validation) == ADVGNN_SOURCE_ENTRY_DIR)
        rc = list_folder(ctx, state, sink, category, dir, ADVGNN_SPLIT_VALIDATION, "validation", "good", &tally);
    if (rc == ADVGNN_OK)
        rc = layout_list(ctx, PLUGIN, state->src, test, ADVGNN_SOURCE_ENTRY_DIR, "the test images", &types);
    for (size_t i = 0; rc == ADVGNN_OK && i < types.count; i++)
        rc = list_folder(ctx, state, sink, category, dir, ADVGNN_SPLIT_TEST, "test", types.names[i], &tally);

    rc = layout_finish_category(ctx, PLUGIN, state->src, category, dir ? dir : category, &tally, rc);
    layout_tally_free(&tally);
    names_free(&types);
    advgnn_free(validation);
    advgnn_free(test);
    advgnn_free(dir);
    return rc;
}

static int mvtec_3d_ad_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const mvtec_3d_ad_state *state = opaque;
    int rc = ADVGNN_OK;

    for (size_t i = 0; rc == ADVGNN_OK && i < state->categories.names.count; i++)
        rc = list_category(ctx, state, sink, state->categories.names.names[i]);
    return rc;
}

static const advgnn_dataset_functions mvtec_3d_ad_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = mvtec_3d_ad_open,
    .close = mvtec_3d_ad_close,
    .list = mvtec_3d_ad_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor mvtec_3d_ad_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "MVTec 3D-AD RGB images with their masks, from the folder or the archive",
    .options = mvtec_3d_ad_options,
    .functions = &mvtec_3d_ad_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &mvtec_3d_ad_descriptor;
}
