/* make_demo_model: writes an UNTRAINED, randomly initialised CLIP + DAPO model in the file
 * formats real weights use (clip.safetensors with open_clip names and F16 storage like the OpenAI
 * originals, dapo.safetensors in F32), so the whole product can be exercised on a machine that
 * cannot download real weights. Scores from this model mean nothing.
 *
 * Usage: make_demo_model OUTDIR [--seed N] [--size tiny|demo|b16|l14]
 * Exit codes: 0 written, 1 I/O failure, 2 usage error. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model_config.h"
#include "tokenizer.h"
#include "xoshiro.h"

/* The shapes the plugin's model layer expects, from its own constants. */
#define VOCAB DP_TOK_VOCAB_SIZE
#define CONTEXT DP_TOK_CONTEXT
#define VIS_PROMPTS DP_VISUAL_PROMPTS
#define TEXT_PROMPTS DP_TEXT_PROMPTS
#define CTX_TOKENS DP_CONTEXT_TOKENS
#define ENSEMBLE DP_ENSEMBLE
#define ADAPTERS DP_FEATURE_LAYERS
#define CHUNK 65536       /* elements generated per write: bounded memory for any model size */

typedef struct config {
    const char *name;
    int vision_width, vision_layers, vision_heads, patch, image_size;
    int text_width, text_layers, text_heads, embed;
    /* vision blocks: scale of the attention and MLP output projections (the residual branches) */
    double attn_branch, mlp_branch;
} config;

/* DAPO fixes 24 vision blocks (prompt depth) and 12 text blocks, so every size keeps them.
 * demo: full-strength random attention mixes every patch with all others over 24 blocks, so no
 * patch feature keeps what its own pixels show and training cannot find a defect (pixel AUROC
 * 0.64 after 180 steps). Weak attention (x0.1) and a strong MLP (x0.7) keep the features local
 * and nonlinear, as a trained CLIP's middle layers are, while the class token still sees the
 * image; README "The demo's trained prompts" has the figures. */
static const config CONFIGS[] = {
    {"tiny", 64, 24, 2, 14, 84, 32, 12, 2, 32, 1.0, 1.0},     /* = golden/tiny */
    {"demo", 192, 24, 3, 14, 224, 128, 12, 2, 128, 0.1, 0.7},
    {"b16", 768, 24, 12, 16, 224, 512, 12, 8, 512, 1.0, 1.0}, /* ViT-B/16 widths, 24 layers */
    {"l14", 1024, 24, 16, 14, 336, 768, 12, 12, 768, 1.0, 1.0}, /* OpenAI ViT-L/14-336 shapes */
};

/* ---- seeded PRNG: xoshiro256** seeded by splitmix64, Box-Muller normals ---- */

typedef struct rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} rng;

static uint64_t rng_next(rng *r) { return xoshiro256ss_next(r->s); }

/* One independent stream per tensor (seed mixed with the name's FNV-1a hash): a tensor's values
 * do not depend on which tensors come before it. */
static void rng_init(rng *r, uint64_t seed, const char *name)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001B3ull;
    uint64_t x = seed ^ rotl64(h, 17);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
    r->has_spare = 0;
}

/* Uniform in (0, 1): 53 random bits, never 0 so log() is safe. */
static double rng_uniform(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }

static double rng_normal(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u = rng_uniform(r), v = rng_uniform(r);
    double m = sqrt(-2.0 * log(u)), a = 6.283185307179586 * v;
    r->spare = m * sin(a);
    r->has_spare = 1;
    return m * cos(a);
}

/* ---- float32 -> IEEE half, round to nearest even (subnormals, overflow to inf) ---- */

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u)                     /* inf / NaN (keep NaN quiet) */
        return (uint16_t)(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
    if (absx >= 0x477FF000u)                     /* rounds to >= 65520: overflow */
        return (uint16_t)(sign | 0x7C00u);
    if (absx < 0x38800000u) {                    /* below 2^-14: subnormal half */
        if (absx < 0x33000000u)                  /* below half the smallest subnormal */
            return (uint16_t)sign;
        uint32_t mant = (absx & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(absx >> 23);     /* 14..24 */
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t q = ((absx >> 13) - (112u << 10)), rem = absx & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u)))
        q++;                                     /* carries into the exponent correctly */
    return (uint16_t)(sign | q);
}

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    x = e == 31 ? (sign | 0x7F800000u | (m << 13)) : (sign | ((e + 112u) << 23) | (m << 13));
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- tensor table ---- */

typedef enum init_kind {
    INIT_LN_WEIGHT,   /* 1 + 0.1 N */
    INIT_NORMAL,      /* scale * N */
    INIT_MATRIX,      /* scale * N * (1 + 0.1 N), q/k rows of in_proj times qk */
    INIT_UNIFORM,     /* U(-scale, scale) */
    INIT_CONST,       /* scale */
    INIT_TOKEN_CTX    /* N * sigma_d + mu_d of the token embedding (column d) */
} init_kind;

typedef struct tensor {
    char name[80];
    int ndim;
    int64_t shape[4];
    init_kind kind;
    double scale;
    int64_t qk_rows;  /* INIT_MATRIX: rows [0, qk_rows) get the extra factor qk */
    double qk;
} tensor;

typedef struct table {
    tensor *t;
    size_t n, cap;
} table;

static int64_t numel(const tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

static tensor *add(table *tb, init_kind kind, double scale, int ndim, const int64_t *shape,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static tensor *add(table *tb, init_kind kind, double scale, int ndim, const int64_t *shape,
                   const char *fmt, ...)
{
    if (tb->n == tb->cap) {
        size_t cap = tb->cap ? tb->cap * 2 : 512;
        tensor *p = realloc(tb->t, cap * sizeof *p);
        if (!p) {
            fprintf(stderr, "make_demo_model: out of memory\n");
            exit(1);
        }
        tb->t = p;
        tb->cap = cap;
    }
    tensor *t = &tb->t[tb->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->kind = kind;
    t->scale = scale;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return t;
}

#define SHAPE(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

/* One residual block as open_clip names it; weights ~ N(0, 1/fan_in) with the golden set's
 * elementwise jitter, q and k rows sharpened (qk) so attention is not uniform, the output
 * projections of attention and MLP scaled by attn and mlp. */
static void add_block(table *tb, const char *prefix, int i, int64_t w, double qk, double attn,
                      double mlp)
{
    add(tb, INIT_LN_WEIGHT, 0, SHAPE(w), "%sresblocks.%d.ln_1.weight", prefix, i);
    add(tb, INIT_NORMAL, 0.02, SHAPE(w), "%sresblocks.%d.ln_1.bias", prefix, i);
    tensor *q = add(tb, INIT_MATRIX, 1.0 / sqrt((double)w), SHAPE(3 * w, w),
                    "%sresblocks.%d.attn.in_proj_weight", prefix, i);
    q->qk_rows = 2 * w;
    q->qk = qk;
    add(tb, INIT_NORMAL, 0.02, SHAPE(3 * w), "%sresblocks.%d.attn.in_proj_bias", prefix, i);
    add(tb, INIT_MATRIX, attn / sqrt((double)w), SHAPE(w, w),
        "%sresblocks.%d.attn.out_proj.weight", prefix, i);
    add(tb, INIT_NORMAL, 0.02, SHAPE(w), "%sresblocks.%d.attn.out_proj.bias", prefix, i);
    add(tb, INIT_LN_WEIGHT, 0, SHAPE(w), "%sresblocks.%d.ln_2.weight", prefix, i);
    add(tb, INIT_NORMAL, 0.02, SHAPE(w), "%sresblocks.%d.ln_2.bias", prefix, i);
    add(tb, INIT_MATRIX, 1.0 / sqrt((double)w), SHAPE(4 * w, w),
        "%sresblocks.%d.mlp.c_fc.weight", prefix, i);
    add(tb, INIT_NORMAL, 0.02, SHAPE(4 * w), "%sresblocks.%d.mlp.c_fc.bias", prefix, i);
    add(tb, INIT_MATRIX, mlp / sqrt(4.0 * (double)w), SHAPE(w, 4 * w),
        "%sresblocks.%d.mlp.c_proj.weight", prefix, i);
    add(tb, INIT_NORMAL, 0.02, SHAPE(w), "%sresblocks.%d.mlp.c_proj.bias", prefix, i);
}

/* CLIP tensors in the order of the golden files. */
static void clip_table(const config *c, table *tb)
{
    int64_t wv = c->vision_width, wt = c->text_width, e = c->embed, p = c->patch;
    int64_t n = c->image_size / c->patch;
    add(tb, INIT_NORMAL, 0.02, SHAPE(CONTEXT, wt), "positional_embedding");
    add(tb, INIT_MATRIX, 1.0 / sqrt((double)wt), SHAPE(wt, e), "text_projection");
    add(tb, INIT_CONST, log(1.0 / 0.07), 0, NULL, "logit_scale");
    add(tb, INIT_NORMAL, 0.1, SHAPE(wv), "visual.class_embedding");
    add(tb, INIT_NORMAL, 0.1, SHAPE(1 + n * n, wv), "visual.positional_embedding");
    add(tb, INIT_MATRIX, 1.0 / sqrt((double)wv), SHAPE(wv, e), "visual.proj");
    add(tb, INIT_MATRIX, 1.0 / sqrt(3.0 * (double)(p * p)), SHAPE(wv, 3, p, p),
        "visual.conv1.weight");
    add(tb, INIT_LN_WEIGHT, 0, SHAPE(wv), "visual.ln_pre.weight");
    add(tb, INIT_NORMAL, 0.02, SHAPE(wv), "visual.ln_pre.bias");
    for (int i = 0; i < c->vision_layers; i++)
        add_block(tb, "visual.transformer.", i, wv, 1.5, c->attn_branch, c->mlp_branch);
    add(tb, INIT_LN_WEIGHT, 0, SHAPE(wv), "visual.ln_post.weight");
    add(tb, INIT_NORMAL, 0.02, SHAPE(wv), "visual.ln_post.bias");
    for (int i = 0; i < c->text_layers; i++)
        add_block(tb, "transformer.", i, wt, 2.0, 1.0, 1.0);
    add(tb, INIT_NORMAL, 0.02, SHAPE(VOCAB, wt), "token_embedding.weight");
    add(tb, INIT_LN_WEIGHT, 0, SHAPE(wt), "ln_final.weight");
    add(tb, INIT_NORMAL, 0.02, SHAPE(wt), "ln_final.bias");
}

/* DAPO tensors as the reference initialises them (tests/golden/README.md §9). */
static void dapo_table(const config *c, table *tb)
{
    int64_t wv = c->vision_width, wt = c->text_width, e = c->embed, h = wt / 16;
    double vis = sqrt(6.0 / (3.0 * c->patch * c->patch + (double)wv));
    add(tb, INIT_UNIFORM, vis, SHAPE(c->vision_layers, VIS_PROMPTS, wv),
        "visual_prompt.learnable_visual_tokens");
    add(tb, INIT_TOKEN_CTX, 0, SHAPE(ENSEMBLE, CTX_TOKENS, wt),
        "prompt_learner.learnable_normal_tokens");
    add(tb, INIT_TOKEN_CTX, 0, SHAPE(ENSEMBLE, CTX_TOKENS, wt),
        "prompt_learner.learnable_abnormal_tokens");
    for (int k = 0; k < c->text_layers; k++)
        add(tb, INIT_TOKEN_CTX, 0, SHAPE(TEXT_PROMPTS, wt),
            "prompt_learner.learnable_layer_tokens.%d", k);
    /* meta_net (Linear wt->wt/16, ReLU, Linear): unused by DAPO, present in its checkpoints. */
    add(tb, INIT_UNIFORM, 1.0 / sqrt((double)wt), SHAPE(h, wt), "prompt_learner.meta_net.0.weight");
    add(tb, INIT_UNIFORM, 1.0 / sqrt((double)wt), SHAPE(h), "prompt_learner.meta_net.0.bias");
    add(tb, INIT_UNIFORM, 1.0 / sqrt((double)h), SHAPE(wt, h), "prompt_learner.meta_net.2.weight");
    add(tb, INIT_UNIFORM, 1.0 / sqrt((double)h), SHAPE(wt), "prompt_learner.meta_net.2.bias");
    for (int j = 0; j < ADAPTERS; j++) {
        add(tb, INIT_UNIFORM, 1.0 / sqrt((double)wv), SHAPE(e, wv), "linear_adapter.fc.%d.weight", j);
        add(tb, INIT_UNIFORM, 1.0 / sqrt((double)wv), SHAPE(e), "linear_adapter.fc.%d.bias", j);
    }
}

/* ---- safetensors writing ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (n > 0 ? (size_t)n : 0);
        char *q = realloc(b->p, cap);
        if (!q) {
            fprintf(stderr, "make_demo_model: out of memory\n");
            exit(1);
        }
        b->p = q;
        b->cap = cap;
    }
}

/* Header: tensors in table order, contiguous offsets, then __metadata__ (already JSON text);
 * padded with spaces to a multiple of 8 so the data section stays aligned. */
static void build_header(const table *tb, size_t elem, const char *metadata, sbuf *h)
{
    uint64_t off = 0;
    sb_printf(h, "{");
    for (size_t i = 0; i < tb->n; i++) {
        const tensor *t = &tb->t[i];
        uint64_t bytes = (uint64_t)numel(t) * elem;
        sb_printf(h, "\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, elem == 2 ? "F16" : "F32");
        for (int d = 0; d < t->ndim; d++)
            sb_printf(h, "%s%" PRId64, d ? "," : "", t->shape[d]);
        sb_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]},", off, off + bytes);
        off += bytes;
    }
    sb_printf(h, "\"__metadata__\":%s}", metadata);
    while (h->len % 8)
        sb_printf(h, " ");
}

/* Per-dimension statistics of the stored (F16-rounded) token embedding, which the DAPO text
 * tokens are drawn from. */
typedef struct token_stats {
    int64_t width, rows;
    double *sum, *sumsq;
} token_stats;

static float draw(const tensor *t, rng *r, int64_t idx, const token_stats *ts)
{
    switch (t->kind) {
    case INIT_LN_WEIGHT:
        return (float)(1.0 + 0.1 * rng_normal(r));
    case INIT_NORMAL:
        return (float)(t->scale * rng_normal(r));
    case INIT_MATRIX: {
        double v = t->scale * rng_normal(r);
        v *= 1.0 + 0.1 * rng_normal(r);
        if (t->qk_rows && idx / t->shape[1] < t->qk_rows)
            v *= t->qk;
        return (float)v;
    }
    case INIT_UNIFORM:
        return (float)(t->scale * (2.0 * rng_uniform(r) - 1.0));
    case INIT_CONST:
        return (float)t->scale;
    case INIT_TOKEN_CTX: {
        int64_t d = idx % ts->width;
        double n = (double)ts->rows, mu = ts->sum[d] / n;
        double var = (ts->sumsq[d] - n * mu * mu) / (n - 1.0);   /* unbiased, as torch.std */
        return (float)(rng_normal(r) * sqrt(var > 0 ? var : 0) + mu);
    }
    }
    return 0.0f;
}

typedef struct writer {
    FILE *f;
    const char *path;
    int failed;
} writer;

static void put(writer *w, const void *p, size_t n)
{
    if (!w->failed && fwrite(p, 1, n, w->f) != n) {
        fprintf(stderr, "make_demo_model: %s: write failed: %s\n", w->path, strerror(errno));
        w->failed = 1;
    }
}

/* Writes one file; values are generated CHUNK elements at a time and written straight away.
 * ts: filled from token_embedding.weight when writing CLIP, read when writing DAPO. */
static int write_file(const char *path, const table *tb, size_t elem, const char *metadata,
                      uint64_t seed, token_stats *ts)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.partial", path);
    writer w = {fopen(tmp, "wb"), tmp, 0};
    if (!w.f) {
        fprintf(stderr, "make_demo_model: cannot create %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    sbuf h = {0};
    build_header(tb, elem, metadata, &h);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    put(&w, len8, 8);
    put(&w, h.p, h.len);
    free(h.p);

    static float vals[CHUNK];
    static unsigned char halves[2 * CHUNK];
    for (size_t i = 0; i < tb->n && !w.failed; i++) {
        const tensor *t = &tb->t[i];
        int is_tokens = elem == 2 && strcmp(t->name, "token_embedding.weight") == 0;
        rng r;
        rng_init(&r, seed, t->name);
        int64_t total = numel(t);
        for (int64_t base = 0; base < total && !w.failed; base += CHUNK) {
            int64_t n = total - base < CHUNK ? total - base : CHUNK;
            for (int64_t k = 0; k < n; k++)
                vals[k] = draw(t, &r, base + k, ts);
            if (elem == 4) {
                unsigned char le[4 * 256];   /* explicit little-endian, whatever the host */
                for (int64_t k = 0; k < n; k += 256) {
                    int64_t m = n - k < 256 ? n - k : 256;
                    for (int64_t j = 0; j < m; j++) {
                        uint32_t x;
                        memcpy(&x, &vals[k + j], 4);
                        for (int b = 0; b < 4; b++)
                            le[4 * j + b] = (unsigned char)(x >> (8 * b));
                    }
                    put(&w, le, (size_t)(4 * m));
                }
                continue;
            }
            for (int64_t k = 0; k < n; k++) {
                uint16_t x = f32_to_f16(vals[k]);
                if (is_tokens) {
                    double v = f16_to_f32(x);
                    int64_t d = (base + k) % ts->width;
                    ts->sum[d] += v;
                    ts->sumsq[d] += v * v;
                }
                halves[2 * k] = (unsigned char)(x & 0xFF);   /* little-endian on any host */
                halves[2 * k + 1] = (unsigned char)(x >> 8);
            }
            put(&w, halves, (size_t)(2 * n));
        }
        if (is_tokens)
            ts->rows = t->shape[0];
    }
    if (fclose(w.f) != 0 && !w.failed) {
        fprintf(stderr, "make_demo_model: %s: %s\n", tmp, strerror(errno));
        w.failed = 1;
    }
    if (!w.failed && rename(tmp, path) != 0) {
        fprintf(stderr, "make_demo_model: cannot rename %s to %s: %s\n", tmp, path,
                strerror(errno));
        w.failed = 1;
    }
    if (w.failed)
        remove(tmp);
    return w.failed;
}

/* __metadata__ objects (values must be strings; the configs are JSON inside a string). */
static void clip_metadata(const config *c, uint64_t seed, sbuf *m)
{
    sb_printf(m, "{\"format\":\"pt\",\"open_clip_config\":\"{\\\"embed_dim\\\": %d, "
              "\\\"quick_gelu\\\": true, \\\"text_cfg\\\": {\\\"context_length\\\": %d, "
              "\\\"heads\\\": %d, \\\"layers\\\": %d, \\\"vocab_size\\\": %d, \\\"width\\\": %d}, "
              "\\\"vision_cfg\\\": {\\\"head_width\\\": %d, \\\"image_size\\\": %d, "
              "\\\"layers\\\": %d, \\\"patch_size\\\": %d, \\\"width\\\": %d}}\",",
              c->embed, CONTEXT, c->text_heads, c->text_layers, VOCAB, c->text_width,
              c->vision_width / c->vision_heads, c->image_size, c->vision_layers, c->patch,
              c->vision_width);
    sb_printf(m, "\"native_image_size\":\"%d\",\"note\":\"open_clip CLIP state_dict names; "
              "visual.positional_embedding at native grid size\",\"demo_model\":\"UNTRAINED "
              "demo model (make_demo_model --size %s --seed %" PRIu64 "): random weights, scores "
              "are meaningless\"}", c->image_size, c->name, seed);
}

static void dapo_metadata(const config *c, sbuf *m)
{
    sb_printf(m, "{\"format\":\"pt\",\"hyper_parameters\":\"{\\\"abnormal_token_cnt\\\": %d, "
              "\\\"depth\\\": %d, \\\"feature_layers\\\": [6, 12, 18, 24], "
              "\\\"layer_token_cnt\\\": %d, \\\"normal_token_cnt\\\": %d, "
              "\\\"prefix_token_cnt\\\": %d, \\\"prompt_count\\\": %d, \\\"text_depth\\\": %d}\"}",
              CTX_TOKENS, c->vision_layers, TEXT_PROMPTS, CTX_TOKENS, VIS_PROMPTS, ENSEMBLE,
              c->text_layers);
}

static int write_readme(const char *path, const config *c, uint64_t seed)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "make_demo_model: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f,
            "UNTRAINED demo model: random weights, scores are meaningless.\n"
            "\n"
            "Written by make_demo_model --size %s --seed %" PRIu64 " so that dapo-inspect can be\n"
            "installed, configured and exercised end to end without real weights. It finds no\n"
            "defects: every score, map and label it produces is noise. For inspection use the\n"
            "real OpenAI CLIP ViT-L/14-336 weights and a trained DAPO checkpoint (models/README.md).\n"
            "\n"
            "clip.safetensors  CLIP, open_clip tensor names, F16 storage (like the OpenAI originals)\n"
            "  vision: width %d, %d layers, %d heads, patch %d, native image %d px (grid %d)\n"
            "  text:   width %d, %d layers, %d heads, context %d, vocabulary %d\n"
            "  embed:  %d\n"
            "dapo.safetensors  DAPO learnable tensors, F32: %d x %d visual prompts, %d x %d normal\n"
            "  and abnormal context vectors, %d x %d deep text prompts, meta_net (unused),\n"
            "  %d adapters for blocks 6/12/18/24.\n"
            "\n"
            "Initialisation (deterministic for a seed): LayerNorm weights 1 + 0.1 N(0,1), biases\n"
            "0.02 N(0,1), class embedding and vision positions 0.1 N(0,1), text positions and token\n"
            "embedding 0.02 N(0,1), matrices N(0, 1/fan_in) times 1 + 0.1 N(0,1) with the q and k\n"
            "rows of attention scaled x1.5 (vision) and x2 (text) and the vision blocks' output\n"
            "projections scaled x%g (attention) and x%g (MLP); DAPO tensors as the reference\n"
            "code initialises them (visual prompts uniform, text tokens from the token-embedding\n"
            "statistics, PyTorch Linear init for adapters and meta_net).\n",
            c->name, seed, c->vision_width, c->vision_layers, c->vision_heads, c->patch,
            c->image_size, c->image_size / c->patch, c->text_width, c->text_layers, c->text_heads,
            CONTEXT, VOCAB, c->embed, c->vision_layers, VIS_PROMPTS, ENSEMBLE, CTX_TOKENS,
            c->text_layers, TEXT_PROMPTS, ADAPTERS, c->attn_branch, c->mlp_branch);
    if (strcmp(c->name, "demo") == 0)
        fprintf(f, "\nThe demo recipe (recipes/demo.yaml) pairs this CLIP with a DAPO file trained on\n"
                   "synthetic parts for this exact CLIP (seed 1): models/demo_dapo.safetensors, made by\n"
                   "`make train-demo`. With it the demo finds synthetic stains and holes on held-out\n"
                   "parts (most scratches escape); it still knows nothing of real products.\n");
    if (strcmp(c->name, "b16") == 0)
        fprintf(f, "\nNote: 'b16' has OpenAI ViT-B/16 widths (768, 12 heads, patch 16; text 512,\n"
                   "8 heads) but 24 vision layers instead of 12, because DAPO's visual prompts\n"
                   "are defined for 24 blocks. It is not the shape of any published checkpoint.\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "make_demo_model: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "make_demo_model: %s\n", msg);
    fprintf(stderr,
            "usage: make_demo_model OUTDIR [--seed N] [--size tiny|demo|b16|l14]\n"
            "Writes OUTDIR/clip.safetensors, OUTDIR/dapo.safetensors and OUTDIR/README.txt:\n"
            "an UNTRAINED random model for trying the product (scores are meaningless).\n"
            "  --seed N   random seed (default 1); same seed, same bytes\n"
            "  --size S   tiny (golden tiny shapes), demo (default: width 192/128, ~40 MB),\n"
            "             b16 (ViT-B/16 widths with 24 vision layers, ~470 MB),\n"
            "             l14 (OpenAI ViT-L/14-336 shapes, ~860 MB: training benchmarks)\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *outdir = NULL;
    const config *cfg = &CONFIGS[1];
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(NULL);
            return 0;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || end == argv[i] || *end || argv[i][0] == '-')
                return usage("--seed needs a non-negative integer");
            seed = v;
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            cfg = NULL;
            for (size_t k = 0; k < sizeof CONFIGS / sizeof CONFIGS[0]; k++)
                if (strcmp(s, CONFIGS[k].name) == 0)
                    cfg = &CONFIGS[k];
            if (!cfg)
                return usage("--size must be tiny, demo, b16 or l14");
        } else if (argv[i][0] == '-') {
            return usage("unknown option or missing value");
        } else if (!outdir) {
            outdir = argv[i];
        } else {
            return usage("only one OUTDIR");
        }
    }
    if (!outdir)
        return usage("OUTDIR missing");
    if (strlen(outdir) > 4000)
        return usage("OUTDIR path too long");
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "make_demo_model: cannot create %s: %s\n", outdir, strerror(errno));
        return 1;
    }

    table clip = {0}, dapo = {0};
    clip_table(cfg, &clip);
    dapo_table(cfg, &dapo);
    token_stats ts = {cfg->text_width, 0, calloc((size_t)cfg->text_width, sizeof(double)),
                      calloc((size_t)cfg->text_width, sizeof(double))};
    sbuf cm = {0}, dm = {0};
    clip_metadata(cfg, seed, &cm);
    dapo_metadata(cfg, &dm);
    char path[4200];
    int rc = !ts.sum || !ts.sumsq;
    if (rc)
        fprintf(stderr, "make_demo_model: out of memory\n");
    if (!rc) {
        snprintf(path, sizeof path, "%s/clip.safetensors", outdir);
        rc = write_file(path, &clip, 2, cm.p, seed, &ts);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/dapo.safetensors", outdir);
        rc = write_file(path, &dapo, 4, dm.p, seed, &ts);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/README.txt", outdir);
        rc = write_readme(path, cfg, seed);
    }
    if (!rc) {
        int64_t np = 0;
        for (size_t i = 0; i < clip.n; i++)
            np += numel(&clip.t[i]);
        /* "demo model", not "demo demo model", for the default configuration */
        printf("%s: UNTRAINED %s%smodel (seed %" PRIu64 "), %zu CLIP tensors "
               "(%.1f M parameters, F16), %zu DAPO tensors (F32)\n", outdir, cfg->name,
               strcmp(cfg->name, "demo") == 0 ? " " : " demo ", seed, clip.n, (double)np / 1e6, dapo.n);
    }
    free(ts.sum);
    free(ts.sumsq);
    free(cm.p);
    free(dm.p);
    free(clip.t);
    free(dapo.t);
    return rc;
}
