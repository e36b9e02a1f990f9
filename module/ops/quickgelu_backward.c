/* QuickGELU backward: y = z s, s = sigmoid(1.702 z)  =>  y' = s + 1.702 z s (1 - s). */
#include "nn_internal.h"
#include "nn_grad.h"

#include <math.h>

void dp_quickgelu_backward(dp_nn *nn, const float *z, const float *dy, float *dz, size_t n)
{
#pragma omp parallel for num_threads(nn->threads) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-1.702f * z[i]));
        dz[i] = dy[i] * (s + 1.702f * z[i] * s * (1.0f - s));
    }
}
