/* Golden images for the plugin tests: read, converted to RGB8, viewed as the host would. */
#include "test_images.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "preprocess.h"
#include "resample.h"

io_image golden_rgb8(const char *rel)
{
    char err[512];
    io_image raw, rgb;
    ck_assert_msg(io_read_image(golden_path(rel), &raw, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(io_to_rgb8(&raw, &rgb, err, sizeof err) == 0, "%s", err);
    io_image_free(&raw);
    return rgb;
}

insp_image view_rgb8(const io_image *im)
{
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = im->width;
    v.height = im->height;
    v.channels = 3;
    v.pixel = INSP_PIX_U8;
    v.row_stride = (ptrdiff_t)im->width * 3;
    v.data = im->data;
    return v;
}

float *clip_input(const io_image *rgb, int S, uint8_t **u8_out)
{
    uint8_t *u8 = malloc((size_t)S * S * 3);
    size_t ws = dp_resize_u8_workspace(rgb->width, rgb->height, S, S, 3, DP_FILTER_BICUBIC);
    void *work = malloc(ws ? ws : 1);
    ck_assert(u8 && work);
    dp_err e;
    ck_assert_msg(dp_resize_u8(rgb->data, rgb->width, rgb->height, (ptrdiff_t)rgb->width * 3, 3, u8,
                               S, S, (ptrdiff_t)S * 3, DP_FILTER_BICUBIC, work, ws, &e) == DP_OK,
                  "%s", e.msg);
    free(work);
    float *pre = malloc((size_t)3 * S * S * sizeof *pre);
    ck_assert(pre);
    dp_normalize_clip(u8, S, (ptrdiff_t)S * 3, pre);
    if (u8_out)
        *u8_out = u8;
    else
        free(u8);
    return pre;
}
