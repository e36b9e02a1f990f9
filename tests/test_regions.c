/* Defect regions: hand-made maps (blobs, 8-connectivity, area filter, per-type thresholds, class
 * by mass, mask, sorting, truncation), agreement with an independent BFS reference on random
 * maps, the label-map flood-fill property, large and pathological maps, and bad arguments. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "regions.h"

/* Per-pixel checks: plain tests that call Check only on failure (every passing ck_assert costs
 * a write to Check's pipe, far too slow for millions of pixels). */
#define REQUIRE(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define REQ(cond) REQUIRE(cond, "failed: %s (line %d)", #cond, __LINE__)

enum { MAXT = 8, MAXR = 64 };

/* A test map with its inputs and outputs. */
typedef struct fx {
    int w, h, n_types;
    float *amap;
    uint16_t *types;
    uint8_t *mask;           /* NULL or w x h with stride w */
    float thr[MAXT + 1];
    int64_t min_area;
    uint16_t *label;
    dp_region reg[MAXR];
    int n, total;
    dp_err err;
} fx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A w x h map of zeros, type 1 everywhere, thresholds 2.0, no mask. */
static void fx_init(fx *f, int w, int h, int n_types)
{
    memset(f, 0, sizeof *f);
    f->w = w;
    f->h = h;
    f->n_types = n_types;
    size_t n = (size_t)w * (size_t)h;
    f->amap = calloc(n, sizeof *f->amap);
    f->types = malloc(n * sizeof *f->types);
    f->label = malloc(n * sizeof *f->label);
    ck_assert(f->amap && f->types && f->label);
    for (size_t i = 0; i < n; i++)
        f->types[i] = 1;
    memset(f->label, 0xab, n * sizeof *f->label);   /* garbage: must be overwritten */
    for (int k = 0; k <= MAXT; k++)
        f->thr[k] = 2.0f;
}

static void fx_free(fx *f)
{
    free(f->amap);
    free(f->types);
    free(f->mask);
    free(f->label);
}

static void set_px(fx *f, int x, int y, float v, int type)
{
    f->amap[(size_t)y * f->w + x] = v;
    f->types[(size_t)y * f->w + x] = (uint16_t)type;
}

static void fill_rect(fx *f, int x0, int y0, int w, int h, float v, int type)
{
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++)
            set_px(f, x, y, v, type);
}

/* Runs dp_regions_find with a fresh heap workspace (offset by one byte to test alignment). */
static dp_status fx_run(fx *f, int max_regions)
{
    size_t ws = dp_regions_workspace(f->w, f->h, f->n_types);
    ck_assert_uint_gt(ws, 0);
    unsigned char *buf = malloc(ws + 1);
    ck_assert_ptr_nonnull(buf);
    dp_err_clear(&f->err);
    dp_status s = dp_regions_find(f->amap, f->types, f->mask, f->w, f->w, f->h, f->n_types,
                                  f->thr, f->min_area, f->label, f->reg, max_regions, &f->n,
                                  &f->total, buf + 1, ws, &f->err);
    free(buf);
    return s;
}

static void fx_ok(fx *f, int max_regions)
{
    dp_status s = fx_run(f, max_regions);
    ck_assert_msg(s == DP_OK, "%s: %s", dp_status_name(s), f->err.msg);
}

static uint16_t lab(const fx *f, int x, int y)
{
    return f->label[(size_t)y * f->w + x];
}

/* ---- independent reference: BFS over defective pixels -------------------------------------- */

/* Expected regions of f (all of them, sorted like the API) and the expected label map. Returns
 * the number of kept regions; *out and *lab_out are malloc'd (caller frees). */
static int reference(const fx *f, dp_region **out, uint16_t **lab_out)
{
    int w = f->w, h = f->h;
    size_t n = (size_t)w * h;
    uint8_t *def = calloc(n, 1);
    int32_t *comp = malloc(n * sizeof *comp);
    int32_t *queue = malloc(n * sizeof *queue);
    uint16_t *L = calloc(n, sizeof *L);
    dp_region *R = malloc((n + 1) * sizeof *R);
    double *tsum = malloc((size_t)(f->n_types + 1) * sizeof *tsum);
    ck_assert(def && comp && queue && L && R && tsum);
    for (size_t p = 0; p < n; p++) {
        comp[p] = -1;
        int m = !f->mask || f->mask[p];
        def[p] = m && f->amap[p] > f->thr[f->types[p]];
    }
    int nr = 0;
    for (size_t p0 = 0; p0 < n; p0++) {
        if (!def[p0] || comp[p0] >= 0)
            continue;
        /* BFS from the raster-first pixel of a new component */
        int qh = 0, qt = 0;
        queue[qt++] = (int32_t)p0;
        comp[p0] = nr;
        int x0 = w, x1 = -1, y0 = h, y1 = -1;
        double sum = 0, mx = -1;
        for (int k = 0; k <= f->n_types; k++)
            tsum[k] = 0;
        while (qh < qt) {
            int p = queue[qh++], x = p % w, y = p / w;
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
            sum += f->amap[p];
            mx = f->amap[p] > mx ? f->amap[p] : mx;
            tsum[f->types[p]] += f->amap[p];
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    int q = ny * w + nx;
                    if (def[q] && comp[q] < 0) {
                        comp[q] = nr;
                        queue[qt++] = q;
                    }
                }
        }
        int cls = 1;
        for (int k = 2; k <= f->n_types; k++)
            if (tsum[k] > tsum[cls])
                cls = k;
        if (qt >= f->min_area) {
            R[nr] = (dp_region){ .class_id = cls, .x = x0, .y = y0, .w = x1 - x0 + 1,
                                 .h = y1 - y0 + 1, .seed_x = (int)(p0 % w),
                                 .seed_y = (int)(p0 / w), .area = qt, .max_score = (float)mx,
                                 .mean_score = (float)(sum / qt) };
            for (int i = 0; i < qt; i++)
                L[queue[i]] = (uint16_t)cls;
            nr++;
        } else {
            for (int i = 0; i < qt; i++)
                comp[queue[i]] = INT32_MAX;     /* visited, dropped */
        }
    }
    /* insertion sort by descending max, then raster seed (the reference is small) */
    for (int i = 1; i < nr; i++) {
        dp_region r = R[i];
        int j = i - 1;
        int64_t rs = (int64_t)r.seed_y * w + r.seed_x;
        while (j >= 0 && (R[j].max_score < r.max_score ||
                          (R[j].max_score == r.max_score &&
                           (int64_t)R[j].seed_y * w + R[j].seed_x > rs))) {
            R[j + 1] = R[j];
            j--;
        }
        R[j + 1] = r;
    }
    free(def);
    free(comp);
    free(queue);
    free(tsum);
    *out = R;
    *lab_out = L;
    return nr;
}

static void expect_region(const dp_region *g, const dp_region *e, int i)
{
    REQUIRE(g->class_id == e->class_id && g->x == e->x && g->y == e->y && g->w == e->w &&
            g->h == e->h && g->seed_x == e->seed_x && g->seed_y == e->seed_y &&
            g->area == e->area && g->max_score == e->max_score &&
            fabsf(g->mean_score - e->mean_score) <= 1e-5f * e->mean_score,
            "region %d: got class %d box %d,%d %dx%d seed %d,%d area %lld max %g mean %g; "
            "want class %d box %d,%d %dx%d seed %d,%d area %lld max %g mean %g", i,
            g->class_id, g->x, g->y, g->w, g->h, g->seed_x, g->seed_y, (long long)g->area,
            (double)g->max_score, (double)g->mean_score, e->class_id, e->x, e->y, e->w, e->h,
            e->seed_x, e->seed_y, (long long)e->area, (double)e->max_score,
            (double)e->mean_score);
}

/* Checks the flood-fill property: from each region's seed, an 8-connected fill over equal label
 * values visits exactly area pixels inside its bounding box, touching its four sides; and the
 * label map has no other nonzero pixels than those of the listed regions. */
static void check_flood_fill(const fx *f)
{
    int w = f->w, h = f->h;
    size_t n = (size_t)w * h;
    uint8_t *seen = calloc(n, 1);
    int32_t *queue = malloc(n * sizeof *queue);
    ck_assert(seen && queue);
    int64_t covered = 0;
    for (int i = 0; i < f->n; i++) {
        const dp_region *r = &f->reg[i];
        size_t s = (size_t)r->seed_y * w + r->seed_x;
        REQUIRE(f->label[s] == r->class_id, "region %d: seed label %d, class %d", i,
                f->label[s], r->class_id);
        REQUIRE(!seen[s], "region %d: seed inside another region", i);
        int qh = 0, qt = 0;
        queue[qt++] = (int32_t)s;
        seen[s] = 1;
        int x0 = w, x1 = -1, y0 = h, y1 = -1;
        while (qh < qt) {
            int p = queue[qh++], x = p % w, y = p / w;
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
            /* its pixels are defective and unmasked */
            REQ(!f->mask || f->mask[p]);
            REQ(f->amap[p] > f->thr[f->types[p]]);
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    int q = ny * w + nx;
                    if (!seen[q] && f->label[q] == r->class_id) {
                        seen[q] = 1;
                        queue[qt++] = q;
                    }
                }
        }
        REQUIRE(qt == r->area, "region %d: flood fill %d pixels, area %lld", i, qt,
                (long long)r->area);
        REQUIRE(x0 == r->x && y0 == r->y && x1 == r->x + r->w - 1 && y1 == r->y + r->h - 1,
                "region %d: fill box %d,%d..%d,%d vs %d,%d %dx%d", i, x0, y0, x1, y1, r->x,
                r->y, r->w, r->h);
        covered += qt;
    }
    int64_t nonzero = 0;
    for (size_t p = 0; p < n; p++)
        nonzero += f->label[p] != 0;
    if (f->n == f->total)
        REQUIRE(nonzero == covered, "label has %lld nonzero pixels, regions cover %lld",
                (long long)nonzero, (long long)covered);
    free(seen);
    free(queue);
}

/* Runs the API on f and compares everything with the reference. */
static void check_against_reference(fx *f)
{
    fx_ok(f, MAXR);
    dp_region *R;
    uint16_t *L;
    int nr = reference(f, &R, &L);
    REQUIRE(f->total == nr, "total %d, reference %d", f->total, nr);
    REQUIRE(f->n == (nr < MAXR ? nr : MAXR), "n %d, reference %d", f->n, nr);
    for (int i = 0; i < f->n; i++)
        expect_region(&f->reg[i], &R[i], i);
    for (size_t p = 0; p < (size_t)f->w * f->h; p++)
        REQUIRE(f->label[p] == L[p], "label at %zu,%zu: %d, reference %d", p % f->w,
                p / f->w, f->label[p], L[p]);
    check_flood_fill(f);
    free(R);
    free(L);
}

/* ---- hand-made maps ------------------------------------------------------------------------- */

START_TEST(two_blobs)
{
    fx f;
    fx_init(&f, 20, 10, 1);
    fill_rect(&f, 2, 1, 3, 3, 3.0f, 1);          /* A: 9 px at 3.0 */
    fill_rect(&f, 10, 5, 5, 4, 2.5f, 1);         /* B: 20 px, peak 3.9 */
    set_px(&f, 12, 7, 3.9f, 1);
    set_px(&f, 0, 9, 2.0f, 1);                   /* equal to the threshold: not defective */
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 2);
    ck_assert_int_eq(f.n, 2);
    const dp_region *b = &f.reg[0], *a = &f.reg[1];
    ck_assert_float_eq(b->max_score, 3.9f);
    ck_assert(b->x == 10 && b->y == 5 && b->w == 5 && b->h == 4);
    ck_assert(b->seed_x == 10 && b->seed_y == 5 && b->area == 20 && b->class_id == 1);
    ck_assert_float_eq_tol(b->mean_score, (19 * 2.5f + 3.9f) / 20, 1e-6f);
    ck_assert(a->x == 2 && a->y == 1 && a->w == 3 && a->h == 3 && a->area == 9);
    ck_assert_float_eq(a->max_score, 3.0f);
    ck_assert_float_eq(a->mean_score, 3.0f);
    ck_assert_int_eq(lab(&f, 2, 1), 1);
    ck_assert_int_eq(lab(&f, 14, 8), 1);
    ck_assert_int_eq(lab(&f, 0, 9), 0);
    ck_assert_int_eq(lab(&f, 5, 1), 0);
    check_against_reference(&f);
    fx_free(&f);
}
END_TEST

START_TEST(diagonal_is_one_region)
{
    fx f;
    fx_init(&f, 12, 12, 1);
    /* a diagonal line, and an X whose arms touch only at corners */
    for (int i = 0; i < 5; i++)
        set_px(&f, 1 + i, 1 + i, 3.0f, 1);
    for (int i = 0; i < 5; i++) {
        set_px(&f, 6 + i, 6 + i, 3.0f, 1);
        set_px(&f, 10 - i, 6 + i, 3.0f, 1);
    }
    /* a pixel two columns right of the line's start is separate */
    set_px(&f, 4, 1, 3.5f, 1);
    fx_ok(&f, MAXR);
    /* (5,5) and (6,6) touch diagonally: the line and the X are one region */
    ck_assert_int_eq(f.total, 2);
    ck_assert_int_eq(f.reg[0].area, 1);
    ck_assert_int_eq(f.reg[1].area, 5 + 9);
    ck_assert(f.reg[1].x == 1 && f.reg[1].y == 1 && f.reg[1].w == 10 && f.reg[1].h == 10);
    check_against_reference(&f);
    fx_free(&f);

    /* a "V" whose arms start apart and meet in a later row (a merge), and an anti-diagonal
     * touching a run's right end */
    fx_init(&f, 9, 6, 1);
    for (int i = 0; i < 4; i++) {
        set_px(&f, i, i, 3.0f, 1);
        set_px(&f, 8 - i, i, 3.0f, 1);
    }
    fill_rect(&f, 3, 4, 3, 1, 3.0f, 1);          /* joins both arms */
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 1);
    ck_assert(f.reg[0].area == 11 && f.reg[0].seed_x == 0 && f.reg[0].seed_y == 0);
    check_against_reference(&f);
    fx_free(&f);
}
END_TEST

START_TEST(area_filter)
{
    fx f;
    fx_init(&f, 30, 10, 1);
    set_px(&f, 1, 1, 3.9f, 1);                   /* area 1, the strongest */
    fill_rect(&f, 5, 1, 2, 2, 3.0f, 1);          /* area 4 */
    fill_rect(&f, 10, 1, 3, 3, 2.5f, 1);         /* area 9 */
    f.min_area = 4;
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 2);
    ck_assert_int_eq(f.n, 2);
    ck_assert_int_eq(f.reg[0].area, 4);
    ck_assert_int_eq(f.reg[1].area, 9);
    ck_assert_int_eq(lab(&f, 1, 1), 0);          /* dropped: not in the label map */
    ck_assert_int_eq(lab(&f, 5, 1), 1);
    check_against_reference(&f);
    f.min_area = 10;
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 0);
    ck_assert_int_eq(lab(&f, 10, 1), 0);
    f.min_area = 0;
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 3);
    fx_free(&f);
}
END_TEST

START_TEST(per_type_thresholds)
{
    fx f;
    fx_init(&f, 10, 3, 3);
    f.thr[1] = 2.0f;
    f.thr[2] = 1.0f;
    f.thr[3] = 3.5f;
    set_px(&f, 0, 1, 1.5f, 1);   /* type 1 at 1.5 < 2.0: no */
    set_px(&f, 3, 1, 1.5f, 2);   /* type 2 at 1.5 > 1.0: yes */
    set_px(&f, 6, 1, 3.0f, 3);   /* type 3 at 3.0 < 3.5: no */
    set_px(&f, 9, 1, 3.6f, 3);   /* type 3 at 3.6 > 3.5: yes */
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 2);
    ck_assert(f.reg[0].seed_x == 9 && f.reg[0].class_id == 3);
    ck_assert(f.reg[1].seed_x == 3 && f.reg[1].class_id == 2);
    ck_assert_int_eq(lab(&f, 0, 1), 0);
    ck_assert_int_eq(lab(&f, 3, 1), 2);
    ck_assert_int_eq(lab(&f, 6, 1), 0);
    ck_assert_int_eq(lab(&f, 9, 1), 3);
    check_against_reference(&f);
    fx_free(&f);
}
END_TEST

START_TEST(class_by_mass)
{
    fx f;
    fx_init(&f, 10, 4, 3);
    /* one region: 3 px of type 1 at 2.5 (7.5), 2 px of type 3 at 3.875 (7.75) */
    set_px(&f, 1, 1, 2.5f, 1);
    set_px(&f, 2, 1, 2.5f, 1);
    set_px(&f, 3, 1, 2.5f, 1);
    set_px(&f, 4, 1, 3.875f, 3);
    set_px(&f, 4, 2, 3.875f, 3);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 1);
    ck_assert_int_eq(f.reg[0].class_id, 3);      /* more mass, fewer pixels */
    for (int x = 1; x <= 4; x++)
        ck_assert_int_eq(lab(&f, x, 1), 3);      /* the whole region carries the class */
    ck_assert_int_eq(lab(&f, 4, 2), 3);
    /* the type-1 part grows to 4 px (10.0): now class 1 */
    set_px(&f, 0, 2, 2.5f, 1);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.reg[0].class_id, 1);
    ck_assert_int_eq(lab(&f, 4, 2), 1);
    /* a tie (two types at 6.0 each, the higher id first in raster order) -> the lowest id */
    fx_free(&f);
    fx_init(&f, 10, 4, 3);
    set_px(&f, 1, 1, 3.0f, 3);
    set_px(&f, 2, 1, 3.0f, 3);
    set_px(&f, 3, 1, 3.0f, 2);
    set_px(&f, 4, 1, 3.0f, 2);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.reg[0].class_id, 2);
    /* class by mass through a merge: arms of different types meeting below */
    fx_free(&f);
    fx_init(&f, 9, 5, 2);
    for (int i = 0; i < 3; i++) {
        set_px(&f, i, i, 2.25f, 1);              /* left arm: type 1, 3 px */
        set_px(&f, 8 - i, i, 3.5f, 2);           /* right arm: type 2, 3 px, more mass */
    }
    fill_rect(&f, 3, 3, 3, 1, 2.25f, 1);         /* joining row: type 1 now 6 px = 13.5 */
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 1);
    ck_assert_int_eq(f.reg[0].class_id, 1);      /* 13.5 vs 10.5 */
    check_against_reference(&f);
    fx_free(&f);
}
END_TEST

START_TEST(mask_excludes)
{
    fx f;
    fx_init(&f, 12, 6, 2);
    fill_rect(&f, 2, 1, 7, 4, 3.0f, 1);
    set_px(&f, 5, 2, 3.9f, 2);
    /* a padded mask (stride 16) blanking column 5: the blob splits in two, its peak is gone;
     * masked-out pixels with an invalid type are not read */
    enum { MS = 16 };
    uint8_t *mask = malloc(MS * 6);
    memset(mask, 1, MS * 6);
    for (int y = 0; y < 6; y++)
        mask[y * MS + 5] = 0;
    set_px(&f, 5, 3, 3.0f, 0);
    size_t ws = dp_regions_workspace(12, 6, 2);
    void *buf = malloc(ws);
    dp_err e;
    dp_err_clear(&e);
    ck_assert_int_eq(dp_regions_find(f.amap, f.types, mask, MS, 12, 6, 2, f.thr, 0, f.label,
                                     f.reg, MAXR, &f.n, &f.total, buf, ws, &e), DP_OK);
    ck_assert_int_eq(f.total, 2);
    ck_assert_int_eq(f.reg[0].area, 12);
    ck_assert_int_eq(f.reg[1].area, 12);
    ck_assert_float_eq(f.reg[0].max_score, 3.0f);
    ck_assert(f.reg[0].seed_x == 2 && f.reg[1].seed_x == 6);   /* tie: raster order */
    for (int y = 1; y <= 4; y++)
        ck_assert_int_eq(lab(&f, 5, y), 0);
    /* the same mask bottom-up (negative stride) */
    uint8_t *flip = malloc(MS * 6);
    for (int y = 0; y < 6; y++)
        memcpy(flip + (5 - y) * MS, mask + y * MS, MS);
    memset(f.label, 0xab, 12 * 6 * sizeof *f.label);
    ck_assert_int_eq(dp_regions_find(f.amap, f.types, flip + 5 * MS, -MS, 12, 6, 2, f.thr, 0,
                                     f.label, f.reg, MAXR, &f.n, &f.total, buf, ws, &e), DP_OK);
    ck_assert_int_eq(f.total, 2);
    ck_assert_int_eq(lab(&f, 5, 2), 0);
    ck_assert_int_eq(lab(&f, 4, 2), 1);
    /* without the mask the invalid type is read and refused, with its position */
    ck_assert_int_eq(dp_regions_find(f.amap, f.types, NULL, 0, 12, 6, 2, f.thr, 0, f.label,
                                     f.reg, MAXR, &f.n, &f.total, buf, ws, &e), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "types[5, 3] = 0"));
    ck_assert(f.n == 0 && f.total == 0);
    free(buf);
    free(mask);
    free(flip);
    fx_free(&f);
}
END_TEST

START_TEST(sorting_and_truncation)
{
    fx f;
    fx_init(&f, 40, 4, 1);
    /* 10 single pixels with distinct maxima in scrambled order */
    static const float v[10] = { 2.5f, 3.75f, 2.25f, 3.5f, 2.125f, 3.875f, 3.0f, 2.75f,
                                 3.25f, 2.0625f };
    for (int i = 0; i < 10; i++)
        set_px(&f, 2 + 4 * i, 1 + i % 2, v[i], 1);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 10);
    ck_assert_int_eq(f.n, 10);
    for (int i = 1; i < 10; i++)
        ck_assert_float_gt(f.reg[i - 1].max_score, f.reg[i].max_score);
    fx_ok(&f, 3);
    ck_assert_int_eq(f.total, 10);
    ck_assert_int_eq(f.n, 3);
    ck_assert_float_eq(f.reg[0].max_score, 3.875f);
    ck_assert_float_eq(f.reg[1].max_score, 3.75f);
    ck_assert_float_eq(f.reg[2].max_score, 3.5f);
    ck_assert_int_eq(f.reg[0].seed_x, 2 + 4 * 5);
    /* regions beyond max_regions still appear in the label map */
    ck_assert_int_eq(lab(&f, 2, 1), 1);
    ck_assert_int_eq(lab(&f, 2 + 4 * 9, 2), 1);
    check_flood_fill(&f);
    /* max_regions 0 with no array: only the count */
    size_t ws = dp_regions_workspace(40, 4, 1);
    void *buf = malloc(ws);
    ck_assert_int_eq(dp_regions_find(f.amap, f.types, NULL, 0, 40, 4, 1, f.thr, 0, f.label,
                                     NULL, 0, &f.n, &f.total, buf, ws, NULL), DP_OK);
    ck_assert(f.n == 0 && f.total == 10);
    free(buf);
    /* equal maxima: raster order of seeds */
    fx_free(&f);
    fx_init(&f, 20, 6, 1);
    set_px(&f, 15, 1, 3.0f, 1);
    set_px(&f, 3, 4, 3.0f, 1);
    set_px(&f, 8, 1, 3.0f, 1);
    fx_ok(&f, 2);
    ck_assert(f.total == 3 && f.n == 2);
    ck_assert(f.reg[0].seed_x == 8 && f.reg[0].seed_y == 1);
    ck_assert(f.reg[1].seed_x == 15 && f.reg[1].seed_y == 1);
    fx_free(&f);
}
END_TEST

START_TEST(empty_map)
{
    fx f;
    fx_init(&f, 33, 17, 2);
    fx_ok(&f, MAXR);
    ck_assert(f.n == 0 && f.total == 0);
    for (int i = 0; i < 33 * 17; i++)
        REQ(f.label[i] == 0);
    /* NaN is never defective */
    set_px(&f, 4, 4, NAN, 1);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 0);
    fx_free(&f);
    /* a 1x1 map, defective */
    fx_init(&f, 1, 1, 1);
    set_px(&f, 0, 0, 4.0f, 1);
    fx_ok(&f, MAXR);
    ck_assert(f.total == 1 && f.reg[0].area == 1 && lab(&f, 0, 0) == 1);
    fx_free(&f);
}
END_TEST

/* Small deterministic generator (the test must not depend on rand()'s implementation). */
static uint32_t rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

START_TEST(random_maps_match_reference)
{
    uint64_t seed = 12345;
    for (int it = 0; it < 300; it++) {
        int w = 1 + (int)(rng(&seed) % 70), h = 1 + (int)(rng(&seed) % 50);
        int nt = 1 + (int)(rng(&seed) % 5);
        int density = (int)(rng(&seed) % 100);          /* % of pixels above threshold */
        fx f;
        fx_init(&f, w, h, nt);
        for (int k = 1; k <= nt; k++)
            f.thr[k] = 1.0f + 0.25f * (float)(rng(&seed) % 8);
        /* dyadic values: sums are exact, so class ties are decided the same way */
        for (int p = 0; p < w * h; p++) {
            int t = 1 + (int)(rng(&seed) % (uint32_t)nt);
            float v = (rng(&seed) % 100) < (uint32_t)density ? f.thr[t] + 0.125f *
                      (float)(1 + rng(&seed) % 16) : 0.125f * (float)(rng(&seed) % 8);
            if (v > 4.0f)
                v = 4.0f;
            f.amap[p] = v;
            f.types[p] = (uint16_t)t;
        }
        if (it % 3 == 0) {
            f.mask = malloc((size_t)w * h);
            for (int p = 0; p < w * h; p++)
                f.mask[p] = (rng(&seed) % 10) != 0;
        }
        f.min_area = it % 4 == 1 ? (int64_t)(rng(&seed) % 6) : 0;
        check_against_reference(&f);
        fx_free(&f);
    }
}
END_TEST

START_TEST(shapes_match_reference)
{
    /* spiral, comb and staircase: many merges and long-lived components */
    fx f;
    fx_init(&f, 61, 61, 2);
    int x = 0, y = 0, dx = 1, dy = 0, len = 60, step = 0, turns = 0;
    for (int i = 0; i < 61 * 61 && len > 0; i++) {
        set_px(&f, x, y, 3.0f, 1 + (i / 37) % 2);
        if (++step == len) {
            step = 0;
            int t = dx;
            dx = -dy;
            dy = t;
            if (++turns % 2 == 0)
                len -= 2;
        }
        x += dx;
        y += dy;
    }
    check_against_reference(&f);
    ck_assert_int_eq(f.total, 1);
    fx_free(&f);

    fx_init(&f, 64, 40, 1);
    for (int c = 0; c < 64; c += 2)                       /* teeth */
        fill_rect(&f, c, 0, 1, 39, 3.0f, 1);
    fill_rect(&f, 0, 39, 64, 1, 3.0f, 1);                 /* spine at the bottom */
    check_against_reference(&f);
    ck_assert_int_eq(f.total, 1);
    fx_free(&f);

    fx_init(&f, 50, 50, 1);
    for (int i = 0; i < 50; i++)                          /* staircases rising right to left */
        for (int k = 0; k < 50; k += 7)
            if (k + (49 - i) < 50)
                set_px(&f, k + (49 - i), i, 3.0f, 1);
    check_against_reference(&f);
    fx_free(&f);
}
END_TEST

START_TEST(checkerboard_max_labels)
{
    /* isolated pixels on every 2x2 block: the most components (and labels) a map can have */
    enum { W = 1001, H = 999 };
    fx f;
    fx_init(&f, W, H, 1);
    for (int y = 0; y < H; y += 2)
        for (int x = 0; x < W; x += 2)
            set_px(&f, x, y, 3.0f, 1);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 501 * 500);
    ck_assert_int_eq(f.n, MAXR);
    check_flood_fill(&f);
    /* every other column full: vertical lines, all open at once until the last row */
    fx_free(&f);
    fx_init(&f, W, H, 1);
    for (int x = 0; x < W; x += 2)
        fill_rect(&f, x, 0, 1, H, 3.0f, 1);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 501);
    ck_assert_int_eq(f.reg[0].area, H);
    fx_free(&f);
}
END_TEST

START_TEST(large_full_map)
{
    /* 4096 x 4096, every pixel defective: one region, no recursion, fast */
    enum { N = 4096 };
    fx f;
    fx_init(&f, N, N, 4);
    for (size_t p = 0; p < (size_t)N * N; p++) {
        f.amap[p] = 2.5f;
        f.types[p] = (uint16_t)(1 + (p % N) * 4 / N);   /* four vertical bands */
    }
    f.amap[(size_t)N * N - 1] = 3.5f;
    size_t ws = dp_regions_workspace(N, N, 4);
    ck_assert_uint_lt(ws, (size_t)N * N + ((size_t)1 << 20));   /* about w*h/4 labels */
    void *buf = malloc(ws);
    double t0 = now_s();
    dp_status s = dp_regions_find(f.amap, f.types, NULL, 0, N, N, 4, f.thr, 0, f.label, f.reg,
                                  MAXR, &f.n, &f.total, buf, ws, &f.err);
    double dt = now_s() - t0;
    ck_assert_msg(s == DP_OK, "%s", f.err.msg);
    ck_assert(f.n == 1 && f.total == 1);
    const dp_region *r = &f.reg[0];
    ck_assert(r->x == 0 && r->y == 0 && r->w == N && r->h == N && r->area == (int64_t)N * N);
    ck_assert(r->seed_x == 0 && r->seed_y == 0);
    ck_assert_float_eq(r->max_score, 3.5f);
    ck_assert_float_eq_tol(r->mean_score, 2.5f, 1e-6f);
    ck_assert_int_eq(r->class_id, 4);      /* band 4 holds the one 3.5 pixel */
    for (size_t p = 0; p < (size_t)N * N; p += 997)
        REQ(f.label[p] == 4);
    ck_assert_msg(dt < 10.0, "4096x4096 took %.2f s", dt);   /* generous for sanitizers */
    free(buf);
    fx_free(&f);
}
END_TEST

/* ---- the block-wise row test, segment sums and how rows pass between the passes ------------- */

/* dp_regions_find on f's inputs with another mask layout; outputs into f (fresh workspace). */
static dp_status fx_run_mask(fx *f, const uint8_t *mask, ptrdiff_t stride, int max_regions)
{
    size_t ws = dp_regions_workspace(f->w, f->h, f->n_types);
    void *buf = malloc(ws);
    ck_assert_ptr_nonnull(buf);
    dp_err_clear(&f->err);
    dp_status s = dp_regions_find(f->amap, f->types, mask, stride, f->w, f->h, f->n_types,
                                  f->thr, f->min_area, f->label, f->reg, max_regions, &f->n,
                                  &f->total, buf, ws, &f->err);
    free(buf);
    return s;
}

/* Random rows made of stretches (long runs of one type, short ones, gaps) rather than random
 * pixels: segments long enough for the partial sums, widths that are no multiple of the
 * 16-pixel block, rows with the most runs an odd width allows, NaN inside runs, masks (also
 * bottom-up), thresholds equal (no pixel between the lowest and highest), different, negative
 * (pixel by pixel sums; defective values kept > 0: the reference's mean tolerance is relative
 * to a positive mean, and it counts types absent from a region as sums of 0 where the API
 * picks among the types present, which differs when a region's sums are all <= 0), and
 * values down to 2^-36 (segments too wide in range for partial sums to be exact, summed in
 * order instead). */
START_TEST(long_runs_match_reference)
{
    uint64_t seed = 4242;
    for (int it = 0; it < 240; it++) {
        int mode = it % 4;
        int w = 1 + (int)(rng(&seed) % 300), h = 1 + (int)(rng(&seed) % (mode == 3 ? 8 : 24));
        int nt = 1 + (int)(rng(&seed) % 4);
        fx f;
        fx_init(&f, w, h, nt);
        for (int k = 1; k <= nt; k++)
            f.thr[k] = mode == 0 ? 1.5f : mode == 1 ? 1.0f + 0.25f * (float)(rng(&seed) % 8)
                     : mode == 2 ? -0.75f + 0.25f * (float)(rng(&seed) % 4) : 0.0f;
        int density = 20 + (int)(rng(&seed) % 80);
        for (int y = 0; y < h; y++) {
            if (rng(&seed) % 8 == 0) {                 /* every other pixel: the most runs */
                for (int x = 0; x < w; x++)
                    set_px(&f, x, y, x % 2 ? -0.875f : f.thr[1] + 0.75f, 1);
                continue;
            }
            for (int x = 0; x < w;) {
                int len = 1 + (int)(rng(&seed) % (rng(&seed) % 2 ? 70u : 4u));
                int def = (int)(rng(&seed) % 100) < density;
                int t = 1 + (int)(rng(&seed) % (uint32_t)nt);
                for (int i = 0; i < len && x < w; i++, x++) {
                    float v;
                    if (!def)
                        v = f.thr[t] - 0.125f * (float)(rng(&seed) % 6);   /* not above */
                    else if (mode == 3 && rng(&seed) % 4 == 0)
                        v = 0x1p-36f;
                    else
                        v = f.thr[t] + 0.125f * (float)(1 + rng(&seed) % 16);
                    if (mode == 2 && def && v < 0.125f)
                        v = 0.125f;
                    if (rng(&seed) % 97 == 0)
                        v = NAN;
                    set_px(&f, x, y, v, t);
                }
            }
        }
        if (it % 3 == 0) {
            f.mask = malloc((size_t)w * h);
            for (int p = 0; p < w * h;) {               /* masked stretches */
                int len = 1 + (int)(rng(&seed) % 40);
                uint8_t m = rng(&seed) % 5 != 0 ? (uint8_t)(1 + rng(&seed) % 255) : 0;
                for (int i = 0; i < len && p < w * h; i++)
                    f.mask[p++] = m;
            }
        }
        f.min_area = it % 5 == 1 ? (int64_t)(rng(&seed) % 4) : 0;
        check_against_reference(&f);
        if (f.mask) {
            /* the same mask bottom-up in a padded buffer: the same outputs */
            int n = f.n, total = f.total;
            dp_region reg[MAXR];
            memcpy(reg, f.reg, sizeof reg);
            uint16_t *lab0 = malloc((size_t)w * h * sizeof *lab0);
            memcpy(lab0, f.label, (size_t)w * h * sizeof *lab0);
            ptrdiff_t ms = w + 7;
            uint8_t *flip = malloc((size_t)ms * h);
            memset(flip, 0x5a, (size_t)ms * h);
            for (int y = 0; y < h; y++)
                memcpy(flip + (size_t)(h - 1 - y) * ms, f.mask + (size_t)y * w, (size_t)w);
            memset(f.label, 0xab, (size_t)w * h * sizeof *f.label);
            dp_status s = fx_run_mask(&f, flip + (size_t)(h - 1) * ms, -ms, MAXR);
            ck_assert_msg(s == DP_OK, "%s", f.err.msg);
            REQUIRE(f.n == n && f.total == total, "bottom-up mask: %d/%d regions, %d/%d", f.n,
                    f.total, n, total);
            REQ(memcmp(f.label, lab0, (size_t)w * h * sizeof *lab0) == 0);
            for (int i = 0; i < n; i++) {
                expect_region(&f.reg[i], &reg[i], i);
                REQ(f.reg[i].mean_score == reg[i].mean_score);
            }
            free(flip);
            free(lab0);
        }
        fx_free(&f);
    }
}
END_TEST

START_TEST(class_sums_are_sequential)
{
    /* The type sums are the double sums in raster order within each run, as they always were,
     * even where partial sums would round differently. Type 1: 2^60 then 100 x 192; in order,
     * each 192 rounds up to 256 (2^60 + 25600), while partial sums stay near the exact
     * 2^60 + 19200. Type 2: 2^60 + 23040, in between: in order type 1 is the larger. */
    fx f;
    fx_init(&f, 220, 3, 2);
    f.thr[1] = f.thr[2] = 0.5f;
    set_px(&f, 3, 1, 0x1p60f, 1);
    for (int x = 4; x < 104; x++)
        set_px(&f, x, 1, 192.0f, 1);
    set_px(&f, 104, 1, 0x1p60f, 2);
    set_px(&f, 105, 1, 23040.0f, 2);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.total, 1);
    ck_assert_int_eq(f.reg[0].class_id, 1);
    ck_assert_int_eq(f.reg[0].area, 103);
    ck_assert_float_eq(f.reg[0].max_score, 0x1p60f);
    for (int x = 3; x <= 105; x++)
        ck_assert_int_eq(lab(&f, x, 1), 1);
    /* type 2 just above: 2^60 + 25856 */
    set_px(&f, 105, 1, 25856.0f, 2);
    fx_ok(&f, MAXR);
    ck_assert_int_eq(f.reg[0].class_id, 2);
    ck_assert_int_eq(lab(&f, 3, 1), 2);
    /* a long segment of subnormal and normal values: summed in order, counted in full */
    fx_free(&f);
    fx_init(&f, 40, 2, 1);
    f.thr[1] = 0.0f;
    for (int x = 0; x < 40; x++)
        set_px(&f, x, 1, x % 3 ? 2.0f : 0x1p-140f, 1);
    fx_ok(&f, MAXR);
    ck_assert(f.total == 1 && f.reg[0].area == 40 && f.reg[0].w == 40);
    ck_assert_float_eq(f.reg[0].max_score, 2.0f);
    ck_assert_float_eq_tol(f.reg[0].mean_score, 2.0f * 26 / 40, 1e-6f);
    fx_free(&f);
}
END_TEST

START_TEST(bad_type_in_long_runs)
{
    /* rows of 100 defective pixels (six 16-pixel blocks and a tail of 4): a type out of range
     * anywhere in a block is refused at its own position, and only there */
    static const int xs[] = { 0, 5, 15, 16, 37, 95, 96, 99 };
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        for (int bad = 0; bad < 2; bad++) {
            fx f;
            fx_init(&f, 100, 4, 2);
            f.thr[1] = 1.0f;
            f.thr[2] = 3.0f;
            fill_rect(&f, 0, 0, 100, 4, 3.5f, 1);
            fill_rect(&f, 40, 2, 30, 1, 2.0f, 2);        /* between the thresholds: a gap */
            set_px(&f, xs[i], 2, 2.0f, bad ? 3 : 0);     /* between the thresholds: read */
            dp_status s = fx_run(&f, MAXR);
            ck_assert_int_eq(s, DP_E_ARG);
            char want[64];
            snprintf(want, sizeof want, "types[%d, 2] = %d; expected 1..2", xs[i], bad ? 3 : 0);
            ck_assert_msg(strstr(f.err.msg, want) != NULL, "%s: %s", want, f.err.msg);
            ck_assert(f.n == 0 && f.total == 0);
            /* an earlier bad type that is not read (masked out, NaN, or at most the lowest
             * threshold) does not count: the error is still at xs[i] */
            if (xs[i] >= 3) {
                f.mask = malloc(100 * 4);
                memset(f.mask, 1, 100 * 4);
                set_px(&f, xs[i] - 3, 2, 3.5f, 0);
                f.mask[2 * 100 + xs[i] - 3] = 0;
                set_px(&f, xs[i] - 2, 2, NAN, 7);
                set_px(&f, xs[i] - 1, 2, 1.0f, 9);
                s = fx_run(&f, MAXR);
                ck_assert_int_eq(s, DP_E_ARG);
                ck_assert_msg(strstr(f.err.msg, want) != NULL, "%s: %s", want, f.err.msg);
                /* and once xs[i] is fine, so is the map (the reference reads every type: the
                 * unread ones are made valid for it once the API has passed them over) */
                set_px(&f, xs[i], 2, 2.0f, 1);
                fx_ok(&f, MAXR);
                uint16_t *lab0 = malloc(100 * 4 * sizeof *lab0);
                memcpy(lab0, f.label, 100 * 4 * sizeof *lab0);
                for (int x = xs[i] - 3; x < xs[i]; x++)
                    f.types[2 * 100 + x] = 1;
                check_against_reference(&f);
                REQ(memcmp(lab0, f.label, 100 * 4 * sizeof *lab0) == 0);
                free(lab0);
            }
            fx_free(&f);
        }
    }
}
END_TEST

START_TEST(wide_rows_match_reference)
{
    /* rows wider than 65536 pixels: their runs are marked in the label map between the
     * passes, not kept as 16-bit pairs */
    uint64_t seed = 99;
    fx f;
    fx_init(&f, 70001, 3, 3);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 70001;) {
            int len = 1 + (int)(rng(&seed) % 200);
            int def = rng(&seed) % 2, t = 1 + (int)(rng(&seed) % 3);
            for (int i = 0; i < len && x < 70001; i++, x++)
                set_px(&f, x, y, def ? 2.125f + 0.125f * (float)(rng(&seed) % 8) : 0.5f, t);
        }
    fill_rect(&f, 65530, 0, 471, 3, 3.0f, 2);     /* one region across x = 65535 | 65536 */
    check_against_reference(&f);
    fx_free(&f);
}
END_TEST

START_TEST(workspace_sizes)
{
    ck_assert_uint_eq(dp_regions_workspace(0, 10, 1), 0);
    ck_assert_uint_eq(dp_regions_workspace(10, -1, 1), 0);
    ck_assert_uint_eq(dp_regions_workspace(10, 10, 0), 0);
    ck_assert_uint_eq(dp_regions_workspace(10, 10, 65536), 0);
    ck_assert_uint_gt(dp_regions_workspace(10, 10, 65535), 0);
    ck_assert_uint_gt(dp_regions_workspace(1 << 15, 1 << 15, 1), 0);   /* 2^30 pixels */
    ck_assert_uint_eq(dp_regions_workspace(1 << 16, 1 << 15, 1), 0);
    ck_assert_uint_eq(dp_regions_workspace(INT32_MAX, INT32_MAX, 1), 0);
    ck_assert_uint_gt(dp_regions_workspace(1 << 28, 1, 1), 0);          /* one long row */
    ck_assert_uint_gt(dp_regions_workspace(1, 1 << 28, 1), 0);
    /* 8192 x 8192 with 64 types: labels (w*h/4 * 4 bytes) dominate */
    size_t big = dp_regions_workspace(8192, 8192, 64);
    ck_assert_uint_gt(big, (size_t)8192 * 8192);
    ck_assert_uint_lt(big, (size_t)80 << 20);
}
END_TEST

START_TEST(bad_args)
{
    fx f;
    fx_init(&f, 8, 8, 2);
    size_t ws = dp_regions_workspace(8, 8, 2);
    void *buf = malloc(ws);
    dp_err e;
    int n = 5, t = 5;
#define FIND(amap, types, mask, ms, w, h, nt, thr, ma, label, reg, mr, pn, pt, wsp, wss)          \
    (dp_err_clear(&e), n = 5, t = 5,                                                            \
     dp_regions_find(amap, types, mask, ms, w, h, nt, thr, ma, label, reg, mr, pn, pt, wsp, wss,  \
                     &e))
    uint8_t mask[64];
    memset(mask, 1, sizeof mask);
    ck_assert_int_eq(FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_OK);
    ck_assert(n == 0 && t == 0);
    /* each bad argument alone -> DP_E_ARG and zeroed counts */
#define BAD(what, call)                                                                         \
    do {                                                                                        \
        dp_status s_ = (call);                                                                  \
        ck_assert_msg(s_ == DP_E_ARG && n == 0 && t == 0, "%s: %s, n %d, t %d, %s", what,       \
                      dp_status_name(s_), n, t, e.msg);                                         \
    } while (0)
    BAD("amap", FIND(NULL, f.types, NULL, 0, 8, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("types", FIND(f.amap, NULL, NULL, 0, 8, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("pixel_threshold", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, NULL,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("label", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr,
                       0, NULL, f.reg, MAXR, &n, &t, buf, ws));
    BAD("regions", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr,
                       0, f.label, NULL, 1, &n, &t, buf, ws));
    BAD("workspace", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, NULL, ws));
    BAD("needed", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws - 1));
    BAD("0x8", FIND(f.amap, f.types, NULL, 0, 0, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("8x-8", FIND(f.amap, f.types, NULL, 0, 8, -8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("at most", FIND(f.amap, f.types, NULL, 0, 1 << 16, 1 << 15, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("0 types", FIND(f.amap, f.types, NULL, 0, 8, 8, 0, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("stride 7", FIND(f.amap, f.types, mask, 7, 8, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("stride -7", FIND(f.amap, f.types, mask, -7, 8, 8, 2, f.thr,
                       0, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("min_area -1", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr,
                       -1, f.label, f.reg, MAXR, &n, &t, buf, ws));
    BAD("max_regions -1", FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr,
                       0, f.label, f.reg, -1, &n, &t, buf, ws));
    /* the message names the fault (re-run the cases one by one to read each message) */
    FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, NULL, f.reg, MAXR, &n, &t, buf, ws);
    ck_assert_ptr_nonnull(strstr(e.msg, "label"));
    ck_assert(n == 0 && t == 0 && e.code == DP_E_ARG);
    FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n, &t, buf, ws - 1);
    ck_assert_ptr_nonnull(strstr(e.msg, "needed"));
    FIND(f.amap, f.types, mask, 7, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n, &t, buf, ws);
    ck_assert_ptr_nonnull(strstr(e.msg, "stride 7"));
    f.thr[2] = NAN;
    ck_assert_int_eq(FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "pixel_threshold[2]"));
    f.thr[2] = INFINITY;
    ck_assert_int_eq(FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_E_ARG);
    f.thr[2] = 2.0f;
    /* NULL counts */
    ck_assert_int_eq(dp_regions_find(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg,
                                     MAXR, NULL, &t, buf, ws, NULL), DP_E_ARG);
    ck_assert_int_eq(dp_regions_find(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg,
                                     MAXR, &n, NULL, buf, ws, NULL), DP_E_ARG);
    /* types is read only above the lowest threshold: an invalid type on a clean pixel is fine */
    set_px(&f, 1, 1, 3.0f, 1);
    set_px(&f, 6, 5, 1.9f, 3);
    set_px(&f, 2, 6, 0.0f, 0);
    ck_assert_int_eq(FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_OK);
    ck_assert(n == 1 && t == 1);
    /* a type above n_types where it is read, after some regions were found */
    set_px(&f, 6, 5, 2.1f, 3);
    ck_assert_int_eq(FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "types[6, 5] = 3; expected 1..2"));
    ck_assert(n == 0 && t == 0);
    /* right after a defective run, too */
    fill_rect(&f, 2, 5, 4, 1, 3.0f, 1);
    ck_assert_int_eq(FIND(f.amap, f.types, NULL, 0, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "types[6, 5] = 3"));
    /* masked out, the same pixel is fine: the pixel at (1,1) and the run of row 5 */
    mask[5 * 8 + 6] = 0;
    ck_assert_int_eq(FIND(f.amap, f.types, mask, 8, 8, 8, 2, f.thr, 0, f.label, f.reg, MAXR, &n,
                          &t, buf, ws), DP_OK);
    ck_assert(n == 2 && t == 2);
    ck_assert(f.reg[1].seed_x == 2 && f.reg[1].seed_y == 5 && f.reg[1].area == 4);
#undef FIND
#undef BAD
    free(buf);
    fx_free(&f);
}
END_TEST

Suite *regions_suite(void)
{
    Suite *s = suite_create("regions");
    TCase *tc = tcase_create("regions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_blobs);
    tcase_add_test(tc, diagonal_is_one_region);
    tcase_add_test(tc, area_filter);
    tcase_add_test(tc, per_type_thresholds);
    tcase_add_test(tc, class_by_mass);
    tcase_add_test(tc, mask_excludes);
    tcase_add_test(tc, sorting_and_truncation);
    tcase_add_test(tc, empty_map);
    tcase_add_test(tc, random_maps_match_reference);
    tcase_add_test(tc, shapes_match_reference);
    tcase_add_test(tc, checkerboard_max_labels);
    tcase_add_test(tc, large_full_map);
    tcase_add_test(tc, workspace_sizes);
    tcase_add_test(tc, bad_args);
    tcase_add_test(tc, long_runs_match_reference);
    tcase_add_test(tc, class_sums_are_sequential);
    tcase_add_test(tc, bad_type_in_long_runs);
    tcase_add_test(tc, wide_rows_match_reference);
    suite_add_tcase(s, tc);
    return s;
}
