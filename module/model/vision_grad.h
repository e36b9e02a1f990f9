/* Training forward and backward of the frozen vision tower, down to DAPO's visual prompt tokens
 * (dapo.md §2.3, §4.3). The forward keeps one checkpoint per block (its input) and recomputes
 * inside each block during the backward, so activations cost (layers + 1) residual streams plus
 * one block's working set. f32 only. */
#ifndef DP_VISION_GRAD_H
#define DP_VISION_GRAD_H

#include "clip_vision.h"

typedef struct dp_vision_grad dp_vision_grad;

/* v: borrowed, must outlive g; built f32. max_batch: images per forward (1..64). */
dp_status dp_vision_grad_create(dp_vision *v, int max_batch, dp_vision_grad **out, dp_err *err);
void dp_vision_grad_free(dp_vision_grad *g);

/* Forward on pre [batch][3][S][S] (borrowed) with the tower's current visual tokens; the same
 * numbers as dp_vision_run. */
dp_status dp_vision_grad_forward(dp_vision_grad *g, const float *pre, int batch, dp_err *err);
/* After a forward: [G*G][Wv] patch rows F_j of image b after feature layer j (the adapters'
 * input: raw residual stream, CLS and prompt rows removed); borrowed, valid until the next
 * forward. */
const float *dp_vision_grad_features(const dp_vision_grad *g, int j, int b);
/* [E] unnormalised global embedding ln_post(CLS) @ proj of image b; borrowed. */
const float *dp_vision_grad_global(const dp_vision_grad *g, int b);

/* d_features[j]: [batch][G*G][Wv] dL/dF_j (borrowed; an entry may be NULL = zero); d_global:
 * [batch][E] dL/dg (borrowed, may be NULL). Adds dL/d(visual tokens) to d_visual_tokens
 * [layers][4][Wv] (caller-owned, zeroed by the caller). Uses the last forward's batch. */
dp_status dp_vision_grad_backward(dp_vision_grad *g, const float *const d_features[4],
                                  const float *d_global, float *d_visual_tokens, dp_err *err);

/* Bytes held by the training state beyond the inference tower: checkpoints, one block's
 * forward and backward buffers, attention scratch, the transposed weights. */
size_t dp_vision_grad_peak_bytes(const dp_vision_grad *g);

/* Replaces the visual prompt tokens [layers][4][Wv] (borrowed, copied) after an optimiser step;
 * both dp_vision_run and dp_vision_grad_forward use them from then on. */
dp_status dp_vision_set_visual_tokens(dp_vision *v, const float *visual_tokens, dp_err *err);

#endif
