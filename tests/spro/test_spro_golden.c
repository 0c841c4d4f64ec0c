/* Compares sPRO with the golden values of tests/spro/golden, which
 * scripts/make_spro_goldens.py computes from the MVTec LOCO AD definition in
 * NumPy (exact thresholds at every distinct score). Prints the maximum
 * absolute difference. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/advgnn.h"
#include "check.h"

#define GOLDEN_DIR ADVGNN_SOURCE_DIR "/tests/spro/golden"
#define TOLERANCE 1e-6
#define MAX_LIMITS 8

/* The images of one case, read from its file. */
typedef struct golden_case {
    advgnn_spro_image *images;
    size_t count;
} golden_case;

static void case_release(golden_case *c)
{
    for (size_t i = 0; c->images && i < c->count; i++) {
        free((void *)c->images[i].map);
        free((void *)c->images[i].defects);
        free((void *)c->images[i].saturation);
    }
    free(c->images);
    memset(c, 0, sizeof(*c));
}

/* Reads one image: int32 height, width, defects; float32 map; per defect
 * float64 threshold, uint8 relative, uint8 mask. Saturation areas are
 * computed with advgnn_spro_saturation_area, so the golden values also check
 * it. */
static int read_image(FILE *f, advgnn_spro_image *image)
{
    int32_t header[3];

    if (fread(header, sizeof(int32_t), 3, f) != 3 || header[0] <= 0 || header[1] <= 0 || header[2] < 0)
        return 0;
    size_t pixels = (size_t)header[0] * (size_t)header[1], defects = (size_t)header[2];
    float *map = malloc(pixels * sizeof(float));
    uint8_t *masks = malloc(defects * pixels + 1);
    double *saturation = malloc((defects + 1) * sizeof(double));

    image->height = header[0];
    image->width = header[1];
    image->defect_count = defects;
    image->map = map;
    image->defects = masks;
    image->saturation = saturation;
    if (!map || !masks || !saturation || fread(map, sizeof(float), pixels, f) != pixels)
        return 0;
    for (size_t d = 0; d < defects; d++) {
        double threshold;
        uint8_t relative;
        size_t area = 0;

        if (fread(&threshold, sizeof(double), 1, f) != 1 || fread(&relative, 1, 1, f) != 1 ||
            fread(masks + d * pixels, 1, pixels, f) != pixels)
            return 0;
        for (size_t p = 0; p < pixels; p++)
            area += masks[d * pixels + p];
        saturation[d] = advgnn_spro_saturation_area(threshold, relative, area);
    }
    return 1;
}

static int load_case(const char *file, size_t count, golden_case *c)
{
    char path[1024];
    int ok = 1;

    snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open golden file %s; run scripts/make_spro_goldens.py\n", path);
        return 0;
    }
    c->count = count;
    c->images = calloc(count, sizeof(advgnn_spro_image));
    ok = c->images != NULL;
    for (size_t i = 0; ok && i < count; i++)
        ok = read_image(f, &c->images[i]);
    ok = ok && fgetc(f) == EOF;
    fclose(f);
    if (!ok)
        fprintf(stderr, "golden file %s does not hold %zu images in the expected layout\n", path, count);
    return ok;
}

/* NAME FILE IMAGES POINTS LIMITS {LIMIT AUC}... */
static double run_case(advgnn_ctx *ctx, char *fields[], int field_count)
{
    const char *name = fields[0];
    int limits = field_count > 4 ? atoi(fields[4]) : -1;
    double limit_values[MAX_LIMITS], expected[MAX_LIMITS], auc[MAX_LIMITS], max_diff = 0.0;
    golden_case c = {0};
    advgnn_curve curve;

    CHECK(limits > 0 && limits <= MAX_LIMITS);
    CHECK_INT_EQ(field_count, 5 + 2 * limits);
    if (!(limits > 0 && limits <= MAX_LIMITS && field_count == 5 + 2 * limits) ||
        !load_case(fields[1], strtoull(fields[2], NULL, 10), &c)) {
        check_failures++;
        case_release(&c);
        return 0.0;
    }
    for (int j = 0; j < limits; j++) {
        limit_values[j] = strtod(fields[5 + 2 * j], NULL);
        expected[j] = strtod(fields[6 + 2 * j], NULL);
    }

    int rc = advgnn_metric_spro(ctx, c.images, c.count, limit_values, (size_t)limits, auc);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "case %s: %s\n", name, advgnn_ctx_error(ctx));
    CHECK_INT_EQ(rc, ADVGNN_OK);
    for (int j = 0; rc == ADVGNN_OK && j < limits; j++) {
        double diff = fabs(auc[j] - expected[j]);

        if (diff > TOLERANCE)
            fprintf(stderr, "case %s, limit %g:\n", name, limit_values[j]);
        CHECK_NEAR(auc[j], expected[j], TOLERANCE);
        max_diff = diff > max_diff ? diff : max_diff;
    }

    /* One point per distinct score plus (0, 0), from (0, 0) to (1, 1). */
    CHECK_INT_EQ(advgnn_metric_spro_curve(ctx, c.images, c.count, &curve), ADVGNN_OK);
    CHECK_INT_EQ(curve.count, strtoull(fields[3], NULL, 10));
    if (curve.count > 1) {
        CHECK(curve.x[0] == 0.0);
        CHECK(curve.y[0] == 0.0);
        CHECK(curve.x[curve.count - 1] == 1.0);
        CHECK_NEAR(curve.y[curve.count - 1], 1.0, 1e-12);
    }
    advgnn_curve_release(&curve);
    case_release(&c);
    return max_diff;
}

int main(void)
{
    char line[4096];
    int cases = 0;
    double max_diff = 0.0;
    FILE *index = fopen(GOLDEN_DIR "/cases.txt", "r");
    advgnn_ctx *ctx = advgnn_ctx_new();

    if (!index || !ctx) {
        fprintf(stderr, "cannot open %s/cases.txt; run scripts/make_spro_goldens.py\n", GOLDEN_DIR);
        return 1;
    }
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_ERROR);

    while (fgets(line, sizeof(line), index)) {
        char *fields[5 + 2 * MAX_LIMITS];
        int field_count = 0;

        for (char *token = strtok(line, " \n"); token && field_count < (int)(sizeof(fields) / sizeof(fields[0]));
             token = strtok(NULL, " \n"))
            fields[field_count++] = token;
        if (field_count == 0 || fields[0][0] == '#')
            continue;
        double diff = run_case(ctx, fields, field_count);
        max_diff = diff > max_diff ? diff : max_diff;
        cases++;
    }
    fclose(index);
    advgnn_ctx_free(ctx);

    /* Guards against an index that lost its cases. */
    CHECK(cases >= 6);
    printf("sPRO golden cases: %d, max |difference| %.3g\n", cases, max_diff);
    fflush(stdout);
    return CHECK_DONE();
}
