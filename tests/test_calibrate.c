/* insp-calibrate end to end, as a user runs it, on a labelled synthetic set from
 * make_demo_images --labelled (MVTec AD layout and the same parts as a CSV list) with the golden
 * tiny model: the run succeeds and lists the broken parts it left out; every written recipe loads
 * in the plugin and reproduces the decisions the report gives for every part; the JSON metrics
 * equal an independent computation here (pair counting and rank sums on the plugin's own
 * outputs, not the calibration code); the cache makes a second run over the CSV score nothing
 * and a run with half the cache removed score only that half; the HTML is well formed, has its
 * plots and loads nothing from elsewhere. $DAPO_CALIBRATE names the program (the sanitizer run
 * uses its own build), $DAPO_PLUGIN the plugin. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imageio.h"
#include "golden.h"
#include "insp_tool.h"
#include "json.h"
#include "loader.h"
#include "test_cmd.h"

static char dir[128];

static dp_json *load_json(const char *path)
{
    size_t n;
    char *t = tsup_slurp(path, &n);
    dp_json *j;
    dp_err e;
    ck_assert_msg(dp_json_parse(t, n, path, &j, &e) == DP_OK, "%s", e.msg);
    free(t);
    return j;
}

static double num(const dp_json *o, const char *path)
{
    const dp_json *v = dp_json_path(o, path);
    ck_assert_msg(v && v->type == DP_JSON_NUMBER, "JSON: %s is not a number", path);
    return v->number;
}

/* Independent AUROC: count pairs. */
static double auroc_pairs(const float *s, const int *lab, int n)
{
    double twice = 0, np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        np += lab[i];
        nn += !lab[i];
        if (lab[i])
            for (int j = 0; j < n; j++)
                if (!lab[j])
                    twice += s[i] > s[j] ? 2 : s[i] == s[j] ? 1 : 0;
    }
    return twice / (2 * np * nn);
}

/* Independent AUROC over many values: Mann-Whitney with average ranks (qsort). */
typedef struct sv { float v; int pos; } sv;
static int cmp_sv(const void *a, const void *b)
{
    float x = ((const sv *)a)->v, y = ((const sv *)b)->v;
    return x < y ? -1 : x > y;
}
static double auroc_ranks(sv *a, size_t n)
{
    qsort(a, n, sizeof *a, cmp_sv);
    double rank_sum = 0, np = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && a[j].v == a[i].v)
            j++;
        double avg = (i + 1 + j) / 2.0;   /* ranks i+1 .. j */
        for (size_t k = i; k < j; k++)
            if (a[k].pos) {
                rank_sum += avg;
                np++;
            }
        i = j;
    }
    double nn = (double)n - np;
    return (rank_sum - np * (np + 1) / 2) / (np * nn);
}

/* A small well-formedness check: every element closed in order (void HTML elements and
 * self-closed SVG elements aside), nothing loaded from elsewhere. */
static void check_html(const char *h)
{
    ck_assert(strncmp(h, "<!DOCTYPE html>", 15) == 0);
    ck_assert(strstr(h, "<script") == NULL && strstr(h, "src=\"http") == NULL &&
              strstr(h, "href=") == NULL && strstr(h, "url(") == NULL && strstr(h, "@import") == NULL);
    char stack[64][16];
    int depth = 0;
    for (const char *p = h; (p = strchr(p, '<')); p++) {
        if (p[1] == '!')
            continue;
        int close = p[1] == '/';
        const char *q = p + 1 + close;
        char name[16];
        int n = 0;
        while ((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= '0' && q[n] <= '9'))
            n++;
        ck_assert_msg(n > 0 && n < 16, "bad tag at ...%.40s", p);
        memcpy(name, q, (size_t)n);
        name[n] = 0;
        const char *end = strchr(q, '>');
        ck_assert(end);
        if (close) {
            ck_assert_msg(depth > 0 && !strcmp(stack[depth - 1], name), "</%s> closes <%s>", name,
                          depth ? stack[depth - 1] : "nothing");
            depth--;
        } else if (end[-1] != '/' && strcmp(name, "meta") && strcmp(name, "img") && strcmp(name, "br")) {
            ck_assert(depth < 64);
            strcpy(stack[depth++], name);
        }
    }
    ck_assert_msg(depth == 0, "%d elements left open (<%s>)", depth, depth ? stack[depth - 1] : "");
}

static int count(const char *h, const char *what)
{
    int n = 0;
    for (const char *p = h; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

START_TEST(calibrate_end_to_end)
{
    snprintf(dir, sizeof dir, "/tmp/dp_calib_XXXXXX");
    ck_assert(mkdtemp(dir));
    const char *build = tsup_env_or("DAPO_BUILD", "build");
    const char *prog = tsup_env_or("DAPO_CALIBRATE", "build/insp-calibrate");
    const char *plugin = tsup_env_or("DAPO_PLUGIN", "build/libdapo_inspect.so");
    char cmd[4096], path[1024];
    snprintf(cmd, sizeof cmd, "%s/make_demo_images --labelled %s/set --good 4 --bad 3 --size 128x96 >/dev/null",
             build, dir);
    ck_assert_int_eq(tsup_sh(cmd), 0);
    /* a recipe for the golden tiny model with the generator's defect names */
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    tsup_write(path, "recipe_version: 1\nproduct: tiny\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
               "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 112\ndefects:\n  - scratch\n  - hole\n  - stain\n"
               "thresholds:\n  image: 0.5\n  pixel: 2.0\nthreads: 2\n",
               golden_dir(), golden_dir(), models_dir());
    /* one unreadable image and one mask of the wrong size: listed, the run goes on */
    snprintf(path, sizeof path, "%s/set/metal/test/good/999.png", dir);
    tsup_write(path, "not a png");
    uint8_t px[3 * 10 * 10] = { 0 };
    char err[600];
    snprintf(path, sizeof path, "%s/set/fabric/ground_truth/hole/000_mask.png", dir);
    ck_assert(io_write_png_rgb8(path, px, 10, 10, err, sizeof err) == 0);

    snprintf(cmd, sizeof cmd, "%s --plugin %s --recipe %s/tiny.yaml --out %s/out --cache %s/cache "
             "--recipe-dir %s/rec %s/set >%s/stdout.txt 2>%s/stderr.txt", prog, plugin, dir, dir, dir,
             dir, dir, dir, dir);
    int rc = tsup_sh(cmd);
    size_t n;
    char *log = tsup_slurp(strcat(strcpy(path, dir), "/stderr.txt"), &n);
    ck_assert_msg(rc == 1, "insp-calibrate exit %d (1 expected: parts left out): %s", rc, log);
    free(log);
    char *out = tsup_slurp(strcat(strcpy(path, dir), "/stdout.txt"), &n);
    ck_assert(strstr(out, "999.png") && strstr(out, "left out"));
    ck_assert(strstr(out, "thresholds.image"));
    printf("%s", out);
    free(out);

    snprintf(path, sizeof path, "%s/out/report.json", dir);
    dp_json *J = load_json(path);
    ck_assert_int_eq((int)num(J, "parts.total"), 3 * 7 + 1);
    ck_assert_int_eq((int)num(J, "parts.scored"), 3 * 7);
    const dp_json *prods = dp_json_get(J, "products");
    ck_assert(prods && prods->type == DP_JSON_ARRAY && prods->count == 3);

    /* independent computation through the plugin, and the written recipes' decisions */
    insp_module mod;
    ck_assert_msg(insp_loader_open(plugin, &mod, err, sizeof err) == INSP_OK, "%s", err);
    const insp_api *A = mod.api;
    insp_tool *orig;
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    ck_assert_msg(A->tool_create(NULL, path, &orig, err, sizeof err) == INSP_OK, "%s", err);
    for (size_t p = 0; p < prods->count; p++) {
        const dp_json *P = &prods->items[p];
        const dp_json *parts = dp_json_get(P, "parts");
        const char *recipe = dp_json_get(P, "recipe_written")->string;
        insp_tool *cal;
        ck_assert_msg(A->tool_create(NULL, recipe, &cal, err, sizeof err) == INSP_OK, "%s: %s", recipe, err);
        char buf[64];
        ck_assert(A->tool_get_param(cal, "image_threshold", buf, sizeof buf, err, sizeof err) == INSP_OK);
        ck_assert_msg(fabs(strtod(buf, NULL) - num(P, "thresholds.chosen.image")) < 1e-5, "%s", buf);
        float scores[16];
        int labels[16], ns = 0;
        sv *pix = NULL;
        size_t npix = 0;
        for (size_t i = 0; i < parts->count; i++) {
            const dp_json *q = &parts->items[i];
            if (!dp_json_get(q, "score"))
                continue;   /* left out */
            const char *img = dp_json_get(q, "image")->string;
            int bad = dp_json_get(q, "bad")->boolean;
            io_image im;
            ck_assert(io_read_image(img, &im, err, sizeof err) == 0);
            insp_image v;
            memset(&v, 0, sizeof v);
            v.struct_size = sizeof v;
            v.width = im.width, v.height = im.height, v.channels = im.channels, v.pixel = INSP_PIX_U8;
            v.row_stride = (ptrdiff_t)im.width * im.channels;
            v.data = im.data;
            insp_result *r0, *r1;
            ck_assert(A->tool_process(orig, &v, &r0, err, sizeof err) == INSP_OK);
            ck_assert(A->tool_process(cal, &v, &r1, err, sizeof err) == INSP_OK);
            /* the calibrated recipe gives the decision the report says */
            ck_assert_msg((A->result_decision(r1) != INSP_DECISION_OK) == dp_json_get(q, "ng")->boolean,
                          "%s: plugin decision differs from the report", img);
            ck_assert(fabs(A->result_score(r0) - num(q, "score")) < 1e-6);
            scores[ns] = A->result_score(r0);
            labels[ns++] = bad;
            /* pixels of good parts and bad parts with a usable mask */
            const dp_json *hm = dp_json_get(q, "has_mask");
            if (!bad || (hm && hm->boolean)) {
                insp_image am;
                memset(&am, 0, sizeof am);
                am.struct_size = sizeof am;
                ck_assert(A->result_anomaly_map(r0, &am) == INSP_OK);
                io_image mk = { 0 };
                if (bad) {
                    char mp[1024];
                    snprintf(mp, sizeof mp, "%s", img);
                    char *t = strstr(mp, "/test/");
                    ck_assert(t);
                    char type[64], file[64];
                    ck_assert(sscanf(t, "/test/%63[^/]/%63[^.]", type, file) == 2);
                    snprintf(t, sizeof mp - (size_t)(t - mp), "/ground_truth/%s/%s_mask.png", type, file);
                    ck_assert(io_read_image(mp, &mk, err, sizeof err) == 0);
                }
                pix = realloc(pix, (npix + (size_t)am.width * am.height) * sizeof *pix);
                for (int y = 0; y < am.height; y++)
                    for (int x = 0; x < am.width; x++) {
                        float a = ((const float *)((const char *)am.data + y * am.row_stride))[x];
                        int on = bad && ((const uint8_t *)mk.data)[((size_t)y * mk.width + x) * mk.channels] != 0;
                        pix[npix++] = (sv){ a, on };
                    }
                io_image_free(&mk);
            }
            A->result_release(r0);
            A->result_release(r1);
            io_image_free(&im);
        }
        double want = auroc_pairs(scores, labels, ns);
        double got = num(P, "metrics.image_auroc");
        printf("  %s: image AUROC report %.6f, independent %.6f; ", dp_json_get(P, "name")->string, got, want);
        ck_assert(fabs(got - want) < 1e-9);
        double wpx = auroc_ranks(pix, npix), gpx = num(P, "metrics.native.pixel_auroc");
        printf("pixel AUROC report %.6f, independent %.6f over %zu pixels\n", gpx, wpx, npix);
        ck_assert(fabs(gpx - wpx) < 1e-9);
        free(pix);
        A->tool_destroy(cal);
    }
    A->tool_destroy(orig);
    insp_loader_close(&mod);
    /* the left-out parts are named in the JSON */
    snprintf(path, sizeof path, "%s/out/report.json", dir);
    size_t jn;
    char *jt = tsup_slurp(path, &jn);
    ck_assert(strstr(jt, "999.png") && strstr(jt, "does not match the image"));
    free(jt);

    /* HTML */
    snprintf(path, sizeof path, "%s/out/report.html", dir);
    char *html = tsup_slurp(path, &n);
    check_html(html);
    ck_assert_int_ge(count(html, "<svg"), 3 * 4);
    ck_assert_int_ge(count(html, "class=\"curve\""), 3 * 2);
    ck_assert_int_ge(count(html, "class=\"threshold\""), 3 * 3);
    ck_assert(strstr(html, "class=\"good\"") && strstr(html, "class=\"bad\""));
    ck_assert(strstr(html, "data:image/png;base64,") || strstr(html, "None: every good part"));
    ck_assert(strstr(html, "Per defect type") && strstr(html, "Mean over products"));
    free(html);
    dp_json_free(J);

    /* the same parts as a CSV, same cache: nothing is scored again, same numbers */
    snprintf(cmd, sizeof cmd, "%s --plugin %s --recipe %s/tiny.yaml --out %s/out2 --cache %s/cache "
             "--recipe-dir %s/rec2 -q --no-verify %s/set/labels.csv >/dev/null 2>&1", prog, plugin, dir, dir, dir, dir, dir);
    ck_assert_int_eq(tsup_sh(cmd), 1);
    snprintf(path, sizeof path, "%s/out2/report.json", dir);
    dp_json *J2 = load_json(path);
    ck_assert_int_eq((int)num(J2, "parts.scored_this_run"), 0);
    ck_assert_int_eq((int)num(J2, "parts.from_cache"), 21);
    snprintf(path, sizeof path, "%s/out/report.json", dir);
    J = load_json(path);
    for (int p = 0; p < 3; p++) {
        const dp_json *a = &dp_json_get(J, "products")->items[p];
        for (int q = 0; q < 3; q++) {
            const dp_json *b = &dp_json_get(J2, "products")->items[q];
            if (!strcmp(dp_json_get(a, "name")->string, dp_json_get(b, "name")->string)) {
                ck_assert(fabs(num(a, "metrics.image_auroc") - num(b, "metrics.image_auroc")) < 1e-12);
                ck_assert(fabs(num(a, "thresholds.chosen.image") - num(b, "thresholds.chosen.image")) < 1e-12);
            }
        }
    }
    dp_json_free(J2);
    dp_json_free(J);
    /* half the cache gone: only that half is scored again */
    snprintf(cmd, sizeof cmd, "cd %s/cache && ls *.bin | awk 'NR %% 2 == 1' | xargs rm -f", dir);
    ck_assert_int_eq(tsup_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s --plugin %s --recipe %s/tiny.yaml --out %s/out3 --cache %s/cache "
             "--recipe-dir %s/rec3 -q --no-verify %s/set >/dev/null 2>&1", prog, plugin, dir, dir, dir, dir, dir);
    ck_assert_int_eq(tsup_sh(cmd), 1);
    snprintf(path, sizeof path, "%s/out3/report.json", dir);
    J = load_json(path);
    ck_assert_int_eq((int)num(J, "parts.scored_this_run"), 11);
    ck_assert_int_eq((int)num(J, "parts.from_cache"), 10);
    dp_json_free(J);
    /* never over an existing recipe: a second run beside the first writes -2 names */
    snprintf(cmd, sizeof cmd, "%s --plugin %s --recipe %s/tiny.yaml --out %s/out4 --cache %s/cache "
             "--recipe-dir %s/rec -q --no-verify %s/set >/dev/null 2>&1", prog, plugin, dir, dir, dir, dir, dir);
    ck_assert_int_eq(tsup_sh(cmd), 1);
    snprintf(path, sizeof path, "%s/rec/tiny.metal.calibrated-2.yaml", dir);
    ck_assert(access(path, R_OK) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(tsup_sh(cmd), 0);
}
END_TEST

Suite *calibrate_suite(void)
{
    Suite *s = suite_create("calibrate");
    TCase *t = tcase_create("end_to_end");
    tcase_set_timeout(t, 900);
    tcase_add_test(t, calibrate_end_to_end);
    suite_add_tcase(s, t);
    return s;
}
