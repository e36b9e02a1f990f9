/* Backward of a frozen pre-LayerNorm CLIP block:
 *   x1 = x0 + out_proj(MHA(ln_1(x0)));  x2 = x1 + c_proj(QuickGELU(c_fc(ln_2(x1))))
 * dx1 = dx2 + ln_2'(c_fc'(QuickGELU'(c_proj'(dx2))));  dx0 = dx1 + ln_1'(in_proj'(MHA'(out_proj'(dx1)))) */
#include "transformer_backward.h"
#include "dp_size.h"
#include "model_config.h"

#include <stdlib.h>
#include <string.h>

dp_status dp_block_grad_build(dp_nn *nn, const dp_block *blk, int m_hint, dp_block_grad *bg, dp_err *err)
{
    memset(bg, 0, sizeof *bg);
    dp_status st = dp_linear_init_transposed(nn, &blk->in_proj, m_hint, &bg->in_proj_t, err);
    if (!st) st = dp_linear_init_transposed(nn, &blk->out_proj, m_hint, &bg->out_proj_t, err);
    if (!st) st = dp_linear_init_transposed(nn, &blk->c_fc, m_hint, &bg->c_fc_t, err);
    if (!st) st = dp_linear_init_transposed(nn, &blk->c_proj, m_hint, &bg->c_proj_t, err);
    if (st)
        dp_block_grad_free(bg);
    return st;
}

void dp_block_grad_free(dp_block_grad *bg)
{
    dp_linear_free(&bg->in_proj_t);
    dp_linear_free(&bg->out_proj_t);
    dp_linear_free(&bg->c_fc_t);
    dp_linear_free(&bg->c_proj_t);
}

size_t dp_block_grad_bytes(const dp_block_grad *bg)
{
    return dp_linear_bytes(&bg->in_proj_t) + dp_linear_bytes(&bg->out_proj_t) +
           dp_linear_bytes(&bg->c_fc_t) + dp_linear_bytes(&bg->c_proj_t);
}

size_t dp_block_grad_arena_bytes(size_t rows, int width)
{
    return dp_block_arena_bytes(rows, width, DP_C_F32) + rows * (size_t)width * 4 * (3 + 4 + 1);
}

dp_status dp_block_grad_arena_alloc(dp_block_grad_arena *a, size_t rows, int width, dp_err *err)
{
    memset(a, 0, sizeof *a);
    dp_status st = dp_block_arena_alloc(&a->fwd, rows, width, DP_C_F32, err);
    if (st)
        return st;
    size_t rw = rows * (size_t)width * sizeof(float);
    a->dqkv = dp_alloc_aligned(3 * rw);
    a->dmlp = dp_alloc_aligned(4 * rw);
    a->dh = dp_alloc_aligned(rw);
    if (!a->dqkv || !a->dmlp || !a->dh) {
        dp_block_grad_arena_free(a);
        return dp_fail(err, DP_E_NOMEM, "out of memory for %zu gradient rows of width %d", rows, width);
    }
    return DP_OK;
}

void dp_block_grad_arena_free(dp_block_grad_arena *a)
{
    dp_block_arena_free(&a->fwd);
    free(a->dqkv);
    free(a->dmlp);
    free(a->dh);
    memset(a, 0, sizeof *a);
}

dp_status dp_block_backward(dp_nn *nn, const dp_block *blk, const dp_block_grad *bg,
                            dp_attention *attn, dp_attention_grad *attn_grad,
                            dp_block_grad_arena *a, const float *x0, float *dx, int batch,
                            int tokens, dp_err *err)
{
    const int W = blk->width, rows = batch * tokens;
    dp_block_arena *f = &a->fwd;
    float *h = f->h, *qkv = f->qkv, *att = f->att, *z = f->mlp;
    /* recompute: the same calls as dp_block_run up to c_fc, whose activation is applied in
     * the backward instead (it needs the pre-activation z) */
    memcpy(f->x, x0, (size_t)rows * W * sizeof(float));
    dp_layernorm(nn, f->x, rows, W, W, blk->ln1_g, blk->ln1_b, DP_LAYERNORM_EPS, h, W, DP_C_F32);
    dp_status st = dp_linear_run(nn, &blk->in_proj, h, rows, W, qkv, 3 * W, DP_C_F32, DP_EPI_NONE, err);
    if (!st) st = dp_attention_run(attn, qkv, batch, att, err);
    if (!st) st = dp_linear_run(nn, &blk->out_proj, att, rows, W, f->x, W, DP_C_F32, DP_EPI_ACCUMULATE, err);
    if (st)
        return st;
    dp_layernorm(nn, f->x, rows, W, W, blk->ln2_g, blk->ln2_b, DP_LAYERNORM_EPS, h, W, DP_C_F32);
    if ((st = dp_linear_run(nn, &blk->c_fc, h, rows, W, z, 4 * W, DP_C_F32, DP_EPI_NONE, err)))
        return st;

    /* MLP branch: dx += ln_2'(c_fc'(QuickGELU'(c_proj'(dx)))) */
    if ((st = dp_linear_backward(nn, &bg->c_proj_t, dx, rows, W, a->dmlp, 4 * W, 0, err)))
        return st;
    dp_quickgelu_backward(nn, z, a->dmlp, a->dmlp, (size_t)rows * 4 * W);
    if ((st = dp_linear_backward(nn, &bg->c_fc_t, a->dmlp, rows, 4 * W, a->dh, W, 0, err)))
        return st;
    dp_layernorm_backward(nn, f->x, rows, W, W, blk->ln2_g, DP_LAYERNORM_EPS, a->dh, W, dx, W, 1);

    /* attention branch: dx += ln_1'(in_proj'(MHA'(out_proj'(dx)))) */
    if ((st = dp_linear_backward(nn, &bg->out_proj_t, dx, rows, W, att, W, 0, err)))
        return st;
    if ((st = dp_attention_grad_run(attn_grad, qkv, att, batch, a->dqkv, err)))
        return st;
    if ((st = dp_linear_backward(nn, &bg->in_proj_t, a->dqkv, rows, 3 * W, a->dh, W, 0, err)))
        return st;
    dp_layernorm_backward(nn, x0, rows, W, W, blk->ln1_g, DP_LAYERNORM_EPS, a->dh, W, dx, W, 1);
    return DP_OK;
}

void dp_prompts_mix_backward(float *dx, int seqs, size_t seq_stride, float *d_prompts, int n_rows,
                             int width, int first_block)
{
    const size_t n = (size_t)n_rows * width;
    const float to_prompt = first_block ? 1.0f : 1.0f - DP_PROMPT_KEEP;
    const float to_rows = first_block ? 0.0f : DP_PROMPT_KEEP;
    for (int s = 0; s < seqs; s++) {
        float *rows = dx + (size_t)s * seq_stride;
        for (size_t i = 0; i < n; i++) {
            d_prompts[i] += to_prompt * rows[i];
            rows[i] *= to_rows;
        }
    }
}
