/* Recipe reader: the shipped examples, defaults, path resolution, every error class with its
 * exact file:line:column and key path, file limits, NULL arguments, and a mutation loop. */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recipe.h"

/* A complete recipe; the error tests below edit single lines of it. */
static const char FULL[] =
    "recipe_version: 1\n"                           /*  1 */
    "product: \"Blister pack 12x\"\n"               /*  2 */
    "model:\n"                                      /*  3 */
    "  clip: models/ViT-L-14-336.safetensors\n"     /*  4 */
    "  dapo: models/dapo_mvtec.safetensors\n"       /*  5 */
    "precision: f32\n"                              /*  6 */
    "input_size: 336\n"                             /*  7 */
    "tiling:\n"                                     /*  8 */
    "  mode: grid\n"                                /*  9 */
    "  tile: 672\n"                                 /* 10 */
    "  overlap: 64\n"                               /* 11 */
    "  batch: 2\n"                                  /* 12 */
    "roi: { x: 10, y: 20, width: 300, height: 0 }\n" /* 13 */
    "defects:\n"                                    /* 14 */
    "  - scratch\n"                                 /* 15 */
    "  - name: faulty imprint\n"                    /* 16 */
    "    pixel_threshold: 0.6\n"                    /* 17 */
    "thresholds:\n"                                 /* 18 */
    "  image: 0.55\n"                               /* 19 */
    "  pixel: 2.5\n"                                /* 20 */
    "  min_region_area: 25\n"                       /* 21 */
    "threads: 2\n";                                 /* 22 */

static const char MINIMAL[] =
    "recipe_version: 1\n"
    "product: Widget\n"
    "model:\n"
    "  clip: m/clip.safetensors\n"
    "  dapo: m/dapo.safetensors\n"
    "defects:\n"
    "  - scratch\n";

static int is_zero(const dp_recipe *r)
{
    static const dp_recipe zero;
    return memcmp(r, &zero, sizeof zero) == 0;
}

static dp_status parse_as(const char *text, const char *base, dp_recipe *r, dp_err *e)
{
    dp_err_clear(e);
    return dp_recipe_parse(text, strlen(text), "t.yaml", base, r, e);
}

/* Parses text and checks the status and that the message starts with `prefix`. */
static void expect_fail(const char *text, dp_status code, const char *prefix)
{
    dp_recipe r;
    dp_err e;
    dp_status s = parse_as(text, "/base", &r, &e);
    ck_assert_msg(s == code, "status %s (wanted %s), message: %s", dp_status_name(s),
                  dp_status_name(code), e.msg);
    ck_assert_int_eq(e.code, code);
    ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0,
                  "message\n  %s\ndoes not start with\n  %s", e.msg, prefix);
    ck_assert_msg(is_zero(&r), "a failed parse left data in *out");
}

/* FULL with line `line` (1-based) replaced by `repl` (which carries its own newlines; ""
 * deletes the line). Returns a malloc'd string. */
static char *edit_line(const char *text, int line, const char *repl)
{
    const char *start = text;
    for (int i = 1; i < line; i++)
        start = strchr(start, '\n') + 1;
    const char *end = strchr(start, '\n') + 1;
    size_t a = (size_t)(start - text), b = strlen(repl), c = strlen(end);
    char *out = malloc(a + b + c + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, text, a);
    memcpy(out + a, repl, b);
    memcpy(out + a + b, end, c + 1);
    return out;
}

static void expect_edit_fail(int line, const char *repl, dp_status code, const char *prefix)
{
    char *text = edit_line(FULL, line, repl);
    expect_fail(text, code, prefix);
    free(text);
}

static const char *tmp_root(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- valid recipes ------------------------------------------------------------------- */

START_TEST(examples_parse)
{
    DIR *d = opendir("recipes");
    ck_assert_msg(d != NULL, "run from the repository root: recipes/ not found");
    int n = 0, demo = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (len < 6 || strcmp(ent->d_name + len - 5, ".yaml") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "recipes/%s", ent->d_name);
        dp_recipe r;
        dp_err e;
        dp_err_clear(&e);
        dp_status s = dp_recipe_load(path, &r, &e);
        ck_assert_msg(s == DP_OK, "%s: %s", path, e.msg);
        ck_assert_str_eq(r.path, path);
        ck_assert_int_ge(r.n_defects, 1);
        ck_assert_msg(strncmp(r.clip_path, "recipes/", 8) == 0, "%s", r.clip_path);
        if (strcmp(ent->d_name, "demo.yaml") == 0) {
            demo = 1;
            ck_assert_str_eq(r.clip_path, "recipes/../build/demo/clip.safetensors");
            ck_assert_str_eq(r.dapo_path, "recipes/../models/demo_dapo.safetensors");
            ck_assert_int_eq(r.input_size, 224);
            ck_assert_int_eq(r.tiling, DP_TILING_NONE);
            ck_assert_int_eq(r.n_defects, 3);
            ck_assert_str_eq(r.defects[0].name, "scratch");
            ck_assert_str_eq(r.defects[1].name, "hole");
            ck_assert_str_eq(r.defects[2].name, "stain");
        }
        if (strcmp(ent->d_name, "metal_bracket.yaml") == 0) {
            ck_assert_int_eq(r.tiling, DP_TILING_GRID);
            ck_assert_int_eq(r.tile, 1036);
            ck_assert_int_eq(r.overlap, 128);
            ck_assert_int_eq(r.n_defects, 7);
            ck_assert_str_eq(r.defects[6].name, "defective painting");
            ck_assert_float_eq(r.defects[6].pixel_threshold, 1.8f);
        }
        dp_recipe_free(&r);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 4);
    ck_assert_msg(demo, "recipes/demo.yaml is missing");
}
END_TEST

START_TEST(full_values)
{
    dp_recipe r;
    dp_err e;
    ck_assert_int_eq(parse_as(FULL, "/base", &r, &e), DP_OK);
    ck_assert_int_eq(r.version, 1);
    ck_assert_str_eq(r.path, "t.yaml");
    ck_assert_str_eq(r.product, "Blister pack 12x");
    ck_assert_int_eq(r.precision, DP_PRECISION_F32);
    ck_assert_int_eq(r.input_size, 336);
    ck_assert_int_eq(r.tiling, DP_TILING_GRID);
    ck_assert_int_eq(r.tile, 672);
    ck_assert_int_eq(r.overlap, 64);
    ck_assert_int_eq(r.batch, 2);
    ck_assert_int_eq(r.roi_x, 10);
    ck_assert_int_eq(r.roi_y, 20);
    ck_assert_int_eq(r.roi_w, 300);
    ck_assert_int_eq(r.roi_h, 0);
    ck_assert_int_eq(r.n_defects, 2);
    ck_assert_str_eq(r.defects[0].name, "scratch");
    ck_assert_float_lt(r.defects[0].pixel_threshold, 0.0f);
    ck_assert_str_eq(r.defects[1].name, "faulty imprint");
    ck_assert_float_eq(r.defects[1].pixel_threshold, 0.6f);
    ck_assert_float_eq(r.image_threshold, 0.55f);
    ck_assert_float_eq(r.pixel_threshold, 2.5f);
    ck_assert_int_eq(r.min_region_area, 25);
    ck_assert_int_eq(r.threads, 2);
    dp_recipe_free(&r);
    ck_assert(is_zero(&r));
    dp_recipe_free(&r);     /* twice is harmless */
    dp_recipe_free(NULL);
}
END_TEST

/* text_cache: a directory resolved like the model paths, or none; absent: neither. */
START_TEST(text_cache_key)
{
    dp_recipe r;
    dp_err e;
    char text[512];
    ck_assert_int_eq(parse_as(MINIMAL, "/base", &r, &e), DP_OK);
    ck_assert_ptr_null(r.text_cache_dir);
    ck_assert_int_eq(r.text_cache_off, 0);
    dp_recipe_free(&r);
    snprintf(text, sizeof text, "%stext_cache: cache/text\n", MINIMAL);
    ck_assert_int_eq(parse_as(text, "/base", &r, &e), DP_OK);
    ck_assert_str_eq(r.text_cache_dir, "/base/cache/text");
    dp_recipe_free(&r);
    snprintf(text, sizeof text, "%stext_cache: None\n", MINIMAL);
    ck_assert_int_eq(parse_as(text, "/base", &r, &e), DP_OK);
    ck_assert_ptr_null(r.text_cache_dir);
    ck_assert_int_eq(r.text_cache_off, 1);
    dp_recipe_free(&r);
    snprintf(text, sizeof text, "%stext_cache: [a, b]\n", MINIMAL);
    ck_assert_int_eq(parse_as(text, "/base", &r, &e), DP_E_FORMAT);
    ck_assert_msg(strstr(e.msg, "text_cache") && strstr(e.msg, "or none"), "%s", e.msg);
}
END_TEST

START_TEST(defaults)
{
    dp_recipe r;
    dp_err e;
    ck_assert_int_eq(parse_as(MINIMAL, "/base", &r, &e), DP_OK);
    ck_assert_str_eq(r.product, "Widget");
    ck_assert_int_eq(r.precision, DP_PRECISION_BF16);
    ck_assert_int_eq(r.input_size, 518);
    ck_assert_int_eq(r.tiling, DP_TILING_NONE);
    ck_assert_int_eq(r.tile, 518);
    ck_assert_int_eq(r.overlap, 0);
    ck_assert_int_eq(r.batch, 1);
    ck_assert_int_eq(r.roi_x + r.roi_y + r.roi_w + r.roi_h, 0);
    ck_assert_float_eq(r.image_threshold, 0.5f);
    ck_assert_float_eq(r.pixel_threshold, 2.0f);
    ck_assert_int_eq(r.min_region_area, 0);
    ck_assert_int_eq(r.threads, 0);
    ck_assert_str_eq(r.vocab_path, "/base/m/bpe_simple_vocab_16e6.txt.gz");
    dp_recipe_free(&r);

    /* grid without tile/overlap/batch: tile = input_size, overlap = tile/8, batch 1 */
    char *text = edit_line(FULL, 10, "");
    char *text2 = edit_line(text, 10, "");
    char *text3 = edit_line(text2, 10, "");
    ck_assert_int_eq(parse_as(text3, "/base", &r, &e), DP_OK);
    ck_assert_int_eq(r.tile, 336);
    ck_assert_int_eq(r.overlap, 42);
    ck_assert_int_eq(r.batch, 1);
    dp_recipe_free(&r);
    free(text);
    free(text2);
    free(text3);
}
END_TEST

START_TEST(lenient_spellings)
{
    /* case-insensitive enums, flow style, plain numbers as product text, exponents, 0 threads */
    static const char text[] =
        "recipe_version: 1\n"
        "product: 4711\n"
        "model: {clip: c.safetensors, dapo: d.safetensors}\n"
        "precision: BF16\n"
        "tiling: {mode: Grid, tile: 100, overlap: 49}\n"
        "defects: [scratch, 'hole', \"faulty  imprint\", {name: dent, pixel_threshold: 3}]\n"
        "thresholds: {image: 5e-1, pixel: .75}\n"
        "threads: 0\n";
    dp_recipe r;
    dp_err e;
    ck_assert_msg(parse_as(text, NULL, &r, &e) == DP_OK, "%s", e.msg);
    ck_assert_str_eq(r.product, "4711");
    ck_assert_int_eq(r.precision, DP_PRECISION_BF16);
    ck_assert_int_eq(r.tiling, DP_TILING_GRID);
    ck_assert_int_eq(r.overlap, 49);
    /* int8, any case */
    dp_recipe r8;
    char *t8 = edit_line(text, 4, "precision: INT8\n");
    ck_assert_msg(parse_as(t8, NULL, &r8, &e) == DP_OK, "%s", e.msg);
    ck_assert_int_eq(r8.precision, DP_PRECISION_INT8);
    dp_recipe_free(&r8);
    free(t8);
    ck_assert_int_eq(r.n_defects, 4);
    ck_assert_str_eq(r.defects[3].name, "dent");
    ck_assert_float_eq(r.defects[3].pixel_threshold, 3.0f);
    ck_assert_float_eq(r.image_threshold, 0.5f);
    ck_assert_float_eq(r.pixel_threshold, 0.75f);
    /* base NULL: paths stay as written; vocabulary beside a bare clip name */
    ck_assert_str_eq(r.clip_path, "c.safetensors");
    ck_assert_str_eq(r.vocab_path, "bpe_simple_vocab_16e6.txt.gz");
    dp_recipe_free(&r);
}
END_TEST

START_TEST(line_endings_and_bom)
{
    /* Windows line ends and a UTF-8 byte order mark, as some editors write them */
    size_t n = strlen(FULL);
    char *text = malloc(2 * n + 4);
    ck_assert_ptr_nonnull(text);
    size_t o = 0;
    memcpy(text, "\xEF\xBB\xBF", 3);
    o = 3;
    for (size_t i = 0; i < n; i++) {
        if (FULL[i] == '\n')
            text[o++] = '\r';
        text[o++] = FULL[i];
    }
    text[o] = '\0';
    dp_recipe r;
    dp_err e;
    ck_assert_msg(parse_as(text, NULL, &r, &e) == DP_OK, "%s", e.msg);
    ck_assert_str_eq(r.product, "Blister pack 12x");
    ck_assert_str_eq(r.defects[1].name, "faulty imprint");
    dp_recipe_free(&r);
    /* positions stay right after a CRLF */
    memcpy(strstr(text, "input_size: 336"), "input_size: 3x6", 15);
    expect_fail(text, DP_E_FORMAT, "t.yaml:7:13: input_size: \"3x6\"; expected an integer");
    free(text);
}
END_TEST

START_TEST(path_resolution)
{
    static const char text[] =
        "recipe_version: 1\n"
        "product: P\n"
        "model:\n"
        "  clip: /opt/models/clip.safetensors\n"
        "  dapo: ../heads/dapo.safetensors\n"
        "  vocabulary: vocab/bpe.txt.gz\n"
        "defects: [hole]\n";
    dp_recipe r;
    dp_err e;
    ck_assert_int_eq(parse_as(text, "/lines/l3/", &r, &e), DP_OK);
    ck_assert_str_eq(r.clip_path, "/opt/models/clip.safetensors");   /* absolute kept */
    ck_assert_str_eq(r.dapo_path, "/lines/l3/../heads/dapo.safetensors");
    ck_assert_str_eq(r.vocab_path, "/lines/l3/vocab/bpe.txt.gz");
    dp_recipe_free(&r);

    ck_assert_int_eq(parse_as(MINIMAL, "", &r, &e), DP_OK);       /* "" = as written */
    ck_assert_str_eq(r.clip_path, "m/clip.safetensors");
    ck_assert_str_eq(r.vocab_path, "m/bpe_simple_vocab_16e6.txt.gz");
    dp_recipe_free(&r);

    /* absolute clip: the default vocabulary sits beside it, not beside the recipe */
    char *abs = edit_line(MINIMAL, 4, "  clip: /opt/clip.safetensors\n");
    ck_assert_int_eq(parse_as(abs, "/base", &r, &e), DP_OK);
    ck_assert_str_eq(r.vocab_path, "/opt/bpe_simple_vocab_16e6.txt.gz");
    dp_recipe_free(&r);
    free(abs);

    /* dp_recipe_load: relative to the recipe file's directory */
    char dir[512], file[600];
    snprintf(dir, sizeof dir, "%s/dp_recipe_XXXXXX", tmp_root());
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/r.yaml", dir);
    write_file(file, MINIMAL, strlen(MINIMAL));
    ck_assert_msg(dp_recipe_load(file, &r, &e) == DP_OK, "%s", e.msg);
    char want[700];
    snprintf(want, sizeof want, "%s/m/clip.safetensors", dir);
    ck_assert_str_eq(r.clip_path, want);
    snprintf(want, sizeof want, "%s/m/bpe_simple_vocab_16e6.txt.gz", dir);
    ck_assert_str_eq(r.vocab_path, want);
    ck_assert_str_eq(r.path, file);
    dp_recipe_free(&r);
    unlink(file);
    rmdir(dir);
}
END_TEST

START_TEST(utf8_names)
{
    /* 64 two-byte characters are allowed, 65 are not */
    char name[64 * 2 + 3];
    for (int i = 0; i < 64; i++)
        memcpy(name + 2 * i, "\xC3\xA9", 2);
    name[128] = '\0';
    char text[512];
    snprintf(text, sizeof text, "%s  - \"%s\"\n", MINIMAL, name);
    dp_recipe r;
    dp_err e;
    ck_assert_msg(parse_as(text, NULL, &r, &e) == DP_OK, "%s", e.msg);
    ck_assert_str_eq(r.defects[1].name, name);
    dp_recipe_free(&r);
    snprintf(text, sizeof text, "%s  - \"%s\xC3\xA9\"\n", MINIMAL, name);
    expect_fail(text, DP_E_FORMAT,
                "t.yaml:8:5: defects[2]: a name of 65 characters; expected 1..64 characters");
}
END_TEST

/* ---- error classes ------------------------------------------------------------------- */

START_TEST(unknown_keys)
{
    expect_edit_fail(8, "tilling:\n", DP_E_FORMAT,
                     "t.yaml:8:1: tilling: unknown key; expected one of recipe_version, "
                     "product, model, precision, input_size, tiling, roi, defects, thresholds, "
                     "threads, text_cache; did you mean tiling?");
    expect_edit_fail(10, "  tile_size: 672\n", DP_E_FORMAT,
                     "t.yaml:10:3: tiling.tile_size: unknown key; expected one of mode, tile, "
                     "overlap, batch; did you mean tile?");
    /* right key, wrong indentation */
    expect_edit_fail(22, "  threads: 2\n", DP_E_FORMAT,
                     "t.yaml:22:3: thresholds.threads: unknown key; expected one of image, "
                     "pixel, min_region_area; threads belongs at the top level (check the "
                     "indentation)");
    expect_edit_fail(21, "pixel: 2.5\n", DP_E_FORMAT,
                     "t.yaml:21:1: pixel: unknown key; expected one of recipe_version");
    char *t = edit_line(FULL, 21, "pixel: 2.5\n");
    dp_recipe r;
    dp_err e;
    ck_assert_int_eq(parse_as(t, NULL, &r, &e), DP_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "; pixel belongs under thresholds: (check the "
                                        "indentation)"));
    free(t);
    expect_edit_fail(17, "    threshold: 0.6\n", DP_E_FORMAT,
                     "t.yaml:17:5: defects[2].threshold: unknown key; expected one of name, "
                     "pixel_threshold; did you mean pixel_threshold?");
    expect_edit_fail(15, "  - scratch: 0.6\n", DP_E_FORMAT,
                     "t.yaml:15:5: defects[1].scratch: unknown key; expected one of name, "
                     "pixel_threshold (a defect with options is written as - name: scratch");
    expect_edit_fail(13, "roi: { x: 10, y: 20, w: 300 }\n", DP_E_FORMAT,
                     "t.yaml:13:22: roi.w: unknown key; expected one of x, y, width, height");
    expect_edit_fail(13, "roi: { [1]: 2 }\n", DP_E_FORMAT,
                     "t.yaml:13:8: roi: a list used as a key; expected one of x, y, width, "
                     "height");
    /* YAML 1.1 merge keys are not supported: the key is simply unknown */
    expect_edit_fail(13, "roi: { <<: {x: 1} }\n", DP_E_FORMAT,
                     "t.yaml:13:8: roi.<<: unknown key; expected one of x, y, width, height");
}
END_TEST

START_TEST(wrong_types)
{
    expect_edit_fail(7, "input_size: \"518\"\n", DP_E_FORMAT,
                     "t.yaml:7:13: input_size: quoted text \"518\"; expected an integer "
                     "28..2016");
    expect_edit_fail(7, "input_size: large\n", DP_E_FORMAT,
                     "t.yaml:7:13: input_size: \"large\"; expected an integer 28..2016");
    expect_edit_fail(7, "input_size: 518.0\n", DP_E_FORMAT,
                     "t.yaml:7:13: input_size: 518.0 (not a whole number); expected an "
                     "integer 28..2016");
    expect_edit_fail(7, "input_size: 3000\n", DP_E_FORMAT,
                     "t.yaml:7:13: input_size: 3000 (out of range); expected an integer "
                     "28..2016");
    expect_edit_fail(7, "input_size: 99999999999999999999\n", DP_E_FORMAT,
                     "t.yaml:7:13: input_size: 99999999999999999999 (out of range)");
    expect_edit_fail(7, "input_size: 0x200\n", DP_E_FORMAT,
                     "t.yaml:7:13: input_size: \"0x200\"; expected an integer 28..2016");
    expect_edit_fail(22, "threads: 08\n", DP_E_FORMAT,
                     "t.yaml:22:10: threads: 08 (a leading zero, read as octal by some YAML "
                     "tools); expected an integer 0..256 without leading zeros");
    expect_edit_fail(22, "threads: [2]\n", DP_E_FORMAT,
                     "t.yaml:22:10: threads: a list; expected an integer 0..256");
    char *sc = malloc(sizeof MINIMAL + 32);
    snprintf(sc, sizeof MINIMAL + 32, "%stiling: none\n", MINIMAL);
    expect_fail(sc, DP_E_FORMAT, "t.yaml:8:9: tiling: \"none\"; expected a mapping such as "
                                 "{ mode: none }");
    free(sc);
    /* a list where a mapping is expected (the four tiling lines become items) */
    char *a = edit_line(FULL, 9, "  - mode\n");
    char *b = edit_line(a, 10, "  - tile\n");
    char *c = edit_line(b, 11, "  - overlap\n");
    char *d = edit_line(c, 12, "  - batch\n");
    expect_fail(d, DP_E_FORMAT, "t.yaml:9:3: tiling: a list; expected a mapping such as "
                                "{ mode: none }");
    free(a);
    free(b);
    free(c);
    free(d);
    char *m1 = edit_line(FULL, 3, "model: models/clip.safetensors\n");
    char *m2 = edit_line(m1, 4, "");
    char *m3 = edit_line(m2, 4, "");
    expect_fail(m3, DP_E_FORMAT, "t.yaml:3:8: model: \"models/clip.safetensors\"; expected a "
                                 "mapping with clip: and dapo: file paths");
    free(m1);
    free(m2);
    free(m3);
    expect_edit_fail(6, "precision: fp16\n", DP_E_FORMAT,
                     "t.yaml:6:12: precision: \"fp16\"; expected f32, bf16 or int8");
    expect_edit_fail(9, "  mode: tiles\n", DP_E_FORMAT,
                     "t.yaml:9:9: tiling.mode: \"tiles\"; expected none or grid");
    expect_edit_fail(19, "  image: 1\n", DP_E_FORMAT,
                     "t.yaml:19:10: thresholds.image: 1 (out of range); expected a number "
                     "greater than 0 and less than 1");
    expect_edit_fail(19, "  image: .inf\n", DP_E_FORMAT,
                     "t.yaml:19:10: thresholds.image: \".inf\"; expected a number greater than "
                     "0 and less than 1");
    expect_edit_fail(19, "  image: '0.5'\n", DP_E_FORMAT,
                     "t.yaml:19:10: thresholds.image: quoted text \"0.5\"; expected a number");
    expect_edit_fail(20, "  pixel: 4.5\n", DP_E_FORMAT,
                     "t.yaml:20:10: thresholds.pixel: 4.5 (out of range); expected a number "
                     "greater than 0 and less than 4");
    expect_edit_fail(17, "    pixel_threshold: -1\n", DP_E_FORMAT,
                     "t.yaml:17:22: defects[2].pixel_threshold: -1 (out of range)");
    expect_edit_fail(21, "  min_region_area: -5\n", DP_E_FORMAT,
                     "t.yaml:21:20: thresholds.min_region_area: -5 (out of range); expected "
                     "an integer 0..100000000");
    expect_edit_fail(2, "product:\n", DP_E_FORMAT,
                     "t.yaml:2:9: product: an empty value; expected a product name");
    expect_edit_fail(2, "product: \"a\\tb\"\n", DP_E_FORMAT,
                     "t.yaml:2:10: product: \"a?b\" (a tab, line break or other control "
                     "character at byte 2); expected a product name on one line");
    expect_edit_fail(4, "  clip: |\n    models/clip.safetensors\n", DP_E_FORMAT,
                     "t.yaml:4:9: model.clip: \"models/clip.safetensors?\" (a tab, line break");
    expect_edit_fail(4, "  clip: [a, b]\n", DP_E_FORMAT,
                     "t.yaml:4:9: model.clip: a list; expected a file path");
    char *l1 = edit_line(FULL, 16, "  - [faulty imprint]\n");
    char *l2 = edit_line(l1, 17, "");
    expect_fail(l2, DP_E_FORMAT, "t.yaml:16:5: defects[2]: a list; expected a defect name or a "
                                 "mapping");
    free(l1);
    free(l2);
    char *d1 = edit_line(MINIMAL, 6, "defects: scratch\n");
    char *d2 = edit_line(d1, 7, "");
    expect_fail(d2, DP_E_FORMAT, "t.yaml:6:10: defects: \"scratch\"; expected a list of defect "
                                 "names");
    free(d1);
    free(d2);
    /* aliases are resolved, not expanded; a self-reference is just the wrong type */
    expect_edit_fail(13, "roi: &r { x: *r }\n", DP_E_FORMAT,
                     "t.yaml:13:6: roi.x: a mapping; expected an integer 0..1048576");
}
END_TEST

START_TEST(range_and_consistency)
{
    expect_edit_fail(11, "  overlap: 336\n", DP_E_FORMAT,
                     "t.yaml:11:12: tiling.overlap: 336 (not less than half the tile, 672/2); "
                     "expected an integer 0..335");
    expect_edit_fail(11, "  overlap: -1\n", DP_E_FORMAT,
                     "t.yaml:11:12: tiling.overlap: -1 (out of range); expected an integer "
                     "0..335");
    expect_edit_fail(12, "  batch: 17\n", DP_E_FORMAT,
                     "t.yaml:12:10: tiling.batch: 17 (out of range); expected an integer 1..16");
    expect_edit_fail(9, "  mode: none\n", DP_E_FORMAT,
                     "t.yaml:10:9: tiling.tile: set while tiling.mode is none; expected mode: "
                     "grid to use it, or no tile");
    char *t = edit_line(FULL, 10, "");
    char *u = edit_line(t, 10, "  overlap: 200\n");
    expect_fail(u, DP_E_FORMAT, "t.yaml:10:12: tiling.overlap: 200 (not less than half the "
                                "tile, 336/2 as tile defaults to input_size); expected an "
                                "integer 0..167");
    free(t);
    free(u);
    expect_edit_fail(1, "recipe_version: 2\n", DP_E_UNSUPPORTED,
                     "t.yaml:1:17: recipe_version: 2 (written for a newer plugin); expected 1");
    expect_edit_fail(1, "recipe_version: 0\n", DP_E_FORMAT,
                     "t.yaml:1:17: recipe_version: 0 (out of range); expected 1");
    expect_edit_fail(1, "recipe_version: \"1\"\n", DP_E_FORMAT,
                     "t.yaml:1:17: recipe_version: quoted text \"1\"; expected 1");
    /* the version is checked before anything else, even when it comes last */
    char *v = edit_line(FULL, 1, "future_key: 3\n");
    size_t n = strlen(v);
    char *w = malloc(n + 32);
    memcpy(w, v, n);
    strcpy(w + n, "recipe_version: 2\n");
    expect_fail(w, DP_E_UNSUPPORTED, "t.yaml:23:17: recipe_version: 2 (written for a newer");
    free(v);
    free(w);
}
END_TEST

START_TEST(missing_keys)
{
    expect_edit_fail(1, "", DP_E_FORMAT,
                     "t.yaml:1:1: recipe_version: required key missing from the top-level "
                     "mapping; expected recipe_version: 1");
    expect_edit_fail(2, "", DP_E_FORMAT,
                     "t.yaml:1:1: product: required key missing from the top-level mapping; "
                     "expected the product name");
    expect_edit_fail(5, "", DP_E_FORMAT,
                     "t.yaml:4:3: model.dapo: required key missing from mapping model; "
                     "expected the DAPO prompt weights file (.safetensors)");
    expect_edit_fail(4, "", DP_E_FORMAT,
                     "t.yaml:4:3: model.clip: required key missing from mapping model");
    expect_edit_fail(9, "", DP_E_FORMAT,
                     "t.yaml:9:3: tiling.mode: required key missing from mapping tiling; "
                     "expected none or grid");
    char *n1 = edit_line(FULL, 16, "  - pixel_threshold: 0.6\n");
    char *n2 = edit_line(n1, 17, "");
    expect_fail(n2, DP_E_FORMAT, "t.yaml:16:5: defects[2].name: required key missing from "
                                 "mapping defects[2]; expected the defect name");
    free(n1);
    free(n2);
    char *a = edit_line(FULL, 14, "");
    char *b = edit_line(a, 14, "");
    char *c = edit_line(b, 14, "");
    char *d = edit_line(c, 14, "");
    expect_fail(d, DP_E_FORMAT, "t.yaml:1:1: defects: required key missing from the top-level "
                                "mapping; expected a list of defect names");
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(duplicates)
{
    expect_edit_fail(3, "product: again\nmodel:\n", DP_E_FORMAT,
                     "t.yaml:3:1: product: duplicate key (first at line 2, column 1); "
                     "expected each key once");
    expect_edit_fail(12, "  batch: 2\n  overlap: 32\n", DP_E_FORMAT,
                     "t.yaml:13:3: tiling.overlap: duplicate key (first at line 11, column "
                     "3); expected each key once");
    expect_edit_fail(15, "  - scratch\n  - hole\n  - Scratch\n", DP_E_FORMAT,
                     "t.yaml:17:5: defects[3]: \"Scratch\" repeats defects[1] \"scratch\" at "
                     "line 15 (the model's tokenizer reads both as \"scratch\": names compare "
                     "after HTML unescape, whitespace folding and lower case); expected each "
                     "defect once");
    expect_edit_fail(15, "  - faulty imprint\n", DP_E_FORMAT,
                     "t.yaml:16:5: defects[2]: \"faulty imprint\" repeats defects[1] \"faulty "
                     "imprint\" at line 15");
    expect_edit_fail(15, "  - FAULTY   imprint\n", DP_E_FORMAT,
                     "t.yaml:16:5: defects[2]: \"faulty imprint\" repeats defects[1]");
}
END_TEST

START_TEST(defect_lists)
{
    expect_edit_fail(15, "  - good\n", DP_E_FORMAT,
                     "t.yaml:15:5: defects[1]: \"good\" (the normal state, which DAPO adds by "
                     "itself); expected defect types only");
    expect_edit_fail(15, "  - \" scratch\"\n", DP_E_FORMAT,
                     "t.yaml:15:5: defects[1]: \" scratch\" (leading or trailing space)");
    expect_edit_fail(15, "  -\n", DP_E_FORMAT,
                     "t.yaml:15:4: defects[1]: an empty value; expected a defect name");
    char *a = edit_line(FULL, 14, "defects: []\n");
    char *b = edit_line(a, 15, "");
    char *c = edit_line(b, 15, "");
    char *d = edit_line(c, 15, "");
    expect_fail(d, DP_E_FORMAT, "t.yaml:14:10: defects: an empty list; expected 1..64 defect "
                                "names");
    free(a);
    free(b);
    free(c);
    free(d);

    /* 64 distinct defects pass, 65 do not */
    char *text = malloc(8192);
    ck_assert_ptr_nonnull(text);
    size_t n = (size_t)snprintf(text, 8192, "%.*s", (int)(strstr(MINIMAL, "  - scratch") -
                                                          MINIMAL), MINIMAL);
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(text + n, 8192 - n, "  - defect %d\n", i);
    dp_recipe r;
    dp_err e;
    ck_assert_msg(parse_as(text, NULL, &r, &e) == DP_OK, "%s", e.msg);
    ck_assert_int_eq(r.n_defects, 64);
    ck_assert_str_eq(r.defects[63].name, "defect 63");
    dp_recipe_free(&r);
    snprintf(text + n, 8192 - n, "  - defect 64\n");
    expect_fail(text, DP_E_FORMAT, "t.yaml:71:5: defects[65]: a list of 65 defects; expected "
                                   "at most 64");
    free(text);
}
END_TEST

START_TEST(yaml_syntax)
{
    expect_edit_fail(2, "product: a: b\n", DP_E_FORMAT,
                     "t.yaml:2:11: YAML syntax error: mapping values are not allowed in this "
                     "context");
    expect_edit_fail(13, "roi: { x: 10, y: 20\n", DP_E_FORMAT,
                     "t.yaml:14:8: YAML syntax error: did not find expected ',' or '}' (while "
                     "parsing a flow mapping at line 13, column 6)");
    expect_edit_fail(10, "\ttile: 672\n", DP_E_FORMAT,
                     "t.yaml:10:1: YAML syntax error: found a tab character that violates "
                     "indentation (while scanning a plain scalar at line 9, column 9)");
    expect_edit_fail(2, "product: \"\xff\"\n", DP_E_FORMAT,
                     "t.yaml:2:11: YAML syntax error: invalid leading UTF-8 octet");
    expect_edit_fail(2, "product: *nowhere\n", DP_E_FORMAT,
                     "t.yaml:2:10: YAML syntax error: found undefined alias");
    expect_edit_fail(7, "input_size: !!int 518\n", DP_E_FORMAT,
                     "t.yaml:7:13: YAML tag tag:yaml.org,2002:int; expected values without tags");
    expect_edit_fail(14, "defects: !list\n", DP_E_FORMAT, "t.yaml:14:10: YAML tag !list;");
    expect_fail("", DP_E_FORMAT, "t.yaml:1:1: (top level): an empty recipe; expected a mapping "
                                 "of recipe keys, starting with recipe_version: 1");
    expect_fail("# only a comment\n\n", DP_E_FORMAT, "t.yaml:1:1: (top level): an empty "
                                                      "recipe");
    expect_fail("hello\n", DP_E_FORMAT, "t.yaml:1:1: (top level): \"hello\"; expected a "
                                        "mapping of recipe keys, starting with "
                                        "recipe_version: 1");
    expect_fail("- a\n- b\n", DP_E_FORMAT, "t.yaml:1:1: (top level): a list; expected a "
                                           "mapping");
    char *two = malloc(sizeof FULL + 32);
    snprintf(two, sizeof FULL + 32, "%s---\nproduct: x\n", FULL);
    expect_fail(two, DP_E_FORMAT, "t.yaml:23:1: (top level): a second YAML document; expected "
                                  "one recipe per file");
    free(two);
    /* 1 MiB of nesting or of anchors: a prompt error (libyaml alone needs minutes) */
    size_t cap = DP_RECIPE_MAX_BYTES;
    char *deep = malloc(cap + 1);
    ck_assert_ptr_nonnull(deep);
    strcpy(deep, "recipe_version: 1\nroi: ");
    size_t off = strlen(deep);
    memset(deep + off, '[', cap - off);
    deep[cap] = '\0';
    expect_fail(deep, DP_E_FORMAT, "t.yaml:2:21: YAML nested more than 16 levels deep; "
                                   "expected a recipe, which nests 3 levels at most");
    deep[off - 1] = '\n';
    for (size_t i = 0; i + 1 < cap - off; i++)
        deep[off + i] = "- "[i % 2];
    expect_fail(deep, DP_E_FORMAT, "t.yaml:3:31: YAML nested more than 16 levels deep");
    size_t o = (size_t)snprintf(deep, cap, "recipe_version: 1\nroi: [");
    for (int i = 0; o + 40 < cap; i++)
        o += (size_t)snprintf(deep + o, cap - o, "&a%d x, *a%d, ", i, i);
    expect_fail(deep, DP_E_FORMAT, "t.yaml:2:");
    ck_assert_ptr_nonnull(strstr(deep, "&a40 x"));
    dp_recipe r;
    dp_err e;
    ck_assert_int_eq(parse_as(deep, NULL, &r, &e), DP_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, ": more than 64 YAML anchors and aliases"));
    free(deep);
}
END_TEST

START_TEST(files)
{
    dp_recipe r;
    dp_err e;
    dp_err_clear(&e);
    ck_assert_int_eq(dp_recipe_load("/nonexistent/dir/line7.yaml", &r, &e), DP_E_IO);
    ck_assert_str_eq(e.msg, "/nonexistent/dir/line7.yaml: cannot open the recipe: No such file "
                            "or directory");
    ck_assert(is_zero(&r));
    ck_assert_int_eq(dp_recipe_load(tmp_root(), &r, &e), DP_E_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "is a directory"));

    char dir[512], file[600];
    snprintf(dir, sizeof dir, "%s/dp_recipe_XXXXXX", tmp_root());
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/big.yaml", dir);
    size_t big = 2u << 20;
    char *text = malloc(big);
    ck_assert_ptr_nonnull(text);
    memset(text, '#', big);
    for (size_t i = 63; i < big; i += 64)
        text[i] = '\n';
    write_file(file, text, big);
    ck_assert_int_eq(dp_recipe_load(file, &r, &e), DP_E_FORMAT);
    char want[800];
    snprintf(want, sizeof want, "%s: 2097152 bytes; expected a recipe of at most 1048576 bytes "
                                "(1 MiB)", file);
    ck_assert_msg(strncmp(e.msg, want, strlen(want)) == 0, "%s", e.msg);
    ck_assert(is_zero(&r));
    /* the same through the text entry point */
    ck_assert_int_eq(dp_recipe_parse(text, big, "big.yaml", NULL, &r, &e), DP_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "big.yaml: 2097152 bytes"));
    /* exactly 1 MiB of a valid recipe padded with a comment is accepted */
    size_t lim = DP_RECIPE_MAX_BYTES;
    memcpy(text, FULL, strlen(FULL));
    memset(text + strlen(FULL), ' ', lim - strlen(FULL));
    text[strlen(FULL)] = '#';
    text[lim - 1] = '\n';
    write_file(file, text, lim);
    ck_assert_msg(dp_recipe_load(file, &r, &e) == DP_OK, "%s", e.msg);
    dp_recipe_free(&r);
    unlink(file);
    rmdir(dir);
    free(text);
}
END_TEST

START_TEST(null_args)
{
    dp_recipe r;
    dp_err e;
    dp_err_clear(&e);
    ck_assert_int_eq(dp_recipe_load(NULL, &r, &e), DP_E_ARG);
    ck_assert(is_zero(&r));
    ck_assert_int_eq(e.code, DP_E_ARG);
    ck_assert_int_eq(dp_recipe_load("recipes/demo.yaml", NULL, &e), DP_E_ARG);
    ck_assert_int_eq(dp_recipe_load("", &r, &e), DP_E_ARG);
    ck_assert_int_eq(dp_recipe_parse(NULL, 0, "x", NULL, &r, &e), DP_E_ARG);
    ck_assert_int_eq(dp_recipe_parse(FULL, strlen(FULL), "x", NULL, NULL, &e), DP_E_ARG);
    /* err may be NULL; the name may be NULL */
    ck_assert_int_eq(dp_recipe_parse("x: 1", 4, NULL, NULL, &r, NULL), DP_E_FORMAT);
    ck_assert_int_eq(dp_recipe_parse("x: 1", 4, NULL, NULL, &r, &e), DP_E_FORMAT);
    ck_assert_msg(strncmp(e.msg, "recipe:1:1: recipe_version: required", 36) == 0, "%s", e.msg);
    ck_assert_int_eq(dp_recipe_parse(FULL, strlen(FULL), NULL, NULL, &r, NULL), DP_OK);
    ck_assert_str_eq(r.path, "recipe");
    dp_recipe_free(&r);
}
END_TEST

/* Random byte edits, insertions, deletions and truncations of FULL: every outcome is a clean
 * status with a located message; LeakSanitizer checks nothing is lost on any path. */
START_TEST(mutations)
{
    static const char alphabet[] = ":-[]{},#&*!|>'\"\n\t 0123456789.eE~?%@`\\abcxyz\xc3\xff";
    uint64_t state = 0x9E3779B97F4A7C15ull;
    size_t base = strlen(FULL);
    char *buf = malloc(base + 64);
    ck_assert_ptr_nonnull(buf);
    int ok = 0;
    for (int iter = 0; iter < 300; iter++) {
        memcpy(buf, FULL, base + 1);
        size_t len = base;
        int edits = 1 + (int)(state % 4);
        for (int k = 0; k < edits; k++) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            size_t pos = (size_t)(state >> 8) % (len ? len : 1);
            int kind = (int)((state >> 40) % 8);
            char ch = (state >> 50) % 5 == 0 ? (char)(state >> 24)
                                              : alphabet[(state >> 30) % (sizeof alphabet - 1)];
            if (kind <= 3 && len) {
                buf[pos] = ch;
            } else if (kind <= 5 && len + 1 < base + 64) {
                memmove(buf + pos + 1, buf + pos, len - pos + 1);
                buf[pos] = ch;
                len++;
            } else if (kind == 6 && len) {
                memmove(buf + pos, buf + pos + 1, len - pos);
                len--;
            } else {
                len = pos;
            }
        }
        dp_recipe r;
        dp_err e;
        dp_err_clear(&e);
        dp_status s = dp_recipe_parse(buf, len, "f.yaml", "/b", &r, &e);
        if (s == DP_OK) {
            ok++;
            ck_assert_int_eq(r.version, 1);
            ck_assert(r.n_defects >= 1 && r.n_defects <= 64);
            ck_assert(r.image_threshold > 0.0f && r.image_threshold < 1.0f);
            ck_assert(r.input_size >= 28 && r.input_size <= 2016);
            ck_assert(r.tiling == DP_TILING_NONE || 2 * r.overlap < r.tile);
            ck_assert_ptr_nonnull(r.clip_path);
            ck_assert_ptr_nonnull(r.vocab_path);
            dp_recipe_free(&r);
        } else {
            ck_assert_msg(s == DP_E_FORMAT || s == DP_E_UNSUPPORTED, "iteration %d: %s: %s",
                          iter, dp_status_name(s), e.msg);
            ck_assert_msg(strncmp(e.msg, "f.yaml:", 7) == 0 && strlen(e.msg) > 12,
                          "iteration %d: unlocated message: %s", iter, e.msg);
            ck_assert(is_zero(&r));
        }
    }
    free(buf);
    /* the mutations must not all be fatal, nor all harmless */
    ck_assert_int_gt(ok, 5);
    ck_assert_int_lt(ok, 295);
}
END_TEST

Suite *recipe_suite(void)
{
    Suite *s = suite_create("recipe");
    TCase *tc = tcase_create("recipe");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, examples_parse);
    tcase_add_test(tc, full_values);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, text_cache_key);
    tcase_add_test(tc, lenient_spellings);
    tcase_add_test(tc, line_endings_and_bom);
    tcase_add_test(tc, path_resolution);
    tcase_add_test(tc, utf8_names);
    tcase_add_test(tc, unknown_keys);
    tcase_add_test(tc, wrong_types);
    tcase_add_test(tc, range_and_consistency);
    tcase_add_test(tc, missing_keys);
    tcase_add_test(tc, duplicates);
    tcase_add_test(tc, defect_lists);
    tcase_add_test(tc, yaml_syntax);
    tcase_add_test(tc, files);
    tcase_add_test(tc, null_args);
    tcase_add_test(tc, mutations);
    suite_add_tcase(s, tc);
    return s;
}
