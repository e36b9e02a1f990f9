/* The positional table's load-time resize: torch's antialiased bicubic float resize
 * (F.interpolate(mode='bicubic', antialias=True, align_corners=False), CPU, scalar_t = float),
 * reproduced operation by operation because the goldens pin it down bit for bit
 * (tests/golden/README.md). The same filter as Pillow's, without 8-bit rounding. */
#include "pos_embed_resize.h"
#include "dp_limits.h"
#include "dp_size.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Taps per output sample: ceil(support * max(scale, 1)) * 2 + 1, bicubic support 2. */
static size_t pass_ksize(int in, int out)
{
    double scale = (double)in / out;
    double fs = scale < 1.0 ? 1.0 : scale;
    return (size_t)ceil(2.0 * fs) * 2 + 1;
}

static float aa_cubic_f32(float x)
{
    const float a = -0.5f;
    x = fabsf(x);
    if (x < 1.0f)
        return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2.0f)
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0.0f;
}

/* torch _compute_weights_aa with its mixed float/double promotions. bounds/w: borrowed,
 * [2*out] and [out*ksize]. */
static void precompute_weights_f32(int in, int out, size_t ksize, int32_t *bounds, float *w)
{
    float scale = (float)in / (float)out;
    float support = scale >= 1.0f ? 2.0f * scale : 2.0f;
    float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
    for (int i = 0; i < out; i++) {
        float center = (float)((double)scale * (i + 0.5));
        int64_t xmin = (int64_t)((double)(center - support) + 0.5);
        if (xmin < 0)
            xmin = 0;
        int64_t xend = (int64_t)((double)(center + support) + 0.5);
        if (xend > in)
            xend = in;
        int64_t xsize = xend - xmin;
        float *k = w + (size_t)i * ksize;
        float total = 0.0f;
        for (int64_t j = 0; j < xsize; j++) {
            float d = (float)(j + xmin) - center;
            float v = aa_cubic_f32((float)(((double)d + 0.5) * (double)invscale));
            k[j] = v;
            total += v;
        }
        if (total != 0.0f)
            for (int64_t j = 0; j < xsize; j++)
                k[j] /= total;
        for (size_t j = (size_t)xsize; j < ksize; j++)
            k[j] = 0.0f;
        bounds[2 * i] = (int32_t)xmin;
        bounds[2 * i + 1] = (int32_t)xsize;
    }
}

/* One separable pass along an axis of `out` samples; `step` = floats between consecutive samples
 * on the axis, `lines` x `inner` independent 1-D signals (outer stride in/out given). */
static void pass_f32(const float *src, float *dst, int out, size_t ksize, const int32_t *bounds,
                     const float *w, size_t lines, size_t src_line, size_t dst_line,
                     size_t step_in, size_t step_out, size_t inner)
{
    for (size_t l = 0; l < lines; l++) {
        for (int i = 0; i < out; i++) {
            const float *k = w + (size_t)i * ksize;
            const float *s = src + l * src_line + (size_t)bounds[2 * i] * step_in;
            float *d = dst + l * dst_line + (size_t)i * step_out;
            int n = bounds[2 * i + 1];
            for (size_t c = 0; c < inner; c++) {
                float acc = s[c] * k[0]; /* torch: first product, then += in tap order */
                for (int j = 1; j < n; j++)
                    acc += s[(size_t)j * step_in + c] * k[j];
                d[c] = acc;
            }
        }
    }
}

dp_status dp_resize_f32_bicubic_aa(const float *src, int sw, int sh, int channels,
                                   float *dst, int dw, int dh, dp_err *err)
{
    if (!src || !dst)
        return dp_fail(err, DP_E_ARG, "dp_resize_f32_bicubic_aa: %s is NULL, expected a table",
                       !src ? "src" : "dst");
    if (channels <= 0 || channels > INT_MAX / 4)
        return dp_fail(err, DP_E_ARG, "dp_resize_f32_bicubic_aa: channels = %d, expected > 0",
                       channels);
    if (sw <= 0 || sh <= 0 || sw > DP_RESAMPLE_MAX_SIDE || sh > DP_RESAMPLE_MAX_SIDE || dw <= 0 || dh <= 0 ||
        dw > DP_RESAMPLE_MAX_SIDE || dh > DP_RESAMPLE_MAX_SIDE)
        return dp_fail(err, DP_E_ARG, "dp_resize_f32_bicubic_aa: %dx%d -> %dx%d, expected "
                       "1..%d per side", sw, sh, dw, dh, DP_RESAMPLE_MAX_SIDE);
    size_t ch = (size_t)channels;
    size_t kh = pass_ksize(sw, dw), kv = pass_ksize(sh, dh);
    size_t nb, nwh, nwv, ntmp;
    if (!dp_mul_ok((size_t)dw, kh, &nwh) || !dp_mul_ok((size_t)dh, kv, &nwv) ||
        !dp_mul_ok((size_t)dw * ch, (size_t)sh, &ntmp) || !dp_add_ok(nwh, nwv, &nb) ||
        !dp_add_ok(nb, ntmp, &nb) || !dp_mul_ok(nb, sizeof(float), &nb))
        return dp_fail(err, DP_E_NOMEM, "dp_resize_f32_bicubic_aa: %dx%dx%d -> %dx%d needs more "
                       "memory than size_t can address", sw, sh, channels, dw, dh);
    /* every buffer freed before return */
    float *buf = malloc(nb);
    int32_t *bounds = malloc(sizeof(int32_t) * 2 * (size_t)(dw > dh ? dw : dh));
    if (!buf || !bounds) {
        free(buf);
        free(bounds);
        return dp_fail(err, DP_E_NOMEM, "dp_resize_f32_bicubic_aa: cannot allocate %zu bytes",
                       nb);
    }
    float *wh = buf, *wv = buf + nwh, *tmp = wv + nwv;
    size_t row_in = (size_t)sw * ch, row_tmp = (size_t)dw * ch;

    /* width first (torch resamples the innermost spatial dimension first) */
    if (sw != dw) {
        precompute_weights_f32(sw, dw, kh, bounds, wh);
        pass_f32(src, tmp, dw, kh, bounds, wh, (size_t)sh, row_in, row_tmp, ch, ch, ch);
    } else {
        memcpy(tmp, src, sizeof(float) * row_in * (size_t)sh);
    }
    if (sh != dh) {
        precompute_weights_f32(sh, dh, kv, bounds, wv);
        pass_f32(tmp, dst, dh, kv, bounds, wv, 1, 0, 0, row_tmp, row_tmp, row_tmp);
    } else {
        memcpy(dst, tmp, sizeof(float) * row_tmp * (size_t)dh);
    }
    free(buf);
    free(bounds);
    return DP_OK;
}
