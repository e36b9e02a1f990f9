/* The oneDNN op layer: linear (matmul + fused bias / QuickGELU / residual add), layer norm,
 * multi-head attention and patch embedding, in f32 or bf16 compute; linear also in int8.
 *
 * Life cycle: weights are reordered once (dp_linear_init) into the layout the matmul prefers;
 * primitives are created on first use of a shape and cached in the dp_nn context; callers
 * run a warm-up pass at load time so that the per-image path finds everything cached and
 * allocates nothing. A dp_nn context is used by one thread at a time (it owns per-thread
 * scratch for its own OpenMP team). */
#ifndef DP_NN_H
#define DP_NN_H

#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#include "dp_error.h"

/* Compute type. DP_C_INT8 exists for linear layers only: their activations stay f32 in and
 * out, quantised per row inside dp_linear_run (linear_int8.c); every other op runs f32 then. */
typedef enum dp_dtype_c { DP_C_F32 = 0, DP_C_BF16 = 1, DP_C_INT8 = 2 } dp_dtype_c;

typedef struct dp_nn dp_nn;

/* threads: size of the OpenMP team used by every op (>= 1). */
dp_status dp_nn_create(int threads, dp_nn **out, dp_err *err);
void dp_nn_free(dp_nn *nn);
int dp_nn_threads(const dp_nn *nn);

/* ---- lanes: one-thread contexts for concurrent workers ----------------------------------
 * A lane group gives each of n workers a dp_nn of its own with one thread (stream, oneDNN
 * scratchpad, int8 buffers and memory objects) while the linear primitives are created once,
 * for one thread, and shared by every lane: oneDNN primitives may execute concurrently when
 * each execution has its own user scratchpad and memory objects. A primitive is created (for
 * every lane at once: memory objects, scratchpads) the first time any lane runs a shape, which
 * must happen single-threaded (the warm-up); dp_nn_lanes_freeze then turns a missing primitive
 * into an error instead of a creation, so lanes running concurrently only read the shared
 * cache. Ops given a lane run on the calling thread alone (their OpenMP regions have one
 * thread). The lanes borrow parent's engine: parent must outlive the group. */
typedef struct dp_nn_lanes dp_nn_lanes;
/* *out: caller-owned (dp_nn_lanes_free); parent: borrowed. */
dp_status dp_nn_lanes_create(dp_nn *parent, int n, dp_nn_lanes **out, dp_err *err);
void dp_nn_lanes_free(dp_nn_lanes *g);
/* Lane i (0..n-1), borrowed from g. */
dp_nn *dp_nn_lane(dp_nn_lanes *g, int i);
void dp_nn_lanes_freeze(dp_nn_lanes *g);
/* Bytes of scratchpad and int8 buffers one lane holds. */
size_t dp_nn_lane_bytes(const dp_nn *lane);
/* 1 when oneDNN's bf16 kernels run natively at the plugin's ISA level (isa.h: AVX-512 BF16 on
 * the CPU and not capped below it). */
int dp_nn_cpu_has_bf16(void);

/* Type of the activations between ops for a compute type (int8 linears take and give f32). */
static inline dp_dtype_c dp_act_dtype(dp_dtype_c t) { return t == DP_C_INT8 ? DP_C_F32 : t; }
/* Element size of the activations of a compute type. */
static inline size_t dp_dtype_size(dp_dtype_c t) { return t == DP_C_BF16 ? 2 : 4; }

/* float <-> bf16 (round to nearest even, NaN kept quiet). */
static inline uint16_t dp_f32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
static inline float dp_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}

/* ---- linear: y = x W^T + b --------------------------------------------------------- */
typedef struct dp_linear {
    int in, out;              /* K, N */
    dp_dtype_c dt;            /* type of x and W (int8: x is f32, W is s8) */
    dnnl_memory_desc_t wmd;   /* layout the weights were reordered into (4-D: the f32 layer runs
                               * on the 1x1 convolution, linear.c) */
    void *w;                  /* reordered weights, owned */
    float *bias;              /* [out] f32, owned, NULL = no bias */
    float *wscale;            /* int8 only: [out] per-output-channel weight scale, owned */
    int32_t *wsum;            /* int8 only: [out] sum over k of the s8 weights, owned */
} dp_linear;

/* int8 linears: each activation row becomes u8 in 0..DP_INT8_ACT_MAX with its own scale and
 * zero point, each weight row (output channel) s8 in +-DP_INT8_WEIGHT_MAX with its own scale.
 * Two products must fit a saturating 16-bit lane on CPUs without VNNI (linear_int8.c). */
#define DP_INT8_ACT_MAX 255
#define DP_INT8_WEIGHT_MAX 63

/* Reorders w_nk ([out][in] row-major, borrowed) into the layout its kernel (linear.c: the matmul,
 * or for f32 at the AVX2 level a 1x1 convolution) prefers for m_hint rows; copies bias (borrowed, may be NULL). dt DP_C_INT8 quantises W once to s8,
 * symmetric per output channel (linear_int8.c says how, and why 7-bit weights). */
dp_status dp_linear_init(dp_nn *nn, dp_linear *lin, const float *w_nk, const float *bias,
                         int in, int out, int m_hint, dp_dtype_c dt, dp_err *err);
void dp_linear_free(dp_linear *lin);
size_t dp_linear_bytes(const dp_linear *lin);

typedef enum dp_epilogue {
    DP_EPI_NONE = 0,
    DP_EPI_QUICKGELU = 1,     /* y = z * sigmoid(1.702 z) */
    DP_EPI_ACCUMULATE = 2     /* dst += z (residual add; dst must be f32) */
} dp_epilogue;

/* dst[m][dst_ld] (dst_dt) = epilogue(src[m][src_ld] (lin->dt) . W^T + b). An int8 layer takes
 * f32 src and needs an f32 dst; its scratch is reserved when its primitive is created (the
 * warm-up), so the per-image path allocates nothing. */
dp_status dp_linear_run(dp_nn *nn, const dp_linear *lin, const void *src, int m, int src_ld,
                        void *dst, int dst_ld, dp_dtype_c dst_dt, dp_epilogue epi, dp_err *err);

/* Creates (or finds) the primitive dp_linear_run uses for these arguments, without running it:
 * the warm-up of row counts that are not run at load. Same checks as dp_linear_run. */
dp_status dp_linear_prepare(dp_nn *nn, const dp_linear *lin, int m, int src_ld, int dst_ld,
                            dp_dtype_c dst_dt, dp_epilogue epi, dp_err *err);

/* ---- layer norm (biased variance): f32 rows in, rows of out_dt out ------------------- */
void dp_layernorm(dp_nn *nn, const float *x, int rows, int width, int x_ld, const float *gamma,
                  const float *beta, float eps, void *out, int out_ld, dp_dtype_c out_dt);

/* ---- attention -------------------------------------------------------------------------
 * qkv: [batch*tokens][3*width] (q | k | v, heads contiguous inside each), compute type dt.
 * out: [batch*tokens][width] of type dt: softmax(q k^T / sqrt(hd)) v per head, heads
 * concatenated. No mask. The scratch (packed K/V, score blocks) is sized by
 * dp_attention_prepare once per (tokens, width, heads, dt, batch). */
typedef struct dp_attention dp_attention;
/* causal: token i attends to tokens 0..i only (CLIP's usual text mask; DAPO runs without it). */
dp_status dp_attention_create(dp_nn *nn, int tokens, int width, int heads, int max_batch,
                              dp_dtype_c dt, int causal, dp_attention **out, dp_err *err);
void dp_attention_free(dp_attention *at);
dp_status dp_attention_run(dp_attention *at, const void *qkv, int batch, void *out, dp_err *err);
size_t dp_attention_bytes(const dp_attention *at);
/* The kernel dp_attention_create picks for this head width and type at the plugin's ISA level
 * (isa.h), for reports: "fused AVX2+FMA", "oneDNN matmul + AVX-512 softmax", ... Static string. */
const char *dp_attention_kernel(int head_dim, dp_dtype_c dt);

#endif
