/* The context: error buffer, logger, thread count and the allocation hook.
 *
 * One context serves one run. Functions that can fail take it, return a status
 * and leave a message in its error buffer. The first error wins: later failures
 * while unwinding do not overwrite the message that names the root cause. */
#ifndef ADVGNN_CONTEXT_H
#define ADVGNN_CONTEXT_H

#include <stdarg.h>
#include <stddef.h>

#include "advgnn/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ADVGNN_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define ADVGNN_PRINTF(fmt_index, first_arg)
#endif

#define ADVGNN_ERROR_MAX 2048 /* bytes of the error buffer, terminator included */

typedef struct advgnn_ctx advgnn_ctx;

typedef enum advgnn_log_level {
    ADVGNN_LOG_ERROR = 0,
    ADVGNN_LOG_WARN = 1,
    ADVGNN_LOG_INFO = 2,
    ADVGNN_LOG_DEBUG = 3
} advgnn_log_level;

/* A log sink receives one formatted line without a trailing newline. */
typedef void (*advgnn_log_sink)(void *user, advgnn_log_level level, const char *line);

/* ---- lifetime ---------------------------------------------------------- */

/* Creates a context that logs at INFO to stderr. Its thread count is the
 * OpenMP pool's current size (every online core unless set otherwise).
 * Returns NULL when out of memory. Free it with advgnn_ctx_free. */
advgnn_ctx *advgnn_ctx_new(void);

/* Frees the context. advgnn_ctx_free(NULL) does nothing. */
void advgnn_ctx_free(advgnn_ctx *ctx);

/* ---- errors ------------------------------------------------------------ */

/* Records an error message and returns `status` unchanged, so a caller writes
 * `return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open %s: %s", path, strerror(errno));`.
 * Only the first error since the last advgnn_ctx_clear_error is kept. The message
 * should name the offending file, option, key or value. */
int advgnn_failf(advgnn_ctx *ctx, int status, const char *fmt, ...) ADVGNN_PRINTF(3, 4);
int advgnn_vfailf(advgnn_ctx *ctx, int status, const char *fmt, va_list ap);

/* Prepends "prefix: " to the stored message, to add context while unwinding
 * ("category bottle: " + "cannot open ..."). Does nothing when no error is set. */
void advgnn_error_prefixf(advgnn_ctx *ctx, const char *fmt, ...) ADVGNN_PRINTF(2, 3);

/* Returns the stored message, or "" when none. Borrowed: valid until the next
 * call that changes the error state of this context. */
const char *advgnn_ctx_error(const advgnn_ctx *ctx);

/* Returns the status stored with the message, or ADVGNN_OK. */
int advgnn_ctx_error_status(const advgnn_ctx *ctx);

/* Forgets the stored error. */
void advgnn_ctx_clear_error(advgnn_ctx *ctx);

/* ---- logging ----------------------------------------------------------- */

/* Logs one line when `level` is at or below the context's level. The level is
 * checked before formatting. Plugins log through this and never print. */
void advgnn_log(advgnn_ctx *ctx, advgnn_log_level level, const char *fmt, ...) ADVGNN_PRINTF(3, 4);

void advgnn_ctx_set_log_level(advgnn_ctx *ctx, advgnn_log_level level);
advgnn_log_level advgnn_ctx_log_level(const advgnn_ctx *ctx);

/* Replaces the sink. NULL restores the default, which writes
 * "advgnn: <level>: <line>" to stderr. */
void advgnn_ctx_set_log_sink(advgnn_ctx *ctx, advgnn_log_sink sink, void *user);

/* ---- metrics ----------------------------------------------------------- */

/* A metric sink receives the values of a metric series, such as the loss of
 * each training step, for the run's tracking. */
typedef void (*advgnn_metric_sink)(void *user, const char *key, double value, long long step);

/* Reports the value of metric `key` ("train/step_loss") at `step`. Does
 * nothing unless a sink is set; the experiment runner sets one that writes
 * the values to the run's tracking journal. */
void advgnn_log_metric(advgnn_ctx *ctx, const char *key, double value, long long step);

/* Replaces the metric sink; NULL removes it. */
void advgnn_ctx_set_metric_sink(advgnn_ctx *ctx, advgnn_metric_sink sink, void *user);

/* ---- threads ----------------------------------------------------------- */

/* Sets the number of OpenMP threads that oneDNN and the custom kernels use.
 * 0 means every online core. The OpenMP pool is shared by the whole process,
 * so this applies to every context. */
void advgnn_ctx_set_threads(advgnn_ctx *ctx, int threads);
int advgnn_ctx_threads(const advgnn_ctx *ctx);

/* ---- interruption ------------------------------------------------------ */

/* Returns nonzero once SIGINT or SIGTERM was received (the CLI installs the
 * handler). Long loops poll it and return ADVGNN_ERR_INTERRUPTED. */
int advgnn_interrupted(void);
void advgnn_set_interrupted(int value);

/* ---- memory ------------------------------------------------------------ */

/* All heap memory of the core and of bundled plugins goes through these, so a
 * test can count leaks and fail the Nth allocation. They behave like the C
 * library functions; advgnn_free(NULL) does nothing. */
void *advgnn_malloc(size_t size);
void *advgnn_calloc(size_t count, size_t size);
void *advgnn_realloc(void *ptr, size_t size);
void advgnn_free(void *ptr);
char *advgnn_strdup(const char *s);

/* Returns 64-byte aligned memory for numeric buffers (oneDNN, AVX-512 loads),
 * or NULL. Free it with advgnn_aligned_free, never advgnn_free. */
void *advgnn_aligned_alloc(size_t size);
void advgnn_aligned_free(void *ptr);

/* Test hook: makes the Nth allocation from now fail (1 = the next one);
 * 0 disables. Returns the number of allocations made since the last call. */
size_t advgnn_alloc_fail_after(size_t n);

#ifdef __cplusplus
}
#endif
#endif
