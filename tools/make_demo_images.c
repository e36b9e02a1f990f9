/* make_demo_images: synthetic product images with known defects, for trying the product and for
 * tests without real data. Each image is a textured surface (brushed metal, woven fabric or a
 * printed label) with 0..3 defects (scratch, hole, stain), written as
 *   NAME.png         8-bit RGB
 *   NAME.tif         the same image as one-channel 16-bit (metal) or float (label) TIFF
 *   NAME_mask.png    ground truth, 0 / 255
 *   NAME_truth.json  surface kind, files, and every defect with its type and bounding box
 * The images are deterministic for a seed. They only look like products: a random demo model
 * finds nothing in them, and a real model was never trained on these textures.
 *
 * Usage: make_demo_images OUTDIR [--count N] [--size WxH] [--seed N]
 *        make_demo_images --labelled ROOT [--good N] [--bad M] [--size WxH] [--seed N]
 * The second form writes a labelled calibration set: per product (metal, fabric, label) N good
 * parts and M bad parts with exactly one defect each, its type cycling scratch, hole, stain, in
 * the MVTec AD layout (ROOT/<product>/test/good/000.png, test/<type>/000.png,
 * ground_truth/<type>/000_mask.png) and as one CSV list ROOT/labels.csv (image, label, mask,
 * type, product; paths relative to ROOT). The first form's output does not depend on it.
 * Exit codes: 0 written, 1 I/O failure, 2 usage error. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imageio.h"

#include "xoshiro.h"

#define MAX_DEFECTS 3
#define PI 3.14159265358979323846

/* ---- seeded PRNG (xoshiro256** from splitmix64) and hashed value noise ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t rng_next(rng *r) { return xoshiro256ss_next(r->s); }

static void rng_init(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static double uni(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static double range(rng *r, double lo, double hi) { return lo + (hi - lo) * uni(r); }

static double gauss(rng *r)
{
    double u = uni(r) + 0x1.0p-54, v = uni(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * PI * v);
}

/* Lattice value in [0, 1) for integer point (x, y) of noise layer `salt`. */
static double lattice(uint64_t salt, int64_t x, int64_t y)
{
    uint64_t h = salt ^ ((uint64_t)x * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)y * 0xC2B2AE3D27D4EB4Full);
    h = splitmix64(&h);
    return (double)(h >> 11) * 0x1.0p-53;
}

/* Smooth value noise in [-1, 1] with cell size sx by sy pixels (anisotropic for brushing). */
static double vnoise(uint64_t salt, double x, double y, double sx, double sy)
{
    double fx = x / sx, fy = y / sy;
    double ix = floor(fx), iy = floor(fy), tx = fx - ix, ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    int64_t x0 = (int64_t)ix, y0 = (int64_t)iy;
    double a = lattice(salt, x0, y0), b = lattice(salt, x0 + 1, y0);
    double c = lattice(salt, x0, y0 + 1), d = lattice(salt, x0 + 1, y0 + 1);
    return 2.0 * ((a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty) - 1.0;
}

/* Fractal sum of 4 octaves, roughly in [-1, 1]. */
static double fbm(uint64_t salt, double x, double y, double scale)
{
    double s = 0, amp = 0.5;
    for (int o = 0; o < 4; o++, scale *= 0.5, amp *= 0.5)
        s += amp * vnoise(salt + (uint64_t)o, x, y, scale, scale);
    return s / 0.9375;
}

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
static double smooth(double e0, double e1, double x)
{
    double t = clamp01((x - e0) / (e1 - e0));
    return t * t * (3 - 2 * t);
}

/* ---- image state ---- */

typedef enum surface { SURF_METAL, SURF_FABRIC, SURF_LABEL } surface;
static const char *const SURFACE_NAME[] = {"metal", "fabric", "label"};
static const char *const SURFACE_DESC[] = {"brushed metal", "woven fabric", "printed label"};

typedef struct defect {
    const char *type;     /* "scratch", "hole", "stain" */
    const char *detail;   /* polarity or colour, for the truth file */
    int x0, y0, x1, y1;   /* bounding box of its mask pixels, inclusive */
    long area;            /* its mask pixels */
} defect;

typedef struct canvas {
    int w, h;
    float *rgb;           /* [h][w][3], linear 0..1 */
    uint8_t *mask;        /* [h][w], 0 / 1 */
    defect def[MAX_DEFECTS];
    int ndef;
} canvas;

static float *px(canvas *c, int x, int y) { return c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x); }

/* Marks (x, y) as defect pixel of defect d and grows its box. */
static void mark(canvas *c, defect *d, int x, int y)
{
    uint8_t *m = &c->mask[(size_t)y * (size_t)c->w + (size_t)x];
    if (d->area == 0) {
        d->x0 = d->x1 = x;
        d->y0 = d->y1 = y;
    }
    if (x < d->x0) d->x0 = x;
    if (x > d->x1) d->x1 = x;
    if (y < d->y0) d->y0 = y;
    if (y > d->y1) d->y1 = y;
    d->area++;
    *m = 1;
}

/* ---- surfaces ---- */

static void paint_metal(canvas *c, rng *r, uint64_t salt)
{
    double base = range(r, 0.50, 0.66), tint = range(r, -0.03, 0.03);
    int vertical = uni(r) < 0.3;
    double band_pos = range(r, 0.25, 0.75), band_w = range(r, 0.15, 0.35);
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            /* brushing: noise stretched along the grinding direction, fine across it */
            double u = vertical ? y : x, v = vertical ? x : y;
            double streak = 0.050 * vnoise(salt + 1, u, v, 160, 1.3)
                          + 0.030 * vnoise(salt + 2, u, v, 40, 0.7)
                          + 0.015 * vnoise(salt + 3, u, v, 12, 0.5);
            double light = 0.06 * fbm(salt + 10, x, y, 260.0);
            double across = (vertical ? (double)x / c->w : (double)y / c->h) - band_pos;
            double band = 0.10 * exp(-across * across / (band_w * band_w));   /* specular sheen */
            double g = base + streak + light + band;
            float *p = px(c, x, y);
            p[0] = (float)(g * (1.0 - tint));
            p[1] = (float)g;
            p[2] = (float)(g * (1.0 + tint + 0.02));
        }
}

static void paint_fabric(canvas *c, rng *r, uint64_t salt)
{
    static const double colours[][2][3] = {
        {{0.16, 0.24, 0.46}, {0.70, 0.70, 0.66}},   /* denim: blue warp, ecru weft */
        {{0.62, 0.52, 0.36}, {0.72, 0.62, 0.44}},   /* canvas */
        {{0.45, 0.12, 0.12}, {0.55, 0.18, 0.16}},   /* red cloth */
        {{0.30, 0.32, 0.30}, {0.40, 0.42, 0.40}},   /* grey filter fabric */
    };
    const double(*col)[3] = colours[rng_next(r) % 4];
    double p = range(r, 6.0, 10.0);
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            double fx = x / p, fy = y / p;
            int64_t ci = (int64_t)floor(fx), cj = (int64_t)floor(fy);
            double u = fx - (double)ci, v = fy - (double)cj;
            int warp_up = ((ci + cj) & 1) == 0;
            /* thread cross-section (bright middle, dark gaps) and its bend over/under */
            double across = warp_up ? u : v, along = warp_up ? v : u;
            double prof = sin(PI * clamp01((across - 0.06) / 0.88));
            double bend = 0.75 + 0.25 * sin(PI * along);
            double thread = warp_up ? lattice(salt + 5, ci, 0) : lattice(salt + 6, 0, cj);
            double g = prof * bend * (0.85 + 0.25 * thread);
            double slub = 0.06 * vnoise(salt + 7, x, y, warp_up ? 3 : 40, warp_up ? 40 : 3);
            double light = 0.08 * fbm(salt + 8, x, y, 300.0);
            const double *k = col[warp_up ? 0 : 1];
            float *q = px(c, x, y);
            for (int ch = 0; ch < 3; ch++)
                q[ch] = (float)(k[ch] * (0.25 + 0.85 * g) * (1.0 + slub + light));
        }
}

typedef struct rect {
    double x0, y0, x1, y1;
} rect;

/* Fraction of pixel (x, y) covered by rectangle q (box-filtered edges). */
static double cover(const rect *q, int x, int y)
{
    double cx = fmin(x + 1.0, q->x1) - fmax((double)x, q->x0);
    double cy = fmin(y + 1.0, q->y1) - fmax((double)y, q->y0);
    return cx > 0 && cy > 0 ? cx * cy : 0;
}

static void fill(canvas *c, const rect *q, const double col[3], double opacity)
{
    int xa = (int)fmax(0, floor(q->x0)), xb = (int)fmin(c->w - 1, ceil(q->x1));
    int ya = (int)fmax(0, floor(q->y0)), yb = (int)fmin(c->h - 1, ceil(q->y1));
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            double a = cover(q, x, y) * opacity;
            float *p = px(c, x, y);
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (float)(p[ch] * (1 - a) + col[ch] * a);
        }
}

static void paint_label(canvas *c, rng *r, uint64_t salt)
{
    static const double inks[][3] = {
        {0.80, 0.12, 0.10}, {0.10, 0.30, 0.65}, {0.10, 0.50, 0.25}, {0.90, 0.55, 0.05}};
    static const double black[3] = {0.08, 0.08, 0.09};
    int ink_i = (int)(rng_next(r) % 4);
    const double *ink = inks[ink_i];
    double W = c->w, H = c->h;
    for (int y = 0; y < c->h; y++)                       /* paper */
        for (int x = 0; x < c->w; x++) {
            double g = 0.90 + 0.025 * fbm(salt + 1, x, y, 180.0) + 0.012 * vnoise(salt + 2, x, y, 1.5, 1.5);
            float *p = px(c, x, y);
            p[0] = (float)(g * 1.00);
            p[1] = (float)(g * 0.985);
            p[2] = (float)(g * 0.95);
        }
    rect band = {0, H * 0.07, W, H * range(r, 0.17, 0.22)};
    fill(c, &band, ink, 0.92);
    rect thin = {0, band.y1 + H * 0.025, W, band.y1 + H * 0.035};
    fill(c, &thin, ink, 0.92);
    rect logo = {W * 0.06, H * 0.30, W * 0.06 + H * 0.22, H * 0.52};   /* square block */
    fill(c, &logo, ink, 0.95);
    rect inner = {logo.x0 + H * 0.05, logo.y0 + H * 0.05, logo.x1 - H * 0.05, logo.y1 - H * 0.05};
    static const double paper[3] = {0.92, 0.90, 0.86};
    fill(c, &inner, paper, 1.0);
    for (int line = 0; line < 5; line++) {               /* lines of "words" */
        double y0 = H * (0.30 + 0.05 * line), x = W * 0.06 + H * 0.28;
        while (x < W * 0.92) {
            double wlen = range(r, 0.03, 0.10) * W;
            rect word = {x, y0, fmin(x + wlen, W * 0.92), y0 + H * 0.022};
            fill(c, &word, black, 0.85);
            x += wlen + range(r, 0.012, 0.025) * W;
        }
    }
    double x = W * 0.10, bar_y0 = H * 0.64, bar_y1 = H * 0.86;   /* barcode */
    while (x < W * 0.62) {
        double bw = range(r, 1.2, 4.5), gap = range(r, 1.2, 4.5);
        rect bar = {x, bar_y0, x + bw, bar_y1};
        fill(c, &bar, black, 0.95);
        x += bw + gap;
    }
    rect stripe = {W * 0.70, H * 0.64, W * 0.94, H * 0.86};       /* colour patch */
    fill(c, &stripe, inks[(ink_i + 1 + (int)(rng_next(r) % 3)) % 4], 0.9);   /* another ink */
}

/* ---- defects ---- */

/* Distance from p to segment ab and the segment parameter of the nearest point. */
static double seg_dist(double px_, double py_, const double a[2], const double b[2], double *t)
{
    double dx = b[0] - a[0], dy = b[1] - a[1], l2 = dx * dx + dy * dy;
    double s = l2 > 0 ? ((px_ - a[0]) * dx + (py_ - a[1]) * dy) / l2 : 0;
    s = clamp01(s);
    *t = s;
    double ex = a[0] + s * dx - px_, ey = a[1] + s * dy - py_;
    return sqrt(ex * ex + ey * ey);
}

#define SCRATCH_PTS 48

typedef struct scratch {
    double pts[SCRATCH_PTS + 1][2];
    double width, strength;
    int bright;
} scratch;

static void draw_scratch(canvas *c, defect *d, const scratch *s, rect box)
{
    for (int y = (int)box.y0; y <= (int)box.y1; y++)
        for (int x = (int)box.x0; x <= (int)box.x1; x++) {
            double best = 1e9, tbest = 0;
            for (int k = 0; k < SCRATCH_PTS; k++) {
                double t, dist = seg_dist(x + 0.5, y + 0.5, s->pts[k], s->pts[k + 1], &t);
                if (dist < best) {
                    best = dist;
                    tbest = (k + t) / SCRATCH_PTS;
                }
            }
            double taper = fmin(1.0, fmin(tbest, 1.0 - tbest) / 0.08);
            double a = clamp01(s->width / 2 + 0.5 - best) * taper * s->strength;
            double halo = 0.25 * exp(-best * best / 6.0) * taper * s->strength;
            float *p = px(c, x, y);
            for (int ch = 0; ch < 3; ch++) {
                double v = p[ch];
                v = s->bright ? v + (1.0 - v) * (0.75 * a + 0.3 * halo) : v * (1.0 - 0.70 * a - halo);
                p[ch] = (float)v;
            }
            if (best <= s->width / 2 + 1.5 && taper > 0.15)
                mark(c, d, x, y);
        }
}

static rect place_scratch(canvas *c, rng *r, scratch *s)
{
    double len = range(r, 0.18, 0.45) * fmin(c->w, c->h) + 30;
    double ang = range(r, 0, PI), bow = range(r, -0.25, 0.25) * len;
    double cx = range(r, 0.2, 0.8) * c->w, cy = range(r, 0.2, 0.8) * c->h;
    double ux = cos(ang), uy = sin(ang);
    double p0[2] = {cx - ux * len / 2, cy - uy * len / 2}, p2[2] = {cx + ux * len / 2, cy + uy * len / 2};
    double p1[2] = {cx - uy * bow, cy + ux * bow};       /* quadratic Bezier control point */
    rect box = {1e9, 1e9, -1e9, -1e9};
    for (int k = 0; k <= SCRATCH_PTS; k++) {
        double t = (double)k / SCRATCH_PTS, a = (1 - t) * (1 - t), b = 2 * t * (1 - t), e = t * t;
        s->pts[k][0] = a * p0[0] + b * p1[0] + e * p2[0];
        s->pts[k][1] = a * p0[1] + b * p1[1] + e * p2[1];
        box.x0 = fmin(box.x0, s->pts[k][0]);
        box.y0 = fmin(box.y0, s->pts[k][1]);
        box.x1 = fmax(box.x1, s->pts[k][0]);
        box.y1 = fmax(box.y1, s->pts[k][1]);
    }
    s->width = range(r, 1.2, 2.6);
    s->strength = range(r, 0.7, 1.0);
    s->bright = uni(r) < 0.5;
    box.x0 -= 6; box.y0 -= 6; box.x1 += 6; box.y1 += 6;
    return box;
}

typedef struct hole {
    double cx, cy, rad, squash, angle;
} hole;

static void draw_hole(canvas *c, defect *d, const hole *hl, rect box)
{
    double ca = cos(hl->angle), sa = sin(hl->angle);
    for (int y = (int)box.y0; y <= (int)box.y1; y++)
        for (int x = (int)box.x0; x <= (int)box.x1; x++) {
            double dx = x + 0.5 - hl->cx, dy = y + 0.5 - hl->cy;
            double u = (dx * ca + dy * sa) / hl->rad, v = (-dx * sa + dy * ca) / (hl->rad * hl->squash);
            double q = sqrt(u * u + v * v);
            double lit = q > 0 ? (-(dx + dy) / sqrt(2.0)) / (q * hl->rad) : 0;   /* light from top-left */
            float *p = px(c, x, y);
            if (q < 1.0) {
                /* inside: deep shadow, the far wall catches a little light */
                double g = 0.05 + 0.10 * smooth(0.55, 1.0, q) * clamp01(-lit);
                double edge = smooth(0.85, 1.0, q);
                for (int ch = 0; ch < 3; ch++)
                    p[ch] = (float)(g * (1 - edge) + p[ch] * 0.45 * edge);
            } else if (q < 1.45) {
                /* raised rim: bright on the lit side, shadowed on the other */
                double bump = sin(PI * (q - 1.0) / 0.45);
                double k = 1.0 + bump * (0.35 * lit + 0.10);
                for (int ch = 0; ch < 3; ch++)
                    p[ch] = (float)(k > 1 ? p[ch] + (1 - p[ch]) * (k - 1) : p[ch] * k);
            }
            if (q <= 1.45)
                mark(c, d, x, y);
        }
}

static rect place_hole(canvas *c, rng *r, hole *hl)
{
    hl->rad = range(r, 0.012, 0.035) * fmin(c->w, c->h) + 4;
    hl->squash = range(r, 0.8, 1.1);
    hl->angle = range(r, 0, PI);
    hl->cx = range(r, 0.1, 0.9) * c->w;
    hl->cy = range(r, 0.1, 0.9) * c->h;
    double e = hl->rad * 1.5 + 3;
    return (rect){hl->cx - e, hl->cy - e, hl->cx + e, hl->cy + e};
}

typedef struct stain {
    double cx, cy, rad, amp[6], phase[6], colour[3], strength;
    uint64_t salt;
} stain;

static void draw_stain(canvas *c, defect *d, const stain *st, rect box)
{
    for (int y = (int)box.y0; y <= (int)box.y1; y++)
        for (int x = (int)box.x0; x <= (int)box.x1; x++) {
            double dx = x + 0.5 - st->cx, dy = y + 0.5 - st->cy, th = atan2(dy, dx);
            double rr = 1.0;                               /* irregular outline */
            for (int k = 2; k < 6; k++)
                rr += st->amp[k] * cos(k * th + st->phase[k]);
            double q = sqrt(dx * dx + dy * dy) / (st->rad * rr);
            double a = (1.0 - smooth(0.55, 1.0, q)) * (0.75 + 0.25 * fbm(st->salt, x, y, 14.0));
            double ring = 0.35 * exp(-(q - 0.85) * (q - 0.85) / 0.004);   /* dried edge */
            a = clamp01(a + ring * (q < 1.0)) * st->strength;
            float *p = px(c, x, y);
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (float)(p[ch] * (1 - a) + p[ch] * st->colour[ch] * a);
            if (q <= 0.92)
                mark(c, d, x, y);
        }
}

static rect place_stain(canvas *c, rng *r, stain *st)
{
    static const double colours[][3] = {{0.70, 0.52, 0.30}, {0.45, 0.45, 0.50}, {0.85, 0.75, 0.40}};
    st->rad = range(r, 0.04, 0.10) * fmin(c->w, c->h) + 8;
    st->cx = range(r, 0.15, 0.85) * c->w;
    st->cy = range(r, 0.15, 0.85) * c->h;
    for (int k = 0; k < 6; k++) {
        st->amp[k] = range(r, 0, 0.12);
        st->phase[k] = range(r, 0, 2 * PI);
    }
    memcpy(st->colour, colours[rng_next(r) % 3], sizeof st->colour);
    st->strength = range(r, 0.55, 0.85);
    st->salt = rng_next(r);
    double e = st->rad * 1.5 + 2;
    return (rect){st->cx - e, st->cy - e, st->cx + e, st->cy + e};
}

static rect clip_rect(const canvas *c, rect q)
{
    q.x0 = fmax(0, floor(q.x0));
    q.y0 = fmax(0, floor(q.y0));
    q.x1 = fmin(c->w - 1, ceil(q.x1));
    q.y1 = fmin(c->h - 1, ceil(q.y1));
    return q;
}

static int overlaps(rect a, rect b, double gap)
{
    return a.x0 < b.x1 + gap && b.x0 < a.x1 + gap && a.y0 < b.y1 + gap && b.y0 < a.y1 + gap;
}

/* Places up to n defects that do not touch each other or the border, then draws them. force_kind
 * 0..2 makes every defect that kind (labelled sets: one defect type per part); -1 = random. */
static void add_defects(canvas *c, rng *r, int n, int force_kind)
{
    rect used[MAX_DEFECTS];
    int nused = 0;
    for (int i = 0; i < n; i++) {
        int kind = (int)(rng_next(r) % 3);
        if (force_kind >= 0)
            kind = force_kind;
        scratch s = {0};
        hole hl = {0};
        stain st = {0};
        rect box = {0, 0, 0, 0};
        int ok = 0;
        for (int attempt = 0; attempt < 60 && !ok; attempt++) {
            box = kind == 0 ? place_scratch(c, r, &s) : kind == 1 ? place_hole(c, r, &hl)
                                                                   : place_stain(c, r, &st);
            ok = box.x0 >= 4 && box.y0 >= 4 && box.x1 <= c->w - 5 && box.y1 <= c->h - 5;
            for (int k = 0; k < nused && ok; k++)
                ok = !overlaps(box, used[k], 12);
        }
        if (!ok)
            continue;                                      /* image too small: fewer defects */
        used[nused++] = box;
        defect *d = &c->def[c->ndef++];
        memset(d, 0, sizeof *d);
        box = clip_rect(c, box);
        if (kind == 0) {
            d->type = "scratch";
            d->detail = s.bright ? "bright" : "dark";
            draw_scratch(c, d, &s, box);
        } else if (kind == 1) {
            d->type = "hole";
            d->detail = "dark";
            draw_hole(c, d, &hl, box);
        } else {
            d->type = "stain";
            d->detail = "discoloured";
            draw_stain(c, d, &st, box);
        }
        if (d->area == 0)
            c->ndef--;                                     /* nothing visible: not a defect */
    }
}

/* Camera: vignetting and sensor noise, applied after the defects like a real exposure. */
static void expose(canvas *c, rng *r)
{
    double vig = range(r, 0.10, 0.22);
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            double dx = (x + 0.5) / c->w - 0.5, dy = (y + 0.5) / c->h - 0.5;
            double k = 1.0 - vig * (dx * dx + dy * dy) * 2.0;
            float *p = px(c, x, y);
            double n = 0.008 * gauss(r);
            for (int ch = 0; ch < 3; ch++)
                p[ch] = (float)clamp01(p[ch] * k + n + 0.004 * gauss(r));
        }
}

/* ---- output ---- */

static int write_outputs(const char *dir, const char *name, canvas *c, surface kind, uint64_t seed,
                         const char *tiff_kind)
{
    char path[4400], err[4800];
    size_t n = (size_t)c->w * (size_t)c->h;
    uint8_t *rgb = malloc(3 * n);
    float *gray = malloc(n * sizeof *gray);
    uint16_t *g16 = malloc(n * sizeof *g16);
    int rc = 1;
    if (!rgb || !gray || !g16) {
        fprintf(stderr, "make_demo_images: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const float *p = c->rgb + 3 * i;
        for (int ch = 0; ch < 3; ch++)
            rgb[3 * i + ch] = (uint8_t)lrint(255.0 * clamp01(p[ch]));
        gray[i] = (float)clamp01(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        g16[i] = (uint16_t)lrint(65535.0 * gray[i]);
    }
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    if (io_write_png_rgb8(path, rgb, c->w, c->h, err, sizeof err) != 0)
        goto io_fail;
    if (tiff_kind) {
        snprintf(path, sizeof path, "%s/%s.tif", dir, name);
        int r = strcmp(tiff_kind, "u16") == 0 ? io_write_tiff_u16(path, g16, c->w, c->h, err, sizeof err)
                                              : io_write_tiff_f32(path, gray, c->w, c->h, err, sizeof err);
        if (r != 0)
            goto io_fail;
    }
    for (size_t i = 0; i < n; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = c->mask[i] ? 255 : 0;
    snprintf(path, sizeof path, "%s/%s_mask.png", dir, name);
    if (io_write_png_rgb8(path, rgb, c->w, c->h, err, sizeof err) != 0)
        goto io_fail;

    snprintf(path, sizeof path, "%s/%s_truth.json", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, sizeof err, "%s: %s", path, strerror(errno));
        goto io_fail;
    }
    fprintf(f, "{\n  \"image\": \"%s.png\",\n  \"files\": [\"%s.png\"", name, name);
    if (tiff_kind)
        fprintf(f, ", \"%s.tif\"", name);
    fprintf(f, "],\n");
    if (tiff_kind)
        fprintf(f, "  \"tiff\": \"%s\",\n", strcmp(tiff_kind, "u16") == 0
                                               ? "one channel, 16-bit unsigned, luminance"
                                               : "one channel, 32-bit float in [0, 1], luminance");
    fprintf(f, "  \"mask\": \"%s_mask.png\",\n  \"width\": %d,\n  \"height\": %d,\n"
               "  \"surface\": \"%s\",\n  \"seed\": %" PRIu64 ",\n  \"anomalous\": %s,\n"
               "  \"bbox_format\": \"x, y = top-left pixel; width, height in pixels; every mask "
               "pixel of a defect lies inside its box\",\n  \"defects\": [",
            name, c->w, c->h, SURFACE_DESC[kind], seed, c->ndef ? "true" : "false");
    for (int i = 0; i < c->ndef; i++) {
        const defect *d = &c->def[i];
        fprintf(f, "%s\n    {\"type\": \"%s\", \"appearance\": \"%s\", \"bbox\": {\"x\": %d, "
                   "\"y\": %d, \"width\": %d, \"height\": %d}, \"area\": %ld}",
                i ? "," : "", d->type, d->detail, d->x0, d->y0, d->x1 - d->x0 + 1,
                d->y1 - d->y0 + 1, d->area);
    }
    fprintf(f, "%s]\n}\n", c->ndef ? "\n  " : "");
    if (ferror(f) | fclose(f)) {
        snprintf(err, sizeof err, "%s: write failed", path);
        goto io_fail;
    }
    rc = 0;
    goto out;
io_fail:
    fprintf(stderr, "make_demo_images: %s\n", err);
out:
    free(rgb);
    free(gray);
    free(g16);
    return rc;
}

/* ---- labelled calibration set (--labelled) ---- */

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_demo_images: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes c as path (8-bit RGB PNG) and, when mask_path is not NULL, its mask (0 / 255). */
static int write_part(const char *path, const char *mask_path, const canvas *c)
{
    char err[4800];
    size_t n = (size_t)c->w * (size_t)c->h;
    uint8_t *rgb = calloc(3 * n + 1, 1);
    if (!rgb) {
        fprintf(stderr, "make_demo_images: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < 3 * n; i++)
        rgb[i] = (uint8_t)lrint(255.0 * clamp01(c->rgb[i]));
    int rc = io_write_png_rgb8(path, rgb, c->w, c->h, err, sizeof err);
    if (!rc && mask_path) {
        for (size_t i = 0; i < n; i++)
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = c->mask[i] ? 255 : 0;
        rc = io_write_png_rgb8(mask_path, rgb, c->w, c->h, err, sizeof err);
    }
    free(rgb);
    if (rc)
        fprintf(stderr, "make_demo_images: %s\n", err);
    return rc ? 1 : 0;
}

/* Paints part `index` of product `kind`: good (force_kind < 0) or with one defect of that kind.
 * Streams start far above the demo set's (1..1000), so the two never share images. */
static int paint_part(canvas *c, uint64_t seed, surface kind, int index, int force_kind)
{
    for (int round = 0; round < 50; round++) {
        rng r;
        rng_init(&r, seed, 1000000 + (uint64_t)kind * 100000 + (uint64_t)(force_kind + 1) * 20000 +
                               (uint64_t)index * 50 + (uint64_t)round);
        memset(c->mask, 0, (size_t)c->w * (size_t)c->h);
        c->ndef = 0;
        uint64_t salt = rng_next(&r);
        if (kind == SURF_METAL)
            paint_metal(c, &r, salt);
        else if (kind == SURF_FABRIC)
            paint_fabric(c, &r, salt);
        else
            paint_label(c, &r, salt);
        if (force_kind >= 0)
            add_defects(c, &r, 1, force_kind);
        expose(c, &r);
        if ((force_kind < 0) == (c->ndef == 0))
            return 0;
    }
    fprintf(stderr, "make_demo_images: a %s part of %dx%d has no room for a defect; use a larger "
            "--size\n", SURFACE_NAME[kind], c->w, c->h);
    return 2;
}

static int write_labelled(const char *root, int good, int bad, canvas *c, uint64_t seed)
{
    static const char *const TYPE[] = {"scratch", "hole", "stain"};
    char path[4400], mpath[4400];
    if (make_dir(root))
        return 1;
    snprintf(path, sizeof path, "%s/labels.csv", root);
    FILE *csv = fopen(path, "w");
    if (!csv) {
        fprintf(stderr, "make_demo_images: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(csv, "image,label,mask,type,product\n");
    int rc = 0;
    for (int k = 0; k < 3 && !rc; k++) {
        const char *prod = SURFACE_NAME[k];
        snprintf(path, sizeof path, "%s/%s", root, prod);
        if (make_dir(path))
            rc = 1;
        snprintf(path, sizeof path, "%s/%s/test", root, prod);
        if (!rc && make_dir(path))
            rc = 1;
        snprintf(path, sizeof path, "%s/%s/test/good", root, prod);
        if (!rc && make_dir(path))
            rc = 1;
        for (int i = 0; i < good && !rc; i++) {
            snprintf(path, sizeof path, "%s/%s/test/good/%03d.png", root, prod, i);
            rc = paint_part(c, seed, (surface)k, i, -1);
            if (!rc)
                rc = write_part(path, NULL, c);
            fprintf(csv, "%s/test/good/%03d.png,good,,,%s\n", prod, i, prod);
        }
        if (bad > 0 && !rc) {
            snprintf(path, sizeof path, "%s/%s/ground_truth", root, prod);
            rc = make_dir(path);
        }
        for (int t = 0; t < 3 && t < bad && !rc; t++) {
            snprintf(path, sizeof path, "%s/%s/test/%s", root, prod, TYPE[t]);
            snprintf(mpath, sizeof mpath, "%s/%s/ground_truth/%s", root, prod, TYPE[t]);
            rc = make_dir(path) || make_dir(mpath);
        }
        int per_type[3] = {0, 0, 0};
        for (int j = 0; j < bad && !rc; j++) {
            int t = j % 3, i = per_type[t]++;
            snprintf(path, sizeof path, "%s/%s/test/%s/%03d.png", root, prod, TYPE[t], i);
            snprintf(mpath, sizeof mpath, "%s/%s/ground_truth/%s/%03d_mask.png", root, prod, TYPE[t], i);
            rc = paint_part(c, seed, (surface)k, i, t);
            if (!rc)
                rc = write_part(path, mpath, c);
            fprintf(csv, "%s/test/%s/%03d.png,bad,%s/ground_truth/%s/%03d_mask.png,%s,%s\n", prod,
                    TYPE[t], i, prod, TYPE[t], i, TYPE[t], prod);
        }
    }
    if (ferror(csv) | fclose(csv)) {
        fprintf(stderr, "make_demo_images: %s/labels.csv: write failed\n", root);
        rc = rc ? rc : 1;
    }
    if (!rc)
        printf("%s: labelled set, 3 products x (%d good + %d bad) parts %dx%d (seed %" PRIu64
               "), MVTec AD layout and labels.csv\n", root, good, bad, c->w, c->h, seed);
    return rc;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "make_demo_images: %s\n", msg);
    fprintf(stderr,
            "usage: make_demo_images OUTDIR [--count N] [--size WxH] [--seed N]\n"
            "Writes N synthetic product images (brushed metal, woven fabric, printed label) with\n"
            "0..3 defects each (scratch, hole, stain): NAME.png, for some NAME.tif (16-bit or\n"
            "float gray), NAME_mask.png and NAME_truth.json. Every sixth image is defect-free.\n"
            "  --count N   number of images, 1..1000 (default 6)\n"
            "  --size WxH  image size, 64x64 .. 4096x4096 (default 640x480)\n"
            "  --seed N    random seed (default 1); same seed, same images\n"
            "or:    make_demo_images --labelled ROOT [--good N] [--bad M] [--size WxH] [--seed N]\n"
            "Writes a labelled set for calibration: per product (metal, fabric, label) N good parts\n"
            "(default 6) and M bad parts (default 6) with one defect each (type cycling scratch,\n"
            "hole, stain) in the MVTec AD layout (ROOT/<product>/test/good, test/<type>,\n"
            "ground_truth/<type>/NNN_mask.png) and as ROOT/labels.csv (image,label,mask,type,product).\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *outdir = NULL, *labelled = NULL;
    uint64_t seed = 1, count = 6, good = 6, bad = 6;
    int w = 640, h = 480;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(NULL);
            return 0;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &seed))
                return usage("--seed needs a non-negative integer");
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &count) || count < 1 || count > 1000)
                return usage("--count must be 1..1000");
        } else if (strcmp(argv[i], "--labelled") == 0 && i + 1 < argc) {
            labelled = argv[++i];
        } else if (strcmp(argv[i], "--good") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &good) || good > 1000)
                return usage("--good must be 0..1000");
        } else if (strcmp(argv[i], "--bad") == 0 && i + 1 < argc) {
            if (parse_u64(argv[++i], &bad) || bad > 1000)
                return usage("--bad must be 0..1000");
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            char extra;
            if (sscanf(argv[++i], "%dx%d%c", &w, &h, &extra) != 2 || w < 64 || h < 64 || w > 4096 ||
                h > 4096)
                return usage("--size must be WxH with sides 64..4096");
        } else if (argv[i][0] == '-') {
            return usage("unknown option or missing value");
        } else if (!outdir) {
            outdir = argv[i];
        } else {
            return usage("only one OUTDIR");
        }
    }
    if (labelled && outdir)
        return usage("--labelled ROOT and OUTDIR: give one of them");
    if (labelled) {
        if (strlen(labelled) > 4000)
            return usage("ROOT path too long");
        if (good + bad == 0)
            return usage("--good and --bad are both 0: nothing to write");
        canvas lc = {w, h, malloc((size_t)w * (size_t)h * 3 * sizeof(float)),
                     malloc((size_t)w * (size_t)h), {{0}}, 0};
        int lrc = 1;
        if (lc.rgb && lc.mask)
            lrc = write_labelled(labelled, (int)good, (int)bad, &lc, seed);
        else
            fprintf(stderr, "make_demo_images: out of memory\n");
        free(lc.rgb);
        free(lc.mask);
        return lrc;
    }
    if (!outdir)
        return usage("OUTDIR missing");
    if (strlen(outdir) > 4000)
        return usage("OUTDIR path too long");
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_demo_images: cannot create %s: %s\n", outdir, strerror(errno));
        return 1;
    }
    canvas c = {w, h, malloc((size_t)w * (size_t)h * 3 * sizeof(float)),
                malloc((size_t)w * (size_t)h), {{0}}, 0};
    if (!c.rgb || !c.mask) {
        fprintf(stderr, "make_demo_images: out of memory\n");
        free(c.rgb);
        free(c.mask);
        return 1;
    }
    int rc = 0, defects = 0, clean = 0;
    for (uint64_t i = 0; i < count && !rc; i++) {
        surface kind = (surface)(i % 3);
        rng r;
        rng_init(&r, seed, i + 1);                         /* image i does not depend on count */
        memset(c.mask, 0, (size_t)w * (size_t)h);
        c.ndef = 0;
        uint64_t salt = rng_next(&r);
        if (kind == SURF_METAL)
            paint_metal(&c, &r, salt);
        else if (kind == SURF_FABRIC)
            paint_fabric(&c, &r, salt);
        else
            paint_label(&c, &r, salt);
        int want = i % 6 == 5 ? 0 : 1 + (int)(rng_next(&r) % MAX_DEFECTS);
        add_defects(&c, &r, want, -1);
        expose(&c, &r);
        char name[64];
        snprintf(name, sizeof name, "demo_%02" PRIu64 "_%s", i, SURFACE_NAME[kind]);
        const char *tiff = kind == SURF_METAL ? "u16" : kind == SURF_LABEL ? "f32" : NULL;
        rc = write_outputs(outdir, name, &c, kind, seed, tiff);
        defects += c.ndef;
        clean += c.ndef == 0;
    }
    free(c.rgb);
    free(c.mask);
    if (!rc)
        printf("%s: %" PRIu64 " images %dx%d (seed %" PRIu64 "), %d defects, %d defect-free\n",
               outdir, count, w, h, seed, defects, clean);
    return rc;
}
