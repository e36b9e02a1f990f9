/* Defect regions: 8-connected components of the thresholded anomaly map, their class, statistics
 * and the per-pixel label map (insp_region and result_label_map of insp_tool.h). */
#ifndef DP_REGIONS_H
#define DP_REGIONS_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

/* Largest map dp_regions_find accepts, in pixels (w * h). */
#define DP_REGIONS_MAX_PIXELS ((int64_t)1 << 30)

typedef struct dp_region {
    int class_id;              /* defect type 1..n_types */
    int x, y, w, h;            /* bounding box in map coordinates (caller adds the ROI offset) */
    int seed_x, seed_y;        /* first pixel of the region in raster order */
    int64_t area;              /* pixels */
    float max_score, mean_score;  /* amap over the region's pixels */
} dp_region;

/* Bytes of workspace dp_regions_find needs for a w x h map with n_types types: 4 bytes per
 * possible label (one per 2x2 block, so about w*h bytes), 4 bytes per row (how its runs are
 * handed from one pass to the other) plus O(w * n_types) for the components open on the
 * current row; e.g. 68 MB for 8192 x 8192 with 8 types, 72 MB with 64, 5.4 MB for
 * 2448 x 2048. 0 if the arguments are invalid (sizes <= 0, more than DP_REGIONS_MAX_PIXELS
 * pixels, n_types outside 1..65535). */
size_t dp_regions_workspace(int w, int h, int n_types);

/* Finds the defect regions of a w x h map. All inputs are borrowed, row-major, w x h:
 *   amap   anomaly map (0..4); NaN never counts as defective.
 *   types  per-pixel defect type, 1..n_types, computed by the caller; read only where the mask
 *          allows and amap exceeds the lowest threshold (elsewhere it may hold anything).
 *   mask   may be NULL (inspect every pixel); else row y starts at mask + y*mask_stride
 *          (|mask_stride| >= w, may be negative); nonzero = inspect.
 *   pixel_threshold  [n_types + 1] finite values, index 0 unused: pixel p is defective when
 *          the mask allows it and amap[p] > pixel_threshold[types[p]].
 * Regions are the 8-connected components of defective pixels, whatever their types. A region's
 * class is the type with the largest sum of amap over the region's pixels of that type (ties ->
 * lowest type id). Regions with area < min_area (>= 0) are dropped.
 * Outputs (borrowed, written):
 *   label  w x h: every pixel of every kept region (including those beyond max_regions) holds
 *          its region's class, all other pixels 0; so flood-filling label from a region's seed
 *          (8-connected, same value) gives exactly its pixels.
 *   regions[max_regions] (may be NULL when max_regions == 0): the strongest kept regions,
 *          sorted by descending max_score (ties: earlier seed in raster order first).
 *   *n_regions  regions written (<= max_regions); *n_total  kept regions found.
 * workspace: borrowed scratch of at least dp_regions_workspace(w, h, n_types) bytes, any
 * alignment; nothing is allocated. Two passes over the map, union-find with path compression
 * (near-linear in w*h; a merge of two components also costs the range of types they hold), no
 * recursion. amap and types are read in pass 1 only; label serves as scratch between passes.
 * Errors: DP_E_ARG for NULL inputs/outputs, bad sizes, a small stride or workspace, a
 * non-finite threshold, negative min_area or max_regions, or a type outside 1..n_types where
 * types is read (the message gives its position). On failure *n_regions = *n_total = 0 and
 * label and regions are unspecified (label is also scratch for the two passes). */
dp_status dp_regions_find(const float *amap, const uint16_t *types, const uint8_t *mask,
                          ptrdiff_t mask_stride, int w, int h, int n_types,
                          const float *pixel_threshold, int64_t min_area, uint16_t *label,
                          dp_region *regions, int max_regions, int *n_regions, int *n_total,
                          void *workspace, size_t workspace_size, dp_err *err);

#endif
