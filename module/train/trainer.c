/* A training run: towers forward, head forward and backward, tower backward passes, Adam. */
#include "trainer.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_weights.h"
#include "dp_threads.h"
#include "model.h"
#include "text_grad.h"
#include "train_init.h"
#include "tokenizer.h"
#include "vision_grad.h"

struct dp_trainer {
    dp_trainer_options o;
    dp_model_config cfg;
    dp_nn *nn;                    /* owned */
    dp_vision *vision;            /* owned, f32 */
    dp_vision_grad *vgrad;        /* owned; borrows vision */
    dp_tokenizer *tok;            /* owned */
    dp_text *text;                /* owned, f32 */
    dp_text_grad *tgrad;          /* owned; borrows text and tok */
    dp_text_features tf;          /* owned: the states' features of the last text forward */
    dp_train_head *head;          /* owned */
    dp_train_params params;       /* owned */
    dp_adam *adam;                /* owned */
    dp_train_tensor *visual, *normal, *abnormal;   /* borrowed from params */
    dp_train_tensor **layer;      /* [text_layers] borrowed from params; array owned */
    /* text prompts [normal ctx | abnormal ctx | layer tokens] gathered from params (prompts) and
     * as the last text forward saw them (prompts_at): equal = tf is current, no re-encoding */
    float *prompts, *prompts_at;  /* owned, [n_prompts] each */
    float *d_layer_tokens;        /* owned, [text_layers][4][Wt]: text_grad's contiguous layout */
    size_t n_ctx, n_prompts;
    int text_current;             /* prompts_at and tf describe one successful forward */
    float **values;               /* [params.n] views for Adam */
    const float **grads;          /* [params.n] per step: grad or NULL */
    uint8_t *zeros;               /* [batch][S][S] ground truth for predictions */
    int *zero_labels;             /* [batch] */
    float *scratch;               /* [n_states][S][S] one image's upsampled layer */
    float *global;                /* [batch][E] global embeddings gathered for the head */
    int grid, n_states;
};

dp_status dp_trainer_check_groups(int groups, dp_err *err)
{
    if (groups & ~DP_GROUP_ALL || !groups)
        return dp_fail(err, DP_E_ARG, "training groups 0x%x; expected a non-empty set of text, "
                       "visual, adapters", (unsigned)groups);
    return DP_OK;
}

static dp_train_tensor *need(dp_train_params *p, const char *name, size_t count, dp_err *err,
                             dp_status *st)
{
    dp_train_tensor *t = dp_train_params_find(p, name);
    if (!*st && (!t || t->count != count))
        *st = dp_fail(err, DP_E_MODEL, "trainer: the DAPO weights have no tensor '%s' of %zu "
                      "values", name, count);
    return t;
}

/* Finds the prompt tensors and sizes the buffers that gather and scatter them. */
static dp_status prompt_tensors(dp_trainer *t, dp_err *err)
{
    const dp_model_config *c = &t->cfg;
    const size_t Wt = (size_t)c->text_width, Wv = (size_t)c->vision_width;
    dp_status st = DP_OK;
    t->n_ctx = (size_t)DP_ENSEMBLE * DP_CONTEXT_TOKENS * Wt;
    const size_t n_lt = (size_t)c->text_layers * DP_TEXT_PROMPTS * Wt;
    t->n_prompts = 2 * t->n_ctx + n_lt;
    t->visual = need(&t->params, "visual_prompt.learnable_visual_tokens",
                     (size_t)c->vision_layers * DP_VISUAL_PROMPTS * Wv, err, &st);
    t->normal = need(&t->params, "prompt_learner.learnable_normal_tokens", t->n_ctx, err, &st);
    t->abnormal = need(&t->params, "prompt_learner.learnable_abnormal_tokens", t->n_ctx, err, &st);
    t->layer = calloc((size_t)c->text_layers, sizeof *t->layer);
    t->prompts = malloc(t->n_prompts * sizeof(float));
    t->prompts_at = malloc(t->n_prompts * sizeof(float));
    t->d_layer_tokens = malloc(n_lt * sizeof(float));
    if (!st && (!t->layer || !t->prompts || !t->prompts_at || !t->d_layer_tokens))
        st = dp_fail(err, DP_E_NOMEM, "out of memory for the trainer's prompt buffers");
    for (int k = 0; !st && k < c->text_layers; k++) {
        char name[64];
        snprintf(name, sizeof name, "prompt_learner.learnable_layer_tokens.%d", k);
        t->layer[k] = need(&t->params, name, (size_t)DP_TEXT_PROMPTS * Wt, err, &st);
    }
    return st;
}

static void gather_prompts(dp_trainer *t)
{
    const size_t per = (size_t)DP_TEXT_PROMPTS * t->cfg.text_width;
    memcpy(t->prompts, t->normal->value, t->n_ctx * sizeof(float));
    memcpy(t->prompts + t->n_ctx, t->abnormal->value, t->n_ctx * sizeof(float));
    for (int k = 0; k < t->cfg.text_layers; k++)
        memcpy(t->prompts + 2 * t->n_ctx + k * per, t->layer[k]->value, per * sizeof(float));
}

/* Builds the nn, both f32 towers with their training state, the tokenizer. */
static dp_status build_towers(dp_trainer *t, dp_clip_file *clip, dp_err *err)
{
    const dp_trainer_options *o = &t->o;
    const dp_model_config *c = &t->cfg;
    dp_weight_source src = dp_clip_weight_source(clip);
    dp_status st = dp_nn_create(o->threads, &t->nn, err);
    if (!st) {
        dp_vision_options vo = { o->image_size, o->batch, DP_C_F32, { 0 }, 0 };
        /* feature layers at 1/4, 2/4, 3/4 and 4/4 of the depth, as dp_model_load */
        for (int j = 0; j < DP_FEATURE_LAYERS; j++)
            vo.feature_layers[j] = c->vision_layers * (j + 1) / DP_FEATURE_LAYERS;
        float *aw[DP_FEATURE_LAYERS], *ab[DP_FEATURE_LAYERS];
        for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
            aw[j] = dp_train_params_adapter_w(&t->params, j)->value;
            ab[j] = dp_train_params_adapter_b(&t->params, j)->value;
        }
        st = dp_vision_build(t->nn, &src, &vo, t->visual->value, aw, ab, &t->vision, err);
    }
    if (!st)
        st = dp_vision_grad_create(t->vision, o->batch, &t->vgrad, err);
    if (!st)
        st = dp_tokenizer_load(o->vocab_path, &t->tok, err);
    if (!st) {
        int total = (1 + o->n_defects) * DP_ENSEMBLE;
        gather_prompts(t);
        st = dp_text_build(t->nn, &src, DP_C_F32, total < 40 ? total : 40, t->prompts,
                           t->prompts + t->n_ctx, t->prompts + 2 * t->n_ctx, &t->text, err);
    }
    if (!st)
        st = dp_text_grad_create(t->text, t->tok, o->defects, o->n_defects, &t->tgrad, err);
    /* the first encoding allocates tf; every later one refills it */
    if (!st && !(st = dp_text_grad_forward(t->tgrad, &t->tf, err))) {
        memcpy(t->prompts_at, t->prompts, t->n_prompts * sizeof(float));
        t->text_current = 1;
    }
    return st;
}

dp_status dp_trainer_create(const dp_trainer_options *o, dp_trainer **out, dp_err *err)
{
    *out = NULL;
    if (!o || !o->clip_path || !o->vocab_path || !o->defects ||
        o->n_defects < 1 || o->n_defects > DP_MAX_DEFECTS || o->batch < 1 || o->threads < 1)
        return dp_fail(err, DP_E_ARG, "trainer: missing model paths or defect states, or batch "
                       "/ threads < 1 (1..%d defect states)", DP_MAX_DEFECTS);
    if (o->precision != DP_C_F32)
        return dp_fail(err, DP_E_UNSUPPORTED, "trainer: precision %s asked; training runs both "
                       "towers in f32 (their backward passes, vision_grad.h and text_grad.h, are "
                       "f32 only)", o->precision == DP_C_BF16 ? "bf16" : "int8");
    /* libgomp ends the process when it cannot create a worker: check before any parallel work */
    dp_status st = dp_threads_probe(o->threads, "trainer", err);
    if (st)
        return st;
    dp_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the trainer");
    t->o = *o;
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(o->threads);
    dp_clip_file *clip = NULL;
    st = dp_clip_open(o->clip_path, &clip, err);
    if (!st) {
        t->cfg = *dp_clip_config(clip);
        st = o->dapo_path ? dp_train_params_load(o->dapo_path, &t->cfg, &t->params, err)
                          : dp_train_params_init_reference(clip, o->init_seed, &t->params, err);
    }
    if (!st)
        st = prompt_tensors(t, err);
    if (!st)
        st = build_towers(t, clip, err);
    dp_clip_close(clip);
    if (!st) {
        const dp_model_config *c = &t->cfg;
        t->grid = dp_vision_grid(t->vision);
        t->n_states = t->tf.n_states;
        dp_train_head_shape hs = { o->batch, t->grid, o->image_size, c->vision_width,
                                   c->embed_dim, t->n_states, o->threads };
        st = dp_train_head_create(&hs, &t->head, err);
    }
    if (!st) {
        const int n = t->params.n;
        size_t *counts = calloc((size_t)n, sizeof *counts);
        t->values = calloc((size_t)n, sizeof *t->values);
        t->grads = calloc((size_t)n, sizeof *t->grads);
        const size_t SS = (size_t)o->image_size * o->image_size;
        t->zeros = calloc((size_t)o->batch * SS, 1);
        t->zero_labels = calloc((size_t)o->batch, sizeof *t->zero_labels);
        t->scratch = malloc((size_t)t->n_states * SS * sizeof *t->scratch);
        t->global = malloc((size_t)o->batch * t->cfg.embed_dim * sizeof *t->global);
        if (!t->global || !counts || !t->values || !t->grads || !t->zeros || !t->zero_labels || !t->scratch)
            st = dp_fail(err, DP_E_NOMEM, "out of memory for the trainer's buffers");
        for (int i = 0; !st && i < n; i++) {
            counts[i] = t->params.t[i].count;
            t->values[i] = t->params.t[i].value;
        }
        if (!st)
            st = dp_adam_create(&o->adam, counts, n, &t->adam, err);
        free(counts);
    }
    omp_set_num_threads(saved_threads);
    if (st) {
        dp_trainer_free(t);
        return st;
    }
    *out = t;
    return DP_OK;
}

void dp_trainer_free(dp_trainer *t)
{
    if (!t)
        return;
    dp_text_grad_free(t->tgrad);
    dp_text_features_free(&t->tf);
    dp_text_free(t->text);
    dp_tokenizer_free(t->tok);
    dp_vision_grad_free(t->vgrad);
    dp_vision_free(t->vision);
    dp_nn_free(t->nn);
    dp_train_head_free(t->head);
    dp_train_params_free(&t->params);
    dp_adam_free(t->adam);
    free(t->layer);
    free(t->prompts);
    free(t->prompts_at);
    free(t->d_layer_tokens);
    free(t->values);
    free(t->grads);
    free(t->zeros);
    free(t->zero_labels);
    free(t->scratch);
    free(t->global);
    free(t);
}

/* The text features of the current prompts: re-encoded only when the prompt values differ from
 * those of the last encoding (every step that trains text; never when only the adapters or the
 * visual tokens are trained). The values are read from params at every call, so whatever wrote
 * them (Adam, a checkpoint restore) is seen. */
static dp_status text_forward(dp_trainer *t, dp_err *err)
{
    gather_prompts(t);
    if (t->text_current && !memcmp(t->prompts, t->prompts_at, t->n_prompts * sizeof(float)))
        return DP_OK;
    t->text_current = 0;
    dp_status st = dp_text_set_prompts(t->text, t->prompts, t->prompts + t->n_ctx,
                                       t->prompts + 2 * t->n_ctx, err);
    if (!st)
        st = dp_text_grad_refresh(t->tgrad, &t->tf, err);
    if (st)
        return st;
    memcpy(t->prompts_at, t->prompts, t->n_prompts * sizeof(float));
    t->text_current = 1;
    return DP_OK;
}

/* Towers forward (with the current tensor values) and the head's forward for this batch. */
static dp_status forward(dp_trainer *t, const float *pre, int batch, const uint8_t *gt_bin,
                         const uint8_t *gt_multi, const int *labels, dp_train_head_in *in,
                         dp_train_loss *loss, dp_err *err)
{
    if (batch < 1 || batch > t->o.batch)
        return dp_fail(err, DP_E_ARG, "training batch of %d images; expected 1..%d", batch,
                       t->o.batch);
    dp_status st = dp_vision_set_visual_tokens(t->vision, t->visual->value, err);
    if (!st)
        st = dp_vision_grad_forward(t->vgrad, pre, batch, err);
    if (!st)
        st = text_forward(t, err);
    for (int j = 0; j < DP_FEATURE_LAYERS && !st; j++)
        for (int b = 0; b < batch && !st; b++)
            st = dp_train_head_set_features(t->head, j, b, dp_vision_grad_features(t->vgrad, j, b),
                                            err);
    if (st)
        return st;
    const int E = t->cfg.embed_dim;
    for (int b = 0; b < batch; b++)
        memcpy(t->global + (size_t)b * E, dp_vision_grad_global(t->vgrad, b), E * sizeof(float));
    memset(in, 0, sizeof *in);
    in->batch = batch;
    in->global = t->global;
    in->text = t->tf.features;
    in->abnormal = t->tf.abnormal;
    in->gt_bin = gt_bin;
    in->gt_multi = gt_multi;
    in->labels = labels;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        in->adapter_w[j] = dp_train_params_adapter_w(&t->params, j)->value;
        in->adapter_b[j] = dp_train_params_adapter_b(&t->params, j)->value;
    }
    return dp_train_head_forward(t->head, in, loss, err);
}

/* Forward, backward into the grads of `groups`, Adam. The towers take the updated values at
 * the next forward (dp_vision_set_visual_tokens, dp_text_set_prompts in forward()). */
static dp_status step(dp_trainer *t, int groups, const float *pre, const uint8_t *gt_bin,
                      const uint8_t *gt_multi, const int *labels, int batch, dp_train_loss *loss,
                      dp_err *err)
{
    dp_train_head_in in;
    dp_status st = forward(t, pre, batch, gt_bin, gt_multi, labels, &in, loss, err);
    if (st)
        return st;
    dp_train_params_zero_grads(&t->params);
    float *dw[DP_FEATURE_LAYERS], *db[DP_FEATURE_LAYERS];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        dw[j] = groups & DP_GROUP_ADAPTERS ? dp_train_params_adapter_w(&t->params, j)->grad : NULL;
        db[j] = groups & DP_GROUP_ADAPTERS ? dp_train_params_adapter_b(&t->params, j)->grad : NULL;
    }
    if ((st = dp_train_head_backward(t->head, &in, dw, db, err)))
        return st;
    if (groups & DP_GROUP_VISUAL) {
        const float *df[DP_FEATURE_LAYERS];
        for (int j = 0; j < DP_FEATURE_LAYERS; j++)
            df[j] = dp_train_head_d_features(t->head, j);
        if ((st = dp_vision_grad_backward(t->vgrad, df, dp_train_head_d_global(t->head),
                                          t->visual->grad, err)))
            return st;
    }
    if (groups & DP_GROUP_TEXT) {
        const size_t per = (size_t)DP_TEXT_PROMPTS * t->cfg.text_width;
        memset(t->d_layer_tokens, 0, (size_t)t->cfg.text_layers * per * sizeof(float));
        if ((st = dp_text_grad_backward(t->tgrad, dp_train_head_d_text(t->head),
                                        dp_train_head_d_abnormal(t->head), t->normal->grad,
                                        t->abnormal->grad, t->d_layer_tokens, err)))
            return st;
        for (int k = 0; k < t->cfg.text_layers; k++)
            memcpy(t->layer[k]->grad, t->d_layer_tokens + k * per, per * sizeof(float));
    }
    for (int i = 0; i < t->params.n; i++)
        t->grads[i] = t->params.t[i].group & groups ? t->params.t[i].grad : NULL;
    dp_adam_step(t->adam, t->values, t->grads);
    return DP_OK;
}

dp_status dp_trainer_step(dp_trainer *t, int groups, const float *pre, const uint8_t *gt_bin,
                          const uint8_t *gt_multi, const int *labels, int batch,
                          dp_train_loss *loss, dp_err *err)
{
    dp_status st = dp_trainer_check_groups(groups, err);
    if (st)
        return st;
    int saved = omp_get_max_threads();
    omp_set_num_threads(t->o.threads);
    st = step(t, groups, pre, gt_bin, gt_multi, labels, batch, loss, err);
    omp_set_num_threads(saved);
    return st;
}

dp_status dp_trainer_predict(dp_trainer *t, const float *pre, int batch, float *scores,
                             float *maps, dp_err *err)
{
    dp_train_head_in in;
    dp_train_loss loss;
    /* the predictions do not depend on the ground truth: run the forward with none */
    int saved = omp_get_max_threads();
    omp_set_num_threads(t->o.threads);
    dp_status st = forward(t, pre, batch, t->zeros, t->zeros, t->zero_labels, &in, &loss, err);
    omp_set_num_threads(saved);
    if (st)
        return st;
    const float *logits = dp_train_head_image_logits(t->head);
    for (int b = 0; b < batch; b++) {
        double m = fmax(logits[2 * b], logits[2 * b + 1]);
        double e0 = exp(logits[2 * b] - m), e1 = exp(logits[2 * b + 1] - m);
        scores[b] = (float)(e1 / (e0 + e1));
    }
    if (!maps)
        return DP_OK;
    const int S = t->o.image_size, n = t->n_states;
    const size_t SS = (size_t)S * S;
    for (int b = 0; b < batch; b++) {
        float *map = maps + b * SS;
        memset(map, 0, SS * sizeof *map);
        for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
            dp_train_head_upsampled(t->head, j, b, t->scratch);
            for (int k = 1; k < n; k++)
                for (size_t i = 0; i < SS; i++)
                    map[i] += t->scratch[k * SS + i];
        }
    }
    return DP_OK;
}

dp_train_params *dp_trainer_params(dp_trainer *t) { return &t->params; }
dp_adam *dp_trainer_adam(dp_trainer *t) { return t->adam; }
int dp_trainer_image_size(const dp_trainer *t) { return t->o.image_size; }

void dp_trainer_state_bytes(const dp_trainer *t, size_t *vision, size_t *text)
{
    *vision = dp_vision_grad_peak_bytes(t->vgrad);
    *text = dp_text_grad_peak_bytes(t->tgrad);
}
