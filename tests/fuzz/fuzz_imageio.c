/* libFuzzer target: a PNG or TIFF file -> io_read_image (sdk_shim/imageio.c) -> an insp_image view
 * of the decoded pixels -> dp_image_validate and dp_image_to_rgb8, as the reference host feeds
 * the plugin; also io_to_rgb8. libtiff's and libpng's own warnings go to stderr, which is fine. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "image_input.h"
#include "imageio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_path(data, size);
    if (!path)
        return 0;
    io_image im;
    char err[512];
    if (io_read_image(path, &im, err, sizeof err) != 0) {
        if (im.data || !err[0])
            __builtin_trap();
        return 0;
    }
    size_t bytes = io_pixel_bytes(im.pixel);
    insp_image v = { .struct_size = sizeof v, .width = im.width, .height = im.height,
                     .channels = im.channels, .pixel = (insp_pixel)im.pixel,
                     .row_stride = (ptrdiff_t)im.width * im.channels * (ptrdiff_t)bytes,
                     .data = im.data };
    int rx, ry, rw, rh;
    dp_err e;
    if (dp_image_validate(&v, &rx, &ry, &rw, &rh, &e) == DP_OK) {
        uint8_t *rgb = malloc((size_t)rw * rh * 3);
        if (rgb && dp_image_to_rgb8(&v, rx, ry, rw, rh, rgb, 1, &e) != DP_OK)
            __builtin_trap();   /* a validated view converts */
        free(rgb);
    }
    io_image rgb8;
    if (io_to_rgb8(&im, &rgb8, err, sizeof err) == 0)
        io_image_free(&rgb8);
    io_image_free(&im);
    return 0;
}
