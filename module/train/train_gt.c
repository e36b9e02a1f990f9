/* Training ground truth from a mask, bit-exact with the reference loader and loop. */
#include "train_gt.h"

#include <string.h>

#include "dp_size.h"
#include "resample.h"

size_t dp_train_gt_workspace(int w, int h, int S)
{
    size_t rs = dp_resize_u8_workspace(w, h, S, S, 1, DP_FILTER_BILINEAR), bin, total;
    if (!rs || !dp_mul_ok((size_t)w, (size_t)h, &bin) || !dp_add_ok(bin, rs, &total) ||
        !dp_add_ok(total, (size_t)S * (size_t)S, &total))
        return 0;
    return total;
}

dp_status dp_train_gt(const uint8_t *mask, int w, int h, ptrdiff_t stride, int S, int class_id,
                      uint8_t *resized, uint8_t *gt_bin, uint8_t *gt_multi, void *workspace,
                      size_t workspace_size, dp_err *err)
{
    if (!gt_bin || !gt_multi || S < 1)
        return dp_fail(err, DP_E_ARG, "training ground truth: %s; expected output buffers and "
                       "S >= 1", S < 1 ? "S < 1" : "NULL output");
    if (class_id < 0 || class_id > 255)
        return dp_fail(err, DP_E_ARG, "training ground truth: class id %d; expected 0..255",
                       class_id);
    size_t n = (size_t)S * (size_t)S;
    if (!mask) {
        memset(gt_bin, 0, n);
        memset(gt_multi, 0, n);
        if (resized)
            memset(resized, 0, n);
        return DP_OK;
    }
    size_t need = dp_train_gt_workspace(w, h, S);
    if (!need || !workspace || workspace_size < need)
        return dp_fail(err, DP_E_ARG, "training ground truth: mask %dx%d to %d: workspace of "
                       "%zu bytes, expected %zu (dp_train_gt_workspace; 0 = invalid sizes)", w, h,
                       S, workspace_size, need);
    uint8_t *bin = workspace, *out = bin + (size_t)w * h, *rs = out + n;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            bin[(size_t)y * w + x] = mask[(ptrdiff_t)y * stride + x] ? 255 : 0;
    dp_status st = dp_resize_u8(bin, w, h, w, 1, out, S, S, S, DP_FILTER_BILINEAR, rs,
                                need - (size_t)w * h - n, err);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++) {
        gt_bin[i] = out[i] == 255;
        gt_multi[i] = (uint8_t)(gt_bin[i] * class_id);
    }
    if (resized)
        memcpy(resized, out, n);
    return DP_OK;
}
