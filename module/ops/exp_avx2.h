/* e^x on 8 floats with AVX2 + FMA: the Cephes single-precision polynomial (relative error about
 * 1e-7, the same as softmax_rows.c's AVX-512 exp). Below e^-87, and for -inf (masked scores),
 * the result is exactly 0; NaN stays NaN so a broken input still reaches the NaN checks. Only
 * call from functions compiled for avx2,fma (target attribute) after dispatch said so. */
#ifndef DP_EXP_AVX2_H
#define DP_EXP_AVX2_H

#include <immintrin.h>

/* r = x - n ln 2 in two steps (Cody-Waite: ln 2's high part has few bits, so n times it is
 * exact), the argument of both exps' polynomials. */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 dp_exp_avx2_reduce(__m256 x, __m256 n)
{
    const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    return _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
}

__attribute__((target("avx2,fma"), always_inline)) static inline __m256 dp_exp_avx2(__m256 x)
{
    const __m256 zero = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    /* operand order keeps NaN: max/min return their second operand when either is NaN */
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = dp_exp_avx2_reduce(x, n);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n from the exponent bits: n is in -126..127 wherever the result is kept */
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(zero, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* e^x on 8 floats for x <= 0 (softmax inputs: a score minus its row maximum), cheaper than
 * dp_exp_avx2: a degree-5 minimax polynomial fitted with a constant term of exactly 1 (relative
 * error 1.5e-7 evaluated in f32, against 1e-7), and 2^n taken from the bits of
 * x*log2(e) + 1.5*2^23 + 127, so no clamp, round or convert. Below e^-87, and for -inf, the
 * result is exactly 0; NaN stays NaN. Positive x is outside its domain: results above 2^127 are
 * wrong, not infinite. */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 dp_exp_avx2_nonpos(__m256 x)
{
    const __m256 zero = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    /* the sum's low mantissa bits hold round(x*log2 e) + 127, the biased exponent of 2^n */
    const __m256 shifter = _mm256_set1_ps(12582912.0f + 127.0f);
    const __m256 biased = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), shifter);
    const __m256 n = _mm256_sub_ps(biased, shifter);
    const __m256 r = dp_exp_avx2_reduce(x, n);
    __m256 p = _mm256_set1_ps(8.290229365e-03f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.189839214e-02f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666764021e-01f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.999914467e-01f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.999997020e-01f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(biased), 23);
    return _mm256_andnot_ps(zero, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

#endif
