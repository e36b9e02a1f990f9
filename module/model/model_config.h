/* Architecture of a CLIP model, read from tensor shapes (heads from metadata or head width 64). */
#ifndef DP_MODEL_CONFIG_H
#define DP_MODEL_CONFIG_H

typedef struct dp_model_config {
    int vision_width;    /* Wv: 1024 for ViT-L/14 */
    int vision_layers;   /* 24 */
    int vision_heads;    /* Wv / head width */
    int patch_size;      /* 14 */
    int native_grid;     /* n: the stored positional table has 1 + n*n rows */
    int text_width;      /* Wt */
    int text_layers;
    int text_heads;
    int context_length;  /* 77 */
    int vocab_size;      /* 49408 */
    int embed_dim;       /* E: width of the joint embedding */
} dp_model_config;

/* DAPO constants fixed by the reference implementation. */
enum {
    DP_VISUAL_PROMPTS = 4,    /* visual prompt rows inserted after CLS */
    DP_TEXT_PROMPTS = 4,      /* deep text prompt rows inserted after SOT */
    DP_CONTEXT_TOKENS = 5,    /* learnable "X" context vectors per prompt */
    DP_ENSEMBLE = 10,         /* prompt variants per state */
    DP_FEATURE_LAYERS = 4     /* adapters / tapped blocks */
};

/* Progress of a long step, for whoever runs it (the tool forwards it to the host): `done` of
 * `total` units so far. Called on the calling thread between units; ctx is passed back. */
typedef void (*dp_progress_fn)(void *ctx, int done, int total);

/* The anomaly map is a sum over the tapped layers of P(defect): its range is 0..this. */
#define DP_ANOMALY_MAP_MAX ((float)DP_FEATURE_LAYERS)

/* LayerNorm epsilon of every CLIP layer norm. */
#define DP_LAYERNORM_EPS 1e-5f

/* Deep prompts (both towers): before every block after the first, the prompt rows become
 * DP_PROMPT_KEEP * (previous block's output) + (1 - DP_PROMPT_KEEP) * (learned prompt). */
#define DP_PROMPT_KEEP 0.01f

#endif
