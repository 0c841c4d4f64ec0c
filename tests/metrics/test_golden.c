/* Compares every metric with the golden values of tests/metrics/golden, which
 * scripts/make_metric_goldens.py computes with scikit-learn (AUROC, ROC curve,
 * F1-max) and an independent NumPy/SciPy implementation of AUPRO. Prints the
 * maximum absolute difference per metric. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"

#define GOLDEN_DIR ADVGNN_SOURCE_DIR "/tests/metrics/golden"
#define TOLERANCE 1e-6
#define MAX_LIMITS 8

/* Largest absolute difference seen per metric, printed at the end. */
typedef struct max_diffs {
    double auroc;
    double pixel_auroc;
    double f1;
    double aupro;
    double pro_curve_area;
} max_diffs;

static max_diffs diffs;

static void track(double *max, double actual, double expected)
{
    double d = fabs(actual - expected);

    if (d > *max)
        *max = d;
}

/* Reads a case file: count float32 scores, then count uint8 labels. */
static int load_case(const char *file, size_t count, float **scores, uint8_t **labels)
{
    char path[1024];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, file);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open golden file %s; run scripts/make_metric_goldens.py\n", path);
        return 0;
    }
    *scores = malloc(count * sizeof(float));
    *labels = malloc(count);
    ok = *scores && *labels && fread(*scores, sizeof(float), count, f) == count && fread(*labels, 1, count, f) == count &&
         fgetc(f) == EOF;
    fclose(f);
    if (!ok)
        fprintf(stderr, "golden file %s is not %zu float32 scores followed by %zu labels\n", path, count, count);
    return ok;
}

/* Parses an expected value; "undefined" becomes NAN. */
static double parse_expected(const char *token)
{
    return strcmp(token, "undefined") == 0 ? NAN : strtod(token, NULL);
}

/* Checks AUROC against its expected value or, for NAN, that it is undefined. */
static void check_auroc(advgnn_ctx *ctx, const char *name, const float *scores, const uint8_t *labels, size_t count,
                        double expected, double *max)
{
    double auroc = -1.0;
    int rc = advgnn_metric_auroc(ctx, scores, labels, count, &auroc);

    if (isnan(expected)) {
        CHECK_INT_EQ(rc, ADVGNN_ERR_UNDEFINED);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "AUROC is undefined");
        advgnn_ctx_clear_error(ctx);
        return;
    }
    if (rc != ADVGNN_OK)
        fprintf(stderr, "case %s: %s\n", name, advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_NEAR(auroc, expected, TOLERANCE);
    track(max, auroc, expected);
}

static void check_f1(advgnn_ctx *ctx, const char *name, const float *scores, const uint8_t *labels, size_t count,
                     double expected_f1, double expected_threshold)
{
    double f1 = -1.0, threshold = -1.0;

    CHECK_INT_EQ(advgnn_metric_f1_max(ctx, scores, labels, count, &f1, &threshold), ADVGNN_OK);
    CHECK_NEAR(f1, expected_f1, TOLERANCE);
    track(&diffs.f1, f1, expected_f1);

    /* The threshold is one of the float32 scores, so it must match exactly. */
    if ((float)threshold != (float)expected_threshold) {
        fprintf(stderr, "case %s: F1 threshold %.9g, expected %.9g\n", name, threshold, expected_threshold);
        check_failures++;
    }
}

/* binary NAME COUNT FILE AUROC ROC_POINTS F1 THRESHOLD */
static void run_binary_case(advgnn_ctx *ctx, char *fields[], int field_count)
{
    const char *name = fields[1];
    size_t count = strtoull(fields[2], NULL, 10);
    float *scores = NULL;
    uint8_t *labels = NULL;
    advgnn_curve curve;

    CHECK_INT_EQ(field_count, 8);
    if (field_count != 8 || !load_case(fields[3], count, &scores, &labels)) {
        check_failures++;
        goto done;
    }
    check_auroc(ctx, name, scores, labels, count, parse_expected(fields[4]), &diffs.auroc);
    check_f1(ctx, name, scores, labels, count, parse_expected(fields[6]), parse_expected(fields[7]));

    /* The ROC curve has one point per distinct score plus (0, 0), like
     * scikit-learn's roc_curve without drop_intermediate. */
    if (strcmp(fields[5], "undefined") != 0) {
        CHECK_INT_EQ(advgnn_metric_roc_curve(ctx, scores, labels, count, &curve), ADVGNN_OK);
        CHECK_INT_EQ(curve.count, strtoull(fields[5], NULL, 10));
        if (curve.count > 0) {
            CHECK(curve.x[curve.count - 1] == 1.0);
            CHECK(curve.y[curve.count - 1] == 1.0);
        }
        advgnn_curve_release(&curve);
    }

done:
    free(scores);
    free(labels);
}

/* Integrates a curve by the trapezoid rule. */
static double curve_area(const advgnn_curve *curve)
{
    double area = 0.0;

    for (size_t i = 1; i < curve->count; i++)
        area += (curve->x[i] - curve->x[i - 1]) * (curve->y[i] + curve->y[i - 1]) / 2.0;
    return area;
}

static void check_aupro(advgnn_ctx *ctx, const char *name, const float *maps, const uint8_t *masks, size_t images,
                        int height, int width, double limit, double expected, size_t expected_points)
{
    double aupro = -1.0;
    advgnn_curve curve;
    int rc = advgnn_metric_aupro(ctx, maps, masks, images, height, width, limit, &aupro);

    if (rc != ADVGNN_OK)
        fprintf(stderr, "case %s: %s\n", name, advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
    CHECK_NEAR(aupro, expected, TOLERANCE);
    track(&diffs.aupro, aupro, expected);

    /* The curve ends on the limit, and its area over the limit is AUPRO. */
    CHECK_INT_EQ(advgnn_metric_pro_curve(ctx, maps, masks, images, height, width, limit, &curve), ADVGNN_OK);
    CHECK_INT_EQ(curve.count, expected_points);
    CHECK(curve.count > 1);
    if (curve.count > 1) {
        CHECK(curve.x[0] == 0.0);
        CHECK(curve.y[0] == 0.0);
        CHECK(curve.x[curve.count - 1] == limit);
    }
    CHECK_NEAR(curve_area(&curve) / limit, expected, TOLERANCE);
    track(&diffs.pro_curve_area, curve_area(&curve) / limit, expected);
    advgnn_curve_release(&curve);
}

/* pixel NAME IMAGES HEIGHT WIDTH FILE AUROC F1 THRESHOLD LIMITS {LIMIT AUPRO PRO_POINTS}... */
static void run_pixel_case(advgnn_ctx *ctx, char *fields[], int field_count)
{
    const char *name = fields[1];
    size_t images = strtoull(fields[2], NULL, 10);
    int height = atoi(fields[3]), width = atoi(fields[4]);
    size_t count = images * (size_t)height * (size_t)width;
    int limits = field_count > 9 ? atoi(fields[9]) : -1;
    float *maps = NULL;
    uint8_t *masks = NULL;

    CHECK(limits > 0);
    CHECK(limits <= MAX_LIMITS);
    CHECK_INT_EQ(field_count, 10 + 3 * limits);
    if (!(limits > 0 && field_count == 10 + 3 * limits) || !load_case(fields[5], count, &maps, &masks)) {
        check_failures++;
        goto done;
    }
    check_auroc(ctx, name, maps, masks, count, parse_expected(fields[6]), &diffs.pixel_auroc);
    check_f1(ctx, name, maps, masks, count, parse_expected(fields[7]), parse_expected(fields[8]));
    for (int i = 0; i < limits; i++) {
        char **limit_fields = fields + 10 + 3 * i;

        check_aupro(ctx, name, maps, masks, images, height, width, strtod(limit_fields[0], NULL),
                    parse_expected(limit_fields[1]), strtoull(limit_fields[2], NULL, 10));
    }

done:
    free(maps);
    free(masks);
}

int main(void)
{
    char line[4096];
    int binary_cases = 0, pixel_cases = 0;
    FILE *index = fopen(GOLDEN_DIR "/cases.txt", "r");
    advgnn_ctx *ctx = advgnn_ctx_new();

    if (!index) {
        fprintf(stderr, "cannot open %s/cases.txt; run scripts/make_metric_goldens.py\n", GOLDEN_DIR);
        return 1;
    }
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);

    while (fgets(line, sizeof(line), index)) {
        char *fields[10 + 3 * MAX_LIMITS];
        int field_count = 0;

        for (char *token = strtok(line, " \n"); token && field_count < (int)(sizeof(fields) / sizeof(fields[0]));
             token = strtok(NULL, " \n"))
            fields[field_count++] = token;
        if (field_count == 0 || fields[0][0] == '#')
            continue;
        if (strcmp(fields[0], "binary") == 0) {
            run_binary_case(ctx, fields, field_count);
            binary_cases++;
        } else if (strcmp(fields[0], "pixel") == 0) {
            run_pixel_case(ctx, fields, field_count);
            pixel_cases++;
        } else {
            fprintf(stderr, "unknown case kind '%s' in cases.txt\n", fields[0]);
            check_failures++;
        }
    }
    fclose(index);
    advgnn_ctx_free(ctx);

    /* Guards against an index that lost its cases. */
    CHECK(binary_cases >= 10);
    CHECK(pixel_cases >= 5);
    printf("golden cases: %d binary, %d pixel\n", binary_cases, pixel_cases);
    printf("max |difference|: AUROC %.3g, pixel AUROC %.3g, F1-max %.3g, AUPRO %.3g, PRO curve area %.3g\n",
           diffs.auroc, diffs.pixel_auroc, diffs.f1, diffs.aupro, diffs.pro_curve_area);
    fflush(stdout);
    return CHECK_DONE();
}
