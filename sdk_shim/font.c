/* Overlay text: FreeType when a font file is available, else a scaled 5x9 bitmap font (the
 * classic 5x7 ASCII shapes with real descenders on g, j, p, q, y). */
#include "font.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const ov_font_candidates[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",     /* Debian/Ubuntu fonts-dejavu-core */
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",              /* Fedora */
    "/usr/share/fonts/TTF/DejaVuSans.ttf",                 /* Arch */
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    NULL,
};

struct ov_font {
    FT_Library lib;
    FT_Face face;       /* NULL: bitmap font */
    int size;           /* pixel size currently set on face */
    char desc[320];
};

static const uint8_t font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x14, 0x08, 0x3E, 0x08, 0x14}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00},
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E},
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x49, 0x49, 0x7A}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x0C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x0C, 0x52, 0x52, 0x52, 0x3E},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x44, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0x7C, 0x14, 0x14, 0x14, 0x08},
    {0x08, 0x14, 0x14, 0x18, 0x7C}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20},
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0C, 0x50, 0x50, 0x50, 0x3C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x08, 0x04, 0x08, 0x10, 0x08},
};
/* The descender letters redrawn on 9 rows (row 0 at the top, rows 7-8 below the baseline). */
static const struct { char c; const char *rows[9]; } descenders[] = {
    {'g', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'p', {".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"}},
    {'y', {".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
};

/* Column bit masks (bit 0 = top row) of character c, 9 rows. */
static void glyph_columns(int c, uint16_t col[5])
{
    if (c < 0x20 || c > 0x7E)
        c = '?';
    for (size_t i = 0; i < sizeof descenders / sizeof descenders[0]; i++)
        if (descenders[i].c == c) {
            for (int x = 0; x < 5; x++) {
                col[x] = 0;
                for (int y = 0; y < 9; y++)
                    if (descenders[i].rows[y][x] == '#')
                        col[x] |= (uint16_t)(1u << y);
            }
            return;
        }
    for (int x = 0; x < 5; x++)
        col[x] = font5x7[c - 0x20][x];
}

/* Bitmap scale for a pixel size: glyph cell 6 x 11 units (1 row above, 7 + 2 rows, 1 below);
 * the 7-row capitals are drawn about half the size as tall, as FreeType draws them. */
static int bitmap_scale(int px)
{
    int s = (px + 3) / 7;
    return s < 1 ? 1 : s;
}

ov_font *ov_font_open(const char *path, char *note, size_t note_cap)
{
    if (note && note_cap)
        note[0] = '\0';
    ov_font *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    snprintf(f->desc, sizeof f->desc, "built-in bitmap font");
    const char *env = getenv("INSP_FONT");
    const char *chosen = path ? path : env && env[0] ? env : NULL;
    if (!chosen) {
        struct stat st;
        for (int i = 0; ov_font_candidates[i]; i++)
            if (stat(ov_font_candidates[i], &st) == 0 && S_ISREG(st.st_mode)) {
                chosen = ov_font_candidates[i];
                break;
            }
        if (!chosen) {
            if (note && note_cap)
                snprintf(note, note_cap, "no font file found (looked for %s and others); overlays "
                         "use the built-in bitmap font: install fonts-dejavu-core or set INSP_FONT",
                         ov_font_candidates[0]);
            return f;
        }
    }
    struct stat st;
    FT_Error e = 0;
    if (stat(chosen, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (note && note_cap)
            snprintf(note, note_cap, "font %.200s%s is not a readable file; overlays use the built-in "
                     "bitmap font", chosen, path ? "" : env && env[0] ? " (INSP_FONT)" : "");
        return f;
    }
    if ((e = FT_Init_FreeType(&f->lib)) != 0) {
        f->lib = NULL;
    } else if ((e = FT_New_Face(f->lib, chosen, 0, &f->face)) != 0 || !f->face->charmap) {
        if (f->face)
            FT_Done_Face(f->face);
        f->face = NULL;
        if (!e)
            e = -1;
    }
    if (!f->face) {
        if (f->lib)
            FT_Done_FreeType(f->lib);
        f->lib = NULL;
        if (note && note_cap)
            snprintf(note, note_cap, "FreeType cannot use font %.200s (error %d); overlays use the "
                     "built-in bitmap font", chosen, (int)e);
        return f;
    }
    snprintf(f->desc, sizeof f->desc, "%s %s (%.250s)", f->face->family_name ? f->face->family_name : "?",
             f->face->style_name ? f->face->style_name : "", chosen);
    return f;
}

void ov_font_close(ov_font *f)
{
    if (!f)
        return;
    if (f->face)
        FT_Done_Face(f->face);
    if (f->lib)
        FT_Done_FreeType(f->lib);
    free(f);
}

const char *ov_font_describe(const ov_font *f)
{
    return f ? f->desc : "built-in bitmap font";
}

int ov_font_is_bitmap(const ov_font *f)
{
    return !f || !f->face;
}

static void set_size(ov_font *f, int px)
{
    if (f->size != px) {
        FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt)px);
        f->size = px;
    }
}

void ov_font_metrics(ov_font *f, int px, int *ascent, int *line_height)
{
    if (ov_font_is_bitmap(f)) {
        int s = bitmap_scale(px);
        *ascent = 8 * s;
        *line_height = 11 * s;
        return;
    }
    set_size(f, px);
    *ascent = (int)((f->face->size->metrics.ascender + 63) >> 6);
    int desc = (int)((-f->face->size->metrics.descender + 63) >> 6);
    *line_height = *ascent + desc + px / 8;
}

/* Next code point of UTF-8 text; invalid bytes give '?' and advance one byte. */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0) {
        *p = s + 1;
        return '?';
    }
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + 1;
            return '?';
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *p = s + n;
    return v;
}

int ov_text_width(ov_font *f, int px, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int w = 0;
    if (ov_font_is_bitmap(f)) {
        int sc = bitmap_scale(px);
        while (*p) {
            next_cp(&p);
            w += 6 * sc;
        }
        return w;
    }
    set_size(f, px);
    while (*p) {
        uint32_t c = next_cp(&p);
        if (FT_Load_Char(f->face, c, FT_LOAD_DEFAULT) == 0)
            w += (int)((f->face->glyph->advance.x + 32) >> 6);
    }
    return w;
}

static void blend(uint8_t *rgb, int cw, int ch, int x, int y, const uint8_t col[3], unsigned a)
{
    if (x < 0 || y < 0 || x >= cw || y >= ch || a == 0)
        return;
    uint8_t *q = rgb + ((size_t)y * (size_t)cw + (size_t)x) * 3;
    for (int c = 0; c < 3; c++)
        q[c] = (uint8_t)((q[c] * (255 - a) + col[c] * a + 127) / 255);
}

int ov_draw_text(ov_font *f, int px, uint8_t *rgb, int cw, int ch, int x, int y, const char *s,
                 const uint8_t col[3])
{
    const unsigned char *p = (const unsigned char *)s;
    if (ov_font_is_bitmap(f)) {
        int sc = bitmap_scale(px);
        while (*p) {
            uint32_t c = next_cp(&p);
            uint16_t cols[5];
            glyph_columns(c < 0x80 ? (int)c : '?', cols);
            for (int gx = 0; gx < 5; gx++)
                for (int gy = 0; gy < 9; gy++)
                    if (cols[gx] >> gy & 1)
                        for (int yy = 0; yy < sc; yy++)
                            for (int xx = 0; xx < sc; xx++)
                                blend(rgb, cw, ch, x + gx * sc + xx, y + (1 + gy) * sc + yy, col, 255);
            x += 6 * sc;
        }
        return x;
    }
    set_size(f, px);
    int ascent = (int)((f->face->size->metrics.ascender + 63) >> 6);
    while (*p) {
        uint32_t c = next_cp(&p);
        if (FT_Load_Char(f->face, c, FT_LOAD_RENDER) != 0)
            continue;
        FT_GlyphSlot g = f->face->glyph;
        const FT_Bitmap *b = &g->bitmap;
        int x0 = x + g->bitmap_left, y0 = y + ascent - g->bitmap_top;
        if (b->pixel_mode == FT_PIXEL_MODE_GRAY) {
            for (unsigned r = 0; r < b->rows; r++)
                for (unsigned k = 0; k < b->width; k++)
                    blend(rgb, cw, ch, x0 + (int)k, y0 + (int)r, col,
                          b->buffer[(ptrdiff_t)r * b->pitch + k]);
        } else if (b->pixel_mode == FT_PIXEL_MODE_MONO) {
            for (unsigned r = 0; r < b->rows; r++)
                for (unsigned k = 0; k < b->width; k++)
                    if (b->buffer[(ptrdiff_t)r * b->pitch + k / 8] & (0x80 >> (k % 8)))
                        blend(rgb, cw, ch, x0 + (int)k, y0 + (int)r, col, 255);
        }
        x += (int)((g->advance.x + 32) >> 6);
    }
    return x;
}
