/* Procedural textures: checker, stripes, woven fabric, smooth noise, dots. */
#include <math.h>
#include <string.h>

#include "synthetic.h"

#define PI 3.141592653589793
#define TWO_PI (2.0 * PI)

static const char *const kind_names[SYNTH_KIND_COUNT] = {"checker", "stripes", "fabric", "noise", "dots"};

const char *synth_kind_name(int kind)
{
    return kind >= 0 && kind < SYNTH_KIND_COUNT ? kind_names[kind] : NULL;
}

int synth_kind_from_name(const char *name)
{
    for (int i = 0; i < SYNTH_KIND_COUNT; i++)
        if (strcmp(kind_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- hashing and noise ------------------------------------------------- */

uint64_t synth_mix(uint64_t a, uint64_t b)
{
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t synth_hash_string(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Returns a uniform value in [0, 1) for one lattice point. */
static double lattice_value(int64_t ix, int64_t iy, uint64_t seed)
{
    uint64_t h = synth_mix(synth_mix(seed, (uint64_t)ix), (uint64_t)iy);

    return (double)(h >> 11) * 0x1.0p-53;
}

/* Quintic fade 6t^5 - 15t^4 + 10t^3: zero first and second derivatives at the
 * lattice points, so the noise shows no grid creases. */
static double fade(double t)
{
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
}

double synth_value_noise(double x, double y, uint64_t seed)
{
    double fx = floor(x), fy = floor(y);
    int64_t ix = (int64_t)fx, iy = (int64_t)fy;
    double tx = fade(x - fx), ty = fade(y - fy);
    double v00 = lattice_value(ix, iy, seed), v10 = lattice_value(ix + 1, iy, seed);
    double v01 = lattice_value(ix, iy + 1, seed), v11 = lattice_value(ix + 1, iy + 1, seed);
    double top = v00 + (v10 - v00) * tx;
    double bottom = v01 + (v11 - v01) * tx;

    return top + (bottom - top) * ty;
}

double synth_fbm(double x, double y, int octaves, uint64_t seed)
{
    double sum = 0.0, amplitude = 1.0, total = 0.0;

    for (int o = 0; o < octaves; o++) {
        sum += amplitude * synth_value_noise(x, y, synth_mix(seed, (uint64_t)o));
        total += amplitude;
        amplitude *= 0.5;
        x *= 2.0;
        y *= 2.0;
    }
    return sum / total;
}

/* ---- base look and per-image variation ---------------------------------- */

static double uniform_in(advgnn_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * advgnn_rng_uniform(rng);
}

void synth_texture_base(synth_texture *tex, synth_kind kind, uint64_t category_seed, int size)
{
    advgnn_rng rng;

    advgnn_rng_seed(&rng, category_seed);
    memset(tex, 0, sizeof(*tex));
    tex->kind = kind;

    /* A dark and a bright colour of one random hue family keep the texture
     * plausible; the bright one is never close to the dark one. */
    for (int c = 0; c < 3; c++) {
        tex->color0[c] = (float)uniform_in(&rng, 0.08, 0.45);
        tex->color1[c] = (float)uniform_in(&rng, 0.55, 0.92);
    }

    /* Periods are fractions of the image size, so a pattern looks the same at
     * every image_size. */
    static const double period_fraction[SYNTH_KIND_COUNT] = {0.125, 0.06, 0.035, 0.25, 0.08};
    tex->period = size * period_fraction[kind] * uniform_in(&rng, 0.8, 1.25);
    if (tex->period < 3.0)
        tex->period = 3.0;
    tex->angle = uniform_in(&rng, -0.5, 0.5);
    tex->wave = kind == SYNTH_KIND_STRIPES ? uniform_in(&rng, 0.0, 1.2) : 0.0;
    tex->contrast = 1.0;
    tex->noise_sigma = uniform_in(&rng, 0.01, 0.03);
}

void synth_texture_vary(synth_texture *tex, advgnn_rng *rng)
{
    /* Rotation jitter of about 3 degrees, a random phase, and contrast and
     * brightness jitter small enough that a normal image never looks defective. */
    tex->angle += 0.05 * advgnn_rng_normal(rng);
    tex->offset_u = uniform_in(rng, 0.0, 64.0 * tex->period);
    tex->offset_v = uniform_in(rng, 0.0, 64.0 * tex->period);
    tex->contrast = uniform_in(rng, 0.85, 1.15);
    tex->brightness = uniform_in(rng, -0.04, 0.04);
    tex->seed = advgnn_rng_next(rng);
}

/* ---- pattern functions: each returns the mix of color1 in [0, 1] --------- */

static double pattern_checker(const synth_texture *tex, double u, double v)
{
    double s = sin(PI * u / tex->period) * sin(PI * v / tex->period);

    /* A steep ramp instead of a step: edges about one pixel wide. */
    return 0.5 + 0.5 * tanh(6.0 * s);
}

static double pattern_stripes(const synth_texture *tex, double u, double v)
{
    double phase = TWO_PI * u / tex->period + tex->wave * sin(TWO_PI * v / (5.0 * tex->period));

    return 0.5 + 0.5 * tanh(2.5 * sin(phase));
}

/* Plain weave: threads one period apart cross over and under in alternate
 * cells. Each thread is brightest along its middle, with fibre noise
 * stretched along its direction. */
static double pattern_fabric(const synth_texture *tex, double u, double v)
{
    double cu = u / tex->period, cv = v / tex->period;
    double fu = cu - floor(cu), fv = cv - floor(cv);
    int warp_on_top = (((int64_t)floor(cu) + (int64_t)floor(cv)) & 1) == 0;
    double across = warp_on_top ? fu : fv;
    double along = warp_on_top ? fv : fu;
    double profile = sqrt(sin(PI * across)) * (0.75 + 0.25 * sin(PI * along));
    double fibre = warp_on_top ? synth_fbm(cu * 6.0, cv * 0.8, 2, tex->seed)
                               : synth_fbm(cu * 0.8, cv * 6.0, 2, tex->seed ^ 1);
    double t = warp_on_top ? 0.35 + 0.6 * profile : 0.05 + 0.55 * profile;

    return t + 0.2 * (fibre - 0.5);
}

static double pattern_noise(const synth_texture *tex, double u, double v)
{
    double n = synth_fbm(u / tex->period, v / tex->period, 5, tex->seed);

    return 0.5 + 1.8 * (n - 0.5);
}

/* Dots on a square grid, each nudged by up to 6% of the period. */
static double pattern_dots(const synth_texture *tex, double u, double v)
{
    double cu = u / tex->period, cv = v / tex->period;
    int64_t iu = (int64_t)floor(cu), iv = (int64_t)floor(cv);
    uint64_t cell = synth_mix(synth_mix(tex->seed, (uint64_t)iu), (uint64_t)iv);
    double ju = 0.12 * ((double)(cell & 0xffff) / 65535.0 - 0.5);
    double jv = 0.12 * ((double)((cell >> 16) & 0xffff) / 65535.0 - 0.5);
    double du = (cu - (double)iu - 0.5 - ju) * tex->period;
    double dv = (cv - (double)iv - 0.5 - jv) * tex->period;
    double radius = 0.28 * tex->period;
    double distance = sqrt(du * du + dv * dv);

    return 0.5 - 0.5 * tanh(1.5 * (distance - radius));
}

static double pattern_at(const synth_texture *tex, double u, double v)
{
    switch (tex->kind) {
    case SYNTH_KIND_CHECKER: return pattern_checker(tex, u, v);
    case SYNTH_KIND_STRIPES: return pattern_stripes(tex, u, v);
    case SYNTH_KIND_FABRIC: return pattern_fabric(tex, u, v);
    case SYNTH_KIND_NOISE: return pattern_noise(tex, u, v);
    case SYNTH_KIND_DOTS: return pattern_dots(tex, u, v);
    default: return 0.0;
    }
}

static float clamp01(double x)
{
    return (float)(x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x));
}

void synth_texture_render(const synth_texture *tex, int size, advgnn_rng *noise_rng, float *rgb)
{
    double cosine = cos(tex->angle), sine = sin(tex->angle);

    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            /* Pixel centres, rotated about the image centre, then shifted by the phase. */
            double px = x + 0.5 - 0.5 * size, py = y + 0.5 - 0.5 * size;
            double u = cosine * px + sine * py + tex->offset_u;
            double v = -sine * px + cosine * py + tex->offset_v;
            double t = pattern_at(tex, u, v);
            float *out = rgb + ((size_t)y * size + x) * 3;

            t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
            for (int c = 0; c < 3; c++) {
                double value = tex->color0[c] + (tex->color1[c] - tex->color0[c]) * t;

                value = 0.5 + (value - 0.5) * tex->contrast + tex->brightness;
                out[c] = clamp01(value + tex->noise_sigma * advgnn_rng_normal(noise_rng));
            }
        }
    }
}
