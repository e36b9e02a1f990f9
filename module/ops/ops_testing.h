/* Test interface of the op layer: introspection that only tests and benchmarks use. */
#ifndef DP_OPS_TESTING_H
#define DP_OPS_TESTING_H

#include "nn.h"

/* Number of primitives created so far (tests check the per-image path creates none). */
int dp_nn_primitive_count(const dp_nn *nn);

/* dp_attention_create without the fused kernel: the oneDNN matmul + softmax path whatever the
 * ISA level, so tests hold both paths to the same references. */
dp_status dp_attention_create_unfused(dp_nn *nn, int tokens, int width, int heads, int max_batch,
                                      dp_dtype_c dt, int causal, dp_attention **out, dp_err *err);
/* dp_linear_init that keeps an f32 layer on the matmul whatever the ISA level, so tests hold
 * both kernels to the same references (linear.c). */
dp_status dp_linear_init_matmul(dp_nn *nn, dp_linear *lin, const float *w_nk, const float *bias,
                                int in, int out, int m_hint, dp_dtype_c dt, dp_err *err);
/* The kernel a linear layer runs on: "1x1 convolution" or "matmul". Static string. */
const char *dp_linear_kernel(const dp_linear *lin);
/* Which path an attention object runs, e.g. "fused AVX2+FMA". Static string. */
const char *dp_attention_path(const dp_attention *at);
/* The fused attention kernel's softmax exp (exp_avx2.h, dp_exp_avx2_nonpos) on n floats, n a
 * multiple of 8; x and y borrowed. 0 (y untouched) below the AVX2 level, where the kernel does
 * not run, else 1. */
int dp_attn_softmax_exp(const float *x, float *y, size_t n);
/* Runs only the oneDNN u8 x s8 -> s32 matmul of an int8 layer for m rows, on the quantised rows
 * and sums already in nn's scratch (no quantisation, no epilogue): the plain int8 matmul rate
 * the benchmark compares the tower with. The layer must have run for m rows before. */
dp_status dp_linear_int8_matmul_only(dp_nn *nn, const dp_linear *lin, int m, dp_err *err);

#endif
