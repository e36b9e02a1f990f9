/* The exported function table: argument and struct_size checks at the boundary, then the
 * tool / result implementation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "insp_tool.h"
#include "tool_internal.h"


static const char *status_name(insp_status s)
{
    static const char *const names[] = { "INSP_OK", "INSP_E_ARG", "INSP_E_UNSUPPORTED",
                                         "INSP_E_RECIPE", "INSP_E_MODEL", "INSP_E_IMAGE",
                                         "INSP_E_NOMEM", "INSP_E_INTERNAL", "INSP_E_ABI",
                                         "INSP_E_BUFFER", "INSP_E_CANCELLED" };
    return s >= 0 && s < (insp_status)(sizeof names / sizeof names[0]) ? names[s] : "INSP_E_UNKNOWN";
}

#define NOT_LIVE_TOOL "tool is not a live tool handle (already destroyed, or not from tool_create)"

static insp_status arg_fail(char *err, size_t cap, const char *msg)
{
    dp_copy_err(err, cap, msg);
    return INSP_E_ARG;
}

static insp_status tool_create(const insp_host *host, const char *recipe_path, insp_tool **out,
                               char *err, size_t cap)
{
    if (!out)
        return arg_fail(err, cap, "tool_create: out must not be NULL");
    *out = NULL;
    if (!recipe_path || !*recipe_path)
        return arg_fail(err, cap, "tool_create: recipe_path must be a file path");
    if (host && host->struct_size < INSP_HOST_SIZE_1_0) {
        dp_copy_err(err, cap, "tool_create: host->struct_size is smaller than insp_host of ABI 1.0");
        return INSP_E_ABI;
    }
    return dp_tool_create(host, recipe_path, out, err, cap);
}

/* A NULL, destroyed (while detectable) or foreign handle: no-op, as the header promises for
 * NULL; a second tool_destroy does not free twice. */
static void tool_destroy(insp_tool *t)
{
    if (dp_tool_live(t))
        dp_tool_destroy(t);
}

static const char *tool_param_schema(const insp_tool *t)
{
    return dp_tool_live(t) ? t->schema : NULL;
}

static insp_status tool_set_param(insp_tool *t, const char *key, const char *value, char *err,
                                  size_t cap)
{
    if (!dp_tool_live(t))
        return arg_fail(err, cap, t ? "tool_set_param: " NOT_LIVE_TOOL : "tool_set_param: tool is NULL");
    return dp_tool_set_param(t, key, value, err, cap);
}

static insp_status tool_get_param(const insp_tool *t, const char *key, char *buf, size_t buf_cap,
                                  char *err, size_t cap)
{
    if (!dp_tool_live(t))
        return arg_fail(err, cap, t ? "tool_get_param: " NOT_LIVE_TOOL : "tool_get_param: tool is NULL");
    return dp_tool_get_param(t, key, buf, buf_cap, err, cap);
}

static insp_status tool_info(const insp_tool *t, insp_tool_info *out, char *err, size_t cap)
{
    if (!out)
        return arg_fail(err, cap, "tool_info: tool and out must not be NULL");
    if (!dp_tool_live(t))
        return arg_fail(err, cap, t ? "tool_info: " NOT_LIVE_TOOL : "tool_info: tool is NULL");
    if (out->struct_size < INSP_TOOL_INFO_SIZE_1_0) {
        dp_copy_err(err, cap, "tool_info: out->struct_size is smaller than insp_tool_info of ABI 1.0");
        return INSP_E_ABI;
    }
    uint32_t size = out->struct_size;
    insp_tool_info info = { sizeof info, t->n_classes, t->recipe.input_size, t->recipe.input_size,
                            t->recipe.product ? t->recipe.product : "", t->model_desc, t->precision,
                            DP_ANOMALY_MAP_MAX, t->recipe.tiling == DP_TILING_GRID, t->threads,
                            t->runtime };
    memcpy(out, &info, size < sizeof info ? size : sizeof info);
    out->struct_size = size;
    dp_copy_err(err, cap, "");
    return INSP_OK;
}

static int32_t tool_class_count(const insp_tool *t)
{
    return dp_tool_live(t) ? t->n_classes : 0;
}

static const char *tool_class_name(const insp_tool *t, int32_t i)
{
    return dp_tool_live(t) && i >= 0 && i < t->n_classes ? t->class_names[i] : NULL;
}

static insp_status tool_process(insp_tool *t, const insp_image *img, insp_result **out, char *err,
                                size_t cap)
{
    if (!out)
        return arg_fail(err, cap, "tool_process: out must not be NULL");
    *out = NULL;
    if (!t || !img)
        return arg_fail(err, cap, "tool_process: tool and image must not be NULL");
    if (!dp_tool_live(t))
        return arg_fail(err, cap, "tool_process: " NOT_LIVE_TOOL);
    if (img->struct_size < INSP_IMAGE_SIZE_1_0) {
        dp_copy_err(err, cap, "tool_process: image->struct_size is smaller than insp_image of ABI 1.0");
        return INSP_E_ABI;
    }
    return dp_tool_process(t, img, out, err, cap);
}

/* NULL, released (while detectable) or foreign: no-op; a second release does not free twice. */
static void result_release(insp_result *r)
{
    if (dp_result_live(r))
        dp_result_free(r);
}

static float result_score(const insp_result *r)
{
    return dp_result_live(r) ? r->score : NAN;
}

static int32_t result_decision(const insp_result *r)
{
    return dp_result_live(r) ? r->decision : INSP_DECISION_NG;
}

static insp_status result_thresholds(const insp_result *r, float *image_thr, float *pixel_thr)
{
    if (!dp_result_live(r))
        return INSP_E_ARG;
    if (image_thr)
        *image_thr = r->image_threshold;
    if (pixel_thr)
        *pixel_thr = r->pixel_threshold;
    return INSP_OK;
}

static int32_t result_class_count(const insp_result *r)
{
    return dp_result_live(r) ? r->n_classes : 0;
}

static insp_status result_class(const insp_result *r, int32_t i, const char **name, float *score)
{
    if (!dp_result_live(r) || i < 0 || i >= r->n_classes)
        return INSP_E_ARG;
    if (name)
        *name = r->class_names[i];
    if (score)
        *score = r->class_scores[i];
    return INSP_OK;
}

static insp_status map_view(const insp_result *r, insp_image *v, insp_pixel pixel, const void *data)
{
    if (!dp_result_live(r) || !v)
        return INSP_E_ARG;
    if (v->struct_size < INSP_IMAGE_SIZE_1_0)
        return INSP_E_ABI;
    uint32_t size = v->struct_size;
    insp_image view;
    memset(&view, 0, sizeof view);
    view.struct_size = size;
    view.width = r->width;
    view.height = r->height;
    view.channels = 1;
    view.pixel = pixel;
    view.row_stride = (ptrdiff_t)r->width * INSP_PIXEL_BYTES(pixel);
    view.data = data;
    view.roi_x = r->roi_x;
    view.roi_y = r->roi_y;
    view.roi_w = r->width;
    view.roi_h = r->height;
    if (pixel == INSP_PIX_F32) {
        view.value_min = 0;
        view.value_max = DP_ANOMALY_MAP_MAX;
    }
    memcpy(v, &view, size < sizeof view ? size : sizeof view);
    return INSP_OK;
}

static insp_status result_anomaly_map(const insp_result *r, insp_image *v)
{
    return map_view(r, v, INSP_PIX_F32, dp_result_live(r) ? r->anomaly : NULL);
}

static insp_status result_label_map(const insp_result *r, insp_image *v)
{
    return map_view(r, v, INSP_PIX_U16, dp_result_live(r) ? r->label : NULL);
}

static insp_status result_type_map(const insp_result *r, insp_image *v)
{
    if (r && !r->types)
        return INSP_E_UNSUPPORTED;
    return map_view(r, v, INSP_PIX_U16, r ? r->types : NULL);
}

static int32_t result_region_count(const insp_result *r)
{
    return dp_result_live(r) ? r->n_regions : 0;
}

static insp_status result_region(const insp_result *r, int32_t i, insp_region *out)
{
    if (!dp_result_live(r) || !out || i < 0 || i >= r->n_regions)
        return INSP_E_ARG;
    if (out->struct_size < INSP_REGION_SIZE_1_0)
        return INSP_E_ABI;
    const dp_region *g = &r->regions[i];
    insp_region reg = { out->struct_size, g->class_id, g->x, g->y, g->w, g->h, g->seed_x, g->seed_y,
                        g->area, g->max_score, g->mean_score };
    uint32_t size = out->struct_size;
    memcpy(out, &reg, size < sizeof reg ? size : sizeof reg);
    return INSP_OK;
}

static insp_status result_timing(const insp_result *r, insp_timing *out)
{
    if (!dp_result_live(r) || !out)
        return INSP_E_ARG;
    if (out->struct_size < INSP_TIMING_SIZE_1_0)
        return INSP_E_ABI;
    uint32_t size = out->struct_size;
    insp_timing tm = r->timing;
    tm.struct_size = size;
    memcpy(out, &tm, size < sizeof tm ? size : sizeof tm);
    return INSP_OK;
}

static insp_status tool_cancel(insp_tool *t)
{
    if (!dp_tool_live(t))
        return INSP_E_ARG;
    dp_tool_cancel(t);
    return INSP_OK;
}

static const insp_api api_v1 = {
    .struct_size = sizeof(insp_api),
    .abi_major = INSP_ABI_MAJOR,
    .abi_minor = INSP_ABI_MINOR,
    .caps = INSP_CAP_U16 | INSP_CAP_F32 | INSP_CAP_PLANAR | INSP_CAP_MASK | INSP_CAP_ROI |
            INSP_CAP_LABEL_MAP | INSP_CAP_REGIONS | INSP_CAP_TILING | INSP_CAP_CONCURRENT_PROCESS |
            INSP_CAP_BGR,
    .plugin_id = "org.dapo-inspect.dapo",
    .plugin_version = DP_PLUGIN_VERSION,
    .plugin_description = "DAPO zero-shot defect detection (CLIP ViT + defect-aware prompts) on oneDNN",
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
    .result_timing = result_timing,
    .result_type_map = result_type_map,
    /* since ABI 1.1 */
    .tool_cancel = tool_cancel,
};

const insp_api *insp_get_api_v1(uint32_t host_major, uint32_t host_minor)
{
    (void)host_minor;
    return host_major == INSP_ABI_MAJOR ? &api_v1 : NULL;
}
