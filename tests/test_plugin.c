/* The plugin as a host sees it: loaded with dlopen through the loader, driven only through the
 * insp_api table, on the golden tiny model. */
#include <check.h>
#include <dlfcn.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden.h"
#include "isa.h"
#include "test_images.h"
#include "imageio.h"
#include "loader.h"
#include "nn.h"

static insp_module g_mod;
static const insp_api *A;
static char g_dir[256];

static const char *plugin_path(void)
{
    const char *p = getenv("DAPO_PLUGIN");
    return p && *p ? p : "build/libdapo_inspect.so";
}

/* Writes a recipe for the golden tiny model into the temp dir; `extra` is appended verbatim. */
static const char *write_recipe(const char *name, const char *extra)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", g_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fprintf(f, "recipe_version: 1\nproduct: golden tiny\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
               "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 112\nthreads: 2\n%s",
            golden_dir(), golden_dir(), models_dir(), extra);
    fclose(f);
    return path;
}

static const char *TINY_DEFECTS = "defects: [hole, scratch, faulty imprint, discoloration]\n";

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dp_plugin_XXXXXX");
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

static insp_tool *make_tool(const char *extra)
{
    char recipe_extra[1024];
    snprintf(recipe_extra, sizeof recipe_extra, "%s%s", TINY_DEFECTS, extra);
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    insp_status st = A->tool_create(NULL, write_recipe("tool", recipe_extra), &t, err, sizeof err);
    ck_assert_msg(st == INSP_OK, "tool_create: %s", err);
    return t;
}

typedef struct snapshot {
    float score;
    int decision, w, h, n_regions;
    float *map;
    uint16_t *label;
} snapshot;

static snapshot take(insp_tool *t, const insp_image *v)
{
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    insp_status st = A->tool_process(t, v, &r, err, sizeof err);
    ck_assert_msg(st == INSP_OK, "process: %s", err);
    snapshot s;
    s.score = A->result_score(r);
    s.decision = A->result_decision(r);
    s.n_regions = A->result_region_count(r);
    insp_image m = { .struct_size = sizeof m }, l = { .struct_size = sizeof l };
    ck_assert(A->result_anomaly_map(r, &m) == INSP_OK && A->result_label_map(r, &l) == INSP_OK);
    s.w = m.width;
    s.h = m.height;
    s.map = malloc((size_t)m.width * m.height * sizeof(float));
    s.label = malloc((size_t)m.width * m.height * sizeof(uint16_t));
    memcpy(s.map, m.data, (size_t)m.width * m.height * sizeof(float));
    memcpy(s.label, l.data, (size_t)m.width * m.height * sizeof(uint16_t));
    A->result_release(r);
    return s;
}

static void same(const snapshot *a, const snapshot *b, const char *what)
{
    ck_assert_msg(a->w == b->w && a->h == b->h, "%s: map size differs", what);
    ck_assert_msg(a->score == b->score, "%s: score %.9g vs %.9g", what, a->score, b->score);
    ck_assert_msg(memcmp(a->map, b->map, (size_t)a->w * a->h * sizeof(float)) == 0, "%s: maps differ", what);
    ck_assert_msg(memcmp(a->label, b->label, (size_t)a->w * a->h * 2) == 0, "%s: labels differ", what);
}

static void drop(snapshot *s)
{
    free(s->map);
    free(s->label);
}

START_TEST(exports_one_symbol)
{
    char cmd[600], line[256];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", plugin_path());
    FILE *p = popen(cmd, "r");
    ck_assert(p);
    int n = 0, found = 0;
    while (fgets(line, sizeof line, p)) {
        printf("  dynamic symbol: %s", line);
        n++;
        found += strstr(line, " insp_get_api_v1") != NULL;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(version_negotiation)
{
    void *h = g_mod.handle;
    (void)h;
    insp_get_api_v1_fn fn = (insp_get_api_v1_fn)0;
    *(void **)&fn = dlsym(g_mod.handle, INSP_ENTRY_SYMBOL);
    ck_assert(fn);
    ck_assert_ptr_null(fn(INSP_ABI_MAJOR + 1, 0));
    ck_assert_ptr_null(fn(0, 0));
    const insp_api *api = fn(INSP_ABI_MAJOR, 99);
    ck_assert_ptr_nonnull(api);
    ck_assert_uint_ge(api->struct_size, INSP_API_SIZE_1_0);
    ck_assert(api->caps & INSP_CAP_CONCURRENT_PROCESS);
}
END_TEST

/* The plugin's score equals the reference's for the golden image (f32 path, whole image). */
START_TEST(golden_score_and_core_identity)
{
    insp_tool *t = make_tool("");
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    snapshot s = take(t, &v);
    npy_array g;
    ck_assert(npy_load("tiny/a/image_score.npy", &g) == 0);
    float golden = ((float *)g.data)[0];
    printf("  plugin score %.7f, golden %.7f, map %dx%d, %d regions\n", s.score, golden, s.w, s.h, s.n_regions);
    ck_assert_float_eq_tol(s.score, golden, 1e-5);
    ck_assert_int_eq(s.w, im.width);
    ck_assert_int_eq(s.h, im.height);
    /* map values stay in the documented range 0..4 */
    for (int i = 0; i < s.w * s.h; i++)
        ck_assert(s.map[i] >= 0 && s.map[i] <= 4.0001f);
    npy_free(&g);
    drop(&s);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

/* Every memory layout of the same pixels gives bit-identical results. */
START_TEST(layouts_identical)
{
    insp_tool *t = make_tool("");
    io_image im = golden_rgb8("tiny/inputs/b.tif");
    const int W = im.width, H = im.height;
    const uint8_t *px = im.data;
    insp_image v = view_rgb8(&im);
    snapshot ref = take(t, &v);

    /* padded rows, bottom-up */
    ptrdiff_t stride = (ptrdiff_t)W * 3 + 13;
    uint8_t *pad = calloc((size_t)stride * H, 1);
    for (int y = 0; y < H; y++)
        memcpy(pad + (size_t)(H - 1 - y) * stride, px + (size_t)y * W * 3, (size_t)W * 3);
    insp_image vp = v;
    vp.data = pad + (size_t)(H - 1) * stride;
    vp.row_stride = -stride;
    snapshot s1 = take(t, &vp);
    same(&ref, &s1, "padded bottom-up");
    /* planar */
    uint8_t *planar = malloc((size_t)W * H * 3);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < W * H; i++)
            planar[(size_t)c * W * H + i] = px[(size_t)i * 3 + c];
    insp_image vpl = v;
    vpl.planar = 1;
    vpl.row_stride = W;
    vpl.plane_stride = (ptrdiff_t)W * H;
    vpl.data = planar;
    snapshot s2 = take(t, &vpl);
    same(&ref, &s2, "planar");
    /* BGR */
    uint8_t *bgr = malloc((size_t)W * H * 3);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++)
            bgr[(size_t)i * 3 + c] = px[(size_t)i * 3 + 2 - c];
    insp_image vb = v;
    vb.data = bgr;
    vb.flags = INSP_IMAGE_BGR;
    snapshot s3 = take(t, &vb);
    same(&ref, &s3, "BGR");
    /* U16 (v * 257) and F32 (v / 255) */
    uint16_t *u16 = malloc((size_t)W * H * 3 * 2);
    float *f32 = malloc((size_t)W * H * 3 * 4);
    for (int i = 0; i < W * H * 3; i++) {
        u16[i] = (uint16_t)(px[i] * 257);
        f32[i] = px[i] / 255.0f;
    }
    insp_image vu = v;
    vu.pixel = INSP_PIX_U16;
    vu.row_stride = (ptrdiff_t)W * 6;
    vu.data = u16;
    snapshot s4 = take(t, &vu);
    same(&ref, &s4, "U16");
    insp_image vf = v;
    vf.pixel = INSP_PIX_F32;
    vf.row_stride = (ptrdiff_t)W * 12;
    vf.data = f32;
    snapshot s5 = take(t, &vf);
    same(&ref, &s5, "F32");
    printf("  padded/bottom-up, planar, BGR, U16, F32: identical to interleaved U8 (score %.6f)\n", ref.score);
    drop(&ref); drop(&s1); drop(&s2); drop(&s3); drop(&s4); drop(&s5);
    free(pad); free(planar); free(bgr); free(u16); free(f32);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

START_TEST(roi_and_mask)
{
    insp_tool *t = make_tool("thresholds: {pixel: 0.5}\n");
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    v.roi_x = 10; v.roi_y = 7; v.roi_w = 60; v.roi_h = 40;
    uint8_t *mask = calloc((size_t)im.width * im.height, 1);
    for (int y = 0; y < im.height; y++)
        for (int x = 0; x < im.width / 2; x++)
            mask[(size_t)y * im.width + x] = 1;
    v.mask = mask;
    v.mask_stride = im.width;
    char err[INSP_ERRBUF_SIZE];
    insp_result *r;
    ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
    insp_image m = { .struct_size = sizeof m }, l = { .struct_size = sizeof l };
    ck_assert(A->result_anomaly_map(r, &m) == INSP_OK && A->result_label_map(r, &l) == INSP_OK);
    ck_assert_int_eq(m.width, 60);
    ck_assert_int_eq(m.height, 40);
    ck_assert_int_eq(m.roi_x, 10);
    ck_assert_int_eq(m.roi_y, 7);
    int masked_nonzero = 0, kept_nonzero = 0;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 60; x++) {
            int ix = x + 10;
            float a = ((const float *)m.data)[y * 60 + x];
            uint16_t lb = ((const uint16_t *)l.data)[y * 60 + x];
            if (ix >= im.width / 2)
                masked_nonzero += a != 0 || lb != 0;
            else
                kept_nonzero += a > 0;
        }
    ck_assert_int_eq(masked_nonzero, 0);
    ck_assert_int_gt(kept_nonzero, 0);
    for (int i = 0; i < A->result_region_count(r); i++) {
        insp_region reg = { .struct_size = sizeof reg };
        ck_assert(A->result_region(r, i, &reg) == INSP_OK);
        ck_assert(reg.x >= 10 && reg.y >= 7 && reg.x + reg.w <= 70 && reg.y + reg.h <= 47);
        ck_assert(reg.x + reg.w <= im.width / 2);
        ck_assert(reg.class_id >= 1 && reg.class_id <= 4);
        ck_assert(reg.max_score >= reg.mean_score && reg.area > 0);
    }
    printf("  ROI 60x40 at (10,7), right half masked: %d regions, masked pixels all 0\n",
           A->result_region_count(r));
    A->result_release(r);
    free(mask);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

START_TEST(tiled_large_image)
{
    insp_tool *t = make_tool("tiling: {mode: grid, tile: 112, overlap: 16, batch: 2}\n");
    io_image im = golden_rgb8("tiny/inputs/a.png");
    /* a 700 x 333 mosaic of the golden image */
    const int W = 700, H = 333;
    uint8_t *big = malloc((size_t)W * H * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(big + ((size_t)y * W + x) * 3,
                   (uint8_t *)im.data + ((size_t)(y % im.height) * im.width + x % im.width) * 3, 3);
    io_image bi = { W, H, 3, IO_U8, big };
    insp_image v = view_rgb8(&bi);
    snapshot s = take(t, &v);
    snapshot s2 = take(t, &v);
    same(&s, &s2, "tiled, repeated");
    ck_assert_int_eq(s.w, W);
    ck_assert_int_eq(s.h, H);
    int finite = 1;
    for (int i = 0; i < W * H; i++)
        finite &= isfinite(s.map[i]) && s.map[i] >= 0 && s.map[i] <= 4.0001f;
    ck_assert(finite);
    printf("  tiled 700x333 (tile 112, overlap 16, batch 2): score %.5f, %d regions\n", s.score, s.n_regions);
    drop(&s); drop(&s2);
    free(big);
    io_image_free(&im);
    A->tool_destroy(t);
}
END_TEST

/* An 8192 x 8192 grey frame: tiled at native scale and squashed whole. */
START_TEST(large_8192)
{
    const int N = 8192;
    uint8_t *img = malloc((size_t)N * N);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            img[(size_t)y * N + x] = (uint8_t)(128 + 40 * sin(x * 0.01) * cos(y * 0.013) +
                                               ((x - 5000) * (x - 5000) + (y - 3000) * (y - 3000) < 4000 ? -90 : 0));
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = N; v.height = N; v.channels = 1; v.pixel = INSP_PIX_U8; v.row_stride = N; v.data = img;
    const char *modes[2] = { "tiling: {mode: grid, tile: 2048, overlap: 256, batch: 2}\n", "" };
    for (int m = 0; m < 2; m++) {
        insp_tool *t = make_tool(modes[m]);
        char err[INSP_ERRBUF_SIZE];
        insp_result *r;
        ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
        insp_image map = { .struct_size = sizeof map };
        ck_assert(A->result_anomaly_map(r, &map) == INSP_OK);
        ck_assert_int_eq(map.width, N);
        ck_assert_int_eq(map.height, N);
        const float *a = map.data;
        int ok = 1;
        for (size_t i = 0; i < (size_t)N * N; i += 4099)
            ok &= isfinite(a[i]) && a[i] >= 0 && a[i] <= 4.0001f;
        ck_assert(ok);
        insp_timing tm = { .struct_size = sizeof tm };
        ck_assert(A->result_timing(r, &tm) == INSP_OK);
        printf("  8192x8192 %s: score %.4f, %d regions, %.0f ms (pre %.0f, vision %.0f, head %.0f, post %.0f)\n",
               m ? "squashed" : "tiled 2048/256", A->result_score(r), A->result_region_count(r),
               tm.total_ms, tm.preprocess_ms, tm.vision_ms, tm.head_ms, tm.post_ms);
        A->result_release(r);
        A->tool_destroy(t);
    }
    free(img);
}
END_TEST

/* The reference host CLI with the real plugin, as a user runs it. */
START_TEST(cli_with_plugin)
{
    const char *build = getenv("DAPO_BUILD") ? getenv("DAPO_BUILD") : "build";
    char recipe_extra[512], cmd[2048], path[600];
    snprintf(recipe_extra, sizeof recipe_extra, "%s", TINY_DEFECTS);
    const char *recipe = write_recipe("cli", recipe_extra);
    snprintf(path, sizeof path, "%s/insp", build);
    ck_assert_msg(access(path, X_OK) == 0, "%s not built (make builds it; DAPO_BUILD names the folder)", path);
    /* insp is an ordinary (unsanitized) program: it loads the release plugin built beside it */
    char module[600];
    snprintf(module, sizeof module, "%s/libdapo_inspect.so", build);
    snprintf(cmd, sizeof cmd, "%s/insp run --quiet --module %s --recipe %s --out %s/out %s %s 2>%s/stderr.txt",
             build, module, recipe, g_dir, golden_path("tiny/inputs/a.png"),
             golden_path("tiny/inputs/c_gray.tif"), g_dir);
    int rc = system(cmd);
    ck_assert(WIFEXITED(rc));
    printf("  insp run exit code %d\n", WEXITSTATUS(rc));
    ck_assert(WEXITSTATUS(rc) == 0 || WEXITSTATUS(rc) == 1);
    const char *files[] = { "a.png.json", "a.png.anomaly.tif", "a.png.labels.tif", "a.png.overlay.png", "c_gray.tif.json", "summary.json", "summary.csv" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/out/%s", g_dir, files[i]);
        ck_assert_msg(access(path, R_OK) == 0, "missing %s", path);
    }
    char err[512];
    io_image map;
    snprintf(path, sizeof path, "%s/out/a.png.anomaly.tif", g_dir);
    ck_assert_msg(io_read_image(path, &map, err, sizeof err) == 0, "%s", err);
    ck_assert(map.pixel == IO_F32 && map.channels == 1 && map.width == 150 && map.height == 97);
    io_image_free(&map);
    /* a recipe error: exit code 3 and the plugin's message on stderr */
    snprintf(cmd, sizeof cmd, "%s/insp run --quiet --module %s --recipe %s/none.yaml --out %s/out2 %s 2>%s/stderr.txt",
             build, module, g_dir, g_dir, golden_path("tiny/inputs/a.png"), g_dir);
    rc = system(cmd);
    ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 3);
    /* --threads reaches the plugin at creation (insp_host.threads): the model is built once */
    snprintf(cmd, sizeof cmd, "%s/insp run -v --threads 1 --module %s --recipe %s --out %s/out3 %s 2>%s/stderr.txt",
             build, module, recipe, g_dir, golden_path("tiny/inputs/a.png"), g_dir);
    rc = system(cmd);
    ck_assert(WIFEXITED(rc) && (WEXITSTATUS(rc) == 0 || WEXITSTATUS(rc) == 1));
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    FILE *se = fopen(path, "r");
    ck_assert_ptr_nonnull(se);
    char text[2048];
    int host_threads = 0, rebuilt = 0;
    while (fgets(text, sizeof text, se)) {
        host_threads |= strstr(text, "1 threads (host insp_host.threads") != NULL;
        rebuilt |= strstr(text, "rebuilt") != NULL;
    }
    fclose(se);
    ck_assert_msg(host_threads && !rebuilt, "insp --threads: host threads %d, rebuilt %d", host_threads, rebuilt);
    /* the loader asks for passive OpenMP waits unless the host chose: insp (no OpenMP runtime of
     * its own) reports what the plugin's runtime was loaded with */
    const char *waits[][2] = { { "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT", "wait policy PASSIVE (OMP_WAIT_POLICY)" },
                               { "env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active", "wait policy active (OMP_WAIT_POLICY)" } };
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s %s/insp info %s --recipe %s > %s/info.txt 2>&1", waits[i][0],
                 build, module, recipe, g_dir);
        rc = system(cmd);
        ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
        snprintf(path, sizeof path, "%s/info.txt", g_dir);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char line[1024], runtime[1024] = "";
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "runtime", 7) == 0)
                snprintf(runtime, sizeof runtime, "%s", line);
        fclose(f);
        printf("  insp info (%s): %s", waits[i][0], runtime);
        ck_assert_msg(strstr(runtime, waits[i][1]) != NULL, "runtime line \"%s\" lacks \"%s\"", runtime, waits[i][1]);
    }
}
END_TEST

/* The runtime line of `insp info` for a recipe, under an environment prefix. */
static void info_runtime(const char *env, const char *recipe, char *runtime, size_t cap)
{
    const char *build = getenv("DAPO_BUILD") ? getenv("DAPO_BUILD") : "build";
    char cmd[2048], path[600], line[1024];
    snprintf(cmd, sizeof cmd, "env %s %s/insp info --module %s/libdapo_inspect.so --recipe %s > %s/info.txt 2>&1",
             env, build, build, recipe, g_dir);
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s: exit %d", cmd, rc);
    snprintf(path, sizeof path, "%s/info.txt", g_dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    runtime[0] = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "runtime", 7) == 0)
            snprintf(runtime, cap, "%s", line);
    fclose(f);
    printf("  insp info (%s): %s", env, runtime);
}

/* The tool info and `insp info` say which compute path runs (instruction-set level, precision,
 * attention kernel) and why: under ONEDNN_MAX_CPU_ISA=SSE41 (below every CPU this runs on) the
 * generic path, the cap named, and a bf16 recipe's precision lowered with the reason. */
START_TEST(path_reported)
{
    char runtime[1024], want[128];
    const char *recipe = write_recipe("path", TINY_DEFECTS);
    info_runtime("-u ONEDNN_MAX_CPU_ISA -u DNNL_MAX_CPU_ISA", recipe, runtime, sizeof runtime);
    /* this process and insp's plugin see the same CPU and no cap */
    snprintf(want, sizeof want, "path %s, f32, attention ", dp_isa_name(dp_isa_cpu_level()));
    ck_assert_msg(strstr(runtime, want) != NULL, "\"%s\" lacks \"%s\"", runtime, want);
    info_runtime("-u DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA=SSE41", recipe, runtime, sizeof runtime);
    ck_assert(strstr(runtime, "path generic, f32, attention oneDNN matmul") != NULL);
    ck_assert(strstr(runtime, "capped by ONEDNN_MAX_CPU_ISA=SSE41") != NULL);
    ck_assert(strstr(runtime, "lowered") == NULL);
    /* the same recipe asking for bf16 */
    char text[4096], bf16[600];
    FILE *f = fopen(recipe, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *p = strstr(text, "precision: f32");
    ck_assert_ptr_nonnull(p);
    memcpy(p, "precision: bf1", 14);
    memmove(p + 15, p + 14, strlen(p + 14) + 1);
    p[14] = '6';
    snprintf(bf16, sizeof bf16, "%s/path_bf16.yaml", g_dir);
    f = fopen(bf16, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    info_runtime("-u DNNL_MAX_CPU_ISA ONEDNN_MAX_CPU_ISA=SSE41", bf16, runtime, sizeof runtime);
    /* lowered to int8, inside the bf16 fidelity bounds (suite int8) */
    ck_assert(strstr(runtime, "path generic, int8") != NULL);
    ck_assert(strstr(runtime, "recipe's bf16 lowered to int8: no native bf16 on this CPU") != NULL ||
              strstr(runtime, "recipe's bf16 lowered to int8: the instruction-set cap is below AVX-512 BF16") != NULL);
    if (dp_isa_cpu_level() >= DP_ISA_AVX512_BF16)
        ck_assert(strstr(runtime, "the instruction-set cap is below") != NULL);
}
END_TEST

typedef struct worker { insp_tool *tool; const insp_image *img; snapshot out; int ok; } worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    char err[INSP_ERRBUF_SIZE];
    insp_result *r = NULL;
    w->ok = 1;
    for (int i = 0; i < 3 && w->ok; i++) {
        if (A->tool_process(w->tool, w->img, &r, err, sizeof err) != INSP_OK) {
            w->ok = 0;
            break;
        }
        w->out.score = A->result_score(r);
        insp_image m = { .struct_size = sizeof m };
        A->result_anomaly_map(r, &m);
        w->out.w = m.width;
        w->out.h = m.height;
        if (!w->out.map)
            w->out.map = malloc((size_t)m.width * m.height * 4);
        memcpy(w->out.map, m.data, (size_t)m.width * m.height * 4);
        A->result_release(r);
    }
    return NULL;
}

START_TEST(threads_identical)
{
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    insp_tool *shared = make_tool("");
    snapshot ref = take(shared, &v);
    enum { N = 3 };
    insp_tool *own[N];
    worker w[2 * N];
    pthread_t th[2 * N];
    memset(w, 0, sizeof w);
    for (int i = 0; i < N; i++) {
        own[i] = make_tool("");
        w[i].tool = own[i];            /* distinct tools in parallel */
        w[N + i].tool = shared;        /* one tool from several threads (INSP_CAP_CONCURRENT_PROCESS) */
    }
    for (int i = 0; i < 2 * N; i++) {
        w[i].img = &v;
        pthread_create(&th[i], NULL, run_worker, &w[i]);
    }
    for (int i = 0; i < 2 * N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2 * N; i++) {
        ck_assert(w[i].ok);
        ck_assert(w[i].out.score == ref.score);
        ck_assert(memcmp(w[i].out.map, ref.map, (size_t)ref.w * ref.h * 4) == 0);
        free(w[i].out.map);
    }
    printf("  %d tools in parallel and one tool from %d threads: identical results\n", N, N);
    for (int i = 0; i < N; i++)
        A->tool_destroy(own[i]);
    A->tool_destroy(shared);
    drop(&ref);
    io_image_free(&im);
}
END_TEST

/* The thread count is decided in one place and reported (ABI 1.1 tool info): the recipe's
 * threads, else the usable CPUs; the host's num_threads overrides it. */
START_TEST(threads_reported)
{
    insp_tool *t = make_tool("");
    char err[INSP_ERRBUF_SIZE], buf[INSP_PARAM_VALUE_SIZE];
    insp_tool_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    ck_assert_int_eq(A->tool_info(t, &info, err, sizeof err), INSP_OK);
    ck_assert_uint_eq(info.struct_size, sizeof info);
    ck_assert_int_ge(A->abi_minor, 1);
    ck_assert_ptr_nonnull(info.runtime);
    ck_assert_int_eq(A->tool_get_param(t, "num_threads", buf, sizeof buf, err, sizeof err), INSP_OK);
    ck_assert_int_eq(info.threads, atoi(buf));
    ck_assert_ptr_nonnull(strstr(info.runtime, "usable CPUs"));
    ck_assert_ptr_nonnull(strstr(info.runtime, "OpenMP"));
    printf("  runtime: %s\n", info.runtime);
    ck_assert_int_eq(A->tool_set_param(t, "num_threads", "1", err, sizeof err), INSP_OK);
    ck_assert_int_eq(A->tool_info(t, &info, err, sizeof err), INSP_OK);
    ck_assert_int_eq(info.threads, 1);
    ck_assert_ptr_nonnull(strstr(info.runtime, "host parameter num_threads"));
    /* a 1.0 host's struct: only the 1.0 members are written */
    insp_tool_info old;
    memset(&old, 0x5A, sizeof old);
    old.struct_size = INSP_TOOL_INFO_SIZE_1_0;
    ck_assert_int_eq(A->tool_info(t, &old, err, sizeof err), INSP_OK);
    ck_assert_int_eq(old.threads, 0x5A5A5A5A);
    A->tool_destroy(t);
}
END_TEST

/* The precision a recipe asks for and the one that runs, in the tool info and the log: bf16 on a
 * CPU without native bf16 runs int8 (inside the bf16 fidelity bounds, suites int8 and parity). */
static void keep_precision_log(void *user, int32_t level, const char *msg)
{
    (void)level;
    if (strstr(msg, "precision"))
        snprintf(user, 512, "%s", msg);
}

START_TEST(precision_reported)
{
    static const char *const asked[] = { "bf16", "int8", "f32" };
    const int native = dp_nn_cpu_has_bf16();
    const char *const expect[] = { native ? "bf16" : "int8 (bf16 requested; no native bf16 on this CPU)",
                                   "int8", "f32" };
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    for (int i = 0; i < 3; i++) {
        char path[512], err[INSP_ERRBUF_SIZE], log[512] = "";
        snprintf(path, sizeof path, "%s/prec_%s.yaml", g_dir, asked[i]);
        FILE *f = fopen(path, "w");
        ck_assert(f);
        fprintf(f, "recipe_version: 1\nproduct: golden tiny\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
                   "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
                   "precision: %s\ninput_size: 112\nthreads: 2\n%s",
                golden_dir(), golden_dir(), models_dir(), asked[i], TINY_DEFECTS);
        fclose(f);
        insp_host host = { .struct_size = sizeof host, .user = log, .log = keep_precision_log };
        insp_tool *t = NULL;
        ck_assert_msg(A->tool_create(&host, path, &t, err, sizeof err) == INSP_OK, "%s", err);
        insp_tool_info info = { .struct_size = sizeof info };
        ck_assert_int_eq(A->tool_info(t, &info, err, sizeof err), INSP_OK);
        printf("  precision: %s -> tool info \"%s\"%s%s\n", asked[i], info.precision,
               log[0] ? "; log: " : "", log);
        ck_assert_str_eq(info.precision, expect[i]);
        if (i == 0 && !native)
            ck_assert_ptr_nonnull(strstr(log, "no native bf16 on this CPU; running int8"));
        insp_result *r = NULL;
        ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
        ck_assert(isfinite(A->result_score(r)));
        A->result_release(r);
        A->tool_destroy(t);
    }
    io_image_free(&im);
}
END_TEST

/* ABI 1.1 host members: threads chosen by the host at creation (no rebuild later) and progress
 * of the text prompts and of the tiles, in order, ending at the total. */
typedef struct progress_log { int calls, text_last, text_total, tile_last, tile_total, out_of_order; } progress_log;

static void record_progress(void *user, const char *what, int32_t done, int32_t total)
{
    progress_log *p = user;
    p->calls++;
    int *last = strcmp(what, "tiles") == 0 ? &p->tile_last : &p->text_last;
    int *tot = strcmp(what, "tiles") == 0 ? &p->tile_total : &p->text_total;
    if (done <= *last || done > total)
        p->out_of_order++;
    *last = done;
    *tot = total;
}

START_TEST(host_threads_and_progress)
{
    progress_log pl;
    memset(&pl, 0, sizeof pl);
    insp_host host = { .struct_size = sizeof host, .user = &pl, .threads = 1,
                       .progress = record_progress };
    char recipe_extra[512], err[INSP_ERRBUF_SIZE];
    snprintf(recipe_extra, sizeof recipe_extra, "%stiling: { mode: grid, tile: 112, overlap: 16, batch: 2 }\n",
             TINY_DEFECTS);
    insp_tool *t = NULL;
    ck_assert_msg(A->tool_create(&host, write_recipe("hostprog", recipe_extra), &t, err, sizeof err) == INSP_OK,
                  "%s", err);
    insp_tool_info info = { .struct_size = sizeof info };
    ck_assert_int_eq(A->tool_info(t, &info, err, sizeof err), INSP_OK);
    ck_assert_int_eq(info.threads, 1);          /* the recipe says threads: 2 */
    ck_assert_ptr_nonnull(strstr(info.runtime, "host insp_host.threads"));
    /* text prompts: (1 + 4 defects) x 10 sequences, reported up to the total */
    ck_assert_int_eq(pl.text_total, 50);
    ck_assert_int_eq(pl.text_last, 50);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    v.width = 150; v.height = 97;
    insp_result *r = NULL;
    ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
    ck_assert_int_gt(pl.tile_total, 1);
    ck_assert_int_eq(pl.tile_last, pl.tile_total);
    ck_assert_int_eq(pl.out_of_order, 0);
    printf("  host threads 1 (recipe 2); progress: text prompts %d/%d, tiles %d/%d in %d calls\n",
           pl.text_last, pl.text_total, pl.tile_last, pl.tile_total, pl.calls);
    A->result_release(r);
    A->tool_destroy(t);
    io_image_free(&im);
}
END_TEST

/* A recipe without model.vocabulary: found beside the plugin (the build tree's models/) when it
 * is not next to the CLIP file; a plugin with no copy anywhere names the key and the places. */
START_TEST(vocabulary_default)
{
    char path[600], err[INSP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/novocab.yaml", g_dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "recipe_version: 1\nproduct: no vocabulary\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
               "  dapo: %s/tiny/dapo.safetensors\nprecision: f32\ninput_size: 112\nthreads: 1\n%s",
            golden_dir(), golden_dir(), TINY_DEFECTS);
    fclose(f);
    insp_tool *t = NULL;
    ck_assert_msg(A->tool_create(NULL, path, &t, err, sizeof err) == INSP_OK, "%s", err);
    A->tool_destroy(t);
    /* the same plugin copied where no vocabulary lies beside it */
    char dir[600], cmd[1600];
    snprintf(dir, sizeof dir, "%s/lone/lib", g_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s' '%s/'", dir, plugin_path(), dir);
    ck_assert_int_eq(system(cmd), 0);
    char so[700];
    snprintf(so, sizeof so, "%s/libdapo_inspect.so", dir);
    insp_module lone;
    ck_assert_msg(insp_loader_open(so, &lone, err, sizeof err) == INSP_OK, "%s", err);
    t = (insp_tool *)1;
    insp_status st = lone.api->tool_create(NULL, path, &t, err, sizeof err);
    printf("  no vocabulary anywhere -> %s: %s\n", lone.api->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_RECIPE);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(err, "model.vocabulary is not set"));
    ck_assert_ptr_nonnull(strstr(err, "vocabulary: <path to bpe_simple_vocab_16e6.txt.gz>"));
    insp_loader_close(&lone);
}
END_TEST

static void expect_create_fails(const char *recipe_text, insp_status code, const char *fragment)
{
    char path[512], err[INSP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/bad.yaml", g_dir);
    FILE *f = fopen(path, "w");
    fputs(recipe_text, f);
    fclose(f);
    insp_tool *t = (insp_tool *)1;
    insp_status st = A->tool_create(NULL, path, &t, err, sizeof err);
    printf("  create -> %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, code);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, fragment), "message \"%s\" lacks \"%s\"", err, fragment);
}

START_TEST(bad_inputs)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    ck_assert_int_eq(A->tool_create(NULL, "/nonexistent/recipe.yaml", &t, err, sizeof err), INSP_E_RECIPE);
    ck_assert(strstr(err, "/nonexistent/recipe.yaml"));
    ck_assert_int_eq(A->tool_create(NULL, NULL, &t, err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_create(NULL, "x.yaml", NULL, err, sizeof err), INSP_E_ARG);
    expect_create_fails("recipe_version: 1\nproduct: [unclosed\n", INSP_E_RECIPE, "bad.yaml:");
    char text[2048];
    snprintf(text, sizeof text, "recipe_version: 1\nproduct: p\nmodel: {clip: %s/tiny/clip.safetensors, "
             "dapo: %s/tiny/dapo.safetensors, vocabulary: %s/bpe_simple_vocab_16e6.txt.gz}\n"
             "defects: [hole]\ndefect_list: [x]\n", golden_dir(), golden_dir(), models_dir());
    expect_create_fails(text, INSP_E_RECIPE, "defect_list");
    snprintf(text, sizeof text, "recipe_version: 1\nproduct: p\nmodel: {clip: /nonexistent/clip.safetensors, "
             "dapo: %s/tiny/dapo.safetensors, vocabulary: %s/bpe_simple_vocab_16e6.txt.gz}\n"
             "input_size: 112\ndefects: [hole]\n", golden_dir(), models_dir());
    expect_create_fails(text, INSP_E_MODEL, "/nonexistent/clip.safetensors");
    snprintf(text, sizeof text, "recipe_version: 1\nproduct: p\nmodel: {clip: %s/tiny/clip.safetensors, "
             "dapo: %s/tiny/dapo.safetensors, vocabulary: %s/bpe_simple_vocab_16e6.txt.gz}\n"
             "input_size: 100\ndefects: [hole]\n", golden_dir(), golden_dir(), models_dir());
    expect_create_fails(text, INSP_E_MODEL, "100");

    t = make_tool("");
    insp_result *r = (insp_result *)1;
    ck_assert_int_eq(A->tool_process(t, NULL, &r, err, sizeof err), INSP_E_ARG);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(A->tool_process(NULL, NULL, &r, err, sizeof err), INSP_E_ARG);
    uint8_t px[12] = { 0 };
    insp_image v = { .struct_size = sizeof v };
    v.width = 0; v.height = 2; v.channels = 3; v.pixel = INSP_PIX_U8; v.row_stride = 6; v.data = px;
    ck_assert_int_eq(A->tool_process(t, &v, &r, err, sizeof err), INSP_E_IMAGE);
    printf("  zero width -> %s\n", err);
    v.width = 100000; v.height = 100000; v.row_stride = 300000;
    ck_assert_int_eq(A->tool_process(t, &v, &r, err, sizeof err), INSP_E_IMAGE);
    printf("  100000x100000 -> %s\n", err);
    v.width = 2; v.height = 2; v.row_stride = 6;
    v.struct_size = 8;
    ck_assert_int_eq(A->tool_process(t, &v, &r, err, sizeof err), INSP_E_ABI);
    v.struct_size = sizeof v;
    ck_assert_int_eq(A->tool_set_param(t, "image_threshold", "1.5", err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_set_param(t, "no_such_key", "1", err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_set_param(t, "pixel_threshold", "1.25", err, sizeof err), INSP_OK);
    char buf[INSP_PARAM_VALUE_SIZE];
    ck_assert_int_eq(A->tool_get_param(t, "pixel_threshold", buf, sizeof buf, err, sizeof err), INSP_OK);
    ck_assert_str_eq(buf, "1.25");
    ck_assert_int_eq(A->tool_get_param(t, "pixel_threshold", buf, 2, err, sizeof err), INSP_E_BUFFER);
    /* error buffer truncation keeps a terminated string */
    char tiny_err[8];
    ck_assert_int_eq(A->tool_set_param(t, "nope", "1", tiny_err, sizeof tiny_err), INSP_E_ARG);
    ck_assert_int_eq((int)strlen(tiny_err), 7);
    ck_assert_ptr_nonnull(strstr(A->tool_param_schema(t), "\"pixel_threshold\""));
    /* recipe keys name the same parameters */
    ck_assert_int_eq(A->tool_set_param(t, "thresholds.image", "0.625", err, sizeof err), INSP_OK);
    ck_assert_int_eq(A->tool_get_param(t, "image_threshold", buf, sizeof buf, err, sizeof err), INSP_OK);
    ck_assert_str_eq(buf, "0.625");
    ck_assert_float_eq(A->result_score(NULL) == A->result_score(NULL) ? 0 : 1, 1);   /* NaN */
    ck_assert_int_eq(A->result_decision(NULL), INSP_DECISION_NG);
    A->tool_destroy(t);
    A->tool_destroy(NULL);
    A->result_release(NULL);
}
END_TEST

/* Repeated create/process/destroy: heap in use stays flat (skipped under AddressSanitizer,
 * whose quarantine holds freed blocks; LeakSanitizer covers leaks there). */
START_TEST(no_growth)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("  no_growth: heap accounting skipped under ASan (LeakSanitizer checks leaks)\n");
#else
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    size_t base = 0;
    for (int i = 0; i < 12; i++) {
        insp_tool *t = make_tool("");
        snapshot s = take(t, &v);
        drop(&s);
        A->tool_destroy(t);
        struct mallinfo2 mi = mallinfo2();
        if (i == 3)
            base = mi.uordblks;
        if (i == 11) {
            long growth = (long)mi.uordblks - (long)base;
            printf("  heap in use after 4 cycles %zu bytes, after 12: %zu (growth %ld)\n", base,
                   mi.uordblks, growth);
            ck_assert_int_lt(growth, 256 * 1024);
        }
    }
    io_image_free(&im);
#endif
}
END_TEST

/* ABI 1.1: with type_map on, every pixel carries its defect type (1..classes-1) and every pixel
 * of the label map passes the threshold of its own type; off (the default), the accessor says
 * unsupported. Recipe thresholds per type make the per-pixel type decide. */
START_TEST(type_map)
{
    insp_tool *t = make_tool("thresholds: { pixel: 1.5 }\n");
    ck_assert(INSP_API_HAS(A, result_type_map) && A->result_type_map);
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im), map, types, lab;
    memset(&map, 0, sizeof map);
    memset(&types, 0, sizeof types);
    memset(&lab, 0, sizeof lab);
    map.struct_size = types.struct_size = lab.struct_size = sizeof map;
    char err[INSP_ERRBUF_SIZE], buf[INSP_PARAM_VALUE_SIZE];
    insp_result *r = NULL;
    ck_assert_int_eq(A->tool_process(t, &v, &r, err, sizeof err), INSP_OK);
    ck_assert_int_eq(A->result_type_map(r, &types), INSP_E_UNSUPPORTED);
    A->result_release(r);
    ck_assert_int_eq(A->tool_get_param(t, INSP_PARAM_TYPE_MAP, buf, sizeof buf, err, sizeof err), INSP_OK);
    ck_assert_str_eq(buf, "false");
    ck_assert_int_eq(A->tool_set_param(t, INSP_PARAM_TYPE_MAP, "yes", err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(A->tool_set_param(t, INSP_PARAM_TYPE_MAP, "true", err, sizeof err), INSP_OK);
    ck_assert_ptr_nonnull(strstr(A->tool_param_schema(t), "\"type_map\""));
    ck_assert_int_eq(A->tool_process(t, &v, &r, err, sizeof err), INSP_OK);
    ck_assert_int_eq(A->result_type_map(r, &types), INSP_OK);
    ck_assert_int_eq(A->result_anomaly_map(r, &map), INSP_OK);
    ck_assert_int_eq(A->result_label_map(r, &lab), INSP_OK);
    ck_assert(types.pixel == INSP_PIX_U16 && types.width == map.width && types.height == map.height);
    int n = A->result_class_count(r);
    long labelled = 0;
    for (int y = 0; y < types.height; y++)
        for (int x = 0; x < types.width; x++) {
            uint16_t k = ((const uint16_t *)((const char *)types.data + y * types.row_stride))[x];
            uint16_t l = ((const uint16_t *)((const char *)lab.data + y * lab.row_stride))[x];
            float a = ((const float *)((const char *)map.data + y * map.row_stride))[x];
            ck_assert(k >= 1 && k < n);
            if (l) {
                labelled++;
                ck_assert_msg(a > 1.5f, "labelled pixel (%d,%d) at %g, threshold 1.5", x, y, a);
            }
        }
    printf("  type map: %dx%d, %ld labelled pixels\n", types.width, types.height, labelled);
    A->result_release(r);
    A->tool_destroy(t);
    io_image_free(&im);
}
END_TEST

Suite *plugin_suite(void)
{
    Suite *s = suite_create("plugin");
    TCase *tc = tcase_create("through_loader");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, exports_one_symbol);
    tcase_add_test(tc, version_negotiation);
    tcase_add_test(tc, golden_score_and_core_identity);
    tcase_add_test(tc, layouts_identical);
    tcase_add_test(tc, roi_and_mask);
    tcase_add_test(tc, tiled_large_image);
    tcase_add_test(tc, large_8192);
    tcase_add_test(tc, cli_with_plugin);
    tcase_add_test(tc, threads_identical);
    tcase_add_test(tc, threads_reported);
    tcase_add_test(tc, path_reported);
    tcase_add_test(tc, precision_reported);
    tcase_add_test(tc, vocabulary_default);
    tcase_add_test(tc, host_threads_and_progress);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, no_growth);
    tcase_add_test(tc, type_map);
    suite_add_tcase(s, tc);
    return s;
}
