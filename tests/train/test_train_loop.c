/* The training loop (advgnn/train.h) on a tiny convolutional autoencoder and
 * real Magnetic Tile images: the loss falls, a seed fixes every weight, a
 * resumed run equals an uninterrupted one, a non-finite loss names its epoch
 * and step and keeps the last good checkpoint, early stopping stops. */
#include <stdlib.h>
#include <unistd.h>

#include "ae.h"
#include "check.h"
#include "mt_images.h"

#define SIDE 32
#define TRAIN_IMAGES 48
#define VAL_IMAGES 8
#define BATCH 8

static advgnn_ctx *ctx;
static mt_images train_set, val_set;

#define OK(expr)                                                                                              \
    do {                                                                                                      \
        int rc_ = (expr);                                                                                     \
        if (rc_ != ADVGNN_OK) {                                                                               \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, advgnn_ctx_error(ctx));     \
            exit(1);                                                                                          \
        }                                                                                                     \
    } while (0)

/* conv 3->8 s2, BN, ReLU, conv 8->16 s2, BN, ReLU, deconv 16->8, BN, ReLU, deconv 8->8, BN, ReLU, conv 8->3. */
static void build(ae_net *net, uint64_t seed)
{
    int64_t shape[4] = {BATCH, 3, SIDE, SIDE};
    int n = AE_INPUT;

    OK(ae_net_new(ctx, shape, net));
    OK(ae_conv_bn(net, ctx, "enc.1", n, 8, 3, 2, 1, ADVGNN_ACTIVATION_RELU, &n));
    OK(ae_conv_bn(net, ctx, "enc.2", n, 16, 3, 2, 1, ADVGNN_ACTIVATION_RELU, &n));
    OK(ae_deconv(net, ctx, "dec.1", n, 8, &n));
    OK(ae_bn(net, ctx, "dec.1.bn", n, &n));
    OK(ae_act(net, ctx, "dec.1.act", n, ADVGNN_ACTIVATION_RELU, &n));
    OK(ae_deconv(net, ctx, "dec.2", n, 8, &n));
    OK(ae_bn(net, ctx, "dec.2.bn", n, &n));
    OK(ae_act(net, ctx, "dec.2.act", n, ADVGNN_ACTIVATION_RELU, &n));
    OK(ae_conv(net, ctx, "dec.out", n, 3, 3, 1, 1, &n));
    net->output = n;
    net->ssim_weight = 0.5;
    net->ssim_range = 4.0;
    OK(ae_net_finish(net, ctx, seed));
}

static advgnn_train_config base_config(void)
{
    advgnn_train_config c = {.epochs = 4, .batch_size = BATCH, .seed = 7, .label = "test"};

    c.optim.kind = ADVGNN_OPTIM_ADAM;
    c.schedule.kind = ADVGNN_LR_CONSTANT;
    c.schedule.lr = 0.01;
    return c;
}

static int run(ae_net *net, const advgnn_train_config *c, advgnn_train_history *h)
{
    advgnn_image_source train = mt_source(&train_set), val = mt_source(&val_set);

    return advgnn_train_run(ctx, net->nn, c, &train, &val, 3, SIDE, SIDE, ae_train_step, net, h);
}

static int same_weights(const ae_net *a, const ae_net *b)
{
    size_t count = advgnn_nn_param_count(a->nn);

    if (count != advgnn_nn_param_count(b->nn))
        return 0;
    for (size_t i = 0; i < count; i++) {
        const advgnn_tensor *x = advgnn_nn_param_at(a->nn, i)->value, *y = advgnn_nn_param_at(b->nn, i)->value;

        if (memcmp(x->data, y->data, (size_t)advgnn_tensor_numel(x) * sizeof(float)) != 0) {
            fprintf(stderr, "parameter %s differs\n", advgnn_nn_param_at(a->nn, i)->name);
            return 0;
        }
    }
    return 1;
}

static void make_temp_dir(char *path)
{
    strcpy(path, "/tmp/advgnn-train-XXXXXX");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_checkpoint(const char *dir)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/checkpoint.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/checkpoint.json", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/checkpoint.optimizer.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

/* The loss falls, and a second run with the same seed is bitwise identical. */
static void test_descends_and_repeats(void)
{
    advgnn_train_config c = base_config();
    advgnn_train_history h1, h2;
    ae_net a, b;

    c.epochs = 5;
    c.schedule.kind = ADVGNN_LR_COSINE;
    c.schedule.min_lr = 0.001;
    c.schedule.total_steps = 5 * TRAIN_IMAGES / BATCH;
    build(&a, 11);
    OK(run(&a, &c, &h1));
    printf("train loss per epoch:");
    for (int e = 0; e < h1.epochs; e++)
        printf(" %.4f", h1.train_loss[e]);
    printf("\nvalidation loss per epoch:");
    for (int e = 0; e < h1.epochs; e++)
        printf(" %.4f", h1.val_loss[e]);
    printf("\n");
    CHECK_INT_EQ(h1.epochs, 5);
    CHECK(h1.train_loss[4] < 0.6 * h1.train_loss[0]);
    CHECK(h1.val_loss[4] < h1.val_loss[0]);
    CHECK(h1.best_epoch >= 3);
    CHECK_INT_EQ(h1.steps, 5 * TRAIN_IMAGES / BATCH);

    build(&b, 11);
    OK(run(&b, &c, &h2));
    CHECK(same_weights(&a, &b));
    CHECK(memcmp(h1.train_loss, h2.train_loss, sizeof(double) * 5) == 0);
    CHECK(memcmp(h1.val_loss, h2.val_loss, sizeof(double) * 5) == 0);
    advgnn_train_history_free(&h1);
    advgnn_train_history_free(&h2);
    ae_net_free(&a);
    ae_net_free(&b);
}

/* Two epochs, a checkpoint, two more from it: the same weights and losses as
 * four epochs in one go. Plain SGD, whose state is only the weights. */
static void test_resume(void)
{
    advgnn_train_config c = base_config();
    advgnn_train_history full, first, second;
    char dir_full[64], dir_part[64];
    ae_net a, b, resumed;

    make_temp_dir(dir_full);
    make_temp_dir(dir_part);
    c.optim.kind = ADVGNN_OPTIM_SGD;
    c.schedule.kind = ADVGNN_LR_STEP;
    c.schedule.lr = 0.05;
    c.schedule.gamma = 0.5;
    c.schedule.step_size = 5;
    c.checkpoint_dir = dir_full;
    build(&a, 3);
    OK(run(&a, &c, &full));

    c.epochs = 2;
    c.checkpoint_dir = dir_part;
    build(&b, 3);
    OK(run(&b, &c, &first));
    CHECK_INT_EQ(first.epochs, 2);

    c.epochs = 4;
    c.resume_from = dir_part;
    build(&resumed, 99); /* another seed: every weight must come from the checkpoint */
    OK(run(&resumed, &c, &second));
    CHECK_INT_EQ(second.epochs, 4);
    CHECK_INT_EQ(second.steps, full.steps);
    CHECK(same_weights(&a, &resumed));
    CHECK(memcmp(full.train_loss, second.train_loss, sizeof(double) * 4) == 0);
    CHECK(memcmp(full.val_loss, second.val_loss, sizeof(double) * 4) == 0);

    /* A folder without a checkpoint is rejected with its name. */
    advgnn_train_history_free(&first);
    c.resume_from = "/tmp/advgnn-no-such-checkpoint";
    CHECK_INT_EQ(run(&b, &c, &first), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "/tmp/advgnn-no-such-checkpoint");
    advgnn_ctx_clear_error(ctx);

    /* A file in place of the folder is named as not a folder. */
    {
        char file[512];

        advgnn_train_history_free(&first);
        snprintf(file, sizeof(file), "%s/checkpoint.json", dir_part);
        c.resume_from = file;
        CHECK_INT_EQ(run(&b, &c, &first), ADVGNN_ERR_NOT_FOUND);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "checkpoint.json is not a folder; name the checkpoint folder");
        advgnn_ctx_clear_error(ctx);
    }

    advgnn_train_history_free(&full);
    advgnn_train_history_free(&first);
    advgnn_train_history_free(&second);
    ae_net_free(&a);
    ae_net_free(&b);
    ae_net_free(&resumed);
    remove_checkpoint(dir_full);
    remove_checkpoint(dir_part);
}

/* Epoch 1 trains normally; from epoch 2 the learning rate is absurd. */
static void test_nonfinite_loss(void)
{
    advgnn_train_config c = base_config();
    advgnn_train_history h;
    char dir[64], path[128], *text = NULL;
    const char *where;
    int epoch = 0, step = 0;
    ae_net net;
    FILE *f;
    long size;

    make_temp_dir(dir);
    c.epochs = 6;
    c.optim.kind = ADVGNN_OPTIM_SGD;
    c.schedule.kind = ADVGNN_LR_STEP;
    c.schedule.lr = 0.01;
    c.schedule.gamma = 1e32;
    c.schedule.step_size = TRAIN_IMAGES / BATCH;
    c.checkpoint_every = 1;
    c.checkpoint_dir = dir;
    build(&net, 5);
    CHECK_INT_EQ(run(&net, &c, &h), ADVGNN_ERR_NUMERIC);
    printf("message: %s\n", advgnn_ctx_error(ctx));
    where = strstr(advgnn_ctx_error(ctx), "at epoch ");
    CHECK(where && sscanf(where, "at epoch %d, step %d", &epoch, &step) == 2);
    CHECK(epoch >= 2 && step >= 1);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), dir);
    CHECK_INT_EQ(h.epochs, epoch - 1);
    advgnn_ctx_clear_error(ctx);

    /* The checkpoint on disk is from the last finished epoch. */
    snprintf(path, sizeof(path), "%s/checkpoint.json", dir);
    f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        text = calloc(1, (size_t)size + 1);
        CHECK(fread(text, 1, (size_t)size, f) == (size_t)size);
        fclose(f);
        snprintf(path, sizeof(path), "\"epoch\":\t%d", epoch - 1);
        CHECK_STR_CONTAINS(text, path);
        free(text);
    }
    advgnn_train_history_free(&h);
    ae_net_free(&net);
    remove_checkpoint(dir);
}

/* No epoch improves on the first by min_delta: patience 2 stops after epoch 3. */
static void test_early_stopping(void)
{
    advgnn_train_config c = base_config();
    advgnn_train_history h;
    ae_net net;

    c.epochs = 10;
    c.patience = 2;
    c.min_delta = 1e9;
    build(&net, 5);
    OK(run(&net, &c, &h));
    CHECK_INT_EQ(h.epochs, 3);
    CHECK(h.stopped_early);
    CHECK_INT_EQ(h.best_epoch, 1);
    advgnn_train_history_free(&h);
    ae_net_free(&net);
}

/* Collects the log lines of a run. */
typedef struct log_lines {
    char text[8192];
    size_t length;
} log_lines;

static void collect_line(void *user, advgnn_log_level level, const char *line)
{
    log_lines *lines = user;
    int written = snprintf(lines->text + lines->length, sizeof(lines->text) - lines->length, "%s\n", line);

    if (written > 0 && lines->length + (size_t)written < sizeof(lines->text))
        lines->length += (size_t)written;
}

/* Epoch lines print the validation loss only when there are validation images. */
static void test_epoch_line_validation(void)
{
    advgnn_train_config c = base_config();
    advgnn_image_source train = mt_source(&train_set), val = mt_source(&val_set);
    advgnn_image_source no_val = {0, NULL, NULL};
    advgnn_train_history h;
    log_lines with = {.length = 0}, without = {.length = 0};
    ae_net net;

    c.epochs = 1;
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_INFO);

    build(&net, 11);
    advgnn_ctx_set_log_sink(ctx, collect_line, &with);
    OK(advgnn_train_run(ctx, net.nn, &c, &train, &val, 3, SIDE, SIDE, ae_train_step, &net, &h));
    advgnn_train_history_free(&h);
    ae_net_free(&net);

    build(&net, 11);
    advgnn_ctx_set_log_sink(ctx, collect_line, &without);
    OK(advgnn_train_run(ctx, net.nn, &c, &train, &no_val, 3, SIDE, SIDE, ae_train_step, &net, &h));
    advgnn_train_history_free(&h);
    ae_net_free(&net);

    advgnn_ctx_set_log_sink(ctx, NULL, NULL);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    CHECK_STR_CONTAINS(with.text, "epoch 1/1 train loss ");
    CHECK_STR_CONTAINS(with.text, " validation loss ");
    CHECK_STR_CONTAINS(without.text, "epoch 1/1 train loss ");
    CHECK(strstr(without.text, "validation loss") == NULL);
    CHECK(strstr(without.text, "nan") == NULL);
}

int main(void)
{
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
    test_descends_and_repeats();
    test_resume();
    test_nonfinite_loss();
    test_early_stopping();
    test_epoch_line_validation();
    mt_free(&train_set);
    mt_free(&val_set);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
