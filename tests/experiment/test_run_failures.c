/* The runner on files written at test time and listed by a manifest dataset
 * plugin. A failure in the second category keeps the first category's
 * results. A mask of the wrong size fails naming both files. A defective
 * image without a mask is left out of pixel metrics, and without any
 * defective image with a mask they are undefined. An empty split and an
 * unknown category are errors that name what is missing. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define SIZE 48 /* pixels of the test images */

/* Every this many allocations of a run is made to fail once. */
#define ALLOCATION_STEP 1

typedef struct fixture {
    advgnn_ctx *ctx;
    advgnn_registry *reg;
    const advgnn_plugin *dataset;
    const advgnn_plugin *encoder;
    const advgnn_plugin *scorer;
    char *root;
} fixture;

/* Writes the images of one category under root/<category>/ and appends their
 * manifest lines: 6 train, 3 normal test, 3 defective test with masks. With
 * `mask_size` != SIZE the first mask has another size. The last
 * `dropped_masks` defective images (0 to 3) have no mask. */
static void write_category(fixture *fx, FILE *manifest, const char *category, int mask_size, int dropped_masks)
{
    char dir[4096], image[4200], mask[4200];

    snprintf(dir, sizeof(dir), "%s/%s", fx->root, category);
    advgnn_fs_mkdir_p(fx->ctx, dir);
    for (int i = 0; i < 6; i++) {
        snprintf(image, sizeof(image), "%s/train_%d.png", dir, i);
        CHECK_INT_EQ(helper_write_png(fx->ctx, image, SIZE, SIZE, 3, 0, 0, 0), ADVGNN_OK);
        fprintf(manifest, "%s\ttrain\t0\tgood\ttrain_%d.png\t%s\t-\n", category, i, image);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(image, sizeof(image), "%s/good_%d.png", dir, i);
        CHECK_INT_EQ(helper_write_png(fx->ctx, image, SIZE, SIZE, 1, 0, 0, 0), ADVGNN_OK);
        fprintf(manifest, "%s\ttest\t0\tgood\tgood_%d.png\t%s\t-\n", category, i, image);
    }
    for (int i = 0; i < 3; i++) {
        int size = i == 0 ? mask_size : SIZE;
        snprintf(image, sizeof(image), "%s/bad_%d.png", dir, i);
        snprintf(mask, sizeof(mask), "%s/bad_%d_mask.png", dir, i);
        CHECK_INT_EQ(helper_write_png(fx->ctx, image, SIZE, SIZE, 3, 8 + 8 * i, 10, 12), ADVGNN_OK);
        CHECK_INT_EQ(helper_write_mask(fx->ctx, mask, size, size, 8 + 8 * i, 10, 12), ADVGNN_OK);
        fprintf(manifest, "%s\ttest\t1\tsquare\tbad_%d.png\t%s\t%s\n", category, i, image,
                i >= 3 - dropped_masks ? "-" : mask);
    }
}

/* Option sets of one run, built before any allocation is made to fail. */
typedef struct run_options {
    advgnn_options *dataset;
    advgnn_options *encoder;
    advgnn_options *scorer;
} run_options;

static int make_options(fixture *fx, const char *manifest, run_options *opts)
{
    const char *pairs[] = {"manifest", manifest, NULL};

    opts->dataset = helper_options(fx->ctx, fx->dataset, pairs);
    opts->encoder = helper_options(fx->ctx, fx->encoder, NULL);
    opts->scorer = helper_options(fx->ctx, fx->scorer, NULL);
    return opts->dataset && opts->encoder && opts->scorer ? ADVGNN_OK : ADVGNN_ERR_OPTION;
}

static void free_options(run_options *opts)
{
    advgnn_options_free(opts->dataset);
    advgnn_options_free(opts->encoder);
    advgnn_options_free(opts->scorer);
}

static int run_with(fixture *fx, const run_options *opts, const char *out, const char *const *categories,
                    size_t category_count)
{
    advgnn_plugin_choice scorer = {.plugin = fx->scorer, .options = opts->scorer, .weight = 1.0};
    advgnn_experiment_spec spec = {
        .name = "failures",
        .dataset = {.plugin = fx->dataset, .options = opts->dataset},
        .encoder = {.plugin = fx->encoder, .options = opts->encoder},
        .scorers = &scorer,
        .scorer_count = 1,
        .categories = categories,
        .category_count = category_count,
        .image_size = SIZE,
        .batch_size = 4,
        .seed = 1,
        .output_dir = out,
        .heatmaps = -1,
        .threads = 1,
    };
    cJSON *results = NULL;

    advgnn_ctx_clear_error(fx->ctx);
    int rc = advgnn_experiment_run(fx->ctx, &spec, &results);
    CHECK(rc == ADVGNN_OK ? results != NULL : results == NULL);
    cJSON_Delete(results);
    return rc;
}

static int run(fixture *fx, const char *manifest, const char *out, const char *const *categories,
               size_t category_count)
{
    run_options opts = {0};
    int rc = make_options(fx, manifest, &opts);

    if (rc == ADVGNN_OK)
        rc = run_with(fx, &opts, out, categories, category_count);
    free_options(&opts);
    return rc;
}

static char *path_in(const fixture *fx, const char *name)
{
    return advgnn_fs_join(fx->root, name);
}

static void test_failure_keeps_first_category(fixture *fx)
{
    char *manifest = path_in(fx, "midway.tsv");
    char *out = path_in(fx, "midway-out");
    char path[4096];
    FILE *f = fopen(manifest, "w");

    /* Category "b" lists a training image that does not exist. */
    write_category(fx, f, "a", SIZE, 0);
    write_category(fx, f, "b", SIZE, 0);
    fprintf(f, "b\ttrain\t0\tgood\tmissing.png\t%s/b/missing.png\t-\n", fx->root);
    fclose(f);

    int rc = run(fx, manifest, out, NULL, 0);
    CHECK(rc != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "missing.png");
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "category 'b'");

    snprintf(path, sizeof(path), "%s/results.json", out);
    cJSON *results = helper_read_json(path);
    CHECK(results != NULL);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(results, "status");
    CHECK(cJSON_IsString(status));
    CHECK(cJSON_IsString(status) && strcmp(status->valuestring, "failed") == 0);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(results, "error");
    CHECK(cJSON_IsString(error));
    CHECK_STR_CONTAINS(cJSON_IsString(error) ? error->valuestring : NULL, "missing.png");
    double auroc = helper_metric(results, "a", "memory_bank", "image_auroc");
    CHECK(auroc >= 0.0);
    CHECK(auroc <= 1.0);
    const cJSON *categories = cJSON_GetObjectItemCaseSensitive(results, "categories");
    CHECK(cJSON_GetObjectItemCaseSensitive(categories, "a") != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(categories, "b") == NULL);

    /* scores.csv contains the header and the 6 test rows of "a" only. */
    snprintf(path, sizeof(path), "%s/scores.csv", out);
    CHECK_INT_EQ(helper_count_lines(path), 1 + 6);
    snprintf(path, sizeof(path), "%s/heatmaps/a", out);
    CHECK_INT_EQ(helper_count_files(path), 6);

    cJSON_Delete(results);
    advgnn_free(manifest);
    advgnn_free(out);
}

static void test_mask_size_mismatch(fixture *fx)
{
    char *manifest = path_in(fx, "mismatch.tsv");
    char *out = path_in(fx, "mismatch-out");
    FILE *f = fopen(manifest, "w");

    write_category(fx, f, "m", SIZE / 2, 0);
    fclose(f);

    CHECK_INT_EQ(run(fx, manifest, out, NULL, 0), ADVGNN_ERR_FORMAT);
    const char *message = advgnn_ctx_error(fx->ctx);
    CHECK_STR_CONTAINS(message, "bad_0_mask.png");
    CHECK_STR_CONTAINS(message, "24 x 24");
    CHECK_STR_CONTAINS(message, "bad_0.png");
    CHECK_STR_CONTAINS(message, "48 x 48");
    advgnn_free(manifest);
    advgnn_free(out);
}

static void test_missing_mask(fixture *fx)
{
    char *manifest = path_in(fx, "nomask.tsv");
    char *out = path_in(fx, "nomask-out");
    char path[4096];
    FILE *f = fopen(manifest, "w");

    write_category(fx, f, "n", SIZE, 1);
    fclose(f);

    CHECK_INT_EQ(run(fx, manifest, out, NULL, 0), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/results.json", out);
    cJSON *results = helper_read_json(path);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(results, "categories"), "n");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(n, "counts");
    const cJSON *without = cJSON_GetObjectItemCaseSensitive(counts, "test_without_mask");
    CHECK(cJSON_IsNumber(without));
    CHECK_NEAR(cJSON_IsNumber(without) ? without->valuedouble : -1.0, 1.0, 0.0);
    double pixel = helper_metric(results, "n", "memory_bank", "pixel_auroc");
    double aupro = helper_metric(results, "n", "memory_bank", "aupro");
    CHECK(pixel >= 0.0);
    CHECK(pixel <= 1.0);

    /* Leaving the image out of the pixel metrics must equal a run whose test
     * set lacks it: the other images' maps are the same, because training is. */
    char *reduced = path_in(fx, "nomask-reduced.tsv");
    char *reduced_out = path_in(fx, "nomask-reduced-out");
    char line[8192];
    FILE *in = fopen(manifest, "r");
    FILE *outf = fopen(reduced, "w");
    while (in && outf && fgets(line, sizeof(line), in))
        if (!strstr(line, "bad_2.png"))
            fputs(line, outf);
    if (in)
        fclose(in);
    if (outf)
        fclose(outf);
    CHECK_INT_EQ(run(fx, reduced, reduced_out, NULL, 0), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/results.json", reduced_out);
    cJSON *reduced_results = helper_read_json(path);
    CHECK_NEAR(helper_metric(reduced_results, "n", "memory_bank", "pixel_auroc"), pixel, 1e-12);
    CHECK_NEAR(helper_metric(reduced_results, "n", "memory_bank", "aupro"), aupro, 1e-12);

    cJSON_Delete(reduced_results);
    cJSON_Delete(results);
    advgnn_free(reduced);
    advgnn_free(reduced_out);
    advgnn_free(manifest);
    advgnn_free(out);
}

/* When no defective image has a mask, the pixel metrics are undefined. The
 * reason names the missing masks, not the implied masks of the normal images,
 * which have no defect pixel. */
static void test_no_defect_mask(fixture *fx)
{
    static const char *const metric_names[] = {"pixel_auroc", "aupro"};
    char *manifest = path_in(fx, "nomasks.tsv");
    char *out = path_in(fx, "nomasks-out");
    char path[4096];
    FILE *f = fopen(manifest, "w");

    write_category(fx, f, "z", SIZE, 3);
    fclose(f);

    CHECK_INT_EQ(run(fx, manifest, out, NULL, 0), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/results.json", out);
    cJSON *results = helper_read_json(path);
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(results, "categories"), "z");
    const cJSON *undefined = cJSON_GetObjectItemCaseSensitive(z, "undefined");
    CHECK(!isnan(helper_metric(results, "z", "memory_bank", "image_auroc")));
    for (size_t i = 0; i < 2; i++) {
        char key[64];

        snprintf(key, sizeof(key), "memory_bank.%s", metric_names[i]);
        const cJSON *reason = cJSON_GetObjectItemCaseSensitive(undefined, key);
        CHECK(cJSON_IsString(reason));
        CHECK_STR_CONTAINS(cJSON_IsString(reason) ? reason->valuestring : NULL,
                           "none of the 3 defective test images has a mask");
        CHECK(isnan(helper_metric(results, "z", "memory_bank", metric_names[i])));
    }

    cJSON_Delete(results);
    advgnn_free(manifest);
    advgnn_free(out);
}

/* Removes the results.json a failed run left in `out`. */
static void clear_results(const char *out)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/results.json", out);
    unlink(path);
}

static void test_empty_split_and_unknown_category(fixture *fx)
{
    char *manifest = path_in(fx, "empty.tsv");
    char *out = path_in(fx, "empty-out");
    char image[4200];
    FILE *f = fopen(manifest, "w");

    /* Category "e" has a test image but no training image. */
    write_category(fx, f, "full", SIZE, 0);
    snprintf(image, sizeof(image), "%s/full/good_0.png", fx->root);
    fprintf(f, "e\ttest\t0\tgood\tonly.png\t%s\t-\n", image);
    fclose(f);

    const char *only_e[] = {"e"};
    CHECK_INT_EQ(run(fx, manifest, out, only_e, 1), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "dataset 'test_manifest', category 'e': the train split has no images");

    /* Each failed run leaves results.json, and a run refuses a folder that
     * has one, so the next cases start from an empty folder again. */
    clear_results(out);
    const char *typo[] = {"ful"};
    CHECK_INT_EQ(run(fx, manifest, out, typo, 1), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "has no category 'ful'");
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "e, full");

    /* An empty manifest lists nothing. */
    f = fopen(manifest, "w");
    fclose(f);
    clear_results(out);
    CHECK_INT_EQ(run(fx, manifest, out, NULL, 0), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "listed no samples");
    advgnn_free(manifest);
    advgnn_free(out);
}

static void test_reconstruction_required(fixture *fx)
{
    char *manifest = path_in(fx, "recon.tsv");
    char *out = path_in(fx, "recon-out");
    FILE *f = fopen(manifest, "w");
    run_options opts = {0};

    write_category(fx, f, "r", SIZE, 0);
    fclose(f);
    const advgnn_plugin *needs = helper_load_plugin(fx->reg, fx->ctx, ADVGNN_TEST_MANIFEST_DIR,
                                                    "test_needs_reconstruction");
    CHECK(needs != NULL);
    CHECK_INT_EQ(make_options(fx, manifest, &opts), ADVGNN_OK);
    advgnn_options *needs_opts = needs ? helper_options(fx->ctx, needs, NULL) : NULL;

    /* patch_stats does not reconstruct its input. */
    advgnn_plugin_choice scorers[2] = {
        {.plugin = fx->scorer, .options = opts.scorer, .weight = 1.0},
        {.plugin = needs, .options = needs_opts, .weight = 1.0},
    };
    advgnn_experiment_spec spec = {
        .name = "reconstruction",
        .dataset = {.plugin = fx->dataset, .options = opts.dataset},
        .encoder = {.plugin = fx->encoder, .options = opts.encoder},
        .scorers = scorers,
        .scorer_count = 2,
        .image_size = SIZE,
        .output_dir = out,
    };
    cJSON *results = NULL;
    advgnn_ctx_clear_error(fx->ctx);
    if (needs && needs_opts) {
        CHECK_INT_EQ(advgnn_experiment_run(fx->ctx, &spec, &results), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "scorer 'test_needs_reconstruction' needs a reconstruction");
        CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "encoder 'patch_stats'");
    }
    CHECK(results == NULL);
    advgnn_options_free(needs_opts);
    free_options(&opts);
    advgnn_free(manifest);
    advgnn_free(out);
}

#define WARNINGS_SIZE 8192

/* Appends each warning or error line to `user`, a text of WARNINGS_SIZE bytes. */
static void keep_warnings(void *user, advgnn_log_level level, const char *line)
{
    char *text = user;
    size_t used = strlen(text);

    if (level <= ADVGNN_LOG_WARN)
        snprintf(text + used, WARNINGS_SIZE - used, "%s\n", line);
}

static void test_interrupted_run(fixture *fx)
{
    char *manifest = path_in(fx, "interrupt.tsv");
    char *out = path_in(fx, "interrupt-out");
    char path[4096];
    char warnings[WARNINGS_SIZE] = "";
    FILE *f = fopen(manifest, "w");

    write_category(fx, f, "i", SIZE, 0);
    fclose(f);

    /* A checkpoint folder from the interrupted training, which the warning
     * must name for the encoder's `resume` option. */
    snprintf(path, sizeof(path), "%s/encoder/i/checkpoints", out);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(fx->ctx, path), ADVGNN_OK);

    /* As if SIGINT had arrived: the run stops at its first check. */
    advgnn_ctx_set_log_sink(fx->ctx, keep_warnings, warnings);
    advgnn_set_interrupted(1);
    CHECK_INT_EQ(run(fx, manifest, out, NULL, 0), ADVGNN_ERR_INTERRUPTED);
    advgnn_set_interrupted(0);
    advgnn_ctx_set_log_sink(fx->ctx, NULL, NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(fx->ctx), "interrupted");
    CHECK_STR_CONTAINS(warnings, "category i: training stopped early");
    CHECK_STR_CONTAINS(warnings, path);

    /* "killed", as MLflow records the run, not "failed". */
    snprintf(path, sizeof(path), "%s/results.json", out);
    cJSON *results = helper_read_json(path);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(results, "status");
    CHECK(cJSON_IsString(status));
    CHECK(cJSON_IsString(status) && strcmp(status->valuestring, "killed") == 0);
    cJSON_Delete(results);
    advgnn_free(manifest);
    advgnn_free(out);
}

/* Fails each allocation of a small run in turn: every failure must return
 * an error with a message, never crash, and free everything (ASan checks). */
static void test_allocation_failures(fixture *fx)
{
    char *manifest = path_in(fx, "oom.tsv");
    char *out = path_in(fx, "oom-out");
    FILE *f = fopen(manifest, "w");
    size_t failures = 0;

    write_category(fx, f, "o", SIZE, 1);
    fclose(f);

    run_options opts = {0};
    CHECK_INT_EQ(make_options(fx, manifest, &opts), ADVGNN_OK);

    /* Count the allocations of a run that succeeds. */
    advgnn_alloc_fail_after(0);
    CHECK_INT_EQ(run_with(fx, &opts, out, NULL, 0), ADVGNN_OK);
    size_t allocations = advgnn_alloc_fail_after(0);
    CHECK(allocations > 0);

    for (size_t fail_at = 1; fail_at <= allocations; fail_at += ALLOCATION_STEP) {
        advgnn_alloc_fail_after(fail_at);
        int rc = run_with(fx, &opts, out, NULL, 0);
        advgnn_alloc_fail_after(0);
        if (rc != ADVGNN_OK) {
            failures++;
            if (advgnn_ctx_error(fx->ctx)[0] == '\0') {
                fprintf(stderr, "allocation %zu failed the run (status %d) without a message\n", fail_at, rc);
                check_failures++;
            }
        }
    }
    CHECK(failures > 0);
    free_options(&opts);
    advgnn_free(manifest);
    advgnn_free(out);
}

int main(void)
{
    fixture fx = {0};

    fx.ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_level(fx.ctx, ADVGNN_LOG_WARN);
    fx.root = helper_make_temp_dir("advgnn-run-failures");
    CHECK(fx.root != NULL);
    CHECK_INT_EQ(advgnn_registry_new(fx.ctx, &fx.reg), ADVGNN_OK);
    fx.dataset = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_TEST_MANIFEST_DIR, "test_manifest");
    fx.encoder = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "patch_stats");
    fx.scorer = helper_load_plugin(fx.reg, fx.ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    CHECK(fx.dataset != NULL);
    CHECK(fx.encoder != NULL);
    CHECK(fx.scorer != NULL);

    if (fx.root && fx.dataset && fx.encoder && fx.scorer) {
        test_failure_keeps_first_category(&fx);
        test_mask_size_mismatch(&fx);
        test_missing_mask(&fx);
        test_no_defect_mask(&fx);
        test_empty_split_and_unknown_category(&fx);
        test_reconstruction_required(&fx);
        test_interrupted_run(&fx);
        test_allocation_failures(&fx);
    }

    helper_remove_tree(fx.root);
    advgnn_free(fx.root);
    advgnn_registry_free(fx.reg);
    advgnn_ctx_free(fx.ctx);
    return CHECK_DONE();
}
