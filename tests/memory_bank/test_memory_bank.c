/* The memory_bank scorer: greedy coreset properties, and scoring on small
 * hand-made banks against maps computed here from their definitions. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "advgnn/context.h"
#include "advgnn/plugin.h"
#include "advgnn/rng.h"
#include "check.h"
#include "coreset.h"
#include "plugin_harness.h"

static advgnn_ctx *ctx;
static const advgnn_plugin_descriptor *desc;
static const advgnn_scorer_functions *fn;

static double row_distance(const float *a, const float *b, size_t dim)
{
    double sum = 0.0;

    for (size_t c = 0; c < dim; c++)
        sum += ((double)a[c] - b[c]) * ((double)a[c] - b[c]);
    return sqrt(sum);
}

/* Returns the largest distance from any row to its nearest chosen row. */
static double covering_radius(const float *rows, size_t count, size_t dim, const size_t *chosen, size_t k)
{
    double radius = 0.0;

    for (size_t i = 0; i < count; i++) {
        double nearest = INFINITY;

        for (size_t s = 0; s < k; s++) {
            double d = row_distance(rows + i * dim, rows + chosen[s] * dim, dim);
            nearest = d < nearest ? d : nearest;
        }
        radius = nearest > radius ? nearest : radius;
    }
    return radius;
}

/* Rows around 20 random centres, so a good coreset covers every cluster. */
static float *clustered_rows(size_t count, size_t dim, uint64_t seed)
{
    float *rows = malloc(count * dim * sizeof(float));
    float centres[20][16];
    advgnn_rng rng;

    advgnn_rng_seed(&rng, seed);
    for (int j = 0; j < 20; j++)
        for (size_t c = 0; c < dim; c++)
            centres[j][c] = (float)(10.0 * advgnn_rng_uniform(&rng));
    for (size_t i = 0; i < count; i++) {
        size_t j = (size_t)advgnn_rng_below(&rng, 20);

        for (size_t c = 0; c < dim; c++)
            rows[i * dim + c] = centres[j][c] + (float)(0.3 * advgnn_rng_normal(&rng));
    }
    return rows;
}

/* ---- coreset ------------------------------------------------------------- */

static void test_coreset_properties(void)
{
    enum { COUNT = 2000, DIM = 10, K = 100 };
    float *rows = clustered_rows(COUNT, DIM, 1);
    size_t selected[K + 1], again[K], other[K], random_pick[K];
    memory_bank_coverage coverage, coverage_again, coverage_other;
    unsigned char *seen = calloc(COUNT, 1);
    size_t repeated = 0, out_of_range = 0;
    advgnn_rng rng;

    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, K, 0, 5, selected, &coverage), ADVGNN_OK);
    for (size_t s = 0; s < K; s++) {
        out_of_range += selected[s] >= COUNT;
        if (selected[s] < COUNT) {
            repeated += seen[selected[s]];
            seen[selected[s]] = 1;
        }
    }
    CHECK_INT_EQ(out_of_range, 0);
    CHECK_INT_EQ(repeated, 0);
    CHECK(coverage.start < COUNT);

    /* The reported radii are the true covering radii of the selection, with
     * and without the start row. */
    CHECK(coverage.greedy_radius > 0.0);
    CHECK(coverage.radius >= coverage.greedy_radius);
    CHECK_NEAR(covering_radius(rows, COUNT, DIM, selected, K), coverage.radius, 1e-4 * coverage.radius);
    selected[K] = coverage.start;
    CHECK_NEAR(covering_radius(rows, COUNT, DIM, selected, K + 1), coverage.greedy_radius,
               1e-4 * coverage.greedy_radius);

    /* Greedy k-center covers far better than a random subset of equal size. */
    advgnn_rng_seed(&rng, 9);
    for (size_t s = 0; s < K; s++)
        random_pick[s] = (size_t)advgnn_rng_below(&rng, COUNT);
    CHECK(coverage.greedy_radius < covering_radius(rows, COUNT, DIM, random_pick, K));

    /* Equal seeds give equal selections; another seed another start. */
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, K, 0, 5, again, &coverage_again), ADVGNN_OK);
    CHECK(memcmp(selected, again, sizeof(again)) == 0);
    CHECK(coverage.radius == coverage_again.radius);
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, K, 0, 6, other, &coverage_other), ADVGNN_OK);
    CHECK(memcmp(selected, other, sizeof(other)) != 0);

    free(seen);
    free(rows);
}

static void test_coreset_projected_and_full(void)
{
    enum { COUNT = 500, DIM = 16 };
    float *rows = clustered_rows(COUNT, DIM, 2);
    size_t selected[COUNT], again[COUNT];
    memory_bank_coverage coverage, coverage_again;
    unsigned char seen[COUNT] = {0};
    size_t repeated = 0;

    /* Projected to 4 dimensions: still k distinct rows, and deterministic. */
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, 50, 4, 3, selected, &coverage), ADVGNN_OK);
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, 50, 4, 3, again, &coverage_again), ADVGNN_OK);
    CHECK(memcmp(selected, again, 50 * sizeof(size_t)) == 0);
    for (size_t s = 0; s < 50; s++) {
        repeated += seen[selected[s]];
        seen[selected[s]] = 1;
    }
    CHECK_INT_EQ(repeated, 0);

    /* Selecting every row returns each row once, with radius 0. */
    memset(seen, 0, sizeof(seen));
    repeated = 0;
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, COUNT, 0, 3, selected, &coverage), ADVGNN_OK);
    for (size_t s = 0; s < COUNT; s++) {
        repeated += seen[selected[s]];
        seen[selected[s]] = 1;
    }
    CHECK_INT_EQ(repeated, 0);
    CHECK(coverage.radius == 0.0);

    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, COUNT + 1, 0, 3, selected, &coverage),
                 ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);
    free(rows);
}

/* Progress lines of a selection, captured by count_progress. */
static int progress_lines;
static char first_progress[256];

static void count_progress(void *user, advgnn_log_level level, const char *line)
{
    (void)user;
    if (level != ADVGNN_LOG_INFO || !strstr(line, "coreset selection: "))
        return;
    if (progress_lines++ == 0)
        snprintf(first_progress, sizeof(first_progress), "%s", line);
}

/* With a progress interval of 0 s every step but the last logs its count;
 * with the default interval a selection of milliseconds logs none. */
/* SIGINT or SIGTERM during a long selection stops it with its own status. */
static void test_coreset_interrupted(void)
{
    enum { COUNT = 200, DIM = 8 };
    float *rows = clustered_rows(COUNT, DIM, 2);
    size_t selected[COUNT];
    memory_bank_coverage coverage;

    advgnn_set_interrupted(1);
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, 20, 0, 1, selected, &coverage), ADVGNN_ERR_INTERRUPTED);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "interrupted after 0 of 20 rows");
    advgnn_set_interrupted(0);
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, 20, 0, 1, selected, &coverage), ADVGNN_OK);
    free(rows);
}

static void test_coreset_progress(void)
{
    enum { COUNT = 200, DIM = 4, K = 5 };
    float *rows = clustered_rows(COUNT, DIM, 2);
    size_t selected[K];
    memory_bank_coverage coverage;

    advgnn_ctx_set_log_sink(ctx, count_progress, NULL);
    CHECK_INT_EQ(memory_bank_coreset_logged(ctx, rows, COUNT, DIM, K, 0, 1, 0.0, selected, &coverage), ADVGNN_OK);
    CHECK_INT_EQ(progress_lines, K - 1);
    CHECK_STR_CONTAINS(first_progress, "memory_bank: coreset selection: 1 of 5 rows selected, ");
    CHECK_STR_CONTAINS(first_progress, " s elapsed");
    CHECK(coverage.seconds >= 0.0 && coverage.seconds < 60.0);

    progress_lines = 0;
    CHECK_INT_EQ(memory_bank_coreset(ctx, rows, COUNT, DIM, K, 0, 1, selected, &coverage), ADVGNN_OK);
    CHECK_INT_EQ(progress_lines, 0);
    advgnn_ctx_set_log_sink(ctx, NULL, NULL);
    free(rows);
}

/* ---- scorer -------------------------------------------------------------- */

typedef struct scorer_settings {
    double coreset_ratio, sigma;
    int projection_dim;
    int channels, grid, image; /* feature channels, grid side, image side */
} scorer_settings;

static void *create_scorer(const scorer_settings *st)
{
    advgnn_options *opts = harness_options(ctx, desc);
    advgnn_scorer_config config = {sizeof(config), st->image, st->image, st->channels, st->grid, st->grid, 0, 77};
    void *state = NULL;
    int rc;

    if (!opts)
        return NULL;
    rc = harness_set_number(opts, ctx, "coreset_ratio", st->coreset_ratio);
    if (rc == ADVGNN_OK)
        rc = harness_set_number(opts, ctx, "sigma", st->sigma);
    if (rc == ADVGNN_OK)
        rc = harness_set_int(opts, ctx, "projection_dim", st->projection_dim);
    if (rc == ADVGNN_OK)
        rc = fn->create(ctx, opts, &config, &state);
    advgnn_options_free(opts);
    return rc == ADVGNN_OK ? state : NULL;
}

/* Converts patch rows, rows[(n * g + y) * g + x][c], to feature planes of
 * shape (count, C, g, g). The caller frees the result. */
static float *rows_to_planes(const float *rows, size_t count, int channels, int grid)
{
    float *planes = malloc(count * channels * grid * grid * sizeof(float));

    for (size_t n = 0; n < count; n++)
        for (int y = 0; y < grid; y++)
            for (int x = 0; x < grid; x++)
                for (int c = 0; c < channels; c++)
                    planes[((n * channels + c) * grid + y) * grid + x] =
                        rows[((n * grid + y) * grid + x) * channels + c];
    return planes;
}

static int run(void *state, int fit, const float *rows, size_t count, const scorer_settings *st, float *maps,
               float *scores)
{
    float *planes = rows_to_planes(rows, count, st->channels, st->grid);
    advgnn_tensor features = advgnn_tensor_view(planes, ADVGNN_DTYPE_F32, 4,
                                                (int64_t[]){(int64_t)count, st->channels, st->grid, st->grid});
    advgnn_score_batch batch = {count, NULL, &features, NULL};
    int rc = fit ? fn->fit_add(state, ctx, &batch) : fn->score(state, ctx, &batch, maps, scores);

    free(planes);
    return rc;
}

/* Bilinear upsampling with half-pixel centres (align_corners=False),
 * written out for one output pixel. */
static double upsampled(const double *patch, int grid, int image, int y, int x)
{
    double scale = (double)grid / image;
    double sy = fmax(0.0, (y + 0.5) * scale - 0.5), sx = fmax(0.0, (x + 0.5) * scale - 0.5);
    int y0 = (int)sy, x0 = (int)sx;
    int y1 = y0 + 1 < grid ? y0 + 1 : grid - 1, x1 = x0 + 1 < grid ? x0 + 1 : grid - 1;
    double fy = sy - y0, fx = sx - x0;

    return (1 - fy) * ((1 - fx) * patch[y0 * grid + x0] + fx * patch[y0 * grid + x1]) +
           fy * ((1 - fx) * patch[y1 * grid + x0] + fx * patch[y1 * grid + x1]);
}

/* scipy.ndimage.gaussian_filter, mode "reflect" (edge pixel repeated),
 * truncate 4, applied directly as a 2-D sum of separable weights. */
static void gaussian_reference(const double *in, int size, double sigma, double *out)
{
    int radius = (int)floor(4.0 * sigma + 0.5);
    double weights[64], total = 0.0;

    for (int i = -radius; i <= radius; i++) {
        weights[i + radius] = exp(-0.5 * i * i / (sigma * sigma));
        total += weights[i + radius];
    }
    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            double sum = 0.0;

            for (int dy = -radius; dy <= radius; dy++) {
                for (int dx = -radius; dx <= radius; dx++) {
                    int yy = y + dy, xx = x + dx;

                    yy = yy < 0 ? -yy - 1 : (yy >= size ? 2 * size - yy - 1 : yy);
                    xx = xx < 0 ? -xx - 1 : (xx >= size ? 2 * size - xx - 1 : xx);
                    sum += weights[dy + radius] * weights[dx + radius] * in[yy * size + xx];
                }
            }
            out[y * size + x] = sum / (total * total);
        }
    }
}

/* A bank of four rows of 3 features (one 2 x 2 training image), and a test
 * image whose patches are a bank row (distance 0) and three points at known
 * distances 3, 4 and 5 from their nearest rows. */
static void test_hand_made_bank(void)
{
    static const float bank[4 * 3] = {0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10};
    static const float query[4 * 3] = {10, 0, 0, 1, 2, 2, 10, 0, 4, 0, 0, 15};
    static const double patch[4] = {0, 3, 4, 5};
    scorer_settings st = {1.0, 0.0, 0, 3, 2, 8};
    float maps[2 * 64], scores[2];
    double expected[64], smoothed[64];
    void *state = create_scorer(&st);
    size_t bad = 0;

    CHECK(state != NULL);
    if (!state)
        return;
    CHECK_INT_EQ(run(state, 1, bank, 1, &st, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(fn->fit_end(state, ctx), ADVGNN_OK);

    /* The training image itself scores 0 everywhere. */
    CHECK_INT_EQ(run(state, 0, bank, 1, &st, maps, scores), ADVGNN_OK);
    CHECK_NEAR(scores[0], 0.0, 1e-3);

    /* Unsmoothed: the map is the bilinear upsampling of the true distances. */
    CHECK_INT_EQ(run(state, 0, query, 1, &st, maps, scores), ADVGNN_OK);
    for (int y = 0; y < 8; y++) {
        for (int x = 0; x < 8; x++) {
            expected[y * 8 + x] = upsampled(patch, 2, 8, y, x);
            bad += !(fabs(maps[y * 8 + x] - expected[y * 8 + x]) < 1e-4);
        }
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_NEAR(maps[0], 0.0, 1e-3);
    CHECK_NEAR(maps[63], 5.0, 1e-4);
    CHECK_NEAR(scores[0], 5.0, 1e-4);
    fn->destroy(state);

    /* Smoothed with sigma 1: the map equals the reference Gaussian of the
     * upsampled map, and the score is its maximum. */
    st.sigma = 1.0;
    state = create_scorer(&st);
    CHECK(state != NULL);
    if (!state)
        return;
    CHECK_INT_EQ(run(state, 1, bank, 1, &st, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(run(state, 0, query, 1, &st, maps, scores), ADVGNN_OK);
    gaussian_reference(expected, 8, 1.0, smoothed);
    bad = 0;
    double largest = 0.0;
    for (int i = 0; i < 64; i++) {
        bad += !(fabs(maps[i] - smoothed[i]) < 1e-4);
        largest = smoothed[i] > largest ? smoothed[i] : largest;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_NEAR(scores[0], largest, 1e-4);
    CHECK(scores[0] < 5.0);

    /* Rows added after fitting are rejected. */
    CHECK_INT_EQ(run(state, 1, bank, 1, &st, NULL, NULL), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "after fit_end");
    advgnn_ctx_clear_error(ctx);
    fn->destroy(state);
}

/* Captures the coreset log line. */
static char last_log[512];

static void capture_log(void *user, advgnn_log_level level, const char *line)
{
    if (strstr(line, "coreset"))
        snprintf(last_log, sizeof(last_log), "%s", line);
}

/* Fitting with a 10% coreset keeps 10% of the patches, and every training
 * patch lies within the logged covering radius of the kept ones. */
static void test_scorer_coreset(void)
{
    enum { IMAGES = 20, GRID = 6, CHANNELS = 5, IMAGE = GRID };
    size_t patches = IMAGES * GRID * GRID;
    float *rows = clustered_rows(patches, CHANNELS, 4);
    scorer_settings st = {0.1, 0.0, 0, CHANNELS, GRID, IMAGE};
    float *maps = malloc(IMAGES * IMAGE * IMAGE * sizeof(float)), scores[IMAGES], first_scores[IMAGES];
    void *state = create_scorer(&st);
    size_t kept = 0, total = 0;
    double radius = -1.0, greedy_radius = -1.0, largest = 0.0;

    CHECK(state != NULL);
    if (!state)
        return;
    advgnn_ctx_set_log_sink(ctx, capture_log, NULL);
    CHECK_INT_EQ(run(state, 1, rows, IMAGES / 2, &st, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(run(state, 1, rows + patches / 2 * CHANNELS, IMAGES / 2, &st, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(fn->fit_end(state, ctx), ADVGNN_OK);
    advgnn_ctx_set_log_sink(ctx, NULL, NULL);
    CHECK_INT_EQ(sscanf(last_log, "memory_bank: coreset keeps %zu of %zu patch features, covering radius %lf (%lf",
                        &kept, &total, &radius, &greedy_radius),
                 4);
    CHECK_INT_EQ(kept, patches / 10);
    CHECK_INT_EQ(total, patches);
    CHECK_STR_CONTAINS(last_log, "; selection took ");

    /* At image size = grid size the unsmoothed map is the patch distances, so
     * the largest score is the largest distance of a training patch. */
    CHECK_INT_EQ(run(state, 0, rows, IMAGES, &st, maps, scores), ADVGNN_OK);
    for (int n = 0; n < IMAGES; n++)
        largest = scores[n] > largest ? scores[n] : largest;
    CHECK(largest <= radius * (1.0 + 1e-4));
    CHECK(largest >= radius * (1.0 - 1e-4));
    CHECK(greedy_radius <= radius);
    fn->destroy(state);

    /* The same seed gives the same bank, hence the same scores. */
    memcpy(first_scores, scores, sizeof(scores));
    state = create_scorer(&st);
    CHECK_INT_EQ(run(state, 1, rows, IMAGES, &st, NULL, NULL), ADVGNN_OK);
    CHECK_INT_EQ(run(state, 0, rows, IMAGES, &st, maps, scores), ADVGNN_OK);
    CHECK(memcmp(first_scores, scores, sizeof(scores)) == 0);
    fn->destroy(state);

    free(maps);
    free(rows);
}

static void test_scorer_errors(void)
{
    static const float bank[4 * 4] = {0}; /* four patches of up to 4 channels */
    scorer_settings st = {1.0, 0.0, 0, 3, 2, 8};
    scorer_settings wrong = {1.0, 0.0, 0, 4, 2, 8};
    float maps[64], scores[1];
    void *state = create_scorer(&st);

    CHECK(state != NULL);
    if (!state)
        return;
    CHECK_INT_EQ(fn->fit_end(state, ctx), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "no training features");
    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(run(state, 0, bank, 1, &st, maps, scores), ADVGNN_ERR_INVALID_ARG);
    advgnn_ctx_clear_error(ctx);

    /* Features with 4 channels for a scorer created for 3. */
    CHECK_INT_EQ(run(state, 1, bank, 1, &wrong, NULL, NULL), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "(1, 3, 2, 2)");
    advgnn_ctx_clear_error(ctx);
    fn->destroy(state);
}

/* Every allocation of create, fit and score fails once in turn: each call
 * reports ADVGNN_ERR_NOMEM and the sanitizer build sees no leak. */
static void test_allocation_failures(void)
{
    enum { IMAGES = 4, GRID = 4, CHANNELS = 6, IMAGE = 8 };
    float *rows = clustered_rows(IMAGES * GRID * GRID, CHANNELS, 8);
    scorer_settings st = {0.25, 1.0, 3, CHANNELS, GRID, IMAGE};
    float maps[IMAGES * IMAGE * IMAGE], scores[IMAGES];
    size_t failures = 0, unexpected = 0, completed = 0;

    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    for (size_t n = 1; n < 200 && !completed; n++) {
        void *state;
        int rc = ADVGNN_OK;
        size_t made;

        advgnn_alloc_fail_after(n);
        state = create_scorer(&st);
        if (!state)
            rc = advgnn_ctx_error_status(ctx);
        if (rc == ADVGNN_OK)
            rc = run(state, 1, rows, IMAGES, &st, NULL, NULL);
        if (rc == ADVGNN_OK)
            rc = fn->fit_end(state, ctx);
        if (rc == ADVGNN_OK)
            rc = run(state, 0, rows, IMAGES, &st, maps, scores);
        made = advgnn_alloc_fail_after(0);
        completed = rc == ADVGNN_OK && made < n;
        failures += rc == ADVGNN_ERR_NOMEM;
        unexpected += rc != ADVGNN_ERR_NOMEM && rc != ADVGNN_OK;
        advgnn_ctx_clear_error(ctx);
        if (state)
            fn->destroy(state);
    }
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_INFO);
    CHECK(completed);
    CHECK(failures > 0);
    CHECK_INT_EQ(unexpected, 0);
    free(rows);
}

int main(void)
{
    void *handle = NULL;

    ctx = advgnn_ctx_new();
    test_coreset_properties();
    test_coreset_projected_and_full();
    test_coreset_progress();
    test_coreset_interrupted();

    desc = harness_load("memory_bank", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    CHECK_INT_EQ(desc->kind, ADVGNN_PLUGIN_SCORER);
    fn = desc->functions;
    test_hand_made_bank();
    test_scorer_coreset();
    test_scorer_errors();
    test_allocation_failures();

    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
