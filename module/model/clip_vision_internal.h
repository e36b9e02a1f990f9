/* The vision tower's state, shared by the files of the model layer that run it: clip_vision.c
 * (inference) and vision_grad.c (training forward and backward). */
#ifndef DP_CLIP_VISION_INTERNAL_H
#define DP_CLIP_VISION_INTERNAL_H

#include "clip_vision.h"
#include "model_config.h"
#include "transformer.h"

/* What one forward pass works in and writes: activations, the attention workspace, the
 * outputs. The tower has its own (dp_vision.own, on the tower's op context); each tile worker
 * has one on its one-thread lane (dp_vision_state_create), worker 0 sharing the tower's
 * activation buffers. */
struct dp_vision_state {
    dp_nn *nn;                    /* borrowed: the tower's context or a worker's lane */
    dp_attention *attn;           /* owned, on nn */
    int owns_acts;                /* 0: arena .. ln_row are borrowed from the tower's own */
    dp_block_arena arena;
    void *patch_rows;             /* [batch*G*G][3*P*P] compute type */
    float *adapted;               /* [4][batch][G*G][E] */
    float *global;                /* [batch][E] */
    float *ln_row;                /* [Wv] ln_post of one CLS row */
    double attn_seconds;          /* attention time of the last run */
};

struct dp_vision {
    dp_nn *nn;                    /* borrowed */
    dp_model_config cfg;
    dp_vision_options opt;
    int grid, patches, tokens;    /* G, G*G, 1 + 4 + G*G */
    dp_linear patch_embed;        /* conv1 as [Wv][3*P*P], no bias */
    float *cls_pos;               /* [1+G*G][Wv]: positions, class embedding added to row 0 */
    float *ln_pre_g, *ln_pre_b, *ln_post_g, *ln_post_b;
    float *proj;                  /* [Wv][E] */
    float *prompts;               /* [layers][4][Wv] */
    dp_block *blocks;             /* [layers] */
    dp_linear adapters[4];        /* f32: 2 % of the flops, keeps the maps close to f32 */
    dp_vision_state own;          /* dp_vision_run's */
    float *taps;                  /* [5][batch][1+G*G][Wv] or NULL (dp_vision_run only) */
};

/* [CLS; prompts; patches] rows of `batch` images into x[batch][tokens][Wv] before the first
 * block: patch embedding (patch_rows: [batch*G*G][3*P*P] staging of the compute type),
 * class embedding, positions, ln_pre; the prompt rows are left as they were. */
dp_status dp_vision_embed(dp_vision *v, const float *pre, int batch, void *patch_rows, float *x,
                          dp_err *err);
/* The same on the op context nn (borrowed): a worker's lane or the tower's. */
dp_status dp_vision_embed_on(const dp_vision *v, dp_nn *nn, const float *pre, int batch,
                             void *patch_rows, float *x, dp_err *err);
/* g[E] = ln_post(cls) @ proj; ln_row: [Wv] scratch. All caller-owned. */
void dp_vision_global_row(const dp_vision *v, const float *cls, float *ln_row, float *g);

#endif
