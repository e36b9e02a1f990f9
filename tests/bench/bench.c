/* Performance figures (not a test): random-weight CLIP towers with the DAPO shape built in
 * memory, timed per image, compared with plain layers on the kernel the tower's linears use
 * (oneDNN's matmul, or its 1x1 convolution for f32 at the AVX2 level) on the same layer shapes
 * in the same process. Usage:
 *   bench vision {B16|L14} SIZE {f32|bf16|int8} [REPEATS]   (int8 also times f32, and bf16
 *                                                            where native, in the same run)
 *   bench text   {B16|L14} DEFECTS {f32|bf16} [CHUNK]
 *   bench textcache {B16|L14} DEFECTS {f32|bf16}   (tool creation's text step, cold and warm)
 *   bench tiles  DEMO_DIR SIDE [ROUNDS [BATCH]]   (a tiled SIDE x SIDE image through the plugin's
 *                                          process path on the demo model, 1 and 2 threads)
 *   bench train-vision {B16|L14} SIZE BATCH [REPEATS]   (prompt training: forward + backward)
 *   bench train-step CLIP VOCAB SIZE BATCH [STEPS]   (insp-train's whole step on a model file)
 *   bench regions [SIDE [REPEATS [KIND]]]   (dp_regions_find on eight kinds of map, SIDE x SIDE
 *                    but one 2448 x 2048, against the previous implementation, regions_ref.c)
 *   bench spin   SECONDS     (keeps one core busy: the contention benchmark's "other work")
 * One configuration per process, so the peak resident memory printed is that configuration's. */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clip_text.h"
#include "clip_vision.h"
#include "dp_size.h"
#include "isa.h"
#include "model.h"
#include "ops_testing.h"
#include "regions.h"
#include "regions_ref.h"
#include "text_cache.h"
#include "tool_internal.h"
#include "tokenizer.h"
#include "train_vocab.h"
#include "trainer.h"
#include "vision_grad.h"

typedef struct rng { uint64_t s; } rng;
static float uniform(rng *r)      /* in [-1, 1) */
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (float)((r->s >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

typedef struct random_source { dp_model_config cfg; uint64_t seed; } random_source;

static dp_status random_read(void *ctx, const char *name, float *dst, size_t n, dp_err *err)
{
    random_source *rs = ctx;
    rng r = { rs->seed ^ (uint64_t)n * 0x9E3779B97F4A7C15ull };
    for (const char *c = name; *c; c++)
        r.s = r.s * 131 + (unsigned char)*c;
    r.s |= 1;
    float base = 0, amp = 0.02f;
    if (strstr(name, "ln_") || strstr(name, "ln_final"))
        base = strstr(name, "weight") ? 1.0f : 0.0f, amp = 0.05f;
    for (size_t i = 0; i < n; i++)
        dst[i] = base + amp * uniform(&r);
    (void)err;
    return DP_OK;
}

static dp_status random_pos(void *ctx, int grid, float *dst, dp_err *err)
{
    random_source *rs = ctx;
    return random_read(ctx, "pos", dst, (size_t)(1 + grid * grid) * rs->cfg.vision_width, err);
}

static float *random_array(size_t n, uint64_t seed, float amp)
{
    float *a = malloc(n * sizeof *a);
    rng r = { seed | 1 };
    for (size_t i = 0; a && i < n; i++)
        a[i] = amp * uniform(&r);
    return a;
}

static dp_model_config model_config(const char *name)
{
    dp_model_config c = { 0 };
    c.context_length = 77;
    c.vocab_size = 49408;
    if (strcmp(name, "L14") == 0) {     /* OpenAI ViT-L/14-336 */
        c.vision_width = 1024; c.vision_layers = 24; c.vision_heads = 16; c.patch_size = 14;
        c.native_grid = 24; c.text_width = 768; c.text_layers = 12; c.text_heads = 12;
        c.embed_dim = 768;
    } else {                            /* OpenAI ViT-B/16 */
        c.vision_width = 768; c.vision_layers = 12; c.vision_heads = 12; c.patch_size = 16;
        c.native_grid = 14; c.text_width = 512; c.text_layers = 12; c.text_heads = 8;
        c.embed_dim = 512;
    }
    return c;
}

static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, dp_err *e)
{
    fprintf(stderr, "bench: %s: %s\n", what, e->msg);
    exit(1);
}

/* The tower's four linear shapes as plain layers on the kernel the tower's linears run on (the
 * oneDNN matmul, or its 1x1 convolution for f32 at the AVX2 level: linear.c), without bias or
 * epilogue: the reference rate. Timed once after every tower run, so both see the same machine
 * load (this machine is shared). For int8 the reference is oneDNN's u8 x s8 -> s32 matmul alone
 * (no quantisation, no epilogue). */
typedef struct ref_matmuls {
    dp_linear lin[4];
    void *src, *dst;
    int rows;
    double flops;     /* one pass over the four shapes */
} ref_matmuls;

static void ref_init(ref_matmuls *r, dp_nn *nn, int rows, int W, dp_dtype_c dt)
{
    const int shapes[4][2] = { { W, 3 * W }, { W, W }, { W, 4 * W }, { 4 * W, W } };
    const size_t esz = dp_dtype_size(dp_act_dtype(dt));
    r->rows = rows;
    r->flops = 0;
    /* aligned like the tower's activations (dp_alloc_aligned): from calloc the rows start 16
     * bytes into a cache line, which cost oneDNN's 1x1 convolution kernel 1.6x at 3072 inputs */
    r->src = dp_alloc_aligned((size_t)rows * 4 * W * esz);
    r->dst = dp_alloc_aligned((size_t)rows * 4 * W * esz);
    if (!r->src || !r->dst) {
        fprintf(stderr, "bench: out of memory for the reference layers (%d rows)\n", rows);
        exit(1);
    }
    memset(r->src, 0, (size_t)rows * 4 * W * esz);
    for (int s = 0; s < 4; s++) {
        int k = shapes[s][0], n = shapes[s][1];
        float *w = random_array((size_t)k * n, 7 + s, 0.02f);
        dp_err e;
        if (dp_linear_init(nn, &r->lin[s], w, NULL, k, n, rows, dt, &e))
            die("matmul", &e);
        free(w);
        r->flops += 2.0 * rows * k * n;
        /* creates the primitive (and, for int8, fills the quantised rows once) */
        if (dp_linear_run(nn, &r->lin[s], r->src, rows, k, r->dst, n, dp_act_dtype(dt), DP_EPI_NONE, &e))
            die("matmul", &e);
    }
}

/* Seconds for one pass over the four shapes, weighted as in a block (1 each). */
static double ref_pass(ref_matmuls *r, dp_nn *nn, dp_dtype_c dt)
{
    dp_err e;
    double t0 = omp_get_wtime();
    for (int s = 0; s < 4; s++) {
        dp_status st = dt == DP_C_INT8
            ? dp_linear_int8_matmul_only(nn, &r->lin[s], r->rows, &e)
            : dp_linear_run(nn, &r->lin[s], r->src, r->rows, r->lin[s].in, r->dst, r->lin[s].out,
                            dt, DP_EPI_NONE, &e);
        if (st)
            die("reference matmul", &e);
    }
    return omp_get_wtime() - t0;
}

static void ref_free(ref_matmuls *r)
{
    for (int s = 0; s < 4; s++)
        dp_linear_free(&r->lin[s]);
    free(r->src);
    free(r->dst);
}

static const char *dt_name(dp_dtype_c dt)
{
    return dt == DP_C_BF16 ? "bf16" : dt == DP_C_INT8 ? "int8" : "f32";
}

/* One tower with the DAPO shape and random weights, assembled into a model as the plugin runs
 * it (dp_model_run, then dp_model_head). */
typedef struct bench_tower {
    dp_dtype_c dt;
    dp_nn *nn;        /* borrowed from m */
    dp_vision *v;     /* borrowed from m */
    dp_model *m;      /* owned */
    double build_s;
} bench_tower;

static void tower_build(bench_tower *t, const char *model, int size, dp_dtype_c dt)
{
    random_source rs = { model_config(model), 42 };
    dp_weight_source src = { &rs, &rs.cfg, random_read, random_pos };
    const dp_model_config *c = &rs.cfg;
    const int W = c->vision_width, E = c->embed_dim, threads = omp_get_max_threads();
    dp_err e;
    t->dt = dt;
    if (dp_nn_create(threads, &t->nn, &e))
        die("context", &e);
    float *prompts = random_array((size_t)c->vision_layers * 4 * W, 1, 0.06f);
    float *aw[4], *ab[4];
    for (int j = 0; j < 4; j++) {
        aw[j] = random_array((size_t)E * W, 10 + j, 0.03f);
        ab[j] = random_array((size_t)E, 20 + j, 0.01f);
    }
    dp_vision_options vo = { size, 1, dt, { 0 }, 0 };
    for (int j = 0; j < 4; j++)
        vo.feature_layers[j] = c->vision_layers * (j + 1) / 4;
    double t0 = omp_get_wtime();
    if (dp_vision_build(t->nn, &src, &vo, prompts, aw, ab, &t->v, &e))
        die("vision build", &e);
    t->build_s = omp_get_wtime() - t0;
    free(prompts);
    for (int j = 0; j < 4; j++) {
        free(aw[j]);
        free(ab[j]);
    }
    /* 20 defect states: text features random unit vectors (the head's cost only) */
    dp_text_features tf = { 21, E, random_array((size_t)21 * E, 99, 1.0f), random_array((size_t)E, 98, 1.0f),
                            NULL, NULL };
    dp_model_options mo = { .image_size = size, .max_batch = 1, .precision = dt, .threads = threads };
    if (dp_model_assemble(t->nn, t->v, &tf, &mo, &t->m, &e))
        die("model", &e);
}

/* Seconds of dp_model_run (*tower_s) and of run + head (returned). */
static double tower_time(bench_tower *t, const float *pre, int size, float *amap, uint16_t *label,
                         double *tower_s)
{
    dp_err e;
    double a = omp_get_wtime();
    if (dp_model_run(t->m, pre, 1, &e))
        die("vision run", &e);
    double b = omp_get_wtime();
    dp_head_out ho = { .anomaly = amap, .defect_type = label };
    if (dp_model_head(t->m, 0, size, size, &ho, &e))
        die("head", &e);
    *tower_s = b - a;
    return omp_get_wtime() - a;
}

static int bench_vision(const char *model, int size, dp_dtype_c dt, int repeats)
{
    const dp_model_config cfg = model_config(model), *c = &cfg;
    const int W = c->vision_width, E = c->embed_dim, threads = omp_get_max_threads();
    bench_tower main_t;
    tower_build(&main_t, model, size, dt);
    dp_vision *v = main_t.v;
    dp_nn *nn = main_t.nn;
    const int G = dp_vision_grid(v), GG = G * G;
    float *pre = random_array((size_t)3 * size * size, 5, 1.5f);
    float *amap = malloc((size_t)size * size * sizeof *amap);
    uint16_t *label = malloc((size_t)size * size * sizeof *label);
    double *tower = malloc((size_t)(repeats + 1) * sizeof *tower), *total = malloc((size_t)(repeats + 1) * sizeof *total);
    double *attn = malloc((size_t)(repeats + 1) * sizeof *attn);
    double *ratio = malloc((size_t)(repeats + 1) * sizeof *ratio), *mm = malloc((size_t)(repeats + 1) * sizeof *mm);
    /* int8: f32 (and bf16 where native) towers timed in the same run, interleaved */
    bench_tower cmp[2];
    int n_cmp = 0;
    double *cmp_ratio[2] = { NULL, NULL };
    const double T = 1 + 4 + GG;
    double flops = c->vision_layers * (2.0 * T * 12.0 * W * W + 4.0 * T * T * W) +
                   2.0 * GG * 3.0 * c->patch_size * c->patch_size * W + 4 * 2.0 * GG * W * E;
    double attn_flops = c->vision_layers * 4.0 * T * T * W;
    long peak = 0;
    ref_matmuls ref;
    for (int r = 0; r <= repeats; r++) {     /* r == 0 is the warm-up */
        double tw;
        double tt = tower_time(&main_t, pre, size, amap, label, &tw);
        if (r == 0) {
            /* the tower's peak is reached by now; the reference layers come afterwards */
            peak = peak_rss_kb();
            ref_init(&ref, nn, (int)T, W, dt);
            ref_pass(&ref, nn, dt);
            if (dt == DP_C_INT8) {
                tower_build(&cmp[n_cmp++], model, size, DP_C_F32);
                if (dp_nn_cpu_has_bf16())
                    tower_build(&cmp[n_cmp++], model, size, DP_C_BF16);
                for (int k = 0; k < n_cmp; k++) {
                    cmp_ratio[k] = malloc((size_t)(repeats + 1) * sizeof *cmp_ratio[k]);
                    tower_time(&cmp[k], pre, size, amap, label, &tw);     /* its warm-up */
                }
            }
            continue;
        }
        tower[r - 1] = tw;
        total[r - 1] = tt;
        attn[r - 1] = dp_vision_attention_seconds(v);
        double ref_s = ref_pass(&ref, nn, dt);
        mm[r - 1] = ref.flops / ref_s / 1e9;
        ratio[r - 1] = (flops / tw / 1e9) / mm[r - 1];
        for (int k = 0; k < n_cmp; k++) {
            double other_tw;
            cmp_ratio[k][r - 1] = tt / tower_time(&cmp[k], pre, size, amap, label, &other_tw);
        }
    }
    const char *ref_kernel = dp_linear_kernel(&ref.lin[0]);
    ref_free(&ref);
    double med_tower = median(tower, repeats), med_total = median(total, repeats);
    double med_attn = median(attn, repeats);
    double rate = median(mm, repeats), med_ratio = median(ratio, repeats);
    double achieved = flops / med_tower / 1e9;
    const char *dts = dt_name(dt);
    printf("vision %s@%d %s: tokens %d, %.1f GFLOP/image, %d threads, median of %d after warm-up\n",
           model, size, dts, (int)T, flops / 1e9, threads, repeats);
    char isa[200];
    dp_isa_describe(isa, sizeof isa);
    printf("  instruction set %s\n", isa);
    printf("  tower + head   %9.1f ms/image   (tower %.1f ms, head %.1f ms)\n", med_total * 1e3,
           med_tower * 1e3, (med_total - med_tower) * 1e3);
    printf("  tower rate     %9.1f %s/s    = %.0f%% of oneDNN %s %s on these shapes (%.1f %s/s;"
           " median of per-run ratios, each run next to its own reference timing)\n",
           achieved, dt == DP_C_INT8 ? "GOP" : "GFLOP", 100.0 * med_ratio,
           dt == DP_C_INT8 ? "u8 x s8 -> s32" : dts, dt == DP_C_INT8 ? "matmul" : ref_kernel, rate,
           dt == DP_C_INT8 ? "GOP" : "GFLOP");
    printf("  attention      %9.1f ms/image   = %.1f%% of tower time (%.0f GFLOP/s, %.1f%% of flops)\n",
           med_attn * 1e3, 100.0 * med_attn / med_tower, attn_flops / med_attn / 1e9,
           100.0 * attn_flops / flops);
    if (dt == DP_C_INT8) {
        double vs_f32 = median(cmp_ratio[0], repeats);
        if (n_cmp == 2)
            printf("  int8 / bf16    %9.2f x the bf16 tower + head time (target <= 0.55; same run, "
                   "interleaved); vs f32: %.2f\n", median(cmp_ratio[1], repeats), vs_f32);
        else
            printf("  int8 / f32     bf16 not native; vs f32: %.2f x the f32 tower + head time "
                   "(same run, interleaved)\n", vs_f32);
    }
    size_t wbytes = dp_vision_weight_bytes(v), abytes = dp_vision_arena_bytes(v);
    printf("  memory         weights %.1f MB, activations %.1f MB, peak RSS %.1f MB "
           "(budget 1.3 x weights + 300 MB = %.1f MB)\n", wbytes / 1e6, abytes / 1e6, peak / 1e3,
           (1.3 * wbytes + 300e6) / 1e6);
    printf("  build          %9.1f ms (weights reordered, primitives created)\n", main_t.build_s * 1e3);
    if (strcmp(model, "L14") == 0 && size == 518)
        printf("  anchors        PyTorch and ONNX Runtime on the same tower, interleaved with ours: "
               "make bench-anchors\n");
    dp_model_free(main_t.m);     /* the tower, the text features and the context with it */
    for (int k = 0; k < n_cmp; k++) {
        dp_model_free(cmp[k].m);
        free(cmp_ratio[k]);
    }
    free(pre); free(amap); free(label); free(tower); free(total); free(attn);
    free(ratio); free(mm);
    return 0;
}

/* Prompt training's vision cost: forward with checkpoints + backward to the visual tokens at a
 * batch, next to the inference forward of the same batch in the same run. */
static int bench_train_vision(const char *model, int size, int batch, int repeats)
{
    random_source rs = { model_config(model), 42 };
    dp_weight_source src = { &rs, &rs.cfg, random_read, random_pos };
    const dp_model_config *c = &rs.cfg;
    const int W = c->vision_width, E = c->embed_dim, threads = omp_get_max_threads();
    dp_err e;
    dp_nn *nn;
    if (dp_nn_create(threads, &nn, &e))
        die("context", &e);
    float *prompts = random_array((size_t)c->vision_layers * 4 * W, 1, 0.06f);
    float *aw[4], *ab[4];
    for (int j = 0; j < 4; j++) {
        aw[j] = random_array((size_t)E * W, 10 + j, 0.03f);
        ab[j] = random_array((size_t)E, 20 + j, 0.01f);
    }
    dp_vision_options vo = { size, batch, DP_C_F32, { 0 }, 0 };
    for (int j = 0; j < 4; j++)
        vo.feature_layers[j] = c->vision_layers * (j + 1) / 4;
    dp_vision *v;
    if (dp_vision_build(nn, &src, &vo, prompts, aw, ab, &v, &e))
        die("vision build", &e);
    for (int j = 0; j < 4; j++) {
        free(aw[j]);
        free(ab[j]);
    }
    dp_vision_grad *g;
    double t0 = omp_get_wtime();
    if (dp_vision_grad_create(v, batch, &g, &e))
        die("vision training state", &e);
    double create_s = omp_get_wtime() - t0;
    const int G = dp_vision_grid(v), GG = G * G;
    float *pre = random_array((size_t)batch * 3 * size * size, 5, 1.5f);
    float *df[4], *dg = random_array((size_t)batch * E, 7, 1.0f);
    for (int j = 0; j < 4; j++)
        df[j] = random_array((size_t)batch * GG * W, 30 + j, 1e-3f);
    float *dtok = calloc((size_t)c->vision_layers * 4 * W, sizeof *dtok);
    double inf = 0, fwd = 0, bwd = 0;
    for (int r = 0; r <= repeats; r++) {     /* r == 0 is the warm-up (primitives created) */
        double a = omp_get_wtime();
        if (dp_vision_run(v, pre, batch, NULL, &e))
            die("vision run", &e);
        double b = omp_get_wtime();
        if (dp_vision_grad_forward(g, pre, batch, &e))
            die("training forward", &e);
        double cc = omp_get_wtime();
        if (dp_vision_grad_backward(g, (const float *const *)df, dg, dtok, &e))
            die("backward", &e);
        double d = omp_get_wtime();
        if (r == 0 && repeats > 0)
            continue;
        inf += b - a;
        fwd += cc - b;
        bwd += d - cc;
    }
    int n = repeats > 0 ? repeats : 1;
    inf /= n, fwd /= n, bwd /= n;
    printf("train-vision %s@%d f32 batch %d, %d threads, mean of %d run(s)%s\n", model, size, batch,
           threads, n, repeats > 0 ? " after a warm-up" : " (no warm-up: includes primitive creation)");
    printf("  forward+backward %8.2f s/step  (forward with checkpoints %.2f s, backward %.2f s) = %.2f s/image\n",
           fwd + bwd, fwd, bwd, (fwd + bwd) / batch);
    printf("  inference fwd    %8.2f s/step  -> training step = %.2f x inference forward\n", inf,
           (fwd + bwd) / inf);
    printf("  memory           weights %.1f MB, inference activations %.1f MB, training state %.1f MB"
           " (of which transposed weights ~= weights), peak RSS %.1f MB\n",
           dp_vision_weight_bytes(v) / 1e6, dp_vision_arena_bytes(v) / 1e6,
           dp_vision_grad_peak_bytes(g) / 1e6, peak_rss_kb() / 1e3);
    printf("  training state created in %.1f s\n", create_s);
    dp_vision_grad_free(g);
    dp_vision_free(v);
    dp_nn_free(nn);
    for (int j = 0; j < 4; j++)
        free(df[j]);
    free(dg); free(dtok); free(pre); free(prompts);
    return 0;
}

/* A whole training step as insp-train runs it (both towers' training forward and backward, the
 * head, Adam on every group) on a CLIP file with fresh DAPO tensors and the reference's 20
 * training states, next to the inference forward of the same batch (dp_trainer_predict). */
static int bench_train_step(const char *clip, const char *vocab, int size, int batch, int steps)
{
    const int threads = omp_get_max_threads(), S = size;
    const size_t SS = (size_t)S * S;
    dp_trainer_options o = { clip, vocab, NULL, 42, dp_train_defect_names(), DP_TRAIN_STATES - 1,
                             S, batch, threads, DP_C_F32,
                             { DP_ADAM_LR, DP_ADAM_BETA1, DP_ADAM_BETA2, DP_ADAM_EPS } };
    dp_trainer *t;
    dp_err e;
    double t0 = omp_get_wtime();
    if (dp_trainer_create(&o, &t, &e))
        die("trainer", &e);
    double create_s = omp_get_wtime() - t0;
    long rss_created = peak_rss_kb();
    float *pre = random_array((size_t)batch * 3 * SS, 5, 1.5f);
    uint8_t *gt_bin = calloc((size_t)batch * SS, 1), *gt_multi = calloc((size_t)batch * SS, 1);
    int *labels = calloc((size_t)batch, sizeof *labels);
    float *scores = malloc((size_t)batch * sizeof *scores);
    float *maps = malloc((size_t)batch * SS * sizeof *maps);
    if (!pre || !gt_bin || !gt_multi || !labels || !scores || !maps) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    /* every other image bad: a square defect of a sixth of the side, class cycling */
    for (int b = 0; b < batch; b += 2) {
        labels[b] = 1;
        for (int y = S / 3; y < S / 3 + S / 6; y++)
            for (int x = S / 3; x < S / 3 + S / 6; x++) {
                gt_bin[b * SS + (size_t)y * S + x] = 1;
                gt_multi[b * SS + (size_t)y * S + x] = (uint8_t)(1 + b % (DP_TRAIN_STATES - 1));
            }
    }
    t0 = omp_get_wtime();
    if (dp_trainer_predict(t, pre, batch, scores, maps, &e))
        die("predict", &e);
    double fwd_s = omp_get_wtime() - t0;
    printf("train-step %s @%d f32 batch %d, %d threads, %d training states, all groups\n", clip,
           size, batch, threads, DP_TRAIN_STATES);
    printf("  created in %.1f s (weights, towers, the first text encoding); inference forward "
           "%.2f s\n", create_s, fwd_s);
    for (int k = 1; k <= steps; k++) {
        dp_train_loss loss;
        t0 = omp_get_wtime();
        if (dp_trainer_step(t, DP_GROUP_ALL, pre, gt_bin, gt_multi, labels, batch, &loss, &e))
            die("step", &e);
        double step_s = omp_get_wtime() - t0;
        printf("  step %d %8.2f s = %.2f x the inference forward (%.2f s/image)%s; loss %.4f\n", k,
               step_s, step_s / fwd_s, step_s / batch,
               k == 1 ? ", text features current: no re-encoding"
                      : ", text prompts changed: states re-encoded", loss.total);
    }
    printf("  memory         peak RSS %.1f MB (%.1f MB after creation: weights, text features, "
           "training state)\n", peak_rss_kb() / 1e3, rss_created / 1e3);
    dp_trainer_free(t);
    free(pre); free(gt_bin); free(gt_multi); free(labels); free(scores); free(maps);
    return 0;
}

static const char *const DEFECT_NAMES[] = {
    "bent", "broken", "discoloration", "compound", "contamination", "crack", "cut", "fabric",
    "faulty imprint", "gluing", "hole", "missing", "puncture", "rough", "scratch", "compressed",
    "threading", "liquid", "misaligned", "wear" };

static int bench_text(const char *model, int n_defects, dp_dtype_c dt, int chunk)
{
    random_source rs = { model_config(model), 43 };
    dp_weight_source src = { &rs, &rs.cfg, random_read, random_pos };
    const dp_model_config *c = &rs.cfg;
    const int Wt = c->text_width;
    const char *const *names = DEFECT_NAMES;
    if (n_defects < 1 || n_defects > 20)
        n_defects = 20;
    dp_err e;
    dp_nn *nn;
    dp_tokenizer *tok;
    const char *models = getenv("DAPO_MODELS") ? getenv("DAPO_MODELS") : "models";
    char vocab[1024];
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models);
    if (dp_tokenizer_load(vocab, &tok, &e))
        die("tokenizer", &e);
    if (dp_nn_create(omp_get_max_threads(), &nn, &e))
        die("context", &e);
    float *nctx = random_array((size_t)10 * 5 * Wt, 3, 0.02f), *actx = random_array((size_t)10 * 5 * Wt, 4, 0.02f);
    float *layer = random_array((size_t)c->text_layers * 4 * Wt, 6, 0.02f);
    double t0 = omp_get_wtime();
    dp_text *t;
    if (dp_text_build(nn, &src, dt, chunk, nctx, actx, layer, &t, &e))
        die("text build", &e);
    double t1 = omp_get_wtime();
    dp_text_features tf;
    if (dp_text_encode(t, tok, names, n_defects, &tf, &e))
        die("text encode", &e);
    double t2 = omp_get_wtime();
    int seqs = (1 + n_defects) * 10;
    double flops = seqs * c->text_layers * (2.0 * 81 * 12.0 * Wt * Wt + 4.0 * 81 * 81 * Wt);
    printf("text %s %s, %d defect names (%d sequences of 81 tokens, %.0f GFLOP), %d sequences "
           "per pass, %d threads:\n", model, dt == DP_C_BF16 ? "bf16" : "f32", n_defects, seqs,
           flops / 1e9, chunk, omp_get_max_threads());
    printf("  build %.1f ms, encode %.1f ms (%.1f GFLOP/s), peak RSS %.1f MB\n", (t1 - t0) * 1e3,
           (t2 - t1) * 1e3, flops / (t2 - t1) / 1e9, peak_rss_kb() / 1e3);
    dp_text_features_free(&tf);
    dp_text_free(t);
    dp_nn_free(nn);
    dp_tokenizer_free(tok);
    free(nctx); free(actx); free(layer);
    return 0;
}

/* Tool creation's text step as dp_model_load runs it, cold (key, lookup finds nothing, text
 * tower built, 210 sequences encoded, file stored) and warm (key, lookup, file validated and
 * read), on a random in-memory text tower. The key reads a 1 MiB stand-in for the CLIP file's
 * head (what it reads of a real 1.7 GB file) and the shipped vocabulary. */
static int bench_textcache(const char *model, int n_defects, dp_dtype_c dt)
{
    random_source rs = { model_config(model), 43 };
    dp_weight_source src = { &rs, &rs.cfg, random_read, random_pos };
    const dp_model_config *c = &rs.cfg;
    const int Wt = c->text_width, threads = omp_get_max_threads();
    if (n_defects < 1 || n_defects > 20)
        n_defects = 20;
    char dir[] = "/tmp/dp_bench_textcache_XXXXXX", clip[256], cache[256], vocab[1024];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create a temporary directory\n");
        return 1;
    }
    snprintf(clip, sizeof clip, "%s/clip_head.bin", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    FILE *f = fopen(clip, "wb");
    float *head = random_array((size_t)1 << 18, 77, 1.0f);
    if (!f || !head || fwrite(head, sizeof *head, (size_t)1 << 18, f) != (size_t)1 << 18) {
        fprintf(stderr, "bench: cannot write %s\n", clip);
        return 1;
    }
    fclose(f);
    free(head);
    const char *models = getenv("DAPO_MODELS") ? getenv("DAPO_MODELS") : "models";
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models);
    dp_err e;
    dp_nn *nn;
    if (dp_nn_create(threads, &nn, &e))
        die("context", &e);
    float *nctx = random_array((size_t)10 * 5 * Wt, 3, 0.02f), *actx = random_array((size_t)10 * 5 * Wt, 4, 0.02f);
    float *layer = random_array((size_t)c->text_layers * 4 * Wt, 6, 0.02f);
    dp_text_cache_inputs in = { "bench", clip, vocab, c, dt, threads, nctx, actx, layer,
                                DEFECT_NAMES, n_defects };
    dp_text_features cold, warm;
    dp_text_cache_key key;
    char why[512];
    /* cold */
    double t0 = omp_get_wtime();
    if (dp_text_cache_key_make(&in, &key, &e))
        die("cache key", &e);
    if (dp_text_cache_read(cache, &key, &cold, why, sizeof why) != DP_TEXT_CACHE_ABSENT)
        die("cache lookup", &e);
    double t_keyed = omp_get_wtime();
    dp_tokenizer *tok;
    if (dp_tokenizer_load(vocab, &tok, &e))
        die("tokenizer", &e);
    int total = (1 + n_defects) * 10;
    dp_text *t;
    const int chunk = total < 40 ? total : 40;
    if (dp_text_build(nn, &src, dt, chunk, nctx, actx, layer, &t, &e))
        die("text build", &e);
    double t_built = omp_get_wtime();
    if (dp_text_encode(t, tok, DEFECT_NAMES, n_defects, &cold, &e))
        die("text encode", &e);
    double t_encoded = omp_get_wtime();
    dp_text_free(t);
    dp_tokenizer_free(tok);
    double t_store = omp_get_wtime();
    if (dp_text_cache_write(cache, &key, &cold, &e))
        die("cache write", &e);
    dp_text_cache_key_free(&key);
    double t1 = omp_get_wtime();
    /* the text block's four linear shapes as plain layers, right after: the rate the encode
     * could reach under the same machine load */
    ref_matmuls ref;
    ref_init(&ref, nn, chunk * 81, Wt, dt);
    ref_pass(&ref, nn, dt);
    double ref_s = ref_pass(&ref, nn, dt);
    double ref_rate = ref.flops / ref_s / 1e9;
    const char *ref_kernel = dp_linear_kernel(&ref.lin[0]);
    ref_free(&ref);
    const double flops = total * c->text_layers * (2.0 * 81 * 12.0 * Wt * Wt + 4.0 * 81 * 81 * Wt);
    const double enc_rate = flops / (t_encoded - t_built) / 1e9;
    /* warm, three times: the median */
    double w[3];
    for (int r = 0; r < 3; r++) {
        double a = omp_get_wtime();
        if (dp_text_cache_key_make(&in, &key, &e))
            die("cache key", &e);
        if (dp_text_cache_read(cache, &key, &warm, why, sizeof why) != DP_TEXT_CACHE_HIT) {
            fprintf(stderr, "bench: warm lookup missed: %s\n", why);
            return 1;
        }
        w[r] = omp_get_wtime() - a;
        dp_text_cache_key_free(&key);
        if (r < 2)
            dp_text_features_free(&warm);
    }
    size_t ne = (size_t)cold.n_states * cold.dim;
    int same = memcmp(cold.features, warm.features, ne * sizeof(float)) == 0 &&
               memcmp(cold.abnormal, warm.abnormal, (size_t)cold.dim * sizeof(float)) == 0;
    printf("textcache %s %s, %d defect names, %d threads (tool creation's text step):\n", model,
           dt == DP_C_BF16 ? "bf16" : "f32", n_defects, threads);
    printf("  cold  %9.1f ms   (key %.0f ms, tower build %.0f ms, encode %.0f ms, store %.0f ms)"
           "   target <= 6000 ms (set for bf16 on an AVX-512-BF16 machine)\n", (t1 - t0) * 1e3,
           (t_keyed - t0) * 1e3, (t_built - t_keyed) * 1e3, (t_encoded - t_built) * 1e3,
           (t1 - t_store) * 1e3);
    printf("  encode %8.1f GFLOP/s = %.0f%% of oneDNN %s on the block's shapes at %d rows "
           "(%.1f GFLOP/s, same load): %d sequences per pass\n", enc_rate,
           100.0 * enc_rate / ref_rate, ref_kernel, chunk * 81, ref_rate, chunk);
    printf("  warm  %9.1f ms   (key: 1 MiB CLIP head + vocabulary hashed, file validated and read)"
           "   target <= 300 ms; features %s the cold run's\n", median(w, 3) * 1e3,
           same ? "bit-identical to" : "DIFFERENT FROM");
    dp_text_features_free(&cold);
    dp_text_features_free(&warm);
    dp_nn_free(nn);
    free(nctx); free(actx); free(layer);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
    return same ? 0 : 1;
}

/* A tiled large image through dp_tool_process as a host calls it: the demo model (input 224)
 * with tiling grid, tile 512, overlap 32, batch 2 (81 tiles for 4096 x 4096): one tool at 1
 * thread, one at 2 on its tile workers (process.c), one at 2 on the sequential path, called in
 * turn (same machine load), medians over the rounds. Each line says which path the tool took
 * and how many cores were busy (process CPU time / wall time); the last what one extra worker
 * costs in memory. */
static int bench_tiles(const char *demo_dir, int side, int rounds, int batch)
{
    char dir[] = "/tmp/dp_bench_tiles_XXXXXX", recipe[256];
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench: cannot create a temporary directory\n");
        return 1;
    }
    snprintf(recipe, sizeof recipe, "%s/tiled.yaml", dir);
    /* absolute: the recipe's relative paths would be read against its temporary directory */
    char demo_abs[PATH_MAX], models_abs[PATH_MAX];
    const char *models = getenv("DAPO_MODELS") ? getenv("DAPO_MODELS") : "models";
    if (!realpath(demo_dir, demo_abs) || !realpath(models, models_abs)) {
        fprintf(stderr, "bench: %s or %s not found\n", demo_dir, models);
        return 1;
    }
    demo_dir = demo_abs;
    models = models_abs;
    FILE *f = fopen(recipe, "w");
    if (!f) {
        fprintf(stderr, "bench: cannot write %s\n", recipe);
        return 1;
    }
    fprintf(f, "recipe_version: 1\nproduct: tiled bench\nmodel:\n  clip: %s/clip.safetensors\n"
               "  dapo: %s/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 224\ntiling: {mode: grid, tile: 512, overlap: 32, "
               "batch: %d}\ndefects: [scratch, hole, stain]\ntext_cache: none\n", demo_dir,
            demo_dir, models, batch);
    fclose(f);
    /* 1 thread; 2 threads on the tile workers; 2 threads on the sequential path (every op on
     * the whole team: how tiled images ran before the workers), called in turn */
    enum { CONFIGS = 3 };
    insp_tool *tool[CONFIGS];
    for (int i = 0; i < CONFIGS; i++) {
        insp_host host = { sizeof host, NULL, NULL, i == 0 ? 1 : 2, NULL };
        char err[INSP_ERRBUF_SIZE];
        if (dp_tool_create(&host, recipe, &tool[i], err, sizeof err) != INSP_OK) {
            fprintf(stderr, "bench: tool: %s\n", err);
            return 1;
        }
    }
    tool[2]->tile_path = DP_TILES_SEQUENTIAL;
    uint8_t *px = malloc((size_t)side * side * 3);
    if (!px)
        return 1;
    for (size_t i = 0; i < (size_t)side * side * 3; i++)      /* brushed texture + noise */
        px[i] = (uint8_t)(128 + 40 * sinf(0.013f * (float)(i / 3 % (size_t)side)) +
                          (float)((i * 2654435761u) >> 28));
    insp_image im = { .struct_size = sizeof im, .width = side, .height = side, .channels = 3,
                      .pixel = INSP_PIX_U8, .row_stride = (ptrdiff_t)side * 3, .data = px };
    double *ms[CONFIGS][6];    /* total, towers, preprocess, head, regions, CPU time */
    for (int i = 0; i < CONFIGS; i++)
        for (int k = 0; k < 6; k++)
            ms[i][k] = malloc((size_t)rounds * sizeof(double));
    int tiles = 0;
    dp_err e;
    dp_tiling_count(side, side, 512, 32, &tiles, &e);
    for (int r = -1; r < rounds; r++)     /* r == -1: warm-up */
        for (int i = 0; i < CONFIGS; i++) {
            insp_result *res;
            char err[INSP_ERRBUF_SIZE];
            struct rusage u0, u1;
            getrusage(RUSAGE_SELF, &u0);
            if (dp_tool_process(tool[i], &im, &res, err, sizeof err) != INSP_OK) {
                fprintf(stderr, "bench: process: %s\n", err);
                return 1;
            }
            getrusage(RUSAGE_SELF, &u1);
            if (r >= 0) {
                const insp_timing *tm = &res->timing;
                ms[i][0][r] = tm->total_ms;
                ms[i][1][r] = tm->vision_ms;
                ms[i][2][r] = tm->preprocess_ms;
                ms[i][3][r] = tm->head_ms;
                ms[i][4][r] = tm->post_ms;
                ms[i][5][r] = (double)(u1.ru_utime.tv_sec - u0.ru_utime.tv_sec +
                                       u1.ru_stime.tv_sec - u0.ru_stime.tv_sec) * 1e3 +
                              (double)(u1.ru_utime.tv_usec - u0.ru_utime.tv_usec +
                                       u1.ru_stime.tv_usec - u0.ru_stime.tv_usec) / 1e3;
            }
            dp_result_free(res);
        }
    double med[CONFIGS][6];
    for (int i = 0; i < CONFIGS; i++)
        for (int k = 0; k < 6; k++)
            med[i][k] = median(ms[i][k], rounds);
    const char *policy = getenv("OMP_WAIT_POLICY");
    printf("tiles: %dx%d image, %d tiles of 512 (overlap 32) -> demo model @224 f32, batch %d, "
           "through dp_tool_process, OMP_WAIT_POLICY %s, median of %d rounds, configurations in "
           "turn (compare ratios within this run only):\n", side, side, tiles, batch,
           policy ? policy : "unset", rounds);
    for (int i = 0; i < CONFIGS; i++) {
        const int w = tool[i]->model->n_workers, batches = (tiles + batch - 1) / batch;
        char path[96];
        if (w >= 2 && batches >= w && tool[i]->tile_path == DP_TILES_AUTO)
            snprintf(path, sizeof path, "%d tile workers, %d rounds", w, (batches + w - 1) / w);
        else
            snprintf(path, sizeof path, "sequential, %d batches on the team", batches);
        printf("  %d thread%s %8.0f ms/image (%.2f MP/s, %s; CPU busy x%.2f): towers %.0f ms, "
               "outside the towers %.0f ms = %.1f %% (preprocess %.0f, head + stitching %.0f, "
               "regions %.0f)\n", i ? 2 : 1, i ? "s" : " ", med[i][0],
               (double)side * side / 1e3 / med[i][0], path, med[i][5] / med[i][0], med[i][1],
               med[i][0] - med[i][1], 100.0 * (med[i][0] - med[i][1]) / med[i][0], med[i][2],
               med[i][3], med[i][4]);
    }
    const double scaling = med[0][0] / med[1][0];
    const double outside = 100.0 * (med[1][0] - med[1][1]) / med[1][0];
    printf("  scaling 1 -> 2 threads: x%.2f (target >= 1.8: %s), towers alone x%.2f; time outside "
           "the towers at 2 threads %.1f %% (target <= 10 %%: %s); the sequential path at 2 "
           "threads: x%.2f, %.1f %% outside\n", scaling, scaling >= 1.8 ? "met" : "missed",
           med[0][1] / med[1][1], outside, outside <= 10.0 ? "met" : "missed",
           med[0][0] / med[2][0], 100.0 * (med[2][0] - med[2][1]) / med[2][0]);
    printf("  memory: each extra tile worker holds %.1f MiB (one batch of %d tiles' activations, "
           "attention workspace, oneDNN scratchpad, head scratch), allocated at tool creation\n",
           (double)dp_model_worker_bytes(tool[1]->model) / (1 << 20), batch);
    for (int i = 0; i < CONFIGS; i++) {
        dp_tool_destroy(tool[i]);
        for (int k = 0; k < 6; k++)
            free(ms[i][k]);
    }
    free(px);
    unlink(recipe);
    rmdir(dir);
    return 0;
}

/* ---- dp_regions_find: the current implementation against the previous one (regions_ref.c) --- */

/* One map for the regions benchmark: inputs, both outputs. */
typedef struct rmap {
    const char *name;
    int w, h;
    float *amap;
    uint16_t *types;
    uint8_t *mask_buf;        /* owned, NULL = no mask */
    const uint8_t *mask;      /* row 0 of the mask inside mask_buf */
    ptrdiff_t mask_stride;
    const float *thr;         /* [RB_TYPES + 1] */
} rmap;

enum { RB_TYPES = 4, RB_MAXR = 256 };
static const float RB_THR[RB_TYPES + 1] = { 0.0f, 1.0f, 1.1f, 0.9f, 1.2f };
/* one type much less sensitive, as recipes set it: half of its pixels stay below */
static const float RB_THR_BAND[RB_TYPES + 1] = { 0.0f, 1.0f, 1.1f, 0.9f, 2.55f };

static float u01(rng *r)
{
    return 0.5f * (uniform(r) + 1.0f);
}

/* Types in 64 x 64 patches, as the per-pixel argmax of smooth class maps gives them; or, with
 * per_pixel, drawn for every pixel (class maps too close to call). */
static void rmap_types(rmap *m, rng *r, int per_pixel)
{
    int pw = (m->w + 63) / 64, ph = (m->h + 63) / 64;
    uint16_t *patch = malloc((size_t)pw * ph * sizeof *patch);
    for (int i = 0; i < pw * ph; i++)
        patch[i] = (uint16_t)(1 + (int)(u01(r) * RB_TYPES) % RB_TYPES);
    for (int y = 0; y < m->h; y++)
        for (int x = 0; x < m->w; x++)
            m->types[(size_t)y * m->w + x] =
                per_pixel ? (uint16_t)(1 + (int)(u01(r) * RB_TYPES) % RB_TYPES)
                          : patch[(y / 64) * pw + x / 64];
    free(patch);
}

/* n discs of defective pixels (radius 6..90) on a clean background. */
static void rmap_blobs(rmap *m, rng *r, int n)
{
    for (int b = 0; b < n; b++) {
        int cx = (int)(u01(r) * (float)m->w), cy = (int)(u01(r) * (float)m->h);
        int rad = 6 + (int)(u01(r) * 84.0f);
        for (int y = cy - rad; y <= cy + rad; y++)
            for (int x = cx - rad; x <= cx + rad; x++)
                if (x >= 0 && y >= 0 && x < m->w && y < m->h &&
                    (x - cx) * (x - cx) + (y - cy) * (y - cy) <= rad * rad)
                    m->amap[(size_t)y * m->w + x] = 1.3f + 2.5f * u01(r);
    }
}

/* kind: 0 all defective, 1 clean with 20 blobs, 2 random 30 %, 3 masked (blobs + 2 % specks),
 * 4 checkerboard (one region of single-pixel runs), 5 dots (an isolated pixel per 2x2 block),
 * 6 like 0 with one type's threshold in the middle of the values (pixels between the lowest
 * and highest thresholds look their own up), 7 like 0 with a type drawn for every pixel */
static void rmap_make(rmap *m, int kind, int w, int h)
{
    static const char *const names[] = { "all defective", "20 blobs", "random 30 %",
                                         "mask, blobs + specks", "checkerboard", "dots 2x2",
                                         "all > lowest thr", "all, types per pixel" };
    memset(m, 0, sizeof *m);
    m->name = names[kind];
    m->w = w;
    m->h = h;
    m->thr = kind == 6 ? RB_THR_BAND : RB_THR;
    size_t n = (size_t)w * h;
    m->amap = malloc(n * sizeof *m->amap);
    m->types = malloc(n * sizeof *m->types);
    if (!m->amap || !m->types) {
        fprintf(stderr, "bench: out of memory for a %dx%d map\n", w, h);
        exit(1);
    }
    rng r = { 0x5eed0000u + (uint64_t)kind };
    rmap_types(m, &r, kind == 7);
    for (size_t p = 0; p < n; p++) {
        int x = (int)(p % (size_t)w), y = (int)(p / (size_t)w);
        float clean = 0.6f * u01(&r), bad = 1.3f + 2.5f * u01(&r);
        switch (kind) {
        case 0: case 6: case 7: m->amap[p] = bad; break;
        case 2: m->amap[p] = u01(&r) < 0.3f ? bad : clean; break;
        case 3: m->amap[p] = u01(&r) < 0.02f ? bad : clean; break;
        case 4: m->amap[p] = (x + y) % 2 ? clean : bad; break;
        case 5: m->amap[p] = x % 2 || y % 2 ? clean : bad; break;
        default: m->amap[p] = clean; break;
        }
    }
    if (kind == 1 || kind == 3)
        rmap_blobs(m, &r, 20);
    if (kind == 3) {
        /* an elliptic inspection area in a padded mask, as hosts pass it */
        m->mask_stride = ((ptrdiff_t)w + 127) / 128 * 128;
        m->mask_buf = calloc((size_t)m->mask_stride * h, 1);
        m->mask = m->mask_buf;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double dx = (x - 0.5 * w) / (0.48 * w), dy = (y - 0.5 * h) / (0.48 * h);
                m->mask_buf[(size_t)y * m->mask_stride + x] = dx * dx + dy * dy <= 1.0;
            }
    }
}

static void rmap_free(rmap *m)
{
    free(m->amap);
    free(m->types);
    free(m->mask_buf);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Outputs of one call. */
typedef struct rout {
    uint16_t *label;
    dp_region reg[RB_MAXR];
    int n, total;
} rout;

static double regions_call(const rmap *m, int ref, rout *o, void *ws, size_t ws_size)
{
    dp_err e;
    dp_err_clear(&e);
    double t0 = now_s();
    dp_status s = (ref ? dp_regions_find_ref : dp_regions_find)(
        m->amap, m->types, m->mask, m->mask_stride, m->w, m->h, RB_TYPES, m->thr, 0, o->label,
        o->reg, RB_MAXR, &o->n, &o->total, ws, ws_size, &e);
    double dt = now_s() - t0;
    if (s != DP_OK)
        die(ref ? "regions (previous)" : "regions", &e);
    return dt;
}

/* Whether the two outputs agree: label map, counts and regions exactly, mean within 1e-6. */
static int regions_same(const rmap *m, const rout *a, const rout *b)
{
    if (a->n != b->n || a->total != b->total) {
        printf("  MISMATCH: %d/%d regions vs %d/%d\n", a->n, a->total, b->n, b->total);
        return 0;
    }
    if (memcmp(a->label, b->label, (size_t)m->w * m->h * sizeof *a->label) != 0) {
        printf("  MISMATCH: label maps differ\n");
        return 0;
    }
    for (int i = 0; i < a->n; i++) {
        const dp_region *p = &a->reg[i], *q = &b->reg[i];
        if (p->class_id != q->class_id || p->x != q->x || p->y != q->y || p->w != q->w ||
            p->h != q->h || p->seed_x != q->seed_x || p->seed_y != q->seed_y ||
            p->area != q->area || p->max_score != q->max_score ||
            fabs((double)p->mean_score - q->mean_score) > 1e-6 * fabs((double)q->mean_score)) {
            printf("  MISMATCH: region %d differs\n", i);
            return 0;
        }
    }
    return 1;
}

/* Old and new interleaved (alternating which goes first), medians of `repeats` calls each. */
static int bench_regions(int side, int repeats, int only)
{
    if (side < 1 || only < -1 || only > 7) {
        fprintf(stderr, "bench regions: SIDE %d, KIND %d; expected SIDE >= 1 and KIND 0..7 "
                "(or none: all eight)\n", side, only);
        return 2;
    }
    repeats = repeats < 1 ? 1 : repeats;
    printf("regions: dp_regions_find, previous (regions_ref.c) vs current, %d types, median of "
           "%d calls each, interleaved, 1 thread\n", RB_TYPES, repeats);
    int ok = 1;
    for (int kind = 0; kind < 8; kind++) {
        if (only >= 0 && kind != only)
            continue;
        rmap m;
        rmap_make(&m, kind, kind == 3 ? 2448 : side, kind == 3 ? 2048 : side);
        size_t n = (size_t)m.w * m.h;
        size_t wa = dp_regions_workspace(m.w, m.h, RB_TYPES);
        size_t wb = dp_regions_workspace_ref(m.w, m.h, RB_TYPES);
        size_t wsz = wa > wb ? wa : wb;
        void *ws = malloc(wsz);
        rout o[2] = { { .label = malloc(n * sizeof(uint16_t)) },
                      { .label = malloc(n * sizeof(uint16_t)) } };
        double *t[2] = { malloc((size_t)repeats * sizeof(double)),
                         malloc((size_t)repeats * sizeof(double)) };
        if (!ws || !o[0].label || !o[1].label || !t[0] || !t[1]) {
            fprintf(stderr, "bench: out of memory\n");
            return 1;
        }
        regions_call(&m, 1, &o[1], ws, wsz);      /* warm-up: page in the buffers */
        regions_call(&m, 0, &o[0], ws, wsz);
        for (int i = 0; i < repeats; i++) {
            int first = i % 2;
            t[first][i] = regions_call(&m, first, &o[first], ws, wsz);
            t[!first][i] = regions_call(&m, !first, &o[!first], ws, wsz);
        }
        int same = regions_same(&m, &o[0], &o[1]);
        ok &= same;
        size_t defective = 0;
        for (size_t p = 0; p < n; p++)
            defective += o[1].label[p] != 0;
        double told = median(t[1], repeats) * 1e3, tnew = median(t[0], repeats) * 1e3;
        printf("  %-20s %4dx%-4d %5.1f %% defective %7d regions: previous %8.2f ms, current "
               "%8.2f ms, ratio %.3f%s\n", m.name, m.w, m.h, 100.0 * (double)defective / (double)n,
               o[1].total, told, tnew, tnew / told, same ? "" : "  OUTPUTS DIFFER");
        free(t[0]);
        free(t[1]);
        free(o[0].label);
        free(o[1].label);
        free(ws);
        rmap_free(&m);
    }
    return ok ? 0 : 1;
}

/* Busy work on one core for `seconds`, as another program on the line PC would do. */
static int spin(double seconds)
{
    volatile double x = 0;
    double end = omp_get_wtime() + seconds;
    while (omp_get_wtime() < end)
        for (int i = 0; i < 100000; i++)
            x += 1e-9 * i;
    return x < 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench vision {B16|L14} SIZE {f32|bf16|int8} [REPEATS]\n"
                    "       bench text {B16|L14} DEFECTS {f32|bf16} [CHUNK]\n"
                    "       bench textcache {B16|L14} DEFECTS {f32|bf16}\n"
                    "       bench tiles DEMO_DIR SIDE [ROUNDS [BATCH]]\n"
                    "       bench train-vision {B16|L14} SIZE BATCH [REPEATS (0: no warm-up)]\n"
                    "       bench train-step CLIP.safetensors VOCAB SIZE BATCH [STEPS (2)]\n"
                    "       bench regions [SIDE (4096) [REPEATS (7) [KIND (0..7, all)]]]\n"
                    "       bench spin SECONDS\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "spin") == 0)
        return spin(atof(argv[2]));
    if (argc >= 2 && strcmp(argv[1], "regions") == 0)
        return bench_regions(argc > 2 ? atoi(argv[2]) : 4096, argc > 3 ? atoi(argv[3]) : 7,
                             argc > 4 ? atoi(argv[4]) : -1);
    if (argc >= 4 && strcmp(argv[1], "tiles") == 0)
        return bench_tiles(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 3,
                           argc > 5 ? atoi(argv[5]) : 2);
    if (argc >= 6 && strcmp(argv[1], "train-step") == 0)
        return bench_train_step(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]),
                                argc > 6 ? atoi(argv[6]) : 2);
    if (argc >= 5 && strcmp(argv[1], "train-vision") == 0)
        return bench_train_vision(argv[2], atoi(argv[3]), atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 1);
    const int typed = argc >= 5 && (!strcmp(argv[1], "vision") || !strcmp(argv[1], "text") ||
                                    !strcmp(argv[1], "textcache"));
    if (!typed || (strcmp(argv[4], "f32") && strcmp(argv[4], "bf16") && strcmp(argv[4], "int8")))
        return usage();
    dp_dtype_c dt = strcmp(argv[4], "bf16") == 0 ? DP_C_BF16
                  : strcmp(argv[4], "int8") == 0 ? DP_C_INT8 : DP_C_F32;
    if (dt == DP_C_INT8 && strcmp(argv[1], "vision") != 0) {
        fprintf(stderr, "bench: int8 is a vision-tower precision (the text tower runs f32/bf16)\n");
        return 2;
    }
    if (dt == DP_C_BF16 && !dp_nn_cpu_has_bf16()) {
        printf("%s %s: this CPU has no native bf16; skipped\n", argv[1], argv[2]);
        return 0;
    }
    if (strcmp(argv[1], "vision") == 0)
        return bench_vision(argv[2], atoi(argv[3]), dt, argc > 5 ? atoi(argv[5]) : 5);
    if (strcmp(argv[1], "textcache") == 0)
        return bench_textcache(argv[2], atoi(argv[3]), dt);
    return bench_text(argv[2], atoi(argv[3]), dt, argc > 5 ? atoi(argv[5]) : 40);
}
