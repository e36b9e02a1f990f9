/* Fail-safe behaviour at the plugin boundary (issue 10): inputs and faults that once gave a
 * silent OK, a hang or a crash. Driven through the loader and the insp_api table like a host,
 * on the golden tiny model; model and recipe variants are written into a temp dir. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "golden.h"
#include "test_images.h"
#include "imageio.h"
#include "json.h"
#include "loader.h"
#include "safetensors.h"
#include "status.h"
#include "tokenizer.h"
#include "tool_internal.h"
#include "test_cmd.h"

static insp_module g_mod;
static const insp_api *A;
static char g_dir[256];

static const char *plugin_path(void)
{
    const char *p = getenv("DAPO_PLUGIN");
    return p && *p ? p : "build/libdapo_inspect.so";
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dp_failsafe_XXXXXX");
    ck_assert(mkdtemp(g_dir));
    char err[INSP_ERRBUF_SIZE];
    ck_assert_msg(insp_loader_open(plugin_path(), &g_mod, err, sizeof err) == INSP_OK, "%s", err);
    A = g_mod.api;
}

static void teardown(void)
{
    insp_loader_close(&g_mod);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert(system(cmd) == 0);
}

/* "<tmp>/<name>" in a rotation of 4 static buffers. */
static const char *tmp_path(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ & 3];
    snprintf(b, 512, "%s/%s", g_dir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f, "cannot write %s", path);
    ck_assert(fwrite(data, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

/* A recipe for the tiny model with the given dapo file (NULL: golden), written to <tmp>/<name>.
 * `body` follows the model section verbatim (defects etc.). Returns the path (static rotation). */
static const char *recipe_with(const char *name, const char *dapo, const char *body)
{
    char text[4096];
    snprintf(text, sizeof text,
             "recipe_version: 1\nproduct: failsafe\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
             "  dapo: %s\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
             "precision: f32\ninput_size: 112\nthreads: 2\n%s",
             golden_dir(), dapo ? dapo : golden_path("tiny/dapo.safetensors"), models_dir(), body);
    const char *path = tmp_path(name);
    write_file(path, text, strlen(text));
    return path;
}

static const char *DEFECTS = "defects: [hole, scratch]\n";

static insp_tool *create_ok(const char *recipe)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    insp_status st = A->tool_create(NULL, recipe, &t, err, sizeof err);
    ck_assert_msg(st == INSP_OK, "tool_create: %s", err);
    return t;
}

/* Copies the golden tiny dapo.safetensors to out_path with every F32 element of the tensors
 * whose name starts with `prefix` set to `value` (finite: the file stays valid). */
static void dapo_variant(const char *out_path, const char *prefix, float value)
{
    size_t n;
    uint8_t *b = (uint8_t *)tsup_slurp(golden_path("tiny/dapo.safetensors"), &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | b[i];
    dp_json *doc = NULL;
    dp_err e;
    ck_assert_msg(dp_json_parse((const char *)b + 8, (size_t)hlen, "dapo header", &doc, &e) == DP_OK,
                  "%s", e.msg);
    int changed = 0;
    for (size_t k = 0; k < doc->count; k++) {
        if (strncmp(doc->keys[k], prefix, strlen(prefix)) != 0)
            continue;
        const dp_json *off = dp_json_get(&doc->items[k], "data_offsets");
        const dp_json *dt = dp_json_get(&doc->items[k], "dtype");
        ck_assert(off && off->count == 2 && dt && strcmp(dt->string, "F32") == 0);
        for (int64_t o = off->items[0].integer; o < off->items[1].integer; o += 4)
            memcpy(b + 8 + hlen + o, &value, 4);
        changed++;
    }
    ck_assert_int_gt(changed, 0);
    dp_json_free(doc);
    write_file(out_path, b, n);
    free(b);
}

/* ---- item 5: non-finite model outputs never reach a decision ---- */

static void expect_nonfinite_refused(const char *prefix, float value, const char *tiling)
{
    const char *dapo = tmp_path("extreme_dapo.safetensors");
    dapo_variant(dapo, prefix, value);
    char body[512];
    snprintf(body, sizeof body, "%s%s", DEFECTS, tiling);
    insp_tool *t = create_ok(recipe_with("extreme.yaml", dapo, body));
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = (insp_result *)1;
    insp_status st = A->tool_process(t, &v, &r, err, sizeof err);
    printf("  %s = %g%s: %s: %s\n", prefix, value, tiling[0] ? " (tiled)" : "", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_MODEL);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(err, "not finite"));
    ck_assert_ptr_nonnull(strstr(err, "no decision"));
    io_image_free(&im);
    A->tool_destroy(t);
}

START_TEST(extreme_adapter_weights_are_an_error)
{
    expect_nonfinite_refused("linear_adapter.fc.", 3.0e38f, "");
    expect_nonfinite_refused("linear_adapter.fc.", 3.0e38f,
                             "tiling: {mode: grid, tile: 64, overlap: 8, batch: 2}\n");
}
END_TEST

START_TEST(extreme_visual_prompts_are_an_error)
{
    expect_nonfinite_refused("visual_prompt.", 3.0e38f, "");
}
END_TEST

/* ---- item 6: non-finite F32 input and an all-zero mask are refused, never a silent OK ---- */

static insp_tool *make_tool(const char *body)
{
    return create_ok(recipe_with("tool.yaml", NULL, body));
}

/* process must fail with `code` and a message containing `fragment`; result stays NULL. */
static void expect_process_fails(insp_tool *t, const insp_image *v, insp_status code,
                                 const char *fragment)
{
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = (insp_result *)1;
    insp_status st = A->tool_process(t, v, &r, err, sizeof err);
    printf("  process -> %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, code);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, fragment), "message \"%s\" lacks \"%s\"", err, fragment);
}

static void expect_process_ok(insp_tool *t, const insp_image *v)
{
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    insp_status st = A->tool_process(t, v, &r, err, sizeof err);
    ck_assert_msg(st == INSP_OK, "process: %s", err);
    A->result_release(r);
}

START_TEST(nonfinite_f32_input_refused)
{
    insp_tool *t = make_tool(DEFECTS);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    const int W = im.width, H = im.height;
    float *f = malloc((size_t)W * H * 3 * sizeof *f);
    for (int i = 0; i < W * H * 3; i++)
        f[i] = ((const uint8_t *)im.data)[i] / 255.0f;
    insp_image v = view_rgb8(&im);
    v.pixel = INSP_PIX_F32;
    v.row_stride = (ptrdiff_t)W * 12;
    v.data = f;
    expect_process_ok(t, &v);
    /* one NaN, one +Inf: named with position and channel */
    f[((size_t)9 * W + 17) * 3 + 1] = NAN;
    expect_process_fails(t, &v, INSP_E_IMAGE, "(x 17, y 9), channel 1 is NaN");
    f[((size_t)9 * W + 17) * 3 + 1] = 0.5f;
    f[((size_t)40 * W + 3) * 3 + 2] = INFINITY;
    expect_process_fails(t, &v, INSP_E_IMAGE, "(x 3, y 40), channel 2 is +Inf");
    /* a NaN outside the ROI or under a masked-out pixel is never read: fine */
    v.roi_x = 10; v.roi_y = 0; v.roi_w = 40; v.roi_h = 30;
    expect_process_ok(t, &v);
    v.roi_w = 0;
    uint8_t *mask = malloc((size_t)W * H);
    memset(mask, 1, (size_t)W * H);
    mask[(size_t)40 * W + 3] = 0;
    v.mask = mask;
    v.mask_stride = W;
    expect_process_ok(t, &v);
    v.mask = NULL;
    /* all-NaN and all -Inf frames */
    for (int i = 0; i < W * H * 3; i++)
        f[i] = NAN;
    expect_process_fails(t, &v, INSP_E_IMAGE, "(x 0, y 0), channel 0 is NaN");
    for (int i = 0; i < W * H * 3; i++)
        f[i] = -INFINITY;
    expect_process_fails(t, &v, INSP_E_IMAGE, "(x 0, y 0), channel 0 is -Inf");
    /* planar grey-level check: the bad sample is found in the right plane */
    for (int i = 0; i < W * H * 3; i++)
        f[i] = 0.25f;
    f[(size_t)2 * W * H + (size_t)5 * W + 6] = NAN;
    v.planar = 1;
    v.row_stride = (ptrdiff_t)W * 4;
    v.plane_stride = (ptrdiff_t)W * H * 4;
    expect_process_fails(t, &v, INSP_E_IMAGE, "(x 6, y 5), channel 2 is NaN");
    /* the tool stays usable */
    v = view_rgb8(&im);
    expect_process_ok(t, &v);
    free(mask);
    free(f);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

START_TEST(all_zero_mask_refused)
{
    insp_tool *t = make_tool(DEFECTS);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    uint8_t *mask = calloc((size_t)im.width * im.height, 1);
    v.mask = mask;
    v.mask_stride = im.width;
    expect_process_fails(t, &v, INSP_E_IMAGE, "nothing to inspect");
    /* one kept pixel outside the ROI does not count either */
    mask[0] = 1;
    v.roi_x = 20; v.roi_y = 20; v.roi_w = 30; v.roi_h = 30;
    expect_process_fails(t, &v, INSP_E_IMAGE, "nothing to inspect");
    mask[(size_t)25 * im.width + 25] = 1;
    expect_process_ok(t, &v);
    free(mask);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

/* ---- item 3: a FIFO (or any non-regular file) never blocks tool creation ---- */

static void expect_create_fails(const char *recipe, insp_status code, const char *fragment)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = (insp_tool *)1;
    insp_status st = A->tool_create(NULL, recipe, &t, err, sizeof err);
    printf("  create -> %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, code);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, fragment), "message \"%s\" lacks \"%s\"", err, fragment);
}

START_TEST(fifo_files_refused_without_blocking)
{
    /* nobody ever opens the write end: a blocking open or read would hang forever */
    const char *fifo = tmp_path("pipe");
    ck_assert(mkfifo(fifo, 0600) == 0);
    expect_create_fails(fifo, INSP_E_RECIPE, "is a FIFO (named pipe); expected the recipe");
    char body[1024];
    snprintf(body, sizeof body,
             "recipe_version: 1\nproduct: p\nmodel: {clip: %s/tiny/clip.safetensors, dapo: %s/tiny/"
             "dapo.safetensors, vocabulary: %s}\nprecision: f32\ninput_size: 112\n%s",
             golden_dir(), golden_dir(), fifo, DEFECTS);
    const char *recipe = tmp_path("fifo_vocab.yaml");
    write_file(recipe, body, strlen(body));
    expect_create_fails(recipe, INSP_E_MODEL, "is a FIFO (named pipe); expected the CLIP merges file");
    snprintf(body, sizeof body,
             "recipe_version: 1\nproduct: p\nmodel: {clip: %s/tiny/clip.safetensors, dapo: %s}\n"
             "precision: f32\ninput_size: 112\n%s", golden_dir(), fifo, DEFECTS);
    write_file(recipe, body, strlen(body));
    expect_create_fails(recipe, INSP_E_MODEL, "not a regular file");
    /* a character device as the recipe */
    expect_create_fails("/dev/zero", INSP_E_RECIPE, "is a character device");
}
END_TEST

/* ---- item 4: num_threads under the tool's lock; a rebuild never loads changed files ---- */

static float score_of(insp_tool *t, const insp_image *v)
{
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    insp_status st = A->tool_process(t, v, &r, err, sizeof err);
    ck_assert_msg(st == INSP_OK, "process: %s", err);
    float s = A->result_score(r);
    A->result_release(r);
    return s;
}

typedef struct proc_loop { insp_tool *tool; const insp_image *img; int n, failures; float ref, worst; } proc_loop;

static void *process_loop(void *arg)
{
    proc_loop *p = arg;
    for (int i = 0; i < p->n; i++) {
        char err[INSP_ERRBUF_SIZE];
        insp_result *r = NULL;
        if (A->tool_process(p->tool, p->img, &r, err, sizeof err) != INSP_OK) {
            p->failures++;
            continue;
        }
        float d = fabsf(A->result_score(r) - p->ref);
        if (!(d <= p->worst))
            p->worst = d;
        A->result_release(r);
    }
    return NULL;
}

START_TEST(set_threads_concurrent_with_process)
{
    insp_tool *t = make_tool(DEFECTS);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    proc_loop p = { t, &v, 8, 0, score_of(t, &v), 0 };
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, process_loop, &p) == 0);
    int set_ok = 0;
    for (int i = 0; i < 6; i++) {
        char err[INSP_ERRBUF_SIZE];
        set_ok += A->tool_set_param(t, INSP_PARAM_NUM_THREADS, i % 2 ? "2" : "1", err, sizeof err) == INSP_OK;
        set_ok += A->tool_set_param(t, INSP_PARAM_PIXEL_THRESHOLD, i % 2 ? "1.5" : "2.5", err, sizeof err) == INSP_OK;
    }
    pthread_join(th, NULL);
    printf("  %d process calls during 6 thread-count changes: %d failures, max score change %g\n",
           p.n, p.failures, p.worst);
    ck_assert_int_eq(set_ok, 12);
    ck_assert_int_eq(p.failures, 0);
    ck_assert(p.worst < 1e-5f);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

START_TEST(set_threads_refuses_changed_model_files)
{
    /* the tool's dapo file is a private copy that the test then changes */
    const char *dapo = tmp_path("dapo_copy.safetensors");
    size_t n;
    void *bytes = tsup_slurp(golden_path("tiny/dapo.safetensors"), &n);
    write_file(dapo, bytes, n);
    free(bytes);
    insp_tool *t = create_ok(recipe_with("copy.yaml", dapo, DEFECTS));
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    float before = score_of(t, &v);
    char err[INSP_ERRBUF_SIZE], buf[INSP_PARAM_VALUE_SIZE];
    /* unchanged files: the rebuild is allowed */
    ck_assert_msg(A->tool_set_param(t, INSP_PARAM_NUM_THREADS, "1", err, sizeof err) == INSP_OK, "%s", err);
    /* rewritten in place (same inode and size, new content and mtime) */
    dapo_variant(dapo, "linear_adapter.fc.0.weight", 0.5f);
    struct timespec later[2] = { { 0, UTIME_OMIT }, { time(NULL) + 10, 0 } };
    ck_assert(utimensat(AT_FDCWD, dapo, later, 0) == 0);
    insp_status st = A->tool_set_param(t, INSP_PARAM_NUM_THREADS, "2", err, sizeof err);
    printf("  rewritten: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_MODEL);
    ck_assert_ptr_nonnull(strstr(err, "changed on disk"));
    ck_assert_ptr_nonnull(strstr(err, dapo));
    /* replaced by another file (new inode) */
    const char *other = tmp_path("other.safetensors");
    dapo_variant(other, "linear_adapter.fc.1.weight", 0.25f);
    ck_assert(rename(other, dapo) == 0);
    st = A->tool_set_param(t, INSP_PARAM_NUM_THREADS, "2", err, sizeof err);
    printf("  replaced: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_MODEL);
    /* removed */
    ck_assert(unlink(dapo) == 0);
    st = A->tool_set_param(t, INSP_PARAM_NUM_THREADS, "2", err, sizeof err);
    printf("  removed: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_MODEL);
    /* the tool is unchanged: same thread count, same model, same score */
    ck_assert(A->tool_get_param(t, INSP_PARAM_NUM_THREADS, buf, sizeof buf, err, sizeof err) == INSP_OK);
    ck_assert_str_eq(buf, "1");
    ck_assert_float_eq_tol(score_of(t, &v), before, 1e-6);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

/* ---- item 15: the host can cancel a process call (ABI 1.1 tool_cancel) ---- */

typedef struct cancel_run { insp_tool *tool; const insp_image *img; insp_status st; insp_result *r; char err[INSP_ERRBUF_SIZE]; } cancel_run;

static void *process_once(void *arg)
{
    cancel_run *c = arg;
    c->st = A->tool_process(c->tool, c->img, &c->r, c->err, sizeof c->err);
    return NULL;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

START_TEST(cancel_stops_a_long_call)
{
    ck_assert(INSP_API_HAS(A, tool_cancel) && A->tool_cancel && A->abi_minor >= 1);
    ck_assert_str_eq(A->status_name(INSP_E_CANCELLED), "INSP_E_CANCELLED");
    ck_assert_int_eq(A->tool_cancel(NULL), INSP_E_ARG);
    /* tile 28 on 640 x 480: hundreds of tiles, many seconds, the runaway call */
    insp_tool *t = make_tool("defects: [hole, scratch]\ntiling: {mode: grid, tile: 28, overlap: 3}\n");
    const int W = 640, H = 480;
    uint8_t *px = malloc((size_t)W * H);
    for (int i = 0; i < W * H; i++)
        px[i] = (uint8_t)(i * 7 % 251);
    insp_image v = { .struct_size = sizeof v, .width = W, .height = H, .channels = 1,
                     .pixel = INSP_PIX_U8, .row_stride = W, .data = px };
    cancel_run c = { t, &v, -1, (insp_result *)1, "" };
    pthread_t th;
    double t0 = mono_ms();
    ck_assert(pthread_create(&th, NULL, process_once, &c) == 0);
    usleep(300 * 1000);
    double t_cancel = mono_ms();
    ck_assert_int_eq(A->tool_cancel(t), INSP_OK);
    pthread_join(th, NULL);
    double t_end = mono_ms();
    printf("  cancelled after %.0f ms: %s: %s; returned %.1f ms after tool_cancel\n",
           t_cancel - t0, A->status_name(c.st), c.err, t_end - t_cancel);
    ck_assert_int_eq(c.st, INSP_E_CANCELLED);
    ck_assert_ptr_null(c.r);
    ck_assert_ptr_nonnull(strstr(c.err, "cancelled by the host"));
    /* a cancel does not outlive the calls it was meant for; the tool still works */
    ck_assert_int_eq(A->tool_cancel(t), INSP_OK);
    insp_image small = v;
    small.roi_x = 0; small.roi_y = 0; small.roi_w = 60; small.roi_h = 40;
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    ck_assert_msg(A->tool_process(t, &small, &r, err, sizeof err) == INSP_OK, "%s", err);
    ck_assert(isfinite(A->result_score(r)));
    A->result_release(r);
    free(px);
    A->tool_destroy(t);
}
END_TEST

/* ---- item 17: destroyed and released handles are refused while detectable ---- */

START_TEST(dead_handles_refused)
{
    insp_tool *t = make_tool(DEFECTS);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    char err[INSP_ERRBUF_SIZE], buf[INSP_PARAM_VALUE_SIZE];
    insp_result *r = NULL;
    ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
    /* a released result read, then released again: refused, no crash (under ASan the freed
     * block is still in quarantine, and the tag check reads it uninstrumented on purpose) */
    A->result_release(r);
    ck_assert(isnan(A->result_score(r)));
    ck_assert_int_eq(A->result_decision(r), INSP_DECISION_NG);
    ck_assert_int_eq(A->result_class_count(r), 0);
    ck_assert_int_eq(A->result_region_count(r), 0);
    const char *name = NULL;
    ck_assert_int_eq(A->result_class(r, 0, &name, NULL), INSP_E_ARG);
    insp_image m = { .struct_size = sizeof m };
    ck_assert_int_eq(A->result_anomaly_map(r, &m), INSP_E_ARG);
    ck_assert_int_eq(A->result_label_map(r, &m), INSP_E_ARG);
    insp_timing tm = { .struct_size = sizeof tm };
    ck_assert_int_eq(A->result_timing(r, &tm), INSP_E_ARG);
    ck_assert_int_eq(A->result_thresholds(r, NULL, NULL), INSP_E_ARG);
    A->result_release(r);
    /* a destroyed tool, then destroyed again */
    A->tool_destroy(t);
    insp_result *r2 = (insp_result *)1;
    ck_assert_int_eq(A->tool_process(t, &v, &r2, err, sizeof err), INSP_E_ARG);
    printf("  process on a destroyed tool: %s\n", err);
    ck_assert_ptr_null(r2);
    ck_assert_ptr_nonnull(strstr(err, "not a live tool"));
    ck_assert_int_eq(A->tool_set_param(t, INSP_PARAM_PIXEL_THRESHOLD, "1", err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_get_param(t, INSP_PARAM_PIXEL_THRESHOLD, buf, sizeof buf, err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_class_count(t), 0);
    ck_assert_ptr_null(A->tool_class_name(t, 0));
    ck_assert_ptr_null(A->tool_param_schema(t));
    insp_tool_info info = { .struct_size = sizeof info };
    ck_assert_int_eq(A->tool_info(t, &info, err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_cancel(t), INSP_E_ARG);
    A->tool_destroy(t);
    /* something that never was a handle */
    uint64_t junk[64] = { 0 };
    ck_assert_int_eq(A->tool_process((insp_tool *)junk, &v, &r2, err, sizeof err), INSP_E_ARG);
    ck_assert(isnan(A->result_score((insp_result *)junk)));
    A->tool_destroy((insp_tool *)junk);
    A->result_release((insp_result *)junk);
    io_image_free(&im);
}
END_TEST

/* ---- item 12: error text is one UTF-8 line, whatever the files contain ---- */

/* 1 when s is valid UTF-8 without C0/DEL/C1 controls or U+2028/2029. */
static int one_clean_line(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (n == 0 || c < 0x20 || c == 0x7F)
            return 0;
        uint32_t v = n == 1 ? c : c & (0x7F >> n);
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            v = v << 6 | (p[i] & 0x3F);
        }
        if ((v >= 0x80 && v <= 0x9F) || v == 0x2028 || v == 0x2029 || (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        p += n;
    }
    return 1;
}

START_TEST(sanitize_line_unit)
{
    char out[64];
    dp_sanitize_line(out, sizeof out, "a\nb\x1b[31mc\r\td\x7f");
    ck_assert_str_eq(out, "a\\nb\\x1B[31mc\\r\\td\\x7F");
    dp_sanitize_line(out, sizeof out, "bad \xff\xfe end \xc3");
    ck_assert_str_eq(out, "bad \\xFF\\xFE end \\xC3");
    dp_sanitize_line(out, sizeof out, "nel\xc2\x85 ls\xe2\x80\xa8 ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ck_assert_str_eq(out, "nel\\u0085 ls\\u2028 ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    /* overlong encodings and surrogates are not UTF-8 */
    dp_sanitize_line(out, sizeof out, "\xc0\xaf\xed\xa0\x80");
    ck_assert_str_eq(out, "\\xC0\\xAF\\xED\\xA0\\x80");
    /* truncation keeps whole characters and whole escapes */
    char small[6];
    dp_sanitize_line(small, sizeof small, "ab\xe2\x82\xac");   /* "ab" + 3-byte euro: 5 + NUL */
    ck_assert_str_eq(small, "ab\xe2\x82\xac");
    dp_sanitize_line(small, sizeof small, "abc\xe2\x82\xac");
    ck_assert_str_eq(small, "abc");
    dp_sanitize_line(small, sizeof small, "abcd\n");   /* the 2-byte escape does not fit */
    ck_assert_str_eq(small, "abcd");
    dp_sanitize_line(small, 1, "abc");
    ck_assert_str_eq(small, "");
    dp_sanitize_line(NULL, 10, "abc");
    dp_sanitize_line(out, sizeof out, NULL);
    ck_assert_str_eq(out, "");
}
END_TEST

/* A safetensors file with one tensor whose name carries a line break and terminal escapes and
 * whose offsets do not match its shape: the loader's message names the tensor. */
static void write_evil_safetensors(const char *path)
{
    const char *hdr = "{\"evil\\nname\\u001b[2J\\u001b]0;pwned\\u0007\\u0085x\": "
                      "{\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    uint8_t *b = calloc(8 + padded + 8, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, hdr, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    write_file(path, b, 8 + padded + 8);
    free(b);
}

START_TEST(error_text_is_one_line)
{
    const char *evil = tmp_path("evil.safetensors");
    write_evil_safetensors(evil);
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = (insp_tool *)1;
    insp_status st = A->tool_create(NULL, recipe_with("evil.yaml", evil, DEFECTS), &t, err, sizeof err);
    printf("  crafted tensor name: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_MODEL);
    ck_assert_msg(one_clean_line(err), "not one clean UTF-8 line: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "evil\\nname\\x1B[2J"));
    /* a recipe path with a newline and bytes that are not UTF-8 */
    st = A->tool_create(NULL, "/nonexistent/a\nb\xff.yaml", &t, err, sizeof err);
    printf("  path: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_RECIPE);
    ck_assert(one_clean_line(err));
    ck_assert_ptr_nonnull(strstr(err, "a\\nb\\xFF.yaml"));
    /* set_param echoing its key and value */
    insp_tool *tool = make_tool(DEFECTS);
    st = A->tool_set_param(tool, INSP_PARAM_PIXEL_THRESHOLD, "1\n\x1b[2J", err, sizeof err);
    printf("  set_param value: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_ARG);
    ck_assert(one_clean_line(err));
    ck_assert_ptr_nonnull(strstr(err, "1\\n\\x1B[2J"));
    st = A->tool_set_param(tool, "key\r\nInjected: yes", "1", err, sizeof err);
    ck_assert_int_eq(st, INSP_E_ARG);
    ck_assert(one_clean_line(err));
    A->tool_destroy(tool);
}
END_TEST

/* ---- item 9: one parse-and-validate path for thresholds, checked as the stored float ---- */

START_TEST(thresholds_checked_as_float)
{
    const struct { const char *yaml; const char *fragment; } bad[] = {
        { "thresholds: {image: 0.99999999999}\n", "thresholds.image: 0.99999999999 (rounds to 1 as a 32-bit float" },
        { "thresholds: {image: 1e-50}\n", "thresholds.image: 1e-50 (rounds to 0 as a 32-bit float" },
        { "thresholds: {pixel: 3.9999999999}\n", "thresholds.pixel: 3.9999999999 (rounds to 4" },
        { "thresholds: {pixel: 1e-60}\n", "(rounds to 0" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "%s%s", DEFECTS, bad[i].yaml);
        expect_create_fails(recipe_with("thr.yaml", NULL, body), INSP_E_RECIPE, bad[i].fragment);
    }
    expect_create_fails(recipe_with("thr.yaml", NULL, "defects: [{name: hole, pixel_threshold: 1e-50}]\n"),
                        INSP_E_RECIPE, "defects[1].pixel_threshold: 1e-50 (rounds to 0");
    /* set_param: the same verdicts, the same reasons */
    insp_tool *t = make_tool(DEFECTS);
    char err[INSP_ERRBUF_SIZE], buf[INSP_PARAM_VALUE_SIZE];
    const struct { const char *key, *value, *fragment; } bad_set[] = {
        { INSP_PARAM_IMAGE_THRESHOLD, "0.99999999999", "(rounds to 1 as a 32-bit float" },
        { INSP_PARAM_IMAGE_THRESHOLD, "1e-50", "(rounds to 0 as a 32-bit float" },
        { INSP_PARAM_PIXEL_THRESHOLD, "3.9999999999", "(rounds to 4" },
        { INSP_PARAM_MIN_REGION_AREA, "08", "(a leading zero" },
        { INSP_PARAM_MIN_REGION_AREA, "1.5", "(not a whole number)" },
        { INSP_PARAM_IMAGE_THRESHOLD, "0,5", "(not a decimal number)" },
    };
    for (size_t i = 0; i < sizeof bad_set / sizeof bad_set[0]; i++) {
        insp_status st = A->tool_set_param(t, bad_set[i].key, bad_set[i].value, err, sizeof err);
        printf("  set %s=%s: %s: %s\n", bad_set[i].key, bad_set[i].value, A->status_name(st), err);
        ck_assert_int_eq(st, INSP_E_ARG);
        ck_assert_msg(strstr(err, bad_set[i].fragment), "\"%s\" lacks \"%s\"", err, bad_set[i].fragment);
    }
    /* the spellings a recipe accepts, set_param accepts, and they give the same stored value */
    const char *good[] = { ".5", "5e-1", "0.5", "0.9999999", "1e-7" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "%sthresholds: {image: %s}\n", DEFECTS, good[i]);
        insp_tool *r = create_ok(recipe_with("good.yaml", NULL, body));
        char from_recipe[INSP_PARAM_VALUE_SIZE];
        ck_assert(A->tool_get_param(r, INSP_PARAM_IMAGE_THRESHOLD, from_recipe, sizeof from_recipe, err, sizeof err) == INSP_OK);
        A->tool_destroy(r);
        ck_assert_msg(A->tool_set_param(t, INSP_PARAM_IMAGE_THRESHOLD, good[i], err, sizeof err) == INSP_OK, "%s", err);
        ck_assert(A->tool_get_param(t, INSP_PARAM_IMAGE_THRESHOLD, buf, sizeof buf, err, sizeof err) == INSP_OK);
        ck_assert_str_eq(buf, from_recipe);
        /* what get_param returns, set_param takes back */
        ck_assert_msg(A->tool_set_param(t, INSP_PARAM_IMAGE_THRESHOLD, buf, err, sizeof err) == INSP_OK,
                      "get_param gave \"%s\", set_param refused it: %s", buf, err);
    }
    A->tool_destroy(t);
}
END_TEST

/* ---- item 7: defect names are unique as the tokenizer reads them ---- */

START_TEST(normalize_unit)
{
    char *out = NULL;
    dp_err e;
    ck_assert(dp_tokenizer_normalize("  \xc3\x89" "clat&amp;amp;X\xe3\x80\x80\xc2\xa0 Y ", &out, &e) == DP_OK);
    ck_assert_str_eq(out, "\xc3\xa9" "clat&x y");   /* unescaped twice, like dp_tokenize */
    free(out);
    ck_assert(dp_tokenizer_normalize("\xff", &out, &e) == DP_E_ARG);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(defect_names_folded_by_tokenizer_refused)
{
    const struct { const char *list, *fragment; } dup[] = {
        { "[\"\xc3\x89" "clat\", \"\xc3\xa9" "clat\"]", "defects[2]: \"\xc3\xa9" "clat\" repeats defects[1] \"\xc3\x89" "clat\"" },
        { "[scratch, \"scratch\xc2\xa0\"]", "repeats defects[1] \"scratch\"" },
        { "[\"dirt & dust\", \"dirt &amp; dust\"]", "\"dirt &amp; dust\" repeats defects[1] \"dirt & dust\"" },
        { "[\"faulty imprint\", \"faulty\xe3\x80\x80imprint\"]", "reads both as \"faulty imprint\"" },
    };
    for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "defects: %s\n", dup[i].list);
        expect_create_fails(recipe_with("dup.yaml", NULL, body), INSP_E_RECIPE, dup[i].fragment);
    }
    expect_create_fails(recipe_with("dup.yaml", NULL, "defects: [hole, \"Normal&nbsp;\"]\n"),
                        INSP_E_RECIPE, "the normal state");
    expect_create_fails(recipe_with("dup.yaml", NULL, "defects: [hole, \"&nbsp;\"]\n"),
                        INSP_E_RECIPE, "reads as empty text");
    /* distinct names still load */
    insp_tool *t = create_ok(recipe_with("ok.yaml", NULL, "defects: [\"\xc3\xa9" "clat\", eclat, \"dirt & dust\"]\n"));
    ck_assert_int_eq(A->tool_class_count(t), 4);
    A->tool_destroy(t);
}
END_TEST

/* ---- item 8: a recipe roi past the image is reported; squashing a long area is logged ---- */

typedef struct log_sink { pthread_mutex_t mu; int warnings; char last[1024]; } log_sink;

static void collect_log(void *user, int32_t level, const char *msg)
{
    log_sink *l = user;
    pthread_mutex_lock(&l->mu);
    if (level == INSP_LOG_WARN) {
        l->warnings++;
        snprintf(l->last, sizeof l->last, "%s", msg);
    }
    pthread_mutex_unlock(&l->mu);
}

START_TEST(recipe_roi_past_image_reported)
{
    io_image im = golden_rgb8("tiny/inputs/a.png");   /* 150 x 97 */
    insp_image v = view_rgb8(&im);
    const char *rois[] = { "roi: {x: 100, y: 0, width: 100, height: 50}\n",
                           "roi: {x: 0, y: 90, width: 20, height: 20}\n",
                           "roi: {x: 200, y: 0}\n" };
    for (size_t i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body, "%s%s", DEFECTS, rois[i]);
        insp_tool *t = create_ok(recipe_with("roi.yaml", NULL, body));
        expect_process_fails(t, &v, INSP_E_IMAGE, "runs past the 150x97 image");
        A->tool_destroy(t);
    }
    /* inside the image: fine, and the map covers exactly the roi */
    char body[256];
    snprintf(body, sizeof body, "%sroi: {x: 100, y: 47, width: 50, height: 50}\n", DEFECTS);
    insp_tool *t = create_ok(recipe_with("roi.yaml", NULL, body));
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
    insp_image m = { .struct_size = sizeof m };
    ck_assert(A->result_anomaly_map(r, &m) == INSP_OK);
    ck_assert(m.width == 50 && m.height == 50 && m.roi_x == 100 && m.roi_y == 47);
    A->result_release(r);
    A->tool_destroy(t);
    io_image_free(&im);
}
END_TEST

START_TEST(squash_of_long_area_logged)
{
    log_sink sink = { PTHREAD_MUTEX_INITIALIZER, 0, "" };
    insp_host host = { .struct_size = sizeof host, .user = &sink, .log = collect_log };
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    ck_assert_msg(A->tool_create(&host, recipe_with("sq.yaml", NULL, DEFECTS), &t, err, sizeof err) == INSP_OK, "%s", err);
    io_image im = golden_rgb8("tiny/inputs/a.png");   /* 150 x 97: 1.5:1, no warning */
    insp_image v = view_rgb8(&im);
    expect_process_ok(t, &v);
    int before = sink.warnings;
    ck_assert_int_eq(before, 0);
    v.roi_x = 0; v.roi_y = 0; v.roi_w = 150; v.roi_h = 30;   /* 5:1 */
    expect_process_ok(t, &v);
    printf("  log: %s\n", sink.last);
    ck_assert_int_eq(sink.warnings, 1);
    ck_assert_ptr_nonnull(strstr(sink.last, "150x30 area is squashed to 112x112"));
    expect_process_ok(t, &v);
    ck_assert_int_eq(sink.warnings, 1);   /* once per tool */
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

/* ---- item 13: what a tool keeps between calls is bounded ---- */

static insp_image grey_frame(uint8_t **px, int w, int h)
{
    *px = malloc((size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h; i++)
        (*px)[i] = (uint8_t)(i * 2654435761u >> 24);
    insp_image v = { .struct_size = sizeof v, .width = w, .height = h, .channels = 1,
                     .pixel = INSP_PIX_U8, .row_stride = w, .data = *px };
    return v;
}

/* The tool's own accounting, in process (core library, works under ASan too). */
START_TEST(scratch_released_after_large_image)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    ck_assert_msg(dp_tool_create(NULL, recipe_with("scratch.yaml", NULL, DEFECTS), &t, err, sizeof err) == INSP_OK, "%s", err);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image small = view_rgb8(&im);
    insp_result *r = NULL;
    ck_assert_msg(dp_tool_process(t, &small, &r, err, sizeof err) == INSP_OK, "%s", err);
    dp_result_free(r);
    size_t kept_small = dp_tool_scratch_bytes(t);
    uint8_t *px;
    insp_image big = grey_frame(&px, 4096, 4096);
    ck_assert_msg(dp_tool_process(t, &big, &r, err, sizeof err) == INSP_OK, "%s", err);
    dp_result_free(r);
    size_t kept_big = dp_tool_scratch_bytes(t);
    ck_assert_msg(dp_tool_process(t, &small, &r, err, sizeof err) == INSP_OK, "%s", err);
    dp_result_free(r);
    size_t kept_after = dp_tool_scratch_bytes(t);
    printf("  scratch kept: %zu bytes after 150x97, %zu after 4096x4096, %zu after 150x97 again (limit %zu)\n",
           kept_small, kept_big, kept_after, DP_TOOL_SCRATCH_KEEP_BYTES);
    ck_assert_uint_le(kept_small, DP_TOOL_SCRATCH_KEEP_BYTES);
    ck_assert_uint_le(kept_big, DP_TOOL_SCRATCH_KEEP_BYTES);
    ck_assert_uint_le(kept_after, kept_small);
    free(px);
    io_image_free(&im);
    dp_tool_destroy(t);
}
END_TEST

/* Through the loader: the process's heap drops back after the large image (mallinfo2; skipped
 * under AddressSanitizer, whose allocator does not report there). */
START_TEST(heap_drops_back_after_large_image)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("  heap accounting skipped under ASan (scratch_released_after_large_image covers it)\n");
#else
    insp_tool *t = make_tool(DEFECTS);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image small = view_rgb8(&im);
    expect_process_ok(t, &small);
    struct mallinfo2 a = mallinfo2();
    size_t before = a.uordblks + a.hblkhd;
    uint8_t *px;
    insp_image big = grey_frame(&px, 4096, 4096);
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    ck_assert_msg(A->tool_process(t, &big, &r, err, sizeof err) == INSP_OK, "%s", err);
    A->result_release(r);
    free(px);
    struct mallinfo2 b = mallinfo2();
    size_t after = b.uordblks + b.hblkhd;
    printf("  heap in use: %.1f MB before a 4096x4096 image, %.1f MB after it\n", before / 1e6, after / 1e6);
    ck_assert_msg(after < before + ((size_t)8 << 20), "heap grew by %zu bytes", after - before);
    io_image_free(&im);
    A->tool_destroy(t);
#endif
}
END_TEST

/* ---- item 14: safetensors header parsing is bounded by the header's size ---- */

START_TEST(huge_safetensors_header_refused_quickly)
{
    /* a 96 MiB header (sparse file): refused from its length field, nothing parsed */
    const char *path = tmp_path("huge_header.safetensors");
    uint64_t hlen = (uint64_t)96 << 20;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)(hlen >> (8 * i));
    write_file(path, len8, 8);
    ck_assert(truncate(path, (off_t)(8 + hlen)) == 0);
    dp_safetensors *st = (dp_safetensors *)1;
    dp_err e;
    ck_assert_int_eq(dp_st_open(path, &st, &e), DP_E_FORMAT);
    ck_assert_ptr_null(st);
    printf("  96 MiB header: %s\n", e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "DP_ST_MAX_HEADER_BYTES"));
    expect_create_fails(recipe_with("huge.yaml", path, DEFECTS), INSP_E_MODEL, "is absurd");
    /* under the size limit, a header of a million tiny elements exceeds the memory budget:
     * refused before it costs more than DP_JSON_MEMORY_PER_BYTE bytes per byte */
    size_t n = (size_t)2 << 20;
    char *text = malloc(n);
    size_t o = (size_t)snprintf(text, n, "{\"a\":[");
    while (o + 4 < n) {
        text[o++] = '0';
        text[o++] = ',';
    }
    text[o++] = '0';
    text[o++] = ']';
    text[o++] = '}';
    dp_json *doc = (dp_json *)1;
    ck_assert_int_eq(dp_json_parse(text, o, "test header", &doc, &e), DP_E_FORMAT);
    ck_assert_ptr_null(doc);
    printf("  %zu bytes of [0,0,...]: %s\n", o, e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "bytes of memory per byte"));
    /* ordinary headers stay far below the budget: the golden CLIP files open */
    ck_assert_int_eq(dp_st_open(golden_path("tiny/clip_hf.safetensors"), &st, &e), DP_OK);
    dp_st_close(st);
    free(text);
}
END_TEST

/* ---- item 16 (plugin parts): counts, echoes, positions and encodings in recipe messages ---- */

START_TEST(recipe_message_details)
{
    char body[2048];
    /* 65 emoji: counted in characters, not bytes */
    char name[65 * 4 + 1];
    for (int i = 0; i < 65; i++)
        memcpy(name + 4 * i, "\xf0\x9f\x98\x80", 4);
    name[65 * 4] = '\0';
    snprintf(body, sizeof body, "defects: [\"%s\"]\n", name);
    expect_create_fails(recipe_with("emoji.yaml", NULL, body), INSP_E_RECIPE,
                        "a name of 65 characters; expected 1..64 characters");
    /* a 23-digit recipe_version echoed as written */
    const char *big = "recipe_version: 12345678901234567890123\nproduct: p\n";
    write_file(tmp_path("big.yaml"), big, strlen(big));
    expect_create_fails(tmp_path("big.yaml"), INSP_E_RECIPE,
                        "recipe_version: 12345678901234567890123 (written for a newer plugin)");
    /* input_size that is not a multiple of the patch: file:line:column and the recipe range */
    snprintf(body, sizeof body, "%sinput_size: 100\n", DEFECTS);
    char text[4096];
    snprintf(text, sizeof text,
             "recipe_version: 1\nproduct: p\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
             "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
             "precision: f32\n%s", golden_dir(), golden_dir(), models_dir(), body);
    write_file(tmp_path("size.yaml"), text, strlen(text));
    expect_create_fails(tmp_path("size.yaml"), INSP_E_MODEL, "size.yaml:9:13: input_size: 100 (not a multiple of");
    expect_create_fails(tmp_path("size.yaml"), INSP_E_MODEL, "in 28..2016, e.g.");
    /* NEL, LS inside a quoted name: refused, not folded into a space */
    expect_create_fails(recipe_with("nel.yaml", NULL, "defects: [\"scr\xc2\x85" "atch\"]\n"),
                        INSP_E_RECIPE, "nel.yaml:10:15: (text): U+0085 (NEL)");
    expect_create_fails(recipe_with("ls.yaml", NULL, "defects: [\"a\xe2\x80\xa8" "b\"]\n"),
                        INSP_E_RECIPE, "U+2028 (line separator)");
    /* UTF-16, with and without a byte order mark */
    const char *ascii = recipe_with("u8.yaml", NULL, DEFECTS);
    size_t n;
    char *u8 = tsup_slurp(ascii, &n);
    uint8_t *u16 = malloc(2 * n + 2);
    u16[0] = 0xFF;
    u16[1] = 0xFE;
    for (size_t i = 0; i < n; i++) {
        u16[2 + 2 * i] = (uint8_t)u8[i];
        u16[3 + 2 * i] = 0;
    }
    write_file(tmp_path("u16.yaml"), u16, 2 * n + 2);
    expect_create_fails(tmp_path("u16.yaml"), INSP_E_RECIPE, "UTF-16 (byte order mark FF FE); expected UTF-8 only");
    write_file(tmp_path("u16nobom.yaml"), u16 + 2, 2 * n);
    expect_create_fails(tmp_path("u16nobom.yaml"), INSP_E_RECIPE, "a NUL byte");
    free(u16);
    free(u8);
}
END_TEST

Suite *failsafe_suite(void)
{
    Suite *s = suite_create("failsafe");
    TCase *tc = tcase_create("boundary");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, extreme_adapter_weights_are_an_error);
    tcase_add_test(tc, extreme_visual_prompts_are_an_error);
    tcase_add_test(tc, nonfinite_f32_input_refused);
    tcase_add_test(tc, all_zero_mask_refused);
    tcase_add_test(tc, fifo_files_refused_without_blocking);
    tcase_add_test(tc, set_threads_concurrent_with_process);
    tcase_add_test(tc, set_threads_refuses_changed_model_files);
    tcase_add_test(tc, cancel_stops_a_long_call);
    tcase_add_test(tc, dead_handles_refused);
    tcase_add_test(tc, error_text_is_one_line);
    tcase_add_test(tc, thresholds_checked_as_float);
    tcase_add_test(tc, defect_names_folded_by_tokenizer_refused);
    tcase_add_test(tc, recipe_roi_past_image_reported);
    tcase_add_test(tc, squash_of_long_area_logged);
    tcase_add_test(tc, scratch_released_after_large_image);
    tcase_add_test(tc, heap_drops_back_after_large_image);
    tcase_add_test(tc, huge_safetensors_header_refused_quickly);
    tcase_add_test(tc, recipe_message_details);
    suite_add_tcase(s, tc);
    TCase *units = tcase_create("units");
    tcase_add_test(units, sanitize_line_unit);
    tcase_add_test(units, normalize_unit);
    suite_add_tcase(s, units);
    return s;
}
