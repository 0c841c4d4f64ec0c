/* The MVTec LOCO AD dataset (Bergmann et al., IJCV 2022), as published:
 *
 *     <category>/train/good/000.png ...
 *     <category>/validation/good/000.png ...          (the validation split)
 *     <category>/test/{good,logical_anomalies,structural_anomalies}/000.png ...
 *     <category>/ground_truth/<type>/000/000.png, 001.png ...  (one PNG per defect)
 *     <category>/defects_config.json
 *
 * Each defect of an image has its own mask, whose pixels carry the defect's
 * pixel_value from defects_config.json. For the ordinary pixel metrics,
 * load() ORs an image's masks into one binary mask. mask_path names the
 * first mask file so that messages cite a real file, but the core reads the
 * masks through load(). For sPRO, load_defect_masks() returns each mask with
 * its saturation area from defects_config.json. */
#include <string.h>

#include <advgnn/metrics.h>
#include <advgnn/plugin.h>

#include "defects_config.h"
#include "layout.h"

#define PLUGIN "mvtec_loco"

static const char *const png_extensions[] = {".png", NULL};

static const advgnn_option_spec mvtec_loco_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive (.tar, .tar.xz, .zip, ...) with the category folders, or one category folder",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "category", .type = ADVGNN_OPT_STRING_LIST,
     .help = "categories to list, e.g. {\"juice_bottle\"}; empty lists every category found"},
    {.name = "require_masks", .type = ADVGNN_OPT_BOOL,
     .help = "a defect image without a ground_truth/<type>/<name>/ folder of masks is an error; false keeps it "
             "without masks",
     .def.boolean = 1},
    {0}};

typedef struct mvtec_loco_state {
    advgnn_source *src;
    layout_categories categories;
    defects_config *configs; /* (categories.names.count) one per category */
    int require_masks;
} mvtec_loco_state;

static void mvtec_loco_close(void *opaque)
{
    mvtec_loco_state *state = opaque;

    if (!state)
        return;
    for (size_t i = 0; state->configs && i < state->categories.names.count; i++)
        defects_config_free(&state->configs[i]);
    advgnn_free(state->configs);
    layout_close_categories(state->src, &state->categories);
    advgnn_free(state);
}

/* Reads and parses <category>/defects_config.json. */
static int read_config(advgnn_ctx *ctx, mvtec_loco_state *state, size_t index)
{
    char *dir = layout_category_dir(&state->categories, state->categories.names.names[index]);
    char *rel = dir ? layout_join(dir, "defects_config.json", NULL) : NULL;
    char *path = rel ? advgnn_source_entry_path(state->src, rel) : NULL;
    void *text = NULL;
    size_t size = 0;
    int rc = path ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK && advgnn_source_stat(state->src, rel) != ADVGNN_SOURCE_ENTRY_FILE)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                          PLUGIN ": '%s' not found; every MVTec LOCO AD category has its defects_config.json", path);
    if (rc == ADVGNN_OK)
        rc = advgnn_source_read(state->src, ctx, rel, &text, &size);
    if (rc == ADVGNN_OK)
        rc = defects_config_parse(ctx, path, text, &state->configs[index]);
    advgnn_free(text);
    advgnn_free(path);
    advgnn_free(rel);
    advgnn_free(dir);
    return rc;
}

static int mvtec_loco_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    mvtec_loco_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->require_masks = advgnn_options_bool(opts, "require_masks");

    int rc = layout_open_categories(ctx, PLUGIN, opts, "test",
                                    "<category>/train/good, <category>/test/<type>, <category>/defects_config.json",
                                    &state->src, &state->categories);
    if (rc == ADVGNN_OK) {
        state->configs = advgnn_calloc(state->categories.names.count, sizeof(defects_config));
        if (!state->configs)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    }
    for (size_t i = 0; rc == ADVGNN_OK && i < state->categories.names.count; i++)
        rc = read_config(ctx, state, i);
    if (rc != ADVGNN_OK) {
        mvtec_loco_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* ---- listing ---------------------------------------------------------------- */

/* Returns the ground-truth folder of test/<type>/<file>: ground_truth/<type>/<stem>. */
static char *masks_dir_of(const char *dir, const char *type, const char *file)
{
    char *stem = layout_stem(file);
    char *folder = stem ? layout_join(dir, "ground_truth", type) : NULL;
    char *rel = folder ? layout_join(folder, stem, NULL) : NULL;

    advgnn_free(stem);
    advgnn_free(folder);
    return rel;
}

/* Lists <split folder>/<type> with the masks of defect images. `key` is the
 * category index, which load() uses to find the category folder. */
static int list_folder(advgnn_ctx *ctx, const mvtec_loco_state *state, advgnn_sample_sink *sink, size_t category,
                       advgnn_split split, const char *split_dir, const char *type, layout_tally *tally)
{
    const char *name = state->categories.names.names[category];
    char *dir = layout_category_dir(&state->categories, name);
    char *folder = dir ? layout_join(dir, split_dir, type) : NULL;
    int normal = strcmp(type, "good") == 0;
    name_list files = {0};
    int rc = folder ? layout_list_images(ctx, PLUGIN, state->src, folder, png_extensions, "images", &files)
                    : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *rel = layout_join(folder, files.names[i], NULL);
        char *sample_name = layout_join(split_dir, type, files.names[i]);
        char *masks_dir = normal ? NULL : masks_dir_of(dir, type, files.names[i]);
        name_list masks = {0};

        if (!rel || !sample_name || (!normal && !masks_dir)) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        } else if (!normal && advgnn_source_stat(state->src, masks_dir) == ADVGNN_SOURCE_ENTRY_DIR) {
            rc = layout_list_images(ctx, PLUGIN, state->src, masks_dir, png_extensions, "masks", &masks);
        }
        if (rc == ADVGNN_OK && !normal && masks.count == 0 && state->require_masks) {
            char *image_path = advgnn_source_entry_path(state->src, rel);
            char *masks_path = advgnn_source_entry_path(state->src, masks_dir);
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                              PLUGIN ": defect image '%s' has no masks in '%s'; add them or set require_masks = false",
                              image_path ? image_path : rel, masks_path ? masks_path : masks_dir);
            advgnn_free(image_path);
            advgnn_free(masks_path);
        }
        char *first_mask = masks.count ? layout_join(masks_dir, masks.names[0], NULL) : NULL;
        if (rc == ADVGNN_OK && masks.count && !first_mask)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        if (rc == ADVGNN_OK) {
            advgnn_sample_info info = {.category = name, .split = split, .anomalous = !normal, .defect_type = type,
                                       .name = sample_name, .mask_threshold = 0, .key = category};
            rc = layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, rel, first_mask);
        }
        advgnn_free(first_mask);
        names_free(&masks);
        advgnn_free(rel);
        advgnn_free(sample_name);
        advgnn_free(masks_dir);
    }
    names_free(&files);
    advgnn_free(folder);
    advgnn_free(dir);
    return rc;
}

static int list_category(advgnn_ctx *ctx, const mvtec_loco_state *state, advgnn_sample_sink *sink, size_t index)
{
    const char *category = state->categories.names.names[index];
    char *dir = layout_category_dir(&state->categories, category);
    char *test = dir ? layout_join(dir, "test", NULL) : NULL;
    char *validation = dir ? layout_join(dir, "validation", NULL) : NULL;
    layout_tally tally = {0};
    name_list types = {0};
    int rc = test && validation ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK)
        rc = list_folder(ctx, state, sink, index, ADVGNN_SPLIT_TRAIN, "train", "good", &tally);
    if (rc == ADVGNN_OK && advgnn_source_stat(state->src, validation) == ADVGNN_SOURCE_ENTRY_DIR)
        rc = list_folder(ctx, state, sink, index, ADVGNN_SPLIT_VALIDATION, "validation", "good", &tally);
    if (rc == ADVGNN_OK)
        rc = layout_list(ctx, PLUGIN, state->src, test, ADVGNN_SOURCE_ENTRY_DIR, "the test images", &types);
    for (size_t i = 0; rc == ADVGNN_OK && i < types.count; i++)
        rc = list_folder(ctx, state, sink, index, ADVGNN_SPLIT_TEST, "test", types.names[i], &tally);

    rc = layout_finish_category(ctx, PLUGIN, state->src, category, dir ? dir : category, &tally, rc);
    if (rc == ADVGNN_OK)
        advgnn_log(ctx, ADVGNN_LOG_INFO, PLUGIN ": category %s: %zu defect kinds in defects_config.json", category,
                   state->configs[index].count);
    layout_tally_free(&tally);
    names_free(&types);
    advgnn_free(validation);
    advgnn_free(test);
    advgnn_free(dir);
    return rc;
}

static int mvtec_loco_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const mvtec_loco_state *state = opaque;
    int rc = ADVGNN_OK;

    for (size_t i = 0; rc == ADVGNN_OK && i < state->categories.names.count; i++)
        rc = list_category(ctx, state, sink, i);
    return rc;
}

/* ---- loading ---------------------------------------------------------------- */

/* Returns the path inside the source of a sample's file `name` (relative to
 * its category folder), or NULL when out of memory. */
static char *sample_rel(const mvtec_loco_state *state, const advgnn_sample_info *info, const char *name)
{
    if (info->key >= state->categories.names.count)
        return NULL;
    char *dir = layout_category_dir(&state->categories, state->categories.names.names[info->key]);
    char *rel = dir ? layout_join(dir, name, NULL) : NULL;

    advgnn_free(dir);
    return rel;
}

/* Decodes one file of the source. */
static int decode(advgnn_ctx *ctx, const mvtec_loco_state *state, const char *rel, advgnn_image *out)
{
    void *data = NULL;
    size_t size = 0;
    char *path = advgnn_source_entry_path(state->src, rel);
    int rc = path ? advgnn_source_read(state->src, ctx, rel, &data, &size)
                  : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK)
        rc = advgnn_image_decode(ctx, data, size, path, 0, out);
    advgnn_free(data);
    advgnn_free(path);
    return rc;
}

/* Lists the mask files of a defect sample: ground_truth/<type>/<stem>/ *.png. */
static int list_masks(advgnn_ctx *ctx, const mvtec_loco_state *state, const advgnn_sample_info *info,
                      char **masks_dir, name_list *masks)
{
    /* The name is "test/<type>/<file>". */
    const char *type = info->name + strlen("test/");
    char *type_only = advgnn_strdup(type);
    char *slash = type_only ? strchr(type_only, '/') : NULL;
    char *dir = NULL;
    int rc = ADVGNN_OK;

    masks->names = NULL;
    masks->count = 0;
    *masks_dir = NULL;
    if (!slash || strncmp(info->name, "test/", 5) != 0) {
        advgnn_free(type_only);
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, PLUGIN ": sample '%s' is not a test image", info->name);
    }
    *slash = '\0';
    dir = sample_rel(state, info, "");
    *masks_dir = dir ? masks_dir_of(dir, type_only, slash + 1) : NULL;
    if (!*masks_dir)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    else if (advgnn_source_stat(state->src, *masks_dir) == ADVGNN_SOURCE_ENTRY_DIR)
        rc = layout_list_images(ctx, PLUGIN, state->src, *masks_dir, png_extensions, "masks", masks);
    advgnn_free(dir);
    advgnn_free(type_only);
    return rc;
}

/* Returns the nonzero value of a mask (first channel), 0 when it has none, or
 * -1 when it has several, which the published masks never do. */
static int mask_value(const advgnn_image *mask, size_t *area)
{
    size_t pixels = (size_t)mask->width * (size_t)mask->height;
    const uint8_t *data = mask->data;
    int value = 0;

    *area = 0;
    for (size_t p = 0; p < pixels; p++) {
        int v = data[p * (size_t)mask->channels];
        if (v == 0)
            continue;
        if (value && v != value)
            return -1;
        value = v;
        (*area)++;
    }
    return value;
}

/* ORs the masks into one 1-channel 0/255 mask of the image's size. */
static int union_masks(advgnn_ctx *ctx, const mvtec_loco_state *state, const advgnn_sample_info *info,
                       advgnn_image *out)
{
    char *masks_dir = NULL;
    name_list masks;
    int rc = list_masks(ctx, state, info, &masks_dir, &masks);

    for (size_t i = 0; rc == ADVGNN_OK && i < masks.count; i++) {
        advgnn_image mask = {0};
        char *rel = layout_join(masks_dir, masks.names[i], NULL);
        rc = rel ? decode(ctx, state, rel, &mask) : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        if (rc == ADVGNN_OK && i == 0)
            rc = advgnn_image_alloc(ctx, out, mask.width, mask.height, 1, ADVGNN_PIXEL_U8);
        if (rc == ADVGNN_OK && (mask.width != out->width || mask.height != out->height))
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": mask '%s' is %d x %d, but the first mask of '%s' is "
                                                     "%d x %d",
                              masks.names[i], mask.width, mask.height, masks_dir, out->width, out->height);
        size_t pixels = (size_t)out->width * (size_t)out->height;
        for (size_t p = 0; rc == ADVGNN_OK && p < pixels; p++) {
            if (((const uint8_t *)mask.data)[p * (size_t)mask.channels])
                ((uint8_t *)out->data)[p] = 255;
        }
        advgnn_image_release(&mask);
        advgnn_free(rel);
    }
    if (rc != ADVGNN_OK)
        advgnn_image_release(out);
    names_free(&masks);
    advgnn_free(masks_dir);
    return rc;
}

static int mvtec_loco_load(void *opaque, advgnn_ctx *ctx, const advgnn_sample_info *info, advgnn_image *image,
                           advgnn_image *mask)
{
    const mvtec_loco_state *state = opaque;
    char *rel = sample_rel(state, info, info->name);
    int rc = rel ? decode(ctx, state, rel, image) : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    advgnn_free(rel);
    if (rc == ADVGNN_OK && info->anomalous)
        rc = union_masks(ctx, state, info, mask);
    if (rc != ADVGNN_OK)
        advgnn_image_release(image);
    return rc;
}

/* Decodes mask `index` of the sample into out->masks and looks up its
 * saturation area by its pixel value. */
static int load_one_defect(advgnn_ctx *ctx, const mvtec_loco_state *state, const advgnn_sample_info *info,
                           const char *rel, size_t index, advgnn_defect_masks *out)
{
    const defects_config *config = &state->configs[info->key];
    advgnn_image mask = {0};
    size_t area = 0;
    int rc = decode(ctx, state, rel, &mask);

    if (rc == ADVGNN_OK && index == 0) {
        out->width = mask.width;
        out->height = mask.height;
        out->masks = advgnn_calloc(out->count, (size_t)mask.width * (size_t)mask.height);
        if (!out->masks)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory for the masks of '%s'", info->name);
    }
    if (rc == ADVGNN_OK && (mask.width != out->width || mask.height != out->height))
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": mask '%s' is %d x %d, but the first mask is %d x %d", rel,
                          mask.width, mask.height, out->width, out->height);

    int value = rc == ADVGNN_OK ? mask_value(&mask, &area) : 0;
    const defect_config *entry = value > 0 ? defects_config_find(config, value) : NULL;
    if (rc == ADVGNN_OK && value <= 0)
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": mask '%s' %s; each mask must mark one defect with one "
                                                  "pixel value",
                          rel, value == 0 ? "is empty" : "has several nonzero values");
    else if (rc == ADVGNN_OK && !entry)
        rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, PLUGIN ": mask '%s' has pixel value %d, which defects_config.json "
                                                  "does not list",
                          rel, value);
    if (rc == ADVGNN_OK) {
        size_t pixels = (size_t)out->width * (size_t)out->height;
        uint8_t *target = out->masks + index * pixels;
        for (size_t p = 0; p < pixels; p++)
            target[p] = ((const uint8_t *)mask.data)[p * (size_t)mask.channels] != 0;
        out->saturation[index] = advgnn_spro_saturation_area(entry->saturation_threshold, entry->relative, area);
    }
    advgnn_image_release(&mask);
    return rc;
}

static int mvtec_loco_load_defect_masks(void *opaque, advgnn_ctx *ctx, const advgnn_sample_info *info,
                                        advgnn_defect_masks *out)
{
    const mvtec_loco_state *state = opaque;
    char *masks_dir = NULL;
    name_list masks = {0};
    int rc = ADVGNN_OK;

    memset(out, 0, sizeof(*out));
    if (!info->anomalous)
        return ADVGNN_OK;
    if (info->key >= state->categories.names.count)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, PLUGIN ": sample '%s' has an invalid key", info->name);

    rc = list_masks(ctx, state, info, &masks_dir, &masks);
    if (rc == ADVGNN_OK && masks.count > 0) {
        out->count = masks.count;
        out->saturation = advgnn_calloc(masks.count, sizeof(double));
        if (!out->saturation)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    }
    for (size_t i = 0; rc == ADVGNN_OK && i < masks.count; i++) {
        char *rel = layout_join(masks_dir, masks.names[i], NULL);
        rc = rel ? load_one_defect(ctx, state, info, rel, i, out)
                 : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        advgnn_free(rel);
    }
    if (rc != ADVGNN_OK)
        advgnn_defect_masks_release(out);
    names_free(&masks);
    advgnn_free(masks_dir);
    return rc;
}

/* ---- descriptor ------------------------------------------------------------- */

static const advgnn_dataset_functions mvtec_loco_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = mvtec_loco_open,
    .close = mvtec_loco_close,
    .list = mvtec_loco_list,
    .load = mvtec_loco_load,
    .load_defect_masks = mvtec_loco_load_defect_masks,
};

static const advgnn_plugin_descriptor mvtec_loco_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "MVTec LOCO AD with per-defect masks for sPRO, from the folder or the archive",
    .options = mvtec_loco_options,
    .functions = &mvtec_loco_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &mvtec_loco_descriptor;
}
