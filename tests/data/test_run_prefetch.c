/* Experiment runs on the real MVTec AD bottle images with and without the
 * background prefetch of the test split and the on-disk sample cache:
 *
 * - scores.csv is byte-identical and the metrics are equal for a run without
 *   prefetch, with prefetch, with a cold cache and with a warm cache;
 * - a broken test image found by the background thread fails the run with
 *   the message of a run without prefetch, naming the file, and results.json
 *   records the failure.
 *
 * The broken-image runs use a copy of the layout made of symbolic links to
 * the shared files, with one test image replaced by a file that is not an
 * image. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define MVTEC ADVGNN_SHARED_DATA "/mvtec_ad"
#define SIZE 64 /* pixels of the preprocessed images */

typedef struct fixture {
    advgnn_ctx *ctx;
    advgnn_registry *reg;
    const advgnn_plugin *dataset;
    const advgnn_plugin *encoder;
    const advgnn_plugin *scorer;
    char *root; /* outputs, the cache and the linked layout */
} fixture;

typedef struct run_setup {
    const char *dataset_root;
    int prefetch;
    const char *cache; /* NULL = no sample cache */
    const char *out;
} run_setup;

static int run(fixture *fx, const run_setup *setup)
{
    const char *pairs[] = {"root", setup->dataset_root, "category", "bottle", "require_masks", "false", NULL};
    advgnn_options *dopts = helper_options(fx->ctx, fx->dataset, pairs);
    advgnn_options *eopts = helper_options(fx->ctx, fx->encoder, NULL);
    advgnn_options *sopts = helper_options(fx->ctx, fx->scorer, NULL);
    advgnn_plugin_choice scorer = {.plugin = fx->scorer, .options = sopts, .weight = 1.0};
    advgnn_experiment_spec spec = {
        .name = "bottle",
        .dataset = {.plugin = fx->dataset, .options = dopts},
        .encoder = {.plugin = fx->encoder, .options = eopts},
        .scorers = &scorer,
        .scorer_count = 1,
        .image_size = SIZE,
        .batch_size = 4,
        .output_dir = setup->out,
        .threads = 2,
        .prefetch = setup->prefetch,
        .sample_cache = setup->cache,
    };
    cJSON *results = NULL;
    int rc = ADVGNN_ERR_INTERNAL;

    advgnn_ctx_clear_error(fx->ctx);
    if (dopts && eopts && sopts)
        rc = advgnn_experiment_run(fx->ctx, &spec, &results);
    cJSON_Delete(results);
    advgnn_options_free(dopts);
    advgnn_options_free(eopts);
    advgnn_options_free(sopts);
    return rc;
}

static char *read_text(const char *dir, const char *name)
{
    char *path = advgnn_fs_join(dir, name);
    char *data = NULL;
    size_t size = 0;
    advgnn_ctx *ctx = advgnn_ctx_new();

    if (path && advgnn_fs_read_file(ctx, path, 16u << 20, &data, &size) != ADVGNN_OK)
        data = NULL;
    advgnn_ctx_free(ctx);
    advgnn_free(path);
    return data;
}

static double auroc_of(const char *dir)
{
    char *path = advgnn_fs_join(dir, "results.json");
    cJSON *results = path ? helper_read_json(path) : NULL;
    double value = helper_metric(results, "bottle", "memory_bank", "image_auroc");

    cJSON_Delete(results);
    advgnn_free(path);
    return value;
}

static void test_same_scores(fixture *fx)
{
    static const char *const names[] = {"plain", "prefetch", "cold", "warm"};
    char *out[4], *csv[4];
    char *cache = advgnn_fs_join(fx->root, "cache");

    for (int i = 0; i < 4; i++) {
        out[i] = advgnn_fs_join(fx->root, names[i]);
        run_setup setup = {.dataset_root = MVTEC, .prefetch = i > 0, .cache = i >= 2 ? cache : NULL, .out = out[i]};
        CHECK_INT_EQ(run(fx, &setup), ADVGNN_OK);
        csv[i] = read_text(out[i], "scores.csv");
        CHECK(csv[i] != NULL);
    }

    /* 20 train and 10 test images: one train file, one test file. */
    CHECK_INT_EQ(helper_count_files(cache), 2);
    for (int i = 1; i < 4; i++) {
        CHECK(csv[0] != NULL);
        CHECK(csv[i] != NULL);
        if (csv[0] && csv[i])
            CHECK(strcmp(csv[0], csv[i]) == 0);
        CHECK_NEAR(auroc_of(out[i]), auroc_of(out[0]), 0.0);
    }
    CHECK(auroc_of(out[0]) >= 0.0);
    CHECK(auroc_of(out[0]) <= 1.0);

    for (int i = 0; i < 4; i++) {
        advgnn_free(csv[i]);
        advgnn_free(out[i]);
    }
    advgnn_free(cache);
}

/* Links every file of `from` into `to`, folder by folder. */
static void link_tree(fixture *fx, const char *from, const char *to)
{
    char **names = NULL;
    size_t count = 0;

    CHECK_INT_EQ(advgnn_fs_mkdir_p(fx->ctx, to), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_list_subdirs(fx->ctx, from, &names, &count), ADVGNN_OK);
    for (size_t i = 0; i < count; i++) {
        char *a = advgnn_fs_join(from, names[i]), *b = advgnn_fs_join(to, names[i]);
        link_tree(fx, a, b);
        advgnn_free(a);
        advgnn_free(b);
    }
    advgnn_fs_free_list(names, count);

    CHECK_INT_EQ(advgnn_fs_list_dir(fx->ctx, from, NULL, &names, &count), ADVGNN_OK);
    for (size_t i = 0; i < count; i++) {
        char *a = advgnn_fs_join(from, names[i]), *b = advgnn_fs_join(to, names[i]);
        CHECK(a != NULL);
        CHECK(b != NULL);
        if (a && b)
            CHECK(symlink(a, b) == 0);
        advgnn_free(a);
        advgnn_free(b);
    }
    advgnn_fs_free_list(names, count);
}

static void test_broken_test_image(fixture *fx)
{
    char *layout = advgnn_fs_join(fx->root, "linked");
    char *bottle = advgnn_fs_join(layout, "bottle");
    char broken[4096], message[2048];

    link_tree(fx, MVTEC "/bottle", bottle);
    snprintf(broken, sizeof(broken), "%s/test/contamination/001.png", bottle);
    CHECK(unlink(broken) == 0);
    FILE *f = fopen(broken, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("not an image", f);
        fclose(f);
    }

    char *plain_out = advgnn_fs_join(fx->root, "broken-plain");
    run_setup plain = {.dataset_root = layout, .prefetch = 0, .out = plain_out};
    CHECK_INT_EQ(run(fx, &plain), ADVGNN_ERR_FORMAT);
    snprintf(message, sizeof(message), "%s", advgnn_ctx_error(fx->ctx));
    CHECK_STR_CONTAINS(message, broken);
    CHECK_STR_CONTAINS(message, "category 'bottle', test split");

    char *out = advgnn_fs_join(fx->root, "broken-prefetch");
    run_setup prefetch = {.dataset_root = layout, .prefetch = 1, .out = out};
    CHECK_INT_EQ(run(fx, &prefetch), ADVGNN_ERR_FORMAT);
    CHECK(strcmp(advgnn_ctx_error(fx->ctx), message) == 0);
    if (strcmp(advgnn_ctx_error(fx->ctx), message) != 0)
        fprintf(stderr, "without prefetch: %s\nwith prefetch: %s\n", message, advgnn_ctx_error(fx->ctx));

    char *results = read_text(out, "results.json");
    CHECK_STR_CONTAINS(results, "\"failed\"");
    CHECK_STR_CONTAINS(results, "contamination/001.png");
    advgnn_free(results);
    advgnn_free(out);
    advgnn_free(plain_out);
    advgnn_free(bottle);
    advgnn_free(layout);
}

int main(void)
{
    fixture fx = {0};

    if (!advgnn_fs_is_dir(MVTEC "/bottle")) {
        fprintf(stderr, "skipped: %s/bottle is missing\n", MVTEC);
        return 0;
    }
    fx.ctx = advgnn_ctx_new();
    /* The bottle category has defective images without masks, which the
     * loader warns about on every run. */
    advgnn_ctx_set_log_level(fx.ctx, ADVGNN_LOG_ERROR);
    fx.root = helper_make_temp_dir("advgnn-run-prefetch");
    CHECK(fx.root != NULL);
    CHECK_INT_EQ(advgnn_registry_new(fx.ctx, &fx.reg), ADVGNN_OK);
    fx.dataset = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "mvtec_ad");
    fx.encoder = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "patch_stats");
    fx.scorer = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    CHECK(fx.dataset != NULL);
    CHECK(fx.encoder != NULL);
    CHECK(fx.scorer != NULL);

    if (fx.root && fx.dataset && fx.encoder && fx.scorer) {
        test_same_scores(&fx);
        test_broken_test_image(&fx);
    }

    helper_remove_tree(fx.root);
    advgnn_free(fx.root);
    advgnn_registry_free(fx.reg);
    advgnn_ctx_free(fx.ctx);
    return CHECK_DONE();
}
