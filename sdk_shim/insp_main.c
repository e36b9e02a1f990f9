/* insp: the reference host. Loads a plugin through the public ABI only, inspects image files
 * and folders and reports what a vision engineer needs: per image the verdict and why, maps, an
 * overlay picture and JSON records; for the run a JSON/CSV summary, JSON Lines on stdout for
 * pipelines, and load, inspection and write times. Command line and exit codes: insp_cli.h. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "font.h"
#include "imageio.h"
#include "inputs.h"
#include "insp_cli.h"
#include "insp_tool.h"
#include "json_out.h"
#include "loader.h"
#include "overlay.h"
#include "recipe_hint.h"

#define MSG_SIZE INSP_ERRBUF_SIZE
#define MAX_CLASSES 65

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

/* Human duration: "850 ms", "12.3 s". */
static const char *dur(double ms, char *buf, size_t cap)
{
    if (ms < 10000)
        snprintf(buf, cap, "%.0f ms", ms);
    else
        snprintf(buf, cap, "%.1f s", ms / 1e3);
    return buf;
}

/* What the plugin's callbacks need, passed as insp_host.user (valid until tool_destroy): the
 * log threshold, and the progress line's state (one tool call at a time reports progress). */
typedef struct host_state {
    int log_level;
    int quiet;
    double start_ms, last_ms;     /* of the step being reported */
    int last_done;
} host_state;

static void host_log(void *user, int32_t level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    int max = ((const host_state *)user)->log_level;
    if (level > max)
        return;
    fprintf(stderr, "insp: plugin %s: %s\n", level >= 0 && level <= 3 ? names[level] : "log", msg);
}

/* Progress of a long plugin step (ABI 1.1: text prompts at load, tiles of a large image): a
 * line on stderr once the step has taken a second, then at most one a second and at its end. */
static void host_progress(void *user, const char *what, int32_t done, int32_t total)
{
    host_state *h = user;
    double now = now_ms();
    if (done <= h->last_done || h->start_ms == 0)    /* a new step */
        h->start_ms = h->last_ms = now;
    h->last_done = done;
    if (h->quiet || now - h->start_ms < 1000 || (now - h->last_ms < 1000 && done < total))
        return;
    h->last_ms = now;
    fprintf(stderr, "insp: ... %s %d/%d (%.0f s)\n", what, done, total, (now - h->start_ms) / 1e3);
    if (done >= total)
        h->start_ms = 0;
}

/* ---- progress ticker: "still loading (12 s)" while a long plugin call runs --------------- */

typedef struct ticker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int running, stop;
    char what[300];
    double t0;
} ticker;

#define TICK_FIRST_MS 5000.0
#define TICK_EVERY_MS 10000.0

static void *ticker_main(void *arg)
{
    ticker *t = arg;
    pthread_mutex_lock(&t->lock);
    double next = t->t0 + TICK_FIRST_MS;
    while (!t->stop) {
        double now = now_ms();
        if (now >= next) {
            fprintf(stderr, "insp: ... %s (%.0f s)\n", t->what, (now - t->t0) / 1e3);
            next = now + TICK_EVERY_MS;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wait = next - now;
        ts.tv_sec += (time_t)(wait / 1e3);
        ts.tv_nsec += (long)(fmod(wait, 1e3) * 1e6);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&t->cond, &t->lock, &ts);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* Starts printing "... WHAT (N s)" to stderr after 5 s and then every 10 s, until ticker_stop.
 * enabled = 0 (quiet) does nothing. */
static void ticker_start(ticker *t, int enabled, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ticker_start(ticker *t, int enabled, const char *fmt, ...)
{
    memset(t, 0, sizeof *t);
    if (!enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->what, sizeof t->what, fmt, ap);
    va_end(ap);
    t->t0 = now_ms();
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->running = pthread_create(&t->thread, NULL, ticker_main, t) == 0;
    if (!t->running) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->cond);
    }
}

static void ticker_stop(ticker *t)
{
    if (!t->running)
        return;
    pthread_mutex_lock(&t->lock);
    t->stop = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    t->running = 0;
}

/* The plugin insp loads without --module (loader.h): an installed insp is built with
 * INSP_PLUGIN_DIR (see `make install`) and also looks there. */
static int default_module_path(char *buf, size_t cap)
{
#ifdef INSP_PLUGIN_DIR
    return insp_loader_default_path(INSP_PLUGIN_DIR, buf, cap);
#else
    return insp_loader_default_path(NULL, buf, cap);
#endif
}

/* mkdir -p; path borrowed. */
static int make_dirs(const char *path, char *err, size_t cap)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        snprintf(err, cap, "%.400s: path too long", path);
        return -1;
    }
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
            snprintf(err, cap, "%.400s: cannot create directory: %s", tmp, strerror(errno));
            return -1;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "%.400s: not a directory", path);
        return -1;
    }
    return 0;
}

/* Tells a recipe mistake's libyaml message apart and prints the line with a caret. */
static void print_recipe_hint(const char *recipe, const char *msg)
{
    char hint[2048];
    if (insp_recipe_hint(recipe, msg, hint, sizeof hint) == 0)
        fputs(hint, stderr);
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

static const char *const standard_params[] = {
    INSP_PARAM_IMAGE_THRESHOLD, INSP_PARAM_PIXEL_THRESHOLD, INSP_PARAM_MIN_REGION_AREA,
    INSP_PARAM_NUM_THREADS,
};
static const char *const standard_recipe_names[] = {
    "thresholds.image", "thresholds.pixel", "thresholds.min_region_area", "threads",
};

static void print_tool(FILE *o, const insp_api *api, const insp_tool *tool, const char *recipe)
{
    char err[MSG_SIZE];
    insp_tool_info info = {.struct_size = sizeof info};
    fprintf(o, "recipe      %s\n", recipe);
    if (api->tool_info(tool, &info, err, sizeof err) == INSP_OK) {
        fprintf(o, "product     %s\n", info.product ? info.product : "");
        fprintf(o, "model       %s\n", info.model ? info.model : "");
        fprintf(o, "precision   %s\n", info.precision ? info.precision : "");
        fprintf(o, "input       %dx%d, %s\n", info.input_width, info.input_height,
                info.tiling ? "tiled" : "whole image resized");
        if (info.map_max > 0)
            fprintf(o, "map range   0 .. %g\n", info.map_max);
        if (api->abi_minor >= 1 && info.runtime)     /* ABI 1.1: threads and how they were chosen */
            fprintf(o, "runtime     %s\n", info.runtime);
    } else {
        fprintf(o, "info        unavailable: %s\n", err);
    }
    int n = api->tool_class_count(tool);
    fprintf(o, "classes     %d (0 = normal, 1..%d = defect types)\n", n, n - 1);
    for (int i = 0; i < n; i++) {
        const char *name = api->tool_class_name(tool, i);
        fprintf(o, "  %2d  %s\n", i, name ? name : "(null)");
    }
    fprintf(o, "parameters  (--set NAME=VALUE; the recipe's name works too)\n");
    for (size_t i = 0; i < sizeof standard_params / sizeof standard_params[0]; i++) {
        char v[INSP_PARAM_VALUE_SIZE];
        if (api->tool_get_param(tool, standard_params[i], v, sizeof v, err, sizeof err) == INSP_OK)
            fprintf(o, "  %-16s %-10s (recipe: %s)\n", standard_params[i], v, standard_recipe_names[i]);
    }
    const char *schema = api->tool_param_schema(tool);
    fprintf(o, "schema      %s\n", schema ? schema : "(none)");
}

/* Creates the tool, with load progress on stderr (unless quiet) and the recipe hint on a
 * failure. Returns the status; *ms gets the elapsed time. */
static insp_status create_tool(const insp_api *api, const insp_cli *cli, host_state *hs,
                               insp_tool **tool, double *ms)
{
    char err[MSG_SIZE];
    char d[32];
    /* --threads goes in the host struct, so the model is built once for it (ABI 1.1) */
    insp_host host = {.struct_size = sizeof host, .user = hs, .log = host_log,
                      .threads = cli->threads > 0 ? cli->threads : 0, .progress = host_progress};
    if (!cli->quiet)
        fprintf(stderr, "insp: loading the model of %s ...\n", cli->recipe);
    ticker tk;
    ticker_start(&tk, !cli->quiet, "still loading the model of %s", cli->recipe);
    double t0 = now_ms();
    insp_status s = api->tool_create(&host, cli->recipe, tool, err, sizeof err);
    *ms = now_ms() - t0;
    ticker_stop(&tk);
    if (s != INSP_OK) {
        fprintf(stderr, "insp: cannot create tool (%s): %s\n", api->status_name(s), err);
        if (s == INSP_E_RECIPE)
            print_recipe_hint(cli->recipe, err);
        return s;
    }
    if (!cli->quiet)
        fprintf(stderr, "insp: model loaded in %s\n", dur(*ms, d, sizeof d));
    return INSP_OK;
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
    fflush(stdout);
    int rc = INSP_EXIT_OK;
    if (cli->recipe) {
        host_state hs = {.log_level = cli->verbose ? INSP_LOG_DEBUG : INSP_LOG_INFO, .quiet = 1};
        insp_tool *tool = NULL;
        double ms;
        insp_cli quiet = *cli;
        quiet.quiet = 1;
        if (create_tool(api, &quiet, &hs, &tool, &ms) != INSP_OK) {
            rc = INSP_EXIT_SETUP;
        } else {
            print_tool(stdout, api, tool, cli->recipe);
            printf("load time   %.0f ms\n", ms);
            api->tool_destroy(tool);
        }
    }
    fflush(stdout);
    insp_loader_close(&m);
    return rc;
}

/* ---- insp run -------------------------------------------------------------------------- */

typedef enum outcome { OUT_OK, OUT_NG, OUT_FAILED } outcome;

/* What the summaries need of one image. */
typedef struct item {
    const insp_input *in;         /* borrowed from the run's input list */
    outcome result;
    int has_result;               /* score/decision valid (a write may still have failed) */
    float score, ithr, pthr, map_max;
    int32_t decision;
    int n_regions;
    double read_ms, inspect_ms, write_ms;   /* < 0: stage not reached */
    char status[32];
    char error[MSG_SIZE];
    char reason[640];             /* why OK / NG, one line */
    char brief[240];              /* the same, short, for the progress line */
} item;

typedef struct run_ctx {
    const insp_cli *cli;
    const insp_api *api;
    insp_tool *tool;
    const char *module_path;
    insp_tool_info info;
    const char **class_names;     /* owned array; names borrowed from the tool */
    int class_count;
    long min_area;                /* the tool's min_region_area, -1 = unknown */
    io_image mask;                /* owned; data NULL without --mask */
    ov_font *font;                /* owned */
    FILE *csv;                    /* --csv file or stdout, NULL = none */
} run_ctx;

/* out_dir/name+suffix into buf, creating the folders of name; -1 if too long or impossible. */
static int out_path(const run_ctx *c, const item *it, const char *suffix, char *buf, size_t cap,
                    char *err, size_t err_cap)
{
    int n = snprintf(buf, cap, "%s/%s%s", c->cli->out_dir, it->in->name, suffix);
    if (n <= 0 || (size_t)n >= cap) {
        snprintf(err, err_cap, "%.200s/%.200s%s: path too long", c->cli->out_dir, it->in->name, suffix);
        return -1;
    }
    char *slash = strrchr(buf, '/');
    if (strchr(it->in->name, '/')) {
        *slash = '\0';
        int rc = make_dirs(buf, err, err_cap);
        *slash = '/';
        return rc;
    }
    return 0;
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

/* Everything about one result that the records, the overlay and the progress line share. */
typedef struct facts {
    const insp_result *r;         /* borrowed */
    insp_image amap, lmap;
    int have_map, have_labels;
    float map_max;
    int map_max_x, map_max_y;     /* image coordinates */
    int n_regions;
    insp_region *regions;         /* owned, n_regions */
    int per_class[MAX_CLASSES];
    int score_over;
} facts;

static void facts_free(facts *f)
{
    free(f->regions);
    f->regions = NULL;
}

/* Reads the maps and regions of r and derives why it is OK or NG. */
static int gather(const run_ctx *c, item *it, const insp_result *r, facts *f)
{
    const insp_api *api = c->api;
    memset(f, 0, sizeof *f);
    f->r = r;
    f->amap.struct_size = sizeof f->amap;
    f->lmap.struct_size = sizeof f->lmap;
    f->have_map = api->result_anomaly_map(r, &f->amap) == INSP_OK && f->amap.pixel == INSP_PIX_F32 &&
                  f->amap.data && f->amap.width > 0 && f->amap.height > 0 && f->amap.channels == 1;
    f->have_labels = api->result_label_map(r, &f->lmap) == INSP_OK && f->lmap.pixel == INSP_PIX_U16 &&
                     f->lmap.data && f->lmap.width > 0 && f->lmap.height > 0 && f->lmap.channels == 1;
    f->map_max = NAN;
    if (f->have_map) {
        float best = -INFINITY;
        for (int y = 0; y < f->amap.height; y++) {
            const float *row = (const float *)((const char *)f->amap.data + (ptrdiff_t)y * f->amap.row_stride);
            for (int x = 0; x < f->amap.width; x++)
                if (row[x] > best) {   /* NaN never compares greater */
                    best = row[x];
                    f->map_max_x = f->amap.roi_x + x;
                    f->map_max_y = f->amap.roi_y + y;
                }
        }
        f->map_max = isfinite(best) ? best : NAN;
    }
    int nr = api->result_region_count(r);
    f->regions = calloc(nr > 0 ? (size_t)nr : 1, sizeof *f->regions);
    if (!f->regions)
        return -1;
    for (int i = 0; i < nr; i++) {
        insp_region *g = &f->regions[f->n_regions];
        g->struct_size = sizeof *g;
        if (api->result_region(r, i, g) != INSP_OK)
            continue;
        if (g->class_id >= 0 && g->class_id < MAX_CLASSES)
            f->per_class[g->class_id]++;
        f->n_regions++;
    }
    it->ithr = NAN;
    it->pthr = NAN;
    api->result_thresholds(r, &it->ithr, &it->pthr);
    it->score = api->result_score(r);
    it->decision = api->result_decision(r);
    it->map_max = f->map_max;
    it->n_regions = f->n_regions;
    f->score_over = isfinite(it->ithr) && it->score >= it->ithr;

    /* The reason, host-side, from the result and the tool's thresholds. */
    char types[200] = "";
    size_t tl = 0;
    for (int k = 0; k < MAX_CLASSES && tl < sizeof types; k++)
        if (f->per_class[k]) {
            const char *nm = k < c->class_count && c->class_names[k] ? c->class_names[k] : "?";
            int w = snprintf(types + tl, sizeof types - tl, "%s%d %.60s", tl ? ", " : "",
                             f->per_class[k], nm);
            tl += w > 0 ? (size_t)w : 0;
        }
    char area[48] = "";
    if (c->min_area > 0)
        snprintf(area, sizeof area, " and at least %ld px", c->min_area);
    char scoretxt[96];
    snprintf(scoretxt, sizeof scoretxt, "score %.3f %s image threshold %.3f", it->score,
             f->score_over ? ">=" : "<", it->ithr);
    char regtxt[320];
    if (f->n_regions)
        snprintf(regtxt, sizeof regtxt, "%d region%s over pixel threshold %.3g%s: %s", f->n_regions,
                 f->n_regions == 1 ? "" : "s", it->pthr, area, types);
    else
        snprintf(regtxt, sizeof regtxt, "no region over pixel threshold %.3g%s", it->pthr, area);
    if (it->decision == INSP_DECISION_OK) {
        snprintf(it->reason, sizeof it->reason, "OK: %.95s; %.320s", scoretxt, regtxt);
        snprintf(it->brief, sizeof it->brief, "score %.3f < %.3f, no regions", it->score, it->ithr);
    } else if (it->decision == INSP_DECISION_UNSURE) {
        snprintf(it->reason, sizeof it->reason, "UNSURE (the plugin's doubt band): %.95s; %.320s", scoretxt, regtxt);
        snprintf(it->brief, sizeof it->brief, "score %.3f vs %.3f, plugin unsure", it->score, it->ithr);
    } else if (f->score_over && f->n_regions) {
        snprintf(it->reason, sizeof it->reason, "NG: %.95s; %.320s", scoretxt, regtxt);
        snprintf(it->brief, sizeof it->brief, "score %.3f >= %.3f; %d region%s: %s", it->score,
                 it->ithr, f->n_regions, f->n_regions == 1 ? "" : "s", types);
    } else if (f->score_over) {
        snprintf(it->reason, sizeof it->reason, "NG: %.95s (%.320s)", scoretxt, regtxt);
        snprintf(it->brief, sizeof it->brief, "score %.3f >= %.3f", it->score, it->ithr);
    } else if (f->n_regions) {
        snprintf(it->reason, sizeof it->reason, "NG: %.320s (%.95s)", regtxt, scoretxt);
        snprintf(it->brief, sizeof it->brief, "%d region%s: %s (score %.3f < %.3f)", f->n_regions,
                 f->n_regions == 1 ? "" : "s", types, it->score, it->ithr);
    } else {
        snprintf(it->reason, sizeof it->reason, "NG by the plugin although %.95s and %.320s", scoretxt, regtxt);
        snprintf(it->brief, sizeof it->brief, "score %.3f < %.3f, no regions, NG by the plugin",
                 it->score, it->ithr);
    }
    return 0;
}

static void kv_ms(json_out *w, const char *key, double ms)
{
    if (ms >= 0)
        json_out_kv_number(w, key, round(ms * 1000) / 1000);
}

/* Output file names (relative to --out) of an image, for the record. */
typedef struct written {
    int json, overlay, anomaly, labels;
    int zoom_num, zoom_den;
} written;

/* The record of one image: the per-image JSON file (pretty) and a --jsonl line (compact) are
 * this same document. img, f: NULL for an image that failed before a result existed. */
static void write_record(json_out *w, const run_ctx *c, const item *it, const insp_image *img,
                         const facts *f, const written *out)
{
    const insp_api *api = c->api;
    json_out_begin_object(w);
    json_out_kv_string(w, "type", "image");
    json_out_kv_string(w, "image", it->in->path);
    json_out_kv_string(w, "name", it->in->name);
    json_out_kv_string(w, "status", it->result == OUT_FAILED ? it->status : "ok");
    if (it->result == OUT_FAILED)
        json_out_kv_string(w, "error", it->error);
    if (img) {
        json_out_kv_int(w, "width", img->width);
        json_out_kv_int(w, "height", img->height);
        json_out_kv_int(w, "channels", img->channels);
        json_out_kv_string(w, "pixel", pixel_name(img->pixel));
    }
    if (f) {
        json_out_kv_string(w, "decision", decision_name(it->decision));
        json_out_kv_float(w, "score", it->score);
        json_out_key(w, "reason");
        json_out_begin_object(w);
        json_out_kv_string(w, "text", it->reason);
        json_out_key(w, "score_over_threshold");
        json_out_bool(w, f->score_over);
        json_out_kv_int(w, "regions", f->n_regions);
        json_out_key(w, "region_types");
        json_out_begin_array(w);
        for (int k = 0; k < MAX_CLASSES; k++)
            if (f->per_class[k]) {
                json_out_begin_object_inline(w);
                json_out_kv_int(w, "class_id", k);
                json_out_kv_string(w, "type", k < c->class_count ? c->class_names[k] : NULL);
                json_out_kv_int(w, "count", f->per_class[k]);
                json_out_end_object(w);
            }
        json_out_end_array(w);
        json_out_end_object(w);

        json_out_key(w, "thresholds");
        json_out_begin_object(w);
        json_out_kv_float(w, "image", it->ithr);
        json_out_kv_float(w, "pixel", it->pthr);
        if (c->min_area >= 0)
            json_out_kv_int(w, "min_region_area", c->min_area);
        json_out_end_object(w);

        if (f->have_map) {
            json_out_key(w, "map");
            json_out_begin_object(w);
            json_out_kv_int(w, "x", f->amap.roi_x);
            json_out_kv_int(w, "y", f->amap.roi_y);
            json_out_kv_int(w, "width", f->amap.width);
            json_out_kv_int(w, "height", f->amap.height);
            json_out_kv_float(w, "max", f->map_max);
            json_out_key(w, "max_at");
            json_out_begin_array_inline(w);
            json_out_int(w, f->map_max_x);
            json_out_int(w, f->map_max_y);
            json_out_end_array(w);
            json_out_end_object(w);
        }

        json_out_key(w, "classes");
        json_out_begin_array(w);
        int nc = api->result_class_count(f->r);
        for (int i = 0; i < nc; i++) {
            const char *name = NULL;
            float score = NAN;
            if (api->result_class(f->r, i, &name, &score) != INSP_OK)
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
        for (int i = 0; i < f->n_regions; i++) {
            const insp_region *g = &f->regions[i];
            json_out_begin_object_inline(w);
            json_out_kv_int(w, "id", i + 1);
            json_out_kv_int(w, "class_id", g->class_id);
            json_out_kv_string(w, "type", g->class_id > 0 && g->class_id < c->class_count
                                          ? c->class_names[g->class_id] : NULL);
            json_out_key(w, "bbox");
            json_out_begin_array_inline(w);
            json_out_int(w, g->x);
            json_out_int(w, g->y);
            json_out_int(w, g->w);
            json_out_int(w, g->h);
            json_out_end_array(w);
            json_out_kv_int(w, "area", g->area);
            json_out_kv_float(w, "max_score", g->max_score);
            json_out_kv_float(w, "mean_score", g->mean_score);
            json_out_key(w, "seed");
            json_out_begin_array_inline(w);
            json_out_int(w, g->seed_x);
            json_out_int(w, g->seed_y);
            json_out_end_array(w);
            json_out_end_object(w);
        }
        json_out_end_array(w);
    }

    json_out_key(w, "timing_ms");
    json_out_begin_object(w);
    kv_ms(w, "read", it->read_ms);
    kv_ms(w, "inspect", it->inspect_ms);
    kv_ms(w, "write", it->write_ms);
    insp_timing t = {.struct_size = sizeof t};
    if (f && api->result_timing(f->r, &t) == INSP_OK) {
        json_out_key(w, "plugin");
        json_out_begin_object_inline(w);
        kv_ms(w, "preprocess", t.preprocess_ms);
        kv_ms(w, "vision", t.vision_ms);
        kv_ms(w, "head", t.head_ms);
        kv_ms(w, "post", t.post_ms);
        kv_ms(w, "total", t.total_ms);
        json_out_end_object(w);
    }
    json_out_end_object(w);

    if (out && c->cli->out_dir) {
        char name[PATH_MAX];
        json_out_key(w, "outputs");
        json_out_begin_object(w);
        static const char *const keys[4] = {"json", "overlay", "anomaly", "labels"};
        const int have[4] = {out->json, out->overlay, out->anomaly, out->labels};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s%s", it->in->name, insp_result_suffixes[k]);
            json_out_kv_string(w, keys[k], have[k] ? name : NULL);
        }
        if (out->overlay) {
            json_out_kv_number(w, "overlay_scale", (double)out->zoom_num / out->zoom_den);
        }
        json_out_end_object(w);
    }
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

/* Writes the maps and the overlay of one image (the JSON record is written by the caller).
 * Returns 0, or -1 with the first failure's message in it->error. */
static int write_files(const run_ctx *c, item *it, const insp_image *img, const facts *f,
                       written *out)
{
    char path[PATH_MAX], err[MSG_SIZE] = "";
    int rc = 0;
    if (!f->have_map)
        note_failure(it, &rc, "plugin returned no usable anomaly map");
    if (f->have_map) {
        void *owned;
        const void *rows = packed_rows(&f->amap, sizeof(float), &owned);
        if (out_path(c, it, ".anomaly.tif", path, sizeof path, err, sizeof err) || !rows ||
            io_write_tiff_f32(path, rows, f->amap.width, f->amap.height, err, sizeof err))
            note_failure(it, &rc, "%s", rows ? err : "out of memory");
        else
            out->anomaly = 1;
        free(owned);
    }
    if (f->have_labels) {
        void *owned;
        const void *rows = packed_rows(&f->lmap, sizeof(uint16_t), &owned);
        if (out_path(c, it, ".labels.tif", path, sizeof path, err, sizeof err) || !rows ||
            io_write_tiff_u16(path, rows, f->lmap.width, f->lmap.height, err, sizeof err))
            note_failure(it, &rc, "%s", rows ? err : "out of memory");
        else
            out->labels = 1;
        free(owned);
    }
    overlay_input ov_in = {
        .image = img, .anomaly = f->have_map ? &f->amap : NULL,
        .labels = f->have_labels ? &f->lmap : NULL,
        .pixel_threshold = it->pthr, .image_threshold = it->ithr,
        .heat_floor = c->cli->has_heat_floor ? c->cli->heat_floor : -1,
        .regions = f->regions, .region_count = f->n_regions,
        .class_names = c->class_names, .class_count = c->class_count,
        .score = it->score, .decision = it->decision, .title = it->in->name,
        .reason = it->reason, .font = c->font,
    };
    overlay_image ov;
    err[0] = '\0';
    if (overlay_render(&ov_in, &ov, err, sizeof err) == 0) {
        if (out_path(c, it, ".overlay.png", path, sizeof path, err, sizeof err) == 0 &&
            io_write_png_rgb8(path, ov.rgb, ov.width, ov.height, err, sizeof err) == 0) {
            out->overlay = 1;
            out->zoom_num = ov.zoom_num;
            out->zoom_den = ov.zoom_den;
            if (c->cli->verbose && (ov.zoom_num != 1 || ov.zoom_den != 1))
                fprintf(stderr, "  overlay shown at %d/%d scale (%dx%d)%s\n", ov.zoom_num,
                        ov.zoom_den, ov.width, ov.height,
                        ov.zoom_den > 1 ? ": the full size would exceed the PNG writer's limit" : "");
            if (c->cli->verbose && ov.unlabelled)
                fprintf(stderr, "  overlay: %d region%s too crowded for a label (box only)\n",
                        ov.unlabelled, ov.unlabelled == 1 ? "" : "s");
        } else {
            note_failure(it, &rc, "overlay: %s", err);
        }
        overlay_free(&ov);
    } else {
        note_failure(it, &rc, "%s", err);
    }
    return rc;
}

/* The per-image JSON file. */
static int write_json_file(const run_ctx *c, item *it, const insp_image *img, const facts *f,
                           written *out)
{
    char path[PATH_MAX], err[MSG_SIZE];
    if (out_path(c, it, ".json", path, sizeof path, err, sizeof err) != 0) {
        snprintf(it->error, sizeof it->error, "%s", err);
        return -1;
    }
    FILE *fp = fopen(path, "w");
    if (!fp) {
        snprintf(it->error, sizeof it->error, "%.300s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    out->json = 1;
    json_out w;
    json_out_init(&w, fp, 1);
    write_record(&w, c, it, img, f, out);
    int jrc = json_out_finish(&w);
    if (fclose(fp) != 0 || jrc != 0) {
        snprintf(it->error, sizeof it->error, "%.300s: write failed", path);
        return -1;
    }
    return 0;
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

/* A --jsonl line. */
static void emit_jsonl(const run_ctx *c, const item *it, const insp_image *img, const facts *f,
                       const written *out)
{
    if (!c->cli->jsonl)
        return;
    json_out w;
    json_out_init(&w, stdout, 0);
    write_record(&w, c, it, img, f, out);
    json_out_finish(&w);
}

/* Reads, inspects and (with --out) writes one image; the outcome goes into *it. */
static void process_one(const run_ctx *c, item *it, int index, int total)
{
    char err[MSG_SIZE] = "";
    io_image io = {0};
    it->result = OUT_FAILED;
    it->read_ms = it->inspect_ms = it->write_ms = -1;
    double t0 = now_ms();
    int rrc = io_read_image(it->in->path, &io, err, sizeof err);
    it->read_ms = now_ms() - t0;
    if (rrc != 0) {
        snprintf(it->status, sizeof it->status, "read");
        snprintf(it->error, sizeof it->error, "%s", err);
        emit_jsonl(c, it, NULL, NULL, NULL);
        return;
    }
    if (c->mask.data && (c->mask.width != io.width || c->mask.height != io.height)) {
        snprintf(it->status, sizeof it->status, "mask");
        snprintf(it->error, sizeof it->error, "mask is %dx%d, image is %dx%d", c->mask.width,
                 c->mask.height, io.width, io.height);
        emit_jsonl(c, it, NULL, NULL, NULL);
        io_image_free(&io);
        return;
    }
    insp_image img = view_of(c, &io);
    if (c->cli->verbose)
        fprintf(stderr, "[%d/%d] %s: read %dx%d, %d channel%s %s in %.0f ms\n", index, total,
                it->in->name, img.width, img.height, img.channels, img.channels == 1 ? "" : "s",
                pixel_name(img.pixel), it->read_ms);
    insp_result *r = NULL;
    ticker tk;
    ticker_start(&tk, !c->cli->quiet, "[%d/%d] %s: still inspecting (%dx%d)", index, total,
                 it->in->name, img.width, img.height);
    t0 = now_ms();
    insp_status s = c->api->tool_process(c->tool, &img, &r, err, sizeof err);
    it->inspect_ms = now_ms() - t0;
    ticker_stop(&tk);
    if (s != INSP_OK) {
        snprintf(it->status, sizeof it->status, "%s", c->api->status_name(s));
        snprintf(it->error, sizeof it->error, "%s", err);
        emit_jsonl(c, it, &img, NULL, NULL);
        io_image_free(&io);
        return;
    }
    facts f;
    if (gather(c, it, r, &f) != 0) {
        snprintf(it->status, sizeof it->status, "memory");
        snprintf(it->error, sizeof it->error, "out of memory reading the result");
        facts_free(&f);
        c->api->result_release(r);
        emit_jsonl(c, it, &img, NULL, NULL);
        io_image_free(&io);
        return;
    }
    it->has_result = 1;
    it->result = it->decision == INSP_DECISION_OK ? OUT_OK : OUT_NG;
    written out = {0};
    if (c->cli->out_dir) {
        t0 = now_ms();
        int wrc = write_files(c, it, &img, &f, &out);
        it->write_ms = now_ms() - t0;
        if (wrc != 0) {
            snprintf(it->status, sizeof it->status, "write");
            it->result = OUT_FAILED;
        }
        char keep[MSG_SIZE];
        snprintf(keep, sizeof keep, "%s", it->error);
        if (write_json_file(c, it, &img, &f, &out) != 0) {
            snprintf(it->status, sizeof it->status, "write");
            it->result = OUT_FAILED;
            if (wrc != 0)
                snprintf(it->error, sizeof it->error, "%s", keep);
        }
    }
    emit_jsonl(c, it, &img, &f, c->cli->out_dir ? &out : NULL);
    if (c->cli->verbose) {
        insp_timing t = {.struct_size = sizeof t};
        if (c->api->result_timing(r, &t) == INSP_OK)
            fprintf(stderr, "  inspect %.0f ms (plugin: preprocess %.0f, vision %.0f, head %.0f, "
                    "post %.0f, total %.0f ms)\n", it->inspect_ms, t.preprocess_ms, t.vision_ms,
                    t.head_ms, t.post_ms, t.total_ms);
        if (f.have_map)
            fprintf(stderr, "  map max %.4g at (%d, %d); thresholds: image %.4g, pixel %.4g, "
                    "min area %ld px\n", f.map_max, f.map_max_x, f.map_max_y, it->ithr, it->pthr,
                    c->min_area);
        for (int i = 0; i < f.n_regions; i++) {
            const insp_region *g = &f.regions[i];
            fprintf(stderr, "  #%d %s: box %d,%d %dx%d, %lld px, max %.4g, mean %.4g\n", i + 1,
                    g->class_id > 0 && g->class_id < c->class_count && c->class_names[g->class_id]
                    ? c->class_names[g->class_id] : "?", g->x, g->y, g->w, g->h,
                    (long long)g->area, g->max_score, g->mean_score);
        }
        if (c->cli->out_dir)
            fprintf(stderr, "  wrote %s/%s.{json,overlay.png,anomaly.tif,labels.tif} in %.0f ms\n",
                    c->cli->out_dir, it->in->name, it->write_ms);
    }
    facts_free(&f);
    c->api->result_release(r);
    io_image_free(&io);
}

/* Run totals, milliseconds. */
typedef struct totals {
    int counts[3];
    double load_ms, read_ms, inspect_ms, write_ms, total_ms;
    int n_read, n_inspected, n_written;
} totals;

static void write_summary_object(json_out *w, const run_ctx *c, const item *items, int n,
                                 const totals *t, int exit_code, int with_results)
{
    json_out_begin_object(w);
    json_out_kv_string(w, "type", "summary");
    json_out_kv_string(w, "insp_version", INSP_HOST_VERSION);
    json_out_kv_string(w, "module", c->module_path);
    json_out_kv_string(w, "plugin_id", c->api->plugin_id);
    json_out_kv_string(w, "plugin_version", c->api->plugin_version);
    json_out_kv_string(w, "recipe", c->cli->recipe);
    json_out_kv_string(w, "product", c->info.product);
    json_out_kv_int(w, "images", n);
    json_out_kv_int(w, "ok", t->counts[OUT_OK]);
    json_out_kv_int(w, "ng", t->counts[OUT_NG]);
    json_out_kv_int(w, "failed", t->counts[OUT_FAILED]);
    json_out_kv_int(w, "exit_code", exit_code);
    json_out_key(w, "timing_ms");
    json_out_begin_object(w);
    kv_ms(w, "load", t->load_ms);
    kv_ms(w, "read", t->read_ms);
    kv_ms(w, "inspect", t->inspect_ms);
    kv_ms(w, "write", t->write_ms);
    kv_ms(w, "total", t->total_ms);
    if (t->n_inspected)
        kv_ms(w, "inspect_per_image", t->inspect_ms / t->n_inspected);
    json_out_end_object(w);
    json_out_kv_string(w, "out", c->cli->out_dir);
    if (with_results) {
        json_out_key(w, "results");
        json_out_begin_array(w);
        for (int i = 0; i < n; i++) {
            const item *it = &items[i];
            json_out_begin_object_inline(w);
            json_out_kv_string(w, "image", it->in->path);
            json_out_kv_string(w, "name", it->in->name);
            if (it->has_result) {
                json_out_kv_string(w, "decision", decision_name(it->decision));
                json_out_kv_float(w, "score", it->score);
                json_out_kv_int(w, "regions", it->n_regions);
                json_out_kv_string(w, "reason", it->reason);
            }
            if (it->result == OUT_FAILED) {
                json_out_kv_string(w, "status", it->status);
                json_out_kv_string(w, "error", it->error);
            }
            json_out_end_object(w);
        }
        json_out_end_array(w);
    }
    json_out_end_object(w);
}

static int write_summary_json(const run_ctx *c, const item *items, int n, const totals *t, int exit_code)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", c->cli->out_dir, INSP_SUMMARY_JSON) >= (int)sizeof path)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "insp: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    json_out w;
    json_out_init(&w, f, 1);
    write_summary_object(&w, c, items, n, t, exit_code, 1);
    int rc = json_out_finish(&w);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "insp: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* One CSV field (RFC 4180), control characters replaced by spaces. */
static void csv_field(FILE *f, const char *s, int last)
{
    if (s) {
        fputc('"', f);
        for (const char *p = s; *p; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '"')
                fputs("\"\"", f);
            else
                fputc(ch < 0x20 || ch == 0x7F ? ' ' : ch, f);
        }
        fputc('"', f);
    }
    fputc(last ? '\n' : ',', f);
}

static void csv_number(FILE *f, double v, const char *fmt)
{
    if (isfinite(v)) {
        char b[48];
        snprintf(b, sizeof b, fmt, v);
        for (char *p = b; *p; p++)
            if (*p == ',')
                *p = '.';
        fputs(b, f);
    }
    fputc(',', f);
}

static const char CSV_HEADER[] =
    "image,name,status,decision,score,image_threshold,map_max,pixel_threshold,min_region_area,"
    "regions,reason,read_ms,inspect_ms,write_ms,error\n";

static int write_csv(FILE *f, const run_ctx *c, const item *items, int n)
{
    fputs(CSV_HEADER, f);
    for (int i = 0; i < n; i++) {
        const item *it = &items[i];
        csv_field(f, it->in->path, 0);
        csv_field(f, it->in->name, 0);
        csv_field(f, it->result == OUT_FAILED ? it->status : "ok", 0);
        csv_field(f, it->has_result ? decision_name(it->decision) : NULL, 0);
        csv_number(f, it->has_result ? it->score : NAN, "%.6g");
        csv_number(f, it->has_result ? it->ithr : NAN, "%.6g");
        csv_number(f, it->has_result ? it->map_max : NAN, "%.6g");
        csv_number(f, it->has_result ? it->pthr : NAN, "%.6g");
        csv_number(f, it->has_result && c->min_area >= 0 ? (double)c->min_area : NAN, "%.0f");
        csv_number(f, it->has_result ? it->n_regions : NAN, "%.0f");
        csv_field(f, it->has_result ? it->reason : NULL, 0);
        csv_number(f, it->read_ms, "%.1f");
        csv_number(f, it->inspect_ms, "%.1f");
        csv_number(f, it->write_ms, "%.1f");
        csv_field(f, it->result == OUT_FAILED ? it->error : NULL, 1);
    }
    return fflush(f) != 0 || ferror(f) ? -1 : 0;
}

static int write_csv_file(const char *path, const run_ctx *c, const item *items, int n)
{
    if (strcmp(path, "-") == 0)
        return write_csv(stdout, c, items, n);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "insp: %s: cannot write: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = write_csv(f, c, items, n);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "insp: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* What can be checked without the plugin, so that a mistake does not cost a model load. */
static int prepare(run_ctx *c, insp_inputs *inputs)
{
    char err[MSG_SIZE];
    const insp_cli *cli = c->cli;
    if (insp_inputs_collect(cli->images, cli->n_images, cli->excludes, cli->n_excludes, inputs,
                            err, sizeof err) != 0) {
        fprintf(stderr, "insp: %s\n", err);
        return INSP_EXIT_USAGE;
    }
    if (inputs->duplicates && !cli->quiet)
        fprintf(stderr, "insp: %d input%s listed more than once, inspected once\n",
                inputs->duplicates, inputs->duplicates == 1 ? "" : "s");
    if (cli->verbose && inputs->skipped)
        fprintf(stderr, "insp: %d folder entr%s skipped (no image extension, excluded or not a "
                "regular file)\n", inputs->skipped, inputs->skipped == 1 ? "y" : "ies");
    if (cli->mask) {
        if (io_read_image(cli->mask, &c->mask, err, sizeof err) != 0) {
            fprintf(stderr, "insp: --mask: %s\n", err);
            return INSP_EXIT_SETUP;
        }
        if (c->mask.pixel != IO_U8 || c->mask.channels != 1) {
            fprintf(stderr, "insp: %s: a mask must be an 8-bit grey image\n", cli->mask);
            return INSP_EXIT_SETUP;
        }
    }
    if (cli->out_dir && make_dirs(cli->out_dir, err, sizeof err) != 0) {
        fprintf(stderr, "insp: --out: %s\n", err);
        return INSP_EXIT_SETUP;
    }
    if (cli->out_dir) {
        char note[600];
        c->font = ov_font_open(cli->font, note, sizeof note);
        if (!c->font) {
            fprintf(stderr, "insp: out of memory\n");
            return INSP_EXIT_SETUP;
        }
        if (note[0])
            fprintf(stderr, "insp: note: %s\n", note);
        if (cli->verbose)
            fprintf(stderr, "insp: overlay font: %s\n", ov_font_describe(c->font));
    }
    return INSP_EXIT_OK;
}

/* Loads module and tool and applies the command-line parameters; what it acquires goes into
 * *c and *m (released by cmd_run even on failure). Returns an exit code. */
static int setup(run_ctx *c, insp_module *m, host_state *hs, double *load_ms)
{
    char err[MSG_SIZE];
    const insp_cli *cli = c->cli;
    double t0 = now_ms();
    if (insp_loader_open(c->module_path, m, err, sizeof err) != INSP_OK) {
        fprintf(stderr, "insp: %s\n", err);
        return INSP_EXIT_SETUP;
    }
    c->api = m->api;
    if (cli->verbose)
        fprintf(stderr, "insp: plugin %s %s from %s (ABI %u.%u)\n", c->api->plugin_id,
                c->api->plugin_version, m->path, c->api->abi_major, c->api->abi_minor);
    if (cli->mask && !(c->api->caps & INSP_CAP_MASK)) {
        fprintf(stderr, "insp: %s: plugin does not support masks (no INSP_CAP_MASK)\n", m->path);
        return INSP_EXIT_SETUP;
    }
    double create_ms;
    if (create_tool(c->api, cli, hs, &c->tool, &create_ms) != INSP_OK)
        return INSP_EXIT_SETUP;
    if (cli->threads > 0 && c->api->abi_minor < 1) {    /* a 1.0 plugin ignores insp_host.threads */
        char v[16];
        snprintf(v, sizeof v, "%d", cli->threads);
        insp_status s = c->api->tool_set_param(c->tool, INSP_PARAM_NUM_THREADS, v, err, sizeof err);
        if (s != INSP_OK) {
            fprintf(stderr, "insp: --threads %s: %s: %s\n", v, c->api->status_name(s), err);
            return INSP_EXIT_USAGE;
        }
    }
    for (int i = 0; i < cli->n_params; i++) {
        const insp_param *p = &cli->params[i];
        insp_status s = c->api->tool_set_param(c->tool, p->key, p->value, err, sizeof err);
        if (s != INSP_OK) {
            fprintf(stderr, "insp: --set %s: %s: %s\n", p->arg, c->api->status_name(s), err);
            return INSP_EXIT_USAGE;
        }
    }
    *load_ms = now_ms() - t0;
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
    char v[INSP_PARAM_VALUE_SIZE];
    c->min_area = -1;
    if (c->api->tool_get_param(c->tool, INSP_PARAM_MIN_REGION_AREA, v, sizeof v, err, sizeof err) == INSP_OK) {
        char *end;
        long a = strtol(v, &end, 10);
        if (end != v && *end == '\0' && a >= 0)
            c->min_area = a;
    }
    if (cli->verbose)
        print_tool(stderr, c->api, c->tool, cli->recipe);
    return INSP_EXIT_OK;
}

static int cmd_run(const insp_cli *cli, const char *module_path)
{
    run_ctx c = {.cli = cli, .module_path = module_path};
    insp_module m = {0};
    insp_inputs inputs = {0};
    host_state hs = {.log_level = cli->verbose ? INSP_LOG_DEBUG : cli->quiet ? INSP_LOG_WARN : INSP_LOG_INFO,
                     .quiet = cli->quiet};
    totals t;
    memset(&t, 0, sizeof t);
    int rc = prepare(&c, &inputs);
    if (rc == INSP_EXIT_OK && cli->csv && strcmp(cli->csv, "-") != 0) {
        /* fail before the model loads if the CSV cannot be written */
        FILE *f = fopen(cli->csv, "a");
        if (!f) {
            fprintf(stderr, "insp: --csv %s: cannot write: %s\n", cli->csv, strerror(errno));
            rc = INSP_EXIT_SETUP;
        } else {
            fclose(f);
        }
    }
    if (rc == INSP_EXIT_OK)
        rc = setup(&c, &m, &hs, &t.load_ms);
    item *items = NULL;
    if (rc == INSP_EXIT_OK) {
        items = calloc((size_t)inputs.count, sizeof *items);
        if (!items) {
            fprintf(stderr, "insp: out of memory\n");
            rc = INSP_EXIT_SETUP;
        }
    }
    if (rc == INSP_EXIT_OK) {
        int n = inputs.count;
        double t0 = now_ms();
        for (int i = 0; i < n; i++) {
            item *it = &items[i];
            it->in = &inputs.items[i];
            process_one(&c, it, i + 1, n);
            t.counts[it->result]++;
            if (it->read_ms >= 0)
                t.read_ms += it->read_ms, t.n_read++;
            if (it->inspect_ms >= 0)
                t.inspect_ms += it->inspect_ms, t.n_inspected++;
            if (it->write_ms >= 0)
                t.write_ms += it->write_ms, t.n_written++;
            if (it->result == OUT_FAILED)
                fprintf(stderr, "[%d/%d] %s: FAILED (%s): %s\n", i + 1, n, it->in->name,
                        it->status, it->error);
            else if (!cli->quiet)
                fprintf(stderr, "[%d/%d] %s: %s  %s (%.0f ms)\n", i + 1, n, it->in->name,
                        decision_name(it->decision), it->brief, it->inspect_ms);
            fflush(stdout);
        }
        t.total_ms = now_ms() - t0 + t.load_ms;
        rc = t.counts[OUT_FAILED] ? INSP_EXIT_IMAGE : t.counts[OUT_NG] ? INSP_EXIT_NG : INSP_EXIT_OK;
        if (cli->out_dir) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", cli->out_dir, INSP_SUMMARY_CSV);
            if (write_summary_json(&c, items, n, &t, rc) != 0 || write_csv_file(path, &c, items, n) != 0)
                rc = INSP_EXIT_IMAGE;
        }
        if (cli->csv && write_csv_file(cli->csv, &c, items, n) != 0)
            rc = INSP_EXIT_IMAGE;
        if (cli->jsonl) {
            json_out w;
            json_out_init(&w, stdout, 0);
            write_summary_object(&w, &c, items, n, &t, rc, 0);
            json_out_finish(&w);
        }
        if (!cli->quiet) {
            char a[32], b[32], d[32], e[32];
            fprintf(stderr, "insp: %d image%s: %d OK, %d NG, %d failed\n", n, n == 1 ? "" : "s",
                    t.counts[OUT_OK], t.counts[OUT_NG], t.counts[OUT_FAILED]);
            fprintf(stderr, "insp: time: load %s; inspect %.0f ms/image (%s)", dur(t.load_ms, a, sizeof a),
                    t.n_inspected ? t.inspect_ms / t.n_inspected : 0.0, dur(t.inspect_ms, b, sizeof b));
            fprintf(stderr, "; read %.0f ms/image", t.n_read ? t.read_ms / t.n_read : 0.0);
            if (t.n_written)
                fprintf(stderr, "; write %.0f ms/image (%s)", t.write_ms / t.n_written, dur(t.write_ms, d, sizeof d));
            fprintf(stderr, "; total %s\n", dur(t.total_ms, e, sizeof e));
            if (cli->out_dir)
                fprintf(stderr, "insp: results in %s (%s, %s)\n", cli->out_dir, INSP_SUMMARY_JSON,
                        INSP_SUMMARY_CSV);
        }
    }
    free(items);
    insp_inputs_free(&inputs);
    io_image_free(&c.mask);
    ov_font_close(c.font);
    free(c.class_names);
    if (c.tool)
        c.api->tool_destroy(c.tool);
    insp_loader_close(&m);
    return rc;
}

static void print_version(const insp_cli *cli)
{
    printf("insp %s (dapo-inspect reference host), plugin ABI %d.%d\n", INSP_HOST_VERSION,
           INSP_ABI_MAJOR, INSP_ABI_MINOR);
    char def[PATH_MAX], err[MSG_SIZE];
    const char *module = cli->module;
    if (!module && default_module_path(def, sizeof def) == 0)
        module = def;
    if (!module)
        return;
    insp_module m;
    if (insp_loader_open(module, &m, err, sizeof err) == INSP_OK) {
        printf("plugin %s %s (ABI %u.%u) at %s\n", m.api->plugin_id, m.api->plugin_version,
               m.api->abi_major, m.api->abi_minor, m.path);
        insp_loader_close(&m);
    } else {
        printf("plugin: none usable at %s\n", module);
    }
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
        print_version(&cli);
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
