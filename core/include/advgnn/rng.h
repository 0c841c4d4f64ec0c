/* A small deterministic random generator (xoshiro256**, seeded by splitmix64).
 * Identical seeds give identical streams on every platform, so seeded dataset
 * splits and synthetic images are reproducible. Not for cryptography. */
#ifndef ADVGNN_RNG_H
#define ADVGNN_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct advgnn_rng {
    uint64_t state[4];
} advgnn_rng;

void advgnn_rng_seed(advgnn_rng *rng, uint64_t seed);
uint64_t advgnn_rng_next(advgnn_rng *rng);
/* Returns a double uniform in [0, 1) with 53 random bits. */
double advgnn_rng_uniform(advgnn_rng *rng);
/* Returns a standard normal variate (Box-Muller; consumes two draws). */
double advgnn_rng_normal(advgnn_rng *rng);
/* Returns an integer uniform in [0, n) without modulo bias; n must be > 0. */
uint64_t advgnn_rng_below(advgnn_rng *rng, uint64_t n);
/* Shuffles `count` elements of `size` bytes in place (Fisher-Yates). */
void advgnn_rng_shuffle(advgnn_rng *rng, void *base, uint64_t count, uint64_t size);

#ifdef __cplusplus
}
#endif
#endif
