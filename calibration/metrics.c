/* Metrics (see metrics.h). Counts are integers; rates are formed once, in double. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *U_NO_POS = "only one class: no positives (no bad part / no defect pixel)";
static const char *U_NO_NEG = "only one class: no negatives (no good part / no normal pixel)";

static cm_value def(double v) { return (cm_value){ v, NULL }; }
static cm_value undef(const char *why) { return (cm_value){ 0, why }; }

void cm_scores_init(cm_scores *s)
{
    memset(s, 0, sizeof *s);
}

void cm_scores_free(cm_scores *s)
{
    free(s->pos);
    free(s->neg);
    memset(s, 0, sizeof *s);
}

static int push(float **a, size_t *n, size_t *cap, float v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        float *p = realloc(*a, nc * sizeof *p);
        if (!p)
            return -1;
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

int cm_scores_add(cm_scores *s, float score, int positive)
{
    if (!isfinite(score)) {
        s->nonfinite++;
        return 0;
    }
    s->sorted = 0;
    if (score == 0.0f)
        score = 0.0f;   /* -0 and +0 are one value */
    return positive ? push(&s->pos, &s->np, &s->cap_p, score) : push(&s->neg, &s->nn, &s->cap_n, score);
}

/* Order-preserving unsigned key of a finite float. */
static uint32_t fkey(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

static float funkey(uint32_t k)
{
    uint32_t u = (k & 0x80000000u) ? k & 0x7fffffffu : ~k;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* LSD radix sort of n floats ascending, 4 passes of 8 bits. */
static int sort_floats(float *a, size_t n)
{
    if (n < 2)
        return 0;
    uint32_t *k = malloc(n * sizeof *k), *t = malloc(n * sizeof *t);
    if (!k || !t) {
        free(k);
        free(t);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = fkey(a[i]);
    for (int shift = 0; shift < 32; shift += 8) {
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[((k[i] >> shift) & 0xff) + 1]++;
        if (count[((k[0] >> shift) & 0xff) + 1] == n)
            continue;   /* every key has the same byte here */
        for (int b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            t[count[(k[i] >> shift) & 0xff]++] = k[i];
        uint32_t *x = k;
        k = t;
        t = x;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = funkey(k[i]);
    free(k);
    free(t);
    return 0;
}

int cm_scores_sort(cm_scores *s)
{
    if (s->sorted)
        return 0;
    if (sort_floats(s->pos, s->np) || sort_floats(s->neg, s->nn))
        return -1;
    s->sorted = 1;
    return 0;
}

/* Walks the distinct scores from the highest down. For each: tp, fp = counts with score >= it.
 * Calls fn(ctx, value, tp, fp). */
typedef void (*step_fn)(void *ctx, float value, uint64_t tp, uint64_t fp);

static void walk_down(const cm_scores *s, step_fn fn, void *ctx)
{
    size_t i = s->np, j = s->nn;   /* items above index stay counted: pos[i..np), neg[j..nn) */
    while (i > 0 || j > 0) {
        float v;
        if (i > 0 && (j == 0 || s->pos[i - 1] >= s->neg[j - 1]))
            v = s->pos[i - 1];
        else
            v = s->neg[j - 1];
        while (i > 0 && s->pos[i - 1] == v)
            i--;
        while (j > 0 && s->neg[j - 1] == v)
            j--;
        fn(ctx, v, s->np - i, s->nn - j);
    }
}

cm_value cm_auroc(cm_scores *s)
{
    if (s->np == 0)
        return undef(U_NO_POS);
    if (s->nn == 0)
        return undef(U_NO_NEG);
    if (cm_scores_sort(s))
        return undef("out of memory");
    /* 2 * (number of pairs pos > neg) + (pairs tied), exactly, from the ascending walk */
    unsigned __int128 twice = 0;
    size_t i = 0, j = 0;
    while (i < s->np) {
        float v = s->pos[i];
        size_t pi = i;
        while (i < s->np && s->pos[i] == v)
            i++;
        while (j < s->nn && s->neg[j] < v)
            j++;
        size_t below = j, tied = 0;
        while (j + tied < s->nn && s->neg[j + tied] == v)
            tied++;
        twice += (unsigned __int128)(i - pi) * (2 * (unsigned __int128)below + tied);
    }
    long double pairs = (long double)s->np * (long double)s->nn;
    return def((double)((long double)twice / (2.0L * pairs)));
}

typedef struct ap_ctx { double ap, prev_r; uint64_t np; } ap_ctx;

static void ap_step(void *c, float v, uint64_t tp, uint64_t fp)
{
    (void)v;
    ap_ctx *a = c;
    double r = (double)tp / (double)a->np, p = tp + fp ? (double)tp / (double)(tp + fp) : 1.0;
    a->ap += (r - a->prev_r) * p;
    a->prev_r = r;
}

cm_value cm_ap(cm_scores *s)
{
    if (s->np == 0)
        return undef(U_NO_POS);
    if (cm_scores_sort(s))
        return undef("out of memory");
    ap_ctx a = { 0, 0, s->np };
    walk_down(s, ap_step, &a);
    return def(a.ap);
}

typedef struct f1_ctx { double best; float thr; uint64_t np; } f1_ctx;

static void f1_step(void *c, float v, uint64_t tp, uint64_t fp)
{
    f1_ctx *a = c;
    double f = tp ? 2.0 * (double)tp / (double)(2 * tp + fp + (a->np - tp)) : 0.0;
    if (f > a->best) {
        a->best = f;
        a->thr = v;
    }
}

cm_value cm_max_f1(cm_scores *s, float *threshold)
{
    if (s->np == 0)
        return undef(U_NO_POS);
    if (cm_scores_sort(s))
        return undef("out of memory");
    f1_ctx a = { -1, 0, s->np };
    walk_down(s, f1_step, &a);
    if (threshold)
        *threshold = a.thr;
    return def(a.best);
}

typedef struct curve_ctx { double *x, *y; size_t n; uint64_t np, nn; int roc; } curve_ctx;

static void curve_step(void *c, float v, uint64_t tp, uint64_t fp)
{
    (void)v;
    curve_ctx *a = c;
    if (a->roc) {
        a->x[a->n] = (double)fp / (double)a->nn;
        a->y[a->n] = (double)tp / (double)a->np;
    } else {
        a->x[a->n] = (double)tp / (double)a->np;
        a->y[a->n] = (double)tp / (double)(tp + fp);
    }
    a->n++;
}

static int curve(cm_scores *s, double **x, double **y, size_t *n, int roc)
{
    *x = *y = NULL;
    *n = 0;
    if (s->np == 0 || (roc && s->nn == 0) || cm_scores_sort(s))
        return -1;
    size_t cap = s->np + s->nn + 1;
    curve_ctx a = { malloc(cap * sizeof(double)), malloc(cap * sizeof(double)), 0, s->np, s->nn, roc };
    if (!a.x || !a.y) {
        free(a.x);
        free(a.y);
        return -1;
    }
    if (roc) {
        a.x[0] = a.y[0] = 0;
        a.n = 1;
    }
    walk_down(s, curve_step, &a);
    *x = a.x;
    *y = a.y;
    *n = a.n;
    return 0;
}

int cm_roc_curve(cm_scores *s, double **fpr, double **tpr, size_t *n)
{
    return curve(s, fpr, tpr, n, 1);
}

int cm_pr_curve(cm_scores *s, double **recall, double **precision, size_t *n)
{
    return curve(s, recall, precision, n, 0);
}

cm_value cm_f1_counts(uint64_t tp, uint64_t fp, uint64_t fn)
{
    if (tp + fp + fn == 0)
        return undef("no pixel of this class, neither true nor predicted");
    return def(2.0 * (double)tp / (double)(2 * tp + fp + fn));
}

int cm_components(const uint8_t *mask, int w, int h, int32_t *labels)
{
    if (w <= 0 || h <= 0 || !mask || !labels)
        return -1;
    size_t n = (size_t)w * (size_t)h;
    int32_t *stack = malloc(n * sizeof *stack);
    if (!stack)
        return -1;
    memset(labels, 0, n * sizeof *labels);
    int32_t next = 0;
    for (size_t p0 = 0; p0 < n; p0++) {
        if (!mask[p0] || labels[p0])
            continue;
        labels[p0] = ++next;
        size_t top = 0;
        stack[top++] = (int32_t)p0;
        while (top) {
            int32_t p = stack[--top];
            int x = p % w, y = p / w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    size_t q = (size_t)ny * (size_t)w + (size_t)nx;
                    if (mask[q] && !labels[q]) {
                        labels[q] = next;
                        stack[top++] = (int32_t)q;
                    }
                }
        }
    }
    free(stack);
    return next;
}

/* Number of values in sorted a[0..n) that are > t. */
static size_t count_above(const float *a, size_t n, double t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((double)a[mid] > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return n - lo;
}

cm_value cm_aupro(const float *const *maps, const uint8_t *const *masks, const int *w,
                  const int *h, size_t n_images, double fpr_limit)
{
    enum { STEPS = 200 };
    if (n_images == 0)
        return undef("no image");
    double lo = INFINITY, hi = -INFINITY;
    size_t total = 0, nneg = 0;
    for (size_t i = 0; i < n_images; i++) {
        size_t n = (size_t)w[i] * (size_t)h[i];
        total += n;
        for (size_t p = 0; p < n; p++) {
            lo = fmin(lo, maps[i][p]);
            hi = fmax(hi, maps[i][p]);
            nneg += !masks[i][p];
        }
    }
    if (!(hi > lo))
        return undef("constant map: no threshold range (max = min)");
    if (nneg == 0)
        return undef("no normal pixel: the FPR has no denominator");
    if (nneg == total)
        return undef("empty masks: no defect region to measure the overlap of");
    /* normal pixels sorted; every region's values sorted, regions back to back */
    float *neg = malloc(nneg * sizeof *neg), *reg = malloc((total - nneg) * sizeof *reg);
    size_t *rstart = NULL, nreg = 0, rcap = 0, nn = 0;
    int32_t *lab = NULL;
    cm_value out = undef("out of memory");
    if (!neg || !reg)
        goto done;
    size_t off = 0;
    for (size_t i = 0; i < n_images; i++) {
        size_t n = (size_t)w[i] * (size_t)h[i];
        int32_t *l2 = realloc(lab, n * sizeof *lab);
        if (!l2)
            goto done;
        lab = l2;
        int nr = cm_components(masks[i], w[i], h[i], lab);
        if (nr < 0)
            goto done;
        if (nreg + (size_t)nr + 1 > rcap) {
            size_t nc = (nreg + (size_t)nr + 1) * 2;
            size_t *r2 = realloc(rstart, nc * sizeof *r2);
            if (!r2)
                goto done;
            rstart = r2;
            rcap = nc;
        }
        /* counting placement: region r of this image gets a block of its area */
        size_t *cnt = calloc((size_t)nr + 1, sizeof *cnt);
        if (!cnt)
            goto done;
        for (size_t p = 0; p < n; p++)
            cnt[lab[p]]++;
        for (int r = 1; r <= nr; r++) {
            rstart[nreg + (size_t)r - 1] = off;
            off += cnt[r];
        }
        for (int r = 1; r <= nr; r++)
            cnt[r] = rstart[nreg + (size_t)r - 1];
        for (size_t p = 0; p < n; p++) {
            if (lab[p])
                reg[cnt[lab[p]]++] = maps[i][p];
            else
                neg[nn++] = maps[i][p];
        }
        free(cnt);
        nreg += (size_t)nr;
    }
    rstart[nreg] = off;
    if (sort_floats(neg, nn))
        goto done;
    for (size_t r = 0; r < nreg; r++)
        if (sort_floats(reg + rstart[r], rstart[r + 1] - rstart[r]))
            goto done;
    double fpr[STEPS], pro[STEPS];
    int kept = 0;
    double delta = (hi - lo) / STEPS;
    for (int k = 0; k < STEPS; k++) {
        double t = lo + k * delta;
        double f = (double)count_above(neg, nn, t) / (double)nn;
        if (!(f < fpr_limit))
            continue;
        double s = 0;
        for (size_t r = 0; r < nreg; r++) {
            size_t a = rstart[r + 1] - rstart[r];
            s += (double)count_above(reg + rstart[r], a, t) / (double)a;
        }
        fpr[kept] = f;
        pro[kept] = s / (double)nreg;
        kept++;
    }
    if (kept < 2) {
        out = undef("fewer than two of the 200 thresholds have an FPR below the limit");
        goto done;
    }
    double fmn = fpr[0], fmx = fpr[0];
    for (int k = 1; k < kept; k++) {
        fmn = fmin(fmn, fpr[k]);
        fmx = fmax(fmx, fpr[k]);
    }
    if (!(fmx > fmn)) {
        out = undef("every kept threshold has the same FPR: nothing to rescale");
        goto done;
    }
    double area = 0;
    for (int k = 1; k < kept; k++) {
        double x0 = (fpr[k - 1] - fmn) / (fmx - fmn), x1 = (fpr[k] - fmn) / (fmx - fmn);
        area += (x1 - x0) * (pro[k - 1] + pro[k]) / 2;
    }
    out = def(fabs(area));
done:
    free(neg);
    free(reg);
    free(rstart);
    free(lab);
    return out;
}

cm_value cm_mean(const cm_value *v, size_t n, size_t *used)
{
    double s = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!v[i].undefined) {
            s += v[i].value;
            k++;
        }
    if (used)
        *used = k;
    if (!k)
        return undef("no defined value to average");
    return def(s / (double)k);
}

int cm_multi_init(cm_multi *m, int classes)
{
    memset(m, 0, sizeof *m);
    if (classes < 1)
        return -1;
    m->classes = classes;
    m->score = calloc((size_t)classes, sizeof *m->score);
    m->tp = calloc((size_t)classes, sizeof *m->tp);
    m->fp = calloc((size_t)classes, sizeof *m->fp);
    m->fn = calloc((size_t)classes, sizeof *m->fn);
    if (!m->score || !m->tp || !m->fp || !m->fn) {
        cm_multi_free(m);
        return -1;
    }
    return 0;
}

void cm_multi_free(cm_multi *m)
{
    if (m->score)
        for (int c = 0; c < m->classes; c++)
            cm_scores_free(&m->score[c]);
    free(m->score);
    free(m->tp);
    free(m->fp);
    free(m->fn);
    memset(m, 0, sizeof *m);
}

int cm_multi_add(cm_multi *m, const float *scores, int truth, int pred)
{
    for (int c = 0; c < m->classes; c++)
        if (cm_scores_add(&m->score[c], scores[c], truth == c))
            return -1;
    if (truth == pred) {
        m->tp[truth]++;
    } else {
        if (pred >= 0 && pred < m->classes)
            m->fp[pred]++;
        if (truth >= 0 && truth < m->classes)
            m->fn[truth]++;
    }
    return 0;
}

void cm_multi_result(cm_multi *m, cm_value *auroc, cm_value *ap, cm_value *f1, cm_value *macro_auroc,
                     cm_value *macro_ap, cm_value *macro_f1)
{
    cm_value *a = calloc((size_t)m->classes * 3, sizeof *a);
    if (!a) {
        *macro_auroc = *macro_ap = *macro_f1 = undef("out of memory");
        return;
    }
    cm_value *b = a + m->classes, *f = b + m->classes;
    for (int c = 0; c < m->classes; c++) {
        a[c] = cm_auroc(&m->score[c]);
        b[c] = cm_ap(&m->score[c]);
        f[c] = cm_f1_counts(m->tp[c], m->fp[c], m->fn[c]);
        if (auroc)
            auroc[c] = a[c];
        if (ap)
            ap[c] = b[c];
        if (f1)
            f1[c] = f[c];
    }
    *macro_auroc = cm_mean(a, (size_t)m->classes, NULL);
    *macro_ap = cm_mean(b, (size_t)m->classes, NULL);
    *macro_f1 = cm_mean(f, (size_t)m->classes, NULL);
    free(a);
}
