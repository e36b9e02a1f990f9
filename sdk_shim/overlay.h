/* Renders an inspection result as a picture for people: the dimmed image, the anomaly map as a
 * heat map, defect outlines and boxes in one colour per defect type, a legend, and a header
 * with the score and decision. Text uses a built-in 5x7 ASCII font (no font files on the line
 * PC). The image is framed, not covered: header above, legend below. */
#ifndef INSP_OVERLAY_H
#define INSP_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "insp_tool.h"

typedef struct overlay_input {
    const uint8_t *rgb;              /* base image, packed RGB8 rows of width*3 bytes, borrowed */
    int width, height;
    const insp_image *anomaly;       /* F32 map view from the result, borrowed; NULL = none */
    const insp_image *labels;        /* U16 label map view, borrowed; NULL = none */
    const uint8_t *mask;             /* inspection mask in image coordinates (0 = not inspected,
                                        drawn like outside the ROI), borrowed; NULL = none */
    ptrdiff_t mask_stride;
    float map_max;                   /* heat ramp top; <= 0: 2 * pixel_threshold, else map max */
    float pixel_threshold;           /* shown in the legend; <= 0: unknown */
    const insp_region *regions;      /* borrowed, region_count entries */
    int region_count;
    const char *const *class_names;  /* borrowed, class_count entries, [0] = "normal" */
    int class_count;
    float score;
    int32_t decision;                /* INSP_DECISION_* */
    const char *title;               /* borrowed, may be NULL (e.g. the image file name) */
} overlay_input;

typedef struct overlay_image {
    int width, height;
    uint8_t *rgb;                    /* owned, packed RGB8; release with overlay_free */
    int image_x, image_y;            /* where input pixel (0, 0) lands */
    int scale;                       /* text and line scale factor (1..4) */
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

/* Centre of class_id's legend swatch in an image rendered from in, or -1 if not drawn. */
int overlay_legend_swatch(const overlay_input *in, const overlay_image *img, int class_id,
                          int *x, int *y);

#endif
