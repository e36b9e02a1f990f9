/* Training forward and backward of the frozen text tower, down to DAPO's prompts: the normal and
 * abnormal context vectors and the deep text prompt rows (dapo.md §2.2, §4.3). Sequences go
 * through in the tower's chunks; the forward keeps only each sequence's pooled row, and the
 * backward re-runs one chunk's forward with a checkpoint per block before differentiating it,
 * so activation memory is bounded by the chunk, not by the number of defects. f32 only. */
#ifndef DP_TEXT_GRAD_H
#define DP_TEXT_GRAD_H

#include "clip_text.h"
#include "tokenizer.h"

typedef struct dp_text_grad dp_text_grad;

/* t, tok borrowed, must outlive g (t built f32); defects: n_defects UTF-8 names (borrowed,
 * tokenised during the call). */
dp_status dp_text_grad_create(dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                              int n_defects, dp_text_grad **out, dp_err *err);
void dp_text_grad_free(dp_text_grad *g);

/* Encodes normal + defect states with the tower's current prompts as dp_text_encode does,
 * keeping what the backward needs; fills tf (caller-owned, free with dp_text_features_free). */
dp_status dp_text_grad_forward(dp_text_grad *g, dp_text_features *tf, dp_err *err);
/* The same into tf filled by an earlier dp_text_grad_forward of g (caller-owned, refilled in
 * place): a training loop re-encodes its prompts every step without allocating. On failure tf's
 * contents are undefined (still owned by the caller). */
dp_status dp_text_grad_refresh(dp_text_grad *g, dp_text_features *tf, dp_err *err);

/* After a forward. d_features: [n_states][E] dL/d tf->features (the unit rows; borrowed, may be
 * NULL = zero); d_abnormal: [E] dL/d tf->abnormal (borrowed, may be NULL). Adds into
 * d_normal_ctx [10][5][Wt], d_abnormal_ctx [10][5][Wt], d_layer_tokens [text_layers][4][Wt]
 * (caller-owned, zeroed by the caller). */
dp_status dp_text_grad_backward(dp_text_grad *g, const float *d_features, const float *d_abnormal,
                                float *d_normal_ctx, float *d_abnormal_ctx, float *d_layer_tokens,
                                dp_err *err);

/* Bytes held by the training state (checkpoints of one chunk, its working set, pooled rows,
 * the transposed weights). */
size_t dp_text_grad_peak_bytes(const dp_text_grad *g);

/* Replaces the prompt tensors (borrowed, copied; NULL keeps that one) after an optimiser step;
 * dp_text_encode and dp_text_grad_forward use them from then on. */
dp_status dp_text_set_prompts(dp_text *t, const float *normal_ctx, const float *abnormal_ctx,
                              const float *layer_tokens, dp_err *err);

#endif
