/* xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64. */
#include <math.h>
#include <string.h>

#include "advgnn/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void advgnn_rng_seed(advgnn_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->state[i] = splitmix64(&seed);
}

uint64_t advgnn_rng_next(advgnn_rng *rng)
{
    uint64_t *s = rng->state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double advgnn_rng_uniform(advgnn_rng *rng)
{
    return (double)(advgnn_rng_next(rng) >> 11) * 0x1.0p-53;
}

double advgnn_rng_normal(advgnn_rng *rng)
{
    /* 1 - u keeps the logarithm's argument in (0, 1]. */
    double u1 = 1.0 - advgnn_rng_uniform(rng);
    double u2 = advgnn_rng_uniform(rng);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t advgnn_rng_below(advgnn_rng *rng, uint64_t n)
{
    /* Rejection of the top partial range removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;

    do {
        x = advgnn_rng_next(rng);
    } while (x >= limit);
    return x % n;
}

void advgnn_rng_shuffle(advgnn_rng *rng, void *base, uint64_t count, uint64_t size)
{
    unsigned char tmp[256];
    unsigned char *bytes = base;

    for (uint64_t i = count; i > 1; i--) {
        uint64_t j = advgnn_rng_below(rng, i);
        unsigned char *a = bytes + (i - 1) * size;
        unsigned char *b = bytes + j * size;

        if (a == b)
            continue;
        /* Swap in chunks so any element size works without allocation. */
        for (uint64_t off = 0; off < size; off += sizeof(tmp)) {
            uint64_t len = size - off < sizeof(tmp) ? size - off : sizeof(tmp);
            memcpy(tmp, a + off, len);
            memcpy(a + off, b + off, len);
            memcpy(b + off, tmp, len);
        }
    }
}
