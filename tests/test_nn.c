/* The oneDNN op layer against plain double-precision references: linear with every epilogue,
 * layer norm, attention (unmasked and causal, with and without a short last row block; the fused
 * kernel and the oneDNN path), in f32 and bf16; the int8 linear against the same rule computed in
 * double, at the saturation edge of CPUs without VNNI, with NaN rows; the instruction-set cap
 * (isa.h) as our dispatch sees it, here and in a child process under ONEDNN_MAX_CPU_ISA=SSE41. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isa.h"
#include "nn.h"
#include "ops_testing.h"
#include "softmax_rows.h"

static float frand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (float)((*s >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *rand_array(size_t n, uint64_t seed, float amp)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = amp * frand(&seed);
    return a;
}

/* Stores f32 values in the compute type (bf16 rounds) and returns what the op will see. */
static void *to_dt(const float *src, size_t n, dp_dtype_c dt, float *seen)
{
    void *out = malloc(n * dp_dtype_size(dt));
    for (size_t i = 0; i < n; i++) {
        if (dt == DP_C_BF16) {
            ((uint16_t *)out)[i] = dp_f32_to_bf16(src[i]);
            seen[i] = dp_bf16_to_f32(((uint16_t *)out)[i]);
        } else {
            ((float *)out)[i] = src[i];
            seen[i] = src[i];
        }
    }
    return out;
}

static double max_rel(const float *a, const double *ref, size_t n)
{
    double m = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(ref[i]));
        d = fmax(d, fabs(a[i] - ref[i]));
    }
    return d / (m > 0 ? m : 1);
}

/* matmul: the layer kept on the matmul (dp_linear_init_matmul); else the kernel dp_linear_init
 * chooses, which for f32 at the AVX2 level is the 1x1 convolution (linear.c). */
static void linear_case_kernel(dp_dtype_c dt, dp_epilogue epi, int M, int K, int N, int matmul)
{
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *x = rand_array((size_t)M * K, 1, 1.0f), *w = rand_array((size_t)N * K, 2, 0.2f);
    float *b = rand_array((size_t)N, 3, 0.5f), *w_seen = malloc((size_t)N * K * 4), *x_seen = malloc((size_t)M * K * 4);
    void *wd = to_dt(w, (size_t)N * K, dt, w_seen);   /* the layer reorders from f32; bf16 rounds the same way */
    free(wd);
    void *xd = to_dt(x, (size_t)M * K, dt, x_seen);
    dp_linear lin;
    ck_assert_msg((matmul ? dp_linear_init_matmul : dp_linear_init)(nn, &lin, w, b, K, N, M, dt, &e) == DP_OK,
                  "%s", e.msg);
    const char *kernel = dp_linear_kernel(&lin);
    const int conv = strcmp(kernel, "1x1 convolution") == 0;
    if (dt == DP_C_F32 && !matmul && dp_isa_level() == DP_ISA_AVX2)
        ck_assert_msg(conv, "f32 %dx%dx%d at AVX2 runs on the %s", M, K, N, kernel);
    else
        ck_assert_msg(!conv, "%dx%dx%d (%s, level %s) runs on the 1x1 convolution", M, K, N,
                      matmul ? "kept on the matmul" : "auto", dp_isa_name(dp_isa_level()));
    /* f32 weights kept row-major K x N: rows a whole number of 4 KiB pages long are padded by
     * one cache line (linear.c, pad_weight_rows) */
    if (dt == DP_C_F32 && lin.wmd.format_kind == dnnl_blocked &&
        lin.wmd.format_desc.blocking.inner_nblks == 0 && lin.wmd.format_desc.blocking.strides[1] == 1) {
        const long row = (long)lin.wmd.format_desc.blocking.strides[0];
        const int padded = (N * 4) % 4096 == 0 && 1.0 / N + 1.0 / M >= 0.0038;
        ck_assert_msg(row == (padded ? N + 16 : N), "weights row stride %ld for N %d, M %d", row,
                      N, M);
    }
    float *y = malloc((size_t)M * N * 4);
    double *ref = malloc((size_t)M * N * sizeof *ref);
    for (int i = 0; i < M * N; i++)
        y[i] = epi == DP_EPI_ACCUMULATE ? 0.25f * (float)(i % 7) : 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double z = b[n];
            for (int k = 0; k < K; k++)
                z += (double)x_seen[(size_t)m * K + k] * w_seen[(size_t)n * K + k];
            if (epi == DP_EPI_QUICKGELU)
                z = z / (1 + exp(-1.702 * z));
            if (epi == DP_EPI_ACCUMULATE)
                z += 0.25 * ((m * N + n) % 7);
            ref[(size_t)m * N + n] = z;
        }
    ck_assert_msg(dp_linear_run(nn, &lin, xd, M, K, y, N, DP_C_F32, epi, &e) == DP_OK, "%s", e.msg);
    double rel = max_rel(y, ref, (size_t)M * N);
    printf("  linear %s %dx%dx%d epilogue %d, %s: max error %.2e of magnitude\n", dt ? "bf16" : "f32",
           M, K, N, (int)epi, kernel, rel);
    ck_assert(rel < (dt == DP_C_BF16 ? 1e-3 : 1e-6));   /* bf16 inputs are exact; f32 accumulation */
    if (epi != DP_EPI_ACCUMULATE) {
        /* another row count on the same weights: a primitive of its own */
        float *y1 = calloc((size_t)N, 4);
        ck_assert_msg(dp_linear_run(nn, &lin, xd, 1, K, y1, N, DP_C_F32, epi, &e) == DP_OK, "%s", e.msg);
        ck_assert(max_rel(y1, ref, (size_t)N) < (dt == DP_C_BF16 ? 1e-3 : 1e-6));
        free(y1);
    }
    if (conv) {
        /* the convolution takes dense rows only: anything else is refused, not misread */
        ck_assert(dp_linear_run(nn, &lin, xd, M - 1, K + 1, y, N, DP_C_F32, epi, &e) == DP_E_ARG);
        ck_assert_msg(strstr(e.msg, "dense") != NULL, "%s", e.msg);
    }
    dp_linear_free(&lin);
    dp_nn_free(nn);
    free(x); free(w); free(b); free(w_seen); free(x_seen); free(xd); free(y); free(ref);
}

static void linear_case_sized(dp_dtype_c dt, dp_epilogue epi, int M, int K, int N)
{
    linear_case_kernel(dt, epi, M, K, N, 0);
    if (dt == DP_C_F32)
        linear_case_kernel(dt, epi, M, K, N, 1);
}

static void linear_case(dp_dtype_c dt, dp_epilogue epi)
{
    linear_case_sized(dt, epi, 37, 96, 80);
}

START_TEST(linear_f32)
{
    linear_case(DP_C_F32, DP_EPI_NONE);
    linear_case(DP_C_F32, DP_EPI_QUICKGELU);
    linear_case(DP_C_F32, DP_EPI_ACCUMULATE);
    /* rows of 4 KiB and 12 KiB: the padded weight layout, every epilogue; with 400 rows the
     * plain one (oneDNN packs the weights itself there) */
    linear_case_sized(DP_C_F32, DP_EPI_NONE, 21, 64, 1024);
    linear_case_sized(DP_C_F32, DP_EPI_QUICKGELU, 9, 40, 3072);
    linear_case_sized(DP_C_F32, DP_EPI_ACCUMULATE, 21, 64, 1024);
    linear_case_sized(DP_C_F32, DP_EPI_NONE, 400, 32, 3072);
    /* K not a multiple of the convolution's 8-channel blocks (ViT-L/14's patch embedding has
     * 588 inputs), which it pads */
    linear_case_sized(DP_C_F32, DP_EPI_NONE, 30, 588 / 4 * 4 + 3, 64);
}
END_TEST
/* Without native bf16 (AVX2 CPUs) the model runs f32 (dp_model_load falls back) and the op
 * layer must refuse a bf16 kernel with a message, not crash or compute garbage. */
static int bf16_refused_here(const char *what, dp_status st, const dp_err *e)
{
    ck_assert_msg(st != DP_OK, "%s: bf16 accepted on a CPU without native bf16", what);
    ck_assert_msg(e->msg[0] != '\0', "%s: refusal without a message", what);
    printf("  %s bf16: CPU without native bf16, refused as expected: %s\n", what, e->msg);
    return 1;
}

START_TEST(linear_bf16)
{
    if (!dp_nn_cpu_has_bf16()) {
        dp_err e;
        dp_nn *nn;
        ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
        float w[4 * 8] = { 0 };
        dp_linear lin;
        memset(&lin, 0, sizeof lin);
        dp_status st = dp_linear_init(nn, &lin, w, NULL, 8, 4, 3, DP_C_BF16, &e);
        bf16_refused_here("linear", st, &e);
        dp_linear_free(&lin);
        dp_nn_free(nn);
        return;
    }
    linear_case(DP_C_BF16, DP_EPI_NONE);
    linear_case(DP_C_BF16, DP_EPI_QUICKGELU);
    linear_case(DP_C_BF16, DP_EPI_ACCUMULATE);
}
END_TEST

START_TEST(linear_rejects)
{
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(1, &nn, &e) == DP_OK);
    float w[4] = { 0 };
    dp_linear lin;
    ck_assert_int_eq(dp_linear_init(nn, &lin, w, NULL, 0, 2, 1, DP_C_F32, &e), DP_E_ARG);
    ck_assert(dp_linear_init(nn, &lin, w, NULL, 2, 2, 1, DP_C_F32, &e) == DP_OK);
    float x[2] = { 0 }, y[2];
    ck_assert_int_eq(dp_linear_run(nn, &lin, x, 1, 1, y, 2, DP_C_F32, DP_EPI_NONE, &e), DP_E_ARG);
    ck_assert_int_eq(dp_linear_run(nn, &lin, x, 1, 2, y, 2, DP_C_BF16, DP_EPI_ACCUMULATE, &e), DP_E_ARG);
    dp_nn *none = NULL;
    ck_assert_int_eq(dp_nn_create(0, &none, &e), DP_E_ARG);
    ck_assert_ptr_null(none);
    dp_linear_free(&lin);
    dp_nn_free(nn);
}
END_TEST

START_TEST(layernorm_both_types)
{
    const int R = 19, W = 72;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *x = rand_array((size_t)R * W, 5, 3.0f), *g = rand_array(W, 6, 1.0f), *b = rand_array(W, 7, 0.3f);
    double *ref = malloc((size_t)R * W * sizeof *ref);
    for (int r = 0; r < R; r++) {
        double mean = 0, var = 0;
        for (int i = 0; i < W; i++)
            mean += x[r * W + i];
        mean /= W;
        for (int i = 0; i < W; i++)
            var += (x[r * W + i] - mean) * (x[r * W + i] - mean);
        var /= W;
        for (int i = 0; i < W; i++)
            ref[r * W + i] = (x[r * W + i] - mean) / sqrt(var + 1e-5) * g[i] + b[i];
    }
    float *y = malloc((size_t)R * W * 4);
    uint16_t *yb = malloc((size_t)R * W * 2);
    dp_layernorm(nn, x, R, W, W, g, b, 1e-5f, y, W, DP_C_F32);
    double rel = max_rel(y, ref, (size_t)R * W);
    dp_layernorm(nn, x, R, W, W, g, b, 1e-5f, yb, W, DP_C_BF16);
    for (int i = 0; i < R * W; i++)
        y[i] = dp_bf16_to_f32(yb[i]);
    double relb = max_rel(y, ref, (size_t)R * W);
    printf("  layer norm: f32 %.2e, bf16 %.2e of magnitude\n", rel, relb);
    ck_assert(rel < 1e-6 && relb < 8e-3);
    dp_nn_free(nn);
    free(x); free(g); free(b); free(ref); free(y); free(yb);
}
END_TEST

/* unfused: the oneDNN path whatever the ISA level; amp: spread of q, k, v (larger = sharper
 * softmax, so the fused kernel's running maximum moves between key tiles); sharp: every third
 * query row is multiplied by it, so neighbouring rows' maxima differ by far more than exp's range
 * (a row given another row's maximum overflows or underflows instead of cancelling out). */
static void attention_case_rows(int T, int W, int H, int B, dp_dtype_c dt, int causal, int unfused,
                                float amp, float sharp)
{
    const int hd = W / H;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    size_t n = (size_t)B * T * 3 * W;
    float *qkv = rand_array(n, 11 + T + causal, amp), *seen = malloc(n * 4);
    for (size_t row = 0; row < (size_t)B * T; row += 3)
        for (int c = 0; c < W; c++)
            qkv[row * 3 * W + c] *= sharp;
    void *in = to_dt(qkv, n, dt, seen);
    dp_attention *at;
    ck_assert_msg((unfused ? dp_attention_create_unfused : dp_attention_create)(nn, T, W, H, B, dt, causal, &at, &e) == DP_OK,
                  "%s", e.msg);
    const char *path = dp_attention_path(at);
    int fused = strncmp(path, "fused", 5) == 0;
    ck_assert_msg(fused == (!unfused && dp_isa_level() >= DP_ISA_AVX2 && dt == DP_C_F32 && hd % 16 == 0),
                  "attention path \"%s\" at ISA level %s", path, dp_isa_name(dp_isa_level()));
    void *out = malloc((size_t)B * T * W * dp_dtype_size(dt));
    ck_assert_msg(dp_attention_run(at, in, B, out, &e) == DP_OK, "%s", e.msg);
    double *ref = malloc((size_t)B * T * W * sizeof *ref), *p = malloc((size_t)T * sizeof *p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = seen + ((size_t)b * T + i) * 3 * W + h * hd;
                double mx = -INFINITY, sum = 0;
                int last = causal ? i : T - 1;
                for (int j = 0; j <= last; j++) {
                    const float *k = seen + ((size_t)b * T + j) * 3 * W + W + h * hd;
                    double s = 0;
                    for (int d = 0; d < hd; d++)
                        s += (double)q[d] * k[d];
                    p[j] = s / sqrt((double)hd);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= last; j++)
                    sum += (p[j] = exp(p[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = 0; j <= last; j++)
                        o += p[j] / sum * seen[((size_t)b * T + j) * 3 * W + 2 * W + h * hd + d];
                    ref[((size_t)b * T + i) * W + h * hd + d] = o;
                }
            }
    float *o = malloc((size_t)B * T * W * 4);
    for (size_t i = 0; i < (size_t)B * T * W; i++)
        o[i] = dt == DP_C_BF16 ? dp_bf16_to_f32(((uint16_t *)out)[i]) : ((float *)out)[i];
    double rel = max_rel(o, ref, (size_t)B * T * W);
    printf("  attention T=%d W=%d H=%d B=%d %s%s amp %g sharp %g, %s: max error %.2e of magnitude\n",
           T, W, H, B, dt ? "bf16" : "f32", causal ? " causal" : "", amp, sharp, path, rel);
    /* f32: a score s carries an absolute error of about s * 1e-7, which exp turns into a relative
     * one; sharp rows have scores in the hundreds */
    ck_assert(rel < (dt == DP_C_BF16 ? 2e-2 : sharp > 1.0f ? 3e-5 : 1e-5));
    dp_attention_free(at);
    dp_nn_free(nn);
    free(qkv); free(seen); free(in); free(out); free(ref); free(p); free(o);
}

static void attention_case_path(int T, int W, int H, int B, dp_dtype_c dt, int causal, int unfused,
                                float amp)
{
    attention_case_rows(T, W, H, B, dt, causal, unfused, amp, 1.0f);
}

static void attention_case(int T, int W, int H, int B, dp_dtype_c dt, int causal)
{
    attention_case_path(T, W, H, B, dt, causal, 0, 1.5f);
}

START_TEST(attention_f32)
{
    attention_case(81, 64, 2, 3, DP_C_F32, 0);      /* one block per head (text shape) */
    attention_case(150, 64, 2, 2, DP_C_F32, 0);     /* 64-row blocks with a 22-row tail */
    attention_case(150, 64, 2, 2, DP_C_F32, 1);
    attention_case(81, 64, 4, 1, DP_C_F32, 1);
}
END_TEST

/* The same cases on the oneDNN path (the fused kernel's fallback), and shapes that exercise the
 * fused kernel's key tiles: several tiles with a short last one, rows not a multiple of the
 * micro-kernel's 6, one token, sharp softmax rows, head width 64 as in CLIP. */
START_TEST(attention_f32_paths)
{
    attention_case_path(81, 64, 2, 3, DP_C_F32, 0, 1, 1.5f);
    attention_case_path(150, 64, 2, 2, DP_C_F32, 0, 1, 1.5f);
    attention_case_path(150, 64, 2, 2, DP_C_F32, 1, 1, 1.5f);
    attention_case_path(81, 64, 4, 1, DP_C_F32, 1, 1, 1.5f);
    attention_case_path(203, 128, 2, 2, DP_C_F32, 0, 0, 1.5f);
    attention_case_path(203, 128, 2, 1, DP_C_F32, 1, 0, 1.5f);
    attention_case_path(203, 128, 2, 1, DP_C_F32, 0, 0, 4.0f);
    attention_case_path(1, 64, 2, 2, DP_C_F32, 0, 0, 1.5f);
    attention_case_path(17, 48, 3, 1, DP_C_F32, 1, 0, 1.5f);
    /* rows with scores in the hundreds next to rows near 1, both paths: the fused kernel keeps
     * the statistics of 8 rows in one vector each */
    attention_case_rows(203, 128, 2, 1, DP_C_F32, 0, 0, 1.5f, 60.0f);
    attention_case_rows(203, 128, 2, 1, DP_C_F32, 1, 0, 1.5f, 60.0f);
    attention_case_rows(203, 128, 2, 1, DP_C_F32, 0, 1, 1.5f, 60.0f);
    attention_case_path(81, 32, 2, 5, DP_C_F32, 0, 0, 1.5f);
    attention_case_path(81, 128, 2, 8, DP_C_F32, 0, 0, 1.5f);
}
END_TEST

/* A NaN in one key reaches every output row that attends to it (the tool refuses non-finite
 * maps): the fused kernel's exp and maxima must not swallow it. */
START_TEST(attention_nan_propagates)
{
    const int T = 100, W = 64, H = 1;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *qkv = rand_array((size_t)T * 3 * W, 5, 1.0f), *out = malloc((size_t)T * W * 4);
    qkv[(size_t)70 * 3 * W + W + 3] = NAN;      /* key 70, dimension 3 */
    dp_attention *at;
    ck_assert(dp_attention_create(nn, T, W, H, 1, DP_C_F32, 0, &at, &e) == DP_OK);
    ck_assert(dp_attention_run(at, qkv, 1, out, &e) == DP_OK);
    for (int i = 0; i < T; i++)
        ck_assert_msg(isnan(out[(size_t)i * W]), "row %d: %g (path %s)", i, out[(size_t)i * W],
                      dp_attention_path(at));
    dp_attention_free(at);
    dp_nn_free(nn);
    free(qkv); free(out);
}
END_TEST

/* The fused kernel's softmax exp on its whole domain: a sweep of [-87.4, 0] in 2^20 steps
 * within 2e-7 of exp (1.6e-7 measured over every float of that range), exactly 0 below e^-87
 * and for -inf (masked keys), exactly 1 at 0, NaN kept. */
START_TEST(attention_softmax_exp)
{
    enum { N = 1 << 20, SPECIAL = 8 };
    float *x = malloc((N + SPECIAL) * sizeof *x), *y = malloc((N + SPECIAL) * sizeof *y);
    for (int i = 0; i < N; i++)
        x[i] = -87.4f * (float)i / (float)(N - 1);
    const float special[SPECIAL] = { -INFINITY, NAN, -1e30f, -87.5f, 0.0f, -0.0f, -1e-30f, -86.99f };
    memcpy(x + N, special, sizeof special);
    if (!dp_attn_softmax_exp(x, y, N + SPECIAL)) {
        ck_assert_msg(dp_isa_level() < DP_ISA_AVX2, "the probe refused at level %s", dp_isa_name(dp_isa_level()));
        printf("  softmax exp: not run below AVX2 (the fused kernel does not run either)\n");
        free(x); free(y);
        return;
    }
    double worst = 0;
    for (int i = 0; i < N; i++) {
        if (x[i] < -87.0f) {
            ck_assert_msg(y[i] == 0.0f, "exp(%.9g) = %g, expected exactly 0 below -87", x[i], y[i]);
            continue;
        }
        double rel = fabs(y[i] / exp((double)x[i]) - 1.0);
        ck_assert_msg(rel <= 2e-7, "exp(%.9g) = %.9g, relative error %.3e", x[i], y[i], rel);
        worst = fmax(worst, rel);
    }
    const float *s = y + N;
    ck_assert(s[0] == 0.0f && isnan(s[1]) && s[2] == 0.0f && s[3] == 0.0f);
    ck_assert(s[4] == 1.0f && s[5] == 1.0f && s[6] == 1.0f);
    ck_assert(fabs(s[7] / exp((double)special[7]) - 1.0) <= 2e-7);
    printf("  softmax exp: worst relative error %.3e over %d points of [-87, 0]\n", worst, N);
    free(x); free(y);
}
END_TEST

/* oneDNN's names for the cap, as the plugin reads ONEDNN_MAX_CPU_ISA (any case; unknown names
 * are ignored, as oneDNN ignores them). */
START_TEST(isa_cap_names)
{
    ck_assert_int_eq(dp_isa_cap_from_name("AVX2"), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_cap_from_name("avx2"), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX2_VNNI"), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_cap_from_name("SSE41"), DP_ISA_GENERIC);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX"), DP_ISA_GENERIC);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX512_MIC"), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX512_CORE"), DP_ISA_AVX512);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX512_CORE_VNNI"), DP_ISA_AVX512);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX512_CORE_BF16"), DP_ISA_AVX512_BF16);
    ck_assert_int_eq(dp_isa_cap_from_name("ALL"), DP_ISA_AVX512_BF16);
    ck_assert_int_eq(dp_isa_cap_from_name("AVX3"), DP_ISA_AVX512_BF16);
    ck_assert_int_eq(dp_isa_cap_from_name(""), DP_ISA_AVX512_BF16);
    ck_assert_int_eq(dp_isa_cap_from_name(NULL), DP_ISA_AVX512_BF16);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_sse41), DP_ISA_GENERIC);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_avx), DP_ISA_GENERIC);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_avx2), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_avx2_vnni), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_avx512_mic_4ops), DP_ISA_AVX2);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_avx512_core_vnni), DP_ISA_AVX512);
    ck_assert_int_eq(dp_isa_from_onednn(dnnl_cpu_isa_avx512_core_amx), DP_ISA_AVX512_BF16);
}
END_TEST

/* Our dispatch obeys the cap in this process's environment (make check runs this suite again
 * with ONEDNN_MAX_CPU_ISA=AVX2): the level is at most the cap, equals what the CPU and oneDNN
 * allow, and every kernel choice follows it. */
START_TEST(isa_level_obeys_cap)
{
    const char *v = getenv("ONEDNN_MAX_CPU_ISA");
    if (!v || !*v)
        v = getenv("DNNL_MAX_CPU_ISA");
    dp_isa level = dp_isa_level(), cap = dp_isa_cap_from_name(v);
    dp_isa onednn = dp_isa_from_onednn(dnnl_get_effective_cpu_isa());
    char what[256];
    dp_isa_describe(what, sizeof what);
    printf("  ISA cap %s: level %s; %s\n", v ? v : "(none)", dp_isa_name(level), what);
    ck_assert_int_le(level, cap);
    ck_assert_int_le(level, dp_isa_cpu_level());
    ck_assert_int_le(onednn, cap);      /* oneDNN read the same variable */
    ck_assert_int_eq(level, onednn < dp_isa_cpu_level() ? onednn : dp_isa_cpu_level());
    ck_assert_int_eq(dp_softmax_rows_available(), level >= DP_ISA_AVX512);
    ck_assert_int_eq(dp_nn_cpu_has_bf16(), level >= DP_ISA_AVX512_BF16);
    ck_assert_int_eq(strncmp(dp_attention_kernel(64, DP_C_F32), "fused", 5) == 0, level >= DP_ISA_AVX2);
    ck_assert_int_eq(strncmp(dp_attention_kernel(64, DP_C_BF16), "fused", 5) == 0, 0);
    ck_assert_ptr_nonnull(strstr(what, dp_isa_name(level)));
    if (v && cap < dp_isa_cpu_level())
        ck_assert_ptr_nonnull(strstr(what, "capped by"));
}
END_TEST

/* The cap in a fresh process (the level is fixed at the first read): this test binary's `isa`
 * case run again under ONEDNN_MAX_CPU_ISA=SSE41, which is below every CPU this runs on, so our
 * dispatch must change (no fused attention, no AVX-512 softmax). */
START_TEST(isa_cap_in_child)
{
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert(n > 0);
    self[n] = 0;
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "env -u DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA=SSE41 CK_RUN_SUITE=nn "
             "CK_RUN_CASE=isa CK_VERBOSITY=normal '%s' 2>&1", self);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512];
    int level_line = 0, summary_ok = 0;
    while (fgets(line, sizeof line, p)) {
        level_line |= strstr(line, "ISA cap SSE41: level generic") != NULL;
        summary_ok |= strstr(line, "100%: Checks: 2, Failures: 0, Errors: 0") != NULL;
        printf("  child: %s", line);
    }
    int rc = pclose(p);
    ck_assert_msg(rc == 0 && level_line && summary_ok, "child under ONEDNN_MAX_CPU_ISA=SSE41: exit "
                  "%d, level line %d, summary %d", rc, level_line, summary_ok);
}
END_TEST

START_TEST(attention_bf16)
{
    if (!dp_nn_cpu_has_bf16()) {
        dp_err e;
        dp_nn *nn;
        ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
        dp_attention *at = NULL;
        bf16_refused_here("attention", dp_attention_create(nn, 150, 64, 2, 2, DP_C_BF16, 0, &at, &e), &e);
        ck_assert_ptr_null(at);
        dp_nn_free(nn);
        return;
    }
    attention_case(150, 64, 2, 2, DP_C_BF16, 0);
    attention_case(150, 64, 2, 2, DP_C_BF16, 1);
}
END_TEST

/* ---- int8 linear ----------------------------------------------------------------------- */

/* The quantisation rule of linear_int8.c in double: per-row u8 (zero point, 0 exact), per-channel
 * symmetric s8; returns the exact result of the integer matmul with that epilogue. */
static void int8_reference(const float *x, int M, int K, const float *w, const float *b, int N,
                           dp_epilogue epi, const float *y0, double *ref)
{
    double *sw = malloc((size_t)N * sizeof *sw);
    int *qw = malloc((size_t)N * K * sizeof *qw), *qx = malloc((size_t)K * sizeof *qx);
    for (int n = 0; n < N; n++) {
        double amax = 0;
        for (int k = 0; k < K; k++)
            amax = fmax(amax, fabs(w[(size_t)n * K + k]));
        sw[n] = amax > 0 ? amax / DP_INT8_WEIGHT_MAX : 1;
        for (int k = 0; k < K; k++)
            qw[(size_t)n * K + k] = (int)lrint(w[(size_t)n * K + k] / sw[n]);
    }
    for (int m = 0; m < M; m++) {
        double lo = 0, hi = 0;
        for (int k = 0; k < K; k++) {
            lo = fmin(lo, x[(size_t)m * K + k]);
            hi = fmax(hi, x[(size_t)m * K + k]);
        }
        double sx = (hi - lo) / DP_INT8_ACT_MAX;
        if (sx <= 0)
            sx = 1;
        double z = fmin(floor(-lo / sx + 0.5), DP_INT8_ACT_MAX);
        for (int k = 0; k < K; k++)
            qx[k] = (int)fmin(fmax(floor(x[(size_t)m * K + k] / sx + z + 0.5), 0), DP_INT8_ACT_MAX);
        for (int n = 0; n < N; n++) {
            long long acc = 0;
            for (int k = 0; k < K; k++)
                acc += (long long)(qx[k] - (int)z) * qw[(size_t)n * K + k];
            double v = sx * sw[n] * (double)acc + (b ? b[n] : 0);
            if (epi == DP_EPI_QUICKGELU)
                v = v / (1 + exp(-1.702 * v));
            if (epi == DP_EPI_ACCUMULATE)
                v += y0[(size_t)m * N + n];
            ref[(size_t)m * N + n] = v;
        }
    }
    free(sw);
    free(qw);
    free(qx);
}

/* Odd sizes: the vector loops' tails run too. */
static void int8_case(dp_epilogue epi)
{
    const int M = 37, K = 100, N = 83;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *x = rand_array((size_t)M * K, 11, 1.0f), *w = rand_array((size_t)N * K, 12, 0.2f);
    float *b = rand_array((size_t)N, 13, 0.5f);
    for (int k = 0; k < K; k++)     /* a one-sided row (as after QuickGELU) and an all-zero row */
        x[(size_t)3 * K + k] = fabsf(x[(size_t)3 * K + k]) + 0.5f, x[(size_t)5 * K + k] = 0;
    dp_linear lin;
    ck_assert_msg(dp_linear_init(nn, &lin, w, b, K, N, M, DP_C_INT8, &e) == DP_OK, "%s", e.msg);
    float *y = malloc((size_t)M * N * 4), *y0 = malloc((size_t)M * N * 4);
    for (int i = 0; i < M * N; i++)
        y[i] = y0[i] = epi == DP_EPI_ACCUMULATE ? 0.25f * (float)(i % 7) : 0;
    double *ref = malloc((size_t)M * N * sizeof *ref), *exact = malloc((size_t)M * N * sizeof *exact);
    int8_reference(x, M, K, w, b, N, epi, y0, ref);
    for (int m = 0; m < M; m++)     /* the unquantised result, for the quantisation error */
        for (int n = 0; n < N; n++) {
            double z = b[n];
            for (int k = 0; k < K; k++)
                z += (double)x[(size_t)m * K + k] * w[(size_t)n * K + k];
            if (epi == DP_EPI_QUICKGELU)
                z = z / (1 + exp(-1.702 * z));
            exact[(size_t)m * N + n] = z + y0[(size_t)m * N + n];
        }
    ck_assert_msg(dp_linear_run(nn, &lin, x, M, K, y, N, DP_C_F32, epi, &e) == DP_OK, "%s", e.msg);
    double rel_rule = max_rel(y, ref, (size_t)M * N), rel_f32 = max_rel(y, exact, (size_t)M * N);
    printf("  linear int8 epilogue %d: %.2e of magnitude from its quantisation rule, %.2e from "
           "the unquantised result\n", (int)epi, rel_rule, rel_f32);
    /* float rounding only (a saturated pair sum would be tens of per cent off) */
    ck_assert(rel_rule < 1e-5);
    ck_assert(rel_f32 < 0.02);
    /* the same shape again: no new primitive (the per-image path creates none) */
    int prims = dp_nn_primitive_count(nn);
    ck_assert(dp_linear_run(nn, &lin, x, M, K, y, N, DP_C_F32, DP_EPI_NONE, &e) == DP_OK);
    ck_assert_int_eq(dp_nn_primitive_count(nn), prims);
    dp_linear_free(&lin);
    dp_nn_free(nn);
    free(x); free(w); free(b); free(y); free(y0); free(ref); free(exact);
}

START_TEST(linear_int8)
{
    int8_case(DP_EPI_NONE);
    int8_case(DP_EPI_QUICKGELU);
    int8_case(DP_EPI_ACCUMULATE);
}
END_TEST

/* Every activation at the top of its range times every weight at the bottom of its range: the
 * largest pair sums a 16-bit lane must hold on CPUs without VNNI (vpmaddubsw saturates). The
 * result must be exact (to float rounding), not clipped. */
START_TEST(linear_int8_saturation_edge)
{
    const int M = 8, K = 256, N = 16;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *x = malloc((size_t)M * K * 4), *w = malloc((size_t)N * K * 4), *y = malloc((size_t)M * N * 4);
    for (int i = 0; i < M * K; i++)
        x[i] = 3.0f;                  /* one-sided rows: every element becomes u8 255 */
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)   /* channels of -max (and +max) weights: s8 -63 / +63 */
            w[(size_t)n * K + k] = n % 2 ? -0.5f : 0.5f;
    dp_linear lin;
    ck_assert(dp_linear_init(nn, &lin, w, NULL, K, N, M, DP_C_INT8, &e) == DP_OK);
    ck_assert_msg(dp_linear_run(nn, &lin, x, M, K, y, N, DP_C_F32, DP_EPI_NONE, &e) == DP_OK, "%s", e.msg);
    double worst = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++)
            worst = fmax(worst, fabs(y[(size_t)m * N + n] - (n % 2 ? -1.0 : 1.0) * 1.5 * K) / (1.5 * K));
    printf("  linear int8 at the u8 x s8 range edge (%d x +-%d, K %d): max error %.2e relative\n",
           DP_INT8_ACT_MAX, DP_INT8_WEIGHT_MAX, K, worst);
    ck_assert(worst < 1e-5);
    dp_linear_free(&lin);
    dp_nn_free(nn);
    free(x); free(w); free(y);
}
END_TEST

/* A NaN or an infinity in a row makes that output row NaN (fail safe); other rows unchanged. */
START_TEST(linear_int8_nonfinite_rows)
{
    const int M = 6, K = 64, N = 40;
    dp_err e;
    dp_nn *nn;
    ck_assert(dp_nn_create(2, &nn, &e) == DP_OK);
    float *x = rand_array((size_t)M * K, 21, 1.0f), *w = rand_array((size_t)N * K, 22, 0.2f);
    float *y = malloc((size_t)M * N * 4), *clean = malloc((size_t)M * N * 4);
    dp_linear lin;
    ck_assert(dp_linear_init(nn, &lin, w, NULL, K, N, M, DP_C_INT8, &e) == DP_OK);
    ck_assert(dp_linear_run(nn, &lin, x, M, K, clean, N, DP_C_F32, DP_EPI_QUICKGELU, &e) == DP_OK);
    x[(size_t)1 * K + 7] = NAN;
    x[(size_t)4 * K + 60] = INFINITY;
    ck_assert(dp_linear_run(nn, &lin, x, M, K, y, N, DP_C_F32, DP_EPI_QUICKGELU, &e) == DP_OK);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float v = y[(size_t)m * N + n];
            if (m == 1 || m == 4)
                ck_assert_msg(isnan(v), "row %d (non-finite input) gave %g", m, v);
            else
                ck_assert(v == clean[(size_t)m * N + n]);
        }
    /* refusals: a bf16 destination; a non-finite weight at load */
    ck_assert(dp_linear_run(nn, &lin, x, M, K, y, N, DP_C_BF16, DP_EPI_NONE, &e) == DP_E_ARG);
    printf("  int8 into bf16 refused: %s\n", e.msg);
    dp_linear_free(&lin);
    w[5] = INFINITY;
    ck_assert(dp_linear_init(nn, &lin, w, NULL, K, N, M, DP_C_INT8, &e) == DP_E_MODEL);
    printf("  int8 weights with an infinity refused: %s\n", e.msg);
    dp_linear_free(&lin);
    dp_nn_free(nn);
    free(x); free(w); free(y); free(clean);
}
END_TEST

Suite *nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, linear_f32);
    tcase_add_test(tc, linear_bf16);
    tcase_add_test(tc, linear_rejects);
    tcase_add_test(tc, linear_int8);
    tcase_add_test(tc, linear_int8_saturation_edge);
    tcase_add_test(tc, linear_int8_nonfinite_rows);
    tcase_add_test(tc, layernorm_both_types);
    tcase_add_test(tc, attention_f32);
    tcase_add_test(tc, attention_bf16);
    tcase_add_test(tc, attention_f32_paths);
    tcase_add_test(tc, attention_nan_propagates);
    tcase_add_test(tc, attention_softmax_exp);
    suite_add_tcase(s, tc);
    TCase *isa = tcase_create("isa");
    tcase_add_test(isa, isa_cap_names);
    tcase_add_test(isa, isa_level_obeys_cap);
    suite_add_tcase(s, isa);
    TCase *child = tcase_create("isa_child");
    tcase_set_timeout(child, 60);
    tcase_add_test(child, isa_cap_in_child);
    suite_add_tcase(s, child);
    return s;
}
