/* Separable resampling: Pillow 9.4 fixed-point 8-bit resize. The arithmetic of the reference is
 * reproduced operation by operation because the goldens are bit-exact (tests/golden/README.md). */
#include "resample.h"
#include "dp_limits.h"
#include "dp_size.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE4_1__)   /* the release build's x86-64-v2 baseline; other builds stay scalar */
#include <smmintrin.h>
#endif

#define PRECISION_BITS 22 /* Pillow: 32 - 8 (pixel) - 2 (headroom for negative lobes) */
#define WS_ALIGN 16

/* ---- kernels, in the exact Horner forms of Pillow's Resample.c ---- */

static double bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static double filter_support(dp_filter f)
{
    return f == DP_FILTER_BILINEAR ? 1.0 : 2.0;
}

/* Taps per output sample as Pillow sizes its coefficient rows: ceil(support) * 2 + 1. */
static size_t pass_ksize(int in, int out, dp_filter f)
{
    double scale = (double)in / out;
    double fs = scale < 1.0 ? 1.0 : scale;
    return (size_t)ceil(filter_support(f) * fs) * 2 + 1;
}

/* Workspace carve-up, in this order (each part aligned):
 *   per needed pass: bounds int32[2*out], coefficients int32[out*ksize]
 *   double scratch [max ksize] for the not-yet-quantised weights of one output sample
 *   int32 accumulator row [dw*channels] for the vertical pass
 *   8-bit intermediate [sh][dw*channels] when both passes run. */
typedef struct ws_layout {
    size_t kh, kv;                   /* taps per output, horizontal / vertical (0: pass skipped) */
    size_t off_bh, off_ch, off_bv, off_cv, off_dbl, off_acc, off_tmp;
    size_t total;
} ws_layout;

static int layout_add(size_t *cursor, size_t bytes, size_t *off)
{
    size_t a = dp_align_up(*cursor, WS_ALIGN);
    if (a < *cursor)
        return 0;
    *off = a;
    return dp_add_ok(a, bytes, cursor);
}

static int args_valid(int sw, int sh, int dw, int dh, int channels, dp_filter f)
{
    return sw > 0 && sh > 0 && dw > 0 && dh > 0 && sw <= DP_RESAMPLE_MAX_SIDE && sh <= DP_RESAMPLE_MAX_SIDE &&
           dw <= DP_RESAMPLE_MAX_SIDE && dh <= DP_RESAMPLE_MAX_SIDE && channels >= 1 && channels <= 4 &&
           (f == DP_FILTER_BICUBIC || f == DP_FILTER_BILINEAR);
}

static int compute_layout(int sw, int sh, int dw, int dh, int channels, dp_filter f,
                          ws_layout *L)
{
    memset(L, 0, sizeof *L);
    int need_h = sw != dw, need_v = sh != dh;
    L->kh = need_h ? pass_ksize(sw, dw, f) : 0;
    L->kv = need_v ? pass_ksize(sh, dh, f) : 0;
    size_t cur = 0, n;
    if (need_h) {
        if (!dp_mul_ok((size_t)dw * 2, sizeof(int32_t), &n) || !layout_add(&cur, n, &L->off_bh))
            return 0;
        if (!dp_mul_ok((size_t)dw, L->kh, &n) || !dp_mul_ok(n, sizeof(int32_t), &n) ||
            !layout_add(&cur, n, &L->off_ch))
            return 0;
    }
    if (need_v) {
        if (!dp_mul_ok((size_t)dh * 2, sizeof(int32_t), &n) || !layout_add(&cur, n, &L->off_bv))
            return 0;
        if (!dp_mul_ok((size_t)dh, L->kv, &n) || !dp_mul_ok(n, sizeof(int32_t), &n) ||
            !layout_add(&cur, n, &L->off_cv))
            return 0;
        if (!dp_mul_ok((size_t)dw * (size_t)channels, sizeof(int32_t), &n) ||
            !layout_add(&cur, n, &L->off_acc))
            return 0;
    }
    size_t kmax = L->kh > L->kv ? L->kh : L->kv;
    if (!dp_mul_ok(kmax, sizeof(double), &n) || !layout_add(&cur, n, &L->off_dbl))
        return 0;
    if (need_h && need_v) {
        if (!dp_mul_ok((size_t)dw * (size_t)channels, (size_t)sh, &n) ||
            !layout_add(&cur, n, &L->off_tmp))
            return 0;
    }
    /* slack so an unaligned workspace pointer can be rounded up */
    return dp_add_ok(cur, WS_ALIGN, &L->total);
}

size_t dp_resize_u8_workspace(int sw, int sh, int dw, int dh, int channels, dp_filter f)
{
    ws_layout L;
    if (!args_valid(sw, sh, dw, dh, channels, f) ||
        !compute_layout(sw, sh, dw, dh, channels, f, &L))
        return 0;
    return L.total;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for one pass. bounds/coeffs/scratch:
 * borrowed from the workspace; bounds[2*i] = first tap, bounds[2*i+1] = tap count. */
static void precompute_coeffs_u8(int in, int out, dp_filter f, size_t ksize, int32_t *bounds,
                                 int32_t *coeffs, double *scratch)
{
    double (*kernel)(double) = f == DP_FILTER_BILINEAR ? bilinear_filter : bicubic_filter;
    double scale = (double)in / out;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filter_support(f) * filterscale;
    double ss = 1.0 / filterscale; /* Pillow multiplies by the reciprocal; keep it bit-equal */
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            double w = kernel((x + xmin - center + 0.5) * ss);
            scratch[x] = w;
            ww += w;
        }
        int32_t *k = coeffs + (size_t)xx * ksize;
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0.0 ? scratch[x] / ww : scratch[x];
            k[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + w * (1 << PRECISION_BITS));
        }
        for (size_t x = (size_t)xmax; x < ksize; x++)
            k[x] = 0;
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
}

static uint8_t clip8(int32_t in)
{
    if (in >= (1 << PRECISION_BITS << 8))
        return 255;
    if (in <= 0)
        return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

/* One horizontal output pixel, channel by channel (any channel count). */
static void h_pixel(const uint8_t *p, int n, const int32_t *k, uint8_t *d, int ch)
{
    for (int c = 0; c < ch; c++) {
        /* positive weights sum to < 1.09 * 2^22, so 255 * that + 2^21 fits int32 */
        int32_t acc = 1 << (PRECISION_BITS - 1);
        for (int x = 0; x < n; x++)
            acc += (int32_t)p[x * ch + c] * k[x];
        d[c] = clip8(acc);
    }
}

/* RGB: the three channels share one walk over the taps. The sums are exact integers (no
 * overflow, see h_pixel), so the SSE path's lane order gives the same bytes. */
static void h_pixel3(const uint8_t *p, int n, const int32_t *k, uint8_t *d)
{
    int32_t r = 1 << (PRECISION_BITS - 1), g = r, b = r;
    int x = 0;
#if defined(__SSE4_1__)
    /* one tap's R, G, B (and the next tap's R, ignored) per 4-byte load; the last tap is left
     * to the scalar loop so that no load reaches past the taps */
    __m128i acc = _mm_setr_epi32(r, g, b, 0);
    for (; x + 1 < n; x++) {
        int32_t four;
        memcpy(&four, p + 3 * x, sizeof four);
        acc = _mm_add_epi32(acc, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(four)),
                                                 _mm_set1_epi32(k[x])));
    }
    r = _mm_extract_epi32(acc, 0);
    g = _mm_extract_epi32(acc, 1);
    b = _mm_extract_epi32(acc, 2);
#endif
    for (; x < n; x++) {
        r += (int32_t)p[3 * x] * k[x];
        g += (int32_t)p[3 * x + 1] * k[x];
        b += (int32_t)p[3 * x + 2] * k[x];
    }
    d[0] = clip8(r);
    d[1] = clip8(g);
    d[2] = clip8(b);
}

/* Horizontal pass over `rows` rows. src/dst: borrowed row pointers advanced by their strides. */
static void pass_horizontal(const uint8_t *src, ptrdiff_t src_stride, uint8_t *dst,
                            ptrdiff_t dst_stride, int rows, int dw, int ch, size_t ksize,
                            const int32_t *bounds, const int32_t *coeffs)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *s = src + (ptrdiff_t)y * src_stride;
        uint8_t *d = dst + (ptrdiff_t)y * dst_stride;
        for (int xx = 0; xx < dw; xx++) {
            const int32_t *k = coeffs + (size_t)xx * ksize;
            const uint8_t *p = s + (ptrdiff_t)bounds[2 * xx] * ch;
            int n = bounds[2 * xx + 1];
            if (ch == 3)
                h_pixel3(p, n, k, d + xx * 3);
            else
                h_pixel(p, n, k, d + xx * ch, ch);
        }
    }
}

/* Vertical pass: row-wise accumulation (same integer sums as Pillow's per-pixel loop, but
 * streaming whole rows). acc: borrowed workspace of width bytes' int32. */
static void pass_vertical(const uint8_t *src, ptrdiff_t src_stride, uint8_t *dst,
                          ptrdiff_t dst_stride, int dh, size_t width, size_t ksize,
                          const int32_t *bounds, const int32_t *coeffs, int32_t *acc)
{
    for (int yy = 0; yy < dh; yy++) {
        const int32_t *k = coeffs + (size_t)yy * ksize;
        int ymin = bounds[2 * yy], n = bounds[2 * yy + 1];
        uint8_t *d = dst + (ptrdiff_t)yy * dst_stride;
        size_t i0 = 0;
#if defined(__SSE4_1__)
        /* 16 columns at a time in registers: the same exact integer sums, and clip8 as
         * (sum >> 22) saturated to 0..255 by the packs */
        for (; i0 + 16 <= width; i0 += 16) {
            __m128i a0 = _mm_set1_epi32(1 << (PRECISION_BITS - 1)), a1 = a0, a2 = a0, a3 = a0;
            for (int y = 0; y < n; y++) {
                const __m128i px = _mm_loadu_si128(
                    (const __m128i *)(const void *)(src + (ptrdiff_t)(ymin + y) * src_stride + i0));
                const __m128i w = _mm_set1_epi32(k[y]);
                a0 = _mm_add_epi32(a0, _mm_mullo_epi32(_mm_cvtepu8_epi32(px), w));
                a1 = _mm_add_epi32(a1, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_srli_si128(px, 4)), w));
                a2 = _mm_add_epi32(a2, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_srli_si128(px, 8)), w));
                a3 = _mm_add_epi32(a3, _mm_mullo_epi32(_mm_cvtepu8_epi32(_mm_srli_si128(px, 12)), w));
            }
            const __m128i lo = _mm_packs_epi32(_mm_srai_epi32(a0, PRECISION_BITS),
                                               _mm_srai_epi32(a1, PRECISION_BITS));
            const __m128i hi = _mm_packs_epi32(_mm_srai_epi32(a2, PRECISION_BITS),
                                               _mm_srai_epi32(a3, PRECISION_BITS));
            _mm_storeu_si128((__m128i *)(void *)(d + i0), _mm_packus_epi16(lo, hi));
        }
#endif
        for (size_t i = i0; i < width; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < n; y++) {
            const uint8_t *s = src + (ptrdiff_t)(ymin + y) * src_stride;
            int32_t w = k[y];
            for (size_t i = i0; i < width; i++)
                acc[i] += (int32_t)s[i] * w;
        }
        for (size_t i = i0; i < width; i++)
            d[i] = clip8(acc[i]);
    }
}

static ptrdiff_t abs_stride(ptrdiff_t s)
{
    return s < 0 ? -s : s;
}

dp_status dp_resize_u8(const uint8_t *src, int sw, int sh, ptrdiff_t src_stride, int channels,
                       uint8_t *dst, int dw, int dh, ptrdiff_t dst_stride, dp_filter f,
                       void *workspace, size_t workspace_size, dp_err *err)
{
    if (!src || !dst)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: %s is NULL, expected an image buffer",
                       !src ? "src" : "dst");
    if (channels < 1 || channels > 4)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: channels = %d, expected 1..4", channels);
    if (f != DP_FILTER_BICUBIC && f != DP_FILTER_BILINEAR)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: filter = %d, expected DP_FILTER_BICUBIC "
                       "or DP_FILTER_BILINEAR", (int)f);
    if (sw <= 0 || sh <= 0 || sw > DP_RESAMPLE_MAX_SIDE || sh > DP_RESAMPLE_MAX_SIDE)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: source size %dx%d, expected 1..%d per side",
                       sw, sh, DP_RESAMPLE_MAX_SIDE);
    if (dw <= 0 || dh <= 0 || dw > DP_RESAMPLE_MAX_SIDE || dh > DP_RESAMPLE_MAX_SIDE)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: target size %dx%d, expected 1..%d per side",
                       dw, dh, DP_RESAMPLE_MAX_SIDE);
    if (abs_stride(src_stride) < (ptrdiff_t)sw * channels)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: src_stride = %td, expected |stride| >= "
                       "%d (width %d x %d channels)", src_stride, sw * channels, sw, channels);
    if (abs_stride(dst_stride) < (ptrdiff_t)dw * channels)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: dst_stride = %td, expected |stride| >= "
                       "%d (width %d x %d channels)", dst_stride, dw * channels, dw, channels);
    ws_layout L;
    if (!compute_layout(sw, sh, dw, dh, channels, f, &L))
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: workspace for %dx%d -> %dx%d overflows "
                       "size_t", sw, sh, dw, dh);
    if (!workspace || workspace_size < L.total)
        return dp_fail(err, DP_E_ARG, "dp_resize_u8: workspace of %zu bytes%s, expected >= %zu "
                       "(dp_resize_u8_workspace)", workspace_size,
                       workspace ? "" : " (NULL)", L.total);

    size_t width = (size_t)dw * (size_t)channels;
    if (sw == dw && sh == dh) {
        for (int y = 0; y < sh; y++)
            memcpy(dst + (ptrdiff_t)y * dst_stride, src + (ptrdiff_t)y * src_stride, width);
        return DP_OK;
    }

    uint8_t *base = (uint8_t *)workspace;
    base += (WS_ALIGN - ((uintptr_t)base & (WS_ALIGN - 1))) & (WS_ALIGN - 1);
    double *scratch = (double *)(void *)(base + L.off_dbl);
    int32_t *bh = NULL, *chh = NULL, *bv = NULL, *cv = NULL;
    if (L.kh) {
        bh = (int32_t *)(void *)(base + L.off_bh);
        chh = (int32_t *)(void *)(base + L.off_ch);
        precompute_coeffs_u8(sw, dw, f, L.kh, bh, chh, scratch);
    }
    if (L.kv) {
        bv = (int32_t *)(void *)(base + L.off_bv);
        cv = (int32_t *)(void *)(base + L.off_cv);
        precompute_coeffs_u8(sh, dh, f, L.kv, bv, cv, scratch);
    }

    if (!L.kv) { /* horizontal only, straight into dst */
        pass_horizontal(src, src_stride, dst, dst_stride, sh, dw, channels, L.kh, bh, chh);
        return DP_OK;
    }
    int32_t *acc = (int32_t *)(void *)(base + L.off_acc);
    if (!L.kh) { /* vertical only, straight from src */
        pass_vertical(src, src_stride, dst, dst_stride, dh, width, L.kv, bv, cv, acc);
        return DP_OK;
    }
    /* Both: like Pillow, the horizontal pass covers only the source rows the vertical taps read
     * (bounds of the first and last output row), stored 8-bit. */
    int ybox_first = bv[0];
    int ybox_last = bv[2 * (dh - 1)] + bv[2 * (dh - 1) + 1];
    uint8_t *tmp = base + L.off_tmp;
    pass_horizontal(src + (ptrdiff_t)ybox_first * src_stride, src_stride, tmp, (ptrdiff_t)width,
                    ybox_last - ybox_first, dw, channels, L.kh, bh, chh);
    for (int i = 0; i < dh; i++)
        bv[2 * i] -= ybox_first;
    pass_vertical(tmp, (ptrdiff_t)width, dst, dst_stride, dh, width, L.kv, bv, cv, acc);
    return DP_OK;
}
