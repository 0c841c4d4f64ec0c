/* `advgnn sync`: replays the journal of a run folder to an MLflow server.
 * Private to the core and the CLI. */
#ifndef ADVGNN_TRACKING_SYNC_H
#define ADVGNN_TRACKING_SYNC_H

#include <stddef.h>

#include "advgnn/context.h"

typedef struct advgnn_sync_summary {
    size_t records;  /* records in the journal, header excluded */
    size_t sent;     /* records the server acknowledged during this call */
    size_t failed;   /* records the server rejected during this call (kept, listed as failed) */
    size_t pending;  /* records neither acknowledged nor rejected after this call */
} advgnn_sync_summary;

/* Sends every record of <run_dir>/tracking/journal.jsonl that the server at
 * `uri` has not acknowledged. Without `uri`, MLFLOW_TRACKING_URI is used, and
 * without that the server named by the run's one acknowledgement log (the
 * server the run itself delivered to). The acknowledgement
 * log is updated after each request. Records that may have reached the server
 * before a crash are checked there first: metric points against their
 * history, runs by their advgnn.run_key tag. Params, tags, run ends and
 * artifact uploads are idempotent in MLflow, so repeating them is harmless.
 * NOTE: dataset inputs are not checked; the SQL store of MLflow 3.17 skips a
 * dataset input that is already linked to the run.
 *
 * Retries follow MLFLOW_HTTP_REQUEST_MAX_RETRIES, and each is logged at warn
 * level. A refused connection is retried at most twice, at most 2 s apart. When the server stays
 * unreachable the call fails with ADVGNN_ERR_NETWORK and can be repeated.
 * A TLS handshake error or a 501 from a server that is not MLflow fails at
 * once with ADVGNN_ERR_OPTION. After SIGINT or SIGTERM (advgnn_interrupted())
 * the call stops within about a second and fails with ADVGNN_ERR_INTERRUPTED
 * when records remain. Returns ADVGNN_OK when nothing is pending. Rejected
 * records do not count as pending and are logged. `summary` may be NULL. */
int advgnn_tracking_sync(advgnn_ctx *ctx, const char *run_dir, const char *uri, advgnn_sync_summary *summary);

/* Checks a tracking URI before anything is written: an http:// or https://
 * URL with a host. Fails with ADVGNN_ERR_OPTION naming the URI and the
 * problem. */
int advgnn_tracking_check_uri(advgnn_ctx *ctx, const char *uri);

#endif
