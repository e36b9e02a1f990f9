/* Installation and packages, as a plant engineer meets them: `make install` into a temporary
 * root (PREFIX and DESTDIR), the installed CLI on the installed plugin with an installed
 * recipe, a tiny C host built against the installed header with pkg-config, `make uninstall`,
 * `make deb` (contents, run-time dependencies, lintian) and `make halcon-package`, whose
 * operator library is loaded through HALCONEXTENSIONS into this process's HALCON stand-in.
 *
 * The tests shell out to make in the repository (the directory make check runs in). Those
 * that only run release binaries (install, CLI, host, deb) run in the optimised pass and are
 * skipped under the sanitizers; the HALCON package test runs in both. */
#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden.h"
#include "halcon/dapoinspect_ops.h"
#include "halcon/halcon_shim.h"
#include "imageio.h"

static char T[256];           /* the temporary root */

static void setup(void)
{
    snprintf(T, sizeof T, "/tmp/dp_install_XXXXXX");
    ck_assert(mkdtemp(T));
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", T);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs a shell command with output to T/log.txt; returns the exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192], full[8192 + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "(%s) >'%s/log.txt' 2>&1", cmd, T);
    int st = system(full);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

static char *log_text(void)
{
    char p[400];
    snprintf(p, sizeof p, "%s/log.txt", T);
    char *s = slurp(p);
    ck_assert(s != NULL);
    return s;
}

/* make in the repository, without the outer make's jobserver settings. */
#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s"

static int sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("  skipped under the sanitizers (runs release binaries; see the optimised pass)\n");
    return 1;
#else
    return 0;
#endif
}

static void expect_file(const char *root, const char *rel, int mode)
{
    char p[1024];
    snprintf(p, sizeof p, "%s%s", root, rel);
    struct stat sb;
    ck_assert_msg(stat(p, &sb) == 0, "not installed: %s", rel);
    ck_assert_msg(S_ISREG(sb.st_mode), "%s: not a file", rel);
    ck_assert_msg((sb.st_mode & 0777) == (mode_t)mode, "%s: mode %o, expected %o", rel,
                  sb.st_mode & 0777, mode);
}

static void expect_contains(const char *path, const char *what)
{
    char *s = slurp(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    ck_assert_msg(strstr(s, what) != NULL, "%s lacks \"%s\"", path, what);
    free(s);
}

/* DESTDIR staging with PREFIX=/usr: the layout, the generated files, and uninstall. */
START_TEST(install_tree)
{
    if (sanitized())
        return;
    char stage[300];
    snprintf(stage, sizeof stage, "%s/stage", T);
    ck_assert_msg(sh(MAKE " install DESTDIR='%s' PREFIX=/usr", stage) == 0, "%s", log_text());
    static const struct { const char *path; int mode; } files[] = {
        {"/usr/bin/insp", 0755},
        {"/usr/bin/insp-calibrate", 0755},
        {"/usr/lib/dapo-inspect/libdapo_inspect.so", 0644},
        {"/usr/libexec/dapo-inspect/make_demo_model", 0755},
        {"/usr/libexec/dapo-inspect/make_demo_images", 0755},
        {"/usr/include/dapo-inspect/insp_tool.h", 0644},
        {"/usr/lib/pkgconfig/dapo-inspect.pc", 0644},
        {"/usr/share/dapo-inspect/models/bpe_simple_vocab_16e6.txt.gz", 0644},
        {"/usr/share/dapo-inspect/models/demo_dapo.safetensors", 0644},
        {"/usr/share/dapo-inspect/recipes/demo.yaml", 0644},
        {"/usr/share/dapo-inspect/recipes/metal_bracket.yaml", 0644},
        {"/usr/share/dapo-inspect/recipes/README.md", 0644},
        {"/usr/share/doc/dapo-inspect/README.md", 0644},
        {"/usr/share/man/man1/insp.1.gz", 0644},
        {"/usr/share/man/man1/insp-calibrate.1.gz", 0644},
        {"/usr/lib/dapo-inspect/halcon/dapoinspect/def/dapoinspect.def", 0644},
        {"/usr/lib/dapo-inspect/halcon/dapoinspect/lib/x64-linux/libdapoinspect.so", 0644},
        {"/usr/lib/dapo-inspect/halcon/dapoinspect/lib/x64-linux/libdapo_inspect.so", 0644},
        {"/usr/lib/dapo-inspect/halcon/dapoinspect/doc/dapoinspect.html", 0644},
        {"/usr/lib/dapo-inspect/halcon/dapoinspect/examples/hdevelop/inspect_part.hdev", 0644},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        expect_file(stage, files[i].path, files[i].mode);
    char p[600];
    snprintf(p, sizeof p, "%s/usr/lib/pkgconfig/dapo-inspect.pc", stage);
    expect_contains(p, "plugindir=/usr/lib/dapo-inspect\n");
    expect_contains(p, "Cflags: -I${includedir}/dapo-inspect\n");
    /* every example recipe names the installed vocabulary; the demo one its ./demo CLIP and the
     * installed trained DAPO file */
    static const char *const recipes[] = {"demo", "blister_pack", "metal_bracket",
                                          "pcb_assembly", "wood_panel"};
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        snprintf(p, sizeof p, "%s/usr/share/dapo-inspect/recipes/%s.yaml", stage, recipes[i]);
        expect_contains(p, "  vocabulary: /usr/share/dapo-inspect/models/bpe_simple_vocab_16e6.txt.gz");
        char *s = slurp(p);
        ck_assert_msg(strstr(strstr(s, "vocabulary:") + 1, "vocabulary:") == NULL,
                      "%s: two vocabulary lines", p);
        free(s);
    }
    snprintf(p, sizeof p, "%s/usr/share/dapo-inspect/recipes/demo.yaml", stage);
    expect_contains(p, "  clip: demo/clip.safetensors");
    expect_contains(p, "  dapo: /usr/share/dapo-inspect/models/demo_dapo.safetensors");
    /* the installed insp knows where the installed plugin lives */
    ck_assert_int_eq(sh("grep -q /usr/lib/dapo-inspect '%s/usr/bin/insp'", stage), 0);
    printf("  make install DESTDIR=%s PREFIX=/usr: %zu files checked\n", stage,
           sizeof files / sizeof files[0]);

    ck_assert_msg(sh(MAKE " uninstall DESTDIR='%s' PREFIX=/usr", stage) == 0, "%s", log_text());
    ck_assert_int_eq(sh("test -z \"$(find '%s' ! -type d)\"", stage), 0);
    printf("  make uninstall: no file left\n");
}
END_TEST

static const char *HOST_C =
    "/* A tiny host: the installed header only, the plugin by dlopen. */\n"
    "#include <dlfcn.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "#include <insp_tool.h>\n"
    "int main(int argc, char **argv)\n{\n"
    "    if (argc != 3) return 2;\n"
    "    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);\n"
    "    if (!so) { fprintf(stderr, \"%s\\n\", dlerror()); return 3; }\n"
    "    insp_get_api_v1_fn get; void *sym = dlsym(so, INSP_ENTRY_SYMBOL);\n"
    "    memcpy(&get, &sym, sizeof get);\n"
    "    const insp_api *api = get ? get(INSP_ABI_MAJOR, INSP_ABI_MINOR) : NULL;\n"
    "    if (!api) return 4;\n"
    "    printf(\"plugin %s %s ABI %u.%u\\n\", api->plugin_id, api->plugin_version,\n"
    "           api->abi_major, api->abi_minor);\n"
    "    char err[INSP_ERRBUF_SIZE]; insp_tool *tool;\n"
    "    if (api->tool_create(NULL, argv[2], &tool, err, sizeof err) != INSP_OK) {\n"
    "        fprintf(stderr, \"%s\\n\", err); return 5; }\n"
    "    static unsigned char px[96 * 64];\n"
    "    for (int i = 0; i < 96 * 64; i++) px[i] = (unsigned char)(i * 7);\n"
    "    insp_image img = { .struct_size = sizeof img };\n"
    "    img.width = 96; img.height = 64; img.channels = 1; img.pixel = INSP_PIX_U8;\n"
    "    img.row_stride = 96; img.data = px;\n"
    "    insp_result *res;\n"
    "    if (api->tool_process(tool, &img, &res, err, sizeof err) != INSP_OK) {\n"
    "        fprintf(stderr, \"%s\\n\", err); return 6; }\n"
    "    printf(\"score %.4f decision %d classes %d\\n\", api->result_score(res),\n"
    "           api->result_decision(res), api->result_class_count(res));\n"
    "    api->result_release(res); api->tool_destroy(tool); dlclose(so);\n"
    "    return 0;\n}\n";

/* PREFIX=<temp>/prefix: the installed insp on the installed plugin and recipe, and a C host
 * built with pkg-config against the installed header. */
START_TEST(installed_cli_and_host)
{
    if (sanitized())
        return;
    char prefix[300], work[300];
    snprintf(prefix, sizeof prefix, "%s/prefix", T);
    snprintf(work, sizeof work, "%s/work", T);
    ck_assert_msg(sh(MAKE " install PREFIX='%s'", prefix) == 0, "%s", log_text());
    ck_assert_int_eq(sh("mkdir -p '%s' && cd '%s' && '%s/libexec/dapo-inspect/make_demo_model' demo"
                        " && '%s/libexec/dapo-inspect/make_demo_images' images --size 320x240"
                        " && cp '%s/share/dapo-inspect/recipes/demo.yaml' .",
                        work, work, prefix, prefix, prefix), 0);
    /* insp finds the installed plugin by itself (run from elsewhere, no --module) */
    ck_assert_msg(sh("cd / && env -u DAPO_INSPECT_PLUGIN '%s/bin/insp' info --recipe '%s/demo.yaml'",
                     prefix, work) == 0, "%s", log_text());
    char *log = log_text();
    char want[600];
    snprintf(want, sizeof want, "module      %s/lib/dapo-inspect/libdapo_inspect.so", prefix);
    ck_assert_msg(strstr(log, want) != NULL, "insp info did not use the installed plugin:\n%s", log);
    ck_assert_msg(strstr(log, "classes     4") != NULL, "%s", log);
    free(log);
    int rc = sh("cd '%s' && env -u DAPO_INSPECT_PLUGIN '%s/bin/insp' run --quiet --recipe demo.yaml "
                "--out out images/demo_00_metal.png images/demo_01_fabric.png", work, prefix);
    ck_assert_msg(rc == 0 || rc == 1, "insp run exit %d: %s", rc, log_text());
    char p[600];
    snprintf(p, sizeof p, "%s/out/summary.json", work);
    expect_contains(p, "\"images\": 2");
    /* the installed trained DAPO file: the metal part's stain found, the fabric part (whose
     * defects it misses) OK; with the untrained file both parts would be NG */
    expect_contains(p, "\"ok\": 1,\n  \"ng\": 1,");
    snprintf(p, sizeof p, "%s/out/demo_01_fabric.png.anomaly.tif", work);
    ck_assert_int_eq(access(p, R_OK), 0);
    printf("  installed insp (exit %d) with the installed plugin, recipe and vocabulary\n", rc);

    /* the tiny host */
    snprintf(p, sizeof p, "%s/host.c", work);
    FILE *f = fopen(p, "w");
    ck_assert(f != NULL);
    fputs(HOST_C, f);
    fclose(f);
    ck_assert_msg(sh("cd '%s' && export PKG_CONFIG_PATH='%s/lib/pkgconfig' && "
                     "cc -std=c11 -Wall -Wextra -Werror -o host host.c "
                     "$(pkg-config --cflags --libs dapo-inspect) && "
                     "./host \"$(pkg-config --variable=plugin dapo-inspect)\" demo.yaml",
                     work, prefix) == 0, "%s", log_text());
    log = log_text();
    ck_assert_msg(strstr(log, "plugin org.dapo-inspect.dapo") && strstr(log, "classes 4"), "%s", log);
    printf("  host built with pkg-config --cflags --libs dapo-inspect: %s", strchr(log, '\n') + 1);
    free(log);
    ck_assert_int_eq(sh(MAKE " uninstall PREFIX='%s'", prefix), 0);
    ck_assert_int_eq(sh("test ! -e '%s'", prefix), 0);
}
END_TEST

/* make deb: contents, declared run-time dependencies, lintian without errors. */
START_TEST(debian_package)
{
    if (sanitized())
        return;
    int rc = sh(MAKE " deb");
    char *log = log_text();
    ck_assert_msg(rc == 0, "make deb failed:\n%s", log);
    free(log);
    ck_assert_int_eq(sh("dpkg-deb -f build/dapo-inspect_0.1.0-1_amd64.deb Depends"), 0);
    log = log_text();
    static const char *const deps[] = {"libdnnl2", "libyaml-0-2", "libtiff6", "libpng16-16",
                                       "zlib1g", "libgomp1", "libc6"};
    for (size_t i = 0; i < sizeof deps / sizeof deps[0]; i++)
        ck_assert_msg(strstr(log, deps[i]) != NULL, "Depends lacks %s: %s", deps[i], log);
    printf("  Depends: %s", log);
    free(log);
    ck_assert_int_eq(sh("dpkg-deb -c build/dapo-inspect_0.1.0-1_amd64.deb"), 0);
    log = log_text();
    static const char *const paths[] = {
        "./usr/bin/insp", "./usr/bin/insp-calibrate",
        "./usr/lib/x86_64-linux-gnu/dapo-inspect/libdapo_inspect.so",
        "./usr/include/dapo-inspect/insp_tool.h",
        "./usr/lib/x86_64-linux-gnu/pkgconfig/dapo-inspect.pc",
        "./usr/share/dapo-inspect/models/bpe_simple_vocab_16e6.txt.gz",
        "./usr/share/dapo-inspect/models/demo_dapo.safetensors",
        "./usr/share/doc/dapo-inspect/copyright", "./usr/share/doc/dapo-inspect/changelog.Debian.gz",
        "./usr/share/man/man1/insp.1.gz",
        "./usr/lib/x86_64-linux-gnu/dapo-inspect/halcon/dapoinspect/lib/x64-linux/libdapoinspect.so",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        ck_assert_msg(strstr(log, paths[i]) != NULL, "package lacks %s", paths[i]);
    ck_assert_msg(strstr(log, "root/root") != NULL, "files not owned by root");
    free(log);
    char *lint = slurp("build/lintian.txt");
    ck_assert(lint != NULL);
    printf("  lintian:\n%s", lint);
    for (char *line = lint; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        ck_assert_msg(strncmp(line, "E:", 2) != 0, "lintian error: %.200s", line);
    free(lint);
}
END_TEST

/* make halcon-package: the tree, and its operator library loaded through HALCONEXTENSIONS
 * into the stand-in, giving the same result as the operators linked into this test. */
START_TEST(halcon_extension_package)
{
    ck_assert_msg(sh(MAKE " halcon-package") == 0, "%s", log_text());
    static const char *const tree[] = {
        "def/dapoinspect.def", "lib/x64-linux/libdapoinspect.so", "lib/x64-linux/libdapo_inspect.so",
        "doc/dapoinspect.html", "examples/hdevelop/inspect_part.hdev", "README.txt",
        "source/dapoinspect_ops.c",
    };
    char dir[PATH_MAX], p[PATH_MAX + 100];
    ck_assert(realpath("build/halcon/dapoinspect", dir) != NULL);
    for (size_t i = 0; i < sizeof tree / sizeof tree[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, tree[i]);
        ck_assert_msg(access(p, R_OK) == 0, "package lacks %s", tree[i]);
    }
    snprintf(p, sizeof p, "%s/examples/hdevelop/inspect_part.hdev", dir);
    expect_contains(p, "read_inspection_tool (");
    expect_contains(p, "apply_inspection_tool (Image, AnomalyImage, DefectRegions, LabelImage");
    expect_contains(p, "dev_display (Region)");
    ck_assert_int_eq(sh("tar tzf build/halcon/dapoinspect-x64-linux.tar.gz | grep -q "
                        "dapoinspect/lib/x64-linux/libdapoinspect.so"), 0);

    /* HALCON's start-up: packages listed in HALCONEXTENSIONS */
    char err[1024];
    setenv("HALCONEXTENSIONS", dir, 1);
    ck_assert_msg(hs_load_extensions(NULL, err, sizeof err) == 1, "%s", err);
    const hs_operator *rd = hs_find_operator("read_inspection_tool");
    const hs_operator *ap = hs_find_operator("apply_inspection_tool");
    ck_assert(rd && ap);
    ck_assert_msg(rd != &dapoinspect_hs_package.operators[0], "found the linked-in operators");

    /* the demo model; the packaged plugin is found next to the operator library */
    char work[300];
    snprintf(work, sizeof work, "%s/demo", T);
    const char *build = getenv("DAPO_BUILD") && *getenv("DAPO_BUILD") ? getenv("DAPO_BUILD") : "build";
    ck_assert_int_eq(sh("'%s/make_demo_model' '%s'", build, work), 0);
    char models[PATH_MAX], recipe[PATH_MAX + 2048];
    ck_assert(realpath(models_dir(), models) != NULL);
    snprintf(p, sizeof p, "%s/r.yaml", T);
    snprintf(recipe, sizeof recipe, "recipe_version: 1\nproduct: package\nmodel: {clip: %s/clip.safetensors, "
             "dapo: %s/dapo.safetensors, vocabulary: %s/bpe_simple_vocab_16e6.txt.gz}\n"
             "precision: f32\ninput_size: 224\ndefects: [scratch, hole]\nthreads: 2\n", work, work, models);
    FILE *f = fopen(p, "w");
    fputs(recipe, f);
    fclose(f);
    unsetenv("DAPO_INSPECT_PLUGIN");
    hs_tuple *in[3] = {hs_tuple_new(), hs_tuple_new(), hs_tuple_new()};
    hs_tuple *out[4] = {hs_tuple_new(), hs_tuple_new(), hs_tuple_new(), hs_tuple_new()};
    hs_tuple_append_s(in[0], p);
    char msg[1024];
    ck_assert_msg(hs_call(rd, NULL, 0, NULL, 0, in, 3, out, 1, msg, sizeof msg) == H_MSG_TRUE, "%s", msg);
    hs_tuple *tool = out[0];
    out[0] = hs_tuple_new();

    static uint8_t px[3][120 * 80];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 120 * 80; i++)
            px[c][i] = (uint8_t)((i % 120) * (c + 1) + (i / 120) * 3);
    const void *planes[3] = {px[0], px[1], px[2]};
    hs_objs *img = hs_objs_new(), *oo[3] = {hs_objs_new(), hs_objs_new(), hs_objs_new()};
    hs_obj *o = hs_gen_image(BYTE_IMAGE, 120, 80, 3, planes, NULL, 0, err, sizeof err);
    hs_objs_append(img, o);
    hs_obj_unref(o);
    hs_tuple *ctl[1] = {tool};
    ck_assert_msg(hs_call(ap, &img, 1, oo, 3, ctl, 1, out, 4, msg, sizeof msg) == H_MSG_TRUE, "%s", msg);
    double score_pkg = hs_tuple_get(out[0], 0)->par.d;
    ck_assert_int_eq(hs_objs_count(oo[1]), 2);

    /* the same with the operators linked into this test (and the plugin under test) */
    hs_tuple *in2[3] = {hs_tuple_new(), hs_tuple_new(), hs_tuple_new()};
    hs_tuple_append_s(in2[0], p);
    hs_tuple_append_s(in2[1], "plugin");
    hs_tuple_append_s(in2[2], getenv("DAPO_PLUGIN") && *getenv("DAPO_PLUGIN") ? getenv("DAPO_PLUGIN")
                                                                              : "build/libdapo_inspect.so");
    hs_tuple *tool2 = hs_tuple_new();
    ck_assert_msg(hs_call(&dapoinspect_hs_package.operators[0], NULL, 0, NULL, 0, in2, 3, &tool2, 1,
                          msg, sizeof msg) == H_MSG_TRUE, "%s", msg);
    hs_tuple *ctl2[1] = {tool2};
    ck_assert_msg(hs_call(&dapoinspect_hs_package.operators[1], &img, 1, oo, 3, ctl2, 1, out, 4, msg,
                          sizeof msg) == H_MSG_TRUE, "%s", msg);
    double score_linked = hs_tuple_get(out[0], 0)->par.d;
    printf("  HALCONEXTENSIONS=%s: read/apply through the packaged library, score %.6f "
           "(linked operators %.6f)\n", dir, score_pkg, score_linked);
    ck_assert(score_pkg == score_linked);

    for (int i = 0; i < 3; i++) {
        hs_tuple_free(in[i]);
        hs_tuple_free(in2[i]);
        hs_objs_free(oo[i]);
    }
    for (int i = 0; i < 4; i++)
        hs_tuple_free(out[i]);
    hs_objs_free(img);
    hs_tuple_free(tool);
    hs_tuple_free(tool2);
    ck_assert_int_eq(hs_live_handles(), 0);
}
END_TEST

Suite *install_suite(void)
{
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("packages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, install_tree);
    tcase_add_test(tc, installed_cli_and_host);
    tcase_add_test(tc, debian_package);
    tcase_add_test(tc, halcon_extension_package);
    suite_add_tcase(s, tc);
    return s;
}
