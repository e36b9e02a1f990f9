/* The DAPO tensors being trained: every tensor of a dapo.safetensors file in its order, each
 * with its training group and a gradient buffer. Tensors outside the groups (meta_net) are kept
 * and written back unchanged; they get no gradient and no optimiser state. */
#ifndef DP_TRAIN_PARAMS_H
#define DP_TRAIN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"
#include "model_config.h"

enum {
    DP_GROUP_VISUAL = 1,     /* visual_prompt.learnable_visual_tokens */
    DP_GROUP_TEXT = 2,       /* prompt_learner.learnable_{normal,abnormal,layer}_tokens* */
    DP_GROUP_ADAPTERS = 4,   /* linear_adapter.fc.* */
    DP_GROUP_ALL = 7
};

typedef struct dp_train_tensor {
    char *name;              /* owned */
    int ndim;
    int64_t shape[3];
    size_t count;
    float *value;            /* owned */
    float *grad;             /* owned, [count]; NULL for tensors outside the groups */
    int group;               /* DP_GROUP_*, 0 = passed through */
} dp_train_tensor;

typedef struct dp_train_params {
    int n;
    dp_train_tensor *t;      /* owned, [n] */
} dp_train_params;

/* Reads the DAPO file at path (borrowed), checks it against cfg as the plugin's loader does
 * (dp_dapo_load) and keeps every tensor. *out zeroed on failure; free with
 * dp_train_params_free. */
dp_status dp_train_params_load(const char *path, const dp_model_config *cfg,
                               dp_train_params *out, dp_err *err);
void dp_train_params_free(dp_train_params *p);

/* Tensor by name (borrowed; NULL if absent) and its index (-1). */
dp_train_tensor *dp_train_params_find(const dp_train_params *p, const char *name);
int dp_train_params_index(const dp_train_params *p, const char *name);

/* Adapter j's weight [E][Wv] and bias [E] tensors (borrowed). */
dp_train_tensor *dp_train_params_adapter_w(const dp_train_params *p, int j);
dp_train_tensor *dp_train_params_adapter_b(const dp_train_params *p, int j);

void dp_train_params_zero_grads(dp_train_params *p);

/* Writes every tensor (values) as a dapo.safetensors file the plugin loads. meta: key/value
 * pairs as dp_st_write_f32 takes them. */
dp_status dp_train_params_save(const dp_train_params *p, const char *path,
                               const char *const *meta, int n_meta, dp_err *err);

#endif
