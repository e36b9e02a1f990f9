/* Tool lifecycle: recipe -> model (all loading and validation at create), runtime parameters,
 * parameter schema. */
#include "tool_internal.h"
#include "dp_size.h"

#include "cache_dir.h"
#include "dp_cpus.h"
#include "isa.h"
#include "params.h"
#include "vocab_default.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dp_grow(void **buf, size_t *cap, size_t bytes)
{
    if (bytes <= *cap && *buf)
        return 0;
    void *p = dp_alloc_aligned(bytes);
    if (!p)
        return -1;
    free(*buf);
    *buf = p;
    *cap = bytes;
    return 0;
}

void dp_tool_log(const insp_tool *t, int32_t level, const char *fmt, ...)
{
    if (!t->host.log)
        return;
    char raw[512], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    dp_sanitize_line(line, sizeof line, raw);   /* the log gets one UTF-8 line, like err */
    t->host.log(t->host.user, level, line);
}

/* t->runtime: n threads, where the number came from, the CPUs this process may use and the
 * OpenMP wait policy the runtime was most likely loaded with. Returns the usable CPUs. */
static int describe_runtime(insp_tool *t, int n, const char *source)
{
    dp_cpus c;
    dp_cpus_query(NULL, &c);
    char quota[48] = "no cgroup CPU quota";
    if (c.quota > 0)
        snprintf(quota, sizeof quota, "cgroup CPU quota %.2f", c.quota);
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    char wait[96];
    if (policy)
        snprintf(wait, sizeof wait, "OpenMP wait policy %.16s (OMP_WAIT_POLICY)", policy);
    else if (spin)
        snprintf(wait, sizeof wait, "OpenMP spin count %.16s (GOMP_SPINCOUNT)", spin);
    else
        snprintf(wait, sizeof wait, "OpenMP waits spinning (OMP_WAIT_POLICY not set)");
    snprintf(t->runtime, sizeof t->runtime, "%d threads (%s; %d usable CPUs: %d online, %d in the "
             "affinity mask, %s); %s", n, source, c.usable, c.online, c.affinity, quota, wait);
    if (n > c.usable)
        dp_tool_log(t, INSP_LOG_WARN, "%d threads (%s) exceed the %d CPUs this process may use: "
                    "threads will wait for each other", n, source, c.usable);
    return c.usable;
}

/* Why a recipe's bf16 does not run as bf16 (static text), or NULL when it does or was not asked
 * for: the CPU lacks AVX-512 BF16, or the instruction-set cap (isa.h) is below it. */
static const char *bf16_lowered_reason(const insp_tool *t)
{
    if (t->recipe.precision != DP_PRECISION_BF16 || t->model->opt.precision == DP_C_BF16)
        return NULL;
    return dp_isa_cpu_level() >= DP_ISA_AVX512_BF16 ? "the instruction-set cap is below AVX-512 BF16"
                                                     : "no native bf16 on this CPU";
}

static const char *compute_name(dp_dtype_c dt)
{
    return dt == DP_C_BF16 ? "bf16" : dt == DP_C_INT8 ? "int8" : "f32";
}

/* Appends the compute path to t->runtime: instruction-set level and why (isa.h), precision,
 * attention kernel, and why a recipe's bf16 was lowered. Called after each model load. */
static void describe_path(insp_tool *t)
{
    const dp_model *m = t->model;
    const char *lowered = bf16_lowered_reason(t);
    char isa[200];
    dp_isa_describe(isa, sizeof isa);
    size_t n = strlen(t->runtime);
    snprintf(t->runtime + n, sizeof t->runtime - n,
             "; path %s, %s, attention %s; instruction set %s%s%s%s%s",
             dp_isa_name(dp_isa_level()), compute_name(m->opt.precision),
             dp_attention_kernel(m->cfg.vision_width / m->cfg.vision_heads, m->opt.precision), isa,
             lowered ? "; recipe's bf16 lowered to " : "", lowered ? compute_name(m->opt.precision) : "",
             lowered ? ": " : "", lowered ? lowered : "");
}

/* The one place the thread count is decided: the host's insp_host.threads (ABI 1.1), else the
 * recipe's `threads`, else every CPU this process may use (affinity mask, cgroup quota); the
 * host's num_threads parameter can change it later. */
static int decide_threads(insp_tool *t, int recipe_threads)
{
    if (t->host.threads > 0) {
        describe_runtime(t, t->host.threads, "host insp_host.threads");
        return t->host.threads;
    }
    if (recipe_threads > 0) {
        describe_runtime(t, recipe_threads, "recipe threads");
        return recipe_threads;
    }
    dp_cpus c;
    dp_cpus_query(NULL, &c);
    describe_runtime(t, c.usable, "recipe threads 0: all usable CPUs");
    return c.usable;
}

static void free_scratch(insp_tool *t)
{
    /* tile_types lives inside tile_map's block */
    free(t->rgb); free(t->tile_u8); free(t->tile_crop); free(t->resize_ws); free(t->pre);
    free(t->tile_map); free(t->axes); free(t->types);
    free(t->region_ws); free(t->tiles); free(t->rounds);
}

size_t dp_tool_scratch_bytes(const insp_tool *t)
{
    return t->rgb_cap + t->tile_u8_cap + t->tile_crop_cap + t->resize_ws_cap + t->pre_cap +
           t->tile_map_cap + t->axes_cap + t->types_cap + t->region_ws_cap + t->tiles_cap +
           t->rounds_cap;
}

void dp_tool_trim_scratch(insp_tool *t)
{
    if (dp_tool_scratch_bytes(t) <= DP_TOOL_SCRATCH_KEEP_BYTES)
        return;
    free_scratch(t);
    t->rgb = t->tile_u8 = t->tile_crop = t->resize_ws = t->region_ws = NULL;
    t->pre = t->tile_map = NULL;
    t->axes = NULL;
    t->types = t->tile_types = NULL;
    t->tiles = NULL;
    t->rounds = NULL;
    t->rgb_cap = t->tile_u8_cap = t->tile_crop_cap = t->resize_ws_cap = t->pre_cap = 0;
    t->tile_map_cap = t->axes_cap = t->types_cap = t->region_ws_cap = t->tiles_cap = 0;
    t->rounds_cap = 0;
}

void dp_tool_destroy(insp_tool *t)
{
    if (!t)
        return;
    t->tag = DP_HANDLE_TAG_DEAD;
    dp_model_free(t->model);
    if (t->class_names)
        for (int i = 0; i < t->n_classes; i++)
            free(t->class_names[i]);
    free(t->class_names);
    free(t->type_thresholds);
    free(t->schema);
    free(t->text_cache_dir);
    free_scratch(t);
    dp_recipe_free(&t->recipe);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* The recipe's three model files, in dp_tool.model_files order. */
static void model_paths(const dp_recipe *r, const char *paths[3])
{
    paths[0] = r->clip_path;
    paths[1] = r->dapo_path;
    paths[2] = r->vocab_path;
}

/* Fills ids[3] with the model files' identities. 0, or -1 with e failed (DP_E_IO). */
static int model_identities(const dp_recipe *r, dp_file_id ids[3], dp_err *e)
{
    const char *paths[3];
    model_paths(r, paths);
    for (int i = 0; i < 3; i++)
        if (dp_file_identity(paths[i], &ids[i], e))
            return -1;
    return 0;
}

/* DP_OK when every model file is still the version the tool loaded; otherwise DP_E_MODEL
 * naming the file: a rebuild must never silently load a different model. */
static dp_status model_files_unchanged(const insp_tool *t, dp_err *e)
{
    const char *paths[3];
    model_paths(&t->recipe, paths);
    dp_file_id now[3];
    for (int i = 0; i < 3; i++) {
        if (dp_file_identity(paths[i], &now[i], e))
            return dp_fail(e, DP_E_MODEL, "%s: %s", paths[i], "the model file is gone since the "
                           "tool was created; the running model is kept; create a new tool to "
                           "load new model files");
        if (!dp_file_id_same(&now[i], &t->model_files[i]))
            return dp_fail(e, DP_E_MODEL, "%s: the model file changed on disk since the tool "
                           "was created (size %lld -> %lld, inode %llu -> %llu, or its "
                           "modification time); the running model is kept; create a new tool to "
                           "load new model files", paths[i], t->model_files[i].size, now[i].size,
                           t->model_files[i].ino, now[i].ino);
    }
    return DP_OK;
}

/* The model's text-encoding progress, forwarded to the host's progress callback. */
static void text_progress(void *ctx, int done, int total)
{
    const insp_tool *t = ctx;
    t->host.progress(t->host.user, "text prompts", done, total);
}

/* The model's precision for a recipe's. bf16 without native bf16 runs int8: the int8 suite and
 * the parity suite show it inside the bf16 fidelity bounds (README "Numerics"), and it is the
 * faster of int8 and f32 there. */
static dp_dtype_c model_precision(dp_precision p)
{
    if (p == DP_PRECISION_INT8)
        return DP_C_INT8;
    if (p == DP_PRECISION_BF16)
        return dp_nn_cpu_has_bf16() ? DP_C_BF16 : DP_C_INT8;
    return DP_C_F32;
}

static dp_status load_model(insp_tool *t, int threads, dp_model **out, dp_err *e)
{
    const dp_recipe *r = &t->recipe;
    const char **names = malloc((size_t)r->n_defects * sizeof *names);
    if (!names)
        return dp_fail(e, DP_E_NOMEM, "out of memory");
    for (int i = 0; i < r->n_defects; i++)
        names[i] = r->defects[i].name;
    dp_model_options opt = { r->input_size, r->tiling == DP_TILING_GRID ? r->batch : 1,
                             model_precision(r->precision), threads, 0, 0,
                             t->host.progress ? text_progress : NULL, t, t->text_cache_dir,
                             DP_PLUGIN_VERSION,
                             /* tiled recipes run whole batches of tiles on one worker per
                              * thread (process.c): built here, at load, never per image */
                             r->tiling == DP_TILING_GRID && threads > 1 ? threads : 0 };
    dp_status st = dp_model_load(r->clip_path, r->dapo_path, r->vocab_path, names, r->n_defects,
                                 &opt, out, e);
    free(names);
    return st;
}

/* The current values of every parameter, in dp_param_id order. */
static void param_values(const insp_tool *t, double *v)
{
    v[DP_PARAM_IMAGE_THRESHOLD] = t->image_threshold;
    v[DP_PARAM_PIXEL_THRESHOLD] = t->pixel_threshold;
    v[DP_PARAM_MIN_REGION_AREA] = t->min_region_area;
    v[DP_PARAM_NUM_THREADS] = t->threads;
    v[DP_PARAM_TYPE_MAP] = t->keep_types;
}

static int build_schema(insp_tool *t)
{
    double v[DP_PARAM_COUNT];
    param_values(t, v);
    return dp_param_schema(v, &t->schema);
}

insp_status dp_tool_create(const insp_host *host, const char *recipe_path, insp_tool **out,
                           char *err, size_t cap)
{
    *out = NULL;
    dp_err e;
    dp_err_clear(&e);
    insp_tool *t = calloc(1, sizeof *t);
    if (!t) {
        dp_copy_err(err, cap, "out of memory creating a tool");
        return INSP_E_NOMEM;
    }
    pthread_mutex_init(&t->lock, NULL);
    if (host)
        memcpy(&t->host, host, host->struct_size < sizeof t->host ? host->struct_size : sizeof t->host);
    t->host.struct_size = sizeof t->host;
    dp_status st = dp_recipe_load(recipe_path, &t->recipe, &e);
    if (st) {
        dp_tool_destroy(t);
        return dp_report(&e, DP_STAGE_RECIPE, err, cap);
    }
    if ((st = dp_vocab_resolve(&t->recipe, &e))) {
        dp_tool_destroy(t);
        return dp_report(&e, DP_STAGE_RECIPE, err, cap);
    }
    const dp_recipe *r = &t->recipe;
    t->threads = decide_threads(t, r->threads);
    t->image_threshold = r->image_threshold;
    t->pixel_threshold = r->pixel_threshold;
    t->min_region_area = r->min_region_area;
    t->n_classes = 1 + r->n_defects;
    if (t->n_classes > DP_MAX_STATES) {
        dp_fail(&e, DP_E_FORMAT, "%s: %d defect types; expected at most %d", r->path,
                r->n_defects, DP_MAX_DEFECTS);
        dp_tool_destroy(t);
        return dp_report(&e, DP_STAGE_RECIPE, err, cap);
    }
    t->class_names = calloc((size_t)t->n_classes, sizeof *t->class_names);
    t->type_thresholds = calloc((size_t)t->n_classes, sizeof *t->type_thresholds);
    if (!t->class_names || !t->type_thresholds) {
        dp_copy_err(err, cap, "out of memory creating a tool");
        dp_tool_destroy(t);
        return INSP_E_NOMEM;
    }
    int names_ok = (t->class_names[0] = strdup("normal")) != NULL;
    for (int i = 0; i < r->n_defects; i++) {
        names_ok &= (t->class_names[1 + i] = strdup(r->defects[i].name)) != NULL;
        t->type_thresholds[1 + i] = r->defects[i].pixel_threshold >= 0 ? r->defects[i].pixel_threshold
                                                                        : r->pixel_threshold;
    }
    if (!names_ok) {    /* a tool with a missing class name would fail on its first image */
        dp_copy_err(err, cap, "out of memory copying the class names");
        dp_tool_destroy(t);
        return INSP_E_NOMEM;
    }
    /* input_size against the model's patch size, reported where the recipe says it (the
     * loader would only know the number); a file that cannot be read is left to the loader */
    dp_model_config peek;
    if (dp_model_peek_config(r->clip_path, &peek, &e) == DP_OK && peek.patch_size > 0 &&
        r->input_size % peek.patch_size != 0) {
        int p = peek.patch_size, below = r->input_size / p * p, above = below + p;
        if (below < DP_MIN_INPUT_SIZE) {
            below = above;
            above += p;
        }
        char where[64] = "";
        if (r->input_size_line > 0)
            snprintf(where, sizeof where, ":%d:%d", r->input_size_line, r->input_size_col);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s%s: input_size: %d (%snot a multiple of %d, the patch size "
                 "of %s); expected a multiple of %d in %d..%d, e.g. %d or %d", r->path, where,
                 r->input_size, r->input_size_line > 0 ? "" : "the default; ", p, r->clip_path,
                 p, DP_MIN_INPUT_SIZE, DP_MAX_INPUT_SIZE, below, above);
        dp_copy_err(err, cap, msg);
        dp_tool_destroy(t);
        return INSP_E_MODEL;
    }
    /* identities before the load; a missing file is left to the loader's own message */
    const char *cache_source = NULL;
    t->text_cache_dir = dp_text_cache_dir_decide(r, &cache_source);
    dp_err id_err;
    int have_ids = model_identities(r, t->model_files, &id_err) == 0;
    st = load_model(t, t->threads, &t->model, &e);
    if (!st && !have_ids) {
        e = id_err;
        st = DP_E_MODEL;
    }
    if (!st)
        st = model_files_unchanged(t, &e);   /* replaced while loading */
    if (st) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", r->path, e.msg);
        dp_copy_err(err, cap, msg);
        dp_tool_destroy(t);
        return dp_status_to_insp(st, DP_STAGE_MODEL);
    }
    const dp_dtype_c ran = t->model->opt.precision;
    const char *lowered = bf16_lowered_reason(t);
    t->precision = !lowered ? compute_name(ran)
                 : ran != DP_C_INT8 ? "f32 (bf16 requested; not native here)"
                 : dp_isa_cpu_level() >= DP_ISA_AVX512_BF16
                 ? "int8 (bf16 requested; the instruction-set cap is below AVX-512 BF16)"
                 : "int8 (bf16 requested; no native bf16 on this CPU)";
    const dp_model_config *c = &t->model->cfg;
    snprintf(t->model_desc, sizeof t->model_desc,
             "CLIP ViT (width %d, %d layers, patch %d) + DAPO head, input %d px",
             c->vision_width, c->vision_layers, c->patch_size, r->input_size);
    if (build_schema(t)) {
        dp_copy_err(err, cap, "out of memory creating a tool");
        dp_tool_destroy(t);
        return INSP_E_NOMEM;
    }
    describe_path(t);
    if (lowered)
        dp_tool_log(t, INSP_LOG_WARN, "%s: precision bf16 requested but %s; running %s%s", r->path,
                    lowered, compute_name(ran), ran == DP_C_INT8 ? " (faster than f32 and inside "
                    "the bf16 fidelity bounds)" : "");
    dp_tool_log(t, INSP_LOG_INFO, "%s: model loaded in %.0f ms (text prompts %.0f ms), %s, %s",
                r->path, t->model->load_seconds * 1e3, t->model->text_seconds * 1e3, t->runtime,
                t->precision);
    if (t->model->text_cache_note[0])   /* once per tool: where the text features came from */
        dp_tool_log(t, t->model->text_origin == DP_TEXT_CACHE_UNUSABLE ? INSP_LOG_WARN
                    : INSP_LOG_INFO, "%s: %s (cache directory from the %s)", r->path,
                    t->model->text_cache_note, cache_source);
    dp_copy_err(err, cap, "");
    t->tag = DP_TOOL_TAG_LIVE;
    *out = t;
    return INSP_OK;
}

/* oneDNN kernels and their scratch are sized for a thread count, so a new count needs a new
 * model. It is built from the same files, verified unchanged before and after the load (a
 * replaced file is refused, never silently swapped in), outside the lock (processing goes on
 * meanwhile), then swapped in under the lock. */
static insp_status set_threads(insp_tool *t, int threads, char *err, size_t cap)
{
    pthread_mutex_lock(&t->lock);
    int same = threads == t->threads;
    pthread_mutex_unlock(&t->lock);
    if (same) {
        dp_copy_err(err, cap, "");
        return INSP_OK;
    }
    dp_err e;
    dp_model *m = NULL;
    dp_status st = model_files_unchanged(t, &e);
    if (!st)
        st = load_model(t, threads, &m, &e);
    if (!st)
        st = model_files_unchanged(t, &e);
    if (st) {
        dp_model_free(m);
        return dp_report(&e, DP_STAGE_MODEL, err, cap);
    }
    pthread_mutex_lock(&t->lock);
    dp_model *old = t->model;
    t->model = m;
    t->threads = threads;
    describe_runtime(t, t->threads, "host parameter num_threads");
    describe_path(t);
    pthread_mutex_unlock(&t->lock);
    dp_model_free(old);
    dp_tool_log(t, INSP_LOG_INFO, "%s: num_threads %d: model kernels rebuilt from unchanged files",
                t->recipe.path, threads);
    dp_copy_err(err, cap, "");
    return INSP_OK;
}

/* The one message for a key that is neither a parameter name nor a recipe key. */
static insp_status unknown_param(const char *key, char *err, size_t cap)
{
    char msg[512];
    snprintf(msg, sizeof msg, "unknown parameter \"%.64s\"; expected one of %s", key,
             dp_param_names());
    dp_copy_err(err, cap, msg);
    return INSP_E_ARG;
}

insp_status dp_tool_set_param(insp_tool *t, const char *key, const char *value, char *err, size_t cap)
{
    char msg[512];
    if (!key || !value) {
        dp_copy_err(err, cap, "set_param: key and value must not be NULL");
        return INSP_E_ARG;
    }
    dp_param_id id = dp_param_find(key);
    if (id == DP_PARAM_COUNT)
        return unknown_param(key, err, cap);
    double v;
    if (dp_param_parse(id, value, &v, msg, sizeof msg)) {
        dp_copy_err(err, cap, msg);
        return INSP_E_ARG;
    }
    if (id == DP_PARAM_NUM_THREADS)
        return set_threads(t, (int)v, err, cap);
    /* process() reads the parameters under the same lock */
    pthread_mutex_lock(&t->lock);
    switch (id) {
    case DP_PARAM_IMAGE_THRESHOLD:
        t->image_threshold = (float)v;
        break;
    case DP_PARAM_PIXEL_THRESHOLD:
        for (int k = 1; k < t->n_classes; k++)
            if (t->recipe.defects[k - 1].pixel_threshold < 0)
                t->type_thresholds[k] = (float)v;
        t->pixel_threshold = (float)v;
        break;
    case DP_PARAM_MIN_REGION_AREA:
        t->min_region_area = (int)v;
        break;
    case DP_PARAM_TYPE_MAP:
        t->keep_types = v != 0;
        break;
    case DP_PARAM_NUM_THREADS:
    case DP_PARAM_COUNT:
        break;
    }
    pthread_mutex_unlock(&t->lock);
    dp_copy_err(err, cap, "");
    return INSP_OK;
}

void dp_tool_cancel(insp_tool *t)
{
    atomic_fetch_add(&t->cancel_count, 1u);
}

insp_status dp_tool_get_param(const insp_tool *t, const char *key, char *buf, size_t buf_cap,
                              char *err, size_t cap)
{
    char value[64], msg[256];
    if (!key || !buf || buf_cap == 0) {
        dp_copy_err(err, cap, "get_param: key and buffer must not be NULL, buffer size > 0");
        return INSP_E_ARG;
    }
    dp_param_id id = dp_param_find(key);
    if (id == DP_PARAM_COUNT)
        return unknown_param(key, err, cap);
    double v[DP_PARAM_COUNT];
    /* set_param writes these under the lock; the lock is the tool's, not part of its value */
    pthread_mutex_t *lock = (pthread_mutex_t *)&t->lock;
    pthread_mutex_lock(lock);
    param_values(t, v);
    pthread_mutex_unlock(lock);
    dp_param_format(id, v[id], value, sizeof value);
    size_t need = strlen(value) + 1;
    snprintf(buf, buf_cap, "%s", value);
    if (need > buf_cap) {
        snprintf(msg, sizeof msg, "get_param %s: buffer of %zu bytes too small; %zu needed", key, buf_cap, need);
        dp_copy_err(err, cap, msg);
        return INSP_E_BUFFER;
    }
    dp_copy_err(err, cap, "");
    return INSP_OK;
}
