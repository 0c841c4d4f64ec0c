/* The engine's own scale + shift + activation pass, applied by fused
 * inference kernels to a block of output that is still in the cache (see
 * conv.c). oneDNN's
 * activations run as separate passes over memory when it picks its GEMM
 * convolution, whose eltwise post-op is slow in oneDNN 2.6.3. */
#include <math.h>

#include "nn/nn_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ACT_HAVE_AVX2 1
#else
#define ACT_HAVE_AVX2 0
#endif

/* GELU(x) = x * Phi(x) = x * (1 - erfc(x / sqrt 2) / 2) for x >= 0 and
 * x * erfc(-x / sqrt 2) / 2 below 0. erfc(z) for z >= 0 is Abramowitz and
 * Stegun's formula 7.1.26: t * (a1 + t * (a2 + ... + t * a5)) * exp(-z^2)
 * with t = 1 / (1 + p * z), absolute error at most 1.5e-7. test_fusion
 * checks the result against the exact form in double and against oneDNN's
 * gelu_erf layer. Writing the result as x times a factor keeps
 * GELU(+inf) = +inf. */
#define ACT_P 0.3275911f
#define ACT_A1 0.254829592f
#define ACT_A2 -0.284496736f
#define ACT_A3 1.421413741f
#define ACT_A4 -1.453152027f
#define ACT_A5 1.061405429f
#define ACT_SQRT1_2 0.70710678118654752f

static float gelu_scalar(float x)
{
    float z = fabsf(x) * ACT_SQRT1_2;
    float t = 1.0f / (1.0f + ACT_P * z);
    float poly = t * (ACT_A1 + t * (ACT_A2 + t * (ACT_A3 + t * (ACT_A4 + t * ACT_A5))));
    float e = poly * expf(-z * z);

    return x * (x >= 0.0f ? 1.0f - 0.5f * e : 0.5f * e);
}

static void affine_act_portable(float *y, int64_t n, float scale, float shift, dnnl_alg_kind_t alg)
{
    for (int64_t i = 0; i < n; i++) {
        float v = fmaf(y[i], scale, shift);

        if (alg == dnnl_eltwise_gelu_erf)
            v = gelu_scalar(v);
        else if (alg == dnnl_eltwise_relu && v < 0.0f)
            v = 0.0f;
        y[i] = v;
    }
}

#if ACT_HAVE_AVX2
/* Computes the formula above in 8 lanes, arranged for few operations (0.61 ns per
 * value on a Zen 3 core, against 0.79 for a direct transcription):
 *   - 1 / sqrt 2 is folded into p, and the halving of erfc into a1 .. a5;
 *   - exp(-x^2 / 2) is 2^k e^r with k = round(-x^2 / (2 ln 2)),
 *     r = -x^2 / 2 - k ln 2 (ln 2 in two parts, so the product is exact),
 *     and e^r its Taylor polynomial of degree 6 (|r| <= ln 2 / 2: relative
 *     error 1.2e-7). 2^k is added to the exponent bits. x^2 is capped at
 *     160, where the term (1.8e-35) is still a normal float and erfc is 0
 *     in f32 terms;
 *   - the sign bit of x picks the factor (blendv reads only that bit).
 * NaN stays NaN (through t), and +inf gives +inf. */
__attribute__((target("avx2,fma"))) static inline __m256 gelu_avx2(__m256 x)
{
    __m256 ax = _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(_mm256_set1_ps(ACT_P * ACT_SQRT1_2), ax, _mm256_set1_ps(1.0f)));

    __m256 half_poly = _mm256_set1_ps(0.5f * ACT_A5);
    half_poly = _mm256_fmadd_ps(half_poly, t, _mm256_set1_ps(0.5f * ACT_A4));
    half_poly = _mm256_fmadd_ps(half_poly, t, _mm256_set1_ps(0.5f * ACT_A3));
    half_poly = _mm256_fmadd_ps(half_poly, t, _mm256_set1_ps(0.5f * ACT_A2));
    half_poly = _mm256_fmadd_ps(half_poly, t, _mm256_set1_ps(0.5f * ACT_A1));
    half_poly = _mm256_mul_ps(half_poly, t);

    __m256 sq = _mm256_min_ps(_mm256_mul_ps(x, x), _mm256_set1_ps(160.0f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(sq, _mm256_set1_ps(-0.72134752044448170f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), _mm256_mul_ps(sq, _mm256_set1_ps(-0.5f)));
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);

    __m256 er = _mm256_set1_ps(1.0f / 720.0f);
    er = _mm256_fmadd_ps(er, r, _mm256_set1_ps(1.0f / 120.0f));
    er = _mm256_fmadd_ps(er, r, _mm256_set1_ps(1.0f / 24.0f));
    er = _mm256_fmadd_ps(er, r, _mm256_set1_ps(1.0f / 6.0f));
    er = _mm256_fmadd_ps(er, r, _mm256_set1_ps(0.5f));
    er = _mm256_fmadd_ps(er, r, _mm256_set1_ps(1.0f));
    er = _mm256_fmadd_ps(er, r, _mm256_set1_ps(1.0f));
    __m256 gauss = _mm256_castsi256_ps(
        _mm256_add_epi32(_mm256_castps_si256(er), _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23)));

    __m256 half_erfc = _mm256_mul_ps(half_poly, gauss);
    __m256 factor = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), half_erfc), half_erfc, x);
    return _mm256_mul_ps(x, factor);
}

/* Applies the affine map and the activation to y[0 .. n). The ReLU keeps a
 * NaN, as oneDNN's does, which max(v, 0) with v second would turn into 0. */
__attribute__((target("avx2,fma"))) static void affine_act_avx2(float *y, int64_t n, float scale, float shift,
                                                                 dnnl_alg_kind_t alg)
{
    __m256 a = _mm256_set1_ps(scale), b = _mm256_set1_ps(shift), zero = _mm256_setzero_ps();
    int64_t i = 0;

    if (alg == dnnl_eltwise_gelu_erf) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, gelu_avx2(_mm256_fmadd_ps(_mm256_loadu_ps(y + i), a, b)));

        /* The last 1-7 values in one masked vector. The scalar GELU, with
         * expf, took 9% of the GELU pass's time, on runs of 92 pixels. */
        if (i < n) {
            __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

            _mm256_maskstore_ps(y + i, mask, gelu_avx2(_mm256_fmadd_ps(_mm256_maskload_ps(y + i, mask), a, b)));
            return;
        }
    } else if (alg == dnnl_eltwise_relu) {
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(y + i), a, b);

            _mm256_storeu_ps(y + i, _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ)));
        }
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(y + i), a, b));
    }
    affine_act_portable(y + i, n - i, scale, shift, alg);
}
#endif

int nn_affine_activation_supported(dnnl_alg_kind_t alg)
{
    return alg == dnnl_eltwise_gelu_erf || alg == dnnl_eltwise_relu || alg == dnnl_alg_kind_undef;
}

void nn_affine_activation_f32(float *y, int64_t n, float scale, float shift, dnnl_alg_kind_t alg)
{
#if ACT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        affine_act_avx2(y, n, scale, shift, alg);
        return;
    }
#endif
    affine_act_portable(y, n, scale, shift, alg);
}
