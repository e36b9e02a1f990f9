/* Host side of the plugin ABI: the loader against fake plugins built here with cc (good and
 * deliberately broken variants), overlay rendering on synthetic maps, JSON escaping, the insp
 * command line, and the insp binary end to end (exit codes, files) on the fake plugin. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imageio.h"
#include "insp_cli.h"
#include "json_out.h"
#include "loader.h"
#include "overlay.h"
#include "insp_tool.h"
#include "json.h"

/* ---------- scratch directory, fake plugins and the insp binary (built once) ---------- */

static char tmpdir[64];
static char root[256];            /* repository root, from __FILE__ ("" = current directory) */
static int built;                 /* every artefact below compiled */
static char build_log[2048];

/* "<tmpdir>/<name>" in a small static rotation. */
static const char *tmp(const char *name)
{
    static char bufs[8][192];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static const struct { const char *name, *define; } variants[] = {
    {"fake_good.so", ""},
    {"fake_major.so", "-DFAKE_WRONG_MAJOR"},
    {"fake_short.so", "-DFAKE_SHORT_SIZE"},
    {"fake_nosym.so", "-DFAKE_NO_SYMBOL"},
    {"fake_v2.so", "-DFAKE_V2_ONLY"},
    {"fake_refuse.so", "-DFAKE_REFUSE"},
    {"fake_nullmember.so", "-DFAKE_NULL_MEMBER"},
};

/* Runs a shell command; on failure keeps its output tail in build_log. */
static int run_cmd(const char *cmd)
{
    char full[8448];
    snprintf(full, sizeof full, "%s > '%s' 2>&1", cmd, tmp("build.log"));
    int rc = system(full);
    if (rc != 0) {
        FILE *f = fopen(tmp("build.log"), "r");
        size_t n = f ? fread(build_log, 1, sizeof build_log - 1, f) : 0;
        build_log[n] = '\0';
        if (f)
            fclose(f);
    }
    return rc;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void build_all(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/insp_loader_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        snprintf(build_log, sizeof build_log, "mkdtemp failed");
        return;
    }
    /* __FILE__ is "tests/test_loader.c" relative to the directory make/run_one.sh ran in. */
    const char *suffix = "tests/test_loader.c";
    size_t n = strlen(__FILE__), k = strlen(suffix);
    snprintf(root, sizeof root, "%.*s", n >= k ? (int)(n - k) : 0, __FILE__);

    char cmd[8192];
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        snprintf(cmd, sizeof cmd,
                 "cc -shared -fPIC -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes "
                 "-fvisibility=hidden -I'%ssdk_shim/include' %s -o '%s' '%stests/fake_plugin.c' -lm",
                 root, variants[i].define, tmp(variants[i].name), root);
        if (run_cmd(cmd) != 0)
            return;
    }
    /* The insp binary from its own sources only, so this suite does not depend on make. */
    static const char *const sources[] = {"insp_main", "insp_cli", "loader", "json_out",
                                          "overlay", "imageio"};
    int len = snprintf(cmd, sizeof cmd,
                       "cc -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes "
                       "-D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -I'%ssdk_shim/include' -O1 "
                       "-o '%s'", root, tmp("insp"));
    for (size_t i = 0; i < sizeof sources / sizeof sources[0] && len > 0; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%ssdk_shim/%s.c'", root, sources[i]);
    snprintf(cmd + len, sizeof cmd - (size_t)len, " -ldl -ltiff -lpng -lz -lm");
    if (run_cmd(cmd) != 0)
        return;
    /* The default module path is "libdapo_inspect.so next to insp". */
    if (symlink(tmp("fake_good.so"), tmp("libdapo_inspect.so")) != 0)
        return;
    write_text(tmp("recipe.yaml"),
               "# fake recipe: '- name' lines are defect types\n"
               "defects:\n  - scratch\n  - say \"hi\" \\ back\n  - Kratzer \xc3\xbc\n");
    write_text(tmp("not_elf.so"), "This is a text file pretending to be a shared object. It has "
                                  "more than sixty-four bytes so the loader reads its header.\n");
    built = 1;
}

static void remove_all(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (tmpdir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

#define REQUIRE_BUILT() ck_assert_msg(built, "building fake plugins / insp failed:\n%s", build_log)

/* ---------- loader ---------- */

/* Expects insp_loader_open(path) to fail with INSP_E_ABI and a message containing each of the
 * NULL-terminated fragments. */
static void expect_refused(const char *path, ...)
{
    insp_module m;
    char err[INSP_ERRBUF_SIZE];
    memset(&m, 0xAB, sizeof m);
    insp_status s = insp_loader_open(path, &m, err, sizeof err);
    ck_assert_msg(s == INSP_E_ABI, "%s: status %d, message '%s'", path, s, err);
    ck_assert_ptr_null(m.api);
    ck_assert_ptr_null(m.handle);
    ck_assert_ptr_null(m.path);
    va_list ap;
    va_start(ap, path);
    for (const char *frag; (frag = va_arg(ap, const char *)) != NULL;)
        ck_assert_msg(strstr(err, frag) != NULL, "message '%s' lacks '%s'", err, frag);
    va_end(ap);
}

START_TEST(test_loader_accepts_good)
{
    REQUIRE_BUILT();
    insp_module m;
    char err[INSP_ERRBUF_SIZE] = "junk";
    ck_assert_int_eq(insp_loader_open(tmp("fake_good.so"), &m, err, sizeof err), INSP_OK);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(m.handle);
    ck_assert_str_eq(m.path, tmp("fake_good.so"));
    const insp_api *api = m.api;
    ck_assert_uint_eq(api->abi_major, INSP_ABI_MAJOR);
    ck_assert_uint_ge(api->struct_size, INSP_API_SIZE_1_0);
    ck_assert(INSP_API_HAS(api, result_timing));
    ck_assert_str_eq(api->plugin_id, "org.dapo-inspect.fake");
    ck_assert_str_eq(api->status_name(INSP_E_IMAGE), "INSP_E_IMAGE");
    ck_assert_str_eq(api->status_name(12345), "INSP_E_UNKNOWN");

    /* The table is usable: a bottom-up 3-channel view with an ROI. */
    insp_tool *tool;
    ck_assert_int_eq(api->tool_create(NULL, tmp("recipe.yaml"), &tool, err, sizeof err), INSP_OK);
    ck_assert_int_eq(api->tool_class_count(tool), 4);
    ck_assert_str_eq(api->tool_class_name(tool, 0), "normal");
    ck_assert_str_eq(api->tool_class_name(tool, 2), "say \"hi\" \\ back");
    enum { W = 16, H = 8 };
    uint8_t px[H][W][3];
    memset(px, 10, sizeof px);
    px[H - 1 - 2][5][0] = px[H - 1 - 2][5][1] = px[H - 1 - 2][5][2] = 255; /* image row 2 */
    insp_image img = {.struct_size = sizeof img, .width = W, .height = H, .channels = 3,
                      .pixel = INSP_PIX_U8, .row_stride = -(ptrdiff_t)(W * 3),
                      .data = &px[H - 1][0][0], .roi_x = 4, .roi_y = 1, .roi_w = 8, .roi_h = 4};
    insp_result *r;
    ck_assert_int_eq(api->tool_process(tool, &img, &r, err, sizeof err), INSP_OK);
    api->tool_destroy(tool);   /* a result outlives its tool */
    ck_assert_int_eq(api->result_decision(r), INSP_DECISION_NG);
    insp_image map = {.struct_size = sizeof map};
    ck_assert_int_eq(api->result_anomaly_map(r, &map), INSP_OK);
    ck_assert_int_eq(map.width, 8);
    ck_assert_int_eq(map.roi_x, 4);
    ck_assert_float_eq(((const float *)map.data)[1 * 8 + 1], 4.0f);   /* (5, 2) in the image */
    ck_assert_int_eq(api->result_region_count(r), 1);
    insp_region g = {.struct_size = sizeof g};
    ck_assert_int_eq(api->result_region(r, 0, &g), INSP_OK);
    ck_assert_int_eq(g.x, 5);
    ck_assert_int_eq(g.y, 2);
    const char *name;
    ck_assert_int_eq(api->result_class(r, 3, &name, NULL), INSP_OK);
    ck_assert_str_eq(name, "Kratzer \xc3\xbc");
    api->result_release(r);

    insp_loader_close(&m);
    ck_assert_ptr_null(m.api);
    ck_assert_ptr_null(m.handle);
    insp_loader_close(&m);   /* idempotent */
    insp_loader_close(NULL);
}
END_TEST

START_TEST(test_loader_refuses_wrong_major)
{
    REQUIRE_BUILT();
    expect_refused(tmp("fake_major.so"), tmp("fake_major.so"), "plugin ABI 2.0, this host speaks 1.x",
                   NULL);
}
END_TEST

START_TEST(test_loader_refuses_short_table)
{
    REQUIRE_BUILT();
    char need[32];
    snprintf(need, sizeof need, "needs at least %u", (unsigned)INSP_API_SIZE_1_0);
    expect_refused(tmp("fake_short.so"), tmp("fake_short.so"), "function table has", need, NULL);
}
END_TEST

START_TEST(test_loader_refuses_missing_symbol)
{
    REQUIRE_BUILT();
    expect_refused(tmp("fake_nosym.so"), tmp("fake_nosym.so"),
                   ": no symbol insp_get_api_v1 (not a dapo-inspect plugin?)", NULL);
}
END_TEST

START_TEST(test_loader_refuses_future_major_symbol)
{
    REQUIRE_BUILT();
    expect_refused(tmp("fake_v2.so"), "plugin speaks ABI 2 only", "insp_get_api_v2",
                   "this host speaks 1.x", NULL);
}
END_TEST

START_TEST(test_loader_refuses_null_table_and_member)
{
    REQUIRE_BUILT();
    expect_refused(tmp("fake_refuse.so"), "refused ABI 1.1", "returned NULL", NULL);
    expect_refused(tmp("fake_nullmember.so"), "lacks result_timing (NULL)", NULL);
}
END_TEST

START_TEST(test_loader_refuses_bad_files)
{
    REQUIRE_BUILT();
    expect_refused(tmp("no_such.so"), tmp("no_such.so"),
                   ": cannot open plugin: No such file or directory", NULL);
    expect_refused(tmpdir, tmpdir, "not a regular file", NULL);
    /* glibc says "invalid ELF header"; the path is not repeated after ours. */
    expect_refused(tmp("not_elf.so"), tmp("not_elf.so"), ": cannot load: invalid ELF header", NULL);
    insp_module m;
    char err[INSP_ERRBUF_SIZE];
    ck_assert_int_eq(insp_loader_open(tmp("not_elf.so"), &m, err, sizeof err), INSP_E_ABI);
    ck_assert_ptr_null(strstr(strstr(err, "cannot load") , tmp("not_elf.so")));
}
END_TEST

START_TEST(test_loader_arguments_and_truncation)
{
    REQUIRE_BUILT();
    insp_module m;
    char err[INSP_ERRBUF_SIZE];
    ck_assert_int_eq(insp_loader_open(NULL, &m, err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(insp_loader_open("", &m, err, sizeof err), INSP_E_ARG);
    ck_assert_int_eq(insp_loader_open(tmp("fake_good.so"), NULL, err, sizeof err), INSP_E_ARG);
    /* A tiny buffer gets a truncated, terminated message; NULL err is fine. */
    char small[8];
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(insp_loader_open(tmp("no_such.so"), &m, small, sizeof small), INSP_E_ABI);
    ck_assert_uint_eq(strlen(small), 7);
    ck_assert_int_eq(insp_loader_open(tmp("no_such.so"), &m, NULL, 0), INSP_E_ABI);
}
END_TEST

START_TEST(test_loader_bare_name_is_current_directory)
{
    REQUIRE_BUILT();
    char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmpdir), 0);
    insp_module m;
    char err[INSP_ERRBUF_SIZE];
    insp_status s = insp_loader_open("fake_good.so", &m, err, sizeof err);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(s == INSP_OK, "%s", err);
    ck_assert_str_eq(m.path, "./fake_good.so");
    insp_loader_close(&m);
}
END_TEST

/* ---------- overlay ---------- */

static void expect_rgb(const overlay_image *o, int x, int y, const uint8_t want[3], const char *what)
{
    ck_assert_msg(x >= 0 && y >= 0 && x < o->width && y < o->height, "%s: (%d,%d) outside", what, x, y);
    const uint8_t *p = o->rgb + ((size_t)y * (size_t)o->width + (size_t)x) * 3;
    ck_assert_msg(p[0] == want[0] && p[1] == want[1] && p[2] == want[2],
                  "%s at (%d,%d): got %d,%d,%d want %d,%d,%d", what, x, y, p[0], p[1], p[2],
                  want[0], want[1], want[2]);
}

/* Whether colour c occurs in rows [y0, y1) of the overlay. */
static int has_colour(const overlay_image *o, int y0, int y1, const uint8_t c[3])
{
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < o->width; x++) {
            const uint8_t *p = o->rgb + ((size_t)y * (size_t)o->width + (size_t)x) * 3;
            if (p[0] == c[0] && p[1] == c[1] && p[2] == c[2])
                return 1;
        }
    return 0;
}

START_TEST(test_overlay_synthetic)
{
    enum { W = 96, H = 64, MX = 8, MY = 4, MW = 80, MH = 56 };
    static uint8_t rgb[H][W][3];
    static float amap[MH][MW];
    static uint16_t labels[MH][MW];
    memset(rgb, 200, sizeof rgb);
    memset(amap, 0, sizeof amap);
    memset(labels, 0, sizeof labels);
    /* A hot 10x6 block of defect type 2 at image (30, 20). */
    for (int y = 20; y < 26; y++)
        for (int x = 30; x < 40; x++) {
            amap[y - MY][x - MX] = 4.0f;
            labels[y - MY][x - MX] = 2;
        }
    insp_image av = {.struct_size = sizeof av, .width = MW, .height = MH, .channels = 1,
                     .pixel = INSP_PIX_F32, .row_stride = MW * 4, .data = amap,
                     .roi_x = MX, .roi_y = MY, .roi_w = MW, .roi_h = MH};
    insp_image lv = av;
    lv.pixel = INSP_PIX_U16;
    lv.row_stride = MW * 2;
    lv.data = labels;
    insp_region reg = {.struct_size = sizeof reg, .class_id = 2, .x = 30, .y = 20, .w = 10, .h = 6,
                       .area = 60, .max_score = 4, .mean_score = 4};
    const char *names[] = {"normal", "scratch", "dent \"deep\"", "stain"};
    overlay_input in = {.rgb = &rgb[0][0][0], .width = W, .height = H, .anomaly = &av,
                        .labels = &lv, .map_max = 4, .pixel_threshold = 2, .regions = &reg,
                        .region_count = 1, .class_names = names, .class_count = 4,
                        .score = 0.9f, .decision = INSP_DECISION_NG, .title = "part.png"};
    overlay_image o;
    char err[256];
    ck_assert_msg(overlay_render(&in, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.scale, 1);
    ck_assert_int_ge(o.width, W);
    ck_assert_int_gt(o.image_y, 0);                       /* header above the image */
    ck_assert_int_gt(o.height, o.image_y + H);            /* legend below it */

    uint8_t c1[3], c2[3], c3[3];
    overlay_class_colour(1, c1);
    overlay_class_colour(2, c2);
    overlay_class_colour(3, c3);
    ck_assert(memcmp(c1, c2, 3) != 0 && memcmp(c2, c3, 3) != 0);
    /* Box: one pixel outside the region's bounding box, in type 2's colour, all four sides. */
    expect_rgb(&o, o.image_x + 29, o.image_y + 19, c2, "box top-left");
    expect_rgb(&o, o.image_x + 40, o.image_y + 26, c2, "box bottom-right");
    expect_rgb(&o, o.image_x + 35, o.image_y + 19, c2, "box top");
    expect_rgb(&o, o.image_x + 35, o.image_y + 26, c2, "box bottom");
    /* Outline: the region's own border pixels from the label map. */
    expect_rgb(&o, o.image_x + 30, o.image_y + 22, c2, "outline left");
    /* Interior: strong heat, reddish. */
    const uint8_t *hot = o.rgb + ((size_t)(o.image_y + 22) * (size_t)o.width + (size_t)(o.image_x + 35)) * 3;
    ck_assert_msg(hot[0] > 100 && hot[2] < 60, "heat at defect: %d,%d,%d", hot[0], hot[1], hot[2]);
    /* Cold inspected pixel: the image dimmed (0.55), no heat; outside the map: dimmed more. */
    const uint8_t cold[3] = {110, 110, 110}, outside[3] = {50, 50, 50};
    expect_rgb(&o, o.image_x + 70, o.image_y + 50, cold, "cold pixel");
    expect_rgb(&o, o.image_x + 2, o.image_y + 2, outside, "outside ROI");
    /* Legend: a swatch per defect type in its colour. */
    int sx, sy;
    ck_assert_int_eq(overlay_legend_swatch(&in, &o, 1, &sx, &sy), 0);
    ck_assert_int_ge(sy, o.image_y + H);
    expect_rgb(&o, sx, sy, c1, "legend swatch 1");
    ck_assert_int_eq(overlay_legend_swatch(&in, &o, 3, &sx, &sy), 0);
    expect_rgb(&o, sx, sy, c3, "legend swatch 3");
    ck_assert_int_eq(overlay_legend_swatch(&in, &o, 4, &sx, &sy), -1);
    /* Header: the NG decision in red, and text pixels. */
    const uint8_t red[3] = {255, 50, 50}, text[3] = {235, 235, 235};
    ck_assert(has_colour(&o, 0, o.image_y, red));
    ck_assert(has_colour(&o, 0, o.image_y, text));
    overlay_free(&o);
    ck_assert_ptr_null(o.rgb);

    /* OK decision: green, not red. No map at all is fine too. */
    in.decision = INSP_DECISION_OK;
    in.anomaly = in.labels = NULL;
    in.region_count = 0;
    ck_assert_int_eq(overlay_render(&in, &o, err, sizeof err), 0);
    const uint8_t green[3] = {60, 220, 60};
    ck_assert(has_colour(&o, 0, o.image_y, green));
    ck_assert(!has_colour(&o, 0, o.image_y, red));
    overlay_free(&o);

    /* A map of the wrong type is an error, not a crash. */
    insp_image bad = av;
    bad.pixel = INSP_PIX_U8;
    in.anomaly = &bad;
    ck_assert_int_eq(overlay_render(&in, &o, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "anomaly"));
    ck_assert_ptr_null(o.rgb);
}
END_TEST

START_TEST(test_overlay_large_image_scales_text)
{
    enum { W = 2000, H = 1000 };
    uint8_t *rgb = calloc((size_t)W * H * 3, 1);
    ck_assert_ptr_nonnull(rgb);
    const char *names[] = {"normal", "a very long defect type name that is cut in the legend"};
    overlay_input in = {.rgb = rgb, .width = W, .height = H, .class_names = names,
                        .class_count = 2, .score = 0.1f, .decision = INSP_DECISION_OK};
    overlay_image o;
    char err[256];
    ck_assert_int_eq(overlay_render(&in, &o, err, sizeof err), 0);
    ck_assert_int_eq(o.scale, 3);
    ck_assert_int_eq(o.width, W);
    overlay_free(&o);
    free(rgb);
}
END_TEST

START_TEST(test_overlay_base_conversion)
{
    /* Planar BGR U16 with a 12-bit range, bottom-up rows: 2x2 pixels. */
    uint16_t planes[3][2][2] = {
        {{0, 4095}, {100, 200}},      /* B */
        {{0, 0}, {4095, 300}},        /* G */
        {{4095, 0}, {0, 8000}},       /* R (8000 clips) */
    };
    insp_image v = {.struct_size = sizeof v, .width = 2, .height = 2, .channels = 3,
                    .pixel = INSP_PIX_U16, .planar = 1, .row_stride = -4,
                    .plane_stride = (ptrdiff_t)sizeof planes[0], .data = &planes[0][1][0],
                    .value_min = 0, .value_max = 4095, .flags = INSP_IMAGE_BGR};
    uint8_t *rgb;
    char err[256];
    ck_assert_int_eq(overlay_rgb8_from_image(&v, &rgb, err, sizeof err), 0);
    /* Top row is memory row 1: B {100,200} G {4095,300} R {0,8000}. */
    ck_assert_int_eq(rgb[0], 0);     ck_assert_int_eq(rgb[1], 255);  ck_assert_int_eq(rgb[2], 6);
    ck_assert_int_eq(rgb[3], 255);   ck_assert_int_eq(rgb[4], 19);   ck_assert_int_eq(rgb[5], 12);
    /* Bottom row is memory row 0: pixel (0,1) = R 4095, G 0, B 0. */
    ck_assert_int_eq(rgb[6], 255);   ck_assert_int_eq(rgb[7], 0);    ck_assert_int_eq(rgb[8], 0);
    free(rgb);
    v.value_max = -1;
    ck_assert_int_eq(overlay_rgb8_from_image(&v, &rgb, err, sizeof err), -1);
    ck_assert_ptr_null(rgb);
}
END_TEST

/* ---------- JSON writer ---------- */

/* Escapes s and returns the text (static buffer). */
static const char *escaped(const char *s)
{
    static char out[512];
    FILE *f = fmemopen(out, sizeof out, "w");
    ck_assert_ptr_nonnull(f);
    json_out_escape(f, s);
    fclose(f);
    return out;
}

START_TEST(test_json_escaping)
{
    ck_assert_str_eq(escaped("plain"), "\"plain\"");
    ck_assert_str_eq(escaped("say \"hi\" \\ back"), "\"say \\\"hi\\\" \\\\ back\"");
    ck_assert_str_eq(escaped("a\nb\tc\rd\be\ff"), "\"a\\nb\\tc\\rd\\be\\ff\"");
    ck_assert_str_eq(escaped("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
    /* Valid UTF-8 passes unchanged: 2-, 3-, 4-byte sequences. */
    ck_assert_str_eq(escaped("Kratzer \xc3\xbc \xe2\x82\xac \xf0\x9f\x94\xa9"),
                     "\"Kratzer \xc3\xbc \xe2\x82\xac \xf0\x9f\x94\xa9\"");
    /* JS line separators are escaped. */
    ck_assert_str_eq(escaped("x\xe2\x80\xa8y"), "\"x\\u2028y\"");
    /* Invalid UTF-8 becomes U+FFFD: stray byte, overlong '/', surrogate, truncated sequence. */
    ck_assert_str_eq(escaped("\xff"), "\"\xef\xbf\xbd\"");
    ck_assert_str_eq(escaped("\xc0\xaf"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    ck_assert_str_eq(escaped("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    ck_assert_str_eq(escaped("\xe2\x82"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    ck_assert_str_eq(escaped("\xf4\x90\x80\x80"),   /* beyond U+10FFFF */
                     "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    ck_assert_str_eq(escaped(""), "\"\"");
}
END_TEST

/* Writes a fixed document and returns it (static buffer). */
static const char *document(int pretty, int *rc)
{
    static char out[1024];
    memset(out, 0, sizeof out);
    FILE *f = fmemopen(out, sizeof out, "w");
    json_out w;
    json_out_init(&w, f, pretty);
    json_out_begin_object(&w);
    json_out_kv_string(&w, "na\"me", "x\\y");
    json_out_kv_float(&w, "score", 0.73f);
    json_out_kv_number(&w, "nan", NAN);
    json_out_kv_int(&w, "n", -5);
    json_out_key(&w, "bbox");
    json_out_begin_array_inline(&w);
    json_out_int(&w, 1);
    json_out_int(&w, 2);
    json_out_end_array(&w);
    json_out_key(&w, "list");
    json_out_begin_array(&w);
    json_out_begin_object_inline(&w);
    json_out_kv_string(&w, "k", NULL);
    json_out_key(&w, "b");
    json_out_bool(&w, 1);
    json_out_end_object(&w);
    json_out_end_array(&w);
    json_out_key(&w, "empty");
    json_out_begin_array(&w);
    json_out_end_array(&w);
    json_out_end_object(&w);
    *rc = json_out_finish(&w);
    fclose(f);
    return out;
}

START_TEST(test_json_structure)
{
    int rc;
    ck_assert_str_eq(document(0, &rc),
                     "{\"na\\\"me\":\"x\\\\y\",\"score\":0.73,\"nan\":null,\"n\":-5,\"bbox\":[1,2],"
                     "\"list\":[{\"k\":null,\"b\":true}],\"empty\":[]}\n");
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(document(1, &rc),
                     "{\n  \"na\\\"me\": \"x\\\\y\",\n  \"score\": 0.73,\n  \"nan\": null,\n"
                     "  \"n\": -5,\n  \"bbox\": [1, 2],\n  \"list\": [\n"
                     "    {\"k\": null, \"b\": true}\n  ],\n  \"empty\": []\n}\n");
    ck_assert_int_eq(rc, 0);
    /* The pretty document parses. */
    dp_json *doc;
    dp_err e;
    const char *text = document(1, &rc);
    ck_assert_int_eq(dp_json_parse(text, strlen(text), "test", &doc, &e), DP_OK);
    ck_assert_str_eq(dp_json_get(doc, "na\"me")->string, "x\\y");
    dp_json_free(doc);

    /* Misuse is reported by finish. */
    char out[64];
    FILE *f = fmemopen(out, sizeof out, "w");
    json_out w;
    json_out_init(&w, f, 0);
    json_out_begin_object(&w);
    json_out_int(&w, 1);
    json_out_end_array(&w);
    ck_assert_int_eq(json_out_finish(&w), -1);
    fclose(f);
}
END_TEST

START_TEST(test_json_numbers_ignore_locale)
{
    /* A host that switched LC_NUMERIC must still get '.' (skipped where no such locale exists). */
    const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C"};
    for (size_t i = 0; i < sizeof locales / sizeof locales[0]; i++)
        if (setlocale(LC_NUMERIC, locales[i]))
            break;
    char out[64] = "";
    FILE *f = fmemopen(out, sizeof out, "w");
    json_out w;
    json_out_init(&w, f, 0);
    json_out_float(&w, 0.5f);
    json_out_finish(&w);
    fclose(f);
    setlocale(LC_NUMERIC, "C");
    ck_assert_str_eq(out, "0.5\n");
}
END_TEST

/* ---------- command line ---------- */

static int parse(insp_cli *c, char *err, size_t cap, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"insp";
    va_list ap;
    va_start(ap, cap);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    return insp_cli_parse(argc, argv, c, err, cap);
}

START_TEST(test_cli_run_options)
{
    insp_cli c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, sizeof err, "run", "a.png", "--recipe", "r.yaml", "--out=o",
                           "--threads", "4", "-q", "--set", "pixel_threshold=1.5", "b.tif",
                           "--set=image_threshold=0.4", "--roi", "1,2,30,40", "--range", "0:4095",
                           "--mask", "m.png", "--module", "x.so", "--", "--odd.png", NULL), 0);
    ck_assert_int_eq(c.command, INSP_CMD_RUN);
    ck_assert_str_eq(c.recipe, "r.yaml");
    ck_assert_str_eq(c.out_dir, "o");
    ck_assert_str_eq(c.module, "x.so");
    ck_assert_str_eq(c.mask, "m.png");
    ck_assert_int_eq(c.threads, 4);
    ck_assert_int_eq(c.quiet, 1);
    ck_assert_int_eq(c.n_params, 2);
    ck_assert_str_eq(c.params[0], "pixel_threshold=1.5");
    ck_assert_str_eq(c.params[1], "image_threshold=0.4");
    ck_assert_int_eq(c.has_roi, 1);
    ck_assert_int_eq(c.roi[0], 1);
    ck_assert_int_eq(c.roi[3], 40);
    ck_assert_int_eq(c.has_range, 1);
    ck_assert_float_eq(c.range[1], 4095.0f);
    ck_assert_int_eq(c.n_images, 3);
    ck_assert_str_eq(c.images[0], "a.png");
    ck_assert_str_eq(c.images[1], "b.tif");
    ck_assert_str_eq(c.images[2], "--odd.png");
    insp_cli_free(&c);
}
END_TEST

START_TEST(test_cli_info_and_help)
{
    insp_cli c;
    char err[256];
    ck_assert_int_eq(parse(&c, err, sizeof err, "info", "plug.so", "--recipe", "r.yaml", NULL), 0);
    ck_assert_int_eq(c.command, INSP_CMD_INFO);
    ck_assert_str_eq(c.module, "plug.so");
    ck_assert_str_eq(c.recipe, "r.yaml");
    ck_assert_int_eq(c.n_images, 0);
    insp_cli_free(&c);
    ck_assert_int_eq(parse(&c, err, sizeof err, "info", NULL), 0);
    ck_assert_ptr_null(c.module);
    insp_cli_free(&c);
    ck_assert_int_eq(parse(&c, err, sizeof err, "--help", NULL), 0);
    ck_assert_int_eq(c.command, INSP_CMD_HELP);
    insp_cli_free(&c);
    ck_assert_int_eq(parse(&c, err, sizeof err, "run", "-h", NULL), 0);
    ck_assert_int_eq(c.command, INSP_CMD_HELP);
    insp_cli_free(&c);
    ck_assert_int_eq(parse(&c, err, sizeof err, "--version", NULL), 0);
    ck_assert_int_eq(c.command, INSP_CMD_VERSION);
    insp_cli_free(&c);

    /* The help text documents every exit code. */
    char text[8192] = "";
    FILE *f = fmemopen(text, sizeof text, "w");
    insp_cli_usage(f);
    fclose(f);
    for (int code = 0; code <= 4; code++) {
        char line[24];
        snprintf(line, sizeof line, "\n  %d  ", code);
        ck_assert_msg(strstr(text, line), "help lacks exit code %d", code);
    }
}
END_TEST

static const struct { const char *args[6]; const char *fragment; } bad_lines[] = {
    {{NULL}, "no command"},
    {{"frob", NULL}, "unknown command 'frob'"},
    {{"run", "a.png", NULL}, "--recipe is required"},
    {{"run", "--recipe", "r", NULL}, "no images"},
    {{"run", "--recipe", "r", "--threads", "0", NULL}, "--threads needs a whole number"},
    {{"run", "--recipe", "r", "--threads", "2x", NULL}, "got '2x'"},
    {{"run", "--recipe", "r", "--set", "novalue", NULL}, "needs KEY=VALUE"},
    {{"run", "--recipe", "r", "--roi", "1,2,0,4", NULL}, "--roi needs X,Y,W,H"},
    {{"run", "--recipe", "r", "--roi", "1,2,3", NULL}, "--roi needs"},
    {{"run", "--recipe", "r", "--range", "5:5", NULL}, "HI > LO"},
    {{"run", "--recipe", NULL}, "--recipe needs a value"},
    {{"run", "--bogus", NULL}, "unknown option '--bogus'"},
    {{"run", "--quiet=1", NULL}, "takes no value"},
    {{"info", "--out", "d", NULL}, "unknown option '--out'"},
    {{"info", "a.so", "b.so", NULL}, "extra 'b.so'"},
};

START_TEST(test_cli_usage_errors)
{
    insp_cli c;
    char err[256];
    char *argv[8] = {(char *)"insp"};
    int argc = 1;
    for (int i = 0; bad_lines[_i].args[i]; i++)
        argv[argc++] = (char *)bad_lines[_i].args[i];
    ck_assert_int_eq(insp_cli_parse(argc, argv, &c, err, sizeof err), -1);
    ck_assert_msg(strstr(err, bad_lines[_i].fragment), "case %d: '%s' lacks '%s'", _i, err,
                  bad_lines[_i].fragment);
    ck_assert_ptr_null(c.images);
}
END_TEST

/* ---------- insp end to end on the fake plugin ---------- */

/* Runs "<tmpdir>/insp ARGS" in tmpdir; returns its exit code; stdout+stderr in <tmpdir>/out.txt. */
static int insp(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && ./insp %s > out.txt 2>&1", tmpdir, args);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st), "insp did not exit normally: %d", st);
    return WEXITSTATUS(st);
}

static char *slurp_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void make_png(const char *name, uint8_t grey, int bright_x)
{
    enum { W = 48, H = 32 };
    static uint8_t rgb[H][W][3];
    memset(rgb, grey, sizeof rgb);
    for (int y = 10; y < 16 && bright_x >= 0; y++)
        for (int x = bright_x; x < bright_x + 5; x++)
            rgb[y][x][0] = rgb[y][x][1] = rgb[y][x][2] = 255;
    char err[256];
    ck_assert_msg(io_write_png_rgb8(tmp(name), &rgb[0][0][0], W, H, err, sizeof err) == 0, "%s", err);
}

START_TEST(test_insp_end_to_end)
{
    REQUIRE_BUILT();
    make_png("dark.png", 20, -1);
    make_png("bad.png", 20, 17);   /* x 17..21: all defect type 2 in the fake */
    ck_assert_int_eq(mkdir(tmp("sub"), 0777), 0);
    make_png("sub/dark.png", 30, -1);

    /* 0: all OK; the default module next to insp is used. */
    ck_assert_int_eq(insp("run --recipe recipe.yaml dark.png"), INSP_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(slurp_text(tmp("out.txt")), "[1/1] dark.png: score="));
    /* 1: one NG; files for each image, repeated stems disambiguated. */
    ck_assert_int_eq(insp("run --module fake_good.so --recipe recipe.yaml --out res "
                          "dark.png bad.png sub/dark.png"), INSP_EXIT_NG);
    const char *files[] = {"res/bad.json", "res/bad_anomaly.tif", "res/bad_labels.tif",
                           "res/bad_overlay.png", "res/dark.json", "res/dark_2.json",
                           "res/summary.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        struct stat st;
        ck_assert_msg(stat(tmp(files[i]), &st) == 0 && st.st_size > 0, "missing %s", files[i]);
    }
    /* The per-image JSON is valid and carries the odd type name intact. */
    const char *text = slurp_text(tmp("res/bad.json"));
    dp_json *doc;
    dp_err e;
    ck_assert_msg(dp_json_parse(text, strlen(text), "bad.json", &doc, &e) == DP_OK, "%s", e.msg);
    ck_assert_str_eq(dp_json_get(doc, "decision")->string, "NG");
    const dp_json *classes = dp_json_get(doc, "classes");
    ck_assert_uint_eq(classes->count, 4);
    ck_assert_str_eq(dp_json_get(&classes->items[2], "name")->string, "say \"hi\" \\ back");
    ck_assert_str_eq(dp_json_get(&classes->items[3], "name")->string, "Kratzer \xc3\xbc");
    const dp_json *regions = dp_json_get(doc, "regions");
    ck_assert_uint_ge(regions->count, 1);
    ck_assert_uint_eq(regions->count, 1);
    ck_assert_int_eq(dp_json_get(&regions->items[0], "class_id")->integer, 2);
    ck_assert_int_eq(dp_json_get(&regions->items[0], "bbox")->items[0].integer, 17);
    ck_assert_int_eq(dp_json_get(doc, "width")->integer, 48);
    dp_json_free(doc);
    /* The anomaly map round-trips: the bright block reads 4.0. */
    io_image map;
    char err[256];
    ck_assert_msg(io_read_image(tmp("res/bad_anomaly.tif"), &map, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(map.pixel, IO_F32);
    ck_assert_float_eq(((float *)map.data)[12 * 48 + 18], 4.0f);
    ck_assert_float_lt(((float *)map.data)[12 * 48 + 30], 1.0f);
    io_image_free(&map);
    text = slurp_text(tmp("res/summary.json"));
    ck_assert_msg(dp_json_parse(text, strlen(text), "summary", &doc, &e) == DP_OK, "%s", e.msg);
    ck_assert_int_eq(dp_json_get(doc, "ng")->integer, 1);
    ck_assert_int_eq(dp_json_get(doc, "exit_code")->integer, 1);
    ck_assert_str_eq(dp_json_get(&dp_json_get(doc, "results")->items[2], "stem")->string, "dark_2");
    dp_json_free(doc);

    /* 4: an unreadable image among good ones; the others still run. */
    write_text(tmp("junk.png"), "not an image");
    ck_assert_int_eq(insp("run --module fake_good.so --recipe recipe.yaml bad.png junk.png dark.png"),
                     INSP_EXIT_IMAGE);
    text = slurp_text(tmp("out.txt"));
    ck_assert_ptr_nonnull(strstr(text, "[2/3] junk.png: FAILED"));
    ck_assert_ptr_nonnull(strstr(text, "[3/3] dark.png: score="));
    /* 4 also for a plugin-refused image (ROI outside), with the plugin's message. */
    ck_assert_int_eq(insp("run --module fake_good.so --recipe recipe.yaml --roi 40,0,20,5 dark.png"),
                     INSP_EXIT_IMAGE);
    ck_assert_ptr_nonnull(strstr(slurp_text(tmp("out.txt")), "INSP_E_IMAGE): image: ROI 40,0 20x5"));
    /* 3: broken module, missing recipe. */
    ck_assert_int_eq(insp("run --module fake_major.so --recipe recipe.yaml dark.png"), INSP_EXIT_SETUP);
    ck_assert_ptr_nonnull(strstr(slurp_text(tmp("out.txt")), "plugin ABI 2.0, this host speaks 1.x"));
    ck_assert_int_eq(insp("run --module fake_good.so --recipe none.yaml dark.png"), INSP_EXIT_SETUP);
    ck_assert_ptr_nonnull(strstr(slurp_text(tmp("out.txt")), "INSP_E_RECIPE"));
    /* 2: usage, and a parameter the plugin rejects. */
    ck_assert_int_eq(insp("run dark.png"), INSP_EXIT_USAGE);
    ck_assert_int_eq(insp("run --module fake_good.so --recipe recipe.yaml --set nope=1 dark.png"),
                     INSP_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(slurp_text(tmp("out.txt")), "parameter nope"));
    /* --set reaches the tool: a high image threshold turns the NG part OK. */
    ck_assert_int_eq(insp("run --module fake_good.so --recipe recipe.yaml -q "
                          "--set image_threshold=0.9999 bad.png"), INSP_EXIT_OK);
    ck_assert_str_eq(slurp_text(tmp("out.txt")), "");
    /* info. */
    ck_assert_int_eq(insp("info fake_good.so --recipe recipe.yaml"), INSP_EXIT_OK);
    text = slurp_text(tmp("out.txt"));
    ck_assert_ptr_nonnull(strstr(text, "org.dapo-inspect.fake 0.0.1"));
    ck_assert_ptr_nonnull(strstr(text, "MASK ROI LABEL_MAP REGIONS"));
    ck_assert_ptr_nonnull(strstr(text, "   2  say \"hi\" \\ back"));
    ck_assert_ptr_nonnull(strstr(text, "\"params\""));
    ck_assert_int_eq(insp("info not_elf.so"), INSP_EXIT_SETUP);
}
END_TEST

Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, build_all, remove_all);
    tcase_add_test(tc, test_loader_accepts_good);
    tcase_add_test(tc, test_loader_refuses_wrong_major);
    tcase_add_test(tc, test_loader_refuses_short_table);
    tcase_add_test(tc, test_loader_refuses_missing_symbol);
    tcase_add_test(tc, test_loader_refuses_future_major_symbol);
    tcase_add_test(tc, test_loader_refuses_null_table_and_member);
    tcase_add_test(tc, test_loader_refuses_bad_files);
    tcase_add_test(tc, test_loader_arguments_and_truncation);
    tcase_add_test(tc, test_loader_bare_name_is_current_directory);
    tcase_add_test(tc, test_overlay_synthetic);
    tcase_add_test(tc, test_overlay_large_image_scales_text);
    tcase_add_test(tc, test_overlay_base_conversion);
    tcase_add_test(tc, test_json_escaping);
    tcase_add_test(tc, test_json_structure);
    tcase_add_test(tc, test_json_numbers_ignore_locale);
    tcase_add_test(tc, test_cli_run_options);
    tcase_add_test(tc, test_cli_info_and_help);
    tcase_add_loop_test(tc, test_cli_usage_errors, 0, (int)(sizeof bad_lines / sizeof bad_lines[0]));
    tcase_add_test(tc, test_insp_end_to_end);
    suite_add_tcase(s, tc);
    return s;
}
