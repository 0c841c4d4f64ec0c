/* ROC and PRO curves as standalone SVG files, one polyline per scorer (and
 * the fused score) with a legend, for a browser or MLflow's artifact viewer.
 * Curves are thinned to what the plot can show, so a pixel-level ROC curve
 * of millions of points becomes a file of tens of KB. Private. */
#ifndef ADVGNN_REPORT_CURVES_SVG_H
#define ADVGNN_REPORT_CURVES_SVG_H

#include <stddef.h>

#include "advgnn/context.h"
#include "advgnn/metrics.h"
#include "report/results.h"

/* Size of the plot area (inside the axes) in SVG user units (pixels). */
#define ADVGNN_CURVE_PLOT_WIDTH 520.0
#define ADVGNN_CURVE_PLOT_HEIGHT 360.0

/* Thinning tolerance in pixels: a point is dropped when it lies within this
 * distance (per axis) of the last kept point. */
#define ADVGNN_CURVE_TOLERANCE_PX 0.5

/* One plot: axes from 0 to x_max and from 0 to 1. */
typedef struct advgnn_curve_plot {
    const char *title;     /* e.g. "Image-level ROC, bottle"; the last series' area is appended */
    const char *x_label;   /* e.g. "false positive rate" */
    const char *y_label;   /* e.g. "true positive rate" */
    const char *area_name; /* "AUROC" or "AUPRO": the area under x <= x_max, divided by x_max */
    double x_max;          /* right end of the x axis: 1 for ROC, the FPR limit (0.3) for PRO */
    int diagonal;          /* nonzero draws y = x, the ROC of a random score */
} advgnn_curve_plot;

/* One polyline: points in data units with x ascending, as the metrics return them. */
typedef struct advgnn_curve_series {
    const char *label; /* legend text: the scorer's label or "fused" */
    const advgnn_curve *curve;
    const double *area; /* the area for the legend and title, computed before thinning; NULL integrates `curve` */
} advgnn_curve_series;

/* Returns the area under `curve` for x in [0, x_max], divided by x_max, by
 * the trapezoid rule (a point at x_max is interpolated). For a ROC curve
 * with x_max 1 this is the AUROC with ties counted one half. */
double advgnn_report_curve_area(const advgnn_curve *curve, double x_max);

/* Thins `curve` in place for a plot whose x axis ends at `x_max`. It keeps
 * the first point, the last point, and each point that lies more than
 * ADVGNN_CURVE_TOLERANCE_PX (in x or y, at the plot size) from the last kept
 * point. Points past x_max are cut, with one point interpolated at x_max.
 * For a curve whose x and y never decrease (ROC, PRO), at most
 * (width + height) / tolerance + 2 points remain. */
void advgnn_report_thin_curve(advgnn_curve *curve, double x_max);

/* Appends the SVG document of `count` series to `svg`. A series with fewer
 * than two points is listed in the legend as "undefined" and not drawn. */
int advgnn_report_curves_svg(advgnn_ctx *ctx, const advgnn_curve_plot *plot, const advgnn_curve_series *series,
                             size_t count, advgnn_text *svg);

/* Writes the SVG document to `path`, atomically. The curves are not changed:
 * the writer thins copies of them. The title gets the area of the last
 * series, which the runner makes the fused score when there is one. */
int advgnn_report_write_curves_svg(advgnn_ctx *ctx, const char *path, const advgnn_curve_plot *plot,
                                   const advgnn_curve_series *series, size_t count);

/* The curves of one column of a category's results: a scorer or the fused
 * score. A curve that is undefined for the data (one class only, no defect
 * region) has count 0. Owned: release with advgnn_report_category_curves_release. */
typedef struct advgnn_category_curves {
    const char *label; /* borrowed */
    advgnn_curve roc_image;
    advgnn_curve roc_pixel;
    advgnn_curve pro;  /* up to the FPR limit */
    double areas[3];   /* AUROC, pixel AUROC and AUPRO of the curves before thinning */
} advgnn_category_curves;

void advgnn_report_category_curves_release(advgnn_category_curves *curves);

/* Writes roc_image.svg, roc_pixel.svg and pro.svg into
 * <output_dir>/curves/<category>/, one polyline per column. */
int advgnn_report_write_category_curves(advgnn_ctx *ctx, const char *output_dir, const char *category,
                                        const advgnn_category_curves *columns, size_t count, double pro_fpr_limit);

#endif
