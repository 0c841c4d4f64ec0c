/* mean_distance: a minimal scorer plugin built outside the advgnn tree.
 *
 * It learns the mean feature vector of the normal training patches and scores
 * each patch by its Euclidean distance to that mean. The anomaly map repeats
 * each patch's distance over the pixels it covers (nearest-neighbour
 * upsampling); the image score is the map's maximum. */
#include <math.h>
#include <string.h>

#include <advgnn/plugin.h>

typedef struct mean_state {
    int channels;       /* C of the encoder's (N, C, h, w) features */
    int grid_height;    /* h */
    int grid_width;     /* w */
    int image_height;   /* H of the maps */
    int image_width;    /* W */
    double power;       /* exponent applied to each distance */
    double *sum;        /* (C) running sum of patch features */
    double patch_count; /* patches summed so far */
} mean_state;

static const advgnn_option_spec options[] = {
    {.name = "power", .type = ADVGNN_OPT_NUMBER, .help = "Exponent applied to each patch distance.",
     .def.number = 1.0, .min = 0.5, .max = 4.0, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {0},
};

static int mean_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config,
                       void **state)
{
    mean_state *s = advgnn_calloc(1, sizeof(*s));

    if (!s)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "mean_distance: out of memory");
    s->channels = config->feature_channels;
    s->grid_height = config->feature_height;
    s->grid_width = config->feature_width;
    s->image_height = config->image_height;
    s->image_width = config->image_width;
    s->power = advgnn_options_number(opts, "power");
    s->sum = advgnn_calloc((size_t)s->channels, sizeof(*s->sum));
    if (!s->sum) {
        advgnn_free(s);
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "mean_distance: out of memory for %d channels", config->feature_channels);
    }
    *state = s;
    return ADVGNN_OK;
}

static void mean_destroy(void *state)
{
    mean_state *s = state;

    if (!s)
        return;
    advgnn_free(s->sum);
    advgnn_free(s);
}

/* Returns feature (c, y, x) of image n from a strided (N, C, h, w) f32 tensor. */
static float feature_at(const advgnn_tensor *t, size_t n, int c, int y, int x)
{
    const float *data = t->data;
    return data[(int64_t)n * t->strides[0] + c * t->strides[1] + y * t->strides[2] + x * t->strides[3]];
}

static int mean_fit_add(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    mean_state *s = state;

    for (size_t n = 0; n < batch->count; n++)
        for (int c = 0; c < s->channels; c++)
            for (int y = 0; y < s->grid_height; y++)
                for (int x = 0; x < s->grid_width; x++)
                    s->sum[c] += feature_at(batch->features, n, c, y, x);
    s->patch_count += (double)batch->count * s->grid_height * s->grid_width;
    return ADVGNN_OK;
}

static int mean_score(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps, float *scores)
{
    mean_state *s = state;
    size_t pixels = (size_t)s->image_height * (size_t)s->image_width;

    if (s->patch_count == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "mean_distance: score() called before any fit_add()");

    for (size_t n = 0; n < batch->count; n++) {
        float *map = maps + n * pixels;
        float best = 0;
        for (int py = 0; py < s->image_height; py++) {
            int y = py * s->grid_height / s->image_height;
            for (int px = 0; px < s->image_width; px++) {
                int x = px * s->grid_width / s->image_width;
                double squared = 0;
                for (int c = 0; c < s->channels; c++) {
                    double d = feature_at(batch->features, n, c, y, x) - s->sum[c] / s->patch_count;
                    squared += d * d;
                }
                float value = (float)pow(sqrt(squared), s->power);
                map[(size_t)py * s->image_width + px] = value;
                best = value > best ? value : best;
            }
        }
        scores[n] = best;
    }
    return ADVGNN_OK;
}

static const advgnn_scorer_functions functions = {
    .struct_size = sizeof(advgnn_scorer_functions),
    .create = mean_create,
    .destroy = mean_destroy,
    .fit_add = mean_fit_add,
    .fit_end = NULL, /* optional: nothing to finish */
    .score = mean_score,
};

static const advgnn_plugin_descriptor descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_SCORER,
    .name = "mean_distance",
    .version = "1.0.0",
    .description = "distance of each patch feature to the mean normal feature",
    .options = options,
    .functions = &functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &descriptor;
}
