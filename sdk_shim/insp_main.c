/* insp: the reference host. Loads a plugin through the public ABI only, inspects image files
 * and writes what a vision engineer needs to judge the result: maps, an overlay picture and
 * JSON records. Command line and exit codes: insp_cli.h. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imageio.h"
#include "insp_cli.h"
#include "insp_tool.h"
#include "json_out.h"
#include "loader.h"
#include "overlay.h"

#define DEFAULT_MODULE "libdapo_inspect.so"
#define MSG_SIZE INSP_ERRBUF_SIZE

/* ---- small helpers --------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *decision_name(int32_t d)
{
    /* Unknown values are rejects: a newer plugin's verdict we cannot read is not an OK. */
    return d == INSP_DECISION_OK ? "OK" : d == INSP_DECISION_UNSURE ? "UNSURE" : "NG";
}

static const char *pixel_name(insp_pixel p)
{
    return p == INSP_PIX_U8 ? "u8" : p == INSP_PIX_U16 ? "u16" : p == INSP_PIX_F32 ? "f32" : "?";
}

/* Verbosity threshold for the plugin's log, passed as insp_host.user. */
static void host_log(void *user, int32_t level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    int max = *(const int *)user;
    if (level > max)
        return;
    fprintf(stderr, "insp: plugin %s: %s\n", level >= 0 && level <= 3 ? names[level] : "log", msg);
}

/* The plugin insp loads without --module, into buf (caller-owned): $DAPO_INSPECT_PLUGIN if set;
 * else libdapo_inspect.so next to the insp binary (the build tree); else, in an installed insp
 * (built with INSP_PLUGIN_DIR, see `make install`), the installed plugin. */
static int default_module_path(char *buf, size_t cap)
{
    const char *env = getenv("DAPO_INSPECT_PLUGIN");
    if (env && *env) {
        int w = snprintf(buf, cap, "%s", env);
        return w > 0 && (size_t)w < cap ? 0 : -1;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int w = snprintf(buf, cap, "%s/%s", exe, DEFAULT_MODULE);
#ifdef INSP_PLUGIN_DIR
    struct stat sb;
    if (w > 0 && (size_t)w < cap && stat(buf, &sb) != 0)
        w = snprintf(buf, cap, "%s/%s", INSP_PLUGIN_DIR, DEFAULT_MODULE);
#endif
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* mkdir -p; path borrowed. */
static int make_dirs(const char *path, char *err, size_t cap)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        snprintf(err, cap, "%s: path too long", path);
        return -1;
    }
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
            snprintf(err, cap, "%.400s: cannot create output directory: %s", tmp, strerror(errno));
            return -1;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "%s: not a directory", path);
        return -1;
    }
    return 0;
}

/* File name of path without directory and last extension; "image" if nothing is left. */
static void file_stem(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
    if (!out[0] || out[0] == '.')
        snprintf(out, cap, "image");
}

/* ---- insp info ------------------------------------------------------------------------- */

static void print_caps(uint64_t caps)
{
    static const struct { uint64_t bit; const char *name; } names[] = {
        {INSP_CAP_U16, "U16"}, {INSP_CAP_F32, "F32"}, {INSP_CAP_PLANAR, "PLANAR"},
        {INSP_CAP_MASK, "MASK"}, {INSP_CAP_ROI, "ROI"}, {INSP_CAP_LABEL_MAP, "LABEL_MAP"},
        {INSP_CAP_REGIONS, "REGIONS"}, {INSP_CAP_TILING, "TILING"},
        {INSP_CAP_CONCURRENT_PROCESS, "CONCURRENT_PROCESS"}, {INSP_CAP_BGR, "BGR"},
    };
    uint64_t known = 0;
    printf("caps        U8");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        known |= names[i].bit;
        if (caps & names[i].bit)
            printf(" %s", names[i].name);
    }
    if (caps & ~known)
        printf(" (unknown bits 0x%llx)", (unsigned long long)(caps & ~known));
    printf("\n");
}

static void print_tool(const insp_api *api, const insp_tool *tool, const char *recipe)
{
    char err[MSG_SIZE];
    insp_tool_info info = {.struct_size = sizeof info};
    printf("recipe      %s\n", recipe);
    if (api->tool_info(tool, &info, err, sizeof err) == INSP_OK) {
        printf("product     %s\n", info.product ? info.product : "");
        printf("model       %s\n", info.model ? info.model : "");
        printf("precision   %s\n", info.precision ? info.precision : "");
        printf("input       %dx%d, %s\n", info.input_width, info.input_height,
               info.tiling ? "tiled" : "whole image resized");
        if (info.map_max > 0)
            printf("map range   0 .. %g\n", info.map_max);
    } else {
        printf("info        unavailable: %s\n", err);
    }
    int n = api->tool_class_count(tool);
    printf("classes     %d (0 = normal, 1..%d = defect types)\n", n, n - 1);
    for (int i = 0; i < n; i++) {
        const char *name = api->tool_class_name(tool, i);
        printf("  %2d  %s\n", i, name ? name : "(null)");
    }
    static const char *const standard[] = {
        INSP_PARAM_IMAGE_THRESHOLD, INSP_PARAM_PIXEL_THRESHOLD, INSP_PARAM_MIN_REGION_AREA,
        INSP_PARAM_NUM_THREADS,
    };
    printf("values\n");
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++) {
        char v[INSP_PARAM_VALUE_SIZE];
        if (api->tool_get_param(tool, standard[i], v, sizeof v, err, sizeof err) == INSP_OK)
            printf("  %-16s %s\n", standard[i], v);
    }
    const char *schema = api->tool_param_schema(tool);
    printf("parameters  %s\n", schema ? schema : "(none)");
}

static int cmd_info(const insp_cli *cli, const char *module_path)
{
    char err[MSG_SIZE];
    insp_module m;
    if (insp_loader_open(module_path, &m, err, sizeof err) != INSP_OK) {
        fprintf(stderr, "insp: %s\n", err);
        return INSP_EXIT_SETUP;
    }
    const insp_api *api = m.api;
    printf("module      %s\n", m.path);
    printf("plugin      %s %s\n", api->plugin_id, api->plugin_version);
    printf("            %s\n", api->plugin_description);
    printf("ABI         %u.%u (this host %d.%d), table %u bytes\n", api->abi_major,
           api->abi_minor, INSP_ABI_MAJOR, INSP_ABI_MINOR, api->struct_size);
    print_caps(api->caps);
    int rc = INSP_EXIT_OK;
    if (cli->recipe) {
        int level = cli->verbose ? INSP_LOG_DEBUG : INSP_LOG_INFO;
        insp_host host = {.struct_size = sizeof host, .user = &level, .log = host_log};
        insp_tool *tool = NULL;
        insp_status s = api->tool_create(&host, cli->recipe, &tool, err, sizeof err);
        if (s != INSP_OK) {
            fprintf(stderr, "insp: cannot create tool (%s): %s\n", api->status_name(s), err);
            rc = INSP_EXIT_SETUP;
        } else {
            print_tool(api, tool, cli->recipe);
            api->tool_destroy(tool);
        }
    }
    fflush(stdout);
    insp_loader_close(&m);
    return rc;
}

/* ---- insp run -------------------------------------------------------------------------- */

typedef enum outcome { OUT_OK, OUT_NG, OUT_FAILED } outcome;

/* What the summary needs of one image. */
typedef struct item {
    const char *path;             /* borrowed from argv */
    char stem[256];
    outcome result;
    int has_result;               /* score/decision valid (a write may still have failed) */
    float score;
    int32_t decision;
    double ms;
    char status[32];
    char error[MSG_SIZE];
} item;

typedef struct run_ctx {
    const insp_cli *cli;
    const insp_api *api;
    insp_tool *tool;
    const char *module_path;
    insp_tool_info info;
    const char **class_names;     /* owned array; names borrowed from the tool */
    int class_count;
    io_image mask;                /* owned; data NULL without --mask */
} run_ctx;

/* Joins out_dir, stem and suffix into buf (caller-owned); -1 if too long. */
static int out_path(const run_ctx *c, const item *it, const char *suffix, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/%s%s", c->cli->out_dir, it->stem, suffix);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* A packed copy of a one-channel view's rows when its stride has padding or is negative;
 * else the view's own memory. *owned receives what the caller must free (or NULL). */
static const void *packed_rows(const insp_image *v, size_t bps, void **owned)
{
    *owned = NULL;
    size_t row = (size_t)v->width * bps;
    if (v->row_stride == (ptrdiff_t)row)
        return v->data;
    char *p = malloc(row * (size_t)v->height);
    if (!p)
        return NULL;
    for (int y = 0; y < v->height; y++)
        memcpy(p + row * (size_t)y, (const char *)v->data + (ptrdiff_t)y * v->row_stride, row);
    *owned = p;
    return p;
}

/* The per-image record; every pointer is borrowed for the call (r and its views from the
 * plugin, img from io). */
static void write_image_json(json_out *w, const run_ctx *c, const item *it, const insp_image *img,
                             const insp_result *r, const insp_image *amap, int have_labels,
                             int have_overlay)
{
    const insp_api *api = c->api;
    json_out_begin_object(w);
    json_out_kv_string(w, "image", it->path);
    json_out_kv_int(w, "width", img->width);
    json_out_kv_int(w, "height", img->height);
    json_out_kv_int(w, "channels", img->channels);
    json_out_kv_string(w, "pixel", pixel_name(img->pixel));
    json_out_kv_float(w, "score", api->result_score(r));
    json_out_kv_string(w, "decision", decision_name(api->result_decision(r)));
    float ithr = NAN, pthr = NAN;
    api->result_thresholds(r, &ithr, &pthr);
    json_out_kv_float(w, "image_threshold", ithr);
    json_out_kv_float(w, "pixel_threshold", pthr);

    json_out_key(w, "classes");
    json_out_begin_array(w);
    int nc = api->result_class_count(r);
    for (int i = 0; i < nc; i++) {
        const char *name = NULL;
        float score = NAN;
        if (api->result_class(r, i, &name, &score) != INSP_OK)
            continue;
        json_out_begin_object_inline(w);
        json_out_kv_int(w, "id", i);
        json_out_kv_string(w, "name", name);
        json_out_kv_float(w, "score", score);
        json_out_end_object(w);
    }
    json_out_end_array(w);

    json_out_key(w, "regions");
    json_out_begin_array(w);
    int nr = api->result_region_count(r);
    for (int i = 0; i < nr; i++) {
        insp_region g = {.struct_size = sizeof g};
        if (api->result_region(r, i, &g) != INSP_OK)
            continue;
        json_out_begin_object_inline(w);
        json_out_kv_int(w, "class_id", g.class_id);
        json_out_kv_string(w, "type", g.class_id > 0 && g.class_id < c->class_count
                                      ? c->class_names[g.class_id] : NULL);
        json_out_key(w, "bbox");
        json_out_begin_array_inline(w);
        json_out_int(w, g.x);
        json_out_int(w, g.y);
        json_out_int(w, g.w);
        json_out_int(w, g.h);
        json_out_end_array(w);
        json_out_kv_int(w, "area", g.area);
        json_out_kv_float(w, "max_score", g.max_score);
        json_out_kv_float(w, "mean_score", g.mean_score);
        json_out_key(w, "seed");
        json_out_begin_array_inline(w);
        json_out_int(w, g.seed_x);
        json_out_int(w, g.seed_y);
        json_out_end_array(w);
        json_out_end_object(w);
    }
    json_out_end_array(w);

    if (amap) {
        json_out_key(w, "map");
        json_out_begin_object(w);
        json_out_kv_int(w, "x", amap->roi_x);
        json_out_kv_int(w, "y", amap->roi_y);
        json_out_kv_int(w, "width", amap->width);
        json_out_kv_int(w, "height", amap->height);
        json_out_end_object(w);
    }

    insp_timing t = {.struct_size = sizeof t};
    json_out_key(w, "timing_ms");
    json_out_begin_object(w);
    if (api->result_timing(r, &t) == INSP_OK) {
        json_out_kv_number(w, "preprocess", t.preprocess_ms);
        json_out_kv_number(w, "vision", t.vision_ms);
        json_out_kv_number(w, "head", t.head_ms);
        json_out_kv_number(w, "post", t.post_ms);
        json_out_kv_number(w, "total", t.total_ms);
    }
    json_out_kv_number(w, "host_process", it->ms);
    json_out_end_object(w);

    json_out_key(w, "outputs");
    json_out_begin_object(w);
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s_anomaly.tif", it->stem);
    json_out_kv_string(w, "anomaly", amap ? name : NULL);
    snprintf(name, sizeof name, "%s_labels.tif", it->stem);
    json_out_kv_string(w, "labels", have_labels ? name : NULL);
    snprintf(name, sizeof name, "%s_overlay.png", it->stem);
    json_out_kv_string(w, "overlay", have_overlay ? name : NULL);
    json_out_end_object(w);
    json_out_end_object(w);
}

/* Records the first output failure of an image; later ones are consequences or repeats. */
static void note_failure(item *it, int *rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note_failure(item *it, int *rc, const char *fmt, ...)
{
    if (*rc == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(it->error, sizeof it->error, fmt, ap);
        va_end(ap);
    }
    *rc = -1;
}

/* Writes the four per-image files. img and r are borrowed. Returns 0, or -1 with the first
 * failure's message in it->error. */
static int write_outputs(const run_ctx *c, item *it, const insp_image *img, const insp_result *r)
{
    const insp_api *api = c->api;
    char path[PATH_MAX], err[MSG_SIZE] = "";
    int rc = 0;

    insp_image amap = {.struct_size = sizeof amap};
    insp_status s = api->result_anomaly_map(r, &amap);
    int have_map = s == INSP_OK && amap.pixel == INSP_PIX_F32 && amap.data && amap.width > 0 &&
                   amap.height > 0;
    if (!have_map)
        note_failure(it, &rc, "plugin returned no usable anomaly map (%s)", api->status_name(s));
    insp_image lmap = {.struct_size = sizeof lmap};
    s = api->result_label_map(r, &lmap);
    int have_labels = s == INSP_OK && lmap.pixel == INSP_PIX_U16 && lmap.data && lmap.width > 0 &&
                      lmap.height > 0;
    if (s != INSP_OK && s != INSP_E_UNSUPPORTED)
        note_failure(it, &rc, "label map: %s", api->status_name(s));

    if (have_map) {
        void *owned;
        const void *rows = packed_rows(&amap, sizeof(float), &owned);
        if (out_path(c, it, "_anomaly.tif", path, sizeof path) || !rows ||
            io_write_tiff_f32(path, rows, amap.width, amap.height, err, sizeof err)) {
            have_map = 0;
            note_failure(it, &rc, "%s", rows ? err : "out of memory");
        }
        free(owned);
    }
    if (have_labels) {
        void *owned;
        const void *rows = packed_rows(&lmap, sizeof(uint16_t), &owned);
        if (out_path(c, it, "_labels.tif", path, sizeof path) || !rows ||
            io_write_tiff_u16(path, rows, lmap.width, lmap.height, err, sizeof err)) {
            have_labels = 0;
            note_failure(it, &rc, "%s", rows ? err : "out of memory");
        }
        free(owned);
    }

    int have_overlay = 0;
    uint8_t *base = NULL;   /* ours, freed below */
    err[0] = '\0';
    if (overlay_rgb8_from_image(img, &base, err, sizeof err) == 0) {
        int nr = api->result_region_count(r);
        insp_region *regions = calloc(nr > 0 ? (size_t)nr : 1, sizeof *regions);
        int kept = 0;
        for (int i = 0; regions && i < nr; i++) {
            regions[kept].struct_size = sizeof *regions;
            if (api->result_region(r, i, &regions[kept]) == INSP_OK)
                kept++;
        }
        float ithr = 0, pthr = 0;
        api->result_thresholds(r, &ithr, &pthr);
        const char *title = strrchr(it->path, '/');
        overlay_input in = {
            .rgb = base, .width = img->width, .height = img->height,
            .anomaly = have_map ? &amap : NULL, .labels = have_labels ? &lmap : NULL,
            .mask = img->mask, .mask_stride = img->mask_stride,
            .map_max = c->info.map_max, .pixel_threshold = pthr,
            .regions = regions, .region_count = regions ? kept : 0,
            .class_names = c->class_names, .class_count = c->class_count,
            .score = api->result_score(r), .decision = api->result_decision(r),
            .title = title ? title + 1 : it->path,
        };
        overlay_image ov;
        if (overlay_render(&in, &ov, err, sizeof err) == 0) {
            if (out_path(c, it, "_overlay.png", path, sizeof path) == 0 &&
                io_write_png_rgb8(path, ov.rgb, ov.width, ov.height, err, sizeof err) == 0)
                have_overlay = 1;
            overlay_free(&ov);
        }
        free(regions);
        free(base);
    }
    if (!have_overlay)
        note_failure(it, &rc, "overlay: %s", err[0] ? err : "path too long");

    FILE *f = NULL;
    if (out_path(c, it, ".json", path, sizeof path) == 0)
        f = fopen(path, "w");
    if (!f) {
        note_failure(it, &rc, "%s.json: cannot write: %s", it->stem, strerror(errno));
        return -1;
    }
    json_out w;
    json_out_init(&w, f, 1);
    write_image_json(&w, c, it, img, r, have_map ? &amap : NULL, have_labels, have_overlay);
    int jrc = json_out_finish(&w);
    if (fclose(f) != 0 || jrc != 0)
        note_failure(it, &rc, "%s: write failed", path);
    return rc;
}

/* The insp_image view of a file just read; pixels borrowed from io. */
static insp_image view_of(const run_ctx *c, const io_image *io)
{
    insp_image v = {.struct_size = sizeof v};
    v.width = io->width;
    v.height = io->height;
    v.channels = io->channels;
    v.pixel = io->pixel == IO_U8 ? INSP_PIX_U8 : io->pixel == IO_U16 ? INSP_PIX_U16 : INSP_PIX_F32;
    v.row_stride = (ptrdiff_t)io->width * io->channels * (ptrdiff_t)io_pixel_bytes(io->pixel);
    v.data = io->data;
    if (c->cli->has_roi) {
        v.roi_x = c->cli->roi[0];
        v.roi_y = c->cli->roi[1];
        v.roi_w = c->cli->roi[2];
        v.roi_h = c->cli->roi[3];
    }
    if (c->mask.data) {
        v.mask = c->mask.data;
        v.mask_stride = c->mask.width;
    }
    if (c->cli->has_range) {
        v.value_min = c->cli->range[0];
        v.value_max = c->cli->range[1];
    }
    return v;
}

/* Reads, inspects and (with --out) writes one image; the outcome goes into *it. */
static void process_one(const run_ctx *c, item *it)
{
    char err[MSG_SIZE] = "";
    io_image io = {0};
    it->result = OUT_FAILED;
    if (io_read_image(it->path, &io, err, sizeof err) != 0) {
        snprintf(it->status, sizeof it->status, "read");
        snprintf(it->error, sizeof it->error, "%s", err);
        return;
    }
    if (c->mask.data && (c->mask.width != io.width || c->mask.height != io.height)) {
        snprintf(it->status, sizeof it->status, "mask");
        snprintf(it->error, sizeof it->error, "mask is %dx%d, image is %dx%d", c->mask.width,
                 c->mask.height, io.width, io.height);
        io_image_free(&io);
        return;
    }
    insp_image img = view_of(c, &io);
    insp_result *r = NULL;
    double t0 = now_ms();
    insp_status s = c->api->tool_process(c->tool, &img, &r, err, sizeof err);
    it->ms = now_ms() - t0;
    if (s != INSP_OK) {
        snprintf(it->status, sizeof it->status, "%s", c->api->status_name(s));
        snprintf(it->error, sizeof it->error, "%s", err);
        io_image_free(&io);
        return;
    }
    it->has_result = 1;
    it->score = c->api->result_score(r);
    it->decision = c->api->result_decision(r);
    it->result = it->decision == INSP_DECISION_OK ? OUT_OK : OUT_NG;
    if (c->cli->out_dir && write_outputs(c, it, &img, r) != 0) {
        snprintf(it->status, sizeof it->status, "write");
        it->result = OUT_FAILED;
    }
    c->api->result_release(r);
    io_image_free(&io);
}

/* Gives it a stem unique among items[0..n). */
static void unique_stem(item *items, int n, item *it)
{
    char base[200];
    file_stem(it->path, base, sizeof base);
    snprintf(it->stem, sizeof it->stem, "%s", base);
    for (int k = 2;; k++) {
        int clash = 0;
        for (int i = 0; i < n && !clash; i++)
            clash = strcmp(items[i].stem, it->stem) == 0;
        if (!clash)
            return;
        snprintf(it->stem, sizeof it->stem, "%s_%d", base, k);
    }
}

/* summary.json in the output directory; items borrowed. */
static int write_summary(const run_ctx *c, const item *items, int n, int counts[3], double total_ms,
                         int exit_code)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/summary.json", c->cli->out_dir) >= (int)sizeof path)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "insp: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    json_out w;
    json_out_init(&w, f, 1);
    json_out_begin_object(&w);
    json_out_kv_string(&w, "module", c->module_path);
    json_out_kv_string(&w, "plugin_id", c->api->plugin_id);
    json_out_kv_string(&w, "plugin_version", c->api->plugin_version);
    json_out_kv_string(&w, "recipe", c->cli->recipe);
    json_out_kv_string(&w, "product", c->info.product);
    json_out_kv_int(&w, "images", n);
    json_out_kv_int(&w, "ok", counts[OUT_OK]);
    json_out_kv_int(&w, "ng", counts[OUT_NG]);
    json_out_kv_int(&w, "failed", counts[OUT_FAILED]);
    json_out_kv_number(&w, "total_ms", total_ms);
    json_out_kv_int(&w, "exit_code", exit_code);
    json_out_key(&w, "results");
    json_out_begin_array(&w);
    for (int i = 0; i < n; i++) {
        const item *it = &items[i];
        json_out_begin_object_inline(&w);
        json_out_kv_string(&w, "image", it->path);
        json_out_kv_string(&w, "stem", it->stem);
        if (it->has_result) {
            json_out_kv_float(&w, "score", it->score);
            json_out_kv_string(&w, "decision", decision_name(it->decision));
            json_out_kv_number(&w, "ms", it->ms);
        }
        if (it->result == OUT_FAILED) {
            json_out_kv_string(&w, "status", it->status);
            json_out_kv_string(&w, "error", it->error);
        }
        json_out_end_object(&w);
    }
    json_out_end_array(&w);
    json_out_end_object(&w);
    int rc = json_out_finish(&w);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "insp: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* Loads module and tool and applies the command-line parameters; what it acquires goes into
 * *c and *m (released by cmd_run even on failure). Returns an exit code. */
static int setup(run_ctx *c, insp_module *m, int *log_level)
{
    char err[MSG_SIZE];
    if (insp_loader_open(c->module_path, m, err, sizeof err) != INSP_OK) {
        fprintf(stderr, "insp: %s\n", err);
        return INSP_EXIT_SETUP;
    }
    c->api = m->api;
    if (c->cli->mask && !(c->api->caps & INSP_CAP_MASK)) {
        fprintf(stderr, "insp: %s: plugin does not support masks (no INSP_CAP_MASK)\n", m->path);
        return INSP_EXIT_SETUP;
    }
    insp_host host = {.struct_size = sizeof host, .user = log_level, .log = host_log};
    insp_status s = c->api->tool_create(&host, c->cli->recipe, &c->tool, err, sizeof err);
    if (s != INSP_OK) {
        fprintf(stderr, "insp: cannot create tool (%s): %s\n", c->api->status_name(s), err);
        return INSP_EXIT_SETUP;
    }
    if (c->cli->threads > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", c->cli->threads);
        s = c->api->tool_set_param(c->tool, INSP_PARAM_NUM_THREADS, v, err, sizeof err);
        if (s != INSP_OK) {
            fprintf(stderr, "insp: --threads %s: %s: %s\n", v, c->api->status_name(s), err);
            return INSP_EXIT_USAGE;
        }
    }
    for (int i = 0; i < c->cli->n_params; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", c->cli->params[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';   /* insp_cli_parse guaranteed the '=' */
        s = c->api->tool_set_param(c->tool, kv, eq + 1, err, sizeof err);
        if (s != INSP_OK) {
            fprintf(stderr, "insp: --set %s: %s: %s\n", c->cli->params[i], c->api->status_name(s), err);
            return INSP_EXIT_USAGE;
        }
    }
    c->info.struct_size = sizeof c->info;
    if (c->api->tool_info(c->tool, &c->info, err, sizeof err) != INSP_OK) {
        memset(&c->info, 0, sizeof c->info);
        c->info.struct_size = sizeof c->info;
    }
    c->class_count = c->api->tool_class_count(c->tool);
    c->class_names = calloc(c->class_count > 0 ? (size_t)c->class_count : 1, sizeof *c->class_names);
    if (!c->class_names) {
        fprintf(stderr, "insp: out of memory\n");
        return INSP_EXIT_SETUP;
    }
    for (int i = 0; i < c->class_count; i++)
        c->class_names[i] = c->api->tool_class_name(c->tool, i);

    if (c->cli->mask) {
        if (io_read_image(c->cli->mask, &c->mask, err, sizeof err) != 0) {
            fprintf(stderr, "insp: --mask: %s\n", err);
            return INSP_EXIT_SETUP;
        }
        if (c->mask.pixel != IO_U8 || c->mask.channels != 1) {
            fprintf(stderr, "insp: %s: a mask must be an 8-bit grey image\n", c->cli->mask);
            return INSP_EXIT_SETUP;
        }
    }
    if (c->cli->out_dir && make_dirs(c->cli->out_dir, err, sizeof err) != 0) {
        fprintf(stderr, "insp: --out: %s\n", err);
        return INSP_EXIT_SETUP;
    }
    return INSP_EXIT_OK;
}

static int cmd_run(const insp_cli *cli, const char *module_path)
{
    run_ctx c = {.cli = cli, .module_path = module_path};
    insp_module m = {0};
    int log_level = cli->verbose ? INSP_LOG_DEBUG : cli->quiet ? INSP_LOG_WARN : INSP_LOG_INFO;
    int rc = setup(&c, &m, &log_level);
    item *items = NULL;
    if (rc == INSP_EXIT_OK) {
        items = calloc((size_t)cli->n_images, sizeof *items);
        if (!items) {
            fprintf(stderr, "insp: out of memory\n");
            rc = INSP_EXIT_SETUP;
        }
    }
    if (rc == INSP_EXIT_OK) {
        int counts[3] = {0, 0, 0};
        double t0 = now_ms();
        for (int i = 0; i < cli->n_images; i++) {
            item *it = &items[i];
            it->path = cli->images[i];
            unique_stem(items, i, it);
            process_one(&c, it);
            counts[it->result]++;
            if (it->result == OUT_FAILED)
                fprintf(stderr, "[%d/%d] %s: FAILED (%s): %s\n", i + 1, cli->n_images, it->path,
                        it->status, it->error);
            else if (!cli->quiet)
                fprintf(stderr, "[%d/%d] %s: score=%.3f %s (%.0f ms)\n", i + 1, cli->n_images,
                        it->path, it->score, decision_name(it->decision), it->ms);
        }
        double total = now_ms() - t0;
        rc = counts[OUT_FAILED] ? INSP_EXIT_IMAGE : counts[OUT_NG] ? INSP_EXIT_NG : INSP_EXIT_OK;
        if (cli->out_dir && write_summary(&c, items, cli->n_images, counts, total, rc) != 0)
            rc = INSP_EXIT_IMAGE;
        if (!cli->quiet)
            fprintf(stderr, "insp: %d image%s: %d OK, %d NG, %d failed; %.0f ms (%.0f ms/image)%s%s\n",
                    cli->n_images, cli->n_images == 1 ? "" : "s", counts[OUT_OK], counts[OUT_NG],
                    counts[OUT_FAILED], total, total / cli->n_images,
                    cli->out_dir ? "; results in " : "", cli->out_dir ? cli->out_dir : "");
    }
    free(items);
    io_image_free(&c.mask);
    free(c.class_names);
    if (c.tool)
        c.api->tool_destroy(c.tool);
    insp_loader_close(&m);
    return rc;
}

int main(int argc, char **argv)
{
    insp_cli cli;
    char err[MSG_SIZE];
    if (insp_cli_parse(argc, argv, &cli, err, sizeof err) != 0) {
        fprintf(stderr, "insp: %s\nTry 'insp --help'.\n", err);
        return INSP_EXIT_USAGE;
    }
    int rc = INSP_EXIT_OK;
    if (cli.command == INSP_CMD_HELP) {
        insp_cli_usage(stdout);
    } else if (cli.command == INSP_CMD_VERSION) {
        printf("insp (dapo-inspect reference host), plugin ABI %d.%d\n", INSP_ABI_MAJOR,
               INSP_ABI_MINOR);
    } else {
        char def[PATH_MAX];
        const char *module = cli.module;
        if (!module) {
            if (default_module_path(def, sizeof def) != 0) {
                fprintf(stderr, "insp: cannot locate the insp binary's directory; use --module\n");
                insp_cli_free(&cli);
                return INSP_EXIT_SETUP;
            }
            module = def;
        }
        rc = cli.command == INSP_CMD_INFO ? cmd_info(&cli, module) : cmd_run(&cli, module);
    }
    insp_cli_free(&cli);
    return rc;
}
