/* Vision GNN blocks; see blocks.h. */
#include <math.h>
#include <stdio.h>

#include "blocks.h"

int vig_grapher(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int k, int dilation, int ratio,
                float *bias, int *node)
{
    int channels = (int)ae_shape(net, from)[1], n, rc;
    char full[128];

    if (channels % 2)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "%s: %d channels; the grouped convolution needs an even count",
                            name, channels);
    snprintf(full, sizeof(full), "%s.fc1", name);
    rc = ae_conv_bn(net, ctx, full, from, channels, 1, 1, 1, ADVGNN_ACTIVATION_INVALID, &n);
    snprintf(full, sizeof(full), "%s.graph", name);
    if (rc == ADVGNN_OK)
        rc = ae_max_relative(net, ctx, full, n, k, dilation, ratio, bias, &n);
    else
        advgnn_free(bias);
    snprintf(full, sizeof(full), "%s.nn", name);
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, full, n, 2 * channels, 1, 1, 4, ADVGNN_ACTIVATION_GELU, &n);
    snprintf(full, sizeof(full), "%s.fc2", name);
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, full, n, channels, 1, 1, 1, ADVGNN_ACTIVATION_INVALID, &n);
    snprintf(full, sizeof(full), "%s.residual", name);
    if (rc == ADVGNN_OK)
        rc = ae_sum(net, ctx, full, n, from, node);
    return rc;
}

int vig_ffn(ae_net *net, advgnn_ctx *ctx, const char *name, int from, int *node)
{
    int channels = (int)ae_shape(net, from)[1], n, rc;
    char full[128];

    snprintf(full, sizeof(full), "%s.fc1", name);
    rc = ae_conv_bn(net, ctx, full, from, 4 * channels, 1, 1, 1, ADVGNN_ACTIVATION_GELU, &n);
    snprintf(full, sizeof(full), "%s.fc2", name);
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, full, n, channels, 1, 1, 1, ADVGNN_ACTIVATION_INVALID, &n);
    snprintf(full, sizeof(full), "%s.residual", name);
    if (rc == ADVGNN_OK)
        rc = ae_sum(net, ctx, full, n, from, node);
    return rc;
}

/* Fills table[d + n - 1], for d from -(n - 1) to n - 1, with the dot
 * product of the 1-D sine-cosine embeddings of two positions d apart:
 * sum over the C/4 frequencies w_i = 1 / 10000^(i / (C/4)) of
 * sin(a w) sin(b w) + cos(a w) cos(b w) = cos((a - b) w). The 2-D
 * embedding of ViG encodes x in its first half of channels and y in its
 * second, so the dot product of two positions is table_x[dx] + table_y[dy]. */
static void sincos_dot_table(int channels, int n, double *table)
{
    int quarter = channels / 4;

    for (int d = -(n - 1); d <= n - 1; d++) {
        double sum = 0.0;

        for (int i = 0; i < quarter; i++)
            sum += cos(d / pow(10000.0, (double)i / quarter));
        table[d + n - 1] = sum;
    }
}

/* Fills the four taps and weights of PyTorch's bicubic resampling
 * (F.interpolate, mode "bicubic", align_corners=False, A = -0.75) from `in`
 * samples to output sample `j` of `out`; taps beyond the ends repeat the edge. */
static void cubic_taps(int in, int out, int j, int taps[4], double weights[4])
{
    const double a = -0.75;
    double scale = (double)in / out, real = scale * (j + 0.5) - 0.5, t, x;
    int base = (int)floor(real);

    /* PyTorch keeps the unclamped source position for cubic kernels and only
     * bounds the base index and the fraction. */
    base = base < in - 1 ? base : in - 1;
    t = real - base;
    t = fmin(fmax(t, 0.0), 1.0);
    x = t + 1;
    weights[0] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    x = t;
    weights[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
    x = 1 - t;
    weights[2] = ((a + 2) * x - (a + 3)) * x * x + 1;
    x = 2 - t;
    weights[3] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    for (int i = 0; i < 4; i++) {
        int tap = base - 1 + i;

        if (tap < 0)
            tap = 0;
        if (tap > in - 1)
            tap = in - 1;
        taps[i] = tap;
    }
}

float *vig_relative_bias(int channels, int height, int width, int ratio)
{
    int nodes = height * width, keys = (height / ratio) * (width / ratio);
    double *dot_x = advgnn_malloc((size_t)(2 * width - 1) * sizeof(double));
    double *dot_y = advgnn_malloc((size_t)(2 * height - 1) * sizeof(double));
    double *weights = advgnn_malloc((size_t)keys * 4 * sizeof(double));
    int *taps = advgnn_malloc((size_t)keys * 4 * sizeof(int));
    float *bias = advgnn_malloc((size_t)nodes * keys * sizeof(float));

    if (!dot_x || !dot_y || !weights || !taps || !bias) {
        advgnn_free(dot_x);
        advgnn_free(dot_y);
        advgnn_free(weights);
        advgnn_free(taps);
        advgnn_free(bias);
        return NULL;
    }
    sincos_dot_table(channels, width, dot_x);
    sincos_dot_table(channels, height, dot_y);
    for (int j = 0; j < keys; j++)
        cubic_taps(nodes, keys, j, taps + 4 * j, weights + 4 * j);

    /* ViG forms the node-by-node term R = 2 P P^T / C, rounds it to float32
     * and resamples each row bicubically along the flattened (row-major) node
     * index from H*W to the key count; the bias is -R resampled. The rows keep
     * their length, where bicubic resampling is exact. So key j mixes the
     * nodes near flattened index (j + 0.5) * r^2 - 0.5, not the r x r block
     * that its average pooling covers. Only the four taps of each key are
     * computed, each dot product from the two tables (a per-channel sum took
     * 77% of building a 448 x 448 model). NOTE: the term is formed for this
     * grid. ViG forms it for 224 x 224 and resamples that matrix for other
     * sizes, so the two differ there. */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < nodes; i++) {
        int yi = i / width, xi = i % width;

        for (int j = 0; j < keys; j++) {
            double sum = 0.0;

            for (int t = 0; t < 4; t++) {
                int tap = taps[4 * j + t];
                double dot = dot_x[xi - tap % width + width - 1] + dot_y[yi - tap / width + height - 1];

                sum += weights[4 * j + t] * (double)(float)(2.0 * dot / channels);
            }
            bias[(size_t)i * keys + j] = (float)-sum;
        }
    }
    advgnn_free(dot_x);
    advgnn_free(dot_y);
    advgnn_free(weights);
    advgnn_free(taps);
    return bias;
}
