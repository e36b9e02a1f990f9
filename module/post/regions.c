/* Connected defect regions (see regions.h).
 *
 * Pass 1 scans the map row by row as runs of defective pixels and labels them with union-find
 * over provisional labels (a run without a defective 8-neighbour in the row above gets a new
 * one; a run touching several components merges them into the smallest label). Statistics live
 * only for components still open: one whose last run is above the row just scanned is complete,
 * so its class, area filter and heap entry are decided at once and its slot reused. That keeps
 * the statistics O(w * n_types) instead of O(w * h * n_types). Pass 1 also leaves each row's
 * runs in the caller's label row (ROW_MARKS); pass 2 reads them back (cheaper than re-testing
 * amap), gives them the same provisional labels (new labels appear at the same runs in the same
 * order, others copy a label of the same component from the row above) and writes each label's
 * final class. Memory: one uint32 per possible label (w*h/4), one int32 per row, plus
 * O(w * n_types).
 *
 * Reading the map is the costly part on large maps (a 4096 x 4096 map defective everywhere is
 * 16.7 M pixels in one region): rows are tested 16 pixels at a time into bit masks
 * (block_sse2), runs are read from the masks' edges (block_runs), and runs are summed 16
 * pixels at a time with partial sums wherever that gives the same doubles as summing them in
 * order (add_run). The outputs are those of the pixel-by-pixel code this replaced (the
 * regions suite's reference; tests/bench/regions_ref.c keeps that code for `bench regions`). */
#include "regions.h"

/* Ownership: every pointer passed between the static helpers below is borrowed, a view into the
 * caller's buffers or the caller's workspace; nothing here allocates or keeps a pointer. */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Entry e[label] of the label table: a parent label (< label), or a tagged value. */
#define E_ROOT 0x40000000u   /* open root; low bits = its statistics slot */
#define E_DONE 0x80000000u   /* completed root (after flattening: every label); low bits = class
                                written to the label map, 0 = dropped */
#define E_VAL  0x3fffffffu

typedef struct run { int32_t x0, x1; uint32_t lab; } run;

/* Statistics of one open component. */
typedef struct slot {
    double sum;              /* amap over its pixels */
    int64_t area;
    float max;
    int32_t x0, x1, y0, y1;  /* bounding box; (seed_x, y0) is the raster-first pixel */
    int32_t seed_x;
    int32_t last_row;        /* last row holding one of its runs */
    uint32_t root;           /* its root label */
    int32_t apos;            /* index in the open list */
    uint16_t tmin, tmax;     /* range of types with a nonzero entry in its type sums */
} slot;

/* How pass 1 hands a row's runs to pass 2 in the caller's label row (pass 2 overwrites it).
 * Usually as (x0, x1) pairs of uint16 at the row's start, row_n[y] = their count: a few bytes
 * written and read back instead of the whole row twice (a row of one run, as in a map defective
 * everywhere, is 4 bytes), and a clean row is not read at all. That needs x1 < 65536 and room
 * for 2 * count values in the row's w; else (a row of 65537+ pixels, or an odd width with the
 * most runs possible) the runs are marked in place: nonzero pixels, gaps zero, row_n[y] =
 * ROW_MARKS, and pass 2 reads them back from the marks. */
#define ROW_MARKS (-1)
#define ROW_PAIRS_MAX_W 65536

/* Carved workspace. */
typedef struct ws {
    uint32_t *e;             /* [max_labels + 1] */
    run *prev, *cur;         /* [half] each: runs of the row above and of this row */
    slot *slots;             /* [nslots] */
    int32_t *open;           /* [nslots] slots in use */
    int32_t *freel;          /* [nslots] free slots (a stack) */
    double *tsum;            /* [nslots][n_types] amap sums per type, zero when free */
    int32_t *row_n;          /* [h] pass 1 -> pass 2: how row y's runs are kept (see ROW_MARKS) */
} ws;

typedef struct layout { size_t e, runs, slots, open, freel, tsum, row_n, total; } layout;

/* Accumulates workspace sizes with overflow detection (any overflow -> 0 = invalid). */
static size_t add_sz(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sz(size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t align8(size_t a)
{
    return a > SIZE_MAX - 7 ? SIZE_MAX : (a + 7) & ~(size_t)7;
}

/* Byte offsets of the workspace parts from an 8-byte aligned base; total = 0 if it overflows. */
static layout plan_layout(int w, int h, int n_types)
{
    layout L = { 0 };
    size_t half = ((size_t)w + 1) / 2;                 /* most runs in one row */
    size_t max_labels = half * (((size_t)h + 1) / 2);  /* at most one new label per 2x2 block */
    size_t nslots = 2 * half;                          /* open: row above + this row */
    size_t off = 0;
    L.e = off;
    off = align8(add_sz(off, mul_sz(max_labels + 1, sizeof(uint32_t))));
    L.runs = off;
    off = align8(add_sz(off, mul_sz(2 * half, sizeof(run))));
    L.slots = off;
    off = align8(add_sz(off, mul_sz(nslots, sizeof(slot))));
    L.open = off;
    off = align8(add_sz(off, mul_sz(nslots, sizeof(int32_t))));
    L.freel = off;
    off = align8(add_sz(off, mul_sz(nslots, sizeof(int32_t))));
    L.tsum = off;
    off = align8(add_sz(off, mul_sz(mul_sz(nslots, (size_t)n_types), sizeof(double))));
    L.row_n = off;
    off = add_sz(off, mul_sz((size_t)h, sizeof(int32_t)));
    off = add_sz(off, 8);                              /* to align an unaligned base */
    L.total = off == SIZE_MAX ? 0 : off;
    return L;
}

static int sizes_ok(int w, int h, int n_types)
{
    return w > 0 && h > 0 && (int64_t)w * h <= DP_REGIONS_MAX_PIXELS && n_types >= 1 &&
           n_types <= UINT16_MAX;
}

size_t dp_regions_workspace(int w, int h, int n_types)
{
    if (!sizes_ok(w, h, n_types))
        return 0;
    return plan_layout(w, h, n_types).total;
}

/* Pixel test of one row. A type counts only where the mask allows and amap exceeds the lowest
 * threshold (and block_sse2 loads a block's types only when one of its pixels does). */
typedef struct rowin {
    const float *a;
    const uint16_t *t;
    const uint8_t *m;          /* NULL = no mask */
    const float *thr;
    float thr_min, thr_max;    /* lowest and highest of thr[1..n_types] */
    unsigned n_types;
} rowin;

/* 1 if pixel x is defective, 0 if not, -1 if its type is out of range. */
static int defective(const rowin *r, int x)
{
    if (r->m && !r->m[x])
        return 0;
    float v = r->a[x];
    if (!(v > r->thr_min))                        /* also NaN */
        return 0;
    unsigned tt = r->t[x];
    if (tt - 1u >= r->n_types)                    /* also catches 0 by wrap-around */
        return -1;
    return v > r->thr[tt];
}

/* The row is tested in blocks of BLOCK pixels, each giving a bit mask (bit i = pixel x + i is
 * defective) from which the runs are read with bit tricks: a long run or a clean stretch costs
 * a few instructions per block instead of a branch per pixel. */
enum { BLOCK = 16 };

/* Bits of the n <= BLOCK pixels from x, one pixel at a time (the row's last partial block, and
 * every block where SSE2 is missing). Returns -1, or the index in the block of the first pixel
 * whose type is read and out of range (bits unset then). */
static int block_scalar(const rowin *r, int x, int n, uint32_t *bits)
{
    uint32_t b = 0;
    for (int i = 0; i < n; i++) {
        int d = defective(r, x + i);
        if (d < 0)
            return i;
        b |= (uint32_t)d << i;
    }
    *bits = b;
    return -1;
}

#ifdef __SSE2__
/* block_scalar for a whole block with SSE2 (part of x86-64, so no runtime check): the compares
 * with the lowest and highest thresholds and the type range test are done on 16 pixels at once;
 * only pixels between the two thresholds (none when every type has the same threshold) look
 * their own threshold up. */
static int block_sse2(const rowin *r, int x, uint32_t *bits)
{
    const __m128 lo = _mm_set1_ps(r->thr_min), hi = _mm_set1_ps(r->thr_max);
    const float *a = r->a + x;
    __m128 a0 = _mm_loadu_ps(a), a1 = _mm_loadu_ps(a + 4);
    __m128 a2 = _mm_loadu_ps(a + 8), a3 = _mm_loadu_ps(a + 12);
    /* 32-bit compare masks (ordered: NaN is never above) packed to 16-bit lanes */
    __m128i cand0 = _mm_packs_epi32(_mm_castps_si128(_mm_cmpgt_ps(a0, lo)),
                                    _mm_castps_si128(_mm_cmpgt_ps(a1, lo)));
    __m128i cand1 = _mm_packs_epi32(_mm_castps_si128(_mm_cmpgt_ps(a2, lo)),
                                    _mm_castps_si128(_mm_cmpgt_ps(a3, lo)));
    __m128i sure0 = _mm_packs_epi32(_mm_castps_si128(_mm_cmpgt_ps(a0, hi)),
                                    _mm_castps_si128(_mm_cmpgt_ps(a1, hi)));
    __m128i sure1 = _mm_packs_epi32(_mm_castps_si128(_mm_cmpgt_ps(a2, hi)),
                                    _mm_castps_si128(_mm_cmpgt_ps(a3, hi)));
    if (r->m) {
        /* masked-out bytes widened to 16-bit lanes of all ones */
        __m128i off = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(r->m + x)),
                                     _mm_setzero_si128());
        cand0 = _mm_andnot_si128(_mm_unpacklo_epi8(off, off), cand0);
        cand1 = _mm_andnot_si128(_mm_unpackhi_epi8(off, off), cand1);
    }
    uint32_t cand = (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(cand0, cand1));
    if (!cand) {                               /* clean: types are not read (memory traffic) */
        *bits = 0;
        return -1;
    }
    /* type - 1 >= n_types as unsigned 16-bit (0 wraps around): SSE2 only has the signed
     * compare, so both sides are biased by 0x8000 */
    const __m128i one = _mm_set1_epi16(1), bias = _mm_set1_epi16((short)0x8000);
    const __m128i lim = _mm_set1_epi16((short)((r->n_types - 1u) ^ 0x8000u));
    __m128i t0 = _mm_loadu_si128((const __m128i *)(const void *)(r->t + x));
    __m128i t1 = _mm_loadu_si128((const __m128i *)(const void *)(r->t + x + 8));
    __m128i bad0 = _mm_cmpgt_epi16(_mm_xor_si128(_mm_sub_epi16(t0, one), bias), lim);
    __m128i bad1 = _mm_cmpgt_epi16(_mm_xor_si128(_mm_sub_epi16(t1, one), bias), lim);
    uint32_t bad = (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(_mm_and_si128(cand0, bad0),
                                                                _mm_and_si128(cand1, bad1)));
    if (bad)
        return __builtin_ctz(bad);
    /* a candidate above the highest threshold is defective whatever its (valid) type */
    uint32_t sure = cand & (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(sure0, sure1));
    uint32_t band = cand & ~sure;
    if (!band) {
        *bits = sure;
        return -1;
    }
    /* candidates between the lowest and highest thresholds: a block of one type (types come in
     * patches) is compared with that type's threshold at once; a valid type, since some of
     * its pixels are candidates */
    const __m128i k = _mm_set1_epi16((short)r->t[x]);
    if (_mm_movemask_epi8(_mm_packs_epi16(_mm_cmpeq_epi16(t0, k), _mm_cmpeq_epi16(t1, k))) ==
        0xffff) {
        const __m128 th = _mm_set1_ps(r->thr[r->t[x]]);
        __m128i d0 = _mm_packs_epi32(_mm_castps_si128(_mm_cmpgt_ps(a0, th)),
                                     _mm_castps_si128(_mm_cmpgt_ps(a1, th)));
        __m128i d1 = _mm_packs_epi32(_mm_castps_si128(_mm_cmpgt_ps(a2, th)),
                                     _mm_castps_si128(_mm_cmpgt_ps(a3, th)));
        *bits = cand & (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(d0, d1));
        return -1;
    }
    for (; band; band &= band - 1) {
        int i = __builtin_ctz(band);
        sure |= (uint32_t)(a[i] > r->thr[r->t[x + i]]) << i;
    }
    *bits = sure;
    return -1;
}
#endif

/* Runs from the bits of a row's blocks: a bit that differs from its left neighbour (for the
 * block's first pixel: *open, whether a run goes on from the block before) is a run's first
 * pixel when set, the pixel after a run's last when clear. Starts and ends alternate, so the
 * k-th start and the k-th end make the k-th run: they are written in two loops, with no
 * branch on which kind each edge is. *n_start and *n_end count them; the len (<= BLOCK) pixels
 * of the block start at x. */
static inline void block_runs(uint32_t bits, int x, int len, uint32_t *open, run *out,
                              int *n_start, int *n_end)
{
    uint32_t edges = (bits ^ (bits << 1 | *open)) & ((1u << len) - 1u);
    for (uint32_t st = edges & bits; st; st &= st - 1)
        out[(*n_start)++].x0 = x + __builtin_ctz(st);
    for (uint32_t en = edges & ~bits; en; en &= en - 1)
        out[(*n_end)++].x1 = x + __builtin_ctz(en) - 1;
    *open = bits >> (len - 1) & 1u;
}

/* Runs of defective pixels of one row into out (sorted, disjoint). Returns their count, or -1
 * with *bad_x set at the first pixel whose type is read and outside 1..n_types. */
static int row_runs(const rowin *r, int w, run *out, int *bad_x)
{
    int n = 0, n_end = 0;
    uint32_t open = 0;
    for (int x = 0; x < w; x += BLOCK) {
        int len = w - x < BLOCK ? w - x : BLOCK;
        uint32_t bits = 0;
#ifdef __SSE2__
        int bad = len == BLOCK ? block_sse2(r, x, &bits) : block_scalar(r, x, len, &bits);
#else
        int bad = block_scalar(r, x, len, &bits);
#endif
        if (bad >= 0) {
            *bad_x = x + bad;
            return -1;
        }
        block_runs(bits, x, len, &open, out, &n, &n_end);
    }
    if (open)
        out[n_end].x1 = w - 1;
    return n;
}

/* Runs of nonzero pixels of a label row (pass 2 reads back what pass 1 marked). */
static int label_runs(const uint16_t *l, int w, run *out)
{
    int n = 0, n_end = 0;
    uint32_t open = 0;
    for (int x = 0; x < w; x += BLOCK) {
        int len = w - x < BLOCK ? w - x : BLOCK;
        uint32_t bits = 0;
#ifdef __SSE2__
        if (len == BLOCK) {
            const __m128i z = _mm_setzero_si128();
            __m128i e0 = _mm_cmpeq_epi16(
                _mm_loadu_si128((const __m128i *)(const void *)(l + x)), z);
            __m128i e1 = _mm_cmpeq_epi16(
                _mm_loadu_si128((const __m128i *)(const void *)(l + x + 8)), z);
            bits = ~(uint32_t)_mm_movemask_epi8(_mm_packs_epi16(e0, e1)) & 0xffffu;
        } else
#endif
        {
            for (int i = 0; i < len; i++)
                bits |= (uint32_t)(l[x + i] != 0) << i;
        }
        block_runs(bits, x, len, &open, out, &n, &n_end);
    }
    if (open)
        out[n_end].x1 = w - 1;
    return n;
}

/* Sets l[0..n) to v. */
static inline void fill_u16(uint16_t *l, uint16_t v, int n)
{
#ifdef __SSE2__
    if (n >= 8) {
        const __m128i vv = _mm_set1_epi16((short)v);
        for (int i = 0; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(void *)(l + i), vv);
        _mm_storeu_si128((__m128i *)(void *)(l + n - 8), vv);     /* the tail, overlapping */
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        l[i] = v;
}

/* Root of a label, compressing the path (parents are always smaller labels). */
static uint32_t find_root(uint32_t *e, uint32_t x)
{
    uint32_t r = x;
    while (!(e[r] & (E_ROOT | E_DONE)))
        r = e[r];
    while (x != r) {
        uint32_t next = e[x];
        e[x] = r;
        x = next;
    }
    return r;
}

static void open_remove(ws *W, int32_t s, int *n_open)
{
    int32_t pos = W->slots[s].apos, last = W->open[--*n_open];
    W->open[pos] = last;
    W->slots[last].apos = pos;
}

/* Merges root b into root a (a < b); frees b's slot. */
static void merge(ws *W, int n_types, uint32_t a, uint32_t b, int *n_open, int *n_free)
{
    int32_t sa = (int32_t)(W->e[a] & E_VAL), sb = (int32_t)(W->e[b] & E_VAL);
    slot *A = &W->slots[sa], *B = &W->slots[sb];
    A->sum += B->sum;
    A->area += B->area;
    A->max = B->max > A->max ? B->max : A->max;
    A->x0 = B->x0 < A->x0 ? B->x0 : A->x0;
    A->x1 = B->x1 > A->x1 ? B->x1 : A->x1;
    /* y1 and last_row: the run being added (on the current row) sets them. a's label is
     * older, so its seed comes first in raster order: keep it. */
    if (B->tmin <= B->tmax) {
        double *ta = W->tsum + (size_t)sa * (size_t)n_types;
        double *tb = W->tsum + (size_t)sb * (size_t)n_types;
        for (int k = B->tmin; k <= B->tmax; k++) {
            ta[k] += tb[k];
            tb[k] = 0.0;              /* free slots keep zero sums */
        }
        A->tmin = B->tmin < A->tmin ? B->tmin : A->tmin;
        A->tmax = B->tmax > A->tmax ? B->tmax : A->tmax;
    }
    W->e[b] = a;
    open_remove(W, sb, n_open);
    W->freel[(*n_free)++] = sb;
}

/* Heap order of regions: a stronger than b (higher max, then earlier seed). */
static int stronger(const dp_region *a, const dp_region *b)
{
    if (a->max_score != b->max_score)
        return a->max_score > b->max_score;
    if (a->seed_y != b->seed_y)
        return a->seed_y < b->seed_y;
    return a->seed_x < b->seed_x;
}

/* Restores the min-heap (weakest at 0) below index i of h[0..n). */
static void sift_down(dp_region *hp, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, m = i;
        if (l < n && stronger(&hp[m], &hp[l]))
            m = l;
        if (l + 1 < n && stronger(&hp[m], &hp[l + 1]))
            m = l + 1;
        if (m == i)
            return;
        dp_region tmp = hp[i];
        hp[i] = hp[m];
        hp[m] = tmp;
        i = m;
    }
}

/* Offers a region to the heap of the max_regions strongest. */
static void heap_offer(dp_region *hp, int cap, int *n, const dp_region *r)
{
    if (*n < cap) {
        int i = (*n)++;
        hp[i] = *r;
        while (i > 0 && stronger(&hp[(i - 1) / 2], &hp[i])) {
            dp_region tmp = hp[i];
            hp[i] = hp[(i - 1) / 2];
            hp[(i - 1) / 2] = tmp;
            i = (i - 1) / 2;
        }
    } else if (cap > 0 && stronger(r, &hp[0])) {
        hp[0] = *r;
        sift_down(hp, *n, 0);
    }
}

/* Decides a completed component: class, area filter, heap; frees its slot. */
static void complete(ws *W, int n_types, int32_t s, int64_t min_area, dp_region *regions,
                     int max_regions, int *n_heap, int *n_total, int *n_open, int *n_free)
{
    slot *S = &W->slots[s];
    double *ts = W->tsum + (size_t)s * (size_t)n_types;
    int best = S->tmin;
    for (int k = S->tmin; k <= S->tmax; k++) {
        if (ts[k] > ts[best])     /* strict: ties keep the lowest type */
            best = k;
    }
    for (int k = S->tmin; k <= S->tmax; k++)
        ts[k] = 0.0;
    uint32_t cls = 0;
    if (S->area >= min_area) {
        cls = (uint32_t)best + 1;
        (*n_total)++;
        dp_region r = {
            .class_id = (int)cls, .x = S->x0, .y = S->y0, .w = S->x1 - S->x0 + 1,
            .h = S->y1 - S->y0 + 1, .seed_x = S->seed_x, .seed_y = S->y0, .area = S->area,
            .max_score = S->max, .mean_score = (float)(S->sum / (double)S->area),
        };
        heap_offer(regions, max_regions, n_heap, &r);
    }
    W->e[S->root] = E_DONE | cls;
    open_remove(W, s, n_open);
    W->freel[(*n_free)++] = s;
}

/* Runs are summed per stretch of one type (a segment), as pass 1 always did: the type sums then
 * get one addition per segment, of the segment's sum in one chain of double additions from 0.0
 * in raster order. That chain is latency-bound (about 3 cycles a pixel), so where the map
 * allows it (lowest threshold >= 0, see add_run) a run is read 16 pixels at a time: a block of
 * one type is added to its segment with several partial sums (SSE2), a block where the type
 * changes pixel by pixel. The partial sums give the chain's very double only when every
 * partial sum is exact (exact_sums); a segment where they might not be is summed again in one
 * chain. So classes (decided by comparing type sums) cannot change. */

#ifdef __SSE2__
/* Whether every partial sum of n floats in [lo, hi] is exact in double, so that any order of
 * summation gives the sequential sum bit for bit. With lo a positive normal float of exponent e
 * (2^e <= lo), every value is a multiple of 2^(e-23); so is every partial sum, which is exact
 * while below 2^53 such units, i.e. 2^(30+e). n * hi bounds the partial sums; 2^(29+e) leaves a
 * factor 2 for the rounding of n * hi. False for infinities too. */
static int exact_sums(float lo, float hi, int n)
{
    if (!(lo >= FLT_MIN))
        return 0;
    uint32_t b;
    memcpy(&b, &lo, sizeof b);
    int e = (int)(b >> 23) - 127;                   /* lo is positive and normal */
    uint64_t lim_bits = (uint64_t)(1023 + 29 + e) << 52;    /* 2^(29+e), e in -126..127 */
    double lim;
    memcpy(&lim, &lim_bits, sizeof lim);
    return (double)n * (double)hi < lim;
}

/* Sum of segment a[x0..x1] some of whose blocks went to the partial sums p0..p3 (their values'
 * lane minima plo, maxima phi) and the rest to chain (values in [lo, hi]); *hi_out = its
 * largest value. Out of the per-pixel loop (rare: once per segment that had a block). */
static double __attribute__((noinline))
blocks_sum(__m128d p0, __m128d p1, __m128d p2, __m128d p3, __m128 plo, __m128 phi, double chain,
           float lo, float hi, const float *a, int x0, int x1, float *hi_out)
{
    __m128d p = _mm_add_pd(_mm_add_pd(p0, p1), _mm_add_pd(p2, p3));
    double s = chain + _mm_cvtsd_f64(_mm_add_sd(p, _mm_unpackhi_pd(p, p)));
    __m128 l = _mm_min_ps(plo, _mm_movehl_ps(plo, plo));
    __m128 h = _mm_max_ps(phi, _mm_movehl_ps(phi, phi));
    float bl = _mm_cvtss_f32(_mm_min_ss(l, _mm_shuffle_ps(l, l, 1)));
    float bh = _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
    lo = bl < lo ? bl : lo;
    hi = bh > hi ? bh : hi;
    *hi_out = hi;
    if (exact_sums(lo, hi, x1 - x0 + 1))
        return s;
    s = 0.0;                                       /* rounding may differ: redo it in order */
    for (int x = x0; x <= x1; x++)
        s += a[x];
    return s;
}
#endif

/* Adds run [x0, x1] of row y to the open component in slot s. by_segment (the lowest threshold
 * is >= 0, so every value is > 0: no NaN, no signed zeros, the maximum is one value whatever
 * the order): by blocks where a segment goes on, see above; otherwise one pixel at a time as
 * pass 1 always did, keeping the first of equal maxima. The segment's state is in locals so
 * that it stays in registers. */
static void add_run(ws *W, int n_types, int32_t s, const float *a, const uint16_t *t, int x0,
                    int x1, int y, int by_segment)
{
    slot *S = &W->slots[s];
    double *ts = W->tsum + (size_t)s * (size_t)n_types;
    double sum = 0.0;
    float mx = S->max;
    int tmin = S->tmin, tmax = S->tmax;
    if (by_segment) {
        /* the current segment: from g0, of type gt; chain = its pixels added one at a time,
         * in [lo, hi]; blocks = whether some went to the partial sums */
        int g0 = x0, blocks = 0;
        uint16_t gt = t[x0];
        double chain = 0.0;
        float lo = a[x0], hi = a[x0];
#ifdef __SSE2__
        __m128d p0 = _mm_setzero_pd(), p1 = p0, p2 = p0, p3 = p0;
        __m128 plo = _mm_setzero_ps(), phi = plo;
#endif
        /* SEG_CLOSE(xe): the segment ends at pixel xe, its sum goes to its type's sum (one
         * addition per segment, as always) and the run's; SEG_OPEN(x): one starts at pixel x.
         * Macros, not functions, so that the state above stays in registers. */
#ifdef __SSE2__
#define SEG_SUM(xe) (blocks ? blocks_sum(p0, p1, p2, p3, plo, phi, chain, lo, hi, a, g0, (xe), \
                                         &bhi) : chain)
#else
#define SEG_SUM(xe) ((void)g0, (void)(xe), chain)    /* no blocks: the chain is the sum */
#endif
#define SEG_CLOSE(xe)                                                                        \
        do {                                                                                 \
            double ss_ = SEG_SUM(xe);                                                        \
            int k_ = gt - 1;                                                                 \
            ts[k_] += ss_;                                                                   \
            sum += ss_;                                                                      \
            hi = blocks ? bhi : hi;                                                          \
            mx = hi > mx ? hi : mx;                                                          \
            tmin = k_ < tmin ? k_ : tmin;                                                    \
            tmax = k_ > tmax ? k_ : tmax;                                                    \
        } while (0)
#define SEG_OPEN(x)                                                                          \
        do {                                                                                 \
            g0 = (x);                                                                        \
            gt = t[x];                                                                       \
            blocks = 0;                                                                      \
            chain = 0.0;                                                                     \
            lo = hi = a[x];                                                                  \
        } while (0)
        float bhi = 0.0f;                    /* blocks_sum's maximum */
        int x = x0;
        while (x <= x1) {
            int end = x1;                    /* pixel by pixel up to here */
#ifdef __SSE2__
            if (x + BLOCK <= x1 + 1) {
                const __m128i k = _mm_set1_epi16((short)t[x]);
                __m128i t0 = _mm_loadu_si128((const __m128i *)(const void *)(t + x));
                __m128i t1 = _mm_loadu_si128((const __m128i *)(const void *)(t + x + 8));
                if (_mm_movemask_epi8(_mm_packs_epi16(_mm_cmpeq_epi16(t0, k),
                                                      _mm_cmpeq_epi16(t1, k))) == 0xffff) {
                    if (t[x] != gt) {
                        SEG_CLOSE(x - 1);
                        SEG_OPEN(x);
                    }
                    __m128 v0 = _mm_loadu_ps(a + x), v1 = _mm_loadu_ps(a + x + 4);
                    __m128 v2 = _mm_loadu_ps(a + x + 8), v3 = _mm_loadu_ps(a + x + 12);
                    __m128 bl = _mm_min_ps(_mm_min_ps(v0, v1), _mm_min_ps(v2, v3));
                    __m128 bh = _mm_max_ps(_mm_max_ps(v0, v1), _mm_max_ps(v2, v3));
                    if (!blocks) {
                        p0 = p1 = p2 = p3 = _mm_setzero_pd();
                        plo = bl;
                        phi = bh;
                        blocks = 1;
                    }
                    plo = _mm_min_ps(plo, bl);
                    phi = _mm_max_ps(phi, bh);
                    p0 = _mm_add_pd(p0, _mm_add_pd(_mm_cvtps_pd(v0),
                                                   _mm_cvtps_pd(_mm_movehl_ps(v0, v0))));
                    p1 = _mm_add_pd(p1, _mm_add_pd(_mm_cvtps_pd(v1),
                                                   _mm_cvtps_pd(_mm_movehl_ps(v1, v1))));
                    p2 = _mm_add_pd(p2, _mm_add_pd(_mm_cvtps_pd(v2),
                                                   _mm_cvtps_pd(_mm_movehl_ps(v2, v2))));
                    p3 = _mm_add_pd(p3, _mm_add_pd(_mm_cvtps_pd(v3),
                                                   _mm_cvtps_pd(_mm_movehl_ps(v3, v3))));
                    x += BLOCK;
                    continue;
                }
                end = x + BLOCK - 1;
            }
#endif
            for (; x <= end; x++) {
                float v = a[x];
                if (t[x] != gt) {
                    SEG_CLOSE(x - 1);
                    SEG_OPEN(x);
                }
                chain += v;
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        }
        SEG_CLOSE(x1);
#undef SEG_CLOSE
#undef SEG_OPEN
#undef SEG_SUM
    } else {
        double tsum = 0.0;
        int cur = t[x0] - 1;
        /* type sums flushed when the type changes: runs are mostly one type */
        for (int x = x0; x <= x1; x++) {
            float v = a[x];
            int k = t[x] - 1;
            if (k != cur) {
                ts[cur] += tsum;
                tmin = cur < tmin ? cur : tmin;
                tmax = cur > tmax ? cur : tmax;
                tsum = 0.0;
                cur = k;
            }
            tsum += v;
            sum += v;
            mx = v > mx ? v : mx;
        }
        ts[cur] += tsum;
        tmin = cur < tmin ? cur : tmin;
        tmax = cur > tmax ? cur : tmax;
    }
    S->tmin = (uint16_t)tmin;
    S->tmax = (uint16_t)tmax;
    S->sum += sum;
    S->max = mx;
    S->area += x1 - x0 + 1;
    S->x0 = x0 < S->x0 ? x0 : S->x0;
    S->x1 = x1 > S->x1 ? x1 : S->x1;
    S->y1 = y;
    S->last_row = y;
}

static dp_status check_args(const float *amap, const uint16_t *types, const uint8_t *mask,
                            ptrdiff_t mask_stride, int w, int h, int n_types,
                            const float *thr, int64_t min_area, const uint16_t *label,
                            const dp_region *regions, int max_regions, const void *workspace,
                            size_t workspace_size, dp_err *err)
{
    if (!amap || !types || !thr || !label || !workspace || (max_regions > 0 && !regions))
        return dp_fail(err, DP_E_ARG, "regions: NULL %s", !amap ? "amap" : !types ? "types" :
                       !thr ? "pixel_threshold" : !label ? "label" : !workspace ? "workspace" :
                       "regions");
    if (!sizes_ok(w, h, n_types))
        return dp_fail(err, DP_E_ARG, "regions: map %dx%d with %d types; expected sizes >= 1, "
                       "at most %lld pixels and 1..65535 types", w, h, n_types,
                       (long long)DP_REGIONS_MAX_PIXELS);
    if (mask && (mask_stride > -(ptrdiff_t)w && mask_stride < (ptrdiff_t)w))
        return dp_fail(err, DP_E_ARG, "regions: mask stride %td for width %d; expected "
                       "|stride| >= width", mask_stride, w);
    if (min_area < 0 || max_regions < 0)
        return dp_fail(err, DP_E_ARG, "regions: min_area %lld, max_regions %d; expected >= 0",
                       (long long)min_area, max_regions);
    for (int k = 1; k <= n_types; k++)
        if (!isfinite(thr[k]))
            return dp_fail(err, DP_E_ARG, "regions: pixel_threshold[%d] is not finite", k);
    size_t need = dp_regions_workspace(w, h, n_types);
    if (need == 0 || workspace_size < need)
        return dp_fail(err, DP_E_ARG, "regions: workspace of %zu bytes; %zu needed",
                       workspace_size, need);
    return DP_OK;
}

dp_status dp_regions_find(const float *amap, const uint16_t *types, const uint8_t *mask,
                          ptrdiff_t mask_stride, int w, int h, int n_types,
                          const float *pixel_threshold, int64_t min_area, uint16_t *label,
                          dp_region *regions, int max_regions, int *n_regions, int *n_total,
                          void *workspace, size_t workspace_size, dp_err *err)
{
    if (!n_regions || !n_total)
        return dp_fail(err, DP_E_ARG, "regions: NULL %s", !n_regions ? "n_regions" : "n_total");
    *n_regions = *n_total = 0;            /* until success */
    dp_status st = check_args(amap, types, mask, mask_stride, w, h, n_types, pixel_threshold,
                              min_area, label, regions, max_regions, workspace, workspace_size,
                              err);
    if (st != DP_OK)
        return st;

    layout L = plan_layout(w, h, n_types);
    unsigned char *base = (unsigned char *)workspace;
    base += (8 - (uintptr_t)base % 8) % 8;
    size_t half = ((size_t)w + 1) / 2, nslots = 2 * half;
    ws W = {
        .e = (uint32_t *)(void *)(base + L.e),
        .prev = (run *)(void *)(base + L.runs),
        .cur = (run *)(void *)(base + L.runs) + half,
        .slots = (slot *)(void *)(base + L.slots),
        .open = (int32_t *)(void *)(base + L.open),
        .freel = (int32_t *)(void *)(base + L.freel),
        .tsum = (double *)(void *)(base + L.tsum),
        .row_n = (int32_t *)(void *)(base + L.row_n),
    };
    /* slots are first used in order 0, 1, 2, ...: zero their type sums only then (an image
     * with few defects touches few slots) */
    size_t zeroed = 0;
    size_t max_labels = half * (((size_t)h + 1) / 2);
    int n_open = 0, n_free = (int)nslots, n_heap = 0, total = 0;
    for (int i = 0; i < n_free; i++)
        W.freel[i] = n_free - 1 - i;
    uint32_t next = 1;                    /* label 0 is unused */
    int n_prev = 0;
    rowin in = { .m = NULL, .thr = pixel_threshold, .thr_min = pixel_threshold[1],
                 .thr_max = pixel_threshold[1], .n_types = (unsigned)n_types };
    for (int k = 2; k <= n_types; k++) {
        in.thr_min = pixel_threshold[k] < in.thr_min ? pixel_threshold[k] : in.thr_min;
        in.thr_max = pixel_threshold[k] > in.thr_max ? pixel_threshold[k] : in.thr_max;
    }
    /* defective values are then all > 0: runs can be summed by blocks (add_run) */
    const int by_segment = in.thr_min >= 0.0f;

    /* pass 1: label runs, keep statistics of open components, complete finished ones; leave
     * the runs in the label map for pass 2 (ROW_MARKS) */
    for (int y = 0; y < h; y++) {
        const float *arow = amap + (size_t)y * (size_t)w;
        const uint16_t *trow = types + (size_t)y * (size_t)w;
        uint16_t *lrow = label + (size_t)y * (size_t)w;
        in.a = arow;
        in.t = trow;
        in.m = mask ? mask + (ptrdiff_t)y * mask_stride : NULL;
        int bad_x = 0;
        int n_cur = row_runs(&in, w, W.cur, &bad_x);
        if (n_cur < 0)
            return dp_fail(err, DP_E_ARG, "regions: types[%d, %d] = %d; expected 1..%d", bad_x,
                           y, trow[bad_x], n_types);
        int j = 0;
        for (int i = 0; i < n_cur; i++) {
            run *r = &W.cur[i];
            while (j < n_prev && W.prev[j].x1 < r->x0 - 1)
                j++;
            uint32_t root = 0;
            for (int k = j; k < n_prev && W.prev[k].x0 <= r->x1 + 1; k++) {
                uint32_t q = find_root(W.e, W.prev[k].lab);
                if (root == 0) {
                    root = q;
                } else if (q != root) {
                    uint32_t lo = q < root ? q : root, hi = q < root ? root : q;
                    merge(&W, n_types, lo, hi, &n_open, &n_free);
                    root = lo;
                }
            }
            if (root == 0) {
                if (n_free == 0 || next > max_labels)     /* excluded by the sizes above */
                    return dp_fail(err, DP_E_INTERNAL, "regions: out of labels or slots");
                int32_t s = W.freel[--n_free];
                if ((size_t)s >= zeroed) {
                    memset(W.tsum + zeroed * (size_t)n_types, 0,
                           ((size_t)s + 1 - zeroed) * (size_t)n_types * sizeof(double));
                    zeroed = (size_t)s + 1;
                }
                root = next++;
                W.e[root] = E_ROOT | (uint32_t)s;
                W.slots[s] = (slot){ .sum = 0.0, .area = 0, .max = -INFINITY, .x0 = r->x0,
                                     .x1 = r->x1, .y0 = y, .y1 = y, .seed_x = r->x0,
                                     .last_row = y, .root = root, .apos = n_open,
                                     .tmin = UINT16_MAX, .tmax = 0 };
                W.open[n_open++] = s;
            }
            r->lab = root;
            add_run(&W, n_types, (int32_t)(W.e[root] & E_VAL), arow, trow, r->x0, r->x1, y,
                    by_segment);
        }
        if (w <= ROW_PAIRS_MAX_W && 2 * n_cur <= w) {
            for (int i = 0; i < n_cur; i++) {
                lrow[2 * i] = (uint16_t)W.cur[i].x0;
                lrow[2 * i + 1] = (uint16_t)W.cur[i].x1;
            }
            W.row_n[y] = n_cur;
        } else {
            int gap = 0;
            for (int i = 0; i < n_cur; i++) {
                fill_u16(lrow + gap, 0, W.cur[i].x0 - gap);
                fill_u16(lrow + W.cur[i].x0, 0xffff, W.cur[i].x1 - W.cur[i].x0 + 1);
                gap = W.cur[i].x1 + 1;
            }
            fill_u16(lrow + gap, 0, w - gap);
            W.row_n[y] = ROW_MARKS;
        }
        /* components without a run in this row are complete */
        for (int i = 0; i < n_open;) {
            int32_t s = W.open[i];
            if (W.slots[s].last_row < y)
                complete(&W, n_types, s, min_area, regions, max_regions, &n_heap, &total,
                         &n_open, &n_free);     /* moves the last open slot to i */
            else
                i++;
        }
        run *tmp = W.prev;
        W.prev = W.cur;
        W.cur = tmp;
        n_prev = n_cur;
    }
    while (n_open > 0)
        complete(&W, n_types, W.open[0], min_area, regions, max_regions, &n_heap, &total,
                 &n_open, &n_free);

    /* every label -> its component's class (parents are smaller labels, resolved first) */
    for (uint32_t l = 1; l < next; l++)
        if (!(W.e[l] & E_DONE))
            W.e[l] = W.e[W.e[l]];

    /* pass 2: the same runs (read back from the label map) get the same provisional labels;
     * write their classes (0 for dropped regions) */
    n_prev = 0;
    next = 1;
    for (int y = 0; y < h; y++) {
        uint16_t *lrow = label + (size_t)y * (size_t)w;
        int n_cur = W.row_n[y];
        if (n_cur == ROW_MARKS)
            n_cur = label_runs(lrow, w, W.cur);
        else
            for (int i = 0; i < n_cur; i++)
                W.cur[i] = (run){ lrow[2 * i], lrow[2 * i + 1], 0 };
        int j = 0;
        /* a row kept as marks has its gaps zero already; one kept as pairs is cleared first
         * (one memset of a row is cheaper than one per gap when runs are short) */
        if (W.row_n[y] != ROW_MARKS)
            memset(lrow, 0, (size_t)w * sizeof *lrow);
        for (int i = 0; i < n_cur; i++) {
            run *r = &W.cur[i];
            while (j < n_prev && W.prev[j].x1 < r->x0 - 1)
                j++;
            r->lab = j < n_prev && W.prev[j].x0 <= r->x1 + 1 ? W.prev[j].lab : next++;
            fill_u16(lrow + r->x0, (uint16_t)(W.e[r->lab] & E_VAL), r->x1 - r->x0 + 1);
        }
        run *tmp = W.prev;
        W.prev = W.cur;
        W.cur = tmp;
        n_prev = n_cur;
    }

    /* heap -> descending strength: repeatedly move the weakest to the end */
    for (int n = n_heap; n > 1; n--) {
        dp_region tmp = regions[0];
        regions[0] = regions[n - 1];
        regions[n - 1] = tmp;
        sift_down(regions, n - 1, 0);
    }
    *n_regions = n_heap;
    *n_total = total;
    return DP_OK;
}
