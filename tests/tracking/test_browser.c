/* The MLflow UI shows what the tracker logged: headless Chromium renders the
 * run page of a run logged through the tracker API, and the rendered DOM
 * names the run, a param and a metric. Exits 77 (skipped) when no Chromium
 * is installed; scripts/test.sh does not install one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mlflow_test.h"
#include "tracking/tracker.h"

#define SKIP 77

static const char *find_chromium(void)
{
    static const char *const candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                             "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"};

    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

/* Logs a run named `name` and returns 1 when the server acknowledged all of it. */
static int log_run(const char *uri, const char *experiment, const char *dir, const char *name)
{
    char run_dir[700];
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_tracker *t = NULL;
    int rc;

    snprintf(run_dir, sizeof(run_dir), "%s/run", dir);
    config.uri = uri;
    config.experiment = experiment;
    config.run_dir = run_dir;
    rc = advgnn_tracker_open(ctx, &config, &t);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_start_run(t, "main", NULL, name, "shown in the MLflow UI");
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_param(t, "main", "encoder.options.depth", "12");
    for (int step = 0; rc == ADVGNN_OK && step < 5; step++)
        rc = advgnn_tracker_log_metric(t, "main", "train/loss_browser", 1.0 / (step + 1), step, 0);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "tracker: %s\n", advgnn_ctx_error(ctx));
    advgnn_tracker_close(t, 30000, &summary);
    advgnn_ctx_free(ctx);
    return rc == ADVGNN_OK && summary.pending == 0;
}

int main(void)
{
    const char *chromium = find_chromium();
    const char *uri = mt_fixture_uri();
    char dir[512];
    char experiment[64];
    char name[64];
    char suffix[9];
    char command[4096];
    char dom_path[700];
    char *experiment_id;
    cJSON *runs;
    const cJSON *run;
    char *dom;
    size_t len = 0;
    int status;

    if (!chromium) {
        fprintf(stderr, "skipped: no Chromium found (install the Debian package chromium)\n");
        return SKIP;
    }
    CHECK(uri != NULL);
    CHECK(mt_temp_dir("advgnn-browser", dir, sizeof(dir)));
    if (check_failures)
        return CHECK_DONE();
    mt_random_suffix(suffix);
    snprintf(experiment, sizeof(experiment), "advgnn-browser-%s", suffix);
    snprintf(name, sizeof(name), "browser-run-%s", suffix);
    CHECK(log_run(uri, experiment, dir, name));

    experiment_id = mt_experiment_id(uri, experiment);
    runs = experiment_id ? mt_search_runs(uri, experiment_id) : NULL;
    run = mt_run_named(runs, name);
    CHECK(run != NULL);
    if (!run) {
        cJSON_Delete(runs);
        free(experiment_id);
        return CHECK_DONE();
    }

    /* --virtual-time-budget lets the single-page app fetch and render the run
     * before the DOM is dumped. */
    snprintf(dom_path, sizeof(dom_path), "%s/dom.html", dir);
    snprintf(command, sizeof(command),
             "timeout 120 '%s' --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
             "--user-data-dir='%s/profile' --virtual-time-budget=20000 --dump-dom '%s/#/experiments/%s/runs/%s' "
             "> '%s' 2> '%s/chromium.log'",
             chromium, dir, uri, experiment_id, mt_run_id(run), dom_path, dir);
    status = system(command);
    CHECK_INT_EQ(status, 0);
    dom = mt_read_file(dom_path, &len);
    CHECK(len > 1000);
    CHECK_STR_CONTAINS(dom, name);
    CHECK_STR_CONTAINS(dom, "encoder.options.depth");
    CHECK_STR_CONTAINS(dom, "train/loss_browser");
    free(dom);

    cJSON_Delete(runs);
    free(experiment_id);
    if (!check_failures)
        mt_remove_tree(dir);
    return CHECK_DONE();
}
