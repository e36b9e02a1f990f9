/* PNG (libpng) and TIFF (libtiff >= 4.5) reading and writing for the host side. Library
 * diagnostics are captured into the caller's message buffer, never printed. Sizes from file
 * headers are checked before anything is allocated. */
#include "imageio.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

/* ---- error text ---- */

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Last diagnostic of libpng / libtiff for one call; lives on the caller's stack. */
typedef struct lib_msg {
    char text[384];
} lib_msg;

size_t io_pixel_bytes(io_pixel p)
{
    switch (p) {
    case IO_U8: return 1;
    case IO_U16: return 2;
    case IO_F32: return 4;
    }
    return 0;
}

void io_image_free(io_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* path, err: borrowed. Pixel-count and side limits, checked on header values before allocating. */
static int check_dims(const char *path, uint64_t w, uint64_t h, char *err, size_t cap)
{
    if (w == 0 || h == 0)
        return fail(err, cap, "%s: image size %llux%llu, expected a non-empty image", path,
                    (unsigned long long)w, (unsigned long long)h);
    if (w > IO_MAX_SIDE || h > IO_MAX_SIDE || w * h > (uint64_t)IO_MAX_PIXELS)
        return fail(err, cap, "%s: image size %llux%llu refused: limit is %d per side and %lld "
                    "pixels", path, (unsigned long long)w, (unsigned long long)h, IO_MAX_SIDE,
                    (long long)IO_MAX_PIXELS);
    return 0;
}

/* Packed buffer for a checked size; img: borrowed, img->data becomes owned by it. */
static int alloc_image(io_image *img, int w, int h, int ch, io_pixel px, const char *path,
                       char *err, size_t cap)
{
    uint64_t n64 = (uint64_t)w * (uint64_t)h * (uint64_t)ch * io_pixel_bytes(px);
    if (n64 > SIZE_MAX) /* 2^28 pixels x 3 x 4 bytes exceeds a 32-bit size_t */
        return fail(err, cap, "%s: %dx%d pixels do not fit this address space", path, w, h);
    size_t n = (size_t)n64;
    img->data = malloc(n);
    if (!img->data)
        return fail(err, cap, "%s: cannot allocate %zu bytes for %dx%d pixels", path, n, w, h);
    img->width = w;
    img->height = h;
    img->channels = ch;
    img->pixel = px;
    return 0;
}

/* ================================ PNG ================================ */

static void png_error_cb(png_structp png, png_const_charp msg)
{
    lib_msg *m = png_get_error_ptr(png);
    if (m)
        snprintf(m->text, sizeof m->text, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png; /* warnings (bad ancillary chunks, ...) do not affect the pixels we return */
    (void)msg;
}

/* State of one PNG decode kept outside the setjmp frame so it survives a longjmp. */
typedef struct png_job {
    FILE *f;                  /* borrowed */
    const char *path;         /* borrowed */
    png_structp png;
    png_infop info;
    png_bytep *rows;          /* owned, freed by the caller of png_decode */
    io_image img;             /* data owned until handed to the caller */
    char *err;
    size_t cap;
    int own_error;            /* 1: err already holds a message of ours */
} png_job;

/* j: borrowed; on success j->img owns the pixels, on failure the caller frees what j holds. */
static int png_decode(png_job *j)
{
    if (setjmp(png_jmpbuf(j->png)))
        return -1;
    png_init_io(j->png, j->f);
    png_set_user_limits(j->png, IO_MAX_SIDE, IO_MAX_SIDE);
    png_read_info(j->png, j->info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (check_dims(j->path, w, h, j->err, j->cap)) {
        j->own_error = 1;
        return -1;
    }
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(j->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(j->png);
    /* alpha, and tRNS (which palette/gray expansion would turn into alpha), are dropped */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(j->png, j->info, PNG_INFO_tRNS))
        png_set_strip_alpha(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);

    int ch = (color & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    io_pixel px = depth == 16 ? IO_U16 : IO_U8;
    size_t row = (size_t)w * (size_t)ch * io_pixel_bytes(px);
    if (png_get_rowbytes(j->png, j->info) != row || png_get_channels(j->png, j->info) != ch) {
        j->own_error = 1;
        return fail(j->err, j->cap, "%s: PNG colour type %d depth %d decodes to %zu bytes per "
                    "row, expected %zu", j->path, color, depth,
                    (size_t)png_get_rowbytes(j->png, j->info), row);
    }
    if (alloc_image(&j->img, (int)w, (int)h, ch, px, j->path, j->err, j->cap)) {
        j->own_error = 1;
        return -1;
    }
    j->rows = malloc(sizeof *j->rows * h);
    if (!j->rows) {
        j->own_error = 1;
        return fail(j->err, j->cap, "%s: cannot allocate row table", j->path);
    }
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = (png_bytep)j->img.data + (size_t)y * row;
    png_read_image(j->png, j->rows);
    png_read_end(j->png, NULL); /* checks the trailing chunks: a file cut after IDAT is an error */
    if (px == IO_U16) {         /* PNG stores big-endian; convert to host order portably */
        uint8_t *b = j->img.data;
        uint16_t *s = j->img.data;
        size_t n = (size_t)w * h * (size_t)ch;
        for (size_t i = 0; i < n; i++)
            s[i] = (uint16_t)((b[2 * i] << 8) | b[2 * i + 1]);
    }
    return 0;
}

/* f: borrowed, positioned anywhere (rewound here). */
static int read_png(FILE *f, const char *path, io_image *out, char *err, size_t cap)
{
    lib_msg msg = { "" };
    png_job j;
    memset(&j, 0, sizeof j);
    j.f = f;
    j.path = path;
    j.err = err;
    j.cap = cap;
    rewind(f);
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &msg, png_error_cb, png_warning_cb);
    if (!j.png)
        return fail(err, cap, "%s: cannot create a libpng reader", path);
    j.info = png_create_info_struct(j.png);
    if (!j.info) {
        png_destroy_read_struct(&j.png, NULL, NULL);
        return fail(err, cap, "%s: cannot create a libpng info struct", path);
    }
    int rc = png_decode(&j);
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.rows);
    if (rc) {
        io_image_free(&j.img);
        if (!j.own_error)
            fail(err, cap, "%s: invalid or truncated PNG: %s", path,
                 msg.text[0] ? msg.text : "libpng error");
        return -1;
    }
    *out = j.img;
    return 0;
}

/* ================================ TIFF ================================ */

static int tiff_error_cb(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif;
    lib_msg *m = user;
    if (m) {
        int n = snprintf(m->text, sizeof m->text, "%s: ", module ? module : "libtiff");
        if (n < 0 || (size_t)n >= sizeof m->text)
            n = 0;
        vsnprintf(m->text + n, sizeof m->text - (size_t)n, fmt, ap);
    }
    return 1; /* handled: keep libtiff from calling its global stderr handler */
}

static int tiff_warning_cb(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
    (void)tif; /* unknown tags and similar: silent */
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

/* msg: borrowed, must outlive the returned TIFF (caller closes it). */
static TIFF *tiff_open(const char *path, const char *mode, lib_msg *msg)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_error_cb, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_warning_cb, msg);
    TIFF *tif = TIFFOpenExt(path, mode, opts);
    TIFFOpenOptionsFree(opts); /* the handlers were copied into tif */
    return tif;
}

/* Layout of the samples as stored, validated against what we support. */
typedef struct tiff_layout {
    uint32_t w, h;
    int ch_out;          /* 1 gray, 3 RGB */
    int spp;             /* samples per pixel in the file (>= ch_out; extras dropped) */
    int contig;          /* PLANARCONFIG_CONTIG */
    size_t bs;           /* bytes per sample */
    io_pixel px;
} tiff_layout;

/* tif: borrowed; L: borrowed, filled. */
static int tiff_layout_of(TIFF *tif, const char *path, tiff_layout *L, char *err, size_t cap)
{
    uint16_t bps = 0, spp = 0, fmt = 0, planar = 0, photo = 0, comp = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &L->w) ||
        !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &L->h))
        return fail(err, cap, "%s: TIFF without ImageWidth/ImageLength", path);
    if (check_dims(path, L->w, L->h, err, cap))
        return -1;
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo))
        return fail(err, cap, "%s: TIFF without PhotometricInterpretation", path);

    if (photo == PHOTOMETRIC_MINISBLACK)
        L->ch_out = 1;
    else if (photo == PHOTOMETRIC_RGB)
        L->ch_out = 3;
    else
        return fail(err, cap, "%s: unsupported TIFF PhotometricInterpretation=%u%s (supported: "
                    "1 MinIsBlack gray, 2 RGB)", path, photo,
                    photo == PHOTOMETRIC_PALETTE ? " (palette)"
                    : photo == PHOTOMETRIC_MINISWHITE ? " (MinIsWhite)"
                    : photo == PHOTOMETRIC_YCBCR ? " (YCbCr)"
                    : photo == PHOTOMETRIC_SEPARATED ? " (CMYK)" : "");
    if (spp < L->ch_out || spp > 16)
        return fail(err, cap, "%s: TIFF SamplesPerPixel=%u with PhotometricInterpretation=%u, "
                    "expected %d..16", path, spp, photo, L->ch_out);
    if (bps == 8 && (fmt == SAMPLEFORMAT_UINT || fmt == SAMPLEFORMAT_VOID))
        L->px = IO_U8;
    else if (bps == 16 && (fmt == SAMPLEFORMAT_UINT || fmt == SAMPLEFORMAT_VOID))
        L->px = IO_U16;
    else if (bps == 32 && fmt == SAMPLEFORMAT_IEEEFP)
        L->px = IO_F32;
    else
        return fail(err, cap, "%s: unsupported TIFF BitsPerSample=%u SampleFormat=%u (supported: "
                    "8/16 unsigned, 32 IEEE float)", path, bps, fmt);
    if (planar != PLANARCONFIG_CONTIG && planar != PLANARCONFIG_SEPARATE)
        return fail(err, cap, "%s: unsupported TIFF PlanarConfiguration=%u", path, planar);
    if (!TIFFIsCODECConfigured(comp))
        return fail(err, cap, "%s: unsupported TIFF Compression=%u (no decoder in this libtiff)",
                    path, comp);
    L->spp = spp;
    L->contig = planar == PLANARCONFIG_CONTIG;
    L->bs = io_pixel_bytes(L->px);
    return 0;
}

/* Copies a decoded block (bw x rows pixels of `step` samples) into the output for channel range
 * [c0, c1): block pixel (x, r) lands at image pixel (x0 + x, y0 + r); clipped to the image.
 * img: borrowed, written; L, blk: borrowed. */
static void put_block(io_image *img, const tiff_layout *L, const uint8_t *blk, uint32_t bw,
                      uint32_t rows, uint32_t x0, uint32_t y0, int step, int c0, int c1)
{
    uint32_t vw = x0 + bw > L->w ? L->w - x0 : bw;
    uint32_t vh = y0 + rows > L->h ? L->h - y0 : rows;
    size_t bs = L->bs, ch = (size_t)L->ch_out;
    uint8_t *dst = img->data;
    for (uint32_t r = 0; r < vh; r++) {
        const uint8_t *s = blk + (size_t)r * bw * (size_t)step * bs;
        uint8_t *d = dst + ((size_t)(y0 + r) * L->w + x0) * ch * bs;
        if (step == L->ch_out && c0 == 0 && c1 == L->ch_out) {
            memcpy(d, s, (size_t)vw * ch * bs);
            continue;
        }
        for (uint32_t x = 0; x < vw; x++)
            for (int c = c0; c < c1; c++)
                memcpy(d + ((size_t)x * ch + (size_t)c) * bs,
                       s + ((size_t)x * (size_t)step + (size_t)(step == 1 ? 0 : c)) * bs, bs);
    }
}

/* Decoded blocks larger than this are not buffered whole: a huge RowsPerStrip is read row by
 * row, a huge tile is refused (real tiles are far smaller). */
#define BLOCK_BUF_MAX ((size_t)4 << 20)
#define TILE_BUF_MAX ((size_t)64 << 20)

/* Row-by-row fallback for big strips. img, L, msg: borrowed. */
static int tiff_read_scanlines(TIFF *tif, const char *path, const tiff_layout *L, io_image *img,
                               size_t row_bytes, const lib_msg *msg, char *err, size_t cap)
{
    uint8_t *buf = malloc(row_bytes); /* freed below */
    if (!buf)
        return fail(err, cap, "%s: cannot allocate a %zu-byte row buffer", path, row_bytes);
    int step = L->contig ? L->spp : 1;
    int nplanes_read = L->contig ? 1 : L->ch_out;
    for (int p = 0; p < nplanes_read; p++)
        for (uint32_t y = 0; y < L->h; y++) {
            if (TIFFReadScanline(tif, buf, y, (uint16_t)p) != 1) {
                free(buf);
                return fail(err, cap, "%s: TIFF row %u (plane %d) could not be decoded%s%s",
                            path, y, p, msg->text[0] ? ": " : "", msg->text);
            }
            put_block(img, L, buf, L->w, 1, 0, y, step, L->contig ? 0 : p,
                      L->contig ? L->ch_out : p + 1);
        }
    free(buf);
    return 0;
}

/* img, L, msg: borrowed; img->data is filled. */
static int tiff_read_strips(TIFF *tif, const char *path, const tiff_layout *L, io_image *img,
                            const lib_msg *msg, char *err, size_t cap)
{
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > L->h)
        rps = L->h;
    uint32_t per_plane = (L->h + rps - 1) / rps;
    int planes = L->contig ? 1 : L->spp;
    int step = L->contig ? L->spp : 1;
    if (TIFFNumberOfStrips(tif) != per_plane * (uint32_t)planes)
        return fail(err, cap, "%s: TIFF has %u strips, expected %u for %u rows of %u per strip%s",
                    path, TIFFNumberOfStrips(tif), per_plane * (uint32_t)planes, L->h, rps,
                    L->contig ? "" : " per plane");
    size_t row_bytes = (size_t)L->w * (size_t)step * L->bs;
    if ((uint64_t)TIFFScanlineSize64(tif) != row_bytes)
        return fail(err, cap, "%s: TIFF scanline is %llu bytes, expected %zu", path,
                    (unsigned long long)TIFFScanlineSize64(tif), row_bytes);
    if (row_bytes * rps > BLOCK_BUF_MAX && rps > 1)
        return tiff_read_scanlines(tif, path, L, img, row_bytes, msg, err, cap);
    uint8_t *buf = malloc(row_bytes * rps); /* freed below */
    if (!buf)
        return fail(err, cap, "%s: cannot allocate a %zu-byte strip buffer", path,
                    row_bytes * rps);
    int nplanes_read = L->contig ? 1 : L->ch_out;
    for (int p = 0; p < nplanes_read; p++) {
        for (uint32_t s = 0; s < per_plane; s++) {
            uint32_t y0 = s * rps, rows = L->h - y0 < rps ? L->h - y0 : rps;
            tmsize_t want = (tmsize_t)(row_bytes * rows);
            tmsize_t got = TIFFReadEncodedStrip(tif, (uint32_t)p * per_plane + s, buf, want);
            if (got != want) {
                free(buf);
                return fail(err, cap, "%s: TIFF strip %u (plane %d) decoded %lld of %lld bytes%s%s",
                            path, s, p, (long long)got, (long long)want,
                            msg->text[0] ? ": " : "", msg->text);
            }
            put_block(img, L, buf, L->w, rows, 0, y0, step, L->contig ? 0 : p,
                      L->contig ? L->ch_out : p + 1);
        }
    }
    free(buf);
    return 0;
}

/* img, L, msg: borrowed; img->data is filled. */
static int tiff_read_tiles(TIFF *tif, const char *path, const tiff_layout *L, io_image *img,
                           const lib_msg *msg, char *err, size_t cap)
{
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    int planes = L->contig ? 1 : L->spp;
    int step = L->contig ? L->spp : 1;
    uint64_t tile_bytes = (uint64_t)tw * th * (uint64_t)step * L->bs;
    if (tw == 0 || th == 0 || tw > 65536 || th > 65536 || tile_bytes > TILE_BUF_MAX)
        return fail(err, cap, "%s: TIFF tile size %ux%u (%llu bytes) refused, expected at most "
                    "%zu bytes", path, tw, th, (unsigned long long)tile_bytes, TILE_BUF_MAX);
    uint32_t across = (L->w + tw - 1) / tw, down = (L->h + th - 1) / th;
    uint64_t ntiles = (uint64_t)across * down * (uint64_t)planes;
    if ((uint64_t)TIFFNumberOfTiles(tif) != ntiles)
        return fail(err, cap, "%s: TIFF has %u tiles, expected %llu", path,
                    TIFFNumberOfTiles(tif), (unsigned long long)ntiles);
    if ((uint64_t)TIFFTileSize64(tif) != tile_bytes)
        return fail(err, cap, "%s: TIFF tile is %llu bytes, expected %llu", path,
                    (unsigned long long)TIFFTileSize64(tif), (unsigned long long)tile_bytes);
    uint8_t *buf = malloc((size_t)tile_bytes); /* freed below */
    if (!buf)
        return fail(err, cap, "%s: cannot allocate a %llu-byte tile buffer", path,
                    (unsigned long long)tile_bytes);
    int nplanes_read = L->contig ? 1 : L->ch_out;
    for (int p = 0; p < nplanes_read; p++)
        for (uint32_t ty = 0; ty < down; ty++)
            for (uint32_t tx = 0; tx < across; tx++) {
                uint32_t idx = TIFFComputeTile(tif, tx * tw, ty * th, 0, (uint16_t)p);
                tmsize_t got = TIFFReadEncodedTile(tif, idx, buf, (tmsize_t)tile_bytes);
                if (got != (tmsize_t)tile_bytes) {
                    free(buf);
                    return fail(err, cap, "%s: TIFF tile %u (plane %d) decoded %lld of %llu "
                                "bytes%s%s", path, idx, p, (long long)got,
                                (unsigned long long)tile_bytes, msg->text[0] ? ": " : "",
                                msg->text);
                }
                put_block(img, L, buf, tw, th, tx * tw, ty * th, step, L->contig ? 0 : p,
                          L->contig ? L->ch_out : p + 1);
            }
    free(buf);
    return 0;
}

static int read_tiff(const char *path, io_image *out, char *err, size_t cap)
{
    lib_msg msg = { "" };
    TIFF *tif = tiff_open(path, "r", &msg);
    if (!tif)
        return fail(err, cap, "%s: cannot open as TIFF: %s", path,
                    msg.text[0] ? msg.text : "libtiff error");
    tiff_layout L;
    memset(&L, 0, sizeof L);
    io_image img;
    memset(&img, 0, sizeof img);
    int rc = tiff_layout_of(tif, path, &L, err, cap);
    if (!rc)
        rc = alloc_image(&img, (int)L.w, (int)L.h, L.ch_out, L.px, path, err, cap);
    if (!rc)
        rc = TIFFIsTiled(tif) ? tiff_read_tiles(tif, path, &L, &img, &msg, err, cap)
                              : tiff_read_strips(tif, path, &L, &img, &msg, err, cap);
    TIFFClose(tif);
    if (rc) {
        io_image_free(&img);
        return -1;
    }
    *out = img;
    return 0;
}

/* ================================ dispatch ================================ */

int io_read_image(const char *path, io_image *out, char *err, size_t err_cap)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return fail(err, err_cap, "io_read_image: %s is NULL", !path ? "path" : "out");
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, err_cap, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(err, err_cap, "%s: is a directory, expected an image file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, err_cap, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[24]; /* PNG: signature, then IHDR length, type, width, height */
    size_t n = fread(magic, 1, sizeof magic, f);
    int rc;
    if (n >= 8 && png_sig_cmp(magic, 0, 8) == 0) {
        /* size check with our own message before libpng sees the header */
        if (n == 24 && memcmp(magic + 12, "IHDR", 4) == 0) {
            uint64_t w = (uint64_t)magic[16] << 24 | (uint64_t)magic[17] << 16 |
                         (uint64_t)magic[18] << 8 | magic[19];
            uint64_t h = (uint64_t)magic[20] << 24 | (uint64_t)magic[21] << 16 |
                         (uint64_t)magic[22] << 8 | magic[23];
            if (check_dims(path, w, h, err, err_cap)) {
                fclose(f);
                return -1;
            }
        }
        rc = read_png(f, path, out, err, err_cap);
        fclose(f);
        return rc;
    }
    fclose(f);
    if (n >= 4 && ((magic[0] == 'I' && magic[1] == 'I' && (magic[2] == 42 || magic[2] == 43) &&
                    magic[3] == 0) ||
                   (magic[0] == 'M' && magic[1] == 'M' && magic[2] == 0 &&
                    (magic[3] == 42 || magic[3] == 43))))
        return read_tiff(path, out, err, err_cap);
    return fail(err, err_cap, "%s: not a PNG or TIFF file (unknown magic bytes%s)", path,
                n < 4 ? ", file shorter than 4 bytes" : "");
}

/* ================================ conversion ================================ */

/* Clamp to [0, 1], round to nearest; NaN -> 0. */
static uint8_t f32_to_u8(float x)
{
    if (!(x > 0.0f)) /* also NaN */
        return 0;
    if (x >= 1.0f)
        return 255;
    return (uint8_t)(x * 255.0f + 0.5f);
}

int io_to_rgb8(const io_image *in, io_image *out, char *err, size_t err_cap)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!in || !out || !in->data)
        return fail(err, err_cap, "io_to_rgb8: %s is NULL", !in ? "in" : !out ? "out" : "in->data");
    if ((in->channels != 1 && in->channels != 3) || io_pixel_bytes(in->pixel) == 0 ||
        check_dims("io_to_rgb8", (uint64_t)(in->width > 0 ? in->width : 0),
                   (uint64_t)(in->height > 0 ? in->height : 0), err, err_cap))
        return fail(err, err_cap, "io_to_rgb8: image %dx%d, %d channels, pixel type %d; expected "
                    "1 or 3 channels, a valid type and size", in->width, in->height,
                    in->channels, (int)in->pixel);
    if (alloc_image(out, in->width, in->height, 3, IO_U8, "io_to_rgb8", err, err_cap))
        return -1;
    size_t npx = (size_t)in->width * (size_t)in->height, ch = (size_t)in->channels;
    uint8_t *d = out->data;
    for (size_t i = 0; i < npx; i++)
        for (size_t c = 0; c < 3; c++) {
            size_t s = i * ch + (ch == 1 ? 0 : c);
            uint8_t v;
            switch (in->pixel) {
            case IO_U8: v = ((const uint8_t *)in->data)[s]; break;
            case IO_U16:
                v = (uint8_t)(((uint32_t)((const uint16_t *)in->data)[s] * 255u + 32767u) / 65535u);
                break;
            default: v = f32_to_u8(((const float *)in->data)[s]); break;
            }
            d[i * 3 + c] = v;
        }
    return 0;
}

/* ================================ writers ================================ */

/* path, data, err: borrowed. */
static int check_write_args(const char *path, const void *data, int w, int h, char *err,
                            size_t cap)
{
    if (!path || !data)
        return fail(err, cap, "write: %s is NULL", !path ? "path" : "data");
    if (w <= 0 || h <= 0)
        return fail(err, cap, "%s: image size %dx%d, expected positive", path, w, h);
    return check_dims(path, (uint64_t)w, (uint64_t)h, err, cap);
}

/* data: borrowed, h rows of w samples of bits/8 bytes. */
static int write_tiff_gray(const char *path, const void *data, int w, int h, int bits, int fmt,
                           char *err, size_t cap)
{
    if (check_write_args(path, data, w, h, err, cap))
        return -1;
    lib_msg msg = { "" };
    TIFF *tif = tiff_open(path, "w", &msg);
    if (!tif)
        return fail(err, cap, "%s: cannot create TIFF: %s", path,
                    msg.text[0] ? msg.text : "libtiff error");
    size_t row = (size_t)w * (size_t)(bits / 8);
    void *buf = malloc(row); /* libtiff may modify the row it encodes; freed below */
    int ok = buf != NULL;
    ok = ok && TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    ok = ok && TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    ok = ok && TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
    ok = ok && TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, bits);
    ok = ok && TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, fmt);
    ok = ok && TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    ok = ok && TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    ok = ok && TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
    ok = ok && TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0));
    for (int y = 0; ok && y < h; y++) {
        memcpy(buf, (const uint8_t *)data + (size_t)y * row, row);
        ok = TIFFWriteScanline(tif, buf, (uint32_t)y, 0) == 1;
    }
    ok = ok && TIFFWriteDirectory(tif);
    TIFFClose(tif);
    free(buf);
    if (!ok) {
        unlink(path);
        return fail(err, cap, "%s: writing TIFF failed: %s", path,
                    msg.text[0] ? msg.text : "out of memory");
    }
    return 0;
}

int io_write_tiff_f32(const char *path, const float *data, int width, int height, char *err,
                      size_t err_cap)
{
    return write_tiff_gray(path, data, width, height, 32, SAMPLEFORMAT_IEEEFP, err, err_cap);
}

int io_write_tiff_u16(const char *path, const uint16_t *data, int width, int height, char *err,
                      size_t err_cap)
{
    return write_tiff_gray(path, data, width, height, 16, SAMPLEFORMAT_UINT, err, err_cap);
}

/* Encodes inside the setjmp frame; nothing here is modified after setjmp. png, info, f, rgb:
 * borrowed. */
static int png_encode(png_structp png, png_infop info, FILE *f, const uint8_t *rgb, int w, int h)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, rgb + (size_t)y * (size_t)w * 3);
    png_write_end(png, NULL);
    return 0;
}

int io_write_png_rgb8(const char *path, const uint8_t *rgb, int width, int height, char *err,
                      size_t err_cap)
{
    if (check_write_args(path, rgb, width, height, err, err_cap))
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(err, err_cap, "%s: cannot create: %s", path, strerror(errno));
    lib_msg msg = { "" };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &msg, png_error_cb,
                                              png_warning_cb);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = -1;
    if (png && info)
        rc = png_encode(png, info, f, rgb, width, height);
    else
        snprintf(msg.text, sizeof msg.text, "cannot create a libpng writer");
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(msg.text, sizeof msg.text, "%s", strerror(errno));
        rc = -1;
    }
    if (rc) {
        unlink(path);
        return fail(err, err_cap, "%s: writing PNG failed: %s", path, msg.text);
    }
    return 0;
}
