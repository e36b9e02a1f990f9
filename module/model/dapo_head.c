/* DAPO head: scores and maps from adapted patch features and cached text features. */
#include "dapo_head.h"

#include <math.h>
#include <string.h>

#include "vec.h"

void dp_head_image(const float *global, const dp_text_features *tf, float logits[2], float *score,
                   float *score_multi, float *type_scores)
{
    const int E = tf->dim, n = tf->n_states;
    float g = dp_vec_norm(global, E);
    logits[0] = (float)dp_vec_dot(global, tf->features, E) / g / DP_TEMPERATURE;
    logits[1] = (float)dp_vec_dot(global, tf->abnormal, E) / g / DP_TEMPERATURE;
    float m = logits[0] > logits[1] ? logits[0] : logits[1];
    float e0 = expf(logits[0] - m), e1 = expf(logits[1] - m);
    *score = e1 / (e0 + e1);

    float logit[DP_MAX_STATES];
    float mx = -INFINITY;
    for (int k = 0; k < n; k++) {
        logit[k] =
            (float)dp_vec_dot(global, tf->features + (size_t)k * E, E) / g / DP_TEMPERATURE;
        if (logit[k] > mx)
            mx = logit[k];
    }
    double sum = 0, defects = 0;
    for (int k = 0; k < n; k++)
        sum += exp((double)(logit[k] - mx));
    for (int k = 1; k < n; k++) {
        double p = exp((double)(logit[k] - mx)) / sum;
        defects += p;
        if (type_scores)
            type_scores[k - 1] = (float)p;
    }
    *score_multi = (float)defects;
}

void dp_head_patch_probs(const float *adapted, int n_patches, const dp_text_features *tf,
                         float *probs, int threads)
{
    const int E = tf->dim, n = tf->n_states;
#pragma omp parallel for num_threads(threads) schedule(static) if (n_patches > 64)
    for (int p = 0; p < n_patches; p++) {
        const float *z = adapted + (size_t)p * E;
        float zn = dp_vec_norm(z, E);
        float *out = probs + (size_t)p * n;
        for (int k = 0; k < n; k++)
            out[k] = (float)dp_vec_dot(z, tf->features + (size_t)k * E, E) / zn / DP_TEMPERATURE;
        dp_vec_softmax(out, n);
    }
}

/* PyTorch's align_corners=True source index: src = dst * (in-1)/(out-1), in float. */
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

void dp_head_maps(const float *grid_sum, int grid, int n_states, int out_w, int out_h,
                  float *anomaly, uint16_t *label, uint16_t *defect_type, float *volume,
                  int threads)
{
    const int G = grid, n = n_states;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int y = 0; y < out_h; y++) {
        int y0, y1;
        float ly0, ly1;
        axis_weights(G, out_h, y, &y0, &y1, &ly0, &ly1);
        for (int x = 0; x < out_w; x++) {
            int x0, x1;
            float lx0, lx1;
            axis_weights(G, out_w, x, &x0, &x1, &lx0, &lx1);
            const float *v00 = grid_sum + ((size_t)y0 * G + x0) * n;
            const float *v01 = grid_sum + ((size_t)y0 * G + x1) * n;
            const float *v10 = grid_sum + ((size_t)y1 * G + x0) * n;
            const float *v11 = grid_sum + ((size_t)y1 * G + x1) * n;
            float amap = 0, best = -INFINITY, best_defect = -INFINITY;
            int arg = 0, arg_defect = 1;
            for (int k = 0; k < n; k++) {
                float v = ly0 * (lx0 * v00[k] + lx1 * v01[k]) + ly1 * (lx0 * v10[k] + lx1 * v11[k]);
                if (k > 0)
                    amap += v;
                if (v > best) {
                    best = v;
                    arg = k;
                }
                if (k > 0 && v > best_defect) {
                    best_defect = v;
                    arg_defect = k;
                }
                if (volume)
                    volume[((size_t)k * out_h + y) * out_w + x] = v;
            }
            size_t o = (size_t)y * out_w + x;
            if (anomaly)
                anomaly[o] = amap;
            if (label)
                label[o] = (uint16_t)arg;
            if (defect_type)
                defect_type[o] = (uint16_t)arg_defect;
        }
    }
}
