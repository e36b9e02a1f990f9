/* int8 against f32 on the same model: the golden models (tiny at 112 px, small at 518 px) on
 * every golden image and on synthetic product images (tools/make_demo_images: brushed metal,
 * fabric, printed label with scratches, holes and stains). Per image the anomaly map's
 * correlation with the f32 map (>= 0.99), its largest difference and the image-score difference
 * (<= 0.01) are printed and asserted (README "Numerics"). The parity suite holds int8 to the
 * authors' outputs with the bf16 bounds. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "imageio.h"
#include "model.h"
#include "ops_testing.h"
#include "test_images.h"

#define MIN_MAP_CORRELATION 0.99
#define MAX_SCORE_DIFF 0.01

typedef struct int8_cfg {
    const char *name;
    int size, n_defects;
    const char *defects[8];
    int n_images;
    const char *files[3];
} int8_cfg;

static const int8_cfg TINY = { "tiny", 112, 4, { "hole", "scratch", "faulty imprint", "discoloration" },
                               3, { "a.png", "b.tif", "c_gray.tif" } };
static const int8_cfg SMALL = { "small", 518, 7, { "hole", "scratch", "bent", "rust", "flattening",
                                                   "mismatch", "defective painting" },
                                2, { "a.png", "b.tif" } };

static const char *const DEMO_IMAGES[] = { "demo_00_metal.png", "demo_01_fabric.png", "demo_02_label.png" };

static dp_model *load(const int8_cfg *c, dp_dtype_c precision)
{
    char clip[1024], dapo[1024], vocab[1024];
    snprintf(clip, sizeof clip, "%s/%s/clip.safetensors", golden_dir(), c->name);
    snprintf(dapo, sizeof dapo, "%s/%s/dapo.safetensors", golden_dir(), c->name);
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    dp_model_options opt = { .image_size = c->size, .max_batch = 1, .precision = precision, .threads = 2 };
    dp_model *m = NULL;
    dp_err err;
    ck_assert_msg(dp_model_load(clip, dapo, vocab, c->defects, c->n_defects, &opt, &m, &err) == DP_OK,
                  "model load: %s", err.msg);
    ck_assert_int_eq(m->opt.precision, precision);
    return m;
}

/* Runs image `pre` through m; map: [S][S] anomaly map; returns the image score. */
static float run(dp_model *m, const float *pre, int S, float *map)
{
    dp_err err;
    ck_assert_msg(dp_model_run(m, pre, 1, &err) == DP_OK, "%s", err.msg);
    dp_head_out ho = { .anomaly = map };
    ck_assert_msg(dp_model_head(m, 0, S, S, &ho, &err) == DP_OK, "%s", err.msg);
    ck_assert(isfinite(ho.score));
    return ho.score;
}

static double correlation(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : (saa == sbb ? 1.0 : 0.0);
}

typedef struct fidelity { double worst_corr, worst_score, worst_map; int images; } fidelity;

/* Compares int8 with f32 on one RGB8 image; prints and accumulates the figures. */
static void compare(const int8_cfg *c, dp_model *f32, dp_model *i8, const io_image *rgb,
                    const char *label, fidelity *fd)
{
    const int S = c->size;
    const size_t n = (size_t)S * S;
    float *pre = clip_input(rgb, S, NULL);
    float *map_f = malloc(n * sizeof *map_f), *map_q = malloc(n * sizeof *map_q);
    ck_assert(map_f && map_q);
    float score_f = run(f32, pre, S, map_f), score_q = run(i8, pre, S, map_q);
    double corr = correlation(map_f, map_q, n), dmax = 0, range_lo = map_f[0], range_hi = map_f[0];
    for (size_t i = 0; i < n; i++) {
        dmax = fmax(dmax, fabs((double)map_f[i] - map_q[i]));
        range_lo = fmin(range_lo, map_f[i]);
        range_hi = fmax(range_hi, map_f[i]);
    }
    double ds = fabs((double)score_f - score_q);
    printf("  %-6s %-22s map corr %.5f, max |diff| %.4f (f32 map %.3f..%.3f), score %.4f vs %.4f "
           "(diff %.4f)\n", c->name, label, corr, dmax, range_lo, range_hi, score_f, score_q, ds);
    fd->worst_corr = fmin(fd->worst_corr, corr);
    fd->worst_score = fmax(fd->worst_score, ds);
    fd->worst_map = fmax(fd->worst_map, dmax);
    fd->images++;
    free(pre);
    free(map_f);
    free(map_q);
}

static void fidelity_case(const int8_cfg *c)
{
    printf("int8 vs f32, %s model at %d px:\n", c->name, c->size);
    dp_model *f32 = load(c, DP_C_F32), *i8 = load(c, DP_C_INT8);
    const int prims = dp_nn_primitive_count(i8->nn);   /* the warm-up created them all */
    fidelity fd = { 1.0, 0, 0, 0 };
    char rel[256];
    for (int i = 0; i < c->n_images; i++) {
        snprintf(rel, sizeof rel, "%s/inputs/%s", c->name, c->files[i]);
        io_image rgb = golden_rgb8(rel);
        snprintf(rel, sizeof rel, "golden %s", c->files[i]);
        compare(c, f32, i8, &rgb, rel, &fd);
        io_image_free(&rgb);
    }
    /* synthetic product images from the demo generator */
    char dir[] = "/tmp/dp_int8_XXXXXX", cmd[1200], path[1100], err[512];
    ck_assert(mkdtemp(dir));
    const char *build = getenv("DAPO_BUILD") && *getenv("DAPO_BUILD") ? getenv("DAPO_BUILD") : "build";
    snprintf(cmd, sizeof cmd, "'%s/make_demo_images' '%s' --count 3 --size 320x240 >/dev/null", build, dir);
    ck_assert_msg(system(cmd) == 0, "%s failed (make builds it: make %s/make_demo_images)", cmd, build);
    for (size_t i = 0; i < sizeof DEMO_IMAGES / sizeof *DEMO_IMAGES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, DEMO_IMAGES[i]);
        io_image raw, rgb;
        ck_assert_msg(io_read_image(path, &raw, err, sizeof err) == 0, "%s", err);
        ck_assert_msg(io_to_rgb8(&raw, &rgb, err, sizeof err) == 0, "%s", err);
        io_image_free(&raw);
        compare(c, f32, i8, &rgb, DEMO_IMAGES[i], &fd);
        io_image_free(&rgb);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
    ck_assert_int_gt(prims, 0);
    ck_assert_int_eq(dp_nn_primitive_count(i8->nn), prims);   /* none per image */
    dp_model_free(f32);
    dp_model_free(i8);
    printf("  %s: %d images, worst map correlation %.5f (bound >= %.2f), worst score difference "
           "%.4f (bound <= %.2f), largest map difference %.4f\n", c->name, fd.images,
           fd.worst_corr, MIN_MAP_CORRELATION, fd.worst_score, MAX_SCORE_DIFF, fd.worst_map);
    ck_assert_int_eq(fd.images, c->n_images + 3);
    ck_assert_msg(fd.worst_corr >= MIN_MAP_CORRELATION, "map correlation %.5f < %.2f",
                  fd.worst_corr, MIN_MAP_CORRELATION);
    ck_assert_msg(fd.worst_score <= MAX_SCORE_DIFF, "score difference %.4f > %.2f", fd.worst_score,
                  MAX_SCORE_DIFF);
}

START_TEST(tiny_int8_vs_f32) { fidelity_case(&TINY); }
END_TEST
START_TEST(small_int8_vs_f32) { fidelity_case(&SMALL); }
END_TEST

Suite *int8_suite(void)
{
    Suite *s = suite_create("int8");
    TCase *tc = tcase_create("fidelity");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, tiny_int8_vs_f32);
    tcase_add_test(tc, small_int8_vs_f32);
    suite_add_tcase(s, tc);
    return s;
}
