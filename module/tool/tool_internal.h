/* The plugin's tool and result objects, shared by tool.c, process.c, result.c and api.c. */
#ifndef DP_TOOL_INTERNAL_H
#define DP_TOOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dp_file.h"
#include "dp_limits.h"
#include "insp_tool.h"
#include "model.h"
#include "recipe.h"
#include "regions.h"
#include "status.h"
#include "tiling.h"


/* Handle tags. A live handle carries its tag; destroy/release overwrite it with
 * DP_HANDLE_TAG_DEAD just before the memory is freed, so a destroyed tool or a released result
 * passed back in is refused (INSP_E_ARG) as long as the freed block has not been reused:
 * best effort, without global state. The tag sits after the first 32 bytes because
 * allocators keep their own data there in a freed block (glibc: tcache and bin links, up to
 * 4 pointers; ASan: the free context). */
#define DP_TOOL_TAG_LIVE   UINT64_C(0x4c4f4f5450414444)   /* "DDAPTOOL" */
#define DP_RESULT_TAG_LIVE UINT64_C(0x5345525041504444)   /* "DDAPRES" */
#define DP_HANDLE_TAG_DEAD UINT64_C(0x444145444541440a)

/* The plugin's version: the API table reports it, the text-feature cache keys on it. */
#define DP_PLUGIN_VERSION "0.1.0"

struct insp_tool {
    unsigned char allocator_reserved[32];   /* see the handle tags above */
    uint64_t tag;                   /* DP_TOOL_TAG_LIVE from tool_create to tool_destroy */
    dp_recipe recipe;               /* owned */
    insp_host host;                 /* copy; host.log may be NULL */
    dp_model *model;                /* owned */
    char *text_cache_dir;           /* owned; NULL: no text-feature cache (cache_dir.h) */
    /* the clip, dapo and vocabulary files as they were when the model was loaded: a rebuild
     * (num_threads) re-reads them and refuses files that changed since */
    dp_file_id model_files[3];
    atomic_uint cancel_count;       /* bumped by tool_cancel; a process call stops when it moved */
    atomic_int squash_warned;       /* the host was told that a very wide/tall area is squashed */
    pthread_mutex_t lock;           /* process() runs one image at a time on the model arena;
                                       set_param changes parameters and swaps models under it */
    int threads;
    float image_threshold, pixel_threshold;
    int min_region_area;
    int keep_types;                 /* parameter type_map: results keep the per-pixel type map */
    int n_classes;                  /* 1 + defects */
    char **class_names;             /* [n_classes], owned: "normal", then the recipe's defects */
    float *type_thresholds;         /* [n_classes]: pixel threshold per defect type (index 0 unused) */
    char *schema;                   /* JSON, owned */
    char model_desc[160];
    char runtime[768];              /* threads decision, OpenMP wait policy, compute path: one line */
    const char *precision;          /* "f32" / "bf16" / "int8" (and why), static */
    /* per-call scratch, grown under `lock` and kept up to DP_TOOL_SCRATCH_KEEP_BYTES in total
     * (dp_tool_trim_scratch after each call): steady state allocates only results */
    uint8_t *rgb; size_t rgb_cap;           /* ROI as RGB8 */
    /* tile workers (process.c run_workers): [threads] instead of [batch] for the next three,
     * [threads x batch] for pre and the tile maps */
    uint8_t *tile_u8; size_t tile_u8_cap;   /* [batch][S][S][3] resized tiles */
    uint8_t *tile_crop; size_t tile_crop_cap; /* [batch] packed tile crops */
    uint8_t *resize_ws; size_t resize_ws_cap; /* [batch] resize workspaces */
    float *pre; size_t pre_cap;      /* [batch][3][S][S] */
    float *tile_map; size_t tile_map_cap;   /* one block: tile map, then tile_types */
    uint16_t *tile_types;                   /* points into tile_map's block */
    /* the tiling plan's axes (dp_tiling_axis), one block: sum_x [w], sum_y [h], then own_x
     * [w], own_y [h]; the stitching sums go straight into the result's anomaly map */
    void *axes; size_t axes_cap;
    uint16_t *types; size_t types_cap;
    uint8_t *region_ws; size_t region_ws_cap;
    dp_tile *tiles; size_t tiles_cap;
    void *rounds; size_t rounds_cap;        /* tile workers: per-batch reports, tile scores */
    int tile_path;                          /* DP_TILES_*: tests compare the two paths */
};

/* How a tiled image runs (process.c). AUTO: on the model's tile workers, one batch of tiles
 * per worker and round, when the model has workers and the image at least one batch per
 * worker; otherwise batch after batch on the whole thread team. SEQUENTIAL: always the
 * latter (tests set it to compare). */
enum { DP_TILES_AUTO = 0, DP_TILES_SEQUENTIAL = 1 };

struct insp_result {
    unsigned char allocator_reserved[32];   /* see the handle tags above */
    uint64_t tag;                   /* DP_RESULT_TAG_LIVE from tool_process to result_release */
    float score;
    int32_t decision;
    float image_threshold, pixel_threshold;
    int32_t n_classes;
    char **class_names;             /* [n_classes], owned (results outlive their tool) */
    float *class_scores;            /* [n_classes] */
    int32_t roi_x, roi_y, width, height;
    float *anomaly;                 /* [height][width], owned */
    uint16_t *label;                /* [height][width], owned */
    uint16_t *types;                /* [height][width], owned; NULL unless the tool's type_map */
    dp_region *regions;             /* [n_regions], owned */
    int32_t n_regions;
    insp_timing timing;
};


insp_status dp_tool_create(const insp_host *host, const char *recipe_path, insp_tool **out,
                           char *err, size_t cap);
void dp_tool_destroy(insp_tool *t);
insp_status dp_tool_set_param(insp_tool *t, const char *key, const char *value, char *err, size_t cap);
insp_status dp_tool_get_param(const insp_tool *t, const char *key, char *buf, size_t buf_cap,
                              char *err, size_t cap);
insp_status dp_tool_process(insp_tool *t, const insp_image *img, insp_result **out, char *err,
                            size_t cap);
void dp_result_free(insp_result *r);
/* Bytes of per-call scratch the tool holds; dp_tool_trim_scratch releases all of it when that
 * exceeds DP_TOOL_SCRATCH_KEEP_BYTES (call under t->lock, after a call). */
size_t dp_tool_scratch_bytes(const insp_tool *t);
void dp_tool_trim_scratch(insp_tool *t);
/* 1 when t / r is a live handle of this plugin (tag check; see the handle tags above). Reads
 * the tag without AddressSanitizer instrumentation: a handle that was already freed is exactly
 * what these detect. */
int dp_tool_live(const insp_tool *t);
int dp_result_live(const insp_result *r);
/* Makes the tool_process calls running now return INSP_E_CANCELLED (any thread). */
void dp_tool_cancel(insp_tool *t);
/* Grows *buf to hold `bytes` (contents not kept). */
int dp_grow(void **buf, size_t *cap, size_t bytes);
void dp_tool_log(const insp_tool *t, int32_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
