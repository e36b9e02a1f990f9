/* Test support: golden images as packed RGB8 and borrowed views over them. */
#ifndef TEST_IMAGES_H
#define TEST_IMAGES_H

#include "imageio.h"
#include "insp_tool.h"

/* The golden image at <golden>/<rel> converted to packed RGB8; fails the test if it cannot be
 * read. The caller frees it with io_image_free. */
io_image golden_rgb8(const char *rel);

/* A U8 interleaved 3-channel view over im (borrowed; valid while im lives). */
insp_image view_rgb8(const io_image *im);

/* rgb (packed RGB8, borrowed) squashed to S x S with Pillow's bicubic resize and normalised as
 * CLIP expects: [3][S][S] floats, caller frees. *u8_out (optional): the resized bytes, caller
 * frees. Fails the test when a step fails. */
float *clip_input(const io_image *rgb, int S, uint8_t **u8_out);

#endif
