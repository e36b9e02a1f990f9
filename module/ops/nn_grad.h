/* Backward passes of the op layer through FROZEN weights: only input gradients, never weight
 * gradients (DAPO trains prompts and heads; the CLIP towers stay fixed). f32 only.
 *
 * Conventions: dY is the gradient of a scalar loss with respect to an op's output, dX the one
 * with respect to its input. `accumulate` = 1 adds into dX (residual branches), 0 overwrites.
 * Every array argument is borrowed for the call (inputs read, outputs caller-owned); nothing
 * is retained. */
#ifndef DP_NN_GRAD_H
#define DP_NN_GRAD_H

#include "nn.h"

/* ---- linear: y = x W^T + b  =>  dx = dy W --------------------------------------------
 * Builds, from a forward layer `fwd` (f32; borrowed, only read during the call), the layer
 * whose forward product is the backward one: weights W^T reordered once into the matmul's
 * preferred layout, no bias. m_hint: rows per call. */
dp_status dp_linear_init_transposed(dp_nn *nn, const dp_linear *fwd, int m_hint, dp_linear *bwd,
                                    dp_err *err);
/* dx[m][dx_ld] (+)= dy[m][dy_ld] W, with bwd from dp_linear_init_transposed (bwd->in = N);
 * bwd: caller-owned, freed with dp_linear_free. */
dp_status dp_linear_backward(dp_nn *nn, const dp_linear *bwd, const float *dy, int m, int dy_ld,
                             float *dx, int dx_ld, int accumulate, dp_err *err);

/* ---- QuickGELU: y = z sigmoid(1.702 z) ----------------------------------------------------
 * dz[i] = dy[i] * y'(z[i]) over n contiguous values; dz may alias dy. */
void dp_quickgelu_backward(dp_nn *nn, const float *z, const float *dy, float *dz, size_t n);

/* ---- layer norm (biased variance, frozen gamma/beta) --------------------------------------
 * x: the forward input rows; dy: gradient w.r.t. the normalised output; dx (+)= dL/dx. */
void dp_layernorm_backward(dp_nn *nn, const float *x, int rows, int width, int x_ld,
                           const float *gamma, float eps, const float *dy, int dy_ld, float *dx,
                           int dx_ld, int accumulate);

/* ---- attention: out = softmax(q k^T / sqrt(hd)) v per head, no mask ------------------------
 * The probabilities are recomputed from q and k one block of query rows at a time, so no
 * [tokens x tokens] matrix of a head is ever whole; the five products per block run as oneDNN
 * matmuls created once for one thread and run by each thread of the team on its own heads. */
typedef struct dp_attention_grad dp_attention_grad;
dp_status dp_attention_grad_create(dp_nn *nn, int tokens, int width, int heads, int max_batch,
                                   dp_attention_grad **out, dp_err *err);
void dp_attention_grad_free(dp_attention_grad *ag);
/* qkv: [batch*tokens][3*width] forward input (q | k | v, heads contiguous inside each);
 * dout: [batch*tokens][width]; dqkv: [batch*tokens][3*width], overwritten. All borrowed. */
dp_status dp_attention_grad_run(dp_attention_grad *ag, const float *qkv, const float *dout,
                                int batch, float *dqkv, dp_err *err);
size_t dp_attention_grad_bytes(const dp_attention_grad *ag);

#endif
