/* ROC and PRO curves as SVG. The document is plain SVG 1.1 with inline
 * attributes only (no CSS, no script), which MLflow's artifact viewer shows
 * as an image. */
#include "report/curves_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/fsutil.h"

/* Layout in SVG user units: the plot area's top-left corner and the page. */
#define PLOT_LEFT 70.0
#define PLOT_TOP 50.0
#define PAGE_WIDTH (PLOT_LEFT + ADVGNN_CURVE_PLOT_WIDTH + 50.0)
#define PAGE_HEIGHT (PLOT_TOP + ADVGNN_CURVE_PLOT_HEIGHT + 60.0)

/* Line colors, repeated when there are more series (matplotlib's tab10). */
static const char *const colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* ---- geometry ------------------------------------------------------------- */

static double to_px_x(double x, double x_max)
{
    return PLOT_LEFT + x / x_max * ADVGNN_CURVE_PLOT_WIDTH;
}

static double to_px_y(double y)
{
    return PLOT_TOP + (1.0 - y) * ADVGNN_CURVE_PLOT_HEIGHT;
}

/* Copies the kept points of `curve` into out_x/out_y (which may be the
 * curve's own arrays, because a point is never written past where it was
 * read) and returns their count. See advgnn_report_thin_curve. */
static size_t thin_points(const advgnn_curve *curve, double x_max, double *out_x, double *out_y)
{
    double scale_x = ADVGNN_CURVE_PLOT_WIDTH / x_max;
    double scale_y = ADVGNN_CURVE_PLOT_HEIGHT;
    size_t kept = 0;

    for (size_t i = 0; i < curve->count; i++) {
        double x = curve->x[i];
        double y = curve->y[i];
        int past = x > x_max;

        /* Cut at x_max, interpolating between the previous point and this one. */
        if (past && i > 0 && curve->x[i - 1] < x_max) {
            double t = (x_max - curve->x[i - 1]) / (x - curve->x[i - 1]);
            y = curve->y[i - 1] + t * (y - curve->y[i - 1]);
            x = x_max;
        } else if (past) {
            break;
        }

        int keep = kept == 0 || past || i + 1 == curve->count ||
                   fabs(x - out_x[kept - 1]) * scale_x > ADVGNN_CURVE_TOLERANCE_PX ||
                   fabs(y - out_y[kept - 1]) * scale_y > ADVGNN_CURVE_TOLERANCE_PX;
        if (keep) {
            out_x[kept] = x;
            out_y[kept] = y;
            kept++;
        }
        if (past)
            break;
    }
    return kept;
}

double advgnn_report_curve_area(const advgnn_curve *curve, double x_max)
{
    double area = 0.0;

    for (size_t i = 1; i < curve->count && curve->x[i - 1] < x_max; i++) {
        double x0 = curve->x[i - 1], y0 = curve->y[i - 1];
        double x1 = curve->x[i], y1 = curve->y[i];

        if (x1 > x_max) {
            y1 = y0 + (x_max - x0) / (x1 - x0) * (y1 - y0);
            x1 = x_max;
        }
        area += (x1 - x0) * (y0 + y1) / 2.0;
    }
    return area / x_max;
}

void advgnn_report_thin_curve(advgnn_curve *curve, double x_max)
{
    curve->count = thin_points(curve, x_max, curve->x, curve->y);
}

/* ---- SVG ------------------------------------------------------------------ */

static double series_area(const advgnn_curve_series *series, double x_max)
{
    return series->area ? *series->area : advgnn_report_curve_area(series->curve, x_max);
}

/* Appends `text` with XML's five special characters escaped. */
static void append_escaped(advgnn_text *svg, const char *text)
{
    for (const char *c = text; *c; c++) {
        switch (*c) {
        case '&': advgnn_text_appendf(svg, "&amp;"); break;
        case '<': advgnn_text_appendf(svg, "&lt;"); break;
        case '>': advgnn_text_appendf(svg, "&gt;"); break;
        case '"': advgnn_text_appendf(svg, "&quot;"); break;
        case '\'': advgnn_text_appendf(svg, "&apos;"); break;
        default: advgnn_text_appendf(svg, "%c", *c); break;
        }
    }
}

/* Returns the tick spacing of an axis from 0 to `max`: the smallest of a few
 * round steps that gives at most six intervals. */
static double tick_step(double max)
{
    static const double steps[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (max / steps[i] <= 6.0 + 1e-9)
            return steps[i];
    return max / 5.0;
}

static void append_axes(advgnn_text *svg, const advgnn_curve_plot *plot)
{
    double left = PLOT_LEFT, top = PLOT_TOP;
    double right = PLOT_LEFT + ADVGNN_CURVE_PLOT_WIDTH, bottom = PLOT_TOP + ADVGNN_CURVE_PLOT_HEIGHT;
    double step = tick_step(plot->x_max);

    /* Grid lines and ticks: x by `step`, y by 0.2. */
    advgnn_text_appendf(svg, "<g font-size=\"12\" fill=\"#333\">\n");
    for (int i = 0; i * step <= plot->x_max + 1e-9; i++) {
        double px = to_px_x(i * step, plot->x_max);
        advgnn_text_appendf(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                            px, top, px, bottom, px, bottom, px, bottom + 5.0, px, bottom + 19.0, i * step);
    }
    for (int i = 0; i <= 5; i++) {
        double py = to_px_y(i * 0.2);
        advgnn_text_appendf(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                            left, py, right, py, left - 5.0, py, left, py, left - 8.0, py + 4.0, i * 0.2);
    }
    advgnn_text_appendf(svg, "</g>\n");

    /* The frame and the axis labels. */
    advgnn_text_appendf(svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
                        left, top, right - left, bottom - top);
    advgnn_text_appendf(svg, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\">",
                        (left + right) / 2.0, bottom + 42.0);
    append_escaped(svg, plot->x_label);
    advgnn_text_appendf(svg,
                        "</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 %.1f %.1f)\">",
                        left - 45.0, (top + bottom) / 2.0, left - 45.0, (top + bottom) / 2.0);
    append_escaped(svg, plot->y_label);
    advgnn_text_appendf(svg, "</text>\n");
    if (plot->diagonal)
        advgnn_text_appendf(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
                            "stroke-dasharray=\"5 4\"/>\n",
                            to_px_x(0.0, plot->x_max), to_px_y(0.0), to_px_x(plot->x_max, plot->x_max),
                            to_px_y(plot->x_max));
}

/* Appends the series' polyline from its thinned points. */
static int append_polyline(advgnn_ctx *ctx, advgnn_text *svg, const advgnn_curve_plot *plot, const advgnn_curve *curve,
                           const char *color)
{
    double *x = advgnn_malloc((curve->count + 1) * sizeof(double));
    double *y = advgnn_malloc((curve->count + 1) * sizeof(double));

    if (!x || !y) {
        advgnn_free(x);
        advgnn_free(y);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory thinning a curve of %zu points", curve->count);
    }
    size_t kept = thin_points(curve, plot->x_max, x, y);
    advgnn_text_appendf(svg, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t i = 0; i < kept; i++)
        advgnn_text_appendf(svg, "%s%.1f,%.1f", i ? " " : "", to_px_x(x[i], plot->x_max), to_px_y(y[i]));
    advgnn_text_appendf(svg, "\"/>\n");
    advgnn_free(x);
    advgnn_free(y);
    return ADVGNN_OK;
}

/* Appends the legend in the plot's lower right corner, where ROC and PRO
 * curves of useful scores do not pass. */
static void append_legend(advgnn_text *svg, const advgnn_curve_plot *plot, const advgnn_curve_series *series,
                          size_t count)
{
    double width = 0.0, row = 18.0;

    /* About 7 units per character at font-size 12, plus the swatch and the area. */
    for (size_t i = 0; i < count; i++)
        width = fmax(width, 7.0 * (double)strlen(series[i].label));
    width = fmin(width + 150.0, ADVGNN_CURVE_PLOT_WIDTH - 20.0);
    double left = PLOT_LEFT + ADVGNN_CURVE_PLOT_WIDTH - width - 10.0;
    double top = PLOT_TOP + ADVGNN_CURVE_PLOT_HEIGHT - 10.0 - row * (double)count - 8.0;

    advgnn_text_appendf(svg,
                        "<g font-size=\"12\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"white\" fill-opacity=\"0.9\" stroke=\"#bbb\"/>\n",
                        left, top, width, row * (double)count + 8.0);
    for (size_t i = 0; i < count; i++) {
        double y = top + 4.0 + row * ((double)i + 0.5);
        advgnn_text_appendf(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>"
                            "<text x=\"%.1f\" y=\"%.1f\">",
                            left + 8.0, y, left + 30.0, y, colors[i % (sizeof(colors) / sizeof(colors[0]))],
                            left + 36.0, y + 4.0);
        append_escaped(svg, series[i].label);
        if (series[i].curve->count >= 2)
            advgnn_text_appendf(svg, " (%s %.4f)</text>\n", plot->area_name, series_area(&series[i], plot->x_max));
        else
            advgnn_text_appendf(svg, " (undefined)</text>\n");
    }
    advgnn_text_appendf(svg, "</g>\n");
}

int advgnn_report_curves_svg(advgnn_ctx *ctx, const advgnn_curve_plot *plot, const advgnn_curve_series *series,
                             size_t count, advgnn_text *svg)
{
    int rc = ADVGNN_OK;

    if (!(plot->x_max > 0.0 && plot->x_max <= 1.0))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "curve plot '%s': x_max %g is not in (0, 1]", plot->title,
                            plot->x_max);

    advgnn_text_appendf(svg,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
                        "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
                        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                        "<text x=\"%.1f\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">",
                        PAGE_WIDTH, PAGE_HEIGHT, PAGE_WIDTH, PAGE_HEIGHT, PAGE_WIDTH / 2.0);
    append_escaped(svg, plot->title);
    if (count > 0 && series[count - 1].curve->count >= 2)
        advgnn_text_appendf(svg, ": %s %.4f", plot->area_name, series_area(&series[count - 1], plot->x_max));
    advgnn_text_appendf(svg, "</text>\n");

    append_axes(svg, plot);
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++)
        if (series[i].curve->count >= 2)
            rc = append_polyline(ctx, svg, plot, series[i].curve, colors[i % (sizeof(colors) / sizeof(colors[0]))]);
    append_legend(svg, plot, series, count);
    advgnn_text_appendf(svg, "</svg>\n");

    if (rc == ADVGNN_OK && svg->failed)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory formatting the SVG of '%s'", plot->title);
    return rc;
}

int advgnn_report_write_curves_svg(advgnn_ctx *ctx, const char *path, const advgnn_curve_plot *plot,
                                   const advgnn_curve_series *series, size_t count)
{
    advgnn_text svg;

    memset(&svg, 0, sizeof(svg));
    int rc = advgnn_report_curves_svg(ctx, plot, series, count, &svg);
    if (rc == ADVGNN_OK)
        rc = advgnn_fs_write_atomic(ctx, path, svg.data, svg.length);
    advgnn_text_release(&svg);
    return rc;
}

/* ---- the files of a category ----------------------------------------------- */

void advgnn_report_category_curves_release(advgnn_category_curves *curves)
{
    advgnn_curve_release(&curves->roc_image);
    advgnn_curve_release(&curves->roc_pixel);
    advgnn_curve_release(&curves->pro);
}

/* Writes one of the three files; `which` picks the curve of each column. */
static int write_category_file(advgnn_ctx *ctx, const char *folder, const char *file, const advgnn_curve_plot *plot,
                               const advgnn_category_curves *columns, size_t count, size_t which)
{
    advgnn_curve_series *series = advgnn_calloc(count + 1, sizeof(*series));
    char *path = advgnn_fs_join(folder, file);
    int rc = ADVGNN_OK;

    if (!series || !path)
        rc = advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory writing %s", file);
    for (size_t i = 0; rc == ADVGNN_OK && i < count; i++) {
        const advgnn_curve *curves[] = {&columns[i].roc_image, &columns[i].roc_pixel, &columns[i].pro};
        series[i].label = columns[i].label;
        series[i].curve = curves[which];
        series[i].area = &columns[i].areas[which];
    }
    if (rc == ADVGNN_OK)
        rc = advgnn_report_write_curves_svg(ctx, path, plot, series, count);
    advgnn_free(series);
    advgnn_free(path);
    return rc;
}

int advgnn_report_write_category_curves(advgnn_ctx *ctx, const char *output_dir, const char *category,
                                        const advgnn_category_curves *columns, size_t count, double pro_fpr_limit)
{
    char image_title[300], pixel_title[300], pro_title[300];
    char *root = advgnn_fs_join(output_dir, "curves");
    char *folder = root ? advgnn_fs_join(root, category) : NULL;
    int rc = folder ? advgnn_fs_mkdir_p(ctx, folder) : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory");

    snprintf(image_title, sizeof(image_title), "Image-level ROC, %s", category);
    snprintf(pixel_title, sizeof(pixel_title), "Pixel-level ROC, %s", category);
    snprintf(pro_title, sizeof(pro_title), "PRO curve, %s", category);
    const advgnn_curve_plot image = {image_title, "false positive rate (images)", "true positive rate", "AUROC", 1.0, 1};
    const advgnn_curve_plot pixel = {pixel_title, "false positive rate (pixels)", "true positive rate", "AUROC", 1.0, 1};
    const advgnn_curve_plot pro = {pro_title, "false positive rate (pixels)", "mean per-region overlap", "AUPRO",
                                   pro_fpr_limit, 0};

    if (rc == ADVGNN_OK)
        rc = write_category_file(ctx, folder, "roc_image.svg", &image, columns, count, 0);
    if (rc == ADVGNN_OK)
        rc = write_category_file(ctx, folder, "roc_pixel.svg", &pixel, columns, count, 1);
    if (rc == ADVGNN_OK)
        rc = write_category_file(ctx, folder, "pro.svg", &pro, columns, count, 2);
    advgnn_free(root);
    advgnn_free(folder);
    return rc;
}
