/* Delivery of journal records to an MLflow server: batching, retries,
 * acknowledgements, and the checks that make a replay send nothing twice.
 * Used by the tracker's background thread and by `advgnn sync`. Private to
 * core/src/tracking. */
#ifndef ADVGNN_TRACKING_DELIVERY_H
#define ADVGNN_TRACKING_DELIVERY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "tracking/http.h"
#include "tracking/journal.h"

/* Run keys are also written into MLflow search filters, so they are limited
 * to characters that need no quoting there. */
#define TRK_RUN_KEY_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/=+-"

/* Tag on every run created, "<journal id>/<run key>": a replay finds a run it
 * created before a crash by this tag instead of creating it twice. */
#define TRK_RUN_KEY_TAG "advgnn.run_key"

/* Cached metric history of one (run, key), for replay checks. */
typedef struct trk_point {
    double value;
    long long timestamp_ms;
    long long step;
} trk_point;

typedef struct trk_delivery {
    advgnn_ctx *ctx;          /* error buffer of the delivering thread */
    advgnn_ctx *log_ctx;      /* where messages are logged */
    trk_http_config cfg;
    trk_http http;
    trk_acks acks;
    char *run_dir;
    char *tracking_dir;

    /* From the journal's header record. */
    char *journal_id;
    char *experiment;
    cJSON *experiment_tags;   /* object of strings, or NULL */

    int replay;               /* records come from disk: check before sending what may exist */
    int persistent;           /* retry past max_retries until `wait` returns nonzero (live runs) */
    double max_delay_s;       /* cap on one wait between attempts */

    /* Sleeps `seconds`, or less when a stop is requested; returns nonzero to stop now. */
    int (*wait)(void *user, double seconds);
    /* Returns how many records are waiting, for the "unreachable" message. */
    size_t (*waiting)(void *user);
    void *user;

    int halted;               /* credentials rejected: nothing more is sent */
    int experiment_failed;    /* the experiment could not be created: runs fail */
    int offline_reported;
    unsigned int jitter_seed;
    size_t sent;              /* records acknowledged by the server in this session */
    size_t failed;            /* records rejected for good in this session */
    size_t rejections_logged;

    char *history_run;
    char *history_key;
    trk_point *history;
    size_t history_count;
} trk_delivery;

/* Prepares delivery of the journal in <run_dir>/tracking to `uri`: reads the
 * HTTP settings, opens the acknowledgement log for that server. The caller
 * sets wait/waiting/user, replay and persistent afterwards. */
ADVGNN_INTERNAL int trk_delivery_init(advgnn_ctx *ctx, advgnn_ctx *log_ctx, const char *uri, const char *run_dir,
                                      trk_delivery *d);
ADVGNN_INTERNAL void trk_delivery_free(trk_delivery *d);

/* Delivers `records` (parsed journal lines, in journal order), skipping those
 * already acknowledged. Returns how many leading records are done (delivered,
 * rejected for good, or skipped). Fewer than `count` means the rest waits,
 * because the server stayed unreachable, `wait` returned nonzero, or
 * d->halted was set. */
ADVGNN_INTERNAL size_t trk_delivery_process(trk_delivery *d, cJSON *const *records, size_t count);

/* Delivers like trk_delivery_process, for a caller that passed only the
 * first `count` of more queued records. A last log-batch that ends with
 * `records` below MLflow's limits is left unsent, because the records queued
 * after it can fill it. Its length goes to *held_back, and the return value
 * stops before it. Nothing is held back when that batch would be the first of
 * the call, so each call makes progress. */
ADVGNN_INTERNAL size_t trk_delivery_process_partial(trk_delivery *d, cJSON *const *records, size_t count,
                                                    size_t *held_back);

#endif
