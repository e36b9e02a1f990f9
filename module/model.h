/* A loaded DAPO model: vision tower ready to run, text features of one defect list cached.
 * All expensive and failure-prone work happens in dp_model_load; dp_model_run allocates
 * nothing. One dp_model runs one image batch at a time. */
#ifndef DP_MODEL_H
#define DP_MODEL_H

#include "clip_text.h"
#include "clip_vision.h"
#include "dapo_head.h"

typedef struct dp_model_options {
    int image_size;            /* S, multiple of the patch size */
    int max_batch;             /* images per vision pass */
    dp_dtype_c precision;      /* DP_C_BF16 falls back to f32 on CPUs without bf16 */
    int threads;               /* OpenMP team size, >= 1 */
    int record_taps;           /* keep residual-stream taps (parity tests) */
    int text_chunk;            /* text sequences per pass; 0 = 40 */
} dp_model_options;

typedef struct dp_model {
    dp_nn *nn;                 /* owned */
    dp_model_config cfg;
    dp_model_options opt;      /* precision as actually used */
    int bf16_fallback;         /* bf16 was asked for but the CPU lacks it */
    dp_vision *vision;         /* owned */
    dp_text_features text;     /* owned; cached for the recipe's defect list */
    double load_seconds, text_seconds;
} dp_model;

/* clip_path, dapo_path, vocab_path, defects: borrowed. */
dp_status dp_model_load(const char *clip_path, const char *dapo_path, const char *vocab_path,
                        const char *const *defects, int n_defects, const dp_model_options *opt,
                        dp_model **out, dp_err *err);
void dp_model_free(dp_model *m);

/* pre: [batch][3][S][S] normalised images (borrowed). */
dp_status dp_model_run(dp_model *m, const float *pre, int batch, dp_err *err);

/* Weight source reading an opened dp_clip_file (ctx). */
struct dp_clip_file;
dp_weight_source dp_clip_weight_source(struct dp_clip_file *f);

#endif
