/* Parity of the vig plugin with its PyTorch version (scripts/vig_reference.py).
 *
 * The fixtures cover a tiny pyramid and a tiny isotropic net at 64 x 64. Each
 * has random weights (BN running statistics included) and a fixed batch of
 * two images. PyTorch computed, in float64, every block's output in inference
 * and training mode, the relative-position terms, the loss
 * MSE + 0.5 (1 - SSIM) and the parameter gradients of one training step. The plugin loads the weights through its
 * `weights` option, runs forward and one training step, and each tensor must
 * match within a relative error of 1e-4: max |C - PyTorch| divided by the
 * tensor's max |PyTorch|. Gradients that are zero in exact arithmetic (biases
 * followed by training-mode batch norm, the shift of the Grapher's fc1, which
 * max-relative aggregation cancels) are instead checked to be rounding noise
 * on both sides, and gradients below 1% of the step's largest are compared
 * against that 1%. The test also loads a reference-shaped state
 * dict converted by the script (position embedding resized from 224 to 64).
 *
 * Regenerate the fixtures with
 *   bench/.venv/bin/python scripts/vig_reference.py fixtures */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ae.h"
#include "blocks.h"
#include "check.h"
#include "plugin_harness.h"

#define PARITY_TOLERANCE 1e-4
/* A gradient tensor whose PyTorch values are all below this fraction of the
 * step's largest gradient is zero in exact arithmetic, such as a bias followed
 * by training-mode batch norm. Both sides then contain rounding noise only.
 * In these fixtures the other gradients reach at least 1e-3 of the largest. */
#define ZERO_GRADIENT 1e-5
/* The error of a smaller gradient is taken relative to this fraction of the
 * step's largest gradient. A gradient summed over many positions with
 * cancellation keeps the absolute float32 error of its terms; the isotropic
 * stem's first batch-norm shift (1e-3 of the largest) is one. */
#define GRADIENT_FLOOR 1e-2

static advgnn_ctx *ctx;

#define OK(expr)                                                                                          \
    do {                                                                                                  \
        int rc_ = (expr);                                                                                 \
        if (rc_ != ADVGNN_OK) {                                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, advgnn_ctx_error(ctx)); \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* ---- a safetensors reader for the fixtures --------------------------------- */

typedef struct fixture_file {
    unsigned char *bytes; /* whole file; owned */
    size_t size;
    cJSON *header;        /* parsed JSON header; owned */
    size_t data_start;    /* offset of the data section */
} fixture_file;

static int fixture_open(fixture_file *f, const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint64_t header_size = 0;
    long size;

    memset(f, 0, sizeof(*f));
    if (!fp) {
        fprintf(stderr, "cannot open fixture %s; run scripts/vig_reference.py fixtures\n", path);
        return 0;
    }
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 8 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return 0;
    }
    f->size = (size_t)size;
    f->bytes = malloc(f->size);
    if (!f->bytes || fread(f->bytes, 1, f->size, fp) != f->size) {
        fclose(fp);
        return 0;
    }
    fclose(fp);

    /* 8-byte little-endian header length, then the JSON header. */
    for (int i = 7; i >= 0; i--)
        header_size = header_size << 8 | f->bytes[i];
    if (header_size > f->size - 8)
        return 0;
    f->header = cJSON_ParseWithLength((const char *)f->bytes + 8, (size_t)header_size);
    f->data_start = 8 + (size_t)header_size;
    return f->header != NULL;
}

static void fixture_close(fixture_file *f)
{
    cJSON_Delete(f->header);
    free(f->bytes);
    memset(f, 0, sizeof(*f));
}

/* Returns the F32 tensor `name` as a view into the file (numel in *count), or
 * NULL when it is absent or not F32. */
static const float *fixture_tensor(const fixture_file *f, const char *name, int64_t shape[4], int *ndim,
                                   size_t *count)
{
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(f->header, name), *dim;
    const cJSON *dtype = entry ? cJSON_GetObjectItemCaseSensitive(entry, "dtype") : NULL;
    const cJSON *offsets = entry ? cJSON_GetObjectItemCaseSensitive(entry, "data_offsets") : NULL;
    size_t begin, end, numel = 1;
    int d = 0;

    if (!entry || !cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0 || cJSON_GetArraySize(offsets) != 2)
        return NULL;
    cJSON_ArrayForEach(dim, cJSON_GetObjectItemCaseSensitive(entry, "shape"))
    {
        if (d < 4 && shape)
            shape[d] = (int64_t)dim->valuedouble;
        numel *= (size_t)dim->valuedouble;
        d++;
    }
    begin = (size_t)cJSON_GetArrayItem(offsets, 0)->valuedouble;
    end = (size_t)cJSON_GetArrayItem(offsets, 1)->valuedouble;
    if (end - begin != numel * sizeof(float) || f->data_start + end > f->size)
        return NULL;
    if (ndim)
        *ndim = d;
    *count = numel;
    return (const float *)(f->bytes + f->data_start + begin);
}

/* ---- comparisons ----------------------------------------------------------- */

static double max_abs(const float *a, size_t n)
{
    double m = 0.0;

    for (size_t i = 0; i < n; i++)
        m = fabs((double)a[i]) > m ? fabs((double)a[i]) : m;
    return m;
}

/* Returns max |a - b| / max(max |b|, min_scale) and stores max |a - b| in
 * *diff. Above the tolerance it prints the worst element. */
static double relative_error(const float *a, const float *b, size_t n, double min_scale, double *diff)
{
    double worst = 0.0, scale = fmax(max_abs(b, n), min_scale), err;
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);

        if (d > worst || d != d) {
            worst = d;
            at = i;
        }
    }
    *diff = worst;
    err = scale > 0 ? worst / scale : worst;
    if (!(err <= PARITY_TOLERANCE) && n > 0)
        printf("    worst element %zu of %zu: %.9g, PyTorch %.9g, max |PyTorch| %.9g\n", at, n, a[at], b[at], scale);
    return err;
}

static ae_node *find_node(ae_net *net, const char *name)
{
    for (int i = 0; i < net->count; i++)
        if (strcmp(advgnn_layer_name(net->nodes[i].layer), name) == 0)
            return &net->nodes[i];
    return NULL;
}

/* Returns the node whose output is PyTorch's trace point `trace`. Trace
 * points are named after the plugin's layers, except "pos_embed.add": the
 * plugin adds the position embedding in its one layer "pos_embed". */
static ae_node *find_traced_node(ae_net *net, const char *trace)
{
    return find_node(net, strcmp(trace, "pos_embed.add") == 0 ? "pos_embed" : trace);
}

/* Compares every fixture tensor named "<prefix><trace point>" with the
 * output of the matching layer and returns how many were compared. */
static int compare_outputs(ae_net *net, const fixture_file *f, const char *prefix, const char *label)
{
    const cJSON *entry;
    size_t len = strlen(prefix);
    int compared = 0;

    cJSON_ArrayForEach(entry, f->header)
    {
        const char *key = entry->string;
        ae_node *node;
        const float *want;
        size_t count;
        double diff, err;

        if (strncmp(key, prefix, len) != 0)
            continue;
        node = find_traced_node(net, key + len);
        want = fixture_tensor(f, key, NULL, NULL, &count);
        CHECK(node != NULL);
        CHECK(want != NULL);
        if (!node || !want) {
            fprintf(stderr, "%s: no layer or tensor for %s\n", label, key);
            continue;
        }
        CHECK_INT_EQ(advgnn_tensor_numel(advgnn_layer_output(node->layer)), count);
        if ((size_t)advgnn_tensor_numel(advgnn_layer_output(node->layer)) != count)
            continue;
        err = relative_error(advgnn_layer_output(node->layer)->data, want, count, 0.0, &diff);
        printf("  %-44s max diff %.3g  rel %.3g\n", key, diff, err);
        CHECK(err <= PARITY_TOLERANCE);
        compared++;
    }
    return compared;
}

/* ---- one fixture ----------------------------------------------------------- */

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

/* Options of the fixture configurations in scripts/vig_reference.py
 * (FIXTURES); `weights` may be NULL. */
static advgnn_options *fixture_options(const advgnn_plugin_descriptor *desc, int pyramid, const char *weights)
{
    static const double pyramid_widths[] = {8, 16, 24, 32}, pyramid_blocks[] = {1, 1, 2, 1};
    static const double iso_widths[] = {16}, iso_blocks[] = {6}, last[] = {4};
    advgnn_options *opts = harness_options(ctx, desc);

    set_string(opts, "preset", "custom");
    set_string(opts, "variant", pyramid ? "pyramid" : "isotropic");
    set_numbers(opts, "widths", pyramid ? pyramid_widths : iso_widths, pyramid ? 4 : 1);
    set_numbers(opts, "blocks", pyramid ? pyramid_blocks : iso_blocks, pyramid ? 4 : 1);
    if (!pyramid)
        set_numbers(opts, "feature_stages", last, 1);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "k", pyramid ? 3 : 2), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_int(opts, ctx, "batch_size", 2), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_number(opts, ctx, "ssim_weight", 0.5), ADVGNN_OK);
    CHECK_INT_EQ(harness_set_number(opts, ctx, "ssim_range", 4.0), ADVGNN_OK);
    if (weights)
        set_string(opts, "weights", weights);
    return opts;
}

/* The relative-position term of every pyramid block against PyTorch's. */
static void compare_relative_pos(ae_net *net, const fixture_file *f)
{
    int compared = 0;

    for (int b = 0; b < 64; b++) {
        char key[64], layer[64];
        const float *want;
        ae_node *node;
        size_t count;
        double diff, err;

        snprintf(key, sizeof(key), "relative_pos.blocks.%d", b);
        snprintf(layer, sizeof(layer), "blocks.%d.grapher.graph", b);
        want = fixture_tensor(f, key, NULL, NULL, &count);
        if (!want)
            continue;
        node = find_node(net, layer);
        CHECK(node != NULL);
        if (node)
            CHECK(node->bias != NULL);
        if (!node || !node->bias)
            continue;
        err = relative_error(node->bias, want, count, 0.0, &diff);
        printf("  %-44s max diff %.3g  rel %.3g\n", key, diff, err);
        CHECK(err <= PARITY_TOLERANCE);
        compared++;
    }
    CHECK(compared > 0);
}

/* Compares "grad.<param>" of every trainable parameter and "after.<buffer>"
 * (running statistics after the step). */
static void compare_step(ae_net *net, const fixture_file *f)
{
    double largest = 0.0;
    size_t params = advgnn_nn_param_count(net->nn);
    int compared = 0;

    for (size_t i = 0; i < params; i++) {
        const advgnn_nn_param *p = advgnn_nn_param_at(net->nn, i);

        for (int64_t e = 0; p->grad && e < advgnn_tensor_numel(p->grad); e++)
            largest = fmax(largest, fabs(((const float *)p->grad->data)[e]));
    }
    for (size_t i = 0; i < params; i++) {
        const advgnn_nn_param *p = advgnn_nn_param_at(net->nn, i);
        const advgnn_tensor *mine = p->grad ? p->grad : p->value;
        char key[160];
        const float *want;
        size_t count;
        double diff, err;

        snprintf(key, sizeof(key), "%s.%s", p->grad ? "grad" : "after", p->name);
        want = fixture_tensor(f, key, NULL, NULL, &count);
        CHECK(want != NULL);
        if (!want) {
            fprintf(stderr, "no fixture tensor %s\n", key);
            continue;
        }
        CHECK_INT_EQ(advgnn_tensor_numel(mine), count);
        if ((size_t)advgnn_tensor_numel(mine) != count)
            continue;
        compared++;
        if (p->grad && max_abs(want, count) < ZERO_GRADIENT * largest) {
            double mine_max = max_abs(mine->data, count);

            printf("  %-44s zero in exact arithmetic: max |g| %.3g, PyTorch %.3g\n", key, mine_max,
                   max_abs(want, count));
            CHECK(mine_max < ZERO_GRADIENT * largest);
            continue;
        }
        err = relative_error(mine->data, want, count, p->grad ? GRADIENT_FLOOR * largest : 0.0, &diff);
        printf("  %-44s max diff %.3g  rel %.3g (max |g| %.3g)\n", key, diff, err, max_abs(want, count));
        CHECK(err <= PARITY_TOLERANCE);
    }
    CHECK_INT_EQ(compared, (long long)params);
}

static void check_fixture(const advgnn_plugin_descriptor *desc, const char *name, int pyramid)
{
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 1};
    char weights[1024], outputs[1024], converted[1024];
    int64_t shape[4] = {0};
    fixture_file f;
    advgnn_options *opts;
    advgnn_tensor input;
    const float *data, *want_loss;
    size_t count;
    void *state = NULL;
    ae_net *net;
    double loss = 0.0;
    int compared;

    snprintf(weights, sizeof(weights), "%s/%s.weights.safetensors", ADVGNN_PARITY_FIXTURES, name);
    snprintf(outputs, sizeof(outputs), "%s/%s.outputs.safetensors", ADVGNN_PARITY_FIXTURES, name);
    snprintf(converted, sizeof(converted), "%s/%s.converted.safetensors", ADVGNN_PARITY_FIXTURES, name);
    CHECK(fixture_open(&f, outputs));
    data = f.header ? fixture_tensor(&f, "input", shape, NULL, &count) : NULL;
    CHECK(data != NULL);
    if (!data) {
        fixture_close(&f);
        return;
    }
    CHECK_INT_EQ(shape[0], 2);
    CHECK_INT_EQ(shape[2], 64);
    input = advgnn_tensor_view((void *)data, ADVGNN_DTYPE_F32, 4, shape);

    /* Weights through the plugin's loading path. */
    opts = fixture_options(desc, pyramid, weights);
    OK(fn->create(ctx, opts, &config, &state));
    net = &((ae_encoder *)state)->net;

    printf("%s: inference\n", name);
    OK(ae_forward(net, ctx, &input, ADVGNN_NN_MODE_INFERENCE));
    compared = compare_outputs(net, &f, "eval.", name);
    CHECK(compared >= 5);
    if (pyramid)
        compare_relative_pos(net, &f);

    printf("%s: one training step\n", name);
    OK(ae_train_step(net, ctx, &input, 2, 1, &loss));
    want_loss = fixture_tensor(&f, "loss", NULL, NULL, &count);
    CHECK(want_loss != NULL);
    if (want_loss) {
        printf("  loss %.7f, PyTorch %.7f\n", loss, want_loss[0]);
        CHECK(fabs(loss - want_loss[0]) <= PARITY_TOLERANCE * fabs(want_loss[0]));
    }
    CHECK(compare_outputs(net, &f, "train.", name) >= 2);
    compare_step(net, &f);
    fn->destroy(state);
    advgnn_options_free(opts);

    /* A converted reference state dict loads: every name, every shape, the
     * position embedding resized to this grid. */
    opts = fixture_options(desc, pyramid, converted);
    OK(fn->create(ctx, opts, &config, &state));
    net = &((ae_encoder *)state)->net;
    OK(ae_forward(net, ctx, &input, ADVGNN_NN_MODE_INFERENCE));
    {
        const advgnn_tensor *out = advgnn_layer_output(net->nodes[net->output].layer);
        int finite = 1;

        for (int64_t i = 0; i < advgnn_tensor_numel(out); i++)
            finite &= isfinite(((const float *)out->data)[i]) != 0;
        CHECK(finite);
    }
    fn->destroy(state);
    advgnn_options_free(opts);
    fixture_close(&f);
}

/* A wrong file is rejected by name: the isotropic weights in a pyramid model. */
static void check_mismatch(const advgnn_plugin_descriptor *desc)
{
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 1};
    char weights[1024];
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_options *opts;
    void *state = NULL;

    snprintf(weights, sizeof(weights), "%s/isotropic.weights.safetensors", ADVGNN_PARITY_FIXTURES);
    opts = fixture_options(desc, 1, weights);
    CHECK(fn->create(ctx, opts, &config, &state) != ADVGNN_OK);
    CHECK(state == NULL);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "isotropic.weights.safetensors");
    advgnn_ctx_clear_error(ctx);
    advgnn_options_free(opts);
}

/* 'init_weights' loads the same network as 'weights' but leaves training on;
 * both at once are rejected. */
static void check_init_weights(const advgnn_plugin_descriptor *desc)
{
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = 64, .image_width = 64,
                                    .channels = 3, .seed = 1};
    char weights[1024], outputs[1024];
    int64_t shape[4] = {0};
    advgnn_options *opts;
    advgnn_tensor input;
    fixture_file f;
    const float *data;
    size_t count;
    void *state = NULL;

    snprintf(weights, sizeof(weights), "%s/pyramid.weights.safetensors", ADVGNN_PARITY_FIXTURES);
    snprintf(outputs, sizeof(outputs), "%s/pyramid.outputs.safetensors", ADVGNN_PARITY_FIXTURES);
    CHECK(fixture_open(&f, outputs));
    data = f.header ? fixture_tensor(&f, "input", shape, NULL, &count) : NULL;
    CHECK(data != NULL);
    if (!data) {
        fixture_close(&f);
        return;
    }
    input = advgnn_tensor_view((void *)data, ADVGNN_DTYPE_F32, 4, shape);

    opts = fixture_options(desc, 1, weights);
    set_string(opts, "init_weights", weights);
    CHECK(fn->create(ctx, opts, &config, &state) != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "init_weights");
    advgnn_ctx_clear_error(ctx);

    advgnn_options_free(opts);
    opts = fixture_options(desc, 1, NULL);
    set_string(opts, "init_weights", weights);
    OK(fn->create(ctx, opts, &config, &state));
    CHECK(((ae_encoder *)state)->weights == NULL);
    printf("pyramid through init_weights: inference\n");
    OK(ae_forward(&((ae_encoder *)state)->net, ctx, &input, ADVGNN_NN_MODE_INFERENCE));
    CHECK(compare_outputs(&((ae_encoder *)state)->net, &f, "eval.", "init_weights") >= 5);
    fn->destroy(state);
    advgnn_options_free(opts);
    fixture_close(&f);
}

int main(void)
{
    const advgnn_plugin_descriptor *desc;
    void *handle = NULL;

    ctx = advgnn_ctx_new();
    advgnn_ctx_set_threads(ctx, 2);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    desc = harness_load("vig", &handle);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    check_fixture(desc, "pyramid", 1);
    check_fixture(desc, "isotropic", 0);
    check_mismatch(desc);
    check_init_weights(desc);
    dlclose(handle);
    advgnn_ctx_free(ctx);
    return CHECK_DONE();
}
