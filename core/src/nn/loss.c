/* Reconstruction losses with their gradients: MSE, L1 and SSIM. Sums run in
 * double in a fixed order, so a loss is the same on every run. */
#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/nn_internal.h"

#define SSIM_WINDOW 11
#define SSIM_SIGMA 1.5

static int check_pair(advgnn_ctx *ctx, const char *loss, const advgnn_tensor *pred, const advgnn_tensor *target,
                      const advgnn_tensor *grad)
{
    int same = pred && target && pred->data && target->data && pred->ndim == target->ndim &&
               pred->dtype == ADVGNN_DTYPE_F32 && target->dtype == ADVGNN_DTYPE_F32 &&
               advgnn_tensor_is_contiguous(pred) && advgnn_tensor_is_contiguous(target);

    for (int i = 0; same && i < pred->ndim; i++)
        same = pred->shape[i] == target->shape[i];
    if (same && grad)
        same = grad->data && grad->dtype == ADVGNN_DTYPE_F32 && advgnn_tensor_is_contiguous(grad) &&
               advgnn_tensor_numel(grad) == advgnn_tensor_numel(pred);
    if (!same)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "%s loss: prediction, target and gradient must be contiguous f32 tensors of one shape",
                            loss);
    if (advgnn_tensor_numel(pred) == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "%s loss: empty tensors", loss);
    return ADVGNN_OK;
}

/* Mean of (pred - target)^2, or of |pred - target| when `l1`, with its gradient. */
static int pointwise_loss(advgnn_ctx *ctx, const char *name, int l1, const advgnn_tensor *pred,
                          const advgnn_tensor *target, advgnn_tensor *grad, double *loss)
{
    int64_t n;
    const float *p, *t;
    double sum = 0;
    int rc = check_pair(ctx, name, pred, target, grad);

    if (rc != ADVGNN_OK)
        return rc;
    n = advgnn_tensor_numel(pred);
    p = pred->data;
    t = target->data;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - t[i], slope;

        if (l1) {
            sum += fabs(d);

            /* The subgradient at 0 is 0, as torch.sign gives. */
            slope = 0.0;
            if (d > 0)
                slope = 1.0;
            else if (d < 0)
                slope = -1.0;
        } else {
            sum += d * d;
            slope = 2.0 * d;
        }
        if (grad)
            ((float *)grad->data)[i] = (float)(slope / (double)n);
    }
    *loss = sum / (double)n;
    return ADVGNN_OK;
}

int advgnn_loss_mse(advgnn_ctx *ctx, const advgnn_tensor *pred, const advgnn_tensor *target, advgnn_tensor *grad,
                    double *loss)
{
    return pointwise_loss(ctx, "MSE", 0, pred, target, grad, loss);
}

int advgnn_loss_l1(advgnn_ctx *ctx, const advgnn_tensor *pred, const advgnn_tensor *target, advgnn_tensor *grad,
                   double *loss)
{
    return pointwise_loss(ctx, "L1", 1, pred, target, grad, loss);
}

/* ---- SSIM -------------------------------------------------------------- */

/* The filters below run x in the innermost loop so that it vectorizes. Each
 * output element still adds its products in the order of the earlier scalar
 * loops, so the loss and its gradient are bitwise the same in every clone.
 * That needs -ffp-contract=off, the default of GCC's ISO modes (CMake builds
 * with -std=c11), because a fused multiply-add rounds once instead of twice. */

/* 0 + g[0] p[0] + g[1] p[stride] + ... + g[10] p[10 stride], added left to
 * right. Starting from +0 keeps a sum of negative zeros at +0 as before. */
static inline double window_sum(const double *g, const double *p, ptrdiff_t stride)
{
    double s = 0;

    s += g[0] * p[0];
    s += g[1] * p[stride];
    s += g[2] * p[2 * stride];
    s += g[3] * p[3 * stride];
    s += g[4] * p[4 * stride];
    s += g[5] * p[5 * stride];
    s += g[6] * p[6 * stride];
    s += g[7] * p[7 * stride];
    s += g[8] * p[8 * stride];
    s += g[9] * p[9 * stride];
    s += g[10] * p[10 * stride];
    return s;
}

/* The same sum over element x of 11 rows, written out so that the x loop
 * around it vectorizes. */
static inline double rows_sum(const double *g, const double *const *rows, int x)
{
    double s = 0;

    s += g[0] * rows[0][x];
    s += g[1] * rows[1][x];
    s += g[2] * rows[2][x];
    s += g[3] * rows[3][x];
    s += g[4] * rows[4][x];
    s += g[5] * rows[5][x];
    s += g[6] * rows[6][x];
    s += g[7] * rows[7][x];
    s += g[8] * rows[8][x];
    s += g[9] * rows[9][x];
    s += g[10] * rows[10][x];
    return s;
}

/* The inputs of the five local statistics of SSIM: x, y, x^2, y^2 and x y. */
#define SSIM_STATS 5

/* Valid horizontal filtering of one image row: `stats` receives the
 * SSIM_STATS input rows (w values each), `out` their filtered rows (w - 10
 * values each). */
NN_VECTOR static void filter_row(const double *g, const float *pred, const float *target, int w, double *stats,
                                 double *out)
{
    int ow = w - SSIM_WINDOW + 1;
    double *x = stats, *y = x + w, *xx = y + w, *yy = xx + w, *xy = yy + w;

#pragma omp simd
    for (int j = 0; j < w; j++) {
        x[j] = pred[j];
        y[j] = target[j];
        xx[j] = x[j] * x[j];
        yy[j] = y[j] * y[j];
        xy[j] = x[j] * y[j];
    }
    for (int q = 0; q < SSIM_STATS; q++) {
        const double *row = stats + (size_t)q * w;
        double *o = out + (size_t)q * ow;

#pragma omp simd
        for (int j = 0; j < ow; j++)
            o[j] = window_sum(g, row + j, 1);
    }
}

/* One row of the SSIM map from the 11 horizontally filtered rows of each
 * statistic (Wang et al. 2004, eq. 13, Gaussian-weighted statistics):
 * s = A1 A2 / (B1 B2) with A1 = 2 mx my + C1, A2 = 2 (mxy - mx my) + C2,
 * B1 = mx^2 + my^2 + C1, B2 = (mxx - mx^2) + (myy - my^2) + C2. Writes s
 * and d s / d mx, d s / d mxx and d s / d mxy. myy depends only on the
 * target, so the gradient needs no d s / d myy. */
NN_VECTOR static void ssim_row(const double *g, const double *const rows[SSIM_STATS][SSIM_WINDOW], int ow, double c1,
                               double c2, double *s_row, double *d_mx, double *d_mxx, double *d_mxy)
{
#pragma omp simd
    for (int j = 0; j < ow; j++) {
        double ux = rows_sum(g, rows[0], j), uy = rows_sum(g, rows[1], j);
        double uxx = rows_sum(g, rows[2], j), uyy = rows_sum(g, rows[3], j), uxy = rows_sum(g, rows[4], j);
        double a1 = 2 * ux * uy + c1, a2 = 2 * (uxy - ux * uy) + c2;
        double b1 = ux * ux + uy * uy + c1, b2 = (uxx - ux * ux) + (uyy - uy * uy) + c2;
        double s = a1 * a2 / (b1 * b2);

        s_row[j] = s;
        d_mx[j] = s * (2 * uy / a1 - 2 * uy / a2 - 2 * ux / b1 + 2 * ux / b2);
        d_mxx[j] = -s / b2;
        d_mxy[j] = 2 * s / a2;
    }
}

/* Row r of the vertical transpose: the sum over the rows y = r - k of `in`
 * (ow wide) that exist, of g[k] in[y], in increasing y. `rev` is g reversed,
 * for rows that see the whole window. */
NN_VECTOR static void transpose_row(const double *g, const double *rev, const double *in, int r, int oh, int ow,
                                    double *out)
{
    int first = r - (SSIM_WINDOW - 1) > 0 ? r - (SSIM_WINDOW - 1) : 0, last = r < oh - 1 ? r : oh - 1;

    if (last - first == SSIM_WINDOW - 1) {
        const double *src = in + (size_t)first * ow;

#pragma omp simd
        for (int x = 0; x < ow; x++)
            out[x] = window_sum(rev, src + x, ow);
        return;
    }
#pragma omp simd
    for (int x = 0; x < ow; x++)
        out[x] = 0;
    for (int y = first; y <= last; y++) {
        const double *src = in + (size_t)y * ow;
        double gk = g[r - y];

#pragma omp simd
        for (int x = 0; x < ow; x++)
            out[x] += gk * src[x];
    }
}

/* Element j of the horizontal transpose of an ow-wide row: the sum over k
 * from 10 down to 0 of g[k] t[j - k] where j - k lies in the row. */
static double transpose_edge(const double *g, const double *t, int j, int ow)
{
    double s = 0;

    for (int k = SSIM_WINDOW - 1; k >= 0; k--) {
        if (j - k >= 0 && j - k < ow)
            s += g[k] * t[j - k];
    }
    return s;
}

/* The horizontal transpose of one row: scatters ow values of `t` onto w. */
NN_VECTOR static void transpose_cols(const double *g, const double *rev, const double *t, int ow, int w, double *out)
{
    int inner_end = ow > SSIM_WINDOW - 1 ? ow : SSIM_WINDOW - 1;

    /* Outputs j < 10 and j >= ow lack some taps, and j in [10, ow) uses all 11. */
    for (int j = 0; j < SSIM_WINDOW - 1 && j < w; j++)
        out[j] = transpose_edge(g, t, j, ow);
#pragma omp simd
    for (int j = SSIM_WINDOW - 1; j < ow; j++)
        out[j] = window_sum(rev, t + j - (SSIM_WINDOW - 1), 1);
    for (int j = inner_end; j < w; j++)
        out[j] = transpose_edge(g, t, j, ow);
}

/* Writes d s / d pred_q = sum_p G(p - q) [d/dmx + 2 x_q d/dmxx + y_q d/dmxy]
 * for one image row. `back` contains the three transposed maps of the row. */
NN_VECTOR static void gradient_row(const float *pred, const float *target, const double *back, int w,
                                   double dx_scale, float *dx)
{
    const double *b_mx = back, *b_mxx = b_mx + w, *b_mxy = b_mxx + w;

#pragma omp simd
    for (int j = 0; j < w; j++) {
        double x = pred[j], y = target[j], d = b_mx[j];

        d += 2 * x * b_mxx[j];
        dx[j] = (float)((d + y * b_mxy[j]) * dx_scale);
    }
}

/* Doubles of work that ssim_plane needs for an (h, w) plane. */
static size_t ssim_work_size(int64_t h, int64_t w)
{
    int64_t oh = h - SSIM_WINDOW + 1, ow = w - SSIM_WINDOW + 1;

    /* Three gradient maps, a ring of 11 filtered rows per statistic, the
     * statistics of one image row, one row of the map, and three rows of
     * each transpose pass. */
    return (size_t)(3 * oh * ow + SSIM_STATS * SSIM_WINDOW * ow + SSIM_STATS * w + ow + 3 * ow + 3 * w);
}

/* SSIM of one plane: returns the sum of the SSIM map and, when dx is
 * non-NULL, writes d(sum)/d(pred) into it. `work` has room for
 * ssim_work_size(h, w) doubles. The plane is processed row by row. The
 * forward pass keeps only the last 11 horizontally filtered rows and the
 * backward pass one row per stage, so the work is 3 instead of 12 doubles
 * per pixel. */
static double ssim_plane(const double *g, const float *pred, const float *target, int h, int w, double c1, double c2,
                         double *work, float *dx, double dx_scale)
{
    int oh = h - SSIM_WINDOW + 1, ow = w - SSIM_WINDOW + 1;
    size_t m = (size_t)oh * ow;
    double *d_mx = work, *d_mxx = d_mx + m, *d_mxy = d_mxx + m, *ring = d_mxy + m;
    double *stats = ring + (size_t)SSIM_STATS * SSIM_WINDOW * ow, *s_row = stats + (size_t)SSIM_STATS * w;
    double *tmp = s_row + ow, *back = tmp + 3 * (size_t)ow;
    double rev[SSIM_WINDOW], sum = 0;

    /* Image row y goes to ring slot y % 11, and output row r needs rows r .. r + 10. */
    for (int y = 0; y < h; y++) {
        const double *rows[SSIM_STATS][SSIM_WINDOW];
        int r = y - (SSIM_WINDOW - 1);

        filter_row(g, pred + (size_t)y * w, target + (size_t)y * w, w, stats,
                   ring + (size_t)(y % SSIM_WINDOW) * SSIM_STATS * ow);
        if (r < 0)
            continue;
        for (int q = 0; q < SSIM_STATS; q++)
            for (int k = 0; k < SSIM_WINDOW; k++)
                rows[q][k] = ring + ((size_t)((r + k) % SSIM_WINDOW) * SSIM_STATS + q) * ow;
        ssim_row(g, rows, ow, c1, c2, s_row, d_mx + (size_t)r * ow, d_mxx + (size_t)r * ow, d_mxy + (size_t)r * ow);

        /* The map sums in index order, outside the vector loop. */
        for (int j = 0; j < ow; j++)
            sum += s_row[j];
    }
    if (!dx)
        return sum;

    for (int k = 0; k < SSIM_WINDOW; k++)
        rev[k] = g[SSIM_WINDOW - 1 - k];
    for (int y = 0; y < h; y++) {
        transpose_row(g, rev, d_mx, y, oh, ow, tmp);
        transpose_row(g, rev, d_mxx, y, oh, ow, tmp + ow);
        transpose_row(g, rev, d_mxy, y, oh, ow, tmp + 2 * (size_t)ow);
        for (int q = 0; q < 3; q++)
            transpose_cols(g, rev, tmp + (size_t)q * ow, ow, w, back + (size_t)q * w);
        gradient_row(pred + (size_t)y * w, target + (size_t)y * w, back, w, dx_scale, dx + (size_t)y * w);
    }
    return sum;
}

int advgnn_loss_ssim(advgnn_ctx *ctx, const advgnn_tensor *pred, const advgnn_tensor *target, double data_range,
                     advgnn_tensor *grad, double *loss)
{
    double g[SSIM_WINDOW], gsum = 0, c1, c2, total = 0, *sums, *work;
    int64_t planes, h, w, positions;
    int rc = check_pair(ctx, "SSIM", pred, target, grad);
    int threads = 1;

    if (rc != ADVGNN_OK)
        return rc;
    if (pred->ndim != 4 || pred->shape[2] < SSIM_WINDOW || pred->shape[3] < SSIM_WINDOW || !(data_range > 0))
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "SSIM loss: needs (N, C, H, W) images of at least %dx%d and a data range > 0 (got %g)",
                            SSIM_WINDOW, SSIM_WINDOW, data_range);
    planes = pred->shape[0] * pred->shape[1];
    h = pred->shape[2];
    w = pred->shape[3];
    positions = (h - SSIM_WINDOW + 1) * (w - SSIM_WINDOW + 1);
    c1 = pow(0.01 * data_range, 2);
    c2 = pow(0.03 * data_range, 2);
    for (int i = 0; i < SSIM_WINDOW; i++) {
        g[i] = exp(-pow(i - SSIM_WINDOW / 2, 2) / (2 * SSIM_SIGMA * SSIM_SIGMA));
        gsum += g[i];
    }
    for (int i = 0; i < SSIM_WINDOW; i++)
        g[i] /= gsum;

#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    /* NOTE: the work buffers are allocated per call, unlike the arenas of the
     * layers. A thread needs about 3 doubles per pixel. */
    sums = advgnn_malloc(sizeof(double) * (size_t)planes);
    work = advgnn_malloc(sizeof(double) * ssim_work_size(h, w) * (size_t)threads);
    if (!sums || !work) {
        advgnn_free(sums);
        advgnn_free(work);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "SSIM loss: out of memory for %lld planes of %lldx%lld",
                            (long long)planes, (long long)h, (long long)w);
    }

    /* Per-plane sums, added afterwards in plane order, keep the loss
     * independent of the thread count. */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < planes; i++) {
        int t = 0;

#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        sums[i] = ssim_plane(g, (const float *)pred->data + i * h * w, (const float *)target->data + i * h * w, (int)h,
                             (int)w, c1, c2, work + (size_t)t * ssim_work_size(h, w),
                             grad ? (float *)grad->data + i * h * w : NULL, -1.0 / (double)(planes * positions));
    }
    for (int64_t i = 0; i < planes; i++)
        total += sums[i];
    *loss = 1.0 - total / (double)(planes * positions);
    advgnn_free(sums);
    advgnn_free(work);
    return ADVGNN_OK;
}
