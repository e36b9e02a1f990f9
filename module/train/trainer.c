/* A training run: towers forward, head forward and backward, Adam. */
#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
/* Interim: the adapter inputs F_j are read from the inference tower's taps (dp_vision_tap)
 * until dp_vision_grad_features (module/model/vision_grad.h) lands; then this include goes. */
#include "model_testing.h"

struct dp_trainer {
    dp_trainer_options o;
    dp_model *model;              /* owned: frozen towers, text features of the states */
    dp_train_head *head;          /* owned */
    dp_train_params params;       /* owned */
    dp_adam *adam;                /* owned */
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
    if (groups & DP_GROUP_TEXT)
        return dp_fail(err, DP_E_UNSUPPORTED, "training the text prompts needs the text tower's "
                       "backward pass (dp_text_grad_backward, module/model/text_grad.h), which "
                       "this build does not have yet; train the adapters (groups: adapters)");
    if (groups & DP_GROUP_VISUAL)
        return dp_fail(err, DP_E_UNSUPPORTED, "training the visual prompts needs the vision "
                       "tower's backward pass (dp_vision_grad_backward, "
                       "module/model/vision_grad.h), which this build does not have yet; train "
                       "the adapters (groups: adapters)");
    return DP_OK;
}

dp_status dp_trainer_create(const dp_trainer_options *o, dp_trainer **out, dp_err *err)
{
    *out = NULL;
    if (!o || !o->clip_path || !o->dapo_path || !o->vocab_path || !o->defects ||
        o->n_defects < 1 || o->n_defects > DP_MAX_DEFECTS || o->batch < 1 || o->threads < 1)
        return dp_fail(err, DP_E_ARG, "trainer: missing model paths or defect states, or batch "
                       "/ threads < 1 (1..%d defect states)", DP_MAX_DEFECTS);
    dp_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the trainer");
    t->o = *o;
    dp_model_options mo = { .image_size = o->image_size, .max_batch = o->batch,
                            .precision = o->precision, .threads = o->threads,
                            .record_taps = 1 };
    dp_status st = dp_model_load(o->clip_path, o->dapo_path, o->vocab_path, o->defects,
                                 o->n_defects, &mo, &t->model, err);
    if (!st)
        st = dp_train_params_load(o->dapo_path, &t->model->cfg, &t->params, err);
    if (!st) {
        const dp_model_config *c = &t->model->cfg;
        t->grid = dp_vision_grid(t->model->vision);
        t->n_states = t->model->text.n_states;
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
        t->global = malloc((size_t)o->batch * t->model->cfg.embed_dim * sizeof *t->global);
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
    dp_model_free(t->model);
    dp_train_head_free(t->head);
    dp_train_params_free(&t->params);
    dp_adam_free(t->adam);
    free(t->values);
    free(t->grads);
    free(t->zeros);
    free(t->zero_labels);
    free(t->scratch);
    free(t->global);
    free(t);
}

/* Towers forward and the head's inputs for this batch. */
static dp_status forward(dp_trainer *t, const float *pre, int batch, const uint8_t *gt_bin,
                         const uint8_t *gt_multi, const int *labels, dp_train_head_in *in,
                         dp_train_loss *loss, dp_err *err)
{
    if (batch < 1 || batch > t->o.batch)
        return dp_fail(err, DP_E_ARG, "training batch of %d images; expected 1..%d", batch,
                       t->o.batch);
    dp_status st = dp_model_run(t->model, pre, batch, err);
    if (st)
        return st;
    const int Wv = t->model->cfg.vision_width, E = t->model->cfg.embed_dim;
    for (int j = 0; j < DP_FEATURE_LAYERS && !st; j++)
        for (int b = 0; b < batch && !st; b++)
            st = dp_train_head_set_features(t->head, j, b,
                                             dp_vision_tap(t->model->vision, 1 + j, b) + Wv, err);
    if (st)
        return st;
    float *global = t->global;
    for (int b = 0; b < batch; b++)
        memcpy(global + (size_t)b * E, dp_vision_global(t->model->vision, b), E * sizeof(float));
    memset(in, 0, sizeof *in);
    in->batch = batch;
    in->global = global;
    in->text = t->model->text.features;
    in->abnormal = t->model->text.abnormal;
    in->gt_bin = gt_bin;
    in->gt_multi = gt_multi;
    in->labels = labels;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        in->adapter_w[j] = dp_train_params_adapter_w(&t->params, j)->value;
        in->adapter_b[j] = dp_train_params_adapter_b(&t->params, j)->value;
    }
    return dp_train_head_forward(t->head, in, loss, err);
}

dp_status dp_trainer_step(dp_trainer *t, int groups, const float *pre, const uint8_t *gt_bin,
                          const uint8_t *gt_multi, const int *labels, int batch,
                          dp_train_loss *loss, dp_err *err)
{
    dp_status st = dp_trainer_check_groups(groups, err);
    if (st)
        return st;
    dp_train_head_in in;
    if ((st = forward(t, pre, batch, gt_bin, gt_multi, labels, &in, loss, err)))
        return st;
    dp_train_params_zero_grads(&t->params);
    float *dw[DP_FEATURE_LAYERS], *db[DP_FEATURE_LAYERS];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        dw[j] = groups & DP_GROUP_ADAPTERS ? dp_train_params_adapter_w(&t->params, j)->grad : NULL;
        db[j] = groups & DP_GROUP_ADAPTERS ? dp_train_params_adapter_b(&t->params, j)->grad : NULL;
    }
    if ((st = dp_train_head_backward(t->head, &in, dw, db, err)))
        return st;
    /* Where the tower backward passes plug in (trainops):
     *   visual: dp_vision_grad_backward(g, d_features = dp_train_head_d_features(head, 0..3),
     *           d_global = dp_train_head_d_global(head), the visual tokens' grad, err), then
     *           dp_vision_set_visual_tokens after the Adam step;
     *   text:   dp_text_grad_backward(g, dp_train_head_d_text(head),
     *           dp_train_head_d_abnormal(head), normal/abnormal/layer tokens' grads, err), then
     *           dp_text_set_prompts and dp_text_grad_forward for the next step.
     * dp_trainer_check_groups refuses those groups until then. */
    for (int i = 0; i < t->params.n; i++)
        t->grads[i] = t->params.t[i].group & groups ? t->params.t[i].grad : NULL;
    dp_adam_step(t->adam, t->values, t->grads);
    return DP_OK;
}

dp_status dp_trainer_predict(dp_trainer *t, const float *pre, int batch, float *scores,
                             float *maps, dp_err *err)
{
    dp_train_head_in in;
    dp_train_loss loss;
    /* the predictions do not depend on the ground truth: run the forward with none */
    dp_status st = forward(t, pre, batch, t->zeros, t->zeros, t->zero_labels, &in, &loss, err);
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
