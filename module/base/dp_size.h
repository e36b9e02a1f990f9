/* Overflow-checked size arithmetic and the one alignment every buffer of the plugin uses. */
#ifndef DP_SIZE_H
#define DP_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Cache-line (and AVX-512 vector) alignment of every buffer the plugin allocates for kernels. */
#define DP_ALIGN 64

/* n rounded up to a multiple of `align` (a power of two). */
static inline size_t dp_align_up(size_t n, size_t align)
{
    return (n + (align - 1)) & ~(align - 1);
}

/* aligned_alloc with the size rounded up as the C standard requires (blocks of 8 MiB and more
 * on 2 MiB boundaries, marked for transparent huge pages); free() releases it.
 * Returns NULL on failure or when the rounded size overflows. Caller owns the block. */
void *dp_alloc_aligned(size_t bytes);

/* *r = a * b (a + b); 0 when that overflows size_t (then *r is untouched), else 1. */
static inline int dp_mul_ok(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

static inline int dp_add_ok(size_t a, size_t b, size_t *r)
{
    if (b > SIZE_MAX - a)
        return 0;
    *r = a + b;
    return 1;
}

#endif
