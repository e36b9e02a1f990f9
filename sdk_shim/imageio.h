/* Host-side image file I/O for the reference CLI and the tests (not part of the plugin): PNG,
 * TIFF, JPEG and BMP reading into a packed interleaved buffer, and the few writers the tools need.
 * Every function reports failure as -1 plus a message in the caller-owned err[err_cap] naming the
 * file and the problem; nothing is ever printed. */
#ifndef IO_IMAGEIO_H
#define IO_IMAGEIO_H

#include <stddef.h>
#include <stdint.h>

typedef enum io_pixel { IO_U8 = 1, IO_U16 = 2, IO_F32 = 3 } io_pixel;

typedef struct io_image {
    int width, height, channels;   /* channels 1 or 3 */
    io_pixel pixel;
    void *data;                    /* interleaved, rows packed (stride = width*channels*bytes); owned, free with io_image_free */
} io_image;

/* Limits checked before any pixel buffer is allocated. */
#define IO_MAX_SIDE 65535
#define IO_MAX_PIXELS ((int64_t)1 << 28)

/* Bytes per sample of a pixel type (1, 2, 4), 0 for an unknown value. */
size_t io_pixel_bytes(io_pixel p);

/* Reads a PNG, TIFF, JPEG or BMP (chosen by the magic bytes, not the name) into *out (caller
 * frees with io_image_free; *out is zeroed on failure). Only regular files are read: a FIFO,
 * socket, device or directory is refused without blocking (the file is opened non-blocking and
 * checked with fstat before anything reads from it).
 * PNG: 1..16-bit gray, RGB, gray+alpha, RGBA, palette (expanded to RGB). Alpha and tRNS are
 *   dropped (the detector sees colour only); 1/2/4-bit gray is scaled to 8 bits; 16-bit stays
 *   IO_U16. Gamma/colour chunks are ignored: samples are returned as stored.
 * TIFF (single page): photometric MinIsBlack (gray) or RGB, 8/16-bit unsigned or 32-bit
 *   IEEE float, chunky or planar, strips or tiles, any compression this libtiff decodes
 *   (none, LZW, Deflate, PackBits, ...). Extra samples (alpha) are dropped. Orientation is
 *   ignored (rows in file order). Palette, MinIsWhite, YCbCr, CMYK, 1/4/12-bit, signed
 *   integer samples are refused with the offending tag value. A file with several pages is
 *   refused (later directories marked as reduced-resolution copies, e.g. thumbnails, are not
 *   pages and are ignored).
 * JPEG (libjpeg-turbo): 8-bit grey, YCbCr or RGB, baseline or progressive, any subsampling.
 *   CMYK/YCCK and 12-bit files are refused; so is a file whose entropy-coded data is truncated
 *   or corrupt (libjpeg would fill in grey: its corruption warnings are errors here) or that
 *   has more than 1000 progressive scans. EXIF orientation is ignored.
 * BMP: core (OS/2 1.x) and info headers up to V5; 1/4/8-bit palette (grey palettes give one
 *   channel), 16-bit (5-5-5 or bitfields), 24-bit, 32-bit (BGRX or bitfields); bottom-up or
 *   top-down. Alpha is dropped. RLE, embedded JPEG/PNG and palette indices beyond the palette
 *   are refused. */
int io_read_image(const char *path, io_image *out, char *err, size_t err_cap);

/* Frees img->data and zeroes *img; NULL and already-freed images are fine. */
void io_image_free(io_image *img);

/* 8-bit RGB copy of `in` into *out (caller frees with io_image_free). Gray is copied into R, G
 * and B. IO_U16 maps v -> round(v * 255 / 65535) (0 -> 0, 65535 -> 255; not Pillow's clip).
 * IO_F32 clamps to [0, 1] then round(x * 255); NaN -> 0. */
int io_to_rgb8(const io_image *in, io_image *out, char *err, size_t err_cap);

/* One-channel TIFFs, Deflate compressed, strips: float as SampleFormat IEEEFP 32-bit, or uint16.
 * data: borrowed, height rows of width values. A partial file is removed on failure. */
int io_write_tiff_f32(const char *path, const float *data, int width, int height, char *err,
                      size_t err_cap);
int io_write_tiff_u16(const char *path, const uint16_t *data, int width, int height, char *err,
                      size_t err_cap);

/* 8-bit RGB PNG. rgb: borrowed, packed [height][width][3]. A partial file is removed on failure. */
int io_write_png_rgb8(const char *path, const uint8_t *rgb, int width, int height, char *err,
                      size_t err_cap);

#endif
