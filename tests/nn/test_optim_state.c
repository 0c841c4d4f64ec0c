/* Optimizer state: the names and shapes of the state tensors and setting
 * them. The updates of every optimizer against torch.optim
 * (tests/nn/optim_goldens.txt, from scripts/make_optim_goldens.py). A save,
 * a fresh engine and a load in the middle of training, which must end bitwise
 * equal to uninterrupted training. Load errors that name the tensor or the
 * kinds, failed allocations in a save and a load, and (with --python) a file
 * read and written by Python's safetensors package. */
#include <stdlib.h>
#include <unistd.h>

#include "nn_test.h"

#define SKIP_CODE 77 /* CTest's SKIP_RETURN_CODE for the --python run */
#define GOLDENS ADVGNN_SOURCE_DIR "/tests/nn/optim_goldens.txt"

static char dir[64];

static void path_in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* ---- a small network and its training step ------------------------------- */

/* conv 3->C 3x3, batch norm, ReLU, conv C->3 3x3 on (4, 3, 8, 8): trainable
 * weights and biases, and batch-norm running statistics, which have no
 * optimizer state. */
typedef struct net {
    advgnn_nn *nn;
    advgnn_layer *layers[4];
    advgnn_tensor input, target, grad; /* (4, 3, 8, 8) f32 */
} net;

static const int64_t net_shape[4] = {4, 3, 8, 8};

static void net_build(advgnn_ctx *ctx, net *m, int channels, uint64_t seed)
{
    int64_t mid[4] = {4, channels, 8, 8};
    advgnn_conv2d_desc c1 = {.out_channels = channels, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1,
                             .bias = 1};
    advgnn_conv2d_desc c2 = c1;
    advgnn_rng rng;

    memset(m, 0, sizeof(*m));
    c2.out_channels = 3;
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &m->nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(m->nn, ctx, "c1", ADVGNN_DTYPE_F32, net_shape, &c1, &m->layers[0]));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(m->nn, ctx, "bn", ADVGNN_DTYPE_F32, mid, 1e-5, 0.1, &m->layers[1]));
    NN_CHECK_OK(ctx, advgnn_nn_activation(m->nn, ctx, "act", ADVGNN_DTYPE_F32, mid, ADVGNN_ACTIVATION_RELU,
                                          &m->layers[2]));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(m->nn, ctx, "c2", ADVGNN_DTYPE_F32, mid, &c2, &m->layers[3]));
    if (m->layers[0])
        advgnn_layer_set_input_grad(m->layers[0], 0);
    NN_CHECK_OK(ctx, advgnn_nn_commit(m->nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_init_params(m->nn, ctx, seed));

    /* The same data for every network: the target is a fixed function of the input. */
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &m->input, ADVGNN_DTYPE_F32, 4, net_shape));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &m->target, ADVGNN_DTYPE_F32, 4, net_shape));
    NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &m->grad, ADVGNN_DTYPE_F32, 4, net_shape));
    advgnn_rng_seed(&rng, 404);
    fill_uniform(&rng, m->input.data, advgnn_tensor_numel(&m->input), -1, 1);
    for (int64_t i = 0; i < advgnn_tensor_numel(&m->input); i++)
        ((float *)m->target.data)[i] = 0.5f * ((float *)m->input.data)[i] * ((float *)m->input.data)[i] - 0.2f;
}

static void net_free(net *m)
{
    advgnn_tensor_release(&m->input);
    advgnn_tensor_release(&m->target);
    advgnn_tensor_release(&m->grad);
    advgnn_nn_free(m->nn);
}

/* One forward, MSE loss, backward and optimizer step with a rate that
 * changes per step. Step `t` counts from 0. */
static void net_train_step(advgnn_ctx *ctx, net *m, advgnn_optim *opt, int t)
{
    const advgnn_tensor *x = &m->input;
    double loss = 0;

    for (int i = 0; i < 4; i++) {
        NN_CHECK_OK(ctx, advgnn_layer_forward1(m->layers[i], ctx, x, ADVGNN_NN_MODE_TRAINING));
        x = advgnn_layer_output(m->layers[i]);
    }
    NN_CHECK_OK(ctx, advgnn_loss_mse(ctx, x, &m->target, &m->grad, &loss));
    x = &m->grad;
    for (int i = 3; i >= 0; i--) {
        NN_CHECK_OK(ctx, advgnn_layer_backward(m->layers[i], ctx, x));
        x = advgnn_layer_input_grad(m->layers[i], 0);
    }
    NN_CHECK_OK(ctx, advgnn_optim_step(opt, ctx, 0.02 / (1.0 + 0.1 * t)));
}

/* The configurations every state test runs: each optimizer, with and
 * without momentum where it has momentum. */
static const advgnn_optim_config configs[] = {
    {.kind = ADVGNN_OPTIM_SGD},
    {.kind = ADVGNN_OPTIM_SGD, .momentum = 0.9, .weight_decay = 0.01},
    {.kind = ADVGNN_OPTIM_ADAM, .weight_decay = 0.01},
    {.kind = ADVGNN_OPTIM_ADAMW, .beta1 = 0.8, .weight_decay = 0.1},
    {.kind = ADVGNN_OPTIM_RMSPROP},
    {.kind = ADVGNN_OPTIM_RMSPROP, .momentum = 0.5},
};
static const char *config_names[] = {"sgd", "sgd_momentum", "adam", "adamw", "rmsprop", "rmsprop_momentum"};
#define CONFIG_COUNT (sizeof(configs) / sizeof(configs[0]))

/* ---- names, shapes, set ------------------------------------------------- */

static void test_names_and_set(advgnn_ctx *ctx)
{
    /* State kinds per trainable parameter, in order, for each configuration. */
    static const char *kinds[CONFIG_COUNT][2] = {
        {NULL, NULL},          {"momentum_buffer", NULL},          {"exp_avg", "exp_avg_sq"},
        {"exp_avg", "exp_avg_sq"}, {"square_avg", NULL}, {"square_avg", "momentum_buffer"},
    };
    static const char *trainable[] = {"c1.weight", "c1.bias", "bn.weight", "bn.bias", "c2.weight", "c2.bias"};
    net m;

    net_build(ctx, &m, 5, 1);
    for (size_t c = 0; c < CONFIG_COUNT; c++) {
        advgnn_optim *opt = NULL;
        size_t per_param = (kinds[c][0] != NULL) + (kinds[c][1] != NULL), index = 0;

        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &configs[c], &opt));
        if (!opt)
            continue;
        CHECK_INT_EQ(advgnn_optim_get_kind(opt), configs[c].kind);
        CHECK_INT_EQ(advgnn_optim_state_count(opt), 6 * per_param);
        CHECK(advgnn_optim_state_at(opt, advgnn_optim_state_count(opt)) == NULL);
        CHECK(advgnn_optim_state_find(opt, "bn.running_mean.exp_avg") == NULL);
        for (size_t p = 0; p < 6; p++) {
            const advgnn_nn_param *param = advgnn_nn_param_find(m.nn, trainable[p]);

            for (int k = 0; k < 2 && kinds[c][k]; k++, index++) {
                const advgnn_optim_state *s = advgnn_optim_state_at(opt, index);
                char want[64];

                snprintf(want, sizeof(want), "%s.%s", trainable[p], kinds[c][k]);
                CHECK(s != NULL);
                if (!s)
                    continue;
                if (strcmp(s->name, want) != 0) {
                    fprintf(stderr, "%s: state %zu is %s, expected %s\n", config_names[c], index, s->name, want);
                    check_failures++;
                }
                CHECK(advgnn_optim_state_find(opt, want) == s);
                CHECK_INT_EQ(s->value->dtype, ADVGNN_DTYPE_F32);
                CHECK_INT_EQ(s->value->ndim, param->value->ndim);
                CHECK(memcmp(s->value->shape, param->value->shape, sizeof(int64_t) * param->value->ndim) == 0);
                CHECK(max_abs(s->value->data, advgnn_tensor_numel(s->value)) == 0);
            }
        }
        CHECK_INT_EQ(advgnn_optim_step_count(opt), 0);
        net_train_step(ctx, &m, opt, 0);
        CHECK_INT_EQ(advgnn_optim_step_count(opt), 1);
        printf("optimizer %-16s %zu state tensors\n", config_names[c], advgnn_optim_state_count(opt));
        advgnn_optim_free(opt);
    }

    /* Setting: a copy goes in; a wrong name, shape or dtype is rejected by name. */
    {
        advgnn_optim *opt = NULL;
        const advgnn_optim_state *s;
        advgnn_tensor value, wrong;

        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &configs[2], &opt));
        s = advgnn_optim_state_find(opt, "c2.bias.exp_avg_sq");
        CHECK(s != NULL);
        NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &value, ADVGNN_DTYPE_F32, 1, (int64_t[]){3}));
        NN_CHECK_OK(ctx, advgnn_tensor_alloc(ctx, &wrong, ADVGNN_DTYPE_F32, 1, (int64_t[]){4}));
        ((float *)value.data)[0] = 0.25f;
        ((float *)value.data)[2] = 7.0f;
        NN_CHECK_OK(ctx, advgnn_optim_state_set(opt, ctx, "c2.bias.exp_avg_sq", &value));
        if (s) {
            CHECK(((float *)s->value->data)[0] == 0.25f);
            CHECK(((float *)s->value->data)[2] == 7.0f);
        }
        CHECK_INT_EQ(advgnn_optim_state_set(opt, ctx, "c2.bias.exp_avg_sq", &wrong), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "state tensor c2.bias.exp_avg_sq has shape [3], the value given [4]");
        advgnn_ctx_clear_error(ctx);
        CHECK_INT_EQ(advgnn_optim_state_set(opt, ctx, "c2.bias.momentum_buffer", &value), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "no state tensor c2.bias.momentum_buffer in this adam optimizer");
        advgnn_ctx_clear_error(ctx);
        value.dtype = ADVGNN_DTYPE_BF16;
        CHECK_INT_EQ(advgnn_optim_state_set(opt, ctx, "c2.bias.exp_avg", &value), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "c2.bias.exp_avg must be set from contiguous f32");
        advgnn_ctx_clear_error(ctx);
        value.dtype = ADVGNN_DTYPE_F32;
        if (s)
            CHECK(((float *)s->value->data)[0] == 0.25f);

        NN_CHECK_OK(ctx, advgnn_optim_set_step_count(opt, ctx, 41));
        CHECK_INT_EQ(advgnn_optim_step_count(opt), 41);
        CHECK_INT_EQ(advgnn_optim_set_step_count(opt, ctx, -1), ADVGNN_ERR_INVALID_ARG);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "invalid step count -1");
        advgnn_ctx_clear_error(ctx);
        CHECK_INT_EQ(advgnn_optim_step_count(opt), 41);
        CHECK(strcmp(advgnn_optim_kind_name(ADVGNN_OPTIM_RMSPROP), "rmsprop") == 0);
        CHECK(strcmp(advgnn_optim_kind_name(ADVGNN_OPTIM_INVALID), "invalid") == 0);
        advgnn_tensor_release(&value);
        advgnn_tensor_release(&wrong);
        advgnn_optim_free(opt);
    }
    net_free(&m);
}

/* ---- torch.optim reference values --------------------------------------- */

static int read_floats(FILE *f, float *out, int count)
{
    for (int i = 0; i < count; i++) {
        if (fscanf(f, "%f", &out[i]) != 1)
            return 0;
    }
    return 1;
}

static int expect_word(FILE *f, const char *word)
{
    char got[32];

    if (fscanf(f, "%31s", got) != 1 || strcmp(got, word) != 0) {
        fprintf(stderr, "%s: expected '%s', read '%s'\n", GOLDENS, word, got);
        return 0;
    }
    return 1;
}

/* Largest |got - want| over the weight (6 values) and the bias (2 values),
 * divided by `scale` (1 for an absolute difference, 0 for the largest
 * |want|, which gives the error relative to the tensor's size). */
static double max_error(const float *weight, const float *bias, const float *want, double scale)
{
    double worst = 0, largest = 0;

    for (int i = 0; i < 8; i++)
        largest = fmax(largest, fabs(want[i]));
    scale = scale > 0 ? scale : largest;
    for (int i = 0; i < 8; i++) {
        double got = i < 6 ? weight[i] : bias[i - 6];

        worst = fmax(worst, fabs(got - want[i]) / scale);
    }
    return worst;
}

/* Runs one golden case; returns 0 when the file ended or is malformed. */
static int run_golden_case(advgnn_ctx *ctx, FILE *f)
{
    advgnn_optim_config config = {0};
    char name[64], word[32];
    int kind, steps, state_lines = 0;
    long long count;
    int64_t shape[4] = {1, 3, 2, 2};
    advgnn_conv2d_desc desc = {.out_channels = 2, .kernel_h = 1, .kernel_w = 1, .bias = 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *layer = NULL;
    advgnn_optim *opt = NULL;
    const advgnn_nn_param *w, *b;
    float values[8];
    double worst_param = 0, worst_state = 0;

    if (fscanf(f, "%31s", word) != 1)
        return 0;
    if (strcmp(word, "case") != 0 ||
        fscanf(f, "%63s %d %lf %lf %lf %lf %lf %lf %d", name, &kind, &config.momentum, &config.beta1, &config.beta2,
               &config.alpha, &config.eps, &config.weight_decay, &steps) != 9) {
        fprintf(stderr, "%s: malformed case line near '%s'\n", GOLDENS, word);
        check_failures++;
        return 0;
    }
    config.kind = (advgnn_optim_kind)kind;
    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "fc", ADVGNN_DTYPE_F32, shape, &desc, &layer));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, nn, &config, &opt));
    w = advgnn_nn_param_find(nn, "fc.weight");
    b = advgnn_nn_param_find(nn, "fc.bias");
    if (!opt || !w || !b || !expect_word(f, "init") || !read_floats(f, values, 8)) {
        check_failures++;
        advgnn_optim_free(opt);
        advgnn_nn_free(nn);
        return 0;
    }
    memcpy(w->value->data, values, 6 * sizeof(float));
    memcpy(b->value->data, values + 6, 2 * sizeof(float));

    /* Each step: the rate and gradients in, the parameters torch had after it. */
    for (int t = 0; t < steps; t++) {
        double lr;

        if (!expect_word(f, "step") || fscanf(f, "%lf", &lr) != 1 || !read_floats(f, values, 8))
            break;
        memcpy(w->grad->data, values, 6 * sizeof(float));
        memcpy(b->grad->data, values + 6, 2 * sizeof(float));
        NN_CHECK_OK(ctx, advgnn_optim_step(opt, ctx, lr));
        if (!expect_word(f, "param") || !read_floats(f, values, 8))
            break;
        worst_param = fmax(worst_param, max_error(w->value->data, b->value->data, values, 1.0));
    }

    /* The state torch kept, under the same names, and nothing else. */
    while (fscanf(f, "%31s", word) == 1 && strcmp(word, "state") == 0) {
        char kind_name[32], weight_name[64], bias_name[64];
        const advgnn_optim_state *sw, *sb;

        if (fscanf(f, "%31s", kind_name) != 1 || !read_floats(f, values, 8))
            break;
        snprintf(weight_name, sizeof(weight_name), "fc.weight.%s", kind_name);
        snprintf(bias_name, sizeof(bias_name), "fc.bias.%s", kind_name);
        sw = advgnn_optim_state_find(opt, weight_name);
        sb = advgnn_optim_state_find(opt, bias_name);
        if (!sw || !sb) {
            fprintf(stderr, "%s: no state tensor %s or %s\n", name, weight_name, bias_name);
            check_failures++;
            continue;
        }
        worst_state = fmax(worst_state, max_error(sw->value->data, sb->value->data, values, 0));
        state_lines++;
    }
    CHECK(strcmp(word, "count") == 0);
    CHECK(fscanf(f, "%lld", &count) == 1);
    CHECK_INT_EQ(advgnn_optim_step_count(opt), count);
    CHECK_INT_EQ(advgnn_optim_state_count(opt), 2 * state_lines);
    CHECK(expect_word(f, "end"));

    /* Both compute in f32 with the same formulas, but torch multiplies by the
     * step size after the division and updates exp_avg with lerp, so the
     * roundings differ by an ulp or two. Parameters are in [-1, 1], where an
     * ulp is at most 6e-8. */
    printf("torch.optim %-16s max |param - torch| %.3g, max state difference %.3g of the tensor's largest value "
           "(%d state kinds)\n",
           name, worst_param, worst_state, state_lines);
    CHECK(worst_param < 3e-7);
    CHECK(worst_state < 1e-6);
    advgnn_optim_free(opt);
    advgnn_nn_free(nn);
    return 1;
}

static void test_torch_goldens(advgnn_ctx *ctx)
{
    FILE *f = fopen(GOLDENS, "r");
    char line[256];
    int cases = 0;

    CHECK(f != NULL);
    if (!f)
        return;
    line[0] = '\0';
    CHECK(fgets(line, sizeof(line), f) != NULL);
    CHECK(line[0] == '#');
    while (run_golden_case(ctx, f))
        cases++;
    fclose(f);
    CHECK_INT_EQ(cases, 7);
}

/* ---- resume ------------------------------------------------------------- */

/* Compares the parameters and buffers of two networks bit for bit. */
static int same_params(advgnn_nn *a, advgnn_nn *b, const char *label)
{
    for (size_t i = 0; i < advgnn_nn_param_count(a); i++) {
        const advgnn_tensor *x = advgnn_nn_param_at(a, i)->value, *y = advgnn_nn_param_at(b, i)->value;

        if (memcmp(x->data, y->data, (size_t)advgnn_tensor_numel(x) * sizeof(float)) != 0) {
            fprintf(stderr, "%s: parameter %s differs (max %.3g)\n", label, advgnn_nn_param_at(a, i)->name,
                    max_abs_diff(x->data, y->data, advgnn_tensor_numel(x)));
            return 0;
        }
    }
    return 1;
}

static int same_state(const advgnn_optim *a, const advgnn_optim *b, const char *label)
{
    if (advgnn_optim_state_count(a) != advgnn_optim_state_count(b) ||
        advgnn_optim_step_count(a) != advgnn_optim_step_count(b)) {
        fprintf(stderr, "%s: state counts or step counts differ\n", label);
        return 0;
    }
    for (size_t i = 0; i < advgnn_optim_state_count(a); i++) {
        const advgnn_optim_state *x = advgnn_optim_state_at(a, i), *y = advgnn_optim_state_at(b, i);

        if (strcmp(x->name, y->name) != 0 ||
            memcmp(x->value->data, y->value->data, (size_t)advgnn_tensor_numel(x->value) * sizeof(float)) != 0) {
            fprintf(stderr, "%s: state %s differs\n", label, x->name);
            return 0;
        }
    }
    return 1;
}

/* Eight steps in one go against four steps, a save, a fresh engine and
 * optimizer that load both files, and four more steps. A third run that
 * loads only the weights shows that the comparison can fail. */
static void test_resume(advgnn_ctx *ctx)
{
    char weights[128], state[128];

    path_in_dir(weights, sizeof(weights), "resume.safetensors");
    path_in_dir(state, sizeof(state), "resume.optimizer.safetensors");
    for (size_t c = 0; c < CONFIG_COUNT; c++) {
        const advgnn_optim_config *config = &configs[c];
        advgnn_optim *opt_full = NULL, *opt_half = NULL, *opt_resumed = NULL, *opt_weights_only = NULL;
        net full, half, resumed, weights_only;
        int same, stateful = config->kind != ADVGNN_OPTIM_SGD || config->momentum > 0;

        net_build(ctx, &full, 6, 21);
        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, full.nn, config, &opt_full));
        for (int t = 0; t < 8 && opt_full; t++)
            net_train_step(ctx, &full, opt_full, t);

        net_build(ctx, &half, 6, 21);
        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, half.nn, config, &opt_half));
        for (int t = 0; t < 4 && opt_half; t++)
            net_train_step(ctx, &half, opt_half, t);
        NN_CHECK_OK(ctx, advgnn_nn_save(half.nn, ctx, weights));
        NN_CHECK_OK(ctx, advgnn_optim_save(opt_half, ctx, state));
        advgnn_optim_free(opt_half);
        net_free(&half);

        /* Other initial weights: everything must come from the files. */
        net_build(ctx, &resumed, 6, 77);
        NN_CHECK_OK(ctx, advgnn_nn_load(resumed.nn, ctx, weights));
        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, resumed.nn, config, &opt_resumed));
        NN_CHECK_OK(ctx, advgnn_optim_load(opt_resumed, ctx, state));
        CHECK_INT_EQ(advgnn_optim_step_count(opt_resumed), 4);
        for (int t = 4; t < 8 && opt_resumed; t++)
            net_train_step(ctx, &resumed, opt_resumed, t);
        same = same_params(full.nn, resumed.nn, config_names[c]) && same_state(opt_full, opt_resumed, config_names[c]);
        printf("resume %-16s after 4 + 4 steps: %s\n", config_names[c], same ? "bitwise equal" : "DIFFERENT");
        CHECK(same);

        net_build(ctx, &weights_only, 6, 77);
        NN_CHECK_OK(ctx, advgnn_nn_load(weights_only.nn, ctx, weights));
        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, weights_only.nn, config, &opt_weights_only));
        for (int t = 4; t < 8 && opt_weights_only; t++)
            net_train_step(ctx, &weights_only, opt_weights_only, t);
        CHECK_INT_EQ(advgnn_nn_param_count(weights_only.nn), advgnn_nn_param_count(full.nn));
        for (size_t i = 0; i < advgnn_nn_param_count(full.nn); i++) {
            const advgnn_tensor *x = advgnn_nn_param_at(full.nn, i)->value;
            const advgnn_tensor *y = advgnn_nn_param_at(weights_only.nn, i)->value;

            same = memcmp(x->data, y->data, (size_t)advgnn_tensor_numel(x) * sizeof(float)) == 0;
            if (!same)
                break;
        }
        /* Without the state only plain SGD ends equal. */
        CHECK(same == !stateful);

        advgnn_optim_free(opt_full);
        advgnn_optim_free(opt_resumed);
        advgnn_optim_free(opt_weights_only);
        net_free(&full);
        net_free(&resumed);
        net_free(&weights_only);
    }
}

/* ---- load errors --------------------------------------------------------- */

/* A copy of every state tensor and the step count. */
typedef struct snapshot {
    float *values;
    size_t count;
    int64_t step;
} snapshot;

static snapshot take_snapshot(const advgnn_optim *opt)
{
    snapshot s = {NULL, 0, advgnn_optim_step_count(opt)};
    size_t offset = 0;

    for (size_t i = 0; i < advgnn_optim_state_count(opt); i++)
        s.count += (size_t)advgnn_tensor_numel(advgnn_optim_state_at(opt, i)->value);
    s.values = malloc((s.count ? s.count : 1) * sizeof(float));
    for (size_t i = 0; s.values && i < advgnn_optim_state_count(opt); i++) {
        const advgnn_tensor *v = advgnn_optim_state_at(opt, i)->value;

        memcpy(s.values + offset, v->data, (size_t)advgnn_tensor_numel(v) * sizeof(float));
        offset += (size_t)advgnn_tensor_numel(v);
    }
    return s;
}

static int snapshot_equal(const advgnn_optim *opt, const snapshot *before)
{
    snapshot now = take_snapshot(opt);
    int same = now.count == before->count && now.step == before->step &&
               memcmp(now.values, before->values, now.count * sizeof(float)) == 0;

    free(now.values);
    return same;
}

/* Loads `path` into `opt`, expects `status` and `message`, and checks that
 * the state did not change. */
static void expect_load_error(advgnn_ctx *ctx, advgnn_optim *opt, const char *path, int status, const char *message)
{
    snapshot before = take_snapshot(opt);

    CHECK_INT_EQ(advgnn_optim_load(opt, ctx, path), status);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), message);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), path);
    advgnn_ctx_clear_error(ctx);
    CHECK(snapshot_equal(opt, &before));
    free(before.values);
}

/* A state file for an Adam optimizer of a 1x1 convolution "fc" (1 -> 1, with
 * bias), written by hand: `weight_dtype` is the dtype of fc.weight.exp_avg,
 * `step` the metadata's step count. */
static void write_small_adam_file(const char *path, const char *weight_dtype, const char *step)
{
    char header[512];
    size_t weight_bytes = strcmp(weight_dtype, "F64") == 0 ? 8 : strcmp(weight_dtype, "BF16") == 0 ? 2 : 4;
    unsigned char len[8] = {0}, data[32] = {0};
    size_t header_len, data_len = weight_bytes + 12;
    FILE *f;

    snprintf(header, sizeof(header),
             "{\"__metadata__\":{\"optimizer\":\"adam\",\"step\":\"%s\"},"
             "\"fc.weight.exp_avg\":{\"dtype\":\"%s\",\"shape\":[1,1,1,1],\"data_offsets\":[0,%zu]},"
             "\"fc.weight.exp_avg_sq\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1],\"data_offsets\":[%zu,%zu]},"
             "\"fc.bias.exp_avg\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]},"
             "\"fc.bias.exp_avg_sq\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%zu,%zu]}}",
             step, weight_dtype, weight_bytes, weight_bytes, weight_bytes + 4, weight_bytes + 4, weight_bytes + 8,
             weight_bytes + 8, weight_bytes + 12);
    header_len = strlen(header);
    len[0] = (unsigned char)(header_len & 0xff);
    len[1] = (unsigned char)(header_len >> 8);

    /* -2.5 as BF16 is 0xc020; as F32 every value is 0.5 (0x3f000000). */
    if (weight_bytes == 2) {
        data[0] = 0x20;
        data[1] = 0xc0;
    }
    for (size_t i = weight_bytes == 2 ? 2 : 0; i + 4 <= data_len; i += 4)
        data[i + 3] = 0x3f;
    f = fopen(path, "wb");
    fwrite(len, 1, 8, f);
    fwrite(header, 1, header_len, f);
    fwrite(data, 1, data_len, f);
    fclose(f);
}

static void test_load_errors(advgnn_ctx *ctx)
{
    advgnn_optim_config sgd = {.kind = ADVGNN_OPTIM_SGD}, momentum = {.kind = ADVGNN_OPTIM_SGD, .momentum = 0.9};
    advgnn_optim_config adam = {.kind = ADVGNN_OPTIM_ADAM}, rmsprop = {.kind = ADVGNN_OPTIM_RMSPROP};
    advgnn_optim_config rmsprop_momentum = {.kind = ADVGNN_OPTIM_RMSPROP, .momentum = 0.5};
    advgnn_optim *opt_adam = NULL, *opt_momentum = NULL, *opt_sgd = NULL, *opt_rms = NULL, *opt_rms_m = NULL,
                 *opt_narrow = NULL;
    char adam_path[128], momentum_path[128], rms_path[128], weights_path[128], bad_path[128], missing[128];
    net m, narrow;

    path_in_dir(adam_path, sizeof(adam_path), "adam.safetensors");
    path_in_dir(momentum_path, sizeof(momentum_path), "momentum.safetensors");
    path_in_dir(rms_path, sizeof(rms_path), "rmsprop.safetensors");
    path_in_dir(weights_path, sizeof(weights_path), "weights.safetensors");
    path_in_dir(bad_path, sizeof(bad_path), "bad.safetensors");
    path_in_dir(missing, sizeof(missing), "missing.safetensors");
    net_build(ctx, &m, 4, 3);
    net_build(ctx, &narrow, 2, 3);
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &adam, &opt_adam));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &momentum, &opt_momentum));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &sgd, &opt_sgd));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &rmsprop, &opt_rms));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &rmsprop_momentum, &opt_rms_m));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, narrow.nn, &adam, &opt_narrow));
    if (!opt_adam || !opt_momentum || !opt_sgd || !opt_rms || !opt_rms_m || !opt_narrow)
        goto done;

    /* Nonzero state everywhere, so "unchanged" means something. */
    for (int t = 0; t < 2; t++) {
        net_train_step(ctx, &m, opt_adam, t);
        net_train_step(ctx, &m, opt_momentum, t);
        net_train_step(ctx, &m, opt_rms, t);
        net_train_step(ctx, &m, opt_rms_m, t);
        net_train_step(ctx, &narrow, opt_narrow, t);
    }
    NN_CHECK_OK(ctx, advgnn_optim_save(opt_adam, ctx, adam_path));
    NN_CHECK_OK(ctx, advgnn_optim_save(opt_momentum, ctx, momentum_path));
    NN_CHECK_OK(ctx, advgnn_optim_save(opt_rms, ctx, rms_path));
    NN_CHECK_OK(ctx, advgnn_nn_save(m.nn, ctx, weights_path));

    /* Another kind of optimizer, in both directions. */
    expect_load_error(ctx, opt_momentum, adam_path, ADVGNN_ERR_FORMAT, "holds adam state, but the optimizer is sgd");
    expect_load_error(ctx, opt_adam, rms_path, ADVGNN_ERR_FORMAT, "holds rmsprop state, but the optimizer is adam");

    /* The same kind with and without momentum: a tensor too many or missing. */
    expect_load_error(ctx, opt_sgd, momentum_path, ADVGNN_ERR_FORMAT,
                      "unexpected tensor c1.weight.momentum_buffer (not in the optimizer)");
    expect_load_error(ctx, opt_rms_m, rms_path, ADVGNN_ERR_FORMAT, "tensor c1.weight.momentum_buffer is missing");

    /* Another network shape. */
    expect_load_error(ctx, opt_narrow, adam_path, ADVGNN_ERR_FORMAT, "tensor c1.weight.exp_avg has shape [4,3,3,3]");

    /* Not an optimizer file, a file that does not exist. */
    expect_load_error(ctx, opt_adam, weights_path, ADVGNN_ERR_FORMAT, "__metadata__ has no \"optimizer\" entry");
    expect_load_error(ctx, opt_adam, missing, ADVGNN_ERR_IO, "cannot open optimizer state file");

    /* Hand-written files for a 1 -> 1 convolution: F64 and a bad step are
     * rejected; BF16 is widened. */
    {
        int64_t shape[4] = {1, 1, 1, 1};
        advgnn_conv2d_desc desc = {.out_channels = 1, .kernel_h = 1, .kernel_w = 1, .bias = 1};
        advgnn_nn *small = NULL;
        advgnn_layer *layer = NULL;
        advgnn_optim *opt = NULL;
        const advgnn_optim_state *s;

        NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &small));
        NN_CHECK_OK(ctx, advgnn_nn_conv2d(small, ctx, "fc", ADVGNN_DTYPE_F32, shape, &desc, &layer));
        NN_CHECK_OK(ctx, advgnn_nn_commit(small, ctx));
        NN_CHECK_OK(ctx, advgnn_optim_new(ctx, small, &adam, &opt));
        if (opt) {
            write_small_adam_file(bad_path, "F64", "3");
            expect_load_error(ctx, opt, bad_path, ADVGNN_ERR_FORMAT,
                              "tensor fc.weight.exp_avg has dtype F64, expected F32 or BF16");
            write_small_adam_file(bad_path, "F32", "-3");
            expect_load_error(ctx, opt, bad_path, ADVGNN_ERR_FORMAT, "\"step\" is '-3', expected a step count >= 0");
            write_small_adam_file(bad_path, "F32", "3x");
            expect_load_error(ctx, opt, bad_path, ADVGNN_ERR_FORMAT, "\"step\" is '3x'");
            write_small_adam_file(bad_path, "BF16", "12");
            NN_CHECK_OK(ctx, advgnn_optim_load(opt, ctx, bad_path));
            CHECK_INT_EQ(advgnn_optim_step_count(opt), 12);
            s = advgnn_optim_state_find(opt, "fc.weight.exp_avg");
            CHECK(s != NULL);
            if (s)
                CHECK(((float *)s->value->data)[0] == -2.5f);
            s = advgnn_optim_state_find(opt, "fc.bias.exp_avg_sq");
            CHECK(s != NULL);
            if (s)
                CHECK(((float *)s->value->data)[0] == 0.5f);
        }
        advgnn_optim_free(opt);
        advgnn_nn_free(small);
    }

done:
    advgnn_optim_free(opt_adam);
    advgnn_optim_free(opt_momentum);
    advgnn_optim_free(opt_sgd);
    advgnn_optim_free(opt_rms);
    advgnn_optim_free(opt_rms_m);
    advgnn_optim_free(opt_narrow);
    net_free(&m);
    net_free(&narrow);
}

/* Collects warnings for test_changed_hyperparameters. */
static void collect_warning(void *user, advgnn_log_level level, const char *line)
{
    char *text = user;

    if (level == ADVGNN_LOG_WARN && strlen(text) + strlen(line) + 2 < 1024) {
        strcat(text, line);
        strcat(text, "\n");
    }
}

/* A file from an Adam with beta2 0.99 loads into an Adam with the default
 * 0.999, with one warning that names the setting and both values. */
static void test_changed_hyperparameters(advgnn_ctx *ctx)
{
    advgnn_optim_config written = {.kind = ADVGNN_OPTIM_ADAM, .beta2 = 0.99};
    advgnn_optim_config loading = {.kind = ADVGNN_OPTIM_ADAM};
    advgnn_optim *from = NULL, *into = NULL;
    char path[128], warnings[1024] = "";
    net m;

    path_in_dir(path, sizeof(path), "hyper.safetensors");
    net_build(ctx, &m, 2, 6);
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &written, &from));
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &loading, &into));
    if (from && into) {
        NN_CHECK_OK(ctx, advgnn_optim_save(from, ctx, path));
        advgnn_ctx_set_log_sink(ctx, collect_warning, warnings);
        NN_CHECK_OK(ctx, advgnn_optim_load(into, ctx, path));
        advgnn_ctx_set_log_sink(ctx, NULL, NULL);
        printf("warnings: %s", warnings);
        CHECK_STR_CONTAINS(warnings, "was written with beta2 0.99, this optimizer uses 0.999");
        CHECK(strstr(warnings, "beta1") == NULL);

        /* The same settings load without a warning. */
        warnings[0] = '\0';
        advgnn_ctx_set_log_sink(ctx, collect_warning, warnings);
        NN_CHECK_OK(ctx, advgnn_optim_load(from, ctx, path));
        advgnn_ctx_set_log_sink(ctx, NULL, NULL);
        CHECK_INT_EQ(strlen(warnings), 0);
    }
    advgnn_optim_free(from);
    advgnn_optim_free(into);
    net_free(&m);
}

/* Every allocation of a save and of a load fails in turn: each failure is
 * reported with a message, leaves the state unchanged and leaks nothing
 * (checked under AddressSanitizer). */
static void test_alloc_failures(advgnn_ctx *ctx)
{
    advgnn_optim_config adam = {.kind = ADVGNN_OPTIM_ADAM};
    advgnn_optim *opt = NULL;
    char path[128];
    size_t needed;
    net m;

    path_in_dir(path, sizeof(path), "alloc.safetensors");
    net_build(ctx, &m, 2, 4);
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &adam, &opt));
    if (!opt) {
        net_free(&m);
        return;
    }
    net_train_step(ctx, &m, opt, 0);

    advgnn_alloc_fail_after(0);
    NN_CHECK_OK(ctx, advgnn_optim_save(opt, ctx, path));
    NN_CHECK_OK(ctx, advgnn_optim_load(opt, ctx, path));
    needed = advgnn_alloc_fail_after(0);
    printf("an optimizer save and load make %zu allocations\n", needed);
    CHECK(needed >= 4);

    for (size_t n = 1; n <= needed; n++) {
        snapshot before = take_snapshot(opt);
        int save_rc, load_rc;

        advgnn_alloc_fail_after(n);
        save_rc = advgnn_optim_save(opt, ctx, path);
        if (save_rc == ADVGNN_OK)
            load_rc = advgnn_optim_load(opt, ctx, path);
        else
            load_rc = ADVGNN_OK;
        advgnn_alloc_fail_after(0);
        if (save_rc == load_rc) {
            fprintf(stderr, "allocation %zu failed, but the save and the load both returned %d\n", n, save_rc);
            check_failures++;
        }
        CHECK(save_rc == ADVGNN_ERR_NOMEM || load_rc == ADVGNN_ERR_NOMEM);
        CHECK(advgnn_ctx_error(ctx)[0] != '\0');
        advgnn_ctx_clear_error(ctx);
        CHECK(snapshot_equal(opt, &before));
        free(before.values);
    }
    advgnn_optim_free(opt);
    net_free(&m);
}

/* ---- Python's safetensors ------------------------------------------------ */

/* Writes the expected names, shapes and values for the Python check. */
static void write_expected(const advgnn_optim *opt, const char *path)
{
    FILE *f = fopen(path, "w");

    for (size_t i = 0; i < advgnn_optim_state_count(opt); i++) {
        const advgnn_optim_state *s = advgnn_optim_state_at(opt, i);
        const float *v = s->value->data;

        fprintf(f, "%s %d", s->name, s->value->ndim);
        for (int d = 0; d < s->value->ndim; d++)
            fprintf(f, " %lld", (long long)s->value->shape[d]);
        for (int64_t j = 0; j < advgnn_tensor_numel(s->value); j++)
            fprintf(f, " %.9g", v[j]);
        fputc('\n', f);
    }
    fclose(f);
}

static int test_python(advgnn_ctx *ctx)
{
    char state[128], expected[128], back[128], wrong_dtype[128], wrong_kind[128], command[1024];
    advgnn_optim_config adam = {.kind = ADVGNN_OPTIM_ADAM};
    advgnn_optim *opt = NULL;
    snapshot before, after;
    net m;
    int status;

    if (access(ADVGNN_TEST_PYTHON, X_OK) != 0) {
        printf("SKIP: %s is missing; create it with scripts/python-env.sh\n", ADVGNN_TEST_PYTHON);
        return SKIP_CODE;
    }
    path_in_dir(state, sizeof(state), "to_python.safetensors");
    path_in_dir(expected, sizeof(expected), "expected.txt");
    path_in_dir(back, sizeof(back), "from_python.safetensors");
    path_in_dir(wrong_dtype, sizeof(wrong_dtype), "wrong_dtype.safetensors");
    path_in_dir(wrong_kind, sizeof(wrong_kind), "wrong_kind.safetensors");
    net_build(ctx, &m, 4, 8);
    NN_CHECK_OK(ctx, advgnn_optim_new(ctx, m.nn, &adam, &opt));
    if (!opt) {
        net_free(&m);
        return 0;
    }
    for (int t = 0; t < 3; t++)
        net_train_step(ctx, &m, opt, t);
    NN_CHECK_OK(ctx, advgnn_optim_save(opt, ctx, state));
    write_expected(opt, expected);

    snprintf(command, sizeof(command), "'%s' '%s/tests/nn/check_optim_state.py' '%s' '%s' adam 3 '%s' '%s' '%s'",
             ADVGNN_TEST_PYTHON, ADVGNN_SOURCE_DIR, state, expected, back, wrong_dtype, wrong_kind);
    status = system(command);
    CHECK_INT_EQ(status, 0);

    /* Python wrote v * 2 + 1 for every value v, in float32, and step 4. */
    before = take_snapshot(opt);
    NN_CHECK_OK(ctx, advgnn_optim_load(opt, ctx, back));
    after = take_snapshot(opt);
    CHECK_INT_EQ(after.count, before.count);
    CHECK_INT_EQ(after.step, 4);
    for (size_t i = 0; i < before.count && i < after.count; i++) {
        if (after.values[i] != before.values[i] * 2.0f + 1.0f) {
            fprintf(stderr, "value %zu: %.9g, expected %.9g\n", i, after.values[i], before.values[i] * 2.0f + 1.0f);
            check_failures++;
            break;
        }
    }

    /* The first tensor in name order (bn.bias.exp_avg) as F64, and kind "sgd". */
    expect_load_error(ctx, opt, wrong_dtype, ADVGNN_ERR_FORMAT, "tensor bn.bias.exp_avg has dtype F64");
    expect_load_error(ctx, opt, wrong_kind, ADVGNN_ERR_FORMAT, "holds sgd state, but the optimizer is adam");
    free(before.values);
    free(after.values);
    advgnn_optim_free(opt);
    net_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    int python = argc > 1 && strcmp(argv[1], "--python") == 0;
    int skipped = 0;

    snprintf(dir, sizeof(dir), "/tmp/advgnn-optim-state-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    advgnn_ctx_set_threads(ctx, 2);
    if (python) {
        skipped = test_python(ctx) == SKIP_CODE;
    } else {
        test_names_and_set(ctx);
        test_torch_goldens(ctx);
        test_resume(ctx);
        test_load_errors(ctx);
        test_changed_hyperparameters(ctx);
        test_alloc_failures(ctx);
    }
    advgnn_ctx_free(ctx);

    {
        char command[128];

        snprintf(command, sizeof(command), "rm -rf '%s'", dir);
        if (system(command) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    if (skipped)
        return SKIP_CODE;
    return CHECK_DONE();
}
