/* The text tower's state, shared by the files of the model layer that run it: clip_text.c
 * (inference) and text_grad.c (training forward and backward). */
#ifndef DP_CLIP_TEXT_INTERNAL_H
#define DP_CLIP_TEXT_INTERNAL_H

#include "clip_text.h"
#include "model_config.h"
#include "transformer.h"

struct dp_text {
    dp_nn *nn;                     /* borrowed */
    dp_model_config cfg;
    dp_dtype_c dt;
    int chunk, rows_per_seq;       /* sequences per pass, 81 */
    float *token_embedding;        /* [vocab][Wt] */
    float *positions;              /* [ctx][Wt] */
    float *ln_final_g, *ln_final_b;
    float *projection;             /* [Wt][E] */
    float *normal_ctx, *abnormal_ctx, *layer_tokens;
    dp_block *blocks;
    dp_attention *attn;
    dp_block_arena arena;
    float *row;                    /* [Wt] one ln_final row */
    float *pooled;                 /* [E] its projection */
    dp_progress_fn progress;       /* optional, per chunk of sequences */
    void *progress_ctx;
};

#endif
