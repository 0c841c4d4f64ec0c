/* Tests of the SVG curves. They check the area under a curve against the
 * rank-based AUROC, the polyline endpoints of a hand-made curve, the cut at
 * the PRO curve's FPR limit and the thinning bound on a pixel-level ROC curve
 * of a million points. python3's xml.etree parses every document written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advgnn/metrics.h"
#include "check.h"
#include "report/curves_svg.h"
#include "util/fsutil.h"

/* Kept points of a monotone curve: (plot width + height) / tolerance + 2. */
#define THIN_BOUND ((size_t)((ADVGNN_CURVE_PLOT_WIDTH + ADVGNN_CURVE_PLOT_HEIGHT) / ADVGNN_CURVE_TOLERANCE_PX) + 2)

static const advgnn_curve_plot roc_plot = {"ROC <test> & more", "false positive rate", "true positive rate", "AUROC",
                                           1.0, 1};

/* Deterministic uniform numbers in [0, 1) (a 64-bit LCG, Knuth's MMIX constants). */
static double next_uniform(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / 9007199254740992.0;
}

/* Returns the `index`-th polyline's points="..." value (a pointer into `svg`). */
static const char *polyline_points(const char *svg, int index)
{
    const char *at = svg;

    for (int i = 0; at && i <= index; i++) {
        at = strstr(at, "<polyline");
        if (at)
            at++;
    }
    at = at ? strstr(at, "points=\"") : NULL;
    return at ? at + strlen("points=\"") : NULL;
}

/* Parses the first and the last point of a points="..." value and counts them. */
static size_t parse_endpoints(const char *points, double first[2], double last[2])
{
    size_t count = 0;
    const char *p = points;

    while (p && *p && *p != '"') {
        double x, y;
        int used = 0;
        if (sscanf(p, "%lf,%lf%n", &x, &y, &used) != 2)
            return 0;
        if (count == 0) {
            first[0] = x;
            first[1] = y;
        }
        last[0] = x;
        last[1] = y;
        count++;
        p += used;
        while (*p == ' ')
            p++;
    }
    return count;
}

/* Runs python3's XML parser on `path` and checks the root and the polyline count. */
static int python_parses(const char *path, int polylines)
{
    char command[1024];

    snprintf(command, sizeof(command),
             "python3 -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
             "n = len(r.findall('{http://www.w3.org/2000/svg}polyline')); "
             "sys.exit(0 if r.tag == '{http://www.w3.org/2000/svg}svg' and n == int(sys.argv[2]) else 1)\" '%s' %d",
             path, polylines);
    return system(command) == 0;
}

static void test_area_matches_auroc(advgnn_ctx *ctx)
{
    enum { N = 5000 };
    static float scores[N];
    static uint8_t labels[N];
    unsigned long long state = 7;
    advgnn_curve curve;
    double auroc = 0.0;

    /* Scores rounded to 0.01 so that many ties occur, which count one half. */
    for (int i = 0; i < N; i++) {
        labels[i] = next_uniform(&state) < 0.3;
        scores[i] = (float)(round((next_uniform(&state) + 0.3 * labels[i]) * 100.0) / 100.0);
    }
    CHECK_INT_EQ(advgnn_metric_roc_curve(ctx, scores, labels, N, &curve), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_metric_auroc(ctx, scores, labels, N, &auroc), ADVGNN_OK);
    CHECK_NEAR(advgnn_report_curve_area(&curve, 1.0), auroc, 1e-12);
    advgnn_curve_release(&curve);
}

static void test_hand_made_curve(advgnn_ctx *ctx, const char *dir)
{
    double x[] = {0.0, 0.0, 0.5, 0.5, 1.0};
    double y[] = {0.0, 0.5, 0.5, 1.0, 1.0};
    advgnn_curve curve = {x, y, 5};
    advgnn_curve_series series[] = {{"patch<1>", &curve, NULL}, {"fused & more", &curve, NULL}};
    char path[600];
    char *svg = NULL;
    size_t size = 0;
    double first[2] = {0}, last[2] = {0};

    CHECK_NEAR(advgnn_report_curve_area(&curve, 1.0), 0.75, 1e-15);
    snprintf(path, sizeof(path), "%s/hand.svg", dir);
    CHECK_INT_EQ(advgnn_report_write_curves_svg(ctx, path, &roc_plot, series, 2), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 1 << 20, &svg, &size), ADVGNN_OK);
    if (!svg)
        return;

    /* The plot area spans x 70..590 and y 50..410 (y grows downwards). */
    CHECK_INT_EQ((long)parse_endpoints(polyline_points(svg, 0), first, last), 5);
    CHECK_NEAR(first[0], 70.0, 1e-9);
    CHECK_NEAR(first[1], 410.0, 1e-9);
    CHECK_NEAR(last[0], 590.0, 1e-9);
    CHECK_NEAR(last[1], 50.0, 1e-9);
    CHECK(polyline_points(svg, 1) != NULL);
    CHECK(polyline_points(svg, 2) == NULL);
    CHECK_STR_CONTAINS(svg, "ROC &lt;test&gt; &amp; more: AUROC 0.7500</text>");
    CHECK_STR_CONTAINS(svg, "patch&lt;1&gt; (AUROC 0.7500)");
    CHECK_STR_CONTAINS(svg, "stroke-dasharray"); /* the diagonal */
    CHECK(python_parses(path, 2));
    advgnn_free(svg);

    /* An area given with the series wins over the drawn (maybe thinned) curve. */
    double exact = 0.5;
    series[1].area = &exact;
    CHECK_INT_EQ(advgnn_report_write_curves_svg(ctx, path, &roc_plot, series, 2), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 1 << 20, &svg, &size), ADVGNN_OK);
    if (svg) {
        CHECK_STR_CONTAINS(svg, "fused &amp; more (AUROC 0.5000)");
        CHECK_STR_CONTAINS(svg, "more: AUROC 0.5000</text>");
    }
    advgnn_free(svg);
}

static void test_pro_cut_at_limit(advgnn_ctx *ctx)
{
    double x[] = {0.0, 0.2, 0.4, 1.0};
    double y[] = {0.0, 0.4, 0.8, 1.0};
    advgnn_curve curve = {x, y, 4};

    /* Trapezoids up to 0.3: 0.2 * 0.2 + 0.1 * (0.4 + 0.6) / 2 = 0.09, over 0.3. */
    CHECK_NEAR(advgnn_report_curve_area(&curve, 0.3), 0.3, 1e-12);
    advgnn_report_thin_curve(&curve, 0.3);
    CHECK_INT_EQ((long)curve.count, 3);
    CHECK_NEAR(curve.x[2], 0.3, 1e-15);
    CHECK_NEAR(curve.y[2], 0.6, 1e-12);
}

/* Checks that each original point lies within the tolerance of the kept
 * point at or before it. Kept points are exact copies of original points. */
static void check_thinning_error(const advgnn_curve *original, const advgnn_curve *kept)
{
    double scale_x = ADVGNN_CURVE_PLOT_WIDTH, scale_y = ADVGNN_CURVE_PLOT_HEIGHT;
    double worst = 0.0;
    size_t k = 0;

    for (size_t i = 0; i < original->count; i++) {
        if (k + 1 < kept->count && original->x[i] == kept->x[k + 1] && original->y[i] == kept->y[k + 1])
            k++;
        double dx = fabs(original->x[i] - kept->x[k]) * scale_x;
        double dy = fabs(original->y[i] - kept->y[k]) * scale_y;
        worst = fmax(worst, fmax(dx, dy));
    }
    CHECK_INT_EQ((long)k, (long)kept->count - 1);
    CHECK(worst <= ADVGNN_CURVE_TOLERANCE_PX);
}

static void test_thinning_bound(advgnn_ctx *ctx, const char *dir)
{
    enum { N = 1000000 };
    float *scores = malloc(N * sizeof(float));
    uint8_t *labels = malloc(N);
    unsigned long long state = 11;
    advgnn_curve original, thinned;
    char path[600];
    char *svg = NULL;
    size_t size = 0;

    CHECK(scores != NULL);
    CHECK(labels != NULL);
    if (!scores || !labels)
        goto done;

    /* A weak score of a million pixels: about as many distinct ROC points. */
    for (int i = 0; i < N; i++) {
        labels[i] = next_uniform(&state) < 0.05;
        scores[i] = (float)(next_uniform(&state) + 0.2 * labels[i]);
    }
    CHECK_INT_EQ(advgnn_metric_roc_curve(ctx, scores, labels, N, &original), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_metric_roc_curve(ctx, scores, labels, N, &thinned), ADVGNN_OK);
    CHECK(original.count > 500000);
    advgnn_report_thin_curve(&thinned, 1.0);
    printf("thinned %zu points to %zu (bound %zu)\n", original.count, thinned.count, THIN_BOUND);
    CHECK(thinned.count <= THIN_BOUND);
    CHECK(thinned.count > 100);
    CHECK_NEAR(thinned.x[thinned.count - 1], 1.0, 0.0);
    CHECK_NEAR(thinned.y[thinned.count - 1], 1.0, 0.0);
    check_thinning_error(&original, &thinned);

    /* The writer thins an unthinned curve the same way, into a small file. */
    advgnn_curve_series series[] = {{"pixels", &original, NULL}};
    snprintf(path, sizeof(path), "%s/pixels.svg", dir);
    CHECK_INT_EQ(advgnn_report_write_curves_svg(ctx, path, &roc_plot, series, 1), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 1 << 24, &svg, &size), ADVGNN_OK);
    printf("pixel-level SVG: %zu bytes\n", size);
    CHECK(size < 40000);
    CHECK(python_parses(path, 1));
    advgnn_free(svg);
    advgnn_curve_release(&original);
    advgnn_curve_release(&thinned);
done:
    free(scores);
    free(labels);
}

static void test_undefined_series(advgnn_ctx *ctx, const char *dir)
{
    advgnn_curve empty = {NULL, NULL, 0};
    advgnn_curve_series series[] = {{"memory_bank", &empty, NULL}};
    advgnn_curve_plot pro = {"PRO", "false positive rate", "mean per-region overlap", "AUPRO", 0.3, 0};
    char path[600];
    char *svg = NULL;
    size_t size = 0;

    snprintf(path, sizeof(path), "%s/undefined.svg", dir);
    CHECK_INT_EQ(advgnn_report_write_curves_svg(ctx, path, &pro, series, 1), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_fs_read_file(ctx, path, 1 << 20, &svg, &size), ADVGNN_OK);
    if (svg) {
        CHECK_STR_CONTAINS(svg, "memory_bank (undefined)");
        CHECK(strstr(svg, "<polyline") == NULL);
        CHECK_STR_CONTAINS(svg, ">0.3</text>"); /* the last x tick */
    }
    CHECK(python_parses(path, 0));
    advgnn_free(svg);

    pro.x_max = 1.5;
    CHECK_INT_EQ(advgnn_report_write_curves_svg(ctx, path, &pro, series, 1), ADVGNN_ERR_INVALID_ARG);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "x_max 1.5");
}

int main(void)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    char dir[] = "/tmp/advgnn-curves-XXXXXX";

    CHECK(ctx != NULL);
    CHECK(mkdtemp(dir) != NULL);
    if (check_failures)
        return CHECK_DONE();

    test_area_matches_auroc(ctx);
    test_hand_made_curve(ctx, dir);
    test_pro_cut_at_limit(ctx);
    test_thinning_bound(ctx, dir);
    test_undefined_series(ctx, dir);

    if (!check_failures) {
        char command[700];
        snprintf(command, sizeof(command), "rm -rf '%s'", dir);
        CHECK_INT_EQ(system(command), 0);
    }
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
