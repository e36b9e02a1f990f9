/* Layer-norm backward with frozen gamma: with xh = (x - mean) / sigma and g = dy * gamma,
 * dx = (g - mean(g) - xh * mean(g * xh)) / sigma. Statistics are recomputed from x (in double,
 * so the only f32 rounding left is the forward's own). */
#include "nn_internal.h"
#include "nn_grad.h"

#include <math.h>

static void row_backward(const float *x, int w, const float *gamma, float eps, const float *dy,
                         float *dx, int accumulate)
{
    double sum = 0;
    for (int i = 0; i < w; i++)
        sum += x[i];
    double mean = sum / w, var = 0;
    for (int i = 0; i < w; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= w;
    double inv = 1.0 / sqrt(var + eps);
    double mg = 0, mgx = 0;
    for (int i = 0; i < w; i++) {
        double g = (double)dy[i] * gamma[i];
        mg += g;
        mgx += g * (x[i] - mean) * inv;
    }
    mg /= w;
    mgx /= w;
    for (int i = 0; i < w; i++) {
        double g = (double)dy[i] * gamma[i];
        double d = (g - mg - (x[i] - mean) * inv * mgx) * inv;
        dx[i] = accumulate ? dx[i] + (float)d : (float)d;
    }
}

void dp_layernorm_backward(dp_nn *nn, const float *x, int rows, int width, int x_ld,
                           const float *gamma, float eps, const float *dy, int dy_ld, float *dx,
                           int dx_ld, int accumulate)
{
#pragma omp parallel for num_threads(nn->threads) schedule(static) if (rows > 16)
    for (int r = 0; r < rows; r++)
        row_backward(x + (size_t)r * x_ld, width, gamma, eps, dy + (size_t)r * dy_ld,
                     dx + (size_t)r * dx_ld, accumulate);
}
