/* Resuming the training loop (advgnn/train.h) with every optimizer: two
 * epochs, a checkpoint, then two more in a fresh engine and in a new process
 * (this program with --resume), against four epochs in one go, on real
 * Magnetic Tile images. Weights, losses and the files of the last checkpoint
 * must be equal bit for bit. Also the errors of a checkpoint whose optimizer state is of another kind,
 * missing, or from another step. */
#include <stdlib.h>
#include <unistd.h>

#include "advgnn/advgnn.h"
#include "advgnn/train.h"
#include "check.h"
#include "mt_images.h"

#define SIDE 16
#define TRAIN_IMAGES 16
#define VAL_IMAGES 6 /* not a multiple of BATCH, so validation pads its last batch */
#define BATCH 4

static advgnn_ctx *ctx;
static mt_images train_set, val_set;

#define OK(expr)                                                                                          \
    do {                                                                                                  \
        int rc_ = (expr);                                                                                 \
        if (rc_ != ADVGNN_OK) {                                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, advgnn_ctx_error(ctx)); \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* ---- a small autoencoder ----------------------------------------------- */

/* conv 3->6 3x3, batch norm, ReLU, conv 6->3 3x3 on (BATCH, 3, SIDE, SIDE),
 * trained to reproduce its input with the MSE loss. */
typedef struct net {
    advgnn_nn *nn;
    advgnn_layer *layers[4];
    advgnn_tensor grad; /* (BATCH, 3, SIDE, SIDE) f32 */
} net;

static void net_build(net *m, uint64_t seed)
{
    int64_t shape[4] = {BATCH, 3, SIDE, SIDE}, mid[4] = {BATCH, 6, SIDE, SIDE};
    advgnn_conv2d_desc c1 = {.out_channels = 6, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_conv2d_desc c2 = c1;

    c2.out_channels = 3;
    memset(m, 0, sizeof(*m));
    OK(advgnn_nn_new(ctx, &m->nn));
    OK(advgnn_nn_conv2d(m->nn, ctx, "enc", ADVGNN_DTYPE_F32, shape, &c1, &m->layers[0]));
    OK(advgnn_nn_batch_norm(m->nn, ctx, "bn", ADVGNN_DTYPE_F32, mid, 1e-5, 0.1, &m->layers[1]));
    OK(advgnn_nn_activation(m->nn, ctx, "act", ADVGNN_DTYPE_F32, mid, ADVGNN_ACTIVATION_RELU, &m->layers[2]));
    OK(advgnn_nn_conv2d(m->nn, ctx, "dec", ADVGNN_DTYPE_F32, mid, &c2, &m->layers[3]));
    advgnn_layer_set_input_grad(m->layers[0], 0);
    OK(advgnn_nn_commit(m->nn, ctx));
    OK(advgnn_nn_init_params(m->nn, ctx, seed));
    OK(advgnn_tensor_alloc(ctx, &m->grad, ADVGNN_DTYPE_F32, 4, shape));
}

static void net_free(net *m)
{
    advgnn_tensor_release(&m->grad);
    advgnn_nn_free(m->nn);
}

/* The loop's step callback: the loss covers the first `valid` images. */
static int net_step(void *user, advgnn_ctx *c, const advgnn_tensor *images, size_t valid, int training, double *loss)
{
    net *m = user;
    const advgnn_tensor *x = images;
    advgnn_nn_mode mode = training ? ADVGNN_NN_MODE_TRAINING : ADVGNN_NN_MODE_INFERENCE;
    int64_t part[4] = {(int64_t)valid, 3, SIDE, SIDE};
    advgnn_tensor pred, target;
    int rc = ADVGNN_OK;

    for (int i = 0; i < 4 && rc == ADVGNN_OK; i++) {
        rc = advgnn_layer_forward1(m->layers[i], c, x, mode);
        x = advgnn_layer_output(m->layers[i]);
    }
    if (rc != ADVGNN_OK)
        return rc;
    if (!training) {
        pred = advgnn_tensor_view(x->data, ADVGNN_DTYPE_F32, 4, part);
        target = advgnn_tensor_view(images->data, ADVGNN_DTYPE_F32, 4, part);
        return advgnn_loss_mse(c, &pred, &target, NULL, loss);
    }

    rc = advgnn_loss_mse(c, x, images, &m->grad, loss);
    x = &m->grad;
    for (int i = 3; i >= 0 && rc == ADVGNN_OK; i--) {
        rc = advgnn_layer_backward(m->layers[i], c, x);
        x = advgnn_layer_input_grad(m->layers[i], 0);
    }
    return rc;
}

static int run(net *m, const advgnn_train_config *c, advgnn_train_history *h)
{
    advgnn_image_source train = mt_source(&train_set), val = mt_source(&val_set);

    return advgnn_train_run(ctx, m->nn, c, &train, &val, 3, SIDE, SIDE, net_step, m, h);
}

/* ---- files --------------------------------------------------------------- */

static void make_temp_dir(char *path)
{
    strcpy(path, "/tmp/advgnn-resume-XXXXXX");
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_dir(const char *dir)
{
    char command[256];

    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

/* Reads a whole file; returns NULL when it cannot. */
static char *read_all(const char *dir, const char *name, long *size)
{
    char path[256];
    FILE *f;
    char *data;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)*size + 1);
    if (data && fread(data, 1, (size_t)*size, f) != (size_t)*size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static int same_file(const char *dir_a, const char *dir_b, const char *name)
{
    long size_a = 0, size_b = 0;
    char *a = read_all(dir_a, name, &size_a), *b = read_all(dir_b, name, &size_b);
    int same = a && b && size_a == size_b && memcmp(a, b, (size_t)size_a) == 0;

    if (!same)
        fprintf(stderr, "%s differs between %s and %s\n", name, dir_a, dir_b);
    free(a);
    free(b);
    return same;
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name)
{
    char path[256];
    long size = 0;
    char *data = read_all(from_dir, name, &size);
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", to_dir, name);
    f = fopen(path, "wb");
    CHECK(data != NULL);
    CHECK(f != NULL);
    if (data && f)
        CHECK(fwrite(data, 1, (size_t)size, f) == (size_t)size);
    if (f)
        fclose(f);
    free(data);
}

static int same_weights(advgnn_nn *a, advgnn_nn *b)
{
    for (size_t i = 0; i < advgnn_nn_param_count(a); i++) {
        const advgnn_tensor *x = advgnn_nn_param_at(a, i)->value, *y = advgnn_nn_param_at(b, i)->value;

        if (memcmp(x->data, y->data, (size_t)advgnn_tensor_numel(x) * sizeof(float)) != 0) {
            fprintf(stderr, "parameter %s differs\n", advgnn_nn_param_at(a, i)->name);
            return 0;
        }
    }
    return 1;
}

/* ---- tests ----------------------------------------------------------------- */

typedef struct resume_case {
    const char *name;
    advgnn_optim_config optim;
    advgnn_lr_kind schedule;
} resume_case;

static const resume_case cases[] = {
    {"sgd", {.kind = ADVGNN_OPTIM_SGD}, ADVGNN_LR_STEP},
    {"sgd_momentum", {.kind = ADVGNN_OPTIM_SGD, .momentum = 0.9, .weight_decay = 1e-4}, ADVGNN_LR_COSINE},
    {"adam", {.kind = ADVGNN_OPTIM_ADAM}, ADVGNN_LR_PLATEAU},
    {"adamw", {.kind = ADVGNN_OPTIM_ADAMW, .weight_decay = 0.05}, ADVGNN_LR_COSINE},
    {"rmsprop", {.kind = ADVGNN_OPTIM_RMSPROP}, ADVGNN_LR_STEP},
    {"rmsprop_momentum", {.kind = ADVGNN_OPTIM_RMSPROP, .momentum = 0.5}, ADVGNN_LR_CONSTANT},
};

static advgnn_train_config case_config(const resume_case *rc)
{
    advgnn_train_config c = {.epochs = 4, .batch_size = BATCH, .seed = 13, .label = rc->name, .optim = rc->optim};
    int steps_per_epoch = TRAIN_IMAGES / BATCH;

    c.schedule.kind = rc->schedule;
    c.schedule.lr = rc->optim.kind == ADVGNN_OPTIM_SGD ? 0.05 : 0.003;
    c.schedule.min_lr = c.schedule.lr / 20;
    c.schedule.gamma = 0.5;
    c.schedule.step_size = 3;
    c.schedule.warmup_steps = 2;
    c.schedule.total_steps = 4 * steps_per_epoch;
    c.schedule.factor = 0.5;
    c.schedule.patience = 0; /* every epoch without improvement halves the rate */
    c.schedule.threshold = 0.5;
    return c;
}

/* The child process of a resume: continues case `index` from `from` to
 * four epochs and writes its last checkpoint to `to`. Returns the exit status. */
static int resume_in_child(int index, const char *from, const char *to)
{
    advgnn_train_config c = case_config(&cases[index]);
    advgnn_train_history h;
    net m;
    int rc;

    c.resume_from = from;
    c.checkpoint_dir = to;
    net_build(&m, 99);
    rc = run(&m, &c, &h);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "child: %s\n", advgnn_ctx_error(ctx));
    advgnn_train_history_free(&h);
    net_free(&m);
    return rc == ADVGNN_OK ? 0 : 1;
}

static const char *self_path; /* argv[0], for starting the child process */

/* Four epochs against two, a checkpoint and two more, once in a fresh engine
 * of this process and once in a new process. */
static void test_resume_every_optimizer(void)
{
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        advgnn_train_config c = case_config(&cases[k]);
        advgnn_train_history full, first, second;
        char dir_full[64], dir_part[64], dir_resumed[64], dir_child[64], command[512];
        int same;
        net a, b, resumed;

        make_temp_dir(dir_full);
        make_temp_dir(dir_part);
        make_temp_dir(dir_resumed);
        make_temp_dir(dir_child);
        c.checkpoint_dir = dir_full;
        net_build(&a, 3);
        OK(run(&a, &c, &full));

        c.epochs = 2;
        c.checkpoint_dir = dir_part;
        net_build(&b, 3);
        OK(run(&b, &c, &first));
        net_free(&b);

        /* Other initial weights, so that every value must come from the checkpoint. */
        c.epochs = 4;
        c.resume_from = dir_part;
        c.checkpoint_dir = dir_resumed;
        net_build(&resumed, 99);
        OK(run(&resumed, &c, &second));

        same = same_weights(a.nn, resumed.nn);
        printf("resume %-16s weights after 2 + 2 epochs: %s; lr at the end %.6g\n", cases[k].name,
               same ? "bitwise equal" : "DIFFERENT", full.lr[3]);
        CHECK(same);
        CHECK_INT_EQ(second.epochs, 4);
        CHECK_INT_EQ(second.steps, full.steps);
        CHECK_INT_EQ(second.best_epoch, full.best_epoch);
        CHECK(memcmp(full.train_loss, second.train_loss, sizeof(double) * 4) == 0);
        CHECK(memcmp(full.val_loss, second.val_loss, sizeof(double) * 4) == 0);
        CHECK(memcmp(full.lr, second.lr, sizeof(double) * 4) == 0);
        CHECK(same_file(dir_full, dir_resumed, "checkpoint.optimizer.safetensors"));
        CHECK(same_file(dir_full, dir_resumed, "checkpoint.safetensors"));

        snprintf(command, sizeof(command), "'%s' --resume %zu '%s' '%s'", self_path, k, dir_part, dir_child);
        CHECK_INT_EQ(system(command), 0);
        CHECK(same_file(dir_full, dir_child, "checkpoint.optimizer.safetensors"));
        CHECK(same_file(dir_full, dir_child, "checkpoint.safetensors"));

        advgnn_train_history_free(&full);
        advgnn_train_history_free(&first);
        advgnn_train_history_free(&second);
        net_free(&a);
        net_free(&resumed);
        remove_dir(dir_full);
        remove_dir(dir_part);
        remove_dir(dir_resumed);
        remove_dir(dir_child);
    }
}

/* A checkpoint of Adam resumed with SGD, with the optimizer file of a later
 * or an earlier epoch, and without its optimizer file. */
static void test_resume_errors(void)
{
    advgnn_train_config c = case_config(&cases[2]);
    advgnn_train_history h;
    char dir_one[64], dir_two[64], dir_mix[64], path[160];
    net m;

    make_temp_dir(dir_one);
    make_temp_dir(dir_two);
    make_temp_dir(dir_mix);
    net_build(&m, 5);
    c.epochs = 1;
    c.checkpoint_dir = dir_one;
    OK(run(&m, &c, &h));
    advgnn_train_history_free(&h);
    c.epochs = 2;
    c.checkpoint_dir = dir_two;
    OK(run(&m, &c, &h));
    advgnn_train_history_free(&h);

    c.epochs = 3;
    c.checkpoint_dir = NULL;
    c.resume_from = dir_two;
    c.optim = cases[1].optim;
    CHECK_INT_EQ(run(&m, &c, &h), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "holds adam state, but the optimizer is sgd");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), dir_two);
    advgnn_ctx_clear_error(ctx);
    advgnn_train_history_free(&h);

    /* A write of epoch 2's checkpoint over epoch 1's, cut short after the
     * optimizer state, the first file written. */
    c.optim = cases[2].optim;
    c.resume_from = dir_mix;
    copy_file(dir_one, dir_mix, "checkpoint.json");
    copy_file(dir_one, dir_mix, "checkpoint.safetensors");
    copy_file(dir_two, dir_mix, "checkpoint.optimizer.safetensors");
    CHECK_INT_EQ(run(&m, &c, &h), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "is from optimizer step 8 but");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "checkpoint.json from step 4");
    advgnn_ctx_clear_error(ctx);
    advgnn_train_history_free(&h);

    c.resume_from = dir_two;
    /* Epoch 1's optimizer state beside epoch 2's weights and loop state. */
    copy_file(dir_one, dir_two, "checkpoint.optimizer.safetensors");
    CHECK_INT_EQ(run(&m, &c, &h), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "is from optimizer step 4 but");
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "checkpoint.json from step 8");
    advgnn_ctx_clear_error(ctx);
    advgnn_train_history_free(&h);

    snprintf(path, sizeof(path), "%s/checkpoint.optimizer.safetensors", dir_two);
    CHECK(unlink(path) == 0);
    CHECK_INT_EQ(run(&m, &c, &h), ADVGNN_ERR_NOT_FOUND);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), path);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "does not exist, so the optimizer state is unknown");
    advgnn_ctx_clear_error(ctx);
    advgnn_train_history_free(&h);

    net_free(&m);
    remove_dir(dir_one);
    remove_dir(dir_two);
    remove_dir(dir_mix);
}

int main(int argc, char **argv)
{
    int child = argc == 5 && strcmp(argv[1], "--resume") == 0;

    self_path = argv[0];
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
    if (child) {
        int status = resume_in_child(atoi(argv[2]), argv[3], argv[4]);

        mt_free(&train_set);
        mt_free(&val_set);
        advgnn_ctx_free(ctx);
        return status;
    }
    test_resume_every_optimizer();
    test_resume_errors();
    mt_free(&train_set);
    mt_free(&val_set);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
