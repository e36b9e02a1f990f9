/* Host image views (insp_image, sdk_shim/include/insp_tool.h): complete validation and conversion
 * of the inspected rectangle to packed 8-bit RGB, the input of the preprocessing chain. */
#ifndef DP_IMAGE_INPUT_H
#define DP_IMAGE_INPUT_H

#include <stdint.h>

#include "dp_error.h"
#include "dp_limits.h"
#include "insp_tool.h"
#include "preprocess.h"

/* Neutral colour of masked-out pixels: the CLIP normalisation mean * 255, rounded, so that they
 * become ~0 after normalisation and carry no texture into the model. */
#define DP_IMAGE_NEUTRAL_R ((uint8_t)(DP_CLIP_MEAN_R * 255.0 + 0.5))   /* 123 */
#define DP_IMAGE_NEUTRAL_G ((uint8_t)(DP_CLIP_MEAN_G * 255.0 + 0.5))   /* 117 */
#define DP_IMAGE_NEUTRAL_B ((uint8_t)(DP_CLIP_MEAN_B * 255.0 + 0.5))   /* 104 */

/* Validates the view completely without reading a pixel: struct_size >= INSP_IMAGE_SIZE_1_0
 * (only v1.0 members are read), width/height 1..DP_MAX_IMAGE_SIDE and at most
 * DP_MAX_IMAGE_PIXELS pixels, channels 1|3, pixel type, planar 0|1, unknown flag bits, data
 * non-NULL and aligned to the sample size, strides non-zero, multiples of the sample size and
 * large enough, planes (3-channel planar) not overlapping, the described bytes not wrapping the
 * address space, ROI inside the image (roi_w == 0 = whole image), mask_stride when a mask is
 * given, value range (finite, value_max > value_min unless both 0).
 * img: borrowed for the call. roi_*: borrowed, written with the effective ROI on success only.
 * err: borrowed, may be NULL. Every failure is DP_E_ARG with a message naming the field, its
 * value and what was expected. */
dp_status dp_image_validate(const insp_image *img, int *roi_x, int *roi_y, int *roi_w,
                            int *roi_h, dp_err *err);

/* Converts rectangle (roi_x, roi_y, roi_w, roi_h) of img into 8-bit RGB interleaved, rows packed:
 * dst[roi_h][roi_w][3]. Grey -> R=G=B; INSP_IMAGE_BGR -> swapped to RGB. Samples are mapped
 * with the view's value range (default U8 identity, U16 0..65535, F32 0..1):
 * v8 = round(clamp((v - min) / (max - min), 0, 1) * 255), NaN -> 0, computed in float as
 * (v - min) * (255 / (max - min)) (same result for integer samples). Pixels whose mask byte is 0
 * become DP_IMAGE_NEUTRAL_*. The rectangle is normally the one dp_image_validate returned; any
 * rectangle inside that effective ROI is accepted (tiles). The view is re-validated (O(1)):
 * an invalid view, a rectangle outside the effective ROI, dst NULL or threads < 1 -> DP_E_ARG
 * and dst untouched. Does not allocate; rows run in parallel on `threads` OpenMP threads.
 * img: borrowed. dst: borrowed, written, roi_w * roi_h * 3 bytes. err: borrowed, may be NULL. */
dp_status dp_image_to_rgb8(const insp_image *img, int roi_x, int roi_y, int roi_w, int roi_h,
                           uint8_t *dst, int threads, dp_err *err);

/* 1 if the view has no mask or the mask keeps at least one pixel of the rectangle; 0 if every
 * pixel of it is masked out, and also 0 (nothing to inspect) when the view is invalid or the
 * rectangle is outside its effective ROI. img: borrowed. */
int dp_image_mask_any(const insp_image *img, int roi_x, int roi_y, int roi_w, int roi_h);

/* F32 views only: finds the first sample (row by row) inside the rectangle that is NaN or
 * infinite, among the pixels the mask keeps. Returns 1 with *x, *y (image coordinates),
 * *channel (memory order) and *value set; 0 when every such sample is finite, for U8/U16 views, and for an
 * invalid view or a rectangle outside the effective ROI. The conversion (dp_image_to_rgb8) maps
 * NaN to 0 and infinities to 0/255, so a caller that must not guess grey values refuses the
 * view first with this. img, x, y, channel, value: borrowed. */
int dp_image_find_nonfinite(const insp_image *img, int roi_x, int roi_y, int roi_w, int roi_h,
                            int *x, int *y, int *channel, float *value);

#endif
