/* Benchmark only (not in the library): dp_regions_find as it was before the regions-speed work
 * (commit 78f66ed), renamed, so `bench regions` can time the old and new implementations in one
 * process and check that their outputs agree. Same API and contract as regions.h. */
/* Connected defect regions (see regions.h).
 *
 * Pass 1 scans the map row by row as runs of defective pixels and labels them with union-find
 * over provisional labels (a run without a defective 8-neighbour in the row above gets a new
 * one; a run touching several components merges them into the smallest label). Statistics live
 * only for components still open: one whose last run is above the row just scanned is complete,
 * so its class, area filter and heap entry are decided at once and its slot reused. That keeps
 * the statistics O(w * n_types) instead of O(w * h * n_types). Pass 1 also marks the runs with 1
 * in the caller's label map; pass 2 reads the runs back from it (cheaper than re-testing amap),
 * gives them the same provisional labels (new labels appear at the same runs in the same order,
 * others copy a label of the same component from the row above) and writes each label's final
 * class. Memory: one uint32 per possible label (w*h/4) plus O(w * n_types). */
#include "regions_ref.h"

/* Ownership: every pointer passed between the static helpers below is borrowed, a view into the
 * caller's buffers or the caller's workspace; nothing here allocates or keeps a pointer. */

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* Carved workspace. */
typedef struct ws {
    uint32_t *e;             /* [max_labels + 1] */
    run *prev, *cur;         /* [half] each: runs of the row above and of this row */
    slot *slots;             /* [nslots] */
    int32_t *open;           /* [nslots] slots in use */
    int32_t *freel;          /* [nslots] free slots (a stack) */
    double *tsum;            /* [nslots][n_types] amap sums per type, zero when free */
} ws;

typedef struct layout { size_t e, runs, slots, open, freel, tsum, total; } layout;

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
    off = add_sz(off, mul_sz(mul_sz(nslots, (size_t)n_types), sizeof(double)));
    off = add_sz(off, 8);                              /* to align an unaligned base */
    L.total = off == SIZE_MAX ? 0 : off;
    return L;
}

static int sizes_ok(int w, int h, int n_types)
{
    return w > 0 && h > 0 && (int64_t)w * h <= DP_REGIONS_MAX_PIXELS && n_types >= 1 &&
           n_types <= UINT16_MAX;
}

size_t dp_regions_workspace_ref(int w, int h, int n_types)
{
    if (!sizes_ok(w, h, n_types))
        return 0;
    return plan_layout(w, h, n_types).total;
}

/* Pixel test of one row. Types are read only where the mask allows and amap exceeds the lowest
 * threshold, so a clean pixel costs one compare. */
typedef struct rowin {
    const float *a;
    const uint16_t *t;
    const uint8_t *m;          /* NULL = no mask */
    const float *thr;
    float thr_min;
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

/* Whether any of the 8 pixels from x may be defective; branch-free so it vectorises. */
static int any8(const rowin *r, int x)
{
    int any = 0;
    if (r->m) {
        for (int i = 0; i < 8; i++)
            any |= (r->m[x + i] != 0) & (r->a[x + i] > r->thr_min);
    } else {
        for (int i = 0; i < 8; i++)
            any |= r->a[x + i] > r->thr_min;
    }
    return any;
}

/* Runs of defective pixels of one row into out (sorted, disjoint). Returns their count, or -1
 * with *bad_x set at a type outside 1..n_types. */
static int row_runs(const rowin *r, int w, run *out, int *bad_x)
{
    int n = 0, x = 0;
    while (x < w) {
        while (x + 8 <= w && !any8(r, x))         /* skip clean stretches */
            x += 8;
        if (x >= w)
            break;
        int d = defective(r, x);
        if (d <= 0) {
            if (d < 0) {
                *bad_x = x;
                return -1;
            }
            x++;
            continue;
        }
        int x0 = x++;
        while (x < w && defective(r, x) > 0)
            x++;
        out[n++] = (run){ x0, x - 1, 0 };          /* a bad type at x is met next round */
    }
    return n;
}

/* Runs of nonzero pixels of a label row (pass 2 reads back what pass 1 marked). */
static int label_runs(const uint16_t *l, int w, run *out)
{
    int n = 0, x = 0;
    while (x < w) {
        uint64_t four;
        while (x + 4 <= w && (memcpy(&four, l + x, sizeof four), four == 0))
            x += 4;
        while (x < w && !l[x])
            x++;
        if (x >= w)
            break;
        int x0 = x;
        while (x < w && l[x])
            x++;
        out[n++] = (run){ x0, x - 1, 0 };
    }
    return n;
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

/* Adds run [x0, x1] of row y to the open component in slot s. */
static void add_run(ws *W, int n_types, int32_t s, const float *a, const uint16_t *t, int x0,
                    int x1, int y)
{
    slot *S = &W->slots[s];
    double *ts = W->tsum + (size_t)s * (size_t)n_types;
    double sum = 0.0, tsum = 0.0;
    float mx = S->max;
    int cur = t[x0] - 1, tmin = S->tmin, tmax = S->tmax;
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
    size_t need = dp_regions_workspace_ref(w, h, n_types);
    if (need == 0 || workspace_size < need)
        return dp_fail(err, DP_E_ARG, "regions: workspace of %zu bytes; %zu needed",
                       workspace_size, need);
    return DP_OK;
}

dp_status dp_regions_find_ref(const float *amap, const uint16_t *types, const uint8_t *mask,
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
                 .n_types = (unsigned)n_types };
    for (int k = 2; k <= n_types; k++)
        in.thr_min = pixel_threshold[k] < in.thr_min ? pixel_threshold[k] : in.thr_min;

    /* pass 1: label runs, keep statistics of open components, complete finished ones; mark
     * the runs with 1 in the label map for pass 2 */
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
        memset(lrow, 0, (size_t)w * sizeof *lrow);
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
            add_run(&W, n_types, (int32_t)(W.e[root] & E_VAL), arow, trow, r->x0, r->x1, y);
            for (int x = r->x0; x <= r->x1; x++)
                lrow[x] = 1;
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

    /* pass 2: the same runs (read back from the marks) get the same provisional labels; write
     * their classes (0 for dropped regions) */
    n_prev = 0;
    next = 1;
    for (int y = 0; y < h; y++) {
        uint16_t *lrow = label + (size_t)y * (size_t)w;
        int n_cur = label_runs(lrow, w, W.cur);
        int j = 0;
        for (int i = 0; i < n_cur; i++) {
            run *r = &W.cur[i];
            while (j < n_prev && W.prev[j].x1 < r->x0 - 1)
                j++;
            r->lab = j < n_prev && W.prev[j].x0 <= r->x1 + 1 ? W.prev[j].lab : next++;
            uint16_t cls = (uint16_t)(W.e[r->lab] & E_VAL);
            for (int x = r->x0; x <= r->x1; x++)
                lrow[x] = cls;
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
