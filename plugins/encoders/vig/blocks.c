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

/* The 2-D sine-cosine embedding of position (y, x): the first half of the
 * channels encodes x, the second y, each as sin and cos at C/4 frequencies
 * 1 / 10000^(i / (C/4)). */
static void sincos_embed(int channels, double y, double x, double *out)
{
    int quarter = channels / 4;

    for (int half = 0; half < 2; half++) {
        double pos = half == 0 ? x : y;

        for (int i = 0; i < quarter; i++) {
            double omega = 1.0 / pow(10000.0, (double)i / quarter);

            out[half * 2 * quarter + i] = sin(pos * omega);
            out[half * 2 * quarter + quarter + i] = cos(pos * omega);
        }
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
    double *p = advgnn_malloc((size_t)nodes * channels * sizeof(double));
    double *weights = advgnn_malloc((size_t)keys * 4 * sizeof(double));
    int *taps = advgnn_malloc((size_t)keys * 4 * sizeof(int));
    float *bias = advgnn_malloc((size_t)nodes * keys * sizeof(float));

    if (!p || !weights || !taps || !bias) {
        advgnn_free(p);
        advgnn_free(weights);
        advgnn_free(taps);
        advgnn_free(bias);
        return NULL;
    }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            sincos_embed(channels, y, x, p + ((size_t)y * width + x) * channels);
    for (int j = 0; j < keys; j++)
        cubic_taps(nodes, keys, j, taps + 4 * j, weights + 4 * j);

    /* ViG forms the node-by-node term R = 2 P P^T / C, rounds it to float32
     * and resamples each row bicubically along the flattened (row-major) node
     * index from H*W to the key count; the bias is -R resampled. The rows keep
     * their length, where bicubic resampling is exact. So key j mixes the
     * nodes near flattened index (j + 0.5) * r^2 - 0.5, not the r x r block
     * that its average pooling covers. Only the four taps of each key are
     * computed. NOTE: the term is formed for this grid. ViG forms it for
     * 224 x 224 and resamples that matrix for other sizes, so the two differ
     * there. */
    for (int i = 0; i < nodes; i++) {
        const double *pi = p + (size_t)i * channels;

        for (int j = 0; j < keys; j++) {
            double sum = 0.0;

            for (int t = 0; t < 4; t++) {
                const double *pt = p + (size_t)taps[4 * j + t] * channels;
                double dot = 0.0;

                for (int c = 0; c < channels; c++)
                    dot += pi[c] * pt[c];
                sum += weights[4 * j + t] * (double)(float)(2.0 * dot / channels);
            }
            bias[(size_t)i * keys + j] = (float)-sum;
        }
    }
    advgnn_free(p);
    advgnn_free(weights);
    advgnn_free(taps);
    return bias;
}
