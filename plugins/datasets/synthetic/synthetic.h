/* Procedural textures and pasted defects of the synthetic dataset plugin.
 * Private to the plugin. Images are float RGB, interleaved (HWC), values in
 * [0, 1], `size` x `size` pixels. */
#ifndef ADVGNN_SYNTHETIC_H
#define ADVGNN_SYNTHETIC_H

#include <stddef.h>
#include <stdint.h>

#include <advgnn/rng.h>

/* ---- hashing and noise ------------------------------------------------- */

/* Mixes two 64-bit values into one well-spread value (splitmix64 finalizer). */
uint64_t synth_mix(uint64_t a, uint64_t b);

/* Returns the FNV-1a hash of a string, so a category's images depend on its
 * name and not on its position in the `kinds` list. */
uint64_t synth_hash_string(const char *s);

/* Returns smooth value noise in [0, 1] at (x, y), lattice spacing 1. */
double synth_value_noise(double x, double y, uint64_t seed);

/* Returns fractal value noise in [0, 1]: `octaves` layers, each at twice the
 * frequency and half the amplitude of the previous one. */
double synth_fbm(double x, double y, int octaves, uint64_t seed);

/* ---- textures ---------------------------------------------------------- */

typedef enum synth_kind {
    SYNTH_KIND_CHECKER = 0,
    SYNTH_KIND_STRIPES = 1,
    SYNTH_KIND_FABRIC = 2,
    SYNTH_KIND_NOISE = 3,
    SYNTH_KIND_DOTS = 4,
    SYNTH_KIND_COUNT = 5
} synth_kind;

/* Returns the kind's name ("checker", ...) or NULL when out of range. */
const char *synth_kind_name(int kind);

/* Returns the kind named `name`, or -1. */
int synth_kind_from_name(const char *name);

/* The look of one image. The category fixes the base values; each image
 * varies phase, angle, contrast, brightness and noise around them. */
typedef struct synth_texture {
    synth_kind kind;
    float color0[3];    /* RGB of the dark phase, 0..1 */
    float color1[3];    /* RGB of the bright phase, 0..1 */
    double period;      /* pixels per repeat of the pattern */
    double angle;       /* radians */
    double offset_u;    /* pattern phase along the rotated axes, pixels */
    double offset_v;
    double wave;        /* stripes: amplitude of the waviness, radians of phase */
    double contrast;    /* gain around mid-grey */
    double brightness;  /* added after the gain, 0..1 scale */
    double noise_sigma; /* per-pixel Gaussian noise, 0..1 scale */
    uint64_t seed;      /* noise fields and per-cell jitter of this image */
} synth_texture;

/* Fills the base look of a category from its own seed. */
void synth_texture_base(synth_texture *tex, synth_kind kind, uint64_t category_seed, int size);

/* Varies a base look for one image with draws from `rng`. */
void synth_texture_vary(synth_texture *tex, advgnn_rng *rng);

/* Renders `tex` into rgb (size * size * 3 floats), sensor noise from
 * `noise_rng` included, clamped to [0, 1]. */
void synth_texture_render(const synth_texture *tex, int size, advgnn_rng *noise_rng, float *rgb);

/* ---- defects ----------------------------------------------------------- */

typedef enum synth_defect {
    SYNTH_DEFECT_SCRATCH = 0, /* a thin straight line */
    SYNTH_DEFECT_BLOB = 1,    /* a filled rotated ellipse */
    SYNTH_DEFECT_CRACK = 2,   /* a thin random polyline */
    SYNTH_DEFECT_SPOT = 3,    /* a cluster of small discs */
    SYNTH_DEFECT_STAIN = 4,   /* a translucent tint with a ragged border */
    SYNTH_DEFECT_COUNT = 5
} synth_defect;

/* Returns the defect's name ("scratch", ...) or NULL when out of range. */
const char *synth_defect_name(int defect);

/* Returns the defect named `name`, or -1. */
int synth_defect_from_name(const char *name);

/* Draws one defect of type `defect` with draws from `rng`. Sets mask[i] = 1
 * for every covered pixel (mask is size * size bytes, zeroed by the caller).
 * When `paint` is nonzero, it also changes exactly those pixels of rgb, each
 * by at least 0.1 in some channel. `scale` is the relative defect size
 * (1 = default). Returns the number of mask pixels, which is at least 1. */
size_t synth_defect_draw(synth_defect defect, int size, double scale, advgnn_rng *rng, int paint, float *rgb,
                         uint8_t *mask);

#endif
