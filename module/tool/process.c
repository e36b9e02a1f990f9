/* tool_process: host view -> RGB8 ROI -> (whole ROI squashed | native-scale tiles) -> model ->
 * head -> anomaly map and per-pixel defect type at ROI resolution -> thresholds -> regions.
 *
 * Tiled images: each tile's map is computed at the tile's own size and stitched with smooth
 * blending (tiling.c); the image score is the maximum of the tile scores, the score of each
 * defect type the maximum over tiles, the "normal" class score the minimum over tiles. */
#include "tool_internal.h"
#include "dp_size.h"
#include "dp_threads.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_input.h"
#include "preprocess.h"
#include "resample.h"

typedef struct call_scores {
    float score;               /* max over tiles of the binary image score */
    float *classes;            /* [n_classes]: [0] min over tiles of P(normal), [k] max of P(type k) */
} call_scores;

static double now_ms(void)
{
    return omp_get_wtime() * 1e3;
}

/* Resolves the rectangle to inspect: the host's ROI intersected with the recipe's. */
static int effective_roi(const insp_tool *t, const insp_image *img, int hx, int hy, int hw, int hh,
                         int *x, int *y, int *w, int *h, char *msg, size_t msg_cap)
{
    const dp_recipe *r = &t->recipe;
    int rx = r->roi_x, ry = r->roi_y;
    int rw = r->roi_w > 0 ? r->roi_w : img->width - rx;
    int rh = r->roi_h > 0 ? r->roi_h : img->height - ry;
    /* reported, never clipped: a host ROI in the same situation is refused too */
    if (rw < 1 || rh < 1 || (int64_t)rx + rw > img->width || (int64_t)ry + rh > img->height) {
        snprintf(msg, msg_cap, "%s: roi (x %d, y %d, width %d, height %d) runs past the %dx%d "
                 "image (it would end at x %lld, y %lld); expected a rectangle inside the image "
                 "(width or height 0 = to the edge)", r->path, r->roi_x, r->roi_y, r->roi_w,
                 r->roi_h, img->width, img->height, (long long)rx + (rw > 0 ? rw : 0),
                 (long long)ry + (rh > 0 ? rh : 0));
        return -1;
    }
    int x0 = hx > rx ? hx : rx, y0 = hy > ry ? hy : ry;
    int x1 = hx + hw < rx + rw ? hx + hw : rx + rw, y1 = hy + hh < ry + rh ? hy + hh : ry + rh;
    if (x1 - x0 < 1 || y1 - y0 < 1) {
        snprintf(msg, msg_cap, "the recipe's roi (x %d, y %d, width %d, height %d) does not overlap "
                 "the inspected part of the %dx%d image (x %d, y %d, width %d, height %d)",
                 r->roi_x, r->roi_y, r->roi_w, r->roi_h, img->width, img->height, hx, hy, hw, hh);
        return -1;
    }
    *x = x0; *y = y0; *w = x1 - x0; *h = y1 - y0;
    return 0;
}

/* Resizes a packed RGB8 crop to S x S and normalises it into pre (one slot of the batch). */
static dp_status to_network(const uint8_t *crop, int cw, int ch, int S, uint8_t *u8, void *ws,
                            size_t ws_size, float *pre, dp_err *e)
{
    dp_status st = dp_resize_u8(crop, cw, ch, (ptrdiff_t)cw * 3, 3, u8, S, S, (ptrdiff_t)S * 3,
                                DP_FILTER_BICUBIC, ws, ws_size, e);
    if (!st)
        dp_normalize_clip(u8, S, (ptrdiff_t)S * 3, pre);
    return st;
}

/* Slot b of a batch whose first tile is `first`: tile first+b cut from the ROI's RGB (row
 * length rw) into crop, resized and normalised into pre. A short last batch runs as it is, not
 * padded (the model prepared the primitives of every batch size). crop, u8, ws, pre: borrowed. */
static dp_status tile_to_network(const insp_tool *t, int rw, int first, int b, uint8_t *crop,
                                 uint8_t *u8, void *ws, size_t ws_size, float *pre, dp_err *e)
{
    const int S = t->recipe.input_size;
    const dp_tile *tl = &t->tiles[first + b];
    for (int y = 0; y < tl->h; y++)
        memcpy(crop + (size_t)y * tl->w * 3, t->rgb + ((size_t)(tl->y + y) * rw + tl->x) * 3,
               (size_t)tl->w * 3);
    return to_network(crop, tl->w, tl->h, S, u8, ws, ws_size, pre, e);
}

/* No NaN or infinity may reach a decision: every comparison with NaN is false, so a NaN score
 * would pass as "below the threshold" and a NaN map pixel as "not defective" (a silent OK).
 * Finite but extreme weights overflow inside the towers, so the head's outputs are checked
 * here, per image or tile, before anything is compared. where: "the image" or "tile i". */
static dp_status check_finite(const insp_tool *t, const char *where, float score,
                              const float *class_scores, const float *amap, int w, int h,
                              dp_err *e)
{
    const char *hint = "; the model files produce overflow (DAPO or CLIP weights extreme or "
                       "corrupt): no decision was made";
    if (!isfinite(score))
        return dp_fail(e, DP_E_MODEL, "model output for %s: image score = %g (not finite)%s",
                       where, score, hint);
    for (int k = 0; k < t->n_classes; k++)
        if (!isfinite(class_scores[k]))
            return dp_fail(e, DP_E_MODEL, "model output for %s: score of class %d (%s) = %g "
                           "(not finite)%s", where, k, t->class_names[k], class_scores[k], hint);
    for (size_t i = 0; i < (size_t)w * h; i++)
        if (!isfinite(amap[i]))
            return dp_fail(e, DP_E_MODEL, "model output for %s: anomaly map at (x %d, y %d) = "
                           "%g (not finite)%s", where, (int)(i % (size_t)w), (int)(i / (size_t)w),
                           amap[i], hint);
    return DP_OK;
}

/* The model's head for image b of the last batch (of tile worker w; w < 0: of dp_model_run),
 * maps at out_w x out_h into amap/types; fails (DP_E_MODEL) when any output is not finite.
 * where: for the message. */
static dp_status head(insp_tool *t, int w, int b, const char *where, int out_w, int out_h,
                      float *amap, uint16_t *types, float *score, float *class_scores, dp_err *e)
{
    dp_head_out out = { .anomaly = amap, .defect_type = types, .class_scores = class_scores };
    dp_status st = w < 0 ? dp_model_head(t->model, b, out_w, out_h, &out, e)
                         : dp_model_head_worker(t->model, w, b, out_w, out_h, &out, e);
    *score = out.score;
    if (!st)
        st = check_finite(t, where, out.score, class_scores, amap, out_w, out_h, e);
    return st;
}

static int ensure(void **buf, size_t *cap, size_t bytes, char *err, size_t ecap, insp_status *st)
{
    if (dp_grow(buf, cap, bytes) == 0)
        return 0;
    dp_err e;
    dp_fail(&e, DP_E_NOMEM, "out of memory: %zu bytes of working memory", bytes);
    *st = dp_report(&e, DP_STAGE_RUN, err, ecap);
    return -1;
}

/* Squashing a ROI whose sides differ more than this stretches what the model sees so much that
 * the host is told (once per tool, through its log). */
#define SQUASH_WARN_ASPECT 2.0

static insp_status run_whole(insp_tool *t, const dp_cancel *cancel, int rw, int rh, float *amap,
                             uint16_t *types, call_scores *cs, insp_timing *tm, char *err,
                             size_t cap)
{
    const int S = t->recipe.input_size;
    double aspect = rw > rh ? (double)rw / rh : (double)rh / rw;
    if (aspect > SQUASH_WARN_ASPECT && !atomic_exchange(&t->squash_warned, 1))
        dp_tool_log(t, INSP_LOG_WARN, "%s: a %dx%d area is squashed to %dx%d (tiling: none), so "
                    "the model sees it stretched %.1f times in one direction and small defects "
                    "shrink; use tiling: grid or an roi (logged once per tool)", t->recipe.path,
                    rw, rh, S, S, aspect);
    insp_status ist = INSP_OK;
    size_t ws = dp_resize_u8_workspace(rw, rh, S, S, 3, DP_FILTER_BICUBIC);
    if (ensure((void **)&t->resize_ws, &t->resize_ws_cap, ws, err, cap, &ist) ||
        ensure((void **)&t->tile_u8, &t->tile_u8_cap, (size_t)S * S * 3, err, cap, &ist))
        return ist;
    double t0 = now_ms();
    dp_err e;
    if (to_network(t->rgb, rw, rh, S, t->tile_u8, t->resize_ws, t->resize_ws_cap, t->pre, &e))
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    double t1 = now_ms();
    dp_status st = dp_model_run_cancellable(t->model, t->pre, 1, cancel, &e);
    double t2 = now_ms();
    if (!st)
        st = head(t, -1, 0, "the image", rw, rh, amap, types, &cs->score, cs->classes, &e);
    if (st)
        return dp_report(&e, DP_STAGE_RUN, err, cap);
    double t3 = now_ms();
    tm->preprocess_ms += t1 - t0;
    tm->vision_ms += t2 - t1;
    tm->head_ms += t3 - t2;
    return INSP_OK;
}

/* Pixels per chunk of the element-wise passes over the ROI that the thread team shares. */
#define MAP_CHUNK ((size_t)1 << 16)

/* The stitching sum (the result's anomaly map) zeroed, by the thread team. The type map needs
 * no clearing: every pixel gets the type of the tile that owns it (dp_tiling_axis). */
static void clear_map(insp_tool *t, float *amap, size_t roi_px)
{
    const long long chunks = (long long)((roi_px + MAP_CHUNK - 1) / MAP_CHUNK);
#pragma omp parallel for num_threads(t->threads) schedule(static)
    for (long long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * MAP_CHUNK, len = roi_px - i0 < MAP_CHUNK ? roi_px - i0 : MAP_CHUNK;
        memset(amap + i0, 0, len * sizeof *amap);
    }
}

/* Rows of the ROI per chunk of the normalisation. */
#define NORM_ROWS 16

/* The stitched sums divided by the plan's total weights, in place, by the thread team. */
static void finish_map(insp_tool *t, float *amap, int rw, int rh, const dp_tiling_axes *ax)
{
    const int chunks = (rh + NORM_ROWS - 1) / NORM_ROWS;
#pragma omp parallel for num_threads(t->threads) schedule(static)
    for (int c = 0; c < chunks; c++)
        dp_tiling_normalize_rows(amap, rw, c * NORM_ROWS,
                                 rh < (c + 1) * NORM_ROWS ? rh : (c + 1) * NORM_ROWS, ax);
}

/* A tile's scores into the call's: image score and defect types the maximum over tiles,
 * "normal" the minimum. */
static void merge_scores(call_scores *cs, float score, const float *tile_classes, int n)
{
    if (score > cs->score)
        cs->score = score;
    if (tile_classes[0] < cs->classes[0])
        cs->classes[0] = tile_classes[0];
    for (int k = 1; k < n; k++)
        if (tile_classes[k] > cs->classes[k])
            cs->classes[k] = tile_classes[k];
}

/* What a tile worker leaves for the calling thread about its batch. */
typedef struct batch_report {
    dp_status st;              /* DP_OK, or the batch's first failure in tile order: */
    dp_stage stage;            /* where it happened */
    dp_err e;                  /* what it says */
    double pre_ms, tower_ms, head_ms;
} batch_report;

/* One worker's buffers for one batch (all borrowed from the tool's scratch). */
typedef struct worker_bufs {
    float *pre;                /* [batch][3][S][S] */
    uint8_t *crop, *u8, *ws;   /* one tile's crop, resized tile, resize workspace */
    size_t ws_size;
    float *maps;               /* [batch][tile_px] anomaly maps of the batch's tiles */
    uint16_t *types;           /* [batch][tile_px] defect types */
    float *scores;             /* [batch][1 + n_classes]: image score, then class scores */
} worker_bufs;

/* Tiles first .. first+nb-1 (one batch) on tile worker w: crops, preprocessing, the tower and
 * the head, each tile's maps and scores into bf. Runs on a worker thread alongside others: it
 * writes only bf and *rep, reads the tool, never calls the host. */
static void worker_batch(insp_tool *t, int w, const dp_cancel *cancel, int rw, int first, int nb,
                         const worker_bufs *bf, batch_report *rep)
{
    const int S = t->recipe.input_size, n = t->n_classes;
    const size_t tile_px = (size_t)t->recipe.tile * t->recipe.tile;
    double t0 = now_ms();
    for (int b = 0; b < nb; b++)
        if ((rep->st = tile_to_network(t, rw, first, b, bf->crop, bf->u8, bf->ws, bf->ws_size,
                                       bf->pre + (size_t)b * 3 * S * S, &rep->e))) {
            rep->stage = DP_STAGE_IMAGE;
            return;
        }
    double t1 = now_ms();
    if ((rep->st = dp_model_run_worker(t->model, w, bf->pre, nb, cancel, &rep->e))) {
        rep->stage = DP_STAGE_RUN;
        return;
    }
    double t2 = now_ms();
    for (int b = 0; b < nb; b++) {
        const dp_tile *tl = &t->tiles[first + b];
        float *sc = bf->scores + (size_t)b * (1 + n);
        char where[48];
        snprintf(where, sizeof where, "tile %d (x %d, y %d)", first + b, tl->x, tl->y);
        if ((rep->st = head(t, w, b, where, tl->w, tl->h, bf->maps + b * tile_px,
                            bf->types + b * tile_px, &sc[0], sc + 1, &rep->e))) {
            rep->stage = DP_STAGE_RUN;
            return;
        }
    }
    rep->pre_ms = t1 - t0;
    rep->tower_ms = t2 - t1;
    rep->head_ms = now_ms() - t2;
}

/* The tiles in rounds: each of the model's W workers takes one batch of the round on its own
 * thread (preprocessing, tower, head with one-thread ops: one team synchronisation per round,
 * not per op); after that barrier the same threads stitch the round's tiles, each a band of
 * ROI rows, every band taking the tiles in tile order, so every pixel gets the sums it gets
 * from one thread stitching tile after tile (the same bits whatever the thread count). Then the
 * calling thread merges the scores and reports progress. The first failure in tile order ends
 * the call, as on the sequential path. Timing: the workers' part of a round is shared out
 * between preprocessing, towers and head in proportion to the time the workers spent in each;
 * stitching counts as head. */
static insp_status run_workers(insp_tool *t, const dp_cancel *cancel, int rw, int rh, int count,
                               size_t ws, const dp_tiling_axes *ax, float *amap, uint16_t *types,
                               call_scores *cs, insp_timing *tm, char *err, size_t cap)
{
    const dp_recipe *r = &t->recipe;
    const int S = r->input_size, B = r->batch, n = t->n_classes, W = t->model->n_workers;
    const size_t tile_px = (size_t)r->tile * r->tile, slots = (size_t)W * B;
    insp_status ist = INSP_OK;
    size_t rep_bytes = dp_align_up((size_t)W * sizeof(batch_report), DP_ALIGN);
    if (ensure((void **)&t->pre, &t->pre_cap, slots * 3 * S * S * sizeof(float), err, cap, &ist) ||
        ensure((void **)&t->resize_ws, &t->resize_ws_cap, ws * W, err, cap, &ist) ||
        ensure((void **)&t->tile_u8, &t->tile_u8_cap, (size_t)W * S * S * 3, err, cap, &ist) ||
        ensure((void **)&t->tile_crop, &t->tile_crop_cap, (size_t)W * tile_px * 3, err, cap, &ist) ||
        ensure((void **)&t->tile_map, &t->tile_map_cap, slots * tile_px * (sizeof(float) + sizeof(uint16_t)), err, cap, &ist) ||
        ensure(&t->rounds, &t->rounds_cap, rep_bytes + slots * (1 + n) * sizeof(float), err, cap, &ist))
        return ist;
    batch_report *reps = t->rounds;
    float *scores = (float *)((char *)t->rounds + rep_bytes);
    uint16_t *tile_types = (uint16_t *)(t->tile_map + slots * tile_px);
    const int batches = (count + B - 1) / B;
    dp_err e;
    for (int k0 = 0; k0 < batches; k0 += W) {
        const int nk = batches - k0 < W ? batches - k0 : W;
        char checkpoint[64];
        snprintf(checkpoint, sizeof checkpoint, "before tile %d of %d", k0 * B + 1, count);
        if (dp_cancel_check(cancel, checkpoint, &e))
            return dp_report(&e, DP_STAGE_RUN, err, cap);
        for (int i = 0; i < nk; i++)
            reps[i] = (batch_report){ .st = DP_OK };
        double t0 = now_ms(), t1 = t0;
        /* worker tid takes batches tid, tid + team size, ...: a team smaller than asked for
         * (a host's own parallel region around this call) still runs every batch */
#pragma omp parallel num_threads(W)
        {
            const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
            for (int i = tid; i < nk; i += nt) {
                const int first = (k0 + i) * B;
                worker_bufs bf = { t->pre + (size_t)i * B * 3 * S * S,
                                   t->tile_crop + (size_t)tid * tile_px * 3,
                                   t->tile_u8 + (size_t)tid * S * S * 3, t->resize_ws + (size_t)tid * ws,
                                   ws, t->tile_map + (size_t)i * B * tile_px,
                                   tile_types + (size_t)i * B * tile_px,
                                   scores + (size_t)i * B * (1 + n) };
                worker_batch(t, tid, cancel, rw, first, count - first < B ? count - first : B, &bf,
                             &reps[i]);
            }
#pragma omp barrier
            int failed = 0;
            for (int i = 0; i < nk; i++)
                failed |= reps[i].st != DP_OK;
            if (tid == 0)
                t1 = now_ms();
            const int y0 = (int)((long long)rh * tid / nt), y1 = (int)((long long)rh * (tid + 1) / nt);
            for (int i = 0; !failed && i < nk; i++) {
                const int first = (k0 + i) * B, nb = count - first < B ? count - first : B;
                for (int b = 0; b < nb; b++) {
                    const size_t slot = (size_t)i * B + b;
                    dp_tiling_accumulate_rows(&t->tiles[first + b], rw, rh, r->overlap, y0, y1,
                                              ax, t->tile_map + slot * tile_px,
                                              tile_types + slot * tile_px, amap, types);
                }
            }
        }
        for (int i = 0; i < nk; i++)
            if (reps[i].st)
                return dp_report(&reps[i].e, reps[i].stage, err, cap);
        for (int i = 0; i < nk; i++) {
            const int first = (k0 + i) * B, nb = count - first < B ? count - first : B;
            for (int b = 0; b < nb; b++) {
                const float *sc = scores + ((size_t)i * B + b) * (1 + n);
                merge_scores(cs, sc[0], sc + 1, n);
            }
        }
        double t2 = now_ms(), pre = 0, tower = 0, hd = 0;
        for (int i = 0; i < nk; i++) {
            pre += reps[i].pre_ms;
            tower += reps[i].tower_ms;
            hd += reps[i].head_ms;
        }
        if (pre + tower + hd > 0) {
            tm->preprocess_ms += (t1 - t0) * pre / (pre + tower + hd);
            tm->vision_ms += (t1 - t0) * tower / (pre + tower + hd);
            tm->head_ms += (t1 - t0) * hd / (pre + tower + hd);
        }
        tm->head_ms += t2 - t1;
        if (t->host.progress) {
            const int done = (k0 + nk) * B;
            t->host.progress(t->host.user, "tiles", done < count ? done : count, count);
        }
    }
    return INSP_OK;
}

static insp_status run_tiled(insp_tool *t, const dp_cancel *cancel, int rw, int rh, float *amap,
                             uint16_t *types, call_scores *cs, insp_timing *tm, char *err,
                             size_t cap)
{
    const dp_recipe *r = &t->recipe;
    const int S = r->input_size, B = r->batch, n = t->n_classes;
    dp_err e;
    int count;
    insp_status ist = INSP_OK;
    dp_status st = dp_tiling_count(rw, rh, r->tile, r->overlap, &count, &e);
    if (st)
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    size_t roi_px = (size_t)rw * rh;
    size_t tile_px = (size_t)r->tile * r->tile;
    size_t ws = dp_resize_u8_workspace(r->tile, r->tile, S, S, 3, DP_FILTER_BICUBIC);
    /* partial tiles (ROI side shorter than the tile) need at most the full tile's workspace */
    size_t ws_small = dp_resize_u8_workspace(rw < r->tile ? rw : r->tile, rh < r->tile ? rh : r->tile,
                                             S, S, 3, DP_FILTER_BICUBIC);
    if (ws_small > ws)
        ws = ws_small;
    ws = dp_align_up(ws, DP_ALIGN);
    const int W = t->model->n_workers;
    const int workers = t->tile_path == DP_TILES_AUTO && W >= 2 && (count + B - 1) / B >= W;
    const size_t axis_floats = dp_align_up((size_t)rw + rh, DP_ALIGN / sizeof(float));
    if (ensure((void **)&t->tiles, &t->tiles_cap, (size_t)count * sizeof(dp_tile), err, cap, &ist) ||
        ensure(&t->axes, &t->axes_cap, axis_floats * (sizeof(float) + sizeof(int32_t)), err, cap, &ist))
        return ist;
    float *sums = t->axes;
    int32_t *owners = (int32_t *)(void *)(sums + axis_floats);
    dp_tiling_axis(rw, r->tile, r->overlap, sums, owners);
    dp_tiling_axis(rh, r->tile, r->overlap, sums + rw, owners + rw);
    const dp_tiling_axes ax = { sums, sums + rw, owners, owners + rw };
    if ((st = dp_tiling_plan(rw, rh, r->tile, r->overlap, t->tiles, count, &e)))
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    clear_map(t, amap, roi_px);
    cs->score = 0;
    cs->classes[0] = 1;
    for (int k = 1; k < n; k++)
        cs->classes[k] = 0;
    if (workers) {
        if ((ist = run_workers(t, cancel, rw, rh, count, ws, &ax, amap, types, cs, tm, err, cap)))
            return ist;
        finish_map(t, amap, rw, rh, &ax);
        return INSP_OK;
    }
    if (ensure((void **)&t->resize_ws, &t->resize_ws_cap, ws * B, err, cap, &ist) ||
        ensure((void **)&t->tile_u8, &t->tile_u8_cap, (size_t)B * S * S * 3, err, cap, &ist) ||
        ensure((void **)&t->tile_crop, &t->tile_crop_cap, (size_t)B * tile_px * 3, err, cap, &ist) ||
        ensure((void **)&t->tile_map, &t->tile_map_cap, tile_px * sizeof(float) + tile_px * sizeof(uint16_t), err, cap, &ist))
        return ist;
    t->tile_types = (uint16_t *)(t->tile_map + tile_px);
    float *tile_classes = cs->classes + n;    /* second half of the caller's buffer */

    for (int first = 0; first < count; first += B) {
        int nb = count - first < B ? count - first : B;
        char checkpoint[64];
        snprintf(checkpoint, sizeof checkpoint, "before tile %d of %d", first + 1, count);
        if ((st = dp_cancel_check(cancel, checkpoint, &e)))
            return dp_report(&e, DP_STAGE_RUN, err, cap);
        double t0 = now_ms();
        int bad = 0;
        dp_err te;
        dp_err_clear(&te);
#pragma omp parallel for num_threads(t->threads) schedule(static) reduction(|:bad)
        for (int b = 0; b < nb; b++) {
            dp_err le;
            if (tile_to_network(t, rw, first, b, t->tile_crop + (size_t)b * tile_px * 3,
                                t->tile_u8 + (size_t)b * S * S * 3, t->resize_ws + (size_t)b * ws,
                                ws, t->pre + (size_t)b * 3 * S * S, &le)) {
                bad = 1;
#pragma omp critical(dp_tile_error)
                te = le;
            }
        }
        if (bad)
            return dp_report(&te, DP_STAGE_IMAGE, err, cap);
        double t1 = now_ms();
        if ((st = dp_model_run_cancellable(t->model, t->pre, nb, cancel, &e)))
            return dp_report(&e, DP_STAGE_RUN, err, cap);
        double t2 = now_ms();
        for (int b = 0; b < nb; b++) {
            const dp_tile *tl = &t->tiles[first + b];
            float score;
            char where[48];
            snprintf(where, sizeof where, "tile %d (x %d, y %d)", first + b, tl->x, tl->y);
            if ((st = head(t, -1, b, where, tl->w, tl->h, t->tile_map, t->tile_types, &score,
                           tile_classes, &e)))
                return dp_report(&e, DP_STAGE_RUN, err, cap);
            merge_scores(cs, score, tile_classes, n);
            dp_tiling_accumulate(tl, rw, rh, r->overlap, &ax, t->tile_map, t->tile_types, amap,
                                 types);
        }
        double t3 = now_ms();
        tm->preprocess_ms += t1 - t0;
        tm->vision_ms += t2 - t1;
        tm->head_ms += t3 - t2;
        if (t->host.progress)
            t->host.progress(t->host.user, "tiles", first + nb, count);
    }
    finish_map(t, amap, rw, rh, &ax);
    return INSP_OK;
}

insp_status dp_tool_process(insp_tool *t, const insp_image *img, insp_result **out, char *err,
                            size_t cap)
{
    double t_start = now_ms();
    /* tool_cancel from now on stops this call, also while it waits for the lock */
    const dp_cancel cancel = { &t->cancel_count, atomic_load(&t->cancel_count) };
    *out = NULL;
    dp_err e;
    int hx, hy, hw, hh;
    dp_status st = dp_image_validate(img, &hx, &hy, &hw, &hh, &e);
    if (st)
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    char msg[512];
    int rx, ry, rw, rh;
    if (effective_roi(t, img, hx, hy, hw, hh, &rx, &ry, &rw, &rh, msg, sizeof msg)) {
        dp_fail(&e, DP_E_ARG, "%s", msg);
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    }
    /* Never a silent OK on an image with nothing to judge: an all-zero mask inspects nothing,
     * and a NaN or infinite F32 sample has no grey value (it would read as black or white). */
    if (!dp_image_mask_any(img, rx, ry, rw, rh)) {
        dp_fail(&e, DP_E_ARG, "image.mask: every pixel of the inspected rectangle (x %d, y %d, "
                "width %d, height %d) is masked out: nothing to inspect; expected a mask that keeps "
                "at least one pixel (nonzero byte)", rx, ry, rw, rh);
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    }
    int bad_x, bad_y, bad_c;
    float bad;
    if (dp_image_find_nonfinite(img, rx, ry, rw, rh, &bad_x, &bad_y, &bad_c, &bad)) {
        dp_fail(&e, DP_E_ARG, "image.data: F32 sample at (x %d, y %d), channel %d is %s (first "
                "non-finite sample of the inspected pixels); expected finite values (a NaN or "
                "an infinity has no grey value: the frame is refused, not clipped)",
                bad_x, bad_y, bad_c, isnan(bad) ? "NaN" : bad > 0 ? "+Inf" : "-Inf");
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    }
    if ((int64_t)rw * rh > DP_MAX_IMAGE_PIXELS) {
        dp_fail(&e, DP_E_ARG, "inspected area %dx%d = %lld pixels exceeds the limit of %lld "
                "(2^28); pass a smaller ROI", rw, rh, (long long)rw * rh,
                (long long)DP_MAX_IMAGE_PIXELS);
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    }
    const size_t roi_px = (size_t)rw * rh;
    const int n = t->n_classes;

    insp_result *res = calloc(1, sizeof *res);
    if (res) {
        res->anomaly = dp_alloc_aligned(roi_px * sizeof *res->anomaly);
        res->label = dp_alloc_aligned(roi_px * sizeof *res->label);
        res->class_scores = calloc((size_t)n, sizeof(float));
        res->class_names = calloc((size_t)n, sizeof(char *));
        res->regions = malloc(DP_MAX_REGIONS * sizeof *res->regions);
    }
    if (!res || !res->anomaly || !res->label || !res->class_scores || !res->class_names || !res->regions) {
        dp_result_free(res);
        dp_fail(&e, DP_E_NOMEM, "out of memory for the result maps of a %dx%d ROI", rw, rh);
        return dp_report(&e, DP_STAGE_IMAGE, err, cap);
    }
    res->n_classes = n;
    for (int k = 0; k < n; k++)
        if (!(res->class_names[k] = strdup(t->class_names[k]))) {
            dp_result_free(res);
            dp_fail(&e, DP_E_NOMEM, "out of memory copying class names");
            return dp_report(&e, DP_STAGE_IMAGE, err, cap);
        }
    res->roi_x = rx; res->roi_y = ry; res->width = rw; res->height = rh;
    res->timing.struct_size = sizeof res->timing;

    pthread_mutex_lock(&t->lock);
    insp_status ist = INSP_OK;
    const int S = t->recipe.input_size, B = t->model->opt.max_batch;
    float classes[2 * DP_MAX_STATES];
    call_scores cs = { 0, classes };
    if (ensure((void **)&t->rgb, &t->rgb_cap, roi_px * 3, err, cap, &ist) ||
        ensure((void **)&t->pre, &t->pre_cap, (size_t)B * 3 * S * S * sizeof(float), err, cap, &ist) ||
        ensure((void **)&t->types, &t->types_cap, roi_px * sizeof(uint16_t), err, cap, &ist))
        goto out;
    /* libgomp ends the process when it cannot create a worker (a new host thread gets a new
     * team): a status instead */
    if ((st = dp_threads_probe(t->threads, "process", &e))) {
        ist = dp_report(&e, DP_STAGE_RUN, err, cap);
        goto out;
    }
    double t0 = now_ms();
    if ((st = dp_image_to_rgb8(img, rx, ry, rw, rh, t->rgb, t->threads, &e))) {
        ist = dp_report(&e, DP_STAGE_IMAGE, err, cap);
        goto out;
    }
    res->timing.preprocess_ms = now_ms() - t0;
    ist = t->recipe.tiling == DP_TILING_GRID
              ? run_tiled(t, &cancel, rw, rh, res->anomaly, t->types, &cs, &res->timing, err, cap)
              : run_whole(t, &cancel, rw, rh, res->anomaly, t->types, &cs, &res->timing, err, cap);
    if (ist)
        goto out;
    double t_post = now_ms();
    /* masked-out pixels read 0 and never belong to a region */
    const uint8_t *mask = img->mask ? img->mask + (ptrdiff_t)ry * img->mask_stride + rx : NULL;
    if (mask)
        for (int y = 0; y < rh; y++) {
            const uint8_t *mr = mask + (ptrdiff_t)y * img->mask_stride;
            float *ar = res->anomaly + (size_t)y * rw;
            for (int x = 0; x < rw; x++)
                if (!mr[x])
                    ar[x] = 0;
        }
    if (t->keep_types) {
        if (!(res->types = dp_alloc_aligned(roi_px * sizeof *res->types))) {
            dp_fail(&e, DP_E_NOMEM, "out of memory for the result's type map (%dx%d)", rw, rh);
            ist = dp_report(&e, DP_STAGE_RUN, err, cap);
            goto out;
        }
        memcpy(res->types, t->types, roi_px * sizeof *res->types);
        if (mask)
            for (int y = 0; y < rh; y++) {
                const uint8_t *mr = mask + (ptrdiff_t)y * img->mask_stride;
                for (int x = 0; x < rw; x++)
                    if (!mr[x])
                        res->types[(size_t)y * rw + x] = 0;
            }
    }
    size_t rws = dp_regions_workspace(rw, rh, n - 1);
    if (ensure((void **)&t->region_ws, &t->region_ws_cap, rws, err, cap, &ist))
        goto out;
    int n_regions = 0, n_total = 0;
    st = dp_regions_find(res->anomaly, t->types, mask, img->mask_stride, rw, rh, n - 1,
                         t->type_thresholds, t->min_region_area, res->label, res->regions,
                         DP_MAX_REGIONS, &n_regions, &n_total, t->region_ws, t->region_ws_cap, &e);
    if (st) {
        ist = dp_report(&e, DP_STAGE_RUN, err, cap);
        goto out;
    }
    for (int i = 0; i < n_regions; i++) {
        res->regions[i].x += rx;
        res->regions[i].y += ry;
        res->regions[i].seed_x += rx;
        res->regions[i].seed_y += ry;
    }
    /* dp_regions_find returns them sorted by descending max_score, ties broken by position */
    res->n_regions = n_regions;
    res->score = cs.score;
    memcpy(res->class_scores, cs.classes, (size_t)n * sizeof(float));
    res->image_threshold = t->image_threshold;
    res->pixel_threshold = t->pixel_threshold;
    /* NG when the image score reaches its threshold or a defect region survived the filters */
    res->decision = (res->score >= t->image_threshold || n_regions > 0) ? INSP_DECISION_NG
                                                                         : INSP_DECISION_OK;
    res->timing.post_ms = now_ms() - t_post;
    if (n_total > n_regions)
        dp_tool_log(t, INSP_LOG_WARN, "%d defect regions found, the %d strongest reported", n_total, n_regions);
out:
    dp_tool_trim_scratch(t);   /* one huge image must not pin its buffers until tool_destroy */
    pthread_mutex_unlock(&t->lock);
    if (ist) {
        dp_result_free(res);
        return ist;
    }
    res->timing.total_ms = now_ms() - t_start;
    res->tag = DP_RESULT_TAG_LIVE;
    dp_copy_err(err, cap, "");
    *out = res;
    return INSP_OK;
}
