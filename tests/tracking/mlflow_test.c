/* Helpers of the tracking tests. See mlflow_test.h. */
#include "mlflow_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

/* ---- HTTP --------------------------------------------------------------------- */

typedef struct body_buf {
    char *data;
    size_t len;
} body_buf;

static size_t on_write(char *data, size_t size, size_t count, void *user)
{
    body_buf *buf = user;
    size_t n = size * count;
    char *grown = realloc(buf->data, buf->len + n + 1);

    if (!grown)
        return 0;
    buf->data = grown;
    memcpy(buf->data + buf->len, data, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
    return n;
}

char *mt_http(const char *method, const char *url, const char *body, size_t body_len, long *status,
              size_t *out_len)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    body_buf buf = {NULL, 0};
    CURLcode code;

    *status = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    code = curl_easy_perform(curl);
    if (code == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    else
        fprintf(stderr, "mt_http: %s %s: %s\n", method, url, curl_easy_strerror(code));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (code != CURLE_OK) {
        free(buf.data);
        return NULL;
    }
    if (!buf.data)
        buf.data = calloc(1, 1);
    if (out_len)
        *out_len = buf.len;
    return buf.data;
}

static cJSON *api_call(const char *method, const char *uri, const char *path, const char *body)
{
    char url[4096];
    long status;
    char *text;
    cJSON *json;

    snprintf(url, sizeof(url), "%s%s", uri, path);
    text = mt_http(method, url, body, body ? strlen(body) : 0, &status, NULL);
    if (!text)
        return NULL;
    if (status != 200) {
        fprintf(stderr, "mt_api: %s %s -> HTTP %ld: %s\n", method, path, status, text);
        free(text);
        return NULL;
    }
    json = cJSON_Parse(text);
    free(text);
    return json;
}

cJSON *mt_api_get(const char *uri, const char *path)
{
    return api_call("GET", uri, path, NULL);
}

cJSON *mt_api_post(const char *uri, const char *path, const char *body)
{
    return api_call("POST", uri, path, body);
}

/* ---- MLflow reads --------------------------------------------------------------- */

char *mt_experiment_id(const char *uri, const char *name)
{
    char path[1024];
    char *escaped = curl_easy_escape(NULL, name, 0);
    cJSON *json;
    const cJSON *id;
    char *copy = NULL;

    snprintf(path, sizeof(path), "/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s", escaped);
    curl_free(escaped);
    json = mt_api_get(uri, path);
    id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(json, "experiment"), "experiment_id");
    if (cJSON_IsString(id))
        copy = strdup(id->valuestring);
    cJSON_Delete(json);
    return copy;
}

cJSON *mt_search_runs(const char *uri, const char *experiment_id)
{
    char body[512];
    cJSON *json;
    cJSON *runs;

    snprintf(body, sizeof(body), "{\"experiment_ids\":[\"%s\"],\"run_view_type\":\"ALL\",\"max_results\":1000}",
             experiment_id);
    json = mt_api_post(uri, "/api/2.0/mlflow/runs/search", body);
    if (!json)
        return NULL;
    runs = cJSON_DetachItemFromObjectCaseSensitive(json, "runs");
    cJSON_Delete(json);
    return runs ? runs : cJSON_CreateArray();
}

const cJSON *mt_run_named(const cJSON *runs, const char *name)
{
    const cJSON *run;

    cJSON_ArrayForEach(run, runs)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "info"), "run_name");

        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return run;
    }
    return NULL;
}

const char *mt_run_id(const cJSON *run)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "info"), "run_id");

    return cJSON_IsString(id) ? id->valuestring : NULL;
}

static const char *find_key_value(const cJSON *run, const char *section, const char *key)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "data"), section);
    const cJSON *item;

    cJSON_ArrayForEach(item, items)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "key");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, "value");

        if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
            return cJSON_IsString(v) ? v->valuestring : "";
    }
    return NULL;
}

const char *mt_run_param(const cJSON *run, const char *key)
{
    return find_key_value(run, "params", key);
}

const char *mt_run_tag(const cJSON *run, const char *key)
{
    return find_key_value(run, "tags", key);
}

cJSON *mt_metric_history(const char *uri, const char *run_id, const char *key)
{
    char path[1024];
    char *escaped = curl_easy_escape(NULL, key, 0);
    cJSON *json;
    cJSON *metrics;

    snprintf(path, sizeof(path), "/api/2.0/mlflow/metrics/get-history?run_id=%s&metric_key=%s&max_results=25000",
             run_id, escaped);
    curl_free(escaped);
    json = mt_api_get(uri, path);
    if (!json)
        return NULL;
    metrics = cJSON_DetachItemFromObjectCaseSensitive(json, "metrics");
    cJSON_Delete(json);
    return metrics ? metrics : cJSON_CreateArray();
}

char *mt_download_artifact(const char *uri, const cJSON *run, const char *relpath, size_t *len)
{
    const cJSON *artifact_uri =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "info"), "artifact_uri");
    const char *prefix = "mlflow-artifacts:";
    char url[4096];
    long status;
    char *body;

    if (!cJSON_IsString(artifact_uri) || strncmp(artifact_uri->valuestring, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "mt_download_artifact: unexpected artifact_uri\n");
        return NULL;
    }
    snprintf(url, sizeof(url), "%s/api/2.0/mlflow-artifacts/artifacts/%s/%s", uri,
             artifact_uri->valuestring + strlen(prefix) + (artifact_uri->valuestring[strlen(prefix)] == '/'),
             relpath);
    body = mt_http("GET", url, NULL, 0, &status, len);
    if (body && status != 200) {
        fprintf(stderr, "mt_download_artifact: %s -> HTTP %ld\n", url, status);
        free(body);
        return NULL;
    }
    return body;
}

/* ---- servers and proxy ------------------------------------------------------------ */

int mt_mlflow_missing(void)
{
    const char *venv = getenv("ADVGNN_VENV");
    char path[1024];

    if (venv && venv[0])
        snprintf(path, sizeof(path), "%s/bin/mlflow", venv);
    else
        snprintf(path, sizeof(path), "%s/.venv/bin/mlflow", ADVGNN_SOURCE_DIR);
    if (access(path, X_OK) == 0)
        return 0;
    fprintf(stderr, "skipped: %s not found; run scripts/python-env.sh to install MLflow for the tracking tests\n",
            path);
    return 1;
}

const char *mt_fixture_uri(void)
{
    static char uri[256];
    const char *state = getenv("ADVGNN_MLFLOW_STATE");
    char path[1024];
    FILE *file;

    if (uri[0])
        return uri;
    if (!state) {
        fprintf(stderr, "ADVGNN_MLFLOW_STATE is not set; run this test through ctest (fixture mlflow_server)\n");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/uri", state);
    file = fopen(path, "r");
    if (!file || !fgets(uri, sizeof(uri), file)) {
        fprintf(stderr, "cannot read %s: the fixture tracking_server_start did not run or failed\n", path);
        if (file)
            fclose(file);
        uri[0] = '\0';
        return NULL;
    }
    fclose(file);
    uri[strcspn(uri, "\r\n")] = '\0';
    return uri;
}

int mt_server_start(const char *state_dir, int port, char *uri, size_t size)
{
    char command[2048];
    FILE *out;
    int ok;

    snprintf(command, sizeof(command), "bash '%s/scripts/mlflow-server.sh' start '%s' %s", ADVGNN_SOURCE_DIR,
             state_dir, port > 0 ? "" : "");
    if (port > 0)
        snprintf(command + strlen(command), sizeof(command) - strlen(command), "%d", port);
    out = popen(command, "r");
    if (!out)
        return 0;
    ok = fgets(uri, (int)size, out) != NULL;
    if (pclose(out) != 0)
        ok = 0;
    if (ok)
        uri[strcspn(uri, "\r\n")] = '\0';
    return ok;
}

void mt_server_stop(const char *state_dir)
{
    char command[2048];

    snprintf(command, sizeof(command), "bash '%s/scripts/mlflow-server.sh' stop '%s'", ADVGNN_SOURCE_DIR, state_dir);
    if (system(command) != 0)
        fprintf(stderr, "mt_server_stop: %s failed\n", command);
}

static const char *python_path(void)
{
    static char path[1024];

    snprintf(path, sizeof(path), "%s/.venv/bin/python", ADVGNN_SOURCE_DIR);
    return access(path, X_OK) == 0 ? path : "python3";
}

/* Starts fault_proxy.py with `extra` arguments (NULL-terminated, at most 4)
 * and reads its port. */
static pid_t start_proxy(const char *upstream, const char *const *extra, const char *scheme, char *uri, size_t size)
{
    char script[1024];
    int fds[2];
    pid_t pid;
    FILE *out;
    char line[256];

    snprintf(script, sizeof(script), "%s/tests/tracking/fault_proxy.py", ADVGNN_SOURCE_DIR);
    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        const char *python = python_path();
        const char *argv[12] = {python, script, "--upstream", upstream, "--max-seconds", "600"};
        int argc = 6;

        for (int i = 0; extra && extra[i] && i < 4; i++)
            argv[argc++] = extra[i];
        argv[argc] = NULL;
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(python, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }

    /* The proxy prints its port on the first line once it listens. */
    out = fdopen(fds[0], "r");
    if (!out || !fgets(line, sizeof(line), out)) {
        if (out)
            fclose(out);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    fclose(out);
    snprintf(uri, size, "%s://127.0.0.1:%d", scheme, atoi(line));
    return pid;
}

pid_t mt_proxy_start(const char *upstream, char *uri, size_t size)
{
    return start_proxy(upstream, NULL, "http", uri, size);
}

pid_t mt_proxy_start_tls(const char *upstream, const char *cert, const char *client_ca, char *uri, size_t size)
{
    const char *extra[5] = {"--tls-cert", cert, client_ca ? "--tls-client-ca" : NULL, client_ca, NULL};

    return start_proxy(upstream, extra, "https", uri, size);
}

int mt_proxy_plan(const char *proxy_uri, const char *plan_json)
{
    char url[512];
    long status;
    char *body;

    snprintf(url, sizeof(url), "%s/__proxy/plan", proxy_uri);
    body = mt_http("POST", url, plan_json, strlen(plan_json), &status, NULL);
    free(body);
    return status == 200;
}

cJSON *mt_proxy_log(const char *proxy_uri)
{
    char url[512];
    long status;
    char *body;
    cJSON *json;

    snprintf(url, sizeof(url), "%s/__proxy/log", proxy_uri);
    body = mt_http("GET", url, NULL, 0, &status, NULL);
    json = body && status == 200 ? cJSON_Parse(body) : NULL;
    free(body);
    return json;
}

void mt_proxy_stop(pid_t pid, const char *proxy_uri)
{
    (void)proxy_uri;
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- files ------------------------------------------------------------------------- */

int mt_temp_dir(const char *prefix, char *out, size_t size)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(out, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    return mkdtemp(out) != NULL;
}

void mt_remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *entry;

    if (!dir) {
        unlink(path);
        return;
    }
    while ((entry = readdir(dir))) {
        char child[4096];
        struct stat st;

        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            mt_remove_tree(child);
        else
            unlink(child);
    }
    closedir(dir);
    rmdir(path);
}

int mt_write_file(const char *path, const void *data, size_t len)
{
    FILE *file = fopen(path, "wb");
    int ok;

    if (!file)
        return 0;
    ok = fwrite(data, 1, len, file) == len;
    return fclose(file) == 0 && ok;
}

char *mt_read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    body_buf buf = {NULL, 0};
    char chunk[65536];
    size_t n;

    if (!file)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0)
        on_write(chunk, 1, n, &buf);
    fclose(file);
    if (!buf.data)
        buf.data = calloc(1, 1);
    if (len)
        *len = buf.len;
    return buf.data;
}

long mt_count_lines(const char *path)
{
    size_t len;
    char *text = mt_read_file(path, &len);
    long lines = 0;

    if (!text)
        return -1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    free(text);
    return lines;
}

void mt_random_suffix(char out[9])
{
    unsigned int seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 8);

    snprintf(out, 9, "%08x", (unsigned int)rand_r(&seed) ^ seed);
}

/* ---- log capture ---------------------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void mt_log_sink(void *user, advgnn_log_level level, const char *line)
{
    mt_log *log = user;
    size_t n = strlen(line);
    char *grown;

    (void)level;
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "log: %s\n", line);
    grown = realloc(log->text, log->len + n + 2);
    if (grown) {
        log->text = grown;
        memcpy(log->text + log->len, line, n);
        log->len += n;
        log->text[log->len++] = '\n';
        log->text[log->len] = '\0';
    }
    pthread_mutex_unlock(&log_lock);
}

void mt_log_free(mt_log *log)
{
    free(log->text);
    log->text = NULL;
    log->len = 0;
}
