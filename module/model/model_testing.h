/* Test interface of the model layer: intermediate values and introspection that only the
 * parity tests, unit tests and benchmarks use. Production code never includes this header. */
#ifndef DP_MODEL_TESTING_H
#define DP_MODEL_TESTING_H

#include "clip_text.h"
#include "clip_vision.h"
#include "clip_weights.h"
#include "tokenizer.h"
#include "unicode_tables.h"

/* Id of one vocabulary entry, written in the byte alphabet of the merges file (e.g. "x</w>" ->
 * 343, "<start_of_text>" -> 49406), -1 if absent or an argument is NULL. For tests and
 * diagnostics. */
int dp_tokenizer_id(const dp_tokenizer *tok, const char *entry);

/* Unicode version the tables were generated from ("14.0.0"). Static string. */
const char *dp_uc_unicode_version(void);

/* [1+G*G][Wv] residual stream ([CLS; patches]) after block 1 (tap 0) or feature layer j
 * (tap 1+j), when record_taps was set; NULL otherwise. Borrowed. */
const float *dp_vision_tap(const dp_vision *v, int tap, int b);

/* 1 when the file uses Hugging Face CLIPModel names. */
int dp_clip_is_hf(const dp_clip_file *f);

/* Intermediate values for parity tests; every pointer caller-owned, sized as noted. */
typedef struct dp_text_debug {
    int32_t ids_normal[DP_TOK_CONTEXT], ids_defect0[DP_TOK_CONTEXT];
    float *defect0_member0_input;   /* [77][Wt]: embeddings with the context, before positions */
    float *defect0_member0_final;   /* [81][Wt]: after ln_final */
    float *defect0_members;         /* [10][E]: projected pooled rows of the first defect */
} dp_text_debug;

/* dp_text_encode that also fills dbg (every pointer in it caller-owned, may be NULL). */
dp_status dp_text_encode_debug(dp_text *t, const dp_tokenizer *tok, const char *const *defects,
                               int n_defects, dp_text_features *out, dp_text_debug *dbg,
                               dp_err *err);

#endif
