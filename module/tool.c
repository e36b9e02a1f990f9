/* Tool lifecycle: recipe -> model (all loading and validation at create), runtime parameters,
 * parameter schema. */
#include "tool_internal.h"

#include "number.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dp_copy_err(char *err, size_t cap, const char *msg)
{
    if (!err || cap == 0)
        return;
    snprintf(err, cap, "%s", msg ? msg : "");
}

insp_status dp_to_insp(dp_status st, insp_status bad_input)
{
    switch (st) {
    case DP_OK: return INSP_OK;
    case DP_E_ARG: return bad_input;
    case DP_E_IO: return bad_input;
    case DP_E_FORMAT: return bad_input;
    case DP_E_MODEL: return INSP_E_MODEL;
    case DP_E_NOMEM: return INSP_E_NOMEM;
    case DP_E_UNSUPPORTED: return INSP_E_UNSUPPORTED;
    case DP_E_INTERNAL: return INSP_E_INTERNAL;
    }
    return INSP_E_INTERNAL;
}

int dp_grow(void **buf, size_t *cap, size_t bytes)
{
    if (bytes <= *cap && *buf)
        return 0;
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
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
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    t->host.log(t->host.user, level, line);
}

static void free_scratch(insp_tool *t)
{
    /* tile_types lives inside tile_map's block, wsum and best_w inside acc's */
    free(t->rgb); free(t->tile_u8); free(t->tile_crop); free(t->resize_ws); free(t->pre);
    free(t->probs); free(t->grid_sum); free(t->tile_map); free(t->acc); free(t->types);
    free(t->region_ws); free(t->tiles);
}

void dp_tool_destroy(insp_tool *t)
{
    if (!t)
        return;
    dp_model_free(t->model);
    if (t->class_names)
        for (int i = 0; i < t->n_classes; i++)
            free(t->class_names[i]);
    free(t->class_names);
    free(t->type_thresholds);
    free(t->schema);
    free_scratch(t);
    dp_recipe_free(&t->recipe);
    pthread_mutex_destroy(&t->lock);
    free(t);
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
                             r->precision == DP_PRECISION_BF16 ? DP_C_BF16 : DP_C_F32, threads, 0, 0 };
    dp_status st = dp_model_load(r->clip_path, r->dapo_path, r->vocab_path, names, r->n_defects,
                                 &opt, out, e);
    free(names);
    return st;
}

static int build_schema(insp_tool *t)
{
    char buf[4096];
    int n = snprintf(buf, sizeof buf,
        "{\"params\": ["
        "{\"name\": \"image_threshold\", \"type\": \"float\", \"default\": \"%g\", \"min\": 0, \"max\": 1, "
        "\"description\": \"image score at or above which a part is NG\"}, "
        "{\"name\": \"pixel_threshold\", \"type\": \"float\", \"default\": \"%g\", \"min\": 0, \"max\": 4, "
        "\"unit\": \"map\", \"description\": \"anomaly-map value above which a pixel is defective (map = sum over 4 layers of P(defect), 0..4); defect types with their own recipe threshold keep it\"}, "
        "{\"name\": \"min_region_area\", \"type\": \"int\", \"default\": \"%d\", \"min\": 0, \"unit\": \"px\", "
        "\"description\": \"defect regions smaller than this many input pixels are dropped\"}, "
        "{\"name\": \"num_threads\", \"type\": \"int\", \"default\": \"%d\", \"min\": 1, \"max\": 256, "
        "\"description\": \"worker threads per process call (changing it rebuilds the model's kernels)\"}, "
        "{\"name\": \"type_map\", \"type\": \"bool\", \"default\": \"false\", "
        "\"description\": \"results keep the per-pixel defect type before thresholds (result_type_map, ABI 1.1; 2 bytes per pixel)\"}"
        "]}", (double)t->image_threshold, (double)t->pixel_threshold, t->min_region_area, t->threads);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    t->schema = strdup(buf);
    return t->schema ? 0 : -1;
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
        dp_copy_err(err, cap, e.msg);
        dp_tool_destroy(t);
        return st == DP_E_NOMEM ? INSP_E_NOMEM : INSP_E_RECIPE;
    }
    const dp_recipe *r = &t->recipe;
    t->threads = r->threads > 0 ? r->threads : omp_get_num_procs();
    t->image_threshold = r->image_threshold;
    t->pixel_threshold = r->pixel_threshold;
    t->min_region_area = r->min_region_area;
    t->n_classes = 1 + r->n_defects;
    if (t->n_classes > DP_MAX_CLASSES) {
        dp_copy_err(err, cap, "more than 64 defect types");
        dp_tool_destroy(t);
        return INSP_E_RECIPE;
    }
    t->class_names = calloc((size_t)t->n_classes, sizeof *t->class_names);
    t->type_thresholds = calloc((size_t)t->n_classes, sizeof *t->type_thresholds);
    if (!t->class_names || !t->type_thresholds) {
        dp_copy_err(err, cap, "out of memory creating a tool");
        dp_tool_destroy(t);
        return INSP_E_NOMEM;
    }
    t->class_names[0] = strdup("normal");
    for (int i = 0; i < r->n_defects; i++) {
        t->class_names[1 + i] = strdup(r->defects[i].name);
        t->type_thresholds[1 + i] = r->defects[i].pixel_threshold >= 0 ? r->defects[i].pixel_threshold
                                                                        : r->pixel_threshold;
    }
    st = load_model(t, t->threads, &t->model, &e);
    if (st) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s: %s", r->path, e.msg);
        dp_copy_err(err, cap, msg);
        dp_tool_destroy(t);
        return dp_to_insp(st, INSP_E_MODEL);
    }
    t->precision = t->model->opt.precision == DP_C_BF16 ? "bf16" : "f32";
    const dp_model_config *c = &t->model->cfg;
    snprintf(t->model_desc, sizeof t->model_desc,
             "CLIP ViT (width %d, %d layers, patch %d) + DAPO head, input %d px",
             c->vision_width, c->vision_layers, c->patch_size, r->input_size);
    if (build_schema(t)) {
        dp_copy_err(err, cap, "out of memory creating a tool");
        dp_tool_destroy(t);
        return INSP_E_NOMEM;
    }
    if (t->model->bf16_fallback)
        dp_tool_log(t, INSP_LOG_WARN, "%s: precision bf16 requested but this CPU has no native bf16; running f32", r->path);
    dp_tool_log(t, INSP_LOG_INFO, "%s: model loaded in %.0f ms (text prompts %.0f ms), %d threads, %s",
                r->path, t->model->load_seconds * 1e3, t->model->text_seconds * 1e3, t->threads, t->precision);
    dp_copy_err(err, cap, "");
    *out = t;
    return INSP_OK;
}

/* Parameter values use the recipes' number syntax, independent of the host's locale. */
static int parse_float(const char *s, float *out)
{
    if (!s)
        return -1;
    dp_number v = dp_scan_number(s, strlen(s));
    if (!v.ok || !isfinite((float)v.d))
        return -1;
    *out = (float)v.d;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s)
        return -1;
    dp_number v = dp_scan_number(s, strlen(s));
    if (!v.ok || !v.integral || v.big || v.i < lo || v.i > hi)
        return -1;
    *out = (long)v.i;
    return 0;
}

insp_status dp_tool_set_param(insp_tool *t, const char *key, const char *value, char *err, size_t cap)
{
    char msg[512];
    if (!key || !value) {
        dp_copy_err(err, cap, "set_param: key and value must not be NULL");
        return INSP_E_ARG;
    }
    float f;
    long l;
    if (strcmp(key, INSP_PARAM_IMAGE_THRESHOLD) == 0) {
        if (parse_float(value, &f) || !(f > 0 && f < 1)) {
            snprintf(msg, sizeof msg, "image_threshold = \"%.64s\": expected a number strictly between 0 and 1", value);
            dp_copy_err(err, cap, msg);
            return INSP_E_ARG;
        }
        t->image_threshold = f;
    } else if (strcmp(key, INSP_PARAM_PIXEL_THRESHOLD) == 0) {
        if (parse_float(value, &f) || !(f > 0 && f < 4)) {
            snprintf(msg, sizeof msg, "pixel_threshold = \"%.64s\": expected a number strictly between 0 and 4 (anomaly-map units)", value);
            dp_copy_err(err, cap, msg);
            return INSP_E_ARG;
        }
        for (int k = 1; k < t->n_classes; k++)
            if (t->recipe.defects[k - 1].pixel_threshold < 0)
                t->type_thresholds[k] = f;
        t->pixel_threshold = f;
    } else if (strcmp(key, INSP_PARAM_MIN_REGION_AREA) == 0) {
        if (parse_int(value, 0, INT32_MAX, &l)) {
            snprintf(msg, sizeof msg, "min_region_area = \"%.64s\": expected an integer >= 0 (pixels)", value);
            dp_copy_err(err, cap, msg);
            return INSP_E_ARG;
        }
        t->min_region_area = (int)l;
    } else if (strcmp(key, INSP_PARAM_NUM_THREADS) == 0) {
        if (parse_int(value, 1, 256, &l)) {
            snprintf(msg, sizeof msg, "num_threads = \"%.64s\": expected an integer 1..256", value);
            dp_copy_err(err, cap, msg);
            return INSP_E_ARG;
        }
        if ((int)l != t->threads) {
            /* kernels are specialised for a thread count: build the new model first, then swap */
            dp_model *m = NULL;
            dp_err e;
            dp_status st = load_model(t, (int)l, &m, &e);
            if (st) {
                dp_copy_err(err, cap, e.msg);
                return dp_to_insp(st, INSP_E_MODEL);
            }
            dp_model_free(t->model);
            t->model = m;
            t->threads = (int)l;
        }
    } else if (strcmp(key, INSP_PARAM_TYPE_MAP) == 0) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            snprintf(msg, sizeof msg, "type_map = \"%.64s\": expected true or false", value);
            dp_copy_err(err, cap, msg);
            return INSP_E_ARG;
        }
        t->keep_types = value[0] == 't';
    } else {
        snprintf(msg, sizeof msg, "unknown parameter \"%.64s\"; expected one of image_threshold, "
                 "pixel_threshold, min_region_area, num_threads, type_map", key);
        dp_copy_err(err, cap, msg);
        return INSP_E_ARG;
    }
    dp_copy_err(err, cap, "");
    return INSP_OK;
}

insp_status dp_tool_get_param(const insp_tool *t, const char *key, char *buf, size_t buf_cap,
                              char *err, size_t cap)
{
    char value[64], msg[256];
    if (!key || !buf || buf_cap == 0) {
        dp_copy_err(err, cap, "get_param: key and buffer must not be NULL, buffer size > 0");
        return INSP_E_ARG;
    }
    if (strcmp(key, INSP_PARAM_IMAGE_THRESHOLD) == 0)
        snprintf(value, sizeof value, "%g", (double)t->image_threshold);
    else if (strcmp(key, INSP_PARAM_PIXEL_THRESHOLD) == 0)
        snprintf(value, sizeof value, "%g", (double)t->pixel_threshold);
    else if (strcmp(key, INSP_PARAM_MIN_REGION_AREA) == 0)
        snprintf(value, sizeof value, "%d", t->min_region_area);
    else if (strcmp(key, INSP_PARAM_NUM_THREADS) == 0)
        snprintf(value, sizeof value, "%d", t->threads);
    else if (strcmp(key, INSP_PARAM_TYPE_MAP) == 0)
        snprintf(value, sizeof value, "%s", t->keep_types ? "true" : "false");
    else {
        snprintf(msg, sizeof msg, "unknown parameter \"%.64s\"; expected one of image_threshold, "
                 "pixel_threshold, min_region_area, num_threads, type_map", key);
        dp_copy_err(err, cap, msg);
        return INSP_E_ARG;
    }
    /* %g may use the locale's decimal point; the ABI promises C notation */
    for (char *p = value; *p; p++)
        if (*p == ',')
            *p = '.';
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
