/* PNG (libpng) and TIFF (libtiff >= 4.5) reading and writing for the host side. Library
 * diagnostics are captured into the caller's message buffer, never printed. Sizes from file
 * headers are checked before anything is allocated. */
#include "imageio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>

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

/* msg: borrowed, must outlive the returned TIFF (caller closes it). fd >= 0: read from that
 * descriptor (owned by the TIFF from here on, closed by TIFFClose or here on failure), else
 * open path. */
static TIFF *tiff_open(const char *path, int fd, const char *mode, lib_msg *msg)
{
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_error_cb, msg);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_warning_cb, msg);
    TIFF *tif = fd >= 0 ? TIFFFdOpenExt(fd, path, mode, opts) : TIFFOpenExt(path, mode, opts);
    TIFFOpenOptionsFree(opts); /* the handlers were copied into tif */
    if (!tif && fd >= 0)
        close(fd);
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

/* Pages of a TIFF: its first directory plus every later one that is not a reduced-resolution
 * copy (thumbnail, pyramid level). Leaves tif on its first directory. */
static int tiff_pages(TIFF *tif)
{
    tdir_t n = TIFFNumberOfDirectories(tif);
    int pages = 1;
    for (tdir_t d = 1; d < n && d < 4096; d++) {
        if (!TIFFSetDirectory(tif, d))
            break;
        uint32_t type = 0;
        TIFFGetField(tif, TIFFTAG_SUBFILETYPE, &type);
        if (!(type & FILETYPE_REDUCEDIMAGE))
            pages++;
    }
    if (n > 1)
        TIFFSetDirectory(tif, 0);
    return pages;
}

/* fd: owned, positioned anywhere. */
static int read_tiff(const char *path, int fd, io_image *out, char *err, size_t cap)
{
    lib_msg msg = { "" };
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return fail(err, cap, "%s: cannot seek: %s", path, strerror(errno));
    }
    TIFF *tif = tiff_open(path, fd, "r", &msg);
    if (!tif)
        return fail(err, cap, "%s: cannot open as TIFF: %s", path,
                    msg.text[0] ? msg.text : "libtiff error");
    tiff_layout L;
    memset(&L, 0, sizeof L);
    io_image img;
    memset(&img, 0, sizeof img);
    int pages = tiff_pages(tif);
    if (pages > 1) {
        TIFFClose(tif);
        return fail(err, cap, "%s: TIFF has %d pages; insp inspects single-page images only "
                    "(it would inspect page 1 and ignore the rest). Split it into one file per "
                    "page, e.g. with tiffsplit (libtiff-tools)", path, pages);
    }
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

/* Opens path for reading without ever blocking: a FIFO, socket or device is refused before
 * anything reads from it. Returns the descriptor (blocking mode) or -1 with a message. */
static int open_regular(const char *path, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, cap, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, cap, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, cap, "%s: %s, expected an image file", path,
                    S_ISDIR(st.st_mode) ? "is a directory"
                    : S_ISFIFO(st.st_mode) ? "is a FIFO (named pipe), not a regular file"
                    : S_ISSOCK(st.st_mode) ? "is a socket, not a regular file"
                    : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "is a device, not a regular file"
                    : "is not a regular file");
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return fail(err, cap, "%s: cannot set blocking mode: %s", path, strerror(e));
    }
    return fd;
}

static int read_jpeg(FILE *f, const char *path, io_image *out, char *err, size_t cap);
static int read_bmp(FILE *f, const char *path, io_image *out, char *err, size_t cap);

int io_read_image(const char *path, io_image *out, char *err, size_t err_cap)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return fail(err, err_cap, "io_read_image: %s is NULL", !path ? "path" : "out");
    int fd = open_regular(path, err, err_cap);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return fail(err, err_cap, "%s: cannot open: %s", path, strerror(e));
    }
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
    if (n >= 4 && ((magic[0] == 'I' && magic[1] == 'I' && (magic[2] == 42 || magic[2] == 43) &&
                    magic[3] == 0) ||
                   (magic[0] == 'M' && magic[1] == 'M' && magic[2] == 0 &&
                    (magic[3] == 42 || magic[3] == 43)))) {
        int tfd = dup(fd);   /* libtiff owns its own descriptor of the same open file */
        fclose(f);
        if (tfd < 0)
            return fail(err, err_cap, "%s: cannot duplicate descriptor: %s", path, strerror(errno));
        return read_tiff(path, tfd, out, err, err_cap);
    }
    if (n >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
        rc = read_jpeg(f, path, out, err, err_cap);
        fclose(f);
        return rc;
    }
    if (n >= 2 && magic[0] == 'B' && magic[1] == 'M') {
        rc = read_bmp(f, path, out, err, err_cap);
        fclose(f);
        return rc;
    }
    fclose(f);
    return fail(err, err_cap, "%s: not a PNG, TIFF, JPEG or BMP file (unknown magic bytes%s)", path,
                n < 4 ? ", file shorter than 4 bytes" : "");
}

/* ================================ JPEG ================================ */

typedef struct jpeg_fail {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char text[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_error_exit(j_common_ptr c)
{
    jpeg_fail *j = (jpeg_fail *)c->err;
    c->err->format_message(c, j->text);
    longjmp(j->jump, 1);
}

/* Warnings that mean the pixels are not what the file's writer stored: a truncated or
 * corrupt entropy-coded segment is filled in by libjpeg, which must not reach an inspection. */
static void jpeg_message(j_common_ptr c, int level)
{
    if (level >= 0)
        return;
    int code = c->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_MUST_RESYNC ||
        code == JWRN_HUFF_BAD_CODE || code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION)
        jpeg_error_exit(c);
    c->err->num_warnings++;
}

/* A progressive file can have any number of scans, each costing a full pass. */
#define JPEG_MAX_SCANS 1000

static void jpeg_progress(j_common_ptr c)
{
    if (c->is_decompressor && ((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_fail *j = (jpeg_fail *)c->err;
        snprintf(j->text, sizeof j->text, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(j->jump, 1);
    }
}

/* State kept outside the setjmp frame. */
typedef struct jpeg_job {
    struct jpeg_decompress_struct d;
    jpeg_fail jerr;
    struct jpeg_progress_mgr progress;
    io_image img;
    int own_error;
} jpeg_job;

static int jpeg_decode(jpeg_job *j, FILE *f, const char *path, char *err, size_t cap)
{
    if (setjmp(j->jerr.jump))
        return -1;
    jpeg_create_decompress(&j->d);
    j->d.progress = &j->progress;
    jpeg_stdio_src(&j->d, f);
    jpeg_read_header(&j->d, TRUE);
    if (check_dims(path, j->d.image_width, j->d.image_height, err, cap)) {
        j->own_error = 1;
        return -1;
    }
    if (j->d.data_precision != 8) {
        j->own_error = 1;
        return fail(err, cap, "%s: %d-bit JPEG not supported (8-bit only)", path,
                    j->d.data_precision);
    }
    int ch;
    if (j->d.num_components == 1) {
        j->d.out_color_space = JCS_GRAYSCALE;
        ch = 1;
    } else if (j->d.num_components == 3 &&
               (j->d.jpeg_color_space == JCS_YCbCr || j->d.jpeg_color_space == JCS_RGB)) {
        j->d.out_color_space = JCS_RGB;
        ch = 3;
    } else {
        j->own_error = 1;
        return fail(err, cap, "%s: JPEG with %d components in colour space %d (%s) not supported "
                    "(grey, YCbCr and RGB are)", path, j->d.num_components,
                    (int)j->d.jpeg_color_space,
                    j->d.jpeg_color_space == JCS_CMYK ? "CMYK"
                    : j->d.jpeg_color_space == JCS_YCCK ? "YCCK" : "other");
    }
    jpeg_start_decompress(&j->d);
    if (j->d.output_components != ch || (uint64_t)j->d.output_width != j->d.image_width ||
        (uint64_t)j->d.output_height != j->d.image_height) {
        j->own_error = 1;
        return fail(err, cap, "%s: JPEG decodes to %d components %ux%u, expected %d", path,
                    j->d.output_components, j->d.output_width, j->d.output_height, ch);
    }
    if (alloc_image(&j->img, (int)j->d.output_width, (int)j->d.output_height, ch, IO_U8, path,
                    err, cap)) {
        j->own_error = 1;
        return -1;
    }
    size_t row = (size_t)j->d.output_width * (size_t)ch;
    while (j->d.output_scanline < j->d.output_height) {
        JSAMPROW r = (JSAMPROW)j->img.data + (size_t)j->d.output_scanline * row;
        if (jpeg_read_scanlines(&j->d, &r, 1) != 1) {
            j->own_error = 1;
            return fail(err, cap, "%s: JPEG row %u could not be decoded", path, j->d.output_scanline);
        }
    }
    jpeg_finish_decompress(&j->d);
    return 0;
}

/* f: borrowed, rewound here. */
static int read_jpeg(FILE *f, const char *path, io_image *out, char *err, size_t cap)
{
    jpeg_job *j = calloc(1, sizeof *j);   /* freed below */
    if (!j)
        return fail(err, cap, "%s: out of memory", path);
    rewind(f);
    j->d.err = jpeg_std_error(&j->jerr.pub);
    j->jerr.pub.error_exit = jpeg_error_exit;
    j->jerr.pub.emit_message = jpeg_message;
    j->progress.progress_monitor = jpeg_progress;
    int rc = jpeg_decode(j, f, path, err, cap);
    jpeg_destroy_decompress(&j->d);
    if (rc) {
        io_image_free(&j->img);
        if (!j->own_error)
            fail(err, cap, "%s: invalid or truncated JPEG: %s", path,
                 j->jerr.text[0] ? j->jerr.text : "libjpeg error");
    } else {
        *out = j->img;
    }
    free(j);
    return rc;
}

/* ================================ BMP ================================ */

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A colour mask of a BITFIELDS or 16/32-bit BMP: where its bits are and how many. */
typedef struct bmp_mask {
    uint32_t mask;
    int shift, bits;
} bmp_mask;

static int mask_of(uint32_t m, int bpp, bmp_mask *out)
{
    out->mask = m;
    out->shift = out->bits = 0;
    if (m == 0)
        return 0;   /* absent channel reads 0 */
    if (bpp < 32 && (m >> bpp) != 0)
        return -1;
    while (!((m >> out->shift) & 1))
        out->shift++;
    uint32_t v = m >> out->shift;
    while (v & 1) {
        out->bits++;
        v >>= 1;
    }
    return v == 0 ? 0 : -1;   /* contiguous */
}

static uint8_t mask_value(const bmp_mask *m, uint32_t px)
{
    if (!m->bits)
        return 0;
    uint32_t v = (px & m->mask) >> m->shift;
    uint32_t max = m->bits >= 32 ? UINT32_MAX : (UINT32_C(1) << m->bits) - 1;
    return (uint8_t)(((uint64_t)v * 255 + max / 2) / max);
}

/* f: borrowed, any position. BITMAPCOREHEADER (OS/2 1.x) and BITMAPINFOHEADER and its V2..V5
 * extensions; 1/4/8-bit palette, 16/32-bit with default or BITFIELDS masks, 24-bit; bottom-up
 * or top-down. RLE, embedded JPEG/PNG, CMYK and OS/2 2.x headers are refused. */
static int read_bmp(FILE *f, const char *path, io_image *out, char *err, size_t cap)
{
    uint8_t h[14 + 124];
    rewind(f);
    size_t got = fread(h, 1, 18, f);
    if (got < 18)
        return fail(err, cap, "%s: truncated BMP (%zu-byte file header)", path, got);
    uint32_t offset = le32(h + 10), hsize = le32(h + 14);
    if (hsize != 12 && hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
        return fail(err, cap, "%s: unsupported BMP header of %u bytes (supported: 12, 40, 52, 56, "
                    "108, 124)", path, hsize);
    if (fread(h + 18, 1, hsize - 4, f) != hsize - 4)
        return fail(err, cap, "%s: truncated BMP (header of %u bytes)", path, hsize);
    int64_t w, hh;
    int bpp;
    uint32_t comp = 0, colours = 0;
    if (hsize == 12) {
        w = le16(h + 18);
        hh = le16(h + 20);
        if (le16(h + 22) != 1)
            return fail(err, cap, "%s: BMP planes = %u, expected 1", path, le16(h + 22));
        bpp = le16(h + 24);
    } else {
        w = (int32_t)le32(h + 18);
        hh = (int32_t)le32(h + 22);
        if (le16(h + 26) != 1)
            return fail(err, cap, "%s: BMP planes = %u, expected 1", path, le16(h + 26));
        bpp = le16(h + 28);
        comp = le32(h + 30);
        colours = le32(h + 46);
    }
    int top_down = hh < 0;
    if (top_down)
        hh = -hh;
    if (w <= 0 || check_dims(path, (uint64_t)w, (uint64_t)hh, err, cap))
        return w <= 0 ? fail(err, cap, "%s: BMP width %lld, expected a positive width", path,
                             (long long)w) : -1;
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return fail(err, cap, "%s: BMP with %d bits per pixel not supported (1, 4, 8, 16, 24, 32 "
                    "are)", path, bpp);
    if (comp == 1 || comp == 2)
        return fail(err, cap, "%s: run-length encoded BMP (RLE%d) not supported; save it "
                    "uncompressed", path, comp == 1 ? 8 : 4);
    if (comp == 4 || comp == 5)
        return fail(err, cap, "%s: BMP holding an embedded %s not supported; save it as a plain "
                    "BMP or as that format", path, comp == 4 ? "JPEG" : "PNG");
    if (comp != 0 && comp != 3 && comp != 6)
        return fail(err, cap, "%s: BMP compression %u not supported (0 none, 3 bitfields are)",
                    path, comp);
    if ((comp == 3 || comp == 6) && bpp != 16 && bpp != 32)
        return fail(err, cap, "%s: BMP bitfields with %d bits per pixel (16 or 32 expected)", path, bpp);
    if (top_down && hsize == 12)
        return fail(err, cap, "%s: OS/2 BMP with a negative height", path);

    bmp_mask m[3];
    uint32_t masks[3];
    if (comp == 3 || comp == 6) {
        if (hsize == 40) {   /* masks follow the header */
            uint8_t mb[12];
            if (fread(mb, 1, 12, f) != 12)
                return fail(err, cap, "%s: truncated BMP (colour masks)", path);
            for (int i = 0; i < 3; i++)
                masks[i] = le32(mb + 4 * i);
        } else {
            for (int i = 0; i < 3; i++)
                masks[i] = le32(h + 54 + 4 * i);
        }
    } else if (bpp == 16) {
        masks[0] = 0x7C00, masks[1] = 0x03E0, masks[2] = 0x001F;
    } else {
        masks[0] = 0xFF0000, masks[1] = 0x00FF00, masks[2] = 0x0000FF;
    }
    if (bpp >= 16)
        for (int i = 0; i < 3; i++)
            if (mask_of(masks[i], bpp, &m[i]) || (m[i].mask & masks[(i + 1) % 3]))
                return fail(err, cap, "%s: BMP colour masks %08x %08x %08x are not contiguous, "
                            "separate bit ranges", path, masks[0], masks[1], masks[2]);

    uint8_t pal[256][3];
    int npal = 0, grey = 1;
    if (bpp <= 8) {
        uint32_t max = 1u << bpp;
        npal = (int)(colours == 0 ? max : colours);
        if (colours > max)
            return fail(err, cap, "%s: BMP palette of %u colours for %d bits per pixel", path,
                        colours, bpp);
        int entry = hsize == 12 ? 3 : 4;
        long pal_at = 14 + (long)hsize;
        if (fseek(f, pal_at, SEEK_SET) != 0)
            return fail(err, cap, "%s: truncated BMP (palette)", path);
        for (int i = 0; i < npal; i++) {
            uint8_t e[4];
            if (fread(e, 1, (size_t)entry, f) != (size_t)entry)
                return fail(err, cap, "%s: truncated BMP (palette entry %d of %d)", path, i, npal);
            pal[i][0] = e[2], pal[i][1] = e[1], pal[i][2] = e[0];
            grey = grey && e[0] == e[1] && e[1] == e[2];
        }
    }
    int ch = bpp <= 8 && grey ? 1 : 3;
    uint64_t row64 = ((uint64_t)w * (uint64_t)bpp + 31) / 32 * 4;
    if (row64 > SIZE_MAX / 2)
        return fail(err, cap, "%s: BMP row too large", path);
    size_t row = (size_t)row64;
    if (offset < 14 + hsize || fseek(f, (long)offset, SEEK_SET) != 0)
        return fail(err, cap, "%s: BMP pixel data offset %u is inside the headers or beyond the "
                    "file", path, offset);
    io_image img;
    memset(&img, 0, sizeof img);
    if (alloc_image(&img, (int)w, (int)hh, ch, IO_U8, path, err, cap))
        return -1;
    uint8_t *buf = malloc(row);   /* freed below */
    if (!buf) {
        io_image_free(&img);
        return fail(err, cap, "%s: cannot allocate a %zu-byte row buffer", path, row);
    }
    int rc = 0;
    for (int64_t r = 0; r < hh && rc == 0; r++) {
        if (fread(buf, 1, row, f) != row) {
            rc = fail(err, cap, "%s: truncated BMP: pixel data ends in row %lld of %lld", path,
                      (long long)r, (long long)hh);
            break;
        }
        int64_t y = top_down ? r : hh - 1 - r;
        uint8_t *o = (uint8_t *)img.data + (size_t)y * (size_t)w * (size_t)ch;
        for (int64_t x = 0; x < w; x++) {
            if (bpp <= 8) {
                int per = 8 / bpp;
                uint8_t byte = buf[x / per];
                int idx = (byte >> (8 - bpp * (int)(x % per + 1))) & ((1 << bpp) - 1);
                if (idx >= npal) {
                    rc = fail(err, cap, "%s: BMP pixel (%lld, %lld) uses colour %d of a %d-colour "
                              "palette", path, (long long)x, (long long)y, idx, npal);
                    break;
                }
                if (ch == 1)
                    o[x] = pal[idx][0];
                else
                    memcpy(o + 3 * x, pal[idx], 3);
            } else if (bpp == 24) {
                o[3 * x] = buf[3 * x + 2];
                o[3 * x + 1] = buf[3 * x + 1];
                o[3 * x + 2] = buf[3 * x];
            } else {
                uint32_t px = bpp == 16 ? le16(buf + 2 * x) : le32(buf + 4 * x);
                for (int c = 0; c < 3; c++)
                    o[3 * x + c] = mask_value(&m[c], px);
            }
        }
    }
    free(buf);
    if (rc) {
        io_image_free(&img);
        return -1;
    }
    *out = img;
    return 0;
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
    TIFF *tif = tiff_open(path, -1, "w", &msg);
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
