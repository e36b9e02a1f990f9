/* DAPO tensors for training, loaded through the plugin's own checks. */
#include "train_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dapo_weights.h"
#include "safetensors.h"
#include "st_write.h"

static int group_of(const char *name)
{
    if (strncmp(name, "visual_prompt.learnable_visual_tokens", 37) == 0)
        return DP_GROUP_VISUAL;
    if (strncmp(name, "prompt_learner.learnable_", 25) == 0)
        return DP_GROUP_TEXT;
    if (strncmp(name, "linear_adapter.fc.", 18) == 0)
        return DP_GROUP_ADAPTERS;
    return 0;
}

dp_status dp_train_params_load(const char *path, const dp_model_config *cfg,
                               dp_train_params *out, dp_err *err)
{
    memset(out, 0, sizeof *out);
    dp_dapo_params check;
    dp_status st = dp_dapo_load(path, cfg, &check, err);   /* shapes as the plugin wants them */
    dp_dapo_free(&check);
    if (st)
        return st;
    dp_safetensors *sf;
    if ((st = dp_st_open(path, &sf, err)))
        return st;
    size_t n = dp_st_count(sf);
    out->t = calloc(n ? n : 1, sizeof *out->t);
    if (!out->t) {
        dp_st_close(sf);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n && !st; i++) {
        const dp_st_tensor *s = dp_st_at(sf, i);
        dp_train_tensor *t = &out->t[out->n++];
        if (s->ndim > 3) {
            st = dp_fail(err, DP_E_MODEL, "%s: tensor '%s' has %d dimensions; expected <= 3",
                         path, s->name, s->ndim);
            break;
        }
        t->name = strdup(s->name);
        t->ndim = s->ndim;
        for (int d = 0; d < s->ndim; d++)
            t->shape[d] = s->shape[d];
        t->count = s->count;
        t->group = group_of(s->name);
        t->value = malloc((s->count ? s->count : 1) * sizeof(float));
        if (t->group)
            t->grad = calloc(s->count ? s->count : 1, sizeof(float));
        if (!t->name || !t->value || (t->group && !t->grad))
            st = dp_fail(err, DP_E_NOMEM, "%s: out of memory for tensor '%s'", path, s->name);
        else
            st = dp_st_to_f32(sf, s, t->value, err);
    }
    dp_st_close(sf);
    if (st)
        dp_train_params_free(out);
    return st;
}

void dp_train_params_free(dp_train_params *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        free(p->t[i].name);
        free(p->t[i].value);
        free(p->t[i].grad);
    }
    free(p->t);
    memset(p, 0, sizeof *p);
}

int dp_train_params_index(const dp_train_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0)
            return i;
    return -1;
}

dp_train_tensor *dp_train_params_find(const dp_train_params *p, const char *name)
{
    int i = dp_train_params_index(p, name);
    return i < 0 ? NULL : &p->t[i];
}

dp_train_tensor *dp_train_params_adapter_w(const dp_train_params *p, int j)
{
    char name[64];
    snprintf(name, sizeof name, "linear_adapter.fc.%d.weight", j);
    return dp_train_params_find(p, name);
}

dp_train_tensor *dp_train_params_adapter_b(const dp_train_params *p, int j)
{
    char name[64];
    snprintf(name, sizeof name, "linear_adapter.fc.%d.bias", j);
    return dp_train_params_find(p, name);
}

void dp_train_params_zero_grads(dp_train_params *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i].grad)
            memset(p->t[i].grad, 0, p->t[i].count * sizeof(float));
}

dp_status dp_train_params_save(const dp_train_params *p, const char *path,
                               const char *const *meta, int n_meta, dp_err *err)
{
    dp_st_out *o = calloc((size_t)(p->n ? p->n : 1), sizeof *o);
    if (!o)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < p->n; i++) {
        o[i].name = p->t[i].name;
        o[i].ndim = p->t[i].ndim;
        memcpy(o[i].shape, p->t[i].shape, sizeof o[i].shape);
        o[i].data = p->t[i].value;
    }
    dp_status st = dp_st_write_f32(path, o, p->n, meta, n_meta, err);
    free(o);
    return st;
}
