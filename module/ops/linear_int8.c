/* Int8 linear layers on oneDNN's u8 x s8 -> s32 matmul.
 *
 * Weights: quantised once at load, symmetric per output channel, to s8 in +-63 (7 bits); each
 * channel's sum of s8 weights is kept for the zero-point correction below.
 * Activations: quantised per row (token) at run time, asymmetric with the row's own scale and
 * an integer zero point (0 stays exact), to u8 in 0..255.
 * Why 8 + 7 bits: without VNNI (AVX2, AVX-512 before Cascade Lake) oneDNN's int8 gemm multiplies
 * with vpmaddubsw, which adds two u8 x s8 products in a saturating 16-bit lane. Full range
 * (255 x -128 x 2) overflows it and the sums come out wrong without any error (measured with
 * oneDNN 2.6.3 on this AVX2 machine); 255 x 64 x 2 = 32640 fits. s8 activations are no way
 * out: oneDNN adds 128 to turn them into u8 (full range again). Of the two safe splits, 8-bit
 * rows with 7-bit weights came out closer to f32 on the golden models than 7-bit rows with
 * 8-bit weights (image scores within 0.003 instead of 0.008 of the reference).
 * Epilogue: oneDNN 2.6 scales its output per tensor or per column only, and the row scale must
 * come before QuickGELU, so one pass of ours per row turns the s32 sums into
 * y = sx[m] sw[n] (acc[m][n] - zx[m] wsum[n]) + b[n] and applies QuickGELU or the residual add.
 * A row with a NaN or an infinity gets a NaN scale, so the failure reaches the output. */
#include "exp_avx2.h"
#include "nn_internal.h"
#include "ops_testing.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(DP_INT8_ACT_MAX * (DP_INT8_WEIGHT_MAX + 1) * 2 <= 32767,
               "two u8 x s8 products must fit a saturating 16-bit lane (vpmaddubsw)");

dp_status dp_linear_int8_quantise_weights(dp_linear *lin, const float *w_nk, int8_t **q, dp_err *err)
{
    const int K = lin->in, N = lin->out;
    *q = malloc((size_t)N * K);
    lin->wscale = malloc((size_t)N * sizeof *lin->wscale);
    lin->wsum = malloc((size_t)N * sizeof *lin->wsum);
    if (!*q || !lin->wscale || !lin->wsum)
        return dp_fail(err, DP_E_NOMEM, "out of memory quantising a %dx%d layer to int8", N, K);
    for (int n = 0; n < N; n++) {
        const float *w = w_nk + (size_t)n * K;
        float amax = 0;
        for (int k = 0; k < K; k++)
            amax = fabsf(w[k]) > amax ? fabsf(w[k]) : amax;
        if (!isfinite(amax))
            return dp_fail(err, DP_E_MODEL, "linear layer %dx%d: output channel %d has a "
                           "non-finite weight; expected finite weights", N, K, n);
        float scale = amax > 0 ? amax / DP_INT8_WEIGHT_MAX : 1.0f, inv = 1.0f / scale;
        int8_t *qn = *q + (size_t)n * K;
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            long v = lrintf(w[k] * inv);
            v = v > DP_INT8_WEIGHT_MAX ? DP_INT8_WEIGHT_MAX : v < -DP_INT8_WEIGHT_MAX ? -DP_INT8_WEIGHT_MAX : v;
            qn[k] = (int8_t)v;
            sum += (int32_t)v;
        }
        lin->wscale[n] = scale;
        lin->wsum[n] = sum;
    }
    return DP_OK;
}

/* ---- row passes: a portable version and an AVX2 + FMA one (the same arithmetic, rounding half
 * up in both; results agree to float rounding) ------------------------------------------------ */

typedef struct row_range { float lo, hi, bad; } row_range;

/* min (<= 0), max (>= 0) and a NaN flag (x - x: NaN for NaN or infinity) of a row */
static row_range range_generic(const float *x, int k)
{
    row_range r = { 0, 0, 0 };
    for (int i = 0; i < k; i++) {
        r.lo = x[i] < r.lo ? x[i] : r.lo;
        r.hi = x[i] > r.hi ? x[i] : r.hi;
        r.bad += x[i] - x[i];
    }
    return r;
}

static void quantise_generic(const float *x, int k, float inv, float zf, uint8_t *q)
{
    for (int i = 0; i < k; i++) {
        float t = x[i] * inv + zf;
        t = t < 0 ? 0 : t;
        t = t > DP_INT8_ACT_MAX ? DP_INT8_ACT_MAX : t;
        q[i] = (uint8_t)(t + 0.5f);
    }
}

/* e^x with the ~1e-7 relative error of the Cephes single-precision polynomial; NaN in -> NaN
 * out, no float-to-int conversion of an out-of-range value. */
static inline float exp_poly(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f;          /* 1.5 * 2^23: adding it rounds to an integer */
    float t = x * 1.44269504088896341f + magic, n = t - magic;
    union { float f; uint32_t u; } ti = { t }, pow2;
    pow2.u = (ti.u - 0x4B400000u + 127u) << 23;   /* 2^n: n sits in t's low mantissa bits */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    return p * pow2.f;
}

static void epilogue_generic(const int32_t *acc, int n_out, float sx, int32_t zx, const float *sw,
                             const int32_t *wsum, const float *bias, dp_epilogue epi, float *y)
{
    for (int n = 0; n < n_out; n++) {
        float v = sx * sw[n] * (float)(acc[n] - zx * wsum[n]) + (bias ? bias[n] : 0.0f);
        if (epi == DP_EPI_QUICKGELU)
            y[n] = v / (1.0f + exp_poly(-1.702f * v));
        else if (epi == DP_EPI_ACCUMULATE)
            y[n] += v;
        else
            y[n] = v;
    }
}

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static row_range range_avx2(const float *x, int k)
{
    __m256 lo = _mm256_setzero_ps(), hi = lo, bad = lo;
    int i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
        bad = _mm256_add_ps(bad, _mm256_sub_ps(v, v));
    }
    float l[8], h[8], b[8];
    _mm256_storeu_ps(l, lo);
    _mm256_storeu_ps(h, hi);
    _mm256_storeu_ps(b, bad);
    row_range r = range_generic(x + i, k - i);
    for (int j = 0; j < 8; j++) {
        r.lo = l[j] < r.lo ? l[j] : r.lo;
        r.hi = h[j] > r.hi ? h[j] : r.hi;
        r.bad += b[j];
    }
    return r;
}

AVX2 static void quantise_avx2(const float *x, int k, float inv, float zf, uint8_t *q)
{
    const __m256 vinv = _mm256_set1_ps(inv), vz = _mm256_set1_ps(zf), zero = _mm256_setzero_ps();
    const __m256 top = _mm256_set1_ps(DP_INT8_ACT_MAX), half = _mm256_set1_ps(0.5f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int i = 0;
    for (; i + 32 <= k; i += 32) {
        __m256i c[4];
        for (int j = 0; j < 4; j++) {
            __m256 t = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * j), vinv, vz);
            t = _mm256_min_ps(_mm256_max_ps(t, zero), top);
            c[j] = _mm256_cvttps_epi32(_mm256_add_ps(t, half));
        }
        __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(w, order));
    }
    quantise_generic(x + i, k - i, inv, zf, q + i);
}

AVX2 static void epilogue_avx2(const int32_t *acc, int n_out, float sx, int32_t zx, const float *sw,
                               const int32_t *wsum, const float *bias, dp_epilogue epi, float *y)
{
    const __m256 vsx = _mm256_set1_ps(sx), one = _mm256_set1_ps(1.0f), k = _mm256_set1_ps(-1.702f);
    const __m256i vzx = _mm256_set1_epi32(zx);
    int n = 0;
    for (; n + 8 <= n_out; n += 8) {
        __m256i a = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)(acc + n)),
                                     _mm256_mullo_epi32(vzx, _mm256_loadu_si256((const __m256i *)(wsum + n))));
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(vsx, _mm256_loadu_ps(sw + n)), _mm256_cvtepi32_ps(a));
        if (bias)
            v = _mm256_add_ps(v, _mm256_loadu_ps(bias + n));
        if (epi == DP_EPI_QUICKGELU)
            v = _mm256_div_ps(v, _mm256_add_ps(one, dp_exp_avx2(_mm256_mul_ps(k, v))));
        else if (epi == DP_EPI_ACCUMULATE)
            v = _mm256_add_ps(v, _mm256_loadu_ps(y + n));
        _mm256_storeu_ps(y + n, v);
    }
    epilogue_generic(acc + n, n_out - n, sx, zx, sw + n, wsum + n, bias ? bias + n : NULL, epi, y + n);
}

static int have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* One row of x -> u8 q with scale and zero point: x ~ scale * (q - zero). */
static void quantise_row(const float *x, int k, int avx2, uint8_t *q, float *scale, int32_t *zero)
{
    row_range r = avx2 ? range_avx2(x, k) : range_generic(x, k);
    if (r.bad != 0.0f) {
        memset(q, 0, (size_t)k);
        *scale = NAN;
        *zero = 0;
        return;
    }
    float s = (r.hi - r.lo) / DP_INT8_ACT_MAX;
    if (!(s > 0))
        s = 1.0f;                    /* an all-zero row */
    float zf = floorf(-r.lo / s + 0.5f);
    zf = zf > DP_INT8_ACT_MAX ? DP_INT8_ACT_MAX : zf;
    if (avx2)
        quantise_avx2(x, k, 1.0f / s, zf, q);
    else
        quantise_generic(x, k, 1.0f / s, zf, q);
    *scale = s;
    *zero = (int32_t)zf;
}

dp_status dp_linear_int8_prim(dp_nn *nn, const dp_linear *lin, int m, dp_linear_prim **p,
                              dp_err *err)
{
    return dp_linear_prim_get(nn, lin, m, lin->in, lin->out, DP_C_F32, DP_EPI_NONE, p, err);
}

dp_status dp_linear_int8_run(dp_nn *nn, const dp_linear *lin, const void *src, int m, int src_ld,
                             void *dst, int dst_ld, dp_dtype_c dst_dt, dp_epilogue epi, dp_err *err)
{
    const int K = lin->in, N = lin->out;
    dp_linear_prim *p;
    dp_status st = dp_linear_int8_prim(nn, lin, m, &p, err);
    if (st)
        return st;
    const float *x = src;
    float *y = dst;
    uint8_t *q = nn->q_src;
    int32_t *acc = nn->q_acc, *zero = nn->q_zero;
    float *scale = nn->q_scale;
    const int avx2 = have_avx2();
#pragma omp parallel for num_threads(nn->threads) schedule(static)
    for (int r = 0; r < m; r++)
        quantise_row(x + (size_t)r * src_ld, K, avx2, q + (size_t)r * K, &scale[r], &zero[r]);
    if ((st = dp_linear_exec(nn, lin, p, q, acc, err)))
        return st;
#pragma omp parallel for num_threads(nn->threads) schedule(static)
    for (int r = 0; r < m; r++)
        (avx2 ? epilogue_avx2 : epilogue_generic)(acc + (size_t)r * N, N, scale[r], zero[r],
                                                  lin->wscale, lin->wsum, lin->bias, epi,
                                                  y + (size_t)r * dst_ld);
    return DP_OK;
}

dp_status dp_linear_int8_matmul_only(dp_nn *nn, const dp_linear *lin, int m, dp_err *err)
{
    if (lin->dt != DP_C_INT8)
        return dp_fail(err, DP_E_ARG, "linear %dx%d is not an int8 layer", lin->out, lin->in);
    dp_linear_prim *p;
    dp_status st = dp_linear_int8_prim(nn, lin, m, &p, err);
    return st ? st : dp_linear_exec(nn, lin, p, nn->q_src, nn->q_acc, err);
}
