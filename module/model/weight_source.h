/* Where model building gets float32 tensors from: a checkpoint file (clip_weights.c) or a
 * generator (benchmarks, tests). Names and layouts are open_clip's. */
#ifndef DP_WEIGHT_SOURCE_H
#define DP_WEIGHT_SOURCE_H

#include <stddef.h>

#include "dp_error.h"
#include "model_config.h"

typedef struct dp_weight_source {
    void *ctx;                       /* borrowed by the source's functions */
    const dp_model_config *cfg;      /* borrowed */
    /* Fills dst[n] (caller-owned) with tensor `name`; fails naming the tensor if its element
     * count is not n. */
    dp_status (*read)(void *ctx, const char *name, float *dst, size_t n, dp_err *err);
    /* Vision positional table resized to grid x grid: (1 + grid*grid) * vision_width floats. */
    dp_status (*pos_embed)(void *ctx, int grid, float *dst, dp_err *err);
} dp_weight_source;

/* Reads tensor `name` (n floats) into a new buffer *out, owned by the caller (free); *out is
 * NULL on failure, like every constructor's output. */
dp_status dp_weights_read_new(const dp_weight_source *src, const char *name, size_t n, float **out,
                              dp_err *err);

#endif
