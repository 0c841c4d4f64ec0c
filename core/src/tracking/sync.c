/* `advgnn sync`: replays a run folder's journal to an MLflow server. */
#include "tracking/sync.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tracking/delivery.h"
#include "tracking/journal.h"
#include "util/fsutil.h"

/* Records parsed and handed to the delivery at once. */
#define CHUNK_RECORDS 4096

typedef struct replay_state {
    trk_delivery *d;
    cJSON *chunk[CHUNK_RECORDS];
    size_t count;
    size_t records;
    int stopped;     /* the delivery left records pending: stop reading */
} replay_state;

static void clear_chunk(replay_state *state)
{
    for (size_t i = 0; i < state->count; i++)
        cJSON_Delete(state->chunk[i]);
    state->count = 0;
}

/* Delivers the chunk. When `more_follow` is nonzero, a partial last log-batch
 * stays at the front of the chunk for the next lines to fill. Returns nonzero
 * when the delivery left records pending. */
static int flush_chunk(replay_state *state, int more_follow)
{
    size_t held_back = 0;
    size_t done;

    if (more_follow)
        done = trk_delivery_process_partial(state->d, state->chunk, state->count, &held_back);
    else
        done = trk_delivery_process(state->d, state->chunk, state->count);

    if (done + held_back < state->count) {
        state->stopped = 1;
        clear_chunk(state);
        return 1;
    }

    /* The held-back records keep their journal order at the chunk's front. */
    for (size_t i = 0; i < done; i++)
        cJSON_Delete(state->chunk[i]);
    memmove(state->chunk, state->chunk + done, held_back * sizeof(state->chunk[0]));
    state->count = held_back;
    return 0;
}

static int visit_replay(void *user, char *line, size_t len)
{
    replay_state *state = user;
    cJSON *record = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(record, "type");

    if (!record) {
        advgnn_log(state->d->log_ctx, ADVGNN_LOG_WARN, "tracking: skipping an unreadable journal line: %.80s", line);
        return 0;
    }
    if (!(cJSON_IsString(type) && strcmp(type->valuestring, "journal") == 0))
        state->records++;
    state->chunk[state->count++] = record;
    return state->count == CHUNK_RECORDS ? flush_chunk(state, 1) : 0;
}

typedef struct pending_state {
    const trk_acks *acks;
    size_t pending;
} pending_state;

static int visit_pending(void *user, char *line, size_t len)
{
    pending_state *state = user;
    cJSON *record = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(record, "type");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(record, "seq");

    if (cJSON_IsString(type) && strcmp(type->valuestring, "journal") != 0 && cJSON_IsNumber(seq) &&
        !trk_acks_is_done(state->acks, (uint64_t)seq->valuedouble))
        state->pending++;
    cJSON_Delete(record);
    return 0;
}

/* Sleeps `seconds` in slices of 0.1 s, so that SIGINT or SIGTERM stops a
 * sync within 0.1 s instead of after a wait of up to 120 s. Returns nonzero
 * when a signal arrived. */
static int wait_unless_interrupted(void *user, double seconds)
{
    (void)user;
    while (seconds > 0 && !advgnn_interrupted()) {
        double slice = seconds < 0.1 ? seconds : 0.1;

        usleep((useconds_t)(slice * 1e6));
        seconds -= slice;
    }
    return advgnn_interrupted();
}

/* Returns nonzero after SIGINT or SIGTERM, so that libcurl aborts the
 * transfer in progress. libcurl polls it about once a second, and more often
 * while data flows. */
static int abort_on_interrupt(void *user)
{
    (void)user;
    return advgnn_interrupted();
}

/* Returns the URI of the "target" line that starts an acknowledgement log, as
 * a new string (advgnn_free), or NULL when the file has none. *responded is
 * 1 when the server ever responded, and *live_run is 1 when a live run
 * delivered to it (rather than only `advgnn sync`). */
static char *log_target(const char *path, int *responded, int *live_run)
{
    char line[4096];
    FILE *file = fopen(path, "r");
    cJSON *json;
    const cJSON *target;
    char *uri = NULL;

    *responded = 0;
    *live_run = 0;
    if (!file)
        return NULL;
    if (fgets(line, sizeof(line), file)) {
        json = cJSON_Parse(line);
        target = cJSON_GetObjectItemCaseSensitive(json, "target");
        if (cJSON_IsString(target) && target->valuestring[0])
            uri = advgnn_strdup(target->valuestring);
        cJSON_Delete(json);
    }

    /* Intent lines are written before a request, and a live run marks its
     * log when it starts. Any other line (an experiment id, a run, an ack,
     * a rejection) means the server responded. A log of intents only, from
     * a sync to a wrong URI, names no server. */
    while (uri && fgets(line, sizeof(line), file)) {
        static const char live_key[] = "{\"live_run\":", intent_key[] = "{\"intent\":";

        if (strncmp(line, live_key, sizeof(live_key) - 1) == 0)
            *live_run = 1;
        else if (strncmp(line, intent_key, sizeof(intent_key) - 1) != 0 && line[0] == '{')
            *responded = 1;
    }
    fclose(file);
    return uri;
}

/* Returns nonzero when `uri` is one of the entries of the ", "-separated `list`. */
static int is_listed(const char *list, const char *uri)
{
    size_t len = strlen(uri);

    for (const char *at = strstr(list, uri); at; at = strstr(at + 1, uri))
        if ((at == list || at[-1] == ' ') && (at[len] == '\0' || at[len] == ','))
            return 1;
    return 0;
}

/* The distinct servers that the acknowledgement logs name. */
typedef struct server_set {
    char *latest;        /* the last one added, owned */
    char names[1024];    /* ", "-separated */
    int count;
} server_set;

static void server_set_add(server_set *set, char *uri)
{
    if ((set->latest && strcmp(set->latest, uri) == 0) || is_listed(set->names, uri)) {
        advgnn_free(uri);
        return;
    }
    set->count++;
    if (strlen(set->names) + strlen(uri) + 3 < sizeof(set->names))
        snprintf(set->names + strlen(set->names), sizeof(set->names) - strlen(set->names), "%s%s",
                 set->names[0] ? ", " : "", uri);
    advgnn_free(set->latest);
    set->latest = uri;
}

/* Finds the server that the run delivered to, named by the acknowledgement
 * logs (acks-<hash>.jsonl, see journal.h) in <run_dir>/tracking. A log names
 * its server when the server responded or when the live run delivered to it,
 * even if that server was down during the whole run. A log that only a sync
 * wrote, to a server that never responded, names none. The logs store the
 * URI without credentials, so credentials come from the environment. Fails
 * with ADVGNN_ERR_OPTION when the logs name no server or several: a sync to
 * another server that responded makes the choice the user's. */
static int recorded_uri(advgnn_ctx *ctx, const char *run_dir, char **out)
{
    char *dir_path = advgnn_fs_join(run_dir, TRK_FOLDER);
    DIR *dir;
    struct dirent *entry;
    server_set named = {0};

    *out = NULL;
    if (!dir_path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    dir = opendir(dir_path);
    while (dir && (entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        int responded, live_run;
        char *path;
        char *uri;

        if (strncmp(entry->d_name, "acks-", 5) != 0 || len < 11 || strcmp(entry->d_name + len - 6, ".jsonl") != 0)
            continue;
        path = advgnn_fs_join(dir_path, entry->d_name);
        uri = path ? log_target(path, &responded, &live_run) : NULL;
        advgnn_free(path);
        if (uri && (responded || live_run))
            server_set_add(&named, uri);
        else
            advgnn_free(uri);
    }
    if (dir)
        closedir(dir);
    advgnn_free(dir_path);

    if (named.count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "no tracking URI for %s: the run was never sent to a server; pass --tracking-uri URI or "
                            "set MLFLOW_TRACKING_URI",
                            run_dir);
    if (named.count > 1) {
        advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                     "no tracking URI for %s: the run was sent to several servers (%s); choose one with "
                     "--tracking-uri URI or MLFLOW_TRACKING_URI",
                     run_dir, named.names);
        advgnn_free(named.latest);
        return ADVGNN_ERR_OPTION;
    }
    *out = named.latest;
    return ADVGNN_OK;
}

int advgnn_tracking_check_uri(advgnn_ctx *ctx, const char *uri)
{
    return trk_check_uri(ctx, uri);
}

int advgnn_tracking_sync(advgnn_ctx *ctx, const char *run_dir, const char *uri, advgnn_sync_summary *summary)
{
    trk_delivery d;
    replay_state *state;
    pending_state pending = {NULL, 0};
    char *journal;
    char *recorded = NULL;
    int rc;

    if (summary)
        memset(summary, 0, sizeof(*summary));

    /* A missing folder is reported first, because no URI can fix it. */
    if (!advgnn_fs_is_dir(run_dir))
        return advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "run folder '%s' does not exist", run_dir);
    journal = advgnn_fs_join(run_dir, TRK_FOLDER "/" TRK_JOURNAL_FILE);
    if (!journal)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (!advgnn_fs_is_file(journal)) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOT_FOUND, "%s has no tracking journal (%s is missing)", run_dir, journal);
        advgnn_free(journal);
        return rc;
    }

    if (!uri || !*uri)
        uri = getenv("MLFLOW_TRACKING_URI");
    if (!uri || !*uri) {
        rc = recorded_uri(ctx, run_dir, &recorded);
        if (rc != ADVGNN_OK) {
            advgnn_free(journal);
            return rc;
        }
        uri = recorded;
        advgnn_log(ctx, ADVGNN_LOG_INFO,
                   "tracking: %s: no --tracking-uri or MLFLOW_TRACKING_URI given; using %s, the server the run "
                   "was sent to",
                   run_dir, uri);
    }

    state = advgnn_calloc(1, sizeof(*state));
    rc = state ? trk_delivery_init(ctx, ctx, uri, run_dir, &d)
               : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");
    if (rc != ADVGNN_OK) {
        advgnn_free(state);
        advgnn_free(journal);
        advgnn_free(recorded);
        return rc;
    }
    d.replay = 1;
    d.wait = wait_unless_interrupted;
    d.http.should_abort = abort_on_interrupt;
    state->d = &d;

    /* Deliver chunk by chunk, in journal order. */
    rc = trk_journal_read(ctx, journal, visit_replay, state);
    if (rc == ADVGNN_OK && !state->stopped && state->count > 0)
        flush_chunk(state, 0);
    clear_chunk(state);
    if (rc > 0)
        rc = ADVGNN_OK;

    /* Count what is still not acknowledged. */
    pending.acks = &d.acks;
    if (rc == ADVGNN_OK)
        rc = trk_journal_read(ctx, journal, visit_pending, &pending);
    if (summary) {
        summary->records = state->records;
        summary->sent = d.sent;
        summary->failed = d.failed;
        summary->pending = pending.pending;
    }
    if (rc == ADVGNN_OK && pending.pending > 0 && advgnn_interrupted()) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_INTERRUPTED,
                          "sync %s stopped by a signal; the journal keeps the %zu records not sent, and running "
                          "`advgnn sync %s` again sends them",
                          run_dir, pending.pending, run_dir);
    } else if (rc == ADVGNN_OK && pending.pending > 0) {
        rc = advgnn_ctx_error_status(ctx) != ADVGNN_OK ? advgnn_ctx_error_status(ctx) : ADVGNN_ERR_NETWORK;
        advgnn_failf(ctx, rc, "%zu records of %s were not delivered to %s", pending.pending, run_dir, d.cfg.display);
        advgnn_error_prefixf(ctx, "sync %s", run_dir);
    }
    if (rc == ADVGNN_OK)
        advgnn_log(ctx, ADVGNN_LOG_INFO, "tracking: %s: %zu records sent, %zu rejected, %zu already on %s", run_dir,
                   d.sent, d.failed, state->records - d.sent - d.failed, d.cfg.display);

    trk_delivery_free(&d);
    advgnn_free(state);
    advgnn_free(journal);
    advgnn_free(recorded);
    return rc;
}
