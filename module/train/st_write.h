/* Writing float32 safetensors files (DAPO weights, training checkpoints). */
#ifndef DP_ST_WRITE_H
#define DP_ST_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

typedef struct dp_st_out {
    const char *name;        /* borrowed */
    int ndim;                /* 0..3 */
    int64_t shape[3];
    const float *data;       /* borrowed, product of shape elements */
} dp_st_out;

/* Writes the n tensors (in this order, F32) and the string metadata meta[0..n_meta) as
 * key/value pairs (meta[2i] key, meta[2i+1] value; borrowed; plain ASCII without '"' or '\\')
 * to path.tmp, then renames it to path, so a reader never sees half a file. */
dp_status dp_st_write_f32(const char *path, const dp_st_out *t, int n, const char *const *meta,
                          int n_meta, dp_err *err);

#endif
