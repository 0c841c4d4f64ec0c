/* vig: a Vision GNN autoencoder (Han et al., "Vision GNN: An Image is Worth
 * Graph of Nodes", NeurIPS 2022) trained on normal images.
 *
 * Isotropic: a stem of stride-2 3x3 convolutions (BN, GELU) down to 1/16, a
 * learnable position embedding, then blocks of Grapher + FFN at one width,
 * with k growing linearly from k to 2k and dilation min(i / 4 + 1, limit).
 * Pyramid: a stem down to 1/4, a position embedding, four stages with a
 * stride-2 3x3 convolution + BN between them, k constant, keys average-pooled
 * by the stage's reduce ratio and a relative-position term on the distance.
 * Decoders: "deconv" is stride-2 4x4 transposed convolutions with BN and
 * ReLU up to the input size, then a 3x3 convolution to the three channels.
 * "graph" mirrors the encoder's graph stages with bilinear upsampling, a 1x1
 * convolution + BN and Grapher + FFN blocks (graph_decoder.c). The maps of the
 * chosen stages, resized to the finest of them, feed the memory bank. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <advgnn/plugin.h>

#include "ae.h"
#include "blocks.h"
#include "graph_decoder.h"

#define VIG_STAGES 4
#define VIG_MAX_BLOCKS 64

static const char *const preset_choices[] = {"small", "pvig_ti", "pvig_s", "vig_ti", "vig_s", "custom", NULL};
static const char *const variant_choices[] = {"pyramid", "isotropic", NULL};
static const char *const decoder_choices[] = {"deconv", "graph", NULL};
static const char *const output_choices[] = {"linear", "tanh", NULL};
static const double default_widths[] = {16, 32, 64, 128};
static const double default_blocks[] = {1, 1, 2, 1};
static const double default_ratios[] = {4, 2, 1, 1};
static const double default_stages[] = {2, 3};
static const double default_decoder_blocks[] = {1, 1, 1};

static const advgnn_option_spec vig_options[] = {
    {.name = "preset", .type = ADVGNN_OPT_ENUM,
     .help = "architecture: small (pyramid 16/32/64/128, blocks 1/1/2/1), pvig_ti, pvig_s, vig_ti, vig_s, or "
             "custom (variant, widths and blocks); set widths or blocks to override a preset",
     .def.string = "small", .choices = preset_choices},
    {.name = "variant", .type = ADVGNN_OPT_ENUM, .help = "custom preset: pyramid or isotropic",
     .def.string = "pyramid", .choices = variant_choices},
    {.name = "widths", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "channels per stage (4 for pyramid, 1 for isotropic); multiples of 4",
     .def.numbers = {default_widths, 4}, .min = 4, .max = 4096, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "blocks", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "Grapher + FFN blocks per stage (4 for pyramid, 1 for isotropic)", .def.numbers = {default_blocks, 4},
     .min = 1, .max = VIG_MAX_BLOCKS, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "k", .type = ADVGNN_OPT_INT, .help = "neighbours per node (isotropic: of the first block; the last has 2k)",
     .def.integer = 9, .min = 1, .max = 256, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "reduce_ratios", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "pyramid: average-pooling ratio of the keys per stage", .def.numbers = {default_ratios, 4}, .min = 1,
     .max = 64, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "relative_pos", .type = ADVGNN_OPT_BOOL,
     .help = "pyramid: add the relative-position term to the kNN distance", .def.boolean = 1},
    {.name = "pos_embed", .type = ADVGNN_OPT_BOOL, .help = "add a learnable position embedding after the stem",
     .def.boolean = 1},
    {.name = "feature_stages", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "1-based stages whose maps feed the memory bank (isotropic: quarters of the blocks)",
     .def.numbers = {default_stages, 2}, .min = 1, .max = VIG_STAGES,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "decoder", .type = ADVGNN_OPT_ENUM,
     .help = "decoder: deconv (transposed convolutions), or graph (bilinear upsampling, 1x1 conv + BN and Grapher + "
             "FFN blocks on the grids of the encoder's graph stages, then convolutions to the image size)",
     .def.string = "deconv", .choices = decoder_choices},
    {.name = "decoder_blocks", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "graph decoder: Grapher + FFN blocks per upsampling stage, coarsest first (pyramid: 3, on the 1/16, "
             "1/8 and 1/4 grids; isotropic: 1, on the 1/8 grid); 0 leaves a stage without graph",
     .def.numbers = {default_decoder_blocks, 3}, .min = 0, .max = VIG_MAX_BLOCKS,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "output", .type = ADVGNN_OPT_ENUM,
     .help = "last activation of the decoder: linear for ImageNet-normalized input, tanh for input in [-1, 1]",
     .def.string = "linear", .choices = output_choices},
    {.name = "init_weights", .type = ADVGNN_OPT_STRING,
     .help = "safetensors file with every weight of this network to start training from, for example ImageNet ViG "
             "weights converted by scripts/vig_reference.py convert; unlike 'weights', training still runs",
     .def.string = NULL},
    AE_TRAIN_OPTION_SPECS,
    {0}};

/* The architecture after presets and overrides. */
typedef struct vig_arch {
    int pyramid;
    int stages;                 /* 4, or 1 for isotropic */
    int widths[VIG_STAGES];
    int blocks[VIG_STAGES];
    int ratios[VIG_STAGES];
    int k;
    int relative_pos, pos_embed, tanh_output;
    int graph_decoder;
    int decoder_blocks[VIG_DECODER_MAX_STAGES]; /* graph decoder, coarsest stage first */
    int feature_stages[AE_MAX_FEATURES];
    int feature_count;
} vig_arch;

static void copy_ints(int *dst, const advgnn_number_list *list, int max)
{
    for (int i = 0; i < max && (size_t)i < list->count; i++)
        dst[i] = (int)list->values[i];
}

/* Reads 'decoder' and 'decoder_blocks' into `a` (stages already resolved). */
static int resolve_decoder(advgnn_ctx *ctx, const advgnn_options *opts, vig_arch *a)
{
    advgnn_number_list blocks = advgnn_options_numbers(opts, "decoder_blocks");
    int stages = a->pyramid ? VIG_DECODER_MAX_STAGES : 1;

    a->graph_decoder = strcmp(advgnn_options_string(opts, "decoder"), "graph") == 0;
    if (!a->graph_decoder && advgnn_options_is_set(opts, "decoder_blocks"))
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "vig: option 'decoder_blocks' applies to decoder = \"graph\" only; set 'decoder' to "
                            "\"graph\" or remove 'decoder_blocks'");

    /* Unset, every stage gets one block. Set, it needs one entry per stage. */
    for (int s = 0; s < VIG_DECODER_MAX_STAGES; s++)
        a->decoder_blocks[s] = 1;
    if (advgnn_options_is_set(opts, "decoder_blocks")) {
        if (blocks.count != (size_t)stages)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "vig: option 'decoder_blocks' needs one entry per graph-decoder stage, %d for this %s "
                                "model, got %zu",
                                stages, a->pyramid ? "pyramid" : "isotropic", blocks.count);
        copy_ints(a->decoder_blocks, &blocks, stages);
    }
    return ADVGNN_OK;
}

static int resolve_arch(advgnn_ctx *ctx, const advgnn_options *opts, vig_arch *a)
{
    static const struct {
        const char *name;
        int pyramid, widths[4], blocks[4];
    } presets[] = {
        {"small", 1, {16, 32, 64, 128}, {1, 1, 2, 1}},     {"pvig_ti", 1, {48, 96, 240, 384}, {2, 2, 6, 2}},
        {"pvig_s", 1, {80, 160, 400, 640}, {2, 2, 6, 2}}, {"vig_ti", 0, {192}, {12}},
        {"vig_s", 0, {320}, {16}},
    };
    const char *preset = advgnn_options_string(opts, "preset");
    advgnn_number_list widths = advgnn_options_numbers(opts, "widths"), blocks = advgnn_options_numbers(opts, "blocks");
    advgnn_number_list ratios = advgnn_options_numbers(opts, "reduce_ratios");
    advgnn_number_list stages = advgnn_options_numbers(opts, "feature_stages");

    memset(a, 0, sizeof(*a));
    a->pyramid = strcmp(advgnn_options_string(opts, "variant"), "pyramid") == 0;
    for (size_t p = 0; p < sizeof(presets) / sizeof(presets[0]); p++)
        if (strcmp(preset, presets[p].name) == 0) {
            /* A preset fixes the variant, so a different one set beside it
             * would be recorded but not built. */
            if (advgnn_options_is_set(opts, "variant") && presets[p].pyramid != a->pyramid)
                return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                    "vig: option 'variant' is %s, but preset '%s' is a %s model; set preset = "
                                    "\"custom\" with 'widths' and 'blocks', pick %s preset (%s), or remove "
                                    "'variant'",
                                    advgnn_options_string(opts, "variant"), preset,
                                    presets[p].pyramid ? "pyramid" : "isotropic",
                                    a->pyramid ? "a pyramid" : "an isotropic",
                                    a->pyramid ? "small, pvig_ti, pvig_s" : "vig_ti, vig_s");
            a->pyramid = presets[p].pyramid;
            memcpy(a->widths, presets[p].widths, sizeof(a->widths));
            memcpy(a->blocks, presets[p].blocks, sizeof(a->blocks));
        }
    a->stages = a->pyramid ? VIG_STAGES : 1;
    if (strcmp(preset, "custom") == 0 || advgnn_options_is_set(opts, "widths")) {
        if (widths.count != (size_t)a->stages)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "vig: option 'widths' needs %d %s for %s model, got %zu",
                                a->stages, a->stages == 1 ? "entry" : "entries",
                                a->pyramid ? "a pyramid" : "an isotropic", widths.count);
        copy_ints(a->widths, &widths, a->stages);
    }
    if (strcmp(preset, "custom") == 0 || advgnn_options_is_set(opts, "blocks")) {
        if (blocks.count != (size_t)a->stages)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "vig: option 'blocks' needs %d %s for %s model, got %zu",
                                a->stages, a->stages == 1 ? "entry" : "entries",
                                a->pyramid ? "a pyramid" : "an isotropic", blocks.count);
        copy_ints(a->blocks, &blocks, a->stages);
    }
    for (int s = 0; s < a->stages; s++)
        if (a->widths[s] % 4)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "vig: option 'widths': width %d of stage %d is not a multiple of 4; set 'widths' to "
                                "multiples of 4",
                                a->widths[s], s + 1);
    if (ratios.count != VIG_STAGES)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "vig: option 'reduce_ratios' needs 4 entries, got %zu",
                            ratios.count);
    copy_ints(a->ratios, &ratios, VIG_STAGES);
    a->k = (int)advgnn_options_int(opts, "k");
    a->relative_pos = a->pyramid && advgnn_options_bool(opts, "relative_pos");
    a->pos_embed = advgnn_options_bool(opts, "pos_embed");
    a->tanh_output = strcmp(advgnn_options_string(opts, "output"), "tanh") == 0;
    if (stages.count < 1 || stages.count > AE_MAX_FEATURES)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "vig: option 'feature_stages' needs 1 to %d entries",
                            AE_MAX_FEATURES);
    a->feature_count = (int)stages.count;
    copy_ints(a->feature_stages, &stages, AE_MAX_FEATURES);
    for (int f = 0; f < a->feature_count; f++)
        for (int g = 0; g < f; g++)
            if (a->feature_stages[f] == a->feature_stages[g])
                return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                    "vig: option 'feature_stages' lists stage %d twice; list each stage once",
                                    a->feature_stages[f]);
    return resolve_decoder(ctx, opts, a);
}

/* ---- building ------------------------------------------------------------- */

/* Pyramid stem: conv s2 to C/2, BN, GELU; conv s2 to C, BN, GELU; conv s1, BN. */
static int pyramid_stem(ae_net *net, advgnn_ctx *ctx, int width, int *node)
{
    int rc = ae_conv_bn(net, ctx, "stem.0", AE_INPUT, width / 2, 3, 2, 1, ADVGNN_ACTIVATION_GELU, node);

    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, "stem.1", *node, width, 3, 2, 1, ADVGNN_ACTIVATION_GELU, node);
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, "stem.2", *node, width, 3, 1, 1, ADVGNN_ACTIVATION_INVALID, node);
    return rc;
}

/* Isotropic stem: four stride-2 convs to C/8, C/4, C/2, C with BN and GELU, then conv s1 + BN. */
static int isotropic_stem(ae_net *net, advgnn_ctx *ctx, int width, int *node)
{
    int rc = ADVGNN_OK, channels[4] = {width / 8, width / 4, width / 2, width};
    char name[32];

    *node = AE_INPUT;
    for (int i = 0; i < 4 && rc == ADVGNN_OK; i++) {
        snprintf(name, sizeof(name), "stem.%d", i);
        rc = ae_conv_bn(net, ctx, name, *node, channels[i] > 0 ? channels[i] : 1, 3, 2, 1, ADVGNN_ACTIVATION_GELU,
                        node);
    }
    if (rc == ADVGNN_OK)
        rc = ae_conv_bn(net, ctx, "stem.4", *node, width, 3, 1, 1, ADVGNN_ACTIVATION_INVALID, node);
    return rc;
}

/* Adds block `index` (global) at node *node: Grapher + FFN. */
static int add_block(ae_net *net, advgnn_ctx *ctx, const vig_arch *a, int stage, int index, int k, int dilation,
                     int *node)
{
    char name[32], label[48];

    snprintf(name, sizeof(name), "blocks.%d", index);
    snprintf(label, sizeof(label), "block %d of stage %d", index + 1, stage + 1);
    return vig_graph_block(net, ctx, name, label, k, dilation, a->pyramid ? a->ratios[stage] : 1, a->relative_pos,
                           node);
}

/* The graph decoder's stages mirror the encoder's graph stages. A pyramid
 * gets stages 3, 2 and 1 (1/16, 1/8, 1/4) with their widths and reduce
 * ratios. An isotropic model gets one stage at 1/8 with half the width and
 * keys pooled by 2, as many keys as the encoder's 1/16 grid has nodes. */
static int graph_decoder(ae_net *net, advgnn_ctx *ctx, const vig_arch *a, int from)
{
    vig_decoder_spec spec = {.k = a->k, .k_growth = !a->pyramid, .relative_pos = a->relative_pos,
                             .out_height = (int)net->input_shape[2], .out_width = (int)net->input_shape[3],
                             .tanh_output = a->tanh_output};

    if (a->pyramid) {
        spec.stage_count = VIG_DECODER_MAX_STAGES;
        for (int s = 0; s < VIG_DECODER_MAX_STAGES; s++) {
            int mirror = VIG_DECODER_MAX_STAGES - 1 - s;

            spec.stages[s] = (vig_decoder_stage){.width = a->widths[mirror], .blocks = a->decoder_blocks[s],
                                                 .ratio = a->ratios[mirror]};
        }
    } else {
        spec.stage_count = 1;
        spec.stages[0] = (vig_decoder_stage){.width = a->widths[0] / 2, .blocks = a->decoder_blocks[0], .ratio = 2};
    }
    return vig_graph_decoder(net, ctx, &spec, from, &net->output);
}

/* Decoder: the graph decoder, or transposed convs (BN, ReLU) halving the width
 * down to 16 until the input size, then a 3x3 conv to three channels. */
static int decoder(ae_net *net, advgnn_ctx *ctx, const vig_arch *a, int node)
{
    int width = (int)ae_shape(net, node)[1], rc = ADVGNN_OK, up = 0;
    char name[64];

    if (a->graph_decoder)
        return graph_decoder(net, ctx, a, node);
    while (rc == ADVGNN_OK && ae_shape(net, node)[2] < net->input_shape[2]) {
        width = width / 2 > 16 ? width / 2 : 16;
        snprintf(name, sizeof(name), "decoder.%d.up", up);
        rc = ae_deconv(net, ctx, name, node, width, &node);
        snprintf(name, sizeof(name), "decoder.%d.bn", up);
        if (rc == ADVGNN_OK)
            rc = ae_bn(net, ctx, name, node, &node);
        snprintf(name, sizeof(name), "decoder.%d.act", up);
        if (rc == ADVGNN_OK)
            rc = ae_act(net, ctx, name, node, ADVGNN_ACTIVATION_RELU, &node);
        up++;
    }
    if (rc == ADVGNN_OK)
        rc = ae_conv(net, ctx, "decoder.out", node, 3, 3, 1, 1, &node);
    if (rc == ADVGNN_OK && a->tanh_output)
        rc = ae_act(net, ctx, "decoder.tanh", node, ADVGNN_ACTIVATION_TANH, &node);
    net->output = node;
    return rc;
}

static int build_pyramid(ae_net *net, advgnn_ctx *ctx, const vig_arch *a, int *stage_node)
{
    int node, rc = pyramid_stem(net, ctx, a->widths[0], &node), index = 0, limit;
    const int64_t *in = net->input_shape;
    char name[64];

    /* Dilation limit: keys of the last stage per neighbour (ViG: 49 // 9 at 224). */
    limit = (int)((in[2] / 32) * (in[3] / 32) / (a->ratios[3] * a->ratios[3]) / a->k);
    limit = limit > 1 ? limit : 1;
    if (rc == ADVGNN_OK && a->pos_embed)
        rc = ae_pos_embed(net, ctx, "pos_embed", node, &node);
    for (int s = 0; s < VIG_STAGES && rc == ADVGNN_OK; s++) {
        if (s > 0) {
            snprintf(name, sizeof(name), "downsample.%d", s);
            rc = ae_conv_bn(net, ctx, name, node, a->widths[s], 3, 2, 1, ADVGNN_ACTIVATION_INVALID, &node);
        }
        for (int b = 0; b < a->blocks[s] && rc == ADVGNN_OK; b++, index++) {
            int dilation = index / 4 + 1 < limit ? index / 4 + 1 : limit;

            rc = add_block(net, ctx, a, s, index, a->k, dilation, &node);
        }
        stage_node[s] = node;
    }
    return rc;
}

static int build_isotropic(ae_net *net, advgnn_ctx *ctx, const vig_arch *a, int *stage_node)
{
    int node, rc = isotropic_stem(net, ctx, a->widths[0], &node), n = a->blocks[0], limit;
    const int64_t *in = net->input_shape;

    /* Dilation limit: nodes per neighbour of the last block (ViG: 196 // 18 at 224). */
    limit = (int)((in[2] / 16) * (in[3] / 16) / (2 * a->k));
    limit = limit > 1 ? limit : 1;
    if (rc == ADVGNN_OK && a->pos_embed)
        rc = ae_pos_embed(net, ctx, "pos_embed", node, &node);
    for (int i = 0; i < n && rc == ADVGNN_OK; i++) {
        /* k = int(linspace(k, 2k, n)[i]), dilation = min(i / 4 + 1, limit). */
        int k = n > 1 ? (int)(a->k + (double)a->k * i / (n - 1)) : a->k;
        int dilation = i / 4 + 1 < limit ? i / 4 + 1 : limit;

        rc = add_block(net, ctx, a, 0, i, k, dilation, &node);

        /* Stage q (1..4) ends after block ceil(q * n / 4). */
        for (int q = 0; q < VIG_STAGES; q++)
            if (i + 1 == (int)ceil((q + 1) * n / 4.0) || (q == VIG_STAGES - 1 && i == n - 1))
                stage_node[q] = node;
    }
    return rc;
}

/* Returns how many image pixels one node of graph stage `s` spans along a side. */
static int stage_scale(const vig_arch *a, int s)
{
    return a->pyramid ? 4 << s : 16;
}

/* Returns the smallest square image side, a multiple of `divisor`, at which
 * every graph stage of `a` has as many keys as its largest k. Dilation is 1
 * at that size, because the dilation limit grows with the size. Sets *stage
 * to the first stage with too few keys at height x width, or -1, and *keys
 * and *needed to its key count and its k. */
static int min_image_side(const vig_arch *a, int height, int width, int divisor, int *stage, int *keys, int *needed)
{
    int side = divisor;

    *stage = -1;
    for (int s = 0; s < a->stages; s++) {
        /* Image pixels per key along a side: the stage's scale times its reduce ratio. */
        int cell = stage_scale(a, s) * (a->pyramid ? a->ratios[s] : 1);
        int k = !a->pyramid && a->blocks[0] > 1 ? 2 * a->k : a->k, n = 1;

        if (a->blocks[s] == 0)
            continue;
        while (n * n < k)
            n++;
        side = cell * n > side ? cell * n : side;
        if (*stage < 0 && (height / cell) * (width / cell) < k) {
            *stage = s;
            *keys = (height / cell) * (width / cell);
            *needed = k;
        }
    }
    return (side + divisor - 1) / divisor * divisor;
}

/* Checks what the input size must meet: divisibility by the stages' scale,
 * enough keys in every stage, reduce ratios that divide their stage's grid,
 * and a feature_pool no wider than the feature grid. */
static int check_size(advgnn_ctx *ctx, const vig_arch *a, int height, int width, int feature_pool)
{
    int divisor = a->pyramid ? 32 : 16, side, stage, keys = 0, needed = 0, first = VIG_STAGES;

    /* The input size is the experiment's crop when it has one, so the
     * messages name crop beside image_size. */
    if (height % divisor || width % divisor)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "vig: %s model needs an image size divisible by %d, got %d x %d; set image_size, or "
                            "crop when the experiment sets one, to a multiple of %d such as %d",
                            a->pyramid ? "a pyramid" : "an isotropic", divisor, height, width, divisor,
                            (height + divisor - 1) / divisor * divisor);
    side = min_image_side(a, height, width, divisor, &stage, &keys, &needed);
    if (stage >= 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "vig: image size %d x %d is too small: stage %d gives %d keys per image where a block "
                            "needs k = %d; set image_size to at least %d, or lower 'k' (with a crop, set crop to "
                            "at least %d)",
                            height, width, stage + 1, keys, needed, side, side);
    for (int s = 0; a->pyramid && s < VIG_STAGES; s++) {
        int gh = height / stage_scale(a, s), gw = width / stage_scale(a, s);

        if (a->blocks[s] > 0 && (gh % a->ratios[s] || gw % a->ratios[s]))
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "vig: option 'reduce_ratios': ratio %d of stage %d does not divide its %d x %d grid at "
                                "image size %d x %d; set it to a divisor of %d and %d (4, 2, 1, 1 by default), or "
                                "change image_size",
                                a->ratios[s], s + 1, gh, gw, height, width, gh, gw);
    }

    /* The features share the grid of the earliest feature stage. */
    for (int f = 0; f < a->feature_count; f++)
        first = a->feature_stages[f] - 1 < first ? a->feature_stages[f] - 1 : first;
    if (first < VIG_STAGES) {
        int gh = height / stage_scale(a, first), gw = width / stage_scale(a, first);
        int widest = gh < gw ? gh : gw;

        if (feature_pool > widest)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "vig: option 'feature_pool' is %d, wider than the %d x %d feature grid at image size "
                                "%d x %d, so every feature would average most of the grid; set feature_pool to at "
                                "most %d, or raise image_size",
                                feature_pool, gh, gw, height, width, widest % 2 ? widest : widest - 1);
    }
    return ADVGNN_OK;
}

static int build(ae_encoder *enc, advgnn_ctx *ctx, const vig_arch *a)
{
    int stage_node[VIG_STAGES] = {-1, -1, -1, -1};
    int rc = check_size(ctx, a, enc->height, enc->width, enc->net.feature_pool);

    if (rc != ADVGNN_OK)
        return rc;
    rc = a->pyramid ? build_pyramid(&enc->net, ctx, a, stage_node) : build_isotropic(&enc->net, ctx, a, stage_node);
    if (rc == ADVGNN_OK)
        rc = decoder(&enc->net, ctx, a, stage_node[VIG_STAGES - 1]);
    for (int f = 0; f < a->feature_count && rc == ADVGNN_OK; f++) {
        int s = a->feature_stages[f] - 1;

        if (stage_node[s] < 0)
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "vig: feature stage %d has no blocks", s + 1);
        enc->net.features[enc->net.feature_count++] = stage_node[s];
    }
    return rc;
}

/* ---- the plugin ----------------------------------------------------------- */

static void vig_destroy(void *state)
{
    ae_encoder_free(state);
    advgnn_free(state);
}

/* Loads 'init_weights' over the seeded initialization; training then starts
 * from them. */
static int load_init_weights(ae_encoder *enc, advgnn_ctx *ctx, const advgnn_options *opts)
{
    const char *path = advgnn_options_string(opts, "init_weights");

    if (!path || !*path)
        return ADVGNN_OK;
    if (enc->weights)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "vig: options 'weights' and 'init_weights' are both set; use 'weights' to skip training "
                            "or 'init_weights' to train from %s",
                            path);
    return ae_encoder_load_weights(enc, ctx, "init_weights", path);
}

/* Runs the checks of vig_create, those of the input size only with a config. */
static int vig_check_options(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config)
{
    vig_arch arch;
    int rc = resolve_arch(ctx, opts, &arch);

    if (rc == ADVGNN_OK)
        rc = ae_check_options(ctx, opts, "vig");
    if (rc == ADVGNN_OK && config)
        rc = check_size(ctx, &arch, config->image_height, config->image_width,
                        (int)advgnn_options_int(opts, "feature_pool"));
    return rc;
}

static int vig_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config, void **out)
{
    ae_encoder *enc;
    vig_arch arch;
    int rc;

    *out = NULL;
    rc = resolve_arch(ctx, opts, &arch);
    if (rc != ADVGNN_OK)
        return rc;
    enc = advgnn_calloc(1, sizeof(*enc));
    if (!enc)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "vig: out of memory");
    rc = ae_encoder_configure(enc, ctx, opts, config, "vig");
    if (rc == ADVGNN_OK)
        rc = ae_encoder_new_net(enc, ctx, opts, config);
    if (rc == ADVGNN_OK)
        rc = build(enc, ctx, &arch);
    if (rc == ADVGNN_OK)
        rc = ae_net_finish(&enc->net, ctx, enc->seed);
    if (rc == ADVGNN_OK)
        rc = ae_encoder_start(enc, ctx);
    if (rc == ADVGNN_OK)
        rc = load_init_weights(enc, ctx, opts);
    if (rc != ADVGNN_OK) {
        vig_destroy(enc);
        return rc;
    }
    advgnn_log(ctx, ADVGNN_LOG_INFO, "vig: %s model, %zu parameter tensors, %d layers",
               arch.pyramid ? "pyramid" : "isotropic", advgnn_nn_param_count(enc->net.nn), enc->net.count);
    *out = enc;
    return ADVGNN_OK;
}

static const advgnn_encoder_functions vig_functions = {
    .struct_size = sizeof(advgnn_encoder_functions),
    .flags = ADVGNN_ENCODER_RECONSTRUCTS,
    .create = vig_create,
    .destroy = vig_destroy,
    .feature_shape = ae_encoder_feature_shape,
    .encode = ae_encoder_encode,
    .train = ae_encoder_train,
    .save = ae_encoder_save,
    .load = ae_encoder_load,
    .check_options = vig_check_options,
};

static const advgnn_plugin_descriptor vig_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_ENCODER,
    .name = "vig",
    .version = "0.1.0",
    .description = "Vision GNN autoencoder (pyramid or isotropic) trained on normal images; stage maps feed the "
                   "memory bank",
    .options = vig_options,
    .functions = &vig_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &vig_descriptor;
}
