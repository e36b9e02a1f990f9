/* Overlay rendering: layout, pixel primitives, a 5x7 font, heat ramp, outlines, legend. */
#include "overlay.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Classic 5x7 ASCII font, 0x20..0x7E: five column bytes per glyph, bit 0 = top row. */
static const uint8_t font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x14, 0x08, 0x3E, 0x08, 0x14}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00},
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E},
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x49, 0x49, 0x7A}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x0C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x0C, 0x52, 0x52, 0x52, 0x3E},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x44, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0x7C, 0x14, 0x14, 0x14, 0x08},
    {0x08, 0x14, 0x14, 0x18, 0x7C}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20},
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0C, 0x50, 0x50, 0x50, 0x3C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x08, 0x04, 0x08, 0x10, 0x08},
};

#define GLYPH_W 6         /* 5 columns + 1 spacing */
#define LINE_H 10         /* 7 rows + spacing, in font pixels */
#define MAX_LEGEND_CHARS 32
#define MAX_TITLE_CHARS 64
#define MAX_TAGS 64       /* name tags beside boxes; beyond this only boxes */

typedef struct rgb8 { uint8_t r, g, b; } rgb8;

static const rgb8 BACKGROUND = {24, 24, 24};
static const rgb8 TEXT = {235, 235, 235};
static const rgb8 ROI_LINE = {150, 150, 150};

/* Distinct, saturated colours that stay visible over the blue-to-red heat ramp. */
static const rgb8 palette[] = {
    {255, 0, 255}, {0, 255, 255}, {140, 255, 0}, {255, 150, 0}, {80, 140, 255}, {255, 105, 180},
    {255, 240, 0}, {170, 90, 255}, {0, 210, 160}, {210, 140, 90}, {200, 200, 200}, {255, 60, 60},
};

void overlay_class_colour(int class_id, uint8_t rgb[3])
{
    int n = (int)(sizeof palette / sizeof palette[0]);
    int i = class_id < 1 ? 0 : (class_id - 1) % n;
    rgb[0] = palette[i].r;
    rgb[1] = palette[i].g;
    rgb[2] = palette[i].b;
}

static rgb8 class_rgb(int class_id)
{
    uint8_t c[3];
    overlay_class_colour(class_id, c);
    return (rgb8){c[0], c[1], c[2]};
}

static void set_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
}

/* ---- canvas primitives (all clip to the canvas) ---------------------------------------- */

static void put(overlay_image *c, int x, int y, rgb8 col)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height)
        return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
    p[0] = col.r;
    p[1] = col.g;
    p[2] = col.b;
}

static void fill_rect(overlay_image *c, int x, int y, int w, int h, rgb8 col)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->width ? c->width : x + w, y1 = y + h > c->height ? c->height : y + h;
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++)
            put(c, xx, yy, col);
}

/* Outline of the rectangle [x, x+w) x [y, y+h), t pixels thick, drawn inward. */
static void frame_rect(overlay_image *c, int x, int y, int w, int h, int t, rgb8 col)
{
    fill_rect(c, x, y, w, t, col);
    fill_rect(c, x, y + h - t, w, t, col);
    fill_rect(c, x, y, t, h, col);
    fill_rect(c, x + w - t, y, t, h, col);
}

/* Characters a UTF-8 string occupies (one per code point), up to max. */
static int text_len(const char *s, int max)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n < max; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

/* Draws at most max characters of s at (x, y) with scale sc; non-ASCII code points show as
 * '?'. Returns the x after the text. */
static int draw_text(overlay_image *c, int x, int y, int sc, const char *s, int max, rgb8 col)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n < max; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        int ch = (*p >= 0x20 && *p < 0x7F) ? *p : '?';
        const uint8_t *g = font5x7[ch - 0x20];
        for (int gx = 0; gx < 5; gx++)
            for (int gy = 0; gy < 7; gy++)
                if (g[gx] >> gy & 1)
                    fill_rect(c, x + gx * sc, y + gy * sc, sc, sc, col);
        x += GLYPH_W * sc;
        n++;
    }
    return x;
}

/* ---- heat ramp ------------------------------------------------------------------------- */

/* Jet-like ramp: dark blue, blue, cyan, yellow, red, dark red; t in [0, 1]. */
static rgb8 ramp(float t)
{
    static const struct { float t; rgb8 c; } stops[] = {
        {0.0f, {0, 0, 143}}, {0.125f, {0, 0, 255}}, {0.375f, {0, 255, 255}},
        {0.625f, {255, 255, 0}}, {0.875f, {255, 0, 0}}, {1.0f, {128, 0, 0}},
    };
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    int i = 0;
    while (i < 4 && t > stops[i + 1].t)
        i++;
    float f = (t - stops[i].t) / (stops[i + 1].t - stops[i].t);
    rgb8 a = stops[i].c, b = stops[i + 1].c;
    return (rgb8){(uint8_t)lrintf((float)a.r + f * (float)(b.r - a.r)),
                  (uint8_t)lrintf((float)a.g + f * (float)(b.g - a.g)),
                  (uint8_t)lrintf((float)a.b + f * (float)(b.b - a.b))};
}

static uint8_t mix(uint8_t base, uint8_t over, float alpha)
{
    return (uint8_t)lrintf((float)base * (1 - alpha) + (float)over * alpha);
}

/* ---- map access ------------------------------------------------------------------------ */

static float map_at(const insp_image *m, int x, int y)
{
    float v;
    memcpy(&v, (const char *)m->data + (ptrdiff_t)y * m->row_stride + (ptrdiff_t)x * 4, sizeof v);
    return isfinite(v) ? v : 0.0f;
}

static int label_at(const insp_image *m, int x, int y)
{
    uint16_t v;
    memcpy(&v, (const char *)m->data + (ptrdiff_t)y * m->row_stride + (ptrdiff_t)x * 2, sizeof v);
    return v;
}

static int check_map(const insp_image *m, insp_pixel pixel, const char *what, char *err, size_t cap)
{
    int bps = INSP_PIXEL_BYTES(pixel);
    if (!m->data || m->pixel != pixel || m->channels != 1 || m->width < 1 || m->height < 1 ||
        (m->row_stride < 0 ? -m->row_stride : m->row_stride) < (ptrdiff_t)m->width * bps) {
        set_err(err, cap, "overlay: %s view is not a 1-channel %s map (pixel %d, %dx%d, stride %td)",
                what, pixel == INSP_PIX_F32 ? "F32" : "U16", m->pixel, m->width, m->height,
                m->row_stride);
        return -1;
    }
    return 0;
}

int overlay_rgb8_from_image(const insp_image *img, uint8_t **rgb, char *err, size_t err_cap)
{
    *rgb = NULL;
    int bps = img ? INSP_PIXEL_BYTES(img->pixel) : 0;
    if (!img || !img->data || !bps || img->width < 1 || img->height < 1 || img->width > 65535 ||
        img->height > 65535 || (img->channels != 1 && img->channels != 3)) {
        set_err(err, err_cap, "overlay: cannot convert image view to RGB (invalid view)");
        return -1;
    }
    float lo = img->value_min, hi = img->value_max;
    if (lo == 0 && hi == 0)
        hi = img->pixel == INSP_PIX_U8 ? 255.f : img->pixel == INSP_PIX_U16 ? 65535.f : 1.f;
    if (!(hi > lo)) {
        set_err(err, err_cap, "overlay: value range %g..%g is empty", lo, hi);
        return -1;
    }
    uint8_t *out = malloc((size_t)img->width * (size_t)img->height * 3);   /* caller's */
    if (!out) {
        set_err(err, err_cap, "overlay: out of memory for %dx%d", img->width, img->height);
        return -1;
    }
    ptrdiff_t step = img->planar ? bps : (ptrdiff_t)bps * img->channels;
    ptrdiff_t chan = img->planar ? img->plane_stride : bps;
    int bgr = img->channels == 3 && (img->flags & INSP_IMAGE_BGR);
    for (int y = 0; y < img->height; y++) {
        const char *row = (const char *)img->data + (ptrdiff_t)y * img->row_stride;
        for (int x = 0; x < img->width; x++) {
            uint8_t *o = out + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
            for (int c = 0; c < 3; c++) {
                int src = img->channels == 1 ? 0 : bgr ? 2 - c : c;
                const char *p = row + x * step + src * chan;
                float v;
                if (img->pixel == INSP_PIX_U8) {
                    v = *(const uint8_t *)p;
                } else if (img->pixel == INSP_PIX_U16) {
                    uint16_t u;
                    memcpy(&u, p, sizeof u);
                    v = u;
                } else {
                    memcpy(&v, p, sizeof v);
                    if (!isfinite(v))
                        v = lo;
                }
                float t = (v - lo) / (hi - lo);
                o[c] = (uint8_t)lrintf(255.0f * (t < 0 ? 0 : t > 1 ? 1 : t));
            }
        }
    }
    *rgb = out;
    return 0;
}

/* ---- layout ---------------------------------------------------------------------------- */

typedef struct layout {
    int s, pad, width, height;
    int header_h, image_x, image_y;
    int legend_y, row_h, col_w, cols, types;
    char header[160];
    char scale[96];
} layout;

static const char *decision_text(int32_t d)
{
    return d == INSP_DECISION_OK ? "OK" : d == INSP_DECISION_NG ? "NG"
         : d == INSP_DECISION_UNSURE ? "UNSURE" : "NG?";
}

static float heat_top(const overlay_input *in)
{
    if (in->map_max > 0)
        return in->map_max;
    if (in->pixel_threshold > 0)
        return 2 * in->pixel_threshold;
    float m = 0;
    if (in->anomaly)
        for (int y = 0; y < in->anomaly->height; y++)
            for (int x = 0; x < in->anomaly->width; x++) {
                float v = map_at(in->anomaly, x, y);
                m = v > m ? v : m;
            }
    return m > 0 ? m : 1;
}

static void make_layout(const overlay_input *in, layout *L)
{
    int big = in->width > in->height ? in->width : in->height;
    L->s = big < 900 ? 1 : big < 1800 ? 2 : big < 2700 ? 3 : 4;
    int s = L->s;
    L->pad = 4 * s;
    snprintf(L->header, sizeof L->header, "%.*s%sscore %.3f  %s", MAX_TITLE_CHARS,
             in->title ? in->title : "", in->title && in->title[0] ? "  " : "", in->score,
             decision_text(in->decision));
    L->header_h = LINE_H * s + 2 * L->pad;
    if (in->pixel_threshold > 0)
        snprintf(L->scale, sizeof L->scale, "%.3g  threshold %.3g", heat_top(in), in->pixel_threshold);
    else
        snprintf(L->scale, sizeof L->scale, "%.3g", heat_top(in));

    L->types = in->class_count > 1 ? in->class_count - 1 : 0;
    int longest = 0;
    for (int k = 1; k <= L->types; k++) {
        const char *name = in->class_names ? in->class_names[k] : NULL;
        int n = text_len(name ? name : "?", MAX_LEGEND_CHARS);
        longest = n > longest ? n : longest;
    }
    L->row_h = (LINE_H + 2) * s;
    /* swatch (8s) + gap (4s) + "k " index + name */
    L->col_w = L->pad + 12 * s + (longest + 3) * GLYPH_W * s + L->pad;
    int header_w = text_len(L->header, 200) * GLYPH_W * s + 2 * L->pad;
    /* "0 " + 64s bar + " " + scale text */
    int scale_w = L->pad + (2 + 1) * GLYPH_W * s + 64 * s + text_len(L->scale, 96) * GLYPH_W * s + L->pad;

    int w = in->width;
    w = header_w > w ? header_w : w;
    w = scale_w > w ? scale_w : w;
    w = L->col_w > w ? L->col_w : w;
    L->width = w;
    L->cols = w / L->col_w;
    int rows = L->types ? (L->types + L->cols - 1) / L->cols : 0;
    L->image_x = 0;
    L->image_y = L->header_h;
    L->legend_y = L->image_y + in->height;
    L->height = L->legend_y + 2 * L->pad + (1 + rows) * L->row_h;
}

static void swatch_origin(const layout *L, int k, int *x, int *y)
{
    int i = k - 1;
    *x = (i % L->cols) * L->col_w + L->pad;
    *y = L->legend_y + L->pad + (1 + i / L->cols) * L->row_h + (L->row_h - 8 * L->s) / 2;
}

int overlay_legend_swatch(const overlay_input *in, const overlay_image *img, int class_id,
                          int *x, int *y)
{
    (void)img;
    layout L;
    make_layout(in, &L);
    if (class_id < 1 || class_id > L.types)
        return -1;
    swatch_origin(&L, class_id, x, y);
    *x += 4 * L.s;
    *y += 4 * L.s;
    return 0;
}

/* ---- drawing passes -------------------------------------------------------------------- */

/* Dimmed image; the inspected rectangle less dimmed than the rest, heat on top of it. */
static void draw_image(overlay_image *c, const overlay_input *in, float top)
{
    const insp_image *m = in->anomaly;
    int rx = m ? m->roi_x : 0, ry = m ? m->roi_y : 0;
    int rw = m ? m->width : in->width, rh = m ? m->height : in->height;
    for (int y = 0; y < in->height; y++) {
        const uint8_t *row = in->rgb + (size_t)y * (size_t)in->width * 3;
        for (int x = 0; x < in->width; x++) {
            const uint8_t *p = row + (size_t)x * 3;
            int inside = x >= rx && x < rx + rw && y >= ry && y < ry + rh &&
                         (!in->mask || in->mask[(ptrdiff_t)y * in->mask_stride + x]);
            float dim = inside ? 0.55f : 0.25f;
            rgb8 col = {(uint8_t)(p[0] * dim), (uint8_t)(p[1] * dim), (uint8_t)(p[2] * dim)};
            if (inside && m) {
                float t = map_at(m, x - rx, y - ry) / top;
                if (t > 0.05f) {
                    float a = 0.35f + 0.5f * (t > 1 ? 1 : t);
                    rgb8 h = ramp(t);
                    col = (rgb8){mix(col.r, h.r, a), mix(col.g, h.g, a), mix(col.b, h.b, a)};
                }
            }
            put(c, c->image_x + x, c->image_y + y, col);
        }
    }
    if (m && (rx != 0 || ry != 0 || rw != in->width || rh != in->height))
        frame_rect(c, c->image_x + rx - 1, c->image_y + ry - 1, rw + 2, rh + 2, 1, ROI_LINE);
}

/* Boundary pixels of each defect-type area, in its colour (only over the image). */
static void draw_outlines(overlay_image *c, const insp_image *lm, int img_w, int img_h)
{
    for (int y = 0; y < lm->height; y++)
        for (int x = 0; x < lm->width; x++) {
            int ix = lm->roi_x + x, iy = lm->roi_y + y;
            int k = label_at(lm, x, y);
            if (!k || ix < 0 || iy < 0 || ix >= img_w || iy >= img_h)
                continue;
            int edge = x == 0 || y == 0 || x == lm->width - 1 || y == lm->height - 1 ||
                       label_at(lm, x - 1, y) != k || label_at(lm, x + 1, y) != k ||
                       label_at(lm, x, y - 1) != k || label_at(lm, x, y + 1) != k;
            if (edge)
                put(c, c->image_x + ix, c->image_y + iy, class_rgb(k));
        }
}

/* Box just outside each region's bounding box, plus its type name above it. */
static void draw_regions(overlay_image *c, const overlay_input *in, int s)
{
    /* Reverse order: regions come strongest first, so the strongest ends on top. */
    for (int i = in->region_count - 1; i >= 0; i--) {
        const insp_region *g = &in->regions[i];
        rgb8 col = class_rgb(g->class_id);
        int x = c->image_x + g->x - s, y = c->image_y + g->y - s;
        frame_rect(c, x, y, g->w + 2 * s, g->h + 2 * s, s, col);
        if (i >= MAX_TAGS)
            continue;
        const char *name = g->class_id >= 0 && g->class_id < in->class_count && in->class_names
                         ? in->class_names[g->class_id] : "?";
        int n = text_len(name ? name : "?", MAX_LEGEND_CHARS);
        int th = LINE_H * s, tw = n * GLYPH_W * s + 2 * s;
        int ty = y - th >= c->image_y ? y - th : y + g->h + 2 * s;
        fill_rect(c, x, ty, tw, th, BACKGROUND);
        draw_text(c, x + s, ty + s, s, name ? name : "?", MAX_LEGEND_CHARS, col);
    }
}

static void draw_header(overlay_image *c, const layout *L, const overlay_input *in)
{
    fill_rect(c, 0, 0, c->width, L->header_h, BACKGROUND);
    /* Everything but the decision in neutral text, the decision in its colour. */
    const char *d = decision_text(in->decision);
    int n = text_len(L->header, 200) - (int)strlen(d);
    int x = draw_text(c, L->pad, L->pad, L->s, L->header, n, TEXT);
    rgb8 dc = in->decision == INSP_DECISION_OK ? (rgb8){60, 220, 60}
            : in->decision == INSP_DECISION_NG ? (rgb8){255, 50, 50} : (rgb8){255, 190, 0};
    draw_text(c, x, L->pad, L->s, d, 8, dc);
}

static void draw_legend(overlay_image *c, const layout *L, const overlay_input *in)
{
    int s = L->s;
    fill_rect(c, 0, L->legend_y, c->width, c->height - L->legend_y, BACKGROUND);
    /* Row 0: the heat scale. */
    int y = L->legend_y + L->pad, ty = y + (L->row_h - 7 * s) / 2;
    int x = draw_text(c, L->pad, ty, s, "0 ", 2, TEXT);
    for (int i = 0; i < 64 * s; i++)
        fill_rect(c, x + i, y + 2 * s, 1, L->row_h - 4 * s, ramp((float)i / (float)(64 * s - 1)));
    x += 64 * s + GLYPH_W * s;
    draw_text(c, x, ty, s, L->scale, 96, TEXT);
    /* Then one entry per defect type. */
    for (int k = 1; k <= L->types; k++) {
        int sx, sy;
        swatch_origin(L, k, &sx, &sy);
        fill_rect(c, sx, sy, 8 * s, 8 * s, class_rgb(k));
        char label[16];
        snprintf(label, sizeof label, "%d ", k);
        int tx = draw_text(c, sx + 12 * s, sy + s / 2, s, label, 4, TEXT);
        const char *name = in->class_names ? in->class_names[k] : NULL;
        draw_text(c, tx, sy + s / 2, s, name ? name : "?", MAX_LEGEND_CHARS, TEXT);
    }
}

int overlay_render(const overlay_input *in, overlay_image *out, char *err, size_t err_cap)
{
    if (err && err_cap > 0)
        err[0] = '\0';
    if (!out) {
        set_err(err, err_cap, "overlay: out is NULL");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (!in || !in->rgb || in->width < 1 || in->height < 1 || in->width > 65535 ||
        in->height > 65535 || in->region_count < 0 || (in->region_count && !in->regions)) {
        set_err(err, err_cap, "overlay: invalid input (image %dx%d)", in ? in->width : 0,
                in ? in->height : 0);
        return -1;
    }
    if (in->anomaly && check_map(in->anomaly, INSP_PIX_F32, "anomaly", err, err_cap))
        return -1;
    if (in->labels && check_map(in->labels, INSP_PIX_U16, "label", err, err_cap))
        return -1;

    layout L;
    make_layout(in, &L);
    out->rgb = malloc((size_t)L.width * (size_t)L.height * 3);
    if (!out->rgb) {
        set_err(err, err_cap, "overlay: out of memory for %dx%d", L.width, L.height);
        return -1;
    }
    out->width = L.width;
    out->height = L.height;
    out->image_x = L.image_x;
    out->image_y = L.image_y;
    out->scale = L.s;
    fill_rect(out, 0, 0, L.width, L.height, BACKGROUND);

    draw_image(out, in, heat_top(in));
    if (in->labels)
        draw_outlines(out, in->labels, in->width, in->height);
    draw_regions(out, in, L.s);
    draw_header(out, &L, in);
    draw_legend(out, &L, in);
    return 0;
}

void overlay_free(overlay_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}
