/* Minimal assertions for the C tests: each failed check prints file:line, the
 * expression and the values, and the test exits nonzero at the end. */
#ifndef ADVGNN_TEST_CHECK_H
#define ADVGNN_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(expr)                                                                  \
    do {                                                                             \
        if (!(expr)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define CHECK_INT_EQ(actual, expected)                                                              \
    do {                                                                                            \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                             \
        if (a_ != e_) {                                                                             \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #actual, \
                    #expected, a_, e_);                                                             \
            check_failures++;                                                                       \
        }                                                                                           \
    } while (0)

#define CHECK_NEAR(actual, expected, tol)                                                                \
    do {                                                                                                 \
        double a_ = (double)(actual), e_ = (double)(expected);                                           \
        if (!(fabs(a_ - e_) <= (tol))) {                                                                 \
            fprintf(stderr, "%s:%d: %s ~= %s failed: %.10g vs %.10g (diff %.3g, tol %.3g)\n", __FILE__, \
                    __LINE__, #actual, #expected, a_, e_, fabs(a_ - e_), (double)(tol));                \
            check_failures++;                                                                            \
        }                                                                                                \
    } while (0)

#define CHECK_STR_CONTAINS(haystack, needle)                                                       \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__, n_,           \
                    h_ ? h_ : "(null)");                                                           \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(actual, expected)                                                             \
    do {                                                                                           \
        const char *a_ = (actual), *e_ = (expected);                                               \
        if (!a_ || strcmp(a_, e_) != 0) {                                                          \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, e_,           \
                    a_ ? a_ : "(null)");                                                           \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Ends main(): prints a summary line and returns the exit status. */
#define CHECK_DONE()                                                                \
    (check_failures ? (fprintf(stderr, "%d check(s) failed\n", check_failures), 1) \
                    : (fprintf(stderr, "all checks passed\n"), 0))

#endif
