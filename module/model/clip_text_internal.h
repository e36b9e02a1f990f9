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

/* Tokenises the prompt of every state into ids[1+n_defects][context] and the pooled row
 * index pool[1+n_defects] (caller-owned); checks the five placeholders landed on rows 1..5. */
dp_status dp_text_tokenize_states(const dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                                  int n_defects, int32_t *ids, int *pool, dp_err *err);
/* The 81 input rows of (state, member) into x[81][Wt] (caller-owned): embeddings with the
 * context vectors, positions, the first block's deep prompts; input_capture (may be NULL)
 * receives the embeddings before positions. */
void dp_text_fill_sequence(const dp_text *t, const int32_t *ids, int state, int member, float *x,
                           float *input_capture);
/* From out->unnormalized holding each state's SUM over the ensemble: the means, the unit
 * features and the normalised abnormal mean (out->abnormal zeroed by the caller). */
void dp_text_finish_features(dp_text_features *out, int n_defects);

#endif
