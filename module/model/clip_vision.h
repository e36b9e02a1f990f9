/* CLIP ViT image tower with DAPO's deep visual prompts and per-layer adapters. */
#ifndef DP_CLIP_VISION_H
#define DP_CLIP_VISION_H

#include "dp_cancel.h"
#include "nn.h"
#include "weight_source.h"

typedef struct dp_vision dp_vision;

typedef struct dp_vision_options {
    int image_size;            /* S: multiple of the patch size */
    int max_batch;             /* images per forward pass */
    dp_dtype_c dt;             /* compute type of the matmuls (adapters always run in f32;
                                  int8: the block linears only, everything else f32) */
    int feature_layers[4];     /* 1-based blocks tapped for the adapters (6, 12, 18, 24) */
    int record_taps;           /* keep f32 copies of [CLS; patches] after block 1 and the
                                  feature layers (parity tests) */
} dp_vision_options;

/* visual_tokens: [layers][4][Wv]; adapter_w[j]: [E][Wv]; adapter_b[j]: [E]; all borrowed
 * (copied/reordered during the call). nn: borrowed, must outlive the tower. */
dp_status dp_vision_build(dp_nn *nn, const dp_weight_source *src, const dp_vision_options *opt,
                          const float *visual_tokens, float *const adapter_w[4],
                          float *const adapter_b[4], dp_vision **out, dp_err *err);
void dp_vision_free(dp_vision *v);

/* pre: [batch][3][S][S] normalised pixels (borrowed). Results stay in the tower until the next
 * run. cancel (borrowed, may be NULL) is checked before every transformer block: DP_E_CANCELLED
 * then, and the tower's results are undefined. */
dp_status dp_vision_run(dp_vision *v, const float *pre, int batch, const dp_cancel *cancel,
                        dp_err *err);

int dp_vision_grid(const dp_vision *v);
/* [G*G][E] adapted patch features of image b for feature layer j (0..3); borrowed. */
const float *dp_vision_adapted(const dp_vision *v, int j, int b);
/* [E] global embedding of image b (ln_post(CLS) @ proj, not normalised); borrowed. */
const float *dp_vision_global(const dp_vision *v, int b);
/* Bytes held by weights and activation buffers. */
size_t dp_vision_weight_bytes(const dp_vision *v);
size_t dp_vision_arena_bytes(const dp_vision *v);
/* Seconds spent in attention during the last run (benchmarks). */
double dp_vision_attention_seconds(const dp_vision *v);

#endif
