/* Nothing lost, nothing twice. A private MLflow server is stopped in the
 * middle of a run and started again. A run ends while the server is down, and
 * `advgnn sync` delivers the rest. A process is killed while its batch is on
 * the wire, and a replay sends none of what the server already stored. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "mlflow_test.h"
#include "tracking/sync.h"
#include "tracking/tracker.h"

typedef struct env {
    char dir[512];
    char state[600];
    char server[128];
    int port;
    char experiment[64];
    advgnn_ctx *ctx;
    mt_log log;
} env;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static advgnn_tracker *open_run(env *e, const char *uri, const char *name, char *run_dir, size_t size)
{
    advgnn_tracker_config config = {0};
    advgnn_tracker *t = NULL;

    snprintf(run_dir, size, "%s/%s", e->dir, name);
    config.uri = uri;
    config.experiment = e->experiment;
    config.run_dir = run_dir;
    config.max_retry_delay_s = 0.5;
    if (advgnn_tracker_open(e->ctx, &config, &t) != ADVGNN_OK) {
        fprintf(stderr, "advgnn_tracker_open: %s\n", advgnn_ctx_error(e->ctx));
        return NULL;
    }
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, name, NULL), ADVGNN_OK);
    return t;
}

/* Logs steps [first, last) and returns the slowest call in seconds. */
static double log_steps(advgnn_tracker *t, int first, int last)
{
    double slowest = 0;

    for (int step = first; step < last; step++) {
        double start = now_s();

        CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "loss", 1.0 / (step + 1), step, 1700000000000 + step),
                     ADVGNN_OK);
        if (now_s() - start > slowest)
            slowest = now_s() - start;
        if (step % 10 == 0)
            usleep(2000);
    }
    return slowest;
}

/* Checks that run `name` exists once and contains steps 0..count-1 exactly once. */
static void check_exactly_once(env *e, const char *name, int count)
{
    char *experiment_id = mt_experiment_id(e->server, e->experiment);
    cJSON *runs = experiment_id ? mt_search_runs(e->server, experiment_id) : NULL;
    const cJSON *run = mt_run_named(runs, name);
    cJSON *history = run ? mt_metric_history(e->server, mt_run_id(run), "loss") : NULL;
    int same_name = 0;
    int *seen = calloc((size_t)count, sizeof(int));
    const cJSON *item;

    cJSON_ArrayForEach(item, runs)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "info"), "run_name");

        same_name += cJSON_IsString(n) && strcmp(n->valuestring, name) == 0;
    }
    CHECK_INT_EQ(same_name, 1);
    CHECK_INT_EQ(cJSON_GetArraySize(history), count);
    cJSON_ArrayForEach(item, history)
    {
        int step = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(item, "step"));

        if (step >= 0 && step < count)
            seen[step]++;
    }
    for (int step = 0; step < count; step++)
        CHECK_INT_EQ(seen[step], 1);
    CHECK_STR_CONTAINS(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "info"), "status")),
        "FINISHED");
    free(seen);
    cJSON_Delete(history);
    cJSON_Delete(runs);
    free(experiment_id);
}

/* One outage serves two runs, because a server start costs seconds. Run
 * "restart" keeps logging while the server is away and delivers everything
 * once it is back. Run "outage" ends while the server is down, advgnn sync
 * delivers the rest afterwards, and a second sync sends nothing. */
static void case_outage(env *e)
{
    char restart_dir[700];
    char outage_dir[700];
    advgnn_tracker_summary summary;
    advgnn_sync_summary synced;
    advgnn_tracker *restart = open_run(e, e->server, "restart", restart_dir, sizeof(restart_dir));
    advgnn_tracker *outage = open_run(e, e->server, "outage", outage_dir, sizeof(outage_dir));
    double slowest;
    int rc;

    if (!restart || !outage)
        return;
    slowest = log_steps(restart, 0, 100);
    log_steps(outage, 0, 50);
    usleep(500000);
    mt_server_stop(e->state);
    slowest += log_steps(restart, 100, 200);
    log_steps(outage, 50, 100);

    /* Training does not wait on the network: logging stays a local append. */
    CHECK(slowest < 0.25);

    CHECK_INT_EQ(advgnn_tracker_end_run(outage, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(outage, 1500, &summary), ADVGNN_OK);
    CHECK(summary.pending > 0);
    CHECK_STR_CONTAINS(e->log.text, "is unreachable");
    CHECK_STR_CONTAINS(e->log.text, "were not delivered");

    CHECK(mt_server_start(e->state, e->port, e->server, sizeof(e->server)));
    log_steps(restart, 200, 300);
    CHECK_INT_EQ(advgnn_tracker_end_run(restart, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(restart, 120000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_INT_EQ(summary.failed, 0);
    CHECK_STR_CONTAINS(e->log.text, "is reachable again");
    check_exactly_once(e, "restart", 300);

    rc = advgnn_tracking_sync(e->ctx, outage_dir, e->server, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "sync: %s\n", advgnn_ctx_error(e->ctx));
    CHECK_INT_EQ(synced.pending, 0);
    CHECK(synced.sent > 0);
    check_exactly_once(e, "outage", 100);

    rc = advgnn_tracking_sync(e->ctx, outage_dir, e->server, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(synced.sent, 0);
    CHECK_INT_EQ(synced.pending, 0);
}

/* Child: logs a run through the proxy, whose first log-batch reaches the
 * server while the response is held back, then waits to be killed. */
static void run_child(env *e, const char *proxy)
{
    char run_dir[700];
    advgnn_tracker *t;

    e->ctx = advgnn_ctx_new();
    t = open_run(e, proxy, "killed", run_dir, sizeof(run_dir));
    if (!t)
        _exit(2);
    log_steps(t, 0, 100);
    advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL);
    advgnn_tracker_checkpoint(t);
    sleep(60);
    _exit(3);
}

static void case_killed_mid_batch(env *e)
{
    char proxy[128];
    char run_dir[700];
    advgnn_sync_summary synced;
    pid_t proxy_pid = mt_proxy_start(e->server, proxy, sizeof(proxy));
    pid_t child;
    cJSON *log = NULL;
    int held_metrics = -1;
    int sent_metrics = 0;
    int from;
    int rc;

    CHECK(proxy_pid > 0);
    if (proxy_pid <= 0)
        return;
    CHECK(mt_proxy_plan(proxy, "[{\"path\":\"log-batch\",\"action\":\"delay\",\"seconds\":30,\"count\":1}]"));
    child = fork();
    if (child == 0)
        run_child(e, proxy);

    /* Wait until the held batch reached the proxy (and so the server). */
    for (int i = 0; i < 300 && held_metrics < 0; i++) {
        const cJSON *entry;

        usleep(100000);
        cJSON_Delete(log);
        log = mt_proxy_log(proxy);
        cJSON_ArrayForEach(entry, log)
        {
            const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "path"));

            if (path && strstr(path, "log-batch"))
                held_metrics = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "metrics"));
        }
    }
    CHECK(held_metrics > 0);
    usleep(500000);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    from = cJSON_GetArraySize(log);
    cJSON_Delete(log);

    /* Replay through the proxy (its acknowledgement log names that URI). */
    CHECK(mt_proxy_plan(proxy, "[]"));
    snprintf(run_dir, sizeof(run_dir), "%s/killed", e->dir);
    rc = advgnn_tracking_sync(e->ctx, run_dir, proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "sync: %s\n", advgnn_ctx_error(e->ctx));
    CHECK_INT_EQ(synced.pending, 0);

    /* The points of the held batch were found on the server, not resent. */
    log = mt_proxy_log(proxy);
    for (int i = from; i < cJSON_GetArraySize(log); i++) {
        const cJSON *entry = cJSON_GetArrayItem(log, i);
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "path"));

        if (path && strstr(path, "log-batch"))
            sent_metrics += (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "metrics"));
        CHECK(!path || !strstr(path, "runs/create"));
    }
    cJSON_Delete(log);
    fprintf(stderr, "held batch: %d metrics; sent by the replay: %d\n", held_metrics, sent_metrics);
    CHECK_INT_EQ(sent_metrics, 100 - held_metrics);
    check_exactly_once(e, "killed", 100);
    mt_proxy_stop(proxy_pid, proxy);
}

int main(void)
{
    if (mt_mlflow_missing())
        return MT_SKIP;

    env e = {0};
    char suffix[9];

    CHECK(mt_temp_dir("advgnn-restart", e.dir, sizeof(e.dir)));
    snprintf(e.state, sizeof(e.state), "%s/server", e.dir);
    CHECK(mt_server_start(e.state, 0, e.server, sizeof(e.server)));
    if (check_failures) {
        mt_server_stop(e.state); /* a server that started but never answered */
        return CHECK_DONE();
    }
    e.port = atoi(strrchr(e.server, ':') + 1);

    e.ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_sink(e.ctx, mt_log_sink, &e.log);
    mt_random_suffix(suffix);
    snprintf(e.experiment, sizeof(e.experiment), "advgnn-restart-%s", suffix);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05", 1);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0", 1);
    setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2", 1);
    setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10", 1);

    case_outage(&e);
    case_killed_mid_batch(&e);

    mt_server_stop(e.state);
    mt_log_free(&e.log);
    advgnn_ctx_free(e.ctx);
    if (!check_failures)
        mt_remove_tree(e.dir);
    return CHECK_DONE();
}
