/* The folder dataset plugin through its descriptor: the real Magnetic Tile
 * layout (split counts, defect types, masks, seeded determinism), temporary
 * layouts with a mask folder or masks beside the images, MVTec AD's layout
 * from links to real images, and each error. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../synthetic/plugin_harness.h"
#include "advgnn/advgnn.h"
#include "check.h"
#include "data/sample_store.h"

#define TILE_ROOT ADVGNN_SHARED_DATA "/magnetic_tile"
#define METAL_NUT_ROOT ADVGNN_SHARED_DATA "/mvtec_ad/metal_nut"
#define BOTTLE_ROOT ADVGNN_SHARED_DATA "/mvtec_ad/bottle"

static advgnn_ctx *ctx;
static const advgnn_plugin_descriptor *desc;
static const advgnn_dataset_functions *fn;
static char tmpdir[256];

/* One option setting of a test case. */
typedef struct setting {
    const char *name;
    advgnn_value value;
} setting;

#define STR(n, v) {n, {.kind = ADVGNN_VALUE_STRING, .string = (v)}}
#define STRS(n, v, c) {n, {.kind = ADVGNN_VALUE_STRING_LIST, .strings = (v), .count = (c)}}
#define NUM(n, v) {n, {.kind = ADVGNN_VALUE_NUMBER, .number = (v)}}
#define INT(n, v) {n, {.kind = ADVGNN_VALUE_INTEGER, .integer = (v)}}
#define BOOL(n, v) {n, {.kind = ADVGNN_VALUE_BOOLEAN, .boolean = (v)}}

/* Opens the dataset with the settings; returns its state, or NULL with the
 * error left in ctx. */
static void *open_folder(const setting *settings, size_t count)
{
    advgnn_options *opts = harness_options(ctx, desc);
    void *state = NULL;

    if (!opts)
        return NULL;
    int rc = ADVGNN_OK;
    for (size_t i = 0; i < count && rc == ADVGNN_OK; i++)
        rc = advgnn_options_set(opts, ctx, settings[i].name, &settings[i].value);
    if (rc == ADVGNN_OK)
        rc = advgnn_options_finish(opts, ctx);
    if (rc == ADVGNN_OK)
        rc = fn->open(ctx, opts, &state);
    advgnn_options_free(opts);
    return rc == ADVGNN_OK ? state : NULL;
}

/* Lists the dataset into a finished store; NULL with the error in ctx. */
static advgnn_sample_store *list_folder(void *state)
{
    advgnn_sample_store *store = NULL;

    if (advgnn_sample_store_new(ctx, "folder", 1, &store) != ADVGNN_OK)
        return NULL;
    if (fn->list(state, ctx, store) != ADVGNN_OK || advgnn_sample_store_finish(store, ctx) != ADVGNN_OK) {
        advgnn_sample_store_free(store);
        return NULL;
    }
    return store;
}

static size_t split_count(const advgnn_sample_store *store, advgnn_split split)
{
    const advgnn_sample *samples;
    size_t count = 0;

    advgnn_sample_store_split(store, 0, split, &samples, &count);
    return count;
}

/* Counts the files of `dir` ending with `extension`, independently of the plugin. */
static size_t count_files(const char *dir, const char *extension)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;

    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), lx = strlen(extension);
        n += len > lx && strcmp(e->d_name + len - lx, extension) == 0;
    }
    closedir(d);
    return n;
}

static void touch(const char *dir, const char *name)
{
    char path[512];

    CHECK((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("x", f);
        fclose(f);
    }
}

static void make_dir(const char *path)
{
    CHECK(mkdir(path, 0755) == 0);
}

/* Creates dir/name as a symbolic link to `target`, so that real images are
 * used without copying them. */
static void link_file(const char *target, const char *dir, const char *name)
{
    char path[700];

    CHECK((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
    CHECK(symlink(target, path) == 0);
}

/* The warnings and debug lines that the plugin logged, for checks on them. */
static char log_lines[8192];
static size_t log_warnings;

static void capture_log(void *user, advgnn_log_level level, const char *line)
{
    size_t used = strlen(log_lines);

    (void)user;
    log_warnings += level == ADVGNN_LOG_WARN;
    snprintf(log_lines + used, sizeof(log_lines) - used, "%s\n", line);
}

/* Sends the plugin's log lines, down to debug, to log_lines until
 * stop_capture restores the quiet default. */
static void start_capture(void)
{
    log_lines[0] = '\0';
    log_warnings = 0;
    advgnn_ctx_set_log_sink(ctx, capture_log, NULL);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_DEBUG);
}

static void stop_capture(void)
{
    advgnn_ctx_set_log_sink(ctx, NULL, NULL);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
}

/* Opens and lists the dataset, or returns NULL with the error left in ctx. */
static advgnn_sample_store *open_and_list(const setting *settings, size_t count)
{
    void *state = open_folder(settings, count);
    advgnn_sample_store *store = state ? list_folder(state) : NULL;

    if (state)
        fn->close(state);
    return store;
}

/* Stores up to `max` defective test samples of a store in `out` and returns
 * how many there are. */
static size_t defective_samples(const advgnn_sample_store *store, const advgnn_sample **out, size_t max)
{
    const advgnn_sample *samples;
    size_t count, defective = 0;

    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
    for (size_t i = 0; i < count; i++) {
        if (!samples[i].anomalous)
            continue;
        if (defective < max)
            out[defective] = &samples[i];
        defective++;
    }
    return defective;
}

static void expect_failure(const setting *settings, size_t count, int status, const char *path, const char *hint);

/* ---- Magnetic Tile --------------------------------------------------------- */

static const char *const tile_types[] = {"MT_Blowhole", "MT_Break", "MT_Crack", "MT_Fray", "MT_Uneven"};
static const char *const tile_defect_dirs[] = {"MT_Blowhole/Imgs", "MT_Break/Imgs", "MT_Crack/Imgs",
                                               "MT_Fray/Imgs", "MT_Uneven/Imgs"};
static const char *const jpg_only[] = {".jpg"};

static advgnn_sample_store *list_tile(int64_t seed, int jpg_extension_only)
{
    setting settings[] = {
        STR("root", TILE_ROOT),
        STR("normal_dir", "MT_Free/Imgs"),
        STRS("defect_dirs", tile_defect_dirs, 5),
        STRS("defect_types", tile_types, 5),
        NUM("test_normal_ratio", 0.2),
        NUM("validation_ratio", 0.1),
        INT("seed", seed),
        STRS("image_extensions", jpg_only, 1),
    };
    size_t count = sizeof(settings) / sizeof(settings[0]) - (jpg_extension_only ? 0 : 1);
    void *state = open_folder(settings, count);
    CHECK(state != NULL);
    if (!state)
        return NULL;
    advgnn_sample_store *store = list_folder(state);
    CHECK(store != NULL);
    fn->close(state);
    return store;
}

static void check_tile_store(const advgnn_sample_store *store)
{
    const advgnn_sample *samples;
    size_t count;

    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 1);
    CHECK(strcmp(advgnn_sample_store_category(store, 0), "magnetic_tile") == 0);

    /* 952 normal images: round(0.2 * 952) = 190 test, round(0.1 * 762) = 76
     * validation, 686 train. */
    CHECK_INT_EQ(count_files(TILE_ROOT "/MT_Free/Imgs", ".jpg"), 952);
    CHECK_INT_EQ(split_count(store, ADVGNN_SPLIT_TRAIN), 686);
    CHECK_INT_EQ(split_count(store, ADVGNN_SPLIT_VALIDATION), 76);

    size_t expected_defects[5] = {0}, found_defects[5] = {0}, normal_test = 0, total_defects = 0;
    for (int t = 0; t < 5; t++) {
        char dir[512];
        snprintf(dir, sizeof(dir), "%s/%s", TILE_ROOT, tile_defect_dirs[t]);
        expected_defects[t] = count_files(dir, ".jpg");
        total_defects += expected_defects[t];
    }
    CHECK_INT_EQ(total_defects, 392);

    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
    CHECK_INT_EQ(count, 190 + 392);
    for (size_t i = 0; i < count; i++) {
        const advgnn_sample *s = &samples[i];
        if (!s->anomalous) {
            normal_test++;
            CHECK(strcmp(s->defect_type, "good") == 0);
            CHECK(s->mask_path == NULL);
            continue;
        }
        for (int t = 0; t < 5; t++)
            found_defects[t] += strcmp(s->defect_type, tile_types[t]) == 0;

        /* The mask is <name>.png beside <name>.jpg, and it exists. */
        CHECK(s->mask_path != NULL);
        if (!s->mask_path)
            continue;
        size_t len = strlen(s->image_path);
        CHECK(strncmp(s->mask_path, s->image_path, len - 4) == 0);
        CHECK(strcmp(s->mask_path + len - 4, ".png") == 0);
        CHECK(access(s->mask_path, R_OK) == 0);
        CHECK_INT_EQ(s->mask_threshold, 127);
    }
    CHECK_INT_EQ(normal_test, 190);
    for (int t = 0; t < 5; t++)
        CHECK_INT_EQ(found_defects[t], expected_defects[t]);
}

static void test_tile_layout(void)
{
    advgnn_sample_store *store = list_tile(7, 1);
    if (store)
        check_tile_store(store);
    advgnn_sample_store_free(store);

    /* With the default extensions the .png masks are images too, and the
     * plugin must still recognize them as masks. */
    store = list_tile(7, 0);
    if (store)
        check_tile_store(store);
    advgnn_sample_store_free(store);
}

/* Returns the number of train samples whose names differ between two stores
 * with equal train counts. */
static size_t train_differences(const advgnn_sample_store *a, const advgnn_sample_store *b)
{
    const advgnn_sample *sa, *sb;
    size_t na, nb, differ = 0;

    advgnn_sample_store_split(a, 0, ADVGNN_SPLIT_TRAIN, &sa, &na);
    advgnn_sample_store_split(b, 0, ADVGNN_SPLIT_TRAIN, &sb, &nb);
    CHECK_INT_EQ(na, nb);
    for (size_t i = 0; i < na && i < nb; i++)
        differ += strcmp(sa[i].name, sb[i].name) != 0;
    return differ;
}

static void test_tile_split_determinism(void)
{
    advgnn_sample_store *first = list_tile(7, 1);
    advgnn_sample_store *again = list_tile(7, 1);
    advgnn_sample_store *other = list_tile(8, 1);

    if (first && again && other) {
        CHECK_INT_EQ(train_differences(first, again), 0);
        CHECK(train_differences(first, other) > 0);
    }
    advgnn_sample_store_free(first);
    advgnn_sample_store_free(again);
    advgnn_sample_store_free(other);
}

/* Without defect_types every Magnetic Tile defect folder ends in "Imgs", so
 * every defect image gets that type, and the plugin warns once. */
static void test_tile_shared_type(void)
{
    setting settings[] = {STR("root", TILE_ROOT), STR("normal_dir", "MT_Free/Imgs"),
                          STRS("defect_dirs", tile_defect_dirs, 5), STRS("image_extensions", jpg_only, 1)};

    start_capture();
    advgnn_sample_store *store = open_and_list(settings, 4);
    stop_capture();
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count, defective = 0, typed_imgs = 0;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        for (size_t i = 0; i < count; i++) {
            defective += samples[i].anomalous;
            typed_imgs += samples[i].anomalous && strcmp(samples[i].defect_type, "Imgs") == 0;
        }
        CHECK_INT_EQ(defective, 392);
        CHECK_INT_EQ(typed_imgs, 392);
        advgnn_sample_store_free(store);
    }
    CHECK_STR_CONTAINS(log_lines, "'MT_Blowhole/Imgs' and 'MT_Break/Imgs' both end in 'Imgs'");
    CHECK_STR_CONTAINS(log_lines, "set 'defect_types'");
    CHECK_INT_EQ(log_warnings, 1);
}

/* ---- temporary layouts ------------------------------------------------------ */

/* root/good: 10 images plus a text file and a hidden image; root/defect:
 * d0.png, d1.PNG, d2.jpg; root/mask: their masks named <stem>_mask.png. */
static void make_mask_folder_layout(const char *folder, char *root, size_t size)
{
    char dir[512];

    snprintf(root, size, "%s/%s", tmpdir, folder);
    make_dir(root);
    snprintf(dir, sizeof(dir), "%s/good", root);
    make_dir(dir);
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "g%02d.png", i);
        touch(dir, name);
    }
    touch(dir, "notes.txt");
    touch(dir, ".hidden.png");
    snprintf(dir, sizeof(dir), "%s/defect", root);
    make_dir(dir);
    touch(dir, "d0.png");
    touch(dir, "d1.PNG");
    touch(dir, "d2.jpg");
    snprintf(dir, sizeof(dir), "%s/mask", root);
    make_dir(dir);
    touch(dir, "d0_mask.png");
    touch(dir, "d1_mask.png");
    touch(dir, "d2_mask.png");
}

static void test_mask_folder_layout(void)
{
    char root[512];
    make_mask_folder_layout("parts", root, sizeof(root));

    setting settings[] = {STR("root", root), STR("mask_dir", "mask"), STR("mask_suffix", "_mask"),
                          NUM("test_normal_ratio", 0.3), INT("mask_threshold", 10)};
    void *state = open_folder(settings, 5);
    CHECK(state != NULL);
    advgnn_sample_store *store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count;
        CHECK(strcmp(advgnn_sample_store_category(store, 0), "parts") == 0);
        CHECK_INT_EQ(split_count(store, ADVGNN_SPLIT_TRAIN), 7);
        CHECK_INT_EQ(split_count(store, ADVGNN_SPLIT_VALIDATION), 0);
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        CHECK_INT_EQ(count, 6);

        /* Sorted by name: the defect/... names come before good/... names. */
        static const char *const names[] = {"defect/d0.png", "defect/d1.PNG", "defect/d2.jpg"};
        static const char *const masks[] = {"d0_mask.png", "d1_mask.png", "d2_mask.png"};
        for (int i = 0; i < 3 && (size_t)i < count; i++) {
            char expected[600];
            CHECK(strcmp(samples[i].name, names[i]) == 0);
            CHECK_INT_EQ(samples[i].anomalous, 1);
            CHECK(strcmp(samples[i].defect_type, "defect") == 0);
            CHECK_INT_EQ(samples[i].mask_threshold, 10);
            snprintf(expected, sizeof(expected), "%s/mask/%s", root, masks[i]);
            CHECK(samples[i].mask_path && strcmp(samples[i].mask_path, expected) == 0);
        }
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);
}

/* Masks beside their images with a suffix, defect types from the last path
 * component or from defect_types, and a per-type subfolder of mask_dir. */
static void test_masks_beside_images(void)
{
    char root[512], dir[600];

    snprintf(root, sizeof(root), "%s/beside", tmpdir);
    make_dir(root);
    snprintf(dir, sizeof(dir), "%s/ok", root);
    make_dir(dir);
    touch(dir, "n0.png");
    touch(dir, "n1.png");
    snprintf(dir, sizeof(dir), "%s/scratch", root);
    make_dir(dir);
    touch(dir, "a.png");
    touch(dir, "a_mask.png");
    snprintf(dir, sizeof(dir), "%s/dent", root);
    make_dir(dir);
    snprintf(dir, sizeof(dir), "%s/dent/Imgs", root);
    make_dir(dir);
    touch(dir, "b.bmp");
    touch(dir, "b_mask.png");

    static const char *const defect_dirs[] = {"scratch", "dent/Imgs"};
    setting settings[] = {STR("root", root), STR("category", "metal"), STR("normal_dir", "ok"),
                          STRS("defect_dirs", defect_dirs, 2), STR("mask_suffix", "_mask"),
                          NUM("test_normal_ratio", 0.0)};
    void *state = open_folder(settings, 6);
    CHECK(state != NULL);
    advgnn_sample_store *store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count;
        CHECK(strcmp(advgnn_sample_store_category(store, 0), "metal") == 0);
        CHECK_INT_EQ(split_count(store, ADVGNN_SPLIT_TRAIN), 2);
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        CHECK_INT_EQ(count, 2); /* a_mask.png is not an image */
        if (count == 2) {
            CHECK(strcmp(samples[0].name, "dent/Imgs/b.bmp") == 0);
            CHECK(strcmp(samples[0].defect_type, "Imgs") == 0);
            CHECK_STR_CONTAINS(samples[0].mask_path, "/dent/Imgs/b_mask.png");
            CHECK(strcmp(samples[1].name, "scratch/a.png") == 0);
            CHECK(strcmp(samples[1].defect_type, "scratch") == 0);
            CHECK_STR_CONTAINS(samples[1].mask_path, "/scratch/a_mask.png");
        }
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);

    /* defect_types names the types in the order of defect_dirs. */
    static const char *const types[] = {"scratch", "dent"};
    setting named[] = {STR("root", root), STR("normal_dir", "ok"), STRS("defect_dirs", defect_dirs, 2),
                       STRS("defect_types", types, 2), STR("mask_suffix", "_mask"), NUM("test_normal_ratio", 0.0)};
    store = open_and_list(named, 6);
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        CHECK_INT_EQ(count, 2);
        if (count == 2) {
            CHECK(strcmp(samples[0].name, "dent/Imgs/b.bmp") == 0);
            CHECK(strcmp(samples[0].defect_type, "dent") == 0);
            CHECK(strcmp(samples[1].defect_type, "scratch") == 0);
        }
        advgnn_sample_store_free(store);
    }

    /* mask_dir with a subfolder named after the defect type is preferred. */
    snprintf(dir, sizeof(dir), "%s/gt", root);
    make_dir(dir);
    snprintf(dir, sizeof(dir), "%s/gt/scratch", root);
    make_dir(dir);
    touch(dir, "a.png");
    snprintf(dir, sizeof(dir), "%s/gt", root);
    touch(dir, "b.png");
    setting typed[] = {STR("root", root), STR("normal_dir", "ok"), STRS("defect_dirs", defect_dirs, 2),
                       STR("mask_dir", "gt"), NUM("test_normal_ratio", 0.0), BOOL("require_masks", 0)};
    state = open_folder(typed, 6);
    CHECK(state != NULL);
    store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        /* With mask_dir set, a_mask.png and b_mask.png are images of their
         * own, without masks in gt. */
        CHECK_INT_EQ(count, 4);
        for (size_t i = 0; i < count; i++) {
            if (strcmp(samples[i].name, "scratch/a.png") == 0)
                CHECK_STR_CONTAINS(samples[i].mask_path, "/gt/scratch/a.png");
            if (strcmp(samples[i].name, "scratch/a_mask.png") == 0)
                CHECK(samples[i].mask_path == NULL);
            if (strcmp(samples[i].name, "dent/Imgs/b.bmp") == 0)
                CHECK_STR_CONTAINS(samples[i].mask_path, "/gt/b.png");
        }
        advgnn_sample_store_free(store);
    }
    advgnn_ctx_clear_error(ctx);
    if (state)
        fn->close(state);
}

/* With the default options on a layout without mask files, a PNG defect
 * image is never its own mask, and require_masks names the image and the
 * options. MVTec AD's ground_truth/<defect>/<stem>_mask.png is found without
 * options. */
static void test_default_masks(void)
{
    char root[512], dir[600], image[700];

    snprintf(root, sizeof(root), "%s/no_masks", tmpdir);
    make_dir(root);
    snprintf(dir, sizeof(dir), "%s/good", root);
    make_dir(dir);
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "g%d.png", i);
        touch(dir, name);
    }
    snprintf(dir, sizeof(dir), "%s/defect", root);
    make_dir(dir);
    touch(dir, "d0.png");
    touch(dir, "d1.png");

    setting defaults[] = {STR("root", root)};
    snprintf(image, sizeof(image), "%s/defect/d0.png", root);
    expect_failure(defaults, 1, ADVGNN_ERR_NOT_FOUND, image, "would be the image itself");
    expect_failure(defaults, 1, ADVGNN_ERR_NOT_FOUND, "set 'mask_suffix'", "require_masks = false");

    setting optional[] = {STR("root", root), BOOL("require_masks", 0)};
    const advgnn_sample *defects[2];
    advgnn_sample_store *store = open_and_list(optional, 2);
    CHECK(store != NULL);
    if (store) {
        size_t defective = defective_samples(store, defects, 2);
        CHECK_INT_EQ(defective, 2);
        for (size_t i = 0; i < defective && i < 2; i++)
            CHECK(defects[i]->mask_path == NULL);
        advgnn_sample_store_free(store);
    }

    /* MVTec AD's mask folder is found with the default options. d1 has no
     * mask there, and the message names both files tried. */
    snprintf(dir, sizeof(dir), "%s/ground_truth", root);
    make_dir(dir);
    snprintf(dir, sizeof(dir), "%s/ground_truth/defect", root);
    make_dir(dir);
    touch(dir, "d0_mask.png");
    snprintf(image, sizeof(image), "%s/ground_truth/defect/d1_mask.png", root);
    expect_failure(defaults, 1, ADVGNN_ERR_NOT_FOUND, image, "would be the image itself");
    touch(dir, "d1_mask.png");

    store = open_and_list(defaults, 1);
    CHECK(store != NULL);
    if (store) {
        size_t defective = defective_samples(store, defects, 2);
        CHECK_INT_EQ(defective, 2);
        for (size_t i = 0; i < defective && i < 2; i++) {
            CHECK(defects[i]->mask_path != NULL);
            if (!defects[i]->mask_path)
                continue;
            CHECK(strcmp(defects[i]->mask_path, defects[i]->image_path) != 0);
            CHECK_STR_CONTAINS(defects[i]->mask_path, "/ground_truth/defect/d");
            CHECK_STR_CONTAINS(defects[i]->mask_path, "_mask.png");
        }
        advgnn_sample_store_free(store);
    }

    /* The same layout in MVTec AD's form: the ground_truth folder is named
     * after the defect folder's last path component. */
    static const char *const nested[] = {"test/defect"};
    snprintf(dir, sizeof(dir), "%s/test", root);
    make_dir(dir);
    snprintf(dir, sizeof(dir), "%s/test/defect", root);
    make_dir(dir);
    touch(dir, "d0.png");
    setting mvtec[] = {STR("root", root), STRS("defect_dirs", nested, 1)};
    store = open_and_list(mvtec, 2);
    CHECK(store != NULL);
    if (store) {
        size_t defective = defective_samples(store, defects, 2);
        CHECK_INT_EQ(defective, 1);
        for (size_t i = 0; i < defective && i < 2; i++) {
            CHECK(strcmp(defects[i]->name, "test/defect/d0.png") == 0);
            CHECK(strcmp(defects[i]->defect_type, "defect") == 0);
            CHECK_STR_CONTAINS(defects[i]->mask_path, "/ground_truth/defect/d0_mask.png");
        }
        advgnn_sample_store_free(store);
    }
}

/* A file as root is named as a file, never as missing. An archive, known by
 * its name or by its first bytes, is named as one that this plugin cannot
 * read, and any other file as not the dataset folder. */
static void test_file_root(void)
{
    char root[512];

    snprintf(root, sizeof(root), "%s/parts.tar.xz", tmpdir);
    FILE *f = fopen(root, "wb");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    setting file_root[] = {STR("root", root)};
    expect_failure(file_root, 1, ADVGNN_ERR_NOT_IMPLEMENTED, root, "reads folders only, not archives");
    advgnn_ctx_clear_error(ctx);
    void *state = open_folder(file_root, 1);
    CHECK(state == NULL);
    CHECK(strstr(advgnn_ctx_error(ctx), "not found") == NULL);
    advgnn_ctx_clear_error(ctx);

    /* An xz stream under another name is still an archive. */
    char renamed[512];
    snprintf(renamed, sizeof(renamed), "%s/parts.bin", tmpdir);
    f = fopen(renamed, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite("\xfd" "7zXZ\0", 1, 6, f);
        fclose(f);
    }
    setting renamed_root[] = {STR("root", renamed)};
    expect_failure(renamed_root, 1, ADVGNN_ERR_NOT_IMPLEMENTED, renamed, "extract it");
}

/* With a real image as root, the message states that root must be a folder
 * and mentions no archive. */
static void test_image_root(void)
{
    const char *image = BOTTLE_ROOT "/train/good/000.png";
    setting image_root[] = {STR("root", image)};

    expect_failure(image_root, 1, ADVGNN_ERR_NOT_FOUND, image, "is a file, not a folder");
    expect_failure(image_root, 1, ADVGNN_ERR_NOT_FOUND, "set 'root' to the dataset folder", "contains 'good'");
    void *state = open_folder(image_root, 1);
    CHECK(state == NULL);
    CHECK(strstr(advgnn_ctx_error(ctx), "archive") == NULL);
    CHECK(strstr(advgnn_ctx_error(ctx), "extract") == NULL);
    advgnn_ctx_clear_error(ctx);
}

/* Fails each allocation of open and list in turn on the mask folder layout:
 * every failure must come back as a status, without a leak (checked under
 * ASan) or a crash. */
static void test_allocation_failures(void)
{
    char root[512];
    int failures = 0;

    snprintf(root, sizeof(root), "%s/parts", tmpdir);
    setting settings[] = {STR("root", root), STR("mask_dir", "mask"), STR("mask_suffix", "_mask")};
    advgnn_options *opts = harness_options(ctx, desc);
    CHECK(opts != NULL);
    for (size_t i = 0; opts && i < 3; i++)
        CHECK_INT_EQ(advgnn_options_set(opts, ctx, settings[i].name, &settings[i].value), ADVGNN_OK);

    for (size_t n = 1; opts && n < 400; n++) {
        void *state = NULL;
        advgnn_sample_store *store = NULL;
        advgnn_alloc_fail_after(n);
        int rc = fn->open(ctx, opts, &state);
        if (rc == ADVGNN_OK)
            rc = advgnn_sample_store_new(ctx, "folder", 1, &store);
        if (rc == ADVGNN_OK)
            rc = fn->list(state, ctx, store);
        size_t used = advgnn_alloc_fail_after(0);
        advgnn_sample_store_free(store);
        if (state)
            fn->close(state);
        advgnn_ctx_clear_error(ctx);
        if (rc == ADVGNN_OK && used < n)
            break; /* no allocation failed: every earlier one was tried */
        failures += rc != ADVGNN_OK;
    }
    CHECK(failures > 10);
    advgnn_options_free(opts);
}

/* Links up to `count` files of `source` ending in `extension` into `dir`,
 * in byte order of their names. With `mask_suffix`, also links the .png
 * beside each as <stem><mask_suffix>.png, as Magnetic Tile keeps its masks
 * beside its images. Returns the number of images linked. */
static size_t link_images(const char *source, const char *extension, const char *dir, size_t count,
                          const char *mask_suffix)
{
    struct dirent **entries;
    int n = scandir(source, &entries, NULL, alphasort);
    size_t linked = 0;

    CHECK(n > 0);
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        size_t len = strlen(name), lx = strlen(extension);
        if (linked < count && len > lx && strcmp(name + len - lx, extension) == 0) {
            char target[700], stem[256], mask[300];
            snprintf(target, sizeof(target), "%s/%s", source, name);
            link_file(target, dir, name);
            snprintf(stem, sizeof(stem), "%.*s", (int)(len - lx), name);
            if (mask_suffix) {
                snprintf(target, sizeof(target), "%s/%s.png", source, stem);
                snprintf(mask, sizeof(mask), "%s%s.png", stem, mask_suffix);
                link_file(target, dir, mask);
            }
            linked++;
        }
        free(entries[i]);
    }
    if (n > 0)
        free(entries);
    return linked;
}

/* Creates tmpdir/<name> with good/ containing links to the first 5 images of
 * `normal_source` that end in `extension`, and an empty defect/. Writes the
 * root folder to `root` and the defect folder to `defect` (600 bytes each). */
static void make_linked_layout(const char *name, const char *normal_source, const char *extension, char *root,
                               char *defect)
{
    char good[700];

    snprintf(root, 600, "%s/%s", tmpdir, name);
    make_dir(root);
    snprintf(good, sizeof(good), "%s/good", root);
    make_dir(good);
    CHECK_INT_EQ(link_images(normal_source, extension, good, 5, NULL), 5);
    snprintf(defect, 600, "%s/defect", root);
    make_dir(defect);
}

/* Checks that the store has `expected` defect images, each with the mask
 * <image stem>_mask.png beside it. */
static void check_masks_beside(const advgnn_sample_store *store, size_t expected)
{
    const advgnn_sample *defects[8];
    size_t count = defective_samples(store, defects, 8);

    CHECK_INT_EQ(count, expected);
    for (size_t i = 0; i < count && i < 8; i++) {
        const char *image = defects[i]->image_path;
        const char *mask = defects[i]->mask_path;
        CHECK(mask != NULL);
        if (!mask)
            continue;
        size_t stem = strlen(image) - strlen(strrchr(image, '.'));
        CHECK(strncmp(mask, image, stem) == 0);
        CHECK(strcmp(mask + stem, "_mask.png") == 0);
    }
}

/* Masks named <stem>_mask.png beside real Magnetic Tile images, with the
 * default empty mask_suffix, are the masks of those images and never defect
 * images of their own, with require_masks true or false. A file named like a
 * mask whose image is missing stays an image, with one warning. */
static void test_default_suffix_beside(void)
{
    char root[600], dir[600];

    make_linked_layout("mask_beside", TILE_ROOT "/MT_Free/Imgs", ".jpg", root, dir);
    CHECK_INT_EQ(link_images(TILE_ROOT "/MT_Crack/Imgs", ".jpg", dir, 3, "_mask"), 3);

    setting required[] = {STR("root", root)};
    start_capture();
    advgnn_sample_store *store = open_and_list(required, 1);
    stop_capture();
    CHECK(store != NULL);
    if (store)
        check_masks_beside(store, 3);
    advgnn_sample_store_free(store);
    CHECK_STR_CONTAINS(log_lines, "3 mask file(s) beside the images");
    CHECK_INT_EQ(log_warnings, 0);
    advgnn_ctx_clear_error(ctx);

    setting optional[] = {STR("root", root), BOOL("require_masks", 0)};
    store = open_and_list(optional, 2);
    CHECK(store != NULL);
    if (store)
        check_masks_beside(store, 3);
    advgnn_sample_store_free(store);

    /* A real mask without its image is listed as an image, with a warning. */
    link_file(TILE_ROOT "/MT_Crack/Imgs/exp1_num_249594.png", dir, "lost_mask.png");
    start_capture();
    store = open_and_list(optional, 2);
    stop_capture();
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *defects[8];
        CHECK_INT_EQ(defective_samples(store, defects, 8), 4);
    }
    advgnn_sample_store_free(store);
    CHECK_STR_CONTAINS(log_lines, "named like the mask of an image that is not there, such as 'lost_mask.png'");
    CHECK_INT_EQ(log_warnings, 1);
    advgnn_ctx_clear_error(ctx);
}

/* The same with PNG images, where the first name tried beside the image is
 * the image itself. a.png is a bottle image from MVTec AD, beside a_mask.png. */
static void test_default_suffix_png(void)
{
    char root[600], dir[600];

    make_linked_layout("png_beside", BOTTLE_ROOT "/train/good", ".png", root, dir);
    link_file(BOTTLE_ROOT "/test/broken_large/000.png", dir, "a.png");
    link_file(METAL_NUT_ROOT "/ground_truth/color/000_mask.png", dir, "a_mask.png");

    setting defaults[] = {STR("root", root)};
    advgnn_sample_store *store = open_and_list(defaults, 1);
    CHECK(store != NULL);
    if (store)
        check_masks_beside(store, 1);
    advgnn_sample_store_free(store);
    advgnn_ctx_clear_error(ctx);
}

/* MVTec AD's own layout, linked from metal_nut, with test/color/000.png and
 * ground_truth/color/000_mask.png. The defect type is "color", the defect
 * folder's own name, for the default mask lookup and for mask_dir alike. */
static void test_mvtec_layout(void)
{
    char root[512], link[600];

    snprintf(root, sizeof(root), "%s/metal_nut", tmpdir);
    make_dir(root);
    snprintf(link, sizeof(link), "%s/train", root);
    CHECK(symlink(BOTTLE_ROOT "/train", link) == 0);
    snprintf(link, sizeof(link), "%s/test", root);
    CHECK(symlink(METAL_NUT_ROOT "/test", link) == 0);
    snprintf(link, sizeof(link), "%s/ground_truth", root);
    CHECK(symlink(METAL_NUT_ROOT "/ground_truth", link) == 0);

    static const char *const color[] = {"test/color"};
    setting defaults[] = {STR("root", root), STR("normal_dir", "train/good"), STRS("defect_dirs", color, 1)};
    setting gt_dir[] = {STR("root", root), STR("normal_dir", "train/good"), STRS("defect_dirs", color, 1),
                        STR("mask_dir", "ground_truth"), STR("mask_suffix", "_mask")};
    for (int variant = 0; variant < 2; variant++) {
        advgnn_sample_store *store = variant == 0 ? open_and_list(defaults, 3) : open_and_list(gt_dir, 5);
        CHECK(store != NULL);
        if (!store)
            continue;
        const advgnn_sample *defects[2];
        CHECK_INT_EQ(defective_samples(store, defects, 2), 1);
        CHECK(strcmp(defects[0]->name, "test/color/000.png") == 0);
        CHECK(strcmp(defects[0]->defect_type, "color") == 0);
        CHECK_STR_CONTAINS(defects[0]->mask_path, "/metal_nut/ground_truth/color/000_mask.png");
        advgnn_sample_store_free(store);
    }

    /* mask_dir without the suffix names the file it tried, in ground_truth/color. */
    char path[700];
    setting no_suffix[] = {STR("root", root), STR("normal_dir", "train/good"), STRS("defect_dirs", color, 1),
                           STR("mask_dir", "ground_truth")};
    snprintf(path, sizeof(path), "%s/ground_truth/color/000.png", root);
    expect_failure(no_suffix, 4, ADVGNN_ERR_NOT_FOUND, path, "'mask_suffix'");

    /* defect_types renames the type, and the ground_truth folder with it. */
    static const char *const paint[] = {"paint"};
    setting renamed[] = {STR("root", root), STR("normal_dir", "train/good"), STRS("defect_dirs", color, 1),
                         STRS("defect_types", paint, 1), BOOL("require_masks", 0)};
    advgnn_sample_store *store = open_and_list(renamed, 5);
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *defects[2];
        CHECK_INT_EQ(defective_samples(store, defects, 2), 1);
        CHECK(strcmp(defects[0]->defect_type, "paint") == 0);
        CHECK(defects[0]->mask_path == NULL);
        advgnn_sample_store_free(store);
    }
    snprintf(path, sizeof(path), "%s/ground_truth/paint/000_mask.png", root);
    expect_failure(renamed, 4, ADVGNN_ERR_NOT_FOUND, path, "require_masks = false");

    static const char *const two_types[] = {"paint", "scratch"};
    setting too_many[] = {STR("root", root), STR("normal_dir", "train/good"), STRS("defect_dirs", color, 1),
                          STRS("defect_types", two_types, 2)};
    expect_failure(too_many, 4, ADVGNN_ERR_OPTION, "'defect_types' has 2 entries", "'defect_dirs' has 1");
    static const char *const nested_type[] = {"a/b"};
    setting with_slash[] = {STR("root", root), STR("normal_dir", "train/good"), STRS("defect_dirs", color, 1),
                            STRS("defect_types", nested_type, 1)};
    expect_failure(with_slash, 4, ADVGNN_ERR_OPTION, "'a/b'", "without '/'");
}

/* ---- errors ----------------------------------------------------------------- */

/* Expects open (or, when open succeeds, list) to fail with `status` and a
 * message containing both `path` and `hint`. */
static void expect_failure(const setting *settings, size_t count, int status, const char *path, const char *hint)
{
    advgnn_ctx_clear_error(ctx);
    void *state = open_folder(settings, count);
    if (state) {
        advgnn_sample_store *store = list_folder(state);
        CHECK(store == NULL);
        advgnn_sample_store_free(store);
        fn->close(state);
    }
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), status);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), path);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), hint);
    printf("expected failure: %s\n", advgnn_ctx_error(ctx));
    advgnn_ctx_clear_error(ctx);
}

static void test_errors(void)
{
    char root[512], missing[600], path[700];
    make_mask_folder_layout("broken", root, sizeof(root));

    snprintf(missing, sizeof(missing), "%s/no_such_dataset", tmpdir);
    setting no_root[] = {STR("root", missing)};
    expect_failure(no_root, 1, ADVGNN_ERR_NOT_FOUND, missing, "set 'root'");

    setting no_normal[] = {STR("root", root), STR("normal_dir", "train/good")};
    snprintf(path, sizeof(path), "%s/train/good", root);
    expect_failure(no_normal, 2, ADVGNN_ERR_NOT_FOUND, path, "normal_dir");

    static const char *const no_such_defects[] = {"defect", "holes"};
    setting no_defect[] = {STR("root", root), STRS("defect_dirs", no_such_defects, 2)};
    snprintf(path, sizeof(path), "%s/holes", root);
    expect_failure(no_defect, 2, ADVGNN_ERR_NOT_FOUND, path, "defect_dirs");

    /* A normal folder with files but no image of the listed extensions. */
    snprintf(path, sizeof(path), "%s/empty", root);
    make_dir(path);
    touch(path, "readme.txt");
    setting empty[] = {STR("root", root), STR("normal_dir", "empty"), STR("mask_dir", "mask"),
                       STR("mask_suffix", "_mask")};
    expect_failure(empty, 4, ADVGNN_ERR_NOT_FOUND, path, "no images (.png, .jpg, .jpeg, .bmp)");

    /* An entry named like an image that is no readable file is an error
     * naming it: a link to nothing, a folder called zz.jpg. */
    char entry[800];
    snprintf(path, sizeof(path), "%s/links", root);
    make_dir(path);
    snprintf(entry, sizeof(entry), "%s/gone.png", path);
    CHECK(symlink("no_such_target.png", entry) == 0);
    setting links[] = {STR("root", root), STR("normal_dir", "links"), STR("mask_dir", "mask"),
                       STR("mask_suffix", "_mask")};
    expect_failure(links, 4, ADVGNN_ERR_NOT_FOUND, entry, "target is missing");
    CHECK(unlink(entry) == 0);
    snprintf(entry, sizeof(entry), "%s/zz.jpg", path);
    make_dir(entry);
    touch(path, "a.png");
    expect_failure(links, 4, ADVGNN_ERR_IO, entry, "is a folder");

    /* d1's mask removed: an error naming the image, unless masks are optional. */
    snprintf(path, sizeof(path), "%s/mask/d1_mask.png", root);
    CHECK(unlink(path) == 0);
    setting required[] = {STR("root", root), STR("mask_dir", "mask"), STR("mask_suffix", "_mask")};
    expect_failure(required, 3, ADVGNN_ERR_NOT_FOUND, "defect/d1.PNG", "require_masks = false");

    setting optional[] = {STR("root", root), STR("mask_dir", "mask"), STR("mask_suffix", "_mask"),
                          BOOL("require_masks", 0)};
    void *state = open_folder(optional, 4);
    advgnn_sample_store *store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        CHECK(count >= 2);
        if (count >= 2) {
            CHECK(strcmp(samples[1].name, "defect/d1.PNG") == 0);
            CHECK(samples[1].mask_path == NULL);
            CHECK_INT_EQ(samples[1].anomalous, 1);
        }
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);

    /* Ratios that leave no image for training. */
    setting all_test[] = {STR("root", root), STR("mask_dir", "mask"), STR("mask_suffix", "_mask"),
                          BOOL("require_masks", 0), NUM("test_normal_ratio", 0.5), NUM("validation_ratio", 1.0)};
    expect_failure(all_test, 6, ADVGNN_ERR_OPTION, "good", "lower the ratios");

    /* mask_threshold t marks a pixel above t as defective. 255 would mark
     * none, so the documented range is 0 to 254. */
    setting saturated[] = {STR("root", root), INT("mask_threshold", 255)};
    expect_failure(saturated, 2, ADVGNN_ERR_OPTION, "mask_threshold", "254");
    setting highest[] = {STR("root", root), STR("mask_dir", "mask"), STR("mask_suffix", "_mask"),
                         BOOL("require_masks", 0), INT("mask_threshold", 254)};
    store = open_and_list(highest, 5);
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *defects[4];
        CHECK_INT_EQ(defective_samples(store, defects, 4), 3);
        CHECK_INT_EQ(defects[0]->mask_threshold, 254);
    }
    advgnn_sample_store_free(store);

    /* root is required; the option set reports it before open runs. */
    setting nothing[] = {INT("seed", 1)};
    expect_failure(nothing, 1, ADVGNN_ERR_OPTION, "root", "root");
}

int main(void)
{
    void *handle = NULL;

    ctx = advgnn_ctx_new();
    CHECK(ctx != NULL);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    desc = harness_load("folder", &handle);
    CHECK(desc != NULL);
    if (!desc) {
        advgnn_ctx_free(ctx);
        return CHECK_DONE();
    }
    fn = desc->functions;
    CHECK(fn->load == NULL);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/advgnn_folder_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);

    if (access(TILE_ROOT "/MT_Free/Imgs", R_OK) == 0) {
        test_tile_layout();
        test_tile_split_determinism();
        test_tile_shared_type();
        test_default_suffix_beside();
    } else {
        printf("shared data not found at %s: Magnetic Tile checks skipped\n", TILE_ROOT);
    }
    if (access(BOTTLE_ROOT "/train/good", R_OK) == 0 && access(METAL_NUT_ROOT "/ground_truth", R_OK) == 0) {
        test_default_suffix_png();
        test_mvtec_layout();
        test_image_root();
    } else {
        printf("shared data not found at %s: MVTec AD checks skipped\n", ADVGNN_SHARED_DATA "/mvtec_ad");
    }
    test_mask_folder_layout();
    test_masks_beside_images();
    test_default_masks();
    test_file_root();
    test_allocation_failures();
    test_errors();
    if (check_failures)
        fprintf(stderr, "last error: %s\n", advgnn_ctx_error(ctx));

    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
