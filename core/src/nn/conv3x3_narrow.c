/* Direct 3x3 convolution (stride 1, padding 1) with at most
 * NN_NARROW_MAX_OUT output channels, on plain NCHW f32 tensors.
 *
 * An autoencoder's output layer maps its last feature maps to the 3 image
 * channels at full resolution: for pvig_ti at 224 x 224, 16 -> 3 channels,
 * 43 MFLOP per image. oneDNN 2.6.3 has no kernel that fits so few output
 * channels (its JIT kernels block them by 8, its GEMM form needs im2col),
 * and that layer took 1.6 ms per image on two AVX2 cores, about 27 GFLOP/s.
 *
 * Each job takes a band of output rows of one image. It first copies the
 * input rows the band reads, of every input channel, into a staging buffer
 * with a zero column on each side. Each channel's rows are then read in one
 * run, which the hardware prefetchers stream from memory, and the padding
 * removes every edge test from the inner loop. Reading the rows of all
 * channels straight from the input instead ran at a third of the speed.
 * Rows a plane apart (a multiple of 4 KB at 224 x 224) fell on the same L1
 * sets, and short runs of 16 planes were not prefetched. Then the output
 * channels of each row are accumulated in registers, NARROW_STEP vectors of
 * 8 pixels at a time, each input vector shared by all output channels. */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NARROW_HAVE_AVX2 1
#else
#define NARROW_HAVE_AVX2 0
#endif

/* Vectors of 8 pixels per step. With 3 output channels, 9 accumulators take
 * 3 dependent FMAs per kernel row each: enough independent chains to keep
 * both FMA units of a Zen 3 core busy (2 vectors per step left the kernel
 * bound by FMA latency). */
#define NARROW_STEP 3

#define NARROW_STAGE_BYTES (192u << 10) /* staging buffer of one job: within a 512 KB L2 */
#define NARROW_MAX_BAND 16              /* output rows of one job */

/* Floats per staged row: a zero, the w pixels, and zeros up to the reach of
 * the last step's loads (8 * NARROW_STEP + 1 past the last pixel). The count
 * is rounded to an odd number of 64-byte lines, so that consecutive rows
 * fall on different L1 sets. */
static int64_t stage_stride(int64_t w)
{
    int64_t stride = (w + 2 + 8 * NARROW_STEP + 15) / 16 * 16;

    return (stride / 16) % 2 ? stride : stride + 16;
}

/* Copies input rows first_row - 1 .. first_row + band of every channel of one
 * image to `stage` (channel-major, band + 2 rows of `stride` floats each),
 * with zeros for the padding rows and columns. */
static void stage_rows(const float *x, int64_t cin, int64_t h, int64_t w, int64_t first_row, int64_t band,
                       int64_t stride, float *stage)
{
    for (int64_t ci = 0; ci < cin; ci++) {
        for (int64_t r = 0; r < band + 2; r++) {
            int64_t iy = first_row - 1 + r;
            float *row = stage + (ci * (band + 2) + r) * stride;

            if (iy < 0 || iy >= h) {
                memset(row, 0, (size_t)stride * sizeof(float));
                continue;
            }
            row[0] = 0.0f;
            memcpy(row + 1, x + (ci * h + iy) * w, (size_t)w * sizeof(float));
            memset(row + 1 + w, 0, (size_t)(stride - 1 - w) * sizeof(float));
        }
    }
}

/* Computes output row j of the band for every output channel, summed in f32
 * in the vector path's order (input channel, kernel row, tap). */
static void row_portable(const float *stage, int64_t cin, int64_t w, int64_t band, int64_t stride, int64_t j,
                         const float *weights, const float *bias, int cout, float *y_row, int64_t plane)
{
    for (int co = 0; co < cout; co++) {
        for (int64_t ox = 0; ox < w; ox++) {
            float sum = bias ? bias[co] : 0.0f;

            for (int64_t ci = 0; ci < cin; ci++)
                for (int ky = 0; ky < 3; ky++) {
                    const float *row = stage + (ci * (band + 2) + j + ky) * stride + ox;
                    const float *k = weights + ((co * cin + ci) * 3 + ky) * 3;

                    for (int kx = 0; kx < 3; kx++)
                        sum += k[kx] * row[kx];
                }
            y_row[co * plane + ox] = sum;
        }
    }
}

#if NARROW_HAVE_AVX2
/* Returns the maskstore mask of the lanes i of a vector starting at pixel
 * `first` for which first + i < w. */
__attribute__((target("avx2"))) static inline __m256i tail_mask(int64_t first, int64_t w)
{
    __m256i lane = _mm256_add_epi32(_mm256_set1_epi32((int)first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), lane);
}

/* Computes output row j of the band for all `COUT` channels. Staged pixel
 * ox of a row sits at index ox + 1, so tap kx of output pixel ox is at
 * index ox + kx.
 * COUT is a constant at each call, so the accumulators stay in registers. */
#define NARROW_ROW(COUT)                                                                                          \
    __attribute__((target("avx2,fma"))) static void row_avx2_##COUT(                                            \
        const float *stage, int64_t cin, int64_t w, int64_t band, int64_t stride, int64_t j,                    \
        const float *weights, const float *bias, float *y_row, int64_t plane)                                    \
    {                                                                                                            \
        for (int64_t x0 = 0; x0 < w; x0 += 8 * NARROW_STEP) {                                                    \
            __m256 acc[COUT][NARROW_STEP];                                                                       \
                                                                                                                 \
            _Pragma("GCC unroll 4") for (int co = 0; co < COUT; co++)                                            \
                _Pragma("GCC unroll 4") for (int v = 0; v < NARROW_STEP; v++)                                    \
                    acc[co][v] = _mm256_set1_ps(bias ? bias[co] : 0.0f);                                         \
                                                                                                                 \
            for (int64_t ci = 0; ci < cin; ci++) {                                                               \
                for (int ky = 0; ky < 3; ky++) {                                                                 \
                    const float *row = stage + (ci * (band + 2) + j + ky) * stride + x0;                         \
                    const float *k = weights + (ci * 3 + ky) * 3;                                                \
                                                                                                                 \
                    _Pragma("GCC unroll 4") for (int s = 0; s < 3; s++) {                                        \
                        __m256 in[NARROW_STEP];                                                                  \
                                                                                                                 \
                        _Pragma("GCC unroll 4") for (int v = 0; v < NARROW_STEP; v++)                            \
                            in[v] = _mm256_loadu_ps(row + 8 * v + s);                                            \
                        _Pragma("GCC unroll 4") for (int co = 0; co < COUT; co++) {                              \
                            __m256 tap = _mm256_broadcast_ss(k + co * cin * 9 + s);                              \
                                                                                                                 \
                            _Pragma("GCC unroll 4") for (int v = 0; v < NARROW_STEP; v++)                        \
                                acc[co][v] = _mm256_fmadd_ps(tap, in[v], acc[co][v]);                            \
                        }                                                                                        \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
                                                                                                                 \
            _Pragma("GCC unroll 4") for (int co = 0; co < COUT; co++) {                                          \
                _Pragma("GCC unroll 4") for (int v = 0; v < NARROW_STEP; v++) {                                  \
                    int64_t first = x0 + 8 * v;                                                                  \
                                                                                                                 \
                    if (first + 8 <= w)                                                                          \
                        _mm256_storeu_ps(y_row + co * plane + first, acc[co][v]);                                \
                    else if (first < w)                                                                          \
                        _mm256_maskstore_ps(y_row + co * plane + first, tail_mask(first, w), acc[co][v]);        \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }

NARROW_ROW(1)
NARROW_ROW(2)
NARROW_ROW(3)
NARROW_ROW(4)

typedef void (*narrow_row_fn)(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, const float *,
                              const float *, float *, int64_t);
#endif

int nn_conv3x3_narrow_supported(int64_t out_channels)
{
    return out_channels >= 1 && out_channels <= NN_NARROW_MAX_OUT;
}

int nn_conv3x3_narrow_f32(const float *x, int64_t images, int64_t cin, int64_t h, int64_t w, const float *weights,
                          const float *bias, int cout, float *y)
{
    int64_t stride = stage_stride(w);
    int64_t band = (int64_t)(NARROW_STAGE_BYTES / sizeof(float)) / (cin * stride) - 2;
    int64_t bands, plane = h * w;
    int failed = 0;
#if NARROW_HAVE_AVX2
    static const narrow_row_fn rows[NN_NARROW_MAX_OUT + 1] = {NULL, row_avx2_1, row_avx2_2, row_avx2_3, row_avx2_4};
    narrow_row_fn row = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? rows[cout] : NULL;
#endif

    if (band > NARROW_MAX_BAND)
        band = NARROW_MAX_BAND;
    if (band > h)
        band = h;
    if (band < 1)
        band = 1;
    bands = (h + band - 1) / band;

#pragma omp parallel reduction(| : failed)
    {
        float *stage = malloc((size_t)(cin * (band + 2) * stride) * sizeof(float));

        failed |= stage == NULL;

        /* Bands are independent: each writes only its own output rows. */
#pragma omp for schedule(static)
        for (int64_t job = 0; job < images * bands; job++) {
            int64_t n = job / bands, first_row = job % bands * band;
            int64_t rows_here = h - first_row < band ? h - first_row : band;
            float *out = y + n * cout * plane + first_row * w;

            if (!stage)
                continue;
            stage_rows(x + n * cin * plane, cin, h, w, first_row, band, stride, stage);
            for (int64_t j = 0; j < rows_here; j++) {
#if NARROW_HAVE_AVX2
                if (row) {
                    row(stage, cin, w, band, stride, j, weights, bias, out + j * w, plane);
                    continue;
                }
#endif
                row_portable(stage, cin, w, band, stride, j, weights, bias, cout, out + j * w, plane);
            }
        }
        free(stage);
    }
    return failed ? -1 : 0;
}
