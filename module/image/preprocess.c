/* CLIP normalisation of the resized 8-bit image (tests/golden/README.md §1). */
#include "preprocess.h"

static const float CLIP_MEAN[3] = { DP_CLIP_MEAN_R, DP_CLIP_MEAN_G, DP_CLIP_MEAN_B };
static const float CLIP_STD[3] = { DP_CLIP_STD_R, DP_CLIP_STD_G, DP_CLIP_STD_B };

void dp_normalize_clip(const uint8_t *rgb, int size, ptrdiff_t stride, float *chw)
{
    if (!rgb || !chw || size <= 0)
        return; /* void by contract: nothing sensible to write */
    /* 256-entry table per channel: the same three float32 operations per value, done once */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x = (float)v / 255.0f;   /* separate statements: no contraction, exact order */
            x = x - CLIP_MEAN[c];
            lut[c][v] = x / CLIP_STD[c];
        }
    size_t plane = (size_t)size * (size_t)size;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = rgb + (ptrdiff_t)y * stride;
        float *r = chw + (size_t)y * (size_t)size;
        for (int x = 0; x < size; x++) {
            r[x] = lut[0][row[3 * x]];
            r[plane + (size_t)x] = lut[1][row[3 * x + 1]];
            r[2 * plane + (size_t)x] = lut[2][row[3 * x + 2]];
        }
    }
}
