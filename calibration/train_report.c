/* insp-train's report: report.json (every number) and report.html (one file, inline CSS and
 * SVG: the loss per step and per epoch, the validation metrics per epoch; no script, no link). */
#include "train_cmd.h"
#include "report_text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void jnum(FILE *f, double v)
{
    if (v < 0 || !isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.9g", v);
}

int tc_write_json(const tc_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("{\n  \"recipe\": ", f);
    rx_json_string(f, r->recipe);
    fputs(",\n  \"set\": ", f);
    rx_json_string(f, r->set);
    fputs(",\n  \"initial_weights\": ", f);
    rx_json_string(f, r->init);
    fputs(",\n  \"weights\": ", f);
    if (r->out_weights)
        rx_json_string(f, r->out_weights);
    else
        fputs("null", f);
    fputs(",\n  \"schedule\": ", f);
    rx_json_string(f, r->schedule_text);
    fputs(",\n  \"states\": ", f);
    rx_json_string(f, r->states_text);
    fprintf(f, ",\n  \"batch\": %d, \"epochs\": %d, \"input_size\": %d, \"lr\": %.9g, "
            "\"seed\": %llu,\n  \"train_parts\": %d, \"validation_parts\": %d, "
            "\"steps_per_epoch\": %d, \"seconds_per_step\": %.6g, \"stopped\": %s,\n",
            r->batch, r->epochs, r->image_size, r->lr, (unsigned long long)r->seed, r->n_train,
            r->n_val, r->steps_per_epoch, r->seconds_per_step, r->stopped ? "true" : "false");
    fputs("  \"steps\": [", f);
    for (int i = 0; i < r->n_steps; i++) {
        fprintf(f, "%s\n    {\"epoch\": %.6g, \"total\": ", i ? "," : "", r->steps[i].epoch);
        jnum(f, r->steps[i].total);
        fputs(", \"local\": ", f);
        jnum(f, r->steps[i].local);
        fputs(", \"image_ce\": ", f);
        jnum(f, r->steps[i].image_ce);
        fputc('}', f);
    }
    fputs("\n  ],\n  \"validation\": [", f);
    for (int i = 0; i < r->n_val_rows; i++) {
        fprintf(f, "%s\n    {\"after_epoch\": %d, \"image_auroc\": ", i ? "," : "",
                (int)r->val[i].epoch);
        jnum(f, r->val[i].image_auroc);
        fputs(", \"pixel_auroc\": ", f);
        jnum(f, r->val[i].pixel_auroc);
        fputs(", \"aupro\": ", f);
        jnum(f, r->val[i].aupro);
        fputc('}', f);
    }
    fputs("\n  ],\n  \"left_out\": [", f);
    for (int i = 0; i < r->n_skipped_lines; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        rx_json_string(f, r->skipped[i]);
    }
    fputs("\n  ]\n}\n", f);
    return fclose(f) ? -1 : 0;
}

#define W 640
#define H 260
#define ML 56
#define MR 16
#define MT 24
#define MB 36

/* One SVG chart of up to three series sharing x: points (x[i], y[k][i]), negative = missing. */
static void chart(FILE *f, const char *title, const char *xl, const double *x, int n,
                  const double *const *y, const char *const *names, const char *const *colours,
                  int series, int fixed01)
{
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (n) {
        x0 = x1 = x[0];
        for (int i = 0; i < n; i++) {
            x0 = fmin(x0, x[i]);
            x1 = fmax(x1, x[i]);
        }
    }
    if (!fixed01) {
        y0 = INFINITY;
        y1 = -INFINITY;
        for (int k = 0; k < series; k++)
            for (int i = 0; i < n; i++)
                if (y[k][i] >= 0) {
                    y0 = fmin(y0, y[k][i]);
                    y1 = fmax(y1, y[k][i]);
                }
        if (!(y1 > y0)) {
            y0 = isfinite(y0) ? y0 - 0.5 : 0;
            y1 = y0 + 1;
        }
        y0 = fmax(0, y0 - 0.05 * (y1 - y0));
    }
    if (!(x1 > x0))
        x1 = x0 + 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\"><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>", W, H, W, H,
            W, H);
    fprintf(f, "<text x=\"%d\" y=\"16\" font-size=\"13\">", ML);
    rx_html_text(f, title);
    fputs("</text>", f);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>", ML, H - MB,
            W - MR, H - MB);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>", ML, MT, ML,
            H - MB);
    for (int t = 0; t <= 4; t++) {
        double v = y0 + (y1 - y0) * t / 4;
        double py = H - MB - (H - MT - MB) * (double)t / 4;
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>"
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>", ML - 4,
                py + 3, v, ML + 1, py, W - MR, py);
        double vx = x0 + (x1 - x0) * t / 4;
        double px = ML + (W - ML - MR) * (double)t / 4;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.3g</text>",
                px, H - MB + 14, vx);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">", (W + ML) / 2,
            H - 6);
    rx_html_text(f, xl);
    fputs("</text>", f);
    for (int k = 0; k < series; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                colours[k]);
        for (int i = 0; i < n; i++)
            if (y[k][i] >= 0)
                fprintf(f, "%.1f,%.1f ", ML + (W - ML - MR) * (x[i] - x0) / (x1 - x0),
                        H - MB - (H - MT - MB) * (y[k][i] - y0) / (y1 - y0));
        fputs("\"/>", f);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"%s\">", W - MR - 150,
                MT + 12 + 14 * k, colours[k]);
        rx_html_text(f, names[k]);
        fputs("</text>", f);
    }
    fputs("</svg>\n", f);
}

static void cell(FILE *f, double v)
{
    if (v < 0)
        fputs("<td>&ndash;</td>", f);
    else
        fprintf(f, "<td>%.4f</td>", v);
}

int tc_write_html(const tc_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>insp-train report</title>"
          "<style>body{font-family:sans-serif;margin:24px;max-width:900px}td,th{padding:2px 10px;"
          "text-align:right}th{background:#eee}table{border-collapse:collapse}</style></head>"
          "<body>\n<h1>DAPO training</h1>\n<p>", f);
    fputs("Recipe <code>", f);
    rx_html_text(f, r->recipe);
    fputs("</code>, set <code>", f);
    rx_html_text(f, r->set);
    fputs("</code>, starting weights <code>", f);
    rx_html_text(f, r->init);
    fputs("</code>.<br>Schedule ", f);
    rx_html_text(f, r->schedule_text);
    fprintf(f, ", batch %d, lr %g, seed %llu, input %d px; %d parts trained on, %d held out for "
            "validation, %d left out; %.3g s per step.<br>States: normal, ", r->batch, r->lr,
            (unsigned long long)r->seed, r->image_size, r->n_train, r->n_val, r->n_skipped,
            r->seconds_per_step);
    rx_html_text(f, r->states_text);
    fputs(".</p>\n", f);
    if (r->stopped)
        fputs("<p><b>Stopped before the end</b>: the same command resumes from the "
              "checkpoint.</p>\n", f);
    else if (r->out_weights) {
        fputs("<p>Weights: <code>", f);
        rx_html_text(f, r->out_weights);
        fputs("</code></p>\n", f);
    }
    /* loss per step */
    static double xs[4096], tot[4096], loc[4096], ce[4096];
    int n = r->n_steps < 4096 ? r->n_steps : 4096;
    int stride = r->n_steps > 4096 ? (r->n_steps + 4095) / 4096 : 1;
    n = 0;
    for (int i = 0; i < r->n_steps && n < 4096; i += stride, n++) {
        xs[n] = r->steps[i].epoch;
        tot[n] = r->steps[i].total;
        loc[n] = r->steps[i].local;
        ce[n] = r->steps[i].image_ce;
    }
    const double *ys[3] = { tot, loc, ce };
    const char *names[3] = { "total", "local (x4 focal + dice)", "image cross-entropy" };
    const char *col[3] = { "#000", "#1f77b4", "#d62728" };
    fputs("<h2>Loss</h2>\n", f);
    chart(f, "loss per step", "epoch", xs, n, ys, names, col, 3, 0);
    /* validation */
    static double vx[1024], ia[1024], pa[1024], pr[1024];   /* static: stack size */
    int nv = r->n_val_rows < 1024 ? r->n_val_rows : 1024;
    for (int i = 0; i < nv; i++) {
        vx[i] = r->val[i].epoch;
        ia[i] = r->val[i].image_auroc;
        pa[i] = r->val[i].pixel_auroc;
        pr[i] = r->val[i].aupro;
    }
    const double *vy[3] = { ia, pa, pr };
    const char *vn[3] = { "image AUROC", "pixel AUROC", "AUPRO" };
    fputs("<h2>Validation</h2>\n", f);
    chart(f, "validation metrics per epoch (0 = starting weights)", "epoch", vx, nv, vy, vn, col,
          3, 1);
    fputs("<table><tr><th>after epoch</th><th>image AUROC</th><th>pixel AUROC</th>"
          "<th>AUPRO</th></tr>\n", f);
    for (int i = 0; i < nv; i++) {
        fprintf(f, "<tr><td>%d</td>", (int)vx[i]);
        cell(f, ia[i]);
        cell(f, pa[i]);
        cell(f, pr[i]);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (r->n_skipped_lines) {
        fputs("<h2>Parts left out</h2>\n<ul>\n", f);
        for (int i = 0; i < r->n_skipped_lines; i++) {
            fputs("<li>", f);
            rx_html_text(f, r->skipped[i]);
            fputs("</li>\n", f);
        }
        fputs("</ul>\n", f);
    }
    fputs("</body></html>\n", f);
    return fclose(f) ? -1 : 0;
}
