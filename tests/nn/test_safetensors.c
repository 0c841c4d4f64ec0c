/* Weights files: save and load round trip, mismatches named by tensor,
 * corrupt files, a BF16 entry, and (with --python) a file read and written
 * by Python's safetensors package. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn_test.h"

#define SKIP_CODE 77 /* CTest's SKIP_RETURN_CODE for this test */

static char dir[64];

static void path_in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* A small network: convolution, batch norm, transposed convolution. */
static advgnn_nn *build_net(advgnn_ctx *ctx, int channels, int with_deconv)
{
    int64_t shape[4] = {1, 2, 6, 6}, mid[4] = {1, channels, 6, 6};
    advgnn_conv2d_desc conv = {.out_channels = channels, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = 1};
    advgnn_conv2d_desc deconv = {.out_channels = 2, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2};
    advgnn_nn *nn = NULL;
    advgnn_layer *l;

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "enc.conv", ADVGNN_DTYPE_F32, shape, &conv, &l));
    NN_CHECK_OK(ctx, advgnn_nn_batch_norm(nn, ctx, "enc.bn", ADVGNN_DTYPE_F32, mid, 1e-5, 0.1, &l));
    if (with_deconv)
        NN_CHECK_OK(ctx, advgnn_nn_conv_transpose2d(nn, ctx, "dec.up", ADVGNN_DTYPE_F32, mid, &deconv, &l));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    return nn;
}

/* Gives every parameter and buffer distinct values (running statistics too). */
static void fill_params(advgnn_nn *nn, uint64_t seed)
{
    advgnn_rng rng;

    advgnn_rng_seed(&rng, seed);
    for (size_t i = 0; i < advgnn_nn_param_count(nn); i++) {
        const advgnn_nn_param *p = advgnn_nn_param_at(nn, i);

        fill_uniform(&rng, p->value->data, advgnn_tensor_numel(p->value), 0.1, 1.0);
    }
}

static float *snapshot(advgnn_nn *nn, size_t *count)
{
    size_t total = 0, offset = 0;
    float *copy;

    for (size_t i = 0; i < advgnn_nn_param_count(nn); i++)
        total += (size_t)advgnn_tensor_numel(advgnn_nn_param_at(nn, i)->value);
    copy = malloc(total * sizeof(float));
    for (size_t i = 0; i < advgnn_nn_param_count(nn); i++) {
        const advgnn_tensor *v = advgnn_nn_param_at(nn, i)->value;

        memcpy(copy + offset, v->data, (size_t)advgnn_tensor_numel(v) * sizeof(float));
        offset += (size_t)advgnn_tensor_numel(v);
    }
    *count = total;
    return copy;
}

static void test_round_trip_and_errors(advgnn_ctx *ctx)
{
    char path[128], bad[128];
    advgnn_nn *nn = build_net(ctx, 4, 1), *other;
    float *before, *after;
    size_t count, count2;

    path_in_dir(path, sizeof(path), "weights.safetensors");
    fill_params(nn, 90);
    before = snapshot(nn, &count);
    NN_CHECK_OK(ctx, advgnn_nn_save(nn, ctx, path));
    fill_params(nn, 91);
    NN_CHECK_OK(ctx, advgnn_nn_load(nn, ctx, path));
    after = snapshot(nn, &count2);
    CHECK_INT_EQ(count, count2);
    CHECK(memcmp(before, after, count * sizeof(float)) == 0);
    free(after);

    /* A different shape is named; the parameters stay unchanged. */
    other = build_net(ctx, 3, 1);
    fill_params(other, 92);
    after = snapshot(other, &count2);
    CHECK_INT_EQ(advgnn_nn_load(other, ctx, path), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "tensor enc.conv.weight has shape [4,2,3,3]");
    advgnn_ctx_clear_error(ctx);
    {
        float *unchanged = snapshot(other, &count2);

        CHECK(memcmp(unchanged, after, count2 * sizeof(float)) == 0);
        free(unchanged);
    }
    free(after);
    advgnn_nn_free(other);

    /* A tensor of the file that the network lacks, and the reverse. */
    other = build_net(ctx, 4, 0);
    CHECK_INT_EQ(advgnn_nn_load(other, ctx, path), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "unexpected tensor dec.up.");
    advgnn_ctx_clear_error(ctx);
    NN_CHECK_OK(ctx, advgnn_nn_save(other, ctx, path));
    CHECK_INT_EQ(advgnn_nn_load(nn, ctx, path), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "tensor dec.up.weight is missing");
    advgnn_ctx_clear_error(ctx);
    advgnn_nn_free(other);

    /* A truncated copy of a saved file. */
    NN_CHECK_OK(ctx, advgnn_nn_save(nn, ctx, path));
    path_in_dir(bad, sizeof(bad), "truncated.safetensors");
    {
        FILE *in = fopen(path, "rb"), *out = fopen(bad, "wb");
        char buf[300];
        size_t n = fread(buf, 1, sizeof(buf), in);

        fwrite(buf, 1, n, out);
        fclose(in);
        fclose(out);
    }
    CHECK(advgnn_nn_load(nn, ctx, bad) != ADVGNN_OK);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "truncated.safetensors");
    advgnn_ctx_clear_error(ctx);

    /* Files that are no safetensors files or are cut off: a header length
     * over the format's limit, text, a file cut inside its header, and one
     * shorter than the length field. */
#define BYTES(literal) literal, sizeof(literal) - 1
    static const struct {
        const char *bytes;
        size_t size;
        const char *expected;
    } broken[] = {
        {BYTES("\xff\xff\xff\x7f\0\0\0\0{}"),
         "is not a safetensors file: its first 8 bytes give a header length of 2147483647"},
        {BYTES("this is a text file and no tensors at all"), "is not a safetensors file: "},
        {BYTES("\x64\0\0\0\0\0\0\0{\"__metadata__\":{"),
         "is truncated or not a safetensors file: its header length 100 is more than the 17 bytes that follow it"},
        {BYTES("abc"), "is not a safetensors file or is truncated: it has 3 bytes"},
    };
#undef BYTES
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        FILE *out = fopen(bad, "wb");

        fwrite(broken[i].bytes, 1, broken[i].size, out);
        fclose(out);
        CHECK_INT_EQ(advgnn_nn_load(nn, ctx, bad), ADVGNN_ERR_FORMAT);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), broken[i].expected);
        CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), bad);
        advgnn_ctx_clear_error(ctx);
    }

    /* A folder opens with fopen but is no weights file. */
    CHECK_INT_EQ(advgnn_nn_load(nn, ctx, "/tmp"), ADVGNN_ERR_IO);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "weights file /tmp is a folder; name a .safetensors file");
    advgnn_ctx_clear_error(ctx);
    free(before);
    advgnn_nn_free(nn);
}

/* A hand-written file with BF16 tensors: 1.5 (0x3fc0) and -2 (0xc000). */
static void test_bf16_entry(advgnn_ctx *ctx)
{
    const char *header = "{\"fc.weight\":{\"dtype\":\"BF16\",\"shape\":[1,1,1,1],\"data_offsets\":[0,2]},"
                         "\"fc.bias\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[2,4]}}";
    const unsigned char data[4] = {0xc0, 0x3f, 0x00, 0xc0};
    int64_t shape[4] = {1, 1, 2, 2};
    advgnn_conv2d_desc desc = {.out_channels = 1, .kernel_h = 1, .kernel_w = 1, .bias = 1};
    advgnn_nn *nn = NULL;
    advgnn_layer *l = NULL;
    char path[128];
    unsigned char len[8] = {0};
    FILE *f;

    path_in_dir(path, sizeof(path), "bf16.safetensors");
    len[0] = (unsigned char)strlen(header);
    f = fopen(path, "wb");
    fwrite(len, 1, 8, f);
    fputs(header, f);
    fwrite(data, 1, 4, f);
    fclose(f);

    NN_CHECK_OK(ctx, advgnn_nn_new(ctx, &nn));
    NN_CHECK_OK(ctx, advgnn_nn_conv2d(nn, ctx, "fc", ADVGNN_DTYPE_F32, shape, &desc, &l));
    NN_CHECK_OK(ctx, advgnn_nn_commit(nn, ctx));
    NN_CHECK_OK(ctx, advgnn_nn_load(nn, ctx, path));
    if (l) {
        CHECK(((float *)advgnn_layer_param(l, "weight")->value->data)[0] == 1.5f);
        CHECK(((float *)advgnn_layer_param(l, "bias")->value->data)[0] == -2.0f);
    }
    advgnn_nn_free(nn);
}

/* Writes the expected names, shapes and values for the Python check. */
static void write_expected(advgnn_nn *nn, const char *path)
{
    FILE *f = fopen(path, "w");

    for (size_t i = 0; i < advgnn_nn_param_count(nn); i++) {
        const advgnn_nn_param *p = advgnn_nn_param_at(nn, i);
        const float *v = p->value->data;

        fprintf(f, "%s %d", p->name, p->value->ndim);
        for (int d = 0; d < p->value->ndim; d++)
            fprintf(f, " %lld", (long long)p->value->shape[d]);
        for (int64_t j = 0; j < advgnn_tensor_numel(p->value); j++)
            fprintf(f, " %.9g", v[j]);
        fputc('\n', f);
    }
    fclose(f);
}

static int test_python(advgnn_ctx *ctx)
{
    char weights[128], expected[128], back[128], wrong[128], command[1024];
    advgnn_nn *nn;
    float *before, *after;
    size_t count, count2;
    int status;

    if (access(ADVGNN_TEST_PYTHON, X_OK) != 0) {
        printf("SKIP: %s is missing; create it with scripts/python-env.sh\n", ADVGNN_TEST_PYTHON);
        return SKIP_CODE;
    }
    path_in_dir(weights, sizeof(weights), "to_python.safetensors");
    path_in_dir(expected, sizeof(expected), "expected.txt");
    path_in_dir(back, sizeof(back), "from_python.safetensors");
    path_in_dir(wrong, sizeof(wrong), "wrong_dtype.safetensors");
    nn = build_net(ctx, 4, 1);
    fill_params(nn, 93);
    NN_CHECK_OK(ctx, advgnn_nn_save(nn, ctx, weights));
    write_expected(nn, expected);

    snprintf(command, sizeof(command), "'%s' '%s/tests/nn/check_safetensors.py' '%s' '%s' '%s' '%s'",
             ADVGNN_TEST_PYTHON, ADVGNN_SOURCE_DIR, weights, expected, back, wrong);
    status = system(command);
    CHECK_INT_EQ(status, 0);

    /* Python wrote v * 2 + 1 for every value v, in float32. */
    before = snapshot(nn, &count);
    fill_params(nn, 94);
    NN_CHECK_OK(ctx, advgnn_nn_load(nn, ctx, back));
    after = snapshot(nn, &count2);
    CHECK_INT_EQ(count, count2);
    for (size_t i = 0; i < count && i < count2; i++) {
        if (after[i] != before[i] * 2.0f + 1.0f) {
            fprintf(stderr, "value %zu: %.9g, expected %.9g\n", i, after[i], before[i] * 2.0f + 1.0f);
            check_failures++;
            break;
        }
    }

    /* Python stored the first tensor in name order (dec.up.weight) as F64. */
    CHECK_INT_EQ(advgnn_nn_load(nn, ctx, wrong), ADVGNN_ERR_FORMAT);
    CHECK_STR_CONTAINS(advgnn_ctx_error(ctx), "tensor dec.up.weight has dtype F64");
    advgnn_ctx_clear_error(ctx);
    free(before);
    free(after);
    advgnn_nn_free(nn);
    return 0;
}

int main(int argc, char **argv)
{
    advgnn_ctx *ctx = advgnn_ctx_new();
    int python = argc > 1 && strcmp(argv[1], "--python") == 0;
    int skipped = 0;

    snprintf(dir, sizeof(dir), "/tmp/advgnn-safetensors-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    advgnn_ctx_set_threads(ctx, 2);
    if (python) {
        skipped = test_python(ctx) == SKIP_CODE;
    } else {
        test_round_trip_and_errors(ctx);
        test_bf16_entry(ctx);
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
