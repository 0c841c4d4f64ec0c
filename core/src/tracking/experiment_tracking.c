/* Tracking of one experiment run: parent run, nested runs per category. */
#include "tracking/experiment_tracking.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/version.h"
#include "tracking/delivery.h"
#include "tracking/journal.h"
#include "util/fsutil.h"

#define PARENT_KEY "experiment"

/* ---- error handling ------------------------------------------------------------- */

/* Tracking must not fail a healthy experiment: a failure of a tracker call is
 * logged and the context's error cleared, unless the experiment had already
 * failed (then its error stays the one reported). */
static void warn_if_failed(advgnn_ctx *ctx, int had_error, int rc)
{
    if (rc == ADVGNN_OK || had_error)
        return;
    advgnn_log(ctx, ADVGNN_LOG_WARN, "tracking: %s", advgnn_ctx_error(ctx));
    advgnn_ctx_clear_error(ctx);
}

static int has_error(const advgnn_ctx *ctx)
{
    return advgnn_ctx_error_status(ctx) != ADVGNN_OK;
}

/* ---- helpers ------------------------------------------------------------------------ */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* Writes the run key of a category: "category/" and the name with every
 * character outside the run-key set replaced by '_'. */
static void category_key(const char *name, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "category/%s", name);

    if (n >= size)
        n = size - 1;
    for (size_t i = strlen("category/"); i < n; i++)
        if (!strchr(TRK_RUN_KEY_CHARS, out[i]))
            out[i] = '_';
}

/* Uploads the regular files of `dir` (if it exists) whose names end with one
 * of `extensions` (NULL-terminated; NULL = all) into `artifact_dir`, and its
 * subfolders except the one named `skip` (NULL: none) into subfolders. */
static int log_folder(advgnn_tracker *t, advgnn_ctx *ctx, const char *run_key, const char *dir,
                      const char *const *extensions, const char *artifact_dir, const char *skip)
{
    char **names = NULL;
    size_t count = 0;
    int rc;

    if (!advgnn_fs_is_dir(dir))
        return ADVGNN_OK;
    rc = advgnn_fs_list_dir(ctx, dir, extensions, &names, &count);
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        char *path = advgnn_fs_join(dir, names[i]);

        if (!path)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing %s", dir);
        else if (advgnn_fs_is_file(path))
            rc = advgnn_tracker_log_artifact(t, run_key, path, artifact_dir);
        advgnn_free(path);
    }
    advgnn_fs_free_list(names, count);
    if (rc != ADVGNN_OK)
        return rc;

    /* Heatmaps keep the folders of their sample names (defect types), so
     * subfolders become artifact subfolders. */
    rc = advgnn_fs_list_subdirs(ctx, dir, &names, &count);
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        char *path;
        char *sub;

        if (skip && strcmp(names[i], skip) == 0)
            continue;
        path = advgnn_fs_join(dir, names[i]);
        sub = advgnn_fs_join(artifact_dir, names[i]);
        if (!path || !sub)
            rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing %s", dir);
        else
            rc = log_folder(t, ctx, run_key, path, extensions, sub, NULL);
        advgnn_free(path);
        advgnn_free(sub);
    }
    advgnn_fs_free_list(names, count);
    return rc;
}

/* Logs every number of a two-level object {label: {metric: value}} as
 * "<prefix><label>/<metric>". */
static int log_metric_table(advgnn_tracker *t, const char *run_key, const char *prefix, const cJSON *table)
{
    const cJSON *label;
    const cJSON *metric;
    char key[512];
    int rc = ADVGNN_OK;

    cJSON_ArrayForEach(label, table)
    {
        cJSON_ArrayForEach(metric, label)
        {
            if (!cJSON_IsNumber(metric) || rc != ADVGNN_OK)
                continue;
            snprintf(key, sizeof(key), "%s%s/%s", prefix, label->string, metric->string);
            rc = advgnn_tracker_log_metric(t, run_key, key, metric->valuedouble, 0, 0);
        }
    }
    return rc;
}

/* ---- open ----------------------------------------------------------------------------- */

/* One line for mlflow.note.content: what ran, on what. */
static void write_note(const advgnn_experiment_spec *spec, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "advgnn %s: dataset %s, encoder %s, scorers", ADVGNN_VERSION_STRING,
                                spec->dataset.plugin ? spec->dataset.plugin->name : "?",
                                spec->encoder.plugin ? spec->encoder.plugin->name : "?");

    for (size_t i = 0; i < spec->scorer_count && n < size; i++) {
        const advgnn_plugin_choice *s = &spec->scorers[i];

        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? " + " : " ",
                              s->label ? s->label : (s->plugin ? s->plugin->name : "?"));
    }
    if (n < size)
        snprintf(out + n, size - n, "; image %d px, seed %" PRIu64 ", output %s", spec->image_size, spec->seed,
                 spec->output_dir);
}

/* Logs the dataset as a run input. Its digest covers the plugin name and its
 * resolved options. NOTE: the digest does not cover the image files, so a
 * dataset folder changed in place keeps its digest. */
static int log_dataset(advgnn_tracker *t, const advgnn_experiment_spec *spec, const cJSON *dataset_json)
{
    static const char *const source_options[] = {"root", "path", "dir", "folder", "archive"};
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(dataset_json, "options");
    const char *name = spec->dataset.plugin ? spec->dataset.plugin->name : "dataset";
    const char *source = name;
    char *printed = cJSON_PrintUnformatted(options);
    const char *items[2] = {name, printed ? printed : ""};
    char digest[17];
    int rc;

    for (size_t i = 0; i < ADVGNN_ARRAY_LEN(source_options); i++) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(options, source_options[i]);

        if (cJSON_IsString(value) && value->valuestring[0]) {
            source = value->valuestring;
            break;
        }
    }
    advgnn_tracker_digest(items, 2, digest);
    rc = advgnn_tracker_log_input(t, PARENT_KEY, name, digest, source, "training");
    free(printed);
    return rc;
}

static int log_parent_params(advgnn_tracker *t, advgnn_ctx *ctx, const advgnn_experiment_spec *spec,
                             const cJSON *results)
{
    const cJSON *plugins = cJSON_GetObjectItemCaseSensitive(results, "plugins");
    char number[32];
    int rc;

    rc = plugins ? advgnn_tracker_log_params_json(t, PARENT_KEY, NULL, plugins) : ADVGNN_OK;
    snprintf(number, sizeof(number), "%" PRIu64, spec->seed);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, PARENT_KEY, "seed", number);
    snprintf(number, sizeof(number), "%d", spec->image_size);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, PARENT_KEY, "image.size", number);
    snprintf(number, sizeof(number), "%d", spec->crop_size);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, PARENT_KEY, "image.crop", number);
    snprintf(number, sizeof(number), "%d", spec->batch_size);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, PARENT_KEY, "batch_size", number);
    snprintf(number, sizeof(number), "%d", advgnn_ctx_threads(ctx));
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, PARENT_KEY, "threads", number);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, PARENT_KEY, "advgnn.version", ADVGNN_VERSION_STRING);
    if (rc == ADVGNN_OK && plugins)
        rc = log_dataset(t, spec, cJSON_GetObjectItemCaseSensitive(plugins, "dataset"));
    return rc;
}

int advgnn_experiment_tracking_open(advgnn_ctx *ctx, const advgnn_experiment_spec *spec, const cJSON *results,
                                    advgnn_tracker **out)
{
    static const char *const experiment_tags[] = {"advgnn.version", ADVGNN_VERSION_STRING, NULL};
    advgnn_tracker_config config = {0};
    advgnn_tracker *t = NULL;
    char note[1024];
    int rc;

    *out = NULL;
    config.uri = spec->tracking_uri;
    config.experiment = spec->tracking_experiment ? spec->tracking_experiment : (spec->name ? spec->name : NULL);
    config.run_dir = spec->output_dir;
    config.script_path = spec->script_path;
    config.experiment_tags = experiment_tags;
    rc = advgnn_tracker_open(ctx, &config, &t);
    if (rc != ADVGNN_OK) {
        advgnn_error_prefixf(ctx, "tracking");
        return rc;
    }

    /* From here on a failure is logged and the experiment goes on. */
    write_note(spec, note, sizeof(note));
    rc = advgnn_tracker_start_run(t, PARENT_KEY, NULL, base_name(spec->output_dir), note);
    if (rc == ADVGNN_OK)
        rc = log_parent_params(t, ctx, spec, results);
    warn_if_failed(ctx, 0, rc);
    *out = t;
    return ADVGNN_OK;
}

/* ---- categories ------------------------------------------------------------------------- */

/* Uploads <output_dir>/<folder>[/<sub>] into `artifact_dir` of the run. */
static int log_category_folder(advgnn_tracker *t, advgnn_ctx *ctx, const advgnn_experiment_spec *spec,
                               const char *key, const char *folder, const char *sub,
                               const char *const *extensions, const char *artifact_dir)
{
    char *top = advgnn_fs_join(spec->output_dir, folder);
    char *path = top && sub ? advgnn_fs_join(top, sub) : NULL;
    int rc;

    if (!top || (sub && !path))
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory listing the outputs of %s", key);
    else
        rc = log_folder(t, ctx, key, sub ? path : top, extensions, artifact_dir, NULL);
    advgnn_free(path);
    advgnn_free(top);
    return rc;
}

/* Logs the per-epoch history that the training loop writes beside the
 * weights (<output>/encoder/<category>/train_history.json, see
 * advgnn_train_history_save): train/loss, val/loss, train/lr and
 * train/epoch_seconds with the epoch as step. Timestamps are the time of
 * logging, not of the epoch. NOTE: per-step losses are not available to the
 * runner; only the per-epoch values of this file are tracked. */
static int log_train_history(advgnn_tracker *t, advgnn_ctx *ctx, const advgnn_experiment_spec *spec,
                             const char *key, const char *name)
{
    static const struct {
        const char *field;
        const char *metric;
    } series[] = {{"train_loss", "train/loss"}, {"val_loss", "val/loss"}, {"lr", "train/lr"},
                  {"seconds", "train/epoch_seconds"}};
    char *encoder = advgnn_fs_join(spec->output_dir, "encoder");
    char *folder = encoder ? advgnn_fs_join(encoder, name) : NULL;
    char *path = folder ? advgnn_fs_join(folder, "train_history.json") : NULL;
    char *text = NULL;
    size_t size = 0;
    cJSON *history = NULL;
    const cJSON *epoch;
    int rc = ADVGNN_OK;

    if (!path)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading the training history of %s", name);
    else if (advgnn_fs_is_file(path))
        rc = advgnn_fs_read_file(ctx, path, 64u << 20, &text, &size);
    if (rc == ADVGNN_OK && text) {
        history = cJSON_ParseWithLength(text, size);
        if (!history)
            advgnn_log(ctx, ADVGNN_LOG_WARN, "tracking: %s is not valid JSON; its losses are not tracked", path);
    }

    cJSON_ArrayForEach(epoch, cJSON_GetObjectItemCaseSensitive(history, "epochs"))
    {
        const cJSON *number = cJSON_GetObjectItemCaseSensitive(epoch, "epoch");

        for (size_t i = 0; rc == ADVGNN_OK && cJSON_IsNumber(number) && i < ADVGNN_ARRAY_LEN(series); i++) {
            const cJSON *value = cJSON_GetObjectItemCaseSensitive(epoch, series[i].field);

            if (cJSON_IsNumber(value))
                rc = advgnn_tracker_log_metric(t, key, series[i].metric, value->valuedouble,
                                               (int64_t)number->valuedouble, 0);
        }
    }
    if (rc == ADVGNN_OK && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(history, "best_epoch"))) {
        char best[32];

        snprintf(best, sizeof(best), "%d", cJSON_GetObjectItemCaseSensitive(history, "best_epoch")->valueint);
        rc = advgnn_tracker_log_param(t, key, "train.best_epoch", best);
    }

    cJSON_Delete(history);
    advgnn_free(text);
    advgnn_free(path);
    advgnn_free(folder);
    advgnn_free(encoder);
    return rc;
}

/* Logs the category's samples as a dataset input of its run: the digest
 * covers the split, name, image path and mask path of every sample in the
 * store's stable order, so a changed file list changes it. */
static int log_category_input(advgnn_tracker *t, const advgnn_experiment_spec *spec, const char *key,
                              const char *name, const advgnn_sample_store *store, size_t category_index)
{
    static const advgnn_split splits[] = {ADVGNN_SPLIT_TRAIN, ADVGNN_SPLIT_VALIDATION, ADVGNN_SPLIT_TEST};
    const char *dataset = spec->dataset.plugin ? spec->dataset.plugin->name : "dataset";
    const char *source = NULL;
    uint64_t hash = TRK_FNV_OFFSET;
    char digest[17];
    char input_name[512];
    char source_dir[1024];

    for (size_t s = 0; s < ADVGNN_ARRAY_LEN(splits); s++) {
        const advgnn_sample *samples = NULL;
        size_t count = 0;

        advgnn_sample_store_split(store, category_index, splits[s], &samples, &count);
        for (size_t i = 0; i < count; i++) {
            const char *fields[3] = {samples[i].name, samples[i].image_path, samples[i].mask_path};

            hash = trk_fnv1a(hash, &splits[s], sizeof(splits[s]));
            for (size_t f = 0; f < 3; f++)
                hash = trk_fnv1a(hash, fields[f] ? fields[f] : "", fields[f] ? strlen(fields[f]) + 1 : 1);
            if (!source && samples[i].image_path)
                source = samples[i].image_path;
        }
    }
    snprintf(digest, sizeof(digest), "%016" PRIx64, hash);
    snprintf(input_name, sizeof(input_name), "%s/%s", dataset, name);

    /* The source is the folder of the first image file, or the dataset's name
     * when the plugin renders its images (no files). */
    if (source) {
        const char *slash = strrchr(source, '/');

        snprintf(source_dir, sizeof(source_dir), "%.*s", slash ? (int)(slash - source) : (int)strlen(source),
                 source);
        source = source_dir;
    }
    return advgnn_tracker_log_input(t, key, input_name, digest, source ? source : dataset, "training");
}

static int log_category(advgnn_tracker *t, advgnn_ctx *ctx, const advgnn_experiment_spec *spec,
                        const cJSON *category, const char *key, const advgnn_sample_store *store,
                        size_t category_index)
{
    const char *name = category->string;
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(category, "counts");
    const cJSON *timings = cJSON_GetObjectItemCaseSensitive(category, "timings");
    const cJSON *undefined = cJSON_GetObjectItemCaseSensitive(category, "undefined");
    static const char *const weights[] = {".safetensors", ".json", NULL};
    const cJSON *item;
    char tag[512];
    int rc;

    rc = advgnn_tracker_start_run(t, key, PARENT_KEY, name, NULL);
    if (rc == ADVGNN_OK && counts)
        rc = advgnn_tracker_log_params_json(t, key, "counts", counts);
    cJSON_ArrayForEach(item, timings)
    {
        if (rc == ADVGNN_OK && cJSON_IsNumber(item)) {
            snprintf(tag, sizeof(tag), "timings/%s", item->string);
            rc = advgnn_tracker_log_metric(t, key, tag, item->valuedouble, 0, 0);
        }
    }
    if (rc == ADVGNN_OK)
        rc = log_metric_table(t, key, "", cJSON_GetObjectItemCaseSensitive(category, "metrics"));
    if (rc == ADVGNN_OK)
        rc = log_train_history(t, ctx, spec, key, name);
    cJSON_ArrayForEach(item, undefined)
    {
        if (rc == ADVGNN_OK && cJSON_IsString(item)) {
            snprintf(tag, sizeof(tag), "undefined.%s", item->string);
            rc = advgnn_tracker_set_tag(t, key, tag, item->valuestring);
        }
    }

    /* Heatmaps, the trained weights with their history, and whatever the
     * runner writes into a folder named after the category (curves,
     * reconstructions). */
    if (rc == ADVGNN_OK)
        rc = log_category_folder(t, ctx, spec, key, "heatmaps", name, NULL, "heatmaps");
    if (rc == ADVGNN_OK)
        rc = log_category_folder(t, ctx, spec, key, "curves", name, NULL, "curves");
    if (rc == ADVGNN_OK)
        rc = log_category_folder(t, ctx, spec, key, "reconstructions", name, NULL, "reconstructions");
    if (rc == ADVGNN_OK)
        rc = log_category_folder(t, ctx, spec, key, "encoder", name, weights, "encoder");
    if (rc == ADVGNN_OK)
        rc = log_category_folder(t, ctx, spec, key, name, NULL, NULL, "");

    if (rc == ADVGNN_OK && store)
        rc = log_category_input(t, spec, key, name, store, category_index);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_end_run(t, key, ADVGNN_RUN_STATUS_FINISHED, NULL);
    return rc;
}

void advgnn_experiment_tracking_category_begin(advgnn_tracker *tracker, advgnn_ctx *ctx, const char *name)
{
    int had_error = has_error(ctx);
    char key[256];
    int rc;

    if (!tracker || !name)
        return;
    category_key(name, key, sizeof(key));
    rc = advgnn_tracker_start_run(tracker, key, PARENT_KEY, name, NULL);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_set_metric_run(tracker, key);
    if (rc == ADVGNN_OK)
        advgnn_ctx_set_metric_sink(ctx, advgnn_tracker_metric_sink, tracker);
    warn_if_failed(ctx, had_error, rc);
}

void advgnn_experiment_tracking_category(advgnn_tracker *tracker, advgnn_ctx *ctx,
                                         const advgnn_experiment_spec *spec, const cJSON *category,
                                         const advgnn_sample_store *store, size_t category_index)
{
    int had_error = has_error(ctx);
    char key[256];
    int rc;

    if (!tracker || !category || !category->string)
        return;

    /* Training is over: stop routing metric values to this category. */
    advgnn_ctx_set_metric_sink(ctx, NULL, NULL);
    advgnn_tracker_set_metric_run(tracker, NULL);
    category_key(category->string, key, sizeof(key));
    rc = log_category(tracker, ctx, spec, category, key, store, category_index);
    warn_if_failed(ctx, had_error, rc);
}

/* ---- close ---------------------------------------------------------------------------------- */

void advgnn_experiment_tracking_close(advgnn_tracker *tracker, advgnn_ctx *ctx, const advgnn_experiment_spec *spec,
                                      const cJSON *results, int status)
{
    const cJSON *seconds = cJSON_GetObjectItemCaseSensitive(results, "seconds");
    int had_error = has_error(ctx);
    advgnn_run_status run_status = ADVGNN_RUN_STATUS_FINISHED;
    char *error = NULL;
    int rc;

    if (!tracker)
        return;
    advgnn_ctx_set_metric_sink(ctx, NULL, NULL);
    if (status == ADVGNN_ERR_INTERRUPTED || advgnn_interrupted())
        run_status = ADVGNN_RUN_STATUS_KILLED;
    else if (status != ADVGNN_OK)
        run_status = ADVGNN_RUN_STATUS_FAILED;
    if (run_status != ADVGNN_RUN_STATUS_FINISHED)
        error = advgnn_strdup(advgnn_ctx_error(ctx)[0] ? advgnn_ctx_error(ctx) : advgnn_status_name(status));

    rc = log_metric_table(tracker, PARENT_KEY, "mean/", cJSON_GetObjectItemCaseSensitive(results, "mean"));
    if (rc == ADVGNN_OK && cJSON_IsNumber(seconds))
        rc = advgnn_tracker_log_metric(tracker, PARENT_KEY, "seconds", seconds->valuedouble, 0, 0);
    /* The journal and acknowledgement logs in tracking/ are still being
     * written while this upload is delivered, so a copy would be cut short.
     * They stay local, where `advgnn sync` reads them. */
    if (rc == ADVGNN_OK)
        rc = log_folder(tracker, ctx, PARENT_KEY, spec->output_dir, NULL, "", TRK_FOLDER);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_end_open_runs(tracker, run_status, error);
    warn_if_failed(ctx, had_error, rc);

    rc = advgnn_tracker_close(tracker, ADVGNN_EXPERIMENT_TRACKING_WAIT_MS, NULL);
    warn_if_failed(ctx, had_error, rc);
    advgnn_free(error);
}
