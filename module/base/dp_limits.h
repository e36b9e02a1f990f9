/* The plugin's limits: each has this one home, every check and every message uses the name. */
#ifndef DP_LIMITS_H
#define DP_LIMITS_H

#include <stdint.h>

/* Defect types per recipe (and per encoded text list); states = normal + defects. */
#define DP_MAX_DEFECTS 64
#define DP_MAX_STATES (1 + DP_MAX_DEFECTS)

/* Image views and inspected areas: per side, and in total (2^28 = 268,435,456 pixels). */
#define DP_MAX_IMAGE_SIDE 32768
#define DP_MAX_IMAGE_PIXELS (INT64_C(1) << 28)

/* Sides the resamplers accept (input images, tiles, positional tables). */
#define DP_RESAMPLE_MAX_SIDE 65535

/* Defect regions reported per result; the strongest are kept. */
#define DP_MAX_REGIONS 256

/* Largest minimum region area a recipe or a host may set, in input pixels. */
#define DP_MAX_REGION_AREA 100000000

/* Per-call working memory a tool keeps between tool_process calls (ROI as RGB8, resized tiles,
 * stitching accumulators, label and region workspaces). Above it, the buffers are released
 * after the call, so one huge image does not pin gigabytes until tool_destroy; calls on
 * images up to about 5 megapixels (whole) keep theirs and allocate nothing. */
#define DP_TOOL_SCRATCH_KEEP_BYTES ((size_t)64 << 20)

/* safetensors headers (JSON): the largest accepted, refused before parsing. CLIP ViT-L/14
 * files carry about 70 KB (some 600 tensors); 4 MiB leaves room for any CLIP-sized model. */
#define DP_ST_MAX_HEADER_BYTES ((uint64_t)4 << 20)

/* Memory the JSON reader may allocate for a document: this many bytes per byte of text plus
 * DP_JSON_MEMORY_BASE, so parsing memory is bounded by the text's size whatever its shape
 * (a run of "[0,0,0,..." would cost ~45 bytes per byte; safetensors headers about 10). */
#define DP_JSON_MEMORY_PER_BYTE 32
#define DP_JSON_MEMORY_BASE ((size_t)1 << 20)

/* The square side the network sees (recipe input_size), in pixels; it must also be a multiple
 * of the model's patch size. */
#define DP_MIN_INPUT_SIZE 28
#define DP_MAX_INPUT_SIZE 2016

/* Worker threads of one tool. */
#define DP_MAX_THREADS 256

#endif
