/* make_fuzz_image_seeds OUT_DIR: small PNG and TIFF files in the layouts io_read_image reads (and
 * a few it refuses), seeds for the imageio fuzz target. Host-side tool: libpng, libtiff and the
 * project's own writers. */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "imageio.h"

enum { W = 12, H = 9 };
static char dir[512];

static const char *at(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* A W x H TIFF: spp samples of bps bits (fmt: SAMPLEFORMAT_*), photometric, planar config,
 * compression, tiled or in strips; pages > 1 writes that many directories. */
static int tiff(const char *name, int spp, int bps, int fmt, int photo, int planar, int comp,
                int tiled, int pages)
{
    TIFF *t = TIFFOpen(at(name), "w");
    if (!t)
        return -1;
    int bytes = bps / 8, rc = 0;
    for (int pg = 0; pg < pages; pg++) {
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, H);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
        TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, fmt);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photo);
        TIFFSetField(t, TIFFTAG_PLANARCONFIG, planar);
        TIFFSetField(t, TIFFTAG_COMPRESSION, comp);
        if (photo == PHOTOMETRIC_PALETTE) {
            static uint16_t map[3][256];
            for (int i = 0; i < 256; i++)
                map[0][i] = map[1][i] = map[2][i] = (uint16_t)(i * 257);
            TIFFSetField(t, TIFFTAG_COLORMAP, map[0], map[1], map[2]);
        }
        if (spp == 4) {
            uint16_t extra = EXTRASAMPLE_UNASSALPHA;
            TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
        }
        int per_px = planar == PLANARCONFIG_CONTIG ? spp : 1;
        int planes = planar == PLANARCONFIG_CONTIG ? 1 : spp;
        if (tiled) {
            TIFFSetField(t, TIFFTAG_TILEWIDTH, 16);
            TIFFSetField(t, TIFFTAG_TILELENGTH, 16);
            size_t n = (size_t)16 * 16 * per_px * bytes;
            uint8_t *tile = malloc(n);
            for (size_t i = 0; i < n; i++)
                tile[i] = (uint8_t)(i * 13 + pg);
            for (int s = 0; s < planes; s++)
                if (TIFFWriteTile(t, tile, 0, 0, 0, (uint16_t)s) < 0)
                    rc = -1;
            free(tile);
        } else {
            TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 4);
            size_t n = (size_t)W * per_px * bytes;
            uint8_t *row = malloc(n);
            for (int s = 0; s < planes; s++)
                for (int y = 0; y < H; y++) {
                    for (size_t i = 0; i < n; i++)
                        row[i] = (uint8_t)(i * 7 + y * 3 + s);
                    if (fmt == SAMPLEFORMAT_IEEEFP)
                        for (size_t i = 0; i < n / 4; i++)
                            ((float *)row)[i] = (float)(i + y) / (W + H);
                    if (TIFFWriteScanline(t, row, (uint32_t)y, (uint16_t)s) < 0)
                        rc = -1;
                }
            free(row);
        }
        if (pages > 1)
            TIFFWriteDirectory(t);
    }
    TIFFClose(t);
    return rc;
}

/* A W x H PNG of the given colour type and bit depth, optionally interlaced, with tRNS. */
static int png(const char *name, int color, int depth, int interlace, int trns)
{
    FILE *f = fopen(at(name), "wb");
    if (!f)
        return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, W, H, depth, color, interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[16];
        int n = depth < 4 ? 1 << depth : 16;   /* a palette may not exceed 2^depth entries */
        for (int i = 0; i < n; i++)
            pal[i].red = pal[i].green = pal[i].blue = (png_byte)(i * 17);
        png_set_PLTE(p, info, pal, n);
    }
    if (trns) {
        png_byte alpha[2] = { 0, 128 };
        png_color_16 tc = { 0, 1, 2, 3, 4 };
        png_set_tRNS(p, info, alpha, color == PNG_COLOR_TYPE_PALETTE ? 2 : 0, &tc);
    }
    png_write_info(p, info);
    int ch = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4
             : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
    size_t rowbytes = ((size_t)W * ch * depth + 7) / 8;
    png_bytep rows[H];
    uint8_t *buf = malloc(rowbytes * H);
    for (size_t i = 0; i < rowbytes * H; i++)
        buf[i] = (uint8_t)(color != PNG_COLOR_TYPE_PALETTE ? i * 29 : depth == 8 ? i % 16 : 0);
    for (int y = 0; y < H; y++)
        rows[y] = buf + rowbytes * y;
    png_write_image(p, rows);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    free(buf);
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_fuzz_image_seeds OUT_DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    float f[W * H];
    uint16_t u[W * H];
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        f[i] = (float)i / (W * H);
        u[i] = (uint16_t)(i * 601);
    }
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (uint8_t)(i * 5);
    char err[512];
    int bad = 0;
    bad |= io_write_tiff_f32(at("own_f32.tif"), f, W, H, err, sizeof err);
    bad |= io_write_tiff_u16(at("own_u16.tif"), u, W, H, err, sizeof err);
    bad |= io_write_png_rgb8(at("own_rgb8.png"), rgb, W, H, err, sizeof err);
    bad |= tiff("rgb8_strips.tif", 3, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, COMPRESSION_NONE, 0, 1);
    bad |= tiff("gray8_tiled_lzw.tif", 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, COMPRESSION_LZW, 1, 1);
    bad |= tiff("rgb16_planar_deflate.tif", 3, 16, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_SEPARATE, COMPRESSION_ADOBE_DEFLATE, 0, 1);
    bad |= tiff("rgba8_packbits.tif", 4, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, COMPRESSION_PACKBITS, 0, 1);
    bad |= tiff("rgbf32_tiled.tif", 3, 32, SAMPLEFORMAT_IEEEFP, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, COMPRESSION_NONE, 1, 1);
    bad |= tiff("palette8.tif", 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_PALETTE, PLANARCONFIG_CONTIG, COMPRESSION_NONE, 0, 1);
    bad |= tiff("miniswhite8.tif", 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISWHITE, PLANARCONFIG_CONTIG, COMPRESSION_NONE, 0, 1);
    bad |= tiff("int16.tif", 1, 16, SAMPLEFORMAT_INT, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, COMPRESSION_NONE, 0, 1);
    bad |= tiff("two_pages.tif", 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, COMPRESSION_NONE, 0, 2);
    bad |= png("gray1.png", PNG_COLOR_TYPE_GRAY, 1, 0, 0);
    bad |= png("gray4_interlaced.png", PNG_COLOR_TYPE_GRAY, 4, 1, 0);
    bad |= png("gray16_trns.png", PNG_COLOR_TYPE_GRAY, 16, 0, 1);
    bad |= png("palette8_trns.png", PNG_COLOR_TYPE_PALETTE, 8, 0, 1);
    bad |= png("palette2.png", PNG_COLOR_TYPE_PALETTE, 2, 0, 0);
    bad |= png("graya8.png", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0);
    bad |= png("rgba16_interlaced.png", PNG_COLOR_TYPE_RGBA, 16, 1, 0);
    bad |= png("rgb16.png", PNG_COLOR_TYPE_RGB, 16, 0, 0);
    if (bad)
        fprintf(stderr, "make_fuzz_image_seeds: a seed could not be written (%s)\n", err);
    return bad ? 1 : 0;
}
