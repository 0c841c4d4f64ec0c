/* Helpers of the tracking tests: a small REST client that reads back what a
 * run logged, test servers and the fault proxy as child processes, temporary
 * folders and files. */
#ifndef ADVGNN_TEST_MLFLOW_H
#define ADVGNN_TEST_MLFLOW_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "advgnn/context.h"

/* Exit status that CTest reports as skipped (SKIP_RETURN_CODE). */
#define MT_SKIP 77

/* Returns nonzero, after printing why the test is skipped, when the Python
 * environment of scripts/mlflow-server.sh ($ADVGNN_VENV, else the
 * repository's .venv) has no mlflow program, so no test server can start. */
int mt_mlflow_missing(void);

/* The URI of the server that the CTest fixture started (the file "uri" in
 * $ADVGNN_MLFLOW_STATE), or NULL with a message on stderr. Static storage. */
const char *mt_fixture_uri(void);

/* Starts a private server with scripts/mlflow-server.sh in `state_dir`
 * (port 0 = a free one) and writes its URI into `uri`. 0 on failure. */
int mt_server_start(const char *state_dir, int port, char *uri, size_t size);
void mt_server_stop(const char *state_dir);

/* GET/POST/PUT `url` (absolute). Returns the body (free()) or NULL when no
 * response came; *status receives the HTTP status. */
char *mt_http(const char *method, const char *url, const char *body, size_t body_len, long *status,
              size_t *out_len);

/* GET or POST <uri><path>; returns the parsed JSON of a 200 response, or NULL
 * with a message on stderr. */
cJSON *mt_api_get(const char *uri, const char *path);
cJSON *mt_api_post(const char *uri, const char *path, const char *body);

/* The experiment id for `name`, or NULL. Returns a new string (free()). */
char *mt_experiment_id(const char *uri, const char *name);

/* All runs of an experiment (the "runs" array of runs/search), or NULL. */
cJSON *mt_search_runs(const char *uri, const char *experiment_id);

/* Finds the run named `name` in a runs array. Borrowed. */
const cJSON *mt_run_named(const cJSON *runs, const char *name);
const char *mt_run_id(const cJSON *run);

/* Value of a param or tag in run.data.params / run.data.tags, or NULL. */
const char *mt_run_param(const cJSON *run, const char *key);
const char *mt_run_tag(const cJSON *run, const char *key);

/* The full history of one metric (the "metrics" array), or NULL. */
cJSON *mt_metric_history(const char *uri, const char *run_id, const char *key);

/* Downloads an artifact of a run through the artifact proxy, by the run's
 * artifact_uri and a relative path. Returns the bytes (free()), or NULL. */
char *mt_download_artifact(const char *uri, const cJSON *run, const char *relpath, size_t *len);

/* Makes a fresh temporary folder under $TMPDIR (or /tmp) into `out`. */
int mt_temp_dir(const char *prefix, char *out, size_t size);
void mt_remove_tree(const char *path);
int mt_write_file(const char *path, const void *data, size_t len);
char *mt_read_file(const char *path, size_t *len);

/* Counts the lines of a file; -1 when it cannot be read. */
long mt_count_lines(const char *path);

/* A random lowercase hex suffix for unique experiment names. */
void mt_random_suffix(char out[9]);

/* Fault proxy (tests/tracking/fault_proxy.py) in front of `upstream`.
 * Returns the child's pid and writes the proxy's URI into `uri`. */
pid_t mt_proxy_start(const char *upstream, char *uri, size_t size);
/* The same over HTTPS with the PEM certificate `cert` (key included); with
 * `client_ca` (may be NULL) the proxy requires a client certificate signed by
 * it. Writes an https:// URI. */
pid_t mt_proxy_start_tls(const char *upstream, const char *cert, const char *client_ca, char *uri, size_t size);
/* Sets the proxy's fault plan (JSON array, see fault_proxy.py). */
int mt_proxy_plan(const char *proxy_uri, const char *plan_json);
/* The proxy's request log (JSON array), or NULL. */
cJSON *mt_proxy_log(const char *proxy_uri);
void mt_proxy_stop(pid_t pid, const char *proxy_uri);

/* A log sink that stores every line in memory, for checks on messages. */
typedef struct mt_log {
    char *text;   /* all lines, '\n'-separated */
    size_t len;
} mt_log;
void mt_log_sink(void *user, advgnn_log_level level, const char *line);
void mt_log_free(mt_log *log);

#endif
