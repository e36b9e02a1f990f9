/* DAPO head forward and backward for training: adapters, normalisation, softmax over the states,
 * bilinear upsampling (align_corners=True), focal + dice per layer, image cross-entropy. */
#include "train_head.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dp_size.h"
#include "train_gemm.h"
#include "vec.h"

/* Per image and layer, the sums the loss and its gradient need. */
enum { S_FOCAL, S_XN, S_IN, S_YN, S_XA, S_IA, S_YA, S_COUNT };

struct dp_train_head {
    dp_train_head_shape s;
    size_t rows;                            /* max_batch * G*G */
    float *feat[DP_FEATURE_LAYERS];         /* [rows][Wv] copies of F_j */
    float *zhat[DP_FEATURE_LAYERS];         /* [rows][E] normalised adapted rows */
    float *znorm[DP_FEATURE_LAYERS];        /* [rows] |z| */
    float *probs[DP_FEATURE_LAYERS];        /* [rows][n] */
    float *dfeat[DP_FEATURE_LAYERS];        /* [rows][Wv] */
    float *dprobs;                          /* [rows][n] scratch of one layer */
    float *dz;                              /* [rows][E] scratch of one layer */
    float *ghat, *gnorm, *img_logits;       /* [B][E], [B], [B][2] */
    float *dglobal, *dtext, *dabn;          /* [B][E], [n][E], [E] */
    double *sums;                           /* [layers][B][S_COUNT] */
    float *rowbuf;                          /* [threads][G][n] + [threads][n] */
    int *ax_lo, *ax_hi;                     /* [S] source cells of each output row/column */
    float *ax_w0, *ax_w1;                   /* [S] their weights */
    int batch;                              /* of the last forward */
};

static void *zalloc(size_t n, size_t elem, int *fail)
{
    size_t bytes;
    if (!dp_mul_ok(n ? n : 1, elem, &bytes)) {
        *fail = 1;
        return NULL;
    }
    void *p = calloc(1, bytes);
    if (!p)
        *fail = 1;
    return p;
}

/* PyTorch's align_corners=True source index (as dapo_head.c): src = dst (in-1)/(out-1), float. */
static void axis_weights(int in, int out, int i, int *i0, int *i1, float *l0, float *l1)
{
    float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    float src = scale * (float)i;
    int lo = (int)src;
    if (lo > in - 1)
        lo = in - 1;
    *i0 = lo;
    *i1 = lo < in - 1 ? lo + 1 : lo;
    *l1 = src - (float)lo;
    *l0 = 1.0f - *l1;
}

dp_status dp_train_head_create(const dp_train_head_shape *shape, dp_train_head **out,
                               dp_err *err)
{
    *out = NULL;
    const dp_train_head_shape *s = shape;
    if (!s || s->max_batch < 1 || s->grid < 1 || s->image_size < 2 || s->vision_width < 1 ||
        s->embed_dim < 1 || s->n_states < 2 || s->n_states > DP_MAX_STATES || s->threads < 1)
        return dp_fail(err, DP_E_ARG, "training head: batch %d, grid %d, size %d, width %d, "
                       "embed %d, states %d, threads %d; expected positive sizes, size >= 2 and "
                       "2..%d states", s ? s->max_batch : 0, s ? s->grid : 0,
                       s ? s->image_size : 0, s ? s->vision_width : 0, s ? s->embed_dim : 0,
                       s ? s->n_states : 0, s ? s->threads : 0, DP_MAX_STATES);
    dp_train_head *h = calloc(1, sizeof *h);
    if (!h)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the training head");
    h->s = *s;
    const size_t G2 = (size_t)s->grid * s->grid, B = (size_t)s->max_batch, E = s->embed_dim,
                 W = s->vision_width, n = s->n_states, S = s->image_size;
    h->rows = B * G2;
    int fail = 0;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        h->feat[j] = zalloc(h->rows * W, sizeof(float), &fail);
        h->dfeat[j] = zalloc(h->rows * W, sizeof(float), &fail);
        h->zhat[j] = zalloc(h->rows * E, sizeof(float), &fail);
        h->znorm[j] = zalloc(h->rows, sizeof(float), &fail);
        h->probs[j] = zalloc(h->rows * n, sizeof(float), &fail);
    }
    h->dprobs = zalloc(h->rows * n, sizeof(float), &fail);
    h->dz = zalloc(h->rows * E, sizeof(float), &fail);
    h->ghat = zalloc(B * E, sizeof(float), &fail);
    h->gnorm = zalloc(B, sizeof(float), &fail);
    h->img_logits = zalloc(B * 2, sizeof(float), &fail);
    h->dglobal = zalloc(B * E, sizeof(float), &fail);
    h->dtext = zalloc(n * E, sizeof(float), &fail);
    h->dabn = zalloc(E, sizeof(float), &fail);
    h->sums = zalloc((size_t)DP_FEATURE_LAYERS * B * S_COUNT, sizeof(double), &fail);
    h->rowbuf = zalloc((size_t)s->threads * (s->grid + 1) * n, sizeof(float), &fail);
    h->ax_lo = zalloc(S, sizeof(int), &fail);
    h->ax_hi = zalloc(S, sizeof(int), &fail);
    h->ax_w0 = zalloc(S, sizeof(float), &fail);
    h->ax_w1 = zalloc(S, sizeof(float), &fail);
    if (fail) {
        dp_train_head_free(h);
        return dp_fail(err, DP_E_NOMEM, "out of memory for the training head (batch %d, grid "
                       "%d, width %d)", s->max_batch, s->grid, s->vision_width);
    }
    for (int i = 0; i < s->image_size; i++)
        axis_weights(s->grid, s->image_size, i, &h->ax_lo[i], &h->ax_hi[i], &h->ax_w0[i],
                     &h->ax_w1[i]);
    *out = h;
    return DP_OK;
}

void dp_train_head_free(dp_train_head *h)
{
    if (!h)
        return;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        free(h->feat[j]);
        free(h->dfeat[j]);
        free(h->zhat[j]);
        free(h->znorm[j]);
        free(h->probs[j]);
    }
    free(h->dprobs);
    free(h->dz);
    free(h->ghat);
    free(h->gnorm);
    free(h->img_logits);
    free(h->dglobal);
    free(h->dtext);
    free(h->dabn);
    free(h->sums);
    free(h->rowbuf);
    free(h->ax_lo);
    free(h->ax_hi);
    free(h->ax_w0);
    free(h->ax_w1);
    free(h);
}

dp_status dp_train_head_set_features(dp_train_head *h, int j, int b, const float *features,
                                     dp_err *err)
{
    if (j < 0 || j >= DP_FEATURE_LAYERS || b < 0 || b >= h->s.max_batch || !features)
        return dp_fail(err, DP_E_ARG, "training head features: layer %d, image %d%s; expected "
                       "0..%d, 0..%d and data", j, b, features ? "" : ", NULL",
                       DP_FEATURE_LAYERS - 1, h->s.max_batch - 1);
    size_t G2 = (size_t)h->s.grid * h->s.grid, W = h->s.vision_width;
    memcpy(h->feat[j] + (size_t)b * G2 * W, features, G2 * W * sizeof(float));
    return DP_OK;
}

/* The n upsampled channels at pixel (y, x) of one image's grid probabilities P [G*G][n]. */
static void upsample_at(const dp_train_head *h, const float *P, int y, int x, float *q)
{
    const int G = h->s.grid, n = h->s.n_states;
    const float *v00 = P + ((size_t)h->ax_lo[y] * G + h->ax_lo[x]) * n;
    const float *v01 = P + ((size_t)h->ax_lo[y] * G + h->ax_hi[x]) * n;
    const float *v10 = P + ((size_t)h->ax_hi[y] * G + h->ax_lo[x]) * n;
    const float *v11 = P + ((size_t)h->ax_hi[y] * G + h->ax_hi[x]) * n;
    const float ly0 = h->ax_w0[y], ly1 = h->ax_w1[y], lx0 = h->ax_w0[x], lx1 = h->ax_w1[x];
    for (int k = 0; k < n; k++)
        q[k] = ly0 * (lx0 * v00[k] + lx1 * v01[k]) + ly1 * (lx0 * v10[k] + lx1 * v11[k]);
}

void dp_train_head_upsampled(const dp_train_head *h, int j, int b, float *out)
{
    const int S = h->s.image_size, n = h->s.n_states;
    const size_t G2 = (size_t)h->s.grid * h->s.grid;
    float q[DP_MAX_STATES];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            upsample_at(h, h->probs[j] + (size_t)b * G2 * n, y, x, q);
            for (int k = 0; k < n; k++)
                out[((size_t)k * S + y) * S + x] = q[k];
        }
}

/* The clamped one-hot weights of the focal loss, rounded to f32 as the reference's tensor. */
static void focal_weights(int n, double *on, double *off)
{
    *on = (double)(float)(1.0 - DP_FOCAL_SMOOTH);
    *off = (double)(float)(DP_FOCAL_SMOOTH / (n - 1));
}

static double focal_pt(const float *q, int n, int c, double on, double off)
{
    double pt = 0;
    for (int k = 0; k < n; k++)
        pt += (k == c ? on : off) * q[k];
    return pt + (double)(float)DP_FOCAL_SMOOTH;
}

/* Loss sums of one image of one layer (pixel loop at S x S). */
static void image_sums(const dp_train_head *h, const float *P, const uint8_t *gt_bin,
                       const uint8_t *gt_multi, double *sum)
{
    const int S = h->s.image_size, n = h->s.n_states;
    double on, off;
    focal_weights(n, &on, &off);
    float q[DP_MAX_STATES];
    memset(sum, 0, S_COUNT * sizeof *sum);
    for (int y = 0; y < S; y++) {
        double r[S_COUNT] = { 0 };
        for (int x = 0; x < S; x++) {
            size_t o = (size_t)y * S + x;
            upsample_at(h, P, y, x, q);
            double pt = focal_pt(q, n, gt_multi[o], on, off), u = 1.0 - pt;
            r[S_FOCAL] += -u * u * log(pt);
            double defects = 0;
            for (int k = 1; k < n; k++)
                defects += q[k];
            int yb = gt_bin[o] != 0;
            r[S_XN] += q[0];
            r[S_IN] += yb ? 0.0 : q[0];
            r[S_YN] += 1 - yb;
            r[S_XA] += defects;
            r[S_IA] += yb ? defects : 0.0;
            r[S_YA] += yb;
        }
        for (int i = 0; i < S_COUNT; i++)
            sum[i] += r[i];
    }
}

static dp_status check_in(const dp_train_head *h, const dp_train_head_in *in, dp_err *err)
{
    if (!in || in->batch < 1 || in->batch > h->s.max_batch)
        return dp_fail(err, DP_E_ARG, "training head: batch %d; expected 1..%d",
                       in ? in->batch : 0, h->s.max_batch);
    if (!in->global || !in->text || !in->abnormal || !in->gt_bin || !in->gt_multi || !in->labels)
        return dp_fail(err, DP_E_ARG, "training head: NULL global, text, abnormal, ground truth "
                       "or labels");
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        if (!in->adapter_w[j] || !in->adapter_b[j])
            return dp_fail(err, DP_E_ARG, "training head: adapter %d is NULL", j);
    const size_t SS = (size_t)h->s.image_size * h->s.image_size;
    for (int b = 0; b < in->batch; b++) {
        if (in->labels[b] != 0 && in->labels[b] != 1)
            return dp_fail(err, DP_E_ARG, "training head: label of image %d is %d; expected 0 "
                           "or 1", b, in->labels[b]);
        for (size_t i = 0; i < SS; i++)
            if (in->gt_multi[b * SS + i] >= h->s.n_states || in->gt_bin[b * SS + i] > 1)
                return dp_fail(err, DP_E_ARG, "training head: ground truth of image %d at pixel "
                               "%zu: class %d, binary %d; expected 0..%d and 0/1", b, i,
                               in->gt_multi[b * SS + i], in->gt_bin[b * SS + i],
                               h->s.n_states - 1);
    }
    return DP_OK;
}

/* Adapters, normalisation and softmax of layer j for the batch. */
static dp_status layer_probs(dp_train_head *h, const dp_train_head_in *in, int j, dp_err *err)
{
    const int E = h->s.embed_dim, W = h->s.vision_width, n = h->s.n_states;
    const int M = in->batch * h->s.grid * h->s.grid;
    float *Z = h->zhat[j];
    dp_status st = dp_train_gemm('N', 'T', M, E, W, 1.0f, h->feat[j], W, in->adapter_w[j], W,
                                 0.0f, Z, E, "adapter forward", err);
    if (st)
        return st;
#pragma omp parallel for num_threads(h->s.threads) schedule(static)
    for (int p = 0; p < M; p++) {
        float *z = Z + (size_t)p * E;
        for (int e = 0; e < E; e++)
            z[e] += in->adapter_b[j][e];
        float zn = dp_vec_norm(z, E);
        h->znorm[j][p] = zn;
        for (int e = 0; e < E; e++)
            z[e] /= zn;
    }
    float *P = h->probs[j];
    if ((st = dp_train_gemm('N', 'T', M, n, E, 1.0f, Z, E, in->text, E, 0.0f, P, n,
                            "patch-state similarities", err)))
        return st;
#pragma omp parallel for num_threads(h->s.threads) schedule(static)
    for (int p = 0; p < M; p++) {
        float *row = P + (size_t)p * n;
        for (int k = 0; k < n; k++)
            row[k] /= DP_TEMPERATURE;
        dp_vec_softmax(row, n);
    }
    return DP_OK;
}

dp_status dp_train_head_forward(dp_train_head *h, const dp_train_head_in *in,
                                dp_train_loss *loss, dp_err *err)
{
    dp_status st = check_in(h, in, err);
    if (st)
        return st;
    const int B = in->batch, E = h->s.embed_dim, n = h->s.n_states;
    const size_t G2 = (size_t)h->s.grid * h->s.grid, SS = (size_t)h->s.image_size * h->s.image_size;
    h->batch = B;
    memset(loss, 0, sizeof *loss);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        if ((st = layer_probs(h, in, j, err)))
            return st;
        double *sums = h->sums + (size_t)j * h->s.max_batch * S_COUNT;
#pragma omp parallel for num_threads(h->s.threads) schedule(static)
        for (int b = 0; b < B; b++)
            image_sums(h, h->probs[j] + (size_t)b * G2 * n, in->gt_bin + b * SS,
                       in->gt_multi + b * SS, sums + (size_t)b * S_COUNT);
        double focal = 0, dn = 0, da = 0;
        for (int b = 0; b < B; b++) {
            const double *s = sums + (size_t)b * S_COUNT;
            focal += s[S_FOCAL];
            dn += (2 * s[S_IN] + DP_DICE_SMOOTH) / (s[S_XN] + s[S_YN] + DP_DICE_SMOOTH);
            da += (2 * s[S_IA] + DP_DICE_SMOOTH) / (s[S_XA] + s[S_YA] + DP_DICE_SMOOTH);
        }
        loss->focal[j] = focal / ((double)B * SS);
        loss->dice_normal[j] = 1.0 - dn / B;
        loss->dice_anomaly[j] = 1.0 - da / B;
        loss->local_unweighted += loss->focal[j] + loss->dice_normal[j] + loss->dice_anomaly[j];
    }
    loss->local = DP_LOSS_LOCAL_WEIGHT * loss->local_unweighted;
    double ce = 0;
    for (int b = 0; b < B; b++) {
        const float *g = in->global + (size_t)b * E;
        float gn = dp_vec_norm(g, E), *gh = h->ghat + (size_t)b * E;
        h->gnorm[b] = gn;
        for (int e = 0; e < E; e++)
            gh[e] = g[e] / gn;
        float l0 = (float)dp_vec_dot(gh, in->text, E) / DP_TEMPERATURE;
        float l1 = (float)dp_vec_dot(gh, in->abnormal, E) / DP_TEMPERATURE;
        h->img_logits[2 * b] = l0;
        h->img_logits[2 * b + 1] = l1;
        double m = l0 > l1 ? l0 : l1;
        double lse = m + log(exp(l0 - m) + exp(l1 - m));
        ce += lse - (in->labels[b] ? l1 : l0);
    }
    loss->image_ce = ce / B;
    loss->total = loss->local + DP_LOSS_IMAGE_WEIGHT * loss->image_ce;
    return DP_OK;
}

/* dL/dP of one image of layer j ([G*G][n], overwritten) through the upsampling: the pixel
 * gradients are reduced along x into one row of grid cells, then scattered to the two grid
 * rows (the transpose of the bilinear weights). row: [G+1][n] scratch. */
static void image_dprobs(const dp_train_head *h, const float *P, const uint8_t *gt_bin,
                         const uint8_t *gt_multi, const double *sum, int B, float *dP,
                         float *row)
{
    const int S = h->s.image_size, n = h->s.n_states, G = h->s.grid;
    double on, off;
    focal_weights(n, &on, &off);
    const double w = DP_LOSS_LOCAL_WEIGHT;
    const double focal_scale = w / ((double)B * S * S);
    const double Nn = 2 * sum[S_IN] + DP_DICE_SMOOTH, Dn = sum[S_XN] + sum[S_YN] + DP_DICE_SMOOTH;
    const double Na = 2 * sum[S_IA] + DP_DICE_SMOOTH, Da = sum[S_XA] + sum[S_YA] + DP_DICE_SMOOTH;
    float *q = row + (size_t)G * n;
    memset(dP, 0, (size_t)G * G * n * sizeof *dP);
    for (int y = 0; y < S; y++) {
        memset(row, 0, (size_t)G * n * sizeof *row);
        for (int x = 0; x < S; x++) {
            size_t o = (size_t)y * S + x;
            upsample_at(h, P, y, x, q);
            int c = gt_multi[o], yb = gt_bin[o] != 0;
            double pt = focal_pt(q, n, c, on, off), u = 1.0 - pt;
            double a = focal_scale * (2 * u * log(pt) - u * u / pt);
            double dn = -w / B * (2.0 * (1 - yb) * Dn - Nn) / (Dn * Dn);
            double da = -w / B * (2.0 * yb * Da - Na) / (Da * Da);
            float *r0 = row + (size_t)h->ax_lo[x] * n, *r1 = row + (size_t)h->ax_hi[x] * n;
            const float lx0 = h->ax_w0[x], lx1 = h->ax_w1[x];
            for (int k = 0; k < n; k++) {
                float dq = (float)(a * (k == c ? on : off) + (k == 0 ? dn : da));
                r0[k] += lx0 * dq;
                r1[k] += lx1 * dq;
            }
        }
        float *d0 = dP + (size_t)h->ax_lo[y] * G * n, *d1 = dP + (size_t)h->ax_hi[y] * G * n;
        const float ly0 = h->ax_w0[y], ly1 = h->ax_w1[y];
        for (size_t i = 0; i < (size_t)G * n; i++) {
            d0[i] += ly0 * row[i];
            d1[i] += ly1 * row[i];
        }
    }
}

/* Image cross-entropy backward into dglobal, dtext row 0 and dabn. */
static void image_ce_backward(dp_train_head *h, const dp_train_head_in *in)
{
    const int B = in->batch, E = h->s.embed_dim;
    for (int b = 0; b < B; b++) {
        const float *gh = h->ghat + (size_t)b * E;
        double l0 = h->img_logits[2 * b], l1 = h->img_logits[2 * b + 1];
        double m = l0 > l1 ? l0 : l1, e0 = exp(l0 - m), e1 = exp(l1 - m);
        double p0 = e0 / (e0 + e1), p1 = e1 / (e0 + e1);
        double d0 = DP_LOSS_IMAGE_WEIGHT * (p0 - (in->labels[b] == 0)) / B;
        double d1 = DP_LOSS_IMAGE_WEIGHT * (p1 - (in->labels[b] == 1)) / B;
        d0 /= DP_TEMPERATURE;
        d1 /= DP_TEMPERATURE;
        float *dg = h->dglobal + (size_t)b * E;
        double proj = 0;
        for (int e = 0; e < E; e++) {
            double dgh = d0 * in->text[e] + d1 * in->abnormal[e];
            dg[e] = (float)dgh;
            proj += dgh * gh[e];
            h->dtext[e] += (float)(d0 * gh[e]);
            h->dabn[e] += (float)(d1 * gh[e]);
        }
        for (int e = 0; e < E; e++)
            dg[e] = (float)((dg[e] - proj * gh[e]) / h->gnorm[b]);
    }
}

dp_status dp_train_head_backward(dp_train_head *h, const dp_train_head_in *in,
                                 float *const d_adapter_w[DP_FEATURE_LAYERS],
                                 float *const d_adapter_b[DP_FEATURE_LAYERS], dp_err *err)
{
    if (!in || in->batch != h->batch)
        return dp_fail(err, DP_E_ARG, "training head backward: batch %d; the last forward ran "
                       "%d images", in ? in->batch : 0, h->batch);
    const int B = in->batch, E = h->s.embed_dim, W = h->s.vision_width, n = h->s.n_states;
    const size_t G2 = (size_t)h->s.grid * h->s.grid, SS = (size_t)h->s.image_size * h->s.image_size;
    const int M = B * (int)G2;
    memset(h->dtext, 0, (size_t)n * E * sizeof *h->dtext);
    memset(h->dabn, 0, (size_t)E * sizeof *h->dabn);
    image_ce_backward(h, in);
    dp_status st;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        const double *sums = h->sums + (size_t)j * h->s.max_batch * S_COUNT;
        const float *P = h->probs[j];
#pragma omp parallel for num_threads(h->s.threads) schedule(static)
        for (int b = 0; b < B; b++)
            image_dprobs(h, P + (size_t)b * G2 * n, in->gt_bin + b * SS, in->gt_multi + b * SS,
                         sums + (size_t)b * S_COUNT, B,
                         h->dprobs + (size_t)b * G2 * n,
                         h->rowbuf + (size_t)omp_get_thread_num() * (h->s.grid + 1) * n);
        /* softmax and temperature: dS_k = P_k (dP_k - sum_m P_m dP_m) / T */
#pragma omp parallel for num_threads(h->s.threads) schedule(static)
        for (int p = 0; p < M; p++) {
            const float *pr = P + (size_t)p * n;
            float *d = h->dprobs + (size_t)p * n;
            double dot = 0;
            for (int k = 0; k < n; k++)
                dot += (double)pr[k] * d[k];
            for (int k = 0; k < n; k++)
                d[k] = (float)(pr[k] * (d[k] - dot) / DP_TEMPERATURE);
        }
        const float *Z = h->zhat[j];
        if ((st = dp_train_gemm('N', 'N', M, E, n, 1.0f, h->dprobs, n, in->text, E, 0.0f, h->dz,
                                E, "similarity backward (patches)", err)) ||
            (st = dp_train_gemm('T', 'N', n, E, M, 1.0f, h->dprobs, n, Z, E, 1.0f, h->dtext, E,
                                "similarity backward (states)", err)))
            return st;
        /* normalisation: dz = (dzhat - zhat (zhat . dzhat)) / |z| */
#pragma omp parallel for num_threads(h->s.threads) schedule(static)
        for (int p = 0; p < M; p++) {
            const float *zh = Z + (size_t)p * E;
            float *d = h->dz + (size_t)p * E;
            double proj = dp_vec_dot(zh, d, E);
            for (int e = 0; e < E; e++)
                d[e] = (float)((d[e] - proj * zh[e]) / h->znorm[j][p]);
        }
        if (d_adapter_w && d_adapter_w[j] &&
            (st = dp_train_gemm('T', 'N', E, W, M, 1.0f, h->dz, E, h->feat[j], W, 1.0f,
                                d_adapter_w[j], W, "adapter weight gradient", err)))
            return st;
        if (d_adapter_b && d_adapter_b[j])
            for (int e = 0; e < E; e++) {
                double s = 0;
                for (int p = 0; p < M; p++)
                    s += h->dz[(size_t)p * E + e];
                d_adapter_b[j][e] += (float)s;
            }
        if ((st = dp_train_gemm('N', 'N', M, W, E, 1.0f, h->dz, E, in->adapter_w[j], W, 0.0f,
                                h->dfeat[j], W, "adapter input gradient", err)))
            return st;
    }
    return DP_OK;
}

const float *dp_train_head_probs(const dp_train_head *h, int j) { return h->probs[j]; }
const float *dp_train_head_image_logits(const dp_train_head *h) { return h->img_logits; }
const float *dp_train_head_d_features(const dp_train_head *h, int j) { return h->dfeat[j]; }
const float *dp_train_head_d_global(const dp_train_head *h) { return h->dglobal; }
const float *dp_train_head_d_text(const dp_train_head *h) { return h->dtext; }
const float *dp_train_head_d_abnormal(const dp_train_head *h) { return h->dabn; }
