/* `advgnn score`: a run of the folder dataset with patch_stats and
 * memory_bank is written by the runner, then the advgnn program scores two of
 * its test images. Their scores must equal the run's scores.csv rows (the
 * same preprocessing and the same refitted memory bank), and their overlays
 * must exist. The run is given a relative dataset root and scored from
 * another working folder, and again with root=PATH after the dataset moved.
 * Also checks the messages for a folder without results.json, an unfinished
 * run and an image that cannot be decoded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "experiment/experiment.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define SIZE 48 /* pixels of the test images */

/* Writes <data>/good/000..011.png (a square at a different place in each) and
 * <data>/defect/crack_0..1.png with larger squares and their masks. */
static void write_dataset(advgnn_ctx *ctx, const char *data)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/good", data);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(ctx, path), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/defect", data);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(ctx, path), ADVGNN_OK);
    for (int i = 0; i < 12; i++) {
        snprintf(path, sizeof(path), "%s/good/%03d.png", data, i);
        CHECK_INT_EQ(helper_write_png(ctx, path, SIZE, SIZE, 3, 3 * i, 40 - 3 * i, 4), ADVGNN_OK);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/defect/crack_%d.png", data, i);
        CHECK_INT_EQ(helper_write_png(ctx, path, SIZE, SIZE, 3, 8 + 16 * i, 12, 14), ADVGNN_OK);
        snprintf(path, sizeof(path), "%s/defect/crack_%d_mask.png", data, i);
        CHECK_INT_EQ(helper_write_mask(ctx, path, SIZE, SIZE, 8 + 16 * i, 12, 14), ADVGNN_OK);
    }
}

static int run_experiment(advgnn_ctx *ctx, advgnn_registry *reg, const char *data, const char *out)
{
    const advgnn_plugin *dataset = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "folder");
    const advgnn_plugin *encoder = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "patch_stats");
    const advgnn_plugin *scorer = helper_load_plugin(reg, ctx, ADVGNN_BUILD_PLUGIN_DIR, "memory_bank");
    const char *pairs[] = {"root", data, "mask_suffix", "_mask", "test_normal_ratio", "0.25", NULL};
    const char *bank_pairs[] = {"coreset_ratio", "0.5", NULL};
    int rc = ADVGNN_ERR_INTERNAL;

    if (!dataset || !encoder || !scorer)
        return rc;
    advgnn_options *dopts = helper_options(ctx, dataset, pairs);
    advgnn_options *eopts = helper_options(ctx, encoder, NULL);
    advgnn_options *sopts = helper_options(ctx, scorer, bank_pairs);
    advgnn_plugin_choice choice = {.plugin = scorer, .options = sopts, .weight = 1.0};
    advgnn_experiment_spec spec = {
        .name = "score",
        .dataset = {.plugin = dataset, .options = dopts},
        .encoder = {.plugin = encoder, .options = eopts},
        .scorers = &choice,
        .scorer_count = 1,
        .image_size = SIZE,
        .batch_size = 3,
        .seed = 7,
        .output_dir = out,
        .threads = 1,
    };
    cJSON *results = NULL;

    if (dopts && eopts && sopts)
        rc = advgnn_experiment_run(ctx, &spec, &results);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "run failed: %s\n", advgnn_ctx_error(ctx));
    cJSON_Delete(results);
    advgnn_options_free(dopts);
    advgnn_options_free(eopts);
    advgnn_options_free(sopts);
    return rc;
}

/* Finds the scores.csv row of sample `name`: "tiles,<name>,...,<score>". */
static double run_score(const char *out, const char *name)
{
    char path[4096], line[1024], prefix[256];
    double score = NAN;

    snprintf(path, sizeof(path), "%s/scores.csv", out);
    snprintf(prefix, sizeof(prefix), "tiles,%s,", name);
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            score = strtod(strrchr(line, ',') + 1, NULL);
    fclose(f);
    return score;
}

/* Runs the advgnn program with `arguments`; stdout goes to <root>/stdout.txt
 * and stderr to <root>/stderr.txt. Returns the exit status. */
static int run_cli(const char *root, const char *arguments)
{
    char command[20000];

    snprintf(command, sizeof(command), "'%s' --plugin-path '%s' --no-progress %s >'%s/stdout.txt' 2>'%s/stderr.txt'",
             ADVGNN_CLI, ADVGNN_BUILD_PLUGIN_DIR, arguments, root, root);
    int status = system(command);
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Returns the text of <root>/<file> in `buffer`. */
static const char *read_text(const char *root, const char *file, char *buffer, size_t size)
{
    char path[4096];
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", root, file);
    buffer[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        n = fread(buffer, 1, size - 1, f);
        fclose(f);
    }
    buffer[n] = '\0';
    return buffer;
}

/* Returns the score printed for `image` ("<image> <score>" lines). */
static double printed_score(const char *text, const char *image)
{
    const char *at = strstr(text, image);

    return at ? strtod(at + strlen(image), NULL) : NAN;
}

static void check_scores_match(const char *root, const char *data, const char *out)
{
    char arguments[16384], text[8192], path[4096];
    const char *names[2] = {"defect/crack_1.png", "good/000.png"};
    char images[2][1024];
    double expected[2];
    int listed = 0;

    /* Score the run's defective test image and a normal image. The normal
     * one must be a test image of the run, so that scores.csv has its row. */
    expected[0] = run_score(out, names[0]);
    expected[1] = NAN;
    for (int i = 0; i < 12 && isnan(expected[1]); i++) {
        static char name[64];
        snprintf(name, sizeof(name), "good/%03d.png", i);
        expected[1] = run_score(out, name);
        names[1] = name;
    }
    CHECK(!isnan(expected[0]));
    CHECK(!isnan(expected[1]));
    for (int i = 0; i < 2; i++)
        snprintf(images[i], sizeof(images[i]), "%s/%s", data, names[i]);
    snprintf(arguments, sizeof(arguments), "score '%s' '%s' '%s' --output '%s/scored'", out, images[0], images[1],
             root);
    int status = run_cli(root, arguments);
    CHECK_INT_EQ(status, 0);
    if (status != 0)
        fprintf(stderr, "%s\n", read_text(root, "stderr.txt", text, sizeof(text)));

    read_text(root, "stdout.txt", text, sizeof(text));
    for (int i = 0; i < 2; i++) {
        double printed = printed_score(text, images[i]);
        CHECK_NEAR(printed, expected[i], 1e-5);
    }
    CHECK(expected[0] > expected[1]);

    /* Overlays under the file names, and scores.csv with a header and a row
     * per image. */
    snprintf(path, sizeof(path), "%s/scored/heatmaps/tiles/crack_1.png", root);
    CHECK(advgnn_fs_is_file(path));
    snprintf(path, sizeof(path), "%s/scored/heatmaps/tiles/%s", root, strchr(names[1], '/') + 1);
    CHECK(advgnn_fs_is_file(path));
    snprintf(path, sizeof(path), "%s/scored/scores.csv", root);
    listed = (int)helper_count_lines(path);
    CHECK_INT_EQ(listed, 3);
}

/* The run was given the relative root "tiles": results.json must record its
 * absolute path, so that score works from any working folder. */
static void check_recorded_root(advgnn_ctx *ctx, const char *data, const char *out)
{
    char *path = advgnn_fs_join(out, "results.json");
    char *text = NULL;
    char *expected = realpath(data, NULL);
    size_t size = 0;
    cJSON *results = NULL;

    CHECK(path != NULL);
    CHECK(expected != NULL);
    if (path && advgnn_fs_read_file(ctx, path, 1u << 24, &text, &size) == ADVGNN_OK)
        results = cJSON_ParseWithLength(text, size);
    CHECK(results != NULL);

    const cJSON *dataset = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(results, "plugins"),
                                                            "dataset");
    const cJSON *root = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(dataset, "options"),
                                                         "root");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(dataset, "set_options");
    CHECK(cJSON_IsString(root));
    if (cJSON_IsString(root) && expected) {
        CHECK(strcmp(root->valuestring, expected) == 0);
        if (strcmp(root->valuestring, expected) != 0)
            fprintf(stderr, "recorded root '%s', expected '%s'\n", root->valuestring, expected);
    }
    CHECK(cJSON_IsArray(set));
    CHECK_INT_EQ(cJSON_GetArraySize(set), 3); /* root, mask_suffix, test_normal_ratio */

    cJSON_Delete(results);
    free(expected); /* realpath allocates with malloc */
    advgnn_free(text);
    advgnn_free(path);
}

/* Moves the dataset away: score then fails with a hint that names root=PATH,
 * and scores the image as before with root=PATH. Moves it back at the end. */
static void check_moved_root(const char *root, const char *data, const char *out)
{
    char moved[4096], image[4200], arguments[16384], text[8192];
    double expected = run_score(out, "defect/crack_1.png");

    /* The folder dataset names the category after the root's folder name,
     * so the moved root keeps the name "tiles". */
    snprintf(moved, sizeof(moved), "%s/moved", root);
    CHECK_INT_EQ(mkdir(moved, 0755), 0);
    snprintf(moved, sizeof(moved), "%s/moved/tiles", root);
    snprintf(image, sizeof(image), "%s/defect/crack_1.png", moved);
    CHECK_INT_EQ(rename(data, moved), 0);

    snprintf(arguments, sizeof(arguments), "score '%s' '%s' --output '%s/moved-out'", out, image, root);
    CHECK_INT_EQ(run_cli(root, arguments), 1);
    read_text(root, "stderr.txt", text, sizeof(text));
    CHECK_STR_CONTAINS(text, "not found");
    CHECK_STR_CONTAINS(text, "hint: the dataset is not where the run found it; pass root=PATH");

    snprintf(arguments, sizeof(arguments), "score '%s' '%s' 'root=%s' --output '%s/moved-out'", out, image, moved,
             root);
    int status = run_cli(root, arguments);
    CHECK_INT_EQ(status, 0);
    if (status != 0)
        fprintf(stderr, "%s\n", read_text(root, "stderr.txt", text, sizeof(text)));
    read_text(root, "stdout.txt", text, sizeof(text));
    CHECK_NEAR(printed_score(text, image), expected, 1e-5);

    CHECK_INT_EQ(rename(moved, data), 0);
}

static void check_errors(advgnn_ctx *ctx, const char *root, const char *data, const char *out)
{
    char arguments[8192], text[8192], path[4096];

    /* A folder without results.json. */
    snprintf(arguments, sizeof(arguments), "score '%s' '%s/good/000.png'", data, data);
    CHECK_INT_EQ(run_cli(root, arguments), 1);
    read_text(root, "stderr.txt", text, sizeof(text));
    CHECK_STR_CONTAINS(text, "results.json' is missing");
    CHECK_STR_CONTAINS(text, "pass the folder that 'advgnn run' wrote");

    /* An image that cannot be decoded is named. */
    snprintf(path, sizeof(path), "%s/broken.png", root);
    CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, path, "not a png", 9), ADVGNN_OK);
    snprintf(arguments, sizeof(arguments), "score '%s' '%s' --output '%s/broken-out'", out, path, root);
    CHECK_INT_EQ(run_cli(root, arguments), 1);
    read_text(root, "stderr.txt", text, sizeof(text));
    CHECK_STR_CONTAINS(text, "broken.png");

    /* A run that did not finish. */
    snprintf(path, sizeof(path), "%s/unfinished", root);
    CHECK_INT_EQ(advgnn_fs_mkdir_p(ctx, path), ADVGNN_OK);
    snprintf(path, sizeof(path), "%s/unfinished/results.json", root);
    CHECK_INT_EQ(advgnn_fs_write_atomic(ctx, path, "{\"status\": \"running\"}", 21), ADVGNN_OK);
    snprintf(arguments, sizeof(arguments), "score '%s/unfinished' '%s/good/000.png'", root, data);
    CHECK_INT_EQ(run_cli(root, arguments), 1);
    read_text(root, "stderr.txt", text, sizeof(text));
    CHECK_STR_CONTAINS(text, "did not finish (status 'running'");
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_registry *reg = NULL;
    char *root = helper_make_temp_dir("advgnn-score");
    char *data = root ? advgnn_fs_join(root, "tiles") : NULL;
    char *out = root ? advgnn_fs_join(root, "run") : NULL;

    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    CHECK(data != NULL);
    CHECK(out != NULL);
    CHECK_INT_EQ(advgnn_registry_new(ctx, &reg), ADVGNN_OK);
    if (data && out && reg) {
        write_dataset(ctx, data);
        /* The run starts in `root` with a relative dataset root, and the
         * scoring runs from "/". */
        CHECK_INT_EQ(chdir(root), 0);
        int rc = run_experiment(ctx, reg, "tiles", out);
        CHECK_INT_EQ(chdir("/"), 0);
        CHECK_INT_EQ(rc, ADVGNN_OK);
        if (rc == ADVGNN_OK) {
            check_recorded_root(ctx, data, out);
            check_scores_match(root, data, out);
            check_moved_root(root, data, out);
            check_errors(ctx, root, data, out);
        }
    }

    helper_remove_tree(root);
    advgnn_free(data);
    advgnn_free(out);
    advgnn_free(root);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
