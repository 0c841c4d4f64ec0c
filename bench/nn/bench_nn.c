/* Throughput of the nn layers at pyramid ViG-Ti sizes (224 x 224 input,
 * batch 8) and time of the kNN graph, printed as Markdown tables.
 *
 * usage: bench_nn [--csv] [threads] [filter]   (default 2 threads; any order)
 *
 * With a filter, only the layers whose label contains it run, and the kNN
 * graph runs only when the filter is "knn".
 *
 * --csv prints the same times as comma-separated rows with four decimals,
 * which bench/torch/compare.py reads. Its header lines start with '#'.
 *
 * Peak FLOP/s come from an FMA loop (f32) and a VDPBF16PS loop (bf16) run on
 * the same threads, so the ratios compare with this machine's own peak.
 *
 * Every time is reported twice: wall-clock, and process CPU time divided by
 * the thread count. On a machine shared with other jobs the wall time grows
 * with the load while the CPU time stays close to what the work costs on idle
 * cores, so GFLOP/s and the ratios to peak use the CPU time. Run with
 * OMP_WAIT_POLICY=passive on a loaded machine, or spinning threads count as
 * work. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advgnn/advgnn.h"

#define BATCH 8
#define MIN_SECONDS 0.3 /* each measurement repeats until it has run this long */

static int threads = 2;
static int csv; /* nonzero: print CSV rows instead of Markdown tables */
static const char *filter; /* substring of the labels to run, or NULL for all */

static double clock_seconds(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

/* Process CPU seconds divided by the thread count. */
static double cpu_now(void)
{
    return clock_seconds(CLOCK_PROCESS_CPUTIME_ID) / threads;
}

typedef struct timing {
    double wall, cpu; /* seconds per repetition */
} timing;

/* ---- peak -------------------------------------------------------------- */

/* Twelve accumulators in named variables (so they stay in registers) hide
 * the FMA latency; each FMA is 16 lanes x 2 FLOPs. */
#define PEAK_BODY(op)                                                                                          \
    do {                                                                                                       \
        a0 = op(a0, x, y), a1 = op(a1, x, y), a2 = op(a2, x, y), a3 = op(a3, x, y), a4 = op(a4, x, y);         \
        a5 = op(a5, x, y), a6 = op(a6, x, y), a7 = op(a7, x, y), a8 = op(a8, x, y), a9 = op(a9, x, y);         \
        a10 = op(a10, x, y), a11 = op(a11, x, y);                                                              \
    } while (0)

#define PEAK_SUM()                                                                                             \
    _mm512_reduce_add_ps(_mm512_add_ps(                                                                         \
        _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),                              \
                      _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))),                             \
        _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))))

__attribute__((target("avx512f"))) static double fma_loop(long iterations, float seed)
{
    __m512 x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(0.9999999f);
    __m512 a0 = _mm512_set1_ps(seed), a1 = _mm512_set1_ps(seed + 1), a2 = _mm512_set1_ps(seed + 2);
    __m512 a3 = _mm512_set1_ps(seed + 3), a4 = _mm512_set1_ps(seed + 4), a5 = _mm512_set1_ps(seed + 5);
    __m512 a6 = _mm512_set1_ps(seed + 6), a7 = _mm512_set1_ps(seed + 7), a8 = _mm512_set1_ps(seed + 8);
    __m512 a9 = _mm512_set1_ps(seed + 9), a10 = _mm512_set1_ps(seed + 10), a11 = _mm512_set1_ps(seed + 11);

    for (long it = 0; it < iterations; it++)
        PEAK_BODY(_mm512_fmadd_ps);
    return PEAK_SUM();
}

/* The AVX2 form for CPUs without AVX-512: 8 lanes x 2 FLOPs per FMA. */
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iterations, float seed)
{
    __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
    __m256 a0 = _mm256_set1_ps(seed), a1 = _mm256_set1_ps(seed + 1), a2 = _mm256_set1_ps(seed + 2);
    __m256 a3 = _mm256_set1_ps(seed + 3), a4 = _mm256_set1_ps(seed + 4), a5 = _mm256_set1_ps(seed + 5);
    __m256 a6 = _mm256_set1_ps(seed + 6), a7 = _mm256_set1_ps(seed + 7), a8 = _mm256_set1_ps(seed + 8);
    __m256 a9 = _mm256_set1_ps(seed + 9), a10 = _mm256_set1_ps(seed + 10), a11 = _mm256_set1_ps(seed + 11);
    float lanes[8];
    double sum = 0;

    for (long it = 0; it < iterations; it++)
        PEAK_BODY(_mm256_fmadd_ps);
    a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                       _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    a0 = _mm256_add_ps(a0, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    _mm256_storeu_ps(lanes, a0);
    for (int i = 0; i < 8; i++)
        sum += lanes[i];
    return sum;
}

/* VDPBF16PS: 32 bf16 products summed into 16 f32 lanes, 64 FLOPs. */
__attribute__((target("avx512f,avx512bf16"))) static double bf16_loop(long iterations, float seed)
{
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3f80);
    __m512 a0 = _mm512_set1_ps(seed), a1 = _mm512_set1_ps(seed + 1), a2 = _mm512_set1_ps(seed + 2);
    __m512 a3 = _mm512_set1_ps(seed + 3), a4 = _mm512_set1_ps(seed + 4), a5 = _mm512_set1_ps(seed + 5);
    __m512 a6 = _mm512_set1_ps(seed + 6), a7 = _mm512_set1_ps(seed + 7), a8 = _mm512_set1_ps(seed + 8);
    __m512 a9 = _mm512_set1_ps(seed + 9), a10 = _mm512_set1_ps(seed + 10), a11 = _mm512_set1_ps(seed + 11);

    for (long it = 0; it < iterations; it++)
        PEAK_BODY(_mm512_dpbf16_ps);
    return PEAK_SUM();
}

/* GFLOP/s of this machine's widest FMA (AVX-512, else AVX2) or of
 * VDPBF16PS; 0 for bf16 on a CPU without AVX512_BF16. */
static double measure_peak(int bf16)
{
    const long iterations = 20000000;
    volatile float seed = 1.0f;
    int avx512 = __builtin_cpu_supports("avx512f");
    double (*loop)(long, float) = avx512 ? fma_loop : fma_loop_avx2;
    double flops_per_iteration = 12.0 * (avx512 ? 32 : 16), start, sink = 0;

    if (bf16) {
        if (!__builtin_cpu_supports("avx512bf16"))
            return 0;
        loop = bf16_loop;
        flops_per_iteration = 12.0 * 64;
    }
    start = cpu_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += loop(iterations, seed + (float)omp_get_thread_num());
    if (sink == 42.0)
        printf(" ");
    return (double)iterations * flops_per_iteration * threads / (cpu_now() - start) / 1e9;
}

/* ---- layers ------------------------------------------------------------ */

typedef struct bench_case {
    const char *label;
    advgnn_layer *layer;
    int inputs;
    double flops;  /* per forward pass; backward-data and backward-weights count the same */
    int weights;   /* the backward computes input and weight gradients (two passes of `flops`) */
} bench_case;

static void random_fill(advgnn_tensor *t, unsigned seed)
{
    int64_t n = advgnn_tensor_numel(t);
    float *tmp = malloc(sizeof(float) * (size_t)n);

    srand(seed);
    for (int64_t i = 0; i < n; i++)
        tmp[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    if (t->dtype == ADVGNN_DTYPE_BF16)
        advgnn_f32_to_bf16(tmp, t->data, (size_t)n);
    else
        memcpy(t->data, tmp, sizeof(float) * (size_t)n);
    free(tmp);
}

/* Returns the mean time of a forward or backward pass over repetitions
 * lasting MIN_SECONDS, after one warm-up. */
static timing time_pass(advgnn_ctx *ctx, bench_case *bc, const advgnn_tensor *const *in, const advgnn_tensor *dy,
                        int backward)
{
    double start, cpu_start, elapsed;
    int reps = 0;

    if (advgnn_layer_forward(bc->layer, ctx, in, ADVGNN_NN_MODE_TRAINING) != ADVGNN_OK ||
        (backward && advgnn_layer_backward(bc->layer, ctx, dy) != ADVGNN_OK)) {
        fprintf(stderr, "%s: %s\n", bc->label, advgnn_ctx_error(ctx));
        exit(1);
    }
    start = now();
    cpu_start = cpu_now();
    do {
        if (backward)
            advgnn_layer_backward(bc->layer, ctx, dy);
        else
            advgnn_layer_forward(bc->layer, ctx, in, ADVGNN_NN_MODE_TRAINING);
        reps++;
        elapsed = now() - start;
    } while (elapsed < MIN_SECONDS || reps < 3);
    return (timing){elapsed / reps, (cpu_now() - cpu_start) / reps};
}

static void run_case(advgnn_ctx *ctx, bench_case *bc, double peak)
{
    advgnn_tensor inputs[2], dy;
    const advgnn_tensor *in[2];
    const advgnn_tensor *out = advgnn_layer_output(bc->layer);
    timing fwd, bwd;
    double bwd_flops;
    const char *dtype = out->dtype == ADVGNN_DTYPE_BF16 ? "bf16" : "f32";

    for (int k = 0; k < bc->inputs; k++) {
        const advgnn_tensor *g = advgnn_layer_input_grad(bc->layer, k);
        int64_t image[4] = {BATCH, 3, 224, 224};

        advgnn_tensor_alloc(ctx, &inputs[k], out->dtype, 4, g ? g->shape : image);
        random_fill(&inputs[k], 1 + (unsigned)k);
        in[k] = &inputs[k];
    }
    advgnn_tensor_alloc(ctx, &dy, out->dtype, 4, out->shape);
    random_fill(&dy, 9);

    fwd = time_pass(ctx, bc, in, &dy, 0);
    bwd = time_pass(ctx, bc, in, &dy, 1);
    bwd_flops = bc->flops * (bc->weights ? 2 : 1);

    /* No peak (bf16 emulated on AVX-512 without AVX512_BF16): the ratio reads "nan%". */
    if (peak <= 0)
        peak = NAN;
    if (csv)
        printf("layer,%s,%s,%.4f,%.4f,%.4f,%.4f\n", bc->label, dtype, fwd.wall * 1e3, fwd.cpu * 1e3, bwd.wall * 1e3,
               bwd.cpu * 1e3);
    else if (bc->flops > 0)
        printf("| %s | %s | %.2f | %.2f | %.1f | %.0f%% | %.2f | %.2f | %.1f | %.0f%% |\n", bc->label, dtype,
               fwd.wall * 1e3, fwd.cpu * 1e3, bc->flops / fwd.cpu / 1e9, 100 * bc->flops / fwd.cpu / 1e9 / peak,
               bwd.wall * 1e3, bwd.cpu * 1e3, bwd_flops / bwd.cpu / 1e9, 100 * bwd_flops / bwd.cpu / 1e9 / peak);
    else
        printf("| %s | %s | %.2f | %.2f | - | - | %.2f | %.2f | - | - |\n", bc->label, dtype, fwd.wall * 1e3,
               fwd.cpu * 1e3, bwd.wall * 1e3, bwd.cpu * 1e3);
    for (int k = 0; k < bc->inputs; k++)
        advgnn_tensor_release(&inputs[k]);
    advgnn_tensor_release(&dy);
}

typedef enum kind { CONV, DECONV, BN, GELU, MAXPOOL, AVGPOOL, RESIZE, ADD, CONCAT, MAXREL } kind;

typedef struct spec {
    const char *label;
    kind kind;
    int c, h, w;         /* input */
    int out_c, k, stride, pad, groups;
} spec;

static void bench_spec(advgnn_ctx *ctx, const spec *s, advgnn_dtype dtype, double peak)
{
    int64_t shape[4] = {BATCH, s->c, s->h, s->w};
    advgnn_conv2d_desc conv = {.out_channels = s->out_c, .kernel_h = s->k, .kernel_w = s->k, .stride_h = s->stride,
                               .stride_w = s->stride, .pad_h = s->pad, .pad_w = s->pad, .groups = s->groups,
                               .bias = 1};
    advgnn_pool_desc pool = {s->kind == MAXPOOL ? ADVGNN_POOL_MAX : ADVGNN_POOL_AVG, s->k, s->k, s->stride,
                             s->stride, s->pad, s->pad};
    bench_case bc = {s->label, NULL, 1, 0, 0};
    advgnn_nn *nn = NULL;
    int32_t *edges = NULL;
    int rc = advgnn_nn_new(ctx, &nn);

    switch (s->kind) {
    case CONV:
        rc = advgnn_nn_conv2d(nn, ctx, "l", dtype, shape, &conv, &bc.layer);
        bc.weights = 1;
        break;
    case DECONV:
        rc = advgnn_nn_conv_transpose2d(nn, ctx, "l", dtype, shape, &conv, &bc.layer);
        bc.weights = 1;
        break;
    case BN: rc = advgnn_nn_batch_norm(nn, ctx, "l", dtype, shape, 1e-5, 0.1, &bc.layer); break;
    case GELU: rc = advgnn_nn_activation(nn, ctx, "l", dtype, shape, ADVGNN_ACTIVATION_GELU, &bc.layer); break;
    case MAXPOOL:
    case AVGPOOL: rc = advgnn_nn_pool2d(nn, ctx, "l", dtype, shape, &pool, &bc.layer); break;
    case RESIZE:
        rc = advgnn_nn_resize(nn, ctx, "l", dtype, shape, 2 * s->h, 2 * s->w, ADVGNN_NN_RESIZE_BILINEAR, &bc.layer);
        break;
    case ADD:
        rc = advgnn_nn_add(nn, ctx, "l", dtype, shape, &bc.layer);
        bc.inputs = 2;
        break;
    case CONCAT: {
        const int64_t shapes[2][4] = {{BATCH, s->c, s->h, s->w}, {BATCH, s->c, s->h, s->w}};

        rc = advgnn_nn_concat(nn, ctx, "l", dtype, 2, shapes, &bc.layer);
        bc.inputs = 2;
        break;
    }
    case MAXREL: {
        int64_t keys[4] = {BATCH, s->c, s->h / s->stride, s->w / s->stride};
        int64_t key_count = keys[2] * keys[3];

        rc = advgnn_nn_max_relative(nn, ctx, "l", dtype, shape, keys, s->k, 1, &bc.layer);
        bc.inputs = 2;
        edges = malloc(sizeof(int32_t) * BATCH * s->h * s->w * s->k);
        for (int64_t i = 0; i < (int64_t)BATCH * s->h * s->w * s->k; i++)
            edges[i] = (int32_t)(i * 7919 % key_count);
        if (rc == ADVGNN_OK)
            rc = advgnn_max_relative_set_edges(bc.layer, ctx, edges);
        break;
    }
    }
    /* The image needs no gradient, so the first convolution skips backward-data. */
    if (rc == ADVGNN_OK && s->kind == CONV && s->c == 3) {
        advgnn_layer_set_input_grad(bc.layer, 0);
        bc.weights = 0;
    }
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_commit(nn, ctx);
    if (rc == ADVGNN_OK)
        rc = advgnn_nn_init_params(nn, ctx, 1);
    if (rc != ADVGNN_OK) {
        fprintf(stderr, "%s: %s\n", s->label, advgnn_ctx_error(ctx));
        exit(1);
    }
    if (s->kind == CONV || s->kind == DECONV) {
        const advgnn_tensor *out = advgnn_layer_output(bc.layer);
        int64_t pixels = s->kind == CONV ? out->shape[2] * out->shape[3] : (int64_t)s->h * s->w;
        int64_t macs_per_pixel = (int64_t)(s->kind == CONV ? s->out_c : s->c) *
                                 ((s->kind == CONV ? s->c : s->out_c) / (s->groups ? s->groups : 1)) * s->k * s->k;

        bc.flops = 2.0 * BATCH * (double)pixels * (double)macs_per_pixel;
    }
    run_case(ctx, &bc, peak);
    advgnn_nn_free(nn);
    free(edges);
}

/* ---- kNN graph --------------------------------------------------------- */

static void bench_knn(advgnn_ctx *ctx, int channels, int ratio, int bf16)
{
    int64_t shape[4] = {BATCH, channels, 56, 56};
    advgnn_knn_config config = {9, 1, ratio, NULL, bf16};
    advgnn_knn_graph *graph = NULL;
    advgnn_tensor x;
    int32_t *edges = malloc(sizeof(int32_t) * BATCH * 3136 * 9);
    double start, cpu_start, elapsed;
    int reps = 0;

    advgnn_tensor_alloc(ctx, &x, ADVGNN_DTYPE_F32, 4, shape);
    random_fill(&x, 3);
    if (advgnn_knn_graph_new(ctx, channels, 56, 56, &config, &graph) != ADVGNN_OK ||
        advgnn_knn_graph_build(graph, ctx, &x, edges) != ADVGNN_OK) {
        fprintf(stderr, "knn: %s\n", advgnn_ctx_error(ctx));
        exit(1);
    }
    start = now();
    cpu_start = cpu_now();
    do {
        advgnn_knn_graph_build(graph, ctx, &x, edges);
        reps++;
        elapsed = now() - start;
    } while (elapsed < MIN_SECONDS || reps < 3);
    if (csv)
        printf("knn,knn 3136 nodes %d ch %d keys k=9,%s,%.4f,%.4f,,\n", channels, advgnn_knn_graph_key_count(graph),
               bf16 ? "bf16" : "f32", elapsed / reps / BATCH * 1e3, (cpu_now() - cpu_start) / reps / BATCH * 1e3);
    else
        printf("| 3136 | %d | %d | 9 | %s | %.2f | %.2f |\n", channels, advgnn_knn_graph_key_count(graph),
               bf16 ? "bf16" : "f32", elapsed / reps / BATCH * 1e3, (cpu_now() - cpu_start) / reps / BATCH * 1e3);
    advgnn_knn_graph_free(graph);
    advgnn_tensor_release(&x);
    free(edges);
}

static void usage(FILE *to)
{
    fprintf(to, "usage: bench_nn [--csv] [threads] [filter]   (default 2 threads; filter: part of a layer label, "
                "or knn)\n");
}

/* Reads [--csv] [threads] [filter] in any order: a word that is an integer
 * is the thread count, another word the filter. Returns 0 after printing
 * the error. */
static int parse_args(int argc, char **argv, int *threads_out)
{
    int have_threads = 0;

    *threads_out = 2;
    for (int i = 1; i < argc; i++) {
        char *end;
        long value;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(argv[i], "--csv") == 0) {
            csv = 1;
            continue;
        }
        value = strtol(argv[i], &end, 10);
        if (argv[i][0] != '\0' && *end == '\0') {
            if (have_threads || value < 1 || value > 1024) {
                fprintf(stderr, "bench_nn: %s '%s'; threads must be one integer from 1 to 1024\n",
                        have_threads ? "a second thread count" : "invalid thread count", argv[i]);
                usage(stderr);
                return 0;
            }
            *threads_out = (int)value;
            have_threads = 1;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "bench_nn: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 0;
        } else if (filter) {
            fprintf(stderr, "bench_nn: a second filter '%s' after '%s'\n", argv[i], filter);
            usage(stderr);
            return 0;
        } else {
            filter = argv[i];
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    /* Pyramid ViG-Ti at 224 x 224: stem to 56 x 56 x 48, stages of 48, 96,
     * 240, 384 channels at 56, 28, 14, 7; Grapher fc 1x1, max-relative
     * concat 2C -> 2C grouped 1x1 (groups 4), FFN 1x1 C -> 4C -> C. */
    static const spec specs[] = {
        {"stem conv 3x3 s2 3->24 @224", CONV, 3, 224, 224, 24, 3, 2, 1, 1},
        {"stem conv 3x3 s2 24->48 @112", CONV, 24, 112, 112, 48, 3, 2, 1, 1},
        {"stem conv 3x3 48->48 @56", CONV, 48, 56, 56, 48, 3, 1, 1, 1},
        {"grapher fc 1x1 48->48 @56", CONV, 48, 56, 56, 48, 1, 1, 0, 1},
        {"mrconv 1x1 g4 96->96 @56", CONV, 96, 56, 56, 96, 1, 1, 0, 4},
        {"ffn 1x1 48->192 @56", CONV, 48, 56, 56, 192, 1, 1, 0, 1},
        {"ffn 1x1 192->48 @56", CONV, 192, 56, 56, 48, 1, 1, 0, 1},
        {"downsample 3x3 s2 48->96 @56", CONV, 48, 56, 56, 96, 3, 2, 1, 1},
        {"ffn 1x1 96->384 @28", CONV, 96, 28, 28, 384, 1, 1, 0, 1},
        {"downsample 3x3 s2 96->240 @28", CONV, 96, 28, 28, 240, 3, 2, 1, 1},
        {"downsample 3x3 s2 240->384 @14", CONV, 240, 14, 14, 384, 3, 2, 1, 1},
        {"ffn 1x1 240->960 @14", CONV, 240, 14, 14, 960, 1, 1, 0, 1},
        {"ffn 1x1 384->1536 @7", CONV, 384, 7, 7, 1536, 1, 1, 0, 1},
        {"decoder deconv 4x4 s2 48->24 @56", DECONV, 48, 56, 56, 24, 4, 2, 1, 1},
        {"decoder out conv 3x3 16->3 @224", CONV, 16, 224, 224, 3, 3, 1, 1, 1},
        {"batch norm 48 @56", BN, 48, 56, 56, 0, 0, 0, 0, 0},
        {"GELU 192 @56", GELU, 192, 56, 56, 0, 0, 0, 0, 0},
        {"max pool 3x3 s2 48 @56", MAXPOOL, 48, 56, 56, 0, 3, 2, 1, 0},
        {"avg pool 4x4 (keys r=4) 48 @56", AVGPOOL, 48, 56, 56, 0, 4, 4, 0, 0},
        {"bilinear resize x2 48 @28", RESIZE, 48, 28, 28, 0, 0, 0, 0, 0},
        {"add 48 @56", ADD, 48, 56, 56, 0, 0, 0, 0, 0},
        {"concat 48+48 @56", CONCAT, 48, 56, 56, 0, 0, 0, 0, 0},
        {"max-relative k=9 r=4 48 @56", MAXREL, 48, 56, 56, 0, 9, 4, 0, 0},
    };
    advgnn_ctx *ctx;
    double peak32, peak16;
    int bf16, layers = 0;

    if (!parse_args(argc, argv, &threads))
        return 2;
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
        layers += !filter || strstr(specs[i].label, filter) != NULL;
    if (filter && layers == 0 && strcmp(filter, "knn") != 0) {
        fprintf(stderr, "bench_nn: no layer label contains '%s'; pass knn or part of one of these labels:\n", filter);
        for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
            fprintf(stderr, "  %s\n", specs[i].label);
        return 2;
    }
    ctx = advgnn_ctx_new();
    if (!ctx) {
        fprintf(stderr, "bench_nn: out of memory\n");
        return 1;
    }
    advgnn_ctx_set_threads(ctx, threads);
    peak32 = measure_peak(0);
    peak16 = measure_peak(1);
    bf16 = advgnn_nn_bf16_supported();
    printf("%sthreads %d, batch %d; measured peak %.0f GFLOP/s f32 (%s), ", csv ? "# " : "", threads, BATCH, peak32,
           __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2");
    if (peak16 > 0)
        printf("%.0f GFLOP/s bf16\n", peak16);
    else
        printf("no VDPBF16PS peak (no AVX512_BF16)\n");
    if (!bf16)
        printf("%sbf16 rows skipped: oneDNN has no bf16 kernels on this CPU (it needs AVX-512)\n", csv ? "# " : "");
    if (!csv)
        printf("\n");
    if (csv)
        printf("# kind,label,dtype,fwd_ms_wall,fwd_ms_cpu,bwd_ms_wall,bwd_ms_cpu (knn: ms per image in fwd)\n");
    else if (layers > 0)
        printf("| layer | dtype | fwd ms wall | fwd ms CPU | fwd GFLOP/s | fwd %% peak | bwd ms wall | bwd ms CPU | "
               "bwd GFLOP/s | bwd %% peak |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        if (filter && !strstr(specs[i].label, filter))
            continue;
        bench_spec(ctx, &specs[i], ADVGNN_DTYPE_F32, peak32);
        if (bf16)
            bench_spec(ctx, &specs[i], ADVGNN_DTYPE_BF16, peak16);
    }

    if (filter && strcmp(filter, "knn") != 0) {
        advgnn_ctx_free(ctx);
        return 0;
    }
    if (!csv)
        printf("%s| nodes | channels | keys | k | matmul | ms per image wall | ms per image CPU |\n"
               "|---|---|---|---|---|---|---|\n",
               layers > 0 ? "\n" : "");
    for (int low = 0; low <= bf16; low++) {
        bench_knn(ctx, 48, 1, low);
        bench_knn(ctx, 96, 1, low);
        bench_knn(ctx, 48, 4, low);
        bench_knn(ctx, 96, 2, low);
    }
    advgnn_ctx_free(ctx);
    return 0;
}
