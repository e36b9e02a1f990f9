/* CLIP ViT image tower with DAPO's visual prompts (tests/golden/README.md §3):
 * patches -> [CLS; patches] + positions -> ln_pre -> insert 4 prompt rows after CLS ->
 * 24 blocks, prompt rows re-mixed 1 % / 99 % before every block after the first ->
 * adapters on the patch rows of the tapped blocks; global = ln_post(CLS) @ proj. */
#include "clip_vision.h"
#include "model_testing.h"
#include "dp_limits.h"
#include "dp_size.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_vision_internal.h"
#include "transformer.h"

static dp_status check_options(const dp_model_config *c, const dp_vision_options *o, dp_err *err)
{
    if (o->image_size < DP_MIN_INPUT_SIZE || o->image_size % c->patch_size ||
        o->image_size > DP_MAX_INPUT_SIZE)
        return dp_fail(err, DP_E_ARG,
                       "input size %d: expected a multiple of the patch size %d in %d..%d",
                       o->image_size, c->patch_size, DP_MIN_INPUT_SIZE, DP_MAX_INPUT_SIZE);
    if (o->max_batch < 1 || o->max_batch > 64)
        return dp_fail(err, DP_E_ARG, "batch %d: expected 1..64", o->max_batch);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        if (o->feature_layers[j] < 1 || o->feature_layers[j] > c->vision_layers)
            return dp_fail(err, DP_E_ARG, "feature layer %d: expected 1..%d (blocks of the tower)",
                           o->feature_layers[j], c->vision_layers);
    return DP_OK;
}

/* The state's activation buffers for a batch of the tower's max_batch images. */
static dp_status state_alloc_acts(const dp_vision *v, dp_vision_state *s, dp_err *err)
{
    const int W = v->cfg.vision_width, P = v->cfg.patch_size, E = v->cfg.embed_dim;
    const int B = v->opt.max_batch;
    const dp_dtype_c act = dp_act_dtype(v->opt.dt);
    const size_t pdim = (size_t)3 * P * P;
    s->owns_acts = 1;
    dp_status st = dp_block_arena_alloc(&s->arena, (size_t)B * v->tokens, W, act, err);
    if (st)
        return st;
    s->patch_rows = dp_alloc_aligned((size_t)B * v->patches * pdim * dp_dtype_size(act));
    s->adapted = malloc((size_t)DP_FEATURE_LAYERS * B * v->patches * E * sizeof(float));
    s->global = malloc((size_t)B * E * sizeof(float));
    s->ln_row = malloc((size_t)W * sizeof(float));
    if (!s->patch_rows || !s->adapted || !s->global || !s->ln_row)
        return dp_fail(err, DP_E_NOMEM, "out of memory for vision activations");
    return DP_OK;
}

/* s: zeroed; its attention on nn (borrowed), its activations its own or the tower's. */
static dp_status state_init(dp_vision *v, dp_vision_state *s, dp_nn *nn, int share_acts, dp_err *err)
{
    s->nn = nn;
    dp_status st = dp_attention_create(nn, v->tokens, v->cfg.vision_width, v->cfg.vision_heads,
                                       v->opt.max_batch, dp_act_dtype(v->opt.dt), 0, &s->attn, err);
    if (st)
        return st;
    if (!share_acts)
        return state_alloc_acts(v, s, err);
    s->arena = v->own.arena;
    s->patch_rows = v->own.patch_rows;
    s->adapted = v->own.adapted;
    s->global = v->own.global;
    s->ln_row = v->own.ln_row;
    return DP_OK;
}

static void state_release(dp_vision_state *s)
{
    dp_attention_free(s->attn);
    if (s->owns_acts) {
        dp_block_arena_free(&s->arena);
        free(s->patch_rows);
        free(s->adapted);
        free(s->global);
        free(s->ln_row);
    }
    memset(s, 0, sizeof *s);
}

dp_status dp_vision_build(dp_nn *nn, const dp_weight_source *src, const dp_vision_options *opt,
                          const float *visual_tokens, float *const adapter_w[4],
                          float *const adapter_b[4], dp_vision **out, dp_err *err)
{
    *out = NULL;
    const dp_model_config *c = src->cfg;
    dp_status st = check_options(c, opt, err);
    if (st)
        return st;
    dp_vision *v = calloc(1, sizeof *v);
    if (!v)
        return dp_fail(err, DP_E_NOMEM, "out of memory building the vision tower");
    v->nn = nn;
    v->cfg = *c;
    v->opt = *opt;
    const int W = c->vision_width, P = c->patch_size, E = c->embed_dim;
    /* int8: the block linears only; patch embedding (< 1 % of the flops), attention, layer
     * norms and adapters run on f32 activations */
    const dp_dtype_c act = dp_act_dtype(opt->dt);
    v->grid = opt->image_size / P;
    v->patches = v->grid * v->grid;
    v->tokens = 1 + DP_VISUAL_PROMPTS + v->patches;
    const int rows = opt->max_batch * v->tokens;
    const size_t pdim = (size_t)3 * P * P;

    float *scratch = malloc((size_t)4 * W * W * sizeof *scratch > pdim * W * sizeof *scratch
                                ? (size_t)4 * W * W * sizeof *scratch : pdim * W * sizeof *scratch);
    if (!scratch) {
        free(v);
        return dp_fail(err, DP_E_NOMEM, "out of memory staging vision weights");
    }
    st = src->read(src->ctx, "visual.conv1.weight", scratch, (size_t)W * pdim, err);
    if (!st)
        st = dp_linear_init(nn, &v->patch_embed, scratch, NULL, (int)pdim, W,
                            opt->max_batch * v->patches, act, err);
    if (!st) {
        v->cls_pos = malloc((size_t)(1 + v->patches) * W * sizeof *v->cls_pos);
        st = v->cls_pos ? src->pos_embed(src->ctx, v->grid, v->cls_pos, err)
                        : dp_fail(err, DP_E_NOMEM, "out of memory for the positional table");
    }
    if (!st) {
        st = src->read(src->ctx, "visual.class_embedding", scratch, (size_t)W, err);
        for (int i = 0; !st && i < W; i++)
            v->cls_pos[i] += scratch[i];
    }
    if (!st) st = dp_weights_read_new(src, "visual.ln_pre.weight", (size_t)W, &v->ln_pre_g, err);
    if (!st) st = dp_weights_read_new(src, "visual.ln_pre.bias", (size_t)W, &v->ln_pre_b, err);
    if (!st) st = dp_weights_read_new(src, "visual.ln_post.weight", (size_t)W, &v->ln_post_g, err);
    if (!st) st = dp_weights_read_new(src, "visual.ln_post.bias", (size_t)W, &v->ln_post_b, err);
    if (!st) st = dp_weights_read_new(src, "visual.proj", (size_t)W * E, &v->proj, err);
    if (!st) {
        size_t n = (size_t)c->vision_layers * DP_VISUAL_PROMPTS * W;
        v->prompts = malloc(n * sizeof *v->prompts);
        if (v->prompts)
            memcpy(v->prompts, visual_tokens, n * sizeof *v->prompts);
        else
            st = dp_fail(err, DP_E_NOMEM, "out of memory for the visual prompts");
    }
    if (!st) {
        v->blocks = calloc((size_t)c->vision_layers, sizeof *v->blocks);
        if (!v->blocks)
            st = dp_fail(err, DP_E_NOMEM, "out of memory for the vision blocks");
    }
    for (int i = 0; !st && i < c->vision_layers; i++) {
        char prefix[96];
        snprintf(prefix, sizeof prefix, "visual.transformer.resblocks.%d", i);
        st = dp_block_build(nn, src, prefix, W, rows, opt->dt, scratch, &v->blocks[i], err);
    }
    for (int j = 0; !st && j < DP_FEATURE_LAYERS; j++)
        st = dp_linear_init(nn, &v->adapters[j], adapter_w[j], adapter_b[j], W, E, v->patches,
                            DP_C_F32, err);
    free(scratch);
    if (!st)
        st = state_init(v, &v->own, nn, 0, err);
    if (!st && opt->record_taps) {
        v->taps = malloc((size_t)5 * opt->max_batch * (1 + v->patches) * W * sizeof(float));
        if (!v->taps)
            st = dp_fail(err, DP_E_NOMEM, "out of memory for the vision taps");
    }
    if (st) {
        dp_vision_free(v);
        return st;
    }
    *out = v;
    return DP_OK;
}

void dp_vision_free(dp_vision *v)
{
    if (!v)
        return;
    dp_linear_free(&v->patch_embed);
    free(v->cls_pos);
    free(v->ln_pre_g);
    free(v->ln_pre_b);
    free(v->ln_post_g);
    free(v->ln_post_b);
    free(v->proj);
    free(v->prompts);
    if (v->blocks)
        for (int i = 0; i < v->cfg.vision_layers; i++)
            dp_block_free(&v->blocks[i]);
    free(v->blocks);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        dp_linear_free(&v->adapters[j]);
    state_release(&v->own);
    free(v->taps);
    free(v);
}

dp_status dp_vision_state_create(dp_vision *v, dp_nn *lane, int share_acts, dp_vision_state **out,
                                 dp_err *err)
{
    *out = NULL;
    dp_vision_state *s = calloc(1, sizeof *s);
    if (!s)
        return dp_fail(err, DP_E_NOMEM, "out of memory creating a tile worker's vision state");
    dp_status st = state_init(v, s, lane, share_acts, err);
    if (st) {
        dp_vision_state_free(s);
        return st;
    }
    *out = s;
    return DP_OK;
}

void dp_vision_state_free(dp_vision_state *s)
{
    if (!s)
        return;
    state_release(s);
    free(s);
}

/* Patch (gy, gx) flattened as (channel, y, x), matching conv1.weight's [Wv][3][P][P]. */
static void gather_patches(const dp_vision *v, dp_nn *nn, const float *pre, int batch,
                           void *patch_rows)
{
    const int P = v->cfg.patch_size, S = v->opt.image_size, G = v->grid;
    const size_t pdim = (size_t)3 * P * P;
    const int bf16 = v->opt.dt == DP_C_BF16;
#pragma omp parallel for num_threads(dp_nn_threads(nn)) schedule(static)
    for (int bp = 0; bp < batch * G * G; bp++) {
        int b = bp / (G * G), p = bp % (G * G), gy = p / G, gx = p % G;
        const float *img = pre + (size_t)b * 3 * S * S;
        size_t o = (size_t)bp * pdim;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < P; y++) {
                const float *row = img + ((size_t)ch * S + (size_t)gy * P + y) * S + (size_t)gx * P;
                for (int x = 0; x < P; x++, o++) {
                    if (bf16)
                        ((uint16_t *)patch_rows)[o] = dp_f32_to_bf16(row[x]);
                    else
                        ((float *)patch_rows)[o] = row[x];
                }
            }
    }
}

static void set_prompts(const dp_vision *v, dp_vision_state *s, int batch, int layer)
{
    const int W = v->cfg.vision_width;
    const float *p = v->prompts + (size_t)layer * DP_VISUAL_PROMPTS * W;
    dp_prompts_mix(s->arena.x + W, batch, (size_t)v->tokens * W, p, DP_VISUAL_PROMPTS, W, layer == 0);
}

static void record_tap(const dp_vision *v, int tap, int batch)
{
    const int W = v->cfg.vision_width;
    for (int b = 0; b < batch; b++) {
        float *dst = v->taps + ((size_t)tap * v->opt.max_batch + b) * (1 + v->patches) * W;
        const float *x = v->own.arena.x + (size_t)b * v->tokens * W;
        memcpy(dst, x, (size_t)W * sizeof *dst);
        memcpy(dst + W, x + (size_t)(1 + DP_VISUAL_PROMPTS) * W, (size_t)v->patches * W * sizeof *dst);
    }
}

static void global_row_on(const dp_vision *v, dp_nn *nn, const float *cls, float *ln_row, float *g)
{
    const int W = v->cfg.vision_width, E = v->cfg.embed_dim;
    dp_layernorm(nn, cls, 1, W, W, v->ln_post_g, v->ln_post_b, DP_LAYERNORM_EPS, ln_row, W, DP_C_F32);
    for (int e = 0; e < E; e++)
        g[e] = 0;
    for (int i = 0; i < W; i++) {
        const float *pr = v->proj + (size_t)i * E;
        for (int e = 0; e < E; e++)
            g[e] += ln_row[i] * pr[e];
    }
}

void dp_vision_global_row(const dp_vision *v, const float *cls, float *ln_row, float *g)
{
    global_row_on(v, v->nn, cls, ln_row, g);
}

static void global_embedding(const dp_vision *v, dp_vision_state *s, int batch)
{
    const int W = v->cfg.vision_width, E = v->cfg.embed_dim;
    for (int b = 0; b < batch; b++)
        global_row_on(v, s->nn, s->arena.x + (size_t)b * v->tokens * W, s->ln_row,
                      s->global + (size_t)b * E);
}

dp_status dp_vision_embed(dp_vision *v, const float *pre, int batch, void *patch_rows, float *x,
                          dp_err *err)
{
    return dp_vision_embed_on(v, v->nn, pre, batch, patch_rows, x, err);
}

dp_status dp_vision_embed_on(const dp_vision *v, dp_nn *nn, const float *pre, int batch,
                             void *patch_rows, float *x, dp_err *err)
{
    const int W = v->cfg.vision_width, T = v->tokens, GG = v->patches;
    const size_t pdim = (size_t)3 * v->cfg.patch_size * v->cfg.patch_size;
    gather_patches(v, nn, pre, batch, patch_rows);
    for (int b = 0; b < batch; b++) {
        float *xb = x + (size_t)b * T * W;
        const void *pr = (const char *)patch_rows + (size_t)b * GG * pdim * dp_dtype_size(v->opt.dt);
        dp_status st = dp_linear_run(nn, &v->patch_embed, pr, GG, (int)pdim,
                                     xb + (size_t)(1 + DP_VISUAL_PROMPTS) * W, W, DP_C_F32,
                                     DP_EPI_NONE, err);
        if (st)
            return st;
        memcpy(xb, v->cls_pos, (size_t)W * sizeof *xb);
        float *patch = xb + (size_t)(1 + DP_VISUAL_PROMPTS) * W;
        const float *pos = v->cls_pos + W;
        for (size_t i = 0; i < (size_t)GG * W; i++)
            patch[i] += pos[i];
        /* ln_pre on CLS and patches; the prompt rows are written afterwards, unnormalised */
        dp_layernorm(nn, xb, 1, W, W, v->ln_pre_g, v->ln_pre_b, DP_LAYERNORM_EPS, xb, W, DP_C_F32);
        dp_layernorm(nn, patch, GG, W, W, v->ln_pre_g, v->ln_pre_b, DP_LAYERNORM_EPS, patch, W, DP_C_F32);
    }
    return DP_OK;
}

/* One forward pass of `batch` images on state s; taps (the tower's own state only) recorded
 * when `taps`. */
static dp_status run(const dp_vision *v, dp_vision_state *s, const float *pre, int batch,
                     const dp_cancel *cancel, int taps, dp_err *err)
{
    if (!pre || batch < 1 || batch > v->opt.max_batch)
        return dp_fail(err, DP_E_ARG, "vision batch %d: expected 1..%d images", batch, v->opt.max_batch);
    const int W = v->cfg.vision_width, E = v->cfg.embed_dim, T = v->tokens, GG = v->patches;
    float *x = s->arena.x;
    s->attn_seconds = 0;

    dp_status est = dp_vision_embed_on(v, s->nn, pre, batch, s->patch_rows, x, err);
    if (est)
        return est;
    for (int i = 0; i < v->cfg.vision_layers; i++) {
        char where[48];
        snprintf(where, sizeof where, "before vision block %d", i + 1);
        if (dp_cancel_check(cancel, where, err))
            return DP_E_CANCELLED;
        set_prompts(v, s, batch, i);
        dp_status st = dp_block_run(s->nn, &v->blocks[i], s->attn, &s->arena, batch, T, v->opt.dt,
                                    &s->attn_seconds, err);
        if (st)
            return st;
        if (taps && i == 0)
            record_tap(v, 0, batch);
        for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
            if (v->opt.feature_layers[j] != i + 1)
                continue;
            if (taps)
                record_tap(v, 1 + j, batch);
            for (int b = 0; b < batch; b++) {
                const float *rows = x + ((size_t)b * T + 1 + DP_VISUAL_PROMPTS) * W;
                float *dst = s->adapted + ((size_t)j * v->opt.max_batch + b) * GG * E;
                if ((st = dp_linear_run(s->nn, &v->adapters[j], rows, GG, W, dst, E, DP_C_F32,
                                        DP_EPI_NONE, err)))
                    return st;
            }
        }
    }
    global_embedding(v, s, batch);
    return DP_OK;
}

dp_status dp_vision_run(dp_vision *v, const float *pre, int batch, const dp_cancel *cancel,
                        dp_err *err)
{
    return run(v, &v->own, pre, batch, cancel, v->taps != NULL, err);
}

dp_status dp_vision_prepare_batches(dp_vision *v, dp_vision_state *s, dp_err *err)
{
    if (!s)
        s = &v->own;
    dp_status st = DP_OK;
    for (int b = 1; !st && b <= v->opt.max_batch; b++)
        for (int i = 0; !st && i < v->cfg.vision_layers; i++)
            st = dp_block_prepare(s->nn, &v->blocks[i], b, v->tokens, v->opt.dt, err);
    return st;
}

dp_status dp_vision_run_state(const dp_vision *v, dp_vision_state *s, const float *pre, int batch,
                              const dp_cancel *cancel, dp_err *err)
{
    return run(v, s, pre, batch, cancel, 0, err);
}

const float *dp_vision_state_adapted(const dp_vision *v, const dp_vision_state *s, int j, int b)
{
    return s->adapted + ((size_t)j * v->opt.max_batch + b) * v->patches * v->cfg.embed_dim;
}

const float *dp_vision_state_global(const dp_vision *v, const dp_vision_state *s, int b)
{
    return s->global + (size_t)b * v->cfg.embed_dim;
}

size_t dp_vision_state_bytes(const dp_vision *v, const dp_vision_state *s)
{
    size_t n = dp_attention_bytes(s->attn);
    if (s->owns_acts) {
        const int W = v->cfg.vision_width, P = v->cfg.patch_size, E = v->cfg.embed_dim;
        const size_t B = (size_t)v->opt.max_batch;
        const dp_dtype_c act = dp_act_dtype(v->opt.dt);
        n += dp_block_arena_bytes(B * v->tokens, W, act) +
             B * v->patches * 3 * P * P * dp_dtype_size(act) +
             (DP_FEATURE_LAYERS * B * v->patches + B) * E * sizeof(float) + W * sizeof(float);
    }
    return n;
}

int dp_vision_grid(const dp_vision *v)
{
    return v->grid;
}

const float *dp_vision_adapted(const dp_vision *v, int j, int b)
{
    return dp_vision_state_adapted(v, &v->own, j, b);
}

const float *dp_vision_global(const dp_vision *v, int b)
{
    return dp_vision_state_global(v, &v->own, b);
}

const float *dp_vision_tap(const dp_vision *v, int tap, int b)
{
    if (!v->taps || tap < 0 || tap > 4)
        return NULL;
    return v->taps + ((size_t)tap * v->opt.max_batch + b) * (1 + v->patches) * v->cfg.vision_width;
}

size_t dp_vision_weight_bytes(const dp_vision *v)
{
    size_t n = dp_linear_bytes(&v->patch_embed);
    for (int i = 0; i < v->cfg.vision_layers; i++)
        n += dp_block_bytes(&v->blocks[i]);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        n += dp_linear_bytes(&v->adapters[j]);
    return n;
}

size_t dp_vision_arena_bytes(const dp_vision *v)
{
    return dp_block_arena_bytes((size_t)v->opt.max_batch * v->tokens, v->cfg.vision_width, v->opt.dt) +
           dp_attention_bytes(v->own.attn);
}

double dp_vision_attention_seconds(const dp_vision *v)
{
    return v->own.attn_seconds;
}
