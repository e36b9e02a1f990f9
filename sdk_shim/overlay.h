/* Renders an inspection result as a picture for people: a panel on top with the file name, the
 * score against the image threshold, the verdict and why, the heat-map scale and the defect
 * types; below it the image (inspected area slightly dimmed, the rest dimmed more), the anomaly
 * map as heat only where it reaches the heat floor, defect outlines and a numbered box per
 * region ("#3 scratch": #3 is the region's "id" in the JSON record).
 *
 * Sizes: text is 1.6 % of the displayed image's longer side, at least 13 px, so it reads the
 * same at every image size when the picture is fitted to a screen. Images under 480 px are
 * magnified by a whole factor (at most 8) so that boxes and labels have room; a picture that
 * would exceed the PNG writer's limits (IO_MAX_PIXELS, IO_MAX_SIDE) is reduced by a whole
 * factor (box-filtered image, maximum of the map per pixel, so small hot spots stay visible).
 * overlay_image.zoom_num / zoom_den say which scale was used. Region labels are placed beside
 * their box where they overlap no other label and stay inside the image; a label that finds
 * no room shrinks to its number, and a region whose number finds no room keeps only its box
 * (counted in unlabelled). */
#ifndef INSP_OVERLAY_H
#define INSP_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "font.h"
#include "insp_tool.h"

typedef struct overlay_input {
    const insp_image *image;         /* the inspected view, borrowed: any layout that
                                        overlay_rgb8_from_image takes; its mask (0 = not
                                        inspected) is drawn like outside the ROI */
    const insp_image *anomaly;       /* F32 map view from the result, borrowed; NULL = none */
    const insp_image *labels;        /* U16 label map view, borrowed; NULL = none */
    float pixel_threshold;           /* anomaly-map units; <= 0 or NaN: unknown */
    float image_threshold;           /* NaN: unknown */
    float heat_floor;                /* map value below which no heat is drawn; < 0 or NaN:
                                        3/4 of the pixel threshold (0 if that is unknown) */
    const insp_region *regions;      /* borrowed, region_count entries, numbered 1.. in order */
    int region_count;
    const char *const *class_names;  /* borrowed, class_count entries, [0] = "normal" */
    int class_count;
    float score;
    int32_t decision;                /* INSP_DECISION_* */
    const char *title;               /* borrowed, may be NULL (e.g. the image file name) */
    const char *reason;              /* borrowed, may be NULL: why OK/NG, one line */
    ov_font *font;                   /* borrowed; NULL = built-in bitmap font */
    int64_t max_pixels;              /* canvas limits; 0 = IO_MAX_PIXELS / IO_MAX_SIDE */
    int max_side;
} overlay_input;

typedef struct overlay_rect { int x, y, w, h; } overlay_rect;

#define OVERLAY_MAX_LABELS 256
#define OVERLAY_MAX_CLASSES 65

typedef struct overlay_image {
    int width, height;
    uint8_t *rgb;                    /* owned, packed RGB8; release with overlay_free */
    int image_x, image_y;            /* where the displayed image's top-left pixel lands */
    int image_w, image_h;            /* displayed image size = input size * zoom */
    int zoom_num, zoom_den;          /* displayed = input * zoom_num / zoom_den (one is 1) */
    int text_px;                     /* text size in pixels */
    float heat_floor, heat_top;      /* heat ramp: transparent below floor, red at top */
    int n_labels;                    /* region labels drawn */
    overlay_rect label_rect[OVERLAY_MAX_LABELS];
    int label_region[OVERLAY_MAX_LABELS];   /* 0-based region index of each label */
    int unlabelled;                  /* regions drawn with a box only */
    overlay_rect swatch[OVERLAY_MAX_CLASSES];  /* legend swatch of class k (w 0 = none) */
} overlay_image;

/* Draws in into *out (caller releases with overlay_free). Returns 0, or -1 with a message in
 * err (caller-owned, NUL-terminated when err_cap > 0) for invalid input or out of memory. */
int overlay_render(const overlay_input *in, overlay_image *out, char *err, size_t err_cap);
void overlay_free(overlay_image *img);

/* 8-bit RGB copy of any valid input view (strides, planar, BGR, U16/F32 scaled by its
 * value_min/value_max or the type's default range, grey copied to R, G, B). The whole image,
 * not only its ROI. *rgb: packed width*height*3, owned by the caller (free()). */
int overlay_rgb8_from_image(const insp_image *img, uint8_t **rgb, char *err, size_t err_cap);

/* Colour of defect type class_id (>= 1), the same in outlines, boxes and legend. */
void overlay_class_colour(int class_id, uint8_t rgb[3]);

#endif
