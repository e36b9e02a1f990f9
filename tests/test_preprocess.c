/* Preprocessing parity: Pillow-compatible 8-bit resize (bicubic images, bilinear masks), CLIP
 * normalisation, and the torch antialiased bicubic float resize of the positional table. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imageio.h"
#include "golden.h"
#include "json.h"
#include "preprocess.h"
#include "resample.h"
#include "pos_embed_resize.h"

/* Decodes a golden image to packed 8-bit RGB (gray copied into R, G, B). Caller frees *rgb. */
static void load_rgb8(const char *rel, io_image *rgb)
{
    char err[512];
    io_image raw;
    ck_assert_msg(io_read_image(golden_path(rel), &raw, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(io_to_rgb8(&raw, rgb, err, sizeof err) == 0, "%s", err);
    io_image_free(&raw);
}

/* Resizes with a freshly sized workspace. dst: borrowed [dh][dw][ch]. */
static void resize(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                   dp_filter f)
{
    size_t n = dp_resize_u8_workspace(sw, sh, dw, dh, ch, f);
    ck_assert_uint_gt(n, 0);
    void *ws = malloc(n);
    ck_assert_ptr_nonnull(ws);
    dp_err err;
    dp_status s = dp_resize_u8(src, sw, sh, (ptrdiff_t)sw * ch, ch, dst, dw, dh,
                               (ptrdiff_t)dw * ch, f, ws, n, &err);
    free(ws);
    ck_assert_msg(s == DP_OK, "%s", err.msg);
}

/* Prints and returns the number of differing bytes (and the largest difference). */
static size_t count_u8_mismatch(const char *name, const uint8_t *mine, const uint8_t *golden,
                                size_t n)
{
    size_t bad = 0;
    int maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)mine[i] - (int)golden[i]);
        if (d) {
            bad++;
            if (d > maxd)
                maxd = d;
        }
    }
    printf("  %-34s n=%-8zu mismatches=%zu max_diff=%d\n", name, n, bad, maxd);
    return bad;
}

static void check_resize_u8(const char *png_rel, const char *npy_rel, int size)
{
    io_image rgb;
    load_rgb8(png_rel, &rgb);
    npy_array g;
    ck_assert_int_eq(npy_load(npy_rel, &g), 0);
    ck_assert_int_eq(g.dtype, 'u');
    ck_assert_uint_eq(g.count, (size_t)size * size * 3);
    uint8_t *out = malloc(g.count);
    resize(rgb.data, rgb.width, rgb.height, 3, out, size, size, DP_FILTER_BICUBIC);
    size_t bad = count_u8_mismatch(npy_rel, out, g.data, g.count);
    free(out);
    npy_free(&g);
    io_image_free(&rgb);
    ck_assert_uint_eq(bad, 0);
}

START_TEST(test_cards)
{
    static const char *cards[] = { "p1024x1024", "p640x480", "p97x150" };
    static const int sizes[] = { 224, 518 };
    char png[128], npy[128];
    snprintf(png, sizeof png, "preprocess/%s.png", cards[_i / 2]);
    snprintf(npy, sizeof npy, "preprocess/%s_S%d_u8.npy", cards[_i / 2], sizes[_i % 2]);
    check_resize_u8(png, npy, sizes[_i % 2]);
}
END_TEST

START_TEST(test_tiny_inputs)
{
    static const char *files[] = { "tiny/inputs/a.png", "tiny/inputs/b.tif",
                                   "tiny/inputs/c_gray.tif" };
    static const char *ids[] = { "a", "b", "c" };
    const int S = 112;
    char rel[128];
    snprintf(rel, sizeof rel, "tiny/%s/pre_u8.npy", ids[_i]);
    check_resize_u8(files[_i], rel, S);

    /* normalisation from the golden u8 (so this half is independent of the resize) */
    npy_array u8, pre;
    ck_assert_int_eq(npy_load(rel, &u8), 0);
    snprintf(rel, sizeof rel, "tiny/%s/pre.npy", ids[_i]);
    ck_assert_int_eq(npy_load(rel, &pre), 0);
    ck_assert_uint_eq(pre.count, (size_t)3 * S * S);
    float *chw = malloc(sizeof(float) * pre.count);
    dp_normalize_clip(u8.data, S, (ptrdiff_t)S * 3, chw);
    size_t bitdiff = 0;
    for (size_t i = 0; i < pre.count; i++)
        bitdiff += memcmp(&chw[i], (float *)pre.data + i, sizeof(float)) != 0;
    printf("  %-34s n=%-8zu bitwise mismatches=%zu\n", rel, pre.count, bitdiff);
    ck_assert(within(rel, chw, pre.data, pre.count, 0.0, 0.0));
    ck_assert_uint_eq(bitdiff, 0);
    free(chw);
    npy_free(&u8);
    npy_free(&pre);
}
END_TEST

START_TEST(test_small_inputs_run)
{
    static const char *files[] = { "small/inputs/a.png", "small/inputs/b.tif" };
    const int S = 518;
    io_image rgb;
    load_rgb8(files[_i], &rgb);
    uint8_t *out = malloc((size_t)S * S * 3);
    float *chw = malloc(sizeof(float) * 3 * S * S);
    resize(rgb.data, rgb.width, rgb.height, 3, out, S, S, DP_FILTER_BICUBIC);
    dp_normalize_clip(out, S, (ptrdiff_t)S * 3, chw);
    size_t bad = 0; /* count, not ck_assert per element: Check logs every assertion */
    for (size_t i = 0; i < (size_t)3 * S * S; i++)
        bad += !(isfinite(chw[i]) && fabsf(chw[i]) < 3.0f);
    ck_assert_uint_eq(bad, 0);
    free(out);
    free(chw);
    io_image_free(&rgb);
}
END_TEST

START_TEST(test_mask_bilinear)
{
    char err[512];
    io_image m;
    ck_assert_msg(io_read_image(golden_path("train/mask_a.png"), &m, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_int_eq(m.channels, 1);
    ck_assert_int_eq(m.pixel, IO_U8);
    uint8_t *px = m.data;
    for (size_t i = 0; i < (size_t)m.width * m.height; i++)
        px[i] = px[i] ? 255 : 0;
    npy_array g;
    ck_assert_int_eq(npy_load("train/mask_resized_u8.npy", &g), 0);
    ck_assert_uint_eq(g.count, (size_t)2 * 112 * 112);
    uint8_t out[112 * 112];
    resize(px, m.width, m.height, 1, out, 112, 112, DP_FILTER_BILINEAR);
    size_t bad = count_u8_mismatch("train/mask_resized_u8.npy[0]", out, g.data, sizeof out);
    size_t full = 0;
    for (size_t i = 0; i < sizeof out; i++)
        full += out[i] == 255;
    printf("  mask a: %zu pixels equal to 255 (README: 330)\n", full);
    npy_free(&g);
    io_image_free(&m);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* IEEE half -> float (the small config stores its weights as F16). */
static float half_to_float(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return sign ? -v : v;
}

/* Loads tensor `name` (F32 or F16) of a safetensors file as floats (malloc'd; count in *n). */
static float *safetensors_f32(const char *path, const char *name, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    uint8_t lenb[8];
    ck_assert_uint_eq(fread(lenb, 1, 8, f), 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | lenb[i];
    ck_assert_uint_lt(hlen, 1u << 24);
    char *hdr = malloc(hlen);
    ck_assert_uint_eq(fread(hdr, 1, hlen, f), hlen);
    dp_json *doc;
    dp_err err;
    ck_assert_msg(dp_json_parse(hdr, hlen, path, &doc, &err) == DP_OK, "%s", err.msg);
    const dp_json *t = dp_json_get(doc, name);
    ck_assert_msg(t != NULL, "%s not in %s", name, path);
    const dp_json *dtype = dp_json_get(t, "dtype"), *offs = dp_json_get(t, "data_offsets");
    int half = strcmp(dtype->string, "F16") == 0;
    ck_assert(half || strcmp(dtype->string, "F32") == 0);
    ck_assert_uint_eq(offs->count, 2);
    int64_t a = offs->items[0].integer, b = offs->items[1].integer;
    size_t bytes = (size_t)(b - a);
    *n = bytes / (half ? 2 : 4);
    uint8_t *raw = malloc(bytes);
    ck_assert_int_eq(fseek(f, (long)(8 + hlen + (uint64_t)a), SEEK_SET), 0);
    ck_assert_uint_eq(fread(raw, 1, bytes, f), bytes);
    float *v = malloc(sizeof(float) * *n);
    for (size_t i = 0; i < *n; i++) {
        if (half)
            v[i] = half_to_float((uint16_t)(raw[2 * i] | raw[2 * i + 1] << 8));
        else
            memcpy(&v[i], raw + 4 * i, 4);
    }
    free(raw);
    dp_json_free(doc);
    free(hdr);
    fclose(f);
    return v;
}

/* _i = 0: tiny (6x6 -> 8x8, 64 channels, F32); 1: small (16x16 -> 37x37, 128 channels, F16). */
START_TEST(test_pos_embed)
{
    static const char *cfg[] = { "tiny", "small" };
    static const int widths[] = { 64, 128 }, natives[] = { 6, 16 }, grids[] = { 8, 37 };
    const int W = widths[_i], nat = natives[_i], G = grids[_i];
    char rel[128];
    snprintf(rel, sizeof rel, "%s/clip.safetensors", cfg[_i]);
    size_t n;
    float *native = safetensors_f32(golden_path(rel), "visual.positional_embedding", &n);
    ck_assert_uint_eq(n, (size_t)(1 + nat * nat) * W);
    snprintf(rel, sizeof rel, "%s/pos_embed_resized.npy", cfg[_i]);
    npy_array g;
    ck_assert_int_eq(npy_load(rel, &g), 0);
    ck_assert_uint_eq(g.count, (size_t)(1 + G * G) * W);
    float *out = malloc(sizeof(float) * G * G * W);
    dp_err err;
    ck_assert_msg(dp_resize_f32_bicubic_aa(native + W, nat, nat, W, out, G, G, &err) == DP_OK,
                  "%s", err.msg);
    double atol = golden_atol(rel);
    ck_assert(atol > 0);
    ck_assert(memcmp(native, g.data, sizeof(float) * W) == 0); /* CLS row kept */
    strcat(rel, "[1:]");
    ck_assert(within(rel, out, (float *)g.data + W, (size_t)G * G * W, atol, 0.0));
    free(out);
    free(native);
    npy_free(&g);
}
END_TEST

/* Direct double-precision antialiased Keys cubic (a=-0.5) along one axis. */
static double keys(double x)
{
    x = fabs(x);
    if (x < 1)
        return 1.5 * x * x * x - 2.5 * x * x + 1;
    if (x < 2)
        return -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
    return 0;
}

static void ref_weights(int in, int out, int i, int *lo, int *hi, double *w)
{
    double scale = (double)in / out, fs = scale > 1 ? scale : 1, sup = 2 * fs;
    double center = (i + 0.5) * scale, sum = 0;
    *lo = (int)(center - sup + 0.5);
    if (*lo < 0)
        *lo = 0;
    *hi = (int)(center + sup + 0.5);
    if (*hi > in)
        *hi = in;
    for (int x = *lo; x < *hi; x++)
        sum += w[x - *lo] = keys((x - center + 0.5) / fs);
    for (int x = *lo; x < *hi; x++)
        w[x - *lo] /= sum;
}

START_TEST(test_f32_downscale_vs_double)
{
    enum { SW = 23, SH = 17, C = 3, DW = 6, DH = 9 };  /* shrink both axes, odd ratios */
    static float src[SH][SW][C], out[DH][DW][C];
    static double tmp[SH][DW][C];
    unsigned s = 12345;
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            for (int c = 0; c < C; c++) {
                s = s * 1103515245u + 12345u;
                src[y][x][c] = (float)((s >> 8) % 20001) / 10000.0f - 1.0f;
            }
    dp_err err;
    ck_assert(dp_resize_f32_bicubic_aa(&src[0][0][0], SW, SH, C, &out[0][0][0], DW, DH, &err) ==
              DP_OK);
    double w[64];
    int lo, hi;
    for (int y = 0; y < SH; y++)
        for (int i = 0; i < DW; i++) {
            ref_weights(SW, DW, i, &lo, &hi, w);
            for (int c = 0; c < C; c++) {
                double a = 0;
                for (int x = lo; x < hi; x++)
                    a += w[x - lo] * src[y][x][c];
                tmp[y][i][c] = a;
            }
        }
    float ref[DH][DW][C];
    for (int j = 0; j < DH; j++) {
        ref_weights(SH, DH, j, &lo, &hi, w);
        for (int i = 0; i < DW; i++)
            for (int c = 0; c < C; c++) {
                double a = 0;
                for (int y = lo; y < hi; y++)
                    a += w[y - lo] * tmp[y][i][c];
                ref[j][i][c] = (float)a;
            }
    }
    ck_assert(within("f32 aa 23x17 -> 6x9 vs float64", &out[0][0][0], &ref[0][0][0],
                     (size_t)DH * DW * C, 2e-6, 0.0));
}
END_TEST

/* The 8-bit path on a shrink, against the README fixed-point formula written out in doubles
 * for the weights (independent of the implementation's workspace layout), plus channel and
 * negative-stride invariants. */
START_TEST(test_u8_reference_and_strides)
{
    enum { SW = 37, SH = 29, DW = 11, DH = 41, C = 4 };
    static uint8_t src[SH][SW][C], out[DH][DW][C], flip_out[DH][DW][C], one[DH][DW];
    static uint8_t plane[SH][SW], mid[SH][DW][C], ref[DH][DW][C];
    unsigned s = 99;
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            for (int c = 0; c < C; c++) {
                s = s * 1103515245u + 12345u;
                src[y][x][c] = (uint8_t)((x * 37 + y * 11 + c * 60) % 256 ^ ((s >> 16) & 31));
            }
    resize(&src[0][0][0], SW, SH, C, &out[0][0][0], DW, DH, DP_FILTER_BICUBIC);

    double w[128];
    int lo, hi;
    for (int y = 0; y < SH; y++)
        for (int i = 0; i < DW; i++) {
            ref_weights(SW, DW, i, &lo, &hi, w);
            for (int c = 0; c < C; c++) {
                long long acc = 1 << 21;
                for (int x = lo; x < hi; x++) {
                    double v = w[x - lo] * 4194304.0;
                    acc += (long long)(v < 0 ? v - 0.5 : v + 0.5) * src[y][x][c];
                }
                acc >>= 22;
                mid[y][i][c] = (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
            }
        }
    for (int j = 0; j < DH; j++) {
        ref_weights(SH, DH, j, &lo, &hi, w);
        for (int i = 0; i < DW; i++)
            for (int c = 0; c < C; c++) {
                long long acc = 1 << 21;
                for (int y = lo; y < hi; y++) {
                    double v = w[y - lo] * 4194304.0;
                    acc += (long long)(v < 0 ? v - 0.5 : v + 0.5) * mid[y][i][c];
                }
                acc >>= 22;
                ref[j][i][c] = (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
            }
    }
    ck_assert_uint_eq(count_u8_mismatch("u8 37x29 -> 11x41 vs README formula", &out[0][0][0],
                                        &ref[0][0][0], sizeof out), 0);

    /* one pass at a time: horizontal only must equal the reference's 8-bit intermediate, and
     * vertical only applied to that intermediate must equal the full result */
    static uint8_t h_only[SH][DW][C], v_only[DH][DW][C];
    resize(&src[0][0][0], SW, SH, C, &h_only[0][0][0], DW, SH, DP_FILTER_BICUBIC);
    ck_assert(memcmp(h_only, mid, sizeof mid) == 0);
    resize(&mid[0][0][0], DW, SH, C, &v_only[0][0][0], DW, DH, DP_FILTER_BICUBIC);
    ck_assert(memcmp(v_only, ref, sizeof ref) == 0);

    /* channel 2 alone as a 1-channel image gives the same bytes */
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            plane[y][x] = src[y][x][2];
    resize(&plane[0][0], SW, SH, 1, &one[0][0], DW, DH, DP_FILTER_BICUBIC);
    size_t diff = 0;
    for (int y = 0; y < DH; y++)
        for (int x = 0; x < DW; x++)
            diff += one[y][x] != out[y][x][2];
    ck_assert_uint_eq(diff, 0);

    /* bottom-up buffers: the same picture stored last row first, read and written with
     * negative strides, gives the same rows (stored last row first) */
    static uint8_t bottom_up[SH][SW][C];
    for (int y = 0; y < SH; y++)
        memcpy(bottom_up[SH - 1 - y], src[y], sizeof src[0]);
    size_t n = dp_resize_u8_workspace(SW, SH, DW, DH, C, DP_FILTER_BICUBIC);
    void *ws = malloc(n + 1);
    dp_err err;
    ck_assert(dp_resize_u8(&bottom_up[SH - 1][0][0], SW, SH, -(ptrdiff_t)SW * C, C,
                           &flip_out[DH - 1][0][0], DW, DH, -(ptrdiff_t)DW * C, DP_FILTER_BICUBIC,
                           (uint8_t *)ws + 1, n, &err) == DP_OK); /* unaligned workspace too */
    free(ws);
    for (int y = 0; y < DH; y++)
        ck_assert(memcmp(flip_out[y], out[DH - 1 - y], sizeof out[0]) == 0);

    /* equal sizes: a copy */
    static uint8_t copy[SH][SW][C];
    resize(&src[0][0][0], SW, SH, C, &copy[0][0][0], SW, SH, DP_FILTER_BILINEAR);
    ck_assert(memcmp(copy, src, sizeof src) == 0);
}
END_TEST

/* One pass of the README formula (Pillow's fixed point) along one axis of a packed u8 image:
 * horizontal (rows stay) or vertical (columns stay). */
static void ref_pass(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh,
                     int horizontal)
{
    double w[256];
    int lo, hi;
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++) {
            if (horizontal)
                ref_weights(sw, dw, x, &lo, &hi, w);
            else
                ref_weights(sh, dh, y, &lo, &hi, w);
            for (int ch = 0; ch < c; ch++) {
                long long acc = 1 << 21;
                for (int t = lo; t < hi; t++) {
                    double v = w[t - lo] * 4194304.0;
                    uint8_t px = horizontal ? src[((size_t)y * sw + t) * c + ch]
                                            : src[((size_t)t * sw + x) * c + ch];
                    acc += (long long)(v < 0 ? v - 0.5 : v + 0.5) * px;
                }
                acc >>= 22;
                dst[((size_t)y * dw + x) * c + ch] = (uint8_t)(acc < 0 ? 0 : acc > 255 ? 255 : acc);
            }
        }
}

/* RGB (the 3-channel horizontal kernel) and rows of every width modulo 16 (the vertical pass
 * runs 16 bytes at a time where SSE4.1 is on): against the formula, including saturation on a
 * high-contrast pattern. */
START_TEST(test_u8_rgb_widths_vs_formula)
{
    static const int sizes[][4] = { { 61, 47, 23, 53 }, { 61, 47, 130, 20 }, { 512, 40, 224, 17 },
                                    { 5, 9, 16, 7 }, { 33, 33, 1, 1 }, { 40, 3, 21, 30 } };
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const int sw = sizes[k][0], sh = sizes[k][1], dw = sizes[k][2], dh = sizes[k][3];
        uint8_t *src = malloc((size_t)sw * sh * 3), *mid = malloc((size_t)dw * sh * 3);
        uint8_t *ref = malloc((size_t)dw * dh * 3), *out = malloc((size_t)dw * dh * 3);
        ck_assert(src && mid && ref && out);
        unsigned s = 7 + (unsigned)k;
        for (size_t i = 0; i < (size_t)sw * sh * 3; i++) {
            s = s * 1103515245u + 12345u;
            src[i] = (i / 3 + i / (size_t)(3 * sw)) % 2 ? 255 : (uint8_t)(s >> 24 & 15);
        }
        ref_pass(src, sw, sh, 3, mid, dw, sh, 1);
        ref_pass(mid, dw, sh, 3, ref, dw, dh, 0);
        resize(src, sw, sh, 3, out, dw, dh, DP_FILTER_BICUBIC);
        char name[64];
        snprintf(name, sizeof name, "u8 RGB %dx%d -> %dx%d vs formula", sw, sh, dw, dh);
        ck_assert_uint_eq(count_u8_mismatch(name, out, ref, (size_t)dw * dh * 3), 0);
        free(src);
        free(mid);
        free(ref);
        free(out);
    }
}
END_TEST

START_TEST(test_bad_args)
{
    uint8_t px[16] = { 0 }, out[16];
    uint8_t ws[4096];
    dp_err err;
    ck_assert_uint_eq(dp_resize_u8_workspace(0, 4, 2, 2, 3, DP_FILTER_BICUBIC), 0);
    ck_assert_uint_eq(dp_resize_u8_workspace(4, 4, 65536, 2, 3, DP_FILTER_BICUBIC), 0);
    ck_assert_uint_eq(dp_resize_u8_workspace(4, 4, 2, 2, 5, DP_FILTER_BICUBIC), 0);
    ck_assert_uint_eq(dp_resize_u8_workspace(4, 4, 2, 2, 1, (dp_filter)7), 0);
    size_t n = dp_resize_u8_workspace(4, 4, 2, 2, 1, DP_FILTER_BICUBIC);
    ck_assert(n > 0 && n <= sizeof ws);
#define BAD(call)                                                                                 \
    do {                                                                                          \
        dp_err_clear(&err);                                                                       \
        ck_assert_int_eq((call), DP_E_ARG);                                                       \
        ck_assert_int_eq(err.code, DP_E_ARG);                                                     \
        ck_assert(err.msg[0] != '\0');                                                            \
    } while (0)
    BAD(dp_resize_u8(NULL, 4, 4, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, NULL, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 0, 4, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, -1, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, out, 0, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, out, 2, 70000, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 70000, 4, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 0, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 5, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 3, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, out, 2, 2, -1, DP_FILTER_BICUBIC, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, out, 2, 2, 2, (dp_filter)9, ws, n, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n - 1, &err));
    BAD(dp_resize_u8(px, 4, 4, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, NULL, n, &err));
    printf("  bad-args message example: %s\n", err.msg);
    ck_assert_int_eq(dp_resize_u8(px, 4, 4, 4, 1, out, 2, 2, 2, DP_FILTER_BICUBIC, ws, n, NULL),
                     DP_OK);

    float f[16] = { 0 }, g[16];
    BAD(dp_resize_f32_bicubic_aa(NULL, 2, 2, 1, g, 2, 2, &err));
    BAD(dp_resize_f32_bicubic_aa(f, 2, 2, 1, NULL, 2, 2, &err));
    BAD(dp_resize_f32_bicubic_aa(f, 0, 2, 1, g, 2, 2, &err));
    BAD(dp_resize_f32_bicubic_aa(f, 2, 2, 0, g, 2, 2, &err));
    BAD(dp_resize_f32_bicubic_aa(f, 2, 2, 1, g, 2, 65536, &err));
#undef BAD
}
END_TEST

Suite *preprocess_suite(void)
{
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("preprocess");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_cards, 0, 6);
    tcase_add_loop_test(tc, test_tiny_inputs, 0, 3);
    tcase_add_loop_test(tc, test_small_inputs_run, 0, 2);
    tcase_add_test(tc, test_mask_bilinear);
    tcase_add_loop_test(tc, test_pos_embed, 0, 2);
    tcase_add_test(tc, test_f32_downscale_vs_double);
    tcase_add_test(tc, test_u8_reference_and_strides);
    tcase_add_test(tc, test_u8_rgb_widths_vs_formula);
    tcase_add_test(tc, test_bad_args);
    suite_add_tcase(s, tc);
    return s;
}
