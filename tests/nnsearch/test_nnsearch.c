/* advgnn_nn_search against a double-precision brute force on random data of
 * many shapes, including block edges, single rows, ties and bad input. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "advgnn/advgnn.h"
#include "check.h"

static advgnn_ctx *ctx;

static float *random_rows(advgnn_rng *rng, size_t rows, size_t dim, double offset)
{
    float *data = malloc(rows * dim * sizeof(float));

    for (size_t i = 0; i < rows * dim; i++)
        data[i] = (float)(offset + 2.0 * advgnn_rng_uniform(rng) - 1.0);
    return data;
}

static double sqdist(const float *a, const float *b, size_t dim)
{
    double sum = 0.0;

    for (size_t k = 0; k < dim; k++) {
        double d = (double)a[k] - b[k];
        sum += d * d;
    }
    return sum;
}

static double sqnorm(const float *a, size_t dim)
{
    double sum = 0.0;

    for (size_t k = 0; k < dim; k++)
        sum += (double)a[k] * a[k];
    return sum;
}

/* Compares every query's result with the exact minimum. Float rounding of
 * |q|^2 - 2 q.b + |b|^2 grows with the norms, so the tolerance is relative
 * to them; the returned row must be a nearest one within that tolerance. */
static void check_against_brute_force(const float *q, size_t queries, const float *bank, size_t bank_rows,
                                      size_t dim, const float *got, const int64_t *arg)
{
    size_t bad_distance = 0, bad_row = 0;
    double worst = 0.0;

    for (size_t i = 0; i < queries; i++) {
        const float *row = q + i * dim;
        double best = INFINITY, best_norm = 0.0;

        for (size_t j = 0; j < bank_rows; j++) {
            double d = sqdist(row, bank + j * dim, dim);
            if (d < best) {
                best = d;
                best_norm = sqnorm(bank + j * dim, dim);
            }
        }
        double tol = 1e-5 * (sqnorm(row, dim) + best_norm) + 1e-6;
        double diff = fabs(got[i] - best);

        worst = diff > worst ? diff : worst;
        bad_distance += !(diff <= tol) || got[i] < 0.0f;
        if (arg)
            bad_row += arg[i] < 0 || (size_t)arg[i] >= bank_rows ||
                       !(sqdist(row, bank + (size_t)arg[i] * dim, dim) <= best + tol);
    }
    fprintf(stderr, "  %zu queries x %zu bank rows x %zu dims: max |diff| %.3g\n", queries, bank_rows, dim, worst);
    CHECK_INT_EQ(bad_distance, 0);
    CHECK_INT_EQ(bad_row, 0);
}

static void run_shape(advgnn_rng *rng, size_t queries, size_t bank_rows, size_t dim)
{
    float *q = random_rows(rng, queries, dim, 0.0);
    float *bank = random_rows(rng, bank_rows, dim, 0.0);
    float *got = malloc(queries * sizeof(float));
    int64_t *arg = malloc(queries * sizeof(int64_t));

    CHECK_INT_EQ(advgnn_nn_search(ctx, q, queries, bank, bank_rows, dim, got, arg), ADVGNN_OK);
    check_against_brute_force(q, queries, bank, bank_rows, dim, got, arg);

    /* Without argmin the distances are the same. */
    float *again = malloc(queries * sizeof(float));
    CHECK_INT_EQ(advgnn_nn_search(ctx, q, queries, bank, bank_rows, dim, again, NULL), ADVGNN_OK);
    CHECK(memcmp(got, again, queries * sizeof(float)) == 0);

    free(again);
    free(q);
    free(bank);
    free(got);
    free(arg);
}

/* Shapes around the block sizes (256 queries, 1024 bank rows) and dimensions
 * that are not multiples of the vector width. */
static void test_shapes(void)
{
    advgnn_rng rng;
    static const size_t shapes[][3] = {
        {1, 1, 1}, {1, 5, 3}, {7, 1, 17}, {300, 1, 17}, {256, 1024, 16}, {257, 1025, 19},
        {600, 2100, 64}, {40, 3000, 384}, {513, 700, 1}, {3, 2049, 100},
    };

    advgnn_rng_seed(&rng, 11);
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        run_shape(&rng, shapes[i][0], shapes[i][1], shapes[i][2]);
}

/* Queries equal to bank rows, with each bank row present twice: distance 0
 * and one of the two copies. */
static void test_ties_and_exact_matches(void)
{
    enum { ROWS = 1500, DIM = 33 };
    advgnn_rng rng;
    float *bank, *q = malloc(ROWS * DIM * sizeof(float));
    float got[ROWS];
    int64_t arg[ROWS];
    size_t bad = 0;

    advgnn_rng_seed(&rng, 12);
    bank = random_rows(&rng, 2 * ROWS, DIM, 0.0);
    memcpy(bank + ROWS * DIM, bank, ROWS * DIM * sizeof(float));
    for (size_t i = 0; i < ROWS; i++)
        memcpy(q + i * DIM, bank + ((i * 7) % ROWS) * DIM, DIM * sizeof(float));

    CHECK_INT_EQ(advgnn_nn_search(ctx, q, ROWS, bank, 2 * ROWS, DIM, got, arg), ADVGNN_OK);
    for (size_t i = 0; i < ROWS; i++) {
        size_t want = (i * 7) % ROWS;

        bad += !(got[i] >= 0.0f && got[i] < 1e-4f);
        bad += !((size_t)arg[i] == want || (size_t)arg[i] == want + ROWS);
    }
    CHECK_INT_EQ(bad, 0);
    free(bank);
    free(q);
}

/* Data far from the origin: |q|^2 and |b|^2 are large and nearly cancel,
 * which float32 rounds; the result stays clamped at 0 and close. */
static void test_cancellation(void)
{
    advgnn_rng rng;
    float *q, *bank;
    float got[50];
    int64_t arg[50];

    advgnn_rng_seed(&rng, 13);
    q = random_rows(&rng, 50, 24, 100.0);
    bank = random_rows(&rng, 400, 24, 100.0);
    memcpy(bank + 17 * 24, q, 24 * sizeof(float));
    CHECK_INT_EQ(advgnn_nn_search(ctx, q, 50, bank, 400, 24, got, arg), ADVGNN_OK);
    CHECK(got[0] >= 0.0f);
    CHECK_NEAR(got[0], 0.0, 1e-5 * 2 * 24 * 100.0 * 100.0);
    check_against_brute_force(q, 50, bank, 400, 24, got, arg);
    free(q);
    free(bank);
}

static void test_invalid_input(void)
{
    float row[3] = {1, 2, 3}, out[1];
    float nan_row[3] = {1, NAN, 3};
    int64_t arg[1];

    CHECK_INT_EQ(advgnn_nn_search(ctx, row, 0, row, 1, 3, out, arg), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_nn_search(ctx, row, 1, row, 0, 3, out, arg), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "0 bank rows");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_nn_search(ctx, row, 1, row, 1, 0, out, arg), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_nn_search(ctx, NULL, 1, row, 1, 3, out, arg), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(advgnn_nn_search(ctx, nan_row, 1, row, 1, 3, out, arg), ADVGNN_ERR_NUMERIC);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "NaN");
    advgnn_ctx_clear_error(ctx);
}

/* Every allocation of the search fails once in turn: the call reports
 * ADVGNN_ERR_NOMEM and frees what it had, and the first run that no failure
 * reaches gives the right answer. oneDNN's own allocations are not counted. */
static void test_allocation_failures(void)
{
    advgnn_rng rng;
    float *q, *bank, got[300];
    int64_t arg[300];
    size_t failures = 0, unexpected = 0;

    advgnn_rng_seed(&rng, 14);
    q = random_rows(&rng, 300, 20, 0.0);
    bank = random_rows(&rng, 1100, 20, 0.0);
    for (size_t n = 1; n < 100; n++) {
        int rc;
        size_t made;

        advgnn_alloc_fail_after(n);
        rc = advgnn_nn_search(ctx, q, 300, bank, 1100, 20, got, arg);
        made = advgnn_alloc_fail_after(0);
        if (rc == ADVGNN_OK && made < n) {
            check_against_brute_force(q, 300, bank, 1100, 20, got, arg);
            break;
        }
        failures += rc == ADVGNN_ERR_NOMEM;
        unexpected += rc != ADVGNN_ERR_NOMEM && rc != ADVGNN_OK;
        advgnn_ctx_clear_error(ctx);
    }
    CHECK(failures > 0);
    CHECK_INT_EQ(unexpected, 0);
    free(q);
    free(bank);
}

int main(void)
{
    ctx = advgnn_ctx_new();
    test_shapes();
    test_ties_and_exact_matches();
    test_cancellation();
    test_invalid_input();
    test_allocation_failures();
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
