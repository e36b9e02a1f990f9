/* CLIP ViT image tower with DAPO's deep visual prompts and per-layer adapters. */
#ifndef DP_CLIP_VISION_H
#define DP_CLIP_VISION_H

#include "dp_cancel.h"
#include "nn.h"
#include "weight_source.h"

typedef struct dp_vision dp_vision;
typedef struct dp_vision_state dp_vision_state;

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

/* Creates the primitives of every batch size 1..max_batch on state s's op context (NULL: the
 * tower's own), without running the tower: a run at max_batch creates only those of its own row
 * count, and a tiled image's last batch, or a whole image, may be smaller. The patch embedding
 * and the adapters run per image and need nothing more. */
dp_status dp_vision_prepare_batches(dp_vision *v, dp_vision_state *s, dp_err *err);

/* ---- tile workers: concurrent forward passes ----------------------------------------------
 * A state is what one forward pass works in (activations, attention workspace, outputs). Each
 * worker thread runs whole batches through the tower on its own state and its own one-thread
 * op context (a lane, nn.h), sharing the tower's weights and primitives, so several workers
 * run at once. share_acts: the state borrows the tower's own activation buffers (worker 0;
 * dp_vision_run must not be called while it runs). v, lane: borrowed, must outlive the state;
 * *out: caller-owned (dp_vision_state_free). */
dp_status dp_vision_state_create(dp_vision *v, dp_nn *lane, int share_acts, dp_vision_state **out,
                                 dp_err *err);
void dp_vision_state_free(dp_vision_state *s);
/* dp_vision_run on state s: every op on the state's context. Runs concurrently with other
 * states of the same tower. pre, cancel: borrowed (cancel may be NULL). No taps recorded. */
dp_status dp_vision_run_state(const dp_vision *v, dp_vision_state *s, const float *pre, int batch,
                              const dp_cancel *cancel, dp_err *err);
/* The state's outputs, as dp_vision_adapted / dp_vision_global; borrowed. */
const float *dp_vision_state_adapted(const dp_vision *v, const dp_vision_state *s, int j, int b);
const float *dp_vision_state_global(const dp_vision *v, const dp_vision_state *s, int b);
/* Bytes the state holds of its own (activations unless shared, attention workspace). */
size_t dp_vision_state_bytes(const dp_vision *v, const dp_vision_state *s);

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
