/* The HALCON extension package "dapoinspect": supply procedures of the inspection operators,
 * written against the HALCON Extension Package Interface (here: its stand-in halcon_shim.h).
 * They reach the plugin only through the plugin ABI (insp_tool.h) and the loader; nothing of
 * module/ is linked in. Operator descriptions: def/dapoinspect.def (kept equal to the table at
 * the end of this file by the driver test).
 *
 *   read_inspection_tool( : : RecipeFile, GenParamName, GenParamValue : ToolHandle)
 *   apply_inspection_tool(Image : AnomalyImage, DefectRegions, LabelImage : ToolHandle :
 *                         Score, Decision, ClassNames, ClassScores)
 *   set_inspection_tool_param( : : ToolHandle, GenParamName, GenParamValue : )
 *   get_inspection_tool_param( : : ToolHandle, GenParamName : GenParamValue)
 *   get_inspection_tool_info( : : ToolHandle, InfoName : InfoValue)
 *   clear_inspection_tool( : : ToolHandle : )
 *
 * Reentrant: no mutable global state. A tool handle carries a read-write lock: processing and
 * queries share it (exclusive processing when the plugin lacks INSP_CAP_CONCURRENT_PROCESS),
 * parameter changes take it exclusively. apply_inspection_tool must not be split by HALCON's
 * automatic parallelisation: the model must see the whole domain (the plugin tiles itself).
 */
#define _GNU_SOURCE           /* dladdr */
#include "dapoinspect_ops.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insp_tool.h"
#include "loader.h"

/* The handle's data. */
typedef struct dapo_tool {
    insp_module mod;          /* the plugin, loaded for this tool (dlopen is reference counted) */
    insp_tool *tool;
    pthread_rwlock_t lock;
    int concurrent;           /* plugin allows overlapping process calls on one tool */
    double value_min, value_max;   /* adapter parameters; both 0 = by pixel type */
} dapo_tool;

static Herror tool_destructor(Hproc_handle ph, void *data)
{
    dapo_tool *t = data;
    if (!t)
        return H_MSG_OK;
    if (t->tool)
        t->mod.api->tool_destroy(t->tool);
    insp_loader_close(&t->mod);
    pthread_rwlock_destroy(&t->lock);
    return HFree(ph, t);
}

static const HHandleInfo tool_handle_info =
    HANDLE_INFO_INITIALIZER_NOSER("dapo", "inspection_tool", tool_destructor, NULL, NULL);

const HHandleInfo *dapoinspect_handle_info(void)
{
    return &tool_handle_info;
}

/* ------------------------------------------------------------------------------------------
 * Errors: HSetErrText + code.
 */

static Herror fail(Herror code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static Herror fail(Herror code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    HSetErrText(buf);
    return code;
}

static Herror status_code(insp_status s)
{
    return DAPO_ERR_BASE + (s > 0 && s < 100 ? s : INSP_E_INTERNAL);
}

const char *dapoinspect_error_text(Herror code)
{
    switch (code) {
    case DAPO_ERR_BASE + INSP_E_ARG: return "dapo-inspect: invalid argument or parameter";
    case DAPO_ERR_BASE + INSP_E_UNSUPPORTED: return "dapo-inspect: request not supported by the plugin";
    case DAPO_ERR_BASE + INSP_E_RECIPE: return "dapo-inspect: recipe missing, unreadable or invalid";
    case DAPO_ERR_BASE + INSP_E_MODEL: return "dapo-inspect: model files missing or invalid";
    case DAPO_ERR_BASE + INSP_E_IMAGE: return "dapo-inspect: image refused by the plugin";
    case DAPO_ERR_BASE + INSP_E_NOMEM: return "dapo-inspect: out of memory or size limit";
    case DAPO_ERR_BASE + INSP_E_INTERNAL: return "dapo-inspect: internal error";
    case DAPO_ERR_BASE + INSP_E_ABI: return "dapo-inspect: plugin interface version mismatch";
    case DAPO_ERR_BASE + INSP_E_BUFFER: return "dapo-inspect: value too long";
    case DAPO_ERR_PLUGIN: return "dapo-inspect: plugin library not found or not loadable";
    default: return NULL;
    }
}

/* Checks the handle and names what is wrong with it. */
static Herror get_tool(Hproc_handle ph, const char *op, int par, dapo_tool **t)
{
    void *data = NULL;
    Herror e = HGetCElemH1(ph, par, &tool_handle_info, &data);
    switch (e) {
    case H_MSG_OK:
        *t = data;
        return H_MSG_OK;
    case H_ERR_HANDLE_CLEARED:
        return fail(e, "%s: ToolHandle was cleared (clear_inspection_tool or clear_handle); "
                    "read the tool again", op);
    case H_ERR_WRONG_HANDLE_TYPE:
        return fail(e, "%s: ToolHandle is not an inspection tool (a handle of another type)", op);
    case H_ERR_WHDL:
    case H_ERR_HANDLE_NULL:
        return fail(e, "%s: ToolHandle is not a valid handle", op);
    default:
        if (e == H_ERR_WIPN(par))
            return fail(e, "%s: ToolHandle must be exactly one handle", op);
        if (e == H_ERR_WIPT(par))
            return fail(e, "%s: ToolHandle is not a handle", op);
        return e;
    }
}

/* A control value as the plugin's string form (C locale: '.' decimal point always). */
static int value_string(const Hcpar *p, char *buf, size_t cap)
{
    switch (p->type) {
    case LONG_PAR:
        snprintf(buf, cap, "%lld", (long long)p->par.l);
        return 0;
    case DOUBLE_PAR:
        snprintf(buf, cap, "%.17g", p->par.d);
        for (char *c = buf; *c; c++)
            if (*c == ',')
                *c = '.';
        return 0;
    case STRING_PAR:
        snprintf(buf, cap, "%s", p->par.s);
        return 0;
    default:
        return -1;
    }
}

/* Adapter-level parameters (not the plugin's). */
static int is_range_param(const char *name)
{
    return strcmp(name, "image_value_min") == 0 || strcmp(name, "image_value_max") == 0;
}

static Herror number_of(const Hcpar *p, double *out)
{
    if (p->type == LONG_PAR)
        *out = (double)p->par.l;
    else if (p->type == DOUBLE_PAR)
        *out = p->par.d;
    else
        return -1;
    return isfinite(*out) ? 0 : -1;
}

/* Sets one parameter on a tool (plugin or adapter). Refusals: unknown name -> H_ERR_WIPV of
 * name_par, bad value -> H_ERR_WIPV of value_par. */
static Herror set_one(const char *op, dapo_tool *t, const char *name, const Hcpar *value,
                      int name_par, int value_par)
{
    if (is_range_param(name)) {
        double v;
        if (number_of(value, &v) != 0)
            return fail(H_ERR_WIPV(value_par), "%s: %s needs a number", op, name);
        if (strcmp(name, "image_value_min") == 0)
            t->value_min = v;
        else
            t->value_max = v;
        return H_MSG_OK;
    }
    const insp_api *A = t->mod.api;
    char cur[INSP_PARAM_VALUE_SIZE], err[INSP_ERRBUF_SIZE], val[256];
    if (A->tool_get_param(t->tool, name, cur, sizeof cur, err, sizeof err) == INSP_E_ARG)
        return fail(H_ERR_WIPV(name_par), "%s: unknown parameter '%s' (%s)", op, name, err);
    if (value_string(value, val, sizeof val) != 0)
        return fail(H_ERR_WIPT(value_par), "%s: value of %s must be a number or a string", op,
                    name);
    insp_status s = A->tool_set_param(t->tool, name, val, err, sizeof err);
    if (s == INSP_E_ARG)
        return fail(H_ERR_WIPV(value_par), "%s: %s", op, err);
    if (s != INSP_OK)
        return fail(status_code(s), "%s: %s", op, err);
    return H_MSG_OK;
}

/* ------------------------------------------------------------------------------------------
 * read_inspection_tool( : : RecipeFile, GenParamName, GenParamValue : ToolHandle)
 */

/* Default plugin: $DAPO_INSPECT_PLUGIN, else libdapo_inspect.so beside this operator library
 * (lib/<arch>/ of the package), else the installed plugin (DAPO_PLUGIN_DEFAULT, if built in). */
static void default_plugin(char *buf, size_t cap)
{
    const char *env = getenv("DAPO_INSPECT_PLUGIN");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)&tool_handle_info, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            snprintf(buf, cap, "%.*s/libdapo_inspect.so", (int)(slash - info.dli_fname),
                     info.dli_fname);
            FILE *f = fopen(buf, "rb");
            if (f) {
                fclose(f);
                return;
            }
        }
    }
#ifdef DAPO_PLUGIN_DEFAULT
    snprintf(buf, cap, "%s", DAPO_PLUGIN_DEFAULT);
#else
    snprintf(buf, cap, "libdapo_inspect.so");
#endif
}

static Herror CIPReadInspectionTool(Hproc_handle ph)
{
    static const char op[] = "read_inspection_tool";
    char *const *recipe, *const *names;
    const Hcpar *values;
    INT4_8 n_recipe, n_names, n_values;
    HCkP(HGetPElemS(ph, 1, CONV_NONE, &recipe, &n_recipe));
    HCkP(HGetPElemS(ph, 2, CONV_NONE, &names, &n_names));
    HCkP(HGetPPar(ph, 3, &values, &n_values));
    if (n_recipe != 1)
        return fail(H_ERR_WIPN(1), "%s: RecipeFile must be one file name", op);
    if (!recipe[0][0])
        return fail(H_ERR_WIPV(1), "%s: RecipeFile is empty", op);
    if (n_names != n_values)
        return fail(H_ERR_WIPN(3), "%s: %lld GenParamName but %lld GenParamValue", op,
                    (long long)n_names, (long long)n_values);

    char plugin[4096];
    default_plugin(plugin, sizeof plugin);
    for (INT4_8 i = 0; i < n_names; i++)
        if (strcmp(names[i], "plugin") == 0) {
            if (values[i].type != STRING_PAR || !values[i].par.s[0])
                return fail(H_ERR_WIPV(3), "%s: 'plugin' needs the path of the plugin .so", op);
            snprintf(plugin, sizeof plugin, "%s", values[i].par.s);
        }

    dapo_tool *t;
    HCkP(HAlloc(ph, sizeof *t, (void **)&t));
    if (pthread_rwlock_init(&t->lock, NULL) != 0) {
        HFree(ph, t);
        return H_ERR_MEM;
    }
    char err[INSP_ERRBUF_SIZE];
    insp_status s = insp_loader_open(plugin, &t->mod, err, sizeof err);
    if (s != INSP_OK) {
        tool_destructor(ph, t);
        return fail(DAPO_ERR_PLUGIN, "%s: %s (set GenParam 'plugin' or DAPO_INSPECT_PLUGIN)", op,
                    err);
    }
    t->concurrent = (t->mod.api->caps & INSP_CAP_CONCURRENT_PROCESS) != 0;
    s = t->mod.api->tool_create(NULL, recipe[0], &t->tool, err, sizeof err);
    if (s != INSP_OK) {
        tool_destructor(ph, t);
        return fail(status_code(s), "%s: %s", op, err);
    }
    for (INT4_8 i = 0; i < n_names; i++) {
        if (strcmp(names[i], "plugin") == 0)
            continue;
        Herror e = set_one(op, t, names[i], &values[i], 2, 3);
        if (e != H_MSG_OK) {
            tool_destructor(ph, t);
            return e;
        }
    }
    void **slot;
    Herror e = HAllocOutputHandle(ph, 1, &slot, &tool_handle_info);
    if (e != H_MSG_OK) {
        tool_destructor(ph, t);
        return e;
    }
    *slot = t;                /* the handle owns the tool from here on */
    return H_MSG_OK;
}

/* ------------------------------------------------------------------------------------------
 * apply_inspection_tool(Image : AnomalyImage, DefectRegions, LabelImage : ToolHandle :
 *                       Score, Decision, ClassNames, ClassScores)
 */

static insp_pixel pixel_of(int kind)
{
    return kind == BYTE_IMAGE ? INSP_PIX_U8 : kind == UINT2_IMAGE ? INSP_PIX_U16
         : kind == FLOAT_IMAGE ? INSP_PIX_F32 : 0;
}

/* Builds the plugin's view of a HALCON image: planar channels, the domain as ROI (+ mask). */
static Herror image_view(Hproc_handle ph, const char *op, const dapo_tool *t, Hkey obj,
                         const Hrlregion **domain, insp_image *v)
{
    Hkey k;
    int nch;
    HCkP(HNumOfChannels(ph, 1, 1, &nch));
    if (nch != 1 && nch != 3)
        return fail(H_ERR_WRNUMCHAN, "%s: Image has %d channels; 1 (grey) or 3 (RGB) needed",
                    op, nch);
    Himage ch[3];
    for (int c = 0; c < nch; c++) {
        HCkP(HGetComp(ph, obj, CHANNEL_1 + c, &k));
        HCkP(HGetImage(ph, k, &ch[c]));
        if (!pixel_of(ch[c].kind) || ch[c].kind != ch[0].kind)
            return fail(H_ERR_WITFO, "%s: Image: pixel type must be byte, uint2 or real, the "
                        "same in every channel", op);
    }
    HCkP(HGetFDRL(ph, obj, domain));
    const Hrlregion *d = *domain;
    if (d->num == 0)
        return fail(H_ERR_EDEF, "%s: Image has an empty domain: nothing to inspect", op);

    const int W = ch[0].width, H = ch[0].height;
    const size_t bpp = (size_t)INSP_PIXEL_BYTES(pixel_of(ch[0].kind));
    const size_t plane = (size_t)W * H * bpp;
    memset(v, 0, sizeof *v);
    v->struct_size = sizeof *v;
    v->width = W;
    v->height = H;
    v->channels = nch;
    v->pixel = pixel_of(ch[0].kind);
    v->planar = nch == 3;
    v->row_stride = (ptrdiff_t)(W * bpp);
    /* HALCON keeps each channel in its own block: pass them as planes of one buffer. */
    const unsigned char *p0 = (const unsigned char *)(ch[0].kind == BYTE_IMAGE ? (void *)ch[0].pixel.b
                              : ch[0].kind == UINT2_IMAGE ? (void *)ch[0].pixel.u.p : (void *)ch[0].pixel.f);
    if (nch == 1) {
        v->data = p0;
    } else {
        unsigned char *buf;
        HCkP(HAllocTmp(ph, (void **)&buf, 3 * plane));
        for (int c = 0; c < 3; c++) {
            const void *src = ch[c].kind == BYTE_IMAGE ? (void *)ch[c].pixel.b
                            : ch[c].kind == UINT2_IMAGE ? (void *)ch[c].pixel.u.p : (void *)ch[c].pixel.f;
            memcpy(buf + c * plane, src, plane);
        }
        v->data = buf;
        v->plane_stride = (ptrdiff_t)plane;
    }
    /* value range: the tool's image_value_min/max, else uint2's number of used bits */
    if (t->value_min != 0 || t->value_max != 0) {
        v->value_min = (float)t->value_min;
        v->value_max = (float)t->value_max;
    } else if (ch[0].kind == UINT2_IMAGE && ch[0].pixel.u.num_bits > 0 &&
               ch[0].pixel.u.num_bits < 16) {
        v->value_min = 0;
        v->value_max = (float)((1 << ch[0].pixel.u.num_bits) - 1);
    }

    /* domain -> ROI (its bounding box inside the image) and, unless it fills that box, a mask */
    long long x0 = W, y0 = H, x1 = -1, y1 = -1, area = 0;
    for (INT4_8 i = 0; i < d->num; i++) {
        const Hrun *r = &d->rl[i];
        long long l = r->l, cb = r->cb < 0 ? 0 : r->cb, ce = r->ce >= W ? W - 1 : r->ce;
        if (l < 0 || l >= H || ce < cb)
            continue;
        x0 = cb < x0 ? cb : x0;
        x1 = ce > x1 ? ce : x1;
        y0 = l < y0 ? l : y0;
        y1 = l > y1 ? l : y1;
        area += ce - cb + 1;
    }
    if (area == 0)
        return fail(H_ERR_EDEF, "%s: Image's domain lies outside the image", op);
    if (area == (long long)W * H)
        return H_MSG_OK;      /* full domain: the whole image, no ROI, no mask */
    v->roi_x = (int32_t)x0;
    v->roi_y = (int32_t)y0;
    v->roi_w = (int32_t)(x1 - x0 + 1);
    v->roi_h = (int32_t)(y1 - y0 + 1);
    if (area == (long long)v->roi_w * v->roi_h)
        return H_MSG_OK;      /* a rectangle: the ROI says it all */
    uint8_t *mask;
    HCkP(HAllocTmp(ph, (void **)&mask, (size_t)W * H));
    for (INT4_8 i = 0; i < d->num; i++) {
        const Hrun *r = &d->rl[i];
        long long l = r->l, cb = r->cb < 0 ? 0 : r->cb, ce = r->ce >= W ? W - 1 : r->ce;
        if (l >= 0 && l < H && ce >= cb)
            memset(mask + l * W + cb, 1, (size_t)(ce - cb + 1));
    }
    v->mask = mask;
    v->mask_stride = W;
    return H_MSG_OK;
}

/* One output image (real or uint2) of the input's size: the map copied to its place, zero
 * elsewhere, domain = the input's domain. */
static Herror put_map(Hproc_handle ph, int par, int kind, const insp_image *map, int W, int H,
                      const Hrlregion *domain)
{
    Himage out;
    HCkP(HNewImage(ph, &out, kind, W, H));
    size_t bpp = kind == FLOAT_IMAGE ? 4 : 2;
    unsigned char *dst = kind == FLOAT_IMAGE ? (unsigned char *)out.pixel.f
                                             : (unsigned char *)out.pixel.u.p;
    if (kind == UINT2_IMAGE)
        out.pixel.u.num_bits = 16;
    for (int y = 0; y < map->height; y++)
        memcpy(dst + ((size_t)(map->roi_y + y) * W + map->roi_x) * bpp,
               (const unsigned char *)map->data + (ptrdiff_t)y * map->row_stride,
               (size_t)map->width * bpp);
    Hkey k;
    HCkP(HCrObj(ph, par, &k));
    HCkP(HPutDImage(ph, k, CHANNEL_1, &out, false, NULL));
    return HPutDRL(ph, k, domain, NULL);
}

/* DefectRegions: one region per defect type 1..n_types, from the label map. */
static Herror put_regions(Hproc_handle ph, const insp_image *labels, int n_types)
{
    INT4_8 *count;
    HCkP(HAllocTmp(ph, (void **)&count, (size_t)(n_types + 1) * sizeof *count));
    for (int pass = 0; pass < 2; pass++) {
        Hrlregion **reg = NULL;
        if (pass == 1) {
            HCkP(HAllocTmp(ph, (void **)&reg, (size_t)(n_types + 1) * sizeof *reg));
            for (int k = 1; k <= n_types; k++)
                HCkP(HAllocRLNumTmp(ph, &reg[k], count[k]));
        }
        for (int y = 0; y < labels->height; y++) {
            const uint16_t *row = (const uint16_t *)((const unsigned char *)labels->data +
                                                     (ptrdiff_t)y * labels->row_stride);
            for (int x = 0; x < labels->width;) {
                uint16_t k = row[x];
                int x_end = x;
                while (x_end + 1 < labels->width && row[x_end + 1] == k)
                    x_end++;
                if (k >= 1 && k <= n_types) {
                    if (pass == 0)
                        count[k]++;
                    else
                        reg[k]->rl[reg[k]->num++] = (Hrun){labels->roi_y + y, labels->roi_x + x,
                                                           labels->roi_x + x_end};
                }
                x = x_end + 1;
            }
        }
        if (pass == 1)
            for (int k = 1; k <= n_types; k++) {
                Hkey key;
                HCkP(HCrObj(ph, 2, &key));
                HCkP(HPutDRL(ph, key, reg[k], NULL));
            }
    }
    return H_MSG_OK;
}

static Herror CIPApplyInspectionTool(Hproc_handle ph)
{
    static const char op[] = "apply_inspection_tool";
    dapo_tool *t;
    HCkP(get_tool(ph, op, 1, &t));
    INT4_8 n_obj;
    HCkP(HGetObjNum(ph, 1, &n_obj));
    if (n_obj != 1)
        return fail(H_ERR_WION(1), "%s: Image must be exactly one image object", op);
    Hkey obj;
    HCkP(HGetObj(ph, 1, 1, &obj));
    const Hrlregion *domain;
    insp_image v;
    HCkP(image_view(ph, op, t, obj, &domain, &v));

    const insp_api *A = t->mod.api;
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    if (t->concurrent)
        pthread_rwlock_rdlock(&t->lock);
    else
        pthread_rwlock_wrlock(&t->lock);
    insp_status s = A->tool_process(t->tool, &v, &r, err, sizeof err);
    pthread_rwlock_unlock(&t->lock);
    if (s != INSP_OK)
        return fail(status_code(s), "%s: %s", op, err);

    insp_image map = {.struct_size = sizeof map}, lab = {.struct_size = sizeof lab};
    Herror e = H_MSG_OK;
    if ((s = A->result_anomaly_map(r, &map)) != INSP_OK ||
        (s = A->result_label_map(r, &lab)) != INSP_OK)
        e = fail(status_code(s), "%s: the plugin returned no maps", op);
    const int nc = A->result_class_count(r);
    if (e == H_MSG_OK)
        e = put_map(ph, 1, FLOAT_IMAGE, &map, v.width, v.height, domain);
    if (e == H_MSG_OK)
        e = put_regions(ph, &lab, nc - 1);
    if (e == H_MSG_OK)
        e = put_map(ph, 3, UINT2_IMAGE, &lab, v.width, v.height, domain);
    if (e == H_MSG_OK) {
        double score = A->result_score(r);
        int32_t d = A->result_decision(r);
        const char *dec = d == INSP_DECISION_OK ? "OK" : d == INSP_DECISION_UNSURE ? "UNSURE" : "NG";
        char **names = NULL;
        double *scores = NULL;
        e = HAllocTmp(ph, (void **)&names, (size_t)(nc > 0 ? nc : 1) * sizeof *names);
        if (e == H_MSG_OK)
            e = HAllocTmp(ph, (void **)&scores, (size_t)(nc > 0 ? nc : 1) * sizeof *scores);
        for (int i = 0; e == H_MSG_OK && i < nc; i++) {
            const char *name = NULL;
            float cs = 0;
            A->result_class(r, i, &name, &cs);
            names[i] = (char *)(name ? name : "");
            scores[i] = cs;
        }
        if (e == H_MSG_OK)
            e = HPutElem(ph, 1, &score, 1, DOUBLE_PAR);
        if (e == H_MSG_OK)
            e = HPutElem(ph, 2, &dec, 1, STRING_PAR);
        if (e == H_MSG_OK)
            e = HPutElem(ph, 3, names, nc, STRING_PAR);
        if (e == H_MSG_OK)
            e = HPutElem(ph, 4, scores, nc, DOUBLE_PAR);
    }
    A->result_release(r);
    return e;
}

/* ------------------------------------------------------------------------------------------
 * set_inspection_tool_param( : : ToolHandle, GenParamName, GenParamValue : )
 */

static Herror CIPSetInspectionToolParam(Hproc_handle ph)
{
    static const char op[] = "set_inspection_tool_param";
    dapo_tool *t;
    HCkP(get_tool(ph, op, 1, &t));
    char *const *names;
    const Hcpar *values;
    INT4_8 n, nv;
    HCkP(HGetPElemS(ph, 2, CONV_NONE, &names, &n));
    HCkP(HGetPPar(ph, 3, &values, &nv));
    if (n != nv)
        return fail(H_ERR_WIPN(3), "%s: %lld GenParamName but %lld GenParamValue", op,
                    (long long)n, (long long)nv);
    const insp_api *A = t->mod.api;
    /* all or nothing: remember the current values, restore them if one setting fails */
    char (*old)[INSP_PARAM_VALUE_SIZE];
    HCkP(HAllocTmp(ph, (void **)&old, (size_t)(n > 0 ? n : 1) * sizeof *old));
    pthread_rwlock_wrlock(&t->lock);
    double vmin = t->value_min, vmax = t->value_max;
    Herror e = H_MSG_OK;
    INT4_8 done = 0;
    for (INT4_8 i = 0; i < n && e == H_MSG_OK; i++, done++) {
        char err[INSP_ERRBUF_SIZE];
        old[i][0] = '\0';
        if (!is_range_param(names[i]))
            A->tool_get_param(t->tool, names[i], old[i], sizeof old[i], err, sizeof err);
        e = set_one(op, t, names[i], &values[i], 2, 3);
    }
    if (e != H_MSG_OK) {
        for (INT4_8 i = done - 1; i-- > 0;) {
            char err[INSP_ERRBUF_SIZE];
            if (!is_range_param(names[i]) && old[i][0])
                A->tool_set_param(t->tool, names[i], old[i], err, sizeof err);
        }
        t->value_min = vmin;
        t->value_max = vmax;
    }
    pthread_rwlock_unlock(&t->lock);
    return e;
}

/* ------------------------------------------------------------------------------------------
 * get_inspection_tool_param( : : ToolHandle, GenParamName : GenParamValue)
 */

/* A plugin value string as a HALCON value: integer, real, or string. */
static Hcpar typed_value(Hproc_handle ph, const char *s)
{
    Hcpar p = {.type = STRING_PAR};
    p.par.s = (char *)s;
    char *end;
    long long l = strtoll(s, &end, 10);
    if (*s && !*end) {
        p.type = LONG_PAR;
        p.par.l = l;
        return p;
    }
    double d = strtod(s, &end);   /* the plugin writes C-locale numbers */
    if (*s && !*end && isfinite(d)) {
        p.type = DOUBLE_PAR;
        p.par.d = d;
    }
    return p;
}

static Herror CIPGetInspectionToolParam(Hproc_handle ph)
{
    static const char op[] = "get_inspection_tool_param";
    dapo_tool *t;
    HCkP(get_tool(ph, op, 1, &t));
    char *const *names;
    INT4_8 n;
    HCkP(HGetPElemS(ph, 2, CONV_NONE, &names, &n));
    Hcpar *out;
    char (*buf)[INSP_PARAM_VALUE_SIZE];
    HCkP(HAllocTmp(ph, (void **)&out, (size_t)(n > 0 ? n : 1) * sizeof *out));
    HCkP(HAllocTmp(ph, (void **)&buf, (size_t)(n > 0 ? n : 1) * sizeof *buf));
    const insp_api *A = t->mod.api;
    Herror e = H_MSG_OK;
    pthread_rwlock_rdlock(&t->lock);
    for (INT4_8 i = 0; i < n && e == H_MSG_OK; i++) {
        if (is_range_param(names[i])) {
            out[i].type = DOUBLE_PAR;
            out[i].par.d = strcmp(names[i], "image_value_min") == 0 ? t->value_min : t->value_max;
            continue;
        }
        char err[INSP_ERRBUF_SIZE];
        insp_status s = A->tool_get_param(t->tool, names[i], buf[i], sizeof buf[i], err, sizeof err);
        if (s == INSP_E_ARG)
            e = fail(H_ERR_WIPV(2), "%s: unknown parameter '%s' (%s)", op, names[i], err);
        else if (s != INSP_OK)
            e = fail(status_code(s), "%s: %s", op, err);
        else
            out[i] = typed_value(ph, buf[i]);
    }
    pthread_rwlock_unlock(&t->lock);
    if (e != H_MSG_OK)
        return e;
    return HPutCPar(ph, 1, out, n);
}

/* ------------------------------------------------------------------------------------------
 * get_inspection_tool_info( : : ToolHandle, InfoName : InfoValue)
 */

static const char *const info_names[] = {
    "class_names", "defect_types", "product", "model", "precision", "input_width",
    "input_height", "tiling", "map_max", "param_names", "param_schema", "plugin_id",
    "plugin_version", "plugin_path", "info_names",
};

static Herror CIPGetInspectionToolInfo(Hproc_handle ph)
{
    static const char op[] = "get_inspection_tool_info";
    dapo_tool *t;
    HCkP(get_tool(ph, op, 1, &t));
    char *const *names;
    INT4_8 n;
    HCkP(HGetPElemS(ph, 2, CONV_NONE, &names, &n));
    if (n != 1)
        return fail(H_ERR_WIPN(2), "%s: InfoName must be one name", op);
    const char *name = names[0];
    const insp_api *A = t->mod.api;
    insp_tool_info info = {.struct_size = sizeof info};
    char err[INSP_ERRBUF_SIZE];
    insp_status s = A->tool_info(t->tool, &info, err, sizeof err);
    if (s != INSP_OK)
        return fail(status_code(s), "%s: %s", op, err);
    const size_t n_info = sizeof info_names / sizeof info_names[0];
    if (strcmp(name, "class_names") == 0 || strcmp(name, "defect_types") == 0) {
        int first = strcmp(name, "defect_types") == 0;
        int nc = A->tool_class_count(t->tool);
        const char **v;
        HCkP(HAllocTmp(ph, (void **)&v, (size_t)(nc > 0 ? nc : 1) * sizeof *v));
        for (int i = first; i < nc; i++)
            v[i - first] = A->tool_class_name(t->tool, i);
        return HPutElem(ph, 1, v, nc - first, STRING_PAR);
    }
    if (strcmp(name, "param_names") == 0) {
        /* names from the plugin's JSON schema: every "name": "..." member */
        const char *schema = A->tool_param_schema(t->tool);
        size_t cap = 1;
        for (const char *p = schema; (p = strstr(p, "\"name\"")); p++)
            cap++;
        char **v, *copy;
        HCkP(HAllocTmp(ph, (void **)&v, cap * sizeof *v));
        HCkP(HAllocTmp(ph, (void **)&copy, strlen(schema) + 1));
        strcpy(copy, schema);
        INT4_8 k = 0;
        for (char *p = copy; (p = strstr(p, "\"name\"")) != NULL;) {
            p += 6;
            while (*p == ' ' || *p == ':')
                p++;
            if (*p != '"')
                continue;
            char *end = strchr(++p, '"');
            if (!end)
                break;
            *end = '\0';
            v[k++] = p;
            p = end + 1;
        }
        v[k++] = (char *)"image_value_min";
        v[k++] = (char *)"image_value_max";
        (void)cap;
        return HPutElem(ph, 1, v, k, STRING_PAR);
    }
    if (strcmp(name, "info_names") == 0)
        return HPutElem(ph, 1, info_names, (INT4_8)n_info, STRING_PAR);
    const char *str = NULL;
    INT4_8 l = 0;
    double d = 0;
    int type = STRING_PAR;
    if (strcmp(name, "product") == 0) str = info.product;
    else if (strcmp(name, "model") == 0) str = info.model;
    else if (strcmp(name, "precision") == 0) str = info.precision;
    else if (strcmp(name, "param_schema") == 0) str = A->tool_param_schema(t->tool);
    else if (strcmp(name, "plugin_id") == 0) str = A->plugin_id;
    else if (strcmp(name, "plugin_version") == 0) str = A->plugin_version;
    else if (strcmp(name, "plugin_path") == 0) str = t->mod.path;
    else if (strcmp(name, "input_width") == 0) { type = LONG_PAR; l = info.input_width; }
    else if (strcmp(name, "input_height") == 0) { type = LONG_PAR; l = info.input_height; }
    else if (strcmp(name, "tiling") == 0) str = info.tiling ? "grid" : "none";
    else if (strcmp(name, "map_max") == 0) { type = DOUBLE_PAR; d = info.map_max; }
    else
        return fail(H_ERR_WIPV(2), "%s: unknown InfoName '%s' (get_inspection_tool_info(Tool, "
                    "'info_names', Names) lists them)", op, name);
    if (type == LONG_PAR)
        return HPutElem(ph, 1, &l, 1, LONG_PAR);
    if (type == DOUBLE_PAR)
        return HPutElem(ph, 1, &d, 1, DOUBLE_PAR);
    const char *sv = str ? str : "";
    return HPutElem(ph, 1, &sv, 1, STRING_PAR);
}

/* ------------------------------------------------------------------------------------------
 * clear_inspection_tool( : : ToolHandle : )
 */

static Herror CIPClearInspectionTool(Hproc_handle ph)
{
    static const char op[] = "clear_inspection_tool";
    Herror e = HClearCElemH(ph, 1, &tool_handle_info);
    if (e == H_ERR_HANDLE_CLEARED)
        return fail(e, "%s: ToolHandle was already cleared", op);
    if (e == H_ERR_WRONG_HANDLE_TYPE)
        return fail(e, "%s: ToolHandle is not an inspection tool", op);
    if (e == H_ERR_WHDL || e == H_ERR_HANDLE_NULL)
        return fail(e, "%s: ToolHandle is not a valid handle", op);
    return e;
}

/* ------------------------------------------------------------------------------------------
 * The operator table (what hcomp generates from def/dapoinspect.def).
 */

#define P(name, sem, mask, multi) {name, sem, mask, multi, 0}
#define TOOL P("ToolHandle", "inspection_tool", HANDLE_PAR, 0)
#define IMG_TYPES (BYTE_IMAGE | UINT2_IMAGE | FLOAT_IMAGE)
#define VALUE_TYPES (LONG_PAR | DOUBLE_PAR | STRING_PAR)

static const hs_operator operators[] = {
    {"read_inspection_tool", "CIPReadInspectionTool", CIPReadInspectionTool, 0, 0, 3, 1,
     .in_ctrl = {P("RecipeFile", "filename.read", STRING_PAR, 0),
                 P("GenParamName", "attribute.name", STRING_PAR, 1),
                 P("GenParamValue", "attribute.value", VALUE_TYPES, 1)},
     .out_ctrl = {TOOL}},
    {"apply_inspection_tool", "CIPApplyInspectionTool", CIPApplyInspectionTool, 1, 3, 1, 4,
     .in_obj = {{"Image", "image", IMG_TYPES, 0, 1}},
     .out_obj = {P("AnomalyImage", "image", FLOAT_IMAGE, 0),
                 P("DefectRegions", "region", 0, 1),
                 P("LabelImage", "image", UINT2_IMAGE, 0)},
     .in_ctrl = {TOOL},
     .out_ctrl = {P("Score", "real", DOUBLE_PAR, 0), P("Decision", "string", STRING_PAR, 0),
                  P("ClassNames", "string", STRING_PAR, 1),
                  P("ClassScores", "real", DOUBLE_PAR, 1)}},
    {"set_inspection_tool_param", "CIPSetInspectionToolParam", CIPSetInspectionToolParam, 0, 0,
     3, 0,
     .in_ctrl = {TOOL, P("GenParamName", "attribute.name", STRING_PAR, 1),
                 P("GenParamValue", "attribute.value", VALUE_TYPES, 1)}},
    {"get_inspection_tool_param", "CIPGetInspectionToolParam", CIPGetInspectionToolParam, 0, 0,
     2, 1,
     .in_ctrl = {TOOL, P("GenParamName", "attribute.name", STRING_PAR, 1)},
     .out_ctrl = {P("GenParamValue", "attribute.value", VALUE_TYPES, 1)}},
    {"get_inspection_tool_info", "CIPGetInspectionToolInfo", CIPGetInspectionToolInfo, 0, 0, 2,
     1,
     .in_ctrl = {TOOL, P("InfoName", "string", STRING_PAR, 0)},
     .out_ctrl = {P("InfoValue", "string", VALUE_TYPES, 1)}},
    {"clear_inspection_tool", "CIPClearInspectionTool", CIPClearInspectionTool, 0, 0, 1, 0,
     .in_ctrl = {P("ToolHandle", "inspection_tool", HANDLE_PAR, 1)}},
};

HSHIM_API const hs_package dapoinspect_hs_package = {
    "dapoinspect", (int)(sizeof operators / sizeof operators[0]), operators,
    dapoinspect_error_text,
};
