/* The tracker against a real MLflow server (the CTest fixture): a parent run
 * with nested runs logs params, metrics, tags, a dataset input and artifacts,
 * and everything is read back through the REST API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "mlflow_test.h"
#include "tracking/sync.h"
#include "tracking/tracker.h"

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

typedef struct fixture {
    char dir[512];
    char run_dir[600];
    char script[700];
    char results[700];
    char weights[700];
    char scores[700];
    unsigned char *weights_data;
    size_t weights_len;
} fixture;

/* Files a run produces, and a git repository around the script so that the
 * commit tag can be checked against a known value. */
static int make_files(fixture *f)
{
    char path[800];
    unsigned int seed = 7;

    if (!mt_temp_dir("advgnn-mlflow", f->dir, sizeof(f->dir)))
        return 0;
    snprintf(f->run_dir, sizeof(f->run_dir), "%s/run", f->dir);
    snprintf(path, sizeof(path), "%s/repo", f->dir);
    mkdir(f->run_dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/repo/.git", f->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/repo/.git/refs", f->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/repo/.git/refs/heads", f->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/repo/.git/HEAD", f->dir);
    mt_write_file(path, "ref: refs/heads/main\n", 21);
    snprintf(path, sizeof(path), "%s/repo/.git/refs/heads/main", f->dir);
    mt_write_file(path, COMMIT "\n", 41);

    snprintf(f->script, sizeof(f->script), "%s/repo/experiment.lua", f->dir);
    snprintf(f->results, sizeof(f->results), "%s/results.json", f->run_dir);
    snprintf(f->weights, sizeof(f->weights), "%s/model weights.safetensors", f->run_dir);
    snprintf(f->scores, sizeof(f->scores), "%s/scores.csv", f->run_dir);

    /* 3 MiB of pseudo-random bytes: larger than any single read buffer. */
    f->weights_len = 3u << 20;
    f->weights_data = malloc(f->weights_len);
    if (!f->weights_data)
        return 0;
    for (size_t i = 0; i < f->weights_len; i++)
        f->weights_data[i] = (unsigned char)(rand_r(&seed) >> 7);

    return mt_write_file(f->script, "local advgnn = require('advgnn')\n", 33) &&
           mt_write_file(f->results, "{\"mean\": {\"fused\": 0.9}}\n", 25) &&
           mt_write_file(f->scores, "image,score\na.png,0.5\n", 22) &&
           mt_write_file(f->weights, f->weights_data, f->weights_len);
}

static void log_everything(advgnn_tracker *t, fixture *f)
{
    cJSON *options = cJSON_Parse("{\"dataset\":{\"name\":\"synthetic\",\"categories\":[\"a\",\"b\"]},"
                                 "\"encoder\":{\"depth\":4,\"lr\":0.001,\"ratio\":0.1,\"bn\":true}}");
    const char *files[] = {"a/1.png", "a/2.png"};
    char digest[17];

    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, "parent run", "Synthetic test: 2 categories"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "main", "seed", "42"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_params_json(t, "main", NULL, options), ADVGNN_OK);
    for (int step = 0; step < 10; step++)
        CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "train/loss", 1.0 / (step + 1), step, 1700000000000 + step),
                     ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "nan_metric", NAN, 0, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "inf_metric", INFINITY, 0, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_set_tag(t, "main", "stage", "test"), ADVGNN_OK);
    advgnn_tracker_digest(files, 2, digest);
    CHECK_INT_EQ(advgnn_tracker_log_input(t, "main", "synthetic/a", digest, "/data/synthetic/a", "training"),
                 ADVGNN_OK);

    CHECK_INT_EQ(advgnn_tracker_start_run(t, "category/a", "main", "a", NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "category/a", "fused/image_auroc", 0.875, 0, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "category/a", f->scores, "scores"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "category/a", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);

    CHECK_INT_EQ(advgnn_tracker_start_run(t, "category/b", "main", "b", NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "category/b", ADVGNN_RUN_STATUS_FAILED, "decoder diverged"), ADVGNN_OK);

    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "main", f->script, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "main", f->results, ""), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "main", f->weights, "model"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);

    /* Misuse is reported, not journaled. */
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "nope", "k", "v"), ADVGNN_ERR_INVALID_ARG);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "bad'key", NULL, NULL, NULL), ADVGNN_ERR_INVALID_ARG);
    cJSON_Delete(options);
}

static void check_parent(const char *uri, const cJSON *main_run, fixture *f)
{
    const char *id = mt_run_id(main_run);
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(main_run, "info");
    cJSON *history;
    const cJSON *point;
    const cJSON *inputs;
    const cJSON *dataset;
    int step = 0;
    size_t len = 0;
    char *bytes;

    CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(info, "status")), "FINISHED");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(info, "end_time")));

    /* Params, flattened to dotted keys. */
    CHECK_STR_CONTAINS(mt_run_param(main_run, "seed"), "42");
    CHECK_STR_CONTAINS(mt_run_param(main_run, "dataset.name"), "synthetic");
    CHECK_STR_CONTAINS(mt_run_param(main_run, "dataset.categories.1"), "b");
    CHECK_STR_CONTAINS(mt_run_param(main_run, "encoder.depth"), "4");
    CHECK_STR_CONTAINS(mt_run_param(main_run, "encoder.lr"), "0.001");

    /* The shortest text of the double, as results.json has it. */
    CHECK_STR_EQ(mt_run_param(main_run, "encoder.ratio"), "0.1");
    CHECK_STR_CONTAINS(mt_run_param(main_run, "encoder.bn"), "true");

    /* Tags set by the tracker and by the caller. */
    CHECK_STR_CONTAINS(mt_run_tag(main_run, "mlflow.source.name"), "experiment.lua");
    CHECK_STR_CONTAINS(mt_run_tag(main_run, "mlflow.source.type"), "LOCAL");
    CHECK_STR_CONTAINS(mt_run_tag(main_run, "mlflow.source.git.commit"), COMMIT);
    CHECK_STR_CONTAINS(mt_run_tag(main_run, "mlflow.source.git.branch"), "main");
    CHECK_STR_CONTAINS(mt_run_tag(main_run, "mlflow.note.content"), "Synthetic test");
    CHECK(mt_run_tag(main_run, "mlflow.user") != NULL);
    CHECK_STR_CONTAINS(mt_run_tag(main_run, "stage"), "test");

    /* Metric history with steps and timestamps. */
    history = mt_metric_history(uri, id, "train/loss");
    CHECK_INT_EQ(cJSON_GetArraySize(history), 10);
    cJSON_ArrayForEach(point, history)
    {
        int s = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(point, "step"));

        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(point, "value")), 1.0 / (s + 1), 1e-12);
        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(point, "timestamp")), 1700000000000.0 + s, 0);
        step++;
    }
    cJSON_Delete(history);

    /* NaN comes back as the string "NaN"; the SQL store keeps +Inf as DBL_MAX. */
    history = mt_metric_history(uri, id, "nan_metric");
    CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(history, 0), "value")),
                       "NaN");
    cJSON_Delete(history);
    history = mt_metric_history(uri, id, "inf_metric");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(history, 0), "value")) > 1e308);
    cJSON_Delete(history);

    /* Dataset input. */
    inputs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(main_run, "inputs"), "dataset_inputs");
    dataset = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(inputs, 0), "dataset");
    CHECK_INT_EQ(cJSON_GetArraySize(inputs), 1);
    CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dataset, "name")), "synthetic/a");
    CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dataset, "source")), "/data/synthetic/a");
    CHECK_INT_EQ(strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dataset, "digest"))), 16);

    /* Artifacts, compared byte for byte. */
    bytes = mt_download_artifact(uri, main_run, "experiment.lua", &len);
    CHECK(bytes != NULL);
    CHECK_INT_EQ(len, 33);
    CHECK(bytes && memcmp(bytes, "local advgnn", 12) == 0);
    free(bytes);
    bytes = mt_download_artifact(uri, main_run, "results.json", &len);
    CHECK_INT_EQ(len, 25);
    CHECK_STR_CONTAINS(bytes, "\"fused\": 0.9");
    free(bytes);
    bytes = mt_download_artifact(uri, main_run, "model/model%20weights.safetensors", &len);
    CHECK_INT_EQ(len, f->weights_len);
    CHECK(bytes && len == f->weights_len);
    CHECK(bytes && len == f->weights_len && memcmp(bytes, f->weights_data, len) == 0);
    free(bytes);
}

static void check_children(const char *uri, const cJSON *runs, const char *parent_id)
{
    const cJSON *a = mt_run_named(runs, "a");
    const cJSON *b = mt_run_named(runs, "b");
    cJSON *history;
    size_t len = 0;
    char *bytes;

    CHECK(a != NULL);
    CHECK(b != NULL);
    if (!a || !b)
        return;
    CHECK_STR_CONTAINS(mt_run_tag(a, "mlflow.parentRunId"), parent_id);
    CHECK_STR_CONTAINS(mt_run_tag(b, "mlflow.parentRunId"), parent_id);
    CHECK_STR_CONTAINS(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "info"), "status")),
        "FINISHED");
    CHECK_STR_CONTAINS(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "info"), "status")),
        "FAILED");
    CHECK_STR_CONTAINS(mt_run_tag(b, "advgnn.error"), "decoder diverged");

    history = mt_metric_history(uri, mt_run_id(a), "fused/image_auroc");
    CHECK_INT_EQ(cJSON_GetArraySize(history), 1);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(history, 0), "value")), 0.875,
               0);
    cJSON_Delete(history);

    bytes = mt_download_artifact(uri, a, "scores/scores.csv", &len);
    CHECK_INT_EQ(len, 22);
    CHECK_STR_CONTAINS(bytes, "image,score");
    free(bytes);
}

/* A run left open when the process is interrupted ends as KILLED. */
static void check_killed(advgnn_ctx *ctx, const char *uri, const char *experiment, const char *dir)
{
    char run_dir[700];
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_tracker *t = NULL;
    char *experiment_id;
    cJSON *runs;
    const cJSON *run;

    snprintf(run_dir, sizeof(run_dir), "%s/killed", dir);
    config.uri = uri;
    config.experiment = experiment;
    config.run_dir = run_dir;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, "interrupted", NULL), ADVGNN_OK);
    advgnn_set_interrupted(1);
    CHECK_INT_EQ(advgnn_tracker_close(t, 30000, &summary), ADVGNN_OK);
    advgnn_set_interrupted(0);
    CHECK_INT_EQ(summary.pending, 0);

    experiment_id = mt_experiment_id(uri, experiment);
    runs = experiment_id ? mt_search_runs(uri, experiment_id) : NULL;
    run = mt_run_named(runs, "interrupted");
    CHECK(run != NULL);
    CHECK_STR_CONTAINS(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "info"), "status")),
        "KILLED");
    CHECK_STR_CONTAINS(mt_run_tag(run, "advgnn.error"), "interrupted");
    cJSON_Delete(runs);
    free(experiment_id);
}

/* Without a tracking URI the journal is the record; advgnn sync pushes it
 * later, and a second sync sends nothing. */
static void check_offline_sync(advgnn_ctx *ctx, const char *uri, const char *experiment, const char *dir)
{
    char run_dir[700];
    char artifact[800];
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_sync_summary synced;
    advgnn_tracker *t = NULL;
    char *experiment_id;
    cJSON *runs;
    cJSON *history;
    const cJSON *run;
    size_t len = 0;
    char *bytes;

    snprintf(run_dir, sizeof(run_dir), "%s/offline", dir);
    snprintf(artifact, sizeof(artifact), "%s/curve.svg", run_dir);
    mkdir(run_dir, 0755);
    CHECK(mt_write_file(artifact, "<svg/>", 6));
    unsetenv("MLFLOW_TRACKING_URI");
    config.experiment = experiment;
    config.run_dir = run_dir;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, "offline", NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "main", "threads", "2"), ADVGNN_OK);
    for (int step = 0; step < 5; step++)
        CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "loss", step, step, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "main", artifact, "curves"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_INT_EQ(summary.sent, 0);

    CHECK_INT_EQ(advgnn_tracking_sync(ctx, run_dir, uri, &synced), ADVGNN_OK);
    CHECK_INT_EQ(synced.records, summary.journaled - 1);
    CHECK_INT_EQ(synced.sent, synced.records);
    CHECK_INT_EQ(synced.pending, 0);
    CHECK_INT_EQ(advgnn_tracking_sync(ctx, run_dir, uri, &synced), ADVGNN_OK);
    CHECK_INT_EQ(synced.sent, 0);

    experiment_id = mt_experiment_id(uri, experiment);
    runs = experiment_id ? mt_search_runs(uri, experiment_id) : NULL;
    run = mt_run_named(runs, "offline");
    CHECK(run != NULL);
    CHECK_STR_CONTAINS(mt_run_param(run, "threads"), "2");
    history = run ? mt_metric_history(uri, mt_run_id(run), "loss") : NULL;
    CHECK_INT_EQ(cJSON_GetArraySize(history), 5);
    bytes = run ? mt_download_artifact(uri, run, "curves/curve.svg", &len) : NULL;
    CHECK_INT_EQ(len, 6);
    CHECK_STR_CONTAINS(bytes, "<svg/>");
    free(bytes);
    cJSON_Delete(history);
    cJSON_Delete(runs);
    free(experiment_id);
}

/* Checks that an artifact deleted before sync fails locally, not on the
 * server. The log reports that it cannot be sent instead of blaming the
 * server, and the record is counted as failed. */
static void check_missing_artifact_sync(const char *uri, const char *experiment, const char *dir)
{
    char run_dir[700];
    char artifact[800];
    advgnn_ctx *ctx = advgnn_ctx_new();
    mt_log log = {0};
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_sync_summary synced;
    advgnn_tracker *t = NULL;

    advgnn_ctx_set_log_sink(ctx, mt_log_sink, &log);
    snprintf(run_dir, sizeof(run_dir), "%s/missing-artifact", dir);
    snprintf(artifact, sizeof(artifact), "%s/gone.svg", run_dir);
    mkdir(run_dir, 0755);
    CHECK(mt_write_file(artifact, "<svg/>", 6));
    unsetenv("MLFLOW_TRACKING_URI");
    config.experiment = experiment;
    config.run_dir = run_dir;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, "missing artifact", NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_artifact(t, "main", artifact, "curves"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, &summary), ADVGNN_OK);
    CHECK_INT_EQ(remove(artifact), 0);

    CHECK_INT_EQ(advgnn_tracking_sync(ctx, run_dir, uri, &synced), ADVGNN_OK);
    CHECK_INT_EQ(synced.failed, 1);
    CHECK_INT_EQ(synced.pending, 0);
    CHECK_STR_CONTAINS(log.text, "tracking: cannot send artifact");
    CHECK_STR_CONTAINS(log.text, "gone.svg is missing");
    CHECK(log.text && !strstr(log.text, "MLflow server rejected"));

    advgnn_ctx_free(ctx);
    mt_log_free(&log);
}

int main(void)
{
    if (mt_mlflow_missing())
        return MT_SKIP;

    const char *uri = mt_fixture_uri();
    static const char *const experiment_tags[] = {"project", "advgnn", NULL};
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_tracker *t = NULL;
    fixture f = {0};
    char experiment[64];
    char suffix[9];
    char path[800];
    char *experiment_id;
    cJSON *runs;
    cJSON *experiment_json;
    const cJSON *main_run;

    CHECK(uri != NULL);
    CHECK(make_files(&f));
    if (!uri || check_failures)
        return CHECK_DONE();
    mt_random_suffix(suffix);
    snprintf(experiment, sizeof(experiment), "advgnn-test-%s", suffix);

    config.uri = uri;
    config.experiment = experiment;
    config.run_dir = f.run_dir;
    config.script_path = f.script;
    config.experiment_tags = experiment_tags;
    CHECK_INT_EQ(advgnn_tracker_open(ctx, &config, &t), ADVGNN_OK);
    if (!t) {
        fprintf(stderr, "advgnn_tracker_open: %s\n", advgnn_ctx_error(ctx));
        return CHECK_DONE();
    }
    log_everything(t, &f);
    CHECK_INT_EQ(advgnn_tracker_close(t, 60000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_INT_EQ(summary.failed, 0);
    CHECK_INT_EQ(summary.sent, summary.journaled - 1);

    /* The journal contains every record plus the header. */
    snprintf(path, sizeof(path), "%s/tracking/journal.jsonl", f.run_dir);
    CHECK_INT_EQ(mt_count_lines(path), (long)summary.journaled);

    /* Experiment with its tag, three runs. */
    experiment_id = mt_experiment_id(uri, experiment);
    CHECK(experiment_id != NULL);
    snprintf(path, sizeof(path), "/api/2.0/mlflow/experiments/get?experiment_id=%s", experiment_id ? experiment_id : "");
    experiment_json = mt_api_get(uri, path);
    CHECK(experiment_json != NULL);
    {
        char *text = cJSON_PrintUnformatted(experiment_json);

        CHECK_STR_CONTAINS(text, "\"key\":\"project\",\"value\":\"advgnn\"");
        free(text);
    }
    cJSON_Delete(experiment_json);

    runs = experiment_id ? mt_search_runs(uri, experiment_id) : NULL;
    CHECK_INT_EQ(cJSON_GetArraySize(runs), 3);
    main_run = mt_run_named(runs, "parent run");
    CHECK(main_run != NULL);
    if (main_run) {
        check_parent(uri, main_run, &f);
        check_children(uri, runs, mt_run_id(main_run));
    }
    cJSON_Delete(runs);

    check_killed(ctx, uri, experiment, f.dir);
    check_offline_sync(ctx, uri, experiment, f.dir);
    check_missing_artifact_sync(uri, experiment, f.dir);

    free(experiment_id);
    free(f.weights_data);
    advgnn_ctx_free(ctx);
    if (!check_failures)
        mt_remove_tree(f.dir);
    return CHECK_DONE();
}
