/* cnn_ae: a plain convolutional autoencoder, the baseline of the ViG
 * autoencoder. Encoder: per stage a 3x3 convolution of stride 2, batch norm
 * and ReLU. Decoder: per stage a 4x4 transposed convolution of stride 2,
 * batch norm and ReLU, then a 3x3 convolution to the three input channels
 * (tanh optional). Trained on normal images with MSE + lambda * (1 - SSIM);
 * the maps of chosen encoder stages feed the memory bank. */
#include <stdio.h>
#include <string.h>

#include <advgnn/plugin.h>

#include "ae.h"

#define CNN_AE_MAX_DEPTH 6

static const double default_widths[] = {32, 64, 128, 128};
static const double default_stages[] = {3, 4};
static const char *const output_choices[] = {"linear", "tanh", NULL};

static const advgnn_option_spec cnn_ae_options[] = {
    {.name = "widths", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "channels of each encoder stage; their count is the depth (each stage halves the size)",
     .def.numbers = {default_widths, 4}, .min = 1, .max = 4096, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "feature_stages", .type = ADVGNN_OPT_NUMBER_LIST,
     .help = "1-based encoder stages whose maps, resized to the finest of them and concatenated, feed the memory bank",
     .def.numbers = {default_stages, 2}, .min = 1, .max = CNN_AE_MAX_DEPTH,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "output", .type = ADVGNN_OPT_ENUM,
     .help = "last activation of the decoder: linear for ImageNet-normalized input, tanh for input in [-1, 1]",
     .def.string = "linear", .choices = output_choices},
    AE_TRAIN_OPTION_SPECS,
    {0}};

/* Builds encoder, decoder and feature taps for input (batch, 3, H, W). */
static int build(ae_encoder *enc, advgnn_ctx *ctx, const advgnn_number_list *widths,
                 const advgnn_number_list *stages, int tanh_output)
{
    ae_net *net = &enc->net;
    int node = AE_INPUT, stage_node[CNN_AE_MAX_DEPTH], depth = (int)widths->count, rc = ADVGNN_OK;
    char name[64];

    for (int i = 0; i < depth && rc == ADVGNN_OK; i++) {
        snprintf(name, sizeof(name), "enc.%d", i + 1);
        rc = ae_conv_bn(net, ctx, name, node, (int)widths->values[i], 3, 2, 1, ADVGNN_ACTIVATION_RELU, &node);
        stage_node[i] = node;
    }
    for (int i = depth - 1; i >= 0 && rc == ADVGNN_OK; i--) {
        int out = (int)widths->values[i > 0 ? i - 1 : 0];

        snprintf(name, sizeof(name), "dec.%d.up", depth - i);
        rc = ae_deconv(net, ctx, name, node, out, &node);
        snprintf(name, sizeof(name), "dec.%d.bn", depth - i);
        if (rc == ADVGNN_OK)
            rc = ae_bn(net, ctx, name, node, &node);
        snprintf(name, sizeof(name), "dec.%d.act", depth - i);
        if (rc == ADVGNN_OK)
            rc = ae_act(net, ctx, name, node, ADVGNN_ACTIVATION_RELU, &node);
    }
    if (rc == ADVGNN_OK)
        rc = ae_conv(net, ctx, "dec.out", node, 3, 3, 1, 1, &node);
    if (rc == ADVGNN_OK && tanh_output)
        rc = ae_act(net, ctx, "dec.tanh", node, ADVGNN_ACTIVATION_TANH, &node);
    net->output = node;
    for (size_t s = 0; s < stages->count && rc == ADVGNN_OK; s++)
        net->features[net->feature_count++] = stage_node[(int)stages->values[s] - 1];
    return rc;
}

/* Checks 'widths' and 'feature_stages', which do not depend on the input size. */
static int check_layout(advgnn_ctx *ctx, const advgnn_number_list *widths, const advgnn_number_list *stages)
{
    int depth = (int)widths->count;

    if (depth < 1 || depth > CNN_AE_MAX_DEPTH)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "cnn_ae: option 'widths' has %d entries; give 1 to %d", depth,
                            CNN_AE_MAX_DEPTH);
    if (stages->count < 1 || stages->count > AE_MAX_FEATURES)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION, "cnn_ae: option 'feature_stages' needs 1 to %d entries",
                            AE_MAX_FEATURES);
    for (size_t s = 0; s < stages->count; s++) {
        if ((int)stages->values[s] > depth || stages->values[s] != (int)stages->values[s])
            return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                "cnn_ae: option 'feature_stages' names stage %g; stages are 1 to %d", stages->values[s],
                                depth);
        for (size_t t = 0; t < s; t++)
            if (stages->values[t] == stages->values[s])
                return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                                    "cnn_ae: option 'feature_stages' lists stage %g twice; list each stage once",
                                    stages->values[s]);
    }
    return ADVGNN_OK;
}

static int check_options(advgnn_ctx *ctx, const advgnn_number_list *widths, const advgnn_number_list *stages,
                         const advgnn_encoder_config *config)
{
    int depth = (int)widths->count, divisor = 1 << depth, rc = check_layout(ctx, widths, stages);

    if (rc == ADVGNN_OK && (config->image_height % divisor || config->image_width % divisor))
        rc = advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                          "cnn_ae: %d stages need an image size divisible by %d, got %d x %d; change image_size or "
                          "'widths'",
                          depth, divisor, config->image_height, config->image_width);
    return rc;
}

/* Runs the checks of cnn_ae_create, those of the input size only with a config. */
static int cnn_ae_check_options(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config)
{
    advgnn_number_list widths = advgnn_options_numbers(opts, "widths");
    advgnn_number_list stages = advgnn_options_numbers(opts, "feature_stages");
    int rc = config ? check_options(ctx, &widths, &stages, config) : check_layout(ctx, &widths, &stages);

    return rc == ADVGNN_OK ? ae_check_options(ctx, opts, "cnn_ae") : rc;
}

static void cnn_ae_destroy(void *state)
{
    ae_encoder_free(state);
    advgnn_free(state);
}

static int cnn_ae_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config,
                         void **out)
{
    advgnn_number_list widths = advgnn_options_numbers(opts, "widths");
    advgnn_number_list stages = advgnn_options_numbers(opts, "feature_stages");
    ae_encoder *enc;
    int rc;

    *out = NULL;
    rc = check_options(ctx, &widths, &stages, config);
    if (rc != ADVGNN_OK)
        return rc;
    enc = advgnn_calloc(1, sizeof(*enc));
    if (!enc)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "cnn_ae: out of memory");
    rc = ae_encoder_configure(enc, ctx, opts, config, "cnn_ae");
    if (rc == ADVGNN_OK)
        rc = ae_encoder_new_net(enc, ctx, opts, config);
    if (rc == ADVGNN_OK)
        rc = build(enc, ctx, &widths, &stages, strcmp(advgnn_options_string(opts, "output"), "tanh") == 0);
    if (rc == ADVGNN_OK)
        rc = ae_net_finish(&enc->net, ctx, enc->seed);
    if (rc == ADVGNN_OK)
        rc = ae_encoder_start(enc, ctx);
    if (rc != ADVGNN_OK) {
        cnn_ae_destroy(enc);
        return rc;
    }
    *out = enc;
    return ADVGNN_OK;
}

static const advgnn_encoder_functions cnn_ae_functions = {
    .struct_size = sizeof(advgnn_encoder_functions),
    .flags = ADVGNN_ENCODER_RECONSTRUCTS,
    .create = cnn_ae_create,
    .destroy = cnn_ae_destroy,
    .feature_shape = ae_encoder_feature_shape,
    .encode = ae_encoder_encode,
    .train = ae_encoder_train,
    .save = ae_encoder_save,
    .load = ae_encoder_load,
    .check_options = cnn_ae_check_options,
};

static const advgnn_plugin_descriptor cnn_ae_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_ENCODER,
    .name = "cnn_ae",
    .version = "0.1.0",
    .description = "baseline convolutional autoencoder trained on normal images; encoder maps feed the memory bank",
    .options = cnn_ae_options,
    .functions = &cnn_ae_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &cnn_ae_descriptor;
}
