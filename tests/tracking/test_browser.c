/* The MLflow UI shows what the tracker logged. The test logs a run through
 * the tracker API: a param, metrics, results.json and an SVG ROC curve from
 * the report module. tests/browser/mlflow_ui.js then drives headless Chromium
 * through playwright-core from the experiments list to the experiment, the
 * run, a metric value, the Artifacts tab, results.json and the drawn SVG.
 * Screenshots go to ADVGNN_BROWSER_OUTPUT in the build tree. Exits 77
 * (skipped) only when Chromium, node or the mlflow program is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "mlflow_test.h"
#include "report/curves_svg.h"
#include "tracking/tracker.h"

#define SKIP 77

/* The Chromium that Playwright starts: $ADVGNN_CHROMIUM, else Debian's. */
static const char *find_chromium(void)
{
    const char *path = getenv("ADVGNN_CHROMIUM");

    if (!path || !*path)
        path = "/usr/bin/chromium";
    return access(path, X_OK) == 0 ? path : NULL;
}

static int have_node(void)
{
    return system("command -v node >/dev/null 2>&1") == 0;
}

/* Writes results.json and curves/roc_image.svg of the run into `dir`. */
static int write_artifacts(const char *dir, const char *name)
{
    double x[] = {0.0, 0.0, 0.25, 0.25, 0.5, 1.0};
    double y[] = {0.0, 0.5, 0.5, 0.9, 1.0, 1.0};
    advgnn_curve curve = {x, y, 6};
    advgnn_curve_series series[] = {{"memory_bank", &curve, NULL}};
    advgnn_curve_plot plot = {"Image-level ROC, browser", "false positive rate (images)", "true positive rate",
                              "AUROC", 1.0, 1};
    char path[700], json[256];
    advgnn_ctx *ctx = advgnn_ctx_new();
    int ok;

    snprintf(json, sizeof(json), "{\n  \"run\": \"%s\",\n  \"image_auroc\": 0.8765\n}\n", name);
    snprintf(path, sizeof(path), "%s/results.json", dir);
    ok = ctx && mt_write_file(path, json, strlen(json));
    snprintf(path, sizeof(path), "%s/curves", dir);
    ok = ok && mkdir(path, 0755) == 0;
    snprintf(path, sizeof(path), "%s/curves/roc_image.svg", dir);
    ok = ok && advgnn_report_write_curves_svg(ctx, path, &plot, series, 1) == ADVGNN_OK;
    if (!ok && ctx)
        fprintf(stderr, "artifacts: %s\n", advgnn_ctx_error(ctx));
    advgnn_ctx_free(ctx);
    return ok;
}

/* Logs a run named `name` and returns 1 when the server acknowledged all of it. */
static int log_run(const char *uri, const char *experiment, const char *dir, const char *name)
{
    char run_dir[700], results[700], svg[700];
    advgnn_ctx *ctx = advgnn_ctx_new();
    advgnn_tracker_config config = {0};
    advgnn_tracker_summary summary;
    advgnn_tracker *t = NULL;
    int rc;

    snprintf(run_dir, sizeof(run_dir), "%s/run", dir);
    snprintf(results, sizeof(results), "%s/results.json", dir);
    snprintf(svg, sizeof(svg), "%s/curves/roc_image.svg", dir);
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
        rc = advgnn_tracker_log_metric(t, "main", "image_auroc", 0.8765, 0, 0);
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_artifact(t, "main", results, "");
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_log_artifact(t, "main", svg, "curves");
    if (rc == ADVGNN_OK)
        rc = advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "tracker: %s\n", advgnn_ctx_error(ctx));
    advgnn_tracker_close(t, 30000, &summary);
    advgnn_ctx_free(ctx);
    return rc == ADVGNN_OK && summary.pending == 0;
}

/* Checks that `path` is a PNG file of more than `min_size` bytes. */
static void check_png(const char *path, size_t min_size)
{
    size_t len = 0;
    char *data = mt_read_file(path, &len);

    CHECK(data != NULL);
    CHECK(len > min_size);
    if (data && len > 8)
        CHECK(memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0);
    free(data);
}

int main(void)
{
    const char *chromium = find_chromium();
    const char *uri;
    const char *output = ADVGNN_BROWSER_OUTPUT;
    char dir[512], experiment[64], name[64], suffix[9];
    char command[4096], path[700];
    char *experiment_id;
    cJSON *runs;

    if (!chromium || !have_node()) {
        fprintf(stderr, "skipped: %s is missing (install the Debian packages chromium and nodejs)\n",
                chromium ? "node" : "Chromium");
        return SKIP;
    }
    if (mt_mlflow_missing())
        return SKIP;
    uri = mt_fixture_uri();
    snprintf(path, sizeof(path), "%s/node_modules/playwright-core/package.json", ADVGNN_BROWSER_DIR);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "%s is missing\nhint: run bash scripts/browser-env.sh, which installs playwright-core\n",
                path);
        return 1;
    }
    CHECK(uri != NULL);
    CHECK(mt_temp_dir("advgnn-browser", dir, sizeof(dir)));
    if (check_failures)
        return CHECK_DONE();

    /* Log the run and check through the REST API that it arrived. */
    mt_random_suffix(suffix);
    snprintf(experiment, sizeof(experiment), "advgnn-browser-%s", suffix);
    snprintf(name, sizeof(name), "browser-run-%s", suffix);
    CHECK(write_artifacts(dir, name));
    CHECK(log_run(uri, experiment, dir, name));
    experiment_id = mt_experiment_id(uri, experiment);
    runs = experiment_id ? mt_search_runs(uri, experiment_id) : NULL;
    CHECK(mt_run_named(runs, name) != NULL);
    cJSON_Delete(runs);
    free(experiment_id);
    if (check_failures)
        return CHECK_DONE();

    /* Walk the UI; the script prints the step that failed. */
    snprintf(command, sizeof(command), "rm -rf '%s' && ADVGNN_CHROMIUM='%s' timeout 170 node '%s/mlflow_ui.js' '%s' '%s' '%s' "
             "image_auroc 0.8765 results.json '%s' '%s' curves/roc_image.svg",
             output, chromium, ADVGNN_BROWSER_DIR, uri, experiment, name, name, output);
    CHECK_INT_EQ(system(command), 0);
    snprintf(path, sizeof(path), "%s/run.png", output);
    check_png(path, 10000);
    snprintf(path, sizeof(path), "%s/artifact.png", output);
    check_png(path, 10000);
    snprintf(path, sizeof(path), "%s/image.png", output);
    check_png(path, 10000);

    if (!check_failures)
        mt_remove_tree(dir);
    return CHECK_DONE();
}
