/* Resizing the positional table to the run grid at load time, exactly as open_clip does. */
#ifndef DP_POS_EMBED_RESIZE_H
#define DP_POS_EMBED_RESIZE_H

#include "dp_error.h"

/* Antialiased bicubic (a=-0.5) float resize, channels-last [h][w][channels], exactly as
 * torch F.interpolate(mode='bicubic', antialias=True, align_corners=False). Runs once at load
 * time, so it allocates internally (and frees before returning).
 * src: borrowed [sh][sw][channels]; dst: borrowed, written [dh][dw][channels]. */
dp_status dp_resize_f32_bicubic_aa(const float *src, int sw, int sh, int channels,
                                   float *dst, int dw, int dh, dp_err *err);

#endif
