/* The DAPO learnable tensors of a dapo.safetensors file, checked against the CLIP model. */
#ifndef DP_DAPO_WEIGHTS_H
#define DP_DAPO_WEIGHTS_H

#include "dp_error.h"
#include "model_config.h"

/* DAPO learnable tensors, all float32 copies owned by the struct (dp_dapo_free). */
typedef struct dp_dapo_params {
    int vision_depth;          /* first dim of learnable_visual_tokens (24) */
    float *visual_tokens;      /* [vision_depth][4][Wv] */
    float *normal_ctx;         /* [10][5][Wt] */
    float *abnormal_ctx;       /* [10][5][Wt] */
    int text_depth;            /* number of learnable_layer_tokens.k (12) */
    float *layer_tokens;       /* [text_depth][4][Wt] */
    float *adapter_w[DP_FEATURE_LAYERS];   /* [E][Wv] (y = x W^T + b) */
    float *adapter_b[DP_FEATURE_LAYERS];   /* [E] */
} dp_dapo_params;

/* Loads the dapo.safetensors at path (borrowed; meta_net.* ignored) and checks every shape
 * against cfg (borrowed): vision_depth must equal cfg->vision_layers, text_depth
 * cfg->text_layers. *out is filled only on success (zeroed on failure); free with
 * dp_dapo_free. */
dp_status dp_dapo_load(const char *path, const dp_model_config *cfg, dp_dapo_params *out,
                       dp_err *err);
/* Frees the arrays and zeroes *p; a zeroed struct or NULL is a no-op. */
void dp_dapo_free(dp_dapo_params *p);

#endif
