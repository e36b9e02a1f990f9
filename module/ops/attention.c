/* Multi-head attention (optionally causal). Two paths, chosen at creation: the fused f32 kernel of
 * attention_fused.c when the plugin's ISA level (isa.h) and the shape allow it, else (bf16, a
 * head width that is not a multiple of 16, the generic level) oneDNN matmul + softmax primitives
 * run inside our own OpenMP loop over (image, head, row block), described below. Each score block [rows x tokens] stays in the
 * core's L2 instead of materialising tokens^2 per head (1374^2 at ViT-L/14@518).
 *
 * The primitives are created for ONE thread (oneDNN reads the OpenMP thread count when a
 * primitive is created) and executed concurrently by every thread of our team, each with its
 * own stream, scratchpad and memory objects: oneDNN primitives are immutable and safe to
 * execute concurrently with distinct scratchpads. K and V of every head are packed once per
 * call into the layout the matmul kernel prefers, so no row block repacks them; Q is copied
 * per head into a dense [tokens][head_dim] block and each output block is written densely and
 * scattered afterwards, because oneDNN 2.6's brgemm kernels take dense operands only (strided
 * views fall back to a gemm path that repacks and allocates on every call). */
#include "nn_internal.h"
#include "attention_fused.h"
#include "dp_size.h"
#include "isa.h"
#include "ops_testing.h"
#include "softmax_rows.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum {
    M_Q0, M_Q1, M_K, M_S0, M_S1, M_P0, M_P1, M_V, M_O0, M_O1, M_KVIEW, M_VVIEW,
    M_SP_QK0, M_SP_QK1, M_SP_SM0, M_SP_SM1, M_SP_SV0, M_SP_SV1, M_SP_RK, M_SP_RV, M_COUNT
};

typedef struct att_thread {
    float *scores;            /* [rb][tokens] f32, owned */
    void *probs;              /* [rb][tokens] of dt, owned */
    void *out;                /* [rb][head_dim] of dt, owned */
    void *kv_dense;           /* [tokens][head_dim] of dt: K or V of one head, rows packed, owned */
    void *scratch;            /* scratchpad of every single-thread primitive, owned */
    dnnl_memory_t mem[M_COUNT];
} att_thread;

struct dp_attention {
    dp_nn *nn;                /* borrowed */
    dp_attn_fused *fused;     /* the fused kernel, owned; NULL = the oneDNN path below */
    int tokens, width, heads, head_dim, max_batch;
    int rb, nblk, tail;       /* row block, blocks per head, rows of the last block if short */
    dp_dtype_c dt;
    int causal;
    int fast_softmax;         /* AVX-512 row softmax instead of the oneDNN primitive */
    dnnl_primitive_t qk[2], sm[2], sv[2], k_pack, v_pack;
    dnnl_memory_desc_t md[M_COUNT];
    size_t k_bytes, v_bytes, scratch_bytes;
    char *packed;             /* [max_batch*heads] x (K, V) packed, owned */
    char *q_dense;            /* [max_batch*heads][tokens][head_dim] of dt, owned */
    int nthr;
    att_thread th[DP_MAX_THREADS];
};

static dp_status attr_user_scratch(dnnl_primitive_attr_t *attr, dp_err *err)
{
    dp_status st = dp_nn_check(dnnl_primitive_attr_create(attr), "attributes", err);
    if (!st)
        st = dp_nn_check(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user),
                         "scratchpad mode", err);
    return st;
}

/* Creates the primitive of pd, notes its scratchpad descriptor in md[sp_slot]. */
static dp_status finish(dp_attention *at, dnnl_primitive_desc_t pd, dnnl_primitive_t *prim,
                        int sp_slot, dp_err *err)
{
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    at->md[sp_slot] = *sp;
    size_t need = dnnl_memory_desc_get_size(sp);
    if (need > at->scratch_bytes)
        at->scratch_bytes = need;
    dp_status st = dp_nn_check(dnnl_primitive_create(prim, pd), "attention primitive", err);
    if (!st)
        at->nn->n_primitives++;
    dnnl_primitive_desc_destroy(pd);
    return st;
}

static dp_status make_matmul(dp_attention *at, const dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                             int wei_any, const dnnl_memory_desc_t *dst, float scale,
                             dnnl_primitive_t *prim, int sp_slot, dp_err *err)
{
    dnnl_matmul_desc_t desc;
    dp_status st = dp_nn_check(dnnl_matmul_desc_init(&desc, src, wei, NULL, dst), "attention matmul", err);
    dnnl_primitive_attr_t attr = NULL;
    if (!st)
        st = attr_user_scratch(&attr, err);
    if (!st && scale != 1.0f)
        st = dp_nn_check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "score scale", err);
    dnnl_primitive_desc_t pd = NULL;
    if (!st)
        st = dp_nn_check(dnnl_primitive_desc_create(&pd, &desc, attr, at->nn->engine, NULL),
                         "attention matmul", err);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st)
        return st;
    if (wei_any)
        *wei = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    return finish(at, pd, prim, sp_slot, err);
}

static dp_status make_softmax(dp_attention *at, const dnnl_memory_desc_t *src,
                              const dnnl_memory_desc_t *dst, dnnl_primitive_t *prim, int sp_slot,
                              dp_err *err)
{
    dnnl_softmax_v2_desc_t desc;
    dp_status st = dp_nn_check(dnnl_softmax_v2_forward_desc_init(&desc, dnnl_forward_inference,
                                                                 dnnl_softmax_accurate, src, dst, 1),
                               "attention softmax", err);
    dnnl_primitive_attr_t attr = NULL;
    if (!st)
        st = attr_user_scratch(&attr, err);
    dnnl_primitive_desc_t pd = NULL;
    if (!st)
        st = dp_nn_check(dnnl_primitive_desc_create(&pd, &desc, attr, at->nn->engine, NULL),
                         "attention softmax", err);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st ? st : finish(at, pd, prim, sp_slot, err);
}

static dp_status make_reorder(dp_attention *at, const dnnl_memory_desc_t *src,
                              const dnnl_memory_desc_t *dst, dnnl_primitive_t *prim, int sp_slot,
                              dp_err *err)
{
    dnnl_primitive_attr_t attr = NULL;
    dp_status st = attr_user_scratch(&attr, err);
    dnnl_primitive_desc_t pd = NULL;
    if (!st)
        st = dp_nn_check(dnnl_reorder_primitive_desc_create(&pd, src, at->nn->engine, dst,
                                                            at->nn->engine, attr), "K/V packing", err);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st ? st : finish(at, pd, prim, sp_slot, err);
}

static dp_status build(dp_attention *at, dp_err *err)
{
    const int T = at->tokens, hd = at->head_dim, rb = at->rb;
    const int tail = at->tail;
    const float scale = 1.0f / sqrtf((float)hd);
    dnnl_memory_desc_t *md = at->md;
    dp_status st = DP_OK;
    dnnl_dims_t kd = { hd, T };
    dnnl_dims_t vd = { T, hd };
    if (!st) st = dp_nn_md_2d(&md[M_Q0], rb, hd, hd, 1, at->dt, err);
    if (!st) st = dp_nn_md_2d(&md[M_S0], rb, T, T, 1, DP_C_F32, err);
    if (!st) st = dp_nn_md_2d(&md[M_P0], rb, T, T, 1, at->dt, err);
    if (!st) st = dp_nn_md_2d(&md[M_O0], rb, hd, hd, 1, at->dt, err);
    if (!st) st = dp_nn_md_2d(&md[M_KVIEW], hd, T, 1, hd, at->dt, err);
    if (!st) st = dp_nn_md_2d(&md[M_VVIEW], T, hd, hd, 1, at->dt, err);
    if (!st) st = dp_nn_check(dnnl_memory_desc_init_by_tag(&md[M_K], 2, kd, dp_nn_dt(at->dt),
                                                           dnnl_format_tag_any), "K descriptor", err);
    if (!st) st = dp_nn_check(dnnl_memory_desc_init_by_tag(&md[M_V], 2, vd, dp_nn_dt(at->dt),
                                                           dnnl_format_tag_any), "V descriptor", err);
    if (!st) st = make_matmul(at, &md[M_Q0], &md[M_K], 1, &md[M_S0], scale, &at->qk[0], M_SP_QK0, err);
    if (!st) st = make_softmax(at, &md[M_S0], &md[M_P0], &at->sm[0], M_SP_SM0, err);
    if (!st) st = make_matmul(at, &md[M_P0], &md[M_V], 1, &md[M_O0], 1.0f, &at->sv[0], M_SP_SV0, err);
    if (!st && tail) {
        st = dp_nn_md_2d(&md[M_Q1], tail, hd, hd, 1, at->dt, err);
        if (!st) st = dp_nn_md_2d(&md[M_S1], tail, T, T, 1, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[M_P1], tail, T, T, 1, at->dt, err);
        if (!st) st = dp_nn_md_2d(&md[M_O1], tail, hd, hd, 1, at->dt, err);
        if (!st) st = make_matmul(at, &md[M_Q1], &md[M_K], 0, &md[M_S1], scale, &at->qk[1], M_SP_QK1, err);
        if (!st) st = make_softmax(at, &md[M_S1], &md[M_P1], &at->sm[1], M_SP_SM1, err);
        if (!st) st = make_matmul(at, &md[M_P1], &md[M_V], 0, &md[M_O1], 1.0f, &at->sv[1], M_SP_SV1, err);
    }
    if (!st) st = make_reorder(at, &md[M_KVIEW], &md[M_K], &at->k_pack, M_SP_RK, err);
    if (!st) st = make_reorder(at, &md[M_VVIEW], &md[M_V], &at->v_pack, M_SP_RV, err);
    if (st)
        return st;
    at->k_bytes = dp_align_up(dnnl_memory_desc_get_size(&md[M_K]), DP_ALIGN);
    at->v_bytes = dp_align_up(dnnl_memory_desc_get_size(&md[M_V]), DP_ALIGN);
    return DP_OK;
}

static dp_status alloc_threads(dp_attention *at, dp_err *err)
{
    size_t items = (size_t)at->max_batch * at->heads;
    size_t esz = dp_dtype_size(at->dt);
    at->packed = dp_alloc_aligned(items * (at->k_bytes + at->v_bytes));
    at->q_dense = dp_alloc_aligned(items * at->tokens * at->head_dim * esz);
    if (!at->packed || !at->q_dense)
        return dp_fail(err, DP_E_NOMEM, "out of memory for attention K/V (%zu heads x %zu bytes)",
                       items, at->k_bytes + at->v_bytes);
    size_t block = (size_t)at->rb * at->tokens;
    size_t sb = dp_align_up(at->scratch_bytes, DP_ALIGN);
    for (int t = 0; t < at->nthr; t++) {
        att_thread *th = &at->th[t];
        th->scores = dp_alloc_aligned(block * 4);
        th->probs = dp_alloc_aligned(block * esz);
        th->out = dp_alloc_aligned((size_t)at->rb * at->head_dim * esz);
        th->kv_dense = dp_alloc_aligned((size_t)at->tokens * at->head_dim * esz);
        th->scratch = sb ? dp_alloc_aligned(sb) : NULL;
        if (!th->scores || !th->probs || !th->out || !th->kv_dense || (sb && !th->scratch))
            return dp_fail(err, DP_E_NOMEM, "out of memory for attention score blocks");
        for (int i = 0; i < M_COUNT; i++) {
            if (at->md[i].ndims == 0)
                continue;       /* tail slots when there is no tail */
            dp_status st = dp_nn_memory(at->nn, &at->md[i], &th->mem[i], err);
            if (st)
                return st;
        }
    }
    return DP_OK;
}

static dp_status create(dp_nn *nn, int tokens, int width, int heads, int max_batch, dp_dtype_c dt,
                        int causal, int allow_fused, dp_attention **out, dp_err *err)
{
    *out = NULL;
    if (tokens <= 0 || width <= 0 || heads <= 0 || width % heads || max_batch <= 0)
        return dp_fail(err, DP_E_ARG, "attention: tokens=%d width=%d heads=%d batch=%d invalid",
                       tokens, width, heads, max_batch);
    dp_attention *at = calloc(1, sizeof *at);
    if (!at)
        return dp_fail(err, DP_E_NOMEM, "out of memory creating attention");
    at->nn = nn;
    at->tokens = tokens;
    at->width = width;
    at->heads = heads;
    at->head_dim = width / heads;
    at->max_batch = max_batch;
    at->dt = dt;
    at->causal = causal;
    at->fast_softmax = dp_softmax_rows_available();
    at->nthr = nn->threads;
    if (allow_fused && dp_attn_fused_supported(at->head_dim, dt)) {
        dp_status fs = dp_attn_fused_create(tokens, width, heads, max_batch, causal, at->nthr,
                                            &at->fused, err);
        if (fs) {
            dp_attention_free(at);
            return fs;
        }
        *out = at;
        return DP_OK;
    }
    /* 64 rows x 1374 f32 scores = 352 KB: stays in L2 next to the packed K and V of the head */
    at->rb = tokens <= 128 ? tokens : 64;
    at->nblk = (tokens + at->rb - 1) / at->rb;
    at->tail = tokens % at->rb;

    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    dp_status st = build(at, err);
    omp_set_num_threads(saved);
    if (!st)
        st = alloc_threads(at, err);
    if (st) {
        dp_attention_free(at);
        return st;
    }
    *out = at;
    return DP_OK;
}

dp_status dp_attention_create(dp_nn *nn, int tokens, int width, int heads, int max_batch,
                              dp_dtype_c dt, int causal, dp_attention **out, dp_err *err)
{
    return create(nn, tokens, width, heads, max_batch, dt, causal, 1, out, err);
}

dp_status dp_attention_create_unfused(dp_nn *nn, int tokens, int width, int heads, int max_batch,
                                      dp_dtype_c dt, int causal, dp_attention **out, dp_err *err)
{
    return create(nn, tokens, width, heads, max_batch, dt, causal, 0, out, err);
}

static const char *unfused_path(void)
{
    return dp_softmax_rows_available() ? "oneDNN matmul + AVX-512 softmax" : "oneDNN matmul + softmax";
}

const char *dp_attention_kernel(int head_dim, dp_dtype_c dt)
{
    return dp_attn_fused_supported(head_dim, dt) ? "fused AVX2+FMA" : unfused_path();
}

const char *dp_attention_path(const dp_attention *at)
{
    return at->fused ? "fused AVX2+FMA" : unfused_path();
}

void dp_attention_free(dp_attention *at)
{
    if (!at)
        return;
    dp_attn_fused_free(at->fused);
    dnnl_primitive_t prims[] = { at->qk[0], at->qk[1], at->sm[0], at->sm[1], at->sv[0], at->sv[1],
                                 at->k_pack, at->v_pack };
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    for (int t = 0; t < at->nthr; t++) {
        att_thread *th = &at->th[t];
        free(th->scores);
        free(th->probs);
        free(th->out);
        free(th->kv_dense);
        free(th->scratch);
        for (int i = 0; i < M_COUNT; i++)
            if (th->mem[i])
                dnnl_memory_destroy(th->mem[i]);
    }
    free(at->packed);
    free(at->q_dense);
    free(at);
}

size_t dp_attention_bytes(const dp_attention *at)
{
    if (at->fused)
        return dp_attn_fused_bytes(at->fused);
    size_t block = (size_t)at->rb * at->tokens;
    size_t esz = dp_dtype_size(at->dt);
    return (size_t)at->max_batch * at->heads * (at->k_bytes + at->v_bytes + (size_t)at->tokens * at->head_dim * esz) +
           (size_t)at->nthr * (block * (4 + esz) + (size_t)at->rb * at->head_dim * esz + at->scratch_bytes);
}

static dnnl_status_t exec(dnnl_primitive_t p, dnnl_stream_t s, att_thread *th, int src, int wei,
                          int dst, int sp)
{
    dnnl_exec_arg_t a[4];
    int n = 0;
    a[n++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, th->mem[src] };
    if (wei >= 0)
        a[n++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, th->mem[wei] };
    a[n++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, th->mem[dst] };
    if (th->mem[sp]) {     /* absent when the primitive needs no scratchpad */
        dnnl_memory_set_data_handle(th->mem[sp], th->scratch);
        a[n++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, th->mem[sp] };
    }
    return dnnl_primitive_execute(p, s, n, a);
}

dp_status dp_attention_run(dp_attention *at, const void *qkv, int batch, void *out, dp_err *err)
{
    if (batch <= 0 || batch > at->max_batch)
        return dp_fail(err, DP_E_ARG, "attention batch %d outside 1..%d", batch, at->max_batch);
    if (at->fused) {
        dp_attn_fused_run(at->fused, qkv, batch, out);
        return DP_OK;
    }
    const int T = at->tokens, W = at->width, H = at->heads, hd = at->head_dim;
    const size_t esz = dp_dtype_size(at->dt);
    const char *base = qkv;
    char *obase = out;
    const int items = batch * H;
    const int blocks = items * at->nblk;
    dnnl_status_t failed = dnnl_success;

#pragma omp parallel num_threads(at->nthr)
    {
        att_thread *th = &at->th[omp_get_thread_num()];
        dnnl_stream_t s = at->nn->thread_stream[omp_get_thread_num()];
        dnnl_status_t my = dnnl_success;
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            int b = it / H, h = it % H;
            const char *head = base + ((size_t)b * T * 3 * W + (size_t)h * hd) * esz;
            char *kp = at->packed + (size_t)it * (at->k_bytes + at->v_bytes);
            char *qd = at->q_dense + (size_t)it * T * hd * esz;
            for (int r = 0; r < T; r++)
                memcpy(qd + (size_t)r * hd * esz, head + (size_t)r * 3 * W * esz, (size_t)hd * esz);
            char *kvd = th->kv_dense;
            for (int r = 0; r < T; r++)
                memcpy(kvd + (size_t)r * hd * esz, head + ((size_t)r * 3 * W + W) * esz, (size_t)hd * esz);
            dnnl_memory_set_data_handle(th->mem[M_KVIEW], kvd);
            dnnl_memory_set_data_handle(th->mem[M_K], kp);
            if (my == dnnl_success)
                my = exec(at->k_pack, s, th, M_KVIEW, -1, M_K, M_SP_RK);
            for (int r = 0; r < T; r++)
                memcpy(kvd + (size_t)r * hd * esz, head + ((size_t)r * 3 * W + 2 * W) * esz, (size_t)hd * esz);
            dnnl_memory_set_data_handle(th->mem[M_VVIEW], kvd);
            dnnl_memory_set_data_handle(th->mem[M_V], kp + at->k_bytes);
            if (my == dnnl_success)
                my = exec(at->v_pack, s, th, M_VVIEW, -1, M_V, M_SP_RV);
        }
#pragma omp for schedule(static)
        for (int blk = 0; blk < blocks; blk++) {
            int it = blk / at->nblk, r = blk % at->nblk;
            int b = it / H, h = it % H;
            int row0 = r * at->rb;
            int t = (at->tail && r == at->nblk - 1) ? 1 : 0;
            char *kp = at->packed + (size_t)it * (at->k_bytes + at->v_bytes);
            const char *q = at->q_dense + ((size_t)it * T + row0) * hd * esz;
            int rows = t ? at->tail : at->rb;
            dnnl_memory_set_data_handle(th->mem[M_Q0 + t], (void *)q);
            dnnl_memory_set_data_handle(th->mem[M_K], kp);
            dnnl_memory_set_data_handle(th->mem[M_S0 + t], th->scores);
            dnnl_memory_set_data_handle(th->mem[M_P0 + t], th->probs);
            dnnl_memory_set_data_handle(th->mem[M_V], kp + at->k_bytes);
            dnnl_memory_set_data_handle(th->mem[M_O0 + t], th->out);
            if (my == dnnl_success)
                my = exec(at->qk[t], s, th, M_Q0 + t, M_K, M_S0 + t, M_SP_QK0 + t);
            if (at->causal)
                for (int i = 0; i < rows; i++)
                    for (int j = row0 + i + 1; j < T; j++)
                        th->scores[(size_t)i * T + j] = -INFINITY;
            if (at->fast_softmax)
                dp_softmax_rows(th->scores, rows, T, th->probs, at->dt);
            else if (my == dnnl_success)
                my = exec(at->sm[t], s, th, M_S0 + t, -1, M_P0 + t, M_SP_SM0 + t);
            if (my == dnnl_success)
                my = exec(at->sv[t], s, th, M_P0 + t, M_V, M_O0 + t, M_SP_SV0 + t);
            char *o = obase + (((size_t)b * T + row0) * W + (size_t)h * hd) * esz;
            for (int i = 0; i < rows; i++)
                memcpy(o + (size_t)i * W * esz, (char *)th->out + (size_t)i * hd * esz, (size_t)hd * esz);
        }
        if (my != dnnl_success) {
#pragma omp critical(dp_attention_status)
            failed = my;
        }
    }
    return dp_nn_check(failed, "attention execution", err);
}
