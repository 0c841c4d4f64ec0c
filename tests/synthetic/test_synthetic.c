/* The synthetic dataset plugin through its descriptor: split counts, seeded
 * determinism, exact masks, option errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"
#include "data/sample_store.h"
#include "plugin_harness.h"

static advgnn_ctx *ctx;
static const advgnn_plugin_descriptor *desc;
static const advgnn_dataset_functions *fn;

static const char *const all_kinds[] = {"checker", "stripes", "fabric", "noise", "dots"};

typedef struct config {
    const char *const *kinds;
    size_t kind_count;
    int size;
    int train, validation, normal, anomalous;
    int64_t seed;
    double scale;
    int render;
} config;

static config small_config(void)
{
    config cfg = {all_kinds, 5, 48, 2, 0, 1, 5, 7, 1.0, 1};

    return cfg;
}

/* Opens the dataset; returns its state or NULL (the error stays in ctx). */
static void *open_dataset(const config *cfg)
{
    advgnn_options *opts = harness_options(ctx, desc);
    void *state = NULL;
    int rc;

    if (!opts)
        return NULL;
    rc = harness_set_strings(opts, ctx, "kinds", cfg->kinds, cfg->kind_count);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "image_size", cfg->size);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "train_count", cfg->train);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "validation_count", cfg->validation);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "test_normal_count", cfg->normal);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "test_anomalous_count", cfg->anomalous);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "seed", cfg->seed);
    if (rc == ADVGNN_OK)
        rc = harness_set_number(opts, ctx, "defect_scale", cfg->scale);
    if (rc == ADVGNN_OK)
        rc = harness_set_bool(opts, ctx, "render_defects", cfg->render);
    if (rc == ADVGNN_OK)
        rc = fn->open(ctx, opts, &state);
    advgnn_options_free(opts);
    return rc == ADVGNN_OK ? state : NULL;
}

/* Lists the dataset into a finished sample store. */
static advgnn_sample_store *list_dataset(void *state)
{
    advgnn_sample_store *store = NULL;

    CHECK_INT_EQ(advgnn_sample_store_new(ctx, "synthetic", 0, &store), ADVGNN_OK);
    CHECK_INT_EQ(fn->list(state, ctx, store), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_sample_store_finish(store, ctx), ADVGNN_OK);
    return store;
}

static size_t image_bytes(const advgnn_image *img)
{
    return img->data ? (size_t)img->width * img->height * img->channels : 0;
}

static int images_equal(const advgnn_image *a, const advgnn_image *b)
{
    return a->width == b->width && a->height == b->height && a->channels == b->channels && a->type == b->type &&
           image_bytes(a) == image_bytes(b) && (image_bytes(a) == 0 || memcmp(a->data, b->data, image_bytes(a)) == 0);
}

static int load_sample(void *state, const advgnn_sample *sample, advgnn_image *image, advgnn_image *mask)
{
    advgnn_sample_info info;

    memset(image, 0, sizeof(*image));
    memset(mask, 0, sizeof(*mask));
    advgnn_sample_to_info(sample, &info);
    return fn->load(state, ctx, &info, image, mask);
}

/* Calls f on every sample of every category and split of the store. */
static void for_each_sample(const advgnn_sample_store *store, void (*f)(const advgnn_sample *, void *), void *user)
{
    static const advgnn_split splits[] = {ADVGNN_SPLIT_TRAIN, ADVGNN_SPLIT_VALIDATION, ADVGNN_SPLIT_TEST};

    for (size_t c = 0; c < advgnn_sample_store_category_count(store); c++) {
        for (size_t s = 0; s < 3; s++) {
            const advgnn_sample *samples;
            size_t count;

            advgnn_sample_store_split(store, c, splits[s], &samples, &count);
            for (size_t i = 0; i < count; i++)
                f(&samples[i], user);
        }
    }
}

/* ---- counts -------------------------------------------------------------- */

static void test_split_counts(void)
{
    static const char *const kinds[] = {"dots", "checker"};
    config cfg = {kinds, 2, 32, 3, 2, 2, 7, 5, 1.0, 1};
    void *state = open_dataset(&cfg);
    advgnn_sample_store *store;
    const advgnn_sample *samples;
    size_t count, anomalous = 0, per_defect[5] = {0};
    static const char *const defects[] = {"scratch", "blob", "crack", "spot", "stain"};

    CHECK(state != NULL);
    if (!state)
        return;
    store = list_dataset(state);
    CHECK_INT_EQ(advgnn_sample_store_category_count(store), 2);
    CHECK(advgnn_sample_store_find_category(store, "checker") >= 0);
    CHECK(advgnn_sample_store_find_category(store, "dots") >= 0);
    CHECK_INT_EQ(advgnn_sample_store_count(store), 2 * (3 + 2 + 2 + 7));

    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TRAIN, &samples, &count);
    CHECK_INT_EQ(count, 3);
    for (size_t i = 0; i < count; i++) {
        CHECK_INT_EQ(samples[i].anomalous, 0);
        CHECK(strcmp(samples[i].defect_type, "good") == 0);
    }
    advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_VALIDATION, &samples, &count);
    CHECK_INT_EQ(count, 2);

    /* Seven anomalies take the five shapes in turn: two of the first two. */
    advgnn_sample_store_split(store, 1, ADVGNN_SPLIT_TEST, &samples, &count);
    CHECK_INT_EQ(count, 9);
    for (size_t i = 0; i < count; i++) {
        CHECK_INT_EQ(samples[i].mask_threshold, 127);
        CHECK(samples[i].image_path == NULL);
        anomalous += (size_t)samples[i].anomalous;
        for (int d = 0; d < 5; d++)
            per_defect[d] += strcmp(samples[i].defect_type, defects[d]) == 0;
        CHECK_INT_EQ(samples[i].anomalous, strcmp(samples[i].defect_type, "good") != 0);
    }
    CHECK_INT_EQ(anomalous, 7);
    CHECK_INT_EQ(per_defect[0], 2);
    CHECK_INT_EQ(per_defect[1], 2);
    CHECK_INT_EQ(per_defect[2], 1);
    CHECK_INT_EQ(per_defect[3], 1);
    CHECK_INT_EQ(per_defect[4], 1);

    advgnn_sample_store_free(store);
    fn->close(state);
}

/* ---- determinism --------------------------------------------------------- */

typedef struct compare_run {
    void *first, *second; /* two states */
    int compare_equal;    /* 1: expect equal bytes, 0: expect different images */
    size_t samples, mismatches;
} compare_run;

static void compare_sample(const advgnn_sample *sample, void *user)
{
    compare_run *run = user;
    advgnn_image a, b, mask_a, mask_b;

    CHECK_INT_EQ(load_sample(run->first, sample, &a, &mask_a), ADVGNN_OK);
    CHECK_INT_EQ(load_sample(run->second, sample, &b, &mask_b), ADVGNN_OK);
    CHECK_INT_EQ(a.type, ADVGNN_PIXEL_U8);
    CHECK_INT_EQ(a.channels, 3);
    run->samples++;
    if (run->compare_equal)
        run->mismatches += !(images_equal(&a, &b) && images_equal(&mask_a, &mask_b));
    else
        run->mismatches += images_equal(&a, &b);
    advgnn_image_release(&a);
    advgnn_image_release(&b);
    advgnn_image_release(&mask_a);
    advgnn_image_release(&mask_b);
}

static void test_same_seed_same_bytes(void)
{
    config cfg = small_config();
    void *first = open_dataset(&cfg), *second = open_dataset(&cfg);
    compare_run run = {first, second, 1, 0, 0};
    advgnn_sample_store *store;

    CHECK(first != NULL);
    CHECK(second != NULL);
    if (!first || !second)
        return;
    store = list_dataset(first);
    for_each_sample(store, compare_sample, &run);
    CHECK_INT_EQ(run.samples, 5 * (2 + 1 + 5));
    CHECK_INT_EQ(run.mismatches, 0);
    advgnn_sample_store_free(store);
    fn->close(first);
    fn->close(second);
}

static void test_other_seed_other_images(void)
{
    config cfg = small_config();
    void *first = open_dataset(&cfg), *second;
    compare_run run = {first, NULL, 0, 0, 0};
    advgnn_sample_store *store;

    cfg.seed = 6;
    second = open_dataset(&cfg);
    run.second = second;
    CHECK(first != NULL);
    CHECK(second != NULL);
    if (!first || !second)
        return;
    store = list_dataset(first);
    for_each_sample(store, compare_sample, &run);
    CHECK_INT_EQ(run.mismatches, 0);
    advgnn_sample_store_free(store);
    fn->close(first);
    fn->close(second);
}

/* load() depends only on the sample: the last sample loaded alone, before
 * any other, equals the same sample loaded after all the others. */
static void test_sample_alone(void)
{
    config cfg = small_config();
    void *state = open_dataset(&cfg);
    advgnn_sample_store *store;
    const advgnn_sample *samples;
    size_t count;
    advgnn_image alone, alone_mask, later, later_mask, other, other_mask;

    CHECK(state != NULL);
    if (!state)
        return;
    store = list_dataset(state);
    advgnn_sample_store_split(store, 2, ADVGNN_SPLIT_TEST, &samples, &count);
    CHECK_INT_EQ(count, 6);
    CHECK_INT_EQ(load_sample(state, &samples[count - 1], &alone, &alone_mask), ADVGNN_OK);
    for (size_t i = 0; i + 1 < count; i++) {
        CHECK_INT_EQ(load_sample(state, &samples[i], &other, &other_mask), ADVGNN_OK);
        advgnn_image_release(&other);
        advgnn_image_release(&other_mask);
    }
    CHECK_INT_EQ(load_sample(state, &samples[count - 1], &later, &later_mask), ADVGNN_OK);
    CHECK(images_equal(&alone, &later));
    CHECK(images_equal(&alone_mask, &later_mask));

    /* Two normal training images of one category are not copies. */
    advgnn_sample_store_split(store, 2, ADVGNN_SPLIT_TRAIN, &samples, &count);
    CHECK_INT_EQ(count, 2);
    CHECK_INT_EQ(load_sample(state, &samples[0], &other, &other_mask), ADVGNN_OK);
    advgnn_image_release(&later);
    advgnn_image_release(&later_mask);
    CHECK_INT_EQ(load_sample(state, &samples[1], &later, &later_mask), ADVGNN_OK);
    CHECK(!images_equal(&other, &later));
    CHECK(other_mask.data == NULL);

    advgnn_image_release(&alone);
    advgnn_image_release(&alone_mask);
    advgnn_image_release(&later);
    advgnn_image_release(&later_mask);
    advgnn_image_release(&other);
    advgnn_image_release(&other_mask);
    advgnn_sample_store_free(store);
    fn->close(state);
}

/* ---- masks --------------------------------------------------------------- */

typedef struct mask_run {
    void *painted, *clean;     /* render_defects true and false */
    size_t anomalous, normal;
    size_t bad_mask_values;    /* mask bytes other than 0 and 255 */
    size_t empty_masks;        /* anomalous samples with no mask pixel */
    size_t large_masks;        /* masks over half the image */
    size_t unchanged_in_mask;  /* mask pixels equal in both renderings */
    size_t changed_outside;    /* pixels outside the mask that differ */
    size_t normal_with_mask;
    size_t area;               /* mask pixels over all samples */
} mask_run;

static void check_mask(const advgnn_sample *sample, void *user)
{
    mask_run *run = user;
    advgnn_image painted, clean, mask, clean_mask;
    size_t pixels, area = 0;

    if (sample->split != ADVGNN_SPLIT_TEST)
        return;
    CHECK_INT_EQ(load_sample(run->painted, sample, &painted, &mask), ADVGNN_OK);
    CHECK_INT_EQ(load_sample(run->clean, sample, &clean, &clean_mask), ADVGNN_OK);
    if (!sample->anomalous) {
        run->normal++;
        run->normal_with_mask += mask.data != NULL;
        CHECK(images_equal(&painted, &clean));
        goto done;
    }

    run->anomalous++;
    CHECK(images_equal(&mask, &clean_mask));
    CHECK_INT_EQ(mask.channels, 1);
    CHECK_INT_EQ(mask.width, painted.width);
    CHECK_INT_EQ(mask.height, painted.height);
    pixels = (size_t)painted.width * painted.height;
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t *m = mask.data, *p = (const uint8_t *)painted.data + 3 * i, *c = (const uint8_t *)clean.data + 3 * i;
        int differs = p[0] != c[0] || p[1] != c[1] || p[2] != c[2];

        run->bad_mask_values += m[i] != 0 && m[i] != 255;
        if (m[i] > 127) {
            area++;
            run->unchanged_in_mask += !differs;
        } else {
            run->changed_outside += differs;
        }
    }
    run->empty_masks += area == 0;
    run->large_masks += area > pixels / 2;
    run->area += area;

done:
    advgnn_image_release(&painted);
    advgnn_image_release(&clean);
    advgnn_image_release(&mask);
    advgnn_image_release(&clean_mask);
}

static size_t run_masks(double scale, int size, int anomalous)
{
    config cfg = small_config();
    void *painted, *clean;
    mask_run run;
    advgnn_sample_store *store;

    cfg.size = size;
    cfg.train = 0;
    cfg.anomalous = anomalous;
    cfg.scale = scale;
    painted = open_dataset(&cfg);
    cfg.render = 0;
    clean = open_dataset(&cfg);
    CHECK(painted != NULL);
    CHECK(clean != NULL);
    if (!painted || !clean)
        return 0;

    memset(&run, 0, sizeof(run));
    run.painted = painted;
    run.clean = clean;
    store = list_dataset(painted);
    for_each_sample(store, check_mask, &run);
    CHECK_INT_EQ(run.anomalous, 5 * (size_t)anomalous);
    CHECK_INT_EQ(run.normal, 5);
    CHECK_INT_EQ(run.normal_with_mask, 0);
    CHECK_INT_EQ(run.bad_mask_values, 0);
    CHECK_INT_EQ(run.empty_masks, 0);
    CHECK_INT_EQ(run.large_masks, 0);
    CHECK_INT_EQ(run.unchanged_in_mask, 0);
    CHECK_INT_EQ(run.changed_outside, 0);

    advgnn_sample_store_free(store);
    fn->close(painted);
    fn->close(clean);
    return run.area;
}

/* Every defect shape on every texture, at the smallest image size too. */
static void test_masks_cover_painted_pixels(void)
{
    size_t small_area, large_area;

    run_masks(1.0, 32, 5);
    small_area = run_masks(0.5, 64, 10);
    large_area = run_masks(2.0, 64, 10);
    CHECK(small_area * 2 < large_area);
}

/* ---- errors -------------------------------------------------------------- */

static void test_unknown_kind(void)
{
    static const char *const bogus[] = {"checker", "bogus"};
    static const char *const twice[] = {"dots", "dots"};
    config cfg = small_config();

    cfg.kinds = bogus;
    cfg.kind_count = 2;
    CHECK(open_dataset(&cfg) == NULL);
    CHECK_INT_EQ(advgnn_ctx_error_status(ctx), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "'bogus'");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "'checker', 'stripes', 'fabric', 'noise', 'dots'");
    advgnn_ctx_clear_error(ctx);

    /* A typo fails when the option is set, before open, with a suggestion. */
    static const char *const typo[] = {"checkers"};
    advgnn_options *opts = harness_options(ctx, desc);
    CHECK(opts != NULL);
    if (opts) {
        CHECK_INT_EQ(harness_set_strings(opts, ctx, "kinds", typo, 1), ADVGNN_ERR_OPTION);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "option 'kinds' element 1 'checkers' is not one of");
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "did you mean 'checker'?");
        CHECK(strstr(advgnn_ctx_error(ctx), "synthetic: synthetic:") == NULL);
        advgnn_ctx_clear_error(ctx);
        static const char *const defect_typo[] = {"scrach"};
        CHECK_INT_EQ(harness_set_strings(opts, ctx, "defects", defect_typo, 1), ADVGNN_ERR_OPTION);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "did you mean 'scratch'?");
        advgnn_ctx_clear_error(ctx);
        advgnn_options_free(opts);
    }

    cfg.kinds = twice;
    CHECK(open_dataset(&cfg) == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "twice");
    advgnn_ctx_clear_error(ctx);
}

static void test_unlisted_key(void)
{
    config cfg = small_config();
    void *state = open_dataset(&cfg);
    advgnn_sample_info info = {.category = "checker", .split = ADVGNN_SPLIT_TRAIN, .name = "good/000099"};
    advgnn_image image = {0}, mask = {0};

    CHECK(state != NULL);
    if (!state)
        return;
    info.key = ((uint64_t)ADVGNN_SPLIT_TRAIN << 32) | 99;
    CHECK_INT_EQ(fn->load(state, ctx, &info, &image, &mask), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "good/000099");
    CHECK(image.data == NULL);
    advgnn_ctx_clear_error(ctx);
    fn->close(state);
}

/* Every allocation of open, list and load fails once in turn: each reports
 * ADVGNN_ERR_NOMEM, and the sanitizer build sees no leak. */
static void test_allocation_failures(void)
{
    config cfg = small_config();
    size_t failures = 0, unexpected = 0, completed = 0;

    cfg.kind_count = 1;
    cfg.size = 32;
    for (size_t n = 1; n < 100 && !completed; n++) {
        advgnn_sample_store *store = NULL;
        advgnn_image image = {0}, mask = {0};
        void *state;
        int rc = ADVGNN_OK;
        size_t made;

        advgnn_alloc_fail_after(n);
        state = open_dataset(&cfg);
        if (!state)
            rc = advgnn_ctx_error_status(ctx);
        if (rc == ADVGNN_OK)
            rc = advgnn_sample_store_new(ctx, "synthetic", 0, &store);
        if (rc == ADVGNN_OK)
            rc = fn->list(state, ctx, store);
        if (rc == ADVGNN_OK)
            rc = advgnn_sample_store_finish(store, ctx);
        if (rc == ADVGNN_OK) {
            const advgnn_sample *samples;
            size_t count;

            advgnn_sample_store_split(store, 0, ADVGNN_SPLIT_TEST, &samples, &count);
            rc = load_sample(state, &samples[count - 1], &image, &mask);
        }
        made = advgnn_alloc_fail_after(0);
        completed = rc == ADVGNN_OK && made < n;
        failures += rc == ADVGNN_ERR_NOMEM;
        unexpected += rc != ADVGNN_ERR_NOMEM && rc != ADVGNN_OK;
        advgnn_ctx_clear_error(ctx);
        advgnn_image_release(&image);
        advgnn_image_release(&mask);
        advgnn_sample_store_free(store);
        if (state)
            fn->close(state);
    }
    CHECK(completed);
    CHECK(failures > 0);
    CHECK_INT_EQ(unexpected, 0);
}

int main(void)
{
    void *handle = NULL;

    ctx = advgnn_ctx_new();
    desc = harness_load("synthetic", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    CHECK_INT_EQ(desc->kind, ADVGNN_PLUGIN_DATASET);
    CHECK_INT_EQ(desc->abi_version, ADVGNN_ABI_VERSION);
    fn = desc->functions;

    test_split_counts();
    test_same_seed_same_bytes();
    test_other_seed_other_images();
    test_sample_alone();
    test_masks_cover_painted_pixels();
    test_unknown_kind();
    test_unlisted_key();
    test_allocation_failures();

    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
