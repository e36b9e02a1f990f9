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
    int prim_borrowed;            /* a lane's entry: prim belongs to lane 0 of its group */
} dp_linear_prim;

/* A group of one-thread lanes sharing their linear primitives (nn.h). */
struct dp_nn_lanes {
    int n;
    int frozen;                   /* no primitive is created any more (dp_nn_lanes_freeze) */
    dp_nn *lane[DP_MAX_THREADS];  /* [n], owned; lane 0 owns the shared primitives */
};

struct dp_nn {
    int threads;
    dp_nn_lanes *group;                            /* lanes: their group (borrowed), else NULL */
    int lane;                                      /* index in the group */
    dnnl_engine_t engine;                          /* borrowed from the parent by lanes */
    dnnl_stream_t stream;                          /* for ops run by the whole team */
    dnnl_stream_t thread_stream[DP_MAX_THREADS]; /* for single-thread ops inside our loops */
    dp_linear_prim linear[DP_NN_MAX_CACHED];
    int n_linear;
    int n_primitives;                              /* every primitive created, all kinds */
    void *scratch;                                 /* user scratchpad of team-wide ops, owned */
    size_t scratch_size;
    /* int8 linears (linear_int8.c): sized when their primitives are created, owned */
    uint8_t *q_src;                                /* quantised rows [m][K] */
    int32_t *q_acc;                                /* s32 sums [m][N] */
    float *q_scale;                                /* per-row scale [m] */
    int32_t *q_zero;                               /* per-row zero point [m] */
    size_t q_src_size, q_acc_size, q_rows;
};

dnnl_data_type_t dp_nn_dt(dp_dtype_c t);
/* Maps a oneDNN status to DP_E_INTERNAL with `what` in the message. */
dp_status dp_nn_check(dnnl_status_t s, const char *what, dp_err *err);
/* Makes sure the team scratchpad holds at least `bytes` (only while creating primitives). */
dp_status dp_nn_reserve_scratch(dp_nn *nn, size_t bytes, dp_err *err);
/* Makes sure the int8 buffers hold src_elems u8, acc_elems s32 and rows row parameters (only
 * while creating primitives). */
dp_status dp_nn_reserve_int8(dp_nn *nn, size_t src_elems, size_t acc_elems, size_t rows, dp_err *err);
/* Creates a memory object without a buffer (handle set before each execution). */
dp_status dp_nn_memory(dp_nn *nn, const dnnl_memory_desc_t *md, dnnl_memory_t *out, dp_err *err);
/* Plain 2-D descriptor [rows][cols] with leading dimension ld. */
dp_status dp_nn_md_2d(dnnl_memory_desc_t *md, int rows, int cols, int64_t row_stride,
                      int64_t col_stride, dp_dtype_c dt, dp_err *err);

/* The cached primitive for (lin, m, lds, dst type, epilogue), created on first use. *out:
 * borrowed from nn. */
dp_status dp_linear_prim_get(dp_nn *nn, const dp_linear *lin, int m, int src_ld, int dst_ld,
                             dp_dtype_c dst_dt, dp_epilogue epi, dp_linear_prim **out, dp_err *err);
/* Runs p on src -> dst (both borrowed) with lin's weights (and bias when p adds it). */
dp_status dp_linear_exec(dp_nn *nn, const dp_linear *lin, dp_linear_prim *p, const void *src,
                         void *dst, dp_err *err);

/* linear_int8.c: lin->in/out set; quantises w_nk ([out][in], borrowed) into *q (s8 [out][in],
 * caller-owned, free()) and fills lin->wscale and lin->wsum. */
dp_status dp_linear_int8_quantise_weights(dp_linear *lin, const float *w_nk, int8_t **q, dp_err *err);
/* The cached primitive of an int8 layer for m rows: its u8 x s8 -> s32 matmul on the dense
 * quantised rows, no epilogue (the int8 run's own pass does that). *p: borrowed from nn. */
dp_status dp_linear_int8_prim(dp_nn *nn, const dp_linear *lin, int m, dp_linear_prim **p,
                              dp_err *err);
/* dp_linear_run for an int8 layer (arguments already checked). */
dp_status dp_linear_int8_run(dp_nn *nn, const dp_linear *lin, const void *src, int m, int src_ld,
                             void *dst, int dst_ld, dp_dtype_c dst_dt, dp_epilogue epi, dp_err *err);

#endif
