/* One pre-LayerNorm CLIP residual block, shared by the image and text towers:
 *   x += out_proj(MHA(ln_1(x)));  x += c_proj(QuickGELU(c_fc(ln_2(x)))) */
#ifndef DP_TRANSFORMER_H
#define DP_TRANSFORMER_H

#include "nn.h"
#include "weight_source.h"

typedef struct dp_block {
    int width;
    float *ln1_g, *ln1_b, *ln2_g, *ln2_b;     /* [width] each, owned */
    dp_linear in_proj, out_proj, c_fc, c_proj;
} dp_block;

/* Activation buffers of one tower, sized once for rows = batch * tokens. */
typedef struct dp_block_arena {
    float *x;      /* [rows][W] residual stream, f32 */
    void *h;       /* [rows][W] layer-norm output, compute type */
    void *qkv;     /* [rows][3W] */
    void *att;     /* [rows][W] */
    void *mlp;     /* [rows][4W] */
} dp_block_arena;

/* Reads "<prefix>.ln_1.weight" ... from src; scratch: caller-owned buffer of at least
 * 4*W*W floats used to stage each matrix. m_hint: rows per matmul at run time. */
dp_status dp_block_build(dp_nn *nn, const dp_weight_source *src, const char *prefix, int width,
                         int m_hint, dp_dtype_c dt, float *scratch, dp_block *blk, dp_err *err);
void dp_block_free(dp_block *blk);
size_t dp_block_bytes(const dp_block *blk);

dp_status dp_block_arena_alloc(dp_block_arena *a, size_t rows, int width, dp_dtype_c dt, dp_err *err);
void dp_block_arena_free(dp_block_arena *a);
size_t dp_block_arena_bytes(size_t rows, int width, dp_dtype_c dt);

/* Runs the block on a->x[rows] (batch sequences of `tokens` rows each). dt: the linears'
 * compute type (the activations are of dp_act_dtype(dt)). *attn_seconds (may be NULL)
 * accumulates the time spent in attention. */
dp_status dp_block_run(dp_nn *nn, const dp_block *blk, dp_attention *attn, dp_block_arena *a,
                       int batch, int tokens, dp_dtype_c dt, double *attn_seconds, dp_err *err);

/* Creates (or finds) every primitive dp_block_run uses for `batch` sequences of `tokens` rows
 * without running the block: the warm-up of batch sizes not run at load. */
dp_status dp_block_prepare(dp_nn *nn, const dp_block *blk, int batch, int tokens, dp_dtype_c dt,
                           dp_err *err);

/* DAPO's deep prompts: the n_rows prompt rows of each of `seqs` sequences, starting at
 * x + s*seq_stride (floats), become DP_PROMPT_KEEP * x + (1 - DP_PROMPT_KEEP) * prompts, or the
 * prompts themselves when `first_block` (before the first block). x: borrowed, updated;
 * prompts: borrowed [n_rows][width]. */
void dp_prompts_mix(float *x, int seqs, size_t seq_stride, const float *prompts, int n_rows,
                    int width, int first_block);

#endif
