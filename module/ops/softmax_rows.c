/* Row softmax of an f32 score block written as f32 or bf16, with AVX-512 when the plugin's
 * instruction-set level (isa.h) allows it; below that, attention uses oneDNN's softmax primitive,
 * which obeys the same cap.
 * oneDNN 2.6's softmax costs as much as each of the two attention matmuls on a 64 x 1374
 * block; this kernel keeps the block in registers/L1 per row (max, exp + sum, scale + convert)
 * and its exp has the ~1e-7 relative error of the classic Cephes single-precision polynomial. */
#include "softmax_rows.h"
#include "isa.h"

#include <immintrin.h>
#include <math.h>

#define ATTR __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))

ATTR static inline __m512 exp_ps(__m512 x)
{
    const __m512 hi = _mm512_set1_ps(88.3762626647949f), lo = _mm512_set1_ps(-88.3762626647949f);
    __mmask16 zero = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    /* below e^-87 (and the -inf of masked scores) the probability is exactly 0 */
    return _mm512_maskz_mov_ps((__mmask16)~zero, _mm512_scalef_ps(p, n));
}

ATTR static inline __m256i to_bf16(__m512 v)
{
    __m512i b = _mm512_castps_si512(v);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    b = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(b, 16));
}

ATTR static void softmax_avx512(float *s, int rows, int n, void *out, int bf16)
{
    const int full = n / 16;
    const __mmask16 tail = (__mmask16)((1u << (n % 16)) - 1);
    for (int r = 0; r < rows; r++) {
        float *row = s + (size_t)r * n;
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int i = 0; i < full; i++)
            mx = _mm512_max_ps(mx, _mm512_loadu_ps(row + 16 * i));
        if (tail)
            mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, row + 16 * full));
        __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 sum = _mm512_setzero_ps();
        for (int i = 0; i < full; i++) {
            __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(row + 16 * i), m));
            _mm512_storeu_ps(row + 16 * i, e);
            sum = _mm512_add_ps(sum, e);
        }
        if (tail) {
            __m512 e = _mm512_maskz_mov_ps(tail, exp_ps(_mm512_sub_ps(
                           _mm512_maskz_loadu_ps(tail, row + 16 * full), m)));
            _mm512_mask_storeu_ps(row + 16 * full, tail, e);
            sum = _mm512_add_ps(sum, e);
        }
        __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
        if (bf16) {
            uint16_t *o = (uint16_t *)out + (size_t)r * n;
            for (int i = 0; i < full; i++)
                _mm256_storeu_si256((__m256i *)(o + 16 * i),
                                    to_bf16(_mm512_mul_ps(_mm512_loadu_ps(row + 16 * i), inv)));
            if (tail)
                _mm256_mask_storeu_epi16(o + 16 * full, tail,
                                         to_bf16(_mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + 16 * full), inv)));
        } else {
            float *o = (float *)out + (size_t)r * n;
            for (int i = 0; i < full; i++)
                _mm512_storeu_ps(o + 16 * i, _mm512_mul_ps(_mm512_loadu_ps(row + 16 * i), inv));
            if (tail)
                _mm512_mask_storeu_ps(o + 16 * full, tail,
                                      _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + 16 * full), inv));
        }
    }
}

int dp_softmax_rows_available(void)
{
    return dp_isa_level() >= DP_ISA_AVX512;
}

void dp_softmax_rows(float *scores, int rows, int n, void *out, dp_dtype_c out_dt)
{
    softmax_avx512(scores, rows, n, out, out_dt == DP_C_BF16);
}
