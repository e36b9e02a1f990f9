/* PyTorch's Adam (single-tensor CPU path), elementwise per tensor, exactly as
 * shared/golden/README.md "Training step" §4: no weight decay, no AMSGrad, no schedule; scalars
 * in double, rounded to f32 where they meet the tensors. A tensor that gets no gradient in a
 * step (NULL) is skipped and keeps no state, as PyTorch does for a parameter whose grad is None
 * (meta_net; a group not trained in this stage). */
#ifndef DP_ADAM_H
#define DP_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

/* The reference's optimiser settings (train.py). */
#define DP_ADAM_LR 1e-3
#define DP_ADAM_BETA1 0.5
#define DP_ADAM_BETA2 0.999
#define DP_ADAM_EPS 1e-8

typedef struct dp_adam_config {
    double lr, beta1, beta2, eps;
} dp_adam_config;

typedef struct dp_adam dp_adam;

/* counts: [n] elements per tensor (borrowed). cfg: borrowed (copied). *out caller-owned. */
dp_status dp_adam_create(const dp_adam_config *cfg, const size_t *counts, int n, dp_adam **out,
                         dp_err *err);
void dp_adam_free(dp_adam *a);

/* One step: params[i] (borrowed, updated in place) with grads[i] (borrowed; NULL = no gradient
 * this step: skipped, no state). */
void dp_adam_step(dp_adam *a, float *const *params, const float *const *grads);

/* State of tensor i for checkpoints: *step = its step count t (0 = no state yet); m and v
 * borrowed ([count]), meaningful when *step > 0. */
void dp_adam_state(dp_adam *a, int i, int64_t *step, float **m, float **v);
/* Sets tensor i's step count (resuming); m and v are written through dp_adam_state. */
void dp_adam_set_step(dp_adam *a, int i, int64_t step);

#endif
