/* The plugin's one aligned allocator (sizes rounded to DP_ALIGN). */
#include "dp_size.h"

#include <stdlib.h>
#include <sys/mman.h>

/* Blocks from this size on (a large image's maps and stitching buffers, the towers' weights and
 * activations) start on a 2 MiB boundary and are marked for transparent huge pages: a fresh
 * 64 MB map then costs 32 page faults instead of 16384, which was most of the time a 4096 x 4096
 * image spent outside the towers in no stage at all. Without THP (or with "never") madvise
 * fails or does nothing and the block is an ordinary one. */
#define HUGE_BLOCK_MIN ((size_t)8 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

void *dp_alloc_aligned(size_t bytes)
{
    if (bytes > SIZE_MAX - HUGE_PAGE)
        return NULL;
    if (bytes >= HUGE_BLOCK_MIN) {
        size_t rounded = dp_align_up(bytes, HUGE_PAGE);
        void *p = aligned_alloc(HUGE_PAGE, rounded);
        if (p)
            (void)madvise(p, rounded, MADV_HUGEPAGE);     /* a hint: failure changes nothing */
        return p;
    }
    return aligned_alloc(DP_ALIGN, dp_align_up(bytes ? bytes : 1, DP_ALIGN));
}
