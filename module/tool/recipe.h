/* Product recipes: one YAML file per product (schema version 1, reference in recipes/README.md)
 * read into a validated, fully defaulted dp_recipe. Model files are not opened here. */
#ifndef DP_RECIPE_H
#define DP_RECIPE_H

#include <stddef.h>

#include "dp_error.h"
#include "dp_limits.h"

enum {
    DP_RECIPE_VERSION = 1,            /* the only schema version this build reads */
    DP_RECIPE_MAX_BYTES = 1 << 20,    /* larger recipe files are refused */
    DP_RECIPE_MAX_NAME_CHARS = 64     /* per defect name, in characters (UTF-8 code points) */
};

typedef enum dp_precision { DP_PRECISION_F32 = 0, DP_PRECISION_BF16 = 1, DP_PRECISION_INT8 = 2 } dp_precision;
typedef enum dp_tiling_mode { DP_TILING_NONE = 0, DP_TILING_GRID = 1 } dp_tiling_mode;

typedef struct dp_recipe_defect {
    char *name;               /* as written in the recipe; owned by the recipe */
    float pixel_threshold;    /* < 0: use thresholds.pixel */
} dp_recipe_defect;

/* Every field holds its final value: defaults are filled in, paths are resolved. */
typedef struct dp_recipe {
    int version;              /* always DP_RECIPE_VERSION */
    char *path;               /* the recipe file as given (dp_recipe_parse: name_for_messages) */
    char *product;
    char *clip_path, *dapo_path, *vocab_path;   /* resolved against the recipe's directory */
    int vocab_default;        /* 1: model.vocabulary not given, vocab_path is the default next
                                 to model.clip (the tool also looks beside the plugin) */
    dp_precision precision;   /* default BF16 */
    int input_size;           /* 28..2016, default 518; multiple of the patch: checked by the model */
    int input_size_line, input_size_col;   /* where input_size was written (1-based); 0: default */
    dp_tiling_mode tiling;    /* default NONE */
    int tile, overlap, batch; /* NONE: input_size, 0, 1. GRID: image pixels; 2*overlap < tile */
    int roi_x, roi_y, roi_w, roi_h;   /* image pixels; roi_w/roi_h 0: to the right/bottom edge */
    dp_recipe_defect *defects; int n_defects;   /* 1..64, names unique ignoring ASCII case */
    float image_threshold;    /* (0,1), default 0.5: image score >= this -> NG */
    float pixel_threshold;    /* (0,4), default 2.0: anomaly map value > this -> defective pixel */
    int min_region_area;      /* input-image pixels, default 0 (keep every region) */
    int threads;              /* 0..256, 0 (default) = all cores */
    char *text_cache_dir;     /* text_cache: a directory, resolved; NULL: not given */
    int text_cache_off;       /* text_cache: none */
} dp_recipe;      /* every pointer owned by the struct; release with dp_recipe_free */

/* Reads and validates the recipe file at `path` (borrowed). On success fills *out (caller
 * releases with dp_recipe_free); on failure *out is zeroed and err names file:line:column,
 * the key path, what was found and what was expected. DP_E_IO: the file cannot be read;
 * DP_E_FORMAT: not a valid recipe (also a file over 1 MiB); DP_E_UNSUPPORTED: a newer
 * recipe_version; DP_E_ARG: NULL arguments; DP_E_NOMEM. */
dp_status dp_recipe_load(const char *path, dp_recipe *out, dp_err *err);

/* Same, from text[0..len) (borrowed). name_for_messages (borrowed, may be NULL) prefixes
 * messages and is copied to out->path. Relative model paths are joined to base_dir (borrowed);
 * base_dir NULL or "" leaves them as written (relative to the process's working directory). */
dp_status dp_recipe_parse(const char *text, size_t len, const char *name_for_messages,
                          const char *base_dir, dp_recipe *out, dp_err *err);

/* Releases everything *r owns and zeroes it. NULL and already-freed recipes are fine. */
void dp_recipe_free(dp_recipe *r);

#endif
