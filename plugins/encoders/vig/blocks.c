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

float *vig_relative_bias(int channels, int height, int width, int ratio)
{
    int kh = height / ratio, kw = width / ratio, nodes = height * width, keys = kh * kw;
    double *p = advgnn_malloc((size_t)nodes * channels * sizeof(double));
    double *q = advgnn_calloc((size_t)keys * channels, sizeof(double));
    float *bias = advgnn_malloc((size_t)nodes * keys * sizeof(float));

    if (!p || !q || !bias) {
        advgnn_free(p);
        advgnn_free(q);
        advgnn_free(bias);
        return NULL;
    }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            sincos_embed(channels, y, x, p + ((size_t)y * width + x) * channels);

    /* A key's embedding is the mean over the nodes its pooling covers.
     * NOTE: ViG interpolates the node-by-node term bicubically to the key
     * count; the block mean is a close stand-in, not bit-equal. */
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            const double *src = p + ((size_t)y * width + x) * channels;
            double *dst = q + ((size_t)(y / ratio) * kw + x / ratio) * channels;

            for (int c = 0; c < channels; c++)
                dst[c] += src[c] / (ratio * ratio);
        }
    for (int i = 0; i < nodes; i++)
        for (int j = 0; j < keys; j++) {
            double dot = 0.0;

            for (int c = 0; c < channels; c++)
                dot += p[(size_t)i * channels + c] * q[(size_t)j * channels + c];
            bias[(size_t)i * keys + j] = (float)(-2.0 * dot / channels);
        }
    advgnn_free(p);
    advgnn_free(q);
    return bias;
}
