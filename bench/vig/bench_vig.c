/* Time of the vig encoder per image, through its plugin as the runner calls
 * it: inference (encode: the autoencoder's forward pass in inference mode,
 * plus the memory-bank features and the reconstruction copy) and training
 * (train: forward, the MSE + SSIM loss, backward, gradient clipping and one
 * Adam step per batch). The input is normally distributed noise, so the
 * work does not depend on a dataset. The kNN graph costs the same.
 *
 * usage: bench_vig [--threads N] [--preset NAME] [--size PIXELS] [--batch B]
 *                  [--steps S] [--repeats R] [--decoder deconv|graph]
 *                  [--precision f32|bf16] [--mode both|inference|training]
 *
 * Defaults: 2 threads, pvig_ti, 224 pixels, batch 8, 2 training steps per
 * repetition, 5 repetitions after one warm-up. A training repetition is one
 * train() call of one epoch of S batches, without validation images or
 * checkpoints. An inference repetition is one encode() call on one batch.
 * --mode times only one of the two (default both), for profiling one of them
 * under perf. --precision sets the plugin's option 'precision' (default f32). With bf16
 * the mode column reads "inference bf16" and "training bf16", so that
 * compare.py groups them apart from f32 rows and beside bench_vig_torch.py's
 * rows of the same --precision (bf16 autocast).
 *
 * Prints one CSV row per repetition, "side,mode,preset,threads,batch,size,
 * repetition,wall_ms_per_image,cpu_ms_per_image". cpu_ms_per_image is the
 * process CPU time divided by --threads and by the images, so it equals
 * wall_ms_per_image when every thread computes for the whole call. A lower
 * value means that threads waited: in serial parts of the network, or for a
 * core that other processes held. Lines starting with '#' are comments. bench/vig/compare.py reads the rows
 * of this program and of bench_vig_torch.py. Run with
 * OMP_WAIT_POLICY=passive, or idle OpenMP threads spin and count as CPU time. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "advgnn/advgnn.h"
#include "advgnn/encoder.h"
#include "advgnn/plugin.h"
#include "advgnn/rng.h"
#include "options/options_internal.h"

typedef struct settings {
    int threads, size, batch, steps, repeats;
    const char *preset, *decoder, *precision, *mode;
} settings;

static double clock_seconds(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- arguments ------------------------------------------------------------ */

static int parse_int(const char *name, const char *text, int min, int max, int *out)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value < min || value > max) {
        fprintf(stderr, "bench_vig: %s must be an integer from %d to %d, got '%s'\n", name, min, max, text);
        return 0;
    }
    *out = (int)value;
    return 1;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: bench_vig [--threads N] [--preset NAME] [--size PIXELS] [--batch B] [--steps S]\n"
                "                 [--repeats R] [--decoder deconv|graph] [--precision f32|bf16]\n"
                "                 [--mode both|inference|training]\n"
                "Prints CSV rows of milliseconds per image. wall_ms_per_image is the elapsed time per image.\n"
                "cpu_ms_per_image is the process CPU time divided by --threads and by the images: it equals\n"
                "wall_ms_per_image when every thread computes all the time, and is lower when threads wait.\n"
                "See bench/vig/bench_vig.c for the details.\n");
}


/* Returns nonzero for the options that take a value. */
static int known_option(const char *arg)
{
    static const char *const names[] = {"--threads", "--size",    "--batch",     "--steps",
                                        "--repeats", "--preset",  "--decoder",   "--precision", "--mode"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(arg, names[i]) == 0)
            return 1;
    return 0;
}
static int parse_args(int argc, char **argv, settings *s)
{
    *s = (settings){.threads = 2, .size = 224, .batch = 8, .steps = 2, .repeats = 5, .preset = "pvig_ti",
                    .decoder = "deconv", .precision = "f32", .mode = "both"};
    for (int i = 1; i < argc; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int ok;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            fprintf(stderr, "bench_vig: unexpected argument '%s'; options start with --\n", argv[i]);
            usage(stderr);
            return 0;
        }
        if (!known_option(argv[i])) {
            fprintf(stderr, "bench_vig: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 0;
        }
        if (!value) {
            fprintf(stderr, "bench_vig: %s needs a value\n", argv[i]);
            return 0;
        }
        if (strcmp(argv[i], "--threads") == 0)
            ok = parse_int("--threads", value, 1, 1024, &s->threads);
        else if (strcmp(argv[i], "--size") == 0)
            ok = parse_int("--size", value, 32, 4096, &s->size);
        else if (strcmp(argv[i], "--batch") == 0)
            ok = parse_int("--batch", value, 1, 1024, &s->batch);
        else if (strcmp(argv[i], "--steps") == 0)
            ok = parse_int("--steps", value, 1, 1 << 20, &s->steps);
        else if (strcmp(argv[i], "--repeats") == 0)
            ok = parse_int("--repeats", value, 1, 1 << 20, &s->repeats);
        else if (strcmp(argv[i], "--preset") == 0)
            ok = (s->preset = value) != NULL;
        else if (strcmp(argv[i], "--decoder") == 0)
            ok = (s->decoder = value) != NULL;
        else if (strcmp(argv[i], "--precision") == 0)
            ok = (s->precision = value) != NULL;
        else if (strcmp(argv[i], "--mode") == 0) {
            ok = strcmp(value, "both") == 0 || strcmp(value, "inference") == 0 || strcmp(value, "training") == 0;
            if (ok)
                s->mode = value;
            else
                fprintf(stderr, "bench_vig: --mode must be both, inference or training, got '%s'\n", value);
        } else {
            fprintf(stderr, "bench_vig: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 0;
        }
        if (!ok)
            return 0;
        i++;
    }

    /* Threads beyond the CPUs wait for each other, and the CPU column
     * (process CPU time / threads) then under-counts the work. */
    if (s->threads > sysconf(_SC_NPROCESSORS_ONLN))
        fprintf(stderr, "bench_vig: warning: %d threads on %ld online CPUs; the CPU column is not comparable\n",
                s->threads, sysconf(_SC_NPROCESSORS_ONLN));
    return 1;
}

/* ---- the plugin ----------------------------------------------------------- */

/* Opens <build>/plugins/vig.so and returns its descriptor, or NULL. */
static const advgnn_plugin_descriptor *load_vig(void **handle)
{
    char path[1024];
    advgnn_plugin_entry_fn entry;
    void *symbol;

    snprintf(path, sizeof(path), "%s/vig.so", ADVGNN_BUILD_PLUGIN_DIR);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*handle) {
        fprintf(stderr, "bench_vig: cannot open %s: %s\n", path, dlerror());
        return NULL;
    }
    symbol = dlsym(*handle, ADVGNN_PLUGIN_ENTRY_SYMBOL);
    if (!symbol) {
        fprintf(stderr, "bench_vig: %s has no symbol %s\n", path, ADVGNN_PLUGIN_ENTRY_SYMBOL);
        return NULL;
    }
    /* dlsym returns an object pointer, and memcpy converts it without a pedantic warning. */
    memcpy(&entry, &symbol, sizeof(entry));
    return entry();
}

static int set_value(advgnn_options *opts, advgnn_ctx *ctx, const char *name, advgnn_value value)
{
    return advgnn_options_set(opts, ctx, name, &value) == ADVGNN_OK;
}

/* Returns the plugin's defaults with the preset, decoder, batch and one epoch
 * per train() call, or NULL with the error in ctx. */
static advgnn_options *vig_options(advgnn_ctx *ctx, const advgnn_plugin_descriptor *desc, const settings *s)
{
    advgnn_options *opts = NULL;

    if (advgnn_options_new(ctx, desc->name, desc->options, &opts) != ADVGNN_OK)
        return NULL;
    if (!set_value(opts, ctx, "preset", (advgnn_value){.kind = ADVGNN_VALUE_STRING, .string = s->preset}) ||
        !set_value(opts, ctx, "decoder", (advgnn_value){.kind = ADVGNN_VALUE_STRING, .string = s->decoder}) ||
        !set_value(opts, ctx, "precision", (advgnn_value){.kind = ADVGNN_VALUE_STRING, .string = s->precision}) ||
        !set_value(opts, ctx, "batch_size", (advgnn_value){.kind = ADVGNN_VALUE_INTEGER, .integer = s->batch}) ||
        !set_value(opts, ctx, "epochs", (advgnn_value){.kind = ADVGNN_VALUE_INTEGER, .integer = 1}) ||
        !set_value(opts, ctx, "seed", (advgnn_value){.kind = ADVGNN_VALUE_INTEGER, .integer = 1})) {
        advgnn_options_free(opts);
        return NULL;
    }
    return opts;
}

/* ---- timing --------------------------------------------------------------- */

typedef struct noise_images {
    float *data; /* (count, 3, size, size) */
    size_t count, floats_per_image;
} noise_images;

static int read_noise(void *user, advgnn_ctx *ctx, size_t first, size_t n, float *out)
{
    const noise_images *images = user;

    (void)ctx;
    memcpy(out, images->data + first * images->floats_per_image, n * images->floats_per_image * sizeof(float));
    return ADVGNN_OK;
}

static void print_row(const settings *s, const char *mode, int repetition, double wall, double cpu, int images)
{
    int bf16 = strcmp(s->precision, "bf16") == 0;

    printf("advgnn,%s%s,%s,%d,%d,%d,%d,%.3f,%.3f\n", mode, bf16 ? " bf16" : "", s->preset, s->threads, s->batch,
           s->size, repetition, 1e3 * wall / images, 1e3 * cpu / s->threads / images);
    fflush(stdout);
}

/* Times encode() on the first batch of `images`, once to warm up and then
 * s->repeats times. */
static int time_inference(const advgnn_encoder_functions *fn, void *state, advgnn_ctx *ctx, const settings *s,
                          const noise_images *images)
{
    advgnn_tensor batch, features, reconstruction;
    int channels, height, width, rc;
    int64_t image_shape[4] = {s->batch, 3, s->size, s->size};

    rc = fn->feature_shape(state, &channels, &height, &width);
    int64_t feature_shape[4] = {s->batch, channels, height, width};
    if (rc == ADVGNN_OK)
        rc = advgnn_tensor_alloc(ctx, &features, ADVGNN_DTYPE_F32, 4, feature_shape);
    if (rc == ADVGNN_OK && (rc = advgnn_tensor_alloc(ctx, &reconstruction, ADVGNN_DTYPE_F32, 4, image_shape)) != ADVGNN_OK)
        advgnn_tensor_release(&features);
    if (rc != ADVGNN_OK)
        return rc;
    batch = advgnn_tensor_view(images->data, ADVGNN_DTYPE_F32, 4, image_shape);

    for (int r = 0; r <= s->repeats && rc == ADVGNN_OK; r++) {
        double wall = clock_seconds(CLOCK_MONOTONIC), cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);

        rc = fn->encode(state, ctx, &batch, &features, &reconstruction);
        if (rc == ADVGNN_OK && r > 0)
            print_row(s, "inference", r, clock_seconds(CLOCK_MONOTONIC) - wall,
                      clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu, s->batch);
    }
    advgnn_tensor_release(&features);
    advgnn_tensor_release(&reconstruction);
    return rc;
}

/* Times train() of one epoch of s->steps batches, once to warm up and then
 * s->repeats times. Each call continues from the weights of the last. */
static int time_training(const advgnn_encoder_functions *fn, void *state, advgnn_ctx *ctx, const settings *s,
                         noise_images *images)
{
    advgnn_image_source train = {images->count, read_noise, images};
    advgnn_image_source validation = {0, read_noise, images};
    int rc = ADVGNN_OK;

    for (int r = 0; r <= s->repeats && rc == ADVGNN_OK; r++) {
        double wall = clock_seconds(CLOCK_MONOTONIC), cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);

        rc = fn->train(state, ctx, &train, &validation);
        if (rc == ADVGNN_OK && r > 0)
            print_row(s, "training", r, clock_seconds(CLOCK_MONOTONIC) - wall,
                      clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu, (int)images->count);
    }
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

static int run(advgnn_ctx *ctx, const advgnn_plugin_descriptor *desc, const settings *s)
{
    advgnn_encoder_config config = {.struct_size = sizeof(config), .image_height = s->size, .image_width = s->size,
                                    .channels = 3, .seed = 1, .work_dir = NULL};
    const advgnn_encoder_functions *fn = desc->functions;
    advgnn_options *opts = vig_options(ctx, desc, s);
    noise_images images = {.count = (size_t)s->batch * (size_t)s->steps,
                           .floats_per_image = 3 * (size_t)s->size * (size_t)s->size};
    void *state = NULL;
    advgnn_rng rng;
    int rc;

    if (!opts)
        return ADVGNN_ERR_OPTION;
    images.data = advgnn_malloc(images.count * images.floats_per_image * sizeof(float));
    if (!images.data) {
        advgnn_options_free(opts);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "bench_vig: out of memory for %zu images", images.count);
    }
    advgnn_rng_seed(&rng, 7);
    for (size_t i = 0; i < images.count * images.floats_per_image; i++)
        images.data[i] = (float)advgnn_rng_normal(&rng);

    rc = fn->create(ctx, opts, &config, &state);

    /* The header comes once the plugin took the options, so that a refused
     * option leaves no CSV without rows. */
    if (rc == ADVGNN_OK) {
        printf("# vig %s, %s decoder, %s, %d x %d, batch %d, %d thread%s", s->preset, s->decoder, s->precision,
               s->size, s->size, s->batch, s->threads, s->threads == 1 ? "" : "s");
        if (strcmp(s->mode, "inference") != 0)
            printf(", %d training step%s per repetition", s->steps, s->steps == 1 ? "" : "s");
        printf("\nside,mode,preset,threads,batch,size,repetition,wall_ms_per_image,cpu_ms_per_image\n");
        fflush(stdout);
    }
    if (rc == ADVGNN_OK && strcmp(s->mode, "training") != 0)
        rc = time_inference(fn, state, ctx, s, &images);
    if (rc == ADVGNN_OK && strcmp(s->mode, "inference") != 0)
        rc = time_training(fn, state, ctx, s, &images);

    if (state)
        fn->destroy(state);
    advgnn_free(images.data);
    advgnn_options_free(opts);
    return rc;
}

int main(int argc, char **argv)
{
    const advgnn_plugin_descriptor *desc;
    void *handle = NULL;
    advgnn_ctx *ctx;
    settings s;
    int rc;

    if (!parse_args(argc, argv, &s))
        return 2;
    ctx = advgnn_ctx_new();
    if (!ctx) {
        fprintf(stderr, "bench_vig: out of memory\n");
        return 1;
    }
    advgnn_ctx_set_threads(ctx, s.threads);
    advgnn_ctx_set_log_level(ctx, ADVGNN_LOG_WARN);
    desc = load_vig(&handle);
    if (!desc) {
        advgnn_ctx_free(ctx);
        return 1;
    }

    rc = run(ctx, desc, &s);
    if (rc != ADVGNN_OK)
        fprintf(stderr, "bench_vig: %s\n", advgnn_ctx_error(ctx));

    dlclose(handle);
    advgnn_ctx_free(ctx);
    return rc == ADVGNN_OK ? 0 : 1;
}
