/* patch_stats: a training-free encoder of local image statistics.
 *
 * For a grid of windows, one cell per `stride` pixels, each window's
 * descriptor contains per input channel the mean and standard deviation of
 * the pixel values. With `gradients` it also contains the mean gradient
 * magnitude and the mean absolute Laplacian. Descriptors are then averaged over a neighbourhood of
 * grid cells so each one covers some context. Sums over windows come from
 * summed-area tables, so the cost per image is O(H * W) per statistic
 * whatever the window size.
 *
 * An image smaller than the window is accepted with a warning: windows are
 * clipped to the image, so neighbouring cells see nearly the same pixels and
 * the anomaly map is coarse, but the image score is still defined. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <advgnn/plugin.h>

static const advgnn_option_spec patch_stats_options[] = {
    {.name = "stride", .type = ADVGNN_OPT_INT, .help = "pixels between the centres of neighbouring grid cells",
     .def.integer = 8, .min = 1, .max = 256, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "window", .type = ADVGNN_OPT_INT,
     .help = "side of the square window each cell's statistics cover, in pixels", .def.integer = 16, .min = 1,
     .max = 1024, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {.name = "gradients", .type = ADVGNN_OPT_BOOL,
     .help = "add the mean gradient magnitude and mean absolute Laplacian per channel", .def.boolean = 1},
    {.name = "neighbourhood", .type = ADVGNN_OPT_INT,
     .help = "side of the odd square of grid cells averaged into each descriptor (1 = none)", .def.integer = 3,
     .min = 1, .max = 15, .flags = ADVGNN_OPT_HAS_MIN | ADVGNN_OPT_HAS_MAX},
    {0}};

typedef struct patch_stats {
    int height, width, channels; /* input image */
    int stride, window, neighbourhood;
    int gradients;
    int grid_height, grid_width; /* ceil(height / stride), ceil(width / stride) */
    int stats;                   /* statistics per input channel: 2, or 4 with gradients */
} patch_stats;

static int patch_stats_create(advgnn_ctx *ctx, const advgnn_options *opts, const advgnn_encoder_config *config,
                              void **out)
{
    patch_stats *ps;
    int neighbourhood = (int)advgnn_options_int(opts, "neighbourhood");

    *out = NULL;
    if (neighbourhood % 2 == 0)
        return advgnn_failf(ctx, ADVGNN_ERR_OPTION,
                            "patch_stats: option 'neighbourhood' is %d; it must be odd so the cell is centred",
                            neighbourhood);
    if (config->image_height < 1 || config->image_width < 1 || config->channels < 1)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG, "patch_stats: invalid input of %d x %d pixels, %d channels",
                            config->image_height, config->image_width, config->channels);
    ps = advgnn_calloc(1, sizeof(*ps));
    if (!ps)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "patch_stats: out of memory");

    ps->height = config->image_height;
    ps->width = config->image_width;
    ps->channels = config->channels;
    ps->stride = (int)advgnn_options_int(opts, "stride");
    ps->window = (int)advgnn_options_int(opts, "window");
    ps->gradients = advgnn_options_bool(opts, "gradients");
    ps->neighbourhood = neighbourhood;
    ps->grid_height = (ps->height + ps->stride - 1) / ps->stride;
    ps->grid_width = (ps->width + ps->stride - 1) / ps->stride;
    ps->stats = ps->gradients ? 4 : 2;
    if (ps->height < ps->window || ps->width < ps->window)
        advgnn_log(ctx, ADVGNN_LOG_WARN,
                   "patch_stats: the images (%d x %d pixels) are smaller than the window (%d pixels), so every "
                   "window is clipped to the image and the anomaly map loses detail; lower 'window' or raise "
                   "image_size",
                   ps->width, ps->height, ps->window);
    *out = ps;
    return ADVGNN_OK;
}

static void patch_stats_destroy(void *state)
{
    advgnn_free(state);
}

static int patch_stats_feature_shape(void *state, int *channels, int *height, int *width)
{
    const patch_stats *ps = state;

    *channels = ps->channels * ps->stats;
    *height = ps->grid_height;
    *width = ps->grid_width;
    return ADVGNN_OK;
}

/* ---- per-pixel maps and summed-area tables ------------------------------- */

/* Per-thread scratch for one image channel. */
typedef struct scratch {
    float *plane;   /* (H, W) the channel, contiguous */
    double *tables; /* 4 summed-area tables of (H + 1) x (W + 1): value, value^2, |gradient|, |Laplacian| */
} scratch;

/* Reads a pixel with the edge pixel repeated outside the image. */
static float pixel_clamped(const float *plane, int height, int width, int y, int x)
{
    y = y < 0 ? 0 : (y >= height ? height - 1 : y);
    x = x < 0 ? 0 : (x >= width ? width - 1 : x);
    return plane[(size_t)y * width + x];
}

/* Fills the summed-area table of f over the plane: table[(y+1)(W+1) + x+1]
 * is the sum of f over rows 0..y and columns 0..x. */
static void build_table(const patch_stats *ps, const float *plane, double *table,
                        double (*f)(const float *, int, int, int, int))
{
    size_t stride = (size_t)ps->width + 1;

    memset(table, 0, stride * sizeof(double));
    for (int y = 0; y < ps->height; y++) {
        double row_sum = 0.0;

        table[(size_t)(y + 1) * stride] = 0.0;
        for (int x = 0; x < ps->width; x++) {
            row_sum += f(plane, ps->height, ps->width, y, x);
            table[(size_t)(y + 1) * stride + x + 1] = table[(size_t)y * stride + x + 1] + row_sum;
        }
    }
}

static double value_at(const float *plane, int height, int width, int y, int x)
{
    return plane[(size_t)y * width + x];
}

static double square_at(const float *plane, int height, int width, int y, int x)
{
    double v = plane[(size_t)y * width + x];

    return v * v;
}

/* Gradient magnitude from central differences, edges replicated. */
static double gradient_at(const float *plane, int height, int width, int y, int x)
{
    double gx = 0.5 * ((double)pixel_clamped(plane, height, width, y, x + 1) -
                       pixel_clamped(plane, height, width, y, x - 1));
    double gy = 0.5 * ((double)pixel_clamped(plane, height, width, y + 1, x) -
                       pixel_clamped(plane, height, width, y - 1, x));

    return sqrt(gx * gx + gy * gy);
}

/* Absolute 4-neighbour Laplacian, edges replicated. */
static double laplacian_at(const float *plane, int height, int width, int y, int x)
{
    double sum = (double)pixel_clamped(plane, height, width, y, x - 1) + pixel_clamped(plane, height, width, y, x + 1) +
                 pixel_clamped(plane, height, width, y - 1, x) + pixel_clamped(plane, height, width, y + 1, x);

    return fabs(sum - 4.0 * plane[(size_t)y * width + x]);
}

/* Returns the sum over rows [y0, y1) and columns [x0, x1). */
static double table_sum(const double *table, int width, int y0, int x0, int y1, int x1)
{
    size_t stride = (size_t)width + 1;

    return table[(size_t)y1 * stride + x1] - table[(size_t)y0 * stride + x1] - table[(size_t)y1 * stride + x0] +
           table[(size_t)y0 * stride + x0];
}

/* ---- descriptors --------------------------------------------------------- */

/* Returns the clipped window [lo, hi) of the cell at grid index g along an
 * axis of `size` pixels: `window` pixels centred on the cell's centre,
 * g * stride + stride / 2. */
static void cell_window(const patch_stats *ps, int g, int size, int *lo, int *hi)
{
    int start = g * ps->stride + ps->stride / 2 - ps->window / 2;

    *lo = start < 0 ? 0 : start;
    *hi = start + ps->window > size ? size : start + ps->window;
}

/* Writes the raw statistics of one channel into cells: (stats, grid_h, grid_w). */
static void channel_statistics(const patch_stats *ps, scratch *s, float *cells)
{
    size_t table_size = ((size_t)ps->height + 1) * ((size_t)ps->width + 1);
    size_t grid = (size_t)ps->grid_height * ps->grid_width;
    double (*const maps[4])(const float *, int, int, int, int) = {value_at, square_at, gradient_at, laplacian_at};

    for (int t = 0; t < ps->stats; t++)
        build_table(ps, s->plane, s->tables + t * table_size, maps[t]);

    for (int gy = 0; gy < ps->grid_height; gy++) {
        int y0, y1;

        cell_window(ps, gy, ps->height, &y0, &y1);
        for (int gx = 0; gx < ps->grid_width; gx++) {
            size_t cell = (size_t)gy * ps->grid_width + gx;
            double count, mean, mean_square;
            int x0, x1;

            cell_window(ps, gx, ps->width, &x0, &x1);
            count = (double)(y1 - y0) * (x1 - x0);
            mean = table_sum(s->tables, ps->width, y0, x0, y1, x1) / count;
            mean_square = table_sum(s->tables + table_size, ps->width, y0, x0, y1, x1) / count;

            /* E[v^2] - E[v]^2 can round below 0 for a flat window. */
            cells[cell] = (float)mean;
            cells[grid + cell] = (float)sqrt(fmax(0.0, mean_square - mean * mean));
            if (ps->gradients) {
                cells[2 * grid + cell] = (float)(table_sum(s->tables + 2 * table_size, ps->width, y0, x0, y1, x1) / count);
                cells[3 * grid + cell] = (float)(table_sum(s->tables + 3 * table_size, ps->width, y0, x0, y1, x1) / count);
            }
        }
    }
}

/* Averages each feature plane over the neighbourhood x neighbourhood cells
 * around every cell, with edge cells repeated past the grid border. */
static void pool_neighbourhood(const patch_stats *ps, const float *in, float *out)
{
    int radius = ps->neighbourhood / 2;
    double weight = 1.0 / ((double)ps->neighbourhood * ps->neighbourhood);

    for (int gy = 0; gy < ps->grid_height; gy++) {
        for (int gx = 0; gx < ps->grid_width; gx++) {
            double sum = 0.0;

            for (int dy = -radius; dy <= radius; dy++) {
                int y = gy + dy < 0 ? 0 : (gy + dy >= ps->grid_height ? ps->grid_height - 1 : gy + dy);

                for (int dx = -radius; dx <= radius; dx++) {
                    int x = gx + dx < 0 ? 0 : (gx + dx >= ps->grid_width ? ps->grid_width - 1 : gx + dx);

                    sum += in[(size_t)y * ps->grid_width + x];
                }
            }
            out[(size_t)gy * ps->grid_width + gx] = (float)(sum * weight);
        }
    }
}

/* ---- encode -------------------------------------------------------------- */

static int check_tensor(advgnn_ctx *ctx, const advgnn_tensor *t, const char *what, int64_t n, int64_t c, int64_t h,
                        int64_t w)
{
    if (!t || t->dtype != ADVGNN_DTYPE_F32 || t->ndim != 4 || t->shape[0] != n || t->shape[1] != c ||
        t->shape[2] != h || t->shape[3] != w || !t->data)
        return advgnn_failf(ctx, ADVGNN_ERR_INVALID_ARG,
                            "patch_stats: the %s tensor must be float32 of shape (%lld, %lld, %lld, %lld)", what,
                            (long long)n, (long long)c, (long long)h, (long long)w);
    return ADVGNN_OK;
}

/* Encodes image n: copies each channel into the scratch plane (the tensor may
 * be strided), computes its statistics, then pools them into features. */
static void encode_image(const patch_stats *ps, scratch *s, float *cells, const advgnn_tensor *images,
                         advgnn_tensor *features, int64_t n)
{
    const float *image = (const float *)images->data + n * images->strides[0];
    size_t grid = (size_t)ps->grid_height * ps->grid_width;

    for (int c = 0; c < ps->channels; c++) {
        for (int y = 0; y < ps->height; y++)
            for (int x = 0; x < ps->width; x++)
                s->plane[(size_t)y * ps->width + x] =
                    image[c * images->strides[1] + y * images->strides[2] + x * images->strides[3]];
        channel_statistics(ps, s, cells + (size_t)c * ps->stats * grid);
    }

    /* Feature channel order: for each input channel, its statistics in the
     * order mean, standard deviation, gradient, Laplacian. */
    for (int f = 0; f < ps->channels * ps->stats; f++) {
        float *pooled = cells + (size_t)ps->channels * ps->stats * grid;
        float *dst = (float *)features->data + n * features->strides[0] + f * features->strides[1];

        pool_neighbourhood(ps, cells + (size_t)f * grid, pooled);
        for (int gy = 0; gy < ps->grid_height; gy++)
            for (int gx = 0; gx < ps->grid_width; gx++)
                dst[gy * features->strides[2] + gx * features->strides[3]] = pooled[(size_t)gy * ps->grid_width + gx];
    }
}

static int patch_stats_encode(void *state, advgnn_ctx *ctx, const advgnn_tensor *images, advgnn_tensor *features,
                              advgnn_tensor *reconstruction)
{
    const patch_stats *ps = state;
    int64_t count = images ? images->shape[0] : 0;
    int rc, failed = 0;

    rc = check_tensor(ctx, images, "images", count, ps->channels, ps->height, ps->width);
    if (rc == ADVGNN_OK)
        rc = check_tensor(ctx, features, "features", count, (int64_t)ps->channels * ps->stats, ps->grid_height,
                          ps->grid_width);
    if (rc != ADVGNN_OK)
        return rc;

    /* Images are independent: each thread owns one scratch and one cell buffer
     * (every statistic's grid plus one for pooling). */
    #pragma omp parallel reduction(| : failed)
    {
        size_t plane = (size_t)ps->height * ps->width;
        size_t table = ((size_t)ps->height + 1) * ((size_t)ps->width + 1);
        size_t cells_size = ((size_t)ps->channels * ps->stats + 1) * ps->grid_height * ps->grid_width;
        scratch s = {advgnn_malloc(plane * sizeof(float)), advgnn_malloc(4 * table * sizeof(double))};
        float *cells = advgnn_malloc(cells_size * sizeof(float));

        failed = !s.plane || !s.tables || !cells;
        #pragma omp for schedule(dynamic)
        for (int64_t n = 0; n < count; n++)
            if (!failed)
                encode_image(ps, &s, cells, images, features, n);
        advgnn_free(s.plane);
        advgnn_free(s.tables);
        advgnn_free(cells);
    }
    if (failed)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "patch_stats: out of memory for the tables of a %d x %d image",
                            ps->height, ps->width);
    return ADVGNN_OK;
}

/* ---- descriptor ---------------------------------------------------------- */

static const advgnn_encoder_functions patch_stats_functions = {
    .struct_size = sizeof(advgnn_encoder_functions),
    .flags = 0,
    .create = patch_stats_create,
    .destroy = patch_stats_destroy,
    .feature_shape = patch_stats_feature_shape,
    .encode = patch_stats_encode,
};

static const advgnn_plugin_descriptor patch_stats_descriptor = {
    .abi_version = ADVGNN_ABI_VERSION,
    .struct_size = sizeof(advgnn_plugin_descriptor),
    .type_fingerprint = ADVGNN_TYPE_FINGERPRINT,
    .kind = ADVGNN_PLUGIN_ENCODER,
    .name = "patch_stats",
    .version = "1.0.0",
    .description = "training-free baseline: per-window mean, deviation, gradient and Laplacian statistics",
    .options = patch_stats_options,
    .functions = &patch_stats_functions,
};

ADVGNN_PLUGIN_EXPORT const advgnn_plugin_descriptor *advgnn_plugin_describe(void);

const advgnn_plugin_descriptor *advgnn_plugin_describe(void)
{
    return &patch_stats_descriptor;
}
