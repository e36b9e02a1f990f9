/* Soak test (make soak, not in CI): a host that never stops. Through the loader and the API table
 * on the golden tiny model:
 *   1. CALLS process calls (default 100000) on images of varying size, pixel type, channels,
 *      ROI and mask, alternating a squashing and a tiling tool, with set_param now and then;
 *   2. CYCLES tool create/destroy cycles (default 1000), each with one process call.
 * Resident memory (VmRSS) is sampled along the way and printed; after a warm-up (the first 10 %,
 * when scratch buffers reach the largest image) it must stay within SOAK_RSS_SLACK_MB (default 16)
 * of its post-warm-up level, else the exit code is 1. Usage:
 *   soak PLUGIN.so RECIPE_DIR_TMP [CALLS [CYCLES]]   (make soak passes them) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "golden.h"
#include "loader.h"

static const insp_api *A;

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* splitmix64: reproducible image parameters */
static uint64_t rng_state = 0x5eed;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int write_recipe(const char *path, const char *extra)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "recipe_version: 1\nproduct: soak\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
               "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 56\nthreads: 1\ndefects: [hole, scratch]\n%s",
            golden_dir(), golden_dir(), models_dir(), extra);
    return fclose(f);
}

enum { MAX_W = 320, MAX_H = 240 };

/* Fills a random view over buf/mask (caller-owned, large enough for MAX_W x MAX_H x 3 floats). */
static insp_image random_view(float *buf, uint8_t *mask)
{
    insp_image v = { .struct_size = sizeof v };
    v.width = 16 + (int)(rnd() % (MAX_W - 15));
    v.height = 16 + (int)(rnd() % (MAX_H - 15));
    v.channels = rnd() % 2 ? 3 : 1;
    v.pixel = 1 + (int)(rnd() % 3);
    size_t sample = INSP_PIXEL_BYTES(v.pixel);
    v.row_stride = (ptrdiff_t)(v.width * v.channels * sample + (rnd() % 3) * sample);
    v.data = buf;
    uint64_t seed = rnd();
    if (v.pixel == INSP_PIX_F32)
        for (int i = 0; i < v.height * (int)(v.row_stride / 4); i++)
            buf[i] = (float)((seed + (uint64_t)i * 2654435761u) % 1000) / 1000.0f;
    else
        for (size_t i = 0; i < (size_t)v.height * (size_t)v.row_stride; i++)
            ((uint8_t *)buf)[i] = (uint8_t)(seed + i * 131);
    if (rnd() % 2) {
        v.roi_x = (int)(rnd() % (v.width / 2));
        v.roi_y = (int)(rnd() % (v.height / 2));
        v.roi_w = 1 + (int)(rnd() % (v.width - v.roi_x));
        v.roi_h = 1 + (int)(rnd() % (v.height - v.roi_y));
    }
    if (rnd() % 3 == 0) {
        v.mask = mask;
        v.mask_stride = v.width;
        for (int i = 0; i < v.width * v.height; i++)
            mask[i] = (uint8_t)((i / 7 + seed) % 5 != 0);
        /* keep the inspected rectangle's first pixel: a mask that hides all of it is refused
         * ("nothing to inspect"), which is not what this loop measures */
        mask[(size_t)v.roi_y * v.width + v.roi_x] = 1;
    }
    return v;
}

int main(int argc, char **argv)
{
    /* tests never write the real ~/.cache: the text-feature cache is off unless a test's
     * recipe names a temporary directory (the recipe's text_cache wins over this) */
    setenv("DAPO_TEXT_CACHE", "none", 1);
    if (argc < 3) {
        fprintf(stderr, "usage: soak PLUGIN.so TMP_DIR [CALLS [CYCLES]]\n");
        return 2;
    }
    long calls = argc > 3 ? atol(argv[3]) : 100000, cycles = argc > 4 ? atol(argv[4]) : 1000;
    long slack_mb = getenv("SOAK_RSS_SLACK_MB") ? atol(getenv("SOAK_RSS_SLACK_MB")) : 16;
    char err[INSP_ERRBUF_SIZE], squash[512], tiled[512];
    insp_module mod;
    if (insp_loader_open(argv[1], &mod, err, sizeof err) != INSP_OK) {
        fprintf(stderr, "soak: %s\n", err);
        return 2;
    }
    A = mod.api;
    snprintf(squash, sizeof squash, "%s/squash.yaml", argv[2]);
    snprintf(tiled, sizeof tiled, "%s/tiled.yaml", argv[2]);
    if (write_recipe(squash, "") || write_recipe(tiled, "tiling: {mode: grid, tile: 112, overlap: 16}\n")) {
        fprintf(stderr, "soak: cannot write recipes in %s\n", argv[2]);
        return 2;
    }
    insp_tool *tools[2] = { NULL, NULL };
    const char *recipes[2] = { squash, tiled };
    for (int i = 0; i < 2; i++)
        if (A->tool_create(NULL, recipes[i], &tools[i], err, sizeof err) != INSP_OK) {
            fprintf(stderr, "soak: %s\n", err);
            return 2;
        }
    float *buf = malloc((size_t)MAX_W * MAX_H * 3 * sizeof(float) + 64);
    uint8_t *mask = malloc((size_t)MAX_W * MAX_H);
    if (!buf || !mask)
        return 2;

    int bad = 0;
    long failures = 0, ng = 0;
    const long step = calls >= 20 ? calls / 20 : 1, warm = calls / 10;
    long rss_warm = -1, rss_max = 0, rss_start = rss_kb();
    double t0 = now_s();
    printf("soak: %ld process calls (images 16..%dx16..%d, U8/U16/F32, 1/3 channels, ROI, mask; "
           "squash and tiled tools), RSS sampled every %ld calls\n", calls, MAX_W, MAX_H, step);
    printf("  %9s %9s %10s %8s\n", "calls", "RSS MB", "calls/s", "NG");
    printf("  %9d %9.1f\n", 0, rss_start / 1024.0);
    for (long i = 1; i <= calls; i++) {
        insp_image v = random_view(buf, mask);
        insp_tool *t = tools[i % 2];
        insp_result *r = NULL;
        if (i % 1000 == 0)
            A->tool_set_param(t, INSP_PARAM_IMAGE_THRESHOLD, i % 2000 ? "0.5" : "0.7", err, sizeof err);
        if (A->tool_process(t, &v, &r, err, sizeof err) != INSP_OK) {
            if (failures++ < 5)
                fprintf(stderr, "  call %ld: %s\n", i, err);
        } else {
            ng += A->result_decision(r) != INSP_DECISION_OK;
            A->result_release(r);
        }
        if (i % step == 0 || i == calls) {
            long kb = rss_kb();
            if (i >= warm && rss_warm < 0)
                rss_warm = kb;
            if (i >= warm && kb > rss_max)
                rss_max = kb;
            printf("  %9ld %9.1f %10.0f %8ld\n", i, kb / 1024.0, i / (now_s() - t0), ng);
            fflush(stdout);
        }
    }
    long growth = rss_max - rss_warm;
    printf("soak: process: RSS after warm-up %.1f MB, highest after %.1f MB (growth %.1f MB, "
           "allowed %ld), %ld failed calls\n", rss_warm / 1024.0, rss_max / 1024.0, growth / 1024.0,
           slack_mb, failures);
    bad |= growth > slack_mb * 1024 || failures > 0;
    for (int i = 0; i < 2; i++)
        A->tool_destroy(tools[i]);

    const long cstep = cycles >= 10 ? cycles / 10 : 1;
    long c_warm = -1, c_max = 0;
    t0 = now_s();
    printf("soak: %ld tool create/destroy cycles with one process call each\n", cycles);
    for (long i = 1; i <= cycles; i++) {
        insp_tool *t = NULL;
        if (A->tool_create(NULL, recipes[i % 2], &t, err, sizeof err) != INSP_OK) {
            fprintf(stderr, "  cycle %ld: %s\n", i, err);
            bad = 1;
            break;
        }
        insp_image v = random_view(buf, mask);
        insp_result *r = NULL;
        if (A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK)
            A->result_release(r);
        else
            failures++;
        A->tool_destroy(t);
        if (i % cstep == 0 || i == cycles) {
            long kb = rss_kb();
            if (i >= cycles / 10 && c_warm < 0)
                c_warm = kb;
            if (i >= cycles / 10 && kb > c_max)
                c_max = kb;
            printf("  %9ld cycles %9.1f MB RSS %8.1f cycles/s\n", i, kb / 1024.0, i / (now_s() - t0));
            fflush(stdout);
        }
    }
    printf("soak: create/destroy: RSS after warm-up %.1f MB, highest after %.1f MB (growth %.1f MB, "
           "allowed %ld)\n", c_warm / 1024.0, c_max / 1024.0, (c_max - c_warm) / 1024.0, slack_mb);
    bad |= (c_max - c_warm) > slack_mb * 1024 || failures > 0;
    free(buf);
    free(mask);
    insp_loader_close(&mod);
    printf("soak: %s\n", bad ? "FAILED" : "flat");
    return bad ? 1 : 0;
}
