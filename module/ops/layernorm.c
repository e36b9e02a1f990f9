/* Layer norm over rows of the f32 residual stream, writing f32 or bf16 directly: oneDNN 2.6's
 * layer norm needs equal source and destination types, which would cost an extra pass over the
 * activations in bf16 mode. */
#include "nn_internal.h"

#include <math.h>

enum { LANES = 16 };

static void norm_row(const float *x, int w, const float *gamma, const float *beta, float eps,
                     float *out_f32, uint16_t *out_bf16)
{
    float acc[LANES] = { 0 };
    int i = 0;
    for (; i + LANES <= w; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[i + l];
    float sum = 0;
    for (int l = 0; l < LANES; l++)
        sum += acc[l];
    for (; i < w; i++)
        sum += x[i];
    float mean = sum / (float)w;

    float vacc[LANES] = { 0 };
    for (i = 0; i + LANES <= w; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float d = x[i + l] - mean;
            vacc[l] += d * d;
        }
    float var = 0;
    for (int l = 0; l < LANES; l++)
        var += vacc[l];
    for (; i < w; i++) {
        float d = x[i] - mean;
        var += d * d;
    }
    var /= (float)w;
    float inv = 1.0f / sqrtf(var + eps);
    if (out_f32) {
        for (i = 0; i < w; i++)
            out_f32[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
    } else {
        for (i = 0; i < w; i++)
            out_bf16[i] = dp_f32_to_bf16((x[i] - mean) * inv * gamma[i] + beta[i]);
    }
}

void dp_layernorm(dp_nn *nn, const float *x, int rows, int width, int x_ld, const float *gamma,
                  const float *beta, float eps, void *out, int out_ld, dp_dtype_c out_dt)
{
#pragma omp parallel for num_threads(nn->threads) schedule(static) if (rows > 16)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * x_ld;
        if (out_dt == DP_C_F32)
            norm_row(xr, width, gamma, beta, eps, (float *)out + (size_t)r * out_ld, NULL);
        else
            norm_row(xr, width, gamma, beta, eps, NULL, (uint16_t *)out + (size_t)r * out_ld);
    }
}
