/* Fused multi-head attention, f32, AVX2 + FMA, flash-attention style: for each block of
 * ROW_BLOCK query rows of one head, the keys are visited in tiles of KEY_TILE; each tile's scores
 * [rows x KEY_TILE] are computed into an L1 buffer, turned into probabilities against a running
 * row maximum (earlier output and row sums rescaled when the maximum grows) and immediately
 * multiplied into the output block [rows x head_dim]. No score row of the full length exists,
 * and nothing is written to memory beyond the L1/L2 blocks of the thread and the final output.
 *
 * Each thread takes a contiguous range of (image, head, row block) work items and packs the
 * head it is on into its own buffer: K in groups of 16 keys ([tokens/16][head_dim][16]), so the
 * score micro-kernel loads two vectors of keys per head-dimension step and broadcasts the query;
 * Q (scaled by 1/sqrt(head_dim)) and V in dense rows. A head whose blocks straddle two threads
 * is packed by both (one head's O(tokens x head_dim) copy against O(tokens^2 x head_dim) work),
 * which saves a team barrier per call and keeps only one head per thread. Both micro-kernels
 * hold 6 rows x 16 columns in 12 accumulators (+ 2 loads + 1 broadcast = 15 of the 16 ymm
 * registers). The softmax works on 8 rows at a time, their statistics one vector each, with
 * exp_avx2.h's exp for non-positive arguments (relative error 1.6e-7).
 *
 * Where the time goes (ViT-B/16 at 512, 1029 tokens, one thread, perf): the two micro-kernels
 * 78 %, the softmax 13 %, packing 4-5 %; the kernel runs at about 0.8 of oneDNN's f32 matmul
 * rate, the exp being the main difference. */
#include "attention_fused.h"
#include "dp_limits.h"
#include "dp_size.h"
#include "exp_avx2.h"
#include "isa.h"
#include "ops_testing.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum {
    KEY_TILE = 64,    /* keys per tile: the score block [ROW_BLOCK][KEY_TILE] is 12 KB */
    KEY_GROUP = 16,   /* keys per micro-kernel column group (two ymm) */
    MR = 6,           /* query rows per micro-kernel call */
    ROW_BLOCK = 48    /* query rows per work item, a multiple of MR and of 16; Q, O 12 KB each */
};
_Static_assert(ROW_BLOCK % MR == 0 && ROW_BLOCK % 16 == 0, "ROW_BLOCK: whole micro-kernel calls, aligned parts");

typedef struct fused_thread {
    float *block;     /* one allocation holding everything below, owned */
    float *q;         /* [tokens][hd] query rows of the head being worked on, scaled by 1/sqrt(hd) */
    float *s;         /* [ROW_BLOCK][KEY_TILE] scores, then probabilities */
    float *o;         /* [ROW_BLOCK][hd] output, not yet divided by the row sums */
    float *m, *l, *corr; /* [ROW_BLOCK] running maximum, running sum, this tile's rescale */
    float *kv;        /* K [tokens16/16][hd][16], then V [tokens][hd] of that head */
} fused_thread;

struct dp_attn_fused {
    int tokens, width, heads, hd, max_batch, causal, nthr;
    int tokens16;             /* tokens rounded up to KEY_GROUP: rows of packed K */
    size_t thread_floats;     /* one thread's block: Q, S, O, row statistics, packed K and V */
    fused_thread th[DP_MAX_THREADS];
};

int dp_attn_fused_supported(int head_dim, dp_dtype_c dt)
{
    return dt == DP_C_F32 && head_dim > 0 && head_dim % KEY_GROUP == 0 && dp_isa_level() >= DP_ISA_AVX2;
}

dp_status dp_attn_fused_create(int tokens, int width, int heads, int max_batch, int causal,
                               int nthr, dp_attn_fused **out, dp_err *err)
{
    *out = NULL;
    dp_attn_fused *f = calloc(1, sizeof *f);
    if (!f)
        return dp_fail(err, DP_E_NOMEM, "out of memory creating fused attention");
    f->tokens = tokens;
    f->width = width;
    f->heads = heads;
    f->hd = width / heads;
    f->max_batch = max_batch;
    f->causal = causal;
    f->nthr = nthr;
    f->tokens16 = (tokens + KEY_GROUP - 1) / KEY_GROUP * KEY_GROUP;
    size_t qkv_floats = (size_t)(f->tokens16 + 2 * tokens) * f->hd;
    f->thread_floats = (size_t)ROW_BLOCK * (f->hd + KEY_TILE + 3) + qkv_floats;
    for (int t = 0; t < nthr; t++) {
        fused_thread *th = &f->th[t];
        th->block = dp_alloc_aligned(f->thread_floats * sizeof(float));
        if (!th->block) {
            dp_attn_fused_free(f);
            return dp_fail(err, DP_E_NOMEM, "out of memory for fused attention blocks");
        }
        /* every part starts on a 64-byte boundary: hd, KEY_TILE and ROW_BLOCK are multiples of
         * 16 floats */
        th->s = th->block;
        th->o = th->s + (size_t)ROW_BLOCK * KEY_TILE;
        th->m = th->o + (size_t)ROW_BLOCK * f->hd;
        th->l = th->m + ROW_BLOCK;
        th->corr = th->l + ROW_BLOCK;
        th->q = th->corr + ROW_BLOCK;
        th->kv = th->q + (size_t)tokens * f->hd;
    }
    *out = f;
    return DP_OK;
}

void dp_attn_fused_free(dp_attn_fused *f)
{
    if (!f)
        return;
    for (int t = 0; t < f->nthr; t++)
        free(f->th[t].block);
    free(f);
}

size_t dp_attn_fused_bytes(const dp_attn_fused *f)
{
    return (size_t)f->nthr * f->thread_floats * sizeof(float);
}

#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline
#define AVX2_FN __attribute__((target("avx2,fma"))) static

enum { PACK_AHEAD = 8 };   /* rows prefetched ahead while packing */

/* Q of (image b, head h) scaled into dense rows, K into groups of 16 keys (zero keys up to
 * tokens16), V into dense rows. The rows of one head are 3*width floats apart in qkv (a page or
 * more), which the hardware prefetcher does not follow: the loads of row j + PACK_AHEAD are
 * started by hand, or every row costs a full memory latency. */
AVX2_FN void pack_item(const dp_attn_fused *f, const float *restrict qkv, int b, int h,
                       float *restrict qp, float *restrict kp)
{
    const int T = f->tokens, W = f->width, hd = f->hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *vp = kp + (size_t)f->tokens16 * hd;
    for (int j = 0; j < T; j++) {
        const float *row = qkv + ((size_t)b * T + j) * 3 * W + (size_t)h * hd;
        if (j + PACK_AHEAD < T) {
            const char *ahead = (const char *)(row + (size_t)PACK_AHEAD * 3 * W);
            for (size_t byte = 0; byte < (size_t)hd * sizeof(float); byte += 64) {
                __builtin_prefetch(ahead + byte);
                __builtin_prefetch(ahead + (size_t)W * sizeof(float) + byte);
                __builtin_prefetch(ahead + (size_t)2 * W * sizeof(float) + byte);
            }
        }
        for (int d = 0; d < hd; d++)
            qp[(size_t)j * hd + d] = row[d] * scale;
        float *kdst = kp + (size_t)(j / KEY_GROUP) * hd * KEY_GROUP + j % KEY_GROUP;
        for (int d = 0; d < hd; d++)
            kdst[(size_t)d * KEY_GROUP] = row[W + d];
        memcpy(vp + (size_t)j * hd, row + 2 * W, (size_t)hd * sizeof(float));
    }
    for (int j = T; j < f->tokens16; j++) {
        float *kdst = kp + (size_t)(j / KEY_GROUP) * hd * KEY_GROUP + j % KEY_GROUP;
        for (int d = 0; d < hd; d++)
            kdst[(size_t)d * KEY_GROUP] = 0.0f;
    }
}

/* s[r][0..16) = q[r] . (16 keys of kg) for r < R; R is a constant after inlining, so the
 * unused rows' accumulators vanish. */
AVX2_INLINE void qk_group(const int R, const float *q, int hd, const float *kg, float *s)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
           a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
    for (int d = 0; d < hd; d++) {
        const __m256 k0 = _mm256_load_ps(kg + (size_t)d * KEY_GROUP);
        const __m256 k1 = _mm256_load_ps(kg + (size_t)d * KEY_GROUP + 8);
        __m256 b;
#define QK_ROW(r) if (R > r) { b = _mm256_broadcast_ss(q + (size_t)r * hd + d); \
                               a##r##0 = _mm256_fmadd_ps(b, k0, a##r##0);        \
                               a##r##1 = _mm256_fmadd_ps(b, k1, a##r##1); }
        QK_ROW(0) QK_ROW(1) QK_ROW(2) QK_ROW(3) QK_ROW(4) QK_ROW(5)
#undef QK_ROW
    }
#define QK_STORE(r) if (R > r) { _mm256_store_ps(s + (size_t)r * KEY_TILE, a##r##0); \
                                 _mm256_store_ps(s + (size_t)r * KEY_TILE + 8, a##r##1); }
    QK_STORE(0) QK_STORE(1) QK_STORE(2) QK_STORE(3) QK_STORE(4) QK_STORE(5)
#undef QK_STORE
}

/* o[r] = o[r] * corr[r] + p[r][0..kn) . v[0..kn) for r < R, 16 output columns at a time. */
AVX2_INLINE void pv_rows(const int R, const float *p, int kn, const float *v, int hd, float *o,
                         const float *corr)
{
    for (int c = 0; c < hd; c += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
               a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
#define PV_LOAD(r) if (R > r) { const __m256 cr = _mm256_broadcast_ss(corr + r);                   \
                                a##r##0 = _mm256_mul_ps(cr, _mm256_load_ps(o + (size_t)r * hd + c)); \
                                a##r##1 = _mm256_mul_ps(cr, _mm256_load_ps(o + (size_t)r * hd + c + 8)); }
        PV_LOAD(0) PV_LOAD(1) PV_LOAD(2) PV_LOAD(3) PV_LOAD(4) PV_LOAD(5)
#undef PV_LOAD
        for (int j = 0; j < kn; j++) {
            const __m256 v0 = _mm256_load_ps(v + (size_t)j * hd + c);
            const __m256 v1 = _mm256_load_ps(v + (size_t)j * hd + c + 8);
            __m256 b;
#define PV_ROW(r) if (R > r) { b = _mm256_broadcast_ss(p + (size_t)r * KEY_TILE + j); \
                               a##r##0 = _mm256_fmadd_ps(b, v0, a##r##0);              \
                               a##r##1 = _mm256_fmadd_ps(b, v1, a##r##1); }
            PV_ROW(0) PV_ROW(1) PV_ROW(2) PV_ROW(3) PV_ROW(4) PV_ROW(5)
#undef PV_ROW
        }
#define PV_STORE(r) if (R > r) { _mm256_store_ps(o + (size_t)r * hd + c, a##r##0); \
                                 _mm256_store_ps(o + (size_t)r * hd + c + 8, a##r##1); }
        PV_STORE(0) PV_STORE(1) PV_STORE(2) PV_STORE(3) PV_STORE(4) PV_STORE(5)
#undef PV_STORE
    }
}

/* Scores of up to MR rows against the groups of one key tile. */
AVX2_FN void qk_rows(int R, const float *q, int hd, const float *kt, int groups, float *s)
{
    for (int g = 0; g < groups; g++) {
        const float *kg = kt + (size_t)g * hd * KEY_GROUP;
        float *sg = s + g * KEY_GROUP;
        switch (R) {
        case 6: qk_group(6, q, hd, kg, sg); break;
        case 5: qk_group(5, q, hd, kg, sg); break;
        case 4: qk_group(4, q, hd, kg, sg); break;
        case 3: qk_group(3, q, hd, kg, sg); break;
        case 2: qk_group(2, q, hd, kg, sg); break;
        default: qk_group(1, q, hd, kg, sg); break;
        }
    }
}

AVX2_FN void pv_dispatch(int R, const float *p, int kn, const float *v, int hd, float *o,
                         const float *corr)
{
    switch (R) {
    case 6: pv_rows(6, p, kn, v, hd, o, corr); break;
    case 5: pv_rows(5, p, kn, v, hd, o, corr); break;
    case 4: pv_rows(4, p, kn, v, hd, o, corr); break;
    case 3: pv_rows(3, p, kn, v, hd, o, corr); break;
    case 2: pv_rows(2, p, kn, v, hd, o, corr); break;
    default: pv_rows(1, p, kn, v, hd, o, corr); break;
    }
}

/* Lane k of the result: the maximum (hmax8) or the sum (hsum8) of the 8 lanes of v[k]. Eight
 * rows reduced together cost three shuffle levels instead of three per row. max_ps returns its
 * second operand when either is NaN; no input here is NaN (see softmax_tile). */
#define HREDUCE8(name, op)                                                                          \
    AVX2_INLINE __m256 name(const __m256 v[8])                                                     \
    {                                                                                              \
        const __m256 a = op(_mm256_unpacklo_ps(v[0], v[1]), _mm256_unpackhi_ps(v[0], v[1]));       \
        const __m256 b = op(_mm256_unpacklo_ps(v[2], v[3]), _mm256_unpackhi_ps(v[2], v[3]));       \
        const __m256 c = op(_mm256_unpacklo_ps(v[4], v[5]), _mm256_unpackhi_ps(v[4], v[5]));       \
        const __m256 d = op(_mm256_unpacklo_ps(v[6], v[7]), _mm256_unpackhi_ps(v[6], v[7]));       \
        const __m256 ab = op(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0)),                     \
                             _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2)));                    \
        const __m256 cd = op(_mm256_shuffle_ps(c, d, _MM_SHUFFLE(1, 0, 1, 0)),                     \
                             _mm256_shuffle_ps(c, d, _MM_SHUFFLE(3, 2, 3, 2)));                    \
        return op(_mm256_permute2f128_ps(ab, cd, 0x20), _mm256_permute2f128_ps(ab, cd, 0x31));     \
    }
HREDUCE8(hmax8, _mm256_max_ps)
HREDUCE8(hsum8, _mm256_add_ps)
#undef HREDUCE8

/* One key tile's scores -> probabilities against the running maxima: row i sees keys
 * j0 .. j0+valid-1 (valid <= kn: causal rows see fewer), the rest of its n16 columns is set
 * to -inf, i.e. probability 0. corr[i] rescales what rows accumulated over earlier tiles.
 * Rows go in groups of 8 so that the row statistics (maxima, sums, corr) are one vector each;
 * m, l and corr hold ROW_BLOCK entries, those past `rows` at -inf, 0 (run_block), which keeps
 * them there. A NaN score is not taken into the maximum (max_ps keeps the running value) but
 * its exp is NaN, so it reaches the row sum and every output of the row. */
AVX2_FN void softmax_tile(float *s, int rows, int row0, int j0, int kn, int n16, int causal,
                          float *m, float *l, float *corr)
{
    for (int g = 0; g < rows; g += 8) {
        const int nr = rows - g < 8 ? rows - g : 8;
        __m256 v[8];
        for (int k = 0; k < 8; k++) {
            v[k] = _mm256_set1_ps(-INFINITY);
            if (k >= nr)
                continue;
            float *si = s + (size_t)(g + k) * KEY_TILE;
            int valid = kn;
            if (causal && row0 + g + k + 1 - j0 < valid)
                valid = row0 + g + k + 1 - j0;
            for (int j = valid < 0 ? 0 : valid; j < n16; j++)
                si[j] = -INFINITY;
            for (int j = 0; j < n16; j += 8)
                v[k] = _mm256_max_ps(_mm256_load_ps(si + j), v[k]);
        }
        const __m256 mold = _mm256_load_ps(m + g);
        const __m256 mnew = _mm256_max_ps(hmax8(v), mold);
        /* a row with no key yet (never on the first tile, which holds key 0) keeps 0 weights */
        const __m256 base = _mm256_andnot_ps(_mm256_cmp_ps(mnew, _mm256_set1_ps(-INFINITY), _CMP_EQ_OQ), mnew);
        float base_row[8] __attribute__((aligned(32)));
        _mm256_store_ps(base_row, base);
        for (int k = 0; k < 8; k++) {
            v[k] = _mm256_setzero_ps();
            if (k >= nr)
                continue;
            float *si = s + (size_t)(g + k) * KEY_TILE;
            const __m256 vb = _mm256_set1_ps(base_row[k]);
            for (int j = 0; j < n16; j += 8) {
                const __m256 e = dp_exp_avx2_nonpos(_mm256_sub_ps(_mm256_load_ps(si + j), vb));
                _mm256_store_ps(si + j, e);
                v[k] = _mm256_add_ps(v[k], e);
            }
        }
        const __m256 c = dp_exp_avx2_nonpos(_mm256_sub_ps(mold, base));
        _mm256_store_ps(corr + g, c);
        _mm256_store_ps(l + g, _mm256_fmadd_ps(_mm256_load_ps(l + g), c, hsum8(v)));
        _mm256_store_ps(m + g, mnew);
    }
}

/* Query rows row0 .. row0+rows-1 of item `it` (image it / heads, head it % heads), whose K and
 * V are packed in th->kv. */
AVX2_FN void run_block(const dp_attn_fused *f, fused_thread *th, float *out,
                       int it, int row0, int rows)
{
    const int T = f->tokens, W = f->width, hd = f->hd;
    const int b = it / f->heads, h = it % f->heads;
    const float *kp = th->kv;
    const float *vp = kp + (size_t)f->tokens16 * hd;
    const float *q = th->q + (size_t)row0 * hd;
    for (int i = 0; i < ROW_BLOCK; i++) {
        th->m[i] = -INFINITY;
        th->l[i] = 0.0f;
    }
    memset(th->o, 0, (size_t)rows * hd * sizeof(float));
    /* causal: no row of this block sees keys at or beyond row0 + rows */
    const int kend = f->causal && row0 + rows < T ? row0 + rows : T;
    for (int j0 = 0; j0 < kend; j0 += KEY_TILE) {
        const int kn = kend - j0 < KEY_TILE ? kend - j0 : KEY_TILE;
        const int groups = (kn + KEY_GROUP - 1) / KEY_GROUP;
        const float *kt = kp + (size_t)(j0 / KEY_GROUP) * hd * KEY_GROUP;
        for (int r = 0; r < rows; r += MR)
            qk_rows(rows - r < MR ? rows - r : MR, q + (size_t)r * hd, hd, kt, groups,
                    th->s + (size_t)r * KEY_TILE);
        softmax_tile(th->s, rows, row0, j0, kn, groups * KEY_GROUP, f->causal, th->m, th->l, th->corr);
        for (int r = 0; r < rows; r += MR)
            pv_dispatch(rows - r < MR ? rows - r : MR, th->s + (size_t)r * KEY_TILE, kn,
                        vp + (size_t)j0 * hd, hd, th->o + (size_t)r * hd, th->corr + r);
    }
    for (int i = 0; i < rows; i++) {
        const __m256 inv = _mm256_set1_ps(1.0f / th->l[i]);
        float *dst = out + ((size_t)b * T + row0 + i) * W + (size_t)h * hd;
        for (int d = 0; d < hd; d += 8)
            _mm256_storeu_ps(dst + d, _mm256_mul_ps(_mm256_load_ps(th->o + (size_t)i * hd + d), inv));
    }
}

void dp_attn_fused_run(dp_attn_fused *f, const float *qkv, int batch, float *out)
{
    const int items = batch * f->heads;
    const int nblk = (f->tokens + ROW_BLOCK - 1) / ROW_BLOCK;
    const int blocks = items * nblk;
#pragma omp parallel num_threads(f->nthr)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        fused_thread *th = &f->th[tid];
        /* a contiguous range per thread: consecutive blocks of one head share its packed K/V */
        const int first = (int)((long long)blocks * tid / nt), end = (int)((long long)blocks * (tid + 1) / nt);
        int packed = -1;
        for (int blk = first; blk < end; blk++) {
            const int it = blk / nblk, row0 = blk % nblk * ROW_BLOCK;
            if (it != packed) {
                pack_item(f, qkv, it / f->heads, it % f->heads, th->q, th->kv);
                packed = it;
            }
            run_block(f, th, out, it, row0, f->tokens - row0 < ROW_BLOCK ? f->tokens - row0 : ROW_BLOCK);
        }
    }
}

AVX2_FN void exp_probe(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i += 8)
        _mm256_storeu_ps(y + i, dp_exp_avx2_nonpos(_mm256_loadu_ps(x + i)));
}

int dp_attn_softmax_exp(const float *x, float *y, size_t n)
{
    if (dp_isa_level() < DP_ISA_AVX2 || n % 8)
        return 0;
    exp_probe(x, y, n);
    return 1;
}
