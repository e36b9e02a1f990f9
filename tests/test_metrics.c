/* The calibration metrics (calibration/metrics.c) against values computed by hand on small fixed
 * inputs: ties, a single class, empty masks, constant maps. Every expected value is worked out in
 * the comment above its check. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define EPS 1e-12

static void fill(cm_scores *s, const float *pos, int np, const float *neg, int nn)
{
    cm_scores_init(s);
    for (int i = 0; i < np; i++)
        ck_assert_int_eq(cm_scores_add(s, pos[i], 1), 0);
    for (int i = 0; i < nn; i++)
        ck_assert_int_eq(cm_scores_add(s, neg[i], 0), 0);
}

static void expect(cm_value v, double want, const char *what)
{
    ck_assert_msg(v.undefined == NULL, "%s: undefined (%s), expected %.12g", what,
                  v.undefined ? v.undefined : "", want);
    ck_assert_msg(fabs(v.value - want) < EPS, "%s = %.15g, expected %.15g", what, v.value, want);
}

static void expect_undefined(cm_value v, const char *what)
{
    ck_assert_msg(v.undefined != NULL, "%s: expected undefined, got %.15g", what, v.value);
    ck_assert(strlen(v.undefined) > 5);
}

/* pos {0.9, 0.6}, neg {0.8, 0.3}. Pairs pos > neg: 0.9>0.8, 0.9>0.3, 0.6>0.3 (0.6<0.8):
 * AUROC 3/4. Descending: 0.9 P (tp1 fp0: P 1, R .5), 0.8 N (R stays .5), 0.6 P (tp2 fp1:
 * P 2/3, R 1), 0.3 N: AP = .5*1 + .5*2/3 = 5/6. F1 at 0.9: 2/(2+0+1) = 2/3; at 0.8:
 * 2/(2+1+1) = .5; at 0.6: 4/(4+1+0) = .8; at 0.3: 4/6: max 0.8 at threshold 0.6. */
START_TEST(binary_basic)
{
    cm_scores s;
    fill(&s, (float[]){ 0.9f, 0.6f }, 2, (float[]){ 0.8f, 0.3f }, 2);
    expect(cm_auroc(&s), 0.75, "AUROC");
    expect(cm_ap(&s), 5.0 / 6.0, "AP");
    float thr = 0;
    expect(cm_max_f1(&s, &thr), 0.8, "max-F1");
    ck_assert_float_eq(thr, 0.6f);
    double *x, *y;
    size_t n;
    ck_assert_int_eq(cm_roc_curve(&s, &x, &y, &n), 0);
    /* (0,0), then per distinct score from the top: (0,.5) (.5,.5) (.5,1) (1,1) */
    const double fx[] = { 0, 0, .5, .5, 1 }, fy[] = { 0, .5, .5, 1, 1 };
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        ck_assert(fabs(x[i] - fx[i]) < EPS && fabs(y[i] - fy[i]) < EPS);
    free(x);
    free(y);
    ck_assert_int_eq(cm_pr_curve(&s, &x, &y, &n), 0);
    /* recall/precision per distinct score: (.5,1) (.5,.5) (1,2/3) (1,.5) */
    const double rx[] = { .5, .5, 1, 1 }, py[] = { 1, .5, 2.0 / 3, .5 };
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert(fabs(x[i] - rx[i]) < EPS && fabs(y[i] - py[i]) < EPS);
    free(x);
    free(y);
    cm_scores_free(&s);
}
END_TEST

/* Ties. pos {0.5, 0.7}, neg {0.5, 0.3}: pairs 0.5=0.5 (1/2), 0.5>0.3, 0.7>0.5, 0.7>0.3:
 * AUROC 3.5/4 = 0.875. AP: 0.7 P (P 1, R .5); 0.5 one P and one N together (tp2 fp1: P 2/3,
 * R 1); 0.3: AP = .5 + .5*2/3 = 5/6. F1: at 0.7: 2/3; at 0.5: 4/5; at 0.3: 4/6: max 0.8.
 * A pos and a neg at the same score are one point of the curves, never split. */
START_TEST(binary_ties)
{
    cm_scores s;
    fill(&s, (float[]){ 0.5f, 0.7f }, 2, (float[]){ 0.5f, 0.3f }, 2);
    expect(cm_auroc(&s), 0.875, "AUROC with a tie");
    expect(cm_ap(&s), 5.0 / 6.0, "AP with a tie");
    float thr;
    expect(cm_max_f1(&s, &thr), 0.8, "max-F1 with a tie");
    ck_assert_float_eq(thr, 0.5f);
    cm_scores_free(&s);
    /* every score equal (a constant score): AUROC 1/2; AP = precision at the only point = 2/5;
     * F1 = 2*2/(2*2+3+0) = 4/7 */
    fill(&s, (float[]){ 1, 1 }, 2, (float[]){ 1, 1, 1 }, 3);
    expect(cm_auroc(&s), 0.5, "AUROC of a constant score");
    expect(cm_ap(&s), 0.4, "AP of a constant score");
    expect(cm_max_f1(&s, NULL), 4.0 / 7.0, "max-F1 of a constant score");
    cm_scores_free(&s);
    /* perfect and reversed order; -0 and +0 are one value */
    fill(&s, (float[]){ 0.8f, 0.9f }, 2, (float[]){ 0.1f, 0.2f }, 2);
    expect(cm_auroc(&s), 1.0, "AUROC separated");
    expect(cm_ap(&s), 1.0, "AP separated");
    cm_scores_free(&s);
    fill(&s, (float[]){ 0.1f, -0.0f }, 2, (float[]){ 0.8f, 0.0f }, 2);
    /* pairs: 0.1<0.8, 0.1>0, -0<0.8, -0=0 (1/2): 1.5/4 */
    expect(cm_auroc(&s), 0.375, "AUROC with -0 and +0");
    cm_scores_free(&s);
}
END_TEST

/* One class only: AUROC has no value either way; AP and F1 need positives; with positives only,
 * precision is 1 at every threshold, so AP = 1 and max-F1 = 1 (scikit-learn agrees). */
START_TEST(binary_single_class)
{
    cm_scores s;
    fill(&s, NULL, 0, (float[]){ 0.2f, 0.4f }, 2);
    expect_undefined(cm_auroc(&s), "AUROC without positives");
    expect_undefined(cm_ap(&s), "AP without positives");
    expect_undefined(cm_max_f1(&s, NULL), "max-F1 without positives");
    double *x, *y;
    size_t n;
    ck_assert_int_eq(cm_roc_curve(&s, &x, &y, &n), -1);
    cm_scores_free(&s);
    fill(&s, (float[]){ 0.2f, 0.4f }, 2, NULL, 0);
    expect_undefined(cm_auroc(&s), "AUROC without negatives");
    expect(cm_ap(&s), 1.0, "AP without negatives");
    expect(cm_max_f1(&s, NULL), 1.0, "max-F1 without negatives");
    cm_scores_free(&s);
    fill(&s, NULL, 0, NULL, 0);
    expect_undefined(cm_auroc(&s), "AUROC of nothing");
    cm_scores_free(&s);
    /* NaN is left out and counted */
    fill(&s, (float[]){ NAN, 0.9f }, 2, (float[]){ 0.1f }, 1);
    ck_assert_uint_eq(s.nonfinite, 1);
    expect(cm_auroc(&s), 1.0, "AUROC without the NaN");
    cm_scores_free(&s);
    expect_undefined(cm_f1_counts(0, 0, 0), "F1 of nothing");
    expect(cm_f1_counts(1, 1, 0), 2.0 / 3.0, "F1 counts");
}
END_TEST

/* Sorting many values (radix passes, negative values, duplicates): AUROC equals the pair count
 * done the slow way. */
START_TEST(binary_many)
{
    cm_scores s;
    cm_scores_init(&s);
    enum { N = 3000 };
    static float v[N];
    static int lab[N];
    unsigned x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = (float)((int)(x >> 16) % 401 - 200) / 50.0f;   /* many ties, negatives */
        x = x * 1103515245u + 12345u;
        lab[i] = (x >> 20) % 3 == 0;
        ck_assert_int_eq(cm_scores_add(&s, v[i], lab[i]), 0);
    }
    double twice = 0, np = 0, nn = 0;
    for (int i = 0; i < N; i++) {
        np += lab[i];
        nn += !lab[i];
        if (!lab[i])
            continue;
        for (int j = 0; j < N; j++)
            if (!lab[j])
                twice += v[i] > v[j] ? 2 : v[i] == v[j] ? 1 : 0;
    }
    expect(cm_auroc(&s), twice / (2 * np * nn), "AUROC of 3000 values");
    for (size_t i = 1; i < s.np; i++)
        ck_assert(s.pos[i - 1] <= s.pos[i]);
    cm_scores_free(&s);
}
END_TEST

START_TEST(components_8_connected)
{
    /* 4 x 3:  1 0 0 1
     *         0 1 0 1
     *         0 0 0 0     diagonal neighbours join: 2 components, numbered in raster order */
    const uint8_t m[12] = { 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0 };
    int32_t lab[12];
    ck_assert_int_eq(cm_components(m, 4, 3, lab), 2);
    ck_assert(lab[0] == 1 && lab[5] == 1 && lab[3] == 2 && lab[7] == 2 && lab[1] == 0);
    const uint8_t z[4] = { 0 };
    ck_assert_int_eq(cm_components(z, 2, 2, lab), 0);
}
END_TEST

/* AUPRO by hand. One 12 x 1 map: ten normal pixels 0, .155, .255, ..., .955 and a two-pixel
 * region .905, 2.0 (mask 1). min 0, max 2: thresholds t_k = k/100, k = 0..199.
 * FPR(t) = #normals > t / 10: k <= 75: >= .3 (dropped); k 76..85: .2; k 86..95: .1; k >= 96: 0.
 * PRO(t) = #region > t / 2: k <= 90: 1; k >= 91: .5.
 * Kept points (rescaled x = FPR / .2): (1, 1) x10, (.5, 1) x5, (.5, .5) x5, (0, .5) x104.
 * Trapezoids: 1 -> .5 at PRO 1: .5; .5 -> .5: 0; .5 -> 0 at PRO .5: .25. AUPRO = .75.
 * Add a second image: one pixel, value .5, mask 1 (its own region). It is below every kept
 * threshold, so its PRO is 0 there and each region has one vote: the mean PRO halves, AUPRO .375. */
START_TEST(aupro_by_hand)
{
    float a[12] = { 0, .155f, .255f, .355f, .455f, .555f, .655f, .755f, .855f, .955f, .905f, 2.0f };
    uint8_t ma[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1 };
    float b[1] = { .5f };
    uint8_t mb[1] = { 1 };
    const float *maps[2] = { a, b };
    const uint8_t *masks[2] = { ma, mb };
    int w[2] = { 12, 1 }, h[2] = { 1, 1 };
    expect(cm_aupro(maps, masks, w, h, 1, 0.3), 0.75, "AUPRO one image");
    expect(cm_aupro(maps, masks, w, h, 2, 0.3), 0.375, "AUPRO two regions");
}
END_TEST

/* AUPRO has no value for: a constant map, empty masks, masks covering everything, and a map whose
 * kept thresholds all have the same FPR: 1 x 4 map 0, 1, 2, 3 with mask 0, 0, 1, 1: FPR is .5
 * below t = 1 and 0 above, so every kept point has FPR 0. */
START_TEST(aupro_undefined)
{
    float c[4] = { 1, 1, 1, 1 };
    uint8_t m[4] = { 0, 0, 1, 1 }, none[4] = { 0 }, all[4] = { 1, 1, 1, 1 };
    float r[4] = { 0, 1, 2, 3 };
    int w = 4, h = 1;
    const float *mc[1] = { c }, *mr[1] = { r };
    const uint8_t *km[1] = { m }, *kn[1] = { none }, *ka[1] = { all };
    expect_undefined(cm_aupro(mc, km, &w, &h, 1, 0.3), "AUPRO of a constant map");
    expect_undefined(cm_aupro(mr, kn, &w, &h, 1, 0.3), "AUPRO with empty masks");
    expect_undefined(cm_aupro(mr, ka, &w, &h, 1, 0.3), "AUPRO without normal pixels");
    expect_undefined(cm_aupro(mr, km, &w, &h, 1, 0.3), "AUPRO with one FPR");
    expect_undefined(cm_aupro(NULL, NULL, NULL, NULL, 0, 0.3), "AUPRO of no image");
    /* pixel AUROC of a constant map is 1/2, not undefined: every pair is a tie */
    cm_scores s;
    fill(&s, c, 2, c, 2);
    expect(cm_auroc(&s), 0.5, "pixel AUROC of a constant map");
    cm_scores_free(&s);
    /* pixel AUROC with empty masks: only one class */
    fill(&s, NULL, 0, r, 4);
    expect_undefined(cm_auroc(&s), "pixel AUROC with empty masks");
    cm_scores_free(&s);
}
END_TEST

/* §5.3 per-type metrics, 3 classes (0 normal, 1 scratch, 2 hole) + class 3 that never occurs:
 *   pixel  scores [c0, c1, c2, c3]   truth  pred
 *   p0     [3.0, 1.0, 0.5, 0]         0      0
 *   p1     [1.0, 2.5, 0.5, 0]         1      1
 *   p2     [1.0, 0.5, 2.0, 0]         1      2
 *   p3     [0.5, 0.5, 3.0, 0]         2      2
 * class 0: pos {3}, neg {1, 1, .5}: AUROC 1, AP 1.  class 2: pos {3}, neg {.5, .5, 2}: 1, 1.
 * class 1: pos {2.5, .5}, neg {1, .5}: pairs 2.5>1, 2.5>.5, .5<1, .5=.5: 2.5/4 = .625;
 *   AP: 2.5 P (P 1, R .5), 1 N, .5 P+N (tp 2, fp 2: P .5, R 1): .5 + .25 = .75.
 * class 3: no true pixel, never predicted: AUROC, AP, F1 undefined, left out of the means.
 * F1: class 0 tp1: 1; class 1 tp1 fn1: 2/3; class 2 tp1 fp1: 2/3.
 * Macro: AUROC (1 + .625 + 1)/3 = .875; AP (1 + .75 + 1)/3 = 11/12; F1 (1 + 2/3 + 2/3)/3 = 7/9. */
START_TEST(per_type_macro)
{
    cm_multi m;
    ck_assert_int_eq(cm_multi_init(&m, 4), 0);
    const float px[4][4] = { { 3, 1, .5f, 0 }, { 1, 2.5f, .5f, 0 }, { 1, .5f, 2, 0 }, { .5f, .5f, 3, 0 } };
    const int truth[4] = { 0, 1, 1, 2 }, pred[4] = { 0, 1, 2, 2 };
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(cm_multi_add(&m, px[i], truth[i], pred[i]), 0);
    cm_value au[4], ap[4], f1[4], mau, map, mf1;
    cm_multi_result(&m, au, ap, f1, &mau, &map, &mf1);
    expect(au[0], 1, "class 0 AUROC");
    expect(au[1], .625, "class 1 AUROC");
    expect(ap[1], .75, "class 1 AP");
    expect(au[2], 1, "class 2 AUROC");
    expect_undefined(au[3], "class 3 AUROC");
    expect_undefined(ap[3], "class 3 AP");
    expect_undefined(f1[3], "class 3 F1");
    expect(f1[0], 1, "class 0 F1");
    expect(f1[1], 2.0 / 3, "class 1 F1");
    expect(f1[2], 2.0 / 3, "class 2 F1");
    expect(mau, .875, "macro AUROC");
    expect(map, 11.0 / 12, "macro AP");
    expect(mf1, 7.0 / 9, "macro F1");
    cm_multi_free(&m);
    /* mean over products skips undefined ones */
    cm_value v[3] = { { .5, NULL }, { 0, "undefined" }, { 1, NULL } };
    size_t used;
    expect(cm_mean(v, 3, &used), .75, "mean over products");
    ck_assert_uint_eq(used, 2);
    expect_undefined(cm_mean(v + 1, 1, NULL), "mean of nothing defined");
}
END_TEST

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("by_hand");
    tcase_add_test(t, binary_basic);
    tcase_add_test(t, binary_ties);
    tcase_add_test(t, binary_single_class);
    tcase_add_test(t, binary_many);
    tcase_add_test(t, components_8_connected);
    tcase_add_test(t, aupro_by_hand);
    tcase_add_test(t, aupro_undefined);
    tcase_add_test(t, per_type_macro);
    suite_add_tcase(s, t);
    return s;
}
