/* Golden images for the plugin tests: read, converted to RGB8, viewed as the host would. */
#include "test_images.h"

#include <check.h>
#include <string.h>

#include "golden.h"

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
