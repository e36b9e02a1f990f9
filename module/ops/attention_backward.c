/* Attention backward (no mask), one (image, head) per thread at a time. For a block of query
 * rows i (never the whole [tokens x tokens] matrix of a head):
 *   P = softmax(scale Q_i K^T)       recomputed from q and k
 *   dP = dO_i V^T,  dS = scale P (dP - rowsum(P dP))
 *   dQ_i = dS K,  dK += dS^T Q_i,  dV += P^T dO_i
 * The products are oneDNN matmuls on dense per-head copies (oneDNN 2.6's fast kernels take
 * dense operands only), created for one thread and executed by every thread of the team with
 * its own stream, memory objects and scratchpad, as the forward attention does. */
#include "nn_internal.h"
#include "nn_grad.h"
#include "dp_size.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { MM_QKT, MM_SK, MM_TACC, MM_KINDS };   /* [n][hd] x [hd][T]; [n][T] x [T][hd]; [T][n] x [n][hd] += */
enum { A_SRC, A_WEI, A_DST, A_SP, A_COUNT };

typedef struct mm_prim {
    dnnl_primitive_t prim;
    dnnl_memory_desc_t md[A_COUNT];
} mm_prim;

typedef struct grad_thread {
    float *q, *k, *v, *dout;          /* [T][hd] dense copies of one head, owned */
    float *dq, *dk, *dv;              /* [T][hd], owned */
    float *p, *dp;                    /* [rb][T] probabilities and their gradient, owned */
    void *scratch;                    /* owned */
    dnnl_memory_t mem[2][MM_KINDS][A_COUNT];
} grad_thread;

struct dp_attention_grad {
    dp_nn *nn;                        /* borrowed */
    int tokens, width, heads, head_dim, max_batch;
    int rb, nblk, tail;
    mm_prim mm[2][MM_KINDS];          /* [full block | tail block] */
    size_t scratch_bytes;
    int nthr;
    grad_thread th[DP_MAX_THREADS];
};

static dp_status make_mm(dp_attention_grad *ag, mm_prim *m, int kind, int n, dp_err *err)
{
    const int T = ag->tokens, hd = ag->head_dim;
    dnnl_memory_desc_t *md = m->md;
    dp_status st;
    if (kind == MM_QKT) {
        st = dp_nn_md_2d(&md[A_SRC], n, hd, hd, 1, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[A_WEI], hd, T, 1, hd, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[A_DST], n, T, T, 1, DP_C_F32, err);
    } else if (kind == MM_SK) {
        st = dp_nn_md_2d(&md[A_SRC], n, T, T, 1, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[A_WEI], T, hd, hd, 1, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[A_DST], n, hd, hd, 1, DP_C_F32, err);
    } else {
        st = dp_nn_md_2d(&md[A_SRC], T, n, 1, T, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[A_WEI], n, hd, hd, 1, DP_C_F32, err);
        if (!st) st = dp_nn_md_2d(&md[A_DST], T, hd, hd, 1, DP_C_F32, err);
    }
    if (st)
        return st;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    st = dp_nn_check(dnnl_matmul_desc_init(&desc, &md[A_SRC], &md[A_WEI], NULL, &md[A_DST]),
                     "attention backward matmul", err);
    if (!st)
        st = dp_nn_check(dnnl_primitive_attr_create(&attr), "attributes", err);
    if (!st)
        st = dp_nn_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                         "scratchpad mode", err);
    if (!st && kind == MM_TACC) {
        st = dp_nn_check(dnnl_post_ops_create(&po), "post-ops", err);
        if (!st)
            st = dp_nn_check(dnnl_post_ops_append_sum(po, 1.0f), "accumulation post-op", err);
        if (!st)
            st = dp_nn_check(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops", err);
    }
    if (!st)
        st = dp_nn_check(dnnl_primitive_desc_create(&pd, &desc, attr, ag->nn->engine, NULL),
                         "attention backward matmul", err);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st)
        return st;
    md[A_SP] = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t need = dnnl_memory_desc_get_size(&md[A_SP]);
    if (need > ag->scratch_bytes)
        ag->scratch_bytes = need;
    st = dp_nn_check(dnnl_primitive_create(&m->prim, pd), "attention backward matmul", err);
    if (!st)
        ag->nn->n_primitives++;
    dnnl_primitive_desc_destroy(pd);
    return st;
}

static dp_status alloc_threads(dp_attention_grad *ag, dp_err *err)
{
    const size_t head = (size_t)ag->tokens * ag->head_dim, blk = (size_t)ag->rb * ag->tokens;
    for (int t = 0; t < ag->nthr; t++) {
        grad_thread *th = &ag->th[t];
        float **heads[] = { &th->q, &th->k, &th->v, &th->dout, &th->dq, &th->dk, &th->dv };
        for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
            if (!(*heads[i] = dp_alloc_aligned(head * sizeof(float))))
                return dp_fail(err, DP_E_NOMEM, "out of memory for attention backward heads");
        th->p = dp_alloc_aligned(blk * sizeof(float));
        th->dp = dp_alloc_aligned(blk * sizeof(float));
        th->scratch = ag->scratch_bytes ? dp_alloc_aligned(ag->scratch_bytes) : NULL;
        if (!th->p || !th->dp || (ag->scratch_bytes && !th->scratch))
            return dp_fail(err, DP_E_NOMEM, "out of memory for attention backward blocks");
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < MM_KINDS; k++) {
                if (!ag->mm[s][k].prim)
                    continue;
                for (int a = 0; a < A_COUNT; a++) {
                    if (a == A_SP && dnnl_memory_desc_get_size(&ag->mm[s][k].md[A_SP]) == 0)
                        continue;
                    dp_status st = dp_nn_memory(ag->nn, &ag->mm[s][k].md[a], &th->mem[s][k][a], err);
                    if (st)
                        return st;
                }
            }
    }
    return DP_OK;
}

dp_status dp_attention_grad_create(dp_nn *nn, int tokens, int width, int heads, int max_batch,
                                   dp_attention_grad **out, dp_err *err)
{
    *out = NULL;
    if (tokens <= 0 || width <= 0 || heads <= 0 || width % heads || max_batch <= 0)
        return dp_fail(err, DP_E_ARG, "attention backward: tokens=%d width=%d heads=%d batch=%d invalid",
                       tokens, width, heads, max_batch);
    dp_attention_grad *ag = calloc(1, sizeof *ag);
    if (!ag)
        return dp_fail(err, DP_E_NOMEM, "out of memory creating attention backward");
    ag->nn = nn;
    ag->tokens = tokens;
    ag->width = width;
    ag->heads = heads;
    ag->head_dim = width / heads;
    ag->max_batch = max_batch;
    ag->nthr = nn->threads;
    /* 64 query rows x 1374 keys x 2 f32 blocks = 704 KB at ViT-L/14@518 */
    ag->rb = tokens <= 128 ? tokens : 64;
    ag->nblk = (tokens + ag->rb - 1) / ag->rb;
    ag->tail = tokens % ag->rb;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);     /* the primitives run inside our own loop, one per thread */
    dp_status st = DP_OK;
    for (int k = 0; !st && k < MM_KINDS; k++) {
        st = make_mm(ag, &ag->mm[0][k], k, ag->rb, err);
        if (!st && ag->tail)
            st = make_mm(ag, &ag->mm[1][k], k, ag->tail, err);
    }
    omp_set_num_threads(saved);
    if (!st)
        st = alloc_threads(ag, err);
    if (st) {
        dp_attention_grad_free(ag);
        return st;
    }
    *out = ag;
    return DP_OK;
}

void dp_attention_grad_free(dp_attention_grad *ag)
{
    if (!ag)
        return;
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < MM_KINDS; k++)
            if (ag->mm[s][k].prim)
                dnnl_primitive_destroy(ag->mm[s][k].prim);
    for (int t = 0; t < ag->nthr; t++) {
        grad_thread *th = &ag->th[t];
        free(th->q);
        free(th->k);
        free(th->v);
        free(th->dout);
        free(th->dq);
        free(th->dk);
        free(th->dv);
        free(th->p);
        free(th->dp);
        free(th->scratch);
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < MM_KINDS; k++)
                for (int a = 0; a < A_COUNT; a++)
                    if (th->mem[s][k][a])
                        dnnl_memory_destroy(th->mem[s][k][a]);
    }
    free(ag);
}

size_t dp_attention_grad_bytes(const dp_attention_grad *ag)
{
    return (size_t)ag->nthr * (7 * (size_t)ag->tokens * ag->head_dim * sizeof(float) +
                               2 * (size_t)ag->rb * ag->tokens * sizeof(float) + ag->scratch_bytes);
}

static dnnl_status_t run_mm(const dp_attention_grad *ag, grad_thread *th, dnnl_stream_t s, int tail,
                            int kind, const float *src, const float *wei, float *dst)
{
    dnnl_memory_t *m = th->mem[tail][kind];
    dnnl_memory_set_data_handle(m[A_SRC], (void *)src);
    dnnl_memory_set_data_handle(m[A_WEI], (void *)wei);
    dnnl_memory_set_data_handle(m[A_DST], dst);
    dnnl_exec_arg_t a[4] = { { DNNL_ARG_SRC, m[A_SRC] }, { DNNL_ARG_WEIGHTS, m[A_WEI] },
                             { DNNL_ARG_DST, m[A_DST] } };
    int n = 3;
    if (m[A_SP]) {
        dnnl_memory_set_data_handle(m[A_SP], th->scratch);
        a[n++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, m[A_SP] };
    }
    return dnnl_primitive_execute(ag->mm[tail][kind].prim, s, n, a);
}

/* p = softmax(scale s) in place; then dp = scale p (dp - rowsum(p dp)) in place. */
static void softmax_block_backward(float *p, float *dp, int rows, int T, float scale)
{
    for (int i = 0; i < rows; i++) {
        float *pr = p + (size_t)i * T, *dr = dp + (size_t)i * T;
        float mx = -INFINITY;
        for (int j = 0; j < T; j++)
            mx = fmaxf(mx, pr[j]);
        double sum = 0;
        for (int j = 0; j < T; j++) {
            pr[j] = expf(scale * (pr[j] - mx));
            sum += pr[j];
        }
        float inv = (float)(1.0 / sum);
        double dot = 0;
        for (int j = 0; j < T; j++) {
            pr[j] *= inv;
            dot += (double)pr[j] * dr[j];
        }
        for (int j = 0; j < T; j++)
            dr[j] = scale * pr[j] * (dr[j] - (float)dot);
    }
}

static dnnl_status_t head_backward(const dp_attention_grad *ag, grad_thread *th, dnnl_stream_t s)
{
    const int T = ag->tokens, hd = ag->head_dim;
    const float scale = 1.0f / sqrtf((float)hd);
    memset(th->dk, 0, (size_t)T * hd * sizeof(float));
    memset(th->dv, 0, (size_t)T * hd * sizeof(float));
    dnnl_status_t r = dnnl_success;
    for (int blk = 0; r == dnnl_success && blk < ag->nblk; blk++) {
        int t = (ag->tail && blk == ag->nblk - 1) ? 1 : 0;
        int rows = t ? ag->tail : ag->rb;
        size_t row0 = (size_t)blk * ag->rb * hd;
        r = run_mm(ag, th, s, t, MM_QKT, th->q + row0, th->k, th->p);
        if (r == dnnl_success)
            r = run_mm(ag, th, s, t, MM_QKT, th->dout + row0, th->v, th->dp);
        if (r != dnnl_success)
            break;
        softmax_block_backward(th->p, th->dp, rows, T, scale);
        r = run_mm(ag, th, s, t, MM_SK, th->dp, th->k, th->dq + row0);
        if (r == dnnl_success)
            r = run_mm(ag, th, s, t, MM_TACC, th->dp, th->q + row0, th->dk);
        if (r == dnnl_success)
            r = run_mm(ag, th, s, t, MM_TACC, th->p, th->dout + row0, th->dv);
    }
    return r;
}

dp_status dp_attention_grad_run(dp_attention_grad *ag, const float *qkv, const float *dout,
                                int batch, float *dqkv, dp_err *err)
{
    if (batch <= 0 || batch > ag->max_batch)
        return dp_fail(err, DP_E_ARG, "attention backward batch %d outside 1..%d", batch, ag->max_batch);
    const int T = ag->tokens, W = ag->width, H = ag->heads, hd = ag->head_dim;
    const int items = batch * H;
    const size_t rowb = (size_t)hd * sizeof(float);
    dnnl_status_t failed = dnnl_success;
#pragma omp parallel num_threads(ag->nthr)
    {
        grad_thread *th = &ag->th[omp_get_thread_num()];
        dnnl_stream_t s = ag->nn->thread_stream[omp_get_thread_num()];
        dnnl_status_t my = dnnl_success;
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            int b = it / H, h = it % H;
            for (int r = 0; r < T; r++) {
                const float *row = qkv + ((size_t)b * T + r) * 3 * W + (size_t)h * hd;
                memcpy(th->q + (size_t)r * hd, row, rowb);
                memcpy(th->k + (size_t)r * hd, row + W, rowb);
                memcpy(th->v + (size_t)r * hd, row + 2 * W, rowb);
                memcpy(th->dout + (size_t)r * hd, dout + ((size_t)b * T + r) * W + (size_t)h * hd, rowb);
            }
            if (my == dnnl_success)
                my = head_backward(ag, th, s);
            for (int r = 0; r < T; r++) {
                float *row = dqkv + ((size_t)b * T + r) * 3 * W + (size_t)h * hd;
                memcpy(row, th->dq + (size_t)r * hd, rowb);
                memcpy(row + W, th->dk + (size_t)r * hd, rowb);
                memcpy(row + 2 * W, th->dv + (size_t)r * hd, rowb);
            }
        }
        if (my != dnnl_success) {
#pragma omp critical(dp_attention_grad_status)
            failed = my;
        }
    }
    return dp_nn_check(failed, "attention backward execution", err);
}
