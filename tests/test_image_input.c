/* Host image views: every layout a host may hand over (packed, padded, bottom-up, planar with
 * positive/negative/line-interleaved plane strides, BGR, grey, U16, F32, ROI, mask) is derived
 * from one reference RGB8 image and must convert back to it; every invalid field is refused with
 * a message naming it, before any pixel is read. Buffers are allocated to the exact bytes the
 * view describes so that ASan catches any read outside them. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image_input.h"

#define RW 37
#define RH 29

/* Reference image: gradient plus deterministic noise. ref: borrowed, written [RH][RW][3]. */
static void make_ref(uint8_t *ref)
{
    uint32_t seed = 12345u;
    for (int y = 0; y < RH; y++)
        for (int x = 0; x < RW; x++)
            for (int c = 0; c < 3; c++) {
                seed = seed * 1664525u + 1013904223u;
                int noise = (int)(seed >> 27) - 16;
                int v = (c == 0 ? x * 255 / (RW - 1) : c == 1 ? y * 255 / (RH - 1)
                                                              : (x + y) * 255 / (RW + RH - 2));
                v += noise;
                ref[(y * RW + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    /* Extremes must survive every encoding. */
    ref[0] = 0, ref[1] = 255, ref[2] = 0;
    ref[(RH * RW - 1) * 3] = 255;
}

static uint8_t grey_of(const uint8_t *px)
{
    return (uint8_t)((px[0] * 77 + px[1] * 150 + px[2] * 29) >> 8);
}

/* One host layout of the reference. */
typedef struct layout {
    int channels, pixel, planar, bgr;
    int pad;        /* padding samples at the end of each row */
    int bottom_up;  /* negative row_stride, data at the last row in memory */
    int plane_mode; /* planar: 0 plane_stride = h*|rs|; 1 negative; 2 line-interleaved planes */
    float vmin, vmax;
} layout;

/* A view and the exact buffer behind it (owned; free with unbuild). */
typedef struct built {
    insp_image v;
    unsigned char *buf;
} built;

/* Byte offset of sample (x, y, c) per the insp_tool.h address formula. */
static int64_t sample_off(const insp_image *v, int x, int y, int c)
{
    int s = INSP_PIXEL_BYTES(v->pixel);
    int64_t step = v->planar ? s : (int64_t)v->channels * s;
    return (int64_t)y * v->row_stride + (int64_t)x * step +
           (int64_t)c * (v->planar ? v->plane_stride : s);
}

/* Encodes reference value r (0..255) as a sample of the layout. q: borrowed destination. */
static void put_sample(const layout *L, unsigned char *q, int r)
{
    int ranged = !(L->vmin == 0.0f && L->vmax == 0.0f);
    double lo = ranged ? L->vmin : 0.0;
    if (L->pixel == INSP_PIX_U8) {
        double hi = ranged ? L->vmax : 255.0;
        *q = (uint8_t)lround(lo + r * (hi - lo) / 255.0);
    } else if (L->pixel == INSP_PIX_U16) {
        uint16_t v = ranged ? (uint16_t)lround(lo + r * (L->vmax - lo) / 255.0)
                            : (uint16_t)(r * 257);
        memcpy(q, &v, 2);
    } else {
        float v = ranged ? (float)(lo + r * (L->vmax - lo) / 255.0) : (float)r / 255.0f;
        memcpy(q, &v, 4);
    }
}

/* Builds an w x h view of ref's top-left corner in layout L. */
static void build(const layout *L, const uint8_t *ref, int w, int h, built *b)
{
    int s = INSP_PIXEL_BYTES(L->pixel);
    insp_image *v = &b->v;
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->width = w;
    v->height = h;
    v->channels = L->channels;
    v->pixel = L->pixel;
    v->planar = L->planar;
    v->flags = L->bgr ? INSP_IMAGE_BGR : 0;
    v->value_min = L->vmin;
    v->value_max = L->vmax;
    int64_t row = L->planar ? (int64_t)w * s : (int64_t)w * L->channels * s;
    if (L->planar && L->plane_mode == 2)
        row *= 3;
    int64_t rs = row + (int64_t)L->pad * s;
    v->row_stride = L->bottom_up ? -rs : rs;
    v->plane_stride = L->plane_mode == 2 ? (ptrdiff_t)w * s
                      : L->plane_mode == 1 ? -(ptrdiff_t)(h * rs)
                                           : (ptrdiff_t)(h * rs);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int y = 0; y < h; y += h - 1 > 0 ? h - 1 : 1)
        for (int x = 0; x < w; x += w - 1 > 0 ? w - 1 : 1)
            for (int c = 0; c < L->channels; c++) {
                int64_t o = sample_off(v, x, y, c);
                lo = o < lo ? o : lo;
                hi = o + s > hi ? o + s : hi;
            }
    b->buf = malloc((size_t)(hi - lo));
    ck_assert_ptr_nonnull(b->buf);
    memset(b->buf, 0xA5, (size_t)(hi - lo));
    unsigned char *data = b->buf - lo;
    v->data = data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *px = ref + (y * RW + x) * 3;
            for (int c = 0; c < L->channels; c++) {
                int r = L->channels == 1 ? grey_of(px) : px[L->bgr ? 2 - c : c];
                put_sample(L, data + sample_off(v, x, y, c), r);
            }
        }
}

static void unbuild(built *b)
{
    free(b->buf);
    b->buf = NULL;
}

/* Largest difference between out (rect of the view) and the reference, with the neutral colour
 * where mask (image coordinates, may be NULL) is 0. */
static int max_diff(const uint8_t *out, const uint8_t *ref, int grey, int rx, int ry, int rw,
                    int rh, const insp_image *v)
{
    static const uint8_t neutral[3] = { DP_IMAGE_NEUTRAL_R, DP_IMAGE_NEUTRAL_G,
                                        DP_IMAGE_NEUTRAL_B };
    int worst = 0;
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++) {
            const uint8_t *px = ref + ((ry + y) * RW + rx + x) * 3;
            int masked = v->mask && !v->mask[(ptrdiff_t)(ry + y) * v->mask_stride + rx + x];
            for (int c = 0; c < 3; c++) {
                int want = masked ? neutral[c] : grey ? grey_of(px) : px[c];
                int d = abs(out[((size_t)y * rw + x) * 3 + c] - want);
                worst = d > worst ? d : worst;
            }
        }
    return worst;
}

/* Validates, converts the effective ROI and compares; returns the largest difference. */
static int roundtrip_view(const insp_image *v, const uint8_t *ref, int threads)
{
    int rx, ry, rw, rh;
    dp_err err;
    dp_status st = dp_image_validate(v, &rx, &ry, &rw, &rh, &err);
    ck_assert_msg(st == DP_OK, "validate: %s", err.msg);
    uint8_t *out = malloc((size_t)rw * rh * 3);
    ck_assert_ptr_nonnull(out);
    st = dp_image_to_rgb8(v, rx, ry, rw, rh, out, threads, &err);
    ck_assert_msg(st == DP_OK, "to_rgb8: %s", err.msg);
    int d = max_diff(out, ref, v->channels == 1, rx, ry, rw, rh, v);
    free(out);
    return d;
}

static int roundtrip(const layout *L, int threads)
{
    uint8_t ref[RH * RW * 3];
    make_ref(ref);
    built b;
    build(L, ref, RW, RH, &b);
    int d = roundtrip_view(&b.v, ref, threads);
    unbuild(&b);
    return d;
}

#define U8 INSP_PIX_U8
#define U16 INSP_PIX_U16
#define F32 INSP_PIX_F32

START_TEST(test_packed_rgb)
{
    layout L = { .channels = 3, .pixel = U8 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_padded_rows)
{
    layout L = { .channels = 3, .pixel = U8, .pad = 13 };
    ck_assert_int_eq(roundtrip(&L, 2), 0);
}
END_TEST

START_TEST(test_bottom_up)
{
    layout L = { .channels = 3, .pixel = U8, .pad = 3, .bottom_up = 1 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_planar)
{
    layout L = { .channels = 3, .pixel = U8, .planar = 1 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_planar_negative_plane_stride)
{
    layout L = { .channels = 3, .pixel = U8, .planar = 1, .plane_mode = 1, .pad = 2 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_planar_line_interleaved)
{
    /* RRR..GGG..BBB.. per row: plane_stride = width, row_stride = 3 * width. */
    layout L = { .channels = 3, .pixel = U8, .planar = 1, .plane_mode = 2 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_bgr)
{
    layout L = { .channels = 3, .pixel = U8, .bgr = 1 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_grey_u8)
{
    layout L = { .channels = 1, .pixel = U8, .pad = 3 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_u16_default_range)
{
    layout L = { .channels = 3, .pixel = U16 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
}
END_TEST

START_TEST(test_u16_12bit)
{
    layout L = { .channels = 3, .pixel = U16, .vmax = 4095.0f };
    ck_assert_int_le(roundtrip(&L, 1), 1);
    layout G = { .channels = 1, .pixel = U16, .vmax = 4095.0f, .bottom_up = 1 };
    ck_assert_int_le(roundtrip(&G, 1), 1);
}
END_TEST

START_TEST(test_u8_value_range)
{
    layout L = { .channels = 3, .pixel = U8, .vmin = 0.0f, .vmax = 255.0f };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
    layout N = { .channels = 3, .pixel = U8, .vmin = 20.0f, .vmax = 220.0f };
    ck_assert_int_le(roundtrip(&N, 1), 1);
}
END_TEST

START_TEST(test_f32)
{
    layout L = { .channels = 3, .pixel = F32 };
    ck_assert_int_eq(roundtrip(&L, 1), 0);
    layout R = { .channels = 3, .pixel = F32, .vmin = -1.0f, .vmax = 3.0f, .planar = 1 };
    ck_assert_int_le(roundtrip(&R, 1), 1);
}
END_TEST

START_TEST(test_f32_nan_inf_out_of_range)
{
    uint8_t ref[RH * RW * 3];
    make_ref(ref);
    layout L = { .channels = 3, .pixel = F32 };
    built b;
    build(&L, ref, RW, RH, &b);
    unsigned char *data = (unsigned char *)(uintptr_t)b.v.data;
    /* NaN and -inf and below-range -> 0, +inf and above-range -> 255. */
    const struct { int x, y, c; float v; uint8_t want; } pokes[] = {
        { 3, 4, 1, NAN, 0 },       { 10, 10, 0, NAN, 0 }, { 10, 10, 2, -NAN, 0 },
        { 0, 28, 0, INFINITY, 255 }, { 36, 0, 2, -INFINITY, 0 }, { 5, 5, 0, 2.0f, 255 },
        { 6, 6, 1, -0.5f, 0 },
    };
    const int n = (int)(sizeof pokes / sizeof pokes[0]);
    for (int i = 0; i < n; i++) {
        memcpy(data + sample_off(&b.v, pokes[i].x, pokes[i].y, pokes[i].c), &pokes[i].v, 4);
        ref[(pokes[i].y * RW + pokes[i].x) * 3 + pokes[i].c] = pokes[i].want;
    }
    ck_assert_int_eq(roundtrip_view(&b.v, ref, 1), 0);
    unbuild(&b);
}
END_TEST

/* The spec formula in double, for comparison. */
static int exact_u8(double v, double lo, double hi)
{
    double t = (v - lo) / (hi - lo);
    t = t > 0.0 ? (t < 1.0 ? t : 1.0) : 0.0;
    return (int)round(t * 255.0);
}

/* Every U16 value (a 256 x 256 grey image) under several ranges, against the exact formula. */
START_TEST(test_u16_exhaustive)
{
    static const float ranges[][2] = { { 0, 0 },      { 0, 4095 },    { 0, 1023 }, { 64, 4095 },
                                       { 100, 60000 }, { 1000, 1001 }, { 0.5f, 1000.25f } };
    uint16_t *src = malloc(65536 * 2);
    uint8_t *out = malloc(65536 * 3);
    ck_assert(src && out);
    for (int i = 0; i < 65536; i++)
        src[i] = (uint16_t)i;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        insp_image v;
        memset(&v, 0, sizeof v);
        v.struct_size = sizeof v;
        v.width = 256, v.height = 256, v.channels = 1, v.pixel = U16, v.row_stride = 512;
        v.data = src;
        v.value_min = ranges[r][0], v.value_max = ranges[r][1];
        dp_err err;
        ck_assert_msg(dp_image_to_rgb8(&v, 0, 0, 256, 256, out, 2, &err) == DP_OK, "%s", err.msg);
        double lo = ranges[r][0], hi = r == 0 ? 65535.0 : ranges[r][1];
        int bad = 0;
        for (int i = 0; i < 65536; i++)
            bad += out[3 * i] != exact_u8(i, lo, hi) || out[3 * i + 2] != out[3 * i];
        ck_assert_msg(bad == 0, "range %g..%g: %d mismatches", lo, hi, bad);
    }
    free(src);
    free(out);
}
END_TEST

/* A range so narrow that 255 / (max - min) overflows float: a step function, no UB. */
START_TEST(test_f32_tiny_range)
{
    float px[4] = { 1.0f, nextafterf(1.0f, 2.0f), 0.5f, 1.0f };
    uint8_t out[12];
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = 4, v.height = 1, v.channels = 1, v.pixel = F32, v.row_stride = 16, v.data = px;
    v.value_min = 1.0f, v.value_max = nextafterf(1.0f, 2.0f);
    ck_assert_int_eq(dp_image_to_rgb8(&v, 0, 0, 4, 1, out, 1, NULL), DP_OK);
    ck_assert(out[0] == 0 && out[3] == 255 && out[6] == 0 && out[9] == 0);
    v.value_min = 0.0f, v.value_max = 1e-45f; /* denormal range: 255 / range > FLT_MAX */
    px[0] = 0.0f, px[1] = 1e-45f, px[2] = -1.0f, px[3] = 1.0f;
    ck_assert_int_eq(dp_image_to_rgb8(&v, 0, 0, 4, 1, out, 1, NULL), DP_OK);
    ck_assert(out[0] == 0 && out[3] == 255 && out[6] == 0 && out[9] == 255);
}
END_TEST

/* Every combination of pixel type, channels, planar mode, BGR, padding and row direction. */
START_TEST(test_all_layouts)
{
    static const int pixels[] = { U8, U16, F32 };
    int count = 0;
    for (int pi = 0; pi < 3; pi++)
        for (int ch = 1; ch <= 3; ch += 2)
            for (int pm = -1; pm <= 2; pm++) /* -1 interleaved, else planar plane_mode */
                for (int bgr = 0; bgr <= 1; bgr++)
                    for (int pad = 0; pad <= 5; pad += 5)
                        for (int bu = 0; bu <= 1; bu++) {
                            if (ch == 1 && pm > 0)
                                continue;
                            layout L = { .channels = ch, .pixel = pixels[pi], .planar = pm >= 0,
                                         .plane_mode = pm < 0 ? 0 : pm, .bgr = bgr, .pad = pad,
                                         .bottom_up = bu };
                            int d = roundtrip(&L, 1 + (count & 1));
                            ck_assert_msg(d == 0,
                                          "pixel %d ch %d planar %d mode %d bgr %d pad %d "
                                          "bottom_up %d: max diff %d",
                                          L.pixel, ch, L.planar, L.plane_mode, bgr, pad, bu, d);
                            count++;
                        }
    ck_assert_int_eq(count, 3 * (2 * 4 * 2 * 2 + 2 * 2 * 2 * 2));
}
END_TEST

/* ROI set in the view, including every corner, on a bottom-up padded planar BGR U16 view. */
START_TEST(test_roi_crops)
{
    static const int rois[][4] = {
        { 0, 0, 1, 1 },   { 36, 28, 1, 1 }, { 36, 0, 1, 1 },   { 0, 28, 1, 1 },
        { 0, 0, 37, 29 }, { 30, 20, 7, 9 }, { 0, 25, 10, 4 },  { 36, 0, 1, 29 },
        { 0, 28, 37, 1 }, { 5, 7, 11, 13 },
    };
    uint8_t ref[RH * RW * 3];
    make_ref(ref);
    const layout layouts[] = {
        { .channels = 3, .pixel = U16, .planar = 1, .bgr = 1, .pad = 3, .bottom_up = 1 },
        { .channels = 3, .pixel = U8, .bgr = 1, .pad = 1, .bottom_up = 1 },
        { .channels = 1, .pixel = F32, .pad = 2 },
    };
    for (size_t li = 0; li < sizeof layouts / sizeof layouts[0]; li++) {
        built b;
        build(&layouts[li], ref, RW, RH, &b);
        for (size_t i = 0; i < sizeof rois / sizeof rois[0]; i++) {
            b.v.roi_x = rois[i][0];
            b.v.roi_y = rois[i][1];
            b.v.roi_w = rois[i][2];
            b.v.roi_h = rois[i][3];
            int rx, ry, rw, rh;
            dp_err err;
            ck_assert_int_eq(dp_image_validate(&b.v, &rx, &ry, &rw, &rh, &err), DP_OK);
            ck_assert(rx == rois[i][0] && ry == rois[i][1] && rw == rois[i][2] &&
                      rh == rois[i][3]);
            ck_assert_msg(roundtrip_view(&b.v, ref, 2) == 0, "layout %zu roi %zu", li, i);
        }
        unbuild(&b);
    }
}
END_TEST

/* A rectangle inside the view's ROI (a tile) is converted; one reaching outside is refused. */
START_TEST(test_tile_inside_roi)
{
    uint8_t ref[RH * RW * 3];
    make_ref(ref);
    layout L = { .channels = 3, .pixel = U8, .pad = 4, .bottom_up = 1 };
    built b;
    build(&L, ref, RW, RH, &b);
    b.v.roi_x = 4, b.v.roi_y = 3, b.v.roi_w = 20, b.v.roi_h = 15;
    uint8_t out[8 * 6 * 3];
    dp_err err;
    ck_assert_int_eq(dp_image_to_rgb8(&b.v, 16, 12, 8, 6, out, 1, &err), DP_OK);
    ck_assert_int_eq(max_diff(out, ref, 0, 16, 12, 8, 6, &b.v), 0);
    memset(out, 0x5A, sizeof out);
    ck_assert_int_eq(dp_image_to_rgb8(&b.v, 17, 12, 8, 6, out, 1, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "not inside the view's ROI"));
    ck_assert_int_eq(dp_image_to_rgb8(&b.v, 4, 3, 0, 6, out, 1, &err), DP_E_ARG);
    ck_assert_int_eq(dp_image_to_rgb8(&b.v, 4, 3, 8, 6, NULL, 1, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "dst = NULL"));
    ck_assert_int_eq(dp_image_to_rgb8(&b.v, 4, 3, 8, 6, out, 0, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "threads = 0"));
    for (size_t i = 0; i < sizeof out; i++)
        ck_assert_uint_eq(out[i], 0x5A);
    unbuild(&b);
}
END_TEST

/* Checkerboard mask (own padded stride, also bottom-up) -> neutral colour where 0. */
START_TEST(test_mask_checkerboard)
{
    uint8_t ref[RH * RW * 3];
    make_ref(ref);
    const int mstride = RW + 7;
    uint8_t *mask = malloc((size_t)(RH - 1) * mstride + RW);
    ck_assert_ptr_nonnull(mask);
    for (int bottom_up = 0; bottom_up <= 1; bottom_up++) {
        memset(mask, 0xEE, (size_t)(RH - 1) * mstride + RW);
        const uint8_t *m0 = bottom_up ? mask + (size_t)(RH - 1) * mstride : mask;
        const ptrdiff_t ms = bottom_up ? -mstride : mstride;
        for (int y = 0; y < RH; y++)
            for (int x = 0; x < RW; x++)
                ((uint8_t *)(uintptr_t)m0)[y * ms + x] = (uint8_t)(((x + y) & 1) ? 0 : 1 + x);
        layout L = { .channels = 3, .pixel = U16, .bgr = 1, .bottom_up = 1, .pad = 2 };
        built b;
        build(&L, ref, RW, RH, &b);
        b.v.mask = m0;
        b.v.mask_stride = ms;
        ck_assert_int_eq(roundtrip_view(&b.v, ref, 2), 0);
        b.v.roi_x = 30, b.v.roi_y = 22, b.v.roi_w = 7, b.v.roi_h = 7;
        ck_assert_int_eq(roundtrip_view(&b.v, ref, 1), 0);
        /* The neutral colour really appears. */
        uint8_t px[3];
        ck_assert_int_eq(dp_image_to_rgb8(&b.v, 31, 22, 1, 1, px, 1, NULL), DP_OK);
        ck_assert(px[0] == 123 && px[1] == 117 && px[2] == 104);
        unbuild(&b);
    }
    free(mask);
}
END_TEST

START_TEST(test_mask_any)
{
    uint8_t ref[RH * RW * 3];
    make_ref(ref);
    layout L = { .channels = 1, .pixel = U8 };
    built b;
    build(&L, ref, RW, RH, &b);
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, RW, RH), 1); /* no mask */
    uint8_t mask[RH * RW];
    memset(mask, 0, sizeof mask);
    b.v.mask = mask;
    b.v.mask_stride = RW;
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, RW, RH), 0);
    mask[20 * RW + 36] = 1; /* outside the ROI below, inside the image */
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, RW, RH), 1);
    b.v.roi_x = 0, b.v.roi_y = 0, b.v.roi_w = 36, b.v.roi_h = 29;
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, 36, 29), 0);
    mask[28 * RW + 35] = 255; /* last ROI pixel */
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, 36, 29), 1);
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, 36, 28), 0);
    ck_assert_int_eq(dp_image_mask_any(&b.v, 0, 0, 37, 29), 0); /* outside the ROI */
    ck_assert_int_eq(dp_image_mask_any(NULL, 0, 0, 1, 1), 0);
    unbuild(&b);
}
END_TEST

/* ---- invalid views ---- */

typedef struct bad_case {
    const char *name;
    const char *fragment; /* must appear in the message */
} bad_case;

static const bad_case bad_cases[] = {
    { "NULL img", "image = NULL" },
    { "struct_size too small", "image.struct_size = 40" },
    { "width 0", "image.width = 0" },
    { "height -1", "image.height = -1" },
    { "70000x10", "image.width = 70000" },
    { "channels 2", "image.channels = 2" },
    { "pixel 7", "image.pixel = 7" },
    { "planar 2", "image.planar = 2" },
    { "row_stride 0", "image.row_stride = 0" },
    { "row_stride too small", "image.row_stride = 100: |row_stride| must be >= width 37 * 3 "
                              "channels * 2-byte samples = 222" },
    { "row_stride not a sample multiple", "image.row_stride = 223: must be a multiple" },
    { "misaligned U16 data", "image.data" },
    { "ROI partly outside", "image.roi_x = 30, roi_w = 10" },
    { "negative roi_w", "image.roi_w = -5" },
    { "roi_h 0", "image.roi_h = 0" },
    { "ROI below", "image.roi_y = 20, roi_h = 10" },
    { "mask_stride 0 with mask", "image.mask_stride = 0" },
    { "mask_stride too small", "image.mask_stride = -36" },
    { "value_max <= value_min", "image.value_min = 100, value_max = 100" },
    { "value range NaN", "image.value_min = nan" },
    { "unknown flag bit", "image.flags = 0x5: unknown bits 0x4" },
    { "NULL data", "image.data = NULL" },
    { "plane_stride 0", "image.plane_stride = 0" },
    { "planes overlap", "image.plane_stride = 80: channel planes overlap" },
    { "planes 0 and 2 overlap", "image.plane_stride = 100: channel planes overlap" },
    { "bottom-up data at the first row", "wrap the address space" },
    { "row_stride absurd", "image.row_stride = -9223372036854775808" },
    { "2^28+ pixels", "image.width x image.height = 16385 x 16384" },
    { "2^28+1 wide", "image.width = 268435457" },
};

START_TEST(test_invalid_views)
{
    const bad_case *bc = &bad_cases[_i];
    static uint16_t tiny[16]; /* never read: the view is refused first */
    uint8_t mask[RW];
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = RW, v.height = RH, v.channels = 3, v.pixel = U16;
    v.row_stride = RW * 3 * 2;
    v.data = tiny;
    /* Backed only where the test reads the data: validation never dereferences. */
    const insp_image *arg = &v;
    switch (_i) {
    case 0: arg = NULL; break;
    case 1: v.struct_size = 40; break;
    case 2: v.width = 0; break;
    case 3: v.height = -1; break;
    case 4: v.width = 70000, v.height = 10; break;
    case 5: v.channels = 2; break;
    case 6: v.pixel = 7; break;
    case 7: v.planar = 2; break;
    case 8: v.row_stride = 0; break;
    case 9: v.row_stride = 100; break;
    case 10: v.row_stride = 223; break;
    case 11: v.data = (const unsigned char *)tiny + 1; break;
    case 12: v.roi_x = 30, v.roi_y = 0, v.roi_w = 10, v.roi_h = 5; break;
    case 13: v.roi_w = -5, v.roi_h = 5; break;
    case 14: v.roi_w = 5, v.roi_h = 0; break;
    case 15: v.roi_x = 0, v.roi_y = 20, v.roi_w = 5, v.roi_h = 10; break;
    case 16: v.mask = mask, v.mask_stride = 0; break;
    case 17: v.mask = mask, v.mask_stride = -36; break;
    case 18: v.value_min = 100.0f, v.value_max = 100.0f; break;
    case 19: v.value_min = NAN, v.value_max = 1.0f; break;
    case 20: v.flags = INSP_IMAGE_BGR | 4u; break;
    case 21: v.data = NULL; break;
    case 22: v.planar = 1, v.row_stride = RW * 2, v.plane_stride = 0; break;
    case 23: v.planar = 1, v.row_stride = 80, v.plane_stride = 80; break; /* plane 1 = row 1 */
    case 24: /* planes 0/1 and 1/2 are apart, but plane 2's row 0 is plane 0's row 1 */
        v.planar = 1, v.row_stride = 200, v.plane_stride = 100;
        break;
    case 25: /* bottom-up stride with data at the start of a buffer near address 0 */
        v.data = (const void *)(uintptr_t)64, v.row_stride = -(ptrdiff_t)(RW * 3 * 2);
        break;
    case 26: v.row_stride = PTRDIFF_MIN; break;
    case 27: v.width = 16385, v.height = 16384, v.row_stride = 16385 * 6; break;
    case 28: v.width = (1 << 28) + 1, v.height = 1; break;
    }
    int rx = -7, ry = -7, rw = -7, rh = -7;
    dp_err err;
    dp_status st = dp_image_validate(arg, &rx, &ry, &rw, &rh, &err);
    printf("  %-34s %s\n", bc->name, err.msg);
    ck_assert_msg(st == DP_E_ARG, "%s: status %d", bc->name, (int)st);
    ck_assert_int_eq(err.code, DP_E_ARG);
    ck_assert_msg(strstr(err.msg, bc->fragment) != NULL, "%s: message \"%s\" lacks \"%s\"",
                  bc->name, err.msg, bc->fragment);
    ck_assert(rx == -7 && ry == -7 && rw == -7 && rh == -7);
    /* Conversion refuses the same view without touching dst; mask_any says "nothing". */
    uint8_t dst[4] = { 9, 9, 9, 9 };
    ck_assert_int_eq(dp_image_to_rgb8(arg, 0, 0, 1, 1, dst, 1, &err), DP_E_ARG);
    ck_assert(dst[0] == 9 && dst[3] == 9);
    ck_assert_int_eq(dp_image_mask_any(arg, 0, 0, 1, 1), 0);
    ck_assert_int_eq(dp_image_validate(arg, &rx, &ry, &rw, &rh, NULL), DP_E_ARG);
}
END_TEST

/* A struct_size larger than 1.0 (a newer host) is accepted; trailing members are not read. */
START_TEST(test_newer_struct_size)
{
    uint8_t px[3] = { 1, 2, 3 }, out[3];
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v + 64;
    v.width = 1, v.height = 1, v.channels = 3, v.pixel = U8, v.row_stride = 3, v.data = px;
    ck_assert_int_eq(dp_image_to_rgb8(&v, 0, 0, 1, 1, out, 1, NULL), DP_OK);
    ck_assert(out[0] == 1 && out[1] == 2 && out[2] == 3);
    int b, c, d;
    ck_assert_int_eq(dp_image_validate(&v, NULL, &b, &c, &d, NULL), DP_E_ARG);
}
END_TEST

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 8192 x 8192 grey U8 (2^26 pixels): valid, converted, timed. */
START_TEST(test_large_grey_timed)
{
    const int n = 8192;
    uint8_t *src = malloc((size_t)n * n);
    uint8_t *dst = malloc((size_t)n * n * 3);
    ck_assert(src && dst);
    for (size_t i = 0; i < (size_t)n * n; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 13));
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = n, v.height = n, v.channels = 1, v.pixel = U8, v.row_stride = n, v.data = src;
    int rx, ry, rw, rh;
    dp_err err;
    ck_assert_int_eq(dp_image_validate(&v, &rx, &ry, &rw, &rh, &err), DP_OK);
    for (int threads = 1; threads <= 2; threads++) {
        double t0 = now_ms();
        dp_status st = dp_image_to_rgb8(&v, rx, ry, rw, rh, dst, threads, &err);
        double t1 = now_ms();
        ck_assert_msg(st == DP_OK, "%s", err.msg);
        printf("  8192x8192 grey U8 -> RGB8, %d thread(s): %.1f ms\n", threads, t1 - t0);
    }
    for (size_t i = 0; i < (size_t)n * n; i += 9973)
        ck_assert(dst[3 * i] == src[i] && dst[3 * i + 1] == src[i] && dst[3 * i + 2] == src[i]);
    size_t last = (size_t)n * n - 1;
    ck_assert(dst[3 * last + 2] == src[last]);
    free(src);
    free(dst);
}
END_TEST

/* More than 2^28 pixels over a tiny buffer: refused before any read, no crash. */
START_TEST(test_huge_view_refused)
{
    uint8_t tiny[16] = { 0 };
    uint8_t out[16];
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = 16385, v.height = 16384, v.channels = 1, v.pixel = U8;
    v.row_stride = 16385, v.data = tiny;
    dp_err err;
    int rx, ry, rw, rh;
    ck_assert_int_eq(dp_image_validate(&v, &rx, &ry, &rw, &rh, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "2^28"));
    ck_assert_int_eq(dp_image_to_rgb8(&v, 0, 0, 16385, 16384, out, 2, &err), DP_E_ARG);
    ck_assert_int_eq(dp_image_mask_any(&v, 0, 0, 16385, 16384), 0);
    v.width = (1 << 28) + 1, v.height = 1, v.row_stride = (1 << 28) + 1;
    ck_assert_int_eq(dp_image_to_rgb8(&v, 0, 0, v.width, 1, out, 2, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "image.width = 268435457"));
}
END_TEST

Suite *image_input_suite(void)
{
    Suite *s = suite_create("image_input");
    TCase *tc = tcase_create("layouts");
    tcase_add_test(tc, test_packed_rgb);
    tcase_add_test(tc, test_padded_rows);
    tcase_add_test(tc, test_bottom_up);
    tcase_add_test(tc, test_planar);
    tcase_add_test(tc, test_planar_negative_plane_stride);
    tcase_add_test(tc, test_planar_line_interleaved);
    tcase_add_test(tc, test_bgr);
    tcase_add_test(tc, test_grey_u8);
    tcase_add_test(tc, test_u16_default_range);
    tcase_add_test(tc, test_u16_12bit);
    tcase_add_test(tc, test_u16_exhaustive);
    tcase_add_test(tc, test_u8_value_range);
    tcase_add_test(tc, test_f32_tiny_range);
    tcase_add_test(tc, test_f32);
    tcase_add_test(tc, test_f32_nan_inf_out_of_range);
    tcase_add_test(tc, test_all_layouts);
    tcase_add_test(tc, test_roi_crops);
    tcase_add_test(tc, test_tile_inside_roi);
    tcase_add_test(tc, test_mask_checkerboard);
    tcase_add_test(tc, test_mask_any);
    suite_add_tcase(s, tc);

    TCase *bad = tcase_create("invalid");
    tcase_add_loop_test(bad, test_invalid_views, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(bad, test_newer_struct_size);
    tcase_add_test(bad, test_huge_view_refused);
    suite_add_tcase(s, bad);

    TCase *big = tcase_create("large");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, test_large_grey_timed);
    suite_add_tcase(s, big);
    return s;
}
