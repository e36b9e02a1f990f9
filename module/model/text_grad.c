/* Training forward/backward of the text tower (text_grad.h). The loss reaches the tower through
 *   u_s = mean_e pooled(s, e),  f_s = u_s / |u_s|,  a = m / |m| with m = mean_{s>0} f_s,
 *   pooled(s, e) = ln_final(x_L[pool_s]) @ projection,
 * then down the blocks (recomputed per chunk from per-block checkpoints) to the deep prompt
 * rows (re-mixed before every block after the first) and the context rows 5..9 of block 0's
 * input. */
#include "text_grad.h"
#include "clip_text_internal.h"
#include "dp_size.h"
#include "transformer_backward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dp_text_grad {
    dp_text *t;                   /* borrowed */
    int n_defects, states, total; /* total = states * ensemble sequences */
    int W, E, R, L, layers, chunk;
    int32_t *ids;                 /* [states][L] */
    int *pool;                    /* [states] */
    dp_block_grad *bgrad;         /* [layers] */
    dp_attention *attn;
    dp_attention_grad *attn_grad;
    dp_block_grad_arena arena;    /* one chunk */
    float *ckpt;                  /* [layers][chunk][R][W]: input of each block, one chunk */
    float *dx;                    /* [chunk][R][W] */
    float *final_rows;            /* [total][W] pooled rows before ln_final */
    float *unit, *u_norm;         /* [states][E] f_s; [states] |u_s| */
    float *abnormal;              /* [E] a */
    double m_norm;                /* |m| */
    float *dpooled;               /* [total][E] */
    float *row;                   /* [W] */
    double *dwork;                /* [2E]: dL/df of one state, dL/dm */
    int ready;                    /* a forward has run */
    size_t bytes;
};

dp_status dp_text_grad_create(dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                              int n_defects, dp_text_grad **out, dp_err *err)
{
    *out = NULL;
    if (t->dt != DP_C_F32)
        return dp_fail(err, DP_E_ARG, "text training needs a tower built in f32");
    if (!tok || !defects || n_defects < 1 || n_defects > DP_MAX_DEFECTS)
        return dp_fail(err, DP_E_ARG, "defect list of %d names: expected 1..%d", n_defects, DP_MAX_DEFECTS);
    dp_text_grad *g = calloc(1, sizeof *g);
    if (!g)
        return dp_fail(err, DP_E_NOMEM, "out of memory for text training");
    g->t = t;
    g->n_defects = n_defects;
    g->states = 1 + n_defects;
    g->total = g->states * DP_ENSEMBLE;
    g->W = t->cfg.text_width;
    g->E = t->cfg.embed_dim;
    g->R = t->rows_per_seq;
    g->L = t->cfg.context_length;
    g->layers = t->cfg.text_layers;
    g->chunk = t->chunk < g->total ? t->chunk : g->total;
    const size_t rows = (size_t)g->chunk * g->R, rw = rows * g->W;
    g->ids = malloc((size_t)g->states * g->L * sizeof *g->ids);
    g->pool = malloc((size_t)g->states * sizeof *g->pool);
    g->bgrad = calloc((size_t)g->layers, sizeof *g->bgrad);
    dp_status st = DP_OK;
    if (!g->ids || !g->pool || !g->bgrad)
        st = dp_fail(err, DP_E_NOMEM, "out of memory for text training");
    if (!st)
        st = dp_text_tokenize_states(t, tok, defects, n_defects, g->ids, g->pool, err);
    for (int i = 0; !st && i < g->layers; i++) {
        st = dp_block_grad_build(t->nn, &t->blocks[i], (int)rows, &g->bgrad[i], err);
        g->bytes += st ? 0 : dp_block_grad_bytes(&g->bgrad[i]);
    }
    if (!st)
        st = dp_attention_create(t->nn, g->R, g->W, t->cfg.text_heads, g->chunk, DP_C_F32, 0, &g->attn, err);
    if (!st)
        st = dp_attention_grad_create(t->nn, g->R, g->W, t->cfg.text_heads, g->chunk, &g->attn_grad, err);
    if (!st)
        st = dp_block_grad_arena_alloc(&g->arena, rows, g->W, err);
    if (!st) {
        g->ckpt = dp_alloc_aligned((size_t)g->layers * rw * sizeof(float));
        g->dx = dp_alloc_aligned(rw * sizeof(float));
        g->final_rows = malloc((size_t)g->total * g->W * sizeof(float));
        g->unit = malloc((size_t)g->states * g->E * sizeof(float));
        g->u_norm = malloc((size_t)g->states * sizeof(float));
        g->abnormal = malloc((size_t)g->E * sizeof(float));
        g->dpooled = malloc((size_t)g->total * g->E * sizeof(float));
        g->row = malloc((size_t)g->W * sizeof(float));
        g->dwork = malloc((size_t)2 * g->E * sizeof(double));
        if (!g->ckpt || !g->dx || !g->final_rows || !g->unit || !g->u_norm || !g->abnormal ||
            !g->dpooled || !g->row || !g->dwork)
            st = dp_fail(err, DP_E_NOMEM, "out of memory for text checkpoints (%d blocks x %zu rows)",
                         g->layers, rows);
    }
    if (st) {
        dp_text_grad_free(g);
        return st;
    }
    g->bytes += dp_attention_bytes(g->attn) + dp_attention_grad_bytes(g->attn_grad) +
                dp_block_grad_arena_bytes(rows, g->W) +
                ((size_t)(g->layers + 1) * rw + (size_t)g->total * (g->W + g->E) +
                 (size_t)g->states * (g->E + 1) + (size_t)g->E + (size_t)g->W) * sizeof(float) + (size_t)2 * g->E * sizeof(double);
    *out = g;
    return DP_OK;
}

void dp_text_grad_free(dp_text_grad *g)
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
    free(g->ids);
    free(g->pool);
    free(g->ckpt);
    free(g->dx);
    free(g->final_rows);
    free(g->unit);
    free(g->u_norm);
    free(g->abnormal);
    free(g->dpooled);
    free(g->row);
    free(g->dwork);
    free(g);
}

/* Runs sequences first..first+n-1 through every block; with checkpoints when keep != 0. */
static dp_status run_chunk(dp_text_grad *g, int first, int n, int keep, dp_err *err)
{
    dp_text *t = g->t;
    const int W = g->W, R = g->R;
    const size_t rw = (size_t)n * R * W;
    float *x = g->arena.fwd.x;
    for (int q = 0; q < n; q++) {
        int s = (first + q) / DP_ENSEMBLE, e = (first + q) % DP_ENSEMBLE;
        dp_text_fill_sequence(t, g->ids + (size_t)s * g->L, s, e, x + (size_t)q * R * W, NULL);
    }
    for (int k = 0; k < g->layers; k++) {
        if (k > 0)
            dp_prompts_mix(x + W, n, (size_t)R * W, t->layer_tokens + (size_t)k * DP_TEXT_PROMPTS * W,
                           DP_TEXT_PROMPTS, W, 0);
        if (keep)
            memcpy(g->ckpt + (size_t)k * g->chunk * R * W, x, rw * sizeof *x);
        dp_status st = dp_block_run(t->nn, &t->blocks[k], g->attn, &g->arena.fwd, n, R, DP_C_F32, NULL, err);
        if (st)
            return st;
    }
    return DP_OK;
}

/* Fills tf (buffers for g's states already there) from the tower's current prompts. */
static dp_status forward_fill(dp_text_grad *g, dp_text_features *tf, dp_err *err)
{
    dp_text *t = g->t;
    const int W = g->W, E = g->E, R = g->R, states = g->states;
    g->ready = 0;
    /* the two sums below accumulate */
    memset(tf->unnormalized, 0, (size_t)states * E * sizeof(float));
    memset(tf->abnormal, 0, (size_t)E * sizeof(float));
    memcpy(tf->pool_index, g->pool, (size_t)states * sizeof(int));
    for (int first = 0; first < g->total; first += g->chunk) {
        int n = g->total - first < g->chunk ? g->total - first : g->chunk;
        dp_status st = run_chunk(g, first, n, 0, err);
        if (st)
            return st;
        for (int q = 0; q < n; q++) {
            int s = (first + q) / DP_ENSEMBLE;
            const float *seq = g->arena.fwd.x + (size_t)q * R * W;
            float *fin = g->final_rows + (size_t)(first + q) * W;
            memcpy(fin, seq + (size_t)g->pool[s] * W, (size_t)W * sizeof *fin);
            dp_layernorm(t->nn, fin, 1, W, W, t->ln_final_g, t->ln_final_b, DP_LAYERNORM_EPS, g->row, W, DP_C_F32);
            float *u = t->pooled;
            for (int j = 0; j < E; j++)
                u[j] = 0;
            for (int i = 0; i < W; i++) {
                const float *pr = t->projection + (size_t)i * E;
                for (int j = 0; j < E; j++)
                    u[j] += g->row[i] * pr[j];
            }
            float *acc = tf->unnormalized + (size_t)s * E;
            for (int j = 0; j < E; j++)
                acc[j] += u[j];
        }
    }
    dp_text_finish_features(tf, g->n_defects);
    /* what the backward of the two normalisations needs */
    double m2 = 0;
    for (int s = 0; s < states; s++) {
        const float *u = tf->unnormalized + (size_t)s * E;
        double n2 = 0;
        for (int j = 0; j < E; j++)
            n2 += (double)u[j] * u[j];
        g->u_norm[s] = (float)sqrt(n2);
    }
    memcpy(g->unit, tf->features, (size_t)states * E * sizeof(float));
    memcpy(g->abnormal, tf->abnormal, (size_t)E * sizeof(float));
    for (int j = 0; j < E; j++) {
        double m = 0;
        for (int s = 1; s < states; s++)
            m += tf->features[(size_t)s * E + j];
        m /= g->n_defects;
        m2 += m * m;
    }
    g->m_norm = sqrt(m2);
    g->ready = 1;
    return DP_OK;
}

dp_status dp_text_grad_forward(dp_text_grad *g, dp_text_features *tf, dp_err *err)
{
    const int E = g->E, states = g->states;
    memset(tf, 0, sizeof *tf);
    g->ready = 0;
    tf->n_states = states;
    tf->dim = E;
    tf->features = calloc((size_t)states * E, sizeof(float));
    tf->unnormalized = calloc((size_t)states * E, sizeof(float));
    tf->abnormal = calloc((size_t)E, sizeof(float));
    tf->pool_index = calloc((size_t)states, sizeof(int));
    if (!tf->features || !tf->unnormalized || !tf->abnormal || !tf->pool_index) {
        dp_text_features_free(tf);
        return dp_fail(err, DP_E_NOMEM, "out of memory encoding %d defect names", g->n_defects);
    }
    dp_status st = forward_fill(g, tf, err);
    if (st)
        dp_text_features_free(tf);
    return st;
}

dp_status dp_text_grad_refresh(dp_text_grad *g, dp_text_features *tf, dp_err *err)
{
    if (!tf || tf->n_states != g->states || tf->dim != g->E || !tf->features ||
        !tf->unnormalized || !tf->abnormal || !tf->pool_index)
        return dp_fail(err, DP_E_ARG, "text training refresh: the features given are not those "
                       "of a forward of this tower (%d states of %d expected)", g->states, g->E);
    return forward_fill(g, tf, err);
}

/* dL/d(pooled row of every sequence) from dL/df and dL/da. */
static void head_backward(dp_text_grad *g, const float *d_features, const float *d_abnormal)
{
    const int E = g->E;
    double *df = g->dwork, *dm = g->dwork + E;
    for (int j = 0; j < E; j++)
        dm[j] = 0;
    if (d_abnormal) {
        double ad = 0;
        for (int j = 0; j < E; j++)
            ad += (double)g->abnormal[j] * d_abnormal[j];
        for (int j = 0; j < E; j++)
            dm[j] = (d_abnormal[j] - g->abnormal[j] * ad) / g->m_norm / g->n_defects;
    }
    for (int s = 0; s < g->states; s++) {
        const float *f = g->unit + (size_t)s * E;
        double fd = 0;
        for (int j = 0; j < E; j++) {
            df[j] = (d_features ? d_features[(size_t)s * E + j] : 0) + (s > 0 ? dm[j] : 0);
            fd += f[j] * df[j];
        }
        for (int e = 0; e < DP_ENSEMBLE; e++) {
            float *dp = g->dpooled + ((size_t)s * DP_ENSEMBLE + e) * E;
            for (int j = 0; j < E; j++)
                dp[j] = (float)((df[j] - f[j] * fd) / g->u_norm[s] / DP_ENSEMBLE);
        }
    }
}

dp_status dp_text_grad_backward(dp_text_grad *g, const float *d_features, const float *d_abnormal,
                                float *d_normal_ctx, float *d_abnormal_ctx, float *d_layer_tokens,
                                dp_err *err)
{
    if (!g->ready)
        return dp_fail(err, DP_E_ARG, "text backward called before a training forward");
    if (!d_normal_ctx || !d_abnormal_ctx || !d_layer_tokens)
        return dp_fail(err, DP_E_ARG, "text backward: a prompt-gradient buffer is NULL");
    dp_text *t = g->t;
    const int W = g->W, E = g->E, R = g->R;
    head_backward(g, d_features, d_abnormal);
    for (int first = 0; first < g->total; first += g->chunk) {
        int n = g->total - first < g->chunk ? g->total - first : g->chunk;
        dp_status st = run_chunk(g, first, n, 1, err);
        if (st)
            return st;
        memset(g->dx, 0, (size_t)n * R * W * sizeof *g->dx);
        for (int q = 0; q < n; q++) {
            int s = (first + q) / DP_ENSEMBLE;
            const float *dp = g->dpooled + (size_t)(first + q) * E;
            for (int i = 0; i < W; i++) {
                const float *pr = t->projection + (size_t)i * E;
                double acc = 0;
                for (int j = 0; j < E; j++)
                    acc += (double)pr[j] * dp[j];
                g->row[i] = (float)acc;
            }
            dp_layernorm_backward(t->nn, g->final_rows + (size_t)(first + q) * W, 1, W, W, t->ln_final_g,
                                  DP_LAYERNORM_EPS, g->row, W,
                                  g->dx + ((size_t)q * R + g->pool[s]) * W, W, 1);
        }
        for (int k = g->layers - 1; k >= 0; k--) {
            st = dp_block_backward(t->nn, &t->blocks[k], &g->bgrad[k], g->attn, g->attn_grad, &g->arena,
                                   g->ckpt + (size_t)k * g->chunk * R * W, g->dx, n, R, err);
            if (st)
                return st;
            dp_prompts_mix_backward(g->dx + W, n, (size_t)R * W,
                                    d_layer_tokens + (size_t)k * DP_TEXT_PROMPTS * W, DP_TEXT_PROMPTS,
                                    W, k == 0);
        }
        /* context vector c of member e sits at row 1 + c of the 77 ids, row 5 + c of the 81 */
        for (int q = 0; q < n; q++) {
            int s = (first + q) / DP_ENSEMBLE, e = (first + q) % DP_ENSEMBLE;
            float *dc = (s == 0 ? d_normal_ctx : d_abnormal_ctx) + (size_t)e * DP_CONTEXT_TOKENS * W;
            const float *src = g->dx + ((size_t)q * R + 1 + DP_TEXT_PROMPTS) * W;
            for (size_t i = 0; i < (size_t)DP_CONTEXT_TOKENS * W; i++)
                dc[i] += src[i];
        }
    }
    return DP_OK;
}

size_t dp_text_grad_peak_bytes(const dp_text_grad *g)
{
    return g->bytes;
}

dp_status dp_text_set_prompts(dp_text *t, const float *normal_ctx, const float *abnormal_ctx,
                              const float *layer_tokens, dp_err *err)
{
    (void)err;
    const size_t ctx_n = (size_t)DP_ENSEMBLE * DP_CONTEXT_TOKENS * t->cfg.text_width;
    if (normal_ctx)
        memcpy(t->normal_ctx, normal_ctx, ctx_n * sizeof(float));
    if (abnormal_ctx)
        memcpy(t->abnormal_ctx, abnormal_ctx, ctx_n * sizeof(float));
    if (layer_tokens)
        memcpy(t->layer_tokens, layer_tokens,
               (size_t)t->cfg.text_layers * DP_TEXT_PROMPTS * t->cfg.text_width * sizeof(float));
    return DP_OK;
}
