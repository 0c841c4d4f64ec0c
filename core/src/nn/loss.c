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

/* Valid 2-D filtering of an (h, w) plane with the separable window `g`:
 * out is (h - 10, w - 10). `tmp` has room for (h, w - 10) values. */
NN_VECTOR static void filter_valid(const double *g, const double *in, int h, int w, double *tmp, double *out)
{
    int oh = h - SSIM_WINDOW + 1, ow = w - SSIM_WINDOW + 1;

    for (int y = 0; y < h; y++) {
        const double *row = in + (size_t)y * w;
        double *t = tmp + (size_t)y * ow;

#pragma omp simd
        for (int x = 0; x < ow; x++)
            t[x] = window_sum(g, row + x, 1);
    }
    for (int y = 0; y < oh; y++) {
        const double *t = tmp + (size_t)y * ow;
        double *o = out + (size_t)y * ow;

#pragma omp simd
        for (int x = 0; x < ow; x++)
            o[x] = window_sum(g, t + x, ow);
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

/* The transpose of filter_valid: scatters an (h - 10, w - 10) map back onto
 * (h, w). Each output element gathers its terms in the order in which a
 * scatter over the input would add them. That is increasing input row in
 * the vertical pass and decreasing tap in the horizontal pass. */
NN_VECTOR static void filter_transpose(const double *g, const double *in, int h, int w, double *tmp, double *out)
{
    int oh = h - SSIM_WINDOW + 1, ow = w - SSIM_WINDOW + 1;
    int inner_end = ow > SSIM_WINDOW - 1 ? ow : SSIM_WINDOW - 1;
    double rev[SSIM_WINDOW];

    for (int k = 0; k < SSIM_WINDOW; k++)
        rev[k] = g[SSIM_WINDOW - 1 - k];
    for (int r = 0; r < h; r++)
        transpose_row(g, rev, in, r, oh, ow, tmp + (size_t)r * ow);

    /* Outputs j < 10 and j >= ow lack some taps, and j in [10, ow) uses all 11. */
    for (int y = 0; y < h; y++) {
        const double *t = tmp + (size_t)y * ow;
        double *o = out + (size_t)y * w;

        for (int j = 0; j < SSIM_WINDOW - 1 && j < w; j++)
            o[j] = transpose_edge(g, t, j, ow);
#pragma omp simd
        for (int j = SSIM_WINDOW - 1; j < ow; j++)
            o[j] = window_sum(rev, t + j - (SSIM_WINDOW - 1), 1);
        for (int j = inner_end; j < w; j++)
            o[j] = transpose_edge(g, t, j, ow);
    }
}

/* SSIM of one plane (Wang et al. 2004, eq. 13, Gaussian-weighted statistics):
 * returns the sum of the SSIM map and, when dx is non-NULL, writes
 * d(sum)/d(pred) into it. `work` has room for 12 * h * w doubles. */
NN_VECTOR static double ssim_plane(const double *g, const float *pred, const float *target, int h, int w, double c1,
                                   double c2, double *work, float *dx, double dx_scale)
{
    size_t hw = (size_t)h * w;
    int m = (h - SSIM_WINDOW + 1) * (w - SSIM_WINDOW + 1);
    double *x = work, *y = x + hw, *xx = y + hw, *yy = xx + hw, *xy = yy + hw, *tmp = xy + hw;
    double *mx = tmp + hw, *my = mx + hw, *mxx = my + hw, *myy = mxx + hw, *mxy = myy + hw, *back = mxy + hw;
    double sum = 0;

#pragma omp simd
    for (size_t i = 0; i < hw; i++) {
        x[i] = pred[i];
        y[i] = target[i];
        xx[i] = x[i] * x[i];
        yy[i] = y[i] * y[i];
        xy[i] = x[i] * y[i];
    }
    filter_valid(g, x, h, w, tmp, mx);
    filter_valid(g, y, h, w, tmp, my);
    filter_valid(g, xx, h, w, tmp, mxx);
    filter_valid(g, yy, h, w, tmp, myy);
    filter_valid(g, xy, h, w, tmp, mxy);

    /* s = A1 A2 / (B1 B2) with A1 = 2 mx my + C1, A2 = 2 (mxy - mx my) + C2,
     * B1 = mx^2 + my^2 + C1, B2 = (mxx - mx^2) + (myy - my^2) + C2. The
     * gradient maps overwrite mx (d/d mx), mxx (d/d mxx) and mxy (d/d mxy).
     * The map goes to `back` and is summed afterwards in index order, which
     * keeps the sum serial while the rest vectorizes. */
#pragma omp simd
    for (int i = 0; i < m; i++) {
        double ux = mx[i], uy = my[i];
        double a1 = 2 * ux * uy + c1, a2 = 2 * (mxy[i] - ux * uy) + c2;
        double b1 = ux * ux + uy * uy + c1, b2 = (mxx[i] - ux * ux) + (myy[i] - uy * uy) + c2;
        double s = a1 * a2 / (b1 * b2);

        back[i] = s;
        mx[i] = s * (2 * uy / a1 - 2 * uy / a2 - 2 * ux / b1 + 2 * ux / b2);
        mxx[i] = -s / b2;
        mxy[i] = 2 * s / a2;
    }
    for (int i = 0; i < m; i++)
        sum += back[i];
    if (!dx)
        return sum;

    /* d s / d pred_q = sum_p G(p - q) [d/dmx + 2 x_q d/dmxx + y_q d/dmxy]. */
    filter_transpose(g, mx, h, w, tmp, xx);
    filter_transpose(g, mxx, h, w, tmp, back);
#pragma omp simd
    for (size_t i = 0; i < hw; i++)
        xx[i] += 2 * x[i] * back[i];
    filter_transpose(g, mxy, h, w, tmp, back);
#pragma omp simd
    for (size_t i = 0; i < hw; i++)
        dx[i] = (float)((xx[i] + y[i] * back[i]) * dx_scale);
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
     * layers; 12 doubles per pixel and thread. */
    sums = advgnn_malloc(sizeof(double) * (size_t)planes);
    work = advgnn_malloc(sizeof(double) * 12 * (size_t)(h * w) * (size_t)threads);
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
                             (int)w, c1, c2, work + (size_t)t * 12 * (size_t)(h * w),
                             grad ? (float *)grad->data + i * h * w : NULL, -1.0 / (double)(planes * positions));
    }
    for (int64_t i = 0; i < planes; i++)
        total += sums[i];
    *loss = 1.0 - total / (double)(planes * positions);
    advgnn_free(sums);
    advgnn_free(work);
    return ADVGNN_OK;
}
