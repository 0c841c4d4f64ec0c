/* The folder dataset plugin through its descriptor: the real Magnetic Tile
 * layout (split counts, defect types, masks, seeded determinism), temporary
 * layouts with a mask folder or masks beside the images, and each error. */
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

/* Masks beside their images with a suffix, defect types from the first path
 * component, and a per-type subfolder of mask_dir. */
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
            CHECK(strcmp(samples[0].defect_type, "dent") == 0);
            CHECK_STR_CONTAINS(samples[0].mask_path, "/dent/Imgs/b_mask.png");
            CHECK(strcmp(samples[1].name, "scratch/a.png") == 0);
            CHECK(strcmp(samples[1].defect_type, "scratch") == 0);
            CHECK_STR_CONTAINS(samples[1].mask_path, "/scratch/a_mask.png");
        }
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);

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

/* The default options on a layout without mask files: a PNG defect image is
 * never its own mask, require_masks names the image and the options, and
 * MVTec AD's ground_truth/<defect>/<stem>_mask.png is found without options. */
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
    void *state = open_folder(optional, 2);
    CHECK(state != NULL);
    advgnn_sample_store *store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count, defective = 0;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        for (size_t i = 0; i < count; i++) {
            if (!samples[i].anomalous)
                continue;
            defective++;
            CHECK(samples[i].mask_path == NULL);
        }
        CHECK_INT_EQ(defective, 2);
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);

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

    state = open_folder(defaults, 1);
    CHECK(state != NULL);
    store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count, defective = 0;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        for (size_t i = 0; i < count; i++) {
            if (!samples[i].anomalous)
                continue;
            defective++;
            CHECK(samples[i].mask_path != NULL);
            if (!samples[i].mask_path)
                continue;
            CHECK(strcmp(samples[i].mask_path, samples[i].image_path) != 0);
            CHECK_STR_CONTAINS(samples[i].mask_path, "/ground_truth/defect/d");
            CHECK_STR_CONTAINS(samples[i].mask_path, "_mask.png");
        }
        CHECK_INT_EQ(defective, 2);
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);

    /* The same layout in MVTec AD's form: the ground_truth folder is named
     * after the defect folder's last path component. */
    static const char *const nested[] = {"test/defect"};
    snprintf(dir, sizeof(dir), "%s/test", root);
    make_dir(dir);
    snprintf(dir, sizeof(dir), "%s/test/defect", root);
    make_dir(dir);
    touch(dir, "d0.png");
    setting mvtec[] = {STR("root", root), STRS("defect_dirs", nested, 1)};
    state = open_folder(mvtec, 2);
    CHECK(state != NULL);
    store = state ? list_folder(state) : NULL;
    CHECK(store != NULL);
    if (store) {
        const advgnn_sample *samples;
        size_t count;
        size_t defective = 0;
        advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
        for (size_t i = 0; i < count; i++) {
            if (!samples[i].anomalous)
                continue;
            defective++;
            CHECK(strcmp(samples[i].name, "test/defect/d0.png") == 0);
            CHECK_STR_CONTAINS(samples[i].mask_path, "/ground_truth/defect/d0_mask.png");
        }
        CHECK_INT_EQ(defective, 1);
        advgnn_sample_store_free(store);
    }
    if (state)
        fn->close(state);
}

/* A file as root, such as an archive, is named as a file that this plugin
 * cannot read, never as missing. */
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
    } else {
        printf("shared data not found at %s: Magnetic Tile checks skipped\n", TILE_ROOT);
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
