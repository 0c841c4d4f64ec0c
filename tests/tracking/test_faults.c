/* Delivery under faults, through tests/tracking/fault_proxy.py in front of the
 * fixture's MLflow server: 503s, 429 with Retry-After, slow responses, wrong
 * and right credentials, a param changed after it was logged, keys that
 * MLflow rejects. Every run is read back from the server itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mlflow_test.h"
#include "tracking/sync.h"
#include "tracking/tracker.h"

typedef struct env {
    const char *server;      /* the fixture's server */
    char proxy[128];         /* the proxy in front of it */
    char dir[512];
    char experiment[64];
    char *experiment_id;
    advgnn_ctx *ctx;
    mt_log log;
} env;

static advgnn_tracker *open_run(env *e, const char *name, char *run_dir, size_t size)
{
    advgnn_tracker_config config = {0};
    advgnn_tracker *t = NULL;

    snprintf(run_dir, size, "%s/%s", e->dir, name);
    config.uri = e->proxy;
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

static void log_steps(advgnn_tracker *t, const char *key, int count)
{
    for (int step = 0; step < count; step++)
        CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", key, step * 0.5, step, 1700000000000 + step), ADVGNN_OK);
}

/* The run named `name`, fetched from the server (not the proxy). */
static cJSON *fetch_runs(env *e)
{
    if (!e->experiment_id)
        e->experiment_id = mt_experiment_id(e->server, e->experiment);
    return e->experiment_id ? mt_search_runs(e->server, e->experiment_id) : NULL;
}

/* Checks that metric `key` of run `name` contains steps 0..count-1 exactly once. */
static void check_history(env *e, const char *name, const char *key, int count)
{
    cJSON *runs = fetch_runs(e);
    const cJSON *run = mt_run_named(runs, name);
    cJSON *history = run ? mt_metric_history(e->server, mt_run_id(run), key) : NULL;
    int seen[512] = {0};
    const cJSON *point;

    CHECK(run != NULL);
    CHECK_INT_EQ(cJSON_GetArraySize(history), count);
    cJSON_ArrayForEach(point, history)
    {
        int step = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(point, "step"));

        if (step >= 0 && step < 512)
            seen[step]++;
    }
    for (int step = 0; step < count && step < 512; step++)
        CHECK_INT_EQ(seen[step], 1);
    cJSON_Delete(history);
    cJSON_Delete(runs);
}

static size_t count_occurrences(const char *text, const char *needle)
{
    size_t n = 0;

    for (const char *p = text ? strstr(text, needle) : NULL; p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Counts proxy log entries from index `from` on whose path contains `path`
 * and whose response status is `answer` (0: any). */
static int count_requests(const cJSON *log, int from, const char *path, int answer)
{
    int n = 0;

    for (int i = from; i < cJSON_GetArraySize(log); i++) {
        const cJSON *entry = cJSON_GetArrayItem(log, i);
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "path"));
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(entry, "answer");

        if (p && strstr(p, path) && (answer == 0 || (cJSON_IsNumber(a) && (int)a->valuedouble == answer)))
            n++;
    }
    return n;
}

static int log_size(env *e)
{
    cJSON *log = mt_proxy_log(e->proxy);
    int n = cJSON_GetArraySize(log);

    cJSON_Delete(log);
    return n;
}

/* ---- cases ------------------------------------------------------------------------- */

static void case_unavailable(env *e)
{
    char run_dir[700];
    advgnn_tracker_summary summary;
    advgnn_tracker *t;
    int from = log_size(e);
    cJSON *log;

    CHECK(mt_proxy_plan(e->proxy, "[{\"path\":\"log-batch\",\"action\":\"status\",\"status\":503,\"count\":3}]"));
    t = open_run(e, "unavailable", run_dir, sizeof(run_dir));
    if (!t)
        return;
    log_steps(t, "loss", 20);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 30000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_INT_EQ(summary.failed, 0);

    log = mt_proxy_log(e->proxy);
    CHECK_INT_EQ(count_requests(log, from, "log-batch", 503), 3);
    CHECK(count_requests(log, from, "log-batch", 200) >= 1);
    cJSON_Delete(log);
    check_history(e, "unavailable", "loss", 20);
}

static void case_retry_after(env *e)
{
    char run_dir[700];
    advgnn_tracker_summary summary;
    advgnn_tracker *t;
    int from = log_size(e);
    double refused_at = -1;
    double retried_at = -1;
    cJSON *log;

    CHECK(mt_proxy_plan(e->proxy, "[{\"path\":\"log-batch\",\"action\":\"status\",\"status\":429,"
                                  "\"retry_after\":1,\"count\":1}]"));
    t = open_run(e, "retry-after", run_dir, sizeof(run_dir));
    if (!t)
        return;
    log_steps(t, "loss", 5);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 30000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);

    /* The retry came no sooner than the Retry-After header requested (backoff alone is 0 s). */
    log = mt_proxy_log(e->proxy);
    for (int i = from; i < cJSON_GetArraySize(log); i++) {
        const cJSON *entry = cJSON_GetArrayItem(log, i);
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "path"));
        double when = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "time"));
        double answer = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "answer"));

        if (!path || !strstr(path, "log-batch"))
            continue;
        if (answer == 429 && refused_at < 0)
            refused_at = when;
        else if (refused_at >= 0 && retried_at < 0)
            retried_at = when;
    }
    cJSON_Delete(log);
    CHECK(refused_at > 0);
    CHECK(retried_at > 0);
    CHECK(retried_at - refused_at >= 0.95);
    check_history(e, "retry-after", "loss", 5);
}

static void case_slow(env *e)
{
    char run_dir[700];
    advgnn_tracker_summary summary;
    advgnn_tracker *t;
    int from = log_size(e);
    cJSON *log;

    /* The first log-batch reaches the server, but its response comes after
     * the client's 1 s timeout. The retry repeats the batch, and the server
     * must still store every point once. */
    setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1", 1);
    CHECK(mt_proxy_plan(e->proxy, "[{\"path\":\"log-batch\",\"action\":\"delay\",\"seconds\":2.5,\"count\":1}]"));
    t = open_run(e, "slow", run_dir, sizeof(run_dir));
    setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20", 1);
    if (!t)
        return;
    log_steps(t, "loss", 10);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 30000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);

    log = mt_proxy_log(e->proxy);
    CHECK(count_requests(log, from, "log-batch", 0) >= 2);
    cJSON_Delete(log);
    check_history(e, "slow", "loss", 10);
}

static void case_credentials(env *e)
{
    char run_dir[700];
    advgnn_tracker_summary summary;
    advgnn_sync_summary synced;
    advgnn_tracker *t;
    int from = log_size(e);
    cJSON *log;
    int rc;

    /* Wrong password: nothing is accepted, nothing is lost, the secret is
     * never printed. */
    CHECK(mt_proxy_plan(e->proxy, "[{\"action\":\"auth\",\"basic\":\"alice:s3cret-pw\"}]"));
    setenv("MLFLOW_TRACKING_USERNAME", "alice", 1);
    setenv("MLFLOW_TRACKING_PASSWORD", "wrong-pw-5731", 1);
    t = open_run(e, "credentials", run_dir, sizeof(run_dir));
    if (!t)
        return;
    log_steps(t, "loss", 8);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 5000, &summary), ADVGNN_OK);
    CHECK(summary.pending > 0);
    CHECK_INT_EQ(summary.failed, 0);
    CHECK_STR_CONTAINS(e->log.text, "rejected the credentials");
    CHECK_STR_CONTAINS(e->log.text, "advgnn sync");
    CHECK(!strstr(e->log.text, "wrong-pw-5731"));
    CHECK(!strstr(e->log.text, "s3cret-pw"));
    log = mt_proxy_log(e->proxy);
    CHECK(count_requests(log, from, "/api/", 401) >= 1);
    CHECK_INT_EQ(count_requests(log, from, "/api/", 200), 0);
    cJSON_Delete(log);

    /* The right password: advgnn sync delivers the journal. */
    setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-pw", 1);
    advgnn_ctx_clear_error(e->ctx);
    rc = advgnn_tracking_sync(e->ctx, run_dir, e->proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "sync: %s\n", advgnn_ctx_error(e->ctx));
    CHECK_INT_EQ(synced.pending, 0);
    CHECK_INT_EQ(synced.sent, synced.records);
    CHECK(!strstr(advgnn_ctx_error(e->ctx), "s3cret-pw"));
    check_history(e, "credentials", "loss", 8);
    unsetenv("MLFLOW_TRACKING_USERNAME");
    unsetenv("MLFLOW_TRACKING_PASSWORD");

    /* A bearer token is sent as "Authorization: Bearer". */
    from = log_size(e);
    CHECK(mt_proxy_plan(e->proxy, "[{\"action\":\"auth\",\"token\":\"tok-9876\"}]"));
    setenv("MLFLOW_TRACKING_TOKEN", "tok-9876", 1);
    t = open_run(e, "token", run_dir, sizeof(run_dir));
    if (t) {
        log_steps(t, "loss", 3);
        CHECK_INT_EQ(advgnn_tracker_close(t, 30000, &summary), ADVGNN_OK);
        CHECK_INT_EQ(summary.pending, 0);
        check_history(e, "token", "loss", 3);
    }
    unsetenv("MLFLOW_TRACKING_TOKEN");
    log = mt_proxy_log(e->proxy);
    CHECK_INT_EQ(count_requests(log, from, "/api/", 401), 0);
    CHECK_STR_CONTAINS(
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(log, from), "auth_scheme")),
        "Bearer");
    cJSON_Delete(log);
    CHECK(mt_proxy_plan(e->proxy, "[]"));
}

static void case_param_changed(env *e, char *run_dir, size_t size)
{
    advgnn_tracker_summary summary;
    advgnn_tracker *t;
    cJSON *runs;
    const cJSON *run;

    /* The first batch reaches the server but its answer is a 503: the retry
     * repeats lr=0.1, which MLflow accepts. lr=0.2 later is rejected for good
     * and logged once, and the records around it still arrive. */
    CHECK(mt_proxy_plan(e->proxy, "[{\"path\":\"log-batch\",\"action\":\"status\",\"status\":503,"
                                  "\"forward\":true,\"count\":1}]"));
    t = open_run(e, "param-changed", run_dir, size);
    if (!t)
        return;
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "main", "lr", "0.1"), ADVGNN_OK);
    log_steps(t, "loss", 4);
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "main", "lr", "0.2"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_param(t, "main", "batch", "8"), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "val loss (fused)@1", 0.25, 0, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "val loss (fused)@1", 0.2, 1, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 30000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_INT_EQ(summary.failed, 1);
    CHECK_INT_EQ(count_occurrences(e->log.text, "Changing param values is not allowed"), 1);

    /* A key MLflow rejects was sanitized, with one warning for two points. */
    CHECK_INT_EQ(count_occurrences(e->log.text, "'val loss (fused)@1' is not accepted by MLflow"), 1);
    check_history(e, "param-changed", "val loss _fused__1", 2);
    check_history(e, "param-changed", "loss", 4);

    runs = fetch_runs(e);
    run = mt_run_named(runs, "param-changed");
    CHECK_STR_CONTAINS(mt_run_param(run, "lr"), "0.1");
    CHECK_STR_CONTAINS(mt_run_param(run, "batch"), "8");
    cJSON_Delete(runs);
}

/* A record with a key the server rejects (written into the journal directly,
 * as an older client might have) fails alone during advgnn sync. */
static void case_rejected_key(env *e, const char *run_dir)
{
    char path[800];
    char line[256];
    advgnn_sync_summary synced;
    long lines;
    FILE *file;
    int rc;

    snprintf(path, sizeof(path), "%s/tracking/journal.jsonl", run_dir);
    lines = mt_count_lines(path);
    CHECK(lines > 0);
    file = fopen(path, "a");
    CHECK(file != NULL);
    if (!file)
        return;
    snprintf(line, sizeof(line),
             "{\"seq\":%ld,\"type\":\"metric\",\"run\":\"main\",\"key\":\"bad key!\",\"value\":1,\"step\":0,"
             "\"ts\":1700000000000}\n"
             "{\"seq\":%ld,\"type\":\"metric\",\"run\":\"main\",\"key\":\"good_key\",\"value\":2,\"step\":0,"
             "\"ts\":1700000000000}\n",
             lines, lines + 1);
    fputs(line, file);
    fclose(file);

    rc = advgnn_tracking_sync(e->ctx, run_dir, e->proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(synced.failed, 1);
    CHECK_INT_EQ(synced.sent, 1);
    CHECK_INT_EQ(synced.pending, 0);
    CHECK_STR_CONTAINS(e->log.text, "rejected metric bad key!");
    check_history(e, "param-changed", "good_key", 1);

    /* A second sync sends nothing. */
    rc = advgnn_tracking_sync(e->ctx, run_dir, e->proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(synced.sent, 0);
    CHECK_INT_EQ(synced.failed, 0);
}

/* Every JSON request carried Content-Type: application/json and none an Origin. */
static void case_headers(env *e)
{
    cJSON *log = mt_proxy_log(e->proxy);
    const cJSON *entry;
    int posts = 0;
    int puts_seen = 0;

    cJSON_ArrayForEach(entry, log)
    {
        const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "method"));
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "content_type"));

        CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(entry, "origin")));
        if (method && strcmp(method, "POST") == 0) {
            posts++;
            CHECK_STR_CONTAINS(type, "application/json");
        }
        if (method && strcmp(method, "PUT") == 0)
            puts_seen++;
    }
    CHECK(posts > 10);
    CHECK_INT_EQ(puts_seen, 0);
    cJSON_Delete(log);
}

/* Counts the log-batch requests in the proxy log from index `from` on, the
 * metric points they carried and how many carried fewer than 1000. */
static void tally_log_batches(env *e, int from, int *requests, int *metrics, int *partial)
{
    cJSON *log = mt_proxy_log(e->proxy);

    *requests = *metrics = *partial = 0;
    for (int i = from; i < cJSON_GetArraySize(log); i++) {
        const cJSON *entry = cJSON_GetArrayItem(log, i);
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "path"));
        int count = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(entry, "metrics"));

        if (!path || !strstr(path, "log-batch"))
            continue;
        (*requests)++;
        *metrics += count;
        *partial += count < 1000 ? 1 : 0;
    }
    cJSON_Delete(log);
}

/* With more records queued than the delivery thread takes per round, each
 * round's last, partial log-batch waits for the next round instead of costing
 * a small request of its own. */
static void case_full_batches(env *e)
{
    enum { POINTS = 12000, MIN_REQUESTS = POINTS / 1000 };
    char run_dir[700];
    advgnn_tracker_summary summary;
    advgnn_tracker *t;
    int from = log_size(e);
    int requests;
    int metrics;
    int partial;

    /* Holding the run's creation for a second lets the loop below queue every
     * point before the second round starts. */
    CHECK(mt_proxy_plan(e->proxy, "[{\"path\":\"runs/create\",\"action\":\"delay\",\"seconds\":1,\"count\":1}]"));
    t = open_run(e, "full-batches", run_dir, sizeof(run_dir));
    if (!t)
        return;
    log_steps(t, "loss", POINTS);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 120000, &summary), ADVGNN_OK);
    CHECK_INT_EQ(summary.pending, 0);
    CHECK_INT_EQ(summary.failed, 0);

    /* Every point went out once. The first round may start before the log
     * loop has queued more, so one partial request besides the last one is
     * allowed. Sending each round's remainder alone takes at least two more. */
    tally_log_batches(e, from, &requests, &metrics, &partial);
    CHECK_INT_EQ(metrics, POINTS);
    CHECK(requests >= MIN_REQUESTS);
    CHECK(requests <= MIN_REQUESTS + 1);
    CHECK(partial <= 2);
    check_history(e, "full-batches", "loss", POINTS);
}

/* advgnn sync reads the journal in chunks of 4096 lines, and a partial
 * log-batch at the end of a chunk waits for the next chunk. */
static void case_sync_full_batches(env *e)
{
    enum { POINTS = 12000, REQUESTS = POINTS / 1000 };
    advgnn_tracker_config config = {0};
    advgnn_sync_summary synced;
    advgnn_tracker *t = NULL;
    char run_dir[700];
    int from;
    int requests;
    int metrics;
    int partial;
    int rc;

    /* A journal without a server, pushed by sync afterwards. */
    unsetenv("MLFLOW_TRACKING_URI");
    snprintf(run_dir, sizeof(run_dir), "%s/sync-full-batches", e->dir);
    config.experiment = e->experiment;
    config.run_dir = run_dir;
    CHECK_INT_EQ(advgnn_tracker_open(e->ctx, &config, &t), ADVGNN_OK);
    if (!t)
        return;
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, "sync-full-batches", NULL), ADVGNN_OK);
    log_steps(t, "loss", POINTS);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, NULL), ADVGNN_OK);

    CHECK(mt_proxy_plan(e->proxy, "[]"));
    from = log_size(e);
    rc = advgnn_tracking_sync(e->ctx, run_dir, e->proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "sync: %s\n", advgnn_ctx_error(e->ctx));
    CHECK_INT_EQ(synced.pending, 0);
    CHECK_INT_EQ(synced.sent, synced.records);

    /* The journal's lines are all there before sync starts, so every request
     * but the last is full, and with 12,000 points the last one is full too. */
    tally_log_batches(e, from, &requests, &metrics, &partial);
    CHECK_INT_EQ(metrics, POINTS);
    CHECK_INT_EQ(requests, REQUESTS);
    CHECK_INT_EQ(partial, 0);
    check_history(e, "sync-full-batches", "loss", POINTS);
}

int main(void)
{
    if (mt_mlflow_missing())
        return MT_SKIP;

    env e = {0};
    char suffix[9];
    char param_run_dir[700];
    pid_t proxy;

    e.server = mt_fixture_uri();
    CHECK(e.server != NULL);
    CHECK(mt_temp_dir("advgnn-faults", e.dir, sizeof(e.dir)));
    if (check_failures)
        return CHECK_DONE();
    proxy = mt_proxy_start(e.server, e.proxy, sizeof(e.proxy));
    CHECK(proxy > 0);
    if (proxy <= 0)
        return CHECK_DONE();

    e.ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_sink(e.ctx, mt_log_sink, &e.log);
    mt_random_suffix(suffix);
    snprintf(e.experiment, sizeof(e.experiment), "advgnn-faults-%s", suffix);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05", 1);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0", 1);
    setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5", 1);
    setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20", 1);

    case_unavailable(&e);
    case_retry_after(&e);
    case_slow(&e);
    case_credentials(&e);
    case_param_changed(&e, param_run_dir, sizeof(param_run_dir));
    case_rejected_key(&e, param_run_dir);
    case_headers(&e);
    case_full_batches(&e);
    case_sync_full_batches(&e);

    mt_proxy_stop(proxy, e.proxy);
    free(e.experiment_id);
    mt_log_free(&e.log);
    advgnn_ctx_free(e.ctx);
    if (!check_failures)
        mt_remove_tree(e.dir);
    return CHECK_DONE();
}
