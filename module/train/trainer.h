/* One training run's machinery: the frozen towers in f32 with their training forward and
 * backward (module/model/vision_grad.h, text_grad.h), the training head, the trained tensors and
 * Adam. Every group (text prompts, visual prompts, adapters) can be trained, together or in
 * stages; a step allocates nothing. */
#ifndef DP_TRAINER_H
#define DP_TRAINER_H

#include <stdint.h>

#include "adam.h"
#include "nn.h"
#include "train_head.h"
#include "train_params.h"

typedef struct dp_trainer dp_trainer;

typedef struct dp_trainer_options {
    const char *clip_path, *vocab_path;   /* borrowed */
    const char *dapo_path;        /* borrowed: the starting weights; NULL = fresh tensors drawn
                                     as the reference initialises them (train_init.h) */
    uint64_t init_seed;           /* the draws of a fresh start */
    const char *const *defects;   /* states 1..n_defects (borrowed); state 0 is normal */
    int n_defects;
    int image_size;               /* S */
    int batch;                    /* images per step */
    int threads;
    dp_dtype_c precision;         /* must be DP_C_F32: the tower backward passes are f32 only
                                     (anything else is refused, saying so) */
    dp_adam_config adam;
} dp_trainer_options;

/* Loads everything (o borrowed). *out caller-owned (dp_trainer_free). */
dp_status dp_trainer_create(const dp_trainer_options *o, dp_trainer **out, dp_err *err);
void dp_trainer_free(dp_trainer *t);

/* DP_OK when `groups` is a non-empty set of DP_GROUP_*; DP_E_ARG otherwise. */
dp_status dp_trainer_check_groups(int groups, dp_err *err);

/* One optimisation step on a batch: pre [batch][3][S][S] normalised images, gt_bin / gt_multi
 * [batch][S][S], labels [batch] (all borrowed). Only the tensors of `groups` get gradients and
 * Adam updates (the others keep no optimiser state, as PyTorch). *loss: the step's loss (before
 * the update). */
dp_status dp_trainer_step(dp_trainer *t, int groups, const float *pre, const uint8_t *gt_bin,
                          const uint8_t *gt_multi, const int *labels, int batch,
                          dp_train_loss *loss, dp_err *err);

/* Inference with the current tensors, as the plugin computes it (binary image score, anomaly
 * map = sum over layers of the upsampled defect probabilities): scores [batch], maps
 * [batch][S][S] (caller-owned; maps may be NULL). */
dp_status dp_trainer_predict(dp_trainer *t, const float *pre, int batch, float *scores,
                             float *maps, dp_err *err);

/* Borrowed views. */
dp_train_params *dp_trainer_params(dp_trainer *t);
dp_adam *dp_trainer_adam(dp_trainer *t);
int dp_trainer_image_size(const dp_trainer *t);
/* Bytes the towers' training state holds (activations with per-block checkpoints, the block
 * being recomputed, the backward's buffers): the vision and the text side, each at its peak. */
void dp_trainer_state_bytes(const dp_trainer *t, size_t *vision, size_t *text);

#endif
