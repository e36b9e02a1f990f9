/* Finite-difference checks of every backward pass (nn_grad.h, transformer_backward.h,
 * vision_grad.h, text_grad.h) for a scalar loss L = sum(w .* out) with random w.
 *
 * Ops and one whole block: the loss is evaluated by double-precision references of the forward
 * (each also held to the f32 op it mirrors), central differences with step 1e-5 (truncation
 * ~1e-10, cancellation ~1e-11 relative), so the bound on max|analytic - fd| / max|fd| only has
 * to absorb the f32 rounding of the backward itself: 1e-4 (seen: ~1e-6).
 * Whole towers (golden tiny model): the loss runs through the real f32 forward, so the
 * central difference carries f32 noise of ~1e-7 |L| / h; the step and bound are stated at
 * each check. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_vision_internal.h"
#include "clip_weights.h"
#include "dapo_weights.h"
#include "golden.h"
#include "model.h"
#include "model_testing.h"
#include "nn_grad.h"
#include "text_grad.h"
#include "tokenizer.h"
#include "transformer_backward.h"
#include "vision_grad.h"

#define OP_STEP 1e-5
#define OP_BOUND 1e-4

static double urand(uint64_t *s)       /* in [-1, 1) */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (double)(*s >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static float *rand_f(size_t n, uint64_t seed, double base, double amp)
{
    float *a = malloc(n * sizeof *a);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(base + amp * urand(&s));
    return a;
}

/* ---- double references of the forward ops ------------------------------------------------ */

static void ref_linear(const double *x, int m, int k, int n, const float *w, const float *b, double *y)
{
    for (int r = 0; r < m; r++)
        for (int o = 0; o < n; o++) {
            double z = b ? b[o] : 0;
            for (int i = 0; i < k; i++)
                z += x[(size_t)r * k + i] * w[(size_t)o * k + i];
            y[(size_t)r * n + o] = z;
        }
}

static double ref_gelu(double z) { return z / (1 + exp(-1.702 * z)); }

static void ref_ln(const double *x, int rows, int w, const float *g, const float *b, double *y)
{
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * w;
        double mean = 0, var = 0;
        for (int i = 0; i < w; i++)
            mean += xr[i];
        mean /= w;
        for (int i = 0; i < w; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= w;
        double inv = 1 / sqrt(var + 1e-5);
        for (int i = 0; i < w; i++)
            y[(size_t)r * w + i] = (xr[i] - mean) * inv * g[i] + b[i];
    }
}

static void ref_attention(const double *qkv, int batch, int T, int W, int H, double *out)
{
    const int hd = W / H;
    const double scale = 1 / sqrt((double)hd);
    double *p = malloc((size_t)T * sizeof *p);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const double *q = qkv + ((size_t)b * T + i) * 3 * W + h * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    const double *k = qkv + ((size_t)b * T + j) * 3 * W + W + h * hd;
                    double s = 0;
                    for (int c = 0; c < hd; c++)
                        s += q[c] * k[c];
                    p[j] = s * scale;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j < T; j++)
                    sum += (p[j] = exp(p[j] - mx));
                double *o = out + ((size_t)b * T + i) * W + h * hd;
                for (int c = 0; c < hd; c++)
                    o[c] = 0;
                for (int j = 0; j < T; j++) {
                    const double *v = qkv + ((size_t)b * T + j) * 3 * W + 2 * W + h * hd;
                    for (int c = 0; c < hd; c++)
                        o[c] += p[j] / sum * v[c];
                }
            }
    free(p);
}

/* ---- finite differences ------------------------------------------------------------------- */

typedef double (*loss_fn)(void *ctx, const double *x);

typedef struct fd_result { double max_err, max_fd; int checked; } fd_result;

/* Central differences of loss at x (n values, perturbed in place and restored) on `count`
 * entries (all when count >= n, else a random pick), against analytic gradient g. */
static fd_result fd_check(loss_fn loss, void *ctx, double *x, size_t n, const float *g, size_t count,
                          double step, uint64_t seed)
{
    fd_result r = { 0, 0, 0 };
    uint64_t s = seed * 7919 + 3;
    for (size_t c = 0; c < (count < n ? count : n); c++) {
        size_t i = count < n ? (size_t)((urand(&s) + 1) * 0.5 * n) % n : c;
        double keep = x[i];
        x[i] = keep + step;
        double lp = loss(ctx, x);
        x[i] = keep - step;
        double lm = loss(ctx, x);
        x[i] = keep;
        double fd = (lp - lm) / (2 * step);
        r.max_err = fmax(r.max_err, fabs(fd - g[i]));
        r.max_fd = fmax(r.max_fd, fabs(fd));
        r.checked++;
    }
    return r;
}

static void report(const char *what, fd_result r, double bound)
{
    double rel = r.max_err / (r.max_fd > 0 ? r.max_fd : 1);
    printf("  gradcheck %s: %d entries, max |analytic - fd| = %.2e, max |fd| = %.2e, relative %.2e (bound %.0e)\n",
           what, r.checked, r.max_err, r.max_fd, rel, bound);
    ck_assert_msg(r.max_fd > 0, "%s: every finite difference is zero, the check proves nothing", what);
    ck_assert_msg(rel < bound, "%s: relative gradient error %.3e above %.0e", what, rel, bound);
}

static double *to_double(const float *a, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = a[i];
    return d;
}

static double dot_w(const float *w, const double *y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i] * y[i];
    return s;
}

/* ---- linear -------------------------------------------------------------------------------- */

typedef struct linear_ctx { int m, k, n; const float *w, *b, *wl; double *y; } linear_ctx;

static double linear_loss(void *c, const double *x)
{
    linear_ctx *l = c;
    ref_linear(x, l->m, l->k, l->n, l->w, l->b, l->y);
    return dot_w(l->wl, l->y, (size_t)l->m * l->n);
}

START_TEST(linear_backward)
{
    const int M = 7, K = 40, N = 24;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *w = rand_f((size_t)N * K, 1, 0, 0.3), *b = rand_f(N, 2, 0, 0.5);
    float *x = rand_f((size_t)M * K, 3, 0, 1), *wl = rand_f((size_t)M * N, 4, 0, 1);
    dp_linear fwd, bwd;
    ck_assert_msg(dp_linear_init(nn, &fwd, w, b, K, N, M, DP_C_F32, &e) == DP_OK, "%s", e.msg);
    ck_assert_msg(dp_linear_init_transposed(nn, &fwd, M, &bwd, &e) == DP_OK, "%s", e.msg);
    float *dx = malloc((size_t)M * K * sizeof *dx), *dx_acc = malloc((size_t)M * K * sizeof *dx);
    ck_assert_msg(dp_linear_backward(nn, &bwd, wl, M, N, dx, K, 0, &e) == DP_OK, "%s", e.msg);
    for (int i = 0; i < M * K; i++)
        dx_acc[i] = 0.5f;
    ck_assert_msg(dp_linear_backward(nn, &bwd, wl, M, N, dx_acc, K, 1, &e) == DP_OK, "%s", e.msg);
    for (int i = 0; i < M * K; i++)
        ck_assert_msg(fabsf(dx_acc[i] - 0.5f - dx[i]) <= 1e-6f * (1 + fabsf(dx[i])),
                      "accumulating backward differs at %d", i);
    linear_ctx c = { M, K, N, w, b, wl, malloc((size_t)M * N * sizeof(double)) };
    double *xd = to_double(x, (size_t)M * K);
    report("linear dx = dy W (all inputs)", fd_check(linear_loss, &c, xd, (size_t)M * K, dx, (size_t)M * K, OP_STEP, 1), OP_BOUND);
    /* a refusal: bf16 layers have no backward */
    dp_linear bad = fwd;
    bad.dt = DP_C_BF16;
    dp_linear none;
    ck_assert(dp_linear_init_transposed(nn, &bad, M, &none, &e) == DP_E_ARG);
    ck_assert(strstr(e.msg, "f32") != NULL);
    dp_linear_free(&fwd);
    dp_linear_free(&bwd);
    dp_nn_free(nn);
    free(w); free(b); free(x); free(wl); free(dx); free(dx_acc); free(c.y); free(xd);
}
END_TEST

/* ---- QuickGELU ------------------------------------------------------------------------------ */

typedef struct gelu_ctx { size_t n; const float *wl; } gelu_ctx;

static double gelu_loss(void *c, const double *z)
{
    gelu_ctx *g = c;
    double s = 0;
    for (size_t i = 0; i < g->n; i++)
        s += g->wl[i] * ref_gelu(z[i]);
    return s;
}

START_TEST(quickgelu_backward)
{
    const size_t n = 300;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *z = rand_f(n, 5, 0, 5), *wl = rand_f(n, 6, 0, 1), *dz = malloc(n * sizeof *dz);
    dp_quickgelu_backward(nn, z, wl, dz, n);
    gelu_ctx c = { n, wl };
    double *zd = to_double(z, n);
    report("QuickGELU (300 values in [-5, 5])", fd_check(gelu_loss, &c, zd, n, dz, n, OP_STEP, 2), OP_BOUND);
    /* in place (dz aliasing dy) gives the same values */
    float *inplace = malloc(n * sizeof *inplace);
    memcpy(inplace, wl, n * sizeof *inplace);
    dp_quickgelu_backward(nn, z, inplace, inplace, n);
    ck_assert(memcmp(inplace, dz, n * sizeof *dz) == 0);
    dp_nn_free(nn);
    free(z); free(wl); free(dz); free(zd); free(inplace);
}
END_TEST

/* ---- layer norm ------------------------------------------------------------------------------ */

typedef struct ln_ctx { int rows, w; const float *g, *b, *wl; double *y; } ln_ctx;

static double ln_loss(void *c, const double *x)
{
    ln_ctx *l = c;
    ref_ln(x, l->rows, l->w, l->g, l->b, l->y);
    return dot_w(l->wl, l->y, (size_t)l->rows * l->w);
}

START_TEST(layernorm_backward)
{
    const int R = 5, Wd = 48;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *x = rand_f((size_t)R * Wd, 7, 0.7, 2), *g = rand_f(Wd, 8, 1, 0.5), *b = rand_f(Wd, 9, 0, 0.3);
    float *wl = rand_f((size_t)R * Wd, 10, 0, 1), *dx = malloc((size_t)R * Wd * sizeof *dx);
    float *dx_acc = malloc((size_t)R * Wd * sizeof *dx);
    dp_layernorm_backward(nn, x, R, Wd, Wd, g, 1e-5f, wl, Wd, dx, Wd, 0);
    for (int i = 0; i < R * Wd; i++)
        dx_acc[i] = -1.0f;
    dp_layernorm_backward(nn, x, R, Wd, Wd, g, 1e-5f, wl, Wd, dx_acc, Wd, 1);
    for (int i = 0; i < R * Wd; i++)
        ck_assert_msg(fabsf(dx_acc[i] + 1.0f - dx[i]) <= 1e-6f * (1 + fabsf(dx[i])), "accumulate at %d", i);
    ln_ctx c = { R, Wd, g, b, wl, malloc((size_t)R * Wd * sizeof(double)) };
    double *xd = to_double(x, (size_t)R * Wd);
    report("layer norm (all inputs)", fd_check(ln_loss, &c, xd, (size_t)R * Wd, dx, (size_t)R * Wd, OP_STEP, 3), OP_BOUND);
    dp_nn_free(nn);
    free(x); free(g); free(b); free(wl); free(dx); free(dx_acc); free(c.y); free(xd);
}
END_TEST

/* ---- attention ------------------------------------------------------------------------------ */

typedef struct att_ctx { int batch, T, W, H; const float *wl; double *y; } att_ctx;

static double att_loss(void *c, const double *qkv)
{
    att_ctx *a = c;
    ref_attention(qkv, a->batch, a->T, a->W, a->H, a->y);
    return dot_w(a->wl, a->y, (size_t)a->batch * a->T * a->W);
}

static void attention_case(int T, int Wd, int H, int batch, size_t entries)
{
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    const size_t n_qkv = (size_t)batch * T * 3 * Wd, n_out = (size_t)batch * T * Wd;
    float *qkv = rand_f(n_qkv, 11 + T, 0, 1.5), *wl = rand_f(n_out, 12 + T, 0, 1);
    float *dqkv = malloc(n_qkv * sizeof *dqkv);
    dp_attention_grad *ag;
    ck_assert_msg(dp_attention_grad_create(nn, T, Wd, H, batch + 1, &ag, &e) == DP_OK, "%s", e.msg);
    ck_assert(dp_attention_grad_bytes(ag) > 0);
    ck_assert_msg(dp_attention_grad_run(ag, qkv, wl, batch, dqkv, &e) == DP_OK, "%s", e.msg);
    ck_assert(dp_attention_grad_run(ag, qkv, wl, batch + 2, dqkv, &e) == DP_E_ARG);
    /* the reference is the op: the f32 forward equals it */
    dp_attention *at;
    ck_assert(dp_attention_create(nn, T, Wd, H, batch, DP_C_F32, 0, &at, &e) == DP_OK);
    float *out = malloc(n_out * sizeof *out);
    ck_assert(dp_attention_run(at, qkv, batch, out, &e) == DP_OK);
    att_ctx c = { batch, T, Wd, H, wl, malloc(n_out * sizeof(double)) };
    double *xd = to_double(qkv, n_qkv);
    att_loss(&c, xd);
    for (size_t i = 0; i < n_out; i++)
        ck_assert_msg(fabs(out[i] - c.y[i]) < 1e-5, "attention reference differs from the op at %zu", i);
    char what[96];
    snprintf(what, sizeof what, "attention T=%d W=%d heads=%d batch=%d (q, k, v)", T, Wd, H, batch);
    report(what, fd_check(att_loss, &c, xd, n_qkv, dqkv, entries, OP_STEP, 4), OP_BOUND);
    dp_attention_free(at);
    dp_attention_grad_free(ag);
    dp_nn_free(nn);
    free(qkv); free(wl); free(dqkv); free(out); free(c.y); free(xd);
}

START_TEST(attention_backward_one_block) { attention_case(23, 16, 2, 2, 600); }
END_TEST
/* 150 tokens: row blocks of 64, 64 and a tail of 22 */
START_TEST(attention_backward_row_blocks) { attention_case(150, 16, 2, 2, 300); }
END_TEST

/* ---- one transformer block ------------------------------------------------------------------ */

static dp_status hashed_read(void *ctx, const char *name, float *dst, size_t n, dp_err *err)
{
    uint64_t s = 1469598103934665603ull;
    for (const char *c = name; *c; c++)
        s = (s ^ (unsigned char)*c) * 1099511628211ull;
    s |= 1;
    double base = 0, amp = 0.15;
    if (strstr(name, "ln_"))
        base = strstr(name, "weight") ? 1.0 : 0.0, amp = 0.3;
    if (strstr(name, "bias") && !strstr(name, "ln_"))
        amp = 0.2;
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(base + amp * urand(&s));
    (void)ctx; (void)err;
    return DP_OK;
}

typedef struct block_ctx {
    int batch, T, W, H;
    float *ln1g, *ln1b, *ln2g, *ln2b, *wqkv, *bqkv, *wo, *bo, *wfc, *bfc, *wp, *bp;
    const float *wl;
    double *h, *qkv, *att, *x1, *z, *x2;
} block_ctx;

static float *read_new(const char *name, size_t n)
{
    float *a = malloc(n * sizeof *a);
    hashed_read(NULL, name, a, n, NULL);
    return a;
}

static void ref_block(block_ctx *b, const double *x)
{
    const int W = b->W;
    const size_t rows = (size_t)b->batch * b->T;
    ref_ln(x, (int)rows, W, b->ln1g, b->ln1b, b->h);
    ref_linear(b->h, (int)rows, W, 3 * W, b->wqkv, b->bqkv, b->qkv);
    ref_attention(b->qkv, b->batch, b->T, W, b->H, b->att);
    ref_linear(b->att, (int)rows, W, W, b->wo, b->bo, b->x1);
    for (size_t i = 0; i < rows * W; i++)
        b->x1[i] += x[i];
    ref_ln(b->x1, (int)rows, W, b->ln2g, b->ln2b, b->h);
    ref_linear(b->h, (int)rows, W, 4 * W, b->wfc, b->bfc, b->z);
    for (size_t i = 0; i < rows * 4 * W; i++)
        b->z[i] = ref_gelu(b->z[i]);
    ref_linear(b->z, (int)rows, 4 * W, W, b->wp, b->bp, b->x2);
    for (size_t i = 0; i < rows * W; i++)
        b->x2[i] += b->x1[i];
}

static double block_loss(void *c, const double *x)
{
    block_ctx *b = c;
    ref_block(b, x);
    return dot_w(b->wl, b->x2, (size_t)b->batch * b->T * b->W);
}

START_TEST(block_backward)
{
    const int batch = 2, T = 140, W = 32, H = 2;     /* 140 tokens: a short last row block */
    const size_t rows = (size_t)batch * T, n = rows * W;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    dp_model_config cfg;
    memset(&cfg, 0, sizeof cfg);
    dp_weight_source src = { NULL, &cfg, hashed_read, NULL };
    float *scratch = malloc((size_t)4 * W * W * sizeof *scratch);
    dp_block blk;
    ck_assert_msg(dp_block_build(nn, &src, "blk", W, (int)rows, DP_C_F32, scratch, &blk, &e) == DP_OK, "%s", e.msg);
    dp_block_grad bg;
    ck_assert_msg(dp_block_grad_build(nn, &blk, (int)rows, &bg, &e) == DP_OK, "%s", e.msg);
    ck_assert(dp_block_grad_bytes(&bg) >= (size_t)12 * W * W * sizeof(float));
    dp_attention *at;
    dp_attention_grad *ag;
    ck_assert(dp_attention_create(nn, T, W, H, batch, DP_C_F32, 0, &at, &e) == DP_OK);
    ck_assert(dp_attention_grad_create(nn, T, W, H, batch, &ag, &e) == DP_OK);
    dp_block_grad_arena ga;
    ck_assert(dp_block_grad_arena_alloc(&ga, rows, W, &e) == DP_OK);

    float *x = rand_f(n, 21, 0, 1), *wl = rand_f(n, 22, 0, 1), *dx = malloc(n * sizeof *dx);
    memcpy(dx, wl, n * sizeof *dx);
    ck_assert_msg(dp_block_backward(nn, &blk, &bg, at, ag, &ga, x, dx, batch, T, &e) == DP_OK, "%s", e.msg);

    block_ctx c = { batch, T, W, H,
                    read_new("blk.ln_1.weight", W), read_new("blk.ln_1.bias", W),
                    read_new("blk.ln_2.weight", W), read_new("blk.ln_2.bias", W),
                    read_new("blk.attn.in_proj_weight", (size_t)3 * W * W), read_new("blk.attn.in_proj_bias", 3 * W),
                    read_new("blk.attn.out_proj.weight", (size_t)W * W), read_new("blk.attn.out_proj.bias", W),
                    read_new("blk.mlp.c_fc.weight", (size_t)4 * W * W), read_new("blk.mlp.c_fc.bias", 4 * W),
                    read_new("blk.mlp.c_proj.weight", (size_t)4 * W * W), read_new("blk.mlp.c_proj.bias", W),
                    wl, malloc(n * sizeof(double)), malloc(3 * n * sizeof(double)), malloc(n * sizeof(double)),
                    malloc(n * sizeof(double)), malloc(4 * n * sizeof(double)), malloc(n * sizeof(double)) };
    /* the reference is the op: dp_block_run's f32 output equals it */
    dp_block_arena fa;
    ck_assert(dp_block_arena_alloc(&fa, rows, W, DP_C_F32, &e) == DP_OK);
    memcpy(fa.x, x, n * sizeof *x);
    ck_assert(dp_block_run(nn, &blk, at, &fa, batch, T, DP_C_F32, NULL, &e) == DP_OK);
    double *xd = to_double(x, n);
    ref_block(&c, xd);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(fa.x[i] - c.x2[i]));
    printf("  block: f32 forward vs double reference max |diff| %.2e\n", worst);
    ck_assert(worst < 1e-4);
    report("one transformer block (2 x 140 tokens, width 32)", fd_check(block_loss, &c, xd, n, dx, 160, OP_STEP, 5), OP_BOUND);

    float *arrays[] = { c.ln1g, c.ln1b, c.ln2g, c.ln2b, c.wqkv, c.bqkv, c.wo, c.bo, c.wfc, c.bfc, c.wp, c.bp };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        free(arrays[i]);
    double *d[] = { c.h, c.qkv, c.att, c.x1, c.z, c.x2, xd };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        free(d[i]);
    dp_block_arena_free(&fa);
    dp_block_grad_arena_free(&ga);
    dp_attention_free(at);
    dp_attention_grad_free(ag);
    dp_block_grad_free(&bg);
    dp_block_free(&blk);
    dp_nn_free(nn);
    free(scratch); free(x); free(wl); free(dx);
}
END_TEST

/* ---- the prompt re-mix ------------------------------------------------------------------------ */

START_TEST(prompts_mix_backward)
{
    /* exact in closed form: first block replaces rows (grad 1 to the prompt, 0 through), later
     * blocks keep KEEP of the rows and (1 - KEEP) of the prompt */
    float dx[2][3][2], dp[2][2];
    for (int first = 0; first < 2; first++) {
        for (int s = 0; s < 2; s++)
            for (int r = 0; r < 3; r++)
                for (int i = 0; i < 2; i++)
                    dx[s][r][i] = (float)(1 + s * 6 + r * 2 + i);
        memset(dp, 0, sizeof dp);
        /* prompt rows are rows 1..2 of each 3-row sequence */
        dp_prompts_mix_backward(&dx[0][1][0], 2, 6, &dp[0][0], 2, 2, first);
        float to_p = first ? 1.0f : 1.0f - DP_PROMPT_KEEP, to_x = first ? 0.0f : DP_PROMPT_KEEP;
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < 2; i++) {
                float a = (float)(1 + (r + 1) * 2 + i), b = (float)(1 + 6 + (r + 1) * 2 + i);
                ck_assert_float_eq_tol(dp[r][i], to_p * a + to_p * b, 1e-5f);
                ck_assert_float_eq_tol(dx[0][r + 1][i], to_x * a, 1e-6f);
                ck_assert_float_eq_tol(dx[1][r + 1][i], to_x * b, 1e-6f);
            }
        ck_assert_float_eq(dx[0][0][0], 1.0f);      /* other rows untouched */
    }
}
END_TEST

/* ---- whole towers on the golden tiny model ------------------------------------------------------ */

typedef double (*param_loss_fn)(void *ctx, const float *params);

/* Central differences on chosen entries of the f32 parameter vector p (restored afterwards),
 * divided by the step actually taken after rounding to f32. */
static fd_result tower_fd(param_loss_fn loss, void *ctx, float *p, const size_t *idx, int count,
                          const float *g, float step, const char *what)
{
    fd_result r = { 0, 0, 0 };
    for (int c = 0; c < count; c++) {
        size_t i = idx[c];
        float keep = p[i];
        p[i] = keep + step;
        float xp = p[i];
        double lp = loss(ctx, p);
        p[i] = keep - step;
        float xm = p[i];
        double lm = loss(ctx, p);
        p[i] = keep;
        double fd = (lp - lm) / ((double)xp - xm);
        printf("    %s[%zu]: analytic %+.5e  fd %+.5e\n", what, i, g[i], fd);
        r.max_err = fmax(r.max_err, fabs(fd - g[i]));
        r.max_fd = fmax(r.max_fd, fabs(fd));
        r.checked++;
    }
    loss(ctx, p);
    return r;
}

typedef struct tiny_model {
    dp_clip_file *clip;
    const dp_model_config *cfg;
    dp_dapo_params dapo;
    dp_weight_source src;
    dp_nn *nn;
} tiny_model;

static void tiny_open(tiny_model *m)
{
    dp_err e;
    memset(m, 0, sizeof *m);
    ck_assert_msg(dp_clip_open(golden_path("tiny/clip.safetensors"), &m->clip, &e) == DP_OK, "%s", e.msg);
    m->cfg = dp_clip_config(m->clip);
    ck_assert_msg(dp_dapo_load(golden_path("tiny/dapo.safetensors"), m->cfg, &m->dapo, &e) == DP_OK, "%s", e.msg);
    m->src = dp_clip_weight_source(m->clip);
    ck_assert(dp_nn_create(2, &m->nn, &e) == DP_OK);
}

static void tiny_close(tiny_model *m)
{
    dp_nn_free(m->nn);
    dp_dapo_free(&m->dapo);
    dp_clip_close(m->clip);
}

typedef struct vision_ctx {
    dp_vision *v;
    dp_vision_grad *g;
    const float *pre;
    int batch, GG, W, E;
    float *wf[DP_FEATURE_LAYERS], *wg;
} vision_ctx;

static double vision_loss(void *c, const float *tokens)
{
    vision_ctx *vc = c;
    dp_err e;
    ck_assert(dp_vision_set_visual_tokens(vc->v, tokens, &e) == DP_OK);
    ck_assert_msg(dp_vision_grad_forward(vc->g, vc->pre, vc->batch, &e) == DP_OK, "%s", e.msg);
    double s = 0;
    const size_t nf = (size_t)vc->GG * vc->W;
    for (int b = 0; b < vc->batch; b++) {
        for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
            const float *f = dp_vision_grad_features(vc->g, j, b), *w = vc->wf[j] + b * nf;
            for (size_t i = 0; i < nf; i++)
                s += (double)w[i] * f[i];
        }
        const float *gl = dp_vision_grad_global(vc->g, b), *w = vc->wg + (size_t)b * vc->E;
        for (int i = 0; i < vc->E; i++)
            s += (double)w[i] * gl[i];
    }
    return s;
}

START_TEST(vision_tower_tiny)
{
    tiny_model m;
    tiny_open(&m);
    dp_err e;
    const int batch = 2, S = 112;
    dp_vision_options opt = { .image_size = S, .max_batch = batch, .dt = DP_C_F32,
                              .feature_layers = { 6, 12, 18, 24 }, .record_taps = 1 };
    dp_vision *v;
    ck_assert_msg(dp_vision_build(m.nn, &m.src, &opt, m.dapo.visual_tokens, m.dapo.adapter_w,
                                  m.dapo.adapter_b, &v, &e) == DP_OK, "%s", e.msg);
    dp_vision_grad *g;
    ck_assert_msg(dp_vision_grad_create(v, batch, &g, &e) == DP_OK, "%s", e.msg);
    const int W = m.cfg->vision_width, E = m.cfg->embed_dim, L = m.cfg->vision_layers, G = S / 14, GG = G * G;
    printf("vision tower (tiny, %d blocks, width %d, batch %d): training state %zu bytes\n", L, W, batch,
           dp_vision_grad_peak_bytes(g));
    ck_assert(dp_vision_grad_backward(g, NULL, NULL, NULL, &e) == DP_E_ARG);   /* before a forward */
    ck_assert(dp_vision_grad_forward(g, NULL, 1, &e) == DP_E_ARG);
    float *pre = rand_f((size_t)batch * 3 * S * S, 31, 0, 1.8);

    /* the training forward gives the inference forward's numbers */
    ck_assert(dp_vision_run(v, pre, batch, NULL, &e) == DP_OK);
    ck_assert_msg(dp_vision_grad_forward(g, pre, batch, &e) == DP_OK, "%s", e.msg);
    double worst = 0, mag = 0;
    for (int b = 0; b < batch; b++) {
        for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
            const float *mine = dp_vision_grad_features(g, j, b), *tap = dp_vision_tap(v, 1 + j, b) + W;
            for (size_t i = 0; i < (size_t)GG * W; i++) {
                worst = fmax(worst, fabs(mine[i] - tap[i]));
                mag = fmax(mag, fabs(tap[i]));
            }
        }
        for (int i = 0; i < E; i++) {
            worst = fmax(worst, fabs(dp_vision_grad_global(g, b)[i] - dp_vision_global(v, b)[i]));
            mag = fmax(mag, fabs(dp_vision_global(v, b)[i]));
        }
    }
    printf("  training forward vs dp_vision_run: max |diff| %.2e of magnitude %.2e\n", worst, mag);
    ck_assert(worst <= 1e-6 * mag);
    ck_assert(dp_vision_grad_features(g, 4, 0) == NULL && dp_vision_grad_global(g, batch) == NULL);

    vision_ctx c = { v, g, pre, batch, GG, W, E, { NULL }, rand_f((size_t)batch * E, 40, 0, 1) };
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        c.wf[j] = rand_f((size_t)batch * GG * W, 41 + j, 0, 1);
    const size_t n_tok = (size_t)L * DP_VISUAL_PROMPTS * W;
    float *tokens = malloc(n_tok * sizeof *tokens), *d_tok = calloc(n_tok, sizeof *d_tok);
    memcpy(tokens, m.dapo.visual_tokens, n_tok * sizeof *tokens);
    double mean_abs = 0;
    for (size_t i = 0; i < n_tok; i++)
        mean_abs += fabs(tokens[i]) / n_tok;
    vision_loss(&c, tokens);
    const float *df[DP_FEATURE_LAYERS] = { c.wf[0], c.wf[1], c.wf[2], c.wf[3] };
    ck_assert_msg(dp_vision_grad_backward(g, df, c.wg, d_tok, &e) == DP_OK, "%s", e.msg);
    /* blocks 1 (replaced rows), 6 (last before feature layer 6), 7, 24, plus two random ones */
    int layers[6] = { 0, 5, 6, 23 };
    size_t idx[6];
    uint64_t s = 77;
    for (int k = 0; k < 6; k++) {
        int l = k < 4 ? layers[k] : (int)((urand(&s) + 1) * 0.5 * L) % L;
        int r = (int)((urand(&s) + 1) * 0.5 * DP_VISUAL_PROMPTS) % DP_VISUAL_PROMPTS;
        int col = (int)((urand(&s) + 1) * 0.5 * W) % W;
        idx[k] = ((size_t)l * DP_VISUAL_PROMPTS + r) * W + col;
    }
    printf("  visual tokens: mean |value| %.3e; step 1e-2\n", mean_abs);
    fd_result r = tower_fd(vision_loss, &c, tokens, idx, 6, d_tok, 1e-2f, "d visual_tokens");
    report("vision tower -> visual tokens (tiny, f32 forward, step 1e-2)", r, 2e-2);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        free(c.wf[j]);
    free(c.wg); free(tokens); free(d_tok); free(pre);
    dp_vision_grad_free(g);
    dp_vision_free(v);
    tiny_close(&m);
}
END_TEST

typedef struct text_ctx {
    dp_text *t;
    dp_text_grad *g;
    size_t n_ctx;
    int states, E;
    const float *wf, *wa;
} text_ctx;

/* p = [normal_ctx | abnormal_ctx | layer_tokens] */
static double text_loss(void *c, const float *p)
{
    text_ctx *tc = c;
    dp_err e;
    ck_assert(dp_text_set_prompts(tc->t, p, p + tc->n_ctx, p + 2 * tc->n_ctx, &e) == DP_OK);
    dp_text_features tf;
    ck_assert_msg(dp_text_grad_forward(tc->g, &tf, &e) == DP_OK, "%s", e.msg);
    double s = 0;
    for (size_t i = 0; i < (size_t)tc->states * tc->E; i++)
        s += (double)tc->wf[i] * tf.features[i];
    for (int i = 0; i < tc->E; i++)
        s += (double)tc->wa[i] * tf.abnormal[i];
    dp_text_features_free(&tf);
    return s;
}

START_TEST(text_tower_tiny)
{
    tiny_model m;
    tiny_open(&m);
    dp_err e;
    dp_tokenizer *tok;
    char vocab[1024];
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    ck_assert_msg(dp_tokenizer_load(vocab, &tok, &e) == DP_OK, "%s", e.msg);
    const char *defects[] = { "hole", "scratch", "faulty imprint", "discoloration" };
    const int D = 4, states = 1 + D, W = m.cfg->text_width, E = m.cfg->embed_dim, L = m.cfg->text_layers;
    dp_text *t;
    /* chunks of 16 sequences cut through states (50 sequences: 16, 16, 16, 2) */
    ck_assert_msg(dp_text_build(m.nn, &m.src, DP_C_F32, 16, m.dapo.normal_ctx, m.dapo.abnormal_ctx,
                                m.dapo.layer_tokens, &t, &e) == DP_OK, "%s", e.msg);
    dp_text_grad *g;
    ck_assert(dp_text_grad_create(t, tok, defects, 0, &g, &e) == DP_E_ARG);
    ck_assert_msg(dp_text_grad_create(t, tok, defects, D, &g, &e) == DP_OK, "%s", e.msg);
    printf("text tower (tiny, %d blocks, width %d, %d states): training state %zu bytes\n", L, W, states,
           dp_text_grad_peak_bytes(g));
    const size_t n_ctx = (size_t)DP_ENSEMBLE * DP_CONTEXT_TOKENS * W, n_lt = (size_t)L * DP_TEXT_PROMPTS * W;
    const size_t n_p = 2 * n_ctx + n_lt;
    float *p = malloc(n_p * sizeof *p), *dp = calloc(n_p, sizeof *dp);
    ck_assert(dp_text_grad_backward(g, NULL, NULL, dp, dp + n_ctx, dp + 2 * n_ctx, &e) == DP_E_ARG);

    /* the training forward gives dp_text_encode's numbers */
    dp_text_features ref, mine;
    ck_assert(dp_text_encode(t, tok, defects, D, &ref, &e) == DP_OK);
    ck_assert_msg(dp_text_grad_forward(g, &mine, &e) == DP_OK, "%s", e.msg);
    double worst = 0;
    for (int i = 0; i < states * E; i++)
        worst = fmax(worst, fmax(fabs(mine.features[i] - ref.features[i]),
                                 fabs(mine.unnormalized[i] - ref.unnormalized[i])));
    for (int i = 0; i < E; i++)
        worst = fmax(worst, fabs(mine.abnormal[i] - ref.abnormal[i]));
    for (int s = 0; s < states; s++)
        ck_assert_int_eq(mine.pool_index[s], ref.pool_index[s]);
    printf("  training forward vs dp_text_encode: max |diff| %.2e (unit features)\n", worst);
    ck_assert(worst <= 1e-6);
    dp_text_features_free(&ref);
    dp_text_features_free(&mine);

    memcpy(p, m.dapo.normal_ctx, n_ctx * sizeof *p);
    memcpy(p + n_ctx, m.dapo.abnormal_ctx, n_ctx * sizeof *p);
    memcpy(p + 2 * n_ctx, m.dapo.layer_tokens, n_lt * sizeof *p);
    text_ctx c = { t, g, n_ctx, states, E, rand_f((size_t)states * E, 50, 0, 1), rand_f((size_t)E, 51, 0, 1) };
    text_loss(&c, p);
    ck_assert_msg(dp_text_grad_backward(g, c.wf, c.wa, dp, dp + n_ctx, dp + 2 * n_ctx, &e) == DP_OK, "%s", e.msg);
    double mean_abs = 0;
    for (size_t i = 0; i < n_p; i++)
        mean_abs += fabs(p[i]) / n_p;
    /* normal context (member 9), abnormal context (members 4, 9), deep prompts of blocks 1
     * (replaced rows), 2 and 12 (re-mixed) */
    size_t idx[6] = {
        ((size_t)9 * DP_CONTEXT_TOKENS + 4) * W + 17,
        n_ctx + ((size_t)4 * DP_CONTEXT_TOKENS + 2) * W + 9, n_ctx + ((size_t)9 * DP_CONTEXT_TOKENS + 1) * W + 30,
        2 * n_ctx + 7, 2 * n_ctx + ((size_t)1 * DP_TEXT_PROMPTS + 3) * W + 1,
        2 * n_ctx + ((size_t)11 * DP_TEXT_PROMPTS + 2) * W + 12 };
    /* the context vectors are small (mean |value| ~1.6e-2) and the tower is strongly curved
     * in them: a step of 1e-3 still shows the h^2 term (~10 % on one entry), 3e-4 is past it
     * while the f32 noise of the loss stays ~1e-3 of the largest gradient */
    printf("  prompts: mean |value| %.3e; step 3e-4\n", mean_abs);
    fd_result r = tower_fd(text_loss, &c, p, idx, 6, dp, 3e-4f, "d [normal_ctx|abnormal_ctx|layer_tokens]");
    report("text tower -> contexts and deep prompts (tiny, f32 forward, step 3e-4)", r, 2e-2);
    free((void *)c.wf); free((void *)c.wa); free(p); free(dp);
    dp_text_grad_free(g);
    dp_text_free(t);
    dp_tokenizer_free(tok);
    tiny_close(&m);
}
END_TEST

Suite *gradcheck_suite(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, linear_backward);
    tcase_add_test(tc, quickgelu_backward);
    tcase_add_test(tc, layernorm_backward);
    tcase_add_test(tc, attention_backward_one_block);
    tcase_add_test(tc, attention_backward_row_blocks);
    tcase_add_test(tc, block_backward);
    tcase_add_test(tc, prompts_mix_backward);
    suite_add_tcase(s, tc);
    TCase *towers = tcase_create("towers");
    tcase_set_timeout(towers, 900);
    tcase_add_test(towers, vision_tower_tiny);
    tcase_add_test(towers, text_tower_tiny);
    suite_add_tcase(s, towers);
    return s;
}
