/* Performance figures (not a test): random-weight CLIP towers with the DAPO shape built in
 * memory, timed per image, compared with a plain oneDNN matmul on the same layer shapes in the
 * same process. Usage:
 *   bench vision {B16|L14} SIZE {f32|bf16} [REPEATS]
 *   bench text   {B16|L14} DEFECTS {f32|bf16}
 *   bench spin   SECONDS     (keeps one core busy: the contention benchmark's "other work")
 * One configuration per process, so the peak resident memory printed is that configuration's. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_text.h"
#include "clip_vision.h"
#include "model.h"
#include "tokenizer.h"
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

/* The tower's four linear shapes as plain oneDNN matmuls: the reference rate. Timed once after
 * every tower run, so both see the same machine load (this machine is shared). */
typedef struct ref_matmuls {
    dp_linear lin[4];
    void *src, *dst;
    int rows;
    double flops;     /* one pass over the four shapes */
} ref_matmuls;

static void ref_init(ref_matmuls *r, dp_nn *nn, int rows, int W, dp_dtype_c dt)
{
    const int shapes[4][2] = { { W, 3 * W }, { W, W }, { W, 4 * W }, { 4 * W, W } };
    r->rows = rows;
    r->flops = 0;
    r->src = calloc((size_t)rows * 4 * W, dp_dtype_size(dt));
    r->dst = calloc((size_t)rows * 4 * W, dp_dtype_size(dt));
    for (int s = 0; s < 4; s++) {
        int k = shapes[s][0], n = shapes[s][1];
        float *w = random_array((size_t)k * n, 7 + s, 0.02f);
        dp_err e;
        if (dp_linear_init(nn, &r->lin[s], w, NULL, k, n, rows, dt, &e))
            die("matmul", &e);
        free(w);
        r->flops += 2.0 * rows * k * n;
    }
}

/* Seconds for one pass over the four shapes, weighted as in a block (1 each). */
static double ref_pass(ref_matmuls *r, dp_nn *nn, dp_dtype_c dt)
{
    dp_err e;
    double t0 = omp_get_wtime();
    for (int s = 0; s < 4; s++)
        dp_linear_run(nn, &r->lin[s], r->src, r->rows, r->lin[s].in, r->dst, r->lin[s].out, dt,
                      DP_EPI_NONE, &e);
    return omp_get_wtime() - t0;
}

static void ref_free(ref_matmuls *r)
{
    for (int s = 0; s < 4; s++)
        dp_linear_free(&r->lin[s]);
    free(r->src);
    free(r->dst);
}

static int bench_vision(const char *model, int size, dp_dtype_c dt, int repeats)
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
    dp_vision_options vo = { size, 1, dt, { 0 }, 0 };
    for (int j = 0; j < 4; j++)
        vo.feature_layers[j] = c->vision_layers * (j + 1) / 4;
    dp_vision *v;
    double t0 = omp_get_wtime();
    if (dp_vision_build(nn, &src, &vo, prompts, aw, ab, &v, &e))
        die("vision build", &e);
    double build_s = omp_get_wtime() - t0;
    free(prompts);
    for (int j = 0; j < 4; j++) {
        free(aw[j]);
        free(ab[j]);
    }
    /* 20 defect states: text features random unit vectors (the head's cost only) */
    dp_text_features tf = { 21, E, random_array((size_t)21 * E, 99, 1.0f), random_array((size_t)E, 98, 1.0f),
                            NULL, NULL };
    const int G = dp_vision_grid(v), GG = G * G;
    /* the model as the plugin runs it: dp_model_run, then dp_model_head */
    dp_model_options mo = { .image_size = size, .max_batch = 1, .precision = dt, .threads = threads };
    dp_model *m;
    if (dp_model_assemble(nn, v, &tf, &mo, &m, &e))
        die("model", &e);
    float *pre = random_array((size_t)3 * size * size, 5, 1.5f);
    float *amap = malloc((size_t)size * size * sizeof *amap);
    uint16_t *label = malloc((size_t)size * size * sizeof *label);
    double *tower = malloc((size_t)(repeats + 1) * sizeof *tower), *total = malloc((size_t)(repeats + 1) * sizeof *total);
    double *attn = malloc((size_t)(repeats + 1) * sizeof *attn);
    double *ratio = malloc((size_t)(repeats + 1) * sizeof *ratio), *mm = malloc((size_t)(repeats + 1) * sizeof *mm);
    const double T = 1 + 4 + GG;
    double flops = c->vision_layers * (2.0 * T * 12.0 * W * W + 4.0 * T * T * W) +
                   2.0 * GG * 3.0 * c->patch_size * c->patch_size * W + 4 * 2.0 * GG * W * E;
    double attn_flops = c->vision_layers * 4.0 * T * T * W;
    long peak = 0;
    ref_matmuls ref;
    for (int r = 0; r <= repeats; r++) {     /* r == 0 is the warm-up */
        double a = omp_get_wtime();
        if (dp_model_run(m, pre, 1, &e))
            die("vision run", &e);
        double b = omp_get_wtime();
        dp_head_out ho = { .anomaly = amap, .defect_type = label };
        if (dp_model_head(m, 0, size, size, &ho, &e))
            die("head", &e);
        double cend = omp_get_wtime();
        if (r == 0) {
            /* the tower's peak is reached by now; the reference layers come afterwards */
            peak = peak_rss_kb();
            ref_init(&ref, nn, (int)T, W, dt);
            ref_pass(&ref, nn, dt);
            continue;
        }
        tower[r - 1] = b - a;
        total[r - 1] = cend - a;
        attn[r - 1] = dp_vision_attention_seconds(v);
        double ref_s = ref_pass(&ref, nn, dt);
        mm[r - 1] = ref.flops / ref_s / 1e9;
        ratio[r - 1] = (flops / (b - a) / 1e9) / mm[r - 1];
    }
    ref_free(&ref);
    double med_tower = median(tower, repeats), med_total = median(total, repeats);
    double med_attn = median(attn, repeats);
    double rate = median(mm, repeats), med_ratio = median(ratio, repeats);
    double achieved = flops / med_tower / 1e9;
    const char *dts = dt == DP_C_BF16 ? "bf16" : "f32";
    printf("vision %s@%d %s: tokens %d, %.1f GFLOP/image, %d threads, median of %d after warm-up\n",
           model, size, dts, (int)T, flops / 1e9, threads, repeats);
    printf("  tower + head   %9.1f ms/image   (tower %.1f ms, head %.1f ms)\n", med_total * 1e3,
           med_tower * 1e3, (med_total - med_tower) * 1e3);
    printf("  tower rate     %9.1f GFLOP/s    = %.0f%% of oneDNN matmul on these shapes (%.1f GFLOP/s;"
           " median of per-run ratios, each run next to its own matmul timing)\n",
           achieved, 100.0 * med_ratio, rate);
    printf("  attention      %9.1f ms/image   = %.1f%% of tower time (%.0f GFLOP/s, %.1f%% of flops)\n",
           med_attn * 1e3, 100.0 * med_attn / med_tower, attn_flops / med_attn / 1e9,
           100.0 * attn_flops / flops);
    size_t wbytes = dp_vision_weight_bytes(v), abytes = dp_vision_arena_bytes(v);
    printf("  memory         weights %.1f MB, activations %.1f MB, peak RSS %.1f MB "
           "(budget 1.3 x weights + 300 MB = %.1f MB)\n", wbytes / 1e6, abytes / 1e6, peak / 1e3,
           (1.3 * wbytes + 300e6) / 1e6);
    printf("  build          %9.1f ms (weights reordered, primitives created)\n", build_s * 1e3);
    if (strcmp(model, "L14") == 0 && size == 518)
        printf("  yardsticks     PyTorch 1.13 bf16 2400 ms -> x%.2f, ONNX Runtime f32 3540 ms -> x%.2f "
               "(figures quoted for this kind of machine, not re-measured here)\n",
               2400.0 / (med_total * 1e3), 3540.0 / (med_total * 1e3));
    dp_model_free(m);     /* the tower, the text features and the context with it */
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

static int bench_text(const char *model, int n_defects, dp_dtype_c dt)
{
    random_source rs = { model_config(model), 43 };
    dp_weight_source src = { &rs, &rs.cfg, random_read, random_pos };
    const dp_model_config *c = &rs.cfg;
    const int Wt = c->text_width;
    static const char *names[] = { "bent", "broken", "discoloration", "compound", "contamination",
                                   "crack", "cut", "fabric", "faulty imprint", "gluing", "hole",
                                   "missing", "puncture", "rough", "scratch", "compressed",
                                   "threading", "liquid", "misaligned", "wear" };
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
    if (dp_text_build(nn, &src, dt, 40, nctx, actx, layer, &t, &e))
        die("text build", &e);
    double t1 = omp_get_wtime();
    dp_text_features tf;
    if (dp_text_encode(t, tok, names, n_defects, &tf, &e))
        die("text encode", &e);
    double t2 = omp_get_wtime();
    int seqs = (1 + n_defects) * 10;
    double flops = seqs * c->text_layers * (2.0 * 81 * 12.0 * Wt * Wt + 4.0 * 81 * 81 * Wt);
    printf("text %s %s, %d defect names (%d sequences of 81 tokens, %.0f GFLOP):\n", model,
           dt == DP_C_BF16 ? "bf16" : "f32", n_defects, seqs, flops / 1e9);
    printf("  build %.1f ms, encode %.1f ms (%.1f GFLOP/s), peak RSS %.1f MB\n", (t1 - t0) * 1e3,
           (t2 - t1) * 1e3, flops / (t2 - t1) / 1e9, peak_rss_kb() / 1e3);
    dp_text_features_free(&tf);
    dp_text_free(t);
    dp_nn_free(nn);
    dp_tokenizer_free(tok);
    free(nctx); free(actx); free(layer);
    return 0;
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

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "spin") == 0)
        return spin(atof(argv[2]));
    if (argc >= 5 && strcmp(argv[1], "train-vision") == 0)
        return bench_train_vision(argv[2], atoi(argv[3]), atoi(argv[4]), argc > 5 ? atoi(argv[5]) : 1);
    if (argc < 5) {
        fprintf(stderr, "usage: bench vision {B16|L14} SIZE {f32|bf16} [REPEATS]\n"
                        "       bench text {B16|L14} DEFECTS {f32|bf16}\n"
                        "       bench train-vision {B16|L14} SIZE BATCH [REPEATS (0: no warm-up)]\n"
                        "       bench spin SECONDS\n");
        return 2;
    }
    dp_dtype_c dt = strcmp(argv[4], "bf16") == 0 ? DP_C_BF16 : DP_C_F32;
    if (dt == DP_C_BF16 && !dp_nn_cpu_has_bf16()) {
        printf("%s %s: this CPU has no native bf16; skipped\n", argv[1], argv[2]);
        return 0;
    }
    if (strcmp(argv[1], "vision") == 0)
        return bench_vision(argv[2], atoi(argv[3]), dt, argc > 5 ? atoi(argv[5]) : 5);
    return bench_text(argv[2], atoi(argv[3]), dt);
}
