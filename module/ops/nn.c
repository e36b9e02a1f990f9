/* oneDNN context of the op layer: engine, streams, scratchpad and the linear-primitive cache. */
#include "nn_internal.h"
#include "ops_testing.h"
#include "dp_size.h"
#include "isa.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

dnnl_data_type_t dp_nn_dt(dp_dtype_c t)
{
    return t == DP_C_BF16 ? dnnl_bf16 : dnnl_f32;
}

dp_status dp_nn_check(dnnl_status_t s, const char *what, dp_err *err)
{
    if (s == dnnl_success)
        return DP_OK;
    if (s == dnnl_out_of_memory)
        return dp_fail(err, DP_E_NOMEM, "oneDNN: out of memory in %s", what);
    if (s == dnnl_unimplemented)
        return dp_fail(err, DP_E_UNSUPPORTED, "oneDNN: no implementation for %s on this CPU", what);
    return dp_fail(err, DP_E_INTERNAL, "oneDNN: %s failed with status %d", what, (int)s);
}

int dp_nn_cpu_has_bf16(void)
{
    return dp_isa_level() >= DP_ISA_AVX512_BF16;
}

dp_status dp_nn_create(int threads, dp_nn **out, dp_err *err)
{
    *out = NULL;
    if (threads < 1 || threads > DP_MAX_THREADS)
        return dp_fail(err, DP_E_ARG, "threads = %d; expected 1..%d", threads, DP_MAX_THREADS);
    dp_nn *nn = calloc(1, sizeof *nn);
    if (!nn)
        return dp_fail(err, DP_E_NOMEM, "out of memory creating the oneDNN context");
    nn->threads = threads;
    (void)dp_isa_level();     /* fixes the process's ISA level before the first primitive */
    dp_status st = dp_nn_check(dnnl_engine_create(&nn->engine, dnnl_cpu, 0), "engine creation", err);
    if (!st)
        st = dp_nn_check(dnnl_stream_create(&nn->stream, nn->engine, dnnl_stream_default_flags),
                         "stream creation", err);
    for (int t = 0; !st && t < threads; t++)
        st = dp_nn_check(dnnl_stream_create(&nn->thread_stream[t], nn->engine,
                                            dnnl_stream_default_flags), "stream creation", err);
    if (st) {
        dp_nn_free(nn);
        return st;
    }
    *out = nn;
    return DP_OK;
}

void dp_nn_free(dp_nn *nn)
{
    if (!nn)
        return;
    for (int i = 0; i < nn->n_linear; i++) {
        dp_linear_prim *p = &nn->linear[i];
        if (!p->prim_borrowed)
            dnnl_primitive_destroy(p->prim);
        dnnl_memory_destroy(p->src_mem);
        dnnl_memory_destroy(p->wei_mem);
        dnnl_memory_destroy(p->bias_mem);
        dnnl_memory_destroy(p->dst_mem);
        dnnl_memory_destroy(p->scratch_mem);
    }
    for (int t = 0; t < nn->threads; t++)
        if (nn->thread_stream[t])
            dnnl_stream_destroy(nn->thread_stream[t]);
    if (nn->stream)
        dnnl_stream_destroy(nn->stream);
    if (nn->engine && !nn->group)
        dnnl_engine_destroy(nn->engine);
    free(nn->scratch);
    free(nn->q_src);
    free(nn->q_acc);
    free(nn->q_scale);
    free(nn->q_zero);
    free(nn);
}

int dp_nn_threads(const dp_nn *nn)
{
    return nn->threads;
}

dp_status dp_nn_lanes_create(dp_nn *parent, int n, dp_nn_lanes **out, dp_err *err)
{
    *out = NULL;
    if (n < 1 || n > DP_MAX_THREADS)
        return dp_fail(err, DP_E_ARG, "lanes = %d; expected 1..%d", n, DP_MAX_THREADS);
    dp_nn_lanes *g = calloc(1, sizeof *g);
    if (!g)
        return dp_fail(err, DP_E_NOMEM, "out of memory creating %d one-thread op contexts", n);
    dp_status st = DP_OK;
    for (int i = 0; !st && i < n; i++) {
        dp_nn *l = calloc(1, sizeof *l);
        if (!l) {
            st = dp_fail(err, DP_E_NOMEM, "out of memory creating one-thread op context %d", i);
            break;
        }
        g->lane[g->n++] = l;
        l->threads = 1;
        l->group = g;
        l->lane = i;
        l->engine = parent->engine;
        st = dp_nn_check(dnnl_stream_create(&l->stream, l->engine, dnnl_stream_default_flags),
                         "lane stream creation", err);
        if (!st)
            st = dp_nn_check(dnnl_stream_create(&l->thread_stream[0], l->engine,
                                                dnnl_stream_default_flags), "lane stream creation", err);
    }
    if (st) {
        dp_nn_lanes_free(g);
        return st;
    }
    *out = g;
    return DP_OK;
}

void dp_nn_lanes_free(dp_nn_lanes *g)
{
    if (!g)
        return;
    for (int i = g->n - 1; i >= 0; i--)      /* lane 0, owner of the shared primitives, last */
        dp_nn_free(g->lane[i]);
    free(g);
}

dp_nn *dp_nn_lane(dp_nn_lanes *g, int i)
{
    return g->lane[i];
}

void dp_nn_lanes_freeze(dp_nn_lanes *g)
{
    g->frozen = 1;
}

size_t dp_nn_lane_bytes(const dp_nn *lane)
{
    return lane->scratch_size + lane->q_src_size + lane->q_acc_size +
           lane->q_rows * (sizeof(float) + sizeof(int32_t));
}

int dp_nn_primitive_count(const dp_nn *nn)
{
    return nn->n_primitives;
}

dp_status dp_nn_reserve_scratch(dp_nn *nn, size_t bytes, dp_err *err)
{
    if (bytes <= nn->scratch_size)
        return DP_OK;
    void *p = dp_alloc_aligned(bytes);
    if (!p)
        return dp_fail(err, DP_E_NOMEM, "out of memory for a %zu-byte oneDNN scratchpad", bytes);
    free(nn->scratch);
    nn->scratch = p;
    nn->scratch_size = bytes;
    return DP_OK;
}

/* Grows *buf to `need` bytes (contents dropped). */
static dp_status grow(void **buf, size_t *have, size_t need, const char *what, dp_err *err)
{
    if (need <= *have)
        return DP_OK;
    void *p = dp_alloc_aligned(need);
    if (!p)
        return dp_fail(err, DP_E_NOMEM, "out of memory for %zu bytes of %s", need, what);
    free(*buf);
    *buf = p;
    *have = need;
    return DP_OK;
}

dp_status dp_nn_reserve_int8(dp_nn *nn, size_t src_elems, size_t acc_elems, size_t rows, dp_err *err)
{
    size_t rows_have = nn->q_rows * sizeof(float), rows_have2 = rows_have;
    dp_status st = grow((void **)&nn->q_src, &nn->q_src_size, src_elems, "quantised rows", err);
    if (!st)
        st = grow((void **)&nn->q_acc, &nn->q_acc_size, acc_elems * sizeof(int32_t), "int8 sums", err);
    if (!st)
        st = grow((void **)&nn->q_scale, &rows_have, rows * sizeof(float), "row scales", err);
    if (!st)
        st = grow((void **)&nn->q_zero, &rows_have2, rows * sizeof(int32_t), "row zero points", err);
    if (!st && rows > nn->q_rows)
        nn->q_rows = rows;
    return st;
}

dp_status dp_nn_memory(dp_nn *nn, const dnnl_memory_desc_t *md, dnnl_memory_t *out, dp_err *err)
{
    return dp_nn_check(dnnl_memory_create(out, md, nn->engine, DNNL_MEMORY_NONE),
                       "memory object creation", err);
}

dp_status dp_nn_md_2d(dnnl_memory_desc_t *md, int rows, int cols, int64_t row_stride,
                      int64_t col_stride, dp_dtype_c dt, dp_err *err)
{
    dnnl_dims_t dims = { rows, cols };
    dnnl_dims_t strides = { row_stride, col_stride };
    return dp_nn_check(dnnl_memory_desc_init_by_strides(md, 2, dims, dp_nn_dt(dt), strides),
                       "memory descriptor", err);
}

