/* Delivery of journal records to MLflow: requests, retries, acknowledgements. */
#include "tracking/delivery.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"

/* log-batch limits of MLflow 3.x servers (mlflow/utils/validation.py), with
 * the body kept below the 1,000,000-byte request limit by a margin for the
 * estimate's error. */
#define BATCH_MAX_METRICS 1000
#define BATCH_MAX_PARAMS 100
#define BATCH_MAX_TAGS 100
#define BATCH_MAX_ENTITIES 1000
#define BATCH_MAX_BYTES 900000

/* Rejections beyond this many are counted, not logged one by one. */
#define MAX_REJECTIONS_LOGGED 20

/* Cap on one wait between attempts, as in MLflow's client. */
#define MAX_BACKOFF_S 120.0

/* Max retries and the cap on one wait (seconds) of a non-persistent delivery
 * (`advgnn sync`) after a refused connection. No server listens on that port,
 * and a server that starts later is reached by running sync again. */
#define REFUSED_MAX_RETRIES 2
#define REFUSED_MAX_DELAY_S 2.0

typedef enum send_status { SEND_DONE = 0, SEND_PENDING = 1 } send_status;

/* ---- record fields ------------------------------------------------------------ */

static const char *field_str(const cJSON *record, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(record, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static long long field_int(const cJSON *record, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(record, name);

    return cJSON_IsNumber(item) ? (long long)item->valuedouble : 0;
}

static uint64_t record_seq(const cJSON *record)
{
    return (uint64_t)field_int(record, "seq");
}

/* A metric value as stored in the journal: a number or "NaN"/"Infinity"/"-Infinity". */
static double metric_value(const cJSON *record)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(record, "value");
    const char *text = cJSON_IsString(item) ? item->valuestring : NULL;

    if (cJSON_IsNumber(item))
        return item->valuedouble;
    if (text && strcmp(text, "Infinity") == 0)
        return INFINITY;
    if (text && strcmp(text, "-Infinity") == 0)
        return -INFINITY;
    return NAN;
}

/* ---- lifetime ------------------------------------------------------------------ */

static int never_stop(void *user, double seconds)
{
    (void)user;
    if (seconds > 0)
        usleep((useconds_t)(seconds * 1e6));
    return 0;
}

int trk_delivery_init(advgnn_ctx *ctx, advgnn_ctx *log_ctx, const char *uri, const char *run_dir, trk_delivery *d)
{
    int rc;

    memset(d, 0, sizeof(*d));
    d->ctx = ctx;
    d->log_ctx = log_ctx;
    d->wait = never_stop;
    d->max_delay_s = MAX_BACKOFF_S;
    d->jitter_seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
    d->acks.fd = -1;

    rc = trk_http_config_init(ctx, uri, &d->cfg);
    if (rc != ADVGNN_OK)
        return rc;
    d->run_dir = advgnn_strdup(run_dir);
    d->tracking_dir = advgnn_fs_join(run_dir, TRK_FOLDER);
    if (!d->run_dir || !d->tracking_dir) {
        trk_delivery_free(d);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory preparing tracking delivery");
    }
    rc = trk_http_init(ctx, &d->http, &d->cfg);
    if (rc == ADVGNN_OK)
        rc = trk_acks_open(ctx, d->tracking_dir, d->cfg.display, &d->acks);
    if (rc != ADVGNN_OK)
        trk_delivery_free(d);
    return rc;
}

void trk_delivery_free(trk_delivery *d)
{
    trk_http_free(&d->http);
    trk_acks_close(&d->acks);
    trk_http_config_free(&d->cfg);
    advgnn_free(d->run_dir);
    advgnn_free(d->tracking_dir);
    advgnn_free(d->journal_id);
    advgnn_free(d->experiment);
    cJSON_Delete(d->experiment_tags);
    advgnn_free(d->history_run);
    advgnn_free(d->history_key);
    advgnn_free(d->history);
    memset(d, 0, sizeof(*d));
    d->acks.fd = -1;
}

/* ---- one request with retries ---------------------------------------------------- */

typedef struct request {
    const char *method;
    const char *path;           /* API path, or NULL for an upload */
    const char *body;
    size_t len;
    const char *upload_url;     /* absolute URL of a PUT */
    const char *upload_file;
    const char *content_type;
} request;

/* Seconds to wait before retry number `retry` (1 = the first), as urllib3 2.x
 * computes it for MLflow's client: 0, then factor * 2^(retry - 1), plus
 * uniform jitter; a Retry-After from the server is a lower bound. */
static double backoff_s(trk_delivery *d, int retry, double retry_after_s)
{
    double delay = retry <= 1 ? 0 : d->cfg.backoff_factor_s * pow(2, retry - 1);

    if (d->cfg.backoff_jitter_s > 0)
        delay += d->cfg.backoff_jitter_s * ((double)rand_r(&d->jitter_seed) / ((double)RAND_MAX + 1));
    if (delay > d->max_delay_s)
        delay = d->max_delay_s;
    if (d->cfg.respect_retry_after && retry_after_s > delay)
        delay = retry_after_s;
    return delay;
}

/* Copies the "host:port" of a display URI ("https://host:port/path") into `out`. */
static void host_port(const char *display, char *out, size_t size)
{
    const char *start = strstr(display, "://");

    start = start ? start + 3 : display;
    snprintf(out, size, "%.*s", (int)strcspn(start, "/"), start);
}

static trk_outcome attempt(trk_delivery *d, const request *req, trk_response *resp)
{
    int rc;

    if (req->path)
        rc = trk_http_call(&d->http, req->method, req->path, req->body, req->len, resp);
    else
        rc = trk_http_put_file(&d->http, req->upload_url, req->upload_file, req->content_type, resp);

    /* A local failure (memory, unreadable file) is not the server's doing and
     * will not heal by retrying. */
    if (rc != ADVGNN_OK) {
        if (!resp->curl_error[0])
            snprintf(resp->curl_error, sizeof(resp->curl_error), "%s", advgnn_status_name(rc));
        resp->status = -1;
        return TRK_OUTCOME_REJECTED;
    }
    return trk_response_outcome(resp);
}

/* Sends `req` until the server accepts or rejects it for good. Returns
 * TRK_OUTCOME_OK or TRK_OUTCOME_REJECTED (with the response in `resp`), or 0
 * when the request stays pending: stopped, halted, or out of retries. */
static int deliver(trk_delivery *d, const request *req, trk_response *resp)
{
    char message[1024];
    int retry = 0;
    int max_retries;
    double delay_s;

    for (;;) {
        trk_outcome outcome = attempt(d, req, resp);

        if (outcome == TRK_OUTCOME_OK || outcome == TRK_OUTCOME_REJECTED) {
            if (d->offline_reported) {
                advgnn_log(d->log_ctx, ADVGNN_LOG_INFO, "tracking: MLflow server %s is reachable again",
                           d->cfg.display);
                d->offline_reported = 0;
            }
            return outcome;
        }

        trk_response_describe(resp, message, sizeof(message));
        if (outcome == TRK_OUTCOME_AUTH) {
            advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR,
                       "tracking: MLflow server %s rejected the credentials (%s); check MLFLOW_TRACKING_USERNAME "
                       "and MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN, then send the journal with "
                       "`advgnn sync %s`",
                       d->cfg.display, message, d->run_dir);
            advgnn_failf(d->ctx, ADVGNN_ERR_NETWORK, "MLflow server %s rejected the credentials: %s",
                         d->cfg.display, message);
            d->halted = 1;
            return 0;
        }
        if (outcome == TRK_OUTCOME_TLS && trk_response_not_tls(resp)) {
            char host[256];

            /* A live run logs the error here. Sync does not, because it prints the failure once. */
            host_port(d->cfg.display, host, sizeof(host));
            if (d->persistent)
                advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR,
                           "tracking: %s does not speak TLS (%s); use http://%s, then send the journal with "
                           "`advgnn sync %s`",
                           host, message, host, d->run_dir);
            advgnn_failf(d->ctx, ADVGNN_ERR_OPTION, "%s does not speak TLS (%s); use http://%s", host, message,
                         host);
            d->halted = 1;
            return 0;
        }
        if (outcome == TRK_OUTCOME_NOT_MLFLOW) {
            char reason[64];

            if (trk_response_is_html(resp))
                snprintf(reason, sizeof(reason), "HTTP %ld, HTML answer", resp->status);
            else
                snprintf(reason, sizeof(reason), "HTTP %ld without an MLflow error", resp->status);
            if (d->persistent)
                advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR,
                           "tracking: the server at %s is not an MLflow tracking server (%s); pass the URI of a "
                           "running `mlflow server`, then send the journal with `advgnn sync %s`",
                           d->cfg.display, reason, d->run_dir);
            advgnn_failf(d->ctx, ADVGNN_ERR_OPTION, "the server at %s is not an MLflow tracking server (%s)",
                         d->cfg.display, reason);
            d->halted = 1;
            return 0;
        }
        if (outcome == TRK_OUTCOME_TLS) {
            advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR,
                       "tracking: TLS with MLflow server %s failed (%s); check MLFLOW_TRACKING_SERVER_CERT_PATH, "
                       "MLFLOW_TRACKING_CLIENT_CERT_PATH or MLFLOW_TRACKING_INSECURE_TLS, then send the journal "
                       "with `advgnn sync %s`",
                       d->cfg.display, message, d->run_dir);
            advgnn_failf(d->ctx, ADVGNN_ERR_NETWORK, "TLS with MLflow server %s failed: %s", d->cfg.display,
                         message);
            d->halted = 1;
            return 0;
        }

        /* A transfer that the caller aborted (trk_http's should_abort) is not retried. */
        if (resp->status == 0 && resp->curl_code == CURLE_ABORTED_BY_CALLBACK)
            return 0;

        /* Transient: the server is down, slow, overloaded or requested a wait.
         * A one-off sync gives up sooner on a refused connection, because no
         * server listens there. 5xx responses and timeouts keep the full schedule. */
        retry++;
        max_retries = d->cfg.max_retries;
        if (!d->persistent && resp->status == 0 && resp->curl_code == CURLE_COULDNT_CONNECT &&
            max_retries > REFUSED_MAX_RETRIES)
            max_retries = REFUSED_MAX_RETRIES;
        if (retry > max_retries) {
            if (!d->persistent) {
                advgnn_failf(d->ctx, ADVGNN_ERR_NETWORK, "MLflow server %s did not respond after %d %s: %s",
                             d->cfg.display, max_retries, max_retries == 1 ? "retry" : "retries", message);
                return 0;
            }
            if (!d->offline_reported) {
                advgnn_log(d->log_ctx, ADVGNN_LOG_WARN,
                           "tracking: MLflow server %s is unreachable (%s); %zu records are waiting in %s, the "
                           "run continues and delivery keeps retrying",
                           d->cfg.display, message, d->waiting ? d->waiting(d->user) : 0, d->tracking_dir);
                d->offline_reported = 1;
            }
        }
        delay_s = backoff_s(d, retry, resp->retry_after_s);
        if (!d->persistent) {
            if (max_retries < d->cfg.max_retries && delay_s > REFUSED_MAX_DELAY_S)
                delay_s = REFUSED_MAX_DELAY_S;

            /* Without this line, a sync to a stopped server prints nothing for minutes. */
            advgnn_log(d->log_ctx, ADVGNN_LOG_WARN,
                       "tracking: MLflow server %s: %s; retry %d of %d in %.1f s", d->cfg.display, message, retry,
                       max_retries, delay_s);
        }
        if (d->wait(d->user, delay_s))
            return 0;
    }
}

/* ---- acknowledgements ----------------------------------------------------------------- */

/* Acknowledges the seqs of `records`, one line per contiguous range. */
static int ack_records(trk_delivery *d, cJSON *const *records, size_t count)
{
    size_t i = 0;

    while (i < count) {
        uint64_t first = record_seq(records[i]);
        uint64_t last = first;
        int rc;

        while (i + 1 < count && record_seq(records[i + 1]) == last + 1) {
            last++;
            i++;
        }
        i++;
        rc = trk_acks_write_ack(d->ctx, &d->acks, first, last);
        if (rc != ADVGNN_OK)
            return rc;
    }
    return ADVGNN_OK;
}

static int write_intent(trk_delivery *d, cJSON *const *records, size_t count)
{
    uint64_t first = record_seq(records[0]);
    uint64_t last = record_seq(records[count - 1]);

    return trk_acks_write_intent(d->ctx, &d->acks, first < last ? first : last, first < last ? last : first);
}

/* Marks one record rejected for good: logged (rate-limited), kept in the
 * journal, listed as failed in the acknowledgement log. */
static void reject(trk_delivery *d, const cJSON *record, long http_status, const char *message)
{
    const char *type = field_str(record, "type");
    const char *key = field_str(record, "key");
    const char *run = field_str(record, "run");

    d->failed++;
    if (d->rejections_logged < MAX_REJECTIONS_LOGGED) {
        /* Without an HTTP status, the record failed locally before the server received it. */
        advgnn_log(d->log_ctx, ADVGNN_LOG_WARN,
                   http_status > 0 ? "tracking: MLflow server rejected %s%s%s of run %s: %s"
                                   : "tracking: cannot send %s%s%s of run %s: %s",
                   type ? type : "record", key ? " " : "", key ? key : "", run ? run : "?", message);
        d->rejections_logged++;
        if (d->rejections_logged == MAX_REJECTIONS_LOGGED)
            advgnn_log(d->log_ctx, ADVGNN_LOG_WARN,
                       "tracking: further rejections are not logged; they are listed in %s", d->acks.path);
    }
    if (trk_acks_write_failed(d->ctx, &d->acks, record_seq(record), http_status, message) != ADVGNN_OK ||
        trk_acks_write_ack(d->ctx, &d->acks, record_seq(record), record_seq(record)) != ADVGNN_OK)
        advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR, "tracking: %s", advgnn_ctx_error(d->ctx));
}

static void reject_with_response(trk_delivery *d, const cJSON *record, const trk_response *resp)
{
    char message[1024];

    trk_response_describe(resp, message, sizeof(message));
    reject(d, record, resp->status, message);
}

/* ---- experiment and runs ------------------------------------------------------------- */

static char *experiment_id_from(const trk_response *resp, int nested)
{
    cJSON *json = cJSON_Parse(resp->body.data ? resp->body.data : "");
    const cJSON *holder = nested ? cJSON_GetObjectItemCaseSensitive(json, "experiment") : json;
    const char *id = field_str(holder, "experiment_id");
    char *copy = id ? advgnn_strdup(id) : NULL;

    cJSON_Delete(json);
    return copy;
}

static int get_experiment(trk_delivery *d, trk_response *resp)
{
    trk_buf path = {0};
    request req = {"GET", NULL, NULL, 0, NULL, NULL, NULL};
    int outcome;

    trk_buf_puts(&path, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=");
    trk_url_encode(&path, d->experiment);
    if (path.failed)
        return TRK_OUTCOME_REJECTED;
    req.path = path.data;
    outcome = deliver(d, &req, resp);
    trk_buf_free(&path);
    return outcome;
}

static int create_experiment(trk_delivery *d, trk_response *resp)
{
    trk_buf body = {0};
    request req = {"POST", "/api/2.0/mlflow/experiments/create", NULL, 0, NULL, NULL, NULL};
    const cJSON *tag;
    int first = 1;
    int outcome;

    trk_buf_puts(&body, "{\"name\":");
    trk_buf_json_string(&body, d->experiment);
    trk_buf_puts(&body, ",\"tags\":[");
    cJSON_ArrayForEach(tag, d->experiment_tags)
    {
        if (!cJSON_IsString(tag))
            continue;
        trk_buf_puts(&body, first ? "{\"key\":" : ",{\"key\":");
        trk_buf_json_string(&body, tag->string);
        trk_buf_puts(&body, ",\"value\":");
        trk_buf_json_string(&body, tag->valuestring);
        trk_buf_puts(&body, "}");
        first = 0;
    }
    trk_buf_puts(&body, "]}");
    if (body.failed)
        return TRK_OUTCOME_REJECTED;
    req.body = body.data;
    req.len = body.len;
    outcome = deliver(d, &req, resp);
    trk_buf_free(&body);
    return outcome;
}

/* Looks the experiment up by name, creating it (with its tags) when missing.
 * Returns SEND_DONE with d->acks.experiment_id set, SEND_DONE with
 * d->experiment_failed set, or SEND_PENDING. */
static send_status ensure_experiment(trk_delivery *d)
{
    trk_response resp = {0};
    char message[1024];
    char *id = NULL;
    int outcome;

    if (d->acks.experiment_id || d->experiment_failed)
        return SEND_DONE;
    if (!d->experiment) {
        advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR, "tracking: the journal has no header record naming the experiment");
        d->experiment_failed = 1;
        return SEND_DONE;
    }

    /* get-by-name, then create on 404, then get again if another process
     * created it meanwhile (RESOURCE_ALREADY_EXISTS). */
    for (int round = 0; round < 2 && !id; round++) {
        outcome = get_experiment(d, &resp);
        if (outcome == TRK_OUTCOME_OK) {
            id = experiment_id_from(&resp, 1);
            break;
        }
        if (outcome == 0) {
            trk_response_free(&resp);
            return SEND_PENDING;
        }
        if (resp.status != 404)
            break;
        outcome = create_experiment(d, &resp);
        if (outcome == 0) {
            trk_response_free(&resp);
            return SEND_PENDING;
        }
        if (outcome == TRK_OUTCOME_OK)
            id = experiment_id_from(&resp, 0);
        else if (!resp.body.data || !strstr(resp.body.data, "RESOURCE_ALREADY_EXISTS"))
            break;
    }

    if (!id) {
        trk_response_describe(&resp, message, sizeof(message));
        advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR, "tracking: cannot get or create MLflow experiment '%s': %s",
                   d->experiment, message);
        d->experiment_failed = 1;
    } else if (trk_acks_write_experiment(d->ctx, &d->acks, id) != ADVGNN_OK) {
        advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR, "tracking: %s", advgnn_ctx_error(d->ctx));
        d->halted = 1;
        advgnn_free(id);
        trk_response_free(&resp);
        return SEND_PENDING;
    }
    advgnn_free(id);
    trk_response_free(&resp);
    return SEND_DONE;
}

/* Records the run named in a runs/create or runs/search response. Returns 1
 * when one was found and recorded. */
static int record_run_from(trk_delivery *d, const char *key, const trk_response *resp, int from_search)
{
    cJSON *json = cJSON_Parse(resp->body.data ? resp->body.data : "");
    const cJSON *run = from_search ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(json, "runs"), 0)
                                   : cJSON_GetObjectItemCaseSensitive(json, "run");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info");
    const char *run_id = field_str(info, "run_id");
    const char *artifact_uri = field_str(info, "artifact_uri");
    int found = 0;

    if (run_id) {
        if (trk_acks_write_run(d->ctx, &d->acks, key, run_id, artifact_uri) == ADVGNN_OK)
            found = 1;
        else
            advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR, "tracking: %s", advgnn_ctx_error(d->ctx));
    }
    cJSON_Delete(json);
    return found;
}

/* Searches the server for a run that this journal created before a crash. */
static send_status find_existing_run(trk_delivery *d, const char *key, int *found)
{
    trk_buf body = {0};
    trk_response resp = {0};
    request req = {"POST", "/api/2.0/mlflow/runs/search", NULL, 0, NULL, NULL, NULL};
    char filter[512];
    int outcome;

    *found = 0;
    snprintf(filter, sizeof(filter), "tags.`%s` = '%s/%s'", TRK_RUN_KEY_TAG, d->journal_id, key);
    trk_buf_puts(&body, "{\"experiment_ids\":[");
    trk_buf_json_string(&body, d->acks.experiment_id);
    trk_buf_puts(&body, "],\"filter\":");
    trk_buf_json_string(&body, filter);
    trk_buf_puts(&body, ",\"run_view_type\":\"ALL\",\"max_results\":1}");
    req.body = body.data;
    req.len = body.len;
    outcome = body.failed ? TRK_OUTCOME_REJECTED : deliver(d, &req, &resp);
    if (outcome == TRK_OUTCOME_OK)
        *found = record_run_from(d, key, &resp, 1);
    trk_buf_free(&body);
    trk_response_free(&resp);
    return outcome == 0 ? SEND_PENDING : SEND_DONE;
}

static void append_tag(trk_buf *body, int *first, const char *key, const char *value)
{
    trk_buf_puts(body, *first ? "{\"key\":" : ",{\"key\":");
    trk_buf_json_string(body, key);
    trk_buf_puts(body, ",\"value\":");
    trk_buf_json_string(body, value);
    trk_buf_puts(body, "}");
    *first = 0;
}

static send_status send_run(trk_delivery *d, cJSON *record)
{
    const char *key = field_str(record, "run");
    const char *parent = field_str(record, "parent");
    const char *name = field_str(record, "name");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(record, "tags");
    const trk_run_entry *parent_run = NULL;
    request req = {"POST", "/api/2.0/mlflow/runs/create", NULL, 0, NULL, NULL, NULL};
    trk_response resp = {0};
    trk_buf body = {0};
    char run_key_tag[256];
    const cJSON *tag;
    int first = 1;
    int outcome;
    int found;

    if (!key) {
        reject(d, record, 0, "run record without a key");
        return SEND_DONE;
    }
    if (trk_acks_find_run(&d->acks, key))
        return ack_records(d, &record, 1) == ADVGNN_OK ? SEND_DONE : SEND_PENDING;
    if (ensure_experiment(d) == SEND_PENDING)
        return SEND_PENDING;
    if (d->experiment_failed) {
        reject(d, record, 0, "the MLflow experiment could not be created");
        return SEND_DONE;
    }
    if (parent && !(parent_run = trk_acks_find_run(&d->acks, parent))) {
        reject(d, record, 0, "its parent run was not created");
        return SEND_DONE;
    }

    if (d->replay) {
        if (find_existing_run(d, key, &found) == SEND_PENDING)
            return SEND_PENDING;
        if (found)
            return ack_records(d, &record, 1) == ADVGNN_OK ? SEND_DONE : SEND_PENDING;
    }

    snprintf(run_key_tag, sizeof(run_key_tag), "%s/%s", d->journal_id, key);
    trk_buf_puts(&body, "{\"experiment_id\":");
    trk_buf_json_string(&body, d->acks.experiment_id);
    trk_buf_puts(&body, ",\"run_name\":");
    trk_buf_json_string(&body, name ? name : key);
    trk_buf_printf(&body, ",\"start_time\":%lld,\"tags\":[", field_int(record, "start"));
    append_tag(&body, &first, TRK_RUN_KEY_TAG, run_key_tag);
    if (parent_run)
        append_tag(&body, &first, "mlflow.parentRunId", parent_run->run_id);
    cJSON_ArrayForEach(tag, tags)
    {
        if (cJSON_IsString(tag))
            append_tag(&body, &first, tag->string, tag->valuestring);
    }
    trk_buf_puts(&body, "]}");
    if (body.failed) {
        reject(d, record, 0, "out of memory building the request");
        return SEND_DONE;
    }

    req.body = body.data;
    req.len = body.len;
    outcome = write_intent(d, &record, 1) == ADVGNN_OK ? deliver(d, &req, &resp) : 0;
    if (outcome == TRK_OUTCOME_OK && record_run_from(d, key, &resp, 0)) {
        outcome = ack_records(d, &record, 1) == ADVGNN_OK ? TRK_OUTCOME_OK : 0;
        d->sent += outcome ? 1 : 0;
    }
    else if (outcome == TRK_OUTCOME_OK)
        outcome = 0;
    else if (outcome == TRK_OUTCOME_REJECTED)
        reject_with_response(d, record, &resp);
    trk_buf_free(&body);
    trk_response_free(&resp);
    return outcome == 0 ? SEND_PENDING : SEND_DONE;
}

/* Finds the server's run for a run-scoped record, rejecting the record when
 * its run was never created. NULL means the record is done (rejected). */
static const trk_run_entry *run_of(trk_delivery *d, const cJSON *record)
{
    const char *key = field_str(record, "run");
    const trk_run_entry *run = key ? trk_acks_find_run(&d->acks, key) : NULL;

    if (!run)
        reject(d, record, 0, "its run was not created on the server");
    return run;
}

/* ---- params, metrics and tags in log-batch requests --------------------------------------- */

static int is_batched(const char *type)
{
    return strcmp(type, "param") == 0 || strcmp(type, "metric") == 0 || strcmp(type, "tag") == 0;
}

static int same_key_in(cJSON *const *records, size_t count, const char *type, const char *key)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(field_str(records[i], "type"), type) == 0 && strcmp(field_str(records[i], "key"), key) == 0)
            return 1;
    return 0;
}

/* Counts how many leading records fit one log-batch request: same run, not
 * yet done, within MLflow's limits, no key twice among params or tags. */
static size_t batch_length(trk_delivery *d, cJSON *const *records, size_t count)
{
    const char *run = field_str(records[0], "run");
    size_t metrics = 0, params = 0, tags = 0, bytes = 200;
    size_t n = 0;

    for (; n < count; n++) {
        const cJSON *r = records[n];
        const char *type = field_str(r, "type");
        const char *key = field_str(r, "key");
        const char *value = field_str(r, "value");
        const char *r_run = field_str(r, "run");

        if (!type || !is_batched(type) || !key || !r_run || strcmp(r_run, run) != 0 ||
            trk_acks_is_done(&d->acks, record_seq(r)))
            break;
        bytes += strlen(key) * 2 + (value ? strlen(value) * 2 : 32) + 80;
        if (type[0] == 'm')
            metrics++;
        else if (type[0] == 'p')
            params++;
        else
            tags++;
        if (metrics > BATCH_MAX_METRICS || params > BATCH_MAX_PARAMS || tags > BATCH_MAX_TAGS ||
            metrics + params + tags > BATCH_MAX_ENTITIES || (bytes > BATCH_MAX_BYTES && n > 0))
            break;
        if (type[0] != 'm' && same_key_in(records, n, type, key))
            break;
    }
    return n;
}

static void append_metric(trk_buf *body, const cJSON *r)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(r, "value");

    trk_buf_puts(body, "{\"key\":");
    trk_buf_json_string(body, field_str(r, "key"));
    trk_buf_puts(body, ",\"value\":");
    if (cJSON_IsString(value))
        trk_buf_json_string(body, value->valuestring);
    else
        trk_buf_json_double(body, metric_value(r));
    trk_buf_printf(body, ",\"timestamp\":%lld,\"step\":%lld}", field_int(r, "ts"), field_int(r, "step"));
}

static void append_key_value(trk_buf *body, const cJSON *r)
{
    trk_buf_puts(body, "{\"key\":");
    trk_buf_json_string(body, field_str(r, "key"));
    trk_buf_puts(body, ",\"value\":");
    trk_buf_json_string(body, field_str(r, "value") ? field_str(r, "value") : "");
    trk_buf_puts(body, "}");
}

/* Builds the log-batch body for the records whose `send` flag is set. */
static void build_batch(trk_buf *body, const char *run_id, cJSON *const *records, const char *send, size_t count)
{
    static const char *const sections[3] = {"metric", "param", "tag"};

    trk_buf_puts(body, "{\"run_id\":");
    trk_buf_json_string(body, run_id);
    for (int s = 0; s < 3; s++) {
        int first = 1;

        trk_buf_printf(body, ",\"%ss\":[", sections[s]);
        for (size_t i = 0; i < count; i++) {
            if (!send[i] || strcmp(field_str(records[i], "type"), sections[s]) != 0)
                continue;
            if (!first)
                trk_buf_puts(body, ",");
            if (s == 0)
                append_metric(body, records[i]);
            else
                append_key_value(body, records[i]);
            first = 0;
        }
        trk_buf_puts(body, "]");
    }
    trk_buf_puts(body, "}");
}

/* Loads the server's history of one metric into the cache. 0 = pending. */
static int load_history(trk_delivery *d, const char *run_id, const char *key)
{
    trk_buf path = {0};
    trk_response resp = {0};
    request req = {"GET", NULL, NULL, 0, NULL, NULL, NULL};
    cJSON *json;
    const cJSON *metrics;
    const cJSON *m;
    int outcome;

    if (d->history_run && strcmp(d->history_run, run_id) == 0 && strcmp(d->history_key, key) == 0)
        return 1;
    advgnn_free(d->history_run);
    advgnn_free(d->history_key);
    advgnn_free(d->history);
    d->history_run = d->history_key = NULL;
    d->history = NULL;
    d->history_count = 0;

    /* NOTE: reads one page of up to 25000 points; a longer history is only
     * partly checked, and the server's own de-duplication covers the rest. */
    trk_buf_puts(&path, "/api/2.0/mlflow/metrics/get-history?max_results=25000&run_id=");
    trk_url_encode(&path, run_id);
    trk_buf_puts(&path, "&metric_key=");
    trk_url_encode(&path, key);
    req.path = path.data;
    outcome = path.failed ? TRK_OUTCOME_REJECTED : deliver(d, &req, &resp);
    trk_buf_free(&path);
    if (outcome == 0) {
        trk_response_free(&resp);
        return 0;
    }

    json = NULL;
    if (outcome == TRK_OUTCOME_OK && resp.body.data)
        json = cJSON_Parse(resp.body.data);
    metrics = cJSON_GetObjectItemCaseSensitive(json, "metrics");
    d->history = advgnn_calloc((size_t)cJSON_GetArraySize(metrics) + 1, sizeof(*d->history));
    d->history_run = advgnn_strdup(run_id);
    d->history_key = advgnn_strdup(key);
    if (d->history && d->history_run && d->history_key) {
        cJSON_ArrayForEach(m, metrics)
        {
            trk_point *p = &d->history[d->history_count++];

            p->value = metric_value(m);
            p->timestamp_ms = field_int(m, "timestamp");
            p->step = field_int(m, "step");
        }
    }
    cJSON_Delete(json);
    trk_response_free(&resp);
    return 1;
}

static int same_value(double stored, double value)
{
    /* The SQL store keeps infinities as +-DBL_MAX and NaN as a flag. */
    if (isnan(value))
        return isnan(stored);
    if (isinf(value))
        return stored == (value > 0 ? DBL_MAX : -DBL_MAX) || stored == value;
    return stored == value;
}

/* Replay check: nonzero when the server already stored this metric point. */
static int metric_on_server(trk_delivery *d, const char *run_id, const cJSON *r, int *pending)
{
    double value = metric_value(r);
    long long ts = field_int(r, "ts");
    long long step = field_int(r, "step");

    if (!load_history(d, run_id, field_str(r, "key"))) {
        *pending = 1;
        return 0;
    }
    for (size_t i = 0; i < d->history_count; i++)
        if (d->history[i].step == step && d->history[i].timestamp_ms == ts && same_value(d->history[i].value, value))
            return 1;
    return 0;
}

static size_t send_batch(trk_delivery *d, cJSON *const *records, size_t count);

/* After a batch was rejected, sends each record alone so that only the
 * offending ones fail. Returns how many leading records are done. */
static size_t send_one_by_one(trk_delivery *d, cJSON *const *records, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (send_batch(d, records + i, 1) == 0)
            return i;
    return count;
}

static size_t send_batch(trk_delivery *d, cJSON *const *records, size_t count)
{
    const trk_run_entry *run = run_of(d, records[0]);
    request req = {"POST", "/api/2.0/mlflow/runs/log-batch", NULL, 0, NULL, NULL, NULL};
    trk_response resp = {0};
    trk_buf body = {0};
    char *send;
    size_t sending = 0;
    size_t done = count;
    int outcome;

    if (!run) {
        for (size_t i = 1; i < count; i++)
            reject(d, records[i], 0, "its run was not created on the server");
        return count;
    }
    send = advgnn_calloc(count, 1);
    if (!send)
        return 0;

    /* A replay leaves out metric points that reached the server before a crash. */
    for (size_t i = 0; i < count; i++) {
        int pending = 0;

        send[i] = 1;
        if (d->replay && strcmp(field_str(records[i], "type"), "metric") == 0 &&
            trk_acks_in_open_intent(&d->acks, record_seq(records[i])))
            send[i] = !metric_on_server(d, run->run_id, records[i], &pending);
        if (pending) {
            advgnn_free(send);
            return 0;
        }
        sending += send[i] ? 1 : 0;
    }

    build_batch(&body, run->run_id, records, send, count);
    req.body = body.data;
    req.len = body.len;
    if (body.failed || write_intent(d, records, count) != ADVGNN_OK)
        outcome = 0;
    else if (sending == 0)
        outcome = TRK_OUTCOME_OK;
    else
        outcome = deliver(d, &req, &resp);

    if (outcome == TRK_OUTCOME_OK) {
        if (ack_records(d, records, count) != ADVGNN_OK)
            done = 0;
        else
            d->sent += sending;
    } else if (outcome == TRK_OUTCOME_REJECTED && count == 1) {
        reject_with_response(d, records[0], &resp);
    } else if (outcome == TRK_OUTCOME_REJECTED) {
        done = send_one_by_one(d, records, count);
    } else {
        done = 0;
    }
    advgnn_free(send);
    trk_buf_free(&body);
    trk_response_free(&resp);
    return done;
}

/* ---- inputs, artifacts, run ends ---------------------------------------------------------- */

static send_status send_simple(trk_delivery *d, cJSON *record, const request *req)
{
    trk_response resp = {0};
    int outcome = write_intent(d, &record, 1) == ADVGNN_OK ? deliver(d, req, &resp) : 0;

    if (outcome == TRK_OUTCOME_OK) {
        outcome = ack_records(d, &record, 1) == ADVGNN_OK ? outcome : 0;
        if (outcome)
            d->sent++;
    } else if (outcome == TRK_OUTCOME_REJECTED) {
        reject_with_response(d, record, &resp);
    }
    trk_response_free(&resp);
    return outcome == 0 ? SEND_PENDING : SEND_DONE;
}

static send_status send_input(trk_delivery *d, cJSON *record)
{
    const trk_run_entry *run = run_of(d, record);
    request req = {"POST", "/api/2.0/mlflow/runs/log-inputs", NULL, 0, NULL, NULL, NULL};
    trk_buf source = {0};
    trk_buf body = {0};
    send_status status;

    if (!run)
        return SEND_DONE;

    /* MLflow's local datasets describe their source as JSON {"uri": path}. */
    trk_buf_puts(&source, "{\"uri\": ");
    trk_buf_json_string(&source, field_str(record, "source") ? field_str(record, "source") : "");
    trk_buf_puts(&source, "}");

    trk_buf_puts(&body, "{\"run_id\":");
    trk_buf_json_string(&body, run->run_id);
    trk_buf_puts(&body, ",\"datasets\":[{\"tags\":[{\"key\":\"mlflow.data.context\",\"value\":");
    trk_buf_json_string(&body, field_str(record, "context") ? field_str(record, "context") : "training");
    trk_buf_puts(&body, "}],\"dataset\":{\"name\":");
    trk_buf_json_string(&body, field_str(record, "name"));
    trk_buf_puts(&body, ",\"digest\":");
    trk_buf_json_string(&body, field_str(record, "digest"));
    trk_buf_puts(&body, ",\"source_type\":\"local\",\"source\":");
    trk_buf_json_string(&body, source.data ? source.data : "{}");
    trk_buf_puts(&body, "}}]}");

    if (source.failed || body.failed) {
        reject(d, record, 0, "out of memory building the request");
        status = SEND_DONE;
    } else {
        req.body = body.data;
        req.len = body.len;
        status = send_simple(d, record, &req);
    }
    trk_buf_free(&source);
    trk_buf_free(&body);
    return status;
}

static const char *content_type_of(const char *path)
{
    static const char *const table[][2] = {
        {".json", "application/json"}, {".csv", "text/csv"},       {".txt", "text/plain"},
        {".lua", "text/plain"},        {".svg", "image/svg+xml"},  {".png", "image/png"},
        {".jpg", "image/jpeg"},        {".html", "text/html"},     {".yaml", "application/yaml"},
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < ADVGNN_ARRAY_LEN(table); i++)
        if (strcmp(dot, table[i][0]) == 0)
            return table[i][1];
    return "application/octet-stream";
}

/* Appends each '/'-separated segment of `path` percent-encoded. */
static void append_path(trk_buf *url, const char *path)
{
    while (*path) {
        size_t len = strcspn(path, "/");
        char segment[1024];

        if (len > 0 && len < sizeof(segment)) {
            memcpy(segment, path, len);
            segment[len] = '\0';
            trk_buf_puts(url, "/");
            trk_url_encode(url, segment);
        }
        path += len;
        if (*path == '/')
            path++;
    }
}

/* Builds the upload URL from the run's artifact_uri, as MLflow's client
 * resolves mlflow-artifacts URIs. Returns 0 when the server does not proxy
 * this artifact location. */
static int artifact_url(const trk_delivery *d, const char *artifact_uri, trk_buf *url)
{
    static const char prefix[] = "mlflow-artifacts:";
    static const char api[] = "/api/2.0/mlflow-artifacts/artifacts";

    if (strncmp(artifact_uri, prefix, sizeof(prefix) - 1) == 0) {
        const char *rest = artifact_uri + sizeof(prefix) - 1;

        if (strncmp(rest, "//", 2) == 0 && rest[2] != '/') {
            /* mlflow-artifacts://host:port/path names another host. */
            const char *path = strchr(rest + 2, '/');
            const char *scheme_end = strstr(d->cfg.base, "://");

            trk_buf_append(url, d->cfg.base, (size_t)(scheme_end - d->cfg.base) + 3);
            trk_buf_append(url, rest + 2, path ? (size_t)(path - rest - 2) : strlen(rest + 2));
            trk_buf_puts(url, api);
            append_path(url, path ? path : "");
            return 1;
        }
        trk_buf_puts(url, d->cfg.base);
        trk_buf_puts(url, api);
        append_path(url, rest);
        return 1;
    }
    if ((strncmp(artifact_uri, "http://", 7) == 0 || strncmp(artifact_uri, "https://", 8) == 0) &&
        strstr(artifact_uri, api)) {
        trk_buf_puts(url, artifact_uri);
        while (url->len > 0 && url->data[url->len - 1] == '/')
            url->data[--url->len] = '\0';
        return 1;
    }
    return 0;
}

static send_status send_artifact(trk_delivery *d, cJSON *record)
{
    const trk_run_entry *run = run_of(d, record);
    const char *path = field_str(record, "path");
    const char *dest = field_str(record, "dest");
    request req = {"PUT", NULL, NULL, 0, NULL, NULL, NULL};
    trk_buf url = {0};
    char *local = NULL;
    const char *base;
    send_status status;
    char message[1200];

    if (!run)
        return SEND_DONE;
    if (!path) {
        reject(d, record, 0, "artifact record without a path");
        return SEND_DONE;
    }

    local = path[0] == '/' ? advgnn_strdup(path) : advgnn_fs_join(d->run_dir, path);
    if (!local || !artifact_url(d, run->artifact_uri, &url)) {
        snprintf(message, sizeof(message),
                 "artifact location '%s' is not served by the tracking server; start `mlflow server` with "
                 "--serve-artifacts and an mlflow-artifacts:/ default artifact root",
                 run->artifact_uri);
        reject(d, record, 0, local ? message : "out of memory");
        advgnn_free(local);
        trk_buf_free(&url);
        return SEND_DONE;
    }
    if (!advgnn_fs_is_file(local)) {
        snprintf(message, sizeof(message), "artifact file %s is missing", local);
        reject(d, record, 0, message);
        advgnn_free(local);
        trk_buf_free(&url);
        return SEND_DONE;
    }

    append_path(&url, dest ? dest : "");
    base = strrchr(local, '/') ? strrchr(local, '/') + 1 : local;
    trk_buf_puts(&url, "/");
    trk_url_encode(&url, base);
    req.upload_url = url.data;
    req.upload_file = local;
    req.content_type = content_type_of(local);
    status = url.failed ? SEND_PENDING : send_simple(d, record, &req);
    advgnn_free(local);
    trk_buf_free(&url);
    return status;
}

static send_status send_end(trk_delivery *d, cJSON *record)
{
    const trk_run_entry *run = run_of(d, record);
    request req = {"POST", "/api/2.0/mlflow/runs/update", NULL, 0, NULL, NULL, NULL};
    trk_buf body = {0};
    const char *status_name = field_str(record, "status");
    send_status status;

    if (!run)
        return SEND_DONE;
    trk_buf_puts(&body, "{\"run_id\":");
    trk_buf_json_string(&body, run->run_id);
    trk_buf_puts(&body, ",\"status\":");
    trk_buf_json_string(&body, status_name ? status_name : "FINISHED");
    trk_buf_printf(&body, ",\"end_time\":%lld}", field_int(record, "ts"));
    req.body = body.data;
    req.len = body.len;
    status = body.failed ? SEND_PENDING : send_simple(d, record, &req);
    trk_buf_free(&body);
    return status;
}

/* ---- the journal header ------------------------------------------------------------------- */

static void read_header(trk_delivery *d, const cJSON *record)
{
    const char *id = field_str(record, "id");
    const char *experiment = field_str(record, "experiment");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(record, "experiment_tags");

    if (d->journal_id)
        return;
    d->journal_id = advgnn_strdup(id ? id : "unknown");
    d->experiment = advgnn_strdup(experiment ? experiment : "Default");
    d->experiment_tags = cJSON_IsObject(tags) ? cJSON_Duplicate(tags, 1) : NULL;
    if (!d->journal_id || !d->experiment) {
        advgnn_log(d->log_ctx, ADVGNN_LOG_ERROR, "tracking: out of memory reading the journal header");
        d->halted = 1;
    }
}

/* ---- processing ------------------------------------------------------------------------------ */

/* Delivers `records` as trk_delivery_process does. When `held_back` is not
 * NULL, a last log-batch that is not full and ends with `records` is left for
 * the next call, and its record count is stored in `*held_back`. */
static size_t process(trk_delivery *d, cJSON *const *records, size_t count, size_t *held_back)
{
    size_t i = 0;

    while (i < count && !d->halted) {
        cJSON *record = records[i];
        const char *type = field_str(record, "type");
        send_status status = SEND_DONE;
        size_t n;

        if (!type) {
            i++;
            continue;
        }
        if (strcmp(type, "journal") == 0) {
            read_header(d, record);
            i++;
            continue;
        }
        if (trk_acks_is_done(&d->acks, record_seq(record))) {
            i++;
            continue;
        }

        if (is_batched(type)) {
            n = batch_length(d, records + i, count - i);
            if (n == 0)
                n = 1;

            /* Each request has a fixed cost on the server (with MLflow
             * 3.17.2, 96 points took a quarter of the time of 1000). So a
             * batch cut short only by the end of `records` waits for the
             * records that the next call brings. */
            if (held_back && i > 0 && i + n == count && n < BATCH_MAX_ENTITIES) {
                *held_back = n;
                return i;
            }
            size_t done = send_batch(d, records + i, n);

            if (done < n)
                return i + done;
            i += n;
            continue;
        }

        if (strcmp(type, "run") == 0)
            status = send_run(d, record);
        else if (strcmp(type, "input") == 0)
            status = send_input(d, record);
        else if (strcmp(type, "artifact") == 0)
            status = send_artifact(d, record);
        else if (strcmp(type, "end") == 0)
            status = send_end(d, record);
        else
            reject(d, record, 0, "unknown record type");
        if (status == SEND_PENDING)
            return i;
        i++;
    }
    return i;
}

size_t trk_delivery_process(trk_delivery *d, cJSON *const *records, size_t count)
{
    return process(d, records, count, NULL);
}

size_t trk_delivery_process_partial(trk_delivery *d, cJSON *const *records, size_t count, size_t *held_back)
{
    *held_back = 0;
    return process(d, records, count, held_back);
}
