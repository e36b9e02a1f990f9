/* The DAPO head (tests/golden/README.md §6-7): image score from the global embedding, per-patch softmax over
 * [normal, defects] per tapped layer, and the maps upsampled bilinearly (align_corners=True). */
#ifndef DP_DAPO_HEAD_H
#define DP_DAPO_HEAD_H

#include <stdint.h>

#include "clip_text.h"

#define DP_TEMPERATURE 0.07f

/* global: [E] (borrowed); tf->n_states <= DP_MAX_STATES (dp_text_encode guarantees it). logits = [g.t_normal, g.t_abn] / 0.07 with g normalised;
 * *score = softmax(logits)[1]; *score_multi = sum over defects of the softmax over all states;
 * type_scores (n_states-1 floats or NULL) = those per-defect softmax terms. */
void dp_head_image(const float *global, const dp_text_features *tf, float logits[2], float *score,
                   float *score_multi, float *type_scores);

/* adapted: [n_patches][E] of one layer; probs: [n_patches][n_states] (caller-owned). */
void dp_head_patch_probs(const float *adapted, int n_patches, const dp_text_features *tf,
                         float *probs, int threads);

/* grid_sum: [G*G][n_states], per-state probabilities summed over the layers.
 * Writes at out_w x out_h (any of the outputs may be NULL):
 *   anomaly[y][x] = sum over defect states of the upsampled channels (0..DP_ANOMALY_MAP_MAX),
 *   label[y][x]   = argmax over all states (0 = normal), first maximum wins (the reference's
 *                   class label),
 *   defect_type[y][x] = argmax over the defect states 1..n_states-1, first maximum wins (the
 *                   type of a pixel that a threshold has already declared defective),
 *   volume[k][y][x] = upsampled channel k.
 * Each state channel is upsampled separately, as the reference does. */
void dp_head_maps(const float *grid_sum, int grid, int n_states, int out_w, int out_h,
                  float *anomaly, uint16_t *label, uint16_t *defect_type, float *volume,
                  int threads);

#endif
