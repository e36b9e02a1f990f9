/* Tiles across cores (process.c, model tile workers): a tiled image run on one worker per
 * thread gives maps bit-identical to the same image at one thread, equal to the sequential
 * (whole-team) path within float rounding, the first failure in tile order, and no nested
 * OpenMP team inside a worker. Through dp_tool_create/dp_tool_process on the golden tiny model. */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "ops_testing.h"
#include "tool_internal.h"
#include "test_cmd.h"

static char g_dir[256];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dp_tile_workers_XXXXXX");
    ck_assert(mkdtemp(g_dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert(system(cmd) == 0);
}

/* A tiled recipe for the tiny model (tile 64, overlap 8, the given batch) in the temp dir; dapo:
 * NULL = the golden one. Returns a static path. */
static const char *recipe(int batch, const char *dapo)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/tiled_%d.yaml", g_dir, batch);
    tsup_write(path, "recipe_version: 1\nproduct: tile workers\nmodel:\n"
               "  clip: %s/tiny/clip.safetensors\n  dapo: %s\n"
               "  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 112\nthreads: 2\n"
               "defects: [hole, scratch, stain]\ntext_cache: none\n"
               "tiling: {mode: grid, tile: 64, overlap: 8, batch: %d}\n",
               golden_dir(), dapo ? dapo : golden_path("tiny/dapo.safetensors"), models_dir(),
               batch);
    return path;
}

static insp_tool *tool(int threads, int batch, const char *dapo)
{
    insp_host host = { .struct_size = sizeof host, .threads = threads };
    insp_tool *t = NULL;
    char err[INSP_ERRBUF_SIZE];
    ck_assert_msg(dp_tool_create(&host, recipe(batch, dapo), &t, err, sizeof err) == INSP_OK, "%s", err);
    t->keep_types = 1;        /* results carry the per-pixel defect types too */
    return t;
}

/* A W x H RGB image with structure at every scale and a dark blob (a "defect"). */
typedef struct test_image { insp_image v; uint8_t *px; } test_image;

static test_image image(int w, int h)
{
    test_image im = { .px = malloc((size_t)w * h * 3) };
    ck_assert_ptr_nonnull(im.px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float v = 120 + 50 * sinf(0.05f * x + 0.3f * c) * cosf(0.07f * y) +
                          (float)(((unsigned)(x * 7 + y * 13 + c) * 2654435761u) >> 28);
                if ((x - 3 * w / 4) * (x - 3 * w / 4) + (y - h / 3) * (y - h / 3) < 64)
                    v = 20;
                im.px[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    im.v = (insp_image){ .struct_size = sizeof im.v, .width = w, .height = h, .channels = 3,
                         .pixel = INSP_PIX_U8, .row_stride = (ptrdiff_t)w * 3, .data = im.px };
    return im;
}

static insp_result *process(insp_tool *t, const insp_image *v)
{
    insp_result *r = NULL;
    char err[INSP_ERRBUF_SIZE];
    ck_assert_msg(dp_tool_process(t, v, &r, err, sizeof err) == INSP_OK, "%s", err);
    return r;
}

static int tiles_of(int w, int h)
{
    int n = 0;
    dp_err e;
    ck_assert(dp_tiling_count(w, h, 64, 8, &n, &e) == DP_OK);
    return n;
}

/* 1 and 2 threads: the same bits in every map and score (2 threads on the workers). */
static void same_bits(int batch, int w, int h)
{
    insp_tool *t1 = tool(1, batch, NULL), *t2 = tool(2, batch, NULL);
    ck_assert_int_eq(t1->model->n_workers, 0);
    ck_assert_int_eq(t2->model->n_workers, 2);
    test_image im = image(w, h);
    const int made = dp_nn_primitive_count(t1->model->nn);
    insp_result *a = process(t1, &im.v), *b = process(t2, &im.v);
    /* every batch size was prepared at load: a short last batch creates nothing (the workers'
     * frozen lanes would refuse to) */
    ck_assert_int_eq(dp_nn_primitive_count(t1->model->nn), made);
    ck_assert_ptr_nonnull(t2->rounds);          /* the worker path ran */
    ck_assert_ptr_null(t1->rounds);
    const size_t n = (size_t)w * h;
    size_t diff_map = 0, diff_label = 0, diff_type = 0;
    for (size_t i = 0; i < n; i++) {
        diff_map += memcmp(&a->anomaly[i], &b->anomaly[i], sizeof(float)) != 0;
        diff_label += a->label[i] != b->label[i];
        diff_type += a->types[i] != b->types[i];
    }
    printf("  batch %d, %dx%d (%d tiles): 1 vs 2 threads: %zu map, %zu label, %zu type pixels "
           "differ; score %.9g vs %.9g; %d regions each\n", batch, w, h, tiles_of(w, h), diff_map,
           diff_label, diff_type, a->score, b->score, a->n_regions);
    ck_assert_uint_eq(diff_map, 0);
    ck_assert_uint_eq(diff_label, 0);
    ck_assert_uint_eq(diff_type, 0);
    ck_assert(memcmp(&a->score, &b->score, sizeof a->score) == 0);
    ck_assert(memcmp(a->class_scores, b->class_scores, (size_t)a->n_classes * sizeof(float)) == 0);
    ck_assert_int_eq(a->decision, b->decision);
    ck_assert_int_eq(a->n_regions, b->n_regions);
    dp_result_free(a);
    dp_result_free(b);
    free(im.px);
    dp_tool_destroy(t1);
    dp_tool_destroy(t2);
}

START_TEST(one_and_two_threads_bit_identical)
{
    same_bits(2, 300, 200);     /* 24 tiles: 12 batches, 6 rounds */
    same_bits(3, 250, 130);     /* 15 tiles: 5 batches */
    same_bits(2, 250, 130);     /* 15 tiles: 8 batches, the last of 1 tile */
    same_bits(3, 250, 200);     /* 20 tiles: 7 batches, the last of 2 tiles */
}
END_TEST

/* The worker path against the sequential path (whole team per op, 2 threads) on one tool:
 * float rounding only (the sequential path's matmuls split their work over 2 threads). */
START_TEST(workers_match_sequential_path)
{
    const int w = 300, h = 200;
    insp_tool *t = tool(2, 2, NULL);
    test_image im = image(w, h);
    insp_result *a = process(t, &im.v);
    ck_assert_ptr_nonnull(t->rounds);
    t->tile_path = DP_TILES_SEQUENTIAL;
    free(t->rounds);
    t->rounds = NULL;
    t->rounds_cap = 0;
    insp_result *b = process(t, &im.v);
    ck_assert_ptr_null(t->rounds);              /* the sequential path ran */
    double worst = 0, peak = 0;
    size_t worst_i = 0, diff_type = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        double d = fabs((double)a->anomaly[i] - b->anomaly[i]);
        if (d > worst) {
            worst = d;
            worst_i = i;
        }
        if (fabs(a->anomaly[i]) > peak)
            peak = fabs(a->anomaly[i]);
        diff_type += a->types[i] != b->types[i];
    }
    double worst_class = 0;
    for (int k = 0; k < a->n_classes; k++)
        worst_class = fmax(worst_class, fabs((double)a->class_scores[k] - b->class_scores[k]));
    printf("  workers vs sequential path (2 threads, %d tiles): worst map difference %.3g at "
           "(x %zu, y %zu) (maps up to %.3g), score %.9g vs %.9g, worst class score difference "
           "%.3g, %zu type pixels differ\n", tiles_of(w, h), worst, worst_i % (size_t)w,
           worst_i / (size_t)w, peak, a->score, b->score, worst_class, diff_type);
    ck_assert(peak > 0.01);                     /* the maps hold something to compare */
    ck_assert_msg(worst <= 1e-4, "worst map difference %g", worst);
    ck_assert(fabs((double)a->score - b->score) <= 1e-5);
    ck_assert(worst_class <= 1e-5);
    ck_assert_uint_le(diff_type, (size_t)w * h / 1000);   /* near-ties only */
    dp_result_free(a);
    dp_result_free(b);
    free(im.px);
    dp_tool_destroy(t);
}
END_TEST

/* "Threads:" of /proc/self/status: the OS threads of this process now. */
static int os_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Samples os_threads() until told to stop: the most seen. libgomp starts the threads of a
 * nested team for the region and ends them after it, so only sampling during the run sees
 * them. */
typedef struct sampler { atomic_int stop; int most, samples; } sampler;

static void *sample_threads(void *arg)
{
    sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        int n = os_threads();
        if (n > s->most)
            s->most = n;
        s->samples++;
        usleep(200);
    }
    return NULL;
}

/* Inside a worker every OpenMP region (ours, oneDNN's) has one thread, even when the host
 * allows nested parallelism (max active levels 4): a nested team would add OS threads while
 * the workers run. First the model's workers driven directly from a team of 2 (nothing else
 * may start a thread), then whole tiled images, where dp_threads_probe starts and ends one
 * trial thread per call before the work (dp_threads.h). */
START_TEST(no_nested_teams_in_workers)
{
    insp_tool *t = tool(2, 2, NULL);
    test_image im = image(300, 200);
    dp_result_free(process(t, &im.v));           /* the top-level team exists now */
    dp_model *m = t->model;
    const int S = m->opt.image_size, B = m->opt.max_batch;
    float *pre = malloc((size_t)B * 3 * S * S * sizeof *pre);
    ck_assert_ptr_nonnull(pre);
    for (size_t i = 0; i < (size_t)B * 3 * S * S; i++)
        pre[i] = sinf(0.001f * (float)i);
    int levels = omp_get_max_active_levels();
    omp_set_max_active_levels(4);
    sampler s = { .most = 0 };
    pthread_t th;
    ck_assert(pthread_create(&th, NULL, sample_threads, &s) == 0);
    usleep(20 * 1000);
    int before = os_threads();                  /* this thread, the team's other, the sampler */
    int failed = 0, team = 0;
#pragma omp parallel num_threads(2) reduction(+ : failed) reduction(max : team)
    {
        const int w = omp_get_thread_num();
        team = omp_get_num_threads();
        float map[64 * 64];
        dp_head_out out = { .anomaly = map };
        dp_err e;
        for (int r = 0; r < 3; r++)
            failed += dp_model_run_worker(m, w, pre, B, NULL, &e) != DP_OK ||
                      dp_model_head_worker(m, w, 0, 64, 64, &out, &e) != DP_OK;
    }
    int most_workers = s.most, samples_workers = s.samples;
    for (int i = 0; i < 3; i++)
        dp_result_free(process(t, &im.v));
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    omp_set_max_active_levels(levels);
    printf("  OS threads with nested parallelism allowed (max active levels 4; the default here "
           "is %d): %d before; at most %d in %d samples while 2 workers ran 3 batches each; at "
           "most %d in %d samples with 3 tiled images (+1: the thread probe)\n", levels, before,
           most_workers, samples_workers, s.most, s.samples);
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(team, 2);
    ck_assert_int_ge(before, 3);
    ck_assert_int_gt(samples_workers, 10);
    ck_assert_int_eq(most_workers, before);
    ck_assert_int_le(s.most, before + 1);
    free(pre);
    free(im.px);
    dp_tool_destroy(t);
}
END_TEST

/* Progress from the calling thread after each round, in order, ending at the total. */
typedef struct progress_log { int calls, last, total, out_of_order; pthread_t caller; int foreign; } progress_log;

static void on_progress(void *user, const char *what, int32_t done, int32_t total)
{
    progress_log *p = user;
    if (strcmp(what, "tiles") != 0)
        return;
    p->calls++;
    p->out_of_order += done <= p->last || done > total;
    p->foreign += !pthread_equal(pthread_self(), p->caller);
    p->last = done;
    p->total = total;
}

START_TEST(progress_per_round_on_the_calling_thread)
{
    progress_log pl = { .caller = pthread_self() };
    insp_tool *t = tool(2, 2, NULL);
    t->host.progress = on_progress;
    t->host.user = &pl;
    test_image im = image(300, 200);
    dp_result_free(process(t, &im.v));
    printf("  progress: %d calls, last %d of %d, %d out of order, %d from another thread\n",
           pl.calls, pl.last, pl.total, pl.out_of_order, pl.foreign);
    ck_assert_int_eq(pl.total, tiles_of(300, 200));
    ck_assert_int_eq(pl.last, pl.total);
    ck_assert_int_eq(pl.calls, (pl.total + 3) / 4);   /* one per round of 2 batches of 2 */
    ck_assert_int_eq(pl.out_of_order, 0);
    ck_assert_int_eq(pl.foreign, 0);
    free(im.px);
    dp_tool_destroy(t);
}
END_TEST

/* Non-finite outputs in every tile: the error names the first tile in tile order, as the
 * sequential path does. */
START_TEST(first_failure_in_tile_order)
{
    /* the golden dapo file with every adapter weight huge: every tile overflows */
    char dapo[300];
    snprintf(dapo, sizeof dapo, "%s/extreme.safetensors", g_dir);
    FILE *in = fopen(golden_path("tiny/dapo.safetensors"), "rb");
    ck_assert(in);
    fseek(in, 0, SEEK_END);
    long len = ftell(in);
    fseek(in, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len);
    ck_assert(b && fread(b, 1, (size_t)len, in) == (size_t)len);
    fclose(in);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | b[i];
    /* adapter tensors: find each "linear_adapter.fc." entry's data_offsets in the header */
    const char *hdr = (const char *)b + 8;
    int changed = 0;
    for (const char *p = hdr; (p = strstr(p, "\"linear_adapter.fc.")) && p < hdr + hlen; p++) {
        const char *o = strstr(p, "\"data_offsets\"");
        long long o0, o1;
        ck_assert(o && sscanf(strchr(o, '[') + 1, "%lld , %lld", &o0, &o1) == 2);
        const float big = 3.0e38f;
        for (long long k = o0; k < o1; k += 4)
            memcpy(b + 8 + hlen + k, &big, 4);
        changed++;
    }
    ck_assert_int_gt(changed, 0);
    FILE *out = fopen(dapo, "wb");
    ck_assert(out && fwrite(b, 1, (size_t)len, out) == (size_t)len);
    fclose(out);
    free(b);
    test_image im = image(300, 200);
    for (int threads = 1; threads <= 2; threads++) {
        insp_tool *t = tool(threads, 2, dapo);
        insp_result *r = (insp_result *)1;
        char err[INSP_ERRBUF_SIZE];
        insp_status st = dp_tool_process(t, &im.v, &r, err, sizeof err);
        printf("  %d thread%s: %d: %s\n", threads, threads > 1 ? "s" : "", (int)st, err);
        ck_assert_int_eq(st, INSP_E_MODEL);
        ck_assert_ptr_null(r);
        ck_assert_ptr_nonnull(strstr(err, "model output for tile 0 (x 0, y 0)"));
        ck_assert_ptr_nonnull(strstr(err, "no decision"));
        ck_assert(threads == 1 || t->rounds);
        dp_tool_destroy(t);
    }
    free(im.px);
}
END_TEST

Suite *tile_workers_suite(void)
{
    Suite *s = suite_create("tile_workers");
    TCase *tc = tcase_create("tile_workers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, one_and_two_threads_bit_identical);
    tcase_add_test(tc, workers_match_sequential_path);
    tcase_add_test(tc, no_nested_teams_in_workers);
    tcase_add_test(tc, progress_per_round_on_the_calling_thread);
    tcase_add_test(tc, first_failure_in_tile_order);
    suite_add_tcase(s, tc);
    return s;
}
