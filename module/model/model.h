/* A loaded DAPO model: vision tower ready to run, text features of one defect list cached.
 * All expensive and failure-prone work happens in dp_model_load; dp_model_run and
 * dp_model_head allocate nothing. One dp_model runs one image batch at a time.
 *
 * This is the one path from preprocessed images to scores and maps: the plugin, the parity
 * tests and the benchmark all call dp_model_run, then dp_model_head per image. */
#ifndef DP_MODEL_H
#define DP_MODEL_H

#include "clip_text.h"
#include "clip_vision.h"
#include "dapo_head.h"

typedef struct dp_model_options {
    int image_size;            /* S, multiple of the patch size */
    int max_batch;             /* images per vision pass */
    dp_dtype_c precision;      /* DP_C_BF16 falls back to f32 on CPUs without bf16; DP_C_INT8:
                                  the vision tower's block linears in int8, the text tower in
                                  bf16 where native, else f32 */
    int threads;               /* OpenMP team size, >= 1 */
    int record_taps;           /* keep residual-stream taps (parity tests) */
    int text_chunk;            /* text sequences per pass; 0 = 40 */
    dp_progress_fn progress;   /* optional: text prompts encoded so far, during dp_model_load */
    void *progress_ctx;
    const char *text_cache_dir;   /* borrowed, NULL = no text cache (text_cache.h) */
    const char *version;          /* borrowed, the plugin version for the cache key */
    int tile_workers;          /* 0 or 1: none; n >= 2: n tile workers (dp_model_run_worker),
                                  built and warmed up at load */
} dp_model_options;

/* One tile worker: a forward-pass state on its own one-thread op context, and head scratch. */
typedef struct dp_model_worker {
    dp_vision_state *vision;   /* owned; worker 0 shares the tower's activation buffers */
    float *head_probs;         /* [G*G][n_states], owned */
    float *head_grid_sum;      /* [G*G][n_states], owned */
} dp_model_worker;

/* Where the model's text features came from (dp_model.text_cache_note says more). */
typedef enum dp_text_origin {
    DP_TEXT_ENCODED = 0,       /* no cache directory: encoded */
    DP_TEXT_FROM_CACHE,        /* read from a valid cache file */
    DP_TEXT_CACHE_STORED,      /* no cache file yet: encoded and stored */
    DP_TEXT_CACHE_REPLACED,    /* a cache file was not trusted: encoded and stored over it */
    DP_TEXT_CACHE_UNUSABLE     /* encoded; the cache could not be used (note says why) */
} dp_text_origin;

typedef struct dp_model {
    dp_nn *nn;                 /* owned */
    dp_model_config cfg;
    dp_model_options opt;      /* precision as actually used */
    int bf16_fallback;         /* bf16 was asked for but the CPU lacks it */
    dp_vision *vision;         /* owned */
    dp_text_features text;     /* owned; cached for the recipe's defect list */
    float *head_probs;         /* [G*G][n_states] one layer's probabilities, owned */
    float *head_grid_sum;      /* [G*G][n_states] summed over the layers, owned */
    dp_nn_lanes *lanes;        /* owned; NULL without tile workers */
    int n_workers;             /* opt.tile_workers when >= 2, else 0 */
    dp_model_worker *workers;  /* [n_workers], owned */
    double load_seconds, text_seconds;
    dp_text_origin text_origin;
    char text_cache_note[640];  /* one line for the host's log: the file, and why not used */
} dp_model;

/* What dp_model_head writes for one image. Every pointer is caller-owned and optional (NULL:
 * not wanted); the scalars are always written. */
typedef struct dp_head_out {
    float *anomaly;            /* [out_h][out_w]: sum over defect states, 0..DP_ANOMALY_MAP_MAX */
    uint16_t *defect_type;     /* [out_h][out_w]: most likely defect state (1..D) of the pixel */
    uint16_t *label;           /* [out_h][out_w]: most likely state, 0 = normal (reference) */
    float *volume;             /* [n_states][out_h][out_w]: each state's upsampled map */
    float *layer_probs[DP_FEATURE_LAYERS];  /* [G*G][n_states]: per tapped layer */
    float *class_scores;       /* [n_states]: [0] = 1 - sum of the defect terms, [k] = P(k) */
    float logits[2];           /* [normal, abnormal] image logits */
    float score;               /* softmax(logits)[1]: the image score */
    float score_multi;         /* sum over defects of the softmax over all states */
} dp_head_out;

/* The architecture read from a CLIP file's header alone (no weights converted): lets a caller
 * check settings such as the input size against the patch size before a load. path: borrowed;
 * *out filled on success. */
dp_status dp_model_peek_config(const char *clip_path, dp_model_config *out, dp_err *err);

/* clip_path, dapo_path, vocab_path, defects: borrowed. */
dp_status dp_model_load(const char *clip_path, const char *dapo_path, const char *vocab_path,
                        const char *const *defects, int n_defects, const dp_model_options *opt,
                        dp_model **out, dp_err *err);
void dp_model_free(dp_model *m);

/* Wraps parts built elsewhere (benchmarks with in-memory weights) into a model. Takes
 * ownership of nn, vision and *text (which is zeroed) even on failure; opt: borrowed.
 * *out: caller-owned (dp_model_free), NULL on failure. */
dp_status dp_model_assemble(dp_nn *nn, dp_vision *vision, dp_text_features *text,
                            const dp_model_options *opt, dp_model **out, dp_err *err);

/* pre: [batch][3][S][S] normalised images (borrowed). */
dp_status dp_model_run(dp_model *m, const float *pre, int batch, dp_err *err);
/* The same, stopping with DP_E_CANCELLED before a transformer block when cancel (borrowed,
 * may be NULL) says so; the last run's results are then undefined. */
dp_status dp_model_run_cancellable(dp_model *m, const float *pre, int batch,
                                   const dp_cancel *cancel, dp_err *err);

/* The DAPO head for image b (0..batch-1) of the last dp_model_run: per-layer patch
 * probabilities, their sum, the image score, and maps at out_w x out_h (bilinear,
 * align_corners=True, each state separately). out: borrowed, filled as its comment says. */
dp_status dp_model_head(dp_model *m, int b, int out_w, int out_h, dp_head_out *out, dp_err *err);

/* ---- tile workers (opt.tile_workers >= 2) -------------------------------------------------
 * Worker w (0..n_workers-1) runs whole batches: dp_model_run_worker then dp_model_head_worker,
 * every op single-threaded on the calling thread, while the other workers run theirs on other
 * threads (one call per worker at a time; never at the same time as dp_model_run, whose
 * activation buffers worker 0 shares). Weights and linear primitives are shared; everything a
 * worker writes is its own. The results are those of dp_model_run / dp_model_head at one
 * thread (same primitives, same order of sums). pre, cancel, out: borrowed (out filled as
 * dp_model_head fills it; the tower's outputs stay in worker w until its next run). */
dp_status dp_model_run_worker(dp_model *m, int w, const float *pre, int batch,
                              const dp_cancel *cancel, dp_err *err);
dp_status dp_model_head_worker(dp_model *m, int w, int b, int out_w, int out_h, dp_head_out *out,
                               dp_err *err);
/* Bytes one extra worker costs (workers 1.., worker 0 shares the tower's activations): its
 * activations for a batch, attention workspace, oneDNN scratchpad, head scratch. 0 without
 * workers. */
size_t dp_model_worker_bytes(const dp_model *m);

/* Weight source reading an opened dp_clip_file (ctx). */
struct dp_clip_file;
dp_weight_source dp_clip_weight_source(struct dp_clip_file *f);

#endif
