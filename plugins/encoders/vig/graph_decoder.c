/* The graph decoder of the vig autoencoder; see graph_decoder.h.
 *
 * Upsampling is a bilinear resize, not a transposed convolution. The resize
 * has no weights, so every learned spatial mixing of a graph stage happens in
 * its Grapher blocks, over the kNN graph, and the comparison with the deconv
 * decoder measures those blocks rather than learned upsampling kernels. The
 * 1x1 convolution after the resize only maps channels to the stage width.
 *
 * Which stages get graph blocks: only the graph stages, whose grids and key
 * pooling mirror the encoder's. In a pyramid model they are 1/16, 1/8 and
 * 1/4 of the input with the reduce ratios of encoder stages 3, 2 and 1. A
 * decoder block then costs what the encoder block on the same grid costs:
 * one (nodes x keys) distance product per image, which the kNN builder
 * computes in blocks of rows. An isotropic model gets one graph stage at
 * 1/8 whose keys are pooled by 2 (vig.c sets this up). NOTE: the stages
 * after them mirror the encoder's convolutional stem and have no graph.
 * Unpooled, a graph there would need (H W)^2 distances per image: 16.8
 * million at 1/2 of a 128 x 128 input, and 16 times more at 256 x 256.
 * These stages use a 3x3 convolution after the resize, because with a 1x1
 * one they would only interpolate. NOTE: no PyTorch reference of this
 * decoder exists, so only finite differences and training on real images
 * check it. */
#include <stdio.h>

#include "blocks.h"
#include "graph_decoder.h"

#define DECODER_MIN_CONV_WIDTH 16 /* minimum channels of a convolutional stage, as in the deconv decoder */

int vig_graph_block(ae_net *net, advgnn_ctx *ctx, const char *name, const char *label, int k, int dilation,
                    int ratio, int relative_pos, int *node)
{
    const int64_t *s = ae_shape(net, *node);
    float *bias = NULL;
    char full[96];
    int keys, rc;

    if (s[2] % ratio || s[3] % ratio)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "vig: %s: grid %d x %d is not divisible by reduce ratio %d", label,
                            (int)s[2], (int)s[3], ratio);
    keys = (int)(s[2] / ratio * (s[3] / ratio));
    if (k * dilation > keys) {
        /* Finds the smallest square grid with enough keys, and the image side
         * that gives it at this block's scale. */
        int side = 1, scale = (int)(net->input_shape[2] / s[2]);

        while ((side / ratio) * (side / ratio) < k * dilation || side % ratio)
            side++;
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "vig: %s needs %d x %d neighbours, but its %d x %d grid gives %d keys (reduce ratio %d); "
                            "it needs a grid of at least %d x %d, so set image_size to at least %d, or lower 'k'",
                            label, k, dilation, (int)s[2], (int)s[3], keys, ratio, side, side, side * scale);
    }

    if (relative_pos) {
        bias = vig_relative_bias((int)s[1], (int)s[2], (int)s[3], ratio);
        if (!bias)
            return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "vig: out of memory for the relative-position term of %s",
                                label);
    }

    /* vig_grapher owns `bias` from here, also when it fails. */
    snprintf(full, sizeof(full), "%s.grapher", name);
    rc = vig_grapher(net, ctx, full, *node, k, dilation, ratio, bias, node);
    snprintf(full, sizeof(full), "%s.ffn", name);
    if (rc == ADVGNN_OK)
        rc = vig_ffn(net, ctx, full, *node, node);
    return rc;
}

/* Checks the spec against the input grid and returns the number of x2 stages
 * from the input grid to the output size in *doublings. */
static int check_spec(advgnn_ctx *ctx, const vig_decoder_spec *spec, const int64_t *in, int *doublings)
{
    int64_t h = in[2], w = in[3];

    if (spec->stage_count < 1 || spec->stage_count > VIG_DECODER_MAX_STAGES)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "vig: the graph decoder needs 1 to %d stages, got %d",
                            VIG_DECODER_MAX_STAGES, spec->stage_count);
    for (*doublings = 0; h < spec->out_height; (*doublings)++) {
        h *= 2;
        w *= 2;
    }
    if (h != spec->out_height || w != spec->out_width || *doublings < spec->stage_count)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "vig: the graph decoder cannot reach %d x %d from a %d x %d grid in %d or more doublings",
                            spec->out_height, spec->out_width, (int)in[2], (int)in[3], spec->stage_count);
    return ADVGNN_OK;
}

/* Returns the dilation limit: the keys of the smallest graph per neighbour of
 * the largest k, as the encoder bounds it by its last stage (ViG: 49 // 9
 * at 224 pixels). At least 1. */
static int dilation_limit(const vig_decoder_spec *spec, const int64_t *in)
{
    int64_t h = in[2], w = in[3], fewest = -1;
    int k_max = spec->k_growth ? 2 * spec->k : spec->k;

    for (int s = 0; s < spec->stage_count; s++) {
        const vig_decoder_stage *st = &spec->stages[s];
        int64_t keys;

        h *= 2;
        w *= 2;
        keys = (h / st->ratio) * (w / st->ratio);
        if (st->blocks > 0 && (fewest < 0 || keys < fewest))
            fewest = keys;
    }
    return fewest / k_max > 1 ? (int)(fewest / k_max) : 1;
}

/* Graph stage `s`: resize x2, 1x1 conv + BN to the stage width, blocks.
 * `first` is the decoder-wide index of its first block, `total` the count. */
static int graph_stage(ae_net *net, advgnn_ctx *ctx, const vig_decoder_spec *spec, int s, int first, int total,
                       int limit, int *node)
{
    const vig_decoder_stage *st = &spec->stages[s];
    const int64_t *shape = ae_shape(net, *node);
    char name[64], label[48];
    int rc;

    snprintf(name, sizeof(name), "decoder.%d.up", s);
    rc = ae_resize(net, ctx, name, *node, (int)shape[2] * 2, (int)shape[3] * 2, node);
    snprintf(name, sizeof(name), "decoder.%d.proj", s);
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, name, *node, st->width, 1, 1, 1, ADVGNN_ACTIVATION_INVALID, node);

    for (int b = 0; b < st->blocks && rc == ADVGNN_OK; b++) {
        int j = first + b;

        /* As the encoder: k = int(linspace(k, 2k, total)[j]) with growth,
         * dilation = min(j / 4 + 1, limit). */
        int k = spec->k_growth && total > 1 ? (int)(spec->k + (double)spec->k * j / (total - 1)) : spec->k;
        int dilation = j / 4 + 1 < limit ? j / 4 + 1 : limit;

        snprintf(name, sizeof(name), "decoder.%d.blocks.%d", s, b);
        snprintf(label, sizeof(label), "decoder block %d", j + 1);
        rc = vig_graph_block(net, ctx, name, label, k, dilation, st->ratio, spec->relative_pos, node);
    }
    return rc;
}

/* Convolutional stage `s`: resize x2, 3x3 conv + BN + ReLU to `width`. */
static int conv_stage(ae_net *net, advgnn_ctx *ctx, int s, int width, int *node)
{
    const int64_t *shape = ae_shape(net, *node);
    char name[64];
    int rc;

    snprintf(name, sizeof(name), "decoder.%d.up", s);
    rc = ae_resize(net, ctx, name, *node, (int)shape[2] * 2, (int)shape[3] * 2, node);
    snprintf(name, sizeof(name), "decoder.%d", s);
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, name, *node, width, 3, 1, 1, ADVGNN_ACTIVATION_RELU, node);
    return rc;
}

int vig_graph_decoder(ae_net *net, advgnn_ctx *ctx, const vig_decoder_spec *spec, int from, int *node)
{
    const int64_t *in = ae_shape(net, from);
    int doublings, limit, total = 0, first = 0, width, rc;

    rc = check_spec(ctx, spec, in, &doublings);
    if (rc != ADVGNN_OK)
        return rc;
    limit = dilation_limit(spec, in);
    for (int s = 0; s < spec->stage_count; s++)
        total += spec->stages[s].blocks;

    *node = from;
    for (int s = 0; s < spec->stage_count && rc == ADVGNN_OK; s++) {
        rc = graph_stage(net, ctx, spec, s, first, total, limit, node);
        first += spec->stages[s].blocks;
    }

    /* The widths halve from the last graph stage, as the deconv decoder's do. */
    width = spec->stages[spec->stage_count - 1].width;
    for (int s = spec->stage_count; s < doublings && rc == ADVGNN_OK; s++) {
        width = width / 2 > DECODER_MIN_CONV_WIDTH ? width / 2 : DECODER_MIN_CONV_WIDTH;
        rc = conv_stage(net, ctx, s, width, node);
    }

    if (rc == ADVGNN_OK)
        rc = ae_conv(net, ctx, "decoder.out", *node, 3, 3, 1, 1, node);
    if (rc == ADVGNN_OK && spec->tanh_output)
        rc = ae_act(net, ctx, "decoder.tanh", *node, ADVGNN_ACTIVATION_TANH, node);
    return rc;
}
