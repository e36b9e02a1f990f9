/* Grid tiling plan and weighted stitching of per-tile maps (see tiling.h). */
#include "tiling.h"
#include "image_testing.h"

#include <math.h>

#if defined(__SSE4_1__)   /* the release build's x86-64-v2 baseline; other builds stay scalar */
#include <smmintrin.h>
#endif

/* Ownership: pointers passed to the static helpers are borrowed and written only where stated. */

/* Columns of weights computed per block in dp_tiling_accumulate: a small stack buffer instead of
 * a tile-wide one (tiles may be 16384 px) or an allocation. */
enum { WBLOCK = 256 };

static const double PI = 3.14159265358979323846;

static dp_status check_args(int roi_w, int roi_h, int tile, int overlap, dp_err *err)
{
    if (roi_w <= 0 || roi_h <= 0)
        return dp_fail(err, DP_E_ARG, "tiling: ROI %dx%d; expected a size of at least 1x1",
                       roi_w, roi_h);
    if (tile < DP_TILING_MIN_TILE)
        return dp_fail(err, DP_E_ARG, "tiling: tile %d; expected at least %d", tile,
                       DP_TILING_MIN_TILE);
    /* 64-bit product: 2*overlap must not wrap for overlap near INT_MAX */
    if (overlap < 0 || 2 * (int64_t)overlap >= tile)
        return dp_fail(err, DP_E_ARG, "tiling: overlap %d with tile %d; expected 0 <= overlap "
                       "< tile/2", overlap, tile);
    return DP_OK;
}

/* Tiles along one side of length len (>= 1); int64 so huge sides cannot overflow. */
static int64_t tiles_along(int len, int tile, int overlap)
{
    if (len <= tile)
        return 1;
    int64_t step = (int64_t)tile - overlap;
    return 1 + ((int64_t)len - tile + step - 1) / step;
}

/* Position of tile i of n along a side; the last one ends at the far edge. */
static int tile_pos(int i, int64_t n, int len, int tile, int overlap)
{
    if (n == 1)
        return 0;
    if (i == n - 1)
        return len - tile;
    return i * (tile - overlap);
}

dp_status dp_tiling_count(int roi_w, int roi_h, int tile, int overlap, int *count, dp_err *err)
{
    if (!count)
        return dp_fail(err, DP_E_ARG, "tiling: count is NULL");
    *count = 0;
    dp_status s = check_args(roi_w, roi_h, tile, overlap, err);
    if (s != DP_OK)
        return s;
    int64_t nx = tiles_along(roi_w, tile, overlap), ny = tiles_along(roi_h, tile, overlap);
    /* each factor <= INT_MAX, so the product fits in int64 */
    if (nx * ny > DP_TILING_MAX_TILES)
        return dp_fail(err, DP_E_NOMEM, "tiling: ROI %dx%d with tile %d, overlap %d gives "
                       "%lld x %lld tiles; at most %d are allowed (use a larger tile or a "
                       "smaller ROI)", roi_w, roi_h, tile, overlap, (long long)nx,
                       (long long)ny, DP_TILING_MAX_TILES);
    *count = (int)(nx * ny);
    return DP_OK;
}

dp_status dp_tiling_plan(int roi_w, int roi_h, int tile, int overlap, dp_tile *tiles, int count,
                         dp_err *err)
{
    int n = 0;
    dp_status s = dp_tiling_count(roi_w, roi_h, tile, overlap, &n, err);
    if (s != DP_OK)
        return s;
    if (!tiles)
        return dp_fail(err, DP_E_ARG, "tiling: tiles is NULL");
    if (count != n)
        return dp_fail(err, DP_E_ARG, "tiling: room for %d tiles; the plan has %d", count, n);
    int64_t nx = tiles_along(roi_w, tile, overlap), ny = tiles_along(roi_h, tile, overlap);
    int tw = roi_w < tile ? roi_w : tile, th = roi_h < tile ? roi_h : tile;
    int k = 0;
    for (int j = 0; j < ny; j++) {
        int y = tile_pos(j, ny, roi_h, tile, overlap);
        for (int i = 0; i < nx; i++)
            tiles[k++] = (dp_tile){ tile_pos(i, nx, roi_w, tile, overlap), y, tw, th };
    }
    return DP_OK;
}

/* Raised-cosine ramp at distance d (0-based) from a shared edge; > 0 for every d >= 0. */
static float ramp(int d, int overlap)
{
    if (d >= overlap)
        return 1.0f;
    return (float)(0.5 - 0.5 * cos(PI * ((double)d + 0.5) / (double)overlap));
}

/* Weights for indices i0..i1-1 of a tile side (pos, len) into w[0..i1-i0-1]. */
static void weights_range(int pos, int len, int roi_len, int overlap, int i0, int i1, float *w)
{
    int lo = pos > 0 && overlap > 0;                                 /* neighbour before */
    int hi = (int64_t)pos + len < roi_len && overlap > 0;            /* neighbour after */
    for (int i = i0; i < i1; i++) {
        float v = 1.0f;
        if (lo)
            v *= ramp(i, overlap);
        if (hi)
            v *= ramp(len - 1 - i, overlap);
        w[i - i0] = v;
    }
}

void dp_tiling_weights_1d(int pos, int len, int roi_len, int overlap, float *w)
{
    if (!w || len <= 0)
        return;
    weights_range(pos, len, roi_len, overlap, 0, len, w);
}

void dp_tiling_axis(int len, int tile, int overlap, float *sum, int32_t *owner)
{
    if (!sum || !owner || len <= 0 || tile <= 0 || overlap < 0)
        return;
    const int64_t n = tiles_along(len, tile, overlap);
    const int tl = len < tile ? len : tile;
    for (int i = 0; i < len; i++) {
        sum[i] = 0.0f;
        owner[i] = -1;
    }
    /* tile order, as the plan lists a row's (or column's) tiles: the first wins a tie */
    for (int k = 0; k < n; k++) {
        const int pos = tile_pos(k, n, len, tile, overlap);
        for (int i = 0; i < tl; i++) {
            float w, w_owner = 0.0f;
            weights_range(pos, tl, len, overlap, i, i + 1, &w);
            const int at = pos + i, o = owner[at];
            if (o >= 0)
                weights_range(o, tl, len, overlap, at - o, at - o + 1, &w_owner);
            sum[at] += w;
            if (o < 0 || w > w_owner)
                owner[at] = pos;
        }
    }
}

/* One row segment of a tile: acc += (wx[i] * wy) * map[i]; in SSE where the build has it (GCC
 * -O2 vectorises neither loop), the same IEEE operations in the same order. */
static void add_row(float *restrict acc, const float *restrict map, const float *restrict wx,
                    float wy, int n)
{
    int i = 0;
#if defined(__SSE4_1__)
    const __m128 w = _mm_set1_ps(wy);
    for (; i + 4 <= n; i += 4) {
        const __m128 wm = _mm_mul_ps(_mm_mul_ps(_mm_loadu_ps(wx + i), w), _mm_loadu_ps(map + i));
        _mm_storeu_ps(acc + i, _mm_add_ps(_mm_loadu_ps(acc + i), wm));
    }
#endif
    for (; i < n; i++)
        acc[i] += (wx[i] * wy) * map[i];
}

/* The tile's types where it owns the column (own_x[i] == tile_x); called for rows it owns. */
static void own_types(uint16_t *restrict types, const uint16_t *restrict tile_types,
                      const int32_t *restrict own_x, int32_t tile_x, int n)
{
    int i = 0;
#if defined(__SSE4_1__)
    const __m128i tx = _mm_set1_epi32(tile_x);
    for (; i + 8 <= n; i += 8) {
        const __m128i own = _mm_packs_epi32(
            _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(const void *)(own_x + i)), tx),
            _mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(const void *)(own_x + i + 4)), tx));
        const __m128i old = _mm_loadu_si128((const __m128i *)(void *)(types + i));
        const __m128i mine = _mm_loadu_si128((const __m128i *)(const void *)(tile_types + i));
        _mm_storeu_si128((__m128i *)(void *)(types + i), _mm_blendv_epi8(old, mine, own));
    }
#endif
    for (; i < n; i++)
        types[i] = own_x[i] == tile_x ? tile_types[i] : types[i];
}

void dp_tiling_accumulate(const dp_tile *t, int roi_w, int roi_h, int overlap,
                          const dp_tiling_axes *ax, const float *tile_map,
                          const uint16_t *tile_types, float *acc, uint16_t *types)
{
    dp_tiling_accumulate_rows(t, roi_w, roi_h, overlap, 0, roi_h, ax, tile_map, tile_types, acc,
                              types);
}

void dp_tiling_accumulate_rows(const dp_tile *t, int roi_w, int roi_h, int overlap, int y0, int y1,
                               const dp_tiling_axes *ax, const float *tile_map,
                               const uint16_t *tile_types, float *acc, uint16_t *types)
{
    if (!t || !tile_map || !acc || roi_w <= 0 || roi_h <= 0 || t->w <= 0 || t->h <= 0)
        return;
    int want_types = tile_types && types && ax && ax->own_x && ax->own_y;
    /* clip to the ROI in tile coordinates: [cx0, cx1) x [cy0, cy1) */
    int64_t cx0 = t->x < 0 ? -(int64_t)t->x : 0, cy0 = t->y < 0 ? -(int64_t)t->y : 0;
    int64_t cx1 = (int64_t)roi_w - t->x, cy1 = (int64_t)roi_h - t->y;
    if (cx1 > t->w)
        cx1 = t->w;
    if (cy1 > t->h)
        cy1 = t->h;
    if (cy0 < (int64_t)y0 - t->y)    /* the row band, in tile coordinates */
        cy0 = (int64_t)y0 - t->y;
    if (cy1 > (int64_t)y1 - t->y)
        cy1 = (int64_t)y1 - t->y;
    if (cx0 >= cx1 || cy0 >= cy1)
        return; /* no part of the tile inside the ROI */
    float wx[WBLOCK];
    /* column blocks outer, rows inner: the block's column weights are computed once */
    for (int64_t b0 = cx0; b0 < cx1; b0 += WBLOCK) {
        int nb = cx1 - b0 > WBLOCK ? WBLOCK : (int)(cx1 - b0);
        weights_range(t->x, t->w, roi_w, overlap, (int)b0, (int)b0 + nb, wx);
        for (int ty = (int)cy0; ty < cy1; ty++) {
            float wy;
            weights_range(t->y, t->h, roi_h, overlap, ty, ty + 1, &wy);
            size_t src = (size_t)ty * (size_t)t->w + (size_t)b0;
            size_t dst = (size_t)(t->y + ty) * (size_t)roi_w + (size_t)(t->x + b0);
            add_row(acc + dst, tile_map + src, wx, wy, nb);
            if (want_types && ax->own_y[t->y + ty] == t->y)
                own_types(types + dst, tile_types + src, ax->own_x + t->x + b0, t->x, nb);
        }
    }
}

void dp_tiling_normalize_rows(float *acc, int roi_w, int y0, int y1, const dp_tiling_axes *ax)
{
    if (!acc || !ax || !ax->sum_x || !ax->sum_y || roi_w <= 0)
        return;
    for (int y = y0; y < y1; y++) {
        float *row = acc + (size_t)y * (size_t)roi_w;
        const float sy = ax->sum_y[y];
        for (int x = 0; x < roi_w; x++) {
            const float wsum = ax->sum_x[x] * sy;
            row[x] = wsum > 0.0f ? row[x] / wsum : 0.0f;
        }
    }
}
