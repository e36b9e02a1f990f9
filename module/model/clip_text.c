/* CLIP text tower with DAPO prompts (tests/golden/README.md §5): for every state and each of the 10 prompt
 * variants, the 77 token embeddings with rows 1..5 replaced by learned context vectors, plus
 * positions; 4 deep prompt rows inserted after SOT (81 rows), re-mixed before every block
 * after the first; NO attention mask; ln_final; the pooled row is the EOT position of the
 * 77-token ids used as an index into the 81-row sequence (the reference's off-by-4, kept). */
#include "clip_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_testing.h"
#include "clip_text_internal.h"
#include "transformer.h"

#define TEXT_ROWS(ctx) ((ctx) + DP_TEXT_PROMPTS)


static float *dup_floats(const float *src, size_t n)
{
    float *d = malloc(n * sizeof *d);
    if (d)
        memcpy(d, src, n * sizeof *d);
    return d;
}

dp_status dp_text_build(dp_nn *nn, const dp_weight_source *src, dp_dtype_c dt, int chunk,
                        const float *normal_ctx, const float *abnormal_ctx,
                        const float *layer_tokens, dp_text **out, dp_err *err)
{
    *out = NULL;
    const dp_model_config *c = src->cfg;
    if (chunk < 1 || chunk > 4096)
        return dp_fail(err, DP_E_ARG, "text chunk %d: expected 1..4096 sequences", chunk);
    dp_text *t = calloc(1, sizeof *t);
    if (!t)
        return dp_fail(err, DP_E_NOMEM, "out of memory building the text tower");
    t->nn = nn;
    t->cfg = *c;
    t->dt = dt;
    t->chunk = chunk;
    t->rows_per_seq = TEXT_ROWS(c->context_length);
    const int W = c->text_width, E = c->embed_dim;
    const size_t ctx_n = (size_t)DP_ENSEMBLE * DP_CONTEXT_TOKENS * W;
    const size_t rows = (size_t)chunk * t->rows_per_seq;

    dp_status st = dp_weights_read_new(src, "token_embedding.weight", (size_t)c->vocab_size * W,
                              &t->token_embedding, err);
    if (!st) st = dp_weights_read_new(src, "positional_embedding", (size_t)c->context_length * W, &t->positions, err);
    if (!st) st = dp_weights_read_new(src, "ln_final.weight", (size_t)W, &t->ln_final_g, err);
    if (!st) st = dp_weights_read_new(src, "ln_final.bias", (size_t)W, &t->ln_final_b, err);
    if (!st) st = dp_weights_read_new(src, "text_projection", (size_t)W * E, &t->projection, err);
    if (!st) {
        t->normal_ctx = dup_floats(normal_ctx, ctx_n);
        t->abnormal_ctx = dup_floats(abnormal_ctx, ctx_n);
        t->layer_tokens = dup_floats(layer_tokens, (size_t)c->text_layers * DP_TEXT_PROMPTS * W);
        t->row = malloc((size_t)W * sizeof *t->row);
        t->pooled = malloc((size_t)E * sizeof *t->pooled);
        t->blocks = calloc((size_t)c->text_layers, sizeof *t->blocks);
        if (!t->normal_ctx || !t->abnormal_ctx || !t->layer_tokens || !t->row || !t->pooled || !t->blocks)
            st = dp_fail(err, DP_E_NOMEM, "out of memory for the text prompts");
    }
    float *scratch = st ? NULL : malloc((size_t)4 * W * W * sizeof *scratch);
    if (!st && !scratch)
        st = dp_fail(err, DP_E_NOMEM, "out of memory staging text weights");
    for (int i = 0; !st && i < c->text_layers; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "transformer.resblocks.%d", i);
        st = dp_block_build(nn, src, prefix, W, (int)rows, dt, scratch, &t->blocks[i], err);
    }
    free(scratch);
    if (!st)
        st = dp_attention_create(nn, t->rows_per_seq, W, c->text_heads, chunk, dt, 0, &t->attn, err);
    if (!st)
        st = dp_block_arena_alloc(&t->arena, rows, W, dt, err);
    if (st) {
        dp_text_free(t);
        return st;
    }
    *out = t;
    return DP_OK;
}

void dp_text_free(dp_text *t)
{
    if (!t)
        return;
    free(t->token_embedding);
    free(t->positions);
    free(t->ln_final_g);
    free(t->ln_final_b);
    free(t->projection);
    free(t->normal_ctx);
    free(t->abnormal_ctx);
    free(t->layer_tokens);
    free(t->row);
    free(t->pooled);
    if (t->blocks)
        for (int i = 0; i < t->cfg.text_layers; i++)
            dp_block_free(&t->blocks[i]);
    free(t->blocks);
    dp_attention_free(t->attn);
    dp_block_arena_free(&t->arena);
    free(t);
}

void dp_text_features_free(dp_text_features *tf)
{
    free(tf->features);
    free(tf->abnormal);
    free(tf->unnormalized);
    free(tf->pool_index);
    memset(tf, 0, sizeof *tf);
}

static void normalize(float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    float inv = (float)(1.0 / sqrt(s));
    for (int i = 0; i < n; i++)
        v[i] *= inv;
}

/* Tokenises the prompt of every state; checks the five placeholders landed on rows 1..5. */
dp_status dp_text_tokenize_states(const dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                                  int n_defects, int32_t *ids, int *pool, dp_err *err)
{
    const int L = t->cfg.context_length;
    for (int s = 0; s <= n_defects; s++) {
        char text[600];
        if (s == 0) {
            snprintf(text, sizeof text, "X X X X X flawless object");
        } else {
            if (!defects[s - 1] || !defects[s - 1][0] || strlen(defects[s - 1]) > 256)
                return dp_fail(err, DP_E_ARG, "defect %d: name empty or longer than 256 bytes", s);
            snprintf(text, sizeof text, "X X X X X %s anomaly object", defects[s - 1]);
        }
        int32_t *row = ids + (size_t)s * L;
        dp_status st = dp_tokenize(tok, text, row, L, NULL, err);
        if (st)
            return st;
        int32_t x_id = row[1];
        for (int k = 1; k <= DP_CONTEXT_TOKENS; k++)
            if (row[k] != x_id)
                return dp_fail(err, DP_E_INTERNAL, "prompt \"%s\": placeholder tokens not at 1..5", text);
        int best = 0;
        for (int k = 1; k < L; k++)
            if (row[k] > row[best])
                best = k;
        pool[s] = best;
    }
    return DP_OK;
}

void dp_text_fill_sequence(const dp_text *t, const int32_t *ids, int state, int member, float *x,
                           float *input_capture)
{
    const int W = t->cfg.text_width, L = t->cfg.context_length;
    const float *ctx = (state == 0 ? t->normal_ctx : t->abnormal_ctx) +
                       (size_t)member * DP_CONTEXT_TOKENS * W;
    /* original row r (0..L-1) lands at r for r == 0 and at r + 4 otherwise */
    for (int r = 0; r < L; r++) {
        const float *src = (r >= 1 && r <= DP_CONTEXT_TOKENS)
                               ? ctx + (size_t)(r - 1) * W
                               : t->token_embedding + (size_t)ids[r] * W;
        if (input_capture)
            memcpy(input_capture + (size_t)r * W, src, (size_t)W * sizeof *src);
        float *dst = x + (size_t)(r == 0 ? 0 : r + DP_TEXT_PROMPTS) * W;
        const float *pos = t->positions + (size_t)r * W;
        for (int i = 0; i < W; i++)
            dst[i] = src[i] + pos[i];
    }
    memcpy(x + W, t->layer_tokens, (size_t)DP_TEXT_PROMPTS * W * sizeof *x);
}

dp_status dp_text_encode(dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                         int n_defects, dp_text_features *out, dp_err *err)
{
    return dp_text_encode_debug(t, tok, defects, n_defects, out, NULL, err);
}

dp_status dp_text_encode_debug(dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                               int n_defects, dp_text_features *out, dp_text_debug *dbg,
                               dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!tok || n_defects < 1 || n_defects > DP_MAX_DEFECTS || !defects)
        return dp_fail(err, DP_E_ARG, "defect list of %d names: expected 1..%d", n_defects,
                       DP_MAX_DEFECTS);
    const int W = t->cfg.text_width, E = t->cfg.embed_dim, L = t->cfg.context_length;
    const int R = t->rows_per_seq, states = 1 + n_defects, total = states * DP_ENSEMBLE;
    int32_t *ids = malloc((size_t)states * L * sizeof *ids);
    out->n_states = states;
    out->dim = E;
    out->features = calloc((size_t)states * E, sizeof(float));
    out->unnormalized = calloc((size_t)states * E, sizeof(float));
    out->abnormal = calloc((size_t)E, sizeof(float));
    out->pool_index = calloc((size_t)states, sizeof(int));
    if (!ids || !out->features || !out->unnormalized || !out->abnormal || !out->pool_index) {
        free(ids);
        dp_text_features_free(out);
        return dp_fail(err, DP_E_NOMEM, "out of memory encoding %d defect names", n_defects);
    }
    dp_status st = dp_text_tokenize_states(t, tok, defects, n_defects, ids, out->pool_index, err);
    if (!st && dbg) {
        memcpy(dbg->ids_normal, ids, sizeof dbg->ids_normal);
        memcpy(dbg->ids_defect0, ids + L, sizeof dbg->ids_defect0);
    }
    for (int first = 0; !st && first < total; first += t->chunk) {
        int n = total - first < t->chunk ? total - first : t->chunk;
        for (int q = 0; q < n; q++) {
            int s = (first + q) / DP_ENSEMBLE, e = (first + q) % DP_ENSEMBLE;
            float *cap = (dbg && s == 1 && e == 0) ? dbg->defect0_member0_input : NULL;
            dp_text_fill_sequence(t, ids + (size_t)s * L, s, e, t->arena.x + (size_t)q * R * W, cap);
        }
        for (int k = 0; !st && k < t->cfg.text_layers; k++) {
            if (k > 0) {
                const float *p = t->layer_tokens + (size_t)k * DP_TEXT_PROMPTS * W;
                dp_prompts_mix(t->arena.x + W, n, (size_t)R * W, p, DP_TEXT_PROMPTS, W, 0);
            }
            st = dp_block_run(t->nn, &t->blocks[k], t->attn, &t->arena, n, R, t->dt, NULL, err);
        }
        for (int q = 0; !st && q < n; q++) {
            int s = (first + q) / DP_ENSEMBLE, e = (first + q) % DP_ENSEMBLE;
            const float *seq = t->arena.x + (size_t)q * R * W;
            if (dbg && s == 1 && e == 0 && dbg->defect0_member0_final)
                dp_layernorm(t->nn, seq, R, W, W, t->ln_final_g, t->ln_final_b, DP_LAYERNORM_EPS,
                             dbg->defect0_member0_final, W, DP_C_F32);
            dp_layernorm(t->nn, seq + (size_t)out->pool_index[s] * W, 1, W, W, t->ln_final_g,
                         t->ln_final_b, DP_LAYERNORM_EPS, t->row, W, DP_C_F32);
            float *u = t->pooled;
            for (int j = 0; j < E; j++)
                u[j] = 0;
            for (int i = 0; i < W; i++) {
                const float *pr = t->projection + (size_t)i * E;
                for (int j = 0; j < E; j++)
                    u[j] += t->row[i] * pr[j];
            }
            if (dbg && s == 1 && dbg->defect0_members)
                memcpy(dbg->defect0_members + (size_t)e * E, u, (size_t)E * sizeof *u);
            float *acc = out->unnormalized + (size_t)s * E;
            for (int j = 0; j < E; j++)
                acc[j] += u[j];
        }
        if (!st && t->progress)
            t->progress(t->progress_ctx, first + n, total);
    }
    free(ids);
    if (st) {
        dp_text_features_free(out);
        return st;
    }
    dp_text_finish_features(out, n_defects);
    return DP_OK;
}

void dp_text_finish_features(dp_text_features *out, int n_defects)
{
    const int E = out->dim;
    for (int s = 0; s < out->n_states; s++) {
        float *u = out->unnormalized + (size_t)s * E, *f = out->features + (size_t)s * E;
        for (int j = 0; j < E; j++) {
            u[j] /= (float)DP_ENSEMBLE;
            f[j] = u[j];
        }
        normalize(f, E);
        if (s > 0)
            for (int j = 0; j < E; j++)
                out->abnormal[j] += f[j];
    }
    for (int j = 0; j < E; j++)
        out->abnormal[j] /= (float)n_defects;
    normalize(out->abnormal, E);
}

void dp_text_set_progress(dp_text *t, dp_progress_fn fn, void *ctx)
{
    t->progress = fn;
    t->progress_ctx = ctx;
}
