/* Progress of a run's stages: a one-line bar redrawn with '\r' on a terminal,
 * else one info log line per stage. Private. */
#ifndef ADVGNN_REPORT_PROGRESS_H
#define ADVGNN_REPORT_PROGRESS_H

#include <stddef.h>

#include "advgnn/context.h"

typedef struct advgnn_progress {
    advgnn_ctx *ctx;
    int bar;            /* nonzero: draw on stderr (requested, and stderr is a terminal) */
    const char *stage;  /* borrowed, e.g. "encode test" */
    const char *category; /* borrowed */
    size_t total;       /* images of the stage */
    size_t done;
    double start;       /* seconds, monotonic clock */
    double last_draw;   /* seconds; redraws are at most 10 per second */
} advgnn_progress;

/* Returns seconds of a monotonic clock. */
double advgnn_now_seconds(void);

/* Sets up progress reporting; the bar is drawn only when `requested` is
 * nonzero and stderr is a terminal. */
void advgnn_progress_init(advgnn_progress *p, advgnn_ctx *ctx, int requested);

/* Starts a stage of `total` images; without a bar, logs one info line. */
void advgnn_progress_begin(advgnn_progress *p, const char *stage, const char *category, size_t total);

/* Records that `done` images of the stage are finished and redraws the bar. */
void advgnn_progress_update(advgnn_progress *p, size_t done);

/* Ends the stage: the bar's final state stays on its own line. */
void advgnn_progress_end(advgnn_progress *p);

#endif
