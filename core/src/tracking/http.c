/* libcurl requests to an MLflow tracking server: settings, auth, TLS, responses. */
#include "tracking/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "advgnn/version.h"

/* ---- process-wide libcurl setup ------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code = CURLE_OK;

static void curl_init_once(void)
{
    curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int trk_curl_global_init(advgnn_ctx *ctx)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_code != CURLE_OK)
        return advgnn_failf(ctx, ADVGNN_ERR_NETWORK, "cannot initialize libcurl: %s",
                            curl_easy_strerror(curl_init_code));
    return ADVGNN_OK;
}

/* ---- configuration --------------------------------------------------------- */

char *trk_uri_redact(const char *uri)
{
    const char *scheme_end = strstr(uri, "://");
    const char *host = scheme_end ? scheme_end + 3 : uri;
    const char *host_end = host + strcspn(host, "/?#");
    const char *at = NULL;
    trk_buf out = {0};

    /* The last '@' before the path ends the user information. */
    for (const char *p = host; p < host_end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return advgnn_strdup(uri);
    trk_buf_append(&out, uri, (size_t)(host - uri));
    trk_buf_puts(&out, at + 1);
    if (out.failed) {
        trk_buf_free(&out);
        return NULL;
    }
    return out.data;
}

/* Parses an MLflow boolean variable: true/false/1/0, any case. */
static int env_bool(advgnn_ctx *ctx, const char *name, int fallback, int *out)
{
    const char *value = getenv(name);

    *out = fallback;
    if (!value || !*value)
        return ADVGNN_OK;
    if (strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0)
        *out = 1;
    else if (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0)
        *out = 0;
    else
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "%s=%s is invalid; expected true, false, 1 or 0", name, value);
    return ADVGNN_OK;
}

static int env_number(advgnn_ctx *ctx, const char *name, double fallback, double min, double max, double *out)
{
    const char *value = getenv(name);
    char *end = NULL;
    double parsed;

    *out = fallback;
    if (!value || !*value)
        return ADVGNN_OK;
    errno = 0;
    parsed = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !(parsed >= min && parsed <= max))
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "%s=%s is invalid; expected a number from %g to %g", name,
                            value, min, max);
    *out = parsed;
    return ADVGNN_OK;
}

static int env_copy(const char *name, char **out)
{
    const char *value = getenv(name);

    *out = NULL;
    if (!value || !*value)
        return 1;
    *out = advgnn_strdup(value);
    return *out != NULL;
}

static int read_numbers(advgnn_ctx *ctx, trk_http_config *cfg)
{
    double timeout_s;
    double retries;
    int rc;

    rc = env_number(ctx, "MLFLOW_HTTP_REQUEST_TIMEOUT", 120, 1, 86400, &timeout_s);
    if (rc == ADVGNN_OK)
        rc = env_number(ctx, "MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7, 0, 9, &retries);
    if (rc == ADVGNN_OK)
        rc = env_number(ctx, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2, 0, 119, &cfg->backoff_factor_s);
    if (rc == ADVGNN_OK)
        rc = env_number(ctx, "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1, 0, 60, &cfg->backoff_jitter_s);
    if (rc == ADVGNN_OK)
        rc = env_bool(ctx, "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER", 1, &cfg->respect_retry_after);
    if (rc == ADVGNN_OK)
        rc = env_bool(ctx, "MLFLOW_TRACKING_INSECURE_TLS", 0, &cfg->insecure_tls);
    if (rc != ADVGNN_OK)
        return rc;
    cfg->timeout_s = (long)timeout_s;
    cfg->max_retries = (int)retries;
    return ADVGNN_OK;
}

int trk_check_uri(advgnn_ctx *ctx, const char *uri)
{
    CURLU *url;
    CURLUcode code;
    char *host = NULL;

    if (strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "tracking URI '%s' must start with http:// or https:// (a running `mlflow server`)", uri);

    /* A URI that curl cannot parse (no host, a port above 65535, an open
     * bracket) would otherwise fail each request and be retried for minutes. */
    url = curl_url();
    if (!url)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading the tracking URI");
    code = curl_url_set(url, CURLUPART_URL, uri, 0);
    if (code == CURLUE_OK)
        code = curl_url_get(url, CURLUPART_HOST, &host, 0);
    if (code == CURLUE_OK && (!host || !host[0]))
        code = CURLUE_NO_HOST;
    curl_free(host);
    curl_url_cleanup(url);
    if (code != CURLUE_OK)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "tracking URI '%s' is invalid (%s); expected http://HOST[:PORT][/PATH] of a running "
                            "`mlflow server`",
                            uri, curl_url_strerror(code));
    return ADVGNN_OK;
}

int trk_http_config_init(advgnn_ctx *ctx, const char *uri, trk_http_config *cfg)
{
    size_t len = strlen(uri);
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    rc = trk_check_uri(ctx, uri);
    if (rc != ADVGNN_OK)
        return rc;

    while (len > 0 && uri[len - 1] == '/')
        len--;
    cfg->base = advgnn_malloc(len + 1);
    if (!cfg->base)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading the tracking settings");
    memcpy(cfg->base, uri, len);
    cfg->base[len] = '\0';
    cfg->display = trk_uri_redact(cfg->base);

    if (!cfg->display || !env_copy("MLFLOW_TRACKING_USERNAME", &cfg->username) ||
        !env_copy("MLFLOW_TRACKING_PASSWORD", &cfg->password) || !env_copy("MLFLOW_TRACKING_TOKEN", &cfg->token) ||
        !env_copy("MLFLOW_TRACKING_SERVER_CERT_PATH", &cfg->server_cert_path) ||
        !env_copy("MLFLOW_TRACKING_CLIENT_CERT_PATH", &cfg->client_cert_path)) {
        trk_http_config_free(cfg);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory reading the tracking settings");
    }

    rc = read_numbers(ctx, cfg);
    if (rc == ADVGNN_OK && cfg->insecure_tls && cfg->server_cert_path)
        rc = advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                          "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both set; "
                          "unset one of them");
    if (rc != ADVGNN_OK)
        trk_http_config_free(cfg);
    return rc;
}

/* Overwrites a secret before freeing it. */
static void free_secret(char *secret)
{
    if (secret) {
        volatile char *p = secret;

        while (*p)
            *p++ = '\0';
    }
    advgnn_free(secret);
}

void trk_http_config_free(trk_http_config *cfg)
{
    free_secret(cfg->base);
    advgnn_free(cfg->display);
    free_secret(cfg->username);
    free_secret(cfg->password);
    free_secret(cfg->token);
    advgnn_free(cfg->server_cert_path);
    advgnn_free(cfg->client_cert_path);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- responses --------------------------------------------------------------- */

/* Returns nonzero when the network cut the TLS handshake, because the peer
 * closed or reset the connection as a restarting server or proxy does. Such a
 * handshake can succeed on a retry, unlike one that the two sides could not
 * agree on. */
static int handshake_cut(const trk_response *resp)
{
    return strstr(resp->curl_error, "SSL_ERROR_SYSCALL") || strstr(resp->curl_error, "reset by peer") ||
           strstr(resp->curl_error, "unexpected eof") || strstr(resp->curl_error, "Connection reset");
}

static int is_mlflow_error(const trk_response *resp)
{
    cJSON *json = resp->body.data ? cJSON_Parse(resp->body.data) : NULL;
    int found = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(json, "error_code"));

    cJSON_Delete(json);
    return found;
}

int trk_response_not_tls(const trk_response *resp)
{
    return resp->status == 0 && resp->curl_code == CURLE_SSL_CONNECT_ERROR &&
           (strstr(resp->curl_error, "wrong version number") || strstr(resp->curl_error, "packet length too long"));
}

int trk_response_is_html(const trk_response *resp)
{
    const char *text = resp->body.data;

    if (!text)
        return 0;
    while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
        text++;
    return strncasecmp(text, "<!doctype html", 14) == 0 || strncasecmp(text, "<html", 5) == 0;
}

trk_outcome trk_response_outcome(const trk_response *resp)
{
    long s = resp->status;

    if (s >= 200 && s < 300)
        return TRK_OUTCOME_OK;

    /* Certificate problems and failed handshakes do not heal by retrying. */
    if (s == 0 && (resp->curl_code == CURLE_PEER_FAILED_VERIFICATION || resp->curl_code == CURLE_SSL_CERTPROBLEM ||
                   resp->curl_code == CURLE_SSL_CACERT_BADFILE || resp->curl_code == CURLE_SSL_ISSUER_ERROR ||
                   resp->curl_code == CURLE_SSL_PINNEDPUBKEYNOTMATCH))
        return TRK_OUTCOME_TLS;
    if (s == 0 && resp->curl_code == CURLE_SSL_CONNECT_ERROR && !handshake_cut(resp))
        return TRK_OUTCOME_TLS;

    /* MLflow responds 501 with {"error_code": "NOT_IMPLEMENTED", ...} for an
     * endpoint its store lacks, which concerns that request only. Other
     * servers, such as `python3 -m http.server`, respond 501 to every POST. */
    if (s == 501)
        return is_mlflow_error(resp) ? TRK_OUTCOME_REJECTED : TRK_OUTCOME_NOT_MLFLOW;
    if (s == 0 || s == 408 || s == 429 || s >= 500)
        return TRK_OUTCOME_TRANSIENT;
    if (s == 401 || s == 403)
        return TRK_OUTCOME_AUTH;

    /* MLflow responds to a request it cannot serve with an {"error_code": ...}
     * body. A 404 or 405 without one comes from another server, or from a
     * URI with a wrong path, for every request alike. */
    if ((s == 404 || s == 405) && !is_mlflow_error(resp))
        return TRK_OUTCOME_NOT_MLFLOW;
    return TRK_OUTCOME_REJECTED;
}

void trk_response_describe(const trk_response *resp, char *out, size_t size)
{
    cJSON *json;
    const cJSON *code;
    const cJSON *message;

    if (resp->status == 0) {
        snprintf(out, size, "%s", resp->curl_error[0] ? resp->curl_error : curl_easy_strerror(resp->curl_code));
        return;
    }

    /* MLflow errors are {"error_code", "message"}. Proxies respond with plain
     * text or HTML, of which the first line is kept. */
    json = resp->body.data ? cJSON_Parse(resp->body.data) : NULL;
    code = cJSON_GetObjectItemCaseSensitive(json, "error_code");
    message = cJSON_GetObjectItemCaseSensitive(json, "message");
    if (cJSON_IsString(message))
        snprintf(out, size, "HTTP %ld %s: %s", resp->status, cJSON_IsString(code) ? code->valuestring : "",
                 message->valuestring);
    else if (resp->body.len > 0)
        snprintf(out, size, "HTTP %ld: %.*s", resp->status, (int)strcspn(resp->body.data, "\r\n"),
                 resp->body.data);
    else
        snprintf(out, size, "HTTP %ld", resp->status);
    cJSON_Delete(json);
}

void trk_response_free(trk_response *resp)
{
    trk_buf_free(&resp->body);
}

static void response_reset(trk_response *resp)
{
    trk_buf_free(&resp->body);
    resp->status = 0;
    resp->curl_code = CURLE_OK;
    resp->curl_error[0] = '\0';
    resp->retry_after_s = -1;
}

/* ---- curl callbacks ------------------------------------------------------------ */

/* Bodies larger than this are cut, because MLflow's responses to these
 * requests are small and a misbehaving proxy must not fill memory. */
#define MAX_RESPONSE_BYTES (64u << 20)

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
    trk_buf *body = user;
    size_t n = size * count;

    if (body->len + n > MAX_RESPONSE_BYTES)
        return n;
    trk_buf_append(body, data, n);
    return body->failed ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t count, void *user)
{
    trk_response *resp = user;
    size_t n = size * count;
    char value[128];
    size_t len;

    if (n < 12 || strncasecmp(data, "Retry-After:", 12) != 0)
        return n;
    len = n - 12 < sizeof(value) - 1 ? n - 12 : sizeof(value) - 1;
    memcpy(value, data + 12, len);
    value[len] = '\0';
    value[strcspn(value, "\r\n")] = '\0';

    /* Either delta-seconds or an HTTP date. */
    {
        char *p = value;
        char *end;
        long seconds;

        while (*p == ' ' || *p == '\t')
            p++;
        seconds = strtol(p, &end, 10);
        if (end != p && *end == '\0' && seconds >= 0) {
            resp->retry_after_s = (double)seconds;
        } else {
            time_t when = curl_getdate(p, NULL);

            if (when != (time_t)-1)
                resp->retry_after_s = when > time(NULL) ? (double)(when - time(NULL)) : 0;
        }
    }
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    trk_http *http = user;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return http->should_abort && http->should_abort(http->abort_user) ? 1 : 0;
}

/* ---- handles -------------------------------------------------------------------- */

int trk_http_init(advgnn_ctx *ctx, trk_http *http, const trk_http_config *cfg)
{
    int rc = trk_curl_global_init(ctx);

    memset(http, 0, sizeof(*http));
    if (rc != ADVGNN_OK)
        return rc;
    http->cfg = cfg;
    http->curl = curl_easy_init();

    /* "Expect:" stops libcurl from waiting for 100-continue before bodies.
     * No Origin header is ever added: MLflow's CORS check rejects writes that
     * carry one. */
    http->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (http->json_headers)
        http->json_headers = curl_slist_append(http->json_headers, "Accept: application/json");
    if (http->json_headers)
        http->json_headers = curl_slist_append(http->json_headers, "Expect:");
    http->upload_headers = curl_slist_append(NULL, "Expect:");

    if (!http->curl || !http->json_headers || !http->upload_headers) {
        trk_http_free(http);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory creating an HTTP handle");
    }
    return ADVGNN_OK;
}

void trk_http_free(trk_http *http)
{
    if (http->curl)
        curl_easy_cleanup(http->curl);
    curl_slist_free_all(http->json_headers);
    curl_slist_free_all(http->upload_headers);
    memset(http, 0, sizeof(*http));
}

/* Sets what every request shares: auth, TLS, callbacks, the error buffer. */
static void set_common(trk_http *http, trk_response *resp)
{
    CURL *c = http->curl;
    const trk_http_config *cfg = http->cfg;

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, resp->curl_error);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, cfg->timeout_s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "advgnn/" ADVGNN_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, http);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

    /* Credentials: user and password win over a token, as in MLflow's client. */
    if (cfg->username && cfg->password) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->password);
    } else if (cfg->token) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, cfg->token);
    }

    if (cfg->insecure_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cfg->server_cert_path)
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->server_cert_path);
    if (cfg->client_cert_path)
        curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert_path);
}

static void finish(trk_http *http, CURLcode code, trk_response *resp)
{
    resp->curl_code = code;
    if (code == CURLE_OK)
        curl_easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    else
        resp->status = 0;
    if (code != CURLE_OK && !resp->curl_error[0])
        snprintf(resp->curl_error, sizeof(resp->curl_error), "%s", curl_easy_strerror(code));
}

int trk_http_call(trk_http *http, const char *method, const char *path, const char *body, size_t len,
                  trk_response *resp)
{
    trk_buf url = {0};

    response_reset(resp);
    trk_buf_puts(&url, http->cfg->base);
    trk_buf_puts(&url, path);
    if (url.failed)
        return ADVGNN_ERR_NOMEM;

    set_common(http, resp);
    curl_easy_setopt(http->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(http->curl, CURLOPT_TIMEOUT, http->cfg->timeout_s);
    curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, http->json_headers);
    if (body) {
        curl_easy_setopt(http->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(http->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(http->curl, CURLOPT_CUSTOMREQUEST, method);

    finish(http, curl_easy_perform(http->curl), resp);
    trk_buf_free(&url);
    if (resp->body.failed)
        return ADVGNN_ERR_NOMEM;
    return ADVGNN_OK;
}

static size_t on_read_file(char *buffer, size_t size, size_t count, void *user)
{
    FILE *file = user;
    size_t n = fread(buffer, 1, size * count, file);

    return ferror(file) ? CURL_READFUNC_ABORT : n;
}

int trk_http_put_file(trk_http *http, const char *url, const char *file_path, const char *content_type,
                      trk_response *resp)
{
    struct curl_slist *headers;
    char type_header[128];
    FILE *file;
    off_t size = 0;

    response_reset(resp);
    file = fopen(file_path, "rb");
    if (!file || fseeko(file, 0, SEEK_END) != 0 || (size = ftello(file)) < 0 || fseeko(file, 0, SEEK_SET) != 0) {
        snprintf(resp->curl_error, sizeof(resp->curl_error), "cannot read %s: %s", file_path, strerror(errno));
        if (file)
            fclose(file);
        return ADVGNN_ERR_IO;
    }

    snprintf(type_header, sizeof(type_header), "Content-Type: %s", content_type);
    headers = curl_slist_append(NULL, "Expect:");
    if (headers)
        headers = curl_slist_append(headers, type_header);
    if (!headers) {
        fclose(file);
        return ADVGNN_ERR_NOMEM;
    }

    set_common(http, resp);
    curl_easy_setopt(http->curl, CURLOPT_URL, url);
    curl_easy_setopt(http->curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(http->curl, CURLOPT_READFUNCTION, on_read_file);
    curl_easy_setopt(http->curl, CURLOPT_READDATA, file);
    curl_easy_setopt(http->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(http->curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(http->curl, CURLOPT_LOW_SPEED_TIME, http->cfg->timeout_s);

    finish(http, curl_easy_perform(http->curl), resp);
    curl_slist_free_all(headers);
    fclose(file);
    return resp->body.failed ? ADVGNN_ERR_NOMEM : ADVGNN_OK;
}

void trk_url_encode(trk_buf *buf, const char *segment)
{
    for (const unsigned char *p = (const unsigned char *)segment; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            trk_buf_append(buf, (const char *)p, 1);
        else
            trk_buf_printf(buf, "%%%02X", *p);
    }
}
