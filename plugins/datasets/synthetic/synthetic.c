/* The synthetic dataset: procedural textures, one category per texture kind,
 * with defects pasted into part of the test images. Nothing is read from
 * disk: load() renders each sample from (seed, category, split, index) alone,
 * so any sample can be produced on its own and in any order.
 *
 * NOTE: equal seeds give equal bytes with the same C math library. Textures
 * use sin, cos and tanh, and the Gaussian noise log and cos, which libm need
 * not round correctly, so another libm may move a few pixels by one level. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <advgnn/plugin.h>

#include "synthetic.h"

/* ---- options ------------------------------------------------------------- */

/* NULL-terminated, so they are the options' choices too; the defaults use
 * the first five. */
static const char *const all_kinds[] = {"checker", "stripes", "fabric", "noise", "dots", NULL};
static const char *const all_defects[] = {"scratch", "blob", "crack", "spot", "stain", NULL};

/* Counts are capped so a sample index fits the 32 bits that the key gives it. */
#define MAX_COUNT 1000000.0

static const advgnn_option_spec synthetic_options[] = {
    {.name = "kinds", .type = ADVGNN_OPT_STRING_LIST,
     .help = "texture kinds to generate, one category each",
     .def.strings = {all_kinds, 5}, .choices = all_kinds},
    {.name = "defects", .type = ADVGNN_OPT_STRING_LIST,
     .help = "defect shapes pasted into anomalous test images, used in turn",
     .def.strings = {all_defects, 5}, .choices = all_defects},
    {.name = "image_size", .type = ADVGNN_OPT_INT, .help = "width and height of every image, in pixels",
     .def.integer = 256, .min = 32, .max = 4096, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "train_count", .type = ADVGNN_OPT_INT, .help = "normal training images per category",
     .def.integer = 40, .min = 0, .max = MAX_COUNT, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "validation_count", .type = ADVGNN_OPT_INT, .help = "normal validation images per category",
     .def.integer = 0, .min = 0, .max = MAX_COUNT, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "test_normal_count", .type = ADVGNN_OPT_INT, .help = "normal test images per category",
     .def.integer = 20, .min = 0, .max = MAX_COUNT, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "test_anomalous_count", .type = ADVGNN_OPT_INT, .help = "defective test images per category",
     .def.integer = 20, .min = 0, .max = MAX_COUNT, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "defect_scale", .type = ADVGNN_OPT_NUMBER,
     .help = "defect size relative to the default (lengths and radii are multiplied by it)", .def.number = 1.0,
     .min = 0.25, .max = 4.0, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT, .help = "seed of every random choice; equal seeds give equal images",
     .def.integer = 0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "render_defects", .type = ADVGNN_OPT_BOOL,
     .help = "paint the defects; false renders anomalous images without them (masks unchanged), to inspect "
             "what a defect covers",
     .def.boolean = 1},
    {0}};

/* ---- state --------------------------------------------------------------- */

typedef struct synthetic_state {
    int kinds[SYNTH_KIND_COUNT]; /* synth_kind of each category, in option order */
    int kind_count;
    int defects[SYNTH_DEFECT_COUNT];
    int defect_count;
    int size;                    /* pixels */
    size_t counts[4];            /* per advgnn_split: train, validation, test (normal + anomalous) */
    size_t test_normal;          /* test indices below this are normal */
    double defect_scale;
    uint64_t seed;
    int render_defects;
} synthetic_state;

/* Resolves a list of names against a table; rejects unknown and repeated
 * names. The core already checks each name against the option's choices, so
 * an unknown name only reaches this point through a core that ignores them. */
static int parse_names(advgnn_ctx *ctx, const char *option, advgnn_string_list names, int (*lookup)(const char *),
                       const char *const *valid, int *out, int capacity, int *count)
{
    if (names.count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "synthetic: option '%s' is empty; name at least one entry",
                            option);
    *count = 0;
    for (size_t i = 0; i < names.count; i++) {
        int id = lookup(names.values[i]);

        if (id < 0) {
            char listed[256] = "";

            for (size_t v = 0; valid[v]; v++) {
                size_t used = strlen(listed);
                snprintf(listed + used, sizeof listed - used, "%s%s", v ? ", " : "", valid[v]);
            }
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "synthetic: option '%s': unknown entry '%s'; choose from %s",
                                option, names.values[i], listed);
        }
        for (int j = 0; j < *count; j++)
            if (out[j] == id)
                return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "synthetic: option '%s': '%s' is listed twice",
                                    option, names.values[i]);
        if (*count == capacity)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "synthetic: option '%s' has too many entries", option);
        out[(*count)++] = id;
    }
    return ADVGNN_OK;
}

static int synthetic_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    synthetic_state *state = advgnn_calloc(1, sizeof(*state));
    int rc;

    *state_out = NULL;
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "synthetic: out of memory");

    rc = parse_names(ctx, "kinds", advgnn_options_strings(opts, "kinds"), synth_kind_from_name, all_kinds,
                     state->kinds, SYNTH_KIND_COUNT, &state->kind_count);
    if (rc == ADVGNN_OK)
        rc = parse_names(ctx, "defects", advgnn_options_strings(opts, "defects"), synth_defect_from_name,
                         all_defects, state->defects, SYNTH_DEFECT_COUNT, &state->defect_count);
    if (rc != ADVGNN_OK) {
        advgnn_free(state);
        return rc;
    }

    state->size = (int)advgnn_options_int(opts, "image_size");
    state->counts[ADVGNN_SPLIT_TRAIN] = (size_t)advgnn_options_int(opts, "train_count");
    state->counts[ADVGNN_SPLIT_VALIDATION] = (size_t)advgnn_options_int(opts, "validation_count");
    state->test_normal = (size_t)advgnn_options_int(opts, "test_normal_count");
    state->counts[ADVGNN_SPLIT_TEST] = state->test_normal + (size_t)advgnn_options_int(opts, "test_anomalous_count");
    state->defect_scale = advgnn_options_number(opts, "defect_scale");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");
    state->render_defects = advgnn_options_bool(opts, "render_defects");
    *state_out = state;
    return ADVGNN_OK;
}

static void synthetic_close(void *state)
{
    advgnn_free(state);
}

/* ---- samples ------------------------------------------------------------- */

/* A sample's key: category index in bits 40..55, split in bits 32..39, index
 * within the split in bits 0..31. */
static uint64_t make_key(int category, advgnn_split split, size_t index)
{
    return ((uint64_t)category << 40) | ((uint64_t)split << 32) | (uint64_t)index;
}

/* Anomalous test samples take the listed defect shapes in turn. */
static int defect_of(const synthetic_state *state, advgnn_split split, size_t index)
{
    if (split != ADVGNN_SPLIT_TEST || index < state->test_normal)
        return -1;
    return state->defects[(index - state->test_normal) % (size_t)state->defect_count];
}

static int synthetic_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const synthetic_state *state = opaque;
    static const advgnn_split splits[] = {ADVGNN_SPLIT_TRAIN, ADVGNN_SPLIT_VALIDATION, ADVGNN_SPLIT_TEST};

    for (int k = 0; k < state->kind_count; k++) {
        for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
            for (size_t i = 0; i < state->counts[splits[s]]; i++) {
                int defect = defect_of(state, splits[s], i);
                const char *defect_type = defect < 0 ? "good" : synth_defect_name(defect);
                char name[64];
                advgnn_sample_info info = {
                    .category = synth_kind_name(state->kinds[k]),
                    .split = splits[s],
                    .anomalous = defect >= 0,
                    .defect_type = defect_type,
                    .name = name,
                    .mask_threshold = 127,
                    .key = make_key(k, splits[s], i),
                };
                int rc;

                snprintf(name, sizeof(name), "%s/%06zu", defect_type, i);
                rc = advgnn_sample_sink_add(sink, &info);
                if (rc != ADVGNN_OK)
                    return rc;
            }
        }
    }
    return ADVGNN_OK;
}

/* Converts floats in [0, 1] to 8-bit values, rounding to nearest. */
static void store_rgb8(const float *rgb, size_t values, uint8_t *out)
{
    for (size_t i = 0; i < values; i++)
        out[i] = (uint8_t)lrintf(rgb[i] * 255.0f);
}

/* Renders one sample. Separate random streams drive the texture's variation,
 * its sensor noise and the defect, so painting a defect leaves every other
 * pixel exactly as in the defect-free rendering. */
static int render_sample(const synthetic_state *state, advgnn_ctx *ctx, int category, advgnn_split split,
                         size_t index, advgnn_image *image, advgnn_image *mask)
{
    const char *kind = synth_kind_name(state->kinds[category]);
    uint64_t category_seed = synth_mix(synth_mix(state->seed, 0x5eed), synth_hash_string(kind));
    uint64_t sample_seed = synth_mix(synth_mix(category_seed, (uint64_t)split), (uint64_t)index);
    size_t pixels = (size_t)state->size * state->size;
    int defect = defect_of(state, split, index);
    advgnn_rng vary_rng, noise_rng, defect_rng;
    synth_texture tex;
    float *rgb;
    int rc;

    rgb = advgnn_malloc(pixels * 3 * sizeof(float));
    if (!rgb)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "synthetic: out of memory for a %d x %d image", state->size,
                            state->size);

    advgnn_rng_seed(&vary_rng, synth_mix(sample_seed, 1));
    advgnn_rng_seed(&noise_rng, synth_mix(sample_seed, 2));
    advgnn_rng_seed(&defect_rng, synth_mix(sample_seed, 3));
    synth_texture_base(&tex, (synth_kind)state->kinds[category], category_seed, state->size);
    synth_texture_vary(&tex, &vary_rng);
    synth_texture_render(&tex, state->size, &noise_rng, rgb);

    rc = advgnn_image_alloc(ctx, image, state->size, state->size, 3, ADVGNN_PIXEL_U8);
    if (rc == ADVGNN_OK && defect >= 0)
        rc = advgnn_image_alloc(ctx, mask, state->size, state->size, 1, ADVGNN_PIXEL_U8);
    if (rc != ADVGNN_OK) {
        advgnn_image_release(image);
        advgnn_free(rgb);
        return rc;
    }

    /* The mask is drawn as 0/1 and stored as 0/255 for mask_threshold 127. */
    if (defect >= 0) {
        uint8_t *mask_bytes = mask->data;

        synth_defect_draw((synth_defect)defect, state->size, state->defect_scale, &defect_rng,
                          state->render_defects, rgb, mask_bytes);
        for (size_t i = 0; i < pixels; i++)
            mask_bytes[i] = mask_bytes[i] ? 255 : 0;
    }
    store_rgb8(rgb, pixels * 3, image->data);
    advgnn_free(rgb);
    return ADVGNN_OK;
}

static int synthetic_load(void *opaque, advgnn_ctx *ctx, const advgnn_sample_info *info, advgnn_image *image,
                          advgnn_image *mask)
{
    const synthetic_state *state = opaque;
    int category = (int)((info->key >> 40) & 0xffff);
    int split = (int)((info->key >> 32) & 0xff);
    size_t index = (size_t)(info->key & 0xffffffffu);

    if (category >= state->kind_count || split < ADVGNN_SPLIT_TRAIN || split > ADVGNN_SPLIT_TEST ||
        index >= state->counts[split])
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "synthetic: sample '%s' has key 0x%llx, which this dataset did not list",
                            info->name ? info->name : "(unnamed)", (unsigned long long)info->key);
    return render_sample(state, ctx, category, (advgnn_split)split, index, image, mask);
}

/* ---- descriptor ---------------------------------------------------------- */

static const advgnn_dataset_functions synthetic_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = synthetic_open,
    .close = synthetic_close,
    .list = synthetic_list,
    .load = synthetic_load,
};

static const advgnn_plugin_descriptor synthetic_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = "synthetic",
    .version = "1.0.0",
    .description = "procedural textures with pasted defects and exact masks; needs no download",
    .options = synthetic_options,
    .functions = &synthetic_functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &synthetic_descriptor;
}
