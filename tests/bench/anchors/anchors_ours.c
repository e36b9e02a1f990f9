/* Our side of the live anchors (tests/bench/anchors.sh): the DAPO vision tower (prompts,
 * 4 adapters, global embedding) with random weights that anchors_torch.py regenerates bit for
 * bit, so the outputs of the two can be compared. A worker driven over stdin/stdout, so that the
 * orchestrator can interleave it with the anchors without rebuilding it:
 *   anchors_ours {B16|L14} SIZE {f32|bf16}      builds, warms up, prints "ready ..."
 *   then lines: "run N" -> "ms T1 .. TN" (tower per image), "dump FILE" -> "dumped", "quit".
 * Not part of build/bench (which compiles every .c file in tests/bench): it has its own main. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_vision.h"
#include "model.h"

/* Counter-based generator: element i of tensor `name` depends only on (name, i), so numpy can
 * produce the same values vectorised (anchors_torch.py, gen()). */
static uint64_t name_seed(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    return h;
}

static uint64_t splitmix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* base + amp * u, u uniform in [-1, 1) with 24 bits: exact in float, as in numpy. */
static void gen(const char *name, float base, float amp, float *dst, size_t n)
{
    uint64_t s = name_seed(name);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = splitmix(s + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
        float u = (float)((double)(h >> 40) * (1.0 / 8388608.0)) - 1.0f;
        float a = amp * u;
        dst[i] = base + a;
    }
}

/* Same amplitudes as build/bench: layer-norm gains near 1, everything else small. */
static void amplitude(const char *name, float *base, float *amp)
{
    *base = 0, *amp = 0.02f;
    if (strstr(name, "ln_"))
        *base = strstr(name, "weight") ? 1.0f : 0.0f, *amp = 0.05f;
}

static dp_status read_tensor(void *ctx, const char *name, float *dst, size_t n, dp_err *err)
{
    float base, amp;
    amplitude(name, &base, &amp);
    gen(name, base, amp, dst, n);
    (void)ctx, (void)err;
    return DP_OK;
}

static dp_status read_pos(void *ctx, int grid, float *dst, dp_err *err)
{
    const dp_model_config *c = ctx;
    gen("visual.positional_embedding", 0, 0.02f, dst, (size_t)(1 + grid * grid) * c->vision_width);
    (void)err;
    return DP_OK;
}

static float *gen_new(const char *name, float amp, size_t n)
{
    float *a = malloc(n * sizeof *a);
    if (!a) {
        fprintf(stderr, "anchors_ours: out of memory\n");
        exit(1);
    }
    gen(name, 0, amp, a, n);
    return a;
}

/* The instruction set oneDNN uses: the CPU's, lowered by ONEDNN_MAX_CPU_ISA if set. */
static const char *isa_cap(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "SSE4.1";
    case dnnl_cpu_isa_avx: return "AVX";
    case dnnl_cpu_isa_avx2: return "AVX2";
    case dnnl_cpu_isa_avx2_vnni: return "AVX2-VNNI";
    case dnnl_cpu_isa_avx512_core: return "AVX-512";
    case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 VNNI";
    case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 BF16";
    case dnnl_cpu_isa_avx512_core_amx: return "AMX";
    default: return "other";
    }
}

static void die(const char *what, const dp_err *e)
{
    fprintf(stderr, "anchors_ours: %s: %s\n", what, e->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: anchors_ours {B16|L14} SIZE {f32|bf16}\n");
        return 2;
    }
    dp_model_config c = { 0 };
    if (strcmp(argv[1], "L14") == 0) {
        c.vision_width = 1024; c.vision_layers = 24; c.vision_heads = 16; c.patch_size = 14;
        c.embed_dim = 768; c.native_grid = 24;
    } else {
        c.vision_width = 768; c.vision_layers = 12; c.vision_heads = 12; c.patch_size = 16;
        c.embed_dim = 512; c.native_grid = 14;
    }
    const int size = atoi(argv[2]), W = c.vision_width, E = c.embed_dim;
    dp_dtype_c dt = strcmp(argv[3], "bf16") == 0 ? DP_C_BF16 : DP_C_F32;
    if (dt == DP_C_BF16 && !dp_nn_cpu_has_bf16()) {
        fprintf(stderr, "anchors_ours: this CPU has no native bf16\n");
        return 3;
    }
    dp_weight_source src = { &c, &c, read_tensor, read_pos };
    dp_err e;
    dp_nn *nn;
    if (dp_nn_create(omp_get_max_threads(), &nn, &e))
        die("context", &e);
    float *prompts = gen_new("dapo.visual_prompts", 0.06f, (size_t)c.vision_layers * DP_VISUAL_PROMPTS * W);
    float *aw[4], *ab[4];
    for (int j = 0; j < 4; j++) {
        char n[64];
        snprintf(n, sizeof n, "dapo.adapter.%d.weight", j);
        aw[j] = gen_new(n, 0.03f, (size_t)E * W);
        snprintf(n, sizeof n, "dapo.adapter.%d.bias", j);
        ab[j] = gen_new(n, 0.01f, (size_t)E);
    }
    dp_vision_options vo = { size, 1, dt, { 0 }, 0 };
    for (int j = 0; j < 4; j++)
        vo.feature_layers[j] = c.vision_layers * (j + 1) / 4;
    double t0 = omp_get_wtime();
    dp_vision *v;
    if (dp_vision_build(nn, &src, &vo, prompts, aw, ab, &v, &e))
        die("vision build", &e);
    free(prompts);
    for (int j = 0; j < 4; j++) {
        free(aw[j]);
        free(ab[j]);
    }
    float *pre = gen_new("input", 1.5f, (size_t)3 * size * size);
    if (dp_vision_run(v, pre, 1, NULL, &e))     /* warm-up */
        die("vision run", &e);
    printf("ready build+warm-up %.0f ms, %d threads, %s, oneDNN %d.%d.%d, ISA %s\n",
           (omp_get_wtime() - t0) * 1e3, omp_get_max_threads(), dt == DP_C_BF16 ? "bf16" : "f32",
           dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch, isa_cap());
    fflush(stdout);

    const int GG = dp_vision_grid(v) * dp_vision_grid(v);
    char line[1200];
    while (fgets(line, sizeof line, stdin)) {
        int n;
        char path[1100];
        if (sscanf(line, "run %d", &n) == 1) {
            printf("ms");
            for (int i = 0; i < n; i++) {
                double a = omp_get_wtime();
                if (dp_vision_run(v, pre, 1, NULL, &e))
                    die("vision run", &e);
                printf(" %.2f", (omp_get_wtime() - a) * 1e3);
            }
            printf("\n");
        } else if (sscanf(line, "dump %1099s", path) == 1) {
            /* [4][G*G][E] adapted features, then [E] global: the layout anchors_torch.py writes */
            FILE *f = fopen(path, "wb");
            int ok = f != NULL;
            for (int j = 0; ok && j < 4; j++)
                ok = fwrite(dp_vision_adapted(v, j, 0), sizeof(float), (size_t)GG * E, f) == (size_t)GG * E;
            ok = ok && fwrite(dp_vision_global(v, 0), sizeof(float), (size_t)E, f) == (size_t)E;
            if (f && fclose(f))
                ok = 0;
            if (ok)
                printf("dumped\n");
            else
                printf("error writing %s\n", path);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("error: unknown command\n");
        }
        fflush(stdout);
    }
    dp_vision_free(v);
    dp_nn_free(nn);
    free(pre);
    return 0;
}
