/* Collecting curve points into an advgnn_curve, shared by the PRO and sPRO
 * curves. Private to the metrics module. */
#ifndef ADVGNN_METRICS_CURVE_POINTS_H
#define ADVGNN_METRICS_CURVE_POINTS_H

#include <stddef.h>

#include "advgnn/metrics.h"
#include "util/internal.h"

/* A curve whose arrays grow by doubling as points arrive. */
typedef struct advgnn_point_list {
    advgnn_curve *curve;
    size_t capacity; /* points the arrays of `curve` can hold */
} advgnn_point_list;

/* Appends (x, y) to the advgnn_point_list `user`. Returns ADVGNN_ERR_NOMEM
 * when the arrays cannot grow; the points so far stay in the curve. */
ADVGNN_INTERNAL int advgnn_point_list_append(void *user, double x, double y);

#endif
