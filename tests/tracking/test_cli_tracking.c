/* End to end: `advgnn run` of a small synthetic experiment (cnn_ae trained
 * for 3 epochs) with advgnn.track{} reports to the fixture's MLflow server:
 * parent and nested run, params, metrics, per-epoch losses, artifacts and
 * weights. `advgnn sync` on the run folder afterwards sends nothing more.
 * Uses the built CLI and plugins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlflow_test.h"

static const char script_text[] =
    "advgnn.track{uri = advgnn.args.uri, experiment = advgnn.args.experiment}\n"
    "local experiment = advgnn.experiment({\n"
    "    name = 'tracked',\n"
    "    dataset = advgnn.dataset('synthetic', {kinds = {'checker'}, image_size = 32, train_count = 8,\n"
    "                                            validation_count = 4, test_normal_count = 4,\n"
    "                                            test_anomalous_count = 4, seed = 1}),\n"
    "    encoder = advgnn.encoder('cnn_ae', {widths = {8, 8}, feature_stages = {1, 2}, epochs = 3,\n"
    "                                        batch_size = 4}),\n"
    "    scorers = {advgnn.scorer('memory_bank')},\n"
    "    image_size = 32,\n"
    "    heatmaps = 2,\n"
    "    output = advgnn.args.out,\n"
    "})\n"
    "experiment:run()\n";

/* Runs a shell command and returns its output (free()), or NULL. *status
 * receives the exit status. */
static char *run_command(const char *command, int *status)
{
    FILE *out = popen(command, "r");
    char *text = calloc(1, 65536);
    size_t len = 0;
    size_t n;

    if (!out || !text) {
        free(text);
        if (out)
            pclose(out);
        return NULL;
    }
    while (len < 65535 && (n = fread(text + len, 1, 65535 - len, out)) > 0)
        len += n;
    *status = pclose(out);
    return text;
}

static int count_artifacts(const char *uri, const char *run_id, const char *path)
{
    char request[1024];
    cJSON *json;
    int count;

    snprintf(request, sizeof(request), "/api/2.0/mlflow/artifacts/list?run_id=%s&path=%s", run_id, path);
    json = mt_api_get(uri, request);
    count = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(json, "files"));
    cJSON_Delete(json);
    return count;
}

int main(void)
{
    if (mt_mlflow_missing())
        return MT_SKIP;

    const char *uri = mt_fixture_uri();
    char dir[512];
    char script[700];
    char out[700];
    char command[4096];
    char experiment[64];
    char suffix[9];
    char *experiment_id;
    char *output;
    cJSON *runs;
    const cJSON *parent;
    const cJSON *child;
    cJSON *history;
    size_t len = 0;
    size_t local_len = 0;
    char *bytes;
    char *local;
    int status = -1;

    CHECK(uri != NULL);
    CHECK(mt_temp_dir("advgnn-cli-tracking", dir, sizeof(dir)));
    if (check_failures)
        return CHECK_DONE();
    mt_random_suffix(suffix);
    snprintf(experiment, sizeof(experiment), "advgnn-cli-%s", suffix);
    snprintf(script, sizeof(script), "%s/tracked.lua", dir);
    snprintf(out, sizeof(out), "%s/run", dir);
    CHECK(mt_write_file(script, script_text, strlen(script_text)));

    snprintf(command, sizeof(command),
             "env -u MLFLOW_TRACKING_URI '%s/advgnn' run --quiet --no-progress '%s' uri=%s experiment=%s out='%s' 2>&1",
             ADVGNN_BINARY_DIR, script, uri, experiment, out);
    output = run_command(command, &status);
    CHECK_INT_EQ(status, 0);
    if (status != 0)
        fprintf(stderr, "%s\n%s\n", command, output ? output : "");
    free(output);

    /* The parent run and the nested category run. */
    experiment_id = mt_experiment_id(uri, experiment);
    CHECK(experiment_id != NULL);
    runs = experiment_id ? mt_search_runs(uri, experiment_id) : NULL;
    CHECK_INT_EQ(cJSON_GetArraySize(runs), 2);
    parent = mt_run_named(runs, "run");
    child = mt_run_named(runs, "checker");
    CHECK(parent != NULL);
    CHECK(child != NULL);
    if (parent && child) {
        CHECK_STR_CONTAINS(mt_run_tag(child, "mlflow.parentRunId"), mt_run_id(parent));
        CHECK_STR_CONTAINS(mt_run_param(parent, "dataset.name"), "synthetic");
        CHECK_STR_CONTAINS(mt_run_param(parent, "dataset.options.train_count"), "8");
        CHECK_STR_CONTAINS(mt_run_param(parent, "image.size"), "32");
        CHECK_STR_CONTAINS(mt_run_param(parent, "encoder.options.epochs"), "3");
        CHECK_STR_CONTAINS(mt_run_param(parent, "scorers.0.name"), "memory_bank");
        CHECK(mt_run_param(parent, "seed") != NULL);
        CHECK(mt_run_param(parent, "threads") != NULL);
        CHECK(mt_run_param(parent, "advgnn.version") != NULL);
        CHECK_STR_CONTAINS(mt_run_tag(parent, "mlflow.source.name"), "tracked.lua");
        CHECK_STR_CONTAINS(mt_run_tag(parent, "mlflow.note.content"), "dataset synthetic");
        CHECK_STR_CONTAINS(mt_run_param(child, "counts.train"), "8");
        {
            const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(child, "inputs"),
                                                                   "dataset_inputs");
            const cJSON *dataset = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(inputs, 0), "dataset");

            CHECK_INT_EQ(cJSON_GetArraySize(inputs), 1);
            CHECK_STR_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dataset, "name")),
                               "synthetic/checker");
            CHECK_INT_EQ(strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dataset, "digest"))
                                    ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(dataset, "digest"))
                                    : ""),
                         16);
        }

        history = mt_metric_history(uri, mt_run_id(child), "memory_bank/image_auroc");
        CHECK_INT_EQ(cJSON_GetArraySize(history), 1);
        cJSON_Delete(history);
        history = mt_metric_history(uri, mt_run_id(parent), "mean/memory_bank/image_auroc");
        CHECK_INT_EQ(cJSON_GetArraySize(history), 1);
        cJSON_Delete(history);

        bytes = mt_download_artifact(uri, parent, "results.json", &len);
        CHECK_STR_CONTAINS(bytes, "\"checker\"");
        free(bytes);
        bytes = mt_download_artifact(uri, parent, "tracked.lua", &len);
        CHECK_INT_EQ(len, strlen(script_text));
        free(bytes);
        CHECK(count_artifacts(uri, mt_run_id(child), "heatmaps") + count_artifacts(uri, mt_run_id(child), "heatmaps/good") >= 1);

        /* The parent gets the run folder with the categories' heatmaps and
         * curves, but not tracking/, whose journal grows during the upload. */
        CHECK(count_artifacts(uri, mt_run_id(parent), "curves/checker") >= 3);
        CHECK(count_artifacts(uri, mt_run_id(parent), "heatmaps") >= 1);
        CHECK_INT_EQ(count_artifacts(uri, mt_run_id(parent), "tracking"), 0);
        CHECK(count_artifacts(uri, mt_run_id(parent), "") >= 3);

        /* The category's ROC and PRO curves, as the runner wrote them. */
        for (int i = 0; i < 3; i++) {
            static const char *const curves[] = {"roc_image.svg", "roc_pixel.svg", "pro.svg"};
            char artifact[64];

            snprintf(artifact, sizeof(artifact), "curves/%s", curves[i]);
            bytes = mt_download_artifact(uri, child, artifact, &len);
            snprintf(command, sizeof(command), "%s/curves/checker/%s", out, curves[i]);
            local = mt_read_file(command, &local_len);
            CHECK(local != NULL);
            CHECK(local_len > 1000);
            CHECK_INT_EQ(len, local_len);
            CHECK_STR_CONTAINS(bytes, "<polyline");
            free(local);
            free(bytes);
        }

        /* Per-epoch losses from the training history, and the weights. */
        history = mt_metric_history(uri, mt_run_id(child), "train/loss");
        CHECK_INT_EQ(cJSON_GetArraySize(history), 3);
        cJSON_Delete(history);
        history = mt_metric_history(uri, mt_run_id(child), "val/loss");
        CHECK_INT_EQ(cJSON_GetArraySize(history), 3);
        cJSON_Delete(history);

        /* Per-step values from the training loop: 3 epochs of 8 / 4 steps. */
        history = mt_metric_history(uri, mt_run_id(child), "train/step_loss");
        CHECK_INT_EQ(cJSON_GetArraySize(history), 6);
        CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(history, 5), "step")), 5,
                   0);
        cJSON_Delete(history);
        history = mt_metric_history(uri, mt_run_id(child), "train/step_lr");
        CHECK_INT_EQ(cJSON_GetArraySize(history), 6);
        cJSON_Delete(history);
        bytes = mt_download_artifact(uri, child, "encoder/weights.safetensors", &len);
        snprintf(command, sizeof(command), "%s/encoder/checker/weights.safetensors", out);
        local = mt_read_file(command, &local_len);
        CHECK(local != NULL);
        CHECK(local_len > 100);
        CHECK_INT_EQ(len, local_len);
        CHECK(bytes && local && len == local_len && memcmp(bytes, local, len) == 0);
        free(local);
        free(bytes);
    }
    cJSON_Delete(runs);
    free(experiment_id);

    /* Everything was delivered during the run: sync sends nothing. */
    snprintf(command, sizeof(command), "'%s/advgnn' sync --tracking-uri %s '%s' 2>&1", ADVGNN_BINARY_DIR, uri, out);
    output = run_command(command, &status);
    CHECK_INT_EQ(status, 0);
    CHECK_STR_CONTAINS(output, " 0 sent, 0 rejected, 0 pending");
    free(output);

    /* The command that a run prints after an outage, `advgnn sync RUN`, works
     * as printed: without a URI, sync uses the server the run was sent to. */
    snprintf(command, sizeof(command), "env -u MLFLOW_TRACKING_URI '%s/advgnn' sync '%s' 2>&1", ADVGNN_BINARY_DIR,
             out);
    output = run_command(command, &status);
    CHECK_INT_EQ(status, 0);
    CHECK_STR_CONTAINS(output, " 0 sent, 0 rejected, 0 pending");
    CHECK_STR_CONTAINS(output, "the server the run was sent to");
    free(output);

    if (!check_failures)
        mt_remove_tree(dir);
    return CHECK_DONE();
}
