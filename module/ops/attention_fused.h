/* Fused f32 attention for AVX2 + FMA (see attention_fused.c); attention.c dispatches to it. */
#ifndef DP_ATTENTION_FUSED_H
#define DP_ATTENTION_FUSED_H

#include "nn.h"

typedef struct dp_attn_fused dp_attn_fused;

/* 1 when the fused kernel runs this shape and type at the plugin's ISA level (isa.h). */
int dp_attn_fused_supported(int head_dim, dp_dtype_c dt);
/* Sizes every buffer once: per thread (nthr) one head's packed K/V and the row-block buffers.
 * *out is owned by the caller (dp_attn_fused_free). */
dp_status dp_attn_fused_create(int tokens, int width, int heads, int max_batch, int causal,
                               int nthr, dp_attn_fused **out, dp_err *err);
void dp_attn_fused_free(dp_attn_fused *f);
size_t dp_attn_fused_bytes(const dp_attn_fused *f);
/* qkv [batch*tokens][3*width] f32 (borrowed) -> out [batch*tokens][width] f32 (borrowed);
 * 1 <= batch <= max_batch (checked by the caller). Allocates nothing, cannot fail. */
void dp_attn_fused_run(dp_attn_fused *f, const float *qkv, int batch, float *out);

#endif
