/* Grid tiling: plan layout and coverage, argument checks and limits, blend weights, stitching of
 * constant, ramp and per-tile maps, and the per-pixel type taken from the most central tile. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tiling.h"
#include "image_testing.h"

/* Per-pixel checks: plain tests that call Check only on failure (every passing ck_assert costs
 * a write to Check's pipe, far too slow for millions of pixels). */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define REQ(cond) REQUIRE(cond, "failed: %s (line %d)", #cond, __LINE__)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Plans a ROI; returns a malloc'd plan (caller frees) and its size in *n. */
static dp_tile *plan(int rw, int rh, int tile, int overlap, int *n)
{
    dp_err e;
    dp_err_clear(&e);
    ck_assert_msg(dp_tiling_count(rw, rh, tile, overlap, n, &e) == DP_OK, "%s", e.msg);
    ck_assert_int_gt(*n, 0);
    dp_tile *t = malloc((size_t)*n * sizeof *t);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(dp_tiling_plan(rw, rh, tile, overlap, t, *n, &e) == DP_OK, "%s", e.msg);
    return t;
}

/* Independent reference of the documented weight of index i in a tile side, in double. */
static double ref_w1(int pos, int len, int roi_len, int overlap, int i)
{
    const double pi = 3.14159265358979323846;
    double v = 1.0;
    if (overlap > 0 && pos > 0 && i < overlap)
        v *= 0.5 - 0.5 * cos(pi * (i + 0.5) / overlap);
    int d = len - 1 - i;
    if (overlap > 0 && pos + len < roi_len && d < overlap)
        v *= 0.5 - 0.5 * cos(pi * (d + 0.5) / overlap);
    return v;
}

static double ref_w2(const dp_tile *t, int rw, int rh, int overlap, int x, int y)
{
    return ref_w1(t->x, t->w, rw, overlap, x - t->x) * ref_w1(t->y, t->h, rh, overlap, y - t->y);
}

/* Checks that the plan covers the ROI with tiles inside it, on a grid, minimal and overlapping
 * neighbours by at least `overlap`. */
static void check_plan(int rw, int rh, int tile, int overlap)
{
    int n;
    dp_tile *t = plan(rw, rh, tile, overlap, &n);
    /* grid shape: the first row gives the columns */
    int nx = 0;
    while (nx < n && t[nx].y == t[0].y)
        nx++;
    REQ((n % nx) == (0));
    int ny = n / nx;
    int tw = rw < tile ? rw : tile, th = rh < tile ? rh : tile;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            const dp_tile *a = &t[j * nx + i];
            REQ((a->w) == (tw));
            REQ((a->h) == (th));
            REQ((a->x) == (t[i].x));
            REQ((a->y) == (t[j * nx].y));
            REQ(a->x >= 0 && a->y >= 0 && a->x + a->w <= rw && a->y + a->h <= rh);
        }
    /* per axis: starts at 0, ends at the far edge, strictly increasing, overlaps >= overlap,
     * minimal (one tile fewer could not span the side with that overlap) */
    for (int axis = 0; axis < 2; axis++) {
        int cnt = axis ? ny : nx, len = axis ? rh : rw, side = axis ? th : tw;
        int first = axis ? t[0].y : t[0].x;
        int last = axis ? t[(ny - 1) * nx].y : t[nx - 1].x;
        REQ((first) == (0));
        REQ((last + side) == (len));
        for (int k = 1; k < cnt; k++) {
            int p0 = axis ? t[(k - 1) * nx].y : t[k - 1].x;
            int p1 = axis ? t[k * nx].y : t[k].x;
            REQ((p1) > (p0));
            REQ((p0 + side - p1) >= (overlap));
            if (k < cnt - 1)
                REQ((p1 - p0) == (tile - overlap));
        }
        if (cnt > 1)
            REQ(((int64_t)(cnt - 2) * (tile - overlap) + tile) < (len));
    }
    /* every ROI pixel covered, through per-axis coverage (the grid is a product) */
    for (int axis = 0; axis < 2; axis++) {
        int len = axis ? rh : rw, side = axis ? th : tw, cnt = axis ? ny : nx;
        unsigned char *cov = calloc((size_t)len, 1);
        ck_assert_ptr_nonnull(cov);
        for (int k = 0; k < cnt; k++) {
            int p = axis ? t[k * nx].y : t[k].x;
            memset(cov + p, 1, (size_t)side);
        }
        for (int i = 0; i < len; i++)
            REQUIRE(cov[i], "axis %d pixel %d not covered (%dx%d tile %d overlap %d)",
                          axis, i, rw, rh, tile, overlap);
        free(cov);
    }
    free(t);
}

START_TEST(plan_1000x700)
{
    int n;
    dp_tile *t = plan(1000, 700, 518, 64, &n);
    /* x: 0, 454, then the last moved back to 1000-518 = 482; y: 0, then 700-518 = 182 */
    static const dp_tile want[6] = {
        { 0, 0, 518, 518 }, { 454, 0, 518, 518 }, { 482, 0, 518, 518 },
        { 0, 182, 518, 518 }, { 454, 182, 518, 518 }, { 482, 182, 518, 518 },
    };
    ck_assert_int_eq(n, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(t[i].x, want[i].x);
        ck_assert_int_eq(t[i].y, want[i].y);
        ck_assert_int_eq(t[i].w, want[i].w);
        ck_assert_int_eq(t[i].h, want[i].h);
    }
    /* every ROI pixel in at least one tile, counted directly */
    unsigned char *cov = calloc(1000 * 700, 1);
    ck_assert_ptr_nonnull(cov);
    for (int i = 0; i < n; i++)
        for (int y = t[i].y; y < t[i].y + t[i].h; y++)
            for (int x = t[i].x; x < t[i].x + t[i].w; x++)
                cov[y * 1000 + x] = 1;
    for (int p = 0; p < 1000 * 700; p++)
        REQUIRE(cov[p], "pixel %d,%d not covered", p % 1000, p / 1000);
    free(cov);
    free(t);
    check_plan(1000, 700, 518, 64);
}
END_TEST

START_TEST(plan_exact_and_small)
{
    int n;
    dp_tile *t = plan(518, 518, 518, 64, &n);
    ck_assert_int_eq(n, 1);
    ck_assert(t[0].x == 0 && t[0].y == 0 && t[0].w == 518 && t[0].h == 518);
    free(t);
    t = plan(300, 200, 518, 64, &n);            /* smaller than a tile both ways */
    ck_assert_int_eq(n, 1);
    ck_assert(t[0].x == 0 && t[0].y == 0 && t[0].w == 300 && t[0].h == 200);
    free(t);
    t = plan(300, 1000, 518, 64, &n);           /* narrow: one column of 300-wide tiles */
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert(t[i].x == 0 && t[i].w == 300 && t[i].h == 518);
    ck_assert(t[0].y == 0 && t[1].y == 454 && t[2].y == 482);
    free(t);
    t = plan(519, 1, 518, 0, &n);               /* one pixel too wide: a second, shifted tile */
    ck_assert_int_eq(n, 2);
    ck_assert(t[0].x == 0 && t[1].x == 1 && t[1].h == 1);
    free(t);
    t = plan(1036, 16, 518, 0, &n);             /* overlap 0: tiles abut exactly */
    ck_assert_int_eq(n, 2);
    ck_assert(t[0].x == 0 && t[1].x == 518);
    free(t);
}
END_TEST

START_TEST(plan_properties)
{
    /* a deterministic sweep of sizes, tiles and overlaps, including odd tiles and the largest
     * overlap allowed */
    static const int sizes[] = { 1, 15, 16, 17, 100, 517, 518, 519, 971, 972, 973, 1000, 2448 };
    static const int tiles[] = { 16, 17, 64, 101, 518, 1036 };
    int ns = (int)(sizeof sizes / sizeof *sizes), nt = (int)(sizeof tiles / sizeof *tiles);
    for (int a = 0; a < ns; a++)
        for (int b = 0; b < ns; b += 3)
            for (int c = 0; c < nt; c++) {
                int tile = tiles[c];
                int ovs[4] = { 0, 1, tile / 8, (tile - 1) / 2 };
                for (int o = 0; o < 4; o++) {
                    int n;
                    if (dp_tiling_count(sizes[a], sizes[b], tile, ovs[o], &n, NULL) ==
                        DP_E_NOMEM) {
                        /* only refused when the plan really is too large */
                        int64_t st = tile - ovs[o];
                        int64_t nx = sizes[a] <= tile ? 1 : 1 + (sizes[a] - tile + st - 1) / st;
                        int64_t ny = sizes[b] <= tile ? 1 : 1 + (sizes[b] - tile + st - 1) / st;
                        ck_assert_int_gt(nx * ny, DP_TILING_MAX_TILES);
                        continue;
                    }
                    check_plan(sizes[a], sizes[b], tile, ovs[o]);
                }
            }
}
END_TEST

START_TEST(plan_8192_fast)
{
    double t0 = now_s();
    int n;
    dp_tile *t = plan(8192, 8192, 518, 64, &n);
    double dt = now_s() - t0;
    /* 1 + ceil((8192-518)/454) = 18 per side */
    ck_assert_int_eq(n, 18 * 18);
    ck_assert_int_eq(t[16].x, 16 * 454);
    ck_assert_int_eq(t[17].x, 8192 - 518);
    ck_assert_int_eq(t[n - 1].y, 8192 - 518);
    ck_assert_msg(dt < 0.05, "planning took %.3f s", dt);
    free(t);
    check_plan(8192, 8192, 518, 64);
    /* README example: 8192 x 4096 with tile 1554, overlap 192 gives 6 x 3 */
    ck_assert_int_eq(dp_tiling_count(8192, 4096, 1554, 192, &n, NULL), DP_OK);
    ck_assert_int_eq(n, 18);
}
END_TEST

START_TEST(bad_args)
{
    int n = 77;
    dp_err e;
    struct { int w, h, tile, ov; dp_status s; } cases[] = {
        { 0, 100, 518, 64, DP_E_ARG },
        { 100, -1, 518, 64, DP_E_ARG },
        { 100, 100, 15, 0, DP_E_ARG },
        { 100, 100, 0, 0, DP_E_ARG },
        { 100, 100, -518, 0, DP_E_ARG },
        { 100, 100, 518, -1, DP_E_ARG },
        { 100, 100, 518, 259, DP_E_ARG },          /* exactly half */
        { 100, 100, 100, 50, DP_E_ARG },
        { 100, 100, 101, 51, DP_E_ARG },
        { 100, 100, INT_MAX, INT_MAX / 2 + 1, DP_E_ARG }, /* 2*overlap would wrap in int */
        { 8192, 8192, 16, 7, DP_E_NOMEM },         /* 911 x 911 tiles */
        { INT_MAX, INT_MAX, 16, 0, DP_E_NOMEM },   /* no overflow in the count */
        { INT_MAX, 1, 16384, 0, DP_E_NOMEM },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dp_err_clear(&e);
        n = 77;
        dp_status s = dp_tiling_count(cases[i].w, cases[i].h, cases[i].tile, cases[i].ov, &n, &e);
        ck_assert_msg(s == cases[i].s, "case %zu: %s (%s)", i, dp_status_name(s), e.msg);
        ck_assert_int_eq(e.code, cases[i].s);
        ck_assert_msg(e.msg[0] != '\0', "case %zu: empty message", i);
        ck_assert_int_eq(n, 0);
        dp_tile one;
        ck_assert_int_eq(dp_tiling_plan(cases[i].w, cases[i].h, cases[i].tile, cases[i].ov,
                                        &one, 1, NULL), cases[i].s);
    }
    /* the limits themselves are accepted */
    ck_assert_int_eq(dp_tiling_count(100, 100, 16, 7, &n, NULL), DP_OK);
    ck_assert_int_eq(dp_tiling_count(100, 100, 101, 50, &n, NULL), DP_OK);
    ck_assert_int_eq(dp_tiling_count(100, 100, 518, 258, &n, NULL), DP_OK);
    ck_assert_int_eq(dp_tiling_count(INT_MAX, INT_MAX, INT_MAX, 0, &n, NULL), DP_OK);
    ck_assert_int_eq(n, 1);
    /* exactly DP_TILING_MAX_TILES is fine: 256 x 256 tiles of 16 with no overlap */
    ck_assert_int_eq(dp_tiling_count(4096, 4096, 16, 0, &n, NULL), DP_OK);
    ck_assert_int_eq(n, DP_TILING_MAX_TILES);
    ck_assert_int_eq(dp_tiling_count(4097, 4096, 16, 0, &n, NULL), DP_E_NOMEM);
    ck_assert_int_eq(dp_tiling_count(100, 100, 518, 64, NULL, NULL), DP_E_ARG);
    /* plan: NULL tiles, wrong count */
    dp_tile t[6];
    dp_err_clear(&e);
    ck_assert_int_eq(dp_tiling_plan(1000, 700, 518, 64, NULL, 6, &e), DP_E_ARG);
    ck_assert_int_eq(dp_tiling_plan(1000, 700, 518, 64, t, 5, &e), DP_E_ARG);
    ck_assert_int_eq(dp_tiling_plan(1000, 700, 518, 64, t, 7, &e), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "6"));
    ck_assert_int_eq(dp_tiling_plan(1000, 700, 518, 64, t, 6, &e), DP_OK);
}
END_TEST

START_TEST(weights_1d)
{
    enum { LEN = 518, OV = 64 };
    float w[LEN];
    /* interior tile: ramps at both ends, 1 in the middle, > 0 everywhere, continuous */
    dp_tiling_weights_1d(454, LEN, 2000, OV, w);
    double maxstep = 3.14159265358979323846 / (2.0 * OV) + 1e-6; /* |d/di raised cosine| */
    for (int i = 0; i < LEN; i++) {
        REQUIRE(w[i] > 0.0f && w[i] <= 1.0f, "w[%d] = %g", i, (double)w[i]);
        REQUIRE(fabs(w[i] - ref_w1(454, LEN, 2000, OV, i)) < 1e-6, "w[%d]", i);
        if (i >= OV && i < LEN - OV)
            REQ((w[i]) == (1.0f));
        if (i > 0)
            REQUIRE(fabs((double)w[i] - w[i - 1]) <= maxstep, "jump at %d", i);
    }
    ck_assert_float_lt(w[0], 0.001f);           /* near 0 at a shared edge */
    ck_assert_float_lt(w[LEN - 1], 0.001f);
    ck_assert_float_eq(w[0], w[LEN - 1]);       /* symmetric */
    ck_assert(w[1] > w[0] && w[OV - 1] > w[OV - 2] && w[OV - 1] < 1.0f);
    /* first and last tile: 1 on the ROI border side */
    dp_tiling_weights_1d(0, LEN, 2000, OV, w);
    ck_assert_float_eq(w[0], 1.0f);
    ck_assert_float_eq(w[LEN - OV - 1], 1.0f);
    ck_assert_float_lt(w[LEN - 1], 0.001f);
    dp_tiling_weights_1d(2000 - LEN, LEN, 2000, OV, w);
    ck_assert_float_lt(w[0], 0.001f);
    ck_assert_float_eq(w[LEN - 1], 1.0f);
    /* a single tile spanning the ROI, or no overlap: all ones */
    dp_tiling_weights_1d(0, LEN, LEN, OV, w);
    for (int i = 0; i < LEN; i++)
        ck_assert_float_eq(w[i], 1.0f);
    dp_tiling_weights_1d(518, LEN, 2000, 0, w);
    for (int i = 0; i < LEN; i++)
        ck_assert_float_eq(w[i], 1.0f);
    /* overlap 1: the shared-edge pixel weighs 0.5 */
    dp_tiling_weights_1d(10, LEN, 2000, 1, w);
    ck_assert_float_eq_tol(w[0], 0.5f, 1e-7f);
    ck_assert_float_eq(w[1], 1.0f);
}
END_TEST

START_TEST(weights_sum_along_plan)
{
    /* along the 1-D plan of a 2000-px side, the weights of all tiles sum to 1 where neighbours
     * step by tile - overlap, and are positive and continuous everywhere */
    enum { L = 2000, T = 518, OV = 64 };
    int n;
    dp_tile *t = plan(L, 16, T, OV, &n);
    ck_assert_int_eq(n, 5);                      /* 0, 454, 908, 1362, 1482 */
    double *sum = calloc(L, sizeof *sum);
    float w[T];
    for (int k = 0; k < n; k++) {
        dp_tiling_weights_1d(t[k].x, t[k].w, L, OV, w);
        for (int i = 0; i < T; i++)
            sum[t[k].x + i] += w[i];
    }
    for (int x = 0; x < L; x++) {
        REQUIRE(sum[x] > 0.01, "total weight %g at %d", sum[x], x);
        if (x < t[n - 1].x)                      /* before the shifted last tile */
            REQUIRE(fabs(sum[x] - 1.0) < 1e-6, "total weight %.9f at %d", sum[x], x);
        if (x > 0)
            REQUIRE(fabs(sum[x] - sum[x - 1]) < 0.05, "total jumps at %d", x);
    }
    free(sum);
    free(t);
}
END_TEST

/* Stitches tile maps produced by fn(tile index, x, y) (ROI coordinates) over a plan; returns
 * the malloc'd normalised ROI map; types filled if non-NULL (tile type = index + 1). */
typedef float (*map_fn)(int k, int x, int y);

/* The plan's axes (dp_tiling_axis for both sides) in one malloc'd block; free(a->sum_x). */
static dp_tiling_axes make_axes(int rw, int rh, int tile, int overlap)
{
    float *sums = malloc(((size_t)rw + rh) * (sizeof(float) + sizeof(int32_t)));
    ck_assert_ptr_nonnull(sums);
    int32_t *own = (int32_t *)(void *)(sums + rw + rh);
    dp_tiling_axis(rw, tile, overlap, sums, own);
    dp_tiling_axis(rh, tile, overlap, sums + rw, own + rw);
    return (dp_tiling_axes){ sums, sums + rw, own, own + rw };
}

static float *stitch(int rw, int rh, int tile, int overlap, map_fn fn, uint16_t *types)
{
    int n;
    dp_tile *t = plan(rw, rh, tile, overlap, &n);
    size_t np = (size_t)rw * (size_t)rh;
    dp_tiling_axes ax = make_axes(rw, rh, tile, overlap);
    float *acc = calloc(np, sizeof *acc);
    float *tm = malloc((size_t)t[0].w * (size_t)t[0].h * sizeof *tm);
    uint16_t *tt = malloc((size_t)t[0].w * (size_t)t[0].h * sizeof *tt);
    ck_assert(acc && tm && tt);
    if (types)                        /* every pixel must be written: none may stay 0xffff */
        memset(types, 0xff, np * sizeof *types);
    for (int k = 0; k < n; k++) {
        for (int y = 0; y < t[k].h; y++)
            for (int x = 0; x < t[k].w; x++) {
                tm[y * t[k].w + x] = fn(k, t[k].x + x, t[k].y + y);
                tt[y * t[k].w + x] = (uint16_t)(k + 1);
            }
        dp_tiling_accumulate(&t[k], rw, rh, overlap, &ax, tm, types ? tt : NULL, acc, types);
    }
    for (int x = 0; x < rw; x++)
        REQUIRE(ax.sum_x[x] > 0.0f, "column %d has no weight", x);
    for (int y = 0; y < rh; y++)
        REQUIRE(ax.sum_y[y] > 0.0f, "row %d has no weight", y);
    for (size_t p = 0; types && p < np; p++)
        REQUIRE(types[p] != 0xffff, "pixel %zu got no type", p);
    dp_tiling_normalize_rows(acc, rw, 0, rh, &ax);
    free((void *)ax.sum_x);
    free(tm);
    free(tt);
    free(t);
    return acc;
}

static float constant_map(int k, int x, int y)
{
    (void)k, (void)x, (void)y;
    return 1.7f;
}

static float ramp_map(int k, int x, int y)
{
    (void)k;
    return 0.5f + 0.001f * (float)x + 0.0025f * (float)y;
}

static float tile_index_map(int k, int x, int y)
{
    (void)x, (void)y;
    return (float)k;
}

START_TEST(stitch_constant)
{
    static const int cfg[][4] = { { 1000, 700, 518, 64 }, { 2000, 1100, 518, 258 },
                                  { 300, 1000, 518, 64 }, { 1036, 1036, 518, 0 },
                                  { 777, 555, 100, 1 } };
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        float *m = stitch(cfg[c][0], cfg[c][1], cfg[c][2], cfg[c][3], constant_map, NULL);
        size_t np = (size_t)cfg[c][0] * (size_t)cfg[c][1];
        for (size_t p = 0; p < np; p++)
            REQUIRE(fabsf(m[p] - 1.7f) <= 1e-6f, "cfg %zu pixel %zu: %.9g", c, p,
                          (double)m[p]);
        free(m);
    }
}
END_TEST

START_TEST(stitch_ramp)
{
    float *m = stitch(1000, 700, 518, 64, ramp_map, NULL);
    for (int y = 0; y < 700; y++)
        for (int x = 0; x < 1000; x++) {
            float want = ramp_map(0, x, y);
            REQUIRE(fabsf(m[y * 1000 + x] - want) <= 2e-6f * want, "(%d,%d): %.9g vs %.9g",
                          x, y, (double)m[y * 1000 + x], (double)want);
        }
    free(m);
}
END_TEST

START_TEST(stitch_blends)
{
    /* each tile reports its own index: exclusive pixels get it exactly, overlap pixels the
     * weighted mean by the documented weights (independent double reference) */
    enum { RW = 1000, RH = 700, T = 518, OV = 64 };
    float *m = stitch(RW, RH, T, OV, tile_index_map, NULL);
    int n;
    dp_tile *t = plan(RW, RH, T, OV, &n);
    double worst = 0;
    for (int y = 0; y < RH; y += 3)
        for (int x = 0; x < RW; x += 3) {
            double s = 0, sw = 0;
            for (int k = 0; k < n; k++)
                if (x >= t[k].x && x < t[k].x + t[k].w && y >= t[k].y && y < t[k].y + t[k].h) {
                    double wk = ref_w2(&t[k], RW, RH, OV, x, y);
                    s += wk * k;
                    sw += wk;
                }
            double d = fabs(m[y * RW + x] - s / sw);
            worst = d > worst ? d : worst;
        }
    ck_assert_msg(worst < 1e-5, "largest deviation from the reference blend %g", worst);
    ck_assert_float_eq(m[100 * RW + 100], 0.0f);           /* only tile 0 */
    /* x = 486: tile 0 (31 px from its right edge), tile 1 (32 px in) and tile 2 (4 px in) */
    float v = m[100 * RW + 486];
    ck_assert(v > 0.0f && v < 2.0f);
    free(m);
    free(t);
}
END_TEST

START_TEST(types_most_central)
{
    enum { RW = 1000, RH = 700, T = 518, OV = 64 };
    uint16_t *types = calloc((size_t)RW * RH, sizeof *types);
    float *m = stitch(RW, RH, T, OV, constant_map, types);
    int n;
    dp_tile *t = plan(RW, RH, T, OV, &n);
    /* hand-checked pixels (tiles x: 0, 454, 482; y: 0, 182; type = index + 1):
     * (100,100) only tile 0; (470,100): 47 px from tile 0's edge, 16 into tile 1 -> tile 0;
     * (500,100): 17 from tile 0's edge, 46 into tile 1, 18 into tile 2 -> tile 1;
     * (990,100): only tile 2;
     * (100,650): tile 3 only; (100,300): 217 from tile 0's bottom, 118 into tile 3 -> both 1,
     * first wins -> tile 0. */
    ck_assert_int_eq(types[100 * RW + 100], 1);
    ck_assert_int_eq(types[100 * RW + 470], 1);
    ck_assert_int_eq(types[100 * RW + 500], 2);
    ck_assert_int_eq(types[100 * RW + 990], 3);
    ck_assert_int_eq(types[650 * RW + 100], 4);
    ck_assert_int_eq(types[300 * RW + 100], 1);
    /* (500,510): tile 4 is 46 px in from its shared left edge and has a border below; tile 1
     * ends 7 px below, tile 5 is 18 px in, tile 3 ends 17 px to the left */
    ck_assert_int_eq(types[510 * RW + 500], 5);
    /* everywhere: the chosen tile has the largest documented weight among the covering ones */
    for (int y = 0; y < RH; y++)
        for (int x = 0; x < RW; x++) {
            int k = types[y * RW + x] - 1;
            REQ(k >= 0 && k < n);
            REQ(x >= t[k].x && x < t[k].x + t[k].w && y >= t[k].y && y < t[k].y + t[k].h);
            double wk = ref_w2(&t[k], RW, RH, OV, x, y);
            for (int j = 0; j < n; j++)
                if (x >= t[j].x && x < t[j].x + t[j].w && y >= t[j].y && y < t[j].y + t[j].h)
                    REQUIRE(ref_w2(&t[j], RW, RH, OV, x, y) <= wk + 1e-6,
                                  "(%d,%d): tile %d chosen, tile %d is more central", x, y, k, j);
        }
    free(types);
    free(m);
    free(t);
}
END_TEST

START_TEST(accumulate_clips_and_ignores_null)
{
    /* a tile reaching outside the ROI is clipped, not written out of bounds (ASan checks) */
    float acc[4 * 4] = { 0 };
    uint16_t types[4 * 4] = { 0 }, tt[16 * 16];
    float tm[16 * 16];
    for (int i = 0; i < 16 * 16; i++) {
        tm[i] = 2.0f;
        tt[i] = 7;
    }
    const float ones[4] = { 1, 1, 1, 1 };
    const int32_t own[4] = { -10, -10, -10, -10 };
    const dp_tiling_axes ax = { ones, ones, own, own };
    dp_tile off = { -10, -10, 16, 16 };
    dp_tiling_accumulate(&off, 4, 4, 0, &ax, tm, tt, acc, types);
    for (int i = 0; i < 16; i++) {
        ck_assert_float_eq(acc[i], 2.0f);
        ck_assert_int_eq(types[i], 7);
    }
    dp_tile far = { 100, 0, 16, 16 };
    dp_tiling_accumulate(&far, 4, 4, 0, &ax, tm, tt, acc, types);
    dp_tiling_accumulate(NULL, 4, 4, 0, &ax, tm, tt, acc, types);
    dp_tiling_accumulate(&off, 4, 4, 0, &ax, NULL, tt, acc, types);
    dp_tiling_accumulate(&off, 4, 4, 0, NULL, tm, tt, acc, NULL);   /* no axes: no types */
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(acc[i], 4.0f);
    /* normalise: an uncovered pixel (total weight 0) becomes 0, not NaN */
    float a2[2] = { 3.0f, 5.0f };
    const float sx[2] = { 2.0f, 0.0f }, sy[1] = { 1.0f };
    const dp_tiling_axes ax2 = { sx, sy, NULL, NULL };
    dp_tiling_normalize_rows(a2, 2, 0, 1, &ax2);
    ck_assert_float_eq(a2[0], 1.5f);
    ck_assert_float_eq(a2[1], 0.0f);
}
END_TEST

/* The axes against the 2-D definition: the product of the side sums is the total weight of the
 * tiles covering a pixel (double reference), and the owner is a covering tile with the largest
 * weight, the first in tile order on a tie (the overlap-0 plan has exact ties). */
START_TEST(axes_match_2d_weights)
{
    static const int cfg[][4] = { { 1000, 700, 518, 64 }, { 1000, 700, 518, 0 },
                                  { 300, 1000, 518, 64 }, { 777, 555, 100, 1 } };
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        const int rw = cfg[c][0], rh = cfg[c][1], tile = cfg[c][2], ov = cfg[c][3];
        int n;
        dp_tile *t = plan(rw, rh, tile, ov, &n);
        dp_tiling_axes ax = make_axes(rw, rh, tile, ov);
        for (int y = 0; y < rh; y += 7)
            for (int x = 0; x < rw; x += 5) {
                double sw = 0, best = -1;
                int first_best = -1;
                for (int k = 0; k < n; k++)
                    if (x >= t[k].x && x < t[k].x + t[k].w && y >= t[k].y && y < t[k].y + t[k].h) {
                        double wk = ref_w2(&t[k], rw, rh, ov, x, y);
                        sw += wk;
                        if (wk > best + 1e-12) {
                            best = wk;
                            first_best = k;
                        }
                    }
                double got = (double)ax.sum_x[x] * ax.sum_y[y];
                REQUIRE(fabs(got - sw) <= 1e-6 * sw, "cfg %zu (%d,%d): total %.9g, reference "
                        "%.9g", c, x, y, got, sw);
                REQUIRE(ax.own_x[x] == t[first_best].x && ax.own_y[y] == t[first_best].y,
                        "cfg %zu (%d,%d): owner (%d,%d), reference tile %d at (%d,%d)", c, x, y,
                        ax.own_x[x], ax.own_y[y], first_best, t[first_best].x, t[first_best].y);
            }
        free((void *)ax.sum_x);
        free(t);
    }
}
END_TEST

/* Stitching in row bands (dp_tiling_accumulate_rows, as the tile workers do it): every band
 * taking the tiles in the same order gives the bits of stitching them whole, sums, weights and
 * types; bands of one row, empty bands and bands past the tiles included. */
START_TEST(accumulate_rows_in_bands_bit_identical)
{
    const int rw = 1000, rh = 700, tile = 256, overlap = 32;
    int n;
    dp_tile *tl = plan(rw, rh, tile, overlap, &n);
    const size_t px = (size_t)rw * rh, tpx = (size_t)tile * tile;
    float *maps = malloc((size_t)n * tpx * sizeof *maps);
    uint16_t *tt = malloc((size_t)n * tpx * sizeof *tt);
    dp_tiling_axes ax = make_axes(rw, rh, tile, overlap);
    float *a[2];
    uint16_t *ty[2];
    for (int k = 0; k < 2; k++) {
        a[k] = calloc(px, sizeof(float));
        ty[k] = calloc(px, sizeof(uint16_t));
        REQ(a[k] && ty[k]);
    }
    REQ(maps && tt);
    for (size_t i = 0; i < (size_t)n * tpx; i++) {
        maps[i] = (float)((i * 2654435761u) >> 8 & 0xffff) / 7919.0f;
        tt[i] = (uint16_t)(1 + i % 5);
    }
    for (int i = 0; i < n; i++)
        dp_tiling_accumulate(&tl[i], rw, rh, overlap, &ax, maps + i * tpx, tt + i * tpx, a[0],
                             ty[0]);
    const int bands[] = { 0, 233, 234, 234, 500, 700, 900 };
    for (size_t b = 0; b + 1 < sizeof bands / sizeof bands[0]; b++)
        for (int i = 0; i < n; i++)
            dp_tiling_accumulate_rows(&tl[i], rw, rh, overlap, bands[b], bands[b + 1], &ax,
                                      maps + i * tpx, tt + i * tpx, a[1], ty[1]);
    ck_assert(memcmp(a[0], a[1], px * sizeof(float)) == 0);
    ck_assert(memcmp(ty[0], ty[1], px * sizeof(uint16_t)) == 0);
    ck_assert(a[0][px / 2] > 0 && ty[0][px / 2] > 0);     /* something was stitched */
    /* a band misses what lies outside it */
    memset(a[1], 0, px * sizeof(float));
    dp_tiling_accumulate_rows(&tl[0], rw, rh, overlap, 10, 20, &ax, maps, NULL, a[1], NULL);
    ck_assert(a[1][(size_t)9 * rw] == 0 && a[1][(size_t)10 * rw] > 0 && a[1][(size_t)19 * rw] > 0 &&
              a[1][(size_t)20 * rw] == 0);
    free((void *)ax.sum_x);
    for (int k = 0; k < 2; k++) {
        free(a[k]);
        free(ty[k]);
    }
    free(maps);
    free(tt);
    free(tl);
}
END_TEST

START_TEST(stitch_8192_fast)
{
    /* the full per-image stitching work of an 8192 x 8192 ROI (324 tiles of 518) */
    enum { R = 8192, T = 518, OV = 64 };
    int n;
    dp_tile *t = plan(R, R, T, OV, &n);
    size_t np = (size_t)R * R;
    float *acc = calloc(np, sizeof *acc);
    uint16_t *types = calloc(np, sizeof *types);
    float *tm = malloc((size_t)T * T * sizeof *tm);
    uint16_t *tt = malloc((size_t)T * T * sizeof *tt);
    ck_assert(acc && types && tm && tt);
    for (int i = 0; i < T * T; i++) {
        tm[i] = 3.0f;
        tt[i] = 2;
    }
    double t0 = now_s();
    dp_tiling_axes ax = make_axes(R, R, T, OV);
    for (int k = 0; k < n; k++)
        dp_tiling_accumulate(&t[k], R, R, OV, &ax, tm, tt, acc, types);
    dp_tiling_normalize_rows(acc, R, 0, R, &ax);
    double dt = now_s() - t0;
    free((void *)ax.sum_x);
    for (size_t p = 0; p < np; p += 4099)
        REQ(fabsf(acc[p] - 3.0f) <= 1e-6f && types[p] == 2);
    ck_assert(fabsf(acc[np - 1] - 3.0f) <= 1e-6f);
    /* generous: also holds under sanitizers on a slow 2-core machine */
    ck_assert_msg(dt < 20.0, "stitching 8192x8192 took %.2f s", dt);
    free(acc);
    free(types);
    free(tm);
    free(tt);
    free(t);
}
END_TEST

Suite *tiling_suite(void)
{
    Suite *s = suite_create("tiling");
    TCase *tc = tcase_create("tiling");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, plan_1000x700);
    tcase_add_test(tc, plan_exact_and_small);
    tcase_add_test(tc, plan_properties);
    tcase_add_test(tc, plan_8192_fast);
    tcase_add_test(tc, bad_args);
    tcase_add_test(tc, weights_1d);
    tcase_add_test(tc, weights_sum_along_plan);
    tcase_add_test(tc, stitch_constant);
    tcase_add_test(tc, stitch_ramp);
    tcase_add_test(tc, stitch_blends);
    tcase_add_test(tc, types_most_central);
    tcase_add_test(tc, accumulate_clips_and_ignores_null);
    tcase_add_test(tc, axes_match_2d_weights);
    tcase_add_test(tc, accumulate_rows_in_bands_bit_identical);
    tcase_add_test(tc, stitch_8192_fast);
    suite_add_tcase(s, tc);
    return s;
}
