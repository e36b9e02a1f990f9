/* A minimal plugin for host-side tests: the loader, the insp CLI, overlays. Not part of any
 * build target; tests compile it at run time:
 *   cc -shared -fPIC -std=c11 -Isdk_shim/include [-DFAKE_...] -o fake.so tests/fake_plugin.c
 * Variants (one -D at a time) break exactly one thing the loader must catch:
 *   FAKE_WRONG_MAJOR   table says ABI 2.0
 *   FAKE_SHORT_SIZE    struct_size stops before tool_process
 *   FAKE_NO_SYMBOL     no insp_get_api_v* entry at all
 *   FAKE_V2_ONLY       exports insp_get_api_v2 only (a future plugin)
 *   FAKE_REFUSE        entry returns NULL
 *   FAKE_NULL_MEMBER   result_timing is NULL
 * Without a variant it is a working plugin whose "model" is trivial and predictable:
 *   - recipe: any text file; every line whose first non-blank characters are "- " names a
 *     defect type, in order;
 *   - anomaly map = 4 * brightness (0..1 after value_min/value_max scaling), 0 where masked;
 *   - label map: pixels >= pixel_threshold get defect type 1 + x * S / roi_w (vertical stripes);
 *   - one region per defect type present: its bounding box (not connectivity-correct);
 *   - score = max map value / 4 clamped into (0, 1); NG if score >= image_threshold. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insp_tool.h"

#define FAKE_MAX_CLASSES 32

struct insp_tool {
    int n_classes;                     /* 1 + defect types */
    char *names[FAKE_MAX_CLASSES];     /* owned; [0] = "normal" */
    float image_threshold, pixel_threshold;
    int num_threads, min_region_area;
    char schema[1024];
};

struct insp_result {
    float score, image_threshold, pixel_threshold;
    int decision, n_classes;
    char *names[FAKE_MAX_CLASSES];     /* owned copies: a result outlives its tool */
    float class_score[FAKE_MAX_CLASSES];
    int roi_x, roi_y, w, h;
    float *map;                        /* owned, w*h */
    uint16_t *labels;                  /* owned, w*h */
    int n_regions;
    insp_region regions[FAKE_MAX_CLASSES];
};

static insp_status fail(char *err, size_t cap, insp_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static insp_status fail(char *err, size_t cap, insp_status code, const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void ok(char *err, size_t cap)
{
    if (err && cap > 0)
        err[0] = '\0';
}

static const char *status_name(insp_status s)
{
    static const char *const names[] = {
        "INSP_OK", "INSP_E_ARG", "INSP_E_UNSUPPORTED", "INSP_E_RECIPE", "INSP_E_MODEL",
        "INSP_E_IMAGE", "INSP_E_NOMEM", "INSP_E_INTERNAL", "INSP_E_ABI", "INSP_E_BUFFER",
    };
    return s >= 0 && s < (insp_status)(sizeof names / sizeof names[0]) ? names[s] : "INSP_E_UNKNOWN";
}

static void tool_destroy(insp_tool *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_classes; i++)
        free(t->names[i]);
    free(t);
}

static insp_status tool_create(const insp_host *host, const char *path, insp_tool **out,
                               char *err, size_t cap)
{
    (void)host;
    if (!out)
        return fail(err, cap, INSP_E_ARG, "tool_create: out is NULL");
    *out = NULL;
    if (!path)
        return fail(err, cap, INSP_E_ARG, "tool_create: recipe_path is NULL");
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, cap, INSP_E_RECIPE, "%s: cannot open recipe: %s", path, strerror(errno));
    insp_tool *t = calloc(1, sizeof *t);
    if (!t) {
        fclose(f);
        return fail(err, cap, INSP_E_NOMEM, "out of memory");
    }
    t->names[t->n_classes++] = strdup("normal");
    char line[512];
    while (fgets(line, sizeof line, f) && t->n_classes < FAKE_MAX_CLASSES) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (s[0] != '-' || s[1] != ' ')
            continue;
        s += 2;
        size_t n = strcspn(s, "\r\n");
        s[n] = '\0';
        t->names[t->n_classes++] = strdup(s);
    }
    fclose(f);
    if (t->n_classes < 2) {
        tool_destroy(t);
        return fail(err, cap, INSP_E_RECIPE, "%s: no defect types (expected '- name' lines)", path);
    }
    t->image_threshold = 0.5f;
    t->pixel_threshold = 2.0f;
    t->num_threads = 1;
    t->min_region_area = 1;
    snprintf(t->schema, sizeof t->schema,
             "{\"params\": ["
             "{\"name\": \"image_threshold\", \"type\": \"float\", \"default\": \"0.5\", "
             "\"min\": 0, \"max\": 1, \"description\": \"score >= it => NG\"}, "
             "{\"name\": \"pixel_threshold\", \"type\": \"float\", \"default\": \"2\", "
             "\"min\": 0, \"max\": 4, \"description\": \"defect pixels\"}, "
             "{\"name\": \"num_threads\", \"type\": \"int\", \"default\": \"1\", \"min\": 1}, "
             "{\"name\": \"min_region_area\", \"type\": \"int\", \"default\": \"1\", \"min\": 1}]}");
    *out = t;
    ok(err, cap);
    return INSP_OK;
}

static const char *tool_param_schema(const insp_tool *t)
{
    return t ? t->schema : NULL;
}

static insp_status tool_set_param(insp_tool *t, const char *key, const char *value, char *err,
                                  size_t cap)
{
    if (!t || !key || !value)
        return fail(err, cap, INSP_E_ARG, "tool_set_param: NULL argument");
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end != '\0' || !isfinite(v))
        return fail(err, cap, INSP_E_ARG, "parameter %s: '%s' is not a number", key, value);
    if (strcmp(key, INSP_PARAM_IMAGE_THRESHOLD) == 0 && v >= 0 && v <= 1)
        t->image_threshold = (float)v;
    else if (strcmp(key, INSP_PARAM_PIXEL_THRESHOLD) == 0 && v >= 0 && v <= 4)
        t->pixel_threshold = (float)v;
    else if (strcmp(key, INSP_PARAM_NUM_THREADS) == 0 && v >= 1 && v <= 256 && v == (int)v)
        t->num_threads = (int)v;
    else if (strcmp(key, INSP_PARAM_MIN_REGION_AREA) == 0 && v >= 1 && v == (int)v)
        t->min_region_area = (int)v;
    else
        return fail(err, cap, INSP_E_ARG, "parameter %s: unknown key or value '%s' out of range",
                    key, value);
    ok(err, cap);
    return INSP_OK;
}

static insp_status tool_get_param(const insp_tool *t, const char *key, char *buf, size_t buf_cap,
                                  char *err, size_t cap)
{
    if (!t || !key || !buf || buf_cap == 0)
        return fail(err, cap, INSP_E_ARG, "tool_get_param: NULL argument");
    char v[64];
    if (strcmp(key, INSP_PARAM_IMAGE_THRESHOLD) == 0)
        snprintf(v, sizeof v, "%g", t->image_threshold);
    else if (strcmp(key, INSP_PARAM_PIXEL_THRESHOLD) == 0)
        snprintf(v, sizeof v, "%g", t->pixel_threshold);
    else if (strcmp(key, INSP_PARAM_NUM_THREADS) == 0)
        snprintf(v, sizeof v, "%d", t->num_threads);
    else if (strcmp(key, INSP_PARAM_MIN_REGION_AREA) == 0)
        snprintf(v, sizeof v, "%d", t->min_region_area);
    else
        return fail(err, cap, INSP_E_ARG, "parameter %s: unknown key", key);
    snprintf(buf, buf_cap, "%s", v);
    if (strlen(v) >= buf_cap)
        return fail(err, cap, INSP_E_BUFFER, "parameter %s: needs %zu bytes", key, strlen(v) + 1);
    ok(err, cap);
    return INSP_OK;
}

static insp_status tool_info(const insp_tool *t, insp_tool_info *out, char *err, size_t cap)
{
    if (!t || !out)
        return fail(err, cap, INSP_E_ARG, "tool_info: NULL argument");
    if (out->struct_size < INSP_TOOL_INFO_SIZE_1_0)
        return fail(err, cap, INSP_E_ABI, "tool_info: struct_size %u too small", out->struct_size);
    out->class_count = t->n_classes;
    out->input_width = out->input_height = 32;
    out->product = "fake product";
    out->model = "fake brightness model";
    out->precision = "f32";
    out->map_max = 4.0f;
    out->tiling = 0;
    ok(err, cap);
    return INSP_OK;
}

static int32_t tool_class_count(const insp_tool *t)
{
    return t ? t->n_classes : 0;
}

static const char *tool_class_name(const insp_tool *t, int32_t i)
{
    return t && i >= 0 && i < t->n_classes ? t->names[i] : NULL;
}

/* Brightness of pixel (x, y) in 0..1; img is validated. */
static float brightness(const insp_image *img, int x, int y, float lo, float hi)
{
    int bps = INSP_PIXEL_BYTES(img->pixel);
    const char *row = (const char *)img->data + (ptrdiff_t)y * img->row_stride;
    float sum = 0;
    for (int c = 0; c < img->channels; c++) {
        const char *p = img->planar ? row + (ptrdiff_t)x * bps + c * img->plane_stride
                                    : row + ((ptrdiff_t)x * img->channels + c) * bps;
        float v;
        if (img->pixel == INSP_PIX_U8)
            v = *(const uint8_t *)p;
        else if (img->pixel == INSP_PIX_U16)
            v = *(const uint16_t *)p;
        else
            memcpy(&v, p, sizeof v);
        sum += v;
    }
    float b = (sum / (float)img->channels - lo) / (hi - lo);
    return b < 0 ? 0 : b > 1 ? 1 : b;
}

static insp_status check_image(const insp_image *img, char *err, size_t cap)
{
    if (img->struct_size < INSP_IMAGE_SIZE_1_0)
        return fail(err, cap, INSP_E_ABI, "image: struct_size %u < %u", img->struct_size,
                    (unsigned)INSP_IMAGE_SIZE_1_0);
    if (img->width < 1 || img->height < 1 || !img->data)
        return fail(err, cap, INSP_E_IMAGE, "image: empty (%dx%d)", img->width, img->height);
    if (img->channels != 1 && img->channels != 3)
        return fail(err, cap, INSP_E_IMAGE, "image: %d channels, expected 1 or 3", img->channels);
    int bps = INSP_PIXEL_BYTES(img->pixel);
    if (!bps)
        return fail(err, cap, INSP_E_IMAGE, "image: unknown pixel type %d", img->pixel);
    ptrdiff_t row = (ptrdiff_t)img->width * bps * (img->planar ? 1 : img->channels);
    if (img->row_stride == 0 || (img->row_stride < 0 ? -img->row_stride : img->row_stride) < row)
        return fail(err, cap, INSP_E_IMAGE, "image: row_stride %td, a row needs %td bytes",
                    img->row_stride, row);
    if (img->roi_w != 0 && (img->roi_x < 0 || img->roi_y < 0 || img->roi_w < 1 || img->roi_h < 1 ||
                            img->roi_x + img->roi_w > img->width ||
                            img->roi_y + img->roi_h > img->height))
        return fail(err, cap, INSP_E_IMAGE, "image: ROI %d,%d %dx%d outside the %dx%d image",
                    img->roi_x, img->roi_y, img->roi_w, img->roi_h, img->width, img->height);
    if (img->flags & ~(uint32_t)INSP_IMAGE_BGR)
        return fail(err, cap, INSP_E_IMAGE, "image: unknown flags 0x%x", img->flags);
    return INSP_OK;
}

static void result_release(insp_result *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_classes; i++)
        free(r->names[i]);
    free(r->map);
    free(r->labels);
    free(r);
}

static int by_max_desc(const void *a, const void *b)
{
    float x = ((const insp_region *)a)->max_score, y = ((const insp_region *)b)->max_score;
    return (x < y) - (x > y);
}

static insp_status tool_process(insp_tool *t, const insp_image *img, insp_result **out, char *err,
                                size_t cap)
{
    if (!out)
        return fail(err, cap, INSP_E_ARG, "tool_process: out is NULL");
    *out = NULL;
    if (!t || !img)
        return fail(err, cap, INSP_E_ARG, "tool_process: NULL argument");
    insp_status s = check_image(img, err, cap);
    if (s != INSP_OK)
        return s;
    float lo = img->value_min, hi = img->value_max;
    if (lo == 0 && hi == 0)
        hi = img->pixel == INSP_PIX_U8 ? 255.f : img->pixel == INSP_PIX_U16 ? 65535.f : 1.f;
    if (!(hi > lo))
        return fail(err, cap, INSP_E_IMAGE, "image: value range %g..%g is empty", lo, hi);

    insp_result *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, cap, INSP_E_NOMEM, "out of memory");
    r->roi_x = img->roi_w ? img->roi_x : 0;
    r->roi_y = img->roi_w ? img->roi_y : 0;
    r->w = img->roi_w ? img->roi_w : img->width;
    r->h = img->roi_w ? img->roi_h : img->height;
    r->n_classes = t->n_classes;
    r->image_threshold = t->image_threshold;
    r->pixel_threshold = t->pixel_threshold;
    for (int i = 0; i < t->n_classes; i++)
        r->names[i] = strdup(t->names[i]);
    r->map = calloc((size_t)r->w * (size_t)r->h, sizeof *r->map);
    r->labels = calloc((size_t)r->w * (size_t)r->h, sizeof *r->labels);
    if (!r->map || !r->labels) {
        result_release(r);
        return fail(err, cap, INSP_E_NOMEM, "out of memory");
    }
    int S = t->n_classes - 1;
    float vmax = 0;
    int64_t count[FAKE_MAX_CLASSES] = {0};
    double sum[FAKE_MAX_CLASSES] = {0};
    for (int y = 0; y < r->h; y++) {
        for (int x = 0; x < r->w; x++) {
            int ix = r->roi_x + x, iy = r->roi_y + y;
            if (img->mask && !img->mask[(ptrdiff_t)iy * img->mask_stride + ix])
                continue;
            float v = 4.0f * brightness(img, ix, iy, lo, hi);
            r->map[(size_t)y * r->w + x] = v;
            vmax = v > vmax ? v : vmax;
            if (v < t->pixel_threshold)
                continue;
            int k = 1 + (int)((int64_t)x * S / r->w);
            r->labels[(size_t)y * r->w + x] = (uint16_t)k;
            insp_region *g = &r->regions[k];
            if (count[k] == 0) {
                *g = (insp_region){ .class_id = k, .x = ix, .y = iy, .w = 1, .h = 1,
                                    .seed_x = ix, .seed_y = iy, .max_score = v };
            } else {
                int x1 = g->x + g->w > ix + 1 ? g->x + g->w : ix + 1;
                int y1 = g->y + g->h > iy + 1 ? g->y + g->h : iy + 1;
                g->x = g->x < ix ? g->x : ix;
                g->y = g->y < iy ? g->y : iy;
                g->w = x1 - g->x;
                g->h = y1 - g->y;
                g->max_score = v > g->max_score ? v : g->max_score;
            }
            count[k]++;
            sum[k] += v;
        }
    }
    for (int k = 1; k <= S; k++) {
        if (count[k] < t->min_region_area)
            continue;
        insp_region g = r->regions[k];
        g.area = count[k];
        g.mean_score = (float)(sum[k] / (double)count[k]);
        r->regions[r->n_regions++] = g;   /* n_regions <= k: never overwrites unread slots */
    }
    qsort(r->regions, (size_t)r->n_regions, sizeof r->regions[0], by_max_desc);
    r->score = vmax / 4.0f;
    r->score = r->score < 0.001f ? 0.001f : r->score > 0.999f ? 0.999f : r->score;
    r->decision = r->score >= t->image_threshold ? INSP_DECISION_NG : INSP_DECISION_OK;
    r->class_score[0] = 1.0f - r->score;
    for (int k = 1; k <= S; k++)
        r->class_score[k] = r->score / (float)S;
    *out = r;
    ok(err, cap);
    return INSP_OK;
}

static float result_score(const insp_result *r)
{
    return r ? r->score : NAN;
}

static int32_t result_decision(const insp_result *r)
{
    return r ? r->decision : INSP_DECISION_NG;
}

static insp_status result_thresholds(const insp_result *r, float *image_thr, float *pixel_thr)
{
    if (!r)
        return INSP_E_ARG;
    if (image_thr)
        *image_thr = r->image_threshold;
    if (pixel_thr)
        *pixel_thr = r->pixel_threshold;
    return INSP_OK;
}

static int32_t result_class_count(const insp_result *r)
{
    return r ? r->n_classes : 0;
}

static insp_status result_class(const insp_result *r, int32_t i, const char **name, float *score)
{
    if (!r || i < 0 || i >= r->n_classes)
        return INSP_E_ARG;
    if (name)
        *name = r->names[i];
    if (score)
        *score = r->class_score[i];
    return INSP_OK;
}

static insp_status map_view(const insp_result *r, insp_image *v, insp_pixel pixel, const void *data)
{
    if (!r || !v)
        return INSP_E_ARG;
    if (v->struct_size < INSP_IMAGE_SIZE_1_0)
        return INSP_E_ABI;
    uint32_t size = v->struct_size;
    memset(v, 0, INSP_IMAGE_SIZE_1_0);
    v->struct_size = size;
    v->width = v->roi_w = r->w;
    v->height = v->roi_h = r->h;
    v->roi_x = r->roi_x;
    v->roi_y = r->roi_y;
    v->channels = 1;
    v->pixel = pixel;
    v->row_stride = (ptrdiff_t)r->w * INSP_PIXEL_BYTES(pixel);
    v->data = data;
    return INSP_OK;
}

static insp_status result_anomaly_map(const insp_result *r, insp_image *v)
{
    return map_view(r, v, INSP_PIX_F32, r ? (const void *)r->map : NULL);
}

static insp_status result_label_map(const insp_result *r, insp_image *v)
{
    return map_view(r, v, INSP_PIX_U16, r ? (const void *)r->labels : NULL);
}

static int32_t result_region_count(const insp_result *r)
{
    return r ? r->n_regions : 0;
}

static insp_status result_region(const insp_result *r, int32_t i, insp_region *out)
{
    if (!r || !out || i < 0 || i >= r->n_regions)
        return INSP_E_ARG;
    if (out->struct_size < INSP_REGION_SIZE_1_0)
        return INSP_E_ABI;
    uint32_t size = out->struct_size;
    *out = r->regions[i];
    out->struct_size = size;
    return INSP_OK;
}

/* unused in the FAKE_NULL_MEMBER variant */
__attribute__((unused)) static insp_status result_timing(const insp_result *r, insp_timing *out)
{
    if (!r || !out)
        return INSP_E_ARG;
    if (out->struct_size < INSP_TIMING_SIZE_1_0)
        return INSP_E_ABI;
    out->preprocess_ms = 1;
    out->vision_ms = 2;
    out->head_ms = 3;
    out->post_ms = 4;
    out->total_ms = 10.5;
    return INSP_OK;
}

static const insp_api api = {
#ifdef FAKE_SHORT_SIZE
    .struct_size = offsetof(insp_api, tool_process),
#else
    .struct_size = INSP_API_SIZE_1_0,   /* the fake implements ABI 1.0 */
#endif
#ifdef FAKE_WRONG_MAJOR
    .abi_major = 2,
#else
    .abi_major = INSP_ABI_MAJOR,
#endif
    .abi_minor = 0,
    .caps = INSP_CAP_U16 | INSP_CAP_F32 | INSP_CAP_PLANAR | INSP_CAP_MASK | INSP_CAP_ROI |
            INSP_CAP_LABEL_MAP | INSP_CAP_REGIONS | INSP_CAP_CONCURRENT_PROCESS,
    .plugin_id = "org.dapo-inspect.fake",
    .plugin_version = "0.0.1",
    .plugin_description = "test double: brightness is anomaly",
    .status_name = status_name,
    .tool_create = tool_create,
    .tool_destroy = tool_destroy,
    .tool_param_schema = tool_param_schema,
    .tool_set_param = tool_set_param,
    .tool_get_param = tool_get_param,
    .tool_info = tool_info,
    .tool_class_count = tool_class_count,
    .tool_class_name = tool_class_name,
    .tool_process = tool_process,
    .result_release = result_release,
    .result_score = result_score,
    .result_decision = result_decision,
    .result_thresholds = result_thresholds,
    .result_class_count = result_class_count,
    .result_class = result_class,
    .result_anomaly_map = result_anomaly_map,
    .result_label_map = result_label_map,
    .result_region_count = result_region_count,
    .result_region = result_region,
#ifndef FAKE_NULL_MEMBER
    .result_timing = result_timing,
#endif
};

#if defined(FAKE_NO_SYMBOL)
#define ENTRY fake_entry_under_another_name
#elif defined(FAKE_V2_ONLY)
#define ENTRY insp_get_api_v2
#else
#define ENTRY insp_get_api_v1
#endif

INSP_EXPORT const insp_api *ENTRY(uint32_t host_major, uint32_t host_minor);
INSP_EXPORT const insp_api *ENTRY(uint32_t host_major, uint32_t host_minor)
{
    (void)host_minor;
#ifdef FAKE_REFUSE
    (void)host_major;
    (void)api;
    return NULL;
#else
    return host_major == INSP_ABI_MAJOR ? &api : NULL;
#endif
}
