/* CLIP input normalisation of the resized 8-bit image. */
#ifndef DP_PREPROCESS_H
#define DP_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

/* OpenAI CLIP normalisation constants (float32), one home for the preprocessing and for the
 * neutral colour of masked pixels. */
#define DP_CLIP_MEAN_R 0.48145466f
#define DP_CLIP_MEAN_G 0.4578275f
#define DP_CLIP_MEAN_B 0.40821073f
#define DP_CLIP_STD_R 0.26862954f
#define DP_CLIP_STD_G 0.26130258f
#define DP_CLIP_STD_B 0.27577711f

/* CLIP normalisation: u8 RGB interleaved [S][S][3] -> float planar [3][S][S], computed in
 * float32 as (u8/255 - mean[c]) / std[c] (divide, subtract, divide), OpenAI mean/std rounded to
 * float32: mean (0.48145466, 0.4578275, 0.40821073), std (0.26862954, 0.26130258, 0.27577711).
 * Bit-exact with pre.npy.
 * rgb: borrowed, row r at rgb + r*stride; chw: borrowed, written, 3*size*size floats. */
void dp_normalize_clip(const uint8_t *rgb, int size, ptrdiff_t stride, float *chw);

#endif
