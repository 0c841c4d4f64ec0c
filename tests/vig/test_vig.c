/* The vig encoder plugin: one Grapher block's gradients against central
 * finite differences, inference fusion against the unfused network, the
 * relative-position term, block and feature shapes of
 * pyramid and isotropic models, and training on real Magnetic Tile images
 * (loss falls, a seed fixes every weight). */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/rng.h"
#include "ae.h"
#include "blocks.h"
#include "check.h"
#include "mt_images.h"
#include "plugin_harness.h"

static advgnn_ctx *ctx;

#define OK(expr)                                                                                          \
    do {                                                                                                  \
        int rc_ = (expr);                                                                                 \
        if (rc_ != ADVGNN_OK) {                                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, advgnn_ctx_error(ctx)); \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* ---- Grapher gradients ---------------------------------------------------- */

/* Returns sum(output * weights) after a training-mode forward; sets *moved
 * when the kNN graph differs from `edges` (NULL: no comparison). */
static double weighted_output(ae_net *net, const advgnn_tensor *x, const float *weights, const int32_t *edges,
                              int *moved)
{
    const advgnn_tensor *out;
    double sum = 0.0;

    OK(ae_forward(net, ctx, x, ADVGNN_NN_MODE_TRAINING));
    for (int i = 0; edges && i < net->count; i++)
        if (net->nodes[i].knn)
            *moved |= memcmp(edges, net->nodes[i].edges, 2 * 16 * 3 * sizeof(int32_t)) != 0;
    out = advgnn_layer_output(net->nodes[net->output].layer);
    for (int64_t i = 0; i < advgnn_tensor_numel(out); i++)
        sum += (double)((float *)out->data)[i] * weights[i];
    return sum;
}

/* A Grapher block on a (2, 8, 4, 4) input with k = 3 and dilation 2 (or
 * pooled keys), loss = sum(output * R): each sampled parameter gradient
 * matches (L(p + h) - L(p - h)) / 2h. The kNN graph carries no gradient, so
 * entries whose perturbation changes an edge are skipped; most do not. */
static void check_grapher_gradients(int ratio, int dilation)
{
    static const char *const names[] = {"g.fc1.conv.weight", "g.fc1.bn.weight", "g.nn.conv.weight", "g.nn.conv.bias",
                                        "g.fc2.conv.weight", "g.fc2.bn.bias"};
    int64_t shape[4] = {2, 8, 4, 4};
    advgnn_tensor x, grad;
    advgnn_rng rng;
    ae_net net;
    int32_t edges[2 * 16 * 3];
    int node, checked = 0, matched = 0, skipped = 0;
    double worst = 0.0;

    OK(ae_net_new(ctx, shape, &net));
    OK(vig_grapher(&net, ctx, "g", AE_INPUT, 3, dilation, ratio, NULL, &node));
    net.output = node;
    OK(ae_net_finish(&net, ctx, 17));
    OK(advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    OK(advgnn_tensor_alloc(ctx, &grad, ADVGNN_DTYPE_F32, 4, shape));
    advgnn_rng_seed(&rng, 8);
    for (int64_t i = 0; i < advgnn_tensor_numel(&x); i++) {
        ((float *)x.data)[i] = (float)advgnn_rng_normal(&rng);
        ((float *)grad.data)[i] = (float)advgnn_rng_normal(&rng);
    }
    CHECK_INT_EQ(ae_shape(&net, node)[1], 8);
    CHECK_INT_EQ(ae_shape(&net, node)[2], 4);

    weighted_output(&net, &x, grad.data, NULL, NULL);
    OK(ae_backward(&net, ctx, &grad));
    for (int i = 0; i < net.count; i++)
        if (net.nodes[i].knn)
            memcpy(edges, net.nodes[i].edges, sizeof(edges));
    for (size_t p = 0; p < sizeof(names) / sizeof(names[0]); p++) {
        const advgnn_nn_param *param = advgnn_nn_param_find(net.nn, names[p]);

        CHECK(param != NULL);
        if (!param)
            continue;
        for (int s = 0; s < 6; s++) {
            int64_t i = (int64_t)advgnn_rng_below(&rng, (uint64_t)advgnn_tensor_numel(param->value));
            float *value = (float *)param->value->data + i, saved = *value;
            double analytic = ((float *)param->grad->data)[i], h = 1e-3, plus, minus, numeric, error;
            int moved = 0;

            *value = saved + (float)h;
            plus = weighted_output(&net, &x, grad.data, edges, &moved);
            *value = saved - (float)h;
            minus = weighted_output(&net, &x, grad.data, edges, &moved);
            *value = saved;
            if (moved) {
                skipped++;
                continue;
            }
            numeric = (plus - minus) / (2 * h);
            error = fabs(numeric - analytic) / (0.05 + fabs(analytic));
            worst = error > worst ? error : worst;
            checked++;
            matched += error < 0.05;
            if (error >= 0.05)
                printf("  %s[%lld]: analytic %.5f numeric %.5f\n", names[p], (long long)i, analytic, numeric);
        }
    }
    printf("grapher (ratio %d, dilation %d): %d of %d gradients match (%d skipped: graph changed), worst relative "
           "error %.3g\n",
           ratio, dilation, matched, checked, skipped, worst);
    CHECK_INT_EQ(matched, checked);
    CHECK(checked >= 24);
    advgnn_tensor_release(&x);
    advgnn_tensor_release(&grad);
    ae_net_free(&net);
}

/* With ratio 1 each node is nearest to itself under the sine-cosine term.
 * With ratio 2 on 8 x 8, each row is the ratio-1 row resampled bicubically
 * from 64 to 16 entries: key j samples position 4j + 1.5, so its taps are
 * 4j .. 4j + 3 with weights -3/32, 19/32, 19/32, -3/32 (A = -0.75). */
/* ---- inference fusion ----------------------------------------------------- */

/* Builds a 3x3 stem conv + BN + GELU, a Grapher and an FFN block on a
 * (2, 8, 8, 8) input, fused for inference unless `unfused`. */
static void build_block_net(ae_net *net, int unfused)
{
    int64_t shape[4] = {2, 8, 8, 8};
    int node;

    OK(ae_net_new(ctx, shape, net));
    net->unfused = unfused;
    OK(ae_conv_bn(net, ctx, "stem", AE_INPUT, 16, 3, 1, 1, ADVGNN_ACTIVATION_GELU, &node));
    OK(vig_grapher(net, ctx, "g", node, 3, 1, 2, NULL, &node));
    OK(vig_ffn(net, ctx, "f", node, &node));
    net->output = node;
    OK(ae_net_finish(net, ctx, 19));
}

/* Checks that the fused network skips the batch norms (and activations)
 * that its convolutions absorbed. Its inference output matches the unfused
 * one within f32 rounding, and its training forwards match bit for bit. */
static void check_fusion(void)
{
    ae_net plain, fused;
    advgnn_tensor x;
    advgnn_rng rng;
    const advgnn_tensor *a, *b;
    int skipped_plain = 0, skipped_fused = 0;
    double worst = 0.0;

    build_block_net(&plain, 1);
    build_block_net(&fused, 0);
    for (int i = 0; i < plain.count; i++) {
        skipped_plain += plain.nodes[i].fused;
        skipped_fused += fused.nodes[i].fused;
    }
    CHECK_INT_EQ(skipped_plain, 0);
    CHECK(skipped_fused >= 5);

    /* Non-trivial batch-norm statistics, the same in both networks. */
    advgnn_rng_seed(&rng, 4);
    for (size_t p = 0; p < advgnn_nn_param_count(plain.nn); p++) {
        const advgnn_nn_param *pp = advgnn_nn_param_at(plain.nn, p);
        const advgnn_nn_param *pf = advgnn_nn_param_find(fused.nn, pp->name);
        int is_var = strstr(pp->name, "running_var") != NULL;

        CHECK(pf != NULL);
        if (!pf)
            continue;
        if (strstr(pp->name, ".bn.")) {
            for (int64_t i = 0; i < advgnn_tensor_numel(pp->value); i++)
                ((float *)pp->value->data)[i] = (float)(is_var ? 0.5 + advgnn_rng_uniform(&rng)
                                                                : 0.5 * advgnn_rng_normal(&rng));
        }
        memcpy(pf->value->data, pp->value->data, (size_t)advgnn_tensor_numel(pp->value) * sizeof(float));
    }

    OK(advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, plain.input_shape));
    for (int64_t i = 0; i < advgnn_tensor_numel(&x); i++)
        ((float *)x.data)[i] = (float)advgnn_rng_normal(&rng);
    OK(ae_forward(&plain, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
    OK(ae_forward(&fused, ctx, &x, ADVGNN_NN_MODE_INFERENCE));
    a = advgnn_layer_output(plain.nodes[plain.output].layer);
    b = advgnn_layer_output(fused.nodes[fused.output].layer);
    for (int64_t i = 0; i < advgnn_tensor_numel(a); i++) {
        double d = fabs((double)((float *)a->data)[i] - ((float *)b->data)[i]);

        worst = fmax(worst, d / fmax(1.0, fabs((double)((float *)a->data)[i])));
    }
    printf("fusion: %d of %d layers skipped in inference, max relative diff %.3g\n", skipped_fused, fused.count,
           worst);
    CHECK(worst <= 1e-5);

    OK(ae_forward(&plain, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    OK(ae_forward(&fused, ctx, &x, ADVGNN_NN_MODE_TRAINING));
    CHECK(memcmp(a->data, b->data, (size_t)advgnn_tensor_numel(a) * sizeof(float)) == 0);

    advgnn_tensor_release(&x);
    ae_net_free(&plain);
    ae_net_free(&fused);
}

static void check_relative_bias(void)
{
    static const double taps[4] = {-3.0 / 32, 19.0 / 32, 19.0 / 32, -3.0 / 32};
    float *bias = vig_relative_bias(16, 6, 5, 1), *pooled = vig_relative_bias(16, 8, 8, 2);
    float *full = vig_relative_bias(16, 8, 8, 1);
    int own = 0, resampled = 0;

    CHECK(bias != NULL);
    CHECK(pooled != NULL);
    CHECK(full != NULL);
    if (!bias || !pooled || !full)
        return;
    for (int i = 0; i < 30; i++) {
        int best = 0;

        for (int j = 1; j < 30; j++)
            best = bias[i * 30 + j] < bias[i * 30 + best] ? j : best;
        own += best == i;
    }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 16; j++) {
            double want = 0.0;

            for (int t = 0; t < 4; t++)
                want += taps[t] * full[i * 64 + 4 * j + t];
            resampled += fabs(pooled[i * 16 + j] - want) < 1e-6;
        }
    CHECK_INT_EQ(own, 30);
    CHECK_INT_EQ(resampled, 64 * 16);

    /* Without pooling each entry is -2 P_i . P_j / C for the explicit 2-D
     * sine-cosine embeddings P (x in the first half of the channels, y in
     * the second, sin and cos at 4 frequencies each). */
    {
        double p[64][16], worst = 0.0;

        for (int i = 0; i < 64; i++)
            for (int half = 0; half < 2; half++)
                for (int f = 0; f < 4; f++) {
                    double pos = half == 0 ? i % 8 : i / 8, omega = 1.0 / pow(10000.0, f / 4.0);

                    p[i][half * 8 + f] = sin(pos * omega);
                    p[i][half * 8 + 4 + f] = cos(pos * omega);
                }
        for (int i = 0; i < 64; i++)
            for (int j = 0; j < 64; j++) {
                double dot = 0.0;

                for (int c = 0; c < 16; c++)
                    dot += p[i][c] * p[j][c];
                worst = fmax(worst, fabs(full[i * 64 + j] + 2.0 * dot / 16));
            }
        printf("relative-position term against explicit embeddings: max abs difference %.3g\n", worst);
        CHECK(worst < 1e-6);
    }
    advgnn_free(bias);
    advgnn_free(pooled);
    advgnn_free(full);
}

/* ---- the plugin ----------------------------------------------------------- */

static void set_numbers(advgnn_options *opts, const char *name, const double *values, size_t count)
{
    advgnn_value v = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = values, .count = count};

    CHECK_INT_EQ(advgnn_options_set(opts, ctx, name, &v), ADVGNN_OK);
}

static void set_string(advgnn_options *opts, const char *name, const char *value)
{
    advgnn_value v = {.kind = ADVGNN_VALUE_STRING, .string = value};

    CHECK_INT_EQ(advgnn_options_set(opts, ctx, name, &v), ADVGNN_OK);
}

/* A tiny pyramid: widths 8/16/24/32, one block per stage, k = 3. */
static advgnn_options *tiny_pyramid(const advgnn_plugin_descriptor *desc, const double *stages, size_t count)
{
    static const double widths[] = {8, 16, 24, 32}, blocks[] = {1, 1, 1, 1};
    advgnn_options *opts = harness_options(ctx, desc);

    set_string(opts, "preset", "custom");
    set_numbers(opts, "widths", widths, 4);
    set_numbers(opts, "blocks", blocks, 4);
    set_numbers(opts, "feature_stages", stages, count);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "k", 3), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 4), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "epochs", 4), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_number(opts, ctx, "lr", 0.005), ADVGNN_OK);
    return opts;
}

static void check_shapes(const advgnn_plugin_descriptor *desc)
{
    static const double all[] = {1, 2, 3, 4}, last[] = {4};
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 2};
    advgnn_options *opts = tiny_pyramid(desc, all, 4);
    int c = 0, h = 0, w = 0;
    void *state = NULL;

    /* Pyramid stages at 1/4, 1/8, 1/16, 1/32 of 64: all resized to 16 x 16. */
    OK(fn->create(ctx, opts, &config, &state));
    OK(fn->feature_shape(state, &c, &h, &w));
    CHECK_INT_EQ(c, 8 + 16 + 24 + 32);
    CHECK_INT_EQ(h, 16);
    CHECK_INT_EQ(w, 16);
    {
        ae_net *net = &((ae_encoder *)state)->net;
        int expected[4][3] = {{8, 16, 16}, {16, 8, 8}, {24, 4, 4}, {32, 2, 2}};

        for (int f = 0; f < 4; f++)
            for (int d = 0; d < 3; d++)
                CHECK_INT_EQ(net->nodes[net->features[f]].shape[d + 1], expected[f][d]);
        CHECK_INT_EQ(net->nodes[net->output].shape[1], 3);
        CHECK_INT_EQ(net->nodes[net->output].shape[2], 64);
    }
    fn->destroy(state);
    advgnn_options_free(opts);

    /* Isotropic: 4 blocks of 16 channels at 1/16, k from 4 to 8. */
    opts = harness_options(ctx, desc);
    {
        static const double width[] = {16}, blocks[] = {4};

        set_string(opts, "preset", "custom");
        set_string(opts, "variant", "isotropic");
        set_numbers(opts, "widths", width, 1);
        set_numbers(opts, "blocks", blocks, 1);
        set_numbers(opts, "feature_stages", last, 1);
        CHECK_INT_EQ(harness_set_int(opts, ctx, "k", 4), ADVGNN_OK);
        CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 2), ADVGNN_OK);
    }
    OK(fn->create(ctx, opts, &config, &state));
    OK(fn->feature_shape(state, &c, &h, &w));
    CHECK_INT_EQ(c, 16);
    CHECK_INT_EQ(h, 4);
    CHECK_INT_EQ(w, 4);
    fn->destroy(state);
    advgnn_options_free(opts);
}

static void check_training(const advgnn_plugin_descriptor *desc, mt_images *train_set, mt_images *val_set)
{
    static const double stages[] = {2, 3};
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 5};
    advgnn_image_source train = mt_source(train_set), val = mt_source(val_set);
    advgnn_options *opts = tiny_pyramid(desc, stages, 2);
    void *a = NULL, *b = NULL;
    ae_encoder *ea, *eb;
    double start = 0;

    OK(fn->create(ctx, opts, &config, &a));
    OK(fn->create(ctx, opts, &config, &b));
    start = (double)clock() / CLOCKS_PER_SEC;
    OK(fn->train(a, ctx, &train, &val));
    printf("vig training: %.1f s of CPU for 4 epochs of %zu images at 64 x 64\n",
           (double)clock() / CLOCKS_PER_SEC - start, train_set->count);
    OK(fn->train(b, ctx, &train, &val));
    ea = a;
    eb = b;
    printf("vig train loss:");
    for (int e = 0; e < ea->history.epochs; e++)
        printf(" %.4f", ea->history.train_loss[e]);
    printf("\n");
    CHECK_INT_EQ(ea->history.epochs, 4);
    CHECK(ea->history.train_loss[3] < 0.7 * ea->history.train_loss[0]);
    CHECK(ea->history.val_loss[3] < ea->history.val_loss[0]);

    /* Same seed, same weights, bit for bit. */
    for (size_t i = 0; i < advgnn_nn_param_count(ea->net.nn); i++) {
        const advgnn_tensor *x = advgnn_nn_param_at(ea->net.nn, i)->value, *y = advgnn_nn_param_at(eb->net.nn, i)->value;

        CHECK(memcmp(x->data, y->data, (size_t)advgnn_tensor_numel(x) * sizeof(float)) == 0);
    }
    fn->destroy(a);
    fn->destroy(b);
    advgnn_options_free(opts);
}

int main(void)
{
    const advgnn_plugin_descriptor *desc;
    mt_images train_set = {0}, val_set = {0};
    void *handle = NULL;
    int have_images;

    ctx = advgnn_ctx_new();
    advgnn_ctx_set_threads(ctx, 2);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    check_grapher_gradients(1, 2);
    check_grapher_gradients(2, 1);
    check_fusion();
    check_relative_bias();

    desc = harness_load("vig", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    check_shapes(desc);

    have_images = mt_load(&train_set, 64, 0, 24) == 24 && mt_load(&val_set, 64, 24, 8) == 8;
    if (have_images)
        check_training(desc, &train_set, &val_set);
    else
        printf("no Magnetic Tile images in %s: training not checked\n", MT_FOLDER);
    mt_free(&train_set);
    mt_free(&val_set);
    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
