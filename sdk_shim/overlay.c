/* Overlay rendering: zoom and layout, the image with heat and outlines, numbered region boxes
 * with labels placed without overlap, and the panel (verdict, reason, heat scale, legend). */
#include "overlay.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imageio.h"

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


/* ---- canvas primitives (all clip to the canvas) ---------------------------------------- */

static void fill_rect(overlay_image *c, int x, int y, int w, int h, rgb8 col)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->width ? c->width : x + w, y1 = y + h > c->height ? c->height : y + h;
    for (int yy = y0; yy < y1; yy++) {
        uint8_t *p = c->rgb + ((size_t)yy * (size_t)c->width + (size_t)x0) * 3;
        for (int xx = x0; xx < x1; xx++, p += 3) {
            p[0] = col.r;
            p[1] = col.g;
            p[2] = col.b;
        }
    }
}

/* Darkens [x, x+w) x [y, y+h) towards black by alpha (a translucent backing for text). */
static void shade_rect(overlay_image *c, int x, int y, int w, int h, float alpha)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->width ? c->width : x + w, y1 = y + h > c->height ? c->height : y + h;
    for (int yy = y0; yy < y1; yy++) {
        uint8_t *p = c->rgb + ((size_t)yy * (size_t)c->width + (size_t)x0) * 3;
        for (int xx = x0; xx < x1; xx++, p += 3)
            for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)((float)p[k] * (1 - alpha));
    }
}

/* Outline of the rectangle [x, x+w) x [y, y+h), t pixels thick, drawn inward. */
static void frame_rect(overlay_image *c, int x, int y, int w, int h, int t, rgb8 col)
{
    fill_rect(c, x, y, w, t, col);
    fill_rect(c, x, y + h - t, w, t, col);
    fill_rect(c, x, y, t, h, col);
    fill_rect(c, x + w - t, y, t, h, col);
}

static int text_w(const overlay_input *in, int px, const char *s)
{
    return ov_text_width(in->font, px, s);
}

static int draw_text(overlay_image *c, const overlay_input *in, int px, int x, int y, const char *s,
                     rgb8 col)
{
    uint8_t k[3] = {col.r, col.g, col.b};
    return ov_draw_text(in->font, px, c->rgb, c->width, c->height, x, y, s, k);
}

/* ---- view sampling --------------------------------------------------------------------- */

typedef struct sampler {
    const insp_image *v;
    float lo, scale;        /* 255 / (hi - lo) */
    int bps;
    ptrdiff_t step, chan;
    int bgr;
} sampler;

static int sampler_init(sampler *s, const insp_image *v, char *err, size_t cap)
{
    s->v = v;
    s->bps = v ? INSP_PIXEL_BYTES(v->pixel) : 0;
    if (!v || !v->data || !s->bps || v->width < 1 || v->height < 1 || v->width > 65535 ||
        v->height > 65535 || (v->channels != 1 && v->channels != 3)) {
        set_err(err, cap, "overlay: invalid image view");
        return -1;
    }
    float lo = v->value_min, hi = v->value_max;
    if (lo == 0 && hi == 0)
        hi = v->pixel == INSP_PIX_U8 ? 255.f : v->pixel == INSP_PIX_U16 ? 65535.f : 1.f;
    if (!(hi > lo) || !isfinite(255.0f / (hi - lo))) {
        set_err(err, cap, "overlay: value range %g..%g is empty", lo, hi);
        return -1;
    }
    s->lo = lo;
    s->scale = 255.0f / (hi - lo);
    s->step = v->planar ? s->bps : (ptrdiff_t)s->bps * v->channels;
    s->chan = v->planar ? v->plane_stride : s->bps;
    s->bgr = v->channels == 3 && (v->flags & INSP_IMAGE_BGR);
    return 0;
}

/* Adds pixel (x, y) as 0..255 floats to acc[3]. */
static void sample_add(const sampler *s, int x, int y, float acc[3])
{
    const char *row = (const char *)s->v->data + (ptrdiff_t)y * s->v->row_stride + x * s->step;
    for (int c = 0; c < 3; c++) {
        int src = s->v->channels == 1 ? 0 : s->bgr ? 2 - c : c;
        const char *p = row + src * s->chan;
        float v;
        if (s->v->pixel == INSP_PIX_U8) {
            v = *(const uint8_t *)p;
        } else if (s->v->pixel == INSP_PIX_U16) {
            uint16_t u;
            memcpy(&u, p, sizeof u);
            v = u;
        } else {
            memcpy(&v, p, sizeof v);
            if (!isfinite(v))
                v = s->lo;
        }
        float t = (v - s->lo) * s->scale;
        acc[c] += t < 0 ? 0 : t > 255 ? 255 : t;
    }
}

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

/* ---- zoom ------------------------------------------------------------------------------ */

/* Input pixel range [*a, *b) shown by display pixel d along one axis of n input pixels. */
static void src_range(int d, int n, int num, int den, int *a, int *b)
{
    *a = (int)((int64_t)d * den / num);
    *b = (int)(((int64_t)d + 1) * den / num);
    if (*b <= *a)
        *b = *a + 1;
    if (*b > n)
        *b = n;
    if (*a >= n)
        *a = n - 1;
}

/* Display coordinate of input coordinate v (a pixel edge). */
static int to_disp(int64_t v, int num, int den)
{
    return (int)(v * num / den);
}

/* ---- the panel: flowing text units ------------------------------------------------------ */

typedef enum unit_kind { U_TEXT, U_SWATCH_TEXT, U_HEAT_BAR } unit_kind;

typedef struct unit {
    unit_kind kind;
    const char *text;       /* borrowed */
    rgb8 col;               /* text colour, or swatch colour */
    int class_id;           /* U_SWATCH_TEXT: legend entry of this class */
    int newline;            /* starts a new line */
    int gap;                /* gap before it in px (on the same line) */
} unit;

#define MAX_UNITS 512

typedef struct panel {
    unit u[MAX_UNITS];
    int n;
    char words[8192];       /* storage of split words */
    size_t used;
} panel;

static const char *keep_word(panel *p, const char *s, size_t n)
{
    if (p->used + n + 1 > sizeof p->words)
        return NULL;
    char *w = p->words + p->used;
    memcpy(w, s, n);
    w[n] = '\0';
    p->used += n + 1;
    return w;
}

static void add_unit(panel *p, unit u)
{
    if (p->n < MAX_UNITS)
        p->u[p->n++] = u;
}

/* Adds text as one unit per word, so lines break between words. */
static void add_words(panel *p, const char *s, rgb8 col, int newline, int gap_px, int space_px)
{
    int first = 1;
    while (s && *s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        if (!n)
            break;
        const char *w = keep_word(p, s, n);
        if (!w)
            return;
        add_unit(p, (unit){U_TEXT, w, col, 0, first && newline, first ? gap_px : space_px});
        first = 0;
        s += n;
    }
}

typedef struct panel_geom {
    int px, pad, ascent, line_h, space, swatch, bar_w;
} panel_geom;

static int unit_width(const overlay_input *in, const panel_geom *g, const unit *u)
{
    switch (u->kind) {
    case U_TEXT: return text_w(in, g->px, u->text);
    case U_SWATCH_TEXT: return g->swatch + g->space / 2 + text_w(in, g->px, u->text);
    case U_HEAT_BAR: return g->bar_w;
    }
    return 0;
}

/* Longest prefix of s (whole UTF-8 characters) that fits in w px with "..." appended. */
static void fit_text(const overlay_input *in, int px, const char *s, int w, char *out, size_t cap)
{
    snprintf(out, cap, "%s", s);
    if (text_w(in, px, out) <= w)
        return;
    size_t n = strlen(out);
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)out[n] & 0xC0) == 0x80)
            n--;
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%.*s...", (int)n, out);
        if (text_w(in, px, tmp) <= w || n == 0) {
            snprintf(out, cap, "%s", tmp);
            return;
        }
    }
}

/* Lays the panel out in width cw; with c != NULL also draws it. Returns its height. */
static int flow_panel(const panel *p, const overlay_input *in, const panel_geom *g, int cw,
                      overlay_image *c, float thr_pos)
{
    int x = g->pad, y = g->pad, line_used = 0;
    int right = cw - g->pad;
    for (int i = 0; i < p->n; i++) {
        const unit *u = &p->u[i];
        int w = unit_width(in, g, u);
        int gap = line_used ? u->gap : 0;
        if (line_used && (u->newline || x + gap + w > right)) {
            x = g->pad;
            y += g->line_h;
            line_used = 0;
            gap = 0;
        }
        x += gap;
        char fitted[512];
        const char *text = u->text;
        if (u->kind != U_HEAT_BAR && w > right - x) {   /* wider than a whole line */
            int room = right - x - (u->kind == U_SWATCH_TEXT ? g->swatch + g->space / 2 : 0);
            fit_text(in, g->px, u->text, room, fitted, sizeof fitted);
            text = fitted;
            w = right - x;
        }
        if (c) {
            int tx = x;
            if (u->kind == U_SWATCH_TEXT) {
                int sy = y + g->ascent - g->swatch + g->px / 10;
                fill_rect(c, x, sy, g->swatch, g->swatch, u->col);
                if (u->class_id > 0 && u->class_id < OVERLAY_MAX_CLASSES)
                    c->swatch[u->class_id] = (overlay_rect){x, sy, g->swatch, g->swatch};
                tx = x + g->swatch + g->space / 2;
                draw_text(c, in, g->px, tx, y, text, TEXT);
            } else if (u->kind == U_TEXT) {
                draw_text(c, in, g->px, tx, y, text, u->col);
            } else {
                int bh = g->ascent * 3 / 4, by = y + g->ascent - bh;
                for (int i2 = 0; i2 < g->bar_w; i2++)
                    fill_rect(c, x + i2, by, 1, bh, ramp(0.125f + 0.875f * (float)i2 / (float)(g->bar_w - 1)));
                if (thr_pos >= 0 && thr_pos <= 1) {
                    int tx2 = x + (int)lrintf(thr_pos * (float)(g->bar_w - 1));
                    int tw = g->px / 8 > 2 ? g->px / 8 : 2;
                    fill_rect(c, tx2 - tw / 2, by - g->px / 5, tw, bh + 2 * (g->px / 5), TEXT);
                }
            }
        }
        x += w;
        line_used = 1;
    }
    return y + g->line_h + g->pad;
}

/* ---- region labels --------------------------------------------------------------------- */

static int overlaps(overlay_rect a, overlay_rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/* A place for a w x h label next to the box [bx0,bx1) x [by0,by1) inside the image area,
 * overlapping no placed label. Returns 0 and *r, or -1. */
static int place_label(const overlay_image *c, int bx0, int by0, int bx1, int by1, int w, int h,
                       overlay_rect *r)
{
    int ax0 = c->image_x, ay0 = c->image_y, ax1 = c->image_x + c->image_w, ay1 = c->image_y + c->image_h;
    if (w > ax1 - ax0 || h > ay1 - ay0)
        return -1;
    const int cand[][2] = {
        {bx0, by0 - h}, {bx0, by1}, {bx1 - w, by0 - h}, {bx1 - w, by1},   /* above, below */
        {bx1, by0}, {bx0 - w, by0}, {bx1, by1 - h}, {bx0 - w, by1 - h},   /* right, left */
        {bx0, by0},                                                      /* inside */
    };
    for (size_t k = 0; k < sizeof cand / sizeof cand[0]; k++) {
        int x = cand[k][0], y = cand[k][1];
        x = x < ax0 ? ax0 : x + w > ax1 ? ax1 - w : x;
        y = y < ay0 ? ay0 : y + h > ay1 ? ay1 - h : y;
        overlay_rect t = {x, y, w, h};
        int free_spot = 1;
        for (int i = 0; i < c->n_labels && free_spot; i++)
            free_spot = !overlaps(t, c->label_rect[i]);
        if (free_spot) {
            *r = t;
            return 0;
        }
    }
    return -1;
}

/* ---- rendering ------------------------------------------------------------------------- */

static const char *decision_text(int32_t d)
{
    return d == INSP_DECISION_OK ? "OK" : d == INSP_DECISION_NG ? "NG"
         : d == INSP_DECISION_UNSURE ? "UNSURE" : "NG?";
}

static rgb8 decision_rgb(int32_t d)
{
    return d == INSP_DECISION_OK ? (rgb8){60, 220, 60}
         : d == INSP_DECISION_UNSURE ? (rgb8){255, 190, 0} : (rgb8){255, 50, 50};
}

/* Text size for a displayed image whose longer side is `side`. */
static int text_size(int side)
{
    int px = (int)lrint(side * 0.016);
    return px < 13 ? 13 : px > 400 ? 400 : px;
}

typedef struct texts {
    char head[400], score[96], legend_heat[160];
    char entries[OVERLAY_MAX_CLASSES][160];
} texts;

static void build_panel(const overlay_input *in, const panel_geom *g, texts *t, panel *p,
                        float floor_v, float top, int have_heat)
{
    memset(p, 0, offsetof(panel, words));
    p->used = 0;
    int em = g->px;
    if (in->title && in->title[0])
        add_words(p, in->title, TEXT, 1, 0, g->space);
    if (isfinite(in->image_threshold))
        snprintf(t->score, sizeof t->score, "score %.3f %s %.3f", in->score,
                 in->score >= in->image_threshold ? ">=" : "<", in->image_threshold);
    else
        snprintf(t->score, sizeof t->score, "score %.3f", in->score);
    add_unit(p, (unit){U_TEXT, t->score, TEXT, 0, !(in->title && in->title[0]), em});
    add_unit(p, (unit){U_TEXT, decision_text(in->decision), decision_rgb(in->decision), 0, 0, em});
    if (in->reason && in->reason[0])
        add_words(p, in->reason, (rgb8){200, 200, 200}, 1, 0, g->space);
    int first_legend = 1;
    if (have_heat) {
        add_unit(p, (unit){U_TEXT, "heat", TEXT, 0, 1, 0});
        add_unit(p, (unit){U_HEAT_BAR, NULL, TEXT, 0, 0, g->space});
        if (in->pixel_threshold > 0)
            snprintf(t->legend_heat, sizeof t->legend_heat, "%.3g to %.3g, tick = pixel threshold %.3g",
                     floor_v, top, in->pixel_threshold);
        else
            snprintf(t->legend_heat, sizeof t->legend_heat, "%.3g to %.3g", floor_v, top);
        add_words(p, t->legend_heat, TEXT, 0, g->space, g->space);
        first_legend = 0;
    }
    int types = in->class_count > 1 ? in->class_count - 1 : 0;
    for (int k = 1; k <= types && k < OVERLAY_MAX_CLASSES; k++) {
        int n = 0;
        for (int i = 0; i < in->region_count; i++)
            n += in->regions[i].class_id == k;
        const char *name = in->class_names && in->class_names[k] ? in->class_names[k] : "?";
        if (n)
            snprintf(t->entries[k], sizeof t->entries[k], "%.120s (%d)", name, n);
        else
            snprintf(t->entries[k], sizeof t->entries[k], "%.120s", name);
        add_unit(p, (unit){U_SWATCH_TEXT, t->entries[k], class_rgb(k), k, first_legend, first_legend ? 0 : em});
        first_legend = 0;
    }
}

static void geometry(const overlay_input *in, int px, panel_geom *g)
{
    g->px = px;
    g->pad = px / 2;
    ov_font_metrics(in->font, px, &g->ascent, &g->line_h);
    g->line_h += px / 6;
    g->space = text_w(in, px, " ");
    if (g->space < px / 4)
        g->space = px / 4;
    g->swatch = g->ascent * 4 / 5;
    g->bar_w = px * 8;
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
    sampler S;
    if (!in || (in->region_count && !in->regions) || in->region_count < 0) {
        set_err(err, err_cap, "overlay: invalid input");
        return -1;
    }
    if (sampler_init(&S, in->image, err, err_cap))
        return -1;
    if (in->anomaly && check_map(in->anomaly, INSP_PIX_F32, "anomaly", err, err_cap))
        return -1;
    if (in->labels && check_map(in->labels, INSP_PIX_U16, "label", err, err_cap))
        return -1;
    const insp_image *img = in->image, *m = in->anomaly, *lm = in->labels;
    int W = img->width, H = img->height;
    int64_t max_px = in->max_pixels > 0 ? in->max_pixels : IO_MAX_PIXELS;
    int max_side = in->max_side > 0 ? in->max_side : IO_MAX_SIDE;

    /* heat scale */
    float thr = in->pixel_threshold > 0 && isfinite(in->pixel_threshold) ? in->pixel_threshold : 0;
    float floor_v = in->heat_floor >= 0 && isfinite(in->heat_floor) ? in->heat_floor : 0.75f * thr;
    float mmax = 0;
    if (m)
        for (int y = 0; y < m->height; y++)
            for (int x = 0; x < m->width; x++) {
                float v = map_at(m, x, y);
                mmax = v > mmax ? v : mmax;
            }
    float top = mmax > thr ? mmax : thr;
    if (!(top > floor_v))
        top = floor_v + (floor_v > 0 ? 0.1f * floor_v : 1.0f);
    float thr_pos = thr > 0 ? (thr - floor_v) / (top - floor_v) : -1;

    /* zoom, text size and panel, shrunk until the canvas fits the writer's limits */
    int longest = W > H ? W : H;
    int num = longest < 480 ? (480 + longest - 1) / longest : 1, den = 1;
    num = num > 8 ? 8 : num < 1 ? 1 : num;
    panel *P = malloc(sizeof *P);
    texts *T = malloc(sizeof *T);
    if (!P || !T) {
        free(P);
        free(T);
        set_err(err, err_cap, "overlay: out of memory");
        return -1;
    }
    panel_geom g;
    int dw, dh, cw, ph;
    for (;;) {
        dw = (int)(((int64_t)W * num + den - 1) / den);
        dh = (int)(((int64_t)H * num + den - 1) / den);
        geometry(in, text_size(dw > dh ? dw : dh), &g);
        cw = dw > 24 * g.px ? dw : 24 * g.px;
        build_panel(in, &g, T, P, floor_v, top, m != NULL);
        ph = flow_panel(P, in, &g, cw, NULL, thr_pos);
        if (cw <= max_side && ph + dh <= max_side && (int64_t)cw * (ph + dh) <= max_px)
            break;
        if (num > 1)
            num--;
        else
            den++;
        if (den > 4096) {
            free(P);
            free(T);
            set_err(err, err_cap, "overlay: canvas limit %lld pixels too small", (long long)max_px);
            return -1;
        }
    }
    out->rgb = malloc((size_t)cw * (size_t)(ph + dh) * 3);
    uint8_t *dlab = lm ? calloc((size_t)dw * (size_t)dh, 1) : NULL;
    if (!out->rgb || (lm && !dlab)) {
        free(out->rgb);
        out->rgb = NULL;
        free(dlab);
        free(P);
        free(T);
        set_err(err, err_cap, "overlay: out of memory for %dx%d", cw, ph + dh);
        return -1;
    }
    out->width = cw;
    out->height = ph + dh;
    out->image_x = (cw - dw) / 2;
    out->image_y = ph;
    out->image_w = dw;
    out->image_h = dh;
    out->zoom_num = num;
    out->zoom_den = den;
    out->text_px = g.px;
    out->heat_floor = floor_v;
    out->heat_top = top;
    fill_rect(out, 0, 0, cw, out->height, BACKGROUND);

    /* image, heat, display label map */
    int rx = m ? m->roi_x : lm ? lm->roi_x : 0, ry = m ? m->roi_y : lm ? lm->roi_y : 0;
    int rw = m ? m->width : lm ? lm->width : W, rh = m ? m->height : lm ? lm->height : H;
    const uint8_t *mask = img->mask;
    for (int dy = 0; dy < dh; dy++) {
        int y0, y1;
        src_range(dy, H, num, den, &y0, &y1);
        uint8_t *o = out->rgb + ((size_t)(out->image_y + dy) * (size_t)cw + (size_t)out->image_x) * 3;
        for (int dx = 0; dx < dw; dx++, o += 3) {
            int x0, x1;
            src_range(dx, W, num, den, &x0, &x1);
            float acc[3] = {0, 0, 0}, hot = -INFINITY;
            int n = 0, inside = 0, lab = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    sample_add(&S, x, y, acc);
                    n++;
                    int in_roi = x >= rx && x < rx + rw && y >= ry && y < ry + rh &&
                                 (!mask || mask[(ptrdiff_t)y * img->mask_stride + x]);
                    if (!in_roi)
                        continue;
                    inside = 1;
                    if (m) {
                        float v = map_at(m, x - rx, y - ry);
                        hot = v > hot ? v : hot;
                    }
                    if (lm && !lab && x - lm->roi_x >= 0 && x - lm->roi_x < lm->width &&
                        y - lm->roi_y >= 0 && y - lm->roi_y < lm->height)
                        lab = label_at(lm, x - lm->roi_x, y - lm->roi_y);
                }
            float dim = inside ? 0.8f : 0.35f;
            rgb8 col = {(uint8_t)(acc[0] / (float)n * dim), (uint8_t)(acc[1] / (float)n * dim),
                        (uint8_t)(acc[2] / (float)n * dim)};
            if (inside && m && hot >= floor_v && hot > 0) {
                float t = (hot - floor_v) / (top - floor_v);
                t = t > 1 ? 1 : t < 0 ? 0 : t;
                float a = 0.3f + 0.4f * t;
                rgb8 h = ramp(0.125f + 0.875f * t);
                col = (rgb8){mix(col.r, h.r, a), mix(col.g, h.g, a), mix(col.b, h.b, a)};
            }
            o[0] = col.r;
            o[1] = col.g;
            o[2] = col.b;
            if (dlab)
                dlab[(size_t)dy * (size_t)dw + (size_t)dx] = (uint8_t)(lab > 255 ? 255 : lab);
        }
    }
    int lw = g.px / 8 > 1 ? g.px / 8 : 1;
    if (m && (rx != 0 || ry != 0 || rw != W || rh != H))
        frame_rect(out, out->image_x + to_disp(rx, num, den) - lw, out->image_y + to_disp(ry, num, den) - lw,
                   to_disp(rx + rw, num, den) - to_disp(rx, num, den) + 2 * lw,
                   to_disp(ry + rh, num, den) - to_disp(ry, num, den) + 2 * lw, lw, ROI_LINE);
    /* outlines of the defect-type areas */
    if (dlab) {
        int olw = lw > 1 ? lw / 2 + 1 : 1;
        for (int dy = 0; dy < dh; dy++)
            for (int dx = 0; dx < dw; dx++) {
                int k = dlab[(size_t)dy * (size_t)dw + (size_t)dx];
                if (!k)
                    continue;
                int edge = dx == 0 || dy == 0 || dx == dw - 1 || dy == dh - 1 ||
                           dlab[(size_t)dy * (size_t)dw + (size_t)dx - 1] != k ||
                           dlab[(size_t)dy * (size_t)dw + (size_t)dx + 1] != k ||
                           dlab[(size_t)(dy - 1) * (size_t)dw + (size_t)dx] != k ||
                           dlab[(size_t)(dy + 1) * (size_t)dw + (size_t)dx] != k;
                if (edge)
                    fill_rect(out, out->image_x + dx - olw / 2, out->image_y + dy - olw / 2, olw, olw,
                              class_rgb(k));
            }
    }
    free(dlab);

    /* region boxes (weakest first so the strongest ends on top), then labels (strongest first) */
    for (int i = in->region_count - 1; i >= 0; i--) {
        const insp_region *r = &in->regions[i];
        int bx0 = out->image_x + to_disp(r->x, num, den) - lw, by0 = out->image_y + to_disp(r->y, num, den) - lw;
        int bx1 = out->image_x + to_disp((int64_t)r->x + r->w, num, den) + lw;
        int by1 = out->image_y + to_disp((int64_t)r->y + r->h, num, den) + lw;
        if (bx1 - bx0 < 2 * lw + 1)
            bx1 = bx0 + 2 * lw + 1;
        if (by1 - by0 < 2 * lw + 1)
            by1 = by0 + 2 * lw + 1;
        frame_rect(out, bx0, by0, bx1 - bx0, by1 - by0, lw, class_rgb(r->class_id));
    }
    int lpx = g.px, lpad = lpx / 5 > 1 ? lpx / 5 : 1, la, llh;
    ov_font_metrics(in->font, lpx, &la, &llh);
    for (int i = 0; i < in->region_count; i++) {
        const insp_region *r = &in->regions[i];
        int bx0 = out->image_x + to_disp(r->x, num, den) - lw, by0 = out->image_y + to_disp(r->y, num, den) - lw;
        int bx1 = out->image_x + to_disp((int64_t)r->x + r->w, num, den) + lw;
        int by1 = out->image_y + to_disp((int64_t)r->y + r->h, num, den) + lw;
        const char *name = r->class_id >= 0 && r->class_id < in->class_count && in->class_names &&
                           in->class_names[r->class_id] ? in->class_names[r->class_id] : "?";
        char full[160], num_only[16];
        snprintf(full, sizeof full, "#%d %.100s", i + 1, name);
        snprintf(num_only, sizeof num_only, "#%d", i + 1);
        overlay_rect rect;
        const char *text = NULL;
        if (out->n_labels < OVERLAY_MAX_LABELS) {
            const char *tries[2] = {full, num_only};
            for (int k = 0; k < 2 && !text; k++) {
                int w = text_w(in, lpx, tries[k]) + 2 * lpad, h = llh + lpad;
                if (place_label(out, bx0, by0, bx1, by1, w, h, &rect) == 0)
                    text = tries[k];
            }
        }
        if (!text) {
            out->unlabelled++;
            continue;
        }
        shade_rect(out, rect.x, rect.y, rect.w, rect.h, 0.7f);
        draw_text(out, in, lpx, rect.x + lpad, rect.y + lpad / 2, text, class_rgb(r->class_id));
        out->label_rect[out->n_labels] = rect;
        out->label_region[out->n_labels++] = i;
    }
    /* the panel */
    fill_rect(out, 0, 0, cw, ph, BACKGROUND);
    flow_panel(P, in, &g, cw, out, thr_pos);
    free(P);
    free(T);
    return 0;
}

void overlay_free(overlay_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}
