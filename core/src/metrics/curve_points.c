/* Growing point arrays for curves. */
#include "advgnn/status.h"
#include "metrics/curve_points.h"

int advgnn_point_list_append(void *user, double x, double y)
{
    advgnn_point_list *list = user;
    advgnn_curve *curve = list->curve;

    if (curve->count == list->capacity) {
        size_t grown = list->capacity ? 2 * list->capacity : 256;
        double *xs = advgnn_realloc(curve->x, grown * sizeof(double));

        if (!xs)
            return ADVGNN_ERR_NOMEM;
        curve->x = xs;

        double *ys = advgnn_realloc(curve->y, grown * sizeof(double));
        if (!ys)
            return ADVGNN_ERR_NOMEM;
        curve->y = ys;
        list->capacity = grown;
    }
    curve->x[curve->count] = x;
    curve->y[curve->count] = y;
    curve->count++;
    return ADVGNN_OK;
}
