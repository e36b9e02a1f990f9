/* Input gradient of a frozen linear layer: dx = dy W. The forward layer keeps W only in the
 * kernel's packed layout (matmul or 1x1 convolution, linear.c), so W^T is unpacked from it once (a oneDNN reorder into a plain
 * transposed view) and packed again as the weights of an ordinary linear layer with
 * in = N, out = K: its forward product dy (W^T)^T is exactly dy W. */
#include "nn_internal.h"
#include "nn_grad.h"
#include "dp_size.h"

#include <stdlib.h>
#include <string.h>

static dp_status unpack_transposed(dp_nn *nn, const dp_linear *fwd, float *w_t, dp_err *err)
{
    /* w_t[k][n] = W[n][k]: the K x N matrix in plain row-major order */
    dnnl_memory_desc_t plain;
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t reorder = NULL;
    dp_status st;
    if (fwd->wmd.ndims == 4) {     /* the 1x1 convolution's (N x K x 1 x 1) weights: iohw is w_t */
        dnnl_dims_t dims = { fwd->out, fwd->in, 1, 1 };
        st = dp_nn_check(dnnl_memory_desc_init_by_tag(&plain, 4, dims, dnnl_f32, dnnl_iohw),
                         "transposed weights", err);
    } else {
        st = dp_nn_md_2d(&plain, fwd->in, fwd->out, fwd->out, 1, DP_C_F32, err);
    }
    if (!st)
        st = dp_nn_check(dnnl_memory_create(&from, &fwd->wmd, nn->engine, fwd->w), "packed weights", err);
    if (!st)
        st = dp_nn_check(dnnl_memory_create(&to, &plain, nn->engine, w_t), "transposed weights", err);
    if (!st)
        st = dp_nn_check(dnnl_reorder_primitive_desc_create(&pd, &fwd->wmd, nn->engine, &plain,
                                                            nn->engine, NULL), "weights unpacking", err);
    if (!st)
        st = dp_nn_check(dnnl_primitive_create(&reorder, pd), "weights unpacking", err);
    if (!st) {
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
        st = dp_nn_check(dnnl_primitive_execute(reorder, nn->stream, 2, args), "weights unpacking", err);
        if (!st)
            st = dp_nn_check(dnnl_stream_wait(nn->stream), "weights unpacking", err);
    }
    if (reorder)
        dnnl_primitive_destroy(reorder);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (from)
        dnnl_memory_destroy(from);
    if (to)
        dnnl_memory_destroy(to);
    return st;
}

dp_status dp_linear_init_transposed(dp_nn *nn, const dp_linear *fwd, int m_hint, dp_linear *bwd,
                                    dp_err *err)
{
    memset(bwd, 0, sizeof *bwd);
    if (fwd->dt != DP_C_F32 || !fwd->w)
        return dp_fail(err, DP_E_ARG, "backward of linear %dx%d: needs a built f32 layer",
                       fwd->out, fwd->in);
    size_t n = (size_t)fwd->in * fwd->out;
    float *w_t = malloc(n * sizeof *w_t);
    if (!w_t)
        return dp_fail(err, DP_E_NOMEM, "out of memory for %zu transposed weights", n);
    dp_status st = unpack_transposed(nn, fwd, w_t, err);
    if (!st)
        st = dp_linear_init(nn, bwd, w_t, NULL, fwd->out, fwd->in, m_hint, DP_C_F32, err);
    free(w_t);
    return st;
}

dp_status dp_linear_backward(dp_nn *nn, const dp_linear *bwd, const float *dy, int m, int dy_ld,
                             float *dx, int dx_ld, int accumulate, dp_err *err)
{
    return dp_linear_run(nn, bwd, dy, m, dy_ld, dx, dx_ld, DP_C_F32,
                         accumulate ? DP_EPI_ACCUMULATE : DP_EPI_NONE, err);
}
