/* Backward of one frozen CLIP residual block (transformer.h) down to its input, for prompt
 * training. The block's activations are recomputed from its input (the checkpoint kept by the
 * tower's training forward), so a tower holds one block's worth of activations at a time. */
#ifndef DP_TRANSFORMER_BACKWARD_H
#define DP_TRANSFORMER_BACKWARD_H

#include "nn_grad.h"
#include "transformer.h"

/* W^T of the block's four matrices, packed for the backward products. */
typedef struct dp_block_grad {
    dp_linear in_proj_t, out_proj_t, c_fc_t, c_proj_t;
} dp_block_grad;

/* Buffers of one block's recomputation and backward, rows = batch * tokens. */
typedef struct dp_block_grad_arena {
    dp_block_arena fwd;   /* x = x1 after recomputation, h, qkv, att, mlp = c_fc pre-activation */
    float *dqkv;          /* [rows][3W] */
    float *dmlp;          /* [rows][4W] */
    float *dh;            /* [rows][W] */
} dp_block_grad_arena;

/* blk: built f32 (borrowed, only read). m_hint: rows per call. */
dp_status dp_block_grad_build(dp_nn *nn, const dp_block *blk, int m_hint, dp_block_grad *bg, dp_err *err);
void dp_block_grad_free(dp_block_grad *bg);
size_t dp_block_grad_bytes(const dp_block_grad *bg);

dp_status dp_block_grad_arena_alloc(dp_block_grad_arena *a, size_t rows, int width, dp_err *err);
void dp_block_grad_arena_free(dp_block_grad_arena *a);
size_t dp_block_grad_arena_bytes(size_t rows, int width);

/* x0: [rows][W] the block's input (borrowed); dx: [rows][W] dL/d(output) in, dL/d(input) out.
 * attn / attn_grad: built for (tokens, W, heads) and at least `batch` sequences. */
dp_status dp_block_backward(dp_nn *nn, const dp_block *blk, const dp_block_grad *bg,
                            dp_attention *attn, dp_attention_grad *attn_grad,
                            dp_block_grad_arena *a, const float *x0, float *dx, int batch,
                            int tokens, dp_err *err);

/* Backward of dp_prompts_mix: for every sequence, the prompt rows' gradient dx feeds
 * d_prompts (+= (1 - KEEP) dx, or dx for the first block) and is scaled by KEEP (0 for the
 * first block: the carried-over rows were replaced). */
void dp_prompts_mix_backward(float *dx, int seqs, size_t seq_stride, float *d_prompts, int n_rows,
                             int width, int first_block);

#endif
