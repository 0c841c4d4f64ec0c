/* The engine's own bias + activation pass, applied by fused inference kernels
 * to a block of output that is still in the cache (see conv.c). oneDNN's
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

static void bias_act_portable(float *y, int64_t n, float bias, dnnl_alg_kind_t alg)
{
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] + bias;

        if (alg == dnnl_eltwise_gelu_erf)
            v = gelu_scalar(v);
        else if (alg == dnnl_eltwise_relu && v < 0.0f)
            v = 0.0f;
        y[i] = v;
    }
}

#if ACT_HAVE_AVX2
/* exp(v) for v <= 0: 2^k * p(r), k = round(v / ln 2), r = v - k ln 2 (ln 2
 * split in two parts for an exact product), p Cephes' expf polynomial
 * (relative error about 1e-7). v is clamped to -87, where 2^k is still a
 * normal float, so exp(-z^2) of a large z comes out near 1e-38, not 0,
 * which the polynomial factor of erfc then scales to 0 in effect. */
__attribute__((target("avx2,fma"))) static inline __m256 exp_nonpositive_avx2(__m256 v)
{
    v = _mm256_max_ps(v, _mm256_set1_ps(-87.0f));

    __m256 k = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), v);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);

    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));

    /* 2^k from the exponent bits; k >= -126 after the clamp. */
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) static inline __m256 gelu_avx2(__m256 x)
{
    __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 z = _mm256_mul_ps(_mm256_and_ps(x, abs_mask), _mm256_set1_ps(ACT_SQRT1_2));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(ACT_P), z, _mm256_set1_ps(1.0f)));

    __m256 poly = _mm256_set1_ps(ACT_A5);
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(ACT_A4));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(ACT_A3));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(ACT_A2));
    poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(ACT_A1));
    poly = _mm256_mul_ps(poly, t);

    __m256 half_e = _mm256_mul_ps(_mm256_mul_ps(poly, exp_nonpositive_avx2(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), z), z))),
                                  _mm256_set1_ps(0.5f));
    __m256 factor = _mm256_blendv_ps(half_e, _mm256_sub_ps(_mm256_set1_ps(1.0f), half_e),
                                     _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    return _mm256_mul_ps(x, factor);
}

/* The ReLU keeps a NaN, as oneDNN's does: max(v, 0) with v as the second
 * operand would return 0 for it. */
__attribute__((target("avx2,fma"))) static void bias_act_avx2(float *y, int64_t n, float bias, dnnl_alg_kind_t alg)
{
    __m256 b = _mm256_set1_ps(bias), zero = _mm256_setzero_ps();
    int64_t i = 0;

    if (alg == dnnl_eltwise_gelu_erf) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, gelu_avx2(_mm256_add_ps(_mm256_loadu_ps(y + i), b)));
    } else if (alg == dnnl_eltwise_relu) {
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), b);

            _mm256_storeu_ps(y + i, _mm256_blendv_ps(v, zero, _mm256_cmp_ps(v, zero, _CMP_LT_OQ)));
        }
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), b));
    }
    bias_act_portable(y + i, n - i, bias, alg);
}
#endif

int nn_bias_activation_supported(dnnl_alg_kind_t alg)
{
    return alg == dnnl_eltwise_gelu_erf || alg == dnnl_eltwise_relu || alg == dnnl_alg_kind_undef;
}

void nn_bias_activation_f32(float *y, int64_t n, float bias, dnnl_alg_kind_t alg)
{
#if ACT_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        bias_act_avx2(y, n, bias, alg);
        return;
    }
#endif
    bias_act_portable(y, n, bias, alg);
}
