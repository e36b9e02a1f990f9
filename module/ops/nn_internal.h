/* Shared between the files of the op layer only. */
#ifndef DP_NN_INTERNAL_H
#define DP_NN_INTERNAL_H

#include "dp_limits.h"
#include "nn.h"

#define DP_NN_MAX_CACHED 192

/* One cached linear primitive: keyed by everything that shapes it. */
typedef struct dp_linear_prim {
    int k, n, m, src_ld, dst_ld;
    dp_dtype_c src_dt, dst_dt;
    dp_epilogue epi;
    int has_bias;
    dnnl_memory_desc_t wmd;
    dnnl_primitive_t prim;
    dnnl_memory_t src_mem, wei_mem, bias_mem, dst_mem, scratch_mem;
} dp_linear_prim;

struct dp_nn {
    int threads;
    dnnl_engine_t engine;
    dnnl_stream_t stream;                          /* for ops run by the whole team */
    dnnl_stream_t thread_stream[DP_MAX_THREADS]; /* for single-thread ops inside our loops */
    dp_linear_prim linear[DP_NN_MAX_CACHED];
    int n_linear;
    int n_primitives;                              /* every primitive created, all kinds */
    void *scratch;                                 /* user scratchpad of team-wide ops, owned */
    size_t scratch_size;
};

dnnl_data_type_t dp_nn_dt(dp_dtype_c t);
/* Maps a oneDNN status to DP_E_INTERNAL with `what` in the message. */
dp_status dp_nn_check(dnnl_status_t s, const char *what, dp_err *err);
/* Makes sure the team scratchpad holds at least `bytes` (only while creating primitives). */
dp_status dp_nn_reserve_scratch(dp_nn *nn, size_t bytes, dp_err *err);
/* Creates a memory object without a buffer (handle set before each execution). */
dp_status dp_nn_memory(dp_nn *nn, const dnnl_memory_desc_t *md, dnnl_memory_t *out, dp_err *err);
/* Plain 2-D descriptor [rows][cols] with leading dimension ld. */
dp_status dp_nn_md_2d(dnnl_memory_desc_t *md, int rows, int cols, int64_t row_stride,
                      int64_t col_stride, dp_dtype_c dt, dp_err *err);

#endif
