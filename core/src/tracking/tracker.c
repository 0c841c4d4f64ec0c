/* The tracker: journals records and hands them to the delivery thread. */
#include "tracking/tracker.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/version.h"
#include "options/options_internal.h"
#include "tracking/delivery.h"
#include "tracking/journal.h"
#include "tracking/keys.h"
#include "util/fsutil.h"

/* Maximum lines queued in memory for the delivery thread. Beyond this only
 * the journal stores new records. NOTE: this process never sends records that
 * were not queued, so `advgnn sync` must send them after the run. */
#define MAX_QUEUED_LINES (1u << 20)

/* After the first new line the thread waits up to LINGER_S for more, or
 * until LINGER_LINES are queued, so records logged in a burst share one
 * log-batch request instead of costing one request each. */
#define LINGER_S 0.2
#define LINGER_LINES 1000

/* Keys sanitized or values cut are warned about once each, up to this many. */
#define MAX_WARNINGS 64

#define MAX_RUN_KEY_LENGTH 200

typedef struct run_slot {
    char *key;
    int ended;
} run_slot;

struct advgnn_tracker {
    advgnn_ctx *ctx;             /* borrowed */
    char *run_dir;
    char *tracking_dir;
    char *script_path;           /* absolute, or NULL */
    char journal_id[33];

    pthread_mutex_t lock;        /* guards everything below and the journal */
    trk_journal journal;
    run_slot *runs;
    size_t run_count;
    char *warned[MAX_WARNINGS];
    size_t warned_count;
    size_t journaled;
    char *metric_run;            /* run of advgnn_tracker_metric_sink, or NULL */

    /* Delivery (only with a URI). */
    int delivering;
    trk_delivery delivery;
    advgnn_ctx *thread_ctx;      /* error buffer of the delivery thread */
    pthread_t thread;
    int thread_started;
    pthread_cond_t work;         /* new lines, or closing */
    pthread_cond_t progress;     /* lines delivered, or the thread ended */
    pthread_cond_t stop_cond;    /* `stop` was set */
    char **queue;                /* ring of owned lines */
    size_t queue_head;
    size_t queue_count;
    size_t queue_cap;
    size_t unqueued;             /* journaled lines the thread will never see */
    int closing;
    int sender_alive;
    int sender_waiting;          /* the delivery thread waits on `work` */
    atomic_int stop;
};

/* ---- queue ------------------------------------------------------------------------ */

/* Takes ownership of `line` (advgnn_malloc'd). Called with the lock held. */
static void queue_push(advgnn_tracker *t, char *line)
{
    if (!t->delivering || !t->sender_alive || t->queue_count >= MAX_QUEUED_LINES) {
        advgnn_free(line);
        t->unqueued++;
        return;
    }
    if (t->queue_count == t->queue_cap) {
        size_t cap = t->queue_cap ? t->queue_cap * 2 : 1024;
        char **grown = advgnn_malloc(cap * sizeof(*grown));

        if (!grown) {
            advgnn_free(line);
            t->unqueued++;
            return;
        }
        for (size_t i = 0; i < t->queue_count; i++)
            grown[i] = t->queue[(t->queue_head + i) % t->queue_cap];
        advgnn_free(t->queue);
        t->queue = grown;
        t->queue_cap = cap;
        t->queue_head = 0;
    }
    t->queue[(t->queue_head + t->queue_count) % t->queue_cap] = line;
    t->queue_count++;

    /* Wake the thread for the first line and for a full batch only, so a
     * tight logging loop costs no system call per record. */
    if (t->sender_waiting && (t->queue_count == 1 || t->queue_count == LINGER_LINES))
        pthread_cond_signal(&t->work);
}

static void queue_pop(advgnn_tracker *t, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        advgnn_free(t->queue[t->queue_head]);
        t->queue_head = (t->queue_head + 1) % t->queue_cap;
        t->queue_count--;
    }
}

/* ---- delivery thread ----------------------------------------------------------------- */

static void deadline_after(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)seconds;
    ts->tv_nsec += (long)((seconds - floor(seconds)) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int thread_wait(void *user, double seconds)
{
    advgnn_tracker *t = user;
    struct timespec until;

    deadline_after(&until, seconds);
    pthread_mutex_lock(&t->lock);
    while (!atomic_load(&t->stop))
        if (pthread_cond_timedwait(&t->stop_cond, &t->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&t->lock);
    return atomic_load(&t->stop);
}

static size_t thread_waiting(void *user)
{
    advgnn_tracker *t = user;
    size_t waiting;

    pthread_mutex_lock(&t->lock);
    waiting = t->queue_count + t->unqueued;
    pthread_mutex_unlock(&t->lock);
    return waiting;
}

static int thread_should_abort(void *user)
{
    advgnn_tracker *t = user;

    return atomic_load(&t->stop);
}

/* Lines handed to the delivery per round: enough to fill log-batch requests.
 * NOTE: the thread sends one request at a time. Two MLflowClient.log_batch
 * clients at once delivered 1.37 times the points per second of one against a
 * local MLflow 3.17.2 server, so parallel requests could gain a little. */
#define ROUND_LINES 4096


/* Waits on `work` until lines are queued or the tracker closes. Called with
 * the lock held. */
static void wait_for_lines(advgnn_tracker *t)
{
    struct timespec until;

    t->sender_waiting = 1;
    while (t->queue_count == 0 && !t->closing && !atomic_load(&t->stop))
        pthread_cond_wait(&t->work, &t->lock);

    deadline_after(&until, LINGER_S);
    while (t->queue_count > 0 && t->queue_count < LINGER_LINES && !t->closing && !atomic_load(&t->stop))
        if (pthread_cond_timedwait(&t->work, &t->lock, &until) == ETIMEDOUT)
            break;
    t->sender_waiting = 0;
}

static void *sender_main(void *user)
{
    advgnn_tracker *t = user;
    const char *lines[ROUND_LINES];
    cJSON *records[ROUND_LINES];

    pthread_mutex_lock(&t->lock);
    for (;;) {
        size_t n;
        size_t done;
        size_t held_back = 0;
        int more_queued;

        wait_for_lines(t);
        if (atomic_load(&t->stop) || t->queue_count == 0)
            break;

        /* Parse outside the lock; only this thread removes lines, so the
         * first n stay valid while producers append. */
        n = t->queue_count < ROUND_LINES ? t->queue_count : ROUND_LINES;
        more_queued = t->queue_count > n;
        for (size_t i = 0; i < n; i++)
            lines[i] = t->queue[(t->queue_head + i) % t->queue_cap];
        pthread_mutex_unlock(&t->lock);

        for (size_t i = 0; i < n; i++) {
            cJSON *parsed = cJSON_Parse(lines[i]);

            records[i] = parsed ? parsed : cJSON_CreateObject();
        }

        /* With more lines queued than this round takes, a partial last batch
         * is held back and sent in the next round, filled up. */
        if (more_queued)
            done = trk_delivery_process_partial(&t->delivery, records, n, &held_back);
        else
            done = trk_delivery_process(&t->delivery, records, n);
        for (size_t i = 0; i < n; i++)
            cJSON_Delete(records[i]);

        pthread_mutex_lock(&t->lock);
        queue_pop(t, done);
        pthread_cond_broadcast(&t->progress);

        /* Fewer done than given, other than a held-back batch: stopped,
         * credentials rejected, or a local failure. The rest stays in the
         * journal for `advgnn sync`. */
        if (done + held_back < n)
            break;
    }
    t->sender_alive = 0;
    pthread_cond_broadcast(&t->progress);
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- record formatting ----------------------------------------------------------------- */

/* Starts a record line: {"seq":N,"type":T,"run":R. Called with the lock held. */
static void begin_record(advgnn_tracker *t, trk_buf *line, const char *type, const char *run_key)
{
    trk_buf_printf(line, "{\"seq\":%llu,\"type\":\"%s\"", (unsigned long long)t->journal.next_seq, type);
    if (run_key) {
        trk_buf_puts(line, ",\"run\":");
        trk_buf_json_string(line, run_key);
    }
}

static void put_field(trk_buf *line, const char *name, const char *value)
{
    trk_buf_printf(line, ",\"%s\":", name);
    trk_buf_json_string(line, value);
}

/* Closes the record, appends it to the journal and queues it. Called with the
 * lock held; frees the buffer. */
static int commit_record(advgnn_tracker *t, trk_buf *line)
{
    int rc;

    trk_buf_puts(line, "}");
    if (line->failed) {
        trk_buf_free(line);
        return advgnn_failf(t->ctx, ADVGNN_ERR_NOMEM, "out of memory writing a tracking record");
    }
    rc = trk_journal_append(t->ctx, &t->journal, line->data, line->len);
    if (rc != ADVGNN_OK) {
        trk_buf_free(line);
        return rc;
    }
    t->journal.next_seq++;
    t->journaled++;
    queue_push(t, line->data);
    line->data = NULL;
    trk_buf_free(line);
    return ADVGNN_OK;
}

/* ---- runs and warnings ------------------------------------------------------------------ */

static run_slot *find_run(advgnn_tracker *t, const char *key)
{
    for (size_t i = 0; i < t->run_count; i++)
        if (strcmp(t->runs[i].key, key) == 0)
            return &t->runs[i];
    return NULL;
}

static int add_run(advgnn_tracker *t, const char *key)
{
    run_slot *grown = advgnn_realloc(t->runs, (t->run_count + 1) * sizeof(*grown));

    if (!grown)
        return 0;
    t->runs = grown;
    t->runs[t->run_count].key = advgnn_strdup(key);
    t->runs[t->run_count].ended = 0;
    if (!t->runs[t->run_count].key)
        return 0;
    t->run_count++;
    return 1;
}

/* Logs `message` once per `subject`. Called with the lock held. */
static void warn_once(advgnn_tracker *t, const char *subject, const char *fmt, const char *a, const char *b)
{
    for (size_t i = 0; i < t->warned_count; i++)
        if (strcmp(t->warned[i], subject) == 0)
            return;
    if (t->warned_count < MAX_WARNINGS) {
        t->warned[t->warned_count] = advgnn_strdup(subject);
        if (t->warned[t->warned_count])
            t->warned_count++;
    }
    advgnn_log(t->ctx, ADVGNN_LOG_WARN, fmt, a, b);
}

static int check_run(advgnn_tracker *t, const char *run_key)
{
    if (!run_key || !find_run(t, run_key))
        return advgnn_failf(t->ctx, ADVGNN_ERR_INVALID_ARG,
                            "tracking: run '%s' was not started; call advgnn_tracker_start_run first",
                            run_key ? run_key : "(null)");
    return ADVGNN_OK;
}

/* Returns `key` itself when MLflow accepts it, else a sanitized copy in
 * *owned. Called with the lock held. */
static const char *checked_key(advgnn_tracker *t, const char *key, char **owned)
{
    *owned = NULL;
    if (trk_key_is_valid(key))
        return key;
    *owned = trk_key_sanitize(key);
    if (*owned)
        warn_once(t, key, "tracking: key '%s' is not accepted by MLflow; logging it as '%s'", key, *owned);
    return *owned;
}

/* Appends `value` cut to `max` bytes on a UTF-8 boundary, warning once. */
static void put_value(advgnn_tracker *t, trk_buf *line, const char *key, const char *value, size_t max)
{
    size_t keep = trk_utf8_prefix(value, max);
    char *cut;

    if (keep == strlen(value)) {
        put_field(line, "value", value);
        return;
    }
    warn_once(t, key, "tracking: value of '%s' is longer than MLflow accepts; it is cut to %s bytes", key,
              max == TRK_MAX_PARAM_VALUE_LENGTH ? "6000" : "8000");
    cut = advgnn_malloc(keep + 1);
    if (!cut) {
        line->failed = 1;
        return;
    }
    memcpy(cut, value, keep);
    cut[keep] = '\0';
    put_field(line, "value", cut);
    advgnn_free(cut);
}

/* ---- logging calls ------------------------------------------------------------------------ */

static int log_key_value(advgnn_tracker *t, const char *type, const char *run_key, const char *key,
                         const char *value, size_t max)
{
    trk_buf line = {0};
    char *owned;
    const char *safe;
    int rc;

    if (!t || !key || !value)
        return advgnn_failf(t ? t->ctx : NULL, ADVGNN_ERR_INVALID_ARG, "tracking: %s without a key or value", type);
    pthread_mutex_lock(&t->lock);
    rc = check_run(t, run_key);
    if (rc == ADVGNN_OK) {
        safe = checked_key(t, key, &owned);
        begin_record(t, &line, type, run_key);
        put_field(&line, "key", safe ? safe : key);
        put_value(t, &line, key, value, max);
        rc = commit_record(t, &line);
        advgnn_free(owned);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int advgnn_tracker_log_param(advgnn_tracker *tracker, const char *run_key, const char *key, const char *value)
{
    return log_key_value(tracker, "param", run_key, key, value, TRK_MAX_PARAM_VALUE_LENGTH);
}

int advgnn_tracker_set_tag(advgnn_tracker *tracker, const char *run_key, const char *key, const char *value)
{
    return log_key_value(tracker, "tag", run_key, key, value, TRK_MAX_TAG_VALUE_LENGTH);
}

int advgnn_tracker_log_metric(advgnn_tracker *tracker, const char *run_key, const char *key, double value,
                              int64_t step, int64_t timestamp_ms)
{
    trk_buf line = {0};
    char *owned;
    const char *safe;
    int rc;

    if (!tracker || !key)
        return advgnn_failf(tracker ? tracker->ctx : NULL, ADVGNN_ERR_INVALID_ARG, "tracking: metric without a key");
    if (timestamp_ms <= 0)
        timestamp_ms = trk_now_ms();

    pthread_mutex_lock(&tracker->lock);
    rc = check_run(tracker, run_key);
    if (rc == ADVGNN_OK) {
        safe = checked_key(tracker, key, &owned);
        begin_record(tracker, &line, "metric", run_key);
        put_field(&line, "key", safe ? safe : key);
        trk_buf_puts(&line, ",\"value\":");
        trk_buf_json_double(&line, value);
        trk_buf_printf(&line, ",\"step\":%lld,\"ts\":%lld", (long long)step, (long long)timestamp_ms);
        rc = commit_record(tracker, &line);
        advgnn_free(owned);
    }
    pthread_mutex_unlock(&tracker->lock);
    return rc;
}

static int flatten_json(advgnn_tracker *t, const char *run_key, trk_buf *path, const cJSON *item)
{
    size_t mark = path->len;
    const cJSON *child;
    char number[64];
    int index = 0;
    int rc = ADVGNN_OK;

    if (cJSON_IsObject(item) || cJSON_IsArray(item)) {
        cJSON_ArrayForEach(child, item)
        {
            if (path->len > 0)
                trk_buf_puts(path, ".");
            if (cJSON_IsObject(item))
                trk_buf_puts(path, child->string);
            else
                trk_buf_printf(path, "%d", index);
            index++;
            rc = path->failed ? ADVGNN_ERR_NOMEM : flatten_json(t, run_key, path, child);
            path->len = mark;
            if (path->data)
                path->data[mark] = '\0';
            if (rc != ADVGNN_OK)
                return rc;
        }
        return ADVGNN_OK;
    }

    if (cJSON_IsString(item))
        return advgnn_tracker_log_param(t, run_key, path->data, item->valuestring);
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;

        /* The shortest text that reads back as the same double, as
         * results.json shows it: 0.1, not 0.10000000000000001. */
        if (v == floor(v) && fabs(v) < 9007199254740992.0)
            snprintf(number, sizeof(number), "%.0f", v);
        else
            advgnn_format_number(v, number, sizeof(number));
    } else if (cJSON_IsBool(item)) {
        snprintf(number, sizeof(number), "%s", cJSON_IsTrue(item) ? "true" : "false");
    } else {
        snprintf(number, sizeof(number), "null");
    }
    return advgnn_tracker_log_param(t, run_key, path->data, number);
}

int advgnn_tracker_log_params_json(advgnn_tracker *tracker, const char *run_key, const char *prefix,
                                   const cJSON *object)
{
    trk_buf path = {0};
    int rc;

    if (!tracker || !object)
        return advgnn_failf(tracker ? tracker->ctx : NULL, ADVGNN_ERR_INVALID_ARG, "tracking: no params to log");
    trk_buf_puts(&path, prefix ? prefix : "");
    if (path.failed)
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_NOMEM, "out of memory logging params");
    rc = flatten_json(tracker, run_key, &path, object);
    if (rc == ADVGNN_ERR_NOMEM)
        advgnn_failf(tracker->ctx, rc, "out of memory logging params");
    trk_buf_free(&path);
    return rc;
}

void advgnn_tracker_digest(const char *const *items, size_t count, char out[17])
{
    uint64_t hash = TRK_FNV_OFFSET;

    /* A NUL separates items, so {"ab","c"} and {"a","bc"} differ. */
    for (size_t i = 0; i < count; i++)
        hash = trk_fnv1a(hash, items[i], strlen(items[i]) + 1);
    snprintf(out, 17, "%016llx", (unsigned long long)hash);
}

int advgnn_tracker_log_input(advgnn_tracker *tracker, const char *run_key, const char *name, const char *digest,
                             const char *source, const char *context)
{
    trk_buf line = {0};
    int rc;

    if (!tracker || !name || !digest || !source)
        return advgnn_failf(tracker ? tracker->ctx : NULL, ADVGNN_ERR_INVALID_ARG,
                            "tracking: a dataset input needs a name, digest and source");
    if (strlen(digest) == 0 || strlen(digest) > TRK_MAX_DIGEST_LENGTH || strlen(name) == 0 ||
        strlen(name) > TRK_MAX_DATASET_NAME_LENGTH)
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_INVALID_ARG,
                            "tracking: dataset '%.60s' needs a name of 1-500 characters and a digest of 1-36 "
                            "characters (got %zu)",
                            name, strlen(digest));

    pthread_mutex_lock(&tracker->lock);
    rc = check_run(tracker, run_key);
    if (rc == ADVGNN_OK) {
        begin_record(tracker, &line, "input", run_key);
        put_field(&line, "name", name);
        put_field(&line, "digest", digest);
        put_field(&line, "source", source);
        put_field(&line, "context", context ? context : "training");
        rc = commit_record(tracker, &line);
    }
    pthread_mutex_unlock(&tracker->lock);
    return rc;
}

/* Returns `path` relative to the run folder when it lies inside, else its
 * absolute form, as a new string; NULL when the file does not exist. */
static char *journal_path(const advgnn_tracker *t, const char *path)
{
    char resolved[PATH_MAX];
    char run_dir[PATH_MAX];
    size_t len;

    if (!realpath(path, resolved) || !realpath(t->run_dir, run_dir))
        return NULL;
    len = strlen(run_dir);
    if (strncmp(resolved, run_dir, len) == 0 && resolved[len] == '/')
        return advgnn_strdup(resolved + len + 1);
    return advgnn_strdup(resolved);
}

int advgnn_tracker_log_artifact(advgnn_tracker *tracker, const char *run_key, const char *local_path,
                                const char *artifact_dir)
{
    trk_buf line = {0};
    char *stored;
    int rc;

    if (!tracker || !local_path)
        return advgnn_failf(tracker ? tracker->ctx : NULL, ADVGNN_ERR_INVALID_ARG, "tracking: artifact without a path");
    if (!advgnn_fs_is_file(local_path))
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_NOT_FOUND, "tracking: artifact file %s not found", local_path);
    if (artifact_dir && (artifact_dir[0] == '/' || strstr(artifact_dir, "..")))
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_INVALID_ARG,
                            "tracking: artifact folder '%s' must be relative and without '..'", artifact_dir);
    stored = journal_path(tracker, local_path);
    if (!stored)
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_IO, "tracking: cannot resolve artifact path %s: %s", local_path,
                            strerror(errno));

    pthread_mutex_lock(&tracker->lock);
    rc = check_run(tracker, run_key);
    if (rc == ADVGNN_OK) {
        begin_record(tracker, &line, "artifact", run_key);
        put_field(&line, "path", stored);
        put_field(&line, "dest", artifact_dir ? artifact_dir : "");
        rc = commit_record(tracker, &line);
    }
    pthread_mutex_unlock(&tracker->lock);
    advgnn_free(stored);
    return rc;
}

int advgnn_tracker_set_metric_run(advgnn_tracker *tracker, const char *run_key)
{
    char *copy = NULL;

    if (!tracker)
        return ADVGNN_OK;
    if (run_key && !(copy = advgnn_strdup(run_key)))
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_NOMEM, "out of memory choosing the metric run");
    pthread_mutex_lock(&tracker->lock);
    advgnn_free(tracker->metric_run);
    tracker->metric_run = copy;
    pthread_mutex_unlock(&tracker->lock);
    return ADVGNN_OK;
}

void advgnn_tracker_metric_sink(void *user, const char *key, double value, long long step)
{
    advgnn_tracker *t = user;
    int had_error = advgnn_ctx_error_status(t->ctx) != ADVGNN_OK;
    char run_key[MAX_RUN_KEY_LENGTH + 1];
    int rc;

    /* Copy the run key under the lock: another thread may change it. */
    pthread_mutex_lock(&t->lock);
    snprintf(run_key, sizeof(run_key), "%s", t->metric_run ? t->metric_run : "");
    pthread_mutex_unlock(&t->lock);
    if (!run_key[0])
        return;

    rc = advgnn_tracker_log_metric(t, run_key, key, value, step, 0);
    if (rc != ADVGNN_OK && !had_error) {
        advgnn_log(t->ctx, ADVGNN_LOG_WARN, "tracking: %s", advgnn_ctx_error(t->ctx));
        advgnn_ctx_clear_error(t->ctx);
    }
}

int advgnn_tracker_checkpoint(advgnn_tracker *tracker)
{
    int rc;

    if (!tracker)
        return ADVGNN_OK;
    pthread_mutex_lock(&tracker->lock);
    rc = trk_journal_sync(tracker->ctx, &tracker->journal);
    pthread_mutex_unlock(&tracker->lock);
    return rc;
}

/* ---- runs ----------------------------------------------------------------------------------- */

static const char *user_name(char *buf, size_t size)
{
    const char *env = getenv("USER");
    struct passwd pw;
    struct passwd *found = NULL;
    char scratch[1024];

    if (env && *env)
        return env;
    if (getpwuid_r(getuid(), &pw, scratch, sizeof(scratch), &found) == 0 && found) {
        snprintf(buf, size, "%s", found->pw_name);
        return buf;
    }
    return "unknown";
}

static void put_tag(trk_buf *line, int *first, const char *key, const char *value)
{
    if (!*first)
        trk_buf_puts(line, ",");
    trk_buf_json_string(line, key);
    trk_buf_puts(line, ":");
    trk_buf_json_string(line, value);
    *first = 0;
}

static int valid_run_key(const char *key)
{
    size_t len = key ? strlen(key) : 0;

    return len > 0 && len <= MAX_RUN_KEY_LENGTH && strspn(key, TRK_RUN_KEY_CHARS) == len;
}

int advgnn_tracker_start_run(advgnn_tracker *tracker, const char *run_key, const char *parent_key,
                             const char *run_name, const char *note)
{
    trk_buf line = {0};
    char user[256];
    char commit[41];
    char branch[256];
    char *note_cut = NULL;
    int first = 1;
    run_slot *existing;
    int rc;

    if (!tracker)
        return ADVGNN_ERR_INVALID_ARG;
    if (!valid_run_key(run_key))
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_INVALID_ARG,
                            "tracking: run key '%s' is invalid; use 1-200 characters from A-Z a-z 0-9 _ . : / = + -",
                            run_key ? run_key : "(null)");

    pthread_mutex_lock(&tracker->lock);
    existing = find_run(tracker, run_key);
    if (existing) {
        /* A resumed run continues under its first record. */
        existing->ended = 0;
        pthread_mutex_unlock(&tracker->lock);
        return ADVGNN_OK;
    }
    if (parent_key && !find_run(tracker, parent_key)) {
        pthread_mutex_unlock(&tracker->lock);
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_INVALID_ARG, "tracking: parent run '%s' of '%s' was not started",
                            parent_key, run_key);
    }

    begin_record(tracker, &line, "run", run_key);
    trk_buf_puts(&line, ",\"parent\":");
    trk_buf_json_string(&line, parent_key);
    put_field(&line, "name", run_name ? run_name : run_key);
    trk_buf_printf(&line, ",\"start\":%lld,\"tags\":{", (long long)trk_now_ms());
    put_tag(&line, &first, "mlflow.user", user_name(user, sizeof(user)));
    put_tag(&line, &first, "mlflow.source.type", "LOCAL");
    if (tracker->script_path) {
        put_tag(&line, &first, "mlflow.source.name", tracker->script_path);
        if (trk_git_info(tracker->script_path, commit, branch)) {
            put_tag(&line, &first, "mlflow.source.git.commit", commit);
            if (branch[0])
                put_tag(&line, &first, "mlflow.source.git.branch", branch);
        }
    }
    if (note) {
        size_t keep = trk_utf8_prefix(note, TRK_MAX_TAG_VALUE_LENGTH);

        note_cut = advgnn_malloc(keep + 1);
        if (note_cut) {
            memcpy(note_cut, note, keep);
            note_cut[keep] = '\0';
            put_tag(&line, &first, "mlflow.note.content", note_cut);
        } else {
            line.failed = 1;
        }
    }
    put_tag(&line, &first, "advgnn.version", ADVGNN_VERSION_STRING);
    trk_buf_puts(&line, "}");

    rc = add_run(tracker, run_key) ? commit_record(tracker, &line)
                                   : advgnn_failf(tracker->ctx, ADVGNN_ERR_NOMEM, "out of memory starting a run");
    trk_buf_free(&line);
    advgnn_free(note_cut);
    pthread_mutex_unlock(&tracker->lock);
    return rc;
}

static const char *status_name(advgnn_run_status status)
{
    switch (status) {
    case ADVGNN_RUN_STATUS_FINISHED: return "FINISHED";
    case ADVGNN_RUN_STATUS_FAILED: return "FAILED";
    case ADVGNN_RUN_STATUS_KILLED: return "KILLED";
    default: return NULL;
    }
}

/* Writes the end record (and the error tag). Called with the lock held. */
static int end_run_locked(advgnn_tracker *t, run_slot *run, advgnn_run_status status, const char *error)
{
    trk_buf line = {0};
    int rc = ADVGNN_OK;

    if (error && status != ADVGNN_RUN_STATUS_FINISHED) {
        begin_record(t, &line, "tag", run->key);
        put_field(&line, "key", "advgnn.error");
        put_value(t, &line, "advgnn.error", error, TRK_MAX_TAG_VALUE_LENGTH);
        rc = commit_record(t, &line);
    }
    if (rc == ADVGNN_OK) {
        begin_record(t, &line, "end", run->key);
        put_field(&line, "status", status_name(status));
        trk_buf_printf(&line, ",\"ts\":%lld", (long long)trk_now_ms());
        rc = commit_record(t, &line);
    }
    if (rc == ADVGNN_OK) {
        run->ended = 1;
        rc = trk_journal_sync(t->ctx, &t->journal);
    }
    return rc;
}

int advgnn_tracker_end_run(advgnn_tracker *tracker, const char *run_key, advgnn_run_status status,
                           const char *error)
{
    run_slot *run;
    int rc;

    if (!tracker)
        return ADVGNN_ERR_INVALID_ARG;
    if (!status_name(status))
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_INVALID_ARG, "tracking: invalid run status %d", (int)status);
    pthread_mutex_lock(&tracker->lock);
    run = run_key ? find_run(tracker, run_key) : NULL;
    rc = run ? end_run_locked(tracker, run, status, error) : check_run(tracker, run_key);
    pthread_mutex_unlock(&tracker->lock);
    return rc;
}

int advgnn_tracker_end_open_runs(advgnn_tracker *tracker, advgnn_run_status status, const char *error)
{
    int rc = ADVGNN_OK;

    if (!tracker)
        return ADVGNN_ERR_INVALID_ARG;
    if (!status_name(status))
        return advgnn_failf(tracker->ctx, ADVGNN_ERR_INVALID_ARG, "tracking: invalid run status %d", (int)status);

    /* Nested runs first, so that each ends before its parent. */
    pthread_mutex_lock(&tracker->lock);
    for (size_t i = tracker->run_count; i-- > 0 && rc == ADVGNN_OK;)
        if (!tracker->runs[i].ended)
            rc = end_run_locked(tracker, &tracker->runs[i], status, error);
    pthread_mutex_unlock(&tracker->lock);
    return rc;
}

size_t advgnn_tracker_pending(advgnn_tracker *tracker)
{
    size_t pending;

    if (!tracker || !tracker->delivering)
        return 0;
    pthread_mutex_lock(&tracker->lock);
    pending = tracker->queue_count + tracker->unqueued;
    pthread_mutex_unlock(&tracker->lock);
    return pending;
}

/* ---- open and close --------------------------------------------------------------------------- */

/* Learns the runs and header of an existing journal and queues its lines. */
typedef struct resume_state {
    advgnn_tracker *t;
    int nomem;
} resume_state;

static int visit_resume(void *user, char *line, size_t len)
{
    resume_state *state = user;
    advgnn_tracker *t = state->t;
    cJSON *record = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(record, "type");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(record, "run");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(record, "id");
    char *copy;

    if (cJSON_IsString(type) && strcmp(type->valuestring, "journal") == 0 && cJSON_IsString(id))
        snprintf(t->journal_id, sizeof(t->journal_id), "%s", id->valuestring);
    if (cJSON_IsString(type) && strcmp(type->valuestring, "run") == 0 && cJSON_IsString(run) &&
        !find_run(t, run->valuestring) && !add_run(t, run->valuestring))
        state->nomem = 1;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "end") == 0 && cJSON_IsString(run) &&
        find_run(t, run->valuestring))
        find_run(t, run->valuestring)->ended = 1;
    cJSON_Delete(record);

    copy = advgnn_malloc(len + 1);
    if (!copy) {
        state->nomem = 1;
        return 1;
    }
    memcpy(copy, line, len + 1);
    queue_push(t, copy);
    return state->nomem;
}

static int write_header(advgnn_tracker *t, const advgnn_tracker_config *config)
{
    trk_buf line = {0};
    int first = 1;

    trk_random_id(t->journal_id);
    begin_record(t, &line, "journal", NULL);
    put_field(&line, "id", t->journal_id);
    put_field(&line, "experiment", config->experiment ? config->experiment : "Default");
    trk_buf_puts(&line, ",\"experiment_tags\":{");
    for (const char *const *tag = config->experiment_tags; tag && tag[0] && tag[1]; tag += 2)
        put_tag(&line, &first, tag[0], tag[1]);
    trk_buf_printf(&line, "},\"created\":%lld", (long long)trk_now_ms());
    put_field(&line, "advgnn_version", ADVGNN_VERSION_STRING);
    return commit_record(t, &line);
}

static int start_delivery(advgnn_tracker *t, const char *uri, const advgnn_tracker_config *config)
{
    int rc;

    t->thread_ctx = advgnn_ctx_new();
    if (!t->thread_ctx)
        return advgnn_failf(t->ctx, ADVGNN_ERR_NOMEM, "out of memory starting tracking");

    /* advgnn_ctx_new resets the OpenMP thread count; put the caller's back. */
    advgnn_ctx_set_threads(t->thread_ctx, advgnn_ctx_threads(t->ctx));

    /* Settings errors belong to the caller's context. */
    rc = trk_delivery_init(t->ctx, t->ctx, uri, t->run_dir, &t->delivery);
    if (rc != ADVGNN_OK)
        return rc;
    rc = trk_acks_write_live_run(t->ctx, &t->delivery.acks);
    if (rc != ADVGNN_OK)
        return rc;
    t->delivery.ctx = t->thread_ctx;
    t->delivery.persistent = 1;
    t->delivery.wait = thread_wait;
    t->delivery.waiting = thread_waiting;
    t->delivery.user = t;
    t->delivery.http.should_abort = thread_should_abort;
    t->delivery.http.abort_user = t;
    if (config->max_retry_delay_s > 0)
        t->delivery.max_delay_s = config->max_retry_delay_s;
    t->delivering = 1;
    t->sender_alive = 1;
    return ADVGNN_OK;
}

static int init_sync(advgnn_tracker *t)
{
    if (pthread_mutex_init(&t->lock, NULL) != 0)
        return 0;
    if (pthread_cond_init(&t->work, NULL) != 0) {
        pthread_mutex_destroy(&t->lock);
        return 0;
    }
    if (pthread_cond_init(&t->progress, NULL) != 0) {
        pthread_cond_destroy(&t->work);
        pthread_mutex_destroy(&t->lock);
        return 0;
    }
    if (pthread_cond_init(&t->stop_cond, NULL) != 0) {
        pthread_cond_destroy(&t->progress);
        pthread_cond_destroy(&t->work);
        pthread_mutex_destroy(&t->lock);
        return 0;
    }
    return 1;
}

static void free_tracker(advgnn_tracker *t)
{
    trk_journal_close(&t->journal);
    if (t->delivering || t->delivery.run_dir)
        trk_delivery_free(&t->delivery);
    advgnn_ctx_free(t->thread_ctx);
    while (t->queue_count > 0)
        queue_pop(t, 1);
    advgnn_free(t->queue);
    for (size_t i = 0; i < t->run_count; i++)
        advgnn_free(t->runs[i].key);
    advgnn_free(t->runs);
    for (size_t i = 0; i < t->warned_count; i++)
        advgnn_free(t->warned[i]);
    advgnn_free(t->run_dir);
    advgnn_free(t->tracking_dir);
    advgnn_free(t->script_path);
    advgnn_free(t->metric_run);
    pthread_cond_destroy(&t->stop_cond);
    pthread_cond_destroy(&t->progress);
    pthread_cond_destroy(&t->work);
    pthread_mutex_destroy(&t->lock);
    advgnn_free(t);
}

static int open_journal(advgnn_tracker *t, const advgnn_tracker_config *config)
{
    resume_state state = {t, 0};
    int rc = trk_journal_open(t->ctx, t->tracking_dir, &t->journal);

    if (rc != ADVGNN_OK)
        return rc;
    if (!t->journal.existed)
        return write_header(t, config);

    /* A resumed run: learn its runs, queue what may still need sending (the
     * delivery skips acknowledged records), and check the server first. */
    rc = trk_journal_read(t->ctx, t->journal.path, visit_resume, &state);
    if (state.nomem)
        rc = advgnn_failf(t->ctx, ADVGNN_ERR_NOMEM, "out of memory reading %s", t->journal.path);
    t->delivery.replay = 1;
    return rc;
}

int advgnn_tracker_open(advgnn_ctx *ctx, const advgnn_tracker_config *config, advgnn_tracker **out)
{
    advgnn_tracker *t;
    const char *uri = config ? config->uri : NULL;
    char resolved[PATH_MAX];
    int rc;

    *out = NULL;
    if (!config || !config->run_dir)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "tracking: no run folder given");
    if (!uri)
        uri = getenv("MLFLOW_TRACKING_URI");
    if (uri && !*uri)
        uri = NULL;

    t = advgnn_calloc(1, sizeof(*t));
    if (!t)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening the tracker");
    if (!init_sync(t)) {
        advgnn_free(t);
        return advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "tracking: cannot create a mutex");
    }
    t->ctx = ctx;
    t->run_dir = advgnn_strdup(config->run_dir);
    t->tracking_dir = advgnn_fs_join(config->run_dir, TRK_FOLDER);
    if (config->script_path)
        t->script_path = advgnn_strdup(realpath(config->script_path, resolved) ? resolved : config->script_path);
    if (!t->run_dir || !t->tracking_dir || (config->script_path && !t->script_path)) {
        free_tracker(t);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening the tracker");
    }

    rc = uri ? start_delivery(t, uri, config) : ADVGNN_OK;
    if (rc == ADVGNN_OK)
        rc = open_journal(t, config);
    if (rc == ADVGNN_OK)
        rc = trk_journal_sync(ctx, &t->journal);
    if (rc == ADVGNN_OK && t->delivering) {
        if (pthread_create(&t->thread, NULL, sender_main, t) != 0)
            rc = advgnn_failf(ctx, ADVGNN_ERR_INTERNAL, "tracking: cannot start the delivery thread");
        else
            t->thread_started = 1;
    }
    if (rc != ADVGNN_OK) {
        free_tracker(t);
        return rc;
    }

    if (t->delivering)
        advgnn_log(ctx, ADVGNN_LOG_INFO, "tracking: run %s to MLflow server %s, experiment '%s'", t->run_dir,
                   t->delivery.cfg.display, config->experiment ? config->experiment : "Default");
    *out = t;
    return ADVGNN_OK;
}

/* Waits for the delivery thread to drain the queue, up to `wait_ms`. A
 * SIGINT or SIGTERM that arrives during the wait ends it within 0.1 s,
 * because the journal already contains every record for `advgnn sync`. A signal
 * that came before the wait does not shorten it, so the end of an
 * interrupted run still reaches the server. Returns nonzero when a signal
 * ended the wait. */
static int stop_delivery(advgnn_tracker *t, int wait_ms)
{
    struct timespec until;
    struct timespec now;
    struct timespec slice;
    int signalled_before = advgnn_interrupted();
    int interrupted = 0;

    deadline_after(&until, wait_ms > 0 ? wait_ms / 1000.0 : 0);
    pthread_mutex_lock(&t->lock);
    t->closing = 1;
    pthread_cond_signal(&t->work);
    while (t->sender_alive) {
        if (!signalled_before && advgnn_interrupted()) {
            interrupted = 1;
            break;
        }
        deadline_after(&slice, 0.1);
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > until.tv_sec || (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
            break;
        if (slice.tv_sec > until.tv_sec || (slice.tv_sec == until.tv_sec && slice.tv_nsec > until.tv_nsec))
            slice = until;
        pthread_cond_timedwait(&t->progress, &t->lock, &slice);
    }

    /* Past the deadline: stop waits and abort the transfer in progress. */
    atomic_store(&t->stop, 1);
    pthread_cond_broadcast(&t->stop_cond);
    pthread_cond_broadcast(&t->work);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->thread_started = 0;
    return interrupted;
}

int advgnn_tracker_close(advgnn_tracker *tracker, int wait_ms, advgnn_tracker_summary *summary)
{
    advgnn_tracker_summary counts = {0};
    int interrupted = 0;
    int rc = ADVGNN_OK;

    if (summary)
        memset(summary, 0, sizeof(*summary));
    if (!tracker)
        return ADVGNN_OK;

    /* Runs the caller did not end were interrupted or abandoned by an error. */
    pthread_mutex_lock(&tracker->lock);
    for (size_t i = 0; i < tracker->run_count && rc == ADVGNN_OK; i++) {
        if (tracker->runs[i].ended)
            continue;
        if (advgnn_interrupted())
            rc = end_run_locked(tracker, &tracker->runs[i], ADVGNN_RUN_STATUS_KILLED, "interrupted by a signal");
        else
            rc = end_run_locked(tracker, &tracker->runs[i], ADVGNN_RUN_STATUS_FAILED,
                                "the run was not ended before the tracker closed");
    }
    if (rc == ADVGNN_OK)
        rc = trk_journal_sync(tracker->ctx, &tracker->journal);
    pthread_mutex_unlock(&tracker->lock);

    if (tracker->thread_started)
        interrupted = stop_delivery(tracker, wait_ms);

    counts.journaled = tracker->journaled;
    if (tracker->delivering) {
        counts.sent = tracker->delivery.sent;
        counts.failed = tracker->delivery.failed;
        counts.pending = tracker->queue_count + tracker->unqueued;
        if (counts.pending > 0 && interrupted)
            advgnn_log(tracker->ctx, ADVGNN_LOG_WARN,
                       "tracking: stopped waiting for delivery to %s on a signal; the journal in %s keeps the %zu "
                       "records not delivered; send them with `advgnn sync %s`",
                       tracker->delivery.cfg.display, tracker->tracking_dir, counts.pending, tracker->run_dir);
        else if (counts.pending > 0)
            advgnn_log(tracker->ctx, ADVGNN_LOG_WARN,
                       "tracking: %zu records were not delivered to %s; they are kept in %s; send them with "
                       "`advgnn sync %s`",
                       counts.pending, tracker->delivery.cfg.display, tracker->tracking_dir, tracker->run_dir);
        if (counts.failed > 0)
            advgnn_log(tracker->ctx, ADVGNN_LOG_WARN,
                       "tracking: %zu records could not be delivered and are not retried; the reasons are "
                       "listed in %s",
                       counts.failed, tracker->delivery.acks.path);
    }
    if (summary)
        *summary = counts;
    free_tracker(tracker);
    return rc;
}
