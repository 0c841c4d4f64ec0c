/* A small convolutional autoencoder trained with the engine on defect-free
 * Magnetic Tile images: the loss falls window after window, two runs with
 * one seed give bitwise identical weights, and saved weights reload. */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "nn_test.h"

#define SIDE 32        /* images are resized to SIDE x SIDE grayscale */
#define IMAGES 32
#define BATCH 8
#define STEPS 60
#define WINDOW 10      /* steps per loss window */
#define LAYERS 10

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Decodes a grayscale JPEG and box-filters it to SIDE x SIDE in [0, 1]. */
static int load_image(const char *path, float *out)
{
    FILE *f = fopen(path, "rb");
    unsigned char *jpeg = NULL, *pixels = NULL;
    long size;
    int w, h, sub, space, ok = 0;
    tjhandle tj = tjInitDecompress();

    if (!f || !tj)
        goto done;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    jpeg = malloc((size_t)size);
    if (fread(jpeg, 1, (size_t)size, f) != (size_t)size)
        goto done;
    if (tjDecompressHeader3(tj, jpeg, (unsigned long)size, &w, &h, &sub, &space) != 0 || w < SIDE || h < SIDE)
        goto done;
    pixels = malloc((size_t)w * h);
    if (tjDecompress2(tj, jpeg, (unsigned long)size, pixels, w, 0, h, TJPF_GRAY, 0) != 0)
        goto done;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            int y0 = y * h / SIDE, y1 = (y + 1) * h / SIDE, x0 = x * w / SIDE, x1 = (x + 1) * w / SIDE;
            double sum = 0;

            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++)
                    sum += pixels[yy * w + xx];
            out[y * SIDE + x] = (float)(sum / ((y1 - y0) * (x1 - x0)) / 255.0);
        }
    ok = 1;
done:
    if (f)
        fclose(f);
    if (tj)
        tjDestroy(tj);
    free(jpeg);
    free(pixels);
    return ok;
}

/* Loads the first IMAGES defect-free images in name order; returns how many. */
static int load_dataset(float *images)
{
    const char *folder = ADVGNN_SHARED_DATA "/magnetic_tile/MT_Free/Imgs";
    DIR *d = opendir(folder);
    struct dirent *e;
    char *names[4096];
    int count = 0, loaded = 0;

    if (!d)
        return 0;
    while ((e = readdir(d)) && count < 4096) {
        size_t len = strlen(e->d_name);

        if (len > 4 && strcmp(e->d_name + len - 4, ".jpg") == 0)
            names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof(char *), compare_names);
    for (int i = 0; i < count; i++) {
        char path[1024];

        snprintf(path, sizeof(path), "%s/%s", folder, names[i]);
        if (loaded < IMAGES && load_image(path, images + (size_t)loaded * SIDE * SIDE))
            loaded++;
        free(names[i]);
    }
    return loaded;
}

typedef struct model {
    advgnn_nn *nn;
    advgnn_layer *layers[LAYERS];
    int count;
} model;

/* conv 1->8 s2, BN, ReLU, conv 8->16 s2, BN, ReLU, deconv 16->8 x2, ReLU, deconv 8->1 x2, sigmoid. */
static int build_model(advgnn_ctx *ctx, advgnn_dtype dtype, model *m)
{
    advgnn_conv2d_desc c1 = {.out_channels = 8, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                             .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_conv2d_desc c2 = c1, d1 = {.out_channels = 8, .kernel_h = 4, .kernel_w = 4, .stride_h = 2, .stride_w = 2,
                                      .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_conv2d_desc d2 = d1;
    int64_t s0[4] = {BATCH, 1, SIDE, SIDE}, s1[4] = {BATCH, 8, SIDE / 2, SIDE / 2};
    int64_t s2[4] = {BATCH, 16, SIDE / 4, SIDE / 4}, s3[4] = {BATCH, 8, SIDE / 2, SIDE / 2};
    int rc;

    c2.out_channels = 16;
    d2.out_channels = 1;
    memset(m, 0, sizeof(*m));
    rc = advgnn_nn_new(ctx, &m->nn);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv2d(m->nn, ctx, "enc.conv1", dtype, s0, &c1, &m->layers[0]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_batch_norm(m->nn, ctx, "enc.bn1", dtype, s1, 1e-5, 0.1, &m->layers[1]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_activation(m->nn, ctx, "enc.act1", dtype, s1, ADVGNN_ACTIVATION_RELU, &m->layers[2]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv2d(m->nn, ctx, "enc.conv2", dtype, s1, &c2, &m->layers[3]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_batch_norm(m->nn, ctx, "enc.bn2", dtype, s2, 1e-5, 0.1, &m->layers[4]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_activation(m->nn, ctx, "enc.act2", dtype, s2, ADVGNN_ACTIVATION_RELU, &m->layers[5]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv_transpose2d(m->nn, ctx, "dec.up1", dtype, s2, &d1, &m->layers[6]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_activation(m->nn, ctx, "dec.act1", dtype, s3, ADVGNN_ACTIVATION_RELU, &m->layers[7]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_conv_transpose2d(m->nn, ctx, "dec.up2", dtype, s3, &d2, &m->layers[8]);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_activation(m->nn, ctx, "dec.out", dtype, s0, ADVGNN_ACTIVATION_SIGMOID, &m->layers[9]);
    m->count = LAYERS;
    if (rc == ADVGNN_OK)
        advgnn_layer_set_input_grad(m->layers[0], 0);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_commit(m->nn, ctx);
    return rc;
}

static int forward(advgnn_ctx *ctx, model *m, const advgnn_tensor *x, advgnn_nn_mode mode)
{
    const advgnn_tensor *in = x;
    int rc = ADVGNN_OK;

    for (int i = 0; i < m->count && rc == ADVGNN_OK; i++) {
        rc = advgnn_layer_forward1(m->layers[i], ctx, in, mode);
        in = advgnn_layer_output(m->layers[i]);
    }
    return rc;
}

/* Trains for STEPS steps with Adam and MSE and fills losses[STEPS]. The
 * trained model stays in *m; the caller frees m->nn with advgnn_nn_free. */
static int train(advgnn_ctx *ctx, advgnn_dtype dtype, const float *images, int count, uint64_t seed, model *m,
                 double *losses)
{
    int64_t shape[4] = {BATCH, 1, SIDE, SIDE};
    advgnn_optim_config adam = {.kind = ADVGNN_OPTIM_ADAM};
    advgnn_lr_schedule sched = {.kind = ADVGNN_LR_COSINE, .lr = 0.01, .min_lr = 0.001, .warmup_steps = 5,
                                .total_steps = STEPS};
    advgnn_optim *opt = NULL;
    advgnn_tensor x32, x, target, grad32, grad, out32;
    int rc;

    rc = build_model(ctx, dtype, m);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_init_params(m->nn, ctx, seed);
    if (rc == ADVGNN_OK)
        rc = advgnn_optim_new(ctx, m->nn, &adam, &opt);
    if (rc != ADVGNN_OK)
        return rc;
    advgnn_tensor_alloc(ctx, &x32, ADVGNN_DTYPE_F32, 4, shape);
    advgnn_tensor_alloc(ctx, &x, dtype, 4, shape);
    advgnn_tensor_alloc(ctx, &target, ADVGNN_DTYPE_F32, 4, shape);
    advgnn_tensor_alloc(ctx, &out32, ADVGNN_DTYPE_F32, 4, shape);
    advgnn_tensor_alloc(ctx, &grad32, ADVGNN_DTYPE_F32, 4, shape);
    advgnn_tensor_alloc(ctx, &grad, dtype, 4, shape);

    for (int step = 0; step < STEPS && rc == ADVGNN_OK; step++) {
        int first = (step * BATCH) % count;
        size_t bytes = (size_t)SIDE * SIDE * sizeof(float), n = (size_t)BATCH * SIDE * SIDE;
        const advgnn_tensor *dy;

        /* The batch is both input and target; bf16 runs see it rounded. */
        for (int b = 0; b < BATCH; b++)
            memcpy((float *)x32.data + (size_t)b * SIDE * SIDE, images + (size_t)((first + b) % count) * SIDE * SIDE,
                   bytes);
        memcpy(target.data, x32.data, n * sizeof(float));
        if (dtype == ADVGNN_DTYPE_BF16)
            advgnn_f32_to_bf16(x32.data, x.data, n);
        else
            memcpy(x.data, x32.data, n * sizeof(float));

        rc = forward(ctx, m, &x, ADVGNN_NN_MODE_TRAINING);
        if (rc != ADVGNN_OK)
            break;
        if (dtype == ADVGNN_DTYPE_BF16)
            advgnn_bf16_to_f32(advgnn_layer_output(m->layers[m->count - 1])->data, out32.data, n);
        else
            memcpy(out32.data, advgnn_layer_output(m->layers[m->count - 1])->data, n * sizeof(float));
        rc = advgnn_loss_mse(ctx, &out32, &target, &grad32, &losses[step]);
        if (dtype == ADVGNN_DTYPE_BF16)
            advgnn_f32_to_bf16(grad32.data, grad.data, n);
        else
            memcpy(grad.data, grad32.data, n * sizeof(float));

        dy = &grad;
        for (int i = m->count - 1; i >= 0 && rc == ADVGNN_OK; i--) {
            rc = advgnn_layer_backward(m->layers[i], ctx, dy);
            dy = advgnn_layer_input_grad(m->layers[i], 0);
        }
        if (rc == ADVGNN_OK) {
            advgnn_nn_clip_grad_norm(m->nn, 5.0);
            rc = advgnn_optim_step(opt, ctx, advgnn_lr_at(&sched, step));
        }
    }
    advgnn_optim_free(opt);
    advgnn_tensor_release(&x32);
    advgnn_tensor_release(&x);
    advgnn_tensor_release(&target);
    advgnn_tensor_release(&out32);
    advgnn_tensor_release(&grad32);
    advgnn_tensor_release(&grad);
    return rc;
}

static void check_descending(const double *losses, const char *label)
{
    double previous = INFINITY;

    printf("%s loss per window of %d steps:", label, WINDOW);
    for (int w = 0; w < STEPS / WINDOW; w++) {
        double mean = 0;

        for (int i = 0; i < WINDOW; i++)
            mean += losses[w * WINDOW + i] / WINDOW;
        printf(" %.5f", mean);
        CHECK(mean < previous);
        previous = mean;
    }
    printf("\n");
    CHECK(losses[STEPS - 1] < 0.5 * losses[0]);
}

/* Same seed, same threads: every parameter and buffer bitwise equal. */
static void check_identical(const model *a, const model *b)
{
    int same = advgnn_nn_param_count(a->nn) == advgnn_nn_param_count(b->nn);

    for (size_t i = 0; same && i < advgnn_nn_param_count(a->nn); i++) {
        const advgnn_tensor *x = advgnn_nn_param_at(a->nn, i)->value, *y = advgnn_nn_param_at(b->nn, i)->value;

        if (memcmp(x->data, y->data, (size_t)advgnn_tensor_numel(x) * sizeof(float)) != 0) {
            fprintf(stderr, "parameter %s differs between runs\n", advgnn_nn_param_at(a->nn, i)->name);
            same = 0;
        }
    }
    CHECK(same);
}

/* Saved weights reload into a fresh model with the same inference output. */
static void check_reload(advgnn_ctx *ctx, model *trained, const float *images)
{
    char path[] = "/tmp/advgnn-autoencoder-XXXXXX";
    int fd = mkstemp(path);
    int64_t shape[4] = {BATCH, 1, SIDE, SIDE};
    advgnn_tensor x;
    model fresh;
    size_t n = (size_t)BATCH * SIDE * SIDE;
    float *expected = malloc(n * sizeof(float));

    close(fd);
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    memcpy(x.data, images, n * sizeof(float));
    NN_CHECK_OK(ctx, forward(ctx, trained, &x, ADVGNN_NN_MODE_INFERENCE));
    memcpy(expected, advgnn_layer_output(trained->layers[LAYERS - 1])->data, n * sizeof(float));
    NN_CHECK_OK(ctx, advgnn_nn_save(trained->nn, ctx, path));

    NN_CHECK_OK(ctx, build_model(ctx, ADVGNN_DTYPE_F32, &fresh));
    NN_CHECK_OK(ctx, advgnn_nn_load(fresh.nn, ctx, path));
    NN_CHECK_OK(ctx, forward(ctx, &fresh, &x, ADVGNN_NN_MODE_INFERENCE));
    CHECK(memcmp(expected, advgnn_layer_output(fresh.layers[LAYERS - 1])->data, n * sizeof(float)) == 0);
    unlink(path);
    advgnn_nn_free(fresh.nn);
    advgnn_tensor_release(&x);
    free(expected);
}

int main(void)
{
    float *images = malloc(sizeof(float) * IMAGES * SIDE * SIDE);
    double losses_a[STEPS], losses_b[STEPS], losses_16[STEPS];
    advgnn_ctx *ctx = advgnn_ctx_new();
    model a, b, c;
    int count = load_dataset(images);

    if (count < BATCH) {
        printf("SKIP: fewer than %d Magnetic Tile images under %s\n", BATCH, ADVGNN_SHARED_DATA);
        free(images);
        advgnn_ctx_free(ctx);
        return 77;
    }
    printf("training on %d Magnetic Tile images of %dx%d\n", count, SIDE, SIDE);
    advgnn_ctx_set_threads(ctx, 2);

    NN_CHECK_OK(ctx, train(ctx, ADVGNN_DTYPE_F32, images, count, 1234, &a, losses_a));
    check_descending(losses_a, "f32");
    NN_CHECK_OK(ctx, train(ctx, ADVGNN_DTYPE_F32, images, count, 1234, &b, losses_b));
    CHECK(memcmp(losses_a, losses_b, sizeof(losses_a)) == 0);
    check_identical(&a, &b);
    check_reload(ctx, &a, images);

    c.nn = NULL;
    if (nn_test_bf16(ctx)) {
        NN_CHECK_OK(ctx, train(ctx, ADVGNN_DTYPE_BF16, images, count, 1234, &c, losses_16));
        check_descending(losses_16, "bf16");
    }

    advgnn_nn_free(a.nn);
    advgnn_nn_free(b.nn);
    advgnn_nn_free(c.nn);
    advgnn_ctx_free(ctx);
    free(images);
    return CHECK_DONE();
}
