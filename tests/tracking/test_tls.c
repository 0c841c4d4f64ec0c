/* TLS settings, through fault_proxy.py serving HTTPS in front of the
 * fixture's server, with certificates made by the openssl command. An
 * unknown certificate stops delivery with a TLS message and no retries.
 * MLFLOW_TRACKING_SERVER_CERT_PATH and MLFLOW_TRACKING_INSECURE_TLS make it
 * work. A proxy that requires a client certificate accepts the one in
 * MLFLOW_TRACKING_CLIENT_CERT_PATH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mlflow_test.h"
#include "tracking/sync.h"
#include "tracking/tracker.h"

typedef struct env {
    const char *server;
    char dir[512];
    char server_pem[700];
    char client_pem[700];
    char experiment[64];
    advgnn_ctx *ctx;
    mt_log log;
} env;

/* Makes a self-signed certificate with its key in one PEM file. */
static int make_certificate(const char *path, const char *name, int server)
{
    char command[4096];
    char key[720];
    char cert[720];

    snprintf(key, sizeof(key), "%s.key", path);
    snprintf(cert, sizeof(cert), "%s.crt", path);
    int n = snprintf(command, sizeof(command),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=%s' %s -keyout '%s' -out '%s' "
             ">/dev/null 2>&1 && cat '%s' '%s' > '%s'",
             name, server ? "-addext subjectAltName=IP:127.0.0.1" : "", key, cert, cert, key, path);

    if (n < 0 || (size_t)n >= sizeof(command))
        return 0;
    return system(command) == 0;
}

/* Writes a journal-only run with three metric points into <dir>/<name>. */
static void journal_run(env *e, const char *name, char *run_dir, size_t size)
{
    advgnn_tracker_config config = {0};
    advgnn_tracker *t = NULL;

    snprintf(run_dir, size, "%s/%s", e->dir, name);
    config.experiment = e->experiment;
    config.run_dir = run_dir;
    CHECK_INT_EQ(advgnn_tracker_open(e->ctx, &config, &t), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_start_run(t, "main", NULL, name, NULL), ADVGNN_OK);
    for (int step = 0; step < 3; step++)
        CHECK_INT_EQ(advgnn_tracker_log_metric(t, "main", "loss", step, step, 0), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_end_run(t, "main", ADVGNN_RUN_STATUS_FINISHED, NULL), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_tracker_close(t, 0, NULL), ADVGNN_OK);
}

static void check_on_server(env *e, const char *name)
{
    char *experiment_id = mt_experiment_id(e->server, e->experiment);
    cJSON *runs = experiment_id ? mt_search_runs(e->server, experiment_id) : NULL;
    const cJSON *run = mt_run_named(runs, name);
    cJSON *history = run ? mt_metric_history(e->server, mt_run_id(run), "loss") : NULL;

    CHECK(run != NULL);
    CHECK_INT_EQ(cJSON_GetArraySize(history), 3);
    cJSON_Delete(history);
    cJSON_Delete(runs);
    free(experiment_id);
}

static void case_server_certificate(env *e)
{
    char proxy[128];
    char run_dir[700];
    advgnn_sync_summary synced;
    pid_t pid = mt_proxy_start_tls(e->server, e->server_pem, NULL, proxy, sizeof(proxy));
    int rc;

    CHECK(pid > 0);
    if (pid <= 0)
        return;

    /* Unknown certificate: TLS error, reported once, nothing sent. */
    journal_run(e, "tls-unknown", run_dir, sizeof(run_dir));
    rc = advgnn_tracking_sync(e->ctx, run_dir, proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_ERR_NETWORK);
    CHECK(synced.pending > 0);
    CHECK_STR_CONTAINS(e->log.text, "MLFLOW_TRACKING_SERVER_CERT_PATH");
    advgnn_ctx_clear_error(e->ctx);

    /* The CA file: the same journal goes through. */
    setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", e->server_pem, 1);
    rc = advgnn_tracking_sync(e->ctx, run_dir, proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(synced.pending, 0);
    check_on_server(e, "tls-unknown");
    unsetenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    advgnn_ctx_clear_error(e->ctx);

    /* Verification off. */
    setenv("MLFLOW_TRACKING_INSECURE_TLS", "true", 1);
    journal_run(e, "tls-insecure", run_dir, sizeof(run_dir));
    rc = advgnn_tracking_sync(e->ctx, run_dir, proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_INT_EQ(synced.pending, 0);
    check_on_server(e, "tls-insecure");
    unsetenv("MLFLOW_TRACKING_INSECURE_TLS");
    advgnn_ctx_clear_error(e->ctx);
    mt_proxy_stop(pid, proxy);
}

static void case_client_certificate(env *e)
{
    char proxy[128];
    char run_dir[700];
    advgnn_sync_summary synced;
    pid_t pid = mt_proxy_start_tls(e->server, e->server_pem, e->client_pem, proxy, sizeof(proxy));
    int rc;

    CHECK(pid > 0);
    if (pid <= 0)
        return;
    setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", e->server_pem, 1);

    /* Without a client certificate the handshake fails. */
    journal_run(e, "tls-client", run_dir, sizeof(run_dir));
    rc = advgnn_tracking_sync(e->ctx, run_dir, proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_ERR_NETWORK);
    CHECK(synced.pending > 0);
    advgnn_ctx_clear_error(e->ctx);

    setenv("MLFLOW_TRACKING_CLIENT_CERT_PATH", e->client_pem, 1);
    rc = advgnn_tracking_sync(e->ctx, run_dir, proxy, &synced);
    CHECK_INT_EQ(rc, ADVGNN_OK);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "sync: %s\n", advgnn_ctx_error(e->ctx));
    CHECK_INT_EQ(synced.pending, 0);
    check_on_server(e, "tls-client");

    unsetenv("MLFLOW_TRACKING_CLIENT_CERT_PATH");
    unsetenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    mt_proxy_stop(pid, proxy);
}

int main(void)
{
    if (mt_mlflow_missing())
        return MT_SKIP;

    env e = {0};
    char suffix[9];

    e.server = mt_fixture_uri();
    CHECK(e.server != NULL);
    CHECK(mt_temp_dir("advgnn-tls", e.dir, sizeof(e.dir)));
    if (check_failures)
        return CHECK_DONE();
    snprintf(e.server_pem, sizeof(e.server_pem), "%s/server.pem", e.dir);
    snprintf(e.client_pem, sizeof(e.client_pem), "%s/client.pem", e.dir);
    CHECK(make_certificate(e.server_pem, "127.0.0.1", 1));
    CHECK(make_certificate(e.client_pem, "advgnn-test-client", 0));
    if (check_failures)
        return CHECK_DONE();

    e.ctx = advgnn_ctx_new();
    advgnn_ctx_set_log_sink(e.ctx, mt_log_sink, &e.log);
    mt_random_suffix(suffix);
    snprintf(e.experiment, sizeof(e.experiment), "advgnn-tls-%s", suffix);
    unsetenv("MLFLOW_TRACKING_URI");
    setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1", 1);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05", 1);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0", 1);

    case_server_certificate(&e);
    case_client_certificate(&e);

    mt_log_free(&e.log);
    advgnn_ctx_free(e.ctx);
    if (!check_failures)
        mt_remove_tree(e.dir);
    return CHECK_DONE();
}
