/* Messages of the trainable encoders (cnn_ae, vig) for options that conflict
 * or do nothing, and for weights files written for other options, loaded
 * from the built plugins as the core loads them. Also the hint of the image
 * decoders' pixel limit. Weights and checkpoints are written at test time by
 * the plugins themselves; the training images are seeded noise. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "advgnn/image.h"
#include "advgnn/nn.h"
#include "advgnn/rng.h"
#include "ae.h"
#include "check.h"
#include "plugin_harness.h"
#include "run_helpers.h"
#include "util/fsutil.h"

#define IMAGE_COUNT 8 /* training images of the resume check */

static advgnn_ctx *ctx;
static char *temp_dir;

/* ---- log capture ---------------------------------------------------------- */

/* The warnings logged since the last clear_warnings, newline-separated. */
static char warnings[8192];

static void capture_warnings(void *user, advgnn_log_level level, const char *line)
{
    size_t used = strlen(warnings);

    (void)user;
    if (level <= ADVGNN_LOG_WARN)
        snprintf(warnings + used, sizeof(warnings) - used, "%s\n", line);
}

static void clear_warnings(void)
{
    warnings[0] = '\0';
}

/* ---- helpers -------------------------------------------------------------- */

static void set_numbers(advgnn_options *opts, const char *name, const double *values, size_t count)
{
    advgnn_value v = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = values, .count = count};

    CHECK_INT_EQ(advgnn_options_set(opts, ctx, name, &v), ADVGNN_OK);
}

/* check_options must reject `opts` (at `config`'s size, or without one) with
 * a message that contains `text`. */
static void expect_rejected(const advgnn_encoder_functions *fn, const advgnn_options *opts,
                            const advgnn_encoder_config *config, const char *text)
{
    CHECK_INT_EQ(fn->check_options(ctx, opts, config), ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), text);
    advgnn_ctx_clear_error(ctx);
}

static char *temp_path(const char *name)
{
    char *path = advgnn_fs_join(temp_dir, name);

    CHECK(path != NULL);
    return path;
}

/* A tiny vig pyramid: widths 8/16/24/32, one block per stage, k = 3. */
static advgnn_options *tiny_vig(const advgnn_plugin_descriptor *desc, const char *decoder)
{
    static const double widths[] = {8, 16, 24, 32}, blocks[] = {1, 1, 1, 1};
    advgnn_options *opts = harness_options(ctx, desc);

    CHECK_INT_EQ(harness_set_string(opts, ctx, "preset", "custom"), ADVGNN_OK);
    set_numbers(opts, "widths", widths, 4);
    set_numbers(opts, "blocks", blocks, 4);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "k", 3), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 2), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_string(opts, ctx, "decoder", decoder), ADVGNN_OK);
    return opts;
}

/* A tiny cnn_ae of two stages with `first` and `second` channels. */
static advgnn_options *tiny_cnn_ae(const advgnn_plugin_descriptor *desc, double first, double second)
{
    const double widths[] = {first, second}, stages[] = {1, 2};
    advgnn_options *opts = harness_options(ctx, desc);

    set_numbers(opts, "widths", widths, 2);
    set_numbers(opts, "feature_stages", stages, 2);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 4), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "warmup_epochs", 0), ADVGNN_OK);
    return opts;
}

static advgnn_encoder_config image_config(int side, const char *work_dir)
{
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = side, .image_width = side,
                                    .channels = 3, .seed = 3, .work_dir = work_dir};

    return config;
}

/* Creates an encoder from `opts` and saves its seeded weights to `path`. */
static void save_weights(const advgnn_plugin_descriptor *desc, advgnn_options *opts, int side, const char *path)
{
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = image_config(side, NULL);
    void *state = NULL;

    CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), ADVGNN_OK);
    if (state) {
        CHECK_INT_EQ(fn->save(state, ctx, path), ADVGNN_OK);
        fn->destroy(state);
    }
}

/* Creates an encoder that must fail with `status`; returns the message. */
static const char *create_error(const advgnn_plugin_descriptor *desc, advgnn_options *opts, int side, int status)
{
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = image_config(side, NULL);
    void *state = NULL;

    advgnn_ctx_clear_error(ctx);
    CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), status);
    if (state)
        fn->destroy(state);
    return advgnn_ctx_error(ctx);
}

/* ---- weights with resume -------------------------------------------------- */

/* 'weights' skips training, so 'resume' beside it is an option error naming
 * both, even when both files exist and are valid. */
static void check_weights_with_resume(const advgnn_plugin_descriptor *desc, advgnn_options *opts, int side)
{
    char *weights = temp_path("weights_with_resume.safetensors");
    const char *message;

    save_weights(desc, opts, side, weights);
    CHECK_INT_EQ(harness_set_string(opts, ctx, "weights", weights), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_string(opts, ctx, "resume", temp_dir), ADVGNN_OK);
    message = create_error(desc, opts, side, ADVGNN_ERR_OPTION);
    CHECK_STR_CONTAINS(message, "options 'weights' and 'resume' are both set");
    CHECK_STR_CONTAINS(message, desc->name);
    advgnn_free(weights);

    /* check_options finds the conflict without building anything. */
    const advgnn_encoder_functions *fn = desc->functions;

    expect_rejected(fn, opts, NULL, "options 'weights' and 'resume' are both set");
}

/* ---- options checked before a run ----------------------------------------- */


/* check_options, which a script's advgnn.encoder() calls, accepts the tiny
 * options and rejects what create() would reject regardless of the image
 * size, with create()'s message. */
static void check_early_checks(const advgnn_plugin_descriptor *vig, const advgnn_plugin_descriptor *cnn_ae)
{
    const advgnn_encoder_functions *vig_fn = vig->functions, *cnn_ae_fn = cnn_ae->functions;
    static const double three[] = {8, 16, 24}, stage_five[] = {5}, twice[] = {2, 2}, ratio_five[] = {5, 2, 1, 1};
    const advgnn_encoder_config size_64 = {.struct_size = sizeof(size_64), .image_height = 64, .image_width = 64,
                                           .channels = 3};
    const advgnn_encoder_config size_96 = {.struct_size = sizeof(size_96), .image_height = 96, .image_width = 96,
                                           .channels = 3};
    advgnn_options *opts = tiny_vig(vig, "deconv");

    CHECK(vig_fn->check_options != NULL);
    CHECK(cnn_ae_fn->check_options != NULL);
    if (!vig_fn->check_options || !cnn_ae_fn->check_options) {
        advgnn_options_free(opts);
        return;
    }
    CHECK_INT_EQ(vig_fn->check_options(ctx, opts, NULL), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "feature_pool", 2), ADVGNN_OK);
    expect_rejected(vig_fn, opts, NULL, "option 'feature_pool' is 2; it must be odd");
    advgnn_options_free(opts);

    opts = tiny_vig(vig, "deconv");
    set_numbers(opts, "widths", three, 3);
    expect_rejected(vig_fn, opts, NULL, "option 'widths' needs 4 entries for a pyramid model, got 3");
    advgnn_options_free(opts);

    /* Without oneDNN's bf16 kernels, precision bf16 is rejected here too. */
    if (!advgnn_nn_bf16_supported()) {
        opts = tiny_vig(vig, "deconv");
        CHECK_INT_EQ(harness_set_string(opts, ctx, "precision", "bf16"), ADVGNN_OK);
        expect_rejected(vig_fn, opts, NULL, "set precision to f32");
        advgnn_options_free(opts);
    }

    /* A preset with another variant, and a feature stage listed twice. */
    opts = harness_options(ctx, vig);
    CHECK_INT_EQ(harness_set_string(opts, ctx, "variant", "isotropic"), ADVGNN_OK);
    expect_rejected(vig_fn, opts, NULL, "option 'variant' is isotropic, but preset 'small' is a pyramid model");
    advgnn_options_free(opts);
    opts = tiny_vig(vig, "deconv");
    set_numbers(opts, "feature_stages", twice, 2);
    expect_rejected(vig_fn, opts, NULL, "option 'feature_stages' lists stage 2 twice");
    advgnn_options_free(opts);

    /* With an input size: too small for k, a reduce ratio that does not divide
     * its grid, and a feature_pool wider than the feature grid. */
    opts = tiny_vig(vig, "deconv");
    CHECK_INT_EQ(harness_set_int(opts, ctx, "k", 9), ADVGNN_OK);
    expect_rejected(vig_fn, opts, &size_64, "set image_size to at least 96");
    CHECK_INT_EQ(vig_fn->check_options(ctx, opts, &size_96), ADVGNN_OK);
    set_numbers(opts, "reduce_ratios", ratio_five, 4);
    expect_rejected(vig_fn, opts, &size_96, "ratio 5 of stage 1 does not divide its 24 x 24 grid");
    advgnn_options_free(opts);
    opts = tiny_vig(vig, "deconv");
    CHECK_INT_EQ(harness_set_int(opts, ctx, "feature_pool", 15), ADVGNN_OK);
    CHECK_INT_EQ(vig_fn->check_options(ctx, opts, NULL), ADVGNN_OK);
    expect_rejected(vig_fn, opts, &size_96, "set feature_pool to at most 11");
    advgnn_options_free(opts);

    opts = tiny_cnn_ae(cnn_ae, 8, 16);
    CHECK_INT_EQ(cnn_ae_fn->check_options(ctx, opts, NULL), ADVGNN_OK);
    CHECK_INT_EQ(cnn_ae_fn->check_options(ctx, opts, &size_96), ADVGNN_OK);
    set_numbers(opts, "feature_stages", stage_five, 1);
    expect_rejected(cnn_ae_fn, opts, NULL, "option 'feature_stages' names stage 5");
    advgnn_options_free(opts);
}

/* ---- weights for other options -------------------------------------------- */

/* vig weights made for 96 x 96 and loaded at 128 x 128: both full shapes of
 * the position embedding and the image size that the file fits. */
static void check_position_embedding_size(const advgnn_plugin_descriptor *desc)
{
    static const char *const options[] = {"weights", "init_weights"};
    char *path = temp_path("vig_96.safetensors");
    advgnn_options *opts = tiny_vig(desc, "deconv");

    save_weights(desc, opts, 96, path);
    for (int i = 0; i < 2; i++) {
        advgnn_options *load = tiny_vig(desc, "deconv");
        const char *message;
        char expected[64];

        CHECK_INT_EQ(harness_set_string(load, ctx, options[i], path), ADVGNN_OK);
        message = create_error(desc, load, 128, ADVGNN_ERR_OPTION);
        snprintf(expected, sizeof(expected), "option '%s'", options[i]);
        CHECK_STR_CONTAINS(message, expected);

        /* The pyramid stem divides by 4: 24 x 24 = 576 and 32 x 32 = 1024 positions. */
        CHECK_STR_CONTAINS(message, "tensor pos_embed.weight has shape [8,576,1,1]");
        CHECK_STR_CONTAINS(message, "the network expects [8,1024,1,1]");
        CHECK_STR_CONTAINS(message, "made for image size 96");
        CHECK_STR_CONTAINS(message, "convert --image-size 128x128");
        CHECK_STR_CONTAINS(message, "A checkpoint of the reference Vision GNN models can instead be converted");
        CHECK(strstr(message, "dimensions") == NULL);
        advgnn_options_free(load);
    }
    advgnn_options_free(opts);
    advgnn_free(path);
}

/* Weights of one decoder loaded into the other: the file is valid, so the
 * message names the tensor and the option 'decoder', never corruption. */
static void check_other_decoder(const advgnn_plugin_descriptor *desc)
{
    static const char *const decoders[][2] = {{"graph", "deconv"}, {"deconv", "graph"}};

    for (int i = 0; i < 2; i++) {
        char *path = temp_path("vig_decoder.safetensors");
        advgnn_options *written = tiny_vig(desc, decoders[i][0]), *load = tiny_vig(desc, decoders[i][1]);
        const char *message;

        save_weights(desc, written, 64, path);
        CHECK_INT_EQ(harness_set_string(load, ctx, "weights", path), ADVGNN_OK);
        message = create_error(desc, load, 64, ADVGNN_ERR_OPTION);
        CHECK_STR_CONTAINS(message, "unexpected tensor decoder.");
        CHECK_STR_CONTAINS(message, "written for a network with other options");
        CHECK_STR_CONTAINS(message, "most likely 'decoder'");
        CHECK(strstr(message, "corrupt") == NULL);
        advgnn_options_free(written);
        advgnn_options_free(load);
        advgnn_free(path);
    }
}

/* ---- resume --------------------------------------------------------------- */

/* Seeded noise images in [-1, 1], as many as IMAGE_COUNT. */
static int read_noise(void *user, advgnn_ctx *unused, size_t first, size_t n, float *out)
{
    const int *side = user;
    size_t floats = 3 * (size_t)*side * (size_t)*side;

    (void)unused;
    for (size_t i = 0; i < n; i++) {
        advgnn_rng rng;

        advgnn_rng_seed(&rng, 100 + first + i);
        for (size_t j = 0; j < floats; j++)
            out[i * floats + j] = (float)(2.0 * advgnn_rng_uniform(&rng) - 1.0);
    }
    return ADVGNN_OK;
}

/* Trains a cnn_ae for `epochs` epochs, resuming from `resume` when not NULL,
 * with checkpoints in work_dir/checkpoints. Returns the status of train(). */
static int train_cnn_ae(const advgnn_plugin_descriptor *desc, advgnn_options *opts, const char *work_dir,
                        const char *resume, int epochs, int *trained_epochs)
{
    static int side = 32;
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = image_config(side, work_dir);
    advgnn_image_source train = {.count = IMAGE_COUNT, .read = read_noise, .user = &side}, none = {0};
    void *state = NULL;
    int rc;

    CHECK_INT_EQ(harness_set_int(opts, ctx, "epochs", epochs), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "checkpoint_every", 1), ADVGNN_OK);
    if (resume)
        CHECK_INT_EQ(harness_set_string(opts, ctx, "resume", resume), ADVGNN_OK);
    advgnn_ctx_clear_error(ctx);
    rc = fn->create(ctx, opts, &config, &state);
    if (rc == ADVGNN_OK)
        rc = fn->train(state, ctx, &train, &none);
    *trained_epochs = state ? ((ae_encoder *)state)->history.epochs : 0;
    if (state)
        fn->destroy(state);
    return rc;
}

/* A checkpoint after epoch 2 resumed with epochs = 1 trains nothing and says
 * so; with epochs = 3 it trains one epoch and says nothing. A checkpoint of
 * other widths is an option error naming 'resume'. */
static void check_resume_epochs(const advgnn_plugin_descriptor *desc)
{
    char *work_dir = temp_path("cnn_ae_run"), *checkpoints = advgnn_fs_join(work_dir, "checkpoints");
    advgnn_options *first = tiny_cnn_ae(desc, 8, 16);
    int epochs = 0;

    CHECK_INT_EQ(advgnn_fs_mkdir_p(ctx, work_dir), ADVGNN_OK);
    CHECK_INT_EQ(train_cnn_ae(desc, first, work_dir, NULL, 2, &epochs), ADVGNN_OK);
    CHECK_INT_EQ(epochs, 2);

    {
        advgnn_options *again = tiny_cnn_ae(desc, 8, 16);

        clear_warnings();
        CHECK_INT_EQ(train_cnn_ae(desc, again, NULL, checkpoints, 1, &epochs), ADVGNN_OK);
        CHECK_INT_EQ(epochs, 2);
        CHECK_STR_CONTAINS(warnings, "cnn_ae: no epoch was trained");
        CHECK_STR_CONTAINS(warnings, "after epoch 2 and option 'epochs' is 1");
        advgnn_options_free(again);
    }
    {
        advgnn_options *more = tiny_cnn_ae(desc, 8, 16);

        clear_warnings();
        CHECK_INT_EQ(train_cnn_ae(desc, more, NULL, checkpoints, 3, &epochs), ADVGNN_OK);
        CHECK_INT_EQ(epochs, 3);
        CHECK(strstr(warnings, "no epoch was trained") == NULL);
        advgnn_options_free(more);
    }
    {
        advgnn_options *wider = tiny_cnn_ae(desc, 8, 24);

        CHECK_INT_EQ(train_cnn_ae(desc, wider, NULL, checkpoints, 3, &epochs), ADVGNN_ERR_OPTION);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "option 'resume'");
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "has shape [16,8,3,3], but the network expects [24,8,3,3]");
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "most likely 'widths'");
        advgnn_options_free(wider);
    }
    advgnn_options_free(first);
    advgnn_free(checkpoints);
    advgnn_free(work_dir);
}

/* ---- the decoders' pixel limit -------------------------------------------- */

/* The hint of an image over the limit names something a user can do; users
 * of advgnn run cannot set max_pixels. */
static void check_pixel_limit_hint(void)
{
    char *path = temp_path("large.png");
    advgnn_image image = {0}, decoded = {0};

    CHECK_INT_EQ(advgnn_image_alloc(ctx, &image, 40, 30, 3, ADVGNN_PIXEL_U8), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_image_save_png(ctx, path, &image), ADVGNN_OK);
    CHECK_INT_EQ(advgnn_image_load_file(ctx, path, 1000, &decoded), ADVGNN_ERR_LIMIT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "PNG image of 40 x 30 pixels exceeds the limit of 1000 pixels");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "scale the file down below the limit");
    CHECK(strstr(advgnn_ctx_error(ctx), "max_pixels") == NULL);
    advgnn_image_release(&image);
    advgnn_image_release(&decoded);
    advgnn_free(path);
}

int main(void)
{
    const advgnn_plugin_descriptor *vig, *cnn_ae;
    void *vig_handle = NULL, *cnn_ae_handle = NULL;

    ctx = advgnn_ctx_new();
    temp_dir = helper_make_temp_dir("option_messages");
    CHECK(ctx != NULL);
    CHECK(temp_dir != NULL);
    if (!ctx || !temp_dir)
        return CHECK_DONE();
    advgnn_ctx_set_threads(ctx, 1);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    advgnn_ctx_set_log_sink(ctx, capture_warnings, NULL);

    check_pixel_limit_hint();
    vig = harness_load("vig", &vig_handle);
    cnn_ae = harness_load("cnn_ae", &cnn_ae_handle);
    CHECK(vig != NULL);
    CHECK(cnn_ae != NULL);
    if (vig && cnn_ae) {
        advgnn_options *vig_opts = tiny_vig(vig, "deconv"), *cnn_ae_opts = tiny_cnn_ae(cnn_ae, 8, 16);

        check_weights_with_resume(vig, vig_opts, 64);
        check_weights_with_resume(cnn_ae, cnn_ae_opts, 32);
        advgnn_options_free(vig_opts);
        advgnn_options_free(cnn_ae_opts);
        check_early_checks(vig, cnn_ae);
        check_position_embedding_size(vig);
        check_other_decoder(vig);
        check_resume_epochs(cnn_ae);
    }

    if (vig_handle)
        dlclose(vig_handle);
    if (cnn_ae_handle)
        dlclose(cnn_ae_handle);
    helper_remove_tree(temp_dir);
    advgnn_free(temp_dir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
