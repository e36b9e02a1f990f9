/* insp_tool.h - inspection-tool plugin ABI, version 1.1 (1.1 appended result_type_map to insp_api
 * and threads, runtime to insp_tool_info).
 *
 * A plugin is a shared object that exports exactly one symbol, insp_get_api_v1(). It returns
 * a static, immutable table of function pointers (insp_api) over two opaque handles:
 *
 *   insp_tool    created from a recipe file; holds the loaded model and runtime parameters.
 *   insp_result  the immutable outcome of one tool_process call: image score, decision,
 *                per-class scores, anomaly map, label map, defect regions, timings.
 *
 * Minimal host:
 *
 *   const insp_api *api = insp_get_api_v1(INSP_ABI_MAJOR, INSP_ABI_MINOR);  // via dlsym
 *   char err[INSP_ERRBUF_SIZE];
 *   insp_tool *tool;
 *   if (api->tool_create(NULL, "product.yaml", &tool, err, sizeof err) != INSP_OK) fail(err);
 *   insp_image img = { sizeof img };  // then width, height, channels, pixel, strides, data
 *   insp_result *res;
 *   if (api->tool_process(tool, &img, &res, err, sizeof err) != INSP_OK) fail(err);
 *   if (api->result_decision(res) != INSP_DECISION_OK) reject_part();
 *   api->result_release(res);
 *   api->tool_destroy(tool);
 *
 * VERSIONING
 *   INSP_ABI_MAJOR changes only with an incompatible change, and then the entry symbol gets a
 *   new name (insp_get_api_v2); a plugin may export several during a transition.
 *   INSP_ABI_MINOR changes when members are appended to the end of insp_api, insp_image,
 *   insp_region, insp_timing, insp_tool_info or insp_host. Nothing is ever removed, reordered
 *   or retyped within a major version. Every extensible struct starts with struct_size:
 *   - a reader touches a member only if struct_size covers it (INSP_API_HAS, INSP_HAS);
 *   - a member appended later has "0 / NULL = behave as before" semantics, so a plugin that
 *     ignores trailing members of a larger host struct still does the right thing;
 *   - a struct shorter than its v1.0 size is refused with INSP_E_ABI.
 *   Enumerations (status codes, decisions, pixel types, flags, capability bits) may gain values
 *   in a minor version: hosts treat an unknown status as an error and an unknown decision as NG.
 *
 * OWNERSHIP (one rule each)
 *   - images passed in (insp_image and the memory it points to): borrowed for the call only;
 *   - insp_tool: owned by the host from tool_create until tool_destroy;
 *   - insp_result: owned by the host from tool_process until result_release; a result does not
 *     depend on its tool and stays valid after tool_destroy;
 *   - views and strings obtained from a result: borrowed, valid until result_release;
 *   - strings obtained from a tool (schema, class names, info strings): borrowed, valid until
 *     tool_destroy;
 *   - strings in the insp_api table: static, valid while the shared object is loaded;
 *   - error buffers and output structs: owned by the caller.
 *
 * ERRORS
 *   Every fallible call returns an insp_status and takes (char *err, size_t err_cap), a buffer
 *   owned by the caller. If err != NULL and err_cap > 0 the plugin always leaves a
 *   NUL-terminated UTF-8 string there: "" on success, otherwise one line without a trailing
 *   newline that names what was wrong and where (file:line:column for recipes, the parameter
 *   name and value, the image field), truncated to fit (never inside a character). Text copied
 *   from files or arguments (paths, tensor names, parameter values) cannot break the line:
 *   control characters are written as escapes (a backslash and n, r, t, x1B, u0085, u2028)
 *   and bytes that are not UTF-8 as a backslash and xFF. Log messages (insp_host.log) follow
 *   the same rule. err may be NULL (then err_cap is
 *   ignored). INSP_ERRBUF_SIZE is the recommended size. There is no global or thread-local
 *   "last error". The plugin never calls exit/abort, never installs signal handlers, never
 *   writes to stdout/stderr and lets no C++ exception cross this interface: failures are
 *   statuses.
 *
 * THREADING
 *   1. insp_get_api_v1 and status_name: any thread, any time, concurrently.
 *   2. tool_create: any thread, concurrently with anything. tool_destroy: any thread, but it must
 *      not overlap any other call on the same tool.
 *   3. Different tools are fully independent and may be used concurrently from any threads.
 *   4. On one tool, tool_process calls may overlap each other only if api->caps has
 *      INSP_CAP_CONCURRENT_PROCESS; otherwise the host serialises them (e.g. one mutex per tool).
 *      tool_set_param should not overlap other calls on the same tool; if it does (a host
 *      bug), it takes the tool's lock and stays memory-safe: a tool_process already running
 *      finishes with the old values. tool_get_param,
 *      tool_param_schema, tool_info, tool_class_count and tool_class_name may overlap each other
 *      and tool_process.
 *   5. Result accessors are read-only and may be called from any thread, concurrently.
 *      result_release must not overlap other calls on the same result.
 *   6. The plugin calls the host only through insp_host.log, possibly from its worker threads
 *      and concurrently; the host's log function must be thread-safe and must not call back
 *      into the plugin.
 *   7. The plugin's internal worker thread count comes from the recipe's `threads` (0, the
 *      default, = the CPUs this process may use: its affinity mask, narrowed by a cgroup CPU
 *      quota) or the num_threads parameter, so hosts that parallelise themselves can give each
 *      tool its share; insp_tool_info.threads and .runtime (ABI 1.1) say what was decided.
 *
 * COORDINATES
 *   x grows to the right, y downwards; pixel (0, 0) is the top-left pixel of the image; all
 *   rectangles are (x, y, w, h) in pixels of the input image, origin at that pixel's corner.
 *
 * This header is plain C11 and C++ compatible. It has no link-time dependency: a host
 * obtains insp_get_api_v1 with dlsym (see sdk_shim/loader.h) or links the plugin directly.
 */
#ifndef INSP_TOOL_H
#define INSP_TOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define INSP_ABI_MAJOR 1          /* incompatible change => new entry symbol name */
#define INSP_ABI_MINOR 1          /* members appended only (1.1: result_type_map, tool_cancel,
                                     INSP_E_CANCELLED, insp_tool_info threads and runtime,
                                     insp_host threads and progress) */

/* Gives the entry symbol default visibility even when the plugin is built with
 * -fvisibility=hidden (a version script alone cannot export a hidden symbol). */
#if defined(__GNUC__) || defined(__clang__)
#define INSP_EXPORT __attribute__((visibility("default")))
#else
#define INSP_EXPORT
#endif

/* Name of the entry symbol for this major version, for dlsym. */
#define INSP_ENTRY_SYMBOL "insp_get_api_v1"

/* Recommended size of caller-owned error buffers (bytes, including the NUL). */
#define INSP_ERRBUF_SIZE 512
/* Recommended size of tool_get_param value buffers (bytes, including the NUL). */
#define INSP_PARAM_VALUE_SIZE 256

/* ------------------------------------------------------------------------------------------
 * Status codes. Fixed-width typedef (not an enum type) so the ABI never depends on the
 * compiler's enum size; values are stable and new ones are only appended.
 */
typedef int32_t insp_status;
enum {
    INSP_OK = 0,
    INSP_E_ARG = 1,          /* NULL handle/pointer, index out of range, unknown parameter key,
                                unparsable or out-of-range parameter value */
    INSP_E_UNSUPPORTED = 2,  /* valid request this plugin does not handle (see caps), e.g.
                                planar input without INSP_CAP_PLANAR */
    INSP_E_RECIPE = 3,       /* recipe missing, unreadable or invalid (message: file:line:col) */
    INSP_E_MODEL = 4,        /* model files missing, misshapen, non-finite or inconsistent;
                                from tool_process: the model produced a NaN or infinite score,
                                class score or anomaly-map value (extreme weights overflow), so
                                no decision was made: never an OK on non-finite numbers */
    INSP_E_IMAGE = 5,        /* image view invalid: size, channels, pixel type, stride, alignment,
                                ROI outside the image, mask stride, value range; a NaN or
                                infinite F32 sample among the inspected pixels (the message
                                names the first one: x, y, channel); a mask that keeps no pixel
                                of the inspected rectangle ("nothing to inspect") */
    INSP_E_NOMEM = 6,        /* allocation failed or a size exceeds the plugin's limits */
    INSP_E_INTERNAL = 7,     /* a bug or a failed internal invariant; the tool stays usable */
    INSP_E_ABI = 8,          /* a struct_size is too small or the versions do not match */
    INSP_E_BUFFER = 9,       /* a caller's output buffer is too small; the message says how
                                many bytes are needed; the output holds a truncated value */
    /* since ABI 1.1 */
    INSP_E_CANCELLED = 10    /* tool_process stopped by tool_cancel; no result (never a partial
                                one); the tool stays usable */
};

/* ------------------------------------------------------------------------------------------
 * Pixel types of image views. A sample of a U16 image is a uint16_t in host byte order, of an
 * F32 image a finite float; see insp_image.value_min/value_max for their scaling.
 */
typedef int32_t insp_pixel;
enum {
    INSP_PIX_U8 = 1,
    INSP_PIX_U16 = 2,
    INSP_PIX_F32 = 3
};

/* Bytes per sample of a pixel type, 0 for an unknown one. */
#define INSP_PIXEL_BYTES(p) ((p) == INSP_PIX_U8 ? 1 : (p) == INSP_PIX_U16 ? 2 : (p) == INSP_PIX_F32 ? 4 : 0)

/* insp_image.flags */
enum {
    INSP_IMAGE_BGR = 1u << 0     /* 3-channel data is in B, G, R order (OpenCV); default R, G, B */
};

/* Decision of a result. Hosts treat any value other than INSP_DECISION_OK as "reject". */
enum {
    INSP_DECISION_OK = 0,        /* no defect found */
    INSP_DECISION_NG = 1,        /* defective */
    INSP_DECISION_UNSURE = 2     /* reserved: a plugin may report a doubt band around the
                                    threshold if its recipe asks for one */
};

/* Capability bits in insp_api.caps. Absent bit => the feature returns INSP_E_UNSUPPORTED.
 * Always supported (no bit): U8 input, 1 or 3 channels, interleaved samples, padded and negative
 * row strides, the anomaly map. */
#define INSP_CAP_U16                (UINT64_C(1) << 0)  /* INSP_PIX_U16 input */
#define INSP_CAP_F32                (UINT64_C(1) << 1)  /* INSP_PIX_F32 input */
#define INSP_CAP_PLANAR             (UINT64_C(1) << 2)  /* planar 3-channel input */
#define INSP_CAP_MASK               (UINT64_C(1) << 3)  /* insp_image.mask honoured */
#define INSP_CAP_ROI                (UINT64_C(1) << 4)  /* insp_image.roi_* honoured */
#define INSP_CAP_LABEL_MAP          (UINT64_C(1) << 5)  /* result_label_map */
#define INSP_CAP_REGIONS            (UINT64_C(1) << 6)  /* result_region_count/result_region */
#define INSP_CAP_TILING             (UINT64_C(1) << 7)  /* native-resolution tiling of large images */
#define INSP_CAP_CONCURRENT_PROCESS (UINT64_C(1) << 8)  /* one tool may process from several
                                                           threads at once */
#define INSP_CAP_BGR                (UINT64_C(1) << 9)  /* INSP_IMAGE_BGR honoured */

/* Log levels of insp_host.log. */
enum {
    INSP_LOG_ERROR = 0,
    INSP_LOG_WARN = 1,
    INSP_LOG_INFO = 2,
    INSP_LOG_DEBUG = 3
};

/* Standard parameter keys. A plugin that has the concept uses these names (so generic hosts
 * such as the insp CLI can set them); it may add its own keys. Values are strings: numbers in
 * C-locale notation ("0.5", never "0,5", whatever the process locale), booleans "true"/"false". */
#define INSP_PARAM_NUM_THREADS     "num_threads"      /* int >= 1: worker threads per process;
                                                         a change rebuilds the model's kernels from
                                                         the model files, which must be unchanged
                                                         since tool_create (same inode, size and
                                                         modification time), else INSP_E_MODEL and
                                                         the tool keeps its model */
#define INSP_PARAM_IMAGE_THRESHOLD "image_threshold"  /* float: score >= it => NG */
#define INSP_PARAM_PIXEL_THRESHOLD "pixel_threshold"  /* float, anomaly-map units: defect pixels */
#define INSP_PARAM_MIN_REGION_AREA "min_region_area"  /* int pixels: smaller regions dropped */
#define INSP_PARAM_TYPE_MAP        "type_map"         /* bool, default "false": results keep the
                                                         per-pixel defect type (result_type_map) */

/* ------------------------------------------------------------------------------------------
 * Opaque handles (see OWNERSHIP and THREADING above).
 */
typedef struct insp_tool insp_tool;
typedef struct insp_result insp_result;

/* ------------------------------------------------------------------------------------------
 * insp_image: a borrowed view of pixels; nothing is copied or retained after the call.
 *
 * Input (tool_process), filled by the host:
 *   struct_size   sizeof(insp_image) as the host knows it (>= INSP_IMAGE_SIZE_1_0).
 *   width, height >= 1.
 *   channels      1 (grey) or 3 (colour, R G B unless flags has INSP_IMAGE_BGR).
 *   pixel         INSP_PIX_U8, _U16 or _F32.
 *   planar        0: samples interleaved (RGBRGB...); 1: one plane per channel.
 *   row_stride    bytes from a pixel to the pixel below it. May be negative (bottom-up buffers)
 *                 and larger than a row (padding); |row_stride| >= width * bytes per pixel
 *                 (interleaved: channels * sample size; planar: sample size). Never 0.
 *   plane_stride  planar only: bytes from channel c's pixel to channel c+1's (may be negative);
 *                 the planes must not overlap. Ignored when planar == 0.
 *   data          address of channel 0 of pixel (0, 0), the top-left pixel. Pixel (x, y) of
 *                 channel c is at data + y*row_stride + x*step + c*(planar ? plane_stride :
 *                 sample size), step = planar ? sample size : channels * sample size.
 *                 data and both strides are multiples of the sample size.
 *   roi_x, roi_y, roi_w, roi_h  the rectangle to inspect; roi_w == 0 means the whole image
 *                 (the other three are then ignored). Otherwise it must lie inside the image
 *                 (no silent clipping). Needs INSP_CAP_ROI unless it covers the whole image.
 *   mask          optional (NULL = none), width x height bytes in image coordinates with its
 *                 own signed mask_stride; nonzero = inspect. Masked-out pixels are neutralised
 *                 before inference (their content cannot drive the score), read 0 in the anomaly
 *                 map, 0 in the label map and never belong to a region. Needs INSP_CAP_MASK.
 *                 A mask that keeps no pixel of the inspected rectangle is refused
 *                 (INSP_E_IMAGE, "nothing to inspect"): an image with nothing inspected is
 *                 never an OK.
 *   value_min, value_max  the sample values shown as black and white. Both 0 = the default of
 *                 the pixel type: U8 0..255, U16 0..65535, F32 0..1. Example: a 12-bit camera
 *                 delivering U16 sets 0 and 4095. value_max > value_min otherwise.
 *                 Samples outside the range are clamped to black/white; F32 samples must be
 *                 finite: a NaN or an infinity in an inspected (unmasked, inside the ROI) pixel
 *                 is refused with INSP_E_IMAGE naming the first one, never clamped.
 *   flags         INSP_IMAGE_* bits; unknown bits => INSP_E_IMAGE.
 *
 * Output (result_anomaly_map, result_label_map), filled by the plugin: the host sets
 * struct_size and passes the struct; the plugin fills every member it knows that fits in that
 * size and leaves struct_size as it was (below INSP_IMAGE_SIZE_1_0: INSP_E_ABI). The same
 * rule holds for every struct the plugin fills (insp_region, insp_timing, insp_tool_info).
 * The map covers the inspected rectangle at input resolution: width = roi_w, height =
 * roi_h; roi_x, roi_y (and roi_w, roi_h) give where the map's pixel (0, 0) lies in the input
 * image; channels 1, planar 0, mask NULL, flags 0, data read-only and valid until
 * result_release.
 */
typedef struct insp_image {
    uint32_t struct_size;
    int32_t width, height;
    int32_t channels;
    insp_pixel pixel;
    int32_t planar;
    ptrdiff_t row_stride;
    ptrdiff_t plane_stride;
    const void *data;             /* borrowed from the host (input) or the result (output) */
    int32_t roi_x, roi_y, roi_w, roi_h;
    const uint8_t *mask;          /* borrowed from the host; NULL = inspect every ROI pixel */
    ptrdiff_t mask_stride;
    float value_min, value_max;
    uint32_t flags;
    uint32_t reserved0;           /* 0; keeps the size a multiple of 8 on every ABI */
} insp_image;
#define INSP_IMAGE_SIZE_1_0 ((uint32_t)(offsetof(insp_image, reserved0) + sizeof(uint32_t)))

/* One connected defect (8-connectivity) in the thresholded anomaly map. */
typedef struct insp_region {
    uint32_t struct_size;         /* set by the host before result_region */
    int32_t class_id;             /* defect type, 1..class_count-1 (tool_class_name) */
    int32_t x, y, w, h;           /* bounding box, image coordinates */
    int32_t seed_x, seed_y;       /* one pixel of the region: flood-filling the label map from it
                                     (8-connected, same class_id) yields exactly its pixels */
    int64_t area;                 /* pixels */
    float max_score, mean_score;  /* anomaly-map values over the region's pixels */
} insp_region;
#define INSP_REGION_SIZE_1_0 ((uint32_t)(offsetof(insp_region, mean_score) + sizeof(float)))

/* Wall-clock time spent per stage of one tool_process call, milliseconds. */
typedef struct insp_timing {
    uint32_t struct_size;         /* set by the host before result_timing */
    uint32_t reserved0;
    double preprocess_ms;         /* ROI crop, conversion, resize, normalisation, tiling */
    double vision_ms;             /* image encoder */
    double head_ms;               /* scoring head: scores and anomaly map */
    double post_ms;               /* upsampling, thresholding, label map, regions */
    double total_ms;              /* whole call, >= the sum of the above */
} insp_timing;
#define INSP_TIMING_SIZE_1_0 ((uint32_t)(offsetof(insp_timing, total_ms) + sizeof(double)))

/* Static facts about a tool, fixed at tool_create. Strings owned by the tool. */
typedef struct insp_tool_info {
    uint32_t struct_size;         /* set by the host before tool_info */
    int32_t class_count;          /* 1 + number of defect types; class 0 is "normal" */
    int32_t input_width;          /* model input size in pixels (e.g. 518); each tile or the */
    int32_t input_height;         /* squashed ROI is resized to it */
    const char *product;          /* product name from the recipe, "" if none */
    const char *model;            /* model description, e.g. "ViT-L-14-336 + DAPO head" */
    const char *precision;        /* precision actually used: "f32", "bf16", ... */
    float map_max;                /* nominal upper end of anomaly-map values (lower end 0), for
                                     colour scales; 0 = unknown */
    int32_t tiling;               /* 0 = whole ROI squashed to the input size, 1 = tiled */
    /* --- since ABI 1.1 --- */
    int32_t threads;              /* worker threads each process call uses */
    const char *runtime;          /* one line: how the thread count was decided (recipe, affinity
                                     mask, cgroup quota) and the OpenMP wait policy in effect */
} insp_tool_info;
#define INSP_TOOL_INFO_SIZE_1_0 ((uint32_t)(offsetof(insp_tool_info, tiling) + sizeof(int32_t)))
#define INSP_TOOL_INFO_SIZE_1_1 ((uint32_t)(offsetof(insp_tool_info, runtime) + sizeof(const char *)))

/* Services lent by the host to a tool. The plugin copies the struct at tool_create (so it may
 * live on the host's stack); `user` must stay valid until tool_destroy. tool_create refuses a
 * struct_size below INSP_HOST_SIZE_1_0 with INSP_E_ABI. */
typedef struct insp_host {
    uint32_t struct_size;
    void *user;                   /* host's, passed back unchanged */
    /* Optional (NULL = discard). Called from any plugin thread, concurrently; msg is one
     * NUL-terminated UTF-8 line, borrowed for the call. Must be thread-safe and must not call
     * into the plugin. */
    void (*log)(void *user, int32_t level, const char *msg);
    /* --- since ABI 1.1 (a 1.0 plugin ignores them) --- */
    /* > 0: the tool's worker threads, instead of the recipe's `threads` (the model is built once
     * for them; setting num_threads after tool_create rebuilds it). 0 = the recipe decides. */
    int32_t threads;
    /* Optional (NULL = none): progress of long steps, `done` of `total` units of `what`:
     * "text prompts" while tool_create encodes the defect list, "tiles" while tool_process
     * runs a tiled image. Called on the thread that made the call, between units (no rate
     * limit: the host prints what it likes). Must not call into the plugin. */
    void (*progress)(void *user, const char *what, int32_t done, int32_t total);
} insp_host;
#define INSP_HOST_SIZE_1_0 ((uint32_t)(offsetof(insp_host, log) + sizeof(void (*)(void))))
#define INSP_HOST_SIZE_1_1 ((uint32_t)(offsetof(insp_host, progress) + sizeof(void (*)(void))))

/* ------------------------------------------------------------------------------------------
 * The function table. All v1.0 function members are non-NULL. Functions that take a handle
 * return INSP_E_ARG when it is NULL; functions without a status return a neutral value then
 * (the same as for NULL: 0, NULL, NaN score, NG decision; destroy/release do nothing).
 * Handles carry a tag that tool_destroy / result_release overwrite before freeing, so a
 * destroyed tool or a released result passed back in (double destroy or release, a result
 * read after release) is treated like NULL as long as its memory has not been reused. This is
 * a best-effort safety net for host bugs, not a contract: a freed block that the allocator has
 * handed out again cannot be told apart, so a host must still not use a handle after
 * destroying or releasing it.
 */
typedef struct insp_api {
    uint32_t struct_size;         /* sizeof(insp_api) as the plugin knows it */
    uint32_t abi_major;           /* INSP_ABI_MAJOR the plugin implements */
    uint32_t abi_minor;           /* its INSP_ABI_MINOR; members beyond it are absent */
    uint32_t reserved0;
    uint64_t caps;                /* INSP_CAP_* bits */
    const char *plugin_id;        /* stable reverse-DNS id, e.g. "org.dapo-inspect.dapo" */
    const char *plugin_version;   /* "MAJOR.MINOR.PATCH" of the plugin itself */
    const char *plugin_description; /* one line for humans */

    /* "INSP_OK", "INSP_E_ARG", ...; "INSP_E_UNKNOWN" for other values. Static string. */
    const char *(*status_name)(insp_status s);

    /* --- tool lifecycle ------------------------------------------------------------------- */

    /* Parses the YAML recipe at recipe_path (model paths in it are relative to its directory),
     * loads and validates the model, encodes the prompts and pre-allocates. All expensive or
     * failure-prone work happens here. host may be NULL. On success *out is a new tool owned by
     * the caller (release with tool_destroy); on failure *out is NULL. */
    insp_status (*tool_create)(const insp_host *host, const char *recipe_path, insp_tool **out,
                               char *err, size_t err_cap);
    /* Releases the tool and everything it owns. NULL is a no-op. Results it produced stay
     * valid. */
    void (*tool_destroy)(insp_tool *tool);

    /* --- parameters ----------------------------------------------------------------------- */

    /* JSON text describing the runtime parameters, owned by the tool (NULL only for a NULL
     * tool). Shape:
     *   {"params": [ {"name": "pixel_threshold", "type": "float", "default": "1.5",
     *                 "min": 0, "max": 4, "unit": "map", "description": "..."}, ... ]}
     * type is one of "int", "float", "bool", "enum", "string"; enum entries carry
     * "values": ["a", "b"]; min, max, unit are optional; default is the value string that
     * tool_get_param returns right after tool_create (the recipe's value). Unknown members are
     * to be ignored by readers. */
    const char *(*tool_param_schema)(const insp_tool *tool);
    /* Sets a runtime parameter from its string form. Validated completely before anything
     * changes: on failure the tool is unchanged. Takes effect for the next tool_process. */
    insp_status (*tool_set_param)(insp_tool *tool, const char *key, const char *value,
                                  char *err, size_t err_cap);
    /* Writes the current value of a parameter, NUL-terminated, into buf (caller-owned,
     * buf_cap bytes; INSP_PARAM_VALUE_SIZE is enough for standard keys). */
    insp_status (*tool_get_param)(const insp_tool *tool, const char *key, char *buf,
                                  size_t buf_cap, char *err, size_t err_cap);

    /* --- tool facts ----------------------------------------------------------------------- */

    /* Fills *out (host sets out->struct_size first). */
    insp_status (*tool_info)(const insp_tool *tool, insp_tool_info *out, char *err,
                             size_t err_cap);
    /* Number of classes, 1 + number of defect types (0 for a NULL tool). */
    int32_t (*tool_class_count)(const insp_tool *tool);
    /* Name of class i: 0 is "normal", 1..count-1 the recipe's defect types in recipe order,
     * UTF-8, owned by the tool. NULL if i is out of range. */
    const char *(*tool_class_name)(const insp_tool *tool, int32_t i);

    /* --- processing ----------------------------------------------------------------------- */

    /* Inspects one image (borrowed for the call). On success *out is a new result owned by
     * the caller (release with result_release); on failure *out is NULL and the tool stays
     * usable. Does not retain any pointer from image. The tool keeps its working memory
     * between calls only up to 64 MiB (about a 5-megapixel image squashed whole); above that it
     * is released when the call returns, so one huge image does not stay resident. */
    insp_status (*tool_process)(insp_tool *tool, const insp_image *image, insp_result **out,
                                char *err, size_t err_cap);

    /* --- results (immutable) -------------------------------------------------------------- */

    /* Releases a result and every view/string borrowed from it. NULL is a no-op. */
    void (*result_release)(insp_result *result);
    /* Image anomaly score in (0, 1), higher = more anomalous. NaN for a NULL result. */
    float (*result_score)(const insp_result *result);
    /* INSP_DECISION_*. INSP_DECISION_NG for a NULL result (fail safe). */
    int32_t (*result_decision)(const insp_result *result);
    /* Thresholds that produced this result's decision and label map (either pointer may be
     * NULL): image_threshold on the score, pixel_threshold in anomaly-map units. */
    insp_status (*result_thresholds)(const insp_result *result, float *image_threshold,
                                     float *pixel_threshold);
    /* Number of classes (same as tool_class_count of the producing tool). */
    int32_t (*result_class_count)(const insp_result *result);
    /* Class i's name (borrowed from the result; may be NULL if name is not wanted) and its
     * image-level score in [0, 1] (0 = normal: the score of "no defect"). */
    insp_status (*result_class)(const insp_result *result, int32_t i, const char **name,
                                float *score);
    /* F32 anomaly map over the inspected rectangle, see insp_image (output). */
    insp_status (*result_anomaly_map)(const insp_result *result, insp_image *view);
    /* U16 label map over the same rectangle: 0 = no defect, k = defect type k (1-based index
     * into the recipe's defect list, i.e. class k) on the pixels that passed the pixel
     * threshold and belong to a kept region. INSP_E_UNSUPPORTED without INSP_CAP_LABEL_MAP. */
    insp_status (*result_label_map)(const insp_result *result, insp_image *view);
    /* Number of regions (0 without INSP_CAP_REGIONS), sorted by descending max_score. */
    int32_t (*result_region_count)(const insp_result *result);
    /* Fills *out with region i (host sets out->struct_size first). */
    insp_status (*result_region)(const insp_result *result, int32_t i, insp_region *out);
    /* Fills *out with the stage timings (host sets out->struct_size first). */
    insp_status (*result_timing)(const insp_result *result, insp_timing *out);

    /* --- since ABI 1.1 (check with INSP_API_HAS, and that the member is non-NULL) ---------- */

    /* U16 map over the same rectangle as the anomaly map: per pixel the most likely defect type
     * 1..class_count-1 (the argmax over the defect classes, before any threshold), i.e. the type
     * whose pixel threshold decides that pixel; 0 where the host's mask excluded the pixel.
     * Unlike result_label_map it is defined on every pixel, so a host can re-evaluate other
     * thresholds (calibration). Kept only when the tool's parameter INSP_PARAM_TYPE_MAP is
     * "true" (2 bytes per pixel per result); otherwise INSP_E_UNSUPPORTED. */
    insp_status (*result_type_map)(const insp_result *result, insp_image *view);

    /* Asks every tool_process call on this tool that is running (or waiting for the tool)
     * when tool_cancel is called to stop: each returns INSP_E_CANCELLED with *out NULL at its
     * next check point (before every batch of tiles and before every transformer block of
     * the vision tower: at most one block of one batch later). Never a partial result. Calls
     * that start after tool_cancel returns are not affected; the tool stays usable. Any
     * thread, concurrently with any call on the same tool except tool_destroy (a watchdog or
     * a UI thread). A deadline is a host timer that calls tool_cancel. Returns INSP_OK, or
     * INSP_E_ARG for a NULL tool. */
    insp_status (*tool_cancel)(insp_tool *tool);
} insp_api;
#define INSP_API_SIZE_1_0 ((uint32_t)(offsetof(insp_api, result_timing) + sizeof(void (*)(void))))
#define INSP_API_SIZE_1_1 ((uint32_t)(offsetof(insp_api, tool_cancel) + sizeof(void (*)(void))))

/* True if a struct of type `type` pointed to by p carries `member` (struct_size covers it). */
#define INSP_HAS(type, p, member) \
    ((p) != NULL && (size_t)(p)->struct_size >= offsetof(type, member) + sizeof(((type *)0)->member))
/* True if the table has `member`; v1.0 members are always present in a table the loader
 * accepted; members of later minors must be checked with this before use. */
#define INSP_API_HAS(api, member) INSP_HAS(insp_api, api, member)

/* The only exported symbol. Returns the plugin's static table, or NULL if host_major is not
 * a major version the plugin implements. Thread-safe, idempotent, cheap. host_minor tells the
 * plugin what the host knows; the plugin still returns its full table. */
typedef const insp_api *(*insp_get_api_v1_fn)(uint32_t host_major, uint32_t host_minor);
INSP_EXPORT const insp_api *insp_get_api_v1(uint32_t host_major, uint32_t host_minor);

#ifdef __cplusplus
}
#endif

#endif
