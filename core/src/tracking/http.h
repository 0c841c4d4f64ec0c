/* HTTP to an MLflow tracking server through libcurl. Private to core/src/tracking.
 *
 * Settings come from the same environment variables as MLflow's Python client
 * (read once when the configuration is built):
 *   MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD   basic auth (checked first)
 *   MLFLOW_TRACKING_TOKEN                                 bearer token
 *   MLFLOW_TRACKING_INSECURE_TLS                          true/false/1/0: skip TLS verification
 *   MLFLOW_TRACKING_SERVER_CERT_PATH                      CA bundle for the server's certificate
 *   MLFLOW_TRACKING_CLIENT_CERT_PATH                      client certificate (PEM, key included)
 *   MLFLOW_HTTP_REQUEST_TIMEOUT                           seconds per request (default 120)
 *   MLFLOW_HTTP_REQUEST_MAX_RETRIES                       retries per request (default 7, < 10)
 *   MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR                    seconds (default 2; fractions accepted)
 *   MLFLOW_HTTP_REQUEST_BACKOFF_JITTER                    seconds of uniform jitter (default 1)
 *   MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER                true/false (default true)
 * Secrets stay in this struct: messages use `display`, the URI without
 * user information. */
#ifndef ADVGNN_TRACKING_HTTP_H
#define ADVGNN_TRACKING_HTTP_H

#include <curl/curl.h>

#include "tracking/journal.h"

typedef struct trk_http_config {
    char *base;            /* tracking URI without trailing '/' (may hold user:password@) */
    char *display;         /* `base` without user information, safe to log */
    char *username;        /* secrets: never logged */
    char *password;
    char *token;
    int insecure_tls;
    char *server_cert_path;
    char *client_cert_path;
    long timeout_s;        /* per API request, connect included */
    int max_retries;
    double backoff_factor_s;
    double backoff_jitter_s;
    int respect_retry_after;
} trk_http_config;

/* Builds the configuration for `uri` (http:// or https://) from the
 * environment. Invalid values fail with ADVGNN_ERR_OPTION naming the variable. */
ADVGNN_INTERNAL int trk_http_config_init(advgnn_ctx *ctx, const char *uri, trk_http_config *cfg);

/* Checks that `uri` is an http:// or https:// URL with a host that curl can
 * parse. Fails with ADVGNN_ERR_OPTION naming the URI and the problem. */
ADVGNN_INTERNAL int trk_check_uri(advgnn_ctx *ctx, const char *uri);
ADVGNN_INTERNAL void trk_http_config_free(trk_http_config *cfg);

/* Copies `uri` without "user:password@" into a new string (advgnn_free). */
ADVGNN_INTERNAL char *trk_uri_redact(const char *uri);

/* The outcome of one HTTP attempt. */
typedef struct trk_response {
    long status;              /* HTTP status; 0 when no response arrived */
    CURLcode curl_code;
    char curl_error[CURL_ERROR_SIZE];
    trk_buf body;
    double retry_after_s;     /* Retry-After in seconds; < 0 when absent */
} trk_response;

typedef enum trk_outcome {
    TRK_OUTCOME_OK = 1,        /* 2xx */
    TRK_OUTCOME_TRANSIENT = 2, /* no response, timeout, 408, 429 or 5xx: retry */
    TRK_OUTCOME_AUTH = 3,      /* 401 or 403: the credentials are wrong for every record */
    TRK_OUTCOME_REJECTED = 4,  /* another 4xx, or 501 with an MLflow error: this request will never succeed */
    TRK_OUTCOME_TLS = 5,       /* certificate rejected or unreadable, or a failed handshake: a settings problem */
    TRK_OUTCOME_NOT_MLFLOW = 6 /* 501 without an MLflow error body: the URI names another kind of server */
} trk_outcome;

ADVGNN_INTERNAL trk_outcome trk_response_outcome(const trk_response *resp);

/* Returns nonzero when the TLS handshake failed because the server responded
 * in plain text (OpenSSL reports "wrong version number" or "packet length too
 * long"). This happens when an https:// URI names a plain-HTTP server. */
ADVGNN_INTERNAL int trk_response_not_tls(const trk_response *resp);

/* Returns nonzero when the body starts, after whitespace, with "<!doctype html"
 * or "<html" in any case. Such a body comes from a web server or proxy that is
 * not MLflow. */
ADVGNN_INTERNAL int trk_response_is_html(const trk_response *resp);

/* Writes a one-line description of a failed response into `out`: the HTTP
 * status with MLflow's error_code and message, or the transfer error. Holds
 * no secret: libcurl's messages name hosts and ports, never credentials. */
ADVGNN_INTERNAL void trk_response_describe(const trk_response *resp, char *out, size_t size);

ADVGNN_INTERNAL void trk_response_free(trk_response *resp);

typedef struct trk_http {
    CURL *curl;
    const trk_http_config *cfg;   /* borrowed */
    struct curl_slist *json_headers;
    struct curl_slist *upload_headers;
    int (*should_abort)(void *user); /* polled during transfers; nonzero aborts */
    void *abort_user;
} trk_http;

ADVGNN_INTERNAL int trk_http_init(advgnn_ctx *ctx, trk_http *http, const trk_http_config *cfg);
ADVGNN_INTERNAL void trk_http_free(trk_http *http);

/* Sends one request to cfg->base + `path` (e.g. "/api/2.0/mlflow/runs/get?run_id=x").
 * `body` (JSON, `len` bytes) goes with POST/PATCH; NULL for GET. Fills `resp`
 * (reset first); returns ADVGNN_ERR_NOMEM only, transfer failures are in `resp`. */
ADVGNN_INTERNAL int trk_http_call(trk_http *http, const char *method, const char *path, const char *body,
                                  size_t len, trk_response *resp);

/* PUTs the file at `file_path` to the absolute `url`, streamed from disk.
 * Without a total timeout: a transfer slower than 1 KiB/s for the request
 * timeout is aborted instead. Returns ADVGNN_ERR_IO when the file cannot be
 * opened (the message in *resp->curl_error). */
ADVGNN_INTERNAL int trk_http_put_file(trk_http *http, const char *url, const char *file_path,
                                      const char *content_type, trk_response *resp);

/* Appends `segment` to `buf` percent-encoded (RFC 3986 unreserved bytes kept). */
ADVGNN_INTERNAL void trk_url_encode(trk_buf *buf, const char *segment);

/* Initializes libcurl once per process (thread-safe). */
ADVGNN_INTERNAL int trk_curl_global_init(advgnn_ctx *ctx);

#endif
