/* The context: first-error-wins message buffer, leveled logger, threads. */
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advgnn/context.h"
#include "util/internal.h"

struct advgnn_ctx {
    int error_status;               /* ADVGNN_OK while no error is stored */
    char error[ADVGNN_ERROR_MAX];
    advgnn_log_level log_level;
    advgnn_log_sink log_sink;       /* NULL: the default stderr sink */
    void *log_user;
    int threads;                    /* OpenMP threads; never 0 after set */
    advgnn_metric_sink metric_sink; /* NULL: metric values are dropped */
    void *metric_user;
};

static volatile sig_atomic_t interrupted_flag;
static void (*assert_hook)(void *user);
static void *assert_hook_user;

/* ---- lifetime ---------------------------------------------------------- */

advgnn_ctx *advgnn_ctx_new(void)
{
    advgnn_ctx *ctx = advgnn_calloc(1, sizeof(*ctx));

    if (!ctx)
        return NULL;
    ctx->log_level = ADVGNN_LOG_INFO;

    /* The OpenMP pool is process-wide: a new context reports its size but
     * leaves it alone, so creating one does not undo an explicit setting. */
    ctx->threads = omp_get_max_threads();
    return ctx;
}

void advgnn_ctx_free(advgnn_ctx *ctx)
{
    advgnn_free(ctx);
}

/* ---- errors ------------------------------------------------------------ */

int advgnn_vfailf(advgnn_ctx *ctx, int status, const char *fmt, va_list ap)
{
    if (!ctx || ctx->error_status != ADVGNN_OK)
        return status;
    ctx->error_status = status == ADVGNN_OK ? ADVGNN_ERR_INTERNAL : status;
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    return status;
}

int advgnn_failf(advgnn_ctx *ctx, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    advgnn_vfailf(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

void advgnn_error_prefixf(advgnn_ctx *ctx, const char *fmt, ...)
{
    char prefix[512];
    char joined[ADVGNN_ERROR_MAX];
    va_list ap;

    if (!ctx || ctx->error_status == ADVGNN_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    /* A message longer than the buffer is cut at its end; the prefix survives. */
    if (snprintf(joined, sizeof(joined), "%s: %s", prefix, ctx->error) >= (int)sizeof(joined))
        joined[sizeof(joined) - 1] = '\0';
    memcpy(ctx->error, joined, sizeof(ctx->error));
}

void advgnn_error_prefix_plugin(advgnn_ctx *ctx, const char *what, const char *name)
{
    size_t n = strlen(name);

    if (!ctx || ctx->error_status == ADVGNN_OK)
        return;
    if (strncmp(ctx->error, name, n) == 0 && ctx->error[n] == ':' && ctx->error[n + 1] == ' ')
        memmove(ctx->error, ctx->error + n + 2, strlen(ctx->error + n + 2) + 1);
    advgnn_error_prefixf(ctx, "%s '%s'", what, name);
}

const char *advgnn_ctx_error(const advgnn_ctx *ctx)
{
    return ctx && ctx->error_status != ADVGNN_OK ? ctx->error : "";
}

int advgnn_ctx_error_status(const advgnn_ctx *ctx)
{
    return ctx ? ctx->error_status : ADVGNN_OK;
}

void advgnn_ctx_clear_error(advgnn_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->error_status = ADVGNN_OK;
    ctx->error[0] = '\0';
}

/* ---- logging ----------------------------------------------------------- */

static const char *level_name(advgnn_log_level level)
{
    switch (level) {
    case ADVGNN_LOG_ERROR: return "error";
    case ADVGNN_LOG_WARN: return "warning";
    case ADVGNN_LOG_INFO: return "info";
    default: return "debug";
    }
}

void advgnn_log(advgnn_ctx *ctx, advgnn_log_level level, const char *fmt, ...)
{
    char line[4096];
    va_list ap;

    if (ctx && level > ctx->log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    if (ctx && ctx->log_sink) {
        ctx->log_sink(ctx->log_user, level, line);
        return;
    }
    fprintf(stderr, "advgnn: %s: %s\n", level_name(level), line);
}

void advgnn_ctx_set_log_level(advgnn_ctx *ctx, advgnn_log_level level)
{
    ctx->log_level = level;
}

advgnn_log_level advgnn_ctx_log_level(const advgnn_ctx *ctx)
{
    return ctx->log_level;
}

void advgnn_ctx_set_log_sink(advgnn_ctx *ctx, advgnn_log_sink sink, void *user)
{
    ctx->log_sink = sink;
    ctx->log_user = user;
}

/* ---- metrics ----------------------------------------------------------- */

void advgnn_log_metric(advgnn_ctx *ctx, const char *key, double value, long long step)
{
    if (ctx && ctx->metric_sink && key)
        ctx->metric_sink(ctx->metric_user, key, value, step);
}

void advgnn_ctx_set_metric_sink(advgnn_ctx *ctx, advgnn_metric_sink sink, void *user)
{
    ctx->metric_sink = sink;
    ctx->metric_user = user;
}

/* ---- threads ----------------------------------------------------------- */

void advgnn_ctx_set_threads(advgnn_ctx *ctx, int threads)
{
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)cores : 1;
    }
    ctx->threads = threads;

    /* oneDNN and the custom kernels share GCC's OpenMP runtime, so one call
     * sets the pool for both. */
    omp_set_num_threads(threads);
}

int advgnn_ctx_threads(const advgnn_ctx *ctx)
{
    return ctx->threads;
}

/* ---- interruption and asserts ------------------------------------------ */

int advgnn_interrupted(void)
{
    return interrupted_flag != 0;
}

void advgnn_set_interrupted(int value)
{
    interrupted_flag = value ? 1 : 0;
}

void advgnn_set_assert_hook(void (*hook)(void *user), void *user)
{
    assert_hook = hook;
    assert_hook_user = user;
}

void advgnn_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "advgnn: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    if (assert_hook)
        assert_hook(assert_hook_user);
    abort();
}
