/* Ground truth for the training loss with the reference's quirk (shared/golden/README.md
 * "Training step" §1): mask -> nonzero set to 255 -> Pillow bilinear resize to S x S on 8 bits
 * -> gt_bin = (resized == 255) (the loader's float mask is cast to integer before any
 * threshold) -> gt_multi = gt_bin x class id. */
#ifndef DP_TRAIN_GT_H
#define DP_TRAIN_GT_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

/* Bytes of workspace dp_train_gt needs for a w x h mask and side S; 0 on invalid sizes. */
size_t dp_train_gt_workspace(int w, int h, int S);

/* mask: borrowed, h rows of w bytes at mask + r*stride (8-bit grayscale), or NULL for a
 * label-0 image (all normal; its mask is never read). class_id: 0..255. resized (may be NULL),
 * gt_bin, gt_multi: borrowed, S*S bytes each, written. workspace: borrowed scratch of
 * dp_train_gt_workspace(w, h, S) bytes (the binarised mask and the resize's scratch). */
dp_status dp_train_gt(const uint8_t *mask, int w, int h, ptrdiff_t stride, int S, int class_id,
                      uint8_t *resized, uint8_t *gt_bin, uint8_t *gt_multi, void *workspace,
                      size_t workspace_size, dp_err *err);

#endif
