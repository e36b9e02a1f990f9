/* Benchmark only: the previous dp_regions_find (regions_ref.c), same contract as regions.h. */
#ifndef DP_REGIONS_REF_H
#define DP_REGIONS_REF_H

#include "regions.h"

size_t dp_regions_workspace_ref(int w, int h, int n_types);
dp_status dp_regions_find_ref(const float *amap, const uint16_t *types, const uint8_t *mask,
                              ptrdiff_t mask_stride, int w, int h, int n_types,
                              const float *pixel_threshold, int64_t min_area, uint16_t *label,
                              dp_region *regions, int max_regions, int *n_regions, int *n_total,
                              void *workspace, size_t workspace_size, dp_err *err);

#endif
