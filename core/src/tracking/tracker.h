/* Experiment tracking. Every param, metric, tag, dataset input and artifact of
 * a run goes first to a journal in the run's folder. A background thread then
 * sends it to an MLflow tracking server over its REST API, so training never
 * waits on the network. While the server is slow, down or restarting, the
 * journal keeps every record until it is acknowledged. Private to the core
 * and the CLI.
 *
 * A tracker holds one parent run and any number of nested runs (one per
 * category or sweep point). The caller names each run with a stable key
 * ("main", "category/bottle") and passes that key to every log call; the
 * journal maps keys to MLflow run ids once the server created the runs.
 *
 * Without a tracking URI the journal alone is the record; `advgnn sync`
 * (tracking/sync.h) pushes it to a server later. See docs/tracking.md. */
#ifndef ADVGNN_TRACKING_TRACKER_H
#define ADVGNN_TRACKING_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "advgnn/context.h"

typedef struct advgnn_tracker advgnn_tracker;

typedef struct advgnn_tracker_config {
    /* MLflow tracking URI (http:// or https://). NULL: MLFLOW_TRACKING_URI
     * from the environment; NULL or "" there too: the journal only. */
    const char *uri;
    const char *experiment;       /* MLflow experiment name; NULL = "Default" */
    const char *run_dir;          /* the run's output folder; the journal goes to <run_dir>/tracking/ */
    const char *script_path;      /* the Lua script (source name, git commit); may be NULL */
    /* Experiment tags as NULL-terminated key, value pairs, set when the
     * experiment is created; may be NULL. */
    const char *const *experiment_tags;
    /* Maximum wait between two attempts to reach the server, in seconds.
     * 0 means 120, the cap of MLflow's Python client. Tests shorten it. */
    double max_retry_delay_s;
} advgnn_tracker_config;

typedef enum advgnn_run_status {
    ADVGNN_RUN_STATUS_INVALID = 0,
    ADVGNN_RUN_STATUS_FINISHED = 1,
    ADVGNN_RUN_STATUS_FAILED = 2,
    ADVGNN_RUN_STATUS_KILLED = 3
} advgnn_run_status;

/* Counts reported when a tracker closes. */
typedef struct advgnn_tracker_summary {
    size_t journaled;  /* records written to the journal by this tracker */
    size_t sent;       /* records the server acknowledged */
    size_t failed;     /* records the server rejected for good (kept in the journal) */
    size_t pending;    /* records still waiting in the journal for `advgnn sync` */
} advgnn_tracker_summary;

/* Opens the journal in <run_dir>/tracking/ (continuing an existing one) and,
 * with a URI, starts the delivery thread. `ctx` is borrowed and must outlive
 * the tracker; the delivery thread logs through it, so its log sink must be
 * thread-safe (the default one is). Invalid MLFLOW_* settings fail here with
 * ADVGNN_ERR_OPTION. Free with advgnn_tracker_close. */
int advgnn_tracker_open(advgnn_ctx *ctx, const advgnn_tracker_config *config, advgnn_tracker **out);

/* Starts a run. `run_key` is the caller's stable name for it (1-200
 * characters from [A-Za-z0-9_.:/=+-]); `parent_key` names an already started
 * run, or NULL for a top-level run. `run_name` (NULL = the key) is shown in the
 * MLflow UI; `note` (may be NULL) becomes mlflow.note.content. The run gets the
 * tags mlflow.user, mlflow.source.name/type and, when the script lies in a git
 * repository, mlflow.source.git.commit/branch. Starting a key that the journal
 * already contains (a resumed run) continues that run. */
int advgnn_tracker_start_run(advgnn_tracker *tracker, const char *run_key, const char *parent_key,
                             const char *run_name, const char *note);

/* The log calls journal one record each. Keys that MLflow rejects are
 * sanitized, so rejected characters become '_', with one warning per key.
 * Param values longer than 6000 bytes and tag values longer than 8000 bytes
 * are cut with a warning. The calls fail only on a local problem: an unknown
 * run key, the disk, or memory. */
int advgnn_tracker_log_param(advgnn_tracker *tracker, const char *run_key, const char *key, const char *value);

/* Logs a metric point. NaN and infinities are allowed. `timestamp_ms` is Unix
 * time in milliseconds; 0 means now. */
int advgnn_tracker_log_metric(advgnn_tracker *tracker, const char *run_key, const char *key, double value,
                              int64_t step, int64_t timestamp_ms);

int advgnn_tracker_set_tag(advgnn_tracker *tracker, const char *run_key, const char *key, const char *value);

/* Logs every leaf of a JSON object as a param named by its dotted path
 * ("encoder.depth", "scorers.1.k"): strings as they are, numbers as the
 * shortest text that reads back as the same double (integers without a
 * fraction), booleans as true/false, null as "null". */
int advgnn_tracker_log_params_json(advgnn_tracker *tracker, const char *run_key, const char *prefix,
                                   const cJSON *object);

/* Logs a dataset input (runs/log-inputs): `name`, `digest` (at most 36
 * characters; see advgnn_tracker_digest), `source` (a path) and `context`
 * ("training", "evaluation"; NULL = "training"). */
int advgnn_tracker_log_input(advgnn_tracker *tracker, const char *run_key, const char *name, const char *digest,
                             const char *source, const char *context);

/* Writes into `out` a 16-hex-digit digest of a list of strings (file paths),
 * order-sensitive. A change detector (FNV-1a), not a cryptographic hash. */
void advgnn_tracker_digest(const char *const *items, size_t count, char out[17]);

/* Uploads the file `local_path` into the run's artifacts under folder
 * `artifact_dir` ("" or NULL = top level). The file is read when it is sent,
 * so it must stay in place until the tracker is closed. A path inside the
 * run folder is journaled relative to it, so `advgnn sync` still finds the
 * file after the folder moved. */
int advgnn_tracker_log_artifact(advgnn_tracker *tracker, const char *run_key, const char *local_path,
                                const char *artifact_dir);

/* Chooses the run that receives values reported through
 * advgnn_tracker_metric_sink; NULL stops forwarding. */
int advgnn_tracker_set_metric_run(advgnn_tracker *tracker, const char *run_key);

/* An advgnn_metric_sink (advgnn/context.h) whose `user` is the tracker: logs
 * each value as a metric of the run chosen with advgnn_tracker_set_metric_run,
 * timestamped now. A failure is logged as a warning, never returned, so the
 * training loop that reports the value goes on. */
void advgnn_tracker_metric_sink(void *user, const char *key, double value, long long step);

/* Writes the journal to disk (fflush + fsync): call at checkpoints. */
int advgnn_tracker_checkpoint(advgnn_tracker *tracker);

/* Ends a run with FINISHED, FAILED or KILLED. With FAILED or KILLED, `error`
 * (may be NULL) is stored in the tag advgnn.error. Also checkpoints the journal. */
int advgnn_tracker_end_run(advgnn_tracker *tracker, const char *run_key, advgnn_run_status status,
                           const char *error);

/* Ends every run that is still open (nested runs included) like
 * advgnn_tracker_end_run, e.g. a category interrupted by the failure that
 * ends its parent. */
int advgnn_tracker_end_open_runs(advgnn_tracker *tracker, advgnn_run_status status, const char *error);

/* Returns the number of records journaled but not yet acknowledged or
 * rejected by the server (0 without a URI). */
size_t advgnn_tracker_pending(advgnn_tracker *tracker);

/* Ends runs still open (KILLED when advgnn_interrupted() is set, else FAILED),
 * fsyncs the journal, waits up to `wait_ms` for the delivery thread to send
 * what is left, stops it and frees the tracker. A SIGINT or SIGTERM that
 * arrives during the wait (advgnn_interrupted() turning nonzero) ends it
 * early. Records still waiting stay
 * in the journal, and one log line gives their count and the sync command.
 * Fills `summary` when not NULL. advgnn_tracker_close(NULL, ...) does nothing. */
int advgnn_tracker_close(advgnn_tracker *tracker, int wait_ms, advgnn_tracker_summary *summary);

#endif
