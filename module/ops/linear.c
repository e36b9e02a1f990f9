/* Linear layers on oneDNN: weights reordered once into the kernel's preferred layout,
 * bias / QuickGELU / residual add fused as post-ops, one cached primitive per shape.
 *
 * Two kernels. The matmul primitive everywhere, except for f32 layers at the AVX2 level, which
 * run as a 1x1 convolution over a 1 x M "image" with K channels: rows [M][K] are exactly its
 * nhwc source and [M][N] its nhwc destination, so nothing is copied, and the weights are
 * reordered once into the convolution's blocked layout. On AVX2 oneDNN 2.6 has no brgemm matmul,
 * and its GEMM (gemm:jit) reads the weights in place for the row counts of one or two 224 px
 * images; its jit_1x1:avx2 convolution kernel ran the transformer's linears at 0.4-0.5x the
 * GEMM's time there (201-261 rows, one thread) and 0.8-1.0x at 1374-3240 rows (README
 * "Performance"). Such a layer's wmd has 4 dimensions; it takes only dense f32 rows. */
#include "nn_internal.h"
#include "dp_size.h"
#include "isa.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Data types of a matmul's source, weights and destination: int8 layers multiply u8 rows by
 * s8 weights into s32 sums (linear_int8.c turns them into the f32 result). */
static void matmul_types(dp_dtype_c src_dt, dp_dtype_c dst_dt, dnnl_data_type_t t[3])
{
    if (src_dt == DP_C_INT8) {
        t[0] = dnnl_u8;
        t[1] = dnnl_s8;
        t[2] = dnnl_s32;
    } else {
        t[0] = t[1] = dp_nn_dt(src_dt);
        t[2] = dp_nn_dt(dst_dt);
    }
}

static dp_status md_2d(dnnl_memory_desc_t *md, int rows, int cols, int64_t ld, dnnl_data_type_t t,
                       dp_err *err)
{
    dnnl_dims_t dims = { rows, cols }, strides = { ld, 1 };
    return dp_nn_check(dnnl_memory_desc_init_by_strides(md, 2, dims, t, strides),
                       "memory descriptor", err);
}

/* The primitive descriptor of op_desc (a matmul or convolution descriptor) with the user
 * scratchpad and the epilogue as post-ops. */
static dp_status create_pd(dp_nn *nn, const void *op_desc, dp_epilogue epi, const char *what,
                           dnnl_primitive_desc_t *pd, dp_err *err)
{
    dnnl_primitive_attr_t attr;
    dp_status st = dp_nn_check(dnnl_primitive_attr_create(&attr), "attributes", err);
    if (st)
        return st;
    dnnl_post_ops_t po = NULL;
    st = dp_nn_check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                     "scratchpad mode", err);
    if (!st && epi != DP_EPI_NONE) {
        st = dp_nn_check(dnnl_post_ops_create(&po), "post-ops", err);
        if (!st && epi == DP_EPI_QUICKGELU)
            st = dp_nn_check(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f),
                             "QuickGELU post-op", err);
        if (!st && epi == DP_EPI_ACCUMULATE)
            st = dp_nn_check(dnnl_post_ops_append_sum(po, 1.0f), "residual-add post-op", err);
        if (!st)
            st = dp_nn_check(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops", err);
    }
    if (!st)
        st = dp_nn_check(dnnl_primitive_desc_create(pd, op_desc, attr, nn->engine, NULL), what, err);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static dp_status matmul_pd(dp_nn *nn, int m, int k, int n, int src_ld, int dst_ld,
                           dp_dtype_c src_dt, dp_dtype_c dst_dt, const dnnl_memory_desc_t *wmd,
                           int has_bias, dp_epilogue epi, dnnl_primitive_desc_t *pd, dp_err *err)
{
    dnnl_memory_desc_t src_md, dst_md, bias_md, wany;
    dnnl_data_type_t types[3];
    matmul_types(src_dt, dst_dt, types);
    dp_status st = md_2d(&src_md, m, k, src_ld, types[0], err);
    if (!st)
        st = md_2d(&dst_md, m, n, dst_ld, types[2], err);
    if (st)
        return st;
    if (!wmd) {
        dnnl_dims_t wd = { k, n };
        if ((st = dp_nn_check(dnnl_memory_desc_init_by_tag(&wany, 2, wd, types[1],
                                                           dnnl_format_tag_any), "weights descriptor", err)))
            return st;
        wmd = &wany;
    }
    dnnl_dims_t bd = { 1, n };
    if (has_bias && (st = dp_nn_check(dnnl_memory_desc_init_by_tag(&bias_md, 2, bd, dnnl_f32,
                                                                   dnnl_ab), "bias descriptor", err)))
        return st;
    dnnl_matmul_desc_t desc;
    if ((st = dp_nn_check(dnnl_matmul_desc_init(&desc, &src_md, wmd, has_bias ? &bias_md : NULL,
                                                &dst_md), "matmul descriptor", err)))
        return st;
    return create_pd(nn, &desc, epi, "matmul primitive descriptor", pd, err);
}

/* The 1x1 convolution computing [m][k] rows . W^T (+ bias) into [m][n] rows, both dense f32;
 * wmd NULL lets oneDNN choose the weights layout. */
static dp_status conv_pd(dp_nn *nn, int m, int k, int n, const dnnl_memory_desc_t *wmd,
                         int has_bias, dp_epilogue epi, dnnl_primitive_desc_t *pd, dp_err *err)
{
    dnnl_memory_desc_t src_md, dst_md, bias_md, wany;
    dnnl_dims_t sd = { 1, k, m, 1 }, dd = { 1, n, m, 1 }, wd = { n, k, 1, 1 }, bd = { n };
    dnnl_dims_t stride = { 1, 1 }, pad = { 0, 0 };
    dp_status st = dp_nn_check(dnnl_memory_desc_init_by_tag(&src_md, 4, sd, dnnl_f32, dnnl_nhwc),
                               "convolution source", err);
    if (!st)
        st = dp_nn_check(dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_f32, dnnl_nhwc),
                         "convolution destination", err);
    if (!st && !wmd) {
        st = dp_nn_check(dnnl_memory_desc_init_by_tag(&wany, 4, wd, dnnl_f32, dnnl_format_tag_any),
                         "convolution weights", err);
        wmd = &wany;
    }
    if (!st && has_bias)
        st = dp_nn_check(dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a),
                         "convolution bias", err);
    dnnl_convolution_desc_t desc;
    if (!st)
        st = dp_nn_check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference,
                                                            dnnl_convolution_direct, &src_md, wmd,
                                                            has_bias ? &bias_md : NULL, &dst_md,
                                                            stride, pad, pad),
                         "convolution descriptor", err);
    return st ? st : create_pd(nn, &desc, epi, "1x1 convolution primitive descriptor", pd, err);
}

/* Whether lin runs on the 1x1 convolution (see the top of this file). */
static int is_conv(const dp_linear *lin)
{
    return lin->wmd.ndims == 4;
}

/* The convolution's weights layout for an f32 layer at the AVX2 level when oneDNN runs it with
 * its jit 1x1 kernel (which pads K and N to its 8-channel blocks itself), not with a reference
 * or GEMM-based convolution; 0 = use the matmul. */
static int conv_weights(dp_nn *nn, int in, int out, int m_hint, dnnl_memory_desc_t *wmd)
{
    if (dp_isa_level() != DP_ISA_AVX2)
        return 0;
    dp_err ignored;
    dnnl_primitive_desc_t pd;
    if (conv_pd(nn, m_hint, in, out, NULL, 1, DP_EPI_NONE, &pd, &ignored))
        return 0;
    const char *impl = NULL;
    int ok = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
             impl && strncmp(impl, "jit_1x1:", 8) == 0;
    if (ok)
        *wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* Reorders the plain weights `user` ([N][K], type t; borrowed) into lin->w: for the matmul the
 * K x N view of it, for the convolution its oihw (N x K x 1 x 1) weights as they are. */
static dp_status reorder_weights(dp_nn *nn, dp_linear *lin, const void *user, dnnl_data_type_t t,
                                 dp_err *err)
{
    dnnl_memory_desc_t user_md;
    dnnl_dims_t dims = { lin->in, lin->out }, strides = { 1, lin->in };
    dnnl_dims_t conv_dims = { lin->out, lin->in, 1, 1 };
    dnnl_memory_t user_mem = NULL, packed_mem = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dp_status st = dp_nn_check(is_conv(lin) ? dnnl_memory_desc_init_by_tag(&user_md, 4, conv_dims, t, dnnl_oihw)
                                            : dnnl_memory_desc_init_by_strides(&user_md, 2, dims, t, strides),
                               "weights descriptor", err);
    if (!st)
        st = dp_nn_check(dnnl_memory_create(&user_mem, &user_md, nn->engine, (void *)user),
                         "weights memory", err);
    if (!st)
        st = dp_nn_check(dnnl_memory_create(&packed_mem, &lin->wmd, nn->engine, lin->w),
                         "weights memory", err);
    if (!st)
        st = dp_nn_check(dnnl_reorder_primitive_desc_create(&rpd, &user_md, nn->engine, &lin->wmd,
                                                            nn->engine, NULL), "weights reorder", err);
    if (!st)
        st = dp_nn_check(dnnl_primitive_create(&reorder, rpd), "weights reorder", err);
    if (!st) {
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, user_mem }, { DNNL_ARG_TO, packed_mem } };
        st = dp_nn_check(dnnl_primitive_execute(reorder, nn->stream, 2, args), "weights reorder", err);
        if (!st)
            st = dp_nn_check(dnnl_stream_wait(nn->stream), "weights reorder", err);
    }
    if (reorder)
        dnnl_primitive_destroy(reorder);
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (user_mem)
        dnnl_memory_destroy(user_mem);
    if (packed_mem)
        dnnl_memory_destroy(packed_mem);
    return st;
}

/* oneDNN's f32 GEMM reads a plain K x N weight matrix in place (its "no-copy" kernel) when the
 * matmul has few rows: oneDNN 2.6 forces that kernel when 1/N + 1/M >= 0.0038 (M rows; its
 * gemm_driver). When a weight row is then a whole number of 4 KiB pages long (N = 1024, 3072,
 * 4096 floats: all of ViT-L/14's linears, ViT-B/16's MLP up-projection) every row starts in the
 * same cache sets, and those matmuls ran at about half the rate of the others (35-41 against
 * 62-76 GFLOP/s at one thread on AVX2, README "Performance"). Rows padded by one cache line
 * spread them. With more rows oneDNN packs the weights first, and there the padded rows were
 * slower (92-94 against 118-129 GFLOP/s at 581 rows, 2 threads): padded only below that bound.
 * Only the plain row-major f32 layout is touched; blocked layouts stay as chosen. */
#define NOCOPY_BOUND 0.0038
enum { WEIGHT_ROW_PAD_FLOATS = 16, PAGE_BYTES = 4096 };

static void pad_weight_rows(dnnl_memory_desc_t *wmd, int in, int out, int rows)
{
    if (wmd->format_kind != dnnl_blocked || wmd->ndims != 2 || wmd->data_type != dnnl_f32 ||
        wmd->format_desc.blocking.inner_nblks != 0 || wmd->format_desc.blocking.strides[0] != out ||
        wmd->format_desc.blocking.strides[1] != 1 || wmd->offset0 != 0)
        return;
    if (((size_t)out * sizeof(float)) % PAGE_BYTES != 0 || 1.0 / out + 1.0 / rows < NOCOPY_BOUND)
        return;
    dnnl_dims_t dims = { in, out }, strides = { out + WEIGHT_ROW_PAD_FLOATS, 1 };
    dnnl_memory_desc_t padded;
    if (dnnl_memory_desc_init_by_strides(&padded, 2, dims, dnnl_f32, strides) == dnnl_success)
        *wmd = padded;
}

/* path: DP_LINEAR_MATMUL keeps an f32 layer on the matmul (tests hold both kernels to the
 * same references). */
enum { DP_LINEAR_AUTO = 0, DP_LINEAR_MATMUL = 1 };

static dp_status linear_init(dp_nn *nn, dp_linear *lin, const float *w_nk, const float *bias,
                             int in, int out, int m_hint, dp_dtype_c dt, int path, dp_err *err)
{
    memset(lin, 0, sizeof *lin);
    if (in <= 0 || out <= 0 || m_hint <= 0)
        return dp_fail(err, DP_E_ARG, "linear layer %dx%d for %d rows: sizes must be positive",
                       out, in, m_hint);
    if (dt != DP_C_F32 && dt != DP_C_BF16 && dt != DP_C_INT8)
        return dp_fail(err, DP_E_ARG, "linear layer %dx%d: compute type %d; expected f32, bf16 "
                       "or int8", out, in, (int)dt);
    lin->in = in;
    lin->out = out;
    lin->dt = dt;
    const int int8 = dt == DP_C_INT8;
    dp_status st = DP_OK;
    if (dt != DP_C_F32 || path != DP_LINEAR_AUTO || !conv_weights(nn, in, out, m_hint, &lin->wmd)) {
        dnnl_primitive_desc_t pd;
        /* an int8 layer adds its bias in its own epilogue (linear_int8.c) */
        st = matmul_pd(nn, m_hint, in, out, in, out, dt, DP_C_F32, NULL, bias && !int8,
                       DP_EPI_NONE, &pd, err);
        if (st) {
            if (int8) {
                char why[sizeof err->msg];
                snprintf(why, sizeof why, "%s", err->msg);
                dp_fail(err, st, "linear layer %dx%d: no int8 (u8 x s8) matmul for this shape on "
                        "this CPU (%s); use precision f32", out, in, why);
            }
            return st;
        }
        lin->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_primitive_desc_destroy(pd);
        if (dt == DP_C_F32)
            pad_weight_rows(&lin->wmd, in, out, m_hint);
    }
    size_t bytes = dnnl_memory_desc_get_size(&lin->wmd);
    lin->w = dp_alloc_aligned(bytes);
    if (!lin->w)
        return dp_fail(err, DP_E_NOMEM, "out of memory for %zu bytes of weights", bytes);
    if (bias) {
        lin->bias = malloc((size_t)out * sizeof *lin->bias);
        if (!lin->bias) {
            dp_linear_free(lin);
            return dp_fail(err, DP_E_NOMEM, "out of memory for a bias");
        }
        memcpy(lin->bias, bias, (size_t)out * sizeof *lin->bias);
    }
    /* W is stored [out][in]; as the matmul's K x N operand that is a column-major view, as the
     * convolution's weights it is oihw */
    if (int8) {
        int8_t *q = NULL;
        st = dp_linear_int8_quantise_weights(lin, w_nk, &q, err);
        if (!st)
            st = reorder_weights(nn, lin, q, dnnl_s8, err);
        free(q);
    } else {
        st = reorder_weights(nn, lin, w_nk, dnnl_f32, err);
    }
    if (st)
        dp_linear_free(lin);
    return st;
}

dp_status dp_linear_init(dp_nn *nn, dp_linear *lin, const float *w_nk, const float *bias,
                         int in, int out, int m_hint, dp_dtype_c dt, dp_err *err)
{
    return linear_init(nn, lin, w_nk, bias, in, out, m_hint, dt, DP_LINEAR_AUTO, err);
}

dp_status dp_linear_init_matmul(dp_nn *nn, dp_linear *lin, const float *w_nk, const float *bias,
                                int in, int out, int m_hint, dp_dtype_c dt, dp_err *err)
{
    return linear_init(nn, lin, w_nk, bias, in, out, m_hint, dt, DP_LINEAR_MATMUL, err);
}

const char *dp_linear_kernel(const dp_linear *lin)
{
    return is_conv(lin) ? "1x1 convolution" : "matmul";
}

void dp_linear_free(dp_linear *lin)
{
    free(lin->w);
    free(lin->bias);
    free(lin->wscale);
    free(lin->wsum);
    lin->w = NULL;
    lin->bias = NULL;
    lin->wscale = NULL;
    lin->wsum = NULL;
}

size_t dp_linear_bytes(const dp_linear *lin)
{
    return dnnl_memory_desc_get_size(&lin->wmd) + (lin->bias ? (size_t)lin->out * 4 : 0) +
           (lin->wscale ? (size_t)lin->out * 4 : 0) + (lin->wsum ? (size_t)lin->out * 4 : 0);
}

static dp_linear_prim *find_prim(dp_nn *nn, const dp_linear *lin, int m, int src_ld, int dst_ld,
                                 dp_dtype_c dst_dt, dp_epilogue epi)
{
    for (int i = 0; i < nn->n_linear; i++) {
        dp_linear_prim *p = &nn->linear[i];
        if (p->k == lin->in && p->n == lin->out && p->m == m && p->src_ld == src_ld &&
            p->dst_ld == dst_ld && p->src_dt == lin->dt && p->dst_dt == dst_dt && p->epi == epi &&
            p->has_bias == (lin->bias != NULL) && dnnl_memory_desc_equal(&p->wmd, &lin->wmd))
            return p;
    }
    return NULL;
}

static void destroy_mems(dp_linear_prim *p)
{
    dnnl_memory_t *mems[] = { &p->src_mem, &p->wei_mem, &p->bias_mem, &p->dst_mem, &p->scratch_mem };
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++) {
        if (*mems[i])
            dnnl_memory_destroy(*mems[i]);
        *mems[i] = NULL;
    }
}

/* Sizes nn's scratchpad (and int8 buffers) for the primitive of pd and creates the entry's own
 * memory objects; p->prim is set by the caller. */
static dp_status entry_init(dp_nn *nn, const dp_linear *lin, dnnl_primitive_desc_t pd, int m,
                            int use_bias, dp_linear_prim *p, dp_err *err)
{
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    dp_status st = dp_nn_reserve_scratch(nn, dnnl_memory_desc_get_size(sp), err);
    if (!st && lin->dt == DP_C_INT8)  /* the quantised rows and the s32 sums, sized now, never per image */
        st = dp_nn_reserve_int8(nn, (size_t)m * lin->in, (size_t)m * lin->out, (size_t)m, err);
    if (!st)
        st = dp_nn_memory(nn, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &p->src_mem, err);
    if (!st)
        st = dp_nn_memory(nn, &lin->wmd, &p->wei_mem, err);
    if (!st && use_bias)
        st = dp_nn_memory(nn, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), &p->bias_mem, err);
    if (!st)
        st = dp_nn_memory(nn, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), &p->dst_mem, err);
    if (!st && dnnl_memory_desc_get_size(sp) > 0)
        st = dp_nn_memory(nn, sp, &p->scratch_mem, err);
    if (st)
        destroy_mems(p);
    return st;
}

/* Creates the primitive for this shape and its cache entry. In a lane group (nn.h) the
 * primitive is created once, for one thread, and every lane gets an entry with its own memory
 * objects and scratchpad (lane 0's entry owns the primitive); lanes only create while the group
 * is warmed up single-threaded, never once it is frozen. */
static dp_status create_prim(dp_nn *nn, const dp_linear *lin, int m, int src_ld, int dst_ld,
                             dp_dtype_c dst_dt, dp_epilogue epi, dp_linear_prim **out, dp_err *err)
{
    dp_nn_lanes *g = nn->group;
    if (g && g->frozen)
        return dp_fail(err, DP_E_INTERNAL, "linear %dx%d for %d rows (one-thread context %d): no "
                       "primitive was created for this shape when the contexts were warmed up",
                       lin->out, lin->in, m, nn->lane);
    dp_nn *const *targets = g ? g->lane : &nn;
    const int n_targets = g ? g->n : 1;
    for (int j = 0; j < n_targets; j++)
        if (targets[j]->n_linear == DP_NN_MAX_CACHED)
            return dp_fail(err, DP_E_INTERNAL, "linear primitive cache full (%d shapes)", DP_NN_MAX_CACHED);
    const int use_bias = lin->bias && lin->dt != DP_C_INT8;
    /* oneDNN reads the OpenMP thread count when a primitive is created: one for lanes */
    int saved = omp_get_max_threads();
    if (g)
        omp_set_num_threads(1);
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim = NULL;
    dp_status st = is_conv(lin) ? conv_pd(nn, m, lin->in, lin->out, &lin->wmd, use_bias, epi, &pd, err)
                                : matmul_pd(nn, m, lin->in, lin->out, src_ld, dst_ld, lin->dt,
                                            dst_dt, &lin->wmd, use_bias, epi, &pd, err);
    if (!st) {
        st = dp_nn_check(dnnl_primitive_create(&prim, pd), "linear primitive", err);
        if (st)
            dnnl_primitive_desc_destroy(pd);
    }
    if (g)
        omp_set_num_threads(saved);
    if (st)
        return st;
    for (int j = 0; !st && j < n_targets; j++) {
        dp_nn *t = targets[j];
        dp_linear_prim *p = &t->linear[t->n_linear];
        memset(p, 0, sizeof *p);
        p->prim = prim;
        p->prim_borrowed = j > 0;
        if ((st = entry_init(t, lin, pd, m, use_bias, p, err))) {
            if (j == 0)
                dnnl_primitive_destroy(prim);
            break;
        }
        p->k = lin->in;
        p->n = lin->out;
        p->m = m;
        p->src_ld = src_ld;
        p->dst_ld = dst_ld;
        p->src_dt = lin->dt;
        p->dst_dt = dst_dt;
        p->epi = epi;
        p->has_bias = lin->bias != NULL;
        p->wmd = lin->wmd;
        t->n_linear++;
    }
    dnnl_primitive_desc_destroy(pd);
    if (st)
        return st;
    nn->n_primitives++;
    *out = &nn->linear[nn->n_linear - 1];
    return DP_OK;
}

dp_status dp_linear_prim_get(dp_nn *nn, const dp_linear *lin, int m, int src_ld, int dst_ld,
                             dp_dtype_c dst_dt, dp_epilogue epi, dp_linear_prim **out, dp_err *err)
{
    *out = find_prim(nn, lin, m, src_ld, dst_ld, dst_dt, epi);
    return *out ? DP_OK : create_prim(nn, lin, m, src_ld, dst_ld, dst_dt, epi, out, err);
}

dp_status dp_linear_exec(dp_nn *nn, const dp_linear *lin, dp_linear_prim *p, const void *src,
                         void *dst, dp_err *err)
{
    dnnl_memory_set_data_handle(p->src_mem, (void *)src);
    dnnl_memory_set_data_handle(p->wei_mem, lin->w);
    dnnl_memory_set_data_handle(p->dst_mem, dst);
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, p->src_mem };
    args[n++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, p->wei_mem };
    args[n++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, p->dst_mem };
    if (p->scratch_mem) {
        dnnl_memory_set_data_handle(p->scratch_mem, nn->scratch);
        args[n++] = (dnnl_exec_arg_t){ DNNL_ARG_SCRATCHPAD, p->scratch_mem };
    }
    if (p->bias_mem) {
        dnnl_memory_set_data_handle(p->bias_mem, lin->bias);
        args[n++] = (dnnl_exec_arg_t){ DNNL_ARG_BIAS, p->bias_mem };
    }
    dp_status st = dp_nn_check(dnnl_primitive_execute(p->prim, nn->stream, n, args),
                               "linear execution", err);
    if (!st)
        st = dp_nn_check(dnnl_stream_wait(nn->stream), "linear execution", err);
    return st;
}

/* The arguments dp_linear_run and dp_linear_prepare refuse. */
static dp_status check_args(const dp_linear *lin, int m, int src_ld, int dst_ld, dp_dtype_c dst_dt,
                            dp_epilogue epi, dp_err *err)
{
    if (m <= 0 || src_ld < lin->in || dst_ld < lin->out)
        return dp_fail(err, DP_E_ARG, "linear %dx%d: m=%d src_ld=%d dst_ld=%d out of range",
                       lin->out, lin->in, m, src_ld, dst_ld);
    if (epi == DP_EPI_ACCUMULATE && dst_dt != DP_C_F32)
        return dp_fail(err, DP_E_ARG, "residual accumulation needs an f32 destination");
    if (lin->dt == DP_C_INT8 && dst_dt != DP_C_F32)
        return dp_fail(err, DP_E_ARG, "int8 linear %dx%d: destination type %d; expected f32",
                       lin->out, lin->in, (int)dst_dt);
    if (is_conv(lin) && (src_ld != lin->in || dst_ld != lin->out || dst_dt != DP_C_F32))
        return dp_fail(err, DP_E_ARG, "linear %dx%d on the 1x1 convolution: rows with src_ld=%d, "
                       "dst_ld=%d, destination type %d; expected dense f32 rows (src_ld %d, "
                       "dst_ld %d)", lin->out, lin->in, src_ld, dst_ld, (int)dst_dt, lin->in, lin->out);
    return DP_OK;
}

dp_status dp_linear_run(dp_nn *nn, const dp_linear *lin, const void *src, int m, int src_ld,
                        void *dst, int dst_ld, dp_dtype_c dst_dt, dp_epilogue epi, dp_err *err)
{
    dp_status st = check_args(lin, m, src_ld, dst_ld, dst_dt, epi, err);
    if (st)
        return st;
    if (lin->dt == DP_C_INT8)
        return dp_linear_int8_run(nn, lin, src, m, src_ld, dst, dst_ld, dst_dt, epi, err);
    dp_linear_prim *p;
    st = dp_linear_prim_get(nn, lin, m, src_ld, dst_ld, dst_dt, epi, &p, err);
    return st ? st : dp_linear_exec(nn, lin, p, src, dst, err);
}

dp_status dp_linear_prepare(dp_nn *nn, const dp_linear *lin, int m, int src_ld, int dst_ld,
                            dp_dtype_c dst_dt, dp_epilogue epi, dp_err *err)
{
    dp_status st = check_args(lin, m, src_ld, dst_ld, dst_dt, epi, err);
    if (st)
        return st;
    dp_linear_prim *p;
    return lin->dt == DP_C_INT8 ? dp_linear_int8_prim(nn, lin, m, &p, err)
                                : dp_linear_prim_get(nn, lin, m, src_ld, dst_ld, dst_dt, epi, &p, err);
}
