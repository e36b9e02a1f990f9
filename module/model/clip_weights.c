/* CLIP checkpoints in either naming, mapped onto open_clip names and layout.
 * Nothing is converted at open (a ViT-L/14 is 1.7 GB of float32): open only checks names and
 * shapes, dp_clip_read converts one tensor at a time straight from the mapping. */
#include "clip_weights.h"
#include "model_testing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pos_embed_resize.h"
#include "safetensors.h"

/* Sanity bounds keep every size product below far from overflow. */
#define MAX_WIDTH 16384
#define MAX_LAYERS 1024
#define MAX_GRID 1024
#define MAX_PATCH 1024
#define MAX_VOCAB (1 << 22)
#define MAX_CONTEXT 65536
#define DEFAULT_HEAD_WIDTH 64   /* OpenAI ViT-B/32, B/16, L/14, L/14-336 */

struct dp_clip_file {
    dp_safetensors *st;   /* owned */
    int hf;
    dp_model_config cfg;
};

/* Symbolic dimensions of the open_clip shapes. */
typedef enum dim_sym { D_NONE, D_WV, D_WT, D_E, D_P, D_RGB, D_VPOS, D_CTX, D_VOCAB } dim_sym;

typedef struct global_name {
    const char *oc, *hf;
    int transpose;      /* HF stores it as [E, W] */
    int optional;
    int ndim;
    dim_sym dims[4];
} global_name;

static const global_name GLOBALS[] = {
    { "visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight", 0, 0, 4,
      { D_WV, D_RGB, D_P, D_P } },
    { "visual.class_embedding", "vision_model.embeddings.class_embedding", 0, 0, 1, { D_WV } },
    { "visual.positional_embedding", "vision_model.embeddings.position_embedding.weight", 0, 0, 2,
      { D_VPOS, D_WV } },
    { "visual.ln_pre.weight", "vision_model.pre_layrnorm.weight", 0, 0, 1, { D_WV } },
    { "visual.ln_pre.bias", "vision_model.pre_layrnorm.bias", 0, 0, 1, { D_WV } },
    { "visual.ln_post.weight", "vision_model.post_layernorm.weight", 0, 0, 1, { D_WV } },
    { "visual.ln_post.bias", "vision_model.post_layernorm.bias", 0, 0, 1, { D_WV } },
    { "visual.proj", "visual_projection.weight", 1, 0, 2, { D_WV, D_E } },
    { "token_embedding.weight", "text_model.embeddings.token_embedding.weight", 0, 0, 2,
      { D_VOCAB, D_WT } },
    { "positional_embedding", "text_model.embeddings.position_embedding.weight", 0, 0, 2,
      { D_CTX, D_WT } },
    { "ln_final.weight", "text_model.final_layer_norm.weight", 0, 0, 1, { D_WT } },
    { "ln_final.bias", "text_model.final_layer_norm.bias", 0, 0, 1, { D_WT } },
    { "text_projection", "text_projection.weight", 1, 0, 2, { D_WT, D_E } },
    { "logit_scale", "logit_scale", 0, 1, 0, { D_NONE } },
};
#define N_GLOBALS (sizeof GLOBALS / sizeof GLOBALS[0])

/* Per-block tensors; shapes are multiples of the tower width W (0 = dimension absent). */
typedef struct block_name {
    const char *oc, *hf;   /* hf for qkv: "self_attn.X" + hf with X = q, k, v */
    int qkv;
    int mul[2];
} block_name;

static const block_name BLOCK[] = {
    { "ln_1.weight", "layer_norm1.weight", 0, { 1, 0 } },
    { "ln_1.bias", "layer_norm1.bias", 0, { 1, 0 } },
    { "attn.in_proj_weight", "_proj.weight", 1, { 3, 1 } },
    { "attn.in_proj_bias", "_proj.bias", 1, { 3, 0 } },
    { "attn.out_proj.weight", "self_attn.out_proj.weight", 0, { 1, 1 } },
    { "attn.out_proj.bias", "self_attn.out_proj.bias", 0, { 1, 0 } },
    { "ln_2.weight", "layer_norm2.weight", 0, { 1, 0 } },
    { "ln_2.bias", "layer_norm2.bias", 0, { 1, 0 } },
    { "mlp.c_fc.weight", "mlp.fc1.weight", 0, { 4, 1 } },
    { "mlp.c_fc.bias", "mlp.fc1.bias", 0, { 4, 0 } },
    { "mlp.c_proj.weight", "mlp.fc2.weight", 0, { 1, 4 } },
    { "mlp.c_proj.bias", "mlp.fc2.bias", 0, { 1, 0 } },
};
#define N_BLOCK (sizeof BLOCK / sizeof BLOCK[0])

#define OC_VISION_BLOCKS "visual.transformer.resblocks."
#define OC_TEXT_BLOCKS "transformer.resblocks."
#define HF_VISION_BLOCKS "vision_model.encoder.layers."
#define HF_TEXT_BLOCKS "text_model.encoder.layers."

/* How one open_clip tensor is assembled from the file. */
typedef struct plan {
    int nparts;                       /* 1, or 3 for HF q/k/v */
    const dp_st_tensor *part[3];      /* borrowed from the file */
    int transpose;
    int ndim;
    int64_t shape[4];                 /* open_clip shape */
    size_t count;
} plan;

static int64_t dim_value(const dp_model_config *c, dim_sym d)
{
    switch (d) {
    case D_WV: return c->vision_width;
    case D_WT: return c->text_width;
    case D_E: return c->embed_dim;
    case D_P: return c->patch_size;
    case D_RGB: return 3;
    case D_VPOS: return 1 + (int64_t)c->native_grid * c->native_grid;
    case D_CTX: return c->context_length;
    case D_VOCAB: return c->vocab_size;
    case D_NONE: break;
    }
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Checks that t exists and has exactly the expected shape. `oc` is the open_clip name it is
 * used for (named in the message when the file uses other names). */
static dp_status check_part(const dp_clip_file *f, const char *name, const dp_st_tensor *t,
                            const int64_t *want, int ndim, const char *oc, dp_err *err)
{
    char also[300] = "";
    if (f->hf)
        snprintf(also, sizeof also, " (for open_clip '%s')", oc);
    if (!t)
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s' is missing%s", dp_st_path(f->st), name,
                       also);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char a[160], b[160];
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s'%s: shape %s, expected %s",
                       dp_st_path(f->st), name, also, dp_st_format_shape(a, sizeof a, t->shape, t->ndim),
                       dp_st_format_shape(b, sizeof b, want, ndim));
    }
    return DP_OK;
}

static dp_status unknown_name(const dp_clip_file *f, const char *oc, dp_err *err)
{
    return dp_fail(err, DP_E_ARG, "%s: tensor '%s' is not an open_clip CLIP tensor of this model "
                   "(%d vision / %d text blocks)", dp_st_path(f->st), oc, f->cfg.vision_layers,
                   f->cfg.text_layers);
}

/* Resolves oc_name into a plan, checking presence and shapes against f->cfg. */
static dp_status resolve(const dp_clip_file *f, const char *oc, plan *p, dp_err *err)
{
    memset(p, 0, sizeof *p);
    if (!oc)
        return dp_fail(err, DP_E_ARG, "%s: NULL tensor name", dp_st_path(f->st));
    for (size_t g = 0; g < N_GLOBALS; g++) {
        const global_name *gn = &GLOBALS[g];
        if (strcmp(oc, gn->oc) != 0)
            continue;
        const char *name = f->hf ? gn->hf : gn->oc;
        const dp_st_tensor *t = dp_st_find(f->st, name);
        p->nparts = 1;
        if (gn->optional) {   /* logit_scale: [] or [1] both occur */
            if (!t)
                return unknown_name(f, oc, err);
            p->part[0] = t;
            p->count = 1;
            if (t->count != 1)
                return dp_fail(err, DP_E_MODEL, "%s: tensor '%s' has %zu elements, expected 1",
                               dp_st_path(f->st), name, t->count);
            return DP_OK;
        }
        p->part[0] = t;
        p->transpose = f->hf && gn->transpose;
        p->ndim = gn->ndim;
        int64_t want[4];
        for (int i = 0; i < gn->ndim; i++)
            p->shape[i] = dim_value(&f->cfg, gn->dims[i]);
        for (int i = 0; i < gn->ndim; i++)
            want[i] = p->transpose ? p->shape[gn->ndim - 1 - i] : p->shape[i];
        p->count = 1;
        for (int i = 0; i < gn->ndim; i++)
            p->count *= (size_t)p->shape[i];
        return check_part(f, name, t, want, gn->ndim, oc, err);
    }

    int vision = starts_with(oc, OC_VISION_BLOCKS);
    if (!vision && !starts_with(oc, OC_TEXT_BLOCKS))
        return unknown_name(f, oc, err);
    const char *rest = oc + strlen(vision ? OC_VISION_BLOCKS : OC_TEXT_BLOCKS);
    int idx;
    size_t used = dp_st_parse_index(rest, '.', &idx);
    int layers = vision ? f->cfg.vision_layers : f->cfg.text_layers;
    if (!used || idx >= layers)
        return unknown_name(f, oc, err);
    rest += used;
    const block_name *bn = NULL;
    for (size_t i = 0; i < N_BLOCK && !bn; i++)
        if (strcmp(rest, BLOCK[i].oc) == 0)
            bn = &BLOCK[i];
    if (!bn)
        return unknown_name(f, oc, err);

    int64_t w = vision ? f->cfg.vision_width : f->cfg.text_width;
    p->ndim = bn->mul[1] ? 2 : 1;
    p->shape[0] = bn->mul[0] * w;
    p->shape[1] = bn->mul[1] * w;
    p->count = (size_t)p->shape[0] * (p->ndim == 2 ? (size_t)p->shape[1] : 1);
    if (!f->hf) {
        p->nparts = 1;
        p->part[0] = dp_st_find(f->st, oc);
        return check_part(f, oc, p->part[0], p->shape, p->ndim, oc, err);
    }
    char name[256];
    const char *pre = vision ? HF_VISION_BLOCKS : HF_TEXT_BLOCKS;
    if (!bn->qkv) {
        snprintf(name, sizeof name, "%s%d.%s", pre, idx, bn->hf);
        p->nparts = 1;
        p->part[0] = dp_st_find(f->st, name);
        return check_part(f, name, p->part[0], p->shape, p->ndim, oc, err);
    }
    int64_t want[2] = { w, w };
    p->nparts = 3;
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%s%d.self_attn.%c%s", pre, idx, "qkv"[k], bn->hf);
        p->part[k] = dp_st_find(f->st, name);
        dp_status s = check_part(f, name, p->part[k], want, p->ndim, oc, err);
        if (s)
            return s;
    }
    return DP_OK;
}

/* Number of blocks under prefix = 1 + the largest index present (gaps are caught later, when
 * every tensor of every block is required). */
static dp_status need(const dp_clip_file *f, const char *oc, int ndim, const dp_st_tensor **out,
                      dp_err *err)
{
    for (size_t g = 0; g < N_GLOBALS; g++) {
        if (strcmp(GLOBALS[g].oc, oc) != 0)
            continue;
        const char *name = f->hf ? GLOBALS[g].hf : oc;
        const dp_st_tensor *t = dp_st_find(f->st, name);
        if (!t)
            return dp_fail(err, DP_E_MODEL, "%s: tensor '%s' is missing", dp_st_path(f->st), name);
        if (t->ndim != ndim)
            return dp_fail(err, DP_E_MODEL, "%s: tensor '%s' has %d dimensions, expected %d",
                           dp_st_path(f->st), name, t->ndim, ndim);
        *out = t;
        return DP_OK;
    }
    return dp_fail(err, DP_E_INTERNAL, "clip_weights: no table entry for '%s'", oc);
}

static dp_status bounded(const dp_clip_file *f, const dp_st_tensor *t, int64_t v, int64_t lo,
                         int64_t hi, const char *what, dp_err *err)
{
    if (v < lo || v > hi)
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s': %s = %lld, expected %lld..%lld",
                       dp_st_path(f->st), t->name, what, (long long)v, (long long)lo,
                       (long long)hi);
    return DP_OK;
}

/* Architecture from the shapes (heads come later, from metadata). */
static dp_status derive_shapes(dp_clip_file *f, dp_err *err)
{
    dp_model_config *c = &f->cfg;
    const char *path = dp_st_path(f->st);
    const dp_st_tensor *t;
    dp_status s;

    if ((s = need(f, "visual.conv1.weight", 4, &t, err)))
        return s;
    if ((s = bounded(f, t, t->shape[0], 1, MAX_WIDTH, "vision width (dim 0)", err)) ||
        (s = bounded(f, t, t->shape[1], 3, 3, "input channels (dim 1)", err)) ||
        (s = bounded(f, t, t->shape[2], 1, MAX_PATCH, "patch size (dim 2)", err)) ||
        (s = bounded(f, t, t->shape[3], t->shape[2], t->shape[2], "patch width (dim 3, must equal "
                     "dim 2)", err)))
        return s;
    c->vision_width = (int)t->shape[0];
    c->patch_size = (int)t->shape[2];

    if ((s = need(f, "visual.positional_embedding", 2, &t, err)))
        return s;
    int64_t rows = t->shape[0], n = 0;
    while ((n + 1) * (n + 1) <= rows - 1 && n < MAX_GRID)
        n++;
    if (rows < 2 || n * n != rows - 1)
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s': %lld rows, expected 1 + n*n (CLS + a "
                       "square grid, n <= %d)", path, t->name, (long long)rows, MAX_GRID);
    c->native_grid = (int)n;

    c->vision_layers = dp_st_count_indexed(f->st, f->hf ? HF_VISION_BLOCKS : OC_VISION_BLOCKS, '.');
    if (c->vision_layers < 1 || c->vision_layers > MAX_LAYERS)
        return dp_fail(err, DP_E_MODEL, "%s: %d vision blocks ('%s<i>.*'), expected 1..%d", path,
                       c->vision_layers, f->hf ? HF_VISION_BLOCKS : OC_VISION_BLOCKS, MAX_LAYERS);

    if ((s = need(f, "visual.proj", 2, &t, err)))
        return s;
    c->embed_dim = (int)(f->hf ? t->shape[0] : t->shape[1]);
    if ((s = bounded(f, t, c->embed_dim, 1, MAX_WIDTH, "embed dim", err)))
        return s;

    if ((s = need(f, "token_embedding.weight", 2, &t, err)))
        return s;
    if ((s = bounded(f, t, t->shape[0], 1, MAX_VOCAB, "vocabulary size (dim 0)", err)) ||
        (s = bounded(f, t, t->shape[1], 1, MAX_WIDTH, "text width (dim 1)", err)))
        return s;
    c->vocab_size = (int)t->shape[0];
    c->text_width = (int)t->shape[1];

    if ((s = need(f, "positional_embedding", 2, &t, err)))
        return s;
    if ((s = bounded(f, t, t->shape[0], 1, MAX_CONTEXT, "context length (dim 0)", err)))
        return s;
    c->context_length = (int)t->shape[0];

    c->text_layers = dp_st_count_indexed(f->st, f->hf ? HF_TEXT_BLOCKS : OC_TEXT_BLOCKS, '.');
    if (c->text_layers < 1 || c->text_layers > MAX_LAYERS)
        return dp_fail(err, DP_E_MODEL, "%s: %d text blocks ('%s<i>.*'), expected 1..%d", path,
                       c->text_layers, f->hf ? HF_TEXT_BLOCKS : OC_TEXT_BLOCKS, MAX_LAYERS);
    return DP_OK;
}

/* A positive integer member at `dotted`, 0 if absent; -1 if present but not a positive int. */
static int64_t json_int(const dp_json *cfg, const char *dotted)
{
    const dp_json *v = dp_json_path(cfg, dotted);
    if (!v)
        return 0;
    if (v->type != DP_JSON_NUMBER || !v->number_is_integer || v->integer <= 0)
        return -1;
    return v->integer;
}

/* When the metadata config states a size, it must agree with the tensors. */
static dp_status agree(const dp_clip_file *f, const char *key, const dp_json *cfg,
                       const char *dotted, int64_t actual, dp_err *err)
{
    int64_t v = json_int(cfg, dotted);
    if (v != 0 && v != actual)
        return dp_fail(err, DP_E_MODEL,
                       "%s: __metadata__ '%s': %s = %lld but the tensors give %lld",
                       dp_st_path(f->st), key, dotted, (long long)v, (long long)actual);
    return DP_OK;
}

static dp_status heads_from_width(const dp_clip_file *f, const char *key, const char *what,
                                  int width, int64_t head_width, int *heads, dp_err *err)
{
    if (head_width < 0 || (head_width > 0 && width % head_width != 0))
        return dp_fail(err, DP_E_MODEL, "%s: __metadata__ '%s': %s = %lld does not divide the "
                       "width %d", dp_st_path(f->st), key, what, (long long)head_width, width);
    if (head_width > 0)
        *heads = (int)(width / head_width);
    return DP_OK;
}

/* Reads heads (and cross-checks sizes) from one parsed config; *found = 1 if it was a config. */
static dp_status use_config(dp_clip_file *f, const char *key, const dp_json *cfg, int *vh,
                            int *th, int *found, dp_err *err)
{
    const dp_model_config *c = &f->cfg;
    dp_status s;
    if (dp_json_get(cfg, "vision_cfg") || dp_json_get(cfg, "text_cfg")) {   /* open_clip */
        *found = 1;
        if ((s = agree(f, key, cfg, "embed_dim", c->embed_dim, err)) ||
            (s = agree(f, key, cfg, "vision_cfg.width", c->vision_width, err)) ||
            (s = agree(f, key, cfg, "vision_cfg.layers", c->vision_layers, err)) ||
            (s = agree(f, key, cfg, "vision_cfg.patch_size", c->patch_size, err)) ||
            (s = agree(f, key, cfg, "text_cfg.width", c->text_width, err)) ||
            (s = agree(f, key, cfg, "text_cfg.layers", c->text_layers, err)) ||
            (s = agree(f, key, cfg, "text_cfg.context_length", c->context_length, err)) ||
            (s = agree(f, key, cfg, "text_cfg.vocab_size", c->vocab_size, err)))
            return s;
        if ((s = heads_from_width(f, key, "vision_cfg.head_width", c->vision_width,
                                  json_int(cfg, "vision_cfg.head_width"), vh, err)))
            return s;
        int64_t h = json_int(cfg, "text_cfg.heads");
        if (h < 0)
            return dp_fail(err, DP_E_MODEL, "%s: __metadata__ '%s': text_cfg.heads is not a "
                           "positive integer", dp_st_path(f->st), key);
        if (h > 0)
            *th = h > MAX_WIDTH ? MAX_WIDTH + 1 : (int)h;
        return DP_OK;
    }
    if (dp_json_get(cfg, "vision_config") || dp_json_get(cfg, "text_config")) {   /* HF */
        *found = 1;
        if ((s = agree(f, key, cfg, "projection_dim", c->embed_dim, err)) ||
            (s = agree(f, key, cfg, "vision_config.hidden_size", c->vision_width, err)) ||
            (s = agree(f, key, cfg, "vision_config.num_hidden_layers", c->vision_layers, err)) ||
            (s = agree(f, key, cfg, "vision_config.patch_size", c->patch_size, err)) ||
            (s = agree(f, key, cfg, "text_config.hidden_size", c->text_width, err)) ||
            (s = agree(f, key, cfg, "text_config.num_hidden_layers", c->text_layers, err)) ||
            (s = agree(f, key, cfg, "text_config.max_position_embeddings", c->context_length,
                       err)) ||
            (s = agree(f, key, cfg, "text_config.vocab_size", c->vocab_size, err)))
            return s;
        int64_t v = json_int(cfg, "vision_config.num_attention_heads");
        int64_t t = json_int(cfg, "text_config.num_attention_heads");
        if (v < 0 || t < 0)
            return dp_fail(err, DP_E_MODEL, "%s: __metadata__ '%s': num_attention_heads is not a "
                           "positive integer", dp_st_path(f->st), key);
        if (v > 0)
            *vh = v > MAX_WIDTH ? MAX_WIDTH + 1 : (int)v;
        if (t > 0)
            *th = t > MAX_WIDTH ? MAX_WIDTH + 1 : (int)t;
    }
    return DP_OK;
}

/* Heads are not visible in shapes: take them from the first __metadata__ string that holds an
 * open_clip or HF config, else assume head width 64. */
static dp_status derive_heads(dp_clip_file *f, dp_err *err)
{
    dp_model_config *c = &f->cfg;
    int vh = 0, th = 0, found = 0;
    const dp_json *md = dp_st_metadata(f->st);
    for (size_t i = 0; md && i < md->count && !found; i++) {
        const char *key = md->keys[i], *text = md->items[i].string;
        size_t len = md->items[i].string_len;
        while (len && (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r')) {
            text++;
            len--;
        }
        if (!len || *text != '{')
            continue;
        int named = strcmp(key, "open_clip_config") == 0 || strcmp(key, "config") == 0;
        char what[300];
        snprintf(what, sizeof what, "%s: __metadata__ '%s'", dp_st_path(f->st), key);
        dp_json *cfg = NULL;
        dp_err ignored;
        dp_status s = dp_json_parse(text, len, what, &cfg, named ? err : &ignored);
        if (s && named)
            return s;
        if (s)
            continue;
        s = use_config(f, key, cfg, &vh, &th, &found, err);
        dp_json_free(cfg);
        if (s)
            return s;
    }
    if (!vh)
        vh = c->vision_width % DEFAULT_HEAD_WIDTH == 0 ? c->vision_width / DEFAULT_HEAD_WIDTH : 0;
    if (!th)
        th = c->text_width % DEFAULT_HEAD_WIDTH == 0 ? c->text_width / DEFAULT_HEAD_WIDTH : 0;
    if (vh < 1 || vh > c->vision_width || c->vision_width % vh != 0)
        return dp_fail(err, DP_E_MODEL, "%s: vision heads %d do not divide the vision width %d%s",
                       dp_st_path(f->st), vh, c->vision_width,
                       found ? "" : " (no config in __metadata__; default head width 64)");
    if (th < 1 || th > c->text_width || c->text_width % th != 0)
        return dp_fail(err, DP_E_MODEL, "%s: text heads %d do not divide the text width %d%s",
                       dp_st_path(f->st), th, c->text_width,
                       found ? "" : " (no config in __metadata__; default head width 64)");
    c->vision_heads = vh;
    c->text_heads = th;
    return DP_OK;
}

/* Every tensor the model uses must be present with its shape. */
static dp_status validate_all(const dp_clip_file *f, dp_err *err)
{
    plan p;
    dp_status s;
    char name[128];
    for (size_t g = 0; g < N_GLOBALS; g++)
        if (!GLOBALS[g].optional && (s = resolve(f, GLOBALS[g].oc, &p, err)))
            return s;
    for (int tower = 0; tower < 2; tower++) {
        int layers = tower ? f->cfg.text_layers : f->cfg.vision_layers;
        for (int i = 0; i < layers; i++)
            for (size_t b = 0; b < N_BLOCK; b++) {
                snprintf(name, sizeof name, "%s%d.%s", tower ? OC_TEXT_BLOCKS : OC_VISION_BLOCKS,
                         i, BLOCK[b].oc);
                if ((s = resolve(f, name, &p, err)))
                    return s;
            }
    }
    /* logit_scale is optional, but if present it must be a scalar */
    if (dp_st_find(f->st, "logit_scale") && (s = resolve(f, "logit_scale", &p, err)))
        return s;
    return DP_OK;
}

dp_status dp_clip_open(const char *path, dp_clip_file **out, dp_err *err)
{
    if (!out)
        return dp_fail(err, DP_E_ARG, "dp_clip_open: out is NULL");
    *out = NULL;
    dp_clip_file *f = calloc(1, sizeof *f);
    if (!f)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory", path ? path : "(null)");
    dp_status s = dp_st_open(path, &f->st, err);
    if (s)
        goto fail;
    int oc = dp_st_find(f->st, "visual.conv1.weight") != NULL;
    int hf = dp_st_find(f->st, "vision_model.embeddings.patch_embedding.weight") != NULL;
    if (oc == hf) {
        s = dp_fail(err, DP_E_MODEL, "%s: %s: expected tensor 'visual.conv1.weight' (open_clip) or "
                    "'vision_model.embeddings.patch_embedding.weight' (Hugging Face CLIPModel)",
                    path, oc ? "contains both open_clip and Hugging Face names"
                             : "not a CLIP checkpoint");
        goto fail;
    }
    f->hf = hf;
    if ((s = derive_shapes(f, err)) || (s = derive_heads(f, err)) || (s = validate_all(f, err)))
        goto fail;
    *out = f;
    return DP_OK;
fail:
    dp_clip_close(f);
    return s;
}

void dp_clip_close(dp_clip_file *f)
{
    if (!f)
        return;
    dp_st_close(f->st);
    free(f);
}

const dp_model_config *dp_clip_config(const dp_clip_file *f)
{
    return f ? &f->cfg : NULL;
}

int dp_clip_is_hf(const dp_clip_file *f)
{
    return f ? f->hf : 0;
}

const char *dp_clip_path(const dp_clip_file *f)
{
    return f ? dp_st_path(f->st) : NULL;
}

size_t dp_clip_numel(const dp_clip_file *f, const char *oc_name)
{
    plan p;
    if (!f || !oc_name || resolve(f, oc_name, &p, NULL))
        return 0;
    return p.count;
}

/* Adds the open_clip name to a failure that only names the HF tensor. */
static dp_status with_oc_name(const dp_clip_file *f, const char *oc, dp_status s, dp_err *err)
{
    if (f->hf && err) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        dp_fail(err, s, "%s (open_clip '%s')", msg, oc);
    }
    return s;
}

dp_status dp_clip_read(const dp_clip_file *f, const char *oc_name, float *dst, dp_err *err)
{
    if (!f || !oc_name || !dst)
        return dp_fail(err, DP_E_ARG, "dp_clip_read: NULL argument");
    plan p;
    dp_status s = resolve(f, oc_name, &p, err);
    if (s)
        return s;
    if (p.nparts == 3) {
        size_t part = p.count / 3;
        for (int k = 0; k < 3; k++)
            if ((s = dp_st_to_f32(f->st, p.part[k], dst + (size_t)k * part, err)))
                return with_oc_name(f, oc_name, s, err);
        return DP_OK;
    }
    if (!p.transpose) {
        s = dp_st_to_f32(f->st, p.part[0], dst, err);
        return s ? with_oc_name(f, oc_name, s, err) : DP_OK;
    }
    /* HF [E][W] -> open_clip [W][E] */
    size_t rows = (size_t)p.shape[1], cols = (size_t)p.shape[0];
    float *tmp = malloc(p.count * sizeof *tmp);
    if (!tmp)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory reading tensor '%s'", dp_clip_path(f),
                       p.part[0]->name);
    s = dp_st_to_f32(f->st, p.part[0], tmp, err);
    if (!s)
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++)
                dst[c * rows + r] = tmp[r * cols + c];
    free(tmp);
    return s ? with_oc_name(f, oc_name, s, err) : DP_OK;
}

dp_status dp_clip_pos_embed(const dp_clip_file *f, int grid, float *dst, dp_err *err)
{
    if (!f || !dst)
        return dp_fail(err, DP_E_ARG, "dp_clip_pos_embed: NULL argument");
    if (grid < 1 || grid > MAX_GRID)
        return dp_fail(err, DP_E_ARG, "%s: positional grid %d out of range 1..%d", dp_clip_path(f),
                       grid, MAX_GRID);
    const dp_model_config *c = &f->cfg;
    size_t w = (size_t)c->vision_width, n = (size_t)c->native_grid;
    size_t native = (1 + n * n) * w;
    float *tab = malloc(native * sizeof *tab);
    if (!tab)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for the positional table",
                       dp_clip_path(f));
    dp_status s = dp_clip_read(f, "visual.positional_embedding", tab, err);
    if (!s) {
        memcpy(dst, tab, w * sizeof *dst);
        if ((size_t)grid == n)
            memcpy(dst + w, tab + w, n * n * w * sizeof *dst);
        else
            s = dp_resize_f32_bicubic_aa(tab + w, (int)n, (int)n, (int)w, dst + w, grid, grid, err);
    }
    free(tab);
    return s;
}
