/* The Magnetic Tile Defects dataset (Huang et al., "Surface defect saliency
 * of magnetic tile", The Visual Computer 2018):
 *
 *     MT_Free/Imgs/<name>.jpg                       (defect-free)
 *     MT_<Defect>/Imgs/<name>.jpg, <name>.png       (image and mask)
 *
 * for the defects Blowhole, Break, Crack, Fray and Uneven; a sample's defect
 * type is the lowercase folder suffix ("blowhole"). Masks are anti-aliased,
 * so a pixel above mask_threshold (127 by default) is a defect pixel. A
 * seeded shuffle of the defect-free images sends test_normal_ratio of them
 * to test and validation_ratio of the rest to validation. Every defective
 * image goes to test. One category, "magnetic_tile". */
#include <ctype.h>
#include <string.h>

#include <advgnn/plugin.h>

#include "layout.h"

#define PLUGIN "magnetic_tile"
#define CATEGORY "magnetic_tile"

static const char *const jpg_extensions[] = {".jpg", NULL};
static const char *const defect_folders[] = {"MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven"};
#define DEFECT_FOLDERS (sizeof(defect_folders) / sizeof(defect_folders[0]))

static const advgnn_option_spec magnetic_tile_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive with MT_Free and the MT_<defect> folders (or one folder around them)",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "test_normal_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the defect-free images moved to the test split", .def.number = 0.2, .min = 0.0,
     .max = 0.9, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "validation_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the remaining defect-free images held out for validation", .def.number = 0.0,
     .min = 0.0, .max = 0.9, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT,
     .help = "seed of the shuffle that splits the defect-free images; equal seeds and files give equal splits",
     .def.integer = 0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "mask_threshold", .type = ADVGNN_OPT_INT,
     .help = "a mask pixel above this value (0..255 scale) is a defect pixel", .def.integer = 127, .min = 0,
     .max = 254, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {0}};

typedef struct magnetic_tile_state {
    advgnn_source *src;
    char *base; /* folder inside the source with MT_Free */
    double test_normal_ratio;
    double validation_ratio;
    uint64_t seed;
    int mask_threshold;
} magnetic_tile_state;

static void magnetic_tile_close(void *opaque)
{
    magnetic_tile_state *state = opaque;

    if (!state)
        return;
    advgnn_source_close(state->src);
    advgnn_free(state->base);
    advgnn_free(state);
}

static int has_free_folder(advgnn_source *src, const char *rel)
{
    char *path = layout_join(rel, "MT_Free/Imgs", NULL);
    int found = path && advgnn_source_stat(src, path) == ADVGNN_SOURCE_ENTRY_DIR;

    advgnn_free(path);
    return found;
}

static int magnetic_tile_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    magnetic_tile_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->test_normal_ratio = advgnn_options_number(opts, "test_normal_ratio");
    state->validation_ratio = advgnn_options_number(opts, "validation_ratio");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");
    state->mask_threshold = (int)advgnn_options_int(opts, "mask_threshold");

    int rc = layout_open(ctx, PLUGIN, advgnn_options_string(opts, "root"), &state->src);
    if (rc == ADVGNN_OK)
        rc = layout_find_base(ctx, PLUGIN, state->src, has_free_folder,
                              "MT_Free/Imgs/*.jpg and MT_<defect>/Imgs/*.jpg with .png masks", &state->base);
    if (rc != ADVGNN_OK) {
        magnetic_tile_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* ---- listing ---------------------------------------------------------------- */

static int list_normal(advgnn_ctx *ctx, const magnetic_tile_state *state, advgnn_sample_sink *sink,
                       layout_tally *tally)
{
    char *dir = layout_join(state->base, "MT_Free/Imgs", NULL);
    name_list files = {0};
    int rc = dir ? layout_list_images(ctx, PLUGIN, state->src, dir, jpg_extensions, "the defect-free images", &files)
                 : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    advgnn_split *splits = rc == ADVGNN_OK ? advgnn_calloc(files.count + 1, sizeof(advgnn_split)) : NULL;

    if (rc == ADVGNN_OK && !splits)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    if (rc == ADVGNN_OK)
        rc = layout_split_normals(ctx, PLUGIN, dir, files.count, state->test_normal_ratio, state->validation_ratio,
                                  state->seed, splits);
    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *rel = layout_join(dir, files.names[i], NULL);
        char *name = layout_join("MT_Free", files.names[i], NULL);
        advgnn_sample_info info = {.category = CATEGORY, .split = splits[i], .defect_type = "good", .name = name,
                                   .mask_threshold = state->mask_threshold, .key = i};
        rc = rel && name ? layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, NULL)
                         : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        advgnn_free(rel);
        advgnn_free(name);
    }
    advgnn_free(splits);
    names_free(&files);
    advgnn_free(dir);
    return rc;
}

/* Lists MT_<Defect>/Imgs into the test split, each image with its mask. */
static int list_defect(advgnn_ctx *ctx, const magnetic_tile_state *state, advgnn_sample_sink *sink,
                       const char *folder, layout_tally *tally)
{
    char type[32];
    char *dir = layout_join(state->base, folder, "Imgs");
    name_list files = {0};
    int rc = dir ? layout_list_images(ctx, PLUGIN, state->src, dir, jpg_extensions, "defect images", &files)
                 : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    /* "MT_Blowhole" becomes "blowhole". */
    size_t length = strlen(folder + 3) < sizeof(type) - 1 ? strlen(folder + 3) : sizeof(type) - 1;
    for (size_t i = 0; i < length; i++)
        type[i] = (char)tolower((unsigned char)folder[3 + i]);
    type[length] = '\0';

    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *stem = layout_stem(files.names[i]);
        char *mask_file = stem ? advgnn_malloc(strlen(stem) + sizeof(".png")) : NULL;
        if (mask_file) {
            strcpy(mask_file, stem);
            strcat(mask_file, ".png");
        }
        char *rel = layout_join(dir, files.names[i], NULL);
        char *mask = mask_file ? layout_join(dir, mask_file, NULL) : NULL;
        char *name = layout_join(folder, files.names[i], NULL);
        if (!rel || !mask || !name) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        } else if (advgnn_source_stat(state->src, mask) != ADVGNN_SOURCE_ENTRY_FILE) {
            rc = layout_fail_missing_mask(ctx, PLUGIN, state->src, rel, mask,
                                          "every defect image needs its mask beside it");
        } else {
            advgnn_sample_info info = {.category = CATEGORY, .split = ADVGNN_SPLIT_TEST, .anomalous = 1,
                                       .defect_type = type, .name = name, .mask_threshold = state->mask_threshold};
            rc = layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, mask);
        }
        advgnn_free(stem);
        advgnn_free(mask_file);
        advgnn_free(rel);
        advgnn_free(mask);
        advgnn_free(name);
    }
    names_free(&files);
    advgnn_free(dir);
    return rc;
}

static int magnetic_tile_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const magnetic_tile_state *state = opaque;
    layout_tally tally = {0};
    int rc = list_normal(ctx, state, sink, &tally);

    for (size_t i = 0; rc == ADVGNN_OK && i < DEFECT_FOLDERS; i++)
        rc = list_defect(ctx, state, sink, defect_folders[i], &tally);
    if (rc == ADVGNN_OK)
        layout_log_tally(ctx, PLUGIN, CATEGORY, &tally, advgnn_source_path(state->src));
    layout_tally_free(&tally);
    return rc;
}

static const advgnn_dataset_functions magnetic_tile_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = magnetic_tile_open,
    .close = magnetic_tile_close,
    .list = magnetic_tile_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor magnetic_tile_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "Magnetic Tile Defects: MT_Free as normal, five MT_<defect> folders, seeded normal split",
    .options = magnetic_tile_options,
    .functions = &magnetic_tile_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &magnetic_tile_descriptor;
}
