/* Pasted defects: the mask is drawn first from geometry alone, then exactly
 * the masked pixels are repainted, so the mask is the painted area. */
#include <math.h>
#include <string.h>

#include "synthetic.h"

#define PI 3.141592653589793

/* Smallest per-channel change of a painted pixel, 0..1 scale: 0.1 is about
 * 25 of 255 levels, so every mask pixel stays visibly different after 8-bit
 * rounding. */
#define MIN_CHANGE 0.1

static const char *const defect_names[SYNTH_DEFECT_COUNT] = {"scratch", "blob", "crack", "spot", "stain"};

const char *synth_defect_name(int defect)
{
    return defect >= 0 && defect < SYNTH_DEFECT_COUNT ? defect_names[defect] : NULL;
}

int synth_defect_from_name(const char *name)
{
    for (int i = 0; i < SYNTH_DEFECT_COUNT; i++)
        if (strcmp(defect_names[i], name) == 0)
            return i;
    return -1;
}

static double uniform_in(advgnn_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * advgnn_rng_uniform(rng);
}

/* ---- mask drawing -------------------------------------------------------- */

/* Clips the box [x0, x1] x [y0, y1] (pixel units) to the image; returns 0
 * when nothing is left. */
static int clip_box(int size, double x0, double y0, double x1, double y1, int box[4])
{
    box[0] = x0 < 0.0 ? 0 : (int)floor(x0);
    box[1] = y0 < 0.0 ? 0 : (int)floor(y0);
    box[2] = x1 > size - 1 ? size - 1 : (int)ceil(x1);
    box[3] = y1 > size - 1 ? size - 1 : (int)ceil(y1);
    return box[0] <= box[2] && box[1] <= box[3];
}

/* Marks pixels whose centre lies within width / 2 of the segment. */
static void mask_segment(uint8_t *mask, int size, double x0, double y0, double x1, double y1, double width)
{
    double half = 0.5 * width;
    double dx = x1 - x0, dy = y1 - y0;
    double length2 = dx * dx + dy * dy;
    int box[4];

    if (!clip_box(size, fmin(x0, x1) - half - 1, fmin(y0, y1) - half - 1, fmax(x0, x1) + half + 1,
                  fmax(y0, y1) + half + 1, box))
        return;
    for (int y = box[1]; y <= box[3]; y++) {
        for (int x = box[0]; x <= box[2]; x++) {
            double px = x + 0.5 - x0, py = y + 0.5 - y0;
            double t = length2 > 0.0 ? (px * dx + py * dy) / length2 : 0.0;

            t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
            px -= t * dx;
            py -= t * dy;
            if (px * px + py * py <= half * half)
                mask[(size_t)y * size + x] = 1;
        }
    }
}

/* Marks pixels inside a rotated ellipse with semi-axes a and b (pixels).
 * `ragged` > 0 moves the border in and out by up to that fraction of the
 * radius, following smooth noise of the given seed. */
static void mask_ellipse(uint8_t *mask, int size, double cx, double cy, double a, double b, double angle,
                         double ragged, uint64_t seed)
{
    double reach = fmax(a, b) * (1.0 + ragged) + 1.0;
    double cosine = cos(angle), sine = sin(angle);
    double noise_cell = 0.5 * fmin(a, b);
    int box[4];

    if (!clip_box(size, cx - reach, cy - reach, cx + reach, cy + reach, box))
        return;
    for (int y = box[1]; y <= box[3]; y++) {
        for (int x = box[0]; x <= box[2]; x++) {
            double px = x + 0.5 - cx, py = y + 0.5 - cy;
            double u = (cosine * px + sine * py) / a;
            double v = (-sine * px + cosine * py) / b;
            double limit = 1.0;

            if (ragged > 0.0)
                limit += ragged * 2.0 * (synth_fbm(x / noise_cell, y / noise_cell, 3, seed) - 0.5);
            if (u * u + v * v <= limit * limit)
                mask[(size_t)y * size + x] = 1;
        }
    }
}

/* ---- shapes -------------------------------------------------------------- */

/* Line widths grow with the image so a defect keeps its look at any size. */
static double line_width(int size, advgnn_rng *rng, double lo, double hi)
{
    double width = size / 256.0 * uniform_in(rng, lo, hi);

    return width < 1.5 ? 1.5 : width;
}

static void draw_scratch(int size, double scale, advgnn_rng *rng, double cx, double cy, uint8_t *mask)
{
    double length = size * uniform_in(rng, 0.2, 0.45) * scale;
    double width = line_width(size, rng, 1.5, 3.0);
    double angle = uniform_in(rng, 0.0, PI);
    double hx = 0.5 * length * cos(angle), hy = 0.5 * length * sin(angle);

    mask_segment(mask, size, cx - hx, cy - hy, cx + hx, cy + hy, width);
}

/* A random walk whose heading drifts, with one branch half of the time. */
static void draw_crack(int size, double scale, advgnn_rng *rng, double cx, double cy, uint8_t *mask)
{
    int segments = 5 + (int)advgnn_rng_below(rng, 5);
    int branch_at = advgnn_rng_below(rng, 2) ? 1 + (int)advgnn_rng_below(rng, (uint64_t)segments - 1) : -1;
    double width = line_width(size, rng, 1.2, 2.5);
    double heading = uniform_in(rng, 0.0, 2.0 * PI);
    double x = cx, y = cy;

    for (int s = 0; s < segments; s++) {
        double step = size * uniform_in(rng, 0.03, 0.06) * scale;
        double nx, ny;

        heading += 0.6 * advgnn_rng_normal(rng);
        nx = x + step * cos(heading);
        ny = y + step * sin(heading);
        mask_segment(mask, size, x, y, nx, ny, width);
        if (s == branch_at) {
            double branch_heading = heading + (advgnn_rng_below(rng, 2) ? 0.9 : -0.9);
            double bx = nx + 0.8 * step * cos(branch_heading), by = ny + 0.8 * step * sin(branch_heading);

            mask_segment(mask, size, nx, ny, bx, by, 0.8 * width < 1.5 ? 1.5 : 0.8 * width);
        }
        x = nx;
        y = ny;
    }
}

static void draw_blob(int size, double scale, advgnn_rng *rng, double cx, double cy, uint8_t *mask)
{
    double a = fmax(2.0, size * uniform_in(rng, 0.04, 0.1) * scale);
    double b = fmax(1.5, a * uniform_in(rng, 0.45, 1.0));
    double angle = uniform_in(rng, 0.0, PI);

    mask_ellipse(mask, size, cx, cy, a, b, angle, 0.0, 0);
}

static void draw_spots(int size, double scale, advgnn_rng *rng, double cx, double cy, uint8_t *mask)
{
    int count = 1 + (int)advgnn_rng_below(rng, 3);

    for (int i = 0; i < count; i++) {
        double radius = fmax(1.5, size * uniform_in(rng, 0.008, 0.02) * scale);
        double x = cx + size * 0.05 * scale * uniform_in(rng, -1.0, 1.0);
        double y = cy + size * 0.05 * scale * uniform_in(rng, -1.0, 1.0);

        mask_ellipse(mask, size, x, y, radius, radius, 0.0, 0.0, 0);
    }
}

static void draw_stain(int size, double scale, advgnn_rng *rng, double cx, double cy, uint8_t *mask)
{
    double a = fmax(3.0, size * uniform_in(rng, 0.06, 0.14) * scale);
    double b = a * uniform_in(rng, 0.5, 1.0);
    double angle = uniform_in(rng, 0.0, PI);

    mask_ellipse(mask, size, cx, cy, a, b, angle, 0.35, advgnn_rng_next(rng));
}

/* ---- painting ------------------------------------------------------------ */

/* Chooses the colour a defect blends toward and how strongly. */
static void defect_color(synth_defect defect, advgnn_rng *rng, double target[3], double *alpha)
{
    int bright = advgnn_rng_below(rng, 2) == 0;

    for (int c = 0; c < 3; c++) {
        switch (defect) {
        case SYNTH_DEFECT_SCRATCH:
        case SYNTH_DEFECT_SPOT: target[c] = bright ? uniform_in(rng, 0.88, 0.98) : uniform_in(rng, 0.02, 0.1); break;
        case SYNTH_DEFECT_CRACK: target[c] = uniform_in(rng, 0.02, 0.08); break;
        case SYNTH_DEFECT_BLOB: target[c] = uniform_in(rng, 0.0, 1.0); break;
        default: target[c] = uniform_in(rng, 0.1, 0.7); break;
        }
    }
    *alpha = defect == SYNTH_DEFECT_STAIN ? 0.5 : 0.85;
}

/* Blends one pixel toward the target. When the blend changes no channel by
 * MIN_CHANGE (the texture already has the defect's colour there), every
 * channel is pushed by 0.3 toward mid-grey's far side instead. */
static void paint_pixel(float *pixel, const double target[3], double alpha, advgnn_rng *rng)
{
    double jitter = 0.03 * advgnn_rng_normal(rng);
    double painted[3], change = 0.0;

    for (int c = 0; c < 3; c++) {
        double value = pixel[c] + (target[c] - pixel[c]) * alpha + jitter;

        painted[c] = value < 0.0 ? 0.0 : (value > 1.0 ? 1.0 : value);
        change = fmax(change, fabs(painted[c] - pixel[c]));
    }
    if (change < MIN_CHANGE)
        for (int c = 0; c < 3; c++)
            painted[c] = pixel[c] < 0.5 ? pixel[c] + 0.3 : pixel[c] - 0.3;
    for (int c = 0; c < 3; c++)
        pixel[c] = (float)painted[c];
}

size_t synth_defect_draw(synth_defect defect, int size, double scale, advgnn_rng *rng, int paint, float *rgb,
                         uint8_t *mask)
{
    double cx = size * uniform_in(rng, 0.15, 0.85), cy = size * uniform_in(rng, 0.15, 0.85);
    double target[3], alpha;
    size_t count = 0, pixels = (size_t)size * size;

    /* Geometry draws come first, so the mask is the same whether or not the
     * pixels are painted. */
    switch (defect) {
    case SYNTH_DEFECT_SCRATCH: draw_scratch(size, scale, rng, cx, cy, mask); break;
    case SYNTH_DEFECT_BLOB: draw_blob(size, scale, rng, cx, cy, mask); break;
    case SYNTH_DEFECT_CRACK: draw_crack(size, scale, rng, cx, cy, mask); break;
    case SYNTH_DEFECT_SPOT: draw_spots(size, scale, rng, cx, cy, mask); break;
    default: draw_stain(size, scale, rng, cx, cy, mask); break;
    }
    for (size_t i = 0; i < pixels; i++)
        count += mask[i];

    /* The minimum sizes above always cover a pixel; this guard keeps the
     * promise of a non-empty mask should a shape ever miss every centre. */
    if (count == 0) {
        mask[(size_t)cy * size + (size_t)cx] = 1;
        count = 1;
    }

    defect_color(defect, rng, target, &alpha);
    if (paint)
        for (size_t i = 0; i < pixels; i++)
            if (mask[i])
                paint_pixel(rgb + i * 3, target, alpha, rng);
    return count;
}
