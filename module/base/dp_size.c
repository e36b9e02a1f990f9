/* The plugin's one aligned allocator (sizes rounded to DP_ALIGN). */
#include "dp_size.h"

#include <stdlib.h>

void *dp_alloc_aligned(size_t bytes)
{
    if (bytes > SIZE_MAX - DP_ALIGN)
        return NULL;
    return aligned_alloc(DP_ALIGN, dp_align_up(bytes ? bytes : 1, DP_ALIGN));
}
