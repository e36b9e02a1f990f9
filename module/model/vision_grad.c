/* Training forward/backward of the vision tower (vision_grad.h). Forward: dp_vision_embed, then
 * per block the prompt re-mix, a checkpoint of the block's input, dp_block_run: the same calls
 * as dp_vision_run. Backward, last block first: dL/dF_j enters after feature layer j, dL/dg
 * enters the final CLS row through ln_post; each block is recomputed from its checkpoint and
 * differentiated (transformer_backward.c); the prompt rows' gradient then goes to the tokens. */
#include "vision_grad.h"
#include "clip_vision_internal.h"
#include "dp_size.h"
#include "transformer_backward.h"

#include <stdlib.h>
#include <string.h>

struct dp_vision_grad {
    dp_vision *v;                 /* borrowed */
    int max_batch, batch;         /* batch: of the last forward, 0 before one */
    int W, E, T, GG, layers;
    dp_block_grad *bgrad;         /* [layers], owned */
    dp_attention *attn;           /* owned: sized for max_batch */
    dp_attention_grad *attn_grad; /* owned */
    dp_block_grad_arena arena;    /* one block's working set */
    float *ckpt;                  /* [layers+1][max_batch][T][W]: input of block i; [layers] = output */
    float *dx;                    /* [max_batch][T][W] gradient of the residual stream */
    void *patch_rows;             /* [max_batch*G*G][3*P*P] */
    float *global;                /* [max_batch][E] */
    float *row, *drow;            /* [W] */
    size_t bytes;
};

static float *ckpt(const dp_vision_grad *g, int i)
{
    return g->ckpt + (size_t)i * g->max_batch * g->T * g->W;
}

dp_status dp_vision_grad_create(dp_vision *v, int max_batch, dp_vision_grad **out, dp_err *err)
{
    *out = NULL;
    if (v->opt.dt != DP_C_F32)
        return dp_fail(err, DP_E_ARG, "vision training needs a tower built in f32");
    if (max_batch < 1 || max_batch > 64)
        return dp_fail(err, DP_E_ARG, "vision training batch %d: expected 1..64", max_batch);
    dp_vision_grad *g = calloc(1, sizeof *g);
    if (!g)
        return dp_fail(err, DP_E_NOMEM, "out of memory for vision training");
    g->v = v;
    g->max_batch = max_batch;
    g->W = v->cfg.vision_width;
    g->E = v->cfg.embed_dim;
    g->T = v->tokens;
    g->GG = v->patches;
    g->layers = v->cfg.vision_layers;
    const size_t rows = (size_t)max_batch * g->T, rw = rows * g->W;
    const size_t pdim = (size_t)3 * v->cfg.patch_size * v->cfg.patch_size;
    dp_status st = DP_OK;
    g->bgrad = calloc((size_t)g->layers, sizeof *g->bgrad);
    if (!g->bgrad)
        st = dp_fail(err, DP_E_NOMEM, "out of memory for vision backward weights");
    for (int i = 0; !st && i < g->layers; i++) {
        st = dp_block_grad_build(v->nn, &v->blocks[i], (int)rows, &g->bgrad[i], err);
        g->bytes += st ? 0 : dp_block_grad_bytes(&g->bgrad[i]);
    }
    if (!st)
        st = dp_attention_create(v->nn, g->T, g->W, v->cfg.vision_heads, max_batch, DP_C_F32, 0,
                                 &g->attn, err);
    if (!st)
        st = dp_attention_grad_create(v->nn, g->T, g->W, v->cfg.vision_heads, max_batch,
                                      &g->attn_grad, err);
    if (!st)
        st = dp_block_grad_arena_alloc(&g->arena, rows, g->W, err);
    if (!st) {
        g->ckpt = dp_alloc_aligned((size_t)(g->layers + 1) * rw * sizeof(float));
        g->dx = dp_alloc_aligned(rw * sizeof(float));
        g->patch_rows = dp_alloc_aligned((size_t)max_batch * g->GG * pdim * sizeof(float));
        g->global = malloc((size_t)max_batch * g->E * sizeof(float));
        g->row = malloc((size_t)g->W * sizeof(float));
        g->drow = malloc((size_t)g->W * sizeof(float));
        if (!g->ckpt || !g->dx || !g->patch_rows || !g->global || !g->row || !g->drow)
            st = dp_fail(err, DP_E_NOMEM, "out of memory for %d vision checkpoints of %zu rows",
                         g->layers + 1, rows);
    }
    if (st) {
        dp_vision_grad_free(g);
        return st;
    }
    g->bytes += dp_attention_bytes(g->attn) + dp_attention_grad_bytes(g->attn_grad) +
                dp_block_grad_arena_bytes(rows, g->W) +
                ((size_t)(g->layers + 2) * rw + (size_t)max_batch * g->GG * pdim +
                 (size_t)max_batch * g->E + 2 * (size_t)g->W) * sizeof(float);
    *out = g;
    return DP_OK;
}

void dp_vision_grad_free(dp_vision_grad *g)
{
    if (!g)
        return;
    if (g->bgrad)
        for (int i = 0; i < g->layers; i++)
            dp_block_grad_free(&g->bgrad[i]);
    free(g->bgrad);
    dp_attention_free(g->attn);
    dp_attention_grad_free(g->attn_grad);
    dp_block_grad_arena_free(&g->arena);
    free(g->ckpt);
    free(g->dx);
    free(g->patch_rows);
    free(g->global);
    free(g->row);
    free(g->drow);
    free(g);
}

dp_status dp_vision_grad_forward(dp_vision_grad *g, const float *pre, int batch, dp_err *err)
{
    if (!pre || batch < 1 || batch > g->max_batch)
        return dp_fail(err, DP_E_ARG, "vision training batch %d: expected 1..%d images", batch,
                       g->max_batch);
    dp_vision *v = g->v;
    const int W = g->W, T = g->T;
    const size_t n = (size_t)batch * T * W;
    float *x = g->arena.fwd.x;
    g->batch = 0;
    dp_status st = dp_vision_embed(v, pre, batch, g->patch_rows, x, err);
    for (int i = 0; !st && i < g->layers; i++) {
        dp_prompts_mix(x + W, batch, (size_t)T * W, v->prompts + (size_t)i * DP_VISUAL_PROMPTS * W,
                       DP_VISUAL_PROMPTS, W, i == 0);
        memcpy(ckpt(g, i), x, n * sizeof *x);
        st = dp_block_run(v->nn, &v->blocks[i], g->attn, &g->arena.fwd, batch, T, DP_C_F32, NULL, err);
    }
    if (st)
        return st;
    memcpy(ckpt(g, g->layers), x, n * sizeof *x);
    for (int b = 0; b < batch; b++)
        dp_vision_global_row(v, x + (size_t)b * T * W, g->row, g->global + (size_t)b * g->E);
    g->batch = batch;
    return DP_OK;
}

const float *dp_vision_grad_features(const dp_vision_grad *g, int j, int b)
{
    if (j < 0 || j >= DP_FEATURE_LAYERS || b < 0 || b >= g->batch)
        return NULL;
    /* the input of block l (after its re-mix, which touches prompt rows only) is the output of
     * block l-1, so the patch rows of checkpoint l are F after layer l */
    int l = g->v->opt.feature_layers[j];
    return ckpt(g, l) + ((size_t)b * g->T + 1 + DP_VISUAL_PROMPTS) * g->W;
}

const float *dp_vision_grad_global(const dp_vision_grad *g, int b)
{
    if (b < 0 || b >= g->batch)
        return NULL;
    return g->global + (size_t)b * g->E;
}

/* dx[CLS of b] += ln_post'(proj dg_b). */
static void global_backward(dp_vision_grad *g, const float *d_global)
{
    const dp_vision *v = g->v;
    const int W = g->W, E = g->E, T = g->T;
    for (int b = 0; b < g->batch; b++) {
        const float *dg = d_global + (size_t)b * E;
        for (int i = 0; i < W; i++) {
            const float *pr = v->proj + (size_t)i * E;
            double s = 0;
            for (int e = 0; e < E; e++)
                s += (double)pr[e] * dg[e];
            g->drow[i] = (float)s;
        }
        size_t cls = (size_t)b * T * W;
        dp_layernorm_backward(v->nn, ckpt(g, g->layers) + cls, 1, W, W, v->ln_post_g,
                              DP_LAYERNORM_EPS, g->drow, W, g->dx + cls, W, 1);
    }
}

dp_status dp_vision_grad_backward(dp_vision_grad *g, const float *const d_features[4],
                                  const float *d_global, float *d_visual_tokens, dp_err *err)
{
    if (g->batch < 1)
        return dp_fail(err, DP_E_ARG, "vision backward called before a training forward");
    if (!d_visual_tokens)
        return dp_fail(err, DP_E_ARG, "vision backward: no buffer for the visual-token gradient");
    dp_vision *v = g->v;
    const int W = g->W, T = g->T, GG = g->GG, batch = g->batch;
    memset(g->dx, 0, (size_t)batch * T * W * sizeof *g->dx);
    if (d_global)
        global_backward(g, d_global);
    for (int i = g->layers - 1; i >= 0; i--) {
        for (int j = 0; d_features && j < DP_FEATURE_LAYERS; j++) {
            if (v->opt.feature_layers[j] != i + 1 || !d_features[j])
                continue;
            for (int b = 0; b < batch; b++) {
                float *dst = g->dx + ((size_t)b * T + 1 + DP_VISUAL_PROMPTS) * W;
                const float *src = d_features[j] + (size_t)b * GG * W;
                for (size_t k = 0; k < (size_t)GG * W; k++)
                    dst[k] += src[k];
            }
        }
        dp_status st = dp_block_backward(v->nn, &v->blocks[i], &g->bgrad[i], g->attn, g->attn_grad,
                                         &g->arena, ckpt(g, i), g->dx, batch, T, err);
        if (st)
            return st;
        dp_prompts_mix_backward(g->dx + W, batch, (size_t)T * W,
                                d_visual_tokens + (size_t)i * DP_VISUAL_PROMPTS * W,
                                DP_VISUAL_PROMPTS, W, i == 0);
    }
    return DP_OK;
}

size_t dp_vision_grad_peak_bytes(const dp_vision_grad *g)
{
    return g->bytes;
}

dp_status dp_vision_set_visual_tokens(dp_vision *v, const float *visual_tokens, dp_err *err)
{
    if (!visual_tokens)
        return dp_fail(err, DP_E_ARG, "visual tokens: NULL");
    memcpy(v->prompts, visual_tokens,
           (size_t)v->cfg.vision_layers * DP_VISUAL_PROMPTS * v->cfg.vision_width * sizeof(float));
    return DP_OK;
}
