/* Fresh DAPO tensors with the reference's initial distributions. */
#include "train_init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_config.h"

/* SplitMix64: small, seedable, and the same numbers on every machine. */
typedef struct rng { uint64_t s; } rng;

static uint64_t next_u64(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* (0, 1): never 0, so the logarithm below is finite. */
static double open_unit(rng *r)
{
    return ((double)(next_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double normal(rng *r)
{
    return sqrt(-2.0 * log(open_unit(r))) * cos(6.283185307179586 * open_unit(r));
}

typedef enum { DRAW_UNIFORM, DRAW_TOKEN } draw;

static dp_status add(dp_train_params *p, const char *name, int ndim, int64_t d0, int64_t d1,
                     int64_t d2, dp_err *err)
{
    dp_train_tensor *t = &p->t[p->n];
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->count = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1) * (ndim > 2 ? (size_t)d2 : 1);
    t->name = strdup(name);
    t->value = malloc(t->count * sizeof(float));
    p->n++;   /* counted now so that dp_train_params_free releases it */
    if (!t->name || !t->value)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the fresh DAPO tensor '%s'", name);
    t->group = strncmp(name, "visual_prompt.", 14) == 0       ? DP_GROUP_VISUAL
               : strncmp(name, "linear_adapter.", 15) == 0    ? DP_GROUP_ADAPTERS
               : strncmp(name, "prompt_learner.learnable_", 25) == 0 ? DP_GROUP_TEXT : 0;
    if (t->group && !(t->grad = calloc(t->count, sizeof(float))))
        return dp_fail(err, DP_E_NOMEM, "out of memory for the gradient of '%s'", name);
    return DP_OK;
}

static void fill_uniform(dp_train_tensor *t, double bound, rng *r)
{
    for (size_t i = 0; i < t->count; i++)
        t->value[i] = (float)((2.0 * open_unit(r) - 1.0) * bound);
}

/* Rows of width w: N(0,1) * sd[d] + mean[d]. */
static void fill_token(dp_train_tensor *t, const double *mean, const double *sd, int w, rng *r)
{
    for (size_t i = 0; i < t->count; i++)
        t->value[i] = (float)(normal(r) * sd[i % (size_t)w] + mean[i % (size_t)w]);
}

/* Per-dimension mean and sample standard deviation of the token-embedding matrix. */
static dp_status token_stats(const dp_clip_file *clip, double *mean, double *sd, dp_err *err)
{
    const dp_model_config *c = dp_clip_config(clip);
    const int V = c->vocab_size, W = c->text_width;
    float *emb = malloc((size_t)V * W * sizeof *emb);
    if (!emb)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the token embedding (%d x %d)", V, W);
    dp_status st = dp_clip_read(clip, "token_embedding.weight", emb, err);
    if (!st && V < 2)
        st = dp_fail(err, DP_E_MODEL, "%s: token_embedding.weight has %d rows; the reference's "
                     "initialisation needs at least 2", dp_clip_path(clip), V);
    if (!st) {
        for (int d = 0; d < W; d++)
            mean[d] = sd[d] = 0;
        for (int v = 0; v < V; v++)
            for (int d = 0; d < W; d++)
                mean[d] += emb[(size_t)v * W + d];
        for (int d = 0; d < W; d++)
            mean[d] /= V;
        for (int v = 0; v < V; v++)
            for (int d = 0; d < W; d++) {
                double x = emb[(size_t)v * W + d] - mean[d];
                sd[d] += x * x;
            }
        for (int d = 0; d < W; d++)
            sd[d] = sqrt(sd[d] / (V - 1));
    }
    free(emb);
    return st;
}

dp_status dp_train_params_init_reference(const dp_clip_file *clip, uint64_t seed,
                                         dp_train_params *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    const dp_model_config *c = dp_clip_config(clip);
    const int Wv = c->vision_width, Wt = c->text_width, E = c->embed_dim, H = Wt / 16;
    const int n = 1 + 2 + c->text_layers + 4 + 2 * DP_FEATURE_LAYERS;
    if (H < 1)
        return dp_fail(err, DP_E_MODEL, "%s: text width %d; the reference's meta_net needs at "
                       "least 16", dp_clip_path(clip), Wt);
    double *mean = malloc((size_t)Wt * sizeof *mean), *sd = malloc((size_t)Wt * sizeof *sd);
    out->t = calloc((size_t)n, sizeof *out->t);
    dp_status st = !mean || !sd || !out->t
                       ? dp_fail(err, DP_E_NOMEM, "out of memory for the fresh DAPO tensors")
                       : token_stats(clip, mean, sd, err);
    rng r = { seed };
    char name[80];
    if (!st && !(st = add(out, "visual_prompt.learnable_visual_tokens", 3, c->vision_layers,
                          DP_VISUAL_PROMPTS, Wv, err)))
        fill_uniform(&out->t[out->n - 1],
                     sqrt(6.0 / (3.0 * c->patch_size * c->patch_size + Wv)), &r);
    if (!st && !(st = add(out, "prompt_learner.learnable_normal_tokens", 3, DP_ENSEMBLE,
                          DP_CONTEXT_TOKENS, Wt, err)))
        fill_token(&out->t[out->n - 1], mean, sd, Wt, &r);
    if (!st && !(st = add(out, "prompt_learner.learnable_abnormal_tokens", 3, DP_ENSEMBLE,
                          DP_CONTEXT_TOKENS, Wt, err)))
        fill_token(&out->t[out->n - 1], mean, sd, Wt, &r);
    for (int k = 0; !st && k < c->text_layers; k++) {
        snprintf(name, sizeof name, "prompt_learner.learnable_layer_tokens.%d", k);
        if (!(st = add(out, name, 2, DP_TEXT_PROMPTS, Wt, 0, err)))
            fill_token(&out->t[out->n - 1], mean, sd, Wt, &r);
    }
    /* meta_net (Linear Wt -> Wt/16, ReLU, Linear): unused by DAPO, kept for its file layout */
    static const char *const meta[4] = { "prompt_learner.meta_net.0.weight",
        "prompt_learner.meta_net.0.bias", "prompt_learner.meta_net.2.weight",
        "prompt_learner.meta_net.2.bias" };
    const int64_t meta_shape[4][2] = { { H, Wt }, { H, 0 }, { Wt, H }, { Wt, 0 } };
    const int meta_fan_in[4] = { Wt, Wt, H, H };
    for (int i = 0; !st && i < 4; i++)
        if (!(st = add(out, meta[i], meta_shape[i][1] ? 2 : 1, meta_shape[i][0], meta_shape[i][1],
                       0, err)))
            fill_uniform(&out->t[out->n - 1], 1.0 / sqrt((double)meta_fan_in[i]), &r);
    for (int j = 0; !st && j < DP_FEATURE_LAYERS; j++) {
        snprintf(name, sizeof name, "linear_adapter.fc.%d.weight", j);
        if (!(st = add(out, name, 2, E, Wv, 0, err)))
            fill_uniform(&out->t[out->n - 1], 1.0 / sqrt((double)Wv), &r);
        snprintf(name, sizeof name, "linear_adapter.fc.%d.bias", j);
        if (!st && !(st = add(out, name, 1, E, 0, 0, err)))
            fill_uniform(&out->t[out->n - 1], 1.0 / sqrt((double)Wv), &r);
    }
    free(mean);
    free(sd);
    if (st)
        dp_train_params_free(out);
    return st;
}
