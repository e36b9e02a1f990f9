/* Anomaly-detection metrics as the DAPO reference computes them (shared/spec/dapo.md §5.3-5.4,
 * the authors' metrics.py on scikit-learn and scikit-image), written out so that every value can
 * be checked by hand. Nothing here knows the plugin, a file or a recipe.
 *
 * A metric that has no value for its input (one class only, no defect pixel, a constant map, too
 * few thresholds) is returned as "undefined" with the reason, never as NaN or a made-up number.
 *
 * Conventions (all as scikit-learn):
 *   - binary labels: positive = defective (bad part, defect pixel); scores: higher = more anomalous;
 *   - AUROC = P(score of a random positive > score of a random negative) + 0.5 P(equal): ties
 *     count one half (roc_auc_score on a curve with one point per distinct score);
 *   - AP = sum over the distinct scores t, from the highest down, of (R(t) - R(t_prev)) * P(t),
 *     with P, R of the decision "score >= t" (average_precision_score);
 *   - max-F1 = the largest 2PR / (P + R) over the same decisions (precision_recall_curve);
 *   - pixel AUROC is AUROC over every pixel of every image of a product;
 *   - AUPRO as cflow-ad / AnomalyCLIP's cal_pro_score: 200 thresholds t_i = min + i (max - min) /
 *     200, i = 0..199, over all maps of a product; a pixel is predicted defective when its value
 *     is > t_i; per threshold the PRO is the mean over all ground-truth regions (8-connected
 *     components of each mask, every region one vote) of the region's fraction of predicted
 *     pixels, the FPR the fraction of normal pixels predicted defective; thresholds with
 *     FPR < 0.3 are kept, their FPRs rescaled to [0, 1] by (f - min) / (max - min), and the area
 *     under PRO over rescaled FPR is the trapezoidal sum. Thresholds are computed in double.
 */
#ifndef CALIB_METRICS_H
#define CALIB_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A metric value or the reason it has none. */
typedef struct cm_value {
    double value;            /* meaningful only when undefined == NULL */
    const char *undefined;   /* NULL = defined; else a static sentence saying why not */
} cm_value;

/* Scores of positives and negatives collected for the binary metrics. Sorted lazily. */
typedef struct cm_scores {
    float *pos, *neg;        /* owned */
    size_t np, nn, cap_p, cap_n;
    size_t nonfinite;        /* NaN / inf scores seen and left out */
    int sorted;
} cm_scores;

void cm_scores_init(cm_scores *s);
void cm_scores_free(cm_scores *s);
/* Adds one score. Returns 0, or -1 when out of memory. */
int cm_scores_add(cm_scores *s, float score, int positive);
/* Sorts both lists ascending (radix sort; NaN never stored). Returns 0 or -1 (out of memory). */
int cm_scores_sort(cm_scores *s);

cm_value cm_auroc(cm_scores *s);
cm_value cm_ap(cm_scores *s);
/* *threshold (may be NULL): the score t whose decision "score >= t" gives the maximum. */
cm_value cm_max_f1(cm_scores *s, float *threshold);

/* One point per distinct score (from the highest down) plus the origin: fpr/tpr (ROC) and
 * recall/precision (PR, without sklearn's artificial last point). Arrays malloc'ed, caller frees;
 * *n points. Returns 0, or -1 when a class is empty or out of memory. */
int cm_roc_curve(cm_scores *s, double **fpr, double **tpr, size_t *n);
int cm_pr_curve(cm_scores *s, double **recall, double **precision, size_t *n);

/* F1 of counts, 2TP / (2TP + FP + FN); undefined when all three are 0. */
cm_value cm_f1_counts(uint64_t tp, uint64_t fp, uint64_t fn);

/* 8-connected components of the nonzero pixels of a w x h mask (row-major, stride w). labels
 * (w*h, written): 0 background, 1..n the component of each pixel, numbered in raster order of
 * their first pixel. Returns n, or -1 when out of memory or on bad sizes. */
int cm_components(const uint8_t *mask, int w, int h, int32_t *labels);

/* AUPRO over n_images maps (w[i] x h[i] floats) and masks (same size, nonzero = defect). */
cm_value cm_aupro(const float *const *maps, const uint8_t *const *masks, const int *w,
                  const int *h, size_t n_images, double fpr_limit);

/* Per-defect-type metrics of §5.3 for one product, accumulated pixel by pixel: C classes
 * (0 = normal), each pixel with a score per class, its true class and its predicted class. Per
 * class c: AUROC and AP of score c for "true class == c" (one-vs-rest), F1 of "predicted == c"
 * against "true == c". The macro value is the mean over the classes where the metric is defined
 * (a class with no true pixel has no AUROC/AP; one neither true nor predicted has no F1), which is
 * what scikit-learn's macro averages give when every class occurs. */
typedef struct cm_multi {
    int classes;
    cm_scores *score;        /* [classes], owned */
    uint64_t *tp, *fp, *fn;  /* [classes], owned */
} cm_multi;

int cm_multi_init(cm_multi *m, int classes);
void cm_multi_free(cm_multi *m);
/* scores: [classes] values of one pixel. Returns 0 or -1 (out of memory). */
int cm_multi_add(cm_multi *m, const float *scores, int truth, int pred);
/* Per-class values into auroc/ap/f1 (each [classes], may be NULL) and the macro means. */
void cm_multi_result(cm_multi *m, cm_value *auroc, cm_value *ap, cm_value *f1, cm_value *macro_auroc,
                     cm_value *macro_ap, cm_value *macro_f1);

/* Mean of the defined values among v[0..n); undefined when none is. *used (may be NULL) = how
 * many were averaged. */
cm_value cm_mean(const cm_value *v, size_t n, size_t *used);

#endif
