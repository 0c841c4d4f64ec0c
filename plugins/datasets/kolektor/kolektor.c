/* KolektorSDD (Tabernik et al., "Segmentation-based deep-learning approach
 * for surface-defect detection", J. Intell. Manuf. 2020):
 *
 *     kos01/Part0.jpg, kos01/Part0_label.bmp, ... kos50/Part7.jpg ...
 *
 * A part whose label is all zero is normal; the others are defective, with
 * every nonzero label pixel a defect pixel. The labels are decoded while
 * listing to tell the two apart. A seeded shuffle of the normal parts sends
 * test_normal_ratio of them to test and validation_ratio of the rest to
 * validation. Every defective part goes to test. One category,
 * "kolektorsdd". */
#include <string.h>

#include <advgnn/plugin.h>

#include "layout.h"

#define PLUGIN "kolektor"
#define CATEGORY "kolektorsdd"

static const char *const jpg_extensions[] = {".jpg", NULL};

static const advgnn_option_spec kolektor_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING,
     .help = "folder or archive with the kosNN item folders (or one folder around them)",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "test_normal_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the normal parts moved to the test split", .def.number = 0.2, .min = 0.0, .max = 0.9,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "validation_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the remaining normal parts held out for validation", .def.number = 0.0, .min = 0.0,
     .max = 0.9, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT,
     .help = "seed of the shuffle that splits the normal parts; equal seeds and files give equal splits",
     .def.integer = 0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {0}};

typedef struct kolektor_state {
    advgnn_source *src;
    char *base; /* folder inside the source with the item folders */
    double test_normal_ratio;
    double validation_ratio;
    uint64_t seed;
} kolektor_state;

static void kolektor_close(void *opaque)
{
    kolektor_state *state = opaque;

    if (!state)
        return;
    advgnn_source_close(state->src);
    advgnn_free(state->base);
    advgnn_free(state);
}

/* An item folder is named kos<digits>. */
static int is_item(const char *name)
{
    if (strncmp(name, "kos", 3) != 0 || !name[3])
        return 0;
    return strspn(name + 3, "0123456789") == strlen(name + 3);
}

static int has_items(advgnn_source *src, const char *rel)
{
    name_list dirs = {0};
    int found = 0;

    if (advgnn_source_list(src, NULL, rel, ADVGNN_SOURCE_ENTRY_DIR, &dirs.names, &dirs.count) == ADVGNN_OK) {
        for (size_t i = 0; i < dirs.count && !found; i++)
            found = is_item(dirs.names[i]);
    }
    names_free(&dirs);
    return found;
}

static int kolektor_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    kolektor_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    state->test_normal_ratio = advgnn_options_number(opts, "test_normal_ratio");
    state->validation_ratio = advgnn_options_number(opts, "validation_ratio");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");

    int rc = layout_open(ctx, PLUGIN, advgnn_options_string(opts, "root"), &state->src);
    if (rc == ADVGNN_OK)
        rc = layout_find_base(ctx, PLUGIN, state->src, has_items, "kosNN/PartK.jpg with kosNN/PartK_label.bmp",
                              &state->base);
    if (rc != ADVGNN_OK) {
        kolektor_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* ---- listing ---------------------------------------------------------------- */

/* One part: its image, label and whether the label marks a defect. */
typedef struct part {
    char *name;  /* "kos01/Part0.jpg" */
    char *image; /* path inside the source */
    char *label;
    int defective;
} part;

static void parts_free(part *parts, size_t count)
{
    for (size_t i = 0; parts && i < count; i++) {
        advgnn_free(parts[i].name);
        advgnn_free(parts[i].image);
        advgnn_free(parts[i].label);
    }
    advgnn_free(parts);
}

/* Decodes a label and sets *defective when any pixel is nonzero. */
static int read_label(advgnn_ctx *ctx, advgnn_source *src, const char *rel, int *defective)
{
    void *data = NULL;
    size_t size = 0;
    advgnn_image label = {0};
    char *path = advgnn_source_entry_path(src, rel);
    int rc = path ? advgnn_source_read(src, ctx, rel, &data, &size)
                  : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    if (rc == ADVGNN_OK)
        rc = advgnn_image_decode(ctx, data, size, path, 0, &label);
    *defective = 0;
    size_t bytes = (size_t)label.width * (size_t)label.height * (size_t)label.channels;
    for (size_t i = 0; rc == ADVGNN_OK && i < bytes && !*defective; i++)
        *defective = ((const uint8_t *)label.data)[i] != 0;
    advgnn_image_release(&label);
    advgnn_free(data);
    advgnn_free(path);
    return rc;
}

/* Adds the parts of one item folder to *parts. */
static int collect_item(advgnn_ctx *ctx, const kolektor_state *state, const char *item, part **parts, size_t *count)
{
    char *dir = layout_join(state->base, item, NULL);
    name_list files = {0};
    int rc = dir ? layout_list_images(ctx, PLUGIN, state->src, dir, jpg_extensions, "item images", &files)
                 : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");

    for (size_t i = 0; rc == ADVGNN_OK && i < files.count; i++) {
        char *stem = layout_stem(files.names[i]);
        char *label_file = stem ? advgnn_malloc(strlen(stem) + sizeof("_label.bmp")) : NULL;
        part *grown = advgnn_realloc(*parts, (*count + 1) * sizeof(part));
        if (!label_file || !grown) {
            advgnn_free(stem);
            advgnn_free(label_file);
            if (grown)
                *parts = grown;
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
            break;
        }
        *parts = grown;
        strcpy(label_file, stem);
        strcat(label_file, "_label.bmp");
        part *p = &grown[(*count)++];
        memset(p, 0, sizeof(*p));
        p->name = layout_join(item, files.names[i], NULL);
        p->image = layout_join(dir, files.names[i], NULL);
        p->label = layout_join(dir, label_file, NULL);
        advgnn_free(stem);
        advgnn_free(label_file);
        if (!p->name || !p->image || !p->label) {
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
        } else if (advgnn_source_stat(state->src, p->label) != ADVGNN_SOURCE_ENTRY_FILE) {
            char *image_path = advgnn_source_entry_path(state->src, p->image);
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, PLUGIN ": part '%s' has no label '%s'; every part needs one",
                              image_path ? image_path : p->image, p->label);
            advgnn_free(image_path);
        } else {
            rc = read_label(ctx, state->src, p->label, &p->defective);
        }
    }
    names_free(&files);
    advgnn_free(dir);
    return rc;
}

/* Splits the normal parts and adds every part to the sink. */
static int add_parts(advgnn_ctx *ctx, const kolektor_state *state, advgnn_sample_sink *sink, const part *parts,
                     size_t count, layout_tally *tally)
{
    size_t normal = 0;
    for (size_t i = 0; i < count; i++)
        normal += !parts[i].defective;

    advgnn_split *splits = advgnn_calloc(normal + 1, sizeof(advgnn_split));
    int rc = splits ? ADVGNN_OK : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, PLUGIN ": out of memory");
    if (rc == ADVGNN_OK)
        rc = layout_split_normals(ctx, PLUGIN, advgnn_source_path(state->src), normal, state->test_normal_ratio,
                                  state->validation_ratio, state->seed, splits);

    for (size_t i = 0, k = 0; rc == ADVGNN_OK && i < count; i++) {
        const part *p = &parts[i];
        advgnn_sample_info info = {.category = CATEGORY, .split = p->defective ? ADVGNN_SPLIT_TEST : splits[k++],
                                   .anomalous = p->defective, .defect_type = p->defective ? "defect" : "good",
                                   .name = p->name, .mask_threshold = 0, .key = i};
        rc = layout_add_sample(ctx, PLUGIN, state->src, sink, tally, &info, p->image, p->defective ? p->label : NULL);
    }
    advgnn_free(splits);
    return rc;
}

static int kolektor_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const kolektor_state *state = opaque;
    name_list dirs = {0};
    part *parts = NULL;
    size_t count = 0;
    layout_tally tally = {0};
    int rc = layout_list(ctx, PLUGIN, state->src, state->base, ADVGNN_SOURCE_ENTRY_DIR, "the item folders", &dirs);

    for (size_t i = 0; rc == ADVGNN_OK && i < dirs.count; i++) {
        if (is_item(dirs.names[i]))
            rc = collect_item(ctx, state, dirs.names[i], &parts, &count);
    }
    if (rc == ADVGNN_OK)
        rc = add_parts(ctx, state, sink, parts, count, &tally);
    if (rc == ADVGNN_OK)
        layout_log_tally(ctx, PLUGIN, CATEGORY, &tally, advgnn_source_path(state->src));
    layout_tally_free(&tally);
    parts_free(parts, count);
    names_free(&dirs);
    return rc;
}

static const advgnn_dataset_functions kolektor_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = kolektor_open,
    .close = kolektor_close,
    .list = kolektor_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor kolektor_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = PLUGIN,
    .version = "1.0.0",
    .description = "KolektorSDD parts; all-zero labels are normal, with a seeded split of the normal parts",
    .options = kolektor_options,
    .functions = &kolektor_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &kolektor_descriptor;
}
