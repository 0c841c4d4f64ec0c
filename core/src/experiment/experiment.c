/* advgnn_experiment_run: checks the spec, prepares the output folder, lists
 * the dataset, runs each category and keeps results.json current. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/source.h"
#include "advgnn/status.h"
#include "advgnn/version.h"
#include "experiment/run_internal.h"
#include "tracking/experiment_tracking.h"
#include "util/fsutil.h"
#include "util/internal.h"

#define SCRIPT_MAX_BYTES (16u << 20) /* a Lua script larger than this is not copied */

/* ---- labels -------------------------------------------------------------- */

size_t advgnn_run_label_count(const advgnn_run *run)
{
    return run->spec->scorer_count + (run->spec->scorer_count > 1 ? 1 : 0);
}

const char *advgnn_run_label(const advgnn_run *run, size_t i)
{
    return i < run->spec->scorer_count ? run->labels[i] : ADVGNN_FUSED_LABEL;
}

/* ---- checking the spec --------------------------------------------------- */

static int check_choice(advgnn_ctx *ctx, const advgnn_plugin_choice *choice, advgnn_plugin_kind kind,
                        const char *role)
{
    if (!choice->plugin)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "the experiment has no %s", role);
    if (choice->plugin->kind != kind)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "plugin '%s' is a %s, not a %s", choice->plugin->name,
                            advgnn_plugin_kind_name(choice->plugin->kind), advgnn_plugin_kind_name(kind));
    return ADVGNN_OK;
}

static int check_scorers(advgnn_run *run)
{
    const advgnn_experiment_spec *spec = run->spec;
    const advgnn_plugin *encoder = spec->encoder.plugin;
    int encoder_reconstructs = (encoder->fn.encoder.flags & ADVGNN_ENCODER_RECONSTRUCTS) != 0;

    if (spec->scorer_count == 0 || !spec->scorers)
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG, "the experiment has no scorer; add at least one");

    run->labels = advgnn_calloc(spec->scorer_count, sizeof(*run->labels));
    if (!run->labels)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    for (size_t s = 0; s < spec->scorer_count; s++) {
        const advgnn_plugin_choice *choice = &spec->scorers[s];
        int rc = check_choice(run->ctx, choice, ADVGNN_PLUGIN_SCORER, "scorer");
        if (rc != ADVGNN_OK)
            return rc;
        if ((choice->plugin->fn.scorer.flags & ADVGNN_SCORER_NEEDS_RECONSTRUCTION) && !encoder_reconstructs)
            return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG,
                                "scorer '%s' needs a reconstruction, but encoder '%s' does not reconstruct its "
                                "input; choose an encoder that does, or another scorer",
                                choice->plugin->name, encoder->name);

        /* Labels name metric keys and CSV columns, so they must be unique. */
        run->labels[s] = choice->label && choice->label[0] ? choice->label : choice->plugin->name;
        if (strcmp(run->labels[s], ADVGNN_FUSED_LABEL) == 0)
            return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG,
                                "scorer label '%s' is reserved for the fused score; choose another label",
                                ADVGNN_FUSED_LABEL);
        for (size_t t = 0; t < s; t++)
            if (strcmp(run->labels[t], run->labels[s]) == 0)
                return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG,
                                    "two scorers have the label '%s'; give each a distinct label", run->labels[s]);
    }
    return ADVGNN_OK;
}

static int check_spec(advgnn_run *run)
{
    const advgnn_experiment_spec *spec = run->spec;
    int rc;

    rc = check_choice(run->ctx, &spec->dataset, ADVGNN_PLUGIN_DATASET, "dataset");
    if (rc == ADVGNN_OK)
        rc = check_choice(run->ctx, &spec->encoder, ADVGNN_PLUGIN_ENCODER, "encoder");
    if (rc == ADVGNN_OK)
        rc = check_scorers(run);
    if (rc != ADVGNN_OK)
        return rc;

    if (!spec->output_dir || !spec->output_dir[0])
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG, "the experiment has no output folder");
    if (spec->image_size <= 0)
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG, "invalid image_size %d; it must be > 0 pixels",
                            spec->image_size);
    if (spec->crop_size < 0 || spec->crop_size > spec->image_size)
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG,
                            "invalid crop_size %d; it must be between 0 (no crop) and image_size %d", spec->crop_size,
                            spec->image_size);
    if (spec->batch_size < 0)
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG, "invalid batch_size %d; it must be > 0",
                            spec->batch_size);
    run->batch_size = spec->batch_size > 0 ? (size_t)spec->batch_size : ADVGNN_DEFAULT_BATCH_SIZE;
    return ADVGNN_OK;
}

/* ---- results.json -------------------------------------------------------- */

/* Returns the names of the options the user set, in declaration order.
 * `advgnn score` restores only these, because a plugin may reject an option
 * that was set explicitly even when its value equals the default. */
static cJSON *set_options_json(const advgnn_options *opts)
{
    cJSON *names = cJSON_CreateArray();
    size_t count = opts ? advgnn_options_count(opts) : 0;

    for (size_t i = 0; names && i < count; i++) {
        const char *name = advgnn_options_spec_at(opts, i)->name;
        cJSON *item;

        if (!advgnn_options_is_set(opts, name))
            continue;
        item = cJSON_CreateString(name);
        if (!item || !cJSON_AddItemToArray(names, item)) {
            cJSON_Delete(item);
            cJSON_Delete(names);
            return NULL;
        }
    }
    return names;
}

/* Replaces a relative dataset 'root' in `options` with its absolute path, so
 * that `advgnn score` finds the data from any working folder. A root that no
 * longer resolves is kept as written. Returns 0 when out of memory. */
static int absolute_root(cJSON *options)
{
    cJSON *root = cJSON_GetObjectItemCaseSensitive(options, "root");
    char *resolved;
    int ok = 1;

    if (!cJSON_IsString(root) || root->valuestring[0] == '\0' || root->valuestring[0] == '/')
        return 1;
    resolved = realpath(root->valuestring, NULL);
    if (resolved)
        ok = cJSON_ReplaceItemInObjectCaseSensitive(options, "root", cJSON_CreateString(resolved));
    free(resolved); /* realpath allocates with malloc */
    return ok;
}

static cJSON *plugin_json(const advgnn_plugin_choice *choice, const char *label)
{
    cJSON *object = cJSON_CreateObject();
    cJSON *options = advgnn_report_options_json(choice->options);
    cJSON *set = set_options_json(choice->options);

    if (options && choice->plugin->kind == ADVGNN_PLUGIN_DATASET && !absolute_root(options)) {
        cJSON_Delete(options);
        options = NULL;
    }
    if (!object || !options || !set || !cJSON_AddStringToObject(object, "name", choice->plugin->name) ||
        (label && !cJSON_AddStringToObject(object, "label", label)) ||
        (label && !cJSON_AddNumberToObject(object, "weight", choice->weight)) ||
        !cJSON_AddStringToObject(object, "version", choice->plugin->version ? choice->plugin->version : "") ||
        !cJSON_AddItemToObject(object, "options", options)) {
        /* Options are attached last, so they are still ours unless attached. */
        if (!object || !cJSON_GetObjectItemCaseSensitive(object, "options"))
            cJSON_Delete(options);
        cJSON_Delete(set);
        cJSON_Delete(object);
        return NULL;
    }
    if (!cJSON_AddItemToObject(object, "set_options", set)) {
        cJSON_Delete(set);
        cJSON_Delete(object);
        return NULL;
    }
    return object;
}

static int add_plugins_json(advgnn_run *run)
{
    const advgnn_experiment_spec *spec = run->spec;
    cJSON *plugins = cJSON_AddObjectToObject(run->results, "plugins");
    cJSON *scorers = plugins ? cJSON_AddArrayToObject(plugins, "scorers") : NULL;

    if (!scorers || !cJSON_AddItemToObject(plugins, "dataset", plugin_json(&spec->dataset, NULL)) ||
        !cJSON_AddItemToObject(plugins, "encoder", plugin_json(&spec->encoder, NULL)))
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    for (size_t s = 0; s < spec->scorer_count; s++)
        if (!cJSON_AddItemToArray(scorers, plugin_json(&spec->scorers[s], run->labels[s])))
            return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    return ADVGNN_OK;
}

static int create_results(advgnn_run *run)
{
    const advgnn_experiment_spec *spec = run->spec;
    cJSON *image;

    run->results = cJSON_CreateObject();
    if (!run->results)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (!cJSON_AddStringToObject(run->results, "experiment", spec->name ? spec->name : "") ||
        !cJSON_AddStringToObject(run->results, "advgnn_version", advgnn_version_string()) ||
        !cJSON_AddStringToObject(run->results, "status", "running") ||
        !cJSON_AddNumberToObject(run->results, "seed", (double)spec->seed) ||
        !cJSON_AddStringToObject(run->results, "output_dir", spec->output_dir) ||
        !cJSON_AddNumberToObject(run->results, "seconds", 0.0) ||
        !cJSON_AddNumberToObject(run->results, "batch_size", (double)run->batch_size) ||
        !(image = cJSON_AddObjectToObject(run->results, "image")) ||
        !cJSON_AddNumberToObject(image, "size", spec->image_size) ||
        !cJSON_AddNumberToObject(image, "crop", spec->crop_size) ||
        !cJSON_AddNumberToObject(image, "height", run->loader.height) ||
        !cJSON_AddNumberToObject(image, "width", run->loader.width))
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (add_plugins_json(run) != ADVGNN_OK)
        return ADVGNN_ERR_NOMEM;
    run->categories = cJSON_AddObjectToObject(run->results, "categories");
    if (!run->categories)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    return ADVGNN_OK;
}

static void replace_item(cJSON *object, const char *key, cJSON *item)
{
    if (cJSON_GetObjectItemCaseSensitive(object, key))
        cJSON_ReplaceItemInObjectCaseSensitive(object, key, item);
    else
        cJSON_AddItemToObject(object, key, item);
}

/* Builds "mean": for each label and metric, the mean over the categories
 * where the metric is defined. */
/* Returns the mean of `key` under metrics[label] over the categories where
 * it is a number, or NAN when none has it. */
static double mean_over_categories(const advgnn_run *run, const char *label, const char *key)
{
    double sum = 0.0;
    size_t n = 0;
    const cJSON *category;

    cJSON_ArrayForEach(category, run->categories)
    {
        const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(category, "metrics");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(metrics, label), key);
        if (cJSON_IsNumber(value)) {
            sum += value->valuedouble;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

/* Averages every metric of each label over the categories where it is
 * defined (sPRO keys included). Thresholds are left out: they are on each
 * category's own score scale. */
static cJSON *mean_json(const advgnn_run *run)
{
    cJSON *mean = cJSON_CreateObject();

    for (size_t i = 0; mean && i < advgnn_run_label_count(run); i++) {
        const char *label = advgnn_run_label(run, i);
        cJSON *entry = cJSON_AddObjectToObject(mean, label);
        const cJSON *category;

        cJSON_ArrayForEach(category, run->categories)
        {
            const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(category, "metrics");
            const cJSON *metric;
            cJSON_ArrayForEach(metric, cJSON_GetObjectItemCaseSensitive(metrics, label))
            {
                size_t len = strlen(metric->string);
                if (!entry || !cJSON_IsNumber(metric) || cJSON_GetObjectItemCaseSensitive(entry, metric->string) ||
                    (len >= 10 && strcmp(metric->string + len - 10, "_threshold") == 0))
                    continue;
                double value = mean_over_categories(run, label, metric->string);
                if (!isnan(value) && !cJSON_AddNumberToObject(entry, metric->string, value))
                    entry = NULL;
            }
        }
        if (!entry) {
            cJSON_Delete(mean);
            mean = NULL;
        }
    }
    return mean;
}

/* Updates status, error, seconds and mean, and rewrites results.json. */
static int write_results(advgnn_run *run, const char *status, const char *error)
{
    cJSON *mean = mean_json(run);
    cJSON *status_json = cJSON_CreateString(status);
    cJSON *seconds = cJSON_CreateNumber(advgnn_now_seconds() - run->start_seconds);

    if (!mean || !status_json || !seconds) {
        cJSON_Delete(mean);
        cJSON_Delete(status_json);
        cJSON_Delete(seconds);
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    }
    replace_item(run->results, "mean", mean);
    replace_item(run->results, "status", status_json);
    replace_item(run->results, "seconds", seconds);
    if (error) {
        cJSON *error_json = cJSON_CreateString(error);
        if (!error_json)
            return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
        replace_item(run->results, "error", error_json);
    }
    return advgnn_report_write_json(run->ctx, run->results_path, run->results);
}

/* ---- output folder ------------------------------------------------------- */

static int write_csv(advgnn_run *run)
{
    return advgnn_fs_write_atomic(run->ctx, run->csv_path, run->csv.data, run->csv.length);
}

static int start_csv(advgnn_run *run)
{
    advgnn_text_appendf(&run->csv, "category,name,defect_type,label");
    for (size_t i = 0; i < advgnn_run_label_count(run); i++) {
        advgnn_text_appendf(&run->csv, ",");
        advgnn_text_append_csv_field(&run->csv, advgnn_run_label(run, i));
    }
    advgnn_text_appendf(&run->csv, "\n");
    if (run->csv.failed)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    return ADVGNN_OK;
}

/* Copies the Lua script into the output folder under its own file name. */
static int copy_script(advgnn_run *run)
{
    const char *script = run->spec->script_path;
    char *data = NULL;
    size_t size = 0;
    int rc;

    if (!script || !script[0])
        return ADVGNN_OK;
    const char *slash = strrchr(script, '/');
    char *target = advgnn_fs_join(run->spec->output_dir, slash ? slash + 1 : script);
    if (!target)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    rc = advgnn_fs_read_file(run->ctx, script, SCRIPT_MAX_BYTES, &data, &size);
    if (rc == ADVGNN_OK)
        rc = advgnn_fs_write_atomic(run->ctx, target, data, size);
    if (rc != ADVGNN_OK)
        advgnn_error_prefixf(run->ctx, "copying the script into the output folder");
    advgnn_free(data);
    advgnn_free(target);
    return rc;
}

static int prepare_output(advgnn_run *run)
{
    const char *dir = run->spec->output_dir;
    int rc = advgnn_fs_mkdir_p(run->ctx, dir);

    if (rc != ADVGNN_OK)
        return rc;
    run->results_path = advgnn_fs_join(dir, "results.json");
    run->csv_path = advgnn_fs_join(dir, "scores.csv");
    if (!run->results_path || !run->csv_path)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");

    /* A second run into the same folder would mix its files with the first
     * run's and, if it failed, replace finished results with a failure. */
    if (advgnn_fs_is_file(run->results_path))
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG,
                            "output folder '%s' already contains a run (results.json); choose another output "
                            "folder or remove that one",
                            dir);
    rc = copy_script(run);
    if (rc == ADVGNN_OK)
        rc = start_csv(run);
    return rc;
}

/* ---- dataset ------------------------------------------------------------- */

static int open_dataset(advgnn_run *run)
{
    const advgnn_plugin *plugin = run->spec->dataset.plugin;
    const advgnn_dataset_functions *fn = &plugin->fn.dataset;
    int rc;

    rc = fn->open(run->ctx, run->spec->dataset.options, &run->dataset_state);
    if (rc != ADVGNN_OK) {
        advgnn_error_prefix_plugin(run->ctx, "dataset", plugin->name);
        return rc;
    }
    run->dataset_open = 1;

    rc = advgnn_sample_store_new(run->ctx, plugin->name, fn->load == NULL, &run->store);
    if (rc == ADVGNN_OK)
        rc = fn->list(run->dataset_state, run->ctx, run->store);
    if (rc == ADVGNN_OK)
        rc = advgnn_sample_store_finish(run->store, run->ctx);
    if (rc != ADVGNN_OK) {
        advgnn_error_prefixf(run->ctx, "listing dataset '%s'", plugin->name);
        return rc;
    }
    if (advgnn_sample_store_count(run->store) == 0)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOT_FOUND,
                            "dataset '%s' listed no samples; check its root folder and layout options", plugin->name);

    run->loader.fn = fn;
    run->loader.state = run->dataset_state;
    return ADVGNN_OK;
}

/* Fails with the list of the dataset's categories. */
static int unknown_category(advgnn_run *run, const char *name)
{
    advgnn_text list = {0};

    for (size_t i = 0; i < advgnn_sample_store_category_count(run->store); i++)
        advgnn_text_appendf(&list, "%s%s", i ? ", " : "", advgnn_sample_store_category(run->store, i));
    int rc = advgnn_failf(run->ctx, ADVGNN_ERR_NOT_FOUND, "dataset '%s' has no category '%s'; its categories are: %s",
                          run->spec->dataset.plugin->name, name, list.failed || !list.data ? "?" : list.data);
    advgnn_text_release(&list);
    return rc;
}

/* Resolves the categories to run: the requested ones in the requested order,
 * or all of the dataset's in byte order. */
static int choose_categories(advgnn_run *run)
{
    const advgnn_experiment_spec *spec = run->spec;
    size_t available = advgnn_sample_store_category_count(run->store);
    size_t count = spec->categories ? spec->category_count : available;

    run->category_indices = advgnn_calloc(count ? count : 1, sizeof(size_t));
    if (!run->category_indices)
        return advgnn_failf(run->ctx, ADVGNN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        if (!spec->categories) {
            run->category_indices[i] = i;
            continue;
        }
        long index = advgnn_sample_store_find_category(run->store, spec->categories[i]);
        if (index < 0)
            return unknown_category(run, spec->categories[i]);
        for (size_t j = 0; j < i; j++)
            if (run->category_indices[j] == (size_t)index)
                return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG, "category '%s' is requested twice",
                                    spec->categories[i]);
        run->category_indices[i] = (size_t)index;
    }
    run->category_count = count;
    if (count == 0)
        return advgnn_failf(run->ctx, ADVGNN_ERR_INVALID_ARG, "no category to run");
    return ADVGNN_OK;
}

/* ---- the run ------------------------------------------------------------- */

static int init_run(advgnn_run *run, advgnn_ctx *ctx, const advgnn_experiment_spec *spec)
{
    memset(run, 0, sizeof(*run));
    run->ctx = ctx;
    run->spec = spec;
    run->start_seconds = advgnn_now_seconds();
    advgnn_progress_init(&run->progress, ctx, spec->progress);

    run->loader.dataset_name = spec->dataset.plugin ? spec->dataset.plugin->name : "?";
    run->loader.pp = advgnn_run_preprocess(spec->image_size, spec->crop_size);
    advgnn_preprocess_output_size(&run->loader.pp, spec->image_size, spec->image_size, &run->loader.height,
                                  &run->loader.width);
    return ADVGNN_OK;
}

static void release_run(advgnn_run *run)
{
    if (run->dataset_open)
        run->spec->dataset.plugin->fn.dataset.close(run->dataset_state);
    advgnn_sample_store_free(run->store);
    advgnn_free(run->category_indices);
    advgnn_free(run->labels);
    advgnn_free(run->results_path);
    advgnn_free(run->csv_path);
    advgnn_text_release(&run->csv);
    cJSON_Delete(run->results);
}

static int run_categories(advgnn_run *run)
{
    for (size_t i = 0; i < run->category_count; i++) {
        advgnn_experiment_tracking_category_begin(run->tracker, run->ctx,
                                                  advgnn_sample_store_category(run->store, run->category_indices[i]));
        int rc = advgnn_run_category(run, run->category_indices[i]);
        if (rc == ADVGNN_OK)
            rc = write_csv(run);
        if (rc == ADVGNN_OK)
            rc = write_results(run, "running", NULL);
        if (rc != ADVGNN_OK)
            return rc;

        /* Tracking: the category just added is the last entry. */
        advgnn_experiment_tracking_category(run->tracker, run->ctx, run->spec,
                                            cJSON_GetArrayItem(run->categories,
                                                               cJSON_GetArraySize(run->categories) - 1),
                                            run->store, run->category_indices[i]);
    }
    return ADVGNN_OK;
}

/* After a signal, names the checkpoints folder of each unfinished category
 * that has one, since the encoder's `resume` option continues from it. */
static void suggest_resume(advgnn_run *run)
{
    for (size_t i = 0; run->store && i < run->category_count; i++) {
        const char *name = advgnn_sample_store_category(run->store, run->category_indices[i]);
        char *root = advgnn_fs_join(run->spec->output_dir, "encoder");
        char *folder = root ? advgnn_fs_join(root, name) : NULL;
        char *checkpoints = folder ? advgnn_fs_join(folder, "checkpoints") : NULL;

        if (checkpoints && !cJSON_GetObjectItemCaseSensitive(run->categories, name) &&
            advgnn_fs_is_dir(checkpoints))
            advgnn_log(run->ctx, ADVGNN_LOG_WARN,
                       "category %s: training stopped early; to continue it, run the script again with another "
                       "output and the encoder option resume = \"%s\"",
                       name, checkpoints);
        advgnn_free(root);
        advgnn_free(folder);
        advgnn_free(checkpoints);
    }
}

/* Marks the run failed in results.json, or "killed" when a signal stopped it
 * (status ADVGNN_ERR_INTERRUPTED, as MLflow's KILLED), keeping the finished
 * categories. The context's message stays the first error, the one that
 * ended the run. */
static void record_failure(advgnn_run *run, int status)
{
    const char *word = status == ADVGNN_ERR_INTERRUPTED ? "killed" : "failed";

    if (status == ADVGNN_ERR_INTERRUPTED)
        suggest_resume(run);
    if (!run->results || !run->results_path)
        return;
    if (write_results(run, word, advgnn_ctx_error(run->ctx)) != ADVGNN_OK)
        advgnn_log(run->ctx, ADVGNN_LOG_WARN, "could not mark '%s' as %s", run->results_path, word);
}

int advgnn_experiment_run(advgnn_ctx *ctx, const advgnn_experiment_spec *spec, cJSON **results)
{
    advgnn_run run;
    int rc;

    *results = NULL;
    init_run(&run, ctx, spec);
    if (spec->threads > 0)
        advgnn_ctx_set_threads(ctx, spec->threads);

    rc = check_spec(&run);
    if (rc == ADVGNN_OK)
        rc = prepare_output(&run);
    /* Archive indexes of this run's dataset are cached in its folder, so the
     * plugin's listing and the loader's reads index an archive once. */
    if (rc == ADVGNN_OK && advgnn_source_set_index_cache_dir(spec->output_dir) != ADVGNN_OK)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (rc == ADVGNN_OK)
        rc = create_results(&run);
    if (rc == ADVGNN_OK)
        rc = write_results(&run, "running", NULL);
    if (rc == ADVGNN_OK)
        rc = advgnn_experiment_tracking_open(ctx, spec, run.results, &run.tracker);
    if (rc == ADVGNN_OK)
        rc = open_dataset(&run);
    if (rc == ADVGNN_OK)
        rc = choose_categories(&run);
    if (rc == ADVGNN_OK)
        rc = run_categories(&run);
    if (rc == ADVGNN_OK)
        rc = write_results(&run, "finished", NULL);

    if (rc == ADVGNN_OK) {
        *results = run.results;
        run.results = NULL;
        advgnn_log(ctx, ADVGNN_LOG_INFO, "experiment '%s' finished; results in %s", spec->name ? spec->name : "",
                   run.results_path);
    } else {
        record_failure(&run, rc);
    }

    /* Tracking: ends the MLflow runs with the experiment's status. Its own
     * failures are logged, never returned. */
    advgnn_experiment_tracking_close(run.tracker, ctx, spec, *results ? *results : run.results, rc);
    run.tracker = NULL;
    release_run(&run);

    /* Archives opened for this run stay open no longer than the run. */
    advgnn_source_close_all();
    advgnn_source_set_index_cache_dir(NULL);
    return rc;
}

/* ---- scoring new images -------------------------------------------------- */

/* Fills samples[i] for image_paths[i]: a normal test sample named after the
 * file, so its overlay is heatmaps/<category>/<file name>.png. The strings
 * are borrowed from image_paths. */
static void describe_images(const char *category, const char *const *image_paths, size_t count,
                            advgnn_sample *samples)
{
    for (size_t i = 0; i < count; i++) {
        const char *slash = strrchr(image_paths[i], '/');
        samples[i].category = (char *)category;
        samples[i].split = ADVGNN_SPLIT_TEST;
        samples[i].defect_type = (char *)"unknown";
        samples[i].name = (char *)(slash ? slash + 1 : image_paths[i]);
        samples[i].image_path = (char *)image_paths[i];
    }
}

int advgnn_experiment_score(advgnn_ctx *ctx, const advgnn_experiment_spec *spec, const char *category,
                            const char *weights, const char *const *image_paths, size_t count, float *scores,
                            float *scorer_scores, char **scorer_labels)
{
    advgnn_sample *samples = advgnn_calloc(count ? count : 1, sizeof(*samples));
    advgnn_experiment_spec scoring = *spec;
    advgnn_run run;
    long index = 0;
    int rc;

    /* Every given image gets an overlay, and no progress bar is drawn. */
    scoring.heatmaps = -1;
    scoring.progress = 0;
    init_run(&run, ctx, &scoring);
    if (spec->threads > 0)
        advgnn_ctx_set_threads(ctx, spec->threads);

    rc = samples ? check_spec(&run) : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (rc == ADVGNN_OK && count == 0)
        rc = advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "no image to score");
    if (rc == ADVGNN_OK)
        rc = advgnn_fs_mkdir_p(ctx, scoring.output_dir);
    if (rc == ADVGNN_OK)
        rc = open_dataset(&run);
    if (rc == ADVGNN_OK && category) {
        index = advgnn_sample_store_find_category(run.store, category);
        if (index < 0)
            rc = unknown_category(&run, category);
    } else if (rc == ADVGNN_OK && advgnn_sample_store_category_count(run.store) != 1) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                          "dataset '%s' has %zu categories; name the one to score with --category",
                          spec->dataset.plugin->name, advgnn_sample_store_category_count(run.store));
    }
    if (rc == ADVGNN_OK) {
        describe_images(advgnn_sample_store_category(run.store, (size_t)index), image_paths, count, samples);
        rc = advgnn_run_category_score(&run, (size_t)index, weights, samples, count, scores, scorer_scores);
    }
    for (size_t s = 0; rc == ADVGNN_OK && scorer_labels && s < spec->scorer_count; s++) {
        scorer_labels[s] = advgnn_strdup(advgnn_run_label(&run, s));
        if (!scorer_labels[s])
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    }

    release_run(&run);
    advgnn_free(samples);
    advgnn_source_close_all();
    return rc;
}
