/* The DAPO learnable tensors (dapo.safetensors): visual prompts, text contexts, deep text
 * prompts and the four adapters, each checked against the CLIP model's shape. */
#include "dapo_weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

/* Finds name in st, checks its shape against want and returns a new float32 copy in *out
 * (owned by the caller). */
static dp_status dapo_tensor(const dp_safetensors *st, const char *name, const int64_t *want,
                             int ndim, const char *why, float **out, dp_err *err)
{
    const dp_st_tensor *t = dp_st_find(st, name);
    if (!t)
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s' is missing", dp_st_path(st), name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char a[160], b[160];
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s': shape %s, expected %s (%s)",
                       dp_st_path(st), name, dp_st_format_shape(a, sizeof a, t->shape, t->ndim),
                       dp_st_format_shape(b, sizeof b, want, ndim), why);
    }
    float *buf = malloc((t->count ? t->count : 1) * sizeof *buf);
    if (!buf)
        return dp_fail(err, DP_E_NOMEM, "%s: tensor '%s': out of memory", dp_st_path(st), name);
    dp_status s = dp_st_to_f32(st, t, buf, err);
    if (s) {
        free(buf);
        return s;
    }
    *out = buf;
    return DP_OK;
}

#define LAYER_TOKENS "prompt_learner.learnable_layer_tokens."

static dp_status dapo_fill(const dp_safetensors *st, const dp_model_config *cfg,
                           dp_dapo_params *p, dp_err *err)
{
    const int64_t wv = cfg->vision_width, wt = cfg->text_width, e = cfg->embed_dim;
    const char *path = dp_st_path(st);
    char why[200], name[128];
    dp_status s;

    snprintf(why, sizeof why, "%d vision blocks x %d prompts x vision width %lld",
             cfg->vision_layers, DP_VISUAL_PROMPTS, (long long)wv);
    const int64_t vis[3] = { cfg->vision_layers, DP_VISUAL_PROMPTS, wv };
    if ((s = dapo_tensor(st, "visual_prompt.learnable_visual_tokens", vis, 3, why,
                         &p->visual_tokens, err)))
        return s;
    p->vision_depth = cfg->vision_layers;

    snprintf(why, sizeof why, "%d variants x %d context vectors x text width %lld", DP_ENSEMBLE,
             DP_CONTEXT_TOKENS, (long long)wt);
    const int64_t ctx[3] = { DP_ENSEMBLE, DP_CONTEXT_TOKENS, wt };
    if ((s = dapo_tensor(st, "prompt_learner.learnable_normal_tokens", ctx, 3, why, &p->normal_ctx,
                         err)) ||
        (s = dapo_tensor(st, "prompt_learner.learnable_abnormal_tokens", ctx, 3, why,
                         &p->abnormal_ctx, err)))
        return s;

    int depth = dp_st_count_indexed(st, LAYER_TOKENS, '\0');
    if (depth != cfg->text_layers)
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s<k>': %d deep text prompts (k = 0..%d), "
                       "expected one per text block (%d)", path, LAYER_TOKENS, depth, depth - 1,
                       cfg->text_layers);
    size_t per = (size_t)DP_TEXT_PROMPTS * (size_t)wt;
    p->layer_tokens = malloc((size_t)depth * per * sizeof *p->layer_tokens);
    if (!p->layer_tokens)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for the layer tokens", path);
    p->text_depth = depth;
    snprintf(why, sizeof why, "%d prompts x text width %lld", DP_TEXT_PROMPTS, (long long)wt);
    const int64_t lay[2] = { DP_TEXT_PROMPTS, wt };
    for (int k = 0; k < depth; k++) {
        float *one;
        snprintf(name, sizeof name, "%s%d", LAYER_TOKENS, k);
        if ((s = dapo_tensor(st, name, lay, 2, why, &one, err)))
            return s;
        memcpy(p->layer_tokens + (size_t)k * per, one, per * sizeof *one);
        free(one);
    }

    snprintf(why, sizeof why, "embed dim %lld x vision width %lld", (long long)e, (long long)wv);
    const int64_t aw[2] = { e, wv }, ab[1] = { e };
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        snprintf(name, sizeof name, "linear_adapter.fc.%d.weight", j);
        if ((s = dapo_tensor(st, name, aw, 2, why, &p->adapter_w[j], err)))
            return s;
        snprintf(name, sizeof name, "linear_adapter.fc.%d.bias", j);
        if ((s = dapo_tensor(st, name, ab, 1, "embed dim", &p->adapter_b[j], err)))
            return s;
    }
    return DP_OK;
}

dp_status dp_dapo_load(const char *path, const dp_model_config *cfg, dp_dapo_params *out,
                       dp_err *err)
{
    if (!out)
        return dp_fail(err, DP_E_ARG, "dp_dapo_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!cfg)
        return dp_fail(err, DP_E_ARG, "dp_dapo_load: cfg is NULL");
    if (cfg->vision_layers < 1 || cfg->text_layers < 1 || cfg->vision_width < 1 ||
        cfg->text_width < 1 || cfg->embed_dim < 1)
        return dp_fail(err, DP_E_ARG, "dp_dapo_load: model config has non-positive sizes");
    dp_safetensors *st;
    dp_status s = dp_st_open(path, &st, err);
    if (s)
        return s;
    s = dapo_fill(st, cfg, out, err);
    dp_st_close(st);
    if (s)
        dp_dapo_free(out);
    return s;
}

void dp_dapo_free(dp_dapo_params *p)
{
    if (!p)
        return;
    free(p->visual_tokens);
    free(p->normal_ctx);
    free(p->abnormal_ctx);
    free(p->layer_tokens);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        free(p->adapter_w[j]);
        free(p->adapter_b[j]);
    }
    memset(p, 0, sizeof *p);
}
