/* Loading a DAPO model from its files, encoding the defect list once, running images. */
#include "model.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_weights.h"
#include "dapo_weights.h"
#include "dp_threads.h"
#include "text_cache.h"
#include "tokenizer.h"

static dp_status clip_read(void *ctx, const char *name, float *dst, size_t n, dp_err *err)
{
    dp_clip_file *f = ctx;
    size_t have = dp_clip_numel(f, name);
    if (have != n)
        return dp_fail(err, DP_E_MODEL, "%s: tensor %s has %zu elements; expected %zu",
                       dp_clip_path(f), name, have, n);
    return dp_clip_read(f, name, dst, err);
}

static dp_status clip_pos(void *ctx, int grid, float *dst, dp_err *err)
{
    return dp_clip_pos_embed(ctx, grid, dst, err);
}

dp_weight_source dp_clip_weight_source(struct dp_clip_file *f)
{
    dp_weight_source s = { f, dp_clip_config(f), clip_read, clip_pos };
    return s;
}

/* The text tower runs once per defect list: at int8 it runs bf16 where native, else f32. */
static dp_dtype_c text_precision(const dp_model *m)
{
    if (m->opt.precision != DP_C_INT8)
        return m->opt.precision;
    return dp_nn_cpu_has_bf16() ? DP_C_BF16 : DP_C_F32;
}

static dp_status encode_text_now(dp_model *m, const dp_weight_source *src,
                                 const dp_dapo_params *dapo, const char *vocab_path,
                                 const char *const *defects, int n_defects, dp_err *err)
{
    dp_tokenizer *tok = NULL;
    dp_status st = dp_tokenizer_load(vocab_path, &tok, err);
    if (st)
        return st;
    int chunk = m->opt.text_chunk > 0 ? m->opt.text_chunk : 40;
    int total = (1 + n_defects) * DP_ENSEMBLE;
    if (chunk > total)
        chunk = total;
    dp_text *text = NULL;
    st = dp_text_build(m->nn, src, text_precision(m), chunk, dapo->normal_ctx, dapo->abnormal_ctx,
                       dapo->layer_tokens, &text, err);
    if (!st) {
        dp_text_set_progress(text, m->opt.progress, m->opt.progress_ctx);
        st = dp_text_encode(text, tok, defects, n_defects, &m->text, err);
    }
    dp_text_free(text);     /* the text tower is only needed once per defect list */
    dp_tokenizer_free(tok);
    return st;
}

/* The text features from the cache when it holds a valid file for exactly these inputs, else
 * encoded and stored there. A cache that cannot be used never fails the load: the model notes
 * why (text_origin, text_cache_note) and runs without it. */
static dp_status encode_text(dp_model *m, const dp_weight_source *src, const dp_dapo_params *dapo,
                             const char *clip_path, const char *vocab_path,
                             const char *const *defects, int n_defects, dp_err *err)
{
    double t0 = omp_get_wtime();
    const char *dir = m->opt.text_cache_dir;
    m->text_origin = DP_TEXT_ENCODED;
    m->text_cache_note[0] = '\0';
    if (!dir) {
        dp_status st = encode_text_now(m, src, dapo, vocab_path, defects, n_defects, err);
        m->text_seconds = omp_get_wtime() - t0;
        return st;
    }
    dp_text_cache_inputs in = { m->opt.version ? m->opt.version : "", clip_path, vocab_path,
                                &m->cfg, text_precision(m), m->opt.threads, dapo->normal_ctx,
                                dapo->abnormal_ctx, dapo->layer_tokens, defects, n_defects };
    dp_text_cache_key key;
    dp_err cache_err;
    if (dp_text_cache_key_make(&in, &key, &cache_err)) {
        m->text_origin = DP_TEXT_CACHE_UNUSABLE;
        snprintf(m->text_cache_note, sizeof m->text_cache_note, "text cache not used: %s",
                 cache_err.msg);
        dp_status st = encode_text_now(m, src, dapo, vocab_path, defects, n_defects, err);
        m->text_seconds = omp_get_wtime() - t0;
        return st;
    }
    char path[512], why[512];
    if (dp_text_cache_path(dir, &key, path, sizeof path))
        snprintf(path, sizeof path, "%.200s/...", dir);
    dp_text_cache_lookup found = dp_text_cache_read(dir, &key, &m->text, why, sizeof why);
    dp_status st = DP_OK;
    if (found == DP_TEXT_CACHE_HIT) {
        m->text_origin = DP_TEXT_FROM_CACHE;
        snprintf(m->text_cache_note, sizeof m->text_cache_note, "text features read from the "
                 "cache %s", path);
    } else {
        st = encode_text_now(m, src, dapo, vocab_path, defects, n_defects, err);
        if (!st && dp_text_cache_write(dir, &key, &m->text, &cache_err)) {
            m->text_origin = DP_TEXT_CACHE_UNUSABLE;
            snprintf(m->text_cache_note, sizeof m->text_cache_note, "text cache not written, "
                     "running without it: %s", cache_err.msg);
        } else if (!st && found == DP_TEXT_CACHE_REJECTED) {
            m->text_origin = DP_TEXT_CACHE_REPLACED;
            snprintf(m->text_cache_note, sizeof m->text_cache_note, "text cache file ignored "
                     "(%s) and rewritten", why);
        } else if (!st) {
            m->text_origin = DP_TEXT_CACHE_STORED;
            snprintf(m->text_cache_note, sizeof m->text_cache_note, "text features stored in "
                     "the cache %s", path);
        }
    }
    dp_text_cache_key_free(&key);
    m->text_seconds = omp_get_wtime() - t0;
    return st;
}

/* The head's scratch: one layer's probabilities and their sum over layers. */
static dp_status alloc_head(dp_model *m, dp_err *err)
{
    const int n = m->text.n_states;
    if (!m->vision || n < 2 || n > DP_MAX_STATES)
        return dp_fail(err, DP_E_INTERNAL, "model parts: %s, %d text states; expected a vision "
                       "tower and 2..%d states", m->vision ? "vision tower" : "no vision tower",
                       n, DP_MAX_STATES);
    const int G = dp_vision_grid(m->vision);
    size_t bytes = (size_t)G * G * n * sizeof(float);
    m->head_probs = malloc(bytes);
    m->head_grid_sum = malloc(bytes);
    if (!m->head_probs || !m->head_grid_sum)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the head (%zu bytes)", 2 * bytes);
    return DP_OK;
}

/* The tile workers (opt.tile_workers >= 2): a lane each, a forward-pass state each (worker 0
 * on the tower's activation buffers), head scratch; then worker 0 runs one batch of zeros with
 * one OpenMP thread, which creates every linear primitive once for one thread with memory
 * objects and scratchpads for every lane, and the lanes are frozen: the per-image path creates
 * and allocates nothing. */
static dp_status build_workers(dp_model *m, dp_err *err)
{
    const int n = m->opt.tile_workers;
    if (n < 2)
        return DP_OK;
    dp_status st = dp_nn_lanes_create(m->nn, n, &m->lanes, err);
    if (st)
        return st;
    m->workers = calloc((size_t)n, sizeof *m->workers);
    if (!m->workers)
        return dp_fail(err, DP_E_NOMEM, "out of memory for %d tile workers", n);
    m->n_workers = n;
    const int G = dp_vision_grid(m->vision);
    const size_t bytes = (size_t)G * G * m->text.n_states * sizeof(float);
    for (int w = 0; w < n; w++) {
        dp_model_worker *wk = &m->workers[w];
        if ((st = dp_vision_state_create(m->vision, dp_nn_lane(m->lanes, w), w == 0, &wk->vision, err)))
            return st;
        wk->head_probs = malloc(bytes);
        wk->head_grid_sum = malloc(bytes);
        if (!wk->head_probs || !wk->head_grid_sum)
            return dp_fail(err, DP_E_NOMEM, "out of memory for tile worker %d's head (%zu bytes)",
                           w, 2 * bytes);
    }
    size_t px = (size_t)m->opt.max_batch * 3 * m->opt.image_size * m->opt.image_size;
    float *zeros = calloc(px, sizeof *zeros);
    if (!zeros)
        return dp_fail(err, DP_E_NOMEM, "out of memory for the tile workers' warm-up image");
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    st = dp_vision_run_state(m->vision, m->workers[0].vision, zeros, m->opt.max_batch, NULL, err);
    if (!st)
        st = dp_vision_prepare_batches(m->vision, m->workers[0].vision, err);
    omp_set_num_threads(saved);
    free(zeros);
    if (!st)
        dp_nn_lanes_freeze(m->lanes);
    return st;
}

dp_status dp_model_assemble(dp_nn *nn, dp_vision *vision, dp_text_features *text,
                            const dp_model_options *opt, dp_model **out, dp_err *err)
{
    *out = NULL;
    dp_model *m = calloc(1, sizeof *m);
    if (!m) {
        dp_vision_free(vision);
        dp_text_features_free(text);
        dp_nn_free(nn);
        return dp_fail(err, DP_E_NOMEM, "out of memory assembling the model");
    }
    m->nn = nn;
    m->vision = vision;
    m->text = *text;
    memset(text, 0, sizeof *text);
    m->opt = *opt;
    dp_status st = alloc_head(m, err);
    if (!st)
        st = build_workers(m, err);
    if (st) {
        dp_model_free(m);
        return st;
    }
    *out = m;
    return DP_OK;
}

dp_status dp_model_load(const char *clip_path, const char *dapo_path, const char *vocab_path,
                        const char *const *defects, int n_defects, const dp_model_options *opt,
                        dp_model **out, dp_err *err)
{
    *out = NULL;
    if (!clip_path || !dapo_path || !vocab_path || !opt)
        return dp_fail(err, DP_E_ARG, "model load: NULL path or options");
    if (opt->threads < 1)
        return dp_fail(err, DP_E_ARG, "threads = %d; expected >= 1", opt->threads);
    /* libgomp ends the process when it cannot create a worker: check before any parallel work */
    dp_status probe = dp_threads_probe(opt->threads, "model load", err);
    if (probe)
        return probe;
    dp_model *m = calloc(1, sizeof *m);
    if (!m)
        return dp_fail(err, DP_E_NOMEM, "out of memory loading the model");
    m->opt = *opt;
    if (opt->precision == DP_C_BF16 && !dp_nn_cpu_has_bf16()) {
        m->opt.precision = DP_C_F32;
        m->bf16_fallback = 1;
    }
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(opt->threads);
    double t0 = omp_get_wtime();

    dp_clip_file *clip = NULL;
    dp_dapo_params dapo;
    memset(&dapo, 0, sizeof dapo);
    dp_status st = dp_clip_open(clip_path, &clip, err);
    if (!st) {
        m->cfg = *dp_clip_config(clip);
        st = dp_dapo_load(dapo_path, &m->cfg, &dapo, err);
    }
    if (!st)
        st = dp_nn_create(opt->threads, &m->nn, err);
    dp_weight_source src;
    if (!st) {
        src = dp_clip_weight_source(clip);
        st = encode_text(m, &src, &dapo, clip_path, vocab_path, defects, n_defects, err);
    }
    if (!st) {
        dp_vision_options vo = { opt->image_size, opt->max_batch, m->opt.precision,
                                 { 6, 12, 18, 24 }, opt->record_taps };
        /* feature layers at 1/4, 2/4, 3/4 and 4/4 of the depth: 6/12/18/24 for 24 blocks */
        for (int j = 0; j < DP_FEATURE_LAYERS; j++)
            vo.feature_layers[j] = m->cfg.vision_layers * (j + 1) / DP_FEATURE_LAYERS;
        st = dp_vision_build(m->nn, &src, &vo, dapo.visual_tokens, dapo.adapter_w, dapo.adapter_b,
                             &m->vision, err);
    }
    dp_dapo_free(&dapo);
    dp_clip_close(clip);
    if (!st)
        st = alloc_head(m, err);
    if (!st) {
        /* warm-up: creates every primitive now, so the first real image allocates nothing */
        size_t n = (size_t)opt->max_batch * 3 * opt->image_size * opt->image_size;
        float *zeros = calloc(n, sizeof *zeros);
        st = zeros ? dp_vision_run(m->vision, zeros, opt->max_batch, NULL, err)
                   : dp_fail(err, DP_E_NOMEM, "out of memory for the warm-up image");
        free(zeros);
        if (!st)
            st = dp_vision_prepare_batches(m->vision, NULL, err);
    }
    if (!st)
        st = build_workers(m, err);
    m->load_seconds = omp_get_wtime() - t0;
    omp_set_num_threads(saved_threads);
    if (st) {
        dp_model_free(m);
        return st;
    }
    *out = m;
    return DP_OK;
}

dp_status dp_model_peek_config(const char *clip_path, dp_model_config *out, dp_err *err)
{
    dp_clip_file *clip = NULL;
    dp_status st = dp_clip_open(clip_path, &clip, err);
    if (st)
        return st;
    *out = *dp_clip_config(clip);
    dp_clip_close(clip);
    return DP_OK;
}

void dp_model_free(dp_model *m)
{
    if (!m)
        return;
    for (int w = 0; w < m->n_workers; w++) {
        dp_vision_state_free(m->workers[w].vision);
        free(m->workers[w].head_probs);
        free(m->workers[w].head_grid_sum);
    }
    free(m->workers);
    dp_vision_free(m->vision);
    dp_nn_lanes_free(m->lanes);
    dp_text_features_free(&m->text);
    free(m->head_probs);
    free(m->head_grid_sum);
    dp_nn_free(m->nn);
    free(m);
}

dp_status dp_model_run(dp_model *m, const float *pre, int batch, dp_err *err)
{
    return dp_model_run_cancellable(m, pre, batch, NULL, err);
}

dp_status dp_model_run_cancellable(dp_model *m, const float *pre, int batch,
                                   const dp_cancel *cancel, dp_err *err)
{
    int saved = omp_get_max_threads();
    omp_set_num_threads(m->opt.threads);
    dp_status st = dp_vision_run(m->vision, pre, batch, cancel, err);
    omp_set_num_threads(saved);
    return st;
}

/* The head for image b of the last run on state s (NULL: the tower's own), with probs and
 * grid_sum as scratch ([G*G][n_states] each) and OpenMP teams of `threads`. */
static dp_status head_on(dp_model *m, const dp_vision_state *s, float *probs, float *grid_sum,
                         int threads, int b, int out_w, int out_h, dp_head_out *out, dp_err *err)
{
    if (b < 0 || b >= m->opt.max_batch || out_w < 1 || out_h < 1)
        return dp_fail(err, DP_E_ARG, "head: image %d of a batch of %d at %dx%d; expected an "
                       "image of the batch and a positive size", b, m->opt.max_batch, out_w, out_h);
    const int G = dp_vision_grid(m->vision), n = m->text.n_states;
    const size_t cells = (size_t)G * G * n;
    memset(grid_sum, 0, cells * sizeof *grid_sum);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        const float *adapted = s ? dp_vision_state_adapted(m->vision, s, j, b)
                                 : dp_vision_adapted(m->vision, j, b);
        dp_head_patch_probs(adapted, G * G, &m->text, probs, threads);
        for (size_t i = 0; i < cells; i++)
            grid_sum[i] += probs[i];
        if (out->layer_probs[j])
            memcpy(out->layer_probs[j], probs, cells * sizeof *probs);
    }
    float *types = out->class_scores ? out->class_scores + 1 : NULL;
    dp_head_image(s ? dp_vision_state_global(m->vision, s, b) : dp_vision_global(m->vision, b),
                  &m->text, out->logits, &out->score, &out->score_multi, types);
    if (out->class_scores)
        out->class_scores[0] = 1.0f - out->score_multi;
    dp_head_maps(grid_sum, G, n, out_w, out_h, out->anomaly, out->label, out->defect_type,
                 out->volume, threads);
    return DP_OK;
}

dp_status dp_model_head(dp_model *m, int b, int out_w, int out_h, dp_head_out *out, dp_err *err)
{
    return head_on(m, NULL, m->head_probs, m->head_grid_sum, m->opt.threads, b, out_w, out_h, out,
                   err);
}

static dp_status check_worker(const dp_model *m, int w, dp_err *err)
{
    if (w < 0 || w >= m->n_workers)
        return dp_fail(err, DP_E_ARG, "tile worker %d: the model has %d (expected 0..%d)", w,
                       m->n_workers, m->n_workers - 1);
    return DP_OK;
}

dp_status dp_model_run_worker(dp_model *m, int w, const float *pre, int batch,
                              const dp_cancel *cancel, dp_err *err)
{
    dp_status st = check_worker(m, w, err);
    if (st)
        return st;
    /* this thread's own setting: any OpenMP region it opens from here has one thread */
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    st = dp_vision_run_state(m->vision, m->workers[w].vision, pre, batch, cancel, err);
    omp_set_num_threads(saved);
    return st;
}

dp_status dp_model_head_worker(dp_model *m, int w, int b, int out_w, int out_h, dp_head_out *out,
                               dp_err *err)
{
    dp_status st = check_worker(m, w, err);
    if (st)
        return st;
    dp_model_worker *wk = &m->workers[w];
    return head_on(m, wk->vision, wk->head_probs, wk->head_grid_sum, 1, b, out_w, out_h, out, err);
}

size_t dp_model_worker_bytes(const dp_model *m)
{
    if (m->n_workers < 2)
        return 0;
    const int G = dp_vision_grid(m->vision);
    return dp_vision_state_bytes(m->vision, m->workers[1].vision) +
           dp_nn_lane_bytes(dp_nn_lane(m->lanes, 1)) +
           2 * (size_t)G * G * m->text.n_states * sizeof(float);
}
