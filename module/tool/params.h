/* The tool's runtime parameters, declared once: name, recipe key, type, range, unit and meaning.
 * The parameter schema, set_param's parsing and messages, get_param and the recipe's ranges for
 * the same settings all come from this table. */
#ifndef DP_PARAMS_H
#define DP_PARAMS_H

#include <stddef.h>

typedef enum dp_param_id {
    DP_PARAM_IMAGE_THRESHOLD,
    DP_PARAM_PIXEL_THRESHOLD,
    DP_PARAM_MIN_REGION_AREA,
    DP_PARAM_NUM_THREADS,
    DP_PARAM_TYPE_MAP,
    DP_PARAM_COUNT
} dp_param_id;

typedef enum dp_param_type { DP_PARAM_FLOAT, DP_PARAM_INT, DP_PARAM_BOOL } dp_param_type;

typedef struct dp_param_def {
    const char *name;          /* INSP_PARAM_* */
    const char *recipe_key;    /* the same setting in a recipe; NULL when there is none */
    dp_param_type type;
    double min, max;
    int open;                  /* 1: min < v < max; 0: min <= v <= max */
    const char *unit;          /* "" when none */
    const char *doc;
} dp_param_def;

/* The definition of parameter `id` (static storage). */
const dp_param_def *dp_param_def_of(dp_param_id id);

/* The id of a parameter name or recipe key; DP_PARAM_COUNT when it is neither. */
dp_param_id dp_param_find(const char *key);

/* Parses value with the recipes' locale-independent number syntax and checks the type and
 * range: 0 and *out set, or -1 and msg (borrowed, msg_cap bytes) saying what was expected. */
int dp_param_parse(dp_param_id id, const char *value, double *out, char *msg, size_t msg_cap);

/* "expected ..." for a parameter: the type, the range and the unit (buf borrowed). */
const char *dp_param_expected(dp_param_id id, char *buf, size_t cap);

/* "image_threshold, pixel_threshold, ..." (static storage). Booleans are "true" or "false". */
const char *dp_param_names(void);

/* The JSON schema of every parameter with its current value as default; *out is owned by the
 * caller (free). values: [DP_PARAM_COUNT]. Returns 0, or -1 when out of memory. */
int dp_param_schema(const double *values, char **out);

/* value formatted in C notation ("0.5", "4") into buf (borrowed). */
void dp_param_format(dp_param_id id, double value, char *buf, size_t cap);

#endif
