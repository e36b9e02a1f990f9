/* Image resampling: Pillow 9.4 compatible 8-bit resize (preprocessing, masks). */
#ifndef DP_RESAMPLE_H
#define DP_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

/* Pillow 9.4 compatible resize of 8-bit interleaved images (channels 1..4): separable, horizontal
 * pass first stored as 8-bit, then vertical; a pass with equal sizes is skipped; fixed point with
 * 22-bit weights exactly as tests/golden/README.md §1. kernel: DP_FILTER_BICUBIC (a=-0.5,
 * support 2) or DP_FILTER_BILINEAR (triangle, support 1), widened when shrinking (antialias). */
typedef enum dp_filter { DP_FILTER_BICUBIC, DP_FILTER_BILINEAR } dp_filter;

/* Bytes of workspace dp_resize_u8 needs for these sizes; 0 if the arguments are invalid. */
size_t dp_resize_u8_workspace(int sw, int sh, int dw, int dh, int channels, dp_filter f);

/* src: borrowed, sh rows of sw*channels bytes, row r at src + r*src_stride (stride may be
 * negative for bottom-up buffers). dst: borrowed, written, same layout with dst_stride.
 * workspace: borrowed scratch of at least dp_resize_u8_workspace(...) bytes, any alignment.
 * Does not allocate. Sizes <= 0 or > 65535, channels outside 1..4, too small a stride or
 * workspace -> DP_E_ARG. */
dp_status dp_resize_u8(const uint8_t *src, int sw, int sh, ptrdiff_t src_stride, int channels,
                       uint8_t *dst, int dw, int dh, ptrdiff_t dst_stride, dp_filter f,
                       void *workspace, size_t workspace_size, dp_err *err);

#endif
