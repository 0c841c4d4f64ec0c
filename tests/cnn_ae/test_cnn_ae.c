/* The cnn_ae encoder plugin through its descriptor, as the runner calls it:
 * training on real Magnetic Tile images lowers the loss and writes weights,
 * history and checkpoints, encode returns finite features of the promised
 * shape and a reconstruction closer to the input than its mean, and saved
 * weights reload to the same outputs. */
#include <stdlib.h>
#include <unistd.h>

#include "ae.h"
#include "check.h"
#include "mt_images.h"
#include "plugin_harness.h"

#define SIDE 32
#define TRAIN_IMAGES 32
#define VAL_IMAGES 8

static advgnn_ctx *ctx;

static void set_numbers(advgnn_options *opts, const char *name, const double *values, size_t count)
{
    advgnn_value v = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = values, .count = count};

    CHECK_INT_EQ(advgnn_options_set(opts, ctx, name, &v), ADVGNN_OK);
}

static advgnn_options *small_options(const advgnn_plugin_descriptor *desc)
{
    static const double widths[] = {8, 16, 32}, stages[] = {2, 3};
    advgnn_options *opts = harness_options(ctx, desc);

    set_numbers(opts, "widths", widths, 3);
    set_numbers(opts, "feature_stages", stages, 2);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "epochs", 6), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 8), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_number(opts, ctx, "lr", 0.01), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "seed", 21), ADVGNN_OK);
    return opts;
}

static int file_exists(const char *dir, const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, R_OK) == 0;
}

static void remove_file(const char *dir, const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static double mean_square(const float *a, const float *b, size_t n)
{
    double sum = 0.0;

    for (size_t i = 0; i < n; i++)
        sum += ((double)a[i] - (b ? b[i] : 0.0)) * ((double)a[i] - (b ? b[i] : 0.0));
    return sum / (double)n;
}

int main(void)
{
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = SIDE, .image_width = SIDE,
                                    .channels = 3, .seed = 1};
    mt_images train_set = {0}, val_set = {0};
    const advgnn_plugin_descriptor *desc;
    const advgnn_encoder_functions *fn;
    advgnn_options *opts;
    advgnn_tensor images, features, recon, features2, recon2;
    void *handle = NULL, *state = NULL, *state2 = NULL;
    char dir[64] = "/tmp/advgnn-cnn-ae-XXXXXX", weights[128];
    int channels = 0, height = 0, width = 0;
    ae_encoder *enc;

    ctx = advgnn_ctx_new();
    if (mt_load(&train_set, SIDE, 0, TRAIN_IMAGES) < TRAIN_IMAGES ||
        mt_load(&val_set, SIDE, TRAIN_IMAGES, VAL_IMAGES) < VAL_IMAGES) {
        printf("SKIP: fewer than %d Magnetic Tile images in %s\n", TRAIN_IMAGES + VAL_IMAGES, MT_FOLDER);
        mt_free(&train_set);
        mt_free(&val_set);
        advgnn_ctx_free(ctx);
        return 77;
    }
    advgnn_ctx_set_threads(ctx, 2);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    desc = harness_load("cnn_ae", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    fn = desc->functions;
    CHECK(fn->flags & ADVGNN_ENCODER_RECONSTRUCTS);
    CHECK(mkdtemp(dir) != NULL);
    config.work_dir = dir;

    /* A feature stage beyond the depth is rejected with the option's name. */
    {
        static const double bad[] = {4};
        advgnn_options *wrong = small_options(desc);

        set_numbers(wrong, "feature_stages", bad, 1);
        CHECK_INT_EQ(fn->create(ctx, wrong, &config, &state), ADVGNN_ERR_OPTION);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "feature_stages");
        advgnn_ctx_clear_error(ctx);
        advgnn_options_free(wrong);
    }

    /* An empty weights or resume path means "not given", not a failure. */
    {
        advgnn_options *empty = small_options(desc);
        void *empty_state = NULL;

        CHECK_INT_EQ(harness_set_string(empty, ctx, "weights", ""), ADVGNN_OK);
        CHECK_INT_EQ(harness_set_string(empty, ctx, "resume", ""), ADVGNN_OK);
        CHECK_INT_EQ(fn->create(ctx, empty, &config, &empty_state), ADVGNN_OK);
        if (empty_state)
            fn->destroy(empty_state);
        advgnn_options_free(empty);
    }

    /* Training: the loss falls and the files appear in the work folder. */
    opts = small_options(desc);
    CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), ADVGNN_OK);
    {
        advgnn_image_source train = mt_source(&train_set), val = mt_source(&val_set);

        CHECK_INT_EQ(fn->train(state, ctx, &train, &val), ADVGNN_OK);
    }
    enc = state;
    printf("cnn_ae train loss:");
    for (int e = 0; e < enc->history.epochs; e++)
        printf(" %.4f", enc->history.train_loss[e]);
    printf("\n");
    CHECK_INT_EQ(enc->history.epochs, 6);
    CHECK(enc->history.train_loss[5] < 0.5 * enc->history.train_loss[0]);
    CHECK(file_exists(dir, "weights.safetensors"));
    CHECK(file_exists(dir, "train_history.json"));
    CHECK(file_exists(dir, "checkpoints/checkpoint.json"));

    /* Encoding: 8 x 8 grid of 16 + 32 channels; 11 images run as two chunks of 8. */
    CHECK_INT_EQ(fn->feature_shape(state, &channels, &height, &width), ADVGNN_OK);
    CHECK_INT_EQ(channels, 48);
    CHECK_INT_EQ(height, 8);
    CHECK_INT_EQ(width, 8);
    {
        int64_t is[4] = {11, 3, SIDE, SIDE}, fs[4] = {11, channels, height, width};
        size_t n = 11 * 3 * SIDE * SIDE;
        double variance, error;
        int finite = 1;

        advgnn_tensor_alloc(ctx, &images, ADVGNN_DTYPE_F32, 4, is);
        advgnn_tensor_alloc(ctx, &recon, ADVGNN_DTYPE_F32, 4, is);
        advgnn_tensor_alloc(ctx, &recon2, ADVGNN_DTYPE_F32, 4, is);
        advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, fs);
        advgnn_tensor_alloc(ctx, &features2, ADVGNN_DTYPE_F32, 4, fs);
        memcpy(images.data, val_set.data, 8 * 3 * SIDE * SIDE * sizeof(float));
        memcpy((float *)images.data + 8 * 3 * SIDE * SIDE, train_set.data, 3 * 3 * SIDE * SIDE * sizeof(float));
        CHECK_INT_EQ(fn->encode(state, ctx, &images, &features, &recon), ADVGNN_OK);
        for (int64_t i = 0; i < advgnn_tensor_numel(&features); i++)
            finite &= isfinite(((float *)features.data)[i]) != 0;
        CHECK(finite);

        /* The reconstruction beats a constant image at the input's mean. */
        {
            double mean = 0.0;
            float *flat = malloc(n * sizeof(float));

            for (size_t i = 0; i < n; i++)
                mean += ((float *)images.data)[i] / (double)n;
            for (size_t i = 0; i < n; i++)
                flat[i] = (float)mean;
            variance = mean_square(images.data, flat, n);
            free(flat);
        }
        error = mean_square(images.data, recon.data, n);
        printf("reconstruction mean squared error %.4f, input variance %.4f\n", error, variance);
        CHECK(error < 0.7 * variance);

        /* Saved weights reload into a fresh encoder with equal outputs. */
        snprintf(weights, sizeof(weights), "%s/saved.safetensors", dir);
        CHECK_INT_EQ(fn->save(state, ctx, weights), ADVGNN_OK);
        CHECK_INT_EQ(fn->create(ctx, opts, &config, &state2), ADVGNN_OK);
        CHECK_INT_EQ(fn->load(state2, ctx, weights), ADVGNN_OK);
        CHECK_INT_EQ(fn->encode(state2, ctx, &images, &features2, &recon2), ADVGNN_OK);
        CHECK(memcmp(features.data, features2.data, (size_t)advgnn_tensor_numel(&features) * sizeof(float)) == 0);
        CHECK(memcmp(recon.data, recon2.data, n * sizeof(float)) == 0);

        /* The default feature_pool = 3 equals a plain zero-padded 3 x 3 mean
         * (count_include_pad) of the unpooled features, plane by plane. */
        {
            advgnn_options *unpooled = small_options(desc);
            void *state3 = NULL;
            double worst = 0.0;

            CHECK_INT_EQ(harness_set_int(unpooled, ctx, "feature_pool", 1), ADVGNN_OK);
            CHECK_INT_EQ(fn->create(ctx, unpooled, &config, &state3), ADVGNN_OK);
            CHECK_INT_EQ(fn->load(state3, ctx, weights), ADVGNN_OK);
            CHECK_INT_EQ(fn->encode(state3, ctx, &images, &features2, NULL), ADVGNN_OK);
            for (int64_t p = 0; p < 11 * channels; p++) {
                const float *raw = (const float *)features2.data + p * height * width;
                const float *pooled = (const float *)features.data + p * height * width;

                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++) {
                        double sum = 0.0, diff;

                        for (int yy = y - 1; yy <= y + 1; yy++)
                            for (int xx = x - 1; xx <= x + 1; xx++)
                                if (yy >= 0 && yy < height && xx >= 0 && xx < width)
                                    sum += raw[yy * width + xx];
                        diff = fabs(sum / 9.0 - pooled[y * width + x]);
                        worst = diff > worst ? diff : worst;
                    }
            }
            printf("feature_pool 3 against a direct 3 x 3 mean: max abs difference %.3g\n", worst);
            CHECK(worst < 1e-6);
            fn->destroy(state3);
            advgnn_options_free(unpooled);
        }
    }

    fn->destroy(state);
    fn->destroy(state2);
    advgnn_options_free(opts);
    advgnn_tensor_release(&images);
    advgnn_tensor_release(&recon);
    advgnn_tensor_release(&recon2);
    advgnn_tensor_release(&features);
    advgnn_tensor_release(&features2);
    remove_file(dir, "checkpoints/checkpoint.json");
    remove_file(dir, "checkpoints/checkpoint.safetensors");
    remove_file(dir, "checkpoints/checkpoint.optimizer.safetensors");
    snprintf(weights, sizeof(weights), "%s/checkpoints", dir);
    rmdir(weights);
    remove_file(dir, "weights.safetensors");
    remove_file(dir, "train_history.json");
    remove_file(dir, "saved.safetensors");
    rmdir(dir);
    mt_free(&train_set);
    mt_free(&val_set);
    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
