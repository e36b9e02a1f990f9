/* CLIP residual block on the op layer. */
#include "transformer.h"
#include "dp_size.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static dp_status read_vec(const dp_weight_source *src, const char *prefix, const char *leaf,
                          int n, float **out, dp_err *err)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    return dp_weights_read_new(src, name, (size_t)n, out, err);
}

static dp_status read_linear(dp_nn *nn, const dp_weight_source *src, const char *prefix,
                             const char *wname, const char *bname, int in, int out, int m_hint,
                             dp_dtype_c dt, float *scratch, dp_linear *lin, dp_err *err)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, wname);
    dp_status st = src->read(src->ctx, name, scratch, (size_t)in * out, err);
    if (st)
        return st;
    float *bias = NULL;
    if ((st = read_vec(src, prefix, bname, out, &bias, err))) {
        free(bias);
        return st;
    }
    st = dp_linear_init(nn, lin, scratch, bias, in, out, m_hint, dt, err);
    free(bias);
    return st;
}

dp_status dp_block_build(dp_nn *nn, const dp_weight_source *src, const char *prefix, int width,
                         int m_hint, dp_dtype_c dt, float *scratch, dp_block *blk, dp_err *err)
{
    memset(blk, 0, sizeof *blk);
    blk->width = width;
    const int W = width;
    dp_status st = read_vec(src, prefix, "ln_1.weight", W, &blk->ln1_g, err);
    if (!st) st = read_vec(src, prefix, "ln_1.bias", W, &blk->ln1_b, err);
    if (!st) st = read_vec(src, prefix, "ln_2.weight", W, &blk->ln2_g, err);
    if (!st) st = read_vec(src, prefix, "ln_2.bias", W, &blk->ln2_b, err);
    if (!st) st = read_linear(nn, src, prefix, "attn.in_proj_weight", "attn.in_proj_bias", W, 3 * W,
                              m_hint, dt, scratch, &blk->in_proj, err);
    if (!st) st = read_linear(nn, src, prefix, "attn.out_proj.weight", "attn.out_proj.bias", W, W,
                              m_hint, dt, scratch, &blk->out_proj, err);
    if (!st) st = read_linear(nn, src, prefix, "mlp.c_fc.weight", "mlp.c_fc.bias", W, 4 * W,
                              m_hint, dt, scratch, &blk->c_fc, err);
    if (!st) st = read_linear(nn, src, prefix, "mlp.c_proj.weight", "mlp.c_proj.bias", 4 * W, W,
                              m_hint, dt, scratch, &blk->c_proj, err);
    if (st)
        dp_block_free(blk);
    return st;
}

void dp_block_free(dp_block *blk)
{
    free(blk->ln1_g);
    free(blk->ln1_b);
    free(blk->ln2_g);
    free(blk->ln2_b);
    dp_linear_free(&blk->in_proj);
    dp_linear_free(&blk->out_proj);
    dp_linear_free(&blk->c_fc);
    dp_linear_free(&blk->c_proj);
    memset(blk, 0, sizeof *blk);
}

size_t dp_block_bytes(const dp_block *blk)
{
    return (size_t)blk->width * 4 * sizeof(float) + dp_linear_bytes(&blk->in_proj) +
           dp_linear_bytes(&blk->out_proj) + dp_linear_bytes(&blk->c_fc) +
           dp_linear_bytes(&blk->c_proj);
}

size_t dp_block_arena_bytes(size_t rows, int width, dp_dtype_c dt)
{
    return rows * (size_t)width * (4 + dp_dtype_size(dt) * (1 + 3 + 1 + 4));
}

dp_status dp_block_arena_alloc(dp_block_arena *a, size_t rows, int width, dp_dtype_c dt, dp_err *err)
{
    memset(a, 0, sizeof *a);
    size_t e = dp_dtype_size(dt), rw = rows * (size_t)width;
    a->x = dp_alloc_aligned(rw * 4);
    a->h = dp_alloc_aligned(rw * e);
    a->qkv = dp_alloc_aligned(3 * rw * e);
    a->att = dp_alloc_aligned(rw * e);
    a->mlp = dp_alloc_aligned(4 * rw * e);
    if (!a->x || !a->h || !a->qkv || !a->att || !a->mlp) {
        dp_block_arena_free(a);
        return dp_fail(err, DP_E_NOMEM, "out of memory for %zu activation rows of width %d", rows, width);
    }
    return DP_OK;
}

void dp_block_arena_free(dp_block_arena *a)
{
    free(a->x);
    free(a->h);
    free(a->qkv);
    free(a->att);
    free(a->mlp);
    memset(a, 0, sizeof *a);
}

/* The block's four linears as dp_block_run calls them (dp_block_prepare creates the same
 * primitives): layer, row strides, output type, epilogue. act: the activations' type. */
typedef struct block_linear {
    const dp_linear *lin;
    int src_ld, dst_ld;
    dp_dtype_c dst_dt;
    dp_epilogue epi;
} block_linear;
enum { BL_QKV, BL_OUT, BL_FC, BL_PROJ, BL_COUNT };

static void block_linears(const dp_block *blk, dp_dtype_c act, block_linear bl[BL_COUNT])
{
    const int W = blk->width;
    bl[BL_QKV] = (block_linear){ &blk->in_proj, W, 3 * W, act, DP_EPI_NONE };
    bl[BL_OUT] = (block_linear){ &blk->out_proj, W, W, DP_C_F32, DP_EPI_ACCUMULATE };
    bl[BL_FC] = (block_linear){ &blk->c_fc, W, 4 * W, act, DP_EPI_QUICKGELU };
    bl[BL_PROJ] = (block_linear){ &blk->c_proj, 4 * W, W, DP_C_F32, DP_EPI_ACCUMULATE };
}

static dp_status run_linear(dp_nn *nn, const block_linear *l, const void *src, int rows, void *dst,
                            dp_err *err)
{
    return dp_linear_run(nn, l->lin, src, rows, l->src_ld, dst, l->dst_ld, l->dst_dt, l->epi, err);
}

dp_status dp_block_run(dp_nn *nn, const dp_block *blk, dp_attention *attn, dp_block_arena *a,
                       int batch, int tokens, dp_dtype_c dt, double *attn_seconds, dp_err *err)
{
    const int W = blk->width, rows = batch * tokens;
    dt = dp_act_dtype(dt);     /* int8 linears take and give f32 rows */
    block_linear bl[BL_COUNT];
    block_linears(blk, dt, bl);
    dp_layernorm(nn, a->x, rows, W, W, blk->ln1_g, blk->ln1_b, DP_LAYERNORM_EPS, a->h, W, dt);
    dp_status st = run_linear(nn, &bl[BL_QKV], a->h, rows, a->qkv, err);
    if (st)
        return st;
    double t0 = attn_seconds ? omp_get_wtime() : 0;
    if ((st = dp_attention_run(attn, a->qkv, batch, a->att, err)))
        return st;
    if (attn_seconds)
        *attn_seconds += omp_get_wtime() - t0;
    if ((st = run_linear(nn, &bl[BL_OUT], a->att, rows, a->x, err)))
        return st;
    dp_layernorm(nn, a->x, rows, W, W, blk->ln2_g, blk->ln2_b, DP_LAYERNORM_EPS, a->h, W, dt);
    if ((st = run_linear(nn, &bl[BL_FC], a->h, rows, a->mlp, err)))
        return st;
    return run_linear(nn, &bl[BL_PROJ], a->mlp, rows, a->x, err);
}

dp_status dp_block_prepare(dp_nn *nn, const dp_block *blk, int batch, int tokens, dp_dtype_c dt,
                           dp_err *err)
{
    block_linear bl[BL_COUNT];
    block_linears(blk, dp_act_dtype(dt), bl);
    dp_status st = DP_OK;
    for (int i = 0; !st && i < BL_COUNT; i++)
        st = dp_linear_prepare(nn, bl[i].lin, batch * tokens, bl[i].src_ld, bl[i].dst_ld,
                               bl[i].dst_dt, bl[i].epi, err);
    return st;
}

void dp_prompts_mix(float *x, int seqs, size_t seq_stride, const float *prompts, int n_rows,
                    int width, int first_block)
{
    const size_t n = (size_t)n_rows * width;
    for (int s = 0; s < seqs; s++) {
        float *rows = x + (size_t)s * seq_stride;
        for (size_t i = 0; i < n; i++)
            rows[i] = first_block ? prompts[i]
                                  : DP_PROMPT_KEEP * rows[i] + (1.0f - DP_PROMPT_KEEP) * prompts[i];
    }
}
