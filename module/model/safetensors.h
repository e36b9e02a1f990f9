/* Read-only, validated view of a .safetensors file (memory-mapped). */
#ifndef DP_SAFETENSORS_H
#define DP_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"
#include "json.h"

/* DP_DT_OTHER: a valid safetensors dtype that is not a float weight type (I64 position_ids in
 * Hugging Face files, F64, ...): the file opens, converting that tensor fails. */
typedef enum dp_dtype { DP_DT_F32, DP_DT_F16, DP_DT_BF16, DP_DT_OTHER } dp_dtype;

#define DP_ST_MAX_DIMS 8

typedef struct dp_st_tensor {
    const char *name;      /* owned by the file object */
    dp_dtype dtype;
    char dtype_name[12];   /* as written in the header ("F32", "I64", ...) */
    int ndim;              /* 0..8; 0 = scalar */
    int64_t shape[DP_ST_MAX_DIMS];
    size_t count;          /* elements */
    size_t nbytes;
    const void *data;      /* points into the read-only mapping; valid until dp_st_close;
                            * may be unaligned: read it through dp_st_to_f32 */
} dp_st_tensor;

typedef struct dp_safetensors dp_safetensors;

/* Maps path (borrowed; copied) and validates the whole header (dtypes, shapes, offsets,
 * overlaps, duplicates, __metadata__) before returning. *out is owned by the caller
 * (dp_st_close); NULL on failure. DP_E_IO: cannot open / not a regular file / empty;
 * DP_E_FORMAT: malformed file; DP_E_UNSUPPORTED: a dtype other than F32, F16, BF16. */
dp_status dp_st_open(const char *path, dp_safetensors **out, dp_err *err);
void dp_st_close(dp_safetensors *st);   /* NULL is a no-op */

const char *dp_st_path(const dp_safetensors *st);   /* borrowed, valid until dp_st_close */
size_t dp_st_count(const dp_safetensors *st);
/* Tensors in header order; borrowed, NULL if i is out of range. */
const dp_st_tensor *dp_st_at(const dp_safetensors *st, size_t i);
/* name: borrowed. Result borrowed; NULL if absent. */
const dp_st_tensor *dp_st_find(const dp_safetensors *st, const char *name);
/* The "__metadata__" object (all values are strings) or NULL; borrowed. */
const dp_json *dp_st_metadata(const dp_safetensors *st);

/* Converts t (a tensor of st) to float32 into dst[t->count] (caller-owned). F16 = IEEE half
 * incl. subnormals, BF16 = upper 16 bits of f32. Fails with DP_E_MODEL naming file and tensor
 * if any value is NaN or Inf (dst contents are then unspecified). */
dp_status dp_st_to_f32(const dp_safetensors *st, const dp_st_tensor *t, float *dst, dp_err *err);

/* "[a,b,c]" into buf (borrowed, cap bytes), truncated silently: for messages only. Returns buf. */
const char *dp_st_format_shape(char *buf, size_t cap, const int64_t *shape, int ndim);

/* Tensor names with numbered parts ("blocks.12.attn"): parses the decimal index at s (no
 * leading zeros, < 100000) followed by `term`; returns the characters consumed (including a
 * '.' terminator), 0 if s does not start that way. */
size_t dp_st_parse_index(const char *s, char term, int *idx);
/* 1 + the largest index i of the tensors named prefix<i><term>... (0 when there are none). */
int dp_st_count_indexed(const dp_safetensors *st, const char *prefix, char term);

#endif
