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

/* Adds one tile's map into ROI-sized sums: acc[p] += wgt * map, wsum[p] += wgt, with wgt the
 * 2-D blend weight of the tile pixel over ROI pixel p (p = y*roi_w + x).
 * t: borrowed, a tile of the plan (a tile reaching outside the ROI is clipped to it).
 * tile_map: borrowed, t->w x t->h floats, row-major, the tile's map at the tile's own size.
 * acc, wsum: borrowed, roi_w x roi_h floats, zeroed by the caller before the first tile.
 * No two buffers may overlap (they are accessed as restrict).
 * Per-pixel type (optional; used when tile_types, best_w and types are all non-NULL):
 * tile_types: borrowed, t->w x t->h, the tile's type map; best_w, types: borrowed, ROI-sized,
 * zeroed by the caller before the first tile; the pixel keeps the type of the tile whose weight
 * there is largest (the first such tile on a tie), so the tile seeing it most centrally wins.
 * Does not allocate; NULL required pointers or sizes <= 0 make it do nothing. */
void dp_tiling_accumulate(const dp_tile *t, int roi_w, int roi_h, int overlap,
                          const float *tile_map, const uint16_t *tile_types, float *acc,
                          float *wsum, float *best_w, uint16_t *types);

/* dp_tiling_accumulate for the ROI rows y0 <= y < y1 only, with the same sums there: threads
 * stitching disjoint row bands, each passing the tiles in the same order, give every pixel the
 * sums of one thread stitching them all in that order (bit for bit). Pointers as for
 * dp_tiling_accumulate (borrowed; acc, wsum, best_w, types written in the band only). */
void dp_tiling_accumulate_rows(const dp_tile *t, int roi_w, int roi_h, int overlap, int y0, int y1,
                               const float *tile_map, const uint16_t *tile_types, float *acc,
                               float *wsum, float *best_w, uint16_t *types);

/* acc[i] = acc[i] / wsum[i] for i < n (0 where wsum[i] <= 0, i.e. a pixel no tile covered).
 * acc: borrowed, read and written; wsum: borrowed. */
void dp_tiling_normalize(float *acc, const float *wsum, size_t n);

#endif
