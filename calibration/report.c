/* The calibration report: one self-contained HTML file (inline CSS and SVG, thumbnails as PNG
 * data: URIs, no script, no font or file from elsewhere) and the same numbers as JSON. */
#define _GNU_SOURCE
#include "calib.h"
#include "report_text.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

/* ---------- PNG and base64 ---------- */

typedef struct membuf { uint8_t *p; size_t n, cap; int oom; } membuf;

static void png_mem_write(png_structp png, png_bytep data, png_size_t len)
{
    membuf *b = png_get_io_ptr(png);
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t nc = (b->n + len) * 2;
        uint8_t *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void png_mem_flush(png_structp png) { (void)png; }

uint8_t *cal_png(const uint8_t *rgb, int w, int h, size_t *n)
{
    membuf b = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return NULL;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(b.p);
        return NULL;
    }
    png_set_write_fn(png, &b, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *n = b.n;
    return b.p;
}

char *cal_base64(const uint8_t *d, size_t n)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(4 * ((n + 2) / 3) + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *q++ = T[v >> 18 & 63];
        *q++ = T[v >> 12 & 63];
        *q++ = i + 1 < n ? T[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? T[v & 63] : '=';
    }
    *q = 0;
    return o;
}

/* ---------- text helpers ---------- */

static void jnum(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

/* "name": value or null, and "name_undefined": reason */
static void jval(FILE *f, const char *name, cm_value v, int *first)
{
    fprintf(f, "%s\"%s\": ", *first ? "" : ", ", name);
    *first = 0;
    if (v.undefined) {
        fprintf(f, "null, \"%s_undefined\": ", name);
        rx_json_string(f, v.undefined);
    } else {
        jnum(f, v.value);
    }
}

static void jthr(FILE *f, const cal_run *r, const cal_thresholds *t)
{
    fprintf(f, "{\"image\": ");
    jnum(f, t->image);
    fprintf(f, ", \"pixel\": ");
    jnum(f, t->pixel);
    fprintf(f, ", \"min_region_area\": %d, \"per_type\": {", t->min_area);
    int first = 1;
    for (int k = 1; k < r->n_classes; k++)
        if (t->type[k] > 0) {
            fprintf(f, "%s", first ? "" : ", ");
            rx_json_string(f, r->class_name[k]);
            fprintf(f, ": ");
            jnum(f, t->type[k]);
            first = 0;
        }
    fprintf(f, "}}");
}

static void jprotocol(FILE *f, const cal_run *r, const cal_protocol *p)
{
    int first = 1;
    fprintf(f, "{");
    jval(f, "pixel_auroc", p->pixel_auroc, &first);
    jval(f, "aupro", p->aupro, &first);
    jval(f, "type_auroc_macro", p->type_auroc, &first);
    jval(f, "type_ap_macro", p->type_ap, &first);
    jval(f, "type_f1_macro", p->type_f1, &first);
    fprintf(f, ", \"parts\": %d, \"classes\": [", p->pixel_parts);
    for (int k = 0; k < r->n_classes; k++) {
        fprintf(f, "%s{\"class\": ", k ? ", " : "");
        rx_json_string(f, r->class_name[k]);
        int fi = 0;
        jval(f, "auroc", p->class_auroc[k], &fi);
        jval(f, "ap", p->class_ap[k], &fi);
        jval(f, "f1", p->class_f1[k], &fi);
        fprintf(f, "}");
    }
    fprintf(f, "]}");
}

static double ms_per_part(const cal_run *r, int *n_out)
{
    double s = 0;
    int n = 0;
    for (int pi = 0; pi < r->set.n; pi++)
        for (int i = 0; i < r->prod[pi].set->n; i++)
            if (r->prod[pi].parts[i].scored) {
                s += r->prod[pi].parts[i].ms;
                n++;
            }
    if (n_out)
        *n_out = n;
    return n ? s / n : 0;
}

typedef cm_value (*getter)(const cal_product *);
static cm_value g_iauroc(const cal_product *p) { return p->img_auroc; }
static cm_value g_iap(const cal_product *p) { return p->img_ap; }
static cm_value g_if1(const cal_product *p) { return p->img_maxf1; }
static cm_value g_npx(const cal_product *p) { return p->native.pixel_auroc; }
static cm_value g_npro(const cal_product *p) { return p->native.aupro; }
static cm_value g_rpx(const cal_product *p) { return p->ref.pixel_auroc; }
static cm_value g_rpro(const cal_product *p) { return p->ref.aupro; }
static cm_value g_nta(const cal_product *p) { return p->native.type_auroc; }
static cm_value g_ntp(const cal_product *p) { return p->native.type_ap; }
static cm_value g_ntf(const cal_product *p) { return p->native.type_f1; }
static cm_value g_rta(const cal_product *p) { return p->ref.type_auroc; }
static cm_value g_rtp(const cal_product *p) { return p->ref.type_ap; }
static cm_value g_rtf(const cal_product *p) { return p->ref.type_f1; }

static const struct { const char *key, *label; getter g; int proto; } METRICS[] = {
    { "image_auroc", "image AUROC", g_iauroc, 0 },
    { "image_ap", "image AP", g_iap, 0 },
    { "image_max_f1", "image max-F1", g_if1, 0 },
    { "pixel_auroc_native", "pixel AUROC, native resolution", g_npx, 1 },
    { "aupro_native", "AUPRO (FPR &lt; 0.3), native", g_npro, 1 },
    { "pixel_auroc_518", "pixel AUROC, reference 518 x 518", g_rpx, 2 },
    { "aupro_518", "AUPRO (FPR &lt; 0.3), reference 518", g_rpro, 2 },
    { "type_auroc_macro_native", "per-type pixel AUROC (macro), native", g_nta, 1 },
    { "type_ap_macro_native", "per-type pixel AP (macro), native", g_ntp, 1 },
    { "type_f1_macro_native", "per-type pixel F1 (macro), native", g_ntf, 1 },
    { "type_auroc_macro_518", "per-type pixel AUROC (macro), reference 518", g_rta, 2 },
    { "type_ap_macro_518", "per-type pixel AP (macro), reference 518", g_rtp, 2 },
    { "type_f1_macro_518", "per-type pixel F1 (macro), reference 518", g_rtf, 2 },
};
#define N_METRICS (sizeof METRICS / sizeof METRICS[0])

static cm_value mean_over(const cal_run *r, getter g)
{
    cm_value v[256];
    int n = r->set.n < 256 ? r->set.n : 256;
    for (int i = 0; i < n; i++)
        v[i] = g(&r->prod[i]);
    return cm_mean(v, (size_t)n, NULL);
}

/* ---------- JSON ---------- */

int cal_write_json(const cal_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int nscored;
    double mpp = ms_per_part(r, &nscored);
    fprintf(f, "{\n  \"tool\": \"insp-calibrate\", \"plugin\": ");
    rx_json_string(f, r->plugin_version);
    fprintf(f, ",\n  \"recipe\": ");
    rx_json_string(f, r->recipe_path);
    fprintf(f, ", \"set\": ");
    rx_json_string(f, r->set_path);
    fprintf(f, ", \"layout\": ");
    rx_json_string(f, r->set.layout);
    fprintf(f, ",\n  \"model\": ");
    rx_json_string(f, r->model_desc);
    fprintf(f, ", \"precision\": ");
    rx_json_string(f, r->precision);
    fprintf(f, ", \"input_size\": %d, \"tiling\": %d,\n  \"classes\": [", r->input_size, r->tiling);
    for (int k = 0; k < r->n_classes; k++) {
        fprintf(f, "%s", k ? ", " : "");
        rx_json_string(f, r->class_name[k]);
    }
    fprintf(f, "],\n  \"frr_target\": ");
    jnum(f, r->frr_target);
    fprintf(f, ", \"cost_escape\": ");
    jnum(f, r->cost_escape);
    fprintf(f, ", \"image_rule\": ");
    rx_json_string(f, r->image_rule);
    fprintf(f, ", \"started\": ");
    rx_json_string(f, r->started);
    fprintf(f, ",\n  \"parts\": {\"total\": %d, \"scored\": %d, \"scored_this_run\": %d, \"from_cache\": %d, "
               "\"ms_per_part\": ", r->total_parts, nscored, r->scored_now, r->from_cache);
    jnum(f, mpp);
    fprintf(f, ", \"wall_seconds\": ");
    jnum(f, r->wall_s);
    fprintf(f, "},\n  \"products\": [");
    for (int pi = 0; pi < r->set.n; pi++) {
        const cal_product *P = &r->prod[pi];
        fprintf(f, "%s\n   {\"name\": ", pi ? "," : "");
        rx_json_string(f, P->set->name);
        fprintf(f, ", \"good\": %d, \"bad\": %d, \"good_scored\": %d, \"bad_scored\": %d, \"bad_with_mask\": %d, "
                   "\"left_out\": %d,\n    \"good_needed\": {\"to_resolve_target\": %d, \"for_95_percent\": %d},\n",
                P->n_good, P->n_bad, P->n_scored_good, P->n_scored_bad, P->n_masks, P->n_problems,
                P->needed_resolve, P->needed_95);
        fprintf(f, "    \"thresholds\": {\"old\": ");
        jthr(f, r, &P->old);
        fprintf(f, ", \"chosen\": ");
        jthr(f, r, &P->chosen);
        fprintf(f, ",\n      \"image_candidates\": {\"frr\": ");
        jnum(f, P->img_frr >= 0 ? P->img_frr : NAN);
        fprintf(f, ", \"f1\": ");
        jnum(f, P->img_f1 >= 0 ? P->img_f1 : NAN);
        fprintf(f, ", \"cost\": ");
        jnum(f, P->img_cost >= 0 ? P->img_cost : NAN);
        fprintf(f, "}, \"image_rule\": ");
        rx_json_string(f, P->image_rule);
        fprintf(f, ",\n      \"why\": {\"image\": ");
        rx_json_string(f, P->image_why);
        fprintf(f, ", \"pixel\": ");
        rx_json_string(f, P->pixel_why);
        fprintf(f, ", \"min_region_area\": ");
        rx_json_string(f, P->area_why);
        fprintf(f, ", \"per_type\": ");
        rx_json_string(f, P->type_why);
        fprintf(f, "},\n      \"true_regions\": %d, \"found_keeping_good_clean\": %d, \"found_pixel_f1\": %d, "
                   "\"pixel_f1_rule_used\": %s},\n",
                P->gt_regions, P->detected_c1, P->detected_c2, P->used_c2 ? "true" : "false");
        fprintf(f, "    \"decisions\": {\"false_rejects_old\": %d, \"escapes_old\": %d, \"false_rejects\": %d, "
                   "\"escapes\": %d, \"false_rejects_by_score\": %d},\n",
                P->fr_old, P->esc_old, P->fr_new, P->esc_new, P->fr_new_score);
        int first = 1;
        fprintf(f, "    \"metrics\": {");
        jval(f, "image_auroc", P->img_auroc, &first);
        jval(f, "image_ap", P->img_ap, &first);
        jval(f, "image_max_f1", P->img_maxf1, &first);
        fprintf(f, ",\n      \"native\": ");
        jprotocol(f, r, &P->native);
        fprintf(f, ",\n      \"reference_518\": ");
        jprotocol(f, r, &P->ref);
        fprintf(f, "},\n    \"recipe_written\": ");
        rx_json_string(f, P->recipe_out);
        fprintf(f, ",\n    \"parts\": [");
        for (int i = 0; i < P->set->n; i++) {
            const cd_part *c = &P->set->parts[i];
            const cal_part *p = &P->parts[i];
            fprintf(f, "%s\n      {\"name\": ", i ? "," : "");
            rx_json_string(f, c->name);
            fprintf(f, ", \"image\": ");
            rx_json_string(f, c->image);
            fprintf(f, ", \"bad\": %s, \"type\": ", c->bad ? "true" : "false");
            if (c->type)
                rx_json_string(f, c->type);
            else
                fputs("null", f);
            if (p->scored) {
                fprintf(f, ", \"score\": ");
                jnum(f, p->score);
                fprintf(f, ", \"map_max\": ");
                jnum(f, p->map_max);
                fprintf(f, ", \"ms\": ");
                jnum(f, p->ms);
                fprintf(f, ", \"has_mask\": %s, \"ng_old\": %s, \"ng\": %s, \"regions\": %d",
                        p->has_mask ? "true" : "false", p->ng_old ? "true" : "false",
                        p->ng_new ? "true" : "false", p->regions_new);
            }
            if (p->problem) {
                fprintf(f, ", \"left_out\": ");
                rx_json_string(f, p->problem);
            }
            fprintf(f, "}");
        }
        fprintf(f, "]}");
    }
    fprintf(f, "\n  ],\n  \"mean_over_products\": {");
    int first = 1;
    for (size_t m = 0; m < N_METRICS; m++)
        jval(f, METRICS[m].key, mean_over(r, METRICS[m].g), &first);
    fprintf(f, "}\n}\n");
    return ferror(f) | fclose(f) ? -1 : 0;
}

/* ---------- SVG plots ---------- */

#define PW 420
#define PH 230
#define ML 46
#define MB 34
#define MT 14
#define MR 12

static void svg_axes(FILE *f, const char *title, const char *xl, const char *yl, double x0, double x1,
                     double y0, double y1)
{
    fprintf(f, "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" role=\"img\"><title>", PW, PH, PW, PH);
    rx_html_text(f, title);
    fprintf(f, "</title><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#888\"/>",
            ML, MT, PW - ML - MR, PH - MT - MB);
    for (int i = 0; i <= 4; i++) {
        double fx = ML + (PW - ML - MR) * i / 4.0, fy = PH - MB - (PH - MT - MB) * i / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.3g</text>", fx,
                PH - MB + 12, x0 + (x1 - x0) * i / 4);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>", ML - 3,
                fy + 3, y0 + (y1 - y0) * i / 4);
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", ML, PW - MR, fy, fy);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">", (ML + PW - MR) / 2, PH - 6);
    rx_html_text(f, xl);
    fprintf(f, "</text><text x=\"12\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 %d)\">",
            (MT + PH - MB) / 2, (MT + PH - MB) / 2);
    rx_html_text(f, yl);
    fprintf(f, "</text>");
}

static double sx(double v, double x0, double x1) { return ML + (PW - ML - MR) * (v - x0) / (x1 - x0); }
static double sy(double v, double y0, double y1) { return PH - MB - (PH - MT - MB) * (v - y0) / (y1 - y0); }

typedef struct tline { double v; const char *label, *colour; int dash; } tline;

/* Histogram of values of good (green) and bad (red) parts, with threshold lines. */
static void svg_hist(FILE *f, const char *title, const char *xl, const double *good, int ng,
                     const double *bad, int nb, const tline *lines, int nl)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < ng; i++)
        lo = fmin(lo, good[i]), hi = fmax(hi, good[i]);
    for (int i = 0; i < nb; i++)
        lo = fmin(lo, bad[i]), hi = fmax(hi, bad[i]);
    for (int i = 0; i < nl; i++)
        if (lines[i].v >= 0)
            lo = fmin(lo, lines[i].v), hi = fmax(hi, lines[i].v);
    if (!(hi > lo)) {
        lo = isfinite(lo) ? lo - 0.5 : 0;
        hi = lo + 1;
    }
    double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
    enum { BINS = 30 };
    int cg[BINS] = { 0 }, cb[BINS] = { 0 }, top = 1;
    for (int i = 0; i < ng; i++) {
        int b = (int)((good[i] - lo) / (hi - lo) * BINS);
        cg[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
    for (int i = 0; i < nb; i++) {
        int b = (int)((bad[i] - lo) / (hi - lo) * BINS);
        cb[b < 0 ? 0 : b >= BINS ? BINS - 1 : b]++;
    }
    for (int b = 0; b < BINS; b++)
        top = cg[b] > top ? cg[b] : cb[b] > top ? cb[b] : top;
    svg_axes(f, title, xl, "parts", lo, hi, 0, top);
    for (int b = 0; b < BINS; b++) {
        double x = sx(lo + (hi - lo) * b / BINS, lo, hi), w = (PW - ML - MR) / (double)BINS;
        if (cg[b])
            fprintf(f, "<rect class=\"good\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2e8b57\" fill-opacity=\"0.55\"/>",
                    x, sy(cg[b], 0, top), w, sy(0, 0, top) - sy(cg[b], 0, top));
        if (cb[b])
            fprintf(f, "<rect class=\"bad\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#c0392b\" fill-opacity=\"0.55\"/>",
                    x, sy(cb[b], 0, top), w, sy(0, 0, top) - sy(cb[b], 0, top));
    }
    for (int i = 0; i < nl; i++) {
        if (lines[i].v < 0)
            continue;
        double x = sx(lines[i].v, lo, hi);
        fprintf(f, "<line class=\"threshold\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"%d\"%s/>",
                x, x, MT, PH - MB, lines[i].colour, lines[i].dash ? 1 : 2, lines[i].dash ? " stroke-dasharray=\"4 3\"" : "");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"9\" fill=\"%s\" text-anchor=\"start\">%s</text>",
                x + 2, MT + 10 + 10 * i, lines[i].colour, lines[i].label);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#2e8b57\">good %d</text>"
               "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#c0392b\">bad %d</text></svg>\n",
            PW - MR - 110, MT + 12, ng, PW - MR - 55, MT + 12, nb);
}

static void svg_curve(FILE *f, const char *title, const char *xl, const char *yl, const double *x,
                      const double *y, size_t n, int diagonal)
{
    svg_axes(f, title, xl, yl, 0, 1, 0, 1);
    if (diagonal)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbb\" stroke-dasharray=\"3 3\"/>",
                sx(0, 0, 1), sy(0, 0, 1), sx(1, 0, 1), sy(1, 0, 1));
    if (n) {
        fprintf(f, "<polyline class=\"curve\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"2\" points=\"");
        size_t step = n > 600 ? n / 600 : 1;
        for (size_t i = 0; i < n; i += step)
            fprintf(f, "%.1f,%.1f ", sx(x[i], 0, 1), sy(y[i], 0, 1));
        fprintf(f, "%.1f,%.1f\"/>", sx(x[n - 1], 0, 1), sy(y[n - 1], 0, 1));
    } else {
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">undefined: needs good and bad parts</text>",
                PW / 2, PH / 2);
    }
    fprintf(f, "</svg>\n");
}

static void cell(FILE *f, cm_value v)
{
    if (v.undefined) {
        fprintf(f, "<td class=\"undef\" title=\"");
        rx_html_text(f, v.undefined);
        fprintf(f, "\">undefined</td>");
    } else {
        fprintf(f, "<td>%.4f</td>", v.value);
    }
}

/* ---------- HTML ---------- */

int cal_write_html(const cal_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int nscored;
    double mpp = ms_per_part(r, &nscored);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<title>Calibration report: ");
    rx_html_text(f, r->recipe.product);
    fprintf(f, "</title>\n<style>\n"
               "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}"
               "h1{font-size:22px}h2{font-size:18px;border-bottom:2px solid #1f5fa8;padding-bottom:3px;margin-top:32px}"
               "h3{font-size:15px;margin-bottom:6px}table{border-collapse:collapse;margin:6px 0 14px}"
               "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#eef2f7}"
               "td.undef{color:#999;font-style:italic}.plots{display:flex;flex-wrap:wrap;gap:12px}"
               ".thumbs{display:flex;flex-wrap:wrap;gap:10px}.thumb{font-size:11px;width:184px}"
               ".thumb img{display:block;border:2px solid #c0392b}.thumb.escape img{border-color:#e67e22}"
               "pre{background:#f6f6f6;padding:8px;font-size:12px;overflow:auto;max-height:420px}"
               ".note{color:#555;font-size:13px}.warn{color:#a04000}\n"
               "</style>\n</head>\n<body>\n<h1>Calibration report: ");
    rx_html_text(f, r->recipe.product);
    fprintf(f, "</h1>\n<table class=\"facts\"><tr><th>recipe</th><td>");
    rx_html_text(f, r->recipe_path);
    fprintf(f, "</td></tr><tr><th>model</th><td>");
    rx_html_text(f, r->model_desc);
    fprintf(f, "</td></tr><tr><th>precision</th><td>");
    rx_html_text(f, r->precision);
    fprintf(f, "</td></tr><tr><th>plugin</th><td>");
    rx_html_text(f, r->plugin_version);
    fprintf(f, "</td></tr><tr><th>set</th><td>");
    rx_html_text(f, r->set_path);
    fprintf(f, " (%s layout, %d product%s)</td></tr><tr><th>parts</th><td>%d in total, %d scored "
               "(%d now, %d from the cache)</td></tr><tr><th>time per part</th><td>%.1f ms (plugin "
               "tool_process)</td></tr><tr><th>run</th><td>%s, %.1f s</td></tr>"
               "<tr><th>rules</th><td>false-reject target %.3g %%, image rule %s, escape cost %.3g false rejects</td></tr></table>\n",
            r->set.layout, r->set.n, r->set.n == 1 ? "" : "s", r->total_parts, nscored, r->scored_now,
            r->from_cache, mpp, r->started, r->wall_s, r->frr_target * 100, r->image_rule, r->cost_escape);
    if (r->set.n > 1) {
        fprintf(f, "<h2>Mean over products</h2>\n<table class=\"metrics\"><tr><th>metric</th><th>mean</th>");
        for (int pi = 0; pi < r->set.n; pi++) {
            fprintf(f, "<th>");
            rx_html_text(f, r->prod[pi].set->name);
            fprintf(f, "</th>");
        }
        fprintf(f, "</tr>\n");
        for (size_t m = 0; m < N_METRICS; m++) {
            if (METRICS[m].proto && !(r->protocols & METRICS[m].proto))
                continue;
            fprintf(f, "<tr><td>%s</td>", METRICS[m].label);
            cell(f, mean_over(r, METRICS[m].g));
            for (int pi = 0; pi < r->set.n; pi++)
                cell(f, METRICS[m].g(&r->prod[pi]));
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
    }
    for (int pi = 0; pi < r->set.n; pi++) {
        const cal_product *P = &r->prod[pi];
        fprintf(f, "<h2 id=\"p%d\">Product ", pi);
        rx_html_text(f, P->set->name);
        fprintf(f, "</h2>\n<table class=\"counts\"><tr><th>good parts</th><td>%d (%d scored)</td></tr>"
                   "<tr><th>bad parts</th><td>%d (%d scored, %d with masks)</td></tr>"
                   "<tr><th>left out</th><td>%d</td></tr></table>\n",
                P->n_good, P->n_scored_good, P->n_bad, P->n_scored_bad, P->n_masks, P->n_problems);
        if (P->n_scored_good < P->needed_95)
            fprintf(f, "<p class=\"warn\">%d good parts cannot support a %.3g %% false-reject rate: "
                       "%d are needed to observe it at all and %d to show it with 95 %% confidence.</p>\n",
                    P->n_scored_good, r->frr_target * 100, P->needed_resolve, P->needed_95);
        fprintf(f, "<h3>Thresholds</h3>\n<table class=\"thresholds\"><tr><th>key</th><th>was</th><th>now</th><th>how it was chosen</th></tr>\n");
        fprintf(f, "<tr><td>thresholds.image</td><td>%.6g</td><td><b>%.6g</b></td><td>", P->old.image, P->chosen.image);
        rx_html_text(f, P->image_why);
        fprintf(f, "</td></tr>\n<tr><td>thresholds.pixel</td><td>%.6g</td><td><b>%.6g</b></td><td>", P->old.pixel, P->chosen.pixel);
        rx_html_text(f, P->pixel_why);
        fprintf(f, "</td></tr>\n<tr><td>thresholds.min_region_area</td><td>%d</td><td><b>%d</b></td><td>", P->old.min_area, P->chosen.min_area);
        rx_html_text(f, P->area_why);
        fprintf(f, "</td></tr>\n");
        for (int k = 1; k < r->n_classes; k++)
            if (P->chosen.type[k] > 0 || P->old.type[k] > 0) {
                fprintf(f, "<tr><td>defects &quot;");
                rx_html_text(f, r->class_name[k]);
                fprintf(f, "&quot; pixel_threshold</td><td>");
                if (P->old.type[k] > 0)
                    fprintf(f, "%.6g", P->old.type[k]);
                else
                    fprintf(f, "-");
                fprintf(f, "</td><td><b>");
                if (P->chosen.type[k] > 0)
                    fprintf(f, "%.6g", P->chosen.type[k]);
                else
                    fprintf(f, "- (thresholds.pixel)");
                fprintf(f, "</b></td><td>");
                rx_html_text(f, P->type_why);
                fprintf(f, "</td></tr>\n");
            }
        fprintf(f, "</table>\n<p>Image threshold candidates: false-reject target %s%.6g, best F1 ",
                P->img_frr >= 0 ? "" : "n/a ", P->img_frr);
        if (P->img_f1 >= 0)
            fprintf(f, "%.6g", P->img_f1);
        else
            fprintf(f, "n/a (needs bad parts)");
        fprintf(f, ", least cost ");
        if (P->img_cost >= 0)
            fprintf(f, "%.6g", P->img_cost);
        else
            fprintf(f, "n/a (needs bad parts)");
        fprintf(f, "; the recipe gets the <b>%s</b> one. Decisions on these parts: <b>%d</b> false rejects of %d good "
                   "(%d by the score alone), <b>%d</b> escapes of %d bad; with the old values %d and %d.</p>\n",
                P->image_rule, P->fr_new, P->n_scored_good, P->fr_new_score, P->esc_new, P->n_scored_bad,
                P->fr_old, P->esc_old);
        /* plots */
        double *gs = malloc(sizeof(double) * (size_t)(P->set->n + 1)), *bs = malloc(sizeof(double) * (size_t)(P->set->n + 1));
        double *gm = malloc(sizeof(double) * (size_t)(P->set->n + 1)), *bm = malloc(sizeof(double) * (size_t)(P->set->n + 1));
        int ng = 0, nb = 0;
        for (int i = 0; gs && bs && gm && bm && i < P->set->n; i++)
            if (P->parts[i].scored) {
                if (P->set->parts[i].bad) {
                    bm[nb] = P->parts[i].map_max;
                    bs[nb++] = P->parts[i].score;
                } else {
                    gm[ng] = P->parts[i].map_max;
                    gs[ng++] = P->parts[i].score;
                }
            }
        fprintf(f, "<div class=\"plots\">\n");
        tline il[5] = { { P->old.image, "old", "#777", 1 }, { P->img_frr, "FRR", "#8e44ad", 1 },
                        { P->img_f1, "F1", "#16a085", 1 }, { P->img_cost, "cost", "#d35400", 1 },
                        { P->chosen.image, "chosen", "#000", 0 } };
        if (gs && bs)
            svg_hist(f, "Image scores of good and bad parts", "image score", gs, ng, bs, nb, il, 5);
        tline pl[2] = { { P->old.pixel, "old pixel", "#777", 1 }, { P->chosen.pixel, "chosen pixel", "#000", 0 } };
        if (gm && bm)
            svg_hist(f, "Highest anomaly-map value per part", "map maximum (0..4)", gm, ng, bm, nb, pl, 2);
        svg_curve(f, "Image ROC", "false-positive rate (good parts NG)", "true-positive rate (bad parts NG)",
                  P->roc_x, P->roc_y, P->roc_n, 1);
        svg_curve(f, "Image precision-recall", "recall", "precision", P->pr_x, P->pr_y, P->pr_n, 0);
        fprintf(f, "</div>\n");
        free(gs), free(bs), free(gm), free(bm);
        /* metrics */
        fprintf(f, "<h3>Metrics</h3>\n<table class=\"metrics\"><tr><th>metric</th><th>value</th></tr>\n");
        for (size_t m = 0; m < N_METRICS; m++) {
            if (METRICS[m].proto && !(r->protocols & METRICS[m].proto))
                continue;
            fprintf(f, "<tr><td>%s</td>", METRICS[m].label);
            cell(f, METRICS[m].g(P));
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
        /* per defect type */
        fprintf(f, "<h3>Per defect type</h3>\n<table class=\"types\"><tr><th>type (labelled)</th><th>recipe class</th>"
                   "<th>parts</th><th>NG now</th><th>escapes</th><th>AUROC native</th><th>AP native</th><th>F1 native</th>"
                   "<th>AUROC 518</th><th>AP 518</th><th>F1 518</th></tr>\n");
        for (int i = 0; i < P->set->n; i++) {
            const char *t = P->set->parts[i].type;
            if (!P->set->parts[i].bad)
                continue;
            int seen = 0;
            for (int j = 0; j < i; j++)
                seen |= P->set->parts[j].bad && ((t && P->set->parts[j].type && !strcmp(t, P->set->parts[j].type)) ||
                                                 (!t && !P->set->parts[j].type));
            if (seen)
                continue;
            int cnt = 0, ngd = 0, esc_ = 0;
            for (int j = i; j < P->set->n; j++)
                if (P->set->parts[j].bad && ((t && P->set->parts[j].type && !strcmp(t, P->set->parts[j].type)) ||
                                             (!t && !P->set->parts[j].type)) && P->parts[j].scored) {
                    cnt++;
                    ngd += P->parts[j].ng_new;
                    esc_ += !P->parts[j].ng_new;
                }
            int k = P->parts[i].class_id;
            fprintf(f, "<tr><td>");
            rx_html_text(f, t ? t : "(none)");
            fprintf(f, "</td><td>");
            rx_html_text(f, k >= 1 ? r->class_name[k] : "(no match)");
            fprintf(f, "</td><td>%d</td><td>%d</td><td>%d</td>", cnt, ngd, esc_);
            cm_value u = { 0, "no matching recipe class" };
            cell(f, k >= 1 ? P->native.class_auroc[k] : u);
            cell(f, k >= 1 ? P->native.class_ap[k] : u);
            cell(f, k >= 1 ? P->native.class_f1[k] : u);
            cell(f, k >= 1 ? P->ref.class_auroc[k] : u);
            cell(f, k >= 1 ? P->ref.class_ap[k] : u);
            cell(f, k >= 1 ? P->ref.class_f1[k] : u);
            fprintf(f, "</tr>\n");
        }
        fprintf(f, "</table>\n");
        /* thumbnails */
        fprintf(f, "<h3>False rejects and escapes at the chosen thresholds</h3>\n");
        if (!P->n_thumbs)
            fprintf(f, "<p>None: every good part is OK and every bad part NG.</p>\n");
        fprintf(f, "<div class=\"thumbs\">\n");
        for (int t = 0; t < P->n_thumbs; t++) {
            const cal_thumb *th = &P->thumbs[t];
            const cal_part *pp = &P->parts[th->part];
            fprintf(f, "<div class=\"thumb%s\"><img alt=\"%s\" src=\"data:image/png;base64,%s\"><b>%s</b><br>",
                    th->what[0] == 'e' ? " escape" : "", th->what, th->png_b64, th->what);
            rx_html_text(f, P->set->parts[th->part].name);
            fprintf(f, "<br>score %.4f, map max %.3f, %d region%s</div>\n", pp->score, pp->map_max,
                    pp->regions_new, pp->regions_new == 1 ? "" : "s");
        }
        fprintf(f, "</div>\n<p class=\"note\">Red: pixels over the chosen pixel threshold; yellow outline: the "
                   "ground-truth mask.</p>\n");
        /* left out */
        if (P->n_problems) {
            fprintf(f, "<h3>Left out (unreadable or mismatched)</h3>\n<table class=\"problems\"><tr><th>part</th><th>why</th></tr>\n");
            for (int i = 0; i < P->set->n; i++)
                if (P->parts[i].problem) {
                    fprintf(f, "<tr><td>");
                    rx_html_text(f, P->set->parts[i].name);
                    fprintf(f, "</td><td>");
                    rx_html_text(f, P->parts[i].problem);
                    fprintf(f, "</td></tr>\n");
                }
            fprintf(f, "</table>\n");
        }
        fprintf(f, "<h3>Calibrated recipe: ");
        rx_html_text(f, P->recipe_out);
        fprintf(f, "</h3>\n<pre>");
        rx_html_text(f, P->recipe_text);
        fprintf(f, "</pre>\n");
    }
    fprintf(f, "<h2>How the numbers are computed</h2>\n<p class=\"note\">Image AUROC, AP and max-F1 over "
               "the parts' image scores (bad = positive), ties counted as scikit-learn does. Pixel AUROC over every pixel of "
               "every good part and every bad part with a mask. AUPRO: 200 thresholds between the map minimum and "
               "maximum, per-region overlap (8-connected ground-truth regions), FPR below 0.3 rescaled to [0, 1], "
               "trapezoidal area. Reference protocol: maps resampled to 518 x 518 (bilinear, align corners), masks "
               "resized bilinearly (Pillow) and thresholded at 0.5. Per-type metrics: class 0 scores 4 - map, class k "
               "scores the map where the plugin's per-pixel type is k (0 elsewhere); predicted class = the type where "
               "the map passes the chosen threshold, else normal. A metric without a value for its input says "
               "&quot;undefined&quot; (hover for the reason). Mean over products skips undefined values.</p>\n"
               "</body>\n</html>\n");
    return ferror(f) | fclose(f) ? -1 : 0;
}
