/* Progress bars on stderr. The bar is the one place where the library writes
 * to stderr directly, because the run specification requests it. It is drawn
 * only on a terminal, never into a log file or a pipe. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "report/progress.h"

#define BAR_WIDTH 30 /* characters */

double advgnn_now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void advgnn_progress_init(advgnn_progress *p, advgnn_ctx *ctx, int requested)
{
    p->ctx = ctx;
    p->bar = requested && isatty(STDERR_FILENO);
    p->stage = "";
    p->category = "";
    p->total = 0;
    p->done = 0;
    p->start = advgnn_now_seconds();
    p->last_draw = 0.0;
}

static void draw(advgnn_progress *p, double now)
{
    char bar[BAR_WIDTH + 1];
    size_t filled = p->total ? p->done * BAR_WIDTH / p->total : BAR_WIDTH;
    double elapsed = now - p->start;
    double rate = elapsed > 0.0 ? (double)p->done / elapsed : 0.0;

    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%-16s %-16s [%s] %zu/%zu %7.1f img/s", p->stage, p->category, bar, p->done, p->total,
            rate);
    fflush(stderr);
    p->last_draw = now;
}

void advgnn_progress_begin(advgnn_progress *p, const char *stage, const char *category, size_t total)
{
    p->stage = stage;
    p->category = category;
    p->total = total;
    p->done = 0;
    p->start = advgnn_now_seconds();
    if (p->bar)
        draw(p, p->start);
    else
        advgnn_log(p->ctx, ADVGNN_LOG_INFO, "category %s: %s (%zu image%s)", category, stage, total,
                   total == 1 ? "" : "s");
}

void advgnn_progress_update(advgnn_progress *p, size_t done)
{
    double now;

    p->done = done;
    if (!p->bar)
        return;
    now = advgnn_now_seconds();
    if (done < p->total && now - p->last_draw < 0.1)
        return;
    draw(p, now);
}

void advgnn_progress_end(advgnn_progress *p)
{
    if (!p->bar)
        return;
    draw(p, advgnn_now_seconds());
    fputc('\n', stderr);
}
