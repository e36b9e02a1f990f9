/* CLIP text tower with DAPO's hybrid prompts and deep text prompts: encodes the normal state
 * and each defect name once; the result is cached by the caller (it does not depend on the
 * image). */
#ifndef DP_CLIP_TEXT_H
#define DP_CLIP_TEXT_H

#include <stdint.h>

#include "dp_limits.h"
#include "nn.h"
#include "tokenizer.h"
#include "weight_source.h"

typedef struct dp_text dp_text;

/* Normalised state embeddings: row 0 = normal ("flawless object"), rows 1..D = defects. */
typedef struct dp_text_features {
    int n_states;          /* 1 + D */
    int dim;               /* E */
    float *features;       /* [n_states][E], unit rows, owned */
    float *abnormal;       /* [E] normalise(mean of the defect rows), owned */
    float *unnormalized;   /* [n_states][E] ensemble means before normalisation, owned */
    int *pool_index;       /* [n_states] row read out of the 81-row sequence, owned */
} dp_text_features;

void dp_text_features_free(dp_text_features *tf);

/* normal_ctx, abnormal_ctx: [10][5][Wt]; layer_tokens: [text_layers][4][Wt]; all borrowed.
 * chunk: sequences per forward pass (bounds the activation memory). nn borrowed. */
dp_status dp_text_build(dp_nn *nn, const dp_weight_source *src, dp_dtype_c dt, int chunk,
                        const float *normal_ctx, const float *abnormal_ctx,
                        const float *layer_tokens, dp_text **out, dp_err *err);
void dp_text_free(dp_text *t);
/* Reports each encoded chunk of sequences (done of all 10 x (1 + D)); fn NULL = none. */
void dp_text_set_progress(dp_text *t, dp_progress_fn fn, void *ctx);

/* defects: n_defects UTF-8 names (borrowed). out: filled, owned by the caller. */
dp_status dp_text_encode(dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                         int n_defects, dp_text_features *out, dp_err *err);

#endif
