/* Private helpers shared by the modules of libadvgnn. Not installed. */
#ifndef ADVGNN_UTIL_INTERNAL_H
#define ADVGNN_UTIL_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "advgnn/context.h"

/* Hides a function shared between files of the library from the export table. */
#if defined(__GNUC__) || defined(__clang__)
#define ADVGNN_INTERNAL __attribute__((visibility("hidden")))
#else
#define ADVGNN_INTERNAL
#endif

#define ADVGNN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Aborts with file:line and the expression when a library invariant fails.
 * Only for bugs, never for bad input. */
#define ADVGNN_ASSERT(expr) ((expr) ? (void)0 : advgnn_assert_fail(#expr, __FILE__, __LINE__))
void advgnn_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

/* Prefixes the stored error with "<what> '<name>': ", dropping a leading
 * "<name>: " that the plugin itself wrote, so the name is not repeated. */
void advgnn_error_prefix_plugin(advgnn_ctx *ctx, const char *what, const char *name);

/* Hook run by advgnn_assert_fail before it aborts (flush the journal, mark the
 * run failed). NULL removes it. */
void advgnn_set_assert_hook(void (*hook)(void *user), void *user);

#endif
