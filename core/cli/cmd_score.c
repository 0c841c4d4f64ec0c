/* `advgnn score MODEL_DIR IMAGE... [root=PATH]`: scores image files with the
 * pipeline of a finished run. The run's results.json names the plugins with
 * every resolved option and the options the user set, so the dataset, encoder
 * and scorers are created again. The encoder loads its saved weights, and the
 * scorers are fitted again on the dataset's training images
 * (core/src/experiment/experiment.h). root=PATH replaces the dataset's root. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "advgnn/image.h"
#include "cli.h"
#include "experiment/experiment.h"
#include "options/options_internal.h"
#include "report/results.h"
#include "util/fsutil.h"

#define RESULTS_MAX_BYTES (64u << 20) /* a results.json larger than this is not read */
#define ROOT_PREFIX "root=" /* an argument that replaces the dataset's root */

/* The plugins of a run, rebuilt from results.json. */
typedef struct score_setup {
    cJSON *results;
    advgnn_experiment_spec spec;
    advgnn_plugin_choice scorers_storage[16];
    advgnn_options *options[18]; /* dataset, encoder, scorers; freed at the end */
    size_t option_count;
    char *output_dir;
    char *weights;
    const char *category;
} score_setup;

/* Reads MODEL_DIR/results.json and checks that the run finished. */
static int read_results(advgnn_ctx *ctx, const char *model_dir, cJSON **out)
{
    char *path = advgnn_fs_join(model_dir, "results.json");
    char *text = NULL;
    size_t size = 0;
    int rc;

    *out = NULL;
    if (!path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (!advgnn_fs_is_file(path)) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                          "'%s' is missing: '%s' is not a run folder; pass the folder that 'advgnn run' wrote",
                          path, model_dir);
        advgnn_free(path);
        return rc;
    }
    rc = advgnn_fs_read_file(ctx, path, RESULTS_MAX_BYTES, &text, &size);
    if (rc == ADVGNN_OK) {
        *out = cJSON_ParseWithLength(text, size);
        if (!*out)
            rc = advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "'%s' is not valid JSON; rerun the experiment", path);
    }

    const cJSON *status = *out ? cJSON_GetObjectItemCaseSensitive(*out, "status") : NULL;
    if (rc == ADVGNN_OK && (!cJSON_IsString(status) || strcmp(status->valuestring, "finished") != 0))
        rc = advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                          "the run in '%s' did not finish (status '%s' in '%s'); score with a finished run", model_dir,
                          cJSON_IsString(status) ? status->valuestring : "?", path);
    advgnn_free(text);
    advgnn_free(path);
    return rc;
}

/* Sets one option from its JSON value in results.json. */
static int set_option(advgnn_ctx *ctx, advgnn_options *opts, const cJSON *item)
{
    const advgnn_option_spec *spec = advgnn_options_find_spec(opts, item->string);
    advgnn_value value = {0};
    double numbers[64];
    const char *strings[64];
    size_t n = 0;
    const cJSON *element;

    if (cJSON_IsNull(item))
        return ADVGNN_OK;
    if (cJSON_IsBool(item)) {
        value.kind = ADVGNN_VALUE_BOOLEAN;
        value.boolean = cJSON_IsTrue(item);
    } else if (cJSON_IsNumber(item)) {
        /* Integers are written as JSON numbers; the option's type decides. */
        value.kind = spec && spec->type == ADVGNN_OPT_INT ? ADVGNN_VALUE_INTEGER : ADVGNN_VALUE_NUMBER;
        value.integer = (int64_t)item->valuedouble;
        value.number = item->valuedouble;
    } else if (cJSON_IsString(item)) {
        value.kind = ADVGNN_VALUE_STRING;
        value.string = item->valuestring;
    } else if (cJSON_IsArray(item)) {
        value.kind = spec && spec->type == ADVGNN_OPT_STRING_LIST ? ADVGNN_VALUE_STRING_LIST : ADVGNN_VALUE_NUMBER_LIST;
        cJSON_ArrayForEach(element, item)
        {
            if (n == 64)
                return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "option '%s' lists more than 64 values", item->string);
            numbers[n] = cJSON_IsNumber(element) ? element->valuedouble : 0.0;
            strings[n] = cJSON_IsString(element) ? element->valuestring : "";
            n++;
        }
        value.numbers = numbers;
        value.strings = strings;
        value.count = n;
    }
    return advgnn_options_set(opts, ctx, item->string, &value);
}

/* Returns nonzero when `name` is listed in the JSON array `names`. */
static int listed(const cJSON *names, const char *name)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, names)
    {
        if (cJSON_IsString(item) && strcmp(item->valuestring, name) == 0)
            return 1;
    }
    return 0;
}

/* Returns nonzero when the option `item` of results.json is to be set again.
 * A results.json with "set_options" lists the options the user set, and only
 * those are restored: a plugin may reject an explicitly set option even when
 * its value is the default (vig's 'decoder_blocks' without the graph
 * decoder). Older files lack the list, so there an option is restored when
 * it is required or its value differs from the default (`defaults`).
 * NOTE: that fallback misses an option the user set to its default value.
 * For vig, 'widths' or 'blocks' set to their defaults next to a preset come
 * back as the preset's values. */
static int restore_option(const cJSON *set_options, const advgnn_options *defaults, advgnn_options *scratch,
                          advgnn_ctx *ctx, const cJSON *item)
{
    const advgnn_option_spec *spec;
    char stored[1024];
    char fallback[1024];

    if (cJSON_IsArray(set_options))
        return listed(set_options, item->string);
    spec = advgnn_options_find_spec(defaults, item->string);
    if (!spec || (spec->flags & ADVGNN_OPT_REQUIRED))
        return 1;
    if (set_option(ctx, scratch, item) != ADVGNN_OK) {
        advgnn_ctx_clear_error(ctx); /* the real set reports it */
        return 1;
    }
    for (size_t i = 0; i < advgnn_options_count(defaults); i++) {
        if (advgnn_options_spec_at(defaults, i) != spec)
            continue;
        advgnn_options_format_value(scratch, i, stored, sizeof(stored));
        advgnn_options_format_value(defaults, i, fallback, sizeof(fallback));
        return strcmp(stored, fallback) != 0;
    }
    return 1;
}

/* Sets the dataset's 'category' option to the run's only category when the
 * run recorded it empty. The folder plugin then names its category after
 * its root folder, so moved data (root=PATH) would get a name that the run
 * has no results for. */
static int keep_category_name(advgnn_ctx *ctx, score_setup *setup, const cJSON *options, advgnn_options *opts)
{
    const cJSON *recorded = cJSON_GetObjectItemCaseSensitive(options, "category");
    const cJSON *categories = cJSON_GetObjectItemCaseSensitive(setup->results, "categories");
    advgnn_value value = {.kind = ADVGNN_VALUE_STRING};

    if (!cJSON_IsString(recorded) || recorded->valuestring[0] != '\0' || cJSON_GetArraySize(categories) != 1)
        return ADVGNN_OK;
    for (size_t i = 0; i < advgnn_options_count(opts); i++) {
        const advgnn_option_spec *spec = advgnn_options_spec_at(opts, i);

        if (strcmp(spec->name, "category") == 0 && spec->type == ADVGNN_OPT_STRING) {
            value.string = cJSON_GetArrayItem(categories, 0)->string;
            return advgnn_options_set(opts, ctx, "category", &value);
        }
    }
    return ADVGNN_OK;
}

/* Finds the plugin that results.json names in `entry` and rebuilds its
 * options into choice. A dataset's 'root' is replaced by `root` unless that
 * is NULL. */
static int rebuild_choice(advgnn_ctx *ctx, advgnn_registry *reg, score_setup *setup, const cJSON *entry,
                          advgnn_plugin_kind kind, const char *root, advgnn_plugin_choice *choice)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(entry, "options");
    const cJSON *set_options = cJSON_GetObjectItemCaseSensitive(entry, "set_options");
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(entry, "label");
    const cJSON *weight = cJSON_GetObjectItemCaseSensitive(entry, "weight");
    advgnn_options *opts = NULL;
    advgnn_options *defaults = NULL;
    advgnn_options *scratch = NULL;
    const cJSON *item;
    int rc;

    if (!cJSON_IsString(name) || !cJSON_IsObject(options))
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "results.json names a %s without name or options; rerun the "
                            "experiment", advgnn_plugin_kind_name(kind));
    choice->plugin = advgnn_registry_find(reg, name->valuestring, kind);
    if (!choice->plugin)
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                            "the run used %s plugin '%s', which is not installed; add its folder with --plugin-path",
                            advgnn_plugin_kind_name(kind), name->valuestring);
    rc = advgnn_options_new(ctx, choice->plugin->name, choice->plugin->options, &opts);
    if (rc != ADVGNN_OK)
        return rc;
    setup->options[setup->option_count++] = opts;

    /* Only the fallback for files without "set_options" compares with defaults. */
    if (!cJSON_IsArray(set_options)) {
        rc = advgnn_options_new(ctx, choice->plugin->name, choice->plugin->options, &defaults);
        if (rc == ADVGNN_OK)
            rc = advgnn_options_new(ctx, choice->plugin->name, choice->plugin->options, &scratch);
    }
    for (item = options->child; rc == ADVGNN_OK && item; item = item->next) {
        if (root && kind == ADVGNN_PLUGIN_DATASET && strcmp(item->string, "root") == 0)
            continue;
        if (restore_option(set_options, defaults, scratch, ctx, item))
            rc = set_option(ctx, opts, item);
    }
    if (rc == ADVGNN_OK && root && kind == ADVGNN_PLUGIN_DATASET) {
        advgnn_value value = {.kind = ADVGNN_VALUE_STRING, .string = root};
        rc = advgnn_options_set(opts, ctx, "root", &value);
    }
    if (rc == ADVGNN_OK && root && kind == ADVGNN_PLUGIN_DATASET)
        rc = keep_category_name(ctx, setup, options, opts);
    advgnn_options_free(defaults);
    advgnn_options_free(scratch);
    if (rc != ADVGNN_OK)
        return rc;
    rc = advgnn_options_finish(opts, ctx);
    choice->options = opts;
    choice->label = cJSON_IsString(label) ? label->valuestring : NULL;
    choice->weight = cJSON_IsNumber(weight) ? weight->valuedouble : 1.0;
    return rc;
}

/* Returns the number at results.json key `section.key` (section may be
 * NULL), or `fallback`. */
static double json_number(const cJSON *results, const char *section, const char *key, double fallback)
{
    const cJSON *parent = section ? cJSON_GetObjectItemCaseSensitive(results, section) : results;
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(parent, key);

    return cJSON_IsNumber(value) ? value->valuedouble : fallback;
}

/* Writes the run's category names, comma-separated, into `names`; a list
 * too long for it ends with "...". */
static void category_names(const cJSON *categories, char *names, size_t size)
{
    const cJSON *category;
    size_t used = 0;

    names[0] = '\0';
    cJSON_ArrayForEach(category, categories)
    {
        int n = snprintf(names + used, size - used, "%s%s", used ? ", " : "", category->string);
        if (n < 0 || (size_t)n >= size - used) {
            snprintf(names + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size, "...");
            return;
        }
        used += (size_t)n;
    }
}

/* Chooses the category: --category, or the run's only one. */
static int choose_category(advgnn_ctx *ctx, const cli_options *options, score_setup *setup)
{
    const cJSON *categories = cJSON_GetObjectItemCaseSensitive(setup->results, "categories");
    int count = cJSON_GetArraySize(categories);
    char names[1024];

    category_names(categories, names, sizeof(names));
    if (options->category) {
        if (!cJSON_GetObjectItemCaseSensitive(categories, options->category))
            return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND,
                                "the run has no results for category '%s'; its categories are: %s",
                                options->category, names);
        setup->category = options->category;
        return ADVGNN_OK;
    }
    if (count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "the run's results.json lists no categories; rerun the "
                            "experiment");
    if (count != 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "the run has %d categories (%s); name the one to score with --category NAME", count,
                            names);
    setup->category = cJSON_GetArrayItem(categories, 0)->string;
    return ADVGNN_OK;
}

/* Rebuilds the run's spec from results.json. */
static int rebuild_spec(advgnn_ctx *ctx, advgnn_registry *reg, const cli_options *options, const char *model_dir,
                        const char *root, score_setup *setup)
{
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(setup->results, "plugins");
    const cJSON *scorers = cJSON_GetObjectItemCaseSensitive(plugins, "scorers");
    advgnn_experiment_spec *spec = &setup->spec;
    int count = cJSON_GetArraySize(scorers);
    int rc;

    if (count < 1 || count > 16)
        return advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "results.json of '%s' lists %d scorers; expected 1 to 16",
                            model_dir, count);
    rc = rebuild_choice(ctx, reg, setup, cJSON_GetObjectItemCaseSensitive(plugins, "dataset"), ADVGNN_PLUGIN_DATASET,
                        root, &spec->dataset);
    if (rc == ADVGNN_OK)
        rc = rebuild_choice(ctx, reg, setup, cJSON_GetObjectItemCaseSensitive(plugins, "encoder"),
                            ADVGNN_PLUGIN_ENCODER, NULL, &spec->encoder);
    for (int s = 0; rc == ADVGNN_OK && s < count; s++)
        rc = rebuild_choice(ctx, reg, setup, cJSON_GetArrayItem(scorers, s), ADVGNN_PLUGIN_SCORER, NULL,
                            &setup->scorers_storage[s]);
    if (rc != ADVGNN_OK)
        return rc;

    /* NOTE: results.json stores the seed as a JSON number, so a seed above
     * 2^53 does not come back exactly. */
    spec->name = "score";
    spec->scorers = setup->scorers_storage;
    spec->scorer_count = (size_t)count;
    spec->image_size = (int)json_number(setup->results, "image", "size", 0);
    spec->crop_size = (int)json_number(setup->results, "image", "crop", 0);
    spec->batch_size = (int)json_number(setup->results, NULL, "batch_size", 0);
    spec->seed = (uint64_t)json_number(setup->results, NULL, "seed", 0);
    spec->threads = options->threads;
    return ADVGNN_OK;
}

/* Picks the output folder (--output, else MODEL_DIR/score-<UTC time>) and the
 * encoder weights (the category's encoder_weights, else the usual file). */
static int choose_paths(advgnn_ctx *ctx, const cli_options *options, const char *model_dir, score_setup *setup)
{
    const cJSON *categories = cJSON_GetObjectItemCaseSensitive(setup->results, "categories");
    const cJSON *category = cJSON_GetObjectItemCaseSensitive(categories, setup->category);
    const cJSON *weights = cJSON_GetObjectItemCaseSensitive(category, "encoder_weights");
    char stamp[64];
    time_t now = time(NULL);
    struct tm utc;

    if (options->output_root) {
        setup->output_dir = advgnn_strdup(options->output_root);
    } else {
        gmtime_r(&now, &utc);
        strftime(stamp, sizeof(stamp), "score-%Y%m%dT%H%M%SZ", &utc);
        setup->output_dir = advgnn_fs_join(model_dir, stamp);
    }
    /* The weights come from MODEL_DIR, never from the absolute path that
     * results.json recorded: a copied run folder must not read the weights
     * of the folder it was copied from. */
    {
        char *folder = advgnn_fs_join(model_dir, "encoder");
        char *sub = folder ? advgnn_fs_join(folder, setup->category) : NULL;
        char *file = sub ? advgnn_fs_join(sub, "weights.safetensors") : NULL;

        advgnn_free(folder);
        advgnn_free(sub);
        if (!file || !setup->output_dir) {
            advgnn_free(file);
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
        }
        if (advgnn_fs_is_file(file)) {
            setup->weights = file;
            advgnn_log(ctx, ADVGNN_LOG_INFO, "score: encoder weights from %s", file);
        } else if (cJSON_IsString(weights)) {
            int rc = advgnn_failf(ctx, ADVGNN_ERR_IO,
                                  "the trained encoder weights %s are %s: the run saved them there (as %s); "
                                  "copy the whole run folder, including encoder/%s",
                                  file, advgnn_fs_is_dir(file) ? "a folder, not a file" : "missing",
                                  weights->valuestring, setup->category);

            advgnn_free(file);
            return rc;
        } else {
            /* An encoder without trained weights (patch_stats) has none to load. */
            advgnn_free(file);
        }
    }
    setup->spec.output_dir = setup->output_dir;
    return ADVGNN_OK;
}

/* Prints "<image> <score>" lines and writes OUTPUT/scores.csv: image, score
 * and, with two or more scorers (`columns` > 0), each scorer's own score
 * under its label, so that a fused score can be traced to its parts. NOTE:
 * the file does not name each image's overlay, so two images with one file
 * name cannot be distinguished there (their overlays get "-2" suffixes). */
static int report_scores(advgnn_ctx *ctx, const score_setup *setup, char **images, size_t count,
                         const float *scores, size_t columns, const float *scorer_scores, char *const *labels)
{
    advgnn_text csv = {0};
    char *path = advgnn_fs_join(setup->output_dir, "scores.csv");
    int rc;

    advgnn_text_appendf(&csv, "image,score");
    for (size_t s = 0; s < columns; s++) {
        advgnn_text_appendf(&csv, ",");
        advgnn_text_append_csv_field(&csv, labels[s]);
    }
    advgnn_text_appendf(&csv, "\n");
    for (size_t i = 0; i < count; i++) {
        printf("%s %.9g\n", images[i], (double)scores[i]);
        advgnn_text_append_csv_field(&csv, images[i]);
        advgnn_text_appendf(&csv, ",%.9g", (double)scores[i]);
        for (size_t s = 0; s < columns; s++)
            advgnn_text_appendf(&csv, ",%.9g", (double)scorer_scores[s * count + i]);
        advgnn_text_appendf(&csv, "\n");
    }
    fflush(stdout);
    if (!path || csv.failed)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    else
        rc = advgnn_fs_write_atomic(ctx, path, csv.data, csv.length);
    advgnn_text_release(&csv);
    advgnn_free(path);
    return rc;
}

/* Decodes each image and moves the readable ones to the front of `images`,
 * printing the error of each unreadable one. Returns the number of readable
 * images and stores the number of unreadable ones in *unreadable, and of
 * those the files that could not be opened (missing, a folder, no read
 * permission) in *unopened.
 * NOTE: the scoring decodes the readable images again, because
 * advgnn_experiment_score takes paths, so each costs two decodes. */
static size_t keep_readable(advgnn_ctx *ctx, char **images, size_t count, size_t *unreadable, size_t *unopened)
{
    size_t readable = 0;

    *unreadable = 0;
    *unopened = 0;
    for (size_t i = 0; i < count; i++) {
        advgnn_image image = {0};
        int rc;

        advgnn_ctx_clear_error(ctx);
        rc = advgnn_image_load_file(ctx, images[i], 0, &image);
        advgnn_image_release(&image);
        if (rc != ADVGNN_OK) {
            const char *message = advgnn_ctx_error(ctx);

            if (message[0] == '\0')
                message = advgnn_status_name(rc);
            fprintf(stderr, "advgnn: error: %s\n", message);
            (*unreadable)++;
            if (rc == ADVGNN_ERR_NOT_FOUND || rc == ADVGNN_ERR_IO)
                (*unopened)++;
            continue;
        }
        images[readable++] = images[i];
    }
    advgnn_ctx_clear_error(ctx);
    return readable;
}

/* Moves the words "root=PATH" out of the image list argv[1..argc-1], so the
 * images stay in order at argv[1..]. Returns the number of images and stores
 * the last root given, or NULL, in *root. */
static int take_root(int argc, char **argv, const char **root)
{
    int images = 1;

    *root = NULL;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], ROOT_PREFIX, strlen(ROOT_PREFIX)) == 0)
            *root = argv[i] + strlen(ROOT_PREFIX);
        else
            argv[images++] = argv[i];
    }
    return images - 1;
}

/* Returns the hint for a failure while the run's pipeline is rebuilt or
 * scores, or NULL to take the hint of the status. */
static const char *score_hint(int status, const char *message)
{
    if (status == ADVGNN_ERR_INTERRUPTED)
        return "the scoring was stopped by a signal before scores.csv was written; run the same command again";
    if ((status == ADVGNN_ERR_NOT_FOUND || status == ADVGNN_ERR_IO || status == ADVGNN_ERR_OPTION) &&
        strstr(message, "'root'"))
        return "the dataset is not where the run found it; pass root=PATH after MODEL_DIR with the dataset's "
               "current folder or archive (see 'advgnn help score')";
    return NULL;
}

/* Returns the hint for a call in which no image could be read, when
 * `unopened` of the `unreadable` files could not even be opened. */
static const char *unreadable_hint(size_t unreadable, size_t unopened)
{
    if (unopened == unreadable)
        return "check the image paths named above: each must be a file that exists and that you may read";
    if (unopened == 0)
        return "pass PNG, JPEG or BMP files that open in an image viewer";
    return "check the paths of the files that could not be opened, and pass PNG, JPEG or BMP files for the others";
}

int cli_cmd_score(const cli_options *options, int argc, char **argv)
{
    score_setup setup;
    advgnn_ctx *ctx = NULL;
    advgnn_registry *reg = NULL;
    float *scores = NULL, *scorer_scores = NULL;
    char **labels = NULL;
    const char *hint = NULL;
    const char *root = NULL;
    size_t count = 0, columns = 0;
    size_t unreadable = 0, unopened = 0;
    int rc;

    if (argc >= 1)
        count = (size_t)take_root(argc, argv, &root);
    if (argc < 1 || count == 0)
        return cli_usage_error(cli_find_command("score"), "score needs a run folder and at least one image");
    if (root && root[0] == '\0')
        return cli_usage_error(cli_find_command("score"), "root= is empty; write root=PATH with the dataset's folder or archive");
    memset(&setup, 0, sizeof(setup));
    rc = cli_new_context(options, &ctx);
    if (rc != CLI_EXIT_OK)
        return rc;

    rc = cli_load_plugins(options, ctx, &reg);
    if (rc == ADVGNN_OK) {
        rc = read_results(ctx, argv[0], &setup.results);
        if (rc != ADVGNN_OK)
            hint = "pass the folder of a finished run: one whose results.json has \"status\": \"finished\"";
    }
    if (rc == ADVGNN_OK) {
        rc = rebuild_spec(ctx, reg, options, argv[0], root, &setup);
        if (rc != ADVGNN_OK)
            hint = score_hint(rc, advgnn_ctx_error(ctx));
    }
    if (rc == ADVGNN_OK) {
        rc = choose_category(ctx, options, &setup);
        if (rc != ADVGNN_OK)
            hint = "pass --category with one of the categories named above; 'advgnn help score' shows the usage";
    }
    if (rc == ADVGNN_OK)
        rc = choose_paths(ctx, options, argv[0], &setup);

    /* An unreadable image is reported alone; the others are still scored. */
    if (rc == ADVGNN_OK) {
        count = keep_readable(ctx, argv + 1, count, &unreadable, &unopened);
        if (count == 0) {
            rc = unreadable == 1
                     ? advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "the image could not be read; nothing was scored")
                     : advgnn_failf(ctx, ADVGNN_ERR_FORMAT, "none of the %zu images could be read; nothing was scored",
                                    unreadable);
            hint = unreadable_hint(unreadable, unopened);
        }
    }
    /* With one scorer its score is the score, so it gets no column of its own. */
    if (rc == ADVGNN_OK && setup.spec.scorer_count > 1)
        columns = setup.spec.scorer_count;
    if (rc == ADVGNN_OK && (!(scores = advgnn_calloc(count, sizeof(float))) ||
                            (columns && !(scorer_scores = advgnn_calloc(columns * count, sizeof(float)))) ||
                            (columns && !(labels = advgnn_calloc(columns, sizeof(char *))))))
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (rc == ADVGNN_OK) {
        rc = advgnn_experiment_score(ctx, &setup.spec, setup.category, setup.weights, (const char *const *)argv + 1,
                                     count, scores, scorer_scores, labels);
        if (rc != ADVGNN_OK)
            hint = score_hint(rc, advgnn_ctx_error(ctx));
    }
    if (rc == ADVGNN_OK)
        rc = report_scores(ctx, &setup, argv + 1, count, scores, columns, scorer_scores, labels);
    if (rc == ADVGNN_OK && !options->quiet)
        fprintf(stderr, "overlays and scores.csv in %s\n", setup.output_dir);

    if (rc != ADVGNN_OK) {
        rc = cli_report_failure_hint(ctx, rc, hint);
    } else if (unreadable > 0) {
        fprintf(stderr, "advgnn: error: %zu of %zu images could not be read and have no score\n", unreadable,
                count + unreadable);
        fputs("hint: replace or remove the files named above; the other scores are printed\n", stderr);
        rc = CLI_EXIT_FAILURE;
    }
    for (size_t i = 0; i < setup.option_count; i++)
        advgnn_options_free(setup.options[i]);
    advgnn_free(scores);
    advgnn_free(scorer_scores);
    for (size_t s = 0; labels && s < columns; s++)
        advgnn_free(labels[s]);
    advgnn_free(labels);
    advgnn_free(setup.output_dir);
    advgnn_free(setup.weights);
    cJSON_Delete(setup.results);
    advgnn_registry_free(reg);
    advgnn_ctx_free(ctx);
    return rc;
}
