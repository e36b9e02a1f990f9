/* Text for overlays: a TrueType/OpenType font through FreeType (DejaVu Sans from Debian's
 * fonts-dejavu-core by default), or a built-in bitmap font when no font file can be used.
 * Sizes are in pixels (the em size); everything scales with it. Not thread-safe: one font per
 * thread. */
#ifndef INSP_FONT_H
#define INSP_FONT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ov_font ov_font;

/* Font files tried, in order, when no path is given and $INSP_FONT is unset. */
extern const char *const ov_font_candidates[];

/* Opens the font at path; path NULL: $INSP_FONT if set, else the first of ov_font_candidates
 * that exists. Never fails for want of a font: the built-in bitmap font is used then, and
 * note (caller-owned) says why in one line (else ""). Returns NULL only when out of memory.
 * Release with ov_font_close. */
ov_font *ov_font_open(const char *path, char *note, size_t note_cap);
void ov_font_close(ov_font *f);

/* "DejaVu Sans Book (/usr/share/...ttf)" or "built-in bitmap font". Owned by f. */
const char *ov_font_describe(const ov_font *f);
int ov_font_is_bitmap(const ov_font *f);

/* Vertical metrics at size px: distance from a line's top to the baseline, and from one
 * line's top to the next. */
void ov_font_metrics(ov_font *f, int px, int *ascent, int *line_height);

/* Advance width of UTF-8 text s at size px, in pixels. Invalid bytes count as '?'. */
int ov_text_width(ov_font *f, int px, const char *s);

/* Draws s with its line top at (x, y) onto an RGB8 canvas of cw x ch pixels (rgb: packed rows),
 * anti-aliased where the font is, clipped to the canvas. Returns the x after the text. */
int ov_draw_text(ov_font *f, int px, uint8_t *rgb, int cw, int ch, int x, int y, const char *s,
                 const uint8_t col[3]);

#endif
