/* DAPO head: scores and maps from adapted patch features and cached text features. */
#include "dapo_head.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE4_1__)   /* the release build's x86-64-v2 baseline; other builds go pixel by pixel */
#include <smmintrin.h>
#endif

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

/* One output pixel, the reference arithmetic: bilinear weights of its four grid values per
 * state, the anomaly sum over the defect states, first-maximum argmaxes. */
static void map_pixel(const float *v00, const float *v01, const float *v10, const float *v11,
                      int n, float lx0, float lx1, float ly0, float ly1, size_t o, size_t plane,
                      float *anomaly, uint16_t *label, uint16_t *defect_type, float *volume)
{
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
            volume[(size_t)k * plane + o] = v;
    }
    if (anomaly)
        anomaly[o] = amap;
    if (label)
        label[o] = (uint16_t)arg;
    if (defect_type)
        defect_type[o] = (uint16_t)arg_defect;
}

#if defined(__SSE4_1__)
/* Four neighbouring pixels of a row that share their grid columns (x0, x1), as SSE lanes: the
 * same IEEE operations in the same order as map_pixel (no FMA at this instruction level), so
 * the results are bit-identical; comparisons with NaN are false in both. */
static void map_pixels4(const float *v00, const float *v01, const float *v10, const float *v11,
                        int n, __m128 lx0, __m128 lx1, float ly0, float ly1, size_t o,
                        size_t plane, float *anomaly, uint16_t *label, uint16_t *defect_type,
                        float *volume)
{
    const __m128 wy0 = _mm_set1_ps(ly0), wy1 = _mm_set1_ps(ly1);
    __m128 amap = _mm_setzero_ps(), best = _mm_set1_ps(-INFINITY), bestd = best;
    __m128i arg = _mm_setzero_si128(), argd = _mm_set1_epi32(1);
    for (int k = 0; k < n; k++) {
        const __m128 top = _mm_add_ps(_mm_mul_ps(lx0, _mm_set1_ps(v00[k])),
                                      _mm_mul_ps(lx1, _mm_set1_ps(v01[k])));
        const __m128 bottom = _mm_add_ps(_mm_mul_ps(lx0, _mm_set1_ps(v10[k])),
                                         _mm_mul_ps(lx1, _mm_set1_ps(v11[k])));
        const __m128 v = _mm_add_ps(_mm_mul_ps(wy0, top), _mm_mul_ps(wy1, bottom));
        const __m128i kk = _mm_set1_epi32(k);
        const __m128 up = _mm_cmpgt_ps(v, best);
        best = _mm_blendv_ps(best, v, up);
        arg = _mm_blendv_epi8(arg, kk, _mm_castps_si128(up));
        if (k > 0) {
            amap = _mm_add_ps(amap, v);
            const __m128 upd = _mm_cmpgt_ps(v, bestd);
            bestd = _mm_blendv_ps(bestd, v, upd);
            argd = _mm_blendv_epi8(argd, kk, _mm_castps_si128(upd));
        }
        if (volume)
            _mm_storeu_ps(volume + (size_t)k * plane + o, v);
    }
    if (anomaly)
        _mm_storeu_ps(anomaly + o, amap);
    int32_t a[4], d[4];
    _mm_storeu_si128((__m128i *)a, arg);
    _mm_storeu_si128((__m128i *)d, argd);
    for (int i = 0; i < 4; i++) {
        if (label)
            label[o + i] = (uint16_t)a[i];
        if (defect_type)
            defect_type[o + i] = (uint16_t)d[i];
    }
}
#endif

void dp_head_maps(const float *grid_sum, int grid, int n_states, int out_w, int out_h,
                  float *anomaly, uint16_t *label, uint16_t *defect_type, float *volume,
                  int threads)
{
    const int G = grid, n = n_states;
    const size_t plane = (size_t)out_w * out_h;
#if defined(__SSE4_1__)
    /* axis_weights' column arithmetic, four columns at a time */
    const __m128 scale = _mm_set1_ps(out_w > 1 ? (float)(G - 1) / (float)(out_w - 1) : 0.0f);
    const __m128i last = _mm_set1_epi32(G - 1);
#endif
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int y = 0; y < out_h; y++) {
        int y0, y1;
        float ly0, ly1;
        axis_weights(G, out_h, y, &y0, &y1, &ly0, &ly1);
        const float *row0 = grid_sum + (size_t)y0 * G * n, *row1 = grid_sum + (size_t)y1 * G * n;
        const size_t o = (size_t)y * out_w;
        int x = 0;
#if defined(__SSE4_1__)
        for (; x + 4 <= out_w; x += 4) {
            const __m128 src = _mm_mul_ps(scale, _mm_cvtepi32_ps(_mm_setr_epi32(x, x + 1, x + 2, x + 3)));
            const __m128i lo = _mm_min_epi32(_mm_cvttps_epi32(src), last);
            int32_t c[4];
            _mm_storeu_si128((__m128i *)c, lo);
            if (c[0] == c[3]) {          /* one grid column pair for all four */
                const int x0 = c[0], x1 = x0 < G - 1 ? x0 + 1 : x0;
                const __m128 lx1 = _mm_sub_ps(src, _mm_cvtepi32_ps(lo));
                const __m128 lx0 = _mm_sub_ps(_mm_set1_ps(1.0f), lx1);
                map_pixels4(row0 + (size_t)x0 * n, row0 + (size_t)x1 * n, row1 + (size_t)x0 * n,
                            row1 + (size_t)x1 * n, n, lx0, lx1, ly0, ly1, o + x, plane, anomaly,
                            label, defect_type, volume);
                continue;
            }
            for (int i = 0; i < 4; i++) {
                int x0, x1;
                float lx0, lx1;
                axis_weights(G, out_w, x + i, &x0, &x1, &lx0, &lx1);
                map_pixel(row0 + (size_t)x0 * n, row0 + (size_t)x1 * n, row1 + (size_t)x0 * n,
                          row1 + (size_t)x1 * n, n, lx0, lx1, ly0, ly1, o + x + i, plane, anomaly,
                          label, defect_type, volume);
            }
        }
#endif
        for (; x < out_w; x++) {
            int x0, x1;
            float lx0, lx1;
            axis_weights(G, out_w, x, &x0, &x1, &lx0, &lx1);
            map_pixel(row0 + (size_t)x0 * n, row0 + (size_t)x1 * n, row1 + (size_t)x0 * n,
                      row1 + (size_t)x1 * n, n, lx0, lx1, ly0, ly1, o + x, plane, anomaly, label,
                      defect_type, volume);
        }
    }
}
