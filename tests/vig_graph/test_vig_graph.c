/* The graph decoder of the vig encoder. Checks the whole decoder's parameter
 * gradients against central finite differences, the stage shapes and graph
 * sizes of pyramid and isotropic models, and the decoder options. Training
 * on real Magnetic Tile images must lower the loss and the reconstruction
 * error, and a seed must fix every weight and every reconstruction. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/rng.h"
#include "ae.h"
#include "check.h"
#include "graph_decoder.h"
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

/* ---- decoder gradients ---------------------------------------------------- */

#define FD_MAX_GRAPHS 4

/* The edges of every kNN graph of a network whose blocks all have k
 * neighbours, to see whether a perturbation moved one. */
typedef struct edge_snapshot {
    int32_t *edges[FD_MAX_GRAPHS];
    size_t counts[FD_MAX_GRAPHS];
    int graphs;
} edge_snapshot;

static void snapshot_take(const ae_net *net, int k, edge_snapshot *snap)
{
    memset(snap, 0, sizeof(*snap));
    for (int i = 0; i < net->count && snap->graphs < FD_MAX_GRAPHS; i++) {
        const ae_node *n = &net->nodes[i];

        if (!n->knn)
            continue;
        snap->counts[snap->graphs] = (size_t)(n->shape[0] * n->shape[2] * n->shape[3] * k);
        snap->edges[snap->graphs] = malloc(snap->counts[snap->graphs] * sizeof(int32_t));
        memcpy(snap->edges[snap->graphs], n->edges, snap->counts[snap->graphs] * sizeof(int32_t));
        snap->graphs++;
    }
}

static int snapshot_differs(const ae_net *net, const edge_snapshot *snap)
{
    int g = 0, moved = 0;

    for (int i = 0; i < net->count && g < snap->graphs; i++)
        if (net->nodes[i].knn) {
            moved |= memcmp(snap->edges[g], net->nodes[i].edges, snap->counts[g] * sizeof(int32_t)) != 0;
            g++;
        }
    return moved;
}

static void snapshot_free(edge_snapshot *snap)
{
    for (int g = 0; g < snap->graphs; g++)
        free(snap->edges[g]);
}

/* Returns sum(output * weights) after a training-mode forward. */
static double weighted_output(ae_net *net, const advgnn_tensor *x, const float *weights)
{
    const advgnn_tensor *out;
    double sum = 0.0;

    OK(ae_forward(net, ctx, x, ADVGNN_NN_MODE_TRAINING));
    out = advgnn_layer_output(net->nodes[net->output].layer);
    for (int64_t i = 0; i < advgnn_tensor_numel(out); i++)
        sum += (double)((float *)out->data)[i] * weights[i];
    return sum;
}

/* The whole graph decoder on a (2, 16, 2, 2) latent. It has graph stages at
 * 4 x 4 (keys unpooled) and 8 x 8 (keys pooled by 2) with the
 * relative-position term, a convolutional stage to 16 x 16, the output
 * convolution and tanh. Loss = sum(output * R). Each sampled parameter
 * gradient must match (L(p + h) - L(p - h)) / 2h. The kNN graphs carry no
 * gradient, so entries whose perturbation changes an edge are skipped, and
 * so are entries where the forward and backward difference quotients
 * disagree: a ReLU or a max over neighbours switches inside +-h there. The
 * biases of convolutions followed by BN are left out: their gradient is 0,
 * and the float32 rounding noise of the difference quotient is not. */
static void check_decoder_gradients(void)
{
    static const char *const names[] = {"decoder.0.proj.conv.weight",
                                        "decoder.0.proj.bn.weight",
                                        "decoder.0.blocks.0.grapher.fc1.conv.weight",
                                        "decoder.0.blocks.0.grapher.nn.bn.bias",
                                        "decoder.0.blocks.0.ffn.fc2.bn.weight",
                                        "decoder.1.proj.bn.weight",
                                        "decoder.1.blocks.0.grapher.fc2.conv.weight",
                                        "decoder.1.blocks.1.ffn.fc1.conv.weight",
                                        "decoder.2.conv.weight",
                                        "decoder.2.bn.bias",
                                        "decoder.out.weight",
                                        "decoder.out.bias"};
    vig_decoder_spec spec = {.stage_count = 2, .k = 3, .relative_pos = 1, .out_height = 16, .out_width = 16,
                             .tanh_output = 1};
    int64_t shape[4] = {2, 16, 2, 2};
    advgnn_tensor x, weights;
    const advgnn_tensor *out;
    edge_snapshot snap;
    advgnn_rng rng;
    ae_net net;
    int checked = 0, matched = 0, skipped = 0, kinks = 0;
    double worst = 0.0, center;

    spec.stages[0] = (vig_decoder_stage){.width = 8, .blocks = 1, .ratio = 1};
    spec.stages[1] = (vig_decoder_stage){.width = 8, .blocks = 2, .ratio = 2};
    OK(ae_net_new(ctx, shape, &net));
    OK(vig_graph_decoder(&net, ctx, &spec, AE_INPUT, &net.output));
    OK(ae_net_finish(&net, ctx, 23));
    out = advgnn_layer_output(net.nodes[net.output].layer);
    CHECK_INT_EQ(out->shape[1], 3);
    CHECK_INT_EQ(out->shape[2], 16);
    CHECK_INT_EQ(out->shape[3], 16);

    OK(advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape));
    OK(advgnn_tensor_alloc(ctx, &weights, ADVGNN_DTYPE_F32, 4, out->shape));
    advgnn_rng_seed(&rng, 31);
    for (int64_t i = 0; i < advgnn_tensor_numel(&x); i++)
        ((float *)x.data)[i] = (float)advgnn_rng_normal(&rng);
    for (int64_t i = 0; i < advgnn_tensor_numel(&weights); i++)
        ((float *)weights.data)[i] = (float)advgnn_rng_normal(&rng);

    center = weighted_output(&net, &x, weights.data);
    OK(ae_backward(&net, ctx, &weights));
    snapshot_take(&net, spec.k, &snap);
    CHECK_INT_EQ(snap.graphs, 3);

    for (size_t p = 0; p < sizeof(names) / sizeof(names[0]); p++) {
        const advgnn_nn_param *param = advgnn_nn_param_find(net.nn, names[p]);

        CHECK(param != NULL);
        if (!param) {
            fprintf(stderr, "  no parameter %s\n", names[p]);
            continue;
        }
        for (int s = 0; s < 6; s++) {
            int64_t i = (int64_t)advgnn_rng_below(&rng, (uint64_t)advgnn_tensor_numel(param->value));
            float *value = (float *)param->value->data + i, saved = *value;
            double analytic = ((float *)param->grad->data)[i], h = 1e-3, plus, minus, numeric, error;
            int moved;

            *value = saved + (float)h;
            plus = weighted_output(&net, &x, weights.data);
            moved = snapshot_differs(&net, &snap);
            *value = saved - (float)h;
            minus = weighted_output(&net, &x, weights.data);
            moved |= snapshot_differs(&net, &snap);
            *value = saved;
            if (moved) {
                skipped++;
                continue;
            }
            numeric = (plus - minus) / (2 * h);
            if (fabs((plus - center) - (center - minus)) / h > 0.05 * (0.05 + fabs(numeric))) {
                kinks++;
                continue;
            }
            error = fabs(numeric - analytic) / (0.05 + fabs(analytic));
            worst = error > worst ? error : worst;
            checked++;
            matched += error < 0.05;
            if (error >= 0.05)
                printf("  %s[%lld]: analytic %.5f numeric %.5f\n", names[p], (long long)i, analytic, numeric);
        }
    }
    printf("graph decoder: %d of %d gradients match (skipped: %d graph changed, %d not smooth), worst relative "
           "error %.3g\n",
           matched, checked, skipped, kinks, worst);
    CHECK_INT_EQ(matched, checked);
    CHECK(checked >= 36);
    snapshot_free(&snap);
    advgnn_tensor_release(&x);
    advgnn_tensor_release(&weights);
    ae_net_free(&net);
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

/* A tiny pyramid with the graph decoder: widths 8/16/24/32, one block per
 * stage, k = 3, features from stages 2 and 3. */
static advgnn_options *tiny_graph_pyramid(const advgnn_plugin_descriptor *desc)
{
    static const double widths[] = {8, 16, 24, 32}, blocks[] = {1, 1, 1, 1}, stages[] = {2, 3};
    advgnn_options *opts = harness_options(ctx, desc);

    set_string(opts, "preset", "custom");
    set_numbers(opts, "widths", widths, 4);
    set_numbers(opts, "blocks", blocks, 4);
    set_numbers(opts, "feature_stages", stages, 2);
    set_string(opts, "decoder", "graph");
    CHECK_INT_EQ(harness_set_int(opts, ctx, "k", 3), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 4), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "epochs", 4), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_number(opts, ctx, "lr", 0.005), ADVGNN_OK);
    return opts;
}

/* Returns the node whose layer is named `name`, or -1. */
static int find_node(const ae_net *net, const char *name)
{
    for (int i = 0; i < net->count; i++)
        if (strcmp(advgnn_layer_name(net->nodes[i].layer), name) == 0)
            return i;
    return -1;
}

static void check_node_shape(const ae_net *net, const char *name, int channels, int height, int width)
{
    int node = find_node(net, name);

    CHECK(node >= 0);
    if (node < 0) {
        fprintf(stderr, "  no layer %s\n", name);
        return;
    }
    CHECK_INT_EQ(net->nodes[node].shape[1], channels);
    CHECK_INT_EQ(net->nodes[node].shape[2], height);
    CHECK_INT_EQ(net->nodes[node].shape[3], width);
}

/* Returns the largest nodes x keys distance product per image among the kNN
 * graphs of the decoder (`decoder` nonzero) or of the encoder, and counts
 * those graphs in *graphs. */
static int64_t largest_graph(const ae_net *net, int decoder, int *graphs)
{
    int64_t largest = 0;

    *graphs = 0;
    for (int i = 0; i < net->count; i++) {
        const ae_node *n = &net->nodes[i];
        int64_t product;

        if (!n->knn || (strncmp(advgnn_layer_name(n->layer), "decoder.", 8) == 0) != decoder)
            continue;
        product = n->shape[2] * n->shape[3] * advgnn_knn_graph_key_count(n->knn);
        largest = product > largest ? product : largest;
        (*graphs)++;
    }
    return largest;
}

/* Returns the number of parameters whose names start with "decoder." (or,
 * with `decoder` zero, do not), and checks that each encoder parameter of
 * `net` is also in `other` with the same shape. */
static int count_params(const ae_net *net, int decoder, const ae_net *other)
{
    int count = 0;

    for (size_t i = 0; i < advgnn_nn_param_count(net->nn); i++) {
        const advgnn_nn_param *p = advgnn_nn_param_at(net->nn, i), *q;

        if ((strncmp(p->name, "decoder.", 8) == 0) != decoder)
            continue;
        count++;
        if (decoder || !other)
            continue;
        q = advgnn_nn_param_find(other->nn, p->name);
        CHECK(q != NULL);
        if (q)
            CHECK(memcmp(p->value->shape, q->value->shape, sizeof(p->value->shape)) == 0);
    }
    return count;
}

static void check_pyramid_shapes(const advgnn_plugin_descriptor *desc, const advgnn_encoder_config *config)
{
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_options *opts = tiny_graph_pyramid(desc), *deconv = tiny_graph_pyramid(desc);
    void *state = NULL, *reference = NULL;
    ae_net *net, *ref;
    int c = 0, h = 0, w = 0, graphs = 0, encoder_graphs = 0;

    set_string(deconv, "decoder", "deconv");
    OK(fn->create(ctx, opts, config, &state));
    OK(fn->create(ctx, deconv, config, &reference));
    net = &((ae_encoder *)state)->net;
    ref = &((ae_encoder *)reference)->net;

    /* Graph stages on the grids and widths of encoder stages 3, 2, 1 of a
     * 64 x 64 input, then convolutional stages at 32 and 64 pixels. */
    check_node_shape(net, "decoder.0.up", 32, 4, 4);
    check_node_shape(net, "decoder.0.blocks.0.ffn.residual", 24, 4, 4);
    check_node_shape(net, "decoder.1.blocks.0.ffn.residual", 16, 8, 8);
    check_node_shape(net, "decoder.2.blocks.0.ffn.residual", 8, 16, 16);
    check_node_shape(net, "decoder.3.act", 16, 32, 32);
    check_node_shape(net, "decoder.4.act", 16, 64, 64);
    check_node_shape(net, "decoder.out", 3, 64, 64);
    CHECK_INT_EQ(net->output, find_node(net, "decoder.out"));
    CHECK_INT_EQ(find_node(net, "decoder.3.graph"), -1);

    /* The features and the encoder are those of the deconv model. */
    OK(fn->feature_shape(state, &c, &h, &w));
    CHECK_INT_EQ(c, 16 + 24);
    CHECK_INT_EQ(h, 8);
    CHECK_INT_EQ(count_params(net, 0, ref), count_params(ref, 0, NULL));
    CHECK(count_params(net, 1, NULL) > 0);

    /* No decoder graph is larger than the encoder's largest (bounded memory). */
    CHECK(largest_graph(net, 1, &graphs) <= largest_graph(net, 0, &encoder_graphs));
    CHECK_INT_EQ(graphs, 3);
    CHECK_INT_EQ(encoder_graphs, 4);
    printf("pyramid graph decoder: %d decoder graphs, largest %lld distances per image (encoder %lld)\n", graphs,
           (long long)largest_graph(net, 1, &graphs), (long long)largest_graph(net, 0, &encoder_graphs));
    fn->destroy(state);
    fn->destroy(reference);

    /* Blocks per stage follow 'decoder_blocks'; a stage with 0 keeps its resize. */
    {
        static const double blocks[] = {2, 0, 3};

        set_numbers(opts, "decoder_blocks", blocks, 3);
        OK(fn->create(ctx, opts, config, &state));
        net = &((ae_encoder *)state)->net;
        CHECK(find_node(net, "decoder.0.blocks.1.grapher.graph") >= 0);
        CHECK_INT_EQ(find_node(net, "decoder.0.blocks.2.grapher.graph"), -1);
        CHECK_INT_EQ(find_node(net, "decoder.1.blocks.0.grapher.graph"), -1);
        check_node_shape(net, "decoder.1.proj.bn", 16, 8, 8);
        CHECK(find_node(net, "decoder.2.blocks.2.grapher.graph") >= 0);
        largest_graph(net, 1, &graphs);
        CHECK_INT_EQ(graphs, 5);
        fn->destroy(state);
    }
    advgnn_options_free(opts);
    advgnn_options_free(deconv);
}

static void check_isotropic_shapes(const advgnn_plugin_descriptor *desc, const advgnn_encoder_config *config)
{
    static const double width[] = {16}, blocks[] = {4}, last[] = {4}, decoder_blocks[] = {2};
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_options *opts = harness_options(ctx, desc);
    void *state = NULL;
    ae_net *net;
    int graphs = 0, encoder_graphs = 0;

    set_string(opts, "preset", "custom");
    set_string(opts, "variant", "isotropic");
    set_numbers(opts, "widths", width, 1);
    set_numbers(opts, "blocks", blocks, 1);
    set_numbers(opts, "feature_stages", last, 1);
    set_string(opts, "decoder", "graph");
    set_numbers(opts, "decoder_blocks", decoder_blocks, 1);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "k", 4), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 2), ADVGNN_OK);
    OK(fn->create(ctx, opts, config, &state));
    net = &((ae_encoder *)state)->net;

    /* One graph stage at 1/8 with half the width and keys pooled by 2 (16
     * keys, as many as the encoder's 4 x 4 nodes), then 1/4, 1/2 and 1/1. */
    check_node_shape(net, "decoder.0.blocks.1.ffn.residual", 8, 8, 8);
    check_node_shape(net, "decoder.0.blocks.1.grapher.graph.keys", 8, 4, 4);
    check_node_shape(net, "decoder.1.act", 16, 16, 16);
    check_node_shape(net, "decoder.3.act", 16, 64, 64);
    check_node_shape(net, "decoder.out", 3, 64, 64);
    CHECK(largest_graph(net, 1, &graphs) <= 4 * largest_graph(net, 0, &encoder_graphs));
    CHECK_INT_EQ(graphs, 2);
    CHECK_INT_EQ(encoder_graphs, 4);
    fn->destroy(state);
    advgnn_options_free(opts);
}

/* Expects create to fail with `status` and a message containing `needle`. */
static void expect_create_error(const advgnn_plugin_descriptor *desc, advgnn_options *opts,
                                const advgnn_encoder_config *config, int status, const char *needle)
{
    const advgnn_encoder_functions *fn = desc->functions;
    void *state = NULL;

    CHECK_INT_EQ(fn->create(ctx, opts, config, &state), status);
    CHECK(state == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), needle);
    advgnn_ctx_clear_error(ctx);
}

static void check_option_errors(const advgnn_plugin_descriptor *desc, const advgnn_encoder_config *config)
{
    static const double two[] = {1, 1}, one[] = {1}, too_many[] = {65}; /* the schema's maximum is 64 */
    advgnn_options *opts = tiny_graph_pyramid(desc);
    advgnn_value negative = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = (const double[]){1, -1, 1}, .count = 3};
    advgnn_value large = {.kind = ADVGNN_VALUE_NUMBER_LIST, .numbers = too_many, .count = 1};
    advgnn_encoder_config odd = *config;

    /* A pyramid needs three entries. */
    set_numbers(opts, "decoder_blocks", two, 2);
    expect_create_error(desc, opts, config, ADVGNN_ERR_OPTION, "one entry per graph-decoder stage, 3 for this pyramid model");

    /* Negative and oversized counts are rejected by the schema. */
    CHECK(advgnn_options_set(opts, ctx, "decoder_blocks", &negative) != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "decoder_blocks");
    advgnn_ctx_clear_error(ctx);
    CHECK(advgnn_options_set(opts, ctx, "decoder_blocks", &large) != ADVGNN_OK);
    advgnn_ctx_clear_error(ctx);

    /* 'decoder_blocks' with the deconv decoder is a mistake, not ignored. */
    set_numbers(opts, "decoder_blocks", one, 1);
    set_string(opts, "decoder", "deconv");
    expect_create_error(desc, opts, config, ADVGNN_ERR_OPTION, "applies to decoder = \"graph\" only");
    advgnn_options_free(opts);

    /* An isotropic model needs one entry. */
    opts = harness_options(ctx, desc);
    set_string(opts, "variant", "isotropic");
    set_string(opts, "preset", "custom");
    set_numbers(opts, "widths", (const double[]){16}, 1);
    set_numbers(opts, "blocks", (const double[]){2}, 1);
    set_string(opts, "decoder", "graph");
    set_numbers(opts, "decoder_blocks", (const double[]){1, 1, 1}, 3);
    expect_create_error(desc, opts, config, ADVGNN_ERR_OPTION, "one entry per graph-decoder stage, 1 for this isotropic model");
    advgnn_options_free(opts);

    /* The image must still divide into the pyramid's grids. */
    opts = tiny_graph_pyramid(desc);
    odd.image_height = odd.image_width = 48;
    expect_create_error(desc, opts, &odd, ADVGNN_ERR_OPTION, "divisible by 32");
    advgnn_options_free(opts);
}

/* ---- training on real images ---------------------------------------------- */

/* Returns the mean squared error between `images` and the model's
 * reconstruction of them, in units of the normalized input. */
static double reconstruction_mse(const advgnn_plugin_descriptor *desc, void *state, const mt_images *images)
{
    const advgnn_encoder_functions *fn = desc->functions;
    int c, h, w;
    int64_t shape[4] = {(int64_t)images->count, 3, images->side, images->side}, fshape[4];
    advgnn_tensor in, features, recon;
    double sum = 0.0;

    OK(fn->feature_shape(state, &c, &h, &w));
    fshape[0] = shape[0];
    fshape[1] = c;
    fshape[2] = h;
    fshape[3] = w;
    in = advgnn_tensor_view(images->data, ADVGNN_DTYPE_F32, 4, shape);
    OK(advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, fshape));
    OK(advgnn_tensor_alloc(ctx, &recon, ADVGNN_DTYPE_F32, 4, shape));
    OK(fn->encode(state, ctx, &in, &features, &recon));
    for (int64_t i = 0; i < advgnn_tensor_numel(&in); i++) {
        double d = (double)((float *)recon.data)[i] - images->data[i];

        CHECK(isfinite(d));
        sum += d * d;
    }
    advgnn_tensor_release(&features);
    advgnn_tensor_release(&recon);
    return sum / (double)advgnn_tensor_numel(&in);
}

static void check_training(const advgnn_plugin_descriptor *desc, mt_images *train_set, mt_images *val_set)
{
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 5};
    advgnn_image_source train = mt_source(train_set), val = mt_source(val_set);
    advgnn_options *opts = tiny_graph_pyramid(desc);
    void *a = NULL, *b = NULL;
    ae_encoder *ea, *eb;
    double start, before, after, again;

    OK(fn->create(ctx, opts, &config, &a));
    OK(fn->create(ctx, opts, &config, &b));
    before = reconstruction_mse(desc, a, val_set);
    start = (double)clock() / CLOCKS_PER_SEC;
    OK(fn->train(a, ctx, &train, &val));
    printf("graph decoder training: %.1f s of CPU for 4 epochs of %zu images at 64 x 64\n",
           (double)clock() / CLOCKS_PER_SEC - start, train_set->count);
    OK(fn->train(b, ctx, &train, &val));
    ea = a;
    eb = b;

    printf("graph decoder train loss:");
    for (int e = 0; e < ea->history.epochs; e++)
        printf(" %.4f", ea->history.train_loss[e]);
    printf("\n");
    CHECK_INT_EQ(ea->history.epochs, 4);
    CHECK(ea->history.train_loss[3] < 0.7 * ea->history.train_loss[0]);
    CHECK(ea->history.val_loss[3] < ea->history.val_loss[0]);

    /* The reconstruction of held-out images improves with training. */
    after = reconstruction_mse(desc, a, val_set);
    again = reconstruction_mse(desc, b, val_set);
    printf("graph decoder validation MSE: %.4f untrained, %.4f after 4 epochs\n", before, after);
    CHECK(after < 0.7 * before);

    /* Same seed, same weights and reconstructions, bit for bit. */
    CHECK(after == again);
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
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 2};
    const advgnn_plugin_descriptor *desc;
    mt_images train_set = {0}, val_set = {0};
    void *handle = NULL;
    int have_images;

    ctx = advgnn_ctx_new();
    advgnn_ctx_set_threads(ctx, 2);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    check_decoder_gradients();

    desc = harness_load("vig", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    check_pyramid_shapes(desc, &config);
    check_isotropic_shapes(desc, &config);
    check_option_errors(desc, &config);

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
