/* reconstruction: anomaly maps from the difference between the input and the
 * encoder's reconstruction.
 *
 * Per pixel, averaged over the channels:
 *   map = l2_weight * (x - r)^2 + ssim_weight * (1 - SSIM(x, r))
 * where SSIM uses local statistics under a Gaussian window of `ssim_sigma`
 * (mirrored borders): mu_x, mu_r, sigma_x^2, sigma_r^2, sigma_xr and
 *   SSIM = (2 mu_x mu_r + C1)(2 sigma_xr + C2) / ((mu_x^2 + mu_r^2 + C1)(sigma_x^2 + sigma_r^2 + C2)),
 * C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = `data_range` (Wang et al. 2004).
 * The map is then smoothed with a Gaussian of `sigma` pixels, and the image
 * score is its mean, its maximum or the mean of its top `top_k_ratio` pixels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <advgnn/image.h>
#include <advgnn/plugin.h>

static const char *const score_choices[] = {"max", "mean", "top_k_mean", NULL};

static const advgnn_option_spec reconstruction_options[] = {
    {.name = "l2_weight", .type = ADVGNN_OPT_NUMBER, .help = "weight of the squared difference per pixel",
     .def.number = 1.0, .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "ssim_weight", .type = ADVGNN_OPT_NUMBER, .help = "weight of 1 - SSIM per pixel", .def.number = 1.0,
     .min = 0, .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "ssim_sigma", .type = ADVGNN_OPT_NUMBER, .help = "deviation of the SSIM window, in pixels",
     .def.number = 1.5, .min = 0.1, .max = 32, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "data_range", .type = ADVGNN_OPT_NUMBER,
     .help = "range L of the normalized input, for SSIM's constants", .def.number = 4.0, .min = 1e-6,
     .flags = ADVGNN_OPT_HAS_MIN},
    {.name = "sigma", .type = ADVGNN_OPT_NUMBER, .help = "Gaussian smoothing of the map, in pixels; 0 = none",
     .def.number = 4.0, .min = 0, .max = 64, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "image_score", .type = ADVGNN_OPT_ENUM, .help = "how the map becomes the image score",
     .def.string = "top_k_mean", .choices = score_choices},
    {.name = "top_k_ratio", .type = ADVGNN_OPT_NUMBER,
     .help = "share of the highest map pixels averaged by top_k_mean", .def.number = 0.01, .min = 1e-6, .max = 1,
     .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {0}};

typedef enum score_kind { SCORE_MAX, SCORE_MEAN, SCORE_TOP_K } score_kind;

typedef struct reconstruction {
    int height, width;
    double l2_weight, ssim_weight, ssim_sigma, c1, c2, sigma, top_k_ratio;
    score_kind score;
} reconstruction;

static int reconstruction_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_scorer_config *config,
                                 void **out)
{
    reconstruction *r;
    const char *score = advgnn_options_string(opts, "image_score");
    double range = advgnn_options_number(opts, "data_range");

    *out = NULL;
    if (config->image_height < 1 || config->image_width < 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "reconstruction: invalid map size %d x %d",
                            config->image_height, config->image_width);
    if (!config->has_reconstruction)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "reconstruction: the encoder gives no reconstruction; use cnn_ae or vig");
    r = advgnn_calloc(1, sizeof(*r));
    if (!r)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "reconstruction: out of memory");
    r->height = config->image_height;
    r->width = config->image_width;
    r->l2_weight = advgnn_options_number(opts, "l2_weight");
    r->ssim_weight = advgnn_options_number(opts, "ssim_weight");
    r->ssim_sigma = advgnn_options_number(opts, "ssim_sigma");
    r->c1 = (0.01 * range) * (0.01 * range);
    r->c2 = (0.03 * range) * (0.03 * range);
    r->sigma = advgnn_options_number(opts, "sigma");
    r->top_k_ratio = advgnn_options_number(opts, "top_k_ratio");
    r->score = strcmp(score, "max") == 0 ? SCORE_MAX : strcmp(score, "mean") == 0 ? SCORE_MEAN : SCORE_TOP_K;
    *out = r;
    return ADVGNN_OK;
}

static void reconstruction_destroy(void *state)
{
    advgnn_free(state);
}

/* Nothing to fit: the map needs only the input and its reconstruction. */
static int reconstruction_fit_add(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch)
{
    return ADVGNN_OK;
}

/* Adds the weighted error of one channel (x, r: H x W) to `map`. `work` has
 * room for 5 planes of H x W floats. */
static int add_channel(const reconstruction *s, advgnn_ctx *ctx, const float *x, const float *r, float *map,
                       float *work)
{
    size_t n = (size_t)s->height * s->width;
    float *mx = work, *mr = work + n, *xx = work + 2 * n, *rr = work + 3 * n, *xr = work + 4 * n;
    int rc = ADVGNN_OK;

    for (size_t i = 0; i < n; i++) {
        mx[i] = x[i];
        mr[i] = r[i];
        xx[i] = x[i] * x[i];
        rr[i] = r[i] * r[i];
        xr[i] = x[i] * r[i];
    }
    for (int p = 0; p < 5 && rc == ADVGNN_OK && s->ssim_weight > 0; p++)
        rc = advgnn_map_gaussian_blur(ctx, work + (size_t)p * n, s->height, s->width, s->ssim_sigma);
    if (rc != ADVGNN_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - r[i], value = s->l2_weight * d * d;

        if (s->ssim_weight > 0) {
            double vx = xx[i] - (double)mx[i] * mx[i], vr = rr[i] - (double)mr[i] * mr[i];
            double cov = xr[i] - (double)mx[i] * mr[i];
            double ssim = (2.0 * mx[i] * mr[i] + s->c1) * (2.0 * cov + s->c2) /
                          (((double)mx[i] * mx[i] + (double)mr[i] * mr[i] + s->c1) * (vx + vr + s->c2));

            value += s->ssim_weight * (1.0 - ssim);
        }
        map[i] += (float)value;
    }
    return ADVGNN_OK;
}

static int compare_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;

    return (x < y) - (x > y);
}

/* The image score of one map; `sorted` is scratch of H x W floats. */
static float image_score(const reconstruction *s, const float *map, float *sorted)
{
    size_t n = (size_t)s->height * s->width, k;
    double sum = 0.0;

    if (s->score == SCORE_MAX) {
        float best = map[0];

        for (size_t i = 1; i < n; i++)
            best = map[i] > best ? map[i] : best;
        return best;
    }
    if (s->score == SCORE_MEAN) {
        for (size_t i = 0; i < n; i++)
            sum += map[i];
        return (float)(sum / (double)n);
    }
    k = (size_t)ceil(s->top_k_ratio * (double)n);
    k = k < 1 ? 1 : (k > n ? n : k);
    memcpy(sorted, map, n * sizeof(float));
    qsort(sorted, n, sizeof(float), compare_desc);
    for (size_t i = 0; i < k; i++)
        sum += sorted[i];
    return (float)(sum / (double)k);
}

static int reconstruction_score(void *state, advgnn_ctx *ctx, const advgnn_score_batch *batch, float *maps,
                                float *scores)
{
    const reconstruction *s = state;
    size_t n = (size_t)s->height * s->width;
    const advgnn_tensor *x = batch->images, *r = batch->reconstruction;
    float *work;
    int rc = ADVGNN_OK;

    if (!r || !advgnn_tensor_is_contiguous(r) || !advgnn_tensor_is_contiguous(x) || r->ndim != 4 ||
        x->ndim != 4 || r->shape[1] != x->shape[1] || r->shape[2] != s->height || r->shape[3] != s->width ||
        x->shape[2] != s->height || x->shape[3] != s->width)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "reconstruction: needs contiguous images and reconstructions of %d x %d", s->height,
                            s->width);
    work = advgnn_malloc(6 * n * sizeof(float));
    if (!work)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "reconstruction: out of memory for a %d x %d map", s->height,
                            s->width);

    for (size_t b = 0; b < batch->count && rc == ADVGNN_OK; b++) {
        int channels = (int)x->shape[1];
        float *map = maps + b * n;

        memset(map, 0, n * sizeof(float));
        for (int c = 0; c < channels && rc == ADVGNN_OK; c++) {
            size_t offset = (b * (size_t)channels + (size_t)c) * n;

            rc = add_channel(s, ctx, (const float *)x->data + offset, (const float *)r->data + offset, map, work);
        }
        for (size_t i = 0; i < n; i++)
            map[i] /= (float)channels;
        if (rc == ADVGNN_OK)
            rc = advgnn_map_gaussian_blur(ctx, map, s->height, s->width, s->sigma);
        if (rc == ADVGNN_OK)
            scores[b] = image_score(s, map, work + 5 * n);
    }
    advgnn_free(work);
    return rc;
}

static const advgnn_scorer_functions reconstruction_functions = {
    .struct_size = sizeof(advgnn_scorer_functions),
    .flags = ADVGNN_SCORER_NEEDS_RECONSTRUCTION,
    .create = reconstruction_create,
    .destroy = reconstruction_destroy,
    .fit_add = reconstruction_fit_add,
    .score = reconstruction_score,
};

static const advgnn_plugin_descriptor reconstruction_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_SCORER,
    .name = "reconstruction",
    .version = "0.1.0",
    .description = "anomaly map from the L2 and SSIM error between the input and the encoder's reconstruction",
    .options = reconstruction_options,
    .functions = &reconstruction_functions,
};

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &reconstruction_descriptor;
}
