/* Grid tiling of a ROI at native resolution and smooth stitching of per-tile maps back into a
 * ROI-sized map (recipe `tiling: { mode: grid }`). */
#ifndef DP_TILING_H
#define DP_TILING_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

/* Most tiles one plan may hold; more is refused with DP_E_NOMEM (an absurd image or tile). */
#define DP_TILING_MAX_TILES 65536

/* Smallest accepted tile side in pixels. */
#define DP_TILING_MIN_TILE 16

typedef struct dp_tile { int x, y, w, h; } dp_tile;   /* in ROI coordinates */

/* Number of tiles for a roi_w x roi_h ROI. Tiles step by (tile - overlap) from the ROI's
 * top-left corner; the last tile of a row/column is moved back so that it ends at the ROI's far
 * edge (no tile sticks out). A ROI side shorter than `tile` gives one tile of that side's length.
 * count: borrowed, written. Fails with DP_E_ARG on a NULL count, roi_w/roi_h <= 0,
 * tile < DP_TILING_MIN_TILE, overlap < 0 or 2*overlap >= tile (overlap must be less than half a
 * tile, as the recipe requires); DP_E_NOMEM when more than DP_TILING_MAX_TILES tiles. */
dp_status dp_tiling_count(int roi_w, int roi_h, int tile, int overlap, int *count, dp_err *err);

/* Writes the plan: tiles[count] (borrowed, written), row by row, left to right. count must be the
 * value dp_tiling_count gives for the same arguments (else DP_E_ARG). Tiles of one row share y
 * and h, tiles of one column share x and w; every ROI pixel lies in at least one tile. */
dp_status dp_tiling_plan(int roi_w, int roi_h, int tile, int overlap, dp_tile *tiles, int count,
                         dp_err *err);

/* One side of the plan (length len, the ROI's width or height) as the stitching needs it:
 * sum[i] = the total blend weight at index i over the tiles covering it, in tile order, and
 * owner[i] = the position (tile x or y) of the covering tile whose weight there is largest (the
 * first on a tie). A tile's 2-D blend weight is its column weight times its row weight, so the
 * total weight at ROI pixel (x, y) is sum_x[x] * sum_y[y] and the tile seeing the pixel most
 * centrally is the one at (owner_x[x], owner_y[y]): no ROI-sized weight or type buffers.
 * sum[len], owner[len]: borrowed, written. Arguments as for dp_tiling_count (not re-checked:
 * invalid ones make it do nothing). */
void dp_tiling_axis(int len, int tile, int overlap, float *sum, int32_t *owner);

/* Both sides of a plan (from dp_tiling_axis); all borrowed: sum_x, own_x [roi_w], sum_y, own_y
 * [roi_h]. */
typedef struct dp_tiling_axes {
    const float *sum_x, *sum_y;
    const int32_t *own_x, *own_y;
} dp_tiling_axes;

/* Adds one tile's map into a ROI-sized sum: acc[p] += wgt * map, with wgt the 2-D blend weight
 * of the tile pixel over ROI pixel p (p = y*roi_w + x).
 * t: borrowed, a tile of the plan (a tile reaching outside the ROI is clipped to it).
 * ax: borrowed, the plan's axes (only own_x and own_y are read here; may be NULL without types).
 * tile_map: borrowed, t->w x t->h floats, row-major, the tile's map at the tile's own size.
 * acc: borrowed, roi_w x roi_h floats, zeroed by the caller before the first tile.
 * Per-pixel type (optional; used when tile_types, types and ax are non-NULL): tile_types:
 * borrowed, t->w x t->h, the tile's type map; types: borrowed, ROI-sized; the pixels the tile
 * owns (ax) get its types, so after the whole plan every pixel holds the type of the tile
 * seeing it most centrally (no need to clear types first).
 * No two buffers may overlap (they are accessed as restrict).
 * Does not allocate; NULL required pointers or sizes <= 0 make it do nothing. */
void dp_tiling_accumulate(const dp_tile *t, int roi_w, int roi_h, int overlap,
                          const dp_tiling_axes *ax, const float *tile_map,
                          const uint16_t *tile_types, float *acc, uint16_t *types);

/* dp_tiling_accumulate for the ROI rows y0 <= y < y1 only, with the same sums there: threads
 * stitching disjoint row bands, each passing the tiles in the same order, give every pixel the
 * sums of one thread stitching them all in that order (bit for bit). Pointers as for
 * dp_tiling_accumulate (borrowed; acc and types written in the band only). */
void dp_tiling_accumulate_rows(const dp_tile *t, int roi_w, int roi_h, int overlap, int y0, int y1,
                               const dp_tiling_axes *ax, const float *tile_map,
                               const uint16_t *tile_types, float *acc, uint16_t *types);

/* Rows y0 <= y < y1 of acc (roi_w wide) divided by the total weight sum_x[x] * sum_y[y] (0 where
 * that is not positive, i.e. a pixel no tile covered). acc: borrowed, read and written; ax:
 * borrowed. */
void dp_tiling_normalize_rows(float *acc, int roi_w, int y0, int y1, const dp_tiling_axes *ax);

#endif
