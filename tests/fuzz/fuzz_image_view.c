/* libFuzzer target: host image views -> dp_image_validate, dp_image_to_rgb8, dp_image_mask_any.
 * The first bytes choose every insp_image field (raw 32/64-bit values half of the time, small
 * plausible ones otherwise, so both the refusals and the conversion paths are reached); the rest
 * fills the pixel and mask buffers. The harness computes on its own which bytes the view
 * describes: a view accepted by dp_image_validate must lie inside the buffers the harness gave
 * (else validation let through a view the plugin would read outside of), and only then is it
 * converted. Conversion runs on 1 thread (the fuzzer is single-threaded). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint64_t take(reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n ? *r->p : 0);
        if (r->n) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

/* A small value in [lo, hi] or, when raw, the full-width value as read. */
static int64_t pick(reader *r, int raw, int64_t lo, int64_t hi, int bytes)
{
    uint64_t v = take(r, bytes);
    if (raw)
        return bytes == 8 ? (int64_t)v : bytes == 4 ? (int64_t)(int32_t)v : (int64_t)v;
    return lo + (int64_t)(v % (uint64_t)(hi - lo + 1));
}

enum { BUF_BYTES = 1 << 17, MASK_BYTES = 1 << 14 };

/* Lowest and highest byte offsets (relative to the origin) touched by a w x h grid with the given
 * steps: an affine map reaches its extremes at the corners. False if any product overflows. */
static int extent(int64_t w, int64_t h, int64_t planes, int64_t col, int64_t row, int64_t plane,
                  int64_t sample, int64_t *lo, int64_t *hi)
{
    int64_t a, b, c;
    if (__builtin_mul_overflow(w - 1, col, &a) || __builtin_mul_overflow(h - 1, row, &b) ||
        __builtin_mul_overflow(planes - 1, plane, &c))
        return 0;
    *lo = (a < 0 ? a : 0) + (b < 0 ? b : 0) + (c < 0 ? c : 0);
    *hi = (a > 0 ? a : 0) + (b > 0 ? b : 0) + (c > 0 ? c : 0) + sample - 1;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size };
    const uint8_t mode = (uint8_t)take(&r, 1);
    const int raw = mode & 1;
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = (mode & 2) ? (uint32_t)take(&r, 4) : sizeof v;
    v.width = (int32_t)pick(&r, raw, 1, 40, 4);
    v.height = (int32_t)pick(&r, raw, 1, 40, 4);
    v.channels = (int32_t)pick(&r, raw, 1, 3, 1);
    v.pixel = (insp_pixel)pick(&r, raw, 1, 3, 1);
    v.planar = (int32_t)pick(&r, raw, 0, 1, 1);
    const int64_t sample = INSP_PIXEL_BYTES(v.pixel) ? INSP_PIXEL_BYTES(v.pixel) : 1;
    const int64_t step = v.planar ? sample : (int64_t)v.channels * sample;
    /* strides: raw, or the tight row (+ padding, either sign) */
    int64_t pad = pick(&r, 0, 0, 7, 1) * sample;
    int64_t rs = raw ? pick(&r, 1, 0, 0, 8) : ((int64_t)v.width * step + pad);
    if (!raw && (take(&r, 1) & 1))
        rs = -rs;
    v.row_stride = (ptrdiff_t)rs;
    int64_t ps = raw ? pick(&r, 1, 0, 0, 8) : rs * (v.height > 0 ? v.height : 1);
    if (!raw && (take(&r, 1) & 1))
        ps = -ps;
    v.plane_stride = (ptrdiff_t)ps;
    v.roi_w = (int32_t)pick(&r, raw, 0, v.width > 0 && v.width < 64 ? v.width : 1, 4);
    v.roi_h = (int32_t)pick(&r, raw, 0, v.height > 0 && v.height < 64 ? v.height : 1, 4);
    v.roi_x = (int32_t)pick(&r, raw, 0, v.width > 0 && v.width < 64 ? v.width - v.roi_w : 0, 4);
    v.roi_y = (int32_t)pick(&r, raw, 0, v.height > 0 && v.height < 64 ? v.height - v.roi_h : 0, 4);
    const int with_mask = (mode >> 2) & 1;
    int64_t ms = raw ? pick(&r, 1, 0, 0, 8) : (int64_t)v.width + pick(&r, 0, 0, 5, 1);
    if (!raw && (take(&r, 1) & 1))
        ms = -ms;
    v.mask_stride = (ptrdiff_t)ms;
    if (mode & 8) {
        uint32_t a = (uint32_t)take(&r, 4), b = (uint32_t)take(&r, 4);
        memcpy(&v.value_min, &a, sizeof a);
        memcpy(&v.value_max, &b, sizeof b);
    }
    v.flags = (mode & 16) ? (uint32_t)take(&r, 4) : (uint32_t)((mode >> 5) & 1);
    const int64_t data_offset = pick(&r, 0, 0, BUF_BYTES - 1, 4) & ~(int64_t)(sample - 1);
    const int64_t mask_offset = pick(&r, 0, 0, MASK_BYTES - 1, 4);
    uint8_t *buf = malloc(BUF_BYTES), *mbuf = malloc(MASK_BYTES);
    if (!buf || !mbuf) {
        free(buf);
        free(mbuf);
        return 0;
    }
    /* the remaining input, repeated, is the pixels; a 0/1 mask half of the time */
    if (!r.n)
        memset(buf, 0x55, BUF_BYTES);
    else
        for (size_t i = 0; i < BUF_BYTES; i += r.n)
            memcpy(buf + i, r.p, BUF_BYTES - i < r.n ? BUF_BYTES - i : r.n);
    for (size_t i = 0; i < MASK_BYTES; i++)
        mbuf[i] = (uint8_t)(buf[(i * 7) % BUF_BYTES] & (mode & 128 ? 1 : 0xff));
    v.data = buf + data_offset + ((mode & 64) ? 1 : 0);   /* misaligned origin: refused */
    v.mask = with_mask ? mbuf + mask_offset : NULL;

    int rx = -1, ry = -1, rw = -1, rh = -1;
    dp_err e;
    if (dp_image_validate(&v, &rx, &ry, &rw, &rh, &e) == DP_OK) {
        /* where the view says its pixels and mask are: inside what the harness handed over? */
        int64_t lo, hi, mlo, mhi;
        const int64_t planes = v.planar ? v.channels : 1;
        const int64_t px_bytes = v.planar ? sample : step;
        const int64_t origin = data_offset + ((mode & 64) ? 1 : 0);
        int inside = extent(v.width, v.height, planes, step, v.row_stride, v.plane_stride,
                            px_bytes, &lo, &hi) &&
                     origin + lo >= 0 && origin + hi < BUF_BYTES;
        if (inside && v.mask)
            inside = extent(v.width, v.height, 1, 1, v.mask_stride, 0, 1, &mlo, &mhi) &&
                     mask_offset + mlo >= 0 && mask_offset + mhi < MASK_BYTES;
        if (inside) {
            size_t n = (size_t)rw * (size_t)rh * 3;
            uint8_t *rgb = malloc(n ? n : 1);
            if (rgb) {
                if (dp_image_to_rgb8(&v, rx, ry, rw, rh, rgb, 1, &e) != DP_OK)
                    __builtin_trap();   /* a validated view with its own ROI converts */
                /* a sub-rectangle (a tile) converts too */
                if (rw > 1 && rh > 1 &&
                    dp_image_to_rgb8(&v, rx + 1, ry + 1, rw - 1, rh - 1, rgb, 1, &e) != DP_OK)
                    __builtin_trap();
                /* a rectangle outside the ROI is refused */
                if (dp_image_to_rgb8(&v, rx, ry, rw + 1, rh, rgb, 1, &e) == DP_OK)
                    __builtin_trap();
                free(rgb);
            }
            (void)dp_image_mask_any(&v, rx, ry, rw, rh);
        }
        /* validation accepted a view larger than the buffers: not a plugin bug by itself (the
         * host vouches for its memory), so nothing is read then. */
    } else if (rx != -1 || ry != -1 || rw != -1 || rh != -1 || !e.msg[0]) {
        __builtin_trap();   /* failure: ROI outputs untouched, a message */
    }
    free(buf);
    free(mbuf);
    return 0;
}
