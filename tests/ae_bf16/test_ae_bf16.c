/* Option 'precision' of the autoencoder encoders, through their plugins as
 * the runner calls them, for cnn_ae and a tiny vig:
 *   - a bf16 network has bf16 activations and f32 parameters;
 *   - a short bf16 training on real Magnetic Tile images lowers the loss,
 *     and two runs with one seed give the same weights bit for bit;
 *   - the bf16-trained weights, saved and loaded into an f32 encoder, give
 *     features and a reconstruction within BF16_TOLERANCE (relative L2) of
 *     the bf16 encoder's. f32 is the reference here because tests/vig_parity
 *     checks the f32 path against PyTorch;
 *   - the saved file, given to a fresh bf16 encoder as 'weights', reproduces
 *     the bf16 outputs exactly;
 *   - an unknown precision is rejected with the option's name;
 *   - with --expect-refusal (test ae_bf16_refused, oneDNN limited to AVX2),
 *     bf16 fails at create with an option error that requests f32. */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "ae.h"
#include "check.h"
#include "mt_images.h"
#include "plugin_harness.h"

#define TRAIN_IMAGES 16
#define ENCODE_IMAGES 5

/* bf16 keeps 8 significant bits, so one rounding errs by up to 2^-9 = 0.2 %
 * relative. Over the depth of these networks the error measured 0.2 to 0.3 %. */
#define BF16_TOLERANCE 2e-2

static advgnn_ctx *ctx;

/* Scratch folder for weights files; empty string until main creates it. */
static char scratch_dir[64];

/* Ends the test as skipped (exit status 77) without leaving the scratch
 * folder behind. Nothing has been written into it when a skip happens. */
static void skip_test(const char *reason)
{
    printf("SKIP: %s\n", reason);
    if (scratch_dir[0])
        rmdir(scratch_dir);
    advgnn_ctx_free(ctx);
    exit(77);
}

#define OK(expr)                                                                                          \
    do {                                                                                                  \
        int rc_ = (expr);                                                                                 \
        CHECK_INT_EQ(rc_, ADVGNN_OK);                                                                     \
        if (rc_ != ADVGNN_OK)                                                                             \
            fprintf(stderr, "  error: %s\n", advgnn_ctx_error(ctx));                                       \
    } while (0)

static void set_numbers(advgnn_options *opts, const char *name, const double *values, size_t count)
{
    advgnn_value v = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = values, .count = count};

    OK(advgnn_options_set(opts, ctx, name, &v));
}

/* Options of a small network of `plugin` in `precision`, 3 epochs, seed 7. */
static advgnn_options *small_options(const advgnn_plugin_descriptor *desc, const char *precision)
{
    advgnn_options *opts = harness_options(ctx, desc);

    if (strcmp(desc->name, "vig") == 0) {
        static const double widths[] = {8, 16, 24, 32}, blocks[] = {1, 1, 1, 1}, stages[] = {2, 3};

        OK(harness_set_string(opts, ctx, "preset", "custom"));
        set_numbers(opts, "widths", widths, 4);
        set_numbers(opts, "blocks", blocks, 4);
        set_numbers(opts, "feature_stages", stages, 2);
        OK(harness_set_int(opts, ctx, "k", 3));
        OK(harness_set_number(opts, ctx, "lr", 0.005));
    } else {
        static const double widths[] = {8, 16, 32}, stages[] = {2, 3};

        set_numbers(opts, "widths", widths, 3);
        set_numbers(opts, "feature_stages", stages, 2);
        OK(harness_set_number(opts, ctx, "lr", 0.01));
    }
    OK(harness_set_int(opts, ctx, "epochs", 3));
    OK(harness_set_int(opts, ctx, "batch_size", 4));
    OK(harness_set_int(opts, ctx, "seed", 7));
    OK(harness_set_string(opts, ctx, "precision", precision));
    return opts;
}

/* ||a - b|| / ||a|| over n values. */
static double relative_error(const float *a, const float *b, size_t n)
{
    double diff = 0.0, norm = 0.0;

    for (size_t i = 0; i < n; i++) {
        diff += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        norm += (double)a[i] * a[i];
    }
    return norm > 0 ? sqrt(diff / norm) : INFINITY;
}

typedef struct outputs {
    advgnn_tensor features, recon;
} outputs;

static void encode(const advgnn_encoder_functions *fn, void *state, const advgnn_tensor *images, outputs *out)
{
    int c = 0, h = 0, w = 0;
    int64_t fs[4];

    OK(fn->feature_shape(state, &c, &h, &w));
    fs[0] = images->shape[0];
    fs[1] = c;
    fs[2] = h;
    fs[3] = w;
    OK(advgnn_tensor_alloc(ctx, &out->features, ADVGNN_DTYPE_F32, 4, fs));
    OK(advgnn_tensor_alloc(ctx, &out->recon, ADVGNN_DTYPE_F32, 4, images->shape));
    OK(fn->encode(state, ctx, images, &out->features, &out->recon));
}

static void release(outputs *o)
{
    advgnn_tensor_release(&o->features);
    advgnn_tensor_release(&o->recon);
}

static int same_params(const ae_encoder *x, const ae_encoder *y)
{
    if (advgnn_nn_param_count(x->net.nn) != advgnn_nn_param_count(y->net.nn))
        return 0;
    for (size_t i = 0; i < advgnn_nn_param_count(x->net.nn); i++) {
        const advgnn_tensor *a = advgnn_nn_param_at(x->net.nn, i)->value, *b = advgnn_nn_param_at(y->net.nn, i)->value;

        if (memcmp(a->data, b->data, (size_t)advgnn_tensor_numel(a) * sizeof(float)) != 0)
            return 0;
    }
    return 1;
}

static void check_plugin(const char *name, int side, const char *dir)
{
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = side, .image_width = side,
                                    .channels = 3, .seed = 1};
    int64_t is[4] = {ENCODE_IMAGES, 3, side, side};
    const advgnn_plugin_descriptor *desc;
    const advgnn_encoder_functions *fn;
    advgnn_options *bf16_opts, *f32_opts;
    void *handle = NULL, *a = NULL, *b = NULL, *f32 = NULL, *reload = NULL;
    mt_images train_set = {0}, encode_set = {0};
    outputs ob, of, orl;
    advgnn_tensor images;
    char weights[160];
    ae_encoder *ea;

    if (mt_load(&train_set, side, 0, TRAIN_IMAGES) < TRAIN_IMAGES ||
        mt_load(&encode_set, side, TRAIN_IMAGES, ENCODE_IMAGES) < ENCODE_IMAGES) {
        char reason[256];

        snprintf(reason, sizeof reason, "fewer than %d Magnetic Tile images in %s", TRAIN_IMAGES + ENCODE_IMAGES,
                 MT_FOLDER);
        mt_free(&train_set);
        mt_free(&encode_set);
        skip_test(reason);
    }
    desc = harness_load(name, &handle);
    CHECK(desc != NULL);
    if (!desc)
        return;
    fn = desc->functions;

    /* An unknown precision is rejected where the option is set. */
    bf16_opts = harness_options(ctx, desc);
    CHECK(harness_set_string(bf16_opts, ctx, "precision", "fp16") != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "precision");
    advgnn_ctx_clear_error(ctx);
    advgnn_options_free(bf16_opts);

    /* Two bf16 trainings with one seed. A CPU without bf16 in oneDNN is a skip
     * (the test ae_bf16_refused checks the rejection itself). */
    bf16_opts = small_options(desc, "bf16");
    if (fn->create(ctx, bf16_opts, &config, &a) == ADVGNN_ERR_OPTION &&
        strstr(advgnn_ctx_error(ctx), "no bf16 kernels")) {
        skip_test(advgnn_ctx_error(ctx));
    }
    OK(fn->create(ctx, bf16_opts, &config, &b));
    if (!a || !b)
        goto done;
    ea = a;
    CHECK_INT_EQ(ea->net.dtype, ADVGNN_DTYPE_BF16);
    CHECK_INT_EQ(advgnn_layer_output(ea->net.nodes[0].layer)->dtype, ADVGNN_DTYPE_BF16);
    CHECK_INT_EQ(advgnn_layer_output(ea->net.nodes[ea->net.output].layer)->dtype, ADVGNN_DTYPE_BF16);
    CHECK_INT_EQ(advgnn_nn_param_at(ea->net.nn, 0)->value->dtype, ADVGNN_DTYPE_F32);
    {
        advgnn_image_source train = mt_source(&train_set);

        OK(fn->train(a, ctx, &train, NULL));
        OK(fn->train(b, ctx, &train, NULL));
    }
    printf("%s bf16 train loss:", name);
    for (int e = 0; e < ea->history.epochs; e++)
        printf(" %.4f", ea->history.train_loss[e]);
    printf("\n");
    CHECK_INT_EQ(ea->history.epochs, 3);
    if (ea->history.epochs == 3)
        CHECK(ea->history.train_loss[2] < 0.8 * ea->history.train_loss[0]);
    CHECK(same_params(a, b));

    /* The bf16 weights in an f32 encoder: outputs close to bf16's. */
    snprintf(weights, sizeof(weights), "%s/%s-bf16.safetensors", dir, name);
    OK(fn->save(a, ctx, weights));
    f32_opts = small_options(desc, "f32");
    OK(fn->create(ctx, f32_opts, &config, &f32));
    CHECK_INT_EQ(((ae_encoder *)f32)->net.dtype, ADVGNN_DTYPE_F32);
    OK(fn->load(f32, ctx, weights));
    CHECK(same_params(a, f32));
    OK(advgnn_tensor_alloc(ctx, &images, ADVGNN_DTYPE_F32, 4, is));
    memcpy(images.data, encode_set.data, (size_t)advgnn_tensor_numel(&images) * sizeof(float));
    encode(fn, a, &images, &ob);
    encode(fn, f32, &images, &of);
    {
        double ef = relative_error(of.features.data, ob.features.data, (size_t)advgnn_tensor_numel(&of.features));
        double er = relative_error(of.recon.data, ob.recon.data, (size_t)advgnn_tensor_numel(&of.recon));

        printf("%s bf16 vs f32, relative L2 error: features %.2e, reconstruction %.2e (limit %.0e)\n", name, ef, er,
               BF16_TOLERANCE);
        CHECK(ef < BF16_TOLERANCE);
        CHECK(er < BF16_TOLERANCE);

        /* Not equal either: the bf16 path really rounds. */
        CHECK(ef > 0);
    }

    /* The same file as option 'weights' of a fresh bf16 encoder. */
    OK(harness_set_string(bf16_opts, ctx, "weights", weights));
    OK(fn->create(ctx, bf16_opts, &config, &reload));
    if (reload) {
        encode(fn, reload, &images, &orl);
        CHECK(memcmp(orl.features.data, ob.features.data,
                     (size_t)advgnn_tensor_numel(&ob.features) * sizeof(float)) == 0);
        CHECK(memcmp(orl.recon.data, ob.recon.data, (size_t)advgnn_tensor_numel(&ob.recon) * sizeof(float)) == 0);
        release(&orl);
        fn->destroy(reload);
    }
    unlink(weights);
    release(&ob);
    release(&of);
    advgnn_tensor_release(&images);
    fn->destroy(f32);
    advgnn_options_free(f32_opts);
done:
    if (a)
        fn->destroy(a);
    if (b)
        fn->destroy(b);
    advgnn_options_free(bf16_opts);
    mt_free(&train_set);
    mt_free(&encode_set);
    dlclose(handle);
}

/* Checks, under ONEDNN_MAX_CPU_ISA=AVX2 where oneDNN 2.6 has no bf16
 * convolution, that bf16 is rejected with an option error that names the fix
 * and that f32 still works. */
static void check_refusal(void)
{
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 1};
    const char *names[] = {"cnn_ae", "vig"};
    const int sides[] = {32, 64};

    for (int i = 0; i < 2; i++) {
        void *handle = NULL, *state = NULL;
        const advgnn_plugin_descriptor *desc = harness_load(names[i], &handle);
        const advgnn_encoder_functions *fn;
        advgnn_options *opts;

        CHECK(desc != NULL);
        if (!desc)
            continue;
        fn = desc->functions;
        opts = small_options(desc, "bf16");
        config.image_height = config.image_width = sides[i];
        CHECK_INT_EQ(fn->create(ctx, opts, &config, &state), ADVGNN_ERR_OPTION);
        CHECK(state == NULL);
        printf("%s\n", advgnn_ctx_error(ctx));
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), names[i]);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "'precision' is bf16");
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "set precision to f32");
        advgnn_ctx_clear_error(ctx);
        OK(harness_set_string(opts, ctx, "precision", "f32"));
        OK(fn->create(ctx, opts, &config, &state));
        if (state)
            fn->destroy(state);
        advgnn_options_free(opts);
        dlclose(handle);
    }
}

int main(int argc, char **argv)
{
    ctx = advgnn_ctx_new();
    advgnn_ctx_set_threads(ctx, 2);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    if (argc > 1 && strcmp(argv[1], "--expect-refusal") == 0) {
        check_refusal();
        advgnn_ctx_free(ctx);
        return CHECK_DONE();
    }
    snprintf(scratch_dir, sizeof scratch_dir, "%s", "/tmp/advgnn-ae-bf16-XXXXXX");
    CHECK(mkdtemp(scratch_dir) != NULL);
    check_plugin("cnn_ae", 32, scratch_dir);
    check_plugin("vig", 64, scratch_dir);
    rmdir(scratch_dir);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
