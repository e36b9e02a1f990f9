/* Host image views: validation of every insp_image field before any pixel is read, and
 * conversion of the inspected rectangle to packed 8-bit RGB (grey replicated, BGR swapped,
 * U16/F32 scaled by the view's value range, masked pixels neutralised). */
#include "image_input.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* All address arithmetic is done in int64; ptrdiff_t must fit. */
_Static_assert(sizeof(ptrdiff_t) <= sizeof(int64_t), "ptrdiff_t wider than int64_t");

/* Stride magnitudes beyond these cannot describe a real buffer. They also bound every offset
 * below 2^62: (32768-1) * 2^40 + 2 * 2^60 + 32768 * 12. */
#define MAX_ROW_STRIDE (INT64_C(1) << 40)
#define MAX_PLANE_STRIDE (INT64_C(1) << 60)
#define KNOWN_FLAGS ((uint32_t)INSP_IMAGE_BGR)
/* Below this many ROI pixels a parallel region costs more than it saves. */
#define PAR_MIN_PIXELS 65536

typedef struct rect {
    int x, y, w, h;
} rect;

static const char *pixel_name(insp_pixel p)
{
    return p == INSP_PIX_U8 ? "U8" : p == INSP_PIX_U16 ? "U16" : "F32";
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Checks a stride's magnitude and granularity. what: field name; meaning: what it measures;
 * need: how min_abs is made up (both borrowed, for messages). */
static dp_status check_stride(const char *what, const char *meaning, int64_t stride,
                              int64_t min_abs, int64_t max_abs, int sample, const char *need,
                              dp_err *err)
{
    if (stride == 0)
        return dp_fail(err, DP_E_ARG, "image.%s = 0: must be non-zero (%s)", what, meaning);
    /* Compare before negating: -INT64_MIN overflows. */
    if (stride > max_abs || stride < -max_abs)
        return dp_fail(err, DP_E_ARG,
                       "image.%s = %" PRId64 ": |%s| must be <= 2^%d bytes; no real buffer is "
                       "that large",
                       what, stride, what, max_abs == MAX_ROW_STRIDE ? 40 : 60);
    if (abs64(stride) < min_abs)
        return dp_fail(err, DP_E_ARG, "image.%s = %" PRId64 ": |%s| must be >= %s = %" PRId64,
                       what, stride, what, need, min_abs);
    if (stride % sample != 0)
        return dp_fail(err, DP_E_ARG,
                       "image.%s = %" PRId64 ": must be a multiple of the %d-byte sample size",
                       what, stride, sample);
    return DP_OK;
}

/* Byte offsets [lo, hi] (relative to the start address) touched by `count` steps of `stride`. */
static void span_add(int64_t *lo, int64_t *hi, int64_t stride, int64_t count)
{
    int64_t d = stride * (count - 1);
    if (d < 0)
        *lo += d;
    else
        *hi += d;
}

/* 0 if start + [lo, hi] wraps around the address space (a pointer to the wrong end of a
 * bottom-up buffer, or garbage). */
static int span_fits(const void *start, int64_t lo, int64_t hi)
{
    uintptr_t a = (uintptr_t)start;
    if (lo < 0 && a < (uint64_t)(-lo))
        return 0;
    return (uint64_t)hi <= UINTPTR_MAX - a;
}

/* 1 if channel planes d apart (offset D = d * plane_stride) share a byte: some k in
 * [-(h-1), h-1] with |D - k*|row_stride|| < row_bytes. Since |row_stride| >= row_bytes, only
 * the two multiples of |row_stride| nearest to D can be close enough. */
static int planes_overlap(int64_t D, int64_t row_abs, int64_t row_bytes, int64_t h)
{
    int64_t q = D / row_abs;
    if (D % row_abs != 0 && D < 0)
        q--; /* floor */
    for (int64_t k = q; k <= q + 1; k++) {
        int64_t kk = k < -(h - 1) ? -(h - 1) : k > h - 1 ? h - 1 : k;
        if (abs64(D - kk * row_abs) < row_bytes)
            return 1;
    }
    return 0;
}

/* Full validation; *roi receives the effective ROI. img: borrowed. */
static dp_status check_view(const insp_image *img, rect *roi, dp_err *err)
{
    if (!img)
        return dp_fail(err, DP_E_ARG, "image = NULL: an insp_image view is required");
    /* Nothing beyond struct_size may be read, so this comes first. */
    if (img->struct_size < INSP_IMAGE_SIZE_1_0)
        return dp_fail(err, DP_E_ARG,
                       "image.struct_size = %" PRIu32 ": must be >= INSP_IMAGE_SIZE_1_0 = %"
                       PRIu32 " (set it to sizeof(insp_image) of insp_tool.h 1.0 or later)",
                       img->struct_size, INSP_IMAGE_SIZE_1_0);

    const int64_t w = img->width, h = img->height;
    if (w < 1 || w > DP_MAX_IMAGE_SIDE)
        return dp_fail(err, DP_E_ARG, "image.width = %" PRId64 ": must be 1..%d pixels", w,
                       DP_MAX_IMAGE_SIDE);
    if (h < 1 || h > DP_MAX_IMAGE_SIDE)
        return dp_fail(err, DP_E_ARG, "image.height = %" PRId64 ": must be 1..%d pixels", h,
                       DP_MAX_IMAGE_SIDE);
    if (w * h > DP_MAX_IMAGE_PIXELS)
        return dp_fail(err, DP_E_ARG,
                       "image.width x image.height = %" PRId64 " x %" PRId64 " = %" PRId64
                       " pixels: at most 2^28 = %" PRId64 " pixels per view (crop on the host: "
                       "point data at the region and set width/height to it)",
                       w, h, w * h, DP_MAX_IMAGE_PIXELS);
    if (img->channels != 1 && img->channels != 3)
        return dp_fail(err, DP_E_ARG,
                       "image.channels = %" PRId32 ": must be 1 (grey) or 3 (colour)",
                       img->channels);
    const int s = INSP_PIXEL_BYTES(img->pixel);
    if (s == 0)
        return dp_fail(err, DP_E_ARG,
                       "image.pixel = %" PRId32 ": must be INSP_PIX_U8 (1), INSP_PIX_U16 (2) or "
                       "INSP_PIX_F32 (3)",
                       img->pixel);
    if (img->planar != 0 && img->planar != 1)
        return dp_fail(err, DP_E_ARG,
                       "image.planar = %" PRId32 ": must be 0 (interleaved) or 1 (one plane per "
                       "channel)",
                       img->planar);
    if (img->flags & ~KNOWN_FLAGS)
        return dp_fail(err, DP_E_ARG,
                       "image.flags = 0x%" PRIx32 ": unknown bits 0x%" PRIx32
                       " (known: INSP_IMAGE_BGR = 0x%" PRIx32 ")",
                       img->flags, img->flags & ~KNOWN_FLAGS, KNOWN_FLAGS);
    if (!img->data)
        return dp_fail(err, DP_E_ARG, "image.data = NULL: the pixel buffer is required");
    if ((uintptr_t)img->data % (uintptr_t)s != 0)
        return dp_fail(err, DP_E_ARG,
                       "image.data = %p: must be aligned to the %d-byte %s sample size", img->data,
                       s, pixel_name(img->pixel));

    /* A 1-channel image has no planes to separate: planar only changes nothing. */
    const int planar = img->planar && img->channels == 3;
    const int64_t px_bytes = planar ? s : (int64_t)img->channels * s;
    char need[96];
    if (planar)
        snprintf(need, sizeof need, "width %" PRId64 " * %d-byte samples (planar)", w, s);
    else
        snprintf(need, sizeof need, "width %" PRId64 " * %" PRId32 " channels * %d-byte samples",
                 w, img->channels, s);
    const int64_t rs = img->row_stride;
    dp_status st = check_stride("row_stride",
                                "bytes from a pixel to the one below it, negative for bottom-up "
                                "buffers", rs, w * px_bytes, MAX_ROW_STRIDE, s, need, err);
    if (st)
        return st;

    /* Bytes of the whole view relative to data: rows, pixels of a row, channels, last sample. */
    int64_t lo = 0, hi = 0;
    span_add(&lo, &hi, rs, h);
    span_add(&lo, &hi, px_bytes, w);
    if (planar) {
        const int64_t ps = img->plane_stride;
        st = check_stride("plane_stride", "bytes from a sample to the same pixel's next "
                          "channel, usually height * row_stride", ps, 1, MAX_PLANE_STRIDE, s,
                          "1", err);
        if (st)
            return st;
        if (planes_overlap(ps, abs64(rs), w * s, h) ||
            planes_overlap(2 * ps, abs64(rs), w * s, h))
            return dp_fail(err, DP_E_ARG,
                           "image.plane_stride = %" PRId64 ": channel planes overlap (row_stride "
                           "%" PRId64 ", width %" PRId64 ", height %" PRId64 ", %d-byte samples); "
                           "separate planes usually have plane_stride = height * row_stride = %"
                           PRId64,
                           ps, rs, w, h, s, h * rs);
        span_add(&lo, &hi, ps, 3);
    } else {
        span_add(&lo, &hi, s, img->channels);
    }
    hi += s - 1;
    if (!span_fits(img->data, lo, hi))
        return dp_fail(err, DP_E_ARG,
                       "image.data = %p: with row_stride %" PRId64 " the view would span bytes "
                       "%" PRId64 "..%+" PRId64 " around it and wrap the address space (for a "
                       "bottom-up buffer data must point to the top image row, the last one in "
                       "memory)",
                       img->data, rs, lo, hi);

    if (img->roi_w == 0) {
        *roi = (rect){ 0, 0, (int)w, (int)h };
    } else {
        const int64_t rx = img->roi_x, ry = img->roi_y, rw = img->roi_w, rh = img->roi_h;
        if (rw < 0)
            return dp_fail(err, DP_E_ARG,
                           "image.roi_w = %" PRId64 ": must be >= 1, or 0 for the whole image",
                           rw);
        if (rh < 1)
            return dp_fail(err, DP_E_ARG,
                           "image.roi_h = %" PRId64 ": must be >= 1 when roi_w = %" PRId64
                           " (roi_w = 0 selects the whole image)",
                           rh, rw);
        if (rx < 0 || rx + rw > w)
            return dp_fail(err, DP_E_ARG,
                           "image.roi_x = %" PRId64 ", roi_w = %" PRId64 ": the ROI must lie "
                           "inside the image, 0 <= roi_x and roi_x + roi_w = %" PRId64
                           " <= width = %" PRId64 " (no clipping is done)",
                           rx, rw, rx + rw, w);
        if (ry < 0 || ry + rh > h)
            return dp_fail(err, DP_E_ARG,
                           "image.roi_y = %" PRId64 ", roi_h = %" PRId64 ": the ROI must lie "
                           "inside the image, 0 <= roi_y and roi_y + roi_h = %" PRId64
                           " <= height = %" PRId64 " (no clipping is done)",
                           ry, rh, ry + rh, h);
        *roi = (rect){ (int)rx, (int)ry, (int)rw, (int)rh };
    }

    if (img->mask) {
        const int64_t ms = img->mask_stride;
        char mneed[64];
        snprintf(mneed, sizeof mneed, "width %" PRId64 " (one byte per pixel)", w);
        st = check_stride("mask_stride", "bytes from a mask byte to the one below it", ms, w,
                          MAX_ROW_STRIDE, 1, mneed, err);
        if (st)
            return st;
        int64_t mlo = 0, mhi = w - 1;
        span_add(&mlo, &mhi, ms, h);
        if (!span_fits(img->mask, mlo, mhi))
            return dp_fail(err, DP_E_ARG,
                           "image.mask = %p: with mask_stride %" PRId64 " the mask would wrap the "
                           "address space (for a bottom-up mask, point at its top row)",
                           (const void *)img->mask, ms);
    }

    const float vmin = img->value_min, vmax = img->value_max;
    if (!(vmin == 0.0f && vmax == 0.0f)) {
        if (!isfinite(vmin) || !isfinite(vmax) || !(vmax > vmin))
            return dp_fail(err, DP_E_ARG,
                           "image.value_min = %g, value_max = %g: need finite values with "
                           "value_max > value_min (both 0 = default range of %s)",
                           (double)vmin, (double)vmax, pixel_name(img->pixel));
    }
    return DP_OK;
}

dp_status dp_image_validate(const insp_image *img, int *roi_x, int *roi_y, int *roi_w,
                            int *roi_h, dp_err *err)
{
    if (!roi_x || !roi_y || !roi_w || !roi_h)
        return dp_fail(err, DP_E_ARG,
                       "dp_image_validate: roi_x/roi_y/roi_w/roi_h outputs are NULL");
    rect r;
    dp_status st = check_view(img, &r, err);
    if (st)
        return st;
    *roi_x = r.x;
    *roi_y = r.y;
    *roi_w = r.w;
    *roi_h = r.h;
    dp_err_clear(err);
    return DP_OK;
}

/* 1 if (x, y, w, h) is a non-empty rectangle inside roi. */
static int rect_inside(rect roi, int x, int y, int w, int h)
{
    return w >= 1 && h >= 1 && x >= roi.x && y >= roi.y &&
           (int64_t)x + w <= (int64_t)roi.x + roi.w && (int64_t)y + h <= (int64_t)roi.y + roi.h;
}

/* ---- conversion ---- */

/* Every source row is contiguous in samples: grey (step = 1 sample), interleaved colour (3w
 * samples in memory order) or one row per plane. So samples are mapped with unit-stride reads
 * straight into dst and, where needed, rearranged there (grey spread, BGR swap). */
typedef enum row_kind { ROW_GREY, ROW_INTERLEAVED, ROW_PLANAR } row_kind;

/* Shared read-only by the worker threads. */
typedef struct plan {
    insp_pixel pixel;
    row_kind kind;
    int bgr;            /* interleaved: swap R and B after mapping */
    int identity;       /* U8 without a value range: bytes are copied */
    ptrdiff_t plane[3]; /* planar: bytes from channel 0's sample to the R, G, B samples */
    ptrdiff_t step;     /* bytes between horizontally adjacent pixels */
    float vmin, k;      /* U16/F32: v8 = (v - vmin) * k, k = 255 / (max - min) */
    uint8_t lut[256];   /* U8 with a value range */
} plan;

/* round(clamp(t, 0, 255)), NaN -> 0. Float: for integer samples it matches the exact formula
 * (checked exhaustively for U16 in the tests). */
static inline uint8_t clamp_round(float t)
{
    t = t > 0.0f ? t : 0.0f; /* NaN compares false */
    t = t < 255.0f ? t : 255.0f;
    return (uint8_t)(int)(t + 0.5f);
}

static void make_plan(const insp_image *img, plan *p)
{
    const int s = INSP_PIXEL_BYTES(img->pixel);
    const int planar = img->planar && img->channels == 3;
    const int bgr = (img->flags & INSP_IMAGE_BGR) && img->channels == 3;
    const int defaults = img->value_min == 0.0f && img->value_max == 0.0f;
    p->pixel = img->pixel;
    p->kind = img->channels == 1 ? ROW_GREY : planar ? ROW_PLANAR : ROW_INTERLEAVED;
    p->bgr = bgr;
    p->identity = img->pixel == INSP_PIX_U8 && defaults;
    p->step = planar ? s : (ptrdiff_t)img->channels * s;
    const ptrdiff_t ps = planar ? img->plane_stride : 0;
    p->plane[0] = bgr ? 2 * ps : 0;
    p->plane[1] = ps;
    p->plane[2] = bgr ? 0 : 2 * ps;
    /* Range in double: max - min of two floats may overflow float. */
    const double lo = defaults ? 0.0 : img->value_min;
    const double hi = defaults ? (img->pixel == INSP_PIX_U16 ? 65535.0
                                  : img->pixel == INSP_PIX_F32 ? 1.0 : 255.0)
                               : img->value_max;
    const double k = 255.0 / (hi - lo);
    p->vmin = (float)lo;
    p->k = k > FLT_MAX ? INFINITY : (float)k; /* an out-of-range double -> float cast is UB */
    for (int v = 0; v < 256; v++) {
        const double t = ((double)v - lo) * k;
        p->lut[v] = t > 0.0 ? (t < 255.0 ? (uint8_t)(t + 0.5) : 255) : 0;
    }
}

/* Map n samples src[i] -> out[i * os]. src: borrowed; out: borrowed, written. Inlined with
 * os = 1 or 3 so that each instance has constant strides. The float clamps stay branches at
 * -O2 (NaN semantics), so only the plain copy is vectorised. */
static inline void copy_u8(const uint8_t *src, uint8_t *out, int os, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        out[(ptrdiff_t)i * os] = src[i];
}

static inline void map_u8(const uint8_t *src, const uint8_t *lut, uint8_t *out, int os, int n)
{
    for (int i = 0; i < n; i++)
        out[(ptrdiff_t)i * os] = lut[src[i]];
}

static inline void map_u16(const uint16_t *src, float vmin, float k, uint8_t *out, int os,
                           int n)
{
    for (int i = 0; i < n; i++)
        out[(ptrdiff_t)i * os] = clamp_round(((float)src[i] - vmin) * k);
}

static inline void map_f32(const float *src, float vmin, float k, uint8_t *out, int os, int n)
{
    for (int i = 0; i < n; i++)
        out[(ptrdiff_t)i * os] = clamp_round((src[i] - vmin) * k);
}

/* Maps n contiguous samples starting at q (borrowed) to out[i * os] (borrowed, written). */
static void map_samples(const plan *p, const unsigned char *q, uint8_t *out, int os, int n)
{
    const void *v = q; /* data and strides are aligned to the sample size (validated) */
    switch (p->pixel) {
    case INSP_PIX_U8:
        if (p->identity && os == 1)
            memcpy(out, q, (size_t)n);
        else if (p->identity)
            copy_u8(q, out, 3, n);
        else if (os == 1)
            map_u8(q, p->lut, out, 1, n);
        else
            map_u8(q, p->lut, out, 3, n);
        break;
    case INSP_PIX_U16:
        if (os == 1)
            map_u16(v, p->vmin, p->k, out, 1, n);
        else
            map_u16(v, p->vmin, p->k, out, 3, n);
        break;
    default:
        if (os == 1)
            map_f32(v, p->vmin, p->k, out, 1, n);
        else
            map_f32(v, p->vmin, p->k, out, 3, n);
        break;
    }
}

/* U8 identity rows straight from the source. src: borrowed (host); out: borrowed, written. */
static void spread_grey(const uint8_t *src, uint8_t *out, int w)
{
#pragma omp simd
    for (int x = 0; x < w; x++) {
        out[3 * x] = src[x];
        out[3 * x + 1] = src[x];
        out[3 * x + 2] = src[x];
    }
}

static void swap_rb(const uint8_t *src, uint8_t *out, int w)
{
#pragma omp simd
    for (int x = 0; x < w; x++) {
        out[3 * x] = src[3 * x + 2];
        out[3 * x + 1] = src[3 * x + 1];
        out[3 * x + 2] = src[3 * x];
    }
}

/* r, g, b: borrowed plane rows (host). */
static void interleave3(const uint8_t *r, const uint8_t *g, const uint8_t *b, uint8_t *out,
                        int w)
{
#pragma omp simd
    for (int x = 0; x < w; x++) {
        out[3 * x] = r[x];
        out[3 * x + 1] = g[x];
        out[3 * x + 2] = b[x];
    }
}

/* Converts one row. px: borrowed, the row's first pixel (channel 0); m: borrowed mask row or
 * NULL; out: borrowed, written, w * 3 bytes. */
static void convert_row(const plan *p, const unsigned char *px, int w, const uint8_t *m,
                        uint8_t *out)
{
    switch (p->kind) {
    case ROW_GREY:
        if (p->identity) {
            spread_grey(px, out, w);
        } else {
            /* Map into the last third of out, then spread forwards: the write at 3x..3x+2
             * never passes the read at 2w + x. Scalar on purpose (overlapping). */
            uint8_t *g = out + 2 * (size_t)w;
            map_samples(p, px, g, 1, w);
            for (int x = 0; x < w; x++) {
                const uint8_t v = g[x];
                out[3 * x] = v;
                out[3 * x + 1] = v;
                out[3 * x + 2] = v;
            }
        }
        break;
    case ROW_INTERLEAVED:
        if (p->identity && p->bgr) {
            swap_rb(px, out, w);
            break;
        }
        map_samples(p, px, out, 1, 3 * w);
        if (p->bgr) {
            for (int x = 0; x < w; x++) {
                const uint8_t b = out[3 * x];
                out[3 * x] = out[3 * x + 2];
                out[3 * x + 2] = b;
            }
        }
        break;
    case ROW_PLANAR:
        if (p->identity) {
            interleave3(px + p->plane[0], px + p->plane[1], px + p->plane[2], out, w);
            break;
        }
        for (int c = 0; c < 3; c++)
            map_samples(p, px + p->plane[c], out + c, 3, w);
        break;
    }
    if (m) {
        for (int x = 0; x < w; x++) {
            if (!m[x]) {
                out[3 * x] = DP_IMAGE_NEUTRAL_R;
                out[3 * x + 1] = DP_IMAGE_NEUTRAL_G;
                out[3 * x + 2] = DP_IMAGE_NEUTRAL_B;
            }
        }
    }
}

dp_status dp_image_to_rgb8(const insp_image *img, int roi_x, int roi_y, int roi_w, int roi_h,
                           uint8_t *dst, int threads, dp_err *err)
{
    rect roi;
    dp_status st = check_view(img, &roi, err);
    if (st)
        return st;
    if (!rect_inside(roi, roi_x, roi_y, roi_w, roi_h))
        return dp_fail(err, DP_E_ARG,
                       "dp_image_to_rgb8: rectangle (x %d, y %d, w %d, h %d) is not inside the "
                       "view's ROI (x %d, y %d, w %d, h %d); pass the ROI from dp_image_validate",
                       roi_x, roi_y, roi_w, roi_h, roi.x, roi.y, roi.w, roi.h);
    if (!dst)
        return dp_fail(err, DP_E_ARG, "dp_image_to_rgb8: dst = NULL (need %d x %d x 3 bytes)",
                       roi_w, roi_h);
    if (threads < 1)
        return dp_fail(err, DP_E_ARG, "dp_image_to_rgb8: threads = %d: must be >= 1", threads);

    plan p;
    make_plan(img, &p);
    const unsigned char *base = (const unsigned char *)img->data; /* borrowed from the host */
    const uint8_t *mask = img->mask;                              /* borrowed, may be NULL */
    const ptrdiff_t rs = img->row_stride, ms = img->mask_stride;
    const size_t out_row = (size_t)roi_w * 3;
    const int par = threads > 1 && (int64_t)roi_w * roi_h >= PAR_MIN_PIXELS;
#pragma omp parallel for num_threads(threads) schedule(static) if (par)
    for (int r = 0; r < roi_h; r++) {
        const ptrdiff_t y = (ptrdiff_t)roi_y + r;
        const unsigned char *px = base + y * rs + (ptrdiff_t)roi_x * p.step;
        const uint8_t *m = mask ? mask + y * ms + roi_x : NULL;
        convert_row(&p, px, roi_w, m, dst + (size_t)r * out_row);
    }
    dp_err_clear(err);
    return DP_OK;
}

int dp_image_mask_any(const insp_image *img, int roi_x, int roi_y, int roi_w, int roi_h)
{
    rect roi;
    if (check_view(img, &roi, NULL) != DP_OK || !rect_inside(roi, roi_x, roi_y, roi_w, roi_h))
        return 0;
    if (!img->mask)
        return 1;
    for (int r = 0; r < roi_h; r++) {
        const uint8_t *m = img->mask + ((ptrdiff_t)roi_y + r) * img->mask_stride + roi_x;
        for (int x = 0; x < roi_w; x++)
            if (m[x])
                return 1;
    }
    return 0;
}

int dp_image_find_nonfinite(const insp_image *img, int roi_x, int roi_y, int roi_w, int roi_h,
                            int *x_out, int *y_out, int *channel_out, float *value_out)
{
    rect roi;
    if (check_view(img, &roi, NULL) != DP_OK || !rect_inside(roi, roi_x, roi_y, roi_w, roi_h) ||
        img->pixel != INSP_PIX_F32)
        return 0;
    const int planar = img->planar && img->channels == 3;
    const ptrdiff_t step = planar ? 4 : (ptrdiff_t)img->channels * 4;
    const ptrdiff_t chan = planar ? img->plane_stride : 4;
    const unsigned char *base = (const unsigned char *)img->data; /* borrowed from the host */
    for (int r = 0; r < roi_h; r++) {
        const ptrdiff_t y = (ptrdiff_t)roi_y + r;
        const unsigned char *row = base + y * img->row_stride;
        const uint8_t *m = img->mask ? img->mask + y * img->mask_stride : NULL;
        for (int x = roi_x; x < roi_x + roi_w; x++) {
            if (m && !m[x])
                continue;   /* masked-out pixels are never read by the model */
            for (int c = 0; c < img->channels; c++) {
                float v;
                memcpy(&v, row + (ptrdiff_t)x * step + c * chan, sizeof v);
                if (!isfinite(v)) {
                    *x_out = x;
                    *y_out = (int)y;
                    *channel_out = c;
                    *value_out = v;
                    return 1;
                }
            }
        }
    }
    return 0;
}
