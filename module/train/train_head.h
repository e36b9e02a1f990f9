/* The DAPO head for training: everything downstream of the towers, forward and backward
 * (shared/golden/README.md "Training step" §2-3, shared/spec/dapo.md §7).
 *
 * Forward, per feature layer j and image b: Z = F_j W_j^T + b_j (f32, oneDNN sgemm), each patch
 * row normalised, per-patch softmax over the n states of (z . t_k) / DP_TEMPERATURE at grid
 * resolution, each channel upsampled bilinearly (align_corners=True) to S x S; per layer the
 * focal loss and the two dice terms; local = DP_LOSS_LOCAL_WEIGHT x their sum over the layers;
 * image cross-entropy on [g . t_normal, g . t_abn] / DP_TEMPERATURE; total = local + image_ce.
 * The upsampled maps are never stored: each pass walks them row by row.
 *
 * Backward: dL/dW_j, dL/db_j (accumulated into the caller's buffers), and the gradients the
 * tower backward passes take (held by the head, valid until the next forward):
 *   dL/dF_j [batch][G*G][Wv], dL/dg [batch][E] (g = the unnormalised global embedding),
 *   dL/dfeatures [n][E] (d/d the unit state rows), dL/dabnormal [E].
 *
 * Usage per step: dp_train_head_set_features (every j, b), dp_train_head_forward,
 * dp_train_head_backward. Buffers are sized at create; a step allocates nothing. */
#ifndef DP_TRAIN_HEAD_H
#define DP_TRAIN_HEAD_H

#include <stdint.h>

#include "dapo_head.h"
#include "model_config.h"

/* Loss constants of the reference (AnomalyCLIP's FocalLoss and BinaryDiceLoss, train.py). */
#define DP_FOCAL_SMOOTH 1e-5        /* one-hot clamp and the term added to p_t (f32 where used) */
#define DP_DICE_SMOOTH 1.0          /* added to the dice numerator and denominator */
#define DP_LOSS_LOCAL_WEIGHT 4.0f   /* weight of the per-layer focal + dice terms */
#define DP_LOSS_IMAGE_WEIGHT 1.0f   /* weight of the image cross-entropy */

typedef struct dp_train_head dp_train_head;

typedef struct dp_train_head_shape {
    int max_batch;       /* images per step */
    int grid;            /* G: patches per side */
    int image_size;      /* S: side of the upsampled maps and the ground truth */
    int vision_width;    /* Wv: adapter input width */
    int embed_dim;       /* E */
    int n_states;        /* states of the softmax (DP_TRAIN_STATES for the reference) */
    int threads;         /* OpenMP team size */
} dp_train_head_shape;

/* One layer's loss terms and the totals (double: what the step accumulated). */
typedef struct dp_train_loss {
    double focal[DP_FEATURE_LAYERS], dice_normal[DP_FEATURE_LAYERS],
        dice_anomaly[DP_FEATURE_LAYERS];
    double local_unweighted, local, image_ce, total;
} dp_train_loss;

/* Per-step inputs other than the features. Every pointer borrowed and read during forward and
 * backward (keep them alive and unchanged in between). */
typedef struct dp_train_head_in {
    int batch;                               /* 1..max_batch */
    const float *adapter_w[DP_FEATURE_LAYERS];   /* [E][Wv] */
    const float *adapter_b[DP_FEATURE_LAYERS];   /* [E] */
    const float *global;                     /* [batch][E] unnormalised global embeddings */
    const float *text;                       /* [n_states][E] unit state rows (row 0 normal) */
    const float *abnormal;                   /* [E] t_abn */
    const uint8_t *gt_bin;                   /* [batch][S][S] 0/1 */
    const uint8_t *gt_multi;                 /* [batch][S][S] class ids 0..n_states-1 */
    const int *labels;                       /* [batch] image labels 0/1 */
} dp_train_head_in;

/* *out: caller-owned (dp_train_head_free). Checks the shape (positive, n_states <=
 * DP_MAX_STATES) and allocates every buffer. */
dp_status dp_train_head_create(const dp_train_head_shape *shape, dp_train_head **out,
                               dp_err *err);
void dp_train_head_free(dp_train_head *h);

/* Copies F_j of image b ([G*G][Wv], borrowed) into the head. */
dp_status dp_train_head_set_features(dp_train_head *h, int j, int b, const float *features,
                                     dp_err *err);

/* Forward and loss. in: borrowed (see dp_train_head_in); *loss written. */
dp_status dp_train_head_forward(dp_train_head *h, const dp_train_head_in *in,
                                dp_train_loss *loss, dp_err *err);

/* Backward of the last forward (same in). d_adapter_w[j] ([E][Wv]) and d_adapter_b[j] ([E])
 * are accumulated (+=); a NULL entry skips that gradient (adapters not trained; dF_j is still
 * computed). */
dp_status dp_train_head_backward(dp_train_head *h, const dp_train_head_in *in,
                                 float *const d_adapter_w[DP_FEATURE_LAYERS],
                                 float *const d_adapter_b[DP_FEATURE_LAYERS], dp_err *err);

/* Results of the last forward / backward; borrowed from the head, valid until the next
 * forward. */
const float *dp_train_head_probs(const dp_train_head *h, int j);        /* [batch][G*G][n] */
const float *dp_train_head_image_logits(const dp_train_head *h);        /* [batch][2] */
const float *dp_train_head_d_features(const dp_train_head *h, int j);   /* [batch][G*G][Wv] */
const float *dp_train_head_d_global(const dp_train_head *h);            /* [batch][E] */
const float *dp_train_head_d_text(const dp_train_head *h);              /* [n][E] */
const float *dp_train_head_d_abnormal(const dp_train_head *h);          /* [E] */

/* Layer j's upsampled probabilities of image b, [n][S][S] into out (caller-owned): the
 * tensor its loss terms see (tests; the step itself never stores it). */
void dp_train_head_upsampled(const dp_train_head *h, int j, int b, float *out);

#endif
