/* The folder dataset: one category of normal images in one folder and
 * defective images in one or more defect folders, with optional masks.
 *
 * Normal images are split by a seeded shuffle into train, validation and test;
 * every defective image goes to test. The plugin lists file paths only, and
 * the core decodes them (load() is NULL). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <advgnn/plugin.h>
#include <advgnn/rng.h>

#include "scan.h"

/* ---- options ------------------------------------------------------------- */

static const char *const default_defect_dirs[] = {"defect"};
static const char *const default_image_extensions[] = {".png", ".jpg", ".jpeg", ".bmp"};

static const advgnn_option_spec folder_options[] = {
    {.name = "root", .type = ADVGNN_OPT_STRING, .help = "dataset folder; the other folders are relative to it",
     .flags = ADVGNN_OPT_REQUIRED},
    {.name = "category", .type = ADVGNN_OPT_STRING,
     .help = "category name in results; empty means the root folder's base name", .def.string = ""},
    {.name = "normal_dir", .type = ADVGNN_OPT_STRING, .help = "folder of the normal (defect-free) images",
     .def.string = "good"},
    {.name = "defect_dirs", .type = ADVGNN_OPT_STRING_LIST,
     .help = "folders of defective images; a sample's defect type is its folder's last path component "
             "unless defect_types is set",
     .def.strings = {default_defect_dirs, 1}},
    {.name = "defect_types", .type = ADVGNN_OPT_STRING_LIST,
     .help = "defect type of each defect_dirs entry, in the same order; empty means each folder's last path "
             "component, e.g. {\"MT_Crack\"} for \"MT_Crack/Imgs\"",
     .def.strings = {NULL, 0}},
    {.name = "mask_dir", .type = ADVGNN_OPT_STRING,
     .help = "folder of the masks (its <defect type> subfolder when present); empty means beside each image, "
             "else ground_truth/<defect type>/<stem>_mask<mask_extension> as in MVTec AD",
     .def.string = ""},
    {.name = "mask_suffix", .type = ADVGNN_OPT_STRING,
     .help = "text between the image stem and the mask extension in mask names, e.g. \"_mask\"", .def.string = ""},
    {.name = "mask_extension", .type = ADVGNN_OPT_STRING, .help = "file extension of the masks",
     .def.string = ".png"},
    {.name = "image_extensions", .type = ADVGNN_OPT_STRING_LIST,
     .help = "file extensions of the images (case-insensitive)", .def.strings = {default_image_extensions, 4}},
    {.name = "test_normal_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the normal images moved to the test split", .def.number = 0.2, .min = 0.0, .max = 1.0,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "validation_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "fraction of the remaining normal images held out for validation", .def.number = 0.0, .min = 0.0,
     .max = 1.0, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "seed", .type = ADVGNN_OPT_INT,
     .help = "seed of the shuffle that splits the normal images; equal seeds and files give equal splits",
     .def.integer = 0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "mask_threshold", .type = ADVGNN_OPT_INT,
     .help = "a mask pixel whose value (0 to 255) in any color channel is above this is defective; 0 makes "
             "every nonzero pixel defective",
     .def.integer = 127, .min = 0, .max = 254,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "require_masks", .type = ADVGNN_OPT_BOOL,
     .help = "a defective image without a mask is an error; false keeps it without a mask", .def.boolean = 1},
    {0}};

/* ---- state --------------------------------------------------------------- */

typedef struct folder_state {
    char *root;
    char *category;
    char *normal_dir;
    char **defect_dirs;
    size_t defect_dir_count;
    char **defect_types; /* one per defect_dirs entry, or NULL when not set */
    size_t defect_type_count;
    char *mask_dir;
    char *mask_suffix;
    char *mask_extension;
    char **image_extensions;
    size_t image_extension_count;
    double test_normal_ratio;
    double validation_ratio;
    uint64_t seed;
    int mask_threshold;
    int require_masks;
} folder_state;

static void free_strings(char **strings, size_t count)
{
    for (size_t i = 0; strings && i < count; i++)
        advgnn_free(strings[i]);
    advgnn_free(strings);
}

static void folder_close(void *opaque)
{
    folder_state *state = opaque;

    if (!state)
        return;
    advgnn_free(state->root);
    advgnn_free(state->category);
    advgnn_free(state->normal_dir);
    free_strings(state->defect_dirs, state->defect_dir_count);
    free_strings(state->defect_types, state->defect_type_count);
    advgnn_free(state->mask_dir);
    advgnn_free(state->mask_suffix);
    advgnn_free(state->mask_extension);
    free_strings(state->image_extensions, state->image_extension_count);
    advgnn_free(state);
}

/* Copies a string list; returns NULL when out of memory. */
static char **copy_strings(advgnn_string_list list)
{
    char **out = advgnn_calloc(list.count ? list.count : 1, sizeof(char *));
    for (size_t i = 0; out && i < list.count; i++) {
        out[i] = advgnn_strdup(list.values[i]);
        if (!out[i]) {
            free_strings(out, i);
            return NULL;
        }
    }
    return out;
}

/* Returns the last path component of `path` (new string), ignoring trailing
 * slashes, or NULL when out of memory. */
static char *base_name(const char *path)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;

    char *out = advgnn_malloc(end - start + 1);
    if (out) {
        memcpy(out, path + start, end - start);
        out[end - start] = '\0';
    }
    return out;
}

static advgnn_string_list extension_list(const folder_state *state)
{
    advgnn_string_list list = {(const char *const *)state->image_extensions, state->image_extension_count};
    return list;
}

/* Copies the options into the state. */
static int copy_options(advgnn_ctx *ctx, const advgnn_options *opts, folder_state *state)
{
    const char *category = advgnn_options_string(opts, "category");

    state->root = advgnn_strdup(advgnn_options_string(opts, "root"));
    state->category = category[0] ? advgnn_strdup(category) : base_name(advgnn_options_string(opts, "root"));
    state->normal_dir = advgnn_strdup(advgnn_options_string(opts, "normal_dir"));
    advgnn_string_list defect_dirs = advgnn_options_strings(opts, "defect_dirs");
    state->defect_dirs = copy_strings(defect_dirs);
    state->defect_dir_count = state->defect_dirs ? defect_dirs.count : 0;
    advgnn_string_list defect_types = advgnn_options_strings(opts, "defect_types");
    if (defect_types.count > 0) {
        state->defect_types = copy_strings(defect_types);
        state->defect_type_count = state->defect_types ? defect_types.count : 0;
    }
    state->mask_dir = advgnn_strdup(advgnn_options_string(opts, "mask_dir"));
    state->mask_suffix = advgnn_strdup(advgnn_options_string(opts, "mask_suffix"));
    state->mask_extension = advgnn_strdup(advgnn_options_string(opts, "mask_extension"));
    advgnn_string_list extensions = advgnn_options_strings(opts, "image_extensions");
    state->image_extensions = copy_strings(extensions);
    state->image_extension_count = state->image_extensions ? extensions.count : 0;
    state->test_normal_ratio = advgnn_options_number(opts, "test_normal_ratio");
    state->validation_ratio = advgnn_options_number(opts, "validation_ratio");
    state->seed = (uint64_t)advgnn_options_int(opts, "seed");
    state->mask_threshold = (int)advgnn_options_int(opts, "mask_threshold");
    state->require_masks = advgnn_options_bool(opts, "require_masks");

    if (!state->root || !state->category || !state->normal_dir || !state->defect_dirs ||
        (defect_types.count > 0 && !state->defect_types) || !state->mask_dir || !state->mask_suffix ||
        !state->mask_extension || !state->image_extensions)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory copying the options");
    return ADVGNN_OK;
}

/* Checks that defect_types, when set, names each defect_dirs entry with one
 * folder name, because the type also names the mask subfolder of mask_dir and
 * of ground_truth. */
static int check_defect_types(advgnn_ctx *ctx, const folder_state *state)
{
    if (state->defect_type_count == 0)
        return ADVGNN_OK;
    if (state->defect_type_count != state->defect_dir_count)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "folder: option 'defect_types' has %zu entries but 'defect_dirs' has %zu; give one "
                            "defect type per defect folder, in the same order, or leave 'defect_types' unset",
                            state->defect_type_count, state->defect_dir_count);
    for (size_t i = 0; i < state->defect_type_count; i++) {
        const char *type = state->defect_types[i];
        if (type[0] == '\0' || strchr(type, '/') || strcmp(type, ".") == 0 || strcmp(type, "..") == 0)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "folder: defect_types entry '%s' (for '%s') must be a folder name without '/', "
                                "such as \"crack\"",
                                type, state->defect_dirs[i]);
    }
    return ADVGNN_OK;
}

/* Checks the option values that the schema cannot express. */
static int check_options(advgnn_ctx *ctx, const folder_state *state)
{
    if (state->root[0] == '\0')
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "folder: option 'root' is empty; set it to the dataset folder");
    if (state->category[0] == '\0' || strcmp(state->category, "/") == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "folder: cannot name the category after root '%s'; set the 'category' option",
                            state->root);
    if (state->image_extension_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "folder: option 'image_extensions' is empty; list at least one, e.g. \".png\"");
    if (state->mask_extension[0] == '\0')
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "folder: option 'mask_extension' is empty; set it to the masks' extension, e.g. \".png\"");
    for (size_t i = 0; i < state->defect_dir_count; i++) {
        if (state->defect_dirs[i][0] == '\0' || state->defect_dirs[i][0] == '/')
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "folder: defect_dirs entry '%s' must be a folder path relative to root",
                                state->defect_dirs[i]);
    }
    return check_defect_types(ctx, state);
}

/* Fails with a message naming root/<dir> when that folder does not exist. */
static int require_folder(advgnn_ctx *ctx, const folder_state *state, const char *dir, const char *kind,
                          const char *option)
{
    char *path = path_join(state->root, dir);
    if (!path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");

    int rc = ADVGNN_OK;
    if (!is_folder(path))
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "folder: %s folder '%s' not found; create it or change '%s'",
                          kind, path, option);
    advgnn_free(path);
    return rc;
}

/* Checks that the root, normal and defect folders exist, so a wrong path
 * fails at open with the path in the message. */
static int check_folders(advgnn_ctx *ctx, const folder_state *state)
{
    /* The other dataset plugins read archives, so a user may expect this one
     * to. A file root is therefore named as a file, not as missing. */
    if (is_regular_file(state->root) && is_archive(state->root))
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_IMPLEMENTED,
                            "folder: root '%s' is a file, but the folder plugin reads folders only, not archives; "
                            "extract it and set 'root' to the extracted folder",
                            state->root);
    if (is_regular_file(state->root))
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "folder: root '%s' is a file, not a folder; set 'root' to the dataset folder, the one "
                            "that contains '%s'",
                            state->root, state->normal_dir);
    if (!is_folder(state->root))
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "folder: root folder '%s' not found; set 'root' to the dataset folder", state->root);

    int rc = require_folder(ctx, state, state->normal_dir, "normal image", "normal_dir");
    for (size_t i = 0; i < state->defect_dir_count && rc == ADVGNN_OK; i++)
        rc = require_folder(ctx, state, state->defect_dirs[i], "defect image", "defect_dirs");
    return rc;
}

/* Warns when two defect folders get the same defect type from their last
 * path component, as "MT_Crack/Imgs" and "MT_Break/Imgs" do, because the
 * results then cannot tell their defects apart. */
static void warn_shared_types(advgnn_ctx *ctx, const folder_state *state)
{
    if (state->defect_type_count > 0)
        return;
    for (size_t i = 0; i < state->defect_dir_count; i++) {
        for (size_t j = i + 1; j < state->defect_dir_count; j++) {
            char *a = base_name(state->defect_dirs[i]);
            char *b = base_name(state->defect_dirs[j]);
            int same = a && b && strcmp(a, b) == 0;
            if (same)
                advgnn_log(ctx, ADVGNN_LOG_WARN,
                           "folder: defect folders '%s' and '%s' both end in '%s', so both get that defect "
                           "type; set 'defect_types' to name one type per folder",
                           state->defect_dirs[i], state->defect_dirs[j], a);
            advgnn_free(a);
            advgnn_free(b);
            if (same)
                return;
        }
    }
}

static int folder_open(advgnn_ctx *ctx, const advgnn_options *opts, void **state_out)
{
    *state_out = NULL;
    folder_state *state = advgnn_calloc(1, sizeof(*state));
    if (!state)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");

    int rc = copy_options(ctx, opts, state);
    if (rc == ADVGNN_OK)
        rc = check_options(ctx, state);
    if (rc == ADVGNN_OK)
        rc = check_folders(ctx, state);
    if (rc == ADVGNN_OK)
        warn_shared_types(ctx, state);
    if (rc != ADVGNN_OK) {
        folder_close(state);
        return rc;
    }
    *state_out = state;
    return ADVGNN_OK;
}

/* ---- listing ------------------------------------------------------------- */

/* The suffix that masks beside their images get when mask_suffix is empty,
 * as in MVTec AD's ground_truth folders. */
static const char default_mask_suffix[] = "_mask";

/* Removes from the images of `path` the masks beside them, which find_mask
 * would take as the masks of other images there, and logs how many. Only
 * applies when mask_dir is empty, since masks are elsewhere otherwise. */
static int drop_folder_masks(advgnn_ctx *ctx, const folder_state *state, const char *path, file_list *files)
{
    const char *suffixes[2] = {state->mask_suffix, default_mask_suffix};
    size_t suffix_count = state->mask_suffix[0] == '\0' ? 2 : 1;
    mask_scan scan;

    if (state->mask_dir[0] != '\0')
        return ADVGNN_OK;
    int rc = drop_masks(ctx, files, suffixes, suffix_count, state->mask_extension, &scan);
    if (rc != ADVGNN_OK)
        return rc;

    if (scan.masks > 0)
        advgnn_log(ctx, ADVGNN_LOG_DEBUG, "folder: '%s': %zu mask file(s) beside the images, not listed as images",
                   path, scan.masks);
    if (scan.orphans > 0)
        advgnn_log(ctx, ADVGNN_LOG_WARN,
                   "folder: '%s' has %zu file(s) named like the mask of an image that is not there, such as '%s'; "
                   "they are listed as images. Add their images, or move the files out if they are masks",
                   path, scan.orphans, scan.orphan);
    return ADVGNN_OK;
}

/* Lists the images of root/<dir> without the masks that sit among them; an
 * empty folder is an error naming it. */
static int list_folder(advgnn_ctx *ctx, const folder_state *state, const char *dir, file_list *out)
{
    char *path = path_join(state->root, dir);
    if (!path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");

    int rc = list_images(ctx, path, extension_list(state), out);
    if (rc == ADVGNN_OK)
        rc = drop_folder_masks(ctx, state, path, out);
    if (rc == ADVGNN_OK && out->count == 0) {
        char extensions[256] = "";
        for (size_t i = 0; i < state->image_extension_count; i++) {
            size_t used = strlen(extensions);
            snprintf(extensions + used, sizeof(extensions) - used, "%s%s", i ? ", " : "",
                     state->image_extensions[i]);
        }
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                          "folder: no images (%s) in '%s'; add images or change 'image_extensions'", extensions,
                          path);
    }
    advgnn_free(path);
    if (rc != ADVGNN_OK)
        file_list_free(out);
    return rc;
}

/* Returns the defect type of defect_dirs[index] (new string): its
 * defect_types entry, else the folder's last path component, which MVTec AD's
 * test/<type> and ground_truth/<type> layout shares. NULL when out of memory. */
static char *defect_type(const folder_state *state, size_t index)
{
    if (state->defect_type_count > 0)
        return advgnn_strdup(state->defect_types[index]);
    return base_name(state->defect_dirs[index]);
}

/* Returns the folder that contains the masks of images in root/<dir> (new
 * string): that folder itself without mask_dir, else root/<mask_dir>/<type>
 * when it exists, else root/<mask_dir>. */
static char *mask_folder(const folder_state *state, const char *dir, const char *type)
{
    if (state->mask_dir[0] == '\0')
        return path_join(state->root, dir);

    char *base = path_join(state->root, state->mask_dir);
    char *typed = base ? path_join(base, type) : NULL;
    if (typed && is_folder(typed)) {
        advgnn_free(base);
        return typed;
    }
    advgnn_free(typed);
    return base;
}

/* Number of `count` items for a ratio, rounded half up. */
static size_t ratio_count(double ratio, size_t count)
{
    return (size_t)floor(ratio * (double)count + 0.5);
}

/* Adds one sample; `dir` and `file` make its name and path. */
static int add_sample(advgnn_ctx *ctx, const folder_state *state, advgnn_sample_sink *sink, advgnn_split split,
                      const char *type, const char *dir, const char *file, const char *mask_path, uint64_t key)
{
    char *name = path_join(dir, file);
    char *image_path = name ? path_join(state->root, name) : NULL;
    if (!image_path) {
        advgnn_free(name);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");
    }

    advgnn_sample_info info = {
        .category = state->category,
        .split = split,
        .anomalous = type != NULL,
        .defect_type = type ? type : "good",
        .name = name,
        .image_path = image_path,
        .mask_path = mask_path,
        .mask_threshold = state->mask_threshold,
        .key = key,
    };
    int rc = advgnn_sample_sink_add(sink, &info);
    advgnn_free(name);
    advgnn_free(image_path);
    return rc;
}

/* Splits the normal images by a seeded shuffle of their sorted names: the
 * first test_normal_ratio go to test, the next validation_ratio of the rest
 * to validation, the others to train. */
static int list_normal(advgnn_ctx *ctx, const folder_state *state, advgnn_sample_sink *sink, size_t *counts)
{
    file_list files;
    int rc = list_folder(ctx, state, state->normal_dir, &files);
    if (rc != ADVGNN_OK)
        return rc;

    size_t n = files.count;
    size_t test = ratio_count(state->test_normal_ratio, n);
    size_t validation = ratio_count(state->validation_ratio, n - test);
    if (test + validation >= n) {
        file_list_free(&files);
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "folder: no normal image is left for training in '%s/%s' (%zu images, "
                            "test_normal_ratio %g, validation_ratio %g); lower the ratios or add images",
                            state->root, state->normal_dir, n, state->test_normal_ratio, state->validation_ratio);
    }

    size_t *order = advgnn_malloc(n * sizeof(size_t));
    if (!order) {
        file_list_free(&files);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    advgnn_rng rng;
    advgnn_rng_seed(&rng, state->seed);
    advgnn_rng_shuffle(&rng, order, n, sizeof(size_t));

    for (size_t k = 0; k < n && rc == ADVGNN_OK; k++) {
        advgnn_split split = k < test ? ADVGNN_SPLIT_TEST
                                      : k < test + validation ? ADVGNN_SPLIT_VALIDATION : ADVGNN_SPLIT_TRAIN;
        rc = add_sample(ctx, state, sink, split, NULL, state->normal_dir, files.names[order[k]], NULL, order[k]);
        counts[split]++;
    }
    advgnn_free(order);
    file_list_free(&files);
    return rc;
}

/* Returns root/ground_truth/<type>/<stem>_mask<mask_extension> (new
 * string), where MVTec AD keeps the mask of test/<type>/<stem>.png, or NULL
 * when out of memory. */
static char *ground_truth_mask(const folder_state *state, const char *type, const char *file)
{
    char *folder = path_join("ground_truth", type);
    char *base = folder ? path_join(state->root, folder) : NULL;
    char *name = mask_name(file, default_mask_suffix, state->mask_extension);
    char *path = base && name ? path_join(base, name) : NULL;

    advgnn_free(folder);
    advgnn_free(base);
    advgnn_free(name);
    return path;
}

/* The mask files tried for one defect image, in this order. */
typedef struct mask_lookup {
    char *image;        /* root/<dir>/<file> */
    char *named;        /* <mask folder>/<stem><mask_suffix><mask_extension> */
    char *beside_mask;  /* root/<dir>/<stem>_mask<mask_extension>; NULL unless
                           mask_dir and mask_suffix are both empty */
    char *ground_truth; /* MVTec AD's mask path, or NULL when mask_dir is set */
    const char *found;  /* the first of the above that exists, else NULL */
} mask_lookup;

static void mask_lookup_free(mask_lookup *lookup)
{
    advgnn_free(lookup->image);
    advgnn_free(lookup->named);
    advgnn_free(lookup->beside_mask);
    advgnn_free(lookup->ground_truth);
}

/* Builds the paths of `lookup` for root/<dir>/<file>, whose masks folder is
 * `masks` and whose defect type is `type`. */
static int mask_lookup_paths(advgnn_ctx *ctx, const folder_state *state, const char *dir, const char *masks,
                             const char *type, const char *file, mask_lookup *lookup)
{
    int by_default = state->mask_dir[0] == '\0';
    int beside_default = by_default && state->mask_suffix[0] == '\0';

    memset(lookup, 0, sizeof(*lookup));
    char *name = mask_name(file, state->mask_suffix, state->mask_extension);
    char *suffixed = beside_default ? mask_name(file, default_mask_suffix, state->mask_extension) : NULL;
    char *folder = path_join(state->root, dir);
    lookup->image = folder ? path_join(folder, file) : NULL;
    lookup->named = name ? path_join(masks, name) : NULL;
    if (beside_default)
        lookup->beside_mask = folder && suffixed ? path_join(folder, suffixed) : NULL;
    if (by_default)
        lookup->ground_truth = ground_truth_mask(state, type, file);
    advgnn_free(name);
    advgnn_free(suffixed);
    advgnn_free(folder);

    if (!lookup->image || !lookup->named || (beside_default && !lookup->beside_mask) ||
        (by_default && !lookup->ground_truth)) {
        mask_lookup_free(lookup);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");
    }
    return ADVGNN_OK;
}

/* Finds the mask of root/<dir>/<file>. A mask path never equals the image
 * path, because with the default empty mask_suffix a PNG image would
 * otherwise be its own mask. The pixel metrics would then be computed against
 * the thresholded image. drop_folder_masks removes from the image list
 * exactly the files that the two beside-the-image names match. */
static int find_mask(advgnn_ctx *ctx, const folder_state *state, const char *dir, const char *masks,
                     const char *type, const char *file, mask_lookup *lookup)
{
    int rc = mask_lookup_paths(ctx, state, dir, masks, type, file, lookup);
    if (rc != ADVGNN_OK)
        return rc;

    if (strcmp(lookup->named, lookup->image) != 0 && is_regular_file(lookup->named))
        lookup->found = lookup->named;
    else if (lookup->beside_mask && is_regular_file(lookup->beside_mask))
        lookup->found = lookup->beside_mask;
    else if (lookup->ground_truth && is_regular_file(lookup->ground_truth))
        lookup->found = lookup->ground_truth;
    return ADVGNN_OK;
}

/* Fails for a defect image without a mask, naming the files tried and the
 * options that change them. */
static int fail_missing_mask(advgnn_ctx *ctx, const folder_state *state, const mask_lookup *lookup)
{
    if (state->mask_dir[0] != '\0')
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "folder: defect image '%s' has no mask '%s'; add the mask, fix 'mask_dir', "
                            "'mask_suffix' or 'mask_extension', or set require_masks = false",
                            lookup->image, lookup->named);
    if (!lookup->beside_mask)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "folder: defect image '%s' has no mask: neither '%s' nor '%s' exists; add the mask, "
                            "set 'mask_dir', 'mask_suffix' or 'mask_extension', or set require_masks = false",
                            lookup->image, lookup->named, lookup->ground_truth);
    if (strcmp(lookup->named, lookup->image) == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "folder: defect image '%s' has no mask: with mask_suffix \"%s\" and mask_extension "
                            "\"%s\" its mask beside it would be the image itself, and neither '%s' nor '%s' "
                            "exists; set 'mask_suffix' (e.g. \"_gt\" for <name>_gt.png beside the image) or "
                            "'mask_dir', add the mask, or set require_masks = false to keep defect images without "
                            "masks",
                            lookup->image, state->mask_suffix, state->mask_extension, lookup->beside_mask,
                            lookup->ground_truth);
    return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                        "folder: defect image '%s' has no mask: none of '%s', '%s' and '%s' exists; add the mask, "
                        "set 'mask_dir', 'mask_suffix' or 'mask_extension', or set require_masks = false",
                        lookup->image, lookup->named, lookup->beside_mask, lookup->ground_truth);
}

/* Lists one defect folder into the test split, each image with its mask. */
static int list_defects(advgnn_ctx *ctx, const folder_state *state, advgnn_sample_sink *sink, size_t index,
                        size_t *defective)
{
    const char *dir = state->defect_dirs[index];
    file_list files;
    int rc = list_folder(ctx, state, dir, &files);
    if (rc != ADVGNN_OK)
        return rc;

    char *type = defect_type(state, index);
    char *masks = type ? mask_folder(state, dir, type) : NULL;
    if (!masks)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "folder: out of memory");

    for (size_t i = 0; i < files.count && rc == ADVGNN_OK; i++) {
        mask_lookup lookup;
        rc = find_mask(ctx, state, dir, masks, type, files.names[i], &lookup);
        if (rc != ADVGNN_OK)
            break;

        if (!lookup.found && state->require_masks) {
            rc = fail_missing_mask(ctx, state, &lookup);
        } else {
            /* load() is NULL, so the core never reads the key; it still identifies
             * the sample: defect folder index + 1 above bit 32, file index below. */
            uint64_t key = ((uint64_t)(index + 1) << 32) | i;
            rc = add_sample(ctx, state, sink, ADVGNN_SPLIT_TEST, type, dir, files.names[i], lookup.found, key);
            (*defective)++;
        }
        mask_lookup_free(&lookup);
    }
    advgnn_free(masks);
    advgnn_free(type);
    file_list_free(&files);
    return rc;
}

static int folder_list(void *opaque, advgnn_ctx *ctx, advgnn_sample_sink *sink)
{
    const folder_state *state = opaque;
    size_t counts[4] = {0};
    size_t defective = 0;

    int rc = list_normal(ctx, state, sink, counts);
    for (size_t i = 0; i < state->defect_dir_count && rc == ADVGNN_OK; i++)
        rc = list_defects(ctx, state, sink, i, &defective);
    if (rc != ADVGNN_OK)
        return rc;

    advgnn_log(ctx, ADVGNN_LOG_INFO,
               "folder: category %s: %zu train, %zu validation, %zu normal and %zu defective test images from '%s'",
               state->category, counts[ADVGNN_SPLIT_TRAIN], counts[ADVGNN_SPLIT_VALIDATION],
               counts[ADVGNN_SPLIT_TEST], defective, state->root);
    return ADVGNN_OK;
}

/* ---- descriptor ---------------------------------------------------------- */

static const advgnn_dataset_functions folder_functions = {
    .struct_size = sizeof(advgnn_dataset_functions),
    .open = folder_open,
    .close = folder_close,
    .list = folder_list,
    .load = NULL, /* the core decodes image_path and mask_path */
};

static const advgnn_plugin_descriptor folder_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_DATASET,
    .name = "folder",
    .version = "1.0.0",
    .description = "one category from a normal folder and defect folders, with masks beside or apart from images",
    .options = folder_options,
    .functions = &folder_functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &folder_descriptor;
}
